/* keystore.c — the person-hash secret and the per-member keys. See keystore.h. */
#include "keystore.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "group.h"
#include "log.h"

#define KS_ID_LEN 16
/* The log's meta: who made the person hashes of this log. */
#define HASHES_KEY    "person-hashes"
#define HASHES_SERVER "server"

enum { KDB_KEYS, KDB_META, KDB__COUNT };
static const char *const ks_db_names[KDB__COUNT] = {[KDB_KEYS] = "keys", [KDB_META] = "meta"};

#define LEGACY_MAX 64       /* keys in DATA/legacy-id-keys */
#define LEGACY_KEY_MAX 256 /* bytes of one */

struct keystore {
	store *s;
	char dir[4096];
	uint8_t hash_key[LD_SECRET_LEN];
	pthread_rwlock_t lock; /* shared: reads; exclusive: writes, compaction */
	/* Read at open, never changed after. */
	int legacy_unknown;
	size_t nlegacy;
	char *legacy[LEGACY_MAX];
	/* The cluster's key-encryption key (keystore_cluster_key), set once
	 * before the keystore is shared. */
	int clustered;
	uint8_t kek[LD_SECRET_LEN];
	char fingerprint[KEYSTORE_FINGERPRINT_LEN + 1];
};

static int ks_open_env(keystore *k, ld_errinfo *e)
{
	store_options o = {.dir = k->dir,
			   .map_size = (size_t)64 << 20,
			   .max_readers = 256,
			   .dbs = ks_db_names,
			   .ndbs = KDB__COUNT};
	if (store_open(&k->s, &o, e) != 0)
		return ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "keystore '%s' cannot be opened: %s",
				      k->dir, e->message);
	return 0;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Reads (or at first start writes) the keystore's id and checks it against
 * the log's meta "keystore". */
static int bind_to_log(keystore *k, store *log, int fresh, ld_errinfo *e)
{
	store_txn *lt = NULL, *kt = NULL;
	store_val lv, kv;
	uint8_t id[KS_ID_LEN];
	int rc = store_write_begin(log, &lt);
	if (rc)
		return ld_errinfo_set(e, rc, NULL, "unable to read the log's meta database");
	int lrc = store_get(lt, DB_META, "keystore", 8, &lv);
	if (lrc == 0 && lv.len == KS_ID_LEN)
		memcpy(id, lv.data, KS_ID_LEN);
	if ((rc = store_write_begin(k->s, &kt))) {
		store_abort(lt);
		return ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "keystore '%s' cannot be written",
				      k->dir);
	}
	int krc = store_get(kt, KDB_META, "id", 2, &kv);
	if (lrc == 0) {
		if (fresh || krc != 0)
			rc = ld_errinfo_set(e, LD_E(KEYSTORE), NULL,
					    "the log's personal data is sealed with the keys of "
					    "keystore '%s', which is missing or empty: restore "
					    "it (and %s) from the backup of this data directory",
					    k->dir, KEYSTORE_HASH_FILE);
		else if (lv.len != KS_ID_LEN || kv.len != KS_ID_LEN ||
			 memcmp(kv.data, id, KS_ID_LEN) != 0)
			rc = ld_errinfo_set(e, LD_E(KEYSTORE), NULL,
					    "keystore '%s' is not the one this log was written "
					    "with (its id differs): restore the right one",
					    k->dir);
		store_abort(kt);
		store_abort(lt);
		return rc;
	}
	if (lrc != LD_E(NOT_FOUND)) {
		store_abort(kt);
		store_abort(lt);
		return ld_errinfo_set(e, LD_E(STORAGE), NULL, "unable to read the log's meta");
	}
	if (krc == 0) {
		store_abort(kt);
		store_abort(lt);
		return ld_errinfo_set(e, LD_E(KEYSTORE), NULL,
				      "keystore '%s' belongs to another log (this log names "
				      "no keystore): remove it or restore the right log",
				      k->dir);
	}
	/* First start with personal data: bind both, the keystore first. */
	if (ld_random(id, KS_ID_LEN) != 0 || store_put(kt, KDB_META, "id", 2, id, KS_ID_LEN) ||
	    store_commit(kt)) {
		store_abort(lt);
		return ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "unable to initialise keystore '%s'",
				      k->dir);
	}
	/* A log begun now holds only person hashes this server makes. */
	uint8_t first[8];
	store_val ev;
	ld_put_be64(first, 1);
	rc = store_get(lt, DB_LOG, first, sizeof(first), &ev);
	if (rc == LD_E(NOT_FOUND))
		rc = store_put(lt, DB_META, HASHES_KEY, strlen(HASHES_KEY), HASHES_SERVER,
			       strlen(HASHES_SERVER));
	if (rc || (rc = store_put(lt, DB_META, "keystore", 8, id, KS_ID_LEN)) ||
	    (rc = store_commit(lt)))
		return ld_errinfo_set(e, LD_E(STORAGE), NULL,
				      "unable to record the keystore in the log's meta");
	log_info("keystore: created '%s'", k->dir);
	return 0;
}

/*
 * Whether the log may hold person hashes made by clients, and with which
 * keys (keystore.h). A log begun by a version that hashes only on the
 * server says so in its meta; any other is asked about: DATA/legacy-id-keys
 * lists the keys (one a line; blank lines and '#' comments skipped), and a
 * file without any says there were none. 0 or LD_E(KEYSTORE).
 */
static int legacy_open(keystore *k, const char *data_dir, store *log, ld_errinfo *e)
{
	char path[4200], line[LEGACY_KEY_MAX + 2], err[4400];
	store_txn *t;
	store_val v;
	int server_only = 0;
	if (store_read_begin(log, &t) == 0) {
		server_only = store_get(t, DB_META, HASHES_KEY, strlen(HASHES_KEY), &v) == 0 &&
			      v.len == strlen(HASHES_SERVER) &&
			      memcmp(v.data, HASHES_SERVER, v.len) == 0;
		store_read_end(t);
	}
	snprintf(path, sizeof(path), "%s/%s", data_dir, KEYSTORE_LEGACY_FILE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		k->legacy_unknown = !server_only;
		if (k->legacy_unknown)
			log_warn("keystore: %s", keystore_legacy_advice(k, err, sizeof(err)));
		return 0;
	}
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || (st.st_mode & 077)) {
		if (fd >= 0)
			close(fd);
		return ld_errinfo_set(e, LD_E(KEYSTORE), NULL,
				      fd < 0 ? "unable to read '%s'"
					     : "'%s' may be read or written by others; chmod 600 it",
				      path);
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "unable to read '%s'", path);
	}
	int rc = 0;
	unsigned long no = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);
		no++;
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f))
			rc = ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "'%s' line %lu: a key over %d bytes",
					    path, no, LEGACY_KEY_MAX);
		if (n && line[n - 1] == '\r')
			line[--n] = '\0';
		if (rc || n == 0 || line[0] == '#')
			continue;
		if (k->nlegacy == LEGACY_MAX)
			rc = ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "'%s': more than %d keys", path,
					    LEGACY_MAX);
		else if (!(k->legacy[k->nlegacy++] = strdup(line)))
			rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	}
	ld_wipe(line, sizeof(line));
	fclose(f);
	if (rc == 0)
		log_info("keystore: %zu legacy key%s of client-made person hashes from '%s'",
			 k->nlegacy, k->nlegacy == 1 ? "" : "s", path);
	return rc;
}

int keystore_open(keystore **out, const char *data_dir, store *log, ld_errinfo *e)
{
	char path[4096], err[4800], mdb[4200];
	keystore *k = calloc(1, sizeof(*k));
	*out = NULL;
	if (!k)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	pthread_rwlock_init(&k->lock, NULL);
	snprintf(k->dir, sizeof(k->dir), "%s/%s", data_dir, KEYSTORE_DIR);
	snprintf(path, sizeof(path), "%s/%s", data_dir, KEYSTORE_HASH_FILE);
	snprintf(mdb, sizeof(mdb), "%s/data.mdb", k->dir);

	/* Whether this is the first start is the log's to say (bind_to_log):
	 * here only whether the files are there. */
	int fresh = !file_exists(mdb);
	int rc;
	if (file_exists(path)) {
		rc = ld_secret_load(path, k->hash_key, err, sizeof(err));
	} else {
		store_txn *t;
		store_val v;
		int bound = 0;
		if (store_read_begin(log, &t) == 0) {
			bound = store_get(t, DB_META, "keystore", 8, &v) == 0;
			store_read_end(t);
		}
		if (bound) {
			snprintf(err, sizeof(err),
				 "the person-hash key '%s' is missing but the log was written with "
				 "one: restore it from the backup of this data directory (a new key "
				 "would no longer detect duplicate persons)",
				 path);
			rc = -1;
		} else if ((rc = ld_secret_create(path, k->hash_key, err, sizeof(err))) == 0) {
			log_info("keystore: created the person-hash key '%s'", path);
		}
	}
	if (rc) {
		ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "%s", err);
		goto fail;
	}
	if ((rc = ks_open_env(k, e)) != 0)
		goto fail;
	if ((rc = bind_to_log(k, log, fresh, e)) != 0)
		goto fail;
	if ((rc = legacy_open(k, data_dir, log, e)) != 0)
		goto fail;
	/* A forget that could not compact (a full disk, a crash) is finished
	 * now if it can be; keystore_settle retries it later. */
	keystore_settle(k);
	*out = k;
	return 0;
fail:
	keystore_close(k);
	return e->code ? e->code : LD_E(KEYSTORE);
}

void keystore_close(keystore *k)
{
	if (!k)
		return;
	if (k->s)
		store_close(k->s);
	ld_wipe(k->hash_key, sizeof(k->hash_key));
	ld_wipe(k->kek, sizeof(k->kek));
	for (size_t i = 0; i < k->nlegacy; i++) {
		ld_wipe(k->legacy[i], strlen(k->legacy[i]));
		free(k->legacy[i]);
	}
	pthread_rwlock_destroy(&k->lock);
	free(k);
}

int keystore_person_hash(keystore *k, const char *national_id, uint8_t out[LD_HASH_LEN])
{
	return ld_hmac_sha256(k->hash_key, LD_SECRET_LEN, national_id, strlen(national_id), out)
		       ? LD_E(INTERNAL)
		       : 0;
}

uint64_t keystore_key_id(const keystore *k)
{
	static const char label[] = "ledgerd person-hash key id";
	uint8_t mac[LD_HASH_LEN];
	uint64_t id = 0;
	if (ld_hmac_sha256(k->hash_key, LD_SECRET_LEN, label, sizeof(label) - 1, mac))
		return 0;
	for (int i = 0; i < 8; i++)
		id = id << 8 | mac[i];
	ld_wipe(mac, sizeof(mac));
	return id ? id : 1;
}

size_t keystore_legacy_count(const keystore *k)
{
	return k->nlegacy;
}

int keystore_legacy_hash(keystore *k, size_t i, const char *national_id,
			 uint8_t out[LD_HASH_LEN])
{
	if (i >= k->nlegacy)
		return LD_E(INTERNAL);
	return ld_hmac_sha256(k->legacy[i], strlen(k->legacy[i]), national_id,
			      strlen(national_id), out)
		       ? LD_E(INTERNAL)
		       : 0;
}

int keystore_legacy_unknown(const keystore *k)
{
	return k->legacy_unknown;
}

const char *keystore_legacy_advice(const keystore *k, char *buf, size_t size)
{
	(void)k;
	snprintf(buf, size,
		 "this log was begun before the ledger hashed every national ID and may hold "
		 "persons hashed by clients with keys of their own: no join until DATA/%s lists "
		 "those keys, or is empty if there were none (docs/OPERATIONS.md)",
		 KEYSTORE_LEGACY_FILE);
	return buf;
}

static int get_locked(keystore *k, const char *member_id, uint8_t key[LD_SECRET_LEN])
{
	store_txn *t;
	store_val v;
	if (!k->s || store_read_begin(k->s, &t))
		return LD_E(KEYSTORE);
	int rc = store_get(t, KDB_KEYS, member_id, strlen(member_id), &v);
	if (rc == 0 && v.len != LD_SECRET_LEN)
		rc = LD_E(KEYSTORE);
	if (rc == 0)
		memcpy(key, v.data, LD_SECRET_LEN);
	else if (rc != LD_E(NOT_FOUND))
		rc = LD_E(KEYSTORE);
	store_read_end(t);
	return rc;
}

int keystore_get(keystore *k, const char *member_id, uint8_t key[LD_SECRET_LEN])
{
	pthread_rwlock_rdlock(&k->lock);
	int rc = get_locked(k, member_id, key);
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

/* What a failed write of the keystore is: a full disk, or the keystore's. */
static int ks_error(int rc)
{
	return rc == LD_E(DISK_FULL) ? rc : LD_E(KEYSTORE);
}

/* Runs fill(t, arg) in one write transaction, committed (synced) unless
 * fill returns 1 (nothing to write: aborted), run again after growing the
 * map when it is full. Lock held exclusive. 0, 1, LD_E(DISK_FULL) or
 * LD_E(KEYSTORE). */
static int ks_write(keystore *k, int (*fill)(store_txn *t, void *arg), void *arg)
{
	for (;;) {
		store_txn *t;
		int rc = k->s ? store_write_begin(k->s, &t) : LD_E(KEYSTORE);
		if (rc)
			return ks_error(rc);
		if ((rc = fill(t, arg)) == 1) {
			store_abort(t);
			return 1;
		}
		rc = rc == 0 ? store_commit(t) : (store_abort(t), rc);
		if (rc == STORE_MAP_FULL) {
			if ((rc = store_grow(k->s, 0)) != 0)
				return ks_error(rc);
			continue;
		}
		return rc ? ks_error(rc) : 0;
	}
}

struct one_key {
	const char *member_id;
	const uint8_t *key; /* NULL: delete */
};

static int fill_one(store_txn *t, void *arg)
{
	const struct one_key *o = arg;
	size_t n = strlen(o->member_id);
	if (o->key)
		return store_put(t, KDB_KEYS, o->member_id, n, o->key, LD_SECRET_LEN);
	static const uint8_t zeros[LD_SECRET_LEN];
	store_val v;
	int rc = store_get(t, KDB_KEYS, o->member_id, n, &v);
	if (rc == LD_E(NOT_FOUND))
		return 1; /* nothing to destroy */
	if (rc == 0)
		rc = store_put(t, KDB_KEYS, o->member_id, n, zeros, sizeof(zeros));
	return rc ? rc : store_del(t, KDB_KEYS, o->member_id, n);
}

/* Stores or (del) deletes one key. 0, 1 (del: there was no key),
 * LD_E(DISK_FULL) or LD_E(KEYSTORE). Lock held exclusive. */
static int write_key(keystore *k, const char *member_id, const uint8_t *key, int del)
{
	struct one_key o = {member_id, del ? NULL : key};
	return ks_write(k, fill_one, &o);
}

/* Tests: while the file LEDGERD_TEST_KEYSTORE_HOLD names exists, making a
 * new key waits, as on a slow disk (tests/sealing_test.sh: the wait holds
 * no thread of NNG's). */
static void test_hold(void)
{
	const char *f = getenv("LEDGERD_TEST_KEYSTORE_HOLD");
	if (!f || access(f, F_OK) != 0)
		return;
	log_info("keystore: holding a new key while '%s' exists (test)", f);
	while (access(f, F_OK) == 0)
		nanosleep(&(struct timespec){0, 10000000}, NULL);
}

int keystore_get_or_create(keystore *k, const char *member_id, uint8_t key[LD_SECRET_LEN])
{
	int rc = keystore_get(k, member_id, key);
	if (rc != LD_E(NOT_FOUND))
		return rc;
	test_hold();
	pthread_rwlock_wrlock(&k->lock);
	rc = get_locked(k, member_id, key); /* another thread may have made it */
	if (rc == LD_E(NOT_FOUND)) {
		rc = ld_random(key, LD_SECRET_LEN) ? LD_E(KEYSTORE)
						   : write_key(k, member_id, key, 0);
		if (rc)
			log_error("keystore: unable to store a new member key in '%s'%s", k->dir,
				  rc == LD_E(DISK_FULL) ? ": the disk is full" : "");
	}
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Rewrites DATA/keys/data.mdb with only its live pages, so the freed page
 * that held a destroyed key is gone from the file. Lock held exclusive.
 * 0, LD_E(DISK_FULL) (no room for the copy) or LD_E(KEYSTORE), with why in
 * e. */
static int compact(keystore *k, ld_errinfo *e)
{
	char tmp[4200], from[4300], to[4300];
	/* Inside DATA/keys, so that the rename below stays on its file system
	 * (DATA/keys may be a volume of its own). */
	snprintf(tmp, sizeof(tmp), "%s/compact", k->dir);
	snprintf(from, sizeof(from), "%s/data.mdb", tmp);
	snprintf(to, sizeof(to), "%s/data.mdb", k->dir);
	uint64_t bytes;
	unlink(from);
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
		return ld_errinfo_set(e, errno == ENOSPC ? LD_E(DISK_FULL) : LD_E(KEYSTORE), NULL,
				      "unable to create '%s': %s", tmp, strerror(errno));
	/* The same compacted, synced copy as a hot backup (store_copy). */
	int rc = store_copy(k->s, tmp, &bytes, e);
	if (rc) {
		unlink(from);
		rmdir(tmp);
		return e->code = ks_error(rc);
	}
	store_close(k->s);
	k->s = NULL;
	rc = rename(from, to) == 0 ? 0
				   : ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "unable to rename '%s': %s",
						    from, strerror(errno));
	rmdir(tmp);
	sync_dir(k->dir);
	ld_errinfo oe = {0};
	if (ks_open_env(k, &oe) != 0) {
		log_error("keystore: reopening after compaction: %s", oe.message);
		return ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "%s", oe.message);
	}
	return rc;
}

int keystore_backup(keystore *k, const char *dir, ld_errinfo *e)
{
	char path[4200];
	uint64_t bytes;
	snprintf(path, sizeof(path), "%s/%s", dir, KEYSTORE_DIR);
	pthread_rwlock_rdlock(&k->lock); /* not while a compaction swaps the file */
	int rc = k->s ? store_copy(k->s, path, &bytes, e)
		      : ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "the keystore is not open");
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

/* The mark of a compaction owed (a file beside data.mdb): made, synced,
 * before a key is deleted, removed once a compaction succeeded. */
static void owed_path(const keystore *k, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", k->dir, KEYSTORE_OWED_FILE);
}

static int owed(const keystore *k)
{
	char path[4200];
	owed_path(k, path, sizeof(path));
	return access(path, F_OK) == 0;
}

static int owe(keystore *k)
{
	char path[4200];
	owed_path(k, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == ENOSPC || errno == EDQUOT ? LD_E(DISK_FULL) : LD_E(KEYSTORE);
	int rc = fsync(fd);
	close(fd);
	sync_dir(k->dir);
	return rc ? LD_E(KEYSTORE) : 0;
}

/* The owed compaction, lock held exclusive: 0 (done, or none owed), or why
 * not. */
static int settle(keystore *k, ld_errinfo *e)
{
	char path[4200];
	if (!owed(k))
		return 0;
	int rc = k->s ? compact(k, e) : ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "not open");
	if (rc)
		return rc;
	owed_path(k, path, sizeof(path));
	unlink(path);
	sync_dir(k->dir);
	return 0;
}

int keystore_destroy(keystore *k, const char *member_id)
{
	ld_errinfo e = {0};
	pthread_rwlock_wrlock(&k->lock);
	int rc = k->s ? 0 : LD_E(KEYSTORE);
	/* Owed first: a crash between the delete and the compaction leaves
	 * the mark, and the next start compacts. */
	if (rc == 0 && !owed(k)) {
		store_txn *t;
		store_val v;
		int has = 0;
		if (store_read_begin(k->s, &t) == 0) {
			has = store_get(t, KDB_KEYS, member_id, strlen(member_id), &v) == 0;
			store_read_end(t);
		}
		if (has)
			rc = owe(k);
	}
	if (rc == 0)
		rc = write_key(k, member_id, NULL, 1);
	if (rc == 1)
		rc = 0;
	if (rc == 0 && (rc = settle(k, &e)) != 0)
		log_error("keystore: the key of member '%s' is deleted, but compacting '%s' failed "
			  "(%s): its bytes may remain on a free page of the file until the "
			  "compaction owed succeeds (retried at start and every minute); the "
			  "forget is refused meanwhile",
			  member_id, k->dir, e.message);
	else if (rc)
		log_error("keystore: unable to destroy the key of member '%s' in '%s'%s", member_id,
			  k->dir, rc == LD_E(DISK_FULL) ? ": the disk is full" : "");
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

int keystore_settle(keystore *k)
{
	ld_errinfo e = {0};
	if (!owed(k))
		return 0;
	pthread_rwlock_wrlock(&k->lock);
	int rc = settle(k, &e);
	pthread_rwlock_unlock(&k->lock);
	if (rc)
		log_warn("keystore: the compaction owed since a forget is still not done (%s): a "
			 "destroyed key may remain on a free page of '%s/data.mdb'; retried in a "
			 "minute",
			 e.message, k->dir);
	else
		log_info("keystore: the compaction owed since a forget is done: no destroyed key "
			 "remains in '%s/data.mdb'",
			 k->dir);
	return rc;
}

size_t keystore_count(keystore *k)
{
	store_txn *t;
	size_t n = 0;
	pthread_rwlock_rdlock(&k->lock);
	if (k->s && store_read_begin(k->s, &t) == 0) {
		n = store_count(t, KDB_KEYS);
		store_read_end(t);
	}
	pthread_rwlock_unlock(&k->lock);
	return n;
}

/* ------------------------------------------------------------------ */
/* Member keys across the nodes of a cluster                           */
/* ------------------------------------------------------------------ */


/* HKDF labels: the KEK and the fingerprint are independent outputs. */
static const char KEK_INFO[] = "ledgerd cluster key: member-key encryption v1";
static const char PRINT_INFO[] = "ledgerd cluster key: fingerprint v1";

int keystore_derive(const uint8_t secret[LD_SECRET_LEN], uint8_t kek[LD_SECRET_LEN],
		    char fingerprint[KEYSTORE_FINGERPRINT_LEN + 1])
{
	uint8_t fp[KEYSTORE_FINGERPRINT_LEN / 2];
	if (ld_hkdf_sha256(secret, LD_SECRET_LEN, KEK_INFO, kek, LD_SECRET_LEN) ||
	    ld_hkdf_sha256(secret, LD_SECRET_LEN, PRINT_INFO, fp, sizeof(fp)))
		return LD_E(INTERNAL);
	for (size_t i = 0; i < sizeof(fp); i++)
		snprintf(fingerprint + 2 * i, 3, "%02x", fp[i]);
	return 0;
}

int keystore_cluster_key(keystore *k, const char *path, ld_errinfo *e)
{
	uint8_t secret[LD_SECRET_LEN];
	char err[4400];
	if (ld_secret_load(path, secret, err, sizeof(err)) != 0)
		return ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "cluster key: %s", err);
	int rc = keystore_derive(secret, k->kek, k->fingerprint);
	ld_wipe(secret, sizeof(secret));
	if (rc)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL,
				      "cluster key: unable to derive the key-encryption key");
	k->clustered = 1;
	log_info("keystore: member keys travel between the nodes wrapped with the cluster key "
		 "'%s' (fingerprint %s)",
		 path, k->fingerprint);
	return 0;
}

const char *keystore_fingerprint(const keystore *k)
{
	return k && k->clustered ? k->fingerprint : "";
}

uint64_t keystore_cluster_id(const keystore *k)
{
	if (!k || !k->clustered)
		return 0;
	uint64_t id = strtoull(k->fingerprint, NULL, 16);
	return id ? id : 1;
}

int keystore_clustered(const keystore *k)
{
	return k && k->clustered;
}

/* The associated data of a wrapped key: the group's first seq (big-endian)
 * and the member id. */
static size_t wrap_ad(uint64_t first, const char *member_id, uint8_t *ad)
{
	size_t n = strlen(member_id);
	ld_put_be64(ad, first);
	memcpy(ad + 8, member_id, n);
	return 8 + n;
}

int keystore_key_wrap(const uint8_t kek[LD_SECRET_LEN], uint64_t first, const char *member_id,
		      const uint8_t key[LD_SECRET_LEN], uint8_t out[KEYSTORE_WRAPPED_LEN])
{
	uint8_t ad[8 + LD_ID_MAX];
	if (strlen(member_id) > LD_ID_MAX)
		return LD_E(INVALID_VALUE);
	return ld_seal(kek, ad, wrap_ad(first, member_id, ad), key, LD_SECRET_LEN, out)
		   ? LD_E(INTERNAL)
		   : 0;
}

int keystore_key_unwrap(const uint8_t kek[LD_SECRET_LEN], uint64_t first, const char *member_id,
			const uint8_t wrapped[KEYSTORE_WRAPPED_LEN], uint8_t key[LD_SECRET_LEN])
{
	uint8_t ad[8 + LD_ID_MAX];
	if (strlen(member_id) > LD_ID_MAX)
		return LD_E(INVALID_VALUE);
	return ld_open(kek, ad, wrap_ad(first, member_id, ad), wrapped, KEYSTORE_WRAPPED_LEN,
		       key)
		   ? LD_E(KEYSTORE)
		   : 0;
}

int keystore_wrap(keystore *k, uint64_t first, const char *member_id,
		  uint8_t out[KEYSTORE_WRAPPED_LEN])
{
	uint8_t key[LD_SECRET_LEN];
	if (!k->clustered)
		return LD_E(KEYSTORE);
	int rc = keystore_get(k, member_id, key);
	if (rc == 0)
		rc = keystore_key_wrap(k->kek, first, member_id, key, out);
	ld_wipe(key, sizeof(key));
	return rc;
}

int keystore_wrap_into(keystore *k, group *g, const char *member_id)
{
	uint8_t wrapped[KEYSTORE_WRAPPED_LEN];
	if (group_has_key(g, member_id))
		return 0;
	int rc = keystore_wrap(k, g->first, member_id, wrapped);
	if (rc == 0)
		rc = group_add_key(g, member_id, wrapped);
	if (rc && rc != LD_E(NOT_FOUND) && rc != LD_E(INVALID_VALUE))
		log_error("keystore: unable to add the key of member '%s' to a group: %s",
			  member_id, ld_strerror(rc));
	return rc == LD_E(NOT_FOUND) || rc == LD_E(INVALID_VALUE) ? 0 : rc;
}

struct keystore_keys {
	uint64_t first; /* the group's first seq, for the log */
	size_t n, cap;  /* keys unwrapped; room (wiped whole when freed) */
	char (*ids)[LD_ID_MAX + 1];
	uint8_t (*keys)[LD_SECRET_LEN];
};

/* The keys not here yet, or here and other: 0, or 1 when every one is here
 * already. A member's key here and other than the leader's is replaced,
 * said in the log (keystore.h). */
static int fill_many(store_txn *t, void *arg)
{
	const keystore_keys *m = arg;
	size_t put = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < m->n; i++) {
		store_val v;
		size_t len = strlen(m->ids[i]);
		int got = store_get(t, KDB_KEYS, m->ids[i], len, &v);
		if (got == 0 && v.len == LD_SECRET_LEN &&
		    memcmp(v.data, m->keys[i], LD_SECRET_LEN) == 0)
			continue;
		if (got == 0)
			log_warn("keystore: member '%s' had another key on this node than the "
				 "leader's; the leader's, which its events are sealed with, replaces "
				 "it (docs/REPLICATION.md, \"Personal data across nodes\")",
				 m->ids[i]);
		else if (got != LD_E(NOT_FOUND))
			rc = got;
		if (rc == 0)
			rc = store_put(t, KDB_KEYS, m->ids[i], len, m->keys[i], LD_SECRET_LEN);
		put++;
	}
	return rc ? rc : put ? 0 : 1;
}

void keystore_keys_free(keystore_keys *m)
{
	if (!m)
		return;
	if (m->keys)
		ld_wipe(m->keys, m->cap * sizeof(*m->keys));
	free(m->ids);
	free(m->keys);
	free(m);
}

int keystore_unwrap_group(keystore *k, const group *g, keystore_keys **out, ld_errinfo *e)
{
	group_key_reader r;
	const char *id;
	const uint8_t *wrapped;
	*out = NULL;
	group_keys_begin(&r, g);
	if (r.count == 0)
		return 0;
	if (!k->clustered)
		return ld_errinfo_set(e, LD_E(KEYSTORE), NULL,
				      "the group from seq %llu carries member keys wrapped with "
				      "the leader's cluster key, and this node has none: give "
				      "every node the same cluster_key (--cluster-key FILE)",
				      (unsigned long long)r.first);
	keystore_keys *m = calloc(1, sizeof(*m));
	if (m) {
		m->first = r.first;
		m->ids = malloc(r.count * sizeof(*m->ids));
		m->keys = malloc(r.count * sizeof(*m->keys));
		m->cap = m->keys ? r.count : 0;
	}
	int rc = m && m->ids && m->keys ? 0
					: ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	while (rc == 0 && (rc = group_key_next(&r, &id, &wrapped)) == 1) {
		snprintf(m->ids[m->n], sizeof(m->ids[m->n]), "%s", id);
		if (keystore_key_unwrap(k->kek, r.first, id, wrapped, m->keys[m->n]) != 0)
			rc = ld_errinfo_set(
			    e, LD_E(KEYSTORE), NULL,
			    "the key of member '%s' in the group from seq %llu does not open with "
			    "this node's cluster key (fingerprint %s): every node needs the same "
			    "cluster_key file, or the group was altered; nothing of it is stored",
			    id, (unsigned long long)r.first, k->fingerprint);
		else
			m->n++, rc = 0;
	}
	if (rc < 0 && !e->code)
		ld_errinfo_set(e, LD_E(KEYSTORE), NULL, "a malformed key section");
	if (rc) {
		keystore_keys_free(m);
		return e->code ? e->code : LD_E(KEYSTORE);
	}
	*out = m;
	return 0;
}

int keystore_store_keys(keystore *k, const keystore_keys *m, ld_errinfo *e)
{
	if (!m || !m->n)
		return 0;
	pthread_rwlock_wrlock(&k->lock);
	int rc = ks_write(k, fill_many, (void *)m);
	pthread_rwlock_unlock(&k->lock);
	if (rc == 1 || rc == 0)
		return 0;
	return ld_errinfo_set(e, rc, NULL,
			      "unable to store the member keys of the group from seq %llu in '%s'%s",
			      (unsigned long long)m->first, k->dir,
			      rc == LD_E(DISK_FULL) ? ": the disk is full" : "");
}

int keystore_adopt(keystore *k, const group *g, ld_errinfo *e)
{
	keystore_keys *m;
	int rc = keystore_unwrap_group(k, g, &m, e);
	if (rc == 0)
		rc = keystore_store_keys(k, m, e);
	keystore_keys_free(m);
	return rc;
}
