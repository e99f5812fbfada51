/*
 * snapshot.h — the write model saved to DATA/model.snap, so that a start
 * replays only the log past it (core/writer.c).
 *
 * A snapshot is the model as of one committed event (its seq and hash are
 * in the file): written by a thread of its own while the writer goes on
 * deciding. The writer starts one when nothing it decided is uncommitted;
 * from then on, a record about to change that the thread has not copied yet
 * is copied first as it was (mstate.c calls snapshot_before_change), so the
 * file holds the model exactly as of that seq. The event-id table is copied
 * segment by segment under a lock the writer takes to change a segment
 * while a snapshot runs; ids past the seq are left out.
 *
 * The file: a header (magic, the layout of the records, seq, hash, the
 * hashes' seed, counts), the records of each array, the names, the event-id
 * segments, refunds and corrections, and an XXH3-64 of all that. It is
 * written to model.snap.tmp, synced, and renamed over model.snap: a crash
 * leaves the old one or the new one. A file that is damaged, of another
 * layout or of another log (its seq missing from the log, or with another
 * hash) is not used: the model is rebuilt from the log, and the log says so.
 */
#ifndef LD_SNAPSHOT_H
#define LD_SNAPSHOT_H

#include <stdint.h>

#include "model.h"

#define SNAPSHOT_FILE "model.snap"

/*
 * Loads DIR/model.snap into m (empty, just created). 0 with *seq and hash
 * (the event it is as of), LD_E(NOT_FOUND) when there is none, or
 * LD_E(STORAGE) with e->message saying what is wrong with it (m is then
 * empty again... or half filled: the caller frees it and makes a new one).
 */
int snapshot_load(model *m, const char *dir, uint64_t *seq, uint8_t hash[LD_HASH_LEN],
		  ld_errinfo *e);

/* Starts writing a snapshot of m as of event seq (hash), on its own
 * thread. Writer thread only, with nothing decided beyond seq. 0, or
 * LD_E(INTERNAL) (then none is written). */
int snapshot_start(model *m, const char *dir, uint64_t seq, const uint8_t hash[LD_HASH_LEN]);
/* 1 while one is being written (one that is done is reaped). */
int snapshot_running(model *m);
/* Waits for the one being written (if any): 0, or why it failed (logged). */
int snapshot_wait(model *m);
/* Writes one on the calling thread (the writer, stopping). */
int snapshot_write(model *m, const char *dir, uint64_t seq, const uint8_t hash[LD_HASH_LEN]);

/* For mstate.c, while a snapshot runs: before record i of array arr
 * changes. */
void snapshot_before_change(model *m, unsigned arr, uint32_t i);
/* Around a change of the event-id table: 1 if the lock was taken (give it
 * back with snapshot_ids_unlock). */
int snapshot_ids_lock(model *m);
void snapshot_ids_unlock(model *m);

#endif
