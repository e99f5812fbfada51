/* runner.c — the projection workers' libuv loop: catch-up and flush
 * scheduling, read-your-writes waiters, the marks, start and stop. Applying
 * is runner_apply.c's, flushing runner_flush.c's, giving memory back
 * runner_trim.c's (runner_int.h). See projection.h. */
#include "projection.h"
#include "runner_int.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "behind.h"
#include "clock.h"
#include "log.h"
#include "model.h"

#define WAIT_TICK_MS 5        /* how often deadlines of waiters are checked */
#define FLUSH_RETRY_MS 1000   /* a flush that failed (not a full map) is tried again */
#define QUERY_SLICE_MS 5      /* queries answered in a row before applying goes on */

void rn_cp_key(char *key, size_t n, const char *name)
{
	snprintf(key, n, "cp/%s", name);
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
uint64_t rn_servable(runner *r)
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
void rn_settle_waiters(runner *r, int final)
{
	uint64_t now = (uint64_t)ld_mono_ms();
	uint64_t mem = final ? 0 : rn_servable(r);
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
	uint64_t mem = rn_servable(r);
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
		if (rn_dirty_bytes(r) < r->memory / 2)
			return;
		rn_flush_wait(r);
	}
	if (r->flush_failed)
		at = r->flush_failed + FLUSH_RETRY_MS;
	else if (rn_flush_due(r) || flush_awaited(r))
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
		rn_flush_start(r);
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
		 * (applied): read from the writer's memory (rn_apply_serial). */
		uint64_t head, applied;
		uint8_t hash[LD_HASH_LEN];
		writer_head(r->w, &head, NULL, NULL);
		writer_applied_head(r->w, &applied, hash);
		if (applied < head)
			applied = head;
		rn_settle_failures(r, 0);
		uint64_t from = rn_first_needed(r);
		if (rn_stopping(r) || from > applied)
			break;
		uint64_t before = r->unflushed;
		if (head >= from && head - from + 1 >= PROJ_PARALLEL_MIN) {
			rn_apply_parallel(r, head);
		} else {
			uint64_t mark[MAX_PROJECTIONS], n = 0;
			for (unsigned i = 0; i < nprojections; i++)
				mark[i] = r->st[i].applied;
			rn_apply_serial(r, from, applied);
			for (unsigned i = 0; i < nprojections; i++)
				if (r->st[i].applied - mark[i] > n)
					n = r->st[i].applied - mark[i];
			if (n && !r->unflushed_since)
				r->unflushed_since = (uint64_t)ld_mono_ms();
			r->unflushed += n;
			/* Read-your-writes first (from memory), then the flush
			 * (busy with a steady stream: timers cannot run
			 * meanwhile). */
			rn_settle_waiters(r, 0);
			schedule_flush(r, 0);
			size_t part = n * TRIM_SLOTS_PER_EVENT;
			rn_trim_step(r, part < TRIM_SLOTS_MIN   ? TRIM_SLOTS_MIN
				     : part > TRIM_SLOTS_MAX ? TRIM_SLOTS_MAX
							     : part);
		}
		if (r->unflushed == before && rn_first_needed(r) == from && !rn_any_failed(r))
			break; /* no progress: the log could not be read; the next commit retries */
	}
	schedule_flush(r, 1);
	rn_settle_waiters(r, 0);
}

static void on_flush(uv_timer_t *t)
{
	runner *r = t->data;
	if (rn_stopping(r))
		return;
	catch_up(r);
}

/* The flusher finished a flush: reaped, and the next one scheduled. */
static void on_flushed(uv_async_t *h)
{
	runner *r = h->data;
	rn_flush_reap(r);
	if (!rn_stopping(r))
		schedule_flush(r, 1);
}

static void on_wake(uv_async_t *h)
{
	runner *r = h->data;
	if (rn_stopping(r)) {
		/* What was applied is flushed: a restart goes on from there. */
		rn_settle_failures(r, 0);
		rn_flush_all(r);
		rn_settle_waiters(r, 1);
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
	rn_settle_waiters(t->data, 0);
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

/* Whether projection ops's files were written under its layout (*reset 0),
 * or under another or none, when it has a checkpoint: then it is cleared
 * (*reset 1); its layout is noted either way (write transaction pt). */
static int layout_check(store_txn *pt, const projection_ops *ops, int *reset)
{
	char key[80], ck[80];
	uint8_t want[4], had = 0;
	store_val v;
	*reset = 0;
	if (!ops->layout)
		return 0;
	snprintf(key, sizeof(key), "layout/%s", ops->name);
	ld_put_be32(want, ops->layout);
	int rc = store_get(pt, PDB_META, key, strlen(key), &v);
	if (rc == 0 && v.len == sizeof(want) && memcmp(v.data, want, sizeof(want)) == 0)
		return 0;
	if (rc && rc != LD_E(NOT_FOUND))
		return rc;
	rn_cp_key(ck, sizeof(ck), ops->name);
	rc = store_get(pt, PDB_META, ck, strlen(ck), &v);
	if (rc == 0)
		had = 1;
	else if (rc != LD_E(NOT_FOUND))
		return rc;
	if (had) {
		if ((rc = proj_clear(pt, ops)))
			return rc;
		*reset = 1;
	}
	return store_put(pt, PDB_META, key, strlen(key), want, sizeof(want));
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
		int reset = 0, relaid = 0;
		proj_ctx ctx = {.lt = lt, .name = projections[i]->name, .state = r->st[i].state};
		if ((rc = layout_check(pt, projections[i], &relaid)) == 0 && projections[i]->prepare)
			rc = projections[i]->prepare(&ctx, pt, &reset);
		if (rc == 0 && (reset || relaid)) {
			char ck[80];
			rn_cp_key(ck, sizeof(ck), projections[i]->name);
			rc = store_del(pt, PDB_META, ck, strlen(ck));
			if (rc == LD_E(NOT_FOUND))
				rc = 0;
			log_info("projection %s: %s; rebuilding it from the log",
				 projections[i]->name,
				 relaid ? "its files were written under another layout (an older "
					  "version)"
					: "its inputs changed");
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
		rn_cp_key(ck, sizeof(ck), projections[i]->name);
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
		for (unsigned j = 0; j < projections[i]->ndbs; j++) {
			kv_set_owned(r->st[i].kv, proj_db(projections[i], j));
			if (projections[i]->cold >> j & 1)
				kv_set_cold(r->st[i].kv, proj_db(projections[i], j));
		}
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
	if (pthread_create(&r->flusher, NULL, rn_flusher_main, r) != 0) {
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
		rn_cp_key(ck, sizeof(ck), projections[i]->name);
		uint64_t cp = store_get(t, PDB_META, ck, strlen(ck), &v) == 0 && v.len == 8
				      ? ld_get_be64(v.data)
				      : 0;
		if (cp < m)
			m = cp;
	}
	return m == UINT64_MAX ? 0 : m;
}

/* runner_wait, and runner_read (always: a waiter for seq 0 is answered at
 * the loop's next turn, from memory). */
static int wait_for(runner *r, uint64_t min_seq, uint32_t timeout_ms, int from_memory,
		    int always, runner_wait_fn fn, void *arg)
{
	pthread_mutex_lock(&r->lock);
	int rc;
	if (!always && min_checkpoint_locked(r) >= min_seq)
		rc = 1;
	else if (!always && any_stopped_locked(r))
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
	 * is read (rn_apply_serial), which it then stores at once. */
	if (rc == RUNNER_WAITING && min_seq && writer_unstored_count(r->w) > RUNNER_UNSTORED_MAX)
		writer_store_soon(r->w, min_seq);
	return rc;
}

int runner_wait(runner *r, uint64_t min_seq, uint32_t timeout_ms, int from_memory,
		runner_wait_fn fn, void *arg)
{
	return wait_for(r, min_seq, timeout_ms, from_memory, 0, fn, arg);
}

int runner_read(runner *r, runner_wait_fn fn, void *arg)
{
	return wait_for(r, 0, RUNNER_WAIT_MAX_MS, 1, 1, fn, arg);
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
