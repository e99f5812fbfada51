/*
 * test_sockclose.c — ld_sock_close (proto/sockclose.h): a socket closes and
 * cannot be used after; a socket never opened is nothing to close; and a
 * subscriber closed again and again while a publisher streams, which makes
 * NNG 1.5.2's nng_close hang in about one close in five here, never holds
 * its caller past the bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>

#include "clock.h"
#include "sockclose.h"
#include "testlib.h"

/* A caller waits the bound, plus the time to be scheduled again on a
 * loaded machine under AddressSanitizer. */
#define SLACK_MS 3000

static void test_closes(void **state)
{
	(void)state;
	nng_socket s;
	assert_int_equal(nng_req0_open(&s), 0);
	int64_t t0 = ld_mono_ms();
	assert_int_equal(ld_sock_close(s, LD_SOCK_CLOSE_MS), 0);
	assert_true(ld_mono_ms() - t0 < LD_SOCK_CLOSE_MS);
	assert_int_equal(nng_send(s, "x", 1, 0), NNG_ECLOSED);
	/* Never opened: nothing to close, at once. */
	assert_int_equal(ld_sock_close((nng_socket)NNG_SOCKET_INITIALIZER, LD_SOCK_CLOSE_MS), 0);
}

typedef struct {
	nng_socket pub;
	atomic_int stop;
	unsigned long sent;
} streamer;

static void *stream_main(void *arg)
{
	streamer *st = arg;
	char buf[2000];
	memset(buf, 'x', sizeof(buf));
	while (!atomic_load(&st->stop)) {
		if (nng_send(st->pub, buf, sizeof(buf), 0) == 0)
			st->sent++;
		nanosleep(&(struct timespec){0, 20000}, NULL);
	}
	return NULL;
}

static void test_bounded_while_streaming(void **state)
{
	(void)state;
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", tl_free_port());
	streamer st = {0};
	assert_int_equal(nng_pub0_open(&st.pub), 0);
	assert_int_equal(nng_listen(st.pub, url, NULL, 0), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, stream_main, &st), 0);

	enum { ROUNDS = 300 };
	int hung_at = 0, round;
	int64_t worst = 0;
	for (round = 1; round <= ROUNDS && !hung_at; round++) {
		nng_socket sub;
		assert_int_equal(nng_sub0_open(&sub), 0);
		assert_int_equal(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
		assert_int_equal(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 5000), 0);
		assert_int_equal(nng_dial(sub, url, NULL, 0), 0);
		for (int k = 0; k < 3; k++) {
			nng_msg *m;
			assert_int_equal(nng_recvmsg(sub, &m, 0), 0);
			nng_msg_free(m);
		}
		int64_t t0 = ld_mono_ms();
		int rc = ld_sock_close(sub, LD_SOCK_CLOSE_MS);
		int64_t took = ld_mono_ms() - t0;
		if (took > worst)
			worst = took;
		if (took > LD_SOCK_CLOSE_MS + SLACK_MS)
			fail_msg("close %d held its caller %lld ms (bound %d ms)", round,
				 (long long)took, LD_SOCK_CLOSE_MS);
		if (rc)
			hung_at = round; /* NNG's reaper is blocked for good: stop here */
	}
	atomic_store(&st.stop, 1);
	pthread_join(th, NULL);
	int64_t t0 = ld_mono_ms();
	ld_sock_close(st.pub, LD_SOCK_CLOSE_MS);
	assert_true(ld_mono_ms() - t0 <= LD_SOCK_CLOSE_MS + SLACK_MS);
	if (hung_at)
		printf("NNG's close hung at close %d (of at most %d), %lu messages streamed; "
		       "the caller went on after %lld ms at most\n",
		       hung_at, ROUNDS, st.sent, (long long)worst);
	else
		printf("NNG's close did not hang in %d closes (%lu messages streamed); "
		       "the longest took %lld ms\n",
		       ROUNDS, st.sent, (long long)worst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_closes),
	    cmocka_unit_test(test_bounded_while_streaming),
	};
	return tl_run_tests(tests, NULL, NULL);
}
