/*
 * backup.h — hot backups on a thread of their own: never on the writer
 * thread (a copy holds a read transaction for as long as it takes) and
 * never on NNG's callback threads (which must not block).
 *
 * One backup runs at a time. Asking again for the directory being written
 * joins that backup, and asking for the directory of the last backup that
 * succeeded answers its result again: a client's resent request (NNG REQ
 * resends after 60 s) never fails or copies twice. Restore = start ledgerd
 * on a copy of the directory (the projections are rebuilt from the log).
 * A backup that fails removes what it wrote into the directory (which it
 * found empty), so that no half-made copy passes for a backup.
 * A backup holds the log (data.mdb), the keystore (keys/) and the secret
 * files of the data directory (person-hash.key, and a tree-head.key left
 * there by an older ledgerd; mode 0600): keep it as protected as the data
 * directory. The tree-head signing key is kept outside the data directory
 * (core/merkle.h), so it is not in a backup: it is backed up with the
 * configuration. A member forgotten after a backup was taken can still
 * be read in that backup: destroy old backups on the same schedule.
 */
#ifndef LD_BACKUP_H
#define LD_BACKUP_H

#include <stdint.h>

#include "store.h"
#include "writer.h"

#define BACKUP_PENDING 1
#define BACKUP_MAX_WAITERS 16

typedef struct backup_result {
	char dir[1024];
	uint64_t head_seq;   /* the copy holds at least the log up to this seq */
	uint64_t bytes;      /* size of the copy's data.mdb */
	int64_t duration_us;
} backup_result;

/* Called on the backup thread when the backup is decided: rc 0 with r
 * filled, or a negative code with e filled. */
typedef void (*backup_done_fn)(void *arg, int rc, const ld_errinfo *e, const backup_result *r);

typedef struct backup backup;

/* data_dir: where the secrets live (person-hash.key, a tree-head.key if
 * there: copied into the backup beside the log); keys (may be NULL): the keystore, copied
 * into DIR/keys after the log, so a restore can read what the log seals. */
struct keystore;
int backup_create(backup **out, store *s, writer *w, struct keystore *keys, const char *data_dir);

/*
 * Starts (or joins) a backup into dir, an absolute path. Returns
 * BACKUP_PENDING (fn(arg, ...) follows, exactly once), 0 with *now filled
 * (dir is the last successful backup's), or with e filled:
 * LD_E(INVALID_VALUE) for a relative or overlong path, LD_E(BUSY) while a
 * backup into another directory runs (or BACKUP_MAX_WAITERS wait),
 * LD_E(SHUTTING_DOWN) once backup_free has begun.
 */
int backup_begin(backup *b, const char *dir, backup_done_fn fn, void *arg, backup_result *now,
		 ld_errinfo *e);

/* Refuses new backups and waits for the one running (its waiters are
 * answered). NULL is fine. */
void backup_stop(backup *b);
/* backup_stop, then frees. NULL is fine. */
void backup_free(backup *b);

#endif
