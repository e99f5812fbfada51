/*
 * life.c — the events of a member's life after the join: affiliations, profile
 * changes, dues and waivers, transfers, ends, corrections of earlier events,
 * and what is due for a member on a day.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gen.h"

/* --- the events of a member's life --------------------------------- */

static void emit_affiliated(gen *g, uint32_t mi, uint16_t oi, Ledger__AffiliationKind kind)
{
	org_ready(g, oi);
	Ledger__MemberAffiliated *b =
	    ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_MEMBER_AFFILIATED);
	b->member_id = member_id(g, mi);
	b->org_id = g->orgs[oi].id;
	b->has_kind = 1;
	b->kind = kind;
	ev_end(g);
	g->m[mi].aff = oi;
	g->m[mi].aff_kind = (uint8_t)kind;
}

void emit_disaffiliated(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	Ledger__MemberDisaffiliated *b =
	    ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_MEMBER_DISAFFILIATED);
	b->member_id = member_id(g, mi);
	b->org_id = g->orgs[m->aff].id;
	ev_end(g);
	m->aff = NO_ORG;
}

/* "Platform + residence": a member of a platform-side union registers with
 * the union where it lives too, and the other way round. */
static void do_affiliate(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	const org *home = &g->orgs[m->org];
	if (m->status != ST_ACTIVE || m->aff != NO_ORG)
		return;
	uint16_t target = NO_ORG;
	Ledger__AffiliationKind kind = LEDGER__AFFILIATION_KIND__RESIDENCE_AFFILIATION;
	if (home->kind == LEDGER__ORG_KIND__REGIONAL_UNION ||
	    home->kind == LEDGER__ORG_KIND__FEDERATION_COUNTY ||
	    home->kind == LEDGER__ORG_KIND__FEDERATION_CITY) {
		if (m->gi >= 0 && m->platform >= 0) {
			target = g->city[home_city(g, m)].platform[m->gi][m->platform];
			kind = LEDGER__AFFILIATION_KIND__PLATFORM_AFFILIATION;
		}
	} else {
		target = rng_chance(&g->r, 0.7)
		             ? g->city[m->city].regional[m->county][RL_STREET]
		             : g->city[m->city].regional[m->county][RL_COMMUNITY];
		if (g->orgs[target].closing)
			target = g->city[m->city].regional[m->county][RL_STREET];
	}
	if (target == NO_ORG || target == m->org)
		return;
	emit_affiliated(g, mi, target, kind);
	g->dual++;
}

static void emit_profile(gen *g, uint32_t mi, int group, int employment, const char *platform,
                         uint32_t region, int real_name)
{
	Ledger__ProfileChanged *b =
	    ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_PROFILE_CHANGED);
	b->member_id = member_id(g, mi);
	if (group) {
		b->has_worker_group = 1;
		b->worker_group = group;
	}
	if (employment) {
		b->has_employment = 1;
		b->employment = employment;
	}
	b->platform = (char *)platform;
	if (region) {
		b->has_region = 1;
		b->region = region;
	}
	if (real_name) {
		b->has_real_name = 1;
		b->real_name = 1;
	}
	ev_end(g);
}

static void emit_dues_paid(gen *g, uint32_t mi, uint32_t from, uint32_t to, int64_t fen,
                           uint8_t method, int additional, uint32_t *tk)
{
	Ledger__DuesPaid *b = ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_DUES_PAID);
	b->member_id = member_id(g, mi);
	b->has_amount_fen = b->has_period_from = b->has_period_to = b->has_method = 1;
	b->amount_fen = fen;
	b->period_from = from;
	b->period_to = to;
	b->method = method;
	b->has_additional = b->additional = additional != 0;
	if (tk)
		*tk = ev_ticket(g);
	ev_end(g);
}

static void emit_waiver(gen *g, uint32_t mi, uint32_t from, uint32_t to, Ledger__WaiverReason r)
{
	Ledger__DuesWaived *b = ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_DUES_WAIVED);
	b->member_id = member_id(g, mi);
	b->has_period_from = b->has_period_to = b->has_reason = 1;
	b->period_from = from;
	b->period_to = to;
	b->reason = r;
	ev_end(g);
	g->waivers++;
}

/* Day index of the first of month ym. */
static int32_t day_of_ym(const gen *g, uint32_t ym)
{
	return (int32_t)(days_from_civil(ym / 100, (int)(ym % 100), 1) - g->epoch_day0);
}

/* Dues: a payment for the months due (monthly payers pay arrears too), in
 * advance for quarterly and yearly payers; sometimes a waiver instead; now
 * and then a clerk's duplicate entry (voided) or wrong amount (amended). */
static void do_dues(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	uint32_t from = m->pay_next, to;
	if (m->exempt) { /* new members' first year free (policy) */
		to = ym_add(from, 11);
		emit_waiver(g, mi, from, to, LEDGER__WAIVER_REASON__POLICY_EXEMPTION);
		m->exempt = 0;
		m->pay_next = ym_add(to, 1);
		m->d_dues =
		    m->cadence ? day_of_ym(g, m->pay_next) + rng_range(&g->r, 0, 14) : NEVER;
		return;
	}
	if (!m->cadence) {
		m->d_dues = NEVER;
		return;
	}
	if (ym_diff(g->ym, from) > 11) /* older arrears are written off */
		from = ym_add(g->ym, -11);
	if (rng_chance(&g->r, 0.012)) {
		static const Ledger__WaiverReason reasons[] = {
		    LEDGER__WAIVER_REASON__HARDSHIP, LEDGER__WAIVER_REASON__UNEMPLOYED,
		    LEDGER__WAIVER_REASON__ILLNESS, LEDGER__WAIVER_REASON__OTHER_WAIVER};
		to = ym_add(from, rng_range(&g->r, 2, 5));
		emit_waiver(g, mi, from, to, reasons[ldc_rng_below(&g->r, 4)]);
	} else {
		if (m->cadence == 1)
			to = ym_diff(g->ym, from) > 0 ? g->ym : from;
		else
			to = ym_add(from, m->cadence - 1);
		int months = ym_diff(to, from) + 1;
		int64_t fen = (int64_t)months * m->fee;
		uint32_t x = ldc_rng_below(&g->r, 10000);
		if (m->cadence == 1 && x < 5 && !m->fix) {
			/* Ten times the amount: amended a few days later. */
			uint32_t t = 0;
			emit_dues_paid(g, mi, from, to, fen * 10, m->method, 0, &t);
			fixrec *f =
			    fix_new(g, mi, FIX_AMEND_DUES, g->today + rng_range(&g->r, 1, 7));
			f->ticket = t;
			f->from = from;
			f->to = to;
			f->fen = fen;
			f->method = m->method;
		} else {
			uint32_t t = 0;
			emit_dues_paid(g, mi, from, to, fen, m->method, 0, m->cadence > 1 ? &t : NULL);
			if (m->cadence > 1) {
				m->pay_ticket = t;
				m->last_pay_to = to;
				m->last_pay_fen = fen;
			}
			if (x >= 5 && x < 15 && !m->fix) {
				/* Entered twice, the copy as an additional payment (the
				 * ledger refuses a plain second payment of the same
				 * months): it is voided a few days later. */
				uint32_t t2 = 0;
				emit_dues_paid(g, mi, from, to, fen, m->method, 1, &t2);
				fixrec *f = fix_new(g, mi, FIX_VOID_DUES,
				                    g->today + rng_range(&g->r, 1, 5));
				f->ticket = t2;
			}
		}
	}
	m->pay_next = ym_add(to, 1);
	uint32_t next = m->pay_next;
	if (m->cadence == 1 && rng_chance(&g->r, 0.08))
		next = ym_add(next, 1); /* skips a month, pays both next time */
	m->d_dues = day_of_ym(g, next) + rng_range(&g->r, 0, 14);
}

static const char *const transfer_notes[] = {
    [LEDGER__TRANSFER_REASON__EMPLOYER_UNION_FOUNDED] = "用人单位建会，组织关系转入单位工会",
    [LEDGER__TRANSFER_REASON__CHANGED_EMPLOYER] = "更换用工单位",
    [LEDGER__TRANSFER_REASON__CHANGED_PLATFORM] = "更换接单平台",
    [LEDGER__TRANSFER_REASON__MOVED_REGION] = "工作地变更，跨市接转",
    [LEDGER__TRANSFER_REASON__CHANGED_OCCUPATION] = "从业类别变更",
    [LEDGER__TRANSFER_REASON__ORGANISATION_DISSOLVED] = "原工会撤销",
    [LEDGER__TRANSFER_REASON__ORGANISATION_MERGED] = "社区联合工会并入街道联合工会",
    [LEDGER__TRANSFER_REASON__OTHER_TRANSFER] = "其他原因接转",
};

static void emit_transfer(gen *g, uint32_t mi, uint16_t to, Ledger__TransferReason reason)
{
	member *m = &g->m[mi];
	org_ready(g, to);
	if (m->aff == to)
		emit_disaffiliated(g, mi); /* its union becomes its home */
	int mistake = rng_chance(&g->r, 0.002);
	Ledger__TransferReason recorded = reason;
	if (mistake)
		recorded = reason == LEDGER__TRANSFER_REASON__OTHER_TRANSFER
		               ? LEDGER__TRANSFER_REASON__CHANGED_EMPLOYER
		               : LEDGER__TRANSFER_REASON__OTHER_TRANSFER;
	Ledger__MemberTransferred *b =
	    ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_MEMBER_TRANSFERRED);
	b->member_id = member_id(g, mi);
	b->from_org = g->orgs[m->org].id;
	b->to_org = g->orgs[to].id;
	b->has_reason = 1;
	b->reason = recorded;
	b->note = (char *)transfer_notes[recorded];
	uint32_t t = mistake ? ev_ticket(g) : 0;
	ev_end(g);
	if (mistake) {
		fixrec *f = fix_new(g, mi, FIX_AMEND_TRANSFER, g->today + rng_range(&g->r, 2, 20));
		if (f) {
			f->ticket = t;
			f->org = m->org;
			f->org2 = to;
			f->reason = (uint8_t)reason;
		}
	}
	int cf = home_city(g, m);
	g->active_city[cf]--;
	m->org = to;
	g->active_city[home_city(g, m)]++;
	m->employer = NO_ORG;
	g->transfers++;
}

/*
 * A move to another city in two steps (PROTOCOL.md, "Transfers in two
 * steps"): the source city's clerk releases the member (TransferReleased,
 * 转出) and the destination's accepts it days or weeks later
 * (TransferAccepted naming the release's seq, 转入), when the member moves;
 * now and then the source withdraws it (the void of the release: the
 * member did not go), and those released in the window's last weeks are
 * still pending at its end (`ledgerctl transfers --pending`).
 */
#define TWO_STEP_SHARE  0.5  /* of the moves to another city */
#define WITHDRAWN_SHARE 0.08 /* of the releases */

static void emit_release(gen *g, uint32_t mi, uint16_t to, unsigned nc, unsigned nk)
{
	member *m = &g->m[mi];
	org_ready(g, to);
	Ledger__TransferReleased *b =
	    ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_TRANSFER_RELEASED);
	b->member_id = member_id(g, mi);
	b->from_org = g->orgs[m->org].id;
	b->to_org = g->orgs[to].id;
	b->has_reason = 1;
	b->reason = LEDGER__TRANSFER_REASON__MOVED_REGION;
	b->note = "工作地变更，开具转出，待转入地接收";
	m->rel_ticket = ev_ticket(g);
	ev_end(g);
	m->rel_to = to;
	m->rel_city = (uint8_t)nc;
	m->rel_county = (uint8_t)nk;
	m->rel_withdraw = (uint8_t)rng_chance(&g->r, WITHDRAWN_SHARE);
	m->d_accept = g->today + (rng_chance(&g->r, 0.15) ? rng_range(&g->r, 21, 60)
	                                                  : rng_range(&g->r, 1, 20));
	g->releases++;
}

/* The day a pending release is settled: accepted by the destination (the
 * member moves, as a direct transfer to another city moves them), or
 * withdrawn by the source (also when the destination stopped admitting
 * members meanwhile; one leaving a union being merged then goes with the
 * merge). */
static void do_accept(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	unsigned ln = member_lane(g, mi);
	uint32_t t = m->rel_ticket;
	uint16_t to = m->rel_to;
	m->d_accept = NEVER;
	if (!t || m->status != ST_ACTIVE)
		return;
	m->rel_ticket = 0;
	m->rel_to = NO_ORG;
	ticket_before(g, ln, t);
	if (m->rel_withdraw || g->orgs[to].closing) {
		Ledger__EventVoided *b = ev_begin(g, ln, LEDGER__EVENT__BODY_EVENT_VOIDED);
		b->has_target_seq = 1;
		ev_fixup(g, &b->target_seq, t);
		b->reason = "会员未到新工作地，撤回转出";
		ev_end(g);
		g->withdrawn++;
		if (g->orgs[m->org].closing)
			emit_transfer(g, mi, g->orgs[m->org].parent,
			              LEDGER__TRANSFER_REASON__ORGANISATION_MERGED);
		return;
	}
	if (m->aff != NO_ORG)
		emit_disaffiliated(g, mi); /* the residence union of the old place */
	Ledger__TransferAccepted *b = ev_begin(g, ln, LEDGER__EVENT__BODY_TRANSFER_ACCEPTED);
	b->member_id = member_id(g, mi);
	b->has_release_seq = 1;
	ev_fixup(g, &b->release_seq, t);
	b->from_org = g->orgs[m->org].id;
	b->to_org = g->orgs[to].id;
	b->has_reason = 1;
	b->reason = LEDGER__TRANSFER_REASON__MOVED_REGION;
	b->note = "转入地已接收，会员到新工作地报到";
	ev_end(g);
	g->active_city[home_city(g, m)]--;
	m->org = to;
	g->active_city[home_city(g, m)]++;
	m->employer = m->xfer_to = NO_ORG;
	m->xfer_reason = 0;
	m->city = m->rel_city;
	m->county = m->rel_county;
	g->transfers++;
	emit_profile(g, mi, 0, 0, NULL, cities[m->city].counties[m->county].code, 0);
	if (rng_chance(&g->r, 0.5))
		m->d_aff = g->today + rng_range(&g->r, 5, 60);
}

/* The union like m's home (platform, industry or regional) in city c. */
static uint16_t like_home_in(gen *g, const member *m, unsigned c, unsigned k)
{
	const org *h = &g->orgs[m->org];
	switch (h->kind) {
	case LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION:
	case LEDGER__ORG_KIND__AFFILIATED_ENTERPRISE_UNION:
		if (m->gi >= 0 && m->platform >= 0)
			return g->city[c].platform[m->gi][m->platform];
		break;
	case LEDGER__ORG_KIND__INDUSTRY_UNION:
	case LEDGER__ORG_KIND__ENTERPRISE_UNION:
		if (m->gi >= 0)
			return g->city[c].industry[m->gi];
		break;
	default:
		break;
	}
	return regional_pick(g, c, k);
}

/* A transfer: the membership follows the work relation (DOMAIN.md). */
static void do_transfer(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	if (m->rel_ticket && m->status == ST_ACTIVE) {
		/* Released, not yet accepted: no other transfer meanwhile (the
		 * ledger refuses it); a planned one waits. */
		m->d_xfer = m->d_accept + rng_range(&g->r, 1, 30);
		return;
	}
	Ledger__TransferReason reason = m->xfer_reason;
	uint16_t to = m->xfer_to;
	m->xfer_reason = 0;
	m->xfer_to = NO_ORG;
	if (m->status != ST_ACTIVE) {
		m->d_xfer = NEVER;
		return;
	}
	m->d_xfer = g->today + rng_exp_days(&g->r, 0.10);
	if (reason && to != NO_ORG && !g->orgs[to].closing && to != m->org) {
		emit_transfer(g, mi, to, reason);
		return;
	}
	static const unsigned w[] = {35, 25, 15, 15, 10};
	static const Ledger__TransferReason reasons[] = {
	    LEDGER__TRANSFER_REASON__MOVED_REGION, LEDGER__TRANSFER_REASON__CHANGED_PLATFORM,
	    LEDGER__TRANSFER_REASON__CHANGED_EMPLOYER, LEDGER__TRANSFER_REASON__CHANGED_OCCUPATION,
	    LEDGER__TRANSFER_REASON__OTHER_TRANSFER};
	reason = reasons[rng_pick(&g->r, w, 5)];
	unsigned c = home_city(g, m);
	if (reason == LEDGER__TRANSFER_REASON__CHANGED_PLATFORM &&
	    (m->gi < 0 || m->platform < 0 || groups[m->gi].nplatforms < 2))
		reason = LEDGER__TRANSFER_REASON__CHANGED_OCCUPATION;
	switch (reason) {
	case LEDGER__TRANSFER_REASON__MOVED_REGION: {
		unsigned nc = city_pick(g);
		if (nc == c)
			nc = (nc + 1 + ldc_rng_below(&g->r, N_CITIES - 1)) % N_CITIES;
		unsigned nk = county_pick(g, nc);
		to = like_home_in(g, m, nc, nk);
		if (to == m->org)
			return;
		if (rng_chance(&g->r, TWO_STEP_SHARE)) {
			emit_release(g, mi, to, nc, nk);
			return;
		}
		if (m->aff != NO_ORG)
			emit_disaffiliated(g, mi); /* the residence union of the old place */
		emit_transfer(g, mi, to, reason);
		m->city = (uint8_t)nc;
		m->county = (uint8_t)nk;
		emit_profile(g, mi, 0, 0, NULL, cities[nc].counties[nk].code, 0);
		if (rng_chance(&g->r, 0.5))
			m->d_aff = g->today + rng_range(&g->r, 5, 60);
		return;
	}
	case LEDGER__TRANSFER_REASON__CHANGED_PLATFORM: {
		int np =
		    (m->platform + 1 + (int)ldc_rng_below(&g->r, groups[m->gi].nplatforms - 1)) %
		    (int)groups[m->gi].nplatforms;
		to = g->city[c].platform[m->gi][np];
		if (m->aff != NO_ORG &&
		    m->aff_kind == LEDGER__AFFILIATION_KIND__PLATFORM_AFFILIATION)
			emit_disaffiliated(g, mi);
		emit_transfer(g, mi, to, reason);
		m->platform = (int8_t)np;
		emit_profile(g, mi, 0, 0, groups[m->gi].platforms[np].id, 0, 0);
		return;
	}
	case LEDGER__TRANSFER_REASON__CHANGED_EMPLOYER: {
		/* To a founded enterprise union of the city, else a franchise. */
		uint16_t cand[N_ENTERPRISES + 1];
		unsigned n = 0;
		for (int k = 0; k < N_ENTERPRISES; k++) {
			uint16_t e = g->city[c].enterprise[k];
			if (g->orgs[e].registered && e != m->org)
				cand[n++] = e;
		}
		uint16_t fr =
		    g->city[c].affiliated[ldc_rng_below(&g->r, cities[c].ncounties)][AF_FRANCHISE];
		if (fr != m->org)
			cand[n++] = fr;
		if (!n)
			return;
		to = cand[ldc_rng_below(&g->r, n)];
		int ngi = g->orgs[to].gi;
		emit_transfer(g, mi, to, reason);
		int group = 0, platform = -1;
		if (ngi != m->gi) {
			m->gi = (int8_t)ngi;
			m->group = groups[ngi].group;
			group = m->group;
			m->platform = g->orgs[to].platform >= 0 ? g->orgs[to].platform
			                                        : (int8_t)platform_pick(g, ngi);
			platform = m->platform;
		}
		int emp = 0;
		if (m->employment != LEDGER__EMPLOYMENT_RELATION__EMPLOYED) {
			m->employment = LEDGER__EMPLOYMENT_RELATION__EMPLOYED;
			emp = m->employment;
		}
		if (group || emp)
			emit_profile(g, mi, group, emp,
			             platform >= 0 ? groups[ngi].platforms[platform].id : NULL, 0,
			             0);
		return;
	}
	case LEDGER__TRANSFER_REASON__CHANGED_OCCUPATION: {
		int ngi = (int)ldc_rng_below(&g->r, N_MAIN_GROUPS);
		if (ngi == m->gi)
			ngi = (ngi + 1) % N_MAIN_GROUPS;
		to = g->city[c].industry[ngi];
		if (to == m->org)
			return;
		if (m->aff != NO_ORG &&
		    m->aff_kind == LEDGER__AFFILIATION_KIND__PLATFORM_AFFILIATION)
			emit_disaffiliated(g, mi);
		emit_transfer(g, mi, to, reason);
		m->gi = (int8_t)ngi;
		m->group = groups[ngi].group;
		m->platform = (int8_t)platform_pick(g, ngi);
		emit_profile(g, mi, m->group, 0, groups[ngi].platforms[m->platform].id, 0, 0);
		return;
	}
	default: { /* another union of the same place */
		to = regional_pick(g, c, m->county < cities[c].ncounties ? m->county : 0);
		if (to == m->org)
			to = m->gi >= 0 ? g->city[c].industry[m->gi] : g->city[c].county[0];
		if (to == m->org)
			return;
		emit_transfer(g, mi, to, reason);
		return;
	}
	}
}

/* The end of a membership; a prepaid year is partly refunded now and then;
 * some come back later. */
static void do_end(gen *g, uint32_t mi)
{
	static const unsigned w[] = {35, 35, 8, 2, 2, 18};
	static const Ledger__EndReason reasons[] = {
	    LEDGER__END_REASON__LEFT,     LEDGER__END_REASON__LEFT_SECTOR,
	    LEDGER__END_REASON__RETIRED,  LEDGER__END_REASON__DECEASED,
	    LEDGER__END_REASON__EXPELLED, LEDGER__END_REASON__OTHER_END};
	member *m = &g->m[mi];
	if (m->rel_ticket && m->status == ST_ACTIVE) {
		/* Released, not yet accepted: the ledger refuses an end meanwhile. */
		m->d_end = m->d_accept + rng_range(&g->r, 1, 30);
		return;
	}
	m->d_end = NEVER;
	if (m->status != ST_ACTIVE)
		return;
	Ledger__EndReason reason = reasons[rng_pick(&g->r, w, 6)];
	unsigned ln = member_lane(g, mi);
	Ledger__MembershipEnded *b = ev_begin(g, ln, LEDGER__EVENT__BODY_MEMBERSHIP_ENDED);
	b->member_id = member_id(g, mi);
	b->has_reason = 1;
	b->reason = reason;
	if (reason == LEDGER__END_REASON__LEFT_SECTOR)
		b->note = "不再从事新就业形态工作";
	ev_end(g);
	active_remove(g, mi);
	m->status = ST_ENDED;
	m->aff = NO_ORG;
	m->ends++;
	g->ends++;

	int unused = ym_diff(m->last_pay_to, g->ym);
	if (m->pay_ticket && unused > 0 && rng_chance(&g->r, 0.5)) {
		int64_t fen = (int64_t)unused * m->fee;
		if (fen > m->last_pay_fen)
			fen = m->last_pay_fen;
		ticket_before(g, ln, m->pay_ticket);
		Ledger__DuesRefunded *r = ev_begin(g, ln, LEDGER__EVENT__BODY_DUES_REFUNDED);
		r->member_id = member_id(g, mi);
		r->has_amount_fen = r->has_paid_seq = 1;
		r->amount_fen = fen;
		ev_fixup(g, &r->paid_seq, m->pay_ticket);
		r->note = "退会退还预缴会费";
		ev_end(g);
		m->pay_next = g->ym;
	}
	m->pay_ticket = 0;
	m->d_dues = m->d_xfer = m->d_aff = m->d_verify = NEVER;
	if (reason != LEDGER__END_REASON__DECEASED && reason != LEDGER__END_REASON__EXPELLED &&
	    reason != LEDGER__END_REASON__RETIRED && rng_chance(&g->r, 0.3))
		m->d_rejoin = g->today + rng_range(&g->r, 60, 400);
}

/* A correction of an earlier event of the member (PROTOCOL.md,
 * "Corrections"). */
static void do_fix(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	fixrec *f = &g->fixes[m->fix - 1];
	unsigned ln = member_lane(g, mi);
	m->fix = 0;
	m->d_fix = NEVER;
	ticket_before(g, ln, f->ticket);
	switch (f->kind) {
	case FIX_VOID_DUES:
	case FIX_VOID_SERVICE: {
		Ledger__EventVoided *b = ev_begin(g, ln, LEDGER__EVENT__BODY_EVENT_VOIDED);
		b->has_target_seq = 1;
		ev_fixup(g, &b->target_seq, f->ticket);
		b->reason = f->kind == FIX_VOID_DUES ? "会费重复录入，作废重复记录"
		                                     : "服务对象登记错误，作废";
		ev_end(g);
		return;
	}
	case FIX_AMEND_JOIN: {
		Ledger__EventAmended *b = ev_begin(g, ln, LEDGER__EVENT__BODY_EVENT_AMENDED);
		b->has_target_seq = 1;
		ev_fixup(g, &b->target_seq, f->ticket);
		b->reason = "入会登记信息更正（入会方式/实名认证）";
		Ledger__MemberJoined *j = ev_mem(g, sizeof(*j));
		ledger__member_joined__init(j);
		fill_joined(g, j, mi, f->org, f->path, f->channel, f->group, f->employment,
		            f->gi >= 0 && f->platform >= 0 ? groups[f->gi].platforms[f->platform].id
		                                           : NULL,
		            f->region, f->real_name);
		b->corrected_case = LEDGER__EVENT_AMENDED__CORRECTED_MEMBER_JOINED;
		b->member_joined = j;
		ev_end(g);
		return;
	}
	case FIX_AMEND_DUES: {
		Ledger__EventAmended *b = ev_begin(g, ln, LEDGER__EVENT__BODY_EVENT_AMENDED);
		b->has_target_seq = 1;
		ev_fixup(g, &b->target_seq, f->ticket);
		b->reason = "会费金额录入错误，更正";
		Ledger__DuesPaid *d = ev_mem(g, sizeof(*d));
		ledger__dues_paid__init(d);
		d->member_id = member_id(g, mi);
		d->has_amount_fen = d->has_period_from = d->has_period_to = d->has_method = 1;
		d->amount_fen = f->fen;
		d->period_from = f->from;
		d->period_to = f->to;
		d->method = f->method;
		b->corrected_case = LEDGER__EVENT_AMENDED__CORRECTED_DUES_PAID;
		b->dues_paid = d;
		ev_end(g);
		return;
	}
	case FIX_AMEND_TRANSFER: {
		Ledger__EventAmended *b = ev_begin(g, ln, LEDGER__EVENT__BODY_EVENT_AMENDED);
		b->has_target_seq = 1;
		ev_fixup(g, &b->target_seq, f->ticket);
		b->reason = "接转原因登记错误，更正";
		Ledger__MemberTransferred *t = ev_mem(g, sizeof(*t));
		ledger__member_transferred__init(t);
		t->member_id = member_id(g, mi);
		t->from_org = g->orgs[f->org].id;
		t->to_org = g->orgs[f->org2].id;
		t->has_reason = 1;
		t->reason = f->reason;
		t->note = (char *)transfer_notes[f->reason];
		b->corrected_case = LEDGER__EVENT_AMENDED__CORRECTED_MEMBER_TRANSFERRED;
		b->member_transferred = t;
		ev_end(g);
		return;
	}
	default:
		return;
	}
}

/* Everything due for member mi today, in a fixed order. */
void member_day(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	int32_t d = g->today;
	if (m->sched != d)
		return; /* an entry made stale by an earlier one */
	m->sched = NEVER;
	if (m->d_fix <= d)
		do_fix(g, mi);
	if (m->d_rejoin <= d) {
		m->d_rejoin = NEVER;
		if (m->status == ST_ENDED)
			member_rejoin(g, mi);
	}
	if (m->d_aff <= d) {
		m->d_aff = NEVER;
		do_affiliate(g, mi);
	}
	if (m->d_verify <= d) {
		m->d_verify = NEVER;
		if (m->status == ST_ACTIVE && !m->real_name) {
			emit_profile(g, mi, 0, 0, NULL, 0, 1);
			m->real_name = 1;
		}
	}
	if (m->d_dues <= d && m->status == ST_ACTIVE)
		do_dues(g, mi);
	if (m->d_accept <= d)
		do_accept(g, mi);
	if (m->d_xfer <= d)
		do_transfer(g, mi);
	if (m->d_end <= d)
		do_end(g, mi);
	schedule(g, mi);
}
