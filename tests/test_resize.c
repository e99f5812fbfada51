/*
 * test_resize.c — a map growth while a reader walks a stream through an old
 * read transaction.
 *
 * Read transactions hold the store's resize lock shared and store_grow takes
 * it exclusive; the lock prefers writers, so a read lock asked for while a
 * growth waits is queued behind it. A stream read through a transaction
 * older than the stream's newest link reads the links through a newer
 * transaction: if that one took the lock again, the reader (holding the lock
 * through its old transaction) and the growth (waiting for it) would wait for
 * each other for ever — the daemon stopped answering while loading a demo of
 * 4 million events, its projection runner and its committer in that embrace.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "model.h"
#include "store.h"
#include "testlib.h"

typedef struct grower {
	store *s;
	_Atomic pid_t tid;
	int rc;
} grower;

static void *grow_main(void *arg)
{
	grower *g = arg;
	g->tid = (pid_t)syscall(SYS_gettid);
	g->rc = store_grow(g->s, 0);
	return NULL;
}

typedef struct reader {
	store_txn *t;
	int rc;
	size_t n;
	uint64_t seqs[8];
} reader;

static void *read_main(void *arg)
{
	reader *r = arg;
	uint32_t versions[8];
	r->rc = model_stream_read(r->t, "member/M1", 1, UINT64_MAX, 8, r->seqs, versions, &r->n);
	return NULL;
}

/* The thread is asleep (blocked), as /proc says. */
static int asleep(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

static void test_stream_read_while_map_grows(void **state)
{
	(void)state;
	tl_ledger l;
	tl_open(&l, 0);
	tl_tree(&l);
	ld_errinfo e = {0};
	assert_int_equal(tl_append(&l, tl_join("M1", "NJ-RIDER", 1), NULL, &e), 0);

	/* t sees the join; the payment after it is newer than t. */
	store_txn *t;
	assert_int_equal(store_read_begin(l.s, &t), 0);
	uint64_t paid;
	assert_int_equal(tl_append(&l, tl_dues("M1", 1000), &paid, &e), 0);

	/* A growth waits for t. */
	grower g = {.s = l.s};
	pthread_t gt, rt;
	assert_int_equal(pthread_create(&gt, NULL, grow_main, &g), 0);
	for (int i = 0; i < 100000 && !(g.tid && asleep(g.tid)); i++)
		usleep(100);
	assert_true(g.tid && asleep(g.tid));

	/* The stream through t, while it waits: both events, no deadlock. */
	reader r = {.t = t};
	assert_int_equal(pthread_create(&rt, NULL, read_main, &r), 0);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	int jr = pthread_timedjoin_np(rt, NULL, &until);
	if (jr == ETIMEDOUT)
		fail_msg("the stream read through an old transaction waits behind the map's growth, "
			 "which waits for that transaction: a deadlock");
	assert_int_equal(jr, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.seqs[1], paid);

	store_read_end(t);
	assert_int_equal(pthread_join(gt, NULL), 0);
	assert_int_equal(g.rc, 0);
	/* The ledger goes on after the growth. */
	assert_int_equal(tl_append(&l, tl_dues("M1", 500), NULL, &e), 0);
	tl_close(&l);
	tl_free_all();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_read_while_map_grows),
	};
	return tl_run_tests(tests, NULL, NULL);
}
