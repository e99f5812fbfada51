/*
 * progress_feed.h — plan progress on the live feed.
 *
 * The plan-progress projection says when a figure moves as it applies an
 * event (progress_on_change, on the applying thread). This module's thread
 * then asks the runner for a read of its state in memory (runner_read: on
 * the runner's thread, between two batches, so the state is every event
 * applied, flushed or not), which takes the plans and regions that moved
 * (progress_take_moved) and makes the reports of those plans that may go
 * out; the thread publishes them on the live feed (feed_publish) under the
 * topic "progress/<plan>/<region>", at most once per `interval_ms` per plan
 * (the first change after a quiet spell goes out at once; changes during
 * the interval go out together at its end). Each message is a ProgressReport
 * for one region with seq (the state it reflects) and prev_seq (the seq of
 * the previous message on that topic), so a subscriber can tell it missed
 * one and re-read the state over REQ/REP.
 */
#ifndef LD_PROGRESS_FEED_H
#define LD_PROGRESS_FEED_H

#include "feed.h"
#include "projection.h"

typedef struct progress_feed progress_feed;

/* Starts the thread and subscribes to progress_on_change; reports are read
 * from r's state in memory. interval_ms 0 = 200. */
int progress_feed_start(progress_feed **out, feed *fd, runner *r, unsigned interval_ms,
			ld_errinfo *e);
/* Unsubscribes and joins the thread; call after runner_stop and before
 * feed_stop and runner_free. */
void progress_feed_stop(progress_feed *f);

/* Messages published so far. */
uint64_t progress_feed_published(progress_feed *f);

#endif
