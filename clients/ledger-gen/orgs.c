/*
 * orgs.c — the organisation tree of --prefix, the stations, organisation
 * updates and mergers planned at the start, and the events of organisations:
 * registrations, stations, updates, workforce estimates, funds, activities
 * and services to non-members.
 */
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gen.h"
#include "i18n.h"

/* ------------------------------------------------------------------ */
/* The organisation tree                                               */
/* ------------------------------------------------------------------ */

static uint16_t org_add(gen *g, Ledger__OrgKind kind, uint16_t parent, uint32_t region, char *name,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Adds an organisation; its id is the prefix, '-', and fmt. */
static uint16_t org_add(gen *g, Ledger__OrgKind kind, uint16_t parent, uint32_t region, char *name,
                        const char *fmt, ...)
{
	char idpart[LD_ID_MAX];
	va_list ap;
	if (g->norgs >= NO_ORG)
		die(EXIT_INTERNAL, _("too many organisations"));
	g->orgs = xrealloc(g->orgs, (g->norgs + 1) * sizeof(*g->orgs));
	org *o = &g->orgs[g->norgs];
	memset(o, 0, sizeof(*o));
	va_start(ap, fmt);
	vsnprintf(idpart, sizeof(idpart), fmt, ap);
	va_end(ap);
	snprintf(o->id, sizeof(o->id), "%s-%s", g->prefix, idpart);
	if (!check_id(o->id))
		die(EXIT_USAGE, _("'%s' is not a valid organisation id (is --prefix too long?)"),
		    o->id);
	o->name = name;
	o->kind = kind;
	o->parent = parent;
	o->region = region;
	o->gi = o->platform = o->city = o->county = -1;
	if (parent != NO_ORG) {
		o->city = g->orgs[parent].city;
		o->county = g->orgs[parent].county;
	}
	return (uint16_t)g->norgs++;
}

/* The tree of --prefix P: P-320000 the province; P-<city> and P-<county>
 * federations; per city P-<city>-<group> industry unions and
 * P-<city>-<group>-<platform> platform unions; per county P-<county>-<level>
 * regional unions and P-<county>-zto-franchise / -meituan-agent affiliated
 * unions; P-<city>-ent<k> enterprise unions founded during the window. */
void tree_build(gen *g)
{
	g->province = org_add(g, LEDGER__ORG_KIND__FEDERATION_PROVINCE, NO_ORG, 320000,
	                      xprintf("江苏省新就业形态劳动者行业工会联合会"), "320000");
	for (int c = 0; c < N_CITIES; c++) {
		const struct city_def *cd = &cities[c];
		city_orgs *co = &g->city[c];
		co->fed = org_add(g, LEDGER__ORG_KIND__FEDERATION_CITY, g->province, cd->code,
		                  xprintf("%s新就业形态劳动者行业工会联合会", cd->name),
		                  "%06" PRIu32, cd->code);
		g->orgs[co->fed].city = (int8_t)c;
		for (unsigned k = 0; k < cd->ncounties; k++) {
			const county_def *kd = &cd->counties[k];
			co->county[k] = org_add(
			    g, LEDGER__ORG_KIND__FEDERATION_COUNTY, co->fed, kd->code,
			    xprintf("%s%s新就业形态劳动者行业工会联合会", cd->name, kd->name),
			    "%06" PRIu32, kd->code);
			g->orgs[co->county[k]].county = (int8_t)k;
		}
		for (int gi = 0; gi < N_MAIN_GROUPS; gi++) {
			const struct group_def *gd = &groups[gi];
			uint16_t iu = org_add(g, LEDGER__ORG_KIND__INDUSTRY_UNION, co->fed,
			                      cd->code, xprintf("%s%s", cd->name, gd->union_name),
			                      "%06" PRIu32 "-%s", cd->code, gd->key);
			g->orgs[iu].group = gd->group;
			g->orgs[iu].gi = (int8_t)gi;
			co->industry[gi] = iu;
			for (unsigned p = 0; p < gd->nplatforms; p++) {
				const platform_def *pd = &gd->platforms[p];
				uint16_t pu = org_add(
				    g, LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION, iu, cd->code,
				    xprintf("%s%s分公司工会", pd->name, cd->short_name),
				    "%06" PRIu32 "-%s-%s", cd->code, gd->key, pd->id);
				g->orgs[pu].group = gd->group;
				g->orgs[pu].gi = (int8_t)gi;
				g->orgs[pu].platform = (int8_t)p;
				co->platform[gi][p] = pu;
			}
		}
		for (unsigned k = 0; k < cd->ncounties; k++) {
			const county_def *kd = &cd->counties[k];
			for (int lv = 0; lv < N_REGIONAL; lv++) {
				uint16_t parent =
				    lv == RL_COMMUNITY ? co->regional[k][RL_STREET] : co->county[k];
				uint16_t ru =
				    org_add(g, LEDGER__ORG_KIND__REGIONAL_UNION, parent, kd->code,
				            xprintf("%s%s%s", cd->short_name, kd->name,
				                    regional_defs[lv].name),
				            "%06" PRIu32 "-%s", kd->code, regional_defs[lv].key);
				g->orgs[ru].level = regional_defs[lv].level;
				co->regional[k][lv] = ru;
			}
			/* ZTO's franchise outlets and Meituan's delivery agents. */
			uint16_t zto = co->platform[G_COURIER][1], mt = co->platform[G_RIDER][0];
			uint16_t fr = org_add(
			    g, LEDGER__ORG_KIND__AFFILIATED_ENTERPRISE_UNION, zto, kd->code,
			    xprintf("中通快递%s%s加盟网点联合工会", cd->short_name, kd->name),
			    "%06" PRIu32 "-zto-franchise", kd->code);
			g->orgs[fr].county = (int8_t)k;
			g->orgs[fr].group = LEDGER__WORKER_GROUP__COURIER;
			g->orgs[fr].gi = G_COURIER;
			g->orgs[fr].platform = 1;
			uint16_t ag =
			    org_add(g, LEDGER__ORG_KIND__AFFILIATED_ENTERPRISE_UNION, mt, kd->code,
			            xprintf("美团外卖%s%s配送服务商工会", cd->short_name, kd->name),
			            "%06" PRIu32 "-meituan-agent", kd->code);
			g->orgs[ag].county = (int8_t)k;
			g->orgs[ag].group = LEDGER__WORKER_GROUP__DELIVERY_RIDER;
			g->orgs[ag].gi = G_RIDER;
			g->orgs[ag].platform = 0;
			co->affiliated[k][AF_FRANCHISE] = fr;
			co->affiliated[k][AF_AGENT] = ag;
		}
	}
	g->nbase = g->norgs;

	/* Registered on the setup days, parents first. */
	for (size_t i = 0; i < g->nbase; i++)
		g->orgs[i].day = -SETUP_DAYS + (int32_t)(i * (SETUP_DAYS - 3) / g->nbase);

	/* Enterprise unions: founded during the window. */
	int32_t lo = g->ndays / 12, hi = g->ndays - g->ndays / 6;
	if (hi <= lo)
		hi = lo + 1;
	for (int c = 0; c < N_CITIES; c++) {
		city_orgs *co = &g->city[c];
		for (int k = 0; k < N_ENTERPRISES; k++) {
			int gi = enterprise_defs[k].group;
			uint16_t eu = org_add(
			    g, LEDGER__ORG_KIND__ENTERPRISE_UNION, co->industry[gi], cities[c].code,
			    xprintf("%s%s", cities[c].short_name, enterprise_defs[k].name),
			    "%06" PRIu32 "-ent%d", cities[c].code, k + 1);
			g->orgs[eu].group = groups[gi].group;
			g->orgs[eu].gi = (int8_t)gi;
			g->orgs[eu].day = rng_range(&g->r, lo, hi);
			co->enterprise[k] = eu;
		}
	}
}

/* A unified social credit code of a trade union (GB 32100: authority 8,
 * kind 1, region, 9 characters, check character). */
static void credit_code(gen *g, uint32_t region, char out[24])
{
	static const char cs[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
	static const int w[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
	snprintf(out, 24, "81%06" PRIu32, region);
	for (int i = 8; i < 17; i++)
		out[i] = cs[ldc_rng_below(&g->r, 31)];
	int sum = 0;
	for (int i = 0; i < 17; i++)
		sum += (int)(strchr(cs, out[i]) - cs) * w[i];
	out[17] = cs[(31 - sum % 31) % 31];
	out[18] = '\0';
}

static int cmp_update(const void *a, const void *b)
{
	const org_update *x = a, *y = b;
	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	if (x->org != y->org)
		return x->org < y->org ? -1 : 1;
	return (int)x->what - (int)y->what;
}

/* Stations, organisation updates and mergers, planned at the start. */
void plan_build(gen *g)
{
	static const struct {
		Ledger__StationKind kind;
		const char *name;
	} st[] = {
	    {LEDGER__STATION_KIND__LOVE_STATION, "工会爱心驿站"},
	    {LEDGER__STATION_KIND__RIDER_HOME, "骑手之家"},
	    {LEDGER__STATION_KIND__DRIVER_HOME, "货车司机之家"},
	    {LEDGER__STATION_KIND__OUTDOOR_WORKER_STATION, "户外劳动者服务站点"},
	};
	int32_t W = g->ndays;
	g->stations = xcalloc(N_CITIES * 4 + 1, sizeof(*g->stations));
	station *s = &g->stations[g->nstations++];
	snprintf(s->id, sizeof(s->id), "%s-ST320000-1", g->prefix);
	s->name = xprintf("江苏省新就业形态劳动者示范性服务中心");
	s->kind = LEDGER__STATION_KIND__DEMONSTRATION_SERVICE_CENTRE;
	s->org = g->province;
	s->region = 320102;
	s->city = 0;
	s->day = -2;
	for (int c = 0; c < N_CITIES; c++) {
		const struct city_def *cd = &cities[c];
		for (int k = 0; k < 4; k++) {
			s = &g->stations[g->nstations++];
			unsigned county = ldc_rng_below(&g->r, cd->ncounties);
			snprintf(s->id, sizeof(s->id), "%s-ST%06" PRIu32 "-%d", g->prefix, cd->code,
			         k + 1);
			s->name =
			    xprintf("%s%s（%s）", cd->name, st[k].name, cd->counties[county].name);
			s->kind = st[k].kind;
			s->org = k == 0   ? g->city[c].fed
			         : k == 1 ? g->city[c].industry[G_RIDER]
			         : k == 2 ? g->city[c].industry[G_TRUCK]
			                  : g->city[c].county[county];
			s->region = cd->counties[county].code;
			s->city = c;
			s->day = k == 0   ? -2
			         : k == 1 ? rng_range(&g->r, 0, W / 2)
			         : k == 2 ? rng_range(&g->r, 0, W * 7 / 10)
			                  : rng_range(&g->r, W / 4, W * 9 / 10);
		}
	}

	/* Legal-person status, own fund accounts and committee elections of
	 * the federations and industry unions. */
	size_t cap = g->nbase * 3;
	g->updates = xcalloc(cap, sizeof(*g->updates));
	for (size_t i = 0; i < g->nbase; i++) {
		org *o = &g->orgs[i];
		int fed = o->kind == LEDGER__ORG_KIND__FEDERATION_PROVINCE ||
		          o->kind == LEDGER__ORG_KIND__FEDERATION_CITY ||
		          o->kind == LEDGER__ORG_KIND__FEDERATION_COUNTY;
		if (!fed && o->kind != LEDGER__ORG_KIND__INDUSTRY_UNION)
			continue;
		for (uint8_t what = 0; what < 3; what++) {
			double p = what == UPD_LEGAL_PERSON   ? 0.7
			           : what == UPD_FUND_ACCOUNT ? 0.5
			                                      : (fed ? 0.25 : 0.1);
			if (!rng_chance(&g->r, p))
				continue;
			org_update *u = &g->updates[g->nupdates++];
			u->day = rng_range(&g->r, 0, W - 1);
			u->org = (uint16_t)i;
			u->what = what;
			if (what == UPD_LEGAL_PERSON)
				credit_code(g, o->region, u->code);
			else if (what == UPD_FUND_ACCOUNT)
				snprintf(u->code, sizeof(u->code), "%04" PRIu32 "%012" PRIu64,
				         o->region / 100,
				         (uint64_t)(ldc_rng_next(&g->r) % 1000000000000ULL));
		}
	}
	qsort(g->updates, g->nupdates, sizeof(*g->updates), cmp_update);

	/* A few community unions merge into their street union. */
	unsigned nm = N_CITIES / 4 + 1;
	g->merges = xcalloc(nm, sizeof(*g->merges));
	for (unsigned i = 0; i < nm && W > 60; i++) {
		unsigned c = ldc_rng_below(&g->r, N_CITIES);
		unsigned k = ldc_rng_below(&g->r, cities[c].ncounties);
		uint16_t oi = g->city[c].regional[k][RL_COMMUNITY];
		int dup = 0;
		for (size_t j = 0; j < g->nmerges; j++)
			dup |= g->merges[j].org == oi;
		int32_t day = rng_range(&g->r, W * 35 / 100, W * 75 / 100);
		if (dup)
			continue;
		g->merges[g->nmerges].org = oi;
		g->merges[g->nmerges].day = day;
		g->nmerges++;
	}

	/* Birthplaces of the national ids: the counties above and beyond. */
	for (int c = 0; c < N_CITIES; c++)
		for (unsigned k = 0; k < cities[c].ncounties; k++)
			g->birthplaces[g->nbirthplaces++] = cities[c].counties[k].code;
	for (size_t i = 0; i < sizeof(outside_birthplaces) / sizeof(outside_birthplaces[0]); i++)
		g->birthplaces[g->nbirthplaces++] = outside_birthplaces[i];
}

/* ------------------------------------------------------------------ */
/* Organisation events                                                 */
/* ------------------------------------------------------------------ */

void emit_org_registered(gen *g, uint16_t oi)
{
	org *o = &g->orgs[oi];
	Ledger__OrgRegistered *b = ev_begin(g, 0, LEDGER__EVENT__BODY_ORG_REGISTERED);
	b->org_id = o->id;
	b->name = o->name;
	b->has_kind = 1;
	b->kind = o->kind;
	if (o->parent != NO_ORG)
		b->parent_id = g->orgs[o->parent].id;
	b->has_region = 1;
	b->region = o->region;
	if (o->group) {
		b->has_worker_group = 1;
		b->worker_group = o->group;
	}
	if (o->level) {
		b->has_regional_level = 1;
		b->regional_level = o->level;
	}
	if (o->platform >= 0 && o->kind == LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION)
		b->platform = (char *)groups[o->gi].platforms[o->platform].id;
	o->ticket = ev_ticket(g);
	ev_end(g);
	o->registered = 1;
}

void emit_station(gen *g, station *s)
{
	Ledger__StationOpened *b = ev_begin(g, 0, LEDGER__EVENT__BODY_STATION_OPENED);
	b->station_id = s->id;
	b->org_id = g->orgs[s->org].id;
	b->has_kind = 1;
	b->kind = s->kind;
	b->has_region = 1;
	b->region = s->region;
	b->name = s->name;
	s->ticket = ev_ticket(g);
	ev_end(g);
	s->opened = 1;
}

void station_ready(gen *g, station *s)
{
	if (s->ready || g->counting)
		return;
	ticket_wait(g, s->ticket);
	s->ready = 1;
}

void emit_org_update(gen *g, const org_update *u)
{
	org *o = &g->orgs[u->org];
	Ledger__OrgUpdated *b = ev_begin(g, 0, LEDGER__EVENT__BODY_ORG_UPDATED);
	b->org_id = o->id;
	switch (u->what) {
	case UPD_LEGAL_PERSON:
		b->has_legal_person = 1;
		b->legal_person = 1;
		b->legal_person_code = ev_str(g, "%s", u->code);
		break;
	case UPD_FUND_ACCOUNT:
		b->fund_account = ev_str(g, "工会经费独立账户 %s", u->code);
		break;
	default:
		b->has_reelected_at = 1;
		b->reelected_at = (g->epoch_day0 + g->today) * DAY_US;
		b->has_term_years = 1;
		b->term_years = o->kind == LEDGER__ORG_KIND__INDUSTRY_UNION ? 3 : 5;
		break;
	}
	ev_end(g);
}

static void emit_workforce(gen *g, uint32_t region, Ledger__WorkerGroup group, uint64_t count)
{
	Ledger__WorkforceEstimated *b = ev_begin(g, 0, LEDGER__EVENT__BODY_WORKFORCE_ESTIMATED);
	b->has_region = b->has_worker_group = b->has_count = 1;
	b->region = region;
	b->worker_group = group;
	b->count = count ? count : 1;
	b->source = ev_str(g, "ledger-gen %d年摸底排查（合成数据）", g->y);
	ev_end(g);
}

/* Workforce estimates per city and group, and the province's totals: on
 * the first day and every 15 January, growing 8% a year. */
void workforce_estimates(gen *g)
{
	uint64_t total[N_MAIN_GROUPS] = {0};
	double growth = pow(1.08, g->y - 2024 > 0 ? g->y - 2024 : 0);
	for (int c = 0; c < N_CITIES; c++)
		for (int gi = 0; gi < N_MAIN_GROUPS; gi++) {
			/* Members are about a quarter of the workers (at the
			 * plan's end), more in some cities than in others. */
			double base = g->nmembers * 4.0 * groups[gi].weight / 100.0 *
			              cities[c].weight / 100.0 * groups[gi].wf;
			double noise = 0.75 + 0.5 * rng_unit(&g->r);
			uint64_t n = (uint64_t)(base * noise * growth) + 1;
			total[gi] += n;
			emit_workforce(g, cities[c].code, groups[gi].group, n);
		}
	for (int gi = 0; gi < N_MAIN_GROUPS; gi++)
		emit_workforce(g, 320000, groups[gi].group, total[gi]);
}

static void emit_funds(gen *g, uint16_t from, uint16_t to, int64_t fen, Ledger__FundPurpose p,
                       const char *note)
{
	if (fen <= 0 || g->orgs[from].dissolved || g->orgs[to].dissolved)
		return;
	Ledger__FundsAllocated *b =
	    ev_begin(g, org_lane(g, from), LEDGER__EVENT__BODY_FUNDS_ALLOCATED);
	b->from_org = g->orgs[from].id;
	b->to_org = g->orgs[to].id;
	b->has_amount_fen = b->has_purpose = 1;
	b->amount_fen = fen;
	b->purpose = p;
	b->note = (char *)note;
	ev_end(g);
}

/* Yearly allocations down the tree, quarterly dues shares up. */
void funds(gen *g)
{
	double s = g->scale;
	if (g->mon == 3 && g->dom == 10)
		for (int c = 0; c < N_CITIES; c++)
			emit_funds(g, g->province, g->city[c].fed,
			           (int64_t)(2e8 * s * cities[c].weight / 100.0 *
			                     (0.8 + 0.4 * rng_unit(&g->r))) +
			               100,
			           LEDGER__FUND_PURPOSE__FUNDING_ALLOCATION, "年度工作经费拨付");
	if (g->mon == 4 && g->dom == 10)
		for (int c = 0; c < N_CITIES; c++)
			for (unsigned k = 0; k < cities[c].ncounties; k++)
				emit_funds(
				    g, g->city[c].fed, g->city[c].county[k],
				    (int64_t)(5e7 * s * cities[c].weight / 100.0 /
				              cities[c].ncounties * (0.7 + 0.6 * rng_unit(&g->r))) +
				        100,
				    LEDGER__FUND_PURPOSE__SERVICE_FUNDING, "服务阵地建设经费");
	if (g->mon == 6 && g->dom == 1)
		for (int c = 0; c < N_CITIES; c++)
			emit_funds(g, g->city[c].fed, g->city[c].industry[G_RIDER],
			           (int64_t)(1e7 * s * cities[c].weight / 100.0) + 100,
			           LEDGER__FUND_PURPOSE__SUBSIDY, "夏送清凉专项补助");
	if ((g->mon == 1 || g->mon == 4 || g->mon == 7 || g->mon == 10) && g->dom == 20)
		for (int c = 0; c < N_CITIES; c++)
			emit_funds(g, g->city[c].fed, g->province,
			           (int64_t)g->active_city[c] * 3 * 500 / 10,
			           LEDGER__FUND_PURPOSE__DUES_SHARE, "会费按比例上缴");
}

void emit_activity(gen *g, uint16_t oi, Ledger__ActivityKind kind, uint32_t people,
                   uint32_t enterprises, const char *title)
{
	org_ready(g, oi);
	Ledger__ActivityHeld *b = ev_begin(g, org_lane(g, oi), LEDGER__EVENT__BODY_ACTIVITY_HELD);
	b->has_kind = b->has_participants = 1;
	b->kind = kind;
	b->org_id = g->orgs[oi].id;
	b->participants = people;
	if (enterprises) {
		b->has_enterprises_reached = 1;
		b->enterprises_reached = enterprises;
	}
	b->title = ev_str(g, "%s", title);
	ev_end(g);
}

/* A service to non-members: quantity person-times, money in total. */
void emit_bulk_service(gen *g, uint16_t oi, Ledger__ServiceKind kind, uint32_t quantity,
                       int64_t fen, const station *s)
{
	org_ready(g, oi);
	Ledger__ServiceDelivered *b =
	    ev_begin(g, org_lane(g, oi), LEDGER__EVENT__BODY_SERVICE_DELIVERED);
	b->has_kind = 1;
	b->kind = kind;
	b->org_id = g->orgs[oi].id;
	b->has_quantity = 1;
	b->quantity = quantity ? quantity : 1;
	if (fen > 0) {
		b->has_amount_fen = 1;
		b->amount_fen = fen;
	}
	if (s)
		b->station_id = (char *)s->id;
	ev_end(g);
}

unsigned city_pick(gen *g)
{
	unsigned w[N_CITIES];
	for (int c = 0; c < N_CITIES; c++)
		w[c] = (unsigned)(cities[c].weight * city_pace[c] * 100 + 0.5);
	return rng_pick(&g->r, w, N_CITIES);
}

unsigned county_pick(gen *g, unsigned c)
{
	unsigned w[MAX_COUNTIES];
	for (unsigned k = 0; k < cities[c].ncounties; k++)
		w[k] = k == 0 ? 3 : 2;
	return rng_pick(&g->r, w, cities[c].ncounties);
}
