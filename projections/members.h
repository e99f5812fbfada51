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
	MEMBERS_DB_WORKFORCE, /* "workforce": region (4 BE), group (1) → estimate (8 BE);
			       * also read by progress (city shares) */
	MEMBERS_DB__COUNT
};

/* The view of member id as of the projection's checkpoint (read
 * transaction t on the projection environment). 0, LD_E(NOT_FOUND) or a
 * storage error. Strings and sub-messages are allocated in a. */
int members_get(store_txn *t, const char *id, Ledger__MemberView *out, ld_arena *a);

/* Coverage of org and its subtree down to `depth` levels, with dues figures
 * for `period` (YYYYMM). At most 10,000 organisations. */
int members_coverage(store_txn *t, const char *org, uint32_t depth, uint32_t period,
		     Ledger__CoverageReport *out, ld_arena *a);

#endif
