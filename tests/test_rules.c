/*
 * test_rules.c — the rules of proto/PROTOCOL.md ("Rules the ledger keeps")
 * that only the code stated before, one case each, named after its rule:
 *
 *   test_join_end_transfer_clear_affiliations
 *   test_first_join_counts_for_plans
 *   test_units_and_units_covered
 *   test_amendment_without_corrected_time
 *   test_funds_between_two_organisations
 *   test_transfer_changes_organisation
 *   test_two_step_transfer_moves_at_acceptance
 *   test_corrected_time_not_in_future
 *
 * Each runs on an in-process ledger (check_event and the writer, as the
 * server appends) with the projections' runner and the shipped plans, and
 * checks both what the write model accepts or refuses and what the
 * projections then show.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "check.h"
#include "client.h"
#include "clock.h"
#include "members.h"
#include "plan.h"
#include "progress.h"
#include "projection.h"
#include "testlib.h"
#include "transfers.h"

#define JS_PLAN "jiangsu-2024-2026"
#define PERIOD  202501

typedef struct fx {
	tl_ledger l;
	runner *r;
	char pdir[600];
	char plans[1024];
	ld_arena a; /* query answers, freed at teardown */
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	const char *root = getenv("ROOT");
	ld_errinfo e = {0};
	tl_open(&f->l, 0);
	snprintf(f->pdir, sizeof(f->pdir), "%s/projections", f->l.dir);
	snprintf(f->plans, sizeof(f->plans), "%s/plans", root ? root : ".");
	proj_options o = {.plans_dir = f->plans};
	if (runner_start(&f->r, f->pdir, f->l.s, f->l.w, &o, &e) != 0)
		fail_msg("runner_start (plans %s): %s", f->plans, e.message);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	runner_free(f->r);
	writer_on_commit(f->l.w, NULL, NULL);
	tl_close(&f->l);
	ld_arena_free(&f->a);
	free(f);
	return 0;
}

#define OK(f, ev) TL_OK(&(f)->l, ev)

/* The append is refused with `code` on `field`, and the log does not move. */
#define REFUSED(f, ev, code, field) refused_(f, ev, LD_E(code), field, __LINE__)
static void refused_(fx *f, Ledger__Event *ev, int code, const char *field, int line)
{
	uint64_t before, after, seq = 0;
	ld_errinfo e = {0};
	writer_head(f->l.w, &before, NULL, NULL);
	int rc = tl_append(&f->l, ev, &seq, &e);
	writer_head(f->l.w, &after, NULL, NULL);
	if (rc != code || strcmp(e.field, field) != 0)
		fail_msg("line %d: wanted %s on '%s', got %s on '%s': %s", line, ld_errname(code),
			 field, rc ? ld_errname(rc) : "success", e.field, e.message);
	if (after != before)
		fail_msg("line %d: the refused event moved the head %llu -> %llu", line,
			 (unsigned long long)before, (unsigned long long)after);
}

/* The member's view, or the test fails. */
static Ledger__MemberView *member(fx *f, const char *id)
{
	Ledger__MemberView *v = tl_member(&f->l, f->r, id, &f->a);
	if (!v)
		fail_msg("member '%s' not found", id);
	return v;
}

/* The member's affiliations, "A,B" in their order ("" for none). */
static const char *affs(fx *f, const char *id)
{
	Ledger__MemberView *v = member(f, id);
	char *s = ld_arena_alloc(&f->a, 256);
	s[0] = 0;
	for (size_t i = 0; i < v->n_affiliations; i++)
		snprintf(s + strlen(s), 256 - strlen(s), "%s%s", i ? "," : "",
			 v->affiliations[i]->org_id);
	return s;
}

/* Members, direct members, affiliations, units and units covered. */
#define FIGS(f, org, m, d, af, u, c) TL_FIGS(&(f)->l, (f)->r, &(f)->a, org, PERIOD, m, d, af, u, c)

/* The Jiangsu plan's figure of a target, year (0: the whole plan) and
 * region, judged at the middle of 2026. */
static int64_t figure(fx *f, const char *target, uint32_t year, uint32_t region)
{
	const plan *p = plan_find(progress_plans(progress_of(f->r)), JS_PLAN);
	store_txn *t;
	Ledger__ProgressReport rep;
	ld_errinfo e = {0};
	assert_non_null(p);
	tl_caught_up(&f->l, f->r);
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
	if (progress_report(progress_of(f->r), KV_READ_TXN(t), p, 0, 0, tl_day(2026, 7, 2), &rep, &f->a, &e) != 0)
		fail_msg("report: %s", e.message);
	store_read_end(t);
	for (size_t i = 0; i < rep.n_rows; i++) {
		const Ledger__ProgressRow *r = rep.rows[i];
		if (strcmp(r->target_id, target) == 0 && r->year == year && r->region == region)
			return r->actual;
	}
	fail_msg("no row %s/%u/%u", target, year, region);
	return -1;
}

/* The tree of tl_tree_wide (testlib.h). */
static void tree(fx *f)
{
	tl_tree_wide(&f->l);
}

/* ================================================================== */
/* Affiliations                                                        */
/* ================================================================== */

/* An end clears every affiliation; a transfer into an organisation the
 * member is affiliated with clears that one (it is home now); a join starts
 * with none (an earlier membership's do not come back). The write model and
 * the members projection agree. */
static void test_join_end_transfer_clear_affiliations(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("M1", "NJ-GL-R1", 1));
	OK(f, tl_affiliate("M1", "SZ-RIDER"));
	OK(f, tl_affiliate_platform("M1", "NJ-P1"));
	assert_string_equal(affs(f, "M1"), "SZ-RIDER,NJ-P1");
	/* An organisation with an affiliated member is not dissolved. */
	REFUSED(f, tl_dissolve("NJ-P1"), INVALID_STATE, "org_dissolved.org_id");

	/* Transfer into SZ-RIDER: home now, no longer an affiliation. */
	OK(f, tl_transfer("M1", "NJ-GL-R1", "SZ-RIDER"));
	assert_string_equal(affs(f, "M1"), "NJ-P1");
	FIGS(f, "SZ-RIDER", 1, 1, 0, 1, 1);
	REFUSED(f, tl_disaffiliate("M1", "SZ-RIDER"), INVALID_STATE,
		"member_disaffiliated.org_id");
	REFUSED(f, tl_affiliate("M1", "SZ-RIDER"), INVALID_STATE, "member_affiliated.org_id");
	/* The organisation it left may be an affiliation now. */
	OK(f, tl_affiliate("M1", "NJ-GL-R1"));
	assert_string_equal(affs(f, "M1"), "NJ-P1,NJ-GL-R1");
	FIGS(f, "NJ", 0, 0, 2, 3, 0);

	/* The end clears both. */
	OK(f, tl_end("M1"));
	assert_string_equal(affs(f, "M1"), "");
	FIGS(f, "JS", 0, 0, 0, 4, 0);
	FIGS(f, "NJ-P1", 0, 0, 0, 1, 0);
	REFUSED(f, tl_disaffiliate("M1", "NJ-GL-R1"), INVALID_STATE,
		"member_disaffiliated.org_id");

	/* The join of a new membership starts with none. */
	OK(f, tl_join("M1", "NJ-RIDER", 1));
	assert_string_equal(affs(f, "M1"), "");
	FIGS(f, "NJ", 1, 0, 0, 3, 1);
	REFUSED(f, tl_disaffiliate("M1", "NJ-GL-R1"), INVALID_STATE,
		"member_disaffiliated.org_id");
	/* The write model's count agrees: NJ-P1 has no affiliated member. */
	OK(f, tl_dissolve("NJ-P1"));
}

/* ================================================================== */
/* Plans                                                               */
/* The Jiangsu plan's figure of a target (of the whole plan: a cumulative
 * or yearly_average one) in the region as it stood at the end of day ymd
 * (judged at the middle of 2026, as figure's). */
static int64_t figure_upto(fx *f, const char *target, uint32_t region, uint32_t ymd)
{
	const plan *p = plan_find(progress_plans(progress_of(f->r)), JS_PLAN);
	store_txn *t;
	Ledger__ProgressReport rep;
	ld_errinfo e = {0};
	tl_caught_up(&f->l, f->r);
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
	if (progress_report_day(progress_of(f->r), KV_READ_TXN(t), p, 0, region, ymd,
				tl_day(2026, 7, 2), &rep, &f->a, &e) != 0)
		fail_msg("report: %s", e.message);
	store_read_end(t);
	for (size_t i = 0; i < rep.n_rows; i++)
		if (strcmp(rep.rows[i]->target_id, target) == 0 && rep.rows[i]->year == 0)
			return rep.rows[i]->actual;
	fail_msg("no row %s/%u", target, region);
	return -1;
}

/* What the plan's new members (an average a year: its figure is the whole
 * plan's) added in one year of it (by the middle of 2026 for 2026). */
static int64_t new_members_in(fx *f, uint32_t year)
{
	int64_t upto = year == 2026 ? figure(f, "new-members-yearly", 0, 320000)
				    : figure_upto(f, "new-members-yearly", 320000, year * 10000 + 1231);
	return upto - (year > 2024 ? figure_upto(f, "new-members-yearly", 320000,
						 (year - 1) * 10000 + 1231)
				   : 0);
}

/* ================================================================== */

/* A join is a first join when no earlier join in the member's stream counts
 * (voided ones do not): a rejoin after an end is not a new member, even when
 * the first join was before the plan; a join whose predecessor was voided is
 * first; members are told apart by member_id, and the order is the stream's
 * (recording), while the year is the first join's business time. */
static void test_first_join_counts_for_plans(void **state)
{
	fx *f = *state;
	tl_tree(&f->l);
	/* A: first 2024, ended, rejoined 2025: counts in 2024 only. */
	OK(f, tl_at(tl_join("A", "NJ-RIDER", 1), tl_day(2024, 3, 1)));
	OK(f, tl_at(tl_end("A"), tl_day(2024, 6, 1)));
	OK(f, tl_at(tl_join("A", "NJ-RIDER", 1), tl_day(2025, 2, 1)));
	/* B: first joined before the plan; its rejoin in 2024 is not new. */
	OK(f, tl_at(tl_join("B", "NJ-RIDER", 2), tl_day(2023, 12, 1)));
	OK(f, tl_at(tl_end("B"), tl_day(2024, 2, 1)));
	OK(f, tl_at(tl_join("B", "NJ-RIDER", 2), tl_day(2024, 5, 1)));
	/* C: a join voided, then the real one: that one is first (2025). */
	uint64_t c = OK(f, tl_at(tl_join("C", "NJ-RIDER", 3), tl_day(2025, 1, 5)));
	OK(f, tl_void(c));
	OK(f, tl_at(tl_join("C", "NJ-RIDER", 3), tl_day(2025, 3, 5)));
	/* D: recorded after all the others, happened in 2024: first, in 2024. */
	OK(f, tl_at(tl_join("D", "NJ-RIDER", 4), tl_day(2024, 1, 20)));

	assert_int_equal(new_members_in(f, 2024), 2); /* A, D */
	assert_int_equal(new_members_in(f, 2025), 1); /* C */
	assert_int_equal(figure(f, "new-members-total", 0, 320000), 3);
	assert_int_equal(figure(f, "new-members-total", 0, 320100), 3);

	/* E's first join, voided with nothing after it: no member. */
	uint64_t e = OK(f, tl_at(tl_join("E", "NJ-RIDER", 5), tl_day(2026, 1, 10)));
	assert_int_equal(new_members_in(f, 2026), 1);
	OK(f, tl_void(e));
	assert_int_equal(new_members_in(f, 2026), 0);
	assert_int_equal(figure(f, "new-members-total", 0, 320000), 3);
}

/* ================================================================== */
/* Coverage                                                            */
/* ================================================================== */

/* units: the grassroots organisations (every kind but federations) of the
 * subtree, itself included, that are not dissolved; units_covered: those of
 * them that are the home of at least one active member. An affiliation
 * covers no unit; a unit with many members counts once. */
static void test_units_and_units_covered(void **state)
{
	fx *f = *state;
	tree(f);
	FIGS(f, "JS", 0, 0, 0, 4, 0);
	FIGS(f, "NJ", 0, 0, 0, 3, 0);
	FIGS(f, "NJ-RIDER", 0, 0, 0, 2, 0);
	FIGS(f, "NJ-GL", 0, 0, 0, 1, 0);
	FIGS(f, "SZ-GY", 0, 0, 0, 0, 0); /* a federation is no unit */

	/* Two members in NJ-P1: one unit covered, under NJ-RIDER too (whose
	 * own members are none: it is not covered itself). */
	OK(f, tl_join("M1", "NJ-P1", 1));
	OK(f, tl_join("M2", "NJ-P1", 2));
	FIGS(f, "NJ-RIDER", 2, 0, 0, 2, 1);
	FIGS(f, "JS", 2, 0, 0, 4, 1);

	/* An affiliation covers nothing. */
	OK(f, tl_join("M3", "NJ-GL-R1", 3));
	OK(f, tl_affiliate("M3", "SZ-RIDER"));
	FIGS(f, "SZ-RIDER", 0, 0, 1, 1, 0);
	FIGS(f, "JS", 3, 0, 1, 4, 2);

	/* NJ-P1 stays covered while one of its members is active. */
	OK(f, tl_end("M1"));
	FIGS(f, "NJ-P1", 1, 1, 0, 1, 1);
	OK(f, tl_end("M2"));
	FIGS(f, "NJ-P1", 0, 0, 0, 1, 0);
	FIGS(f, "JS", 1, 0, 1, 4, 1);

	/* A transfer moves the cover. */
	OK(f, tl_transfer("M3", "NJ-GL-R1", "SZ-RIDER"));
	FIGS(f, "SZ-RIDER", 1, 1, 0, 1, 1);
	FIGS(f, "NJ-GL", 0, 0, 0, 1, 0);
	FIGS(f, "JS", 1, 0, 0, 4, 1);

	/* A unit registered counts; dissolved, it no longer does. */
	OK(f, tl_org("NJ-E1", LEDGER__ORG_KIND__ENTERPRISE_UNION, "NJ", 320100));
	FIGS(f, "NJ", 0, 0, 0, 4, 0);
	FIGS(f, "JS", 1, 0, 0, 5, 1);
	OK(f, tl_dissolve("NJ-E1"));
	FIGS(f, "NJ", 0, 0, 0, 3, 0);
	FIGS(f, "JS", 1, 0, 0, 4, 1);
}

/* ================================================================== */
/* Corrections                                                         */
/* ================================================================== */

/* An amendment without corrected_occurred_at puts its body at the time the
 * corrected event was first recorded with — not at the amendment's own
 * occurred_at, nor at a time an earlier amendment corrected: each amendment
 * states the whole corrected event, so one that keeps a corrected time
 * repeats it. */
static void test_amendment_without_corrected_time(void **state)
{
	fx *f = *state;
	tl_tree(&f->l);
	Ledger__Event *j = tl_at(tl_join("M5", "NJ-RIDER", 5), tl_day(2024, 5, 1));
	uint64_t seq = OK(f, j);
	assert_int_equal(new_members_in(f, 2024), 1);

	/* Moved to 2025 by an amendment with a corrected time. */
	Ledger__Event *a = tl_amend(seq, tl_join("M5", "NJ-RIDER", 5));
	a->event_amended->has_corrected_occurred_at = 1;
	a->event_amended->corrected_occurred_at = tl_day(2025, 5, 1);
	OK(f, tl_at(a, tl_day(2026, 2, 1)));
	assert_int_equal(new_members_in(f, 2024), 0);
	assert_int_equal(new_members_in(f, 2025), 1);
	assert_int_equal(member(f, "M5")->first_joined_at, tl_day(2025, 5, 1));

	/* A later amendment without one (real name after all), made in 2026:
	 * the join is back at its original time, 2024. */
	Ledger__Event *fix = tl_join("M5", "NJ-RIDER", 5);
	fix->member_joined->real_name = 1;
	OK(f, tl_at(tl_amend(seq, fix), tl_day(2026, 3, 1)));
	assert_int_equal(new_members_in(f, 2024), 1);
	assert_int_equal(new_members_in(f, 2025), 0);
	assert_int_equal(new_members_in(f, 2026), 0);
	Ledger__MemberView *v = member(f, "M5");
	assert_int_equal(v->first_joined_at, tl_day(2024, 5, 1));
	assert_true(v->real_name);
}

/* ================================================================== */
/* Funds and transfers                                                 */
/* ================================================================== */

/* from_org and to_org of funds are two organisations; an amendment cannot
 * make them one. */
static void test_funds_between_two_organisations(void **state)
{
	fx *f = *state;
	tl_tree(&f->l);
	REFUSED(f, tl_funds("NJ", "NJ", 100000), INVALID_VALUE, "funds_allocated.to_org");
	uint64_t seq = OK(f, tl_funds("JS", "NJ", 100000));
	REFUSED(f, tl_amend(seq, tl_funds("JS", "JS", 100000)), INVALID_VALUE,
		"event_amended.funds_allocated.to_org");
	OK(f, tl_amend(seq, tl_funds("JS", "NJ", 90000)));
}

/* A transfer's to_org differs from its from_org; an amendment cannot make
 * them one. */
static void test_transfer_changes_organisation(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("M1", "NJ-RIDER", 1));
	REFUSED(f, tl_transfer("M1", "NJ-RIDER", "NJ-RIDER"), INVALID_VALUE,
		"member_transferred.to_org");
	uint64_t seq = OK(f, tl_transfer("M1", "NJ-RIDER", "SZ-RIDER"));
	REFUSED(f, tl_amend(seq, tl_transfer("M1", "NJ-RIDER", "NJ-RIDER")), INVALID_VALUE,
		"event_amended.member_transferred.to_org");
	assert_string_equal(member(f, "M1")->org_id, "SZ-RIDER");
	assert_int_equal(member(f, "M1")->transfers, 1);
}

/* A corrected time obeys occurred_at's bounds: at most LD_MAX_SKEW_US (5
 * minutes) ahead of the server's clock (ERR_FUTURE_TIME), not before 2000
 * (ERR_INVALID_VALUE). */
/* The transfers (pending: the pending releases) of org's subtree. */
static Ledger__TransferList *transfers(fx *f, const char *org, int pending)
{
	store_txn *t;
	Ledger__TransferList *l = ld_arena_alloc(&f->a, sizeof(*l));
	tl_caught_up(&f->l, f->r);
	assert_int_equal(store_read_begin(runner_store(f->r), &t), 0);
	assert_int_equal(transfers_query(KV_READ_TXN(t), org, pending, 0, INT64_MIN, 0, INT64_MAX, 100,
					 l, &f->a),
			 0);
	store_read_end(t);
	return l;
}

/* A transfer in two steps moves the member, its cover and its counts at
 * the acceptance, not at the release; until then the release is listed as
 * pending at both ends, and the accepted transfer carries both steps. */
static void test_two_step_transfer_moves_at_acceptance(void **state)
{
	fx *f = *state;
	tree(f);
	OK(f, tl_join("M1", "NJ-GL-R1", 1));
	OK(f, tl_affiliate("M1", "SZ-RIDER"));
	uint64_t rel = OK(f, tl_at(tl_release("M1", "NJ-GL-R1", "SZ-RIDER"), tl_day(2025, 3, 1)));
	FIGS(f, "NJ-GL", 1, 0, 0, 1, 1); /* still in NJ */
	FIGS(f, "SZ-RIDER", 0, 0, 1, 1, 0);
	assert_string_equal(member(f, "M1")->org_id, "NJ-GL-R1");
	assert_int_equal(member(f, "M1")->transfers, 0);
	assert_int_equal(transfers(f, "JS", 0)->n_transfers, 0);
	Ledger__TransferList *p = transfers(f, "SZ", 1);
	assert_int_equal(p->n_transfers, 1);
	assert_int_equal(p->transfers[0]->seq, rel);
	assert_int_equal(p->transfers[0]->direction, LEDGER__TRANSFER_DIRECTION__INTO);
	assert_true(p->transfers[0]->pending);
	assert_int_equal(transfers(f, "NJ", 1)->transfers[0]->direction,
			 LEDGER__TRANSFER_DIRECTION__OUT_OF);

	uint64_t acc = OK(f, tl_at(tl_accept("M1", rel, "NJ-GL-R1", "SZ-RIDER"), tl_day(2025, 3, 5)));
	FIGS(f, "NJ-GL", 0, 0, 0, 1, 0);
	FIGS(f, "SZ-RIDER", 1, 1, 0, 1, 1); /* the affiliation became the home */
	assert_string_equal(member(f, "M1")->org_id, "SZ-RIDER");
	assert_int_equal(member(f, "M1")->transfers, 1);
	assert_int_equal(transfers(f, "SZ", 1)->n_transfers, 0);
	Ledger__TransferList *l = transfers(f, "SZ", 0);
	assert_int_equal(l->n_transfers, 1);
	const Ledger__TransferView *t = l->transfers[0];
	assert_int_equal(t->seq, acc);
	assert_int_equal(t->occurred_at, tl_day(2025, 3, 5));
	assert_int_equal(t->release_seq, rel);
	assert_int_equal(t->released_at, tl_day(2025, 3, 1));
	assert_true(t->has_release_recorded_at && t->release_actor);
	assert_string_equal(t->from_org, "NJ-GL-R1");
	assert_string_equal(t->to_org, "SZ-RIDER");

	/* Not accepted after all: pending again, and the member back. */
	OK(f, tl_void(acc));
	FIGS(f, "NJ-GL", 1, 0, 0, 1, 1);
	assert_int_equal(member(f, "M1")->transfers, 0);
	assert_int_equal(transfers(f, "JS", 0)->n_transfers, 0);
	assert_int_equal(transfers(f, "JS", 1)->n_transfers, 1);
	/* Withdrawn: nothing waits. */
	OK(f, tl_void(rel));
	assert_int_equal(transfers(f, "JS", 1)->n_transfers, 0);
}

static void test_corrected_time_not_in_future(void **state)
{
	fx *f = *state;
	tl_tree(&f->l);
	uint64_t seq = OK(f, tl_at(tl_join("M1", "NJ-RIDER", 1), tl_day(2025, 5, 1)));
	int64_t now = ld_wall_us();

	Ledger__Event *a = tl_amend(seq, tl_join("M1", "NJ-RIDER", 1));
	a->event_amended->has_corrected_occurred_at = 1;
	a->event_amended->corrected_occurred_at = now + 3600LL * 1000000; /* an hour ahead */
	REFUSED(f, a, FUTURE_TIME, "event_amended.corrected_occurred_at");
	a = tl_amend(seq, tl_join("M1", "NJ-RIDER", 1));
	a->event_amended->has_corrected_occurred_at = 1;
	a->event_amended->corrected_occurred_at = now + LD_MAX_SKEW_US + 60LL * 1000000;
	REFUSED(f, a, FUTURE_TIME, "event_amended.corrected_occurred_at");
	a = tl_amend(seq, tl_join("M1", "NJ-RIDER", 1));
	a->event_amended->has_corrected_occurred_at = 1;
	a->event_amended->corrected_occurred_at = 946684800LL * 1000000 - 1; /* 1999 */
	REFUSED(f, a, INVALID_VALUE, "event_amended.corrected_occurred_at");
	assert_int_equal(member(f, "M1")->first_joined_at, tl_day(2025, 5, 1));

	/* A minute ahead is within the clocks' allowed skew; yesterday is fine. */
	a = tl_amend(seq, tl_join("M1", "NJ-RIDER", 1));
	a->event_amended->has_corrected_occurred_at = 1;
	a->event_amended->corrected_occurred_at = now + 60LL * 1000000;
	OK(f, a);
	a = tl_amend(seq, tl_join("M1", "NJ-RIDER", 1));
	a->event_amended->has_corrected_occurred_at = 1;
	a->event_amended->corrected_occurred_at = now - 86400LL * 1000000;
	OK(f, a);
	assert_int_equal(member(f, "M1")->first_joined_at, now - 86400LL * 1000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_join_end_transfer_clear_affiliations, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_first_join_counts_for_plans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_units_and_units_covered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_amendment_without_corrected_time, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_funds_between_two_organisations, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_transfer_changes_organisation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_step_transfer_moves_at_acceptance, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrected_time_not_in_future, setup, teardown),
	};
	return tl_run_tests(tests, NULL, NULL);
}
