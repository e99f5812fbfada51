/* runner.c — the projection workers' libuv loop. See projection.h. */
#include "projection.h"

#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "behind.h"
#include "clock.h"
#include "log.h"
#include "model.h"

#define MAX_PROJECTIONS 8
#define WAIT_TICK_MS 5        /* how often deadlines of waiters are checked */
#define SERIAL_EVENTS 4096    /* events applied between two looks at the clock */
/* The most events applied by the writer and not stored yet that applying
 * reads from its memory (more: the store is far behind; what it holds). A
 * correction's fold of a stream whose newest event is stored walks them
 * all (writer_unstored_begin's view): this bounds that walk. */
#define RUNNER_UNSTORED_MAX 16384
#define BATCH_EVENTS 4096     /* events of one batch of a parallel catch-up */
#define NBATCHES 4            /* batches decoded ahead of the slowest projection */
#define FLUSH_RETRY_MS 1000   /* a flush that failed (not a full map) is tried again */
#define QUERY_SLICE_MS 5      /* queries answered in a row before applying goes on */

typedef struct pstate {
	const projection_ops *ops;
	void *state;        /* the projection's own (ops->create), this runner's */
	proj_kv *kv;        /* its state in memory */
	/* The applying thread's (the runner's, or its worker's during a
	 * parallel batch; the runner reads them between batches): */
	uint64_t applied;   /* the last seq applied in memory */
	uint64_t stop_at;   /* an apply failed at this seq (0: none) */
	char fail[300];     /* ... and why */
	int rewound;        /* after stop_at: its state went back to the last flush */
	/* Under runner.lock: */
	uint64_t checkpoint; /* the last flush: what queries see */
	uint64_t count;      /* events applied and flushed since the start */
	uint64_t flushes;    /* flushes that carried it */
	size_t memory;       /* its table's bytes, as of the last flush */
	uint64_t trimmed;    /* bytes of clean state dropped (trim) */
	uint64_t whole_trims;
	int stopped;
	char error[300];
} pstate;

typedef struct waiter {
	struct waiter *next;
	uint64_t min_seq;
	int flushed_only; /* answered from the flushed state (runner_wait) */
	uint64_t deadline_ms;
	runner_wait_fn fn;
	void *arg;
} waiter;

struct runner {
	store *log, *ps;
	writer *w;
	pthread_t thread;
	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t tick;  /* waiters' deadlines */
	uv_timer_t flush; /* the next flush */
	uv_async_t flushed; /* the flusher finished one */
	int started;
	size_t memory;    /* the budget of the state in memory */
	uint64_t flush_ms, flush_events, flush_max_ms, bulk_flush_events; /* when a flush is due (proj_options) */
	size_t sort_ahead_keys;                        /* proj_options */

	/* The loop thread's: */
	codec_pool pool;
	uint64_t unflushed_since; /* when the first event not flushed was applied (ms; 0: none) */
	uint64_t unflushed;       /* events applied since the last flush */
	uint64_t flush_failed;    /* when the last flush failed (ms; 0: it did not) */
	uint64_t flush_ended, flush_took; /* the last flush's write: its end, its time (ms) */
	uint64_t flush_head;        /* the log's head when the last flush was handed out */
	struct flush_job *inflight; /* handed to the flusher, not reaped yet */
	int trimming;               /* dropping clean entries a part at a time (trim) */

	/* The flusher thread: writes one flush at a time, off the loop. */
	pthread_t flusher;
	int flusher_started;
	pthread_mutex_t fl_mu;
	pthread_cond_t fl_cv;
	struct flush_job *fl_todo; /* under fl_mu */
	int fl_quit;               /* under fl_mu */
	uint64_t kill_in_flush;    /* test hook: LEDGERD_TEST_KILL_IN_FLUSH */
	uint64_t flush_sleep_ms;   /* test hook: LEDGERD_TEST_FLUSH_SLEEP_MS, each write's least time */
	uint64_t flushes_begun;    /* the flusher's */

	pthread_mutex_t lock; /* everything below, and pstate's marked so */
	pstate st[MAX_PROJECTIONS];
	int stopping;
	waiter *waiters;
};

static void cp_key(char *key, size_t n, const char *name)
{
	snprintf(key, n, "cp/%s", name);
}

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
static uint64_t first_needed(runner *r)
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

static void settle_waiters(runner *r, int final);
static uint64_t servable(runner *r);

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
static void apply_serial(runner *r, uint64_t from, uint64_t to)
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
		if (seq <= to && ryw_ready(r, servable(r))) {
			/* A query waits for what is applied: answered now,
			 * not after the rest of the run. */
			serial_end(r, &rd);
			settle_waiters(r, 0);
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

static int flush_all(runner *r);
static int flush_start(runner *r);
static int flush_due(runner *r);
static void settle_waiters(runner *r, int final);
static int stopping(runner *r)
{
	pthread_mutex_lock(&r->lock);
	int s = r->stopping;
	pthread_mutex_unlock(&r->lock);
	return s;
}

/* A projection failed and its state has not been taken back yet. */
static int any_failed(runner *r)
{
	for (unsigned i = 0; i < nprojections; i++)
		if (r->st[i].stop_at && !r->st[i].rewound)
			return 1;
	return 0;
}

/* Applies everything up to head in parallel; returns when done, when the
 * runner stops, or when a projection failed (the caller deals with it). */
static void apply_parallel(runner *r, uint64_t head)
{
	pipeline pl = {.r = r};
	worker wk[MAX_PROJECTIONS];
	short_read sr = {0};
	unsigned nw = 0;
	uint64_t seq = first_needed(r);
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
	while (nw && seq <= head && !stopping(r) && !any_failed(r)) {
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
			settle_waiters(r, 0);
		}
		if (dirty >= r->memory / 2 || r->unflushed >= r->bulk_flush_events) {
			/* Written by the flusher while the next batches are
			 * applied (the one before is waited for). */
			drain(&pl);
			flush_start(r);
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

/* ------------------------------------------------------------------ */
/* Flushing                                                            */
/* ------------------------------------------------------------------ */

static size_t dirty_bytes(runner *r)
{
	size_t n = 0;
	for (unsigned i = 0; i < nprojections; i++)
		n += kv_dirty_bytes(r->st[i].kv);
	return n;
}

/* Whether the applied state is too much to keep unflushed any longer. */
static int flush_due(runner *r)
{
	return r->unflushed >= r->flush_events || dirty_bytes(r) >= r->memory / 2;
}

static void flush_wait(runner *r);

/* Projections that failed: their state goes back to their last flush, to
 * be applied again up to the seq before the one that failed; one that is
 * there already stops now. A flush in flight is waited for first: it may
 * be the one that takes a projection there, and a rewind drops what it
 * has not committed. */
static void settle_failures(runner *r, int flushed)
{
	int any = 0;
	for (unsigned i = 0; i < nprojections; i++)
		any |= r->st[i].stop_at && !r->st[i].stopped;
	if (!any)
		return;
	flush_wait(r);
	for (unsigned i = 0; i < nprojections; i++) {
		pstate *p = &r->st[i];
		if (!p->stop_at || p->stopped)
			continue;
		pthread_mutex_lock(&r->lock);
		uint64_t cp = p->checkpoint;
		pthread_mutex_unlock(&r->lock);
		if (cp + 1 >= p->stop_at) {
			pthread_mutex_lock(&r->lock);
			p->stopped = 1;
			/* Both NUL-terminated arrays of one size (a snprintf
			 * between two fields of *r trips gcc's -Wrestrict at
			 * -O0, `make valgrind`'s build). */
			_Static_assert(sizeof(p->error) == sizeof(p->fail), "error holds fail");
			memcpy(p->error, p->fail, sizeof(p->error));
			pthread_mutex_unlock(&r->lock);
			log_error("projection %s: stopped: %s; the log and the other projections go "
				  "on ('ledgerd --rebuild' rebuilds it)",
				  p->ops->name, p->error);
		} else if (!flushed && !p->rewound) {
			/* What it applied since the last flush may include part
			 * of the failed event: thrown away, applied again up to
			 * the seq before it, flushed, and then it stops. */
			kv_discard(p->kv);
			if (p->ops->discard)
				p->ops->discard(p->state);
			p->applied = cp;
			p->rewound = 1;
		}
	}
}

/*
 * GIVING MEMORY BACK. The state held stays within the budget (memory).
 * Past three quarters of it, clean entries are dropped a part at a time
 * (kv_trim_some), on the loop thread: after each turn of applying (the
 * serial one near the head; a rebuild's workers apply without turns) and
 * at each flush, from the table with the most clean bytes, until half the
 * budget is held or no more than a quarter of it is clean (the rest is
 * dirty or pending, and goes at a flush). State still past the whole
 * budget at a flush drops every clean entry at once (kv_trim), and the
 * projections' caches.
 * Dropping them all at once was the only way until 2026-12: a walk of
 * every entry of 256 MiB of state, 134-199 ms during which no event was
 * applied and no read-your-writes query answered, every 7 s or so of a
 * steady stream. A part is a number of slots in proportion to the events
 * just applied (what they can have added), so the stream's pauses stay
 * short and the trimming keeps up with it (docs/ARCHITECTURE.md).
 */
#define TRIM_SOFT(budget) ((budget) / 4 * 3)
#define TRIM_GOAL(budget) ((budget) / 2)
#define TRIM_CLEAN_GOAL(budget) ((budget) / 4)
#define TRIM_SLOTS_PER_EVENT 16
#define TRIM_SLOTS_MIN 1024
#define TRIM_SLOTS_MAX 16384 /* at most 0.65 ms of CPU (a 4M-event fill) */

static size_t held_bytes(runner *r)
{
	size_t held = 0;
	for (unsigned i = 0; i < nprojections; i++)
		held += kv_bytes(r->st[i].kv);
	return held;
}

/* Drops clean entries (above), looking at up to `slots` slots in all. A
 * table where a part found nothing clean is left for the rest of this
 * step (its clean entries are elsewhere in it). */
static void trim_step(runner *r, size_t slots)
{
	unsigned skip = 0; /* bit i: table i is left */
	while (slots) {
		size_t held = held_bytes(r);
		r->trimming |= held > TRIM_SOFT(r->memory);
		if (!r->trimming)
			return; /* the usual turn: three sums, nothing more */
		size_t clean = 0, most_clean = 0;
		unsigned most = 0;
		for (unsigned i = 0; i < nprojections; i++) {
			size_t c = kv_clean_bytes(r->st[i].kv);
			clean += c;
			if (c > most_clean && !(skip & 1u << i)) {
				most = i;
				most_clean = c;
			}
		}
		if (held <= TRIM_GOAL(r->memory) || clean <= TRIM_CLEAN_GOAL(r->memory)) {
			r->trimming = 0;
			return;
		}
		if (!most_clean)
			return;
		proj_kv *kv = r->st[most].kv;
		size_t n = kv_trim_some(kv, slots), dropped = most_clean - kv_clean_bytes(kv);
		slots -= n < slots ? n : slots;
		if (!dropped) {
			skip |= 1u << most;
			continue;
		}
		pthread_mutex_lock(&r->lock);
		r->st[most].trimmed += dropped;
		pthread_mutex_unlock(&r->lock);
	}
}

/* At a flush, before the dirty keys are handed out: a part (above), or,
 * past the budget, every clean entry at once, and every cache (moved into
 * its table by now, so clean). */
static void trim(runner *r)
{
	if (held_bytes(r) <= r->memory) {
		trim_step(r, TRIM_SLOTS_MAX);
		return;
	}
	for (unsigned i = 0; i < nprojections; i++) {
		pstate *p = &r->st[i];
		size_t before = kv_clean_bytes(p->kv);
		kv_trim(p->kv);
		if (p->ops->discard && !p->stopped)
			p->ops->discard(p->state);
		size_t dropped = before - kv_clean_bytes(p->kv); /* all, unless out of memory */
		pthread_mutex_lock(&r->lock);
		p->trimmed += dropped;
		p->whole_trims++;
		pthread_mutex_unlock(&r->lock);
	}
	r->trimming = 0;
}

/*
 * FLUSHING OFF THE LOOP. A flush is one job: each projection that applied
 * events since its checkpoint moves its caches into its table (ops->flush,
 * on the thread that owns the tables, with no batch being applied), and
 * its dirty keys are handed out (kv_detach: pending in the table, and
 * unchanged, until the job is reaped) with the seq they reach. The flusher
 * thread writes them and every checkpoint in ONE write transaction and commits it, while
 * the loop applies further events; a crash before the commit leaves the
 * previous checkpoint with its state, after it the new one with its state.
 * The loop then reaps the job: the pending keys become clean (or, if the
 * commit failed, dirty again, written by the next flush with their newest
 * values), checkpoints move, waiters are settled. One job at a time.
 */
typedef struct flush_job {
	pstate *part[MAX_PROJECTIONS];
	kv_batch *b[MAX_PROJECTIONS];
	uint64_t seq[MAX_PROJECTIONS]; /* each one's checkpoint in this flush */
	unsigned np;
	int rc;
	int done;               /* under fl_mu */
	uint64_t began, ended; /* its write (ld_mono_ms), the flusher's */
} flush_job;

static void flush_job_free(flush_job *j)
{
	for (unsigned i = 0; i < j->np; i++)
		kv_batch_free(j->b[i]);
	free(j);
}

/* A big flush is sorted on two threads: the flusher sorts and writes its
 * first part while this one sorts the others (a rebuild's last flush has
 * the other core to itself). */
typedef struct sort_ahead {
	flush_job *j;
	pthread_t tid;
	int on, rc;
} sort_ahead;

static void *sort_ahead_main(void *arg)
{
	sort_ahead *sa = arg;
	pthread_setname_np(pthread_self(), "ld-flush-sort");
	for (unsigned i = 1; i < sa->j->np && !sa->rc; i++)
		sa->rc = kv_batch_sort(sa->j->b[i]);
	return NULL;
}

static void sort_ahead_start(sort_ahead *sa, flush_job *j, size_t min_keys)
{
	size_t keys = 0;
	for (unsigned i = 1; i < j->np; i++)
		keys += kv_batch_keys(j->b[i]);
	*sa = (sort_ahead){.j = j};
	if (keys >= min_keys)
		sa->on = pthread_create(&sa->tid, NULL, sort_ahead_main, sa) == 0;
}

/* Waits for the parts after the first to be sorted (or for nothing, when
 * no thread sorts them: the flusher does): 0 or LD_E(INTERNAL). */
static int sort_ahead_join(sort_ahead *sa)
{
	if (sa->on)
		pthread_join(sa->tid, NULL);
	sa->on = 0;
	return sa->rc;
}

/* The flusher's write: 0 or a store error. */
static int flush_write(runner *r, flush_job *j)
{
	int rc = 0;
	sort_ahead sa;
	sort_ahead_start(&sa, j, r->sort_ahead_keys);
	for (int attempt = 0;; attempt++) {
		store_txn *wt = NULL;
		rc = store_write_begin(r->ps, &wt);
		for (unsigned i = 0; i < j->np && !rc; i++) {
			char ck[80];
			uint8_t val[8];
			if (i == 1 && (rc = sort_ahead_join(&sa)))
				break;
			cp_key(ck, sizeof(ck), j->part[i]->ops->name);
			ld_put_be64(val, j->seq[i]);
			if (!(rc = kv_batch_write(j->b[i], wt)))
				rc = store_put(wt, PDB_META, ck, strlen(ck), val, 8);
		}
		if (!rc && r->kill_in_flush && ++r->flushes_begun == r->kill_in_flush) {
			/* The crash tests' hook: the state is written, not
			 * committed, and the loop is applying meanwhile. */
			log_warn("projections: LEDGERD_TEST_KILL_IN_FLUSH: killed in flush %llu",
				 (unsigned long long)r->flushes_begun);
			kill(getpid(), SIGKILL);
		}
		if (!rc) {
			rc = store_commit(wt);
			wt = NULL;
		}
		store_abort(wt);
		if (rc != STORE_MAP_FULL || attempt == 3)
			break;
		if ((rc = store_grow(r->ps, 0)))
			break;
	}
	int sorted = sort_ahead_join(&sa); /* when the write failed before */
	return rc ? rc : sorted;
}

static void *flusher_main(void *arg)
{
	runner *r = arg;
	pthread_setname_np(pthread_self(), "ld-flush");
	pthread_mutex_lock(&r->fl_mu);
	for (;;) {
		while (!r->fl_todo && !r->fl_quit)
			pthread_cond_wait(&r->fl_cv, &r->fl_mu);
		if (!r->fl_todo)
			break;
		flush_job *j = r->fl_todo;
		r->fl_todo = NULL;
		pthread_mutex_unlock(&r->fl_mu);
		behind_apply();
		j->began = (uint64_t)ld_mono_ms();
		if (r->flush_sleep_ms)
			nanosleep(&(struct timespec){(time_t)(r->flush_sleep_ms / 1000),
						     (long)(r->flush_sleep_ms % 1000) * 1000000L},
				  NULL);
		int rc = flush_write(r, j);
		j->ended = (uint64_t)ld_mono_ms();
		pthread_mutex_lock(&r->fl_mu);
		j->rc = rc;
		j->done = 1;
		pthread_cond_broadcast(&r->fl_cv);
		/* Under fl_mu: the loop closes this handle only after joining
		 * this thread. */
		uv_async_send(&r->flushed);
	}
	pthread_mutex_unlock(&r->fl_mu);
	return NULL;
}

/* The job in flight is done: its keys clean (or dirty again), checkpoints
 * moved, waiters settled. On the loop thread, with no batch being
 * applied; nothing if no job is done. */
static void flush_reap(runner *r)
{
	flush_job *j = r->inflight;
	if (!j)
		return;
	pthread_mutex_lock(&r->fl_mu);
	int done = j->done;
	pthread_mutex_unlock(&r->fl_mu);
	if (!done)
		return;
	r->inflight = NULL;
	r->flush_ended = j->ended;
	r->flush_took = j->ended - j->began;
	int rc = j->rc;
	/* Checkpoints move as soon as the commit is known, before the
	 * settling, which touches every key written (tens of milliseconds
	 * after a rebuild's last flush). kv_settle fails only where the
	 * commit did. */
	for (unsigned i = 0; i < j->np && !rc; i++) {
		pstate *p = j->part[i];
		pthread_mutex_lock(&r->lock);
		p->count += j->seq[i] - p->checkpoint;
		p->checkpoint = j->seq[i];
		p->flushes++;
		pthread_mutex_unlock(&r->lock);
	}
	for (unsigned i = 0; i < j->np; i++)
		if (kv_settle(j->part[i]->kv, rc == 0) && !rc)
			rc = LD_E(INTERNAL);
	if (rc) {
		if (!r->flush_failed)
			log_error("projections: flushing their state failed: %s; trying again",
				  ld_strerror(rc));
		r->flush_failed = (uint64_t)ld_mono_ms();
		if (!r->unflushed_since)
			r->unflushed_since = r->flush_failed;
	} else {
		if (r->flush_failed)
			log_info("projections: flushed again");
		r->flush_failed = 0;
		for (unsigned i = 0; i < j->np; i++)
			if (j->part[i]->ops->committed)
				j->part[i]->ops->committed(j->part[i]->state, j->seq[i]);
	}
	flush_job_free(j);
	settle_failures(r, 1);
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < nprojections; i++)
		r->st[i].memory = kv_bytes(r->st[i].kv);
	pthread_mutex_unlock(&r->lock);
	settle_waiters(r, 0); /* those waiting for a flushed seq */
}

/* Waits for the job in flight, and reaps it. */
static void flush_wait(runner *r)
{
	if (!r->inflight)
		return;
	pthread_mutex_lock(&r->fl_mu);
	while (!r->inflight->done)
		pthread_cond_wait(&r->fl_cv, &r->fl_mu);
	pthread_mutex_unlock(&r->fl_mu);
	flush_reap(r);
}

/*
 * Starts one flush (above): waits for the one in flight first. On the loop
 * thread, with no batch being applied. 0, or an error preparing it (the
 * state stays dirty and is flushed again later).
 */
static int flush_start(runner *r)
{
	flush_wait(r);
	flush_job *j = calloc(1, sizeof(*j));
	store_txn *base = NULL;
	int rc = j ? store_read_begin(r->ps, &base) : LD_E(INTERNAL);
	for (unsigned i = 0; i < nprojections && !rc; i++) {
		pstate *p = &r->st[i];
		pthread_mutex_lock(&r->lock);
		int behind = p->applied != p->checkpoint;
		pthread_mutex_unlock(&r->lock);
		if (!behind)
			continue;
		j->part[j->np++] = p;
		if (!p->ops->flush)
			continue;
		proj_ctx ctx = {.kv = p->kv, .name = p->ops->name, .state = p->state};
		kv_set_base(p->kv, base);
		rc = p->ops->flush(&ctx);
		kv_set_base(p->kv, NULL);
		if (!rc && p->ops->flushing)
			p->ops->flushing(p->state);
	}
	if (!rc)
		trim(r);
	for (unsigned i = 0; j && i < j->np && !rc; i++) {
		rc = kv_detach(j->part[i]->kv, &j->b[i]);
		j->seq[i] = j->part[i]->applied;
	}
	if (base)
		store_read_end(base);
	if (rc) {
		/* Keys detached already go back to dirty. */
		for (unsigned i = 0; j && i < j->np; i++)
			if (j->b[i])
				(void)kv_settle(j->part[i]->kv, 0);
		if (j)
			flush_job_free(j);
		if (!r->flush_failed)
			log_error("projections: flushing their state failed: %s; trying again",
				  ld_strerror(rc));
		r->flush_failed = (uint64_t)ld_mono_ms();
		return rc;
	}
	r->unflushed = 0;
	r->unflushed_since = 0;
	if (!j->np) {
		free(j);
		settle_failures(r, 1);
		return 0;
	}
	writer_applied_head(r->w, &r->flush_head, NULL);
	r->inflight = j;
	pthread_mutex_lock(&r->fl_mu);
	r->fl_todo = j;
	pthread_cond_signal(&r->fl_cv);
	pthread_mutex_unlock(&r->fl_mu);
	return 0;
}

/* A flush, written and reaped before it returns (a stop, a projection that
 * failed). */
static int flush_all(runner *r)
{
	int rc = flush_start(r);
	flush_wait(r);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Waiters                                                             */
/* ------------------------------------------------------------------ */

static uint64_t min_checkpoint_locked(runner *r)
{
	uint64_t m = UINT64_MAX;
	for (unsigned i = 0; i < nprojections; i++)
		if (r->st[i].checkpoint < m)
			m = r->st[i].checkpoint;
	return m == UINT64_MAX ? 0 : m;
}

static int any_stopped_locked(runner *r)
{
	for (unsigned i = 0; i < nprojections; i++)
		if (r->st[i].stopped)
			return 1;
	return 0;
}

static void on_tick(uv_timer_t *t);

/* The seq the state in memory is at, for answering from it: what every
 * projection has applied (0: it cannot be read now, a projection failed on
 * an event part of which may be in its state). The loop thread's. */
static uint64_t servable(runner *r)
{
	uint64_t m = UINT64_MAX;
	for (unsigned i = 0; i < nprojections; i++) {
		const pstate *p = &r->st[i];
		if (p->stop_at && !p->rewound && !p->stopped)
			return 0;
		if (p->applied < m)
			m = p->applied;
	}
	return m == UINT64_MAX ? 0 : m;
}

/* The state in memory as queries read it: every projection's caches moved
 * into its table (ops->flush: a later flush moves nothing twice), over one
 * read transaction on the flushed state. 0, or an error (then queries wait
 * for a flush). */
static int reader_begin(runner *r, store_txn **base, proj_kv **kvs, kv_read *rd)
{
	int rc = store_read_begin(r->ps, base);
	for (unsigned i = 0; i < nprojections && !rc; i++) {
		pstate *p = &r->st[i];
		kvs[i] = p->kv;
		if (!p->ops->flush || p->stopped)
			continue;
		proj_ctx ctx = {.kv = p->kv, .name = p->ops->name, .state = p->state};
		kv_set_base(p->kv, *base);
		rc = p->ops->flush(&ctx);
		kv_set_base(p->kv, NULL);
	}
	if (rc && *base) {
		store_read_end(*base);
		*base = NULL;
	}
	*rd = (kv_read){.t = *base, .kv = kvs, .nkv = nprojections};
	return rc;
}

/*
 * Calls back every waiter that is decided. One whose seq is applied is
 * answered here, on the loop thread, from the state in memory (fn gets the
 * reader): nothing is applied meanwhile, so every answer is at one seq.
 * Answering stops after QUERY_SLICE_MS, and the rest wait for the next
 * turn of the loop, so applying goes on between slices of queries.
 */
static void settle_waiters(runner *r, int final)
{
	uint64_t now = (uint64_t)ld_mono_ms();
	uint64_t mem = final ? 0 : servable(r);
	waiter *done = NULL;
	pthread_mutex_lock(&r->lock);
	uint64_t cp = min_checkpoint_locked(r);
	int stopped = any_stopped_locked(r);
	for (waiter **pp = &r->waiters; *pp;) {
		waiter *wt = *pp;
		if (final || cp >= wt->min_seq || (!wt->flushed_only && mem >= wt->min_seq) ||
		    stopped || now >= wt->deadline_ms) {
			*pp = wt->next;
			wt->next = done;
			done = wt;
		} else {
			pp = &wt->next;
		}
	}
	pthread_mutex_unlock(&r->lock);

	store_txn *base = NULL;
	proj_kv *kvs[MAX_PROJECTIONS];
	kv_read rd;
	int reading = 0, sliced = 0;
	uint64_t until = now + QUERY_SLICE_MS;
	for (waiter *wt = done, *next; wt; wt = next) {
		next = wt->next;
		if (!final && !wt->flushed_only && mem >= wt->min_seq) {
			if (!reading)
				reading = reader_begin(r, &base, kvs, &rd) == 0 ? 1 : -1;
			if (reading == 1 && (uint64_t)ld_mono_ms() >= until) {
				/* The slice is over: back in the list, answered
				 * after the next apply. */
				pthread_mutex_lock(&r->lock);
				wt->next = r->waiters;
				r->waiters = wt;
				pthread_mutex_unlock(&r->lock);
				sliced = 1;
				continue;
			}
			if (reading == 1) {
				wt->fn(wt->arg, 1, &rd, mem);
				free(wt);
				continue;
			}
		}
		if (!final && cp < wt->min_seq && !stopped && now < wt->deadline_ms) {
			/* It could not be read from memory: it waits on. */
			pthread_mutex_lock(&r->lock);
			wt->next = r->waiters;
			r->waiters = wt;
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		wt->fn(wt->arg, final ? -2 : cp >= wt->min_seq ? 1 : stopped ? -1 : 0, NULL, 0);
		free(wt);
	}
	if (base)
		store_read_end(base);
	if (sliced)
		uv_async_send(&r->wake);
	pthread_mutex_lock(&r->lock);
	int more = r->waiters != NULL;
	pthread_mutex_unlock(&r->lock);
	if (!final && more && !uv_is_active((uv_handle_t *)&r->tick))
		uv_timer_start(&r->tick, on_tick, WAIT_TICK_MS, WAIT_TICK_MS);
	if ((final || !more) && uv_is_active((uv_handle_t *)&r->tick))
		uv_timer_stop(&r->tick);
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */
/* ------------------------------------------------------------------ */

static void on_flush(uv_timer_t *t);

/* Whether a query waits for a flush of a seq every projection has applied
 * (one that is not answered from memory): then the flush is made now. */
static int flush_awaited(runner *r)
{
	uint64_t mem = servable(r);
	int awaited = 0;
	pthread_mutex_lock(&r->lock);
	for (waiter *wt = r->waiters; wt && !awaited; wt = wt->next)
		awaited = wt->flushed_only && wt->min_seq <= mem;
	pthread_mutex_unlock(&r->lock);
	return awaited;
}

uint64_t proj_flush_at(uint64_t first, uint64_t flush_ms, uint64_t max_ms, uint64_t ended,
		       uint64_t took)
{
	uint64_t at = first + flush_ms, calm = ended + PROJ_FLUSH_CALM * took,
		 latest = first + (flush_ms > max_ms ? flush_ms : max_ms);
	if (calm > at)
		at = calm < latest ? calm : latest;
	return at;
}

/* Whether events were committed since the last flush was handed out. */
static int stream_since_flush(runner *r)
{
	uint64_t head;
	writer_applied_head(r->w, &head, NULL);
	return head != r->flush_head;
}

/* Flushes now if a flush is due, or (arm) arms the timer for when it
 * will be. */
static void schedule_flush(runner *r, int arm)
{
	uint64_t now = (uint64_t)ld_mono_ms(), at;
	int failing = 0;
	for (unsigned i = 0; i < nprojections; i++)
		failing |= r->st[i].stop_at && !r->st[i].stopped;
	if (!r->unflushed_since && !failing)
		return;
	if (r->inflight) {
		/* One flush at a time: the next is scheduled when this one is
		 * reaped, unless the state in memory is too much to wait. */
		if (dirty_bytes(r) < r->memory / 2)
			return;
		flush_wait(r);
	}
	if (r->flush_failed)
		at = r->flush_failed + FLUSH_RETRY_MS;
	else if (flush_due(r) || flush_awaited(r))
		at = now;
	else if (r->unflushed_since && !stream_since_flush(r))
		/* The pause after a flush is for a stream (projection.h); with
		 * nothing committed since the last flush was handed out there is
		 * none: a rebuild's last events, too few to be due, waited up to
		 * flush_max_ms after the flush made in its midst. */
		at = r->unflushed_since + r->flush_ms;
	else if (r->unflushed_since)
		at = proj_flush_at(r->unflushed_since, r->flush_ms, r->flush_max_ms, r->flush_ended,
				   r->flush_took);
	else
		at = now;
	if (at <= now) {
		uv_timer_stop(&r->flush);
		flush_start(r);
		return;
	}
	if (arm)
		uv_timer_start(&r->flush, on_flush, at - now, 0);
}

static void catch_up(runner *r)
{
	behind_apply();
	for (;;) {
		/* What the store holds (head), and what is applied beyond it
		 * (applied): read from the writer's memory (apply_serial). */
		uint64_t head, applied;
		uint8_t hash[LD_HASH_LEN];
		writer_head(r->w, &head, NULL, NULL);
		writer_applied_head(r->w, &applied, hash);
		if (applied < head)
			applied = head;
		settle_failures(r, 0);
		uint64_t from = first_needed(r);
		if (stopping(r) || from > applied)
			break;
		uint64_t before = r->unflushed;
		if (head >= from && head - from + 1 >= PROJ_PARALLEL_MIN) {
			apply_parallel(r, head);
		} else {
			uint64_t mark[MAX_PROJECTIONS], n = 0;
			for (unsigned i = 0; i < nprojections; i++)
				mark[i] = r->st[i].applied;
			apply_serial(r, from, applied);
			for (unsigned i = 0; i < nprojections; i++)
				if (r->st[i].applied - mark[i] > n)
					n = r->st[i].applied - mark[i];
			if (n && !r->unflushed_since)
				r->unflushed_since = (uint64_t)ld_mono_ms();
			r->unflushed += n;
			/* Read-your-writes first (from memory), then the flush
			 * (busy with a steady stream: timers cannot run
			 * meanwhile). */
			settle_waiters(r, 0);
			schedule_flush(r, 0);
			size_t part = n * TRIM_SLOTS_PER_EVENT;
			trim_step(r, part < TRIM_SLOTS_MIN   ? TRIM_SLOTS_MIN
				     : part > TRIM_SLOTS_MAX ? TRIM_SLOTS_MAX
							     : part);
		}
		if (r->unflushed == before && first_needed(r) == from && !any_failed(r))
			break; /* no progress: the log could not be read; the next commit retries */
	}
	schedule_flush(r, 1);
	settle_waiters(r, 0);
}

static void on_flush(uv_timer_t *t)
{
	runner *r = t->data;
	if (stopping(r))
		return;
	catch_up(r);
}

/* The flusher finished a flush: reaped, and the next one scheduled. */
static void on_flushed(uv_async_t *h)
{
	runner *r = h->data;
	flush_reap(r);
	if (!stopping(r))
		schedule_flush(r, 1);
}

static void on_wake(uv_async_t *h)
{
	runner *r = h->data;
	if (stopping(r)) {
		/* What was applied is flushed: a restart goes on from there. */
		settle_failures(r, 0);
		flush_all(r);
		settle_waiters(r, 1);
		uv_close((uv_handle_t *)&r->wake, NULL);
		uv_close((uv_handle_t *)&r->tick, NULL);
		uv_close((uv_handle_t *)&r->flush, NULL);
		uv_close((uv_handle_t *)&r->flushed, NULL);
		return;
	}
	catch_up(r);
}

static void on_tick(uv_timer_t *t)
{
	settle_waiters(t->data, 0);
}

static void *runner_main(void *arg)
{
	runner *r = arg;
	pthread_setname_np(pthread_self(), "ld-runner");
	/* Woken by the commit hooks: it reads what the store holds, without
	 * making a replicated writer store sooner what it lets wait. */
	writer_thread_reads_stored();
	catch_up(r); /* whatever was committed before we started */
	uv_run(&r->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* The writer's commit hook: on the writer's thread. The wake-up is sent
 * under the lock, and never once stopping is set, so it cannot reach a
 * handle the loop has closed. */
static void on_commit(void *arg, uint64_t head)
{
	runner *r = arg;
	(void)head;
	pthread_mutex_lock(&r->lock);
	if (!r->stopping)
		uv_async_send(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

/* ------------------------------------------------------------------ */
/* Public                                                              */
/* ------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * THE MARKS. The projection environment is not synced, so what would tell
 * that it may be torn cannot live in it: a machine crash tears the marks
 * with the rest. They live in the log's meta, whose commits are synced:
 *   MARK_BOOT   the boot id of the process that last opened the projections;
 *   MARK_CLEAN  "1" once a clean stop had synced them, "0" while they run.
 * A start under another boot id with MARK_CLEAN "0" (or with no marks at
 * all beside an existing environment: nothing says how it was left) throws
 * the environment away and rebuilds it from the log.
 */
#define MARK_BOOT  "projections-boot"
#define MARK_CLEAN "projections-clean"

/* Reads the marks from the log: *known = 0 when there are none. */
static int marks_get(store *log, char was[64], int *clean, int *known)
{
	store_txn *t;
	store_val v;
	int rc = store_read_begin(log, &t);
	*known = 0;
	*clean = 0;
	was[0] = 0;
	if (rc)
		return rc;
	if (store_get(t, DB_META, MARK_BOOT, strlen(MARK_BOOT), &v) == 0 && v.len < 64) {
		memcpy(was, v.data, v.len);
		was[v.len] = 0;
		*known = 1;
		*clean = store_get(t, DB_META, MARK_CLEAN, strlen(MARK_CLEAN), &v) == 0 &&
			 v.len == 1 && *(const char *)v.data == '1';
	}
	store_read_end(t);
	return 0;
}

/* Writes the marks into the log's meta (a synced commit). The writer is
 * idle whenever this runs: at start, before the server takes requests, and
 * at the end, after the writer has stopped. */
static int marks_put(store *log, const char *boot, int clean)
{
	store_txn *t;
	int rc = store_write_begin(log, &t);
	if (rc)
		return rc;
	if ((rc = store_put(t, DB_META, MARK_BOOT, strlen(MARK_BOOT), boot, strlen(boot))) ||
	    (rc = store_put(t, DB_META, MARK_CLEAN, strlen(MARK_CLEAN), clean ? "1" : "0", 1))) {
		store_abort(t);
		return rc;
	}
	return store_commit(t);
}

static void wipe(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Opens the projection environment (dir) and reads what the runner needs
 * from it: each projection's prepare, then the checkpoints. A storage
 * error anywhere in it means an environment LMDB cannot read. */
static int open_env(runner *r, const char *dir, ld_errinfo *e);

/*
 * Opens the projection environment. Projections are derived data, so their
 * commits are not synced (MDB_NOSYNC): after a crash of the process the
 * kernel still writes them out, and a checkpoint always travels with its
 * state. A crash of the machine can lose or tear them: the marks in the
 * log (above) say so, and they are rebuilt from the log, which is synced.
 * So is an environment that cannot be read (a torn one the marks could not
 * tell, a damaged disk): derived data, nothing is lost by throwing it away.
 */
static int open_projections(runner *r, const char *dir, ld_errinfo *e)
{
	char boot[64], was[64], path[4200];
	int clean, known, rc;
	store_boot_id(boot);
	if ((rc = marks_get(r->log, was, &clean, &known)))
		return ld_errinfo_set(e, rc, NULL, "unable to read the projections' marks in the log");
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (access(path, F_OK) == 0) {
		if (!known) {
			log_warn("projections: nothing records how '%s' was last closed; rebuilding "
				 "them from the log",
				 dir);
			wipe(dir);
		} else if (!clean && strcmp(was, boot) != 0) {
			log_warn("projections: the machine restarted since '%s' was last closed "
				 "cleanly; rebuilding them from the log",
				 dir);
			wipe(dir);
		}
	}
	/* Marked running before anything is written: from here a machine
	 * crash leaves "0" under this boot id. */
	if ((rc = marks_put(r->log, boot, 0)))
		return ld_errinfo_set(e, rc, NULL,
				      "unable to record the projections' marks in the log: %s",
				      ld_strerror(rc));
	for (int attempt = 0;; attempt++) {
		ld_errinfo oe = {0};
		if ((rc = open_env(r, dir, &oe)) == 0)
			return 0;
		store_close(r->ps);
		r->ps = NULL;
		if (attempt || rc == LD_E(DISK_FULL) || rc == LD_E(PLAN_INVALID)) {
			*e = oe;
			return rc;
		}
		log_warn("projections: '%s' cannot be read (%s); rebuilding them from the log",
			 dir, oe.message[0] ? oe.message : ld_strerror(rc));
		wipe(dir);
	}
}

static int prepare_all(runner *r, ld_errinfo *e)
{
	store_txn *pt, *lt;
	int rc = store_write_begin(r->ps, &pt);
	if (rc)
		return rc;
	if ((rc = store_read_begin(r->log, &lt))) {
		store_abort(pt);
		return rc;
	}
	for (unsigned i = 0; i < nprojections && !rc; i++) {
		int reset = 0;
		proj_ctx ctx = {.lt = lt, .name = projections[i]->name, .state = r->st[i].state};
		if (!projections[i]->prepare)
			continue;
		if ((rc = projections[i]->prepare(&ctx, pt, &reset)) == 0 && reset) {
			char ck[80];
			cp_key(ck, sizeof(ck), projections[i]->name);
			rc = store_del(pt, PDB_META, ck, strlen(ck));
			if (rc == LD_E(NOT_FOUND))
				rc = 0;
			log_info("projection %s: its inputs changed; rebuilding it from the log",
				 projections[i]->name);
		}
	}
	store_read_end(lt);
	if (rc) {
		store_abort(pt);
		if (e && !e->message[0])
			ld_errinfo_set(e, rc, NULL, "preparing the projections: %s", ld_strerror(rc));
		return rc;
	}
	return store_commit(pt);
}

static int open_env(runner *r, const char *dir, ld_errinfo *e)
{
	const char *names[STORE_MAX_DBS];
	store_options o = {.dir = dir, .no_sync = 1, .dbs = names, .ndbs = proj_env_dbs(names),
			   .name = "the projections"};
	store_txn *t;
	int rc;
	if ((rc = store_open(&r->ps, &o, e)) || (rc = prepare_all(r, e)))
		return rc;
	if ((rc = store_read_begin(r->ps, &t)))
		return ld_errinfo_set(e, rc, NULL, "unable to read the projections in '%s'", dir);
	for (unsigned i = 0; i < nprojections && !rc; i++) {
		char ck[80];
		store_val v;
		cp_key(ck, sizeof(ck), projections[i]->name);
		r->st[i].checkpoint = 0;
		rc = store_get(t, PDB_META, ck, strlen(ck), &v);
		if (rc == 0 && v.len == 8)
			r->st[i].checkpoint = ld_get_be64(v.data);
		else if (rc == 0)
			rc = ld_errinfo_set(e, LD_E(STORAGE), NULL,
					    "the checkpoint of projection %s is damaged",
					    projections[i]->name);
		else if (rc == LD_E(NOT_FOUND))
			rc = 0;
		else
			ld_errinfo_set(e, rc, NULL, "unable to read the checkpoint of projection %s",
				       projections[i]->name);
		r->st[i].applied = r->st[i].checkpoint;
	}
	/* Each projection's state in memory, over what is flushed; a database
	 * with nothing in it (a rebuild) is complete in memory from the start. */
	unsigned ndbs = o.ndbs;
	for (unsigned i = 0; i < nprojections && !rc; i++) {
		kv_free(r->st[i].kv);
		r->st[i].kv = NULL;
		if ((rc = kv_create(&r->st[i].kv, ndbs))) {
			ld_errinfo_set(e, rc, NULL, "out of memory");
			break;
		}
		for (unsigned db = 0; db < ndbs; db++)
			if (store_count(t, db) == 0)
				kv_set_complete(r->st[i].kv, db);
		for (unsigned j = 0; j < projections[i]->ndbs; j++)
			if (projections[i]->cold >> j & 1)
				kv_set_cold(r->st[i].kv, proj_db(projections[i], j));
	}
	store_read_end(t);
	return rc;
}

/* Each projection's state, made from o, and freed. */
static int create_all(runner *r, const proj_options *o, ld_errinfo *e)
{
	static const proj_options none = {0};
	for (unsigned i = 0; i < nprojections; i++) {
		r->st[i].ops = projections[i];
		if (!projections[i]->create)
			continue;
		int rc = projections[i]->create(&r->st[i].state, o ? o : &none, e);
		if (rc) {
			if (e && !e->message[0])
				ld_errinfo_set(e, rc, NULL, "projection %s: %s", projections[i]->name,
					       ld_strerror(rc));
			return rc;
		}
	}
	return 0;
}

static void destroy_all(runner *r)
{
	for (unsigned i = 0; i < nprojections; i++) {
		if (r->st[i].ops && r->st[i].ops->destroy)
			r->st[i].ops->destroy(r->st[i].state);
		r->st[i].state = NULL;
		kv_free(r->st[i].kv);
		r->st[i].kv = NULL;
	}
	codec_pool_free(&r->pool);
}

static void flusher_stop(runner *r)
{
	if (!r->flusher_started)
		return;
	pthread_mutex_lock(&r->fl_mu);
	r->fl_quit = 1;
	pthread_cond_broadcast(&r->fl_cv);
	pthread_mutex_unlock(&r->fl_mu);
	pthread_join(r->flusher, NULL);
	r->flusher_started = 0;
}

int runner_start(runner **out, const char *dir, store *log, writer *w, const proj_options *o,
		 ld_errinfo *e)
{
	runner *r = calloc(1, sizeof(*r));
	*out = NULL;
	if (!r)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->fl_mu, NULL);
	pthread_cond_init(&r->fl_cv, NULL);
	r->log = log;
	r->w = w;
	r->memory = o && o->memory ? o->memory : PROJ_MEMORY_DEFAULT;
	r->flush_ms = o && o->flush_ms ? o->flush_ms : PROJ_FLUSH_MS;
	r->flush_events = o && o->flush_events ? o->flush_events : PROJ_FLUSH_EVENTS;
	r->bulk_flush_events =
	    o && o->bulk_flush_events ? o->bulk_flush_events : PROJ_BULK_FLUSH_EVENTS;
	r->flush_max_ms = o && o->flush_max_ms ? o->flush_max_ms : PROJ_FLUSH_MAX_MS;
	r->sort_ahead_keys = o && o->sort_ahead_keys ? o->sort_ahead_keys : PROJ_SORT_AHEAD_KEYS;
	int rc = nprojections > MAX_PROJECTIONS ? LD_E(INTERNAL) : create_all(r, o, e);
	if (rc)
		goto fail;
	if ((rc = open_projections(r, dir, e)))
		goto fail;
	for (unsigned i = 0; i < nprojections; i++)
		log_info("projection %s: checkpoint %llu", projections[i]->name,
			 (unsigned long long)r->st[i].checkpoint);

	uv_loop_init(&r->loop);
	uv_async_init(&r->loop, &r->wake, on_wake);
	uv_async_init(&r->loop, &r->flushed, on_flushed);
	r->flushed.data = r;
	uv_timer_init(&r->loop, &r->tick);
	uv_timer_init(&r->loop, &r->flush);
	r->wake.data = r;
	r->tick.data = r;
	r->flush.data = r;
	writer_on_commit(w, on_commit, r);
	const char *kill_at = getenv("LEDGERD_TEST_KILL_IN_FLUSH");
	r->kill_in_flush = kill_at ? strtoull(kill_at, NULL, 10) : 0;
	const char *sleep_ms = getenv("LEDGERD_TEST_FLUSH_SLEEP_MS");
	r->flush_sleep_ms = sleep_ms ? strtoull(sleep_ms, NULL, 10) : 0;
	if (pthread_create(&r->flusher, NULL, flusher_main, r) != 0) {
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to start the flushing thread");
		goto fail;
	}
	r->flusher_started = 1;
	if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to start the projection thread");
		goto fail;
	}
	r->started = 1;
	*out = r;
	return 0;
fail:
	writer_on_commit(w, NULL, NULL);
	flusher_stop(r);
	store_close(r->ps);
	destroy_all(r);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->fl_mu);
	pthread_cond_destroy(&r->fl_cv);
	free(r);
	return rc;
}

void runner_stop(runner *r)
{
	if (!r || !r->started)
		return;
	writer_on_commit(r->w, NULL, NULL); /* no wake-ups into a stopped loop */
	pthread_mutex_lock(&r->lock);
	r->stopping = 1;
	uv_async_send(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	flusher_stop(r); /* idle: the loop reaped its last flush */
	uv_loop_close(&r->loop);
	r->started = 0;
}

void runner_free(runner *r)
{
	if (!r)
		return;
	runner_stop(r);
	/* Everything written out, then the clean mark: the projections can be
	 * trusted after a restart of the machine. */
	char boot[64];
	store_boot_id(boot);
	if (r->ps && (store_sync(r->ps) != 0 || marks_put(r->log, boot, 1) != 0))
		log_warn("projections: unable to mark a clean stop; they will be rebuilt if the "
			 "machine restarts first");
	store_close(r->ps);
	destroy_all(r);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->fl_mu);
	pthread_cond_destroy(&r->fl_cv);
	free(r);
}

store *runner_store(runner *r)
{
	return r->ps;
}

void *runner_state(runner *r, const projection_ops *ops)
{
	for (unsigned i = 0; i < nprojections; i++)
		if (r->st[i].ops == ops)
			return r->st[i].state;
	return NULL;
}

uint64_t runner_checkpoint(runner *r)
{
	pthread_mutex_lock(&r->lock);
	uint64_t cp = min_checkpoint_locked(r);
	pthread_mutex_unlock(&r->lock);
	return cp;
}

uint64_t runner_snapshot_seq(store_txn *t)
{
	uint64_t m = UINT64_MAX;
	for (unsigned i = 0; i < nprojections; i++) {
		char ck[80];
		store_val v;
		cp_key(ck, sizeof(ck), projections[i]->name);
		uint64_t cp = store_get(t, PDB_META, ck, strlen(ck), &v) == 0 && v.len == 8
				      ? ld_get_be64(v.data)
				      : 0;
		if (cp < m)
			m = cp;
	}
	return m == UINT64_MAX ? 0 : m;
}

int runner_wait(runner *r, uint64_t min_seq, uint32_t timeout_ms, int from_memory,
		runner_wait_fn fn, void *arg)
{
	pthread_mutex_lock(&r->lock);
	int rc;
	if (min_checkpoint_locked(r) >= min_seq)
		rc = 1;
	else if (any_stopped_locked(r))
		rc = -1;
	else if (r->stopping)
		rc = -2;
	else {
		waiter *wt = calloc(1, sizeof(*wt));
		if (!wt) {
			rc = -2;
		} else {
			wt->min_seq = min_seq;
			wt->flushed_only = !from_memory;
			wt->deadline_ms = (uint64_t)ld_mono_ms() + timeout_ms;
			wt->fn = fn;
			wt->arg = arg;
			wt->next = r->waiters;
			r->waiters = wt;
			rc = RUNNER_WAITING;
			uv_async_send(&r->wake); /* arms the deadline timer */
		}
	}
	pthread_mutex_unlock(&r->lock);
	/* min_seq is applied (the server checked): read from the writer's
	 * memory, unless the store is so far behind that only what it holds
	 * is read (apply_serial), which it then stores at once. */
	if (rc == RUNNER_WAITING && writer_unstored_count(r->w) > RUNNER_UNSTORED_MAX)
		writer_store_soon(r->w, min_seq);
	return rc;
}

int runner_status(runner *r, Ledger__ProjectionStatus *st)
{
	uint64_t head;
	writer_head(r->w, &head, NULL, NULL);
	ledger__projection_status__init(st);
	st->projections = calloc(nprojections, sizeof(*st->projections));
	if (!st->projections)
		return LD_E(INTERNAL);
	/* Lag in time: how long ago the oldest event not yet applied was
	 * committed (its recorded_at), per projection. */
	int64_t lag_ms[MAX_PROJECTIONS] = {0};
	int64_t now_us = ld_wall_us();
	store_txn *lt;
	if (store_read_begin(r->log, &lt) == 0) {
		for (unsigned i = 0; i < nprojections; i++) {
			pthread_mutex_lock(&r->lock);
			uint64_t next = r->st[i].checkpoint + 1;
			pthread_mutex_unlock(&r->lock);
			Ledger__Event *ev;
			if (next <= head && model_load_event(lt, next, &ev) == 0) {
				lag_ms[i] = ev->recorded_at < now_us ? (now_us - ev->recorded_at) / 1000 : 0;
				codec_event_free(ev);
			}
		}
		store_read_end(lt);
	}
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < nprojections; i++) {
		pstate *p = &r->st[i];
		Ledger__ProjectionInfo *pi = calloc(1, sizeof(*pi));
		if (!pi)
			break;
		ledger__projection_info__init(pi);
		pi->name = (char *)p->ops->name;
		pi->has_checkpoint = pi->has_lag_events = pi->has_lag_ms = 1;
		pi->has_stopped = pi->has_applied = 1;
		pi->checkpoint = p->checkpoint;
		pi->lag_events = head > p->checkpoint ? head - p->checkpoint : 0;
		pi->lag_ms = pi->lag_events ? lag_ms[i] : 0;
		pi->stopped = p->stopped;
		pi->applied = p->count;
		pi->has_flushes = pi->has_memory_bytes = 1;
		pi->flushes = p->flushes;
		pi->memory_bytes = p->memory;
		pi->has_trimmed_bytes = pi->has_whole_trims = 1;
		pi->trimmed_bytes = p->trimmed;
		pi->whole_trims = p->whole_trims;
		if (p->stopped)
			pi->error = strdup(p->error);
		st->projections[st->n_projections++] = pi;
	}
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void runner_status_free(Ledger__ProjectionStatus *st)
{
	for (size_t i = 0; i < st->n_projections; i++) {
		free(st->projections[i]->error);
		free(st->projections[i]);
	}
	free(st->projections);
}
