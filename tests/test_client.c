/*
 * test_client.c — the client library without a daemon: JSON rendering,
 * person hashes, event ids, parsing of human values, and ldc_call against a
 * dead address, against a fake REP server that answers what a test wants,
 * and through a list of fake cluster nodes (failover).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "client.h"
#include "digest.h"
#include "i18n.h"
#include "labels.h"
#include "parse.h"
#include "sockclose.h"
#include "testlib.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static void hex(const uint8_t *p, size_t n, char *out)
{
	ldc_format_hex(p, n, out);
}

/* A TCP port nobody listens on, and no other test is given. */
static int free_port(void)
{
	int port = tl_free_port();
	assert_true(port > 0);
	return port;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

static void test_json_member_joined(void **state)
{
	Ledger__Event ev = LEDGER__EVENT__INIT;
	Ledger__MemberJoined mj = LEDGER__MEMBER_JOINED__INIT;
	uint8_t id[16], ph[32];
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(0xa0 + i);
	memset(ph, 0xff, sizeof(ph));
	ph[0] = 0x0f;

	ev.has_event_id = 1;
	ev.event_id.data = id;
	ev.event_id.len = sizeof(id);
	ev.has_occurred_at = 1;
	ev.occurred_at = 1714521600000000LL;
	ev.body_case = LEDGER__EVENT__BODY_MEMBER_JOINED;
	ev.member_joined = &mj;
	mj.member_id = "M1";
	mj.org_id = "O1";
	mj.has_join_path = 1;
	mj.join_path = LEDGER__JOIN_PATH__PLATFORM_WORK;
	mj.has_worker_group = 1;
	mj.worker_group = LEDGER__WORKER_GROUP__DELIVERY_RIDER;
	mj.has_region = 1;
	mj.region = 320100;
	mj.has_real_name = 1;
	mj.real_name = 0;
	mj.has_person_hash = 1;
	mj.person_hash.data = ph;
	mj.person_hash.len = sizeof(ph);

	assert_int_equal(ldc_tz_set("Asia/Shanghai"), 0);
	json_t *j = ldc_to_json(&ev);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "event_id")),
			    "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
	assert_int_equal(json_integer_value(json_object_get(j, "occurred_at")), 1714521600000000LL);
	/* Beside each time (µs), its RFC 3339 form in the ledger's zone. */
	assert_string_equal(json_string_value(json_object_get(j, "occurred_at_rfc3339")),
			    "2024-05-01T08:00:00+08:00");
	/* Fields not set are left out, server-set and client-set alike. */
	assert_null(json_object_get(j, "seq"));
	assert_null(json_object_get(j, "actor"));
	assert_null(json_object_get(j, "expected_version"));
	/* Of the oneof body only the member that is set. */
	assert_null(json_object_get(j, "org_registered"));
	assert_null(json_object_get(j, "dues_paid"));
	json_t *b = json_object_get(j, "member_joined");
	assert_true(json_is_object(b));
	assert_string_equal(json_string_value(json_object_get(b, "member_id")), "M1");
	assert_string_equal(json_string_value(json_object_get(b, "join_path")), "PLATFORM_WORK");
	assert_string_equal(json_string_value(json_object_get(b, "worker_group")), "DELIVERY_RIDER");
	assert_int_equal(json_integer_value(json_object_get(b, "region")), 320100);
	assert_true(json_is_false(json_object_get(b, "real_name")));
	assert_null(json_object_get(b, "channel"));  /* has_channel not set */
	assert_null(json_object_get(b, "platform")); /* NULL string */
	assert_string_equal(json_string_value(json_object_get(b, "person_hash")),
			    "0fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
	/* Field order is field-number order. */
	const char *key;
	json_t *v;
	const char *order[] = {"event_id", "occurred_at", "occurred_at_rfc3339", "member_joined"};
	int k = 0;
	json_object_foreach(j, key, v)
	{
		assert_true(k < 4);
		assert_string_equal(key, order[k++]);
	}
	json_decref(j);
}

static void test_json_amendment_oneof(void **state)
{
	Ledger__Event ev = LEDGER__EVENT__INIT;
	Ledger__EventAmended am = LEDGER__EVENT_AMENDED__INIT;
	Ledger__DuesPaid dp = LEDGER__DUES_PAID__INIT;

	ev.body_case = LEDGER__EVENT__BODY_EVENT_AMENDED;
	ev.event_amended = &am;
	am.has_target_seq = 1;
	am.target_seq = 7;
	am.reason = "wrong amount";
	am.corrected_case = LEDGER__EVENT_AMENDED__CORRECTED_DUES_PAID;
	am.dues_paid = &dp;
	dp.member_id = "M1";
	dp.has_amount_fen = 1;
	dp.amount_fen = 1234;
	dp.has_method = 1;
	dp.method = LEDGER__PAYMENT_METHOD__WECHAT_PAY;

	json_t *j = ldc_to_json(&ev);
	assert_non_null(j);
	json_t *a = json_object_get(j, "event_amended");
	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(a, "target_seq")), 7);
	assert_null(json_object_get(a, "member_joined"));
	assert_null(json_object_get(a, "corrected_occurred_at"));
	json_t *d = json_object_get(a, "dues_paid");
	assert_non_null(d);
	assert_int_equal(json_integer_value(json_object_get(d, "amount_fen")), 1234);
	assert_string_equal(json_string_value(json_object_get(d, "method")), "WECHAT_PAY");
	assert_int_equal(json_object_size(a), 3);
	json_decref(j);
}

static void test_json_repeated_unknown_enum_and_limits(void **state)
{
	Ledger__ReadLogRequest r = LEDGER__READ_LOG_REQUEST__INIT;
	Ledger__EventType types[] = {LEDGER__EVENT_TYPE__MEMBER_JOINED, (Ledger__EventType)999};
	r.types = types;
	r.n_types = 2;
	json_t *j = ldc_to_json(&r);
	assert_non_null(j);
	json_t *t = json_object_get(j, "types");
	assert_int_equal(json_array_size(t), 2);
	assert_string_equal(json_string_value(json_array_get(t, 0)), "MEMBER_JOINED");
	assert_int_equal(json_integer_value(json_array_get(t, 1)), 999); /* unknown: number */
	assert_null(json_object_get(j, "from_seq")); /* default, not set */
	json_decref(j);

	/* Nested repeated messages, and an empty repeated field. */
	Ledger__AppendResult ar = LEDGER__APPEND_RESULT__INIT;
	Ledger__EventResult r1 = LEDGER__EVENT_RESULT__INIT, r2 = LEDGER__EVENT_RESULT__INIT;
	Ledger__Error err = LEDGER__ERROR__INIT;
	Ledger__EventResult *rs[] = {&r1, &r2};
	r1.has_seq = 1;
	r1.seq = UINT64_MAX; /* beyond what JSON integers hold here */
	r2.error = &err;
	err.has_code = 1;
	err.code = LEDGER__ERROR_CODE__ERR_NOT_FOUND;
	err.message = "bad \xff byte";
	ar.results = rs;
	ar.n_results = 2;
	j = ldc_to_json(&ar);
	assert_non_null(j);
	json_t *res = json_object_get(j, "results");
	assert_int_equal(json_array_size(res), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(res, 0), "seq")),
			    "18446744073709551615");
	json_t *je = json_object_get(json_array_get(res, 1), "error");
	assert_string_equal(json_string_value(json_object_get(je, "code")), "ERR_NOT_FOUND");
	assert_string_equal(json_string_value(json_object_get(je, "message")), "bad ? byte");
	json_decref(j);

	Ledger__EventPage page = LEDGER__EVENT_PAGE__INIT;
	j = ldc_to_json(&page);
	assert_true(json_is_array(json_object_get(j, "events")));
	assert_int_equal(json_array_size(json_object_get(j, "events")), 0);
	json_decref(j);

	j = ldc_to_json(NULL);
	assert_true(json_is_null(j));
	json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Hashes and ids                                                      */
/* ------------------------------------------------------------------ */

static void test_hmac_rfc4231(void **state)
{
	/* RFC 4231, test case 2. */
	uint8_t out[32];
	char h[65];
	const char *msg = "what do ya want for nothing?";
	assert_int_equal(ld_hmac_sha256("Jefe", 4, msg, strlen(msg), out), 0);
	hex(out, 32, h);
	assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* The server's HMAC equals libcrypto's HMAC() for keys shorter than, equal
 * to and longer than SHA-256's block, and messages of every length around
 * the block boundaries. */
static void test_hmac_libcrypto(void **state)
{
	static const size_t keylens[] = {0, 1, 20, 32, 63, 64, 65, 131, 300};
	uint8_t key[300], msg[300], ours[32], theirs[32];
	for (size_t i = 0; i < sizeof(key); i++) {
		key[i] = (uint8_t)(i * 7 + 3);
		msg[i] = (uint8_t)(i * 13 + 1);
	}
	for (size_t k = 0; k < sizeof(keylens) / sizeof(keylens[0]); k++)
		for (size_t m = 0; m <= sizeof(msg); m++) {
			unsigned int len = 0;
			assert_int_equal(ld_hmac_sha256(key, keylens[k], msg, m, ours), 0);
			assert_non_null(HMAC(EVP_sha256(), key, (int)keylens[k], msg, m, theirs, &len));
			assert_int_equal(len, 32);
			assert_memory_equal(ours, theirs, 32);
		}
}

/* ld_hmac_sha256 keeps a keyed context per thread and key: keys of one
 * length that differ in one byte, more keys than it keeps, taken in turn,
 * and a thread of its own (its contexts freed when it ends) each give
 * libcrypto's HMAC(). */
static void *hmac_turns(void *arg)
{
	uint8_t key[32], msg[18], ours[32], theirs[32];
	unsigned int len = 0;
	memset(key, 0x5a, sizeof(key));
	memcpy(msg, "32010219800101123X", sizeof(msg));
	for (int round = 0; round < 3; round++)
		for (int k = 0; k < 6; k++) {
			key[31] = (uint8_t)k;
			msg[16] = (char)('0' + k);
			if (ld_hmac_sha256(key, sizeof(key), msg, sizeof(msg), ours) != 0 ||
			    !HMAC(EVP_sha256(), key, sizeof(key), msg, sizeof(msg), theirs, &len) ||
			    memcmp(ours, theirs, 32) != 0)
				return (void *)1;
		}
	return arg;
}

static void test_hmac_kept_keys(void **state)
{
	pthread_t t;
	void *r = (void *)1;
	assert_null(hmac_turns(NULL));
	assert_int_equal(pthread_create(&t, NULL, hmac_turns, NULL), 0);
	assert_int_equal(pthread_join(t, &r), 0);
	assert_null(r);
}

static void test_event_ids(void **state)
{
	uint8_t a[16], b[16];
	char h[33];
	ldc_derived_event_id("import:2024:row:1", a);
	hex(a, 16, h);
	/* First 16 bytes of SHA-256("import:2024:row:1"). */
	assert_string_equal(h, "e5e72aa0fc7ae03640da9b1513b966dd");
	ldc_derived_event_id("import:2024:row:1", b);
	assert_memory_equal(a, b, 16);
	ldc_derived_event_id("import:2024:row:2", b);
	assert_memory_not_equal(a, b, 16);

	int64_t before_ms = ldc_now_us() / 1000;
	ldc_new_event_id(a);
	ldc_new_event_id(b);
	int64_t after_ms = ldc_now_us() / 1000;
	assert_memory_not_equal(a, b, 16);
	assert_int_equal(a[6] >> 4, 7);       /* UUID version 7 */
	assert_int_equal(a[8] & 0xc0, 0x80); /* RFC 4122 variant */
	/* The first 48 bits are the time in ms, so later ids sort later. */
	int64_t ms = 0;
	for (int i = 0; i < 6; i++)
		ms = (ms << 8) | a[i];
	assert_true(ms >= before_ms && ms <= after_ms);
	assert_true(memcmp(a, b, 6) <= 0);
}

static void test_now(void **state)
{
	int64_t t = ldc_now_us();
	assert_true(t > 1600000000LL * 1000000);
	assert_true(ldc_now_us() >= t);
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

static void test_enum_parse(void **state)
{
	const ProtobufCEnumDescriptor *wg = &ledger__worker_group__descriptor;
	int v = -1;
	assert_int_equal(ldc_enum_parse(wg, "DELIVERY_RIDER", &v), 0);
	assert_int_equal(v, LEDGER__WORKER_GROUP__DELIVERY_RIDER);
	v = -1;
	assert_int_equal(ldc_enum_parse(wg, "delivery-rider", &v), 0);
	assert_int_equal(v, LEDGER__WORKER_GROUP__DELIVERY_RIDER);
	assert_int_equal(ldc_enum_parse(wg, "Ride-Hailing_Driver", &v), 0);
	assert_int_equal(v, LEDGER__WORKER_GROUP__RIDE_HAILING_DRIVER);
	/* A word-aligned start or end that names one value. */
	assert_int_equal(ldc_enum_parse(wg, "rider", &v), 0);
	assert_int_equal(v, LEDGER__WORKER_GROUP__DELIVERY_RIDER);
	assert_int_equal(ldc_enum_parse(wg, "truck", &v), 0);
	assert_int_equal(v, LEDGER__WORKER_GROUP__TRUCK_DRIVER);
	assert_int_equal(ldc_enum_parse(&ledger__affiliation_kind__descriptor, "platform", &v), 0);
	assert_int_equal(v, LEDGER__AFFILIATION_KIND__PLATFORM_AFFILIATION);
	assert_int_equal(ldc_enum_parse(&ledger__dissolve_reason__descriptor, "merged", &v), 0);
	assert_int_equal(v, LEDGER__DISSOLVE_REASON__MERGED);
	/* Ambiguous, not word-aligned, unknown, UNSPECIFIED, numbers: refused,
	 * and the output is left alone. */
	v = 42;
	assert_int_equal(ldc_enum_parse(wg, "driver", &v), LD_E(UNKNOWN_ENUM));
	assert_int_equal(ldc_enum_parse(wg, "rid", &v), LD_E(UNKNOWN_ENUM));
	assert_int_equal(ldc_enum_parse(wg, "pilot", &v), LD_E(UNKNOWN_ENUM));
	assert_int_equal(ldc_enum_parse(wg, "WORKER_GROUP_UNSPECIFIED", &v), LD_E(UNKNOWN_ENUM));
	assert_int_equal(ldc_enum_parse(wg, "unspecified", &v), LD_E(UNKNOWN_ENUM));
	assert_int_equal(ldc_enum_parse(wg, "4", &v), LD_E(UNKNOWN_ENUM));
	assert_int_equal(ldc_enum_parse(wg, "", &v), LD_E(UNKNOWN_ENUM));
	assert_int_equal(v, 42);

	assert_string_equal(ldc_enum_name(wg, 4), "DELIVERY_RIDER");
	assert_null(ldc_enum_name(wg, 999));
	char list[512];
	ldc_enum_list(&ledger__join_path__descriptor, list, sizeof(list));
	assert_string_equal(list, "labour-relation, platform-work, dispatched");
	ldc_enum_list(wg, list, 20); /* truncated, still terminated */
	assert_true(strlen(list) < 20);
}

static void test_parse_numbers_and_money(void **state)
{
	uint64_t u;
	uint32_t u32;
	int64_t i;
	assert_int_equal(ldc_parse_u64("18446744073709551615", &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(ldc_parse_u64("18446744073709551616", &u), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_u64("-1", &u), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_u64("12x", &u), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_u64("", &u), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_u32("4294967296", &u32), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_i64("-9223372036854775808", &i), 0);
	assert_true(i == INT64_MIN);
	assert_int_equal(ldc_parse_i64("9223372036854775808", &i), LD_E(INVALID_VALUE));

	assert_int_equal(ldc_parse_yuan("12.34", &i), 0);
	assert_int_equal(i, 1234);
	assert_int_equal(ldc_parse_yuan("12.3", &i), 0);
	assert_int_equal(i, 1230);
	assert_int_equal(ldc_parse_yuan("12", &i), 0);
	assert_int_equal(i, 1200);
	assert_int_equal(ldc_parse_yuan("0.01", &i), 0);
	assert_int_equal(i, 1);
	i = 7;
	assert_int_equal(ldc_parse_yuan("12.345", &i), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_yuan("0", &i), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_yuan("0.00", &i), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_yuan("-1", &i), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_yuan("1.", &i), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_yuan(".5", &i), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_yuan("1e3", &i), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_yuan("92233720368547758.08", &i), LD_E(INVALID_VALUE));
	assert_int_equal(i, 7);
}

/* The ledger's time zone: input without a zone is in it, explicit zones are
 * honoured, output is in it (RFC 3339 with its offset for machines). */
static void test_times_in_the_ledgers_zone(void **state)
{
	int64_t us, day = 1782777600000000LL; /* 2026-06-30T00:00:00Z */
	char t[32], r[LDC_RFC3339_MAX];

	assert_int_equal(ldc_tz_set("Asia/Shanghai"), 0);
	assert_string_equal(ldc_tz(), "Asia/Shanghai");
	assert_int_equal(ldc_tz_offset_s(day), 8 * 3600);
	/* --at 2026-06-30 is the start of that day in Beijing. */
	assert_int_equal(ldc_parse_time("2026-06-30", &us), 0);
	assert_true(us == day - 8 * 3600 * 1000000LL);
	ldc_format_rfc3339(us, r);
	assert_string_equal(r, "2026-06-30T00:00:00+08:00");
	ldc_format_time(us, t);
	assert_string_equal(t, "2026-06-30 00:00:00");
	ldc_format_rfc3339(us + 5, r);
	assert_string_equal(r, "2026-06-30T00:00:00.000005+08:00");
	/* Explicit zones win over the ledger's. */
	assert_int_equal(ldc_parse_time("2026-06-30T00:00:00+08:00", &us), 0);
	assert_true(us == day - 8 * 3600 * 1000000LL);
	assert_int_equal(ldc_parse_time("2026-06-30T00:00:00-0500", &us), 0);
	assert_true(us == day + 5 * 3600 * 1000000LL);
	assert_int_equal(ldc_parse_time("2026-06-30 12:00:00z", &us), 0);
	assert_true(us == day + 12 * 3600 * 1000000LL);
	assert_int_equal(ldc_parse_time("2026-06-30T00:00:00+24:00", &us), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_time("2026-06-30T00:00:00+08", &us), LD_E(INVALID_VALUE));
	/* A time as ldc_format_time prints it, fractions of a second included,
	 * reads back as the same instant (transfers' --from of a cut list). */
	ldc_format_time(day + 123456, t);
	assert_string_equal(t, "2026-06-30 08:00:00.123456");
	assert_int_equal(ldc_parse_time(t, &us), 0);
	assert_true(us == day + 123456);
	assert_int_equal(ldc_parse_time("2026-06-30T00:00:00.5Z", &us), 0);
	assert_true(us == day + 500000);
	assert_int_equal(ldc_parse_time("2026-06-30T00:00:00.Z", &us), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_time("2026-06-30T00:00:00.1234567", &us), LD_E(INVALID_VALUE));

	/* The clerks' forms (ledgerctl's dates and the importer's): one day
	 * however written, a time after it as spreadsheets export it, and any
	 * form ldc_parse_time reads; nothing else. */
	static const char *const same_day[] = {"2026-06-30", "2026/6/30", "2026.06.30",
					       "2026年6月30日", "2026年06月30", "20260630",
					       "2026-06-30T00:00:00+08:00"};
	for (size_t k = 0; k < sizeof same_day / sizeof same_day[0]; k++) {
		us = 0;
		if (ldc_parse_clerk_time(same_day[k], &us) != 0 || us != day - 8 * 3600 * 1000000LL)
			fail_msg("'%s' was not read as 2026-06-30 in Beijing", same_day[k]);
	}
	assert_int_equal(ldc_parse_clerk_time("2026/6/30 9:30", &us), 0);
	assert_true(us == day + (9 * 3600 + 30 * 60 - 8 * 3600) * 1000000LL);
	assert_int_equal(ldc_parse_clerk_time("20260630 09:30:15", &us), 0);
	assert_true(us == day + (9 * 3600 + 30 * 60 + 15 - 8 * 3600) * 1000000LL);
	assert_int_equal(ldc_parse_clerk_time("2026-06-30 08:00:00.123456", &us), 0);
	assert_true(us == day + 123456);
	static const char *const not_days[] = {"30/06/2026", "2026/6/31", "2026/13/1", "26/6/30",
					       "2026/6/30 25:00", "2026/6/30 9:3", "2026年6月30日号",
					       "2026-6-30x", "202606301", "", "2026//30"};
	for (size_t k = 0; k < sizeof not_days / sizeof not_days[0]; k++)
		if (ldc_parse_clerk_time(not_days[k], &us) == 0)
			fail_msg("'%s' was read as a day", not_days[k]);

	/* Another zone: the same input is another instant. */
	assert_int_equal(ldc_tz_set("UTC"), 0);
	assert_int_equal(ldc_parse_time("2026-06-30", &us), 0);
	assert_true(us == day);
	ldc_format_rfc3339(us, r);
	assert_string_equal(r, "2026-06-30T00:00:00Z");
	assert_int_equal(ldc_tz_set("America/New_York"), 0);
	ldc_format_rfc3339(day, r);
	assert_string_equal(r, "2026-06-29T20:00:00-04:00");

	/* glibc would take an unknown zone for UTC: refused here, zone kept. */
	assert_int_equal(ldc_tz_set("Mars/Olympus_Mons"), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_tz_set("../../etc/passwd"), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_tz_set("/etc/localtime"), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_tz_set(""), LD_E(INVALID_VALUE));
	assert_string_equal(ldc_tz(), "America/New_York");
	assert_int_equal(ldc_tz_set("Asia/Shanghai"), 0);
}

/* The Chinese names of enum values: accepted as input wherever names are,
 * shown only in Chinese mode (this test runs in the C locale: English). */
static void test_chinese_labels(void **state)
{
	int v;
	char buf[64];
	assert_int_equal(ldc_enum_parse(&ledger__worker_group__descriptor, "外卖骑手", &v), 0);
	assert_int_equal(v, LEDGER__WORKER_GROUP__DELIVERY_RIDER);
	assert_int_equal(ldc_enum_parse(&ledger__worker_group__descriptor, "网约配送员", &v), 0);
	assert_int_equal(v, LEDGER__WORKER_GROUP__DELIVERY_RIDER);
	assert_int_equal(ldc_enum_parse(&ledger__join_channel__descriptor, "集体登记", &v), 0);
	assert_int_equal(v, LEDGER__JOIN_CHANNEL__COLLECTIVE_REGISTRATION);
	/* One name, two enums: each reads it as its own value. */
	assert_int_equal(ldc_enum_parse(&ledger__employment_relation__descriptor, "劳务派遣", &v), 0);
	assert_int_equal(v, LEDGER__EMPLOYMENT_RELATION__DISPATCHED_LABOUR);
	assert_int_equal(ldc_enum_parse(&ledger__join_path__descriptor, "劳务派遣", &v), 0);
	assert_int_equal(v, LEDGER__JOIN_PATH__DISPATCHED);
	/* A name of another enum is no value of this one. */
	assert_int_equal(ldc_enum_parse(&ledger__worker_group__descriptor, "集体登记", &v),
			 LD_E(UNKNOWN_ENUM));
	assert_string_equal(ldc_label_zh(&ledger__transfer_reason__descriptor,
					 LEDGER__TRANSFER_REASON__MOVED_REGION),
			    "迁居");
	assert_null(ldc_label_zh(&ledger__worker_group__descriptor, 0));
	assert_false(ld_i18n_zh());
	assert_string_equal(ldc_enum_label(&ledger__worker_group__descriptor,
					   LEDGER__WORKER_GROUP__DELIVERY_RIDER, buf, sizeof(buf)),
			    "delivery-rider");
	assert_string_equal(ldc_enum_label(&ledger__worker_group__descriptor, 99, buf, sizeof(buf)),
			    "99");
	/* A kind of event: its canonical name outside Chinese mode. */
	assert_string_equal(ldc_kind_label(LEDGER__EVENT__BODY_TRANSFER_RELEASED),
			    "transfer_released");
	assert_string_equal(ldc_label_zh(&ledger__event_type__descriptor,
					 LEDGER__EVENT__BODY_TRANSFER_RELEASED),
			    "转出");
	/* Every value of every enum the table names has a Chinese name. */
	const ProtobufCEnumDescriptor *named[] = {
		&ledger__worker_group__descriptor,    &ledger__join_path__descriptor,
		&ledger__join_channel__descriptor,    &ledger__employment_relation__descriptor,
		&ledger__transfer_reason__descriptor, &ledger__end_reason__descriptor,
		&ledger__waiver_reason__descriptor,   &ledger__dissolve_reason__descriptor,
		&ledger__org_kind__descriptor,        &ledger__service_kind__descriptor,
		&ledger__activity_kind__descriptor,   &ledger__station_kind__descriptor,
		&ledger__payment_method__descriptor,  &ledger__fund_purpose__descriptor,
		&ledger__event_type__descriptor, /* kinds: history's names (ldc_kind_label) */
	};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		for (unsigned k = 0; k < named[i]->n_values; k++)
			if (named[i]->values[k].value)
				assert_non_null(ldc_label_zh(named[i], named[i]->values[k].value));
}

static void test_parse_times_periods_hex(void **state)
{
	uint32_t p;
	int64_t us;
	char t[32];
	assert_int_equal(ldc_parse_period("202405", &p), 0);
	assert_int_equal(p, 202405);
	assert_int_equal(ldc_parse_period("2024-12", &p), 0);
	assert_int_equal(p, 202412);
	assert_int_equal(ldc_parse_period("202413", &p), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_period("20245", &p), LD_E(INVALID_VALUE));

	/* Times without a zone are Beijing times (the ledger's default zone). */
	assert_int_equal(ldc_tz_set("Asia/Shanghai"), 0);
	assert_int_equal(ldc_parse_time("2024-05-01", &us), 0);
	assert_true(us == 1714521600000000LL - 8 * 3600 * 1000000LL);
	assert_int_equal(ldc_parse_time("2024-05-01T08:30:15Z", &us), 0);
	assert_true(us == 1714521600000000LL + (8 * 3600 + 30 * 60 + 15) * 1000000LL);
	ldc_format_time(us, t);
	assert_string_equal(t, "2024-05-01 16:30:15");
	ldc_format_time(us + 250, t);
	assert_string_equal(t, "2024-05-01 16:30:15.000250");
	assert_int_equal(ldc_parse_time("2024-02-29", &us), 0);  /* leap year */
	assert_int_equal(ldc_parse_time("2023-02-29", &us), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_time("2024-05-01T24:00:00", &us), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_time("2024-5-1", &us), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_time("2024-05-01T08:30", &us), LD_E(INVALID_VALUE));

	uint8_t b[4];
	char h[9];
	assert_int_equal(ldc_parse_hex("00aBcD7f", b, 4), 0);
	ldc_format_hex(b, 4, h);
	assert_string_equal(h, "00abcd7f");
	assert_int_equal(ldc_parse_hex("00abcd7", b, 4), LD_E(INVALID_VALUE));
	assert_int_equal(ldc_parse_hex("00abcd7g", b, 4), LD_E(INVALID_VALUE));
}

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

static void test_unavailable(void **state)
{
	char url[64];
	ldc *c = NULL;
	ld_errinfo e = {0};
	Ledger__Response *resp = (Ledger__Response *)&e; /* must be reset */

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
	/* Nobody listens, yet the open succeeds: the dial is retried. */
	assert_int_equal(ldc_open(&c, url, 300, &e), 0);
	double t0 = now_s();
	int rc = ldc_head(c, &resp, &e);
	double took = now_s() - t0;
	assert_int_equal(rc, LD_E(UNAVAILABLE));
	assert_int_equal(e.code, LD_E(UNAVAILABLE));
	assert_null(resp);
	assert_non_null(strstr(e.message, url));
	assert_true(took >= 0.25 && took < 2.0);
	ldc_close(c);
	ldc_close(NULL);
}

/* Nobody listening: a call with a long timeout fails after LDC_CONNECT_MS,
 * naming the url, instead of waiting its timeout out; a server that is there
 * but slow to answer gets the whole timeout. */
static void test_fast_failure_and_slow_answer(void **state)
{
	char url[64];
	ldc *c = NULL;
	ld_errinfo e = {0};
	Ledger__Response *resp = NULL;
	nng_socket rep;

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
	assert_int_equal(ldc_open(&c, url, 30000, &e), 0);
	double t0 = now_s();
	assert_int_equal(ldc_head(c, &resp, &e), LD_E(UNAVAILABLE));
	double took = now_s() - t0;
	assert_null(resp);
	assert_non_null(strstr(e.message, url));
	assert_non_null(strstr(e.message, "no ledger accepted a connection"));
	assert_true(took >= LDC_CONNECT_MS / 1000.0 - 0.05);
	assert_true(took < 10.0); /* the timeout was 30 s */
	ldc_close(c);

	/* A REP socket that takes the request and never answers. */
	assert_int_equal(nng_rep0_open(&rep), 0);
	assert_int_equal(nng_listen(rep, url, NULL, 0), 0);
	assert_int_equal(ldc_open(&c, url, 3000, &e), 0);
	t0 = now_s();
	assert_int_equal(ldc_head(c, &resp, &e), LD_E(UNAVAILABLE));
	took = now_s() - t0;
	assert_non_null(strstr(e.message, "no answer"));
	assert_true(took >= 2.95);
	ldc_close(c);
	nng_close(rep);
}

static void test_open_bad_url(void **state)
{
	ldc *c = (ldc *)&c;
	ld_errinfo e = {0};
	assert_int_equal(ldc_open(&c, "carrier-pigeon://loft", 100, &e), LD_E(UNAVAILABLE));
	assert_null(c);
	assert_non_null(strstr(e.message, "carrier-pigeon://loft"));
	assert_int_equal(ldc_open(&c, "", 100, &e), LD_E(UNAVAILABLE));
}

/* A REP socket that answers one request with fixed bytes. */
struct fake {
	nng_socket sock;
	const void *answer;
	size_t len;
	nng_msg *request; /* what it received */
};

static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	nng_msg *m;
	if (nng_recvmsg(f->sock, &m, 0) != 0)
		return NULL;
	f->request = m;
	nng_msg *out;
	if (nng_msg_alloc(&out, 0) == 0) {
		nng_msg_append(out, f->answer, f->len);
		if (nng_sendmsg(f->sock, out, 0) != 0)
			nng_msg_free(out);
	}
	return NULL;
}

/* Calls GetEvent(5) against a fake server answering `answer`. */
static int call_fake(const void *answer, size_t len, Ledger__Response **resp, ld_errinfo *e,
		     nng_msg **request)
{
	struct fake f = {.answer = answer, .len = len};
	char url[64];
	pthread_t th;
	ldc *c;

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
	assert_int_equal(nng_rep0_open(&f.sock), 0);
	nng_socket_set_ms(f.sock, NNG_OPT_RECVTIMEO, 5000);
	assert_int_equal(nng_listen(f.sock, url, NULL, 0), 0);
	assert_int_equal(pthread_create(&th, NULL, fake_serve, &f), 0);
	assert_int_equal(ldc_open(&c, url, 5000, e), 0);
	int rc = ldc_get(c, 5, resp, e);
	pthread_join(th, NULL);
	ldc_close(c);
	nng_close(f.sock);
	*request = f.request;
	return rc;
}

static void test_call_server_error(void **state)
{
	Ledger__Response r = LEDGER__RESPONSE__INIT;
	Ledger__Error err = LEDGER__ERROR__INIT;
	uint8_t buf[256];
	err.has_code = 1;
	err.code = LEDGER__ERROR_CODE__ERR_NOT_FOUND;
	err.message = "event 5 not found";
	err.field = "get_event.seq";
	err.has_seq = 1;
	err.seq = 5;
	r.error = &err;
	size_t n = codec_pack(&r, buf);

	Ledger__Response *resp = NULL;
	ld_errinfo e = {0};
	nng_msg *req = NULL;
	int rc = call_fake(buf, n, &resp, &e, &req);
	assert_int_equal(rc, LD_E(NOT_FOUND));
	assert_int_equal(e.code, LD_E(NOT_FOUND));
	assert_string_equal(e.message, "event 5 not found");
	assert_string_equal(e.field, "get_event.seq");
	assert_true(e.seq == 5);
	assert_non_null(resp); /* still handed over */
	assert_non_null(resp->error);
	codec_response_free(resp);

	/* What was sent is a GetEvent request for seq 5. */
	assert_non_null(req);
	Ledger__Request *got = NULL;
	assert_int_equal(codec_request_unpack(nng_msg_body(req), nng_msg_len(req), &got, NULL), 0);
	assert_int_equal(got->command_case, LEDGER__REQUEST__COMMAND_GET_EVENT);
	assert_true(got->get_event->has_seq && got->get_event->seq == 5);
	codec_request_free(got);
	nng_msg_free(req);
}

/* An answer of another result than the command's (a PlanList to GetEvent:
 * the result's members share their memory) is refused before anyone reads
 * it; every command has its result. */
static void test_call_other_result(void **state)
{
	Ledger__Response r = LEDGER__RESPONSE__INIT;
	Ledger__PlanList pl = LEDGER__PLAN_LIST__INIT;
	uint8_t buf[64];
	r.result_case = LEDGER__RESPONSE__RESULT_PLANS;
	r.plans = &pl;
	size_t n = codec_pack(&r, buf);
	Ledger__Response *resp = (Ledger__Response *)buf;
	ld_errinfo e = {0};
	nng_msg *req = NULL;
	assert_int_equal(call_fake(buf, n, &resp, &e, &req), LD_E(MALFORMED));
	assert_null(resp);
	assert_non_null(strstr(e.message, "to get_event is plans, not event"));
	nng_msg_free(req);

	const ProtobufCMessageDescriptor *d = &ledger__request__descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		int want = ldc_answer_case((int)d->fields[i].id);
		if (!want || !protobuf_c_message_descriptor_get_field(&ledger__response__descriptor,
								      (unsigned)want))
			fail_msg("Request.%s has no answer in clients/client.c's table",
			         d->fields[i].name);
	}
}

static void test_call_success_and_garbage(void **state)
{
	Ledger__Response r = LEDGER__RESPONSE__INIT;
	Ledger__Event ev = LEDGER__EVENT__INIT;
	uint8_t buf[256];
	ev.has_seq = 1;
	ev.seq = 5;
	r.result_case = LEDGER__RESPONSE__RESULT_EVENT;
	r.event = &ev;
	size_t n = codec_pack(&r, buf);

	Ledger__Response *resp = NULL;
	ld_errinfo e = {0};
	nng_msg *req = NULL;
	assert_int_equal(call_fake(buf, n, &resp, &e, &req), 0);
	assert_non_null(resp);
	assert_non_null(resp->event);
	assert_true(resp->event->seq == 5);
	codec_response_free(resp);
	nng_msg_free(req);

	/* An answer that is not a Response. */
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	resp = (Ledger__Response *)&e;
	assert_int_equal(call_fake(junk, sizeof(junk), &resp, &e, &req), LD_E(MALFORMED));
	assert_null(resp);
	nng_msg_free(req);
}

/* A node of a fake cluster: a REP socket that, until ready_at, answers
 * every request ERR_NOT_LEADER naming `names` (or, busy, ERR_BUSY), then
 * GetEvent's event 5; it listens from listen_at on (both times after the
 * test's start). */
struct node {
	nng_socket sock;
	char url[64];
	const char *names;
	int busy;
	int halted; /* answers ERR_HALTED, always */
	double listen_at, ready_at;
	int listening; /* listened in node_start */
	int requests;
	volatile int stop;
	pthread_t th;
};

static void node_answer(struct node *n, nng_msg *req)
{
	Ledger__Response r = LEDGER__RESPONSE__INIT;
	Ledger__Error err = LEDGER__ERROR__INIT;
	Ledger__Event ev = LEDGER__EVENT__INIT;
	uint8_t buf[256];
	if (n->halted) {
		err.has_code = 1;
		err.code = LEDGER__ERROR_CODE__ERR_HALTED;
		err.message = "this node halted and takes no writes until repaired";
		r.error = &err;
	} else if (now_s() < n->ready_at && n->busy) {
		err.has_code = 1;
		err.code = LEDGER__ERROR_CODE__ERR_BUSY;
		err.message = "the leader is applying its election barrier";
		r.error = &err;
	} else if (now_s() < n->ready_at) {
		err.has_code = 1;
		err.code = LEDGER__ERROR_CODE__ERR_NOT_LEADER;
		err.message = "this node is not the leader";
		err.leader = (char *)n->names;
		r.error = &err;
	} else {
		ev.has_seq = 1;
		ev.seq = 5;
		r.result_case = LEDGER__RESPONSE__RESULT_EVENT;
		r.event = &ev;
	}
	nng_msg *out;
	size_t len = codec_pack(&r, buf);
	if (nng_msg_alloc(&out, 0) == 0) {
		nng_msg_append(out, buf, len);
		if (nng_sendmsg(n->sock, out, 0) != 0)
			nng_msg_free(out);
	}
	nng_msg_free(req);
}

static void *node_serve(void *arg)
{
	struct node *n = arg;
	while (!n->listening && now_s() < n->listen_at && !n->stop)
		usleep(10000);
	if (!n->listening && nng_listen(n->sock, n->url, NULL, 0) != 0)
		return NULL;
	while (!n->stop) {
		nng_msg *m;
		if (nng_recvmsg(n->sock, &m, 0) != 0)
			continue; /* RECVTIMEO: look at stop */
		__atomic_add_fetch(&n->requests, 1, __ATOMIC_RELAXED);
		node_answer(n, m);
	}
	return NULL;
}

static void node_start(struct node *n, double t0, double listen_in, double ready_in,
		       const char *names)
{
	snprintf(n->url, sizeof(n->url), "tcp://127.0.0.1:%d", free_port());
	n->names = names;
	n->listen_at = t0 + listen_in;
	n->ready_at = t0 + ready_in;
	assert_int_equal(nng_rep0_open(&n->sock), 0);
	nng_socket_set_ms(n->sock, NNG_OPT_RECVTIMEO, 50);
	/* A node listening from the start listens before the call begins: left
	 * to its thread, a loaded machine could start that thread after the
	 * client found the port closed and went on to the next node. */
	if (listen_in <= 0) {
		assert_int_equal(nng_listen(n->sock, n->url, NULL, 0), 0);
		n->listening = 1;
	}
	assert_int_equal(pthread_create(&n->th, NULL, node_serve, n), 0);
}

static void node_stop(struct node *n)
{
	n->stop = 1;
	pthread_join(n->th, NULL);
	/* A client may be sending to it now (proto/sockclose.h). */
	ld_sock_close(n->sock, LD_SOCK_CLOSE_MS);
}

/* GetEvent(5) through the list of the nodes' urls, with a 10 s timeout:
 * answered with event 5 (the nodes are stopped after the call). */
static void call_list(struct node *nodes, int count)
{
	char list[256] = "";
	ldc *c;
	Ledger__Response *resp = NULL;
	ld_errinfo e = {0};
	for (int i = 0; i < count; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? "," : "",
			 nodes[i].url);
	assert_int_equal(ldc_open(&c, list, 10000, &e), 0);
	int rc = ldc_get(c, 5, &resp, &e);
	ldc_close(c);
	for (int i = 0; i < count; i++)
		node_stop(&nodes[i]);
	int seq = !rc && resp && resp->event ? (int)resp->event->seq : -1;
	if (rc)
		print_error("call: %s (%d)\n", e.message, rc);
	codec_response_free(resp);
	assert_int_equal(rc, 0);
	assert_int_equal(seq, 5);
}

/* The leader of a list, unreachable when first asked (it accepts no
 * connection for its first 0.6 s: a loaded machine), and named as the leader
 * by both other nodes all along, is asked again and answers: a node found
 * unreachable once is not passed over for the rest of the call. (The call
 * used to go back and forth between the two others until its 64th attempt,
 * and fail with ERR_NOT_LEADER naming the leader: cluster_replay_test's
 * "event 55 was not acknowledged".) */
static void test_list_leader_late(void **state)
{
	struct node n[3] = {0};
	double t0 = now_s();
	node_start(&n[1], t0, 0.6, 0, NULL);
	node_start(&n[0], t0, 0, 1e9, n[1].url);
	node_start(&n[2], t0, 0, 1e9, n[1].url);
	call_list(n, 3);
	assert_int_equal(n[1].requests, 1);
}

/* A leader that is not ready yet (its first commit of the term not
 * confirmed) names itself for 1.5 s: the call asks it again, pausing
 * between requests rather than at once, and gets its answer before its
 * timeout (it used to give up after 64 quick attempts). */
static void test_list_leader_not_ready(void **state)
{
	struct node n[2] = {0};
	double t0 = now_s();
	node_start(&n[1], t0, 0, 1.5, NULL);
	n[1].names = n[1].url;
	node_start(&n[0], t0, 0, 1e9, n[1].url);
	call_list(n, 2);
	/* 1.5 s in pauses of LDC_ROUND_PAUSE_MS (50 ms): about 30 requests,
	 * not hundreds. */
	assert_true(n[1].requests >= 2 && n[1].requests <= 60);
}

/* A leader that answers ERR_BUSY for 1 s (applying its election barrier:
 * partition_test's first write through the list once failed so) is asked
 * again after a pause, and its answer returned; the follower that named it
 * is not asked again. */
static void test_list_leader_busy(void **state)
{
	struct node n[2] = {0};
	double t0 = now_s();
	n[1].busy = 1;
	node_start(&n[1], t0, 0, 1.0, NULL);
	node_start(&n[0], t0, 0, 1e9, n[1].url);
	call_list(n, 2);
	assert_int_equal(n[0].requests, 1);
	assert_true(n[1].requests >= 2 && n[1].requests <= 40);
}

/* A node that halted (ERR_HALTED) is passed over for the rest of the call:
 * the list's next node answers, and the halted one is asked once (it used
 * to be answered ERR_NOT_LEADER naming no leader, asked again every round
 * until the timeout when no other node answered). The next node listens
 * only after 1 s, so the halted one is asked whatever the order (on a
 * loaded machine its connection may miss LDC_LIST_CONNECT_MS at first, and
 * a next node answering at once would end the call before it is asked). */
static void test_list_halted(void **state)
{
	struct node n[2] = {0};
	double t0 = now_s();
	n[0].halted = 1;
	node_start(&n[0], t0, 0, 1e9, NULL);
	node_start(&n[1], t0, 1.0, 0, NULL);
	call_list(n, 2);
	assert_int_equal(n[0].requests, 1);
}

/* Every node of the list halted: the call ends with ERR_HALTED once each
 * was asked, not at its timeout. */
static void test_list_all_halted(void **state)
{
	struct node n[2] = {0};
	double t0 = now_s();
	ldc *c;
	Ledger__Response *resp = NULL;
	ld_errinfo e = {0};
	char list[160];
	for (int i = 0; i < 2; i++) {
		n[i].halted = 1;
		node_start(&n[i], t0, 0, 1e9, NULL);
	}
	snprintf(list, sizeof(list), "%s,%s", n[0].url, n[1].url);
	assert_int_equal(ldc_open(&c, list, 10000, &e), 0);
	int rc = ldc_get(c, 5, &resp, &e);
	ldc_close(c);
	codec_response_free(resp);
	for (int i = 0; i < 2; i++)
		node_stop(&n[i]);
	assert_int_equal(rc, LD_E(HALTED));
	assert_non_null(strstr(e.message, "halted"));
	assert_int_equal(n[0].requests, 1);
	assert_int_equal(n[1].requests, 1);
}

/* NNG 1.5.2 leaks a dialer's connection whose SP handshake ends while its
 * socket closes (docs/LIBRARIES.md): the 8-byte header of a stalled node,
 * sent as the client leaves it, completes the handshake after the dialer is
 * closed, and the pipe and its endpoint are never freed (LeakSanitizer:
 * "Indirect leak", 6 objects, nng_dial <- sock_open <- move_to). The window
 * is made wide: NNG's task threads are held from before the stalled node
 * answers until the client closed its connection (or 2 s), so the
 * handshake's last step runs after any close. The client must not close a
 * socket whose handshake may still end: the test fails (under ASan, at exit)
 * when it does. */
struct stalled {
	int lfd;
	char url[64];
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int hold;     /* NNG's task threads are held while set */
	int held;     /* task threads holding */
	int answered; /* the header went out while they were held */
	int closed;   /* the client closed its connection */
};

static void hold_task(void *arg)
{
	struct stalled *s = arg;
	pthread_mutex_lock(&s->mu);
	s->held++;
	pthread_cond_broadcast(&s->cv);
	while (s->hold)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static void *stalled_serve(void *arg)
{
	struct stalled *s = arg;
	enum { HOLDERS = 64 }; /* more than NNG's task threads (2 per CPU, 16 at most) */
	nng_aio *aio[HOLDERS] = {0};
	uint8_t hdr[8];
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	/* The client's header: its dialer connected. */
	size_t got = 0;
	while (got < sizeof(hdr)) {
		ssize_t n = read(fd, hdr + got, sizeof(hdr) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	usleep(20000);
	pthread_mutex_lock(&s->mu);
	s->hold = 1;
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < HOLDERS; i++)
		if (nng_aio_alloc(&aio[i], hold_task, s) == 0)
			nng_sleep_aio(0, aio[i]);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	pthread_mutex_lock(&s->mu);
	while (s->held == 0 &&
	       pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
		;
	pthread_mutex_unlock(&s->mu);
	usleep(20000); /* the holders not running yet are queued */
	/* A REP node's header: the handshake's last step, queued behind the
	 * holders. */
	static const uint8_t rep[8] = {0, 'S', 'P', 0, 0, 0x31, 0, 0};
	int answered = got == sizeof(hdr) && write(fd, rep, sizeof(rep)) == sizeof(rep);
	/* Until the client closes the connection, or 2 s (a client that
	 * keeps it: the handshake completes). */
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t b;
	int closed = read(fd, &b, 1) == 0;
	pthread_mutex_lock(&s->mu);
	s->answered = answered;
	s->closed = closed;
	s->hold = 0;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < HOLDERS; i++)
		if (aio[i]) {
			nng_aio_wait(aio[i]);
			nng_aio_free(aio[i]);
		}
	/* Held open until the client is done (the test closes lfd). */
	while (read(fd, &b, 1) > 0)
		;
	close(fd);
	return NULL;
}

static void test_list_leaves_node_mid_handshake(void **state)
{
	struct stalled s = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	s.lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s.lfd >= 0);
	assert_int_equal(bind(s.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(listen(s.lfd, 8), 0);
	snprintf(s.url, sizeof(s.url), "tcp://127.0.0.1:%d", ntohs(a.sin_port));
	assert_int_equal(pthread_create(&s.th, NULL, stalled_serve, &s), 0);

	struct node good = {0};
	node_start(&good, now_s(), 0, 0, NULL);
	char list[160];
	snprintf(list, sizeof(list), "%s,%s", s.url, good.url);
	ldc *c;
	Ledger__Response *resp = NULL;
	ld_errinfo e = {0};
	assert_int_equal(ldc_open(&c, list, 10000, &e), 0);
	int rc = ldc_get(c, 5, &resp, &e);
	if (rc)
		print_error("call: %s (%d)\n", e.message, rc);
	assert_int_equal(rc, 0);
	assert_true(resp && resp->event && resp->event->seq == 5);
	codec_response_free(resp);
	ldc_close(c);
	node_stop(&good);
	shutdown(s.lfd, SHUT_RDWR);
	pthread_join(s.th, NULL);
	close(s.lfd);
	/* The scenario happened: the node answered while NNG's threads were
	 * held. */
	assert_int_equal(s.answered, 1);
	assert_true(s.held > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_member_joined),
		cmocka_unit_test(test_json_amendment_oneof),
		cmocka_unit_test(test_json_repeated_unknown_enum_and_limits),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_hmac_libcrypto),
		cmocka_unit_test(test_hmac_kept_keys),
		cmocka_unit_test(test_event_ids),
		cmocka_unit_test(test_now),
		cmocka_unit_test(test_enum_parse),
		cmocka_unit_test(test_parse_numbers_and_money),
		cmocka_unit_test(test_parse_times_periods_hex),
		cmocka_unit_test(test_times_in_the_ledgers_zone),
		cmocka_unit_test(test_chinese_labels),
		cmocka_unit_test(test_unavailable),
		cmocka_unit_test(test_fast_failure_and_slow_answer),
		cmocka_unit_test(test_open_bad_url),
		cmocka_unit_test(test_call_server_error),
		cmocka_unit_test(test_call_success_and_garbage),
		cmocka_unit_test(test_list_leader_late),
		cmocka_unit_test(test_list_leader_not_ready),
		cmocka_unit_test(test_list_leader_busy),
		cmocka_unit_test(test_list_halted),
		cmocka_unit_test(test_list_all_halted),
		cmocka_unit_test(test_list_leaves_node_mid_handshake),
		cmocka_unit_test(test_call_other_result),
	};
	return tl_run_tests(tests, NULL, NULL);
}
