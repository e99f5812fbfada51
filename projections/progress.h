/*
 * progress.h — the plan-progress projection: every plan's figures, per
 * target, window and region, counted from the log.
 *
 * WHAT IS STORED. For each (plan, target, window year — 0 for cumulative —,
 * region) a numerator and a denominator (its database "progress"): a count, a sum, the
 * number of distinct members, or a ratio's two counts. Regions are the
 * plan's province and each city (NNNN00) of the region of the event: the
 * organisation's for joins, services and activities, the station's or the
 * organisation's own for openings and registrations. Windows follow
 * occurred_at in the plan's local time, so late-recorded events count where
 * they happened.
 *
 * CORRECTIONS. What each event added is kept beside it ("pcontrib", each
 * entry said against the one before it: progress.c); a void takes it back, an amendment takes it back and adds the corrected
 * body's. A join counts as a first join when no earlier join of the member
 * counts; a correction of a join re-evaluates all of that member's joins.
 *
 * PLANS ARE INPUTS. The plans are loaded when the runner starts (create);
 * their digest is kept with the state, and when the files change the
 * projection clears itself and is rebuilt from the log (prepare).
 *
 * STATUS is not stored: on-track judgements depend on the time they are made
 * at, and are computed by progress_report from the stored figures.
 */
#ifndef LD_PROGRESS_H
#define LD_PROGRESS_H

#include "arena.h"
#include "plan.h"
#include "projection.h"

extern const projection_ops progress_projection;
/* Its queries: progress, and plans (the definitions, with no state). */
extern const projection_query progress_queries[];

/* The projection's state in one runner: its plans (loaded from
 * proj_options.plans_dir when the runner starts; LD_E(PLAN_INVALID) naming
 * the file and line stops the start), its listener, its chunk's figures. */
typedef struct progress progress;

/* The progress projection of runner r; valid until runner_free. */
static inline progress *progress_of(runner *r)
{
	return runner_state(r, &progress_projection);
}

const plan_set *progress_plans(const progress *pg);

/*
 * Figures moved, as applied (flushed or not). fn(arg) is called on the
 * thread applying the projection when a figure moves for the first time
 * since the last progress_take_moved (or the start): a wake-up, which
 * must not block, and not call into the runner. Cleared (fn NULL) after
 * runner_stop.
 */
typedef void (*progress_change_fn)(void *arg);
void progress_on_change(progress *pg, progress_change_fn fn, void *arg);
/* The plans and regions whose figures moved since the last call (or the
 * start): moved(arg, plan index, region) for each, at least once (the
 * province and each city; a pair may come more than once). On the
 * runner's thread, between two batches (a runner_read callback). */
typedef void (*progress_moved_fn)(void *arg, unsigned plan, uint32_t region);
void progress_take_moved(progress *pg, progress_moved_fn fn, void *arg);

/*
 * The report of plan p (one of progress_plans(pg)) from the state t reads
 * (kv.h): a row per target, window and region. year
 * (0: all) keeps the windows that include that year; region (0: all) keeps
 * the province or one city; at is the time status is judged at (µs).
 * Allocates from a. LD_E(INVALID_VALUE) with e filled for a year or region
 * outside the plan.
 */
int progress_report(const progress *pg, const kv_read *t, const plan *p, uint32_t year,
		    uint32_t region, int64_t at, Ledger__ProgressReport *out, ld_arena *a,
		    ld_errinfo *e);
/*
 * progress_report as the figures stood at the end of `day` (YYYYMMDD, the
 * plan's local day; 0: progress_report itself): each figure the sum of its
 * days up to that one, status judged at the day's end, or at `at` (now) for
 * today. LD_E(INVALID_VALUE) with e filled for a day that is not one, lies
 * after today (at's day) or before the plan.
 */
int progress_report_day(const progress *pg, const kv_read *t, const plan *p, uint32_t year,
			uint32_t region, uint32_t day, int64_t at, Ledger__ProgressReport *out,
			ld_arena *a, ld_errinfo *e);

/*
 * A target's figure day by day (or week by week) from the state t reads:
 * what each bucket added, with its events, over the days q asks for (the
 * plan's period by default; its year; from_day..to_day within them), for
 * the province or one city, and the events behind the figure by kind (the
 * target's, then event_voided and event_amended: the corrections that took
 * events back from it). Only buckets where events counted are points.
 * Allocates from a. LD_E(NOT_FOUND) for an unknown target,
 * LD_E(INVALID_VALUE) for a region, year or day outside the plan, e filled.
 */
int progress_series(const progress *pg, const kv_read *t, const plan *p,
		    const Ledger__ProgressSeriesRequest *q, Ledger__ProgressSeries *out, ld_arena *a,
		    ld_errinfo *e);

/* The plan as a message (targets and cities), allocated from a. */
Ledger__PlanInfo *progress_plan_info(const plan *p, ld_arena *a);

#endif
