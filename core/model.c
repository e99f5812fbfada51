/* model.c — the write model and its invariants. See model.h. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"

/* ================================================================== */
/* State records                                                       */
/* ================================================================== */

#define MAX_AFF 8 /* affiliations per member ("platform + residence" and a few more) */

enum { MEMBER_NONE = 0, MEMBER_ACTIVE = 1, MEMBER_ENDED = 2 };

typedef struct member_state {
	uint8_t status;
	uint8_t naff;
	uint8_t forgotten; /* personal data forgotten (stored after the affiliations) */
	uint8_t hash[LD_HASH_LEN];
	char org[LD_ID_MAX + 1];
	struct {
		uint8_t kind;
		char org[LD_ID_MAX + 1];
	} aff[MAX_AFF];
} member_state;

typedef struct org_state {
	uint8_t kind;
	uint8_t dissolved;
	uint8_t admits;
	uint32_t region;
	uint64_t members;    /* active members whose organisation this is */
	uint64_t affiliated; /* active members affiliated with it */
	uint64_t children;   /* organisations under it not dissolved */
	char parent[LD_ID_MAX + 1];
} org_state;

/* Strings are stored as one length byte and the bytes. */
static uint8_t *put_str(uint8_t *p, const char *s)
{
	size_t n = strlen(s);
	*p++ = (uint8_t)n;
	memcpy(p, s, n);
	return p + n;
}

static const uint8_t *get_str(const uint8_t *p, const uint8_t *end, char out[LD_ID_MAX + 1])
{
	if (p >= end || *p > LD_ID_MAX || p + 1 + *p > end)
		return NULL;
	memcpy(out, p + 1, *p);
	out[*p] = '\0';
	return p + 1 + *p;
}

static size_t member_encode(const member_state *m, uint8_t *buf)
{
	uint8_t *p = buf;
	*p++ = m->status;
	*p++ = m->naff;
	memcpy(p, m->hash, LD_HASH_LEN);
	p = put_str(p + LD_HASH_LEN, m->org);
	for (int i = 0; i < m->naff; i++) {
		*p++ = m->aff[i].kind;
		p = put_str(p, m->aff[i].org);
	}
	if (m->forgotten) /* absent in states written before personal data */
		*p++ = 1;
	return (size_t)(p - buf);
}

static int member_decode(const store_val *v, member_state *m)
{
	const uint8_t *p = v->data, *end = p + v->len;
	memset(m, 0, sizeof(*m));
	if (v->len < 2 + LD_HASH_LEN)
		return LD_E(STORAGE);
	m->status = p[0];
	m->naff = p[1];
	memcpy(m->hash, p + 2, LD_HASH_LEN);
	p = get_str(p + 2 + LD_HASH_LEN, end, m->org);
	for (int i = 0; p && i < m->naff && i < MAX_AFF; i++) {
		if (p >= end)
			return LD_E(STORAGE);
		m->aff[i].kind = *p++;
		p = get_str(p, end, m->aff[i].org);
	}
	if (p && p < end)
		m->forgotten = *p++;
	return p ? 0 : LD_E(STORAGE);
}

static size_t org_encode(const org_state *o, uint8_t *buf)
{
	uint8_t *p = buf;
	*p++ = o->kind;
	*p++ = o->dissolved;
	*p++ = o->admits;
	ld_put_be64(p, o->region);
	ld_put_be64(p + 8, o->members);
	ld_put_be64(p + 16, o->affiliated);
	ld_put_be64(p + 24, o->children);
	return (size_t)(put_str(p + 32, o->parent) - buf);
}

static int org_decode(const store_val *v, org_state *o)
{
	const uint8_t *p = v->data;
	memset(o, 0, sizeof(*o));
	if (v->len < 35)
		return LD_E(STORAGE);
	o->kind = p[0];
	o->dissolved = p[1];
	o->admits = p[2];
	o->region = (uint32_t)ld_get_be64(p + 3);
	o->members = ld_get_be64(p + 11);
	o->affiliated = ld_get_be64(p + 19);
	o->children = ld_get_be64(p + 27);
	return get_str(p + 35, p + v->len, o->parent) ? 0 : LD_E(STORAGE);
}

/*
 * Each stream's current state and version live in its head record, the key
 * "<stream>\0" + 8 bytes 0xff: the last key of the stream's range in the
 * streams database, so it shares a leaf page with the stream's latest
 * entries. An event of a member then dirties one page of that index, not two.
 * Value: version (8 bytes BE), then the state (member or organisation
 * encoding; empty for regions and for members whose join was voided).
 */
static size_t stream_key(uint8_t *key, const char *stream, uint64_t version)
{
	size_t n = strlen(stream);
	memcpy(key, stream, n);
	key[n] = 0;
	ld_put_be64(key + n + 1, version);
	return n + 9;
}

#define HEAD_VERSION UINT64_MAX

/* Version and state (pointing into the map) of a stream; 0 and empty if it
 * has no events. */
static int head_get(store_txn *t, const char *stream, uint64_t *version, store_val *state)
{
	uint8_t key[LD_STREAM_MAX + 9];
	store_val v;
	int rc = store_get(t, DB_STREAMS, key, stream_key(key, stream, HEAD_VERSION), &v);
	*version = 0;
	state->data = NULL;
	state->len = 0;
	if (rc == LD_E(NOT_FOUND))
		return 0;
	if (rc)
		return rc;
	if (v.len < 8)
		return LD_E(STORAGE);
	*version = ld_get_be64(v.data);
	state->data = (const uint8_t *)v.data + 8;
	state->len = v.len - 8;
	return 0;
}

static int head_put(store_txn *t, const char *stream, uint64_t version, const void *state,
		    size_t len)
{
	uint8_t key[LD_STREAM_MAX + 9], val[8 + 512];
	if (len > sizeof(val) - 8)
		return LD_E(INTERNAL);
	ld_put_be64(val, version);
	if (len)
		memcpy(val + 8, state, len);
	return store_put(t, DB_STREAMS, key, stream_key(key, stream, HEAD_VERSION), val, 8 + len);
}

/* Replaces a stream's state, keeping its version. */
static int state_put(store_txn *t, const char *stream, const void *state, size_t len)
{
	uint64_t version;
	store_val old;
	int rc = head_get(t, stream, &version, &old);
	return rc ? rc : head_put(t, stream, version, state, len);
}

static void stream_name(char out[LD_STREAM_MAX], const char *kind, const char *id)
{
	snprintf(out, LD_STREAM_MAX, "%s/%s", kind, id);
}

static int member_load(store_txn *t, const char *id, member_state *m)
{
	char stream[LD_STREAM_MAX];
	uint64_t version;
	store_val v;
	stream_name(stream, "member", id);
	int rc = head_get(t, stream, &version, &v);
	if (rc)
		return rc;
	if (v.len == 0) {
		memset(m, 0, sizeof(*m));
		return 0;
	}
	return member_decode(&v, m);
}

/* 0 with *o filled, LD_E(NOT_FOUND), or a storage error. */
static int org_load(store_txn *t, const char *id, org_state *o)
{
	char stream[LD_STREAM_MAX];
	uint64_t version;
	store_val v;
	stream_name(stream, "org", id);
	int rc = head_get(t, stream, &version, &v);
	if (rc)
		return rc;
	return v.len == 0 ? LD_E(NOT_FOUND) : org_decode(&v, o);
}

static int org_save(store_txn *t, const char *id, const org_state *o)
{
	char stream[LD_STREAM_MAX];
	uint8_t buf[64 + LD_ID_MAX];
	stream_name(stream, "org", id);
	return state_put(t, stream, buf, org_encode(o, buf));
}

/* Adds to an organisation's counters. */
static int org_adjust(store_txn *t, const char *id, int64_t members, int64_t affiliated,
		      int64_t children)
{
	org_state o;
	int rc = org_load(t, id, &o);
	if (rc)
		return rc == LD_E(NOT_FOUND) ? LD_E(INTERNAL) : rc;
	o.members += (uint64_t)members;
	o.affiliated += (uint64_t)affiliated;
	o.children += (uint64_t)children;
	return org_save(t, id, &o);
}

static int has_aff(const member_state *m, const char *org)
{
	for (int i = 0; i < m->naff; i++)
		if (strcmp(m->aff[i].org, org) == 0)
			return 1;
	return 0;
}

/*
 * Writes the change of a member from `old` to `new`: its record, the persons
 * index, and the counters of the organisations it leaves and enters.
 */
static int member_save(store_txn *t, const char *id, const member_state *old,
		       const member_state *new)
{
	int rc = 0;
	int was = old->status == MEMBER_ACTIVE, is = new->status == MEMBER_ACTIVE;

	if (was && (!is || strcmp(old->org, new->org) != 0))
		rc = org_adjust(t, old->org, -1, 0, 0);
	if (!rc && is && (!was || strcmp(old->org, new->org) != 0))
		rc = org_adjust(t, new->org, +1, 0, 0);
	for (int i = 0; !rc && was && i < old->naff; i++)
		if (!is || !has_aff(new, old->aff[i].org))
			rc = org_adjust(t, old->aff[i].org, 0, -1, 0);
	for (int i = 0; !rc && is && i < new->naff; i++)
		if (!was || !has_aff(old, new->aff[i].org))
			rc = org_adjust(t, new->aff[i].org, 0, +1, 0);
	if (rc)
		return rc;

	if (old->status != MEMBER_NONE &&
	    (new->status == MEMBER_NONE || memcmp(old->hash, new->hash, LD_HASH_LEN) != 0))
		if ((rc = store_del(t, DB_PERSONS, old->hash, LD_HASH_LEN)))
			return rc;
	char stream[LD_STREAM_MAX];
	stream_name(stream, "member", id);
	if (new->status == MEMBER_NONE)
		return state_put(t, stream, NULL, 0);
	if (old->status == MEMBER_NONE || memcmp(old->hash, new->hash, LD_HASH_LEN) != 0)
		if ((rc = store_put(t, DB_PERSONS, new->hash, LD_HASH_LEN, id, strlen(id))))
			return rc;
	uint8_t buf[3 + LD_HASH_LEN + (MAX_AFF + 1) * (LD_ID_MAX + 2)];
	return state_put(t, stream, buf, member_encode(new, buf));
}

/* ================================================================== */
/* Checks on organisations                                             */
/* ================================================================== */

/* The organisation exists and is not dissolved. */
static int org_live(store_txn *t, const char *id, const char *field, org_state *o, ld_errinfo *e)
{
	int rc = org_load(t, id, o);
	if (rc == LD_E(NOT_FOUND))
		return ld_errinfo_set(e, rc, field, "organisation '%s' not found", id);
	if (rc)
		return rc;
	if (o->dissolved)
		return ld_errinfo_set(e, LD_E(ORG_DISSOLVED), field,
				      "organisation '%s' is dissolved", id);
	return 0;
}

/* The organisation exists, is not dissolved and admits members. */
static int org_admits(store_txn *t, const char *id, const char *field, ld_errinfo *e)
{
	org_state o;
	int rc = org_live(t, id, field, &o, e);
	if (rc)
		return rc;
	if (!o.admits)
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

static int check_org_registered(store_txn *t, const Ledger__OrgRegistered *r, ld_errinfo *e)
{
	org_state o, p;
	int rc = org_load(t, r->org_id, &o);
	if (rc == 0)
		return ld_errinfo_set(e, LD_E(ALREADY_EXISTS), "org_registered.org_id",
				      "organisation '%s' is already registered", r->org_id);
	if (rc != LD_E(NOT_FOUND))
		return rc;
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
	if ((rc = org_live(t, r->parent_id, "org_registered.parent_id", &p, e)))
		return rc == LD_E(NOT_FOUND) || rc == LD_E(ORG_DISSOLVED)
			       ? ld_errinfo_set(e, LD_E(HIERARCHY), "org_registered.parent_id",
						"parent organisation '%s' %s", r->parent_id,
						rc == LD_E(NOT_FOUND) ? "not found"
								      : "is dissolved")
			       : rc;
	if (kind >= sizeof(parent_kinds) / sizeof(parent_kinds[0]) ||
	    !(parent_kinds[kind] & (1u << p.kind)))
		return ld_errinfo_set(e, LD_E(HIERARCHY), "org_registered.parent_id",
				      "a %s cannot sit under '%s', a %s", kind_name(kind),
				      r->parent_id, kind_name(p.kind));
	if (!region_contains(p.region, r->region))
		return ld_errinfo_set(e, LD_E(HIERARCHY), "org_registered.region",
				      "region %u lies outside region %u of parent '%s'", r->region,
				      p.region, r->parent_id);
	return 0;
}

/* ================================================================== */
/* Members: one fold step                                              */
/* ================================================================== */

enum { CHECK_ORGS = 1 };

/* A field path for messages: "<kind>.<field>". */
static const char *path_of(char out[96], const ld_kind *k, const char *field)
{
	snprintf(out, 96, "%s.%s", k->name, field);
	return out;
}

/* The organisations a member enters with ev (proto/kinds.c: LD_ORG_ENTERS)
 * exist, are not dissolved and admit members. */
static int orgs_admit(store_txn *t, const Ledger__Event *ev, ld_errinfo *e)
{
	ld_org_ref orgs[LD_KIND_MAX_ORGS];
	size_t n = ld_event_orgs(ev, LD_ORG_ENTERS, orgs);
	for (size_t i = 0; i < n; i++) {
		int rc = org_admits(t, orgs[i].id, orgs[i].path, e);
		if (rc)
			return rc;
	}
	return 0;
}

/* The organisations ev names that must be live (LD_ORG_LIVE) are. */
static int orgs_live(store_txn *t, const Ledger__Event *ev, ld_errinfo *e)
{
	ld_org_ref orgs[LD_KIND_MAX_ORGS];
	org_state o;
	size_t n = ld_event_orgs(ev, LD_ORG_LIVE, orgs);
	for (size_t i = 0; i < n; i++) {
		int rc = org_live(t, orgs[i].id, orgs[i].path, &o, e);
		if (rc)
			return rc;
	}
	return 0;
}

/* The join of member `id`, whose state is *m. */
static int join_step(store_txn *t, member_state *m, const char *id, const Ledger__MemberJoined *j,
		     ld_errinfo *e)
{
	int rc;
	if (m->status == MEMBER_ACTIVE)
		return ld_errinfo_set(e, LD_E(ALREADY_MEMBER), "member_joined.member_id",
				      "member '%s' is already active in '%s' "
				      "(join once, transfer dynamically)",
				      id, m->org);
	if (m->status == MEMBER_ENDED && memcmp(m->hash, j->person_hash.data, LD_HASH_LEN))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "member_joined.person_hash",
				      "member '%s' was registered for another person "
				      "(person_hash differs)",
				      id);
	store_val v;
	rc = store_get(t, DB_PERSONS, j->person_hash.data, LD_HASH_LEN, &v);
	if (rc == 0 && (v.len != strlen(id) || memcmp(v.data, id, v.len) != 0)) {
		char other[LD_ID_MAX + 1];
		member_state om;
		snprintf(other, sizeof(other), "%.*s", (int)v.len, (const char *)v.data);
		if ((rc = member_load(t, other, &om)))
			return rc;
		if (om.status == MEMBER_ACTIVE)
			return ld_errinfo_set(e, LD_E(ALREADY_MEMBER), "member_joined.person_hash",
					      "this person is already an active member as "
					      "'%s' in '%s' (one membership per person: "
					      "transfer instead)",
					      other, om.org);
		return ld_errinfo_set(e, LD_E(INVALID_STATE), "member_joined.person_hash",
				      "this person is registered as member '%s'; rejoin "
				      "as '%s'",
				      other, other);
	} else if (rc && rc != LD_E(NOT_FOUND)) {
		return rc;
	}
	m->status = MEMBER_ACTIVE;
	memcpy(m->hash, j->person_hash.data, LD_HASH_LEN);
	snprintf(m->org, sizeof(m->org), "%s", j->org_id);
	m->naff = 0;
	return 0;
}

/*
 * Applies one member event to *m (the state of `id`). With CHECK_ORGS the
 * organisations it enters must be live and admit members; a re-fold after a
 * correction skips that for past events (they were checked when recorded)
 * and checks only the final state. On an error *m may be half changed: the
 * caller drops it.
 */
static int member_step(store_txn *t, member_state *m, const char *id, const Ledger__Event *ev,
		       int flags, ld_errinfo *e)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	char field[96];
	int rc = 0;

	/* Nothing personal is recorded for a forgotten member any more. */
	if (m->forgotten && ld_field_set(&k->sealed, ld_kind_body(k, ev)))
		return ld_errinfo_set(e, LD_E(ALREADY_FORGOTTEN), path_of(field, k, "name"),
				      "member '%s' was forgotten: no personal data is "
				      "recorded for them any more",
				      id);
	/* Every member event but a join needs a member. */
	if (ev->body_case != LEDGER__EVENT__BODY_MEMBER_JOINED && m->status == MEMBER_NONE)
		return ld_errinfo_set(e, LD_E(NOT_FOUND), k->member.path, "member '%s' not found",
				      id);

	/* The write model's fold of a member: a case for each kind that
	 * changes its state or has a rule of its own. Dues, services and
	 * profile changes only need the member to exist. */
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_MEMBER_JOINED:
		rc = join_step(t, m, id, ev->member_joined, e);
		break;
	case LEDGER__EVENT__BODY_MEMBER_AFFILIATED: {
		const Ledger__MemberAffiliated *a = ev->member_affiliated;
		if (m->status != MEMBER_ACTIVE)
			return ld_errinfo_set(e, LD_E(NOT_ACTIVE), "member_affiliated.member_id",
					      "member '%s' has no active membership", id);
		if (strcmp(m->org, a->org_id) == 0 || has_aff(m, a->org_id))
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "member_affiliated.org_id",
					      "member '%s' already belongs to '%s'", id, a->org_id);
		if (m->naff == MAX_AFF)
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "member_affiliated.org_id",
					      "member '%s' already has %d affiliations", id,
					      MAX_AFF);
		m->aff[m->naff].kind = (uint8_t)a->kind;
		snprintf(m->aff[m->naff].org, sizeof(m->aff[0].org), "%s", a->org_id);
		m->naff++;
		break;
	}
	case LEDGER__EVENT__BODY_MEMBER_DISAFFILIATED: {
		const char *org = ev->member_disaffiliated->org_id;
		int i = 0;
		while (i < m->naff && strcmp(m->aff[i].org, org) != 0)
			i++;
		if (i == m->naff)
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "member_disaffiliated.org_id",
					      "member '%s' is not affiliated with '%s'", id, org);
		m->aff[i] = m->aff[--m->naff];
		break;
	}
	case LEDGER__EVENT__BODY_MEMBER_TRANSFERRED: {
		const Ledger__MemberTransferred *x = ev->member_transferred;
		if (m->status != MEMBER_ACTIVE)
			return ld_errinfo_set(e, LD_E(NOT_ACTIVE), "member_transferred.member_id",
					      "member '%s' has no active membership to transfer",
					      id);
		if (strcmp(m->org, x->from_org) != 0)
			return ld_errinfo_set(e, LD_E(INVALID_STATE),
					      "member_transferred.from_org",
					      "member '%s' is in '%s', not in '%s'", id, m->org,
					      x->from_org);
		snprintf(m->org, sizeof(m->org), "%s", x->to_org);
		for (int i = 0; i < m->naff; i++)
			if (strcmp(m->aff[i].org, x->to_org) == 0) {
				m->aff[i] = m->aff[--m->naff];
				break;
			}
		break;
	}
	case LEDGER__EVENT__BODY_MEMBERSHIP_ENDED:
		if (m->status != MEMBER_ACTIVE)
			return ld_errinfo_set(e, LD_E(NOT_ACTIVE), "membership_ended.member_id",
					      "member '%s' has no active membership to end", id);
		m->status = MEMBER_ENDED;
		m->naff = 0;
		break;
	case LEDGER__EVENT__BODY_MEMBER_FORGOTTEN:
		if (m->forgotten)
			return ld_errinfo_set(e, LD_E(ALREADY_FORGOTTEN),
					      "member_forgotten.member_id",
					      "member '%s' was already forgotten", id);
		m->forgotten = 1;
		break;
	default:
		break;
	}
	if (rc || !(flags & CHECK_ORGS))
		return rc;
	return orgs_admit(t, ev, e);
}


/* ================================================================== */
/* The log and the stream index                                        */
/* ================================================================== */

int model_member_forgotten(store_txn *t, const char *id)
{
	member_state m;
	return member_load(t, id, &m) == 0 && m.forgotten;
}

int model_load_event(store_txn *t, uint64_t seq, Ledger__Event **ev)
{
	uint8_t key[8];
	store_val v;
	ld_put_be64(key, seq);
	int rc = store_get(t, DB_LOG, key, sizeof(key), &v);
	if (rc)
		return rc;
	*ev = codec_event_unpack(v.data, v.len);
	return *ev ? 0 : LD_E(STORAGE);
}

int model_org_parent(store_txn *t, const char *org_id, char parent[LD_ID_MAX + 1],
		     uint32_t *region)
{
	org_state o;
	int rc = org_load(t, org_id, &o);
	if (rc)
		return rc;
	snprintf(parent, LD_ID_MAX + 1, "%s", o.parent);
	if (region)
		*region = o.region;
	return 0;
}

int model_member_org(store_txn *t, const char *id, char org[LD_ID_MAX + 1])
{
	member_state m;
	int rc = member_load(t, id, &m);
	if (rc)
		return rc;
	if (m.status == MEMBER_NONE || !m.org[0])
		return LD_E(NOT_FOUND);
	snprintf(org, LD_ID_MAX + 1, "%s", m.org);
	return 0;
}

int model_stream_version(store_txn *t, const char *stream, uint64_t *version)
{
	store_val state;
	return head_get(t, stream, version, &state);
}

/* ================================================================== */
/* Corrections: voids and amendments                                   */
/* ================================================================== */

enum { FIX_VOID = 1, FIX_AMEND = 2 };

int model_fix_get(store_txn *t, uint64_t seq, int *kind, uint64_t *by)
{
	uint8_t key[8];
	store_val v;
	ld_put_be64(key, seq);
	int rc = store_get(t, DB_FIXES, key, 8, &v);
	*kind = 0;
	*by = 0;
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

static int fix_put(store_txn *t, uint64_t seq, int kind, uint64_t by)
{
	uint8_t key[8], val[9];
	ld_put_be64(key, seq);
	val[0] = (uint8_t)kind;
	ld_put_be64(val + 1, by);
	return store_put(t, DB_FIXES, key, 8, val, 9);
}

/*
 * An event as it counts now: NULL if voided, else *holder is the event to
 * free and *eff the event whose body counts (the latest amendment's
 * corrected body, in `scratch`, or the event itself).
 */
static int effective(store_txn *t, uint64_t seq, Ledger__Event **holder, Ledger__Event **amend,
		     Ledger__Event *scratch, const Ledger__Event **eff)
{
	int kind, rc;
	uint64_t by;
	*holder = *amend = NULL;
	*eff = NULL;
	if ((rc = model_fix_get(t, seq, &kind, &by)))
		return rc;
	if (kind == FIX_VOID)
		return 0;
	if ((rc = model_load_event(t, seq, holder)))
		return rc;
	*eff = *holder;
	if (kind == FIX_AMEND) {
		if ((rc = model_load_event(t, by, amend)))
			return rc;
		codec_amended_body((*amend)->event_amended, scratch);
		*eff = scratch;
	}
	return 0;
}

static int is_correction(const Ledger__Event *ev)
{
	return (ld_kind_of(ev->body_case)->flags & LD_KIND_CORRECTION) != 0;
}

/*
 * Re-folds member `id` from its stream, with event `seq` replaced by
 * `replacement` (NULL: voided). Fails with INVALID_STATE naming the first
 * event that no longer applies.
 */
static int member_refold(store_txn *t, const char *id, uint64_t seq,
			 const Ledger__Event *replacement, member_state *out, ld_errinfo *e)
{
	char stream[LD_STREAM_MAX];
	uint8_t key[LD_STREAM_MAX + 9];
	store_cursor *c;
	store_val k, v;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(stream, sizeof(stream), "member/%s", id);
	size_t n = strlen(stream), klen = stream_key(key, stream, 0);
	if ((rc = store_cursor_open(t, DB_STREAMS, &c)))
		return rc;
	for (rc = store_cursor_seek(c, key, klen, &k, &v); rc == 0;
	     rc = store_cursor_next(c, &k, &v)) {
		if (k.len != n + 9 || memcmp(k.data, key, n + 1) != 0 ||
		    ld_get_be64((const uint8_t *)k.data + n + 1) == HEAD_VERSION)
			break;
		uint64_t s = ld_get_be64(v.data);
		Ledger__Event *holder = NULL, *amend = NULL, scratch;
		const Ledger__Event *eff = NULL;
		if (s == seq) {
			eff = replacement;
		} else if ((rc = effective(t, s, &holder, &amend, &scratch, &eff))) {
			break;
		}
		if (eff && !is_correction(eff)) {
			ld_errinfo inner;
			rc = member_step(t, out, id, eff, 0, &inner);
			if (rc && e)
				ld_errinfo_set(e, rc == LD_E(STORAGE) ? rc : LD_E(INVALID_STATE),
					       inner.field,
					       "the correction would make event seq %llu (%s) "
					       "invalid: %s",
					       (unsigned long long)s,
					       codec_event_type_name(eff->body_case), inner.message);
			if (rc && rc != LD_E(STORAGE))
				rc = LD_E(INVALID_STATE);
		}
		codec_event_free(holder);
		codec_event_free(amend);
		if (rc)
			break;
	}
	store_cursor_close(c);
	if (rc && rc != LD_E(NOT_FOUND))
		return rc;
	if (out->status == MEMBER_ACTIVE) {
		org_state o;
		if ((rc = org_live(t, out->org, NULL, &o, e)))
			return rc == LD_E(NOT_FOUND) || rc == LD_E(ORG_DISSOLVED)
				       ? ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
							"the correction would leave member '%s' "
							"in '%s', which is %s",
							id, out->org,
							rc == LD_E(ORG_DISSOLVED) ? "dissolved"
										  : "unknown")
				       : rc;
	}
	return 0;
}

/* Refunded so far of DuesPaid `seq`. */
static int refunded(store_txn *t, uint64_t seq, int64_t *total)
{
	uint8_t key[8];
	store_val v;
	ld_put_be64(key, seq);
	int rc = store_get(t, DB_REFUNDS, key, 8, &v);
	*total = 0;
	if (rc == LD_E(NOT_FOUND))
		return 0;
	if (rc == 0)
		*total = (int64_t)ld_get_be64(v.data);
	return rc;
}

static int refund_add(store_txn *t, uint64_t seq, int64_t delta)
{
	int64_t total;
	uint8_t key[8], val[8];
	int rc = refunded(t, seq, &total);
	if (rc)
		return rc;
	ld_put_be64(key, seq);
	ld_put_be64(val, (uint64_t)(total + delta));
	return store_put(t, DB_REFUNDS, key, 8, val, 8);
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
	else if (!(rc = refunded(t, r->paid_seq, &done)) &&
		 done + r->amount_fen > paid->dues_paid->amount_fen)
		rc = ld_errinfo_set(e, LD_E(INVALID_STATE), "dues_refunded.amount_fen",
				    "refunds of seq %llu would reach %lld fen, more than the "
				    "%lld fen paid",
				    (unsigned long long)r->paid_seq, (long long)(done + r->amount_fen),
				    (long long)paid->dues_paid->amount_fen);
	codec_event_free(holder);
	codec_event_free(amend);
	return rc;
}

/* Re-folds whether an organisation admits members, without update `skip`. */
static int org_refold_admits(store_txn *t, const char *stream, uint64_t skip, uint8_t *admits)
{
	uint8_t key[LD_STREAM_MAX + 9];
	size_t n = strlen(stream), klen = stream_key(key, stream, 0);
	store_cursor *c;
	store_val k, v;
	int rc = store_cursor_open(t, DB_STREAMS, &c);
	if (rc)
		return rc;
	for (rc = store_cursor_seek(c, key, klen, &k, &v); rc == 0;
	     rc = store_cursor_next(c, &k, &v)) {
		if (k.len != n + 9 || memcmp(k.data, key, n + 1) != 0 ||
		    ld_get_be64((const uint8_t *)k.data + n + 1) == HEAD_VERSION)
			break;
		uint64_t s = ld_get_be64(v.data);
		Ledger__Event *holder, *amend, scratch;
		const Ledger__Event *eff;
		if (s == skip)
			continue;
		if ((rc = effective(t, s, &holder, &amend, &scratch, &eff)))
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
	store_cursor_close(c);
	return rc == LD_E(NOT_FOUND) ? 0 : rc;
}

/* The station ev refers to (proto/kinds.c: `station`), if any, exists;
 * the error names the field behind `prefix` ("" or "event_amended."). */
static int station_exists(store_txn *t, const Ledger__Event *ev, const char *prefix, ld_errinfo *e)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	const char *st = ld_field_str(&k->station, ld_kind_body(k, ev));
	store_val v;
	if (!st)
		return 0;
	int rc = store_get(t, DB_STATIONS, st, strlen(st), &v);
	if (rc == LD_E(NOT_FOUND)) {
		char field[96];
		snprintf(field, sizeof(field), "%s%s", prefix, k->station.path);
		return ld_errinfo_set(e, rc, field, "station '%s' not found", st);
	}
	return rc;
}

/*
 * A void (replacement == NULL) or an amendment of `target`, recorded as
 * event `seq`. Validates, then writes the state that changes.
 */
static int apply_correction(store_txn *t, const Ledger__Event *target, const char *target_stream,
			    const Ledger__Event *replacement, uint64_t seq, ld_errinfo *e)
{
	int rc, kind;
	uint64_t by;
	const char *field = replacement ? "event_amended.target_seq" : "event_voided.target_seq";
	unsigned long long ts = (unsigned long long)target->seq;

	const ld_kind *tk = ld_kind_of(target->body_case);
	if (tk->flags & LD_KIND_CORRECTION)
		return ld_errinfo_set(e, LD_E(INVALID_STATE), field,
				      "seq %llu is itself a correction; correct the original event",
				      ts);
	if (tk->final) /* proto/kinds.c says why */
		return ld_errinfo_set(e, LD_E(INVALID_STATE), field, "seq %llu %s", ts, tk->final);
	if ((rc = model_fix_get(t, target->seq, &kind, &by)))
		return rc;
	if (kind == FIX_VOID)
		return ld_errinfo_set(e, LD_E(INVALID_STATE), field,
				      "seq %llu was already voided by seq %llu", ts,
				      (unsigned long long)by);

	if (replacement) {
		char stream[LD_STREAM_MAX];
		if (replacement->body_case != target->body_case)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "event_amended.corrected",
					      "seq %llu is %s; an amendment must correct it with "
					      "a body of the same kind, not %s",
					      ts, codec_event_type_name(target->body_case),
					      codec_event_type_name(replacement->body_case));
		if ((rc = codec_event_stream(replacement, stream)))
			return rc;
		if (strcmp(stream, target_stream) != 0)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "event_amended.corrected",
					      "an amendment keeps the subject (%s); void seq %llu "
					      "and record a new event instead",
					      target_stream, ts);
		if ((rc = station_exists(t, replacement, "event_amended.", e)))
			return rc;
	}

	/* A payment some of which was refunded: the refunds go first. */
	const Ledger__Event *now_ev = replacement;
	if (target->body_case == LEDGER__EVENT__BODY_DUES_PAID) {
		int64_t done;
		if ((rc = refunded(t, target->seq, &done)))
			return rc;
		if (done > 0 && (!replacement || replacement->dues_paid->amount_fen < done))
			return ld_errinfo_set(e, LD_E(INVALID_STATE), field,
					      "%lld fen of payment seq %llu were refunded; "
					      "void the refunds first",
					      (long long)done, ts);
	}

	/* Member streams re-fold; everything else has little state. */
	const char *member = codec_event_member(target);
	if (ld_has(member) && strncmp(target_stream, "member/", 7) == 0) {
		member_state old, new;
		if ((rc = member_load(t, member, &old)))
			return rc;
		if ((rc = member_refold(t, member, target->seq, now_ev, &new, e)))
			return rc;
		if ((rc = member_save(t, member, &old, &new)))
			return rc;
		if (target->body_case == LEDGER__EVENT__BODY_DUES_REFUNDED && !replacement)
			if ((rc = refund_add(t, target->dues_refunded->paid_seq,
					     -target->dues_refunded->amount_fen)))
				return rc;
	} else if (target->body_case == LEDGER__EVENT__BODY_ORG_UPDATED) {
		if (replacement && replacement->org_updated->has_admits_members)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
					      "amend admits_members with a new org update");
		if (!replacement) {
			org_state o;
			const char *id = target->org_updated->org_id;
			if ((rc = org_load(t, id, &o)))
				return rc;
			if ((rc = org_refold_admits(t, target_stream, target->seq, &o.admits)))
				return rc;
			if ((rc = org_save(t, id, &o)))
				return rc;
		}
	} else if (target->body_case == LEDGER__EVENT__BODY_STATION_OPENED && !replacement) {
		const char *st = target->station_opened->station_id;
		if ((rc = store_del(t, DB_STATIONS, st, strlen(st))))
			return rc;
	}
	return fix_put(t, target->seq, replacement ? FIX_AMEND : FIX_VOID, seq);
}

/* ================================================================== */
/* model_apply                                                          */
/* ================================================================== */

static int apply_member_event(store_txn *t, const Ledger__Event *ev, ld_errinfo *e)
{
	const char *id = codec_event_member(ev);
	member_state old, new;
	int rc = member_load(t, id, &old);
	if (rc)
		return rc;
	new = old;
	if ((rc = member_step(t, &new, id, ev, CHECK_ORGS, e)))
		return rc;
	if (ev->body_case == LEDGER__EVENT__BODY_DUES_REFUNDED &&
	    (rc = check_refund(t, ev->dues_refunded, e)))
		return rc;
	if ((rc = orgs_live(t, ev, e))) /* a service: the organisation that served */
		return rc;
	/* Writes from here on. */
	if (ev->body_case == LEDGER__EVENT__BODY_DUES_REFUNDED &&
	    (rc = refund_add(t, ev->dues_refunded->paid_seq, ev->dues_refunded->amount_fen)))
		return rc;
	return member_save(t, id, &old, &new);
}

/* An event of an organisation's (or a region's) stream. */
static int apply_org_event(store_txn *t, const Ledger__Event *ev, ld_errinfo *e)
{
	org_state o, p;
	int rc;
	/* The write model's fold of an organisation: a case for each kind that
	 * changes its state (or a station's). Every other kind (funds, a
	 * service to a non-member, an activity, a workforce estimate) only
	 * needs the organisations it names to be live. */
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_ORG_REGISTERED: {
		const Ledger__OrgRegistered *r = ev->org_registered;
		if ((rc = check_org_registered(t, r, e)))
			return rc;
		memset(&o, 0, sizeof(o));
		o.kind = (uint8_t)r->kind;
		o.admits = !r->has_admits_members || r->admits_members;
		o.region = r->region;
		snprintf(o.parent, sizeof(o.parent), "%s", ld_has(r->parent_id) ? r->parent_id : "");
		if (ld_has(r->parent_id) && (rc = org_adjust(t, r->parent_id, 0, 0, +1)))
			return rc;
		return org_save(t, r->org_id, &o);
	}
	case LEDGER__EVENT__BODY_ORG_UPDATED: {
		const Ledger__OrgUpdated *u = ev->org_updated;
		if ((rc = org_live(t, u->org_id, "org_updated.org_id", &o, e)))
			return rc;
		if (!u->has_admits_members)
			return 0;
		o.admits = u->admits_members;
		return org_save(t, u->org_id, &o);
	}
	case LEDGER__EVENT__BODY_ORG_DISSOLVED: {
		const Ledger__OrgDissolved *d = ev->org_dissolved;
		if ((rc = org_live(t, d->org_id, "org_dissolved.org_id", &o, e)))
			return rc;
		if (o.members || o.affiliated || o.children)
			return ld_errinfo_set(e, LD_E(INVALID_STATE), "org_dissolved.org_id",
					      "organisation '%s' still has %llu active members, "
					      "%llu affiliated members and %llu organisations "
					      "under it; transfer them first",
					      d->org_id, (unsigned long long)o.members,
					      (unsigned long long)o.affiliated,
					      (unsigned long long)o.children);
		if (ld_has(d->merged_into) &&
		    (rc = org_live(t, d->merged_into, "org_dissolved.merged_into", &p, e)))
			return rc;
		o.dissolved = 1;
		if (o.parent[0] && (rc = org_adjust(t, o.parent, 0, 0, -1)))
			return rc;
		return org_save(t, d->org_id, &o);
	}
	case LEDGER__EVENT__BODY_STATION_OPENED: {
		const Ledger__StationOpened *s = ev->station_opened;
		store_val v;
		rc = store_get(t, DB_STATIONS, s->station_id, strlen(s->station_id), &v);
		if (rc == 0)
			return ld_errinfo_set(e, LD_E(ALREADY_EXISTS), "station_opened.station_id",
					      "station '%s' already exists", s->station_id);
		if (rc != LD_E(NOT_FOUND))
			return rc;
		if ((rc = org_live(t, s->org_id, "station_opened.org_id", &o, e)))
			return rc;
		return store_put(t, DB_STATIONS, s->station_id, strlen(s->station_id), s->org_id,
				 strlen(s->org_id));
	}
	default:
		return orgs_live(t, ev, e);
	}
}

int model_apply(store_txn *t, const Ledger__Event *ev, uint64_t seq, model_result *r,
		ld_errinfo *e)
{
	Ledger__Event *target = NULL, replacement;
	int rc;

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
	} else if ((rc = codec_event_stream(ev, r->stream))) {
		return ld_errinfo_set(e, rc, NULL, "the event names no member or organisation");
	}
	uint64_t last;
	if ((rc = model_stream_version(t, r->stream, &last)))
		goto out;
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
		/* The replacement stands in the target's place in the stream. */
		replacement.seq = target->seq;
		rc = apply_correction(t, target, r->stream, &replacement, seq, e);
	} else if (k->flags & LD_KIND_CORRECTION) {
		rc = apply_correction(t, target, r->stream, NULL, seq, e);
	} else if (!(rc = station_exists(t, ev, "", e))) {
		rc = codec_event_member(ev) ? apply_member_event(t, ev, e) : apply_org_event(t, ev, e);
	}
	if (rc)
		goto out;

	/* 3. The stream index and the new version. */
	{
		uint8_t key[LD_STREAM_MAX + 9], val[8], state[512];
		size_t klen = stream_key(key, r->stream, r->version);
		uint64_t v;
		store_val cur;
		ld_put_be64(val, seq);
		if ((rc = store_put(t, DB_STREAMS, key, klen, val, 8)))
			goto out;
		if ((rc = head_get(t, r->stream, &v, &cur)))
			goto out;
		if (cur.len > sizeof(state)) {
			rc = LD_E(STORAGE);
			goto out;
		}
		if (cur.len) /* copied: the put may move what cur points at */
			memcpy(state, cur.data, cur.len);
		rc = head_put(t, r->stream, r->version, state, cur.len);
	}
out:
	codec_event_free(target);
	return rc;
}
