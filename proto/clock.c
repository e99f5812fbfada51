/* clock.c — the clocks. See clock.h. */
#include "clock.h"

int64_t ld_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ld_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ld_mono_ms(void)
{
	return ld_mono_us() / 1000;
}

struct timespec ld_wall_after_us(uint64_t us)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(us / 1000000);
	ts.tv_nsec += (long)(us % 1000000) * 1000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

struct timespec ld_wall_after_ms(uint64_t ms)
{
	return ld_wall_after_us(ms * 1000);
}

unsigned long ld_every_count(ld_every *e, int64_t period_us)
{
	int64_t now = ld_mono_us();
	e->n++;
	if (e->told_us && now - e->told_us < period_us)
		return 0;
	unsigned long n = e->n;
	e->told_us = now;
	e->n = 0;
	return n;
}
