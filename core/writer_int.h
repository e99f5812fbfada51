/*
 * writer_int.h — what core/writer.c (deciding, committing, start and stop)
 * and core/writer_apply.c (a replicated writer: the entries applied here,
 * the applier that stores them, another leader's groups) share. Nothing
 * else includes it: writer.h is the contract.
 */
#ifndef LD_WRITER_INT_H
#define LD_WRITER_INT_H

#include <pthread.h>
#include <stdint.h>

#include "codec.h"
#include "group.h"
#include "keystore.h"
#include "merkle.h"
#include "model.h"
#include "writer.h"

#define WRITER_UNSTORED_MAX (256u << 20) /* bytes applied, not yet stored */
/* Entries and bytes waiting for the applier from which it stores them
 * without waiting out the store delay (writer_options.store_delay_us). */
#define WRITER_STORE_BATCH_ENTRIES 1024
#define WRITER_STORE_BATCH_BYTES (8u << 20)
/* The longest a group waits for more requests, and the events past which it
 * does not (its raft entry's own cost is then shared enough). */
#define WRITER_LINGER_MAX_US 5000
/* ... and, below that, how many times the last group's commit it waits: a
 * client's way back (the answer through NNG, its next request decoded) is
 * longer than a single node's commit. Measured (2026-12-06, one node, 16
 * clients, 2 alternated pairs each): half a commit gave raft entries of 7.4
 * events, 2 commits 11-12, 3 commits 13-14, 4 commits 15.5 (one cohort). */
#define WRITER_LINGER_COMMITS 4
#define WRITER_LINGER_EVENTS 256

/* A group: its blob, the changes it made to the model, its requests. */
typedef struct wgroup {
	group g;
	model_undo *undo;
	append_req *reqs, *reqs_tail;
	uint32_t *streams; /* each event's stream, to publish after the commit */
	size_t ncap;
	int64_t recorded_at;
	uint64_t last;     /* seq of its last event (or the head before it) */
	uint8_t hash[LD_HASH_LEN];
	size_t events;     /* events of its requests (for the bound) */
	size_t nreqs;      /* its requests (the list's length) */
	int status;        /* its commit: 0, or why it failed */
	int64_t handed_at; /* replicated: when handed to replicate() (wall µs) */
} wgroup;

enum { FLIGHT_NONE, FLIGHT_COMMITTING, FLIGHT_DONE };

/* A replicated entry applied here (confirmed, its clients answered or about
 * to be) that the applier has still to write into the log's store: a copy
 * of its group (no events: an entry without any, whose raft index only is
 * recorded) and the head after it. */
typedef struct pend {
	struct pend *next;
	uint64_t index; /* its raft index */
	group g;
	uint32_t *streams; /* each event's stream, published once stored */
	uint64_t last;     /* the head after it: seq, hash, time */
	uint8_t hash[LD_HASH_LEN];
	int64_t recorded_at;
	int stored;
} pend;

/* The writer's own threads read the log without waiting for the applier
 * (they see the entries not yet stored through the view). */
extern __thread int wr_no_read_wait;

struct writer {
	store *s;
	model *m;
	pthread_t decider, committer;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t wake;     /* the decider: requests, a commit done, stopping */
	pthread_cond_t go;       /* the committer: a group to commit, stopping */
	append_req *head, *tail; /* the queue */
	size_t queued_events;
	int stopping, broken;
	int committer_done; /* the decider has stopped: the committer may */

	/* The head of what is applied here (a single node: committed; a
	 * replicated one: confirmed), under lock. */
	uint64_t seq;
	uint8_t hash[LD_HASH_LEN];
	int64_t recorded_at;
	/* The head and tree of the log's store, what readers see (under
	 * lock). A single node: the same as the above. */
	uint64_t sseq;
	uint8_t shash[LD_HASH_LEN];
	int64_t srecorded_at;
	int merkle;
	ld_merkle_frontier tree;
	uint8_t root[LD_HASH_LEN];
	keystore *keys; /* destroys keys of MemberForgotten events; may be NULL */

	/* The pipeline (under lock): the group being decided and the one
	 * being committed. */
	wgroup groups[2];
	wgroup *open, *flight;
	int flight_state;
	/* Replicated: the next group, while it holds fewer than
	 * WRITER_LINGER_EVENTS events, waits (at most WRITER_LINGER_COMMITS
	 * times the last group's commit, and WRITER_LINGER_MAX_US) until it
	 * holds linger_reqs requests: those of the open group when the last
	 * one was done plus those the last one answered, whose clients may
	 * send their next at once. Closed-loop clients then share one raft
	 * entry instead of settling into two cohorts that alternate (under
	 * lock; monotonic µs; linger_until 0: no wait). */
	size_t sent_reqs, linger_reqs;
	int64_t sent_at, linger_until;
	/* The decider's own: the last event decided, its read transaction. */
	uint64_t dseq;
	uint8_t dhash[LD_HASH_LEN];
	store_txn *txn;
	model_view view;
	/* The working tree of the thread that writes the store (the
	 * committer; replicated: the applier). */
	ld_merkle_frontier ctree;

	/* Replicated: the entries applied here and not yet stored, in raft
	 * order (under lock); the applier writes them, as many as are there,
	 * in one transaction. Kept after they are stored while the decider's
	 * read transaction began before (pin: the stored seq it sees). */
	pend *pending, *pending_tail, *apply_next;
	size_t unstored, unstored_bytes, unstored_max;
	/* The applier's next transaction waits up to store_delay_us from the
	 * first entry queued for it (apply_since, monotonic), to take more
	 * entries at once, unless a thread waits for the store (store_waiters:
	 * a read, writer_sync, a snapshot, room) or the bounds above are
	 * reached (apply_entries, apply_bytes: queued since apply_next). */
	uint64_t store_delay_us;
	int64_t apply_since;
	size_t apply_entries, apply_bytes, store_waiters;
	/* A query waits for the projections to reach this seq (writer_store_soon):
	 * stored without the delay while sseq is below it. */
	uint64_t store_soon;
	int room_said; /* the wait for room logged */
	uint64_t pin, fpin; /* fpin: the same for another leader's group */
	/* Readers of the entries not stored (writer_unstored_begin): while
	 * any, no entry is freed. */
	size_t mem_pins;
	uint64_t applied_index; /* raft index applied here (stored or not) */
	pthread_t applier;
	int applier_started, applier_stop, apply_failed, apply_hold, hold_armed;
	pthread_cond_t apply_go, stored_cv;
	/* Another leader's group, decoded once for its checks and the write
	 * model (the thread that applies it; emptied after each group). */
	codec_pool follow_pool;
	/* Another leader's entries handed over by the replica and not yet
	 * applied here, in raft order (under lock): the follow thread
	 * (ld-follow, started with the first) checks and applies them one at
	 * a time, the first of the list until it is done. f_tail's head (or,
	 * the list empty, the applied one) is what the next entry must
	 * continue. f_failed: the error the first one that failed met (the
	 * rest dropped, nothing more taken), at raft index f_failed_index,
	 * why in f_why. The follow thread waits on `idle` (work, the writer
	 * idle, stopping); who waits for the list to empty, on stored_cv. */
	struct follow_entry *f_head, *f_tail;
	size_t f_bytes;
	int follow_started, follow_stop, f_failed;
	uint64_t f_failed_index;
	char f_why[sizeof(((ld_errinfo *)0)->message)];
	pthread_t follower;
	void (*failed)(void *arg, int rc);
	void *failed_arg;

	uint64_t snapshot_every, snap_seq;
	void (*on_group)(void *arg, const uint8_t *blob, size_t len);
	void *on_group_arg;

	/* Replication (under lock): groups go through replicate() (from the
	 * deciding thread; no committing thread is started); not
	 * leading, every request is refused; another leader's entries wait
	 * for the pipeline to be idle (nothing decided, nothing in flight). */
	int (*replicate)(void *arg, const uint8_t *blob, size_t len, writer_replicated_fn done,
			 void *ctx);
	void *replicate_arg;
	store_room *room; /* the disks, checked before replicate() (NULL: not) */
	uint64_t raft_ahead;
	int leading, deciding;
	int decider_timed; /* the decider waits for the open group's linger to end */
	/* The open group's linger is timed by replicate()'s side
	 * (writer_options.linger_timer, writer_linger_left), not the decider. */
	int linger_timer, linger_timed;
	char leader_url[256];
	int leader_elected; /* leader_url is this node's: elected, not ready */
	pthread_cond_t idle;

	/* The commit hook, called with hook_lock held, so that clearing it
	 * (which takes the lock) waits for a call in flight. */
	pthread_mutex_t hook_lock;
	writer_commit_fn on_commit;
	void *on_commit_arg;
	struct {
		writer_commit_fn fn;
		void *arg;
	} hooks[WRITER_MAX_HOOKS];
};


/* ---- core/writer.c ---- */

/* The decider's view of the log beyond what is committed: the groups
 * decided and in flight, then the entries not yet stored. */
int wr_view_event(void *arg, uint64_t seq, Ledger__Event **ev);
int wr_view_link(void *arg, uint64_t seq, ld_link *l);
/* The commit hooks, with head (on the thread that stored it). */
void wr_call_hooks(writer *w, uint64_t head);
/* Empties g for the next group after the decided head (lock held). */
void wr_group_open(writer *w, wgroup *g);
/* Applies the recorded event ev at seq to the write model in t, as a
 * replay does: it must come out at the version and stream it was recorded
 * with (else LD_E(STORAGE), "<prefix>seq N is version V of S in <where> but
 * ..."); other errors are model_apply's. mr is the model's result. */
int wr_replay_apply(store_txn *t, const Ledger__Event *ev, uint64_t seq, const char *prefix,
		    const char *where, model_result *mr, ld_errinfo *e);

/* ---- core/writer_apply.c ---- */

/* The entry not yet stored that holds seq (lock held), or NULL. */
const pend *wr_pending_at(const writer *w, uint64_t seq);
/* A replicating leader with a cluster key: the key of the member whose
 * sealed data ev carries, wrapped into g's key section (writer_apply.c). */
int wr_key_wrap(writer *w, wgroup *g, const Ledger__Event *ev);
void wr_pend_free(pend *p);
/* Frees the stored entries no reading thread still needs (lock held). */
void wr_prune_locked(writer *w);
/* The applier's thread. */
void *wr_applier_main(void *arg);
/* Waits (lock held) while the entries not stored exceed their bound. */
void wr_wait_room_locked(writer *w);
/* Waits (lock held) until the store holds everything applied: 0, the
 * applier's error, or LD_E(BUSY) (held by the test hook). */
int wr_wait_stored_locked(writer *w);
/* store_read_begin's wait (store_set_read_wait), and writer_head's. */
void wr_read_wait(void *arg);
/* Stores what is applied (unless held or failed) and stops the applier. */
void wr_stop_applier(writer *w);
/* The raft index recorded in the store (0: none). */
int wr_stored_index(writer *w, uint64_t *index);

#endif
