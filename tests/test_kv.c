/*
 * test_kv.c — a projection's state in memory (projections/kv.h) against a
 * real LMDB environment: reads through to the flushed state, writes only in
 * memory until flushed, one sorted write per key (appended past a
 * database's last key, put or deleted before it, in LMDB's own order),
 * values that outgrow their room while dirty, a flush that fails and is
 * written again, discarding back to the flushed state, trimming (whole, and
 * a part at a time), and
 * "complete" databases that never read LMDB, readers (kv_read) that see
 * the tables over the flushed state, and flushes detached from the table
 * (kv_detach) while it changes, committed or failed, and databases whose
 * keys leave memory once flushed (kv_set_cold), and big blocks that come
 * resident (core/bigmem.h). Every case checks the table against a
 * plain model of what LMDB must hold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bigmem.h"
#include "kv.h"
#include "testlib.h"

enum { DB_A, DB_B, NDBS };
static const char *const names[NDBS] = {"a", "b"};

typedef struct fx {
	char dir[512];
	store *s;
	proj_kv *kv;
	store_txn *base;
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(f->dir, sizeof(f->dir), "%s/kv.XXXXXX", tmp);
	assert_non_null(mkdtemp(f->dir));
	ld_errinfo e = {0};
	store_options o = {.dir = f->dir, .no_sync = 1, .dbs = names, .ndbs = NDBS,
			   .name = "the test's"};
	assert_int_equal(store_open(&f->s, &o, &e), 0);
	assert_int_equal(kv_create(&f->kv, NDBS), 0);
	*state = f;
	return 0;
}

static void base_end(fx *f)
{
	kv_set_base(f->kv, NULL);
	store_read_end(f->base);
	f->base = NULL;
}

static void base_begin(fx *f)
{
	if (f->base)
		base_end(f);
	assert_int_equal(store_read_begin(f->s, &f->base), 0);
	kv_set_base(f->kv, f->base);
}

static int teardown(void **state)
{
	fx *f = *state;
	bigmem_use_huge(0); /* test_big_table_huge's, even if it failed */
	if (f->base)
		base_end(f);
	kv_free(f->kv);
	store_close(f->s);
	tl_rmrf(f->dir);
	free(f);
	return 0;
}

/* Flushes the table into LMDB and renews the base: 0 or kv_write's error. */
static int flush(fx *f)
{
	store_txn *t;
	if (f->base)
		base_end(f);
	assert_int_equal(store_write_begin(f->s, &t), 0);
	int rc = kv_write(f->kv, t);
	if (rc) {
		store_abort(t);
		return rc;
	}
	assert_int_equal(store_commit(t), 0);
	kv_written(f->kv);
	base_begin(f);
	return 0;
}

static void put_s(fx *f, unsigned db, const char *k, const char *v)
{
	assert_int_equal(kv_put(f->kv, db, k, strlen(k), v, strlen(v)), 0);
}

/* The table's value of k ("" and NOT_FOUND for none). */
static int get_s(fx *f, unsigned db, const char *k, char *out, size_t n)
{
	store_val v;
	int rc = kv_get(f->kv, db, k, strlen(k), &v);
	out[0] = 0;
	if (rc == 0)
		snprintf(out, n, "%.*s", (int)v.len, (const char *)v.data);
	return rc;
}

static void expect_kv(fx *f, unsigned db, const char *k, const char *want)
{
	char got[4096];
	int rc = get_s(f, db, k, got, sizeof(got));
	if (!want) {
		if (rc != LD_E(NOT_FOUND))
			fail_msg("%s/%s: '%s' (%d), expected none", names[db], k, got, rc);
		return;
	}
	if (rc || strcmp(got, want) != 0)
		fail_msg("%s/%s: '%s' (%d), expected '%s'", names[db], k, got, rc, want);
}

/* What LMDB holds, one "db key=value" a line, in LMDB's order. */
static char *lmdb_text(fx *f)
{
	store_txn *t;
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	out[0] = 0;
	assert_int_equal(store_read_begin(f->s, &t), 0);
	for (unsigned db = 0; db < NDBS; db++) {
		store_cursor *c;
		store_val k, v;
		assert_int_equal(store_cursor_open(t, db, &c), 0);
		for (int rc = store_cursor_next(c, &k, &v); rc == 0; rc = store_cursor_next(c, &k, &v)) {
			size_t need = len + k.len + v.len + 16;
			if (need > cap) {
				while (cap < need)
					cap *= 2;
				out = realloc(out, cap);
			}
			len += (size_t)snprintf(out + len, cap - len, "%s %.*s=%.*s\n", names[db],
						(int)k.len, (const char *)k.data, (int)v.len,
						(const char *)v.data);
		}
		store_cursor_close(c);
	}
	store_read_end(t);
	return out;
}

static void expect_lmdb(fx *f, const char *want)
{
	char *got = lmdb_text(f);
	if (strcmp(got, want) != 0)
		fail_msg("LMDB holds:\n%s\nexpected:\n%s", got, want);
	free(got);
}

/* Nothing reaches LMDB before a flush; a flush writes each key once, in
 * LMDB's order (a key before its extensions), and keeps the table. */
static void test_write_back(void **state)
{
	fx *f = *state;
	base_begin(f);
	put_s(f, DB_A, "m2", "two");
	put_s(f, DB_A, "m1", "one");
	put_s(f, DB_A, "m10", "ten");
	put_s(f, DB_B, "x", "1");
	put_s(f, DB_A, "m1", "uno");
	expect_kv(f, DB_A, "m1", "uno");
	expect_kv(f, DB_A, "m3", NULL);
	assert_int_equal(kv_dirty(f->kv), 4);
	expect_lmdb(f, "");
	assert_int_equal(flush(f), 0);
	assert_int_equal(kv_dirty(f->kv), 0);
	assert_int_equal(kv_dirty_bytes(f->kv), 0);
	expect_lmdb(f, "a m1=uno\na m10=ten\na m2=two\nb x=1\n");
	expect_kv(f, DB_B, "x", "1");

	/* Changes before the last key (put, delete) and after it (append). */
	put_s(f, DB_A, "m0", "zero");
	put_s(f, DB_A, "m10", "TEN");
	assert_int_equal(kv_del(f->kv, DB_A, "m2", 2), 0);
	put_s(f, DB_A, "m3", "three");
	put_s(f, DB_A, "m30", "thirty");
	assert_int_equal(kv_del(f->kv, DB_A, "m4", 2), 0); /* never was */
	expect_kv(f, DB_A, "m2", NULL);
	assert_int_equal(flush(f), 0);
	expect_lmdb(f, "a m0=zero\na m1=uno\na m10=TEN\na m3=three\na m30=thirty\nb x=1\n");

	/* Deleted, then put again before the flush. */
	assert_int_equal(kv_del(f->kv, DB_B, "x", 1), 0);
	put_s(f, DB_B, "x", "2");
	assert_int_equal(flush(f), 0);
	expect_lmdb(f, "a m0=zero\na m1=uno\na m10=TEN\na m3=three\na m30=thirty\nb x=2\n");
}

/* A key not in the table is read from the flushed state once, and kept:
 * a later change of LMDB behind its back is not seen (the table is the
 * state; LMDB only its flushed copy). */
static void test_read_through(void **state)
{
	fx *f = *state;
	base_begin(f);
	put_s(f, DB_A, "k", "v1");
	assert_int_equal(flush(f), 0);
	kv_trim(f->kv); /* the table forgets it; LMDB has it */
	expect_kv(f, DB_A, "k", "v1");
	expect_kv(f, DB_A, "none", NULL);
	/* Without a base, a key the table does not hold cannot be read. */
	kv_trim(f->kv);
	kv_set_base(f->kv, NULL);
	store_val v;
	assert_int_equal(kv_get(f->kv, DB_A, "k", 1, &v), LD_E(STORAGE));
	kv_set_base(f->kv, f->base);
	expect_kv(f, DB_A, "k", "v1");
}

/* A complete database is answered from memory alone: no base needed,
 * until something is dropped from it. */
static void test_complete(void **state)
{
	fx *f = *state;
	kv_set_complete(f->kv, DB_A);
	put_s(f, DB_A, "k", "v");
	expect_kv(f, DB_A, "k", "v");
	expect_kv(f, DB_A, "other", NULL); /* no base, no read */
	assert_int_equal(kv_del(f->kv, DB_A, "never", 5), 0);
	assert_int_equal(kv_dirty(f->kv), 1); /* deleting what never was: nothing to write */
	assert_int_equal(flush(f), 0);
	kv_trim(f->kv); /* dropped: no longer complete, read through again */
	kv_set_base(f->kv, NULL);
	store_val v;
	assert_int_equal(kv_get(f->kv, DB_A, "other", 5, &v), LD_E(STORAGE));
	kv_set_base(f->kv, f->base);
	expect_kv(f, DB_A, "k", "v");
}

/* Values that outgrow their room while dirty (the entry moves) still
 * flush, each once; many keys grow the table. */
static void test_growing_values(void **state)
{
	fx *f = *state;
	base_begin(f);
	char key[32], val[3000];
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "k%05d", i);
		put_s(f, DB_B, key, "s");
	}
	for (int round = 1; round <= 5; round++)
		for (int i = 0; i < 2000; i += 7) {
			snprintf(key, sizeof(key), "k%05d", i);
			memset(val, 'a' + round, (size_t)round * 500);
			val[round * 500] = 0;
			put_s(f, DB_B, key, val);
		}
	assert_int_equal(kv_dirty(f->kv), 2000);
	assert_int_equal(flush(f), 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "k%05d", i);
		memset(val, 'f', 2500);
		val[2500] = 0;
		expect_kv(f, DB_B, key, i % 7 ? "s" : val);
	}
	store_txn *t;
	assert_int_equal(store_read_begin(f->s, &t), 0);
	assert_int_equal(store_count(t, DB_B), 2000);
	store_read_end(t);
}

/* A flush whose transaction does not commit leaves the keys dirty, and
 * the next one writes them; a discard goes back to the flushed state. */
static void test_failed_flush_and_discard(void **state)
{
	fx *f = *state;
	base_begin(f);
	put_s(f, DB_A, "a", "1");
	put_s(f, DB_A, "b", "1");
	assert_int_equal(flush(f), 0);

	put_s(f, DB_A, "a", "2");
	put_s(f, DB_A, "c", "2");
	store_txn *t;
	base_end(f);
	assert_int_equal(store_write_begin(f->s, &t), 0);
	assert_int_equal(kv_write(f->kv, t), 0);
	store_abort(t); /* as a commit that failed */
	base_begin(f);
	assert_int_equal(kv_dirty(f->kv), 2);
	expect_lmdb(f, "a a=1\na b=1\n");
	/* Still dirty after the failed flush (which sorted them): one of them
	 * outgrows its room and moves. */
	char big[600];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	put_s(f, DB_A, "a", big);
	put_s(f, DB_A, "a", "2");
	put_s(f, DB_A, "c", big);
	put_s(f, DB_A, "c", "2");
	assert_int_equal(kv_dirty(f->kv), 2);
	assert_int_equal(flush(f), 0);
	expect_lmdb(f, "a a=2\na b=1\na c=2\n");

	/* Changes thrown away: back to what is flushed. */
	put_s(f, DB_A, "a", "3");
	assert_int_equal(kv_del(f->kv, DB_A, "b", 1), 0);
	put_s(f, DB_A, "d", "3");
	kv_discard(f->kv);
	assert_int_equal(kv_dirty(f->kv), 0);
	expect_kv(f, DB_A, "a", "2");
	expect_kv(f, DB_A, "b", "1");
	expect_kv(f, DB_A, "d", NULL);
	assert_int_equal(flush(f), 0);
	expect_lmdb(f, "a a=2\na b=1\na c=2\n");
}

/* Trimming drops what is clean and keeps what is dirty; the memory held
 * goes down. */
static void test_trim(void **state)
{
	fx *f = *state;
	base_begin(f);
	char key[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		put_s(f, DB_A, key, "some value of a few bytes");
	}
	assert_int_equal(flush(f), 0);
	put_s(f, DB_A, "key7", "changed");
	size_t before = kv_bytes(f->kv);
	kv_trim(f->kv);
	assert_true(kv_bytes(f->kv) < before / 4);
	assert_int_equal(kv_dirty(f->kv), 1);
	expect_kv(f, DB_A, "key7", "changed");
	expect_kv(f, DB_A, "key8", "some value of a few bytes");
	assert_int_equal(flush(f), 0);
	expect_kv(f, DB_A, "key7", "changed");
}

/* Trimming a part at a time (kv_trim_some): each call looks at no more
 * slots than asked and goes on where the last stopped; it drops clean keys
 * only. Dirty keys and keys pending in a detached flush stay (the flush
 * still writes them: under ASan a dropped one is a use after free), and a
 * slot a later key moves back into is looked at again, so once round the
 * table no clean key is left. Every key then reads as before, from the
 * table or from LMDB. */
static const char *trim_some_val(int i)
{
	return i == 20 ? "replaced" : i % 10 == 0 ? "pending" : i % 10 == 5 ? "dirty" : "first";
}

static void test_trim_some(void **state)
{
	fx *f = *state;
	enum { N = 20000, ROUND = 8 * N }; /* more than the slots, twice over */
	char key[32];
	base_begin(f);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "t%d", i);
		put_s(f, DB_A, key, "first");
	}
	assert_int_equal(flush(f), 0);
	base_begin(f);
	for (int i = 0; i < N; i += 10) {
		snprintf(key, sizeof(key), "t%d", i);
		put_s(f, DB_A, key, "pending");
	}
	kv_batch *b;
	assert_int_equal(kv_detach(f->kv, &b), 0);
	for (int i = 5; i < N; i += 10) {
		snprintf(key, sizeof(key), "t%d", i);
		put_s(f, DB_A, key, "dirty");
	}
	put_s(f, DB_A, "t20", "replaced"); /* a pending key changed again */
	assert_int_equal(kv_keys(f->kv), N);
	size_t bytes = kv_bytes(f->kv);
	for (size_t seen = 0; seen < ROUND;) {
		size_t n = kv_trim_some(f->kv, 100);
		assert_int_equal(n, 100);
		seen += n;
		assert_true(kv_bytes(f->kv) <= bytes);
		bytes = kv_bytes(f->kv);
	}
	/* Left: the dirty (t20 among them) and the pending not replaced;
	 * nothing clean. */
	assert_int_equal(kv_dirty(f->kv), N / 10 + 1);
	assert_int_equal(kv_keys(f->kv), N / 10 + 1 + N / 10 - 1);
	assert_int_equal(kv_clean_bytes(f->kv), 0);
	store_txn *t;
	assert_int_equal(store_write_begin(f->s, &t), 0);
	assert_int_equal(kv_batch_write(b, t), 0);
	assert_int_equal(store_commit(t), 0);
	kv_batch_free(b);
	assert_int_equal(kv_settle(f->kv, 1), 0);
	assert_true(kv_clean_bytes(f->kv) > (size_t)(N / 10 - 1) * 16); /* the pending ones */
	assert_int_equal(flush(f), 0);
	/* All clean now: a round of parts leaves nothing, and every key reads
	 * back from LMDB. */
	assert_true(kv_clean_bytes(f->kv) + 65536 * 16 <= kv_bytes(f->kv)); /* not the slots */
	for (size_t seen = 0; seen < ROUND;)
		seen += kv_trim_some(f->kv, 333);
	assert_int_equal(kv_keys(f->kv), 0);
	assert_int_equal(kv_clean_bytes(f->kv), 0);
	base_begin(f);
	for (int i = 0; i < N; i += 7) {
		snprintf(key, sizeof(key), "t%d", i);
		expect_kv(f, DB_A, key, trim_some_val(i));
	}
	expect_kv(f, DB_A, "t20", "replaced");
	/* A table smaller than the part asked: the slots it has. */
	proj_kv *small;
	assert_int_equal(kv_create(&small, NDBS), 0);
	assert_int_equal(kv_trim_some(small, 100), 0);
	assert_int_equal(kv_put(small, DB_A, "x", 1, "y", 1), 0);
	assert_int_equal(kv_trim_some(small, 1 << 20), 1024);
	assert_int_equal(kv_keys(small), 1); /* dirty */
	kv_free(small);
}

/* Parts on small, full tables, many times over: keys whose probe runs wrap
 * past the slots' end are dropped and moved back across it (linear
 * probing's deletion, cyclically). After a round of parts of random sizes,
 * no clean key is left, every dirty one is, and each key reads its value
 * from the table or from LMDB. */
static void test_trim_some_wrap(void **state)
{
	fx *f = *state;
	enum { ROUNDS = 200, KEYS = 500 }; /* 500 keys in 1,024 slots */
	char key[32], val[32];
	unsigned seed = 5;
	static char dirty[KEYS];
	for (int round = 0; round < ROUNDS; round++) {
		proj_kv *kv;
		store_txn *t;
		assert_int_equal(kv_create(&kv, NDBS), 0);
		for (int i = 0; i < KEYS; i++) {
			snprintf(key, sizeof(key), "w%d.%d", round, i);
			assert_int_equal(kv_put(kv, DB_A, key, strlen(key), "old", 3), 0);
		}
		assert_int_equal(store_write_begin(f->s, &t), 0);
		assert_int_equal(kv_write(kv, t), 0);
		assert_int_equal(store_commit(t), 0);
		kv_written(kv);
		size_t ndirty = 0;
		for (int i = 0; i < KEYS; i++) {
			dirty[i] = rand_r(&seed) % 3 == 0;
			if (!dirty[i])
				continue;
			snprintf(key, sizeof(key), "w%d.%d", round, i);
			assert_int_equal(kv_put(kv, DB_A, key, strlen(key), "new", 3), 0);
			ndirty++;
		}
		for (size_t seen = 0; seen < 3 * 1024;)
			seen += kv_trim_some(kv, 1 + (size_t)rand_r(&seed) % 97);
		if (kv_keys(kv) != ndirty || kv_clean_bytes(kv) != 0)
			fail_msg("round %d: %zu keys left, %zu dirty, %zu clean bytes", round,
				 kv_keys(kv), ndirty, kv_clean_bytes(kv));
		store_txn *base;
		assert_int_equal(store_read_begin(f->s, &base), 0);
		kv_set_base(kv, base);
		for (int i = 0; i < KEYS; i++) {
			store_val v;
			snprintf(key, sizeof(key), "w%d.%d", round, i);
			assert_int_equal(kv_get(kv, DB_A, key, strlen(key), &v), 0);
			snprintf(val, sizeof(val), "%.*s", (int)v.len, (const char *)v.data);
			if (strcmp(val, dirty[i] ? "new" : "old") != 0)
				fail_msg("round %d: %s is '%s'", round, key, val);
		}
		kv_set_base(kv, NULL);
		store_read_end(base);
		kv_free(kv);
	}
}

/* The slot of the last key looked up is remembered (a put after a get
 * probes nothing): it is right after the slots move (growing, trimming,
 * discarding: under ASan a stale one reads freed memory), and never
 * answers for the same key of another database. */
static void test_last_key(void **state)
{
	fx *f = *state;
	char key[32];
	base_begin(f);
	put_s(f, DB_A, "m", "one");
	expect_kv(f, DB_A, "m", "one");
	expect_kv(f, DB_B, "m", NULL);
	for (int i = 0; i < 3000; i++) { /* grows the slots, from 1,024 */
		snprintf(key, sizeof(key), "k%d", i);
		put_s(f, DB_A, key, "v");
	}
	put_s(f, DB_A, "m", "two");
	expect_kv(f, DB_A, "m", "two");
	assert_int_equal(flush(f), 0);
	expect_kv(f, DB_A, "m", "two");
	kv_trim(f->kv); /* every key clean: new slots, "m" dropped */
	put_s(f, DB_A, "m", "three");
	expect_kv(f, DB_A, "m", "three");
	expect_kv(f, DB_A, "k7", "v"); /* read back from LMDB */
	put_s(f, DB_B, "d", "x");
	expect_kv(f, DB_B, "d", "x");
	kv_discard(f->kv); /* the dirty keys ("m", "d") leave */
	expect_kv(f, DB_B, "d", NULL);
	expect_kv(f, DB_A, "m", "two");
	put_s(f, DB_B, "m", "b");
	expect_kv(f, DB_A, "m", "two");
	expect_kv(f, DB_B, "m", "b");
	assert_int_equal(flush(f), 0);
	kv_trim(f->kv); /* both from LMDB now */
	expect_kv(f, DB_A, "m", "two");
	expect_kv(f, DB_B, "m", "b");
}

/* FULL PAGES (kv.c): a flush whose keys fall among the flushed ones, as
 * many as a quarter of them, rewrites a database the table owns with every
 * page full (a rebuild's second flush had left the pages about half full:
 * split in the middle); what LMDB holds is what puts and deletes make, as
 * in a database the table does not own, written key by key. */
static void test_owned_rewrite(void **state)
{
	fx *f = *state;
	char key[32], val[64];
	const int n = 20000;
	kv_set_owned(f->kv, DB_A);
	base_begin(f);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = pass; i < n; i += 2) { /* evens, then the odds among them */
			snprintf(key, sizeof(key), "B0.p0.m%d", i);
			snprintf(val, sizeof(val), "view %d of a member, some forty bytes..", i);
			put_s(f, DB_A, key, val);
			put_s(f, DB_B, key, val);
		}
		if (pass == 1)
			for (int i = 0; i < n; i += 10) { /* changed, and gone */
				snprintf(key, sizeof(key), "B0.p0.m%d", i);
				put_s(f, DB_A, key, "changed");
				put_s(f, DB_B, key, "changed");
				snprintf(key, sizeof(key), "B0.p0.m%d", i + 4);
				assert_int_equal(kv_del(f->kv, DB_A, key, strlen(key)), 0);
				assert_int_equal(kv_del(f->kv, DB_B, key, strlen(key)), 0);
			}
		assert_int_equal(flush(f), 0);
	}
	/* The same keys and values in both. */
	char *text = lmdb_text(f);
	char *b = strstr(text, "\nb ");
	assert_non_null(b);
	char *in_b = strdup(b + 1);
	b[1] = 0;
	for (char *p = text; *p; p = strchr(p, '\n') + 1)
		*p = 'b'; /* "a key=value" as "b key=value" */
	assert_string_equal(text, in_b);
	free(in_b);
	free(text);
	expect_kv(f, DB_A, "B0.p0.m4", NULL);
	expect_kv(f, DB_A, "B0.p0.m10", "changed");
	expect_kv(f, DB_A, "B0.p0.m11", "view 11 of a member, some forty bytes..");
	/* Pages: about full in a, split in b. */
	store_txn *t;
	assert_int_equal(store_read_begin(f->s, &t), 0);
	size_t keys = store_count(t, DB_A), pa = store_pages(t, DB_A), pb = store_pages(t, DB_B);
	store_read_end(t);
	assert_int_equal(keys, (size_t)n - n / 10);
	/* A node: 8 bytes of header, 2 of pointer, a key of ~12, a value of ~40. */
	size_t full = keys * 62 / (4096 - 16) + 1;
	if (pa > full + full / 20)
		fail_msg("owned: %zu pages for %zu keys (full: about %zu)", pa, keys, full);
	if (pb < pa + pa / 8)
		fail_msg("not owned: %zu pages (full: about %zu; owned %zu): split as expected?", pb, full, pa);
}

/* A table past HUGE_SLOTS (its slot array mapped on its own): grown,
 * hinted (kv_prefetch, both stages, keys present or not, a database with
 * none), flushed, trimmed (a new, small array) and read back from LMDB;
 * the hints change nothing. */
static void test_big_table(void **state)
{
	fx *f = *state;
	enum { N = 200000 };
	char key[32], val[32];
	base_begin(f);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "big%d", i);
		snprintf(val, sizeof(val), "v%d", i * 7);
		put_s(f, DB_A, key, val);
	}
	size_t bytes = kv_bytes(f->kv), dirty = kv_dirty(f->kv);
	for (int i = 0; i < N + 1000; i++) {
		snprintf(key, sizeof(key), "big%d", i);
		for (int stage = 0; stage < 2; stage++) {
			kv_prefetch(f->kv, DB_A, key, strlen(key), stage);
			kv_prefetch(f->kv, DB_B, key, strlen(key), stage);
		}
	}
	assert_int_equal(kv_bytes(f->kv), bytes);
	assert_int_equal(kv_dirty(f->kv), dirty);
	expect_kv(f, DB_A, "big199999", "v1399993");
	expect_kv(f, DB_A, "big200000", NULL);
	assert_int_equal(flush(f), 0);
	put_s(f, DB_A, "big5", "changed");
	kv_trim(f->kv);
	assert_true(kv_bytes(f->kv) < bytes / 100);
	for (int i = 0; i < N; i += 997) {
		snprintf(key, sizeof(key), "big%d", i);
		snprintf(val, sizeof(val), "v%d", i * 7);
		expect_kv(f, DB_A, key, i == 5 ? "changed" : val);
	}
	expect_kv(f, DB_A, "big5", "changed");
	expect_kv(f, DB_B, "big5", NULL);
}

/*
 * Reading the state as applied (kv_read): two tables over one environment
 * (database a shared between them by key, b the first's alone), changed at
 * random, flushed now and then; after every round a get of every key and
 * cursors (forward from every seek, backward from the end, seek then back,
 * back then forward) must see exactly the model of what was put and
 * deleted, flushed or not.
 */
#define RK 160 /* keys k0..k159: "k1" < "k10" < "k100" < "k11" in LMDB's order */

typedef struct rmodel {
	char val[NDBS][RK][16];
	int has[NDBS][RK];
} rmodel;

static proj_kv *owner_of(proj_kv *const *kv, unsigned db, int i)
{
	return db == DB_A && i % 2 ? kv[1] : kv[0];
}

/* The model's keys of db in LMDB's order. */
static int model_sorted(const rmodel *m, unsigned db, int *out)
{
	int n = 0;
	for (int i = 0; i < RK; i++)
		if (m->has[db][i])
			out[n++] = i;
	for (int a = 1; a < n; a++)
		for (int b = a; b > 0; b--) {
			char x[16], y[16];
			snprintf(x, sizeof(x), "k%d", out[b - 1]);
			snprintf(y, sizeof(y), "k%d", out[b]);
			if (strcmp(x, y) <= 0)
				break;
			int t = out[b];
			out[b] = out[b - 1];
			out[b - 1] = t;
		}
	return n;
}

static void expect_at(int rc, const store_val *k, const store_val *v, const rmodel *m,
		      unsigned db, const int *keys, int n, int pos, const char *what)
{
	if (pos < 0 || pos >= n) {
		if (rc != LD_E(NOT_FOUND))
			fail_msg("%s: %.*s, expected the end", what, rc ? 0 : (int)k->len,
				 rc ? "" : (const char *)k->data);
		return;
	}
	char want[16];
	snprintf(want, sizeof(want), "k%d", keys[pos]);
	if (rc || k->len != strlen(want) || memcmp(k->data, want, k->len) ||
	    v->len != strlen(m->val[db][keys[pos]]) || memcmp(v->data, m->val[db][keys[pos]], v->len))
		fail_msg("%s: got %.*s (%d), expected %s=%s", what, rc ? 0 : (int)k->len,
			 rc ? "" : (const char *)k->data, rc, want, m->val[db][keys[pos]]);
}

static void check_reader(const kv_read *rd, const rmodel *m)
{
	for (unsigned db = 0; db < NDBS; db++) {
		int keys[RK], n = model_sorted(m, db, keys);
		store_val k, v;
		for (int i = 0; i < RK; i++) {
			char key[16];
			snprintf(key, sizeof(key), "k%d", i);
			int rc = kvr_get(rd, db, key, strlen(key), &v);
			if (m->has[db][i] ? rc != 0 || v.len != strlen(m->val[db][i]) ||
						    memcmp(v.data, m->val[db][i], v.len)
					  : rc != LD_E(NOT_FOUND))
				fail_msg("get %s/%s: %d, expected %s", names[db], key, rc,
					 m->has[db][i] ? m->val[db][i] : "none");
		}
		kvr_cursor *c;
		assert_int_equal(kvr_cursor_open(rd, db, &c), 0);
		/* Forward from every seek: the first key at or after it. */
		for (int s = 0; s <= RK; s++) {
			char key[16];
			snprintf(key, sizeof(key), s == RK ? "a" : "k%d", s);
			int pos = 0;
			while (pos < n) {
				char x[16];
				snprintf(x, sizeof(x), "k%d", keys[pos]);
				if (strcmp(x, key) >= 0)
					break;
				pos++;
			}
			int rc = kvr_cursor_seek(c, key, strlen(key), &k, &v);
			expect_at(rc, &k, &v, m, db, keys, n, pos, "seek");
			for (int step = 0; step < 3 && rc == 0; step++) {
				rc = kvr_cursor_next(c, &k, &v);
				expect_at(rc, &k, &v, m, db, keys, n, ++pos, "seek, next");
			}
			/* Back one from where it stands, then forward again. */
			if (pos < n && pos > 0) {
				rc = kvr_cursor_prev(c, &k, &v);
				expect_at(rc, &k, &v, m, db, keys, n, pos - 1, "next, prev");
				rc = kvr_cursor_next(c, &k, &v);
				expect_at(rc, &k, &v, m, db, keys, n, pos, "prev, next");
			}
		}
		/* Backward from the end. */
		int rc = kvr_cursor_last(c, &k, &v);
		for (int pos = n - 1;; pos--) {
			expect_at(rc, &k, &v, m, db, keys, n, pos, "last, prev");
			if (rc)
				break;
			rc = kvr_cursor_prev(c, &k, &v);
		}
		kvr_cursor_close(c);
	}
}

/* n random puts and deletes over both tables, noted in the model. */
static void random_ops(proj_kv *const *kv, rmodel *m, int n, unsigned *seed, int round)
{
	for (int op = 0; op < n; op++) {
		unsigned db = rand_r(seed) % NDBS;
		int i = rand_r(seed) % RK;
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		proj_kv *t = owner_of(kv, db, i);
		if (rand_r(seed) % 3 == 0) {
			assert_int_equal(kv_del(t, db, key, strlen(key)), 0);
			m->has[db][i] = 0;
			continue;
		}
		store_val v;
		if (rand_r(seed) % 2) /* a read first: a clean entry in the table */
			(void)kv_get(t, db, key, strlen(key), &v);
		snprintf(m->val[db][i], sizeof(m->val[db][i]), "v%d.%d", round, op);
		assert_int_equal(
			kv_put(t, db, key, strlen(key), m->val[db][i], strlen(m->val[db][i])), 0);
		m->has[db][i] = 1;
	}
}

static void check_over(fx *f, proj_kv *const *kv, const rmodel *m)
{
	store_txn *base;
	assert_int_equal(store_read_begin(f->s, &base), 0);
	check_reader(&(kv_read){.t = base, .kv = kv, .nkv = 2}, m);
	store_read_end(base);
}

static void set_base(proj_kv *const *kv, store_txn *base)
{
	kv_set_base(kv[0], base);
	kv_set_base(kv[1], base);
}

/* The same with the tables' big blocks on huge pages (huge_pages = on). */
static void test_big_table_huge(void **state)
{
	bigmem_use_huge(1);
	test_big_table(state); /* teardown turns them off again */
}

/* A big block in small pages comes resident and writable (bigmem.h: no
 * zero page mapped by a first read, then copied on the first write), and
 * zeroed; a small one is calloc's. Past 32 MiB (glibc's highest mmap
 * threshold) so that calloc maps fresh pages, whatever this process freed
 * before. */
static void test_bigmem_populated(void **state)
{
	(void)state;
	long page = sysconf(_SC_PAGESIZE);
	/* A kernel before 5.14 refuses the advice: bigmem.c goes on without. */
	void *probe = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	assert_true(probe != MAP_FAILED);
	int refused = madvise(probe, (size_t)page, MADV_POPULATE_WRITE) != 0;
	munmap(probe, (size_t)page);
	if (refused)
		skip();
	size_t n = (size_t)33 << 20;
	uint8_t *p = bigmem_zalloc(n);
	assert_non_null(p);
	uint8_t *a = (uint8_t *)(((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1));
	size_t pages = (size_t)(p + n - a) / (size_t)page;
	unsigned char *vec = calloc(pages + 1, 1);
	assert_int_equal(mincore(a, pages * (size_t)page, vec), 0);
	size_t resident = 0;
	for (size_t i = 0; i < pages; i++)
		resident += vec[i] & 1;
	assert_int_equal(resident, pages);
	for (size_t i = 0; i < n; i += 4096)
		assert_int_equal(p[i], 0);
	free(vec);
	free(p);
	uint8_t *small = bigmem_zalloc(100);
	assert_non_null(small);
	assert_int_equal(small[99], 0);
	free(small);
}

static void test_reader(void **state)
{
	fx *f = *state;
	proj_kv *kv[2] = {f->kv, NULL};
	rmodel *m = calloc(1, sizeof(*m));
	unsigned seed = 7;
	assert_int_equal(kv_create(&kv[1], NDBS), 0);
	for (int round = 0; round < 60; round++) {
		store_txn *base, *t;
		assert_int_equal(store_read_begin(f->s, &base), 0);
		set_base(kv, base);
		random_ops(kv, m, 60, &seed, round);
		check_reader(&(kv_read){.t = base, .kv = kv, .nkv = 2}, m);
		kv_trim_some(kv[round % 2], 50);
		check_reader(&(kv_read){.t = base, .kv = kv, .nkv = 2}, m);
		set_base(kv, NULL);
		store_read_end(base);
		if (round % 3 == 1) { /* flushed: both tables, one transaction */
			assert_int_equal(store_write_begin(f->s, &t), 0);
			assert_int_equal(kv_write(kv[0], t), 0);
			assert_int_equal(kv_write(kv[1], t), 0);
			assert_int_equal(store_commit(t), 0);
			kv_written(kv[0]);
			kv_written(kv[1]);
			if (round % 9 == 7) {
				kv_trim(kv[0]);
				kv_trim(kv[1]);
			}
			check_over(f, kv, m);
			assert_int_equal(store_read_begin(f->s, &base), 0);
			check_reader(KV_READ_TXN(base), m); /* LMDB alone holds it all */
			store_read_end(base);
		} else if (round % 3 == 2) {
			/* Flushed while changes go on: detached, changed again
			 * (pending keys among them), written, and committed, or
			 * (every other time) failed and written by the next. */
			kv_batch *b[2];
			assert_int_equal(kv_detach(kv[0], &b[0]), 0);
			assert_int_equal(kv_detach(kv[1], &b[1]), 0);
			check_over(f, kv, m);
			assert_int_equal(store_read_begin(f->s, &base), 0);
			set_base(kv, base);
			random_ops(kv, m, 30, &seed, 1000 + round);
			set_base(kv, NULL);
			store_read_end(base);
			/* Parts trimmed, pending keys among them. */
			kv_trim_some(kv[0], 1 + (size_t)round * 37 % 300);
			kv_trim_some(kv[1], 1 + (size_t)round * 53 % 300);
			check_over(f, kv, m);
			int commit = round % 6 == 2;
			assert_int_equal(store_write_begin(f->s, &t), 0);
			assert_int_equal(kv_batch_write(b[0], t), 0);
			assert_int_equal(kv_batch_write(b[1], t), 0);
			if (commit)
				assert_int_equal(store_commit(t), 0);
			else
				store_abort(t);
			kv_batch_free(b[0]);
			kv_batch_free(b[1]);
			check_over(f, kv, m); /* either state of LMDB under the tables */
			assert_int_equal(kv_settle(kv[0], commit), 0);
			assert_int_equal(kv_settle(kv[1], commit), 0);
			check_over(f, kv, m);
		}
	}
	/* Everything flushed: LMDB alone is the model. */
	store_txn *t, *base;
	assert_int_equal(store_write_begin(f->s, &t), 0);
	assert_int_equal(kv_write(kv[0], t), 0);
	assert_int_equal(kv_write(kv[1], t), 0);
	assert_int_equal(store_commit(t), 0);
	kv_written(kv[0]);
	kv_written(kv[1]);
	assert_int_equal(store_read_begin(f->s, &base), 0);
	check_reader(KV_READ_TXN(base), m);
	store_read_end(base);
	kv_free(kv[1]);
	free(m);
}

/*
 * A cold database (kv_set_cold): its keys leave the table once a flush that
 * holds them has committed, through either way of flushing, and are read
 * back from LMDB; the other database's keys stay. Many keys sharing a long
 * prefix (member ids do), put in no order, so the table's probe chains are
 * long when cold keys leave it and the flush's sort looks past the prefix:
 * every key of both databases must still read as the model says, and LMDB
 * must hold exactly the model (an append out of order fails the flush).
 */
#define CK 3000

static void cold_key(char *out, size_t n, int i)
{
	snprintf(out, n, "B0.p0.m%d", i);
}

static void test_cold(void **state)
{
	fx *f = *state;
	static char val[NDBS][CK][32];
	static int has[NDBS][CK];
	unsigned seed = 11;
	memset(has, 0, sizeof(has));
	kv_set_complete(f->kv, DB_A);
	kv_set_complete(f->kv, DB_B);
	kv_set_cold(f->kv, DB_A);
	for (int round = 0; round < 12; round++) {
		base_begin(f);
		for (int op = 0; op < 2000; op++) {
			unsigned db = rand_r(&seed) % NDBS;
			int i = rand_r(&seed) % CK;
			char key[32];
			cold_key(key, sizeof(key), i);
			if (rand_r(&seed) % 5 == 0) {
				assert_int_equal(kv_del(f->kv, db, key, strlen(key)), 0);
				has[db][i] = 0;
				continue;
			}
			snprintf(val[db][i], sizeof(val[db][i]), "v%d.%d", round, op);
			put_s(f, db, key, val[db][i]);
			has[db][i] = 1;
		}
		if (round % 2) {
			assert_int_equal(flush(f), 0);
		} else { /* detached, written, committed: then settled */
			kv_batch *b;
			store_txn *t;
			assert_int_equal(kv_detach(f->kv, &b), 0);
			base_end(f);
			assert_int_equal(store_write_begin(f->s, &t), 0);
			assert_int_equal(kv_batch_write(b, t), 0);
			assert_int_equal(store_commit(t), 0);
			kv_batch_free(b);
			assert_int_equal(kv_settle(f->kv, 1), 0);
		}
		/* Without a base: the cold keys are gone from memory, the others
		 * are all there (database b is complete still). */
		if (f->base)
			base_end(f);
		for (int i = 0; i < CK; i++) {
			char key[32];
			store_val v;
			cold_key(key, sizeof(key), i);
			if (has[DB_A][i])
				assert_int_equal(kv_get(f->kv, DB_A, key, strlen(key), &v),
						 LD_E(STORAGE));
			expect_kv(f, DB_B, key, has[DB_B][i] ? val[DB_B][i] : NULL);
		}
		/* Over the flushed state, every key reads as the model (a
		 * reader: it keeps nothing in the table). */
		store_txn *t;
		assert_int_equal(store_read_begin(f->s, &t), 0);
		const kv_read rd = {.t = t, .kv = &f->kv, .nkv = 1};
		for (unsigned db = 0; db < NDBS; db++)
			for (int i = 0; i < CK; i++) {
				char key[32];
				store_val v;
				cold_key(key, sizeof(key), i);
				int rc = kvr_get(&rd, db, key, strlen(key), &v);
				assert_int_equal(rc, has[db][i] ? 0 : LD_E(NOT_FOUND));
				if (!rc) {
					assert_int_equal(v.len, strlen(val[db][i]));
					assert_memory_equal(v.data, val[db][i], v.len);
				}
			}
		/* LMDB holds the model, no more. */
		for (unsigned db = 0; db < NDBS; db++) {
			size_t n = 0, want = 0;
			for (int i = 0; i < CK; i++) {
				char key[32];
				store_val v;
				cold_key(key, sizeof(key), i);
				int rc = store_get(t, db, key, strlen(key), &v);
				want += has[db][i];
				n += rc == 0;
				assert_int_equal(rc, has[db][i] ? 0 : LD_E(NOT_FOUND));
				if (!rc)
					assert_memory_equal(v.data, val[db][i], v.len);
			}
			assert_int_equal(n, want);
			assert_int_equal(store_count(t, db), want);
		}
		store_read_end(t);
	}
}

/*
 * A cold database keyed by seq (kv_set_cold's log): records appended in
 * increasing key order while readers (kv_read) look, flushed every way (in
 * one go, detached and committed with more appended meanwhile, detached and
 * failed), with corrections that read a record back (still unflushed, or
 * flushed and gone from memory) and rewrite or delete it, a put before the
 * log's last key that it does not hold, and a discard back to the flushed
 * state. After every step each key reads as the model says (kv_get,
 * kvr_get, a cursor both ways), and at the end LMDB holds the model.
 */
#define SK 2400

typedef struct smodel {
	char val[SK][24];
	int has[SK];
} smodel;

static size_t seq_key(uint8_t *k, int i)
{
	for (int b = 0; b < 8; b++)
		k[b] = (uint8_t)((uint64_t)i >> (56 - 8 * b));
	return 8;
}

static void seq_check(fx *f, const smodel *m, int upto)
{
	store_txn *t;
	assert_int_equal(store_read_begin(f->s, &t), 0);
	const kv_read rd = {.t = t, .kv = &f->kv, .nkv = 1};
	for (int i = 0; i < upto; i++) {
		uint8_t k[8];
		store_val v;
		int rc = kvr_get(&rd, DB_A, k, seq_key(k, i), &v);
		assert_int_equal(rc, m->has[i] ? 0 : LD_E(NOT_FOUND));
		if (!rc) {
			assert_int_equal(v.len, strlen(m->val[i]));
			assert_memory_equal(v.data, m->val[i], v.len);
		}
	}
	kvr_cursor *c;
	store_val k, v;
	assert_int_equal(kvr_cursor_open(&rd, DB_A, &c), 0);
	uint8_t key[8];
	int rc = kvr_cursor_seek(c, key, seq_key(key, 0), &k, &v);
	for (int i = 0; i < SK; i++) {
		if (!m->has[i])
			continue;
		assert_int_equal(rc, 0);
		assert_int_equal(k.len, 8);
		assert_memory_equal(k.data, key, seq_key(key, i));
		assert_memory_equal(v.data, m->val[i], strlen(m->val[i]));
		rc = kvr_cursor_next(c, &k, &v);
	}
	assert_int_equal(rc, LD_E(NOT_FOUND));
	rc = kvr_cursor_last(c, &k, &v);
	for (int i = SK - 1; i >= 0; i--) {
		if (!m->has[i])
			continue;
		assert_int_equal(rc, 0);
		assert_memory_equal(k.data, key, seq_key(key, i));
		rc = kvr_cursor_prev(c, &k, &v);
	}
	assert_int_equal(rc, LD_E(NOT_FOUND));
	kvr_cursor_close(c);
	store_read_end(t);
}

/* A correction of record i: read back (as the model says), then rewritten
 * or deleted. */
static void seq_correct(fx *f, smodel *m, int i, int round)
{
	uint8_t k[8];
	store_val v;
	size_t kl = seq_key(k, i);
	int rc = kv_get(f->kv, DB_A, k, kl, &v);
	assert_int_equal(rc, m->has[i] ? 0 : LD_E(NOT_FOUND));
	if (!rc)
		assert_memory_equal(v.data, m->val[i], v.len);
	if (round % 2) {
		assert_int_equal(kv_del(f->kv, DB_A, k, kl), 0);
		m->has[i] = 0;
		return;
	}
	snprintf(m->val[i], sizeof(m->val[i]), "fix%d.%d", round, i);
	assert_int_equal(kv_put(f->kv, DB_A, k, kl, m->val[i], strlen(m->val[i])), 0);
	m->has[i] = 1;
}

static void test_cold_log(void **state)
{
	fx *f = *state;
	static smodel m, flushed;
	unsigned seed = 5;
	int next = 0;
	memset(&m, 0, sizeof(m));
	memset(&flushed, 0, sizeof(flushed));
	kv_set_complete(f->kv, DB_A);
	kv_set_complete(f->kv, DB_B);
	kv_set_cold(f->kv, DB_A);
	for (int round = 0; next + 200 <= SK; round++) {
		base_begin(f);
		for (int n = 0; n < 150; n++, next++) {
			uint8_t k[8];
			snprintf(m.val[next], sizeof(m.val[next]), "r%d", next);
			assert_int_equal(kv_put(f->kv, DB_A, k, seq_key(k, next), m.val[next],
						strlen(m.val[next])),
					 0);
			m.has[next] = 1;
			put_s(f, DB_B, "other", m.val[next]);
			if (n % 50 == 49) /* a record still in the log, read back */
				seq_correct(f, &m, next - (int)(rand_r(&seed) % 40), round + n);
		}
		/* Records before the log's last one: flushed ones (read back
		 * from LMDB), and one the log never held (deleted before). */
		seq_correct(f, &m, (int)(rand_r(&seed) % (unsigned)next), round);
		for (int i = 0; i < next; i++)
			if (!m.has[i] && rand_r(&seed) % 4 == 0) {
				seq_correct(f, &m, i, 0);
				break;
			}
		seq_check(f, &m, next);
		int how = round % 4;
		if (how == 0) {
			assert_int_equal(flush(f), 0);
			flushed = m;
		} else if (how == 3) { /* back to the flushed state */
			kv_discard(f->kv);
			m = flushed;
			next = 0;
			for (int i = 0; i < SK; i++)
				if (m.has[i])
					next = i + 1;
			base_begin(f);
			seq_check(f, &m, SK);
			assert_int_equal(flush(f), 0);
		} else { /* detached; appended to and corrected meanwhile; then
			  * committed (how 1) or failed (how 2) */
			kv_batch *b;
			store_txn *t;
			assert_int_equal(kv_detach(f->kv, &b), 0);
			for (int n = 0; n < 50; n++, next++) {
				uint8_t k[8];
				snprintf(m.val[next], sizeof(m.val[next]), "d%d", next);
				assert_int_equal(kv_put(f->kv, DB_A, k, seq_key(k, next),
							m.val[next], strlen(m.val[next])),
						 0);
				m.has[next] = 1;
			}
			seq_correct(f, &m, next - 60, round); /* a pending one */
			seq_check(f, &m, next);
			base_end(f);
			assert_int_equal(store_write_begin(f->s, &t), 0);
			assert_int_equal(kv_batch_write(b, t), 0);
			if (how == 1)
				assert_int_equal(store_commit(t), 0);
			else
				store_abort(t);
			kv_batch_free(b);
			assert_int_equal(kv_settle(f->kv, how == 1), 0);
			base_begin(f);
			seq_check(f, &m, next);
			assert_int_equal(flush(f), 0);
			flushed = m;
		}
		seq_check(f, &m, SK);
		/* Flushed: no record is left in memory (none reads without a
		 * base), the other database's key is, unless discarded. */
		base_end(f);
		for (int i = 0; i < next; i++) {
			uint8_t k[8];
			store_val v;
			if (m.has[i])
				assert_int_equal(kv_get(f->kv, DB_A, k, seq_key(k, i), &v),
						 LD_E(STORAGE));
		}
		if (how != 3) /* (a discard dropped it, dirty) */
			assert_int_equal(kv_get(f->kv, DB_B, "other", 5, &(store_val){0}), 0);
	}
	assert_true(next > SK / 2);
	/* LMDB holds the model, no more. */
	store_txn *t;
	size_t want = 0;
	assert_int_equal(store_read_begin(f->s, &t), 0);
	for (int i = 0; i < SK; i++) {
		uint8_t k[8];
		store_val v;
		int rc = store_get(t, DB_A, k, seq_key(k, i), &v);
		assert_int_equal(rc, m.has[i] ? 0 : LD_E(NOT_FOUND));
		want += m.has[i];
	}
	assert_int_equal(store_count(t, DB_A), want);
	store_read_end(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_through, setup, teardown),
		cmocka_unit_test_setup_teardown(test_complete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growing_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_flush_and_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim_some, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim_some_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owned_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_table_huge, setup, teardown),
		cmocka_unit_test(test_bigmem_populated),
		cmocka_unit_test_setup_teardown(test_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cold_log, setup, teardown),
	};
	return tl_run_tests(tests, NULL, NULL);
}
