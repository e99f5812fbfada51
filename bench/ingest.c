/*
 * ingest.c — the ingest benchmark of ledgerd: events per second appended to a
 * running daemon, and the physical ceilings measured on the same machine.
 *
 *   ingest --url URL --workload batch|concurrent|sequential  [options]
 *   ingest --workload ceiling --data-dir DIR                 [options]
 *   ingest --url URL --workload head        (readiness probe: prints the head)
 *
 * Workloads against the daemon (bench/run.sh starts one and runs them all):
 *   batch       AppendRequests of --batch events (1,000), --conns connections
 *               (4) each keeping one request in flight, so the daemon's group
 *               commit can coalesce up to --conns requests per transaction.
 *   concurrent  --clients (16) threads, each its own ldc connection, single-
 *               event appends back to back. With --client async: as many
 *               asynchronous raw NNG clients instead (no threads, requests
 *               packed before the clock), to show the clients' own share.
 *   sequential  one ldc connection, single-event appends back to back.
 *   ceiling     no daemon: raw LMDB in-process (the same packed event bytes
 *               under 8-byte big-endian keys with MDB_APPEND, durable commits)
 *               in transactions of --batch events and of 1 event, and raw NNG
 *               REQ/REP round trips over loopback TCP to an in-process REP echo
 *               server with 1 client and with --clients clients (threads as
 *               ldc has them, and asynchronous clients).
 *
 * The workload (bench.h) is a function of --seed alone (plus the daemon's
 * head at the start of a run, which only names things): a small
 * organisation tree is registered before each run, then a mix of
 * MemberJoined, DuesPaid, ServiceDelivered, MemberTransferred and
 * MembershipEnded events is generated that holds every invariant the daemon
 * enforces. Every event is generated,
 * checked with check_event() and (for batches) packed before the clock
 * starts; every response is checked, and rejected events are counted by code
 * with the first message of each code printed. The head of the log after a
 * run must have moved by exactly the number of events accepted.
 *
 * Output: one line per run, then one machine-readable line per measure,
 *   RESULT workload=NAME unit=events/s median=X min=X max=X key=value...
 * which bench/run.sh turns into bench/RESULTS.md. Exit status 0 when every
 * event was accepted and every check held, 1 otherwise, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench.h"
#include "check.h"
#include "client.h"
#include "codec.h"
#include "error.h"
#include "kinds.h"

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

/* Whole-request ERR_BUSY answers are retried with the same bytes, this
 * often at most (BENCH_BUSY_SLEEP_NS apart: bench.h). */
#define BENCH_BUSY_RETRIES 1000

enum workload { WL_BATCH, WL_CONCURRENT, WL_SEQUENTIAL, WL_CEILING, WL_HEAD };

static const char *const workload_names[] = {"batch", "concurrent", "sequential", "ceiling",
                                             "head"};

typedef struct bench_opts {
	const char *url;
	enum workload wl;
	size_t events;    /* per run; 0 = the workload's default */
	size_t batch;     /* events per request (batch) / per transaction (ceiling) */
	unsigned clients; /* concurrent clients; NNG ceiling clients */
	unsigned conns;   /* connections of the batch workload */
	uint64_t seed;
	unsigned runs;
	const char *data_dir; /* ceiling: where the temporary LMDB env goes */
	const char *disk_dir; /* daemon workloads: its data directory, whose device's
	                         writes are counted (NULL: not counted) */
	int timeout_ms;
	double max_seconds; /* a run stops sending after this long (0: never) */
	long pid;           /* daemon pid, for its CPU time (0: unknown) */
	size_t sync_ops;    /* ceiling: single-event durable commits per run */
	size_t rtt_ops;     /* ceiling: NNG round trips per run */
	int async;          /* concurrent/sequential: asynchronous raw clients, not ldc */
} bench_opts;

/* ------------------------------------------------------------------ */
/* Checking answers                                                    */
/* ------------------------------------------------------------------ */

#define N_CODES 64

/* What every client thread of a run shares: the start gate and the first
 * message of each error code seen. The gate's lock and condition also
 * guard first[] and finished. */
typedef struct run_shared {
	gate g;
	int64_t max_ns;    /* per-thread time limit, 0 = none */
	unsigned finished; /* asynchronous clients done */
	char *first[N_CODES];
} run_shared;

/* Counters of one client thread (summed after the run). */
typedef struct tally {
	uint64_t sent;       /* events sent */
	uint64_t accepted;   /* newly recorded */
	uint64_t duplicates; /* recorded before (should not happen) */
	uint64_t rejected;   /* refused by the daemon, per event or whole request */
	uint64_t failed;     /* transport failures and unreadable answers */
	uint64_t busy;       /* ERR_BUSY answers retried */
	uint64_t by_code[N_CODES];
	int truncated; /* stopped by the time limit */
} tally;

/* Records the first message seen for error code `code` (wire code). */
__attribute__((format(printf, 3, 4))) static void note_error(run_shared *sh, int code,
                                                             const char *fmt, ...)
{
	char buf[768];
	if (code < 0)
		code = -code;
	if (code >= N_CODES)
		code = N_CODES - 1;
	pthread_mutex_lock(&sh->g.mu);
	if (!sh->first[code]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		sh->first[code] = strdup(buf);
	}
	pthread_mutex_unlock(&sh->g.mu);
}

/* The member or organisation an event is about, for error messages. */
static const char *event_subject(const Ledger__Event *ev)
{
	const char *id = ld_event_subject(ev);
	return id ? id : "?";
}

/*
 * Counts the answer to an append of evs[0..n-1] into t. resp NULL means the
 * call failed before an answer was read (rc and e say why). Every event
 * must come back recorded: rejections and anything unexpected are counted
 * and the first message of each error code is kept in sh.
 */
static void tally_answer(tally *t, run_shared *sh, const Ledger__Response *resp, int rc,
                         const ld_errinfo *e, Ledger__Event *const *evs, size_t n)
{
	if (!resp) {
		t->failed += n;
		t->by_code[ld_wire_code(rc) % N_CODES]++;
		note_error(sh, rc, "%s: %s (request of %zu events, first %s %s)", ld_errname(rc),
		           e ? e->message : "", n, codec_event_type_name((int)evs[0]->body_case),
		           event_subject(evs[0]));
		return;
	}
	if (resp->error) {
		const Ledger__Error *er = resp->error;
		t->rejected += n;
		t->by_code[er->code % N_CODES]++;
		note_error(
		    sh, (int)er->code,
		    "%s: %s [field '%s'] (whole request of %zu events rejected, first %s %s)",
		    ld_errname((int)er->code), er->message ? er->message : "",
		    er->field ? er->field : "", n, codec_event_type_name((int)evs[0]->body_case),
		    event_subject(evs[0]));
		return;
	}
	const Ledger__AppendResult *ar =
	    resp->result_case == LEDGER__RESPONSE__RESULT_APPEND ? resp->append : NULL;
	if (!ar || ar->n_results != n) {
		t->failed += n;
		t->by_code[LEDGER__ERROR_CODE__ERR_MALFORMED]++;
		note_error(sh, LEDGER__ERROR_CODE__ERR_MALFORMED,
		           "answer to an append of %zu events is not an AppendResult with %zu "
		           "results (result case %d, %zu results)",
		           n, n, (int)resp->result_case, ar ? ar->n_results : 0);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const Ledger__EventResult *r = ar->results[i];
		if (r->error) {
			const Ledger__Error *er = r->error;
			t->rejected++;
			t->by_code[er->code % N_CODES]++;
			note_error(
			    sh, (int)er->code, "%s: %s [field '%s'] (event %zu of %zu: %s %s)",
			    ld_errname((int)er->code), er->message ? er->message : "",
			    er->field ? er->field : "", i, n,
			    codec_event_type_name((int)evs[i]->body_case), event_subject(evs[i]));
		} else if (r->has_duplicate && r->duplicate) {
			t->duplicates++;
		} else if (r->has_seq && r->seq > 0) {
			t->accepted++;
		} else {
			t->failed++;
			t->by_code[LEDGER__ERROR_CODE__ERR_INTERNAL]++;
			note_error(sh, LEDGER__ERROR_CODE__ERR_INTERNAL,
			           "event %zu of %zu has neither a seq nor an error in its result",
			           i, n);
		}
	}
}

/* Waits at the start gate; returns nonzero if the run was called off. The
 * thread's time limit starts when the gate opens. */
static int start_wait(run_shared *sh, int64_t *deadline)
{
	int abort_run = gate_wait(&sh->g);
	*deadline = sh->max_ns ? mono_ns() + sh->max_ns : 0;
	return abort_run;
}

static void shared_init(run_shared *sh, double max_seconds)
{
	memset(sh, 0, sizeof(*sh));
	gate_init(&sh->g);
	sh->max_ns = max_seconds > 0 ? (int64_t)(max_seconds * 1e9) : 0;
}

static void shared_destroy(run_shared *sh)
{
	for (int i = 0; i < N_CODES; i++)
		free(sh->first[i]);
	gate_destroy(&sh->g);
}

/* ------------------------------------------------------------------ */
/* Client threads                                                      */
/* ------------------------------------------------------------------ */

typedef struct worker {
	pthread_t tid;
	const bench_opts *o;
	run_shared *sh;
	unsigned idx;
	Ledger__Event **events; /* the stream (ldc workloads) */
	size_t n;
	packed_req *reqs; /* the stream packed in requests (batch, async) */
	size_t nreq;
	tally t;
	struct aclient *ac; /* --client async */
} worker;

/*
 * Batch client: one REQ socket of its own, one request in flight, the
 * stream's requests sent in order. It speaks NNG directly rather than
 * through ldc_append because ldc_call packs the request on every call: at
 * a million events a second that packing would cost the client a good part
 * of a core on a 2-core machine that the daemon needs, so the requests are
 * packed before the clock starts and only sent, received and decoded here.
 */
static void *batch_worker(void *arg)
{
	worker *w = arg;
	nng_socket s = NNG_SOCKET_INITIALIZER;
	int nrv = 0;
	int64_t deadline;

	if ((nrv = req_dial(&s, w->o->url, w->o->timeout_ms)) != 0) {
		note_error(w->sh, LD_E(UNAVAILABLE), "cannot connect to '%s': %s", w->o->url,
		           nng_strerror(nrv));
		for (size_t b = 0; b < w->nreq; b++)
			w->t.failed += w->reqs[b].n;
	}
	if (start_wait(w->sh, &deadline) || nrv)
		goto out;
	for (size_t b = 0; b < w->nreq; b++) {
		const packed_req *pr = &w->reqs[b];
		if (deadline && mono_ns() > deadline) {
			w->t.truncated = 1;
			break;
		}
		Ledger__Response *resp = NULL;
		ld_errinfo e = {0};
		size_t alen = 0;
		int rc = 0;
		if ((nrv = req_call(s, pr, BENCH_BUSY_RETRIES, &resp, &alen, &w->t.busy)) != 0)
			rc = ld_errinfo_set(&e, LD_E(UNAVAILABLE), NULL, "request to '%s' failed: %s",
			                    w->o->url, nng_strerror(nrv));
		else if (!resp)
			rc = ld_errinfo_set(&e, LD_E(MALFORMED), NULL,
			                    "answer of %zu bytes is not a ledger.Response", alen);
		w->t.sent += pr->n;
		tally_answer(&w->t, w->sh, resp, rc, &e, pr->events, pr->n);
		codec_response_free(resp);
		if (!resp)
			break; /* the connection is gone: stop this client */
	}
out:
	if (nng_socket_id(s) > 0)
		nng_close(s);
	return NULL;
}

/* Single-event client through the client library: ldc_append of one event
 * at a time, the next sent when the previous is answered. */
static void *single_worker(void *arg)
{
	worker *w = arg;
	ldc *c = NULL;
	ld_errinfo e = {0};
	Ledger__Response *resp = NULL;
	int64_t deadline;
	int rc;

	/* A head request before the clock starts makes sure the (background)
	 * dial has completed, so connecting is not timed. */
	if ((rc = ldc_open(&c, w->o->url, w->o->timeout_ms, &e)) == 0)
		rc = ldc_head(c, &resp, &e);
	codec_response_free(resp);
	resp = NULL;
	if (rc) {
		note_error(w->sh, rc, "cannot reach '%s': %s", w->o->url, e.message);
		w->t.failed += w->n;
	}
	if (start_wait(w->sh, &deadline) || rc)
		goto out;
	for (size_t i = 0; i < w->n; i++) {
		if (deadline && mono_ns() > deadline) {
			w->t.truncated = 1;
			break;
		}
		for (int attempt = 0;; attempt++) {
			rc = ldc_append(c, &w->events[i], 1, 0, &resp, &e);
			if (!is_busy(resp) || attempt >= BENCH_BUSY_RETRIES)
				break;
			codec_response_free(resp);
			resp = NULL;
			w->t.busy++;
			nanosleep(&(struct timespec){0, BENCH_BUSY_SLEEP_NS}, NULL);
		}
		w->t.sent++;
		tally_answer(&w->t, w->sh, resp, rc, &e, &w->events[i], 1);
		int gone = resp == NULL;
		codec_response_free(resp);
		resp = NULL;
		if (gone)
			break;
	}
out:
	ldc_close(c);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Asynchronous clients                                                */
/* ------------------------------------------------------------------ */

/*
 * An asynchronous REQ client: a socket of its own (so a connection of its
 * own) and one aio whose callback sends the next pre-packed request when the
 * previous one is answered. It has no thread: N of them cost only NNG's
 * threads, where N ldc clients are N threads blocked in ldc_call. On a
 * 2-core machine shared with the daemon that matters (measured here: about
 * half the client CPU per round trip), so `--client async` shows how much
 * of the concurrent figure is the clients' own cost. The NNG ceiling uses
 * the same client with echo set.
 */
typedef struct aclient {
	nng_socket s;
	nng_ctx ctx;
	nng_aio *aio;
	enum { A_SEND, A_RECV, A_SLEEP } state;
	const packed_req *reqs;
	size_t nreq, next;
	int attempt;
	int echo; /* the answers are echoes: not decoded */
	int timeout_ms;
	int64_t deadline; /* 0: none */
	tally *t;
	run_shared *sh;
} aclient;

/* Marks c done and wakes the driver. */
static void aclient_finish(aclient *c)
{
	pthread_mutex_lock(&c->sh->g.mu);
	c->sh->finished++;
	pthread_cond_broadcast(&c->sh->g.cv);
	pthread_mutex_unlock(&c->sh->g.mu);
}

/* Counts request `next` as failed with an NNG error and finishes c. */
static void aclient_fail(aclient *c, int nrv)
{
	const packed_req *pr = &c->reqs[c->next];
	ld_errinfo e;
	ld_errinfo_set(&e, LD_E(UNAVAILABLE), NULL, "request failed: %s", nng_strerror(nrv));
	if (c->echo) {
		c->t->failed += pr->n;
		note_error(c->sh, LD_E(UNAVAILABLE), "%s", e.message);
	} else {
		tally_answer(c->t, c->sh, NULL, LD_E(UNAVAILABLE), &e, pr->events, pr->n);
	}
	aclient_finish(c);
}

/* Sends request `next` (again, after ERR_BUSY). */
static void aclient_send(aclient *c)
{
	const packed_req *pr = &c->reqs[c->next];
	nng_msg *m = NULL;
	int nrv = nng_msg_alloc(&m, pr->len);
	if (nrv != 0) {
		aclient_fail(c, nrv);
		return;
	}
	memcpy(nng_msg_body(m), pr->buf, pr->len);
	nng_aio_set_msg(c->aio, m);
	nng_aio_set_timeout(c->aio, c->timeout_ms);
	c->state = A_SEND;
	nng_ctx_send(c->ctx, c->aio);
}

/* Sends the next request, or finishes when there is none or time is up. */
static void aclient_next(aclient *c)
{
	if (c->next >= c->nreq) {
		aclient_finish(c);
		return;
	}
	if (c->deadline && mono_ns() > c->deadline) {
		c->t->truncated = 1;
		aclient_finish(c);
		return;
	}
	c->attempt = 0;
	aclient_send(c);
}

/* Completion of a send, a receive or a back-off sleep. Runs on NNG's
 * threads; decoding and counting an answer is short and never blocks. */
static void aclient_cb(void *arg)
{
	aclient *c = arg;
	int rv = nng_aio_result(c->aio);
	const packed_req *pr = &c->reqs[c->next];

	switch (c->state) {
	case A_SEND:
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(c->aio));
			aclient_fail(c, rv);
			return;
		}
		c->state = A_RECV;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	case A_RECV: {
		if (rv != 0) {
			aclient_fail(c, rv);
			return;
		}
		nng_msg *m = nng_aio_get_msg(c->aio);
		Ledger__Response *resp = NULL;
		if (!c->echo) {
			resp = codec_response_unpack(nng_msg_body(m), nng_msg_len(m));
			if (is_busy(resp) && c->attempt < BENCH_BUSY_RETRIES) {
				nng_msg_free(m);
				codec_response_free(resp);
				c->attempt++;
				c->t->busy++;
				c->state = A_SLEEP;
				nng_sleep_aio(1, c->aio);
				return;
			}
			ld_errinfo e;
			ld_errinfo_set(&e, LD_E(MALFORMED), NULL,
			               "answer of %zu bytes is not a ledger.Response",
			               nng_msg_len(m));
			tally_answer(c->t, c->sh, resp, resp ? 0 : LD_E(MALFORMED), &e, pr->events,
			             pr->n);
			codec_response_free(resp);
		}
		nng_msg_free(m);
		c->t->sent += pr->n;
		c->next++;
		aclient_next(c);
		return;
	}
	case A_SLEEP:
		aclient_send(c);
		return;
	}
}

/* Opens c's socket, dials url (waiting for the connection) and prepares
 * its aio. Returns 0 or LD_E(UNAVAILABLE) with the reason printed. */
static int aclient_open(aclient *c, const char *url, int timeout_ms)
{
	int nrv;
	c->timeout_ms = timeout_ms;
	if ((nrv = nng_req0_open(&c->s)) != 0 ||
	    (nrv = nng_socket_set_size(c->s, NNG_OPT_RECVMAXSZ, BENCH_RECV_MAX)) != 0 ||
	    (nrv = nng_socket_set_ms(c->s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (nrv = nng_dial(c->s, url, NULL, 0)) != 0 || (nrv = nng_ctx_open(&c->ctx, c->s)) != 0 ||
	    (nrv = nng_aio_alloc(&c->aio, aclient_cb, c)) != 0) {
		fprintf(stderr, "ingest: cannot connect to '%s': %s\n", url, nng_strerror(nrv));
		return LD_E(UNAVAILABLE);
	}
	return 0;
}

/* Stops and frees what aclient_open made (c zeroed first is fine). */
static void aclient_close(aclient *c)
{
	if (c->aio)
		nng_aio_free(c->aio);
	c->aio = NULL;
	if (nng_socket_id(c->s) > 0)
		nng_close(c->s);
}

/* Starts n opened clients at once and waits until all are done; the time
 * from the first send to the last answer into *seconds. */
static void aclients_run(aclient *cs, unsigned n, run_shared *sh, double *seconds)
{
	int64_t t0 = mono_ns();
	for (unsigned i = 0; i < n; i++) {
		cs[i].deadline = sh->max_ns ? t0 + sh->max_ns : 0;
		aclient_next(&cs[i]);
	}
	pthread_mutex_lock(&sh->g.mu);
	while (sh->finished < n)
		pthread_cond_wait(&sh->g.cv, &sh->g.mu);
	pthread_mutex_unlock(&sh->g.mu);
	*seconds = (double)(mono_ns() - t0) / 1e9;
}

/* ------------------------------------------------------------------ */
/* Daemon workloads                                                    */
/* ------------------------------------------------------------------ */

/* Appends evs[0..n-1] in one request and requires every one recorded. */
static int append_all(ldc *c, Ledger__Event **evs, size_t n, const char *what, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	run_shared sh;
	tally t = {0};
	int rc;

	shared_init(&sh, 0);
	rc = ldc_append(c, evs, n, 1, &resp, e);
	tally_answer(&t, &sh, resp, rc, e, evs, n);
	if (t.accepted != n) {
		const char *msg = "?";
		for (int i = 0; i < N_CODES; i++)
			if (sh.first[i]) {
				msg = sh.first[i];
				break;
			}
		rc = ld_errinfo_set(e, rc ? rc : LD_E(INVALID_STATE), NULL,
		                    "registering %s: %" PRIu64 " of %zu recorded: %s", what,
		                    t.accepted, n, msg);
	} else {
		rc = 0;
	}
	codec_response_free(resp);
	shared_destroy(&sh);
	return rc;
}

/* Registers the tree: the province, then the cities, then the unions (a
 * parent must exist before its children). */
static int orgs_register(ldc *c, org_tree *t, ld_errinfo *e)
{
	int rc;
	if ((rc = append_all(c, t->events, 1, "the province federation", e)) != 0 ||
	    (rc = append_all(c, t->events + 1, N_CITIES, "the city federations", e)) != 0 ||
	    (rc = append_all(c, t->events + 1 + N_CITIES, N_UNIONS, "the industry unions", e)) != 0)
		return rc;
	return 0;
}

/* One thread's status: its context switches added, voluntary in sw[0] and
 * involuntary in sw[1]. */
static void task_switches(FILE *f, long tid, void *arg)
{
	double *sw = arg;
	char line[128];
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1)
			sw[0] += (double)v;
		else if (sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
			sw[1] += (double)v;
	}
}

/* pid's context switches so far, voluntary (it waited: a lock, a
 * condition, a sync) in sw[0] and involuntary (preempted) in sw[1], summed
 * over its threads (as proc_threads_cpu, an ended thread takes its own
 * with it); 0, or -1 if /proc cannot tell. */
static int proc_ctxt_switches(long pid, double sw[2])
{
	sw[0] = sw[1] = 0;
	return proc_each_task(pid, "status", task_switches, sw);
}

/* The outcome of one run against the daemon. */
typedef struct run_result {
	double seconds;
	double eps; /* events accepted per second */
	tally t;
	double client_cpu_us; /* per event sent; this process, every thread */
	double daemon_cpu_us; /* per event sent; < 0 unknown */
	double daemon_wbytes; /* /proc write_bytes per event sent; < 0 unknown */
	double disk_bytes;    /* bytes the data directory's device took per event sent
	                         (disk_meter: every writer of the device); < 0 unknown */
	double thread_us[TCPU__N]; /* daemon CPU per event sent by thread class; < 0 unknown */
	double daemon_cs[2]; /* the daemon's context switches per event sent, voluntary and
	                        involuntary; < 0 unknown */
	int head_ok;
	uint64_t head_delta, head_expected;
	double pack_us; /* per event, before the clock (batch, async) */
} run_result;

/* The name a workload reports under: "concurrent-async" with --client async. */
static const char *wl_label(const bench_opts *o)
{
	if (o->async && o->wl == WL_CONCURRENT)
		return "concurrent-async";
	if (o->async && o->wl == WL_SEQUENTIAL)
		return "sequential-async";
	return workload_names[o->wl];
}

/* Prints the first message of every error code seen in sh. */
static void print_errors(const run_shared *sh, const tally *t)
{
	for (int i = 0; i < N_CODES; i++)
		if (t->by_code[i] || sh->first[i])
			printf("    %s x%" PRIu64 ", first: %s\n", ld_errname(i), t->by_code[i],
			       sh->first[i] ? sh->first[i] : "?");
}

/* Runs the clients of ws[0..parts-1]: threads (batch, ldc) that meet at the
 * start gate, or asynchronous clients. *seconds is the time from the start
 * to the last answer. Returns 0 or a negative code if they cannot start. */
static int run_clients(const bench_opts *o, worker *ws, unsigned parts, run_shared *sh,
                       double *seconds)
{
	int64_t t0, t1;
	unsigned created;
	int rc = 0;

	if (o->async && o->wl != WL_BATCH) {
		for (unsigned p = 0; p < parts; p++) {
			aclient *ac = ws[p].ac;
			ac->reqs = ws[p].reqs;
			ac->nreq = ws[p].nreq;
			ac->t = &ws[p].t;
			ac->sh = sh;
			if ((rc = aclient_open(ac, o->url, o->timeout_ms)) != 0)
				return rc;
		}
		aclients_run(ws[0].ac, parts, sh, seconds);
		return 0;
	}
	for (created = 0; created < parts; created++)
		if (pthread_create(&ws[created].tid, NULL,
		                   o->wl == WL_BATCH ? batch_worker : single_worker,
		                   &ws[created]) != 0)
			break;
	gate_open(&sh->g, created, created != parts);
	t0 = mono_ns();
	for (unsigned p = 0; p < created; p++)
		pthread_join(ws[p].tid, NULL);
	t1 = mono_ns();
	*seconds = (double)(t1 - t0) / 1e9;
	if (created != parts) {
		fprintf(stderr, "ingest: cannot start client thread %u\n", created);
		return LD_E(INTERNAL);
	}
	return 0;
}

/*
 * One run of batch, concurrent or sequential: registers a fresh tree,
 * generates and (batch, async) packs the events, then times the clients
 * from the moment every one is connected until the last is answered.
 * Returns 0 when the run took place (whatever the daemon answered), 1 when
 * it took place but the daemon stopped answering (res is filled, no later
 * run can take place), or a negative code if it could not be set up.
 */
static int daemon_run(const bench_opts *o, unsigned run, run_result *res, size_t mix[K_NKINDS])
{
	arena a = {0};
	ldc *c = NULL;
	ld_errinfo e = {0};
	org_tree tree;
	worker *ws = NULL;
	aclient *acs = NULL;
	run_shared sh;
	uint64_t head0 = 0, head1 = 0;
	char ns[32];
	int rc;

	shared_init(&sh, o->max_seconds);
	memset(res, 0, sizeof(*res));
	unsigned parts = o->wl == WL_BATCH ? o->conns : o->wl == WL_CONCURRENT ? o->clients : 1;
	size_t per_req = o->wl == WL_BATCH ? o->batch : 1;
	int prepack = o->wl == WL_BATCH || o->async;

	if ((rc = ldc_open(&c, o->url, o->timeout_ms, &e)) != 0 ||
	    (rc = daemon_head(c, &head0, &e)) != 0) {
		fprintf(stderr, "ingest: %s: %s\n", ld_errname(rc), e.message);
		goto out;
	}
	/* The head names the run: ids are unique against this daemon however
	 * often the bench runs, and on a fresh daemon the run is reproduced. */
	snprintf(ns, sizeof(ns), "%c%s%" PRIu64, "BCS"[o->wl], o -> async ? "a" : "", head0);
	if ((rc = orgs_build(&tree, &a, ns)) != 0 || (rc = orgs_register(c, &tree, &e)) != 0) {
		fprintf(stderr, "ingest: %s: %s\n", ld_errname(rc), e.message);
		goto out;
	}

	ws = calloc(parts, sizeof(*ws));
	acs = calloc(parts, sizeof(*acs));
	if (!ws || !acs) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	int64_t pack_ns = 0;
	for (unsigned p = 0; p < parts; p++) {
		worker *w = &ws[p];
		w->o = o;
		w->sh = &sh;
		w->idx = p;
		w->ac = &acs[p];
		w->n = o->events / parts + (p < o->events % parts);
		w->events = arena_alloc(&a, (w->n ? w->n : 1) * sizeof(*w->events));
		if (!w->events) {
			rc = LD_E(INTERNAL);
			goto out;
		}
		if ((rc = gen_stream_events(&a, &tree, ns, head0, o->seed, run, p, parts, w->n,
		                            w->events, mix, &e)) != 0) {
			fprintf(stderr,
			        "ingest: generated event rejected by check_event: %s: %s [%s]\n",
			        ld_errname(rc), e.message, e.field);
			goto out;
		}
		if (!prepack)
			continue;
		pack_ns -= mono_ns();
		w->nreq = (w->n + per_req - 1) / per_req;
		w->reqs = calloc(w->nreq ? w->nreq : 1, sizeof(*w->reqs));
		if (!w->reqs) {
			rc = LD_E(INTERNAL);
			goto out;
		}
		for (size_t b = 0; b < w->nreq; b++) {
			size_t first = b * per_req;
			size_t k = w->n - first < per_req ? w->n - first : per_req;
			if ((rc = pack_request(&w->reqs[b], w->events + first, k)) != 0)
				goto out;
		}
		pack_ns += mono_ns();
	}
	res->pack_us = o->events ? (double)pack_ns / 1e3 / (double)o->events : 0;

	/* The device's count first: its syncfs writes what earlier runs left
	 * dirty before the clock starts. */
	disk_meter dm;
	disk_open(&dm, o->disk_dir);
	double db0 = disk_written(&dm);
	double cpu0 = self_cpu_seconds(), dcpu0 = proc_cpu_seconds(o->pid);
	double wb0 = o->pid > 0 ? proc_write_bytes(o->pid) : -1;
	double tc0[TCPU__N], tc1[TCPU__N];
	int tc_ok = proc_threads_cpu(o->pid, tc0) == 0;
	double cs0[2], cs1[2];
	int cs_ok = proc_ctxt_switches(o->pid, cs0) == 0;
	if ((rc = run_clients(o, ws, parts, &sh, &res->seconds)) != 0)
		goto out;
	double cpu1 = self_cpu_seconds(), dcpu1 = proc_cpu_seconds(o->pid);
	double wb1 = o->pid > 0 ? proc_write_bytes(o->pid) : -1;
	tc_ok = tc_ok && proc_threads_cpu(o->pid, tc1) == 0;
	cs_ok = cs_ok && proc_ctxt_switches(o->pid, cs1) == 0;
	double db1 = disk_written(&dm); /* after the clock: its syncfs is not timed */
	disk_close(&dm);

	for (unsigned p = 0; p < parts; p++) {
		tally *t = &ws[p].t;
		res->t.sent += t->sent;
		res->t.accepted += t->accepted;
		res->t.duplicates += t->duplicates;
		res->t.rejected += t->rejected;
		res->t.failed += t->failed;
		res->t.busy += t->busy;
		res->t.truncated |= t->truncated;
		for (int k = 0; k < N_CODES; k++)
			res->t.by_code[k] += t->by_code[k];
	}
	res->eps = res->seconds > 0 ? (double)res->t.accepted / res->seconds : 0;
	double sent = res->t.sent ? (double)res->t.sent : 1;
	res->client_cpu_us = (cpu1 - cpu0) * 1e6 / sent;
	res->daemon_cpu_us = dcpu0 >= 0 && dcpu1 >= 0 ? (dcpu1 - dcpu0) * 1e6 / sent : -1;
	res->daemon_wbytes = wb0 >= 0 && wb1 >= 0 ? (wb1 - wb0) / sent : -1;
	res->disk_bytes = db0 >= 0 && db1 >= 0 ? (db1 - db0) / sent : -1;
	for (int k = 0; k < TCPU__N; k++)
		res->thread_us[k] = tc_ok ? (tc1[k] - tc0[k]) * 1e6 / sent : -1;
	for (int k = 0; k < 2; k++)
		res->daemon_cs[k] = cs_ok ? (cs1[k] - cs0[k]) / sent : -1;

	/* Every accepted event and nothing else must be in the log. A daemon
	 * that no longer answers ends the benchmark after this run's report. */
	int head_rc = daemon_head(c, &head1, &e);
	if (head_rc)
		fprintf(stderr, "ingest: head after the run: %s: %s\n", ld_errname(head_rc),
		        e.message);
	res->head_delta = head_rc ? 0 : head1 - head0;
	res->head_expected = N_ORGS + res->t.accepted;
	res->head_ok = !head_rc && res->head_delta == res->head_expected;

	printf("%s run %u/%u: %" PRIu64 " events in %.3f s = %.0f events/s | rejected %" PRIu64
	       ", duplicates %" PRIu64 ", failed %" PRIu64 ", busy retries %" PRIu64
	       "%s | client CPU %.2f us/event (%.2f cores)",
	       wl_label(o), run + 1, o->runs, res->t.accepted, res->seconds, res->eps,
	       res->t.rejected, res->t.duplicates, res->t.failed, res->t.busy,
	       res->t.truncated ? " | TRUNCATED by --max-seconds" : "", res->client_cpu_us,
	       res->seconds > 0 ? (cpu1 - cpu0) / res->seconds : 0);
	if (res->daemon_cpu_us >= 0)
		printf(" | daemon CPU %.2f us/event (%.2f cores)", res->daemon_cpu_us,
		       res->seconds > 0 ? (dcpu1 - dcpu0) / res->seconds : 0);
	if (res->disk_bytes >= 0)
		printf(", disk took %.0f bytes/event", res->disk_bytes);
	if (res->daemon_wbytes >= 0)
		printf(", write_bytes %.0f/event", res->daemon_wbytes);
	if (res->thread_us[0] >= 0) {
		printf(" (threads, us/event:");
		for (int k = 0; k < TCPU__N; k++)
			printf(" %s %.2f", tcpu_names[k], res->thread_us[k]);
		printf(")");
	}
	if (res->daemon_cs[0] >= 0)
		printf(", context switches %.3f/event (%.3f involuntary)", res->daemon_cs[0],
		       res->daemon_cs[1]);
	if (head_rc)
		printf(" | head UNKNOWN: the daemon does not answer\n");
	else
		printf(" | head +%" PRIu64 " %s\n", res->head_delta,
		       res->head_ok ? "ok" : "MISMATCH");
	if (!res->head_ok && !head_rc)
		printf("    head moved by %" PRIu64 ", expected %" PRIu64 " (%d orgs + %" PRIu64
		       " accepted)\n",
		       res->head_delta, res->head_expected, (int)N_ORGS, res->t.accepted);
	print_errors(&sh, &res->t);
	fflush(stdout);
	rc = head_rc ? 1 : 0;
out:
	if (acs)
		for (unsigned p = 0; p < parts; p++)
			aclient_close(&acs[p]);
	if (ws)
		for (unsigned p = 0; p < parts; p++) {
			for (size_t b = 0; b < ws[p].nreq; b++)
				free(ws[p].reqs[b].buf);
			free(ws[p].reqs);
		}
	free(ws);
	free(acs);
	ldc_close(c);
	arena_release(&a);
	shared_destroy(&sh);
	return rc;
}

/* Runs a daemon workload --runs times and prints the summary. Returns 0 if
 * every event of every run was recorded and every head check held, 1 if
 * not, or a negative code if a run could not be set up. */
static int bench_daemon(const bench_opts *o)
{
	run_result *res = calloc(o->runs, sizeof(*res));
	double *eps = calloc(o->runs, sizeof(*eps));
	double *ccpu = calloc(o->runs, sizeof(*ccpu));
	double *dcpu = calloc(o->runs, sizeof(*dcpu));
	double *dwb = calloc(o->runs, sizeof(*dwb));
	double *ddb = calloc(o->runs, sizeof(*ddb));
	double *tus = calloc(o->runs, sizeof(*tus));
	size_t mix[K_NKINDS] = {0};
	tally all = {0};
	int head_bad = 0, rc = 0;
	unsigned done = 0, truncated = 0;

	if (!res || !eps || !ccpu || !dcpu || !dwb || !ddb || !tus) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	unsigned conns = o->wl == WL_BATCH ? o->conns : o->wl == WL_CONCURRENT ? o->clients : 1;
	size_t batch = o->wl == WL_BATCH ? o->batch : 1;
	printf("%s: %zu events per run in requests of %zu event%s from %u %s connection%s, "
	       "%u runs, seed %" PRIu64 ", url %s\n",
	       wl_label(o), o->events, batch, batch == 1 ? "" : "s", conns,
	       o->wl == WL_BATCH ? "pipelined raw NNG"
	       : o->async        ? "asynchronous raw NNG"
	                         : "ldc",
	       conns == 1 ? "" : "s", o->runs, o->seed, o->url);
	fflush(stdout);
	int aborted = 0;
	for (unsigned r = 0; r < o->runs && !aborted; r++) {
		if ((rc = daemon_run(o, r, &res[r], mix)) < 0) {
			aborted = 1;
			break;
		}
		aborted = rc;
		if (r == 0) {
			size_t total = 0;
			for (int k = 0; k < K_NKINDS; k++)
				total += mix[k];
			printf("    mix of run 1:");
			for (int k = 0; k < K_NKINDS; k++)
				printf(" %s %.1f%%", kind_names[k],
				       total ? 100.0 * mix[k] / total : 0);
			if (o->wl == WL_BATCH || o->async)
				printf("; packing before the clock: %.2f us/event", res[0].pack_us);
			printf("\n");
		}
		eps[r] = res[r].eps;
		ccpu[r] = res[r].client_cpu_us;
		dcpu[r] = res[r].daemon_cpu_us;
		dwb[r] = res[r].daemon_wbytes;
		ddb[r] = res[r].disk_bytes;
		all.sent += res[r].t.sent;
		all.accepted += res[r].t.accepted;
		all.rejected += res[r].t.rejected;
		all.duplicates += res[r].t.duplicates;
		all.failed += res[r].t.failed;
		all.busy += res[r].t.busy;
		truncated += res[r].t.truncated != 0;
		head_bad += !res[r].head_ok;
		done++;
	}
	stats s = stats_of(eps, done), sc = stats_of(ccpu, done), sd = stats_of(dcpu, done);
	stats sw = stats_of(dwb, done), sdb = stats_of(ddb, done);
	printf("RESULT workload=%s unit=events/s median=%.0f min=%.0f max=%.0f runs=%u "
	       "events=%zu batch=%zu conns=%u seed=%" PRIu64 " sent=%" PRIu64 " accepted=%" PRIu64
	       " rejected=%" PRIu64 " duplicates=%" PRIu64 " failed=%" PRIu64 " busy=%" PRIu64
	       " truncated=%u"
	       " head_mismatch=%d aborted=%d client_cpu_us=%.2f daemon_cpu_us=%.2f"
	       " daemon_write_bytes=%.0f disk_bytes=%.0f\n",
	       wl_label(o), s.median, s.min, s.max, done, o->events, batch, conns, o->seed,
	       all.sent, all.accepted, all.rejected, all.duplicates, all.failed, all.busy,
	       truncated, head_bad, aborted, sc.median, o->pid > 0 ? sd.median : -1.0,
	       o->pid > 0 ? sw.median : -1.0, o->disk_dir ? sdb.median : -1.0);
	if (o->pid > 0 && done) {
		/* The daemon's CPU by thread class, appended to the RESULT line
		 * just printed: median over the runs of each. */
		printf("RESULT workload=%s-threads unit=us/event", wl_label(o));
		for (int k = 0; k < TCPU__N; k++) {
			for (unsigned r = 0; r < done; r++)
				tus[r] = res[r].thread_us[k];
			printf(" %s=%.2f", tcpu_names[k], stats_of(tus, done).median);
		}
		/* And its context switches per event (not CPU, but what most
		 * of a single-event request's CPU goes to). */
		static const char *const cs_names[2] = {"cswitch", "cswitch_involuntary"};
		for (int k = 0; k < 2; k++) {
			for (unsigned r = 0; r < done; r++)
				tus[r] = res[r].daemon_cs[k];
			printf(" %s=%.3f", cs_names[k], stats_of(tus, done).median);
		}
		printf("\n");
	}
	if (aborted)
		printf("ABORTED after %u of %u runs: the daemon stopped answering or a run could "
		       "not be set up\n",
		       done, o->runs);
	rc = aborted || all.rejected || all.duplicates || all.failed || head_bad ||
	     all.accepted != all.sent;
out:
	free(res);
	free(eps);
	free(ccpu);
	free(dcpu);
	free(dwb);
	free(ddb);
	free(tus);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Ceiling: LMDB                                                       */
/* ------------------------------------------------------------------ */

/* Packed events back to back: event i is buf[off[i] .. off[i+1]). */
typedef struct packed_events {
	uint8_t *buf;
	size_t *off;
	size_t n;
} packed_events;

/* Removes a temporary LMDB environment directory. */
static void lmdb_remove(const char *dir)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
}

/*
 * Appends the first n events of pe to a fresh environment in data_dir, in
 * write transactions of `batch` events each committed durably (LMDB's
 * default: data then meta synced), keys 8-byte big-endian 1, 2, 3 … with
 * MDB_APPEND. *seconds is the time from the first begin to the last commit.
 * Returns 0 or LD_E(STORAGE) with the reason printed.
 */
static int lmdb_ceiling(const char *data_dir, const packed_events *pe, size_t n, size_t batch,
                        double *seconds, double *file_bytes)
{
	char dir[PATH_MAX];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	int mrc = 0, rc = 0;
	const char *what = "create";

	snprintf(dir, sizeof(dir), "%s/ledgerd-ceiling.XXXXXX", data_dir);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "ingest: cannot create a directory in '%s': %s\n", data_dir,
		        strerror(errno));
		return LD_E(STORAGE);
	}
	size_t bytes = n ? pe->off[n] - pe->off[0] : 0;
	size_t map = bytes * 3 + ((size_t)256 << 20);
	if ((mrc = mdb_env_create(&env)) != 0)
		goto fail;
	what = "size";
	if ((mrc = mdb_env_set_mapsize(env, map)) != 0)
		goto fail;
	what = "open";
	if ((mrc = mdb_env_open(env, dir, 0, 0644)) != 0)
		goto fail;
	what = "open the database of";
	if ((mrc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (mrc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0 || (mrc = mdb_txn_commit(txn)) != 0)
		goto fail;
	txn = NULL;

	what = "append to";
	int64_t t0 = mono_ns();
	for (size_t i = 0; i < n;) {
		if ((mrc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			goto fail;
		size_t end = i + batch < n ? i + batch : n;
		for (; i < end; i++) {
			uint8_t kb[8];
			ld_put_be64(kb, (uint64_t)i + 1);
			MDB_val k = {sizeof(kb), kb};
			MDB_val v = {pe->off[i + 1] - pe->off[i], pe->buf + pe->off[i]};
			if ((mrc = mdb_put(txn, dbi, &k, &v, MDB_APPEND)) != 0)
				goto fail;
		}
		mrc = mdb_txn_commit(txn);
		txn = NULL;
		if (mrc)
			goto fail;
	}
	*seconds = (double)(mono_ns() - t0) / 1e9;
	goto out;
fail:
	fprintf(stderr, "ingest: cannot %s LMDB environment '%s': %s\n", what, dir,
	        mdb_strerror(mrc));
	rc = LD_E(STORAGE);
out:
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	{
		char f[PATH_MAX + 16];
		struct stat st;
		snprintf(f, sizeof(f), "%s/data.mdb", dir);
		*file_bytes = stat(f, &st) == 0 ? (double)st.st_size : -1;
	}
	lmdb_remove(dir);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Ceiling: NNG REQ/REP round trips                                    */
/* ------------------------------------------------------------------ */

typedef struct rtt_worker {
	pthread_t tid;
	run_shared *sh;
	const char *url;
	const uint8_t *msg;
	size_t len;
	size_t ops;
	size_t done;
	int failed;
} rtt_worker;

/* REQ client of the echo ceiling: `ops` round trips of `len` bytes. */
static void *rtt_client(void *arg)
{
	rtt_worker *w = arg;
	nng_socket s = NNG_SOCKET_INITIALIZER;
	int64_t deadline;
	int nrv;

	if ((nrv = nng_req0_open(&s)) != 0 ||
	    (nrv = nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 10000)) != 0 ||
	    (nrv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000)) != 0 ||
	    (nrv = nng_dial(s, w->url, NULL, 0)) != 0)
		w->failed = 1;
	if (start_wait(w->sh, &deadline) || w->failed)
		goto out;
	for (; w->done < w->ops; w->done++) {
		void *ans = NULL;
		size_t alen = 0;
		if ((nrv = nng_send(s, (void *)w->msg, w->len, 0)) != 0 ||
		    (nrv = nng_recv(s, &ans, &alen, NNG_FLAG_ALLOC)) != 0) {
			w->failed = 1;
			break;
		}
		nng_free(ans, alen);
	}
out:
	if (nrv)
		fprintf(stderr, "ingest: echo client: %s\n", nng_strerror(nrv));
	if (nng_socket_id(s) > 0)
		nng_close(s);
	return NULL;
}

/*
 * Round trips per second of `ops` REQ/REP exchanges of a `len`-byte message
 * between `clients` REQ sockets and one REP echo server with a context per
 * client, all in this process over loopback TCP. The clients are threads
 * blocked in nng_send/nng_recv (as ldc_call is), or with `async` the
 * asynchronous clients of --client async. Returns 0 with *rate, or
 * LD_E(UNAVAILABLE).
 */
static int nng_ceiling(const uint8_t *msg, size_t len, unsigned clients, size_t ops, int async,
                       double *rate)
{
	rep_server srv = {0};
	rtt_worker *ws = NULL;
	aclient *acs = NULL;
	packed_req *reqs = NULL;
	tally *ts = NULL;
	run_shared sh;
	unsigned created = 0;
	int nrv = 0, rc = 0;

	shared_init(&sh, 0);
	ws = calloc(clients, sizeof(*ws));
	acs = calloc(clients, sizeof(*acs));
	ts = calloc(clients, sizeof(*ts));
	reqs = calloc(ops ? ops : 1, sizeof(*reqs));
	if (!ws || !acs || !ts || !reqs) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	/* The echo server, a context per client and one more. */
	if ((rc = rep_start(&srv, clients + 1, BENCH_RECV_MAX, NULL, 0, &nrv)) != 0) {
		if (nrv)
			fprintf(stderr, "ingest: echo server: %s\n", nng_strerror(nrv));
		goto out;
	}
	for (unsigned i = 0; i < clients; i++) {
		ws[i].sh = &sh;
		ws[i].url = srv.url;
		ws[i].msg = msg;
		ws[i].len = len;
		ws[i].ops = ops / clients + (i < ops % clients);
	}
	if (async) {
		/* Every request of every client is the same message. */
		size_t first = 0;
		for (size_t k = 0; k < ops; k++)
			reqs[k] = (packed_req){(uint8_t *)msg, len, NULL, 1};
		for (unsigned i = 0; i < clients; i++) {
			acs[i].reqs = reqs + first;
			acs[i].nreq = ws[i].ops;
			acs[i].echo = 1;
			acs[i].t = &ts[i];
			acs[i].sh = &sh;
			first += ws[i].ops;
			if ((rc = aclient_open(&acs[i], ws[i].url, 10000)) != 0)
				goto out;
		}
		double secs = 0;
		uint64_t done = 0, failed = 0;
		aclients_run(acs, clients, &sh, &secs);
		for (unsigned i = 0; i < clients; i++) {
			done += ts[i].sent;
			failed += ts[i].failed;
		}
		*rate = secs > 0 ? (double)done / secs : 0;
		if (failed) {
			fprintf(stderr, "ingest: echo ceiling: %" PRIu64 " round trips failed\n",
			        failed);
			rc = LD_E(UNAVAILABLE);
		}
		goto out;
	}
	for (created = 0; created < clients; created++)
		if (pthread_create(&ws[created].tid, NULL, rtt_client, &ws[created]) != 0)
			break;
	gate_open(&sh.g, created, created != clients);
	int64_t t0 = mono_ns();
	for (unsigned i = 0; i < created; i++)
		pthread_join(ws[i].tid, NULL);
	double secs = (double)(mono_ns() - t0) / 1e9;
	size_t done = 0;
	int failed = created != clients;
	for (unsigned i = 0; i < created; i++) {
		done += ws[i].done;
		failed |= ws[i].failed;
	}
	*rate = secs > 0 ? (double)done / secs : 0;
	if (failed) {
		fprintf(stderr, "ingest: echo ceiling: a client failed\n");
		rc = LD_E(UNAVAILABLE);
	}
out:
	if (acs)
		for (unsigned i = 0; i < clients; i++)
			aclient_close(&acs[i]);
	rep_stop(&srv);
	free(ws);
	free(acs);
	free(ts);
	free(reqs);
	shared_destroy(&sh);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Ceiling runs                                                        */
/* ------------------------------------------------------------------ */

enum {
	C_LMDB_BATCH,
	C_LMDB_SINGLE,
	C_NNG_1,
	C_NNG_N,
	C_NNG_N_ASYNC,
	C_FOR_BATCH,
	C_FOR_CONC,
	C_FOR_CONC_ASYNC,
	C_FOR_SEQ,
	C_LMDB_WBYTES,
	C_LMDB_DISK,
	C_LMDB_FILE,
	C_N
};

/* What one lmdb_ceiling wrote, per event; negative where unknown. */
typedef struct ceiling_io {
	double disk;   /* bytes data_dir's device took (disk_meter, synced before and after) */
	double wbytes; /* /proc/self/io write_bytes */
	double file;   /* data.mdb's size at the end: the pages the log holds */
} ceiling_io;

/* Time of lmdb_ceiling and what it wrote (*io, per event). */
static int lmdb_ceiling_io(const char *data_dir, const packed_events *pe, size_t n, size_t batch,
                           double *seconds, ceiling_io *io)
{
	disk_meter dm;
	disk_open(&dm, data_dir);
	double d0 = disk_written(&dm), w0 = proc_write_bytes(0), file = -1;
	int rc = lmdb_ceiling(data_dir, pe, n, batch, seconds, &file);
	double w1 = proc_write_bytes(0), d1 = disk_written(&dm);
	disk_close(&dm);
	double per = n ? 1.0 / (double)n : 0;
	io->disk = d0 >= 0 && d1 >= 0 && n ? (d1 - d0) * per : -1;
	io->wbytes = w0 >= 0 && w1 >= 0 && n ? (w1 - w0) * per : -1;
	io->file = file >= 0 && n ? file * per : -1;
	return rc;
}

/*
 * The ceilings, --runs times each, and from them one ceiling per workload:
 *   batch       LMDB appends in durable transactions of --batch events;
 *   sequential  one client can do no better than one round trip plus one
 *               durable single-event commit per event, in series:
 *               1 / (1/nng_1 + 1/lmdb_single);
 *   concurrent  --clients clients can do no better than the round trips of
 *               that many clients (of the same kind: threads, or async),
 *               nor than a durable commit carrying one event of each:
 *               min(nng_N, clients × lmdb_single).
 */
static int bench_ceiling(const bench_opts *o)
{
	static const char *const names[C_N] = {
	    "ceiling-lmdb-batch",      "ceiling-lmdb-single",
	    "ceiling-nng-1",           "ceiling-nng-n",
	    "ceiling-nng-n-async",     "ceiling-batch",
	    "ceiling-concurrent",      "ceiling-concurrent-async",
	    "ceiling-sequential",      "ceiling-lmdb-write-bytes",
	    "ceiling-lmdb-disk-bytes", "ceiling-lmdb-file-bytes",
	};
	static const char *const units[C_N] = {
	    "events/s", "commits/s", "roundtrips/s", "roundtrips/s", "roundtrips/s", "events/s",
	    "events/s", "events/s",  "events/s",     "bytes/event",  "bytes/event",  "bytes/event",
	};
	arena a = {0};
	org_tree tree;
	packed_events pe = {0};
	Ledger__Event **evs = NULL;
	double *v[C_N] = {0};
	size_t mix[K_NKINDS] = {0};
	ld_errinfo e = {0};
	uint8_t *msg = NULL;
	size_t msglen = 0;
	int rc = 0;
	size_t n = o->events > o->sync_ops ? o->events : o->sync_ops;

	for (int k = 0; k < C_N; k++)
		if (!(v[k] = calloc(o->runs, sizeof(double)))) {
			rc = LD_E(INTERNAL);
			goto out;
		}
	/* The same generator as the daemon workloads, packed once. */
	evs = calloc(n ? n : 1, sizeof(*evs));
	pe.off = calloc(n + 1, sizeof(*pe.off));
	if (!evs || !pe.off) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	if ((rc = orgs_build(&tree, &a, "ceil")) != 0 ||
	    (rc = gen_stream_events(&a, &tree, "ceil", 0, o->seed, 0, 0, 1, n, evs, mix, &e)) !=
	        0) {
		fprintf(stderr, "ingest: generating: %s: %s\n", ld_errname(rc), e.message);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		pe.off[i + 1] = pe.off[i] + codec_size(evs[i]);
	if (!(pe.buf = malloc(pe.off[n] ? pe.off[n] : 1))) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		codec_pack(evs[i], pe.buf + pe.off[i]);
	pe.n = n;
	{
		/* The echo message: a 1-event AppendRequest of the first event
		 * (a MemberJoined, the commonest kind). */
		packed_req pr;
		if ((rc = pack_request(&pr, evs, 1)) != 0)
			goto out;
		msg = pr.buf;
		msglen = pr.len;
	}
	printf("ceiling: LMDB %zu events in transactions of %zu and %zu single-event transactions "
	       "(durable commits) in %s; NNG %zu round trips of %zu bytes with 1 and %u clients "
	       "(threads, then async); %u runs, seed %" PRIu64 ", mean packed event %.0f bytes\n",
	       o->events, o->batch, o->sync_ops, o->data_dir, o->rtt_ops, msglen, o->clients,
	       o->runs, o->seed, n ? (double)pe.off[n] / (double)n : 0);
	fflush(stdout);

	for (unsigned r = 0; r < o->runs; r++) {
		double s_batch = 0, s_single = 0, nng1 = 0, nngn = 0, nnga = 0;
		ceiling_io io = {0}, io1 = {0};
		if ((rc = lmdb_ceiling_io(o->data_dir, &pe, o->events, o->batch, &s_batch, &io)) !=
		        0 ||
		    (rc = lmdb_ceiling_io(o->data_dir, &pe, o->sync_ops, 1, &s_single, &io1)) !=
		        0 ||
		    (rc = nng_ceiling(msg, msglen, 1, o->rtt_ops, 0, &nng1)) != 0 ||
		    (rc = nng_ceiling(msg, msglen, o->clients, o->rtt_ops, 0, &nngn)) != 0 ||
		    (rc = nng_ceiling(msg, msglen, o->clients, o->rtt_ops, 1, &nnga)) != 0)
			goto out;
		v[C_LMDB_BATCH][r] = s_batch > 0 ? (double)o->events / s_batch : 0;
		v[C_LMDB_SINGLE][r] = s_single > 0 ? (double)o->sync_ops / s_single : 0;
		v[C_LMDB_WBYTES][r] = io.wbytes;
		v[C_LMDB_DISK][r] = io.disk;
		v[C_LMDB_FILE][r] = io.file;
		v[C_NNG_1][r] = nng1;
		v[C_NNG_N][r] = nngn;
		v[C_NNG_N_ASYNC][r] = nnga;
		v[C_FOR_BATCH][r] = v[C_LMDB_BATCH][r];
		double single = v[C_LMDB_SINGLE][r];
		v[C_FOR_SEQ][r] = nng1 > 0 && single > 0 ? 1.0 / (1.0 / nng1 + 1.0 / single) : 0;
		double by_commit = single * o->clients;
		v[C_FOR_CONC][r] = nngn < by_commit ? nngn : by_commit;
		v[C_FOR_CONC_ASYNC][r] = nnga < by_commit ? nnga : by_commit;
		printf(
		    "ceiling run %u/%u: LMDB batch %.0f events/s (%.0f commits/s; per event: disk "
		    "took %.0f bytes, data.mdb holds %.0f, write_bytes %.0f) | LMDB single %.0f "
		    "commits/s (disk took %.0f bytes/event) | NNG 1 client %.0f round trips/s "
		    "| NNG %u clients %.0f round trips/s (threads), %.0f (async)\n",
		    r + 1, o->runs, v[C_LMDB_BATCH][r], v[C_LMDB_BATCH][r] / (double)o->batch,
		    io.disk, io.file, io.wbytes, single, io1.disk, nng1, o->clients, nngn, nnga);
		fflush(stdout);
	}
	for (int k = 0; k < C_N; k++) {
		stats s = stats_of(v[k], o->runs);
		printf(
		    "RESULT workload=%s unit=%s median=%.0f min=%.0f max=%.0f runs=%u events=%zu "
		    "batch=%zu clients=%u sync_ops=%zu rtt_ops=%zu msg_bytes=%zu seed=%" PRIu64
		    "\n",
		    names[k], units[k], s.median, s.min, s.max, o->runs, o->events, o->batch,
		    o->clients, o->sync_ops, o->rtt_ops, msglen, o->seed);
	}
out:
	for (int k = 0; k < C_N; k++)
		free(v[k]);
	free(msg);
	free(evs);
	free(pe.off);
	free(pe.buf);
	arena_release(&a);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: ingest --workload batch|concurrent|sequential|ceiling|head [options]\n"
	    "  --url URL          a running ledgerd (default %s)\n"
	    "  --events N         events per run (defaults: batch 500000, concurrent 80000,\n"
	    "                     sequential 5000, ceiling 500000)\n"
	    "  --batch N          events per request (batch) / per transaction (ceiling), 1000\n"
	    "  --clients N        concurrent clients; NNG ceiling clients (16)\n"
	    "  --conns N          connections of the batch workload (4)\n"
	    "  --seed S           seed of the workload (42)\n"
	    "  --runs R           runs (5)\n"
	    "  --data-dir DIR     ceiling: directory for the temporary LMDB env (.)\n"
	    "  --disk-dir DIR     the daemon's data directory: report the bytes its block\n"
	    "                     device took per event (/proc/diskstats after a syncfs;\n"
	    "                     every writer of the device counts)\n"
	    "  --timeout MS       per request (30000)\n"
	    "  --max-seconds S    stop sending after S seconds of a run (0: never)\n"
	    "  --pid PID          the daemon's pid, to report its CPU time per event\n"
	    "  --sync-ops N       ceiling: single-event durable commits per run (1000)\n"
	    "  --rtt-ops N        ceiling: NNG round trips per run (20000)\n"
	    "  --client ldc|async concurrent/sequential: ldc connections, one thread each\n"
	    "                     (default), or asynchronous raw NNG clients (pre-packed)\n",
	    LDC_DEFAULT_URL);
}

int main(int argc, char **argv)
{
	bench_opts o = {
	    .url = LDC_DEFAULT_URL,
	    .wl = WL_HEAD,
	    .batch = 1000,
	    .clients = 16,
	    .conns = 4,
	    .seed = 42,
	    .runs = 5,
	    .data_dir = ".",
	    .timeout_ms = LDC_DEFAULT_TIMEOUT_MS,
	    .sync_ops = 1000,
	    .rtt_ops = 20000,
	};
	const char *wl = NULL;
	int rc;
	static const char *const client_kinds[] = {"ldc", "async", NULL};
	const bench_opt opts[] = {
	    {"url", OPT_STR, &o.url, NULL},
	    {"workload", OPT_STR, &wl, NULL},
	    {"events", OPT_SIZE, &o.events, NULL},
	    {"batch", OPT_SIZE, &o.batch, NULL},
	    {"clients", OPT_UNSIGNED, &o.clients, NULL},
	    {"conns", OPT_UNSIGNED, &o.conns, NULL},
	    {"seed", OPT_U64, &o.seed, NULL},
	    {"runs", OPT_UNSIGNED, &o.runs, NULL},
	    {"data-dir", OPT_STR, &o.data_dir, NULL},
	    {"disk-dir", OPT_STR, &o.disk_dir, NULL},
	    {"timeout", OPT_INT, &o.timeout_ms, NULL},
	    {"max-seconds", OPT_REAL, &o.max_seconds, NULL},
	    {"pid", OPT_LONG, &o.pid, NULL},
	    {"sync-ops", OPT_SIZE, &o.sync_ops, NULL},
	    {"rtt-ops", OPT_SIZE, &o.rtt_ops, NULL},
	    {"client", OPT_CHOICE, &o.async, client_kinds},
	};

	int args = parse_opts("ingest", argc, argv, opts, sizeof(opts) / sizeof(opts[0]), usage);
	int wi = name_index(workload_names, WL_HEAD + 1, wl);
	if (wi >= 0)
		o.wl = (enum workload)wi;
	if (wi < 0 || args != argc || o.batch < 1 || o.batch > 10000 || o.clients < 1 ||
	    o.conns < 1 || o.runs < 1 || o.timeout_ms < 1 || o.clients > 1024 || o.conns > 1024) {
		usage(stderr);
		return 2;
	}
	if (o.events == 0)
		o.events = o.wl == WL_BATCH        ? 500000
		           : o.wl == WL_CONCURRENT ? 80000
		           : o.wl == WL_SEQUENTIAL ? 5000
		                                   : 500000;

	if (o.wl == WL_HEAD) {
		ldc *c = NULL;
		ld_errinfo e = {0};
		uint64_t seq = 0;
		if ((rc = ldc_open(&c, o.url, o.timeout_ms, &e)) == 0)
			rc = daemon_head(c, &seq, &e);
		ldc_close(c);
		if (rc) {
			fprintf(stderr, "ingest: %s: %s: %s\n", o.url, ld_errname(rc), e.message);
			return 1;
		}
		printf("head %" PRIu64 "\n", seq);
		return 0;
	}
	rc = o.wl == WL_CEILING ? bench_ceiling(&o) : bench_daemon(&o);
	return rc == 0 ? 0 : 1;
}
