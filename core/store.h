/*
 * store.h — LMDB behind one file: the environment, its named databases,
 * transactions, and map growth. Nothing outside store.c includes lmdb.h.
 *
 * The log's store is one environment, DATA/ (synced: every commit is on disk
 * before it returns):
 *   log      seq (8 bytes BE)  → packed ledger.Event
 *   links    seq (8 bytes BE)  → the event's stream links (core/links.h)
 *   fixes    target seq (8 BE) → kind (1: void, 2: amend), correcting seq (8 BE)
 *   merkle   end leaf (8 BE), level (1) → 32-byte hash of a complete subtree
 *            (core/merkle.h: the upper levels only)
 *   meta     name → value ("format" = 3, "keystore" = its id, "model-seed":
 *            the seed of the write model's hashes, "projections-boot" and
 *            "projections-clean": the projections' marks, projections/runner.c)
 * The writer appends an event, its links, its correction and the tree's new
 * nodes in one transaction (core/group.h): they are on disk together or not
 * at all. The write model itself (core/model.h) is memory, saved in
 * DATA/model.snap (core/snapshot.h) and rebuilt from the log past it.
 *
 * Formats: 3 is the above. 2 kept the indexes of an older write model in a
 * second environment (DATA/index/), 1 beside the log. Opening either drops
 * them (they are derived from the log: nothing recorded is lost) and says
 * so; store_migrating() then tells the writer to fill links, fixes and
 * merkle from the log, and store_migrated() writes format 3 when it has.
 * Until then the format on disk stays the old one, so a migration cut short
 * starts again where it stopped.
 *
 * The log's store carries its write model (store_set_model), so that any
 * code holding a transaction reaches it; and a transaction may carry a view
 * (store_txn_set_view): what the writer decided beyond what is committed.
 *
 * Other stores (projections, keystore) name their own databases
 * (store_options.dbs).
 *
 * Test hooks, read from the environment at store_open:
 * LEDGERD_TEST_CRASH_AT_COMMIT=N kills the process (SIGKILL) right after the
 * N-th commit that appended to the log is on disk, before anything else
 * (the answer, the projections, a snapshot) learns of it;
 * LEDGERD_TEST_FAIL_AT_COMMIT=N makes that commit fail instead (aborted,
 * reported as LD_E(STORAGE)), as a failing disk would.
 *
 * Threads: one writer thread owns write transactions. Read transactions may
 * be begun on any thread (MDB_NOTLS) and must be short: while one is open the
 * map cannot grow (store_grow waits for it) and pages cannot be reused.
 *
 * Values returned by store_get and cursors point into the map and are valid
 * until the transaction ends (for writes: until the next put in that txn).
 */
#ifndef LD_STORE_H
#define LD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

enum store_db {
	DB_LOG,
	DB_LINKS,
	DB_FIXES,
	DB_MERKLE,
	DB_META,
	DB__COUNT
};

/* Store-private result, never sent on the wire: the map is full; the writer
 * aborts, calls store_grow() and redoes its batch. */
#define STORE_MAP_FULL (-1000)

typedef struct store store;
typedef struct store_txn store_txn;
typedef struct store_cursor store_cursor;

typedef struct store_val {
	const void *data;
	size_t len;
} store_val;

typedef struct store_options {
	const char *dir;      /* created if missing */
	size_t map_size;      /* initial map size in bytes; 0 = 1 GiB */
	unsigned max_readers; /* 0 = 1024 */
	int no_sync;          /* 1 = MDB_NOSYNC: commits are not synced; a system
			       * crash may lose or corrupt them (derived data
			       * that can be rebuilt only; see store_sync) */
	int no_meta_sync;     /* 1 = MDB_NOMETASYNC: one sync per commit; a crash
			       * may undo the last commit (derived data only) */
	/* The named databases; NULL = the log's (enum store_db). Indexes into
	 * this table are the `db` arguments below. */
	const char *const *dbs;
	unsigned ndbs;
	const char *name; /* what it holds, for messages ("the projections");
			   * NULL: "the log" */
	/* read_only: opened MDB_RDONLY (the start-up check, core/verify.h):
	 * nothing created or written, no format converted; a database that does
	 * not exist reads as empty (and so do the log's derived databases of a
	 * format 1 or 2, of another layout); a directory without a log is
	 * LD_E(NOT_FOUND). */
	int read_only;
	/* The log's store: not NULL, the Merkle tree's stored nodes are found
	 * damaged (the text says how, for the log lines): they are emptied at
	 * open, and the writer builds them again from the log. */
	const char *rebuild_merkle;
} store_options;

#define STORE_MAX_DBS 16

/* Opens (creating) the environment and every named database, clears stale
 * reader slots. Returns 0, or LD_E(STORAGE) with e->message naming the
 * directory and LMDB's reason. Close with store_close() after every
 * transaction has ended. */
int store_open(store **out, const store_options *o, ld_errinfo *e);
void store_close(store *s);

/* The kernel's id of this boot (it changes when the machine restarts), or
 * LEDGERD_TEST_BOOT_ID (a simulated restart), into out ("" if unknown). */
void store_boot_id(char out[64]);

/* The name of a database of the log's store (enum store_db). */
const char *store_db_name(unsigned db);
/* The directory of the environment. */
const char *store_dir(const store *s);
/* 1 while the log's store is of an older format (above): links, fixes
 * and merkle must be filled from the log; store_migrated() then writes
 * format 3 and removes what the old format left. 0 or LD_E(STORAGE). */
int store_migrating(store *s);
int store_migrated(store *s);

/* The seed of the write model's hashes, made at the first open. */
int store_model_seed(store *s, uint64_t *seed);

/* The write model of the log's store (core/model.h), or NULL. */
struct model;
void store_set_model(store *s, struct model *m);
struct model *store_model(store *s);
/* The store of a transaction; the writer's view on one (NULL: none). */
store *store_txn_store(store_txn *t);
void store_txn_set_view(store_txn *t, const void *view);
const void *store_txn_view(store_txn *t);

/* Current map size and bytes in use (last page × page size). */
void store_usage(store *s, size_t *map_size, size_t *used);

/* Clears reader slots left by dead processes; returns how many. */
int store_reader_check(store *s);

/* Flushes everything committed to disk (for an environment opened with
 * no_sync). 0 or LD_E(STORAGE) / LD_E(DISK_FULL). */
int store_sync(store *s);

/* Doubles the map (or grows it to at least `min` bytes). Waits until no read
 * transaction is open and blocks new ones meanwhile. Writer thread only, with
 * no write transaction open. Returns 0 or LD_E(STORAGE)/LD_E(DISK_FULL). */
int store_grow(store *s, size_t min);

/*
 * Hot backup: copies the environment (of the log's store: the log, its
 * links, fixes and tree; a restored copy rebuilds its write model from the
 * log at start), compacted (mdb_env_copy2 with
 * MDB_CP_COMPACT), into DIR/data.mdb as of one read transaction, so the copy
 * is consistent while writes go on; then syncs the file and the directory.
 * dir is created (0750) if absent, and must otherwise be empty. Takes long
 * for a big log: never call it on the writer thread (it holds a read
 * transaction, and a map growth waits for it). Returns 0 and *bytes (the
 * copy's size), or LD_E(ALREADY_EXISTS) for a directory that is not empty,
 * LD_E(DISK_FULL), LD_E(STORAGE) with e->message naming the directory; a
 * failed copy's data.mdb is removed.
 */
int store_copy(store *s, const char *dir, uint64_t *bytes, ld_errinfo *e);

/* Transactions. Errors: LD_E(STORAGE) with the reason logged. */
int store_read_begin(store *s, store_txn **t);
/* fn(arg) is called at the start of every store_read_begin (NULL: none),
 * before the transaction begins: the writer makes a read wait there until
 * the store holds what was acknowledged when it arrived. Set it before
 * other threads read, clear it after they stopped. */
void store_set_read_wait(store *s, void (*fn)(void *arg), void *arg);
/* How many read transactions the calling thread has open (of any store). */
int store_reading(void);
/* on = 1: every commit syncs data then meta (two device flushes), the
 * default; 0: MDB_NOMETASYNC, one flush per commit: the data pages are
 * synced, the meta page is written but not synced, so a crash of the
 * machine may undo the last commit (never tears the file; the next commit,
 * or store_sync, makes it durable). For the log of a replicated node, whose
 * raft log holds every entry past the raft index recorded in the store.
 * 0 or LD_E(STORAGE). */
int store_set_meta_sync(store *s, int on);
/* A newer read transaction of the same store while read transaction `open`
 * stays open on this thread (end it first). It does not take the map's
 * resize lock again: `open` holds it, and a second read lock would wait
 * behind a resize that waits for `open` — a deadlock. */
int store_read_beside(store_txn *open, store_txn **t);
void store_read_end(store_txn *t);
int store_write_begin(store *s, store_txn **t);
/* A nested transaction inside a write transaction (for atomic batches). */
int store_child_begin(store_txn *parent, store_txn **t);
/* Commits durably (unless no_sync). Returns 0, or STORE_MAP_FULL,
 * LD_E(DISK_FULL) or LD_E(STORAGE) with nothing committed. The transaction
 * is gone either way. */
int store_commit(store_txn *t);
void store_abort(store_txn *t);

/* Gets the value of key in db: 0, LD_E(NOT_FOUND), or LD_E(STORAGE). */
int store_get(store_txn *t, unsigned db, const void *key, size_t klen, store_val *v);
/* Puts (overwrites). 0, STORE_MAP_FULL, LD_E(STORAGE). */
int store_put(store_txn *t, unsigned db, const void *key, size_t klen, const void *val,
	      size_t vlen);
/* Deletes key: 0 (also if absent), LD_E(STORAGE). */
int store_del(store_txn *t, unsigned db, const void *key, size_t klen);
/* Deletes every key of db: 0, LD_E(STORAGE). */
int store_empty(store_txn *t, unsigned db);
/* Appends to the log: the key must be larger than every key there. Reserves
 * vlen bytes and returns where to write them in *out. */
int store_append_reserve(store_txn *t, unsigned db, const void *key, size_t klen,
			 size_t vlen, void **out);

/* Cursors: positioned by seek (first key >= key), first, last; stepped by
 * next/prev. Each returns 0 with k/v set, LD_E(NOT_FOUND) at the end, or
 * LD_E(STORAGE). k or v may be NULL. Opening one on a database a read-only
 * store does not have is LD_E(NOT_FOUND). */
int store_cursor_open(store_txn *t, unsigned db, store_cursor **c);
void store_cursor_close(store_cursor *c);
int store_cursor_seek(store_cursor *c, const void *key, size_t klen, store_val *k, store_val *v);
int store_cursor_first(store_cursor *c, store_val *k, store_val *v);
int store_cursor_last(store_cursor *c, store_val *k, store_val *v);
int store_cursor_next(store_cursor *c, store_val *k, store_val *v);
int store_cursor_prev(store_cursor *c, store_val *k, store_val *v);
/* Appends through a cursor of a write transaction: the key must be larger
 * than every key of the database. Many appends in a row through one cursor
 * do not search the tree again each time. 0, STORE_MAP_FULL, LD_E(STORAGE). */
int store_cursor_append(store_cursor *c, const void *key, size_t klen, const void *val,
			size_t vlen);
/* Puts (overwrites) through a cursor of a write transaction: keys put in
 * increasing order through one cursor search the leaf page it is on
 * before the tree. 0, STORE_MAP_FULL, LD_E(STORAGE). */
int store_cursor_put(store_cursor *c, const void *key, size_t klen, const void *val, size_t vlen);
/* store_append_reserve through c, a cursor of db opened in t (appends in
 * a row: no search of the tree each time, as store_cursor_append); c NULL
 * is store_append_reserve. */
int store_cursor_append_reserve(store_txn *t, unsigned db, store_cursor *c, const void *key,
				size_t klen, size_t vlen, void **out);

/* Entries in db as seen by t. */
size_t store_count(store_txn *t, unsigned db);
/* The pages db takes as seen by t (branch, leaf and overflow). */
size_t store_pages(store_txn *t, unsigned db);

/*
 * Room on disk, asked before something is written whose failure cannot be
 * answered (a replicated group, before raft's append: raft's log and the
 * store are written after the acknowledgement, when a failure can only stop
 * the node). A store_room watches the file systems of up to STORE_ROOM_DIRS
 * directories; each check says how many bytes each directory is about to
 * take, and those on one file system (one st_dev) add up.
 *
 * What statvfs said is kept for cache_us microseconds (0: asked every
 * time); meanwhile what each successful check said would be written is
 * taken off it, so the checks in between stay on the safe side (another
 * process's writes are seen at the next refresh). A directory that does not
 * exist yet is checked on its parent's file system.
 */
#define STORE_ROOM_DIRS 4
typedef struct store_room store_room;
typedef struct store_room_dir {
	const char *dir;  /* copied */
	const char *what; /* for messages ("raft's log"): static text */
} store_room_dir;
/* 0 or LD_E(INTERNAL) (out of memory, more than STORE_ROOM_DIRS). */
int store_room_new(store_room **out, const store_room_dir *dirs, unsigned n, unsigned cache_us);
void store_room_free(store_room *r);
/* Room for need[i] more bytes in dirs[i], for each i: 0, or LD_E(DISK_FULL)
 * with e->message naming the file system that lacks it (its directories
 * and what they hold), its free bytes and what was needed there. On 0,
 * takes[i] (at most need[i]: what the write will really use, without the
 * margin) is taken off the kept figure; a failed check asks statvfs again
 * the next time. A directory statvfs cannot read is not checked (its
 * writes will say). */
int store_room_check(store_room *r, const uint64_t *need, const uint64_t *takes, ld_errinfo *e);

#endif
