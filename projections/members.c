/*
 * members.c — the "members" projection: every member's current view, and
 * every organisation's coverage aggregated over its subtree.
 *
 * A member's view is a fold of its stream (member_step). An organisation's
 * figures are sums of its members' contributions: active or not, home
 * organisation, group, channel, real name, dues paid-through month,
 * affiliations. Any change to a member — an event, or a void or amendment
 * that re-folds its stream — subtracts the old contribution along the old
 * organisation's chain of ancestors and adds the new one along the new
 * chain. So a transfer moves a member between subtrees at once, and a
 * correction is taken back exactly. A coverage query reads one record per
 * organisation (and the dues months of it): it never scans members.
 */
#include "members.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec.h"
#include "kinds.h"
#include "model.h"
#include "roles.h"
#include "wire.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "members.c's w64/r64 byte-swap to big-endian: little-endian hosts only"
#endif

/* The databases of this projection (members.h numbers them). */
static const char *const dbs[MEMBERS_DB__COUNT] = {
	[MEMBERS_DB_VIEWS] = "members",	    [MEMBERS_DB_ORGS] = "orgs",
	[MEMBERS_DB_CHILDREN] = "children", [MEMBERS_DB_MONTHS] = "months",
	[MEMBERS_DB_ESTIMATES] = "estimates",
};
#define DB(i) proj_db(&members_projection, i)

#define NGROUPS 12   /* WorkerGroup values 0 … 11 */
#define NCHANNELS 6  /* JoinChannel values 0 … 5 */
#define MAX_AFF 8
#define MAX_DEPTH 16 /* organisation chain, root included */
#define STR_MAX 255  /* longer names and platforms are cut at a UTF-8 boundary */

/* ================================================================== */
/* Member views                                                         */
/* ================================================================== */

typedef struct mview {
	uint8_t status; /* LEDGER__MEMBER_STATUS__*, 0 = no member */
	uint8_t group, employment, real_name, path, channel, end_reason, naff;
	uint32_t region, paid_through, rejoins, transfers;
	int64_t first_joined, last_joined, ended_at, paid_fen;
	uint64_t version, last_seq;
	char org[LD_ID_MAX + 1];
	char platform[STR_MAX + 1];
	struct {
		uint8_t kind;
		char org[LD_ID_MAX + 1];
	} aff[MAX_AFF];
} mview;

/* A little byte writer/reader for the records of this file. */
typedef struct wbuf {
	uint8_t *p;
} wbuf;

static void w8(wbuf *w, uint8_t v)
{
	*w->p++ = v;
}
/* Big-endian, as ld_put_be64 and ld_get_be64, in one byte swap: an
 * organisation's record has twenty-four such fields. */
static void w64(wbuf *w, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(w->p, &v, 8);
	w->p += 8;
}
/* Varints (protobuf's), signed ones zigzagged: a view's counters, months and
 * seqs are small and its times share their high bytes, so most of its
 * fields take one to three bytes instead of eight (a view of the bench's
 * province: 109 -> about 50 bytes, and LMDB pages to write at a flush in
 * proportion). */
static void wvar(wbuf *w, uint64_t v)
{
	w->p = codec_put_varint(w->p, v);
}
static void wsvar(wbuf *w, int64_t v)
{
	wvar(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}
static void wstr(wbuf *w, const char *s)
{
	size_t n = strlen(s);
	*w->p++ = (uint8_t)n;
	memcpy(w->p, s, n);
	w->p += n;
}

typedef struct rbuf {
	const uint8_t *p, *end;
	int bad;
} rbuf;

static uint8_t r8(rbuf *r)
{
	if (r->p + 1 > r->end) {
		r->bad = 1;
		return 0;
	}
	return *r->p++;
}
static uint64_t r64(rbuf *r)
{
	if (r->p + 8 > r->end) {
		r->bad = 1;
		return 0;
	}
	uint64_t v;
	memcpy(&v, r->p, 8);
	r->p += 8;
	return __builtin_bswap64(v);
}
static uint64_t rvar(rbuf *r)
{
	uint64_t v;
	const uint8_t *p = r->bad ? NULL : wire_varint(r->p, r->end, &v);
	if (!p) {
		r->bad = 1;
		return 0;
	}
	r->p = p;
	return v;
}
static int64_t rsvar(rbuf *r)
{
	uint64_t v = rvar(r);
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}
static void rstr(rbuf *r, char *out, size_t cap)
{
	uint8_t n = r8(r);
	if (r->bad || r->p + n > r->end || n >= cap) {
		r->bad = 1;
		out[0] = 0;
		return;
	}
	memcpy(out, r->p, n);
	out[n] = 0;
	r->p += n;
}

/* Copies s into out (cap bytes), cutting at a UTF-8 boundary. */
static void copy_str(char *out, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(out, s, n);
	out[n] = 0;
}

static size_t mview_encode(const mview *m, uint8_t *buf)
{
	wbuf w = {buf};
	w8(&w, m->status);
	w8(&w, m->group);
	w8(&w, m->employment);
	w8(&w, m->real_name);
	w8(&w, m->path);
	w8(&w, m->channel);
	w8(&w, m->end_reason);
	wvar(&w, m->region);
	wvar(&w, m->paid_through);
	wvar(&w, m->rejoins);
	wvar(&w, m->transfers);
	wsvar(&w, m->first_joined);
	wsvar(&w, (int64_t)((uint64_t)m->last_joined - (uint64_t)m->first_joined));
	wsvar(&w, m->ended_at);
	wsvar(&w, m->paid_fen);
	wvar(&w, m->version);
	wvar(&w, m->last_seq);
	wstr(&w, m->org);
	wstr(&w, m->platform);
	w8(&w, m->naff);
	for (int i = 0; i < m->naff; i++) {
		w8(&w, m->aff[i].kind);
		wstr(&w, m->aff[i].org);
	}
	return (size_t)(w.p - buf);
}

/* Every field is set (no memset of the whole view: its strings and
 * affiliations are most of its 900 bytes, and only aff[0, naff) is read). */
static int mview_decode(const store_val *v, mview *m)
{
	rbuf r = {v->data, (const uint8_t *)v->data + v->len, 0};
	m->status = r8(&r);
	m->group = r8(&r);
	m->employment = r8(&r);
	m->real_name = r8(&r);
	m->path = r8(&r);
	m->channel = r8(&r);
	m->end_reason = r8(&r);
	m->region = (uint32_t)rvar(&r);
	m->paid_through = (uint32_t)rvar(&r);
	m->rejoins = (uint32_t)rvar(&r);
	m->transfers = (uint32_t)rvar(&r);
	m->first_joined = rsvar(&r);
	m->last_joined = (int64_t)((uint64_t)m->first_joined + (uint64_t)rsvar(&r));
	m->ended_at = rsvar(&r);
	m->paid_fen = rsvar(&r);
	m->version = rvar(&r);
	m->last_seq = rvar(&r);
	rstr(&r, m->org, sizeof(m->org));
	rstr(&r, m->platform, sizeof(m->platform));
	m->naff = r8(&r);
	if (m->naff > MAX_AFF) {
		m->naff = 0;
		return LD_E(STORAGE);
	}
	for (int i = 0; i < m->naff; i++) {
		m->aff[i].kind = r8(&r);
		rstr(&r, m->aff[i].org, sizeof(m->aff[i].org));
	}
	return r.bad ? LD_E(STORAGE) : 0;
}

/* A member's view in the state a query reads (t), or as applied so far
 * (the runner: c). No view: a zeroed one (status 0). */
static int mview_read(const kv_read *t, const char *id, mview *m)
{
	store_val v;
	int rc = kvr_get(t, DB(MEMBERS_DB_VIEWS), id, strlen(id), &v);
	if (rc == LD_E(NOT_FOUND)) {
		memset(m, 0, sizeof(*m));
		return 0;
	}
	return rc ? rc : mview_decode(&v, m);
}

static int mview_load(proj_ctx *c, const char *id, mview *m)
{
	store_val v;
	int rc = proj_get(c, DB(MEMBERS_DB_VIEWS), id, strlen(id), &v);
	if (rc == LD_E(NOT_FOUND)) {
		memset(m, 0, sizeof(*m));
		return 0;
	}
	return rc ? rc : mview_decode(&v, m);
}

static int mview_save(proj_ctx *c, const char *id, const mview *m)
{
	uint8_t buf[sizeof(mview) + 64];
	if (m->status == 0)
		return proj_del(c, DB(MEMBERS_DB_VIEWS), id, strlen(id));
	return proj_put(c, DB(MEMBERS_DB_VIEWS), id, strlen(id), buf, mview_encode(m, buf));
}

static void aff_remove(mview *m, const char *org)
{
	for (int i = 0; i < m->naff; i++)
		if (strcmp(m->aff[i].org, org) == 0) {
			for (int j = i; j + 1 < m->naff; j++)
				m->aff[j] = m->aff[j + 1]; /* keep the order: deterministic */
			m->naff--;
			return;
		}
}

/* One event of a member's stream, folded into its view: a case for each
 * kind that changes what the view shows (forgetting and services do not).
 * The log holds only events that passed the write model, so nothing here is
 * rejected. */
static void member_step(mview *m, const Ledger__Event *ev)
{
	m->version = ev->version;
	m->last_seq = ev->seq;
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_MEMBER_JOINED: {
		const Ledger__MemberJoined *j = ev->member_joined;
		if (m->status == 0)
			m->first_joined = ev->occurred_at;
		else if (m->status == LEDGER__MEMBER_STATUS__ENDED)
			m->rejoins++;
		m->status = LEDGER__MEMBER_STATUS__ACTIVE;
		copy_str(m->org, sizeof(m->org), j->org_id);
		m->group = (uint8_t)j->worker_group;
		m->employment = (uint8_t)j->employment;
		copy_str(m->platform, sizeof(m->platform), j->platform);
		m->region = j->region;
		m->real_name = j->real_name;
		m->path = (uint8_t)j->join_path;
		m->channel = (uint8_t)j->channel;
		m->last_joined = ev->occurred_at;
		m->ended_at = 0;
		m->end_reason = 0;
		m->naff = 0;
		break;
	}
	case LEDGER__EVENT__BODY_MEMBER_AFFILIATED:
		if (m->naff < MAX_AFF) {
			m->aff[m->naff].kind = (uint8_t)ev->member_affiliated->kind;
			copy_str(m->aff[m->naff].org, sizeof(m->aff[0].org),
				 ev->member_affiliated->org_id);
			m->naff++;
		}
		break;
	case LEDGER__EVENT__BODY_MEMBER_DISAFFILIATED:
		aff_remove(m, ev->member_disaffiliated->org_id);
		break;
	case LEDGER__EVENT__BODY_MEMBER_TRANSFERRED:
		copy_str(m->org, sizeof(m->org), ev->member_transferred->to_org);
		aff_remove(m, ev->member_transferred->to_org);
		m->transfers++;
		break;
	case LEDGER__EVENT__BODY_TRANSFER_ACCEPTED: /* the release moved no one */
		copy_str(m->org, sizeof(m->org), ev->transfer_accepted->to_org);
		aff_remove(m, ev->transfer_accepted->to_org);
		m->transfers++;
		break;
	case LEDGER__EVENT__BODY_MEMBERSHIP_ENDED:
		m->status = LEDGER__MEMBER_STATUS__ENDED;
		m->ended_at = ev->occurred_at;
		m->end_reason = (uint8_t)ev->membership_ended->reason;
		m->naff = 0;
		break;
	case LEDGER__EVENT__BODY_PROFILE_CHANGED: {
		const Ledger__ProfileChanged *p = ev->profile_changed;
		if (p->has_worker_group)
			m->group = (uint8_t)p->worker_group;
		if (p->has_employment)
			m->employment = (uint8_t)p->employment;
		if (ld_has(p->platform))
			copy_str(m->platform, sizeof(m->platform), p->platform);
		if (p->has_region)
			m->region = p->region;
		if (p->has_real_name)
			m->real_name = p->real_name;
		break;
	}
	case LEDGER__EVENT__BODY_DUES_PAID:
		m->paid_fen += ev->dues_paid->amount_fen;
		if (ev->dues_paid->period_to > m->paid_through)
			m->paid_through = ev->dues_paid->period_to;
		break;
	case LEDGER__EVENT__BODY_DUES_WAIVED: /* a waived month counts as settled */
		if (ev->dues_waived->period_to > m->paid_through)
			m->paid_through = ev->dues_waived->period_to;
		break;
	case LEDGER__EVENT__BODY_DUES_REFUNDED:
		m->paid_fen -= ev->dues_refunded->amount_fen;
		break;
	default:
		break;
	}
}

/* ================================================================== */
/* Organisation aggregates                                              */
/* ================================================================== */

typedef struct org_agg {
	uint8_t kind, dissolved;
	uint32_t region;
	uint64_t members, direct, affiliated, units, units_covered, real_name;
	uint64_t by_group[NGROUPS];
	uint64_t by_channel[NCHANNELS];
	char parent[LD_ID_MAX + 1];
	char name[STR_MAX + 1];
} org_agg;

static int grassroots(unsigned kind)
{
	return kind >= LEDGER__ORG_KIND__INDUSTRY_UNION;
}

static size_t org_encode(const org_agg *o, uint8_t *buf)
{
	wbuf w = {buf};
	w8(&w, o->kind);
	w8(&w, o->dissolved);
	w64(&w, o->region);
	w64(&w, o->members);
	w64(&w, o->direct);
	w64(&w, o->affiliated);
	w64(&w, o->units);
	w64(&w, o->units_covered);
	w64(&w, o->real_name);
	for (int i = 0; i < NGROUPS; i++)
		w64(&w, o->by_group[i]);
	for (int i = 0; i < NCHANNELS; i++)
		w64(&w, o->by_channel[i]);
	wstr(&w, o->parent);
	wstr(&w, o->name);
	return (size_t)(w.p - buf);
}

static int org_decode(const store_val *v, org_agg *o)
{
	rbuf r = {v->data, (const uint8_t *)v->data + v->len, 0};
	memset(o, 0, sizeof(*o));
	o->kind = r8(&r);
	o->dissolved = r8(&r);
	o->region = (uint32_t)r64(&r);
	o->members = r64(&r);
	o->direct = r64(&r);
	o->affiliated = r64(&r);
	o->units = r64(&r);
	o->units_covered = r64(&r);
	o->real_name = r64(&r);
	for (int i = 0; i < NGROUPS; i++)
		o->by_group[i] = r64(&r);
	for (int i = 0; i < NCHANNELS; i++)
		o->by_channel[i] = r64(&r);
	rstr(&r, o->parent, sizeof(o->parent));
	rstr(&r, o->name, sizeof(o->name));
	return r.bad ? LD_E(STORAGE) : 0;
}

/*
 * Organisation aggregates are few and hot: every member event changes the
 * records of its organisation's whole chain. They are kept decoded in a
 * write-back cache over the projection's state (proj_get/proj_put), and
 * written into it by members_flush before each flush of the projections;
 * the cache lives on across flushes (clean), and members_discard drops it
 * (a failed apply, or memory to give back). Only one thread at a time
 * applies events.
 */
typedef struct org_slot {
	uint64_t hash;
	uint8_t dirty;
	/* The parent's slot once a walk up the chain has found it (NULL: not
	 * yet, or a root): an organisation's parent never changes, and the
	 * cache frees its slots all at once, so it holds while this one does.
	 * A member's contribution walks its chain by these, not by hashing
	 * each ancestor's id. */
	struct org_slot *up;
	org_agg o;
	char id[LD_ID_MAX + 1];
} org_slot;

/* Slots are allocated one by one, so a slot's address holds while the
 * table grows: the chain of an organisation is a list of them. */
typedef struct org_cache {
	org_slot **slots;
	size_t cap, n;
	uint64_t emptied; /* how many times a full cache was flushed and emptied */
	org_slot **dirty; /* the slots changed since the last flush */
	size_t ndirty, dcap;
} org_cache;

/*
 * Changes to the dues-month counts are summed per (organisation, month) in
 * memory between flushes, like the organisation records, and added into the
 * state by members_flush: a payment moves a member's month in every
 * organisation of its chain, and most of those cancel or repeat in between.
 */
typedef struct month_slot {
	uint64_t hash; /* month_hash */
	int64_t delta;
	uint8_t klen, used;
	uint8_t key[LD_ID_MAX + 5];
} month_slot;

typedef struct month_cache {
	month_slot *slots;
	size_t cap, n;
} month_cache;

/* The projection's state in one runner (members_create): its two caches. */
typedef struct mstate {
	org_cache cache;
	month_cache months;
} mstate;

#define STATE(c) ((mstate *)(c)->state)

#define CACHE_MAX 65536 /* organisations (or months) kept before an early flush */

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	while (n--)
		h = (h ^ *p++) * 1099511628211ULL;
	return h;
}

static org_slot **cache_slot(org_cache *cache, const char *id, size_t n, uint64_t h)
{
	for (size_t j = h & (cache->cap - 1);; j = (j + 1) & (cache->cap - 1)) {
		org_slot *sl = cache->slots[j];
		if (!sl || (sl->hash == h && memcmp(sl->id, id, n + 1) == 0))
			return &cache->slots[j];
	}
}

static int cache_grow(org_cache *cache)
{
	size_t cap = cache->cap ? cache->cap * 2 : 256;
	org_slot **slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return LD_E(INTERNAL);
	for (size_t i = 0; i < cache->cap; i++) {
		org_slot *sl = cache->slots[i];
		if (!sl)
			continue;
		size_t j = sl->hash & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = sl;
	}
	free(cache->slots);
	cache->slots = slots;
	cache->cap = cap;
	return 0;
}

static int months_flush(month_cache *months, proj_ctx *c);
static void months_discard(month_cache *months);

/* Marks a slot changed: written into the state at the next flush. If the
 * list cannot grow, the slot is written at once. */
static void org_dirty(proj_ctx *c, org_slot *sl)
{
	org_cache *cache = &STATE(c)->cache;
	if (sl->dirty)
		return;
	if (cache->ndirty == cache->dcap) {
		size_t cap = cache->dcap ? cache->dcap * 2 : 64;
		org_slot **d = realloc(cache->dirty, cap * sizeof(*d));
		if (!d) {
			uint8_t buf[sizeof(org_agg) + 64];
			(void)proj_put(c, DB(MEMBERS_DB_ORGS), sl->id, strlen(sl->id), buf,
				       org_encode(&sl->o, buf));
			return;
		}
		cache->dirty = d;
		cache->dcap = cap;
	}
	cache->dirty[cache->ndirty++] = sl;
	sl->dirty = 1;
}

static int members_flush(proj_ctx *c)
{
	uint8_t buf[sizeof(org_agg) + 64];
	org_cache *cache = &STATE(c)->cache;
	int rc = months_flush(&STATE(c)->months, c);
	if (rc)
		return rc;
	while (cache->ndirty) {
		org_slot *sl = cache->dirty[cache->ndirty - 1];
		if ((rc = proj_put(c, DB(MEMBERS_DB_ORGS), sl->id, strlen(sl->id), buf,
				   org_encode(&sl->o, buf))))
			return rc;
		sl->dirty = 0;
		cache->ndirty--;
	}
	/* The months' changes are in the state now: their table goes. */
	months_discard(&STATE(c)->months);
	return 0;
}

static void members_discard(void *state)
{
	mstate *ms = state;
	for (size_t i = 0; i < ms->cache.cap; i++)
		free(ms->cache.slots[i]);
	free(ms->cache.slots);
	free(ms->cache.dirty);
	memset(&ms->cache, 0, sizeof(ms->cache));
	months_discard(&ms->months);
}

static int members_create(void **state, const proj_options *o, ld_errinfo *e)
{
	(void)o;
	if (!(*state = calloc(1, sizeof(mstate))))
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	return 0;
}

static void members_destroy(void *state)
{
	if (state)
		members_discard(state);
	free(state);
}

/* For queries: the record in the state they read (the runner has moved
 * the cache into the table before a query reads it in memory). */
static int org_read(const kv_read *t, const char *id, org_agg *o)
{
	store_val v;
	int rc = kvr_get(t, DB(MEMBERS_DB_ORGS), id, strlen(id), &v);
	return rc ? rc : org_decode(&v, o);
}

/*
 * For the applying thread: the organisation's aggregate in the cache (read
 * from the projection's state the first time), changed in place by the
 * caller, who marks it dirty. NULL with *rc: LD_E(NOT_FOUND), a storage
 * error, or out of memory. A full cache is flushed into the state and
 * emptied first: slots got before are not valid after the next org_get.
 */
static org_slot *org_get(proj_ctx *c, const char *id, int *rc)
{
	org_cache *cache = &STATE(c)->cache;
	size_t n = strlen(id);
	uint64_t h = hash_bytes((const uint8_t *)id, n);
	*rc = 0;
	if (n > LD_ID_MAX) {
		*rc = LD_E(NOT_FOUND);
		return NULL;
	}
	if (cache->cap) {
		org_slot *sl = *cache_slot(cache, id, n, h);
		if (sl)
			return sl;
	}
	if (cache->n >= CACHE_MAX) {
		if ((*rc = members_flush(c)))
			return NULL;
		mstate *ms = STATE(c);
		for (size_t i = 0; i < ms->cache.cap; i++)
			free(ms->cache.slots[i]);
		memset(ms->cache.slots, 0, ms->cache.cap * sizeof(*ms->cache.slots));
		ms->cache.n = 0;
		ms->cache.emptied++;
	}
	if ((cache->n + 1) * 2 > cache->cap && (*rc = cache_grow(cache)))
		return NULL;
	store_val v;
	org_slot *sl = malloc(sizeof(*sl));
	if (!sl) {
		*rc = LD_E(INTERNAL);
		return NULL;
	}
	if ((*rc = proj_get(c, DB(MEMBERS_DB_ORGS), id, n, &v)) || (*rc = org_decode(&v, &sl->o))) {
		free(sl);
		return NULL;
	}
	sl->hash = h;
	sl->dirty = 0;
	sl->up = NULL;
	memcpy(sl->id, id, n + 1);
	*cache_slot(cache, id, n, h) = sl;
	cache->n++;
	return sl;
}

/* A new organisation's aggregate, in the cache (dirty). */
static int org_new(proj_ctx *c, const char *id, const org_agg *o)
{
	uint8_t buf[sizeof(org_agg) + 64];
	int rc;
	if ((rc = proj_put(c, DB(MEMBERS_DB_ORGS), id, strlen(id), buf, org_encode(o, buf))))
		return rc;
	org_slot *sl = org_get(c, id, &rc);
	return sl ? 0 : rc;
}

/* The chain of org, nearest first, as cache slots (valid until the next
 * org_get): org, then its ancestors up to the root, at most MAX_DEPTH (as
 * ld_org_chain cuts it). Each parent is looked up once per slot and then
 * followed by its pointer (org_slot.up). */
static int chain_slots(proj_ctx *c, const char *org, org_slot *out[MAX_DEPTH], int *n)
{
	org_cache *cache = &STATE(c)->cache;
	/* A full cache emptied during the walk frees the slots kept before
	 * it: then once more, over the emptied cache (it cannot fill again). */
	for (int pass = 0; pass < 2; pass++) {
		int rc;
		org_slot *sl = org_get(c, org, &rc);
		if (!sl)
			return rc == LD_E(NOT_FOUND) ? LD_E(INTERNAL) : rc;
		uint64_t emptied = cache->emptied;
		for (*n = 0;;) {
			out[(*n)++] = sl;
			if (!sl->o.parent[0] || *n == MAX_DEPTH)
				return 0;
			if (!sl->up) {
				org_slot *up = org_get(c, sl->o.parent, &rc);
				if (!up)
					return rc == LD_E(NOT_FOUND) ? LD_E(INTERNAL) : rc;
				if (cache->emptied != emptied)
					break; /* sl is gone */
				sl->up = up;
			}
			sl = sl->up;
		}
	}
	return LD_E(INTERNAL);
}

static size_t month_key(uint8_t *key, const char *org, uint32_t month)
{
	size_t n = strlen(org);
	memcpy(key, org, n);
	key[n] = 0;
	key[n + 1] = (uint8_t)(month >> 24);
	key[n + 2] = (uint8_t)(month >> 16);
	key[n + 3] = (uint8_t)(month >> 8);
	key[n + 4] = (uint8_t)month;
	return n + 5;
}

/* Writes a net change of one (organisation, month) count into the state. */
static int month_write(proj_ctx *c, const uint8_t *key, size_t klen, int64_t delta)
{
	uint8_t val[8];
	store_val v;
	uint64_t count = 0;
	int rc = proj_get(c, DB(MEMBERS_DB_MONTHS), key, klen, &v);
	if (rc == 0)
		count = ld_get_be64(v.data);
	else if (rc != LD_E(NOT_FOUND))
		return rc;
	count += (uint64_t)delta;
	if (count == 0)
		return proj_del(c, DB(MEMBERS_DB_MONTHS), key, klen);
	ld_put_be64(val, count);
	return proj_put(c, DB(MEMBERS_DB_MONTHS), key, klen, val, 8);
}

/* The hash of (organisation, month), from the organisation's slot's: no
 * pass over the key's bytes. */
static uint64_t month_hash(uint64_t org_hash, uint32_t month)
{
	uint64_t h = (org_hash ^ month) * 0x9e3779b97f4a7c15ULL;
	return h ^ h >> 29;
}

static month_slot *months_find(month_cache *months, const uint8_t *key, size_t klen, uint64_t h)
{
	if ((months->n + 1) * 2 > months->cap) {
		size_t cap = months->cap ? months->cap * 2 : 1024;
		month_slot *old = months->slots, *slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return NULL;
		for (size_t i = 0; i < months->cap; i++) {
			if (!old[i].used)
				continue;
			size_t j = old[i].hash & (cap - 1);
			while (slots[j].used)
				j = (j + 1) & (cap - 1);
			slots[j] = old[i];
		}
		free(old);
		months->slots = slots;
		months->cap = cap;
	}
	for (size_t j = h & (months->cap - 1);; j = (j + 1) & (months->cap - 1)) {
		month_slot *sl = &months->slots[j];
		if (!sl->used) {
			sl->used = 1;
			sl->hash = h;
			sl->klen = (uint8_t)klen;
			memcpy(sl->key, key, klen);
			months->n++;
			return sl;
		}
		if (sl->hash == h && sl->klen == klen && memcmp(sl->key, key, klen) == 0)
			return sl;
	}
}

static int months_flush(month_cache *months, proj_ctx *c)
{
	for (size_t i = 0; i < months->cap; i++) {
		month_slot *sl = &months->slots[i];
		if (!sl->used || sl->delta == 0)
			continue;
		int rc = month_write(c, sl->key, sl->klen, sl->delta);
		if (rc)
			return rc;
		sl->delta = 0;
	}
	return 0;
}

static void months_discard(month_cache *months)
{
	free(months->slots);
	memset(months, 0, sizeof(*months));
}

/* Adds sign to the count of the organisation of slot org in month. */
static int month_add(proj_ctx *c, const org_slot *org, uint32_t month, int sign)
{
	month_cache *months = &STATE(c)->months;
	uint8_t key[LD_ID_MAX + 5];
	size_t klen = month_key(key, org->id, month);
	if (months->n >= CACHE_MAX) {
		int rc = months_flush(months, c);
		if (rc)
			return rc;
		months_discard(months);
	}
	month_slot *sl = months_find(months, key, klen, month_hash(org->hash, month));
	if (!sl) /* no memory for the cache: write through */
		return month_write(c, key, klen, sign);
	sl->delta += sign;
	return 0;
}

/* Adds (sign +1) or removes (-1) what active member m counts for in its
 * organisation's chain (slots chain[0, n): chain_slots of m->org): the
 * aggregates, then the dues months. Touches no organisation slot but
 * those, so the chain stays valid for another call. */
static int contribute_chain(proj_ctx *c, const mview *m, int sign, org_slot *const *chain, int n)
{
	uint64_t s = (uint64_t)(int64_t)sign;
	int rc;
	/* Its own organisation first: does it gain or lose its first member? */
	org_agg *own = &chain[0]->o;
	int covered_change = grassroots(own->kind) && ((sign > 0 && own->direct == 0) ||
						       (sign < 0 && own->direct == 1));
	own->direct += s;
	for (int i = 0; i < n; i++) {
		org_agg *o = &chain[i]->o;
		o->members += s;
		if (m->group < NGROUPS)
			o->by_group[m->group] += s;
		if (m->channel < NCHANNELS)
			o->by_channel[m->channel] += s;
		if (m->real_name)
			o->real_name += s;
		if (covered_change)
			o->units_covered += s;
		org_dirty(c, chain[i]);
	}
	/* The months after the aggregates: month_add never touches the
	 * organisation cache, so the slots above stay valid until here. */
	for (int i = 0; i < n; i++)
		if ((rc = month_add(c, chain[i], m->paid_through, sign)))
			return rc;
	return 0;
}

/* The same for active member m's affiliations (each walks a chain: slots
 * got before are not valid after). */
static int contribute_aff(proj_ctx *c, const mview *m, int sign)
{
	org_slot *chain[MAX_DEPTH];
	uint64_t s = (uint64_t)(int64_t)sign;
	int n, rc;
	for (int a = 0; a < m->naff; a++) {
		if ((rc = chain_slots(c, m->aff[a].org, chain, &n)))
			return rc;
		for (int i = 0; i < n; i++) {
			chain[i]->o.affiliated += s;
			org_dirty(c, chain[i]);
		}
	}
	return 0;
}

/* Adds (sign +1) or removes (-1) what member m counts for, everywhere. */
static int contribute(proj_ctx *c, const mview *m, int sign)
{
	org_slot *chain[MAX_DEPTH];
	int n, rc;
	if (m->status != LEDGER__MEMBER_STATUS__ACTIVE)
		return 0;
	if ((rc = chain_slots(c, m->org, chain, &n)) || (rc = contribute_chain(c, m, sign, chain, n)))
		return rc;
	return contribute_aff(c, m, sign);
}

/* Moves what a member counts for from old to new. An active member that
 * stays active in the same organisation (most changes: a payment, a
 * profile) walks that chain once for both; the sums come out as two
 * contribute calls would leave them. */
static int recontribute(proj_ctx *c, const mview *old, const mview *new)
{
	org_slot *chain[MAX_DEPTH];
	int n, rc;
	if (old->status != LEDGER__MEMBER_STATUS__ACTIVE ||
	    new->status != LEDGER__MEMBER_STATUS__ACTIVE || strcmp(old->org, new->org) != 0)
		return (rc = contribute(c, old, -1)) ? rc : contribute(c, new, +1);
	if ((rc = chain_slots(c, old->org, chain, &n)) ||
	    (rc = contribute_chain(c, old, -1, chain, n)) ||
	    (rc = contribute_chain(c, new, +1, chain, n)) || (rc = contribute_aff(c, old, -1)))
		return rc;
	return contribute_aff(c, new, +1);
}

/* What counts for the aggregates, to skip work when nothing changed. */
static int same_contribution(const mview *a, const mview *b)
{
	if (a->status != b->status || a->group != b->group || a->channel != b->channel ||
	    a->real_name != b->real_name || a->paid_through != b->paid_through ||
	    a->naff != b->naff || strcmp(a->org, b->org) != 0)
		return 0;
	for (int i = 0; i < a->naff; i++)
		if (strcmp(a->aff[i].org, b->aff[i].org) != 0)
			return 0;
	return 1;
}

static int member_change(proj_ctx *c, const char *id, const mview *old, const mview *new)
{
	int rc;
	if (!same_contribution(old, new) && (rc = recontribute(c, old, new)))
		return rc;
	return mview_save(c, id, new);
}

/* ================================================================== */
/* Applying events                                                      */
/* ================================================================== */


/*
 * Re-folding a member's stream. A payment refunded in full no longer settles
 * its months (paid_through), though its money still shows in paid_fen with
 * the refunds taken off: the fold runs twice, first summing the refunds of
 * each payment, then folding with the fully refunded payments' periods left
 * out. A partial refund keeps the months (dues are flexible, DOMAIN.md).
 */
#define MAX_REFUNDED 64

typedef struct refold {
	mview m;
	size_t n;
	struct {
		uint64_t paid_seq;
		int64_t refunded;
	} r[MAX_REFUNDED];
	int pass;
} refold;

static int64_t *refunded_of(refold *f, uint64_t paid_seq, int add)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->r[i].paid_seq == paid_seq)
			return &f->r[i].refunded;
	if (!add || f->n == MAX_REFUNDED)
		return NULL; /* more refunded payments than that: the oldest keep their months */
	f->r[f->n].paid_seq = paid_seq;
	f->r[f->n].refunded = 0;
	return &f->r[f->n++].refunded;
}

static int refold_step(void *arg, const Ledger__Event *ev)
{
	refold *f = arg;
	if (f->pass == 0) {
		if (ev->body_case == LEDGER__EVENT__BODY_DUES_REFUNDED) {
			int64_t *x = refunded_of(f, ev->dues_refunded->paid_seq, 1);
			if (x)
				*x += ev->dues_refunded->amount_fen;
		}
		return 0;
	}
	if (ev->body_case == LEDGER__EVENT__BODY_DUES_PAID) {
		int64_t *x = refunded_of(f, ev->seq, 0);
		if (x && *x >= ev->dues_paid->amount_fen) {
			f->m.version = ev->version;
			f->m.last_seq = ev->seq;
			f->m.paid_fen += ev->dues_paid->amount_fen; /* money, not months */
			return 0;
		}
	}
	member_step(&f->m, ev);
	return 0;
}

/* Re-derives member id from its stream up to `upto` (exclusive), as of the
 * event `at` (a correction, or a refund: its version and seq). */
static int member_refold(proj_ctx *c, const char *id, const Ledger__Event *at, uint64_t upto)
{
	char stream[LD_STREAM_MAX];
	mview old;
	refold *f = calloc(1, sizeof(*f));
	int rc;
	if (!f)
		return LD_E(INTERNAL);
	snprintf(stream, sizeof(stream), "member/%s", id);
	if ((rc = mview_load(c, id, &old)) ||
	    (rc = proj_fold_stream(c, stream, upto, refold_step, f)))
		goto out;
	f->pass = 1;
	if ((rc = proj_fold_stream(c, stream, upto, refold_step, f)))
		goto out;
	if (f->m.status) {
		f->m.version = at->version;
		f->m.last_seq = at->seq;
	}
	rc = member_change(c, id, &old, &f->m);
out:
	free(f);
	return rc;
}

static int org_registered(proj_ctx *c, const Ledger__OrgRegistered *r)
{
	org_agg o;
	int rc;
	memset(&o, 0, sizeof(o));
	o.kind = (uint8_t)r->kind;
	o.region = r->region;
	copy_str(o.parent, sizeof(o.parent), ld_has(r->parent_id) ? r->parent_id : "");
	copy_str(o.name, sizeof(o.name), r->name);
	if ((rc = org_new(c, r->org_id, &o)))
		return rc;
	if (o.parent[0]) {
		uint8_t key[2 * LD_ID_MAX + 2];
		size_t pn = strlen(o.parent), cn = strlen(r->org_id);
		memcpy(key, o.parent, pn);
		key[pn] = 0;
		memcpy(key + pn + 1, r->org_id, cn);
		if ((rc = proj_put(c, DB(MEMBERS_DB_CHILDREN), key, pn + 1 + cn, "", 0)))
			return rc;
	}
	if (!grassroots(o.kind))
		return 0;
	org_slot *chain[MAX_DEPTH];
	int n;
	if ((rc = chain_slots(c, r->org_id, chain, &n)))
		return rc;
	for (int i = 0; i < n; i++) {
		chain[i]->o.units++;
		org_dirty(c, chain[i]);
	}
	return 0;
}

static int org_dissolved(proj_ctx *c, const char *id)
{
	int rc;
	org_slot *sl = org_get(c, id, &rc);
	if (!sl)
		return rc;
	sl->o.dissolved = 1;
	org_dirty(c, sl);
	if (!grassroots(sl->o.kind))
		return 0;
	org_slot *chain[MAX_DEPTH];
	int n;
	if ((rc = chain_slots(c, id, chain, &n)))
		return rc;
	for (int i = 0; i < n; i++) {
		chain[i]->o.units--;
		org_dirty(c, chain[i]);
	}
	return 0;
}

/* The name of an organisation, as its stream has it at `upto`. */
static int name_step(void *arg, const Ledger__Event *ev)
{
	org_agg *o = arg;
	if (ev->body_case == LEDGER__EVENT__BODY_ORG_REGISTERED)
		copy_str(o->name, sizeof(o->name), ev->org_registered->name);
	else if (ev->body_case == LEDGER__EVENT__BODY_ORG_UPDATED && ld_has(ev->org_updated->name))
		copy_str(o->name, sizeof(o->name), ev->org_updated->name);
	return 0;
}

/*
 * Workforce estimates. Every estimate is kept, keyed by region, group, time
 * and seq, so that the one in force at any time can be read: the one with
 * the latest occurred_at not after it, ties broken by the higher seq (a
 * back-filled estimate of an earlier year never replaces a later one).
 */
#define ESTIMATE_KEY 21

static size_t estimate_key(uint8_t *key, uint32_t region, unsigned group, int64_t at,
			   uint64_t seq)
{
	ld_put_be32(key, region);
	key[4] = (uint8_t)group;
	ld_put_be64(key + 5, (uint64_t)at ^ (1ULL << 63)); /* signed order */
	ld_put_be64(key + 13, seq);
	return ESTIMATE_KEY;
}

/* Puts (present) or deletes the estimate of ev as it counts: ev is an
 * effective event (proj_effective), seq its own. */
static int estimate_put(proj_ctx *c, const Ledger__Event *ev, int present)
{
	uint8_t key[ESTIMATE_KEY], val[8];
	const Ledger__WorkforceEstimated *w = ev->workforce_estimated;
	if (ev->body_case != LEDGER__EVENT__BODY_WORKFORCE_ESTIMATED || !w)
		return 0;
	estimate_key(key, w->region, (unsigned)w->worker_group, ev->occurred_at, ev->seq);
	if (!present) {
		int rc = proj_del(c, DB(MEMBERS_DB_ESTIMATES), key, ESTIMATE_KEY);
		return rc == LD_E(NOT_FOUND) ? 0 : rc;
	}
	ld_put_be64(val, w->count);
	return proj_put(c, DB(MEMBERS_DB_ESTIMATES), key, ESTIMATE_KEY, val, 8);
}

/* The estimate of seq as it counts now (voided: none). */
static int estimate_effective(proj_ctx *c, uint64_t seq, int present)
{
	proj_eff eff;
	int rc = proj_effective(c, seq, &eff);
	if (!rc && eff.ev)
		rc = estimate_put(c, eff.ev, present);
	proj_eff_free(&eff);
	return rc;
}

int members_estimate_at(kvr_cursor *cur, uint32_t region, unsigned group, int64_t at,
		     struct members_estimate *out)
{
	uint8_t key[ESTIMATE_KEY];
	store_val k, v;
	estimate_key(key, region, group, at, UINT64_MAX);
	int rc = kvr_cursor_seek(cur, key, ESTIMATE_KEY, &k, &v);
	rc = rc == LD_E(NOT_FOUND) ? kvr_cursor_last(cur, &k, &v)
	     : rc == 0		   ? kvr_cursor_prev(cur, &k, &v)
				   : rc;
	if (rc)
		return rc;
	if (k.len != ESTIMATE_KEY || v.len != 8 || memcmp(k.data, key, 5) != 0)
		return LD_E(NOT_FOUND); /* another region or group: none in force */
	out->count = ld_get_be64(v.data);
	out->at = (int64_t)(ld_get_be64((const uint8_t *)k.data + 5) ^ (1ULL << 63));
	out->seq = ld_get_be64((const uint8_t *)k.data + 13);
	return 0;
}

int members_estimates_each(const kv_read *t, uint32_t lo, uint32_t hi, int64_t at,
			   members_estimate_fn fn, void *arg)
{
	uint8_t key[4];
	kvr_cursor *cur;
	store_val k, v;
	uint32_t region = 0;
	unsigned group = 0;
	int have = 0;
	struct members_estimate best;
	int rc = kvr_cursor_open(t, DB(MEMBERS_DB_ESTIMATES), &cur);
	if (rc)
		return rc;
	ld_put_be32(key, lo);
	for (rc = kvr_cursor_seek(cur, key, 4, &k, &v); rc == 0;
	     rc = kvr_cursor_next(cur, &k, &v)) {
		if (k.len != ESTIMATE_KEY || v.len != 8)
			continue;
		const uint8_t *kd = k.data;
		uint32_t r = ld_get_be32(kd);
		if (r > hi)
			break;
		if (have && (r != region || kd[4] != group)) {
			if ((rc = fn(arg, region, group, &best)))
				break;
			have = 0;
		}
		int64_t when = (int64_t)(ld_get_be64(kd + 5) ^ (1ULL << 63));
		if (when > at)
			continue; /* not in force yet; later ones of the group neither */
		region = r;
		group = kd[4];
		best.count = ld_get_be64(v.data);
		best.at = when;
		best.seq = ld_get_be64(kd + 13);
		have = 1;
	}
	kvr_cursor_close(cur);
	if (rc == LD_E(NOT_FOUND))
		rc = 0;
	if (!rc && have)
		rc = fn(arg, region, group, &best);
	return rc;
}

/* A void or an amendment: re-derive whatever the target fed. */
static int apply_correction(proj_ctx *c, const Ledger__Event *corr)
{
	const ld_kind *k = ld_kind_of(corr->body_case);
	uint64_t target = ld_field_num(&k->target, ld_kind_body(k, corr));
	Ledger__Event *t = NULL;
	int rc = model_load_event(c->lt, target, &t);
	/* An estimate: out as it counted before, in as it counts after. */
	int estimate = !rc && t->body_case == LEDGER__EVENT__BODY_WORKFORCE_ESTIMATED;
	if (rc || (estimate && (rc = estimate_effective(c, target, 0))) ||
	    (rc = proj_fix_record(c, corr, &target))) {
		codec_event_free(t);
		return rc;
	}
	const char *member = codec_event_member(t);
	if (member) {
		rc = member_refold(c, member, corr, corr->seq);
	} else if (t->body_case == LEDGER__EVENT__BODY_ORG_UPDATED) {
		const char *id = t->org_updated->org_id;
		char stream[LD_STREAM_MAX];
		org_slot *sl;
		snprintf(stream, sizeof(stream), "org/%s", id);
		/* The fold reads the log and the corrections, never the cache. */
		if ((sl = org_get(c, id, &rc)) &&
		    !(rc = proj_fold_stream(c, stream, corr->seq, name_step, &sl->o)))
			org_dirty(c, sl);
	} else if (estimate) {
		rc = estimate_effective(c, target, 1);
	}
	codec_event_free(t);
	return rc;
}

static int members_apply(proj_ctx *c, const Ledger__Event *ev, ld_errinfo *e)
{
	const char *member = codec_event_member(ev);
	if (member && ev->body_case == LEDGER__EVENT__BODY_DUES_REFUNDED)
		return member_refold(c, member, ev, ev->seq + 1); /* may un-settle months */
	if (member) {
		mview old, new;
		int rc = mview_load(c, member, &old);
		if (rc)
			return rc;
		new = old;
		member_step(&new, ev);
		return member_change(c, member, &old, &new);
	}
	if (ld_kind_of(ev->body_case)->flags & LD_KIND_CORRECTION)
		return apply_correction(c, ev);
	/* The organisations' own events and the workforce estimates: a case
	 * for each that changes what this projection keeps. Services,
	 * activities, funds and stations are not in these views. */
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_ORG_REGISTERED:
		return org_registered(c, ev->org_registered);
	case LEDGER__EVENT__BODY_ORG_UPDATED:
		if (ld_has(ev->org_updated->name)) {
			int rc;
			org_slot *sl = org_get(c, ev->org_updated->org_id, &rc);
			if (!sl)
				return rc;
			copy_str(sl->o.name, sizeof(sl->o.name), ev->org_updated->name);
			org_dirty(c, sl);
			return 0;
		}
		return 0;
	case LEDGER__EVENT__BODY_ORG_DISSOLVED:
		return org_dissolved(c, ev->org_dissolved->org_id);
	case LEDGER__EVENT__BODY_WORKFORCE_ESTIMATED:
		return estimate_put(c, ev, 1);
	default:
		return 0;
	}
}

/* What members_apply looks up first: the member's view. */
static void members_prefetch(proj_kv *kv, const Ledger__Event *ev, int stage)
{
	const char *member = codec_event_member(ev);
	if (member)
		kv_prefetch(kv, DB(MEMBERS_DB_VIEWS), member, strlen(member), stage);
}

/*
 * The format of this projection's databases, in PDB_META. An environment
 * of another format (one that kept only the last estimate recorded of each
 * region and group) is cleared and rebuilt from the log at start.
 */
#define FORMAT_KEY "members-format"
#define FORMAT	   "3" /* 3: a view's numbers are varints */

static int members_prepare(proj_ctx *c, store_txn *wt, int *reset)
{
	store_val v;
	int rc = store_get(wt, PDB_META, FORMAT_KEY, strlen(FORMAT_KEY), &v);
	*reset = 0;
	if (rc == 0 && v.len == strlen(FORMAT) && memcmp(v.data, FORMAT, v.len) == 0)
		return 0;
	if ((rc && rc != LD_E(NOT_FOUND)) || (rc = proj_clear(wt, &members_projection)))
		return rc;
	*reset = 1;
	return store_put(wt, PDB_META, FORMAT_KEY, strlen(FORMAT_KEY), FORMAT, strlen(FORMAT));
}

const projection_ops members_projection = {
	.name = "members",
	.dbs = dbs,
	.ndbs = MEMBERS_DB__COUNT,
	.create = members_create,
	.destroy = members_destroy,
	.apply = members_apply,
	.prefetch = members_prefetch,
	.flush = members_flush,
	.discard = members_discard,
	.prepare = members_prepare,
	.queries = members_queries,
};

/* ================================================================== */
/* Queries                                                              */
/* ================================================================== */

int members_get(const kv_read *t, const char *id, Ledger__MemberView *out, ld_arena *a)
{
	mview m;
	int rc = mview_read(t, id, &m);
	if (rc)
		return rc;
	if (m.status == 0)
		return LD_E(NOT_FOUND);
	ledger__member_view__init(out);
	out->member_id = ld_arena_strdup(a, id);
	out->has_status = 1;
	out->status = (Ledger__MemberStatus)m.status;
	out->org_id = ld_arena_strdup(a, m.org);
	out->n_affiliations = m.naff;
	out->affiliations = ld_arena_alloc(a, (m.naff ? m.naff : 1) * sizeof(void *));
	for (int i = 0; i < m.naff; i++) {
		Ledger__Affiliation *af = ld_arena_alloc(a, sizeof(*af));
		ledger__affiliation__init(af);
		af->org_id = ld_arena_strdup(a, m.aff[i].org);
		af->has_kind = 1;
		af->kind = (Ledger__AffiliationKind)m.aff[i].kind;
		out->affiliations[i] = af;
	}
#define SET(f, v)                     \
	do {                          \
		out->has_##f = 1;     \
		out->f = (v);         \
	} while (0)
	SET(worker_group, (Ledger__WorkerGroup)m.group);
	SET(employment, (Ledger__EmploymentRelation)m.employment);
	if (m.platform[0])
		out->platform = ld_arena_strdup(a, m.platform);
	SET(region, m.region);
	SET(real_name, m.real_name);
	SET(join_path, (Ledger__JoinPath)m.path);
	SET(channel, (Ledger__JoinChannel)m.channel);
	SET(first_joined_at, m.first_joined);
	SET(last_joined_at, m.last_joined);
	SET(rejoins, m.rejoins);
	if (m.status == LEDGER__MEMBER_STATUS__ENDED) {
		SET(ended_at, m.ended_at);
		SET(end_reason, (Ledger__EndReason)m.end_reason);
	}
	SET(dues_paid_through, m.paid_through);
	SET(dues_paid_fen, m.paid_fen);
	SET(transfers, m.transfers);
	SET(version, m.version);
	SET(last_seq, m.last_seq);
#undef SET
	return 0;
}

static int fill_coverage(const kv_read *t, const char *id, uint32_t depth, uint32_t period,
			 int64_t at, Ledger__OrgCoverage *oc, ld_arena *a)
{
	org_agg o;
	int rc = org_read(t, id, &o);
	if (rc)
		return rc;
	ledger__org_coverage__init(oc);
	oc->org_id = ld_arena_strdup(a, id);
	oc->name = ld_arena_strdup(a, o.name);
	oc->has_kind = oc->has_region = oc->has_depth = oc->has_dissolved = 1;
	oc->kind = (Ledger__OrgKind)o.kind;
	oc->region = o.region;
	oc->depth = depth;
	oc->dissolved = o.dissolved;
	if (o.parent[0])
		oc->parent_id = ld_arena_strdup(a, o.parent);
	oc->has_members = oc->has_direct_members = oc->has_affiliated = 1;
	oc->members = o.members;
	oc->direct_members = o.direct;
	oc->affiliated = o.affiliated;
	oc->has_units = oc->has_units_covered = oc->has_real_name = 1;
	oc->units = o.units;
	oc->units_covered = o.units_covered;
	oc->real_name = o.real_name;
	if (o.members) {
		oc->has_real_name_ratio = 1;
		oc->real_name_ratio = (double)o.real_name / (double)o.members;
	}

	/* Groups, with the region's workforce estimate in force at `at` where
	 * there is one. */
	kvr_cursor *ec;
	if ((rc = kvr_cursor_open(t, DB(MEMBERS_DB_ESTIMATES), &ec)))
		return rc;
	oc->by_group = ld_arena_alloc(a, NGROUPS * sizeof(void *));
	for (unsigned g = 1; g < NGROUPS; g++) {
		struct members_estimate est;
		rc = members_estimate_at(ec, o.region, g, at, &est);
		if (rc && rc != LD_E(NOT_FOUND))
			break;
		int have = rc == 0;
		rc = 0;
		if (!o.by_group[g] && !have)
			continue;
		Ledger__GroupCount *gc = ld_arena_alloc(a, sizeof(*gc));
		ledger__group_count__init(gc);
		gc->has_worker_group = gc->has_members = 1;
		gc->worker_group = (Ledger__WorkerGroup)g;
		gc->members = o.by_group[g];
		if (have) {
			gc->has_estimated_workers = gc->has_estimated_at = gc->has_estimate_seq = 1;
			gc->estimated_workers = est.count;
			gc->estimated_at = est.at;
			gc->estimate_seq = est.seq;
			if (est.count) {
				gc->has_coverage = 1;
				gc->coverage = (double)o.by_group[g] / (double)est.count;
			}
		}
		oc->by_group[oc->n_by_group++] = gc;
	}
	kvr_cursor_close(ec);
	if (rc)
		return rc;
	oc->by_channel = ld_arena_alloc(a, NCHANNELS * sizeof(void *));
	for (unsigned ch = 1; ch < NCHANNELS; ch++) {
		if (!o.by_channel[ch])
			continue;
		Ledger__ChannelCount *cc = ld_arena_alloc(a, sizeof(*cc));
		ledger__channel_count__init(cc);
		cc->has_channel = cc->has_members = 1;
		cc->channel = (Ledger__JoinChannel)ch;
		cc->members = o.by_channel[ch];
		oc->by_channel[oc->n_by_channel++] = cc;
	}

	/* Dues: active members paid through `period` or later. */
	uint8_t key[LD_ID_MAX + 5];
	size_t n = strlen(id), klen = month_key(key, id, period);
	kvr_cursor *c;
	store_val k, v;
	uint64_t current = 0;
	if ((rc = kvr_cursor_open(t, DB(MEMBERS_DB_MONTHS), &c)))
		return rc;
	for (rc = kvr_cursor_seek(c, key, klen, &k, &v); rc == 0; rc = kvr_cursor_next(c, &k, &v)) {
		if (k.len != n + 5 || memcmp(k.data, key, n + 1) != 0)
			break;
		current += ld_get_be64(v.data);
	}
	kvr_cursor_close(c);
	if (rc && rc != LD_E(NOT_FOUND))
		return rc;
	oc->has_dues_period = oc->has_dues_current = 1;
	oc->dues_period = period;
	oc->dues_current = current;
	if (o.members) {
		oc->has_dues_current_ratio = 1;
		oc->dues_current_ratio = (double)current / (double)o.members;
	}
	return 0;
}

#define COVERAGE_MAX_ORGS 10000

/* Depth-first: the organisation, then each child's subtree, to `depth`. */
static int coverage_walk(const kv_read *t, const char *id, uint32_t level, uint32_t depth,
			 uint32_t period, int64_t at, Ledger__CoverageReport *out, ld_arena *a)
{
	if (out->n_orgs >= COVERAGE_MAX_ORGS)
		return 0;
	Ledger__OrgCoverage *oc = ld_arena_alloc(a, sizeof(*oc));
	int rc = fill_coverage(t, id, level, period, at, oc, a);
	if (rc)
		return rc;
	out->orgs[out->n_orgs++] = oc;
	if (level >= depth)
		return 0;
	uint8_t key[LD_ID_MAX + 1];
	size_t n = strlen(id);
	memcpy(key, id, n);
	key[n] = 0;
	kvr_cursor *c;
	store_val k;
	char child[LD_ID_MAX + 1];
	if ((rc = kvr_cursor_open(t, DB(MEMBERS_DB_CHILDREN), &c)))
		return rc;
	/* Collect first: the recursion opens cursors of its own. */
	char (*kids)[LD_ID_MAX + 1] = NULL;
	size_t nk = 0, cap = 0;
	for (rc = kvr_cursor_seek(c, key, n + 1, &k, NULL); rc == 0;
	     rc = kvr_cursor_next(c, &k, NULL)) {
		if (k.len <= n + 1 || memcmp(k.data, key, n + 1) != 0)
			break;
		size_t cl = k.len - n - 1;
		if (cl > LD_ID_MAX)
			continue;
		memcpy(child, (const char *)k.data + n + 1, cl);
		child[cl] = 0;
		if (nk == cap) {
			cap = cap ? cap * 2 : 16;
			kids = ld_arena_realloc(a, kids, nk * sizeof(*kids), cap * sizeof(*kids));
		}
		memcpy(kids[nk++], child, cl + 1);
	}
	kvr_cursor_close(c);
	if (rc && rc != LD_E(NOT_FOUND))
		return rc;
	for (size_t i = 0; i < nk; i++)
		if ((rc = coverage_walk(t, kids[i], level + 1, depth, period, at, out, a)))
			return rc;
	return 0;
}

int members_coverage(const kv_read *t, const char *org, uint32_t depth, uint32_t period, int64_t at,
		     Ledger__CoverageReport *out, ld_arena *a)
{
	ledger__coverage_report__init(out);
	out->has_at = 1;
	out->at = at;
	out->orgs = ld_arena_alloc(a, COVERAGE_MAX_ORGS * sizeof(void *));
	return coverage_walk(t, org, 0, depth, period, at, out, a);
}

/* get_member: a member's view. */
static int member_query(const proj_query_ctx *q, const ProtobufCMessage *args,
			Ledger__Response *resp)
{
	const char *id = ((const Ledger__GetMemberRequest *)args)->member_id;
	int rc = proj_required_id(id, "get_member.member_id", "member_id", q->e);
	if (rc)
		return rc;
	Ledger__MemberView *v = ld_arena_alloc(q->a, sizeof(*v));
	rc = members_get(q->rd, id, v, q->a);
	if (rc == LD_E(NOT_FOUND))
		ld_errinfo_set(q->e, rc, "get_member.member_id", "member '%s' not found", id);
	resp->result_case = LEDGER__RESPONSE__RESULT_MEMBER;
	resp->member = v;
	return rc;
}

/* coverage: an organisation's subtree, with the dues figures of a month
 * (this month by default) and the workforce estimates in force at a time
 * (now by default). */
static int coverage_query(const proj_query_ctx *q, const ProtobufCMessage *args,
			  Ledger__Response *resp)
{
	const Ledger__CoverageRequest *r = (const Ledger__CoverageRequest *)args;
	uint32_t period = r->has_period ? r->period : proj_month_of(q->now_us);
	int rc = proj_required_id(r->org_id, "coverage.org_id", "org_id", q->e);
	if (rc)
		return rc;
	if (r->has_depth && r->depth > MEMBERS_COVERAGE_MAX_DEPTH)
		return ld_errinfo_set(q->e, LD_E(INVALID_VALUE), "coverage.depth",
				      "depth %u is more than %d", r->depth,
				      MEMBERS_COVERAGE_MAX_DEPTH);
	if (!check_period(period))
		return ld_errinfo_set(q->e, LD_E(INVALID_VALUE), "coverage.period",
				      "period %u is not a month written YYYYMM", period);
	Ledger__CoverageReport *cov = ld_arena_alloc(q->a, sizeof(*cov));
	rc = members_coverage(q->rd, r->org_id, r->depth, period, r->has_at ? r->at : q->now_us, cov,
			      q->a);
	if (rc == LD_E(NOT_FOUND))
		ld_errinfo_set(q->e, rc, "coverage.org_id", "organisation '%s' not found",
			       r->org_id);
	resp->result_case = LEDGER__RESPONSE__RESULT_COVERAGE;
	resp->coverage = cov;
	return rc;
}

/* A coverage below the organisation itself walks a subtree. */
static int coverage_heavy(const ProtobufCMessage *args)
{
	const Ledger__CoverageRequest *r = (const Ledger__CoverageRequest *)args;
	return r->has_depth && r->depth > 0;
}

/* Whether an organisation of region `org` is in region `want`: the same
 * code, or in a province's (xx0000) or a city's (xxyy00). */
static int region_within(uint32_t org, uint32_t want)
{
	return !want || org == want || (want % 10000 == 0 && org / 10000 == want / 10000) ||
	       (want % 100 == 0 && org / 100 == want / 100);
}

#define ORG_ROOTS_MAX 1000

static int root_add(const proj_query_ctx *q, Ledger__OrgRoots *out, const char *id,
		    const org_agg *o)
{
	if (out->n_roots >= ORG_ROOTS_MAX)
		return 0;
	Ledger__OrgRoot *r = ld_arena_alloc(q->a, sizeof(*r));
	ledger__org_root__init(r);
	size_t n = strlen(id);
	r->org_id = ld_arena_alloc(q->a, n + 1);
	memcpy(r->org_id, id, n + 1);
	n = strlen(o->name);
	r->name = ld_arena_alloc(q->a, n + 1);
	memcpy(r->name, o->name, n + 1);
	r->has_region = 1;
	r->region = o->region;
	r->has_dissolved = o->dissolved != 0;
	r->dissolved = o->dissolved != 0;
	out->roots[out->n_roots++] = r;
	return 0;
}

/* org_roots: the organisations without a parent (a scan of the
 * organisations: thousands, not the log's millions of events), of a region;
 * a reader's own organisations for a reader (the roots of what it reads). */
static int org_roots_query(const proj_query_ctx *q, const ProtobufCMessage *args,
			   Ledger__Response *resp)
{
	const Ledger__OrgRootsRequest *r = (const Ledger__OrgRootsRequest *)args;
	uint32_t want = r->has_region ? r->region : 0;
	if (want > 999999)
		return ld_errinfo_set(q->e, LD_E(INVALID_VALUE), "org_roots.region",
				      "region %u is not a six-digit division code", want);
	Ledger__OrgRoots *out = ld_arena_alloc(q->a, sizeof(*out));
	ledger__org_roots__init(out);
	out->roots = ld_arena_alloc(q->a, ORG_ROOTS_MAX * sizeof(void *));
	resp->result_case = LEDGER__RESPONSE__RESULT_ORG_ROOTS;
	resp->org_roots = out;
	org_agg o;
	int rc = 0;
	if (q->reader && q->reader->kind == ROLE_READER) {
		out->has_scoped = out->scoped = 1;
		for (size_t i = 0; i < q->reader->norgs; i++) {
			rc = org_read(q->rd, q->reader->orgs[i], &o);
			if (rc == LD_E(NOT_FOUND))
				continue; /* not registered (yet) */
			if (rc)
				return rc;
			if (region_within(o.region, want))
				root_add(q, out, q->reader->orgs[i], &o);
		}
		return 0;
	}
	kvr_cursor *c;
	store_val k, v;
	char id[LD_ID_MAX + 1];
	if ((rc = kvr_cursor_open(q->rd, DB(MEMBERS_DB_ORGS), &c)))
		return rc;
	for (rc = kvr_cursor_seek(c, "\x01", 1, &k, &v); rc == 0; rc = kvr_cursor_next(c, &k, &v)) {
		if (k.len > LD_ID_MAX || v.len < 2)
			continue;
		/* the parent is near the end: decode the whole record, it is small */
		if ((rc = org_decode(&v, &o)))
			break;
		if (o.parent[0] || !region_within(o.region, want))
			continue;
		memcpy(id, k.data, k.len);
		id[k.len] = 0;
		root_add(q, out, id, &o);
	}
	kvr_cursor_close(c);
	return rc == LD_E(NOT_FOUND) ? 0 : rc;
}

/* Every organisation's record is read: not on the runner's thread. */
static int org_roots_heavy(const ProtobufCMessage *args)
{
	(void)args;
	return 1;
}

const projection_query members_queries[] = {
	{LEDGER__REQUEST__COMMAND_GET_MEMBER, 0, member_query, NULL, NULL},
	{LEDGER__REQUEST__COMMAND_ORG_ROOTS, 0, org_roots_query, NULL, org_roots_heavy},
	{LEDGER__REQUEST__COMMAND_COVERAGE, 0, coverage_query, NULL, coverage_heavy},
	{0},
};
