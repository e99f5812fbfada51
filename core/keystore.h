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
 *   DATA/legacy-id-keys   (optional, mode 0600) the keys clients hashed national
 *                         IDs with before the server hashed every one itself, as
 *                         given to them (ledgerctl --id-key, LEDGER_ID_KEY,
 *                         ledger-gen --id-key), one a line
 *
 * Person hashes made by clients. A log begun by this version holds only
 * hashes this server made (its meta says so: "person-hashes"). An older log
 * may hold hashes clients made with keys of their own, and the same person
 * joining now would get another hash: one person, two memberships. Such a
 * log needs DATA/legacy-id-keys: with keys, a national ID is hashed with
 * each of them too, and a person the log holds under one of those hashes
 * is that person (core/pii.c); without any, the operator says there were
 * none. Until the file exists, joins are refused (keystore_legacy_unknown).
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
#include "group.h"
#include "store.h"

#define KEYSTORE_DIR       "keys"
#define KEYSTORE_HASH_FILE "person-hash.key"
#define KEYSTORE_LEGACY_FILE "legacy-id-keys"
#define KEYSTORE_OWED_FILE "compact-owed"

typedef struct keystore keystore;
struct group;

/* Opens (at first start creates) DATA/person-hash.key and DATA/keys and
 * checks them against the log's meta (binding them at first start). 0, or
 * LD_E(KEYSTORE) / LD_E(STORAGE) with e->message saying what is wrong. */
int keystore_open(keystore **out, const char *data_dir, store *log, ld_errinfo *e);
void keystore_close(keystore *k);

/* person_hash = HMAC-SHA-256(person-hash key, national_id). 0 or LD_E(INTERNAL). */
int keystore_person_hash(keystore *k, const char *national_id, uint8_t out[LD_HASH_LEN]);

/* The person-hash key's id: the first 8 bytes of HMAC-SHA-256(person-hash
 * key, "ledgerd person-hash key id"), big-endian. Names the key without
 * revealing it: every node of a cluster must hash with the same key, and the
 * replicas compare their ids (core/replica.h, replica_options.keys). 0 only
 * if it cannot be computed (no memory), which no other node's id matches; an
 * id that comes out 0 is taken as 1. */
uint64_t keystore_key_id(const keystore *k);

/* The legacy keys (above): how many, and HMAC-SHA-256(legacy key i,
 * national_id) as the clients made it. 0 or LD_E(INTERNAL). */
size_t keystore_legacy_count(const keystore *k);
int keystore_legacy_hash(keystore *k, size_t i, const char *national_id,
			 uint8_t out[LD_HASH_LEN]);
/* 1 if the log may hold client-made person hashes and DATA/legacy-id-keys
 * does not say with which keys: joins must be refused. */
int keystore_legacy_unknown(const keystore *k);
/* What to do about it, for the error and the log. Returns buf. */
const char *keystore_legacy_advice(const keystore *k, char *buf, size_t size);

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

/*
 * Member keys across the nodes of a cluster (docs/REPLICATION.md,
 * "Personal data across nodes"). Every node is given the same cluster key
 * (cluster_key = FILE: 32 random bytes, mode 0600). From it, HKDF-SHA-256
 * derives a key-encryption key (KEK) and a fingerprint (16 hex digits, that
 * nodes can compare without revealing the key). The leader adds to each
 * group the keys of the members whose sealed data its events carry, each
 * wrapped under the KEK (AES-256-GCM; associated data: the group's first
 * seq, big-endian, and the member id); every other node unwraps and stores
 * them (keystore_adopt) before it writes the group's events. A key is not
 * derived from the cluster key: a derived key could not be destroyed.
 *
 * A member's key that a node holds already and that differs from the
 * leader's (made for an append that was refused as leadership moved, or by
 * a node before the cluster had a cluster key) is replaced by the leader's,
 * which the recorded events are sealed with; the log says so.
 */
#define KEYSTORE_WRAPPED_LEN GROUP_WRAPPED_LEN /* 60: fills a group's key record */
#define KEYSTORE_FINGERPRINT_LEN 16

/* Loads the cluster key file (refused: unreadable, of another size, or
 * readable by others) and derives the KEK and fingerprint. Called once,
 * before the keystore is shared. 0, or LD_E(KEYSTORE) with e naming the
 * file. */
int keystore_cluster_key(keystore *k, const char *path, ld_errinfo *e);
/* 1 if a cluster key was loaded. */
int keystore_clustered(const keystore *k);
/* Its fingerprint ("" without a cluster key). */
const char *keystore_fingerprint(const keystore *k);
/* The fingerprint as a number (its 16 hex digits; one that comes out 0 is
 * taken as 1), 0 without a cluster key: the id the replicas compare across
 * the nodes (core/replica.h, REPLICA_KEY_CLUSTER). */
uint64_t keystore_cluster_id(const keystore *k);
/* The KEK and fingerprint of a cluster key (pure: for tests). 0 or
 * LD_E(INTERNAL). */
int keystore_derive(const uint8_t secret[LD_SECRET_LEN], uint8_t kek[LD_SECRET_LEN],
		    char fingerprint[KEYSTORE_FINGERPRINT_LEN + 1]);
/* Wraps and unwraps one key under kek (pure). unwrap: 0, or LD_E(KEYSTORE)
 * when kek, first, member_id or the bytes are not those wrapped. */
int keystore_key_wrap(const uint8_t kek[LD_SECRET_LEN], uint64_t first, const char *member_id,
		      const uint8_t key[LD_SECRET_LEN], uint8_t out[KEYSTORE_WRAPPED_LEN]);
int keystore_key_unwrap(const uint8_t kek[LD_SECRET_LEN], uint64_t first, const char *member_id,
			const uint8_t wrapped[KEYSTORE_WRAPPED_LEN], uint8_t key[LD_SECRET_LEN]);
/* The member's key wrapped for the group from seq first (the leader). 0,
 * LD_E(NOT_FOUND) (no key: never made, or destroyed by a forget), or
 * LD_E(KEYSTORE) (no cluster key, or unreadable). */
int keystore_wrap(keystore *k, uint64_t first, const char *member_id,
		  uint8_t out[KEYSTORE_WRAPPED_LEN]);
/* The key of member_id wrapped into g's key section (core/group.h; the
 * group's first seq as associated data), once per group. 0 also when the
 * member has no key (forgotten: nothing is sent) or member_id is not an
 * id; LD_E(KEYSTORE) or LD_E(INTERNAL). The leader's writer and a page of
 * records for a node catching up use it. */
int keystore_wrap_into(keystore *k, struct group *g, const char *member_id);
/* Every key of the key section of g (loaded by group_load: core/group.h)
 * unwrapped into *out, nothing stored: a follower checks the keys before
 * its write model takes the group, and stores them (keystore_store_keys)
 * only once the group is checked whole, before its events are stored. 0
 * with *out (NULL without a section), or LD_E(KEYSTORE) with e saying why:
 * the group carries keys and this node has no cluster key, a key does not
 * open (another cluster key, or altered bytes), a malformed section;
 * LD_E(INTERNAL) out of memory. keystore_keys_free wipes the keys (NULL:
 * nothing). */
typedef struct keystore_keys keystore_keys;
int keystore_unwrap_group(keystore *k, const struct group *g, keystore_keys **out,
			  ld_errinfo *e);
void keystore_keys_free(keystore_keys *keys);
/* The keys unwrapped stored in one synced commit (a key here and other is
 * replaced: above). 0 (also for NULL, or when every one is here already),
 * or LD_E(DISK_FULL) / LD_E(KEYSTORE) with e saying why. */
int keystore_store_keys(keystore *k, const keystore_keys *keys, ld_errinfo *e);
/* Both: unwrapped, then stored; nothing stored when one does not open. */
int keystore_adopt(keystore *k, const struct group *g, ld_errinfo *e);

#endif
