/*
 * plan.h — plans as data: loading and validating plan files.
 *
 * A plan (docs/PLANS.md) is a YAML file naming a region (a province), a
 * period, the cities it is reported for, and targets. A target says which
 * events count (an event kind and a filter), what is measured (a count, a sum
 * of a field, distinct members, or a ratio), over which window (each
 * calendar year of the period, or cumulative over the whole period) and the
 * figure to reach. libyaml parses the file (this is the only file that
 * includes it); everything else about the format is checked here, and any
 * error names the file and line.
 *
 * A loaded plan is plain data; the plan-progress projection (progress.h)
 * counts against it.
 */
#ifndef LD_PLAN_H
#define LD_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#define PLAN_ID_MAX 63
#define PLAN_MAX_TARGETS 64
#define PLAN_MAX_CITIES 64

enum plan_measure { PM_COUNT = 1, PM_SUM, PM_DISTINCT, PM_RATIO };
enum plan_field { PF_NONE = 0, PF_PARTICIPANTS, PF_ENTERPRISES, PF_QUANTITY, PF_AMOUNT };
/* yearly: each calendar year of the period its own window; cumulative: the
 * whole period; yearly_average: "an average of T a year" (年均): the whole
 * period's figure judged against T × the years the period has run (each
 * calendar year of it counted by the share of it inside the period). */
enum plan_window { PW_YEARLY = 1, PW_CUMULATIVE, PW_YEARLY_AVERAGE };
enum plan_city_targets { PCT_NONE = 1, PCT_WORKFORCE };

/* Which events count. A bit set means "one of these" (bit i = enum value
 * i); 0 means any. Tri-state flags: -1 any, 0 false, 1 true. */
typedef struct plan_filter {
	uint64_t kinds;       /* service / activity / station / organisation kind */
	uint64_t groups;      /* worker group (joins; organisations' focus) */
	uint64_t channels;    /* join channel */
	uint64_t paths;       /* join path */
	uint64_t employments; /* employment relation */
	int8_t first_join;    /* joins: not a rejoin */
	int8_t real_name;     /* joins */
	int8_t member;        /* services: delivered to a member (1) / a non-member (0) */
} plan_filter;

typedef struct plan_target {
	char id[PLAN_ID_MAX + 1];
	char *title;
	char unit[32];
	int event; /* a Ledger__Event body case */
	plan_filter where;
	plan_filter numerator; /* PM_RATIO: the share of counted events matching this too */
	int measure;	       /* enum plan_measure */
	int field;	       /* PM_SUM: enum plan_field */
	int window;	       /* enum plan_window */
	int64_t target;	       /* PM_RATIO: percent */
	int city_targets;      /* enum plan_city_targets */
	int line;
} plan_target;

typedef struct plan_city {
	uint32_t code;
	char *name;
} plan_city;

typedef struct plan {
	char id[PLAN_ID_MAX + 1];
	char *title, *source, *path;
	uint32_t region;	   /* a province code, NN0000 */
	int32_t utc_offset_s;	   /* local time of the dates and years */
	int64_t from_us, to_us;	   /* [from, to): local midnights, as µs UTC */
	int from_year, to_year;	   /* the calendar years the period touches */
	plan_city *cities;
	unsigned ncities;
	plan_target *targets;
	unsigned ntargets;
} plan;

typedef struct plan_set {
	plan *plans;
	unsigned n;
	uint8_t digest[32]; /* SHA-256 chain over every file's name and bytes, in name order; all zeros for no files */
} plan_set;

/* Loads one plan file. On error, e says "<path>:<line>: <what>" with code
 * LD_E(INVALID_VALUE) (or NOT_FOUND for a missing file). */
int plan_load_file(const char *path, plan *out, ld_errinfo *e);
/* The same from bytes in memory (len of them; no NUL needed): name stands
 * for the path in messages and in out->path. For the fuzzer and tests. */
int plan_load_buffer(const char *name, const void *buf, size_t len, plan *out, ld_errinfo *e);
void plan_free(plan *p);

/* Loads every *.yaml / *.yml file of dir, in name order; plan ids must be
 * unique. An empty or missing directory is an empty set when missing_ok. */
int plan_load_dir(const char *dir, int missing_ok, plan_set *out, ld_errinfo *e);
void plan_set_free(plan_set *s);

const plan *plan_find(const plan_set *s, const char *id);

/* The calendar year (local time) of t, and the start of a year, as µs UTC. */
int plan_year_of(const plan *p, int64_t t_us);
int64_t plan_year_start(const plan *p, int year);

/* The window of a target: [*from, *to) as µs UTC. year is ignored but for
 * a yearly target (a cumulative or yearly_average one has the period). */
void plan_window(const plan *p, const plan_target *t, int year, int64_t *from, int64_t *to);

/* The years of the plan's period that have run by t (µs UTC): each calendar
 * year (local time) counts by the share of its days within the period and
 * before t. The whole period of 2024-01-01 to 2026-12-31 is 3, its first
 * half-year of 2025 1.5; a yearly_average target's figure is due at
 * target × this. */
double plan_years_run(const plan *p, int64_t t_us);

/* The city (NNNN00) and province (NN0000) of a region code. */
static inline uint32_t plan_city_of(uint32_t region)
{
	return region / 100 * 100;
}
static inline uint32_t plan_province_of(uint32_t region)
{
	return region / 10000 * 10000;
}

/* Does ev (as it counts; `first`: a join that is not a rejoin) pass filter
 * f of a target counting its kind? An event of another kind never does. */
int plan_filter_matches(const plan_filter *f, const Ledger__Event *ev, int first);

/* Names for messages and reports. */
const char *plan_measure_name(int measure);
const char *plan_field_name(int field);
const char *plan_window_name(int window);
const char *plan_event_name(int body_case);

#endif
