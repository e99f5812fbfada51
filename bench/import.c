/*
 * import.c — the collective registration import, measured (target: at least
 * 100,000 rows/s from CSV, end to end).
 *
 *   import --url URL --org ORG [--rows N] [--runs R] [--seed S] [--batch B] [--jobs J]
 *          [--dir DIR]
 *
 * Writes R files of N rows each (fixed seed; run r has its own persons, so
 * every run records new members), in the shape clerks keep them: a Chinese
 * header, Chinese labels, phone numbers, dates written three ways. Then per
 * run, one after the other:
 *
 *   parse  reading and checking every row in process (csvimport.c: libcsv,
 *          the ID check digit, the HMAC of the ID, the event): the client's
 *          ceiling
 *   import ldc_import into the daemon at URL (ORG must exist): the end-to-end
 *          figure, durable (an answer comes after the commit's fsync)
 *   again  the same file again: every row a duplicate
 *
 * and prints one line per run and the medians (min-max) of rows/s.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"
#include "csvimport.h"
#include "importer.h"
#include "rng.h"

static void summary(const char *what, double *v, int n)
{
	stats s = stats_of(v, (size_t)n);
	printf("%-7s median %.0f rows/s (min %.0f, max %.0f, %d runs)\n", what, s.median, s.min,
	       s.max, n);
}

/* A resident ID: 6-digit region, birth date, 3-digit sequence, check digit. */
static void make_id(uint32_t region, int y, int m, int d, int seq, char out[19])
{
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	char digits[32]; /* room for any int, as the compiler cannot see the ranges */
	snprintf(digits, sizeof(digits), "%06u%04d%02d%02d%03d", region % 1000000, y % 10000,
		 m % 100, d % 100, seq % 1000);
	memcpy(out, digits, 17);
	int sum = 0;
	for (int i = 0; i < 17; i++)
		sum += (out[i] - '0') * w[i];
	out[17] = "10X98765432"[sum % 11];
	out[18] = '\0';
}

/* Writes run r's file: n rows, persons unique across runs. */
static int write_file(const char *path, uint64_t seed, int r, long n)
{
	static const char *const surname[] = {"王", "李", "张", "刘", "陈", "杨", "赵", "黄",
					      "周", "吴", "徐", "孙", "胡", "朱", "高", "林"};
	static const char *const given[] = {"伟", "芳", "娜", "敏", "静", "丽", "强", "磊",
					    "军", "洋", "勇", "艳", "杰", "涛", "明", "超"};
	static const char *const group[] = {"网约配送员", "快递员", "网约车司机", "货车司机",
					    "网络主播", "家政服务员", "delivery-rider"};
	static const char *const platform[] = {"美团", "饿了么", "顺丰", "滴滴", "抖音", "京东", ""};
	static const char *const employment[] = {"不完全劳动关系", "个体经营", "劳动关系",
						 "劳务派遣", "partial"};
	static const char *const channel[] = {"集体登记", "", "线上", "流动窗口", "沟通会现场"};
	static const uint32_t region[] = {320102, 320104, 320105, 320106, 320111, 320113,
					  320205, 320206, 320311, 320412, 320506, 320583, 320611};
	ldc_rng g;
	ldc_rng_seed(&g, seed * 1000 + (uint64_t)r);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "姓名,身份证号,手机,职业群体,平台,用工关系,地区,入会渠道,入会日期\n");
	for (long i = 0; i < n; i++) {
		/* Unique person: (run, i) spread over birth dates and sequences. */
		long k = (long)r * n + i, day = k / 1000; /* unique below 15M */
		int y = 1960 + (int)(day / (12 * 28) % 45);
		int m = 1 + (int)(day / 28 % 12), d = 1 + (int)(day % 28);
		char id[19];
		uint32_t reg = region[ldc_rng_below(&g, 13)];
		make_id(reg, y, m, d, (int)(k % 1000), id);
		int date_form = (int)ldc_rng_below(&g, 3);
		int dm = 1 + (int)ldc_rng_below(&g, 12), dd = 1 + (int)ldc_rng_below(&g, 28);
		char date[48];
		if (date_form == 0)
			snprintf(date, sizeof(date), "2025-%02d-%02d", dm, dd);
		else if (date_form == 1)
			snprintf(date, sizeof(date), "2025/%d/%d", dm, dd);
		else
			snprintf(date, sizeof(date), "2025年%d月%d日", dm, dd);
		fprintf(f, "%s%s%s,%s,1%02u%08u,%s,%s,%s,%u,%s,%s\n", surname[ldc_rng_below(&g, 16)],
			given[ldc_rng_below(&g, 16)], given[ldc_rng_below(&g, 16)], id,
			30 + (unsigned)ldc_rng_below(&g, 60), (unsigned)ldc_rng_below(&g, 100000000),
			group[ldc_rng_below(&g, 7)], platform[ldc_rng_below(&g, 7)],
			employment[ldc_rng_below(&g, 5)], reg, channel[ldc_rng_below(&g, 5)], date);
	}
	return fclose(f);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

int main(int argc, char **argv)
{
	const char *url = LDC_DEFAULT_URL, *org = NULL, *dir = "/var/tmp";
	long rows = 200000;
	int runs = 3, jobs = 4, batch = 1000, keep = 0;
	uint64_t seed = 42;
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},  {"org", required_argument, NULL, 'o'},
		{"rows", required_argument, NULL, 'n'}, {"runs", required_argument, NULL, 'r'},
		{"seed", required_argument, NULL, 's'}, {"jobs", required_argument, NULL, 'j'},
		{"batch", required_argument, NULL, 'b'}, {"dir", required_argument, NULL, 'd'},
		{"keep", no_argument, NULL, 'k'}, {NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'o': org = optarg; break;
		case 'n': rows = atol(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'j': jobs = atoi(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 'k': keep = 1; break;
		default:
			fprintf(stderr, "usage: import --url URL --org ORG [--rows N] [--runs R] "
					"[--seed S] [--batch B] [--jobs J] [--dir DIR] [--keep]\n"
					"  --keep: leave the generated files in DIR (to import them by hand)\n");
			return 2;
		}
	}
	if (!org || rows < 1 || runs < 1 || runs > 64) {
		fprintf(stderr, "import: --org ORG (existing), --rows >= 1, --runs 1-64\n");
		return 2;
	}
	double parse[64], imp[64], again[64];
	char path[4096];
	for (int r = 0; r < runs; r++) {
		snprintf(path, sizeof(path), "%s/ledgerd-import-bench-%ld-%d.csv", dir, (long)getpid(), r);
		if (write_file(path, seed, r, rows) != 0) {
			fprintf(stderr, "import: cannot write '%s': %s\n", path, strerror(errno));
			return 1;
		}
		struct stat st;
		stat(path, &st);

		/* parse: the client alone */
		size_t len;
		char *data = slurp(path, &len);
		csvimp_options co = {.org_id = org};
		ld_errinfo e = {0};
		csvimp *ci;
		double t0 = now_s();
		if (!data || csvimp_open(&ci, data, len, &co, &e) != 0) {
			fprintf(stderr, "import: %s\n", e.message);
			return 1;
		}
		csvimp_row *row = malloc(sizeof(*row));
		long good = 0, n = 0;
		while (csvimp_next(ci, row) == 1) {
			n++;
			good += row->code == 0;
		}
		double t1 = now_s();
		csvimp_free(ci);
		free(row);
		free(data);
		parse[r] = (double)n / (t1 - t0);

		/* import, then again */
		ldc_import_options o = {.url = url, .path = path, .batch = (unsigned)batch,
					.jobs = (unsigned)jobs, .progress = 0};
		o.csv = co;
		ldc_import_result res;
		if (ldc_import(&o, &res, &e) != 0) {
			fprintf(stderr, "import: %s\n", e.message);
			return 1;
		}
		imp[r] = (double)res.rows / res.seconds;
		ldc_import_result res2;
		if (ldc_import(&o, &res2, &e) != 0) {
			fprintf(stderr, "import: %s\n", e.message);
			return 1;
		}
		again[r] = (double)res2.rows / res2.seconds;
		printf("run %d: %ld rows (%.1f MB, %ld good): parse %.0f rows/s; import %.0f rows/s "
		       "(%llu recorded, %llu rejected, %.2f s); again %.0f rows/s (%llu "
		       "duplicates)\n",
		       r + 1, n, (double)st.st_size / 1e6, good, parse[r], imp[r],
		       (unsigned long long)res.imported, (unsigned long long)res.rejected,
		       res.seconds, again[r], (unsigned long long)res2.duplicates);
		fflush(stdout);
		if (keep)
			printf("kept %s\n", path);
		else
			unlink(path);
		unlink(res.report_path);
		if (res.imported + res.duplicates != (uint64_t)good) {
			fprintf(stderr, "import: %llu of %ld good rows recorded\n",
				(unsigned long long)(res.imported + res.duplicates), good);
			return 1;
		}
	}
	summary("parse", parse, runs);
	summary("import", imp, runs);
	summary("again", again, runs);
	return 0;
}
