/*
 * writer.h — the single writer: decisions against the write model in
 * memory, and group commit.
 *
 * Appends are queued by any thread. The writer's deciding thread takes
 * whole requests from the queue and decides each event against the write
 * model (core/model.h): a duplicate event_id, a clerk's scope, every
 * invariant; an accepted event gets its seq, version, time and hash and is
 * packed, with its stream link, into the open group (core/group.h), the
 * model changing as it goes (each change logged, so that an atomic request
 * whose event is rejected is taken back exactly). The committing thread
 * writes a group into the log's store in one transaction and commits it
 * durably; only then are its requests answered ("recorded" means on disk:
 * it survives kill -9 and power loss), the streams' heads published to
 * readers, and the commit hooks called. Replicated, the committing thread
 * hands the group to the cluster instead and answers once raft's log holds
 * it on a majority; the store is written after, on a thread of its own
 * (writer_apply_entry). While one group commits, the next
 * is decided (the model already holds the first), so deciding and syncing
 * overlap.
 *
 * A group whose commit fails (a full disk, a storage error) fails every
 * request in it with ERR_DISK_FULL / ERR_STORAGE, nothing of it recorded
 * (replicated: a group the disks cannot take fails so before raft's append,
 * writer_options.raft_dir);
 * the model is rolled back to before it (and before the group decided on
 * top of it, whose requests are decided again). MDB_MAP_FULL grows the map
 * and the same group is written again.
 *
 * At start the model is loaded from its snapshot (core/snapshot.h) and the
 * log past it is replayed (model_apply on the stored events, which pass its
 * checks again on the same state; a failure there means the log and the
 * snapshot disagree and stops the start); with no usable snapshot the whole
 * log is. A snapshot is written every WRITER_SNAPSHOT_EVENTS events (on its
 * own thread) and when the writer stops.
 */
#ifndef LD_WRITER_H
#define LD_WRITER_H

#include <stdint.h>

#include "codec.h"
#include "model.h"
#include "roles.h"
#include "store.h"

#define WRITER_MAX_BATCH 10000     /* events in one request */
#define WRITER_MAX_EVENTS 65536    /* events in one transaction (several requests) */
#define WRITER_MAX_QUEUED 1000000  /* events waiting; more gets ERR_BUSY */
#define WRITER_ACTOR_MAX 96
#define WRITER_SNAPSHOT_EVENTS 2000000 /* a snapshot of the model every so many events */
/* ... or, on a longer log, every head / WRITER_SNAPSHOT_SHARE events: the
 * file is the whole model (about 100 bytes per logged event), so a fixed
 * interval would write a share of it per event that grows with the log;
 * this keeps it constant (about 4 x 100 bytes per event) and bounds a
 * crash's replay to a quarter of the log. */
#define WRITER_SNAPSHOT_SHARE 4
/* Events from a snapshot at seq `last` to the next one, for an interval
 * `every` (writer_options.snapshot_every, or WRITER_SNAPSHOT_EVENTS). */
uint64_t writer_snapshot_interval(uint64_t every, uint64_t last);

/* The outcome of one event. */
typedef struct append_item {
	uint64_t seq;     /* recorded (or already recorded) as */
	uint64_t version; /* in its stream */
	int code;         /* 0, or the negative error code */
	int duplicate;    /* event_id seen before: seq is the original */
	ld_errinfo *err;  /* details when code != 0 (owned by the request) */
	int stateless;    /* code was set before the writer saw it (writer) */
	int by_hash;      /* set by the submitter: a join whose person_hash the
			   * client sent instead of a national ID (a rejoin by
			   * hash), which a clerk's scope treats apart
			   * (roles_check_event) */
} append_item;

typedef struct append_req append_req;
typedef void (*append_done_fn)(append_req *r);

struct append_req {
	/* Filled by the submitter. */
	Ledger__AppendRequest *req; /* owned by the submitter; not changed */
	char actor[WRITER_ACTOR_MAX]; /* the authenticated identity (server/) */
	const role *role;    /* NULL: no limits; a clerk: each event is checked
			      * against its scope (roles_check_event) in the
			      * write transaction, after the duplicate check and
			      * before the write model; refused events fail
			      * with ERR_PERMISSION_DENIED like any rejection */
	append_item *items;  /* req->n_events of them, zeroed; an item whose
			      * code is already set (a stateless check
			      * failed) is not attempted */
	append_done_fn done; /* called on the writer thread when decided */
	void *arg;
	/* Filled by the writer. */
	int status;        /* 0, or why the whole request failed */
	uint64_t head_seq; /* log head after its commit */
	append_req *next;  /* queue link */
	struct append_pack *pack; /* the events' client parts, packed by
				   * writer_submit on the caller's thread */
};

typedef struct writer writer;

/* Called on the writer thread after each successful commit. */
typedef void (*writer_commit_fn)(void *arg, uint64_t head_seq);
/* A replicated group's outcome (writer_options.replicate). */
typedef void (*writer_replicated_fn)(void *ctx, int status);

typedef struct writer_options {
	/* 1: do not maintain the Merkle tree of the log (core/merkle.h), for
	 * benchmarks; the next start without it catches the tree up. */
	int no_merkle;
	/* The keystore (core/keystore.h): a MemberForgotten event destroys
	 * its member's key before it is recorded. NULL: keys are not touched. */
	struct keystore *keys;
	/* A snapshot of the write model every so many events (0: the
	 * default, WRITER_SNAPSHOT_EVENTS), or every head /
	 * WRITER_SNAPSHOT_SHARE events where that is more. */
	uint64_t snapshot_every;
	/* Called on the committing thread with each group's blob (core/
	 * group.h) after its commit, before its requests are answered: what
	 * group_apply() writes into another copy of the log. NULL: none. */
	void (*on_group)(void *arg, const uint8_t *blob, size_t len);
	void *on_group_arg;
	/* Replication (daemon/cluster.h): the writer does not write a group
	 * itself but hands its blob to replicate(), from its deciding thread
	 * or the submitting thread that decided the group's last request
	 * (writer_submit), and goes on deciding the next group. replicate() returns at once: 0
	 * (handed over: done(ctx, status) is called exactly once later, on
	 * another thread, maybe before replicate() returns), or an error (not
	 * handed over; done is not called). status 0: the cluster confirmed the
	 * group and writer_apply_entry(own = 1) applied it here; else
	 * LD_E(NOT_LEADER), LD_E(OUTCOME_UNKNOWN) (the group may be recorded: it
	 * comes back through writer_apply_entry), or a storage error. done
	 * answers the group's requests (0), or has them fail with that code and
	 * the model rolled back; it must not be called with a lock replicate()
	 * takes held. NULL: the writer commits (a single node). A replicated
	 * writer starts not leading. */
	int (*replicate)(void *arg, const uint8_t *blob, size_t len, writer_replicated_fn done,
			 void *ctx);
	void *replicate_arg;
	/* Replicated, 1: whoever calls done(ctx, 0) times the next group's
	 * wait for its clients (docs/REPLICATION.md, "How big a group is"):
	 * right after that call it asks writer_linger_left(), and again once
	 * that many µs have passed, until it answers 0 or replicate() is
	 * called again. The deciding thread is then not woken to time it.
	 * 0: the deciding thread times it. */
	int linger_timer;
	/* Replicated: called once, on the applier's thread, when what was
	 * applied here cannot be written into the store (a full disk, a
	 * storage error). Raft's log holds it; the node must stop and be
	 * restarted, which replays it. The writer refuses every request from
	 * then on. NULL: only logged. */
	void (*failed)(void *arg, int rc);
	void *failed_arg;
	/* Replicated: how long an entry applied here may wait for the applier,
	 * so that the entries of that time share one store commit (one device
	 * flush); 0: stored as soon as the applier is free. Not waited out
	 * when a thread waits for the store (a read, writer_head, writer_sync,
	 * a snapshot, the bound of what is not stored), when the writer stops,
	 * or once 1024 entries or 8 MiB wait. */
	unsigned store_delay_us;
	/* Replicated: before the committing thread hands a group to
	 * replicate(), it checks that the disks can take it (store_room): raft's
	 * log in raft_dir (the entry, and raft_ahead bytes raft may allocate
	 * besides: a segment it prepares ahead), the log's store (its write of
	 * the group and of every entry still waiting for the applier, with
	 * LMDB's copy-on-write pages) and the projections' store in
	 * projections_dir (NULL: not checked). A group they cannot take fails
	 * with LD_E(DISK_FULL) before raft's append, nothing of it recorded, as
	 * a single node's failed commit: raft's log (C-Raft 0.15) and the store
	 * written after the acknowledgement cannot fail without stopping the
	 * node. raft_dir NULL: no check; nor with LEDGERD_TEST_ROOM_OFF=1 (a test
 * hook, read at writer_start: as if the room went right after the check). */
	const char *raft_dir;
	uint64_t raft_ahead;
	const char *projections_dir;
} writer_options;

/* Starts the writer on s: loads the write model (its snapshot and the log
 * past it), brings the Merkle tree up to the log (unless o->no_merkle) and
 * starts its threads. o may be NULL (defaults). 0 or a negative code (the
 * reason logged). */
int writer_start_opts(writer **out, store *s, const writer_options *o);
/* writer_start_opts with the defaults. */
int writer_start(writer **out, store *s);
/* Sets (or with NULL clears) the commit hook, from any thread at any time.
 * When it returns, no call of the previous hook is in flight. The hook must
 * not call writer_on_commit. */
void writer_on_commit(writer *w, writer_commit_fn fn, void *arg);

/* Further commit hooks, called after the one above with the same rules:
 * add returns 0 or LD_E(INTERNAL) when WRITER_MAX_HOOKS are set; when
 * remove returns, no call of that hook is in flight. */
#define WRITER_MAX_HOOKS 4
int writer_hook_add(writer *w, writer_commit_fn fn, void *arg);
void writer_hook_remove(writer *w, writer_commit_fn fn, void *arg);

/* Packs the client's part of every event of r that passed its checks
 * (codec_event_parts_pack: the stateless half of the writer's work, done on
 * the caller's thread) and queues r, or (a replicated leader, r small and
 * nobody else deciding) decides r on the caller's thread into the open
 * group and hands that group over when it need not wait for more clients.
 * Returns 0 (r->done will be called exactly once, maybe before this
 * returns), or LD_E(SHUTTING_DOWN) / LD_E(BUSY) / LD_E(INTERNAL) (out of
 * memory; r->done will not be called). */
int writer_submit(writer *w, append_req *r);

/* With writer_options.linger_timer: the µs the open group still waits for
 * its clients, or 0 (none waits; one whose wait is over is handed over by
 * the deciding thread, woken here). Any thread. */
int64_t writer_linger_left(writer *w);

/* The committed head, as the log's store holds it: seq and hash (32 zero
 * bytes for an empty log). Replicated, it first waits until the store
 * holds every entry applied when it was called (store_read_begin waits so
 * too): a reader never sees less than what was acknowledged before it
 * asked. */
void writer_head(writer *w, uint64_t *seq, uint8_t hash[LD_HASH_LEN], int64_t *recorded_at);

/* The committed Merkle tree: its size (= the head seq) and root. 0, or
 * LD_E(INVALID_STATE) when the writer runs without the tree. Appends to the
 * tree happen in the transaction of the events, so size and root always
 * match a committed log. Replicated, it first waits as writer_head does. */
int writer_tree(writer *w, uint64_t *size, uint8_t root[LD_HASH_LEN]);

/* The write model (readers reach it through the store too). */
struct model *writer_model(writer *w);

/* Finishes the groups decided, answers every queued request with
 * ERR_SHUTTING_DOWN, stops the threads and writes a snapshot of the model.
 * Later submits get ERR_SHUTTING_DOWN; writer_head keeps working, and the
 * model stays readable, until writer_free. */
void writer_stop(writer *w);
void writer_free(writer *w);

/* ---- replication (daemon/cluster.c) ---- */

/* Whether this node leads its cluster. Not leading, the writer refuses
 * every request (queued ones too) with LD_E(NOT_LEADER); leader_url names
 * the leader's client URL for the redirect ("" or NULL: unknown); elected:
 * this node won its election and is not ready yet (its barrier not
 * confirmed), so leader_url is its own. From any thread. */
void writer_set_leading(writer *w, int leading, const char *leader_url, int elected);
/* 1 when appends are accepted here: a single node, or the cluster's
 * leader. */
int writer_leads(writer *w);
/* The leader's URL as last set (into out, size n; "" when unknown or when
 * this node leads); 1 if that is this node, elected and not ready yet. */
int writer_leader_url(writer *w, char *out, size_t n);

/*
 * Applies a replicated group blob (len bytes; NULL and 0 for an entry that
 * carries no events) at raft index `index`. Called on one thread (the
 * replica's), in raft order.
 *
 * own (the group this writer handed to replicate(), whose done is still to
 * come), or an entry without
 * events: applied here at once (the head writer_applied_head gives), and
 * queued for the applier thread, which writes the entries waiting into the
 * log's store, several in one transaction with the last one's raft index
 * (those of up to store_delay_us: writer_options), and then publishes them
 * to readers (writer_head, the commit hooks).
 * The store's commits need not sync their meta page (store_set_meta_sync):
 * raft's log holds every entry past the index the store records, and is
 * truncated only behind a state writer_sync made durable.
 *
 * Otherwise the blob is another leader's: the writer, not leading, waits
 * until nothing of its own is in flight or waiting for the store, checks
 * that the events chain from the log's head (their hashes recomputed),
 * writes them with the index, and brings the write model, the head, the
 * Merkle tree and the keystore (forgotten members) up to them, then calls
 * the commit hooks. Returns 0, LD_E(CHAIN_BROKEN) (nothing written), or a
 * storage error.
 */
int writer_apply_entry(writer *w, uint64_t index, const uint8_t *blob, size_t len, int own);
/* While the groups applied and not stored exceed 256 MiB, the committing
 * thread holds the next group back (and a follower the next entry): a store
 * slower than raft slows the writes instead of growing memory.
 *
 * Test hooks, read at writer_start: LEDGERD_TEST_APPLY_HOLD=1 makes the
 * applier store nothing from this node's first own group on (as if the
 * process died each time between raft's flush and the store's commit);
 * LEDGERD_TEST_UNSTORED_MAX=N sets that bound to N bytes. */
/*
 * Another leader's entry, as the replica hands it over (blob: its group;
 * NULL: an entry without events; last_hash: the hash of its last event, as
 * its raft entry names it): applied in raft order, off the calling thread.
 * An entry without events, none waiting, is applied at once (its raft index
 * only). Otherwise it is checked to continue the one before (first seq,
 * previous hash), copied and queued for the follow thread (ld-follow),
 * which checks and applies the entries one after the other, each as
 * writer_apply_entry(own = 0) does, and checks that the events end at
 * last_hash; 0 is returned. The first entry
 * that fails there is not applied, nor anything after it: every later call
 * returns its error, and writer_follow_settle says what it was. The caller
 * waits while what is queued and not stored exceeds the bound of what is
 * not stored (raft's back-pressure). LD_E(CHAIN_BROKEN): the entry does not
 * continue the chain; other errors: a failure of this node.
 */
int writer_follow_entry(writer *w, uint64_t index, const uint8_t *blob, size_t len,
			const uint8_t last_hash[LD_HASH_LEN]);
/* 0 while every entry handed to writer_follow_entry is applied or on its
 * way; or the error the first that failed met (LD_E(CHAIN_BROKEN): its
 * events do not chain; others: a failure of this node), with its raft index
 * and why (n bytes). wait: first until every entry handed over is applied
 * (or one failed). */
int writer_follow_settle(writer *w, int wait, uint64_t *index, char *why, size_t n);
/* The head the next entry handed over must continue: the last one queued
 * for the follow thread (seq, hash, raft index), or the one applied. */
void writer_follow_head(writer *w, uint64_t *seq, uint8_t hash[LD_HASH_LEN], uint64_t *index);
/* The raft index of the last entry applied (stored or not; 0: none). */
int writer_applied_index(writer *w, uint64_t *index);
/* Forgets the raft index the store records (0 from then on), in a synced
 * commit; before the replica starts, on a log restored from a hot backup
 * whose raft log is not there: raft starts afresh at index 1 and an index
 * of the old raft log would make its entries look applied. 0 or a storage
 * error. */
int writer_rebase_index(writer *w);
/* The head of what is applied (stored or not): what the replica checks the
 * next entry against (hash may be NULL). */
void writer_applied_head(writer *w, uint64_t *seq, uint8_t hash[LD_HASH_LEN]);
/* Waits until the store holds every entry applied (and handed over:
 * writer_follow_entry; the error of one that failed there), then makes it durable
 * (store_sync): before a snapshot marker names that state and raft drops
 * its log behind it. 0 or a storage error. */
int writer_sync(writer *w);

/* The calling thread reads the log as its store holds it: its writer_head
 * and store_read_begin do not wait for what a replicated writer applied and
 * has not stored yet (a wait that makes the applier store it at once, not
 * after its store delay). For a thread the commit hooks drive (the
 * projections' runner), which sees the rest at the next hook. */
void writer_thread_reads_stored(void);

/* A query waits for the projections to reach seq and they cannot read it
 * from the writer's memory (writer_unstored_begin: more waits unstored than
 * they read so): a replicated writer's applier stores what waits up to it
 * now, without waiting out its store delay, as for a read of the log.
 * Capped at what is applied here; does not wait; nothing on a single node
 * without raft. */
void writer_store_soon(writer *w, uint64_t seq);

/*
 * What is applied here and not stored yet, for a reader that must not wait
 * for the store: the projections' runner, answering read-your-writes
 * without the store's commit and its device flush on the way. A
 * replicated writer's own entries wait for the applier up to its store
 * delay; writer_unstored_begin pins them (none is freed until
 * writer_unstored_end) and fills *view with them (model_view: events,
 * links, streams' newest events), for store_txn_set_view on a read
 * transaction of the log that begins after the call: the transaction and
 * the view together hold every event up to *last, the head applied. 0;
 * LD_E(NOT_FOUND), nothing pinned, when no entry waits or more than max
 * events do (the store far behind: read what it holds); LD_E(INTERNAL).
 * Only entries raft committed are applied, so nothing derived from them is
 * taken back: after a crash raft's log gives them to the store again. From
 * one thread at a time per pin; valid until writer_unstored_end.
 */
typedef struct writer_unstored writer_unstored;
int writer_unstored_begin(writer *w, uint64_t max, writer_unstored **out, model_view *view,
			  uint64_t *last);
/* The stored bytes of event seq from u: 0 or LD_E(NOT_FOUND). */
int writer_unstored_event(const writer_unstored *u, uint64_t seq, const uint8_t **bytes,
			  size_t *len);
void writer_unstored_end(writer_unstored *u);
/* How many events are applied here and not stored yet (no wait). */
uint64_t writer_unstored_count(writer *w);

/* Frees the err details of a request's items. */
void append_req_release(append_req *r);

#endif
