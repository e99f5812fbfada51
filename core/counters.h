/*
 * counters.h — what the daemon counts: process-wide atomics, bumped from any
 * thread without locks (the server counts requests, results and errors, the
 * writer commits, the backup thread backups).
 *
 * Counting lives here, low in the house, so that every layer can count;
 * rendering the counters as Prometheus text is the daemon's
 * (daemon/metrics.h), which reads them with counters_get.
 */
#ifndef LD_COUNTERS_H
#define LD_COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define COUNTERS_MAX_CODE    64
#define COUNTERS_MAX_COMMAND 128
#define COUNTERS_MAX_BUCKETS 16

/* Histogram bounds (Prometheus "le"): seconds, and sizes (events). */
extern const double counters_latency_le[];
extern const size_t counters_nlatency;
extern const double counters_size_le[];
extern const size_t counters_nsize;

typedef struct counters_histogram {
	/* per bound, not cumulative; the last is +Inf */
	atomic_ullong bucket[COUNTERS_MAX_BUCKETS];
	atomic_ullong count;
	atomic_ullong sum_micro; /* sum × 1e6 (latency) or the plain sum (sizes) */
} counters_histogram;

typedef struct counters {
	atomic_ullong requests[COUNTERS_MAX_COMMAND]; /* by Request.command field number */
	atomic_ullong errors[COUNTERS_MAX_CODE];      /* by error code (positive) */
	atomic_ullong events_accepted, events_duplicate, events_rejected;
	atomic_ullong commits_ok, commits_failed;
	counters_histogram request_events; /* events per append request */
	counters_histogram commit_events;  /* events per transaction */
	counters_histogram commit_seconds; /* start of the transaction → end of its commit */
	atomic_ullong backups_ok, backups_failed, backup_bytes;
	atomic_llong backup_last_ok; /* unix seconds */
	atomic_llong backup_last_us;
	/* The request listeners' connections (server/listen.c): held now, and
	 * those closed as they came, by the limit they met. */
	atomic_llong conns_held;
	atomic_ullong conns_refused_addr, conns_refused_local, conns_refused_total,
	    conns_refused_memory, conns_refused_fds;
	atomic_ullong fd_short_seconds; /* seconds seen with almost no descriptor free */
} counters;

/* The counters, for reading (atomic loads). */
const counters *counters_get(void);

/* A request was received (its Request.command field number; 0 if it could
 * not be decoded). */
void counters_request(int command);
/* An append request of n events was decided: how many were recorded,
 * were duplicates, were rejected. */
void counters_append(size_t n, uint32_t accepted, uint32_t duplicates, uint32_t rejected);
/* An error was answered: a whole request's, or one event's (code < 0). */
void counters_error(int code);
/* The writer committed (ok) or failed a transaction of `events` events
 * after `us` microseconds from its start to the end of the commit. */
void counters_commit(size_t events, int64_t us, int ok);
/* The request listeners hold `held` connections now. */
void counters_conns(long long held);
/* A new connection was closed as it came: beyond the limit of its address
 * (COUNTERS_CONN_ADDR), of loopback (_LOCAL), of every connection (_TOTAL),
 * for want of memory (_MEMORY), or as accepted, on any socket, because its
 * descriptor was one of the last (_DESCRIPTORS, daemon/fdgate.h). */
enum {
	COUNTERS_CONN_ADDR,
	COUNTERS_CONN_LOCAL,
	COUNTERS_CONN_TOTAL,
	COUNTERS_CONN_MEMORY,
	COUNTERS_CONN_DESCRIPTORS
};
void counters_conn_refused(int why);
/* A second passed with almost no descriptor free. */
void counters_fd_short(void);
/* A backup finished: ok, its duration and size. */
void counters_backup(int ok, int64_t us, uint64_t bytes);

#endif
