/*
 * model.h — the write model: the state the invariants need, in memory
 * (core/mstate.h), owned by the writer, saved in snapshots (core/snapshot.h)
 * and rebuilt from the log past the last snapshot at start.
 *
 * The state of a member or an organisation is a fold of its stream's
 * effective events (an event voided is skipped; an amended one counts with
 * its latest corrected body). Appending an event is one fold step; voiding
 * or amending one re-folds the target's stream with the correction applied,
 * and is rejected if the stream no longer folds (e.g. voiding a join that
 * later events of the member depend on).
 *
 * Invariants held (each rejection is an error code of ledger.proto):
 *  - one active membership per person: a person_hash belongs to one member
 *    id forever, which is active at most once at a time   ALREADY_MEMBER
 *  - joins, transfers and affiliations go into organisations that exist,
 *    are not dissolved and admit members        NOT_FOUND, ORG_DISSOLVED, ORG_CLOSED
 *  - a transfer leaves the member's current organisation  INVALID_STATE
 *  - an organisation's parent exists, is not dissolved, its kind fits the
 *    child's level and its region contains the child's      HIERARCHY
 *  - an organisation is dissolved only without active members, affiliated
 *    members or live child organisations                    INVALID_STATE
 *  - refunds of a payment never exceed it                   INVALID_STATE
 *  - a month of a member's dues is paid once: a payment sharing a month
 *    with one in force says it is additional; so does an amendment, or a
 *    voided refund that makes a payment pay for months again   ALREADY_PAID
 *    (a refund frees a payment's last months, as many as it gave back)
 *  - references (members, organisations, stations, seqs) exist  NOT_FOUND
 *  - expected_version matches the stream                    VERSION_CONFLICT
 *
 * The model is attached to the log's store (store_model), so that code
 * holding a transaction of the log reaches it: the functions below that
 * take a store_txn read the model of that transaction's store. In the
 * writer's own transaction (one with a view: store_txn_set_view) they see
 * what the writer decided, committed or not; elsewhere, what is committed.
 */
#ifndef LD_MODEL_H
#define LD_MODEL_H

#include <stdint.h>

#include "codec.h"
#include "links.h"
#include "store.h"

typedef struct model model;
typedef struct model_undo model_undo;

/* An empty model of the log of s, attached to it. 0 or LD_E(INTERNAL). */
int model_create(model **out, store *s);
/* Detaches it from its store and frees it (no reader may use it any more). */
void model_free(model *m);

/* ---- the writer ---- */

/* The writer is applying events already in the log (at start). Rules
 * younger than the log are then not applied again (a log written before the
 * dues rule may hold two payments of one month); the state follows the
 * events all the same. */
void model_replaying(model *m, int on);

/*
 * What the writer's transaction sees beyond the log: the events it decided
 * and has not committed yet. Each function returns 0, or LD_E(NOT_FOUND)
 * when seq is not one of those events (it is then read from the log).
 */
typedef struct model_view {
	int (*event)(void *arg, uint64_t seq, Ledger__Event **ev);
	int (*link)(void *arg, uint64_t seq, ld_link *l);
	void *arg;
	/* NULL: the writer's own view (the streams as decided). Set: a
	 * reader's view of events applied and not stored yet
	 * (writer_unstored_begin), which adds those events to what the
	 * transaction holds and nothing else: the last event of stream
	 * `stream` (its stream_ref) with seq <= upto among them, into *seq;
	 * 0 or LD_E(NOT_FOUND) (then the stream as published). */
	int (*head)(void *arg, uint32_t stream, uint64_t upto, uint64_t *seq);
	/* 1: the events were decided by another node (a leader's group, a
	 * catch-up's pages): the rules of dates (core/model.c, CHECK_DATES)
	 * are not applied to them again, as at start (model_replaying), so
	 * that a log holding events older than the rule, or a leader not yet
	 * upgraded, does not halt a follower. */
	int decided;
} model_view;

typedef struct model_result {
	char stream[LD_STREAM_MAX]; /* the stream the event belongs to */
	uint64_t version;           /* its version there (1-based) */
	uint32_t stream_ref;        /* for model_publish */
	ld_link link;                  /* its link (core/links.h) */
	int fix_kind;               /* a correction: FIX_VOID 1, FIX_AMEND 2 */
	uint64_t fix_target;        /* ... of this seq */
} model_result;

/* What deciding an event looks up, hashed once (model_prefetch, records 0)
 * for its prefetches and its decision: its member's stream name (0: not
 * hashed, or no member). */
typedef struct model_hint {
	uint64_t stream;
} model_hint;

/*
 * Validates ev, which passed check_event(), against the state the writer's
 * transaction t sees, as the event that will get `seq`. If it is valid,
 * changes the state (logged in the undo log in use) and fills r; the
 * caller then appends the event to the log with r's stream, version and
 * link. If it is not, returns the negative code with e filled and has
 * changed nothing. LD_E(INTERNAL) (memory) or a storage error (reading the
 * log) may leave changes half made: the caller rolls back. hint: ev's, or
 * NULL (hashed here).
 */
int model_apply(store_txn *t, const Ledger__Event *ev, uint64_t seq, const model_hint *hint,
		model_result *r, ld_errinfo *e);

/* The seq event id was recorded as (decided, as t sees), or 0. 0 or a
 * storage error. */
int model_id_lookup(store_txn *t, const uint8_t id[LD_EVENT_ID_LEN], uint64_t *seq);
/* Notes event id recorded as seq (logged for undo). 0 or LD_E(INTERNAL). */
int model_id_add(store_txn *t, const uint8_t id[LD_EVENT_ID_LEN], uint64_t seq);

/* Undo logs: every change of the model is logged in the one in use (none:
 * not logged, as at start), so that a rejected atomic request, or a group
 * whose commit failed, is taken back exactly. */
model_undo *model_undo_new(void);
void model_undo_free(model_undo *u);
void model_undo_use(model *m, model_undo *u);
size_t model_undo_mark(const model_undo *u);
/* Undoes the changes logged in u after mark, newest first. */
void model_undo_rollback(model *m, model_undo *u, size_t mark);
void model_undo_clear(model_undo *u);
/* 1 if a change could not be logged (memory): the model cannot be rolled
 * back and the writer must stop. */
int model_undo_failed(const model_undo *u);

/* The event seq of the stream of stream_ref (from a model_result) is
 * committed: readers see the stream up to it. */
void model_publish(model *m, uint32_t stream_ref, uint64_t seq);

/* ---- every thread ---- */

/*
 * The events of a stream ("member/<id>", "org/<id>", "region/<code>") as
 * committed (as decided, in the writer's transaction): of those with seq
 * <= upto, the ones with version >= from, at most max, in version order:
 * their seqs (and versions, if not NULL) and their number *n. An unknown
 * stream has none. The links are read through t, or through a transaction
 * of its own when t began before the stream's last commit. 0 or a storage
 * error.
 */
int model_stream_read(store_txn *t, const char *stream, uint32_t from, uint64_t upto, size_t max,
		      uint64_t *seqs, uint32_t *versions, size_t *n);

/* The link of event seq (core/links.h) as t sees it: 0, LD_E(NOT_FOUND)
 * or a storage error. */
int model_link(store_txn *t, uint64_t seq, ld_link *l);

/* The organisation that runs station `id` (open, as t sees it): 0,
 * LD_E(NOT_FOUND). */
int model_station_org(store_txn *t, const char *id, char org[LD_ID_MAX + 1]);

/* The correction recorded for `seq` as of t: *kind 0 (none), 1 (voided)
 * or 2 (amended), and *by the seq of the void / latest amendment. */
int model_fix_get(store_txn *t, uint64_t seq, int *kind, uint64_t *by);

/* The parent (parent[0] = 0 for a root) and region (NULL: not wanted) of
 * an organisation, as registered (neither ever changes): 0,
 * LD_E(NOT_FOUND) or a storage error. The org parent chain of role scopes
 * (core/roles.c) and subscription filters (core/subscribe.c). */
int model_org_parent(store_txn *t, const char *org_id, char parent[LD_ID_MAX + 1],
		     uint32_t *region);

/* The organisation of member `id` (its current one, or its last one if the
 * membership ended): 0, LD_E(NOT_FOUND) for a member that never joined. */
int model_member_org(store_txn *t, const char *id, char org[LD_ID_MAX + 1]);

/* Loads event `seq` into *ev (free with codec_event_free): 0,
 * LD_E(NOT_FOUND) or LD_E(STORAGE). */
int model_load_event(store_txn *t, uint64_t seq, Ledger__Event **ev);
/* The body case of event seq as t sees it, from its stored bytes without
 * decoding them (0 when they do not tell: decode it). 0 or an error as
 * model_load_event's. */
int model_event_case(store_txn *t, uint64_t seq, int *body);

/* A hint for the writer, which decides events in a row: what deciding ev
 * will look up in the write model is asked of memory ahead, the index slots
 * (records 0) two events ahead, and the stream's record those slots name
 * (records 1) one event ahead, so that the cache misses of one event's
 * lookups overlap deciding the one before. Changes nothing in the model;
 * records 0 fills *hint, which records 1 and model_apply then use. */
void model_prefetch(store_txn *t, const Ledger__Event *ev, int records, model_hint *hint);

/* The member a person hash belongs to, as t sees it (other threads: a
 * moment old at worst): 0 and member, or LD_E(NOT_FOUND) for a person the
 * ledger does not hold. */
int model_person(store_txn *t, const uint8_t hash[LD_HASH_LEN], char member[LD_ID_MAX + 1]);
/* The same without a transaction (the model's tables are read without one:
 * a join's national ID looked up on NNG's threads opens none). */
int model_person_in(store *s, const uint8_t hash[LD_HASH_LEN], char member[LD_ID_MAX + 1]);
/* A hint: the slot model_person_in(s, hash) will start at is asked into
 * the cache (a request's later events looked up while it arrives). */
void model_person_prefetch(store *s, const uint8_t hash[LD_HASH_LEN]);

/* 1 if member id's personal data was forgotten (MemberForgotten), else 0;
 * _in: the same without a transaction, as model_person_in. */
int model_member_forgotten(store_txn *t, const char *id);
int model_member_forgotten_in(store *s, const char *id);

/* ---- inspection ---- */

/* Bytes of memory the model holds. */
size_t model_memory(const model *m);
/* Members, organisations, streams and event ids it knows. */
void model_counts(const model *m, uint64_t *members, uint64_t *orgs, uint64_t *streams,
		  uint64_t *ids);
/*
 * The whole state as text, one line per item in a fixed order (streams by
 * name, with their member or organisation; persons; stations; refunds;
 * corrections; event ids by seq): two models that dump the same are the
 * same. malloc'd into *out; 0 or LD_E(INTERNAL).
 */
int model_dump(const model *m, char **out, size_t *len);

#endif
