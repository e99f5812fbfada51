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

int ldc_region_root(ldc *c, uint32_t region, char *out, size_t cap, ld_errinfo *e)
{
	return ldc_region_root_of(c, region, out, cap, NULL, NULL, e);
}

int ldc_region_root_of(ldc *c, uint32_t region, char *out, size_t cap, uint32_t *org_region,
		       int *scoped, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	int rc = ldc_org_roots(c, region, &resp, e);
	if (rc == 0 && (!resp || !resp->org_roots))
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
				    _("the server answered no organisations"));
	if (rc != 0) {
		codec_response_free(resp);
		return rc;
	}
	const Ledger__OrgRoots *r = resp->org_roots;
	const Ledger__OrgRoot *pick = NULL;
	/* The first not dissolved (by id), else the first. */
	for (size_t i = 0; i < r->n_roots && !pick; i++)
		if (ld_has(r->roots[i]->org_id) && !r->roots[i]->dissolved)
			pick = r->roots[i];
	for (size_t i = 0; i < r->n_roots && !pick; i++)
		if (ld_has(r->roots[i]->org_id))
			pick = r->roots[i];
	int is_scoped = r->scoped;
	if (scoped)
		*scoped = is_scoped;
	if (pick && strlen(pick->org_id) < cap) {
		snprintf(out, cap, "%s", pick->org_id);
		if (org_region)
			*org_region = pick->region;
		codec_response_free(resp);
		return 0;
	}
	codec_response_free(resp);
	if (is_scoped)
		return ld_errinfo_set(e, LD_E(NOT_FOUND), NULL,
				      _("none of your organisations (the role file's orgs) lies "
					"in region %u"),
				      region);
	return ld_errinfo_set(e, LD_E(NOT_FOUND), NULL,
			      _("the ledger holds no province federation of region %u (an "
				"organisation without a parent registered for that region)"),
			      region);
}

int64_t ldc_age_days(int64_t then, int64_t now)
{
	return now > then ? (now - then) / (86400LL * 1000000) : 0;
}
