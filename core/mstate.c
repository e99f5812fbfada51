/* mstate.c — the write model's state: records, tables, undo. See mstate.h. */
#include "mstate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

static const size_t record_size[MA__COUNT] = {
	[MA_STREAMS] = sizeof(mstream), [MA_MEMBERS] = sizeof(mmember),
	[MA_ORGS] = sizeof(morg),	[MA_AFFS] = sizeof(maff),
	[MA_STATIONS] = sizeof(mstation),
};

int ms_init(model *m, store *s, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	m->s = s;
	m->seed = seed;
	pthread_mutex_init(&m->snap_lock, NULL);
	for (unsigned i = 0; i < MA__COUNT; i++)
		if (marray_init(&m->arr[i], record_size[i]) != 0)
			return LD_E(INTERNAL);
	if (marray_init(&m->pub, sizeof(uint64_t)) != 0 || mbytes_init(&m->names) != 0 ||
	    mindex_init(&m->streams, 0) != 0 || mindex_init(&m->persons, 0) != 0 ||
	    mindex_init(&m->stations, 0) != 0 || mids_init(&m->ids, 0) != 0 ||
	    mmap64_init(&m->refunds) != 0 || mmap64_init(&m->fixes) != 0 ||
	    mmap64_init(&m->pending) != 0)
		return LD_E(INTERNAL);
	return 0;
}

void ms_release(model *m)
{
	for (unsigned i = 0; i < MA__COUNT; i++)
		marray_free(&m->arr[i]);
	marray_free(&m->pub);
	mbytes_free(&m->names);
	mindex_free(&m->streams);
	mindex_free(&m->persons);
	mindex_free(&m->stations);
	mids_free(&m->ids);
	mmap64_free(&m->refunds);
	mmap64_free(&m->fixes);
	mmap64_free(&m->pending);
	pthread_mutex_destroy(&m->snap_lock);
}

/* ------------------------------------------------------------------ */
/* Lookups                                                             */
/* ------------------------------------------------------------------ */

uint64_t ms_name_hash(const model *m, int kind, const char *id, size_t len)
{
	return mt_hash(m->seed ^ (uint64_t)kind, id, len);
}

uint64_t ms_person_hash(const model *m, const uint8_t hash[LD_HASH_LEN])
{
	return mt_hash(m->seed, hash, LD_HASH_LEN);
}

typedef struct name_key {
	const model *m;
	int kind;
	const char *id;
	size_t len;
} name_key;

static int stream_eq(const void *key, uint32_t rec, void *arg)
{
	const name_key *k = key;
	const mstream *st = ms_stream(k->m, rec);
	(void)arg;
	return st->kind == k->kind && st->name_len == k->len && !(st->flags & MS_DEAD) &&
	       memcmp(mbytes_at(&k->m->names, st->name), k->id, k->len) == 0;
}

uint32_t ms_stream_find(const model *m, int kind, const char *id, size_t len, uint64_t hash)
{
	name_key k = {m, kind, id, len};
	if (len == 0 || len > LD_ID_MAX)
		return MT_NONE;
	return mindex_find(&m->streams, hash ? hash : ms_name_hash(m, kind, id, len), &k, stream_eq,
			   NULL);
}

uint32_t ms_org_find(const model *m, const char *id)
{
	uint32_t s = ms_stream_find(m, MS_ORG, id, id ? strlen(id) : 0, 0);
	if (s == MT_NONE)
		return MT_NONE;
	uint32_t o = ms_stream(m, s)->state;
	return o != MT_NONE && !(ms_org(m, o)->flags & MS_DEAD) ? o : MT_NONE;
}

uint32_t ms_member_find(const model *m, const char *id)
{
	uint32_t s = ms_stream_find(m, MS_MEMBER, id, id ? strlen(id) : 0, 0);
	return s == MT_NONE ? MT_NONE : ms_stream(m, s)->state;
}

static int person_eq(const void *key, uint32_t rec, void *arg)
{
	const model *m = arg;
	return memcmp(ms_member(m, rec)->hash, key, LD_HASH_LEN) == 0;
}

uint32_t ms_person_find(const model *m, const uint8_t hash[LD_HASH_LEN])
{
	return mindex_find(&m->persons, ms_person_hash(m, hash), hash, person_eq, (void *)m);
}

static int station_eq(const void *key, uint32_t rec, void *arg)
{
	const name_key *k = key;
	const mstation *st = ms_station(k->m, rec);
	(void)arg;
	return st->open && st->name_len == k->len && memcmp(mbytes_at(&k->m->names, st->name), k->id, k->len) == 0;
}

uint32_t ms_station_find(const model *m, const char *id)
{
	size_t len = strlen(id);
	name_key k = {m, 0, id, len};
	if (len == 0 || len > LD_ID_MAX)
		return MT_NONE;
	return mindex_find(&m->stations, mt_hash(m->seed ^ 0x57, id, len), &k, station_eq, NULL);
}

const char *ms_name(const model *m, uint32_t stream, char out[LD_ID_MAX + 1])
{
	const mstream *st = ms_stream(m, stream);
	memcpy(out, mbytes_at(&m->names, st->name), st->name_len);
	out[st->name_len] = 0;
	return out;
}

const char *ms_org_name(const model *m, uint32_t org, char out[LD_ID_MAX + 1])
{
	return ms_name(m, ms_org(m, org)->stream, out);
}

/* ------------------------------------------------------------------ */
/* The undo log                                                        */
/* ------------------------------------------------------------------ */

/* An entry: its fields, then its total size (to walk back from the end). */
enum {
	U_REC = 1,     /* arr, index, the record's bytes before */
	U_PUSH,        /* arr: a record added */
	U_STREAM,      /* index, hash: a stream added */
	U_NAMES,       /* the names' length before */
	U_PERSON_ADD,  /* member */
	U_PERSON_DEL,  /* member */
	U_STATION_ADD, /* station, hash */
	U_ID_ADD,      /* hash, seq */
	U_MAP,         /* which map, key, had, old value */
};

typedef struct uhead {
	uint8_t type, arr;
	uint16_t pad;
	uint32_t index;
	uint64_t a, b, c;
} uhead;

static int undo_log(model *m, const uhead *h, const void *data, size_t n)
{
	model_undo *u = m->undo;
	if (!u)
		return 0;
	size_t need = sizeof(*h) + n + sizeof(uint32_t);
	need = (need + 7) & ~(size_t)7;
	if (u->len + need > u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 1 << 16;
		while (cap < u->len + need)
			cap *= 2;
		uint8_t *b = realloc(u->buf, cap);
		if (!b) {
			u->failed = 1;
			return LD_E(INTERNAL);
		}
		u->buf = b;
		u->cap = cap;
	}
	uint8_t *p = u->buf + u->len;
	memcpy(p, h, sizeof(*h));
	if (n)
		memcpy(p + sizeof(*h), data, n);
	uint32_t size = (uint32_t)need;
	memcpy(p + need - sizeof(size), &size, sizeof(size));
	u->len += need;
	return 0;
}

void *ms_touch(model *m, unsigned arr, uint32_t i)
{
	void *rec = marray_at(&m->arr[arr], i);
	uhead h = {.type = U_REC, .arr = (uint8_t)arr, .index = i};
	if (atomic_load_explicit(&m->snap, memory_order_acquire))
		snapshot_before_change(m, arr, i);
	undo_log(m, &h, rec, m->arr[arr].size);
	return rec;
}

static int push(model *m, unsigned arr, uint32_t *out)
{
	uint32_t i = marray_push(&m->arr[arr]);
	uhead h = {.type = U_PUSH, .arr = (uint8_t)arr};
	if (i == MT_NONE)
		return LD_E(INTERNAL);
	*out = i;
	return undo_log(m, &h, NULL, 0);
}

int ms_stream_add(model *m, int kind, const char *id, size_t len, uint64_t hash, uint32_t *out)
{
	uhead nh = {.type = U_NAMES, .a = m->names.len};
	hash = hash ? hash : ms_name_hash(m, kind, id, len);
	uint64_t name = mbytes_add(&m->names, id, len);
	if (name == UINT64_MAX || undo_log(m, &nh, NULL, 0))
		return LD_E(INTERNAL);
	uint32_t s = marray_push(&m->arr[MA_STREAMS]);
	if (s == MT_NONE || (marray_count(&m->pub) <= s && marray_push(&m->pub) == MT_NONE))
		return LD_E(INTERNAL);
	mstream *st = ms_stream(m, s);
	st->name = name;
	st->name_len = (uint8_t)len;
	st->kind = (uint8_t)kind;
	st->state = MT_NONE;
	atomic_store_explicit((_Atomic uint64_t *)marray_at(&m->pub, s), 0, memory_order_relaxed);
	if (kind == MS_MEMBER || kind == MS_ORG) {
		unsigned arr = kind == MS_MEMBER ? MA_MEMBERS : MA_ORGS;
		uint32_t r;
		int rc = push(m, arr, &r);
		if (rc)
			return rc;
		if (kind == MS_MEMBER) {
			mmember *mm = ms_member(m, r);
			mm->stream = s;
			mm->org = mm->aff = MT_NONE;
		} else {
			morg *o = ms_org(m, r);
			o->stream = s;
			o->parent = MT_NONE;
			o->flags = MS_DEAD; /* until registered */
		}
		st->state = r;
	}
	uhead h = {.type = U_STREAM, .index = s, .a = hash};
	if (mindex_add(&m->streams, hash, s) != 0)
		return LD_E(INTERNAL);
	*out = s;
	return undo_log(m, &h, NULL, 0);
}

int ms_person_add(model *m, uint32_t member)
{
	uhead h = {.type = U_PERSON_ADD, .index = member};
	if (mindex_add(&m->persons, ms_person_hash(m, ms_member(m, member)->hash), member))
		return LD_E(INTERNAL);
	return undo_log(m, &h, NULL, 0);
}

int ms_person_remove(model *m, uint32_t member)
{
	uhead h = {.type = U_PERSON_DEL, .index = member};
	mindex_remove(&m->persons, ms_person_hash(m, ms_member(m, member)->hash), member);
	return undo_log(m, &h, NULL, 0);
}

int ms_station_add(model *m, const char *id, uint32_t org)
{
	size_t len = strlen(id);
	uhead nh = {.type = U_NAMES, .a = m->names.len};
	uint64_t name = mbytes_add(&m->names, id, len);
	uint32_t s;
	if (name == UINT64_MAX || undo_log(m, &nh, NULL, 0))
		return LD_E(INTERNAL);
	int rc = push(m, MA_STATIONS, &s);
	if (rc)
		return rc;
	mstation *st = ms_station(m, s);
	st->name = name;
	st->name_len = (uint8_t)len;
	st->org = org;
	st->open = 1;
	uint64_t hash = mt_hash(m->seed ^ 0x57, id, len);
	uhead h = {.type = U_STATION_ADD, .index = s, .a = hash};
	if (mindex_add(&m->stations, hash, s) != 0)
		return LD_E(INTERNAL);
	return undo_log(m, &h, NULL, 0);
}

int ms_aff_copy(model *m, uint32_t member, maff **out)
{
	uint32_t a;
	int rc = push(m, MA_AFFS, &a);
	if (rc)
		return rc;
	mmember *mm = ms_touch(m, MA_MEMBERS, member);
	maff *n = marray_at(&m->arr[MA_AFFS], a);
	if (mm->aff != MT_NONE)
		*n = *ms_aff(m, mm->aff);
	mm->aff = a;
	*out = n;
	return 0;
}

static uint64_t id_hash(const model *m, const uint8_t id[LD_EVENT_ID_LEN])
{
	return mt_hash(m->seed, id, LD_EVENT_ID_LEN);
}

void ms_prefetch(const model *m, uint64_t h, const uint8_t *event_id, const uint8_t *person,
		 int records)
{
	if (records) {
		uint32_t s = h ? mindex_first(&m->streams, h) : MT_NONE;
		if (s != MT_NONE)
			__builtin_prefetch(ms_stream(m, s));
		return;
	}
	if (h)
		mindex_prefetch(&m->streams, h);
	if (event_id)
		mids_prefetch(&m->ids, id_hash(m, event_id));
	if (person)
		mindex_prefetch(&m->persons, ms_person_hash(m, person));
}

int ms_id_find(const model *m, const uint8_t id[LD_EVENT_ID_LEN], mids_fn fn, void *arg)
{
	return mids_find(&m->ids, id_hash(m, id), fn, arg);
}

int ms_id_add(model *m, const uint8_t id[LD_EVENT_ID_LEN], uint64_t seq)
{
	uint64_t hash = id_hash(m, id);
	uhead h = {.type = U_ID_ADD, .a = hash, .b = seq};
	int locked = snapshot_ids_lock(m);
	int rc = mids_add(&m->ids, hash, seq);
	if (locked)
		snapshot_ids_unlock(m);
	if (rc != 0)
		return LD_E(INTERNAL);
	return undo_log(m, &h, NULL, 0);
}

/* Undo entries name a map by number. */
static uint8_t map_number(const model *m, const mmap64 *map)
{
	return map == &m->fixes ? 1 : map == &m->pending ? 2 : 0;
}

static mmap64 *map_numbered(model *m, uint8_t n)
{
	return n == 1 ? &m->fixes : n == 2 ? &m->pending : &m->refunds;
}

int ms_map_put(model *m, mmap64 *map, uint64_t key, uint64_t v)
{
	uint64_t old = 0;
	uhead h = {.type = U_MAP, .arr = map_number(m, map), .a = key};
	h.b = (uint64_t)mmap64_get(map, key, &old);
	h.c = old;
	if (mmap64_put(map, key, v) != 0)
		return LD_E(INTERNAL);
	return undo_log(m, &h, NULL, 0);
}

int ms_map_del(model *m, mmap64 *map, uint64_t key)
{
	uint64_t old = 0;
	uhead h = {.type = U_MAP, .arr = map_number(m, map), .a = key};
	h.b = (uint64_t)mmap64_get(map, key, &old);
	h.c = old;
	if (!h.b)
		return 0;
	int rc = undo_log(m, &h, NULL, 0);
	if (rc == 0)
		mmap64_del(map, key);
	return rc;
}

void ms_rollback(model *m, model_undo *u, size_t mark)
{
	model_undo *saved = m->undo;
	m->undo = NULL; /* what is undone is not logged again */
	while (u->len > mark) {
		uint32_t size;
		memcpy(&size, u->buf + u->len - sizeof(size), sizeof(size));
		u->len -= size;
		const uint8_t *p = u->buf + u->len;
		uhead h;
		memcpy(&h, p, sizeof(h));
		switch (h.type) {
		case U_REC:
			if (atomic_load_explicit(&m->snap, memory_order_acquire))
				snapshot_before_change(m, h.arr, h.index);
			memcpy(marray_at(&m->arr[h.arr], h.index), p + sizeof(h), m->arr[h.arr].size);
			break;
		case U_PUSH:
			marray_pop(&m->arr[h.arr]);
			break;
		case U_STREAM:
			/* Never reused: a reader may hold its number. */
			mindex_remove(&m->streams, h.a, h.index);
			ms_stream(m, h.index)->flags |= MS_DEAD;
			break;
		case U_NAMES:
			mbytes_truncate(&m->names, h.a);
			break;
		case U_PERSON_ADD:
			mindex_remove(&m->persons, ms_person_hash(m, ms_member(m, h.index)->hash),
				      h.index);
			break;
		case U_PERSON_DEL:
			mindex_add(&m->persons, ms_person_hash(m, ms_member(m, h.index)->hash),
				   h.index);
			break;
		case U_STATION_ADD:
			mindex_remove(&m->stations, h.a, h.index);
			break;
		case U_ID_ADD: {
			int locked = snapshot_ids_lock(m);
			mids_remove(&m->ids, h.a, h.b);
			if (locked)
				snapshot_ids_unlock(m);
			break;
		}
		case U_MAP: {
			mmap64 *map = map_numbered(m, h.arr);
			if (h.b)
				mmap64_put(map, h.a, h.c);
			else
				mmap64_del(map, h.a);
			break;
		}
		}
	}
	m->undo = saved;
}

/* ------------------------------------------------------------------ */
/* Rebuilding the indexes (after a snapshot's load)                    */
/* ------------------------------------------------------------------ */

/* Each index is sized once for what was loaded (no reader exists yet):
 * grown by doubling instead, each would copy its slots at every doubling
 * and wait for readers to leave the array it outgrew (core/mtable.h). */

/* The streams' index, and each stream's published head. */
static int reindex_streams(model *m)
{
	uint32_t n = marray_count(&m->arr[MA_STREAMS]);
	if (mindex_reset(&m->streams, n) != 0)
		return LD_E(INTERNAL);
	for (uint32_t i = 0; i < n; i++) {
		const mstream *st = ms_stream(m, i);
		if (st->flags & MS_DEAD)
			continue;
		uint64_t h = ms_name_hash(m, st->kind, (const char *)mbytes_at(&m->names, st->name),
					  st->name_len);
		if (mindex_add(&m->streams, h, i) != 0)
			return LD_E(INTERNAL);
		atomic_store_explicit((_Atomic uint64_t *)marray_at(&m->pub, i), st->head,
				      memory_order_release);
	}
	return 0;
}

/* The persons' and the stations' indexes. */
static int reindex_people(model *m)
{
	if (mindex_reset(&m->persons, marray_count(&m->arr[MA_MEMBERS])) != 0 ||
	    mindex_reset(&m->stations, marray_count(&m->arr[MA_STATIONS])) != 0)
		return LD_E(INTERNAL);
	uint32_t n = marray_count(&m->arr[MA_MEMBERS]);
	for (uint32_t i = 0; i < n; i++) {
		const mmember *mm = ms_member(m, i);
		if (mm->status != MEMBER_NONE &&
		    mindex_add(&m->persons, ms_person_hash(m, mm->hash), i) != 0)
			return LD_E(INTERNAL);
	}
	n = marray_count(&m->arr[MA_STATIONS]);
	for (uint32_t i = 0; i < n; i++) {
		const mstation *st = ms_station(m, i);
		if (st->open &&
		    mindex_add(&m->stations,
			       mt_hash(m->seed ^ 0x57, mbytes_at(&m->names, st->name), st->name_len),
			       i) != 0)
			return LD_E(INTERNAL);
	}
	return 0;
}

static void *reindex_main(void *arg)
{
	ms_reindexing *x = arg;
	x->rc = reindex_streams(x->m);
	return NULL;
}

void ms_reindex_start(model *m, ms_reindexing *x)
{
	x->m = m;
	x->rc = 0;
	x->started = pthread_create(&x->thread, NULL, reindex_main, x) == 0;
	if (!x->started)
		x->rc = reindex_streams(m); /* no thread: here, now */
}

int ms_reindex_finish(ms_reindexing *x)
{
	int rc = reindex_people(x->m);
	if (x->started)
		pthread_join(x->thread, NULL);
	x->started = 0;
	return rc ? rc : x->rc;
}
