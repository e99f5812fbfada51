/* sink_load.c — batches of events into the sink's tables, corrections
 * applied at commit. See sink_load.h. */
#include "sink_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "i18n.h"

#include "kinds.h"
#include "sink_fold.h"

/* ------------------------------------------------------------------ */
/* A map from strings to pointers (open addressing; keys copied)       */
/* ------------------------------------------------------------------ */

typedef struct smap {
	struct smap_slot {
		char *key;
		void *val;
		uint64_t hash; /* of key: most probes end without a strcmp */
	} * slots;
	size_t cap, n;
} smap;

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
	return h;
}

static struct smap_slot *smap_slot(const smap *m, const char *key, uint64_t h)
{
	for (size_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1))
		if (!m->slots[j].key ||
		    (m->slots[j].hash == h && strcmp(m->slots[j].key, key) == 0))
			return &m->slots[j];
}

static void *smap_get(const smap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	struct smap_slot *sl = smap_slot(m, key, hash_str(key));
	return sl->key ? sl->val : NULL;
}

/* Sets key's value (val not NULL); 0 or SINK_ERR (out of memory). */
static int smap_put(smap *m, const char *key, void *val)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct smap_slot *old = m->slots;
		size_t oldcap = m->cap;
		m->slots = calloc(cap, sizeof(*m->slots));
		if (!m->slots) {
			m->slots = old;
			return SINK_ERR;
		}
		m->cap = cap;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].key)
				*smap_slot(m, old[i].key, old[i].hash) = old[i];
		free(old);
	}
	uint64_t h = hash_str(key);
	struct smap_slot *sl = smap_slot(m, key, h);
	if (!sl->key) {
		if (!(sl->key = strdup(key)))
			return SINK_ERR;
		sl->hash = h;
		m->n++;
	}
	sl->val = val;
	return 0;
}

static void smap_clear(smap *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key) {
			if (free_val)
				free_val(m->slots[i].val);
			free(m->slots[i].key);
		}
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static void free_member(void *p)
{
	if (!p) /* none: a hostile page's stream member/X without a member X */
		return;
	sink_member_release(p);
	free(p);
}

/* The seqs of a stream's events, in order. */
typedef struct seqs {
	int64_t *v;
	size_t n, cap;
} seqs;

static void free_seqs(void *p)
{
	seqs *q = p;
	free(q->v);
	free(q);
}

/* ------------------------------------------------------------------ */
/* The loader                                                          */
/* ------------------------------------------------------------------ */

typedef struct org_node {
	char parent[SINK_ID_LEN];
	int64_t depth;
} org_node;

typedef struct correction {
	uint64_t seq, target;
	int amend;
} correction;

struct sink_loader {
	const sink_ops *ops;
	sink *s;
	char source[SINK_ID_LEN];
	sink_emit emit;
	char *err; /* the caller's buffer, for the call in progress */

	uint64_t cp, last; /* committed; last of the open batch */
	uint8_t cp_hash[LD_HASH_LEN], last_hash[LD_HASH_LEN];
	int cp_has_hash, last_has_hash;
	int in_txn;
	size_t nevents;

	smap tree;    /* org id → org_node, for the whole session */
	smap members; /* of the batch (first load: of the session): id → sink_member */
	smap orgs;    /* of the batch: id → sink_org */
	smap refold;  /* of the batch: member ids to re-fold at commit */
	correction *corr;
	size_t ncorr, capcorr;

	uint64_t v1_last;
	int v1_known;

	/* The first load of a source (its checkpoint 0 and the loader's
	 * indexes not made yet): every member's state stays in `members` for
	 * the session instead of being loaded per batch, and the seqs of each
	 * member's and organisation's stream are kept in `streams`, so that
	 * re-folding reads a stream by its primary key. The tables then need
	 * no index but their keys while they fill; sink_schema_finish makes
	 * the rest at the end. */
	int first;
	smap streams; /* first load: "member/ID", "org/ID" → seqs */

	/* Otherwise (the indexes made): the planner's statistics are refreshed
	 * each time the checkpoint reaches analyze_at, which then doubles. A
	 * source loaded into a database that holds others already has no
	 * statistics of its own until then: PostgreSQL estimates it at a row
	 * or two and probes its deletes and read-backs by `source` alone, each
	 * reading every row of the source loaded so far. */
	uint64_t analyze_at;

	codec_pool pool; /* the events of the page being loaded */
};

/* Members a first load keeps in memory, at most (about 1 KB each): past
 * them, the loader's indexes are made and it loads states per batch.
 * $LEDGER_SINK_FIRST_LOAD_MEMBERS sets another bound (tests: a small one). */
#define FIRST_LOAD_MEMBERS 1000000

/* Events of a source loaded past its indexes before its statistics are
 * first refreshed (then at twice the checkpoint each time). */
#define ANALYZE_FIRST 1000

static size_t first_load_members(void)
{
	const char *v = getenv("LEDGER_SINK_FIRST_LOAD_MEMBERS");
	char *end;
	unsigned long long n = v && *v ? strtoull(v, &end, 10) : 0;
	return n && !*end ? (size_t)n : FIRST_LOAD_MEMBERS;
}

static int emit_row(void *arg, int table, const sink_val *v, int replace)
{
	sink_loader *l = arg;
	return l->ops->row(l->s, table, v, replace, l->err);
}

static int oom(sink_loader *l)
{
	snprintf(l->err, SINK_ERRLEN, _("out of memory"));
	return SINK_ERR;
}

static sink_val src(const sink_loader *l)
{
	return sink_text(l->source);
}

static void batch_reset(sink_loader *l)
{
	if (!l->first)
		smap_clear(&l->members, free_member);
	smap_clear(&l->orgs, free);
	smap_clear(&l->refold, NULL);
	l->ncorr = 0;
	l->nevents = 0;
	l->last = l->cp;
	memcpy(l->last_hash, l->cp_hash, LD_HASH_LEN);
	l->last_has_hash = l->cp_has_hash;
}

static int cp_fn(void *arg, const sink_val *v)
{
	sink_loader *l = arg;
	l->cp = v[0].t == SV_INT ? (uint64_t)v[0].i : 0;
	l->cp_has_hash = v[1].t == SV_TEXT && ldc_parse_hex(v[1].s, l->cp_hash, LD_HASH_LEN) == 0;
	if (l->cp == 0) { /* the chain starts from 32 zero bytes */
		memset(l->cp_hash, 0, LD_HASH_LEN);
		l->cp_has_hash = 1;
	}
	return 0;
}

static int tree_fn(void *arg, const sink_val *v)
{
	sink_loader *l = arg;
	if (v[0].t != SV_TEXT)
		return 0;
	org_node *n = calloc(1, sizeof(*n));
	if (!n)
		return oom(l);
	if (v[1].t == SV_TEXT)
		snprintf(n->parent, sizeof(n->parent), "%s", v[1].s);
	n->depth = v[2].t == SV_INT ? v[2].i : 0;
	free(smap_get(&l->tree, v[0].s));
	if (smap_put(&l->tree, v[0].s, n)) {
		free(n);
		return oom(l);
	}
	return 0;
}

static int redo_members(sink_loader *l);

int sink_loader_open(sink_loader **out, const sink_ops *ops, sink *s, const char *source,
                     char err[SINK_ERRLEN])
{
	sink_loader *l = calloc(1, sizeof(*l));
	*out = NULL;
	if (!l) {
		snprintf(err, SINK_ERRLEN, _("out of memory"));
		return SINK_ERR;
	}
	l->ops = ops;
	l->s = s;
	l->err = err;
	snprintf(l->source, sizeof(l->source), "%s", source);
	l->emit = (sink_emit){emit_row, l, l->source};
	sink_val p = src(l);
	static const enum sink_ctype cp_types[] = {SC_INT, SC_TEXT};
	static const enum sink_ctype tree_types[] = {SC_TEXT, SC_TEXT, SC_INT};
	int indexed = 0;
	int rc = ops->begin(s, 0, err);
	if (rc)
		goto fail;
	if ((rc = ops->exec(s,
	                    "INSERT INTO sink_checkpoint (source, last_seq) VALUES ($1, 0) "
	                    "ON CONFLICT (source) DO NOTHING",
	                    &p, 1, err)) ||
	    (rc = ops->query(s, "SELECT last_seq, last_hash FROM sink_checkpoint WHERE source = $1",
	                     &p, 1, cp_types, 2, cp_fn, l, err)) ||
	    (rc = ops->query(s,
	                     "SELECT org_id, parent_id, depth FROM organisations WHERE source = $1",
	                     &p, 1, tree_types, 3, tree_fn, l, err)) ||
	    (rc = sink_schema_indexed(ops, s, &indexed, err)) || (rc = ops->commit(s, err)))
		goto fail;
	/* Without the loader's indexes, a source loaded from the start is a
	 * first load; one loaded part of the way (a first load interrupted)
	 * gets them now. */
	l->analyze_at = l->cp > ANALYZE_FIRST / 2 ? 2 * l->cp : ANALYZE_FIRST;
	if (!indexed && l->cp == 0)
		l->first = 1;
	else if (!indexed && (rc = sink_schema_finish(ops, s, err)))
		goto fail;
	if (l->first && ops->first_load_sql &&
	    (rc = ops->exec(s, ops->first_load_sql, NULL, 0, err)))
		goto fail;
	batch_reset(l);
	if (!l->first && (rc = redo_members(l)))
		goto fail;
	*out = l;
	return 0;
fail:
	ops->rollback(s);
	smap_clear(&l->tree, free);
	free(l);
	return rc;
}

void sink_loader_free(sink_loader *l)
{
	if (!l)
		return;
	if (l->in_txn)
		l->ops->rollback(l->s);
	l->first = 0;
	batch_reset(l);
	smap_clear(&l->streams, free_seqs);
	smap_clear(&l->tree, free);
	codec_pool_free(&l->pool);
	free(l->corr);
	free(l);
}

uint64_t sink_loader_checkpoint(const sink_loader *l)
{
	return l->cp;
}

uint64_t sink_loader_pending(const sink_loader *l, size_t *events)
{
	if (events)
		*events = l->nevents;
	return l->last;
}

/* ------------------------------------------------------------------ */
/* Members of the batch: loaded once, in bulk per page                  */
/* ------------------------------------------------------------------ */

static int member_row_fn(void *arg, const sink_val *v)
{
	sink_loader *l = arg;
	sink_member *m = v[1].t == SV_TEXT ? smap_get(&l->members, v[1].s) : NULL;
	if (m)
		sink_member_from_row(m, v);
	return 0;
}

static int mship_row_fn(void *arg, const sink_val *v)
{
	sink_loader *l = arg;
	sink_member *m = v[2].t == SV_TEXT ? smap_get(&l->members, v[2].s) : NULL;
	return m && sink_member_add_mship_row(m, v) ? oom(l) : 0;
}

static int aff_row_fn(void *arg, const sink_val *v)
{
	sink_loader *l = arg;
	sink_member *m = v[2].t == SV_TEXT ? smap_get(&l->members, v[2].s) : NULL;
	return m && sink_member_add_aff_row(m, v) ? oom(l) : 0;
}

/* Puts every member the events concern into the batch's map, loading the
 * ones not there yet. */
static int members_prefetch(sink_loader *l, Ledger__Event *const *evs, size_t n)
{
	const char **ids = malloc((n ? n : 1) * sizeof(*ids));
	size_t nids = 0;
	int rc = 0;
	if (!ids)
		return oom(l);
	for (size_t i = 0; i < n; i++) {
		const char *id = codec_event_member(evs[i]);
		if (!id || smap_get(&l->members, id))
			continue;
		sink_member *m = malloc(sizeof(*m));
		if (!m || smap_put(&l->members, id, m)) {
			free(m);
			rc = oom(l);
			goto out;
		}
		sink_member_init(m, id);
		ids[nids++] = m->id;
	}
	if (!nids || l->first) /* a first load knows each member it has seen */
		goto out;
	const sink_ops *o = l->ops;
	if ((rc =
	         o->load(l->s, ST_MEMBERS, l->source, 1, ids, nids, 0, member_row_fn, l, l->err)) ||
	    (rc = o->load(l->s, ST_MEMBERSHIPS, l->source, 2, ids, nids, 1, mship_row_fn, l,
	                  l->err)) ||
	    (rc =
	         o->load(l->s, ST_AFFILIATIONS, l->source, 2, ids, nids, 1, aff_row_fn, l, l->err)))
		goto out;
out:
	free(ids);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Organisations                                                        */
/* ------------------------------------------------------------------ */

static int org_row_fn(void *arg, const sink_val *v)
{
	sink_org_from_row(arg, v);
	return 0;
}

/* The batch's state of organisation id (loaded if needed; NULL: out of
 * memory or an error, in l->err). */
static sink_org *org_get(sink_loader *l, const char *id, int *rc)
{
	sink_org *o = smap_get(&l->orgs, id);
	if (o)
		return o;
	if (!(o = calloc(1, sizeof(*o))) || smap_put(&l->orgs, id, o)) {
		free(o);
		*rc = oom(l);
		return NULL;
	}
	snprintf(o->id, sizeof(o->id), "%s", id);
	if ((*rc = l->ops->load(l->s, ST_ORGANISATIONS, l->source, 1, &id, 1, 0, org_row_fn, o,
	                        l->err)))
		return NULL;
	return o;
}

static int org_registered(sink_loader *l, const Ledger__Event *ev)
{
	const Ledger__OrgRegistered *r = ev->org_registered;
	const char *parent = ld_has(r->parent_id) ? r->parent_id : "";
	org_node *pn = parent[0] ? smap_get(&l->tree, parent) : NULL;
	org_node *n = calloc(1, sizeof(*n));
	int rc;
	if (!n)
		return oom(l);
	snprintf(n->parent, sizeof(n->parent), "%s", parent);
	n->depth = pn ? pn->depth + 1 : 0;
	free(smap_get(&l->tree, r->org_id));
	if (smap_put(&l->tree, r->org_id, n)) {
		free(n);
		return oom(l);
	}
	sink_org *o = org_get(l, r->org_id, &rc);
	if (!o)
		return rc;
	sink_org_step(o, ev, n->depth);

	/* The organisation under itself and every ancestor. */
	sink_val v[4] = {src(l), sink_text(r->org_id), sink_text(r->org_id), sink_int(0)};
	if ((rc = emit_row(l, ST_ORG_TREE, v, 0)))
		return rc;
	const char *a = parent;
	for (int64_t d = 1; a[0] && d < 64; d++) {
		v[1] = sink_text(a);
		v[3] = sink_int(d);
		if ((rc = emit_row(l, ST_ORG_TREE, v, 0)))
			return rc;
		org_node *an = smap_get(&l->tree, a);
		a = an ? an->parent : "";
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pages                                                               */
/* ------------------------------------------------------------------ */

/* A void or an amendment: noted, applied at commit. */
static int correction_note(sink_loader *l, const Ledger__Event *ev, const ld_kind *k)
{
	if (l->ncorr == l->capcorr) {
		size_t cap = l->capcorr ? l->capcorr * 2 : 64;
		correction *p = realloc(l->corr, cap * sizeof(*p));
		if (!p)
			return oom(l);
		l->corr = p;
		l->capcorr = cap;
	}
	correction *c = &l->corr[l->ncorr++];
	c->seq = ev->seq;
	c->amend = (k->flags & LD_KIND_AMENDMENT) != 0;
	c->target = ld_field_num(&k->target, ld_kind_body(k, ev));
	return 0;
}

/* A first load: ev's seq goes to its stream's seqs (a member's or an
 * organisation's: the streams re-folded). */
static int stream_note(sink_loader *l, const Ledger__Event *ev)
{
	const char *st = ev->stream;
	if (!st || (strncmp(st, "member/", 7) != 0 && strncmp(st, "org/", 4) != 0))
		return 0;
	seqs *q = smap_get(&l->streams, st);
	if (!q) {
		if (!(q = calloc(1, sizeof(*q))) || smap_put(&l->streams, st, q)) {
			free(q);
			return oom(l);
		}
	}
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 8;
		int64_t *v = realloc(q->v, cap * sizeof(*v));
		if (!v)
			return oom(l);
		q->v = v;
		q->cap = cap;
	}
	q->v[q->n++] = (int64_t)ev->seq;
	return 0;
}

static int load_event(sink_loader *l, const Ledger__Event *ev, const ldc_bytes *raw)
{
	int rc = sink_emit_event(&l->emit, ev, raw->data, raw->len);
	if (rc || (l->first && (rc = stream_note(l, ev))))
		return rc;
	const char *member = codec_event_member(ev);
	if (member) {
		sink_member *m = smap_get(&l->members, member);
		if (!m)
			return oom(l); /* members_prefetch put it there */
		if ((rc = sink_member_step(m, ev, &l->emit)))
			return rc;
		/* A refund may un-settle the months of its payment. */
		if (ev->body_case == LEDGER__EVENT__BODY_DUES_REFUNDED &&
		    smap_put(&l->refold, member, l))
			return oom(l);
		return 0;
	}
	const ld_kind *k = ld_kind_of(ev->body_case);
	if (k->flags & LD_KIND_CORRECTION) {
		if ((rc = sink_emit_correction(&l->emit, ev)))
			return rc;
		return correction_note(l, ev, k);
	}
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_ORG_REGISTERED:
		return org_registered(l, ev);
	case LEDGER__EVENT__BODY_ORG_UPDATED:
	case LEDGER__EVENT__BODY_ORG_DISSOLVED: {
		const char *id = ld_field_str(&k->subject, ld_kind_body(k, ev));
		sink_org *o = id ? org_get(l, id, &rc) : NULL;
		if (!o)
			return rc;
		org_node *n = smap_get(&l->tree, id);
		sink_org_step(o, ev, n ? n->depth : 0);
		return 0;
	}
	default:
		return sink_emit_fact(&l->emit, ev, NULL);
	}
}

/* At the start of a batch: the checkpoint is still the one this loader
 * committed, and stays so until the batch commits (its row is locked), or
 * another sink loads the same source into the same database: refused, before
 * it could collide with this one's rows. */
static int checkpoint_held(sink_loader *l)
{
	static const enum sink_ctype types[] = {SC_INT, SC_TEXT};
	char sql[128];
	sink_loader seen = {.err = l->err};
	sink_val p = src(l);
	snprintf(sql, sizeof(sql),
	         "SELECT last_seq, last_hash FROM sink_checkpoint WHERE source = $1%s",
	         l->ops->lock_row);
	int rc = l->ops->query(l->s, sql, &p, 1, types, 2, cp_fn, &seen, l->err);
	if (rc || seen.cp == l->cp)
		return rc;
	snprintf(
	    l->err, SINK_ERRLEN,
	    _("another ledger-sink loaded source '%s' of this database up to seq %llu while this "
	    "one was at seq %llu: one sink per source and database"),
	    l->source, (unsigned long long)seen.cp, (unsigned long long)l->cp);
	return SINK_ERR;
}

static int source_fn(void *arg, const sink_val *v)
{
	char *out = arg;
	if (v[0].t == SV_TEXT && !out[0])
		snprintf(out, SINK_ID_LEN, "%s", v[0].s);
	return 0;
}

/* The first event of a source: refused when the database holds the same
 * ledger (the same first event) under another source already, which would
 * count every member of it twice in queries over all sources. */
static int ledger_elsewhere(sink_loader *l, const Ledger__Event *ev)
{
	static const enum sink_ctype types[] = {SC_TEXT};
	char hex[2 * LD_HASH_LEN + 1], other[SINK_ID_LEN] = "";
	if (ev->hash.len != LD_HASH_LEN)
		return 0;
	ldc_format_hex(ev->hash.data, LD_HASH_LEN, hex);
	sink_val p[2] = {src(l), sink_text(hex)};
	int rc = l->ops->query(l->s,
	                       "SELECT c.source FROM sink_checkpoint c JOIN events e ON "
	                       "e.source = c.source AND e.seq = 1 WHERE c.source <> $1 AND "
	                       "e.hash = $2 ORDER BY c.source",
	                       p, 2, types, 1, source_fn, other, l->err);
	if (rc || !other[0])
		return rc;
	snprintf(l->err, SINK_ERRLEN,
	         _("this ledger is loaded into this database already, as source '%s' (the same "
	           "first event): loaded again as source '%s' every figure over all sources would "
	           "count it twice; use --source %s, or another database"),
	         other, l->source, other);
	return SINK_ERR;
}

int sink_loader_page(sink_loader *l, const ldc_bytes *raw, size_t n, char err[SINK_ERRLEN])
{
	Ledger__Event **evs = calloc(n ? n : 1, sizeof(*evs));
	int rc = 0;
	l->err = err;
	if (!evs)
		return oom(l);
	if (!l->in_txn) {
		if ((rc = l->ops->begin(l->s, 0, err)))
			goto out;
		l->in_txn = 1;
		if ((rc = checkpoint_held(l)))
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		Ledger__Event *ev = evs[i] = codec_event_unpack_pool(raw[i].data, raw[i].len, &l->pool);
		if (!ev) {
			snprintf(err, SINK_ERRLEN, _("event seq %llu does not decode"),
			         (unsigned long long)l->last + 1);
			rc = SINK_ERR;
			goto out;
		}
		if (ev->seq != l->last + 1) {
			snprintf(err, SINK_ERRLEN, _("expected event seq %llu, got seq %llu"),
			         (unsigned long long)l->last + 1, (unsigned long long)ev->seq);
			rc = SINK_ERR;
			goto out;
		}
		if (l->last_has_hash &&
		    (ev->prev_hash.len != LD_HASH_LEN ||
		     memcmp(ev->prev_hash.data, l->last_hash, LD_HASH_LEN) != 0)) {
			snprintf(err, SINK_ERRLEN,
			         _("event seq %llu does not follow the event seq %llu loaded into "
			         "source '%s' (its prev_hash differs): this is another ledger, or "
			         "an older copy of it; load it under another --source, or into "
			         "another database"),
			         (unsigned long long)ev->seq, (unsigned long long)l->last,
			         l->source);
			rc = SINK_ERR;
			goto out;
		}
		/* The pointers the loader follows: a body's required strings and
		 * messages, which the ledger records no event without. */
		const ProtobufCMessage *body = codec_event_body(ev);
		ld_errinfo ce;
		if (body && check_present(body, codec_event_type_name(ev->body_case), &ce)) {
			snprintf(err, SINK_ERRLEN,
			         _("event seq %llu has no %s, which the ledger records no such event "
			         "without: it is not an event of a ledger"),
			         (unsigned long long)ev->seq, ce.field);
			rc = SINK_ERR;
			goto out;
		}
		if (ev->seq == 1 && (rc = ledger_elsewhere(l, ev)))
			goto out;
		l->last = ev->seq;
		l->last_has_hash = ev->hash.len == LD_HASH_LEN;
		if (l->last_has_hash)
			memcpy(l->last_hash, ev->hash.data, LD_HASH_LEN);
	}
	if ((rc = members_prefetch(l, evs, n)))
		goto out;
	for (size_t i = 0; i < n && !rc; i++)
		rc = load_event(l, evs[i], &raw[i]);
	l->nevents += n;
out:
	codec_pool_reset(&l->pool);
	free(evs);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Commit: corrections, re-folds                                       */
/* ------------------------------------------------------------------ */

/* An event of a stream (or one event) read back, as it counts. */
typedef struct readback {
	sink_loader *l;
	Ledger__Event **orig, **amend; /* decoded, kept until the fold is done */
	Ledger__Event *eff;            /* as it counts: eff[k] */
	size_t n, cap;
	uint64_t max_seq, max_version;
	int voided; /* of the last row read */
} readback;

/* The raw bytes of an event's latest amendment, probed by its key for each
 * event (a join would let PostgreSQL, when it counts on a row or two of the
 * source, read the source's whole events once per event instead). */
#define AMENDMENT_RAW                                                                   \
	"(SELECT a.raw FROM events a WHERE a.source = e.source AND a.seq = e.amended_by)"

static const char *const stream_sql =
    "SELECT e.seq, e.version, e.raw, e.voided_by, " AMENDMENT_RAW " FROM events e "
    "WHERE e.source = $1 AND e.stream = $2 ORDER BY e.seq";
static const char *const event_sql =
    "SELECT e.seq, e.version, e.raw, e.voided_by, " AMENDMENT_RAW " FROM events e "
    "WHERE e.source = $1 AND e.seq = $2";
static const enum sink_ctype readback_types[] = {SC_INT, SC_INT, SC_BLOB, SC_INT, SC_BLOB};

static int readback_fn(void *arg, const sink_val *v)
{
	readback *r = arg;
	if ((uint64_t)v[0].i > r->max_seq) {
		r->max_seq = (uint64_t)v[0].i;
		r->max_version = (uint64_t)v[1].i;
	}
	r->voided = v[3].t != SV_NULL;
	if (r->voided || v[2].t != SV_BLOB)
		return 0;
	Ledger__Event *o = codec_event_unpack((const uint8_t *)v[2].s, v[2].len);
	if (!o) {
		snprintf(r->l->err, SINK_ERRLEN, _("stored event seq %lld does not decode"),
		         (long long)v[0].i);
		return SINK_ERR;
	}
	if (ld_kind_of(o->body_case)->flags & LD_KIND_CORRECTION) {
		codec_event_free(o);
		return 0;
	}
	Ledger__Event *a = NULL;
	if (v[4].t == SV_BLOB && !(a = codec_event_unpack((const uint8_t *)v[4].s, v[4].len))) {
		codec_event_free(o);
		snprintf(r->l->err, SINK_ERRLEN, _("the amendment of seq %lld does not decode"),
		         (long long)v[0].i);
		return SINK_ERR;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		Ledger__Event **po = realloc(r->orig, cap * sizeof(*po));
		if (po)
			r->orig = po;
		Ledger__Event **pa = po ? realloc(r->amend, cap * sizeof(*pa)) : NULL;
		if (pa)
			r->amend = pa;
		Ledger__Event *pe = pa ? realloc(r->eff, cap * sizeof(*pe)) : NULL;
		if (!pe) {
			codec_event_free(o);
			codec_event_free(a);
			return oom(r->l);
		}
		r->eff = pe;
		r->cap = cap;
	}
	r->orig[r->n] = o;
	r->amend[r->n] = a;
	sink_effective(o, a, &r->eff[r->n]);
	r->n++;
	return 0;
}

static void readback_free(readback *r)
{
	for (size_t i = 0; i < r->n; i++) {
		codec_event_free(r->orig[i]);
		codec_event_free(r->amend[i]);
	}
	free(r->orig);
	free(r->amend);
	free(r->eff);
	memset(r, 0, sizeof(*r));
}

/* A first load: the seqs of streams[0..n) as ops->in_ints reads them
 * ("[3,17]", "{3,17}"; "[]" for none). NULL: out of memory. */
static char *streams_seqs(sink_loader *l, const char *const *streams, size_t n)
{
	size_t total = 0, k = 0;
	for (size_t i = 0; i < n; i++) {
		const seqs *q = smap_get(&l->streams, streams[i]);
		total += q ? q->n : 0;
	}
	char *out = malloc(total * 21 + 3);
	if (!out)
		return NULL;
	out[k++] = l->ops->ints_brackets[0];
	for (size_t i = 0; i < n; i++) {
		const seqs *q = smap_get(&l->streams, streams[i]);
		for (size_t j = 0; q && j < q->n; j++)
			k += (size_t)sprintf(out + k, "%s%lld", k > 1 ? "," : "",
			                     (long long)q->v[j]);
	}
	out[k++] = l->ops->ints_brackets[1];
	out[k] = 0;
	return out;
}

static char *stream_seqs(sink_loader *l, const char *stream)
{
	return streams_seqs(l, &stream, 1);
}

static int read_stream(sink_loader *l, const char *stream, readback *r)
{
	sink_val p[2] = {src(l), sink_text(stream)};
	memset(r, 0, sizeof(*r));
	r->l = l;
	if (!l->first)
		return l->ops->query(l->s, stream_sql, p, 2, readback_types, 5, readback_fn, r,
		                     l->err);
	char sql[512], *list = stream_seqs(l, stream);
	if (!list)
		return oom(l);
	snprintf(sql, sizeof(sql),
	         "SELECT e.seq, e.version, e.raw, e.voided_by, " AMENDMENT_RAW " FROM events e "
	         "WHERE e.source = $1 AND e.seq %s ORDER BY e.seq",
	         l->ops->in_ints);
	p[1] = sink_text(list);
	int rc = l->ops->query(l->s, sql, p, 2, readback_types, 5, readback_fn, r, l->err);
	free(list);
	return rc;
}

static int del_where(sink_loader *l, int table, const char *col, sink_val key)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE source = $1 AND %s = $2",
	         sink_tables[table].name, col);
	sink_val p[2] = {src(l), key};
	return l->ops->exec(l->s, sql, p, 2, l->err);
}

/* The tables of a member's rows: members (keyed by member_id), then those
 * keyed by the seq of the event a row comes from. */
static const int member_tables[] = {ST_MEMBERS, ST_MEMBERSHIPS, ST_AFFILIATIONS, ST_TRANSFERS,
                                    ST_RELEASES, ST_DUES,        ST_SERVICES};
#define N_MEMBER_TABLES (sizeof(member_tables) / sizeof(member_tables[0]))

/* A first load: deletes every row of the members to re-fold (ids[0..n),
 * prefixed "member/"), without the member_id indexes: the members rows by
 * their keys, the others by the seqs of the members' streams, all at once
 * (one statement per table: the planner has no statistics yet, and scans
 * small tables whole rather than probing them key by key). */
static int first_load_forget(sink_loader *l, const char *const *streams, size_t n)
{
	char sql[256], *list;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = del_where(l, ST_MEMBERS, "member_id", sink_text(streams[i] + 7));
	if (rc || !n)
		return rc;
	if (!(list = streams_seqs(l, streams, n)))
		return oom(l);
	for (size_t i = 1; i < N_MEMBER_TABLES && !rc; i++) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE source = $1 AND seq %s",
		         sink_tables[member_tables[i]].name, l->ops->in_ints);
		sink_val p[2] = {src(l), sink_text(list)};
		rc = l->ops->exec(l->s, sql, p, 2, l->err);
	}
	free(list);
	return rc;
}

/* Every row of member id, from its whole stream (a first load: its rows
 * are gone already, first_load_forget). */
static int refold_member(sink_loader *l, const char *id)
{
	char stream[LD_STREAM_MAX];
	readback r;
	sink_member m;
	int rc = 0;
	snprintf(stream, sizeof(stream), "member/%s", id);
	for (size_t i = 0; i < N_MEMBER_TABLES && !rc && !l->first; i++)
		rc = del_where(l, member_tables[i], "member_id", sink_text(id));
	if (rc)
		return rc;
	if ((rc = read_stream(l, stream, &r)))
		goto out;
	Ledger__Event **evs = malloc((r.n ? r.n : 1) * sizeof(*evs));
	if (!evs) {
		rc = oom(l);
		goto out;
	}
	for (size_t i = 0; i < r.n; i++)
		evs[i] = &r.eff[i];
	sink_member_init(&m, id);
	rc = sink_member_fold(&m, evs, r.n, &l->emit);
	free(evs);
	if (!rc && m.status) { /* the stream's last event, corrections included */
		m.version = r.max_version;
		m.last_seq = r.max_seq;
		m.dirty = 1;
	}
	if (!rc)
		rc = sink_member_write(&m, &l->emit);
	if (!rc && l->first) { /* the member's state is now this */
		sink_member *keep = malloc(sizeof(*keep));
		if (!keep) {
			rc = oom(l);
		} else {
			sink_member_prune(&m);
			*keep = m;
			free_member(smap_get(&l->members, id));
			if (smap_put(&l->members, id, keep)) {
				free_member(keep);
				rc = oom(l);
			}
			memset(&m, 0, sizeof(m));
		}
	}
	sink_member_release(&m);
out:
	readback_free(&r);
	return rc;
}

static int redo_fn(void *arg, const sink_val *v)
{
	sink_loader *l = arg;
	return v[0].t == SV_TEXT && smap_put(&l->refold, v[0].s, l) ? oom(l) : 0;
}

/* The members of this source an upgrade of the schema left to be folded
 * again (sink_redo: sink_schema.c), folded and taken off the list in one
 * transaction. */
static int redo_members(sink_loader *l)
{
	static const enum sink_ctype types[] = {SC_TEXT};
	sink_val p = src(l);
	int rc = l->ops->begin(l->s, 0, l->err);
	if (!rc)
		rc = l->ops->query(l->s, "SELECT member_id FROM sink_redo WHERE source = $1", &p, 1,
		                   types, 1, redo_fn, l, l->err);
	for (size_t i = 0; i < l->refold.cap && !rc; i++)
		if (l->refold.slots[i].key)
			rc = refold_member(l, l->refold.slots[i].key);
	if (!rc && l->refold.n)
		rc = l->ops->exec(l->s, "DELETE FROM sink_redo WHERE source = $1", &p, 1, l->err);
	if (!rc)
		rc = l->ops->commit(l->s, l->err);
	else
		l->ops->rollback(l->s);
	smap_clear(&l->refold, NULL);
	return rc;
}

/* An organisation's row from its stream (an update of it was corrected). */
static int refold_org(sink_loader *l, const char *id)
{
	char stream[LD_STREAM_MAX];
	readback r;
	sink_org *o = calloc(1, sizeof(*o));
	org_node *n = smap_get(&l->tree, id);
	int rc;
	if (!o)
		return oom(l);
	snprintf(stream, sizeof(stream), "org/%s", id);
	if (!(rc = read_stream(l, stream, &r))) {
		for (size_t i = 0; i < r.n; i++)
			sink_org_step(o, &r.eff[i], n ? n->depth : 0);
		if (o->id[0])
			rc = sink_org_write(o, &l->emit);
	}
	readback_free(&r);
	free(o);
	return rc;
}

/* The fact row of event seq in table (not a member's: refold_member does
 * those), corrected or gone. */
static int refix(sink_loader *l, uint64_t seq, int table)
{
	readback r = {.l = l};
	sink_val p[2] = {src(l), sink_int((int64_t)seq)};
	int rc = del_where(l, table, "seq", p[1]);
	if (!rc)
		rc = l->ops->query(l->s, event_sql, p, 2, readback_types, 5, readback_fn, &r,
		                   l->err);
	if (!rc && r.n == 1)
		rc = sink_emit_fact(&l->emit, &r.eff[0], NULL);
	readback_free(&r);
	return rc;
}

/* What a correction's target belongs to. */
typedef struct target {
	char stream[LD_STREAM_MAX];
	char kind[32];
	int found;
} target;

static int target_fn(void *arg, const sink_val *v)
{
	target *t = arg;
	snprintf(t->stream, sizeof(t->stream), "%s", v[0].t == SV_TEXT ? v[0].s : "");
	snprintf(t->kind, sizeof(t->kind), "%s", v[1].t == SV_TEXT ? v[1].s : "");
	t->found = 1;
	return 0;
}

static int apply_corrections(sink_loader *l)
{
	static const enum sink_ctype tt[] = {SC_TEXT, SC_TEXT};
	smap orgs = {0};
	struct fix {
		uint64_t seq;
		int table;
	} *fix = NULL;
	size_t nfix = 0;
	int rc = 0;
	if (l->ncorr && !(fix = malloc(l->ncorr * sizeof(*fix))))
		return oom(l);
	/* Mark the targets, in seq order (a later amendment wins), and sort out
	 * what each belongs to. */
	for (size_t i = 0; i < l->ncorr && !rc; i++) {
		const correction *c = &l->corr[i];
		target t = {0};
		int table;
		sink_val p[3] = {src(l), sink_int((int64_t)c->target), sink_int((int64_t)c->seq)};
		rc = l->ops->query(l->s,
		                   c->amend ? "UPDATE events SET amended_by = $3 WHERE source = $1 "
		                              "AND seq = $2 RETURNING stream, kind"
		                            : "UPDATE events SET voided_by = $3 WHERE source = $1 "
		                              "AND seq = $2 RETURNING stream, kind",
		                   p, 3, tt, 2, target_fn, &t, l->err);
		if (rc)
			break;
		if (!t.found) {
			snprintf(l->err, SINK_ERRLEN,
			         _("event seq %llu corrects seq %llu, which is not loaded"),
			         (unsigned long long)c->seq, (unsigned long long)c->target);
			rc = SINK_ERR;
		} else if (strncmp(t.stream, "member/", 7) == 0) {
			rc = smap_put(&l->refold, t.stream + 7, l) ? oom(l) : 0;
		} else if (strncmp(t.stream, "org/", 4) == 0 &&
		           strcmp(t.kind, "org_updated") == 0) {
			rc = smap_put(&orgs, t.stream + 4, l) ? oom(l) : 0;
		} else if ((table = sink_fact_table_named(t.kind)) >= 0) {
			size_t k = 0;
			while (k < nfix && fix[k].seq != c->target)
				k++;
			if (k == nfix)
				fix[nfix++] = (struct fix){c->target, table};
		}
	}
	if (!rc && l->first && l->refold.n) {
		char(*names)[LD_STREAM_MAX] = malloc(l->refold.n * sizeof(*names));
		const char **streams = malloc(l->refold.n * sizeof(*streams));
		size_t ns = 0;
		for (size_t i = 0; i < l->refold.cap && names && streams; i++)
			if (l->refold.slots[i].key) {
				snprintf(names[ns], sizeof(names[ns]), "member/%s",
				         l->refold.slots[i].key);
				streams[ns] = names[ns];
				ns++;
			}
		rc = names && streams ? first_load_forget(l, streams, ns) : oom(l);
		free(names);
		free(streams);
	}
	for (size_t i = 0; i < l->refold.cap && !rc; i++)
		if (l->refold.slots[i].key)
			rc = refold_member(l, l->refold.slots[i].key);
	for (size_t i = 0; i < orgs.cap && !rc; i++)
		if (orgs.slots[i].key)
			rc = refold_org(l, orgs.slots[i].key);
	for (size_t i = 0; i < nfix && !rc; i++)
		rc = refix(l, fix[i].seq, fix[i].table);
	smap_clear(&orgs, NULL);
	free(fix);
	return rc;
}

int sink_loader_commit(sink_loader *l, char err[SINK_ERRLEN])
{
	int rc = 0;
	l->err = err;
	if (!l->in_txn)
		return 0;
	/* The batch's states, then its corrections over them. */
	for (size_t i = 0; i < l->members.cap && !rc; i++)
		if (l->members.slots[i].key) {
			rc = sink_member_write(l->members.slots[i].val, &l->emit);
			if (l->first)
				sink_member_prune(l->members.slots[i].val);
		}
	for (size_t i = 0; i < l->orgs.cap && !rc; i++)
		if (l->orgs.slots[i].key && ((sink_org *)l->orgs.slots[i].val)->seq)
			rc = sink_org_write(l->orgs.slots[i].val, &l->emit);
	if (!rc && (l->ncorr || l->refold.n) && !(rc = l->ops->flush(l->s, err)))
		rc = apply_corrections(l);
	if (!rc) {
		char hex[2 * LD_HASH_LEN + 1] = "";
		if (l->last_has_hash)
			ldc_format_hex(l->last_hash, LD_HASH_LEN, hex);
		sink_val p[3] = {src(l), sink_int((int64_t)l->last), sink_text(hex)};
		rc = l->ops->exec(l->s,
		                  "UPDATE sink_checkpoint SET last_seq = $2, last_hash = $3 "
		                  "WHERE source = $1",
		                  p, 3, err);
	}
	if (!rc)
		rc = l->ops->commit(l->s, err);
	l->in_txn = 0;
	if (rc) {
		l->ops->rollback(l->s);
		return rc;
	}
	l->cp = l->last;
	memcpy(l->cp_hash, l->last_hash, LD_HASH_LEN);
	l->cp_has_hash = l->last_has_hash;
	batch_reset(l);
	if (!l->first && l->cp >= l->analyze_at) {
		l->analyze_at = 2 * l->cp;
		if ((rc = l->ops->exec(l->s, l->ops->analyze_sql, NULL, 0, err)))
			return rc;
	}
	if (l->first && l->members.n > first_load_members()) {
		if ((rc = sink_schema_finish(l->ops, l->s, err)))
			return rc;
		return sink_loader_indexed(l, err);
	}
	return 0;
}

int sink_loader_indexed(sink_loader *l, char err[SINK_ERRLEN])
{
	if (!l->first)
		return 0;
	l->first = 0;
	smap_clear(&l->members, free_member);
	smap_clear(&l->streams, free_seqs);
	return l->ops->exec(l->s, l->ops->loaded_sql, NULL, 0, err);
}

/* ------------------------------------------------------------------ */
/* Migration from the first version                                     */
/* ------------------------------------------------------------------ */

typedef struct v1_page {
	sink_loader *l;
	ldc_bytes *evs;
	size_t n;
} v1_page;

static int v1_fn(void *arg, const sink_val *v)
{
	v1_page *pg = arg;
	if (v[1].t != SV_BLOB) {
		snprintf(pg->l->err, SINK_ERRLEN, _("sink_v1_events seq %lld has no stored bytes"),
		         (long long)v[0].i);
		return SINK_ERR;
	}
	uint8_t *copy = malloc(v[1].len ? v[1].len : 1);
	if (!copy)
		return oom(pg->l);
	memcpy(copy, v[1].s, v[1].len);
	pg->evs[pg->n].data = copy;
	pg->evs[pg->n].len = v[1].len;
	pg->n++;
	return 0;
}

static int max_fn(void *arg, const sink_val *v)
{
	*(uint64_t *)arg = v[0].t == SV_INT ? (uint64_t)v[0].i : 0;
	return 0;
}

int sink_loader_migrate_page(sink_loader *l, size_t max, size_t *n, uint64_t *last,
                             char err[SINK_ERRLEN])
{
	static const enum sink_ctype types[] = {SC_INT, SC_BLOB};
	enum sink_ctype it = SC_INT;
	v1_page pg = {l, calloc(max ? max : 1, sizeof(ldc_bytes)), 0};
	int rc;
	l->err = err;
	*n = 0;
	if (!pg.evs)
		return oom(l);
	if (!l->v1_known) {
		if ((rc = l->ops->query(l->s, "SELECT max(seq) FROM sink_v1_events", NULL, 0, &it,
		                        1, max_fn, &l->v1_last, err)))
			goto out;
		l->v1_known = 1;
	}
	*last = l->v1_last;
	sink_val p[2] = {sink_int((int64_t)l->last), sink_int((int64_t)max)};
	if ((rc = l->ops->query(l->s,
	                        "SELECT seq, raw FROM sink_v1_events WHERE seq > $1 ORDER BY seq "
	                        "LIMIT $2",
	                        p, 2, types, 2, v1_fn, &pg, err)))
		goto out;
	if (pg.n)
		rc = sink_loader_page(l, pg.evs, pg.n, err);
	*n = pg.n;
out:
	for (size_t i = 0; i < pg.n; i++)
		free((void *)pg.evs[i].data);
	free(pg.evs);
	return rc;
}

int sink_loader_migrated(sink_loader *l, char err[SINK_ERRLEN])
{
	int rc = l->ops->begin(l->s, 1, err);
	if (!rc)
		rc = l->ops->exec(l->s, "DROP TABLE IF EXISTS sink_v1_events", NULL, 0, err);
	if (!rc)
		return l->ops->commit(l->s, err);
	l->ops->rollback(l->s);
	return rc;
}
