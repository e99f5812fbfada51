/*
 * test_wire.c — one-pass decoding of our own records (proto/wire.h): events
 * as our packer writes them decode to what protobuf-c decodes (a oneof body,
 * a nested correction, defaults of absent fields, has_ flags), and every
 * input it is not made for is declined, where protobuf-c would decide
 * otherwise or fail: an unknown field, a field twice, a second oneof
 * member, a repeated field, a wrong wire type, bytes cut short, an overlong
 * varint, a key in more than 5 bytes. (fuzz_wire checks the same on any bytes: fuzz/harness.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "testlib.h"
#include "wire.h"

typedef struct bytes {
	uint8_t b[4096];
	size_t n;
} bytes;

static void pack_event(const Ledger__Event *ev, bytes *out)
{
	out->n = codec_size(ev);
	assert_true(out->n + 32 <= sizeof(out->b));
	assert_int_equal(codec_pack(ev, out->b), out->n);
}

static void append(bytes *b, const uint8_t *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

/* wire_decode's event, or NULL; *pool holds it. */
static Ledger__Event *wire_event(const bytes *b, codec_pool *pool)
{
	return (Ledger__Event *)wire_decode(&ledger__event__descriptor, b->b, b->n, codec_pool_alloc,
					    pool);
}

/* Decodes b both ways: the same message (packed the same), and, for our
 * packer's bytes, exactly b again. */
static Ledger__Event *expect_same(const bytes *b, codec_pool *pool)
{
	Ledger__Event *w = wire_event(b, pool);
	assert_non_null(w);
	Ledger__Event *ref = codec_event_unpack(b->b, b->n);
	assert_non_null(ref);
	bytes wb, rb;
	pack_event(w, &wb);
	pack_event(ref, &rb);
	assert_int_equal(wb.n, rb.n);
	assert_memory_equal(wb.b, rb.b, wb.n);
	assert_int_equal(wb.n, b->n);
	assert_memory_equal(wb.b, b->b, b->n);
	codec_event_free(ref);
	return w;
}

static Ledger__Event *stored(Ledger__Event *ev, uint64_t seq)
{
	static uint8_t hash[32] = {1, 2, 3};
	ev->has_seq = ev->has_version = ev->has_recorded_at = ev->has_hash = 1;
	ev->seq = seq;
	ev->version = 3;
	ev->recorded_at = 1780000000000000LL;
	ev->hash.len = sizeof(hash);
	ev->hash.data = hash;
	ev->actor = "admin";
	ev->stream = "member/M1";
	return ev;
}

static void test_records_decode(void **state)
{
	(void)state;
	codec_pool pool = CODEC_POOL_INIT;
	bytes b;

	pack_event(stored(tl_join("M1", "NJ-RIDER", 1), 7), &b);
	Ledger__Event *w = expect_same(&b, &pool);
	assert_int_equal(w->seq, 7);
	assert_int_equal(w->body_case, LEDGER__EVENT__BODY_MEMBER_JOINED);
	assert_string_equal(w->member_joined->member_id, "M1");
	assert_true(w->member_joined->has_region);
	assert_int_equal(w->member_joined->region, 320102);
	assert_int_equal(w->hash.len, 32);
	assert_null(w->prev_hash.data); /* absent bytes */
	assert_false(w->has_expected_version);

	/* An absent field with a default has it, as protobuf-c gives it. */
	Ledger__Event *s = stored(tl_service("NJ", "M1", LEDGER__SERVICE_KIND__CONDOLENCE_VISIT), 8);
	s->service_delivered->has_quantity = 0;
	pack_event(s, &b);
	w = expect_same(&b, &pool);
	assert_int_equal(w->service_delivered->quantity, 1);

	/* A correction: a oneof inside a oneof. */
	pack_event(stored(tl_amend(7, tl_join("M1", "NJ", 1)), 9), &b);
	w = expect_same(&b, &pool);
	assert_int_equal(w->body_case, LEDGER__EVENT__BODY_EVENT_AMENDED);
	assert_int_equal(w->event_amended->target_seq, 7);

	pack_event(stored(tl_void(7), 10), &b);
	expect_same(&b, &pool);
	pack_event(stored(tl_dues("M1", 3000), 11), &b);
	expect_same(&b, &pool);
	/* And the pool's event decodes the same way (codec.h). */
	Ledger__Event *pooled = codec_event_unpack_pool(b.b, b.n, &pool);
	assert_non_null(pooled);
	assert_int_equal(pooled->seq, 11);
	codec_pool_free(&pool);
	tl_free_all();
}

/* base's bytes with `tail` after them: declined, while base alone decodes;
 * protobuf-c's verdict on them is `ref_decodes`. */
static void expect_declined(const bytes *base, const uint8_t *tail, size_t n, int ref_decodes)
{
	codec_pool pool = CODEC_POOL_INIT;
	bytes b = *base;
	assert_non_null(wire_event(&b, &pool));
	append(&b, tail, n);
	assert_null(wire_event(&b, &pool));
	Ledger__Event *ref = codec_event_unpack(b.b, b.n);
	assert_int_equal(ref != NULL, ref_decodes);
	codec_event_free(ref);
	codec_pool_free(&pool);
}

static void test_declined(void **state)
{
	(void)state;
	bytes b;
	pack_event(stored(tl_join("M1", "NJ-RIDER", 1), 7), &b);

	static const uint8_t unknown[] = {0x98, 0x06, 0x01};      /* field 99 = 1 */
	static const uint8_t twice[] = {0x08, 0x05};              /* seq = 5, again */
	static const uint8_t other_body[] = {0xb2, 0x01, 0x00};   /* org_dissolved {} */
	static const uint8_t overlong[] = {0x50, 0xff, 0xff, 0xff, 0xff, 0xff,
					   0xff, 0xff, 0xff, 0xff, 0xff, 0x01}; /* 11 bytes */
	static const uint8_t past_end[] = {0x2a, 0x05, 'a'};      /* actor, 5 bytes of 1 */
	static const uint8_t group[] = {0x0b};                    /* seq (1) as a group */
	expect_declined(&b, unknown, sizeof(unknown), 1);
	expect_declined(&b, twice, sizeof(twice), 1);
	expect_declined(&b, other_body, sizeof(other_body), 1);
	static const uint8_t actor_varint[] = {0x28, 0x01}; /* actor (5) as a varint */
	expect_declined(&b, actor_varint, sizeof(actor_varint), 0);
	expect_declined(&b, overlong, sizeof(overlong), 0);
	expect_declined(&b, past_end, sizeof(past_end), 0);
	expect_declined(&b, group, sizeof(group), 0);

	/* A key in more than 5 bytes (field 70, empty, its key padded with
	 * zeros): protobuf-c reads a key in 5 at most and fails; declined
	 * (make fuzz's fuzz_wire found it, fuzz/regress/wire). */
	static const uint8_t long_key[] = {0xb2, 0x84, 0x80, 0x80, 0x80, 0x00, 0x00};
	codec_pool lp = CODEC_POOL_INIT;
	assert_null(wire_decode(&ledger__event__descriptor, long_key, sizeof(long_key),
				codec_pool_alloc, &lp));
	assert_null(codec_event_unpack(long_key, sizeof(long_key)));
	codec_pool_free(&lp);

	/* A repeated field (an append's events): declined. */
	Ledger__AppendRequest a = LEDGER__APPEND_REQUEST__INIT;
	Ledger__Event *evs[1] = {stored(tl_join("M1", "NJ-RIDER", 1), 7)};
	a.n_events = 1;
	a.events = evs;
	uint8_t buf[4096];
	size_t n = protobuf_c_message_pack(&a.base, buf);
	codec_pool pool = CODEC_POOL_INIT;
	assert_null(wire_decode(&ledger__append_request__descriptor, buf, n, codec_pool_alloc, &pool));
	assert_non_null(wire_decode(&ledger__event__descriptor, b.b, b.n, codec_pool_alloc, &pool));
	codec_pool_free(&pool);
	tl_free_all();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_records_decode),
	    cmocka_unit_test(test_declined),
	};
	return tl_run_tests(tests, NULL, NULL);
}
