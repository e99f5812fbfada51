/*
 * support.c — dying on errors, memory that never fails, a bump allocator, the
 * seeded draws and the calendar arithmetic the stages share.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "gen.h"
#include "i18n.h"

/* ------------------------------------------------------------------ */
/* Errors and memory                                                   */
/* ------------------------------------------------------------------ */

void die(int status, const char *fmt, ...)
{
	va_list ap;
	fputs("ledger-gen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die(EXIT_INTERNAL, _("out of memory (%zu bytes)"), n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die(EXIT_INTERNAL, _("out of memory (%zu × %zu bytes)"), n, size);
	return p;
}

void *xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);
	if (!p)
		die(EXIT_INTERNAL, _("out of memory (%zu bytes)"), n);
	return p;
}

char *xprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

#define CHUNK_SIZE ((size_t)256 << 10)

void *bump_alloc(bump *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	while (!a->cur || a->cur->cap - a->cur->used < n) {
		if (a->cur && a->cur->next) {
			a->cur = a->cur->next;
			a->cur->used = 0;
			continue;
		}
		size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
		chunk *c = xmalloc(sizeof(*c) + cap);
		c->next = NULL;
		c->used = 0;
		c->cap = cap;
		if (a->cur)
			a->cur->next = c;
		else
			a->first = c;
		a->cur = c;
	}
	void *p = a->cur->data + a->cur->used;
	a->cur->used += n;
	return p;
}

void bump_reset(bump *a)
{
	a->cur = a->first;
	if (a->cur)
		a->cur->used = 0;
}

void bump_free(bump *a)
{
	while (a->first) {
		chunk *next = a->first->next;
		free(a->first);
		a->first = next;
	}
	a->cur = NULL;
}

/* Uniform in [lo, hi]. */
int32_t rng_range(rng *r, int32_t lo, int32_t hi)
{
	return lo + (int32_t)ldc_rng_below(r, (uint32_t)(hi - lo + 1));
}

/* Uniform in [0, 1). */
double rng_unit(rng *r)
{
	return (double)(ldc_rng_next(r) >> 11) * 0x1.0p-53;
}

int rng_chance(rng *r, double p)
{
	return rng_unit(r) < p;
}

/* A whole number with expectation lambda (>= 0): floor(lambda + U). */
uint32_t rng_count(rng *r, double lambda)
{
	if (lambda <= 0)
		return 0;
	return (uint32_t)(lambda + rng_unit(r));
}

/* Days until an event of a Poisson process of `per_year` events a year. */
int32_t rng_exp_days(rng *r, double per_year)
{
	double d = -log(1.0 - rng_unit(r)) * 365.0 / per_year;
	return d > 1e8 ? NEVER / 2 : 1 + (int32_t)d;
}

/* Index into weights[0..n-1] drawn in proportion to the weights. */
unsigned rng_pick(rng *r, const unsigned *weights, unsigned n)
{
	unsigned total = 0;
	for (unsigned i = 0; i < n; i++)
		total += weights[i];
	uint32_t x = ldc_rng_below(r, total);
	for (unsigned i = 0; i < n; i++) {
		if (x < weights[i])
			return i;
		x -= weights[i];
	}
	return n - 1;
}

/* ------------------------------------------------------------------ */
/* Calendar                                                            */
/* ------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

void format_day(int64_t day, char out[16])
{
	int y, m, d;
	civil_from_days(day, &y, &m, &d);
	snprintf(out, 16, "%04d-%02d-%02d", y, m, d);
}

int64_t day_start_us(int64_t day)
{
	int64_t midnight_utc = day * DAY_US;
	return midnight_utc + WORK_START_US - (int64_t)ldc_tz_offset_s(midnight_utc) * 1000000;
}

/* YYYYMM plus k months (k may be negative). */
uint32_t ym_add(uint32_t ym, int k)
{
	int32_t n = (int32_t)(ym / 100) * 12 + (int32_t)(ym % 100) - 1 + k;
	return (uint32_t)(n / 12) * 100 + (uint32_t)(n % 12) + 1;
}

/* Months from b to a (a - b). */
int ym_diff(uint32_t a, uint32_t b)
{
	return ((int)(a / 100) * 12 + (int)(a % 100)) - ((int)(b / 100) * 12 + (int)(b % 100));
}
