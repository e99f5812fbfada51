/* progress.c — the plan-progress projection and its reports. See progress.h. */
#include "progress.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "kinds.h"
#include "log.h"
#include "members.h"
#include "model.h"
#include "wire.h"

/* The databases of this projection. */
enum {
	GDB_FIGURES,  /* "progress": plan (2 BE), target (2 BE), year (2 BE), region (4 BE) →
		       * num, den (8+8 BE) */
	GDB_CONTRIB,  /* "pcontrib": seq (8 BE) → what the event added to the figures */
	GDB_DISTINCT, /* "pdistinct": figure key (10), member_id → events counting the member
		       * there (4 BE) */
	GDB_ORGS,     /* "porgs": org_id → region (4 BE) (this projection's own copy) */
	GDB_DAILY,    /* "pdaily": figure key (10), the plan's local day (4 BE) →
		       * num, den, events, voided, amended (5 × 8 BE) */
	GDB_DDAYS,    /* "pddays": figure key (10), member_id length (1) and bytes → the
		       * days of the events counting the member there, each day (4 BE)
		       * with its events (4 BE), by day */
	GDB__COUNT
};
static const char *const dbs[GDB__COUNT] = {
    [GDB_FIGURES] = "progress", [GDB_CONTRIB] = "pcontrib", [GDB_DISTINCT] = "pdistinct",
    [GDB_ORGS] = "porgs",	[GDB_DAILY] = "pdaily",	    [GDB_DDAYS] = "pddays"};
#define DB(i) proj_db(&progress_projection, i)

#define KEY_LEN 10	/* plan, target, year, region */
#define DAY_KEY_LEN 14	/* ... and a day */
#define WF_GROUPS 16 /* WorkerGroup values below it (ledger.proto has 0 … 11) */
#define DIGEST_KEY "progress/digest"
/* The layout of the projection's databases, stored after the plans' digest:
 * a daemon that finds another rebuilds the projection from the log. */
#define LAYOUT 4 /* 4: contribution lists said entry against entry */
#define NO_DAY UINT32_MAX

/* The projection's state in one runner: its plans, who listens to its
 * changes, and the chunk's figures (the cache below). */
struct progress {
	plan_set plans;
	pthread_mutex_t change_lock;
	progress_change_fn change; /* under change_lock */
	void *change_arg;
	struct cslot *cache;
	size_t ccap, cused;
	int any_fresh; /* a figure moved since progress_take_moved */
	/* The (plan, region) pairs whose figures moved in a cache a flush has
	 * dropped since progress_take_moved (flushing). */
	struct moved_pair {
		unsigned pl;
		uint32_t region;
	} *moved;
	size_t nmoved, cmoved;
};

static int create(void **state, const proj_options *o, ld_errinfo *e)
{
	progress *pg = calloc(1, sizeof(*pg));
	int rc;
	if (!pg)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	pthread_mutex_init(&pg->change_lock, NULL);
	*state = pg;
	if (!o->plans_dir)
		return plan_load_dir("/nonexistent/", 1, &pg->plans, e);
	if ((rc = plan_load_dir(o->plans_dir, o->plans_missing_ok, &pg->plans, e))) {
		char msg[sizeof(e->message)];
		snprintf(msg, sizeof(msg), "%s", e->message);
		return ld_errinfo_set(e, LD_E(PLAN_INVALID), NULL, "%s", msg);
	}
	return 0;
}

static void destroy(void *state)
{
	progress *pg = state;
	if (!pg)
		return;
	plan_set_free(&pg->plans);
	pthread_mutex_destroy(&pg->change_lock);
	free(pg->cache);
	free(pg->moved);
	free(pg);
}

const plan_set *progress_plans(const progress *pg)
{
	return &pg->plans;
}

void progress_on_change(progress *pg, progress_change_fn fn, void *arg)
{
	pthread_mutex_lock(&pg->change_lock);
	pg->change = fn;
	pg->change_arg = arg;
	pthread_mutex_unlock(&pg->change_lock);
}

static void make_key(uint8_t *k, unsigned pl, unsigned target, unsigned year, uint32_t region)
{
	k[0] = (uint8_t)(pl >> 8);
	k[1] = (uint8_t)pl;
	k[2] = (uint8_t)(target >> 8);
	k[3] = (uint8_t)target;
	k[4] = (uint8_t)(year >> 8);
	k[5] = (uint8_t)year;
	ld_put_be32(k + 6, region);
}

/* ------------------------------------------------------------------ */
/* The chunk's figures, in memory until flush                          */
/* ------------------------------------------------------------------ */

/* A figure (klen KEY_LEN: "progress") or one day of it (DAY_KEY_LEN:
 * "pdaily"), as the chunk changes it. */
typedef struct cslot {
	uint8_t key[DAY_KEY_LEN];
	uint8_t used, klen;
	uint8_t fresh; /* moved since progress_take_moved (figures only) */
	int64_t num, den;
	int64_t events, voided, amended; /* days only */
} cslot;


/* Whether keys a and b of klen bytes (KEY_LEN or DAY_KEY_LEN: 8 to 16) are
 * the same: two 8-byte words that overlap, no call to memcmp. */
_Static_assert(KEY_LEN >= 8 && DAY_KEY_LEN <= 16, "same_key reads two overlapping words");
static int same_key(const uint8_t *a, const uint8_t *b, size_t klen)
{
	uint64_t a0, a1, b0, b1;
	memcpy(&a0, a, 8);
	memcpy(&b0, b, 8);
	memcpy(&a1, a + klen - 8, 8);
	memcpy(&b1, b + klen - 8, 8);
	return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

/* A key's hash from the same two words (the order of the slots is only
 * the order in which flushing notes the plans and regions that moved,
 * which the listener does not depend on). */
static uint64_t key_hash(const uint8_t *k, size_t klen)
{
	uint64_t a, b;
	memcpy(&a, k, 8);
	memcpy(&b, k + klen - 8, 8);
	/* b rotated, so that the words' shared bytes do not cancel; then
	 * MurmurHash3's finaliser, every bit reaching the low ones. */
	uint64_t h = a ^ (b << 29 | b >> 35) ^ klen;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ h >> 33;
}

static cslot *cache_slot(progress *pg, const uint8_t *key, size_t klen)
{
	if ((pg->cused + 1) * 2 > pg->ccap) {
		size_t ncap = pg->ccap ? pg->ccap * 2 : 1024;
		/* core/bigmem.h: resident at once, as every slot is
		 * probed (read) before it is filled. */
		cslot *n = bigmem_zalloc(ncap * sizeof(*n));
		if (!n)
			return NULL;
		for (size_t i = 0; i < pg->ccap; i++) {
			if (!pg->cache[i].used)
				continue;
			size_t j = key_hash(pg->cache[i].key, pg->cache[i].klen) & (ncap - 1);
			while (n[j].used)
				j = (j + 1) & (ncap - 1);
			n[j] = pg->cache[i];
		}
		free(pg->cache);
		pg->cache = n;
		pg->ccap = ncap;
	}
	cslot *cache = pg->cache;
	size_t j = key_hash(key, klen) & (pg->ccap - 1);
	while (cache[j].used && (cache[j].klen != klen || !same_key(cache[j].key, key, klen)))
		j = (j + 1) & (pg->ccap - 1);
	if (!cache[j].used) {
		memset(&cache[j], 0, sizeof(cache[j]));
		memcpy(cache[j].key, key, klen);
		cache[j].used = 1;
		cache[j].klen = (uint8_t)klen;
		pg->cused++;
	}
	return &cache[j];
}

/* A figure moved: the listener hears once after each take. */
static void note_moved(progress *pg, cslot *s)
{
	s->fresh = 1;
	if (pg->any_fresh)
		return;
	pg->any_fresh = 1;
	pthread_mutex_lock(&pg->change_lock);
	if (pg->change)
		pg->change(pg->change_arg);
	pthread_mutex_unlock(&pg->change_lock);
}

static int cache_add(progress *pg, const uint8_t *key, int64_t num, int64_t den)
{
	cslot *s = cache_slot(pg, key, KEY_LEN);
	if (!s)
		return LD_E(INTERNAL);
	s->num += num;
	s->den += den;
	if (num || den)
		note_moved(pg, s);
	return 0;
}

/* What a correction did to a day's events, beside adding or taking back. */
enum { MARK_NONE, MARK_VOIDED, MARK_AMENDED };

/* Adds to the day `day` of a figure: what it counts, its events, and a
 * correction mark. */
static int day_add(progress *pg, const uint8_t *key, uint32_t day, int64_t num, int64_t den,
		   int64_t events, int mark)
{
	uint8_t dk[DAY_KEY_LEN];
	memcpy(dk, key, KEY_LEN);
	ld_put_be32(dk + KEY_LEN, day);
	cslot *s = cache_slot(pg, dk, DAY_KEY_LEN);
	if (!s)
		return LD_E(INTERNAL);
	s->num += num;
	s->den += den;
	s->events += events;
	s->voided += mark == MARK_VOIDED;
	s->amended += mark == MARK_AMENDED;
	return 0;
}

static int figure_value(int rc, const store_val *v, int64_t *num, int64_t *den)
{
	*num = *den = 0;
	if (rc == LD_E(NOT_FOUND))
		return 0;
	if (rc)
		return rc;
	if (v->len != 16)
		return LD_E(STORAGE);
	*num = (int64_t)ld_get_be64(v->data);
	*den = (int64_t)ld_get_be64((const uint8_t *)v->data + 8);
	return 0;
}

/* A figure as flushed (reports: read transaction t). */
static int read_figure(const kv_read *t, const uint8_t *key, int64_t *num, int64_t *den)
{
	store_val v;
	return figure_value(kvr_get(t, DB(GDB_FIGURES), key, KEY_LEN, &v), &v, num, den);
}

/* A day's counters: in "pdaily" as 5 × 8 BE, added to; a day whose
 * counters all come to 0 is deleted, so that the state does not depend on
 * how the log was cut into chunks. */
static int flush_day(proj_ctx *c, const cslot *s)
{
	int64_t f[5] = {s->num, s->den, s->events, s->voided, s->amended};
	store_val v;
	uint8_t val[40];
	int rc = proj_get(c, DB(GDB_DAILY), s->key, DAY_KEY_LEN, &v);
	if (rc && rc != LD_E(NOT_FOUND))
		return rc;
	if (rc == 0 && v.len != sizeof(val))
		return LD_E(STORAGE);
	int zero = 1;
	for (int i = 0; i < 5; i++) {
		if (rc == 0)
			f[i] += (int64_t)ld_get_be64((const uint8_t *)v.data + 8 * i);
		ld_put_be64(val + 8 * i, (uint64_t)f[i]);
		zero &= f[i] == 0;
	}
	if (zero)
		return rc == 0 ? proj_del(c, DB(GDB_DAILY), s->key, DAY_KEY_LEN) : 0;
	return proj_put(c, DB(GDB_DAILY), s->key, DAY_KEY_LEN, val, sizeof(val));
}

static int flush(proj_ctx *c)
{
	progress *pg = c->state;
	for (size_t i = 0; i < pg->ccap; i++) {
		cslot *s = &pg->cache[i];
		if (!s->used || (!s->num && !s->den && !s->events && !s->voided && !s->amended))
			continue;
		if (s->klen == DAY_KEY_LEN) {
			int rc = flush_day(c, s);
			if (rc)
				return rc;
			s->num = s->den = s->events = s->voided = s->amended = 0;
			continue;
		}
		int64_t num, den;
		uint8_t val[16];
		store_val v;
		int rc = figure_value(proj_get(c, DB(GDB_FIGURES), s->key, KEY_LEN, &v), &v, &num,
				      &den);
		if (rc)
			return rc;
		ld_put_be64(val, (uint64_t)(num + s->num));
		ld_put_be64(val + 8, (uint64_t)(den + s->den));
		if ((rc = proj_put(c, DB(GDB_FIGURES), s->key, KEY_LEN, val, 16)))
			return rc;
		/* In the state now (a second flush adds nothing twice). */
		s->num = s->den = 0;
	}
	return 0;
}

/* Drops the figures' cache (its changes are in the state, or thrown away
 * with it). */
static void discard(void *state)
{
	progress *pg = state;
	free(pg->cache);
	pg->cache = NULL;
	pg->ccap = pg->cused = 0;
}

/* A flush begins: the cache is clean now, and is dropped; the plans and
 * regions its figures moved since the last take are kept for the next. */
static void flushing(void *state)
{
	progress *pg = state;
	for (size_t i = 0; i < pg->ccap; i++) {
		cslot *s = &pg->cache[i];
		if (!s->used || s->klen != KEY_LEN || !s->fresh)
			continue;
		s->fresh = 0;
		unsigned pl = (unsigned)s->key[0] << 8 | s->key[1];
		uint32_t region = ld_get_be32(s->key + 6);
		size_t j = 0;
		while (j < pg->nmoved && (pg->moved[j].pl != pl || pg->moved[j].region != region))
			j++;
		if (j < pg->nmoved)
			continue;
		if (pg->nmoved == pg->cmoved) {
			size_t cap = pg->cmoved ? pg->cmoved * 2 : 32;
			struct moved_pair *m = realloc(pg->moved, cap * sizeof(*m));
			if (!m)
				continue; /* out of memory: that change goes untold */
			pg->moved = m;
			pg->cmoved = cap;
		}
		pg->moved[pg->nmoved].pl = pl;
		pg->moved[pg->nmoved++].region = region;
	}
	/* The cache starts afresh (it holds every day a flush touched). */
	discard(pg);
}

void progress_take_moved(progress *pg, progress_moved_fn fn, void *arg)
{
	for (size_t i = 0; i < pg->nmoved; i++)
		fn(arg, pg->moved[i].pl, pg->moved[i].region);
	pg->nmoved = 0;
	for (size_t i = 0; i < pg->ccap; i++) {
		cslot *s = &pg->cache[i];
		if (!s->used || s->klen != KEY_LEN || !s->fresh)
			continue;
		s->fresh = 0;
		fn(arg, (unsigned)s->key[0] << 8 | s->key[1], ld_get_be32(s->key + 6));
	}
	pg->any_fresh = 0;
}

/* ------------------------------------------------------------------ */
/* What an event contributes                                           */
/* ------------------------------------------------------------------ */

/*
 * A contribution list (LAYOUT 4): its entries, each said against the one
 * before it, as an event's entries share most of their key (a join's: one
 * plan, year and day; a target's two regions, the province and the city).
 * An entry is a head byte, its type (bits 0-1) and what it shares with the
 * entry before (C_SAME_*), then what it does not share: the plan and year
 * (2 + 2 BE), the target (2 BE, always), the region (4 BE), the plan's
 * local day of the event (4 BE, days since 1970-01-01); then for SUM num
 * and den (zigzag varints), for DISTINCT the member id's length (1) and
 * bytes. The first entry shares nothing. A join's list of four entries
 * takes 44 bytes where the 31 bytes of each entry whole took 124, and the
 * list is written at a flush beside every event that counts (LMDB's pages
 * of "pcontrib" were 40% of a rebuild's).
 */
enum { C_SUM = 0, C_DISTINCT = 1 };
#define C_TYPE 0x03
#define C_SAME_PLAN 0x04   /* plan and year */
#define C_SAME_REGION 0x08
#define C_SAME_DAY 0x10
#define C_ENTRY_MAX (1 + 4 + 2 + 4 + 4 + 2 * 10) /* a SUM's */

typedef struct cbuf {
	uint8_t *b; /* inl, until it outgrows it */
	size_t n, cap;
	uint8_t inl[512];
	/* The entry before (n > 0): its key and day. */
	uint8_t key[KEY_LEN];
	uint32_t day;
} cbuf;

static void cbuf_init(cbuf *b)
{
	b->b = b->inl;
	b->n = 0;
	b->cap = sizeof(b->inl);
}

static void cbuf_free(cbuf *b)
{
	if (b->b != b->inl)
		free(b->b);
}

static int cbuf_put(cbuf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap * 2;
		while (cap < b->n + n)
			cap *= 2;
		uint8_t *nb = b->b == b->inl ? malloc(cap) : realloc(b->b, cap);
		if (!nb)
			return LD_E(INTERNAL);
		if (b->b == b->inl)
			memcpy(nb, b->inl, b->n);
		b->b = nb;
		b->cap = cap;
	}
	memcpy(b->b + b->n, p, n);
	b->n += n;
	return 0;
}

/* The entries below are applied as they are added (count): the list is
 * stored only to be taken back later (uncount). */
static int apply_sum(progress *pg, const uint8_t *key, uint32_t day, int64_t num, int64_t den,
		     int sign, int mark);
static int apply_distinct(proj_ctx *c, const uint8_t *key, uint32_t day, const uint8_t *member,
			  size_t mlen, int sign, int mark);

/* An entry's head and key: what it shares with the entry before said in
 * the head, the rest written out (above). Returns the end. */
static uint8_t *centry_head(cbuf *b, uint8_t *p, int type, const uint8_t *key, uint32_t day)
{
	uint8_t *h = p++;
	*h = (uint8_t)type;
	/* key: plan (2), target (2), year (2), region (4) */
	if (b->n && memcmp(b->key, key, 2) == 0 && memcmp(b->key + 4, key + 4, 2) == 0) {
		*h |= C_SAME_PLAN;
	} else {
		memcpy(p, key, 2);
		memcpy(p + 2, key + 4, 2);
		p += 4;
	}
	memcpy(p, key + 2, 2);
	p += 2;
	if (b->n && memcmp(b->key + 6, key + 6, 4) == 0) {
		*h |= C_SAME_REGION;
	} else {
		memcpy(p, key + 6, 4);
		p += 4;
	}
	if (b->n && b->day == day) {
		*h |= C_SAME_DAY;
	} else {
		ld_put_be32(p, day);
		p += 4;
	}
	memcpy(b->key, key, KEY_LEN);
	b->day = day;
	return p;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static int add_sum(proj_ctx *c, cbuf *b, const uint8_t *key, uint32_t day, int64_t num,
		   int64_t den)
{
	uint8_t e[C_ENTRY_MAX];
	uint8_t *p = centry_head(b, e, C_SUM, key, day);
	p = codec_put_varint(p, zigzag(num));
	p = codec_put_varint(p, zigzag(den));
	int rc = cbuf_put(b, e, (size_t)(p - e));
	return rc ? rc : apply_sum(c->state, key, day, num, den, 1, MARK_NONE);
}

static int add_distinct(proj_ctx *c, cbuf *b, const uint8_t *key, uint32_t day,
			const char *member)
{
	uint8_t e[C_ENTRY_MAX + 1 + LD_ID_MAX];
	size_t n = strlen(member);
	if (n > LD_ID_MAX)
		return LD_E(INVALID_VALUE);
	uint8_t *p = centry_head(b, e, C_DISTINCT, key, day);
	*p++ = (uint8_t)n;
	memcpy(p, member, n);
	p += n;
	int rc = cbuf_put(b, e, (size_t)(p - e));
	return rc ? rc
		  : apply_distinct(c, key, day, (const uint8_t *)member, n, 1, MARK_NONE);
}

/* The plan's local day of t (days since 1970-01-01). */
static uint32_t plan_day_of(const plan *p, int64_t t_us)
{
	int64_t local = t_us + (int64_t)p->utc_offset_s * 1000000;
	int64_t day = local / 86400000000LL - (local % 86400000000LL < 0);
	return (uint32_t)day;
}

static int64_t field_value(int field, const Ledger__Event *ev)
{
	switch (field) {
	case PF_PARTICIPANTS:
		return ev->activity_held->participants;
	case PF_ENTERPRISES:
		return ev->activity_held->enterprises_reached;
	case PF_QUANTITY:
		return ev->service_delivered->quantity;
	case PF_AMOUNT:
		return ev->service_delivered->has_amount_fen ? ev->service_delivered->amount_fen : 0;
	default:
		return 0;
	}
}

/* The region an event counts in (0: none known): its place (proto/kinds.c),
 * a region, or an organisation whose region it is. */
static int event_region(proj_ctx *c, const Ledger__Event *ev, uint32_t *region)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	const ProtobufCMessage *body = ld_kind_body(k, ev);
	store_val v;
	*region = 0;
	if (!k->place.fd)
		return 0;
	if (k->place.fd->type != PROTOBUF_C_TYPE_STRING) {
		*region = (uint32_t)ld_field_num(&k->place, body);
		return 0;
	}
	const char *org = ld_field_str(&k->place, body);
	if (!org)
		return 0;
	int rc = proj_get(c, DB(GDB_ORGS), org, strlen(org), &v);
	if (rc == LD_E(NOT_FOUND))
		return 0;
	if (rc)
		return rc;
	if (v.len != 4)
		return LD_E(STORAGE);
	*region = ld_get_be32(v.data);
	return 0;
}

/* Plans count the kinds with a place. */
static int countable(int body)
{
	return ld_kind_of(body)->place.fd != NULL;
}

/* What ev (as it counts; `first`: a first join) adds: applied, and listed
 * into b. */
static int contributions(proj_ctx *c, const Ledger__Event *ev, int first, cbuf *b)
{
	uint32_t region;
	int rc;
	if (!countable(ev->body_case))
		return 0;
	if ((rc = event_region(c, ev, &region)) || !region)
		return rc;
	const plan_set *plans = &((progress *)c->state)->plans;
	for (unsigned pi = 0; pi < plans->n; pi++) {
		const plan *p = &plans->plans[pi];
		int64_t at = ev->occurred_at;
		if (plan_province_of(region) != p->region || at < p->from_us || at >= p->to_us)
			continue;
		int year = plan_year_of(p, at);
		uint32_t day = plan_day_of(p, at);
		uint32_t regions[2] = {p->region, plan_city_of(region)};
		unsigned nreg = regions[1] == p->region ? 1 : 2;
		for (unsigned ti = 0; ti < p->ntargets; ti++) {
			const plan_target *t = &p->targets[ti];
			if (t->event != (int)ev->body_case ||
			    !plan_filter_matches(&t->where, ev, first))
				continue;
			unsigned wy = t->window == PW_YEARLY ? (unsigned)year : 0;
			for (unsigned ri = 0; ri < nreg && !rc; ri++) {
				uint8_t key[KEY_LEN];
				make_key(key, pi, ti, wy, regions[ri]);
				switch (t->measure) {
				case PM_COUNT:
					rc = add_sum(c, b, key, day, 1, 0);
					break;
				case PM_SUM: {
					int64_t x = field_value(t->field, ev);
					if (x)
						rc = add_sum(c, b, key, day, x, 0);
					break;
				}
				case PM_RATIO:
					rc = add_sum(c, b, key, day,
						     plan_filter_matches(&t->numerator, ev, first),
						     1);
					break;
				case PM_DISTINCT: {
					const char *m = codec_event_member(ev);
					if (ld_has(m))
						rc = add_distinct(c, b, key, day, m);
					break;
				}
				}
			}
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* A member's days in a figure ("pddays"): (day, events) pairs by day. */
#define DDAYS_MAX 65536 /* days of one member in one figure (a plan lasts years, not 179) */

/* A distinct member's event on `day` added (sign 1) or taken back: the
 * member counts on the first day of its events there, so its 1 moves when
 * that day changes. */
static int distinct_day(proj_ctx *c, const uint8_t *key, const uint8_t *member, size_t mlen,
			uint32_t day, int sign)
{
	uint8_t dk[KEY_LEN + 1 + LD_ID_MAX];
	size_t pn = KEY_LEN + 1 + mlen, n = 0;
	store_val v;
	memcpy(dk, key, KEY_LEN);
	dk[KEY_LEN] = (uint8_t)mlen;
	memcpy(dk + KEY_LEN + 1, member, mlen);
	int rc = proj_get(c, DB(GDB_DDAYS), dk, pn, &v);
	if (rc && rc != LD_E(NOT_FOUND))
		return rc;
	if (rc == 0 && (v.len % 8 || v.len > 8 * DDAYS_MAX))
		return LD_E(STORAGE);
	/* Copied, with room for one more: the put below may move the value.
	 * On the stack unless the member has days in many (64) there. */
	uint8_t small[8 * 64], *d = small;
	size_t need = (rc == 0 ? v.len : 0) + 8;
	if (need > sizeof(small) && !(d = malloc(need)))
		return LD_E(INTERNAL);
	if (rc == 0) {
		memcpy(d, v.data, v.len);
		n = v.len / 8;
	}
	uint32_t before = n ? ld_get_be32(d) : NO_DAY;
	size_t i = 0;
	while (i < n && ld_get_be32(d + 8 * i) < day)
		i++;
	int here = i < n && ld_get_be32(d + 8 * i) == day;
	uint32_t refs = here ? ld_get_be32(d + 8 * i + 4) : 0;
	rc = 0;
	if (sign > 0) {
		if (here) {
			ld_put_be32(d + 8 * i + 4, refs + 1);
		} else if (n < DDAYS_MAX) {
			memmove(d + 8 * (i + 1), d + 8 * i, 8 * (n - i));
			ld_put_be32(d + 8 * i, day);
			ld_put_be32(d + 8 * i + 4, 1);
			n++;
		} else {
			rc = LD_E(TOO_LARGE);
		}
	} else if (here && refs > 1) {
		ld_put_be32(d + 8 * i + 4, refs - 1);
	} else if (here) {
		memmove(d + 8 * i, d + 8 * (i + 1), 8 * (n - i - 1));
		n--;
	}
	if (!rc)
		rc = n ? proj_put(c, DB(GDB_DDAYS), dk, pn, d, 8 * n)
		       : proj_del(c, DB(GDB_DDAYS), dk, pn);
	uint32_t after = n ? ld_get_be32(d) : NO_DAY;
	if (d != small)
		free(d);
	if (rc || after == before)
		return rc;
	progress *pg = c->state;
	if (before != NO_DAY && (rc = day_add(pg, key, before, -1, 0, 0, MARK_NONE)))
		return rc;
	return after != NO_DAY ? day_add(pg, key, after, 1, 0, 0, MARK_NONE) : 0;
}

/* Adds (sign 1) or takes back (-1) a SUM entry; mark: why it is taken back. */
static int apply_sum(progress *pg, const uint8_t *key, uint32_t day, int64_t num, int64_t den,
		     int sign, int mark)
{
	num *= sign;
	den *= sign;
	int rc = cache_add(pg, key, num, den);
	return rc ? rc : day_add(pg, key, day, num, den, sign, mark);
}

/* Adds (sign 1) or takes back (-1) a DISTINCT entry: member (mlen bytes)
 * counted in the figure key on day. */
static int apply_distinct(proj_ctx *c, const uint8_t *key, uint32_t day, const uint8_t *member,
			  size_t mlen, int sign, int mark)
{
	progress *pg = c->state;
	uint8_t dk[KEY_LEN + LD_ID_MAX], val[4];
	size_t dn = KEY_LEN + mlen;
	store_val v;
	uint32_t refs = 0;
	memcpy(dk, key, KEY_LEN);
	memcpy(dk + KEY_LEN, member, mlen);
	int rc = distinct_day(c, key, member, mlen, day, sign);
	if (!rc)
		rc = day_add(pg, key, day, 0, 0, sign, mark);
	if (rc)
		return rc;
	rc = proj_get(c, DB(GDB_DISTINCT), dk, dn, &v);
	if (rc == 0 && v.len == 4)
		refs = ld_get_be32(v.data);
	else if (rc && rc != LD_E(NOT_FOUND))
		return rc;
	if (sign > 0) {
		ld_put_be32(val, refs + 1);
		rc = proj_put(c, DB(GDB_DISTINCT), dk, dn, val, 4);
		if (!rc && refs == 0)
			rc = cache_add(pg, key, 1, 0);
	} else if (refs <= 1) {
		rc = proj_del(c, DB(GDB_DISTINCT), dk, dn);
		if (!rc && refs == 1)
			rc = cache_add(pg, key, -1, 0);
	} else {
		ld_put_be32(val, refs - 1);
		rc = proj_put(c, DB(GDB_DISTINCT), dk, dn, val, 4);
	}
	return rc;
}

/* Takes back (sign -1) a stored contribution list; mark: why (a void, an
 * amendment). The entries are applied in their order, as count did. */
static int apply_list(proj_ctx *c, const uint8_t *p, size_t n, int sign, int mark)
{
	const uint8_t *end = p + n;
	uint8_t key[KEY_LEN];
	uint32_t day = 0;
	int first = 1;
	while (p < end) {
		int h = *p++;
		size_t need = (h & C_SAME_PLAN ? 0 : 4) + 2 + (h & C_SAME_REGION ? 0 : 4) +
			      (h & C_SAME_DAY ? 0 : 4);
		if ((first && (h & (C_SAME_PLAN | C_SAME_REGION | C_SAME_DAY))) ||
		    (h & ~(C_TYPE | C_SAME_PLAN | C_SAME_REGION | C_SAME_DAY)) ||
		    (size_t)(end - p) < need)
			return LD_E(STORAGE);
		first = 0;
		if (!(h & C_SAME_PLAN)) {
			memcpy(key, p, 2);
			memcpy(key + 4, p + 2, 2);
			p += 4;
		}
		memcpy(key + 2, p, 2);
		p += 2;
		if (!(h & C_SAME_REGION)) {
			memcpy(key + 6, p, 4);
			p += 4;
		}
		if (!(h & C_SAME_DAY)) {
			day = ld_get_be32(p);
			p += 4;
		}
		int rc;
		if ((h & C_TYPE) == C_SUM) {
			uint64_t num, den;
			if (!(p = wire_varint(p, end, &num)) || !(p = wire_varint(p, end, &den)))
				return LD_E(STORAGE);
			rc = apply_sum(c->state, key, day, unzigzag(num), unzigzag(den), sign, mark);
		} else if ((h & C_TYPE) == C_DISTINCT) {
			if (end - p < 1 || end - p < 1 + p[0])
				return LD_E(STORAGE);
			rc = apply_distinct(c, key, day, p + 1, p[0], sign, mark);
			p += 1 + p[0];
		} else {
			return LD_E(STORAGE);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int count(proj_ctx *c, const Ledger__Event *ev, uint64_t seq, int first)
{
	cbuf b;
	cbuf_init(&b);
	uint8_t key[8];
	int rc = contributions(c, ev, first, &b);
	if (!rc && b.n) {
		ld_put_be64(key, seq);
		rc = proj_put(c, DB(GDB_CONTRIB), key, 8, b.b, b.n);
	}
	cbuf_free(&b);
	return rc;
}

/* Takes back what the event at seq added, if anything; mark: why. */
static int uncount(proj_ctx *c, uint64_t seq, int mark)
{
	uint8_t key[8];
	store_val v;
	ld_put_be64(key, seq);
	int rc = proj_get(c, DB(GDB_CONTRIB), key, 8, &v);
	if (rc == LD_E(NOT_FOUND))
		return 0;
	if (rc)
		return rc;
	/* Copied: the value lives in a page the writes below may move. */
	uint8_t *copy = malloc(v.len ? v.len : 1);
	if (!copy)
		return LD_E(INTERNAL);
	memcpy(copy, v.data, v.len);
	size_t n = v.len;
	rc = apply_list(c, copy, n, -1, mark);
	free(copy);
	return rc ? rc : proj_del(c, DB(GDB_CONTRIB), key, 8);
}

/* Does the member's stream hold a join that counts before `upto`? */
static int join_seen(void *arg, const Ledger__Event *ev)
{
	(void)arg;
	return ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED ? 1 : 0;
}

static int is_first_join(proj_ctx *c, const Ledger__Event *ev, int *first)
{
	*first = 1;
	if (ev->version <= 1)
		return 0; /* the stream's first event */
	int rc = proj_fold_stream(c, ev->stream, ev->seq, join_seen, NULL);
	if (rc == 1) {
		*first = 0;
		rc = 0;
	}
	return rc;
}

/* Re-evaluates every join of a member's stream, as they count now. */
typedef struct recount_arg {
	proj_ctx *c;
	int seen;
} recount_arg;

static int recount_step(void *arg, const Ledger__Event *ev)
{
	recount_arg *ra = arg;
	if (ev->body_case != LEDGER__EVENT__BODY_MEMBER_JOINED)
		return 0;
	int rc = uncount(ra->c, ev->seq, MARK_NONE);
	if (!rc)
		rc = count(ra->c, ev, ev->seq, !ra->seen);
	ra->seen = 1;
	return rc;
}

static int correct(proj_ctx *c, const Ledger__Event *ev, uint64_t target)
{
	Ledger__Event *orig = NULL;
	int rc = model_load_event(c->lt, target, &orig);
	if (rc == LD_E(NOT_FOUND))
		return 0;
	if (rc)
		return rc;
	int amend = (ld_kind_of(ev->body_case)->flags & LD_KIND_AMENDMENT) != 0;
	if ((rc = uncount(c, target, amend ? MARK_AMENDED : MARK_VOIDED)) == 0) {
		if (orig->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED) {
			recount_arg ra = {c, 0};
			rc = proj_fold_stream(c, orig->stream, ev->seq, recount_step, &ra);
		} else if (amend) {
			proj_eff eff;
			if ((rc = proj_effective(c, target, &eff)) == 0 && eff.ev)
				rc = count(c, eff.ev, target, 1);
			proj_eff_free(&eff);
		}
	}
	codec_event_free(orig);
	return rc;
}

static int apply(proj_ctx *c, const Ledger__Event *ev, ld_errinfo *e)
{
	uint64_t target;
	int rc, first = 1;
	(void)e;
	if (!((progress *)c->state)->plans.n)
		return 0;
	if ((rc = proj_fix_record(c, ev, &target)))
		return rc;
	if (target)
		return correct(c, ev, target);
	if (ev->body_case == LEDGER__EVENT__BODY_ORG_REGISTERED) {
		const Ledger__OrgRegistered *o = ev->org_registered;
		uint8_t val[4];
		ld_put_be32(val, o->region);
		if ((rc = proj_put(c, DB(GDB_ORGS), o->org_id, strlen(o->org_id), val, 4)))
			return rc;
	}
	if (!countable(ev->body_case))
		return 0;
	if (ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED &&
	    (rc = is_first_join(c, ev, &first)))
		return rc;
	return count(c, ev, ev->seq, first);
}

/* Clears the projection's state when the plans differ from those it was
 * counted with. */
static int prepare(proj_ctx *c, store_txn *wt, int *reset)
{
	const plan_set *plans = &((progress *)c->state)->plans;
	store_val v;
	uint8_t digest[33];
	memcpy(digest, plans->digest, 32);
	digest[32] = LAYOUT;
	int rc = store_get(wt, PDB_META, DIGEST_KEY, strlen(DIGEST_KEY), &v);
	*reset = 0;
	if (rc == 0 && v.len == sizeof(digest) && memcmp(v.data, digest, sizeof(digest)) == 0)
		return 0;
	if (rc && rc != LD_E(NOT_FOUND))
		return rc;
	if ((rc = proj_clear(wt, &progress_projection)))
		return rc;
	*reset = 1;
	return store_put(wt, PDB_META, DIGEST_KEY, strlen(DIGEST_KEY), digest, sizeof(digest));
}

const projection_ops progress_projection = {
	.name = "progress",
	.dbs = dbs,
	.ndbs = GDB__COUNT,
	.cold = 1u << GDB_CONTRIB, /* read back only to take an event out */
	.create = create,
	.destroy = destroy,
	.apply = apply,
	.flush = flush,
	.discard = discard,
	.prepare = prepare,
	.flushing = flushing,
	.queries = progress_queries,
};

/* ------------------------------------------------------------------ */
/* Reports                                                             */
/* ------------------------------------------------------------------ */

/* A target as a message, allocated from a. */
static Ledger__PlanTarget *target_info(const plan *p, const plan_target *t, ld_arena *a)
{
	Ledger__PlanTarget *pt = ld_arena_alloc(a, sizeof(*pt));
	char measure[64];
	ledger__plan_target__init(pt);
	pt->id = ld_arena_strdup(a, t->id);
	pt->title = ld_arena_strdup(a, t->title);
	pt->event = ld_arena_strdup(a, plan_event_name(t->event));
	snprintf(measure, sizeof(measure), "%s%s%s", plan_measure_name(t->measure),
		 t->measure == PM_SUM ? ":" : "", t->measure == PM_SUM ? plan_field_name(t->field) : "");
	pt->measure = ld_arena_strdup(a, measure);
	pt->window = ld_arena_strdup(a, plan_window_name(t->window));
	pt->has_target = pt->has_city_targets = 1;
	pt->target = t->target;
	pt->unit = ld_arena_strdup(a, t->unit);
	pt->city_targets = t->city_targets == PCT_WORKFORCE;
	if (t->window == PW_YEARLY_AVERAGE) {
		pt->has_years = 1;
		pt->years = plan_years_run(p, p->to_us);
	}
	return pt;
}

Ledger__PlanInfo *progress_plan_info(const plan *p, ld_arena *a)
{
	Ledger__PlanInfo *pi = ld_arena_alloc(a, sizeof(*pi));
	ledger__plan_info__init(pi);
	pi->id = ld_arena_strdup(a, p->id);
	pi->title = ld_arena_strdup(a, p->title);
	if (p->source)
		pi->source = ld_arena_strdup(a, p->source);
	pi->has_region = pi->has_from = pi->has_to = pi->has_from_year = pi->has_to_year = 1;
	pi->region = p->region;
	pi->from = p->from_us;
	pi->to = p->to_us;
	pi->from_year = (uint32_t)p->from_year;
	pi->to_year = (uint32_t)p->to_year;
	pi->n_targets = p->ntargets;
	pi->targets = ld_arena_alloc(a, p->ntargets * sizeof(*pi->targets));
	for (unsigned i = 0; i < p->ntargets; i++)
		pi->targets[i] = target_info(p, &p->targets[i], a);
	pi->n_cities = p->ncities;
	pi->cities = ld_arena_alloc(a, (p->ncities + 1) * sizeof(*pi->cities));
	for (unsigned i = 0; i < p->ncities; i++) {
		Ledger__PlanCity *pc = ld_arena_alloc(a, sizeof(*pc));
		ledger__plan_city__init(pc);
		pc->has_code = 1;
		pc->code = p->cities[i].code;
		pc->name = ld_arena_strdup(a, p->cities[i].name);
		pi->cities[i] = pc;
	}
	return pi;
}

/* The estimates of a plan's cities, per group: their own (a city's code),
 * and the sums of their districts'. */
typedef struct city_wf {
	const plan *p;
	uint64_t own[PLAN_MAX_CITIES][WF_GROUPS], districts[PLAN_MAX_CITIES][WF_GROUPS];
	uint8_t has_own[PLAN_MAX_CITIES][WF_GROUPS];
} city_wf;

static int city_wf_add(void *arg, uint32_t region, unsigned group,
		       const struct members_estimate *e)
{
	city_wf *w = arg;
	if (group >= WF_GROUPS)
		return 0;
	for (unsigned i = 0; i < w->p->ncities; i++) {
		if (plan_city_of(region) != w->p->cities[i].code)
			continue;
		if (region == w->p->cities[i].code) {
			w->own[i][group] = e->count;
			w->has_own[i][group] = 1;
		} else {
			w->districts[i][group] += e->count;
		}
	}
	return 0;
}

/*
 * Each city's share of the workforce of the plan's cities, from the
 * workforce estimates in force at `at` (the members projection's, read
 * through members_estimates_each). A city's workforce is the sum over worker
 * groups of its own estimate, or, for a group it has none of, the sum of its
 * districts'. The province's own estimates are not shared out: they would
 * count the same workers twice. 0 everywhere when there are none.
 */
static int workforce_shares(const kv_read *t, const plan *p, int64_t at, double *share)
{
	city_wf *w = calloc(1, sizeof(*w));
	uint64_t total = 0, city[PLAN_MAX_CITIES] = {0};
	if (!w)
		return LD_E(INTERNAL);
	w->p = p;
	int rc = members_estimates_each(t, p->region, p->region + 9999, at, city_wf_add, w);
	for (unsigned i = 0; i < p->ncities && !rc; i++) {
		for (unsigned g = 0; g < WF_GROUPS; g++)
			city[i] += w->has_own[i][g] ? w->own[i][g] : w->districts[i][g];
		total += city[i];
	}
	for (unsigned i = 0; i < p->ncities; i++)
		share[i] = total ? (double)city[i] / (double)total : 0;
	free(w);
	return rc;
}

/* What a target asks of the province over its window: its figure, or for
 * an average a year that figure times the years of the period. */
static int64_t window_target(const plan *p, const plan_target *t)
{
	if (t->window != PW_YEARLY_AVERAGE)
		return t->target;
	int64_t x = (int64_t)llround((double)t->target * plan_years_run(p, p->to_us));
	return x > 0 ? x : 1;
}

static void judge(Ledger__ProgressRow *r, const plan *p, const plan_target *t, int64_t at)
{
	int64_t from = r->window_from, to = r->window_to;
	double days_left = (double)(to - (at > from ? at : from)) / 86400e6;
	if (!r->has_target) {
		r->status = LEDGER__PROGRESS_STATUS__NO_TARGET;
		return;
	}
	if (t->measure == PM_RATIO) {
		double share = r->denominator ? (double)r->actual * 100.0 / (double)r->denominator : 0;
		r->has_percent = r->has_expected = 1;
		r->percent = share * 100.0 / (double)r->target;
		r->expected = r->target;
		if (at < from)
			r->status = LEDGER__PROGRESS_STATUS__NOT_STARTED;
		else if (at >= to)
			r->status = share >= (double)r->target ? LEDGER__PROGRESS_STATUS__ACHIEVED
							       : LEDGER__PROGRESS_STATUS__MISSED;
		else
			r->status = share >= (double)r->target * 1.05 ? LEDGER__PROGRESS_STATUS__AHEAD
				    : share >= (double)r->target	  ? LEDGER__PROGRESS_STATUS__ON_TRACK
									  : LEDGER__PROGRESS_STATUS__BEHIND;
		return;
	}
	r->has_percent = r->has_expected = 1;
	r->percent = (double)r->actual * 100.0 / (double)r->target;
	if (at < from) {
		r->status = LEDGER__PROGRESS_STATUS__NOT_STARTED;
		r->expected = 0;
	} else if (at >= to) {
		r->expected = r->target;
		r->status = r->actual >= r->target ? LEDGER__PROGRESS_STATUS__ACHIEVED
						   : LEDGER__PROGRESS_STATUS__MISSED;
	} else {
		/* The share of the window run; an average a year is due year
		 * by year (a leap year's day counts a little less). */
		double frac = t->window == PW_YEARLY_AVERAGE
				  ? plan_years_run(p, at) / plan_years_run(p, to)
				  : (double)(at - from) / (double)(to - from);
		double exp = (double)r->target * frac;
		r->expected = (int64_t)llround(exp);
		r->status = r->actual >= r->target		  ? LEDGER__PROGRESS_STATUS__ACHIEVED
			    : (double)r->actual >= exp * 1.05 ? LEDGER__PROGRESS_STATUS__AHEAD
			    : (double)r->actual >= exp * 0.95 ? LEDGER__PROGRESS_STATUS__ON_TRACK
							      : LEDGER__PROGRESS_STATUS__BEHIND;
	}
	if (at < to && r->actual < r->target && days_left > 0) {
		r->has_needed_per_day = 1;
		r->needed_per_day = (double)(r->target - r->actual) / days_left;
	}
}

/* A region the plan does not report: ERR_INVALID_VALUE naming the ones it
 * does (the cities' codes, as many as the message holds). */
static int region_unknown(const plan *p, uint32_t region, const char *field, ld_errinfo *e)
{
	char codes[160] = "";
	size_t n = 0;
	for (unsigned i = 0; i < p->ncities; i++) {
		int w = snprintf(codes + n, sizeof(codes) - n, "%s%u", i ? ", " : "",
				 p->cities[i].code);
		if (w < 0 || (size_t)w >= sizeof(codes) - n - 4) {
			snprintf(codes + n, sizeof(codes) - n, ", …");
			break;
		}
		n += (size_t)w;
	}
	return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
			      "region %u is neither plan '%s''s province %u nor one of its %u "
			      "cities (%s; 'ledgerctl plans' names them)",
			      region, p->id, p->region, p->ncities, codes);
}

static int64_t day_of_ymd(uint32_t ymd);
static uint32_t ymd_of(int64_t n);
static void day_text(int64_t n, char out[16]);

/* The counters of one day of a figure, as "pdaily" holds them. */
typedef struct day_counts {
	int64_t num, den, events, voided, amended;
} day_counts;

/* Calls fn(arg, day, counters) for each day from lo to hi (day numbers)
 * that the figure `key` has in "pdaily", in order: 0, or a storage error
 * (a record of another size is one). */
static int days_walk(const kv_read *t, const uint8_t *key, int64_t lo, int64_t hi,
		     void (*fn)(void *arg, int64_t day, const day_counts *d), void *arg)
{
	uint8_t from[DAY_KEY_LEN];
	kvr_cursor *cur;
	store_val k, v;
	if (hi < lo)
		return 0;
	memcpy(from, key, KEY_LEN);
	ld_put_be32(from + KEY_LEN, (uint32_t)lo);
	int rc = kvr_cursor_open(t, DB(GDB_DAILY), &cur);
	if (rc)
		return rc;
	for (rc = kvr_cursor_seek(cur, from, DAY_KEY_LEN, &k, &v); rc == 0;
	     rc = kvr_cursor_next(cur, &k, &v)) {
		if (k.len != DAY_KEY_LEN || memcmp(k.data, key, KEY_LEN) != 0)
			break;
		int64_t day = ld_get_be32((const uint8_t *)k.data + KEY_LEN);
		if (day > hi)
			break;
		if (v.len != 40) {
			rc = LD_E(STORAGE);
			break;
		}
		const uint8_t *b = v.data;
		day_counts d = {(int64_t)ld_get_be64(b), (int64_t)ld_get_be64(b + 8),
				(int64_t)ld_get_be64(b + 16), (int64_t)ld_get_be64(b + 24),
				(int64_t)ld_get_be64(b + 32)};
		fn(arg, day, &d);
	}
	kvr_cursor_close(cur);
	return rc == LD_E(NOT_FOUND) ? 0 : rc;
}

static void sum_day(void *arg, int64_t day, const day_counts *d)
{
	int64_t *sum = arg;
	(void)day;
	sum[0] += d->num;
	sum[1] += d->den;
}

/* The figure `key` as it stood at the end of the day `upto`: its days from
 * lo to upto ("pdaily"), summed. Over a whole window the days give the
 * figure itself (progress_series relies on the same). */
static int figure_upto(const kv_read *t, const uint8_t *key, int64_t lo, int64_t upto,
		       int64_t *num, int64_t *den)
{
	int64_t sum[2] = {0, 0};
	int rc = days_walk(t, key, lo, upto, sum_day, sum);
	*num = sum[0];
	*den = sum[1];
	return rc;
}

int progress_report(const progress *pg, const kv_read *t, const plan *p, uint32_t year,
		    uint32_t region, int64_t at, Ledger__ProgressReport *out, ld_arena *a,
		    ld_errinfo *e)
{
	return progress_report_day(pg, t, p, year, region, 0, at, out, a, e);
}

int progress_report_day(const progress *pg, const kv_read *t, const plan *p, uint32_t year,
			uint32_t region, uint32_t day, int64_t at, Ledger__ProgressReport *out,
			ld_arena *a, ld_errinfo *e)
{
	unsigned pi = (unsigned)(p - pg->plans.plans);
	int64_t upto = -1; /* with day: the day number of its last day counted */
	int rc, city_ix = -2; /* -2: all regions, -1: the province, else a city */
	double share[PLAN_MAX_CITIES];

	ledger__progress_report__init(out);
	if (year && (year < (uint32_t)p->from_year || year > (uint32_t)p->to_year))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "progress.year",
				      "plan '%s' runs from %d to %d, not in %u", p->id, p->from_year,
				      p->to_year, year);
	if (region) {
		if (region == p->region)
			city_ix = -1;
		for (unsigned i = 0; i < p->ncities && city_ix == -2; i++)
			if (p->cities[i].code == region)
				city_ix = (int)i;
		if (city_ix == -2)
			return region_unknown(p, region, "progress.region", e);
	}
	if (day) {
		/* The end of the day, or now for today; a day to come has no
		 * figures yet, and one before the plan would show none. */
		int64_t n = day_of_ymd(day), first = plan_day_of(p, p->from_us);
		int64_t today = plan_day_of(p, at);
		char d[16], x[16];
		if (n < 0)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "progress.day",
					      "%u is not a day YYYYMMDD", day);
		day_text(n, d);
		if (n > today) {
			day_text(today, x);
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "progress.day",
					      "day %s has not come yet (today is %s in plan '%s''s "
					      "time): there are no figures of it",
					      d, x, p->id);
		}
		if (n < first) {
			day_text(first, x);
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "progress.day",
					      "day %s is before plan '%s' begins (%s)", d, p->id, x);
		}
		int64_t end = (n + 1) * 86400000000LL - (int64_t)p->utc_offset_s * 1000000;
		if (end < at)
			at = end;
		upto = n;
	}
	if ((rc = workforce_shares(t, p, at, share)))
		return rc;

	out->plan = progress_plan_info(p, a);
	out->has_at = 1;
	out->at = at;
	if (day) {
		out->has_day = 1;
		out->day = day;
	}
	size_t cap = 0;
	for (unsigned ti = 0; ti < p->ntargets; ti++)
		cap += (size_t)(p->targets[ti].window == PW_YEARLY ? p->to_year - p->from_year + 1 : 1);
	cap *= p->ncities + 1;
	out->rows = ld_arena_alloc(a, (cap + 1) * sizeof(*out->rows));

	for (unsigned ti = 0; ti < p->ntargets; ti++) {
		const plan_target *tg = &p->targets[ti];
		int y0 = tg->window == PW_YEARLY ? p->from_year : 0;
		int y1 = tg->window == PW_YEARLY ? p->to_year : 0;
		for (int y = y0; y <= y1; y++) {
			if (year && y && (uint32_t)y != year)
				continue;
			for (int ci = -1; ci < (int)p->ncities; ci++) {
				if (city_ix != -2 && ci != city_ix)
					continue;
				uint32_t reg = ci < 0 ? p->region : p->cities[ci].code;
				uint8_t key[KEY_LEN];
				int64_t num, den;
				make_key(key, pi, ti, (unsigned)y, reg);
				int64_t wfrom, wto;
				plan_window(p, tg, y, &wfrom, &wto);
				if (upto < 0)
					rc = read_figure(t, key, &num, &den);
				else
					rc = figure_upto(t, key, plan_day_of(p, wfrom), upto, &num,
							 &den);
				if (rc)
					return rc;
				Ledger__ProgressRow *r = ld_arena_alloc(a, sizeof(*r));
				ledger__progress_row__init(r);
				r->target_id = ld_arena_strdup(a, tg->id);
				r->has_year = r->has_region = r->has_actual = 1;
				r->has_window_from = r->has_window_to = r->has_status = 1;
				r->year = (uint32_t)y;
				r->region = reg;
				r->actual = num;
				if (tg->measure == PM_RATIO) {
					r->has_denominator = 1;
					r->denominator = den;
				}
				plan_window(p, tg, y, &r->window_from, &r->window_to);
				if (ci < 0) {
					r->has_target = 1;
					r->target = window_target(p, tg);
				} else if (tg->city_targets == PCT_WORKFORCE) {
					if (tg->measure == PM_RATIO) {
						r->has_target = 1;
						r->target = tg->target;
					} else if (share[ci] > 0) {
						int64_t x = (int64_t)llround(
						    (double)window_target(p, tg) * share[ci]);
						r->has_target = 1;
						r->target = x > 0 ? x : 1;
					}
				}
				judge(r, p, tg, at);
				out->rows[out->n_rows++] = r;
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* A figure day by day                                                 */
/* ------------------------------------------------------------------ */

/* Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The day n as YYYYMMDD. */
static uint32_t ymd_of(int64_t n)
{
	n += 719468;
	int64_t era = (n >= 0 ? n : n - 146096) / 146097;
	unsigned doe = (unsigned)(n - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	return (uint32_t)((y + (m <= 2)) * 10000 + m * 100 + d);
}

/* YYYYMMDD as a day number; -1 if it is not a calendar day. */
static int64_t day_of_ymd(uint32_t ymd)
{
	unsigned y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;
	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1)
		return -1;
	int64_t n = days_from_civil(y, m, d);
	return ymd_of(n) == ymd ? n : -1;
}

/* "YYYY-MM-DD" of a day number, for messages. */
static void day_text(int64_t n, char out[16])
{
	uint32_t v = ymd_of(n);
	snprintf(out, 16, "%04u-%02u-%02u", v / 10000, v / 100 % 100, v % 100);
}

/* A requested day (YYYYMMDD) within [lo, hi], into *day. */
static int check_day(const plan *p, const char *field, uint32_t ymd, int64_t lo, int64_t hi,
		     int64_t *day, ld_errinfo *e)
{
	char a[16], b[16], c[16];
	int64_t n = day_of_ymd(ymd);
	if (n < 0)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field, "%u is not a day YYYYMMDD", ymd);
	if (n < lo || n > hi) {
		day_text(n, a);
		day_text(lo, b);
		day_text(hi, c);
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				      "day %s is outside %s to %s (plan '%s')", a, b, c, p->id);
	}
	*day = n;
	return 0;
}

/* Adds the days [lo, hi] of the figure `key` to the buckets. */
typedef struct series_acc {
	Ledger__ProgressSeries *out;
	size_t cap;
	int week;
	int64_t offset_us; /* the plan's */
	int64_t voided, amended;
	ld_arena *a;
} series_acc;

static void series_add(series_acc *acc, int64_t day, const day_counts *d)
{
	Ledger__ProgressSeries *o = acc->out;
	int64_t start = acc->week ? day - (day + 3) % 7 : day; /* 1970-01-01 was a Thursday */
	o->value += d->num;
	o->denominator += d->den;
	o->events += d->events;
	acc->voided += d->voided;
	acc->amended += d->amended;
	if (!d->events)
		return; /* a point is a bucket where events count */
	Ledger__ProgressPoint *pt = o->n_points ? o->points[o->n_points - 1] : NULL;
	if (!pt || (int64_t)pt->day != (int64_t)ymd_of(start)) {
		if (o->n_points == acc->cap)
			return; /* cannot happen: cap is the days of the range */
		pt = ld_arena_alloc(acc->a, sizeof(*pt));
		ledger__progress_point__init(pt);
		pt->has_day = pt->has_at = pt->has_value = pt->has_events = 1;
		pt->day = ymd_of(start);
		pt->at = start * 86400000000LL - acc->offset_us;
		o->points[o->n_points++] = pt;
	}
	pt->value += d->num;
	pt->events += d->events;
	if (d->den) {
		pt->has_denominator = 1;
		pt->denominator += d->den;
	}
}

static void series_day(void *arg, int64_t day, const day_counts *d)
{
	series_add(arg, day, d);
}

static Ledger__KindCount *kind_count(ld_arena *a, const char *kind, int64_t n)
{
	Ledger__KindCount *k = ld_arena_alloc(a, sizeof(*k));
	ledger__kind_count__init(k);
	k->kind = ld_arena_strdup(a, kind);
	k->has_count = 1;
	k->count = n;
	return k;
}

int progress_series(const progress *pg, const kv_read *t, const plan *p,
		    const Ledger__ProgressSeriesRequest *q, Ledger__ProgressSeries *out, ld_arena *a,
		    ld_errinfo *e)
{
	unsigned pi = (unsigned)(p - pg->plans.plans), ti;
	uint32_t region = q->has_region && q->region ? q->region : p->region;
	int rc;

	ledger__progress_series__init(out);
	for (ti = 0; ti < p->ntargets; ti++)
		if (q->target && !strcmp(p->targets[ti].id, q->target))
			break;
	if (ti == p->ntargets)
		return ld_errinfo_set(e, LD_E(NOT_FOUND), "progress_series.target",
				      "plan '%s' has no target '%s'", p->id, q->target ? q->target : "");
	const plan_target *tg = &p->targets[ti];
	int known = region == p->region;
	for (unsigned i = 0; i < p->ncities && !known; i++)
		known = p->cities[i].code == region;
	if (!known)
		return region_unknown(p, region, "progress_series.region", e);
	/* The days asked for, within the plan's period (and the year). */
	int64_t lo = plan_day_of(p, p->from_us), hi = plan_day_of(p, p->to_us - 1);
	if (q->has_year && q->year) {
		if (q->year < (uint32_t)p->from_year || q->year > (uint32_t)p->to_year)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "progress_series.year",
					      "plan '%s' runs from %d to %d, not in %u", p->id,
					      p->from_year, p->to_year, q->year);
		int64_t y0 = days_from_civil(q->year, 1, 1), y1 = days_from_civil(q->year, 12, 31);
		lo = y0 > lo ? y0 : lo;
		hi = y1 < hi ? y1 : hi;
	}
	int64_t from = lo, to = hi;
	if (q->has_from_day && q->from_day &&
	    (rc = check_day(p, "progress_series.from_day", q->from_day, lo, hi, &from, e)))
		return rc;
	if (q->has_to_day && q->to_day &&
	    (rc = check_day(p, "progress_series.to_day", q->to_day, lo, hi, &to, e)))
		return rc;
	if (from > to)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "progress_series.to_day",
				      "to_day %u is before from_day %u", q->to_day, q->from_day);

	int64_t offset_us = (int64_t)p->utc_offset_s * 1000000;
	out->plan = ld_arena_strdup(a, p->id);
	out->target = ld_arena_strdup(a, tg->id);
	out->has_region = out->has_from_day = out->has_to_day = out->has_from = out->has_to = 1;
	out->region = region;
	out->from_day = ymd_of(from);
	out->to_day = ymd_of(to);
	out->from = from * 86400000000LL - offset_us;
	out->to = (to + 1) * 86400000000LL - offset_us;
	out->has_step = 1;
	out->step = q->step == LEDGER__SERIES_STEP__WEEK ? LEDGER__SERIES_STEP__WEEK
							 : LEDGER__SERIES_STEP__DAY;
	out->has_value = out->has_events = 1;
	out->has_denominator = tg->measure == PM_RATIO;
	out->definition = target_info(p, tg, a);
	series_acc acc = {.out = out,
			  .cap = (size_t)(to - from + 1),
			  .week = out->step == LEDGER__SERIES_STEP__WEEK,
			  .offset_us = offset_us,
			  .a = a};
	out->points = ld_arena_alloc(a, (acc.cap + 1) * sizeof(*out->points));

	/* A yearly target keeps each year's days under that year's window. */
	uint8_t key[KEY_LEN];
	if (tg->window == PW_YEARLY) {
		uint32_t y0 = ymd_of(from) / 10000, y1 = ymd_of(to) / 10000;
		for (uint32_t y = y0; y <= y1; y++) {
			int64_t a0 = days_from_civil(y, 1, 1), a1 = days_from_civil(y, 12, 31);
			make_key(key, pi, ti, y, region);
			if ((rc = days_walk(t, key, a0 > from ? a0 : from, a1 < to ? a1 : to,
					    series_day, &acc)))
				return rc;
		}
	} else {
		make_key(key, pi, ti, 0, region);
		if ((rc = days_walk(t, key, from, to, series_day, &acc)))
			return rc;
	}
	out->kinds = ld_arena_alloc(a, 3 * sizeof(*out->kinds));
	out->kinds[out->n_kinds++] = kind_count(a, plan_event_name(tg->event), out->events);
	if (acc.voided)
		out->kinds[out->n_kinds++] = kind_count(a, "event_voided", acc.voided);
	if (acc.amended)
		out->kinds[out->n_kinds++] = kind_count(a, "event_amended", acc.amended);
	return 0;
}
/* ------------------------------------------------------------------ */
/* Queries                                                             */
/* ------------------------------------------------------------------ */

/* progress: a plan's report, its status judged at `at` (now by default). */
static int progress_run(const proj_query_ctx *q, const ProtobufCMessage *args,
			Ledger__Response *resp)
{
	const Ledger__ProgressRequest *r = (const Ledger__ProgressRequest *)args;
	const progress *pg = q->state;
	const plan *p;
	if (!ld_has(r->plan))
		return ld_errinfo_set(q->e, LD_E(MISSING_FIELD), "progress.plan",
				      "progress.plan is required");
	if (!(p = plan_find(progress_plans(pg), r->plan)))
		return ld_errinfo_set(q->e, LD_E(NOT_FOUND), "progress.plan",
				      "no plan '%.64s' (%u plan(s) loaded; 'ledgerctl plans' lists "
				      "them)",
				      r->plan, progress_plans(pg)->n);
	Ledger__ProgressReport *rep = ld_arena_alloc(q->a, sizeof(*rep));
	int rc = progress_report_day(pg, q->rd, p, r->has_year ? r->year : 0,
				     r->has_region ? r->region : 0, r->has_day ? r->day : 0,
				     r->has_day ? q->now_us : r->has_at ? r->at : q->now_us, rep, q->a,
				     q->e);
	resp->result_case = LEDGER__RESPONSE__RESULT_PROGRESS;
	resp->progress = rep;
	return rc;
}

/* progress_series: a target's figure day by day (progress_series above). */
static int series_run(const proj_query_ctx *q, const ProtobufCMessage *args, Ledger__Response *resp)
{
	const Ledger__ProgressSeriesRequest *r = (const Ledger__ProgressSeriesRequest *)args;
	const progress *pg = q->state;
	const plan *p;
	int rc;
	if ((rc = proj_required_id(r->plan, "progress_series.plan", "plan", q->e)) ||
	    (rc = proj_required_id(r->target, "progress_series.target", "target", q->e)))
		return rc;
	if (!(p = plan_find(progress_plans(pg), r->plan)))
		return ld_errinfo_set(q->e, LD_E(NOT_FOUND), "progress_series.plan",
				      "no plan '%.64s' (%u plan(s) loaded; 'ledgerctl plans' lists "
				      "them)",
				      r->plan, progress_plans(pg)->n);
	Ledger__ProgressSeries *out = ld_arena_alloc(q->a, sizeof(*out));
	rc = progress_series(pg, q->rd, p, r, out, q->a, q->e);
	resp->result_case = LEDGER__RESPONSE__RESULT_PROGRESS_SERIES;
	resp->progress_series = out;
	return rc;
}

/* plans: the plans loaded, and where the live feed is. */
static int plans_run(const proj_query_ctx *q, const ProtobufCMessage *args,
		     Ledger__Response *resp)
{
	const plan_set *ps = progress_plans(q->state);
	Ledger__PlanList *list = ld_arena_alloc(q->a, sizeof(*list));
	(void)args;
	ledger__plan_list__init(list);
	list->n_plans = ps->n;
	list->plans = ld_arena_alloc(q->a, (ps->n + 1) * sizeof(*list->plans));
	for (unsigned i = 0; i < ps->n; i++)
		list->plans[i] = progress_plan_info(&ps->plans[i], q->a);
	list->feed_url = (char *)q->feed_url;
	resp->result_case = LEDGER__RESPONSE__RESULT_PLANS;
	resp->plans = list;
	return 0;
}

/* A plan's report or series: rows over its targets, years and cities, or
 * its days. */
static int plan_heavy(const ProtobufCMessage *args)
{
	(void)args;
	return 1;
}

const projection_query progress_queries[] = {
	{LEDGER__REQUEST__COMMAND_PROGRESS, 0, progress_run, NULL, plan_heavy},
	{LEDGER__REQUEST__COMMAND_PROGRESS_SERIES, 0, series_run, NULL, plan_heavy},
	{LEDGER__REQUEST__COMMAND_PLANS, PQ_NO_STATE, plans_run, NULL, NULL},
	{0},
};
