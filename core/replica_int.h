/*
 * replica_int.h — what the two halves of the replica share: core/replica.c
 * (what it decides: applying, confirmation, the leader, polling) and
 * core/replica_node.c (the plumbing around C-Raft: its I/O as the replica sees
 * it, the confirmation messages' socket, start and stop, status and
 * membership). They are the only files that include raft.h; the contract for
 * everything else is replica.h.
 */
#ifndef LD_REPLICA_INT_H
#define LD_REPLICA_INT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdint.h>
#include <uv.h>

#include "replica.h"
#include "replica_confirm.h"

/* Entries queued while catching up to a snapshot marker, at most. Past it the
 * node fails and restarts: C-Raft replays them from its log. */
#define QUEUE_MAX ((size_t)512 << 20)

#define MARKER_LEN 56

struct queued {
	struct queued *next;
	uint64_t index;
	size_t size;
	uint8_t data[];
};

struct proposal {
	struct raft_apply req; /* first: C-Raft hands it back */
	replica *r;
	replica_done_cb cb; /* NULL: a checkpoint */
	void *arg;
	struct proposal *next;
	uint64_t term;    /* the leader's term it was proposed in */
	int raft_done;    /* C-Raft called back (it no longer holds req) */
	int raft_seen;    /* C-Raft reported it committed (or tried to apply it) */
	int answered;     /* cb called */
	uint64_t raft_at; /* when C-Raft first did (µs) */
};

/* A send that failed at once, reported to C-Raft later (see w_send). */
struct deferred {
	struct deferred *next;
	struct raft_io_send *req;
	raft_io_send_cb cb;
	int status;
};

struct replica {
	const replica_sm_ops *ops;
	void *sm;
	struct raft_fsm fsm;
	struct raft *raft; /* the fixture's, or own_raft */

	/* the libuv node (replica_start) */
	uv_loop_t *loop;
	struct raft_uv_transport transport;
	struct raft_io io;
	unsigned test_fail_append; /* LEDGERD_TEST_RAFT_APPEND_FAIL_AT */
	struct raft own_raft;
	uv_check_t check;
	uv_udp_t udp; /* the confirmation messages, on the raft address */
	uint8_t udp_buf[RC_MSG_LEN + 8];
	int warned_format; /* an older release's message was logged once */
	int has_transport, has_io, has_raft, has_check, has_udp, closing;
	int solo; /* replica_options.solo: the transport is solo_transport */
	int raft_running; /* raft_start succeeded, raft_close not yet called */
	int close_called; /* raft_close called (once) */
	int raft_closed;  /* its callback ran (or raft never ran) */
	int stopping;
	void (*stop_done)(replica *r, void *arg);
	void *stop_arg;

	unsigned election_ms, checkpoint_ms;
	void (*on_change)(replica *r, void *arg);
	int (*send)(replica *r, uint64_t to, const void *msg, size_t len, void *arg);
	void *arg;
	int notify;

	/* raft's I/O, wrapped (the methods it had) */
	struct raft_io *wio;
	int (*o_load)(struct raft_io *, raft_term *, raft_id *, struct raft_snapshot **,
	              raft_index *, struct raft_entry **, size_t *);
	int (*o_start)(struct raft_io *, unsigned, raft_io_tick_cb, raft_io_recv_cb);
	int (*o_send)(struct raft_io *, struct raft_io_send *, const struct raft_message *,
	              raft_io_send_cb);
	int (*o_append)(struct raft_io *, struct raft_io_append *, const struct raft_entry[],
	                unsigned, raft_io_append_cb);
	int (*o_truncate)(struct raft_io *, raft_index);
	int (*o_put)(struct raft_io *, unsigned, struct raft_io_snapshot_put *,
	             const struct raft_snapshot *, raft_io_snapshot_put_cb);
	raft_io_recv_cb c_recv; /* C-Raft's */
	raft_io_tick_cb c_tick; /* C-Raft's */
	raft_time (*o_time)(struct raft_io *);
	/* A leader whose process is gone (replica_node.c, "A leader gone"):
	 * the UDP socket that probes it, and the milliseconds added to raft's
	 * clock so that this node calls its election sooner. */
	int has_probe, probe_fd;
	uint64_t probe_to;   /* the node probed */
	uint64_t time_skip;  /* added to raft's clock, never taken back */
	uint64_t gone_from;  /* that leader, until a leader is known (0: none) */
	uint64_t gone_from_term; /* the term it was found gone in */
	uint64_t gone_timer; /* the candidate timer already brought forward */
	uint64_t heard_from, heard_term; /* the last confirmation message's sender */
	/* raft's log bounds (replica_options), turned into C-Raft's entry
	 * counts by log_bounds as entries come and go */
	unsigned threshold_most, trailing_most;
	uint64_t snapshot_bytes, trailing_bytes;
	int putting; /* a snapshot's put is in flight: C-Raft reads its
	              * trailing count again when it completes */
	int final_marker; /* replica_final_marker: a marker after every apply */
	struct deferred *deferred;
	int write_failed; /* a write of raft's log failed: C-Raft hears of no more */

	/* confirmation */
	rc_log log;         /* this node's raft log on disk */
	rc_peers peers;     /* what the others hold (as leader) */
	uint64_t safe_term; /* the leader's confirmed index in safe_term */
	uint64_t safe_index;
	uint64_t committed;                      /* confirmed, and held here: may be applied */
	uint64_t sent_term, sent_index, sent_at; /* what this node last said */
	uint64_t acks, ack_wait_us, snapshots_refused;
	int snapshot_owed;  /* C-Raft's last snapshot was put off */
	uint64_t held_back; /* the entry fsm_apply held back for it */
	uint64_t holdbacks; /* how many times */

	/* role, as last polled */
	int role;
	uint64_t leader_id;
	/* The leader's way to readiness: a barrier, then everything before it
	 * applied to the log (not just queued while catching up), then the
	 * tail taken from the log. */
	enum { L_NONE, L_BARRIER, L_SENT, L_APPLIED, L_READY } lstate;
	uint64_t lterm; /* the term lstate belongs to */
	int barrier_pending;
	struct raft_barrier barrier;

	uint64_t barrier_index;

	/* the tail proposals must follow */
	uint64_t tail_seq;
	uint8_t tail_hash[REPLICA_HASH_LEN];
	struct proposal *p_head; /* proposals C-Raft or the client still waits on */
	int checkpoint_inflight, checkpoint_due;
	uint64_t last_activity;

	/* catching up to a marker */
	int catching_up, fetch_running;
	uint64_t fetch_failures; /* since the start (RC_APPLIED says them) */
	uint64_t applied_sent_at; /* the last RC_APPLIED */
	uint64_t cu_seq, cu_index, fetch_retry_at;
	uint8_t cu_hash[REPLICA_HASH_LEN];
	uint64_t f_seq; /* the fetch in flight: up to this seq, this hash */
	uint8_t f_hash[REPLICA_HASH_LEN];
	struct queued *q_head, *q_tail;
	size_t q_bytes;

	int halted, failed;
	int key_halt; /* halted: a key (replica_keys) is not the cluster's */
	char reason[320];

	/* The key ids of this node (replica_options.keys), and as leader the
	 * others' the nodes' HOLDs named (their HOLDs do not count): enough of
	 * them among the voters and this node halts. */
	replica_keys keys;
	struct rp_heard {
		uint64_t id;
		replica_keys keys;
		/* raft's clock (rp_now_ms) at its last HOLD naming this
		 * node's keys: how the leader knows a voter answers
		 * (replica_node.reachable); C-Raft 0.15's own flag,
		 * raft_progress.recent_recv, is reset every election timeout */
		uint64_t at;
		/* its last RC_APPLIED (a node that does not vote): when (0:
		 * none), the index its log applied, its failed catch-ups,
		 * whether it catches up */
		uint64_t applied_at, applied, fetch_failures;
		int catching;
	} keys_heard[RC_MAX_PEERS];
	unsigned n_keys_heard; /* this leadership's (replica_poll); a node added
	                        * is forgotten (rp_forget_heard) */

	/* snapshot_index: the last marker written, raft's log trimmed behind
	 * it (or installed); snapshot_taking: the one being written. */
	uint64_t snapshot_index, snapshot_taking, snapshots, checkpoints;
	struct raft_buffer snap_buf;

	/* Told by the leader that this node is not in its configuration
	 * (RC_REMOVED): it stands down, C-Raft's ticks withheld (it calls no
	 * election), until a leader sends it entries again. As leader: the
	 * last node told so, and when (once a heartbeat at most). */
	int removed;
	char removed_why[320];
	uint64_t told_id, told_at, told_logged;

	struct raft_change change;
	int change_busy;
	replica_done_cb change_cb;
	void *change_arg;
	struct raft_transfer *transfer;
	replica_done_cb transfer_cb;
	void *transfer_arg;
};

/* replica.c */
int rp_halt(replica *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rp_fail(replica *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rp_io_error(int status);
uint64_t rp_now_ms(replica *r);
int rp_running(replica *r);
void rp_reckon(replica *r);
void rp_tell(replica *r);
void rp_fail_pending(replica *r, uint64_t keep_term);
void rp_unlink_proposal(replica *r, struct proposal *p);
void rp_queue_drop(replica *r, uint64_t upto);
int rp_is_ready(replica *r);
void rp_checkpoint(replica *r);
void rp_fsm_init(replica *r);
/* A leader forgets what it heard of node id (keys_heard): a node added
 * again in the same leadership, maybe another process or data directory,
 * must name its keys and say its catch-up anew. */
void rp_forget_heard(replica *r, uint64_t id);
/* What this leadership heard of node id (keys_heard), or NULL. */
struct rp_heard *rp_heard_of(replica *r, uint64_t id);

/* replica_node.c */
void rp_flush_deferred(replica *r);
void rp_removed_heard(replica *r, const rc_msg *m);
void rp_removed_self(replica *r);
void rp_close_raft(replica *r);

#endif
