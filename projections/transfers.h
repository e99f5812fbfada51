/*
 * transfers.h — the "transfers" projection (transfers.c) and its query.
 */
#ifndef LD_TRANSFERS_H
#define LD_TRANSFERS_H

#include "arena.h"
#include "projection.h"

extern const projection_ops transfers_projection;
/* Its query: transfers. */
extern const projection_query transfers_queries[];

/* Transfers in one answer: when the request says none, and at most. */
#define TRANSFERS_DEFAULT_LIMIT 1000
#define TRANSFERS_MAX_LIMIT     10000

/* Its databases (proj_db(&transfers_projection, i)). */
enum transfers_db {
	TRANSFERS_DB_ENTRIES, /* "transfers": org_id, 0, occurred_at (8 BE, offset), seq
			       * (8 BE) → its direction there (1 byte); org_id, 1, ...:
			       * a pending release (transfers.c) */
	TRANSFERS_DB_KEYS,    /* "tkeys": seq (8 BE) → the transfer's record: the org ids
			       * it is filed under, then what it says; seq, 'p': a
			       * pending release's */
	TRANSFERS_DB_ORGS,    /* "torgs": org_id → parent_id (this projection's own tree) */
	TRANSFERS_DB__COUNT
};

/* Transfers (pending: the releases waiting for acceptance instead) into,
 * out of or within org's subtree with from_time <=
 * occurred_at < to_time, by occurred_at then seq, those at from_time only
 * above seq after_seq (0: all), of side `side` (a TransferSide: those
 * into or within the subtree, out of or within it; 0: all); at most `limit` (then out->truncated, and
 * out->next_time, next_after_seq the last one's, where the list goes on).
 * 0, LD_E(NOT_FOUND) for an unknown organisation, or a storage error.
 * Allocated in a. */
int transfers_query(const kv_read *t, const char *org, int pending, int side, int64_t from_time,
		    uint64_t after_seq, int64_t to_time, uint32_t limit, Ledger__TransferList *out,
		    ld_arena *a);

#endif
