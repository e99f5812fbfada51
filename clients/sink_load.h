/*
 * sink_load.h — loading events into the sink's tables, in batches that
 * commit with the checkpoint (ledger-sink).
 *
 * A batch is one transaction: the events' rows, every view they change and
 * the new checkpoint (seq and hash of the last event) commit together, so a
 * sink killed at any point restarts from its checkpoint with nothing lost or
 * doubled.
 *
 * Within a batch, each member an event concerns is loaded once (its members
 * row, open membership and open affiliations; in bulk per page), stepped by
 * its events (sink_fold.h) and written back at commit. The first load of a
 * source (from seq 1, before sink_schema_finish made the indexes) keeps
 * every member's state, and the seqs of each member's and organisation's
 * stream, in memory instead: it reads nothing back but the streams it
 * re-folds (by primary key), so the tables need no index while they fill,
 * and rows it knows are new are inserted rather than upserted. Corrections are
 * applied at commit, after the batch's own rows: the corrected event's
 * voided_by / amended_by is set in `events`; a member whose stream it
 * belongs to (and a member with a refund, which may un-settle months) is
 * re-folded from its whole stream in `events`, replacing every row of it in
 * members, memberships, affiliations, transfers, dues and services; an
 * organisation update is re-folded likewise; any other event's fact row is
 * replaced by its corrected form or deleted. So a void of an event loaded an
 * hour ago changes the derived rows in the transaction of its checkpoint.
 *
 * Each event's prev_hash must be the hash of the one before (the checkpoint's
 * for the first): events of another ledger, or of the same ledger restored
 * from an older copy, are refused instead of being mixed in. A ledger whose
 * first event another source of the database holds already is refused too
 * (the same ledger under two names would be counted twice).
 */
#ifndef LD_SINK_LOAD_H
#define LD_SINK_LOAD_H

#include "client.h"
#include "sink.h"

typedef struct sink_loader sink_loader;

/* A loader for `source` on an open target whose schema is ready: creates
 * the source's checkpoint if missing and reads it with the organisation
 * tree. After any failed call but sink_loader_open, free the loader (the
 * target's transaction is rolled back) and open a new one. */
int sink_loader_open(sink_loader **out, const sink_ops *ops, sink *s, const char *source,
                     char err[SINK_ERRLEN]);
void sink_loader_free(sink_loader *l);

/* The committed checkpoint; and the last seq of the open batch (the
 * checkpoint when none is open) with the events in it. */
uint64_t sink_loader_checkpoint(const sink_loader *l);
uint64_t sink_loader_pending(const sink_loader *l, size_t *events);

/* Adds a page of stored events, in seq order, following the checkpoint or
 * the previous page, to the open batch (begun if none is). */
int sink_loader_page(sink_loader *l, const ldc_bytes *evs, size_t n, char err[SINK_ERRLEN]);

/* Applies the batch's corrections and commits it with the new checkpoint
 * (nothing to do without a batch). Past a first load, the planner's
 * statistics are refreshed when the checkpoint has doubled (from 1,000
 * events): a source loaded into a database holding others has none of its
 * own before, and PostgreSQL's plans for it would read the whole source
 * for each member a batch touches. */
int sink_loader_commit(sink_loader *l, char err[SINK_ERRLEN]);

/* Between batches, once sink_schema_finish has made the indexes: a first
 * load ends, and the loader reads states from the tables from now on
 * instead of keeping them all in memory; the connection's first-load
 * settings give way to the normal ones (ops->loaded_sql). */
int sink_loader_indexed(sink_loader *l, char err[SINK_ERRLEN]);

/*
 * Migration of a first-version database (sink_schema_open): loads up to max
 * events of sink_v1_events after the checkpoint as a page. *n = 0 when there
 * are no more: then sink_loader_migrated drops sink_v1_events. *last is the
 * highest seq it holds (for progress).
 */
int sink_loader_migrate_page(sink_loader *l, size_t max, size_t *n, uint64_t *last,
                             char err[SINK_ERRLEN]);
int sink_loader_migrated(sink_loader *l, char err[SINK_ERRLEN]);

#endif
