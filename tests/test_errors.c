/*
 * test_errors.c — an error's text is always valid UTF-8 (Error.message and
 * Error.field are protobuf strings), whatever a request holds. Messages
 * quote the request's own bytes ("'%.80s' is not an identifier", "stream
 * '%s' not found"), which may be invalid UTF-8 themselves or cut in the
 * middle of a Chinese character by a precision or by the buffer's end.
 *
 * test_ld_errinfo_utf8: ld_errinfo_set (proto/codec.c, where every error
 * is formatted) on text cut and broken every way, checked by glibc's iconv.
 * test_mutated_requests: a real daemon gets 3,000 requests mutated from the
 * fuzzers' seeds and from requests full of Chinese ids, names and paths
 * (bytes flipped, parts of Chinese characters written over them, cut
 * short); every error in every answer, whole-request or per event, must be
 * valid UTF-8 by iconv.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "client.h"
#include "codec.h"
#include "testlib.h"

#define TIMEOUT_MS 10000
#define MUTATED 3000

static tl_daemon D;

static int teardown(void **state)
{
	tl_daemon_discard(&D);
	return 0;
}

/* 1 if s is valid UTF-8, as glibc's iconv reads it. */
static int valid_utf8(const char *s)
{
	iconv_t cd = iconv_open("UTF-8", "UTF-8");
	assert_true(cd != (iconv_t)-1);
	size_t n = strlen(s), room = n + 16;
	char *out = malloc(room), *o = out, *in = (char *)s;
	assert_non_null(out);
	size_t rc = iconv(cd, &in, &n, &o, &room);
	iconv_close(cd);
	free(out);
	return rc != (size_t)-1 && n == 0;
}

/* ------------------------------------------------------------------ */
/* The formatter                                                       */
/* ------------------------------------------------------------------ */

static void test_ld_errinfo_utf8(void **state)
{
	ld_errinfo e;
	/* "南京市" is 9 bytes; %.4s and %.8s cut its second and third character. */
	ld_errinfo_set(&e, LD_E(INVALID_VALUE), NULL, "'%.4s' is not an identifier", "南京市");
	assert_string_equal(e.message, "'南?' is not an identifier");
	ld_errinfo_set(&e, LD_E(INVALID_VALUE), NULL, "id %.8s", "南京市");
	assert_string_equal(e.message, "id 南京"); /* cut at the end: dropped */
	/* Bytes that begin no character: each one '?'. */
	ld_errinfo_set(&e, LD_E(NOT_FOUND), NULL, "stream '%s' not found", "a\xff\xc0\xafz\xed\xa0\x80");
	assert_string_equal(e.message, "stream 'a?" "?" "?z?" "?" "?' not found");
	assert_true(valid_utf8(e.message));
	/* The end of the buffer cuts the last character of a long message. */
	char big[400];
	size_t n = 0;
	while (n + 3 < sizeof(big)) {
		memcpy(big + n, "骑", 3);
		n += 3;
	}
	big[n] = 0;
	for (int lead = 0; lead < 3; lead++) {
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "member_joined.name", "%.*s%s", lead, "xx",
			       big);
		assert_true(valid_utf8(e.message));
		assert_true(strlen(e.message) >= sizeof(e.message) - 4);
	}
	/* Four-byte characters, overlong forms, surrogates, above U+10FFFF. */
	ld_errinfo_set(&e, LD_E(INVALID_VALUE), NULL, "%s|%s|%s|%s", "😀", "\xf0\x8f\xbf\xbf",
		       "\xed\xbf\xbf", "\xf4\x90\x80\x80");
	assert_true(valid_utf8(e.message));
	assert_non_null(strstr(e.message, "😀|"));
	/* Appended to: code, field and seq kept, the end cut as the set's. */
	ld_errinfo_set(&e, LD_E(DISK_FULL), "backup.dir", "the disk is full");
	e.seq = 7;
	ld_errinfo_append(&e, "; %s", "what it had copied was removed");
	assert_string_equal(e.message, "the disk is full; what it had copied was removed");
	assert_int_equal(e.code, LD_E(DISK_FULL));
	assert_string_equal(e.field, "backup.dir");
	assert_int_equal(e.seq, 7);
	ld_errinfo_append(&e, "%s", big);
	assert_true(valid_utf8(e.message));
	assert_true(strlen(e.message) >= sizeof(e.message) - 4);
	ld_errinfo_append(NULL, "%s", "nothing"); /* as ld_errinfo_set(NULL, ...) */
	/* The field too. */
	ld_errinfo_set(&e, LD_E(INVALID_VALUE), "a\xe5\x8d", "x");
	assert_true(valid_utf8(e.field));
	/* Every byte value after a Chinese prefix, cut at every length. */
	for (int b = 0; b < 256; b++)
		for (int cut = 0; cut < 8; cut++) {
			char s[8] = {(char)0xe4, (char)0xb8, (char)0xad, (char)b, (char)0x80,
				     (char)0x80, 'z', 0};
			ld_errinfo_set(&e, 1, NULL, "%.*s", cut, s);
			if (!valid_utf8(e.message))
				fail_msg("byte %02x cut at %d: not UTF-8", b, cut);
		}
}

/* ------------------------------------------------------------------ */
/* Mutated requests against a daemon                                   */
/* ------------------------------------------------------------------ */

typedef struct seed {
	uint8_t *b;
	size_t n;
} seed;

static seed seeds[128];
static size_t nseeds, first_chinese;

static void add_seed(const void *msg)
{
	assert_true(nseeds < sizeof(seeds) / sizeof(seeds[0]));
	size_t n = codec_size(msg);
	uint8_t *b = tl_alloc(n + 1);
	codec_pack(msg, b);
	seeds[nseeds++] = (seed){b, n};
}

/* A request whose command is msg, the Request's oneof field named
 * `command` ("append", "read_stream", ...). */
static void add_command(const char *command, void *msg)
{
	Ledger__Request r = LEDGER__REQUEST__INIT;
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(&ledger__request__descriptor, command);
	assert_non_null(f);
	assert_true(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);
	*(void **)((char *)&r + f->offset) = msg;
	*(uint32_t *)((char *)&r + f->quantifier_offset) = f->id;
	add_seed(&r);
}

/* The fuzzers' request seeds (fuzz/corpus/request). */
static void corpus_seeds(void)
{
	char dir[4096];
	const char *root = getenv("ROOT");
	snprintf(dir, sizeof(dir), "%s/fuzz/corpus/request", root ? root : ".");
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)) && nseeds < 64) {
		char path[8192];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		uint8_t *b = tl_alloc((size_t)st.st_size + 1);
		assert_int_equal(fread(b, 1, (size_t)st.st_size, f), (size_t)st.st_size);
		fclose(f);
		seeds[nseeds++] = (seed){b, (size_t)st.st_size};
	}
	closedir(d);
}

/* n repetitions of s, in the test's arena. */
static char *rep(const char *s, int n)
{
	size_t l = strlen(s);
	char *o = tl_alloc(l * (size_t)n + 1);
	for (int i = 0; i < n; i++)
		memcpy(o + l * (size_t)i, s, l);
	return o;
}

/* Requests whose every error quotes Chinese text of the request. */
static void chinese_seeds(void)
{
	const char *long_id = rep("南京骑手", 12); /* 144 bytes: cut by %.80s */
	const char *id = rep("骑", 7);

	/* Appends: an org id, a member id, a name, a station, an amendment. */
	Ledger__Event *evs[6];
	evs[0] = tl_join(long_id, "NJ", 1);
	evs[1] = tl_join("M1", long_id, 2);
	evs[2] = tl_org(id, LEDGER__ORG_KIND__INDUSTRY_UNION, long_id, 320100);
	evs[3] = tl_service("NJ", "M1", LEDGER__SERVICE_KIND__LEGAL_AID);
	evs[3]->service_delivered->station_id = (char *)long_id;
	evs[4] = tl_transfer(id, long_id, "SZ");
	evs[5] = tl_amend(3, tl_dues(long_id, 100));
	Ledger__AppendRequest one[6], all = LEDGER__APPEND_REQUEST__INIT;
	for (int i = 0; i < 6; i++) {
		one[i] = (Ledger__AppendRequest)LEDGER__APPEND_REQUEST__INIT;
		one[i].n_events = 1;
		one[i].events = &evs[i];
		add_command("append", &one[i]);
	}
	all.n_events = 6;
	all.events = evs;
	add_command("append", &all);

	/* Reads and queries that quote what they were given. */
	Ledger__ReadStreamRequest rs = LEDGER__READ_STREAM_REQUEST__INIT;
	Ledger__GetMemberRequest gm = LEDGER__GET_MEMBER_REQUEST__INIT;
	Ledger__HistoryRequest h = LEDGER__HISTORY_REQUEST__INIT;
	Ledger__CoverageRequest cv = LEDGER__COVERAGE_REQUEST__INIT;
	Ledger__ProgressRequest pg = LEDGER__PROGRESS_REQUEST__INIT;
	Ledger__SubscribeFilter sf = LEDGER__SUBSCRIBE_FILTER__INIT;
	Ledger__SubscribeRequest sr = LEDGER__SUBSCRIBE_REQUEST__INIT;
	Ledger__BackupRequest bk = LEDGER__BACKUP_REQUEST__INIT;
	Ledger__ForgetRequest fg = LEDGER__FORGET_REQUEST__INIT;
	rs.stream = tl_strdup("member/骑手骑手骑手");
	gm.member_id = (char *)long_id;
	h.member_id = (char *)id;
	cv.org_id = (char *)long_id;
	pg.plan = (char *)long_id;
	sf.org_subtree = (char *)long_id;
	sr.filter = &sf;
	sr.subscriber_id = (char *)long_id;
	bk.dir = (char *)long_id;
	fg.member_id = (char *)long_id;
	fg.reason = (char *)long_id;
	const struct {
		const char *command;
		void *msg;
	} reads[] = {
	    {"read_stream", &rs}, {"get_member", &gm}, {"history", &h},
	    {"coverage", &cv},    {"progress", &pg},   {"subscribe", &sr},
	    {"backup", &bk},      {"forget", &fg},
	};
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		add_command(reads[i].command, reads[i].msg);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (uint32_t)(rng_state % n) : 0;
}

/* A copy of s with 1 to 4 mutations: a byte changed, part of a Chinese
 * character written over the bytes, a byte inserted, the end cut off. */
static uint8_t *mutate(const seed *s, size_t *out)
{
	static const char *const han[] = {"南", "京", "骑", "手", "😀"};
	size_t n = s->n, cap = s->n + 64;
	/* Zeroed: an empty seed is sent as one byte (nng_send of n ? n : 1),
	 * which is then defined (valgrind saw it go out uninitialised). */
	uint8_t *b = calloc(1, cap);
	assert_non_null(b);
	memcpy(b, s->b, n);
	for (uint32_t m = 1 + rnd(4); m > 0 && n > 0; m--) {
		size_t at = rnd((uint32_t)n);
		switch (rnd(4)) {
		case 0:
			b[at] = (uint8_t)rnd(256);
			break;
		case 1: {
			const char *c = han[rnd(5)];
			size_t k = 1 + rnd((uint32_t)strlen(c)); /* often a part of it */
			for (size_t i = 0; i < k && at + i < n; i++)
				b[at + i] = (uint8_t)c[i];
			break;
		}
		case 2:
			if (n + 1 < cap) {
				memmove(b + at + 1, b + at, n - at);
				b[at] = (uint8_t)(0x80 + rnd(0x80));
				n++;
			}
			break;
		default:
			n = at + 1;
			break;
		}
	}
	*out = n;
	return b;
}

typedef struct tally {
	unsigned requests, answered, errors, invalid;
} tally;

static void check_error(const Ledger__Error *err, tally *t, size_t req)
{
	if (!err)
		return;
	t->errors++;
	int ok = (!err->message || valid_utf8(err->message)) && (!err->field || valid_utf8(err->field));
	if (!ok) {
		if (t->invalid < 5)
			fprintf(stderr, "request %zu: an error not in UTF-8: message '%s' field '%s'\n",
				req, err->message ? err->message : "", err->field ? err->field : "");
		t->invalid++;
	}
}

static void test_mutated_requests(void **state)
{
	if (tl_daemon_start(&D, NULL) != 0)
		fail_msg("ledgerd did not start");
	/* A small tree, so that appends reach the write model's checks. */
	ldc *c;
	ld_errinfo e = {0};
	assert_int_equal(ldc_open(&c, D.url, TIMEOUT_MS, &e), 0);
	Ledger__Event *tree[] = {
	    tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000),
	    tl_org("NJ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100),
	    tl_org("SZ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320500),
	    tl_join("M1", "NJ", 1),
	};
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
		Ledger__Response *r = NULL;
		assert_int_equal(ldc_append(c, &tree[i], 1, 0, &r, &e), 0);
		codec_response_free(r);
	}
	ldc_close(c);

	nseeds = 0;
	corpus_seeds();
	first_chinese = nseeds;
	chinese_seeds();
	nng_socket s;
	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, TIMEOUT_MS);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, TIMEOUT_MS);
	assert_int_equal(nng_dial(s, D.url, NULL, 0), 0);
	tally t = {0};
	for (size_t i = 0; i < MUTATED; i++) {
		size_t n;
		/* The Chinese seeds (the last ones) half of the time. */
		size_t k = rnd(2) ? first_chinese + rnd((uint32_t)(nseeds - first_chinese))
				  : rnd((uint32_t)nseeds);
		uint8_t *b = mutate(&seeds[k], &n);
		void *ans = NULL;
		size_t an = 0;
		t.requests++;
		int rv = nng_send(s, b, n ? n : 1, 0);
		free(b);
		if (rv == 0)
			rv = nng_recv(s, &ans, &an, NNG_FLAG_ALLOC);
		if (rv)
			fail_msg("request %zu: %s", i, nng_strerror(rv));
		Ledger__Response *r = codec_response_unpack(ans, an);
		nng_free(ans, an);
		if (!r)
			fail_msg("request %zu: the answer is not a Response", i);
		t.answered++;
		check_error(r->error, &t, i);
		if (r->result_case == LEDGER__RESPONSE__RESULT_APPEND)
			for (size_t j = 0; j < r->append->n_results; j++)
				check_error(r->append->results[j]->error, &t, i);
		codec_response_free(r);
	}
	nng_close(s);
	fprintf(stderr, "%u requests from %zu seeds, %u answered, %u errors, %u not UTF-8\n",
		t.requests, nseeds, t.answered, t.errors, t.invalid);
	assert_true(t.errors > MUTATED / 2);
	if (t.invalid)
		fail_msg("%u of %u errors are not valid UTF-8", t.invalid, t.errors);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_ld_errinfo_utf8, teardown),
	    cmocka_unit_test_teardown(test_mutated_requests, teardown),
	};
	return tl_run_tests(tests, NULL, NULL);
}
