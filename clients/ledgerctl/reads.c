/*
 * reads.c — the commands that read the log itself: get, log, stream, head.
 */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"

int exec_get(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	uint64_t seq;
	ldc *c;
	int rc;

	if ((rc = pos_u64(r, a, 0, "SEQ", &seq, e)) != 0 || (rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_get(c, seq, &resp, e)) != 0)
		goto out;
	if (!resp->event) {
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, _("the server answered no event"));
		goto out;
	}
	if (r->json)
		rc = print_json(resp->event, e);
	else
		print_event(resp->event);
out:
	codec_response_free(resp);
	return rc;
}

const struct opt log_opts[] = {RANGE_OPTS, END_OPTS};

/* The events of page up to seq `to` on stdout (one a line, or the page as
 * JSON), and where the next page starts on stderr. */
static int print_until(struct run *r, Ledger__EventPage *page, uint64_t to, ld_errinfo *e)
{
	size_t n = page->n_events;
	while (page->n_events > 0 && page->events[page->n_events - 1]->seq > to)
		page->n_events--; /* printed without them, freed with them */
	int more = page->n_events == n && page->has_next_seq && page->has_head_seq &&
		   page->next_seq <= page->head_seq && page->next_seq <= to;
	int rc = print_page(r, page, e);
	page->n_events = n;
	if (rc == 0 && more && !r->json)
		fprintf(stderr, _("ledgerctl: log: more events follow: --from %llu\n"),
			(unsigned long long)page->next_seq);
	return rc;
}

/* log --org/--region: one page of a subscription read (the log request has
 * no such filters), printed as log prints its pages. */
static int log_subscribed(struct run *r, ldc *c, const struct range *g, ld_errinfo *e)
{
	ldc_subscription s = {
		.max_events = g->limit && g->limit < 10000 ? (uint32_t)g->limit : g->limit ? 10000 : 1000,
		.kinds = g->types,
		.nkinds = g->ntypes,
		.org_subtree = g->org,
		.region_prefix = g->region,
	};
	ldc_page p = {0};
	Ledger__EventPage page = LEDGER__EVENT_PAGE__INIT;
	int rc = ldc_subscribe(c, &s, g->from - 1, &p, e);
	if (rc == 0 && !(page.events = calloc(p.n + 1, sizeof(*page.events))))
		rc = out_of_memory(e);
	for (size_t i = 0; rc == 0 && i < p.n; i++) {
		if (!(page.events[i] = codec_event_unpack(p.events[i].data, p.events[i].len)))
			rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
					    _("the server sent an undecodable event"));
		else
			page.n_events++;
	}
	if (rc == 0) {
		page.has_next_seq = page.has_head_seq = 1;
		page.next_seq = p.next_seq;
		page.head_seq = p.head_seq;
		rc = print_until(r, &page, g->to, e);
	}
	for (size_t i = 0; i < page.n_events; i++)
		codec_event_free(page.events[i]);
	free(page.events);
	ldc_page_free(&p);
	return rc;
}

int exec_log(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	struct range g;
	ldc *c;
	int rc;

	if ((rc = range_of(r, a, &g, e)) != 0)
		return rc;
	if (g.limit > 10000)
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   _("--limit %llu is more than a page of the log (10000); export "
				     "reads any number"),
				   (unsigned long long)g.limit);
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if (g.org || g.region)
		return log_subscribed(r, c, &g, e);
	rc = ldc_read_log(c, g.from, (uint32_t)g.limit, g.types, g.ntypes, &resp, e);
	if (rc == 0 && !resp->page)
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, _("the server answered no page"));
	if (rc == 0)
		rc = print_until(r, resp->page, g.to, e);
	codec_response_free(resp);
	return rc;
}

const struct opt stream_opts[] = {
	OPT("from-version", O_U64, "V", "first version (default 1)"),
	OPT("limit", O_U32, "N", "at most N events (default: the server's, 1000)"),
	END_OPTS,
};

static int read_stream(struct run *r, const struct args *a, const char *stream, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;

	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	rc = ldc_read_stream(c, stream, val_of(a, "from-version")->u,
			     (uint32_t)val_of(a, "limit")->u, &resp, e);
	if (rc == 0)
		rc = print_page(r, resp->page, e);
	codec_response_free(resp);
	return rc;
}

int exec_stream(struct run *r, const struct args *a, ld_errinfo *e)
{
	return read_stream(r, a, a->pos[0], e);
}

int exec_head(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;

	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_head(c, &resp, e)) != 0)
		goto out;
	const Ledger__Head *h = resp->head;
	if (!h) {
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, _("the server answered no head"));
		goto out;
	}
	if (r->json) {
		rc = print_json(h, e);
		goto out;
	}
	char t[32] = "-", hex[2 * LD_HASH_LEN + 1] = "-";
	if (h->has_recorded_at && h->recorded_at)
		ldc_format_time(h->recorded_at, t);
	if (h->has_hash && h->hash.len == LD_HASH_LEN)
		ldc_format_hex(h->hash.data, LD_HASH_LEN, hex);
	printf(_("head seq %llu recorded %s hash %s\n"), (unsigned long long)h->seq, t, hex);
out:
	codec_response_free(resp);
	return rc;
}

int exec_whoami(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;
	(void)a;
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_whoami(c, &resp, e)) != 0)
		goto out;
	const Ledger__Whoami *w = resp->whoami;
	if (!w) {
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, _("the server answered no identity"));
		goto out;
	}
	if (r->json) {
		rc = print_json(w, e);
		goto out;
	}
	printf(_("identity %s role %s"), w->identity ? w->identity : "-", w->role ? w->role : "-");
	if (w->n_orgs) {
		printf(_(" under"));
		for (size_t i = 0; i < w->n_orgs; i++)
			printf("%s%s", i ? ", " : " ", w->orgs[i]);
	}
	if (w->development)
		printf(_(" (development mode: no role file, every connection is admin)"));
	printf("\n");
out:
	codec_response_free(resp);
	return rc;
}
