/* mtable.c — the write model's containers. See mtable.h. */
#include "mtable.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bigmem.h"
#include "rcu.h"

uint64_t mt_hash(uint64_t seed, const void *p, size_t n)
{
	return XXH3_64bits_withSeed(p, n, seed);
}

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

int marray_init(marray *a, size_t record_size)
{
	memset(a, 0, sizeof(*a));
	a->size = record_size;
	a->chunks = calloc(MT_MAX_CHUNKS, sizeof(*a->chunks));
	return a->chunks ? 0 : -1;
}

void marray_free(marray *a)
{
	for (uint32_t i = 0; a->chunks && i < a->nchunks; i++)
		free(a->chunks[i]);
	free(a->chunks);
	memset(a, 0, sizeof(*a));
}

uint32_t marray_push(marray *a)
{
	uint32_t n = atomic_load_explicit(&a->n, memory_order_relaxed);
	uint32_t c = n >> MT_CHUNK_BITS;
	if (n == MT_NONE || c >= MT_MAX_CHUNKS)
		return MT_NONE;
	if (c >= a->nchunks) {
		uint8_t *chunk = bigmem_zalloc(((size_t)1 << MT_CHUNK_BITS) * a->size);
		if (!chunk)
			return MT_NONE;
		atomic_store_explicit(&a->chunks[c], chunk, memory_order_release);
		a->nchunks = c + 1;
	}
	memset(marray_at(a, n), 0, a->size);
	atomic_store_explicit(&a->n, n + 1, memory_order_release);
	return n;
}

void marray_pop(marray *a)
{
	uint32_t n = atomic_load_explicit(&a->n, memory_order_relaxed);
	if (n)
		atomic_store_explicit(&a->n, n - 1, memory_order_release);
}

size_t marray_bytes(const marray *a)
{
	return (size_t)a->nchunks * ((size_t)1 << MT_CHUNK_BITS) * a->size +
	       MT_MAX_CHUNKS * sizeof(*a->chunks);
}

/* ------------------------------------------------------------------ */
/* Bytes                                                               */
/* ------------------------------------------------------------------ */

int mbytes_init(mbytes *b)
{
	memset(b, 0, sizeof(*b));
	b->chunks = calloc(MT_MAX_CHUNKS, sizeof(*b->chunks));
	return b->chunks ? 0 : -1;
}

void mbytes_free(mbytes *b)
{
	for (uint32_t i = 0; b->chunks && i < b->nchunks; i++)
		free(b->chunks[i]);
	free(b->chunks);
	memset(b, 0, sizeof(*b));
}

uint64_t mbytes_add(mbytes *b, const void *p, size_t n)
{
	uint64_t off = b->len;
	if (off % MT_BYTES_CHUNK + n > MT_BYTES_CHUNK) /* never split a name */
		off = (off / MT_BYTES_CHUNK + 1) * MT_BYTES_CHUNK;
	uint64_t c = off / MT_BYTES_CHUNK;
	if (c >= MT_MAX_CHUNKS)
		return UINT64_MAX;
	while (c >= b->nchunks) {
		if (!(b->chunks[b->nchunks] = malloc(MT_BYTES_CHUNK)))
			return UINT64_MAX;
		b->nchunks++;
	}
	memcpy(b->chunks[c] + off % MT_BYTES_CHUNK, p, n);
	b->len = off + n;
	return off;
}

void mbytes_truncate(mbytes *b, uint64_t len)
{
	if (len < b->len)
		b->len = len;
}

/* ------------------------------------------------------------------ */
/* Index                                                               */
/* ------------------------------------------------------------------ */

#define MINDEX_DEAD UINT64_MAX

static mindex_slots *slots_new(uint64_t cap)
{
	mindex_slots *s = bigmem_zalloc(sizeof(*s) + cap * sizeof(s->slot[0]));
	if (s)
		s->mask = cap - 1;
	return s;
}

int mindex_init(mindex *x, uint64_t capacity)
{
	uint64_t cap = 1024;
	while (cap < capacity * 10 / 7)
		cap *= 2;
	memset(x, 0, sizeof(*x));
	mindex_slots *s = slots_new(cap);
	atomic_store(&x->s, s);
	return s ? 0 : -1;
}

void mindex_free(mindex *x)
{
	free(atomic_load(&x->s));
	atomic_store(&x->s, NULL);
}

/* A slot keeps the hash's high 32 bits (its tag), and the probe starts at
 * the tag's low bits: growing finds every entry's new home from its slot
 * alone. Tables stay below 2^32 slots. */
int mindex_reset(mindex *x, uint64_t capacity)
{
	mindex_free(x);
	return mindex_init(x, capacity);
}

uint32_t mindex_find(const mindex *x, uint64_t hash, const void *key, mindex_eq_fn eq, void *arg)
{
	/* The array probed stays until the section ends (mindex_add). */
	ld_rcu_read_begin();
	const mindex_slots *s = atomic_load_explicit(&x->s, memory_order_acquire);
	uint64_t tag = hash >> 32;
	uint32_t found = MT_NONE;
	for (uint64_t i = tag & s->mask;; i = (i + 1) & s->mask) {
		uint64_t v = atomic_load_explicit(&s->slot[i], memory_order_acquire);
		if (v == 0)
			break;
		if (v != MINDEX_DEAD && v >> 32 == tag && eq(key, (uint32_t)v - 1, arg)) {
			found = (uint32_t)v - 1;
			break;
		}
	}
	ld_rcu_read_end();
	return found;
}

void mindex_prefetch(const mindex *x, uint64_t hash)
{
	/* Any thread (the requests' threads hint a person's slot): the array
	 * and its mask are read in a section, as a lookup's. */
	ld_rcu_read_begin();
	const mindex_slots *s = atomic_load_explicit(&x->s, memory_order_acquire);
	__builtin_prefetch(&s->slot[(hash >> 32) & s->mask]);
	ld_rcu_read_end();
}

uint32_t mindex_first(const mindex *x, uint64_t hash)
{
	const mindex_slots *s = atomic_load_explicit(&x->s, memory_order_acquire);
	uint64_t tag = hash >> 32;
	uint64_t v = atomic_load_explicit(&s->slot[tag & s->mask], memory_order_acquire);
	return v && v != MINDEX_DEAD && v >> 32 == tag ? (uint32_t)v - 1 : MT_NONE;
}

static void slot_put(mindex_slots *s, uint64_t v)
{
	uint64_t i = (v >> 32) & s->mask;
	while (atomic_load_explicit(&s->slot[i], memory_order_relaxed) != 0)
		i = (i + 1) & s->mask;
	atomic_store_explicit(&s->slot[i], v, memory_order_release);
}

int mindex_add(mindex *x, uint64_t hash, uint32_t rec)
{
	mindex_slots *s = atomic_load_explicit(&x->s, memory_order_relaxed);
	if ((x->used + 1) * 10 > (s->mask + 1) * 7) {
		/* Grow (or, when mostly tombstones, just rebuild): a new array,
		 * published; the old one is freed once no reader can still be
		 * probing it. */
		uint64_t cap = s->mask + 1;
		if ((x->live + 1) * 10 > cap * 7 / 2)
			cap *= 2;
		if (cap > (UINT64_C(1) << 32))
			return -1;
		mindex_slots *n = slots_new(cap);
		if (!n)
			return -1;
		for (uint64_t i = 0; i <= s->mask; i++) {
			uint64_t e = atomic_load_explicit(&s->slot[i], memory_order_relaxed);
			if (e && e != MINDEX_DEAD)
				slot_put(n, e);
		}
		atomic_store_explicit(&x->s, n, memory_order_release);
		ld_rcu_synchronize();
		free(s);
		s = n;
		x->used = x->live;
	}
	slot_put(s, (hash >> 32) << 32 | ((uint64_t)rec + 1));
	x->used++;
	x->live++;
	return 0;
}

int mindex_remove(mindex *x, uint64_t hash, uint32_t rec)
{
	mindex_slots *s = atomic_load_explicit(&x->s, memory_order_relaxed);
	uint64_t want = (hash >> 32) << 32 | ((uint64_t)rec + 1);
	for (uint64_t i = (hash >> 32) & s->mask;; i = (i + 1) & s->mask) {
		uint64_t v = atomic_load_explicit(&s->slot[i], memory_order_relaxed);
		if (v == 0)
			return -1;
		if (v == want) {
			atomic_store_explicit(&s->slot[i], MINDEX_DEAD, memory_order_release);
			x->live--;
			return 0;
		}
	}
}

size_t mindex_bytes(const mindex *x)
{
	const mindex_slots *s = atomic_load(&x->s);
	return s ? sizeof(*s) + (s->mask + 1) * sizeof(s->slot[0]) : 0;
}

/* ------------------------------------------------------------------ */
/* Event ids                                                           */
/* ------------------------------------------------------------------ */

/*
 * MIDS_SEGMENTS segments, chosen by the hash's low bits; in a segment an
 * entry's slot is its fingerprint (the hash's top MIDS_FP_BITS bits) and
 * its seq, and its probe starts at the fingerprint's top bits. So growing
 * a segment needs nothing but its slots, and only one segment (a
 * 4096th of the table) is ever copied at a time.
 */
#define FP_BITS (64 - MIDS_SEQ_BITS)
/* A segment doubles past 80% load (in tenths): one slot of 8 bytes is an
 * event's whole cost, so the table is 10 to 20 bytes an event; an append's
 * id is new, so its lookup is a miss, about 13 probes at 80% (2 cache lines,
 * fingerprints only) against 6 at 70%, for a third less memory at the top
 * of the range (docs/ARCHITECTURE.md, the memory budget). */
#define MIDS_LOAD 8

static uint64_t id_fp(uint64_t hash)
{
	return hash >> MIDS_SEQ_BITS;
}

static uint64_t id_home(uint64_t fp, const mids_seg *g)
{
	return fp >> (FP_BITS - g->bits);
}

static int seg_init(mids_seg *g, unsigned bits)
{
	g->slot = bigmem_zalloc(((size_t)1 << bits) * sizeof(*g->slot));
	g->bits = bits;
	g->used = g->live = 0;
	return g->slot ? 0 : -1;
}

int mids_init(mids *t, uint64_t capacity)
{
	unsigned bits = 6;
	while (bits < FP_BITS && ((uint64_t)MIDS_SEGMENTS << bits) * MIDS_LOAD < capacity * 10)
		bits++;
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < MIDS_SEGMENTS; i++)
		if (seg_init(&t->seg[i], bits) != 0)
			return -1;
	return 0;
}

void mids_free(mids *t)
{
	for (unsigned i = 0; i < MIDS_SEGMENTS; i++)
		free(t->seg[i].slot);
	memset(t, 0, sizeof(*t));
}

int mids_find(const mids *t, uint64_t hash, mids_fn fn, void *arg)
{
	const mids_seg *g = &t->seg[hash % MIDS_SEGMENTS];
	uint64_t fp = id_fp(hash), mask = ((uint64_t)1 << g->bits) - 1;
	for (uint64_t i = id_home(fp, g);; i = (i + 1) & mask) {
		uint64_t v = g->slot[i];
		if (v == 0)
			return 0;
		if (v != MIDS_DEAD && v >> MIDS_SEQ_BITS == fp) {
			int rc = fn(v & MIDS_SEQ_MASK, arg);
			if (rc)
				return rc;
		}
	}
}

void mids_prefetch(const mids *t, uint64_t hash)
{
	const mids_seg *g = &t->seg[hash % MIDS_SEGMENTS];
	__builtin_prefetch(&g->slot[id_home(id_fp(hash), g)]);
}

static void seg_put(mids_seg *g, uint64_t v)
{
	uint64_t mask = ((uint64_t)1 << g->bits) - 1;
	uint64_t i = id_home(v >> MIDS_SEQ_BITS, g);
	while (g->slot[i] != 0)
		i = (i + 1) & mask;
	g->slot[i] = v;
	g->used++;
	g->live++;
}

static int seg_grow(mids_seg *g)
{
	mids_seg n;
	unsigned bits = g->bits;
	if ((g->live + 1) * 10 > ((uint64_t)MIDS_LOAD << bits) / 2)
		bits++;
	if (bits > FP_BITS || seg_init(&n, bits) != 0)
		return -1;
	for (uint64_t i = 0; i < (uint64_t)1 << g->bits; i++)
		if (g->slot[i] && g->slot[i] != MIDS_DEAD)
			seg_put(&n, g->slot[i]);
	free(g->slot);
	*g = n;
	return 0;
}

int mids_add(mids *t, uint64_t hash, uint64_t seq)
{
	mids_seg *g = &t->seg[hash % MIDS_SEGMENTS];
	if (seq > MIDS_SEQ_MASK)
		return -1;
	if ((g->used + 1) * 10 > ((uint64_t)MIDS_LOAD << g->bits) && seg_grow(g) != 0)
		return -1;
	seg_put(g, id_fp(hash) << MIDS_SEQ_BITS | seq);
	t->live++;
	return 0;
}

void mids_remove(mids *t, uint64_t hash, uint64_t seq)
{
	mids_seg *g = &t->seg[hash % MIDS_SEGMENTS];
	uint64_t want = id_fp(hash) << MIDS_SEQ_BITS | seq, mask = ((uint64_t)1 << g->bits) - 1;
	for (uint64_t i = id_home(id_fp(hash), g); g->slot[i]; i = (i + 1) & mask)
		if (g->slot[i] == want) {
			g->slot[i] = MIDS_DEAD;
			g->live--;
			t->live--;
			return;
		}
}

int mids_load_segment(mids *t, unsigned seg, unsigned bits, const uint64_t *raw, uint64_t upto)
{
	mids_seg *g = &t->seg[seg];
	free(g->slot);
	if (bits > FP_BITS || seg_init(g, bits) != 0)
		return -1;
	for (uint64_t i = 0; i < (uint64_t)1 << bits; i++) {
		uint64_t v = raw[i];
		if (v && v != MIDS_DEAD && (v & MIDS_SEQ_MASK) > upto)
			v = MIDS_DEAD; /* past the snapshot: dropped */
		g->slot[i] = v;
		if (v)
			g->used++;
		if (v && v != MIDS_DEAD) {
			g->live++;
			t->live++;
		}
	}
	return 0;
}

size_t mids_bytes(const mids *t)
{
	size_t n = sizeof(*t);
	for (unsigned i = 0; i < MIDS_SEGMENTS; i++)
		n += ((size_t)1 << t->seg[i].bits) * sizeof(uint64_t);
	return n;
}

/* ------------------------------------------------------------------ */
/* 64-bit map                                                          */
/* ------------------------------------------------------------------ */

#define KV_DEAD UINT64_MAX

int mmap64_init(mmap64 *m)
{
	memset(m, 0, sizeof(*m));
	m->kv = calloc(2 * 64, sizeof(uint64_t));
	m->mask = 63;
	return m->kv ? 0 : -1;
}

void mmap64_free(mmap64 *m)
{
	free(m->kv);
	memset(m, 0, sizeof(*m));
}

static uint64_t kv_home(uint64_t key, uint64_t mask)
{
	return (key * UINT64_C(0x9e3779b97f4a7c15)) >> 20 & mask;
}

/* The slot of key, or of the empty slot where it would go. */
static uint64_t kv_slot(const mmap64 *m, uint64_t key)
{
	for (uint64_t i = kv_home(key, m->mask);; i = (i + 1) & m->mask)
		if (m->kv[2 * i] == key || m->kv[2 * i] == 0)
			return i;
}

int mmap64_get(const mmap64 *m, uint64_t key, uint64_t *v)
{
	uint64_t i = kv_slot(m, key);
	if (m->kv[2 * i] != key)
		return 0;
	*v = m->kv[2 * i + 1];
	return 1;
}

int mmap64_put(mmap64 *m, uint64_t key, uint64_t v)
{
	uint64_t i = kv_slot(m, key);
	if (m->kv[2 * i] == key) {
		m->kv[2 * i + 1] = v;
		return 0;
	}
	if ((m->used + 1) * 10 > (m->mask + 1) * 7) {
		uint64_t cap = m->mask + 1;
		if ((m->live + 1) * 10 > cap * 7 / 2)
			cap *= 2;
		mmap64 n = {.kv = bigmem_zalloc(2 * cap * sizeof(uint64_t)), .mask = cap - 1};
		if (!n.kv)
			return -1;
		for (uint64_t j = 0; j <= m->mask; j++)
			if (m->kv[2 * j] && m->kv[2 * j] != KV_DEAD) {
				uint64_t s = kv_slot(&n, m->kv[2 * j]);
				n.kv[2 * s] = m->kv[2 * j];
				n.kv[2 * s + 1] = m->kv[2 * j + 1];
				n.used++;
				n.live++;
			}
		free(m->kv);
		*m = n;
		i = kv_slot(m, key);
	}
	m->kv[2 * i] = key;
	m->kv[2 * i + 1] = v;
	m->used++;
	m->live++;
	return 0;
}

void mmap64_del(mmap64 *m, uint64_t key)
{
	uint64_t i = kv_slot(m, key);
	if (m->kv[2 * i] == key) {
		m->kv[2 * i] = KV_DEAD;
		m->live--;
	}
}

void mmap64_each(const mmap64 *m, void (*fn)(uint64_t key, uint64_t v, void *arg), void *arg)
{
	for (uint64_t i = 0; i <= m->mask; i++)
		if (m->kv[2 * i] && m->kv[2 * i] != KV_DEAD)
			fn(m->kv[2 * i], m->kv[2 * i + 1], arg);
}
