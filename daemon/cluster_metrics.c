/*
 * cluster_metrics.c — the replication families of the metrics endpoint
 * (daemon/metrics.h renders the rest): this node's replica as its status
 * was last copied out (role, term, indexes, lag, halt, the confirmation's
 * wait, snapshot markers, catch-ups), one table row per family.
 */
#include <stddef.h>
#include <stdio.h>

#include "catchup.h"
#include "cluster.h"
#include "metrics.h"

enum kind {
	K_U64,  /* a uint64_t of the status */
	K_FLAG, /* an int of the status, as 0 or 1 */
	K_US,   /* a uint64_t of microseconds, as seconds */
};

typedef struct fam {
	const char *name, *type, *help;
	size_t field; /* in replica_status */
	enum kind kind;
} fam;

#define ST(f) offsetof(replica_status, f)
static const fam families[] = {
    {"ledgerd_replica_id", "gauge", "This node's raft id.", ST(id), K_U64},
    {"ledgerd_replica_ready", "gauge", "1 while this node leads and takes writes.", ST(ready),
     K_FLAG},
    {"ledgerd_replica_leader_id", "gauge", "The raft id of the leader this node knows (0: none).",
     ST(leader_id), K_U64},
    {"ledgerd_replica_term", "gauge", "The raft term this node is in.", ST(term), K_U64},
    {"ledgerd_replica_last_index", "gauge", "The last entry of this node's raft log.",
     ST(last_index), K_U64},
    {"ledgerd_replica_commit_index", "gauge",
     "What C-Raft counts committed (not trusted: the confirmed index decides).",
     ST(commit_index), K_U64},
    {"ledgerd_replica_confirmed_index", "gauge",
     "Entries confirmed on a majority's disks and held here.", ST(confirmed_index), K_U64},
    {"ledgerd_replica_applied_index", "gauge", "The raft index of the last entry in the log.",
     ST(log_index), K_U64},
    {"ledgerd_replica_catching_up", "gauge",
     "1 while this node fetches events up to a snapshot marker from a peer.", ST(catching_up),
     K_FLAG},
    {"ledgerd_replica_snapshot_index", "gauge", "The raft index of the last snapshot marker written (raft's log trimmed behind it) or installed.",
     ST(snapshot_index), K_U64},
    {"ledgerd_replica_log_bytes", "gauge",
     "Bytes of the entries raft's log holds, on disk and in C-Raft's memory (bounded by "
     "snapshot_bytes + snapshot_trailing_bytes, and one entry).",
     ST(log_bytes), K_U64},
    {"ledgerd_replica_checkpoints_total", "counter", "Checkpoint entries applied here.",
     ST(checkpoints), K_U64},
    {"ledgerd_replica_acks_total", "counter",
     "Proposals of this node answered recorded (confirmed and applied).", ST(acks), K_U64},
    {"ledgerd_replica_confirmation_wait_seconds_total", "counter",
     "Over those, the time between C-Raft's report of the commit and the confirmation (what "
     "the confirmation adds to an acknowledgement).",
     ST(ack_wait_us), K_US},
    {"ledgerd_replica_key_halted", "gauge",
     "1 once this node halted because its person-hash key or cluster key is not the "
     "cluster's (the log and ledgerctl cluster name both ids).",
     ST(key_halt), K_FLAG},
    {"ledgerd_replica_holdbacks_total", "counter",
     "Entries a leader held back from C-Raft until confirmed, for a snapshot put off.",
     ST(holdbacks), K_U64},
};
#undef ST

static void head(metrics_buf *b, const char *name, const char *type, const char *help)
{
	metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void cluster_metrics(metrics_buf *b, void *arg)
{
	cluster *c = arg;
	replica_status st;
	if (cluster_status(c, &st) != 0)
		return;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		const fam *f = &families[i];
		const char *v = (const char *)&st + f->field;
		head(b, f->name, f->type, f->help);
		switch (f->kind) {
		case K_U64:
			metrics_printf(b, "%s %llu\n", f->name,
				       (unsigned long long)*(const uint64_t *)v);
			break;
		case K_FLAG:
			metrics_printf(b, "%s %d\n", f->name, *(const int *)v ? 1 : 0);
			break;
		case K_US:
			metrics_printf(b, "%s %.6f\n", f->name,
				       (double)*(const uint64_t *)v / 1e6);
			break;
		}
	}
	/* The role, one sample per role (1 for this node's). */
	head(b, "ledgerd_replica_role", "gauge", "1 for this node's role, 0 for the others.");
	for (int r = REPLICA_STOPPED; r <= REPLICA_REMOVED; r++)
		metrics_printf(b, "ledgerd_replica_role{role=\"%s\"} %d\n", replica_role_name(r),
			       st.role == r);
	head(b, "ledgerd_replica_halted", "gauge",
	     "1 once this node stopped applying on a fork or a key not the cluster's "
	     "(halted) or on an I/O error (failed); the log says why.");
	metrics_printf(b, "ledgerd_replica_halted %d\n",
		       st.role == REPLICA_HALTED || st.role == REPLICA_FAILED);
	head(b, "ledgerd_replica_removed", "gauge",
	     "1 while the leader says this node is not in the cluster's configuration: it "
	     "calls no election and takes no write; the log says who and when.");
	metrics_printf(b, "ledgerd_replica_removed %d\n", st.role == REPLICA_REMOVED);
	/* A 64-bit id is no float: a label, to compare across nodes. */
	for (int k = 0; k < REPLICA_KEYS; k++) {
		const replica_key_info *ki = &replica_key_table[k];
		char help[128];
		snprintf(help, sizeof help, "This node's %s (the same on every node of a cluster).",
			 ki->what);
		head(b, ki->metric, "gauge", help);
		metrics_printf(b, "%s{%s=\"%016llx\"} 1\n", ki->metric, ki->label,
			       (unsigned long long)st.keys.id[k]);
	}
	head(b, "ledgerd_replica_lag_entries", "gauge",
	     "Entries C-Raft counts committed that this node has not applied to its log.");
	metrics_printf(b, "ledgerd_replica_lag_entries %llu\n",
		       (unsigned long long)(st.commit_index > st.log_index
						? st.commit_index - st.log_index
						: 0));
	head(b, "ledgerd_replica_snapshots_total", "counter",
	     "Snapshot markers C-Raft asked for: taken, or put off while entries awaited their "
	     "confirmation.");
	metrics_printf(b, "ledgerd_replica_snapshots_total{result=\"taken\"} %llu\n",
		       (unsigned long long)st.snapshots);
	metrics_printf(b, "ledgerd_replica_snapshots_total{result=\"put_off\"} %llu\n",
		       (unsigned long long)st.snapshots_refused);
	catchup_stats cs;
	cluster_catchup_stats(c, &cs);
	head(b, "ledgerd_replica_catchups_total", "counter",
	     "Catch-ups to a snapshot marker over the page protocol, by result.");
	metrics_printf(b, "ledgerd_replica_catchups_total{result=\"ok\"} %llu\n",
		       (unsigned long long)cs.done);
	metrics_printf(b, "ledgerd_replica_catchups_total{result=\"failed\"} %llu\n",
		       (unsigned long long)cs.failed);
	head(b, "ledgerd_replica_catchup_events_total", "counter",
	     "Events fetched from peers by those catch-ups.");
	metrics_printf(b, "ledgerd_replica_catchup_events_total %llu\n",
		       (unsigned long long)cs.events);
	head(b, "ledgerd_replica_catchup_keys_withheld_total", "counter",
	     "Those catch-ups whose peer sent the events without the members' keys (this node's "
	     "identity not an admin there): their names and phones read [forgotten] here.");
	metrics_printf(b, "ledgerd_replica_catchup_keys_withheld_total %llu\n",
		       (unsigned long long)cs.keys_withheld);
}
