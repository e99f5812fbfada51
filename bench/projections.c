/*
 * projections.c — the projection benchmark of ledgerd: rebuild, query and
 * read-your-writes figures, each beside its ceiling on the same machine.
 *
 *   projections --workload replay   --ledgerd PATH --data DIR --url URL  [options]
 *   projections --workload decode   --data DIR                           [options]
 *   projections --workload coverage --url URL                            [options]
 *   projections --workload lag      --url URL --rate EVENTS_PER_S        [options]
 *
 * bench/run.sh fills a fresh log first (ingest --workload batch: the
 * generator of bench.h, one organisation tree) and then runs these:
 *
 *   replay    with that daemon stopped: --runs times, starts PATH --rebuild
 *             on DIR (it throws the projections away) and polls the
 *             `projections` request every --poll-ms until every projection's
 *             checkpoint equals the head, having applied every event of the
 *             log since its start. Events per second from the spawn to the
 *             answer that shows it; then a coverage query must answer as of
 *             the head, and SIGTERM must stop the daemon with status 0.
 *   decode    the ceiling of replay, in-process with the daemon stopped: one
 *             read transaction on DIR's log through the daemon's own store
 *             module, every value unpacked with codec_event_unpack and freed,
 *             nothing applied; and the same walk touching each value without
 *             decoding it (scan). Both read a page cache warm from the runs
 *             before, as replay does.
 *   coverage  coverage of the province root (the first event of the log must
 *             register it: no parent), depth --depth, dues period --period:
 *             --queries sequential queries over one ldc connection, then as
 *             many spread over --clients connections (a thread each), every
 *             query timed by the client. Then the ceiling: the same clients
 *             and the same ldc_call against an in-process REP server that
 *             answers every request at once with the daemon's own answer
 *             bytes (so the same message sizes, and the client's packing and
 *             decoding, are in both figures).
 *   lag       appends paced at --rate events/s: requests of --batch events,
 *             request j sent at t0 + j × batch/rate by sender j % --senders
 *             (each its own connection, one request in flight; a sender that
 *             falls behind sends at once, so the achieved rate shows what the
 *             daemon sustained), for --seconds. For every --sample-every-th
 *             request of a sender whose prober is idle, its prober (its own
 *             connection) asks at once for the member of the request's last
 *             MemberJoined with consistency {min_seq = the request's last
 *             seq, timeout 1000 ms}: read-your-writes latency, from the
 *             append's answer to the query's answer, an upper bound on the
 *             projection lag. Meanwhile a monitor polls `projections` every
 *             --poll-ms and records the largest lag_ms and lag_events.
 *
 * Every answer is checked: no error; the kind of answer asked for; as_of_seq
 * where it must be (the head for queries on an idle log, at least the
 * appended seq for read-your-writes); the member or organisation asked for.
 * Errors are counted, the first message of each kind printed, and a run
 * with any is reported as such (exit status 1).
 *
 * Output: one line per run, then machine-readable lines,
 *   RESULT workload=NAME unit=UNIT median=X min=X max=X key=value...
 * (latencies: p50=, p99=, pmax= each with _min and _max, the median, least
 * and largest of the runs' values), which bench/run.sh turns into the
 * "Projections" table of bench/RESULTS.md. Exit status 0 when every answer
 * checked out, 1 otherwise, 2 on bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench.h"
#include "client.h"
#include "codec.h"
#include "error.h"
#include "store.h"

extern char **environ;

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

/* How long the daemon may take to stop after SIGTERM. */
#define PB_STOP_MS 10000
/* Read-your-writes: how long the daemon may wait for the projections. */
#define PB_RYW_TIMEOUT_MS 1000

#define PB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PB_MAX(a, b) ((a) > (b) ? (a) : (b))

enum workload { WL_REPLAY, WL_DECODE, WL_COVERAGE, WL_LAG };
static const char *const workload_names[] = {"replay", "decode", "coverage", "lag"};

typedef struct pb_opts {
	enum workload wl;
	const char *url;
	const char *ledgerd;  /* replay: the daemon to start */
	const char *data_dir; /* replay, decode: its data directory */
	const char *log_path; /* replay: where the daemon's output goes */
	unsigned runs;
	uint64_t seed;
	unsigned poll_ms;
	double max_replay_s; /* replay: a run that takes longer fails */
	size_t queries;      /* coverage: per run and configuration */
	unsigned clients;    /* coverage: concurrent clients */
	uint32_t depth, period;
	double rate;      /* lag: target events/s */
	size_t batch;     /* lag: events per request */
	unsigned senders; /* lag */
	double seconds;   /* lag: sending time per run */
	unsigned sample_every;
	int timeout_ms;
	long pid; /* lag: the daemon's pid (its CPU, its runner thread's writes) */
} pb_opts;

/* ------------------------------------------------------------------ */
/* Samples and errors                                                  */
/* ------------------------------------------------------------------ */

/* A growing array of latencies in milliseconds. */
typedef struct samples {
	double *v;
	size_t n, cap;
} samples;

/* Appends x; returns 0 or LD_E(INTERNAL) if memory runs out. */
static int samples_add(samples *s, double x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		double *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return LD_E(INTERNAL);
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	return 0;
}

/* Moves every sample of from into to (from is emptied). */
static int samples_merge(samples *to, samples *from)
{
	for (size_t i = 0; i < from->n; i++)
		if (samples_add(to, from->v[i]) != 0)
			return LD_E(INTERNAL);
	from->n = 0;
	return 0;
}

static void samples_free(samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* p50, p99 and the largest of a set of samples (nearest rank: not
 * bench.h's pcts_of, so that the figures stay those reported before). */
typedef struct dist {
	double p50, p99, max;
	size_t n;
} dist;

static dist dist_of(samples *s)
{
	dist d = {0, 0, 0, s->n};
	if (!s->n)
		return d;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	size_t r50 = (s->n * 50 + 99) / 100, r99 = (s->n * 99 + 99) / 100;
	d.p50 = s->v[r50 ? r50 - 1 : 0];
	d.p99 = s->v[r99 ? r99 - 1 : 0];
	d.max = s->v[s->n - 1];
	return d;
}

/* Errors of one kind of answer: how many, and the first message. */
typedef struct errs {
	pthread_mutex_t mu;
	uint64_t n;
	char first[400];
} errs;

static void errs_init(errs *e)
{
	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->mu, NULL);
}

static void errs_destroy(errs *e)
{
	pthread_mutex_destroy(&e->mu);
}

__attribute__((format(printf, 2, 3))) static void errs_note(errs *e, const char *fmt, ...)
{
	pthread_mutex_lock(&e->mu);
	if (!e->n++) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->first, sizeof(e->first), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&e->mu);
}

static void errs_print(const errs *e, const char *what)
{
	if (e->n)
		printf("    %s: %" PRIu64 " error%s, first: %s\n", what, e->n, e->n == 1 ? "" : "s",
		       e->first);
}

/* Sleeps until the monotonic time t (ns). */
static void sleep_until(int64_t t)
{
	struct timespec ts = {(time_t)(t / 1000000000LL), (long)(t % 1000000000LL)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Prints " key=M key_min=L key_max=H" for the values v[0..n-1] (reordered):
 * their median, least and largest, with prec decimals. */
static void print_spread(const char *key, double *v, size_t n, int prec)
{
	stats s = stats_of(v, n);
	printf(" %s=%.*f %s_min=%.*f %s_max=%.*f", key, prec, s.median, key, prec, s.min, key, prec,
	       s.max);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* The `projections` request. */
static int call_projections(ldc *c, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__ProjectionsRequest p = LEDGER__PROJECTIONS_REQUEST__INIT;
	req.command_case = LEDGER__REQUEST__COMMAND_PROJECTIONS;
	req.projections = &p;
	return ldc_call(c, &req, out, e);
}

/* What a `projections` answer says, all projections together. */
typedef struct proj_state {
	uint64_t min_checkpoint, max_checkpoint;
	uint64_t min_applied, max_applied;
	uint64_t max_lag_events;
	int64_t max_lag_ms;
	uint64_t max_flushes; /* flushes of the projections' state since the start */
	/* State dropped to stay within the budget: bytes, summed over the
	 * projections; whole trims, which each projection counts, their most. */
	uint64_t trimmed_bytes, whole_trims;
	unsigned n, stopped;
	char error[300]; /* of the first stopped one */
} proj_state;

/* Asks for the projections' state. 0, or a negative code with e filled
 * (also for an answer that is not a ProjectionStatus). */
static int get_state(ldc *c, proj_state *ps, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	int rc = call_projections(c, &resp, e);
	memset(ps, 0, sizeof(*ps));
	if (rc == 0 && (resp->result_case != LEDGER__RESPONSE__RESULT_PROJECTIONS ||
	                !resp->projections || !resp->projections->n_projections))
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
		                    "the answer to `projections` lists no projection");
	if (rc == 0) {
		const Ledger__ProjectionStatus *st = resp->projections;
		ps->min_checkpoint = ps->min_applied = UINT64_MAX;
		ps->n = (unsigned)st->n_projections;
		for (size_t i = 0; i < st->n_projections; i++) {
			const Ledger__ProjectionInfo *pi = st->projections[i];
			ps->min_checkpoint = PB_MIN(ps->min_checkpoint, pi->checkpoint);
			ps->max_checkpoint = PB_MAX(ps->max_checkpoint, pi->checkpoint);
			ps->min_applied = PB_MIN(ps->min_applied, pi->applied);
			ps->max_applied = PB_MAX(ps->max_applied, pi->applied);
			ps->max_lag_events = PB_MAX(ps->max_lag_events, pi->lag_events);
			ps->max_lag_ms = PB_MAX(ps->max_lag_ms, pi->lag_ms);
			ps->max_flushes = PB_MAX(ps->max_flushes, pi->flushes);
			ps->trimmed_bytes += pi->trimmed_bytes;
			ps->whole_trims = PB_MAX(ps->whole_trims, pi->whole_trims);
			if (pi->stopped && !ps->stopped++)
				snprintf(ps->error, sizeof(ps->error), "%s: %s",
				         pi->name ? pi->name : "?", pi->error ? pi->error : "?");
		}
		if (ps->stopped)
			rc = ld_errinfo_set(e, LD_E(PROJECTION_STOPPED), NULL,
			                    "projection stopped: %s", ps->error);
	}
	codec_response_free(resp);
	return rc;
}

/* Waits (polling every poll_ms, at most timeout_ms) until every projection
 * has applied seq `head`. 0, or a negative code with e filled. */
static int wait_caught_up(ldc *c, uint64_t head, unsigned poll_ms, int timeout_ms, ld_errinfo *e)
{
	int64_t end = mono_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		proj_state ps;
		int rc = get_state(c, &ps, e);
		if (rc)
			return rc;
		if (ps.min_checkpoint >= head)
			return 0;
		if (mono_ns() > end)
			return ld_errinfo_set(e, LD_E(NOT_CAUGHT_UP), NULL,
			                      "the projections are at %" PRIu64 ", not %" PRIu64
			                      " after %d ms",
			                      ps.min_checkpoint, head, timeout_ms);
		nanosleep(&(struct timespec){0, (long)poll_ms * 1000000L}, NULL);
	}
}

/* The province root: the organisation registered by the log's first event,
 * which must be a province federation without parent. */
static int find_root(ldc *c, char *out, size_t n, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	int rc = ldc_get(c, 1, &resp, e);
	if (rc == 0) {
		const Ledger__Event *ev =
		    resp->result_case == LEDGER__RESPONSE__RESULT_EVENT ? resp->event : NULL;
		const Ledger__OrgRegistered *o =
		    ev && ev->body_case == LEDGER__EVENT__BODY_ORG_REGISTERED ? ev->org_registered
		                                                              : NULL;
		if (!o || !o->org_id || ld_has(o->parent_id) ||
		    o->kind != LEDGER__ORG_KIND__FEDERATION_PROVINCE)
			rc = ld_errinfo_set(
			    e, LD_E(INVALID_STATE), NULL,
			    "event 1 does not register a province federation without "
			    "parent: fill the log with `ingest --workload batch` first");
		else
			snprintf(out, n, "%s", o->org_id);
	}
	codec_response_free(resp);
	return rc;
}

/* A coverage request of org at depth and period (pointers into the
 * caller's structures, which must outlive it). */
static void coverage_request(Ledger__Request *req, Ledger__CoverageRequest *q, const char *org,
                             uint32_t depth, uint32_t period)
{
	ledger__request__init(req);
	ledger__coverage_request__init(q);
	q->org_id = (char *)org;
	q->has_depth = 1;
	q->depth = depth;
	q->has_period = period != 0;
	q->period = period;
	req->command_case = LEDGER__REQUEST__COMMAND_COVERAGE;
	req->coverage = q;
}

/* What a coverage answer must be: of `org`, with `norgs` organisations, as
 * of `as_of` (0: any), and with `members` active members under the root
 * (UINT64_MAX: any). */
typedef struct cov_expect {
	const char *org;
	size_t norgs;
	uint64_t as_of;
	uint64_t members;
} cov_expect;

/* Checks a coverage answer (rc and e from ldc_call). 0, or -1 with the
 * reason in why. */
static int check_coverage(int rc, const ld_errinfo *e, const Ledger__Response *resp,
                          const cov_expect *x, char *why, size_t n)
{
	if (rc) {
		snprintf(why, n, "%s: %s", ld_errname(rc), e->message);
		return -1;
	}
	const Ledger__CoverageReport *cr =
	    resp->result_case == LEDGER__RESPONSE__RESULT_COVERAGE ? resp->coverage : NULL;
	if (!cr || cr->n_orgs == 0) {
		snprintf(why, n, "the answer is not a CoverageReport with organisations");
		return -1;
	}
	const Ledger__OrgCoverage *oc = cr->orgs[0];
	if (!oc->org_id || strcmp(oc->org_id, x->org) != 0) {
		snprintf(why, n, "coverage of '%s' asked, '%s' answered", x->org,
		         oc->org_id ? oc->org_id : "");
		return -1;
	}
	if (cr->n_orgs != x->norgs) {
		snprintf(why, n, "%zu organisations answered, %zu expected", cr->n_orgs, x->norgs);
		return -1;
	}
	if (!resp->has_as_of_seq || (x->as_of && resp->as_of_seq != x->as_of)) {
		snprintf(why, n, "as_of_seq %" PRIu64 "%s, expected %" PRIu64, resp->as_of_seq,
		         resp->has_as_of_seq ? "" : " (absent)", x->as_of);
		return -1;
	}
	if (!oc->has_members || (x->members != UINT64_MAX && oc->members != x->members)) {
		snprintf(why, n, "%" PRIu64 " members answered, %" PRIu64 " before", oc->members,
		         x->members);
		return -1;
	}
	return 0;
}

/* Appends evs[0..n-1] atomically and requires every one newly recorded. */
static int append_checked(ldc *c, Ledger__Event **evs, size_t n, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	int rc = ldc_append(c, evs, n, 1, &resp, e);
	if (rc == 0) {
		const Ledger__AppendResult *ar =
		    resp->result_case == LEDGER__RESPONSE__RESULT_APPEND ? resp->append : NULL;
		if (!ar || ar->n_results != n)
			rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
			                    "the answer to an append of %zu events is not an "
			                    "AppendResult of as many",
			                    n);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			const Ledger__EventResult *r = ar->results[i];
			if (r->error)
				rc = ld_errinfo_set(e, -(int)r->error->code, NULL, "event %zu: %s",
				                    i, r->error->message ? r->error->message : "");
			else if (!r->has_seq || !r->seq || (r->has_duplicate && r->duplicate))
				rc = ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
				                    "event %zu was not newly recorded", i);
		}
	}
	codec_response_free(resp);
	return rc;
}

/* Registers a tree: the province, the cities, the unions. */
static int tree_register(ldc *c, org_tree *t, ld_errinfo *e)
{
	int rc;
	if ((rc = append_checked(c, t->events, 1, e)) != 0 ||
	    (rc = append_checked(c, t->events + 1, N_CITIES, e)) != 0 ||
	    (rc = append_checked(c, t->events + 1 + N_CITIES, N_UNIONS, e)) != 0)
		return rc;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Replay                                                              */
/* ------------------------------------------------------------------ */

/* Starts the daemon with --rebuild; its output is appended to log_path. */
static int daemon_spawn(const pb_opts *o, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = {
	    (char *)o->ledgerd, "--data", (char *)o->data_dir, "--listen", (char *)o->url,
	    "--rebuild",        NULL};
	int fd = open(o->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "projections: cannot open '%s': %s\n", o->log_path,
		        strerror(errno));
		return LD_E(INTERNAL);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	int err = posix_spawn(pid, o->ledgerd, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	if (err) {
		fprintf(stderr, "projections: cannot start '%s': %s\n", o->ledgerd, strerror(err));
		return LD_E(INTERNAL);
	}
	return 0;
}

/* Whether pid has exited (reaped; its status in *status). */
static int daemon_exited(pid_t pid, int *status)
{
	return waitpid(pid, status, WNOHANG) == pid;
}

/* Stops the daemon with SIGTERM, then SIGKILL after PB_STOP_MS. 0 if it
 * exited with status 0 in time; otherwise -1 with why filled. */
static int daemon_stop(pid_t pid, char *why, size_t n)
{
	int status = 0;
	kill(pid, SIGTERM);
	int64_t end = mono_ns() + (int64_t)PB_STOP_MS * 1000000;
	while (!daemon_exited(pid, &status)) {
		if (mono_ns() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(why, n, "did not stop within %d ms of SIGTERM, killed",
			         PB_STOP_MS);
			return -1;
		}
		nanosleep(&(struct timespec){0, 10000000L}, NULL);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(why, n, "stopped with %s %d", WIFEXITED(status) ? "exit status" : "signal",
		         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return -1;
	}
	return 0;
}

/* What one rebuild measured. */
enum {
	R_RATE,    /* events/s */
	R_SECONDS, /* from the spawn to the answer showing every projection at the head */
	R_FIRST,   /* from the spawn to the first answer */
	R_CORES,   /* the daemon's CPU time / R_SECONDS */
	R_WBYTES,  /* bytes the daemon caused to be written, per event */
	R_LAG_MS,  /* the largest lag_ms `projections` reported meanwhile */
	R_LAG_EV,  /* ... and lag_events */
	R_CPU_US,  /* the daemon's CPU time per event, µs */
	R_N
};

/* One rebuild: the time from the spawn until a `projections` answer shows
 * every projection at the head, with everything applied since the start.
 * Returns 0 (the run's figures in v[R_N] and *events, errors counted in
 * er), or a negative code when it could not take place. */
static int replay_run(const pb_opts *o, unsigned run, double v[R_N], uint64_t *events, errs *er)
{
	ldc *c = NULL;
	ld_errinfo e = {0};
	pid_t pid = 0;
	int status = 0, rc, up = 0;
	uint64_t head = 0;
	proj_state ps = {0};
	uint64_t lag_ev = 0;
	int64_t lag_ms = 0;
	char why[300];

	int64_t t0 = mono_ns();
	if ((rc = daemon_spawn(o, &pid)) != 0)
		return rc;
	int64_t first = 0, done = 0, deadline = t0 + (int64_t)(o->max_replay_s * 1e9);
	for (;;) {
		if (daemon_exited(pid, &status)) {
			pid = 0;
			rc =
			    ld_errinfo_set(&e, LD_E(UNAVAILABLE), NULL,
			                   "ledgerd exited during the rebuild (status %d); see its "
			                   "log",
			                   status);
			goto out;
		}
		if (mono_ns() > deadline) {
			rc = ld_errinfo_set(&e, LD_E(NOT_CAUGHT_UP), NULL,
			                    "not rebuilt after %.0f s: projections at %" PRIu64
			                    " of %" PRIu64,
			                    o->max_replay_s, ps.min_checkpoint, head);
			goto out;
		}
		if (!up) {
			/* The listener opens after the runner has started: the first
			 * answer says the daemon is up (and gives the head). A fresh
			 * connection per attempt dials at once, where one connection
			 * would retry after NNG's growing back-off. */
			ldc_close(c);
			c = NULL;
			if ((rc = ldc_open(&c, o->url, 20, &e)) != 0)
				goto out;
			if (daemon_head(c, &head, &e) == 0) {
				up = 1;
				first = mono_ns();
				ldc_close(c);
				c = NULL;
				if ((rc = ldc_open(&c, o->url, o->timeout_ms, &e)) != 0)
					goto out;
			} else {
				nanosleep(&(struct timespec){0, 5000000L}, NULL);
			}
			continue;
		}
		if ((rc = get_state(c, &ps, &e)) != 0)
			goto out;
		lag_ev = PB_MAX(lag_ev, ps.max_lag_events);
		lag_ms = PB_MAX(lag_ms, ps.max_lag_ms);
		if (ps.min_checkpoint >= head) {
			done = mono_ns();
			break;
		}
		nanosleep(&(struct timespec){0, (long)o->poll_ms * 1000000L}, NULL);
	}
	double cpu = proc_cpu_seconds(pid), wb = proc_write_bytes(pid);
	v[R_SECONDS] = (double)(done - t0) / 1e9;
	v[R_RATE] = (double)head / v[R_SECONDS];
	v[R_FIRST] = (double)(first - t0) / 1e9;
	v[R_CORES] = cpu >= 0 ? cpu / v[R_SECONDS] : -1;
	v[R_WBYTES] = wb >= 0 && head ? wb / (double)head : -1;
	v[R_LAG_MS] = (double)lag_ms;
	v[R_LAG_EV] = (double)lag_ev;
	v[R_CPU_US] = cpu >= 0 && head ? cpu * 1e6 / (double)head : -1;
	*events = head;
	/* A rebuild applies the whole log: each projection from 0. */
	if (ps.max_checkpoint != head || ps.min_applied != head || ps.max_applied != head)
		errs_note(er,
		          "run %u: checkpoints %" PRIu64 "–%" PRIu64 ", applied %" PRIu64
		          "–%" PRIu64 " since the start, head %" PRIu64
		          ": not rebuilt from scratch",
		          run + 1, ps.min_checkpoint, ps.max_checkpoint, ps.min_applied,
		          ps.max_applied, head);
	/* ... and answers as of the head. */
	char root[LD_ID_MAX + 1];
	if (find_root(c, root, sizeof(root), &e) == 0) {
		Ledger__Request req;
		Ledger__CoverageRequest q;
		Ledger__Response *resp = NULL;
		coverage_request(&req, &q, root, 0, 0);
		int qrc = ldc_call(c, &req, &resp, &e);
		cov_expect x = {root, 1, head, UINT64_MAX};
		if (check_coverage(qrc, &e, resp, &x, why, sizeof(why)) != 0)
			errs_note(er, "run %u: coverage after the rebuild: %s", run + 1, why);
		codec_response_free(resp);
	} else {
		errs_note(er, "run %u: %s", run + 1, e.message);
	}
	printf("replay run %u/%u: %" PRIu64 " events rebuilt in %.3f s = %.0f events/s (first "
	       "answer after %.3f s; daemon CPU %.2f cores = %.2f us/event, %.0f bytes written "
	       "per event; "
	       "meanwhile `projections` said lag_events up to %" PRIu64 ", lag_ms up to %" PRId64
	       ")\n",
	       run + 1, o->runs, head, v[R_SECONDS], v[R_RATE], v[R_FIRST], v[R_CORES], v[R_CPU_US],
	       v[R_WBYTES],
	       lag_ev, lag_ms);
	fflush(stdout);
out:
	ldc_close(c);
	if (pid > 0 && daemon_stop(pid, why, sizeof(why)) != 0)
		errs_note(er, "run %u: ledgerd %s", run + 1, why);
	if (rc) {
		errs_note(er, "run %u: %s: %s", run + 1, ld_errname(rc), e.message);
		fprintf(stderr, "projections: replay run %u: %s: %s\n", run + 1, ld_errname(rc),
		        e.message);
	}
	return rc;
}

/* Whether something already answers on url: then a rebuild cannot be
 * timed there. */
static int url_taken(const char *url)
{
	ldc *c = NULL;
	ld_errinfo e = {0};
	uint64_t head;
	int taken = ldc_open(&c, url, 300, &e) == 0 && daemon_head(c, &head, &e) == 0;
	ldc_close(c);
	return taken;
}

static int bench_replay(const pb_opts *o)
{
	static const char *const keys[R_N] = {"rate",        "seconds", "first_answer_s", "cores",
	                                      "write_bytes", "lag_ms",  "lag_events", "cpu_us"};
	double *v[R_N] = {0};
	errs er;
	unsigned done = 0;
	uint64_t events = 0;
	int rc = 0;

	errs_init(&er);
	for (int k = 0; k < R_N; k++)
		if (!(v[k] = calloc(o->runs, sizeof(double)))) {
			rc = LD_E(INTERNAL);
			goto out;
		}
	printf("replay: %u runs of '%s --rebuild' on %s, polling `projections` every %u ms\n",
	       o->runs, o->ledgerd, o->data_dir, o->poll_ms);
	fflush(stdout);
	if (url_taken(o->url)) {
		fprintf(stderr, "projections: something already answers on '%s': stop it first\n",
		        o->url);
		rc = LD_E(UNAVAILABLE);
		goto out;
	}
	for (unsigned r = 0; r < o->runs; r++) {
		double run_v[R_N];
		if ((rc = replay_run(o, r, run_v, &events, &er)) != 0)
			break;
		for (int k = 0; k < R_N; k++)
			v[k][done] = run_v[k];
		done++;
	}
	errs_print(&er, "replay");
	stats s = stats_of(v[R_RATE], done);
	printf("RESULT workload=replay unit=events/s median=%.0f min=%.0f max=%.0f runs=%u "
	       "events=%" PRIu64 " poll_ms=%u errors=%" PRIu64,
	       s.median, s.min, s.max, done, events, o->poll_ms, er.n + (done < o->runs));
	for (int k = R_SECONDS; k < R_N; k++)
		print_spread(keys[k], v[k], done, k == R_WBYTES || k == R_LAG_MS || k == R_LAG_EV ? 0 : 3);
	printf("\n");
	rc = rc || er.n || done < o->runs;
out:
	for (int k = 0; k < R_N; k++)
		free(v[k]);
	errs_destroy(&er);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Decode: the ceiling of replay                                       */
/* ------------------------------------------------------------------ */

/* What the walk without decoding reads, kept so that it is not optimised
 * away. */
static volatile uint8_t walk_sink;

/*
 * Walks the whole log of s in one read transaction; with `decode` unpacks
 * and frees every event (checking that its seq is its key), without it
 * sums one byte of each value so that every value is read. The events
 * walked into *n, the time into *seconds. 0 or a negative code.
 */
static int log_walk(store *s, int decode, uint64_t *n, double *seconds, ld_errinfo *e)
{
	store_txn *t = NULL;
	store_cursor *c = NULL;
	store_val k, v;
	uint8_t key[8];
	uint64_t expect = 1;
	uint8_t sum = 0;
	int rc;

	int64_t t0 = mono_ns();
	if ((rc = store_read_begin(s, &t)) != 0 || (rc = store_cursor_open(t, DB_LOG, &c)) != 0)
		goto out;
	ld_put_be64(key, 1);
	for (rc = store_cursor_seek(c, key, 8, &k, &v); rc == 0;
	     rc = store_cursor_next(c, &k, &v), expect++) {
		uint64_t seq = ld_get_be64(k.data);
		if (seq != expect) {
			rc = ld_errinfo_set(e, LD_E(STORAGE), NULL,
			                    "seq %" PRIu64 " after %" PRIu64, seq, expect - 1);
			goto out;
		}
		if (!decode) {
			sum ^= v.len ? ((const uint8_t *)v.data)[v.len - 1] : 0;
			continue;
		}
		Ledger__Event *ev = codec_event_unpack(v.data, v.len);
		if (!ev || ev->seq != seq) {
			rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, "event %" PRIu64 " %s", seq,
			                    ev ? "has another seq" : "does not decode");
			codec_event_free(ev);
			goto out;
		}
		codec_event_free(ev);
	}
	if (rc == LD_E(NOT_FOUND))
		rc = 0;
	*n = expect - 1;
	*seconds = (double)(mono_ns() - t0) / 1e9;
	walk_sink ^= sum;
out:
	store_cursor_close(c);
	store_read_end(t);
	if (rc && !e->code)
		ld_errinfo_set(e, rc, NULL, "reading the log: %s", ld_strerror(rc));
	return rc;
}

static int bench_decode(const pb_opts *o)
{
	store *s = NULL;
	store_options so = {.dir = o->data_dir};
	double *dec = calloc(o->runs, sizeof(double)), *scan = calloc(o->runs, sizeof(double));
	ld_errinfo e = {0};
	uint64_t n = 0;
	int rc;

	if (!dec || !scan) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	if ((rc = store_open(&s, &so, &e)) != 0)
		goto out;
	printf("decode: the log of %s walked in one read transaction, %u runs\n", o->data_dir,
	       o->runs);
	for (unsigned r = 0; r < o->runs; r++) {
		double sd = 0, ss = 0;
		uint64_t n2 = 0;
		if ((rc = log_walk(s, 0, &n2, &ss, &e)) != 0 || (rc = log_walk(s, 1, &n, &sd, &e)))
			goto out;
		scan[r] = (double)n2 / ss;
		dec[r] = (double)n / sd;
		printf("decode run %u/%u: %" PRIu64
		       " events: walk %.3f s = %.0f events/s, walk and "
		       "unpack %.3f s = %.0f events/s\n",
		       r + 1, o->runs, n, ss, scan[r], sd, dec[r]);
		fflush(stdout);
	}
	stats sd = stats_of(dec, o->runs), ss = stats_of(scan, o->runs);
	printf("RESULT workload=decode unit=events/s median=%.0f min=%.0f max=%.0f runs=%u "
	       "events=%" PRIu64 "\n",
	       sd.median, sd.min, sd.max, o->runs, n);
	printf("RESULT workload=scan unit=events/s median=%.0f min=%.0f max=%.0f runs=%u "
	       "events=%" PRIu64 "\n",
	       ss.median, ss.min, ss.max, o->runs, n);
out:
	if (rc)
		fprintf(stderr, "projections: decode: %s: %s\n", ld_errname(rc), e.message);
	store_close(s);
	free(dec);
	free(scan);
	return rc ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Coverage queries                                                    */
/* ------------------------------------------------------------------ */

/* A client of the query runs: its own connection and thread. */
typedef struct qclient {
	pthread_t tid;
	const char *url;
	const cov_expect *x;
	uint32_t depth, period;
	size_t n;
	int timeout_ms;
	gate *g;
	samples lat;
	errs *er;
} qclient;

/* Opens a connection, checks one query before the gate (so connecting is
 * not timed), then times n queries, each checked. */
static void *qclient_main(void *arg)
{
	qclient *q = arg;
	ldc *c = NULL;
	ld_errinfo e = {0};
	Ledger__Request req;
	Ledger__CoverageRequest cq;
	Ledger__Response *resp = NULL;
	char why[400];
	int rc;

	coverage_request(&req, &cq, q->x->org, q->depth, q->period);
	if ((rc = ldc_open(&c, q->url, q->timeout_ms, &e)) == 0) {
		rc = ldc_call(c, &req, &resp, &e);
		if (check_coverage(rc, &e, resp, q->x, why, sizeof(why)) != 0) {
			errs_note(q->er, "first query: %s", why);
			rc = -1;
		}
		codec_response_free(resp);
	} else {
		errs_note(q->er, "%s", e.message);
	}
	if (gate_wait(q->g))
		rc = -1;
	for (size_t i = 0; rc == 0 && i < q->n; i++) {
		resp = NULL;
		int64_t t0 = mono_ns();
		int qrc = ldc_call(c, &req, &resp, &e);
		int64_t t1 = mono_ns();
		if (check_coverage(qrc, &e, resp, q->x, why, sizeof(why)) != 0)
			errs_note(q->er, "%s", why);
		else if (samples_add(&q->lat, (double)(t1 - t0) / 1e6) != 0)
			rc = LD_E(INTERNAL);
		codec_response_free(resp);
		if (qrc == LD_E(UNAVAILABLE))
			break;
	}
	ldc_close(c);
	return NULL;
}

/* n queries spread over `clients` clients started together. The latencies
 * into *all, the queries answered per second into *qps. */
static int query_run(const pb_opts *o, const char *url, const cov_expect *x, unsigned clients,
                     size_t n, samples *all, double *qps, errs *er)
{
	qclient *qs = calloc(clients, sizeof(*qs));
	gate g;
	unsigned created = 0;
	int rc = 0;

	if (!qs)
		return LD_E(INTERNAL);
	gate_init(&g);
	for (unsigned i = 0; i < clients; i++) {
		qs[i] = (qclient){.url = url,
		                  .x = x,
		                  .depth = o->depth,
		                  .period = o->period,
		                  .n = n / clients + (i < n % clients),
		                  .timeout_ms = o->timeout_ms,
		                  .g = &g,
		                  .er = er};
	}
	for (; created < clients; created++)
		if (pthread_create(&qs[created].tid, NULL, qclient_main, &qs[created]) != 0)
			break;
	gate_open(&g, created, created < clients);
	int64_t t0 = mono_ns();
	size_t answered = 0;
	for (unsigned i = 0; i < created; i++) {
		pthread_join(qs[i].tid, NULL);
		answered += qs[i].lat.n;
	}
	double secs = (double)(mono_ns() - t0) / 1e9;
	*qps = secs > 0 ? (double)answered / secs : 0;
	if (created < clients) {
		fprintf(stderr, "projections: cannot start client thread %u\n", created);
		rc = LD_E(INTERNAL);
	}
	for (unsigned i = 0; i < created; i++) {
		if (!rc)
			rc = samples_merge(all, &qs[i].lat);
		samples_free(&qs[i].lat);
	}
	gate_destroy(&g);
	free(qs);
	return rc;
}

enum { Q_SEQ, Q_CONC, Q_CEIL_SEQ, Q_CEIL_CONC, Q_N };

static int bench_coverage(const pb_opts *o)
{
	static const char *const names[Q_N] = {"coverage-1", "coverage-n", "ceiling-query-1",
	                                       "ceiling-query-n"};
	ldc *c = NULL;
	ld_errinfo e = {0};
	char root[LD_ID_MAX + 1];
	uint64_t head = 0;
	Ledger__Request req;
	Ledger__CoverageRequest cq;
	Ledger__Response *resp = NULL;
	uint8_t *reply = NULL;
	size_t reply_len = 0, req_len = 0;
	rep_server fs = {0};
	double *v[Q_N][4] = {{0}}; /* p50, p99, max, qps per run */
	errs er[Q_N];
	char why[400];
	int rc;

	for (int k = 0; k < Q_N; k++) {
		errs_init(&er[k]);
		for (int m = 0; m < 4; m++)
			if (!(v[k][m] = calloc(o->runs, sizeof(double)))) {
				rc = LD_E(INTERNAL);
				goto out;
			}
	}
	if ((rc = ldc_open(&c, o->url, o->timeout_ms, &e)) != 0 ||
	    (rc = daemon_head(c, &head, &e)) != 0 ||
	    (rc = wait_caught_up(c, head, o->poll_ms, 120000, &e)) != 0 ||
	    (rc = find_root(c, root, sizeof(root), &e)) != 0)
		goto out;
	/* The reference answer: every later one must be the same. */
	coverage_request(&req, &cq, root, o->depth, o->period);
	req_len = codec_size(&req);
	if ((rc = ldc_call(c, &req, &resp, &e)) != 0)
		goto out;
	cov_expect x = {root, 0, head, 0};
	x.norgs = resp->result_case == LEDGER__RESPONSE__RESULT_COVERAGE && resp->coverage
	              ? resp->coverage->n_orgs
	              : 0;
	x.members = x.norgs && resp->coverage->orgs[0]->has_members
	                ? resp->coverage->orgs[0]->members
	                : UINT64_MAX;
	if (check_coverage(0, &e, resp, &x, why, sizeof(why)) != 0 || x.norgs == 0 ||
	    x.members == 0) {
		rc = ld_errinfo_set(&e, LD_E(INVALID_STATE), NULL,
		                    "the reference coverage answer is not usable: %s",
		                    x.members == 0 ? "no members" : why);
		goto out;
	}
	reply_len = codec_size(resp);
	if (!(reply = malloc(reply_len))) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	codec_pack(resp, reply);
	printf("coverage: root '%s' at depth %u, period %u, %zu organisations, %" PRIu64
	       " members, as of %" PRIu64 " (the head); request %zu bytes, answer %zu bytes; "
	       "%zu queries per run sequentially and over %u clients, %u runs\n",
	       root, o->depth, o->period, x.norgs, x.members, head, req_len, reply_len, o->queries,
	       o->clients, o->runs);
	fflush(stdout);
	ldc_close(c);
	c = NULL;

	for (unsigned r = 0; r < o->runs; r++) {
		for (int k = 0; k < Q_N; k++) {
			int ceil = k == Q_CEIL_SEQ || k == Q_CEIL_CONC;
			unsigned clients = k == Q_SEQ || k == Q_CEIL_SEQ ? 1 : o->clients;
			samples all = {0};
			double qps = 0;
			/* The ceiling's server answers every request with the
			 * daemon's answer bytes. */
			int nrv = 0;
			if (ceil && (rc = rep_start(&fs, o->clients + 1, 0, reply, reply_len,
			                            &nrv)) != 0) {
				if (nrv)
					fprintf(stderr, "projections: ceiling server: %s\n",
					        nng_strerror(nrv));
				goto out;
			}
			rc = query_run(o, ceil ? fs.url : o->url, &x, clients, o->queries, &all,
			               &qps, &er[k]);
			if (ceil)
				rep_stop(&fs);
			if (rc) {
				samples_free(&all);
				goto out;
			}
			dist d = dist_of(&all);
			v[k][0][r] = d.p50;
			v[k][1][r] = d.p99;
			v[k][2][r] = d.max;
			v[k][3][r] = qps;
			printf(
			    "%s run %u/%u: %u client%s, %zu answers checked: p50 %.3f ms, p99 %.3f "
			    "ms, max %.3f ms; %.0f queries/s; errors %" PRIu64 "\n",
			    names[k], r + 1, o->runs, clients, clients == 1 ? "" : "s", d.n, d.p50,
			    d.p99, d.max, qps, er[k].n);
			fflush(stdout);
			samples_free(&all);
		}
	}
	for (int k = 0; k < Q_N; k++) {
		errs_print(&er[k], names[k]);
		stats s = stats_of(v[k][1], o->runs);
		printf("RESULT workload=%s unit=ms median=%.3f min=%.3f max=%.3f runs=%u "
		       "queries=%zu clients=%u events=%" PRIu64 " root=%s depth=%u req_bytes=%zu "
		       "answer_bytes=%zu errors=%" PRIu64,
		       names[k], s.median, s.min, s.max, o->runs, o->queries,
		       k == Q_SEQ || k == Q_CEIL_SEQ ? 1 : o->clients, head, root, o->depth,
		       req_len, reply_len, er[k].n);
		print_spread("p50", v[k][0], o->runs, 3);
		print_spread("p99", v[k][1], o->runs, 3);
		print_spread("pmax", v[k][2], o->runs, 3);
		print_spread("qps", v[k][3], o->runs, 0);
		printf("\n");
	}
	for (int k = 0; k < Q_N; k++)
		if (er[k].n)
			rc = 1;
out:
	if (rc < 0)
		fprintf(stderr, "projections: coverage: %s: %s\n", ld_errname(rc), e.message);
	codec_response_free(resp);
	ldc_close(c);
	free(reply);
	for (int k = 0; k < Q_N; k++) {
		errs_destroy(&er[k]);
		for (int m = 0; m < 4; m++)
			free(v[k][m]);
	}
	return rc ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Lag under paced ingest                                              */
/* ------------------------------------------------------------------ */

/* A request handed from a sender to its prober: a single slot, so a busy
 * prober makes the sender skip the sample instead of queueing it. */
typedef struct probe_slot {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int full, stop;
	uint64_t seq;      /* the request's last seq */
	uint64_t join_seq; /* seq of the member's join in it */
	int64_t replied;   /* when the append was answered (ns) */
	const char *member;
} probe_slot;

typedef struct lag_sender {
	pthread_t tid, prober;
	const pb_opts *o;
	unsigned idx;
	packed_req *reqs;
	size_t nreq;
	int *join_at;      /* per request: index of its last MemberJoined, -1 if none */
	const int64_t *t0; /* the schedule's start, set before the gate opens */
	int64_t interval_ns, end_ns;
	gate *g;
	/* results */
	uint64_t accepted, busy, late, skipped;
	int64_t last_reply;
	samples append_ms, ryw_ms;
	errs *append_er, *probe_er;
	uint64_t not_caught_up;
	probe_slot slot;
	int started, prober_started;
} lag_sender;

/* Tells s's prober that no more requests come. */
static void lag_slot_stop(lag_sender *s)
{
	pthread_mutex_lock(&s->slot.mu);
	s->slot.stop = 1;
	pthread_cond_signal(&s->slot.cv);
	pthread_mutex_unlock(&s->slot.mu);
}

/* Checks an append answer of pr: every event newly recorded. Its last seq
 * and the seq of event `at` into *last and *at_seq. */
static int check_append(const Ledger__Response *resp, const packed_req *pr, int at, uint64_t *last,
                        uint64_t *at_seq, char *why, size_t n)
{
	if (resp->error) {
		snprintf(why, n, "%s: %s", ld_errname((int)resp->error->code),
		         resp->error->message ? resp->error->message : "");
		return -1;
	}
	const Ledger__AppendResult *ar =
	    resp->result_case == LEDGER__RESPONSE__RESULT_APPEND ? resp->append : NULL;
	if (!ar || ar->n_results != pr->n) {
		snprintf(why, n, "not an AppendResult of %zu results", pr->n);
		return -1;
	}
	*last = 0;
	for (size_t i = 0; i < pr->n; i++) {
		const Ledger__EventResult *r = ar->results[i];
		if (r->error || !r->has_seq || !r->seq || (r->has_duplicate && r->duplicate)) {
			snprintf(why, n, "event %zu of %zu (%s): %s %s", i, pr->n,
			         codec_event_type_name((int)pr->events[i]->body_case),
			         r->error ? ld_errname((int)r->error->code) : "not newly recorded",
			         r->error && r->error->message ? r->error->message : "");
			return -1;
		}
		if (r->seq > *last)
			*last = r->seq;
		if ((int)i == at)
			*at_seq = r->seq;
	}
	return 0;
}

/* The prober: for each request handed over, a get_member of its member
 * with read-your-writes on the request's last seq. */
static void *lag_prober(void *arg)
{
	lag_sender *s = arg;
	ldc *c = NULL;
	ld_errinfo e = {0};
	Ledger__Response *resp = NULL;
	int rc = ldc_open(&c, s->o->url, s->o->timeout_ms, &e);
	if (rc == 0) {
		uint64_t h;
		rc = daemon_head(c, &h, &e);
	}
	if (rc)
		errs_note(s->probe_er, "prober: %s", e.message);
	if (gate_wait(s->g))
		rc = -1;
	for (;;) {
		pthread_mutex_lock(&s->slot.mu);
		while (!s->slot.full && !s->slot.stop)
			pthread_cond_wait(&s->slot.cv, &s->slot.mu);
		if (!s->slot.full) {
			pthread_mutex_unlock(&s->slot.mu);
			break;
		}
		probe_slot p = s->slot;
		pthread_mutex_unlock(&s->slot.mu);
		if (rc == 0) {
			Ledger__Request req = LEDGER__REQUEST__INIT;
			Ledger__GetMemberRequest g = LEDGER__GET_MEMBER_REQUEST__INIT;
			Ledger__Consistency cons = LEDGER__CONSISTENCY__INIT;
			cons.has_min_seq = cons.has_timeout_ms = 1;
			cons.min_seq = p.seq;
			cons.timeout_ms = PB_RYW_TIMEOUT_MS;
			g.member_id = (char *)p.member;
			g.consistency = &cons;
			req.command_case = LEDGER__REQUEST__COMMAND_GET_MEMBER;
			req.get_member = &g;
			int qrc = ldc_call(c, &req, &resp, &e);
			int64_t t1 = mono_ns();
			const Ledger__MemberView *m =
			    qrc == 0 && resp->result_case == LEDGER__RESPONSE__RESULT_MEMBER
			        ? resp->member
			        : NULL;
			if (qrc == LD_E(NOT_CAUGHT_UP)) {
				s->not_caught_up++;
				errs_note(s->probe_er, "seq %" PRIu64 ": %s", p.seq, e.message);
			} else if (qrc) {
				errs_note(s->probe_er, "member %s at seq %" PRIu64 ": %s: %s",
				          p.member, p.seq, ld_errname(qrc), e.message);
			} else if (!m || !m->member_id || strcmp(m->member_id, p.member) != 0) {
				errs_note(s->probe_er,
				          "member %s: the answer is not its MemberView", p.member);
			} else if (!resp->has_as_of_seq || resp->as_of_seq < p.seq) {
				errs_note(s->probe_er,
				          "member %s: as_of_seq %" PRIu64 " below min_seq %" PRIu64,
				          p.member, resp->as_of_seq, p.seq);
			} else if (m->last_seq < p.join_seq) {
				errs_note(s->probe_er,
				          "member %s: last_seq %" PRIu64
				          " before its join at %" PRIu64 " (as of %" PRIu64 ")",
				          p.member, m->last_seq, p.join_seq, resp->as_of_seq);
			} else {
				(void)samples_add(&s->ryw_ms, (double)(t1 - p.replied) / 1e6);
			}
			codec_response_free(resp);
			resp = NULL;
		}
		pthread_mutex_lock(&s->slot.mu);
		s->slot.full = 0;
		pthread_mutex_unlock(&s->slot.mu);
	}
	ldc_close(c);
	return NULL;
}

/* A sender: its requests at their times, one in flight, on its own raw
 * REQ socket (the requests are packed before the clock). */
static void *lag_send(void *arg)
{
	lag_sender *s = arg;
	nng_socket sk = NNG_SOCKET_INITIALIZER;
	char why[400];
	int nrv;

	if ((nrv = req_dial(&sk, s->o->url, s->o->timeout_ms)) != 0)
		errs_note(s->append_er, "cannot connect to '%s': %s", s->o->url, nng_strerror(nrv));
	if (gate_wait(s->g) && nrv == 0)
		nrv = NNG_ECANCELED;
	for (size_t b = 0; nrv == 0 && b < s->nreq; b++) {
		const packed_req *pr = &s->reqs[b];
		int64_t due = *s->t0 + (int64_t)(s->idx + b * s->o->senders) * s->interval_ns;
		int64_t now = mono_ns();
		if (due >= s->end_ns || now >= s->end_ns)
			break;
		if (now < due)
			sleep_until(due);
		else if (now - due > 1000000)
			s->late++;
		Ledger__Response *resp = NULL;
		size_t alen;
		int64_t t_send = mono_ns();
		if ((nrv = req_call(sk, pr, -1, &resp, &alen, &s->busy)) != 0)
			errs_note(s->append_er, "request failed: %s", nng_strerror(nrv));
		int64_t t_reply = mono_ns();
		if (nrv)
			break;
		uint64_t last = 0, join_seq = 0;
		if (!resp) {
			errs_note(s->append_er, "the answer is not a ledger.Response");
		} else if (check_append(resp, pr, s->join_at[b], &last, &join_seq, why,
		                        sizeof(why)) != 0) {
			errs_note(s->append_er, "%s", why);
		} else {
			s->accepted += pr->n;
			s->last_reply = t_reply;
			(void)samples_add(&s->append_ms, (double)(t_reply - t_send) / 1e6);
			if (b % s->o->sample_every == 0 && s->join_at[b] >= 0) {
				pthread_mutex_lock(&s->slot.mu);
				if (s->slot.full) {
					s->skipped++;
				} else {
					const Ledger__Event *ev = pr->events[s->join_at[b]];
					s->slot.full = 1;
					s->slot.seq = last;
					s->slot.join_seq = join_seq;
					s->slot.replied = t_reply;
					s->slot.member = ev->member_joined->member_id;
					pthread_cond_signal(&s->slot.cv);
				}
				pthread_mutex_unlock(&s->slot.mu);
			}
		}
		codec_response_free(resp);
	}
	if (nng_socket_id(sk) > 0)
		nng_close(sk);
	lag_slot_stop(s);
	return NULL;
}

/* The monitor: `projections` every poll_ms until *stop. */
typedef struct lag_monitor {
	pthread_t tid;
	const pb_opts *o;
	gate *g;
	int stop; /* atomic */
	samples lag_ms, lag_events;
	errs *er;
} lag_monitor;

static void *lag_watch(void *arg)
{
	lag_monitor *m = arg;
	ldc *c = NULL;
	ld_errinfo e = {0};
	int rc = ldc_open(&c, m->o->url, m->o->timeout_ms, &e);
	if (rc)
		errs_note(m->er, "monitor: %s", e.message);
	if (gate_wait(m->g))
		rc = -1;
	int64_t next = mono_ns();
	while (rc == 0 && !__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE)) {
		proj_state ps;
		if (get_state(c, &ps, &e) != 0) {
			errs_note(m->er, "%s: %s", ld_errname(e.code), e.message);
		} else {
			(void)samples_add(&m->lag_ms, (double)ps.max_lag_ms);
			(void)samples_add(&m->lag_events, (double)ps.max_lag_events);
		}
		next += (int64_t)m->o->poll_ms * 1000000;
		sleep_until(next);
	}
	ldc_close(c);
	return NULL;
}

/* What one lag run measured. */
typedef struct lag_result {
	double achieved, late_pct, drain_ms;
	dist ryw, append, mon_ms, mon_events;
	uint64_t accepted, skipped, not_caught_up, busy;
	/* The projections' side: their flushes (from `projections`); with
	 * --pid, the daemon's CPU per event, and the runner's threads' (named
	 * ld-runner and ld-flush) CPU per event and bytes written per flush. */
	double flushes, events_per_flush, flush_bytes, runner_cpu_us, daemon_cpu_us;
	/* Its state dropped to stay within projections_memory: MB, and the
	 * times all of it went at once (each a pause). */
	double trimmed_mb, whole_trims;
} lag_result;

/* What the projections' side has done so far. */
typedef struct proj_cost {
	uint64_t flushes, trimmed_bytes, whole_trims;
	double daemon_cpu, runner_cpu, runner_wchar; /* negative: unknown */
} proj_cost;

static int proj_cost_now(ldc *c, const pb_opts *o, proj_cost *pc, ld_errinfo *e)
{
	proj_state ps;
	int rc = get_state(c, &ps, e);
	pc->flushes = ps.max_flushes;
	pc->trimmed_bytes = ps.trimmed_bytes;
	pc->whole_trims = ps.whole_trims;
	pc->daemon_cpu = pc->runner_cpu = pc->runner_wchar = -1;
	if (o->pid > 0) {
		/* The runner's loop and its flusher, which writes the flushes. */
		long tid = thread_named(o->pid, "ld-runner"), ftid = thread_named(o->pid, "ld-flush");
		pc->daemon_cpu = proc_cpu_seconds(o->pid);
		if (tid > 0) {
			pc->runner_cpu = thread_cpu_seconds(o->pid, tid);
			pc->runner_wchar = thread_wchar(o->pid, tid);
		}
		if (tid > 0 && ftid > 0) {
			pc->runner_cpu += thread_cpu_seconds(o->pid, ftid);
			pc->runner_wchar += thread_wchar(o->pid, ftid);
		}
	}
	return rc;
}

static int lag_run(const pb_opts *o, unsigned run, lag_result *res, errs *append_er, errs *probe_er,
                   errs *mon_er)
{
	arena a = {0};
	ldc *c = NULL;
	ld_errinfo e = {0};
	org_tree tree;
	lag_sender *ss = NULL;
	lag_monitor mon = {0};
	gate g;
	int64_t t0 = 0;
	uint64_t head0 = 0, head1 = 0;
	proj_cost cost0, cost1;
	size_t mix[K_NKINDS] = {0};
	char ns[32];
	int rc;
	unsigned K = o->senders;

	memset(res, 0, sizeof(*res));
	gate_init(&g);
	if ((rc = ldc_open(&c, o->url, o->timeout_ms, &e)) != 0 ||
	    (rc = daemon_head(c, &head0, &e)) != 0)
		goto out;
	snprintf(ns, sizeof(ns), "L%" PRIu64, head0);
	uint64_t ns_head = head0; /* head0 is read again after the tree */
	if ((rc = orgs_build(&tree, &a, ns)) != 0 || (rc = tree_register(c, &tree, &e)) != 0 ||
	    (rc = daemon_head(c, &head0, &e)) != 0 ||
	    (rc = wait_caught_up(c, head0, o->poll_ms, 60000, &e)) != 0)
		goto out;

	/* The requests: rate × seconds events, request j to sender j % K. */
	size_t nreq_all = (size_t)(o->rate * o->seconds / (double)o->batch + 0.5);
	if (nreq_all < K)
		nreq_all = K;
	if (!(ss = calloc(K, sizeof(*ss)))) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	int64_t gen0 = mono_ns();
	for (unsigned p = 0; p < K; p++) {
		lag_sender *s = &ss[p];
		s->o = o;
		s->idx = p;
		s->nreq = nreq_all / K + (p < nreq_all % K);
		s->t0 = &t0;
		s->interval_ns = (int64_t)((double)o->batch / o->rate * 1e9);
		s->append_er = append_er;
		s->probe_er = probe_er;
		pthread_mutex_init(&s->slot.mu, NULL);
		pthread_cond_init(&s->slot.cv, NULL);
		size_t n = s->nreq * o->batch;
		Ledger__Event **evs = arena_alloc(&a, (n ? n : 1) * sizeof(*evs));
		s->reqs = calloc(s->nreq ? s->nreq : 1, sizeof(*s->reqs));
		s->join_at = calloc(s->nreq ? s->nreq : 1, sizeof(*s->join_at));
		if (!evs || !s->reqs || !s->join_at) {
			rc = LD_E(INTERNAL);
			goto out;
		}
		if ((rc = gen_stream_events(&a, &tree, ns, ns_head, o->seed, run, p, K, n, evs, mix,
		                            &e)) != 0)
			goto out;
		for (size_t b = 0; b < s->nreq; b++) {
			if ((rc = pack_request(&s->reqs[b], evs + b * o->batch, o->batch)) != 0)
				goto out;
			s->join_at[b] = -1;
			for (size_t i = 0; i < o->batch; i++)
				if (evs[b * o->batch + i]->body_case ==
				    LEDGER__EVENT__BODY_MEMBER_JOINED)
					s->join_at[b] = (int)i;
		}
	}
	double gen_s = (double)(mono_ns() - gen0) / 1e9;

	/* Senders, probers and the monitor wait at the gate until all are
	 * connected; the schedule starts just after it opens. */
	unsigned threads = 0, wanted = 2 * K + 1;
	int mon_started = 0;
	mon.o = o;
	mon.g = &g;
	mon.er = mon_er;
	for (unsigned p = 0; p < K; p++)
		ss[p].g = &g;
	if (pthread_create(&mon.tid, NULL, lag_watch, &mon) == 0) {
		mon_started = 1;
		threads++;
	}
	for (unsigned p = 0; p < K; p++) {
		if (pthread_create(&ss[p].tid, NULL, lag_send, &ss[p]) != 0)
			break;
		ss[p].started = 1;
		threads++;
		if (pthread_create(&ss[p].prober, NULL, lag_prober, &ss[p]) != 0)
			break;
		ss[p].prober_started = 1;
		threads++;
	}
	if ((rc = proj_cost_now(c, o, &cost0, &e)) != 0)
		goto out;
	t0 = mono_ns() + 2000000; /* senders wait for their first slot */
	for (unsigned p = 0; p < K; p++)
		ss[p].end_ns = t0 + (int64_t)(o->seconds * 1e9);
	gate_open(&g, threads, threads < wanted);
	for (unsigned p = 0; p < K; p++) {
		if (ss[p].started)
			pthread_join(ss[p].tid, NULL);
		else
			lag_slot_stop(&ss[p]);
		if (ss[p].prober_started)
			pthread_join(ss[p].prober, NULL);
	}
	int64_t t_last = t0;
	for (unsigned p = 0; p < K; p++)
		if (ss[p].last_reply > t_last)
			t_last = ss[p].last_reply;
	__atomic_store_n(&mon.stop, 1, __ATOMIC_RELEASE);
	if (mon_started)
		pthread_join(mon.tid, NULL);
	if (threads < wanted) {
		rc = ld_errinfo_set(&e, LD_E(INTERNAL), NULL, "cannot start the run's threads");
		goto out;
	}

	/* The projections catch up; the log holds what was accepted. */
	int64_t d0 = mono_ns();
	if ((rc = daemon_head(c, &head1, &e)) != 0 ||
	    (rc = wait_caught_up(c, head1, 5, 60000, &e)) != 0)
		goto out;
	res->drain_ms = (double)(mono_ns() - d0) / 1e6;
	if ((rc = proj_cost_now(c, o, &cost1, &e)) != 0)
		goto out;

	samples ryw = {0}, app = {0};
	uint64_t sent_reqs = 0, late = 0;
	for (unsigned p = 0; p < K; p++) {
		lag_sender *s = &ss[p];
		res->accepted += s->accepted;
		res->skipped += s->skipped;
		res->not_caught_up += s->not_caught_up;
		res->busy += s->busy;
		late += s->late;
		sent_reqs += s->append_ms.n;
		samples_merge(&ryw, &s->ryw_ms);
		samples_merge(&app, &s->append_ms);
	}
	res->late_pct = sent_reqs ? 100.0 * (double)late / (double)sent_reqs : 0;
	res->achieved = t_last > t0 ? (double)res->accepted / ((double)(t_last - t0) / 1e9) : 0;
	res->ryw = dist_of(&ryw);
	res->append = dist_of(&app);
	res->mon_ms = dist_of(&mon.lag_ms);
	res->mon_events = dist_of(&mon.lag_events);
	uint64_t nflush = cost1.flushes - cost0.flushes, nev = head1 - head0;
	res->flushes = (double)nflush;
	res->trimmed_mb = (double)(cost1.trimmed_bytes - cost0.trimmed_bytes) / 1e6;
	res->whole_trims = (double)(cost1.whole_trims - cost0.whole_trims);
	res->events_per_flush = nflush ? (double)nev / (double)nflush : 0;
	res->flush_bytes = nflush && cost0.runner_wchar >= 0 && cost1.runner_wchar >= 0
				   ? (cost1.runner_wchar - cost0.runner_wchar) / (double)nflush
				   : -1;
	res->runner_cpu_us = nev && cost0.runner_cpu >= 0 && cost1.runner_cpu >= 0
				     ? (cost1.runner_cpu - cost0.runner_cpu) * 1e6 / (double)nev
				     : -1;
	res->daemon_cpu_us = nev && cost0.daemon_cpu >= 0 && cost1.daemon_cpu >= 0
				     ? (cost1.daemon_cpu - cost0.daemon_cpu) * 1e6 / (double)nev
				     : -1;
	samples_free(&ryw);
	samples_free(&app);
	if (head1 - head0 != res->accepted)
		errs_note(append_er,
		          "run %u: the head moved by %" PRIu64 ", %" PRIu64 " events were accepted",
		          run + 1, head1 - head0, res->accepted);
	printf("lag run %u/%u: target %.0f events/s, achieved %.0f (%" PRIu64
	       " events; %.1f%% of requests sent > 1 ms late; busy %" PRIu64 ") | append p50 "
	       "%.2f p99 %.2f ms | read-your-writes p50 %.2f p99 %.2f max %.2f ms (%zu samples, "
	       "%" PRIu64 " skipped: prober busy) | lag_ms polled p50 %.0f p99 %.0f max %.0f, "
	       "lag_events max %.0f | caught up %.0f ms after the last append | projections: "
	       "%.0f flushes, %.1f events per flush, %.0f bytes (%.1f pages) written per flush, "
	       "runner CPU %.1f us/event, daemon CPU %.1f us/event, %.1f MB of state trimmed "
	       "(%.0f times all at once) | generated in %.1f s\n",
	       run + 1, o->runs, o->rate, res->achieved, res->accepted, res->late_pct, res->busy,
	       res->append.p50, res->append.p99, res->ryw.p50, res->ryw.p99, res->ryw.max,
	       res->ryw.n, res->skipped, res->mon_ms.p50, res->mon_ms.p99, res->mon_ms.max,
	       res->mon_events.max, res->drain_ms, res->flushes, res->events_per_flush,
	       res->flush_bytes, res->flush_bytes / 4096, res->runner_cpu_us, res->daemon_cpu_us,
	       res->trimmed_mb, res->whole_trims, gen_s);
	fflush(stdout);
out:
	if (rc)
		fprintf(stderr, "projections: lag run %u: %s: %s\n", run + 1, ld_errname(rc),
		        e.message);
	if (ss)
		for (unsigned p = 0; p < K; p++) {
			for (size_t b = 0; ss[p].reqs && b < ss[p].nreq; b++)
				free(ss[p].reqs[b].buf);
			free(ss[p].reqs);
			free(ss[p].join_at);
			samples_free(&ss[p].append_ms);
			samples_free(&ss[p].ryw_ms);
			pthread_mutex_destroy(&ss[p].slot.mu);
			pthread_cond_destroy(&ss[p].slot.cv);
		}
	free(ss);
	samples_free(&mon.lag_ms);
	samples_free(&mon.lag_events);
	gate_destroy(&g);
	ldc_close(c);
	arena_release(&a);
	return rc;
}

enum {
	L_RATE,
	L_RYW50,
	L_RYW99,
	L_RYWMAX,
	L_APP50,
	L_APP99,
	L_MON50,
	L_MON99,
	L_MONMAX,
	L_MONEV,
	L_DRAIN,
	L_LATE,
	L_FLUSHES,
	L_EVFLUSH,
	L_FLUSHB,
	L_RCPU,
	L_DCPU,
	L_TRIMMB,
	L_WHOLE,
	L_N
};

static int bench_lag(const pb_opts *o)
{
	static const char *const keys[L_N] = {
	    "rate",       "ryw_p50",    "ryw_p99",    "ryw_max",    "append_p50", "append_p99",
	    "lag_ms_p50", "lag_ms_p99", "lag_ms_max", "lag_ev_max", "drain_ms",   "late_pct",
	    "flushes",    "events_per_flush", "flush_bytes", "runner_cpu_us", "daemon_cpu_us",
	    "trimmed_mb", "whole_trims"};
	double *v[L_N] = {0};
	errs ae, pe, me;
	uint64_t samples_n = 0, skipped = 0, ncu = 0, accepted = 0;
	unsigned done = 0;
	int rc = 0;

	errs_init(&ae);
	errs_init(&pe);
	errs_init(&me);
	for (int k = 0; k < L_N; k++)
		if (!(v[k] = calloc(o->runs, sizeof(double)))) {
			rc = LD_E(INTERNAL);
			goto out;
		}
	printf("lag: target %.0f events/s in requests of %zu events (one every %.3f ms) from %u "
	       "senders, %.1f s per run, read-your-writes probed on every %u-th request of a "
	       "sender, `projections` polled every %u ms, %u runs, seed %" PRIu64 ", url %s\n",
	       o->rate, o->batch, (double)o->batch / o->rate * 1e3, o->senders, o->seconds,
	       o->sample_every, o->poll_ms, o->runs, o->seed, o->url);
	fflush(stdout);
	for (unsigned r = 0; r < o->runs; r++) {
		lag_result res;
		if ((rc = lag_run(o, r, &res, &ae, &pe, &me)) != 0)
			break;
		double vals[L_N] = {res.achieved,       res.ryw.p50,    res.ryw.p99,
		                    res.ryw.max,        res.append.p50, res.append.p99,
		                    res.mon_ms.p50,     res.mon_ms.p99, res.mon_ms.max,
		                    res.mon_events.max, res.drain_ms,   res.late_pct,
		                    res.flushes,        res.events_per_flush, res.flush_bytes,
		                    res.runner_cpu_us,  res.daemon_cpu_us, res.trimmed_mb,
		                    res.whole_trims};
		for (int k = 0; k < L_N; k++)
			v[k][done] = vals[k];
		samples_n += res.ryw.n;
		skipped += res.skipped;
		ncu += res.not_caught_up;
		accepted += res.accepted;
		done++;
	}
	errs_print(&ae, "appends");
	errs_print(&pe, "read-your-writes queries");
	errs_print(&me, "monitor");
	stats s = stats_of(v[L_RYW99], done);
	printf("RESULT workload=lag unit=ms median=%.3f min=%.3f max=%.3f runs=%u target=%.0f "
	       "batch=%zu senders=%u seconds=%.1f accepted=%" PRIu64 " samples=%" PRIu64
	       " skipped=%" PRIu64 " not_caught_up=%" PRIu64 " errors=%" PRIu64 " seed=%" PRIu64,
	       s.median, s.min, s.max, done, o->rate, o->batch, o->senders, o->seconds, accepted,
	       samples_n, skipped, ncu, ae.n + pe.n + me.n + (done < o->runs), o->seed);
	for (int k = 0; k < L_N; k++)
		print_spread(keys[k], v[k], done,
			     k == L_RATE || k == L_FLUSHES || k == L_FLUSHB ? 0 : 3);
	printf("\n");
	rc = rc || ae.n || pe.n || me.n || done < o->runs;
out:
	for (int k = 0; k < L_N; k++)
		free(v[k]);
	errs_destroy(&ae);
	errs_destroy(&pe);
	errs_destroy(&me);
	return rc ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: projections --workload replay|decode|coverage|lag [options]\n"
	        "  --url URL          ledgerd (default %s); replay: the address it is started on\n"
	        "  --ledgerd PATH     replay: the daemon binary\n"
	        "  --data DIR         replay, decode: the data directory (daemon stopped)\n"
	        "  --log FILE         replay: the daemon's output is appended there (/dev/null)\n"
	        "  --runs R           runs (3)\n"
	        "  --seed S           seed of the lag workload (42)\n"
	        "  --poll-ms MS       `projections` polling interval (20)\n"
	        "  --max-replay-s S   replay: a rebuild that takes longer fails (300)\n"
	        "  --queries N        coverage: queries per run and configuration (10000)\n"
	        "  --clients N        coverage: concurrent clients (16)\n"
	        "  --depth D          coverage: levels below the root (0)\n"
	        "  --period YYYYMM    coverage: dues period (202609, the generator's last month)\n"
	        "  --rate R           lag: target events/s (100000)\n"
	        "  --batch N          lag: events per request (100)\n"
	        "  --senders N        lag: connections sending, one request in flight each (4)\n"
	        "  --seconds S        lag: sending time per run (4)\n"
	        "  --sample-every N   lag: probe every N-th request of a sender (1)\n"
	        "  --timeout MS       per request (30000)\n"
	        "  --pid PID          lag: the daemon's pid, for its CPU per event and its runner\n"
	        "                     thread's CPU and bytes written per flush\n",
	        LDC_DEFAULT_URL);
}

int main(int argc, char **argv)
{
	pb_opts o = {
	    .url = LDC_DEFAULT_URL,
	    .log_path = "/dev/null",
	    .runs = 3,
	    .seed = 42,
	    .poll_ms = 20,
	    .max_replay_s = 300,
	    .queries = 10000,
	    .clients = 16,
	    .depth = 0,
	    .period = 202609,
	    .rate = 100000,
	    .batch = 100,
	    .senders = 4,
	    .seconds = 4,
	    .sample_every = 1,
	    .timeout_ms = LDC_DEFAULT_TIMEOUT_MS,
	};
	const char *wl = NULL;
	const bench_opt opts[] = {
	    {"workload", OPT_STR, &wl, NULL},
	    {"url", OPT_STR, &o.url, NULL},
	    {"ledgerd", OPT_STR, &o.ledgerd, NULL},
	    {"data", OPT_STR, &o.data_dir, NULL},
	    {"log", OPT_STR, &o.log_path, NULL},
	    {"runs", OPT_UNSIGNED, &o.runs, NULL},
	    {"seed", OPT_U64, &o.seed, NULL},
	    {"poll-ms", OPT_UNSIGNED, &o.poll_ms, NULL},
	    {"max-replay-s", OPT_NUM, &o.max_replay_s, NULL},
	    {"queries", OPT_SIZE, &o.queries, NULL},
	    {"clients", OPT_UNSIGNED, &o.clients, NULL},
	    {"depth", OPT_U32, &o.depth, NULL},
	    {"period", OPT_U32, &o.period, NULL},
	    {"rate", OPT_NUM, &o.rate, NULL},
	    {"batch", OPT_SIZE, &o.batch, NULL},
	    {"senders", OPT_UNSIGNED, &o.senders, NULL},
	    {"seconds", OPT_REAL, &o.seconds, NULL},
	    {"sample-every", OPT_UNSIGNED, &o.sample_every, NULL},
	    {"timeout", OPT_INT, &o.timeout_ms, NULL},
	    {"pid", OPT_LONG, &o.pid, NULL},
	};

	int args =
	    parse_opts("projections", argc, argv, opts, sizeof(opts) / sizeof(opts[0]), usage);
	int wi = name_index(workload_names, WL_LAG + 1, wl);
	if (wi >= 0)
		o.wl = (enum workload)wi;
	if (wi < 0 || args != argc || o.runs < 1 || o.poll_ms < 1 || o.clients < 1 ||
	    o.clients > 1024 || o.queries < o.clients || o.rate < 1 || o.batch < 1 ||
	    o.batch > 10000 || o.senders < 1 || o.senders > 256 || o.seconds <= 0 ||
	    o.sample_every < 1 || o.timeout_ms < 1 ||
	    ((o.wl == WL_REPLAY || o.wl == WL_DECODE) && !o.data_dir) ||
	    (o.wl == WL_REPLAY && !o.ledgerd)) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	switch (o.wl) {
	case WL_REPLAY:
		return bench_replay(&o) ? 1 : 0;
	case WL_DECODE:
		return bench_decode(&o);
	case WL_COVERAGE:
		return bench_coverage(&o);
	case WL_LAG:
		return bench_lag(&o);
	}
	return 2;
}
