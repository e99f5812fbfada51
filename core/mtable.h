/*
 * mtable.h — the in-memory containers of the write model (core/mstate.h):
 * records that never move, hash tables of record numbers, the event-id
 * table, and a small map of 64-bit keys. Nothing here knows the domain.
 *
 * Why not a library: the model holds tens of millions of entries within a
 * stated memory budget (mstate.h), and other threads look streams up while
 * the writer inserts, without a lock. glib's and uthash's tables cost a
 * malloc and 40-60 bytes of links per entry and are not safe to read while
 * written; these cost 8 bytes a slot. The hash function is xxHash's XXH3
 * (libxxhash), seeded per data directory so that keys a client chooses
 * cannot be made to collide.
 *
 * Threads: one writer (the model's owner) changes everything. Where a
 * container says "readers", other threads may read it at any time without
 * a lock: what they see is either before or after each change, never torn.
 */
#ifndef LD_MTABLE_H
#define LD_MTABLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define MT_NONE UINT32_MAX /* no record */

/* ------------------------------------------------------------------ */
/* Records: fixed size, numbered 0, 1, ...; a record never moves, so   */
/* readers may hold a pointer to one. Chunks of 2^16 records.          */
/* ------------------------------------------------------------------ */

#define MT_CHUNK_BITS 16
#define MT_MAX_CHUNKS 65536 /* 2^32 records */

typedef struct marray {
	size_t size;               /* bytes per record */
	_Atomic uint32_t n;        /* records in use */
	uint32_t nchunks;
	uint8_t *_Atomic *chunks;  /* MT_MAX_CHUNKS pointers, allocated at init */
} marray;

int marray_init(marray *a, size_t record_size);
void marray_free(marray *a);
/* Appends a zeroed record: its number, or MT_NONE when memory runs out. */
uint32_t marray_push(marray *a);
/* Drops the last record (undoing a push). */
void marray_pop(marray *a);
static inline void *marray_at(const marray *a, uint32_t i)
{
	uint8_t *c = atomic_load_explicit(&a->chunks[i >> MT_CHUNK_BITS], memory_order_acquire);
	return c + (size_t)(i & ((1u << MT_CHUNK_BITS) - 1)) * a->size;
}
static inline uint32_t marray_count(const marray *a)
{
	return atomic_load_explicit(&a->n, memory_order_acquire);
}
/* Bytes allocated. */
size_t marray_bytes(const marray *a);

/* ------------------------------------------------------------------ */
/* Bytes: an append-only arena of names (chunks never move)            */
/* ------------------------------------------------------------------ */

#define MT_BYTES_CHUNK (1u << 20)

typedef struct mbytes {
	uint64_t len;
	uint32_t nchunks;
	uint8_t **chunks; /* MT_MAX_CHUNKS pointers */
} mbytes;

int mbytes_init(mbytes *b);
void mbytes_free(mbytes *b);
/* Appends n bytes (n < 256; never split across chunks): their offset, or
 * UINT64_MAX when memory runs out. */
uint64_t mbytes_add(mbytes *b, const void *p, size_t n);
/* Cuts back to len (undoing adds). */
void mbytes_truncate(mbytes *b, uint64_t len);
static inline const uint8_t *mbytes_at(const mbytes *b, uint64_t off)
{
	return b->chunks[off / MT_BYTES_CHUNK] + off % MT_BYTES_CHUNK;
}

/* ------------------------------------------------------------------ */
/* Index: a hash table of record numbers (open addressing, linear      */
/* probing). The caller hashes keys and says whether a record has a    */
/* key; a slot keeps 32 bits of the hash beside the number, so most    */
/* mismatches never touch the record. Readers: lookups. Removal leaves */
/* a tombstone, cleared when the table grows.                          */
/* ------------------------------------------------------------------ */

/* Growing copies the slots into an array twice the size and publishes it;
 * the old array is freed as soon as no lookup can still be probing it
 * (core/rcu.h: each lookup is a read section, and the add that grows waits
 * for those begun before). So an index holds one array: its slots at 35-70%
 * load, 8 bytes each. */

typedef struct mindex_slots {
	uint64_t mask;
	_Atomic uint64_t slot[]; /* 0 empty, MINDEX_DEAD, or hash32 << 32 | (n + 1) */
} mindex_slots;

typedef struct mindex {
	mindex_slots *_Atomic s;
	uint64_t used; /* live + tombstones */
	uint64_t live;
} mindex;

typedef int (*mindex_eq_fn)(const void *key, uint32_t rec, void *arg);

int mindex_init(mindex *x, uint64_t capacity);
void mindex_free(mindex *x);
/* Empties x and sizes it for capacity entries, freeing its array: only
 * while no other thread can read it. 0, or -1
 * out of memory (x is then empty and unusable). */
int mindex_reset(mindex *x, uint64_t capacity);
/* The record with that key, or MT_NONE. Any thread (a read section of its
 * own, core/rcu.h). */
uint32_t mindex_find(const mindex *x, uint64_t hash, const void *key, mindex_eq_fn eq, void *arg);
/* Hints for a lookup of hash coming soon: mindex_prefetch asks for the slot
 * it starts at (any thread: a read section of its own, as mindex_find);
 * mindex_first reads that slot (prefetched a while before) and gives the
 * record it holds if its tag is hash's (a likely match, to prefetch in
 * turn), else MT_NONE: the writer only, with no read section (the writer
 * alone frees an array). */
void mindex_prefetch(const mindex *x, uint64_t hash);
uint32_t mindex_first(const mindex *x, uint64_t hash);
/* Adds rec under hash (the key must not be there). 0, or -1 out of memory.
 * Not in a read section: growing waits for them. */
int mindex_add(mindex *x, uint64_t hash, uint32_t rec);
/* Removes rec, found under hash: 0, or -1 if it is not there. */
int mindex_remove(mindex *x, uint64_t hash, uint32_t rec);
size_t mindex_bytes(const mindex *x);

/* ------------------------------------------------------------------ */
/* Event ids: (fingerprint, seq) in 8-byte slots, in MIDS_SEGMENTS     */
/* segments that grow one at a time. A hit is only a candidate: the    */
/* caller reads the event at that seq and compares its id. Writer only.*/
/* ------------------------------------------------------------------ */

#define MIDS_SEQ_BITS 36 /* seqs up to 6.8e10 */
#define MIDS_SEQ_MASK ((UINT64_C(1) << MIDS_SEQ_BITS) - 1)
#define MIDS_DEAD UINT64_MAX
#define MIDS_SEGMENTS 4096

typedef struct mids_seg {
	uint64_t *slot; /* 2^bits: 0 empty, MIDS_DEAD, or fp << 36 | seq */
	unsigned bits;
	uint64_t used, live;
} mids_seg;

typedef struct mids {
	mids_seg seg[MIDS_SEGMENTS];
	uint64_t live;
} mids;

int mids_init(mids *t, uint64_t capacity);
void mids_free(mids *t);
/* Calls fn for every candidate seq of hash until fn returns non-zero (its
 * value is returned); 0 when none matched. */
typedef int (*mids_fn)(uint64_t seq, void *arg);
int mids_find(const mids *t, uint64_t hash, mids_fn fn, void *arg);
/* A hint: the slot a mids_find of hash starts at is asked for. */
void mids_prefetch(const mids *t, uint64_t hash);
/* Adds seq under hash. 0 or -1 (out of memory, or seq beyond 36 bits). */
int mids_add(mids *t, uint64_t hash, uint64_t seq);
/* Removes seq, added under hash (undo). */
void mids_remove(mids *t, uint64_t hash, uint64_t seq);
/* Replaces segment seg with 2^bits slots copied from raw (a snapshot's),
 * entries above seq `upto` dropped. 0 or -1. */
int mids_load_segment(mids *t, unsigned seg, unsigned bits, const uint64_t *raw, uint64_t upto);
size_t mids_bytes(const mids *t);

/* ------------------------------------------------------------------ */
/* A map of 64-bit keys to 64-bit values (refunds, corrections). Key 0  */
/* is not allowed. Writer only.                                        */
/* ------------------------------------------------------------------ */

typedef struct mmap64 {
	uint64_t *kv; /* pairs; key 0 empty, UINT64_MAX tombstone */
	uint64_t mask, used, live;
} mmap64;

int mmap64_init(mmap64 *m);
void mmap64_free(mmap64 *m);
/* 1 and *v if present, else 0. */
int mmap64_get(const mmap64 *m, uint64_t key, uint64_t *v);
/* 0, or -1 out of memory. */
int mmap64_put(mmap64 *m, uint64_t key, uint64_t v);
void mmap64_del(mmap64 *m, uint64_t key);
/* Calls fn for every pair (any order). */
void mmap64_each(const mmap64 *m, void (*fn)(uint64_t key, uint64_t v, void *arg), void *arg);

/* XXH3 of (seed, p, n). */
uint64_t mt_hash(uint64_t seed, const void *p, size_t n);

#endif
