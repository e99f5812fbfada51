/* when.c — months and times in the ledger's time zone. See when.h. */
#include "when.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "error.h"

/* ------------------------------------------------------------------ */
/* The time zone                                                       */
/* ------------------------------------------------------------------ */

static char zone[128];
static pthread_once_t zone_once = PTHREAD_ONCE_INIT;

/* Whether the system's zone database knows name (a TZif file under
 * $TZDIR or /usr/share/zoneinfo). glibc takes an unknown name for UTC
 * without a word, so it is checked here. */
static int zone_known(const char *name)
{
	char path[512];
	struct stat st;
	const char *dir = getenv("TZDIR");
	if (!name || !*name || strlen(name) >= sizeof(zone) || name[0] == '/' ||
	    strstr(name, ".."))
		return 0;
	if (!strcmp(name, "UTC"))
		return 1;
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
	FILE *f = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? fopen(path, "rb") : NULL;
	char magic[4] = {0};
	int ok = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "TZif", 4);
	if (f)
		fclose(f);
	return ok;
}

static void zone_apply(const char *name)
{
	snprintf(zone, sizeof(zone), "%s", name);
	/* "UTC" needs no file: glibc reads it as the zone of that name. */
	setenv("TZ", name, 1);
	tzset();
}

static void zone_default(void)
{
	const char *env = getenv("LEDGER_TZ");
	if (!zone[0])
		zone_apply(env && zone_known(env) ? env : LDC_DEFAULT_TZ);
}

int ldc_tz_set(const char *name)
{
	if (!zone_known(name))
		return LD_E(INVALID_VALUE);
	pthread_once(&zone_once, zone_default);
	zone_apply(name);
	return 0;
}

const char *ldc_tz(void)
{
	pthread_once(&zone_once, zone_default);
	return zone;
}

/* Local time of us in the zone; 0, or -1 if it cannot be represented. */
static int local_tm(int64_t us, struct tm *tm, int64_t *frac)
{
	int64_t secs = us / 1000000;
	*frac = us % 1000000;
	if (*frac < 0) {
		*frac += 1000000;
		secs--;
	}
	time_t t = (time_t)secs;
	pthread_once(&zone_once, zone_default);
	return localtime_r(&t, tm) ? 0 : -1;
}

int ldc_tz_offset_s(int64_t us)
{
	struct tm tm;
	int64_t frac;
	return local_tm(us, &tm, &frac) == 0 ? (int)tm.tm_gmtoff : 0;
}

/* ------------------------------------------------------------------ */
/* Months                                                              */
/* ------------------------------------------------------------------ */

void ldc_format_period(uint32_t period, char out[16])
{
	if (period == 0)
		snprintf(out, 16, "-");
	else if (period % 100 >= 1 && period % 100 <= 12 && period >= 100000 && period <= 999912)
		snprintf(out, 16, "%04u-%02u", period / 100, period % 100);
	else
		snprintf(out, 16, "%u", period);
}

/* Reads exactly n digits from *s, advancing it. */
static int digits(const char **s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char ch = (*s)[i];
		if (ch < '0' || ch > '9')
			return -1;
		v = v * 10 + (ch - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

int ldc_parse_period(const char *s, uint32_t *out)
{
	int y, m;
	if (!s || digits(&s, 4, &y) != 0)
		return LD_E(INVALID_VALUE);
	if (*s == '-')
		s++;
	if (digits(&s, 2, &m) != 0 || *s)
		return LD_E(INVALID_VALUE);
	if (y < 1900 || m < 1 || m > 12)
		return LD_E(INVALID_VALUE);
	*out = (uint32_t)(y * 100 + m);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Times                                                               */
/* ------------------------------------------------------------------ */

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return days[m - 1] + (m == 2 && leap);
}

/* An explicit zone at the end of a time: "Z", "+08:00", "-0500". *utc is
 * set when one is there, with its offset in seconds; -1 for anything else
 * but the end of the string. */
static int explicit_zone(const char *s, int *utc, long *offset)
{
	int h, m;
	*utc = 0;
	*offset = 0;
	if (!*s)
		return 0;
	if ((s[0] == 'Z' || s[0] == 'z') && !s[1]) {
		*utc = 1;
		return 0;
	}
	if (s[0] != '+' && s[0] != '-')
		return -1;
	int sign = s[0] == '-' ? -1 : 1;
	s++;
	if (digits(&s, 2, &h) != 0)
		return -1;
	if (*s == ':')
		s++;
	if (digits(&s, 2, &m) != 0 || *s || h > 23 || m > 59)
		return -1;
	*utc = 1;
	*offset = sign * (h * 3600L + m * 60L);
	return 0;
}

int ldc_parse_time(const char *s, int64_t *us)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, utc;
	long offset;
	int64_t frac = 0; /* µs: up to six digits after the seconds, as printed */
	if (!s || digits(&s, 4, &y) != 0 || *s++ != '-' || digits(&s, 2, &mo) != 0 ||
	    *s++ != '-' || digits(&s, 2, &d) != 0)
		return LD_E(INVALID_VALUE);
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (digits(&s, 2, &h) != 0 || *s++ != ':' || digits(&s, 2, &mi) != 0 ||
		    *s++ != ':' || digits(&s, 2, &sec) != 0)
			return LD_E(INVALID_VALUE);
		if (*s == '.') {
			int n = 0;
			for (s++; *s >= '0' && *s <= '9'; s++, n++)
				if (n < 6)
					frac = frac * 10 + (*s - '0');
				else
					return LD_E(INVALID_VALUE);
			if (n == 0)
				return LD_E(INVALID_VALUE);
			for (; n < 6; n++)
				frac *= 10;
		}
	}
	if (explicit_zone(s, &utc, &offset) != 0)
		return LD_E(INVALID_VALUE);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 59)
		return LD_E(INVALID_VALUE);
	struct tm tm = {
		.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
		.tm_hour = h, .tm_min = mi, .tm_sec = sec, .tm_isdst = -1,
	};
	time_t t;
	if (utc) {
		t = timegm(&tm) - offset;
	} else {
		pthread_once(&zone_once, zone_default);
		t = mktime(&tm);
	}
	if (t == (time_t)-1 || t < 0)
		return LD_E(INVALID_VALUE);
	*us = (int64_t)t * 1000000 + frac;
	return 0;
}

/* n digits (at least min) of s as *v, s moved past them: 0, or -1. */
static int some_digits(const char **s, int min, int max, int *v)
{
	int n = 0;
	*v = 0;
	while (n < max && **s >= '0' && **s <= '9')
		*v = *v * 10 + (*(*s)++ - '0'), n++;
	return n >= min ? 0 : -1;
}

/* A clerk's form of a day (when.h) as "YYYY-MM-DDTHH:MM:SS" in iso: 0, or
 * -1 for any other text. */
static int clerk_form(const char *s, char iso[32])
{
	static const char *const after[2][4] = {{"-", "/", ".", "年"}, {"-", "/", ".", "月"}};
	int part[3], h = 0, mi = 0, sec = 0;
	if (strspn(s, "0123456789") == 8) {
		part[0] = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
		part[1] = (s[4] - '0') * 10 + (s[5] - '0');
		part[2] = (s[6] - '0') * 10 + (s[7] - '0');
		s += 8;
	} else {
		for (int f = 0; f < 3; f++) {
			if (some_digits(&s, f ? 1 : 4, f ? 2 : 4, &part[f]) != 0)
				return -1;
			if (f == 2)
				break;
			size_t k = 0, sl = 0;
			while (k < 4 && strncmp(s, after[f][k], sl = strlen(after[f][k])) != 0)
				k++;
			if (k == 4)
				return -1;
			s += sl;
		}
		if (strncmp(s, "日", strlen("日")) == 0)
			s += strlen("日");
	}
	if (*s == ' ' || *s == 'T') {
		s++;
		if (some_digits(&s, 1, 2, &h) != 0 || *s++ != ':' || some_digits(&s, 2, 2, &mi) != 0)
			return -1;
		if (*s == ':' && (s++, some_digits(&s, 2, 2, &sec) != 0))
			return -1;
	}
	if (*s)
		return -1;
	snprintf(iso, 32, "%04d-%02d-%02dT%02d:%02d:%02d", part[0], part[1], part[2], h, mi, sec);
	return 0;
}

int ldc_parse_clerk_time(const char *s, int64_t *us)
{
	char iso[32];
	if (!s)
		return LD_E(INVALID_VALUE);
	return ldc_parse_time(clerk_form(s, iso) == 0 ? iso : s, us);
}

void ldc_format_time(int64_t us, char out[32])
{
	struct tm tm;
	int64_t frac;
	if (local_tm(us, &tm, &frac) != 0) {
		snprintf(out, 32, "@%lld", (long long)us);
		return;
	}
	size_t n = strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
	if (frac)
		snprintf(out + n, 32 - n, ".%06lld", (long long)frac);
}

void ldc_format_rfc3339(int64_t us, char out[LDC_RFC3339_MAX])
{
	struct tm tm;
	int64_t frac;
	if (local_tm(us, &tm, &frac) != 0) {
		snprintf(out, LDC_RFC3339_MAX, "@%lld", (long long)us);
		return;
	}
	size_t n = strftime(out, LDC_RFC3339_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac)
		n += (size_t)snprintf(out + n, LDC_RFC3339_MAX - n, ".%06lld", (long long)frac);
	long off = tm.tm_gmtoff;
	if (off == 0) {
		snprintf(out + n, LDC_RFC3339_MAX - n, "Z");
		return;
	}
	char sign = off < 0 ? '-' : '+';
	off = off < 0 ? -off : off;
	snprintf(out + n, LDC_RFC3339_MAX - n, "%c%02ld:%02ld", sign, off / 3600, off / 60 % 60);
}
