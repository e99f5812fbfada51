/*
 * test_progress.c — plans as data and the plan-progress projection.
 *
 * The shipped plan files load; plan files with errors are refused with the
 * file, the line and the reason. A scripted history touches every target of
 * the Jiangsu and Guangdong plans — first joins and rejoins, late-recorded
 * events, voids and amendments, distinct members, ratios, events outside a
 * plan's region or period — and every figure is checked against a count made
 * by hand, with the status judged at a fixed time. A rebuild gives the same
 * reports; changing the plan files rebuilds the projection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "client.h"
#include "plan.h"
#include "progress.h"
#include "projection.h"
#include "testlib.h"

/* ------------------------------------------------------------------ */
/* Fixture                                                             */
/* ------------------------------------------------------------------ */

typedef struct fx {
	tl_ledger l;
	runner *r;
	char pdir[600];
	char plans[1024]; /* the plans the runner starts with */
	ld_arena a;
} fx;

static const char *plans_dir(void)
{
	static char dir[1024];
	const char *root = getenv("ROOT");
	snprintf(dir, sizeof(dir), "%s/plans", root ? root : ".");
	return dir;
}

/* The plans the next start loads. */
static void load_plans(fx *f, const char *dir)
{
	snprintf(f->plans, sizeof(f->plans), "%s", dir);
}

static void start(fx *f)
{
	ld_errinfo e = {0};
	proj_options o = {.plans_dir = f->plans};
	if (runner_start(&f->r, f->pdir, f->l.s, f->l.w, &o, &e) != 0)
		fail_msg("runner_start (plans %s): %s", f->plans, e.message);
}

static const plan_set *plans_of(fx *f)
{
	return progress_plans(progress_of(f->r));
}

static void stop(fx *f)
{
	runner_free(f->r);
	writer_on_commit(f->l.w, NULL, NULL);
	f->r = NULL;
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	tl_open(&f->l, 0);
	snprintf(f->pdir, sizeof(f->pdir), "%s/projections", f->l.dir);
	load_plans(f, plans_dir());
	start(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	if (f->r)
		stop(f);
	tl_close(&f->l);
	ld_arena_free(&f->a);
	free(f);
	return 0;
}

#define caught_up(f) tl_caught_up(&(f)->l, (f)->r)
#define OK(f, ev)    TL_OK(&(f)->l, ev)
#define day(y, m, d) tl_day(y, m, d)
#define when(ev, t)  tl_at(ev, t)

static Ledger__Event *activity(const char *org, Ledger__ActivityKind kind, uint32_t participants,
			       uint32_t enterprises, int64_t t)
{
	Ledger__Event *ev = tl_event();
	Ledger__ActivityHeld *a = tl_alloc(sizeof(*a));
	ledger__activity_held__init(a);
	a->has_kind = a->has_participants = 1;
	a->kind = kind;
	a->org_id = tl_strdup(org);
	a->participants = participants;
	if (enterprises) {
		a->has_enterprises_reached = 1;
		a->enterprises_reached = enterprises;
	}
	ev->body_case = LEDGER__EVENT__BODY_ACTIVITY_HELD;
	ev->activity_held = a;
	return when(ev, t);
}

static Ledger__Event *service(const char *org, const char *member, Ledger__ServiceKind kind,
			      uint32_t quantity, int64_t fen, int64_t t)
{
	Ledger__Event *ev = tl_service(org, member, kind);
	if (quantity) {
		ev->service_delivered->has_quantity = 1;
		ev->service_delivered->quantity = quantity;
	}
	if (fen) {
		ev->service_delivered->has_amount_fen = 1;
		ev->service_delivered->amount_fen = fen;
	}
	return when(ev, t);
}

static Ledger__Event *station(const char *id, const char *org, Ledger__StationKind kind,
			      uint32_t region, int64_t t)
{
	Ledger__Event *ev = tl_event();
	Ledger__StationOpened *s = tl_alloc(sizeof(*s));
	ledger__station_opened__init(s);
	s->station_id = tl_strdup(id);
	s->org_id = tl_strdup(org);
	s->has_kind = s->has_region = 1;
	s->kind = kind;
	s->region = region;
	ev->body_case = LEDGER__EVENT__BODY_STATION_OPENED;
	ev->station_opened = s;
	return when(ev, t);
}

static Ledger__Event *join(const char *member, const char *org, int person, Ledger__WorkerGroup g,
			   int real_name, int64_t t)
{
	Ledger__Event *ev = tl_join(member, org, person);
	ev->member_joined->worker_group = g;
	ev->member_joined->real_name = real_name;
	return when(ev, t);
}

/* One figure of a report judged at `at`. */
typedef struct fig {
	int64_t actual, den, target;
	int has_target, status;
} fig;

static fig figure(fx *f, const char *plan_id, const char *target, uint32_t year, uint32_t region,
		  int64_t at)
{
	const plan *p = plan_find(plans_of(f), plan_id);
	store_txn *t;
	Ledger__ProgressReport rep;
	ld_errinfo e = {0};
	fig g = {0};
	assert_non_null(p);
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
	if (progress_report(progress_of(f->r), KV_READ_TXN(t), p, 0, 0, at, &rep, &f->a, &e) != 0)
		fail_msg("report: %s", e.message);
	store_read_end(t);
	for (size_t i = 0; i < rep.n_rows; i++) {
		const Ledger__ProgressRow *r = rep.rows[i];
		if (strcmp(r->target_id, target) || r->year != year || r->region != region)
			continue;
		g.actual = r->actual;
		g.den = r->denominator;
		g.target = r->target;
		g.has_target = r->has_target;
		g.status = r->status;
		return g;
	}
	fail_msg("no row %s/%s/%u/%u", plan_id, target, year, region);
	return g;
}

/* A figure (year 0: the whole plan's) as it stood at the end of day ymd. */
static int64_t figure_upto(fx *f, const char *plan_id, const char *target, uint32_t region,
			   uint32_t ymd)
{
	const plan *p = plan_find(plans_of(f), plan_id);
	store_txn *t;
	Ledger__ProgressReport rep;
	ld_errinfo e = {0};
	assert_non_null(p);
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
	if (progress_report_day(progress_of(f->r), KV_READ_TXN(t), p, 0, region, ymd,
				day(2026, 7, 2) /* AT, below */, &rep,
				&f->a, &e) != 0)
		fail_msg("report: %s", e.message);
	store_read_end(t);
	for (size_t i = 0; i < rep.n_rows; i++)
		if (!strcmp(rep.rows[i]->target_id, target) && rep.rows[i]->year == 0)
			return rep.rows[i]->actual;
	fail_msg("no row %s/%s/%u", plan_id, target, region);
	return -1;
}

#define EXPECT(f, plan, target, year, region, want)                                               \
	do {                                                                                        \
		fig g_ = figure(f, plan, target, year, region, AT);                                 \
		if (g_.actual != (want))                                                            \
			fail_msg("%s %s %u %u: actual %lld, want %lld", plan, target, year, region, \
				 (long long)g_.actual, (long long)(want));                          \
	} while (0)

/* ------------------------------------------------------------------ */
/* Plan files                                                          */
/* ------------------------------------------------------------------ */

static void test_shipped_plans_load(void **state)
{
	(void)state;
	plan_set s;
	ld_errinfo e = {0};
	if (plan_load_dir(plans_dir(), 0, &s, &e) != 0)
		fail_msg("%s", e.message);
	assert_int_equal(s.n, 2);
	const plan *js = plan_find(&s, "jiangsu-2024-2026"), *gd = plan_find(&s, "guangdong-2021-2022");
	assert_non_null(js);
	assert_non_null(gd);
	assert_int_equal(js->ntargets, 15);
	assert_int_equal(js->ncities, 13);
	assert_int_equal(js->region, 320000);
	assert_int_equal(js->from_year, 2024);
	assert_int_equal(js->to_year, 2026);
	assert_int_equal(gd->ntargets, 5);
	assert_int_equal(gd->ncities, 21);
	/* 2024-01-01 00:00 in China is 2023-12-31 16:00 UTC. */
	assert_int_equal(js->from_us, (int64_t)1704038400 * 1000000);
	assert_int_equal(plan_year_of(js, js->from_us), 2024);
	assert_int_equal(plan_year_of(js, js->from_us - 1), 2023);
	int found = 0;
	for (unsigned i = 0; i < js->ntargets; i++) {
		const plan_target *t = &js->targets[i];
		if (!strcmp(t->id, "education-grant-amount")) {
			found++;
			assert_int_equal(t->measure, PM_SUM);
			assert_int_equal(t->field, PF_AMOUNT);
			assert_int_equal(t->target, 500000000);
			assert_int_equal(t->window, PW_YEARLY);
		}
		if (!strcmp(t->id, "national-security-education")) {
			found++;
			assert_int_equal(t->city_targets, PCT_NONE);
		}
	}
	assert_int_equal(found, 2);
	plan_set_free(&s);
}

static const char good_head[] = "id: t\n"
				"title: T\n"
				"region: 320000\n"
				"from: 2024-01-01\n"
				"to: 2024-12-31\n"
				"targets:\n";

/* A fresh directory (dir: "/tmp/...-XXXXXX", filled in) holding text as
 * its file name (tl_rmrf(dir) when done). */
static void plan_dir_with(char *dir, const char *name, const char *text)
{
	char path[700];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* Writes text to a file of a fresh directory, loads the directory and
 * expects an error message containing want. */
static void expect_error(const char *text, const char *want)
{
	char dir[] = "/tmp/ld-plan-XXXXXX";
	plan_dir_with(dir, "p.yaml", text);
	plan_set s;
	ld_errinfo e = {0};
	int rc = plan_load_dir(dir, 0, &s, &e);
	tl_rmrf(dir);
	if (rc == 0) {
		plan_set_free(&s);
		fail_msg("loaded, want an error with '%s'", want);
	}
	assert_int_equal(rc, LD_E(INVALID_VALUE));
	if (!strstr(e.message, want))
		fail_msg("error '%s' does not say '%s'", e.message, want);
}

/* expect_error of good_head with target (a target's lines) after it. */
static void expect_target_error(const char *target, const char *want)
{
	char buf[2048];
	snprintf(buf, sizeof(buf), "%s%s", good_head, target);
	expect_error(buf, want);
}

static void test_plan_errors(void **state)
{
	(void)state;
	/* Line 9: the measure. */
	expect_target_error(
	    "  - id: a\n    title: A\n    event: member_joined\n    measure: counts\n"
	    "    window: yearly\n    target: 5\n",
	    "p.yaml:10: 'measure' must be count");
	expect_target_error(
	    "  - id: a\n    title: A\n    event: activity_held\n    where: { kind: fair }\n"
	    "    measure: count\n    window: yearly\n    target: 5\n",
	    "p.yaml:10: 'kind': unknown ActivityKind 'fair' (one of: service_fair");
	expect_target_error(
	    "  - id: a\n    title: A\n    event: activity_held\n    measure: count\n"
	    "    window: yearly\n",
	    "p.yaml:7: target a: 'target' is missing");
	expect_target_error(
	    "  - id: a\n    title: A\n    event: service_delivered\n"
	    "    measure: { sum: participants }\n    window: yearly\n    target: 5\n",
	    "p.yaml:10: sum: 'participants' is not a field of service_delivered");
	expect_target_error(
	    "  - id: a\n    title: A\n    event: member_joined\n    where: { kind: x }\n"
	    "    measure: count\n    window: yearly\n    target: 5\n",
	    "p.yaml:10: where: 'kind' is not a filter of member_joined events");
	expect_target_error(
	    "  - id: a\n    title: A\n    event: member_joined\n    measure: count\n"
	    "    window: yearly\n    target: 5\n  - id: a\n    title: B\n"
	    "    event: member_joined\n    measure: count\n    window: yearly\n    target: 5\n",
	    "p.yaml:13: target id 'a' is used twice (first at line 7)");
	expect_error("id: t\ntitle: T\nregion: 320000\nfrom: 2024-02-30\n",
	             "p.yaml:4: 'from' must be a date");
	expect_error("id: t\ntitle: T\nregion: 320100\n",
	             "p.yaml:3: 'region' must be a province code");
	expect_error("id: t\ntitle: [unclosed\nregion: 320000\n", "p.yaml:");
	expect_error(
	    "id: t\ntitle: T\nfrom: 2024-01-01\nto: 2024-12-31\ncities:\n  440100: 广州市\n"
	    "region: 320000\ntargets: []\n",
	    "p.yaml:6: city 440100");
	expect_target_error(
	    "  - id: a\n    title: A\n    event: member_joined\n"
	    "    measure: { ratio: { real_name: true } }\n    window: yearly\n    target: 180\n",
	    "a ratio's target is a percent");
	expect_error("id: t\nbogus: 1\n", "p.yaml:2: unknown key 'bogus'");
	/* An average a year of a share, or of members counted once: no sum. */
	expect_target_error(
	    "  - id: a\n    title: A\n    event: member_joined\n"
	    "    measure: { ratio: { real_name: true } }\n    window: yearly_average\n"
	    "    target: 80\n",
	    "p.yaml:11: window yearly_average averages a count or a sum over the "
	    "years, not a ratio");
	expect_target_error(
	    "  - id: a\n    title: A\n    event: member_joined\n"
	    "    measure: distinct_members\n    window: yearly_average\n    target: 80\n",
	    "not a number of distinct members");
	expect_target_error("  - id: a\n    title: A\n    event: member_joined\n"
	                    "    measure: count\n    window: average\n    target: 80\n",
	                    "p.yaml:11: 'window' must be yearly, cumulative or yearly_average");
	/* An average a year whose total over the period passes a target's
	 * bound: it was taken for a target of 1 (llround past INT64_MAX). */
	expect_error("id: t\ntitle: T\nregion: 320000\nfrom: 2024-01-01\nto: 2031-12-31\n"
	             "targets:\n  - id: a\n    title: A\n    event: member_joined\n"
	             "    measure: count\n    window: yearly_average\n"
	             "    target: 2000000000000000000\n",
	             "p.yaml:7: target a: 2000000000000000000 a year over the plan's 8.00 "
	             "years is more than 2305843009213693951 in all");
	/* Within it, over one year, it loads. */
	char dir[] = "/tmp/ld-plan-XXXXXX";
	plan_dir_with(dir, "p.yaml",
		      "id: t\ntitle: T\nregion: 320000\nfrom: 2024-01-01\nto: 2024-12-31\n"
		      "targets:\n  - id: a\n    title: A\n    event: member_joined\n"
		      "    measure: count\n    window: yearly_average\n"
		      "    target: 2000000000000000000\n");
	plan_set s;
	ld_errinfo e = {0};
	int rc = plan_load_dir(dir, 0, &s, &e);
	tl_rmrf(dir);
	if (rc)
		fail_msg("a yearly average within the bound: %s", e.message);
	plan_set_free(&s);
}

/* Every filter key of a plan, against events that pass it and events that
 * do not: the key reads its field of the body (plan_filter_matches). */
static void test_plan_filters(void **state)
{
	(void)state;
	static const struct {
		const char *event, *where;
	} targets[] = {
	    {"member_joined", "{ worker_group: [courier, delivery_rider], channel: online, "
	                      "join_path: platform_work, employment: self_employed, "
	                      "real_name: true, first_join: true }"},
	    {"service_delivered", "{ kind: legal_aid, member: false }"},
	    {"activity_held", "{ kind: service_fair }"},
	    {"station_opened", "{ kind: rider_home }"},
	    {"org_registered", "{ kind: platform_enterprise_union, worker_group: courier }"},
	};
	char buf[4096];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "%s", good_head);
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
		                      "  - id: t%zu\n    title: T\n    event: %s\n    where: %s\n"
		                      "    measure: count\n    window: yearly\n    target: 5\n",
		                      i, targets[i].event, targets[i].where);
	plan p;
	ld_errinfo e = {0};
	if (plan_load_buffer("f.yaml", buf, n, &p, &e))
		fail_msg("%s", e.message);
	assert_int_equal(p.ntargets, 5);
	const plan_filter *fj = &p.targets[0].where, *fs = &p.targets[1].where;
	const plan_filter *fa = &p.targets[2].where, *fst = &p.targets[3].where;
	const plan_filter *fo = &p.targets[4].where;

	Ledger__Event *j = tl_join("M1", "NJ", 1);
	Ledger__MemberJoined *mj = j->member_joined;
	mj->worker_group = LEDGER__WORKER_GROUP__DELIVERY_RIDER;
	mj->channel = LEDGER__JOIN_CHANNEL__ONLINE;
	mj->join_path = LEDGER__JOIN_PATH__PLATFORM_WORK;
	mj->employment = LEDGER__EMPLOYMENT_RELATION__SELF_EMPLOYED;
	mj->real_name = 1;
	assert_true(plan_filter_matches(fj, j, 1));
	assert_false(plan_filter_matches(fj, j, 0)); /* a rejoin */
	mj->worker_group = LEDGER__WORKER_GROUP__TRUCK_DRIVER;
	assert_false(plan_filter_matches(fj, j, 1));
	mj->worker_group = LEDGER__WORKER_GROUP__COURIER;
	assert_true(plan_filter_matches(fj, j, 1));
	mj->channel = LEDGER__JOIN_CHANNEL__CEREMONY;
	assert_false(plan_filter_matches(fj, j, 1));
	mj->channel = LEDGER__JOIN_CHANNEL__ONLINE;
	mj->join_path = LEDGER__JOIN_PATH__LABOUR_RELATION;
	assert_false(plan_filter_matches(fj, j, 1));
	mj->join_path = LEDGER__JOIN_PATH__PLATFORM_WORK;
	mj->employment = LEDGER__EMPLOYMENT_RELATION__EMPLOYED;
	assert_false(plan_filter_matches(fj, j, 1));
	mj->employment = LEDGER__EMPLOYMENT_RELATION__SELF_EMPLOYED;
	mj->real_name = 0;
	assert_false(plan_filter_matches(fj, j, 1));
	mj->real_name = 1;
	assert_true(plan_filter_matches(fj, j, 1));

	Ledger__Event *sv = tl_service("NJ", NULL, LEDGER__SERVICE_KIND__LEGAL_AID);
	assert_true(plan_filter_matches(fs, sv, 1));
	sv = tl_service("NJ", "M1", LEDGER__SERVICE_KIND__LEGAL_AID);
	assert_false(plan_filter_matches(fs, sv, 1)); /* served a member */
	sv = tl_service("NJ", NULL, LEDGER__SERVICE_KIND__HEALTH_CHECK);
	assert_false(plan_filter_matches(fs, sv, 1));

	Ledger__Event *a = tl_event();
	Ledger__ActivityHeld ah = LEDGER__ACTIVITY_HELD__INIT;
	ah.org_id = "NJ";
	ah.has_kind = ah.has_participants = 1;
	ah.kind = LEDGER__ACTIVITY_KIND__SERVICE_FAIR;
	ah.participants = 30;
	a->body_case = LEDGER__EVENT__BODY_ACTIVITY_HELD;
	a->activity_held = &ah;
	assert_true(plan_filter_matches(fa, a, 1));
	ah.kind = LEDGER__ACTIVITY_KIND__THEMED_ACTIVITY;
	assert_false(plan_filter_matches(fa, a, 1));

	Ledger__Event *st = station("S1", "NJ", LEDGER__STATION_KIND__RIDER_HOME, 320102, TL_T0);
	assert_true(plan_filter_matches(fst, st, 1));
	st->station_opened->kind = LEDGER__STATION_KIND__DRIVER_HOME;
	assert_false(plan_filter_matches(fst, st, 1));

	Ledger__Event *o = tl_org("NJ-P", LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION, "NJ", 320100);
	assert_false(plan_filter_matches(fo, o, 1)); /* no worker group */
	o->org_registered->has_worker_group = 1;
	o->org_registered->worker_group = LEDGER__WORKER_GROUP__COURIER;
	assert_true(plan_filter_matches(fo, o, 1));
	o->org_registered->kind = LEDGER__ORG_KIND__INDUSTRY_UNION;
	assert_false(plan_filter_matches(fo, o, 1));

	/* Kinds plans do not count pass no filter, not even an empty one. */
	plan_filter none;
	memset(&none, 0, sizeof(none));
	none.first_join = none.real_name = none.member = -1;
	assert_false(plan_filter_matches(&none, tl_dues("M1", 100), 1));
	assert_true(plan_filter_matches(&none, a, 1));
	plan_free(&p);
	tl_free_all();
}

/* ------------------------------------------------------------------ */
/* Figures against a count made by hand                                */
/* ------------------------------------------------------------------ */

#define JS "jiangsu-2024-2026"
#define GD "guangdong-2021-2022"
#define AT day(2026, 7, 2) /* status judged at: the middle of 2026 */

static void js_tree(fx *f)
{
	tl_tree(&f->l); /* JS 320000 > NJ 320100 (> NJ-GL, NJ-RIDER), SZ 320500 */
	OK(f, tl_org("SZ-COURIER", LEDGER__ORG_KIND__INDUSTRY_UNION, "SZ", 320505));
	OK(f, tl_workforce(320100, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 600));
	OK(f, tl_workforce(320505, LEDGER__WORKER_GROUP__COURIER, 400));
}

static void gd_tree(fx *f)
{
	OK(f, when(tl_org("GD", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 440000), day(2021, 1, 5)));
	OK(f, when(tl_org("GZ", LEDGER__ORG_KIND__FEDERATION_CITY, "GD", 440100), day(2021, 1, 5)));
	OK(f, when(tl_org("SZX", LEDGER__ORG_KIND__FEDERATION_CITY, "GD", 440300), day(2021, 1, 5)));
	/* Grassroots unions: 4 in the period, 1 after it, 1 federation (not one). */
	OK(f, when(tl_org("GZ-E1", LEDGER__ORG_KIND__ENTERPRISE_UNION, "GZ", 440106), day(2021, 3, 1)));
	OK(f, when(tl_org("GZ-P1", LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION, "GZ", 440100),
		   day(2021, 6, 1)));
	OK(f, when(tl_org("SZX-R1", LEDGER__ORG_KIND__REGIONAL_UNION, "SZX", 440304), day(2022, 2, 1)));
	OK(f, when(tl_org("SZX-I1", LEDGER__ORG_KIND__INDUSTRY_UNION, "SZX", 440300), day(2022, 12, 31)));
	OK(f, when(tl_org("SZX-E2", LEDGER__ORG_KIND__ENTERPRISE_UNION, "SZX", 440300), day(2023, 1, 1)));
	OK(f, when(tl_org("GZ-PY", LEDGER__ORG_KIND__FEDERATION_COUNTY, "GZ", 440113), day(2022, 5, 1)));
}

/*
 * "An average of T a year" (年均) over a plan of two years: judged on the
 * whole period's figure against T × the years run, so that a first year
 * short of T is made up by a second above it (a yearly window of the same
 * T stays MISSED for that first year); the rows' target is T × 2, the pace
 * T a year run; a plan of part years counts each year by its share.
 */
static const Ledger__ProgressRow *row_of(const Ledger__ProgressReport *rep, const char *target,
					 uint32_t year, uint32_t region);

static const char avg_plan[] = "id: avg\n"
			       "title: 年均测试\n"
			       "region: 320000\n"
			       "from: 2024-01-01\n"
			       "to: 2025-12-31\n"
			       "city_targets: workforce\n"
			       "cities:\n"
			       "  320100: 南京市\n"
			       "  320500: 苏州市\n"
			       "targets:\n"
			       "  - id: joins\n"
			       "    title: 年均新发展会员3人\n"
			       "    event: member_joined\n"
			       "    where: { first_join: true }\n"
			       "    measure: count\n"
			       "    window: yearly_average\n"
			       "    target: 3\n"
			       "  - id: joins-yearly\n"
			       "    title: 每年新发展会员3人\n"
			       "    event: member_joined\n"
			       "    where: { first_join: true }\n"
			       "    measure: count\n"
			       "    window: yearly\n"
			       "    target: 3\n";

static void test_yearly_average(void **state)
{
	fx *f = *state;
	char dir[] = "/tmp/ld-plans-XXXXXX";
	plan_dir_with(dir, "avg.yaml", avg_plan);
	stop(f);
	load_plans(f, dir);
	start(f);
	js_tree(f); /* NJ 600 : SZ 400 */
	OK(f, join("M1", "NJ-RIDER", 1, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 1, day(2024, 3, 1)));
	OK(f, join("M2", "SZ-COURIER", 2, LEDGER__WORKER_GROUP__COURIER, 1, day(2024, 9, 1)));
	OK(f, join("M3", "NJ-RIDER", 3, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 1, day(2025, 2, 1)));
	OK(f, join("M4", "NJ-RIDER", 4, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 1, day(2025, 5, 1)));
	OK(f, join("M5", "SZ-COURIER", 5, LEDGER__WORKER_GROUP__COURIER, 1, day(2025, 10, 1)));
	caught_up(f);

	const plan *p = plan_find(plans_of(f), "avg");
	assert_non_null(p);
	assert_true(fabs(plan_years_run(p, p->to_us) - 2.0) < 1e-9);
	assert_true(fabs(plan_years_run(p, plan_year_start(p, 2025)) - 1.0) < 1e-9);
	assert_true(plan_years_run(p, p->from_us) == 0);
	const progress *pg = progress_of(f->r);
	store_txn *t;
	Ledger__ProgressReport rep;
	ld_errinfo e = {0};
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);

	/* The end of 2024: 2 of the 3 due by then (a year run): behind. */
	assert_int_equal(progress_report_day(pg, KV_READ_TXN(t), p, 0, 0, 20241231, AT, &rep,
					     &f->a, &e), 0);
	assert_string_equal(rep.plan->targets[0]->window, "yearly_average");
	assert_true(rep.plan->targets[0]->has_years);
	assert_true(fabs(rep.plan->targets[0]->years - 2.0) < 1e-9);
	assert_int_equal(rep.plan->targets[0]->target, 3);
	const Ledger__ProgressRow *r = row_of(&rep, "joins", 0, 320000);
	assert_int_equal(r->actual, 2);
	assert_int_equal(r->target, 6);
	assert_int_equal(r->expected, 3);
	assert_int_equal(r->status, LEDGER__PROGRESS_STATUS__BEHIND);
	assert_true(fabs(r->percent - 100.0 * 2 / 6) < 1e-9);
	assert_int_equal(row_of(&rep, "joins-yearly", 2024, 320000)->status,
			 LEDGER__PROGRESS_STATUS__MISSED);

	/* 2025-07-02: due 3 × (1 + 183/365) = 4.5; 4 reached: behind still
	 * (95% of the pace is 4.28). */
	assert_int_equal(progress_report_day(pg, KV_READ_TXN(t), p, 0, 0, 20250702, AT, &rep,
					     &f->a, &e), 0);
	r = row_of(&rep, "joins", 0, 320000);
	assert_int_equal(r->actual, 4);
	assert_int_equal(r->expected, llround(3 * (1 + 183.0 / 365)));
	assert_int_equal(r->status, LEDGER__PROGRESS_STATUS__BEHIND);
	assert_true(r->has_needed_per_day);
	assert_true(fabs(r->needed_per_day - 2.0 / 182) < 1e-9);

	/* The plan over: 5 of 6 is missed ... */
	assert_int_equal(progress_report(pg, KV_READ_TXN(t), p, 0, 0, AT, &rep, &f->a, &e), 0);
	r = row_of(&rep, "joins", 0, 320000);
	assert_int_equal(r->actual, 5);
	assert_int_equal(r->status, LEDGER__PROGRESS_STATUS__MISSED);
	assert_int_equal(r->expected, 6);
	/* Its cities: the 6 shared out 600:400 (the estimates of js_tree). */
	assert_int_equal(row_of(&rep, "joins", 0, 320100)->target, 4);
	assert_int_equal(row_of(&rep, "joins", 0, 320500)->target, 2);
	store_read_end(t);

	/* ... one more in 2025 makes the average: achieved, though 2024 alone
	 * stays short of its 3. */
	OK(f, join("M6", "SZ-COURIER", 6, LEDGER__WORKER_GROUP__COURIER, 1, day(2025, 11, 1)));
	caught_up(f);
	fig g = figure(f, "avg", "joins", 0, 320000, AT);
	assert_int_equal(g.actual, 6);
	assert_int_equal(g.status, LEDGER__PROGRESS_STATUS__ACHIEVED);
	assert_int_equal(figure(f, "avg", "joins-yearly", 2024, 320000, AT).status,
			 LEDGER__PROGRESS_STATUS__MISSED);
	assert_int_equal(figure(f, "avg", "joins-yearly", 2025, 320000, AT).status,
			 LEDGER__PROGRESS_STATUS__ACHIEVED);
	stop(f);
	tl_rmrf(dir);

	/* A period of part years: each year by its share of days in it. */
	plan q;
	const char *half = "id: h\ntitle: H\nregion: 320000\nfrom: 2024-07-01\nto: 2025-06-30\n"
			   "targets:\n  - id: a\n    title: A\n    event: member_joined\n"
			   "    measure: count\n    window: yearly_average\n    target: 100\n";
	assert_int_equal(plan_load_buffer("h.yaml", half, strlen(half), &q, &e), 0);
	assert_true(fabs(plan_years_run(&q, q.to_us) - (184.0 / 366 + 181.0 / 365)) < 1e-9);
	plan_free(&q);
}

/*
 * What an event added is kept beside it ("pcontrib") to be taken back by a
 * void or an amendment: each entry said against the one before (LAYOUT 4).
 * A join counted by two targets, each for the province and the city: 4
 * entries in 48 bytes, where the entries written whole took 4 x 31 = 124
 * (the check fails on the layout before). A member's distinct entry beside
 * a sum of a big amount (a varint of 3 bytes): their figures taken back to 0 by the voids,
 * read from the lists as they were written.
 */
static const char contrib_plan[] =
    "id: cl\n"
    "title: 列表\n"
    "region: 320000\n"
    "from: 2024-01-01\n"
    "to: 2025-12-31\n"
    "city_targets: workforce\n"
    "cities:\n"
    "  320100: 南京市\n"
    "  320500: 苏州市\n"
    "targets:\n"
    "  - id: joins\n"
    "    title: 新会员\n"
    "    event: member_joined\n"
    "    measure: count\n"
    "    window: yearly_average\n"
    "    target: 3\n"
    "  - id: joins-yearly\n"
    "    title: 每年新会员\n"
    "    event: member_joined\n"
    "    measure: count\n"
    "    window: yearly\n"
    "    target: 3\n"
    "  - id: served\n"
    "    title: 服务人数\n"
    "    event: service_delivered\n"
    "    where: { member: true }\n"
    "    measure: distinct_members\n"
    "    window: yearly\n"
    "    target: 3\n"
    "  - id: amount\n"
    "    title: 金额\n"
    "    event: service_delivered\n"
    "    measure: { sum: amount_fen }\n"
    "    window: yearly\n"
    "    target: 3\n";

/* The contribution list stored for seq ("pcontrib": progress.c's second
 * database), its length (0: none). */
static size_t contrib_len(fx *f, uint64_t seq)
{
	store_txn *t;
	store_val v;
	uint8_t key[8];
	ld_put_be64(key, seq);
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
	int rc = store_get(t, proj_db(&progress_projection, 1), key, 8, &v);
	size_t n = rc == 0 ? v.len : 0;
	store_read_end(t);
	if (rc && rc != LD_E(NOT_FOUND))
		fail_msg("pcontrib %llu: %s", (unsigned long long)seq, ld_errname(rc));
	return n;
}

static void test_contribution_lists(void **state)
{
	fx *f = *state;
	char dir[] = "/tmp/ld-plans-XXXXXX";
	plan_dir_with(dir, "cl.yaml", contrib_plan);
	stop(f);
	load_plans(f, dir);
	start(f);
	js_tree(f);
	uint64_t j1 = OK(f, join("M1", "NJ-RIDER", 1, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 1,
				 day(2024, 3, 1)));
	uint64_t j2 = OK(f, join("M2", "SZ-COURIER", 2, LEDGER__WORKER_GROUP__COURIER, 1,
				 day(2024, 4, 1)));
	uint64_t s1 = OK(f, service("NJ-RIDER", "M1", LEDGER__SERVICE_KIND__EDUCATION_GRANT, 0,
				    1234567, day(2024, 5, 1)));
	caught_up(f);
	assert_int_equal(contrib_len(f, j1), 48);
	assert_int_equal(contrib_len(f, j2), 48);
	EXPECT(f, "cl", "joins", 0, 320000, 2);
	EXPECT(f, "cl", "joins-yearly", 2024, 320100, 1);
	EXPECT(f, "cl", "served", 2024, 320100, 1);
	EXPECT(f, "cl", "amount", 2024, 320000, 1234567);

	OK(f, tl_void(s1));
	OK(f, tl_void(j1));
	caught_up(f);
	assert_int_equal(contrib_len(f, j1), 0);
	assert_int_equal(contrib_len(f, s1), 0);
	EXPECT(f, "cl", "joins", 0, 320000, 1);
	EXPECT(f, "cl", "joins", 0, 320100, 0);
	EXPECT(f, "cl", "joins-yearly", 2024, 320500, 1);
	EXPECT(f, "cl", "served", 2024, 320100, 0);
	EXPECT(f, "cl", "served", 2024, 320000, 0);
	EXPECT(f, "cl", "amount", 2024, 320000, 0);
	EXPECT(f, "cl", "amount", 2024, 320100, 0);
	stop(f);
	tl_rmrf(dir);
}

static void test_jiangsu_and_guangdong(void **state)
{
	fx *f = *state;
	js_tree(f);
	gd_tree(f);

	/* --- Jiangsu joins: first joins per year, rejoin, void, late. --- */
	OK(f, join("M1", "NJ-RIDER", 1, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 1, day(2024, 3, 1)));
	OK(f, join("M2", "SZ-COURIER", 2, LEDGER__WORKER_GROUP__COURIER, 1, day(2025, 2, 1)));
	OK(f, when(tl_end("M1"), day(2025, 3, 1)));
	OK(f, join("M1", "NJ-RIDER", 1, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 1, day(2025, 4, 1)));
	uint64_t m3 = OK(f, join("M3", "NJ-RIDER", 3, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 1,
				 day(2026, 1, 10)));
	OK(f, tl_void(m3));
	/* Recorded now, happened in 2024. */
	OK(f, join("M4", "NJ-RIDER", 4, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 0, day(2024, 12, 31)));
	/* M5's join is amended to have happened a year later. */
	uint64_t m5 = OK(f, join("M5", "SZ-COURIER", 5, LEDGER__WORKER_GROUP__COURIER, 1,
				 day(2024, 5, 1)));
	Ledger__Event *later = tl_amend(m5, join("M5", "SZ-COURIER", 5, LEDGER__WORKER_GROUP__COURIER,
						 1, 0));
	later->event_amended->has_corrected_occurred_at = 1;
	later->event_amended->corrected_occurred_at = day(2025, 5, 1);
	OK(f, later);
	/* Before the plan: not counted. */
	OK(f, join("M6", "NJ-RIDER", 6, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 1, day(2023, 12, 30)));

	/* --- activities --- */
	OK(f, activity("NJ", LEDGER__ACTIVITY_KIND__THEMED_ACTIVITY, 30, 0, day(2025, 5, 1)));
	OK(f, activity("NJ-GL", LEDGER__ACTIVITY_KIND__THEMED_ACTIVITY, 20, 0, day(2025, 6, 1)));
	OK(f, activity("SZ", LEDGER__ACTIVITY_KIND__MODEL_WORKER_CAMPUS, 80, 0, day(2026, 3, 1)));
	OK(f, activity("NJ", LEDGER__ACTIVITY_KIND__SERVICE_FAIR, 150, 0, day(2024, 9, 1)));
	uint64_t fair = OK(f, activity("SZ", LEDGER__ACTIVITY_KIND__SERVICE_FAIR, 50, 0,
				       day(2025, 9, 1)));
	OK(f, tl_amend(fair, activity("SZ", LEDGER__ACTIVITY_KIND__SERVICE_FAIR, 70, 0, 0)));
	OK(f, activity("NJ", LEDGER__ACTIVITY_KIND__LEGAL_AID_OUTREACH, 40, 5, day(2025, 10, 1)));
	OK(f, activity("SZ", LEDGER__ACTIVITY_KIND__ENTERPRISE_VISIT, 6, 3, day(2026, 4, 1)));
	OK(f, activity("JS", LEDGER__ACTIVITY_KIND__NATIONAL_SECURITY_EDUCATION, 300, 0,
		       day(2025, 4, 15)));

	/* --- services --- */
	OK(f, service("NJ", "M1", LEDGER__SERVICE_KIND__MUTUAL_AID_INSURANCE, 100, 0, day(2025, 1, 20)));
	OK(f, service("SZ", NULL, LEDGER__SERVICE_KIND__CONDOLENCE_VISIT, 7, 0, day(2026, 1, 20)));
	OK(f, service("SZ", "M2", LEDGER__SERVICE_KIND__CONDOLENCE_VISIT, 0, 0, day(2026, 1, 21)));
	OK(f, service("NJ", NULL, LEDGER__SERVICE_KIND__LEGAL_HEALTH_CHECK, 2, 0, day(2025, 8, 8)));
	uint64_t g1 = OK(f, service("NJ", "M1", LEDGER__SERVICE_KIND__EDUCATION_GRANT, 0, 300000,
				    day(2025, 9, 1)));
	OK(f, service("NJ", "M1", LEDGER__SERVICE_KIND__EDUCATION_GRANT, 0, 300000, day(2025, 10, 1)));
	OK(f, service("SZ", "M2", LEDGER__SERVICE_KIND__EDUCATION_GRANT, 0, 100000, day(2025, 9, 2)));
	OK(f, tl_void(g1));
	OK(f, service("SZ", NULL, LEDGER__SERVICE_KIND__SKILL_UPGRADE, 40, 0, day(2026, 5, 1)));

	/* --- Guangdong: joins of the driver/courier/rider groups, real names, stations --- */
	OK(f, join("G1", "GZ-E1", 101, LEDGER__WORKER_GROUP__COURIER, 1, day(2021, 4, 1)));
	OK(f, join("G2", "SZX-R1", 102, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 0, day(2022, 3, 1)));
	OK(f, join("G3", "GZ-E1", 103, LEDGER__WORKER_GROUP__CARE_WORKER, 1, day(2022, 4, 1)));
	uint64_t g4 = OK(f, join("G4", "GZ-P1", 104, LEDGER__WORKER_GROUP__TRUCK_DRIVER, 0,
				 day(2022, 5, 1)));
	/* Amended: registered by real name after all. */
	Ledger__Event *fix = join("G4", "GZ-P1", 104, LEDGER__WORKER_GROUP__TRUCK_DRIVER, 1, 0);
	OK(f, tl_amend(g4, fix));
	OK(f, station("LS1", "GZ", LEDGER__STATION_KIND__LOVE_STATION, 440106, day(2021, 7, 1)));
	OK(f, station("LS2", "GZ", LEDGER__STATION_KIND__LOVE_STATION, 440106, day(2021, 8, 1)));
	OK(f, station("LS3", "SZX", LEDGER__STATION_KIND__LOVE_STATION, 440304, day(2022, 8, 1)));
	OK(f, station("DC1", "SZX", LEDGER__STATION_KIND__DEMONSTRATION_SERVICE_CENTRE, 440304,
		      day(2022, 9, 1)));
	/* A Jiangsu station counts nowhere in Guangdong's plan. */
	OK(f, station("LS4", "NJ", LEDGER__STATION_KIND__LOVE_STATION, 320100, day(2022, 9, 1)));
	caught_up(f);

	/* new members: 2024: M1, M4 (late); 2025: M2, M5 (amended into 2025); M1's
	 * rejoin is not new, M3 is voided, M6 is before the plan. The average a
	 * year counts the whole plan's (by the end of 2024: its first year's). */
	assert_int_equal(figure_upto(f, JS, "new-members-yearly", 320000, 20241231), 2);
	assert_int_equal(figure_upto(f, JS, "new-members-yearly", 320100, 20241231), 2);
	assert_int_equal(figure_upto(f, JS, "new-members-yearly", 320500, 20241231), 0);
	EXPECT(f, JS, "new-members-yearly", 0, 320000, 4);
	EXPECT(f, JS, "new-members-yearly", 0, 320500, 2);
	EXPECT(f, JS, "new-members-yearly", 0, 320100, 2);
	assert_int_equal(figure_upto(f, JS, "new-members-yearly", 320000, 20251231), 4);
	EXPECT(f, JS, "new-members-total", 0, 320000, 4);
	EXPECT(f, JS, "themed-activities", 2025, 320000, 2);
	EXPECT(f, JS, "themed-activities", 2025, 320100, 2);
	EXPECT(f, JS, "model-worker-campus", 2026, 320500, 1);
	EXPECT(f, JS, "model-worker-campus", 2025, 320000, 0);
	EXPECT(f, JS, "service-fairs", 0, 320000, 2);
	EXPECT(f, JS, "service-fair-workers", 0, 320000, 220);
	EXPECT(f, JS, "service-fair-workers", 0, 320500, 70);
	EXPECT(f, JS, "mutual-aid-policies", 0, 320000, 100);
	EXPECT(f, JS, "condolence-visits", 0, 320000, 8);
	EXPECT(f, JS, "legal-aid-outreach", 0, 320000, 1);
	EXPECT(f, JS, "enterprises-reached", 0, 320000, 8);
	EXPECT(f, JS, "legal-health-checks", 0, 320000, 2);
	EXPECT(f, JS, "national-security-education", 2025, 320000, 1);
	EXPECT(f, JS, "national-security-education", 2026, 320000, 0);
	EXPECT(f, JS, "education-grant-workers", 2025, 320000, 2);
	EXPECT(f, JS, "education-grant-amount", 2025, 320000, 400000);
	EXPECT(f, JS, "skill-upgrades", 2026, 320000, 40);

	EXPECT(f, GD, "new-grassroots-unions", 0, 440000, 4);
	EXPECT(f, GD, "new-grassroots-unions", 0, 440100, 2);
	EXPECT(f, GD, "new-grassroots-unions", 0, 440300, 2);
	EXPECT(f, GD, "new-members-driver-courier-rider", 0, 440000, 3);
	EXPECT(f, GD, "love-stations", 2021, 440000, 2);
	EXPECT(f, GD, "love-stations", 2022, 440300, 1);
	EXPECT(f, GD, "demonstration-centres", 2022, 440000, 1);
	/* Real names among first joins: G1, G3, G4 (amended) of 4. */
	fig r = figure(f, GD, "real-name-ratio", 0, 440000, AT);
	assert_int_equal(r.actual, 3);
	assert_int_equal(r.den, 4);
	assert_int_equal(r.target, 80);
	assert_int_equal(r.status, LEDGER__PROGRESS_STATUS__MISSED); /* 75% < 80%, period over */

	/* City targets: the province's, shared out 600:400 by workforce (an
	 * average of 300,000 a year over three years: 900,000). */
	fig c = figure(f, JS, "new-members-yearly", 0, 320100, AT);
	assert_true(c.has_target);
	assert_int_equal(c.target, 540000);
	c = figure(f, JS, "new-members-yearly", 0, 320500, AT);
	assert_int_equal(c.target, 360000);
	c = figure(f, JS, "new-members-yearly", 0, 320200, AT); /* Wuxi: no estimate */
	assert_false(c.has_target);
	assert_int_equal(c.status, LEDGER__PROGRESS_STATUS__NO_TARGET);
	c = figure(f, JS, "national-security-education", 2025, 320100, AT); /* city_targets: none */
	assert_false(c.has_target);

	/* Status against the pace, judged in mid 2026. */
	assert_int_equal(figure(f, JS, "national-security-education", 2025, 320000, AT).status,
			 LEDGER__PROGRESS_STATUS__ACHIEVED);
	assert_int_equal(figure(f, JS, "themed-activities", 2025, 320000, AT).status,
			 LEDGER__PROGRESS_STATUS__MISSED);
	assert_int_equal(figure(f, JS, "skill-upgrades", 2026, 320000, AT).status,
			 LEDGER__PROGRESS_STATUS__BEHIND);
	assert_int_equal(figure(f, JS, "skill-upgrades", 2026, 320000, day(2023, 6, 1)).status,
			 LEDGER__PROGRESS_STATUS__NOT_STARTED);
	/* national security 2026: 0 of 1, half the year gone: behind. */
	assert_int_equal(figure(f, JS, "national-security-education", 2026, 320000, AT).status,
			 LEDGER__PROGRESS_STATUS__BEHIND);
	/* One more in 2026: achieved. */
	OK(f, activity("JS", LEDGER__ACTIVITY_KIND__NATIONAL_SECURITY_EDUCATION, 10, 0, day(2026, 6, 1)));
	caught_up(f);
	assert_int_equal(figure(f, JS, "national-security-education", 2026, 320000, AT).status,
			 LEDGER__PROGRESS_STATUS__ACHIEVED);

	/* A rebuild from the log gives the same figures, byte for byte. */
	const plan_set *ps = plans_of(f);
	size_t before_len[2];
	uint8_t *before[2];
	for (unsigned k = 0; k < 2; k++) {
		store_txn *t;
		Ledger__ProgressReport rep;
		ld_errinfo e = {0};
		assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
		assert_int_equal(
			progress_report(progress_of(f->r), KV_READ_TXN(t), &ps->plans[k], 0, 0, AT, &rep, &f->a, &e),
			0);
		store_read_end(t);
		before_len[k] = ledger__progress_report__get_packed_size(&rep);
		before[k] = malloc(before_len[k]);
		ledger__progress_report__pack(&rep, before[k]);
	}
	stop(f);
	tl_rmrf(f->pdir);
	start(f);
	caught_up(f);
	ps = plans_of(f); /* the new runner's */
	for (unsigned k = 0; k < 2; k++) {
		store_txn *t;
		Ledger__ProgressReport rep;
		ld_errinfo e = {0};
		assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
		assert_int_equal(
			progress_report(progress_of(f->r), KV_READ_TXN(t), &ps->plans[k], 0, 0, AT, &rep, &f->a, &e),
			0);
		store_read_end(t);
		size_t n = ledger__progress_report__get_packed_size(&rep);
		uint8_t *after = malloc(n);
		ledger__progress_report__pack(&rep, after);
		assert_int_equal(n, before_len[k]);
		assert_memory_equal(after, before[k], n);
		free(after);
		free(before[k]);
	}
}

/* Changing the plan files rebuilds the projection: the figures of a plan that
 * moved to another index are not those of the plan that was there. */
/* A city's target of new members over the plan (an average of 300,000 a
 * year: 900,000 for the province), judged at `at` (0: none). */
static int64_t city_target(fx *f, uint32_t city, int64_t at)
{
	caught_up(f);
	fig c = figure(f, JS, "new-members-yearly", 0, city, at);
	return c.has_target ? c.target : 0;
}

/*
 * City targets share the province's out by the workforce estimates in force
 * at the time asked about: per group a city's own estimate, else the sum of
 * its districts'; the province's own estimates are not shared out; an
 * estimate of an earlier year recorded later changes nothing after it.
 */
static void test_city_shares_in_force(void **state)
{
	fx *f = *state;
	const Ledger__WorkerGroup R = LEDGER__WORKER_GROUP__DELIVERY_RIDER,
				  C = LEDGER__WORKER_GROUP__COURIER;
	tl_tree(&f->l);
	OK(f, when(tl_workforce(320100, R, 300), day(2024, 12, 15)));
	OK(f, when(tl_workforce(320102, R, 999), day(2024, 12, 15))); /* NJ has its own */
	OK(f, when(tl_workforce(320505, C, 100), day(2024, 12, 15))); /* SZ: districts */
	OK(f, when(tl_workforce(320506, C, 100), day(2024, 12, 15)));
	OK(f, when(tl_workforce(320000, R, 5000), day(2024, 12, 15))); /* the province's */
	int64_t at = day(2026, 6, 1);
	assert_int_equal(city_target(f, 320100, at), 540000); /* 300 : 200 */
	assert_int_equal(city_target(f, 320500, at), 360000);
	/* A back-filled estimate of 2023 does not replace 2024's ... */
	OK(f, when(tl_workforce(320100, R, 100), day(2023, 6, 30)));
	assert_int_equal(city_target(f, 320100, at), 540000);
	/* ... but is the one in force in late 2023 (SZ had none yet). */
	assert_int_equal(city_target(f, 320100, day(2023, 12, 1)), 900000);
	assert_int_equal(city_target(f, 320500, day(2023, 12, 1)), 0);
	assert_int_equal(city_target(f, 320100, day(2023, 1, 1)), 0); /* none in force */
	/* A later estimate takes over from its time on. */
	OK(f, when(tl_workforce(320100, R, 800), day(2025, 12, 15)));
	assert_int_equal(city_target(f, 320100, at), 720000); /* 800 : 200 */
	assert_int_equal(city_target(f, 320100, day(2025, 6, 1)), 540000);
}

static void test_plans_change_rebuilds(void **state)
{
	fx *f = *state;
	js_tree(f);
	gd_tree(f);
	OK(f, join("M1", "NJ-RIDER", 1, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 1, day(2024, 3, 1)));
	caught_up(f);
	EXPECT(f, JS, "new-members-total", 0, 320000, 1);
	stop(f);

	/* Only the Guangdong plan now: it becomes plan 0, where Jiangsu was. */
	char dir[] = "/tmp/ld-plans-XXXXXX", cmd[1200];
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cp %s/guangdong-2021-2022.yaml %s/", plans_dir(), dir);
	assert_int_equal(system(cmd), 0);
	load_plans(f, dir);
	start(f);
	caught_up(f);
	EXPECT(f, GD, "new-grassroots-unions", 0, 440000, 4);
	EXPECT(f, GD, "new-members-driver-courier-rider", 0, 440000, 0);
	stop(f);
	tl_rmrf(dir);

	/* And back. */
	load_plans(f, plans_dir());
	start(f);
	caught_up(f);
	EXPECT(f, JS, "new-members-total", 0, 320000, 1);
	EXPECT(f, GD, "new-grassroots-unions", 0, 440000, 4);
}

/* Queries name what is wrong with a year or region. */
static void test_report_bad_input(void **state)
{
	fx *f = *state;
	const plan *p = plan_find(plans_of(f), JS);
	const progress *pg = progress_of(f->r);
	store_txn *t;
	Ledger__ProgressReport rep;
	ld_errinfo e = {0};
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
	assert_int_equal(progress_report(pg, KV_READ_TXN(t), p, 2030, 0, AT, &rep, &f->a, &e), LD_E(INVALID_VALUE));
	assert_non_null(strstr(e.message, "runs from 2024 to 2026, not in 2030"));
	assert_int_equal(progress_report(pg, KV_READ_TXN(t), p, 0, 440100, AT, &rep, &f->a, &e), LD_E(INVALID_VALUE));
	assert_non_null(strstr(e.message, "region 440100 is neither"));
	assert_int_equal(progress_report(pg, KV_READ_TXN(t), p, 2025, 320100, AT, &rep, &f->a, &e), 0);
	for (size_t i = 0; i < rep.n_rows; i++) {
		assert_int_equal(rep.rows[i]->region, 320100);
		assert_true(rep.rows[i]->year == 2025 || rep.rows[i]->year == 0);
	}
	store_read_end(t);
}

/* A report as of a past day (the month-end figure sent upward) counts the
 * events that occurred up to the end of that day in China time, whenever
 * they were recorded, and judges the status then; the figures of every
 * measure (distinct members too) equal the report of now once no later
 * event counts; a day to come or before the plan is refused by name. */
static const Ledger__ProgressRow *row_of(const Ledger__ProgressReport *rep, const char *target,
					 uint32_t year, uint32_t region)
{
	for (size_t i = 0; i < rep->n_rows; i++)
		if (!strcmp(rep->rows[i]->target_id, target) && rep->rows[i]->year == year &&
		    rep->rows[i]->region == region)
			return rep->rows[i];
	fail_msg("no row %s/%u/%u", target, year, region);
	return NULL;
}

static void test_report_as_of_day(void **state)
{
	fx *f = *state;
	const int64_t hour = 3600000000LL; /* day() is noon in China */
	js_tree(f);
	/* June 30th, 23:30 China time: counts for the 30th; July 1st, 00:10:
	 * not. */
	OK(f, join("M1", "NJ-RIDER", 1, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 1,
		   day(2025, 6, 30) + 11 * hour + hour / 2));
	OK(f, join("M2", "SZ-COURIER", 2, LEDGER__WORKER_GROUP__COURIER, 1,
		   day(2025, 7, 1) - 11 * hour - hour + hour / 6));
	OK(f, join("M3", "SZ-COURIER", 3, LEDGER__WORKER_GROUP__COURIER, 1, day(2024, 5, 1)));
	uint64_t m4 = OK(f, join("M4", "NJ-RIDER", 4, LEDGER__WORKER_GROUP__DELIVERY_RIDER, 1,
				 day(2025, 3, 1)));
	OK(f, tl_void(m4));
	/* M1 granted twice, on each side of the day: one member by the 30th. */
	OK(f, service("NJ", "M1", LEDGER__SERVICE_KIND__EDUCATION_GRANT, 0, 200000, day(2025, 6, 30)));
	OK(f, service("NJ", "M1", LEDGER__SERVICE_KIND__EDUCATION_GRANT, 0, 300000, day(2025, 8, 1)));
	OK(f, service("SZ", "M2", LEDGER__SERVICE_KIND__EDUCATION_GRANT, 0, 100000, day(2025, 9, 1)));
	/* Recorded last, happened in May. */
	OK(f, service("SZ", NULL, LEDGER__SERVICE_KIND__CONDOLENCE_VISIT, 5, 0, day(2025, 5, 20)));
	caught_up(f);

	const plan *p = plan_find(plans_of(f), JS);
	const progress *pg = progress_of(f->r);
	store_txn *t;
	Ledger__ProgressReport rep, now;
	ld_errinfo e = {0};
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
	assert_int_equal(progress_report_day(pg, KV_READ_TXN(t), p, 0, 0, 20250630, AT, &rep,
					     &f->a, &e), 0);
	assert_true(rep.has_day);
	assert_int_equal(rep.day, 20250630);
	/* Judged at the end of the 30th: July 1st, 00:00 China time. */
	assert_int_equal(rep.at, day(2025, 7, 1) - 12 * hour);
	assert_int_equal(row_of(&rep, "new-members-yearly", 0, 320000)->actual, 2);
	assert_int_equal(row_of(&rep, "new-members-yearly", 0, 320100)->actual, 1);
	assert_int_equal(row_of(&rep, "new-members-yearly", 0, 320500)->actual, 1);
	assert_int_equal(row_of(&rep, "new-members-total", 0, 320000)->actual, 2);
	assert_int_equal(row_of(&rep, "education-grant-workers", 2025, 320000)->actual, 1);
	assert_int_equal(row_of(&rep, "education-grant-amount", 2025, 320000)->actual, 200000);
	assert_int_equal(row_of(&rep, "condolence-visits", 0, 320000)->actual, 5);
	/* 2026 had not begun; 2024 was over. */
	assert_int_equal(row_of(&rep, "skill-upgrades", 2026, 320000)->status,
			 LEDGER__PROGRESS_STATUS__NOT_STARTED);
	assert_int_equal(row_of(&rep, "skill-upgrades", 2024, 320000)->status,
			 LEDGER__PROGRESS_STATUS__MISSED);
	/* Half the year gone: the pace is half the target. */
	const Ledger__ProgressRow *y = row_of(&rep, "skill-upgrades", 2025, 320000);
	assert_int_equal(y->expected, llround(50000.0 * 181 / 365));
	assert_int_equal(y->status, LEDGER__PROGRESS_STATUS__BEHIND);
	/* An average of 300,000 a year: due 300,000 a year run, 2024 and
	 * 181 days of 2025's 365. */
	y = row_of(&rep, "new-members-yearly", 0, 320000);
	assert_int_equal(y->target, 900000);
	assert_int_equal(y->expected, llround(300000.0 * (1 + 181.0 / 365)));
	assert_int_equal(y->status, LEDGER__PROGRESS_STATUS__BEHIND);

	/* The day before `at`, after every event: the report of now. */
	assert_int_equal(progress_report_day(pg, KV_READ_TXN(t), p, 0, 0, 20260701, AT, &rep,
					     &f->a, &e), 0);
	assert_int_equal(progress_report(pg, KV_READ_TXN(t), p, 0, 0, AT, &now, &f->a, &e), 0);
	assert_int_equal(rep.n_rows, now.n_rows);
	for (size_t i = 0; i < rep.n_rows; i++) {
		assert_int_equal(rep.rows[i]->actual, now.rows[i]->actual);
		assert_int_equal(rep.rows[i]->denominator, now.rows[i]->denominator);
	}
	/* Today: judged now, not at the day's end. */
	assert_int_equal(progress_report_day(pg, KV_READ_TXN(t), p, 0, 0, 20260702, AT, &rep,
					     &f->a, &e), 0);
	assert_int_equal(rep.at, AT);

	assert_int_equal(progress_report_day(pg, KV_READ_TXN(t), p, 0, 0, 20260703, AT, &rep,
					     &f->a, &e), LD_E(INVALID_VALUE));
	assert_non_null(strstr(e.message, "day 2026-07-03 has not come yet (today is 2026-07-02"));
	assert_int_equal(progress_report_day(pg, KV_READ_TXN(t), p, 0, 0, 20231231, AT, &rep,
					     &f->a, &e), LD_E(INVALID_VALUE));
	assert_non_null(strstr(e.message, "day 2023-12-31 is before plan"));
	assert_int_equal(progress_report_day(pg, KV_READ_TXN(t), p, 0, 0, 20250231, AT, &rep,
					     &f->a, &e), LD_E(INVALID_VALUE));
	assert_non_null(strstr(e.message, "20250231 is not a day"));
	store_read_end(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_plans_load),
		cmocka_unit_test(test_plan_errors),
		cmocka_unit_test(test_plan_filters),
		cmocka_unit_test_setup_teardown(test_jiangsu_and_guangdong, setup, teardown),
		cmocka_unit_test_setup_teardown(test_city_shares_in_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plans_change_rebuilds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_as_of_day, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yearly_average, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contribution_lists, setup, teardown),
	};
	return tl_run_tests(tests, NULL, NULL);
}
