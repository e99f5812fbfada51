/*
 * test_bench_gen.c — the bench's event generator (bench/bench.h) draws every
 * member a person of its own: within a run, across the parts of a run, and
 * between runs on one daemon, however few events a run appended before the
 * next began (at least its organisation tree). Drawn from a hash of the
 * member id, two members now and then shared a person, and the daemon
 * refused the second join (ERR_ALREADY_MEMBER in a read-your-writes lag run).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

/* The generator's functions, compiled into this test (header only). */
#include "../bench/bench.h"
#include "testlib.h"

#define PARTS 4
#define PER_PART 6000 /* events of a part; about 60% are joins */

typedef struct nid {
	char id[LD_NATIONAL_ID_LEN + 1];
} nid;

static int nid_cmp(const void *a, const void *b)
{
	return strcmp(((const nid *)a)->id, ((const nid *)b)->id);
}

/* The national IDs of the joins of a run named after head, appended to
 * *ids (room for PARTS * PER_PART more). */
static void run_persons(uint64_t head, unsigned run, nid *ids, size_t *n)
{
	arena a = {0};
	org_tree tree;
	char ns[32];
	size_t counts[K_NKINDS] = {0};
	ld_errinfo e = {0};
	snprintf(ns, sizeof(ns), "L%llu", (unsigned long long)head);
	assert_int_equal(orgs_build(&tree, &a, ns), 0);
	Ledger__Event **evs = calloc(PER_PART, sizeof(*evs));
	assert_non_null(evs);
	for (unsigned p = 0; p < PARTS; p++) {
		assert_int_equal(gen_stream_events(&a, &tree, ns, head, 42, run, p, PARTS, PER_PART, evs,
		                                   counts, &e),
		                 0);
		for (size_t i = 0; i < PER_PART; i++)
			if (evs[i]->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED)
				memcpy(ids[(*n)++].id, evs[i]->member_joined->national_id,
				       LD_NATIONAL_ID_LEN + 1);
	}
	assert_true(counts[K_JOIN] > PARTS * PER_PART / 2);
	free(evs);
	arena_release(&a);
}

static void test_fresh_persons(void **state)
{
	(void)state;
	/* A fill from head 0, then runs that appended only their trees (each
	 * begins N_ORGS after the one before), then one far on. */
	const uint64_t heads[] = {0, 1000079, 1000079 + N_ORGS, 1000079 + 2 * N_ORGS, 31000000};
	const size_t nh = sizeof(heads) / sizeof(heads[0]);
	nid *ids = calloc(nh * PARTS * PER_PART, sizeof(*ids));
	size_t n = 0;
	assert_non_null(ids);
	for (size_t r = 0; r < nh; r++)
		run_persons(heads[r], (unsigned)r, ids, &n);
	qsort(ids, n, sizeof(*ids), nid_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(ids[i - 1].id, ids[i].id) == 0)
			fail_msg("two of %zu members drew the person %s", n, ids[i].id);
	/* Each a valid national ID. */
	for (size_t i = 0; i < n; i += 97) {
		char out[LD_NATIONAL_ID_LEN + 1];
		ld_errinfo e = {0};
		if (ld_national_id(ids[i].id, ldc_now_us(), out, NULL, NULL, "id", &e) != 0)
			fail_msg("%s: %s", ids[i].id, e.message);
	}
	free(ids);
}

/* A run's range of persons ends before the next run's begins, at its
 * largest: BENCH_RUN_PERSONS members, the next run N_ORGS seqs later. */
static void test_person_ranges(void **state)
{
	(void)state;
	const uint64_t head = 5000000;
	uint64_t last = head * BENCH_PERSONS_PER_SEQ + BENCH_RUN_PERSONS - 1;
	uint64_t next = (head + N_ORGS) * BENCH_PERSONS_PER_SEQ;
	assert_true(last < next);
	/* The mapping is one to one: neighbours and the range's ends differ. */
	char a[LD_NATIONAL_ID_LEN + 1], b[LD_NATIONAL_ID_LEN + 1];
	bench_national_id(last, a);
	bench_national_id(next, b);
	assert_string_not_equal(a, b);
	bench_national_id(0, a);
	bench_national_id(BENCH_ID_SPACE, b); /* the numbers wrap */
	assert_string_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh_persons),
	    cmocka_unit_test(test_person_ranges),
	};
	return tl_run_tests(tests, NULL, NULL);
}
