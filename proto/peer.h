/*
 * peer.h — the remote address of an NNG connection, as a key to count
 * connections by and as text for the logs and identities; and the table of
 * the connections a socket admitted, which bounds them in all and from one
 * address (the feed's subscribers, daemon/feed.c; the request listeners'
 * connections, server/listen.c). A connection beyond is closed by NNG's
 * pre-add callback, before it is added: it has sent nothing yet, which is
 * not NNG 1.5.2's close bug (proto/sockclose.h). And the one reader of a
 * raft address (A.B.C.D:PORT).
 */
#ifndef LD_PEER_H
#define LD_PEER_H

#include <netinet/in.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"

#define LD_PEER_KEY 17 /* the family, then up to 16 bytes of address */

/* Fills key (the family, then the address: zeros past it, all zeros when
 * the pipe has no address) and text (the address, "ipc" for an IPC
 * connection, whose peers all share one key, "?" when there is none).
 * Returns the family (NNG_AF_INET, NNG_AF_INET6, NNG_AF_IPC...), or 0. */
int ld_pipe_peer(nng_pipe p, uint8_t key[LD_PEER_KEY], char *text, size_t n);
/* The same of an address. An IPv4-mapped IPv6 address (::ffff:A.B.C.D: an
 * IPv4 client of a listener on [::]) is that IPv4 address, key and text:
 * it is counted as that address (as an IPv6 one by its /64, every IPv4
 * client of a dual-stack listener shared one count), and a role file's
 * [addr:A.B.C.D] names it. */
int ld_peer_of(const nng_sockaddr *sa, uint8_t key[LD_PEER_KEY], char *text, size_t n);

/* Whether key is a loopback address: 127.0.0.0/8, ::1 or ::ffff:127.x.y.z. */
int ld_peer_loopback(const uint8_t key[LD_PEER_KEY]);

/* A raft address, "A.B.C.D:PORT": the first len bytes of text (up to a
 * configuration's space and URL, replica.h), an IPv4 address and a port of
 * 1 to 65535 in decimal digits, nothing else. 0 with *sa filled (and, when
 * plain is given, the address written the one way inet_ntop and %u write it:
 * 127.0.0.1:020481 and 127.0.0.1:20481 are one address under two names), or
 * -1. The one reader of it: the peers' settings, a node added, the transport
 * and the private-address rule. */
int ld_ipv4_port(const char *text, size_t len, struct sockaddr_in *sa, char *plain, size_t n);

/* Turns key into the key its connection is counted under, in place: every
 * loopback address is one (a local process may bind any of 127.0.0.0/8 as
 * its source), an IPv6 address counts by its /64 (what one site, or one
 * host, is given: an address per connection costs it nothing). */
void ld_peer_count_key(uint8_t key[LD_PEER_KEY]);

/* The connections admitted and their addresses, under their own lock (NNG
 * calls pipe callbacks on its own threads). */
typedef struct ld_peers {
	pthread_mutex_t lock;
	struct ld_peer {
		uint32_t pipe;
		uint8_t addr[LD_PEER_KEY];
	} *e;
	size_t n, cap;
	unsigned max_total, max_per_addr;     /* 0: no limit */
	ld_every refusals; /* told at most once a minute */
} ld_peers;

/* An empty table with its limits (0: none). */
void ld_peers_init(ld_peers *t, unsigned max_total, unsigned max_per_addr);
/* Admits the connection `pipe` from address key: 0, or 1 (beyond
 * max_total), 2 (beyond per_addr from key's address; 0: no limit), -1 (no
 * memory). The feed passes t->max_per_addr; the server a limit of its own
 * for loopback and none for IPC (server/listen.c).
 * On a refusal, *say is the refusals to say now (those since the last time
 * said), or 0 when they were said less than a minute ago; *held the
 * connections admitted. */
int ld_peers_admit(ld_peers *t, uint32_t pipe, const uint8_t key[LD_PEER_KEY],
		   unsigned per_addr, unsigned long *say, unsigned *held);
/* The connections admitted now. */
unsigned ld_peers_held(ld_peers *t);
/* The connection `pipe` is gone (nothing if it was not admitted). */
void ld_peers_remove(ld_peers *t, uint32_t pipe);
void ld_peers_free(ld_peers *t);

#endif
