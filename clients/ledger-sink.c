/*
 * ledger-sink — a long-running subscriber that loads the event stream into
 * SQLite or PostgreSQL for analysts (clients/sink.h has the tables,
 * docs/SINK.md the schema and example queries).
 *
 * It reads its checkpoint from the database, subscribes after it (long-poll
 * when caught up), and loads each batch of events, the views they change and
 * the new checkpoint in one transaction (clients/sink_load.h): killed at any
 * moment and restarted, it gives the same database as an uninterrupted run.
 * When the ledger goes away it commits what it has and retries until it is
 * back. When PostgreSQL goes away (a restart, a terminated backend) it
 * reconnects with backoff and resumes from the checkpoint the database holds.
 * A full disk on the database's side stops it (exit status 3) with the
 * checkpoint of the last good commit.
 *
 * A fetcher thread reads pages ahead, so that the daemon's reading and
 * sending of the next page overlaps the loading of this one. It is stopped by
 * asking, never by closing its socket under a request in flight: NNG 1.5.2
 * can leak the request's message when its socket is closed while a call is in
 * flight, so long-polls are kept to FOLLOW_WAIT_MS and a stop waits for the
 * call in progress to end.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "i18n.h"
#include "sink.h"
#include "sink_load.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_FULL = 3 };

#define DEFAULT_SOURCE  "ledger"
#define CALL_TIMEOUT_MS 10000 /* per request to the ledger */
#define FOLLOW_WAIT_MS  1000  /* long-poll when caught up: also the longest a stop waits */
#define BACKOFF_MAX_MS  30000 /* between attempts to reach PostgreSQL */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
	        _("usage: ledger-sink [OPTIONS] TARGET\n"
	        "\n"
	        "Loads the ledger's events into TARGET for analysts and keeps following it.\n"
	        "TARGET is a SQLite file path (created if missing) or a PostgreSQL connection\n"
	        "string (\"postgresql://user@host:port/db\" or \"host=... dbname=...\").\n"
	        "Tables (docs/SINK.md): events and corrections as recorded; organisations,\n"
	        "org_tree, members (one row per member), memberships, affiliations, transfers,\n"
	        "dues, services, activities, funds, stations and workforce as in effect after\n"
	        "voids and amendments; sink_checkpoint.\n"
	        "\n"
	        "  --url URL        the ledger (default $LEDGER_URL, else %s)\n"
	        "  --source NAME    the name of this ledger in TARGET's `source` columns, so that\n"
	        "                   several ledgers load into one database       [%s]\n"
	        "  --id ID          subscriber id shown by 'ledgerctl subscribers' [ledger-sink]\n"
	        "  --batch N        events per database transaction, at most       [200000]\n"
	        "  --once           stop (exit 0) once caught up with the head\n"
	        "  --give-up S      with --once, stop (exit 1) once the ledger, or the database,\n"
	        "                   has not answered for S seconds; without --once they are\n"
	        "                   waited for                                       [60]\n"
	        "  --quiet          no progress on stderr (errors only)\n"
	        "  --migrate        rebuild the tables of an older ledger-sink from its events\n"
	        "  --tz ZONE        the ledger's time zone (default $LEDGER_TZ, else Asia/Shanghai)\n"
	        "  -h, --help       this text\n"
	        "  -V, --version    the version\n"
	        "\n"
	        "While catching up it shows a progress bar (a line every 10 s when stderr is not\n"
	        "a terminal); once caught up, a line a minute at most, and only when events came.\n"
	        "\n"
	        "Exit status: 0 stopped (SIGINT/SIGTERM, or --once caught up), 1 error,\n"
	        "2 usage, 3 the database's disk is full (the checkpoint is intact: free space\n"
	        "and start it again).\n"),
	        LDC_DEFAULT_URL, DEFAULT_SOURCE);
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* Sleeps ms in small steps, returning early on a stop request. */
static void nap(int ms)
{
	for (int left = ms; left > 0 && !stop_requested; left -= 100)
		sleep_ms(left < 100 ? left : 100);
}

/* ------------------------------------------------------------------ */
/* What it says on stderr                                               */
/* ------------------------------------------------------------------ */

#define RATE_SAMPLES 24

typedef struct progress {
	int quiet, tty, live, bar, once;
	double started, last_draw, minute_at, caught_up_at;
	uint64_t start_seq, minute_seq, minute_events, caught_up_seq;
	struct {
		double t;
		uint64_t seq;
	} s[RATE_SAMPLES]; /* recent (time, seq): the rate of the last seconds */
	int ns, next;
	const char *what; /* "loading", "migrating" */
} progress;

static progress prog;

static void bar_clear(void)
{
	if (prog.bar) {
		fputs("\r\033[K", stderr);
		prog.bar = 0;
	}
}

/* A line on stderr, over the progress bar if one is drawn. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	bar_clear();
	fputs("ledger-sink: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void progress_start(const char *what, uint64_t seq)
{
	prog.what = what;
	prog.live = 0;
	prog.started = prog.last_draw = mono_s();
	prog.start_seq = seq;
	prog.ns = prog.next = 0;
}

static double rate_now(double now, uint64_t seq)
{
	int oldest = prog.ns < RATE_SAMPLES ? 0 : prog.next;
	if (!prog.ns || now - prog.s[oldest].t < 0.5)
		return now - prog.started > 0.5
		           ? (double)(seq - prog.start_seq) / (now - prog.started)
		           : 0;
	return (double)(seq - prog.s[oldest].seq) / (now - prog.s[oldest].t);
}

static void fmt_count(uint64_t n, char *out, size_t cap)
{
	char digits[32];
	int len = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n), k = 0;
	size_t o = 0;
	for (int i = 0; i < len && o + 2 < cap; i++) {
		out[o++] = digits[i];
		k = len - i - 1;
		if (k && k % 3 == 0)
			out[o++] = ',';
	}
	out[o] = 0;
}

static void fmt_eta(double secs, char *out, size_t cap)
{
	long s = secs > 0 && secs < 1e7 ? (long)(secs + 0.5) : -1;
	if (s < 0)
		snprintf(out, cap, "--:--");
	else if (s >= 3600)
		snprintf(out, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(out, cap, "%ld:%02ld", s / 60, s % 60);
}

/* Says that it caught up (progress_page noted it), after the commit and the
 * analysts' indexes: when this is said, the database has it all and the sink
 * holds no lock. */
static void progress_caught_up(void)
{
	if (prog.quiet || !prog.caught_up_at)
		return;
	double secs = prog.caught_up_at - prog.started;
	uint64_t seq = prog.caught_up_seq, n = seq - prog.start_seq;
	if (!n)
		say(_("up to date at seq %llu%s"), (unsigned long long)seq,
		    prog.once ? "" : _("; following"));
	else
		say(_("caught up at seq %llu: %llu events in %.1f s (%.0f/s)%s"),
		    (unsigned long long)seq, (unsigned long long)n, secs,
		    secs > 0 ? (double)n / secs : 0.0, prog.once ? "" : _("; following"));
	prog.caught_up_at = 0;
}

/* After a page: seq is the last event loaded, head the ledger's; n events. */
static void progress_page(uint64_t seq, uint64_t head, size_t n)
{
	double now = mono_s();
	if (prog.quiet)
		return;
	if (!prog.ns || now - prog.s[(prog.next + RATE_SAMPLES - 1) % RATE_SAMPLES].t >= 0.5) {
		prog.s[prog.next].t = now;
		prog.s[prog.next].seq = seq;
		prog.next = (prog.next + 1) % RATE_SAMPLES;
		if (prog.ns < RATE_SAMPLES)
			prog.ns++;
	}
	uint64_t lag = head > seq ? head - seq : 0;
	if (prog.live) {
		prog.minute_events += n;
		if (lag > 100000) { /* far behind again (a big import): show it */
			progress_start(prog.what, seq);
			return;
		}
		if (now - prog.minute_at >= 60) {
			if (prog.minute_events)
				say(_("at seq %llu: %llu events in the last minute"),
				    (unsigned long long)seq,
				    (unsigned long long)prog.minute_events);
			prog.minute_at = now;
			prog.minute_events = 0;
		}
		return;
	}
	double rate = rate_now(now, seq);
	if (lag == 0) { /* said by progress_caught_up, once it is committed */
		bar_clear();
		prog.live = 1;
		prog.caught_up_at = now;
		prog.caught_up_seq = seq;
		prog.minute_at = now;
		prog.minute_events = 0;
		return;
	}
	char done[32], all[32], eta[48];
	fmt_count(seq, done, sizeof(done));
	fmt_count(head, all, sizeof(all));
	fmt_eta(rate > 0 ? (double)lag / rate : -1, eta, sizeof(eta));
	double frac = head ? (double)seq / (double)head : 0;
	if (prog.tty) {
		if (now - prog.last_draw < 0.2 && prog.bar)
			return;
		char bar[31];
		int full = (int)(frac * 30);
		for (int i = 0; i < 30; i++)
			bar[i] = i < full ? '#' : '-';
		bar[30] = 0;
		fputc('\r', stderr);
		fprintf(stderr, _("ledger-sink %s [%s] %s / %s events  %.1fk/s  ETA %s"),
		        _(prog.what), bar, done, all, rate / 1000, eta);
		fputs("\033[K", stderr);
		fflush(stderr);
		prog.bar = 1;
		prog.last_draw = now;
	} else if (now - prog.last_draw >= 10) {
		say(_("%s: %s of %s events (%.0f%%), %.0f/s, %s left"), _(prog.what), done, all,
		    frac * 100, rate, eta);
		prog.last_draw = now;
	}
}

/* ------------------------------------------------------------------ */
/* The fetcher                                                          */
/* ------------------------------------------------------------------ */

#define SLOTS 3

typedef struct slot {
	ldc_page page;
	int rc;
	ld_errinfo e;
} slot;

typedef struct fetcher {
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	slot slots[SLOTS];
	int head, count; /* slots[head] is the next to load; count are ready */
	int stop;        /* asked to stop, or stopped on a fatal error */
	int done;        /* --once: it delivered a caught-up page and asks no more */
	int once, running;
	ldc *conn;
	ldc_subscription sub;
	uint64_t after;
} fetcher;

static void *fetch_main(void *arg)
{
	fetcher *f = arg;
	int caught_up = 0, failed = 0;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (f->count == SLOTS && !f->stop)
			pthread_cond_wait(&f->cond, &f->lock);
		if (f->stop || f->done)
			break;
		slot *sl = &f->slots[(f->head + f->count) % SLOTS];
		pthread_mutex_unlock(&f->lock);
		if (failed)
			sleep_ms(200); /* the daemon is away: retry, gently */
		f->sub.wait_ms = caught_up ? FOLLOW_WAIT_MS : 0;
		double t0 = mono_s();
		sl->rc = ldc_subscribe(f->conn, &f->sub, f->after, &sl->page, &sl->e);
		failed = sl->rc != 0;
		if (sl->rc == 0) {
			f->after = sl->page.next_seq - 1;
			/* A caught-up request the daemon could not park (too many
			 * waiters) comes back at once and empty: do not spin. */
			if (caught_up && !sl->page.n && mono_s() - t0 < 0.1)
				sleep_ms(100);
			caught_up = f->after >= sl->page.head_seq;
		}
		pthread_mutex_lock(&f->lock);
		f->count++;
		pthread_cond_broadcast(&f->cond);
		if (sl->rc && sl->rc != LD_E(UNAVAILABLE))
			f->stop = 1; /* fatal: the loader reports it */
		if (sl->rc == 0 && caught_up && f->once)
			f->done = 1;
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static int fetch_start(fetcher *f, ldc *conn, const char *id, uint32_t max_events, uint64_t after,
                       int once)
{
	f->conn = conn;
	f->after = after;
	f->once = once;
	f->head = f->count = f->stop = f->done = 0;
	f->sub = (ldc_subscription){.subscriber_id = id, .max_events = max_events};
	if (pthread_create(&f->th, NULL, fetch_main, f) != 0)
		return -1;
	f->running = 1;
	return 0;
}

/* The next slot, or NULL when a signal asks to stop or --once is done. */
static slot *fetch_next(fetcher *f)
{
	slot *sl = NULL;
	pthread_mutex_lock(&f->lock);
	while (!f->count && !stop_requested && !f->done) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f->cond, &f->lock, &ts);
	}
	if (f->count)
		sl = &f->slots[f->head];
	pthread_mutex_unlock(&f->lock);
	return sl;
}

/* The slot from fetch_next is loaded: hand it back. */
static void fetch_release(fetcher *f)
{
	pthread_mutex_lock(&f->lock);
	f->head = (f->head + 1) % SLOTS;
	f->count--;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Asks the thread to stop and waits for its call in flight to end (at most
 * FOLLOW_WAIT_MS while the ledger answers, CALL_TIMEOUT_MS while it does
 * not). */
static void fetch_stop(fetcher *f)
{
	if (!f->running)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->th, NULL);
	f->running = 0;
	for (int i = 0; i < SLOTS; i++)
		ldc_page_free(&f->slots[i].page);
}

/* ------------------------------------------------------------------ */
/* A session: one connection to the database                           */
/* ------------------------------------------------------------------ */

typedef struct options {
	const char *url, *id, *source, *target;
	long batch;
	long give_up; /* --once: seconds without the ledger before stopping */
	int once, quiet, migrate;
} options;

typedef struct session {
	const options *o;
	const sink_ops *ops;
	sink *s;
	sink_loader *l;
	ldc *conn;
	fetcher *f;
	uint64_t loaded;      /* events committed, over the whole run */
	int committed_any;    /* in this session */
	int reconnects;       /* sessions ended by a lost connection */
	uint64_t analyzed_at; /* the checkpoint when statistics were last refreshed */
} session;

/* An error of the database: its message, and the exit status it means
 * (SINK_LOST: 0, the caller reconnects). */
static int db_failed(session *ss, int rc, const char *err)
{
	uint64_t cp = ss->l ? sink_loader_checkpoint(ss->l) : 0;
	if (rc == SINK_LOST)
		return 0;
	if (rc == SINK_FULL)
		say(_("the database's disk is full (%s); stopped with the checkpoint at seq %llu: "
		    "free space and start ledger-sink again"),
		    err, (unsigned long long)cp);
	else if (ss->l)
		say(_("%s; stopped with the checkpoint at seq %llu"), err, (unsigned long long)cp);
	else
		say("%s", err);
	return rc == SINK_FULL ? EXIT_FULL : EXIT_FAIL;
}

static int commit(session *ss, int *rc, char *err)
{
	size_t n;
	sink_loader_pending(ss->l, &n);
	if (!n)
		return 0;
	if ((*rc = sink_loader_commit(ss->l, err)) != 0)
		return -1;
	ss->loaded += n;
	ss->committed_any = 1;
	return 0;
}

/* Rebuilds a first-version database's tables from its own events. */
static int migrate(session *ss, int *rc, char *err)
{
	uint64_t last = 0;
	size_t n;
	if (!ss->o->quiet)
		say(_("migrating: rebuilding the tables of source '%s' from the events this database "
		    "holds"),
		    ss->o->source);
	progress_start(N_("migrating"), sink_loader_checkpoint(ss->l));
	for (;;) {
		if (stop_requested)
			return commit(ss, rc, err);
		size_t page = ss->o->batch < 10000 ? (size_t)ss->o->batch : 10000;
		if ((*rc = sink_loader_migrate_page(ss->l, page, &n, &last, err)))
			return -1;
		size_t pending;
		uint64_t seq = sink_loader_pending(ss->l, &pending);
		if (seq < last)
			progress_page(seq, last, n);
		if (!n || pending >= (size_t)ss->o->batch)
			if (commit(ss, rc, err))
				return -1;
		if (!n)
			break;
	}
	if ((*rc = sink_loader_migrated(ss->l, err)))
		return -1;
	if (!ss->o->quiet)
		say(_("migrated: %llu events, checkpoint at seq %llu"), (unsigned long long)last,
		    (unsigned long long)sink_loader_checkpoint(ss->l));
	return 0;
}

/* With --once, `who` (the ledger, or the database) silent since `since`
 * for --give-up seconds: said, and 1 (the run ends; what it loaded is
 * committed). A one-shot run (an analyst's, a cron job's, a mistyped port)
 * does not wait for ever. */
static int gave_up(const options *o, double since, const char *who)
{
	if (!o->once || mono_s() - since < (double)o->give_up)
		return 0;
	say(_("%s has not answered for %ld s; --once stops here (what was loaded is "
	      "committed: run it again to go on)"),
	    who, o->give_up);
	return 1;
}

/* Follows the ledger until a stop, --once caught up, or an error. Returns
 * an exit status, or -1 for a lost database connection (rc, err). */
static int follow(session *ss, int *rc, char *err)
{
	const options *o = ss->o;
	uint64_t cp = sink_loader_checkpoint(ss->l);
	int caught_up = 0, away = 0;
	double away_since = 0;
	ld_errinfo e;
	if (fetch_start(ss->f, ss->conn, o->id, o->batch < 10000 ? (uint32_t)o->batch : 10000, cp,
	                o->once)) {
		say(_("cannot start a thread"));
		return EXIT_FAIL;
	}
	progress_start(N_("loading"), cp);
	for (;;) {
		size_t pending;
		sink_loader_pending(ss->l, &pending);
		/* Commit when the batch is full, when caught up, or before
		 * waiting for anything. */
		if (pending && ((long)pending >= o->batch || caught_up || stop_requested || away))
			if (commit(ss, rc, err))
				return -1;
		/* The analysts' indexes and statistics once caught up, and the
		 * statistics again whenever the tables have doubled since. */
		uint64_t cp_now = sink_loader_checkpoint(ss->l);
		if (caught_up && !stop_requested && cp_now > ss->analyzed_at &&
		    (ss->analyzed_at == 0 || cp_now >= 2 * ss->analyzed_at)) {
			if ((*rc = sink_schema_finish(ss->ops, ss->s, err)) ||
			    (*rc = sink_loader_indexed(ss->l, err)))
				return -1;
			ss->analyzed_at = cp_now;
		}
		if (caught_up)
			progress_caught_up();
		if (stop_requested || (o->once && caught_up))
			return EXIT_OK;
		slot *sl = fetch_next(ss->f);
		if (!sl)
			continue; /* a signal: commit and stop */
		ldc_page page = sl->page;
		e = sl->e;
		if (sl->rc == LD_E(UNAVAILABLE)) {
			if (!away) {
				away_since = mono_s();
				if (!o->quiet)
					say(_("%s; retrying"), e.message);
			}
			away = 1; /* commit what we have while it is away */
			fetch_release(ss->f);
			char who[300];
			snprintf(who, sizeof(who), _("the ledger at %s"), o->url);
			if (gave_up(o, away_since, who))
				return EXIT_FAIL; /* what it loaded is committed above */
			continue;
		}
		if (sl->rc == LD_E(AFTER_HEAD)) {
			say(_("the database is loaded up to seq %llu, but the ledger at %s ends at "
			    "%llu: it is not the ledger this database was loaded from, or an older "
			    "copy of it"),
			    (unsigned long long)sink_loader_pending(ss->l, NULL), o->url,
			    (unsigned long long)e.seq);
			return EXIT_FAIL;
		}
		if (sl->rc) {
			say(_("subscribe: %s (%s)"), e.message, ld_errname(sl->rc));
			return EXIT_FAIL;
		}
		if (away && !o->quiet)
			say(_("the ledger is back; resuming after seq %llu"),
			    (unsigned long long)sink_loader_pending(ss->l, NULL));
		away = 0;
		if (page.n && (*rc = sink_loader_page(ss->l, page.events, page.n, err)))
			return -1;
		uint64_t seq = sink_loader_pending(ss->l, NULL);
		caught_up = seq >= page.head_seq;
		fetch_release(ss->f);
		progress_page(seq, page.head_seq, page.n);
	}
}

/* One session: connect, bring the schema up, load. Returns an exit status,
 * or -1 when the database connection was lost (retry). */
static int session_run(session *ss)
{
	const options *o = ss->o;
	char err[SINK_ERRLEN];
	int migrating = 0, rc, status;
	if ((rc = ss->ops->open(&ss->s, o->target, err)) != 0) {
		if ((status = db_failed(ss, rc, err)) != 0)
			return status;
		if (!o->quiet)
			say(_("cannot connect to %s (%s)"), ss->ops->name, err);
		return -1;
	}
	if ((rc = sink_schema_open(ss->ops, ss->s, o->migrate, &migrating, err)) ||
	    (rc = sink_loader_open(&ss->l, ss->ops, ss->s, o->source, err)))
		goto db_error;
	if (!o->quiet && ss->reconnects)
		say(_("reconnected to %s; resuming after seq %llu"), ss->ops->name,
		    (unsigned long long)sink_loader_checkpoint(ss->l));
	else if (!o->quiet)
		say(_("loading %s '%s' (source '%s') from %s after seq %llu"), ss->ops->name,
		    o->target, o->source, o->url,
		    (unsigned long long)sink_loader_checkpoint(ss->l));
	if (migrating && migrate(ss, &rc, err))
		goto db_error;
	status = follow(ss, &rc, err);
	if (status >= 0)
		return status;
db_error:
	if ((status = db_failed(ss, rc, err)) != 0)
		return status;
	if (!o->quiet)
		say(_("lost the connection to %s (%s)"), ss->ops->name, err);
	ss->reconnects++;
	return -1;
}

static void session_end(session *ss)
{
	fetch_stop(ss->f);
	sink_loader_free(ss->l);
	ss->l = NULL;
	if (ss->s)
		ss->ops->close(ss->s);
	ss->s = NULL;
}

int main(int argc, char **argv)
{
	int c = ldc_cli_init("ledger-sink");
	if (c != 0)
		return c;
	options o = {
	    .url = ldc_cli_url(),
	    .id = "ledger-sink",
	    .source = DEFAULT_SOURCE,
	    .batch = 200000,
	    .give_up = 60,
	};
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"id", required_argument, NULL, 'i'},
	    {"source", required_argument, NULL, 's'},
	    {"batch", required_argument, NULL, 'b'},
	    {"once", no_argument, NULL, 'o'},
	    {"give-up", required_argument, NULL, 'g'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"migrate", no_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"tz", required_argument, NULL, 'z'},
	    {NULL, 0, NULL, 0},
	};
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o.url = optarg;
			break;
		case 'i':
			o.id = optarg;
			break;
		case 's':
			if (!sink_source_valid(optarg)) {
				fprintf(stderr,
				        _("ledger-sink: --source '%s' is not 1 to 64 of "
				          "A-Z a-z 0-9 . _ : -\n"),
				        optarg);
				return EXIT_USAGE;
			}
			o.source = optarg;
			break;
		case 'b': {
			char *end;
			errno = 0;
			o.batch = strtol(optarg, &end, 10);
			if (errno || *end || o.batch < 1 || o.batch > 10000000) {
				fprintf(stderr, _("ledger-sink: --batch '%s' is not 1 to 10000000\n"),
				        optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case 'o':
			o.once = 1;
			break;
		case 'g': {
			char *end;
			errno = 0;
			o.give_up = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || o.give_up < 1 || o.give_up > 86400) {
				fprintf(stderr, _("ledger-sink: --give-up '%s' is not 1 to 86400 (seconds)\n"),
				        optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case 'q':
			o.quiet = 1;
			break;
		case 'm':
			o.migrate = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
		case 'z': {
			int rc = ldc_cli_option(c, optarg);
			if (rc >= 0)
				return rc;
			break;
		}
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "ledger-sink: %s\n",
		        optind < argc ? _("one TARGET only") : _("no TARGET"));
		usage(stderr);
		return EXIT_USAGE;
	}
	o.target = argv[optind];

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	prog.quiet = o.quiet;
	prog.once = o.once;
	prog.tty = isatty(STDERR_FILENO);

	fetcher f = {0};
	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.cond, NULL);
	session ss = {.o = &o, .ops = sink_ops_for(o.target), .f = &f};
	ld_errinfo e;
	int status = EXIT_FAIL, backoff = 500;
	double t0 = mono_s(), db_away_since = 0;
	if (ldc_open(&ss.conn, o.url, CALL_TIMEOUT_MS, &e) != 0) {
		say("%s", e.message);
		goto out;
	}
	for (;;) {
		ss.committed_any = 0;
		status = session_run(&ss);
		session_end(&ss);
		if (status >= 0 || stop_requested)
			break;
		/* The database went away: wait, longer each time it stays away. */
		if (ss.committed_any) {
			backoff = 500;
			db_away_since = 0;
		}
		if (db_away_since == 0)
			db_away_since = mono_s();
		if (gave_up(&o, db_away_since, ss.ops->name)) {
			status = EXIT_FAIL;
			break;
		}
		if (!o.quiet)
			say(_("reconnecting to %s in %.1f s"), ss.ops->name, backoff / 1000.0);
		nap(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		if (stop_requested) {
			status = EXIT_OK;
			break;
		}
	}
	if (status < 0)
		status = EXIT_OK;
	if (!o.quiet)
		say(_("stopped; %llu events loaded in %.1f s"), (unsigned long long)ss.loaded,
		    mono_s() - t0);
out:
	ldc_close(ss.conn);
	pthread_cond_destroy(&f.cond);
	pthread_mutex_destroy(&f.lock);
	return status;
}
