/* model.c — the write model's invariants. See model.h; the state is
 * mstate.h's. */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kinds.h"
#include "mstate.h"

/* The model of t's store, and whether t is the writer's (a view). */
static model *model_of(store_txn *t)
{
	return store_model(store_txn_store(t));
}

static const model_view *view_of(store_txn *t)
{
	return store_txn_view(t);
}

/* ================================================================== */
/* Member state, as the fold steps see it                              */
/* ================================================================== */

typedef struct member_state {
	uint8_t status, naff, forgotten;
	uint8_t hash[LD_HASH_LEN];
	uint32_t org; /* org record, MT_NONE */
	uint32_t since_s, joined_s; /* mmember's */
	char unknown_org[LD_ID_MAX + 1]; /* the id, when org is MT_NONE */
	uint32_t aff[MAX_AFF];
	uint32_t aff_at[MAX_AFF]; /* when each affiliation began (s) */
	uint8_t aff_kind[MAX_AFF];
	/* A pending release (TransferReleased not yet accepted): its seq (0:
	 * none), destination (org record) and reason. member_get gives only
	 * the seq (the model keeps no more: pending_load reads the rest from
	 * the release); a fold sets all three. */
	uint64_t pending;
	uint32_t pending_to;
	uint32_t pending_at; /* the release's occurred_at (s) */
	int pending_reason;
} member_state;

static void member_get(const model *m, uint32_t rec, member_state *s)
{
	memset(s, 0, sizeof(*s));
	s->org = MT_NONE;
	s->pending_to = MT_NONE;
	if (rec == MT_NONE)
		return;
	const mmember *mm = ms_member(m, rec);
	s->status = mm->status;
	s->naff = mm->naff;
	s->forgotten = mm->forgotten;
	memcpy(s->hash, mm->hash, LD_HASH_LEN);
	s->org = mm->org;
	s->since_s = mm->since_s;
	s->joined_s = mm->joined_s;
	s->pending_to = MT_NONE;
	mmap64_get(&m->pending, (uint64_t)rec + 1, &s->pending);
	if (mm->aff != MT_NONE)
		for (int i = 0; i < mm->naff; i++) {
			s->aff[i] = ms_aff(m, mm->aff)->org[i];
			s->aff_kind[i] = ms_aff(m, mm->aff)->kind[i];
			s->aff_at[i] = ms_aff(m, mm->aff)->at[i];
		}
}

/* The name of the member's organisation. */
static const char *state_org(const model *m, const member_state *s, char out[LD_ID_MAX + 1])
{
	if (s->org == MT_NONE)
		return s->unknown_org;
	return ms_org_name(m, s->org, out);
}

/*
 * ERR_NOT_ACTIVE for an event that needs an active membership (what: " to
 * transfer", " to end" or ""). A member who left is told apart from one
 * who never joined and the clerk told what readmits them. The id once: with
 * it a third time (in the history command) ids of 45 characters and more
 * cut the sentence at ld_errinfo's 256 bytes, and a cut one is no longer
 * translated (clients/servertext.c); now at most 246 with ids of 63.
 */
static int not_active(const model *m, const member_state *s, const char *id,
		      const char *field, const char *what, ld_errinfo *e)
{
	char org[LD_ID_MAX + 1];
	const char *last = state_org(m, s, org);
	if (s->status != MEMBER_ENDED)
		return ld_errinfo_set(e, LD_E(NOT_ACTIVE), field,
				      "member '%s' has no active membership%s", id, what);
	return ld_errinfo_set(e, LD_E(NOT_ACTIVE), field,
			      "member '%s' has no active membership%s: it ended%s%s%s "
			      "('ledgerctl history' says when); a new join readmits them",
			      id, what, *last ? " in '" : "", last, *last ? "'" : "");
}

static int has_aff(const member_state *s, uint32_t org)
{
	for (int i = 0; i < s->naff; i++)
		if (s->aff[i] == org)
			return 1;
	return 0;
}

/* Adds to an organisation's counters. */
static int org_adjust(model *m, uint32_t org, int members, int affiliated, int children)
{
	if (org == MT_NONE)
		return LD_E(INTERNAL);
	morg *o = ms_touch(m, MA_ORGS, org);
	o->members += (uint32_t)members;
	o->affiliated += (uint32_t)affiliated;
	o->children += (uint32_t)children;
	return 0;
}

/* The member record of stream *stream (member `id`, its name's hash or 0),
 * made with the stream if there is none yet. */
static int member_rec(model *m, const char *id, uint64_t hash, uint32_t *stream, uint32_t *rec)
{
	if (*stream == MT_NONE) {
		int rc = ms_stream_add(m, MS_MEMBER, id, strlen(id), hash, stream);
		if (rc)
			return rc;
	}
	*rec = ms_stream(m, *stream)->state;
	return 0;
}

/*
 * Writes the change of member rec from `old` to `new`: the record, the
 * persons index, and the counters of the organisations it leaves and enters.
 */
static int member_save(model *m, uint32_t rec, const member_state *old, const member_state *new)
{
	int rc = 0;
	int was = old->status == MEMBER_ACTIVE, is = new->status == MEMBER_ACTIVE;

	if (was && (!is || old->org != new->org))
		rc = org_adjust(m, old->org, -1, 0, 0);
	if (!rc && is && (!was || old->org != new->org))
		rc = org_adjust(m, new->org, +1, 0, 0);
	for (int i = 0; !rc && was && i < old->naff; i++)
		if (!is || !has_aff(new, old->aff[i]))
			rc = org_adjust(m, old->aff[i], 0, -1, 0);
	for (int i = 0; !rc && is && i < new->naff; i++)
		if (!was || !has_aff(old, new->aff[i]))
			rc = org_adjust(m, new->aff[i], 0, +1, 0);
	if (rc)
		return rc;

	int hash_changed = memcmp(old->hash, new->hash, LD_HASH_LEN) != 0;
	if (old->status != MEMBER_NONE && (new->status == MEMBER_NONE || hash_changed))
		if ((rc = ms_person_remove(m, rec)))
			return rc;
	int affs_changed = old->naff != new->naff;
	for (int i = 0; !affs_changed && i < new->naff; i++)
		affs_changed = old->aff[i] != new->aff[i] || old->aff_kind[i] != new->aff_kind[i] ||
			       old->aff_at[i] != new->aff_at[i];
	if (affs_changed && new->naff) {
		maff *a;
		if ((rc = ms_aff_copy(m, rec, &a)))
			return rc;
		for (int i = 0; i < new->naff; i++) {
			a->org[i] = new->aff[i];
			a->kind[i] = new->aff_kind[i];
			a->at[i] = new->aff_at[i];
		}
	}
	if (old->pending != new->pending &&
	    (rc = new->pending ? ms_map_put(m, &m->pending, (uint64_t)rec + 1, new->pending)
			       : ms_map_del(m, &m->pending, (uint64_t)rec + 1)))
		return rc;
	mmember *mm = ms_touch(m, MA_MEMBERS, rec);
	mm->status = new->status;
	mm->naff = new->naff;
	__atomic_store_n(&mm->forgotten, new->forgotten, __ATOMIC_RELAXED);
	memcpy(mm->hash, new->hash, LD_HASH_LEN);
	__atomic_store_n(&mm->org, new->org, __ATOMIC_RELAXED);
	mm->since_s = new->since_s;
	mm->joined_s = new->joined_s;
	if (new->status != MEMBER_NONE && (old->status == MEMBER_NONE || hash_changed))
		if ((rc = ms_person_add(m, rec)))
			return rc;
	return 0;
}

/* ================================================================== */
/* Checks on organisations                                             */
/* ================================================================== */

/* The organisation exists and is not dissolved: its record into *o. */
static int org_live(model *m, const char *id, const char *field, uint32_t *o, ld_errinfo *e)
{
	*o = ms_org_find(m, id);
	if (*o == MT_NONE)
		return ld_errinfo_set(e, LD_E(NOT_FOUND), field, "organisation '%s' not found", id);
	if (ms_org(m, *o)->dissolved)
		return ld_errinfo_set(e, LD_E(ORG_DISSOLVED), field,
				      "organisation '%s' is dissolved", id);
	return 0;
}

/* The organisation exists, is not dissolved and admits members. */
static int org_admits(model *m, const char *id, const char *field, ld_errinfo *e)
{
	uint32_t o;
	int rc = org_live(m, id, field, &o, e);
	if (rc)
		return rc;
	if (!ms_org(m, o)->admits)
		return ld_errinfo_set(e, LD_E(ORG_CLOSED), field,
				      "organisation '%s' does not admit members", id);
	return 0;
}

#define KIND(k) (1u << LEDGER__ORG_KIND__##k)
#define FEDERATIONS (KIND(FEDERATION_PROVINCE) | KIND(FEDERATION_CITY) | KIND(FEDERATION_COUNTY))

/* Which kinds of organisation each kind may sit under. */
static const unsigned parent_kinds[] = {
	[LEDGER__ORG_KIND__FEDERATION_PROVINCE] = 0,
	[LEDGER__ORG_KIND__FEDERATION_CITY] = KIND(FEDERATION_PROVINCE),
	[LEDGER__ORG_KIND__FEDERATION_COUNTY] = KIND(FEDERATION_CITY),
	[LEDGER__ORG_KIND__INDUSTRY_UNION] = FEDERATIONS,
	[LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION] = FEDERATIONS | KIND(INDUSTRY_UNION),
	[LEDGER__ORG_KIND__AFFILIATED_ENTERPRISE_UNION] =
		FEDERATIONS | KIND(INDUSTRY_UNION) | KIND(PLATFORM_ENTERPRISE_UNION),
	[LEDGER__ORG_KIND__ENTERPRISE_UNION] =
		FEDERATIONS | KIND(INDUSTRY_UNION) | KIND(REGIONAL_UNION),
	[LEDGER__ORG_KIND__REGIONAL_UNION] =
		KIND(FEDERATION_CITY) | KIND(FEDERATION_COUNTY) | KIND(REGIONAL_UNION),
};

static const char *kind_name(unsigned kind)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&ledger__org_kind__descriptor, (int)kind);
	return v ? v->name : "?";
}

/* A region contains another if the child lies in its province (xx0000),
 * city (xxxx00) or is the same county. */
static int region_contains(uint32_t parent, uint32_t child)
{
	if (parent % 10000 == 0)
		return parent / 10000 == child / 10000;
	if (parent % 100 == 0)
		return parent / 100 == child / 100;
	return parent == child;
}

static int check_org_registered(model *m, const Ledger__OrgRegistered *r, ld_errinfo *e)
{
	uint32_t p;
	int rc;
	if (ms_org_find(m, r->org_id) != MT_NONE)
		return ld_errinfo_set(e, LD_E(ALREADY_EXISTS), "org_registered.org_id",
				      "organisation '%s' is already registered", r->org_id);
	unsigned kind = (unsigned)r->kind;
	if (r->has_regional_level && kind != LEDGER__ORG_KIND__REGIONAL_UNION)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "org_registered.regional_level",
				      "regional_level is only for REGIONAL_UNION, not %s",
				      kind_name(kind));
	if (kind == LEDGER__ORG_KIND__FEDERATION_PROVINCE && r->region % 10000 != 0)
		return ld_errinfo_set(e, LD_E(HIERARCHY), "org_registered.region",
				      "a province federation needs a province code (xx0000), "
				      "not %u",
				      r->region);
	if (kind == LEDGER__ORG_KIND__FEDERATION_CITY &&
	    (r->region % 100 != 0 || r->region % 10000 == 0))
		return ld_errinfo_set(e, LD_E(HIERARCHY), "org_registered.region",
				      "a city federation needs a city code (xxxx00), not %u",
				      r->region);
	if (kind == LEDGER__ORG_KIND__FEDERATION_COUNTY && r->region % 100 == 0)
		return ld_errinfo_set(e, LD_E(HIERARCHY), "org_registered.region",
				      "a county federation needs a county code, not %u", r->region);

	if (!ld_has(r->parent_id)) {
		if (kind != LEDGER__ORG_KIND__FEDERATION_PROVINCE)
			return ld_errinfo_set(e, LD_E(HIERARCHY), "org_registered.parent_id",
					      "a %s needs a parent organisation", kind_name(kind));
		return 0;
	}
	if (kind == LEDGER__ORG_KIND__FEDERATION_PROVINCE)
		return ld_errinfo_set(e, LD_E(HIERARCHY), "org_registered.parent_id",
				      "a province federation is a root and has no parent");
	if ((rc = org_live(m, r->parent_id, "org_registered.parent_id", &p, e)))
		return rc == LD_E(NOT_FOUND) || rc == LD_E(ORG_DISSOLVED)
			       ? ld_errinfo_set(e, LD_E(HIERARCHY), "org_registered.parent_id",
						"parent organisation '%s' %s", r->parent_id,
						rc == LD_E(NOT_FOUND) ? "not found"
								      : "is dissolved")
			       : rc;
	const morg *po = ms_org(m, p);
	if (kind >= sizeof(parent_kinds) / sizeof(parent_kinds[0]) ||
	    !(parent_kinds[kind] & (1u << po->kind)))
		return ld_errinfo_set(e, LD_E(HIERARCHY), "org_registered.parent_id",
				      "a %s cannot sit under '%s', a %s", kind_name(kind),
				      r->parent_id, kind_name(po->kind));
	if (!region_contains(po->region, r->region))
		return ld_errinfo_set(e, LD_E(HIERARCHY), "org_registered.region",
				      "region %u lies outside region %u of parent '%s'", r->region,
				      po->region, r->parent_id);
	return 0;
}

/* ================================================================== */
/* Members: one fold step                                              */
/* ================================================================== */

/* CHECK_ORGS: the organisations the event enters must admit members;
 * CHECK_DATES: the event is not dated before what it follows began (see
 * DATED_GRACE_S), never while the log is replayed (model_replaying) nor on
 * a follower (check_dates): a log older than the rule may hold such an
 * event, and still loads. */
enum { CHECK_ORGS = 1, CHECK_DATES = 2 };

/* A field path for messages: "<kind>.<field>". */
static const char *path_of(char out[96], const ld_kind *k, const char *field)
{
	snprintf(out, 96, "%s.%s", k->name, field);
	return out;
}

/* The organisations a member enters with ev (proto/kinds.c: LD_ORG_ENTERS)
 * exist, are not dissolved and admit members. */
static int orgs_admit(model *m, const Ledger__Event *ev, ld_errinfo *e)
{
	ld_org_ref orgs[LD_KIND_MAX_ORGS];
	size_t n = ld_event_orgs(ev, LD_ORG_ENTERS, orgs);
	for (size_t i = 0; i < n; i++) {
		int rc = org_admits(m, orgs[i].id, orgs[i].path, e);
		if (rc)
			return rc;
	}
	return 0;
}

/* The organisations ev names that must be live (LD_ORG_LIVE) are. */
static int orgs_live(model *m, const Ledger__Event *ev, ld_errinfo *e)
{
	ld_org_ref orgs[LD_KIND_MAX_ORGS];
	uint32_t o;
	size_t n = ld_event_orgs(ev, LD_ORG_LIVE, orgs);
	for (size_t i = 0; i < n; i++) {
		int rc = org_live(m, orgs[i].id, orgs[i].path, &o, e);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Events dated against the member's own timeline. A transfer or an end
 * dated before the placement it leaves began (the join, rejoin or transfer
 * into the member's organisation), a rejoin dated before the end it
 * follows, an affiliation, disaffiliation or profile change dated before
 * the membership began, a disaffiliation before the affiliation it ends
 * (maff.at keeps when each began): a history no auditor can believe ("moved from A to
 * B a year before joining A"), which the coverage at a date and the
 * analysts' SQL (docs/SINK.md) then count in two places or none. Money and
 * services are not dated against it: dues may be paid ahead of a join or
 * recorded long after, and services go to non-members too.
 *
 * The times are occurred_at's seconds; an event is refused only when it is
 * dated a whole day (DATED_GRACE_S) or more before the start, so that a day
 * given without a time (`--at 2026-03-02` is its midnight) never goes
 * against a join recorded later that day at "now". The times in the
 * message are UTC ("2024-03-01T16:00:00Z"); clients show them in the
 * ledger's time zone (clients/servertext.c).
 */
#define DATED_GRACE_S 86400

/* Seconds of occurred_at (0 when absent) and that time, as UTC. */
static uint32_t at_s(const Ledger__Event *ev)
{
	int64_t s = ev->has_occurred_at && ev->occurred_at > 0 ? ev->occurred_at / 1000000 : 0;
	return s > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

static const char *utc_time(uint32_t s, char out[32])
{
	struct tm tm;
	time_t t = (time_t)s;
	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "%lu", (unsigned long)s);
	return out;
}

/* Whether t applies events decided already: at start (model_replaying)
 * and on a follower (model_view.decided). A rule younger than the log (the
 * dates, a month paid once, ...) is not applied to them again: a log that
 * holds events older than the rule, caught up by a new node or sent by a
 * leader not yet upgraded, would otherwise halt the node. */
static int decided_already(store_txn *t)
{
	const model_view *v = view_of(t);
	return model_of(t)->replaying || (v && v->decided);
}

/* CHECK_DATES, or 0 where the events were decided already. */
static int check_dates(store_txn *t)
{
	return decided_already(t) ? 0 : CHECK_DATES;
}

/* Whether an event at `at` is dated a day or more before `start`. */
static int dated_before(uint32_t at, uint32_t start)
{
	return at && start && (uint64_t)at + DATED_GRACE_S <= start;
}

/* The join of member `id`, whose state is *s. */
static int join_step(model *m, member_state *s, const char *id, const Ledger__MemberJoined *j,
		     uint32_t at, int flags, ld_errinfo *e)
{
	char org[LD_ID_MAX + 1], when[32], start[32];
	/* The server reads a national ID into person_hash before the writer
	 * (core/pii.h); a join that reaches here without one was not. */
	if (!j->has_person_hash || j->person_hash.len != LD_HASH_LEN)
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), "member_joined.person_hash",
				      "member_joined.person_hash is required (the server makes it "
				      "from national_id)");
	if (s->status == MEMBER_ACTIVE)
		return ld_errinfo_set(e, LD_E(ALREADY_MEMBER), "member_joined.member_id",
				      "member '%s' is already active in '%s' "
				      "(join once, transfer dynamically)",
				      id, state_org(m, s, org));
	if (s->status == MEMBER_ENDED && memcmp(s->hash, j->person_hash.data, LD_HASH_LEN))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "member_joined.person_hash",
				      "member '%s' was registered for another person "
				      "(person_hash differs)",
				      id);
	if (s->status == MEMBER_ENDED && (flags & CHECK_DATES) && dated_before(at, s->since_s))
		return ld_errinfo_set(e, LD_E(INVALID_STATE), "occurred_at",
				      "the rejoin is dated %s, before the membership of "
				      "member '%s' in '%s' ended on %s",
				      utc_time(at, when), id, state_org(m, s, org),
				      utc_time(s->since_s, start));
	uint32_t p = ms_person_find(m, j->person_hash.data);
	if (p != MT_NONE) {
		char other[LD_ID_MAX + 1];
		ms_name(m, ms_member(m, p)->stream, other);
		if (strcmp(other, id) != 0) {
			const mmember *om = ms_member(m, p);
			if (om->status == MEMBER_ACTIVE)
				return ld_errinfo_set(e, LD_E(ALREADY_MEMBER),
						      "member_joined.person_hash",
						      "this person is already an active member as "
						      "'%s' in '%s' (one per person: transfer it, or "
						      "release it there and accept it here)",
						      other, ms_org_name(m, om->org, org));
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "member_joined.person_hash",
					      "this person is registered as member '%s'; rejoin "
					      "as '%s'",
					      other, other);
		}
	}
	s->status = MEMBER_ACTIVE;
	s->since_s = s->joined_s = at;
	memcpy(s->hash, j->person_hash.data, LD_HASH_LEN);
	if ((s->org = ms_org_find(m, j->org_id)) == MT_NONE)
		snprintf(s->unknown_org, sizeof(s->unknown_org), "%s", j->org_id);
	s->naff = 0;
	return 0;
}

/* The org record of id, for a member's state (the event's checks name the
 * unknown ones; orgs_admit runs after). */
static uint32_t org_of(const model *m, const char *id)
{
	return ms_org_find(m, id);
}

static const char *reason_name(int reason)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&ledger__transfer_reason__descriptor, reason);
	return v ? v->name : "?";
}

/* ERR_INVALID_STATE for what a pending release keeps from happening (what:
 * "released", "transferred", "ended"): the clerk is told which release
 * waits and what settles it. At most 255 bytes with ids of 63 and a seq of
 * 20 digits (ld_errinfo; a cut sentence is not translated, servertext.c):
 * the source (the member's organisation) and a second seq do not fit. */
static int pending_refusal(const model *m, const member_state *s, const char *id,
			   const char *field, const char *what, ld_errinfo *e)
{
	char to[LD_ID_MAX + 1] = "?";
	if (s->pending_to != MT_NONE)
		ms_org_name(m, s->pending_to, to);
	return ld_errinfo_set(e, LD_E(INVALID_STATE), field,
			      "member '%s' cannot be %s while release seq %llu to '%s' is pending "
			      "(accepted there, or voided by its source)",
			      id, what, (unsigned long long)s->pending, to);
}

/* The release of a member's pending transfer into *s: its destination and
 * reason, from the event (the model keeps only its seq). */
static int pending_load(store_txn *t, member_state *s)
{
	Ledger__Event *rel;
	if (!s->pending)
		return 0;
	int rc = model_load_event(t, s->pending, &rel);
	if (rc)
		return rc == LD_E(NOT_FOUND) ? LD_E(STORAGE) : rc;
	if (rel->body_case == LEDGER__EVENT__BODY_TRANSFER_RELEASED) {
		s->pending_to = org_of(model_of(t), rel->transfer_released->to_org);
		s->pending_reason = (int)rel->transfer_released->reason;
		s->pending_at = at_s(rel);
	} else {
		rc = LD_E(STORAGE); /* the model names a seq that is no release */
	}
	codec_event_free(rel);
	return rc;
}

/* The acceptance of member `id`'s pending release (*s, with pending_load's
 * details): it names that release and repeats it. */
static int accept_check(const model *m, const member_state *s, const char *id,
			const Ledger__TransferAccepted *a, ld_errinfo *e)
{
	char org[LD_ID_MAX + 1], to[LD_ID_MAX + 1] = "?";
	unsigned long long want = (unsigned long long)a->release_seq;
	if (s->status != MEMBER_ACTIVE)
		return not_active(m, s, id, "transfer_accepted.member_id", " to accept a transfer",
				  e);
	if (!s->pending)
		return ld_errinfo_set(e, LD_E(INVALID_STATE), "transfer_accepted.release_seq",
				      "member '%s' has no pending release to accept: seq %llu is "
				      "not one waiting (withdrawn, accepted already, or not a "
				      "release of this member: 'ledgerctl history')",
				      id, want);
	if (s->pending_to != MT_NONE)
		ms_org_name(m, s->pending_to, to);
	if (s->pending != a->release_seq)
		return ld_errinfo_set(e, LD_E(INVALID_STATE), "transfer_accepted.release_seq",
				      "member '%s' has pending release seq %llu (to '%s'), not "
				      "seq %llu",
				      id, (unsigned long long)s->pending, to, want);
	if (s->pending_to == MT_NONE || s->pending_to != org_of(m, a->to_org))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "transfer_accepted.to_org",
				      "release seq %llu of member '%s' is to '%s', not to '%s'",
				      want, id, to, a->to_org);
	if (s->org == MT_NONE || s->org != org_of(m, a->from_org))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "transfer_accepted.from_org",
				      "release seq %llu of member '%s' is from '%s', not '%s'",
				      want, id, state_org(m, s, org), a->from_org);
	if ((int)a->reason != s->pending_reason)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "transfer_accepted.reason",
				      "release seq %llu of member '%s' gives the reason %s, not %s",
				      want, id, reason_name(s->pending_reason),
				      reason_name((int)a->reason));
	return 0;
}

/* Affiliation i ends: the last takes its place (organisation, kind, date). */
static void aff_remove(member_state *s, int i)
{
	s->aff[i] = s->aff[s->naff - 1];
	s->aff_kind[i] = s->aff_kind[s->naff - 1];
	s->aff_at[i] = s->aff_at[s->naff - 1];
	s->naff--;
}

/* The member moves into organisation `to` (a transfer, an accepted
 * release): an affiliation with it is dropped, as it became the home. */
static void member_move(member_state *s, uint32_t to, const char *to_name)
{
	if ((s->org = to) == MT_NONE)
		snprintf(s->unknown_org, sizeof(s->unknown_org), "%s", to_name);
	for (int i = 0; to != MT_NONE && i < s->naff; i++)
		if (s->aff[i] == to) {
			aff_remove(s, i);
			break;
		}
}

/* ERR_INVALID_STATE when flags ask for the dates and `at` lies a day or
 * more before the member's current placement began (what: "transfer",
 * "release", "acceptance", "end"); else 0. */
static int placement_dated(const model *m, const member_state *s, const char *id,
			   const char *what, uint32_t at, int flags, ld_errinfo *e)
{
	char when[32], start[32], org[LD_ID_MAX + 1];
	if (!(flags & CHECK_DATES) || !dated_before(at, s->since_s))
		return 0;
	return ld_errinfo_set(e, LD_E(INVALID_STATE), "occurred_at",
			      "the %s is dated %s, before the membership of member '%s' in '%s' "
			      "began on %s",
			      what, utc_time(at, when), id, state_org(m, s, org),
			      utc_time(s->since_s, start));
}

/* The same against the join (what: "affiliation", "disaffiliation",
 * "profile change"). */
static int join_dated(const member_state *s, const char *id, const char *what, uint32_t at,
		      int flags, ld_errinfo *e)
{
	char when[32], start[32];
	if (!(flags & CHECK_DATES) || !dated_before(at, s->joined_s))
		return 0;
	return ld_errinfo_set(e, LD_E(INVALID_STATE), "occurred_at",
			      "the %s is dated %s, before member '%s' joined on %s ('ledgerctl "
			      "history' lists its dates)",
			      what, utc_time(at, when), id, utc_time(s->joined_s, start));
}

/*
 * Applies one member event, seq `seq`, to *s (the state of `id`; a pending
 * release's details as pending_load gives them). With CHECK_ORGS the
 * organisations it enters must be live and admit members; a re-fold after a
 * correction skips that for past events (they were checked when recorded)
 * and checks only the final state. On an error *s may be half changed: the
 * caller drops it.
 */
static int member_step(model *m, member_state *s, const char *id, const Ledger__Event *ev,
		       uint64_t seq, int flags, ld_errinfo *e)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	char field[96], org[LD_ID_MAX + 1], when[32], start[32];
	uint32_t at = at_s(ev);
	int rc = 0;

	/* Nothing personal is recorded for a forgotten member any more. */
	if (s->forgotten && ld_field_set(&k->sealed, ld_kind_body(k, ev)))
		return ld_errinfo_set(e, LD_E(ALREADY_FORGOTTEN), path_of(field, k, "name"),
				      "member '%s' was forgotten: no personal data is "
				      "recorded for them any more",
				      id);
	/* Every member event but a join needs a member. */
	if (ev->body_case != LEDGER__EVENT__BODY_MEMBER_JOINED && s->status == MEMBER_NONE)
		return ld_errinfo_set(e, LD_E(NOT_FOUND), k->member.path, "member '%s' not found",
				      id);

	/* The write model's fold of a member: a case for each kind that
	 * changes its state or has a rule of its own. Dues and services only
	 * need the member to exist. */
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_MEMBER_JOINED:
		rc = join_step(m, s, id, ev->member_joined, at, flags, e);
		break;
	case LEDGER__EVENT__BODY_MEMBER_AFFILIATED: {
		const Ledger__MemberAffiliated *a = ev->member_affiliated;
		uint32_t o = org_of(m, a->org_id);
		if (s->status != MEMBER_ACTIVE)
			return not_active(m, s, id, "member_affiliated.member_id", "", e);
		if ((rc = join_dated(s, id, "affiliation", at, flags, e)))
			return rc;
		if (o != MT_NONE && (s->org == o || has_aff(s, o)))
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "member_affiliated.org_id",
					      "member '%s' already belongs to '%s'", id, a->org_id);
		if (s->naff == MAX_AFF)
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "member_affiliated.org_id",
					      "member '%s' already has %d affiliations", id,
					      MAX_AFF);
		s->aff_kind[s->naff] = (uint8_t)a->kind;
		s->aff[s->naff] = o;
		s->aff_at[s->naff] = at;
		s->naff++;
		break;
	}
	case LEDGER__EVENT__BODY_MEMBER_DISAFFILIATED: {
		const char *name = ev->member_disaffiliated->org_id;
		uint32_t o = org_of(m, name);
		int i = 0;
		while (i < s->naff && (o == MT_NONE || s->aff[i] != o))
			i++;
		if (i == s->naff)
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "member_disaffiliated.org_id",
					      "member '%s' is not affiliated with '%s'", id, name);
		if ((rc = join_dated(s, id, "disaffiliation", at, flags, e)))
			return rc;
		/* ... nor before the affiliation it ends. */
		if ((flags & CHECK_DATES) && dated_before(at, s->aff_at[i]))
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "occurred_at",
					      "the disaffiliation is dated %s, before member '%s' "
					      "was affiliated with '%s' on %s",
					      utc_time(at, when), id, name,
					      utc_time(s->aff_at[i], start));
		aff_remove(s, i);
		break;
	}
	case LEDGER__EVENT__BODY_MEMBER_TRANSFERRED: {
		const Ledger__MemberTransferred *x = ev->member_transferred;
		uint32_t from = org_of(m, x->from_org), to = org_of(m, x->to_org);
		if (s->status != MEMBER_ACTIVE)
			return not_active(m, s, id, "member_transferred.member_id",
					  " to transfer", e);
		if (from == MT_NONE || s->org != from)
			return ld_errinfo_set(e, LD_E(INVALID_STATE),
					      "member_transferred.from_org",
					      "member '%s' is in '%s', not in '%s'", id,
					      state_org(m, s, org), x->from_org);
		if (s->pending)
			return pending_refusal(m, s, id, "member_transferred.member_id",
					       "transferred", e);
		if ((rc = placement_dated(m, s, id, "transfer", at, flags, e)))
			return rc;
		s->since_s = at;
		member_move(s, to, x->to_org);
		break;
	}
	case LEDGER__EVENT__BODY_TRANSFER_RELEASED: {
		const Ledger__TransferReleased *x = ev->transfer_released;
		uint32_t from = org_of(m, x->from_org);
		if (s->status != MEMBER_ACTIVE)
			return not_active(m, s, id, "transfer_released.member_id", " to release",
					  e);
		if (from == MT_NONE || s->org != from)
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "transfer_released.from_org",
					      "member '%s' is in '%s', not in '%s'", id,
					      state_org(m, s, org), x->from_org);
		if (s->pending)
			return pending_refusal(m, s, id, "transfer_released.member_id",
					       "released", e);
		if ((rc = placement_dated(m, s, id, "release", at, flags, e)))
			return rc;
		s->pending = seq;
		s->pending_to = org_of(m, x->to_org);
		s->pending_reason = (int)x->reason;
		s->pending_at = at;
		break;
	}
	case LEDGER__EVENT__BODY_TRANSFER_ACCEPTED: {
		const Ledger__TransferAccepted *x = ev->transfer_accepted;
		if ((rc = accept_check(m, s, id, x, e)))
			return rc;
		if ((rc = placement_dated(m, s, id, "acceptance", at, flags, e)))
			return rc;
		/* ... nor before the release it accepts (the member would move
		 * before being released: the transfers at a date count it). */
		if ((flags & CHECK_DATES) && dated_before(at, s->pending_at))
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "occurred_at",
					      "the acceptance is dated %s, before release seq %llu "
					      "of member '%s' on %s",
					      utc_time(at, when), (unsigned long long)s->pending, id,
					      utc_time(s->pending_at, start));
		s->since_s = at;
		member_move(s, s->pending_to, x->to_org);
		s->pending = 0;
		s->pending_to = MT_NONE;
		s->pending_reason = 0;
		s->pending_at = 0;
		break;
	}
	case LEDGER__EVENT__BODY_MEMBERSHIP_ENDED:
		if (s->status != MEMBER_ACTIVE)
			return not_active(m, s, id, "membership_ended.member_id", " to end", e);
		if (s->pending)
			return pending_refusal(m, s, id, "membership_ended.member_id", "ended", e);
		if ((rc = placement_dated(m, s, id, "end", at, flags, e)))
			return rc;
		s->since_s = at;
		s->status = MEMBER_ENDED;
		s->naff = 0;
		break;
	case LEDGER__EVENT__BODY_PROFILE_CHANGED:
		if ((rc = join_dated(s, id, "profile change", at, flags, e)))
			return rc;
		break;
	case LEDGER__EVENT__BODY_MEMBER_FORGOTTEN:
		if (s->forgotten)
			return ld_errinfo_set(e, LD_E(ALREADY_FORGOTTEN),
					      "member_forgotten.member_id",
					      "member '%s' was already forgotten", id);
		s->forgotten = 1;
		break;
	default:
		break;
	}
	if (rc || !(flags & CHECK_ORGS))
		return rc;
	return orgs_admit(m, ev, e);
}

/* ================================================================== */
/* Events, links and corrections as the transaction sees them          */
/* ================================================================== */

/* Event seq as t sees it: decoded by the writer's view (*ev), or (*ev
 * NULL) its stored bytes (*val). 0 or an error as model_load_event's. */
static int event_at(store_txn *t, uint64_t seq, Ledger__Event **ev, store_val *val)
{
	const model_view *v = view_of(t);
	if (v) {
		int rc = v->event(v->arg, seq, ev);
		if (rc == 0)
			return 0;
		*ev = NULL;
		if (rc != LD_E(NOT_FOUND))
			return rc;
	}
	uint8_t key[8];
	*ev = NULL;
	ld_put_be64(key, seq);
	return store_get(t, DB_LOG, key, sizeof(key), val);
}

int model_load_event(store_txn *t, uint64_t seq, Ledger__Event **ev)
{
	store_val val;
	int rc = event_at(t, seq, ev, &val);
	if (rc || *ev)
		return rc;
	*ev = codec_event_unpack(val.data, val.len);
	return *ev ? 0 : LD_E(STORAGE);
}

int model_event_case(store_txn *t, uint64_t seq, int *body)
{
	Ledger__Event *ev;
	store_val val;
	int rc = event_at(t, seq, &ev, &val);
	*body = rc ? 0 : ev ? (int)ev->body_case : codec_peek_body_case(val.data, val.len);
	codec_event_free(ev);
	return rc;
}

/* link_get_fn of a transaction: the writer's view first. */
static int txn_link(void *arg, uint64_t seq, ld_link *l)
{
	store_txn *t = arg;
	const model_view *v = view_of(t);
	if (v) {
		int rc = v->link(v->arg, seq, l);
		if (rc != LD_E(NOT_FOUND))
			return rc;
	}
	return link_get_stored(t, seq, l);
}

int model_link(store_txn *t, uint64_t seq, ld_link *l)
{
	return txn_link(t, seq, l);
}

int model_station_org(store_txn *t, const char *id, char org[LD_ID_MAX + 1])
{
	model *m = model_of(t);
	uint32_t s = m ? ms_station_find(m, id) : MT_NONE;
	if (s == MT_NONE)
		return LD_E(NOT_FOUND);
	ms_org_name(m, ms_station(m, s)->org, org);
	return 0;
}

int model_fix_get(store_txn *t, uint64_t seq, int *kind, uint64_t *by)
{
	*kind = 0;
	*by = 0;
	const model_view *view = view_of(t);
	if (view && !view->head) {
		uint64_t v;
		if (mmap64_get(&model_of(t)->fixes, seq, &v)) {
			*kind = (int)(v >> 56);
			*by = v & ((UINT64_C(1) << 56) - 1);
		}
		return 0;
	}
	uint8_t key[8];
	store_val v;
	ld_put_be64(key, seq);
	int rc = store_get(t, DB_FIXES, key, 8, &v);
	if (rc == LD_E(NOT_FOUND))
		return 0;
	if (rc)
		return rc;
	if (v.len != 9)
		return LD_E(STORAGE);
	*kind = ((const uint8_t *)v.data)[0];
	*by = ld_get_be64((const uint8_t *)v.data + 1);
	return 0;
}

static int fix_put(model *m, uint64_t seq, int kind, uint64_t by, model_result *r)
{
	r->fix_kind = kind;
	r->fix_target = seq;
	return ms_map_put(m, &m->fixes, seq, (uint64_t)kind << 56 | by);
}

/* "member/<id>" → MS_MEMBER and the id; 0 if not a stream name. */
static int parse_stream(const char *stream, const char **id)
{
	static const struct {
		const char *prefix;
		size_t len;
		int kind;
	} kinds[] = {{"member/", 7, MS_MEMBER}, {"org/", 4, MS_ORG}, {"region/", 7, MS_REGION}};
	for (size_t i = 0; stream && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncmp(stream, kinds[i].prefix, kinds[i].len) == 0) {
			*id = stream + kinds[i].len;
			return kinds[i].kind;
		}
	return 0;
}

/* hash: the member stream's name hash (model_hint), or 0. */
static uint32_t stream_lookup(const model *m, const char *stream, uint64_t hash)
{
	const char *id;
	int kind = parse_stream(stream, &id);
	if (!kind)
		return MT_NONE;
	return ms_stream_find(m, kind, id, strlen(id), kind == MS_MEMBER ? hash : 0);
}

int model_stream_read(store_txn *t, const char *stream, uint32_t from, uint64_t upto, size_t max,
		      uint64_t *seqs, uint32_t *versions, size_t *n)
{
	model *m = model_of(t);
	*n = 0;
	if (!m)
		return LD_E(INTERNAL);
	uint32_t s = stream_lookup(m, stream, 0);
	if (s == MT_NONE)
		return 0;
	const model_view *v = view_of(t);
	if (v && !v->head)
		return link_walk(txn_link, t, ms_stream(m, s)->head, upto, from, max, seqs, versions,
				 n);
	uint64_t last;
	if (v && v->head(v->arg, s, upto, &last) == 0)
		return link_walk(txn_link, t, last, upto, from, max, seqs, versions, n);
	uint64_t head = atomic_load_explicit((_Atomic uint64_t *)marray_at(&m->pub, s),
					     memory_order_acquire);
	ld_link l;
	int rc = link_get_stored(t, head, &l);
	if (rc != LD_E(NOT_FOUND))
		return rc ? rc : link_walk(link_get_stored, t, head, upto, from, max, seqs, versions, n);
	/* t began before that commit: the links through a newer transaction
	 * (the seqs past t's snapshot are the caller's to skip), under t's
	 * resize lock (a lock of its own would deadlock with a map growth). */
	store_txn *fresh;
	if ((rc = store_read_beside(t, &fresh)))
		return rc;
	rc = link_walk(link_get_stored, fresh, head, upto, from, max, seqs, versions, n);
	store_read_end(fresh);
	return rc;
}

/* Every event of stream s as t sees it, in order: a malloc'd array. */
static int stream_all(store_txn *t, uint32_t s, uint64_t **seqs, size_t *n)
{
	model *m = model_of(t);
	const mstream *st = ms_stream(m, s);
	*seqs = malloc((st->version ? st->version : 1) * sizeof(uint64_t));
	if (!*seqs)
		return LD_E(INTERNAL);
	int rc = link_walk(txn_link, t, st->head, UINT64_MAX, 1, st->version, *seqs, NULL, n);
	if (rc == 0 && *n != st->version)
		rc = LD_E(STORAGE);
	if (rc) {
		free(*seqs);
		*seqs = NULL;
	}
	return rc;
}

int model_member_forgotten(store_txn *t, const char *id)
{
	return model_member_forgotten_in(store_txn_store(t), id);
}

int model_member_forgotten_in(store *s, const char *id)
{
	model *m = store_model(s);
	uint32_t r = m ? ms_member_find(m, id) : MT_NONE;
	return r != MT_NONE && __atomic_load_n(&ms_member(m, r)->forgotten, __ATOMIC_RELAXED);
}

void model_replaying(model *m, int on)
{
	m->replaying = on;
}

int model_person(store_txn *t, const uint8_t hash[LD_HASH_LEN], char member[LD_ID_MAX + 1])
{
	return model_person_in(store_txn_store(t), hash, member);
}

int model_person_in(store *s, const uint8_t hash[LD_HASH_LEN], char member[LD_ID_MAX + 1])
{
	model *m = store_model(s);
	uint32_t p = m ? ms_person_find(m, hash) : MT_NONE;
	if (p == MT_NONE)
		return LD_E(NOT_FOUND);
	ms_name(m, ms_member(m, p)->stream, member);
	return 0;
}

void model_person_prefetch(store *s, const uint8_t hash[LD_HASH_LEN])
{
	model *m = store_model(s);
	if (m)
		ms_prefetch(m, 0, NULL, hash, 0);
}

int model_org_parent(store_txn *t, const char *org_id, char parent[LD_ID_MAX + 1],
		     uint32_t *region)
{
	model *m = model_of(t);
	uint32_t o = m ? ms_org_find(m, org_id) : MT_NONE;
	if (o == MT_NONE)
		return LD_E(NOT_FOUND);
	const morg *r = ms_org(m, o);
	parent[0] = 0;
	if (r->parent != MT_NONE)
		ms_org_name(m, r->parent, parent);
	if (region)
		*region = r->region;
	return 0;
}

int model_member_org(store_txn *t, const char *id, char org[LD_ID_MAX + 1])
{
	model *m = model_of(t);
	uint32_t r = m ? ms_member_find(m, id) : MT_NONE;
	if (r == MT_NONE)
		return LD_E(NOT_FOUND);
	const mmember *mm = ms_member(m, r);
	uint32_t o = __atomic_load_n(&mm->org, __ATOMIC_RELAXED);
	if (mm->status == MEMBER_NONE || o == MT_NONE)
		return LD_E(NOT_FOUND);
	ms_org_name(m, o, org);
	return 0;
}

/*
 * An event as it counts now, its fix (model_fix_get) given: NULL if
 * voided, else *holder is the event to free and *eff the event whose body
 * counts (the latest amendment's corrected body, in `scratch`, or the
 * event itself).
 */
static int effective_fixed(store_txn *t, uint64_t seq, int kind, uint64_t by,
			   Ledger__Event **holder, Ledger__Event **amend, Ledger__Event *scratch,
			   const Ledger__Event **eff)
{
	int rc;
	*holder = *amend = NULL;
	*eff = NULL;
	if (kind == FIX_VOID)
		return 0;
	if ((rc = model_load_event(t, seq, holder)))
		return rc;
	*eff = *holder;
	if (kind == FIX_AMEND) {
		if ((rc = model_load_event(t, by, amend)))
			return rc;
		const Ledger__EventAmended *a = (*amend)->event_amended;
		codec_amended_body(a, scratch);
		/* Its time: the amendment's, if it corrects it. */
		scratch->has_occurred_at = 1;
		scratch->occurred_at = a->has_corrected_occurred_at ? a->corrected_occurred_at
								    : (*holder)->occurred_at;
		*eff = scratch;
	}
	return 0;
}

/* effective_fixed with seq's fix (model_fix_get) looked up. */
static int effective(store_txn *t, uint64_t seq, Ledger__Event **holder, Ledger__Event **amend,
		     Ledger__Event *scratch, const Ledger__Event **eff)
{
	int kind;
	uint64_t by;
	int rc = model_fix_get(t, seq, &kind, &by);
	*holder = *amend = NULL;
	*eff = NULL;
	return rc ? rc : effective_fixed(t, seq, kind, by, holder, amend, scratch, eff);
}

static int is_correction(const Ledger__Event *ev)
{
	return (ld_kind_of(ev->body_case)->flags & LD_KIND_CORRECTION) != 0;
}

/* Whether event ev (seq `seq`), applied to the state *was of the history
 * before a correction, was already dated before its start there: a log older
 * than the rule (CHECK_DATES) may hold one, and a correction that leaves it
 * so is not refused for it. */
static int dated_already(const model *m, const member_state *was, const char *id,
			 const Ledger__Event *ev, uint64_t seq)
{
	member_state probe = *was;
	ld_errinfo ig;
	ig.field[0] = ig.message[0] = '\0';
	return member_step((model *)m, &probe, id, ev, seq, CHECK_DATES, &ig) ==
		       LD_E(INVALID_STATE) &&
	       strcmp(ig.field, "occurred_at") == 0;
}

/*
 * Re-folds member `id` (stream s) from its stream, with event `seq`
 * replaced by `replacement` (NULL: voided). Fails with INVALID_STATE naming
 * the first event that no longer applies. The dates (CHECK_DATES) of the
 * corrected event are judged, and those of the events after it that the
 * correction dates before their start: one that was so already (a log
 * older than the rule) is left as it was, as it is at start.
 */
static int member_refold(store_txn *t, uint32_t s, const char *id, uint64_t seq,
			 const Ledger__Event *replacement, member_state *out, ld_errinfo *e)
{
	model *m = model_of(t);
	uint64_t *seqs;
	size_t n;
	int rc = stream_all(t, s, &seqs, &n), dates = check_dates(t);
	member_state was; /* the history as it stands, while the dates are judged */
	member_get(m, MT_NONE, out);
	member_get(m, MT_NONE, &was);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		Ledger__Event *holder = NULL, *amend = NULL, scratch;
		Ledger__Event *oholder = NULL, *oamend = NULL, oscratch;
		const Ledger__Event *eff = NULL, *orig = NULL;
		if (seqs[i] == seq) {
			eff = replacement;
			if (dates && (rc = effective(t, seq, &oholder, &oamend, &oscratch, &orig)))
				break;
		} else if ((rc = effective(t, seqs[i], &holder, &amend, &scratch, &eff))) {
			break;
		} else {
			orig = eff;
		}
		if (eff && !is_correction(eff)) {
			ld_errinfo inner;
			inner.field[0] = inner.message[0] = '\0';
			/* The dates of the corrected event and of those after it
			 * are checked: the change may put one before its start.
			 * Those before it are as they were. */
			int flags = seqs[i] < seq ? 0 : dates;
			if (flags && seqs[i] > seq && dated_already(m, &was, id, eff, seqs[i]))
				flags = 0;
			rc = member_step(m, out, id, eff, seqs[i], flags, &inner);
			if (rc && seqs[i] == seq && rc != LD_E(STORAGE)) {
				/* The corrected body itself does not apply: its own
				 * error, as when such an event is recorded (a join of
				 * another active member's person: ALREADY_MEMBER). */
				char field[sizeof(inner.field) + 16];
				snprintf(field, sizeof(field), "event_amended.%s",
					 inner.field[0] ? inner.field : "corrected");
				ld_errinfo_set(e, rc, field, "%s", inner.message);
			} else if (rc && rc != LD_E(STORAGE) && e && !replacement &&
				   eff->body_case == LEDGER__EVENT__BODY_TRANSFER_ACCEPTED &&
				   eff->transfer_accepted->release_seq == seq) {
				/* The void of a release accepted since: the way back
				 * is the acceptance's void, which the clerk is told. */
				ld_errinfo_set(e, LD_E(INVALID_STATE), "event_voided.target_seq",
					       "release seq %llu of member '%s' was accepted by seq "
					       "%llu: void that acceptance first (ledgerctl void %llu), "
					       "and the release waits again",
					       (unsigned long long)seq, id,
					       (unsigned long long)seqs[i],
					       (unsigned long long)seqs[i]);
				rc = LD_E(INVALID_STATE);
			} else {
				if (rc && e)
					ld_errinfo_set(e, rc == LD_E(STORAGE) ? rc : LD_E(INVALID_STATE),
						       inner.field,
						       "the correction would make event seq %llu (%s) "
						       "invalid: %s",
						       (unsigned long long)seqs[i],
						       codec_event_type_name(eff->body_case),
						       inner.message);
				if (rc && rc != LD_E(STORAGE))
					rc = LD_E(INVALID_STATE);
			}
		}
		/* The history as it stood (its errors are none: it was decided). */
		if (rc == 0 && dates && orig && !is_correction(orig))
			member_step(m, &was, id, orig, seqs[i], 0, NULL);
		codec_event_free(holder);
		codec_event_free(amend);
		codec_event_free(oholder);
		codec_event_free(oamend);
	}
	free(seqs);
	if (rc)
		return rc;
	if (out->status == MEMBER_ACTIVE) {
		uint32_t o;
		char org[LD_ID_MAX + 1];
		const char *name = state_org(m, out, org);
		if ((rc = org_live(m, name, NULL, &o, e)))
			return rc == LD_E(NOT_FOUND) || rc == LD_E(ORG_DISSOLVED)
				       ? ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
							"the correction would leave member '%s' "
							"in '%s', which is %s",
							id, name,
							rc == LD_E(ORG_DISSOLVED) ? "dissolved"
										  : "unknown")
				       : rc;
	}
	return 0;
}

/* Refunded so far of DuesPaid `seq`. */
static int64_t refunded(const model *m, uint64_t seq)
{
	uint64_t v = 0;
	mmap64_get(&m->refunds, seq, &v);
	return (int64_t)v;
}

static int refund_add(model *m, uint64_t seq, int64_t delta)
{
	return ms_map_put(m, &m->refunds, seq, (uint64_t)refunded(m, seq) + (uint64_t)delta);
}

/* Would refunding `fen` more of a payment of `paid` fen, `done` of which
 * went back already, refund more than was paid? Computed without overflow;
 * amounts are at most LD_MAX_FEN since 2026-12-07, but before, two refunds
 * near INT64_MAX wrapped to a negative sum and were taken. Events decided
 * already (a log replayed at start, a leader's on a follower:
 * decided_already) are judged as they were decided. */
static int refund_exceeds(int decided, int64_t done, int64_t fen, int64_t paid)
{
	if (decided)
		return (int64_t)((uint64_t)done + (uint64_t)fen) > paid;
	return done > paid || fen > paid - done;
}

/* A refund of `fen` from payment `paid_seq` of `member` is possible. */
static int check_refund(store_txn *t, const Ledger__DuesRefunded *r, ld_errinfo *e)
{
	Ledger__Event *holder, *amend, scratch;
	const Ledger__Event *paid;
	int64_t done;
	int rc = effective(t, r->paid_seq, &holder, &amend, &scratch, &paid);
	if (rc == LD_E(NOT_FOUND))
		return ld_errinfo_set(e, rc, "dues_refunded.paid_seq", "no event seq %llu",
				      (unsigned long long)r->paid_seq);
	if (rc)
		return rc;
	if (!paid)
		rc = ld_errinfo_set(e, LD_E(INVALID_STATE), "dues_refunded.paid_seq",
				    "payment seq %llu was voided", (unsigned long long)r->paid_seq);
	else if (paid->body_case != LEDGER__EVENT__BODY_DUES_PAID ||
		 strcmp(paid->dues_paid->member_id, r->member_id) != 0)
		rc = ld_errinfo_set(e, LD_E(INVALID_VALUE), "dues_refunded.paid_seq",
				    "seq %llu is not a dues payment of member '%s'",
				    (unsigned long long)r->paid_seq, r->member_id);
	else if (refund_exceeds(decided_already(t), done = refunded(model_of(t), r->paid_seq),
				r->amount_fen, paid->dues_paid->amount_fen))
		rc = ld_errinfo_set(e, LD_E(INVALID_STATE), "dues_refunded.amount_fen",
				    "refunds of seq %llu would reach %llu fen, more than the "
				    "%lld fen paid",
				    (unsigned long long)r->paid_seq,
				    (unsigned long long)done + (unsigned long long)r->amount_fen,
				    (long long)paid->dues_paid->amount_fen);
	codec_event_free(holder);
	codec_event_free(amend);
	return rc;
}

/* ================================================================== */
/* Dues: the months each payment in force pays for                     */
/* ================================================================== */

/*
 * A month is paid once: a payment that shares a month with another payment
 * of the member in force (recorded, not voided, not refunded in full) is
 * refused, unless it says it is additional. What a payment pays for
 * follows from what the model holds already (its effective body, the fen
 * refunded of it), so there is no state of its own to keep, undo or save:
 * the member's stream is read when a payment, an amendment of one or the
 * void of a refund is decided (a member has a few payments a year).
 * Events already in the log are not refused again when they are replayed
 * or followed (decided_already): a log written before the rule may hold
 * overlapping payments, and the state keeps both.
 */

/* Months since year 0, and back. */
static int64_t month_index(uint32_t yyyymm)
{
	return (int64_t)(yyyymm / 100) * 12 + yyyymm % 100 - 1;
}

static uint32_t month_of(int64_t index)
{
	return (uint32_t)(index / 12 * 100 + index % 12 + 1);
}

/*
 * The months payment d still pays for once `refunded` fen of it went back:
 * its first months, as many as what is left pays for (rounded up), so that
 * refunding the months not used yet (a member who leaves) frees them and a
 * small refund (an overcharge) frees none. 0 when refunded in full, else 1
 * and *to.
 */
static int dues_kept(const Ledger__DuesPaid *d, int64_t refunded, uint32_t *to)
{
	if (refunded >= d->amount_fen || d->amount_fen <= 0)
		return 0;
	int64_t first = month_index(d->period_from);
	__int128 months = month_index(d->period_to) - first + 1;
	int64_t kept = (int64_t)((months * (d->amount_fen - refunded) + d->amount_fen - 1) /
				 d->amount_fen);
	*to = month_of(first + kept - 1);
	return 1;
}

/* The months payment `seq` pays for now: *in_force 1 and *from, *to, or 0
 * if it is not a payment in force. 0 or a storage error. */
static int dues_now(store_txn *t, uint64_t seq, int *in_force, uint32_t *from, uint32_t *to)
{
	Ledger__Event *holder, *amend, scratch;
	const Ledger__Event *eff;
	*in_force = 0;
	/* Most of a member's events are no payment: told by their stored
	 * bytes, not decoded (a corrected one is, to its effective body). */
	int kind, body;
	uint64_t by;
	int rc = model_fix_get(t, seq, &kind, &by);
	if (rc == 0 && kind == 0)
		rc = model_event_case(t, seq, &body);
	if (rc || (kind == 0 && body && body != LEDGER__EVENT__BODY_DUES_PAID))
		return rc;
	rc = effective_fixed(t, seq, kind, by, &holder, &amend, &scratch, &eff);
	if (rc == 0 && eff && eff->body_case == LEDGER__EVENT__BODY_DUES_PAID &&
	    dues_kept(eff->dues_paid, refunded(model_of(t), seq), to)) {
		*from = eff->dues_paid->period_from;
		*in_force = 1;
	}
	codec_event_free(holder);
	codec_event_free(amend);
	return rc;
}

/*
 * Payment d of `member` (at seq `self`, 0 for a new one), with `refunded`
 * fen of it refunded, shares no month with another payment in force, or
 * says it is additional. A correction checks only the months the payment
 * did not pay for before it: an additional payment recorded over it since
 * is no reason to refuse correcting it. Otherwise ALREADY_PAID naming the
 * first payment it meets: its seq, its months, and the months they share.
 */
static int dues_overlap(store_txn *t, const char *member, uint32_t s, uint64_t self,
			const Ledger__DuesPaid *d, int64_t refunded, const char *field, ld_errinfo *e)
{
	model *m = model_of(t);
	uint32_t to, was_from = 0, was_to = 0;
	if (decided_already(t) || (d->has_additional && d->additional) ||
	    !dues_kept(d, refunded, &to))
		return 0;
	if (s == MT_NONE)
		s = ms_stream_find(m, MS_MEMBER, member, strlen(member), 0);
	/* No payment in the stream: none to overlap (self is none either). */
	if (s == MT_NONE || (ms_stream(m, s)->flags & MS_NOPAY))
		return 0;
	/* Every payment of the stream ends before this one begins. */
	const mstream *st = ms_stream(m, s);
	if ((st->flags & MS_PAYTO) && d->period_from > st->paid_to)
		return 0;
	int in_force = 0, rc = self ? dues_now(t, self, &in_force, &was_from, &was_to) : 0;
	if (rc)
		return rc;
	if (!in_force)
		was_from = was_to = 0;
	uint64_t *seqs;
	size_t n;
	if ((rc = stream_all(t, s, &seqs, &n)))
		return rc;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint32_t from, upto;
		if (seqs[i] == self)
			continue;
		if ((rc = dues_now(t, seqs[i], &in_force, &from, &upto)) || !in_force)
			continue;
		uint32_t a = from > d->period_from ? from : d->period_from;
		uint32_t b = upto < to ? upto : to;
		if (a > b)
			continue;
		/* Less what it paid for already (the part before it, if both). */
		if (was_from && was_from <= a && b <= was_to)
			continue;
		if (was_from && was_from <= a && a <= was_to)
			a = month_of(month_index(was_to) + 1);
		else if (was_from && a < was_from && was_from <= b)
			b = month_of(month_index(was_from) - 1);
		char shared[32];
		if (a == b)
			snprintf(shared, sizeof(shared), "month %u was", a);
		else
			snprintf(shared, sizeof(shared), "months %u-%u were", a, b);
		rc = ld_errinfo_set(e, LD_E(ALREADY_PAID), field,
				    "%s already paid by member '%s' in payment seq %llu "
				    "(%u-%u): void or refund that payment first, or record "
				    "this one as additional",
				    shared, member, (unsigned long long)seqs[i], from, upto);
	}
	free(seqs);
	return rc;
}

static int dues_check(store_txn *t, const char *member, uint32_t s, uint64_t self,
		      const Ledger__DuesPaid *d, int64_t refunded, const char *field, ld_errinfo *e)
{
	int rc = dues_overlap(t, member, s, self, d, refunded, field, e);
	if (rc == 0 || rc == LD_E(ALREADY_PAID))
		return rc;
	/* A payment of the member's stream that cannot be read. */
	rc = rc == LD_E(NOT_FOUND) ? LD_E(STORAGE) : rc;
	return ld_errinfo_set(e, rc, field, "unable to read the payments of member '%s'", member);
}

/*
 * The void of refund r: its fen go back to the payment, which may then pay
 * for months again (checked as a payment would be).
 */
static int check_void_refund(store_txn *t, const Ledger__DuesRefunded *r, const char *field,
			     ld_errinfo *e)
{
	Ledger__Event *holder, *amend, scratch;
	const Ledger__Event *paid;
	ld_errinfo inner = {0};
	if (decided_already(t))
		return 0;
	int rc = effective(t, r->paid_seq, &holder, &amend, &scratch, &paid);
	if (rc == 0 && paid && paid->body_case == LEDGER__EVENT__BODY_DUES_PAID &&
	    (rc = dues_check(t, r->member_id, MT_NONE, r->paid_seq, paid->dues_paid,
			     refunded(model_of(t), r->paid_seq) - r->amount_fen, field, &inner)) ==
		    LD_E(ALREADY_PAID))
		ld_errinfo_set(e, rc, field, "voiding it gives payment seq %llu back %lld fen, but %s",
			       (unsigned long long)r->paid_seq, (long long)r->amount_fen,
			       inner.message);
	else if (rc)
		rc = ld_errinfo_set(e, rc == LD_E(NOT_FOUND) ? LD_E(STORAGE) : rc, field,
				    "unable to read payment seq %llu",
				    (unsigned long long)r->paid_seq);
	codec_event_free(holder);
	codec_event_free(amend);
	return rc;
}

/* Re-folds whether an organisation (stream s) admits members, without
 * update `skip`. */
static int org_refold_admits(store_txn *t, uint32_t s, uint64_t skip, uint8_t *admits)
{
	uint64_t *seqs;
	size_t n;
	int rc = stream_all(t, s, &seqs, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		Ledger__Event *holder, *amend, scratch;
		const Ledger__Event *eff;
		if (seqs[i] == skip)
			continue;
		if ((rc = effective(t, seqs[i], &holder, &amend, &scratch, &eff)))
			break;
		if (eff && eff->body_case == LEDGER__EVENT__BODY_ORG_REGISTERED)
			*admits = !eff->org_registered->has_admits_members ||
				  eff->org_registered->admits_members;
		if (eff && eff->body_case == LEDGER__EVENT__BODY_ORG_UPDATED &&
		    eff->org_updated->has_admits_members)
			*admits = eff->org_updated->admits_members;
		codec_event_free(holder);
		codec_event_free(amend);
	}
	free(seqs);
	return rc;
}

/* The station ev refers to (proto/kinds.c: `station`), if any, exists;
 * the error names the field behind `prefix` ("" or "event_amended."). */
static int station_exists(const model *m, const Ledger__Event *ev, const char *prefix,
			  ld_errinfo *e)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	const char *st = ld_field_str(&k->station, ld_kind_body(k, ev));
	if (!st || ms_station_find(m, st) != MT_NONE)
		return 0;
	char field[96];
	snprintf(field, sizeof(field), "%s%s", prefix, k->station.path);
	return ld_errinfo_set(e, LD_E(NOT_FOUND), field, "station '%s' not found", st);
}

/* The organisations an amendment's corrected body names are ones the
 * ledger knows, as when such an event is recorded; it may name one
 * dissolved since (it corrects the past). A clerk's scope leaves the
 * organisations the model does not know to this check (core/roles.h):
 * without it, an amendment could name one before it is registered, under
 * any parent. Not at start nor on a follower: a log older than this rule
 * may hold one (decided_already). */
static int orgs_known(store_txn *t, const Ledger__Event *ev, ld_errinfo *e)
{
	const model *m = model_of(t);
	ld_org_ref orgs[LD_KIND_MAX_ORGS];
	if (decided_already(t))
		return 0; /* a rule younger than the log (decided_already) */
	size_t n = ld_event_orgs(ev, LD_ORG_SCOPE | LD_ORG_ENTERS | LD_ORG_LIVE, orgs);
	for (size_t i = 0; i < n; i++) {
		if (ms_org_find(m, orgs[i].id) != MT_NONE)
			continue;
		char field[128];
		snprintf(field, sizeof(field), "event_amended.%s", orgs[i].path);
		return ld_errinfo_set(e, LD_E(NOT_FOUND), field, "organisation '%s' not found",
				      orgs[i].id);
	}
	return 0;
}

/*
 * A void (replacement == NULL) or an amendment of `target` (in stream ts,
 * named r->stream), recorded as event `seq`. Validates, then writes the
 * state that changes.
 */
static int apply_correction(store_txn *t, const Ledger__Event *target, uint32_t ts,
			    const Ledger__Event *replacement, uint64_t seq, model_result *r,
			    ld_errinfo *e)
{
	model *m = model_of(t);
	int rc, kind;
	uint64_t by;
	const char *field = replacement ? "event_amended.target_seq" : "event_voided.target_seq";
	unsigned long long tseq = (unsigned long long)target->seq;

	const ld_kind *tk = ld_kind_of(target->body_case);
	if (tk->flags & LD_KIND_CORRECTION)
		return ld_errinfo_set(e, LD_E(INVALID_STATE), field,
				      "seq %llu is itself a correction; correct the original event",
				      tseq);
	if (tk->final) /* proto/kinds.c says why */
		return ld_errinfo_set(e, LD_E(INVALID_STATE), field, "seq %llu %s", tseq, tk->final);
	if ((rc = model_fix_get(t, target->seq, &kind, &by)))
		return rc;
	if (kind == FIX_VOID)
		return ld_errinfo_set(e, LD_E(INVALID_STATE), field,
				      "seq %llu was already voided by seq %llu", tseq,
				      (unsigned long long)by);

	if (replacement) {
		char stream[LD_STREAM_MAX];
		if (replacement->body_case != target->body_case)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "event_amended.corrected",
					      "seq %llu is %s; an amendment must correct it with "
					      "a body of the same kind, not %s",
					      tseq, codec_event_type_name(target->body_case),
					      codec_event_type_name(replacement->body_case));
		if ((rc = codec_event_stream(replacement, stream)))
			return ld_errinfo_set(e, rc, "event_amended.corrected",
					      "the corrected event names no member or "
					      "organisation (an amendment keeps the subject of "
					      "seq %llu)",
					      tseq);
		if (strcmp(stream, r->stream) != 0)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "event_amended.corrected",
					      "an amendment keeps the subject (%s); void seq %llu "
					      "and record a new event instead",
					      r->stream, tseq);
		if ((rc = station_exists(m, replacement, "event_amended.", e)))
			return rc;
		if ((rc = orgs_known(t, replacement, e)))
			return rc;
	}

	/* A payment some of which was refunded: the refunds go first. */
	if (target->body_case == LEDGER__EVENT__BODY_DUES_PAID) {
		int64_t done = refunded(m, target->seq);
		if (done > 0 && (!replacement || replacement->dues_paid->amount_fen < done))
			return ld_errinfo_set(e, LD_E(INVALID_STATE), field,
					      "%lld fen of payment seq %llu were refunded; "
					      "void the refunds first",
					      (long long)done, tseq);
	}

	/* Member streams re-fold; everything else has little state. */
	const char *member = codec_event_member(target);
	const mstream *st = ms_stream(m, ts);
	if (ld_has(member) && st->kind == MS_MEMBER) {
		member_state old, new;
		uint32_t rec = st->state;
		member_get(m, rec, &old);
		if ((rc = member_refold(t, ts, member, target->seq, replacement, &new, e)))
			return rc;
		if (target->body_case == LEDGER__EVENT__BODY_DUES_PAID && replacement &&
		    (rc = dues_check(t, member, ts, target->seq, replacement->dues_paid,
				     refunded(m, target->seq), "event_amended.dues_paid.period_from",
				     e)))
			return rc;
		if (target->body_case == LEDGER__EVENT__BODY_DUES_REFUNDED && !replacement &&
		    (rc = check_void_refund(t, target->dues_refunded, field, e)))
			return rc;
		if ((rc = member_save(m, rec, &old, &new)))
			return rc;
		if (target->body_case == LEDGER__EVENT__BODY_DUES_REFUNDED && !replacement)
			if ((rc = refund_add(m, target->dues_refunded->paid_seq,
					     -target->dues_refunded->amount_fen)))
				return rc;
	} else if (target->body_case == LEDGER__EVENT__BODY_ORG_UPDATED) {
		if (replacement && replacement->org_updated->has_admits_members)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
					      "amend admits_members with a new org update");
		if (!replacement) {
			uint32_t o = ms_org_find(m, target->org_updated->org_id);
			uint8_t admits;
			if (o == MT_NONE)
				return LD_E(NOT_FOUND);
			admits = ms_org(m, o)->admits;
			if ((rc = org_refold_admits(t, ts, target->seq, &admits)))
				return rc;
			((morg *)ms_touch(m, MA_ORGS, o))->admits = admits;
		}
	} else if (target->body_case == LEDGER__EVENT__BODY_STATION_OPENED && !replacement) {
		uint32_t s = ms_station_find(m, target->station_opened->station_id);
		if (s != MT_NONE)
			((mstation *)ms_touch(m, MA_STATIONS, s))->open = 0;
	}
	return fix_put(m, target->seq, replacement ? FIX_AMEND : FIX_VOID, seq, r);
}

/* ================================================================== */
/* model_apply                                                          */
/* ================================================================== */

/* An acceptance of release seq rel of member id, which has none pending
 * (*s): says what became of rel when it is this member's release, voided
 * (withdrawn or declined) or accepted already, instead of the sentence
 * that lists both (two clerks accepting, or one accepting while another
 * declines, were told "withdrawn, accepted already, or ..."). e keeps its
 * sentence otherwise. */
static void accept_gone(store_txn *t, const member_state *s, const char *id, uint64_t rel,
			ld_errinfo *e)
{
	Ledger__Event *ev = NULL;
	int kind = 0;
	uint64_t by = 0;
	char org[LD_ID_MAX + 1];
	if (model_load_event(t, rel, &ev) != 0)
		return;
	const char *who = codec_event_member(ev);
	int mine = ev->body_case == LEDGER__EVENT__BODY_TRANSFER_RELEASED && who &&
		   strcmp(who, id) == 0;
	codec_event_free(ev);
	if (!mine || model_fix_get(t, rel, &kind, &by) != 0)
		return;
	/* One sentence each (clients/servertext.c translates whole ones). */
	if (kind == FIX_VOID)
		ld_errinfo_set(e, LD_E(INVALID_STATE), "transfer_accepted.release_seq",
			       "member '%s' has no pending release to accept: release seq %llu was "
			       "voided by seq %llu (withdrawn by its source or declined)",
			       id, (unsigned long long)rel, (unsigned long long)by);
	else
		ld_errinfo_set(e, LD_E(INVALID_STATE), "transfer_accepted.release_seq",
			       "member '%s' has no pending release to accept: release seq %llu was "
			       "accepted already (the member is in '%s' now)",
			       id, (unsigned long long)rel, state_org(model_of(t), s, org));
}

static int apply_member_event(store_txn *t, const Ledger__Event *ev, uint64_t seq, uint64_t hash,
			      uint32_t *stream, ld_errinfo *e)
{
	model *m = model_of(t);
	const char *id = codec_event_member(ev);
	member_state old, new;
	uint32_t rec = *stream == MT_NONE ? MT_NONE : ms_stream(m, *stream)->state;
	member_get(m, rec, &old);
	int rc = pending_load(t, &old);
	if (rc)
		return rc;
	new = old;
	if ((rc = member_step(m, &new, id, ev, seq, CHECK_ORGS | check_dates(t), e))) {
		/* A destination dissolved or closed since the release: it cannot
		 * be accepted, and waits for its source. */
		/* One sentence (clients/servertext.c translates whole ones). */
		int acc = ev->body_case == LEDGER__EVENT__BODY_TRANSFER_ACCEPTED;
		const Ledger__TransferAccepted *x = acc ? ev->transfer_accepted : NULL;
		unsigned long long rel = acc ? (unsigned long long)x->release_seq : 0;
		if (rc == LD_E(ORG_DISSOLVED) && acc)
			ld_errinfo_set(e, rc, "transfer_accepted.to_org",
				       "organisation '%s' is dissolved: release seq %llu stays pending "
				       "until its source withdraws it (ledgerctl void %llu) and "
				       "releases the member elsewhere",
				       x->to_org, rel, rel);
		else if (rc == LD_E(INVALID_STATE) && acc && !old.pending &&
			 old.status == MEMBER_ACTIVE)
			accept_gone(t, &old, id, rel, e);
		else if (rc == LD_E(ORG_CLOSED) && acc)
			ld_errinfo_set(e, rc, "transfer_accepted.to_org",
				       "organisation '%s' does not admit members: release seq %llu "
				       "stays pending until its source withdraws it (ledgerctl void "
				       "%llu) and releases the member elsewhere",
				       x->to_org, rel, rel);
		return rc;
	}
	if (ev->body_case == LEDGER__EVENT__BODY_DUES_REFUNDED &&
	    (rc = check_refund(t, ev->dues_refunded, e)))
		return rc;
	if (ev->body_case == LEDGER__EVENT__BODY_DUES_PAID &&
	    (rc = dues_check(t, id, *stream, 0, ev->dues_paid, 0, "dues_paid.period_from", e)))
		return rc;
	if ((rc = orgs_live(m, ev, e))) /* a service: the organisation that served */
		return rc;
	/* Changes from here on. */
	if (ev->body_case == LEDGER__EVENT__BODY_DUES_REFUNDED &&
	    (rc = refund_add(m, ev->dues_refunded->paid_seq, ev->dues_refunded->amount_fen)))
		return rc;
	if ((rc = member_rec(m, id, hash, stream, &rec)))
		return rc;
	return member_save(m, rec, &old, &new);
}

/* An event of an organisation's (or a region's) stream. */
static int apply_org_event(store_txn *t, const Ledger__Event *ev, uint32_t *stream, ld_errinfo *e)
{
	model *m = model_of(t);
	uint32_t o, p;
	int rc;
	/* The write model's fold of an organisation: a case for each kind that
	 * changes its state (or a station's). Every other kind (funds, a
	 * service to a non-member, an activity, a workforce estimate) only
	 * needs the organisations it names to be live. */
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_ORG_REGISTERED: {
		const Ledger__OrgRegistered *r = ev->org_registered;
		if ((rc = check_org_registered(m, r, e)))
			return rc;
		p = ld_has(r->parent_id) ? ms_org_find(m, r->parent_id) : MT_NONE;
		if (*stream == MT_NONE &&
		    (rc = ms_stream_add(m, MS_ORG, r->org_id, strlen(r->org_id), 0, stream)))
			return rc;
		if (p != MT_NONE && (rc = org_adjust(m, p, 0, 0, +1)))
			return rc;
		morg *org = ms_touch(m, MA_ORGS, ms_stream(m, *stream)->state);
		org->kind = (uint8_t)r->kind;
		org->admits = !r->has_admits_members || r->admits_members;
		org->region = r->region;
		org->parent = p;
		org->dissolved = 0;
		org->members = org->affiliated = org->children = 0;
		org->flags = 0;
		return 0;
	}
	case LEDGER__EVENT__BODY_ORG_UPDATED: {
		const Ledger__OrgUpdated *u = ev->org_updated;
		if ((rc = org_live(m, u->org_id, "org_updated.org_id", &o, e)))
			return rc;
		if (u->has_admits_members)
			((morg *)ms_touch(m, MA_ORGS, o))->admits = u->admits_members;
		return 0;
	}
	case LEDGER__EVENT__BODY_ORG_DISSOLVED: {
		const Ledger__OrgDissolved *d = ev->org_dissolved;
		if ((rc = org_live(m, d->org_id, "org_dissolved.org_id", &o, e)))
			return rc;
		const morg *org = ms_org(m, o);
		if (org->members || org->affiliated || org->children)
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "org_dissolved.org_id",
					      "organisation '%s' still has %llu active members, "
					      "%llu affiliated members and %llu organisations "
					      "under it; transfer them first",
					      d->org_id, (unsigned long long)org->members,
					      (unsigned long long)org->affiliated,
					      (unsigned long long)org->children);
		if (ld_has(d->merged_into) &&
		    (rc = org_live(m, d->merged_into, "org_dissolved.merged_into", &p, e)))
			return rc;
		if (org->parent != MT_NONE && (rc = org_adjust(m, org->parent, 0, 0, -1)))
			return rc;
		((morg *)ms_touch(m, MA_ORGS, o))->dissolved = 1;
		return 0;
	}
	case LEDGER__EVENT__BODY_STATION_OPENED: {
		const Ledger__StationOpened *s = ev->station_opened;
		if (ms_station_find(m, s->station_id) != MT_NONE)
			return ld_errinfo_set(e, LD_E(ALREADY_EXISTS), "station_opened.station_id",
					      "station '%s' already exists", s->station_id);
		if ((rc = org_live(m, s->org_id, "station_opened.org_id", &o, e)))
			return rc;
		return ms_station_add(m, s->station_id, o);
	}
	default:
		return orgs_live(m, ev, e);
	}
}

int model_apply(store_txn *t, const Ledger__Event *ev, uint64_t seq, const model_hint *hint,
		model_result *r, ld_errinfo *e)
{
	model *m = model_of(t);
	uint64_t hash = hint ? hint->stream : 0;
	Ledger__Event *target = NULL, replacement;
	uint32_t s;
	int rc;

	memset(&r->link, 0, sizeof(r->link));
	r->fix_kind = 0;
	r->fix_target = 0;
	/* 1. The stream, its version, and the expected version. */
	const ld_kind *k = ld_kind_of(ev->body_case);
	if (k->flags & LD_KIND_CORRECTION) {
		uint64_t ts = ld_field_num(&k->target, ld_kind_body(k, ev));
		rc = model_load_event(t, ts, &target);
		if (rc == LD_E(NOT_FOUND))
			return ld_errinfo_set(e, rc, k->target.path, "no event seq %llu to correct",
					      (unsigned long long)ts);
		if (rc)
			return rc;
		snprintf(r->stream, sizeof(r->stream), "%s", target->stream ? target->stream : "");
		if ((s = stream_lookup(m, r->stream, 0)) == MT_NONE) {
			rc = LD_E(STORAGE); /* an event of a stream the model lacks */
			goto out;
		}
	} else if ((rc = codec_event_stream(ev, r->stream))) {
		return ld_errinfo_set(e, rc, NULL, "the event names no member or organisation");
	} else {
		s = stream_lookup(m, r->stream, hash);
	}
	uint64_t last = s == MT_NONE ? 0 : ms_stream(m, s)->version;
	if (ev->has_expected_version && ev->expected_version != last) {
		rc = ld_errinfo_set(e, LD_E(VERSION_CONFLICT), "expected_version",
				    "stream %s is at version %llu, not %llu", r->stream,
				    (unsigned long long)last,
				    (unsigned long long)ev->expected_version);
		goto out;
	}
	r->version = last + 1;

	/* 2. The invariants, then the state. */
	if (k->flags & LD_KIND_AMENDMENT) {
		codec_amended_body(ev->event_amended, &replacement);
		/* The replacement stands in the target's place in the stream,
		 * at its time unless the amendment corrects that. */
		replacement.seq = target->seq;
		replacement.has_occurred_at = 1;
		replacement.occurred_at = ev->event_amended->has_corrected_occurred_at
						  ? ev->event_amended->corrected_occurred_at
						  : target->occurred_at;
		rc = apply_correction(t, target, s, &replacement, seq, r, e);
	} else if (k->flags & LD_KIND_CORRECTION) {
		rc = apply_correction(t, target, s, NULL, seq, r, e);
	} else if (!(rc = station_exists(m, ev, "", e))) {
		rc = codec_event_member(ev) ? apply_member_event(t, ev, seq, hash, &s, e)
					    : apply_org_event(t, ev, &s, e);
	}
	if (rc)
		goto out;

	/* 3. The stream: the event's link, the new version and head. */
	if (s == MT_NONE) {
		const char *id;
		int kind = parse_stream(r->stream, &id);
		if (!kind) {
			rc = LD_E(INTERNAL);
			goto out;
		}
		if ((rc = ms_stream_add(m, kind, id, strlen(id), 0, &s)))
			goto out;
	}
	mstream *st = ms_stream(m, s);
	r->link.prev = st->head;
	r->link.version = (uint32_t)r->version;
	if ((rc = link_skip_for(txn_link, t, st->head, st->version, st->head_skip, &r->link.skip)))
		goto out;
	st = ms_touch(m, MA_STREAMS, s);
	st->head = seq;
	st->head_skip = r->link.skip;
	st->version = (uint32_t)r->version;
	/* Whether the stream holds a payment (a correction keeps the kind of
	 * what it corrects, so only a DuesPaid brings one), and the last month
	 * any of its payments paid for (mstate.h MS_PAYTO): both known from a
	 * member stream's first event on. */
	if (r->version == 1 && st->kind == MS_MEMBER) {
		st->flags |= MS_NOPAY | MS_PAYTO;
		st->paid_to = 0;
	}
	if (ev->body_case == LEDGER__EVENT__BODY_DUES_PAID)
		st->flags &= (uint8_t)~MS_NOPAY;
	const Ledger__Event *paid = (k->flags & LD_KIND_AMENDMENT) ? &replacement : ev;
	if ((st->flags & MS_PAYTO) && paid->body_case == LEDGER__EVENT__BODY_DUES_PAID) {
		const Ledger__DuesPaid *d = paid->dues_paid;
		uint32_t upto = d->period_to > d->period_from ? d->period_to : d->period_from;
		if (upto > st->paid_to)
			st->paid_to = upto;
	}
	r->stream_ref = s;
out:
	codec_event_free(target);
	return rc;
}

/* ================================================================== */
/* Event ids, undo, publishing                                         */
/* ================================================================== */

typedef struct id_probe {
	store_txn *t;
	const uint8_t *id;
	int err;
	uint64_t seq;
} id_probe;

/* A candidate of the event-id table: 1 (stop) when it is the id, or on an
 * error reading it. */
static int id_matches(uint64_t seq, void *arg)
{
	id_probe *p = arg;
	Ledger__Event *ev;
	int rc = model_load_event(p->t, seq, &ev);
	if (rc) {
		p->err = rc;
		return 1;
	}
	int same = ev->event_id.len == LD_EVENT_ID_LEN &&
		   memcmp(ev->event_id.data, p->id, LD_EVENT_ID_LEN) == 0;
	codec_event_free(ev);
	if (same)
		p->seq = seq;
	return same;
}

void model_prefetch(store_txn *t, const Ledger__Event *ev, int records, model_hint *hint)
{
	model *m = model_of(t);
	const uint8_t *person = NULL;
	if (!records)
		*hint = (model_hint){0};
	if (!m || (ld_kind_of(ev->body_case)->flags & LD_KIND_CORRECTION))
		return;
	if (records) {
		ms_prefetch(m, hint->stream, NULL, NULL, 1);
		return;
	}
	const char *id = codec_event_member(ev);
	size_t len = id ? strlen(id) : 0;
	hint->stream = len && len <= LD_ID_MAX ? ms_name_hash(m, MS_MEMBER, id, len) : 0;
	if (ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED && ev->member_joined->has_person_hash &&
	    ev->member_joined->person_hash.len == LD_HASH_LEN)
		person = ev->member_joined->person_hash.data;
	ms_prefetch(m, hint->stream, ev->event_id.len == LD_EVENT_ID_LEN ? ev->event_id.data : NULL,
		    person, 0);
}

int model_id_lookup(store_txn *t, const uint8_t id[LD_EVENT_ID_LEN], uint64_t *seq)
{
	id_probe p = {.t = t, .id = id};
	ms_id_find(model_of(t), id, id_matches, &p);
	*seq = p.seq;
	return p.err;
}

int model_id_add(store_txn *t, const uint8_t id[LD_EVENT_ID_LEN], uint64_t seq)
{
	return ms_id_add(model_of(t), id, seq);
}

model_undo *model_undo_new(void)
{
	return calloc(1, sizeof(model_undo));
}

void model_undo_free(model_undo *u)
{
	if (u) {
		free(u->buf);
		free(u);
	}
}

void model_undo_use(model *m, model_undo *u)
{
	m->undo = u;
}

size_t model_undo_mark(const model_undo *u)
{
	return u->len;
}

void model_undo_rollback(model *m, model_undo *u, size_t mark)
{
	ms_rollback(m, u, mark);
}

void model_undo_clear(model_undo *u)
{
	u->len = 0;
}

int model_undo_failed(const model_undo *u)
{
	return u->failed;
}

void model_publish(model *m, uint32_t stream_ref, uint64_t seq)
{
	atomic_store_explicit((_Atomic uint64_t *)marray_at(&m->pub, stream_ref), seq,
			      memory_order_release);
}

/* ================================================================== */
/* Life and inspection                                                 */
/* ================================================================== */

int model_create(model **out, store *s)
{
	model *m = malloc(sizeof(*m));
	*out = NULL;
	if (!m)
		return LD_E(INTERNAL);
	uint64_t seed;
	int rc = store_model_seed(s, &seed);
	if (rc || ms_init(m, s, seed) != 0) {
		if (!rc)
			ms_release(m);
		free(m);
		return rc ? rc : LD_E(INTERNAL);
	}
	store_set_model(s, m);
	*out = m;
	return 0;
}

void model_free(model *m)
{
	if (!m)
		return;
	if (store_model(m->s) == m)
		store_set_model(m->s, NULL);
	ms_release(m);
	free(m);
}

size_t model_memory(const model *m)
{
	size_t n = sizeof(*m) + marray_bytes(&m->pub) + mindex_bytes(&m->streams) +
		   mindex_bytes(&m->persons) + mindex_bytes(&m->stations) + mids_bytes(&m->ids) +
		   (m->refunds.mask + 1) * 16 + (m->fixes.mask + 1) * 16 +
		   (m->pending.mask + 1) * 16 +
		   (size_t)m->names.nchunks * MT_BYTES_CHUNK;
	for (unsigned i = 0; i < MA__COUNT; i++)
		n += marray_bytes(&m->arr[i]);
	return n;
}

void model_counts(const model *m, uint64_t *members, uint64_t *orgs, uint64_t *streams,
		  uint64_t *ids)
{
	*members = marray_count(&m->arr[MA_MEMBERS]);
	*orgs = marray_count(&m->arr[MA_ORGS]);
	*streams = marray_count(&m->arr[MA_STREAMS]);
	*ids = m->ids.live;
}

/* ---- the dump ---- */

typedef struct dump {
	char *p;
	size_t len, cap;
	int failed;
} dump;

__attribute__((format(printf, 2, 3))) static void out(dump *d, const char *fmt, ...)
{
	va_list ap;
	for (int pass = 0; pass < 2 && !d->failed; pass++) {
		va_start(ap, fmt);
		int n = vsnprintf(d->p + d->len, d->cap - d->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			d->failed = 1;
			return;
		}
		if ((size_t)n < d->cap - d->len) {
			d->len += (size_t)n;
			return;
		}
		size_t cap = d->cap ? d->cap * 2 : 1 << 16;
		while (cap < d->len + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(d->p, cap);
		if (!p)
			d->failed = 1;
		d->p = p;
		d->cap = cap;
	}
}

static void hex(char *o, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		o[2 * i] = digits[p[i] >> 4];
		o[2 * i + 1] = digits[p[i] & 15];
	}
	o[2 * n] = 0;
}

static const model *sort_model;

static int stream_cmp(const void *a, const void *b)
{
	const mstream *x = ms_stream(sort_model, *(const uint32_t *)a);
	const mstream *y = ms_stream(sort_model, *(const uint32_t *)b);
	if (x->kind != y->kind)
		return x->kind - y->kind;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(mbytes_at(&sort_model->names, x->name), mbytes_at(&sort_model->names, y->name),
		       n);
	return c ? c : x->name_len - y->name_len;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

typedef struct pairs {
	uint64_t *kv;
	size_t n;
} pairs;

static void pair_add(uint64_t key, uint64_t v, void *arg)
{
	pairs *p = arg;
	p->kv[2 * p->n] = key;
	p->kv[2 * p->n + 1] = v;
	p->n++;
}

static void dump_map(dump *d, const char *what, const mmap64 *map)
{
	pairs p = {.kv = malloc((map->live ? map->live : 1) * 2 * sizeof(uint64_t))};
	if (!p.kv) {
		d->failed = 1;
		return;
	}
	mmap64_each(map, pair_add, &p);
	qsort(p.kv, p.n, 2 * sizeof(uint64_t), u64_cmp);
	for (size_t i = 0; i < p.n; i++)
		out(d, "%s %llu %llx\n", what, (unsigned long long)p.kv[2 * i],
		    (unsigned long long)p.kv[2 * i + 1]);
	free(p.kv);
}

static const char *const kind_names[] = {[MS_MEMBER] = "member", [MS_ORG] = "org",
					 [MS_REGION] = "region"};

int model_dump(const model *m, char **outp, size_t *len)
{
	dump d = {0};
	char name[LD_ID_MAX + 1], org[LD_ID_MAX + 1], h[2 * LD_HASH_LEN + 1];
	uint32_t n = marray_count(&m->arr[MA_STREAMS]), live = 0;
	uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
	if (!order)
		return LD_E(INTERNAL);
	for (uint32_t i = 0; i < n; i++)
		if (!(ms_stream(m, i)->flags & MS_DEAD))
			order[live++] = i;
	sort_model = m;
	qsort(order, live, sizeof(*order), stream_cmp);
	for (uint32_t i = 0; i < live; i++) {
		const mstream *st = ms_stream(m, order[i]);
		out(&d, "stream %s/%s version %u head %llu skip %llu", kind_names[st->kind],
		    ms_name(m, order[i], name), st->version, (unsigned long long)st->head,
		    (unsigned long long)st->head_skip);
		if (st->kind == MS_MEMBER) {
			const mmember *mm = ms_member(m, st->state);
			hex(h, mm->hash, LD_HASH_LEN);
			out(&d, " status %u forgotten %u person %s%s org %s", mm->status,
			    mm->forgotten, h,
			    mm->status != MEMBER_NONE && ms_person_find(m, mm->hash) != st->state
				    ? " (NOT INDEXED)"
				    : "",
			    mm->org == MT_NONE ? "-" : ms_org_name(m, mm->org, org));
			for (int a = 0; a < mm->naff; a++)
				out(&d, " aff %u:%s@%u", ms_aff(m, mm->aff)->kind[a],
				    ms_org_name(m, ms_aff(m, mm->aff)->org[a], org),
				    ms_aff(m, mm->aff)->at[a]);
			/* When the placement and the membership began (the dates
			 * new events are held to): a restart must keep them. */
			out(&d, " since %u joined %u", mm->since_s, mm->joined_s);
			uint64_t rel;
			if (mmap64_get(&m->pending, (uint64_t)st->state + 1, &rel))
				out(&d, " pending %llu", (unsigned long long)rel);
		} else if (st->kind == MS_ORG) {
			const morg *o = ms_org(m, st->state);
			out(&d, " kind %u parent %s region %u admits %u dissolved %u members %u "
				"affiliated %u children %u flags %u",
			    o->kind, o->parent == MT_NONE ? "-" : ms_org_name(m, o->parent, org),
			    o->region, o->admits, o->dissolved, o->members, o->affiliated,
			    o->children, o->flags);
		}
		out(&d, "\n");
	}
	free(order);
	n = marray_count(&m->arr[MA_STATIONS]);
	for (uint32_t i = 0; i < n; i++) {
		const mstation *st = ms_station(m, i);
		if (!st->open)
			continue;
		memcpy(name, mbytes_at(&m->names, st->name), st->name_len);
		name[st->name_len] = 0;
		out(&d, "station %s org %s%s\n", name, ms_org_name(m, st->org, org),
		    ms_station_find(m, name) == i ? "" : " (NOT INDEXED)");
	}
	dump_map(&d, "refund", &m->refunds);
	dump_map(&d, "fix", &m->fixes);
	uint64_t *ids = malloc((m->ids.live ? m->ids.live : 1) * sizeof(uint64_t));
	size_t nid = 0;
	if (!ids)
		d.failed = 1;
	for (unsigned g = 0; ids && g < MIDS_SEGMENTS; g++)
		for (uint64_t i = 0; i < (uint64_t)1 << m->ids.seg[g].bits; i++) {
			uint64_t v = m->ids.seg[g].slot[i];
			if (v && v != MIDS_DEAD && nid < m->ids.live)
				ids[nid++] = (v & MIDS_SEQ_MASK) << 28 | v >> MIDS_SEQ_BITS;
		}
	if (ids) {
		qsort(ids, nid, sizeof(*ids), u64_cmp);
		for (size_t i = 0; i < nid; i++)
			out(&d, "id %llu %07llx\n", (unsigned long long)(ids[i] >> 28),
			    (unsigned long long)(ids[i] & 0xfffffff));
		free(ids);
	}
	if (d.failed) {
		free(d.p);
		return LD_E(INTERNAL);
	}
	*outp = d.p;
	*len = d.len;
	return 0;
}
