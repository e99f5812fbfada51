/*
 * test_progress_view.c — plan progress as text (clients/progress_view.c):
 * percents round as people and the dashboard do (an exact half away from
 * zero, as JavaScript's Number.toFixed(1); the table below is what node
 * prints for each value), in the report's lines, the one-line form and the
 * CSV, so that ledgerctl, the monitor and the dashboard show one figure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress_view.h"
#include "testlib.h"

static void test_pct_rounds_halves_up(void **state)
{
	(void)state;
	static const struct {
		double x;
		const char *want; /* (x).toFixed(1) in node */
	} cases[] = {
	    {111.25, "111.3"}, {1.15, "1.1"},   {0.05, "0.1"},    {-0.25, "-0.3"},
	    {12.75, "12.8"},   {2.5, "2.5"},    {100, "100.0"},   {0, "0.0"},
	    {98.95, "99.0"},   {87.5, "87.5"},  {100.49999999999999, "100.5"},
	    {33.35, "33.4"},   {0.25, "0.3"},   {0.75, "0.8"},    {1000000.25, "1000000.3"},
	};
	char out[32];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pv_pct(cases[i].x, out, sizeof(out));
		if (strcmp(out, cases[i].want))
			fail_msg("pv_pct(%.17g) = %s, the dashboard shows %s", cases[i].x, out,
				 cases[i].want);
	}
	pv_pct(89.0 * 100.0 / 80.0, out, sizeof(out)); /* 89 of 80 service fairs */
	assert_string_equal(out, "111.3");
}

/* A report of one row, 89 of a target of 80 (111.25%). */
static void one_row(Ledger__ProgressReport *r, Ledger__PlanInfo *p, Ledger__PlanTarget *t,
		    Ledger__PlanTarget **tp, Ledger__ProgressRow *row, Ledger__ProgressRow **rp)
{
	ledger__plan_info__init(p);
	ledger__plan_target__init(t);
	ledger__progress_row__init(row);
	ledger__progress_report__init(r);
	p->id = "jiangsu-2024-2026";
	p->title = "plan";
	p->has_region = 1;
	p->region = 320000;
	t->id = "service-fairs";
	t->title = "fairs";
	t->measure = "count";
	t->window = "cumulative";
	*tp = t;
	p->targets = tp;
	p->n_targets = 1;
	row->target_id = "service-fairs";
	row->has_region = row->has_actual = row->has_target = row->has_percent = 1;
	row->region = 320000;
	row->actual = 89;
	row->target = 80;
	row->percent = 89.0 * 100.0 / 80.0;
	row->has_status = 1;
	row->status = LEDGER__PROGRESS_STATUS__ACHIEVED;
	*rp = row;
	r->plan = p;
	r->rows = rp;
	r->n_rows = 1;
	r->has_seq = 1;
	r->seq = 42;
}

static char *printed(void (*print)(FILE *, const Ledger__ProgressReport *, const pv_opts *),
		     const Ledger__ProgressReport *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	pv_opts o = {0};
	print(f, r, &o);
	fclose(f);
	return buf;
}

static void test_report_csv_and_line_agree(void **state)
{
	(void)state;
	Ledger__ProgressReport r;
	Ledger__PlanInfo p;
	Ledger__PlanTarget t, *tp;
	Ledger__ProgressRow row, *rp;
	one_row(&r, &p, &t, &tp, &row, &rp);

	char *text = printed(pv_print_report, &r);
	if (!strstr(text, " 111.3%  "))
		fail_msg("the report's line does not show 111.3%%:\n%s", text);
	free(text);
	char *csv = printed(pv_print_csv, &r);
	if (!strstr(csv, ",89,80,111.3,"))
		fail_msg("the CSV does not show 111.3:\n%s", csv);
	free(csv);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	pv_print_line(f, &r, &row);
	fclose(f);
	if (!strstr(buf, " percent=111.3 "))
		fail_msg("the one-line form does not show 111.3: %s", buf);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pct_rounds_halves_up),
	    cmocka_unit_test(test_report_csv_and_line_agree),
	};
	return tl_run_tests(tests, NULL, NULL);
}
