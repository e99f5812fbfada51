/*
 * metrics.h — the Prometheus text exposition (format 0.0.4) of the daemon's
 * counters, served by daemon/http.c on a loopback address.
 *
 * The counters themselves are core/counters.h (process-wide atomics that
 * any layer bumps: the server counts requests, results and errors, the
 * writer commits); this module only renders them. Gauges (log head, projection lag, map usage) are read from the modules
 * when a scrape renders them. Every family is documented in docs/OPERATIONS.md.
 *
 * Other modules add families of their own with metrics_add_source: a
 * function called at each scrape that writes complete families (# HELP,
 * # TYPE, samples) into the buffer, e.g. a subscriber's lag as
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

/* Renders every family: the counters above, then the log head (from w),
 * the log's and projections' map usage (s, and r's store), each projection's
 * checkpoint and lag (r; NULL leaves them out), then the sources. Returns
 * the text (malloc'd, *len bytes, NUL-terminated) or NULL if memory runs
 * out. */
char *metrics_render(store *s, writer *w, runner *r, size_t *len);

#endif
