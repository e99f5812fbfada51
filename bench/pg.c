/*
 * pg.c — the peer a user would pick instead of ledgerd: PostgreSQL with an
 * append-only events table in the usual event-store shape, fed the same
 * events as bench/ingest.c's workloads by a C client over libpq.
 *
 *   pg --conninfo "host=127.0.0.1 port=P user=postgres dbname=postgres"
 *      --workload batch|concurrent|sequential|setup  [options]
 *
 * The table (created by --workload setup, and by every other workload if
 * missing):
 *
 *   events (position   bigserial PRIMARY KEY,       -- the global position
 *           event_id   bytea  NOT NULL UNIQUE,      -- the idempotency key
 *           stream     text   NOT NULL,             -- "member/<id>", "org/<id>"
 *           version    bigint NOT NULL,             -- 1-based position in the stream
 *           type       text   NOT NULL,             -- "member_joined", ...
 *           occurred_at bigint NOT NULL,            -- business time, µs
 *           recorded_at timestamptz NOT NULL DEFAULT now(),
 *           payload    bytea  NOT NULL,             -- the packed Event, as ledgerd stores it
 *           UNIQUE (stream, version))
 *
 * The events are bench.h's generator (the same seed, the same organisation
 * tree registered first, the same mix, the same split into client streams as
 * ingest.c); the stream name is ledgerd's (codec_event_stream) and the
 * version is counted by the client, which owns its streams (as ingest.c's
 * streams are private to their client): an event store's optimistic check,
 * enforced by the unique (stream, version) index. Every commit is durable:
 * the server runs with fsync and synchronous_commit on (checked at start).
 *
 * Workloads, as ingest.c's:
 *   batch       transactions of --batch events (1,000), --conns connections
 *               (4), each event an INSERT of a prepared statement, sent in
 *               libpq's pipeline mode (BEGIN, the inserts, COMMIT in one go).
 *   concurrent  --clients (16) threads, each its own connection, one event
 *               per transaction (an autocommit INSERT), back to back.
 *   sequential  one connection, one event per transaction, back to back.
 *
 * Output, as ingest.c's: one line per run, then
 *   RESULT workload=pg-NAME unit=events/s median=X min=X max=X key=value...
 * Every INSERT must succeed and the table must grow by exactly the events
 * sent. Exit status 0 if all held, 1 otherwise, 2 on bad usage.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "bench.h"

enum pg_workload { PW_BATCH, PW_CONCURRENT, PW_SEQUENTIAL, PW_SETUP };
static const char *const pw_names[] = {"batch", "concurrent", "sequential", "setup"};

typedef struct pg_opts {
	const char *conninfo;
	int wl;
	size_t events;
	size_t batch;
	unsigned clients, conns, runs;
	uint64_t seed;
	double max_seconds;
	const char *disk_dir; /* the server's data directory: its device's writes counted */
} pg_opts;

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS events ("
    " position bigserial PRIMARY KEY,"
    " event_id bytea NOT NULL UNIQUE,"
    " stream text NOT NULL,"
    " version bigint NOT NULL,"
    " type text NOT NULL,"
    " occurred_at bigint NOT NULL,"
    " recorded_at timestamptz NOT NULL DEFAULT now(),"
    " payload bytea NOT NULL,"
    " UNIQUE (stream, version))";

static const char *const insert_sql =
    "INSERT INTO events (event_id, stream, version, type, occurred_at, payload)"
    " VALUES ($1, $2, $3::bigint, $4, $5::bigint, $6)";

/* One event ready to insert: every parameter as libpq wants it. */
typedef struct row {
	uint8_t id[LD_EVENT_ID_LEN];
	char stream[LD_STREAM_MAX];
	char version[24], occurred[24];
	const char *type;
	uint8_t *payload;
	int payload_len;
} row;

/* One client's stream of a run. */
typedef struct client {
	const pg_opts *o;
	row *rows;
	size_t n;
	PGconn *conn;
	pthread_t th;
	uint64_t sent, ok, failed;
	int truncated;
	char first_error[256];
	int64_t deadline_ns;
} client;

static int stop_all;

static PGconn *connect_db(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pg: cannot connect (%s): %s", conninfo, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

static int exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "pg: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

static int prepare(PGconn *c)
{
	PGresult *r = PQprepare(c, "ins", insert_sql, 6, NULL);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "pg: prepare: %s", PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* The value of a one-row, one-column query; "" on error. */
static void query1(PGconn *c, const char *sql, char *out, size_t cap)
{
	PGresult *r = PQexec(c, sql);
	out[0] = '\0';
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
	else
		fprintf(stderr, "pg: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

static int64_t count_rows(PGconn *c)
{
	char v[32];
	query1(c, "SELECT count(*) FROM events", v, sizeof(v));
	return v[0] ? strtoll(v, NULL, 10) : -1;
}

static void params_of(const row *r, const char *vals[6], int lens[6], int fmts[6])
{
	vals[0] = (const char *)r->id, lens[0] = LD_EVENT_ID_LEN, fmts[0] = 1;
	vals[1] = r->stream, lens[1] = 0, fmts[1] = 0;
	vals[2] = r->version, lens[2] = 0, fmts[2] = 0;
	vals[3] = r->type, lens[3] = 0, fmts[3] = 0;
	vals[4] = r->occurred, lens[4] = 0, fmts[4] = 0;
	vals[5] = (const char *)r->payload, lens[5] = r->payload_len, fmts[5] = 1;
}

static void note_error(client *cl, const char *what)
{
	if (!cl->first_error[0])
		snprintf(cl->first_error, sizeof(cl->first_error), "%s", what);
}

/* Single-event transactions (autocommit INSERTs), back to back. */
static void run_single(client *cl)
{
	for (size_t i = 0; i < cl->n; i++) {
		if (cl->deadline_ns && mono_ns() > cl->deadline_ns) {
			cl->truncated = 1;
			break;
		}
		const char *vals[6];
		int lens[6], fmts[6];
		params_of(&cl->rows[i], vals, lens, fmts);
		PGresult *r = PQexecPrepared(cl->conn, "ins", 6, vals, lens, fmts, 0);
		cl->sent++;
		if (PQresultStatus(r) == PGRES_COMMAND_OK)
			cl->ok++;
		else {
			cl->failed++;
			note_error(cl, PQerrorMessage(cl->conn));
		}
		PQclear(r);
	}
}

/* Transactions of o->batch events, each sent whole in pipeline mode. */
static void run_batches(client *cl)
{
	size_t b = cl->o->batch;
	if (!PQenterPipelineMode(cl->conn)) {
		note_error(cl, PQerrorMessage(cl->conn));
		cl->failed += cl->n;
		return;
	}
	for (size_t i = 0; i < cl->n; i += b) {
		if (cl->deadline_ns && mono_ns() > cl->deadline_ns) {
			cl->truncated = 1;
			break;
		}
		size_t k = cl->n - i < b ? cl->n - i : b;
		int sent = PQsendQueryParams(cl->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
		for (size_t j = 0; j < k && sent; j++) {
			const char *vals[6];
			int lens[6], fmts[6];
			params_of(&cl->rows[i + j], vals, lens, fmts);
			sent = PQsendQueryPrepared(cl->conn, "ins", 6, vals, lens, fmts, 0);
		}
		sent = sent && PQsendQueryParams(cl->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) &&
		       PQpipelineSync(cl->conn);
		cl->sent += k;
		if (!sent) {
			note_error(cl, PQerrorMessage(cl->conn));
			cl->failed += k;
			break;
		}
		/* BEGIN, k inserts, COMMIT: each a result then NULL; then the sync. */
		size_t good = 0, results = 0;
		int committed = 0, synced = 0, nulls = 0;
		while (!synced) {
			PGresult *r = PQgetResult(cl->conn);
			if (!r) {
				if (PQstatus(cl->conn) != CONNECTION_OK) {
					note_error(cl, PQerrorMessage(cl->conn));
					break; /* the server went away */
				}
				/* The end of one query's results; two in a row means
				 * nothing more is coming before the sync: a stalled
				 * pipeline (it once spun here at 100% CPU with 500,000
				 * events a run), reported instead of waited on. */
				if (++nulls > 2) {
					note_error(cl, "the pipeline stalled before its sync");
					break;
				}
				continue;
			}
			nulls = 0;
			ExecStatusType st = PQresultStatus(r);
			if (st == PGRES_PIPELINE_SYNC)
				synced = 1;
			else if (st == PGRES_COMMAND_OK) {
				results++;
				if (results >= 2 && results <= k + 1)
					good++;
				if (results == k + 2)
					committed = 1;
			} else {
				results++;
				note_error(cl, PQresultErrorMessage(r));
			}
			PQclear(r);
		}
		if (committed && good == k)
			cl->ok += k;
		else
			cl->failed += k;
	}
	PQexitPipelineMode(cl->conn);
}

static pthread_barrier_t start_barrier; /* the clients start together */

static void *client_main(void *arg)
{
	client *cl = arg;
	pthread_barrier_wait(&start_barrier);
	if (cl->o->wl == PW_BATCH)
		run_batches(cl);
	else
		run_single(cl);
	return NULL;
}

/*
 * Per-stream versions, counted by the client: an open-addressing table of
 * names (FNV-1a, linear probing), the names in the run's arena. Not glibc's
 * hsearch: its hash keeps only the first few bytes of a key, and every
 * stream of a run shares a long prefix ("member/PB0-..."), so every name
 * collided and filling the table took minutes.
 */
typedef struct versions {
	struct slot {
		const char *name; /* NULL: empty */
		uint64_t hash, version;
	} *slots;
	size_t cap; /* a power of two, at least twice the names it holds */
	arena *a;
} versions;

static int versions_init(versions *v, arena *a, size_t names)
{
	v->cap = 1024;
	while (v->cap < 2 * names)
		v->cap *= 2;
	v->slots = calloc(v->cap, sizeof(*v->slots));
	v->a = a;
	return v->slots ? 0 : -1;
}

static void versions_free(versions *v)
{
	free(v->slots);
	v->slots = NULL;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

/* The next version of stream (1 for a new one), as text into out. */
static int version_of(versions *v, const char *stream, char *out, size_t cap)
{
	uint64_t h = fnv1a(stream);
	size_t i = h & (v->cap - 1);
	while (v->slots[i].name && (v->slots[i].hash != h || strcmp(v->slots[i].name, stream)))
		i = (i + 1) & (v->cap - 1);
	struct slot *sl = &v->slots[i];
	if (!sl->name) {
		size_t n = strlen(stream) + 1;
		char *name = arena_alloc(v->a, n);
		if (!name)
			return -1;
		memcpy(name, stream, n);
		sl->name = name;
		sl->hash = h;
	}
	sl->version++;
	snprintf(out, cap, "%" PRIu64, sl->version);
	return 0;
}

/* Fills rows from events (packed payload, stream, version, type). */
static int make_rows(arena *a, versions *h, Ledger__Event **evs, size_t n, row *rows)
{
	for (size_t i = 0; i < n; i++) {
		row *r = &rows[i];
		const Ledger__Event *ev = evs[i];
		memcpy(r->id, ev->event_id.data, LD_EVENT_ID_LEN);
		if (codec_event_stream(ev, r->stream) != 0)
			return -1;
		if (version_of(h, r->stream, r->version, sizeof(r->version)) != 0)
			return -1;
		snprintf(r->occurred, sizeof(r->occurred), "%" PRId64, ev->occurred_at);
		r->type = codec_event_type_name(ev->body_case);
		size_t len = codec_size(ev);
		r->payload = arena_alloc(a, len ? len : 1);
		if (!r->payload)
			return -1;
		codec_pack(ev, r->payload);
		r->payload_len = (int)len;
	}
	return 0;
}

/* Inserts the organisation tree in one transaction (not timed). */
static int register_tree(PGconn *c, arena *a, versions *h, org_tree *t)
{
	row rows[N_ORGS];
	if (make_rows(a, h, t->events, N_ORGS, rows) != 0)
		return -1;
	if (!exec_ok(c, "BEGIN"))
		return -1;
	for (size_t i = 0; i < N_ORGS; i++) {
		const char *vals[6];
		int lens[6], fmts[6];
		params_of(&rows[i], vals, lens, fmts);
		PGresult *r = PQexecPrepared(c, "ins", 6, vals, lens, fmts, 0);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			fprintf(stderr, "pg: registering the tree: %s", PQerrorMessage(c));
		PQclear(r);
		if (!ok) {
			exec_ok(c, "ROLLBACK");
			return -1;
		}
	}
	return exec_ok(c, "COMMIT") ? 0 : -1;
}

/* What a run cost the disk, per event committed; negative where unknown. */
typedef struct run_bytes {
	double disk; /* the data directory's device (disk_meter), a CHECKPOINT included */
	double wal;  /* WAL the server generated (pg_current_wal_lsn before and after) */
} run_bytes;

/* The server's WAL position in bytes; negative if it cannot be read. */
static double wal_lsn(PGconn *c)
{
	char buf[32];
	query1(c, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')", buf, sizeof(buf));
	return buf[0] ? strtod(buf, NULL) : -1;
}

static int one_run(const pg_opts *o, PGconn *admin, unsigned run, double *eps, run_bytes *rb,
                   int *all_ok)
{
	arena a = {0};
	org_tree tree;
	char ns[48];
	size_t mix[K_NKINDS] = {0};
	ld_errinfo e = {0};
	unsigned parts = o->wl == PW_BATCH ? o->conns : o->wl == PW_CONCURRENT ? o->clients : 1;
	versions h;
	int rc = -1;
	client *cls = calloc(parts, sizeof(*cls));
	if (!cls || versions_init(&h, &a, o->events + 4096) != 0) {
		free(cls);
		return -1;
	}
	int64_t base = count_rows(admin);
	/* The row count names the run, as the head does in ingest.c. */
	snprintf(ns, sizeof(ns), "P%c%" PRId64, "BCS"[o->wl], base);
	if (base < 0 || orgs_build(&tree, &a, ns) != 0 || register_tree(admin, &a, &h, &tree) != 0)
		goto out;
	for (unsigned p = 0; p < parts; p++) {
		client *cl = &cls[p];
		cl->o = o;
		cl->n = o->events / parts + (p < o->events % parts);
		Ledger__Event **evs = arena_alloc(&a, (cl->n ? cl->n : 1) * sizeof(*evs));
		cl->rows = arena_alloc(&a, (cl->n ? cl->n : 1) * sizeof(*cl->rows));
		if (!evs || !cl->rows)
			goto out;
		if (gen_stream_events(&a, &tree, ns, (uint64_t)base, o->seed, run, p, parts, cl->n,
				      evs, mix, &e) != 0) {
			fprintf(stderr, "pg: generating: %s\n", e.message);
			goto out;
		}
		if (make_rows(&a, &h, evs, cl->n, cl->rows) != 0)
			goto out;
		if (!(cl->conn = connect_db(o->conninfo)) || !prepare(cl->conn))
			goto out;
	}
	int64_t before = count_rows(admin);
	/* The disk's count from a checkpoint: every page earlier runs dirtied
	 * is on the disk before the clock starts, and the run's own are written
	 * by the CHECKPOINT after it (what the disk takes for these rows sooner
	 * or later; it also means the run's first change of each page logs the
	 * whole page, as after any checkpoint). */
	disk_meter dm;
	disk_open(&dm, o->disk_dir);
	double d0 = o->disk_dir && exec_ok(admin, "CHECKPOINT") ? disk_written(&dm) : -1;
	double w0 = wal_lsn(admin);
	pthread_barrier_init(&start_barrier, NULL, parts + 1);
	for (unsigned p = 0; p < parts; p++)
		pthread_create(&cls[p].th, NULL, client_main, &cls[p]);
	int64_t t0 = mono_ns();
	int64_t deadline = o->max_seconds > 0 ? t0 + (int64_t)(o->max_seconds * 1e9) : 0;
	for (unsigned p = 0; p < parts; p++)
		cls[p].deadline_ns = deadline;
	pthread_barrier_wait(&start_barrier);
	for (unsigned p = 0; p < parts; p++)
		pthread_join(cls[p].th, NULL);
	double secs = (double)(mono_ns() - t0) / 1e9;
	pthread_barrier_destroy(&start_barrier);
	uint64_t sent = 0, ok = 0, failed = 0;
	int truncated = 0;
	for (unsigned p = 0; p < parts; p++) {
		sent += cls[p].sent;
		ok += cls[p].ok;
		failed += cls[p].failed;
		truncated |= cls[p].truncated;
		if (cls[p].first_error[0])
			fprintf(stderr, "pg: client %u: first error: %s", p, cls[p].first_error);
	}
	int64_t after = count_rows(admin);
	int rows_ok = after - before == (int64_t)ok;
	double w1 = wal_lsn(admin);
	double d1 = d0 >= 0 && exec_ok(admin, "CHECKPOINT") ? disk_written(&dm) : -1;
	disk_close(&dm);
	rb->disk = d0 >= 0 && d1 >= 0 && ok ? (d1 - d0) / (double)ok : -1;
	rb->wal = w0 >= 0 && w1 >= 0 && ok ? (w1 - w0) / (double)ok : -1;
	*eps = secs > 0 ? (double)ok / secs : 0;
	if (failed || !rows_ok)
		*all_ok = 0;
	printf("run %u: %" PRIu64 " events sent, %" PRIu64 " committed, %" PRIu64
	       " failed in %.3f s = %.0f events/s%s; table grew by %" PRId64 "%s"
	       "; per event: disk took %.0f bytes (checkpoint included), WAL %.0f bytes\n",
	       run + 1, sent, ok, failed, secs, *eps, truncated ? " (cut at the time limit)" : "",
	       after - before, rows_ok ? "" : " (MISMATCH)", rb->disk, rb->wal);
	fflush(stdout);
	rc = truncated ? 1 : 0;
out:
	for (unsigned p = 0; p < parts; p++)
		if (cls[p].conn)
			PQfinish(cls[p].conn);
	free(cls);
	versions_free(&h);
	arena_release(&a);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: pg --conninfo STR --workload batch|concurrent|sequential|setup\n"
	        "          [--events N] [--batch N] [--clients N] [--conns N] [--runs N]\n"
	        "          [--seed S] [--max-seconds S] [--disk-dir PGDATA]\n"
	        "--disk-dir: report the bytes the data directory's block device took per\n"
	        "event (/proc/diskstats after a CHECKPOINT and a syncfs; every writer of the\n"
	        "device counts)\n");
}

int main(int argc, char **argv)
{
	pg_opts o = {.wl = -1, .batch = 1000, .clients = 16, .conns = 4, .runs = 5, .seed = 42};
	static const struct option longs[] = {
	    {"conninfo", required_argument, NULL, 'c'}, {"workload", required_argument, NULL, 'w'},
	    {"events", required_argument, NULL, 'n'},   {"batch", required_argument, NULL, 'b'},
	    {"clients", required_argument, NULL, 'k'},  {"conns", required_argument, NULL, 'C'},
	    {"runs", required_argument, NULL, 'r'},     {"seed", required_argument, NULL, 's'},
	    {"max-seconds", required_argument, NULL, 'm'}, {"help", no_argument, NULL, 'h'},
	    {"disk-dir", required_argument, NULL, 'D'},
	    {NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (ch) {
		case 'c': o.conninfo = optarg; break;
		case 'w':
			for (int i = 0; i < 4; i++)
				if (!strcmp(optarg, pw_names[i]))
					o.wl = i;
			break;
		case 'n': o.events = strtoull(optarg, NULL, 10); break;
		case 'b': o.batch = strtoull(optarg, NULL, 10); break;
		case 'k': o.clients = (unsigned)atoi(optarg); break;
		case 'C': o.conns = (unsigned)atoi(optarg); break;
		case 'r': o.runs = (unsigned)atoi(optarg); break;
		case 's': o.seed = strtoull(optarg, NULL, 10); break;
		case 'm': o.max_seconds = atof(optarg); break;
		case 'D': o.disk_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.conninfo || o.wl < 0 || !o.batch || !o.clients || !o.conns || !o.runs) {
		usage(stderr);
		return 2;
	}
	if (!o.events)
		o.events = o.wl == PW_BATCH ? 100000 : o.wl == PW_CONCURRENT ? 20000 : 2000;
	PGconn *admin = connect_db(o.conninfo);
	if (!admin)
		return 1;
	if (!exec_ok(admin, "SET client_min_messages = warning") || !exec_ok(admin, schema) ||
	    !prepare(admin))
		return 1;
	char fs[16], sc[16], ver[64], wsm[32];
	query1(admin, "SHOW fsync", fs, sizeof(fs));
	query1(admin, "SHOW synchronous_commit", sc, sizeof(sc));
	query1(admin, "SHOW server_version", ver, sizeof(ver));
	query1(admin, "SHOW wal_sync_method", wsm, sizeof(wsm));
	if (strcmp(fs, "on") || strcmp(sc, "on")) {
		fprintf(stderr, "pg: the server must be durable: fsync=%s synchronous_commit=%s\n", fs,
		        sc);
		return 1;
	}
	if (o.wl == PW_SETUP) {
		printf("pg: PostgreSQL %s, fsync %s, synchronous_commit %s; table events ready\n", ver,
		       fs, sc);
		PQfinish(admin);
		return 0;
	}
	unsigned parts = o.wl == PW_BATCH ? o.conns : o.wl == PW_CONCURRENT ? o.clients : 1;
	printf("pg %s: PostgreSQL %s (fsync %s, synchronous_commit %s, wal_sync_method %s), %zu "
	       "events/run, %u %s%s, %u runs, seed %" PRIu64 "\n",
	       pw_names[o.wl], ver, fs, sc, wsm, o.events, parts,
	       o.wl == PW_BATCH ? "connections" : "clients",
	       o.wl == PW_BATCH ? ", pipelined transactions of --batch events" : ", one event per commit",
	       o.runs, o.seed);
	fflush(stdout);
	double *v = calloc(o.runs, sizeof(double));
	double *vd = calloc(o.runs, sizeof(double)), *vw = calloc(o.runs, sizeof(double));
	int all_ok = 1, truncated = 0;
	unsigned done = 0;
	for (unsigned r = 0; r < o.runs && !stop_all; r++) {
		run_bytes rb = {-1, -1};
		int rc = one_run(&o, admin, r, &v[done], &rb, &all_ok);
		vd[done] = rb.disk;
		vw[done] = rb.wal;
		if (rc < 0) {
			all_ok = 0;
			break;
		}
		truncated += rc;
		done++;
	}
	if (done) {
		stats s = stats_of(v, done), sd = stats_of(vd, done), sw = stats_of(vw, done);
		printf("RESULT workload=pg-%s unit=events/s median=%.0f min=%.0f max=%.0f runs=%u "
		       "events=%zu truncated=%d ok=%d disk_bytes=%.0f wal_bytes=%.0f\n",
		       pw_names[o.wl], s.median, s.min, s.max, done, o.events, truncated, all_ok,
		       sd.median, sw.median);
	}
	free(v);
	free(vd);
	free(vw);
	PQfinish(admin);
	return all_ok && done ? 0 : 1;
}
