/*
 * test_peer.c — proto/peer.h: a raft address read one way wherever one is
 * given (the peers' settings, a node added, the transport, the
 * private-address rule), and the table that bounds a socket's connections
 * in all and from one address.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "peer.h"
#include "testlib.h"

static void test_ipv4_port_read(void **state)
{
	(void)state;
	struct sockaddr_in sa;
	char plain[64];
	assert_int_equal(ld_ipv4_port("10.0.0.2:7460", 13, &sa, plain, sizeof plain), 0);
	assert_int_equal(sa.sin_family, AF_INET);
	assert_int_equal(ntohs(sa.sin_port), 7460);
	assert_int_equal(ntohl(sa.sin_addr.s_addr), 0x0a000002u);
	assert_string_equal(plain, "10.0.0.2:7460");
	/* Only the first len bytes: a configuration's address carries its URL. */
	const char *conf = "127.0.0.1:20481 tcp://127.0.0.1:7450";
	assert_int_equal(ld_ipv4_port(conf, 15, &sa, NULL, 0), 0);
	assert_int_equal(ntohs(sa.sin_port), 20481);
	/* Another name of the same address: read, and its plain form differs. */
	assert_int_equal(ld_ipv4_port("127.0.0.1:020481", 16, &sa, plain, sizeof plain), 0);
	assert_string_equal(plain, "127.0.0.1:20481");
	assert_int_equal(ld_ipv4_port("1.2.3.4:1", 9, &sa, NULL, 0), 0);
	assert_int_equal(ld_ipv4_port("1.2.3.4:65535", 13, &sa, NULL, 0), 0);
}

static void test_ipv4_port_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",                  /* nothing */
	    "10.0.0.2",          /* no port */
	    "10.0.0.2:",         /* an empty port */
	    ":7460",             /* no host */
	    "10.0.0.2:0",        /* port 0 */
	    "10.0.0.2:65536",    /* beyond */
	    "10.0.0.2:123456",   /* far beyond */
	    "10.0.0.2:99999999999999999999999", /* past any integer */
	    "10.0.0.2:7460x",    /* a tail (atoi read it as 7460) */
	    "10.0.0.2:+7460",    /* a sign */
	    "10.0.0.2: 7460",    /* a space */
	    "10.0.0.256:7460",   /* not an address */
	    "10.0.2:7460",       /* not four parts */
	    "node1:7460",        /* a name: C-Raft's TCP takes addresses */
	    "[::1]:7460",        /* IPv6: C-Raft's TCP is IPv4 only */
	    "1111.2222.3333.4444.5555:7460", /* longer than any address */
	};
	struct sockaddr_in sa;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (ld_ipv4_port(bad[i], strlen(bad[i]), &sa, NULL, 0) != -1)
			fail_msg("'%s' was read as a raft address", bad[i]);
	}
}

static void key_v4(uint8_t key[LD_PEER_KEY], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(key, 0, LD_PEER_KEY);
	key[0] = NNG_AF_INET;
	key[1] = a, key[2] = b, key[3] = c, key[4] = d;
}

/* An IPv4 client of a dual-stack listener (::ffff:A.B.C.D) is that IPv4
 * address: its text (a role file's [addr:A.B.C.D] names it) and its count
 * key (as an IPv6 address by its /64, every IPv4 client of the listener
 * shared one: 64 connections from anyone shut out every other). */
static void test_v4_mapped(void **state)
{
	(void)state;
	nng_sockaddr a = {.s_in6 = {.sa_family = NNG_AF_INET6}};
	nng_sockaddr b = a;
	inet_pton(AF_INET6, "::ffff:192.0.2.7", a.s_in6.sa_addr);
	inet_pton(AF_INET6, "::ffff:198.51.100.9", b.s_in6.sa_addr);
	uint8_t ka[LD_PEER_KEY], kb[LD_PEER_KEY], k4[LD_PEER_KEY];
	char text[64];
	assert_int_equal(ld_peer_of(&a, ka, text, sizeof text), NNG_AF_INET);
	assert_string_equal(text, "192.0.2.7");
	assert_int_equal(ld_peer_of(&b, kb, text, sizeof text), NNG_AF_INET);
	nng_sockaddr v4 = {.s_in = {.sa_family = NNG_AF_INET}};
	inet_pton(AF_INET, "192.0.2.7", &v4.s_in.sa_addr);
	assert_int_equal(ld_peer_of(&v4, k4, text, sizeof text), NNG_AF_INET);
	assert_memory_equal(ka, k4, LD_PEER_KEY); /* one address, however it came */
	ld_peer_count_key(ka);
	ld_peer_count_key(kb);
	assert_memory_not_equal(ka, kb, LD_PEER_KEY); /* two clients, two counts */
	/* A mapped loopback is loopback; a real IPv6 address stays one. */
	inet_pton(AF_INET6, "::ffff:127.0.0.5", a.s_in6.sa_addr);
	ld_peer_of(&a, ka, text, sizeof text);
	assert_true(ld_peer_loopback(ka));
	inet_pton(AF_INET6, "2001:db8::7", a.s_in6.sa_addr);
	assert_int_equal(ld_peer_of(&a, ka, text, sizeof text), NNG_AF_INET6);
	assert_string_equal(text, "2001:db8::7");
}

static void test_loopback(void **state)
{
	(void)state;
	uint8_t k[LD_PEER_KEY];
	key_v4(k, 127, 0, 0, 1);
	assert_true(ld_peer_loopback(k));
	key_v4(k, 127, 9, 9, 9);
	assert_true(ld_peer_loopback(k));
	key_v4(k, 10, 0, 0, 1);
	assert_false(ld_peer_loopback(k));
	memset(k, 0, sizeof k);
	k[0] = NNG_AF_INET6;
	k[16] = 1; /* ::1 */
	assert_true(ld_peer_loopback(k));
	k[11] = 0xff, k[12] = 0xff, k[13] = 127, k[16] = 1; /* ::ffff:127.0.0.1 */
	assert_true(ld_peer_loopback(k));
	k[13] = 10; /* ::ffff:10.0.0.1 */
	assert_false(ld_peer_loopback(k));
}

static void test_peers_bounds(void **state)
{
	(void)state;
	ld_peers t;
	ld_peers_init(&t, 3, 2);
	uint8_t a[LD_PEER_KEY], b[LD_PEER_KEY];
	key_v4(a, 10, 0, 0, 1);
	key_v4(b, 10, 0, 0, 2);
	unsigned long say = 0;
	unsigned held = 0;
	assert_int_equal(ld_peers_admit(&t, 1, a, t.max_per_addr, &say, &held), 0);
	assert_int_equal(ld_peers_admit(&t, 2, a, t.max_per_addr, &say, &held), 0);
	assert_int_equal(ld_peers_admit(&t, 3, a, t.max_per_addr, &say, &held), 2); /* a third from a */
	assert_int_equal(say, 1);
	assert_int_equal(ld_peers_admit(&t, 4, b, t.max_per_addr, &say, &held), 0);
	assert_int_equal(ld_peers_admit(&t, 5, b, t.max_per_addr, &say, &held), 1); /* a fourth in all */
	assert_int_equal(say, 0); /* said less than a minute ago */
	assert_int_equal(held, 3);
	ld_peers_remove(&t, 1);
	ld_peers_remove(&t, 99); /* never admitted: nothing */
	assert_int_equal(ld_peers_admit(&t, 6, a, t.max_per_addr, &say, &held), 0);
	ld_peers_remove(&t, 6);
	/* The caller's own limit for an address (the server's IPC: none). */
	assert_int_equal(ld_peers_admit(&t, 7, b, 0, &say, &held), 0);
	assert_int_equal(held, 3);
	assert_int_equal(ld_peers_held(&t), 3);
	ld_peers_free(&t);
}

/* Loopback counts as one address, IPv6 by its /64; IPv4 as it is. */
static void test_count_key(void **state)
{
	(void)state;
	uint8_t k[LD_PEER_KEY], l[LD_PEER_KEY];
	key_v4(k, 127, 0, 0, 2);
	key_v4(l, 127, 0, 0, 1);
	ld_peer_count_key(k);
	ld_peer_count_key(l);
	assert_memory_equal(k, l, LD_PEER_KEY);
	memset(l, 0, sizeof l);
	l[0] = NNG_AF_INET6;
	l[16] = 1; /* ::1: the same as 127.x.y.z */
	ld_peer_count_key(l);
	assert_memory_equal(k, l, LD_PEER_KEY);
	key_v4(k, 10, 0, 0, 1);
	key_v4(l, 10, 0, 0, 2);
	ld_peer_count_key(k);
	ld_peer_count_key(l);
	assert_memory_not_equal(k, l, LD_PEER_KEY);
	memset(k, 0, sizeof k);
	k[0] = NNG_AF_INET6;
	k[1] = 0x20, k[2] = 0x01, k[8] = 7, k[16] = 1;  /* 2001:0:0:7::1 */
	memcpy(l, k, sizeof l);
	l[9] = 0xab, l[16] = 0x99;                      /* 2001:0:0:7:ab00::99 */
	ld_peer_count_key(k);
	ld_peer_count_key(l);
	assert_memory_equal(k, l, LD_PEER_KEY);
	l[8] = 8; /* another /64 */
	assert_memory_not_equal(k, l, LD_PEER_KEY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4_port_read),
	    cmocka_unit_test(test_ipv4_port_refused),
	    cmocka_unit_test(test_v4_mapped),
	    cmocka_unit_test(test_loopback),
	    cmocka_unit_test(test_peers_bounds),
	    cmocka_unit_test(test_count_key),
	};
	return tl_run_tests(tests, NULL, NULL);
}
