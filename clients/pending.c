/*
 * pending.c — transfers waiting for acceptance, per organisation (pending.h).
 */
#include "pending.h"

#include <stdio.h>
#include <string.h>

#include "i18n.h"

int ldc_pending_of(ldc *c, const char *org, ldc_pending_sum *ps, ld_errinfo *e)
{
	int64_t from = INT64_MIN;
	uint64_t after = 0, seen = 0;
	*ps = (ldc_pending_sum){0, 0, INT64_MAX, INT64_MAX};
	for (;;) {
		Ledger__Response *resp = NULL;
		int rc = ldc_transfers_of(c, org, 1, 0, from, after, INT64_MAX, 10000, NULL, &resp, e);
		if (rc == 0 && (!resp || !resp->transfers))
			rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
			                    _("the server answered no transfers"));
		if (rc != 0) {
			codec_response_free(resp);
			return rc;
		}
		const Ledger__TransferList *l = resp->transfers;
		for (size_t i = 0; i < l->n_transfers; i++) {
			const Ledger__TransferView *t = l->transfers[i];
			int out = t->direction == LEDGER__TRANSFER_DIRECTION__OUT_OF;
			*(out ? &ps->out : &ps->in) += 1;
			int64_t *old = out ? &ps->oldest_out : &ps->oldest_in;
			if (t->occurred_at < *old)
				*old = t->occurred_at;
		}
		seen += l->n_transfers;
		int more = l->truncated && l->n_transfers && seen < LDC_PENDING_MAX;
		from = l->next_time;
		after = l->next_after_seq;
		codec_response_free(resp);
		if (!more)
			return 0;
	}
}

#define ROOT_PAGES 1000 /* pages of registrations read at most (10,000 each) */

int ldc_region_root(ldc *c, uint32_t region, char *out, size_t cap, ld_errinfo *e)
{
	static const Ledger__EventType kinds[] = {LEDGER__EVENT_TYPE__ORG_REGISTERED};
	uint64_t from = 1;
	for (int page = 0; page < ROOT_PAGES; page++) {
		Ledger__Response *resp = NULL;
		int rc = ldc_read_log(c, from, 10000, kinds, 1, &resp, e);
		if (rc == 0 && (!resp || !resp->page))
			rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
			                    _("the server answered no page of the log"));
		if (rc != 0) {
			codec_response_free(resp);
			return rc;
		}
		const Ledger__EventPage *p = resp->page;
		for (size_t i = 0; i < p->n_events; i++) {
			const Ledger__Event *ev = p->events[i];
			const Ledger__OrgRegistered *r =
			    ev->body_case == LEDGER__EVENT__BODY_ORG_REGISTERED ? ev->org_registered
			                                                        : NULL;
			if (r && r->region == region && !ld_has(r->parent_id) && ld_has(r->org_id) &&
			    strlen(r->org_id) < cap) {
				snprintf(out, cap, "%s", r->org_id);
				codec_response_free(resp);
				return 0;
			}
		}
		int more = p->next_seq > from && p->next_seq <= p->head_seq;
		from = p->next_seq;
		codec_response_free(resp);
		if (!more)
			break;
	}
	return ld_errinfo_set(e, LD_E(NOT_FOUND), NULL,
	                      _("the ledger holds no province federation of region %u (an "
	                        "organisation without a parent registered for that region)"),
	                      region);
}

int64_t ldc_age_days(int64_t then, int64_t now)
{
	return now > then ? (now - then) / (86400LL * 1000000) : 0;
}
