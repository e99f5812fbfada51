/*
 * test_projections.c — the projections (projections/) on an in-process
 * ledger with the runner:
 *
 *  - hand-computed figures on small scripted histories: transfers between
 *    cities, dual affiliation, voids, amendments, rejoins, dues, workforce
 *    estimates, dissolved organisations (members, coverage);
 *  - the transfers query (directions, time window, limit, corrections) and
 *    a member's history;
 *  - incremental application against a rebuild from scratch, on a generated
 *    history of 100,000 valid events, byte for byte;
 *  - a real ledgerd killed -9 while it catches up, restarted, compared with
 *    a rebuild.
 *
 * Each case runs on a fresh ledger directory with the runner started on
 * DIR/projections before the first append.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "client.h"
#include "clock.h"
#include "history.h"
#include "members.h"
#include "plan.h"
#include "progress.h"
#include "projection.h"
#include "testlib.h"
#include "transfers.h"

#define HOUR_US (3600LL * 1000000)
#define DAY_US (24 * HOUR_US)
#define PERIOD 202501 /* dues period of the coverage queries that do not test dues */

typedef struct fx {
	tl_ledger l;
	runner *r;
	char pdir[600];
	ld_arena a; /* query answers, freed at teardown */
} fx;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000}, NULL);
}

/* ================================================================== */
/* The runner                                                          */
/* ================================================================== */

static runner *runner_up(const char *dir, tl_ledger *l)
{
	runner *r = NULL;
	ld_errinfo e = {0};
	if (runner_start(&r, dir, l->s, l->w, NULL, &e) != 0)
		fail_msg("runner_start '%s': %s", dir, e.message);
	return r;
}

static void runner_down(runner *r, tl_ledger *l)
{
	runner_free(r);
	writer_on_commit(l->w, NULL, NULL); /* no hook into a freed runner */
}

/* Waits until every projection has applied the writer's head: timeout_s,
 * ten times that under valgrind (tests/run.sh sets VALGRIND; a rebuild of
 * 108,000 events took over 60 s there). */
static void caught_up(runner *r, tl_ledger *l, double timeout_s)
{
	if (getenv("VALGRIND"))
		timeout_s *= 10;
	uint64_t head;
	writer_head(l->w, &head, NULL, NULL);
	double t0 = now_s();
	for (unsigned i = 0;; i++) {
		if (runner_checkpoint(r) >= head)
			return;
		if (i % 100 == 0)
			tl_expect_running(r);
		if (now_s() - t0 > timeout_s)
			fail_msg("projections at seq %llu, log head %llu, after %.0f s",
				 (unsigned long long)runner_checkpoint(r), (unsigned long long)head,
				 timeout_s);
		sleep_ms(1);
	}
}

static void sync_fx(fx *f)
{
	caught_up(f->r, &f->l, 10);
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	tl_open(&f->l, 0);
	snprintf(f->pdir, sizeof(f->pdir), "%s/projections", f->l.dir);
	f->r = runner_up(f->pdir, &f->l);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	if (f->r)
		runner_down(f->r, &f->l);
	tl_close(&f->l); /* also removes DIR/projections */
	ld_arena_free(&f->a);
	free(f);
	return 0;
}

/* ================================================================== */
/* Appending and querying                                              */
/* ================================================================== */

#define OK(f, ev) TL_OK(&(f)->l, ev)
#define at(ev, t) tl_at(ev, t)

/* The member's view, NULL if it is not found. */
static Ledger__MemberView *member(fx *f, const char *id)
{
	sync_fx(f);
	return tl_member(&f->l, f->r, id, &f->a);
}

static Ledger__MemberView *member_ok(fx *f, const char *id)
{
	Ledger__MemberView *v = member(f, id);
	if (!v)
		fail_msg("member '%s' not found", id);
	return v;
}

/* Coverage with the workforce estimates in force at `at`. */
static Ledger__CoverageReport *coverage_at(fx *f, const char *org, uint32_t depth,
					   uint32_t period, int64_t at)
{
	store_txn *t;
	sync_fx(f);
	Ledger__CoverageReport *rep = ld_arena_alloc(&f->a, sizeof(*rep));
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
	int rc = members_coverage(KV_READ_TXN(t), org, depth, period, at, rep, &f->a);
	store_read_end(t);
	if (rc)
		fail_msg("members_coverage '%s': %s", org, ld_errname(rc));
	assert_true(rep->n_orgs >= 1);
	return rep;
}

static Ledger__CoverageReport *coverage(fx *f, const char *org, uint32_t depth, uint32_t period)
{
	return coverage_at(f, org, depth, period, ld_wall_us());
}

static Ledger__OrgCoverage *org_cov(fx *f, const char *org, uint32_t period)
{
	return coverage(f, org, 0, period)->orgs[0];
}

/* A whole subtree's report, packed: every figure of every organisation. */
typedef struct blob {
	uint8_t *p;
	size_t n;
} blob;

static blob report_bytes(fx *f, const char *org)
{
	Ledger__CoverageReport *rep = coverage_at(f, org, 9, PERIOD, TL_T0 + 100 * DAY_US);
	blob b;
	b.n = ledger__coverage_report__get_packed_size(rep);
	b.p = ld_arena_alloc(&f->a, b.n + 1);
	ledger__coverage_report__pack(rep, b.p);
	return b;
}

#define SAME_REPORT(a, b) \
	assert_true((a).n == (b).n && memcmp((a).p, (b).p, (a).n) == 0)

static uint64_t group_members(const Ledger__OrgCoverage *oc, Ledger__WorkerGroup g)
{
	for (size_t i = 0; i < oc->n_by_group; i++)
		if (oc->by_group[i]->worker_group == g)
			return oc->by_group[i]->members;
	return 0;
}

static const Ledger__GroupCount *group_of(const Ledger__OrgCoverage *oc, Ledger__WorkerGroup g)
{
	for (size_t i = 0; i < oc->n_by_group; i++)
		if (oc->by_group[i]->worker_group == g)
			return oc->by_group[i];
	return NULL;
}

static uint64_t channel_members(const Ledger__OrgCoverage *oc, Ledger__JoinChannel ch)
{
	for (size_t i = 0; i < oc->n_by_channel; i++)
		if (oc->by_channel[i]->channel == ch)
			return oc->by_channel[i]->members;
	return 0;
}

/* Members, direct members, affiliations, units and units covered. */
#define FIGS(f, org, m, d, af, u, c) TL_FIGS(&(f)->l, (f)->r, &(f)->a, org, PERIOD, m, d, af, u, c)

#define RIDER LEDGER__WORKER_GROUP__DELIVERY_RIDER
#define COURIER LEDGER__WORKER_GROUP__COURIER
#define TRUCKER LEDGER__WORKER_GROUP__TRUCK_DRIVER
#define ONLINE LEDGER__JOIN_CHANNEL__ONLINE
#define CEREMONY LEDGER__JOIN_CHANNEL__CEREMONY
#define MEETING LEDGER__JOIN_CHANNEL__WORKER_MEETING

/* The tree of tl_tree_wide (testlib.h): nine organisations, five units. */
static void tree(fx *f)
{
	tl_tree_wide(&f->l);
}

/* A courier who joined at a ceremony and is not registered by real name. */
static Ledger__Event *courier_join(const char *member, const char *org, int person)
{
	Ledger__Event *ev = tl_join(member, org, person);
	ev->member_joined->worker_group = COURIER;
	ev->member_joined->channel = CEREMONY;
	ev->member_joined->real_name = 0;
	return ev;
}

/* ================================================================== */
/* 1. Hand-computed figures                                            */
/* ================================================================== */

static void test_transfer_between_cities(void **state)
{
	fx *f = *state;
	tree(f);
	/* M1: a rider (ONLINE, real name) in NJ-RIDER; M2: a courier
	 * (CEREMONY, no real name) in NJ-GL-R1; M3: a rider in SZ-RIDER. */
	OK(f, tl_join("M1", "NJ-RIDER", 1));
	OK(f, courier_join("M2", "NJ-GL-R1", 2));
	OK(f, tl_join("M3", "SZ-RIDER", 3));

	/* JS: all three, none directly; NJ-RIDER, NJ-GL-R1 and SZ-RIDER
	 * each have a member of their own: 3 of the 4 units covered. */
	FIGS(f, "JS", 3, 0, 0, 4, 3);
	/* NJ: M1 and M2; its units NJ-RIDER, NJ-P1, NJ-GL-R1, two covered. */
	FIGS(f, "NJ", 2, 0, 0, 3, 2);
	FIGS(f, "NJ-RIDER", 1, 1, 0, 2, 1); /* itself and NJ-P1 */
	FIGS(f, "NJ-GL", 1, 0, 0, 1, 1);
	FIGS(f, "SZ", 1, 0, 0, 1, 1);
	FIGS(f, "SZ-RIDER", 1, 1, 0, 1, 1);
	Ledger__OrgCoverage *nj = org_cov(f, "NJ", PERIOD), *js = org_cov(f, "JS", PERIOD);
	assert_int_equal(group_members(nj, RIDER), 1);
	assert_int_equal(group_members(nj, COURIER), 1);
	assert_int_equal(channel_members(nj, ONLINE), 1);
	assert_int_equal(channel_members(nj, CEREMONY), 1);
	assert_int_equal(nj->real_name, 1); /* M1 only */
	assert_int_equal(group_members(js, RIDER), 2);
	assert_int_equal(js->real_name, 2);
	blob before = report_bytes(f, "JS");

	/* M1 moves from Nanjing to Suzhou. */
	uint64_t x = OK(f, at(tl_transfer("M1", "NJ-RIDER", "SZ-RIDER"), TL_T0 + HOUR_US));
	/* JS: still 3 (the move stays in the province); NJ-RIDER lost its
	 * only member and SZ-RIDER was covered already: 2 units covered. */
	FIGS(f, "JS", 3, 0, 0, 4, 2);
	/* NJ: only M2 (the courier) is left, in NJ-GL-R1. */
	FIGS(f, "NJ", 1, 0, 0, 3, 1);
	FIGS(f, "NJ-RIDER", 0, 0, 0, 2, 0);
	/* SZ: M1 and M3, both directly in SZ-RIDER, still one unit. */
	FIGS(f, "SZ", 2, 0, 0, 1, 1);
	FIGS(f, "SZ-RIDER", 2, 2, 0, 1, 1);
	nj = org_cov(f, "NJ", PERIOD);
	assert_int_equal(group_members(nj, RIDER), 0);
	assert_int_equal(group_members(nj, COURIER), 1);
	assert_int_equal(channel_members(nj, ONLINE), 0);
	assert_int_equal(channel_members(nj, CEREMONY), 1);
	assert_int_equal(nj->real_name, 0);
	Ledger__OrgCoverage *sz = org_cov(f, "SZ", PERIOD);
	assert_int_equal(group_members(sz, RIDER), 2);
	assert_int_equal(channel_members(sz, ONLINE), 2);
	assert_int_equal(sz->real_name, 2);
	js = org_cov(f, "JS", PERIOD);
	assert_int_equal(group_members(js, RIDER), 2); /* unchanged */
	Ledger__MemberView *m1 = member_ok(f, "M1");
	assert_string_equal(m1->org_id, "SZ-RIDER");
	assert_int_equal(m1->transfers, 1);

	/* Voided: every figure of every organisation is as before. */
	OK(f, tl_void(x));
	SAME_REPORT(report_bytes(f, "JS"), before);
	m1 = member_ok(f, "M1");
	assert_string_equal(m1->org_id, "NJ-RIDER");
	assert_int_equal(m1->transfers, 0);
}

static void test_dual_affiliation(void **state)
{
	fx *f = *state;
	tree(f);
	/* M1 belongs to NJ-GL-R1 (where it lives), and is affiliated with
	 * SZ-RIDER (residence) and NJ-P1 (its platform). */
	OK(f, tl_join("M1", "NJ-GL-R1", 1));
	OK(f, tl_affiliate("M1", "SZ-RIDER"));
	OK(f, tl_affiliate_platform("M1", "NJ-P1"));

	/* The membership counts once, on the home chain (NJ-GL-R1, NJ-GL,
	 * NJ, JS); an affiliation counts on the affiliated organisation's
	 * chain: SZ-RIDER, SZ, JS and NJ-P1, NJ-RIDER, NJ, JS. */
	FIGS(f, "JS", 1, 0, 2, 4, 1);
	FIGS(f, "NJ", 1, 0, 1, 3, 1);
	FIGS(f, "NJ-GL", 1, 0, 0, 1, 1);
	FIGS(f, "NJ-GL-R1", 1, 1, 0, 1, 1);
	FIGS(f, "NJ-RIDER", 0, 0, 1, 2, 0);
	FIGS(f, "NJ-P1", 0, 0, 1, 1, 0); /* an affiliation covers no unit */
	FIGS(f, "SZ", 0, 0, 1, 1, 0);
	FIGS(f, "SZ-RIDER", 0, 0, 1, 1, 0);
	Ledger__MemberView *m = member_ok(f, "M1");
	assert_int_equal(m->n_affiliations, 2);
	assert_string_equal(m->affiliations[0]->org_id, "SZ-RIDER");
	assert_int_equal(m->affiliations[0]->kind, LEDGER__AFFILIATION_KIND__RESIDENCE_AFFILIATION);
	assert_string_equal(m->affiliations[1]->org_id, "NJ-P1");
	assert_int_equal(m->affiliations[1]->kind, LEDGER__AFFILIATION_KIND__PLATFORM_AFFILIATION);

	/* Off the platform: NJ's subtree has no affiliation left. */
	OK(f, tl_disaffiliate("M1", "NJ-P1"));
	FIGS(f, "JS", 1, 0, 1, 4, 1);
	FIGS(f, "NJ", 1, 0, 0, 3, 1);
	FIGS(f, "NJ-P1", 0, 0, 0, 1, 0);

	/* Moving into the organisation it is affiliated with makes it home:
	 * the affiliation ends, SZ-RIDER now has a member of its own. */
	OK(f, tl_transfer("M1", "NJ-GL-R1", "SZ-RIDER"));
	FIGS(f, "JS", 1, 0, 0, 4, 1);
	FIGS(f, "NJ", 0, 0, 0, 3, 0);
	FIGS(f, "SZ", 1, 0, 0, 1, 1);
	FIGS(f, "SZ-RIDER", 1, 1, 0, 1, 1);
	assert_int_equal(member_ok(f, "M1")->n_affiliations, 0);

	/* A new affiliation, then the end: an ended member counts nowhere. */
	OK(f, tl_affiliate("M1", "NJ-RIDER"));
	FIGS(f, "NJ", 0, 0, 1, 3, 0);
	OK(f, tl_end("M1"));
	FIGS(f, "JS", 0, 0, 0, 4, 0);
	FIGS(f, "NJ", 0, 0, 0, 3, 0);
	FIGS(f, "SZ", 0, 0, 0, 1, 0);
	m = member_ok(f, "M1");
	assert_int_equal(m->status, LEDGER__MEMBER_STATUS__ENDED);
	assert_int_equal(m->n_affiliations, 0);
}

static void test_void_join(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("M1", "SZ-RIDER", 1));
	blob before = report_bytes(f, "JS");
	uint64_t j = OK(f, tl_join("M2", "NJ-P1", 2));
	FIGS(f, "JS", 2, 0, 0, 4, 2);
	FIGS(f, "NJ-RIDER", 1, 0, 0, 2, 1); /* M2 in NJ-P1, under it */
	assert_non_null(member(f, "M2"));

	/* Nothing after the join: voiding it removes the member. */
	OK(f, tl_void(j));
	assert_null(member(f, "M2"));
	SAME_REPORT(report_bytes(f, "JS"), before);
	/* And it may join again, from scratch. */
	OK(f, at(tl_join("M2", "NJ-RIDER", 2), TL_T0 + DAY_US));
	Ledger__MemberView *m = member_ok(f, "M2");
	assert_int_equal(m->rejoins, 0);
	assert_int_equal(m->first_joined_at, TL_T0 + DAY_US);
	FIGS(f, "NJ-RIDER", 1, 1, 0, 2, 1);
}

static void test_amend_join(void **state)
{
	fx *f = *state;
	tree(f);
	/* A rider, ONLINE, real name, in NJ-GL-R1 ... */
	uint64_t j = OK(f, tl_join("M1", "NJ-GL-R1", 1));
	FIGS(f, "NJ", 1, 0, 0, 3, 1);
	FIGS(f, "SZ", 0, 0, 0, 1, 0);
	assert_int_equal(group_members(org_cov(f, "JS", PERIOD), RIDER), 1);

	/* ... was in fact a courier recruited at a workers' meeting in
	 * SZ-RIDER, without real-name registration, a day earlier. */
	Ledger__Event *fixed = tl_join("M1", "SZ-RIDER", 1);
	fixed->member_joined->worker_group = COURIER;
	fixed->member_joined->channel = MEETING;
	fixed->member_joined->real_name = 0;
	Ledger__Event *am = tl_amend(j, fixed);
	am->event_amended->has_corrected_occurred_at = 1;
	am->event_amended->corrected_occurred_at = TL_T0 - DAY_US;
	uint64_t a = OK(f, am);

	FIGS(f, "NJ", 0, 0, 0, 3, 0);
	FIGS(f, "NJ-GL-R1", 0, 0, 0, 1, 0);
	FIGS(f, "SZ", 1, 0, 0, 1, 1);
	FIGS(f, "SZ-RIDER", 1, 1, 0, 1, 1);
	FIGS(f, "JS", 1, 0, 0, 4, 1); /* one member either way; the unit moved */
	Ledger__OrgCoverage *js = org_cov(f, "JS", PERIOD), *sz = org_cov(f, "SZ", PERIOD);
	assert_int_equal(group_members(js, RIDER), 0);
	assert_int_equal(group_members(js, COURIER), 1);
	assert_int_equal(channel_members(js, ONLINE), 0);
	assert_int_equal(channel_members(js, MEETING), 1);
	assert_int_equal(js->real_name, 0);
	assert_int_equal(group_members(sz, COURIER), 1);
	assert_int_equal(channel_members(sz, MEETING), 1);
	Ledger__MemberView *m = member_ok(f, "M1");
	assert_string_equal(m->org_id, "SZ-RIDER");
	assert_int_equal(m->worker_group, COURIER);
	assert_int_equal(m->channel, MEETING);
	assert_false(m->real_name);
	assert_int_equal(m->first_joined_at, TL_T0 - DAY_US);
	assert_int_equal(m->last_joined_at, TL_T0 - DAY_US);
	assert_int_equal(m->version, 2); /* the join, then its amendment */
	assert_int_equal(m->last_seq, a);
}

static void test_rejoin(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, at(tl_join("M1", "NJ-RIDER", 1), TL_T0));
	OK(f, at(tl_end("M1"), TL_T0 + DAY_US));
	Ledger__MemberView *m = member_ok(f, "M1");
	assert_int_equal(m->status, LEDGER__MEMBER_STATUS__ENDED);
	assert_int_equal(m->ended_at, TL_T0 + DAY_US);
	assert_int_equal(m->end_reason, LEDGER__END_REASON__LEFT);
	assert_int_equal(m->rejoins, 0);
	assert_string_equal(m->org_id, "NJ-RIDER"); /* the last one */
	FIGS(f, "JS", 0, 0, 0, 4, 0);

	/* Back two days later, in Suzhou: one rejoin, counted again; the
	 * first join date stays. */
	OK(f, at(tl_join("M1", "SZ-RIDER", 1), TL_T0 + 2 * DAY_US));
	m = member_ok(f, "M1");
	assert_int_equal(m->status, LEDGER__MEMBER_STATUS__ACTIVE);
	assert_int_equal(m->rejoins, 1);
	assert_int_equal(m->first_joined_at, TL_T0);
	assert_int_equal(m->last_joined_at, TL_T0 + 2 * DAY_US);
	assert_false(m->has_ended_at);
	assert_string_equal(m->org_id, "SZ-RIDER");
	FIGS(f, "JS", 1, 0, 0, 4, 1);
	FIGS(f, "SZ-RIDER", 1, 1, 0, 1, 1);
	FIGS(f, "NJ-RIDER", 0, 0, 0, 2, 0);
}

static void test_dues(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("M1", "NJ-GL-R1", 1));
	OK(f, tl_join("M2", "NJ-GL-R1", 2));
	/* M1 pays 1200 fen for January–June, is let off July–September and
	 * gets 200 fen back: paid through September (a waived month counts as
	 * settled), 1000 fen. M2 pays 600 fen for January–March. */
	uint64_t paid = OK(f, tl_dues_for("M1", 1200, 202501, 202506));
	uint64_t waived = OK(f, tl_waive("M1", 202507, 202509));
	OK(f, tl_refund("M1", 200, paid));
	OK(f, tl_dues_for("M2", 600, 202501, 202503));
	Ledger__MemberView *m = member_ok(f, "M1");
	assert_int_equal(m->dues_paid_through, 202509);
	assert_int_equal(m->dues_paid_fen, 1000);
	m = member_ok(f, "M2");
	assert_int_equal(m->dues_paid_through, 202503);
	assert_int_equal(m->dues_paid_fen, 600);

	/* Active members paid through the period or later, of 2 members. */
	static const struct {
		uint32_t period;
		uint64_t current;
	} want[] = {
		{202503, 2}, /* both */
		{202504, 1}, /* M1 only */
		{202509, 1}, /* M1, by the waiver */
		{202510, 0}, /* nobody */
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *orgs[] = {"NJ-GL-R1", "NJ", "JS"};
		for (size_t o = 0; o < 3; o++) {
			Ledger__OrgCoverage *oc = org_cov(f, orgs[o], want[i].period);
			assert_int_equal(oc->dues_period, want[i].period);
			if (oc->dues_current != want[i].current)
				fail_msg("%s, period %u: dues_current %llu, expected %llu", orgs[o],
					 want[i].period, (unsigned long long)oc->dues_current,
					 (unsigned long long)want[i].current);
			assert_true(oc->has_dues_current_ratio);
			assert_true(oc->dues_current_ratio == (double)want[i].current / 2.0);
		}
	}
	Ledger__OrgCoverage *sz = org_cov(f, "SZ", 202503);
	assert_int_equal(sz->dues_current, 0);
	assert_false(sz->has_dues_current_ratio); /* no members: no ratio */

	/* The waiver voided: M1 is paid through June again. */
	OK(f, tl_void(waived));
	assert_int_equal(member_ok(f, "M1")->dues_paid_through, 202506);
	assert_int_equal(org_cov(f, "NJ", 202507)->dues_current, 0);
	assert_int_equal(org_cov(f, "NJ", 202506)->dues_current, 1);
	/* An ended member is not current, whatever it paid. */
	OK(f, tl_end("M2"));
	assert_int_equal(org_cov(f, "NJ", 202503)->dues_current, 1);
	assert_true(org_cov(f, "NJ", 202503)->dues_current_ratio == 1.0); /* 1 of 1 */
	/* The payment amended to 1500 fen: paid 1500 - 200 refunded. */
	OK(f, tl_amend(paid, tl_dues_for("M1", 1500, 202501, 202508)));
	m = member_ok(f, "M1");
	assert_int_equal(m->dues_paid_fen, 1300);
	assert_int_equal(m->dues_paid_through, 202508);
	assert_int_equal(org_cov(f, "NJ", 202508)->dues_current, 1);
}

/* A payment refunded in full no longer settles its months; a partial refund
 * keeps them; voiding the refund settles them again. */
static void test_full_refund(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("M1", "NJ-GL-R1", 1));
	OK(f, tl_dues_for("M1", 600, 202501, 202506));
	uint64_t later = OK(f, tl_dues_for("M1", 600, 202507, 202512));
	assert_int_equal(member_ok(f, "M1")->dues_paid_through, 202512);
	OK(f, tl_refund("M1", 100, later)); /* partial: still settled */
	assert_int_equal(member_ok(f, "M1")->dues_paid_through, 202512);
	assert_int_equal(org_cov(f, "NJ", 202512)->dues_current, 1);
	uint64_t rest = OK(f, tl_refund("M1", 500, later)); /* now in full */
	Ledger__MemberView *m = member_ok(f, "M1");
	assert_int_equal(m->dues_paid_through, 202506);
	assert_int_equal(m->dues_paid_fen, 600);
	assert_int_equal(org_cov(f, "NJ", 202512)->dues_current, 0);
	assert_int_equal(org_cov(f, "JS", 202506)->dues_current, 1);
	/* A later payment still counts after the refunded one. */
	OK(f, tl_dues_for("M1", 300, 202507, 202509));
	assert_int_equal(member_ok(f, "M1")->dues_paid_through, 202509);
	/* The second refund voided: the payment settles through December again. */
	OK(f, tl_void(rest));
	m = member_ok(f, "M1");
	assert_int_equal(m->dues_paid_through, 202512);
	assert_int_equal(m->dues_paid_fen, 600 + 500 + 300);
	assert_int_equal(org_cov(f, "NJ", 202512)->dues_current, 1);
}

static void test_workforce(void **state)
{
	fx *f = *state;
	tree(f);
	/* Three riders under NJ (region 320100): two in NJ-RIDER (320100),
	 * one in NJ-GL (320102). */
	OK(f, tl_join("M1", "NJ-RIDER", 1));
	OK(f, tl_join("M2", "NJ-RIDER", 2));
	OK(f, tl_join("M3", "NJ-GL", 3));
	uint64_t e30 = OK(f, tl_workforce(320100, RIDER, 30));
	OK(f, tl_workforce(320100, COURIER, 10));

	/* An organisation's groups are set against the estimate for its own
	 * region: NJ 3 of 30 riders, NJ-RIDER 2 of 30, NJ-GL has none. */
	const Ledger__GroupCount *g = group_of(org_cov(f, "NJ", PERIOD), RIDER);
	assert_non_null(g);
	assert_int_equal(g->members, 3);
	assert_true(g->has_estimated_workers);
	assert_int_equal(g->estimated_workers, 30);
	assert_true(g->has_coverage && g->coverage == 3.0 / 30.0);
	g = group_of(org_cov(f, "NJ-RIDER", PERIOD), RIDER);
	assert_int_equal(g->members, 2);
	assert_true(g->coverage == 2.0 / 30.0);
	g = group_of(org_cov(f, "NJ-GL", PERIOD), RIDER);
	assert_int_equal(g->members, 1);
	assert_false(g->has_estimated_workers);
	assert_false(g->has_coverage);
	/* Couriers: estimated, none organised. */
	g = group_of(org_cov(f, "NJ", PERIOD), COURIER);
	assert_non_null(g);
	assert_int_equal(g->members, 0);
	assert_int_equal(g->estimated_workers, 10);
	assert_true(g->coverage == 0.0);

	/* A later estimate wins ... */
	uint64_t e60 = OK(f, tl_workforce(320100, RIDER, 60));
	g = group_of(org_cov(f, "NJ", PERIOD), RIDER);
	assert_int_equal(g->estimated_workers, 60);
	assert_true(g->coverage == 3.0 / 60.0);
	/* ... voided, the earlier one holds again ... */
	OK(f, tl_void(e60));
	assert_int_equal(group_of(org_cov(f, "NJ", PERIOD), RIDER)->estimated_workers, 30);
	/* ... and with that one voided too, there is no estimate. */
	OK(f, tl_void(e30));
	g = group_of(org_cov(f, "NJ", PERIOD), RIDER);
	assert_int_equal(g->members, 3);
	assert_false(g->has_estimated_workers);
	assert_false(g->has_coverage);
	/* An amended count. */
	uint64_t c = OK(f, tl_workforce(320100, TRUCKER, 5));
	OK(f, tl_amend(c, tl_workforce(320100, TRUCKER, 7)));
	assert_int_equal(group_of(org_cov(f, "NJ", PERIOD), TRUCKER)->estimated_workers, 7);
}

/* The estimate of NJ's riders in force at `at` (NULL: none). */
static const Ledger__GroupCount *rider_estimate(fx *f, int64_t at)
{
	const Ledger__GroupCount *g = group_of(coverage_at(f, "NJ", 0, PERIOD, at)->orgs[0], RIDER);
	return g && g->has_estimated_workers ? g : NULL;
}

/*
 * The estimate in force at a time is the one with the latest occurred_at not
 * after it, ties broken by seq: an estimate of an earlier year recorded
 * later (back-filled) does not replace a later year's as the denominator.
 */
static void test_workforce_in_force(void **state)
{
	fx *f = *state;
	const int64_t y23 = TL_T0 - 600 * DAY_US, y24 = TL_T0 - 300 * DAY_US;
	tree(f);
	OK(f, tl_join("M1", "NJ-RIDER", 1));
	uint64_t e24 = OK(f, at(tl_workforce(320100, RIDER, 100), y24));
	uint64_t e23 = OK(f, at(tl_workforce(320100, RIDER, 50), y23)); /* back-filled */

	const Ledger__GroupCount *g = rider_estimate(f, TL_T0);
	assert_non_null(g);
	assert_int_equal(g->estimated_workers, 100);
	assert_true(g->has_estimated_at && g->estimated_at == y24);
	assert_int_equal(g->estimate_seq, e24);
	assert_true(g->coverage == 1.0 / 100.0);
	/* Asked about a time between the two: the earlier one. */
	g = rider_estimate(f, y24 - 1);
	assert_non_null(g);
	assert_int_equal(g->estimated_workers, 50);
	assert_int_equal(g->estimate_seq, e23);
	assert_int_equal(rider_estimate(f, y23)->estimated_workers, 50); /* at its very time */
	assert_null(rider_estimate(f, y23 - 1));			    /* before any */
	assert_int_equal(coverage_at(f, "NJ", 0, PERIOD, y23 - 1)->at, y23 - 1);

	/* Two at the same time: the one recorded last. */
	uint64_t tie = OK(f, at(tl_workforce(320100, RIDER, 120), y24));
	assert_int_equal(rider_estimate(f, TL_T0)->estimate_seq, tie);
	/* Amended to an earlier time: the other one of y24 is in force again. */
	Ledger__Event *am = tl_amend(tie, tl_workforce(320100, RIDER, 120));
	am->event_amended->has_corrected_occurred_at = 1;
	am->event_amended->corrected_occurred_at = y23 + DAY_US;
	OK(f, am);
	assert_int_equal(rider_estimate(f, TL_T0)->estimated_workers, 100);
	assert_int_equal(rider_estimate(f, y23 + 2 * DAY_US)->estimated_workers, 120);
	/* An amendment without a corrected time keeps the time it corrects. */
	OK(f, tl_amend(e24, tl_workforce(320100, RIDER, 110)));
	g = rider_estimate(f, TL_T0);
	assert_int_equal(g->estimated_workers, 110);
	assert_true(g->estimated_at == y24);
	/* Voided: the latest one before it holds. */
	OK(f, tl_void(e24));
	assert_int_equal(rider_estimate(f, TL_T0)->estimated_workers, 120);
	OK(f, tl_void(tie));
	assert_int_equal(rider_estimate(f, TL_T0)->estimated_workers, 50);
	/* Not in force yet: an estimate dated after the time asked about. */
	OK(f, at(tl_workforce(320100, RIDER, 999), TL_T0 + DAY_US));
	assert_int_equal(rider_estimate(f, TL_T0)->estimated_workers, 50);
	assert_int_equal(rider_estimate(f, TL_T0 + DAY_US)->estimated_workers, 999);
}

/*
 * An estimate whose amendment moved it to another group, then voided: the
 * estimate must be gone from both groups. (Failed against members.c as of
 * c7c0c1c: apply_correction re-derived only the original's group and the
 * new correction's, so the group an earlier amendment had put the estimate
 * in kept its count.)
 */
static void test_workforce_void_after_group_amendment(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("M1", "NJ-RIDER", 1));
	uint64_t e = OK(f, tl_workforce(320100, RIDER, 30));
	OK(f, tl_amend(e, tl_workforce(320100, COURIER, 30))); /* it counted couriers */
	assert_false(group_of(org_cov(f, "NJ", PERIOD), RIDER)->has_estimated_workers);
	const Ledger__GroupCount *g = group_of(org_cov(f, "NJ", PERIOD), COURIER);
	assert_non_null(g);
	assert_int_equal(g->estimated_workers, 30);

	OK(f, tl_void(e)); /* no estimate at all */
	assert_false(group_of(org_cov(f, "NJ", PERIOD), RIDER)->has_estimated_workers);
	g = group_of(org_cov(f, "NJ", PERIOD), COURIER);
	if (g)
		fail_msg("after the void of seq %llu, NJ's COURIER group still has an estimate "
			 "of %llu workers (expected none)",
			 (unsigned long long)e, (unsigned long long)g->estimated_workers);
}

/* The same, amended twice, to two other groups in turn: the first of them
 * must lose the estimate. */
static void test_workforce_second_group_amendment(void **state)
{
	fx *f = *state;
	tree(f);
	uint64_t e = OK(f, tl_workforce(320100, RIDER, 30));
	OK(f, tl_amend(e, tl_workforce(320100, COURIER, 30)));
	OK(f, tl_amend(e, tl_workforce(320100, TRUCKER, 30)));
	Ledger__OrgCoverage *nj = org_cov(f, "NJ", PERIOD);
	assert_null(group_of(nj, RIDER));
	assert_non_null(group_of(nj, TRUCKER));
	assert_int_equal(group_of(nj, TRUCKER)->estimated_workers, 30);
	const Ledger__GroupCount *g = group_of(nj, COURIER);
	if (g)
		fail_msg("seq %llu now estimates truck drivers, yet NJ's COURIER group still has "
			 "an estimate of %llu workers (expected none)",
			 (unsigned long long)e, (unsigned long long)g->estimated_workers);
}

static void test_org_dissolved(void **state)
{
	fx *f = *state;
	tree(f);
	/* The subtree, depth first, children by id, down to `depth`. */
	static const char *const walk[] = {"JS", "NJ", "NJ-GL", "NJ-RIDER", "SZ", "SZ-GY",
					   "SZ-RIDER"};
	Ledger__CoverageReport *all = coverage(f, "JS", 2, PERIOD);
	assert_int_equal(all->n_orgs, 7);
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(all->orgs[i]->org_id, walk[i]);
		assert_int_equal(all->orgs[i]->depth, i == 0 ? 0 : i == 1 || i == 4 ? 1 : 2);
	}
	assert_int_equal(coverage(f, "JS", 1, PERIOD)->n_orgs, 3);
	assert_int_equal(coverage(f, "JS", 9, PERIOD)->n_orgs, 9);
	assert_string_equal(org_cov(f, "NJ-P1", PERIOD)->parent_id, "NJ-RIDER");
	OK(f, tl_join("M1", "NJ-P1", 1));
	FIGS(f, "NJ-RIDER", 1, 0, 0, 2, 1);
	OK(f, tl_transfer("M1", "NJ-P1", "NJ-RIDER"));
	FIGS(f, "NJ-RIDER", 1, 1, 0, 2, 1); /* NJ-P1 empty, NJ-RIDER covered */
	FIGS(f, "NJ-P1", 0, 0, 0, 1, 0);

	/* NJ-P1 dissolved: one unit less on its chain. */
	OK(f, tl_dissolve("NJ-P1"));
	Ledger__OrgCoverage *p1 = org_cov(f, "NJ-P1", PERIOD);
	assert_true(p1->dissolved);
	assert_int_equal(p1->units, 0);
	FIGS(f, "NJ-RIDER", 1, 1, 0, 1, 1);
	FIGS(f, "NJ", 1, 0, 0, 2, 1);
	FIGS(f, "JS", 1, 0, 0, 3, 1);
	assert_false(org_cov(f, "NJ-RIDER", PERIOD)->dissolved);
	/* A new unit under SZ-GY: one more on its chain. */
	OK(f, tl_org("SZ-GY-R1", LEDGER__ORG_KIND__REGIONAL_UNION, "SZ-GY", 320508));
	FIGS(f, "SZ-GY", 0, 0, 0, 1, 0);
	FIGS(f, "SZ", 0, 0, 0, 2, 0);
	FIGS(f, "JS", 1, 0, 0, 4, 1);
	/* The subtree walk still lists the dissolved one, depth first. */
	Ledger__CoverageReport *rep = coverage(f, "NJ-RIDER", 1, PERIOD);
	assert_int_equal(rep->n_orgs, 2);
	assert_string_equal(rep->orgs[1]->org_id, "NJ-P1");
	assert_int_equal(rep->orgs[1]->depth, 1);

	/* A rename, and its void: the name follows. */
	uint64_t r = OK(f, tl_org_renamed("NJ", "Nanjing federation"));
	assert_string_equal(org_cov(f, "NJ", PERIOD)->name, "Nanjing federation");
	OK(f, tl_void(r));
	assert_string_equal(org_cov(f, "NJ", PERIOD)->name, "NJ");
}

/*
 * MemberView.version is "of the member's stream" (ledger.proto). A service
 * delivered to a member is an event of that stream, so after a join and a
 * service the stream is at version 2, and so must the view be: a client
 * that appends with expected_version = view.version would otherwise get
 * VERSION_CONFLICT. (members.c skipped services until codec_event_member
 * took over its member_of.)
 */
static void test_member_version_counts_services(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("M1", "NJ-RIDER", 1));
	uint64_t s = OK(f, tl_service("NJ-RIDER", "M1", LEDGER__SERVICE_KIND__LEGAL_AID));
	Ledger__Event *ev = tl_get(&f->l, s);
	uint64_t stream_version = ev->version;
	codec_event_free(ev);
	assert_int_equal(stream_version, 2);
	Ledger__MemberView *m = member_ok(f, "M1");
	if (m->version != stream_version || m->last_seq != s)
		fail_msg("member M1: view version %llu, last_seq %llu; its stream is at version "
			 "%llu, last event seq %llu (a service)",
			 (unsigned long long)m->version, (unsigned long long)m->last_seq,
			 (unsigned long long)stream_version, (unsigned long long)s);
}

/* Names and platforms longer than 255 bytes are cut at a UTF-8 boundary. */
static void test_long_strings(void **state)
{
	fx *f = *state;
	static char big[1024];
	tree(f);
	strcpy(big, "a");
	for (int i = 0; i < 300; i++)
		strcat(big, "\xe7\xbe\x8e"); /* 美: 1 + 900 bytes */
	Ledger__Event *j = tl_join("M1", "NJ", 1);
	j->member_joined->platform = big;
	OK(f, j);
	/* Byte 255 is inside the 85th character: cut before it. */
	const char *p = member_ok(f, "M1")->platform;
	assert_int_equal(strlen(p), 1 + 84 * 3);
	assert_memory_equal(p, big, strlen(p));
	OK(f, tl_org_renamed("NJ", big));
	const char *n = org_cov(f, "NJ", PERIOD)->name;
	assert_int_equal(strlen(n), 1 + 84 * 3);
	assert_memory_equal(n, big, strlen(n));
}

/* ================================================================== */
/* 2. The transfers query                                              */
/* ================================================================== */

typedef struct xe {
	uint64_t seq; /* 0: the list is empty */
	int dir;
} xe;

#define INTO LEDGER__TRANSFER_DIRECTION__INTO
#define OUT_OF LEDGER__TRANSFER_DIRECTION__OUT_OF
#define WITHIN LEDGER__TRANSFER_DIRECTION__WITHIN
#define ALL_TIME INT64_MIN, INT64_MAX

static Ledger__TransferList *transfers(fx *f, const char *org, int64_t from, int64_t to,
				       uint32_t limit)
{
	store_txn *t;
	sync_fx(f);
	Ledger__TransferList *l = ld_arena_alloc(&f->a, sizeof(*l));
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
	int rc = transfers_query(KV_READ_TXN(t), org, 0, 0, from, 0, to, limit, l, &f->a);
	store_read_end(t);
	if (rc)
		fail_msg("transfers_query '%s': %s", org, ld_errname(rc));
	return l;
}

#define EXPECT_XFERS(f, org, from, to, limit, trunc, ...)                                     \
	do {                                                                                  \
		const xe w_[] = {__VA_ARGS__};                                                \
		expect_xfers_(f, org, from, to, limit, trunc, w_, sizeof(w_) / sizeof(w_[0]), \
			      __LINE__);                                                      \
	} while (0)

static void expect_xfers_(fx *f, const char *org, int64_t from, int64_t to, uint32_t limit,
			  int truncated, const xe *want, size_t n, int line)
{
	Ledger__TransferList *l = transfers(f, org, from, to, limit);
	if (n == 1 && want[0].seq == 0)
		n = 0;
	char got[400] = "", exp[400] = "";
	for (size_t i = 0; i < l->n_transfers; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), " %llu/%d",
			 (unsigned long long)l->transfers[i]->seq, l->transfers[i]->direction);
	for (size_t i = 0; i < n; i++)
		snprintf(exp + strlen(exp), sizeof(exp) - strlen(exp), " %llu/%d",
			 (unsigned long long)want[i].seq, want[i].dir);
	int ok = l->n_transfers == n && (l->has_truncated && l->truncated) == !!truncated;
	for (size_t i = 0; ok && i < n; i++)
		ok = l->transfers[i]->seq == want[i].seq && (int)l->transfers[i]->direction == want[i].dir;
	if (!ok)
		fail_msg("line %d: transfers of %s: expected seq/direction%s%s, got%s%s", line, org,
			 exp, truncated ? " (truncated)" : "", got,
			 l->has_truncated && l->truncated ? " (truncated)" : "");
}

static const Ledger__TransferView *find_xfer(Ledger__TransferList *l, uint64_t seq)
{
	for (size_t i = 0; i < l->n_transfers; i++)
		if (l->transfers[i]->seq == seq)
			return l->transfers[i];
	return NULL;
}

static void test_transfers_query(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("M1", "NJ-RIDER", 1));
	OK(f, tl_join("M2", "NJ-GL-R1", 2));
	OK(f, tl_join("M3", "SZ-RIDER", 3));
	/* x1: Nanjing → Suzhou; x2: within Nanjing; x3: within Suzhou; x4:
	 * within NJ-RIDER's subtree, at the same time as x1 (after it in the
	 * log, so after it in the lists). */
	uint64_t x1 = OK(f, at(tl_transfer("M1", "NJ-RIDER", "SZ-RIDER"), TL_T0 + 1 * HOUR_US));
	uint64_t x2 = OK(f, at(tl_transfer("M2", "NJ-GL-R1", "NJ-RIDER"), TL_T0 + 2 * HOUR_US));
	uint64_t x3 = OK(f, at(tl_transfer("M3", "SZ-RIDER", "SZ-GY"), TL_T0 + 3 * HOUR_US));
	uint64_t x4 = OK(f, at(tl_transfer("M2", "NJ-RIDER", "NJ-P1"), TL_T0 + 1 * HOUR_US));

	/* Directions, relative to each subtree; by occurred_at, then seq. */
	EXPECT_XFERS(f, "NJ", INT64_MIN, INT64_MAX, 100, 0, {x1, OUT_OF}, {x4, WITHIN}, {x2, WITHIN});
	EXPECT_XFERS(f, "SZ", INT64_MIN, INT64_MAX, 100, 0, {x1, INTO}, {x3, WITHIN});
	EXPECT_XFERS(f, "JS", INT64_MIN, INT64_MAX, 100, 0, {x1, WITHIN}, {x4, WITHIN}, {x2, WITHIN},
		     {x3, WITHIN});
	EXPECT_XFERS(f, "NJ-GL", INT64_MIN, INT64_MAX, 100, 0, {x2, OUT_OF});
	EXPECT_XFERS(f, "NJ-GL-R1", INT64_MIN, INT64_MAX, 100, 0, {x2, OUT_OF});
	EXPECT_XFERS(f, "NJ-RIDER", INT64_MIN, INT64_MAX, 100, 0, {x1, OUT_OF}, {x4, WITHIN}, {x2, INTO});
	EXPECT_XFERS(f, "NJ-P1", INT64_MIN, INT64_MAX, 100, 0, {x4, INTO});
	EXPECT_XFERS(f, "SZ-RIDER", INT64_MIN, INT64_MAX, 100, 0, {x1, INTO}, {x3, OUT_OF});
	EXPECT_XFERS(f, "SZ-GY", INT64_MIN, INT64_MAX, 100, 0, {x3, INTO});

	/* What an entry says. */
	Ledger__TransferList *l = transfers(f, "SZ", ALL_TIME, 100);
	const Ledger__TransferView *v = find_xfer(l, x1);
	Ledger__Event *orig = tl_get(&f->l, x1);
	assert_string_equal(v->member_id, "M1");
	assert_string_equal(v->from_org, "NJ-RIDER");
	assert_string_equal(v->to_org, "SZ-RIDER");
	assert_int_equal(v->reason, LEDGER__TRANSFER_REASON__MOVED_REGION);
	assert_int_equal(v->occurred_at, TL_T0 + HOUR_US);
	assert_int_equal(v->recorded_at, orig->recorded_at);
	assert_string_equal(v->actor, "test");
	assert_true(v->has_hash && v->hash.len == LD_HASH_LEN);
	assert_memory_equal(v->hash.data, orig->hash.data, LD_HASH_LEN);
	assert_false(v->has_amended_by);
	codec_event_free(orig);

	/* The window: from inclusive, to exclusive. */
	EXPECT_XFERS(f, "JS", TL_T0 + HOUR_US, TL_T0 + 2 * HOUR_US, 100, 0, {x1, WITHIN},
		     {x4, WITHIN});
	EXPECT_XFERS(f, "JS", TL_T0 + HOUR_US + 1, TL_T0 + 3 * HOUR_US, 100, 0, {x2, WITHIN});
	EXPECT_XFERS(f, "JS", TL_T0 + 2 * HOUR_US, TL_T0 + 3 * HOUR_US + 1, 100, 0, {x2, WITHIN},
		     {x3, WITHIN});
	EXPECT_XFERS(f, "JS", TL_T0 + 3 * HOUR_US + 1, INT64_MAX, 100, 0, {0, 0});
	EXPECT_XFERS(f, "JS", INT64_MIN, TL_T0 + HOUR_US, 100, 0, {0, 0});
	/* The limit. */
	EXPECT_XFERS(f, "JS", INT64_MIN, INT64_MAX, 2, 1, {x1, WITHIN}, {x4, WITHIN});
	EXPECT_XFERS(f, "JS", INT64_MIN, INT64_MAX, 3, 1, {x1, WITHIN}, {x4, WITHIN}, {x2, WITHIN});
	EXPECT_XFERS(f, "JS", INT64_MIN, INT64_MAX, 4, 0, {x1, WITHIN}, {x4, WITHIN}, {x2, WITHIN},
		     {x3, WITHIN});
	EXPECT_XFERS(f, "JS", TL_T0 + 2 * HOUR_US, INT64_MAX, 1, 1, {x2, WITHIN});
	/* Unknown organisation. */
	{
		store_txn *t;
		Ledger__TransferList tl;
		assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
		assert_int_equal(transfers_query(KV_READ_TXN(t), "NOPE", 0, 0, INT64_MIN, 0, INT64_MAX, 10, &tl, &f->a),
				 LD_E(NOT_FOUND));
		store_read_end(t);
	}
	/* Stored once: each entry (one per organisation filed under) is its
	 * direction alone, the transfer's record is in "tkeys" by its seq. */
	{
		store_txn *t;
		store_cursor *c;
		store_val k, ev;
		size_t entries = 0;
		sync_fx(f);
		assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
		assert_int_equal(store_cursor_open(t, proj_db(&transfers_projection, TRANSFERS_DB_ENTRIES), &c), 0);
		for (int rc = store_cursor_first(c, &k, &ev); rc == 0; rc = store_cursor_next(c, &k, &ev)) {
			assert_int_equal(ev.len, 1);
			entries++;
		}
		store_cursor_close(c);
		assert_true(entries >= 4 * 3);
		assert_int_equal(store_count(t, proj_db(&transfers_projection, TRANSFERS_DB_KEYS)), 4);
		store_read_end(t);
	}

	/* A voided transfer disappears everywhere. */
	OK(f, tl_void(x4));
	EXPECT_XFERS(f, "NJ", INT64_MIN, INT64_MAX, 100, 0, {x1, OUT_OF}, {x2, WITHIN});
	EXPECT_XFERS(f, "NJ-P1", INT64_MIN, INT64_MAX, 100, 0, {0, 0});
	EXPECT_XFERS(f, "JS", INT64_MIN, INT64_MAX, 100, 0, {x1, WITHIN}, {x2, WITHIN}, {x3, WITHIN});

	/* x1 amended: M1 went to SZ-GY, half an hour earlier. It leaves
	 * SZ-RIDER's list, enters SZ-GY's, moves in time, keeps its seq, and
	 * says which event amended it. */
	Ledger__Event *am = tl_amend(x1, tl_transfer("M1", "NJ-RIDER", "SZ-GY"));
	am->event_amended->has_corrected_occurred_at = 1;
	am->event_amended->corrected_occurred_at = TL_T0 + HOUR_US / 2;
	uint64_t a = OK(f, am);
	EXPECT_XFERS(f, "SZ-RIDER", INT64_MIN, INT64_MAX, 100, 0, {x3, OUT_OF});
	EXPECT_XFERS(f, "SZ-GY", INT64_MIN, INT64_MAX, 100, 0, {x1, INTO}, {x3, INTO});
	EXPECT_XFERS(f, "SZ", INT64_MIN, INT64_MAX, 100, 0, {x1, INTO}, {x3, WITHIN});
	EXPECT_XFERS(f, "NJ", INT64_MIN, INT64_MAX, 100, 0, {x1, OUT_OF}, {x2, WITHIN});
	EXPECT_XFERS(f, "JS", TL_T0 + HOUR_US, INT64_MAX, 100, 0, {x2, WITHIN}, {x3, WITHIN});
	l = transfers(f, "SZ", ALL_TIME, 100);
	v = find_xfer(l, x1);
	assert_string_equal(v->to_org, "SZ-GY");
	assert_int_equal(v->occurred_at, TL_T0 + HOUR_US / 2);
	assert_true(v->has_amended_by);
	assert_int_equal(v->amended_by, a);
	assert_string_equal(member_ok(f, "M1")->org_id, "SZ-GY");
	/* Amended again: the latest wins, once. */
	uint64_t a2 = OK(f, tl_amend(x1, tl_transfer("M1", "NJ-RIDER", "SZ-RIDER")));
	EXPECT_XFERS(f, "SZ-GY", INT64_MIN, INT64_MAX, 100, 0, {x3, INTO});
	EXPECT_XFERS(f, "SZ-RIDER", INT64_MIN, INT64_MAX, 100, 0, {x1, INTO}, {x3, OUT_OF});
	v = find_xfer(transfers(f, "SZ", ALL_TIME, 100), x1);
	assert_int_equal(v->amended_by, a2);
	assert_int_equal(v->occurred_at, TL_T0 + HOUR_US); /* no corrected time this time */
	/* The amended transfer voided: gone from every list it was in. */
	OK(f, tl_void(x1));
	EXPECT_XFERS(f, "SZ", INT64_MIN, INT64_MAX, 100, 0, {x3, WITHIN});
	EXPECT_XFERS(f, "SZ-RIDER", INT64_MIN, INT64_MAX, 100, 0, {x3, OUT_OF});
	EXPECT_XFERS(f, "NJ", INT64_MIN, INT64_MAX, 100, 0, {x2, WITHIN});
	EXPECT_XFERS(f, "JS", INT64_MIN, INT64_MAX, 100, 0, {x2, WITHIN}, {x3, WITHIN});
	assert_string_equal(member_ok(f, "M1")->org_id, "NJ-RIDER");
}

/* ================================================================== */
/* 3. History                                                          */
/* ================================================================== */

typedef struct he {
	uint64_t seq;
	int body;
	uint64_t voided_by, amended_by;
	int rejoin; /* -1: no rejoin flag */
} he;

static void expect_history(fx *f, const char *id, int all, const he *want, size_t n, int line)
{
	store_txn *t;
	Ledger__MemberHistory h;
	ld_arena a = LD_ARENA_INIT;
	assert_int_equal(store_read_begin(f->l.s, &t), 0);
	int rc = history_query(t, id, all, &h, &a);
	store_read_end(t);
	if (rc)
		fail_msg("line %d: history_query '%s': %s", line, id, ld_errname(rc));
	char msg[200] = "";
	if (h.n_entries != n)
		snprintf(msg, sizeof(msg), "%zu entries, expected %zu", h.n_entries, n);
	for (size_t i = 0; !msg[0] && i < n; i++) {
		const Ledger__HistoryEntry *e = h.entries[i];
		int rejoin = e->has_rejoin ? (int)e->rejoin : -1;
		if (e->event->seq != want[i].seq || (int)e->event->body_case != want[i].body ||
		    (e->has_voided_by ? e->voided_by : 0) != want[i].voided_by ||
		    (e->has_amended_by ? e->amended_by : 0) != want[i].amended_by ||
		    rejoin != want[i].rejoin)
			snprintf(msg, sizeof(msg),
				 "entry %zu: seq %llu body %d voided_by %llu amended_by %llu "
				 "rejoin %d, expected %llu %d %llu %llu %d",
				 i, (unsigned long long)e->event->seq, e->event->body_case,
				 (unsigned long long)e->voided_by, (unsigned long long)e->amended_by,
				 rejoin, (unsigned long long)want[i].seq, want[i].body,
				 (unsigned long long)want[i].voided_by,
				 (unsigned long long)want[i].amended_by, want[i].rejoin);
	}
	history_release(&h);
	ld_arena_free(&a);
	if (msg[0])
		fail_msg("line %d: history of %s (all=%d): %s", line, id, all, msg);
}

#define B(x) LEDGER__EVENT__BODY_##x

static void test_history(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("OTHER", "NJ", 9)); /* another member's events stay out */
	uint64_t a = OK(f, tl_join("H1", "NJ", 1));
	uint64_t b = OK(f, tl_dues("H1", 1200));
	uint64_t c = OK(f, tl_affiliate("H1", "SZ-RIDER"));
	uint64_t d = OK(f, tl_transfer("H1", "NJ", "NJ-GL"));
	OK(f, tl_end("OTHER"));
	uint64_t e = OK(f, tl_amend(d, tl_transfer("H1", "NJ", "NJ-RIDER")));
	uint64_t e2 = OK(f, tl_amend(d, tl_transfer("H1", "NJ", "NJ-P1"))); /* the latest */
	uint64_t v = OK(f, tl_void(c));
	uint64_t g = OK(f, tl_end("H1"));
	uint64_t h = OK(f, tl_join("H1", "SZ", 1));
	uint64_t i = OK(f, tl_void(b));

	/* Membership events and their corrections, in seq order; the dues
	 * and their void are left out. */
	const he want[] = {
		{a, B(MEMBER_JOINED), 0, 0, 0},
		{c, B(MEMBER_AFFILIATED), v, 0, -1},
		{d, B(MEMBER_TRANSFERRED), 0, e2, -1},
		{e, B(EVENT_AMENDED), 0, 0, -1},
		{e2, B(EVENT_AMENDED), 0, 0, -1},
		{v, B(EVENT_VOIDED), 0, 0, -1},
		{g, B(MEMBERSHIP_ENDED), 0, 0, -1},
		{h, B(MEMBER_JOINED), 0, 0, 1},
	};
	expect_history(f, "H1", 0, want, sizeof(want) / sizeof(want[0]), __LINE__);
	const he every[] = {
		{a, B(MEMBER_JOINED), 0, 0, 0},
		{b, B(DUES_PAID), i, 0, -1},
		{c, B(MEMBER_AFFILIATED), v, 0, -1},
		{d, B(MEMBER_TRANSFERRED), 0, e2, -1},
		{e, B(EVENT_AMENDED), 0, 0, -1},
		{e2, B(EVENT_AMENDED), 0, 0, -1},
		{v, B(EVENT_VOIDED), 0, 0, -1},
		{g, B(MEMBERSHIP_ENDED), 0, 0, -1},
		{h, B(MEMBER_JOINED), 0, 0, 1},
		{i, B(EVENT_VOIDED), 0, 0, -1},
	};
	expect_history(f, "H1", 1, every, sizeof(every) / sizeof(every[0]), __LINE__);

	/* The view agrees: one transfer (to NJ-P1, as amended), one rejoin. */
	Ledger__MemberView *m = member_ok(f, "H1");
	assert_int_equal(m->rejoins, 1);
	assert_int_equal(m->transfers, 1);
	assert_int_equal(m->first_joined_at, TL_T0);
	assert_string_equal(m->org_id, "SZ");
	assert_int_equal(m->dues_paid_fen, 0);

	/* A voided join is no rejoin, and the join after it is none either. */
	uint64_t j1 = OK(f, tl_join("H2", "NJ", 2));
	uint64_t vj = OK(f, tl_void(j1));
	uint64_t j2 = OK(f, tl_join("H2", "SZ", 2));
	const he h2[] = {
		{j1, B(MEMBER_JOINED), vj, 0, -1},
		{vj, B(EVENT_VOIDED), 0, 0, -1},
		{j2, B(MEMBER_JOINED), 0, 0, 0},
	};
	expect_history(f, "H2", 0, h2, sizeof(h2) / sizeof(h2[0]), __LINE__);
	assert_int_equal(member_ok(f, "H2")->rejoins, 0);

	/* No such member. */
	store_txn *t;
	Ledger__MemberHistory none;
	ld_arena ar = LD_ARENA_INIT;
	assert_int_equal(store_read_begin(f->l.s, &t), 0);
	assert_int_equal(history_query(t, "NOPE", 1, &none, &ar), LD_E(NOT_FOUND));
	store_read_end(t);
	ld_arena_free(&ar);
}

/* ================================================================== */
/* A generated history                                                  */
/* ================================================================== */

/*
 * A deterministic history of a province: Jiangsu, its 13 cities, three
 * counties and two industry unions per city, a regional union per county, a
 * platform union under each city's first industry union; then members who
 * join, transfer, end, rejoin, affiliate and disaffiliate, change profile,
 * pay, are let off and refunded dues, get services; workforce estimates,
 * renamed, new and dissolved organisations; voids and amendments of all of
 * these. The generator keeps the state the write model checks (a member's
 * effective events, re-folded for every correction; the organisations'
 * counters), so every event it makes is valid: a rejection fails the test.
 */

#define G_MAX_AFF 8
enum { ST_NONE, ST_ACTIVE, ST_ENDED };
enum {
	E_JOIN = 1, E_AFF, E_DISAFF, E_XFER, E_END, E_PROF, E_PAID, E_WAIVE, E_REFUND, E_SVC,
	E_REL, /* a transfer's release: org, org2, kind as E_XFER's */
	E_ACC, /* its acceptance: ref the release's index, org, org2, kind repeated */
};

typedef struct gorg {
	char id[LD_ID_MAX + 1];
	int kind, parent, dissolved, temp;
	uint32_t region;
	long members, affiliated, children; /* as the write model counts them */
} gorg;

/* One event of a member, with its body as it counts now (amended). */
typedef struct mev {
	uint64_t seq;
	int64_t at; /* its occurred_at as recorded */
	uint8_t type, voided, amended;
	uint8_t group, channel, path, employment, real_name;
	uint8_t kind;     /* AFF: affiliation kind; XFER: reason; END: reason */
	int org, org2;    /* JOIN, AFF, DISAFF: org; XFER: from, to */
	int64_t fen;      /* PAID: amount; REFUND: amount */
	int64_t refunded; /* PAID: refunds not voided */
	int ref;          /* REFUND: index of the payment among the member's events; ACC: of
			   * the release */
	uint32_t pfrom, pto;
} mev;

typedef struct mstate {
	int status, org, naff, aff[G_MAX_AFF];
	int pending; /* index + 1 of the pending release among the member's events; 0: none */
} mstate;

typedef struct gmem {
	mstate st;
	mev *ev;
	int nev, cap;
} gmem;

typedef struct gfix {
	uint64_t seq;
	uint32_t region;
	int voided;
} gfix;

typedef struct gen {
	uint64_t rng, next_seq;
	int64_t clock;
	gorg *org;
	int norg, corg, ntree, emitted_tree;
	gmem *mem;
	int nmem, cmem;
	gfix *wf, *upd; /* workforce estimates; organisation renames */
	int nwf, cwf, nupd, cupd;
	long live_transfers; /* tkeys entries: transfers in effect, accepted ones included,
			      * and pending releases */
	unsigned long n[32]; /* events made, by kind of action */
} gen;

enum {
	A_TREE, A_JOIN, A_REJOIN, A_XFER, A_END, A_AFF, A_DISAFF, A_PROF, A_PAID, A_WAIVE,
	A_REFUND, A_SVC, A_WF, A_RENAME, A_ORG, A_DISSOLVE, A_VOID, A_AMEND, A_WFFIX, A_UPDVOID,
	A_REL, A_ACC, A__COUNT
};
static const char *const action_names[A__COUNT] = {
	"orgs",	   "joins",    "rejoins", "transfers", "ends",	   "affiliations", "disaffiliations",
	"profiles", "payments", "waivers", "refunds",   "services", "estimates",	   "renames",
	"new orgs", "dissolutions", "voids", "amendments", "estimate fixes", "rename voids",
	"releases", "acceptances",
};

static uint64_t rnd(gen *g)
{
	/* xorshift64* */
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return g->rng * 2685821657736338717ULL;
}

static int rn(gen *g, int n)
{
	return (int)(rnd(g) % (uint64_t)n);
}

#define GROW(arr, n, cap)                                                        \
	do {                                                                     \
		if ((n) == (cap)) {                                              \
			(cap) = (cap) ? 2 * (cap) : 64;                          \
			(arr) = realloc((arr), (size_t)(cap) * sizeof(*(arr)));  \
			assert_non_null(arr);                                    \
		}                                                                \
	} while (0)

static Ledger__Event *stamp(gen *g, Ledger__Event *ev, int action)
{
	char text[64];
	snprintf(text, sizeof(text), "test_projections/%llu", (unsigned long long)g->next_seq);
	ldc_derived_event_id(text, ev->event_id.data);
	ev->occurred_at = g->clock;
	g->clock += 500000 + rn(g, 2000000);
	g->next_seq++;
	g->n[action]++;
	return ev;
}

static int add_org(gen *g, const char *id, int kind, int parent, uint32_t region, int temp)
{
	GROW(g->org, g->norg, g->corg);
	gorg *o = &g->org[g->norg];
	memset(o, 0, sizeof(*o));
	snprintf(o->id, sizeof(o->id), "%s", id);
	o->kind = kind;
	o->parent = parent;
	o->region = region;
	o->temp = temp;
	if (parent >= 0)
		g->org[parent].children++;
	return g->norg++;
}

static Ledger__Event *org_event(gen *g, int oi, int action)
{
	const gorg *o = &g->org[oi];
	return stamp(g,
		     tl_org(o->id, (Ledger__OrgKind)o->kind, o->parent >= 0 ? g->org[o->parent].id : NULL,
			    o->region),
		     action);
}

static void gen_init(gen *g, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	g->rng = seed;
	g->next_seq = 1;
	g->clock = TL_T0 - 30 * DAY_US;
	char id[LD_ID_MAX + 1];
	int js = add_org(g, "JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, -1, 320000, 0);
	for (int c = 1; c <= 13; c++) {
		uint32_t cr = 320000 + 100 * (uint32_t)c;
		snprintf(id, sizeof(id), "C%02d", c);
		int city = add_org(g, id, LEDGER__ORG_KIND__FEDERATION_CITY, js, cr, 0);
		for (int k = 1; k <= 3; k++) {
			snprintf(id, sizeof(id), "C%02d-K%d", c, k);
			int county = add_org(g, id, LEDGER__ORG_KIND__FEDERATION_COUNTY, city,
					     cr + (uint32_t)k, 0);
			snprintf(id, sizeof(id), "C%02d-K%d-R", c, k);
			add_org(g, id, LEDGER__ORG_KIND__REGIONAL_UNION, county, cr + (uint32_t)k, 0);
		}
		for (int u = 1; u <= 2; u++) {
			snprintf(id, sizeof(id), "C%02d-I%d", c, u);
			int iu = add_org(g, id, LEDGER__ORG_KIND__INDUSTRY_UNION, city, cr, 0);
			if (u == 1) {
				snprintf(id, sizeof(id), "C%02d-I%d-P", c, u);
				add_org(g, id, LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION, iu, cr, 0);
			}
		}
	}
	g->ntree = g->norg;
}

static void gen_free(gen *g)
{
	for (int i = 0; i < g->nmem; i++)
		free(g->mem[i].ev);
	free(g->mem);
	free(g->org);
	free(g->wf);
	free(g->upd);
}

static int grassroots_kind(int kind)
{
	return kind >= LEDGER__ORG_KIND__INDUSTRY_UNION;
}

static int live_org(gen *g)
{
	for (;;) {
		int i = rn(g, g->norg);
		if (!g->org[i].dissolved)
			return i;
	}
}

/* Mostly grassroots organisations, sometimes a federation. */
static int member_org(gen *g)
{
	int i = live_org(g);
	for (int k = 0; k < 4 && !grassroots_kind(g->org[i].kind); k++)
		i = live_org(g);
	return i;
}

static int has_aff(const mstate *s, int org)
{
	for (int i = 0; i < s->naff; i++)
		if (s->aff[i] == org)
			return 1;
	return 0;
}

static void drop_aff(mstate *s, int org)
{
	for (int i = 0; i < s->naff; i++)
		if (s->aff[i] == org) {
			s->aff[i] = s->aff[--s->naff];
			return;
		}
}

/*
 * The write model's fold of a member's stream (core/model.c member_step
 * without the organisation checks, as a re-fold does), with event idx
 * replaced by repl (NULL: voided; idx -1: none). 1 if it folds, with the
 * state in *out.
 */
static int fold(const gen *g, const gmem *m, int idx, const mev *repl, mstate *out)
{
	memset(out, 0, sizeof(*out));
	out->org = -1;
	for (int i = 0; i < m->nev; i++) {
		const mev *e = i == idx ? repl : m->ev[i].voided ? NULL : &m->ev[i];
		if (!e)
			continue;
		if (e->type == E_JOIN) {
			if (out->status == ST_ACTIVE)
				return 0;
			out->status = ST_ACTIVE;
			out->org = e->org;
			out->naff = 0;
			continue;
		}
		if (out->status == ST_NONE)
			return 0;
		switch (e->type) {
		case E_AFF:
			if (out->status != ST_ACTIVE || out->org == e->org || has_aff(out, e->org) ||
			    out->naff == G_MAX_AFF)
				return 0;
			out->aff[out->naff++] = e->org;
			break;
		case E_DISAFF:
			if (!has_aff(out, e->org))
				return 0;
			drop_aff(out, e->org);
			break;
		case E_XFER:
			if (out->status != ST_ACTIVE || out->org != e->org || out->pending)
				return 0;
			out->org = e->org2;
			drop_aff(out, e->org2);
			break;
		case E_REL:
			if (out->status != ST_ACTIVE || out->org != e->org || out->pending)
				return 0;
			out->pending = i + 1;
			break;
		case E_ACC:
			if (out->status != ST_ACTIVE || out->pending != e->ref + 1)
				return 0;
			out->pending = 0;
			out->org = e->org2;
			drop_aff(out, e->org2);
			break;
		case E_END:
			if (out->status != ST_ACTIVE || out->pending)
				return 0;
			out->status = ST_ENDED;
			out->naff = 0;
			break;
		default:
			break;
		}
	}
	/* An active member must end up in a live organisation. */
	return out->status != ST_ACTIVE || !g->org[out->org].dissolved;
}

/* The organisations' counters follow a member's change of state. */
static void set_state(gen *g, gmem *m, const mstate *ns)
{
	if (m->st.status == ST_ACTIVE) {
		g->org[m->st.org].members--;
		for (int i = 0; i < m->st.naff; i++)
			g->org[m->st.aff[i]].affiliated--;
	}
	if (ns->status == ST_ACTIVE) {
		g->org[ns->org].members++;
		for (int i = 0; i < ns->naff; i++)
			g->org[ns->aff[i]].affiliated++;
	}
	m->st = *ns;
}

static void member_id(char *out, size_t n, int mi)
{
	snprintf(out, n, "M%06d", mi);
}

/* The event for body e of member mi. */
static Ledger__Event *body_of(const gen *g, int mi, const mev *e)
{
	char id[16];
	Ledger__Event *ev = NULL;
	member_id(id, sizeof(id), mi);
	switch (e->type) {
	case E_JOIN: {
		ev = tl_join(id, g->org[e->org].id, 100000 + mi);
		Ledger__MemberJoined *j = ev->member_joined;
		j->worker_group = (Ledger__WorkerGroup)e->group;
		j->channel = (Ledger__JoinChannel)e->channel;
		j->join_path = (Ledger__JoinPath)e->path;
		j->employment = (Ledger__EmploymentRelation)e->employment;
		j->real_name = e->real_name;
		j->region = g->org[e->org].region;
		break;
	}
	case E_AFF:
		ev = tl_affiliate(id, g->org[e->org].id);
		ev->member_affiliated->kind = (Ledger__AffiliationKind)e->kind;
		break;
	case E_DISAFF:
		ev = tl_disaffiliate(id, g->org[e->org].id);
		break;
	case E_XFER:
		ev = tl_transfer(id, g->org[e->org].id, g->org[e->org2].id);
		ev->member_transferred->reason = (Ledger__TransferReason)e->kind;
		break;
	case E_REL:
		ev = tl_release(id, g->org[e->org].id, g->org[e->org2].id);
		ev->transfer_released->reason = (Ledger__TransferReason)e->kind;
		break;
	case E_ACC:
		ev = tl_accept(id, g->mem[mi].ev[e->ref].seq, g->org[e->org].id, g->org[e->org2].id);
		ev->transfer_accepted->reason = (Ledger__TransferReason)e->kind;
		break;
	case E_END:
		ev = tl_end(id);
		ev->membership_ended->reason = (Ledger__EndReason)e->kind;
		break;
	case E_PAID:
		ev = tl_dues_for(id, e->fen, e->pfrom, e->pto);
		break;
	case E_WAIVE:
		ev = tl_waive(id, e->pfrom, e->pto);
		break;
	case E_REFUND:
		ev = tl_refund(id, e->fen, g->mem[mi].ev[e->ref].seq);
		break;
	default:
		fail_msg("body_of: type %d", e->type);
	}
	return ev;
}

/* Records event e of member mi (valid by construction) and stamps ev. */
static Ledger__Event *member_event(gen *g, int mi, const mev *e, Ledger__Event *ev, int action)
{
	gmem *m = &g->mem[mi];
	mstate ns;
	GROW(m->ev, m->nev, m->cap);
	m->ev[m->nev] = *e;
	m->ev[m->nev].seq = g->next_seq;
	m->ev[m->nev].at = g->clock; /* stamp's */
	m->nev++;
	if (!fold(g, m, -1, NULL, &ns))
		fail_msg("generator: event type %d of member %d does not fold", e->type, mi);
	set_state(g, m, &ns);
	return stamp(g, ev, action);
}

static int pick_member(gen *g, int status)
{
	for (int k = 0; g->nmem && k < 40; k++) {
		int i = rn(g, g->nmem);
		if (g->mem[i].st.status == status)
			return i;
	}
	return -1;
}

static int pick_existing(gen *g)
{
	int mi = pick_member(g, ST_ACTIVE);
	return mi >= 0 ? mi : pick_member(g, ST_ENDED);
}

static uint32_t month(gen *g, int lo, int span)
{
	int m = lo + rn(g, span); /* months since 2023-01 */
	return (uint32_t)(202300 + (m / 12) * 100 + m % 12 + 1);
}

static void random_join(gen *g, mev *e)
{
	e->type = E_JOIN;
	e->org = member_org(g);
	e->group = (uint8_t)(1 + rn(g, 11));
	e->channel = (uint8_t)(1 + rn(g, 5));
	e->path = (uint8_t)(1 + rn(g, 3));
	e->employment = (uint8_t)(1 + rn(g, 4));
	e->real_name = rn(g, 10) < 8;
}

static Ledger__Event *act_join(gen *g, int mi, int action)
{
	mev e = {0};
	random_join(g, &e);
	return member_event(g, mi, &e, body_of(g, mi, &e), action);
}

static Ledger__Event *act_new_member(gen *g)
{
	GROW(g->mem, g->nmem, g->cmem);
	memset(&g->mem[g->nmem], 0, sizeof(gmem));
	return act_join(g, g->nmem++, A_JOIN);
}

static Ledger__Event *act_rejoin(gen *g)
{
	/* An ended member, or one whose only join was voided. */
	int mi = pick_member(g, ST_ENDED);
	if (mi < 0)
		mi = pick_member(g, ST_NONE);
	return mi < 0 ? NULL : act_join(g, mi, A_REJOIN);
}

static Ledger__Event *transfer_out(gen *g, int mi)
{
	mev e = {.type = E_XFER, .org = g->mem[mi].st.org, .kind = (uint8_t)(1 + rn(g, 8))};
	do
		e.org2 = member_org(g);
	while (e.org2 == e.org);
	g->live_transfers++;
	return member_event(g, mi, &e, body_of(g, mi, &e), A_XFER);
}

/* The acceptance of member mi's pending release; a release into an
 * organisation dissolved since is withdrawn (voided) instead. */
static Ledger__Event *accept_pending(gen *g, int mi)
{
	gmem *m = &g->mem[mi];
	int ri = m->st.pending - 1;
	mev *rel = &m->ev[ri];
	if (g->org[rel->org2].dissolved) {
		mstate ns;
		if (!fold(g, m, ri, NULL, &ns))
			fail_msg("generator: the withdrawal of member %d's release does not fold", mi);
		rel->voided = 1;
		g->live_transfers--;
		set_state(g, m, &ns);
		return stamp(g, tl_void(rel->seq), A_VOID);
	}
	mev e = {.type = E_ACC, .ref = ri, .org = rel->org, .org2 = rel->org2, .kind = rel->kind};
	return member_event(g, mi, &e, body_of(g, mi, &e), A_ACC);
}

static Ledger__Event *act_transfer(gen *g)
{
	int mi = pick_member(g, ST_ACTIVE);
	if (mi >= 0 && g->mem[mi].st.pending)
		return accept_pending(g, mi);
	return mi < 0 ? NULL : transfer_out(g, mi);
}

/* A transfer in two steps: a release now, its acceptance later (or its
 * withdrawal by a void). */
static Ledger__Event *act_release(gen *g)
{
	int mi = pick_member(g, ST_ACTIVE);
	if (mi < 0)
		return NULL;
	if (g->mem[mi].st.pending)
		return accept_pending(g, mi);
	mev e = {.type = E_REL, .org = g->mem[mi].st.org, .kind = (uint8_t)(1 + rn(g, 8))};
	do
		e.org2 = member_org(g);
	while (e.org2 == e.org);
	g->live_transfers++; /* its pending entry */
	return member_event(g, mi, &e, body_of(g, mi, &e), A_REL);
}

static Ledger__Event *act_end(gen *g)
{
	int mi = pick_member(g, ST_ACTIVE);
	if (mi < 0)
		return NULL;
	if (g->mem[mi].st.pending)
		return accept_pending(g, mi);
	mev e = {.type = E_END, .kind = (uint8_t)(1 + rn(g, 6))};
	return member_event(g, mi, &e, body_of(g, mi, &e), A_END);
}

static Ledger__Event *act_affiliate(gen *g)
{
	int mi = pick_member(g, ST_ACTIVE);
	if (mi < 0 || g->mem[mi].st.naff == G_MAX_AFF)
		return NULL;
	mev e = {.type = E_AFF, .kind = (uint8_t)(1 + rn(g, 2))};
	e.org = member_org(g);
	if (e.org == g->mem[mi].st.org || has_aff(&g->mem[mi].st, e.org))
		return NULL;
	return member_event(g, mi, &e, body_of(g, mi, &e), A_AFF);
}

static Ledger__Event *disaffiliate(gen *g, int mi, int org)
{
	mev e = {.type = E_DISAFF, .org = org};
	return member_event(g, mi, &e, body_of(g, mi, &e), A_DISAFF);
}

static Ledger__Event *act_disaffiliate(gen *g)
{
	for (int k = 0; k < 10; k++) {
		int mi = pick_member(g, ST_ACTIVE);
		if (mi >= 0 && g->mem[mi].st.naff)
			return disaffiliate(g, mi, g->mem[mi].st.aff[rn(g, g->mem[mi].st.naff)]);
	}
	return NULL;
}

static Ledger__Event *act_profile(gen *g)
{
	int mi = pick_existing(g);
	if (mi < 0)
		return NULL;
	char id[16];
	member_id(id, sizeof(id), mi);
	Ledger__Event *ev = tl_profile(id);
	Ledger__ProfileChanged *p = ev->profile_changed;
	int what = 1 + rn(g, 31); /* a non-empty subset of five fields */
	if (what & 1) {
		p->has_worker_group = 1;
		p->worker_group = (Ledger__WorkerGroup)(1 + rn(g, 11));
	}
	if (what & 2) {
		p->has_real_name = 1;
		p->real_name = rn(g, 2);
	}
	if (what & 4) {
		p->has_employment = 1;
		p->employment = (Ledger__EmploymentRelation)(1 + rn(g, 4));
	}
	if (what & 8) {
		p->has_region = 1;
		p->region = g->org[rn(g, g->norg)].region;
	}
	if (what & 16)
		p->platform = tl_strdup(rn(g, 2) ? "Meituan" : "Ele.me");
	mev e = {.type = E_PROF};
	return member_event(g, mi, &e, ev, A_PROF);
}

static Ledger__Event *act_paid(gen *g)
{
	int mi = pick_existing(g);
	if (mi < 0)
		return NULL;
	mev e = {.type = E_PAID, .fen = 100 + rn(g, 5000)};
	e.pfrom = month(g, 0, 36);
	e.pto = e.pfrom + (uint32_t)rn(g, 3); /* at most until March of its year */
	if (e.pto % 100 > 12)
		e.pto = e.pfrom;
	return member_event(g, mi, &e, body_of(g, mi, &e), A_PAID);
}

static Ledger__Event *act_waive(gen *g)
{
	int mi = pick_existing(g);
	if (mi < 0)
		return NULL;
	mev e = {.type = E_WAIVE};
	e.pfrom = month(g, 0, 48);
	e.pto = e.pfrom;
	return member_event(g, mi, &e, body_of(g, mi, &e), A_WAIVE);
}

static Ledger__Event *act_refund(gen *g)
{
	int mi = pick_existing(g);
	if (mi < 0)
		return NULL;
	gmem *m = &g->mem[mi];
	for (int k = 0; k < 6 && m->nev; k++) {
		int i = rn(g, m->nev);
		mev *p = &m->ev[i];
		if (p->type != E_PAID || p->voided || p->fen - p->refunded <= 0)
			continue;
		mev e = {.type = E_REFUND, .ref = i};
		e.fen = 1 + rn(g, (int)(p->fen - p->refunded));
		p->refunded += e.fen;
		return member_event(g, mi, &e, body_of(g, mi, &e), A_REFUND);
	}
	return NULL;
}

static Ledger__Event *act_service(gen *g)
{
	int mi = pick_existing(g);
	if (mi < 0)
		return NULL;
	char id[16];
	member_id(id, sizeof(id), mi);
	Ledger__Event *ev = tl_service(g->org[live_org(g)].id, id,
				       (Ledger__ServiceKind)(1 + rn(g, 12)));
	mev e = {.type = E_SVC};
	return member_event(g, mi, &e, ev, A_SVC);
}

static Ledger__Event *act_estimate(gen *g)
{
	GROW(g->wf, g->nwf, g->cwf);
	gfix *w = &g->wf[g->nwf++];
	w->seq = g->next_seq;
	w->region = g->org[rn(g, g->norg)].region;
	w->voided = 0;
	return stamp(g,
		     tl_workforce(w->region, (Ledger__WorkerGroup)(1 + rn(g, 11)),
				  (uint64_t)(10 + rn(g, 100000))),
		     A_WF);
}

static Ledger__Event *act_rename(gen *g)
{
	int oi = live_org(g);
	char name[LD_ID_MAX + 32];
	snprintf(name, sizeof(name), "%s (%llu)", g->org[oi].id, (unsigned long long)g->next_seq);
	GROW(g->upd, g->nupd, g->cupd);
	g->upd[g->nupd].seq = g->next_seq;
	g->upd[g->nupd].voided = 0;
	g->nupd++;
	return stamp(g, tl_org_renamed(g->org[oi].id, name), A_RENAME);
}

/* A new grassroots organisation under a county, an industry union or a
 * regional union made earlier. */
static Ledger__Event *act_new_org(gen *g)
{
	int parent = live_org(g), kind;
	const gorg *p = &g->org[parent];
	if (p->kind == LEDGER__ORG_KIND__FEDERATION_COUNTY)
		kind = LEDGER__ORG_KIND__REGIONAL_UNION;
	else if (p->kind == LEDGER__ORG_KIND__INDUSTRY_UNION ||
		 p->kind == LEDGER__ORG_KIND__REGIONAL_UNION)
		kind = LEDGER__ORG_KIND__ENTERPRISE_UNION;
	else
		return NULL;
	char id[LD_ID_MAX + 1];
	snprintf(id, sizeof(id), "T%llu", (unsigned long long)g->next_seq);
	return org_event(g, add_org(g, id, kind, parent, p->region, 1), A_ORG);
}

/* Dissolves an organisation made during the run, or first moves one of
 * its members (or affiliations) elsewhere. */
static Ledger__Event *act_dissolve(gen *g)
{
	/* Of a few organisations made during the run, the emptiest. */
	int oi = -1;
	for (int k = 0; k < 12; k++) {
		int i = rn(g, g->norg);
		const gorg *c = &g->org[i];
		if (c->temp && !c->dissolved && !c->children &&
		    (oi < 0 || c->members + c->affiliated <
				       g->org[oi].members + g->org[oi].affiliated))
			oi = i;
	}
	if (oi < 0)
		return NULL;
	gorg *o = &g->org[oi];
	if (o->members || o->affiliated) {
		for (int mi = 0; mi < g->nmem; mi++) {
			const mstate *s = &g->mem[mi].st;
			if (s->status != ST_ACTIVE)
				continue;
			if (s->org == oi)
				return s->pending ? accept_pending(g, mi) : transfer_out(g, mi);
			if (has_aff(s, oi))
				return disaffiliate(g, mi, oi);
		}
		fail_msg("generator: %s counts %ld members, %ld affiliated, none found", o->id,
			 o->members, o->affiliated);
	}
	o->dissolved = 1;
	g->org[o->parent].children--;
	return stamp(g, tl_dissolve(o->id), A_DISSOLVE);
}

static Ledger__Event *act_void(gen *g)
{
	if (!g->nmem)
		return NULL;
	int mi = rn(g, g->nmem);
	gmem *m = &g->mem[mi];
	for (int k = 0; k < 6; k++) {
		int i = rn(g, m->nev);
		mev *e = &m->ev[i];
		mstate ns;
		if (e->voided || (e->type == E_PAID && e->refunded))
			continue; /* voided already; refunds must be voided first */
		if (!fold(g, m, i, NULL, &ns))
			continue;
		e->voided = 1;
		if (e->type == E_REFUND)
			m->ev[e->ref].refunded -= e->fen;
		if (e->type == E_XFER || e->type == E_REL)
			g->live_transfers--; /* an acceptance's void: the release waits again */
		set_state(g, m, &ns);
		return stamp(g, tl_void(e->seq), A_VOID);
	}
	return NULL;
}

static Ledger__Event *act_amend(gen *g)
{
	if (!g->nmem)
		return NULL;
	int mi = rn(g, g->nmem);
	gmem *m = &g->mem[mi];
	for (int k = 0; k < 6; k++) {
		int i = rn(g, m->nev);
		mev *e = &m->ev[i], r = *e;
		mstate ns;
		if (e->voided)
			continue;
		switch (e->type) {
		case E_JOIN:
			random_join(g, &r);
			break;
		case E_AFF:
			r.org = member_org(g);
			r.kind = (uint8_t)(1 + rn(g, 2));
			break;
		case E_XFER:
			r.org2 = member_org(g);
			r.kind = (uint8_t)(1 + rn(g, 8));
			if (r.org2 == r.org)
				continue;
			break;
		case E_END:
			r.kind = (uint8_t)(1 + rn(g, 6));
			break;
		case E_PAID:
			r.fen = (e->refunded > 100 ? e->refunded : 100) + rn(g, 3000);
			r.pfrom = r.pto = month(g, 0, 48);
			break;
		case E_WAIVE:
			r.pfrom = r.pto = month(g, 0, 48);
			break;
		default:
			continue; /* disaffiliations, profiles, refunds, services */
		}
		if (!fold(g, m, i, &r, &ns))
			continue;
		Ledger__Event *ev = tl_amend(e->seq, body_of(g, mi, &r));
		if (rn(g, 4) == 0) {
			ev->event_amended->has_corrected_occurred_at = 1;
			/* Earlier, by less than the day the write model allows
			 * before what an event follows (core/model.c,
			 * DATED_GRACE_S): every event of the member stays
			 * within a day of its order, whichever moved. */
			ev->event_amended->corrected_occurred_at = e->at - rn(g, 20) * HOUR_US;
		}
		*e = r;
		e->amended = 1;
		set_state(g, m, &ns);
		return stamp(g, ev, A_AMEND);
	}
	return NULL;
}

static Ledger__Event *act_fix_estimate(gen *g)
{
	if (!g->nwf)
		return NULL;
	gfix *w = &g->wf[rn(g, g->nwf)];
	if (w->voided)
		return NULL;
	if (rn(g, 2)) {
		w->voided = 1;
		return stamp(g, tl_void(w->seq), A_WFFIX);
	}
	return stamp(g,
		     tl_amend(w->seq, tl_workforce(w->region, (Ledger__WorkerGroup)(1 + rn(g, 11)),
						   (uint64_t)(10 + rn(g, 100000)))),
		     A_WFFIX);
}

static Ledger__Event *act_void_rename(gen *g)
{
	if (!g->nupd)
		return NULL;
	gfix *u = &g->upd[rn(g, g->nupd)];
	if (u->voided)
		return NULL;
	u->voided = 1;
	return stamp(g, tl_void(u->seq), A_UPDVOID);
}

/* The next event (seq g->next_seq). */
static Ledger__Event *gen_next(gen *g)
{
	if (g->emitted_tree < g->ntree)
		return org_event(g, g->emitted_tree++, A_TREE);
	for (int tries = 0; tries < 4; tries++) {
		int r = rn(g, 1000);
		Ledger__Event *ev = r < 230   ? act_new_member(g)
				    : r < 280 ? act_rejoin(g)
				    : r < 370 ? act_transfer(g)
				    : r < 400 ? act_release(g)
				    : r < 450 ? act_end(g)
				    : r < 510 ? act_affiliate(g)
				    : r < 540 ? act_disaffiliate(g)
				    : r < 580 ? act_profile(g)
				    : r < 690 ? act_paid(g)
				    : r < 720 ? act_waive(g)
				    : r < 750 ? act_refund(g)
				    : r < 770 ? act_service(g)
				    : r < 780 ? act_estimate(g)
				    : r < 785 ? act_rename(g)
				    : r < 795 ? act_new_org(g)
				    : r < 810 ? act_dissolve(g)
				    : r < 890 ? act_void(g)
				    : r < 960 ? act_amend(g)
				    : r < 975 ? act_fix_estimate(g)
				    : r < 985 ? act_void_rename(g)
					      : act_transfer(g);
		if (ev)
			return ev;
	}
	return act_new_member(g);
}

static void gen_report(const gen *g)
{
	printf("# generated %llu events:", (unsigned long long)(g->next_seq - 1));
	for (int a = 0; a < A__COUNT; a++)
		printf("%s %lu %s", a ? "," : "", g->n[a], action_names[a]);
	long active = 0;
	for (int i = 0; i < g->nmem; i++)
		active += g->mem[i].st.status == ST_ACTIVE;
	printf("; %d members (%ld active), %d organisations\n", g->nmem, active, g->norg);
	fflush(stdout);
}

#define BATCH 1000

/* Appends generated events until the log holds `upto`, in batches, each
 * accepted whole with the seqs the generator expects. */
static void gen_append(gen *g, tl_ledger *l, uint64_t upto, runner *r)
{
	static Ledger__Event *evs[BATCH];
	static append_item items[BATCH];
	static uint64_t want[BATCH];
	for (unsigned batch = 0; g->next_seq <= upto; batch++) {
		size_t n = 0;
		while (n < BATCH && g->next_seq <= upto) {
			want[n] = g->next_seq;
			evs[n++] = gen_next(g);
		}
		assert_int_equal(tl_append_batch(l, evs, n, 0, items), 0);
		for (size_t i = 0; i < n; i++) {
			if (items[i].code)
				fail_msg("generated event seq %llu (%s) rejected: %s: %s",
					 (unsigned long long)want[i],
					 codec_event_type_name(evs[i]->body_case),
					 ld_errname(items[i].code),
					 items[i].err ? items[i].err->message : "");
			if (items[i].seq != want[i] || items[i].duplicate)
				fail_msg("generated event %llu recorded as seq %llu%s",
					 (unsigned long long)want[i], (unsigned long long)items[i].seq,
					 items[i].duplicate ? " (duplicate)" : "");
			free(items[i].err);
		}
		tl_free_all();
		/* Now and then let the projections catch up, so that they
		 * see chunks of every size. */
		if (r && batch % 7 == 3)
			caught_up(r, l, 60);
	}
}

/* ================================================================== */
/* 4. Incremental application equals a rebuild                         */
/* ================================================================== */

static void print_dump(const char *what, const tl_dump *d)
{
	printf("# %-12s %zu entries, sha256 ", what, d->total);
	for (int i = 0; i < 32; i++)
		printf("%02x", d->sha[i]);
	printf(" (");
	for (unsigned db = 0; db < d->ndbs; db++)
		printf("%s%s %zu", db ? ", " : "", tl_pdb_names[db], d->counts[db]);
	printf(")\n");
	fflush(stdout);
}

/* Dumps the projection environment in dir (no runner may have it open). */
static void dump_projections(const char *dir, tl_dump *d)
{
	store *s = tl_proj_open(dir);
	tl_dump_store(s, tl_pdb_names, tl_pdb_count, d);
	store_close(s);
}

static void expect_same_dump(const tl_dump *a, const char *an, const tl_dump *b, const char *bn)
{
	print_dump(an, a);
	print_dump(bn, b);
	if (a->len == b->len && a->total == b->total && memcmp(a->sha, b->sha, 32) == 0 &&
	    memcmp(a->text, b->text, a->len) == 0)
		return;
	/* The first line that differs, and both dumps kept for a look. */
	size_t i = 0, line = 1;
	while (i < a->len && i < b->len && a->text[i] == b->text[i])
		if (a->text[i++] == '\n')
			line++;
	while (i > 0 && a->text[i - 1] != '\n')
		i--;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char pa[600], pb[600];
	snprintf(pa, sizeof(pa), "%s/dump-%s.txt", tmp, an);
	snprintf(pb, sizeof(pb), "%s/dump-%s.txt", tmp, bn);
	FILE *fa = fopen(pa, "w"), *fb = fopen(pb, "w");
	if (fa) {
		fwrite(a->text, 1, a->len, fa);
		fclose(fa);
	}
	if (fb) {
		fwrite(b->text, 1, b->len, fb);
		fclose(fb);
	}
	fail_msg("projection dumps differ from line %zu:\n  %s: %.300s\n  %s: %.300s\n(kept in %s, %s)",
		 line, an, i < a->len ? a->text + i : "(end)", bn, i < b->len ? b->text + i : "(end)",
		 pa, pb);
}

/*
 * What the projections say agrees with the generator's own count of each
 * organisation's active members and affiliations, with the units, with
 * every member's status, organisation and affiliations, and with the live
 * transfers. (Incremental == rebuild could hold with both wrong.)
 */
static void expect_generator_figures(store *ps, const gen *g)
{
	store_txn *t;
	ld_arena a = LD_ARENA_INIT;
	long *members = calloc((size_t)g->norg, sizeof(long));
	long *affiliated = calloc((size_t)g->norg, sizeof(long));
	long *units = calloc((size_t)g->norg, sizeof(long));
	long *covered = calloc((size_t)g->norg, sizeof(long));
	for (int i = 0; i < g->norg; i++) {
		const gorg *o = &g->org[i];
		int unit = grassroots_kind(o->kind) && !o->dissolved;
		for (int p = i; p >= 0; p = g->org[p].parent) {
			members[p] += o->members;
			affiliated[p] += o->affiliated;
			units[p] += unit;
			covered[p] += unit && o->members > 0;
		}
	}
	assert_int_equal(store_read_begin(ps, &t), 0);
	for (int i = 0; i < g->norg; i++) {
		Ledger__CoverageReport rep;
		assert_int_equal(members_coverage(KV_READ_TXN(t), g->org[i].id, 0, PERIOD, ld_wall_us(), &rep, &a), 0);
		const Ledger__OrgCoverage *oc = rep.orgs[0];
		if ((long)oc->direct_members != g->org[i].members || (long)oc->members != members[i] ||
		    (long)oc->affiliated != affiliated[i] || (long)oc->units != units[i] ||
		    (long)oc->units_covered != covered[i] || oc->dissolved != g->org[i].dissolved)
			fail_msg("%s: direct %llu members %llu affiliated %llu units %llu covered "
				 "%llu dissolved %d; expected %ld %ld %ld %ld %ld %d",
				 g->org[i].id, (unsigned long long)oc->direct_members,
				 (unsigned long long)oc->members, (unsigned long long)oc->affiliated,
				 (unsigned long long)oc->units, (unsigned long long)oc->units_covered,
				 oc->dissolved, g->org[i].members, members[i], affiliated[i],
				 units[i], covered[i], g->org[i].dissolved);
		ld_arena_free(&a);
	}
	size_t nviews = 0;
	for (int mi = 0; mi < g->nmem; mi++) {
		const mstate *s = &g->mem[mi].st;
		Ledger__MemberView v;
		char id[16];
		member_id(id, sizeof(id), mi);
		int rc = members_get(KV_READ_TXN(t), id, &v, &a);
		if (s->status == ST_NONE) {
			if (rc != LD_E(NOT_FOUND))
				fail_msg("member %s: its join was voided, yet members_get: %s", id,
					 ld_errname(rc));
			continue;
		}
		nviews++;
		if (rc)
			fail_msg("member %s: members_get: %s", id, ld_errname(rc));
		int ok = (int)v.status == s->status && strcmp(v.org_id, g->org[s->org].id) == 0 &&
			 (int)v.n_affiliations == s->naff;
		for (int k = 0; ok && k < s->naff; k++) {
			int found = 0;
			for (size_t j = 0; j < v.n_affiliations; j++)
				found |= strcmp(v.affiliations[j]->org_id, g->org[s->aff[k]].id) == 0;
			ok = found;
		}
		if (!ok)
			fail_msg("member %s: status %d in %s with %zu affiliations; expected %d in "
				 "%s with %d",
				 id, v.status, v.org_id, v.n_affiliations, s->status,
				 g->org[s->org].id, s->naff);
		ld_arena_free(&a);
	}
	assert_int_equal(store_count(t, proj_db(&members_projection, MEMBERS_DB_VIEWS)), nviews);
	assert_int_equal(store_count(t, proj_db(&transfers_projection, TRANSFERS_DB_KEYS)), g->live_transfers);
	store_read_end(t);
	free(members);
	free(affiliated);
	free(units);
	free(covered);
}

#define GEN_EVENTS 100000
#define GEN_SEED 0x5eed2026c0ffee01ULL

/*
 * The projections are not synced: if the machine restarted (another boot
 * id) without a clean stop, they may be torn, and are rebuilt from the log.
 * A clean stop, or the same boot, keeps them. The marks that say so are in
 * the log's meta (synced), never in the projection environment, which a
 * machine crash tears with the rest; an environment nothing records, or one
 * LMDB cannot read, is rebuilt too.
 */
#define MARK_BOOT "projections-boot"
#define MARK_CLEAN "projections-clean"

static void put_meta(const char *dir, const char *key, const char *val)
{
	store *s = tl_proj_open(dir);
	store_txn *t;
	assert_int_equal(store_write_begin(s, &t), 0);
	assert_int_equal(store_put(t, PDB_META, key, strlen(key), val, strlen(val)), 0);
	assert_int_equal(store_commit(t), 0);
	store_close(s);
}

static int has_meta(const char *dir, const char *key)
{
	store *s = tl_proj_open(dir);
	store_txn *t;
	store_val v;
	assert_int_equal(store_read_begin(s, &t), 0);
	int found = store_get(t, PDB_META, key, strlen(key), &v) == 0;
	store_read_end(t);
	store_close(s);
	return found;
}

/* A mark in the log's meta (NULL: deleted); the writer is idle. */
static void put_log_meta(tl_ledger *l, const char *key, const char *val)
{
	store_txn *t;
	assert_int_equal(store_write_begin(l->s, &t), 0);
	if (val)
		assert_int_equal(store_put(t, DB_META, key, strlen(key), val, strlen(val)), 0);
	else
		assert_int_equal(store_del(t, DB_META, key, strlen(key)), 0);
	assert_int_equal(store_commit(t), 0);
}

static void get_log_meta(tl_ledger *l, const char *key, char *out, size_t n)
{
	store_txn *t;
	store_val v;
	out[0] = 0;
	assert_int_equal(store_read_begin(l->s, &t), 0);
	if (store_get(t, DB_META, key, strlen(key), &v) == 0)
		snprintf(out, n, "%.*s", (int)v.len, (const char *)v.data);
	store_read_end(t);
}

static void test_rebuilt_after_machine_restart(void **state)
{
	fx *f = *state;
	char mark[80];
	tree(f);
	OK(f, tl_join("M1", "NJ-RIDER", 1));
	sync_fx(f);
	setenv("LEDGERD_TEST_BOOT_ID", "boot-a", 1);

	/* Running: marked not clean, under this boot, in the log. */
	runner_down(f->r, &f->l);
	f->r = runner_up(f->pdir, &f->l);
	get_log_meta(&f->l, MARK_BOOT, mark, sizeof(mark));
	assert_string_equal(mark, "boot-a");
	get_log_meta(&f->l, MARK_CLEAN, mark, sizeof(mark));
	assert_string_equal(mark, "0");
	/* Stopped cleanly: marked so. */
	runner_down(f->r, &f->l);
	get_log_meta(&f->l, MARK_CLEAN, mark, sizeof(mark));
	assert_string_equal(mark, "1");

	/* Same boot, not clean (a killed process): kept. */
	put_meta(f->pdir, "marker", "kept");
	put_log_meta(&f->l, MARK_CLEAN, "0");
	f->r = runner_up(f->pdir, &f->l);
	sync_fx(f);
	runner_down(f->r, &f->l);
	assert_true(has_meta(f->pdir, "marker"));

	/* Another boot after a clean stop: kept. */
	setenv("LEDGERD_TEST_BOOT_ID", "boot-b", 1);
	f->r = runner_up(f->pdir, &f->l);
	sync_fx(f);
	runner_down(f->r, &f->l);
	assert_true(has_meta(f->pdir, "marker"));

	/* Another boot without a clean stop: rebuilt, and right again —
	 * whatever the projection environment itself says (what an earlier
	 * version kept there is ignored). */
	put_log_meta(&f->l, MARK_CLEAN, "0");
	put_meta(f->pdir, "boot", "boot-c");
	put_meta(f->pdir, "clean", "1");
	setenv("LEDGERD_TEST_BOOT_ID", "boot-c", 1);
	f->r = runner_up(f->pdir, &f->l);
	sync_fx(f);
	assert_non_null(member(f, "M1"));
	runner_down(f->r, &f->l);
	assert_false(has_meta(f->pdir, "marker"));

	/* An environment the log has no marks for: rebuilt. */
	put_meta(f->pdir, "marker", "kept");
	put_log_meta(&f->l, MARK_BOOT, NULL);
	put_log_meta(&f->l, MARK_CLEAN, NULL);
	f->r = runner_up(f->pdir, &f->l);
	sync_fx(f);
	assert_non_null(member(f, "M1"));
	runner_down(f->r, &f->l);
	assert_false(has_meta(f->pdir, "marker"));

	/* Marked clean, but LMDB cannot read it: rebuilt. */
	char path[700];
	snprintf(path, sizeof(path), "%s/data.mdb", f->pdir);
	FILE *fp = fopen(path, "r+");
	assert_non_null(fp);
	for (int i = 0; i < 3 * 4096; i++)
		fputc(i * 131 % 251, fp);
	fclose(fp);
	f->r = runner_up(f->pdir, &f->l);
	sync_fx(f);
	assert_non_null(member(f, "M1"));
	unsetenv("LEDGERD_TEST_BOOT_ID");
}

/*
 * A projection that meets an event it cannot apply stops there, naming the
 * seq, and keeps what it applied before it; the log and the other
 * projections go on; a query waiting for that seq hears why.
 */
static void wait_result(void *arg, int ok, const kv_read *rd, uint64_t as_of)
{
	(void)rd;
	(void)as_of;
	*(volatile int *)arg = ok;
}

static void test_projection_stops_alone(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("M1", "NJ-RIDER", 1));
	sync_fx(f);

	/* Take NJ-RIDER out of the members projection behind its back. */
	runner_down(f->r, &f->l);
	store *ps = tl_proj_open(f->pdir);
	store_txn *t;
	assert_int_equal(store_write_begin(ps, &t), 0);
	assert_int_equal(store_del(t, proj_db(&members_projection, MEMBERS_DB_ORGS), "NJ-RIDER", 8), 0);
	assert_int_equal(store_commit(t), 0);
	store_close(ps);
	f->r = runner_up(f->pdir, &f->l);
	sync_fx(f);

	/* An event that does not touch NJ-RIDER applies; the next one that
	 * does (a payment moves M1's dues month in NJ-RIDER's figures) cannot. */
	uint64_t before = OK(f, tl_org("EARLY", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320200));
	uint64_t bad = OK(f, tl_dues("M1", 100));
	uint64_t after = OK(f, tl_org("LATE", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320300));
	assert_true(before < bad && bad < after);

	/* Wait (bounded) until the runner has been at it. */
	Ledger__ProjectionStatus st;
	const Ledger__ProjectionInfo *members = NULL, *transfers = NULL;
	for (int i = 0; i < 5000; i++) {
		assert_int_equal(runner_status(f->r, &st), 0);
		members = transfers = NULL;
		for (size_t k = 0; k < st.n_projections; k++) {
			if (strcmp(st.projections[k]->name, "members") == 0)
				members = st.projections[k];
			if (strcmp(st.projections[k]->name, "transfers") == 0)
				transfers = st.projections[k];
		}
		assert_non_null(members);
		assert_non_null(transfers);
		if (members->stopped && transfers->checkpoint == after)
			break;
		runner_status_free(&st);
		st.n_projections = 0;
		st.projections = NULL;
		sleep_ms(1);
	}
	assert_true(members->stopped);
	assert_int_equal(members->checkpoint, bad - 1); /* kept everything before */
	char want[32];
	snprintf(want, sizeof(want), "seq %llu", (unsigned long long)bad);
	assert_non_null(strstr(members->error, want));
	assert_non_null(strstr(members->error, "dues_paid")); /* what it could not apply */
	assert_false(transfers->stopped);
	assert_int_equal(transfers->checkpoint, after);
	runner_status_free(&st);

	/* A query waiting for a later seq is told the projection stopped. */
	volatile int ok = 99;
	int rc = runner_wait(f->r, after, 1000, 1, wait_result, (void *)&ok);
	assert_int_equal(rc, -1);

	/* The log goes on. */
	OK(f, tl_dues("M1", 100));
	runner_down(f->r, &f->l);
	f->r = NULL;
}

/*
 * The same, far behind: the runner catches up in parallel (a thread per
 * projection) when it is PROJ_PARALLEL_MIN events or more behind. The
 * projection that cannot apply an event stops there, keeping everything
 * before it, though the other projections and the batches decoded ahead
 * have gone past it.
 */
#define FAR (PROJ_PARALLEL_MIN + 2000)

static void append_orgs(fx *f, const char *prefix, int n)
{
	Ledger__Event *evs[500];
	append_item items[500];
	for (int done = 0; done < n;) {
		int k = n - done < 500 ? n - done : 500;
		for (int i = 0; i < k; i++) {
			char id[32];
			snprintf(id, sizeof(id), "%s%d", prefix, done + i);
			evs[i] = tl_org(id, LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320200);
		}
		assert_int_equal(tl_append_batch(&f->l, evs, (size_t)k, 1, items), 0);
		for (int i = 0; i < k; i++) {
			assert_int_equal(items[i].code, 0);
			free(items[i].err);
		}
		tl_free_all();
		done += k;
	}
}

static void test_projection_stops_alone_in_parallel(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("M1", "NJ-RIDER", 1));
	sync_fx(f);

	/* NJ-RIDER taken out of the members projection behind its back, and
	 * the log runs far ahead while the runner is down. */
	runner_down(f->r, &f->l);
	f->r = NULL;
	store *ps = tl_proj_open(f->pdir);
	store_txn *t;
	assert_int_equal(store_write_begin(ps, &t), 0);
	assert_int_equal(store_del(t, proj_db(&members_projection, MEMBERS_DB_ORGS), "NJ-RIDER", 8),
			 0);
	assert_int_equal(store_commit(t), 0);
	store_close(ps);
	append_orgs(f, "EARLY", FAR / 2);
	uint64_t bad = OK(f, tl_dues("M1", 100));
	append_orgs(f, "LATE", FAR / 2);
	uint64_t head;
	writer_head(f->l.w, &head, NULL, NULL);

	f->r = runner_up(f->pdir, &f->l);
	Ledger__ProjectionStatus st;
	const Ledger__ProjectionInfo *members = NULL, *transfers = NULL;
	for (int i = 0; i < 30000; i++) {
		assert_int_equal(runner_status(f->r, &st), 0);
		members = transfers = NULL;
		for (size_t k = 0; k < st.n_projections; k++) {
			if (strcmp(st.projections[k]->name, "members") == 0)
				members = st.projections[k];
			if (strcmp(st.projections[k]->name, "transfers") == 0)
				transfers = st.projections[k];
		}
		if (members->stopped && transfers->checkpoint == head)
			break;
		runner_status_free(&st);
		st.n_projections = 0;
		st.projections = NULL;
		sleep_ms(1);
	}
	assert_true(members->stopped);
	assert_int_equal(members->checkpoint, bad - 1);
	char want[32];
	snprintf(want, sizeof(want), "seq %llu", (unsigned long long)bad);
	assert_non_null(strstr(members->error, want));
	assert_non_null(strstr(members->error, "dues_paid"));
	assert_false(transfers->stopped);
	assert_int_equal(transfers->checkpoint, head);
	runner_status_free(&st);

	/* What it kept is what it had applied: the organisations before the
	 * bad seq, none after. */
	store_txn *rt;
	Ledger__CoverageReport rep;
	assert_int_equal(store_read_begin(runner_store(f->r), &rt), 0);
	int64_t now = ld_wall_us();
	assert_int_equal(members_coverage(KV_READ_TXN(rt), "EARLY0", 0, PERIOD, now, &rep, &f->a), 0);
	assert_int_equal(members_coverage(KV_READ_TXN(rt), "LATE0", 0, PERIOD, now, &rep, &f->a),
			 LD_E(NOT_FOUND));
	store_read_end(rt);
	runner_down(f->r, &f->l);
	f->r = NULL;
}

/*
 * Read-your-writes from the state in memory. A runner whose flushes are an
 * hour and far more events apart than are appended answers a query waiting
 * for the last seq once it has applied it, on its own thread, from its
 * tables: the answer says that seq and nothing was flushed for it. Every
 * answer (coverage of each organisation and of the whole tree, each
 * member, the root's transfers) is byte for byte what the same query reads
 * from LMDB once that state is flushed. A query that is not to run on the
 * runner's thread (a heavy one) gets a flush made for it instead.
 */
#define RYW_EVENTS 6000

typedef struct ryw {
	runner *r;
	const gen *g;
	uint64_t min_seq;
	char *buf; /* every answer, packed, each after its length (or an error) */
	size_t len;
	long answered; /* answers that were not errors */
	int ok, from_memory;
	uint64_t as_of;
	volatile int done;
} ryw;

/* Waits (at most 120 s) until w's query was answered. */
static void ryw_answered(ryw *w, const char *what)
{
	for (double t0 = now_s(); !__atomic_load_n(&w->done, __ATOMIC_ACQUIRE);) {
		if (now_s() - t0 > 120)
			fail_msg("the query waiting %s seq %llu was never answered", what,
				 (unsigned long long)w->min_seq);
		sleep_ms(1);
	}
}

static void ryw_add(ryw *w, const void *p, size_t n)
{
	w->buf = realloc(w->buf, w->len + n + 8);
	memcpy(w->buf + w->len, &n, sizeof(n));
	memcpy(w->buf + w->len + sizeof(n), p, n);
	w->len += n + sizeof(n);
}

/* One query as the server runs it, through its projection's table. */
static void ryw_query(ryw *w, const kv_read *rd, int command, const ProtobufCMessage *args)
{
	const projection_ops *owner;
	const projection_query *pq = projection_query_find(command, &owner);
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	ld_arena a = LD_ARENA_INIT;
	ld_errinfo e = {0};
	proj_query_ctx q = {.rd = rd, .now_us = TL_T0, .a = &a, .e = &e,
			    .state = owner ? runner_state(w->r, owner) : NULL};
	int rc = pq->run(&q, args, &resp);
	if (rc) {
		char err[64];
		ryw_add(w, err, (size_t)snprintf(err, sizeof(err), "error %d", rc));
	} else {
		size_t n = ledger__response__get_packed_size(&resp);
		uint8_t *p = malloc(n ? n : 1);
		ledger__response__pack(&resp, p);
		ryw_add(w, p, n);
		free(p);
		w->answered++;
	}
	if (pq->release)
		pq->release(&resp);
	ld_arena_free(&a);
}

static void ryw_all(ryw *w, const kv_read *rd)
{
	const gen *g = w->g;
	for (int i = 0; i <= g->norg; i++) {
		Ledger__CoverageRequest cr = LEDGER__COVERAGE_REQUEST__INIT;
		cr.org_id = g->org[i < g->norg ? i : 0].id;
		cr.has_depth = i == g->norg;
		cr.depth = 8;
		cr.has_period = cr.has_at = 1;
		cr.period = PERIOD;
		cr.at = TL_T0;
		ryw_query(w, rd, LEDGER__REQUEST__COMMAND_COVERAGE, &cr.base);
	}
	for (int mi = 0; mi < g->nmem; mi++) {
		char id[16];
		Ledger__GetMemberRequest mr = LEDGER__GET_MEMBER_REQUEST__INIT;
		member_id(id, sizeof(id), mi);
		mr.member_id = id;
		ryw_query(w, rd, LEDGER__REQUEST__COMMAND_GET_MEMBER, &mr.base);
	}
	Ledger__TransfersRequest tr = LEDGER__TRANSFERS_REQUEST__INIT;
	tr.org_id = g->org[0].id;
	ryw_query(w, rd, LEDGER__REQUEST__COMMAND_TRANSFERS, &tr.base);
}

/* On the runner's thread: no cmocka here, the test checks what it noted. */
static void ryw_ready(void *arg, int ok, const kv_read *rd, uint64_t as_of)
{
	ryw *w = arg;
	w->ok = ok;
	w->from_memory = rd != NULL;
	w->as_of = as_of;
	if (ok == 1 && rd)
		ryw_all(w, rd);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

static void test_read_your_writes_from_memory(void **state)
{
	fx *f = *state;
	gen g;
	ld_errinfo e = {0};
	runner_down(f->r, &f->l);
	proj_options slow = {.flush_ms = 3600 * 1000, .flush_events = 1ULL << 40};
	if (runner_start(&f->r, f->pdir, f->l.s, f->l.w, &slow, &e) != 0)
		fail_msg("runner_start: %s", e.message);

	gen_init(&g, GEN_SEED ^ 9);
	gen_append(&g, &f->l, RYW_EVENTS, NULL);
	ryw w = {.r = f->r, .g = &g, .min_seq = g.next_seq - 1};
	int rc = runner_wait(f->r, w.min_seq, RUNNER_WAIT_MAX_MS, 1, ryw_ready, &w);
	assert_int_equal(rc, RUNNER_WAITING); /* nothing flushed it */
	ryw_answered(&w, "for");
	assert_int_equal(w.ok, 1);
	assert_true(w.from_memory);
	assert_int_equal(w.as_of, w.min_seq);
	if (runner_checkpoint(f->r) >= w.min_seq)
		fail_msg("answered after a flush (checkpoint %llu), not from memory",
			 (unsigned long long)runner_checkpoint(f->r));
	assert_true(w.answered > g.norg + g.nmem / 2);

	/* A query whose cost has no small bound waits for a flush instead, and
	 * the runner makes one for it, though the next is an hour away: it is
	 * told to read the flushed state (no reader), which has the seq. */
	ryw heavy = {.r = f->r, .g = &g, .min_seq = w.min_seq};
	rc = runner_wait(f->r, heavy.min_seq, RUNNER_WAIT_MAX_MS, 0, ryw_ready, &heavy);
	assert_int_equal(rc, RUNNER_WAITING);
	ryw_answered(&heavy, "for a flush of");
	assert_int_equal(heavy.ok, 1);
	assert_false(heavy.from_memory);
	assert_true(runner_checkpoint(f->r) >= heavy.min_seq);

	/* Flushed (the runner stops), and read again from LMDB. */
	runner_down(f->r, &f->l);
	f->r = runner_up(f->pdir, &f->l);
	caught_up(f->r, &f->l, 60);
	expect_generator_figures(runner_store(f->r), &g);
	ryw flushed = {.r = f->r, .g = &g};
	store_txn *t;
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
	ryw_all(&flushed, KV_READ_TXN(t));
	store_read_end(t);
	assert_int_equal(flushed.answered, w.answered);
	assert_int_equal(flushed.len, w.len);
	assert_memory_equal(flushed.buf, w.buf, w.len);
	free(w.buf);
	free(flushed.buf);
	gen_free(&g);
}

/* A read-your-writes query for a seq of a long catch-up (applied in
 * parallel) is answered from memory once that seq is applied, not when the
 * whole catch-up is done. */
static void test_read_your_writes_mid_catch_up(void **state)
{
	fx *f = *state;
	gen g;
	ld_errinfo e = {0};
	uint64_t from, head;
	runner_down(f->r, &f->l);
	writer_head(f->l.w, &from, NULL, NULL);
	gen_init(&g, GEN_SEED ^ 11);
	gen_append(&g, &f->l, 3 * PROJ_PARALLEL_MIN, NULL);
	writer_head(f->l.w, &head, NULL, NULL);
	proj_options slow = {.flush_ms = 3600 * 1000, .flush_events = 1ULL << 40};
	if (runner_start(&f->r, f->pdir, f->l.s, f->l.w, &slow, &e) != 0)
		fail_msg("runner_start: %s", e.message);
	ryw w = {.r = f->r, .g = &g, .min_seq = from + 1};
	int rc = runner_wait(f->r, w.min_seq, RUNNER_WAIT_MAX_MS, 1, ryw_ready, &w);
	assert_int_equal(rc, RUNNER_WAITING);
	ryw_answered(&w, "for");
	assert_int_equal(w.ok, 1);
	assert_true(w.from_memory);
	/* Under valgrind (tests/run.sh VALGRIND=1), which runs one thread at a
	 * time, the runner may apply the whole catch-up before this thread
	 * asks: only the answer is checked there, not how soon it came. */
	if (w.as_of < w.min_seq || (w.as_of >= head && !getenv("VALGRIND")))
		fail_msg("the query for seq %llu was answered as of seq %llu (head %llu): "
			 "not as soon as its seq was applied",
			 (unsigned long long)w.min_seq, (unsigned long long)w.as_of,
			 (unsigned long long)head);
	free(w.buf);
	gen_free(&g);
}

/* The pause kept after a flush (proj_flush_at: PROJ_FLUSH_CALM times the
 * last write) is for a stream: with nothing committed since that flush was
 * handed out, the events left are flushed at once. A rebuild's last events,
 * too few to be due, waited for their flush up to flush_max_ms (3 s) after
 * the one made in its midst. Here, a catch-up of 8 batches of 4096 events
 * flushed in its midst (bulk_flush_events: after the fifth), each write
 * made to take 300 ms (LEDGERD_TEST_FLUSH_SLEEP_MS), the last three batches
 * too few to be due: they are flushed within 2 s of the last event applied
 * (the flush in flight ends first), not after 8 × 300 ms. */
static void test_catch_up_flush_no_pause(void **state)
{
	fx *f = *state;
	gen g;
	ld_errinfo e = {0};
	uint64_t head;
	runner_down(f->r, &f->l);
	f->r = NULL;
	gen_init(&g, GEN_SEED ^ 12);
	gen_append(&g, &f->l, 8 * 4096, NULL);
	writer_head(f->l.w, &head, NULL, NULL);
	tl_rmrf(f->pdir);
	setenv("LEDGERD_TEST_FLUSH_SLEEP_MS", "300", 1);
	proj_options po = {.memory = (size_t)1 << 30, .flush_events = 1ULL << 40,
			   .bulk_flush_events = 5 * 4096, .flush_max_ms = 3600 * 1000};
	int rc = runner_start(&f->r, f->pdir, f->l.s, f->l.w, &po, &e);
	unsetenv("LEDGERD_TEST_FLUSH_SLEEP_MS");
	if (rc != 0)
		fail_msg("runner_start: %s", e.message);
	ryw w = {.r = f->r, .g = &g, .min_seq = head};
	if (runner_wait(f->r, head, RUNNER_WAIT_MAX_MS, 1, ryw_ready, &w) == RUNNER_WAITING)
		ryw_answered(&w, "for");
	free(w.buf);
	double applied = now_s();
	caught_up(f->r, &f->l, 60);
	double late = now_s() - applied;
	Ledger__ProjectionStatus st;
	assert_int_equal(runner_status(f->r, &st), 0);
	uint64_t flushes = st.n_projections ? st.projections[0]->flushes : 0;
	runner_status_free(&st);
	gen_free(&g);
	printf("# %llu events caught up in %llu flushes, the last %.2f s after the last event was "
	       "applied\n",
	       (unsigned long long)head, (unsigned long long)flushes, late);
	if (flushes != 2)
		fail_msg("%llu flushes, not one in mid catch-up and one at its end",
			 (unsigned long long)flushes);
	/* Valgrind (tests/run.sh VALGRIND=1) makes a write take seconds. */
	if (late > 2.0 && !getenv("VALGRIND"))
		fail_msg("the last flush of a catch-up came %.2f s after its last event", late);
}

static void test_incremental_equals_rebuild(void **state)
{
	fx *f = *state;
	gen g;
	tl_dump inc, reb;
	gen_init(&g, GEN_SEED);

	/* Incremental: the runner applies the events as they are committed,
	 * within a budget far below its state (4 MiB), so that it gives
	 * memory back as it goes (runner_trim.c: in parts, after its turns
	 * and at flushes, and all at once at a flush past the budget; about
	 * ten of each here), every key it drops read back from LMDB when an event
	 * needs it. */
	runner_down(f->r, &f->l);
	ld_errinfo e0 = {0};
	proj_options live = {.memory = (size_t)4 << 20};
	if (runner_start(&f->r, f->pdir, f->l.s, f->l.w, &live, &e0) != 0)
		fail_msg("runner_start: %s", e0.message);
	double t0 = now_s();
	gen_append(&g, &f->l, GEN_EVENTS, f->r);
	double t1 = now_s();
	caught_up(f->r, &f->l, 60);
	double t2 = now_s();
	expect_generator_figures(runner_store(f->r), &g);
	Ledger__ProjectionStatus st;
	assert_int_equal(runner_status(f->r, &st), 0);
	uint64_t trimmed = 0, whole = 0;
	for (size_t i = 0; i < st.n_projections; i++) {
		trimmed += st.projections[i]->trimmed_bytes;
		whole += st.projections[i]->whole_trims;
	}
	runner_status_free(&st);
	printf("# live within 4 MiB: %llu bytes trimmed, %llu whole trims (all projections)\n",
	       (unsigned long long)trimmed, (unsigned long long)whole);
	if (!trimmed || !whole)
		fail_msg("the live run within 4 MiB trimmed %llu bytes, %llu times whole",
			 (unsigned long long)trimmed, (unsigned long long)whole);
	runner_down(f->r, &f->l);
	f->r = NULL;
	gen_report(&g);
	dump_projections(f->pdir, &inc);

	/* Rebuild: a new runner on an empty directory. */
	tl_rmrf(f->pdir);
	double t3 = now_s();
	f->r = runner_up(f->pdir, &f->l);
	caught_up(f->r, &f->l, 60);
	double t4 = now_s();
	expect_generator_figures(runner_store(f->r), &g);
	runner_down(f->r, &f->l);
	f->r = NULL;
	dump_projections(f->pdir, &reb);
	printf("# appended %llu events with the runner in %.1f s (+%.1f s to catch up); rebuilt in "
	       "%.1f s\n",
	       (unsigned long long)(g.next_seq - 1), t1 - t0, t2 - t1, t4 - t3);
	expect_same_dump(&inc, "incremental", &reb, "rebuild");

	/* Again with a memory budget far below the state: flushed and trimmed
	 * all along, every key read back from LMDB many times over; and each
	 * flush sorted on two threads (sort_ahead_keys). */
	tl_dump small;
	runner *r;
	ld_errinfo e = {0};
	proj_options po = {.memory = 256 << 10, .sort_ahead_keys = 1};
	tl_rmrf(f->pdir);
	double t5 = now_s();
	if (runner_start(&r, f->pdir, f->l.s, f->l.w, &po, &e) != 0)
		fail_msg("runner_start: %s", e.message);
	caught_up(r, &f->l, 120);
	printf("# rebuilt within a 256 KiB budget in %.1f s\n", now_s() - t5);
	runner_down(r, &f->l);
	dump_projections(f->pdir, &small);
	expect_same_dump(&small, "small-budget", &reb, "rebuild");
	tl_dump_free(&small);
	tl_dump_free(&inc);
	tl_dump_free(&reb);
	gen_free(&g);

	/* The write model: kept as the writer went (its snapshot), and
	 * rebuilt from the log, the same. */
	tl_shut(&f->l);
	size_t n = tl_expect_model_rebuilds_same(f->l.dir);
	printf("# the write model: %zu lines, the same rebuilt from the log\n", n);
	tl_reopen(&f->l);
}

/* A projection whose files were written under another layout (an older
 * version's: the transfers' pending entries before they kept the
 * release's note) is cleared and rebuilt at start (projection_ops.layout):
 * it then holds what --rebuild makes, not entries of the old form beside
 * new ones. */
static void test_layout_changed_rebuilds(void **state)
{
	fx *f = *state;
	gen g;
	tl_dump reb, after;
	gen_init(&g, GEN_SEED);
	gen_append(&g, &f->l, 20000, f->r);
	caught_up(f->r, &f->l, 60);
	runner_down(f->r, &f->l);
	f->r = NULL;
	dump_projections(f->pdir, &reb);

	/* As an older version left them: no layout noted, and an entry of
	 * its own form. */
	store *s = tl_proj_open(f->pdir);
	store_txn *t;
	const char *lk = "layout/transfers", *stale = "zz-stale-entry";
	assert_int_equal(store_write_begin(s, &t), 0);
	assert_int_equal(store_del(t, PDB_META, lk, strlen(lk)), 0);
	assert_int_equal(store_put(t, proj_db(&transfers_projection, TRANSFERS_DB_ENTRIES), stale,
				   strlen(stale), "old", 3),
			 0);
	assert_int_equal(store_commit(t), 0);
	store_close(s);

	f->r = runner_up(f->pdir, &f->l);
	caught_up(f->r, &f->l, 60);
	runner_down(f->r, &f->l);
	f->r = NULL;
	dump_projections(f->pdir, &after);
	expect_same_dump(&after, "relaid", &reb, "rebuild");
	tl_dump_free(&after);
	tl_dump_free(&reb);
	gen_free(&g);
	f->r = runner_up(f->pdir, &f->l);
}

/* ================================================================== */
/* Two runners in one process                                          */
/* ================================================================== */

#define ROUNDS 20

/* Appends ROUNDS batches of n events (evs: ROUNDS rows of n) to l. */
typedef struct feeder {
	tl_ledger *l;
	Ledger__Event **evs;
	size_t n;
	char failed[400];
} feeder;

static void *feed_rounds(void *arg)
{
	feeder *fd = arg;
	append_item items[64];
	for (int round = 0; round < ROUNDS && !fd->failed[0]; round++) {
		int rc = tl_append_batch(fd->l, fd->evs + (size_t)round * fd->n, fd->n, 1, items);
		for (size_t i = 0; i < fd->n; i++) {
			if (items[i].code && !fd->failed[0])
				snprintf(fd->failed, sizeof(fd->failed), "round %d event %zu: %.256s ",
					 round, i, items[i].err ? items[i].err->message : "");
			free(items[i].err);
		}
		if (rc && !fd->failed[0])
			snprintf(fd->failed, sizeof(fd->failed), "round %d: %s ", round,
				 ld_errname(rc));
	}
	return NULL;
}

/* The cumulative figure of target `id` of plan `plan_id` for the province
 * 320000, from runner r's own progress projection. */
static int64_t plan_figure(runner *r, const char *plan_id, const char *id, ld_arena *a)
{
	const progress *pg = progress_of(r);
	const plan *p = plan_find(progress_plans(pg), plan_id);
	store_txn *t;
	Ledger__ProgressReport rep;
	ld_errinfo e = {0};
	assert_non_null(p);
	assert_int_equal(store_read_begin(runner_store(r), &t), 0);
	if (progress_report(pg, KV_READ_TXN(t), p, 0, 320000, TL_T0, &rep, a, &e))
		fail_msg("report %s: %s", plan_id, e.message);
	store_read_end(t);
	for (size_t i = 0; i < rep.n_rows; i++)
		if (!strcmp(rep.rows[i]->target_id, id) && rep.rows[i]->region == 320000)
			return rep.rows[i]->actual;
	fail_msg("no row %s of %s", id, plan_id);
	return -1;
}

/* Two runners in one process, on two data directories, applying at the same
 * time: each projection of each runner has its own state (the members
 * projection's caches, the progress projection's plans and figures), so
 * each answers for its own ledger. */
static void test_two_runners(void **state)
{
	(void)state;
	tl_ledger la, lb;
	runner *ra = NULL, *rb = NULL;
	ld_arena a = LD_ARENA_INIT;
	ld_errinfo e = {0};
	char pa[600], pb[600], plans_a[1024], plans_b[] = "/tmp/ld-plans-XXXXXX", cmd[2200];
	const char *root = getenv("ROOT");

	/* A counts both shipped plans (Guangdong first, by name); B only
	 * Jiangsu's, which is its plan 0. */
	snprintf(plans_a, sizeof(plans_a), "%s/plans", root ? root : ".");
	assert_non_null(mkdtemp(plans_b));
	snprintf(cmd, sizeof(cmd), "cp %s/jiangsu-2024-2026.yaml %s/", plans_a, plans_b);
	assert_int_equal(system(cmd), 0);
	tl_open(&la, 0);
	tl_open(&lb, 0);
	snprintf(pa, sizeof(pa), "%s/projections", la.dir);
	snprintf(pb, sizeof(pb), "%s/projections", lb.dir);
	proj_options oa = {.plans_dir = plans_a}, ob = {.plans_dir = plans_b};
	if (runner_start(&ra, pa, la.s, la.w, &oa, &e) || runner_start(&rb, pb, lb.s, lb.w, &ob, &e))
		fail_msg("runner_start: %s", e.message);
	for (unsigned i = 0; i < nprojections; i++)
		if (runner_state(ra, projections[i]))
			assert_ptr_not_equal(runner_state(ra, projections[i]),
					     runner_state(rb, projections[i]));
	assert_non_null(runner_state(ra, &members_projection));
	assert_ptr_not_equal(progress_of(ra), progress_of(rb));
	assert_int_equal(progress_plans(progress_of(ra))->n, 2);
	assert_int_equal(progress_plans(progress_of(rb))->n, 1);

	/* A's members join NJ-GL, B's join SZ, each pays dues; the events
	 * are built first, then appended to both ledgers from two threads, so
	 * that both runners apply at the same time. */
	tl_tree(&la);
	tl_tree(&lb);
	static Ledger__Event *ea[ROUNDS][20], *eb[ROUNDS][30];
	for (int round = 0; round < ROUNDS; round++) {
		char id[32];
		for (int i = 0; i < 10; i++) {
			snprintf(id, sizeof(id), "A%d-%d", round, i);
			ea[round][i] = tl_join(id, "NJ-GL", round * 100 + i);
			ea[round][10 + i] = tl_dues_for(id, 1200, 202501, 202512);
		}
		for (int i = 0; i < 15; i++) {
			snprintf(id, sizeof(id), "B%d-%d", round, i);
			eb[round][i] = tl_join(id, "SZ", round * 100 + i);
			eb[round][15 + i] = tl_dues_for(id, 1200, 202501, 202506);
		}
	}
	feeder fa_feed = {.l = &la, .evs = &ea[0][0], .n = 20};
	feeder fb_feed = {.l = &lb, .evs = &eb[0][0], .n = 30};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, feed_rounds, &fb_feed), 0);
	feed_rounds(&fa_feed);
	pthread_join(th, NULL);
	if (fa_feed.failed[0] || fb_feed.failed[0])
		fail_msg("append: %s%s", fa_feed.failed, fb_feed.failed);
	caught_up(ra, &la, 30);
	caught_up(rb, &lb, 30);

	fx fa = {.l = la, .r = ra}, fb = {.l = lb, .r = rb};
	assert_int_equal(org_cov(&fa, "JS", 202506)->members, 10 * ROUNDS);
	assert_int_equal(org_cov(&fb, "JS", 202506)->members, 15 * ROUNDS);
	assert_int_equal(org_cov(&fa, "NJ", 202506)->members, 10 * ROUNDS);
	assert_int_equal(org_cov(&fb, "NJ", 202506)->members, 0);
	assert_int_equal(org_cov(&fa, "SZ", 202506)->members, 0);
	assert_int_equal(org_cov(&fb, "SZ", 202506)->members, 15 * ROUNDS);
	/* Dues months: A's paid through 202512, B's through 202506. */
	assert_int_equal(org_cov(&fa, "JS", 202512)->dues_current, 10 * ROUNDS);
	assert_int_equal(org_cov(&fb, "JS", 202506)->dues_current, 15 * ROUNDS);
	assert_int_equal(org_cov(&fb, "JS", 202507)->dues_current, 0);
	assert_string_equal(member_ok(&fa, "A19-9")->org_id, "NJ-GL");
	assert_string_equal(member_ok(&fb, "B19-14")->org_id, "SZ");
	assert_null(member(&fa, "B0-0"));
	assert_null(member(&fb, "A0-0"));
	assert_int_equal(plan_figure(ra, "jiangsu-2024-2026", "new-members-total", &a),
			 10 * ROUNDS);
	assert_int_equal(plan_figure(rb, "jiangsu-2024-2026", "new-members-total", &a),
			 15 * ROUNDS);
	assert_null(plan_find(progress_plans(progress_of(rb)), "guangdong-2021-2022"));

	runner_down(ra, &la);
	runner_down(rb, &lb);
	tl_close(&la);
	tl_close(&lb);
	ld_arena_free(&fa.a);
	ld_arena_free(&fb.a);
	ld_arena_free(&a);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", plans_b);
	assert_int_equal(system(cmd), 0);
	tl_free_all();
}

/* ================================================================== */
/* 5. kill -9 during catch-up                                          */
/* ================================================================== */

/*
 * The lowest and highest checkpoint of the projections, over the wire (a
 * raw Request: the client library had no helper for it when this was
 * written). 0, the call's error, or LD_E(PROJECTION_STOPPED) with `why`
 * naming the projection.
 */
static int daemon_checkpoints(ldc *c, uint64_t *lowest, uint64_t *highest, char *why, size_t n)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__ProjectionsRequest pr = LEDGER__PROJECTIONS_REQUEST__INIT;
	Ledger__Response *resp = NULL;
	ld_errinfo e = {0};
	req.command_case = LEDGER__REQUEST__COMMAND_PROJECTIONS;
	req.projections = &pr;
	*lowest = *highest = 0;
	int rc = ldc_call(c, &req, &resp, &e);
	if (rc == 0 && resp->result_case == LEDGER__RESPONSE__RESULT_PROJECTIONS &&
	    resp->projections->n_projections > 0) {
		const Ledger__ProjectionStatus *st = resp->projections;
		*lowest = UINT64_MAX;
		why[0] = 0;
		for (size_t i = 0; i < st->n_projections; i++) {
			const Ledger__ProjectionInfo *pi = st->projections[i];
			snprintf(why + strlen(why), n - strlen(why), " %s@%llu%s%s", pi->name,
				 (unsigned long long)pi->checkpoint, pi->stopped ? " STOPPED " : "",
				 pi->stopped && pi->error ? pi->error : "");
			if (pi->stopped)
				rc = LD_E(PROJECTION_STOPPED);
			if (pi->checkpoint < *lowest)
				*lowest = pi->checkpoint;
			if (pi->checkpoint > *highest)
				*highest = pi->checkpoint;
		}
	} else if (rc == 0) {
		rc = LD_E(MALFORMED);
	}
	codec_response_free(resp);
	return rc;
}

/* Waits until the daemon's projections are at `head`, or `above` if head
 * is 0 (then fails if they reach `limit` first). */
static void daemon_wait_projections(const tl_daemon *d, uint64_t head, uint64_t above,
				    uint64_t limit, double timeout_s)
{
	char why[300] = "";
	ldc *c;
	ld_errinfo e = {0};
	int rc = ldc_open(&c, d->url, 5000, &e);
	double t0 = now_s();
	while (rc == 0 || rc == LD_E(UNAVAILABLE)) {
		uint64_t lo, hi;
		rc = daemon_checkpoints(c, &lo, &hi, why, sizeof(why));
		if (rc == LD_E(PROJECTION_STOPPED))
			break;
		if (rc == 0 && head && lo >= head)
			break;
		if (rc == 0 && !head && lo > above) {
			if (lo >= limit)
				fail_msg("ledgerd caught up with %llu before it could be killed "
					 "between two flushes:%s",
					 (unsigned long long)limit, why);
			break;
		}
		if (now_s() - t0 > timeout_s) {
			rc = LD_E(NOT_CAUGHT_UP);
			break;
		}
		sleep_ms(head ? 20 : 1);
	}
	ldc_close(c);
	if (rc)
		fail_msg("ledgerd (log %s/ledgerd.log): projections not at seq %llu after %.0f s: "
			 "%s:%s",
			 d->dir, (unsigned long long)(head ? head : above + 1), timeout_s,
			 ld_errname(rc), why);
}

/* The checkpoints a killed daemon left in dir (its projections). */
static void read_checkpoints(const char *dir, uint64_t *members, uint64_t *transfers)
{
	store *s = tl_proj_open(dir);
	store_txn *t;
	store_val v;
	*members = *transfers = 0;
	assert_int_equal(store_read_begin(s, &t), 0);
	if (store_get(t, PDB_META, "cp/members", 10, &v) == 0 && v.len == 8)
		*members = ld_get_be64(v.data);
	if (store_get(t, PDB_META, "cp/transfers", 12, &v) == 0 && v.len == 8)
		*transfers = ld_get_be64(v.data);
	store_read_end(t);
	store_close(s);
}

/* Appends generated events through the daemon, as a client would. */
static void gen_append_client(gen *g, const tl_daemon *d, uint64_t upto)
{
	static Ledger__Event *evs[BATCH];
	static uint64_t want[BATCH];
	ldc *c;
	ld_errinfo e = {0};
	assert_int_equal(ldc_open(&c, d->url, 60000, &e), 0);
	while (g->next_seq <= upto) {
		size_t n = 0;
		Ledger__Response *resp = NULL;
		while (n < BATCH && g->next_seq <= upto) {
			want[n] = g->next_seq;
			evs[n++] = gen_next(g);
		}
		int rc = ldc_append(c, evs, n, 0, &resp, &e);
		if (rc)
			fail_msg("append through ledgerd: %s: %s", ld_errname(rc), e.message);
		const Ledger__AppendResult *ar = resp->append;
		assert_non_null(ar);
		assert_int_equal(ar->n_results, n);
		for (size_t i = 0; i < n; i++) {
			const Ledger__EventResult *er = ar->results[i];
			if (er->error)
				fail_msg("generated event seq %llu rejected by ledgerd: %s",
					 (unsigned long long)want[i], er->error->message);
			assert_int_equal(er->seq, want[i]);
		}
		codec_response_free(resp);
		tl_free_all();
	}
	ldc_close(c);
}

#define CRASH_EVENTS 100000
#define CRASH_MORE 5000 /* appended over the wire while it catches up */
/* and 3 batches more once it has caught up */

static void test_kill_during_catch_up(void **state)
{
	(void)state;
	tl_daemon d = {0};
	tl_ledger l = {0};
	gen g;
	char data[600], pdir[700], rebuilt[700];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(d.dir, sizeof(d.dir), "%s/crash.XXXXXX", tmp);
	assert_non_null(mkdtemp(d.dir));
	snprintf(data, sizeof(data), "%s/data", d.dir);
	snprintf(pdir, sizeof(pdir), "%s/projections", data);
	snprintf(rebuilt, sizeof(rebuilt), "%s/rebuilt", d.dir);

	/* A log of 100,000 events, written in-process without projections. */
	double t0 = now_s();
	gen_init(&g, GEN_SEED ^ 5);
	tl_open_dir(&l, data, 0);
	gen_append(&g, &l, CRASH_EVENTS, NULL);
	tl_shut(&l);
	printf("# wrote %d events in %.1f s\n", CRASH_EVENTS, now_s() - t0);

	/* ledgerd --rebuild, killed -9 some 100 ms after it answers: before
	 * or in its first flush, most likely (a rebuild flushes once a second
	 * or when half its memory is dirty: 1 MiB here, so that it flushes
	 * many times on the way). */
	const char *const rebuild[] = {"--rebuild", "--projections-memory", "1M", NULL};
	uint64_t cpm, cpt;
	if (tl_daemon_start(&d, rebuild) != 0)
		fail_msg("ledgerd did not start (log %s/ledgerd.log)", d.dir);
	sleep_ms(100);
	assert_int_equal(tl_daemon_stop(&d, SIGKILL), 128 + SIGKILL);
	read_checkpoints(pdir, &cpm, &cpt);
	printf("# --rebuild, kill -9 after 100 ms: checkpoints members %llu, transfers %llu\n",
	       (unsigned long long)cpm, (unsigned long long)cpt);
	assert_int_equal(cpm, cpt); /* one transaction for both */

	/* Again, killed as soon as its status shows the first flush
	 * committed: in the middle of the second. */
	if (tl_daemon_start(&d, rebuild) != 0)
		fail_msg("ledgerd did not start (log %s/ledgerd.log)", d.dir);
	daemon_wait_projections(&d, 0, 0, CRASH_EVENTS, 120);
	assert_int_equal(tl_daemon_stop(&d, SIGKILL), 128 + SIGKILL);
	read_checkpoints(pdir, &cpm, &cpt);
	printf("# --rebuild, kill -9 after the first flush: checkpoints members %llu, transfers "
	       "%llu\n",
	       (unsigned long long)cpm, (unsigned long long)cpt);
	fflush(stdout);
	assert_true(cpm > 0 && cpm < CRASH_EVENTS);
	assert_int_equal(cpm, cpt);

	/* Restarted: it goes on from its checkpoints while a client appends,
	 * and is killed again right after the appends. */
	if (tl_daemon_start(&d, NULL) != 0)
		fail_msg("ledgerd did not restart (log %s/ledgerd.log)", d.dir);
	gen_append_client(&g, &d, CRASH_EVENTS + CRASH_MORE);
	assert_int_equal(tl_daemon_stop(&d, SIGKILL), 128 + SIGKILL);
	read_checkpoints(pdir, &cpm, &cpt);
	printf("# kill -9 after %d more events: checkpoints members %llu, transfers %llu\n",
	       CRASH_MORE, (unsigned long long)cpm, (unsigned long long)cpt);

	/* Restarted, caught up, then applying appends as they come when it
	 * is killed. */
	if (tl_daemon_start(&d, NULL) != 0)
		fail_msg("ledgerd did not restart (log %s/ledgerd.log)", d.dir);
	daemon_wait_projections(&d, g.next_seq - 1, 0, 0, 120);
	gen_append_client(&g, &d, CRASH_EVENTS + CRASH_MORE + 3 * BATCH);
	assert_int_equal(tl_daemon_stop(&d, SIGKILL), 128 + SIGKILL);
	read_checkpoints(pdir, &cpm, &cpt);
	printf("# kill -9 right after %d more: checkpoints members %llu, transfers %llu\n",
	       3 * BATCH, (unsigned long long)cpm, (unsigned long long)cpt);

	/* Restarted once more: caught up, then stopped cleanly. */
	uint64_t head = g.next_seq - 1;
	if (tl_daemon_start(&d, NULL) != 0)
		fail_msg("ledgerd did not restart (log %s/ledgerd.log)", d.dir);
	daemon_wait_projections(&d, head, 0, 0, 120);
	assert_int_equal(tl_daemon_stop(&d, SIGTERM), 0);

	/* A rebuild from the same log, in-process. */
	tl_open_dir(&l, data, 0);
	uint64_t lh;
	writer_head(l.w, &lh, NULL, NULL);
	assert_int_equal(lh, head);
	runner *r = runner_up(rebuilt, &l);
	caught_up(r, &l, 60);
	expect_generator_figures(runner_store(r), &g);
	runner_down(r, &l);
	tl_shut(&l);

	/* The write model after the kills and replays, and rebuilt. */
	tl_expect_model_rebuilds_same(data);

	tl_dump crashed, fresh;
	dump_projections(pdir, &crashed);
	dump_projections(rebuilt, &fresh);
	expect_same_dump(&crashed, "after-kills", &fresh, "rebuild");
	tl_dump_free(&crashed);
	tl_dump_free(&fresh);
	gen_free(&g);
	tl_free_all();
	tl_rmrf(d.dir);
}

/* ================================================================== */
/* A machine crash under the projections                               */
/* ================================================================== */

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open '%s'", path);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	assert_true(size > 0);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc((size_t)size);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	*n = (size_t)size;
	return p;
}

static void spill(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot write '%s'", path);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static int file_has(const char *path, const char *needle)
{
	size_t n;
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	fclose(f);
	char *p = (char *)slurp(path, &n);
	p = realloc(p, n + 1);
	p[n] = 0;
	int found = strstr(p, needle) != NULL;
	free(p);
	return found;
}

#define TORN_FIRST 2000  /* events before the clean stop */
#define TORN_MORE 2000   /* events after it, then kill -9 */
#define TORN_TRIALS 6
#define PAGE 4096

/*
 * A simulated power loss under the projections. Their pages are not
 * synced, so what a crash of the machine leaves of them is any mix of
 * pages as last written and pages as the disk last held them. A daemon is
 * stopped cleanly (its projection file then is what the disk holds),
 * started again, given more events and killed -9; the log file is what it
 * is then (its commits are synced). Each trial puts back, under another
 * boot id, that log and a projection file whose pages the second run
 * changed are each either kept or replaced by their earlier copy (a page
 * past the earlier end by zeros):
 *   trial 0: every changed page but LMDB's two meta pages (new roots over
 *            old pages);
 *   trial 1: the meta pages only (old roots over pages written since);
 *   others:  each changed page with probability 1/2 (a fixed seed).
 * The daemon must start, rebuild them, and hold exactly what `ledgerd
 * --rebuild` builds from the same log; and never call the projections
 * "the log" (as it did when it refused a torn environment as "the log").
 */
static void test_machine_crash_torn_projections(void **state)
{
	(void)state;
	tl_daemon d = {0};
	gen g;
	char data[600], pfile[700], lfile[700], logpath[700], boot[32];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(d.dir, sizeof(d.dir), "%s/torn.XXXXXX", tmp);
	assert_non_null(mkdtemp(d.dir));
	snprintf(data, sizeof(data), "%s/data", d.dir);
	snprintf(pfile, sizeof(pfile), "%s/projections/data.mdb", data);
	snprintf(lfile, sizeof(lfile), "%s/data.mdb", data);
	snprintf(logpath, sizeof(logpath), "%s/ledgerd.log", d.dir);
	char pdir[700];
	snprintf(pdir, sizeof(pdir), "%s/projections", data);

	setenv("LEDGERD_TEST_BOOT_ID", "boot-1", 1);
	gen_init(&g, GEN_SEED ^ 7);
	if (tl_daemon_start(&d, NULL) != 0)
		fail_msg("ledgerd did not start (log %s)", logpath);
	gen_append_client(&g, &d, TORN_FIRST);
	daemon_wait_projections(&d, g.next_seq - 1, 0, 0, 120);
	assert_int_equal(tl_daemon_stop(&d, SIGTERM), 0);
	size_t nearly, nlater, nlog;
	uint8_t *earlier = slurp(pfile, &nearly);

	if (tl_daemon_start(&d, NULL) != 0)
		fail_msg("ledgerd did not restart (log %s)", logpath);
	gen_append_client(&g, &d, TORN_FIRST + TORN_MORE);
	uint64_t head = g.next_seq - 1;
	daemon_wait_projections(&d, head, 0, 0, 120);
	assert_int_equal(tl_daemon_stop(&d, SIGKILL), 128 + SIGKILL);
	uint8_t *later = slurp(pfile, &nlater);
	uint8_t *log_after = slurp(lfile, &nlog);
	size_t changed = 0;
	for (size_t off = 0; off < nlater; off += PAGE)
		changed += off >= nearly ||
			   memcmp(later + off, earlier + off,
				  nlater - off < PAGE ? nlater - off : PAGE) != 0;
	printf("# projections: %zu pages, %zu changed since the clean stop\n", nlater / PAGE,
	       changed);
	assert_true(changed > 2);

	/* What a rebuild from that log holds. */
	const char *const rebuild[] = {"--rebuild", NULL};
	setenv("LEDGERD_TEST_BOOT_ID", "boot-rebuild", 1);
	if (tl_daemon_start(&d, rebuild) != 0)
		fail_msg("ledgerd --rebuild did not start (log %s)", logpath);
	daemon_wait_projections(&d, head, 0, 0, 120);
	assert_int_equal(tl_daemon_stop(&d, SIGTERM), 0);
	tl_dump fresh;
	dump_projections(pdir, &fresh);

	uint64_t rng = 0x70a2c4ULL;
	uint8_t *torn = malloc(nlater);
	assert_non_null(torn);
	for (int trial = 0; trial < TORN_TRIALS; trial++) {
		size_t reverted = 0;
		for (size_t off = 0; off < nlater; off += PAGE) {
			size_t n = nlater - off < PAGE ? nlater - off : PAGE;
			int meta = off < 2 * PAGE, revert;
			memcpy(torn + off, later + off, n);
			if (off < nearly && memcmp(later + off, earlier + off, n) == 0)
				continue;
			rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
			revert = trial == 0 ? !meta : trial == 1 ? meta : (int)(rng >> 63);
			if (!revert)
				continue;
			reverted++;
			if (off < nearly)
				memcpy(torn + off, earlier + off, n);
			else
				memset(torn + off, 0, n);
		}
		spill(lfile, log_after, nlog);
		spill(pfile, torn, nlater);
		unlink(logpath);
		snprintf(boot, sizeof(boot), "boot-%d", trial + 2);
		setenv("LEDGERD_TEST_BOOT_ID", boot, 1);
		if (tl_daemon_start(&d, NULL) != 0)
			fail_msg("trial %d (%zu of %zu changed pages reverted): ledgerd did not start "
				 "(log %s)",
				 trial, reverted, changed, logpath);
		daemon_wait_projections(&d, head, 0, 0, 120);
		assert_int_equal(tl_daemon_stop(&d, SIGTERM), 0);
		if (!file_has(logpath, "the machine restarted since"))
			fail_msg("trial %d: the daemon did not say it rebuilt the projections (log %s)",
				 trial, logpath);
		if (file_has(logpath, "open the log"))
			fail_msg("trial %d: the daemon called the projections the log (log %s)", trial,
				 logpath);
		tl_dump after;
		dump_projections(pdir, &after);
		char name[32];
		snprintf(name, sizeof(name), "torn-%d", trial);
		expect_same_dump(&after, name, &fresh, "rebuild");
		tl_dump_free(&after);
		printf("# trial %d: %zu of %zu changed pages reverted; rebuilt, the same as "
		       "--rebuild\n",
		       trial, reverted, changed);
	}
	unsetenv("LEDGERD_TEST_BOOT_ID");
	tl_dump_free(&fresh);
	free(torn);
	free(earlier);
	free(later);
	free(log_after);
	gen_free(&g);
	tl_free_all();
	tl_rmrf(d.dir);
}

/*
 * A kill -9 during a flush written off the loop thread. `ledgerd
 * --rebuild` with a 1 MiB budget flushes every few batches (when its
 * workers' dirty bytes, reported after their batches, pass half of it:
 * 40,000 events gave two such flushes and the last one, or just two when
 * the second came at the log's end); each
 * flush is written by the flusher thread while the runner applies the next
 * batches, and LEDGERD_TEST_KILL_IN_FLUSH=3 kills the process in the third,
 * its keys and checkpoints written into the transaction, not committed.
 * The checkpoints left are the second flush's, the same for both
 * projections; a restart goes on from them while a client appends, and
 * what it holds at the end is what an in-process rebuild of the same log
 * holds.
 */
#define KF_EVENTS 100000

static void test_kill_during_offthread_flush(void **state)
{
	(void)state;
	tl_daemon d = {0};
	tl_ledger l = {0};
	gen g;
	char data[600], pdir[700], rebuilt[700], logf[700];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(d.dir, sizeof(d.dir), "%s/kflush.XXXXXX", tmp);
	assert_non_null(mkdtemp(d.dir));
	snprintf(data, sizeof(data), "%s/data", d.dir);
	snprintf(pdir, sizeof(pdir), "%s/projections", data);
	snprintf(rebuilt, sizeof(rebuilt), "%s/rebuilt", d.dir);
	snprintf(logf, sizeof(logf), "%s/ledgerd.log", d.dir);

	gen_init(&g, GEN_SEED ^ 11);
	tl_open_dir(&l, data, 0);
	gen_append(&g, &l, KF_EVENTS, NULL);
	tl_shut(&l);

	const char *const rebuild[] = {"--rebuild", "--projections-memory", "1M", NULL};
	setenv("LEDGERD_TEST_KILL_IN_FLUSH", "3", 1);
	if (tl_daemon_start(&d, rebuild) == 0) { /* (or it died before it answered) */
		int st = tl_daemon_wait(&d, 90);
		if (st < 0) {
			tl_daemon_stop(&d, SIGKILL);
			tl_daemon_log_tail(&d, 30);
			fail_msg("ledgerd still ran 90 s after its start, not killed in a third "
				 "flush: its rebuild of %d events made fewer (KF_EVENTS)",
				 KF_EVENTS);
		}
		assert_int_equal(st, 128 + SIGKILL);
	}
	unsetenv("LEDGERD_TEST_KILL_IN_FLUSH");
	if (!file_has(logf, "killed in flush 3")) {
		tl_daemon_log_tail(&d, 30);
		fail_msg("ledgerd was not killed in its third flush");
	}
	uint64_t cpm, cpt;
	read_checkpoints(pdir, &cpm, &cpt);
	printf("# kill -9 in the third off-thread flush: checkpoints members %llu, transfers "
	       "%llu\n",
	       (unsigned long long)cpm, (unsigned long long)cpt);
	assert_int_equal(cpm, cpt);
	assert_true(cpm > 0 && cpm < KF_EVENTS);

	/* Restarted: on from those checkpoints while a client appends. */
	tl_daemon_up(&d, NULL);
	gen_append_client(&g, &d, KF_EVENTS + 3 * BATCH);
	uint64_t head = g.next_seq - 1;
	daemon_wait_projections(&d, head, 0, 0, 120);
	assert_int_equal(tl_daemon_stop(&d, SIGTERM), 0);

	tl_open_dir(&l, data, 0);
	runner *r = runner_up(rebuilt, &l);
	caught_up(r, &l, 60);
	expect_generator_figures(runner_store(r), &g);
	runner_down(r, &l);
	tl_shut(&l);
	tl_dump crashed, fresh;
	dump_projections(pdir, &crashed);
	dump_projections(rebuilt, &fresh);
	expect_same_dump(&crashed, "after-kill", &fresh, "rebuild");
	tl_dump_free(&crashed);
	tl_dump_free(&fresh);
	gen_free(&g);
	tl_free_all();
	tl_rmrf(d.dir);
}

/* When a flush is due (projection.h, proj_flush_at): PROJ_FLUSH_MS after
 * the first unflushed event while flushes are quick; a long write pushes
 * the next one back by PROJ_FLUSH_CALM times its length, up to
 * PROJ_FLUSH_MAX_MS after that first event. */
static void test_flush_at(void **state)
{
	(void)state;
	static const struct {
		uint64_t first, flush_ms, max_ms, ended, took, at;
	} rows[] = {
	    {1000, 50, 1000, 0, 0, 1050},      /* no flush yet */
	    {1000, 50, 1000, 990, 2, 1050},    /* a quick one: 990 + 16 is sooner */
	    {1000, 50, 1000, 990, 10, 1070},   /* 990 + 80 */
	    {1000, 50, 1000, 1000, 60, 1480},  /* 1000 + 480 */
	    {1000, 50, 1000, 1000, 200, 2000}, /* 1000 + 1600, held to first + 1000 */
	    {1000, 5000, 1000, 1000, 200, 6000}, /* a longer flush_ms than the bound wins */
	    {1000, 50, 200, 1000, 60, 1200},     /* a feed of 200 ms bounds it */
	    {1000, 25, 100, 990, 2, 1025},       /* the feed's quarter, quick flushes */
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t at = proj_flush_at(rows[i].first, rows[i].flush_ms, rows[i].max_ms,
					    rows[i].ended, rows[i].took);
		if (at != rows[i].at)
			fail_msg("row %zu: at %llu, want %llu", i, (unsigned long long)at,
				 (unsigned long long)rows[i].at);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_transfer_between_cities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dual_affiliation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_void_join, setup, teardown),
		cmocka_unit_test_setup_teardown(test_amend_join, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejoin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workforce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workforce_in_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workforce_void_after_group_amendment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_workforce_second_group_amendment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_org_dissolved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_version_counts_services, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_long_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transfers_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_refund, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuilt_after_machine_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_projection_stops_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_projection_stops_alone_in_parallel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_incremental_equals_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_your_writes_from_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_your_writes_mid_catch_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catch_up_flush_no_pause, setup, teardown),
		cmocka_unit_test(test_flush_at),
		cmocka_unit_test_setup_teardown(test_layout_changed_rebuilds, setup, teardown),
		cmocka_unit_test(test_two_runners),
		cmocka_unit_test(test_kill_during_catch_up),
		cmocka_unit_test(test_machine_crash_torn_projections),
		cmocka_unit_test(test_kill_during_offthread_flush),
	};
	return tl_run_tests(tests, NULL, NULL);
}
