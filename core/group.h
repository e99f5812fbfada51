/*
 * group.h — one group commit of the writer as one self-contained blob: the
 * events as they are stored, each with what is written beside it (its
 * stream link, the correction it records, its chain hash for the Merkle
 * tree). The writer decides a group against its write model and builds the
 * blob (core/writer.c); applying it to a log is copying bytes — no decision,
 * no model — so the same blob can be applied to another copy of the log
 * (replication ships it: one group, one entry), and applying it twice is
 * refused rather than done twice.
 *
 * The blob (integers little-endian):
 *   header  "LDGROUP1", first seq (u64), count (u32), flags (u32: 1 =
 *           derived only: the events are in the log already, their bytes
 *           left out), prev_hash[32] (the hash of seq first - 1)
 *   records count of them, each 8-byte aligned:
 *           len (u32), fix kind (u8: 0 none, 1 void, 2 amend), 3 bytes 0,
 *           fix target seq (u64), link (16 bytes: core/links.h), hash[32],
 *           the event's stored bytes (len)
 */
#ifndef LD_GROUP_H
#define LD_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "links.h"
#include "rfc6962.h"
#include "store.h"

#define GROUP_DERIVED 1u
#define GROUP_HEADER 56

typedef struct group {
	uint8_t *buf; /* the blob */
	size_t len, cap;
	size_t *off; /* each event's record in buf */
	size_t n, ncap;
	uint64_t first;
	int failed; /* memory ran out while building: the group is unusable */
} group;

typedef struct group_mark {
	size_t len, n;
} group_mark;

void group_init(group *g);
void group_free(group *g);
/* Empties g for events from seq first, after the event with hash prev. */
void group_reset(group *g, uint64_t first, const uint8_t prev[LD_HASH_LEN], unsigned flags);
/* Appends the record of event first + n: *bytes (len of them) and *hash are
 * the caller's to fill. 0 or LD_E(INTERNAL). */
int group_add(group *g, size_t len, const ld_link *l, int fix_kind, uint64_t fix_target,
	      uint8_t **bytes, uint8_t **hash);
static inline group_mark group_mark_at(const group *g)
{
	return (group_mark){g->len, g->n};
}
void group_truncate(group *g, group_mark m);
/* dst (initialised; what it held is freed) becomes a copy of src, sized to
 * fit. 0 or LD_E(INTERNAL) (dst unchanged). */
int group_copy(group *dst, const group *src);
/* The stored bytes, link and hash of event seq if it is in g: 0, or
 * LD_E(NOT_FOUND). */
int group_event(const group *g, uint64_t seq, const uint8_t **bytes, size_t *len);
int group_link(const group *g, uint64_t seq, ld_link *l);
const uint8_t *group_hash(const group *g, size_t i);
/* The blob: g->buf, g->len bytes, with its count written. */
void group_seal(group *g);

/* Reading a blob (one that came from another node: every length checked).
 * group_read_begin: 0, or LD_E(INVALID_VALUE) for a bad header.
 * group_read_next: 1 with the next event's stored bytes (len) and hash, 0
 * past the last (all of the blob read), LD_E(INVALID_VALUE) if malformed. */
typedef struct group_reader {
	const uint8_t *p, *end;
	uint64_t first;
	uint32_t count, i;
	unsigned flags;
	const uint8_t *prev; /* the header's prev_hash */
} group_reader;
int group_read_begin(group_reader *r, const uint8_t *blob, size_t len);
int group_read_next(group_reader *r, const uint8_t **bytes, size_t *len, const uint8_t **hash);
/* dst (initialised; what it held is freed) becomes a copy of the blob, its
 * records indexed as group_add would have (group_event, group_link work on
 * it). 0, LD_E(INVALID_VALUE) (malformed) or LD_E(INTERNAL). */
int group_load(group *dst, const uint8_t *blob, size_t len);

/*
 * Writes a blob into the write transaction t of the log's store: each
 * event under its seq (MDB_APPEND; unless the blob is derived only), its
 * link, its correction, and the Merkle nodes the events complete (tree, the
 * tree's frontier, is advanced; NULL: no tree). The blob's first seq must
 * follow the log's head (or, derived only, the links' head) and its
 * prev_hash be that head's hash. 0, LD_E(INVALID_VALUE) for a blob that is
 * malformed or does not follow (nothing written), STORE_MAP_FULL or a
 * storage error (abort t).
 */
int group_apply(store_txn *t, const uint8_t *blob, size_t len, ld_merkle_frontier *tree);

#endif
