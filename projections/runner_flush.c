/* runner_flush.c — the runner's flushes: made on the loop thread, written
 * and committed by the flusher thread while applying goes on, reaped on the
 * loop thread; and a failed projection taken back to its last flush. See
 * runner_int.h. */
#include "runner_int.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "behind.h"
#include "clock.h"
#include "log.h"

/* ------------------------------------------------------------------ */
/* Flushing                                                            */
/* ------------------------------------------------------------------ */

size_t rn_dirty_bytes(runner *r)
{
	size_t n = 0;
	for (unsigned i = 0; i < nprojections; i++)
		n += kv_dirty_bytes(r->st[i].kv);
	return n;
}

/* Whether the applied state is too much to keep unflushed any longer. */
int rn_flush_due(runner *r)
{
	return r->unflushed >= r->flush_events || rn_dirty_bytes(r) >= r->memory / 2;
}

/* Projections that failed: their state goes back to their last flush, to
 * be applied again up to the seq before the one that failed; one that is
 * there already stops now. A flush in flight is waited for first: it may
 * be the one that takes a projection there, and a rewind drops what it
 * has not committed. */
void rn_settle_failures(runner *r, int flushed)
{
	int any = 0;
	for (unsigned i = 0; i < nprojections; i++)
		any |= r->st[i].stop_at && !r->st[i].stopped;
	if (!any)
		return;
	rn_flush_wait(r);
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
			rn_cp_key(ck, sizeof(ck), j->part[i]->ops->name);
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

void *rn_flusher_main(void *arg)
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
void rn_flush_reap(runner *r)
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
	rn_settle_failures(r, 1);
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < nprojections; i++)
		r->st[i].memory = kv_bytes(r->st[i].kv);
	pthread_mutex_unlock(&r->lock);
	rn_settle_waiters(r, 0); /* those waiting for a flushed seq */
}

/* Waits for the job in flight, and reaps it. */
void rn_flush_wait(runner *r)
{
	if (!r->inflight)
		return;
	pthread_mutex_lock(&r->fl_mu);
	while (!r->inflight->done)
		pthread_cond_wait(&r->fl_cv, &r->fl_mu);
	pthread_mutex_unlock(&r->fl_mu);
	rn_flush_reap(r);
}

/*
 * Starts one flush (above): waits for the one in flight first. On the loop
 * thread, with no batch being applied. 0, or an error preparing it (the
 * state stays dirty and is flushed again later).
 */
int rn_flush_start(runner *r)
{
	rn_flush_wait(r);
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
		rn_trim(r);
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
		rn_settle_failures(r, 1);
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
int rn_flush_all(runner *r)
{
	int rc = rn_flush_start(r);
	rn_flush_wait(r);
	return rc;
}
