/* store.c — LMDB behind one file. See store.h for the contract. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/statvfs.h>

#include "clock.h"
#include "log.h"

static const char *const db_names[DB__COUNT] = {
	[DB_LOG] = "log",	[DB_LINKS] = "links", [DB_FIXES] = "fixes",
	[DB_MERKLE] = "merkle", [DB_META] = "meta",
};

/* What formats 1 and 2 kept beside the log (format 1; format 2 kept them in
 * DATA/index/): dropped when such a store is opened. */
static const char *const old_dbs[] = {"idem",	 "streams", "persons", "stations",
				      "fixes",	 "refunds", "merkle",  "imeta"};

const char *store_db_name(unsigned db)
{
	return db < DB__COUNT ? db_names[db] : NULL;
}

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_MAX_DBS];
	unsigned char absent[STORE_MAX_DBS]; /* read-only: the database does not exist */
	unsigned ndbs;
	int read_only;
	char *dir;
	int log;          /* the log's store (not another's) */
	int migrating;    /* format 1 or 2 on disk: derived data to fill */
	long crash_at;    /* test hook: SIGKILL after the log commit of the
			   * crash_at-th commit that appended to DB_LOG */
	long fail_at;     /* test hook: that commit fails */
	long log_commits;
	struct model *model;
	/* Read transactions hold this shared; store_grow takes it exclusive,
	 * because mdb_env_set_mapsize needs every transaction of the process
	 * closed. Writer-preferring, so a steady stream of readers cannot
	 * starve a resize. */
	pthread_rwlock_t resize;
	/* Called before each read transaction begins (store_set_read_wait). */
	void (*read_wait)(void *arg);
	void *read_wait_arg;
};

struct store_txn {
	store *s;
	MDB_txn *txn;
	int read;
	struct store_txn *parent;
	int child;
	int appended; /* DB_LOG was appended to (the test hooks) */
	int beside;   /* a read transaction under another's resize lock */
	const void *view;
};

/* NULL for a database a read-only store does not have (it reads as empty). */
static MDB_txn *tx(const store_txn *t, unsigned db)
{
	return t->s->absent[db] ? NULL : t->txn;
}

/* Translates an LMDB / errno code to the project's convention. */
static int xlate(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return LD_E(NOT_FOUND);
	case MDB_MAP_FULL:
		return STORE_MAP_FULL;
	case ENOSPC:
	case EDQUOT:
		return LD_E(DISK_FULL);
	default:
		return LD_E(STORAGE);
	}
}

static int fail(const char *what, int rc)
{
	if (rc != MDB_NOTFOUND && rc != MDB_MAP_FULL)
		log_error("store: %s: %s", what, mdb_strerror(rc));
	return xlate(rc);
}

void store_boot_id(char out[64])
{
	const char *fake = getenv("LEDGERD_TEST_BOOT_ID");
	out[0] = 0;
	if (fake && *fake) {
		snprintf(out, 64, "%s", fake);
		return;
	}
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	if (f) {
		if (!fgets(out, 64, f))
			out[0] = 0;
		fclose(f);
	}
	out[strcspn(out, "\n")] = 0;
}

static int env_open(MDB_env **env, const char *dir, size_t map_size, unsigned max_readers,
		    unsigned flags)
{
	int rc;
	if ((rc = mdb_env_create(env)) != 0)
		return rc;
	mdb_env_set_maxdbs(*env, STORE_MAX_DBS);
	mdb_env_set_maxreaders(*env, max_readers ? max_readers : 1024);
	/* Keep the larger of the configured size and what the file already has. */
	if ((rc = mdb_env_set_mapsize(*env, map_size ? map_size : (size_t)1 << 30)) != 0)
		return rc;
	if ((rc = mdb_env_open(*env, dir, flags | MDB_NOTLS | MDB_NORDAHEAD, 0640)) != 0)
		return rc;
	int dead = 0;
	mdb_reader_check(*env, &dead);
	if (dead)
		log_warn("store: cleared %d stale reader slot(s) in '%s'", dead, dir);
	return 0;
}

/* The log's store: the format on disk, and what an older one left. */
static int log_format(store *s, MDB_txn *txn, const char *dir, ld_errinfo *e)
{
	MDB_val fk = {6, "format"}, fv;
	int rc = mdb_get(txn, s->dbi[DB_META], &fk, &fv);
	char f = rc == 0 && fv.mv_size == 1 ? *(const char *)fv.mv_data : 0;
	if (rc == MDB_NOTFOUND) {
		/* A new log, or one too old to have said (format 1): if it has
		 * events it is migrated like a format 1. */
		MDB_cursor *c;
		MDB_val k, v;
		if ((rc = mdb_cursor_open(txn, s->dbi[DB_LOG], &c)))
			return rc;
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
		mdb_cursor_close(c);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
		f = rc == 0 ? '1' : '3';
		if (f == '3') {
			fv.mv_size = 1;
			fv.mv_data = "3";
			return mdb_put(txn, s->dbi[DB_META], &fk, &fv, 0);
		}
	} else if (rc) {
		return rc;
	}
	if (f == '3')
		return 0;
	if (f != '1' && f != '2') {
		ld_errinfo_set(e, LD_E(STORAGE), NULL, "data directory '%s' has an unknown format %.*s",
			       dir, (int)fv.mv_size, (const char *)fv.mv_data);
		return -1;
	}
	if (f == '1') {
		/* The old indexes beside the log go (derived from it); then it
		 * is a format 2, whose indexes were elsewhere. */
		for (size_t i = 0; i < sizeof(old_dbs) / sizeof(old_dbs[0]); i++) {
			MDB_dbi old;
			int ours = -1; /* a name format 3 uses again: emptied, kept */
			for (unsigned d = 0; d < DB__COUNT; d++)
				if (strcmp(db_names[d], old_dbs[i]) == 0)
					ours = (int)d;
			if (ours >= 0)
				rc = mdb_drop(txn, s->dbi[ours], 0);
			else if ((rc = mdb_dbi_open(txn, old_dbs[i], 0, &old)) == 0)
				rc = mdb_drop(txn, old, 1);
			if (rc && rc != MDB_NOTFOUND)
				return rc;
		}
		fv.mv_size = 1;
		fv.mv_data = "2";
		if ((rc = mdb_put(txn, s->dbi[DB_META], &fk, &fv, 0)))
			return rc;
	}
	log_warn("store: '%s' has format %c: its links, corrections and Merkle tree are built "
		 "from the log (the indexes of the old write model are no longer used)",
		 dir, f);
	s->migrating = 1;
	return 0;
}

/*
 * Read-only (the start-up check): the databases that exist, nothing created;
 * the log of format 3 is read whole, one of format 1 or 2 (converted when
 * the daemon opens it) as its log only, since its Merkle tree was of another
 * layout. 0, -1 with e set, or an LMDB code.
 */
static int open_read_only(store *s, const char *const *names, const char *dir, ld_errinfo *e)
{
	MDB_txn *txn;
	MDB_val fk = {6, "format"}, fv;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return rc;
	for (unsigned i = 0; i < s->ndbs; i++) {
		rc = mdb_dbi_open(txn, names[i], 0, &s->dbi[i]);
		if (rc == MDB_NOTFOUND) {
			s->absent[i] = 1;
			rc = 0;
		}
		if (rc)
			goto out;
	}
	if (!s->log)
		goto out;
	rc = s->absent[DB_META] ? MDB_NOTFOUND : mdb_get(txn, s->dbi[DB_META], &fk, &fv);
	char f = rc == 0 && fv.mv_size == 1 ? *(const char *)fv.mv_data : rc == MDB_NOTFOUND ? '1' : 0;
	if (rc && rc != MDB_NOTFOUND)
		goto out;
	rc = 0;
	if (f == '1' || f == '2') {
		for (unsigned i = 0; i < s->ndbs; i++)
			if (i != DB_LOG && i != DB_META)
				s->absent[i] = 1;
	} else if (f != '3') {
		ld_errinfo_set(e, LD_E(STORAGE), NULL, "data directory '%s' has an unknown format", dir);
		rc = -1;
	}
out:
	/* Committed, not aborted: the handles opened in it stay open. */
	if (rc == 0)
		return mdb_txn_commit(txn);
	mdb_txn_abort(txn);
	return rc;
}

int store_open(store **out, const store_options *o, ld_errinfo *e)
{
	int rc;
	MDB_txn *txn = NULL;
	store *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	s->dir = strdup(o->dir);
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->resize, &ra);
	pthread_rwlockattr_destroy(&ra);
	const char *crash = getenv("LEDGERD_TEST_CRASH_AT_COMMIT");
	s->crash_at = crash ? atol(crash) : 0;
	const char *failat = getenv("LEDGERD_TEST_FAIL_AT_COMMIT");
	s->fail_at = failat ? atol(failat) : 0;

	s->read_only = o->read_only;
	if (o->read_only) {
		char file[4200];
		snprintf(file, sizeof(file), "%s/data.mdb", o->dir);
		if (access(file, F_OK) != 0) {
			ld_errinfo_set(e, LD_E(NOT_FOUND), NULL, "there is no log in '%s'", o->dir);
			goto fail;
		}
	} else if (mkdir(o->dir, 0750) != 0 && errno != EEXIST) {
		ld_errinfo_set(e, LD_E(STORAGE), NULL, "unable to create data directory '%s': %s",
			       o->dir, strerror(errno));
		goto fail;
	}
	const char *const *names = o->dbs ? o->dbs : db_names;
	s->ndbs = o->dbs ? o->ndbs : DB__COUNT;
	s->log = !o->dbs;
	if (s->ndbs > STORE_MAX_DBS) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "too many databases");
		goto fail;
	}
	unsigned flags = (o->no_sync ? MDB_NOSYNC : 0) | (o->no_meta_sync ? MDB_NOMETASYNC : 0);
	if (o->read_only)
		flags = MDB_RDONLY;
	if ((rc = env_open(&s->env, o->dir, o->map_size, o->max_readers, flags)) != 0)
		goto lmdb_fail;
	if (o->read_only) {
		if ((rc = open_read_only(s, names, o->dir, e)) != 0) {
			if (rc == -1)
				goto fail;
			goto lmdb_fail;
		}
		*out = s;
		return 0;
	}

	/* Open every named database once, at start, in one transaction. */
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto lmdb_fail;
	for (unsigned i = 0; i < s->ndbs; i++)
		if ((rc = mdb_dbi_open(txn, names[i], MDB_CREATE, &s->dbi[i])) != 0)
			goto lmdb_fail;
	/* The log's files carry a format number; the projections are rebuilt
	 * instead of converted, so theirs do not. */
	if (s->log && (rc = log_format(s, txn, o->dir, e)) != 0) {
		if (rc == -1)
			goto fail;
		goto lmdb_fail;
	}
	if (s->log && o->rebuild_merkle && !s->migrating) {
		/* Derived from the log: emptied here, filled again from the log
		 * by the writer (merkle_catch_up) before anything is served. */
		log_warn("store: %s; the Merkle tree's stored nodes are rebuilt from the log",
			 o->rebuild_merkle);
		if ((rc = mdb_drop(txn, s->dbi[DB_MERKLE], 0)) != 0)
			goto lmdb_fail;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto lmdb_fail;
	*out = s;
	return 0;

lmdb_fail:
	ld_errinfo_set(e, rc == ENOSPC ? LD_E(DISK_FULL) : LD_E(STORAGE), NULL,
		       "unable to open %s in '%s': %s", o->name ? o->name : "the log", o->dir,
		       mdb_strerror(rc));
fail:
	if (txn)
		mdb_txn_abort(txn);
	if (s->env)
		mdb_env_close(s->env);
	pthread_rwlock_destroy(&s->resize);
	free(s->dir);
	free(s);
	return e ? e->code : LD_E(STORAGE);
}

const char *store_dir(const store *s)
{
	return s->dir;
}

int store_migrating(store *s)
{
	return s->migrating;
}

/* Removes DATA/index/ (format 2's second environment), if present. */
static void remove_old_index(const store *s)
{
	static const char *const files[] = {"data.mdb", "lock.mdb"};
	char path[4200];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/index/%s", s->dir, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/index", s->dir);
	rmdir(path);
}

int store_migrated(store *s)
{
	MDB_txn *txn;
	MDB_val fk = {6, "format"}, fv = {1, "3"};
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return fail("migration", rc);
	if ((rc = mdb_put(txn, s->dbi[DB_META], &fk, &fv, 0))) {
		mdb_txn_abort(txn);
		return fail("migration", rc);
	}
	if ((rc = mdb_txn_commit(txn)))
		return fail("migration", rc);
	remove_old_index(s);
	s->migrating = 0;
	log_info("store: '%s' is now of format 3", s->dir);
	return 0;
}

int store_model_seed(store *s, uint64_t *seed)
{
	MDB_txn *txn;
	MDB_val k = {10, "model-seed"}, v;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return fail("reading the model's seed", rc);
	rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc == 0 && v.mv_size == 8) {
		*seed = ld_get_be64(v.mv_data);
		mdb_txn_abort(txn);
		return 0;
	}
	uint8_t b[8];
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		mdb_txn_abort(txn);
		return LD_E(INTERNAL);
	}
	v.mv_size = 8;
	v.mv_data = b;
	if ((rc = mdb_put(txn, s->dbi[DB_META], &k, &v, 0)) || (rc = mdb_txn_commit(txn))) {
		if (rc && txn)
			mdb_txn_abort(txn);
		return fail("writing the model's seed", rc);
	}
	*seed = ld_get_be64(b);
	return 0;
}

void store_set_model(store *s, struct model *m)
{
	__atomic_store_n(&s->model, m, __ATOMIC_RELEASE);
}

struct model *store_model(store *s)
{
	return __atomic_load_n(&s->model, __ATOMIC_ACQUIRE);
}

store *store_txn_store(store_txn *t)
{
	return t->s;
}

void store_txn_set_view(store_txn *t, const void *view)
{
	t->view = view;
}

const void *store_txn_view(store_txn *t)
{
	return t->view;
}

void store_close(store *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	pthread_rwlock_destroy(&s->resize);
	free(s->dir);
	free(s);
}

void store_usage(store *s, size_t *map_size, size_t *used)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &st);
	*map_size = info.me_mapsize;
	*used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
}

int store_reader_check(store *s)
{
	int dead = 0;
	mdb_reader_check(s->env, &dead);
	return dead;
}

int store_sync(store *s)
{
	int rc = mdb_env_sync(s->env, 1);
	return rc ? fail("sync", rc) : 0;
}

int store_grow(store *s, size_t min)
{
	int rc;
	pthread_rwlock_wrlock(&s->resize);
	MDB_envinfo info;
	mdb_env_info(s->env, &info);
	size_t size = info.me_mapsize * 2;
	while (size < min)
		size *= 2;
	if ((rc = mdb_env_set_mapsize(s->env, size)) == 0)
		log_info("store: map of '%s' grown to %zu MiB", s->dir, size >> 20);
	pthread_rwlock_unlock(&s->resize);
	return rc ? fail("growing the map", rc) : 0;
}

/* ------------------------------------------------------------------ */
/* Hot backup                                                          */
/* ------------------------------------------------------------------ */

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int store_copy(store *s, const char *dir, uint64_t *bytes, ld_errinfo *e)
{
	char path[4096];
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return ld_errinfo_set(e, errno == ENOSPC ? LD_E(DISK_FULL) : LD_E(STORAGE), NULL,
				      "unable to create backup directory '%s': %s", dir,
				      strerror(errno));
	DIR *d = opendir(dir);
	if (!d)
		return ld_errinfo_set(e, LD_E(STORAGE), NULL, "unable to open backup directory '%s': %s",
				      dir, strerror(errno));
	struct dirent *de;
	int entries = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			entries++;
	closedir(d);
	if (entries)
		return ld_errinfo_set(e, LD_E(ALREADY_EXISTS), NULL,
				      "backup directory '%s' is not empty", dir);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	/* A read transaction inside: hold the resize lock like one. */
	pthread_rwlock_rdlock(&s->resize);
	int rc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
	pthread_rwlock_unlock(&s->resize);
	if (rc == 0 && (fsync_path(path, O_RDONLY) != 0 || fsync_path(dir, O_RDONLY | O_DIRECTORY) != 0))
		rc = errno;
	if (rc != 0) {
		unlink(path);
		return ld_errinfo_set(e, rc == ENOSPC || rc == EDQUOT ? LD_E(DISK_FULL) : LD_E(STORAGE),
				      NULL, "backup into '%s' failed: %s", dir, mdb_strerror(rc));
	}
	struct stat st;
	*bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

/* Read transactions this thread has open (store_reading). */
static __thread int reading;

int store_reading(void)
{
	return reading;
}

static int txn_begin(store *s, store_txn *parent, unsigned flags, store_txn **out)
{
	store_txn *t = calloc(1, sizeof(*t));
	*out = NULL;
	if (!t)
		return LD_E(INTERNAL);
	t->s = s;
	t->read = (flags & MDB_RDONLY) != 0;
	t->child = parent != NULL;
	t->parent = parent;
	if (t->read)
		pthread_rwlock_rdlock(&s->resize);
	int rc = mdb_txn_begin(s->env, parent ? parent->txn : NULL, flags, &t->txn);
	if (rc != 0) {
		if (t->read)
			pthread_rwlock_unlock(&s->resize);
		free(t);
		return fail("beginning a transaction", rc);
	}
	reading += t->read;
	*out = t;
	return 0;
}

int store_read_begin(store *s, store_txn **t)
{
	/* A thread that holds a read transaction does not wait: the applier
	 * may be waiting for it to end (a map growth). */
	if (s->read_wait && !reading)
		s->read_wait(s->read_wait_arg);
	return txn_begin(s, NULL, MDB_RDONLY, t);
}

void store_set_read_wait(store *s, void (*fn)(void *arg), void *arg)
{
	s->read_wait_arg = arg;
	s->read_wait = fn;
}

int store_set_meta_sync(store *s, int on)
{
	int rc = mdb_env_set_flags(s->env, MDB_NOMETASYNC, !on);
	return rc ? fail("setting the sync mode", rc) : 0;
}

int store_read_beside(store_txn *open, store_txn **out)
{
	store_txn *t = calloc(1, sizeof(*t));
	*out = NULL;
	if (!t)
		return LD_E(INTERNAL);
	t->s = open->s;
	t->read = t->beside = 1;
	int rc = mdb_txn_begin(t->s->env, NULL, MDB_RDONLY, &t->txn);
	if (rc != 0) {
		free(t);
		return fail("beginning a transaction", rc);
	}
	reading++;
	*out = t;
	return 0;
}

void store_read_end(store_txn *t)
{
	if (!t)
		return;
	reading--;
	mdb_txn_abort(t->txn);
	if (!t->beside)
		pthread_rwlock_unlock(&t->s->resize);
	free(t);
}

int store_write_begin(store *s, store_txn **t)
{
	return txn_begin(s, NULL, 0, t);
}

int store_child_begin(store_txn *parent, store_txn **t)
{
	return txn_begin(parent->s, parent, 0, t);
}

/* LMDB reports a short write as EIO, which is what a full disk gives it. A
 * failed commit on a file system with (almost) no room left is a full disk. */
static int disk_full(const store *s)
{
	struct statvfs st;
	return statvfs(s->dir, &st) == 0 && (uint64_t)st.f_bavail * st.f_frsize < (16u << 20);
}

int store_commit(store_txn *t)
{
	store *s = t->s;
	int child = t->child, appended = t->appended;
	if (child && appended)
		t->parent->appended = 1;
	long n = !child && appended ? ++s->log_commits : 0;
	if (n && n == s->fail_at) {
		log_warn("store: LEDGERD_TEST_FAIL_AT_COMMIT: this commit fails");
		mdb_txn_abort(t->txn);
		free(t);
		return LD_E(STORAGE);
	}
	int rc = mdb_txn_commit(t->txn);
	free(t);
	if (rc == 0 && n && n == s->crash_at) {
		log_warn("store: LEDGERD_TEST_CRASH_AT_COMMIT: killed right after the log's commit");
		raise(SIGKILL);
	}
	if (rc == 0)
		return 0;
	if (rc != MDB_MAP_FULL && disk_full(s)) {
		log_error("store: commit: no space left on the device of '%s' (%s)", s->dir,
			  mdb_strerror(rc));
		return LD_E(DISK_FULL);
	}
	return fail("commit", rc);
}

void store_abort(store_txn *t)
{
	if (!t)
		return;
	reading -= t->read;
	mdb_txn_abort(t->txn);
	if (t->read && !t->beside)
		pthread_rwlock_unlock(&t->s->resize);
	free(t);
}

/* ------------------------------------------------------------------ */
/* Keys and values                                                     */
/* ------------------------------------------------------------------ */

int store_get(store_txn *t, unsigned db, const void *key, size_t klen, store_val *v)
{
	MDB_val k = {klen, (void *)key}, d;
	if (!tx(t, db))
		return LD_E(NOT_FOUND);
	int rc = mdb_get(tx(t, db), t->s->dbi[db], &k, &d);
	if (rc)
		return rc == MDB_NOTFOUND ? LD_E(NOT_FOUND) : fail("get", rc);
	v->data = d.mv_data;
	v->len = d.mv_size;
	return 0;
}

int store_put(store_txn *t, unsigned db, const void *key, size_t klen, const void *val,
	      size_t vlen)
{
	MDB_val k = {klen, (void *)key}, d = {vlen, (void *)val};
	int rc = mdb_put(tx(t, db), t->s->dbi[db], &k, &d, 0);
	return rc ? fail("put", rc) : 0;
}

int store_del(store_txn *t, unsigned db, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key};
	int rc = mdb_del(tx(t, db), t->s->dbi[db], &k, NULL);
	return rc && rc != MDB_NOTFOUND ? fail("del", rc) : 0;
}

int store_empty(store_txn *t, unsigned db)
{
	int rc = mdb_drop(tx(t, db), t->s->dbi[db], 0);
	return rc ? fail("drop", rc) : 0;
}

int store_append_reserve(store_txn *t, unsigned db, const void *key, size_t klen,
			 size_t vlen, void **out)
{
	return store_cursor_append_reserve(t, db, NULL, key, klen, vlen, out);
}

int store_cursor_put(store_cursor *c, const void *key, size_t klen, const void *val, size_t vlen)
{
	MDB_val k = {klen, (void *)key}, d = {vlen, (void *)val};
	int rc = mdb_cursor_put((MDB_cursor *)c, &k, &d, 0);
	return rc ? fail("put", rc) : 0;
}

int store_cursor_append_reserve(store_txn *t, unsigned db, store_cursor *c, const void *key,
				size_t klen, size_t vlen, void **out)
{
	MDB_val k = {klen, (void *)key}, d = {vlen, NULL};
	unsigned flags = MDB_APPEND | MDB_RESERVE;
	int rc = c ? mdb_cursor_put((MDB_cursor *)c, &k, &d, flags)
		   : mdb_put(tx(t, db), t->s->dbi[db], &k, &d, flags);
	if (db == DB_LOG && t->s->log)
		t->appended = 1;
	if (rc)
		return fail("append", rc);
	*out = d.mv_data;
	return 0;
}

size_t store_count(store_txn *t, unsigned db)
{
	MDB_stat st;
	if (!tx(t, db) || mdb_stat(tx(t, db), t->s->dbi[db], &st) != 0)
		return 0;
	return st.ms_entries;
}

size_t store_pages(store_txn *t, unsigned db)
{
	MDB_stat st;
	if (!tx(t, db) || mdb_stat(tx(t, db), t->s->dbi[db], &st) != 0)
		return 0;
	return st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
}

/* ------------------------------------------------------------------ */
/* Cursors                                                             */
/* ------------------------------------------------------------------ */

int store_cursor_open(store_txn *t, unsigned db, store_cursor **c)
{
	MDB_cursor *mc;
	if (!tx(t, db))
		return LD_E(NOT_FOUND);
	int rc = mdb_cursor_open(tx(t, db), t->s->dbi[db], &mc);
	if (rc)
		return fail("cursor", rc);
	*c = (store_cursor *)mc;
	return 0;
}

void store_cursor_close(store_cursor *c)
{
	if (c)
		mdb_cursor_close((MDB_cursor *)c);
}

static int cursor_op(store_cursor *c, MDB_val *k, MDB_cursor_op op, store_val *ko, store_val *vo)
{
	MDB_val d;
	int rc = mdb_cursor_get((MDB_cursor *)c, k, &d, op);
	if (rc)
		return rc == MDB_NOTFOUND ? LD_E(NOT_FOUND) : fail("cursor get", rc);
	if (ko) {
		ko->data = k->mv_data;
		ko->len = k->mv_size;
	}
	if (vo) {
		vo->data = d.mv_data;
		vo->len = d.mv_size;
	}
	return 0;
}

int store_cursor_seek(store_cursor *c, const void *key, size_t klen, store_val *k, store_val *v)
{
	MDB_val mk = {klen, (void *)key};
	return cursor_op(c, &mk, MDB_SET_RANGE, k, v);
}

int store_cursor_first(store_cursor *c, store_val *k, store_val *v)
{
	MDB_val mk = {0, NULL};
	return cursor_op(c, &mk, MDB_FIRST, k, v);
}

int store_cursor_last(store_cursor *c, store_val *k, store_val *v)
{
	MDB_val mk = {0, NULL};
	return cursor_op(c, &mk, MDB_LAST, k, v);
}

int store_cursor_next(store_cursor *c, store_val *k, store_val *v)
{
	MDB_val mk = {0, NULL};
	return cursor_op(c, &mk, MDB_NEXT, k, v);
}

int store_cursor_prev(store_cursor *c, store_val *k, store_val *v)
{
	MDB_val mk = {0, NULL};
	return cursor_op(c, &mk, MDB_PREV, k, v);
}

int store_cursor_append(store_cursor *c, const void *key, size_t klen, const void *val,
			size_t vlen)
{
	MDB_val k = {klen, (void *)key}, d = {vlen, (void *)val};
	int rc = mdb_cursor_put((MDB_cursor *)c, &k, &d, MDB_APPEND);
	return rc ? fail("append", rc) : 0;
}

/* ------------------------------------------------------------------ */
/* Room on disk                                                        */
/* ------------------------------------------------------------------ */

struct store_room {
	unsigned n, cache_us;
	int64_t at; /* ld_mono_us of the last statvfs; 0: ask again */
	struct {
		char *dir;
		const char *what;
		int known;      /* statvfs answered at the last refresh */
		dev_t dev;
		unsigned fs;    /* the first directory on the same file system */
		uint64_t avail; /* free bytes (unprivileged), less what was taken */
	} d[STORE_ROOM_DIRS];
};

int store_room_new(store_room **out, const store_room_dir *dirs, unsigned n, unsigned cache_us)
{
	store_room *r = n <= STORE_ROOM_DIRS ? calloc(1, sizeof(*r)) : NULL;
	if (!r)
		return LD_E(INTERNAL);
	r->cache_us = cache_us;
	for (unsigned i = 0; i < n; i++, r->n++) {
		r->d[i].what = dirs[i].what;
		if (!(r->d[i].dir = strdup(dirs[i].dir))) {
			store_room_free(r);
			return LD_E(INTERNAL);
		}
	}
	*out = r;
	return 0;
}

void store_room_free(store_room *r)
{
	for (unsigned i = 0; r && i < r->n; i++)
		free(r->d[i].dir);
	free(r);
}

/* stat and statvfs of dir, or of its parent while it does not exist. */
static int room_stat(const char *dir, struct stat *st, struct statvfs *fs)
{
	if (stat(dir, st) == 0 && statvfs(dir, fs) == 0)
		return 0;
	char parent[4096];
	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (errno != ENOENT || !slash)
		return -1;
	*(slash == parent ? slash + 1 : slash) = 0;
	return stat(parent, st) == 0 && statvfs(parent, fs) == 0 ? 0 : -1;
}

static void room_refresh(store_room *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		struct stat st;
		struct statvfs fs;
		r->d[i].known = room_stat(r->d[i].dir, &st, &fs) == 0;
		r->d[i].dev = st.st_dev;
		r->d[i].avail = r->d[i].known ? (uint64_t)fs.f_bavail * fs.f_frsize : 0;
		r->d[i].fs = i;
		for (unsigned j = 0; j < i; j++)
			if (r->d[j].known && r->d[i].known && r->d[j].dev == r->d[i].dev) {
				r->d[i].fs = j;
				break;
			}
	}
	r->at = ld_mono_us();
}

int store_room_check(store_room *r, const uint64_t *need, const uint64_t *takes, ld_errinfo *e)
{
	if (!r->at || ld_mono_us() - r->at >= (int64_t)r->cache_us)
		room_refresh(r);
	uint64_t sum[STORE_ROOM_DIRS] = {0};
	for (unsigned i = 0; i < r->n; i++)
		if (r->d[i].known)
			sum[r->d[i].fs] += need[i];
	for (unsigned i = 0; i < r->n; i++) {
		if (!r->d[i].known || r->d[i].fs != i || sum[i] <= r->d[i].avail)
			continue;
		char holds[256] = "";
		size_t len = 0;
		for (unsigned j = i; j < r->n; j++)
			if (r->d[j].known && r->d[j].fs == i && len < sizeof(holds))
				len += (size_t)snprintf(holds + len, sizeof(holds) - len, "%s%s",
							len ? ", " : "", r->d[j].what);
		r->at = 0;
		return ld_errinfo_set(e, LD_E(DISK_FULL), NULL,
				      "the disk of '%s' (%s) has %.1f MiB free, %.1f MiB are needed",
				      r->d[i].dir, holds, r->d[i].avail / 1048576.0,
				      sum[i] / 1048576.0);
	}
	for (unsigned i = 0; i < r->n; i++) {
		unsigned f = r->d[i].fs;
		if (r->d[i].known)
			r->d[f].avail -= takes[i] < r->d[f].avail ? takes[i] : r->d[f].avail;
	}
	return 0;
}
