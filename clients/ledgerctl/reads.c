/*
 * reads.c — the commands that read the log itself: get, log, stream, head.
 */
#include <stdio.h>

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
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, "the server answered no event");
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

const struct opt log_opts[] = {
	OPT("from", O_U64, "SEQ", "first seq (default 1)"),
	OPT("limit", O_U32, "N", "at most N events (default: the server's, 1000)"),
	{"type", O_ENUM, &ledger__event_type__descriptor, OPT_MULTI, NULL,
	 "only events of this type (repeatable)"},
	END_OPTS,
};

int exec_log(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	Ledger__EventType types[MAX_TYPES];
	const struct val *tv = val_of(a, "type");
	ldc *c;
	int rc;

	for (size_t i = 0; i < tv->nlist; i++)
		types[i] = (Ledger__EventType)tv->list[i];
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	rc = ldc_read_log(c, val_of(a, "from")->u, (uint32_t)val_of(a, "limit")->u, types,
			  tv->nlist, &resp, e);
	if (rc == 0)
		rc = print_page(r, resp->page, e);
	if (rc == 0 && !r->json && resp->page->has_next_seq && resp->page->has_head_seq &&
	    resp->page->next_seq <= resp->page->head_seq)
		fprintf(stderr, "ledgerctl: log: more events follow: --from %llu\n",
			(unsigned long long)resp->page->next_seq);
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
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, "the server answered no head");
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
	printf("head seq %llu recorded %s hash %s\n", (unsigned long long)h->seq, t, hex);
out:
	codec_response_free(resp);
	return rc;
}
