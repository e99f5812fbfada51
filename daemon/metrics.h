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
 * # TYPE, samples) into the buffer; the subscribers' lag is one
 * (metrics_watch_subscribers).
 */
#ifndef LD_METRICS_H
#define LD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "projection.h"
#include "store.h"
#include "subscribe.h"
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

/* Renders every family: the build (ledgerd_build_info), the process (RSS,
 * CPU, file descriptors, threads, start time: the standard process_*
 * families, read from /proc/self), the counters above, then the log head
 * (from w), the log's and projections' map usage (s, and r's store), each
 * projection's checkpoint and lag (r; NULL leaves them out), whether the
 * daemon is ready, then the sources. Returns the text (malloc'd, *len bytes,
 * NUL-terminated) or NULL if memory runs out. */
char *metrics_render(store *s, writer *w, runner *r, size_t *len);

/* Adds the subscribers of reg (the server's registry) as families of their
 * own: ledgerd_subscriber_lag_events, ledgerd_subscriber_last_seen_seconds
 * and ledgerd_subscriber_waiting, labelled subscriber="ID", lag against w's
 * head. 0, or -1 when no source is free. metrics_unwatch_subscribers takes
 * them out again (before reg is freed). */
int metrics_watch_subscribers(sub_registry *reg, writer *w);
void metrics_unwatch_subscribers(void);

/*
 * Health, for the service manager and load balancers (daemon/http.c serves
 * them as /healthz and /readyz). The daemon's phase is set by main: STARTING
 * until the log is open and every listener is up, READY, then STOPPING
 * once a signal begins the shutdown.
 *
 * metrics_health: alive — the log can be read (a read transaction and the
 * head). metrics_readiness: ready to serve — READY, and no projection has
 * stopped on an event it could not apply. Each writes a one-line answer
 * into buf (n bytes; "ok: ..." or the reason) and returns the HTTP status:
 * 200, or 503.
 */
enum metrics_phase { PHASE_STARTING, PHASE_READY, PHASE_STOPPING };
void metrics_set_phase(enum metrics_phase p);
int metrics_health(store *s, writer *w, char *buf, size_t n);
int metrics_readiness(store *s, writer *w, runner *r, char *buf, size_t n);

#endif
