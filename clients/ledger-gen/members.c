/*
 * members.c — new members: synthetic national ids and person hashes, where a
 * member joins by its path, its profile and dues habits, the join itself and
 * a rejoin after an end.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gen.h"
#include "identity.h"
#include "i18n.h"

/* ------------------------------------------------------------------ */
/* Members                                                             */
/* ------------------------------------------------------------------ */

void schedule(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	int32_t d = m->d_dues;
	int32_t all[] = {m->d_xfer,   m->d_end, m->d_rejoin, m->d_aff,
	                 m->d_verify, m->d_fix, m->d_accept};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i] < d)
			d = all[i];
	if (d <= g->today)
		d = g->today + 1;
	if (d >= g->ndays || d >= m->sched)
		return;
	dayvec *v = &g->days[d];
	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 16;
		v->v = xrealloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->n++] = mi;
	m->sched = d;
}

void active_add(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	m->active_pos = g->nactive;
	g->active[g->nactive++] = mi;
	g->active_city[g->orgs[m->org].city >= 0 ? g->orgs[m->org].city : m->city]++;
}

void active_remove(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	uint32_t last = g->active[--g->nactive];
	g->active[m->active_pos] = last;
	g->m[last].active_pos = m->active_pos;
	g->active_city[g->orgs[m->org].city >= 0 ? g->orgs[m->org].city : m->city]--;
}

/* The city of a member's home organisation (its residence for the
 * province federation). */
unsigned home_city(const gen *g, const member *m)
{
	int c = g->orgs[m->org].city;
	return c >= 0 ? (unsigned)c : m->city;
}

/* A synthetic 18-digit resident id: birthplace, birth date 1966–2006,
 * sequence, check character (ld_national_id_make). Member i of a run gets
 * the image of i under a bijection of the id space, so ids never repeat
 * within a run (nor, for fewer than 2^21 members, between runs of different
 * seeds). */
static void national_id(const gen *g, uint32_t mi, char out[19])
{
	uint64_t x = ((g->seed << 21) + mi) % g->id_space;
	uint64_t p = (uint64_t)(((unsigned __int128)x * g->id_mult + g->id_add) % g->id_space);
	uint32_t place = g->birthplaces[p % g->nbirthplaces];
	p /= g->nbirthplaces;
	int64_t day = days_from_civil(1966, 1, 1) + (int64_t)(p % 14975);
	p /= 14975;
	int y, mo, d;
	civil_from_days(day, &y, &mo, &d);
	ld_national_id_make(place, y, mo, d, (unsigned)(p % 1000), out);
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

void ids_init(gen *g)
{
	g->id_space = (uint64_t)g->nbirthplaces * 14975 * 1000;
	rng r;
	ldc_rng_seed(&r, g->seed ^ 0x1d5eedULL);
	g->id_mult = 2654435761ULL + ldc_rng_next(&r) % 1000003;
	while (gcd64(g->id_mult, g->id_space) != 1)
		g->id_mult++;
	g->id_add = ldc_rng_next(&r) % g->id_space;
}

/* The national ID of member mi, sent as is: the ledger hashes it. */
static char *person_id(gen *g, uint32_t mi)
{
	char *id = ev_mem(g, 19);
	if (g->counting) { /* pass 1 counts events: any valid ID will do */
		memcpy(id, "110101198001010010", 19);
		return id;
	}
	national_id(g, mi, id);
	return id;
}

static const char *platform_name(const member *m)
{
	return m->gi >= 0 && m->platform >= 0 ? groups[m->gi].platforms[m->platform].id : NULL;
}

/* A regional union of county k of city c at a level drawn by weight; the
 * street union if the one drawn is closing. */
uint16_t regional_pick(gen *g, unsigned c, unsigned k)
{
	unsigned w[N_REGIONAL];
	for (int i = 0; i < N_REGIONAL; i++)
		w[i] = regional_defs[i].weight;
	uint16_t oi = g->city[c].regional[k][rng_pick(&g->r, w, N_REGIONAL)];
	if (g->orgs[oi].closing)
		oi = g->city[c].regional[k][RL_STREET];
	return oi;
}

int platform_pick(gen *g, int gi)
{
	unsigned w[MAX_PLATFORMS];
	for (unsigned p = 0; p < groups[gi].nplatforms; p++)
		w[p] = groups[gi].platforms[p].weight;
	return (int)rng_pick(&g->r, w, groups[gi].nplatforms);
}

/* An enterprise union of city c for group gi, or NO_ORG. */
static uint16_t enterprise_of(const gen *g, unsigned c, int gi)
{
	for (int k = 0; k < N_ENTERPRISES; k++)
		if (enterprise_defs[k].group == gi)
			return g->city[c].enterprise[k];
	return NO_ORG;
}

/* Where a member of city c, county k joins by its path (DOMAIN.md, "Join
 * paths"); may set m->employer (a union still to be founded). */
static uint16_t home_pick(gen *g, member *m, unsigned c, unsigned k)
{
	const city_orgs *co = &g->city[c];
	int gi = m->gi;
	uint32_t x = ldc_rng_below(&g->r, 100);
	if (gi < 0) /* care workers, domestic workers, …: the catch-all */
		return x < 70 ? regional_pick(g, c, k) : x < 90 ? co->county[k] : co->fed;
	switch (m->path) {
	case LEDGER__JOIN_PATH__PLATFORM_WORK:
		if (x < 55)
			return co->platform[gi][m->platform];
		if (x < 80)
			return co->industry[gi];
		if (x < 95)
			return regional_pick(g, c, k);
		if (gi == G_COURIER && m->platform == 1)
			return co->affiliated[k][AF_FRANCHISE];
		if (gi == G_RIDER && m->platform == 0)
			return co->affiliated[k][AF_AGENT];
		return co->platform[gi][m->platform];
	case LEDGER__JOIN_PATH__LABOUR_RELATION: {
		uint16_t e = enterprise_of(g, c, gi);
		if (gi == G_COURIER && m->platform == 1 && x < 50)
			return co->affiliated[k][AF_FRANCHISE];
		if (e != NO_ORG && x < 60) {
			if (g->orgs[e].registered)
				return e;
			m->employer = e; /* transferred once the union is founded */
		}
		return rng_chance(&g->r, 0.5) ? co->industry[gi] : regional_pick(g, c, k);
	}
	default: /* dispatched */
		if (gi == G_RIDER && x < 30)
			return co->affiliated[k][AF_AGENT];
		return x < 65 ? regional_pick(g, c, k) : co->industry[gi];
	}
}

/* Draws a member's group (gi >= 0: that main group; KEEP_GROUP: the one it
 * has; DRAW_GROUP: any, the eight groups included), path (0: drawn),
 * employment and platform (platform >= 0: that one). */
static void profile_pick(gen *g, member *m, int gi, int platform, int path)
{
	if (gi >= 0) {
		m->gi = (int8_t)gi;
	} else if (gi == DRAW_GROUP) {
		unsigned w[N_MAIN_GROUPS + N_OTHER_GROUPS];
		for (int i = 0; i < N_MAIN_GROUPS; i++)
			w[i] = groups[i].weight;
		for (size_t i = 0; i < N_OTHER_GROUPS; i++)
			w[N_MAIN_GROUPS + i] = other_groups[i].weight;
		unsigned i = rng_pick(&g->r, w, N_MAIN_GROUPS + N_OTHER_GROUPS);
		m->gi = (int8_t)(i < N_MAIN_GROUPS ? (int)i : -1);
		if (i >= N_MAIN_GROUPS)
			m->group = other_groups[i - N_MAIN_GROUPS].group;
	}
	if (m->gi >= 0)
		m->group = groups[m->gi].group;
	uint32_t x = ldc_rng_below(&g->r, 100);
	if (path)
		m->path = (uint8_t)path;
	else if (m->gi >= 0)
		m->path = x < 65   ? LEDGER__JOIN_PATH__PLATFORM_WORK
		          : x < 88 ? LEDGER__JOIN_PATH__LABOUR_RELATION
		                   : LEDGER__JOIN_PATH__DISPATCHED;
	else
		m->path = x < 30   ? LEDGER__JOIN_PATH__PLATFORM_WORK
		          : x < 80 ? LEDGER__JOIN_PATH__LABOUR_RELATION
		                   : LEDGER__JOIN_PATH__DISPATCHED;
	switch (m->path) {
	case LEDGER__JOIN_PATH__PLATFORM_WORK:
		m->employment = rng_chance(&g->r, 0.55)
		                    ? LEDGER__EMPLOYMENT_RELATION__PARTIAL
		                    : LEDGER__EMPLOYMENT_RELATION__SELF_EMPLOYED;
		break;
	case LEDGER__JOIN_PATH__LABOUR_RELATION:
		m->employment = LEDGER__EMPLOYMENT_RELATION__EMPLOYED;
		break;
	default:
		m->employment = LEDGER__EMPLOYMENT_RELATION__DISPATCHED_LABOUR;
		break;
	}
	m->platform = -1;
	if (m->gi >= 0)
		m->platform = (int8_t)(platform >= 0 ? platform : platform_pick(g, m->gi));
}

/* Dues habits of a new member. */
static void dues_pick(gen *g, member *m)
{
	static const uint16_t fees[] = {200, 300, 500, 500, 500, 800, 1000, 1500, 2000};
	/* --monthly-dues moves members between monthly and yearly payment. */
	const unsigned cad_w[] = {g->monthly_dues, 12,
	                          DEFAULT_YEARLY + DEFAULT_MONTHLY - g->monthly_dues, 15};
	static const uint8_t cad[] = {1, 3, 12, 0};
	m->cadence = cad[rng_pick(&g->r, cad_w, 4)];
	m->fee = fees[ldc_rng_below(&g->r, sizeof(fees) / sizeof(fees[0]))];
	uint32_t x = ldc_rng_below(&g->r, 100);
	if (m->cadence == 1)
		m->method = m->employment == LEDGER__EMPLOYMENT_RELATION__EMPLOYED && x < 50
		                ? LEDGER__PAYMENT_METHOD__PAYROLL_DEDUCTION
		            : x < 40 ? LEDGER__PAYMENT_METHOD__PLATFORM_DEDUCTION
		            : x < 75 ? LEDGER__PAYMENT_METHOD__WECHAT_PAY
		                     : LEDGER__PAYMENT_METHOD__ALIPAY;
	else
		m->method = x < 35   ? LEDGER__PAYMENT_METHOD__WECHAT_PAY
		            : x < 60 ? LEDGER__PAYMENT_METHOD__ALIPAY
		            : x < 85 ? LEDGER__PAYMENT_METHOD__BANK_TRANSFER
		                     : LEDGER__PAYMENT_METHOD__CASH;
	m->exempt = rng_chance(&g->r, 0.08);
}

fixrec *fix_new(gen *g, uint32_t mi, uint8_t kind, int32_t day)
{
	member *m = &g->m[mi];
	if (m->fix)
		return NULL;
	if (g->nfixes == g->capfixes) {
		g->capfixes = g->capfixes ? 2 * g->capfixes : 64;
		g->fixes = xrealloc(g->fixes, g->capfixes * sizeof(*g->fixes));
	}
	fixrec *f = &g->fixes[g->nfixes++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	m->fix = (uint32_t)g->nfixes;
	m->d_fix = day;
	return f;
}

/* The MemberJoined body of member mi with the given values. */
void fill_joined(gen *g, Ledger__MemberJoined *b, uint32_t mi, uint16_t oi, uint8_t path,
                 uint8_t channel, uint8_t group, uint8_t employment, const char *platform,
                 uint32_t region, uint8_t real_name)
{
	b->member_id = member_id(g, mi);
	b->org_id = g->orgs[oi].id;
	b->has_join_path = b->has_channel = b->has_worker_group = b->has_employment = 1;
	b->join_path = path;
	b->channel = channel;
	b->worker_group = group;
	b->employment = employment;
	b->platform = (char *)platform;
	b->has_region = b->has_real_name = 1;
	b->region = region;
	b->real_name = real_name;
	b->national_id = person_id(g, mi);
}

static void emit_join(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	uint32_t region = cities[m->city].counties[m->county].code;
	uint32_t ln = member_lane(g, mi);
	org_ready(g, m->org);
	/* A clerk's mistake now and then, amended a few days later: the
	 * channel, or the real-name check that was done but not ticked. */
	int mistake = rng_chance(&g->r, 0.002);
	uint8_t channel = m->channel, real_name = m->real_name;
	if (mistake) {
		if (m->real_name && rng_chance(&g->r, 0.5))
			real_name = 0;
		else
			channel = (uint8_t)(channel % 5 + 1);
	}
	Ledger__MemberJoined *b = ev_begin(g, ln, LEDGER__EVENT__BODY_MEMBER_JOINED);
	fill_joined(g, b, mi, m->org, m->path, channel, m->group, m->employment, platform_name(m),
	            region, real_name);
	uint32_t t = mistake ? ev_ticket(g) : 0;
	ev_end(g);
	if (mistake) {
		fixrec *f = fix_new(g, mi, FIX_AMEND_JOIN, g->today + rng_range(&g->r, 1, 10));
		if (f) {
			f->ticket = t;
			f->org = m->org;
			f->path = m->path;
			f->channel = m->channel;
			f->group = m->group;
			f->employment = m->employment;
			f->gi = m->gi;
			f->platform = m->platform;
			f->region = region;
			f->real_name = m->real_name;
		}
	}
}

/* Join channel of an individual join. */
uint8_t individual_channel(gen *g)
{
	return rng_chance(&g->r, 0.79) ? LEDGER__JOIN_CHANNEL__ONLINE
	                               : LEDGER__JOIN_CHANNEL__MOBILE_WINDOW;
}

/* A new member's first schedule: dues, dual affiliation, verification,
 * transfer and end (rates from DOMAIN.md: ~10% transfers and ~3% ends a
 * year). */
static void first_schedule(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	int32_t d = g->today;
	m->d_dues = m->cadence || m->exempt ? d + rng_range(&g->r, 0, 10) : NEVER;
	m->d_aff = rng_chance(&g->r, 0.21) ? d + rng_range(&g->r, 1, 30) : NEVER;
	m->d_verify =
	    !m->real_name && rng_chance(&g->r, 0.35) ? d + rng_range(&g->r, 7, 180) : NEVER;
	m->d_xfer = d + rng_exp_days(&g->r, 0.10);
	m->d_end = d + rng_exp_days(&g->r, 0.03);
	m->d_rejoin = NEVER;
}

/* A new member joins today. */
void member_new(gen *g, const join_spec *js)
{
	uint32_t mi = g->created++;
	member *m = &g->m[mi];
	memset(m, 0, sizeof(*m));
	m->sched = NEVER;
	m->d_fix = m->d_accept = NEVER;
	m->aff = m->employer = m->xfer_to = m->rel_to = NO_ORG;
	m->city = (uint8_t)(js->city >= 0 ? (unsigned)js->city : city_pick(g));
	m->county = (uint8_t)county_pick(g, m->city);
	profile_pick(g, m, js->gi, js->platform, js->path);
	m->org = js->org != NO_ORG ? js->org : home_pick(g, m, m->city, m->county);
	m->channel = js->channel;
	m->real_name = rng_chance(&g->r, 0.78);
	m->status = ST_ACTIVE;
	m->pay_next = g->ym;
	dues_pick(g, m);
	emit_join(g, mi);
	active_add(g, mi);
	g->joins_new++;
	first_schedule(g, mi);
	schedule(g, mi);
}

/* An ended member joins again, with the same member id (PROTOCOL.md). */
void member_rejoin(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	m->employer = m->xfer_to = NO_ORG;
	m->xfer_reason = 0;
	profile_pick(g, m, KEEP_GROUP, -1, 0);
	m->org = home_pick(g, m, m->city, m->county);
	m->channel = individual_channel(g);
	m->status = ST_ACTIVE;
	if (ym_diff(m->pay_next, g->ym) < 0)
		m->pay_next = g->ym;
	m->exempt = 0;
	emit_join(g, mi);
	active_add(g, mi);
	g->joins_again++;
	first_schedule(g, mi);
}
