/*
 * test_wire.c — one-pass decoding of our own records (proto/wire.h): events
 * as our packer writes them decode to what protobuf-c decodes (a oneof body,
 * a nested correction, defaults of absent fields, has_ flags), and every
 * input it is not made for is declined, where protobuf-c would decide
 * otherwise or fail: an unknown field, a field twice, a second oneof
 * member, a repeated field of scalars, a wrong wire type, bytes cut short, an overlong
 * varint, a key in more than 5 bytes. (fuzz_wire checks the same on any bytes: fuzz/harness.c.)
 * And what a follower takes without packing an event again
 * (wire_decode_canonical, codec_follow_event): each byte form protobuf-c
 * would not pack refused, through the check sequence a follower runs, and
 * the decoder's word on it the same as protobuf-c's packing. And an append's
 * request (its repeated events) decoded as protobuf-c decodes it.
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

/* An allocator that counts its calls, in front of a pool. */
typedef struct counting {
	codec_pool pool;
	unsigned calls;
} counting;

static void *counting_alloc(void *arg, size_t n)
{
	counting *c = arg;
	c->calls++;
	return codec_pool_alloc(&c->pool, n);
}

/* Strings and bytes point into one copy of the buffer (one allocation for
 * all of them, not one each): a join allocates the copy, the event and its
 * body; each string is NUL-terminated where it ends (the byte after it in
 * the copy is the next key, or the end), even one that ends a nested
 * message or the buffer, or is empty; the buffer is not written, and
 * overwriting it after the decode changes nothing decoded. */
static void test_strings_one_copy(void **state)
{
	(void)state;
	counting c = {.pool = CODEC_POOL_INIT};
	bytes b;
	Ledger__Event *ev = stored(tl_join("M1", "NJ-RIDER", 1), 7);
	ev->member_joined->platform = ""; /* empty: not packed (proto2 optional: packed) */
	static uint8_t personal[40] = {9, 8, 7};
	ev->member_joined->has_personal = 1;
	ev->member_joined->personal.len = sizeof(personal);
	ev->member_joined->personal.data = personal;
	pack_event(ev, &b);
	bytes before = b;
	Ledger__Event *w = (Ledger__Event *)wire_decode(&ledger__event__descriptor, b.b, b.n,
							counting_alloc, &c);
	assert_non_null(w);
	assert_int_equal(c.calls, 3);
	assert_memory_equal(b.b, before.b, b.n);
	memset(b.b, 0xff, b.n);
	Ledger__Event *ref = codec_event_unpack(before.b, before.n);
	assert_non_null(ref);
	assert_string_equal(w->actor, ref->actor);
	assert_string_equal(w->stream, ref->stream);
	assert_string_equal(w->member_joined->member_id, "M1");
	assert_string_equal(w->member_joined->org_id, "NJ-RIDER");
	assert_non_null(w->member_joined->platform);
	assert_string_equal(w->member_joined->platform, "");
	assert_int_equal(w->member_joined->personal.len, sizeof(personal));
	assert_memory_equal(w->member_joined->personal.data, personal, sizeof(personal));
	assert_memory_equal(w->hash.data, ref->hash.data, 32);
	bytes wb;
	pack_event(w, &wb);
	assert_int_equal(wb.n, before.n);
	assert_memory_equal(wb.b, before.b, before.n);
	codec_event_free(ref);

	/* A correction: a string that ends the nested body and the buffer. */
	c.calls = 0;
	Ledger__Event *a = stored(tl_amend(7, tl_join("M1", "NJ", 1)), 9);
	a->stream = NULL;
	pack_event(a, &b);
	before = b;
	w = (Ledger__Event *)wire_decode(&ledger__event__descriptor, b.b, b.n, counting_alloc, &c);
	assert_non_null(w);
	memset(b.b, 0, b.n);
	pack_event(w, &wb);
	assert_int_equal(wb.n, before.n);
	assert_memory_equal(wb.b, before.b, before.n);
	assert_true(c.calls <= 5); /* the copy and the messages only */
	codec_pool_free(&c.pool);
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

	/* A repeated field of another type than messages (a log read's
	 * kinds, packed or not): declined. */
	Ledger__ReadLogRequest rl = LEDGER__READ_LOG_REQUEST__INIT;
	Ledger__EventType kinds[2] = {LEDGER__EVENT_TYPE__MEMBER_JOINED,
				      LEDGER__EVENT_TYPE__MEMBER_TRANSFERRED};
	rl.n_types = 2;
	rl.types = kinds;
	uint8_t buf[4096];
	size_t n = protobuf_c_message_pack(&rl.base, buf);
	codec_pool pool = CODEC_POOL_INIT;
	assert_null(wire_decode(&ledger__read_log_request__descriptor, buf, n, codec_pool_alloc,
				&pool));
	static const uint8_t unpacked_kinds[] = {0x18, 0x01, 0x18, 0x02}; /* types = 1, 2 */
	assert_null(wire_decode(&ledger__read_log_request__descriptor, unpacked_kinds,
				sizeof(unpacked_kinds), codec_pool_alloc, &pool));
	assert_non_null(wire_decode(&ledger__event__descriptor, b.b, b.n, codec_pool_alloc, &pool));
	codec_pool_free(&pool);
	tl_free_all();
}

/* r packed, and the request wire_decode makes of bytes buf: the same
 * message as protobuf-c's (packed alike). */
static Ledger__Request *expect_same_request(const uint8_t *buf, size_t n, codec_pool *pool)
{
	Ledger__Request *w = (Ledger__Request *)wire_decode(&ledger__request__descriptor, buf, n,
							    codec_pool_alloc, pool);
	assert_non_null(w);
	Ledger__Request *ref = NULL;
	ld_errinfo e;
	assert_int_equal(codec_request_unpack(buf, n, &ref, &e), 0);
	size_t wn = codec_size(w), rn = codec_size(ref);
	assert_int_equal(wn, rn);
	uint8_t *wb = malloc(wn), *rb = malloc(rn);
	assert_non_null(wb);
	assert_non_null(rb);
	codec_pack(w, wb);
	codec_pack(ref, rb);
	assert_memory_equal(wb, rb, wn);
	free(wb);
	free(rb);
	codec_request_free(ref);
	return w;
}

/* An append's request decoded in one pass (the server's decoding, proto/
 * codec.c: protobuf-c's took 19% of NNG's threads' CPU in a batch): its
 * events in order, the flag after them or between them, the same message as
 * protobuf-c's; through codec_request_unpack_in into a pool too, and a
 * request it declines (an unknown field in an event) refused there as
 * protobuf-c refuses it, the pool emptied for protobuf-c's decoding. */
static void test_request_append(void **state)
{
	(void)state;
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__AppendRequest a = LEDGER__APPEND_REQUEST__INIT;
	Ledger__Event *evs[3] = {tl_join("M1", "NJ-RIDER", 1), tl_transfer("M1", "NJ-RIDER", "NJ-B"),
				 tl_end("M1")};
	a.n_events = 3;
	a.events = evs;
	a.has_atomic = a.atomic = 1;
	req.command_case = LEDGER__REQUEST__COMMAND_APPEND;
	req.append = &a;
	uint8_t buf[4096];
	size_t n = codec_size(&req);
	assert_true(n < sizeof(buf));
	codec_pack(&req, buf);
	codec_pool pool = CODEC_POOL_INIT;
	Ledger__Request *w = expect_same_request(buf, n, &pool);
	assert_int_equal(w->command_case, LEDGER__REQUEST__COMMAND_APPEND);
	assert_int_equal(w->append->n_events, 3);
	assert_true(w->append->atomic);
	assert_int_equal(w->append->events[1]->body_case, LEDGER__EVENT__BODY_MEMBER_TRANSFERRED);
	assert_string_equal(w->append->events[2]->membership_ended->member_id, "M1");

	/* The flag between the events, and the events' elements apart: one
	 * array in the order given, as protobuf-c gathers it. */
	uint8_t ev[3][1024], mixed[4096];
	size_t evn[3], at = 0;
	for (int i = 0; i < 3; i++) {
		evn[i] = codec_size(evs[i]);
		assert_true(evn[i] < 120);
		codec_pack(evs[i], ev[i]);
	}
	size_t inner = 0;
	for (int i = 0; i < 3; i++)
		inner += 2 + evn[i];
	inner += 2;
	mixed[at++] = 0x52; /* Request.append (10) */
	mixed[at++] = (uint8_t)(inner & 0x7f) | 0x80;
	mixed[at++] = (uint8_t)(inner >> 7);
	for (int i = 0; i < 3; i++) {
		if (i == 1) {
			mixed[at++] = 0x10; /* atomic = 1 */
			mixed[at++] = 0x01;
		}
		mixed[at++] = 0x0a; /* events (1) */
		mixed[at++] = (uint8_t)evn[i];
		memcpy(mixed + at, ev[i], evn[i]);
		at += evn[i];
	}
	w = expect_same_request(mixed, at, &pool);
	assert_int_equal(w->append->n_events, 3);
	assert_true(w->append->atomic);
	for (int i = 0; i < 3; i++)
		assert_int_equal(w->append->events[i]->body_case, evs[i]->body_case);
	codec_pool_free(&pool);

	/* Through the server's call: into its pool, the same bytes again. */
	ld_errinfo e;
	Ledger__Request *got = NULL;
	assert_int_equal(codec_request_unpack_in(buf, n, &pool, &got, &e), 0);
	assert_non_null(got);
	assert_non_null(pool.blocks);
	assert_int_equal(codec_size(got), n);
	uint8_t again[4096];
	codec_pack(got, again);
	assert_memory_equal(again, buf, n);
	codec_pool_reset(&pool);

	/* An unknown field in the second event: declined, and protobuf-c's
	 * refusal names where (as before). */
	uint8_t odd[4096];
	at = 0;
	inner += 3 - 2; /* no flag; 3 bytes of unknown field */
	odd[at++] = 0x52;
	odd[at++] = (uint8_t)(inner & 0x7f) | 0x80;
	odd[at++] = (uint8_t)(inner >> 7);
	for (int i = 0; i < 3; i++) {
		odd[at++] = 0x0a;
		odd[at++] = (uint8_t)(evn[i] + (i == 1 ? 3 : 0));
		memcpy(odd + at, ev[i], evn[i]);
		at += evn[i];
		if (i == 1) {
			odd[at++] = 0x98; /* field 99 = 1 */
			odd[at++] = 0x06;
			odd[at++] = 0x01;
		}
	}
	assert_null(wire_decode(&ledger__request__descriptor, odd, at, codec_pool_alloc, &pool));
	codec_pool_reset(&pool);
	got = NULL;
	assert_int_equal(codec_request_unpack_in(odd, at, &pool, &got, &e), LD_E(UNKNOWN_FIELD));
	assert_null(got);
	assert_string_equal(e.field, "append.events[1]");
	Ledger__Request *plain = NULL;
	ld_errinfo e2;
	assert_int_equal(codec_request_unpack(odd, at, &plain, &e2), LD_E(UNKNOWN_FIELD));
	assert_string_equal(e.message, e2.message);
	codec_pool_free(&pool);
	tl_free_all();
}

/* ---- Canonical bytes: what a follower takes without packing again ---- */

/* v as a varint, `pad` bytes longer than it takes (0x80 ... 0x00). */
static void put_var(bytes *w, uint64_t v, unsigned pad)
{
	uint8_t t[24];
	size_t k = 0;
	do {
		t[k++] = (uint8_t)(v & 0x7f) | 0x80;
		v >>= 7;
	} while (v);
	for (unsigned i = 0; i < pad; i++)
		t[k++] = 0x80;
	t[k - 1] &= 0x7f;
	append(w, t, k);
}

static void put_ld(bytes *w, unsigned field, const void *p, size_t n, unsigned pad)
{
	put_var(w, (uint64_t)field << 3 | 2, 0);
	put_var(w, n, pad);
	append(w, p, n);
}

/* A stored join, written by hand as protobuf-c packs it, except for what
 * `odd` says. */
typedef struct odd {
	int swap_top;           /* occurred_at (3) before event_id (2) */
	int swap_body;          /* the join's org_id (2) before member_id (1) */
	unsigned pad_key;       /* the region's key that many bytes longer */
	unsigned pad_value;     /* the region's value */
	unsigned pad_actor_len; /* the actor's length prefix */
	unsigned pad_body_len;  /* the body's length prefix */
	unsigned pad_version;   /* the version (7), a top-level varint */
	uint64_t worker_group;  /* the enum's varint as written (0: 3) */
	uint64_t channel;       /* (0: 1) */
	uint64_t region;        /* a uint32's (0: 320102) */
	uint64_t real_name;     /* a bool's (0: 1) */
	int64_t occurred_at;    /* an int64 (0: 1780000000000000; -1: 0) */
	const char *platform;   /* a string (NULL: "meituan") */
	size_t platform_len;    /* its bytes on the wire (0: strlen) */
	int second_actor;       /* "actor" again after the body */
	int no_event_id;        /* event_id left out */
	int expected_version;   /* expected_version (10) 1, before the body */
} odd;

static const uint8_t the_prev[LD_HASH_LEN] = {9, 9, 9};

static void odd_record(const odd *o, bytes *out)
{
	static const uint8_t id[LD_EVENT_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8,
						    9, 10, 11, 12, 13, 14, 15, 16};
	static const uint8_t person[32] = {7, 7, 7};
	const char *platform = o->platform ? o->platform : "meituan";
	size_t plen = o->platform_len ? o->platform_len : strlen(platform);
	bytes body = {.n = 0}, head = {.n = 0};
	/* MemberJoined */
	bytes m1 = {.n = 0}, m2 = {.n = 0};
	put_ld(&m1, 1, "M1", 2, 0);
	put_ld(&m2, 2, "NJ-RIDER", 8, 0);
	append(&body, o->swap_body ? m2.b : m1.b, o->swap_body ? m2.n : m1.n);
	append(&body, o->swap_body ? m1.b : m2.b, o->swap_body ? m1.n : m2.n);
	put_var(&body, 3 << 3, 0);
	put_var(&body, 1, 0);
	put_var(&body, 4 << 3, 0);
	put_var(&body, o->channel ? o->channel : 1, 0);
	put_var(&body, 5 << 3, 0);
	put_var(&body, o->worker_group ? o->worker_group : 3, 0);
	put_var(&body, 6 << 3, 0);
	put_var(&body, 1, 0);
	put_ld(&body, 7, platform, plen, 0);
	put_var(&body, 8 << 3, o->pad_key);
	put_var(&body, o->region ? o->region : 320102, o->pad_value);
	put_var(&body, 9 << 3, 0);
	put_var(&body, o->real_name ? o->real_name : 1, 0);
	put_ld(&body, 10, person, sizeof(person), 0);
	/* Event */
	out->n = 0;
	put_var(out, 1 << 3, 0);
	put_var(out, 7, 0);
	bytes e2 = {.n = 0}, e3 = {.n = 0};
	if (!o->no_event_id)
		put_ld(&e2, 2, id, sizeof(id), 0);
	put_var(&e3, 3 << 3, 0);
	int64_t occurred = o->occurred_at ? o->occurred_at : 1780000000000000LL;
	put_var(&e3, (uint64_t)(occurred == -1 ? 0 : occurred), 0);
	append(out, o->swap_top ? e3.b : e2.b, o->swap_top ? e3.n : e2.n);
	append(out, o->swap_top ? e2.b : e3.b, o->swap_top ? e2.n : e3.n);
	put_var(out, 4 << 3, 0);
	put_var(out, 1780000000000001LL, 0);
	put_ld(out, 5, "admin", 5, o->pad_actor_len);
	put_ld(out, 6, "member/M1", 9, 0);
	put_var(out, 7 << 3, 0);
	put_var(out, 3, o->pad_version);
	put_ld(out, 8, the_prev, LD_HASH_LEN, 0);
	uint8_t zero[LD_HASH_LEN] = {0};
	put_ld(out, 9, zero, LD_HASH_LEN, 0);
	if (o->expected_version) {
		put_var(out, 10 << 3, 0);
		put_var(out, 1, 0);
	}
	put_ld(&head, 30, body.b, body.n, o->pad_body_len);
	append(out, head.b, head.n);
	if (o->second_actor)
		put_ld(out, 5, "evil", 4, 0);
	/* Its hash, as a follower computes it: over the bytes as they are
	 * when they are laid out as a writer packs (codec_stored_hash), else
	 * over its event packed again. */
	uint8_t h[LD_HASH_LEN];
	if (codec_stored_hash(out->b, out->n, h) != 0) {
		Ledger__Event *ev = codec_event_unpack(out->b, out->n);
		assert_non_null(ev);
		assert_int_equal(codec_event_hash(ev, h), 0);
		codec_event_free(ev);
	}
	const uint8_t *at;
	assert_int_equal(codec_peek_hash(out->b, out->n, &at), 0);
	memcpy(out->b + (at - out->b), h, LD_HASH_LEN);
}

/*
 * The record `o` describes, through what a follower does with each event
 * (codec_follow_event, its hash given by its content, and again as a bare
 * group's filled hash): taken when `says` is NULL, else refused saying
 * `says`. The decoder says the bytes are the event's packing when
 * `packing`, and its word is checked against protobuf-c: it says so
 * exactly when protobuf-c's packing of what it decoded is the bytes.
 */
static void expect_follow(const odd *o, int packing, const char *says)
{
	bytes b;
	odd_record(o, &b);
	codec_pool pool = CODEC_POOL_INIT;
	int said = -1;
	Ledger__Event *w = (Ledger__Event *)wire_decode_canonical(
	    &ledger__event__descriptor, b.b, b.n, codec_pool_alloc, &pool, &said);
	if (w) {
		bytes again;
		pack_event(w, &again);
		int same = again.n == b.n && memcmp(again.b, b.b, b.n) == 0;
		assert_int_equal(said, same);
		assert_int_equal(said, packing);
	} else {
		assert_int_equal(said, 0);
	}
	const uint8_t *h;
	assert_int_equal(codec_peek_hash(b.b, b.n, &h), 0);
	for (int hashed = 0; hashed <= 1; hashed++) {
		Ledger__Event *ev;
		char why[200] = "";
		int rc = codec_follow_event(b.b, b.n, h, 7, the_prev, hashed, &pool, &ev, why,
					    sizeof(why));
		if (!says) {
			if (rc != 0)
				fail_msg("refused: %s", why);
			assert_non_null(ev);
			assert_int_equal(ev->seq, 7);
		} else {
			assert_int_equal(rc, LD_E(CHAIN_BROKEN));
			assert_null(ev);
			if (!strstr(why, says))
				fail_msg("refused with '%s', not '%s'", why, says);
		}
	}
	codec_pool_free(&pool);
}

#define NOT_CANONICAL "not its canonical packing"

/* The record as protobuf-c packs it: taken, no packing needed. And
 * proto2's optional fields are packed whenever present (has_ set): a zero
 * int64 and an empty string written are its packing too. */
static void test_canonical_taken(void **state)
{
	(void)state;
	expect_follow(&(odd){0}, 1, NULL);
	expect_follow(&(odd){.occurred_at = -1}, 1, NULL);
	expect_follow(&(odd){.platform = ""}, 1, NULL);
	/* A negative enum in 10 bytes, as int32_pack writes it. */
	expect_follow(&(odd){.worker_group = UINT64_MAX}, 1, NULL);
}

/* Fields swapped inside the body: as long, the same event decoded, not its
 * packing. */
static void test_canonical_body_order(void **state)
{
	(void)state;
	expect_follow(&(odd){.swap_body = 1}, 0, NOT_CANONICAL);
}

/* occurred_at before event_id: not laid out as a writer packs (hashed
 * through its packing), and not its packing. */
static void test_canonical_top_order(void **state)
{
	(void)state;
	expect_follow(&(odd){.swap_top = 1}, 0, NOT_CANONICAL);
}

/* A varint value in more bytes than it takes: in the body (the region) and
 * at the top (the version, whose bytes are hashed as they are). */
static void test_canonical_long_varint(void **state)
{
	(void)state;
	expect_follow(&(odd){.pad_value = 1}, 0, NOT_CANONICAL);
	expect_follow(&(odd){.pad_value = 4}, 0, NOT_CANONICAL);
	expect_follow(&(odd){.pad_version = 1}, 0, NOT_CANONICAL);
}

/* A key in more bytes than it takes (the region's, in 2 to 5). */
static void test_canonical_long_key(void **state)
{
	(void)state;
	expect_follow(&(odd){.pad_key = 1}, 0, NOT_CANONICAL);
	expect_follow(&(odd){.pad_key = 3}, 0, NOT_CANONICAL);
}

/* A length prefix in more bytes than it takes: a string's (the actor) and
 * a sub-message's (the body). */
static void test_canonical_long_length(void **state)
{
	(void)state;
	expect_follow(&(odd){.pad_actor_len = 1}, 0, NOT_CANONICAL);
	expect_follow(&(odd){.pad_body_len = 1}, 0, NOT_CANONICAL);
}

/* A negative enum written in 5 bytes (its low 32 bits): protobuf-c reads
 * it and packs it in 10. And an enum with bits above 32, which protobuf-c
 * drops. */
static void test_canonical_short_negative_enum(void **state)
{
	(void)state;
	expect_follow(&(odd){.worker_group = 0xffffffffu}, 0, NOT_CANONICAL);
	expect_follow(&(odd){.channel = ((uint64_t)1 << 32) | 1}, 0, NOT_CANONICAL);
}

/* A uint32 wider than 32 bits, a bool written as 2: decoded to what packs
 * otherwise. */
static void test_canonical_out_of_range(void **state)
{
	(void)state;
	expect_follow(&(odd){.region = ((uint64_t)1 << 32) + 320102}, 0, NOT_CANONICAL);
	expect_follow(&(odd){.real_name = 2}, 0, NOT_CANONICAL);
}

/* A string with a NUL inside: protobuf-c packs it up to the NUL. */
static void test_canonical_string_nul(void **state)
{
	(void)state;
	expect_follow(&(odd){.platform = "mei\0tuan", .platform_len = 8}, 0, NOT_CANONICAL);
	expect_follow(&(odd){.platform = "\0", .platform_len = 1}, 0, NOT_CANONICAL);
}

/* A second actor after the body (its length paid for by a negative enum
 * in 5 bytes): a field given twice is declined by the strict decoding. */
static void test_canonical_second_actor(void **state)
{
	(void)state;
	expect_follow(&(odd){.second_actor = 1, .worker_group = 0xffffffffu}, 0,
		      "does not decode as a writer packs");
}

/* The bytes are the event's packing, but not what a writer stores: no
 * event_id (the write model indexes 16 bytes of it), an expected_version
 * (request only; the hash leaves it out). */
static void test_canonical_not_stored(void **state)
{
	(void)state;
	expect_follow(&(odd){.no_event_id = 1}, 1, "no event_id of 16 bytes");
	expect_follow(&(odd){.expected_version = 1}, 1, NOT_CANONICAL);
}

/* codec_follow_event's other steps, each naming what failed: another seq,
 * another prev_hash, a hash its content does not give (unless computed
 * here: hashed), a record naming another hash. */
static void test_follow_steps(void **state)
{
	(void)state;
	bytes b;
	odd_record(&(odd){0}, &b);
	const uint8_t *h;
	assert_int_equal(codec_peek_hash(b.b, b.n, &h), 0);
	size_t at = (size_t)(h - b.b);
	uint8_t other[LD_HASH_LEN];
	memcpy(other, h, LD_HASH_LEN);
	other[0] ^= 1;
	codec_pool pool = CODEC_POOL_INIT;
	Ledger__Event *ev;
	char why[200];
	for (int hashed = 0; hashed <= 1; hashed++) {
		assert_int_equal(codec_follow_event(b.b, b.n, h, 8, the_prev, hashed, &pool, &ev,
						    why, sizeof why),
				 LD_E(CHAIN_BROKEN));
		assert_non_null(strstr(why, "says it is seq 7"));
		assert_int_equal(codec_follow_event(b.b, b.n, h, 7, other, hashed, &pool, &ev, why,
						    sizeof why),
				 LD_E(CHAIN_BROKEN));
		assert_non_null(strstr(why, "is not the hash of seq 6"));
	}
	assert_int_equal(codec_follow_event(b.b, b.n, other, 7, the_prev, 1, &pool, &ev, why,
					    sizeof why),
			 LD_E(CHAIN_BROKEN));
	assert_non_null(strstr(why, "names another hash"));
	assert_null(ev);
	b.b[at] ^= 1; /* the event's own hash field */
	assert_int_equal(codec_follow_event(b.b, b.n, b.b + at, 7, the_prev, 0, &pool, &ev, why,
					    sizeof why),
			 LD_E(CHAIN_BROKEN));
	assert_non_null(strstr(why, "does not give its stored hash"));
	assert_int_equal(codec_follow_event(b.b, b.n, b.b + at, 7, the_prev, 1, &pool, &ev, why,
					    sizeof why),
			 0);
	assert_non_null(ev);
	codec_pool_free(&pool);
}

/*
 * What protobuf-c does with fields of other labels, which ledger.proto
 * (proto2, every field optional) has none of: a MemberJoined read as if
 * proto3 (no label: a field holding zero or empty is not packed) and with
 * a required field (packed always). The descriptor is a copy with its
 * labels changed; the message the same struct.
 */
static void proto3_like(ProtobufCMessageDescriptor *d, ProtobufCFieldDescriptor *f,
			ProtobufCLabel label)
{
	const ProtobufCMessageDescriptor *src = &ledger__member_joined__descriptor;
	*d = *src;
	memcpy(f, src->fields, src->n_fields * sizeof(*f));
	for (unsigned i = 0; i < src->n_fields; i++)
		f[i].label = label;
	d->fields = f;
}

/* The decoder's word on b as a message of d, checked against protobuf-c's
 * packing of what it decoded (packed by d). */
static int said_canonical(const ProtobufCMessageDescriptor *d, const bytes *b)
{
	codec_pool pool = CODEC_POOL_INIT;
	int said = -1;
	ProtobufCMessage *m =
	    wire_decode_canonical(d, b->b, b->n, codec_pool_alloc, &pool, &said);
	assert_non_null(m);
	m->descriptor = d;
	bytes again = {.n = protobuf_c_message_get_packed_size(m)};
	assert_true(again.n <= sizeof(again.b));
	assert_int_equal(protobuf_c_message_pack(m, again.b), again.n);
	assert_int_equal(said, again.n == b->n && memcmp(again.b, b->b, b->n) == 0);
	codec_pool_free(&pool);
	return said;
}

static void test_canonical_other_labels(void **state)
{
	(void)state;
	ProtobufCMessageDescriptor d;
	ProtobufCFieldDescriptor f[16];
	assert_true(ledger__member_joined__descriptor.n_fields <= 16);
	bytes b = {.n = 0};

	proto3_like(&d, f, PROTOBUF_C_LABEL_NONE);
	put_ld(&b, 1, "M1", 2, 0);
	put_var(&b, 8 << 3, 0);
	put_var(&b, 320102, 0);
	assert_true(said_canonical(&d, &b));
	bytes zero = b;
	put_var(&zero, 9 << 3, 0); /* real_name false, present */
	put_var(&zero, 0, 0);
	assert_false(said_canonical(&d, &zero));
	bytes empty = b;
	put_ld(&empty, 10, "", 0, 0); /* person_hash, empty */
	assert_false(said_canonical(&d, &empty));
	bytes estr = {.n = 0};
	put_ld(&estr, 1, "", 0, 0); /* member_id "" */
	put_var(&estr, 8 << 3, 0);
	put_var(&estr, 320102, 0);
	assert_false(said_canonical(&d, &estr));

	/* Required: packed whatever it holds, so absent is not canonical. */
	proto3_like(&d, f, PROTOBUF_C_LABEL_REQUIRED);
	bytes all = {.n = 0};
	put_ld(&all, 1, "", 0, 0);
	put_ld(&all, 2, "", 0, 0);
	for (unsigned k = 3; k <= 6; k++) {
		put_var(&all, k << 3, 0);
		put_var(&all, 0, 0);
	}
	put_ld(&all, 7, "", 0, 0);
	put_var(&all, 8 << 3, 0);
	put_var(&all, 0, 0);
	put_var(&all, 9 << 3, 0);
	put_var(&all, 0, 0);
	for (unsigned k = 10; k <= 14; k++)
		put_ld(&all, k, "", 0, 0);
	assert_true(said_canonical(&d, &all));
	bytes missing = {.n = 0};
	append(&missing, all.b + 2, all.n - 2); /* member_id left out */
	assert_false(said_canonical(&d, &missing));
	missing = all;
	missing.n -= 2; /* personal (14), the last, left out */
	assert_false(said_canonical(&d, &missing));

	/* A sint32 wider than 32 bits (the region read as one): protobuf-c
	 * keeps the low 32 bits. */
	proto3_like(&d, f, PROTOBUF_C_LABEL_OPTIONAL);
	f[7].type = PROTOBUF_C_TYPE_SINT32;
	bytes wide = {.n = 0};
	put_var(&wide, 8 << 3, 0);
	put_var(&wide, 2, 0);
	assert_true(said_canonical(&d, &wide));
	wide.n = 0;
	put_var(&wide, 8 << 3, 0);
	put_var(&wide, ((uint64_t)1 << 32) | 2, 0);
	assert_false(said_canonical(&d, &wide));
}

/* A catch-up's page answer decoded within a budget
 * (codec_response_unpack_within): 1 MiB of empty events, 2 bytes each on
 * the wire and over 200 decoded, refused as too large; a page of records
 * as large, within twice its size, decoded. */
static void test_response_within(void **state)
{
	(void)state;
	size_t n = (size_t)1 << 20, at = 0;
	uint8_t *b = malloc(n + 16);
	assert_non_null(b);
	b[at++] = 0x92; /* Response.subscription (50), length-delimited */
	b[at++] = 0x03;
	b[at++] = 0x80; /* its length, n: 3 bytes */
	b[at++] = 0x80;
	b[at++] = 0x40;
	for (size_t i = 0; i < n / 2; i++) { /* SubscribePage.events (1), empty */
		b[at++] = 0x0a;
		b[at++] = 0x00;
	}
	int too_large = 0;
	Ledger__Response *r = codec_response_unpack_within(b, at, 2 * at, &too_large);
	assert_null(r);
	assert_true(too_large);
	/* The same bytes, unbounded: what the budget keeps out. */
	r = codec_response_unpack(b, at);
	assert_non_null(r);
	assert_int_equal(r->subscription->n_events, n / 2);
	codec_response_free(r);

	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__SubscribePage pg = LEDGER__SUBSCRIBE_PAGE__INIT;
	memset(b, 0x5a, n);
	pg.has_records = 1;
	pg.records.data = b;
	pg.records.len = n;
	pg.has_head_seq = 1;
	pg.head_seq = 7;
	resp.result_case = LEDGER__RESPONSE__RESULT_SUBSCRIPTION;
	resp.subscription = &pg;
	size_t len = codec_size(&resp);
	uint8_t *packed = malloc(len);
	assert_non_null(packed);
	assert_int_equal(codec_pack(&resp, packed), len);
	too_large = 1;
	r = codec_response_unpack_within(packed, len, 2 * len, &too_large);
	assert_non_null(r);
	assert_false(too_large);
	assert_int_equal(r->subscription->records.len, n);
	assert_memory_equal(r->subscription->records.data, b, n);
	codec_response_free(r);
	free(packed);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_records_decode),
	    cmocka_unit_test(test_strings_one_copy),
	    cmocka_unit_test(test_declined),
	    cmocka_unit_test(test_request_append),
	    cmocka_unit_test(test_canonical_taken),
	    cmocka_unit_test(test_canonical_body_order),
	    cmocka_unit_test(test_canonical_top_order),
	    cmocka_unit_test(test_canonical_long_varint),
	    cmocka_unit_test(test_canonical_long_key),
	    cmocka_unit_test(test_canonical_long_length),
	    cmocka_unit_test(test_canonical_short_negative_enum),
	    cmocka_unit_test(test_canonical_out_of_range),
	    cmocka_unit_test(test_canonical_string_nul),
	    cmocka_unit_test(test_canonical_second_actor),
	    cmocka_unit_test(test_canonical_not_stored),
	    cmocka_unit_test(test_follow_steps),
	    cmocka_unit_test(test_canonical_other_labels),
	    cmocka_unit_test(test_response_within),
	};
	return tl_run_tests(tests, NULL, NULL);
}
