/*
 * clock.h — the clocks, read in one place.
 *
 * Wall time (CLOCK_REALTIME) is what the log records (recorded_at,
 * occurred_at, tree-head timestamps) and what condition variables wait on;
 * monotonic time (CLOCK_MONOTONIC) measures durations and deadlines, which
 * must not jump when the wall clock is set.
 */
#ifndef LD_CLOCK_H
#define LD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall time in microseconds since the Unix epoch. */
int64_t ld_wall_us(void);
/* Monotonic time in microseconds and in milliseconds. */
int64_t ld_mono_us(void);
int64_t ld_mono_ms(void);
/* The wall time `ms` milliseconds (`us` microseconds) from now, for
 * pthread_cond_timedwait. */
struct timespec ld_wall_after_ms(uint64_t ms);
struct timespec ld_wall_after_us(uint64_t us);

/* Something that happens often, told at most once a period, with how
 * many times it happened since it was last told (the log's warnings about
 * refused connections, dropped answers, refused joins). Used under its
 * owner's lock. Zeroed: never told. */
typedef struct ld_every {
	int64_t told_us;   /* monotonic µs of the last telling, 0: never */
	unsigned long n;   /* happened since */
} ld_every;
/* It happened once more: how many times to tell of now (this one and the
 * untold before it), or 0 while the period since the last telling runs. */
unsigned long ld_every_count(ld_every *e, int64_t period_us);

#endif
