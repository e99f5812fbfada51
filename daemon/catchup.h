/*
 * catchup.h — a node of a cluster brought up to a snapshot marker from a
 * peer over the ledger's own protocol (docs/REPLICATION.md, "Snapshots are
 * markers"): the replica's sm->fetch.
 *
 * The events from the log's head to the marker's seq are asked of the
 * peers' client URLs (the leader's first) as subscription pages of records
 * (SubscribeRequest.with_records: each event with its stream link, the
 * correction it records and its hash). The connection is a client's like
 * any other: the peer's roles decide (a node needs at least the subscriber
 * role there, docs/ROLES.md; a tls+tcp:// peer is dialled with this node's
 * --tls-cert and --tls-key, its certificate checked against --tls-ca).
 * Every page is checked to chain from the log's head, and the last event's
 * hash to be the marker's, before any is applied; then the pages are
 * written into the log as another leader's entries are
 * (writer_apply_entry), the last one with the marker's raft index, the log
 * is synced, and replica_fetched() is called on the replica's loop.
 *
 * Threads: catchup_new and catchup_close on the loop's thread; the fetch
 * runs on a thread of its own (the replica applies nothing meanwhile: it is
 * catching up, and queues what C-Raft hands over); catchup_free on the main
 * thread once the loop is done.
 */
#ifndef LD_CATCHUP_H
#define LD_CATCHUP_H

#include <stdint.h>

#include "replica.h"
#include "store.h"
#include "writer.h"

struct uv_loop_s;

/* Events staged in memory for one catch-up, at most; a node further behind
 * is re-seeded from a hot backup of a peer. */
#define CATCHUP_MAX_BYTES (512u << 20)

typedef struct catchup catchup;

typedef struct catchup_options {
	writer *w;
	replica *rep;
	uint64_t id;              /* this node's raft id (names it to the peers) */
	const char *tls_cert, *tls_key, *tls_ca; /* for tls+tcp:// peers */
	int (*sync)(void *arg);   /* makes the log durable (the replica's sm->sync) */
	void *arg;
} catchup_options;

/* On the loop's thread. 0, or LD_E(INTERNAL). */
int catchup_new(catchup **out, struct uv_loop_s *loop, const catchup_options *o);
/*
 * Starts fetching up to event to_seq (hash to_hash; the marker at raft index
 * `index`) from the client URLs given (n of them, in the order to try;
 * copied). On the loop's thread; replica_fetched() follows on it. 0, or
 * LD_E(BUSY) while the previous fetch is still running, LD_E(INVALID_VALUE)
 * without any URL.
 */
int catchup_start(catchup *cu, const char *const *urls, unsigned n, uint64_t to_seq,
		  const uint8_t to_hash[REPLICA_HASH_LEN], uint64_t index);
/* Closes its loop handle (the loop is stopping): a fetch still running is
 * interrupted, and its end is not reported. */
void catchup_close(catchup *cu);
/* Waits for the fetch thread and frees. */
void catchup_free(catchup *cu);

/* For the metrics: catch-ups completed, failed, and events fetched. */
typedef struct catchup_stats {
	uint64_t done, failed, events;
	/* catch-ups whose peer withheld the members' keys (this node's
	 * identity not an admin there): logged as a warning */
	uint64_t keys_withheld;
} catchup_stats;
void catchup_stats_get(catchup *cu, catchup_stats *st);

#endif
