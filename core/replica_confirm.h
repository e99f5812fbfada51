/*
 * replica_confirm.h — which raft entries the replica may treat as committed,
 * by its own account rather than C-Raft's (docs/REPLICATION.md,
 * "Confirmation"). Used by core/replica.c only; no C-Raft types here:
 * indexes, terms and digests.
 *
 * C-Raft 0.15 can count an entry as stored on a follower that does not hold
 * it, and so commit it while one node of three has it. So the replica keeps:
 *
 *   - rc_log: what this node's raft log holds on disk, as the writes C-Raft
 *     makes through its raft_io show it: each entry's term and digest, the
 *     writes in flight (a truncation cuts them), the last index on disk;
 *   - rc_peers: what the other nodes say they hold: for a term T, the last
 *     index of their log on disk when that entry is of term T;
 *   - rc_quorum: the largest index whose entry is of the leader's current
 *     term and held on disk by a majority of voters. That entry and every
 *     one before it are committed (Raft's own rule, with the counting done
 *     here);
 *   - the messages nodes exchange about it (RC_MSG_LEN bytes each).
 *
 * Errors: 0 or LD_E(INTERNAL) (memory), as said per function.
 */
#ifndef LD_REPLICA_CONFIRM_H
#define LD_REPLICA_CONFIRM_H

#include <stddef.h>
#include <stdint.h>

#include "replica.h"

/* ---- this node's raft log on disk ---- */

struct rc_entry {
	uint64_t term, digest;
	uint64_t end; /* the bytes of every entry pushed up to this one */
};

struct rc_write {
	uint64_t first; /* index of its first entry */
	uint64_t n;     /* entries that still count (a truncation cuts them) */
};

typedef struct rc_log {
	uint64_t base;      /* index of e[0] */
	struct rc_entry *e; /* entries base .. base + n - 1: on disk or being written */
	uint64_t end0;      /* rc_entry.end of the entry before e[0] */
	size_t n, cap;
	uint64_t snap_index; /* the last snapshot (0: none) and its term */
	uint64_t snap_term;
	uint64_t durable;   /* the last index on disk (0: nothing; snap_index when
	                     * only the snapshot is) */
	int installing;     /* a snapshot is replacing the log: nothing counts */
	struct rc_write *w; /* writes in flight, oldest first: w[wh .. wn - 1] */
	size_t wh, wn, wcap;
} rc_log;

void rc_log_init(rc_log *l);
void rc_log_free(rc_log *l);
/* What C-Raft loaded at start: a snapshot (index, term; 0, 0 for none) and
 * the entries from `start` on, pushed with rc_log_push; then rc_log_loaded
 * (everything loaded is on disk). */
void rc_log_load(rc_log *l, uint64_t snap_index, uint64_t snap_term, uint64_t start);
void rc_log_loaded(rc_log *l);
/* One entry of `bytes` bytes after the last (at rc_log_last + 1). 0 or
 * LD_E(INTERNAL). */
int rc_log_push(rc_log *l, uint64_t term, uint64_t digest, uint64_t bytes);
/* The last n entries pushed are being written, as one write. 0 or
 * LD_E(INTERNAL). */
int rc_log_submit(rc_log *l, uint64_t n);
/* The last write submitted did not start (its entries are then truncated
 * by the caller). */
void rc_log_cancel(rc_log *l);
/* The oldest write in flight completed: what of it still counts is on disk. */
void rc_log_written(rc_log *l);
/* Entries from index on are gone (from the writes in flight too). An index
 * at or below the snapshot changes nothing (C-Raft's fixture asks for index 1
 * when it installs a snapshot). */
void rc_log_truncate(rc_log *l, uint64_t index);
/* A snapshot (index, term) replaces the whole log: nothing counts as on disk
 * until rc_log_installed. */
void rc_log_install(rc_log *l, uint64_t index, uint64_t term);
void rc_log_installed(rc_log *l);
/* A snapshot taken here (index, term) is on disk; C-Raft keeps `trailing`
 * entries behind it, and so does the model. */
void rc_log_compact(rc_log *l, uint64_t index, uint64_t term, unsigned trailing);
/* The last index pushed (written or not). */
uint64_t rc_log_last(const rc_log *l);
/* The first index held as an entry (the snapshot's + 1 when none is). */
uint64_t rc_log_first(const rc_log *l);
/* The term of entry index (the snapshot's term at its index), 0 if unknown. */
uint64_t rc_log_term(const rc_log *l, uint64_t index);
/* C-Raft 0.15 counts its log in entries (raft_set_snapshot_threshold,
 * raft_set_snapshot_trailing); these turn bounds in bytes into those counts,
 * from the sizes of the entries held:
 *  - rc_log_threshold: entries after the snapshot until they hold `bytes`
 *    (the next snapshot is due once that many are applied), at most `most`;
 *  - rc_log_trailing: how many of the newest entries fit in `bytes` (at
 *    least 1, at most `most`): the entries kept behind a snapshot. */
unsigned rc_log_threshold(const rc_log *l, uint64_t bytes, unsigned most);
unsigned rc_log_trailing(const rc_log *l, uint64_t bytes, unsigned most);
/* The bytes of the entries held (for the status), and of those after the
 * last snapshot. */
uint64_t rc_log_bytes(const rc_log *l);
uint64_t rc_log_bytes_after_snapshot(const rc_log *l);
/* The digest of entry index into *d: 0, or -1 if the model does not hold it. */
int rc_log_digest(const rc_log *l, uint64_t index, uint64_t *d);
/* The last index on disk if that entry is of `term`, else 0. Terms never
 * decrease along a log, so this node's disk then holds term's leader's log
 * up to it. */
uint64_t rc_log_held(const rc_log *l, uint64_t term);

/* A digest of an entry: its type, length and first bytes (for ledgerd's
 * entries the header, whose hashes chain its events). */
uint64_t rc_digest(unsigned type, const void *buf, size_t len);

/* ---- what the others hold ---- */

#define RC_MAX_PEERS 16

typedef struct rc_peers {
	struct {
		uint64_t id, term, index;
	} p[RC_MAX_PEERS];
	unsigned n;
} rc_peers;

/* Node id says it holds term's entries up to index on disk. */
void rc_peers_note(rc_peers *q, uint64_t id, uint64_t term, uint64_t index);
/* The largest index held, in `term`, by a majority of the nv voters (self
 * among them or not, holding self_index). 0 if none. */
uint64_t rc_quorum(const rc_peers *q, const uint64_t *voters, unsigned nv, uint64_t self,
                   uint64_t self_index, uint64_t term);

/* ---- messages ---- */

/*
 *   0  "LDRC"  4    4  format 3   1    5  type   1    6  zeros  2
 *   8  from (raft id, BE)         8
 *   16 term (BE)                  8
 *   24 index (BE)                 8
 *   32 digest of entry index (BE) 8
 *   40 the sender's key ids (replica_keys, in enum replica_key order, BE)
 *      8 each: the person-hash key id, the cluster key's
 *
 * Formats 1 (40 bytes, no key id) and 2 (48 bytes, the person-hash key id
 * only) are not read: a node that does not say its key ids is not counted.
 */
#define RC_FORMAT 3
#define RC_MSG_LEN (40 + 8 * REPLICA_KEYS)

enum rc_type {
	RC_HOLD = 1, /* a follower to the leader: my disk holds term's entries up to index */
	RC_SAFE = 2, /* the leader to the others: entries up to index are confirmed */
	/* The leader to a node that asked for its vote and is not in its
	 * committed configuration (a node removed, which C-Raft 0.15 never
	 * tells: the entry that removes it is not sent to it): index is that
	 * configuration's raft index, digest the node's id. A format 3 node of
	 * an earlier release ignores it (rc_msg_decode). */
	RC_REMOVED = 3,
	/* A node that does not vote (a stand-by being added) to the leader,
	 * once a heartbeat: index is the raft index its log has applied (0
	 * while it catches up to a marker), digest its failed catch-ups since
	 * it started (RC_CATCHING set while it catches up). The leader makes it
	 * a voter only once it has caught up (daemon/membership.c). A format 3
	 * node of an earlier release ignores it. */
	RC_APPLIED = 4,
};
#define RC_CATCHING (1ull << 63)

typedef struct rc_msg {
	int type;
	uint64_t from, term, index, digest;
	replica_keys keys; /* the sender's (replica_options.keys) */
} rc_msg;

void rc_msg_encode(const rc_msg *m, uint8_t out[RC_MSG_LEN]);
/* 0, or -1 for anything but a message of this format. */
int rc_msg_decode(const void *buf, size_t len, rc_msg *m);

#endif
