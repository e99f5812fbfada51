/* counters.c — the daemon's counters. See counters.h. */
#include "counters.h"

#include <time.h>

const double counters_latency_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                      0.05,   0.1,   0.25,   0.5,   1,    2.5};
const size_t counters_nlatency = sizeof(counters_latency_le) / sizeof(counters_latency_le[0]);
const double counters_size_le[] = {1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000, 65536};
const size_t counters_nsize = sizeof(counters_size_le) / sizeof(counters_size_le[0]);

static counters m;

const counters *counters_get(void)
{
	return &m;
}

static void observe(counters_histogram *h, const double *le, size_t n, double v, uint64_t sum_add)
{
	size_t i = 0;
	while (i < n && v > le[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_micro, sum_add, memory_order_relaxed);
}

void counters_request(int command)
{
	if (command < 0 || command >= COUNTERS_MAX_COMMAND)
		command = 0;
	atomic_fetch_add_explicit(&m.requests[command], 1, memory_order_relaxed);
}

void counters_append(size_t n, uint32_t accepted, uint32_t duplicates, uint32_t rejected)
{
	observe(&m.request_events, counters_size_le, counters_nsize, (double)n, n);
	atomic_fetch_add_explicit(&m.events_accepted, accepted, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.events_duplicate, duplicates, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.events_rejected, rejected, memory_order_relaxed);
}

void counters_error(int code)
{
	int c = code < 0 ? -code : code;
	if (c >= COUNTERS_MAX_CODE)
		c = 0;
	atomic_fetch_add_explicit(&m.errors[c], 1, memory_order_relaxed);
}

void counters_commit(size_t events, int64_t us, int ok)
{
	atomic_fetch_add_explicit(ok ? &m.commits_ok : &m.commits_failed, 1, memory_order_relaxed);
	if (!ok)
		return;
	observe(&m.commit_events, counters_size_le, counters_nsize, (double)events, events);
	observe(&m.commit_seconds, counters_latency_le, counters_nlatency, (double)us / 1e6,
	        (uint64_t)(us < 0 ? 0 : us));
}

void counters_backup(int ok, int64_t us, uint64_t bytes)
{
	atomic_fetch_add_explicit(ok ? &m.backups_ok : &m.backups_failed, 1, memory_order_relaxed);
	if (ok) {
		atomic_store(&m.backup_last_ok, (long long)time(NULL));
		atomic_store(&m.backup_last_us, (long long)us);
		atomic_store(&m.backup_bytes, bytes);
	}
}

void counters_conns(long long held)
{
	atomic_store(&m.conns_held, held);
}

void counters_conn_refused(int why)
{
	atomic_ullong *c = why == COUNTERS_CONN_ADDR	? &m.conns_refused_addr
			   : why == COUNTERS_CONN_LOCAL ? &m.conns_refused_local
			   : why == COUNTERS_CONN_TOTAL ? &m.conns_refused_total
			   : why == COUNTERS_CONN_MEMORY ? &m.conns_refused_memory
							 : &m.conns_refused_fds;
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void counters_fd_short(void)
{
	atomic_fetch_add_explicit(&m.fd_short_seconds, 1, memory_order_relaxed);
}
