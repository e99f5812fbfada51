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

#endif
