/*
 * web.h — an HTTP server that slow clients cannot hold: libmicrohttpd
 * (Debian libmicrohttpd-dev) started, limited, watched and stopped in one
 * place, for the daemon's metrics endpoint and the dashboard. NNG 1.5.2's own
 * HTTP server reads past a heap buffer on some request paths (a bug of that
 * version: docs/LIBRARIES.md), so it is not used.
 *
 * What the server guarantees, whoever answers the requests:
 * - at most max_conn connections, max_per_ip from one address;
 * - a request must arrive whole within deadline_s of its connection (or of
 *   the answer before it on a kept-alive connection). libmicrohttpd's own
 *   timeout (idle_s) is of inactivity only, reset by every byte, so a
 *   client sending a header line now and then would hold a connection, and
 *   with a thread per connection its thread, for ever. A watch thread shuts
 *   down the socket of a request past its deadline; libmicrohttpd then
 *   closes the connection. A connection is unlinked by its close notice
 *   under the same lock, before libmicrohttpd closes its socket, so no other
 *   file's descriptor is ever shut down. An answer being streamed (a
 *   request that arrived) is not concerned;
 * - libmicrohttpd's own messages reach the log callback at most ten a
 *   minute, then how many were left out: a client hammering the server
 *   cannot flood the log.
 *
 * The handler is called once per request, once it has arrived whole (a body
 * is read and dropped: the servers are GET-only), and answers with
 * libmicrohttpd's response calls (MHD_queue_response). Answering only then
 * keeps the connection alive for the next request.
 */
#ifndef LD_WEB_H
#define LD_WEB_H

#include <microhttpd.h>
#include <stddef.h>
#include <sys/socket.h>

#include "codec.h"

typedef struct web web;

typedef enum MHD_Result (*web_handler)(void *arg, struct MHD_Connection *c, const char *url,
				       const char *method);

typedef struct web_options {
	const char *name;	/* in log lines: "metrics", "dashboard" */
	unsigned max_conn;	/* connections at most */
	unsigned max_per_ip;	/* from one address at most */
	unsigned idle_s;	/* an idle connection is closed after */
	unsigned deadline_s;	/* a request must arrive whole within */
	int thread_per_connection; /* for answers that block (live streams) */
	size_t conn_memory;	/* per connection; 0: libmicrohttpd's default */
	unsigned backlog;	/* listen backlog; 0: libmicrohttpd's default */
	int keep_nul_escapes;	/* leave "%00" undecoded in paths and arguments */
	web_handler handler;
	void *arg;
	/* One line of the server's (no newline); called from its threads. */
	void (*log)(void *arg, const char *line);
} web_options;

/* "HOST:PORT", "[V6]:PORT", optionally after tcp:// or http://; HOST a
 * numeric address, "localhost" or empty (127.0.0.1), or a name of this host.
 * host (cap bytes, may be NULL) gets the host as written (brackets kept).
 * Returns 0, or -1 when it is not such an address. */
int web_parse_addr(const char *addr, struct sockaddr_storage *ss, int *v6, char *host,
		   size_t cap);

/* Listens on addr (port 0 picks a free one) and serves. Returns 0 and *out,
 * or LD_E(INVALID_VALUE) (not an address) / LD_E(UNAVAILABLE) (cannot
 * listen) / LD_E(INTERNAL) with e->message naming the address. */
int web_start(web **out, const char *addr, const web_options *o, ld_errinfo *e);

/* The port listened on; whether the address is a loopback one. */
int web_port(const web *w);
int web_loopback(const web *w);

/* Connections shut down by the deadline so far. */
unsigned long web_cut(const web *w);

/* Stops serving (waits for the answers in progress) and frees; NULL is
 * fine. Answers that block must be released before. */
void web_stop(web *w);

#endif
