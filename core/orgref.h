/*
 * orgref.h — organisations an event refers to beyond what its body names:
 * the organisation its member was in when it was recorded, and the one that
 * runs a station. Read in a transaction of the log, through the write model
 * (its streams' links and its stations: core/model.h).
 *
 * A member's organisation at an event of its stream is the org_id of the
 * latest join or the to_org of the latest transfer before it (proto/kinds.c:
 * `home_after`), as the log stood when the event was recorded: a join or
 * transfer voided before it does not count, one amended before it counts
 * with its latest corrected body before it, and a correction recorded after
 * it changes nothing (it is an event of its own). The walk is bounded
 * (ORGREF_MAX_WALK events back); past it, or in a stream without a join,
 * the answer is "" (unknown).
 */
#ifndef LD_ORGREF_H
#define LD_ORGREF_H

#include <stdint.h>

#include "codec.h"
#include "store.h"

#define ORGREF_MAX_WALK 10000

/* The organisation of the member whose stream is `stream` ("member/<id>")
 * at the event of `version` there, into org ("" if unknown). 0, or a
 * storage error. */
int orgref_member_at(store_txn *t, const char *stream, uint64_t version, char org[LD_ID_MAX + 1]);

/* The organisation that runs station `id`: 0, LD_E(NOT_FOUND), or a
 * storage error. */
int orgref_station(store_txn *t, const char *id, char org[LD_ID_MAX + 1]);

#endif
