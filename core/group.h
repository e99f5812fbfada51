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
 *           left out; 2 = member keys: the key section follows the
 *           records; 4 = bare: the hashes left out, below), prev_hash[32]
 *           (the hash of seq first - 1)
 *   records count of them, each 8-byte aligned:
 *           len (u32), fix kind (u8: 0 none, 1 void, 2 amend), 3 bytes 0,
 *           fix target seq (u64), link (16 bytes: core/links.h), hash[32],
 *           the event's stored bytes (len)
 *   keys    (flag 2 only) nkeys (u32, 1 or more), 4 bytes 0, then nkeys
 *           records, each 8-byte aligned: id length (u32, 1..LD_ID_MAX),
 *           the member's key wrapped under the cluster's key-encryption key
 *           (GROUP_WRAPPED_LEN bytes: core/keystore.h keystore_wrap), the
 *           member id and a NUL
 *
 * The key section is for the nodes of a cluster only (docs/REPLICATION.md,
 * "Personal data across nodes"): a leader adds the key of each member
 * whose sealed personal data its events carry; every node stores those
 * keys before it writes the events (keystore_adopt). group_apply writes the
 * events only, and a node keeps no blob with keys (group_drop_keys): the
 * log, its pages, its backups and the on_group hook never see one.
 */
#ifndef LD_GROUP_H
#define LD_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "digest.h"
#include "links.h"
#include "rfc6962.h"
#include "store.h"

#define GROUP_DERIVED 1u
#define GROUP_KEYS 2u
#define GROUP_BARE 4u
#define GROUP_HEADER 56
#define GROUP_WRAPPED_LEN (LD_SECRET_LEN + LD_SEAL_OVERHEAD) /* 60 */

typedef struct group {
	uint8_t *buf; /* the blob */
	size_t len, cap;
	size_t *off; /* each event's record in buf */
	size_t n, ncap;
	uint64_t first;
	int failed; /* memory ran out while building: the group is unusable */
	/* The key records added, appended to the blob by group_seal; the
	 * offsets of the newest GROUP_KEYS_RECENT (a ring, for group_has_key). */
	uint8_t *kbuf;
	size_t klen, kcap, nkeys;
	size_t krecent[16];
} group;

typedef struct group_mark {
	size_t len, n, klen, nkeys;
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
	return (group_mark){g->len, g->n, g->klen, g->nkeys};
}
void group_truncate(group *g, group_mark m);
/* dst (initialised; what it held is freed) becomes a copy of src, sized to
 * fit. 0 or LD_E(INTERNAL) (dst unchanged). */
int group_copy(group *dst, const group *src);
/* The stored bytes, link and hash of event seq if it is in g: 0, or
 * LD_E(NOT_FOUND). */
int group_event(const group *g, uint64_t seq, const uint8_t **bytes, size_t *len);
int group_link(const group *g, uint64_t seq, ld_link *l);
/* The correction recorded with event seq (group_add's fix_kind, 0: none,
 * and fix_target): 0, or LD_E(NOT_FOUND). */
int group_fix(const group *g, uint64_t seq, int *kind, uint64_t *target);
const uint8_t *group_hash(const group *g, size_t i);
/* The blob: g->buf, g->len bytes, with its count written, and the key
 * records added, if any, as its key section (flag 2). Once only. */
void group_seal(group *g);

/* Adds the key record of member_id (NUL-terminated, 1..LD_ID_MAX bytes):
 * its key wrapped (keystore_wrap, with g->first). 0, or LD_E(INTERNAL)
 * (memory; g->failed) or LD_E(INVALID_VALUE) (the id's length). */
int group_add_key(group *g, const char *member_id, const uint8_t wrapped[GROUP_WRAPPED_LEN]);
/* 1 if one of the newest 16 key records added is member_id's (a repeat
 * past them costs a record, and the node that stores it finds it has the
 * key already). */
int group_has_key(const group *g, const char *member_id);
/* Removes the key section of a sealed or loaded blob (the flag cleared):
 * what a node keeps of another's group. */
void group_drop_keys(group *g);

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

/* The key section of a group sealed (group_seal) or loaded (group_load,
 * which checked it): group_keys_begin reads where the records end, no
 * record walked (r->count records; 0 without a section). group_key_next:
 * 1 with the next member id (NUL-terminated) and wrapped key, 0 past the
 * last, LD_E(INVALID_VALUE) if malformed. */
typedef struct group_key_reader {
	const uint8_t *p, *end;
	uint64_t first; /* the group's first seq (the wrapping's associated data) */
	uint32_t count, i;
} group_key_reader;
void group_keys_begin(group_key_reader *r, const group *g);
int group_key_next(group_key_reader *r, const char **member_id, const uint8_t **wrapped);

/*
 * A bare group: the blob as a raft entry carries it (docs/REPLICATION.md,
 * "The hashes left out"). Each record's hash, and its event's prev_hash
 * and hash, are 32 zero bytes: they are the header's prev_hash and what
 * the events' bytes give (codec_stored_hash), so a node computes them
 * instead of receiving them, and checks the last against the entry's.
 * group_strip_hashes: out (len bytes) becomes the blob (flags: none, or
 * member keys) bare, flag 4 set; 0, or -1 if a record is not laid out as
 * a writer packs (out is then not a blob; send the blob as it is).
 * group_is_bare: 1 if the blob has flag 4. group_fill_hashes: the hashes
 * of a bare blob computed into it, flag 4 cleared (the last one is then its
 * last record's, to be checked against the entry's); 0, or
 * LD_E(INVALID_VALUE) (not bare, malformed, or a record not laid out so),
 * and then why (unless NULL: why_n bytes, NUL-terminated) says which: the
 * header, the flags, the record or event of which seq, or the key section.
 * Nothing stores or loads a bare blob (group_apply refuses it).
 */
int group_strip_hashes(const uint8_t *blob, size_t len, uint8_t *out);
int group_is_bare(const uint8_t *blob, size_t len);
int group_fill_hashes(uint8_t *blob, size_t len, char *why, size_t why_n);

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
