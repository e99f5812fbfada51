/* kv.c — a projection's state in memory over its flushed copy. See kv.h. */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "error.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kv.c's hash_key reads a key's last bytes as memcpy does on a little-endian host"
#endif

/* One key of one database, as the table knows it: the key, then room for
 * its value, in one block (moved when the value outgrows it).
 *
 * A pending entry (handed to a flush by kv_detach) is read by the thread
 * writing that flush until kv_settle, so it never changes: a put or delete
 * of its key puts a copy in its place in the table (thaw) and leaves it to
 * the pending list, "replaced", freed by kv_settle. */
typedef struct kv_entry {
	uint32_t vlen, vcap;
	uint32_t dirty_ix; /* its place in the dirty list, when dirty */
	uint16_t klen;
	uint8_t db;
	uint8_t absent;   /* known not to exist (deleted, or absent in LMDB) */
	uint8_t dirty;    /* changed since it was last handed to a flush */
	uint8_t pending;  /* in a flush not yet committed (kv_detach) */
	uint8_t inlog;    /* held in its database's log, not in the slots */
	uint8_t replaced; /* pending, and no longer in the table (thaw) */
	uint8_t data[];   /* key, then value */
} kv_entry;

typedef struct kv_slot {
	uint64_t hash;
	kv_entry *e; /* NULL: free */
} kv_slot;

/* What an entry costs beside its key and value: itself, its place in the
 * dirty list (its block's rounding is in its value's room, vcap; a block
 * has no header: block_alloc, below). Its slot is not: the slot
 * array is counted whole where it is allocated (grow, drop_where), and
 * counting it here too made a table seem half as big again as it is
 * (a rebuild of 600,000 members trimmed, then read its views back). */
#define ENTRY_OVERHEAD (sizeof(kv_entry) + sizeof(void *))

/* A database's changed keys, sorted, for readers' cursors (kv_read): valid
 * while `gen` is the table's. */
typedef struct kv_run {
	kv_entry **e;
	size_t n, cap;
	uint64_t gen; /* 0: never built */
} kv_run;

/* A cold database's keys that came in increasing order (kv_set_cold: a
 * record per event, keyed by its seq): an array sorted by key, appended to,
 * instead of the slots. Each is dirty or pending (a flush that has
 * committed sweeps the rest out), so finding one is a comparison with the
 * last, or a binary search, and neither its insertion nor its removal
 * after the flush probes the slots. */
typedef struct kv_log {
	kv_entry **e;
	size_t n, cap;
} kv_log;

/*
 * The entries' memory: blocks of a few size classes (multiples of
 * SLAB_QUANTUM up to SLAB_MAX bytes), cut from chunks of SLAB_CHUNK
 * (core/bigmem.h: on huge pages with huge_pages = on), each
 * class with a list of the blocks freed, which new entries of that class
 * take first; bigger entries are malloc's. Why: a rebuild makes hundreds of
 * megabytes of entries on the projections' threads, and malloc grew each
 * thread's heap a page at a time (an mprotect and a page fault per 4 KiB,
 * the fault costly on a virtual machine: a third of those threads' time);
 * here a chunk is one allocation of 2 MiB, with no mprotect per page (and,
 * with huge_pages = on, one fault). A block freed stays with its table for
 * its next entries, never given back to the system before kv_free: the memory held
 * is the most the table's entries have held at once (the budget bounds
 * that), not what they hold now.
 */
#define SLAB_QUANTUM 16
#define SLAB_MAX 1024
#define SLAB_CLASSES (SLAB_MAX / SLAB_QUANTUM)
#define SLAB_CHUNK ((size_t)2 << 20)

typedef struct kv_chunk {
	struct kv_chunk *next;
	size_t size;
} kv_chunk;

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLAB_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define SLAB_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define SLAB_POISON(p, n) ((void)0)
#define SLAB_UNPOISON(p, n) ((void)0)
#endif

struct proj_kv {
	kv_slot *slots; /* open addressing, linear probing; cap a power of 2 */
	size_t cap, n;
	kv_entry **dirty; /* the dirty entries, in no order */
	size_t ndirty, dcap;
	kv_entry **pend; /* the pending entries (kv_detach), replaced ones among
			  * them; the dirty list's array of the flush before
			  * (kv_detach swaps the two, so both keep their room) */
	size_t npend, pcap;
	size_t bytes, dirty_bytes;
	size_t pend_bytes; /* of the pending entries not replaced */
	store_txn *base;
	unsigned ndbs;
	uint8_t complete[STORE_MAX_DBS];
	uint8_t cold[STORE_MAX_DBS]; /* kv_set_cold */
	uint8_t owned[STORE_MAX_DBS]; /* kv_set_owned */
	uint64_t gen; /* counts the changes below */
	/* The gen at which the set of db's changed entries (or where one
	 * lives) last changed: its sorted run is stale if built before (a
	 * cursor on the estimates while the members change builds none). */
	uint64_t db_gen[STORE_MAX_DBS];
	kv_run runs[STORE_MAX_DBS];
	kv_log log[STORE_MAX_DBS];
	size_t nhash[STORE_MAX_DBS]; /* each database's entries in the slots */
	/* The slot of the last key kv_get or a change found or made in the
	 * slots (NULL: none, or the slots moved since): a put after a get of
	 * the same key, the usual apply, needs no hash and no probe. */
	kv_slot *memo;
	size_t trim_at; /* the slot kv_trim_some looks at next */
	/* Where the entries live (block_alloc, below). */
	struct kv_chunk *chunks;
	uint8_t *bump, *bump_end; /* the newest chunk's room never handed out */
	void *free_blocks[SLAB_CLASSES];
};

static uint64_t hash_key(unsigned db, const uint8_t *p, size_t n)
{
	const size_t len = n;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)db << 56) ^ n;
	while (n >= 8) {
		uint64_t x;
		memcpy(&x, p, 8);
		h = (h ^ x) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
		p += 8;
		n -= 8;
	}
	/* The last n < 8 bytes as the low bytes of x (memcpy's value on a
	 * little-endian host): one load that overlaps the bytes hashed above
	 * when the key has 8 or more, not a memcpy call of n bytes. */
	uint64_t x = 0;
	if (n && len >= 8) {
		memcpy(&x, p + n - 8, 8);
		x >>= 8 * (8 - n);
	} else {
		for (size_t i = 0; i < n; i++)
			x |= (uint64_t)p[i] << 8 * i;
	}
	h ^= x;
	/* MurmurHash3's finaliser: every input bit reaches the low bits that
	 * pick the slot. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* LMDB's default order: bytes, then the shorter first. */
static int key_cmp(const void *a, size_t an, const void *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : an < bn ? -1 : an > bn;
}

static size_t entry_cost(const kv_entry *e)
{
	return ENTRY_OVERHEAD + e->klen + e->vcap;
}

static uint8_t *val_of(kv_entry *e)
{
	return e->data + e->klen;
}

/* Arrays past 2 MiB (slots, and a flush's lists and sort) come from
 * core/bigmem.h (on huge pages with huge_pages = on: a lookup at a random
 * slot then misses the cache, not the TLB too). Zeroed, as calloc's; freed
 * with free(). */
static void *big_alloc(size_t bytes)
{
	return bigmem_zalloc(bytes ? bytes : 1);
}

static kv_slot *slots_alloc(size_t cap)
{
	return big_alloc(cap * sizeof(kv_slot));
}

/* The bytes of a block of n bytes or more: n rounded up to its class
 * (past SLAB_MAX: n, malloc's). */
static size_t block_size(size_t n)
{
	return n > SLAB_MAX ? n : (n + SLAB_QUANTUM - 1) & ~(size_t)(SLAB_QUANTUM - 1);
}

/* The room for a value that an entry of a key of klen bytes has in a block
 * that holds a value of vlen (its class's room: a value that grows a few
 * bytes stays in place). */
static size_t cap_for(size_t klen, size_t vlen)
{
	return block_size(sizeof(kv_entry) + klen + vlen) - sizeof(kv_entry) - klen;
}

static size_t entry_bytes(const kv_entry *e)
{
	return sizeof(kv_entry) + e->klen + e->vcap;
}

/* A block of block_size(n) bytes, n > 0 (NULL: out of memory). */
static void *block_alloc(proj_kv *kv, size_t n)
{
	if (n > SLAB_MAX)
		return malloc(n);
	n = block_size(n);
	void **fl = &kv->free_blocks[n / SLAB_QUANTUM - 1];
	void *p = *fl;
	if (p) {
		SLAB_UNPOISON(p, sizeof(void *));
		memcpy(fl, p, sizeof(void *));
		SLAB_UNPOISON(p, n);
		return p;
	}
	if ((size_t)(kv->bump_end - kv->bump) < n) {
		/* What is left of the chunk goes to the free lists, in blocks
		 * of the biggest classes that fit: nothing is lost. */
		while ((size_t)(kv->bump_end - kv->bump) >= SLAB_QUANTUM) {
			size_t left = (size_t)(kv->bump_end - kv->bump), b = left < SLAB_MAX ? left : SLAB_MAX;
			b &= ~(size_t)(SLAB_QUANTUM - 1);
			void **l = &kv->free_blocks[b / SLAB_QUANTUM - 1];
			SLAB_UNPOISON(kv->bump, sizeof(void *));
			memcpy(kv->bump, l, sizeof(void *));
			*l = kv->bump;
			SLAB_POISON(kv->bump, b);
			kv->bump += b;
		}
		kv_chunk *c = big_alloc(SLAB_CHUNK);
		if (!c)
			return NULL;
		c->size = SLAB_CHUNK;
		c->next = kv->chunks;
		kv->chunks = c;
		kv->bump = (uint8_t *)c + ((sizeof(*c) + SLAB_QUANTUM - 1) & ~(size_t)(SLAB_QUANTUM - 1));
		kv->bump_end = (uint8_t *)c + SLAB_CHUNK;
		SLAB_POISON(kv->bump, (size_t)(kv->bump_end - kv->bump));
	}
	p = kv->bump;
	kv->bump += n;
	SLAB_UNPOISON(p, n);
	return p;
}

/* Gives back the block of an entry of n bytes (entry_bytes). */
static void block_free(proj_kv *kv, void *p, size_t n)
{
	if (!p)
		return;
	if (n > SLAB_MAX) {
		free(p);
		return;
	}
	n = block_size(n);
	void **fl = &kv->free_blocks[n / SLAB_QUANTUM - 1];
	memcpy(p, fl, sizeof(void *));
	*fl = p;
	SLAB_POISON(p, n);
}

static void entry_free(proj_kv *kv, kv_entry *e)
{
	if (e)
		block_free(kv, e, entry_bytes(e));
}

_Static_assert(STORE_MAX_DBS <= 32, "a mask of databases is an unsigned");

/* db's run is stale; the runs of the databases in mask (bit db). */
static void stale(proj_kv *kv, unsigned db)
{
	kv->db_gen[db] = ++kv->gen;
}

static void stale_mask(proj_kv *kv, unsigned mask)
{
	++kv->gen;
	for (unsigned db = 0; db < STORE_MAX_DBS; db++)
		if (mask >> db & 1)
			kv->db_gen[db] = kv->gen;
}

int kv_create(proj_kv **out, unsigned ndbs)
{
	proj_kv *kv = calloc(1, sizeof(*kv));
	*out = NULL;
	if (!kv || ndbs > STORE_MAX_DBS) {
		free(kv);
		return LD_E(INTERNAL);
	}
	kv->ndbs = ndbs;
	stale_mask(kv, ~0u);
	*out = kv;
	return 0;
}

void kv_free(proj_kv *kv)
{
	if (!kv)
		return;
	/* The pending list first: it reads entries that the slots' free
	 * would have given back (a test failing with keys pending). */
	for (size_t i = 0; i < kv->npend; i++)
		if (kv->pend[i]->replaced)
			entry_free(kv, kv->pend[i]);
	for (size_t i = 0; i < kv->cap; i++)
		entry_free(kv, kv->slots[i].e);
	free(kv->slots);
	for (unsigned db = 0; db < STORE_MAX_DBS; db++) {
		for (size_t i = 0; i < kv->log[db].n; i++)
			entry_free(kv, kv->log[db].e[i]);
		free(kv->log[db].e);
	}
	for (kv_chunk *c = kv->chunks, *next; c; c = next) {
		next = c->next;
		SLAB_UNPOISON(c, c->size);
		free(c);
	}
	free(kv->dirty);
	free(kv->pend);
	for (unsigned db = 0; db < STORE_MAX_DBS; db++)
		free(kv->runs[db].e);
	free(kv);
}

void kv_set_base(proj_kv *kv, store_txn *base)
{
	kv->base = base;
}

void kv_set_complete(proj_kv *kv, unsigned db)
{
	if (db < kv->ndbs)
		kv->complete[db] = 1;
}

void kv_set_cold(proj_kv *kv, unsigned db)
{
	if (db < kv->ndbs)
		kv->cold[db] = 1;
}

void kv_set_owned(proj_kv *kv, unsigned db)
{
	if (db < kv->ndbs)
		kv->owned[db] = 1;
}

static void place(kv_slot *slots, size_t cap, uint64_t h, kv_entry *e)
{
	size_t j = h & (cap - 1);
	while (slots[j].e)
		j = (j + 1) & (cap - 1);
	slots[j].hash = h;
	slots[j].e = e;
}

static int grow(proj_kv *kv)
{
	size_t cap = kv->cap ? kv->cap * 2 : 1024;
	kv_slot *slots = slots_alloc(cap);
	if (!slots)
		return LD_E(INTERNAL);
	for (size_t i = 0; i < kv->cap; i++)
		if (kv->slots[i].e)
			place(slots, cap, kv->slots[i].hash, kv->slots[i].e);
	kv->bytes += (cap - kv->cap) * sizeof(*slots);
	free(kv->slots);
	kv->slots = slots;
	kv->cap = cap;
	kv->memo = NULL;
	return 0;
}

/* Whether the memo's entry is (db, key): its last byte first, where keys
 * that share a long prefix (member ids) differ. */
static int memo_is(const kv_slot *m, unsigned db, const void *key, size_t klen)
{
	const kv_entry *e = m ? m->e : NULL;
	return e && e->db == db && e->klen == klen && klen &&
	       e->data[klen - 1] == ((const uint8_t *)key)[klen - 1] &&
	       memcmp(e->data, key, klen - 1) == 0;
}

/* The slot of (db, key): its entry's, or the free one it would take. */
static kv_slot *slot_of(proj_kv *kv, unsigned db, const void *key, size_t klen, uint64_t h)
{
	for (size_t j = h & (kv->cap - 1);; j = (j + 1) & (kv->cap - 1)) {
		kv_slot *sl = &kv->slots[j];
		if (!sl->e || (sl->hash == h && sl->e->db == db && sl->e->klen == klen &&
			       memcmp(sl->e->data, key, klen) == 0))
			return sl;
	}
}

/* Takes the clean entry in slot i out of the table and frees it (linear
 * probing's deletion: the entries after its slot that would not be found
 * past the hole move back into it, so slot i may hold another entry after);
 * its database is no longer complete. */
static void forget_slot(proj_kv *kv, size_t i)
{
	size_t mask = kv->cap - 1;
	kv_entry *e = kv->slots[i].e;
	for (size_t j = (i + 1) & mask; kv->slots[j].e; j = (j + 1) & mask) {
		size_t home = kv->slots[j].hash & mask;
		/* The entry at j stays if its home lies in (i, j], cyclically. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		kv->slots[i] = kv->slots[j];
		i = j;
	}
	kv->slots[i].e = NULL;
	kv->slots[i].hash = 0;
	kv->memo = NULL;
	kv->n--;
	kv->nhash[e->db]--;
	kv->bytes -= entry_cost(e);
	kv->complete[e->db] = 0;
	stale(kv, e->db);
	entry_free(kv, e);
}

/* Takes clean entry e, which is in the slots, out of the table (forget_slot). */
static void forget(proj_kv *kv, kv_entry *e)
{
	kv_slot *sl = slot_of(kv, e->db, e->data, e->klen, hash_key(e->db, e->data, e->klen));
	forget_slot(kv, (size_t)(sl - kv->slots));
}

/* Room for a value of vlen bytes, with a little to grow: views change size
 * by a few bytes. (An eighth more made a member's view 35 bytes bigger: a
 * rebuild's dirty state, 600,000 views, reached half the budget sooner.) */
static size_t room_for(size_t vlen)
{
	return (vlen + 8 + 7) & ~(size_t)7;
}

/* (db, key)'s place in db's log (NULL: not there); *past (unless NULL) 1
 * when the key is past the log's last, or the log is empty. */
static kv_entry **log_find(const kv_log *l, const void *key, size_t klen, int *past)
{
	const kv_entry *last = l->n ? l->e[l->n - 1] : NULL;
	int c = last ? key_cmp(key, klen, last->data, last->klen) : 1;
	if (past)
		*past = c > 0;
	if (c >= 0)
		return c ? NULL : &l->e[l->n - 1];
	size_t lo = 0, hi = l->n - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const kv_entry *e = l->e[mid];
		c = key_cmp(e->data, e->klen, key, klen);
		if (c == 0)
			return &l->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* (db, key)'s entry, in its log or its slot (NULL: the table has none). */
static kv_entry *find(proj_kv *kv, unsigned db, const void *key, size_t klen)
{
	kv_entry **p = log_find(&kv->log[db], key, klen, NULL);
	if (p)
		return *p;
	if (!kv->nhash[db])
		return NULL;
	return slot_of(kv, db, key, klen, hash_key(db, key, klen))->e;
}

/* find, on the table's own thread (kv_get): through the memo, and noting
 * the slot found there. */
static kv_entry *find_own(proj_kv *kv, unsigned db, const void *key, size_t klen)
{
	if (memo_is(kv->memo, db, key, klen))
		return kv->memo->e;
	kv_entry **p = log_find(&kv->log[db], key, klen, NULL);
	if (p)
		return *p;
	if (!kv->nhash[db])
		return NULL;
	kv_slot *sl = slot_of(kv, db, key, klen, hash_key(db, key, klen));
	if (sl->e)
		kv->memo = sl;
	return sl->e;
}

/* A new entry of (db, key): absent, clean, with room for a value of vlen
 * bytes. NULL: out of memory. */
static kv_entry *entry_new(proj_kv *kv, unsigned db, const void *key, size_t klen, size_t vlen)
{
	size_t cap = cap_for(klen, vlen ? room_for(vlen) : 0);
	if (cap > UINT32_MAX)
		return NULL;
	kv_entry *e = block_alloc(kv, sizeof(*e) + klen + cap);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->vcap = (uint32_t)cap;
	e->db = (uint8_t)db;
	e->klen = (uint16_t)klen;
	e->absent = 1;
	memcpy(e->data, key, klen);
	return e;
}

/* Appends e, whose key is past every key of its database's log. */
static int log_append(proj_kv *kv, kv_entry *e)
{
	kv_log *l = &kv->log[e->db];
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		kv_entry **n = realloc(l->e, cap * sizeof(*n));
		if (!n)
			return LD_E(INTERNAL);
		kv->bytes += (cap - l->cap) * sizeof(*n);
		l->e = n;
		l->cap = cap;
	}
	e->inlog = 1;
	l->e[l->n++] = e;
	return 0;
}

/* The place of (db, key)'s entry, with one made (entry_new) if the table
 * has none (*made set): appended to db's log if db is cold, logged is set
 * and the key is past the log's last, else in a slot. NULL: out of memory. */
static kv_entry **entry_of(proj_kv *kv, unsigned db, const void *key, size_t klen, size_t vlen,
			   int logged, int *made)
{
	kv_log *l = &kv->log[db];
	int past;
	*made = 0;
	if (memo_is(kv->memo, db, key, klen))
		return &kv->memo->e;
	kv_entry **p = log_find(l, key, klen, &past);
	if (p)
		return p;
	logged = logged && past && db < kv->ndbs && kv->cold[db];
	uint64_t h = 0;
	kv_slot *sl = NULL;
	/* The slots are probed unless nothing of db is there and a new entry
	 * would go to the log. */
	if (kv->nhash[db] || !logged) {
		h = hash_key(db, key, klen);
		if ((kv->n + 1) * 2 > kv->cap && grow(kv))
			return NULL;
		sl = slot_of(kv, db, key, klen, h);
		if (sl->e) {
			kv->memo = sl;
			return &sl->e;
		}
	}
	kv_entry *e = entry_new(kv, db, key, klen, vlen);
	if (!e)
		return NULL;
	kv->bytes += entry_cost(e);
	*made = 1;
	if (logged) {
		if (log_append(kv, e)) {
			kv->bytes -= entry_cost(e);
			entry_free(kv, e);
			return NULL;
		}
		return &l->e[l->n - 1];
	}
	sl->hash = h;
	sl->e = e;
	kv->n++;
	kv->nhash[db]++;
	kv->memo = sl;
	return &sl->e;
}

/* Before the entry at place pe changes: if it is pending (a flush is
 * reading it), a copy of its key, with room for a value of vlen bytes,
 * takes its place, and it is marked replaced (freed by kv_settle). The
 * copy is neither dirty nor pending; its value is for the caller to set. */
static int thaw(proj_kv *kv, kv_entry **pe, size_t vlen)
{
	kv_entry *e = *pe;
	if (!e->pending)
		return 0;
	size_t cap = vlen > e->vcap ? cap_for(e->klen, room_for(vlen)) : e->vcap;
	if (cap > UINT32_MAX)
		return LD_E(INTERNAL);
	kv_entry *n = block_alloc(kv, sizeof(*n) + e->klen + cap);
	if (!n)
		return LD_E(INTERNAL);
	memcpy(n, e, sizeof(*n) + e->klen);
	n->vcap = (uint32_t)cap;
	n->vlen = 0;
	n->pending = 0;
	n->dirty = 0;
	e->replaced = 1;
	*pe = n;
	/* The replaced one counts no more, as a flush's copy did not. */
	kv->bytes += entry_cost(n) - entry_cost(e);
	kv->pend_bytes -= entry_cost(e);
	stale(kv, e->db);
	return 0;
}

/* Sets the value of the entry at place pe (its slot's or its log's). */
static int set_value(proj_kv *kv, kv_entry **pe, const void *val, size_t vlen)
{
	kv_entry *e = *pe, *old = NULL;
	if (vlen > UINT32_MAX)
		return LD_E(INTERNAL);
	if (e->vcap < vlen) {
		/* A bigger block; the old one is freed once the value is in
		 * (val may point into it). */
		size_t cap = cap_for(e->klen, room_for(vlen));
		size_t before = entry_cost(e);
		kv_entry *n = block_alloc(kv, sizeof(*e) + e->klen + cap);
		if (!n)
			return LD_E(INTERNAL);
		memcpy(n, e, sizeof(*e) + e->klen);
		n->vcap = (uint32_t)cap;
		stale(kv, e->db);
		old = e;
		*pe = e = n;
		if (e->dirty)
			kv->dirty[e->dirty_ix] = e;
		kv->bytes += entry_cost(e) - before;
		if (e->dirty)
			kv->dirty_bytes += entry_cost(e) - before;
	}
	if (vlen)
		memcpy(val_of(e), val, vlen);
	e->vlen = (uint32_t)vlen;
	e->absent = 0;
	entry_free(kv, old);
	return 0;
}

static int mark_dirty(proj_kv *kv, kv_entry *e)
{
	if (e->dirty)
		return 0;
	if (kv->ndirty == kv->dcap) {
		size_t cap = kv->dcap ? kv->dcap * 2 : 1024;
		kv_entry **d = realloc(kv->dirty, cap * sizeof(*d));
		if (!d)
			return LD_E(INTERNAL);
		kv->dirty = d;
		kv->dcap = cap;
	}
	e->dirty_ix = (uint32_t)kv->ndirty;
	kv->dirty[kv->ndirty++] = e;
	e->dirty = 1;
	stale(kv, e->db);
	kv->dirty_bytes += entry_cost(e);
	return 0;
}

void kv_prefetch(proj_kv *kv, unsigned db, const void *key, size_t klen, int stage)
{
	if (!kv->nhash[db])
		return;
	uint64_t h = hash_key(db, key, klen);
	const kv_slot *sl = &kv->slots[h & (kv->cap - 1)];
	if (stage == 0) {
		__builtin_prefetch(sl);
		return;
	}
	/* The entry's first lines: its header, key and most values. */
	if (sl->e && sl->hash == h) {
		const char *e = (const char *)sl->e;
		__builtin_prefetch(e);
		__builtin_prefetch(e + 64);
		__builtin_prefetch(e + 128);
		__builtin_prefetch(e + 192);
	}
}

int kv_get(proj_kv *kv, unsigned db, const void *key, size_t klen, store_val *v)
{
	kv_entry *e = find_own(kv, db, key, klen);
	if (e) {
		if (e->absent)
			return LD_E(NOT_FOUND);
		v->data = val_of(e);
		v->len = e->vlen;
		return 0;
	}
	if (db < kv->ndbs && kv->complete[db])
		return LD_E(NOT_FOUND);
	if (!kv->base)
		return LD_E(STORAGE);
	store_val bv;
	int rc = store_get(kv->base, db, key, klen, &bv);
	if (rc && rc != LD_E(NOT_FOUND))
		return rc;
	/* Kept, found or not: the flushed state does not change under it.
	 * In a slot: a log holds only what a flush has yet to write. */
	int made;
	kv_entry **pe = entry_of(kv, db, key, klen, rc ? 0 : bv.len, 0, &made);
	if (!pe)
		return LD_E(INTERNAL);
	if (rc)
		return rc;
	if (set_value(kv, pe, bv.data, bv.len))
		return LD_E(INTERNAL);
	v->data = val_of(*pe);
	v->len = (*pe)->vlen;
	return 0;
}

int kv_put(proj_kv *kv, unsigned db, const void *key, size_t klen, const void *val, size_t vlen)
{
	int made;
	kv_entry **pe = entry_of(kv, db, key, klen, vlen, 1, &made);
	if (!pe || thaw(kv, pe, vlen) || mark_dirty(kv, *pe) || set_value(kv, pe, val, vlen))
		return LD_E(INTERNAL);
	return 0;
}

int kv_del(proj_kv *kv, unsigned db, const void *key, size_t klen)
{
	int made;
	/* (A new entry in a slot: one of a complete database stays clean.) */
	kv_entry **pe = entry_of(kv, db, key, klen, 0, 0, &made);
	if (!pe)
		return LD_E(INTERNAL);
	if (made && db < kv->ndbs && kv->complete[db])
		return 0; /* not in LMDB, not in the table: nothing to delete */
	if (thaw(kv, pe, 0) || mark_dirty(kv, *pe))
		return LD_E(INTERNAL);
	(*pe)->absent = 1;
	(*pe)->vlen = 0;
	return 0;
}

/* An entry to sort: 8 bytes of its key, read past the prefix that every key
 * of its database in the batch shares, so that most comparisons need no
 * memcmp and no look at the entry (member ids, for one, share a long
 * prefix: "B0.p0.m…"). */
typedef struct sort_item {
	uint64_t prefix; /* key bytes [lcp, lcp + 8), zeros past its end */
	kv_entry *e;
} sort_item;

/* LMDB's default order within a database: bytes, then the shorter first.
 * Items of one database only: equal prefixes compare the whole keys. */
static int item_cmp(const void *a, const void *b)
{
	const sort_item *x = a, *y = b;
	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	const kv_entry *p = x->e, *q = y->e;
	size_t n = p->klen < q->klen ? p->klen : q->klen;
	int c = memcmp(p->data, q->data, n);
	if (c)
		return c;
	return p->klen < q->klen ? -1 : p->klen > q->klen;
}

/* Whether a sorted run is in order already (keys often come in order:
 * seqs, a member's stream). */
static int in_order(const sort_item *it, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (item_cmp(&it[i - 1], &it[i]) > 0)
			return 0;
	return 1;
}

/* The length of the prefix that key e shares with f's first lcp bytes. */
static size_t shared_prefix(const kv_entry *e, const kv_entry *f, size_t lcp)
{
	size_t m = e->klen < lcp ? e->klen : lcp, k = 0;
	while (k < m && e->data[k] == f->data[k])
		k++;
	return k;
}

/* Every key's 8 bytes past lcp, big-endian: comparing them orders keys
 * that share their first lcp bytes as LMDB does, but for ties. */
static void set_prefixes(sort_item *it, size_t n, size_t lcp)
{
	for (size_t i = 0; i < n; i++) {
		const kv_entry *e = it[i].e;
		uint64_t p = 0;
		for (size_t k = 0; k < 8; k++)
			p = p << 8 | (lcp + k < e->klen ? e->data[lcp + k] : 0);
		it[i].prefix = p;
	}
}

/* Sorts it[0..n) by prefix, a byte at a time from the last (LSD radix:
 * each pass keeps the order of the one before; a byte every item shares
 * is skipped), then each run of equal prefixes by the whole keys. tmp:
 * room for n items. A flush sorts hundreds of thousands of keys: a few
 * passes over them instead of twenty comparisons each. */
static void radix_sort(sort_item *it, sort_item *tmp, size_t n)
{
	static const unsigned nb = sizeof(it->prefix);
	size_t count[sizeof(it->prefix)][256];
	memset(count, 0, sizeof(count));
	for (size_t i = 0; i < n; i++)
		for (unsigned b = 0; b < nb; b++)
			count[b][it[i].prefix >> (8 * b) & 0xff]++;
	sort_item *src = it, *dst = tmp;
	for (unsigned b = 0; b < nb; b++) {
		size_t *c = count[b], sum = 0;
		if (c[src[0].prefix >> (8 * b) & 0xff] == n)
			continue;
		for (unsigned v = 0; v < 256; v++) {
			size_t k = c[v];
			c[v] = sum;
			sum += k;
		}
		for (size_t i = 0; i < n; i++)
			dst[c[src[i].prefix >> (8 * b) & 0xff]++] = src[i];
		sort_item *t = src;
		src = dst;
		dst = t;
	}
	if (src != it)
		memcpy(it, src, n * sizeof(*it));
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && it[j].prefix == it[i].prefix; j++)
			;
		if (j - i > 1)
			qsort(it + i, j - i, sizeof(*it), item_cmp);
	}
}

/* Sorts the dirty list by database and key: grouped by database first
 * (counting), then each database's keys, unless they came in order. 0 or
 * LD_E(INTERNAL). */
static int sort_entries(kv_entry **es, size_t ne)
{
	size_t start[STORE_MAX_DBS + 1] = {0}, at[STORE_MAX_DBS], lcp[STORE_MAX_DBS];
	const kv_entry *first[STORE_MAX_DBS] = {0};
	size_t it_bytes = (ne ? ne : 1) * 2 * sizeof(sort_item);
	sort_item *it = big_alloc(it_bytes);
	if (!it)
		return LD_E(INTERNAL);
	/* One pass over the entries counts each database's, finds the prefix
	 * its keys share and notes it beside the entry (in the second half,
	 * radix_sort's room), so the grouping reads the items, not the
	 * entries again: they are hundreds of megabytes, and each pass over
	 * them is a pass through memory. */
	sort_item *tmp = it + ne;
	for (size_t i = 0; i < ne; i++) {
		kv_entry *e = es[i];
		tmp[i].e = e;
		tmp[i].prefix = e->db;
		start[e->db + 1]++;
		if (!first[e->db]) {
			first[e->db] = e;
			lcp[e->db] = e->klen;
		} else if (lcp[e->db]) {
			lcp[e->db] = shared_prefix(e, first[e->db], lcp[e->db]);
		}
	}
	for (unsigned db = 0; db < STORE_MAX_DBS; db++) {
		start[db + 1] += start[db];
		at[db] = start[db];
	}
	for (size_t i = 0; i < ne; i++)
		it[at[tmp[i].prefix]++].e = tmp[i].e;
	for (unsigned db = 0; db < STORE_MAX_DBS; db++) {
		size_t n = start[db + 1] - start[db];
		if (n < 2)
			continue;
		set_prefixes(it + start[db], n, lcp[db]);
		if (!in_order(it + start[db], n))
			radix_sort(it + start[db], it + ne, n);
	}
	for (size_t i = 0; i < ne; i++)
		es[i] = it[i].e;
	free(it);
	return 0;
}

static int sort_dirty(proj_kv *kv)
{
	int rc = sort_entries(kv->dirty, kv->ndirty);
	for (size_t i = 0; i < kv->ndirty && !rc; i++)
		kv->dirty[i]->dirty_ix = (uint32_t)i;
	return rc;
}

static int key_after(const uint8_t *k, size_t kn, const uint8_t *last, size_t ln)
{
	size_t n = kn < ln ? kn : ln;
	int c = memcmp(k, last, n);
	return c > 0 || (c == 0 && kn > ln);
}

#define WRITE_AHEAD 8

/* A flush whose keys for an owned database that fall among those it holds
 * (not past its last) are at least 1/REWRITE_SHARE of them rewrites it
 * whole (write_merged, below). */
#define REWRITE_SHARE 4

static void prefetch_ahead(kv_entry *const *es, size_t i, size_t n)
{
	/* Sorted by key, the entries are read in no order of memory: each a
	 * cache miss, asked for a few puts ahead. */
	if (i + WRITE_AHEAD < n) {
		__builtin_prefetch(es[i + WRITE_AHEAD]);
		__builtin_prefetch((const char *)es[i + WRITE_AHEAD] + 64);
	}
}

/* Writes db's entries es[0..n) (sorted by key) into t as puts and
 * deletes: keys past the database's last one are appended through one
 * cursor, the others put or deleted. */
static int write_run(kv_entry *const *es, size_t n, unsigned db, store_txn *t)
{
	uint8_t first_last[512];
	const uint8_t *last = NULL;
	size_t last_len = 0;
	store_cursor *c = NULL;
	store_val k;
	int rc = store_cursor_open(t, db, &c);
	if (rc)
		return rc;
	rc = store_cursor_last(c, &k, NULL);
	int have_last = rc == 0;
	if (have_last) { /* LMDB keys are at most 511 bytes */
		last_len = k.len < sizeof(first_last) ? k.len : sizeof(first_last);
		memcpy(first_last, k.data, last_len);
		last = first_last;
	}
	if (rc == LD_E(NOT_FOUND))
		rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const kv_entry *e = es[i];
		prefetch_ahead(es, i, n);
		int past = !have_last || key_after(e->data, e->klen, last, last_len);
		const uint8_t *val = e->data + e->klen;
		if (e->absent) {
			if (!past)
				rc = store_del(t, db, e->data, e->klen);
			continue;
		}
		if (past) {
			rc = store_cursor_append(c, e->data, e->klen, val, e->vlen);
			have_last = 1;
			last = e->data;
			last_len = e->klen;
		} else {
			/* Through the cursor too: the keys come in order, and
			 * LMDB looks for each on the leaf page of the last
			 * before it searches the tree from its root. */
			rc = store_cursor_put(c, e->data, e->klen, val, e->vlen);
		}
	}
	store_cursor_close(c);
	return rc;
}

/*
 * FULL PAGES. LMDB splits a full leaf page in the middle unless the key
 * goes past the last one of the database (MDB_APPEND: the page stays full,
 * the key starts the next). A flush whose keys fall among the flushed ones
 * (a rebuild's second flush: "m10" sorts between "m1" and "m2") splits
 * nearly every page it touches, and left the members' and transfers'
 * pages about half full after a rebuild: twice the pages to write in every
 * later flush, and a file twice their size. So a flush with many keys among
 * those a database holds rewrites it whole: the flushed keys
 * (read in a read transaction of the last commit, which keeps their pages)
 * merged with the flush's, all appended into the emptied database, every
 * page full. Only a database this table alone writes (kv_set_owned): in
 * the flush's write transaction it is as the last commit left it.
 */
static int write_merged(kv_entry *const *es, size_t n, unsigned db, store_txn *t)
{
	store_txn *rt = NULL;
	store_cursor *oc = NULL, *c = NULL;
	store_val ok = {0}, ov = {0};
	int rc = store_read_begin(store_txn_store(t), &rt);
	if (!rc)
		rc = store_cursor_open(rt, db, &oc);
	if (!rc)
		rc = store_empty(t, db);
	if (!rc)
		rc = store_cursor_open(t, db, &c);
	int have_old = 0;
	if (!rc) {
		rc = store_cursor_first(oc, &ok, &ov);
		have_old = rc == 0;
		if (rc == LD_E(NOT_FOUND))
			rc = 0;
	}
	size_t i = 0;
	while (!rc && (i < n || have_old)) {
		int cmp = i == n ? 1 : !have_old ? -1 : key_cmp(es[i]->data, es[i]->klen, ok.data, ok.len);
		if (cmp <= 0) { /* the flush's key (in place of the old one) */
			const kv_entry *e = es[i];
			prefetch_ahead(es, i, n);
			i++;
			if (!e->absent)
				rc = store_cursor_append(c, e->data, e->klen, e->data + e->klen,
							 e->vlen);
			if (rc || cmp < 0)
				continue;
		} else {
			rc = store_cursor_append(c, ok.data, ok.len, ov.data, ov.len);
			if (rc)
				continue;
		}
		rc = store_cursor_next(oc, &ok, &ov);
		have_old = rc == 0;
		if (rc == LD_E(NOT_FOUND))
			rc = 0;
	}
	store_cursor_close(c);
	store_cursor_close(oc);
	store_read_end(rt);
	return rc;
}

/* How many of db's entries es[0..n) (sorted by key) fall at or before
 * the last key db holds in t: those not appended. */
static size_t among(kv_entry *const *es, size_t n, unsigned db, store_txn *t)
{
	store_cursor *c = NULL;
	store_val k;
	if (store_cursor_open(t, db, &c))
		return n;
	int rc = store_cursor_last(c, &k, NULL);
	size_t lo = 0, hi = n; /* the first past the last key */
	while (rc == 0 && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_after(es[mid]->data, es[mid]->klen, k.data, k.len))
			hi = mid;
		else
			lo = mid + 1;
	}
	store_cursor_close(c);
	return rc == 0 ? lo : 0;
}

/* Writes entries es[0..n) (sorted by database and key) into t, a
 * database's run at a time; owned[db]: kv_set_owned. */
static int write_sorted(kv_entry *const *es, size_t n, store_txn *t, const uint8_t *owned)
{
	int rc = 0;
	for (size_t i = 0, j; i < n && !rc; i = j) {
		unsigned db = es[i]->db;
		for (j = i + 1; j < n && es[j]->db == db;)
			j++;
		size_t held = owned[db] ? store_count(t, db) : 0;
		if (held && among(es + i, j - i, db, t) * REWRITE_SHARE >= held)
			rc = write_merged(es + i, j - i, db, t);
		else
			rc = write_run(es + i, j - i, db, t);
	}
	return rc;
}

int kv_write(proj_kv *kv, store_txn *t)
{
	int rc = sort_dirty(kv);
	return rc ? rc : write_sorted(kv->dirty, kv->ndirty, t, kv->owned);
}

/* The keys a flush writes: the table's pending entries themselves (they
 * do not change until kv_settle), sorted by the writer in an array of its
 * own. */
struct kv_batch {
	kv_entry **e; /* sorted by kv_batch_write */
	size_t n;
	int sorted;
	uint8_t owned[STORE_MAX_DBS]; /* the table's (kv_set_owned) */
};

int kv_detach(proj_kv *kv, kv_batch **out)
{
	*out = NULL;
	if (kv->npend)
		return LD_E(INTERNAL); /* one flush at a time */
	kv_batch *b = calloc(1, sizeof(*b));
	if (!b || (kv->ndirty && !(b->e = big_alloc(kv->ndirty * sizeof(*b->e))))) {
		kv_batch_free(b);
		return LD_E(INTERNAL);
	}
	if (kv->ndirty)
		memcpy(b->e, kv->dirty, kv->ndirty * sizeof(*b->e));
	b->n = kv->ndirty;
	memcpy(b->owned, kv->owned, sizeof(b->owned));
	for (size_t i = 0; i < kv->ndirty; i++) {
		kv->dirty[i]->dirty = 0;
		kv->dirty[i]->pending = 1;
	}
	/* The dirty list becomes the pending one, and the pending list's
	 * array (empty) the next dirty list's: no copy, and each keeps the
	 * room it grew to. */
	kv_entry **spare = kv->pend;
	size_t spare_cap = kv->pcap;
	kv->pend = kv->dirty;
	kv->pcap = kv->dcap;
	kv->npend = kv->ndirty;
	kv->dirty = spare;
	kv->dcap = spare_cap;
	kv->ndirty = 0;
	kv->pend_bytes = kv->dirty_bytes;
	kv->dirty_bytes = 0;
	/* No run is stale: every entry in one (dirty) is still in it (pending). */
	*out = b;
	return 0;
}

size_t kv_batch_keys(const kv_batch *b)
{
	return b ? b->n : 0;
}

int kv_batch_sort(kv_batch *b)
{
	if (!b || b->sorted)
		return 0;
	int rc = sort_entries(b->e, b->n);
	b->sorted = rc == 0;
	return rc;
}

int kv_batch_write(kv_batch *b, store_txn *t)
{
	int rc = kv_batch_sort(b); /* on the writing thread, unless sorted before */
	return rc || !b ? rc : write_sorted(b->e, b->n, t, b->owned);
}

void kv_batch_free(kv_batch *b)
{
	if (!b)
		return;
	free(b->e);
	free(b);
}

/* Frees the entries of the logs for which drop() says so (their databases
 * are no longer complete). */
static void log_drop(proj_kv *kv, int (*drop)(const kv_entry *))
{
	for (unsigned db = 0; db < STORE_MAX_DBS; db++) {
		kv_log *l = &kv->log[db];
		size_t keep = 0;
		for (size_t i = 0; i < l->n; i++) {
			kv_entry *e = l->e[i];
			if (!drop(e)) {
				l->e[keep++] = e;
				continue;
			}
			kv->bytes -= entry_cost(e);
			if (db < kv->ndbs)
				kv->complete[db] = 0;
			entry_free(kv, e);
		}
		if (keep != l->n)
			stale(kv, db);
		l->n = keep;
		if (!keep) { /* (a rebuild's flush held a million: not kept) */
			kv->bytes -= l->cap * sizeof(*l->e);
			free(l->e);
			l->e = NULL;
			l->cap = 0;
		}
	}
}

static int is_dirty(const kv_entry *e)
{
	return e->dirty;
}

static int is_clean(const kv_entry *e)
{
	return !e->dirty && !e->pending;
}

static int is_any(const kv_entry *e)
{
	(void)e;
	return 1;
}

int kv_settle(proj_kv *kv, int committed)
{
	int rc = 0;
	unsigned dbs = 0;
	for (size_t i = 0; i < kv->npend; i++) {
		kv_entry *e = kv->pend[i];
		dbs |= 1u << e->db;
		if (e->replaced) {
			/* Its key is in the table, dirty, with a newer value
			 * (thaw): written by the next flush if not by this one. */
			entry_free(kv, e);
			continue;
		}
		e->pending = 0;
		/* Not committed: written again by the next flush, with the
		 * value it has now. */
		if (!committed && !rc)
			rc = mark_dirty(kv, e);
		else if (committed && kv->cold[e->db] && !e->dirty && !e->inlog)
			forget(kv, e);
	}
	kv->npend = 0;
	kv->pend_bytes = 0;
	stale_mask(kv, dbs);
	if (committed) /* the log entries it wrote, now clean, leave memory */
		log_drop(kv, is_clean);
	return rc;
}

void kv_written(proj_kv *kv)
{
	unsigned dbs = 0;
	for (size_t i = 0; i < kv->ndirty; i++) {
		dbs |= 1u << kv->dirty[i]->db;
		kv->dirty[i]->dirty = 0;
		if (kv->cold[kv->dirty[i]->db] && !kv->dirty[i]->pending && !kv->dirty[i]->inlog)
			forget(kv, kv->dirty[i]);
	}
	kv->ndirty = 0;
	kv->dirty_bytes = 0;
	stale_mask(kv, dbs);
	log_drop(kv, is_clean); /* the log entries written, now clean, leave memory */
}

/* Drops the entries for which drop() says so; every database they were in
 * is no longer complete. */
static int drop_where(proj_kv *kv, int (*drop)(const kv_entry *))
{
	size_t keep = 0, cap = 1024;
	for (size_t i = 0; i < kv->cap; i++)
		keep += kv->slots[i].e && !drop(kv->slots[i].e);
	while (cap < 2 * keep)
		cap *= 2;
	kv_slot *slots = slots_alloc(cap);
	if (!slots)
		return LD_E(INTERNAL);
	stale_mask(kv, ~0u);
	memset(kv->nhash, 0, sizeof(kv->nhash));
	for (size_t i = 0; i < kv->cap; i++) {
		kv_entry *e = kv->slots[i].e;
		if (!e)
			continue;
		if (drop(e)) {
			if (e->db < kv->ndbs)
				kv->complete[e->db] = 0;
			kv->bytes -= entry_cost(e);
			entry_free(kv, e);
		} else {
			place(slots, cap, kv->slots[i].hash, e);
			kv->nhash[e->db]++;
		}
	}
	log_drop(kv, drop);
	kv->bytes = kv->bytes - kv->cap * sizeof(*slots) + cap * sizeof(*slots);
	free(kv->slots);
	kv->slots = slots;
	kv->cap = cap;
	kv->n = keep;
	kv->memo = NULL;
	return 0;
}

void kv_discard(proj_kv *kv)
{
	if (kv->ndirty && drop_where(kv, is_dirty) != 0) {
		/* No memory for a new table: everything goes, clean or not (the
		 * clean part is read again from LMDB). */
		for (size_t i = 0; i < kv->cap; i++) {
			if (kv->slots[i].e)
				kv->bytes -= entry_cost(kv->slots[i].e);
			entry_free(kv, kv->slots[i].e);
		}
		memset(kv->slots, 0, kv->cap * sizeof(*kv->slots));
		kv->memo = NULL;
		log_drop(kv, is_any);
		memset(kv->complete, 0, sizeof(kv->complete));
		memset(kv->nhash, 0, sizeof(kv->nhash));
		kv->n = 0;
	}
	kv->ndirty = 0;
	kv->dirty_bytes = 0;
	stale_mask(kv, ~0u);
}

void kv_trim(proj_kv *kv)
{
	(void)drop_where(kv, is_clean); /* no memory for it: nothing to give back */
}

/* How many slots ahead of the one looked at kv_trim_some fetches the entry:
 * the entries are scattered, and each is read to see whether it is clean. */
#define TRIM_AHEAD 8

size_t kv_trim_some(proj_kv *kv, size_t slots)
{
	if (!kv->cap)
		return 0;
	size_t mask = kv->cap - 1, i = kv->trim_at & mask, seen = 0;
	if (slots > kv->cap)
		slots = kv->cap;
	for (; seen < slots; seen++) {
		kv_entry *ahead = kv->slots[(i + TRIM_AHEAD) & mask].e;
		if (ahead)
			__builtin_prefetch(ahead, 0, 0);
		kv_entry *e = kv->slots[i].e;
		if (e && is_clean(e))
			forget_slot(kv, i); /* slot i again next: an entry from after may be in it */
		else
			i = (i + 1) & mask;
	}
	kv->trim_at = i;
	return seen;
}

size_t kv_bytes(const proj_kv *kv)
{
	return kv->bytes;
}

size_t kv_dirty_bytes(const proj_kv *kv)
{
	return kv->dirty_bytes;
}

size_t kv_clean_bytes(const proj_kv *kv)
{
	size_t fixed = kv->cap * sizeof(kv_slot), other = kv->dirty_bytes + kv->pend_bytes;
	for (unsigned db = 0; db < STORE_MAX_DBS; db++)
		fixed += kv->log[db].cap * sizeof(*kv->log[db].e);
	return kv->bytes > fixed + other ? kv->bytes - fixed - other : 0;
}

size_t kv_dirty(const proj_kv *kv)
{
	return kv->ndirty;
}

size_t kv_keys(const proj_kv *kv)
{
	size_t n = kv->n;
	for (unsigned db = 0; db < STORE_MAX_DBS; db++)
		n += kv->log[db].n;
	return n;
}

/* ------------------------------------------------------------------ */
/* Reading the state as applied                                        */
/* ------------------------------------------------------------------ */

static int entry_cmp(const void *a, const void *b)
{
	const kv_entry *p = *(kv_entry *const *)a, *q = *(kv_entry *const *)b;
	return key_cmp(p->data, p->klen, q->data, q->klen);
}

/* Whether e differs from the flushed state (a reader's cursor must see it
 * instead of, or besides, LMDB's keys). */
static int changed(const kv_entry *e)
{
	return e->dirty || e->pending;
}

/* db's changed entries, sorted: the cached run, rebuilt if stale. NULL:
 * out of memory. */
static const kv_run *run_of(proj_kv *kv, unsigned db)
{
	kv_run *r = &kv->runs[db];
	if (r->gen == kv->db_gen[db])
		return r;
	r->n = 0;
	for (size_t i = 0; i < kv->ndirty + kv->npend; i++) {
		kv_entry *e = i < kv->ndirty ? kv->dirty[i] : kv->pend[i - kv->ndirty];
		if (e->db != db || !changed(e) || e->replaced)
			continue; /* (replaced: its key's copy is in the dirty list) */
		if (r->n == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 64;
			kv_entry **n = realloc(r->e, cap * sizeof(*n));
			if (!n)
				return NULL;
			r->e = n;
			r->cap = cap;
		}
		r->e[r->n++] = e;
	}
	if (r->n > 1)
		qsort(r->e, r->n, sizeof(*r->e), entry_cmp);
	r->gen = kv->db_gen[db];
	return r;
}

int kvr_get(const kv_read *r, unsigned db, const void *key, size_t klen, store_val *v)
{
	for (unsigned i = 0; i < r->nkv; i++) {
		kv_entry *e = find(r->kv[i], db, key, klen);
		if (!e)
			continue;
		if (e->absent)
			return LD_E(NOT_FOUND);
		v->data = val_of(e);
		v->len = e->vlen;
		return 0;
	}
	return store_get(r->t, db, key, klen, v);
}

/*
 * A merged cursor: LMDB's cursor on the flushed state (b) and the changed
 * entries of the tables (o, sorted). Moving forward, both stand at or after
 * the current key, and `from_b`/`from_o` say which is on it; moving back
 * re-seeks both from the current key (the estimates' "latest before" is
 * the only backward read).
 */
struct kvr_cursor {
	store_cursor *b;
	int b_ok; /* b stands on bk/bv */
	store_val bk, bv;
	kv_entry **o; /* sorted */
	size_t no;
	kv_entry **own; /* o when merged from several tables (freed) */
	size_t oi;      /* forward: the next candidate; back: one past it */
	int from_b, from_o, back;
	uint8_t cur[512]; /* the current key (re-seeks) */
	size_t curlen;
	int have_cur;
};

int kvr_cursor_open(const kv_read *r, unsigned db, kvr_cursor **out)
{
	kvr_cursor *c = calloc(1, sizeof(*c));
	*out = NULL;
	if (!c || db >= STORE_MAX_DBS) {
		free(c);
		return LD_E(INTERNAL);
	}
	const kv_run *runs[STORE_MAX_DBS];
	unsigned nr = 0;
	size_t total = 0;
	for (unsigned i = 0; i < r->nkv && nr < STORE_MAX_DBS; i++) {
		const kv_run *run = run_of(r->kv[i], db);
		if (!run) {
			free(c);
			return LD_E(INTERNAL);
		}
		if (run->n) {
			runs[nr++] = run;
			total += run->n;
		}
	}
	if (nr == 1) {
		c->o = runs[0]->e;
	} else if (nr > 1) {
		/* A database several projections keep keys in (the runner's
		 * own): their runs together. */
		if (!(c->own = malloc(total * sizeof(*c->own)))) {
			free(c);
			return LD_E(INTERNAL);
		}
		for (unsigned i = 0, at = 0; i < nr; at += (unsigned)runs[i]->n, i++)
			memcpy(c->own + at, runs[i]->e, runs[i]->n * sizeof(*c->own));
		qsort(c->own, total, sizeof(*c->own), entry_cmp);
		c->o = c->own;
	}
	c->no = total;
	int rc = store_cursor_open(r->t, db, &c->b);
	if (rc) {
		free(c->own);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void kvr_cursor_close(kvr_cursor *c)
{
	if (!c)
		return;
	store_cursor_close(c->b);
	free(c->own);
	free(c);
}

/* The first changed entry not before key (n: none). */
static size_t lower_bound(kvr_cursor *c, const void *key, size_t klen)
{
	size_t lo = 0, hi = c->no;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_cmp(c->o[mid]->data, c->o[mid]->klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* b's move: 0 (b_ok set or not) or a storage error. */
static int b_moved(kvr_cursor *c, int rc)
{
	c->b_ok = rc == 0;
	return rc == LD_E(NOT_FOUND) ? 0 : rc;
}

static int yield(kvr_cursor *c, const void *key, size_t klen, const void *val, size_t vlen,
		 store_val *k, store_val *v)
{
	if (klen > sizeof(c->cur))
		return LD_E(STORAGE);
	memcpy(c->cur, key, klen);
	c->curlen = klen;
	c->have_cur = 1;
	if (k) {
		k->data = key;
		k->len = klen;
	}
	if (v) {
		v->data = val;
		v->len = vlen;
	}
	return 0;
}

/* The smallest of b and o[oi] (o's deletions hide b's key). */
static int settle_fwd(kvr_cursor *c, store_val *k, store_val *v)
{
	c->back = 0;
	for (;;) {
		kv_entry *o = c->oi < c->no ? c->o[c->oi] : NULL;
		int rc;
		if (!o && !c->b_ok)
			return LD_E(NOT_FOUND);
		int cmp = !o ? 1 : !c->b_ok ? -1 : key_cmp(o->data, o->klen, c->bk.data, c->bk.len);
		if (cmp <= 0 && o->absent) {
			c->oi++;
			if (cmp == 0 && (rc = b_moved(c, store_cursor_next(c->b, &c->bk, &c->bv))))
				return rc;
			continue;
		}
		c->from_o = cmp <= 0;
		c->from_b = cmp >= 0;
		if (c->from_o)
			return yield(c, o->data, o->klen, val_of(o), o->vlen, k, v);
		return yield(c, c->bk.data, c->bk.len, c->bv.data, c->bv.len, k, v);
	}
}

/* The largest of b and o[oi - 1]. */
static int settle_back(kvr_cursor *c, store_val *k, store_val *v)
{
	c->back = 1;
	for (;;) {
		kv_entry *o = c->oi ? c->o[c->oi - 1] : NULL;
		int rc;
		if (!o && !c->b_ok)
			return LD_E(NOT_FOUND);
		int cmp = !o ? -1 : !c->b_ok ? 1 : key_cmp(o->data, o->klen, c->bk.data, c->bk.len);
		if (cmp >= 0 && o->absent) {
			c->oi--;
			if (cmp == 0 && (rc = b_moved(c, store_cursor_prev(c->b, &c->bk, &c->bv))))
				return rc;
			continue;
		}
		if (cmp >= 0)
			return yield(c, o->data, o->klen, val_of(o), o->vlen, k, v);
		return yield(c, c->bk.data, c->bk.len, c->bv.data, c->bv.len, k, v);
	}
}

int kvr_cursor_seek(kvr_cursor *c, const void *key, size_t klen, store_val *k, store_val *v)
{
	int rc = b_moved(c, store_cursor_seek(c->b, key, klen, &c->bk, &c->bv));
	if (rc)
		return rc;
	c->oi = lower_bound(c, key, klen);
	return settle_fwd(c, k, v);
}

int kvr_cursor_last(kvr_cursor *c, store_val *k, store_val *v)
{
	int rc = b_moved(c, store_cursor_last(c->b, &c->bk, &c->bv));
	if (rc)
		return rc;
	c->oi = c->no;
	return settle_back(c, k, v);
}

int kvr_cursor_next(kvr_cursor *c, store_val *k, store_val *v)
{
	int rc;
	if (!c->have_cur)
		return LD_E(NOT_FOUND);
	if (c->back) {
		/* Forward again after a move back: from the current key. */
		uint8_t key[sizeof(c->cur)];
		size_t n = c->curlen;
		memcpy(key, c->cur, n);
		if ((rc = b_moved(c, store_cursor_seek(c->b, key, n, &c->bk, &c->bv))))
			return rc;
		c->oi = lower_bound(c, key, n);
		if ((rc = settle_fwd(c, NULL, NULL)))
			return rc;
	}
	if (c->from_o)
		c->oi++;
	if (c->from_b && (rc = b_moved(c, store_cursor_next(c->b, &c->bk, &c->bv))))
		return rc;
	return settle_fwd(c, k, v);
}

int kvr_cursor_prev(kvr_cursor *c, store_val *k, store_val *v)
{
	if (!c->have_cur)
		return LD_E(NOT_FOUND);
	/* Both sources to the last key before the current one. */
	uint8_t key[sizeof(c->cur)];
	size_t n = c->curlen;
	memcpy(key, c->cur, n);
	int rc = store_cursor_seek(c->b, key, n, &c->bk, &c->bv);
	if (rc == 0)
		rc = store_cursor_prev(c->b, &c->bk, &c->bv);
	else if (rc == LD_E(NOT_FOUND))
		rc = store_cursor_last(c->b, &c->bk, &c->bv);
	if ((rc = b_moved(c, rc)))
		return rc;
	c->oi = lower_bound(c, key, n);
	return settle_back(c, k, v);
}
