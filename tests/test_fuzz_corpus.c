/*
 * test_fuzz_corpus.c — replays the fuzzers' seed corpora and every input a
 * fuzzer ever crashed on (fuzz/corpus/<target>/, fuzz/regress/<target>/)
 * through the same harness bodies as `make fuzz` (fuzz/harness.c), here built
 * with gcc and ASan+UBSan like the rest of `make test`. A harness aborts on a
 * property that does not hold; ASan and UBSan stop on memory and UB errors.
 *
 * fuzz_model replays the request seeds (and fuzz/regress/model/) through
 * the write model; fuzz_wire, through wire_decode beside protobuf-c.
 *
 * Also checks that the seeds still reach deep: most requests decode, most
 * seed events pass check_event (and then go through hashing and packing as
 * the writer would), and both shipped plans load — so a schema change that
 * silently turns the corpus into noise fails here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The harness bodies, compiled into this test (the Makefile links only
 * the tests/ sources into test binaries). */
#include "../fuzz/harness.c"
#include "testlib.h"

static const char *root(void)
{
	const char *r = getenv("ROOT");
	return r ? r : ".";
}

/* Runs fn over every regular file of ROOT/fuzz/<sub>; returns the count. */
static unsigned replay(const char *sub, int (*fn)(const uint8_t *, size_t))
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/fuzz/%s", root(), sub);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		return 0;
	unsigned count = 0;
	for (int i = 0; i < n; i++) {
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		int hidden = names[i]->d_name[0] == '.';
		free(names[i]);
		struct stat st;
		if (hidden || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		/* Exactly the file's bytes, so ASan sees a read past the end. */
		uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
		assert_non_null(buf);
		size_t got = fread(buf, 1, (size_t)st.st_size, f);
		fclose(f);
		assert_int_equal(got, (size_t)st.st_size);
		fn(buf, got);
		free(buf);
		count++;
	}
	free(names);
	return count;
}

/* A target's run: fuzz_seen cleared, its seeds (fuzz/corpus/<corpus>) and
 * then its regressions (fuzz/regress/<regress>) through fn; the seeds'
 * count, and the regressions' in *crashes. */
static unsigned replay_target(const char *corpus, const char *regress,
			      int (*fn)(const uint8_t *, size_t), unsigned *crashes)
{
	char sub[256];
	memset(&fuzz_seen, 0, sizeof(fuzz_seen));
	snprintf(sub, sizeof(sub), "corpus/%s", corpus);
	unsigned seeds = replay(sub, fn);
	snprintf(sub, sizeof(sub), "regress/%s", regress);
	*crashes = replay(sub, fn);
	return seeds;
}

static void test_request_corpus(void **state)
{
	(void)state;
	unsigned crashes;
	unsigned seeds = replay_target("request", "request", fuzz_request, &crashes);
	print_message("request: %u seeds, %u regressions; %lu decoded (%lu in one pass), %lu "
		      "appends, %lu of %lu events passed the checks, %lu of them hashed as stored\n",
		      seeds, crashes, fuzz_seen.decoded, fuzz_seen.wire_requests, fuzz_seen.appends,
		      fuzz_seen.events_passed, fuzz_seen.events, fuzz_seen.stored_hashed);
	assert_true(seeds >= 30);
	assert_true(fuzz_seen.decoded * 10 >= (unsigned long)seeds * 8);
	assert_true(fuzz_seen.events_passed >= 20);
	assert_true(fuzz_seen.stored_hashed >= 10); /* as stored: codec_stored_hash */
	/* The appends' requests decoded by the server's one pass too. */
	assert_true(fuzz_seen.wire_requests >= fuzz_seen.appends);
}

/* The request seeds again, through the write model on a small ledger. */
static void test_model_corpus(void **state)
{
	(void)state;
	unsigned crashes;
	unsigned seeds = replay_target("request", "model", fuzz_model, &crashes);
	print_message("model: %u seeds, %u regressions; %lu of %lu checked events accepted by "
		      "the write model\n",
		      seeds, crashes, fuzz_seen.events_passed, fuzz_seen.events);
	assert_true(seeds >= 30);
	assert_true(fuzz_seen.events_passed >= 10);
	assert_true(fuzz_seen.events_passed < fuzz_seen.events); /* and some refused */
}

/* The request seeds as stored events: wire_decode beside protobuf-c. */
static void test_wire_corpus(void **state)
{
	(void)state;
	unsigned crashes;
	unsigned seeds = replay_target("wire", "wire", fuzz_wire, &crashes);
	print_message("wire: %u seeds, %u regressions; %lu events packed as records decoded, "
		      "%lu seeds decoded as events themselves, %lu bare groups filled; %lu said "
		      "canonical, %lu records taken by a follower's checks (%lu with the hash "
		      "as filled)\n",
		      seeds, crashes, fuzz_seen.wire_canonical, fuzz_seen.wire_decoded,
		      fuzz_seen.groups_filled, fuzz_seen.wire_said_canonical,
		      fuzz_seen.records_followed, fuzz_seen.follow_taken);
	assert_true(seeds >= 30);
	assert_true(fuzz_seen.groups_filled >= 1); /* bare_group.bin */
	assert_true(fuzz_seen.wire_canonical >= 20); /* every one of them decoded (a property) */
	/* ... and said canonical (a property), twice: as sent and as records */
	assert_true(fuzz_seen.wire_said_canonical >= 2 * fuzz_seen.wire_canonical);
	assert_true(fuzz_seen.records_followed >= 20);
	assert_true(fuzz_seen.follow_taken >= 20);
}

static void test_plan_corpus(void **state)
{
	(void)state;
	unsigned crashes;
	unsigned seeds = replay_target("plan", "plan", fuzz_plan, &crashes);
	print_message("plan: %u seeds, %u regressions; %lu loaded\n", seeds, crashes,
		      fuzz_seen.plans_loaded);
	assert_true(seeds >= 10);
	assert_true(fuzz_seen.plans_loaded >= 3); /* both shipped plans and minimal.yaml */
	assert_true(fuzz_seen.plans_loaded < seeds); /* and the broken ones do not load */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_corpus),
	    cmocka_unit_test(test_model_corpus),
	    cmocka_unit_test(test_wire_corpus),
	    cmocka_unit_test(test_plan_corpus),
	};
	return tl_run_tests(tests, NULL, NULL);
}
