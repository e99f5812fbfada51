/* runner_apply.c — the runner's applying: runs of the log decoded once and
 * applied to every projection that needs them, on the loop thread near the
 * head, on a thread per projection far behind. See runner_int.h. */
#include "runner_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"
#include "model.h"

#define SERIAL_EVENTS 4096    /* events applied between two looks at the clock */
#define BATCH_EVENTS 4096     /* events of one batch of a parallel catch-up */
#define NBATCHES 4            /* batches decoded ahead of the slowest projection */

/* ------------------------------------------------------------------ */
/* Applying                                                            */
/* ------------------------------------------------------------------ */

/* Whether p is to apply seq now: running, behind it, not past a seq it
 * failed on. The applying thread's view. */
static int needs(const pstate *p, uint64_t seq)
{
	return !p->stopped && p->applied < seq && (!p->stop_at || seq < p->stop_at);
}

/* The first seq some projection needs (UINT64_MAX: none). */
uint64_t rn_first_needed(runner *r)
{
	uint64_t from = UINT64_MAX;
	for (unsigned i = 0; i < nprojections; i++) {
		pstate *p = &r->st[i];
		if (needs(p, p->applied + 1) && p->applied + 1 < from)
			from = p->applied + 1;
	}
	return from;
}

/* Notes that p cannot apply seq (why: e's message, or code's name); it
 * applies nothing from there. */
static void fail_at(pstate *p, uint64_t seq, const char *type, int code, const ld_errinfo *e)
{
	p->stop_at = seq;
	snprintf(p->fail, sizeof(p->fail), "seq %llu: %.32s%s%.200s (%s)", (unsigned long long)seq,
		 type ? type : "", type ? ": " : "",
		 e && e->message[0] ? e->message : ld_strerror(code), ld_errname(code));
	ld_utf8_clean(p->fail); /* %.200s may cut a character */
}

static void apply_one(pstate *p, const Ledger__Event *ev, store_txn *lt)
{
	proj_ctx ctx = {.kv = p->kv, .lt = lt, .name = p->ops->name, .state = p->state};
	ld_errinfo e;
	ld_errinfo_clear(&e);
	int rc = p->ops->apply(&ctx, ev, &e);
	if (rc == 0)
		p->applied = ev->seq;
	else
		fail_at(p, ev->seq, codec_event_type_name(ev->body_case), rc, e.code == rc ? &e : NULL);
}

/* How far ahead of the apply an event is fetched into the cache: its
 * decoded message 3 × PREFETCH_AHEAD events before (decoded by another
 * thread in a parallel catch-up, it is in no cache of this one), then the
 * keys its projection looks up (ops->prefetch): their slots 2 ×
 * PREFETCH_AHEAD before, their entries PREFETCH_AHEAD before. */
#define PREFETCH_AHEAD 4
#define EVENT_LINES 8 /* cache lines of a decoded event: its message, body
		       * and strings are one run of its batch's pool */

static void prefetch_event(const Ledger__Event *ev)
{
	for (int k = 0; k < EVENT_LINES; k++)
		__builtin_prefetch((const char *)ev + 64 * k);
}

/* Before ev[i] of ev[0..n) is applied to p: the hints for the events
 * after it. */
static void prefetch_ahead(const pstate *p, Ledger__Event *const *ev, size_t i, size_t n)
{
	const size_t d = PREFETCH_AHEAD;
	if (i == 0) /* the first ones have had no hint */
		for (size_t j = 0; j < 3 * d && j < n; j++) {
			prefetch_event(ev[j]);
			if (p->ops->prefetch && j < 2 * d)
				p->ops->prefetch(p->kv, ev[j], 0);
		}
	if (i + 3 * d < n)
		prefetch_event(ev[i + 3 * d]);
	if (!p->ops->prefetch)
		return;
	if (i + 2 * d < n)
		p->ops->prefetch(p->kv, ev[i + 2 * d], 0);
	if (i + d < n)
		p->ops->prefetch(p->kv, ev[i + d], 1);
}

/* Read transactions for applying: the log at or after every seq read, the
 * projections' flushed state behind each table's misses. */
static int txns_begin(runner *r, pstate *p, store_txn **lt, store_txn **base)
{
	int rc = store_read_begin(r->log, lt);
	if (rc)
		return rc;
	if ((rc = store_read_begin(r->ps, base))) {
		store_read_end(*lt);
		return rc;
	}
	for (unsigned i = 0; i < nprojections; i++)
		if (!p || p == &r->st[i])
			kv_set_base(r->st[i].kv, *base);
	return 0;
}

static void txns_end(runner *r, pstate *p, store_txn *lt, store_txn *base)
{
	for (unsigned i = 0; i < nprojections; i++)
		if (!p || p == &r->st[i])
			kv_set_base(r->st[i].kv, NULL);
	store_read_end(base);
	store_read_end(lt);
}

/* A seq missing from the log or an event that does not decode: no
 * projection that needs it can go on. */
static void log_broken(runner *r, uint64_t seq, const char *why)
{
	ld_errinfo e;
	ld_errinfo_set(&e, LD_E(STORAGE), NULL, "%s", why);
	for (unsigned i = 0; i < nprojections; i++)
		if (needs(&r->st[i], seq))
			fail_at(&r->st[i], seq, NULL, LD_E(STORAGE), &e);
}

/* Where reading the log stopped short: a seq that is missing or does not
 * decode (broken), or nothing (a storage error, tried again later). */
typedef struct short_read {
	uint64_t seq; /* 0: none */
	char why[120];
} short_read;

/* Decodes event seq's stored bytes into *out from pool: 1, or 0 with why
 * in *sr. */
static int decode_one(const void *bytes, size_t len, uint64_t seq, codec_pool *pool,
		      Ledger__Event **out, short_read *sr)
{
	if ((*out = codec_event_unpack_pool(bytes, len, pool)))
		return 1;
	sr->seq = seq;
	snprintf(sr->why, sizeof(sr->why), "event seq %llu does not decode",
		 (unsigned long long)seq);
	return 0;
}

/*
 * Reads events [from, to] of the log (at most `max`) and decodes them into
 * out[] from pool. Returns how many; a gap or an event that does not
 * decode ends the run there and is said in *sr.
 */
static size_t decode_run(store_txn *lt, const writer_unstored *mem, uint64_t from, uint64_t to,
			 size_t max, codec_pool *pool, Ledger__Event **out, short_read *sr)
{
	store_cursor *c;
	store_val k, v;
	uint8_t key[8];
	size_t n = 0;
	sr->seq = 0;
	if (store_cursor_open(lt, DB_LOG, &c))
		return 0;
	ld_put_be64(key, from);
	int rc;
	for (rc = store_cursor_seek(c, key, 8, &k, &v); rc == 0 && n < max;
	     rc = store_cursor_next(c, &k, &v)) {
		uint64_t seq = ld_get_be64(k.data);
		if (seq > to)
			break;
		if (seq != from + n) {
			sr->seq = from + n;
			snprintf(sr->why, sizeof(sr->why), "gap in the log before seq %llu",
				 (unsigned long long)seq);
			break;
		}
		if (!decode_one(v.data, v.len, seq, pool, &out[n], sr))
			break;
		n++;
	}
	if (rc && rc != LD_E(NOT_FOUND) && n < max)
		log_error("projections: reading the log at seq %llu: %s",
			  (unsigned long long)(from + n), ld_strerror(rc));
	store_cursor_close(c);
	/* Past what the store holds: what is applied and not stored yet. */
	for (; mem && !sr->seq && (rc == 0 || rc == LD_E(NOT_FOUND)) && n < max && from + n <= to;
	     n++) {
		const uint8_t *b;
		size_t len;
		if (writer_unstored_event(mem, from + n, &b, &len) ||
		    !decode_one(b, len, from + n, pool, &out[n], sr))
			break;
	}
	return n;
}


/* Whether a read-your-writes query waits for a seq at or before upto
 * (answered from memory): then it is answered before applying goes on. */
static int ryw_ready(runner *r, uint64_t upto)
{
	int ready = 0;
	pthread_mutex_lock(&r->lock);
	for (waiter *wt = r->waiters; wt && !ready; wt = wt->next)
		ready = !wt->flushed_only && wt->min_seq <= upto;
	pthread_mutex_unlock(&r->lock);
	return ready;
}

/* The log as applying on this thread reads it: the writer's entries
 * applied and not stored yet (pinned first, so that none is stored and
 * freed unseen in between), then the read transactions, the log's with
 * those entries as its view (corrections read their targets and streams
 * through it). */
typedef struct serial_read {
	writer_unstored *mem; /* NULL: only what the store holds */
	model_view view;
	store_txn *lt, *base;
} serial_read;

static int serial_begin(runner *r, serial_read *sr)
{
	uint64_t last;
	if (writer_unstored_begin(r->w, RUNNER_UNSTORED_MAX, &sr->mem, &sr->view, &last)) {
		sr->mem = NULL;
		/* More waits than is read from memory (or nothing): a query
		 * waiting is answered once the store holds it, made at once. */
		if (ryw_ready(r, UINT64_MAX))
			writer_store_soon(r->w, UINT64_MAX);
	}
	int rc = txns_begin(r, NULL, &sr->lt, &sr->base);
	if (rc) {
		writer_unstored_end(sr->mem);
		log_error("projections: unable to read the log; retrying at the next commit");
	} else if (sr->mem) {
		store_txn_set_view(sr->lt, &sr->view);
	}
	return rc;
}

static void serial_end(runner *r, serial_read *sr)
{
	txns_end(r, NULL, sr->lt, sr->base);
	writer_unstored_end(sr->mem);
}

/* Applies [from, to] (at most SERIAL_EVENTS of it; what the log holds,
 * stored or applied) on this thread, each event decoded once for every
 * projection that needs it. */
void rn_apply_serial(runner *r, uint64_t from, uint64_t to)
{
	Ledger__Event *evs[64];
	serial_read rd;
	if (serial_begin(r, &rd))
		return;
	for (uint64_t seq = from, done = 0; seq <= to && done < SERIAL_EVENTS;) {
		size_t want = to - seq + 1 < 64 ? (size_t)(to - seq + 1) : 64;
		short_read sr;
		codec_pool_reset(&r->pool);
		size_t n = decode_run(rd.lt, rd.mem, seq, to, want, &r->pool, evs, &sr);
		for (size_t j = 0; j < n; j++)
			for (unsigned i = 0; i < nprojections; i++)
				if (needs(&r->st[i], evs[j]->seq)) {
					prefetch_ahead(&r->st[i], evs, j, n);
					apply_one(&r->st[i], evs[j], rd.lt);
				}
		if (sr.seq)
			log_broken(r, sr.seq, sr.why);
		if (n < want)
			break;
		seq += n;
		done += n;
		if (seq <= to && ryw_ready(r, rn_servable(r))) {
			/* A query waits for what is applied: answered now,
			 * not after the rest of the run. */
			serial_end(r, &rd);
			rn_settle_waiters(r, 0);
			if (serial_begin(r, &rd)) {
				codec_pool_reset(&r->pool);
				return;
			}
		}
	}
	codec_pool_reset(&r->pool);
	serial_end(r, &rd);
}

/* ------------------------------------------------------------------ */
/* Applying in parallel                                                */
/* ------------------------------------------------------------------ */

/*
 * Far behind, the loop thread decodes batches of events and each
 * projection applies them on a thread of its own; NBATCHES batches are in
 * flight, so decoding runs ahead of the slowest projection. A projection's
 * state is only ever touched by its worker during a batch, and by the loop
 * thread once every batch handed out has been applied (drain): flushes,
 * failures and the end happen then.
 */
typedef struct batch {
	Ledger__Event **ev;
	size_t n;
	unsigned pending; /* workers yet to apply it */
	codec_pool pool;
} batch;

typedef struct pipeline {
	runner *r;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	batch b[NBATCHES];
	uint64_t published; /* batches handed out: batch k is b[k % NBATCHES] */
	int quit;
	int unreadable; /* a worker could not open its read transactions */
} pipeline;

typedef struct worker {
	pipeline *pl;
	pstate *p;
	pthread_t tid;
	uint64_t next; /* the next batch to apply */
	size_t dirty;  /* its table's dirty bytes after its last batch (under pl.mu) */
	int skip;      /* a batch could not be applied: neither are the later ones */
} worker;

static void *worker_main(void *arg)
{
	worker *wk = arg;
	pipeline *pl = wk->pl;
	char name[16];
	snprintf(name, sizeof(name), "ld-proj-%.7s", wk->p->ops->name);
	pthread_setname_np(pthread_self(), name);
	for (;;) {
		pthread_mutex_lock(&pl->mu);
		while (!pl->quit && wk->next == pl->published)
			pthread_cond_wait(&pl->cv, &pl->mu);
		if (wk->next == pl->published) {
			pthread_mutex_unlock(&pl->mu);
			return NULL;
		}
		batch *b = &pl->b[wk->next % NBATCHES];
		pthread_mutex_unlock(&pl->mu);

		/* A batch it cannot read for is left, and so is every later
		 * one (they would apply after a gap): the next catch-up goes on
		 * from the last event it applied. */
		store_txn *lt, *base;
		int unreadable = 0;
		if (!wk->skip && txns_begin(pl->r, wk->p, &lt, &base) == 0) {
			for (size_t i = 0; i < b->n; i++)
				if (needs(wk->p, b->ev[i]->seq)) {
					prefetch_ahead(wk->p, b->ev, i, b->n);
					apply_one(wk->p, b->ev[i], lt);
				}
			txns_end(pl->r, wk->p, lt, base);
		} else if (!wk->skip) {
			wk->skip = unreadable = 1;
		}

		size_t dirty = kv_dirty_bytes(wk->p->kv);
		pthread_mutex_lock(&pl->mu);
		pl->unreadable |= unreadable;
		wk->dirty = dirty;
		wk->next++;
		b->pending--;
		pthread_cond_broadcast(&pl->cv);
		pthread_mutex_unlock(&pl->mu);
	}
}

/* Waits until every batch handed out has been applied. */
static void drain(pipeline *pl)
{
	pthread_mutex_lock(&pl->mu);
	for (;;) {
		unsigned pending = 0;
		for (int i = 0; i < NBATCHES; i++)
			pending += pl->b[i].pending;
		if (!pending)
			break;
		pthread_cond_wait(&pl->cv, &pl->mu);
	}
	pthread_mutex_unlock(&pl->mu);
}

int rn_stopping(runner *r)
{
	pthread_mutex_lock(&r->lock);
	int s = r->stopping;
	pthread_mutex_unlock(&r->lock);
	return s;
}

/* A projection failed and its state has not been taken back yet. */
int rn_any_failed(runner *r)
{
	for (unsigned i = 0; i < nprojections; i++)
		if (r->st[i].stop_at && !r->st[i].rewound)
			return 1;
	return 0;
}

/* Applies everything up to head in parallel; returns when done, when the
 * runner stops, or when a projection failed (the caller deals with it). */
void rn_apply_parallel(runner *r, uint64_t head)
{
	pipeline pl = {.r = r};
	worker wk[MAX_PROJECTIONS];
	short_read sr = {0};
	unsigned nw = 0;
	uint64_t seq = rn_first_needed(r);
	pthread_mutex_init(&pl.mu, NULL);
	pthread_cond_init(&pl.cv, NULL);
	for (int i = 0; i < NBATCHES; i++)
		if (!(pl.b[i].ev = malloc(BATCH_EVENTS * sizeof(*pl.b[i].ev))))
			goto out;
	for (unsigned i = 0; i < nprojections; i++) {
		if (!needs(&r->st[i], r->st[i].applied + 1))
			continue;
		wk[nw] = (worker){.pl = &pl, .p = &r->st[i]};
		if (pthread_create(&wk[nw].tid, NULL, worker_main, &wk[nw]) != 0)
			goto out;
		nw++;
	}
	while (nw && seq <= head && !rn_stopping(r) && !rn_any_failed(r)) {
		batch *b = &pl.b[pl.published % NBATCHES];
		pthread_mutex_lock(&pl.mu);
		while (b->pending)
			pthread_cond_wait(&pl.cv, &pl.mu);
		pthread_mutex_unlock(&pl.mu);

		store_txn *lt;
		if (store_read_begin(r->log, &lt)) {
			log_error("projections: unable to read the log; retrying at the next commit");
			break;
		}
		codec_pool_reset(&b->pool);
		b->n = decode_run(lt, NULL, seq, head, BATCH_EVENTS, &b->pool, b->ev, &sr);
		store_read_end(lt);
		pthread_mutex_lock(&pl.mu);
		int unreadable = pl.unreadable;
		pthread_mutex_unlock(&pl.mu);
		if (!b->n || unreadable)
			break;
		pthread_mutex_lock(&pl.mu);
		b->pending = nw;
		pl.published++;
		pthread_cond_broadcast(&pl.cv);
		pthread_mutex_unlock(&pl.mu);
		seq += b->n;
		if (!r->unflushed_since)
			r->unflushed_since = (uint64_t)ld_mono_ms();
		r->unflushed += b->n;
		/* Flushed when half the memory budget is dirty, or every
		 * bulk_flush_events: each flush of a catch-up puts keys
		 * among those of the last one instead of appending them, so
		 * fewer is faster. */
		size_t dirty = 0;
		pthread_mutex_lock(&pl.mu);
		for (unsigned i = 0; i < nw; i++)
			dirty += wk[i].dirty;
		pthread_mutex_unlock(&pl.mu);
		if (sr.seq)
			break;
		if (ryw_ready(r, seq - 1)) {
			/* A query waits for a seq handed out: answered once
			 * it is applied, not at the end of the catch-up. */
			drain(&pl);
			rn_settle_waiters(r, 0);
		}
		if (dirty >= r->memory / 2 || r->unflushed >= r->bulk_flush_events) {
			/* Written by the flusher while the next batches are
			 * applied (the one before is waited for). */
			drain(&pl);
			rn_flush_start(r);
			/* What the workers said they had dirty went into that
			 * flush: not counted again for the next one (which
			 * would be due after the next batch, and wait for this
			 * one). */
			pthread_mutex_lock(&pl.mu);
			for (unsigned i = 0; i < nw; i++)
				wk[i].dirty = kv_dirty_bytes(wk[i].p->kv);
			pthread_mutex_unlock(&pl.mu);
		}
	}
out:
	drain(&pl);
	/* Every batch applied: the projections are the loop thread's again. */
	if (sr.seq)
		log_broken(r, sr.seq, sr.why);
	if (pl.unreadable)
		log_error("projections: unable to read the log; retrying at the next commit");
	pthread_mutex_lock(&pl.mu);
	pl.quit = 1;
	pthread_cond_broadcast(&pl.cv);
	pthread_mutex_unlock(&pl.mu);
	for (unsigned i = 0; i < nw; i++)
		pthread_join(wk[i].tid, NULL);
	for (int i = 0; i < NBATCHES; i++) {
		free(pl.b[i].ev);
		codec_pool_free(&pl.b[i].pool);
	}
	pthread_mutex_destroy(&pl.mu);
	pthread_cond_destroy(&pl.cv);
}
