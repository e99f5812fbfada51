/*
 * server.h — NNG behind one layer (server/): the REP socket, its listeners
 * and the request loop (the async server pattern: N contexts, each an
 * nng_ctx and an nng_aio whose callback receives, dispatches, replies and
 * receives again). How its files divide the work: server/call.h.
 *
 * Reads are answered on NNG's threads inside a short read transaction.
 * Appends are checked statelessly (proto/check.h) on NNG's threads, then
 * handed to the writer; the reply is sent when the writer's commit decides
 * them. Personal data is sealed on a thread of the server's own first: a
 * new member key is a synced commit of the keystore. Callbacks never block
 * and never write to LMDB.
 *
 * Identity: each request's connection is identified (roles.h):
 * "tls:<group>" for tls+tcp://, "uid:<number>" of the peer for ipc://,
 * "addr:<ip>" for plain tcp:// (the development mode; listen on loopback
 * only). A tls+tcp:// listener is configured as
 *   tls+tcp://HOST:PORT?name=GROUP[&ca=FILE]
 * (ca defaults to tls_ca): it has a TLS configuration of its own that
 * trusts only that CA and requires a client certificate, so every client
 * whose certificate chains to it is tls:GROUP. NNG 1.5.2 exposes nothing of
 * the peer certificate but NNG_OPT_TLS_VERIFIED (NNG_OPT_TLS_PEER_CN came
 * in 1.6.0): the issuing CA is the identity, not the CN. Two listeners with
 * different names may not trust the same CA file contents. The identity's
 * role decides what the request may do; a refused request gets
 * ERR_PERMISSION_DENIED and nothing is written. The identity is the
 * recorded events' actor: never taken from the client.
 *
 * Fairness: at most CPUs - 1 (at least 1) requests of one identity are
 * served on NNG's task threads at once (every row, until it hands its call
 * off); the others wait parked, in arrival order, for one of their
 * identity to end, and one identity holds at most half the workers,
 * running and parked: a request beyond is refused ERR_BUSY before it is
 * decoded (server.c, fair_enter).
 *
 * Limits: every listener refuses messages over `max_msg` bytes (NNG closes
 * such a connection as their header comes, before it reserves their
 * length: what a connection can hold in a message whose body does not
 * come is max_msg); a request over max_msg whose header is within it (the
 * SP header's bytes) gets an ERR_TOO_LARGE answer.
 * An answer waits at most 10 s for its connection to take it (its client
 * reads slower than it asks), and is dropped then; while half the workers
 * wait so, at most 100 ms, and a connection with 4 answers waiting has the
 * next dropped at once (logged at most once a second): a client that does
 * not read its answers cannot hold the workers. A new connection is closed
 * before it is added when the listeners hold max_conns already (every
 * listener, IPC too; by default half the process's descriptor limit), or
 * its address max_conns_per_ip (loopback, every 127.0.0.0/8 and ::1 address
 * as one, max_conns_local; an IPv6 address counts by its /64; IPC only in
 * all); logged at most once a minute. Each second the server also looks
 * whether the process has almost no descriptor left (what NNG's handshakes,
 * the feed, raft and the files hold too), and logs that at most once a
 * minute. The requests being served hold
 * their decoded form (up to 16 times their size, 256 MiB: proto/codec.h)
 * until answered, an append until its commit: at most `decode_memory` of
 * it in all; a request that would take more, while others hold some, is
 * answered ERR_BUSY at once, before it is decoded (clients retry it).
 * Joins of persons the ledger holds: a clerk's join naming by national ID
 * a person the ledger already holds, or naming a member it holds (not a
 * resend of a recorded event), is
 * answered with what the ledger knows of the person (ERR_ALREADY_MEMBER
 * naming the member and its organisation: a transfer is needed), which
 * tells whether an ID is a member's. So each clerk identity may make
 * its role's known_joins such joins, and one more every known_joins_every
 * seconds (roles.h; 20 and 180 unless the role file says otherwise);
 * a request that would need more, and while the allowance is below one
 * any request with a join by national ID, is refused whole
 * (ERR_PERMISSION_DENIED, whatever its IDs are: the answer tells no more)
 * and logged with the identity; each such join is logged too. Admins are
 * not limited; the allowance is the node's, in memory.
 * IPC listeners are probed every second by a fresh connection, which must
 * reach the socket (its pre-add event, counted per listener before the
 * limits: one refused for max_conns still reached it), and are re-created
 * after two failed probes (not while the descriptor gate closes new
 * connections, daemon/fdgate.h: a re-creation drops every IPC client): with the NNG 1.5.2 bug (LIBRARIES.md)
 * a listener hit by a connect-and-close storm goes on accepting and
 * negotiating, but its pipes never reach the socket. A stuck listener is
 * serving again within about 3 s; busy workers do not make a probe fail.
 */
#ifndef LD_SERVER_H
#define LD_SERVER_H

#include <stddef.h>

#include "codec.h"
#include "merkle.h"
#include "projection.h"
#include "roles.h"
#include "store.h"
#include "writer.h"

#define SERVER_MAX_URLS 16
#define SERVER_MAX_CONNS_PER_IP 64
#define SERVER_MAX_CONNS_LOCAL 256
#define SERVER_DECODE_MEMORY ((size_t)1 << 30)

typedef struct server_options {
	const char *urls[SERVER_MAX_URLS]; /* tcp://host:port, ipc:///path,
	                                    * tls+tcp://host:port?name=GROUP[&ca=FILE] */
	size_t nurls;
	size_t max_msg;    /* largest request: the connection is dropped above it;
			    * 0 = 16 MiB, at most SERVER_HARD_MAX_MSG */
	int workers;       /* concurrent requests (contexts); 0 = 64 */
	int max_conns_per_ip; /* connections from one address (IPC: no limit);
			       * 0 = SERVER_MAX_CONNS_PER_IP, < 0 = no limit */
	int max_conns_local;  /* from loopback, in all; 0 = SERVER_MAX_CONNS_LOCAL,
			       * < 0 = no limit */
	int max_conns;        /* in all; 0 = half RLIMIT_NOFILE, < 0 = no limit */
	size_t decode_memory; /* requests decoded and held at once, their
			       * decoding's cost in all; 0 = SERVER_DECODE_MEMORY */
	int ipc_probe_ms;  /* IPC listener probe period; 0 = 1000, < 0 = off */
	const char *pub_url; /* where daemon/feed.c publishes the live feed (NULL: none):
			      * told to clients in PlanList.feed_url */
	merkle_signer *signer; /* signs tree heads; NULL: the audit-proof requests
				* answer ERR_INVALID_STATE */
	/* Mutual TLS of the tls+tcp:// listeners (PEM files): the server's
	 * certificate and key, and the default client CA of a listener
	 * without &ca= (a client without a certificate signed by its
	 * listener's CA, or with an expired one, fails the handshake). TLS
	 * 1.2 (NNG 1.5.2 with mbed TLS). */
	const char *tls_cert, *tls_key, *tls_ca;
	/* Who may do what (core/roles.h); NULL: the development mode,
	 * everyone is admin. Must outlive the server. */
	const roles *roles;
	struct keystore *keys; /* personal data: hashes national IDs, seals names
				* and phones, decrypts them on reads (core/pii.h);
				* NULL: events with personal data are refused */
	const char *data_dir; /* where the secret files live (hot backups copy them) */
	/* The cluster request (nodes.c): fills st with this node's replication
	 * status, strings pointing into a block it returns (freed after the
	 * answer is packed). NULL: a single node. */
	void *(*cluster_status)(void *arg, Ledger__ClusterStatus *st);
	/* The cluster_change request (nodes.c): queues the change; done(call,
	 * ...) is called once, from any thread, when it is over. 0, or an error
	 * with e (done not called). NULL: a single node, which has nothing to
	 * change. */
	int (*cluster_change)(void *arg, const Ledger__ClusterChangeRequest *q,
			      void (*done)(void *call, int rc, const ld_errinfo *e), void *call,
			      ld_errinfo *e);
	void *cluster_arg;
} server_options;

typedef struct server server;

/* Starts NNG with one task thread per CPU (server/threads.c), where NNG
 * 1.5.2 starts two: fewer idle threads to wake for each request. Call it
 * before any other NNG call of the process (NNG sizes its threads at its
 * first call, once); called later it changes nothing. server_start calls
 * it too. */
void server_nng_init(void);

/* Opens the socket, starts every listener and the workers. Projection
 * queries are answered from r (NULL: they answer ERR_UNKNOWN_COMMAND).
 * Returns 0, or a negative code with e->message naming the address that
 * failed. */
int server_start(server **out, store *s, writer *w, runner *r, const server_options *o,
		 ld_errinfo *e);

/* Stops receiving, closes the socket, waits for every callback, frees. */
void server_stop(server *srv);

/* Reads the role file at path again (SIGHUP) and checks the requests
 * admitted from now on against it; the clerks' allowances of joins by
 * national ID are kept. A file that does not load (unreadable, half
 * written, an error in it) changes nothing: LD_E(INVALID_VALUE) with
 * e->message saying why. A server started without a role file
 * (development mode) keeps it: LD_E(INVALID_STATE). Each table replaced is
 * kept until server_stop (a call admitted before may still use its role):
 * about 4.3 KB per identity per reload. One thread at a time. */
int server_reload_roles(server *srv, const char *path, ld_errinfo *e);

/* The role table in use (NULL: development mode); valid until the next
 * server_reload_roles. */
const roles *server_roles(server *srv);

/* Times an IPC listener was re-created because it stopped accepting. */
unsigned server_ipc_restarts(server *srv);

/* The registry of the subscribers the server has seen (the metrics list
 * their lag); valid until server_stop. */
struct sub_registry *server_subscribers(server *srv);

#endif
