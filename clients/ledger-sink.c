/*
 * ledger-sink — a long-running subscriber that loads the event stream into
 * SQLite or PostgreSQL (clients/sink.h has the tables).
 *
 * It reads its checkpoint from the database, subscribes after it (long-poll
 * when caught up), and writes each batch of events and the new checkpoint
 * in one transaction: killed at any moment and restarted, it gives the same
 * database as an uninterrupted run. When the daemon goes away it commits
 * what it has, then retries until the daemon is back and resumes. A full
 * disk on the database's side stops it (exit status 3) with the checkpoint
 * of the last good commit.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "sink.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_FULL = 3 };

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: ledger-sink [OPTIONS] TARGET\n"
	        "\n"
	        "Loads the ledger's events into TARGET and keeps following it. TARGET is a\n"
	        "SQLite file path (created if missing) or a PostgreSQL connection string\n"
	        "(\"postgresql://user@host:port/db\" or \"host=... dbname=...\").\n"
	        "Tables: events (every event, with its stored bytes), organisations, members,\n"
	        "transfers, dues, services, activities, corrections, sink_checkpoint.\n"
	        "\n"
	        "  --url URL        the ledger (default $LEDGER_URL, else " LDC_DEFAULT_URL ")\n"
	        "  --id ID          subscriber id shown by 'ledgerctl subscribers' [ledger-sink]\n"
	        "  --batch N        events per database transaction, at most        [50000]\n"
	        "  --once           stop (exit 0) once caught up with the head\n"
	        "  --quiet          no progress lines on stderr\n"
	        "  -h, --help       this text\n"
	        "\n"
	        "Exit status: 0 stopped (SIGINT/SIGTERM, or --once caught up), 1 error,\n"
	        "2 usage, 3 the database's disk is full (the checkpoint is intact: free space\n"
	        "and start it again).\n");
}

/* ------------------------------------------------------------------ */
/* The fetcher: a thread that reads pages ahead, so that the daemon's      */
/* reading and sending of the next page overlaps the loading of this one.  */
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
	int stop;
	ldc *conn;
	ldc_subscription sub;
	uint64_t after;
} fetcher;

static void sleep_ms(int ms);

static void *fetch_main(void *arg)
{
	fetcher *f = arg;
	int caught_up = 0, failed = 0;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (f->count == SLOTS && !f->stop)
			pthread_cond_wait(&f->cond, &f->lock);
		if (f->stop)
			break;
		slot *sl = &f->slots[(f->head + f->count) % SLOTS];
		pthread_mutex_unlock(&f->lock);
		if (failed)
			sleep_ms(200); /* the daemon is away: retry, gently */
		f->sub.wait_ms = caught_up ? 5000 : 0;
		sl->rc = ldc_subscribe(f->conn, &f->sub, f->after, &sl->page, &sl->e);
		failed = sl->rc != 0;
		if (sl->rc == 0) {
			f->after = sl->page.next_seq - 1;
			caught_up = f->after >= sl->page.head_seq;
		}
		pthread_mutex_lock(&f->lock);
		f->count++;
		pthread_cond_broadcast(&f->cond);
		if (sl->rc && sl->rc != LD_E(UNAVAILABLE))
			f->stop = 1; /* fatal: the loader reports it */
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* The next slot, or NULL when a signal asks to stop. */
static slot *fetch_next(fetcher *f)
{
	slot *sl = NULL;
	pthread_mutex_lock(&f->lock);
	while (!f->count && !stop_requested) {
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

static void fetch_stop(fetcher *f)
{
	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	ldc_interrupt(f->conn); /* a long-poll in flight returns now */
	pthread_join(f->th, NULL);
	for (int i = 0; i < SLOTS; i++)
		ldc_page_free(&f->slots[i].page);
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

int main(int argc, char **argv)
{
	const char *url = getenv("LEDGER_URL") ? getenv("LEDGER_URL") : LDC_DEFAULT_URL;
	const char *id = "ledger-sink";
	long batch = 50000;
	int once = 0, quiet = 0;
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"id", required_argument, NULL, 'i'},
	    {"batch", required_argument, NULL, 'b'},
	    {"once", no_argument, NULL, 'o'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'b':
			batch = strtol(optarg, NULL, 10);
			if (batch < 1 || batch > 10000000) {
				fprintf(stderr, "ledger-sink: --batch '%s' is not 1 to 10000000\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'o':
			once = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "ledger-sink: %s\n",
		        optind < argc ? "one TARGET only" : "no TARGET");
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *target = argv[optind];

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	const sink_ops *ops = sink_ops_for(target);
	char err[SINK_ERRLEN];
	sink *s = NULL;
	ldc *conn = NULL;
	fetcher f = {0};
	int fetching = 0;
	ld_errinfo e;
	int status = EXIT_FAIL;
	uint64_t cp = 0;

	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.cond, NULL);
	int rc = ops->open(&s, target, err);
	if (rc == 0)
		rc = ops->checkpoint(s, &cp, err);
	if (rc) {
		fprintf(stderr, "ledger-sink: %s\n", err);
		status = rc == SINK_FULL ? EXIT_FULL : EXIT_FAIL;
		goto out;
	}
	if (ldc_open(&conn, url, 10000, &e) != 0) {
		fprintf(stderr, "ledger-sink: %s\n", e.message);
		goto out;
	}
	if (!quiet)
		fprintf(stderr, "ledger-sink: loading %s '%s' from %s after seq %llu\n", ops->name,
		        target, url, (unsigned long long)cp);

	f.conn = conn;
	f.after = cp;
	f.sub = (ldc_subscription){.subscriber_id = id,
	                           .max_events = batch < 10000 ? (uint32_t)batch : 10000};
	if (pthread_create(&f.th, NULL, fetch_main, &f) != 0) {
		fprintf(stderr, "ledger-sink: cannot start a thread\n");
		goto out;
	}
	fetching = 1;
	uint64_t pending_cp = cp, loaded = 0;
	long pending = 0;
	int caught_up = 0, away = 0;
	double t0 = mono_s(), shown = t0;
	for (;;) {
		/* Commit when the batch is full, when caught up, or before
		 * waiting for anything. */
		if (pending_cp != cp && (pending >= batch || caught_up || stop_requested || away)) {
			if ((rc = ops->commit(s, pending_cp, err)) != 0) {
				if (rc == SINK_FULL)
					fprintf(
					    stderr,
					    "ledger-sink: the database's disk is full (%s); "
					    "stopped with the checkpoint at seq %llu: free space "
					    "and start ledger-sink again\n",
					    err, (unsigned long long)cp);
				else
					fprintf(
					    stderr,
					    "ledger-sink: %s; stopped with the checkpoint at seq "
					    "%llu\n",
					    err, (unsigned long long)cp);
				status = rc == SINK_FULL ? EXIT_FULL : EXIT_FAIL;
				goto out;
			}
			cp = pending_cp;
			loaded += (uint64_t)pending;
			pending = 0;
		}
		if (stop_requested || (once && caught_up)) {
			status = EXIT_OK;
			break;
		}
		slot *sl = fetch_next(&f);
		if (!sl)
			continue; /* a signal: commit and stop */
		ldc_page page = sl->page;
		rc = sl->rc;
		e = sl->e;
		if (rc == LD_E(UNAVAILABLE)) {
			if (!away && !quiet)
				fprintf(stderr, "ledger-sink: %s; retrying\n", e.message);
			away = 1; /* commit what we have while it is away */
			fetch_release(&f);
			continue;
		}
		if (rc == LD_E(AFTER_HEAD)) {
			fprintf(
			    stderr,
			    "ledger-sink: the database is loaded up to seq %llu, but the ledger "
			    "at %s ends at %llu: it is not the ledger this database was loaded "
			    "from, or an older copy of it\n",
			    (unsigned long long)pending_cp, url, (unsigned long long)e.seq);
			goto out;
		}
		if (rc) {
			fprintf(stderr, "ledger-sink: subscribe: %s (%s)\n", e.message,
			        ld_errname(rc));
			goto out;
		}
		if (away && !quiet)
			fprintf(stderr,
			        "ledger-sink: the ledger is back; resuming after seq %llu\n",
			        (unsigned long long)pending_cp);
		away = 0;
		for (size_t i = 0; i < page.n; i++) {
			Ledger__Event *ev =
			    codec_event_unpack(page.events[i].data, page.events[i].len);
			if (!ev) {
				fprintf(stderr,
				        "ledger-sink: the ledger sent an undecodable event "
				        "after seq %llu\n",
				        (unsigned long long)pending_cp);
				goto out;
			}
			rc = sink_event_rows(ops, s, ev, page.events[i].data, page.events[i].len,
			                     err);
			codec_event_free(ev);
			if (rc) {
				fprintf(
				    stderr,
				    "ledger-sink: %s; stopped with the checkpoint at seq %llu\n",
				    err, (unsigned long long)cp);
				status = rc == SINK_FULL ? EXIT_FULL : EXIT_FAIL;
				goto out;
			}
			pending++;
		}
		pending_cp = page.next_seq - 1;
		caught_up = pending_cp >= page.head_seq;
		uint64_t head = page.head_seq;
		fetch_release(&f);
		double now = mono_s();
		if (!quiet && now - shown >= 5) {
			shown = now;
			fprintf(stderr,
			        "ledger-sink: checkpoint %llu, head %llu, %llu events loaded "
			        "(%.0f/s)\n",
			        (unsigned long long)cp, (unsigned long long)head,
			        (unsigned long long)loaded, (double)loaded / (now - t0));
		}
	}
	if (!quiet)
		fprintf(stderr, "ledger-sink: stopped at seq %llu; %llu events loaded in %.1f s\n",
		        (unsigned long long)cp, (unsigned long long)loaded, mono_s() - t0);
out:
	if (fetching)
		fetch_stop(&f);
	pthread_cond_destroy(&f.cond);
	pthread_mutex_destroy(&f.lock);
	ldc_close(conn);
	if (s)
		ops->close(s);
	return status;
}
