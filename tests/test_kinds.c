/*
 * test_kinds.c — the table of event kinds (proto/kinds.c) against the
 * schema, and the organisation-tree walk (proto/orgtree.c).
 *
 * The walk goes over every body of Event.body in the protobuf-c descriptor,
 * not over the table: a kind added to ledger.proto without its row, or with a
 * row that names a field its body lacks, or that leaves out a field the
 * schema says it has (a member, an organisation, a region, personal data),
 * fails here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "kinds.h"
#include "orgtree.h"
#include "required.h"
#include "testlib.h"

static int teardown(void **state)
{
	tl_free_all();
	return 0;
}

static int is_required(const ProtobufCMessageDescriptor *d, const char *field)
{
	for (size_t i = 0; i < sizeof(ld_required_fields) / sizeof(ld_required_fields[0]); i++)
		if (!strcmp(ld_required_fields[i].message, d->name) &&
		    !strcmp(ld_required_fields[i].field, field))
			return 1;
	return 0;
}

/* The fields of a body that name an organisation (check.h's identifier
 * fields, but member_id and station_id). */
static int names_org(const char *field)
{
	return !strcmp(field, "org_id") || !strcmp(field, "parent_id") ||
	       !strcmp(field, "from_org") || !strcmp(field, "to_org") ||
	       !strcmp(field, "merged_into");
}

static int lists_org(const ld_kind *k, const char *field)
{
	for (size_t i = 0; i < LD_KIND_MAX_ORGS; i++)
		if (k->orgs[i].field.name && !strcmp(k->orgs[i].field.name, field))
			return 1;
	return 0;
}

static int lists_clear(const ld_kind *k, const char *field)
{
	for (size_t i = 0; i < LD_KIND_MAX_CLEAR; i++)
		if (k->clear[i].name && !strcmp(k->clear[i].name, field))
			return 1;
	return 0;
}

/* Every body of Event.body has its row, under its own name and number. */
static void test_every_body_has_its_row(void **state)
{
	const ProtobufCMessageDescriptor *ed = &ledger__event__descriptor;
	size_t bodies = 0;
	if (ld_kinds_problem()[0])
		fail_msg("the table does not resolve: %s", ld_kinds_problem());
	for (unsigned i = 0; i < ed->n_fields; i++) {
		const ProtobufCFieldDescriptor *bf = &ed->fields[i];
		if (!(bf->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		bodies++;
		const ld_kind *k = ld_kind_of((int)bf->id);
		if (k->body_case != (int)bf->id)
			fail_msg("Event.%s (body case %u) has no row in proto/kinds.c", bf->name,
				 bf->id);
		assert_string_equal(k->name, bf->name);
		assert_ptr_equal(k->desc, bf->descriptor);
		assert_int_equal(k->offset, bf->offset);
		assert_ptr_equal(ld_kind_named(bf->name), k);
		assert_string_equal(codec_event_type_name((int)bf->id), bf->name);

		/* Its EventType value is its field number, its name the upper case. */
		const ProtobufCEnumValue *t =
			protobuf_c_enum_descriptor_get_value(&ledger__event_type__descriptor, (int)bf->id);
		if (!t)
			fail_msg("EventType has no value %u for %s", bf->id, bf->name);
		char upper[64];
		size_t n = 0;
		for (; bf->name[n] && n + 1 < sizeof(upper); n++)
			upper[n] = (char)toupper((unsigned char)bf->name[n]);
		upper[n] = 0;
		assert_string_equal(t->name, upper);
	}
	/* ... and the table has no row besides them. */
	assert_int_equal(ld_kinds_count(), bodies);
	for (size_t i = 0; i < ld_kinds_count(); i++) {
		const ld_kind *k = ld_kind_nth(i);
		const ProtobufCFieldDescriptor *bf =
			protobuf_c_message_descriptor_get_field(ed, (unsigned)k->body_case);
		assert_non_null(bf);
		assert_true(bf->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);
		if (i)
			assert_true(ld_kind_nth(i - 1)->body_case < k->body_case);
	}
	assert_int_equal(bodies, 22);
}

/* What each row says agrees with the body's fields in the schema. */
static void test_rows_agree_with_the_schema(void **state)
{
	const ProtobufCMessageDescriptor *ad = &ledger__event_amended__descriptor;
	for (size_t i = 0; i < ld_kinds_count(); i++) {
		const ld_kind *k = ld_kind_nth(i);
		const ProtobufCMessageDescriptor *d = k->desc;
		const char *name = k->name;

		/* Each field a row names resolved, with the type its use needs. */
#define TYPE(f, want)                                                                              \
	do {                                                                                       \
		if ((f).name && (!(f).fd || (f).fd->type != (want)))                               \
			fail_msg("%s.%s: not a field of type %s", name, (f).name, #want);          \
	} while (0)
		TYPE(k->member, PROTOBUF_C_TYPE_STRING);
		TYPE(k->home_after, PROTOBUF_C_TYPE_STRING);
		TYPE(k->region, PROTOBUF_C_TYPE_UINT32);
		TYPE(k->station, PROTOBUF_C_TYPE_STRING);
		TYPE(k->target, PROTOBUF_C_TYPE_UINT64);
		TYPE(k->sealed, PROTOBUF_C_TYPE_BYTES);
		for (size_t j = 0; j < LD_KIND_MAX_ORGS; j++)
			TYPE(k->orgs[j].field, PROTOBUF_C_TYPE_STRING);
		for (size_t j = 0; j < LD_KIND_MAX_CLEAR; j++)
			TYPE(k->clear[j], PROTOBUF_C_TYPE_STRING);
		if (k->place.name && !(k->place.fd && (k->place.fd->type == PROTOBUF_C_TYPE_STRING ||
							k->place.fd->type == PROTOBUF_C_TYPE_UINT32)))
			fail_msg("%s.%s: a place is an organisation id or a region", name,
				 k->place.name);

		/* Its stream. */
		switch (k->stream) {
		case LD_STREAM_MEMBER:
			if (!k->member.name || (!is_required(d, k->member.name) && !k->subject.name))
				fail_msg("%s: a member's event names its member (required, or with "
					 "an organisation to fall back on)",
					 name);
			if (k->subject.name)
				TYPE(k->subject, PROTOBUF_C_TYPE_STRING);
			break;
		case LD_STREAM_ORG:
			TYPE(k->subject, PROTOBUF_C_TYPE_STRING);
			if (!k->subject.name || !is_required(d, k->subject.name) || k->member.name)
				fail_msg("%s: an organisation's event names it (required)", name);
			break;
		case LD_STREAM_REGION:
			TYPE(k->subject, PROTOBUF_C_TYPE_UINT32);
			if (!k->subject.name || !is_required(d, k->subject.name) || k->member.name)
				fail_msg("%s: a region's event names it (required)", name);
			break;
		case LD_STREAM_TARGET:
			if (!(k->flags & LD_KIND_CORRECTION))
				fail_msg("%s: only a correction is in its target's stream", name);
			break;
		default:
			fail_msg("%s: no stream", name);
		}

		/* Corrections name their target; an amendment is EventAmended. */
		assert_int_equal(!!(k->flags & LD_KIND_CORRECTION), k->target.name != NULL);
		assert_int_equal(!!(k->flags & LD_KIND_CORRECTION), k->stream == LD_STREAM_TARGET);
		if (k->target.name && !is_required(d, k->target.name))
			fail_msg("%s.%s: the target of a correction is required", name, k->target.name);
		assert_int_equal(!!(k->flags & LD_KIND_AMENDMENT), d == ad);
		if ((k->flags & LD_KIND_AMENDMENT) && !(k->flags & LD_KIND_CORRECTION))
			fail_msg("%s: an amendment is a correction", name);

		/* Every field of the body that names an organisation, a member, a
		 * region or a station is in the row; personal data too. */
		for (unsigned j = 0; j < d->n_fields; j++) {
			const char *f = d->fields[j].name;
			if (names_org(f) && !lists_org(k, f))
				fail_msg("%s.%s names an organisation the row leaves out", name, f);
			if (!strcmp(f, "member_id") && (!k->member.name || strcmp(k->member.name, f)))
				fail_msg("%s.member_id: the row names no member", name);
			if (!strcmp(f, "region") && (!k->region.name || strcmp(k->region.name, f)))
				fail_msg("%s.region: the row names no region", name);
			if (!strcmp(f, "personal") && (!k->sealed.name || strcmp(k->sealed.name, f)))
				fail_msg("%s.personal: the row says nothing of personal data", name);
			if ((!strcmp(f, "name") || !strcmp(f, "phone") || !strcmp(f, "national_id")) &&
			    k->sealed.name && !lists_clear(k, f))
				fail_msg("%s.%s: personal data in clear the row leaves out", name, f);
			if (!strcmp(f, "station_id") && !k->station.name &&
			    k->stream != LD_STREAM_ORG)
				fail_msg("%s.station_id: a station referred to must exist", name);
		}
		if (k->sealed.name && !k->clear[0].name)
			fail_msg("%s: sealed personal data comes from data in clear", name);

		/* Who is where: the member's organisation. */
		if (k->stream == LD_STREAM_MEMBER && (k->home == 0) != (k->home_after.name != NULL))
			fail_msg("%s: a member's event either names the member's organisation "
				 "(home_after) or concerns it through its stream (home)",
				 name);
		for (size_t j = 0; j < LD_KIND_MAX_ORGS; j++)
			if ((k->orgs[j].uses & LD_ORG_ENTERS) && k->stream != LD_STREAM_MEMBER)
				fail_msg("%s.%s: only a member enters an organisation", name,
					 k->orgs[j].field.name);
		if ((k->flags & LD_KIND_MEMBERSHIP) && k->stream != LD_STREAM_MEMBER)
			fail_msg("%s: a membership event is a member's", name);

		/* Everything optional but the subject. */
		if (k->flags & LD_KIND_AT_LEAST_ONE)
			for (unsigned j = 0; j < d->n_fields; j++) {
				const char *f = d->fields[j].name;
				int subject = (k->member.name && !strcmp(f, k->member.name)) ||
					      (k->subject.name && !strcmp(f, k->subject.name));
				if (!subject && is_required(d, f))
					fail_msg("%s.%s is required, but the row says every field "
						 "but the subject is optional",
						 name, f);
			}

		/* Amendable: its body is one of EventAmended.corrected, under the
		 * same name (error paths rely on it); a final kind is not. */
		int in_corrected = 0;
		for (unsigned j = 0; j < ad->n_fields; j++)
			if ((ad->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    ad->fields[j].descriptor == d) {
				in_corrected = 1;
				assert_string_equal(ad->fields[j].name, name);
				assert_ptr_equal(k->amend, &ad->fields[j]);
				assert_ptr_equal(ld_kind_amended((int)ad->fields[j].id), k);
			}
		assert_int_equal(in_corrected, k->amend != NULL);
		if (k->final && k->amend)
			fail_msg("%s cannot be corrected, yet EventAmended can amend it", name);
		if (k->final && (k->flags & LD_KIND_CORRECTION))
			fail_msg("%s: a correction is refused as a target for its own reason", name);
#undef TYPE
	}
	/* Every corrected body of EventAmended is a kind's. */
	for (unsigned j = 0; j < ad->n_fields; j++)
		if (ad->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			assert_int_equal(ld_kind_amended((int)ad->fields[j].id)->body_case != 0, 1);
}

/* Unknown body cases get the unknown row, never NULL. */
static void test_unknown_cases(void **state)
{
	int cases[] = {0, -1, 1, 19, 23, 72, LD_KIND_SLOTS, 100000};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const ld_kind *k = ld_kind_of(cases[i]);
		assert_non_null(k);
		assert_int_equal(k->body_case, 0);
		assert_string_equal(k->name, "unknown");
		assert_string_equal(codec_event_type_name(cases[i]), "unknown");
	}
	assert_int_equal(ld_kind_amended(0)->body_case, 0);
	assert_int_equal(ld_kind_amended(-5)->body_case, 0);
	Ledger__Event *ev = tl_event();
	char stream[LD_STREAM_MAX];
	assert_int_equal(codec_event_stream(ev, stream), LD_E(MISSING_FIELD));
	assert_null(codec_event_member(ev));
	assert_null(codec_event_body(ev));
	assert_null(ld_event_subject(ev));
	ld_org_ref refs[LD_KIND_MAX_ORGS];
	assert_int_equal(ld_event_orgs(ev, ~0u, refs), 0);
}

/* The canonical name, and the same with '-' for '_'. */
static void test_names(void **state)
{
	assert_int_equal(ld_kind_named("member_joined")->body_case, LEDGER__EVENT__BODY_MEMBER_JOINED);
	assert_int_equal(ld_kind_named("member-joined")->body_case, LEDGER__EVENT__BODY_MEMBER_JOINED);
	assert_int_equal(ld_kind_named("event-amended")->body_case, LEDGER__EVENT__BODY_EVENT_AMENDED);
	assert_null(ld_kind_named("member_join"));
	assert_null(ld_kind_named("member_joined_"));
	assert_null(ld_kind_named("MEMBER_JOINED"));
	assert_null(ld_kind_named("member joined"));
	assert_null(ld_kind_named(""));
	assert_null(ld_kind_named(NULL));
	assert_null(ld_kind_named("unknown"));
}

/* Reading events through the table. */
static void test_reading_events(void **state)
{
	ld_org_ref r[LD_KIND_MAX_ORGS];
	Ledger__Event *t = tl_transfer("M1", "NJ", "SZ");
	assert_string_equal(codec_event_member(t), "M1");
	assert_string_equal(ld_event_subject(t), "M1");
	assert_int_equal(ld_event_orgs(t, LD_ORG_SCOPE, r), 2);
	assert_string_equal(r[0].id, "NJ");
	assert_string_equal(r[0].field, "from_org");
	assert_string_equal(r[0].why, "(transfer from)");
	assert_string_equal(r[1].id, "SZ");
	assert_int_equal(ld_event_orgs(t, LD_ORG_ENTERS, r), 1);
	assert_string_equal(r[0].id, "SZ");
	assert_int_equal(ld_event_orgs(t, LD_ORG_LIVE, r), 0);
	const ld_kind *k = ld_kind_of(t->body_case);
	assert_string_equal(ld_field_str(&k->home_after, ld_kind_body(k, t)), "SZ");

	/* A service to a non-member is its organisation's. */
	Ledger__Event *s = tl_service("NJ", NULL, LEDGER__SERVICE_KIND__LEGAL_AID);
	char stream[LD_STREAM_MAX];
	assert_null(codec_event_member(s));
	assert_string_equal(ld_event_subject(s), "NJ");
	assert_int_equal(codec_event_stream(s, stream), 0);
	assert_string_equal(stream, "org/NJ");
	s = tl_service("NJ", "", LEDGER__SERVICE_KIND__LEGAL_AID);
	assert_null(codec_event_member(s));
	s = tl_service("NJ", "M7", LEDGER__SERVICE_KIND__LEGAL_AID);
	assert_int_equal(codec_event_stream(s, stream), 0);
	assert_string_equal(stream, "member/M7");

	/* A root organisation names no parent; its region is a number. */
	Ledger__Event *o = tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000);
	assert_int_equal(ld_event_orgs(o, LD_ORG_SCOPE, r), 0);
	assert_int_equal(ld_event_orgs(o, LD_ORG_CONCERN, r), 1);
	k = ld_kind_of(o->body_case);
	assert_int_equal(ld_field_num(&k->region, ld_kind_body(k, o)), 320000);
	assert_true(ld_field_set(&k->region, ld_kind_body(k, o)));
	assert_false(ld_field_set(&k->member, ld_kind_body(k, o)));
	assert_string_equal(ld_event_subject(o), "JS");

	/* A workforce estimate's stream is its region's. */
	Ledger__Event *w = tl_workforce(320100, LEDGER__WORKER_GROUP__COURIER, 5000);
	assert_int_equal(codec_event_stream(w, stream), 0);
	assert_string_equal(stream, "region/320100");
	assert_null(ld_event_subject(w));

	/* A correction names its target; its stream is the target's. */
	Ledger__Event *v = tl_void(42);
	k = ld_kind_of(v->body_case);
	assert_int_equal(ld_field_num(&k->target, ld_kind_body(k, v)), 42);
	assert_int_equal(codec_event_stream(v, stream), LD_E(NOT_FOUND));
	Ledger__Event *a = tl_amend(42, tl_join("M1", "NJ", 1));
	Ledger__Event inner;
	codec_amended_body(a->event_amended, &inner);
	assert_int_equal(inner.body_case, LEDGER__EVENT__BODY_MEMBER_JOINED);
	assert_ptr_equal(inner.member_joined, a->event_amended->member_joined);
}

/* Personal data in clear, through the table: stripped from a copy, never
 * from the event. */
static void test_personal_data(void **state)
{
	Ledger__Event *j = tl_join("M1", "NJ", 1), out;
	codec_personal_buf b;
	assert_int_equal(codec_has_clear_personal(j), 1); /* its national_id */
	tl_hash_person(j);
	assert_int_equal(codec_has_clear_personal(j), 0);
	j->member_joined->name = "张三";
	j->member_joined->phone = "";
	assert_int_equal(codec_has_clear_personal(j), 1);
	codec_strip_personal(j, &out, &b);
	assert_ptr_not_equal(out.member_joined, j->member_joined);
	assert_null(out.member_joined->name);
	assert_null(out.member_joined->phone);
	assert_string_equal(out.member_joined->member_id, "M1");
	assert_string_equal(j->member_joined->name, "张三");

	Ledger__Event *a = tl_amend(3, j);
	assert_int_equal(codec_has_clear_personal(a), 1);
	codec_strip_personal(a, &out, &b);
	assert_ptr_not_equal(out.event_amended, a->event_amended);
	assert_int_equal(out.event_amended->target_seq, 3);
	assert_null(out.event_amended->member_joined->name);
	assert_string_equal(a->event_amended->member_joined->name, "张三");

	Ledger__Event *p = tl_profile("M1");
	assert_int_equal(codec_has_clear_personal(p), 0);
	p->profile_changed->phone = "13800138000";
	assert_int_equal(codec_has_clear_personal(p), 1);
	codec_strip_personal(p, &out, &b);
	assert_null(out.profile_changed->phone);

	Ledger__Event *d = tl_dues("M1", 100);
	codec_strip_personal(d, &out, &b);
	assert_ptr_equal(out.dues_paid, d->dues_paid);
}

/* ---- the organisation tree ---- */

/* A -> B -> C -> D (root), E -> X (unknown), L0 … a long chain. */
static int fake_parent(void *arg, const char *org, ld_org_id parent)
{
	int *calls = arg;
	(*calls)++;
	static const char *const tree[][2] = {{"A", "B"}, {"B", "C"}, {"C", "D"}, {"D", ""},
					      {"E", "X"}, {"BAD", "?"}};
	if (!strcmp(org, "BAD"))
		return LD_E(STORAGE);
	if (!strncmp(org, "L", 1)) {
		int n = atoi(org + 1);
		snprintf(parent, LD_ID_MAX + 1, "L%d", n + 1);
		return 0;
	}
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
		if (!strcmp(tree[i][0], org)) {
			snprintf(parent, LD_ID_MAX + 1, "%s", tree[i][1]);
			return 0;
		}
	return LD_E(NOT_FOUND);
}

static void test_org_chain(void **state)
{
	ld_org_id ids[16];
	int n, calls = 0;
	assert_int_equal(ld_org_chain("A", fake_parent, &calls, ids, 16, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(ids[0], "A");
	assert_string_equal(ids[3], "D");
	assert_true(ld_org_chain_has((const ld_org_id *)ids, n, "C"));
	assert_false(ld_org_chain_has((const ld_org_id *)ids, n, "E"));

	/* Cut at max. */
	assert_int_equal(ld_org_chain("A", fake_parent, &calls, ids, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ids[1], "B");
	assert_int_equal(ld_org_chain("L0", fake_parent, &calls, ids, 16, &n), 0);
	assert_int_equal(n, 16);
	assert_string_equal(ids[15], "L15");

	/* Unknown: itself (n = 1), or an ancestor (the last of the chain). */
	assert_int_equal(ld_org_chain("Q", fake_parent, &calls, ids, 16, &n), LD_E(NOT_FOUND));
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "Q");
	assert_int_equal(ld_org_chain("E", fake_parent, &calls, ids, 16, &n), LD_E(NOT_FOUND));
	assert_int_equal(n, 2);
	assert_string_equal(ids[1], "X");

	/* Other errors end the walk. */
	assert_int_equal(ld_org_chain("BAD", fake_parent, &calls, ids, 16, &n), LD_E(STORAGE));
	assert_int_equal(ld_org_chain("A", fake_parent, &calls, ids, 0, &n), 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_every_body_has_its_row, teardown),
	    cmocka_unit_test_teardown(test_rows_agree_with_the_schema, teardown),
	    cmocka_unit_test_teardown(test_unknown_cases, teardown),
	    cmocka_unit_test_teardown(test_names, teardown),
	    cmocka_unit_test_teardown(test_reading_events, teardown),
	    cmocka_unit_test_teardown(test_personal_data, teardown),
	    cmocka_unit_test_teardown(test_org_chain, teardown),
	};
	return tl_run_tests(tests, NULL, NULL);
}
