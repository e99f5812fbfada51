/*
 * projection.h — derived views of the log, and the runner that keeps them.
 *
 * WHERE PROJECTIONS LIVE. In their own LMDB environment, DATA/projections/,
 * not in the log's:
 *  - LMDB has one write transaction per environment; in the log's, every
 *    projection commit would stall the ingest writer;
 *  - a projection is thrown away by deleting that directory (ledgerd
 *    --rebuild), which cannot touch the log;
 *  - its commits are not synced (MDB_NOSYNC): they are derived, and each
 *    commit holds a projection's state together with its checkpoint, so a
 *    crash of the process loses nothing (the kernel writes the pages out).
 *    A crash of the machine could tear them. The runner keeps the kernel's
 *    boot id and a clean-stop mark in the log's meta (synced; never in this
 *    environment, which would be torn with them) and rebuilds the
 *    projections from the log when the machine restarted without a clean
 *    stop, when nothing records how they were left, or when LMDB cannot read
 *    them. Appends thus pay for one synced commit, the log's, not two.
 *
 * STATE IN MEMORY, FLUSHED. A projection applies events to its state in
 * memory (proj_get/proj_put/proj_del: projections/kv.h, a write-back table
 * of its keys over their flushed copy, plus whatever decoded caches the
 * projection keeps itself), never to LMDB. The runner FLUSHES every
 * projection together: each one's caches into its table (ops->flush), then
 * every dirty key, sorted, and each projection's checkpoint, in ONE write
 * transaction, so a crash never applies an event twice or skips one, and
 * LMDB sees one put per key per flush however many events changed it. The
 * loop thread only moves the caches and hands the dirty keys out (kv.h,
 * kv_detach: not copied; they do not change until written); a flusher thread writes and commits them while the loop
 * applies on (runner_flush.c, "FLUSHING OFF THE LOOP"). A flush happens
 *  - PROJ_FLUSH_MS after the first event it would hold was applied (the
 *    freshness of queries that do not ask for a seq). A flush costs about
 *    as much for 50 events as for 200 (a write of every LMDB page its keys
 *    fall on, and the projections moving their caches): 50 ms rather than
 *    5 ms cut the runner's and the flusher's CPU per event from 25 to 16
 *    us with 16 clients, from 90 to 37 with one (read-your-writes never
 *    waits for a flush);
 *  - but no sooner than PROJ_FLUSH_CALM times the last flush's write after
 *    that write ended (proj_flush_at), and at most PROJ_FLUSH_MAX_MS
 *    (proj_options.flush_max_ms) after the first event it would hold. A flush of a few hundred events writes
 *    in a few ms, so this changes nothing below some 10,000 events/s. Under
 *    a heavy stream each write takes tens to hundreds of ms and rewrites
 *    pages that the next would rewrite again: the flusher then works about
 *    1/9 of the time, the flushed state (what plain queries read) is up to
 *    about three seconds behind, and the flusher's CPU per event falls by a
 *    third (by half again on a 700,000-event log, where a write had come
 *    to take a quarter of the 1 s bound this once was);
 *  - after PROJ_FLUSH_EVENTS events, or when the dirty state passes half
 *    of the memory budget (proj_options.memory), and when the runner stops;
 *  - far behind (a rebuild, a parallel catch-up), every
 *    PROJ_BULK_FLUSH_EVENTS (proj_options.bulk_flush_events) or at half
 *    the memory budget: every flush
 *    after the first puts keys among the flushed ones instead of
 *    appending them after the last, so fewer flushes make a faster
 *    rebuild (one with many keys among a database's rewrites it whole,
 *    its pages full: kv.c, "FULL PAGES").
 * The pause after a flush is for a stream: when nothing was committed since
 * the last flush was handed out (a rebuild's end), the next is made
 * PROJ_FLUSH_MS after its first event, or when the flush in flight has been
 * written, if that is later (a rebuild's last events, too few to be due,
 * waited up to PROJ_FLUSH_MAX_MS after the flush made in its midst).
 * Flushing is a question of when, never of what: the state after a flush is
 * a function of the log up to its checkpoint, whatever the timing. Memory:
 * past three quarters of the budget, clean state is dropped a part at a
 * time, after the runner's turns of applying and at each flush, until half
 * is held; past the whole budget at a flush, the clean part of every table
 * and cache at once (runner_trim.c, "GIVING MEMORY BACK"). What is dropped is
 * read back from LMDB when needed again.
 *
 * HOW QUERIES READ. Two ways, both consistent at one seq that the answer
 * states (as_of_seq):
 *  - a query that asks for no seq, or for one already flushed, runs on
 *    NNG's threads and reads the flushed state in one LMDB read transaction,
 *    whose checkpoints say the seq it reflects: PROJ_FLUSH_MS (and the
 *    flush's write) behind what is applied, up to PROJ_FLUSH_MAX_MS under a
 *    heavy stream.
 *    No lock between it and the applying thread (LMDB's MVCC).
 *  - a query that waits for a seq not yet flushed (read-your-writes:
 *    consistency.min_seq) is answered ON THE LOOP THREAD, between two
 *    applies, as soon as every projection has applied that seq in memory:
 *    it reads the tables (kv_read: each projection's changed keys over the
 *    flushed state), never waiting for a flush. Nothing is applied while
 *    it reads, so it needs no lock and sees exactly the seq applied. The
 *    price is that applying waits for those queries: they are answered in
 *    slices of QUERY_SLICE_MS at most (the rest after the next apply), and
 *    only queries of a small bounded cost run there (a member, one
 *    organisation's coverage, a transfer list within its limit). One whose
 *    cost has no small bound (projection_query.heavy: a subtree's
 *    coverage, a plan's report or series) waits for the flush that holds
 *    its seq instead (made at once for it) and reads LMDB on NNG's
 *    threads.
 * A reader/writer lock over the tables would let such queries run on NNG's
 * threads, but every apply would take it (millions a second in a rebuild),
 * and the caches a projection keeps outside its table would need it too.
 *
 * THE RUNNER. One thread runs a libuv loop. The writer's commit hook wakes it
 * with uv_async_send (coalescing: many commits, one wake-up), and so does a
 * query that waits for a seq; it reads the log after the projections'
 * position, decodes each event once and applies it to every projection
 * that has not applied it. The log it reads is what the store holds and,
 * past it, what a replicated writer applied and has not stored yet (up to
 * RUNNER_UNSTORED_MAX events: writer_unstored_begin), so read-your-writes
 * does not wait for the log's LMDB commit and its device flush: raft's log
 * holds those entries, committed, and gives them to the store again after
 * a crash, so a checkpoint flushed past the stored log is never taken back.
 * When far behind (a
 * rebuild, a restart after a long stop: PROJ_PARALLEL_MIN events or more),
 * it decodes batches on its own thread and hands each batch to one thread
 * per projection, which apply it in parallel; a flush waits until every
 * projection has applied the same batches. A projection whose apply fails
 * stops with a logged error naming the seq, keeping everything before it
 * (its state is thrown back to its last flush and re-applied up to the
 * seq before); the log and the other projections go on.
 *
 * A PROJECTION is a table of operations (projection_ops); adding one is
 * adding a module and a line in projections.c's table. The module answers
 * its own queries too (projection_query, below): the server finds them
 * through that table and needs no edit. Everything a
 * projection writes must be a function of the log up to the event it
 * applies (never of the clock or of later events), so a rebuild from scratch
 * gives the same state as incremental application.
 *
 * INSTANCES. A projection keeps nothing in file-level variables: what it
 * holds in memory (its caches, its inputs such as the plans) is its state, made by its `create` when a runner starts and
 * freed by its `destroy` with the runner, and every operation gets it. So a
 * process can run several runners, each on its own data directory, and each
 * projection of each runner has its own state (tests/test_projections.c
 * runs two).
 */
#ifndef LD_PROJECTION_H
#define LD_PROJECTION_H

#include <stdint.h>

#include "arena.h"
#include "codec.h"
#include "kv.h"
#include "store.h"
#include "writer.h"

/* The projection environment's databases. The runner's own come first;
 * each projection names its own in its ops (`dbs`), and proj_db gives their
 * handles, so adding a projection edits nothing shared. */
enum {
	PDB_META,  /* "cp/<name>" → checkpoint seq (8 BE); a projection's keys */
	PDB_FIXES, /* name, 0, target seq (8 BE) → kind (1), correcting seq (8 BE) */
	PDB_RUNNER_COUNT
};

/* What the caller of runner_start gives the projections; each reads its
 * own part when it makes its state. */
typedef struct proj_options {
	const char *plans_dir; /* progress: the plan files (NULL: no plans) */
	int plans_missing_ok;  /* ... a missing directory is no plans */
	size_t memory;         /* bytes of state kept in memory by all projections
				* (0: PROJ_MEMORY_DEFAULT) */
	uint64_t flush_ms;     /* 0: PROJ_FLUSH_MS */
	uint64_t flush_events; /* 0: PROJ_FLUSH_EVENTS */
	uint64_t bulk_flush_events; /* far behind (0: PROJ_BULK_FLUSH_EVENTS) */
	uint64_t flush_max_ms; /* the longest a flush waits (0: PROJ_FLUSH_MAX_MS) */
	size_t sort_ahead_keys; /* a flush with this many keys past its first
				 * projection's sorts them on a second thread
				 * (0: PROJ_SORT_AHEAD_KEYS) */
} proj_options;

/* Flushing (above) and the memory budget. */
#define PROJ_FLUSH_MS 50
#define PROJ_FLUSH_CALM 8       /* the pause after a flush, in its write's times */
#define PROJ_FLUSH_MAX_MS 3000  /* ... but a flush never waits longer than this */
#define PROJ_FLUSH_EVENTS (1 << 18)
#define PROJ_BULK_FLUSH_EVENTS (1 << 20)
#define PROJ_SORT_AHEAD_KEYS (64 * 1024)
#define PROJ_MEMORY_DEFAULT ((size_t)256 << 20)
/* When the next flush is due, on the monotonic clock in ms: flush_ms after
 * first (when the first event it would hold was applied), and no sooner
 * than PROJ_FLUSH_CALM times took (the last flush's write) after ended (when
 * that write ended), but at most max_ms (or flush_ms, if longer) after
 * first. */
uint64_t proj_flush_at(uint64_t first, uint64_t flush_ms, uint64_t max_ms, uint64_t ended,
		       uint64_t took);

/* Behind by this many events or more: applied in parallel. */
#define PROJ_PARALLEL_MIN 8192

/* What an apply (and a flush) sees. */
typedef struct proj_ctx {
	proj_kv *kv;    /* the projection's state in memory (kv.h) */
	store_txn *lt;  /* read transaction on the log, at or after ev->seq */
	const char *name;
	void *state;    /* the projection's own (create), in this runner */
} proj_ctx;

/* The projection's state, as applied so far: what an apply reads and
 * writes (kv_get, kv_put, kv_del on ctx's table). A value got is valid
 * until the next put or delete. */
static inline int proj_get(proj_ctx *c, unsigned db, const void *key, size_t klen, store_val *v)
{
	return kv_get(c->kv, db, key, klen, v);
}
static inline int proj_put(proj_ctx *c, unsigned db, const void *key, size_t klen,
			   const void *val, size_t vlen)
{
	return kv_put(c->kv, db, key, klen, val, vlen);
}
static inline int proj_del(proj_ctx *c, unsigned db, const void *key, size_t klen)
{
	return kv_del(c->kv, db, key, klen);
}

struct projection_query;

typedef struct projection_ops {
	const char *name;
	/* Its databases in the projection environment, by name (unique in the
	 * environment), in the order of the projection's own numbering: handle
	 * of its i-th is proj_db(ops, i). */
	const char *const *dbs;
	unsigned ndbs;
	/* Which of them (bit i: its i-th) hold a record written once and read
	 * back only to undo it (a correction): kept in memory only until a
	 * flush has committed it (kv_set_cold). */
	uint32_t cold;
	/* The requests it answers (projection_query, below), ending with a
	 * zero command; NULL: none. */
	const struct projection_query *queries;
	/* Optional: makes the projection's state for one runner into *state
	 * (which may stay NULL), from o, before anything else; 0, or an error
	 * with e filled, and the runner does not start. destroy frees it (also
	 * NULL) when the runner is freed. */
	int (*create)(void **state, const proj_options *o, ld_errinfo *e);
	void (*destroy)(void *state);
	/* Applies one event (its seq is ev->seq) to ctx's state, through
	 * proj_get/proj_put/proj_del and its own caches. 0, or a negative
	 * code with e filled: the projection stops there. Runs on one thread
	 * at a time, not always the same one (a parallel rebuild). */
	int (*apply)(proj_ctx *ctx, const Ledger__Event *ev, ld_errinfo *e);
	/* Optional: a hint, some events before ev is applied, of the keys its
	 * apply will look up first (kv_prefetch at the stage given: 0, then 1
	 * a few events later), so that the lookup finds them in the cache.
	 * Changes nothing; called by the applying thread. */
	void (*prefetch)(proj_kv *kv, const Ledger__Event *ev, int stage);
	/* Optional: a projection that keeps state in caches of its own moves
	 * what changed in them since its last call into its table (proj_put)
	 * before each flush. It is called again when a flush's transaction
	 * failed and is tried again, so it must not move a change twice. The
	 * caches may stay, clean. */
	int (*flush)(proj_ctx *ctx);
	/* Optional: drops every cache of its own, clean or not: after a
	 * failed apply (its table goes back to the last flush too), or to give
	 * memory back right after a flush. */
	void (*discard)(void *state);
	/* The layout of what it stores (0: not kept). At start, a projection
	 * whose files were written under another layout (or none: before it
	 * kept one) is cleared and rebuilt from the log, so that what it holds
	 * is what --rebuild makes; a bump with each change of its stored
	 * bytes. Kept in PDB_META as "layout/<name>". */
	unsigned layout;
	/* Optional: at start, in the write transaction wt on the projection
	 * environment, before checkpoints are read. Setting *reset drops the
	 * projection's checkpoint: it has cleared its state (e.g. its inputs
	 * besides the log changed) and is rebuilt from the start of the log. */
	int (*prepare)(proj_ctx *ctx, store_txn *wt, int *reset);
	/* Optional: a flush begins (right after its ops->flush): what its
	 * caches changed is in the table and goes into this flush, which is
	 * written while applying goes on; what `committed` is to report of it
	 * is to be noted now. */
	void (*flushing)(void *state);
	/* Optional: after a flush's transaction committed, on the runner's
	 * thread; checkpoint = the projection's new one: what was noted at
	 * `flushing` (of this flush, and of any before it that failed). */
	void (*committed)(void *state, uint64_t checkpoint);
} projection_ops;

/* The projections, in the order they are run. */
extern const projection_ops *const projections[];
extern const unsigned nprojections;

/* The handle of database i (in ops->dbs) of projection ops in any
 * transaction on the projection environment. */
unsigned proj_db(const projection_ops *ops, unsigned i);

/* Every database of the environment in handle order, the runner's first
 * (for the runner, and for tools and tests that open it): the count, at most
 * STORE_MAX_DBS. */
unsigned proj_env_dbs(const char *names[STORE_MAX_DBS]);

/* Corrections as this projection has seen them (PDB_FIXES, keyed by the
 * projection's name, so each sees only those up to its own checkpoint):
 * kind 0 = none, 1 = voided, 2 = amended. proj_fix_record notes a void or
 * amendment event (any other event: nothing), setting *target (0 if none). */
enum { PFIX_VOID = 1, PFIX_AMEND = 2 };
int proj_fix_get(proj_ctx *c, uint64_t target, int *kind, uint64_t *by);
int proj_fix_record(proj_ctx *c, const Ledger__Event *ev, uint64_t *target);

/* Empties every database of projection ops and forgets the corrections it
 * has seen, in write transaction t on the projection environment: what a
 * prepare does before asking for a rebuild (*reset). */
int proj_clear(store_txn *t, const projection_ops *ops);

/* Event seq as this projection counts it: out->ev is NULL when it is voided
 * or is itself a correction; an amended event has its corrected body and
 * time in the original's place. Free with proj_eff_free. */
typedef struct proj_eff {
	const Ledger__Event *ev;
	Ledger__Event *orig, *amend;
	Ledger__Event corrected;
} proj_eff;
int proj_effective(proj_ctx *c, uint64_t seq, proj_eff *out);
void proj_eff_free(proj_eff *e);

/*
 * The events of a stream as they count at seq `upto` (exclusive), with the
 * corrections the projection has seen: voided ones skipped, amended ones
 * with their corrected body. Calls fn for each; stops at the first non-zero
 * return. Correction events themselves are not passed.
 */
typedef int (*proj_stream_fn)(void *arg, const Ledger__Event *ev);
int proj_fold_stream(proj_ctx *c, const char *stream, uint64_t upto, proj_stream_fn fn, void *arg);

/* ------------------------------------------------------------------ */
/* Queries                                                             */
/* ------------------------------------------------------------------ */

/*
 * A QUERY is answered by the module that owns the state it reads: the
 * request case it answers, its argument checks and limits, and the answer.
 * The server (server/query.c) does only what every query shares: the
 * role check, the wait for the caller's consistency.min_seq (any request
 * message with a `consistency` field: RUNNER_WAIT_*, below), one read
 * transaction, the answer's as_of_seq, and packing.
 */
typedef struct proj_query_ctx {
	const kv_read *rd;     /* the projections' state (kv.h): flushed, or as
				* applied in memory */
	store_txn *t;          /* a PQ_READS_LOG query's read transaction on the
				* log */
	struct keystore *keys; /* opens sealed personal data (core/pii.h); NULL:
				* it reads as forgotten */
	const struct role *reader; /* who asks: personal data is opened only for
				    * a role that may see it (core/roles.h) */
	const char *feed_url;  /* where the live feed is published; NULL: none */
	int64_t now_us;        /* when the request is answered (defaults that
				* depend on the time: this month, status now) */
	void *state;           /* the answering projection's state in this
				* runner (runner_state); NULL for a log view */
	ld_arena *a;           /* everything of the answer is allocated here */
	ld_errinfo *e;         /* why it failed, naming the request's field */
} proj_query_ctx;

enum {
	PQ_READS_LOG = 1, /* reads the log, which has every committed seq: no wait;
			   * as_of_seq is the log head taken before the read */
	PQ_NO_STATE = 2,  /* reads no stored state (definitions): no transaction,
			   * no wait, no as_of_seq */
};

typedef struct projection_query {
	int command; /* the Request.command case (LEDGER__REQUEST__COMMAND_*) */
	int flags;   /* PQ_* */
	/* Checks args (the request's message for that case) and fills resp:
	 * result_case and its member, allocated in q->a. 0, or a negative
	 * code with q->e filled (a NOT_FOUND names what was not found). */
	int (*run)(const proj_query_ctx *q, const ProtobufCMessage *args, Ledger__Response *resp);
	/* Optional: frees what run left outside the arena, once the answer
	 * is packed (also after a failure). */
	void (*release)(Ledger__Response *resp);
	/* Optional: whether this request's cost has no small bound (a walk of
	 * a subtree, a report over a plan): waiting for a seq, it is answered
	 * from the flushed state once a flush holds it, never on the runner's
	 * thread, where it would hold up applying. */
	int (*heavy)(const ProtobufCMessage *args);
} projection_query;

/* The query that answers a request case (a projection's, or a view read
 * from the log: history), or NULL; *owner (may be NULL) is set to the
 * projection it belongs to (NULL for a log view). */
const projection_query *projection_query_find(int command, const projection_ops **owner);

/* Query helpers: an identifier argument that must be given (0, or
 * MISSING_FIELD / INVALID_VALUE naming `field`); the month of a time as
 * YYYYMM (UTC). */
int proj_required_id(const char *s, const char *field, const char *what, ld_errinfo *e);
uint32_t proj_month_of(int64_t us);

/* ------------------------------------------------------------------ */
/* The runner                                                          */
/* ------------------------------------------------------------------ */

typedef struct runner runner;

/* Makes every projection's state (from o; NULL: the defaults, no plans),
 * opens DATA/projections (dir) and starts the loop thread, which catches up
 * with the log at once. w's commit hook is set to wake it. */
int runner_start(runner **out, const char *dir, store *log, writer *w, const proj_options *o,
		 ld_errinfo *e);
/* Stops the loop after the batch in flight, flushes what was applied, and
 * answers every waiter with "shutting down"; queries keep working until
 * runner_free. */
void runner_stop(runner *r);
void runner_free(runner *r);

/* The projection environment, for queries (read transactions). */
store *runner_store(runner *r);

/* The state of projection ops in runner r (NULL if it keeps none); valid
 * until runner_free. */
void *runner_state(runner *r, const projection_ops *ops);

/* The lowest checkpoint (the last flush) of the projections a query needs
 * (all of them). */
uint64_t runner_checkpoint(runner *r);
/* The same, as seen by read transaction t on the projection environment:
 * what an answer read in t reflects (its as_of_seq). */
uint64_t runner_snapshot_seq(store_txn *t);

/* How long a query may wait for the projections to reach its min_seq
 * (consistency.timeout_ms): by default, and at most. */
#define RUNNER_WAIT_DEFAULT_MS 1000
#define RUNNER_WAIT_MAX_MS     10000

/*
 * Calls fn(arg, ok, rd, as_of) on the runner's thread once every projection
 * has applied min_seq (from_memory), or flushed it (!from_memory: a flush is
 * made at once for it): ok = 1, and the query reads rd NOW, during the call
 * (the state in memory, at seq as_of), or, with rd NULL, the flushed state
 * later (it has min_seq). Otherwise ok says: timeout_ms passed (0), a
 * projection stopped (-1), the runner stops (-2). If that is decided
 * already (min_seq is flushed: 1), returns it at once (1, -1, -2) without
 * calling fn; otherwise returns RUNNER_WAITING and fn will be called
 * exactly once.
 */
#define RUNNER_WAITING 2
typedef void (*runner_wait_fn)(void *arg, int ok, const kv_read *rd, uint64_t as_of);
int runner_wait(runner *r, uint64_t min_seq, uint32_t timeout_ms, int from_memory,
		runner_wait_fn fn, void *arg);

/* Calls fn(arg, ok, rd, as_of) once, on the runner's thread at its next
 * turn (between two batches): ok 1 with the state in memory at seq as_of
 * (everything applied, flushed or not; a projection that stopped at the
 * seq it stopped), or rd NULL where it could not be read there (a storage
 * error: the flushed state is read instead); ok -2 the runner stops.
 * Returns RUNNER_WAITING, or -2 at once without calling fn. For a reader
 * that wants the newest state rather than a given seq: the progress feed. */
int runner_read(runner *r, runner_wait_fn fn, void *arg);

/* Fills st (allocating its entries; free with runner_status_free). */
int runner_status(runner *r, Ledger__ProjectionStatus *st);
void runner_status_free(Ledger__ProjectionStatus *st);

#endif
