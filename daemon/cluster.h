/*
 * cluster.h — ledgerd as one node of a replicated cluster: the replica
 * (core/replica.h, C-Raft) on a thread and libuv loop of its own, between the
 * writer and the other nodes (docs/REPLICATION.md).
 *
 * Without peers (the default) the node is a cluster of one (options.solo):
 * node 1, its only voter, raft's log in DATA/raft the write-ahead log, a
 * transport that opens no port. With them, the nodes they name. Either way:
 *   - the writer hands each group blob to the replica (writer_options
 *     .replicate) and answers its requests once a majority confirmed it and
 *     this node wrote it (writer_apply_entry, on the replica's thread);
 *   - every node applies the confirmed blobs of the leader to its own log,
 *     byte for byte (writer_apply_entry, own = 0);
 *   - only the leader, once ready, accepts appends; the writer of any other
 *     node refuses them with ERR_NOT_LEADER naming the leader's client URL.
 *
 * Threads: cluster_new, cluster_start, cluster_stop and cluster_free on the
 * main thread; the replicate function on the writer's committing thread;
 * cluster_status from any thread.
 */
#ifndef LD_CLUSTER_H
#define LD_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "replica.h"
#include "store.h"
#include "writer.h"

#define CLUSTER_MAX_PEERS REPLICA_MAX_NODES
/* The election timeout by default. C-Raft waits 1 to 2 of them without a
 * heartbeat before it calls an election, which is most of a failover
 * (docs/REPLICATION.md, "Failover"). */
#define CLUSTER_ELECTION_MS 600

typedef struct cluster_peer {
	uint64_t id;       /* raft id, > 0 */
	char raft[64];     /* C-Raft's address, A.B.C.D:PORT (private) */
	char url[256];     /* its client URL, for the redirect */
} cluster_peer;

/* Parses "ID,A.B.C.D:PORT,URL" (the `peer` setting). 0, or -1 with why. */
int cluster_parse_peer(const char *text, cluster_peer *p, char *why, size_t n);

typedef struct cluster_options {
	uint64_t id;            /* this node's raft id: one of the peers */
	const char *const *peers; /* the `peer` settings: every voter, this
				   * node included */
	unsigned npeers;
	const char *data_dir;   /* raft's files go in DATA/raft */
	unsigned election_ms;   /* 0: CLUSTER_ELECTION_MS */
	unsigned snapshot_threshold, snapshot_trailing; /* 0: the replica's defaults */
	uint64_t snapshot_bytes, trailing_bytes;        /* 0: the replica's defaults */
	/* 1: a node joining a running cluster (empty, or from a hot backup of
	 * a node): its raft directory is not bootstrapped; the leader adds it
	 * (`ledgerctl cluster add`) and sends it the log. */
	int join;
	/* The catch-up's client credentials for tls+tcp:// peers (the
	 * daemon's own --tls-cert, --tls-key, --tls-ca; NULL: none). */
	const char *tls_cert, *tls_key, *tls_ca;
	/* The ids of this node's person-hash key (keystore_key_id) and cluster
	 * key (keystore_cluster_id): the replicas halt a node whose keys are
	 * not the cluster's (docs/REPLICATION.md, "One person-hash key"). */
	replica_keys keys;
	/* 1: no peer settings, a single node: a cluster of one, node 1, its
	 * only voter (id and peers ignored); raft's transport opens no port and
	 * connects nowhere, membership changes are refused. */
	int solo;
} cluster_options;

typedef struct cluster cluster;

/* Checks the options. 0, or LD_E(INVALID_VALUE) with e saying why. */
int cluster_new(cluster **out, const cluster_options *o, ld_errinfo *e);
/* 1 if data_dir holds raft's files (DATA/raft). */
int cluster_has_raft(const char *data_dir);
/* Sets the writer's replicate function, and raft's directory and what
 * raft_uv takes there ahead for its check of the disks (before
 * writer_start_opts). */
void cluster_writer_options(cluster *c, writer_options *wo);
/* Starts the replica's thread on s and w (the writer started with the
 * options above): the first start of a node bootstraps the cluster of its
 * peers. 0, or a negative code with e saying why. */
int cluster_start(cluster *c, store *s, writer *w, ld_errinfo *e);
/* 1 once this node leads and is ready (its barrier applied: appends are
 * taken), -1 if it never will without a restart (halted, failed), 0 not
 * yet. A single node is served only once it is not 0 (daemon/main.c), so
 * that no client ever hears ERR_NOT_LEADER from it. */
int cluster_ready(cluster *c);
/* A single node about to stop takes a marker of its state, waiting at most
 * ms for it to be written, so that its next start reads back little of
 * raft's log (core/replica.h, replica_final_marker); says so in the log.
 * Nothing for a cluster's node, if the log holds little, or if raft's
 * directory has less than 64 MiB free (a failed marker would fail the node
 * as it stops). Before cluster_stop; appends are still taken meanwhile
 * (each then followed by a marker: a slower stop under load, nothing
 * lost). */
void cluster_final_marker(cluster *c, unsigned ms);
/* Stops the replica (a group waiting for its confirmation ends "outcome
 * unknown"; later ones are refused): before writer_stop. */
void cluster_stop(cluster *c);
void cluster_free(cluster *c);
/* 1 once the replica failed on an I/O error: the daemon, sent SIGTERM
 * then, exits with status 1 to be restarted. */
int cluster_failed(cluster *c);

/* The replica's status as of its last change (or heartbeat); with each
 * node's client URL. 0, or LD_E(INVALID_STATE) before the start. */
int cluster_status(cluster *c, replica_status *st);
/* The catch-ups' counters (daemon/catchup.h). */
struct catchup_stats;
void cluster_catchup_stats(cluster *c, struct catchup_stats *st);
/* The replication families of the metrics (daemon/cluster_metrics.c): a
 * metrics source (metrics_add_source), arg = the cluster. */
struct metrics_buf;
void cluster_metrics(struct metrics_buf *b, void *arg);
/* The client URL of raft id `id`: the `peer` setting naming it, else the one
 * the configuration in st carries (a node added at run time: replica_add;
 * st may be NULL), "" unknown. */
const char *cluster_url_of(const cluster *c, const replica_status *st, uint64_t id);
/* Fills the answer of the cluster request (server_options.cluster_status,
 * arg = the cluster); returns the block to free after packing. */
void *cluster_fill(void *arg, Ledger__ClusterStatus *out);
/* The cluster_change request (server_options.cluster_change, arg = the
 * cluster): see daemon/membership.h. */
int cluster_change(void *arg, const Ledger__ClusterChangeRequest *q,
		   void (*done)(void *call, int rc, const ld_errinfo *e), void *call, ld_errinfo *e);

#endif
