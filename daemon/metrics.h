/*
 * metrics.h — the daemon's counters and their Prometheus text exposition
 * (format 0.0.4), served by daemon/http.c on a loopback address.
 *
 * Counters are process-wide atomics, bumped from any thread without locks:
 * the server counts requests, results and errors, the writer counts commits.
 * Gauges (log head, projection lag, map usage) are read from the modules
 * when a scrape renders them. Every family is documented in docs/OPERATIONS.md.
 *
 * Other modules add families of their own with metrics_add_source: a
 * function called at each scrape that writes complete families (# HELP,
 * # TYPE, samples) into the buffer. The subscriptions (daemon/subscribe.c)
 * hook their subscriber lag in here, e.g.
 * ledgerd_subscriber_lag_events{subscriber=...}.
 */
#ifndef LD_METRICS_H
#define LD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "projection.h"
#include "store.h"
#include "writer.h"

/* A growing text buffer the sources write into. */
typedef struct metrics_buf {
	char *data;
	size_t len, cap;
	int oom; /* memory ran out: the scrape answers 500 */
} metrics_buf;

/* printf into the buffer. */
void metrics_printf(metrics_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A source of families, called on the HTTP server's thread at each scrape;
 * it must be thread-safe and must not block for long. */
typedef void (*metrics_source_fn)(metrics_buf *b, void *arg);

/* Registers (fn, arg); up to 8 sources. Returns 0 or -1 when full.
 * metrics_remove_source(fn, arg) takes it out again and returns once no
 * scrape is calling it. */
int metrics_add_source(metrics_source_fn fn, void *arg);
void metrics_remove_source(metrics_source_fn fn, void *arg);

/* --- what the modules count (any thread) --- */

/* A request was received (its Request.command field number; 0 if it could
 * not be decoded). */
void metrics_request(int command);
/* An append request of n events was decided: how many were recorded,
 * were duplicates, were rejected. */
void metrics_append(size_t n, uint32_t accepted, uint32_t duplicates, uint32_t rejected);
/* An error was answered: a whole request's, or one event's (code < 0). */
void metrics_error(int code);
/* The writer committed (ok) or failed a transaction of `events` events
 * after `us` microseconds from its start to the end of the commit. */
void metrics_commit(size_t events, int64_t us, int ok);
/* A backup finished: ok, its duration and size. */
void metrics_backup(int ok, int64_t us, uint64_t bytes);

/* Renders every family: the counters above, then the log head (from w),
 * the log's and projections' map usage (s, and r's store), each projection's
 * checkpoint and lag (r; NULL leaves them out), then the sources. Returns
 * the text (malloc'd, *len bytes, NUL-terminated) or NULL if memory runs
 * out. */
char *metrics_render(store *s, writer *w, runner *r, size_t *len);

#endif
