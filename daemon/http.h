/*
 * http.h — the metrics endpoint, on proto/web.h's server.
 *
 * One thread of libmicrohttpd's serves GET (and HEAD) /metrics with
 * metrics_render's text, Content-Type "text/plain; version=0.0.4", and
 * /healthz and /readyz with metrics_health's and metrics_readiness's line
 * and status (200 or 503); any other path is 404, any other method 405. At
 * most 32 connections, 8 from one address; a request must arrive whole
 * within 10 s (a client sending a header line now and then is cut off
 * then), and an idle connection is closed after 10 s; libmicrohttpd's
 * messages are logged ten a minute at most.
 * Meant for loopback: a non-loopback address is served but logged as a
 * warning, as the page needs no credentials.
 */
#ifndef LD_HTTP_H
#define LD_HTTP_H

#include "metrics.h"

typedef struct http_server http_server;

/* Listens on addr ("127.0.0.1:9750", "tcp://127.0.0.1:9750", "[::1]:9750",
 * "localhost:9750", as web_parse_addr; port 0 picks a free one) and serves the metrics of s, w
 * and r. Returns 0 and *out, or LD_E(INVALID_VALUE) / LD_E(UNAVAILABLE)
 * with e->message naming the address. */
int http_start(http_server **out, const char *addr, store *s, writer *w, runner *r,
	       ld_errinfo *e);
/* The port listened on. */
int http_port(const http_server *h);
/* Stops serving (waits for a scrape in progress) and frees; NULL is fine. */
void http_stop(http_server *h);

#endif
