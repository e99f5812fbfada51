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

struct progress_feed {
	feed *fd;
	runner *r;
	unsigned interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping, started;
	fplan *plans;
	unsigned nplans;
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

/* On the runner's thread: note the change, wake the feed thread. */
static void on_change(void *arg, unsigned pl, uint32_t region, uint64_t seq)
{
	progress_feed *f = arg;
	const plan_set *ps = progress_plans(progress_of(f->r));
	(void)seq;
	if (pl >= f->nplans)
		return;
	int ix = region_index(&ps->plans[pl], region);
	if (ix < 0)
		return; /* a city the plan does not list */
	pthread_mutex_lock(&f->lock);
	fplan *fp = &f->plans[pl];
	if (!fp->dirty[ix]) {
		fp->dirty[ix] = 1;
		fp->ndirty++;
	}
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

/* Publishes the given regions of plan pl (lock not held). */
static void publish(progress_feed *f, unsigned pl, const uint8_t *dirty)
{
	const progress *pg = progress_of(f->r);
	const plan *p = &progress_plans(pg)->plans[pl];
	store_txn *t;
	if (store_read_begin(runner_store(f->r), &t) != 0) {
		log_warn("progress feed: unable to read the projections");
		return;
	}
	uint64_t seq = runner_snapshot_seq(t);
	int64_t at = ld_wall_us();
	for (int ix = 0; ix < MAX_REGIONS; ix++) {
		if (!dirty[ix])
			continue;
		uint32_t region = ix == 0 ? p->region : p->cities[ix - 1].code;
		Ledger__ProgressReport rep;
		ld_arena a = LD_ARENA_INIT;
		ld_errinfo e = {0};
		if (progress_report(pg, KV_READ_TXN(t), p, 0, region, at, &rep, &a, &e) == 0) {
			char topic[128];
			pthread_mutex_lock(&f->lock);
			rep.has_seq = rep.has_prev_seq = 1;
			rep.seq = seq;
			rep.prev_seq = f->plans[pl].prev[ix];
			f->plans[pl].prev[ix] = seq;
			pthread_mutex_unlock(&f->lock);
			size_t n = ledger__progress_report__get_packed_size(&rep);
			uint8_t *buf = malloc(n ? n : 1);
			snprintf(topic, sizeof(topic), "progress/%s/%u", p->id, region);
			if (buf) {
				ledger__progress_report__pack(&rep, buf);
				if (feed_publish(f->fd, topic, buf, n) == 0) {
					pthread_mutex_lock(&f->lock);
					f->published++;
					pthread_mutex_unlock(&f->lock);
				}
				free(buf);
			}
		} else {
			log_warn("progress feed: %s", e.message);
		}
		ld_arena_free(&a);
	}
	store_read_end(t);
}

static void *feed_main(void *arg)
{
	progress_feed *f = arg;
	pthread_mutex_lock(&f->lock);
	while (!f->stopping) {
		uint64_t now = (uint64_t)ld_mono_ms(), next = UINT64_MAX;
		int sent = 0;
		for (unsigned pl = 0; pl < f->nplans; pl++) {
			fplan *fp = &f->plans[pl];
			if (!fp->ndirty)
				continue;
			uint64_t due = fp->last_ms + f->interval_ms;
			if (fp->last_ms && now < due) {
				if (due < next)
					next = due;
				continue;
			}
			uint8_t dirty[MAX_REGIONS];
			memcpy(dirty, fp->dirty, sizeof(dirty));
			memset(fp->dirty, 0, sizeof(fp->dirty));
			fp->ndirty = 0;
			fp->last_ms = now;
			pthread_mutex_unlock(&f->lock);
			publish(f, pl, dirty);
			pthread_mutex_lock(&f->lock);
			sent = 1;
		}
		if (sent || f->stopping)
			continue;
		if (next == UINT64_MAX) {
			pthread_cond_wait(&f->wake, &f->lock);
		} else {
			struct timespec ts = ld_wall_after_ms(next - now);
			pthread_cond_timedwait(&f->wake, &f->lock, &ts);
		}
	}
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
