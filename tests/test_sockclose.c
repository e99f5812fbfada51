/*
 * test_sockclose.c — ld_sock_close (proto/sockclose.h): a socket closes and
 * cannot be used after; a socket never opened is nothing to close; and a
 * subscriber closed again and again while a publisher (another process)
 * streams, which makes NNG 1.5.2's nng_close hang in about one close in
 * five here, never holds its caller past the bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static const char *self; /* this binary: argv[0] (run.sh gives its whole path) */

/* The publisher runs in a process of its own (this binary again, with
 * SOCKCLOSE_PUBLISH=url): in one process with the subscriber, what the hung
 * close holds would take the publisher's messages with it, and
 * LeakSanitizer would count them. It streams 2 KB messages until killed. */
static int publish_main(const char *url)
{
	nng_socket pub;
	char buf[2000];
	memset(buf, 'x', sizeof(buf));
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (nng_pub0_open(&pub) != 0 || nng_listen(pub, url, NULL, 0) != 0)
		return 1;
	for (;;) {
		nng_send(pub, buf, sizeof(buf), 0);
		nanosleep(&(struct timespec){0, 20000}, NULL);
	}
}

static void test_bounded_while_streaming(void **state)
{
	(void)state;
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", tl_free_port());
	char *argv[] = {"test_sockclose", NULL};
	pid_t pub;
	/* The test's environment (its TMPDIR: run.sh sees it), and the url. */
	setenv("SOCKCLOSE_PUBLISH", url, 1);
	int spawned = posix_spawn(&pub, self, NULL, NULL, argv, environ);
	unsetenv("SOCKCLOSE_PUBLISH");
	assert_int_equal(spawned, 0);

	enum { ROUNDS = 300 };
	int hung_at = 0, round;
	int64_t worst = 0;
	for (round = 1; round <= ROUNDS && !hung_at; round++) {
		nng_socket sub;
		assert_int_equal(nng_sub0_open(&sub), 0);
		assert_int_equal(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
		assert_int_equal(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 5000), 0);
		/* The publisher may still be starting: the dial retries. */
		int rv = NNG_ECONNREFUSED;
		for (int i = 0; i < 500 && rv == NNG_ECONNREFUSED; i++)
			if ((rv = nng_dial(sub, url, NULL, 0)) == NNG_ECONNREFUSED)
				nanosleep(&(struct timespec){0, 10000000}, NULL);
		assert_int_equal(rv, 0);
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
	kill(pub, SIGKILL);
	waitpid(pub, NULL, 0);
	if (hung_at)
		printf("NNG's close hung at close %d (of at most %d); the caller went on after "
		       "%lld ms at most\n",
		       hung_at, ROUNDS, (long long)worst);
	else
		printf("NNG's close did not hang in %d closes; the longest took %lld ms\n", ROUNDS,
		       (long long)worst);
}

int main(int argc, char **argv)
{
	(void)argc;
	self = argv[0];
	const char *publish = getenv("SOCKCLOSE_PUBLISH");
	if (publish)
		return publish_main(publish);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_closes),
	    cmocka_unit_test(test_bounded_while_streaming),
	};
	return tl_run_tests(tests, NULL, NULL);
}
