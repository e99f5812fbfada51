/*
 * replica.h — the log replicated on C-Raft (Debian's libraft 0.15), behind
 * this one file. Nothing else includes raft.h; nothing else links libraft but
 * what replicates (docs/REPLICATION.md is the design, docs/LIBRARIES.md what
 * 0.15 does wrong and how this file stays clear of it).
 *
 * One group commit of the writer is one raft entry: a header naming the
 * events it carries (first seq, count, the hash before the first, the hash of
 * the last) and the events themselves, opaque here. Every node applies the
 * committed entries, in raft order, to its own log through the state machine
 * below, and checks each entry against its own hash chain before it does:
 *
 *   - an entry at a raft index past the one the log last applied must start
 *     at the log's head + 1 and its prev_hash must be the log's head hash;
 *   - an entry at an index the log has applied already (a restart replays
 *     them) must match what the log holds for those seqs; it is skipped;
 *   - anything else is a fork: the node halts. It stops applying, stops its
 *     raft node (it neither votes nor leads again), logs why, and says so in
 *     replica_status() until it is re-seeded from a healthy peer. It never
 *     continues on a forked chain.
 *
 * What C-Raft 0.15 reports committed is not trusted: it can count an entry
 * as stored on a follower that holds another one there (and commit an entry
 * one node of three has), and commits entries of earlier terms by counting
 * replicas. An entry is confirmed when a majority of voters say, over the
 * replicas' own messages, that their raft log on disk holds the leader's log
 * up to an entry of the leader's current term at or after it (each node sees
 * its own disk through a wrapper of the raft_io C-Raft writes with). Every
 * node applies an entry C-Raft hands over only once it is confirmed; a
 * proposal is answered only then. So no node's log ever holds an event that
 * is not on a majority's disks (docs/REPLICATION.md has the argument).
 *
 * A new leader appends a raft barrier and accepts no proposal until it is
 * confirmed and applied (every earlier entry applied too); it then proposes
 * a checkpoint entry (no events, its head as prev_hash) so that any follower
 * whose chain differs halts at once, and another after each idle election
 * timeout. The chain checks above stay: they catch what the confirmation
 * cannot (a node's raft log that differs where C-Raft cannot see it).
 *
 * Snapshots are markers: the raft index, seq and head hash of a synced state
 * of the log (sm->sync first). A follower that installs one while behind it
 * fetches the missing events from a peer (sm->fetch; the events are checked
 * against the marker's hash before any is applied) and queues the entries
 * that arrive meanwhile; it applies them once the fetch completes.
 *
 * Payloads are padded to a multiple of 8 bytes (0.15 corrupts its segments on
 * restart otherwise); automatic segment recovery is off (0.15 would rename a
 * damaged segment away and start without its entries); an I/O error in any
 * raft callback is fatal: the node stops and must be restarted (0.15's own
 * recovery from them is unreliable). A send that fails at once is reported
 * to C-Raft later, as lost (0.15 frees entries twice otherwise), and an
 * AppendEntries from index 1 reaching a node whose log starts after a
 * snapshot is made to start at the snapshot (0.15 crashes on it otherwise).
 *
 * Threads: everything here runs on the thread of the libuv loop the replica
 * was started on (or, in tests, the thread that steps the fixture), callbacks
 * included. The state machine's functions and the send function are called
 * on it too, and replica_receive must be.
 *
 * Errors: 0 or a negative code: LD_E(NAME) (proto/error.h) or one of the
 * REPLICA_E_* below, which are the replica's own and never sent as such.
 */
#ifndef LD_REPLICA_H
#define LD_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

struct uv_loop_s;
struct raft;
struct raft_fsm;

/* This node is not the leader (replica_status names the leader, if known). */
#define REPLICA_E_NOT_LEADER (-1100)
/* The proposal was handed to raft, then leadership was lost, the node stopped
 * or its disk failed: the entry may or may not be committed. Retry with the
 * same event ids; the writer's duplicate check answers. */
#define REPLICA_E_UNKNOWN (-1101)
/* The node halted on a fork or failed on an I/O error (replica_status says
 * which and why). */
#define REPLICA_E_HALTED (-1102)

/* ---- entries ---- */

#define REPLICA_HASH_LEN 32
/* Bytes of an encoded entry header; the events follow, then zero padding up
 * to a multiple of 8. */
#define REPLICA_ENTRY_HDR 88
/* The most bytes of events one entry carries (decompressed): a leader
 * proposes no more (C-Raft keeps entries in memory until a snapshot, and
 * sends a follower's backlog in one message), and an entry that says it
 * holds more is refused before anything is allocated for it. */
#define REPLICA_ENTRY_MAX (64u << 20)

typedef struct replica_entry {
	uint64_t first_seq;                  /* seq of the first event (>= 1) */
	uint32_t count;                      /* events in the entry; 0 = checkpoint */
	uint8_t prev_hash[REPLICA_HASH_LEN]; /* hash of event first_seq - 1 (zeros: none) */
	uint8_t last_hash[REPLICA_HASH_LEN]; /* hash of the last event (= prev_hash if
	                                      * count is 0) */
	uint32_t raw_len; /* decoded, format 2: the events' length once
	                   * decompressed (replica_entry_unpack); 0: format 1,
	                   * the events as they are. Encoding ignores it. */
} replica_entry;

/* Size of the encoding of an entry with `len` bytes of events. */
size_t replica_entry_size(size_t len);
/*
 * Encodes h and the events (len bytes) into out (replica_entry_size(len)
 * bytes):
 *
 *   0   "LDRE"  magic               4
 *   4   1       format (BE)         2      6  0  flags           2
 *   8   first_seq (BE)              8
 *   16  count (BE)                  4      20 len of events (BE) 4
 *   24  prev_hash                   32
 *   56  last_hash                   32
 *   88  events                      len
 *       zeros to a multiple of 8
 */
void replica_entry_encode(const replica_entry *h, const void *events, size_t len, uint8_t *out);
/* Decodes an entry: h, and where its events are in buf. Returns 0, or
 * LD_E(MALFORMED) with why (size n) for a bad magic or format, a length that
 * is not a multiple of 8 or does not add up, padding that is not zeros, a
 * first_seq of 0, or a checkpoint whose hashes differ. */
int replica_entry_decode(const void *buf, size_t size, replica_entry *h, const uint8_t **events,
                         size_t *len, char *why, size_t n);
/*
 * Format 2: the events compressed (core/compress.h, an LZ4 block), what a
 * node proposes since 2026-12-05 (docs/REPLICATION.md, "Entries"); format 1
 * is still read (entries an older release wrote, in raft's log at an
 * upgrade). The same header, with format 2 and `len of events` the block's
 * length, then:
 *
 *   88  the events' length once decompressed (BE) 4     92  0  4
 *   96  the block                   len
 *       zeros to a multiple of 8
 *
 * replica_entry_decode of a format 2 entry sets h->raw_len and gives the
 * block as the events; replica_entry_unpack decompresses it.
 *
 * replica_entry_pack encodes h and the events into out (at least
 * replica_entry_packed_max(len) bytes) in format 2 when the block saves
 * room, in format 1 otherwise (a checkpoint, a few events): the size
 * written.
 */
size_t replica_entry_packed_max(size_t len);
size_t replica_entry_pack(const replica_entry *h, const void *events, size_t len, uint8_t *out);
/* Decompresses the block (events, len: replica_entry_decode's) of a format 2
 * entry into out (h->raw_len bytes): 0, or LD_E(MALFORMED). */
int replica_entry_unpack(const replica_entry *h, const uint8_t *events, size_t len, uint8_t *out);

/* ---- the state machine: the node's own log ---- */

typedef struct replica replica;

typedef struct replica_sm_ops {
	/* The log's head: seq and hash of its last event (0 and zeros when
	 * empty) and the raft index of the last entry applied to it (0 when
	 * none: a log that predates replication, or an empty one). */
	void (*head)(void *sm, uint64_t *seq, uint8_t hash[REPLICA_HASH_LEN], uint64_t *index);
	/* The hash of event seq (1 <= seq <= head) into hash. 0, or negative. */
	int (*hash_at)(void *sm, uint64_t seq, uint8_t hash[REPLICA_HASH_LEN]);
	/* Appends the entry's events (h->count of them, `len` bytes) after the
	 * head, recording `index` as applied in the same transaction. The
	 * replica has checked that h follows the head; the state machine checks
	 * that the events chain from h->prev_hash to h->last_hash and returns
	 * LD_E(CHAIN_BROKEN), appending nothing, if they do not. Any other
	 * error is a storage failure (fatal for the node). */
	int (*apply)(void *sm, uint64_t index, const replica_entry *h, const void *events,
	             size_t len);
	/* Makes everything applied so far durable (an unsynced log is synced),
	 * before a snapshot marker names it. 0 or negative. */
	int (*sync)(void *sm);
	/* Starts bringing the log from its head up to event to_seq, whose hash
	 * must be to_hash, from a peer (a snapshot marker at raft index `index`
	 * is ahead of the log). The events fetched are checked against to_hash
	 * before any is applied; the last ones are applied with `index`. Calls
	 * replica_fetched() when done or failed, later, on the loop's thread.
	 * Returns 0, or negative if it cannot start (the replica retries). */
	int (*fetch)(void *sm, uint64_t to_seq, const uint8_t to_hash[REPLICA_HASH_LEN],
	             uint64_t index);
	/* May be NULL: apply is then done when it returns. Otherwise apply may
	 * take an entry that follows the head (the header checked) and check
	 * and append its events later, in order, on a thread of its own,
	 * returning 0; head then includes the entries taken. settle says
	 * whether one of them failed: 0 (none; wait: first until every entry
	 * taken is appended), or the error it met (LD_E(CHAIN_BROKEN): its
	 * events do not chain, and nothing from it on is appended; others: a
	 * storage failure), with its raft index and why (n bytes). The replica
	 * asks at each poll and apply (the node halts on a chain error and
	 * fails on others), and waits for it before a snapshot, a restore or a
	 * replayed entry's check reads the log. */
	int (*settle)(void *sm, int wait, uint64_t *index, char *why, size_t n);
	/* May be NULL. The events of the entry with header h as this node
	 * proposed them (len bytes: h->raw_len, or the entry's own for format
	 * 1), when it is the one its writer has in flight (the same first seq,
	 * count and last hash: the same events, as the hashes chain them),
	 * else NULL; valid until apply returns. The replica then hands those
	 * to apply instead of the entry's (which are decompressed, and may be
	 * bare: core/group.h). Called on the loop's thread. */
	const void *(*own)(void *sm, const replica_entry *h, size_t len);
} replica_sm_ops;

/* The fetch started by sm->fetch is over: status 0 (the log holds the events
 * asked for) or negative (the replica asks again after an election
 * timeout). */
void replica_fetched(replica *r, int status);

/* ---- lifecycle ---- */

/* What every node of a cluster must hold alike, each named by a 64-bit id
 * that reveals nothing of it (0: none, which matches only 0):
 * - the person-hash key (DATA/person-hash.key, keystore_key_id): every node
 *   must hash national IDs with it, or one person joins twice after a
 *   failover;
 * - the cluster key (--cluster-key, keystore_cluster_id; 0: none): members'
 *   keys travel wrapped with it, and a node with another (or none) cannot
 *   open them.
 * One table (replica_key_table) says what each is and how to fix a node
 * whose id differs; the replicas, the membership and the metrics go by it. */
enum replica_key {
	REPLICA_KEY_HASH,
	REPLICA_KEY_CLUSTER,
	REPLICA_KEYS
};

typedef struct replica_keys {
	uint64_t id[REPLICA_KEYS]; /* by enum replica_key */
} replica_keys;

typedef struct replica_key_info {
	const char *what;   /* "person-hash key id" */
	const char *metric; /* its info metric: NAME{LABEL="16 hex digits"} 1 */
	const char *label;
	const char *fix;    /* what makes a node that differs share it */
} replica_key_info;

extern const replica_key_info replica_key_table[REPLICA_KEYS];

/* The first key on which a and b differ (enum replica_key), or -1. */
int replica_keys_differ(const replica_keys *a, const replica_keys *b);

/* A voter whose leader's process is gone (its raft port refuses a probe):
 * how many milliseconds to add to raft's clock so that its election timer
 * (C-Raft drew `timeout`; `since` ms ago it was reset) runs out when this
 * voter's turn comes. Its turn: a follower (candidate 0), `rank` * 2
 * heartbeats from now (rank: its place by id among the `left` voters other
 * than the leader), and never while the leader was heard within two
 * heartbeats and a half; a pre-vote candidate whose call was not won
 * (candidate 1), `left` * 2 heartbeats after its call (once every other
 * voter called) plus `timeout` modulo a heartbeat. 0 when the timer runs out
 * sooner anyway. (core/replica_node.c, "A leader gone".) */
uint64_t replica_gone_skip(int candidate, uint64_t since, uint64_t timeout, uint64_t heartbeat,
                           unsigned rank, unsigned left);

/* raft_uv's segment size (replica_start sets it: 0.15's default). Open
 * segments are allocated whole (posix_fallocate) and raft_uv keeps two
 * ready ahead of the one it writes; a new one is allocated each time one is
 * taken (the last filled, or closed by a snapshot or a truncation).
 * REPLICA_DISK_AHEAD is what raft's directory may take besides the entries
 * at any moment: the next segment, a snapshot (a marker) and the metadata
 * (docs/LIBRARIES.md, C-Raft). */
#define REPLICA_SEGMENT_BYTES (8u << 20)
#define REPLICA_DISK_AHEAD (REPLICA_SEGMENT_BYTES + (64u << 10))
/* What raft's directory needs free to start (its open segments counted as
 * free: raft_uv closes them at load and allocates anew): the one it writes
 * and the two ahead, the metadata and a marker. */
#define REPLICA_START_ROOM (3ull * REPLICA_SEGMENT_BYTES + (64u << 10))

/* The raft log's bounds in bytes (replica_options): C-Raft 0.15 keeps every
 * entry of its log in memory and reads the whole log back at start, checking
 * each byte's CRC (about 130 MB/s here), so the log is bounded in bytes, not
 * only in entries: an entry of a batch workload holds a group commit of up to
 * 65,536 events, and 1024 + 8192 of them could be gigabytes. A follower
 * further behind than the entries kept is sent a marker and fetches the
 * events over the page protocol. */
#define REPLICA_SNAPSHOT_BYTES (32ull << 20)
#define REPLICA_TRAILING_BYTES (32ull << 20)
/* A single node's (replica_options.solo): no follower ever asks for the
 * entries behind a marker, so it keeps the fewest that fit in this (at least
 * one): its start reads back and holds up to 31 MiB less, and a forget's
 * copy in raft's log goes at the next marker. */
#define REPLICA_SOLO_TRAILING_BYTES (1ull << 20)

typedef struct replica_options {
	uint64_t id;                 /* this node's raft id, > 0 */
	const char *address;         /* "A.B.C.D:PORT" it listens on: a private IPv4
	                              * address (loopback, RFC 1918, 100.64/10, link
	                              * local); C-Raft's TCP has no TLS and no
	                              * authentication (docs/REPLICATION.md) */
	const char *dir;             /* raft's own directory (segments, metadata,
	                              * snapshots); created if missing */
	unsigned election_ms;        /* election timeout; 0 = 3000 */
	unsigned heartbeat_ms;       /* 0 = election_ms / 6 */
	unsigned snapshot_threshold; /* entries between snapshots; 0 = 1024 */
	unsigned snapshot_trailing;  /* entries kept behind one; 0 = 8192 */
	/* The same in bytes of entries: a snapshot is due once the entries
	 * after the last one hold snapshot_bytes, and only the newest entries
	 * that fit in trailing_bytes (at least one) are kept behind it;
	 * whichever of the two bounds comes first. 0 = REPLICA_SNAPSHOT_BYTES,
	 * REPLICA_TRAILING_BYTES (REPLICA_SOLO_TRAILING_BYTES for solo). */
	uint64_t snapshot_bytes, trailing_bytes;
	unsigned checkpoint_ms;      /* idle leader's checkpoint period; 0 = election_ms */
	/* On a data directory raft has never used: the voters to bootstrap
	 * with (ids and addresses, n of them; this node among them). NULL or 0
	 * on a node that joins an existing cluster (it is added by the
	 * leader) or restarts. */
	const uint64_t *bootstrap_ids;
	const char *const *bootstrap_addresses;
	unsigned bootstrap_n;
	/* Called on the loop's thread after any change replica_status would
	 * show in role, readiness, leader, halt or failure (the writer rebases
	 * its pending state when the node becomes ready). May be NULL. */
	void (*on_change)(replica *r, void *arg);
	/* Sends a confirmation message (len <= REPLICA_MSG_MAX bytes) to node
	 * `to`, which hands it to its replica_receive. Loss, delay, reordering
	 * and duplicates are fine: what a message says is resent each heartbeat.
	 * NULL with replica_start: UDP on `address` (the same port number as
	 * C-Raft's TCP), accepted only from the address the configuration gives
	 * the sender. Required with replica_bind. The return value is ignored. */
	int (*send)(replica *r, uint64_t to, const void *msg, size_t len, void *arg);
	void *arg; /* for on_change and send */
	/* The ids of the keys every node of a cluster must share (below,
	 * replica_keys). Each confirmation message says the sender's; a leader
	 * counts a node's HOLD only if it names all of its own, so a leader
	 * whose keys a majority of voters does not share never becomes ready
	 * (and halts once a majority says others); a node told SAFE by a
	 * leader with other keys (which a majority confirmed) halts. Either
	 * halt names both ids of the key that differs (docs/REPLICATION.md, "One
	 * person-hash key", "One cluster key"). */
	replica_keys keys;
	/* 1: a cluster of one started without peer settings (a single node,
	 * docs/REPLICATION.md "The daemon"): raft's transport never connects
	 * and listens nowhere (no port is opened), and there is no
	 * confirmation socket (the one voter confirms alone). `address` is
	 * then only a name in raft's configuration (REPLICA_SOLO_ADDRESS), not
	 * checked; bootstrap_n must be 1. */
	int solo;
	/* 1: before it starts, raft's configuration becomes this node alone,
	 * a voter at `address` (C-Raft's raft_recover appends it to the log):
	 * for a single node's raft log (solo above: REPLICA_SOLO_ADDRESS)
	 * started as the first node of a cluster. Only for a log whose
	 * configuration is this node alone: the caller knows. */
	int recover_alone;
} replica_options;

/* The address a solo node's configuration gives it: no network address. */
#define REPLICA_SOLO_ADDRESS "solo"

#define REPLICA_MSG_MAX 64
/* A confirmation message from another node (what a send function sent).
 * Anything that is not one is ignored. */
void replica_receive(replica *r, const void *msg, size_t len);

/* A replica applying to the state machine ops/sm (which must outlive it).
 * Returns 0 or LD_E(INTERNAL) (memory). */
int replica_new(replica **out, const replica_sm_ops *ops, void *sm);
/* Frees a replica that is not running (never started, or stopped). */
void replica_free(replica *r);

/*
 * Starts the raft node on loop with C-Raft's disk I/O (o->dir) and TCP
 * transport (o->address): bootstraps it if o->bootstrap_n and the directory
 * is new, loads the log and the last snapshot (the state machine sees the
 * marker and every entry after it again, and skips what it holds). Returns 0,
 * or LD_E(INVALID_VALUE) (options, a public address), LD_E(STORAGE) (the
 * directory, or segments C-Raft cannot read: nothing is renamed away), with
 * e saying why.
 */
int replica_start(replica *r, struct uv_loop_s *loop, const replica_options *o, ld_errinfo *e);
/* Before a planned stop, on the loop: a ready leader whose raft log holds
 * more than the trailing bytes after its last marker takes a marker of its
 * state: an empty entry, and C-Raft's threshold 1 until replica_stop (a
 * marker after every apply; replica_poll proposes another empty entry while
 * one is owed). raft's log is then trimmed to the trailing bytes, and the
 * next start reads little of it back (C-Raft reads its whole log at start,
 * checksumming every byte). Returns the last raft index when asked: the
 * status's snapshot_index reaches it or passes it once a marker is written
 * (on_change is called); 0 when there is nothing to do (not a ready leader,
 * little since the last marker, or the entry could not be proposed). */
uint64_t replica_final_marker(replica *r);
/* Stops the raft node (pending proposals end with REPLICA_E_UNKNOWN) and
 * calls done(r, arg) on the loop when everything is closed. */
void replica_stop(replica *r, void (*done)(replica *r, void *arg), void *arg);

/* For the deterministic simulation (raft/fixture.h), where the fixture owns
 * the raft instances: the fsm to give the fixture (version 2), the raft
 * instance once the fixture made it and before it starts (its raft_io is
 * wrapped, and raft->data set), and replica_poll() after every step
 * (replica_start runs it after every loop iteration). On a halt or failure
 * the owner of the instance stops it (replica_status says so). o gives send
 * and may give checkpoint_ms and on_change; the rest is the fixture's.
 * replica_unbind, before the owner closes the instance, reports what was
 * held back from it and gives the raft_io its methods back. */
struct raft_fsm *replica_fsm(replica *r);
void replica_bind(replica *r, struct raft *raft, const replica_options *o);
void replica_unbind(replica *r);
void replica_poll(replica *r);

/* ---- writing ---- */

/* Called once a proposal (or a membership change, a transfer) is over. For a
 * proposal: status 0 = confirmed (on the disks of a majority, in this
 * leader's term) and applied to this node's log, at raft index `index`; or
 * REPLICA_E_UNKNOWN (leadership lost before the confirmation, or the node
 * halted, failed or stopped meanwhile: the entry may be committed). index
 * is 0 but for a proposal's success. */
typedef void (*replica_done_cb)(replica *r, int status, uint64_t index, void *arg);

/*
 * Proposes one entry: h and its events (len bytes, copied). Only the leader,
 * once ready, accepts, and only an entry that follows the last one it
 * accepted (h->first_seq and prev_hash continue the tail: the head of the
 * log plus every proposal still in flight). Returns 0 (cb will be called
 * exactly once), REPLICA_E_NOT_LEADER, LD_E(BUSY) (leader, election barrier
 * not applied yet, or catching up: retry shortly), LD_E(INVALID_STATE) (h
 * does not follow the tail; why in e), LD_E(TOO_LARGE), REPLICA_E_HALTED.
 */
int replica_propose(replica *r, const replica_entry *h, const void *events, size_t len,
                    replica_done_cb cb, void *arg, ld_errinfo *e);
/* The tail proposals must follow: seq and hash after the last accepted
 * proposal (the log's head when none is in flight). */
void replica_tail(replica *r, uint64_t *seq, uint8_t hash[REPLICA_HASH_LEN]);

/* ---- operations ---- */

enum replica_role {
	REPLICA_STOPPED,
	REPLICA_FOLLOWER,
	REPLICA_CANDIDATE,
	REPLICA_LEADER,
	REPLICA_HALTED, /* stopped on a fork: re-seed from a healthy peer; or
	                 * on a person-hash key that is not the cluster's (the
	                 * reason says which): copy the cluster's key, restart */
	REPLICA_FAILED, /* stopped on an I/O error: restart the node */
	REPLICA_REMOVED, /* the leader said this node is not in the cluster's
	                  * configuration: it calls no election, takes no
	                  * write (replica_status.reason says who and when),
	                  * until a leader sends it entries again (added back) */
};
/* "stopped", "follower", ... (static). */
const char *replica_role_name(int role);
/* Its role now (enum replica_role): replica_status_get's, alone. */
int replica_role(replica *r);

#define REPLICA_MAX_NODES 16

typedef struct replica_node {
	uint64_t id;
	char address[64]; /* its raft address */
	char url[256];    /* its client URL, as replica_add gave it; "" none */
	int voter; /* 1 voter, 0 stand-by (replicates, does not vote), -1 spare */
	/* As the leader sees it (0 and -1 on any other node): 1 if it answers,
	 * this node itself or a node whose confirmation message (a HOLD naming
	 * this node's keys) arrived within REPLICA_REACH_TIMEOUTS election
	 * timeouts; heard_ms: how long ago the last did (-1: none in this
	 * leadership). A follower says HOLD once a heartbeat while it holds an
	 * entry of the leader's term. */
	int reachable;
	int64_t heard_ms;
} replica_node;
/* How many election timeouts a node may be silent and still count as
 * reachable (replica_node.reachable). */
#define REPLICA_REACH_TIMEOUTS 2

typedef struct replica_status {
	int role;        /* enum replica_role */
	int ready;       /* leader accepting proposals */
	int catching_up; /* fetching events up to a snapshot marker */
	uint64_t id;
	uint64_t leader_id; /* 0: none known */
	char leader_address[64];
	uint64_t term;
	uint64_t last_index;    /* raft: last entry in this node's log */
	uint64_t commit_index;  /* raft: known committed */
	uint64_t applied_index; /* raft: applied here (entries queued while catching
	                         * up count as applied) */
	uint64_t log_seq;       /* the log's head seq, its hash, the raft index */
	uint8_t log_hash[REPLICA_HASH_LEN];
	uint64_t log_index;
	uint64_t snapshot_index;    /* last snapshot marker written (raft's log trimmed behind it) or installed */
	uint64_t log_bytes;         /* bytes of the entries raft's log holds (C-Raft
	                             * keeps them in memory as well) */
	uint64_t snapshots;         /* markers taken here */
	uint64_t snapshots_refused; /* C-Raft asked while entries awaited
	                             * confirmation (it asks again later) */
	uint64_t holdbacks;         /* entries a leader then held back from C-Raft
	                             * until confirmed, for it to take one */
	uint64_t confirmed_index;   /* confirmed and held here: applied up to it */
	uint64_t acks;              /* proposals answered 0 here */
	uint64_t ack_wait_us;       /* over those: time from C-Raft's report of
	                             * the commit (or its attempt to apply a
	                             * held-back entry) to the confirmation; 0 when
	                             * the confirmation came first. What the
	                             * confirmation adds to an acknowledgement */
	uint64_t checkpoints;       /* checkpoint entries applied here */
	char reason[320];           /* why halted, failed or removed; "" otherwise */
	int key_halt;               /* halted because a key of replica_keys differs */
	replica_keys keys;          /* this node's key ids (options) */
	unsigned n_nodes;           /* the configuration, as this node knows it */
	replica_node nodes[REPLICA_MAX_NODES];
} replica_status;

void replica_status_get(replica *r, replica_status *st);

/* Membership changes, one at a time (0.15 mishandles overlapping ones): add
 * a node as a stand-by (it replicates, does not vote) with its client URL
 * (NULL or "": none), make a node a voter
 * (voter = 1) or a stand-by (0), remove one. Leader only. cb(r, status, arg)
 * once the change is committed (0) or failed. Returns 0, REPLICA_E_NOT_LEADER,
 * LD_E(BUSY) (another change in flight), LD_E(INVALID_VALUE) (ids, address). cb's
 * status for a change: 0, REPLICA_E_UNKNOWN (leadership lost meanwhile),
 * LD_E(INVALID_STATE) (C-Raft refused it), REPLICA_E_HALTED. */
int replica_add(replica *r, uint64_t id, const char *address, const char *url,
                replica_done_cb cb, void *arg);
/* The URL travels in the configuration, where C-Raft keeps the address: "A.B.C.D:PORT URL"
 * (replicated, in its snapshots and reloaded at start like the rest of the configuration;
 * every node's replica_status names it; the transport and the confirmations' socket see
 * only the address). */
int replica_assign(replica *r, uint64_t id, int voter, replica_done_cb cb, void *arg);
int replica_remove(replica *r, uint64_t id, replica_done_cb cb, void *arg);
/* The key ids node `id` named in its confirmation messages to this node as
 * leader (a node says HOLD once it holds an entry of the leader's term: a
 * stand-by added catches up, then says it): 0 (the same as this node's),
 * LD_E(INVALID_STATE) (another: *keys, *which the first that differs),
 * LD_E(NOT_FOUND) (nothing heard from it in this leadership). A node that
 * differs must not be made a voter (daemon/membership.c waits for it
 * first). */
int replica_key_of(replica *r, uint64_t id, replica_keys *keys, int *which);

/* How node `id`, which does not vote (a stand-by being added), says it is
 * catching up, in its confirmation messages to this node as leader
 * (RC_APPLIED, once a heartbeat): 0, or LD_E(NOT_FOUND) (nothing heard in
 * this leadership: not running, or an earlier release). A node is caught up
 * once it is not catching up to a marker and its log has applied raft's
 * entries up to where this leader's were when the promotion was asked
 * (daemon/membership.c waits for it before making it a voter: C-Raft 0.15
 * counts a node that installed a marker as caught up while its log still
 * fetches the events behind it, or fails to). */
typedef struct replica_catchup {
	uint64_t applied_index;  /* raft index its log has applied (0 while catching up) */
	uint64_t fetch_failures; /* its failed catch-ups since it started */
	int catching_up;         /* fetching the events up to a marker */
	uint64_t heard_ms;       /* how long ago it said so */
} replica_catchup;
int replica_catchup_of(replica *r, uint64_t id, replica_catchup *c);

/* Hands leadership to node id (0: any up-to-date voter). cb status 0 when
 * that node leads, LD_E(BUSY) when the transfer lapsed (0.15 can drop it
 * silently; check and retry). */
int replica_transfer(replica *r, uint64_t id, replica_done_cb cb, void *arg);

#endif
