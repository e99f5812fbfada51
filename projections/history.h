/*
 * history.h — a member's history for audit, read from the log itself (the
 * member's stream): each event with its seq, times, actor and hash, and
 * beside it the void or latest amendment that corrected it. Needs no
 * projection state, so it is as fresh as the log.
 */
#ifndef LD_HISTORY_H
#define LD_HISTORY_H

#include "arena.h"
#include "projection.h"
#include "store.h"

/* History of member `id` in the log read transaction t. Without `all`,
 * only membership events (joins, affiliations, transfers, ends, profile
 * changes) and the corrections of them. 0, LD_E(NOT_FOUND) or a storage
 * error. At most 10,000 entries, from at most 100,000 events of the stream
 * (events neither shown nor corrections are not decoded): cut there with
 * more of the stream left, out->next_version is the version the rest
 * begins at. Allocated in a. */
int history_query(store_txn *t, const char *id, int all, Ledger__MemberHistory *out, ld_arena *a);
/* Frees the events history_query decoded (the rest is in the arena). */
void history_release(Ledger__MemberHistory *h);

/* Its query: history (PQ_READS_LOG: as fresh as the log, no wait). */
extern const projection_query history_queries[];

#endif
