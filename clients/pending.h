/*
 * pending.h — the transfers in two steps that wait for acceptance, summed
 * per organisation: what `ledger-dashboard` (/api/pending) and
 * `ledger-monitor` (the `t` view) show an officer, read the same way.
 *
 * And the organisation whose children those are by default: the province
 * federation of a plan's region (a plan names regions, not organisations).
 */
#ifndef LD_PENDING_H
#define LD_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"

/* The releases waiting in one organisation's subtree: those to accept here
 * (into it, or within it), those released here and waiting elsewhere (out
 * of it), and the oldest of each (the release's occurred_at, µs;
 * INT64_MAX: none). */
typedef struct ldc_pending_sum {
	uint64_t in, out;
	int64_t oldest_in, oldest_out;
} ldc_pending_sum;

#define LDC_PENDING_MAX 1000000 /* releases read per organisation at most */

/* Every page of `transfers --pending` of org, summed. */
int ldc_pending_of(ldc *c, const char *org, ldc_pending_sum *ps, ld_errinfo *e);

/* The root of the organisation tree (a province federation: no parent)
 * whose region is `region` or holds it, into out (cap bytes): the first by
 * id not dissolved, asked of the members projection (org_roots, a scan of
 * the organisations). A reader is answered its own organisations in that
 * region instead: its default is its own federation. LD_E(NOT_FOUND) with
 * a message naming the region when there is none. */
int ldc_region_root(ldc *c, uint32_t region, char *out, size_t cap, ld_errinfo *e);
/* The same, and (when not NULL) the organisation's own region and whether
 * the answer was the asker's own organisations (a reader's). */
int ldc_region_root_of(ldc *c, uint32_t region, char *out, size_t cap, uint32_t *org_region,
		       int *scoped, ld_errinfo *e);

/* Whole days from `then` to `now` (µs), at least 0. */
int64_t ldc_age_days(int64_t then, int64_t now);

#endif
