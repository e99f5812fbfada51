/*
 * test_mtable.c — the write model's index grows while other threads look
 * keys up in it without a lock.
 *
 * Growing copies the slots into an array twice the size and publishes it.
 * The old array used to be kept for as long as the daemon ran, in case a
 * reader was still probing it: as much memory again as the index (about
 * 270 MiB at 6.3M members). It is now freed once no lookup can still be in
 * it (core/rcu.h). Readers here hint and look up every key added so far
 * while the writer adds a million: each must be found, and a hint or lookup
 * in an array freed too soon is a use after free that ASan and valgrind
 * name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "mtable.h"
#include "testlib.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* Record n's key is n itself: the key passed is a uint64_t. */
static int key_eq(const void *key, uint32_t rec, void *arg)
{
	(void)arg;
	return *(const uint64_t *)key == rec;
}

static uint64_t hash_of(uint64_t k)
{
	return mt_hash(0x5eed, &k, sizeof k);
}

typedef struct shared {
	mindex x;
	_Atomic uint32_t added; /* records 0 .. added-1 are in the index */
	_Atomic int done;
	_Atomic uint64_t lookups, missing;
} shared;

static void *reader(void *arg)
{
	shared *s = arg;
	uint64_t lookups = 0, missing = 0, r = 88172645463325252ull;
	while (!atomic_load(&s->done)) {
		uint32_t n = atomic_load_explicit(&s->added, memory_order_acquire);
		if (!n)
			continue;
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		/* The newest record (the array the writer has just grown into)
		 * and one at random. */
		uint64_t keys[2] = {n - 1, r % n};
		for (int i = 0; i < 2; i++) {
			/* The requests' threads hint a slot before they look. */
			mindex_prefetch(&s->x, hash_of(keys[i]));
			lookups++;
			if (mindex_find(&s->x, hash_of(keys[i]), &keys[i], key_eq, NULL) != keys[i])
				missing++;
		}
	}
	atomic_fetch_add(&s->lookups, lookups);
	atomic_fetch_add(&s->missing, missing);
	return NULL;
}

static size_t malloc_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static void test_index_grows_under_readers(void **state)
{
	(void)state;
	enum { N = 1 << 20, READERS = 2 };
	static shared s;
	size_t before = malloc_in_use();
	assert_int_equal(mindex_init(&s.x, 0), 0);
	pthread_t t[READERS];
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, &s), 0);
	for (uint32_t k = 0; k < N; k++) {
		assert_int_equal(mindex_add(&s.x, hash_of(k), k), 0);
		atomic_store_explicit(&s.added, k + 1, memory_order_release);
	}
	atomic_store(&s.done, 1);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_true(s.lookups > 0);
	assert_int_equal(s.missing, 0);
	for (uint64_t k = 0; k < N; k += 997)
		assert_int_equal(mindex_find(&s.x, hash_of(k), &k, key_eq, NULL), k);

	/* One array held: 2^21 slots of 8 bytes for 2^20 keys at 50% load.
	 * Every array outgrown on the way adds up to as much again. (Under
	 * ASan, malloc's counters are not its allocator's: not counted.) */
	size_t one = mindex_bytes(&s.x), held = malloc_in_use() - before;
	assert_int_equal(one, sizeof(mindex_slots) + ((size_t)2 << 20) * sizeof(uint64_t));
	if (!SANITIZED && held > one + one / 4)
		fail_msg("the index holds %zu bytes of memory for an array of %zu: the arrays it "
			 "outgrew were not freed",
			 held, one);
	mindex_free(&s.x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_grows_under_readers),
	};
	return tl_run_tests(tests, NULL, NULL);
}
