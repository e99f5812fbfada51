/*
 * days.c — the days: services and activities at the plan's rates, the joins of
 * the day, mergers and foundings of unions; one day, and a whole pass.
 */
#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "i18n.h"

/* ------------------------------------------------------------------ */
/* The days                                                            */
/* ------------------------------------------------------------------ */

/* A service to a random active member by its union; at a station of its
 * city for STATION_SERVICE (none yet: the event is not made). */
void member_service(gen *g, Ledger__ServiceKind kind, int64_t fen)
{
	if (!g->nactive)
		return;
	uint32_t mi = g->active[ldc_rng_below(&g->r, g->nactive)];
	member *m = &g->m[mi];
	station *s = NULL;
	if (kind == LEDGER__SERVICE_KIND__STATION_SERVICE) {
		unsigned c = home_city(g, m);
		station *cand[8];
		unsigned n = 0;
		for (size_t i = 0; i < g->nstations; i++)
			if (g->stations[i].opened && g->stations[i].city == (int)c && n < 8)
				cand[n++] = &g->stations[i];
		if (!n)
			return;
		s = cand[ldc_rng_below(&g->r, n)];
		station_ready(g, s);
	}
	/* Recorded for the wrong member now and then, and voided. */
	int mistake = rng_chance(&g->r, 0.0005) && !m->fix;
	unsigned ln = member_lane(g, mi);
	Ledger__ServiceDelivered *b = ev_begin(g, ln, LEDGER__EVENT__BODY_SERVICE_DELIVERED);
	b->has_kind = 1;
	b->kind = kind;
	b->org_id = g->orgs[m->org].id;
	b->member_id = member_id(g, mi);
	if (fen > 0) {
		b->has_amount_fen = 1;
		b->amount_fen = fen;
	}
	if (s)
		b->station_id = s->id;
	uint32_t t = mistake ? ev_ticket(g) : 0;
	ev_end(g);
	if (mistake) {
		fixrec *f = fix_new(g, mi, FIX_VOID_SERVICE, g->today + rng_range(&g->r, 1, 10));
		f->ticket = t;
		schedule(g, mi);
	}
}

/* Seasons: relative weight of each month for a kind of campaign. */
static double season(int kind, int mon)
{
	switch (kind) {
	case 0: /* condolence: Spring Festival, summer heat */
		return mon <= 2 ? 3.0 : (mon == 7 || mon == 8) ? 2.0 : 0.5;
	case 1: /* insurance: bought at the start of the year */
		return mon <= 3 ? 2.0 : 0.67;
	default:
		return 1.0;
	}
}

static double season_mean(int kind)
{
	double s = 0;
	for (int mon = 1; mon <= 12; mon++)
		s += season(kind, mon);
	return s / 12;
}

static uint16_t org_of_city(gen *g, unsigned c, int kind)
{
	const city_orgs *co = &g->city[c];
	switch (kind) {
	case 0:
		return co->fed;
	case 1:
		return co->industry[ldc_rng_below(&g->r, N_MAIN_GROUPS)];
	default:
		return co->county[ldc_rng_below(&g->r, cities[c].ncounties)];
	}
}

/* How the province keeps up with each of the plan's figures: its rate as a
 * multiple of the plan's pace (the target spread evenly over the plan's days,
 * or a year's), scaled by N / 1,000,000. A real province mid-plan is ahead on
 * some figures (above 1.05 of the pace: AHEAD), on track on others and behind
 * on a few (below 0.95), so the demo shows every status; the cities differ
 * as well (city_pace). */
static const struct {
	double fairs, fair_people, themed, campus, outreach, visits, health_checks, condolence,
	    insurance, grants, skills;
} pace = {
    .fairs = 0.85,         /* fewer fairs than planned... */
    .fair_people = 1.18,   /* ...but bigger: the people served are on track */
    .themed = 1.3,         /* ahead */
    .campus = 0.9,         /* behind */
    .outreach = 0.9,       /* behind */
    .visits = 1.15,        /* ahead */
    .health_checks = 1.0,  /* on track */
    .condolence = 1.0,     /* on track */
    .insurance = 1.12,     /* ahead */
    .grants = 1.1,         /* granted each autumn: achieved every year */
    .skills = 1.07,        /* ahead this year (below the target still), achieved before */
};

/* The province's services and activities of the day, at the rates that put
 * the plan's figures (DOMAIN.md) at their pace when scaled by N / 1,000,000. */
void campaigns(gen *g)
{
	double s = g->scale, per_day_plan = s / PLAN_DAYS, per_day_year = s / 365.0;
	unsigned n;

	/* "8+X" service fairs: 80 by the end of 2026, 16,000 served on site
	 * (200 a fair at the plan's pace). */
	for (n = rng_count(&g->r, 80 * per_day_plan * pace.fairs); n; n--) {
		unsigned c = city_pick(g);
		double mean = 200 * pace.fair_people / pace.fairs;
		uint32_t people = (uint32_t)rng_range(&g->r, (int32_t)(mean * 0.6),
		                                      (int32_t)(mean * 1.4));
		char title[128];
		snprintf(title, sizeof(title), "“8+X”新就业形态劳动者服务集市·%s站",
		         cities[c].short_name);
		emit_activity(g, g->city[c].fed, LEDGER__ACTIVITY_KIND__SERVICE_FAIR, people,
		              (uint32_t)rng_range(&g->r, 8, 30), title);
		g->plan_fairs++;
		g->plan_fair_people += people;
	}
	/* Themed activities (>= 30 a year), model workers on campus (>= 100 a
	 * year), legal-aid outreach (2,500), enterprise visits (1,200). */
	static const char *const themes[] = {
	    "“夏送清凉”关爱新就业形态劳动者主题活动", "“工会伴你行·温暖在身边”主题活动",
	    "“骑手节”关爱主题活动", "“司机之家”开放日主题活动", "“网聚正能量”网络主播主题活动"};
	for (n = rng_count(&g->r, 30 * per_day_year * pace.themed); n; n--) {
		unsigned c = city_pick(g);
		emit_activity(g, org_of_city(g, c, ldc_rng_below(&g->r, 2)),
		              LEDGER__ACTIVITY_KIND__THEMED_ACTIVITY,
		              (uint32_t)rng_range(&g->r, 30, 200), 0,
		              themes[ldc_rng_below(&g->r, 5)]);
		g->plan_themed++;
	}
	for (n = rng_count(&g->r, 100 * per_day_year * pace.campus); n; n--) {
		unsigned c = city_pick(g);
		emit_activity(g, org_of_city(g, c, ldc_rng_below(&g->r, 2)),
		              LEDGER__ACTIVITY_KIND__MODEL_WORKER_CAMPUS,
		              (uint32_t)rng_range(&g->r, 50, 300), 0, "劳模工匠进站点、进校园");
		g->plan_campus++;
	}
	for (n = rng_count(&g->r, 2500 * per_day_plan * pace.outreach); n; n--) {
		unsigned c = city_pick(g);
		emit_activity(g, org_of_city(g, c, 2), LEDGER__ACTIVITY_KIND__LEGAL_AID_OUTREACH,
		              (uint32_t)rng_range(&g->r, 20, 120), 0,
		              "“尊法守法·携手筑梦”法律服务进站点");
		g->plan_outreach++;
	}
	for (n = rng_count(&g->r, 1200 * per_day_plan * pace.visits / 2); n; n--) {
		unsigned c = city_pick(g);
		uint32_t ents = (uint32_t)rng_range(&g->r, 1, 3);
		emit_activity(g, org_of_city(g, c, ldc_rng_below(&g->r, 2)),
		              LEDGER__ACTIVITY_KIND__ENTERPRISE_VISIT,
		              (uint32_t)rng_range(&g->r, 4, 20), ents,
		              "走访平台企业及合作用工企业");
		g->plan_visits += ents;
	}
	/* National Security Education Day (15 April): the province and most
	 * cities. */
	if (g->mon == 4 && g->dom == 15) {
		emit_activity(g, g->province, LEDGER__ACTIVITY_KIND__NATIONAL_SECURITY_EDUCATION,
		              (uint32_t)rng_range(&g->r, 200, 600), 0,
		              "全民国家安全教育日宣传教育活动");
		g->plan_security++;
		for (int c = 0; c < N_CITIES; c++)
			if (rng_chance(&g->r, 0.6)) {
				emit_activity(g, g->city[c].fed,
				              LEDGER__ACTIVITY_KIND__NATIONAL_SECURITY_EDUCATION,
				              (uint32_t)rng_range(&g->r, 50, 300), 0,
				              "全民国家安全教育日宣传教育活动");
				g->plan_security++;
			}
	}
	/* Legal health checks of platform enterprises: 2,000. */
	for (n = rng_count(&g->r, 2000 * per_day_plan * pace.health_checks); n; n--) {
		unsigned c = city_pick(g);
		emit_bulk_service(g, org_of_city(g, c, ldc_rng_below(&g->r, 2)),
		                  LEDGER__SERVICE_KIND__LEGAL_HEALTH_CHECK, 1, 0, NULL);
		g->plan_health_checks++;
	}
	/* Condolence visits: 200,000 person-times, 60% to members. */
	double lambda = 200000 * per_day_plan * pace.condolence * season(0, g->mon) / season_mean(0);
	for (n = rng_count(&g->r, 0.6 * lambda); n; n--) {
		member_service(g, LEDGER__SERVICE_KIND__CONDOLENCE_VISIT,
		               rng_range(&g->r, 2, 8) * 10000);
		g->plan_condolence++;
	}
	for (n = rng_count(&g->r, 0.4 * lambda / 35); n; n--) {
		uint32_t q = (uint32_t)rng_range(&g->r, 10, 60);
		emit_bulk_service(g, org_of_city(g, city_pick(g), ldc_rng_below(&g->r, 2)),
		                  LEDGER__SERVICE_KIND__CONDOLENCE_VISIT, q, (int64_t)q * 30000,
		                  NULL);
		g->plan_condolence += q;
	}
	/* Mutual-aid insurance: 500,000 policies, half to members. */
	lambda = 500000 * per_day_plan * pace.insurance * season(1, g->mon) / season_mean(1);
	for (n = rng_count(&g->r, 0.5 * lambda); n; n--) {
		member_service(g, LEDGER__SERVICE_KIND__MUTUAL_AID_INSURANCE,
		               rng_range(&g->r, 3, 10) * 1000);
		g->plan_insurance++;
	}
	for (n = rng_count(&g->r, 0.5 * lambda / 110); n; n--) {
		uint32_t q = (uint32_t)rng_range(&g->r, 20, 200);
		emit_bulk_service(g, org_of_city(g, city_pick(g), 1),
		                  LEDGER__SERVICE_KIND__MUTUAL_AID_INSURANCE, q, (int64_t)q * 3000,
		                  NULL);
		g->plan_insurance += q;
	}
	/* Education grants: >= 3,000 workers and 5,000,000 yuan a year, in
	 * September and October. */
	if (g->mon == 9 || g->mon == 10)
		for (n = rng_count(&g->r, 3000 * s * pace.grants / 61); n; n--) {
			int64_t fen = (int64_t)rng_range(&g->r, 2, 6) * 50000;
			member_service(g, LEDGER__SERVICE_KIND__EDUCATION_GRANT, fen);
			g->plan_grants++;
			g->plan_grant_fen += fen;
		}
	/* Skill upgrades: >= 50,000 workers a year, 60% recorded per member. */
	for (n = rng_count(&g->r, 0.6 * 50000 * per_day_year * pace.skills); n; n--) {
		member_service(g, LEDGER__SERVICE_KIND__SKILL_UPGRADE,
		               rng_chance(&g->r, 0.3) ? rng_range(&g->r, 5, 15) * 10000 : 0);
		g->plan_skills++;
	}
	for (n = rng_count(&g->r, 0.4 * 50000 * per_day_year * pace.skills / 35); n; n--) {
		uint32_t q = (uint32_t)rng_range(&g->r, 20, 50);
		emit_bulk_service(g, org_of_city(g, city_pick(g), 1),
		                  LEDGER__SERVICE_KIND__SKILL_UPGRADE, q, 0, NULL);
		g->plan_skills += q;
	}
	/* Services without a plan figure, per member and year. */
	double na = g->nactive / 365.0;
	static const struct {
		Ledger__ServiceKind kind;
		double per_year;
		int32_t lo, hi; /* money in 100 yuan, 0: none */
	} other[] = {
	    {LEDGER__SERVICE_KIND__LEGAL_CONSULTATION, 0.03, 0, 0},
	    {LEDGER__SERVICE_KIND__LEGAL_AID, 0.008, 0, 0},
	    {LEDGER__SERVICE_KIND__HEALTH_CHECK, 0.05, 0, 0},
	    {LEDGER__SERVICE_KIND__PSYCHOLOGICAL_COUNSELLING, 0.01, 0, 0},
	    {LEDGER__SERVICE_KIND__HARDSHIP_RELIEF, 0.01, 10, 50},
	    {LEDGER__SERVICE_KIND__STATION_SERVICE, 0.2, 0, 0},
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		for (n = rng_count(&g->r, na * other[i].per_year); n; n--)
			member_service(
			    g, other[i].kind,
			    other[i].hi ? rng_range(&g->r, other[i].lo, other[i].hi) * 10000 : 0);
	/* Stations serve workers who are not members too. */
	for (size_t i = 0; i < g->nstations; i++) {
		station *st = &g->stations[i];
		if (!st->opened)
			continue;
		for (n = rng_count(&g->r, 10 * s); n; n--) {
			station_ready(g, st);
			emit_bulk_service(g, st->org, LEDGER__SERVICE_KIND__STATION_SERVICE,
			                  (uint32_t)rng_range(&g->r, 5, 40), 0, st);
		}
	}
}

/* Cumulative join weights: the pace grows over the window, with campaign
 * months (May Day, autumn) and a lull at the Spring Festival. */
void join_curve(gen *g)
{
	static const double month_w[13] = {0,   0.7, 0.6, 1.2, 1.1, 1.3, 1.0,
	                                   1.0, 0.9, 1.2, 1.1, 1.0, 0.9};
	int32_t W = g->ndays;
	g->cumw = xcalloc((size_t)W + 1, sizeof(double));
	for (int32_t d = 0; d < W; d++) {
		int y, mo, dd;
		civil_from_days(g->epoch_day0 + d, &y, &mo, &dd);
		g->cumw[d + 1] = g->cumw[d] + (0.7 + 0.6 * d / (double)W) * month_w[mo];
	}
}

static uint32_t clamp_u32(double x, uint32_t lo, uint32_t hi)
{
	return x < lo ? lo : x > hi ? hi : (uint32_t)x;
}

/* Today's joins: ceremonies and collective registrations in bursts,
 * worker meetings in small groups, and the individual joins that keep the
 * total on the curve; all N members have joined by the last day. */
void joins(gen *g)
{
	int32_t d = g->today, W = g->ndays;
	uint32_t N = g->nmembers;
	double wday = (g->cumw[d + 1] - g->cumw[d]) / g->cumw[W];
	uint32_t mean_c = clamp_u32(N / 400.0, 4, 150), mean_r = clamp_u32(N / 300.0, 4, 250),
	         mean_m = clamp_u32(N / 2000.0, 2, 25);
	unsigned n;

	/* Ceremonies (集中入会仪式), 10% of the members. */
	for (n = rng_count(&g->r, 0.10 * N * wday / mean_c); n && g->created < N; n--) {
		unsigned c = city_pick(g);
		uint32_t size =
		    (uint32_t)rng_range(&g->r, (int32_t)mean_c / 2 + 1, (int32_t)mean_c * 3 / 2);
		if (size > N - g->created)
			size = N - g->created;
		char title[128];
		snprintf(title, sizeof(title), "%s新就业形态劳动者集中入会仪式", cities[c].name);
		emit_activity(g, g->city[c].fed, LEDGER__ACTIVITY_KIND__JOIN_CEREMONY,
		              size + (uint32_t)ldc_rng_below(&g->r, size + 1), 0, title);
		join_spec js = {(int)c, -1, -1, NO_ORG, 0, LEDGER__JOIN_CHANNEL__CEREMONY};
		for (uint32_t i = 0; i < size; i++)
			member_new(g, &js);
	}
	/* Collective registrations (集体登记) of a unit, 20%. */
	for (n = rng_count(&g->r, 0.20 * N * wday / mean_r); n && g->created < N; n--) {
		unsigned c = city_pick(g);
		uint32_t size =
		    (uint32_t)rng_range(&g->r, (int32_t)mean_r / 2 + 1, (int32_t)mean_r * 3 / 2);
		if (size > N - g->created)
			size = N - g->created;
		join_spec js = {(int)c,
		                -1,
		                -1,
		                NO_ORG,
		                LEDGER__JOIN_PATH__PLATFORM_WORK,
		                LEDGER__JOIN_CHANNEL__COLLECTIVE_REGISTRATION};
		uint32_t x = ldc_rng_below(&g->r, 100);
		unsigned k = county_pick(g, c);
		if (x < 60) {
			unsigned w[N_MAIN_GROUPS];
			for (int i = 0; i < N_MAIN_GROUPS; i++)
				w[i] = groups[i].weight;
			js.gi = (int)rng_pick(&g->r, w, N_MAIN_GROUPS);
			js.platform = platform_pick(g, js.gi);
			js.org = g->city[c].platform[js.gi][js.platform];
		} else if (x < 85) {
			int agent = rng_chance(&g->r, 0.5);
			js.gi = agent ? G_RIDER : G_COURIER;
			js.platform = agent ? 0 : 1;
			js.org = g->city[c].affiliated[k][agent ? AF_AGENT : AF_FRANCHISE];
			js.path = agent ? LEDGER__JOIN_PATH__DISPATCHED
			                : LEDGER__JOIN_PATH__LABOUR_RELATION;
		} else {
			int e = (int)ldc_rng_below(&g->r, N_ENTERPRISES);
			js.gi = enterprise_defs[e].group;
			js.org = g->city[c].enterprise[e];
			js.path = LEDGER__JOIN_PATH__LABOUR_RELATION;
			if (!g->orgs[js.org].registered) {
				js.org = g->city[c].industry[js.gi];
				js.path = LEDGER__JOIN_PATH__PLATFORM_WORK;
			}
		}
		for (uint32_t i = 0; i < size; i++)
			member_new(g, &js);
	}
	/* Worker meetings (沟通会): a few join on the spot, 13%. */
	for (n = rng_count(&g->r, 0.13 * N * wday / mean_m); n && g->created < N; n--) {
		unsigned c = city_pick(g);
		uint32_t size =
		    (uint32_t)rng_range(&g->r, (int32_t)mean_m / 2 + 1, (int32_t)mean_m * 3 / 2);
		if (size > N - g->created)
			size = N - g->created;
		unsigned w[N_MAIN_GROUPS];
		for (int i = 0; i < N_MAIN_GROUPS; i++)
			w[i] = groups[i].weight;
		int gi = (int)rng_pick(&g->r, w, N_MAIN_GROUPS);
		uint16_t oi = rng_chance(&g->r, 0.6)
		                  ? g->city[c].industry[gi]
		                  : g->city[c].platform[gi][platform_pick(g, gi)];
		emit_activity(g, oi, LEDGER__ACTIVITY_KIND__WORKER_MEETING_HELD,
		              size * (uint32_t)rng_range(&g->r, 2, 4), 0,
		              "新就业形态劳动者入会沟通会");
		join_spec js = {(int)c,
		                gi,
		                g->orgs[oi].platform,
		                oi,
		                LEDGER__JOIN_PATH__PLATFORM_WORK,
		                LEDGER__JOIN_CHANNEL__WORKER_MEETING};
		for (uint32_t i = 0; i < size; i++)
			member_new(g, &js);
	}
	/* Individual joins, online or at a mobile window. */
	uint32_t target = d == W - 1 ? N : (uint32_t)(N * g->cumw[d + 1] / g->cumw[W]);
	while (g->created < target) {
		join_spec js = {-1, -1, -1, NO_ORG, 0, individual_channel(g)};
		member_new(g, &js);
	}
}

/* Community union X stops admitting members; its members move to the
 * street union above it (ORGANISATION_MERGED); MERGE_DAYS later it is
 * dissolved into it. Both steps wait until every lane is answered, as
 * they must come after everything generated before them. */
void merges(gen *g)
{
	for (size_t i = 0; i < g->nmerges; i++) {
		merge *mg = &g->merges[i];
		org *o = &g->orgs[mg->org];
		if (g->today == mg->day) {
			barrier(g);
			Ledger__OrgUpdated *b = ev_begin(g, 0, LEDGER__EVENT__BODY_ORG_UPDATED);
			b->org_id = o->id;
			b->has_admits_members = 1;
			b->admits_members = 0;
			ev_end(g);
			o->closing = 1;
			for (uint32_t mi = 0; mi < g->created; mi++) {
				member *m = &g->m[mi];
				if (m->status != ST_ACTIVE)
					continue;
				if (m->aff == mg->org)
					emit_disaffiliated(g, mi);
				if (m->org == mg->org && m->rel_ticket) {
					/* Released elsewhere: settled before the
					 * dissolution (a withdrawn one is followed by
					 * the merge's transfer, life.c do_accept). */
					int32_t by = g->today + rng_range(&g->r, 1, MERGE_DAYS - 4);
					if (m->d_accept > by)
						m->d_accept = by;
					schedule(g, mi);
				} else if (m->org == mg->org) {
					m->xfer_reason =
					    LEDGER__TRANSFER_REASON__ORGANISATION_MERGED;
					m->xfer_to = o->parent;
					m->d_xfer = g->today + rng_range(&g->r, 1, MERGE_DAYS - 4);
					schedule(g, mi);
				}
			}
		} else if (g->today == mg->day + MERGE_DAYS) {
			int still = 0;
			for (uint32_t mi = 0; mi < g->created; mi++)
				still += g->m[mi].status == ST_ACTIVE &&
				         (g->m[mi].org == mg->org || g->m[mi].aff == mg->org);
			if (still)
				die(EXIT_INTERNAL, _("%d members still in '%s' on its dissolution"),
				    still, o->id);
			barrier(g);
			Ledger__OrgDissolved *b = ev_begin(g, 0, LEDGER__EVENT__BODY_ORG_DISSOLVED);
			b->org_id = o->id;
			b->has_reason = 1;
			b->reason = LEDGER__DISSOLVE_REASON__MERGED;
			b->merged_into = g->orgs[o->parent].id;
			ev_end(g);
			o->dissolved = 1;
		}
	}
}

/* An enterprise union is founded today; the members who work there and
 * joined elsewhere while it had none are transferred into it. */
void foundings(gen *g)
{
	for (size_t oi = g->nbase; oi < g->norgs; oi++) {
		org *o = &g->orgs[oi];
		if (o->day != g->today || o->registered)
			continue;
		emit_org_registered(g, (uint16_t)oi);
		for (uint32_t mi = 0; mi < g->created; mi++) {
			member *m = &g->m[mi];
			if (m->employer != oi || m->status != ST_ACTIVE || m->xfer_reason)
				continue;
			m->xfer_reason = LEDGER__TRANSFER_REASON__EMPLOYER_UNION_FOUNDED;
			m->xfer_to = (uint16_t)oi;
			m->d_xfer = g->today + rng_range(&g->r, 3, 45);
			schedule(g, mi);
		}
	}
}

static void day_begin(gen *g, int32_t d)
{
	g->today = d;
	g->today_k = 0;
	civil_from_days(g->epoch_day0 + d, &g->y, &g->mon, &g->dom);
	g->ym = (uint32_t)g->y * 100 + (uint32_t)g->mon;
	g->day_start = day_start_us(g->epoch_day0 + d);
}

/* One day of the province. */
void run_day(gen *g, int32_t d)
{
	day_begin(g, d);
	if (d < 0) { /* setup: the tree, the first stations */
		for (size_t i = 0; i < g->nbase; i++)
			if (g->orgs[i].day == d)
				emit_org_registered(g, (uint16_t)i);
		for (size_t i = 0; i < g->nstations; i++)
			if (g->stations[i].day == d)
				emit_station(g, &g->stations[i]);
		return;
	}
	if (d == 0) {
		barrier(g); /* the tree is recorded before anything refers to it */
		for (size_t i = 0; i < g->nbase; i++)
			g->orgs[i].ready = 1;
		for (size_t i = 0; i < g->nstations; i++)
			g->stations[i].ready = g->stations[i].opened;
	}
	if (d == 0 || (g->mon == 1 && g->dom == 15))
		workforce_estimates(g);
	foundings(g);
	for (size_t i = 0; i < g->nstations; i++)
		if (g->stations[i].day == d && !g->stations[i].opened)
			emit_station(g, &g->stations[i]);
	while (g->next_update < g->nupdates && g->updates[g->next_update].day <= d)
		emit_org_update(g, &g->updates[g->next_update++]);
	merges(g);
	funds(g);
	campaigns(g);
	joins(g);
	dayvec *v = &g->days[d];
	for (uint32_t i = 0; i < v->n; i++)
		member_day(g, v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = v->cap = 0;
}

/* Frees the tree, the plans and the calendar of a pass. */
void sim_free(gen *g)
{
	for (size_t i = 0; i < g->norgs; i++)
		free(g->orgs[i].name);
	free(g->orgs);
	g->orgs = NULL;
	g->norgs = g->nbase = 0;
	for (size_t i = 0; i < g->nstations; i++)
		free(g->stations[i].name);
	free(g->stations);
	g->stations = NULL;
	g->nstations = 0;
	free(g->updates);
	g->updates = NULL;
	g->nupdates = g->next_update = 0;
	free(g->merges);
	g->merges = NULL;
	g->nmerges = 0;
	g->nbirthplaces = 0;
	if (g->days)
		for (int32_t d = 0; d < g->ndays; d++)
			free(g->days[d].v);
	free(g->days);
	g->days = NULL;
	free(g->fixes);
	g->fixes = NULL;
	g->nfixes = g->capfixes = 0;
}

/* Resets the simulation to its start (both passes start from here). */
void sim_reset(gen *g)
{
	sim_free(g);
	g->days = xcalloc((size_t)g->ndays, sizeof(*g->days));
	memset(g->active_city, 0, sizeof(g->active_city));
	g->created = g->nactive = 0;
	g->ntickets = 0;
	g->next_n = 0;
	g->last_t = 0;
	memset(g->by_type, 0, sizeof(g->by_type));
	g->joins_new = g->joins_again = g->transfers = g->ends = g->dual = g->waivers = 0;
	g->releases = g->withdrawn = 0;
	g->plan_fairs = g->plan_fair_people = g->plan_insurance = g->plan_condolence = 0;
	g->plan_outreach = g->plan_visits = g->plan_health_checks = g->plan_grants = 0;
	g->plan_skills = g->plan_themed = g->plan_campus = g->plan_security = 0;
	g->plan_grant_fen = 0;
	ldc_rng_seed(&g->r, g->seed);
	tree_build(g);
	plan_build(g);
}

/* Runs the whole simulation once; counting: only the events per day. */
void sim_run(gen *g, int counting)
{
	g->counting = counting;
	sim_reset(g);
	for (int32_t d = g->day_min; d < g->ndays && !g->fatal; d++) {
		run_day(g, d);
		uint32_t *c = &g->day_count[d - g->day_min];
		if (counting)
			*c = g->today_k;
		else if (*c != g->today_k)
			die(EXIT_INTERNAL,
			    _("day %d had %u events, not %u as counted (a generator bug)"), d,
			    g->today_k, *c);
	}
}
