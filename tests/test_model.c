/*
 * test_model.c — the invariants of the write model, the hash chain,
 * idempotency, batches and map growth, on an in-process ledger (store +
 * writer, no sockets). One function per case, each on a fresh directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "testlib.h"

#define OK(l, ev) ok_(l, ev, __LINE__)
#define FAILS(l, ev, code) fails_(l, ev, LD_E(code), #code, __LINE__)

static uint64_t ok_(tl_ledger *l, Ledger__Event *ev, int line)
{
	uint64_t seq = 0;
	ld_errinfo e;
	int rc = tl_append(l, ev, &seq, &e);
	if (rc)
		fail_msg("line %d: expected success, got %s: %s", line, ld_errname(rc), e.message);
	return seq;
}

static ld_errinfo last_error;

static void fails_(tl_ledger *l, Ledger__Event *ev, int code, const char *name, int line)
{
	uint64_t seq = 0;
	int rc = tl_append(l, ev, &seq, &last_error);
	if (rc != code)
		fail_msg("line %d: expected ERR_%s, got %s: %s", line, name, ld_errname(rc),
			 last_error.message);
	assert_true(last_error.message[0] != '\0');
}

static int setup(void **state)
{
	tl_ledger *l = calloc(1, sizeof(*l));
	tl_open(l, 0);
	*state = l;
	return 0;
}

static int teardown(void **state)
{
	tl_close(*state);
	free(*state);
	return 0;
}

/* ---------------------------------------------------------------- */

static void test_org_hierarchy(void **state)
{
	tl_ledger *l = *state;
	/* A root must be a province federation with a province code. */
	FAILS(l, tl_org("X", LEDGER__ORG_KIND__FEDERATION_CITY, NULL, 320100), HIERARCHY);
	FAILS(l, tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320100), HIERARCHY);
	OK(l, tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000));
	FAILS(l, tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000), ALREADY_EXISTS);
	/* A city sits under the province, a county under a city. */
	FAILS(l, tl_org("NJ", LEDGER__ORG_KIND__FEDERATION_CITY, "NOPE", 320100), HIERARCHY);
	OK(l, tl_org("NJ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100));
	FAILS(l, tl_org("GL", LEDGER__ORG_KIND__FEDERATION_COUNTY, "JS", 320102), HIERARCHY);
	FAILS(l, tl_org("ZJ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 330100), HIERARCHY);
	assert_string_equal(last_error.field, "org_registered.region");
	FAILS(l, tl_org("GL", LEDGER__ORG_KIND__FEDERATION_COUNTY, "NJ", 320502), HIERARCHY);
	OK(l, tl_org("GL", LEDGER__ORG_KIND__FEDERATION_COUNTY, "NJ", 320102));
	/* A regional union may not sit under an industry union. */
	OK(l, tl_org("RIDER", LEDGER__ORG_KIND__INDUSTRY_UNION, "NJ", 320100));
	FAILS(l, tl_org("R1", LEDGER__ORG_KIND__REGIONAL_UNION, "RIDER", 320102), HIERARCHY);
	OK(l, tl_org("R1", LEDGER__ORG_KIND__REGIONAL_UNION, "GL", 320102));
	OK(l, tl_org("P1", LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION, "RIDER", 320100));
	/* No child under a dissolved organisation. */
	OK(l, tl_dissolve("R1"));
	FAILS(l, tl_org("R2", LEDGER__ORG_KIND__REGIONAL_UNION, "R1", 320102), HIERARCHY);
	assert_int_equal(tl_verify_chain(l), 0);
}

static void test_join_once(void **state)
{
	tl_ledger *l = *state;
	tl_tree(l);
	OK(l, tl_join("M1", "NJ-RIDER", 1));
	/* The same member, or the same person under another id: rejected. */
	FAILS(l, tl_join("M1", "NJ-RIDER", 1), ALREADY_MEMBER);
	FAILS(l, tl_join("M1b", "SZ", 1), ALREADY_MEMBER);
	assert_string_equal(last_error.field, "member_joined.person_hash");
	/* Another person may not take M1's id. */
	OK(l, tl_end("M1"));
	FAILS(l, tl_join("M1", "NJ", 2), INVALID_VALUE);
	/* A person rejoins under the id they had. */
	FAILS(l, tl_join("M1c", "NJ", 1), INVALID_STATE);
	OK(l, tl_join("M1", "SZ", 1));
	FAILS(l, tl_join("M2", "NOWHERE", 2), NOT_FOUND);
	assert_string_equal(last_error.field, "member_joined.org_id");
}

static void test_transfer_rules(void **state)
{
	tl_ledger *l = *state;
	tl_tree(l);
	OK(l, tl_join("M1", "NJ-RIDER", 1));
	FAILS(l, tl_transfer("M1", "SZ", "NJ"), INVALID_STATE); /* not its organisation */
	FAILS(l, tl_transfer("M1", "NJ-RIDER", "NOPE"), NOT_FOUND);
	FAILS(l, tl_transfer("M9", "NJ-RIDER", "SZ"), NOT_FOUND);
	FAILS(l, tl_transfer("M1", "NJ-RIDER", "NJ-RIDER"), INVALID_VALUE);
	OK(l, tl_org_closed("SZ"));
	FAILS(l, tl_transfer("M1", "NJ-RIDER", "SZ"), ORG_CLOSED);
	OK(l, tl_transfer("M1", "NJ-RIDER", "NJ-GL"));
	OK(l, tl_transfer("M1", "NJ-GL", "NJ"));
	OK(l, tl_end("M1"));
	FAILS(l, tl_transfer("M1", "NJ", "NJ-GL"), NOT_ACTIVE);
	FAILS(l, tl_end("M1"), NOT_ACTIVE);
}

static void test_dissolve_needs_empty_org(void **state)
{
	tl_ledger *l = *state;
	tl_tree(l);
	OK(l, tl_join("M1", "NJ-GL", 1));
	OK(l, tl_affiliate("M1", "NJ-RIDER"));
	FAILS(l, tl_dissolve("NJ-GL"), INVALID_STATE);   /* an active member */
	FAILS(l, tl_dissolve("NJ-RIDER"), INVALID_STATE); /* an affiliated member */
	FAILS(l, tl_dissolve("NJ"), INVALID_STATE);       /* organisations under it */
	OK(l, tl_transfer("M1", "NJ-GL", "SZ"));
	OK(l, tl_dissolve("NJ-GL"));
	FAILS(l, tl_dissolve("NJ-GL"), ORG_DISSOLVED);
	FAILS(l, tl_join("M2", "NJ-GL", 2), ORG_DISSOLVED);
	FAILS(l, tl_service("NJ-GL", NULL, LEDGER__SERVICE_KIND__LEGAL_AID), ORG_DISSOLVED);
	OK(l, tl_end("M1")); /* ends the affiliation too */
	OK(l, tl_dissolve("NJ-RIDER"));
}

static void test_money_and_refunds(void **state)
{
	tl_ledger *l = *state;
	tl_tree(l);
	OK(l, tl_join("M1", "NJ", 1));
	OK(l, tl_join("M2", "NJ", 2));
	FAILS(l, tl_dues("M1", 0), INVALID_VALUE);
	FAILS(l, tl_dues("M1", -500), INVALID_VALUE);
	assert_string_equal(last_error.field, "dues_paid.amount_fen");
	FAILS(l, tl_dues("M404", 500), NOT_FOUND);
	uint64_t paid = OK(l, tl_dues("M1", 1200));
	FAILS(l, tl_refund("M2", 100, paid), INVALID_VALUE); /* not M2's payment */
	FAILS(l, tl_refund("M1", 100, 999), NOT_FOUND);
	OK(l, tl_refund("M1", 700, paid));
	FAILS(l, tl_refund("M1", 501, paid), INVALID_STATE); /* 1201 > 1200 */
	uint64_t r2 = OK(l, tl_refund("M1", 500, paid));
	FAILS(l, tl_void(paid), INVALID_STATE); /* refunds first */
	OK(l, tl_void(r2));
	OK(l, tl_refund("M1", 400, paid)); /* the voided refund gave 500 back */
}

static void test_void_and_amend(void **state)
{
	tl_ledger *l = *state;
	tl_tree(l);
	uint64_t join = OK(l, tl_join("M1", "NJ", 1));
	uint64_t xfer = OK(l, tl_transfer("M1", "NJ", "SZ"));
	/* Voiding the join would orphan the transfer. */
	FAILS(l, tl_void(join), INVALID_STATE);
	/* Voiding the transfer puts the member back in NJ. */
	uint64_t v = OK(l, tl_void(xfer));
	FAILS(l, tl_void(xfer), INVALID_STATE); /* already voided */
	FAILS(l, tl_void(v), INVALID_STATE);    /* a correction is not corrected */
	FAILS(l, tl_void(9999), NOT_FOUND);
	FAILS(l, tl_transfer("M1", "SZ", "NJ-GL"), INVALID_STATE);
	OK(l, tl_transfer("M1", "NJ", "NJ-GL"));
	/* Amend the join to another organisation: the member's current
	 * organisation follows from the re-fold (the transfer left NJ). */
	FAILS(l, tl_amend(join, tl_join("M1", "SZ", 1)), INVALID_STATE);
	/* An amendment keeps the kind and the subject. */
	FAILS(l, tl_amend(join, tl_dues("M1", 10)), INVALID_VALUE);
	FAILS(l, tl_amend(join, tl_join("M2", "NJ", 1)), INVALID_VALUE);
	/* Voiding a join with nothing after it removes the member entirely. */
	uint64_t j2 = OK(l, tl_join("M2", "NJ", 2));
	OK(l, tl_void(j2));
	FAILS(l, tl_dues("M2", 100), NOT_FOUND);
	OK(l, tl_join("M2", "SZ", 2)); /* the person may join again */
	/* Organisation registrations are not voided. */
	FAILS(l, tl_void(1), INVALID_STATE);
	/* The void and the corrections are in the target's stream. */
	Ledger__Event *ev = tl_get(l, v);
	assert_string_equal(ev->stream, "member/M1");
	codec_event_free(ev);
	assert_int_equal(tl_verify_chain(l), 0);
}

static void test_amend_member_group(void **state)
{
	tl_ledger *l = *state;
	tl_tree(l);
	uint64_t join = OK(l, tl_join("M1", "NJ", 1));
	Ledger__Event *fixed = tl_join("M1", "NJ-GL", 1);
	fixed->member_joined->worker_group = LEDGER__WORKER_GROUP__COURIER;
	OK(l, tl_amend(join, fixed));
	/* Now M1 counts as in NJ-GL: a transfer from NJ is wrong. */
	FAILS(l, tl_transfer("M1", "NJ", "SZ"), INVALID_STATE);
	OK(l, tl_transfer("M1", "NJ-GL", "SZ"));
}

static void test_expected_version(void **state)
{
	tl_ledger *l = *state;
	tl_tree(l);
	Ledger__Event *ev = tl_join("M1", "NJ", 1);
	ev->has_expected_version = 1;
	ev->expected_version = 1; /* the stream does not exist yet */
	FAILS(l, ev, VERSION_CONFLICT);
	ev = tl_join("M1", "NJ", 1);
	ev->has_expected_version = 1;
	ev->expected_version = 0;
	OK(l, ev);
	ev = tl_dues("M1", 100);
	ev->has_expected_version = 1;
	ev->expected_version = 1;
	uint64_t seq = OK(l, ev);
	Ledger__Event *got = tl_get(l, seq);
	assert_int_equal(got->version, 2);
	assert_false(got->has_expected_version); /* never stored */
	codec_event_free(got);
}

static void test_idempotency(void **state)
{
	tl_ledger *l = *state;
	tl_tree(l);
	Ledger__Event *ev = tl_join("M1", "NJ", 1);
	uint64_t seq = OK(l, ev);
	/* The same event again: the original seq, marked duplicate; the head
	 * (seq, hash, time) does not move. */
	uint64_t head_before, head_after;
	int64_t at_before, at_after;
	uint8_t hash_before[LD_HASH_LEN], hash_after[LD_HASH_LEN];
	writer_head(l->w, &head_before, hash_before, &at_before);
	append_item it;
	assert_int_equal(tl_append_batch(l, &ev, 1, 0, &it), 0);
	writer_head(l->w, &head_after, hash_after, &at_after);
	assert_int_equal(head_after, head_before);
	assert_memory_equal(hash_after, hash_before, LD_HASH_LEN);
	assert_int_equal(at_after, at_before);
	assert_int_equal(it.code, 0);
	assert_true(it.duplicate);
	assert_int_equal(it.seq, seq);
	/* The same id with another body: an error naming the original. */
	Ledger__Event *other = tl_join("M2", "NJ", 2);
	other->event_id = ev->event_id;
	FAILS(l, other, IDEMPOTENCY_MISMATCH);
	assert_int_equal(last_error.seq, seq);
	/* Twice in one batch: recorded once. */
	Ledger__Event *d = tl_dues("M1", 100);
	Ledger__Event *pair[2] = {d, d};
	append_item items[2];
	assert_int_equal(tl_append_batch(l, pair, 2, 0, items), 0);
	assert_int_equal(items[0].code, 0);
	assert_false(items[0].duplicate);
	assert_true(items[1].duplicate);
	assert_int_equal(items[0].seq, items[1].seq);
}

static void test_batches(void **state)
{
	tl_ledger *l = *state;
	tl_tree(l);
	/* A collective registration of 300 riders with one bad row. */
	enum { N = 300 };
	Ledger__Event *evs[N];
	append_item items[N];
	char id[32];
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "R%03d", i);
		evs[i] = tl_join(id, "NJ-RIDER", 1000 + i);
	}
	evs[150] = tl_join("R150", "NO-SUCH-ORG", 1150);
	/* Atomic: nothing recorded, every other row says why. */
	assert_int_equal(tl_append_batch(l, evs, N, 1, items), 0);
	assert_int_equal(items[150].code, LD_E(NOT_FOUND));
	for (int i = 0; i < N; i++)
		if (i != 150) {
			assert_int_equal(items[i].code, LD_E(ABORTED));
			assert_int_equal(items[i].seq, 0);
		}
	for (int i = 0; i < N; i++)
		free(items[i].err);
	Ledger__Event *probe = tl_get(l, 6);
	assert_null(probe);
	/* Not atomic: 299 recorded, in order, gap-free. */
	assert_int_equal(tl_append_batch(l, evs, N, 0, items), 0);
	uint64_t expect = 6;
	for (int i = 0; i < N; i++) {
		if (i == 150) {
			assert_int_equal(items[i].code, LD_E(NOT_FOUND));
			free(items[i].err);
			continue;
		}
		assert_int_equal(items[i].code, 0);
		assert_int_equal(items[i].seq, expect++);
	}
	/* A stateless failure inside an atomic batch aborts it too. */
	Ledger__Event *two[2] = {tl_join("X1", "NJ", 5000), tl_dues("R000", -1)};
	assert_int_equal(tl_append_batch(l, two, 2, 1, items), 0);
	assert_int_equal(items[0].code, LD_E(ABORTED));
	assert_int_equal(items[1].code, LD_E(INVALID_VALUE));
	free(items[0].err);
	free(items[1].err);
	assert_int_equal(tl_verify_chain(l), 0);
}

static void test_restart_keeps_everything(void **state)
{
	tl_ledger *l = *state;
	tl_tree(l);
	uint64_t last = 0;
	char id[32];
	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "M%d", i);
		last = OK(l, tl_join(id, "NJ", i));
	}
	tl_shut(l);
	tl_reopen(l);
	/* The head, the chain and the write model survive. */
	FAILS(l, tl_join("M7", "NJ", 7), ALREADY_MEMBER);
	assert_int_equal(OK(l, tl_dues("M7", 100)), last + 1);
	assert_int_equal(tl_verify_chain(l), 0);
}

static void test_map_grows(void **state)
{
	tl_ledger *l = calloc(1, sizeof(*l));
	(void)state;
	tl_open(l, 1 << 20); /* 1 MiB: full after a few thousand events */
	tl_tree(l);
	enum { N = 1000, ROUNDS = 8 };
	Ledger__Event *evs[N];
	append_item *items = calloc(N, sizeof(*items));
	char id[32];
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < N; i++) {
			snprintf(id, sizeof(id), "G%d-%d", r, i);
			evs[i] = tl_join(id, "NJ", r * N + i);
		}
		assert_int_equal(tl_append_batch(l, evs, N, 0, items), 0);
		for (int i = 0; i < N; i++)
			assert_int_equal(items[i].code, 0);
		tl_free_all();
	}
	size_t map, used;
	store_usage(l->s, &map, &used);
	assert_true(map > (1 << 20));
	assert_int_equal(tl_verify_chain(l), 0);
	Ledger__Event *ev = tl_get(l, 5 + N * ROUNDS);
	assert_non_null(ev);
	codec_event_free(ev);
	free(items);
	tl_close(l);
	free(l);
}

static void test_hash_chain_detects_change(void **state)
{
	tl_ledger *l = *state;
	tl_tree(l);
	Ledger__Event *ev = tl_get(l, 3);
	uint8_t h[LD_HASH_LEN];
	assert_int_equal(codec_event_hash(ev, h), 0);
	assert_memory_equal(h, ev->hash.data, LD_HASH_LEN);
	/* Any change of content changes the hash. */
	ev->org_registered->region = 320103;
	assert_int_equal(codec_event_hash(ev, h), 0);
	assert_memory_not_equal(h, ev->hash.data, LD_HASH_LEN);
	codec_event_free(ev);
	/* Event 1 links to 32 zero bytes. */
	ev = tl_get(l, 1);
	uint8_t zero[LD_HASH_LEN] = {0};
	assert_memory_equal(ev->prev_hash.data, zero, LD_HASH_LEN);
	assert_string_equal(ev->actor, "test");
	assert_string_equal(ev->stream, "org/JS");
	assert_true(ev->recorded_at >= ev->occurred_at);
	codec_event_free(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_org_hierarchy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transfer_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dissolve_needs_empty_org, setup, teardown),
		cmocka_unit_test_setup_teardown(test_money_and_refunds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_void_and_amend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_amend_member_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expected_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_everything, setup, teardown),
		cmocka_unit_test(test_map_grows),
		cmocka_unit_test_setup_teardown(test_hash_chain_detects_change, setup, teardown),
	};
	return tl_run_tests(tests, NULL, NULL);
}
