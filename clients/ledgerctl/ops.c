/*
 * ops.c — the commands of a running ledger's operator: projections,
 * subscribers, backup.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

/* --- projections --------------------------------------------------- */

static void print_projections(const Ledger__ProjectionStatus *st)
{
	const char *head[] = {_("PROJECTION"), _("CHECKPOINT"), _("LAG EVENTS"),
			      _("LAG MS"),     _("APPLIED"),    _("STATE")};
	const int cw[] = {0, 10, 10, 8, 10};
	int w = text_width(head[0]);
	for (size_t i = 0; i < st->n_projections; i++) {
		int n = text_width(st->projections[i]->name ? st->projections[i]->name : "");
		w = n > w ? n : w;
	}
	print_cell(head[0], w);
	for (int k = 1; k < 5; k++)
		print_rcell(head[k], cw[k], 0);
	printf("%s\n", head[5]);
	for (size_t i = 0; i < st->n_projections; i++) {
		const Ledger__ProjectionInfo *p = st->projections[i];
		print_cell(p->name ? p->name : "?", w);
		printf("%10llu  %10llu  %8lld  %10llu  %s%s%s\n", (unsigned long long)p->checkpoint,
		       (unsigned long long)p->lag_events, (long long)p->lag_ms,
		       (unsigned long long)p->applied, p->stopped ? _("STOPPED") : _("running"),
		       p->stopped && ld_has(p->error) ? ": " : "",
		       p->stopped && ld_has(p->error) ? p->error : "");
	}
}

int exec_projections(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;

	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_projections(c, &resp, e)) != 0)
		goto out;
	if (!resp->projections)
		rc = no_result(e, _("projection status"));
	else if (r->json)
		rc = dump_json(result_json(resp, resp->projections), e);
	else
		print_projections(resp->projections);
out:
	codec_response_free(resp);
	return rc;
}

/* --- subscribers -------------------------------------------------- */

static void print_age(int64_t us, char out[32])
{
	int64_t s = (ldc_now_us() - us) / 1000000;
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, 32, _("%llds ago"), (long long)s);
	else if (s < 7200)
		snprintf(out, 32, _("%lldm ago"), (long long)(s / 60));
	else
		snprintf(out, 32, _("%lldh ago"), (long long)(s / 3600));
}

int exec_subscribers(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;

	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_subscribers(c, &resp, e)) != 0)
		goto out;
	if (!resp->subscribers) {
		rc = no_result(e, _("subscriber list"));
		goto out;
	}
	if (r->json) {
		rc = dump_json(ldc_to_json(resp->subscribers), e);
		goto out;
	}
	const Ledger__SubscriberList *l = resp->subscribers;
	const char *head[] = {_("SUBSCRIBER"), _("LAST SEQ"), _("LAG"),   _("LAST SEEN"),
			      _("REQUESTS"),   _("EVENTS"),   _("STATE"), _("PEER")};
	const int cw[] = {0, 10, 10, 10, 9, 12};
	int w = text_width(head[0]);
	for (size_t i = 0; i < l->n_subscribers; i++) {
		int n = text_width(l->subscribers[i]->subscriber_id);
		w = n > w ? n : w;
	}
	print_cell(head[0], w);
	for (int k = 1; k < 6; k++)
		print_rcell(head[k], cw[k], 0);
	print_cell(head[6], 7);
	printf("%s\n", head[7]);
	for (size_t i = 0; i < l->n_subscribers; i++) {
		const Ledger__SubscriberInfo *s = l->subscribers[i];
		char age[32];
		print_age(s->last_seen, age);
		print_cell(s->subscriber_id, w);
		printf("%10llu  %10llu  %10s  %9llu  %12llu  ", (unsigned long long)s->last_seq,
		       (unsigned long long)s->lag_events, age, (unsigned long long)s->requests,
		       (unsigned long long)s->events);
		print_cell(s->waiting ? _("waiting") : "-", 7);
		printf("%s\n", s->peer ? s->peer : "");
	}
out:
	codec_response_free(resp);
	return rc;
}

/* --- backup ------------------------------------------------------- */

#define BACKUP_TIMEOUT_MS (24 * 3600 * 1000)

int exec_backup(struct run *r, const struct args *a, ld_errinfo *e)
{
	char dir[4096];
	const char *d = a->pos[0];
	if (d[0] != '/') { /* the daemon's working directory is not ours */
		char cwd[2048];
		if (!getcwd(cwd, sizeof(cwd)))
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("cannot make '%s' absolute: %s"), d, strerror(errno));
		text(dir, sizeof(dir), "%s/%s", cwd, d);
		d = dir;
	}
	/* A copy takes as long as the log is big: unless --timeout says
	 * otherwise, wait up to a day. */
	int timeout = r->timeout_ms == LDC_DEFAULT_TIMEOUT_MS ? BACKUP_TIMEOUT_MS : r->timeout_ms;
	ldc *c = NULL;
	Ledger__Response *resp = NULL;
	int rc = ldc_open(&c, r->url, timeout, e);
	if (rc == 0)
		rc = ldc_backup(c, d, &resp, e);
	if (rc == 0 && !resp->backup)
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, _("the server answered no backup result"));
	if (rc == 0) {
		const Ledger__BackupResult *b = resp->backup;
		if (r->json)
			rc = print_json(b, e);
		else
			printf(_("backup in %s: seq %llu and before, %.1f MiB in %.2f s\n"),
			       b->dir ? b->dir : d, (unsigned long long)b->head_seq,
			       (double)b->bytes / (1 << 20), (double)b->duration_us / 1e6);
	}
	codec_response_free(resp);
	ldc_close(c);
	return rc;
}
