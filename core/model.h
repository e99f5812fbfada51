/*
 * model.h — the write model: the state the invariants need, kept in the
 * store beside the log and changed in the same transaction.
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
 *  - references (members, organisations, stations, seqs) exist  NOT_FOUND
 *  - expected_version matches the stream                    VERSION_CONFLICT
 */
#ifndef LD_MODEL_H
#define LD_MODEL_H

#include <stdint.h>

#include "codec.h"
#include "store.h"

typedef struct model_result {
	char stream[LD_STREAM_MAX]; /* the stream the event belongs to */
	uint64_t version;           /* its version there (1-based) */
} model_result;

/*
 * Validates ev, which passed check_event(), against the state visible in the
 * write transaction t, as the event that will get `seq`. If it is valid,
 * writes the state changes and the stream index entry and fills r; the
 * caller then appends the event to the log. If it is not, returns the
 * negative code with e filled and has written nothing. Storage errors
 * (STORE_MAP_FULL, LD_E(STORAGE)) may leave partial writes: the caller must
 * abort the transaction.
 */
int model_apply(store_txn *t, const Ledger__Event *ev, uint64_t seq, model_result *r,
		ld_errinfo *e);

/* The last version of a stream (0 if it has no events). */
int model_stream_version(store_txn *t, const char *stream, uint64_t *version);

/* The correction recorded for `seq` as of t: *kind 0 (none), 1 (voided)
 * or 2 (amended), and *by the seq of the void / latest amendment. */
int model_fix_get(store_txn *t, uint64_t seq, int *kind, uint64_t *by);

/* The parent (parent[0] = 0 for a root) and region (NULL: not wanted) of
 * an organisation, as registered (neither ever changes): 0,
 * LD_E(NOT_FOUND) or a storage error. The org parent chain of role scopes
 * (core/roles.c) and subscription filters (core/subscribe.c). */
int model_org_parent(store_txn *t, const char *org_id, char parent[LD_ID_MAX + 1],
		     uint32_t *region);

/* The organisation of member `id` as of t (its current one, or its last one
 * if the membership ended): 0, LD_E(NOT_FOUND) for a member that never
 * joined, or a storage error. */
int model_member_org(store_txn *t, const char *id, char org[LD_ID_MAX + 1]);

/* Loads event `seq` from the log into *ev (free with codec_event_free):
 * 0, LD_E(NOT_FOUND) or LD_E(STORAGE). */
int model_load_event(store_txn *t, uint64_t seq, Ledger__Event **ev);

/* 1 if member id's personal data was forgotten (MemberForgotten), else 0. */
int model_member_forgotten(store_txn *t, const char *id);

#endif
