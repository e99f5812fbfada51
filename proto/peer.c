/* peer.c — the remote address of an NNG connection; a raft address read. See peer.h. */
#include "peer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* Whether the 16 bytes of an IPv6 address are an IPv4-mapped one
 * (::ffff:A.B.C.D, A.B.C.D its last 4). */
static int v4_mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = {[10] = 0xff, [11] = 0xff};
	return memcmp(a, prefix, sizeof prefix) == 0;
}

int ld_peer_of(const nng_sockaddr *sa, uint8_t key[LD_PEER_KEY], char *text, size_t n)
{
	memset(key, 0, LD_PEER_KEY);
	key[0] = (uint8_t)sa->s_family;
	if (sa->s_family == NNG_AF_INET6 && v4_mapped(sa->s_in6.sa_addr)) {
		/* An IPv4 client of a dual-stack listener is that IPv4 address. */
		key[0] = NNG_AF_INET;
		memcpy(key + 1, sa->s_in6.sa_addr + 12, 4);
		inet_ntop(AF_INET, key + 1, text, (socklen_t)n);
	} else if (sa->s_family == NNG_AF_INET) {
		memcpy(key + 1, &sa->s_in.sa_addr, 4);
		inet_ntop(AF_INET, &sa->s_in.sa_addr, text, (socklen_t)n);
	} else if (sa->s_family == NNG_AF_INET6) {
		memcpy(key + 1, sa->s_in6.sa_addr, 16);
		inet_ntop(AF_INET6, sa->s_in6.sa_addr, text, (socklen_t)n);
	} else {
		snprintf(text, n, "ipc"); /* every local process: one address */
	}
	return key[0];
}

int ld_pipe_peer(nng_pipe p, uint8_t key[LD_PEER_KEY], char *text, size_t n)
{
	nng_sockaddr sa;
	memset(key, 0, LD_PEER_KEY);
	snprintf(text, n, "?");
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return 0;
	return ld_peer_of(&sa, key, text, n);
}

int ld_ipv4_port(const char *text, size_t len, struct sockaddr_in *sa, char *plain, size_t n)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = memrchr(text, ':', len);
	if (!colon || colon == text || (size_t)(colon - text) >= sizeof host)
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	unsigned long port = 0;
	const char *p = colon + 1, *end = text + len;
	if (p == end)
		return -1;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9' || (port = port * 10 + (unsigned long)(*p - '0')) > 65535)
			return -1;
	}
	memset(sa, 0, sizeof(*sa));
	if (port < 1 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -1;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (plain) {
		inet_ntop(AF_INET, &sa->sin_addr, host, sizeof host);
		snprintf(plain, n, "%s:%lu", host, port);
	}
	return 0;
}

int ld_peer_loopback(const uint8_t key[LD_PEER_KEY])
{
	static const uint8_t v6_loop[16] = {[15] = 1};
	if (key[0] == NNG_AF_INET)
		return key[1] == 127;
	if (key[0] != NNG_AF_INET6)
		return 0;
	return memcmp(key + 1, v6_loop, 16) == 0 || (v4_mapped(key + 1) && key[13] == 127);
}

void ld_peer_count_key(uint8_t key[LD_PEER_KEY])
{
	if (ld_peer_loopback(key)) {
		memset(key, 0, LD_PEER_KEY);
		key[0] = NNG_AF_INET;
		key[1] = 127;
	} else if (key[0] == NNG_AF_INET6) {
		memset(key + 1 + 8, 0, 8);
	}
}

void ld_peers_init(ld_peers *t, unsigned max_total, unsigned max_per_addr)
{
	*t = (ld_peers){.max_total = max_total, .max_per_addr = max_per_addr};
	pthread_mutex_init(&t->lock, NULL);
}

int ld_peers_admit(ld_peers *t, uint32_t pipe, const uint8_t key[LD_PEER_KEY],
		   unsigned per_addr, unsigned long *say, unsigned *held)
{
	unsigned same = 0;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		same += memcmp(t->e[i].addr, key, LD_PEER_KEY) == 0;
	int why = t->max_total && t->n >= t->max_total	   ? 1
		  : per_addr && same >= per_addr ? 2
								 : 0;
	if (!why && t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct ld_peer *ne = realloc(t->e, cap * sizeof(*ne));
		if (ne) {
			t->e = ne;
			t->cap = cap;
		} else {
			why = -1;
		}
	}
	*say = 0;
	if (why) {
		*say = ld_every_count(&t->refusals, 60 * 1000000LL);
	} else {
		t->e[t->n].pipe = pipe;
		memcpy(t->e[t->n].addr, key, LD_PEER_KEY);
		t->n++;
	}
	*held = (unsigned)t->n;
	pthread_mutex_unlock(&t->lock);
	return why;
}

unsigned ld_peers_held(ld_peers *t)
{
	pthread_mutex_lock(&t->lock);
	unsigned n = (unsigned)t->n;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void ld_peers_remove(ld_peers *t, uint32_t pipe)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].pipe == pipe) {
			t->e[i] = t->e[--t->n];
			break;
		}
	pthread_mutex_unlock(&t->lock);
}

void ld_peers_free(ld_peers *t)
{
	free(t->e);
	t->e = NULL;
	t->n = t->cap = 0;
	pthread_mutex_destroy(&t->lock);
}
