/* runner.c — the projection workers' libuv loop. See projection.h. */
#include "projection.h"

#include <ftw.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "clock.h"
#include "log.h"
#include "model.h"

#define CHUNK_EVENTS 50000 /* events per projection transaction */
#define WAIT_TICK_MS 5     /* how often deadlines of waiters are checked */

typedef struct pstate {
	const projection_ops *ops;
	void *state;         /* the projection's own (ops->create), this runner's */
	uint64_t checkpoint; /* under runner.lock */
	uint64_t applied;
	int stopped;
	char error[300];
} pstate;

typedef struct waiter {
	struct waiter *next;
	uint64_t min_seq;
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
	uv_timer_t tick;
	int started;

	pthread_mutex_t lock; /* everything below */
	pstate st[8];
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

/*
 * One chunk for every running projection behind `head`, in ONE transaction:
 * each log event after the lowest of their checkpoints is decoded once and
 * applied to each projection that has not applied it yet; then each one's
 * state is flushed and its checkpoint written, and the transaction commits.
 * At most CHUNK_EVENTS events; with `limit` (a re-run after a failure) it
 * stops before that seq. Returns 0, 1 if a projection stopped (the others'
 * progress before the bad event is committed), or a storage error.
 */
static int apply_chunk(runner *r, uint64_t head, uint64_t limit)
{
	store_txn *lt = NULL, *pt = NULL;
	store_cursor *c = NULL;
	store_val k, v;
	uint8_t key[8];
	ld_errinfo e = {0};
	pstate *part[8], *bad = NULL;
	uint64_t last[8], from = UINT64_MAX, failed = 0;
	unsigned np = 0;
	int rc;

	for (unsigned i = 0; i < nprojections; i++) {
		pstate *p = &r->st[i];
		if (p->stopped || p->checkpoint >= head)
			continue;
		last[np] = p->checkpoint;
		part[np++] = p;
		if (p->checkpoint + 1 < from)
			from = p->checkpoint + 1;
	}
	if (!np)
		return 0;

	if ((rc = store_read_begin(r->log, &lt)) || (rc = store_write_begin(r->ps, &pt)))
		goto out;
	if ((rc = store_cursor_open(lt, DB_LOG, &c)))
		goto out;
	ld_put_be64(key, from);
	uint64_t expect = from;
	unsigned n = 0;
	for (rc = store_cursor_seek(c, key, 8, &k, &v); rc == 0 && n < CHUNK_EVENTS;
	     rc = store_cursor_next(c, &k, &v), n++) {
		uint64_t seq = ld_get_be64(k.data);
		if (seq > head || (limit && seq >= limit))
			break;
		if (seq != expect) {
			rc = ld_errinfo_set(&e, LD_E(STORAGE), NULL, "gap in the log before seq %llu",
					    (unsigned long long)seq);
			failed = seq;
			bad = part[0];
			break;
		}
		expect = seq + 1;
		Ledger__Event *ev = codec_event_unpack(v.data, v.len);
		if (!ev) {
			rc = ld_errinfo_set(&e, LD_E(STORAGE), NULL, "event seq %llu does not decode",
					    (unsigned long long)seq);
			failed = seq;
			bad = part[0];
			break;
		}
		for (unsigned i = 0; i < np && !rc; i++) {
			if (last[i] >= seq)
				continue; /* this one is ahead */
			proj_ctx ctx = {.pt = pt, .lt = lt, .name = part[i]->ops->name,
					.state = part[i]->state};
			memset(&e, 0, sizeof(e));
			rc = part[i]->ops->apply(&ctx, ev, &e);
			if (rc == 0)
				last[i] = seq;
			else if (rc != STORE_MAP_FULL) {
				failed = seq;
				bad = part[i];
				if (e.code != rc) /* the apply did not say why: say what we know */
					ld_errinfo_set(&e, rc, NULL, "%s", ld_strerror(rc));
				char why[sizeof(e.message)];
				snprintf(why, sizeof(why), "%s", e.message);
				snprintf(e.message, sizeof(e.message), "%.32s: %.200s",
					 codec_event_type_name(ev->body_case), why);
				ld_utf8_clean(e.message); /* %.200s may cut a character */
			}
		}
		codec_event_free(ev);
		if (rc)
			break;
	}
	if (rc == LD_E(NOT_FOUND))
		rc = 0;
	store_cursor_close(c);
	c = NULL;
	if (failed) {
		/* Keep everyone's progress before the bad event, then stop the
		 * projection that could not apply it. */
		for (unsigned i = 0; i < np; i++)
			if (part[i]->ops->discard)
				part[i]->ops->discard(part[i]->state);
		store_abort(pt);
		store_read_end(lt);
		if (failed > from && (rc = apply_chunk(r, head, failed)) != 0 && rc != 1)
			return rc;
		pthread_mutex_lock(&r->lock);
		bad->stopped = 1;
		snprintf(bad->error, sizeof(bad->error), "seq %llu: %s (%s)",
			 (unsigned long long)failed, e.message[0] ? e.message : ld_strerror(e.code),
			 ld_errname(e.code));
		pthread_mutex_unlock(&r->lock);
		log_error("projection %s: stopped: %s; the log and the other projections go on "
			  "('ledgerd --rebuild' rebuilds it)",
			  bad->ops->name, bad->error);
		return 1;
	}
	if (rc)
		goto out;
	int progress = 0;
	for (unsigned i = 0; i < np && !rc; i++) {
		if (last[i] == part[i]->checkpoint)
			continue;
		progress = 1;
		proj_ctx ctx = {.pt = pt, .lt = lt, .name = part[i]->ops->name,
				.state = part[i]->state};
		char ck[80];
		uint8_t val[8];
		cp_key(ck, sizeof(ck), part[i]->ops->name);
		ld_put_be64(val, last[i]);
		if (part[i]->ops->flush)
			rc = part[i]->ops->flush(&ctx);
		if (!rc)
			rc = store_put(pt, PDB_META, ck, strlen(ck), val, 8);
	}
	if (rc || !progress)
		goto out;
	rc = store_commit(pt);
	pt = NULL;
	if (rc == 0) {
		pthread_mutex_lock(&r->lock);
		for (unsigned i = 0; i < np; i++) {
			part[i]->applied += last[i] - part[i]->checkpoint;
			part[i]->checkpoint = last[i];
		}
		pthread_mutex_unlock(&r->lock);
		for (unsigned i = 0; i < np; i++)
			if (part[i]->ops->committed)
				part[i]->ops->committed(part[i]->state, last[i]);
	}
out:
	/* Committed (written out) or aborted: either way in-memory state is stale. */
	for (unsigned i = 0; i < np; i++)
		if (part[i]->ops->discard)
			part[i]->ops->discard(part[i]->state);
	store_cursor_close(c);
	store_abort(pt);
	store_read_end(lt);
	if (rc == STORE_MAP_FULL)
		rc = store_grow(r->ps, 0);
	return rc;
}

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

/* Calls back every waiter that is decided. */
static void settle_waiters(runner *r, int final)
{
	uint64_t now = (uint64_t)ld_mono_ms();
	waiter *done = NULL;
	pthread_mutex_lock(&r->lock);
	uint64_t cp = min_checkpoint_locked(r);
	int stopped = any_stopped_locked(r);
	for (waiter **pp = &r->waiters; *pp;) {
		waiter *wt = *pp;
		if (final || cp >= wt->min_seq || stopped || now >= wt->deadline_ms) {
			*pp = wt->next;
			wt->next = done;
			done = wt;
		} else {
			pp = &wt->next;
		}
	}
	int more = r->waiters != NULL;
	pthread_mutex_unlock(&r->lock);
	for (waiter *wt = done, *next; wt; wt = next) {
		next = wt->next;
		wt->fn(wt->arg, final ? -2 : cp >= wt->min_seq ? 1 : stopped ? -1 : 0);
		free(wt);
	}
	if (!final && more && !uv_is_active((uv_handle_t *)&r->tick))
		uv_timer_start(&r->tick, on_tick, WAIT_TICK_MS, WAIT_TICK_MS);
	if ((final || !more) && uv_is_active((uv_handle_t *)&r->tick))
		uv_timer_stop(&r->tick);
}

static void catch_up(runner *r)
{
	uint64_t head;
	writer_head(r->w, &head, NULL, NULL);
	for (;;) {
		pthread_mutex_lock(&r->lock);
		int stopping = r->stopping, behind = 0;
		for (unsigned i = 0; i < nprojections; i++)
			behind |= !r->st[i].stopped && r->st[i].checkpoint < head;
		pthread_mutex_unlock(&r->lock);
		if (stopping || !behind)
			break;
		int rc = apply_chunk(r, head, 0);
		if (rc < 0) {
			log_error("projections: %s; retrying at the next commit", ld_strerror(rc));
			return;
		}
		settle_waiters(r, 0);
	}
	settle_waiters(r, 0);
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */
/* ------------------------------------------------------------------ */

static void on_wake(uv_async_t *h)
{
	runner *r = h->data;
	pthread_mutex_lock(&r->lock);
	int stopping = r->stopping;
	pthread_mutex_unlock(&r->lock);
	if (stopping) {
		settle_waiters(r, 1);
		uv_close((uv_handle_t *)&r->wake, NULL);
		uv_close((uv_handle_t *)&r->tick, NULL);
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
		proj_ctx ctx = {.pt = pt, .lt = lt, .name = projections[i]->name,
				.state = r->st[i].state};
		if (!projections[i]->prepare)
			continue;
		if ((rc = projections[i]->prepare(&ctx, &reset)) == 0 && reset) {
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
	}
}

int runner_start(runner **out, const char *dir, store *log, writer *w, const proj_options *o,
		 ld_errinfo *e)
{
	runner *r = calloc(1, sizeof(*r));
	*out = NULL;
	if (!r)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	pthread_mutex_init(&r->lock, NULL);
	r->log = log;
	r->w = w;
	int rc = create_all(r, o, e);
	if (rc)
		goto fail;
	if ((rc = open_projections(r, dir, e)))
		goto fail;
	for (unsigned i = 0; i < nprojections; i++)
		log_info("projection %s: checkpoint %llu", projections[i]->name,
			 (unsigned long long)r->st[i].checkpoint);

	uv_loop_init(&r->loop);
	uv_async_init(&r->loop, &r->wake, on_wake);
	uv_timer_init(&r->loop, &r->tick);
	r->wake.data = r;
	r->tick.data = r;
	writer_on_commit(w, on_commit, r);
	if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to start the projection thread");
		goto fail;
	}
	r->started = 1;
	*out = r;
	return 0;
fail:
	store_close(r->ps);
	destroy_all(r);
	pthread_mutex_destroy(&r->lock);
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

int runner_wait(runner *r, uint64_t min_seq, uint32_t timeout_ms, runner_wait_fn fn, void *arg)
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
	int64_t lag_ms[8] = {0};
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
		pi->applied = p->applied;
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
