/*
 * test_check.c — the stateless checks (proto/check.c) and the codec
 * (proto/codec.c), without a store or a socket.
 *
 * The field tables are exercised generically: every message type reachable
 * from Request and Response is filled with valid values from its descriptor,
 * must pass, and must fail naming exactly the field when a required one (per
 * the "// required" markers of ledger.proto) is removed — and must not fail
 * when an optional one is removed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "client.h"
#include "codec.h"
#include "required.h"
#include "testlib.h"

#define MIN_US (60LL * 1000000)

static int teardown(void **state)
{
	tl_free_all();
	return 0;
}

/* Runs check_event at the current time; returns the code, e filled. */
static ld_errinfo last;

static int chk(const Ledger__Event *ev)
{
	memset(&last, 0, sizeof(last));
	return check_event(ev, ldc_now_us(), &last);
}

/* A join as check_event sees it on the server: its national ID already
 * read into person_hash (core/pii.h; here with the tests' key). */
static Ledger__Event *join(const char *member, const char *org, int person)
{
	Ledger__Event *ev = tl_join(member, org, person);
	tl_hash_person(ev);
	return ev;
}

#define PASSES(ev)                                                                                 \
	do {                                                                                       \
		int rc_ = chk(ev);                                                                 \
		if (rc_ != 0)                                                                      \
			fail_msg("line %d: expected success, got %s (%s): %s", __LINE__,           \
			         ld_errname(rc_), last.field, last.message);                       \
	} while (0)

/* Expects the code and exactly the dotted field. */
#define REJECTS(ev, want, fld)                                                                     \
	do {                                                                                       \
		int rc_ = chk(ev);                                                                 \
		if (rc_ != LD_E(want) || strcmp(last.field, fld) != 0)                             \
			fail_msg("line %d: expected ERR_" #want " on '%s', got %s on '%s': %s",    \
			         __LINE__, fld, ld_errname(rc_), last.field, last.message);        \
		assert_int_equal(last.code, LD_E(want));                                           \
		assert_true(last.message[0] != '\0');                                              \
	} while (0)

/* ================================================================== */
/* A generic filler driven by the descriptors                          */
/* ================================================================== */

static int is_id_name(const char *name)
{
	size_t n = strlen(name);
	return (n > 3 && strcmp(name + n - 3, "_id") == 0) || strcmp(name, "from_org") == 0 ||
	       strcmp(name, "to_org") == 0 || strcmp(name, "merged_into") == 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int has_quantifier(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	       f->type != PROTOBUF_C_TYPE_MESSAGE;
}

static ProtobufCMessage *fill(const ProtobufCMessageDescriptor *d);

/* Sets field f of m to a value every rule of check.h accepts; distinct
 * identifiers per field, so "from_org != to_org" style rules hold. */
static void fill_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	char *base = (char *)m;
	void *p = base + f->offset;
	const char *name = f->name;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		char buf[80];
		snprintf(buf, sizeof(buf), is_id_name(name) ? "X-%s" : "some %s", name);
		*(char **)p = tl_strdup(buf);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = p;
		b->len = strcmp(name, "person_hash") == 0 || strcmp(name, "hash") == 0 ||
		                 strcmp(name, "prev_hash") == 0
		             ? LD_HASH_LEN
		             : LD_EVENT_ID_LEN;
		b->data = tl_alloc(b->len);
		memset(b->data, 0xab, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		assert_true(ed->n_values >= 2);
		assert_int_equal(ed->values[0].value, 0);
		*(int *)p = ed->values[1].value;
		break;
	}
	case PROTOBUF_C_TYPE_UINT32: {
		uint32_t v = 1;
		if (strcmp(name, "region") == 0)
			v = 320100;
		else if (strcmp(name, "period_from") == 0)
			v = 202401;
		else if (strcmp(name, "period_to") == 0)
			v = 202412;
		else if (strcmp(name, "term_years") == 0)
			v = 5;
		*(uint32_t *)p = v;
		break;
	}
	case PROTOBUF_C_TYPE_INT64:
		*(int64_t *)p = ends_with(name, "_at") ? TL_T0 : 100;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)p = 1;
		break;
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *)p = 1;
		break;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		*(int32_t *)p = 1;
		break;
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)p = 1;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)p = 0.5f;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)p = 0.5;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)p = 1;
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **)p = fill(f->descriptor);
		break;
	default:
		fail_msg("field %s has type %d, which this test does not know how to fill: "
		         "extend fill_field()",
		         name, (int)f->type);
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)(base + f->quantifier_offset) = f->id;
	else if (has_quantifier(f))
		*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
}

/* A message of type d with every singular field set (the first member of
 * each oneof; repeated fields left empty). */
static ProtobufCMessage *fill(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = tl_alloc(d->sizeof_message);
	protobuf_c_message_init(d, m);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(uint32_t *)((char *)m + f->quantifier_offset) != 0)
			continue; /* another member of this oneof is set */
		if (strcmp(f->name, "national_id") == 0)
			continue; /* read into person_hash before the checks (core/pii.h) */
		fill_field(m, f);
	}
	return m;
}

/* Makes field f absent: how is_empty says (NULL / "" for strings). */
static void clear_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int empty_string)
{
	char *base = (char *)m;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		*(uint32_t *)(base + f->quantifier_offset) = 0;
		*(void **)(base + f->offset) = NULL;
		return;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		*(char **)(base + f->offset) = empty_string ? tl_strdup("") : NULL;
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		*(void **)(base + f->offset) = NULL;
		break;
	default:
		*(protobuf_c_boolean *)(base + f->quantifier_offset) = 0;
		break;
	}
}

/* Every message type reachable from Request and Response. */
static const ProtobufCMessageDescriptor *reach[128];
static size_t nreach;

static void collect(const ProtobufCMessageDescriptor *d)
{
	for (size_t i = 0; i < nreach; i++)
		if (reach[i] == d)
			return;
	assert_true(nreach < sizeof(reach) / sizeof(reach[0]));
	reach[nreach++] = d;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			collect(d->fields[i].descriptor);
}

static void collect_all(void)
{
	nreach = 0;
	collect(&ledger__request__descriptor);
	collect(&ledger__response__descriptor);
}

static int is_required(const ProtobufCMessageDescriptor *d, const char *field)
{
	for (size_t r = 0; r < sizeof(ld_required_fields) / sizeof(ld_required_fields[0]); r++)
		if (strcmp(ld_required_fields[r].message, d->name) == 0 &&
		    strcmp(ld_required_fields[r].field, field) == 0)
			return 1;
	return 0;
}

/* ================================================================== */
/* The field tables                                                    */
/* ================================================================== */

/* Every entry of the generated table names a field of a message type the
 * server can receive or send (a typo in a "// required" comment, or a type
 * left out of the walk, would leave a rule silently unenforced). */
static void test_required_table_resolves(void **state)
{
	collect_all();
	/* check.c keeps at most 128 types. */
	assert_true(nreach <= 128);
	size_t n = sizeof(ld_required_fields) / sizeof(ld_required_fields[0]);
	assert_true(n >= 60);
	for (size_t r = 0; r < n; r++) {
		const ProtobufCMessageDescriptor *d = NULL;
		for (size_t i = 0; i < nreach; i++)
			if (strcmp(reach[i]->name, ld_required_fields[r].message) == 0)
				d = reach[i];
		if (!d)
			fail_msg("required.h names %s, not reachable from Request/Response",
			         ld_required_fields[r].message);
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(d, ld_required_fields[r].field);
		if (!f)
			fail_msg("required.h names %s.%s, which has no such field",
			         ld_required_fields[r].message, ld_required_fields[r].field);
		assert_true(f->label != PROTOBUF_C_LABEL_REPEATED);
		assert_false(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);
	}
	/* Spot checks against ledger.proto as written. */
	assert_true(is_required(&ledger__member_joined__descriptor, "person_hash"));
	assert_true(is_required(&ledger__member_joined__descriptor, "real_name"));
	assert_false(is_required(&ledger__member_joined__descriptor, "platform"));
	assert_true(is_required(&ledger__dues_refunded__descriptor, "paid_seq"));
	assert_false(is_required(&ledger__service_delivered__descriptor, "member_id"));
	assert_true(is_required(&ledger__read_stream_request__descriptor, "stream"));
}

/* For every reachable type: full passes; each required field removed (absent,
 * and for strings also empty) fails naming exactly it; each optional field
 * removed still passes. */
static void test_required_fields_generic(void **state)
{
	collect_all();
	size_t required_seen = 0;
	for (size_t t = 0; t < nreach; t++) {
		const ProtobufCMessageDescriptor *d = reach[t];
		ld_errinfo e = {0};
		ProtobufCMessage *m = fill(d);
		int rc = check_message(m, "", &e);
		if (rc)
			fail_msg("%s filled with valid values: %s on '%s': %s", d->name,
			         ld_errname(rc), e.field, e.message);
		for (unsigned i = 0; i < d->n_fields; i++) {
			const ProtobufCFieldDescriptor *f = &d->fields[i];
			if (f->label == PROTOBUF_C_LABEL_REPEATED)
				continue;
			int req = is_required(d, f->name);
			required_seen += req;
			for (int empty = 0; empty <= (f->type == PROTOBUF_C_TYPE_STRING); empty++) {
				m = fill(d);
				clear_field(m, f, empty);
				memset(&e, 0, sizeof(e));
				rc = check_message(m, "p", &e);
				char want[128];
				snprintf(want, sizeof(want), "p.%s", f->name);
				if (req &&
				    (rc != LD_E(MISSING_FIELD) || strcmp(e.field, want) != 0))
					fail_msg("%s without %s%s: expected ERR_MISSING_FIELD on "
					         "'%s', got %s on '%s'",
					         d->name, f->name, empty ? " (empty)" : "", want,
					         ld_errname(rc), e.field);
				if (!req && rc != 0)
					fail_msg("%s without optional %s: expected success, got "
					         "%s on '%s': %s",
					         d->name, f->name, ld_errname(rc), e.field,
					         e.message);
				if (req)
					assert_non_null(strstr(e.message, f->name));
			}
		}
	}
	/* Every table entry was enforced exactly once (each type is visited once). */
	assert_int_equal(required_seen, sizeof(ld_required_fields) / sizeof(ld_required_fields[0]));
}

/* Every body kind: a full body passes check_event; each required field of
 * it removed fails with ERR_MISSING_FIELD on "<body>.<field>". */
static void test_every_body_kind(void **state)
{
	const ProtobufCMessageDescriptor *ed = &ledger__event__descriptor;
	int kinds = 0;
	for (unsigned i = 0; i < ed->n_fields; i++) {
		const ProtobufCFieldDescriptor *bf = &ed->fields[i];
		if (!(bf->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		kinds++;
		const ProtobufCMessageDescriptor *bd = bf->descriptor;
		/* The EventType value of a kind is its field number. */
		const ProtobufCEnumValue *ev_type = protobuf_c_enum_descriptor_get_value(
		    &ledger__event_type__descriptor, (int)bf->id);
		assert_non_null(ev_type);
		assert_string_equal(codec_event_type_name((int)bf->id), bf->name);

		for (int drop = -1; drop < (int)bd->n_fields; drop++) {
			Ledger__Event *ev = tl_event();
			ProtobufCMessage *body = fill(bd);
			if (bd == &ledger__org_dissolved__descriptor)
				((Ledger__OrgDissolved *)body)->reason =
				    LEDGER__DISSOLVE_REASON__MERGED;
			/* The sealed personal data is server-set (its own test). */
			if (bd == &ledger__member_joined__descriptor)
				((Ledger__MemberJoined *)body)->has_personal = 0;
			if (bd == &ledger__profile_changed__descriptor)
				((Ledger__ProfileChanged *)body)->has_personal = 0;
			if (bd == &ledger__event_amended__descriptor &&
			    ((Ledger__EventAmended *)body)->corrected_case ==
				    LEDGER__EVENT_AMENDED__CORRECTED_MEMBER_JOINED)
				((Ledger__EventAmended *)body)->member_joined->has_personal = 0;
			ev->body_case = (Ledger__Event__BodyCase)bf->id;
			*(ProtobufCMessage **)((char *)ev + bf->offset) = body;
			if (drop < 0) {
				int rc = chk(ev);
				if (rc)
					fail_msg("a full %s: %s on '%s': %s", bf->name,
					         ld_errname(rc), last.field, last.message);
				continue;
			}
			const ProtobufCFieldDescriptor *f = &bd->fields[drop];
			if (!is_required(bd, f->name))
				continue;
			clear_field(body, f, 0);
			char want[128];
			snprintf(want, sizeof(want), "%s.%s", bf->name, f->name);
			REJECTS(ev, MISSING_FIELD, want);
		}
	}
	assert_int_equal(kinds, 22);
}

/* MemberJoined spelled out: each required field missing, one at a time. */
static void test_member_joined_required(void **state)
{
	static const char *const req[] = {"member_id", "org_id",       "join_path",
	                                  "channel",   "worker_group", "employment",
	                                  "region",    "real_name",    "person_hash"};
	PASSES(join("M1", "NJ", 1));
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		Ledger__Event *ev = join("M1", "NJ", 1);
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
		    &ledger__member_joined__descriptor, req[i]);
		assert_non_null(f);
		clear_field(&ev->member_joined->base, f, 0);
		char want[64];
		snprintf(want, sizeof(want), "member_joined.%s", req[i]);
		REJECTS(ev, MISSING_FIELD, want);
	}
	/* Optional: platform. */
	Ledger__Event *ev = join("M1", "NJ", 1);
	ev->member_joined->platform = NULL;
	PASSES(ev);
	ev->member_joined->platform = "Meituan";
	PASSES(ev);
	/* An empty required string counts as missing. */
	ev = join("M1", "NJ", 1);
	ev->member_joined->org_id = "";
	REJECTS(ev, MISSING_FIELD, "member_joined.org_id");
	/* A bool set to false is present. */
	ev = join("M1", "NJ", 1);
	ev->member_joined->real_name = 0;
	PASSES(ev);
}

/* ================================================================== */
/* Values                                                              */
/* ================================================================== */

static void test_enums(void **state)
{
	Ledger__Event *ev = join("M1", "NJ", 1);
	ev->member_joined->channel = 0; /* present but UNSPECIFIED */
	REJECTS(ev, UNKNOWN_ENUM, "member_joined.channel");
	ev->member_joined->channel = (Ledger__JoinChannel)999;
	REJECTS(ev, UNKNOWN_ENUM, "member_joined.channel");
	assert_non_null(strstr(last.message, "999"));
	ev->member_joined->channel = (Ledger__JoinChannel)-1;
	REJECTS(ev, UNKNOWN_ENUM, "member_joined.channel");
	ev->member_joined->channel = LEDGER__JOIN_CHANNEL__CEREMONY; /* the last value */
	PASSES(ev);

	ev = join("M1", "NJ", 1);
	ev->member_joined->worker_group = (Ledger__WorkerGroup)12; /* one past OTHER_GROUP */
	REJECTS(ev, UNKNOWN_ENUM, "member_joined.worker_group");

	ev = tl_org("X", 0, "JS", 320100);
	REJECTS(ev, UNKNOWN_ENUM, "org_registered.kind");
	ev = tl_org("X", (Ledger__OrgKind)999, "JS", 320100);
	REJECTS(ev, UNKNOWN_ENUM, "org_registered.kind");

	/* An optional enum is checked when present. */
	ev = tl_org("X", LEDGER__ORG_KIND__REGIONAL_UNION, "JS", 320100);
	ev->org_registered->has_regional_level = 1;
	ev->org_registered->regional_level = 0;
	REJECTS(ev, UNKNOWN_ENUM, "org_registered.regional_level");
	ev->org_registered->regional_level = (Ledger__RegionalLevel)6;
	REJECTS(ev, UNKNOWN_ENUM, "org_registered.regional_level");
	ev->org_registered->regional_level = LEDGER__REGIONAL_LEVEL__BUILDING;
	PASSES(ev);

	ev = tl_service("NJ", "M1", (Ledger__ServiceKind)999);
	REJECTS(ev, UNKNOWN_ENUM, "service_delivered.kind");
	ev = tl_dues("M1", 100);
	ev->dues_paid->method = 0;
	REJECTS(ev, UNKNOWN_ENUM, "dues_paid.method");
}

/* An unknown enum value sent on the wire reaches check_event (protobuf-c
 * keeps it) and is rejected there, not silently stored. */
static void test_enum_on_the_wire(void **state)
{
	Ledger__Event *ev = join("M1", "NJ", 1);
	ev->member_joined->employment = (Ledger__EmploymentRelation)999;
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__AppendRequest ap = LEDGER__APPEND_REQUEST__INIT;
	ap.n_events = 1;
	ap.events = &ev;
	req.command_case = LEDGER__REQUEST__COMMAND_APPEND;
	req.append = &ap;
	size_t n = codec_size(&req);
	uint8_t *buf = tl_alloc(n);
	assert_int_equal(codec_pack(&req, buf), n);
	Ledger__Request *got;
	ld_errinfo e = {0};
	assert_int_equal(codec_request_unpack(buf, n, &got, &e), 0);
	assert_int_equal(got->append->n_events, 1);
	REJECTS(got->append->events[0], UNKNOWN_ENUM, "member_joined.employment");
	codec_request_free(got);
}

static void test_identifiers(void **state)
{
	char id64[65], id65[66];
	memset(id64, 'a', 64);
	id64[64] = 0;
	memset(id65, 'a', 65);
	id65[65] = 0;

	assert_true(check_id("A"));
	assert_true(check_id("aZ09._:-"));
	assert_true(check_id(id64));
	assert_false(check_id(id65));
	assert_false(check_id(""));
	assert_false(check_id(NULL));
	assert_false(check_id("a b"));
	assert_false(check_id("a/b"));
	assert_false(check_id("a\tb"));
	assert_false(check_id("成员"));
	assert_false(check_id("a+b"));

	const char *const bad[] = {"a b", "a/b", " a", "a\n", "南京", "x*", id65};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Ledger__Event *ev = join(bad[i], "NJ", 1);
		REJECTS(ev, INVALID_VALUE, "member_joined.member_id");
		ev = join("M1", bad[i], 1);
		REJECTS(ev, INVALID_VALUE, "member_joined.org_id");
		ev = tl_transfer("M1", "NJ", bad[i]);
		REJECTS(ev, INVALID_VALUE, "member_transferred.to_org");
		ev = tl_transfer("M1", bad[i], "SZ");
		REJECTS(ev, INVALID_VALUE, "member_transferred.from_org");
		/* An optional identifier is checked when present. */
		ev = tl_org("X", LEDGER__ORG_KIND__FEDERATION_CITY, bad[i], 320100);
		REJECTS(ev, INVALID_VALUE, "org_registered.parent_id");
		ev = tl_service("NJ", bad[i], LEDGER__SERVICE_KIND__LEGAL_AID);
		REJECTS(ev, INVALID_VALUE, "service_delivered.member_id");
	}
	PASSES(join(id64, "NJ", 1));
	/* An empty required identifier is missing. */
	REJECTS(join("", "NJ", 1), MISSING_FIELD, "member_joined.member_id");
}

static void test_regions_and_periods(void **state)
{
	assert_true(check_region(320100));
	assert_true(check_region(110000));
	assert_true(check_region(829999));
	assert_false(check_region(12345));
	assert_false(check_region(999999));
	assert_false(check_region(100000));
	assert_false(check_region(830000));
	assert_false(check_region(0));
	assert_false(check_region(3201000));

	assert_true(check_period(202405));
	assert_true(check_period(199001));
	assert_true(check_period(210012));
	assert_false(check_period(202413));
	assert_false(check_period(202400));
	assert_false(check_period(198912));
	assert_false(check_period(210101));
	assert_false(check_period(2024));
	assert_false(check_period(20240501));

	Ledger__Event *ev = join("M1", "NJ", 1);
	ev->member_joined->region = 12345;
	REJECTS(ev, INVALID_VALUE, "member_joined.region");
	ev->member_joined->region = 999999;
	REJECTS(ev, INVALID_VALUE, "member_joined.region");
	REJECTS(tl_org("X", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 12345), INVALID_VALUE,
	        "org_registered.region");

	ev = tl_dues("M1", 100);
	ev->dues_paid->period_to = 202413;
	REJECTS(ev, INVALID_VALUE, "dues_paid.period_to");
	ev = tl_dues("M1", 100);
	ev->dues_paid->period_from = 202413;
	ev->dues_paid->period_to = 202501;
	REJECTS(ev, INVALID_VALUE, "dues_paid.period_from");
	ev = tl_dues("M1", 100);
	ev->dues_paid->period_from = ev->dues_paid->period_to = 202512; /* one month */
	PASSES(ev);
}

static void test_amounts_hash_quantity_term(void **state)
{
	Ledger__Event *ev = tl_dues("M1", 0);
	REJECTS(ev, INVALID_VALUE, "dues_paid.amount_fen");
	REJECTS(tl_dues("M1", -100), INVALID_VALUE, "dues_paid.amount_fen");
	REJECTS(tl_dues("M1", INT64_MIN), INVALID_VALUE, "dues_paid.amount_fen");
	PASSES(tl_dues("M1", 1));
	REJECTS(tl_refund("M1", 0, 5), INVALID_VALUE, "dues_refunded.amount_fen");

	/* Optional money: checked when present. */
	ev = tl_service("NJ", "M1", LEDGER__SERVICE_KIND__CONDOLENCE_VISIT);
	ev->service_delivered->has_amount_fen = 1;
	ev->service_delivered->amount_fen = 0;
	REJECTS(ev, INVALID_VALUE, "service_delivered.amount_fen");
	ev->service_delivered->amount_fen = 50000;
	PASSES(ev);

	ev = join("M1", "NJ", 1);
	ev->member_joined->person_hash.len = 31;
	REJECTS(ev, INVALID_VALUE, "member_joined.person_hash");
	ev->member_joined->person_hash.len = 0;
	REJECTS(ev, INVALID_VALUE, "member_joined.person_hash");

	ev = tl_service("NJ", NULL, LEDGER__SERVICE_KIND__HEALTH_CHECK);
	ev->service_delivered->has_quantity = 1;
	ev->service_delivered->quantity = 0;
	REJECTS(ev, INVALID_VALUE, "service_delivered.quantity");
	ev->service_delivered->quantity = 30;
	PASSES(ev);

	ev = tl_org_closed("NJ");
	Ledger__OrgUpdated *u = ev->org_updated;
	u->has_reelected_at = u->has_term_years = 1;
	u->reelected_at = TL_T0;
	u->term_years = 4;
	REJECTS(ev, INVALID_VALUE, "org_updated.term_years");
	u->term_years = 3;
	PASSES(ev);
	u->term_years = 5;
	PASSES(ev);
	u->term_years = 0;
	REJECTS(ev, INVALID_VALUE, "org_updated.term_years");
}

static void test_strings(void **state)
{
	char s1024[1025], s1025[1026];
	memset(s1024, 'x', 1024);
	s1024[1024] = 0;
	memset(s1025, 'x', 1025);
	s1025[1025] = 0;

	Ledger__Event *ev = tl_org("X", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100);
	Ledger__OrgRegistered *r = ev->org_registered;
	r->name = "南京市新就业形态劳动者行业工会联合会";
	PASSES(ev);
	r->name = "tab\tand\nnewline";
	PASSES(ev);
	r->name = s1024;
	PASSES(ev);
	r->name = s1025;
	REJECTS(ev, INVALID_VALUE, "org_registered.name");
	r->name = "bad \xff byte";
	REJECTS(ev, INVALID_VALUE, "org_registered.name");
	r->name = "cut \xe5\x8d";
	REJECTS(ev, INVALID_VALUE, "org_registered.name");
	r->name = "lone \x80 continuation";
	REJECTS(ev, INVALID_VALUE, "org_registered.name");
	r->name = "bell \x07";
	REJECTS(ev, INVALID_VALUE, "org_registered.name");
	r->name = "\xc0\xae"; /* overlong, rejected by the lead-byte rule */
	REJECTS(ev, INVALID_VALUE, "org_registered.name");
	r->name = "\xf5\x80\x80\x80";
	REJECTS(ev, INVALID_VALUE, "org_registered.name");
}

/* RFC 3629: overlong 3- and 4-byte forms, UTF-16 surrogates and code points
 * above U+10FFFF are not UTF-8 either. */
static void test_strings_strict_utf8(void **state)
{
	static const char *const bad[] = {
	    "\xe0\x80\x80",     /* overlong U+0000 */
	    "\xe0\x9f\xbf",     /* overlong U+07FF */
	    "\xed\xa0\x80",     /* U+D800, a surrogate */
	    "\xf0\x80\x80\x80", /* overlong U+0000 */
	    "\xf4\x90\x80\x80", /* U+110000 */
	};
	char accepted[256] = "";
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Ledger__Event *ev = tl_org("X", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100);
		ev->org_registered->name = (char *)bad[i];
		int rc = chk(ev);
		if (rc != LD_E(INVALID_VALUE))
			snprintf(accepted + strlen(accepted), sizeof(accepted) - strlen(accepted),
			         " #%zu (%s)", i, ld_errname(rc));
	}
	if (accepted[0])
		fail_msg("invalid UTF-8 names not rejected:%s (check.c utf8_valid)", accepted);
}

static void test_times(void **state)
{
	int64_t now = ldc_now_us();
	Ledger__Event *ev = join("M1", "NJ", 1);
	ev->occurred_at = now + 10 * MIN_US;
	REJECTS(ev, FUTURE_TIME, "occurred_at");
	ev->occurred_at = now + 4 * MIN_US;
	PASSES(ev);
	ev->occurred_at = now;
	PASSES(ev);
	/* The bound itself, with a fixed clock. */
	ld_errinfo e;
	ev->occurred_at = now + LD_MAX_SKEW_US;
	assert_int_equal(check_event(ev, now, &e), 0);
	ev->occurred_at = now + LD_MAX_SKEW_US + 1;
	assert_int_equal(check_event(ev, now, &e), LD_E(FUTURE_TIME));

	ev->occurred_at = LD_MIN_TIME_US - 1; /* 1999-12-31T23:59:59.999999Z */
	REJECTS(ev, INVALID_VALUE, "occurred_at");
	ev->occurred_at = 946684799LL; /* seconds, not µs */
	REJECTS(ev, INVALID_VALUE, "occurred_at");
	ev->occurred_at = -1;
	REJECTS(ev, INVALID_VALUE, "occurred_at");
	ev->occurred_at = LD_MIN_TIME_US;
	PASSES(ev);
	ev->has_occurred_at = 0;
	REJECTS(ev, MISSING_FIELD, "occurred_at");

	/* An amendment's corrected time follows the same bounds. */
	ev = tl_amend(7, join("M1", "NJ", 1));
	ev->event_amended->has_corrected_occurred_at = 1;
	ev->event_amended->corrected_occurred_at = now + 10 * MIN_US;
	REJECTS(ev, FUTURE_TIME, "event_amended.corrected_occurred_at");
	ev->event_amended->corrected_occurred_at = now + LD_MAX_SKEW_US;
	PASSES(ev);
	ev->event_amended->corrected_occurred_at = 1;
	REJECTS(ev, INVALID_VALUE, "event_amended.corrected_occurred_at");
	ev->event_amended->corrected_occurred_at = TL_T0;
	PASSES(ev);
}

static void test_server_fields(void **state)
{
	static const char *const names[] = {"seq",  "recorded_at", "version", "prev_hash",
	                                    "hash", "actor",       "stream"};
	static uint8_t h[LD_HASH_LEN];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		Ledger__Event *ev = join("M1", "NJ", 1);
		switch (i) {
		case 0:
			ev->has_seq = 1;
			ev->seq = 1;
			break;
		case 1:
			ev->has_recorded_at = 1;
			ev->recorded_at = TL_T0;
			break;
		case 2:
			ev->has_version = 1;
			ev->version = 1;
			break;
		case 3:
			ev->has_prev_hash = 1;
			ev->prev_hash.len = 32;
			ev->prev_hash.data = h;
			break;
		case 4:
			ev->has_hash = 1;
			ev->hash.len = 32;
			ev->hash.data = h;
			break;
		case 5:
			ev->actor = "uid:0";
			break;
		case 6:
			ev->stream = "member/M1";
			break;
		}
		REJECTS(ev, SERVER_FIELD, names[i]);
		assert_non_null(strstr(last.message, names[i]));
	}
	/* Even a zero value sent is a value sent. */
	Ledger__Event *ev = join("M1", "NJ", 1);
	ev->has_seq = 1;
	ev->seq = 0;
	REJECTS(ev, SERVER_FIELD, "seq");
	ev = join("M1", "NJ", 1);
	ev->actor = "";
	REJECTS(ev, SERVER_FIELD, "actor");
	/* expected_version is the client's. */
	ev = join("M1", "NJ", 1);
	ev->has_expected_version = 1;
	ev->expected_version = 0;
	PASSES(ev);
}

static void test_envelope(void **state)
{
	Ledger__Event *ev = tl_event();
	REJECTS(ev, MISSING_FIELD, "body");
	ev = join("M1", "NJ", 1);
	ev->has_event_id = 0;
	REJECTS(ev, MISSING_FIELD, "event_id");
	ev = join("M1", "NJ", 1);
	ev->event_id.len = 15;
	REJECTS(ev, INVALID_VALUE, "event_id");
	ev->event_id.len = 17;
	REJECTS(ev, INVALID_VALUE, "event_id");
	/* A body case pointing at nothing known. */
	ev = join("M1", "NJ", 1);
	ev->body_case = (Ledger__Event__BodyCase)0;
	REJECTS(ev, MISSING_FIELD, "body");
}

/* ================================================================== */
/* Rules across the fields of one body                                 */
/* ================================================================== */

static void test_cross_field_rules(void **state)
{
	Ledger__Event *ev = tl_dues("M1", 100);
	ev->dues_paid->period_from = 202406;
	ev->dues_paid->period_to = 202405;
	REJECTS(ev, INVALID_VALUE, "dues_paid.period_to");

	ev = tl_event();
	Ledger__DuesWaived w = LEDGER__DUES_WAIVED__INIT;
	w.member_id = "M1";
	w.has_period_from = w.has_period_to = w.has_reason = 1;
	w.period_from = 202501;
	w.period_to = 202412;
	w.reason = LEDGER__WAIVER_REASON__HARDSHIP;
	ev->body_case = LEDGER__EVENT__BODY_DUES_WAIVED;
	ev->dues_waived = &w;
	REJECTS(ev, INVALID_VALUE, "dues_waived.period_to");
	w.period_to = 202501;
	PASSES(ev);

	REJECTS(tl_transfer("M1", "NJ", "NJ"), INVALID_VALUE, "member_transferred.to_org");
	PASSES(tl_transfer("M1", "NJ", "SZ"));

	ev = tl_event();
	Ledger__FundsAllocated fa = LEDGER__FUNDS_ALLOCATED__INIT;
	fa.from_org = "NJ";
	fa.to_org = "NJ";
	fa.has_amount_fen = fa.has_purpose = 1;
	fa.amount_fen = 100000;
	fa.purpose = LEDGER__FUND_PURPOSE__SUBSIDY;
	ev->body_case = LEDGER__EVENT__BODY_FUNDS_ALLOCATED;
	ev->funds_allocated = &fa;
	REJECTS(ev, INVALID_VALUE, "funds_allocated.to_org");
	fa.to_org = "NJ-GL";
	PASSES(ev);

	/* org_updated that changes nothing; a re-election needs both fields. */
	ev = tl_org_closed("NJ");
	ev->org_updated->has_admits_members = 0;
	REJECTS(ev, MISSING_FIELD, "org_updated");
	ev->org_updated->has_reelected_at = 1;
	ev->org_updated->reelected_at = TL_T0;
	REJECTS(ev, MISSING_FIELD, "org_updated.term_years");
	ev->org_updated->has_term_years = 1;
	ev->org_updated->term_years = 5;
	PASSES(ev);

	/* Dissolutions and merges. */
	ev = tl_dissolve("NJ-GL");
	PASSES(ev);
	ev->org_dissolved->reason = LEDGER__DISSOLVE_REASON__MERGED;
	REJECTS(ev, MISSING_FIELD, "org_dissolved.merged_into");
	ev->org_dissolved->merged_into = "NJ-GL";
	REJECTS(ev, INVALID_VALUE, "org_dissolved.merged_into");
	ev->org_dissolved->merged_into = "NJ";
	PASSES(ev);
	ev->org_dissolved->reason = LEDGER__DISSOLVE_REASON__DISSOLVED;
	REJECTS(ev, INVALID_VALUE, "org_dissolved.merged_into");

	/* profile_changed that changes nothing. */
	ev = tl_event();
	Ledger__ProfileChanged pc = LEDGER__PROFILE_CHANGED__INIT;
	pc.member_id = "M1";
	ev->body_case = LEDGER__EVENT__BODY_PROFILE_CHANGED;
	ev->profile_changed = &pc;
	REJECTS(ev, MISSING_FIELD, "profile_changed");
	pc.has_region = 1;
	pc.region = 320500;
	PASSES(ev);

	/* Voids and amendments need a real target and a body. */
	REJECTS(tl_void(0), INVALID_VALUE, "event_voided.target_seq");
	PASSES(tl_void(1));
	ev = tl_amend(0, tl_dues("M1", 100));
	REJECTS(ev, INVALID_VALUE, "event_amended.target_seq");
	ev = tl_amend(3, tl_dues("M1", 100));
	PASSES(ev);
	ev->event_amended->corrected_case = LEDGER__EVENT_AMENDED__CORRECTED__NOT_SET;
	REJECTS(ev, MISSING_FIELD, "event_amended.corrected");
}

/* A MERGED dissolution whose merged_into is present but empty names no
 * survivor: it is as missing as an absent one. The same for an
 * org_updated whose only change is an empty name. */
static void test_empty_optional_strings(void **state)
{
	char failures[512] = "";
	Ledger__Event *ev = tl_dissolve("NJ-GL");
	ev->org_dissolved->reason = LEDGER__DISSOLVE_REASON__MERGED;
	ev->org_dissolved->merged_into = "";
	int rc = chk(ev);
	if (rc != LD_E(MISSING_FIELD) || strcmp(last.field, "org_dissolved.merged_into") != 0)
		snprintf(failures + strlen(failures), sizeof(failures) - strlen(failures),
		         " MERGED with merged_into=\"\" gives %s on '%s';", ld_errname(rc),
		         last.field);

	ev = tl_org_closed("NJ");
	ev->org_updated->has_admits_members = 0;
	ev->org_updated->name = "";
	rc = chk(ev);
	if (rc == 0)
		snprintf(failures + strlen(failures), sizeof(failures) - strlen(failures),
		         " org_updated whose only change is name=\"\" passes;");
	if (failures[0])
		fail_msg("empty strings taken as values:%s", failures);
}

/* Checks inside an amendment name the field where it sits in the event. */
static void test_amendment_paths(void **state)
{
	Ledger__Event *j = join("M1", "NJ", 1);
	j->member_joined->org_id = NULL;
	REJECTS(tl_amend(2, j), MISSING_FIELD, "event_amended.member_joined.org_id");

	j = join("M1", "NJ", 1);
	j->member_joined->region = 12345;
	REJECTS(tl_amend(2, j), INVALID_VALUE, "event_amended.member_joined.region");

	j = join("M1", "NJ", 1);
	j->member_joined->channel = 999;
	REJECTS(tl_amend(2, j), UNKNOWN_ENUM, "event_amended.member_joined.channel");

	/* The cross-field rules apply to the corrected body as well. */
	Ledger__Event *t = tl_transfer("M1", "NJ", "NJ");
	int rc = chk(tl_amend(2, t));
	assert_int_equal(rc, LD_E(INVALID_VALUE));
	Ledger__Event *d = tl_dues("M1", 100);
	d->dues_paid->period_from = 202502;
	d->dues_paid->period_to = 202501;
	assert_int_equal(chk(tl_amend(2, d)), LD_E(INVALID_VALUE));
}

/* check_present (what ledger-sink asks of a stored event): the required
 * strings and messages only, inside an amendment too, no value rule. */
static void test_present_only(void **state)
{
	ld_errinfo e;
	Ledger__Event *j = join("M1", "NJ", 1);
	j->member_joined->region = 12345; /* a value rule: not its business */
	assert_int_equal(check_present(&j->member_joined->base, "member_joined", &e), 0);
	j->member_joined->org_id = NULL;
	assert_int_equal(check_present(&j->member_joined->base, "member_joined", &e),
	                 LD_E(MISSING_FIELD));
	assert_string_equal(e.field, "member_joined.org_id");
	Ledger__Event *a = tl_amend(2, j);
	assert_int_equal(check_present(&a->event_amended->base, "event_amended", &e),
	                 LD_E(MISSING_FIELD));
	assert_string_equal(e.field, "event_amended.member_joined.org_id");
	Ledger__Event *d = tl_dues("M1", 100);
	d->dues_paid->amount_fen = INT64_MAX; /* over today's bound: a log may hold it */
	assert_int_equal(check_present(&d->dues_paid->base, "dues_paid", &e), 0);
}

/* The field of a cross-field error inside an amendment is its path in the
 * event, like every other error inside an amendment. */
static void test_amendment_cross_field_path(void **state)
{
	REJECTS(tl_amend(2, tl_transfer("M1", "NJ", "NJ")), INVALID_VALUE,
	        "event_amended.member_transferred.to_org");
}

/* ================================================================== */
/* Decoding requests                                                   */
/* ================================================================== */

/* Packs a message into the arena. */
static uint8_t *pack(const void *msg, size_t *n)
{
	*n = codec_size(msg);
	uint8_t *b = tl_alloc(*n + 1);
	assert_int_equal(codec_pack(msg, b), *n);
	return b;
}

/* a || b into the arena. */
static uint8_t *cat(const uint8_t *a, size_t na, const uint8_t *b, size_t nb, size_t *n)
{
	uint8_t *o = tl_alloc(na + nb + 1);
	memcpy(o, a, na);
	memcpy(o + na, b, nb);
	*n = na + nb;
	return o;
}

/* A length-delimited field around inner. */
static uint8_t *wrap(unsigned field, const uint8_t *inner, size_t ni, size_t *n)
{
	*n = codec_ld_len(field, ni);
	uint8_t *o = tl_alloc(*n);
	uint8_t *p = codec_put_ld(o, field, ni);
	memcpy(p, inner, ni);
	assert_int_equal((size_t)(p + ni - o), *n);
	return o;
}

/* Field 999, varint 1: key 999 << 3 = 7992 = b8 3e. */
static const uint8_t unknown999[] = {0xb8, 0x3e, 0x01};

/* Decodes b both ways, malloc'd and into a call's pool (the server's), which
 * must agree: the same answer, the same message, the same request. */
static int unpack(const uint8_t *b, size_t n, ld_errinfo *e)
{
	Ledger__Request *r = NULL, *rp = NULL;
	ld_errinfo ep = {0};
	codec_pool pool = CODEC_POOL_INIT;
	pool.block = 4096; /* several blocks for the larger requests */
	memset(e, 0, sizeof(*e));
	int rc = codec_request_unpack(b, n, &r, e);
	int rcp = codec_request_unpack_in(b, n, &pool, &rp, &ep);
	assert_int_equal(rcp, rc);
	assert_string_equal(ep.message, e->message);
	if (rc) {
		assert_null(r);
		assert_null(rp);
	} else {
		assert_non_null(r);
		assert_non_null(rp);
		size_t len = codec_size(r);
		assert_int_equal(codec_size(rp), len);
		uint8_t *x = tl_alloc(len + 1), *y = tl_alloc(len + 1);
		codec_pack(r, x);
		codec_pack(rp, y);
		assert_memory_equal(x, y, len);
	}
	codec_request_free(r);
	codec_pool_trim(&pool, 4096);
	codec_pool_free(&pool);
	return rc;
}

static void test_unpack_malformed(void **state)
{
	static const struct {
		const char *what;
		uint8_t b[12];
		size_t n;
	} cases[] = {
	    {"truncated length", {0x52, 0x10}, 2}, /* append, 16 bytes, none */
	    {"truncated varint", {0x08, 0xff}, 2}, /* varint never ends */
	    {"wire type 7", {0x57, 0x00}, 2},      /* field 10, type 7 */
	    {"wire type 6", {0x0e}, 1},
	    {"field number 0", {0x00, 0x01}, 2},
	    {"nested garbage", {0x52, 0x02, 0x0a, 0x05}, 4}, /* events: len 5 of 0 */
	    {"all ones", {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 11},
	    {"end group alone", {0x0c}, 1},
	};
	ld_errinfo e;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = unpack(cases[i].b, cases[i].n, &e);
		if (rc != LD_E(MALFORMED))
			fail_msg("%s: expected ERR_MALFORMED, got %s", cases[i].what,
			         ld_errname(rc));
		assert_true(e.message[0] != '\0');
	}
	/* Random bytes never crash and never decode into a command. */
	uint8_t junk[256];
	for (int round = 0; round < 2000; round++) {
		size_t n = 1 + (size_t)(rand() % (int)sizeof(junk));
		for (size_t i = 0; i < n; i++)
			junk[i] = (uint8_t)rand();
		Ledger__Request *r = NULL;
		int rc = codec_request_unpack(junk, n, &r, &e);
		assert_true(rc == 0 || rc == LD_E(MALFORMED) || rc == LD_E(UNKNOWN_FIELD) ||
		            rc == LD_E(UNKNOWN_COMMAND));
		codec_request_free(r);
	}
	/* No bytes: a Request with no command (the server says
	 * UNKNOWN_COMMAND), not a decoding error. */
	Ledger__Request *r = NULL;
	assert_int_equal(codec_request_unpack((const uint8_t *)"", 0, &r, &e), 0);
	assert_non_null(r);
	assert_int_equal(r->command_case, LEDGER__REQUEST__COMMAND__NOT_SET);
	codec_request_free(r);
}

static void test_unpack_unknown_fields(void **state)
{
	ld_errinfo e;
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__HeadRequest h = LEDGER__HEAD_REQUEST__INIT;
	req.command_case = LEDGER__REQUEST__COMMAND_HEAD;
	req.head = &h;
	size_t n, m;
	uint8_t *b = pack(&req, &n);
	assert_int_equal(unpack(b, n, &e), 0);

	/* At the top level a field this schema lacks is a command of a newer
	 * protocol: ERR_UNKNOWN_COMMAND naming its number, whatever its type,
	 * before or after a known command. */
	uint8_t *x = cat(b, n, unknown999, sizeof(unknown999), &m);
	assert_int_equal(unpack(x, m, &e), LD_E(UNKNOWN_COMMAND));
	assert_non_null(strstr(e.message, "999"));
	x = cat(unknown999, sizeof(unknown999), b, n, &m);
	assert_int_equal(unpack(x, m, &e), LD_E(UNKNOWN_COMMAND));
	static const uint8_t future[] = {0xea, 0x01, 0x00};  /* field 29, empty message */
	static const uint8_t ld3[] = {0x1a, 0x01, 0x41};     /* field 3, "A" */
	static const uint8_t fixed32[] = {0x0d, 1, 2, 3, 4}; /* field 1, fixed32 */
	static const uint8_t fixed64[] = {0x09, 1, 2, 3, 4, 5, 6, 7, 8}; /* field 1, fixed64 */
	assert_int_equal(unpack(future, sizeof(future), &e), LD_E(UNKNOWN_COMMAND));
	assert_non_null(strstr(e.message, "29"));
	x = cat(b, n, ld3, sizeof(ld3), &m);
	assert_int_equal(unpack(x, m, &e), LD_E(UNKNOWN_COMMAND));
	x = cat(b, n, fixed32, sizeof(fixed32), &m);
	assert_int_equal(unpack(x, m, &e), LD_E(UNKNOWN_COMMAND));
	x = cat(b, n, fixed64, sizeof(fixed64), &m);
	assert_int_equal(unpack(x, m, &e), LD_E(UNKNOWN_COMMAND));

	/* Anywhere below it, ERR_UNKNOWN_FIELD naming where. */
	/* Inside the (empty) HeadRequest. */
	uint8_t *hb = wrap(23, unknown999, sizeof(unknown999), &m);
	assert_int_equal(unpack(hb, m, &e), LD_E(UNKNOWN_FIELD));
	assert_string_equal(e.field, "head");
}

/* n copies of the bytes b. */
static uint8_t *times(const uint8_t *b, size_t nb, size_t n, size_t *out)
{
	uint8_t *o = tl_alloc(nb * n + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(o + i * nb, b, nb);
	*out = nb * n;
	return o;
}

/* A counting allocator: what protobuf-c really allocates for a request. */
static void *count_alloc(void *data, size_t size)
{
	*(size_t *)data += size;
	return malloc(size);
}

static void count_free(void *data, void *p)
{
	(void)data;
	free(p);
}

/* The command is read from the top-level keys, as decoding would choose it
 * (the last of several), before anything is decoded. */
static void test_request_command(void **state)
{
	static const uint8_t head[] = {0xba, 0x01, 0x00};            /* head (23) {} */
	static const uint8_t append[] = {0x52, 0x02, 0x0a, 0x00};    /* append { events {} } */
	static const uint8_t two[] = {0x52, 0x00, 0xba, 0x01, 0x00}; /* append {} head {} */
	static const uint8_t broken[] = {0x52, 0x10};
	assert_int_equal(codec_request_command(head, sizeof(head)),
			 LEDGER__REQUEST__COMMAND_HEAD);
	assert_int_equal(codec_request_command(append, sizeof(append)),
			 LEDGER__REQUEST__COMMAND_APPEND);
	assert_int_equal(codec_request_command(two, sizeof(two)), LEDGER__REQUEST__COMMAND_HEAD);
	Ledger__Request *r = NULL;
	ld_errinfo e;
	assert_int_equal(codec_request_unpack(two, sizeof(two), &r, &e), 0);
	assert_int_equal(r->command_case, LEDGER__REQUEST__COMMAND_HEAD);
	codec_request_free(r);
	assert_int_equal(codec_request_command(broken, sizeof(broken)), 0);
	assert_int_equal(codec_request_command(unknown999, sizeof(unknown999)), 0);
	assert_int_equal(codec_request_command((const uint8_t *)"", 0), 0);
}

/* A repeated field over CODEC_MAX_REPEATED elements is refused on the raw
 * bytes, naming it and counting all of them, sent one by one or packed; a
 * request whose decoded form would take more than its budget is refused
 * too (2 bytes of empty event are over 200 in memory). */
/* Under ASan a pool's memory given back (codec_pool_reset, as after each
 * request a call decodes, each follower entry, each runner batch) is
 * poisoned until allocated again: a read of a request past its call is an
 * error, not a read of the next request's bytes. A child reads after the
 * reset and must die of it. Without ASan there is nothing to check. */
static void test_pool_poisoned(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY); /* ASan's report of the read */
		if (null >= 0)
			dup2(null, 2);
		codec_pool p = CODEC_POOL_INIT;
		volatile char *s = codec_pool_alloc(&p, 10);
		s[0] = 'x';
		codec_pool_reset(&p);
		volatile char c = s[0]; /* use after poison */
		(void)c;
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_not_equal(tl_exit_code(status), 0);
	/* Allocated again, the same bytes are readable. */
	codec_pool p = CODEC_POOL_INIT;
	char *a = codec_pool_alloc(&p, 10);
	codec_pool_reset(&p);
	char *b = codec_pool_alloc(&p, 10);
	assert_ptr_equal(a, b);
	b[9] = 'y';
	assert_int_equal(b[9], 'y');
	codec_pool_free(&p);
#endif
}

static void test_request_limits(void **state)
{
	ld_errinfo e;
	size_t n, m, cost;
	static const uint8_t empty_event[] = {0x0a, 0x00};
	uint8_t *events = times(empty_event, sizeof(empty_event), CODEC_MAX_REPEATED + 5, &n);
	uint8_t *rq = wrap(10, events, n, &m);
	assert_int_equal(codec_request_measure(rq, m, &cost, &e), LD_E(TOO_LARGE));
	assert_string_equal(e.field, "append.events");
	assert_string_equal(e.message, "append.events has 10005 elements; at most 10000");
	assert_int_equal(unpack(rq, m, &e), LD_E(TOO_LARGE));

	/* read_log.types (3), one by one and packed; subscribe.filter.kinds. */
	static const uint8_t type20[] = {0x18, 0x14};
	uint8_t *types = times(type20, sizeof(type20), CODEC_MAX_REPEATED + 1, &n);
	rq = wrap(21, types, n, &m);
	assert_int_equal(unpack(rq, m, &e), LD_E(TOO_LARGE));
	assert_string_equal(e.message, "read_log.types has 10001 elements; at most 10000");
	static const uint8_t v20[] = {0x14}, v300[] = {0xac, 0x02};
	uint8_t *vals = times(v20, 1, 6000, &n);
	uint8_t *more = times(v300, 2, 4001, &m);
	vals = cat(vals, n, more, m, &n);
	uint8_t *packed = wrap(3, vals, n, &m);
	rq = wrap(21, packed, m, &m);
	assert_int_equal(unpack(rq, m, &e), LD_E(TOO_LARGE));
	assert_string_equal(e.message, "read_log.types has 10001 elements; at most 10000");
	static const uint8_t kind20[] = {0x08, 0x14};
	uint8_t *kinds = times(kind20, sizeof(kind20), 20000, &n);
	uint8_t *filter = wrap(4, kinds, n, &m);
	rq = wrap(50, filter, m, &m);
	assert_int_equal(unpack(rq, m, &e), LD_E(TOO_LARGE));
	assert_string_equal(e.field, "subscribe.filter.kinds");
	assert_string_equal(e.message, "subscribe.filter.kinds has 20000 elements; at most 10000");
	/* At the limit it decodes (packed: one byte each). */
	vals = times(v20, 1, CODEC_MAX_REPEATED, &n);
	packed = wrap(3, vals, n, &m);
	rq = wrap(21, packed, m, &m);
	assert_int_equal(unpack(rq, m, &e), 0);

	/* 10,000 empty events are within the count but not the budget. */
	events = times(empty_event, sizeof(empty_event), CODEC_MAX_REPEATED, &n);
	rq = wrap(10, events, n, &m);
	assert_int_equal(codec_request_measure(rq, m, &cost, &e), LD_E(TOO_LARGE));
	assert_non_null(strstr(e.message, "the request of 20004 bytes would take more than 320064 bytes"));
	assert_int_equal(unpack(rq, m, &e), LD_E(TOO_LARGE));
	/* 100 are within it (64 KiB for any request). */
	events = times(empty_event, sizeof(empty_event), 100, &n);
	rq = wrap(10, events, n, &m);
	assert_int_equal(codec_request_measure(rq, m, &cost, &e), 0);
	assert_true(cost > 100 * sizeof(Ledger__Event) && cost < CODEC_BUDGET_MIN);
	assert_int_equal(unpack(rq, m, &e), 0);

	assert_int_equal(codec_request_budget(0), CODEC_BUDGET_MIN);
	assert_int_equal(codec_request_budget(1 << 20), 16u << 20);
	assert_int_equal(codec_request_budget(64u << 20), CODEC_BUDGET_MAX);
}

/* A request the reading finds within its budget decodes into a call's pool
 * as it does with malloc, and one it finds over is refused both ways: the
 * pool rounds each allocation up to its alignment, which the reading must
 * count too. 1,000 events of a profile_changed with an L-byte member_id and
 * three empty strings (21 + L bytes each on the wire, about 16 times that in
 * memory near L = 11, a few hundred bytes more once rounded). */
static void test_request_budget_pool(void **state)
{
	ld_errinfo e;
	size_t n, m, cost;
	for (uint8_t L = 1; L <= 40; L++) {
		uint8_t ev[64] = {0x0a, (uint8_t)(L + 11), /* Append.events (1) */
				  0x9a, 0x02, (uint8_t)(L + 8), /* Event.profile_changed (35) */
				  0x0a, L};                      /* member_id, L bytes */
		size_t k = 7;
		memset(ev + k, 'M', L);
		k += L;
		static const uint8_t empty[] = {0x22, 0x00, 0x3a, 0x00, 0x42, 0x00}; /* platform, name, phone "" */
		memcpy(ev + k, empty, sizeof(empty));
		k += sizeof(empty);
		uint8_t *events = times(ev, k, 1000, &n);
		uint8_t *rq = wrap(10, events, n, &m);
		int rc = codec_request_measure(rq, m, &cost, &e);
		if (unpack(rq, m, &e) != rc)
			fail_msg("member_id of %u bytes: the reading says %d (%zu bytes of %zu), "
				 "decoding %d: %s",
				 L, rc, cost, codec_request_budget(m), -rc, e.message);
	}
}

/* What the reading says decoding costs is at least what protobuf-c
 * allocates, and real requests stay far within their budget: a batch of
 * every kind of event (the checks' own fixtures) and a batch of joins. */
static void test_request_cost_bounds(void **state)
{
	Ledger__Event *evs[16];
	size_t nev = 0;
	evs[nev++] = join("M1", "NJ", 1);
	evs[nev++] = join("M2-with-a-longer-id", "NJ-RIDERS-UNION", 2);
	evs[nev++] = tl_org("NJ-GL", LEDGER__ORG_KIND__FEDERATION_COUNTY, "NJ", 320102);
	evs[nev++] = tl_transfer("M1", "NJ", "SZ");
	evs[nev++] = tl_end("M1");
	evs[nev++] = tl_affiliate("M1", "NJ");
	evs[nev++] = tl_dues("M1", 1200);
	evs[nev++] = tl_refund("M1", 100, 7);
	evs[nev++] = tl_service("NJ", "M1", LEDGER__SERVICE_KIND__LEGAL_AID);
	evs[nev++] = tl_dissolve("NJ-GL");
	evs[nev++] = tl_void(3);
	evs[nev++] = tl_amend(7, tl_dues("M1", 1));
	Ledger__AppendRequest a = LEDGER__APPEND_REQUEST__INIT;
	a.n_events = nev;
	a.events = evs;
	Ledger__Request req = LEDGER__REQUEST__INIT;
	req.command_case = LEDGER__REQUEST__COMMAND_APPEND;
	req.append = &a;
	size_t n, cost, used = 0;
	uint8_t *b = pack(&req, &n);
	ld_errinfo e;
	assert_int_equal(codec_request_measure(b, n, &cost, &e), 0);
	ProtobufCAllocator counting = {.alloc = count_alloc, .free = count_free,
				       .allocator_data = &used};
	Ledger__Request *r = ledger__request__unpack(&counting, n, b);
	assert_non_null(r);
	ledger__request__free_unpacked(r, NULL);
	if (used > cost)
		fail_msg("protobuf-c allocated %zu bytes; the reading said %zu", used, cost);
	if (cost > 8 * n)
		fail_msg("a real append of %zu bytes costs %zu to decode", n, cost);
}

/* An append whose event body, envelope or amended body carries a field the
 * schema does not know: rejected, naming where. */
static void test_unpack_unknown_nested(void **state)
{
	ld_errinfo e;
	Ledger__Event *ev = join("M1", "NJ", 1);
	Ledger__MemberJoined *body = ev->member_joined;
	size_t nb, nenv, ne, na, nr, n;
	uint8_t *bb = pack(body, &nb);
	ev->body_case = LEDGER__EVENT__BODY__NOT_SET;
	ev->member_joined = NULL;
	uint8_t *env = pack(ev, &nenv);

	/* Sanity: hand-assembled without the unknown field decodes. */
	uint8_t *bw = wrap(30, bb, nb, &n);
	uint8_t *evb = cat(env, nenv, bw, n, &ne);
	uint8_t *ap = wrap(1, evb, ne, &na);
	uint8_t *rq = wrap(10, ap, na, &nr);
	Ledger__Request *r = NULL;
	assert_int_equal(codec_request_unpack(rq, nr, &r, &e), 0);
	assert_int_equal(r->append->n_events, 1);
	assert_string_equal(r->append->events[0]->member_joined->org_id, "NJ");
	codec_request_free(r);

	/* In the body. */
	uint8_t *bx = cat(bb, nb, unknown999, sizeof(unknown999), &n);
	bw = wrap(30, bx, n, &n);
	evb = cat(env, nenv, bw, n, &ne);
	ap = wrap(1, evb, ne, &na);
	rq = wrap(10, ap, na, &nr);
	assert_int_equal(unpack(rq, nr, &e), LD_E(UNKNOWN_FIELD));
	assert_string_equal(e.field, "append.events[0].member_joined");
	assert_non_null(strstr(e.message, "999"));

	/* In the third event's envelope. */
	bw = wrap(30, bb, nb, &n);
	uint8_t *good = cat(env, nenv, bw, n, &ne);
	uint8_t *bad = cat(good, ne, unknown999, sizeof(unknown999), &n);
	size_t ng, nbad, nall;
	uint8_t *g1 = wrap(1, good, ne, &ng);
	uint8_t *b1 = wrap(1, bad, n, &nbad);
	uint8_t *all = cat(g1, ng, g1, ng, &nall);
	all = cat(all, nall, b1, nbad, &nall);
	rq = wrap(10, all, nall, &nr);
	assert_int_equal(unpack(rq, nr, &e), LD_E(UNKNOWN_FIELD));
	assert_string_equal(e.field, "append.events[2]");

	/* In the AppendRequest. */
	all = cat(g1, ng, unknown999, sizeof(unknown999), &nall);
	rq = wrap(10, all, nall, &nr);
	assert_int_equal(unpack(rq, nr, &e), LD_E(UNKNOWN_FIELD));
	assert_string_equal(e.field, "append");

	/* In the corrected body of an amendment. */
	Ledger__Event *am = tl_amend(4, join("M1", "NJ", 1));
	Ledger__EventAmended *a = am->event_amended;
	Ledger__MemberJoined *cj = a->member_joined;
	a->corrected_case = LEDGER__EVENT_AMENDED__CORRECTED__NOT_SET;
	a->member_joined = NULL;
	size_t nab, ncj;
	uint8_t *abytes = pack(a, &nab);
	uint8_t *cjb = pack(cj, &ncj);
	cjb = cat(cjb, ncj, unknown999, sizeof(unknown999), &ncj);
	uint8_t *cw = wrap(10, cjb, ncj, &n);
	abytes = cat(abytes, nab, cw, n, &nab);
	am->body_case = LEDGER__EVENT__BODY__NOT_SET;
	am->event_amended = NULL;
	env = pack(am, &nenv);
	bw = wrap(71, abytes, nab, &n);
	evb = cat(env, nenv, bw, n, &ne);
	ap = wrap(1, evb, ne, &na);
	rq = wrap(10, ap, na, &nr);
	assert_int_equal(unpack(rq, nr, &e), LD_E(UNKNOWN_FIELD));
	assert_string_equal(e.field, "append.events[0].event_amended.member_joined");

	/* In a read request. */
	static const uint8_t rl[] = {0x08, 0x01, 0xb8, 0x3e, 0x01}; /* from_seq 1, field 999 */
	rq = wrap(21, rl, sizeof(rl), &nr);
	assert_int_equal(unpack(rq, nr, &e), LD_E(UNKNOWN_FIELD));
	assert_string_equal(e.field, "read_log");
}

/* ================================================================== */
/* Hashes, streams, peeking                                            */
/* ================================================================== */

/* A stored-like event: every server field set. */
static Ledger__Event *stored(Ledger__Event *ev, uint64_t seq)
{
	static uint8_t prev[LD_HASH_LEN];
	memset(prev, 0x11, sizeof(prev));
	ev->has_seq = 1;
	ev->seq = seq;
	ev->has_recorded_at = 1;
	ev->recorded_at = TL_T0 + 5;
	ev->actor = "tcp:127.0.0.1";
	ev->stream = "member/M1";
	ev->has_version = 1;
	ev->version = 3;
	ev->has_prev_hash = 1;
	ev->prev_hash.len = LD_HASH_LEN;
	ev->prev_hash.data = prev;
	return ev;
}

static void test_event_hash(void **state)
{
	Ledger__Event *ev = stored(join("M1", "NJ", 1), 42);
	uint8_t h1[LD_HASH_LEN], h2[LD_HASH_LEN], h[LD_HASH_LEN];
	assert_int_equal(codec_event_hash(ev, h1), 0);
	assert_int_equal(codec_event_hash(ev, h2), 0);
	assert_memory_equal(h1, h2, LD_HASH_LEN);
	static const uint8_t zero[LD_HASH_LEN];
	assert_memory_not_equal(h1, zero, LD_HASH_LEN);

	/* Independent of hash and expected_version; through pack/unpack too. */
	ev->has_hash = 1;
	ev->hash.len = LD_HASH_LEN;
	ev->hash.data = h2;
	ev->has_expected_version = 1;
	ev->expected_version = 9;
	assert_int_equal(codec_event_hash(ev, h), 0);
	assert_memory_equal(h, h1, LD_HASH_LEN);
	size_t n;
	uint8_t *b = pack(ev, &n);
	Ledger__Event *back = codec_event_unpack(b, n);
	assert_non_null(back);
	assert_int_equal(codec_event_hash(back, h), 0);
	assert_memory_equal(h, h1, LD_HASH_LEN);
	codec_event_free(back);
	ev->has_hash = 0;
	ev->has_expected_version = 0;

	/* Depends on prev_hash, seq and every stored field. */
	ev->prev_hash.data[31] ^= 1;
	assert_int_equal(codec_event_hash(ev, h), 0);
	assert_memory_not_equal(h, h1, LD_HASH_LEN);
	ev->prev_hash.data[31] ^= 1;
	ev->seq = 43;
	assert_int_equal(codec_event_hash(ev, h), 0);
	assert_memory_not_equal(h, h1, LD_HASH_LEN);
	ev->seq = 42;
	ev->actor = "tcp:127.0.0.2";
	assert_int_equal(codec_event_hash(ev, h), 0);
	assert_memory_not_equal(h, h1, LD_HASH_LEN);
	ev->actor = "tcp:127.0.0.1";
	ev->member_joined->real_name = 0;
	assert_int_equal(codec_event_hash(ev, h), 0);
	assert_memory_not_equal(h, h1, LD_HASH_LEN);
	ev->member_joined->real_name = 1;
	assert_int_equal(codec_event_hash(ev, h), 0);
	assert_memory_equal(h, h1, LD_HASH_LEN);

	/* Each byte of the body changed: every change that decodes to a
	 * different event changes the hash. */
	size_t nb;
	uint8_t *bb = pack(ev->member_joined, &nb);
	Ledger__MemberJoined *orig = ev->member_joined;
	int differed = 0;
	for (size_t i = 0; i < nb; i++) {
		for (int bit = 0; bit < 8; bit++) {
			bb[i] ^= (uint8_t)(1 << bit);
			Ledger__MemberJoined *mj = ledger__member_joined__unpack(NULL, nb, bb);
			if (mj) {
				size_t nm;
				uint8_t *rb = pack(mj, &nm);
				ev->member_joined = mj;
				assert_int_equal(codec_event_hash(ev, h), 0);
				ev->member_joined = orig;
				/* Decoded and packs back to the changed
				 * bytes: a different event. */
				int canonical = nm == nb && memcmp(rb, bb, nb) == 0;
				if (canonical) {
					assert_memory_not_equal(h, h1, LD_HASH_LEN);
					differed++;
				}
				ledger__member_joined__free_unpacked(mj, NULL);
			}
			bb[i] ^= (uint8_t)(1 << bit);
		}
	}
	/* Most single-bit changes of a join still decode (ids, hash bytes). */
	assert_true(differed > (int)nb * 4);

	/* A large event (beyond the 1 KiB stack buffer) hashes the same way. */
	char big[1025];
	memset(big, 'n', 1024);
	big[1024] = 0;
	Ledger__Event *org =
	    stored(tl_org("X", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100), 7);
	org->org_registered->name = big;
	org->org_registered->platform = big;
	assert_true(codec_size(org) > 2048);
	assert_int_equal(codec_event_hash(org, h1), 0);
	assert_int_equal(codec_event_hash(org, h2), 0);
	assert_memory_equal(h1, h2, LD_HASH_LEN);
	big[1023] = 'm';
	assert_int_equal(codec_event_hash(org, h2), 0);
	assert_memory_not_equal(h1, h2, LD_HASH_LEN);
}

static void test_peek_body_case(void **state)
{
	const ProtobufCMessageDescriptor *ed = &ledger__event__descriptor;
	int seen = 0;
	for (unsigned i = 0; i < ed->n_fields; i++) {
		const ProtobufCFieldDescriptor *bf = &ed->fields[i];
		if (!(bf->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		Ledger__Event *ev = stored(tl_event(), 1000000 + i);
		uint8_t hash[LD_HASH_LEN];
		memset(hash, 0x22, sizeof(hash));
		ev->has_hash = 1;
		ev->hash.len = LD_HASH_LEN;
		ev->hash.data = hash;
		ev->body_case = (Ledger__Event__BodyCase)bf->id;
		*(ProtobufCMessage **)((char *)ev + bf->offset) = fill(bf->descriptor);
		size_t n;
		uint8_t *b = pack(ev, &n);
		assert_int_equal(codec_peek_body_case(b, n), (int)bf->id);
		/* Cut one byte short: the body's length runs past the end. */
		assert_int_equal(codec_peek_body_case(b, n - 1), 0);
		/* An empty body is still that kind. */
		ev = stored(tl_event(), 5);
		ev->body_case = (Ledger__Event__BodyCase)bf->id;
		ProtobufCMessage *empty =
		    tl_alloc(((const ProtobufCMessageDescriptor *)bf->descriptor)->sizeof_message);
		protobuf_c_message_init(bf->descriptor, empty);
		*(ProtobufCMessage **)((char *)ev + bf->offset) = empty;
		b = pack(ev, &n);
		assert_int_equal(codec_peek_body_case(b, n), (int)bf->id);
		seen++;
	}
	assert_int_equal(seen, 22);

	/* No body; truncated; garbage. */
	size_t n;
	Ledger__Event *ev = stored(tl_event(), 9);
	uint8_t *b = pack(ev, &n);
	assert_int_equal(codec_peek_body_case(b, n), 0);
	assert_int_equal(codec_peek_body_case(NULL, 0), 0);
	ev = stored(tl_dues("M1", 100), 9);
	b = pack(ev, &n);
	assert_int_equal(codec_peek_body_case(b, n), LEDGER__EVENT__BODY_DUES_PAID);
	/* Cut inside the envelope: the body is never reached. */
	assert_int_equal(codec_peek_body_case(b, 20), 0);
	/* The body's declared length runs past the end. */
	size_t nb = codec_size(ev->dues_paid);
	assert_int_equal(codec_peek_body_case(b, n - nb + 1), 0);
	static const uint8_t bad[] = {0xff, 0xff, 0xff};
	assert_int_equal(codec_peek_body_case(bad, sizeof(bad)), 0);
	static const uint8_t wt7[] = {0x0f, 0x00};
	assert_int_equal(codec_peek_body_case(wt7, sizeof(wt7)), 0);
}

static void test_event_stream(void **state)
{
	char s[LD_STREAM_MAX];
	assert_int_equal(codec_event_stream(join("M1", "NJ", 1), s), 0);
	assert_string_equal(s, "member/M1");
	assert_int_equal(codec_event_stream(tl_org("NJ", 2, "JS", 320100), s), 0);
	assert_string_equal(s, "org/NJ");
	assert_int_equal(codec_event_stream(tl_dues("M7", 1), s), 0);
	assert_string_equal(s, "member/M7");
	assert_int_equal(codec_event_stream(tl_service("NJ", "M2", 1), s), 0);
	assert_string_equal(s, "member/M2");
	assert_int_equal(codec_event_stream(tl_service("NJ", NULL, 1), s), 0);
	assert_string_equal(s, "org/NJ");
	assert_int_equal(codec_event_stream(tl_service("NJ", "", 1), s), 0);
	assert_string_equal(s, "org/NJ");
	assert_int_equal(codec_event_stream(tl_transfer("M3", "NJ", "SZ"), s), 0);
	assert_string_equal(s, "member/M3");

	Ledger__Event *ev = tl_event();
	Ledger__WorkforceEstimated w = LEDGER__WORKFORCE_ESTIMATED__INIT;
	w.has_region = 1;
	w.region = 320100;
	ev->body_case = LEDGER__EVENT__BODY_WORKFORCE_ESTIMATED;
	ev->workforce_estimated = &w;
	assert_int_equal(codec_event_stream(ev, s), 0);
	assert_string_equal(s, "region/320100");

	assert_int_equal(codec_event_stream(tl_void(3), s), LD_E(NOT_FOUND));
	assert_int_equal(codec_event_stream(tl_amend(3, tl_dues("M1", 1)), s), LD_E(NOT_FOUND));
	assert_int_equal(codec_event_stream(tl_event(), s), LD_E(MISSING_FIELD));

	/* The longest identifier fits. */
	char id64[65];
	memset(id64, 'z', 64);
	id64[64] = 0;
	assert_int_equal(codec_event_stream(join(id64, "NJ", 1), s), 0);
	assert_int_equal(strlen(s), 7 + 64);
}

static void test_amended_body(void **state)
{
	Ledger__Event *d = tl_dues("M1", 100);
	Ledger__Event *am = tl_amend(3, d);
	Ledger__Event out;
	codec_amended_body(am->event_amended, &out);
	assert_int_equal(out.body_case, LEDGER__EVENT__BODY_DUES_PAID);
	assert_ptr_equal(out.dues_paid, d->dues_paid);
	assert_ptr_equal(codec_event_body(&out), &d->dues_paid->base);
	am->event_amended->corrected_case = LEDGER__EVENT_AMENDED__CORRECTED__NOT_SET;
	codec_amended_body(am->event_amended, &out);
	assert_int_equal(out.body_case, LEDGER__EVENT__BODY__NOT_SET);
	assert_null(codec_event_body(&out));
	assert_string_equal(codec_event_type_name(30), "member_joined");
	assert_string_equal(codec_event_type_name(0), "unknown");
	assert_string_equal(codec_event_type_name(1), "unknown"); /* seq: not a body */
	assert_string_equal(codec_event_type_name(999), "unknown");
}

static void test_wire_primitives(void **state)
{
	static const struct {
		uint64_t v;
		size_t len;
	} vs[] = {{0, 1},     {127, 1},        {128, 2},        {16383, 2},
	          {16384, 3}, {UINT32_MAX, 5}, {UINT64_MAX, 10}};
	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		uint8_t b[10];
		assert_int_equal(codec_varint_len(vs[i].v), vs[i].len);
		assert_int_equal(codec_put_varint(b, vs[i].v) - b, (long)vs[i].len);
	}
	/* A Response built by hand with codec_put_ld decodes with protobuf-c. */
	Ledger__Head hd = LEDGER__HEAD__INIT;
	hd.has_seq = 1;
	hd.seq = 300;
	size_t n;
	uint8_t *hb = pack(&hd, &n);
	size_t total = codec_ld_len(23, n);
	uint8_t *o = tl_alloc(total);
	uint8_t *p = codec_put_ld(o, 23, n);
	memcpy(p, hb, n);
	assert_int_equal(p + n - o, (long)total);
	Ledger__Response *r = codec_response_unpack(o, total);
	assert_non_null(r);
	assert_int_equal(r->result_case, LEDGER__RESPONSE__RESULT_HEAD);
	assert_int_equal(r->head->seq, 300);
	codec_response_free(r);
}

int main(void)
{
	srand(12345);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_required_table_resolves, teardown),
	    cmocka_unit_test_teardown(test_required_fields_generic, teardown),
	    cmocka_unit_test_teardown(test_every_body_kind, teardown),
	    cmocka_unit_test_teardown(test_member_joined_required, teardown),
	    cmocka_unit_test_teardown(test_enums, teardown),
	    cmocka_unit_test_teardown(test_enum_on_the_wire, teardown),
	    cmocka_unit_test_teardown(test_identifiers, teardown),
	    cmocka_unit_test_teardown(test_regions_and_periods, teardown),
	    cmocka_unit_test_teardown(test_amounts_hash_quantity_term, teardown),
	    cmocka_unit_test_teardown(test_strings, teardown),
	    cmocka_unit_test_teardown(test_strings_strict_utf8, teardown),
	    cmocka_unit_test_teardown(test_times, teardown),
	    cmocka_unit_test_teardown(test_server_fields, teardown),
	    cmocka_unit_test_teardown(test_envelope, teardown),
	    cmocka_unit_test_teardown(test_cross_field_rules, teardown),
	    cmocka_unit_test_teardown(test_empty_optional_strings, teardown),
	    cmocka_unit_test_teardown(test_amendment_paths, teardown),
	    cmocka_unit_test_teardown(test_amendment_cross_field_path, teardown),
	    cmocka_unit_test_teardown(test_present_only, teardown),
	    cmocka_unit_test_teardown(test_unpack_malformed, teardown),
	    cmocka_unit_test_teardown(test_unpack_unknown_fields, teardown),
	    cmocka_unit_test_teardown(test_unpack_unknown_nested, teardown),
	    cmocka_unit_test_teardown(test_request_command, teardown),
	    cmocka_unit_test_teardown(test_request_limits, teardown),
	    cmocka_unit_test_teardown(test_pool_poisoned, teardown),
	    cmocka_unit_test_teardown(test_request_budget_pool, teardown),
	    cmocka_unit_test_teardown(test_request_cost_bounds, teardown),
	    cmocka_unit_test_teardown(test_event_hash, teardown),
	    cmocka_unit_test_teardown(test_peek_body_case, teardown),
	    cmocka_unit_test_teardown(test_event_stream, teardown),
	    cmocka_unit_test_teardown(test_amended_body, teardown),
	    cmocka_unit_test_teardown(test_wire_primitives, teardown),
	};
	return tl_run_tests(tests, NULL, NULL);
}
