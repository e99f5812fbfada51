/* kinds.c — the table of event kinds. See kinds.h. */
#include "kinds.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define B(k) LEDGER__EVENT__BODY_##k
#define F(n) {.name = n}
#define ORG(n, why, uses) {F(n), why, uses}
#define SC (LD_ORG_SCOPE | LD_ORG_CONCERN)

/*
 * The rows. A field is named as in ledger.proto; what a row leaves out, the
 * kind does not have. The order of `orgs` is the order in which checks name
 * them (a clerk refused, a write refused).
 */
static ld_kind table[LD_KIND_SLOTS] = {
    [0] = {.name = "unknown"},

    /* ---- organisations ---- */
    [B(ORG_REGISTERED)] =
	{
	    .stream = LD_STREAM_ORG,
	    .subject = F("org_id"),
	    /* The new organisation is not known yet: a clerk's scope is
	     * decided by its parent. */
	    .orgs = {ORG("org_id", "", LD_ORG_CONCERN),
		     ORG("parent_id", "(the parent of the new one)", LD_ORG_SCOPE)},
	    .region = F("region"),
	    .place = F("region"),
	    .final = "(org_registered) cannot be voided; record a new organisation event "
		     "instead",
	    .clerk_refusal = "registers a root organisation (admin only)",
	},
    [B(ORG_UPDATED)] =
	{
	    .stream = LD_STREAM_ORG,
	    .subject = F("org_id"),
	    .orgs = {ORG("org_id", "", SC | LD_ORG_LIVE)},
	    .flags = LD_KIND_AT_LEAST_ONE,
	},
    [B(ORG_DISSOLVED)] =
	{
	    .stream = LD_STREAM_ORG,
	    .subject = F("org_id"),
	    .orgs = {ORG("org_id", "", SC | LD_ORG_LIVE),
		     ORG("merged_into", "(merged into)", SC | LD_ORG_LIVE)},
	    .final = "(org_dissolved) cannot be voided; record a new organisation event "
		     "instead",
	},

    /* ---- members ---- */
    [B(MEMBER_JOINED)] =
	{
	    .stream = LD_STREAM_MEMBER,
	    .member = F("member_id"),
	    .orgs = {ORG("org_id", "(the organisation joined)", SC | LD_ORG_ENTERS)},
	    .home_after = F("org_id"),
	    .region = F("region"),
	    .place = F("org_id"),
	    .sealed = F("personal"),
	    .clear = {F("national_id"), F("name"), F("phone")},
	    .flags = LD_KIND_MEMBERSHIP,
	},
    [B(MEMBER_AFFILIATED)] =
	{
	    .stream = LD_STREAM_MEMBER,
	    .member = F("member_id"),
	    .orgs = {ORG("org_id", "(affiliation)", SC | LD_ORG_ENTERS)},
	    .home = SC,
	    .flags = LD_KIND_MEMBERSHIP,
	},
    [B(MEMBER_DISAFFILIATED)] =
	{
	    .stream = LD_STREAM_MEMBER,
	    .member = F("member_id"),
	    .orgs = {ORG("org_id", "(affiliation)", SC)},
	    .home = SC,
	    .flags = LD_KIND_MEMBERSHIP,
	},
    [B(MEMBER_TRANSFERRED)] =
	{
	    .stream = LD_STREAM_MEMBER,
	    .member = F("member_id"),
	    .orgs = {ORG("from_org", "(transfer from)", SC),
		     ORG("to_org", "(transfer to)", SC | LD_ORG_ENTERS)},
	    .home_after = F("to_org"),
	    .flags = LD_KIND_MEMBERSHIP,
	},
    /* A transfer in two steps: the source releases (its clerk's scope:
     * from_org only; the member stays there), the destination accepts (its
     * clerk's scope: to_org only; the member moves). */
    [B(TRANSFER_RELEASED)] =
	{
	    .stream = LD_STREAM_MEMBER,
	    .member = F("member_id"),
	    .orgs = {ORG("from_org", "(released from)", SC),
		     ORG("to_org", "(released to)", LD_ORG_CONCERN | LD_ORG_ENTERS)},
	    .home_after = F("from_org"),
	    .flags = LD_KIND_MEMBERSHIP,
	},
    [B(TRANSFER_ACCEPTED)] =
	{
	    .stream = LD_STREAM_MEMBER,
	    .member = F("member_id"),
	    .orgs = {ORG("to_org", "(accepted into)", SC | LD_ORG_ENTERS),
		     ORG("from_org", "(accepted from)", LD_ORG_CONCERN)},
	    .home_after = F("to_org"),
	    .flags = LD_KIND_MEMBERSHIP,
	},
    [B(MEMBERSHIP_ENDED)] =
	{
	    .stream = LD_STREAM_MEMBER,
	    .member = F("member_id"),
	    .home = SC,
	    .flags = LD_KIND_MEMBERSHIP,
	},
    [B(PROFILE_CHANGED)] =
	{
	    .stream = LD_STREAM_MEMBER,
	    .member = F("member_id"),
	    .home = SC,
	    .region = F("region"),
	    .sealed = F("personal"),
	    .clear = {F("name"), F("phone")},
	    .flags = LD_KIND_MEMBERSHIP | LD_KIND_AT_LEAST_ONE,
	},
    [B(MEMBER_FORGOTTEN)] =
	{
	    .stream = LD_STREAM_MEMBER,
	    .member = F("member_id"),
	    /* Recorded by a forget request (admin only), never by a clerk. */
	    .home = LD_ORG_CONCERN,
	    .flags = LD_KIND_MEMBERSHIP,
	    .final = "forgot a member's personal data: its key is destroyed, which no "
		     "correction can undo",
	},

    /* ---- dues and money ---- */
    [B(DUES_PAID)] = {.stream = LD_STREAM_MEMBER, .member = F("member_id"), .home = SC},
    [B(DUES_WAIVED)] = {.stream = LD_STREAM_MEMBER, .member = F("member_id"), .home = SC},
    [B(DUES_REFUNDED)] = {.stream = LD_STREAM_MEMBER, .member = F("member_id"), .home = SC},
    [B(FUNDS_ALLOCATED)] =
	{
	    .stream = LD_STREAM_ORG,
	    .subject = F("from_org"),
	    .orgs = {ORG("from_org", "(funds from)", SC | LD_ORG_LIVE),
		     ORG("to_org", "(funds to)", SC | LD_ORG_LIVE)},
	},

    /* ---- services and activities ---- */
    [B(SERVICE_DELIVERED)] =
	{
	    .stream = LD_STREAM_MEMBER,
	    .member = F("member_id"), /* absent: a non-member was served */
	    .subject = F("org_id"),
	    /* A clerk's scope is the organisation that served, not the
	     * member's. */
	    .orgs = {ORG("org_id", "(the one that served)", SC | LD_ORG_LIVE)},
	    .home = LD_ORG_CONCERN,
	    .place = F("org_id"),
	    .station = F("station_id"),
	    /* ... and, for a clerk, the organisation that runs the station
	     * where it was given. */
	    .station_uses = LD_ORG_SCOPE,
	},
    [B(ACTIVITY_HELD)] =
	{
	    .stream = LD_STREAM_ORG,
	    .subject = F("org_id"),
	    .orgs = {ORG("org_id", "", SC | LD_ORG_LIVE)},
	    .place = F("org_id"),
	},
    [B(STATION_OPENED)] =
	{
	    .stream = LD_STREAM_ORG,
	    .subject = F("org_id"),
	    .orgs = {ORG("org_id", "", SC | LD_ORG_LIVE)},
	    .region = F("region"),
	    .place = F("region"),
	},
    [B(WORKFORCE_ESTIMATED)] =
	{
	    .stream = LD_STREAM_REGION,
	    .subject = F("region"),
	    .region = F("region"),
	    .clerk_refusal = "is a workforce estimate, which names no organisation (admin only)",
	},

    /* ---- corrections ---- */
    [B(EVENT_VOIDED)] =
	{
	    .stream = LD_STREAM_TARGET,
	    .target = F("target_seq"),
	    .home = LD_ORG_CONCERN,
	    .flags = LD_KIND_CORRECTION,
	},
    [B(EVENT_AMENDED)] =
	{
	    .stream = LD_STREAM_TARGET,
	    .target = F("target_seq"),
	    .home = LD_ORG_CONCERN,
	    .flags = LD_KIND_CORRECTION | LD_KIND_AMENDMENT,
	},
};

const ld_kind *ld_kind_rows[LD_KIND_SLOTS];
static const ld_kind *amended_rows[LD_KIND_SLOTS];
static const ld_kind *in_order[LD_KIND_SLOTS];
static size_t norder;
static char problem[512];

static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void complain(const char *fmt, ...)
{
	size_t n = strlen(problem);
	if (n + 2 < sizeof(problem))
		snprintf(problem + n, sizeof(problem) - n, "%s", n ? "; " : "");
	n = strlen(problem);
	va_list ap;
	va_start(ap, fmt);
	if (n + 1 < sizeof(problem))
		vsnprintf(problem + n, sizeof(problem) - n, fmt, ap);
	va_end(ap);
}

/* The fields' paths, "<kind>.<field>", made once. */
static char paths[8192];
static size_t paths_used;

static void resolve(ld_kind *k, ld_field *f)
{
	if (!f->name)
		return;
	f->fd = protobuf_c_message_descriptor_get_field_by_name(k->desc, f->name);
	if (!f->fd || f->fd->label == PROTOBUF_C_LABEL_REPEATED)
		complain("%s has no field '%s'", k->name, f->name);
	size_t n = strlen(k->name) + 1 + strlen(f->name) + 1;
	if (paths_used + n > sizeof(paths)) {
		complain("no room for the path of %s.%s", k->name, f->name);
		f->path = f->name;
		return;
	}
	f->path = paths + paths_used;
	snprintf(paths + paths_used, n, "%s.%s", k->name, f->name);
	paths_used += n;
}

/* Fills in the rows from the descriptors: names, body messages and offsets,
 * amendment fields, and every field a row names. */
__attribute__((constructor)) static void kinds_init(void)
{
	const ProtobufCMessageDescriptor *ed = &ledger__event__descriptor;
	const ProtobufCMessageDescriptor *ad = &ledger__event_amended__descriptor;
	for (size_t i = 0; i < LD_KIND_SLOTS; i++)
		ld_kind_rows[i] = amended_rows[i] = &table[0];
	for (unsigned i = 0; i < ed->n_fields; i++) {
		const ProtobufCFieldDescriptor *bf = &ed->fields[i];
		if (!(bf->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		if (bf->id >= LD_KIND_SLOTS || !table[bf->id].stream) {
			complain("Event.%s (body case %u) has no row in proto/kinds.c", bf->name,
				 bf->id);
			continue;
		}
		ld_kind *k = &table[bf->id];
		k->body_case = (int)bf->id;
		k->name = bf->name;
		k->desc = bf->descriptor;
		k->offset = bf->offset;
		for (unsigned j = 0; j < ad->n_fields; j++)
			if ((ad->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    ad->fields[j].descriptor == k->desc && ad->fields[j].id < LD_KIND_SLOTS) {
				k->amend = &ad->fields[j];
				amended_rows[k->amend->id] = k;
			}
		resolve(k, &k->member);
		resolve(k, &k->subject);
		for (size_t j = 0; j < LD_KIND_MAX_ORGS; j++)
			resolve(k, &k->orgs[j].field);
		resolve(k, &k->home_after);
		resolve(k, &k->region);
		resolve(k, &k->place);
		resolve(k, &k->station);
		resolve(k, &k->target);
		resolve(k, &k->sealed);
		for (size_t j = 0; j < LD_KIND_MAX_CLEAR; j++)
			resolve(k, &k->clear[j]);
		if (k->clear[0].name && k->desc->sizeof_message > sizeof(((codec_personal_buf *)0)->body))
			complain("%s carries personal data but is larger than codec_personal_buf",
				 k->name);
		ld_kind_rows[bf->id] = k;
	}
	for (size_t i = 1; i < LD_KIND_SLOTS; i++) {
		if (table[i].stream && !table[i].body_case)
			complain("row %zu of proto/kinds.c is no body of Event", i);
		if (table[i].body_case)
			in_order[norder++] = &table[i];
	}
}

const ld_kind *ld_kind_amended(int corrected_case)
{
	return amended_rows[(unsigned)corrected_case < LD_KIND_SLOTS ? corrected_case : 0];
}

const char *ld_kinds_problem(void)
{
	return problem;
}

size_t ld_kinds_count(void)
{
	return norder;
}

const ld_kind *ld_kind_nth(size_t i)
{
	return i < norder ? in_order[i] : NULL;
}

const ld_kind *ld_kind_named(const char *name)
{
	for (size_t i = 0; name && i < norder; i++) {
		const char *a = in_order[i]->name, *b = name;
		while (*a && (*a == *b || (*a == '_' && *b == '-')))
			a++, b++;
		if (!*a && !*b)
			return in_order[i];
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Reading bodies                                                      */
/* ------------------------------------------------------------------ */

const ProtobufCMessage *ld_kind_body(const ld_kind *k, const Ledger__Event *ev)
{
	if (!k->body_case || (int)ev->body_case != k->body_case)
		return NULL;
	return *(const ProtobufCMessage *const *)((const char *)ev + k->offset);
}

const char *ld_field_raw(const ld_field *f, const ProtobufCMessage *body)
{
	if (!f->fd || !body || f->fd->type != PROTOBUF_C_TYPE_STRING)
		return NULL;
	return *(const char *const *)((const char *)body + f->fd->offset);
}

const char *ld_field_str(const ld_field *f, const ProtobufCMessage *body)
{
	const char *s = ld_field_raw(f, body);
	return ld_has(s) ? s : NULL;
}

int ld_field_set(const ld_field *f, const ProtobufCMessage *body)
{
	if (!f->fd || !body)
		return 0;
	const char *base = (const char *)body;
	switch (f->fd->type) {
	case PROTOBUF_C_TYPE_STRING:
		return ld_has(ld_field_raw(f, body));
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(const void *const *)(base + f->fd->offset) != NULL;
	default:
		return *(const protobuf_c_boolean *)(base + f->fd->quantifier_offset) != 0;
	}
}

uint64_t ld_field_num(const ld_field *f, const ProtobufCMessage *body)
{
	if (!f->fd || !body)
		return 0;
	const char *p = (const char *)body + f->fd->offset;
	switch (f->fd->type) {
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return *(const uint32_t *)p;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_INT64:
		return *(const uint64_t *)p;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_ENUM:
		return (uint64_t)(int64_t) * (const int32_t *)p;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)p != 0;
	default:
		return 0;
	}
}

size_t ld_event_orgs(const Ledger__Event *ev, unsigned uses, ld_org_ref out[LD_KIND_MAX_ORGS])
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	const ProtobufCMessage *body = ld_kind_body(k, ev);
	size_t n = 0;
	for (size_t i = 0; i < LD_KIND_MAX_ORGS; i++) {
		const ld_kind_org *o = &k->orgs[i];
		const char *id;
		if (!(o->uses & uses) || !(id = ld_field_str(&o->field, body)))
			continue;
		out[n].id = id;
		out[n].field = o->field.name;
		out[n].path = o->field.path;
		out[n].why = o->why;
		n++;
	}
	return n;
}

const char *ld_event_subject(const Ledger__Event *ev)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	const ProtobufCMessage *body = ld_kind_body(k, ev);
	const char *id = ld_field_str(&k->member, body);
	if (!id && k->subject.fd && k->subject.fd->type == PROTOBUF_C_TYPE_STRING)
		id = ld_field_str(&k->subject, body);
	return id;
}
