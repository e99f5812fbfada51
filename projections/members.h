/*
 * members.h — the "members" projection (members.c): member views and
 * organisation coverage, and its queries.
 */
#ifndef LD_MEMBERS_H
#define LD_MEMBERS_H

#include "arena.h"
#include "projection.h"

extern const projection_ops members_projection;
/* Its queries: get_member and coverage. */
extern const projection_query members_queries[];

/* The deepest coverage answered, in levels below the organisation asked
 * about: no organisation chain is longer (at most 16 levels, root
 * included). */
#define MEMBERS_COVERAGE_MAX_DEPTH 16

/* Its databases (proj_db(&members_projection, i)). */
enum members_db {
	MEMBERS_DB_VIEWS,     /* "members": member_id → packed MemberView */
	MEMBERS_DB_ORGS,      /* "orgs": org_id → organisation aggregate */
	MEMBERS_DB_CHILDREN,  /* "children": parent_id, 0, child_id → "" */
	MEMBERS_DB_MONTHS,    /* "months": org_id, 0, YYYYMM (4 BE) → active members paid
			       * through that month */
	MEMBERS_DB_ESTIMATES, /* "estimates": region (4 BE), group (1), occurred_at (8 BE,
			       * sign bit flipped), seq (8 BE) → count (8 BE): every
			       * workforce estimate as it counts; also read by progress
			       * (city shares) through members_estimate_at */
	MEMBERS_DB__COUNT
};

/* The view of member id in the state t reads (kv.h: the flushed state,
 * KV_READ_TXN, or the state in memory). 0, LD_E(NOT_FOUND) or a
 * storage error. Strings and sub-messages are allocated in a. */
int members_get(const kv_read *t, const char *id, Ledger__MemberView *out, ld_arena *a);

/* Coverage of org and its subtree down to `depth` levels, with dues figures
 * for `period` (YYYYMM) and the workforce estimates in force at `at` (µs).
 * At most 10,000 organisations. */
int members_coverage(const kv_read *t, const char *org, uint32_t depth, uint32_t period, int64_t at,
		     Ledger__CoverageReport *out, ld_arena *a);

/* The workforce estimate of a region and group in force at `at`: the one
 * with the latest occurred_at not after `at`, of two at the same time the
 * one with the higher seq. cur is a cursor on MEMBERS_DB_ESTIMATES. 0 with *out, LD_E(NOT_FOUND)
 * when there is none, or a storage error. */
struct members_estimate {
	uint64_t count;
	int64_t at;   /* its occurred_at, µs */
	uint64_t seq; /* its seq */
};
int members_estimate_at(kvr_cursor *cur, uint32_t region, unsigned group, int64_t at,
		     struct members_estimate *out);

/* Calls fn for every region from lo to hi (inclusive) and worker group
 * that has a workforce estimate in force at `at`, in region and group order,
 * with that estimate; stops at fn's first non-zero return, which it returns.
 * t: the projections' state (kv.h). */
typedef int (*members_estimate_fn)(void *arg, uint32_t region, unsigned group,
				   const struct members_estimate *e);
int members_estimates_each(const kv_read *t, uint32_t lo, uint32_t hi, int64_t at,
			   members_estimate_fn fn, void *arg);

#endif
