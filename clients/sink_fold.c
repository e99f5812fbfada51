/* sink_fold.c — member and organisation state: folds, rows, loading. See
 * sink_fold.h. */
#include "sink_fold.h"

#include <stdlib.h>
#include <string.h>

#define EN SINK_EN

/* Copies s into out (cap bytes), cutting at a UTF-8 boundary, as the
 * daemon's member view does. */
static void copy_str(char *out, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(out, s, n);
	out[n] = 0;
}

static void copy_val(char *out, size_t cap, const sink_val *v)
{
	copy_str(out, cap, v->t == SV_TEXT ? v->s : "");
}

static int64_t int_of(const sink_val *v)
{
	return v->t == SV_INT ? v->i : 0;
}

/* ================================================================== */
/* Members                                                              */
/* ================================================================== */

void sink_member_init(sink_member *m, const char *id)
{
	memset(m, 0, sizeof(*m));
	copy_str(m->id, sizeof(m->id), id);
}

void sink_member_release(sink_member *m)
{
	free(m->mships);
	free(m->affs);
	m->mships = NULL;
	m->affs = NULL;
	m->nmships = m->naffs = m->capm = m->capa = 0;
}

static sink_mship *mship_new(sink_member *m)
{
	if (m->nmships == m->capm) {
		size_t cap = m->capm ? m->capm * 2 : 2;
		sink_mship *p = realloc(m->mships, cap * sizeof(*p));
		if (!p)
			return NULL;
		m->mships = p;
		m->capm = cap;
	}
	sink_mship *x = &m->mships[m->nmships++];
	memset(x, 0, sizeof(*x));
	return x;
}

static sink_aff *aff_new(sink_member *m)
{
	if (m->naffs == m->capa) {
		size_t cap = m->capa ? m->capa * 2 : 4;
		sink_aff *p = realloc(m->affs, cap * sizeof(*p));
		if (!p)
			return NULL;
		m->affs = p;
		m->capa = cap;
	}
	sink_aff *x = &m->affs[m->naffs++];
	memset(x, 0, sizeof(*x));
	return x;
}

void sink_member_prune(sink_member *m)
{
	size_t k = 0;
	for (size_t i = 0; i < m->nmships; i++)
		if (!m->mships[i].ended || m->mships[i].dirty)
			m->mships[k++] = m->mships[i];
	m->nmships = k;
	k = 0;
	for (size_t i = 0; i < m->naffs; i++)
		if (!m->affs[i].ended || m->affs[i].dirty)
			m->affs[k++] = m->affs[i];
	m->naffs = k;
}

static sink_mship *open_mship(sink_member *m)
{
	for (size_t i = 0; i < m->nmships; i++)
		if (m->mships[i].seq == m->membership_seq && !m->mships[i].ended)
			return &m->mships[i];
	return NULL;
}

/* Ends the first open affiliation with org (every one: org NULL). */
static void affs_end(sink_member *m, const char *org, int64_t at)
{
	for (size_t i = 0; i < m->naffs; i++) {
		sink_aff *a = &m->affs[i];
		if (a->ended || (org && strcmp(a->org, org) != 0))
			continue;
		a->ended = 1;
		a->ended_at = at;
		a->dirty = 1;
		if (org)
			return;
	}
}

static uint32_t affs_open(const sink_member *m)
{
	uint32_t n = 0;
	for (size_t i = 0; i < m->naffs; i++)
		n += !m->affs[i].ended;
	return n;
}

void sink_member_from_row(sink_member *m, const sink_val *v)
{
	/* source, member_id, status, org_id, worker_group, employment, platform,
	 * region, real_name, join_path, channel, first_joined_at,
	 * last_joined_at, rejoins, ended_at, end_reason, transfers,
	 * dues_paid_through, dues_paid_fen, affiliations, membership_seq,
	 * version, last_seq */
	copy_val(m->id, sizeof(m->id), &v[1]);
	m->status = sink_enum_value(EN(member_status), &v[2]);
	copy_val(m->org, sizeof(m->org), &v[3]);
	m->group = sink_enum_value(EN(worker_group), &v[4]);
	m->employment = sink_enum_value(EN(employment_relation), &v[5]);
	copy_val(m->platform, sizeof(m->platform), &v[6]);
	m->region = (uint32_t)int_of(&v[7]);
	m->real_name = (int)int_of(&v[8]);
	m->path = sink_enum_value(EN(join_path), &v[9]);
	m->channel = sink_enum_value(EN(join_channel), &v[10]);
	m->first_joined = int_of(&v[11]);
	m->last_joined = int_of(&v[12]);
	m->rejoins = (uint32_t)int_of(&v[13]);
	m->ended_at = int_of(&v[14]);
	m->end_reason = sink_enum_value(EN(end_reason), &v[15]);
	m->transfers = (uint32_t)int_of(&v[16]);
	m->paid_through = (uint32_t)int_of(&v[17]);
	m->paid_fen = int_of(&v[18]);
	m->membership_seq = int_of(&v[20]);
	m->version = (uint64_t)int_of(&v[21]);
	m->last_seq = (uint64_t)int_of(&v[22]);
	m->stored = 1;
}

int sink_member_add_mship_row(sink_member *m, const sink_val *v)
{
	/* source, seq, member_id, org_id, last_org_id, joined_at, ended_at,
	 * end_reason, first_join, join_path, channel, worker_group, employment,
	 * region, real_name, transfers */
	sink_mship *x = mship_new(m);
	if (!x)
		return SINK_ERR;
	x->seq = int_of(&v[1]);
	copy_val(x->org, sizeof(x->org), &v[3]);
	copy_val(x->last_org, sizeof(x->last_org), &v[4]);
	x->joined_at = int_of(&v[5]);
	x->ended = v[6].t != SV_NULL;
	x->ended_at = int_of(&v[6]);
	x->end_reason = sink_enum_value(EN(end_reason), &v[7]);
	x->first_join = (int)int_of(&v[8]);
	x->path = sink_enum_value(EN(join_path), &v[9]);
	x->channel = sink_enum_value(EN(join_channel), &v[10]);
	x->group = sink_enum_value(EN(worker_group), &v[11]);
	x->employment = sink_enum_value(EN(employment_relation), &v[12]);
	x->region = (uint32_t)int_of(&v[13]);
	x->real_name = (int)int_of(&v[14]);
	x->transfers = (uint32_t)int_of(&v[15]);
	x->stored = 1;
	return 0;
}

int sink_member_add_aff_row(sink_member *m, const sink_val *v)
{
	/* source, seq, member_id, org_id, kind, started_at, ended_at */
	sink_aff *a = aff_new(m);
	if (!a)
		return SINK_ERR;
	a->seq = int_of(&v[1]);
	copy_val(a->org, sizeof(a->org), &v[3]);
	a->kind = sink_enum_value(EN(affiliation_kind), &v[4]);
	a->started_at = int_of(&v[5]);
	a->ended = v[6].t != SV_NULL;
	a->ended_at = int_of(&v[6]);
	a->stored = 1;
	return 0;
}

/* The step proper; refunded_in_full: a payment whose months do not count. */
static int step(sink_member *m, const Ledger__Event *ev, int refunded_in_full, const sink_emit *e)
{
	int64_t at = ev->occurred_at;
	int rc = sink_emit_fact(e, ev, m->org);
	if (rc)
		return rc;
	m->dirty = 1;
	m->version = ev->version;
	m->last_seq = ev->seq;
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_MEMBER_JOINED: {
		const Ledger__MemberJoined *j = ev->member_joined;
		int first = m->status == 0;
		if (first)
			m->first_joined = at;
		else if (m->status == LEDGER__MEMBER_STATUS__ENDED)
			m->rejoins++;
		m->status = LEDGER__MEMBER_STATUS__ACTIVE;
		copy_str(m->org, sizeof(m->org), j->org_id);
		m->group = (int)j->worker_group;
		m->employment = (int)j->employment;
		copy_str(m->platform, sizeof(m->platform), j->platform);
		m->region = j->region;
		m->real_name = j->real_name;
		m->path = (int)j->join_path;
		m->channel = (int)j->channel;
		m->last_joined = at;
		m->ended_at = 0;
		m->end_reason = 0;
		affs_end(m, NULL, at);
		sink_mship *x = mship_new(m);
		if (!x)
			return SINK_ERR;
		x->seq = (int64_t)ev->seq;
		copy_str(x->org, sizeof(x->org), j->org_id);
		copy_str(x->last_org, sizeof(x->last_org), j->org_id);
		x->joined_at = at;
		x->first_join = first;
		x->path = m->path;
		x->channel = m->channel;
		x->group = m->group;
		x->employment = m->employment;
		x->region = m->region;
		x->real_name = m->real_name;
		x->dirty = 1;
		m->membership_seq = x->seq;
		break;
	}
	case LEDGER__EVENT__BODY_MEMBER_AFFILIATED: {
		sink_aff *a = aff_new(m);
		if (!a)
			return SINK_ERR;
		a->seq = (int64_t)ev->seq;
		copy_str(a->org, sizeof(a->org), ev->member_affiliated->org_id);
		a->kind = (int)ev->member_affiliated->kind;
		a->started_at = at;
		a->dirty = 1;
		break;
	}
	case LEDGER__EVENT__BODY_MEMBER_DISAFFILIATED:
		affs_end(m, ev->member_disaffiliated->org_id, at);
		break;
	case LEDGER__EVENT__BODY_MEMBER_TRANSFERRED:
	case LEDGER__EVENT__BODY_TRANSFER_ACCEPTED: { /* a release moves no one */
		const char *to = ev->body_case == LEDGER__EVENT__BODY_TRANSFER_ACCEPTED
					 ? ev->transfer_accepted->to_org
					 : ev->member_transferred->to_org;
		sink_mship *x = open_mship(m);
		copy_str(m->org, sizeof(m->org), to);
		affs_end(m, to, at);
		m->transfers++;
		if (x) {
			copy_str(x->last_org, sizeof(x->last_org), to);
			x->transfers++;
			x->dirty = 1;
		}
		break;
	}
	case LEDGER__EVENT__BODY_MEMBERSHIP_ENDED: {
		sink_mship *x = open_mship(m);
		m->status = LEDGER__MEMBER_STATUS__ENDED;
		m->ended_at = at;
		m->end_reason = (int)ev->membership_ended->reason;
		affs_end(m, NULL, at);
		if (x) {
			x->ended = 1;
			x->ended_at = at;
			x->end_reason = m->end_reason;
			x->dirty = 1;
		}
		break;
	}
	case LEDGER__EVENT__BODY_PROFILE_CHANGED: {
		const Ledger__ProfileChanged *p = ev->profile_changed;
		if (p->has_worker_group)
			m->group = (int)p->worker_group;
		if (p->has_employment)
			m->employment = (int)p->employment;
		if (ld_has(p->platform))
			copy_str(m->platform, sizeof(m->platform), p->platform);
		if (p->has_region)
			m->region = p->region;
		if (p->has_real_name)
			m->real_name = p->real_name;
		break;
	}
	case LEDGER__EVENT__BODY_DUES_PAID:
		m->paid_fen += ev->dues_paid->amount_fen;
		if (!refunded_in_full && ev->dues_paid->period_to > m->paid_through)
			m->paid_through = ev->dues_paid->period_to;
		break;
	case LEDGER__EVENT__BODY_DUES_WAIVED: /* a waived month counts as settled */
		if (ev->dues_waived->period_to > m->paid_through)
			m->paid_through = ev->dues_waived->period_to;
		break;
	case LEDGER__EVENT__BODY_DUES_REFUNDED:
		m->paid_fen -= ev->dues_refunded->amount_fen;
		break;
	default:
		break; /* services, forgetting: the version moves */
	}
	return 0;
}

int sink_member_step(sink_member *m, const Ledger__Event *ev, const sink_emit *e)
{
	return step(m, ev, 0, e);
}

int sink_member_fold(sink_member *m, Ledger__Event *const *evs, size_t n, const sink_emit *e)
{
	/* Refunds per payment, then the fold with each payment's refunds
	 * known. */
	struct refund {
		uint64_t paid_seq;
		int64_t fen;
	} *r = NULL;
	size_t nr = 0, cap = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (evs[i]->body_case != LEDGER__EVENT__BODY_DUES_REFUNDED)
			continue;
		const Ledger__DuesRefunded *d = evs[i]->dues_refunded;
		size_t k = 0;
		while (k < nr && r[k].paid_seq != d->paid_seq)
			k++;
		if (k == nr) {
			if (nr == cap) {
				cap = cap ? cap * 2 : 8;
				struct refund *p = realloc(r, cap * sizeof(*r));
				if (!p) {
					free(r);
					return SINK_ERR;
				}
				r = p;
			}
			r[nr].paid_seq = d->paid_seq;
			r[nr++].fen = 0;
		}
		r[k].fen += d->amount_fen;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		int in_full = 0;
		if (evs[i]->body_case == LEDGER__EVENT__BODY_DUES_PAID)
			for (size_t k = 0; k < nr; k++)
				if (r[k].paid_seq == evs[i]->seq)
					in_full = r[k].fen >= evs[i]->dues_paid->amount_fen;
		rc = step(m, evs[i], in_full, e);
	}
	free(r);
	return rc;
}

int sink_member_write(sink_member *m, const sink_emit *e)
{
	sink_val v[SINK_MAX_COLS];
	int rc, ended = m->status == LEDGER__MEMBER_STATUS__ENDED;
	if (m->dirty && m->status) {
		v[0] = sink_text(e->source);
		v[1] = sink_text(m->id);
		v[2] = sink_enum(EN(member_status), 1, m->status);
		v[3] = sink_text(m->org);
		v[4] = sink_enum(EN(worker_group), m->group != 0, m->group);
		v[5] = sink_enum(EN(employment_relation), m->employment != 0, m->employment);
		v[6] = sink_text(m->platform);
		v[7] = sink_int(m->region);
		v[8] = sink_int(m->real_name != 0);
		v[9] = sink_enum(EN(join_path), m->path != 0, m->path);
		v[10] = sink_enum(EN(join_channel), m->channel != 0, m->channel);
		v[11] = sink_int(m->first_joined);
		v[12] = sink_int(m->last_joined);
		v[13] = sink_int(m->rejoins);
		v[14] = sink_opt(ended, m->ended_at);
		v[15] = sink_enum(EN(end_reason), ended && m->end_reason, m->end_reason);
		v[16] = sink_int(m->transfers);
		v[17] = sink_int(m->paid_through);
		v[18] = sink_int(m->paid_fen);
		v[19] = sink_int(affs_open(m));
		v[20] = sink_opt(m->membership_seq != 0, m->membership_seq);
		v[21] = sink_int((int64_t)m->version);
		v[22] = sink_int((int64_t)m->last_seq);
		if ((rc = e->row(e->arg, ST_MEMBERS, v, m->stored)))
			return rc;
		m->stored = 1;
	}
	m->dirty = 0;
	for (size_t i = 0; i < m->nmships; i++) {
		sink_mship *x = &m->mships[i];
		if (!x->dirty)
			continue;
		v[0] = sink_text(e->source);
		v[1] = sink_int(x->seq);
		v[2] = sink_text(m->id);
		v[3] = sink_text(x->org);
		v[4] = sink_text(x->last_org);
		v[5] = sink_int(x->joined_at);
		v[6] = sink_opt(x->ended, x->ended_at);
		v[7] = sink_enum(EN(end_reason), x->ended && x->end_reason, x->end_reason);
		v[8] = sink_int(x->first_join != 0);
		v[9] = sink_enum(EN(join_path), x->path != 0, x->path);
		v[10] = sink_enum(EN(join_channel), x->channel != 0, x->channel);
		v[11] = sink_enum(EN(worker_group), x->group != 0, x->group);
		v[12] = sink_enum(EN(employment_relation), x->employment != 0, x->employment);
		v[13] = sink_int(x->region);
		v[14] = sink_int(x->real_name != 0);
		v[15] = sink_int(x->transfers);
		if ((rc = e->row(e->arg, ST_MEMBERSHIPS, v, x->stored)))
			return rc;
		x->dirty = 0;
		x->stored = 1;
	}
	for (size_t i = 0; i < m->naffs; i++) {
		sink_aff *a = &m->affs[i];
		if (!a->dirty)
			continue;
		v[0] = sink_text(e->source);
		v[1] = sink_int(a->seq);
		v[2] = sink_text(m->id);
		v[3] = sink_text(a->org);
		v[4] = sink_enum(EN(affiliation_kind), a->kind != 0, a->kind);
		v[5] = sink_int(a->started_at);
		v[6] = sink_opt(a->ended, a->ended_at);
		if ((rc = e->row(e->arg, ST_AFFILIATIONS, v, a->stored)))
			return rc;
		a->dirty = 0;
		a->stored = 1;
	}
	return 0;
}

/* ================================================================== */
/* Organisations                                                        */
/* ================================================================== */

void sink_org_from_row(sink_org *o, const sink_val *v)
{
	/* source, org_id, name, kind, parent_id, depth, region, city,
	 * worker_group, regional_level, platform, admits_members, legal_person,
	 * legal_person_code, fund_account, reelected_at, term_years,
	 * registered_at, dissolved_at, dissolve_reason, merged_into, seq,
	 * last_seq */
	memset(o, 0, sizeof(*o));
	copy_val(o->id, sizeof(o->id), &v[1]);
	copy_val(o->name, sizeof(o->name), &v[2]);
	o->kind = sink_enum_value(EN(org_kind), &v[3]);
	copy_val(o->parent, sizeof(o->parent), &v[4]);
	o->depth = int_of(&v[5]);
	o->region = (uint32_t)int_of(&v[6]);
	o->has_group = v[8].t != SV_NULL;
	o->group = sink_enum_value(EN(worker_group), &v[8]);
	o->has_level = v[9].t != SV_NULL;
	o->level = sink_enum_value(EN(regional_level), &v[9]);
	copy_val(o->platform, sizeof(o->platform), &v[10]);
	o->admits_members = (int)int_of(&v[11]);
	o->has_legal_person = v[12].t != SV_NULL;
	o->legal_person = (int)int_of(&v[12]);
	copy_val(o->legal_person_code, sizeof(o->legal_person_code), &v[13]);
	copy_val(o->fund_account, sizeof(o->fund_account), &v[14]);
	o->has_reelected = v[15].t != SV_NULL;
	o->reelected_at = int_of(&v[15]);
	o->has_term = v[16].t != SV_NULL;
	o->term_years = (uint32_t)int_of(&v[16]);
	o->registered_at = int_of(&v[17]);
	o->dissolved = v[18].t != SV_NULL;
	o->dissolved_at = int_of(&v[18]);
	o->dissolve_reason = sink_enum_value(EN(dissolve_reason), &v[19]);
	copy_val(o->merged_into, sizeof(o->merged_into), &v[20]);
	o->seq = int_of(&v[21]);
	o->last_seq = int_of(&v[22]);
}

void sink_org_step(sink_org *o, const Ledger__Event *ev, int64_t depth)
{
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_ORG_REGISTERED: {
		const Ledger__OrgRegistered *r = ev->org_registered;
		char id[SINK_ID_LEN];
		copy_str(id, sizeof(id), r->org_id);
		memset(o, 0, sizeof(*o));
		memcpy(o->id, id, sizeof(id));
		copy_str(o->name, sizeof(o->name), r->name);
		o->kind = (int)r->kind;
		copy_str(o->parent, sizeof(o->parent), r->parent_id);
		o->depth = depth;
		o->region = r->region;
		o->has_group = r->has_worker_group;
		o->group = (int)r->worker_group;
		o->has_level = r->has_regional_level;
		o->level = (int)r->regional_level;
		copy_str(o->platform, sizeof(o->platform), r->platform);
		o->admits_members = r->admits_members; /* true unless set: the .proto's default */
		o->registered_at = ev->occurred_at;
		o->seq = (int64_t)ev->seq;
		break;
	}
	case LEDGER__EVENT__BODY_ORG_UPDATED: {
		const Ledger__OrgUpdated *u = ev->org_updated;
		if (ld_has(u->name))
			copy_str(o->name, sizeof(o->name), u->name);
		if (u->has_legal_person) {
			o->has_legal_person = 1;
			o->legal_person = u->legal_person;
		}
		if (ld_has(u->legal_person_code))
			copy_str(o->legal_person_code, sizeof(o->legal_person_code),
			         u->legal_person_code);
		if (ld_has(u->fund_account))
			copy_str(o->fund_account, sizeof(o->fund_account), u->fund_account);
		if (u->has_reelected_at) {
			o->has_reelected = 1;
			o->reelected_at = u->reelected_at;
		}
		if (u->has_term_years) {
			o->has_term = 1;
			o->term_years = u->term_years;
		}
		if (u->has_admits_members)
			o->admits_members = u->admits_members;
		break;
	}
	case LEDGER__EVENT__BODY_ORG_DISSOLVED: {
		const Ledger__OrgDissolved *d = ev->org_dissolved;
		o->dissolved = 1;
		o->dissolved_at = ev->occurred_at;
		o->dissolve_reason = (int)d->reason;
		copy_str(o->merged_into, sizeof(o->merged_into), d->merged_into);
		break;
	}
	default:
		return;
	}
	o->last_seq = (int64_t)ev->seq;
}

int sink_org_write(const sink_org *o, const sink_emit *e)
{
	sink_val v[SINK_MAX_COLS];
	v[0] = sink_text(e->source);
	v[1] = sink_text(o->id);
	v[2] = sink_text(o->name);
	v[3] = sink_enum(EN(org_kind), o->kind != 0, o->kind);
	v[4] = sink_text(o->parent);
	v[5] = sink_int(o->depth);
	v[6] = sink_int(o->region);
	v[7] = sink_int(o->region / 100 * 100);
	v[8] = sink_enum(EN(worker_group), o->has_group, o->group);
	v[9] = sink_enum(EN(regional_level), o->has_level, o->level);
	v[10] = sink_text(o->platform);
	v[11] = sink_int(o->admits_members != 0);
	v[12] = sink_opt(o->has_legal_person, o->legal_person != 0);
	v[13] = sink_text(o->legal_person_code);
	v[14] = sink_text(o->fund_account);
	v[15] = sink_opt(o->has_reelected, o->reelected_at);
	v[16] = sink_opt(o->has_term, o->term_years);
	v[17] = sink_int(o->registered_at);
	v[18] = sink_opt(o->dissolved, o->dissolved_at);
	v[19] =
	    sink_enum(EN(dissolve_reason), o->dissolved && o->dissolve_reason, o->dissolve_reason);
	v[20] = sink_text(o->merged_into);
	v[21] = sink_int(o->seq);
	v[22] = sink_int(o->last_seq);
	return e->row(e->arg, ST_ORGANISATIONS, v, 1);
}
