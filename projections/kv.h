/*
 * kv.h — a projection's state in memory: a write-back table of the keys of
 * its databases, over their flushed copy in the projection environment.
 *
 * A projection applies events against its table, never against LMDB: a get
 * is a hash lookup (a key not in the table is read once from the flushed
 * state, `base`, and kept); a put or delete changes the table only and
 * marks the key dirty. A flush writes every dirty key into one write
 * transaction with the projection's checkpoint, sorted, so each page of a
 * database is touched once and keys past a database's last one are
 * appended; once that transaction has committed, the keys are clean. So
 * LMDB sees one put per key per flush however often the events of that
 * flush changed it. The runner hands the dirty keys to a flush (kv_detach)
 * and has another thread write them while it applies on (kv_batch_write,
 * kv_settle); kv_write and kv_written do the same in one go on the table's
 * own thread.
 *
 * Memory. Every entry counts (key, value, bookkeeping; not a pending one
 * that a change has replaced, below);
 * kv_trim_some drops clean entries (never dirty or pending ones) a part at
 * a time as the runner's budget fills, kv_trim all of them at once past it,
 * and dirty bytes past a share of it make the runner flush. Entries live in blocks of the table's own,
 * cut from 2 MiB chunks (core/bigmem.h; on huge pages with huge_pages = on):
 * the blocks of entries dropped or freed are
 * kept for the table's next entries and given back to the system by
 * kv_free only, so a table holds the most its entries have held at once. A database that was empty when the table
 * began, and from which nothing has been dropped since, is complete in
 * memory: a key the table does not hold is absent, with no read of LMDB
 * (a rebuild from scratch never reads its own state back from LMDB).
 *
 * Threads: a table is used by one thread at a time (the runner's, or the
 * worker applying its projection in a parallel rebuild; the runner hands it
 * over only between batches).
 *
 * Reading the state as applied (kv_read, below): a query reads the tables
 * of every projection over one read transaction on the flushed state, so
 * it sees every event applied in memory, flushed or not. A get looks in the
 * tables first (any entry they hold, clean or dirty, is the newest value);
 * a cursor merges the flushed database with the table's changed keys of it,
 * sorted (kept sorted between changes, so many queries between two applies
 * sort once). A read changes no key of a table, but keeps those sorted
 * runs in it: reads run on the thread that owns the tables, between two
 * applies.
 */
#ifndef LD_KV_H
#define LD_KV_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct proj_kv proj_kv;

/* A table for databases [0, ndbs) of the environment (handles as in
 * store.h); `complete` marks those known empty in LMDB. */
int kv_create(proj_kv **out, unsigned ndbs);
void kv_free(proj_kv *kv);

/* Where keys not in the table are read: a read transaction on the
 * projection environment that sees the last flush (NULL: none yet, which
 * reads as absent only for complete databases; others fail). */
void kv_set_base(proj_kv *kv, store_txn *base);

/* Marks db as empty in LMDB: a key the table does not hold is absent. */
void kv_set_complete(proj_kv *kv, unsigned db);

/* Marks db's keys as written once and seldom read again (a record per
 * event, read back only to undo it): each leaves memory as soon as a flush
 * that holds it has committed (kv_settle, kv_written), and is read from
 * the flushed state if it is ever needed again. So db is complete only
 * until the first such flush. Keys put in increasing order (a seq) go to
 * an array sorted by key, not the hash table: appending one, and dropping
 * it after its flush, probes nothing. Call before anything is put. */
void kv_set_cold(proj_kv *kv, unsigned db);

/* Marks db as written by this table alone (no other table writes it in
 * the same flush): a flush with many keys for it, beside those it holds,
 * rewrites it whole with every page full (kv.c, "FULL PAGES"). */
void kv_set_owned(proj_kv *kv, unsigned db);

/* 0 with *v (valid until the next put, delete or trim of this table),
 * LD_E(NOT_FOUND), or a storage error from base. */
int kv_get(proj_kv *kv, unsigned db, const void *key, size_t klen, store_val *v);
/* A hint that (db, key) is wanted soon: its slot (stage 0), then, a few
 * events later, its entry (stage 1: the slot is read, so stage 0 should
 * have brought it in) are fetched into the cache, so the get does not
 * wait for memory. Changes nothing; any key, present or not. */
void kv_prefetch(proj_kv *kv, unsigned db, const void *key, size_t klen, int stage);

/* 0 or LD_E(INTERNAL) (out of memory). */
int kv_put(proj_kv *kv, unsigned db, const void *key, size_t klen, const void *val, size_t vlen);
int kv_del(proj_kv *kv, unsigned db, const void *key, size_t klen);

/* Writes every dirty key into the write transaction t (database by
 * database, in LMDB's key order). The keys stay dirty until kv_written:
 * a transaction that fails to commit is written again later. 0 or a store
 * error (STORE_MAP_FULL, ...). */
int kv_write(proj_kv *kv, store_txn *t);
/* Flushing while applying goes on: kv_detach hands every dirty key to a
 * batch and marks them pending (they are clean for the next flush). The
 * batch holds the table's entries themselves, not copies, and a pending
 * entry never changes: a put or delete of its key puts a copy in its place
 * (dirty, the newest value) and leaves the pending one, replaced, to the
 * batch until kv_settle frees it. So kv_batch_write may write the batch
 * into a write transaction on any thread while the table's thread applies
 * on; once that transaction has committed (committed = 1) or failed (0:
 * every pending key not replaced is dirty again, to be written by the next
 * flush with its value then), kv_settle, on the table's thread. A batch is
 * written before kv_settle (or kv_free) of its table; kv_batch_free may
 * come before or after kv_settle. One batch at a time per table: 0 or
 * LD_E(INTERNAL). The batch is sorted by its writer, not by kv_detach: the
 * applying thread only hands the list over. */
typedef struct kv_batch kv_batch;
int kv_detach(proj_kv *kv, kv_batch **out);
int kv_batch_write(kv_batch *b, store_txn *t);
/* Sorts the batch as kv_batch_write does first (which then does not sort
 * it again), on any thread, with nothing else using the batch meanwhile:
 * 0 or LD_E(INTERNAL). */
int kv_batch_sort(kv_batch *b);
size_t kv_batch_keys(const kv_batch *b); /* how many keys it writes */
void kv_batch_free(kv_batch *b);
int kv_settle(proj_kv *kv, int committed);

/* The transaction kv_write wrote into has committed: every key is clean. */
void kv_written(proj_kv *kv);
/* Drops every dirty key: the table is back to the flushed state. */
void kv_discard(proj_kv *kv);
/* Drops every clean key (the databases concerned are no longer complete),
 * and sizes the slots to what is left: a walk of every slot and entry (on
 * a table of 256 MiB, over 100 ms on the thread that owns it). */
void kv_trim(proj_kv *kv);
/* Drops clean keys a part at a time: looks at up to `slots` slots, from
 * where the last call stopped and round the table, dropping the clean
 * entries found (in place: the slots keep their size). Returns the slots
 * looked at (fewer than asked: the table has fewer). Each slot costs about
 * one read of an entry from memory, so a caller bounds its pause by
 * `slots`. */
size_t kv_trim_some(proj_kv *kv, size_t slots);

/* The state to read: the tables over the flushed state t. With nkv 0, t
 * alone (a query of the flushed state). */
typedef struct kv_read {
	store_txn *t;
	proj_kv *const *kv;
	unsigned nkv;
} kv_read;
/* The flushed state of read transaction t, as a kv_read. */
#define KV_READ_TXN(txn) (&(const kv_read){.t = (txn)})

/* As store_get: 0 with *v (valid until the tables change or t ends),
 * LD_E(NOT_FOUND), or a storage error. */
int kvr_get(const kv_read *r, unsigned db, const void *key, size_t klen, store_val *v);

/* A cursor over database db as r reads it, in LMDB's key order, with the
 * store cursor's calls (k or v may be NULL): 0, LD_E(NOT_FOUND) past an end,
 * a storage error, or LD_E(INTERNAL) out of memory. */
typedef struct kvr_cursor kvr_cursor;
int kvr_cursor_open(const kv_read *r, unsigned db, kvr_cursor **c);
void kvr_cursor_close(kvr_cursor *c);
int kvr_cursor_seek(kvr_cursor *c, const void *key, size_t klen, store_val *k, store_val *v);
int kvr_cursor_last(kvr_cursor *c, store_val *k, store_val *v);
int kvr_cursor_next(kvr_cursor *c, store_val *k, store_val *v);
int kvr_cursor_prev(kvr_cursor *c, store_val *k, store_val *v);

/* Bytes held, and of them dirty, and clean (the entries neither dirty nor
 * pending: what kv_trim_some can give back; not the slots); dirty keys;
 * keys held (in the table and the cold databases' logs, not pending ones a
 * change has replaced). */
size_t kv_bytes(const proj_kv *kv);
size_t kv_dirty_bytes(const proj_kv *kv);
size_t kv_clean_bytes(const proj_kv *kv);
size_t kv_dirty(const proj_kv *kv);
size_t kv_keys(const proj_kv *kv);

#endif
