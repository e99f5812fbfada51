/* runner_trim.c — the runner gives memory back: clean state dropped a part
 * at a time past three quarters of the budget, all of it past the budget at
 * a flush. See runner_int.h. */
#include "runner_int.h"

#include <pthread.h>

/*
 * GIVING MEMORY BACK. The state held stays within the budget (memory).
 * Past three quarters of it, clean entries are dropped a part at a time
 * (kv_trim_some), on the loop thread: after each turn of applying (the
 * serial one near the head; a rebuild's workers apply without turns) and
 * at each flush, from the table with the most clean bytes, until half the
 * budget is held or no more than a quarter of it is clean (the rest is
 * dirty or pending, and goes at a flush). State still past the whole
 * budget at a flush drops every clean entry at once (kv_trim), and the
 * projections' caches.
 * Dropping them all at once was the only way until 2026-12: a walk of
 * every entry of 256 MiB of state, 134-199 ms during which no event was
 * applied and no read-your-writes query answered, every 7 s or so of a
 * steady stream. A part is a number of slots in proportion to the events
 * just applied (what they can have added), so the stream's pauses stay
 * short and the trimming keeps up with it (docs/ARCHITECTURE.md).
 */
#define TRIM_SOFT(budget) ((budget) / 4 * 3)
#define TRIM_GOAL(budget) ((budget) / 2)
#define TRIM_CLEAN_GOAL(budget) ((budget) / 4)
/* The size of a part, TRIM_SLOTS_*: runner_int.h (the loop sizes the parts
 * it asks for after its turns, runner.c catch_up). */

static size_t held_bytes(runner *r)
{
	size_t held = 0;
	for (unsigned i = 0; i < nprojections; i++)
		held += kv_bytes(r->st[i].kv);
	return held;
}

/* Drops clean entries (above), looking at up to `slots` slots in all. A
 * table where a part found nothing clean is left for the rest of this
 * step (its clean entries are elsewhere in it). */
void rn_trim_step(runner *r, size_t slots)
{
	unsigned skip = 0; /* bit i: table i is left */
	while (slots) {
		size_t held = held_bytes(r);
		r->trimming |= held > TRIM_SOFT(r->memory);
		if (!r->trimming)
			return; /* the usual turn: three sums, nothing more */
		size_t clean = 0, most_clean = 0;
		unsigned most = 0;
		for (unsigned i = 0; i < nprojections; i++) {
			size_t c = kv_clean_bytes(r->st[i].kv);
			clean += c;
			if (c > most_clean && !(skip & 1u << i)) {
				most = i;
				most_clean = c;
			}
		}
		if (held <= TRIM_GOAL(r->memory) || clean <= TRIM_CLEAN_GOAL(r->memory)) {
			r->trimming = 0;
			return;
		}
		if (!most_clean)
			return;
		proj_kv *kv = r->st[most].kv;
		size_t n = kv_trim_some(kv, slots), dropped = most_clean - kv_clean_bytes(kv);
		slots -= n < slots ? n : slots;
		if (!dropped) {
			skip |= 1u << most;
			continue;
		}
		pthread_mutex_lock(&r->lock);
		r->st[most].trimmed += dropped;
		pthread_mutex_unlock(&r->lock);
	}
}

/* At a flush, before the dirty keys are handed out: a part (above), or,
 * past the budget, every clean entry at once, and every cache (moved into
 * its table by now, so clean). */
void rn_trim(runner *r)
{
	if (held_bytes(r) <= r->memory) {
		rn_trim_step(r, TRIM_SLOTS_MAX);
		return;
	}
	for (unsigned i = 0; i < nprojections; i++) {
		pstate *p = &r->st[i];
		size_t before = kv_clean_bytes(p->kv);
		kv_trim(p->kv);
		if (p->ops->discard && !p->stopped)
			p->ops->discard(p->state);
		size_t dropped = before - kv_clean_bytes(p->kv); /* all, unless out of memory */
		pthread_mutex_lock(&r->lock);
		p->trimmed += dropped;
		p->whole_trims++;
		pthread_mutex_unlock(&r->lock);
	}
	r->trimming = 0;
}
