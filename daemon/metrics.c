/* metrics.c — the Prometheus text exposition of the counters and gauges. See metrics.h. */
#include "metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "build_info.h"
#include "counters.h"
#include "error.h"

/* ------------------------------------------------------------------ */
/* Sources                                                             */
/* ------------------------------------------------------------------ */

static pthread_rwlock_t src_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct {
	metrics_source_fn fn;
	void *arg;
} sources[8];

int metrics_add_source(metrics_source_fn fn, void *arg)
{
	int rc = -1;
	pthread_rwlock_wrlock(&src_lock);
	for (size_t i = 0; i < 8 && rc; i++)
		if (!sources[i].fn) {
			sources[i].fn = fn;
			sources[i].arg = arg;
			rc = 0;
		}
	pthread_rwlock_unlock(&src_lock);
	return rc;
}

void metrics_remove_source(metrics_source_fn fn, void *arg)
{
	pthread_rwlock_wrlock(&src_lock); /* waits for a scrape in a source */
	for (size_t i = 0; i < 8; i++)
		if (sources[i].fn == fn && sources[i].arg == arg)
			sources[i].fn = NULL;
	pthread_rwlock_unlock(&src_lock);
}

/* ------------------------------------------------------------------ */
/* Rendering                                                           */
/* ------------------------------------------------------------------ */

void metrics_printf(metrics_buf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n + 1;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->oom = 1;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
}

static void family(metrics_buf *b, const char *name, const char *type, const char *help)
{
	metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(metrics_buf *b, const char *name, const char *help, double v)
{
	family(b, name, "gauge", help);
	metrics_printf(b, "%s %.17g\n", name, v);
}

static void render_histogram(metrics_buf *b, const char *name, const char *help,
			     const counters_histogram *h, const double *le, size_t n, int seconds)
{
	family(b, name, "histogram", help);
	unsigned long long cum = 0;
	for (size_t i = 0; i <= n; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		if (i < n)
			metrics_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, le[i], cum);
		else
			metrics_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
	}
	unsigned long long sum = atomic_load(&h->sum_micro);
	if (seconds)
		metrics_printf(b, "%s_sum %.6f\n", name, (double)sum / 1e6);
	else
		metrics_printf(b, "%s_sum %llu\n", name, sum);
	/* The count is the +Inf bucket's, so the exposition stays coherent
	 * while other threads observe. */
	metrics_printf(b, "%s_count %llu\n", name, cum);
}

static const char *command_name(int c)
{
	const ProtobufCFieldDescriptor *f =
		c > 0 ? protobuf_c_message_descriptor_get_field(&ledger__request__descriptor,
								(unsigned)c)
		      : NULL;
	return f ? f->name : "undecodable";
}

/* A label value as the exposition format wants it: \\, \" and \n escaped. */
static void label_value(metrics_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			metrics_printf(b, "\\%c", *v);
		else if (*v == '\n')
			metrics_printf(b, "\\n");
		else
			metrics_printf(b, "%c", *v);
	}
}

/*
 * Families with a few fixed labelled samples, one counter each:
 * ledgerd_events_total{outcome="recorded"} and its siblings.
 */
typedef struct labelled_family {
	const char *name, *type, *help, *label;
	struct {
		const char *value;
		size_t counter; /* offsetof(counters, ...) of an atomic_ullong */
	} rows[5];
} labelled_family;

#define ROW(v, field) {v, offsetof(counters, field)}
static const labelled_family events_family = {
    "ledgerd_events_total", "counter",
    "Events of append requests, by outcome (recorded, duplicate, rejected).", "outcome",
    {ROW("recorded", events_accepted), ROW("duplicate", events_duplicate),
     ROW("rejected", events_rejected)}};
static const labelled_family commits_family = {
    "ledgerd_commits_total", "counter", "Write transactions, by result.", "result",
    {ROW("ok", commits_ok), ROW("failed", commits_failed)}};
static const labelled_family backups_family = {
    "ledgerd_backups_total", "counter", "Hot backups, by result.", "result",
    {ROW("ok", backups_ok), ROW("failed", backups_failed)}};
static const labelled_family conns_refused_family = {
    "ledgerd_connections_refused_total", "counter",
    "New connections closed as they came, by the limit they met: the request listeners' "
    "max_conns_per_ip, max_conns_local, max_conns, memory; on any port, the descriptors "
    "kept for the daemon's files.",
    "limit",
    {ROW("address", conns_refused_addr), ROW("local", conns_refused_local),
     ROW("total", conns_refused_total), ROW("memory", conns_refused_memory),
     ROW("descriptors", conns_refused_fds)}};
#undef ROW

static void render_labelled(metrics_buf *b, const counters *m, const labelled_family *f)
{
	family(b, f->name, f->type, f->help);
	for (size_t i = 0; i < 5 && f->rows[i].value; i++) {
		const atomic_ullong *c =
			(const atomic_ullong *)((const char *)m + f->rows[i].counter);
		metrics_printf(b, "%s{%s=\"%s\"} %llu\n", f->name, f->label, f->rows[i].value,
			       (unsigned long long)atomic_load(c));
	}
}

/*
 * Families with one sample per item of a list (a projection, a subscriber):
 * name{LABEL="item's name"} value, the value a field of the item's message
 * read at `field`. The fields' kinds are those of the generated structs.
 */
enum item_kind {
	ITEM_U64,     /* uint64_t, as an integer */
	ITEM_BOOL,    /* protobuf_c_boolean, as 0 or 1 */
	ITEM_MS,      /* int64_t milliseconds, as seconds */
	ITEM_US_TIME, /* int64_t unix microseconds, as seconds */
};

typedef struct item_family {
	const char *name, *type, *help;
	size_t field;
	enum item_kind kind;
} item_family;

#define PROJ(f) offsetof(Ledger__ProjectionInfo, f)
static const item_family projection_families[] = {
    {"ledgerd_projection_checkpoint_seq", "gauge", "Last seq each projection applied.",
     PROJ(checkpoint), ITEM_U64},
    {"ledgerd_projection_lag_events", "gauge",
     "Events in the log a projection has not applied yet.", PROJ(lag_events), ITEM_U64},
    {"ledgerd_projection_lag_seconds", "gauge",
     "Age of the oldest event a projection has not applied (0: caught up).", PROJ(lag_ms),
     ITEM_MS},
    {"ledgerd_projection_stopped", "gauge",
     "1 if a projection stopped on an event it could not apply.", PROJ(stopped), ITEM_BOOL},
    {"ledgerd_projection_flushes_total", "counter",
     "Flushes of a projection's state (with its checkpoint) into LMDB since the start.",
     PROJ(flushes), ITEM_U64},
    {"ledgerd_projection_memory_bytes", "gauge",
     "A projection's state held in memory, as of its last flush.", PROJ(memory_bytes),
     ITEM_U64},
    {"ledgerd_projection_trimmed_bytes_total", "counter",
     "Clean state a projection dropped from memory since the start (read back from LMDB "
     "when needed).",
     PROJ(trimmed_bytes), ITEM_U64},
    {"ledgerd_projection_whole_trims_total", "counter",
     "Times all of a projection's clean state was dropped at once: past projections_memory "
     "at a flush, each a pause of its applying.",
     PROJ(whole_trims), ITEM_U64},
};
#undef PROJ

#define SUB(f) offsetof(Ledger__SubscriberInfo, f)
static const item_family subscriber_families[] = {
    {"ledgerd_subscriber_lag_events", "gauge",
     "Events in the log after the last one a subscriber was given.", SUB(lag_events),
     ITEM_U64},
    {"ledgerd_subscriber_last_seen_seconds", "gauge",
     "When a subscriber last asked for a page (unix time).", SUB(last_seen), ITEM_US_TIME},
    {"ledgerd_subscriber_waiting", "gauge",
     "1 while a long-poll of the subscriber waits for the next commit.", SUB(waiting),
     ITEM_BOOL},
};
#undef SUB

/* Each family of fams[0..nf), each with one sample per item of items[0..n);
 * the label's value is the string at name_field of the item, and label2's
 * (when not NULL) the one at name_field2. */
static void render_items(metrics_buf *b, const item_family *fams, size_t nf, const char *label,
			 void *const *items, size_t n, size_t name_field, const char *label2,
			 size_t name_field2)
{
	for (size_t k = 0; k < nf; k++) {
		const item_family *f = &fams[k];
		family(b, f->name, f->type, f->help);
		for (size_t i = 0; i < n; i++) {
			const char *item = items[i];
			const char *name = *(char *const *)(item + name_field);
			const void *v = item + f->field;
			metrics_printf(b, "%s{%s=\"", f->name, label);
			label_value(b, name ? name : "");
			if (label2) {
				const char *name2 = *(char *const *)(item + name_field2);
				metrics_printf(b, "\",%s=\"", label2);
				label_value(b, name2 ? name2 : "");
			}
			switch (f->kind) {
			case ITEM_U64:
				metrics_printf(b, "\"} %llu\n",
					       (unsigned long long)*(const uint64_t *)v);
				break;
			case ITEM_BOOL:
				metrics_printf(b, "\"} %d\n", *(const protobuf_c_boolean *)v ? 1 : 0);
				break;
			case ITEM_MS:
				metrics_printf(b, "\"} %.3f\n", (double)*(const int64_t *)v / 1e3);
				break;
			case ITEM_US_TIME:
				metrics_printf(b, "\"} %.3f\n", (double)*(const int64_t *)v / 1e6);
				break;
			}
		}
	}
}

static void render_build(metrics_buf *b)
{
	family(b, "ledgerd_build_info", "gauge",
	       "Always 1: the version of ledgerd and of the libraries it was built against.");
	metrics_printf(b, "ledgerd_build_info{version=\"%s\",%s} 1\n", LD_BUILD_VERSION,
		       LD_BUILD_LIBS);
}

/*
 * The process, from /proc/self (the standard process_* families). stat's
 * fields after the command name's closing parenthesis: state is field 3,
 * utime 14, stime 15, num_threads 20, starttime 22, vsize 23, rss 24.
 */
static void render_process(metrics_buf *b)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long long v[25] = {0};
	int got = 0;
	if (p) {
		char *q = (char *)p + 2;
		for (int i = 3; i <= 24 && *q; i++) {
			if (i == 3) { /* state: one character */
				q += 1;
			} else {
				v[i] = strtoull(q, &q, 10);
				got = i;
			}
			while (*q == ' ')
				q++;
		}
	}
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	if (got >= 24 && tick > 0 && page > 0) {
		family(b, "process_cpu_seconds_total", "counter",
		       "User and system CPU time spent, in seconds.");
		metrics_printf(b, "process_cpu_seconds_total %.2f\n",
			       (double)(v[14] + v[15]) / (double)tick);
		gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
		      (double)v[24] * (double)page);
		gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
		      (double)v[23]);
		gauge(b, "process_threads", "Threads of the process.", (double)v[20]);
		/* The boot time (btime in /proc/stat) plus the start in ticks. */
		unsigned long long btime = 0;
		if ((f = fopen("/proc/stat", "r"))) {
			char line[256];
			while (fgets(line, sizeof(line), f))
				if (sscanf(line, "btime %llu", &btime) == 1)
					break;
			fclose(f);
		}
		if (btime)
			gauge(b, "process_start_time_seconds",
			      "Start time of the process since the epoch, in seconds.",
			      (double)btime + (double)v[22] / (double)tick);
	}
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		long fds = -1; /* the directory's own descriptor is listed too */
		struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				fds++;
		closedir(d);
		gauge(b, "process_open_fds", "Open file descriptors.", (double)fds);
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		gauge(b, "process_max_fds", "Most file descriptors the process may open.",
		      (double)rl.rlim_cur);
}

static _Atomic int phase = PHASE_STARTING;

void metrics_set_phase(enum metrics_phase p)
{
	atomic_store(&phase, (int)p);
}

char *metrics_render(store *s, writer *w, runner *r, size_t *len)
{
	metrics_buf b = {0};
	b.cap = 16384;
	if (!(b.data = malloc(b.cap)))
		return NULL;
	b.data[0] = '\0';
	const counters *m = counters_get();

	render_build(&b);
	render_process(&b);
	gauge(&b, "ledgerd_ready",
	      "1 once start-up is complete and until a shutdown begins (as /readyz, without "
	      "its projection check).",
	      atomic_load(&phase) == PHASE_READY ? 1 : 0);

	family(&b, "ledgerd_requests_total", "counter", "Requests received, by command.");
	for (int c = 0; c < COUNTERS_MAX_COMMAND; c++) {
		unsigned long long v = atomic_load(&m->requests[c]);
		if (v || c == LEDGER__REQUEST__COMMAND_APPEND)
			metrics_printf(&b, "ledgerd_requests_total{command=\"%s\"} %llu\n",
				       command_name(c), v);
	}
	render_labelled(&b, m, &events_family);
	family(&b, "ledgerd_errors_total", "counter",
	       "Errors answered (whole requests and single events), by code.");
	for (int c = 1; c < COUNTERS_MAX_CODE; c++) {
		unsigned long long v = atomic_load(&m->errors[c]);
		const char *name = ld_errname(c);
		if (v || (strcmp(name, "ERR_UNKNOWN") != 0 && c <= LEDGER__ERROR_CODE__ERR_INTERNAL))
			metrics_printf(&b, "ledgerd_errors_total{code=\"%s\"} %llu\n", name, v);
	}
	render_labelled(&b, m, &commits_family);
	render_histogram(&b, "ledgerd_append_request_events", "Events per append request.",
			 &m->request_events, counters_size_le, counters_nsize, 0);
	render_histogram(&b, "ledgerd_commit_events", "Events per write transaction (group commit).",
			 &m->commit_events, counters_size_le, counters_nsize, 0);
	render_histogram(&b, "ledgerd_commit_seconds",
			 "Time from the start of a write transaction to the end of its durable "
			 "commit.",
			 &m->commit_seconds, counters_latency_le, counters_nlatency, 1);

	if (w) {
		uint64_t seq;
		int64_t at;
		writer_head(w, &seq, NULL, &at);
		gauge(&b, "ledgerd_log_head_seq", "Seq of the last event in the log.", (double)seq);
		gauge(&b, "ledgerd_log_head_recorded_seconds",
		      "When the last event was recorded (unix time; 0 for an empty log).",
		      (double)at / 1e6);
	}
	if (s) {
		size_t map, used;
		family(&b, "ledgerd_map_size_bytes", "gauge",
		       "Size of the LMDB map (grows by doubling), per environment.");
		store_usage(s, &map, &used);
		metrics_printf(&b, "ledgerd_map_size_bytes{env=\"log\"} %zu\n", map);
		size_t pmap = 0, pused = 0;
		store *ps = r ? runner_store(r) : NULL;
		if (ps) {
			store_usage(ps, &pmap, &pused);
			metrics_printf(&b, "ledgerd_map_size_bytes{env=\"projections\"} %zu\n", pmap);
		}
		family(&b, "ledgerd_map_used_bytes", "gauge",
		       "Bytes of the LMDB map in use (last page), per environment.");
		metrics_printf(&b, "ledgerd_map_used_bytes{env=\"log\"} %zu\n", used);
		if (ps)
			metrics_printf(&b, "ledgerd_map_used_bytes{env=\"projections\"} %zu\n",
				       pused);
	}
	Ledger__ProjectionStatus st;
	if (r && runner_status(r, &st) == 0) {
		render_items(&b, projection_families,
			     sizeof(projection_families) / sizeof(projection_families[0]), "projection",
			     (void *const *)st.projections, st.n_projections,
			     offsetof(Ledger__ProjectionInfo, name), NULL, 0);
		runner_status_free(&st);
	}
	render_labelled(&b, m, &backups_family);
	gauge(&b, "ledgerd_connections", "Connections the request listeners hold (max_conns).",
	      (double)atomic_load(&m->conns_held));
	render_labelled(&b, m, &conns_refused_family);
	family(&b, "ledgerd_descriptors_short_seconds_total", "counter",
	       "Seconds seen with almost no file descriptor free (new connections wait or fail; "
	       "the log says so).");
	metrics_printf(&b, "ledgerd_descriptors_short_seconds_total %llu\n",
		       (unsigned long long)atomic_load(&m->fd_short_seconds));
	gauge(&b, "ledgerd_backup_last_success_seconds",
	      "When the last successful backup finished (unix time; 0: none since start).",
	      (double)atomic_load(&m->backup_last_ok));
	gauge(&b, "ledgerd_backup_last_duration_seconds", "How long the last successful backup took.",
	      (double)atomic_load(&m->backup_last_us) / 1e6);
	gauge(&b, "ledgerd_backup_last_bytes", "Size of the last successful backup's data file.",
	      (double)atomic_load(&m->backup_bytes));

	pthread_rwlock_rdlock(&src_lock);
	for (size_t i = 0; i < 8; i++)
		if (sources[i].fn)
			sources[i].fn(&b, sources[i].arg);
	pthread_rwlock_unlock(&src_lock);

	if (b.oom) {
		free(b.data);
		return NULL;
	}
	*len = b.len;
	return b.data;
}

/* ------------------------------------------------------------------ */
/* Subscribers                                                         */
/* ------------------------------------------------------------------ */

static struct {
	sub_registry *reg;
	writer *w;
} watched;

static void render_subscribers(metrics_buf *b, void *arg)
{
	(void)arg;
	uint64_t head;
	Ledger__SubscriberList l;
	writer_head(watched.w, &head, NULL, NULL);
	if (subreg_list(watched.reg, head, &l) != 0) {
		b->oom = 1;
		return;
	}
	render_items(b, subscriber_families,
		     sizeof(subscriber_families) / sizeof(subscriber_families[0]), "subscriber",
		     (void *const *)l.subscribers, l.n_subscribers,
		     offsetof(Ledger__SubscriberInfo, subscriber_id), "peer",
		     offsetof(Ledger__SubscriberInfo, peer));
	subreg_list_free(&l);
}

int metrics_watch_subscribers(sub_registry *reg, writer *w)
{
	watched.reg = reg;
	watched.w = w;
	return metrics_add_source(render_subscribers, &watched);
}

void metrics_unwatch_subscribers(void)
{
	metrics_remove_source(render_subscribers, &watched);
}

/* ------------------------------------------------------------------ */
/* Health                                                              */
/* ------------------------------------------------------------------ */

int metrics_health(store *s, writer *w, char *buf, size_t n)
{
	store_txn *t;
	int rc = store_read_begin(s, &t);
	if (rc != 0) {
		snprintf(buf, n, "unhealthy: the log cannot be read (%s)\n", ld_strerror(rc));
		return 503;
	}
	store_read_end(t);
	uint64_t head;
	writer_head(w, &head, NULL, NULL);
	snprintf(buf, n, "ok: log head seq %llu\n", (unsigned long long)head);
	return 200;
}

int metrics_readiness(store *s, writer *w, runner *r, char *buf, size_t n)
{
	int p = atomic_load(&phase);
	if (p != PHASE_READY) {
		snprintf(buf, n, "not ready: %s\n",
			 p == PHASE_STARTING ? "starting" : "stopping");
		return 503;
	}
	int status = metrics_health(s, w, buf, n);
	if (status != 200)
		return status;
	Ledger__ProjectionStatus st;
	if (r && runner_status(r, &st) == 0) {
		for (size_t i = 0; i < st.n_projections; i++)
			if (st.projections[i]->stopped) {
				snprintf(buf, n, "not ready: projection '%s' stopped: %s\n",
					 st.projections[i]->name,
					 st.projections[i]->error ? st.projections[i]->error : "");
				status = 503;
				break;
			}
		runner_status_free(&st);
	}
	if (status == 200) {
		uint64_t head;
		writer_head(w, &head, NULL, NULL);
		snprintf(buf, n, "ok: ready, log head seq %llu\n", (unsigned long long)head);
	}
	return status;
}
