/* progress_feed.c — plan progress on the live feed. See progress_feed.h. */
#include "progress_feed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "clock.h"
#include "log.h"
#include "progress.h"

#define MAX_REGIONS (PLAN_MAX_CITIES + 1) /* the province, then each city */

typedef struct fplan {
	uint8_t dirty[MAX_REGIONS];
	unsigned ndirty;
	uint64_t last_ms;	     /* when it last went out */
	uint64_t prev[MAX_REGIONS]; /* seq of the last message per region */
} fplan;

/* A message made on the runner's thread, sent on the feed's. */
typedef struct outmsg {
	char topic[128];
	uint8_t *buf;
	size_t n;
} outmsg;

struct progress_feed {
	feed *fd;
	runner *r;
	unsigned interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping, started;
	int moved;   /* progress said a figure moved (which: at the next read) */
	int reading; /* a runner_read is in flight */
	uint64_t read_ms; /* when the last one was asked for */
	int halted;  /* the runner reads no more (it stops) */
	ld_every unreadable; /* reads that failed: told once a minute */
	fplan *plans;
	unsigned nplans;
	outmsg *out; /* made, not yet sent */
	size_t nout, cout;
	uint64_t published;
};

static int region_index(const plan *p, uint32_t region)
{
	if (region == p->region)
		return 0;
	for (unsigned i = 0; i < p->ncities; i++)
		if (p->cities[i].code == region)
			return (int)i + 1;
	return -1;
}

/* On the applying thread: a figure moved; wake the feed thread. */
static void on_change(void *arg)
{
	progress_feed *f = arg;
	pthread_mutex_lock(&f->lock);
	f->moved = 1;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

/* A plan and region moved (progress_take_moved; f->lock held). */
static void note_moved(void *arg, unsigned pl, uint32_t region)
{
	progress_feed *f = arg;
	const plan_set *ps = progress_plans(progress_of(f->r));
	if (pl >= f->nplans)
		return;
	int ix = region_index(&ps->plans[pl], region);
	if (ix < 0)
		return; /* a city the plan does not list */
	fplan *fp = &f->plans[pl];
	if (!fp->dirty[ix]) {
		fp->dirty[ix] = 1;
		fp->ndirty++;
	}
}

/* Whether plan fp may go out at now. */
static int plan_due(const progress_feed *f, const fplan *fp, uint64_t now)
{
	return now >= fp->last_ms + f->interval_ms;
}

/* The reports of the given regions of plan pl, read in t at seq, into the
 * messages to send (f->lock not held). */
static void make_reports(progress_feed *f, unsigned pl, const uint8_t *dirty, const kv_read *t,
			 uint64_t seq)
{
	const progress *pg = progress_of(f->r);
	const plan *p = &progress_plans(pg)->plans[pl];
	int64_t at = ld_wall_us();
	for (int ix = 0; ix < MAX_REGIONS; ix++) {
		if (!dirty[ix])
			continue;
		uint32_t region = ix == 0 ? p->region : p->cities[ix - 1].code;
		Ledger__ProgressReport rep;
		ld_arena a = LD_ARENA_INIT;
		ld_errinfo e = {0};
		if (progress_report(pg, t, p, 0, region, at, &rep, &a, &e) != 0) {
			log_warn("progress feed: %s", e.message);
			ld_arena_free(&a);
			continue;
		}
		pthread_mutex_lock(&f->lock);
		rep.has_seq = rep.has_prev_seq = 1;
		rep.seq = seq;
		rep.prev_seq = f->plans[pl].prev[ix];
		f->plans[pl].prev[ix] = seq;
		outmsg *m = NULL;
		if (f->nout == f->cout) {
			size_t cap = f->cout ? f->cout * 2 : 16;
			outmsg *o = realloc(f->out, cap * sizeof(*o));
			if (o) {
				f->out = o;
				f->cout = cap;
			}
		}
		if (f->nout < f->cout)
			m = &f->out[f->nout];
		size_t n = ledger__progress_report__get_packed_size(&rep);
		if (m && (m->buf = malloc(n ? n : 1))) {
			ledger__progress_report__pack(&rep, m->buf);
			m->n = n;
			snprintf(m->topic, sizeof(m->topic), "progress/%s/%u", p->id, region);
			f->nout++;
		} else {
			log_warn("progress feed: out of memory; a report was not sent");
		}
		pthread_mutex_unlock(&f->lock);
		ld_arena_free(&a);
	}
}

/*
 * On the runner's thread, between two batches (runner_read): the plans and
 * regions that moved are taken, and the reports of the plans due are made
 * from the state in memory (rd at as_of: every event applied, flushed or
 * not), or, if it could not be read there, from the flushed state. Sent by
 * the feed thread, so the runner only reads and packs.
 */
static void on_read(void *arg, int ok, const kv_read *rd, uint64_t as_of)
{
	progress_feed *f = arg;
	store_txn *t = NULL;
	if (ok == 1 && !rd) {
		if (store_read_begin(runner_store(f->r), &t) == 0) {
			as_of = runner_snapshot_seq(t);
			rd = KV_READ_TXN(t);
		} else {
			pthread_mutex_lock(&f->lock);
			unsigned long n = ld_every_count(&f->unreadable, 60 * 1000000LL);
			pthread_mutex_unlock(&f->lock);
			if (n)
				log_warn("progress feed: unable to read the projections (%lu time%s "
					 "since this was last said; said at most once a minute)",
					 n, n == 1 ? "" : "s");
		}
	}
	pthread_mutex_lock(&f->lock);
	if (ok == 1)
		progress_take_moved(progress_of(f->r), note_moved, f);
	else
		f->halted = 1;
	uint64_t now = (uint64_t)ld_mono_ms();
	for (unsigned pl = 0; rd && pl < f->nplans; pl++) {
		fplan *fp = &f->plans[pl];
		if (!fp->ndirty || !plan_due(f, fp, now))
			continue;
		uint8_t dirty[MAX_REGIONS];
		memcpy(dirty, fp->dirty, sizeof(dirty));
		memset(fp->dirty, 0, sizeof(fp->dirty));
		fp->ndirty = 0;
		fp->last_ms = now;
		pthread_mutex_unlock(&f->lock);
		make_reports(f, pl, dirty, rd, as_of);
		pthread_mutex_lock(&f->lock);
	}
	f->reading = 0;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	if (t)
		store_read_end(t);
}

/* Sends the messages made (f->lock held; released meanwhile). */
static void send_out(progress_feed *f)
{
	outmsg *out = f->out;
	size_t n = f->nout;
	f->out = NULL;
	f->nout = f->cout = 0;
	pthread_mutex_unlock(&f->lock);
	uint64_t sent = 0;
	for (size_t i = 0; i < n; i++) {
		sent += feed_publish(f->fd, out[i].topic, out[i].buf, out[i].n) == 0;
		free(out[i].buf);
	}
	free(out);
	pthread_mutex_lock(&f->lock);
	f->published += sent;
}

/*
 * The feed thread: when progress says a figure moved, or plans wait with
 * regions to send, it asks the runner for a read (runner_read) once the
 * first of them may go out (at most once per interval per plan), and sends
 * what the read made.
 */
static void *feed_main(void *arg)
{
	progress_feed *f = arg;
	pthread_mutex_lock(&f->lock);
	while (!f->stopping) {
		if (f->nout) {
			send_out(f);
			continue;
		}
		uint64_t now = (uint64_t)ld_mono_ms(), next = UINT64_MAX;
		if (!f->reading && !f->halted) {
			/* Which plans moved is known after a read, which takes
			 * them all: asked for at most once an interval for
			 * moves not known yet, and when a plan known to have
			 * moved may go out. */
			if (f->moved)
				next = f->read_ms + f->interval_ms;
			for (unsigned pl = 0; pl < f->nplans; pl++) {
				const fplan *fp = &f->plans[pl];
				uint64_t due = fp->last_ms + f->interval_ms;
				if (fp->ndirty && due < next)
					next = due;
			}
		}
		if (next <= now) {
			f->moved = 0;
			f->reading = 1;
			f->read_ms = now;
			pthread_mutex_unlock(&f->lock);
			int rc = runner_read(f->r, on_read, f);
			pthread_mutex_lock(&f->lock);
			if (rc != RUNNER_WAITING) {
				f->reading = 0;
				f->halted = 1;
			}
			continue;
		}
		if (next == UINT64_MAX) {
			pthread_cond_wait(&f->wake, &f->lock);
		} else {
			struct timespec ts = ld_wall_after_ms(next - now);
			pthread_cond_timedwait(&f->wake, &f->lock, &ts);
		}
	}
	/* A read in flight is answered by runner_stop (before this stop). */
	while (f->reading)
		pthread_cond_wait(&f->wake, &f->lock);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int progress_feed_start(progress_feed **out, feed *fd, runner *r, unsigned interval_ms,
			ld_errinfo *e)
{
	progress_feed *f = calloc(1, sizeof(*f));
	*out = NULL;
	if (!f)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	f->fd = fd;
	f->r = r;
	f->interval_ms = interval_ms ? interval_ms : 200;
	f->nplans = progress_plans(progress_of(r))->n;
	f->plans = calloc(f->nplans + 1, sizeof(*f->plans));
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	if (!f->plans || pthread_create(&f->thread, NULL, feed_main, f) != 0) {
		pthread_cond_destroy(&f->wake);
		pthread_mutex_destroy(&f->lock);
		free(f->plans);
		free(f);
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to start the progress feed");
	}
	f->started = 1;
	progress_on_change(progress_of(r), on_change, f);
	*out = f;
	return 0;
}

void progress_feed_stop(progress_feed *f)
{
	if (!f)
		return;
	progress_on_change(progress_of(f->r), NULL, NULL);
	pthread_mutex_lock(&f->lock);
	f->stopping = 1;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
	for (size_t i = 0; i < f->nout; i++)
		free(f->out[i].buf);
	free(f->out);
	free(f->plans);
	free(f);
}

uint64_t progress_feed_published(progress_feed *f)
{
	pthread_mutex_lock(&f->lock);
	uint64_t n = f->published;
	pthread_mutex_unlock(&f->lock);
	return n;
}
