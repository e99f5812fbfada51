/*
 * keystore.h — the secrets of personal data, kept outside the log
 * (proto/PROTOCOL.md, "Personal data"):
 *
 *   DATA/person-hash.key  32 random bytes, mode 0600, created at first start:
 *                         the HMAC-SHA-256 key of person_hash
 *   DATA/keys/            an LMDB environment of its own (synced commits):
 *                           keys  member_id → 32-byte AES-256-GCM key
 *                           meta  "id"      → 16 bytes naming this keystore
 *
 * A member's key is made at the first event that carries their name or
 * phone, and committed (durably) before that event is handed to the writer.
 * Forgetting the member destroys it: the record is overwritten with zeros,
 * deleted, committed and synced, and the environment is then copied with
 * compaction over itself, so that no page of DATA/keys/data.mdb still holds
 * the key (LMDB never overwrites a page in place: an overwrite or a delete
 * leaves the old bytes on a free page). What remains is below the file
 * system (blocks freed by the rename, SSD remapping, backups): PROTOCOL.md.
 *
 * A destruction that cannot finish says so: keystore_destroy fails (a full
 * disk: LD_E(DISK_FULL)), and the forget that asked for it is not recorded.
 * The compaction is owed from before the delete on (DATA/keys/compact-owed,
 * synced), so if the delete went through and the compaction did not (no
 * room for the copy, a crash), it is done at the next start, by
 * keystore_settle (the daemon calls it every minute), or by the next
 * keystore_destroy; until then every keystore_destroy fails, so a resent
 * forget succeeds only once no destroyed key remains in the file.
 *
 * The keystore and the log are bound by the keystore's id, also written in
 * the log's meta database ("keystore"): a keystore that is lost, damaged or
 * replaced while the log names one is a start-up error (ERR_KEYSTORE), never
 * silently a new empty keystore (which would forget everyone).
 *
 * Thread-safe: reads share a lock, writes (create, destroy) take it alone.
 */
#ifndef LD_KEYSTORE_H
#define LD_KEYSTORE_H

#include <stdint.h>

#include "codec.h"
#include "digest.h"
#include "store.h"

#define KEYSTORE_DIR       "keys"
#define KEYSTORE_HASH_FILE "person-hash.key"
#define KEYSTORE_OWED_FILE "compact-owed"

typedef struct keystore keystore;

/* Opens (at first start creates) DATA/person-hash.key and DATA/keys and
 * checks them against the log's meta (binding them at first start). 0, or
 * LD_E(KEYSTORE) / LD_E(STORAGE) with e->message saying what is wrong. */
int keystore_open(keystore **out, const char *data_dir, store *log, ld_errinfo *e);
void keystore_close(keystore *k);

/* person_hash = HMAC-SHA-256(person-hash key, national_id). 0 or LD_E(INTERNAL). */
int keystore_person_hash(keystore *k, const char *national_id, uint8_t out[LD_HASH_LEN]);

/* The member's key: 0, LD_E(NOT_FOUND) (never made, or destroyed), or
 * LD_E(KEYSTORE). */
int keystore_get(keystore *k, const char *member_id, uint8_t key[LD_SECRET_LEN]);
/* The member's key, made (random, committed and synced) if there is none.
 * 0, LD_E(DISK_FULL) (no room to store a new key) or LD_E(KEYSTORE). */
int keystore_get_or_create(keystore *k, const char *member_id, uint8_t key[LD_SECRET_LEN]);
/* Destroys the member's key (see above). 0 (also when there was none) once
 * no destroyed key remains in the file; LD_E(DISK_FULL) or LD_E(KEYSTORE)
 * when the key could not be deleted or the compaction owed could not be
 * done (the reason is logged). */
int keystore_destroy(keystore *k, const char *member_id);
/* Does the compaction owed, if any (at open, and on a timer). 0, or why it
 * is still owed (logged as a warning). */
int keystore_settle(keystore *k);

/* Copies DATA/keys, compacted and synced, into DIR/keys (a hot backup;
 * the person-hash key file is copied by the caller like any file). 0, or a
 * negative code with e filled. */
int keystore_backup(keystore *k, const char *dir, ld_errinfo *e);

/* Keys held (for tests and logs). */
size_t keystore_count(keystore *k);

#endif
