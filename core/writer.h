/*
 * writer.h — the single writer thread and its group commit.
 *
 * Appends are queued by any thread; the writer drains everything pending into
 * one write transaction (bounded by WRITER_MAX_EVENTS), validates each event
 * against the write model, appends it with its hash, commits durably, and only
 * then reports every request of the batch done. "Recorded" in a result thus
 * means on disk: it survives kill -9 and power loss.
 *
 * The transaction spans the log's two environments (core/store.h): the
 * log is committed durably first, then the indexes (unsynced) with their
 * checkpoint, "applied" (the batch's last seq and hash). An index that
 * missed a commit (its commit failed after the log's, or the process died
 * between the two, or the machine crashed and store_open threw it away) is
 * brought up to the log before it is used: writer_start, and the next batch,
 * re-apply the log's events past the checkpoint (model_apply on the stored
 * events, which pass its checks again on the same state; a failure there
 * means log and index disagree and stops the writer's start), then catch the
 * Merkle tree up. An index whose checkpoint's hash is not the log's at that
 * seq (another log's: a restored backup) is emptied and rebuilt.
 *
 * MDB_MAP_FULL (from a put or from the commit) aborts the batch, grows the
 * map and redoes the batch; requests are kept until their commit succeeds.
 * The Merkle tree of the log (core/merkle.h) is appended to in the same
 * transaction, from a working copy of its right edge that a failed attempt
 * (or an atomic request's rejection) throws away with the rest.
 * A full disk or another storage failure fails the whole batch with
 * ERR_DISK_FULL / ERR_STORAGE and nothing of it recorded; the writer goes on
 * with the next batch.
 */
#ifndef LD_WRITER_H
#define LD_WRITER_H

#include <stdint.h>

#include "codec.h"
#include "roles.h"
#include "store.h"

#define WRITER_MAX_BATCH 10000     /* events in one request */
#define WRITER_MAX_EVENTS 65536    /* events in one transaction (several requests) */
#define WRITER_MAX_QUEUED 1000000  /* events waiting; more gets ERR_BUSY */
#define WRITER_ACTOR_MAX 96

/* The outcome of one event. */
typedef struct append_item {
	uint64_t seq;     /* recorded (or already recorded) as */
	uint64_t version; /* in its stream */
	int code;         /* 0, or the negative error code */
	int duplicate;    /* event_id seen before: seq is the original */
	ld_errinfo *err;  /* details when code != 0 (owned by the request) */
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
};

typedef struct writer writer;

/* Called on the writer thread after each successful commit. */
typedef void (*writer_commit_fn)(void *arg, uint64_t head_seq);

typedef struct writer_options {
	/* 1: do not maintain the Merkle tree of the log (core/merkle.h), for
	 * benchmarks; the next start without it catches the tree up. */
	int no_merkle;
	/* The keystore (core/keystore.h): a MemberForgotten event destroys
	 * its member's key before it is recorded. NULL: keys are not touched. */
	struct keystore *keys;
} writer_options;

/* Starts the writer thread on s; reads the log head and (unless
 * o->no_merkle) brings the Merkle tree up to it. o may be NULL (defaults).
 * 0 or a negative code. */
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

/* Queues r. Returns 0 (r->done will be called exactly once), or
 * LD_E(SHUTTING_DOWN) / LD_E(BUSY) (r->done will not be called). */
int writer_submit(writer *w, append_req *r);

/* The committed head: seq and hash (32 zero bytes for an empty log). */
void writer_head(writer *w, uint64_t *seq, uint8_t hash[LD_HASH_LEN], int64_t *recorded_at);

/* The committed Merkle tree: its size (= the head seq) and root. 0, or
 * LD_E(INVALID_STATE) when the writer runs without the tree. Appends to the
 * tree happen in the transaction of the events, so size and root always
 * match a committed log. */
int writer_tree(writer *w, uint64_t *size, uint8_t root[LD_HASH_LEN]);

/* Finishes the batch in flight, answers every queued request with
 * ERR_SHUTTING_DOWN and stops the thread. Later submits get
 * ERR_SHUTTING_DOWN; writer_head keeps working until writer_free. */
void writer_stop(writer *w);
void writer_free(writer *w);

/* Frees the err details of a request's items. */
void append_req_release(append_req *r);

#endif
