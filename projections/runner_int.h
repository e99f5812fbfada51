/*
 * runner_int.h — what projections/runner.c (the loop: catch-up and
 * scheduling, read-your-writes waiters, the marks, start and stop, the
 * public calls), runner_apply.c (decoding the log and applying it, on the
 * loop thread or on a thread per projection), runner_flush.c (flushing off
 * the loop, and taking a failed projection back to its last flush) and
 * runner_trim.c (giving memory back) share. Nothing else includes it:
 * projection.h is the contract. The functions the files call on each
 * other are named rn_ (global now, so apart from every library's names).
 */
#ifndef LD_RUNNER_INT_H
#define LD_RUNNER_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "codec.h"
#include "kv.h"
#include "projection.h"
#include "store.h"
#include "writer.h"

#define MAX_PROJECTIONS 8
/* The most events applied by the writer and not stored yet that applying
 * reads from its memory (more: the store is far behind; what it holds). A
 * correction's fold of a stream whose newest event is stored walks them
 * all (writer_unstored_begin's view): this bounds that walk. */
#define RUNNER_UNSTORED_MAX 16384
/* The parts rn_trim_step drops (runner_trim.c, "GIVING MEMORY BACK"): slots
 * in proportion to the events just applied, within bounds. */
#define TRIM_SLOTS_PER_EVENT 16
#define TRIM_SLOTS_MIN 1024
#define TRIM_SLOTS_MAX 16384 /* at most 0.65 ms of CPU (a 4M-event fill) */

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

/* ---- projections/runner.c ---- */

/* The key of a projection's checkpoint in PDB_META, "cp/<name>". */
void rn_cp_key(char *key, size_t n, const char *name);
/* The seq every projection has applied in memory, for answering from it
 * (0: none). The loop thread's. */
uint64_t rn_servable(runner *r);
/* Calls back every waiter that is decided (final: every one, the runner
 * stops). On the loop thread. */
void rn_settle_waiters(runner *r, int final);

/* ---- projections/runner_apply.c ---- */

/* The first seq some projection needs (UINT64_MAX: none). */
uint64_t rn_first_needed(runner *r);
/* Whether runner_stop was called (it takes the lock). */
int rn_stopping(runner *r);
/* A projection failed and its state has not been taken back yet. */
int rn_any_failed(runner *r);
/* Applies [from, to] (a few thousand events of it at most) on the loop
 * thread, each event decoded once for every projection that needs it. */
void rn_apply_serial(runner *r, uint64_t from, uint64_t to);
/* Applies everything up to head on a thread per projection; returns when
 * done, when the runner stops, or when a projection failed. */
void rn_apply_parallel(runner *r, uint64_t head);

/* ---- projections/runner_flush.c ---- */

/* The projections' dirty bytes in all. */
size_t rn_dirty_bytes(runner *r);
/* Whether the applied state is too much to keep unflushed any longer. */
int rn_flush_due(runner *r);
/* Failed projections: one back at its last flush stops, the others go
 * back to it (not when flushed: called at a flush). */
void rn_settle_failures(runner *r, int flushed);
/* The flusher's thread (arg: the runner). */
void *rn_flusher_main(void *arg);
/* Reaps the job in flight if the flusher is done with it. */
void rn_flush_reap(runner *r);
/* Waits for the job in flight, and reaps it. */
void rn_flush_wait(runner *r);
/* Hands a flush to the flusher (after the one in flight): 0 or an error. */
int rn_flush_start(runner *r);
/* A flush, written and reaped before it returns. */
int rn_flush_all(runner *r);

/* ---- projections/runner_trim.c ---- */

/* After a turn of applying (and at a flush): clean entries dropped, up to
 * `slots` slots looked at, while past the soft bound. */
void rn_trim_step(runner *r, size_t slots);
/* At a flush: a part, or past the budget every clean entry and cache. */
void rn_trim(runner *r);

#endif
