/* check.c — stateless event checks. See check.h for the rules. */
#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "identity.h"
#include "kinds.h"
#include "required.h"

/* ------------------------------------------------------------------ */
/* What is checked of each field, per message type                      */
/* ------------------------------------------------------------------ */

#define MAX_TYPES 128

/* What check_value checks of a field beside what its type asks, decided
 * once per field from its name (the schema's naming rules, check.h),
 * instead of comparing names for every field of every event (strcmp was
 * about 1% of the daemon's samples in batch). */
enum field_rule {
	R_NONE,
	R_ID,          /* a string named *_id, from_org, to_org, merged_into */
	R_TEXT,        /* any other string: UTF-8 of at most 1024 bytes */
	R_PERSON_HASH, /* bytes: LD_HASH_LEN */
	R_REGION,      /* uint32 region: GB/T 2260 */
	R_PERIOD,      /* uint32 period_*: YYYYMM */
	R_QUANTITY,    /* uint32 quantity: at least 1 */
	R_TERM,        /* uint32 term_years: 3 or 5 */
	R_AMOUNT,      /* int64 amount_fen: positive */
};

typedef struct type_info {
	const ProtobufCMessageDescriptor *desc;
	uint64_t required; /* bit i: fields[i] is required */
	uint64_t by_id;    /* bit i: fields[i] is one a national ID stands in for */
	const ProtobufCFieldDescriptor *period_from, *period_to; /* NULL: none */
	uint8_t rule[64];  /* fields[i]'s enum field_rule */
} type_info;

static type_info types[MAX_TYPES];
static unsigned ntypes;
static pthread_once_t types_once = PTHREAD_ONCE_INIT;

static int is_id_field(const char *name)
{
	size_t n = strlen(name);
	if (strcmp(name, "national_id") == 0) /* a person's, read by proto/identity.h */
		return 0;
	return (n > 3 && strcmp(name + n - 3, "_id") == 0) || strcmp(name, "from_org") == 0 ||
	       strcmp(name, "to_org") == 0 || strcmp(name, "merged_into") == 0;
}

static enum field_rule rule_of(const ProtobufCFieldDescriptor *f)
{
	const char *name = f->name;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return is_id_field(name) ? R_ID : R_TEXT;
	case PROTOBUF_C_TYPE_BYTES:
		return strcmp(name, "person_hash") == 0 ? R_PERSON_HASH : R_NONE;
	case PROTOBUF_C_TYPE_UINT32:
		if (strcmp(name, "region") == 0)
			return R_REGION;
		if (strncmp(name, "period_", 7) == 0)
			return R_PERIOD;
		if (strcmp(name, "quantity") == 0)
			return R_QUANTITY;
		return strcmp(name, "term_years") == 0 ? R_TERM : R_NONE;
	case PROTOBUF_C_TYPE_INT64:
		return strcmp(name, "amount_fen") == 0 ? R_AMOUNT : R_NONE;
	default:
		return R_NONE;
	}
}

static int is_by_id(const ProtobufCFieldDescriptor *f)
{
	return !strcmp(f->name, "person_hash") || !strcmp(f->name, "member_id");
}

static void collect(const ProtobufCMessageDescriptor *d)
{
	for (unsigned i = 0; i < ntypes; i++)
		if (types[i].desc == d)
			return;
	if (ntypes == MAX_TYPES)
		return; /* the schema has fewer; the unit test checks coverage */
	type_info *t = &types[ntypes++];
	memset(t, 0, sizeof(*t));
	t->desc = d;
	for (size_t r = 0; r < sizeof(ld_required_fields) / sizeof(ld_required_fields[0]); r++) {
		if (strcmp(ld_required_fields[r].message, d->name) != 0)
			continue;
		for (unsigned i = 0; i < d->n_fields && i < 64; i++)
			if (strcmp(d->fields[i].name, ld_required_fields[r].field) == 0)
				t->required |= 1ULL << i;
	}
	for (unsigned i = 0; i < d->n_fields && i < 64; i++) {
		t->rule[i] = (uint8_t)rule_of(&d->fields[i]);
		t->by_id |= (uint64_t)is_by_id(&d->fields[i]) << i;
	}
	t->period_from = protobuf_c_message_descriptor_get_field_by_name(d, "period_from");
	t->period_to = protobuf_c_message_descriptor_get_field_by_name(d, "period_to");
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			collect(d->fields[i].descriptor);
}

static void types_init(void)
{
	collect(&ledger__request__descriptor);
	collect(&ledger__response__descriptor);
}

/* d's row (NULL: a type outside the schema's, checked by names). */
static const type_info *type_of(const ProtobufCMessageDescriptor *d)
{
	pthread_once(&types_once, types_init);
	for (unsigned i = 0; i < ntypes; i++)
		if (types[i].desc == d)
			return &types[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Value rules                                                          */
/* ------------------------------------------------------------------ */

int check_id(const char *s)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '.' || c == '_' || c == ':' || c == '-';
		if (!ok || n >= LD_ID_MAX)
			return 0;
	}
	return n > 0;
}

int check_region(uint32_t code)
{
	/* Six digits whose first two are a province-level code of GB/T 2260. */
	return code >= 110000 && code <= 829999 && ld_province_code(code / 10000);
}

int check_period(uint32_t p)
{
	uint32_t y = p / 100, m = p % 100;
	return y >= 1990 && y <= 2100 && m >= 1 && m <= 12;
}

/* Strict UTF-8 (RFC 3629: codec.h, ld_utf8_len); control characters other
 * than tab and newline are refused. */
static int utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0, k; i < n; i += k) {
		if (!(k = ld_utf8_len(p + i, n - i)))
			return 0;
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n')
			return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* The generic walk                                                     */
/* ------------------------------------------------------------------ */

static int field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)(base + f->quantifier_offset) > 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)(base + f->offset);
		return s && s != f->default_value && *s;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(const void *const *)(base + f->offset) != NULL;
	default:
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
	}
}

/* prefix.name into out (n bytes, cut short if need be). Put together by
 * hand: every field of every event gets its path, and snprintf's format
 * parsing was a tenth of an append's time. */
static void path_of(char *out, size_t n, const char *prefix, const char *name)
{
	size_t a = strlen(prefix), b = strlen(name), at = 0;
	if (a >= n)
		a = n - 1;
	memcpy(out, prefix, a);
	at = a;
	if (a && at < n - 1)
		out[at++] = '.';
	if (b > n - 1 - at)
		b = n - 1 - at;
	memcpy(out + at, name, b);
	out[at + b] = 0;
}

/* path_of into out (96 bytes), returned. */
static char *at(char out[96], const char *prefix, const char *name)
{
	path_of(out, 96, prefix, name);
	return out;
}

/* The value of field f of m against its rules; its path (prefix.name) is
 * put together only for an error. */
static int check_value(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
		       enum field_rule rule, const char *prefix, ld_errinfo *e)
{
	const char *base = (const char *)m + f->offset;
	const char *name = f->name;
	char path[96];

	switch (f->type) {
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)base;
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		if (v == 0)
			return ld_errinfo_set(e, LD_E(UNKNOWN_ENUM), at(path, prefix, name),
					      "%s must not be %s", path,
					      ed->values_by_name[0].name ? "UNSPECIFIED" : "0");
		if (!protobuf_c_enum_descriptor_get_value(ed, v))
			return ld_errinfo_set(e, LD_E(UNKNOWN_ENUM), at(path, prefix, name),
					      "%s: %d is not a known %s value", path, v, ed->name);
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)base;
		if (!s || s == f->default_value)
			return 0;
		size_t n = strlen(s);
		if (rule == R_ID) {
			if (!check_id(s))
				return ld_errinfo_set(e, LD_E(INVALID_VALUE), at(path, prefix, name),
						      "%s '%.80s' is not an identifier "
						      "(1-64 of A-Z a-z 0-9 . _ : -)",
						      path, s);
		} else if (n > 1024 || !utf8_valid(s, n)) {
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), at(path, prefix, name),
					      "%s must be valid UTF-8 of at most 1024 bytes", path);
		}
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = (const ProtobufCBinaryData *)base;
		if (rule == R_PERSON_HASH && b->len != LD_HASH_LEN)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), at(path, prefix, name),
					      "%s must be %d bytes (HMAC-SHA-256), got %zu", path,
					      LD_HASH_LEN, b->len);
		return 0;
	}
	case PROTOBUF_C_TYPE_UINT32: {
		uint32_t v = *(const uint32_t *)base;
		if (rule == R_REGION && !check_region(v))
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), at(path, prefix, name),
					      "%s %u is not a 6-digit GB/T 2260 region code", path, v);
		if (rule == R_PERIOD && !check_period(v))
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), at(path, prefix, name),
					      "%s %u is not a month written YYYYMM", path, v);
		if (rule == R_QUANTITY && v < 1)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), at(path, prefix, name),
					      "%s must be at least 1", path);
		if (rule == R_TERM && v != 3 && v != 5)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), at(path, prefix, name),
					      "%s must be 3 or 5, got %u", path, v);
		return 0;
	}
	case PROTOBUF_C_TYPE_INT64: {
		int64_t v = *(const int64_t *)base;
		if (rule == R_AMOUNT && v <= 0)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), at(path, prefix, name),
					      "%s must be a positive number of fen, got %lld", path,
					      (long long)v);
		if (rule == R_AMOUNT && v > LD_MAX_FEN)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), at(path, prefix, name),
					      "%s is %lld fen, more than one event may move (%lld "
					      "fen, 10 billion yuan)",
					      path, (long long)v, (long long)LD_MAX_FEN);
		return 0;
	}
	default:
		return 0;
	}
}

int check_enums(const ProtobufCMessage *m, const char *prefix, ld_errinfo *e)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if ((f->type != PROTOBUF_C_TYPE_ENUM && f->type != PROTOBUF_C_TYPE_MESSAGE) ||
		    !field_present(m, f))
			continue;
		size_t n = 1;
		const char *at_ = base + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(base + f->quantifier_offset);
			at_ = *(const char *const *)at_;
		}
		char path[96];
		for (size_t k = 0; k < n; k++) {
			if (f->type == PROTOBUF_C_TYPE_ENUM) {
				int v = ((const int *)at_)[k];
				const ProtobufCEnumDescriptor *ed = f->descriptor;
				if (!protobuf_c_enum_descriptor_get_value(ed, v))
					return ld_errinfo_set(e, LD_E(UNKNOWN_ENUM),
							      at(path, prefix, f->name),
							      "%s: %d is not a known %s value", path,
							      v, ed->name);
			} else {
				int rc = check_enums(((const ProtobufCMessage *const *)at_)[k],
						     at(path, prefix, f->name), e);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

/*
 * A join may name its person by national_id alone: the server reads it
 * into person_hash, and gives a member id and an event id the join lacks
 * (core/pii.h). By the time the server checks the event the ID is gone and
 * they are there; a client checking its event before sending sees the ID.
 */
static int national_id_given(const ProtobufCMessage *m)
{
	if (m->descriptor != &ledger__member_joined__descriptor)
		return 0;
	const char *id = ((const Ledger__MemberJoined *)m)->national_id;
	return id && *id;
}

/* check_message's walk (values: every rule of every field), and
 * check_present's (only that the required strings and messages are there:
 * what a reader would follow as a pointer). */
static int walk(const ProtobufCMessage *m, const char *prefix, int values, ld_errinfo *e)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const type_info *t = type_of(d);
	uint64_t req = t ? t->required : 0;
	char path[96];

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!values && (f->label == PROTOBUF_C_LABEL_REPEATED ||
				(f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)))
			continue;
		int present = field_present(m, f);
		if (!present) {
			if ((t && i < 64 ? (int)((t->by_id >> i) & 1) : is_by_id(f)) &&
			    national_id_given(m))
				continue;
			if (i < 64 && (req >> i) & 1)
				return ld_errinfo_set(e, LD_E(MISSING_FIELD),
						      at(path, prefix, f->name), "%s is required",
						      path);
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			continue; /* no repeated fields inside event bodies */
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			const ProtobufCMessage *child =
				*(const ProtobufCMessage *const *)((const char *)m + f->offset);
			int rc = walk(child, at(path, prefix, f->name), values, e);
			if (rc)
				return rc;
			continue;
		}
		int rc = values ? check_value(m, f,
					      t && i < 64 ? (enum field_rule)t->rule[i] : rule_of(f),
					      prefix, e)
				: 0;
		if (rc)
			return rc;
	}
	return 0;
}

int check_message(const ProtobufCMessage *m, const char *prefix, ld_errinfo *e)
{
	return walk(m, prefix, 1, e);
}

int check_present(const ProtobufCMessage *m, const char *prefix, ld_errinfo *e)
{
	return walk(m, prefix, 0, e);
}

/* ------------------------------------------------------------------ */
/* Rules across fields of one body                                      */
/* ------------------------------------------------------------------ */

/* A field of a body by name (NULL if it has none). */
static const ProtobufCFieldDescriptor *named(const ProtobufCMessage *m, const char *name)
{
	return protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
}

/* Rules the table of kinds and the field names decide, for every kind. */
static int check_kind_rules(const ld_kind *k, const ProtobufCMessage *body, ld_errinfo *e)
{
	const ProtobufCMessageDescriptor *d = body->descriptor;
	char path[96];
	if (k->flags & LD_KIND_AT_LEAST_ONE) {
		int any = 0;
		for (unsigned i = 0; i < d->n_fields && !any; i++) {
			const ProtobufCFieldDescriptor *f = &d->fields[i];
			if (f != k->member.fd && f != k->subject.fd && f != k->sealed.fd)
				any = field_present(body, f);
		}
		if (!any)
			return ld_errinfo_set(e, LD_E(MISSING_FIELD), k->name,
					      "%s changes nothing: set at least one field", k->name);
	}
	/* A period runs forwards. */
	const type_info *t = type_of(d);
	const ProtobufCFieldDescriptor *pf = t ? t->period_from : named(body, "period_from"),
				       *pt = t ? t->period_to : named(body, "period_to");
	if (pf && pt && field_present(body, pf) && field_present(body, pt)) {
		uint32_t from = *(const uint32_t *)((const char *)body + pf->offset);
		uint32_t to = *(const uint32_t *)((const char *)body + pt->offset);
		path_of(path, sizeof(path), k->name, "period_to");
		if (from > to)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), path,
					      "period_to %u is before period_from %u", to, from);
	}
	if ((k->flags & LD_KIND_CORRECTION) && ld_field_num(&k->target, body) == 0) {
		path_of(path, sizeof(path), k->name, k->target.name);
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), path,
				      "target_seq must be a seq (1 or more)");
	}
	if ((k->flags & LD_KIND_AMENDMENT) &&
	    ((const Ledger__EventAmended *)body)->corrected_case ==
		    LEDGER__EVENT_AMENDED__CORRECTED__NOT_SET) {
		path_of(path, sizeof(path), k->name, "corrected");
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), path,
				      "an amendment needs the corrected body");
	}
	return 0;
}

static int check_body_rules(const Ledger__Event *ev, ld_errinfo *e)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	const ProtobufCMessage *body = ld_kind_body(k, ev);
	int rc;
	if (!body)
		return 0;
	if ((rc = check_kind_rules(k, body, e)))
		return rc;
	/* Rules between two fields that only one kind has, each in its own
	 * words: a case per kind is the clearest way to say them. */
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_ORG_UPDATED: {
		const Ledger__OrgUpdated *u = ev->org_updated;
		if (u->has_reelected_at != u->has_term_years)
			return ld_errinfo_set(e, LD_E(MISSING_FIELD), "org_updated.term_years",
					      "a re-election needs both reelected_at and term_years");
		break;
	}
	case LEDGER__EVENT__BODY_ORG_DISSOLVED: {
		const Ledger__OrgDissolved *d = ev->org_dissolved;
		int merged = d->reason == LEDGER__DISSOLVE_REASON__MERGED;
		if (merged && !ld_has(d->merged_into))
			return ld_errinfo_set(e, LD_E(MISSING_FIELD), "org_dissolved.merged_into",
					      "a merge must name the organisation merged_into");
		if (!merged && ld_has(d->merged_into))
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "org_dissolved.merged_into",
					      "merged_into is only for reason MERGED");
		if (merged && strcmp(d->merged_into, d->org_id) == 0)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "org_dissolved.merged_into",
					      "organisation '%s' cannot merge into itself",
					      d->org_id);
		break;
	}
	case LEDGER__EVENT__BODY_MEMBER_TRANSFERRED: {
		const Ledger__MemberTransferred *t = ev->member_transferred;
		if (strcmp(t->from_org, t->to_org) == 0)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "member_transferred.to_org",
					      "a transfer must change organisation ('%s' to itself)",
					      t->to_org);
		break;
	}
	case LEDGER__EVENT__BODY_TRANSFER_RELEASED: {
		const Ledger__TransferReleased *t = ev->transfer_released;
		if (strcmp(t->from_org, t->to_org) == 0)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "transfer_released.to_org",
					      "a release must be to another organisation ('%s' to "
					      "itself)",
					      t->to_org);
		break;
	}
	case LEDGER__EVENT__BODY_TRANSFER_ACCEPTED: {
		const Ledger__TransferAccepted *t = ev->transfer_accepted;
		if (t->release_seq == 0)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE),
					      "transfer_accepted.release_seq",
					      "release_seq must be the seq of a release (1 or more)");
		if (strcmp(t->from_org, t->to_org) == 0)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "transfer_accepted.to_org",
					      "an acceptance must be into another organisation "
					      "('%s' to itself)",
					      t->to_org);
		break;
	}
	case LEDGER__EVENT__BODY_FUNDS_ALLOCATED: {
		const Ledger__FundsAllocated *f = ev->funds_allocated;
		if (strcmp(f->from_org, f->to_org) == 0)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "funds_allocated.to_org",
					      "funds must move between two organisations");
		break;
	}
	default:
		break;
	}
	return 0;
}

/* The sealed personal data (a kind's `sealed` field, also in an amendment's
 * corrected body) is the server's (PROTOCOL.md). */
static int check_sealed(const Ledger__Event *ev, ld_errinfo *e)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	const ProtobufCMessage *body = ld_kind_body(k, ev);
	char path[96] = "";
	if ((k->flags & LD_KIND_AMENDMENT) && body) {
		Ledger__Event corrected;
		codec_amended_body((const Ledger__EventAmended *)body, &corrected);
		snprintf(path, sizeof(path), "%s.", k->name);
		k = ld_kind_of(corrected.body_case);
		body = ld_kind_body(k, &corrected);
	}
	if (!ld_field_set(&k->sealed, body))
		return 0;
	size_t n = strlen(path);
	snprintf(path + n, sizeof(path) - n, "%s.%s", n ? k->amend->name : k->name,
		 k->sealed.name);
	return ld_errinfo_set(e, LD_E(SERVER_FIELD), path,
			      "personal is set by the server (it seals name and phone); leave it out");
}

int check_event(const Ledger__Event *ev, int64_t now_us, ld_errinfo *e)
{
	static const struct {
		size_t offset;
		const char *name;
	} server_fields[] = {
		{offsetof(Ledger__Event, has_seq), "seq"},
		{offsetof(Ledger__Event, has_recorded_at), "recorded_at"},
		{offsetof(Ledger__Event, has_version), "version"},
		{offsetof(Ledger__Event, has_prev_hash), "prev_hash"},
		{offsetof(Ledger__Event, has_hash), "hash"},
	};
	int rc;
	for (size_t i = 0; i < sizeof(server_fields) / sizeof(server_fields[0]); i++)
		if (*(const protobuf_c_boolean *)((const char *)ev + server_fields[i].offset))
			return ld_errinfo_set(e, LD_E(SERVER_FIELD), server_fields[i].name,
					      "%s is set by the server; leave it out",
					      server_fields[i].name);
	if (ev->actor || ev->stream)
		return ld_errinfo_set(e, LD_E(SERVER_FIELD), ev->actor ? "actor" : "stream",
				      "%s is set by the server; leave it out",
				      ev->actor ? "actor" : "stream");
	if ((rc = check_sealed(ev, e)))
		return rc;

	if (!ev->has_event_id && !(ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED &&
				   national_id_given(&ev->member_joined->base)))
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), "event_id",
				      "event_id (16 bytes, the idempotency key) is required");
	if (ev->has_event_id && ev->event_id.len != LD_EVENT_ID_LEN)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "event_id",
				      "event_id must be %d bytes, got %zu", LD_EVENT_ID_LEN,
				      ev->event_id.len);
	if (!ev->has_occurred_at)
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), "occurred_at",
				      "occurred_at (µs since the epoch) is required");
	if (ev->occurred_at < LD_MIN_TIME_US)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "occurred_at",
				      "occurred_at %lld is before 2000-01-01 (µs since the epoch?)",
				      (long long)ev->occurred_at);
	if (ev->occurred_at > now_us + LD_MAX_SKEW_US)
		return ld_errinfo_set(e, LD_E(FUTURE_TIME), "occurred_at",
				      "occurred_at is %lld s in the future (at most %lld s allowed)",
				      (long long)((ev->occurred_at - now_us) / 1000000),
				      (long long)(LD_MAX_SKEW_US / 1000000));
	if (ev->body_case == LEDGER__EVENT__BODY__NOT_SET)
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), "body",
				      "the event has no body (member_joined, dues_paid, …)");

	/* The body is the one message field set in the oneof. */
	rc = check_message(codec_event_body(ev), codec_event_type_name(ev->body_case), e);
	if (rc)
		return rc;
	int amendment = (ld_kind_of(ev->body_case)->flags & LD_KIND_AMENDMENT) != 0;
	if (amendment && ev->event_amended->has_corrected_occurred_at) {
		/* The bounds of occurred_at, and its errors. */
		int64_t t = ev->event_amended->corrected_occurred_at;
		if (t < LD_MIN_TIME_US)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE),
					      "event_amended.corrected_occurred_at",
					      "corrected_occurred_at %lld is before 2000-01-01",
					      (long long)t);
		if (t > now_us + LD_MAX_SKEW_US)
			return ld_errinfo_set(e, LD_E(FUTURE_TIME),
					      "event_amended.corrected_occurred_at",
					      "corrected_occurred_at is %lld s in the future (at most "
					      "%lld s allowed)",
					      (long long)((t - now_us) / 1000000),
					      (long long)(LD_MAX_SKEW_US / 1000000));
	}
	rc = check_body_rules(ev, e);
	if (rc == 0 && amendment) {
		Ledger__Event corrected;
		codec_amended_body(ev->event_amended, &corrected);
		rc = check_body_rules(&corrected, e);
		if (rc && e) {
			char inner[sizeof(e->field)];
			snprintf(inner, sizeof(inner), "%s", e->field);
			snprintf(e->field, sizeof(e->field), "event_amended.%.81s", inner);
		}
	}
	return rc;
}
