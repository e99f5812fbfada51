/*
 * store.h — LMDB behind one file: the environment, its named databases,
 * transactions, and map growth. Nothing outside store.c includes lmdb.h.
 *
 * The log's store is two environments:
 *
 * DATA/ (synced: every commit is on disk before it returns)
 *   log        seq (8 bytes BE)               → packed ledger.Event
 *   meta       name                           → value ("format" = 2,
 *                                               "keystore" = its id,
 *                                               "index-boot", "index-clean":
 *                                               the index's marks, below;
 *                                               "projections-boot",
 *                                               "projections-clean": the
 *                                               same for DATA/projections/,
 *                                               projections/runner.c)
 *
 * DATA/index/ (MDB_NOSYNC | MDB_NOMETASYNC): everything derivable from the
 * log, rebuilt from it when it cannot be trusted:
 *   idem       event_id (16 bytes)            → seq (8 BE)          permanent
 *   streams    stream name, 0, version (8 BE) → seq (8 BE)
 *              stream name, 0, 0xff × 8       → version, state (core/model.c)
 *   persons    person_hash (32 bytes)         → member_id
 *   stations   station_id                     → org_id
 *   fixes      target seq (8 BE)              → correcting seq (8 BE) + kind
 *   refunds    DuesPaid seq (8 BE)            → fen refunded so far (8 BE)
 *   merkle     end leaf (8 BE), level (1)     → 32-byte hash of the complete
 *              subtree of 2^level leaves ending before leaf `end`
 *              (core/merkle.h)
 *   imeta      "applied" → seq (8 BE) + hash (32) of the last event the
 *              index reflects (core/writer.c)
 *
 * A write transaction spans both; store_commit commits the log (synced)
 * first, then the index (not synced). So the index can be behind the log but
 * never ahead: after a crash of the process between the two commits, or an
 * index commit that failed, the writer replays the log past "applied"
 * (writer_start). A crash of the machine can lose or tear unsynced index
 * pages: store_open throws the index away when the boot id changed since it
 * was opened and it was not closed cleanly (store_close syncs it, then marks
 * it clean; the marks are in the log's meta, synced), or when LMDB cannot
 * open it, and the writer rebuilds it from the log. A clean close also
 * records the SHA-256 of the index's file beside the clean mark; an index
 * whose file no longer has it at the next open was changed while the daemon
 * was stopped (a flipped byte, an edit) and is thrown away and rebuilt too,
 * so an entry damaged at rest (a duplicate id, a person, a Merkle node)
 * never answers. A read transaction
 * begins the index's snapshot before the log's, so every seq an index entry
 * names is in the log it reads.
 *
 * Other stores (projections, keystore) name their own databases
 * (store_options.dbs) and are one environment.
 *
 * Test hooks, read from the environment at store_open: LEDGERD_TEST_BOOT_ID
 * stands in for the kernel's boot id (a simulated machine restart);
 * LEDGERD_TEST_CRASH_AT_COMMIT=N kills the process (SIGKILL) right after the
 * log's commit of the N-th transaction that appended to it, before the
 * index's; LEDGERD_TEST_INDEX_FAIL_AT_COMMIT=N aborts that one's index
 * transaction instead of committing it (store_commit: STORE_INDEX_BEHIND).
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
	DB_IDEM,
	DB_STREAMS,
	DB_PERSONS,
	DB_STATIONS,
	DB_FIXES,
	DB_REFUNDS,
	DB_META,
	DB_MERKLE,
	DB_IMETA,
	DB__COUNT
};

/* Store-private result, never sent on the wire: the map is full; the writer
 * aborts, calls store_grow() and redoes its batch. */
#define STORE_MAP_FULL (-1000)
/* Store-private result of store_commit: the log committed (what it holds is
 * recorded), the index did not; the caller brings the index up to the log
 * before using it again. */
#define STORE_INDEX_BEHIND (-1001)

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
	/* The log's store only. read_only: opened MDB_RDONLY, nothing created
	 * or written (no marks, no format, no index directory); a database
	 * that does not exist reads as empty, and a directory without a log
	 * is LD_E(NOT_FOUND). no_index (with read_only): the index
	 * environment is not opened at all, its databases read as empty.
	 * discard_index: not NULL, the index is thrown away at open and
	 * rebuilt from the log, and the text says why in the log lines. */
	int read_only;
	int no_index;
	const char *discard_index;
	const char *name; /* what it holds, for messages ("the projections");
			   * NULL: "the log" */
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
/* 1 if store_open threw the index away (the machine restarted since it was
 * closed cleanly): it must be rebuilt from the log. */
int store_index_wiped(store *s);
/* Empties every database of the index environment but imeta, in the write
 * transaction t (an index that does not match the log). */
int store_index_clear(store_txn *t);

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
 * Hot backup: copies the environment (of the log's store: the log
 * environment only; a restored copy rebuilds its index at start), compacted (mdb_env_copy2 with
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
void store_read_end(store_txn *t);
int store_write_begin(store *s, store_txn **t);
/* A nested transaction inside a write transaction (for atomic batches). */
int store_child_begin(store_txn *parent, store_txn **t);
/* Commits durably (unless no_sync): for the log's store, the log durably,
 * then the index. Returns 0, STORE_MAP_FULL, LD_E(DISK_FULL) or
 * LD_E(STORAGE) (nothing committed), or STORE_INDEX_BEHIND (the log
 * committed, the index not). The transaction is gone either way. */
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
int store_cursor_last(store_cursor *c, store_val *k, store_val *v);
int store_cursor_next(store_cursor *c, store_val *k, store_val *v);
int store_cursor_prev(store_cursor *c, store_val *k, store_val *v);

/* Entries in db as seen by t. */
size_t store_count(store_txn *t, unsigned db);

#endif
