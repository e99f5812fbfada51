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
#include <sys/statvfs.h>

#include "digest.h"
#include "log.h"

static const char *const db_names[DB__COUNT] = {
	[DB_LOG] = "log",	    [DB_IDEM] = "idem",	      [DB_STREAMS] = "streams",
	[DB_PERSONS] = "persons",
	[DB_STATIONS] = "stations", [DB_FIXES] = "fixes",     [DB_REFUNDS] = "refunds",
	[DB_META] = "meta",	    [DB_MERKLE] = "merkle",   [DB_IMETA] = "imeta",
};

/* Where each database of the log's store lives: 0 = the synced log
 * environment, 1 = the unsynced index environment (DATA/index/). */
static const unsigned char db_in_index[DB__COUNT] = {
	[DB_LOG] = 0,	  [DB_META] = 0,     [DB_IDEM] = 1,    [DB_STREAMS] = 1, [DB_PERSONS] = 1,
	[DB_STATIONS] = 1, [DB_FIXES] = 1,    [DB_REFUNDS] = 1, [DB_MERKLE] = 1,  [DB_IMETA] = 1,
};

const char *store_db_name(unsigned db)
{
	return db < DB__COUNT ? db_names[db] : NULL;
}

struct store {
	MDB_env *env;
	MDB_env *ienv; /* the index environment (the log's store only), or NULL */
	MDB_dbi dbi[STORE_MAX_DBS];
	unsigned char in_index[STORE_MAX_DBS];
	unsigned char absent[STORE_MAX_DBS]; /* read-only: the database does not exist */
	unsigned ndbs;
	int read_only;
	char *dir;
	char *idir;
	int index_wiped;    /* the index was thrown away at open (machine crash) */
	long crash_at;      /* test hook: SIGKILL after the log commit of the
			     * crash_at-th commit that appended to DB_LOG */
	long fail_index_at; /* test hook: the index's commit of that one fails */
	long log_commits;
	/* Read transactions hold this shared; store_grow takes it exclusive,
	 * because mdb_env_set_mapsize needs every transaction of the process
	 * closed. Writer-preferring, so a steady stream of readers cannot
	 * starve a resize. */
	pthread_rwlock_t resize;
};

struct store_txn {
	store *s;
	MDB_txn *txn;  /* the log environment's */
	MDB_txn *itxn; /* the index environment's, or NULL */
	int read;
	struct store_txn *parent;
	int child;
	int appended; /* DB_LOG was appended to (the crash test hook) */
};

/* NULL for a database a read-only store does not have (it reads as empty). */
static MDB_txn *tx(const store_txn *t, unsigned db)
{
	if (t->s->absent[db])
		return NULL;
	return t->s->in_index[db] ? t->itxn : t->txn;
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

/* Opens the named databases that live in env (which = 0 log, 1 index). */
static int dbs_open(store *s, MDB_env *env, int which, const char *const *names)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);
	if (rc)
		return rc;
	for (unsigned i = 0; i < s->ndbs; i++) {
		if (s->in_index[i] != which)
			continue;
		rc = mdb_dbi_open(txn, names[i], s->read_only ? 0 : MDB_CREATE, &s->dbi[i]);
		if (rc == MDB_NOTFOUND && s->read_only) {
			s->absent[i] = 1;
			rc = 0;
		}
		if (rc) {
			mdb_txn_abort(txn);
			return rc;
		}
	}
	return mdb_txn_commit(txn);
}

#define INDEX_DIGEST_KEY "index-digest"

/* Writes the index's boot id and clean mark into the log environment's
 * meta (synced, so they survive what the index may not), and with the
 * clean mark the SHA-256 of the index's file as closed (digest; NULL: none,
 * and any earlier one is removed). */
static int index_mark(store *s, const char *boot, int clean, const uint8_t *digest)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return rc;
	MDB_val bk = {10, "index-boot"}, bv = {strlen(boot), (void *)boot};
	MDB_val ck = {11, "index-clean"}, cv = {1, clean ? "1" : "0"};
	MDB_val dk = {strlen(INDEX_DIGEST_KEY), INDEX_DIGEST_KEY},
		dv = {LD_SHA256_LEN, (void *)digest};
	if ((rc = mdb_put(txn, s->dbi[DB_META], &bk, &bv, 0)) ||
	    (rc = mdb_put(txn, s->dbi[DB_META], &ck, &cv, 0)) ||
	    (rc = clean && digest ? mdb_put(txn, s->dbi[DB_META], &dk, &dv, 0)
				  : mdb_del(txn, s->dbi[DB_META], &dk, NULL)) == MDB_NOTFOUND)
		rc = 0;
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

static void index_remove(store *s)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/data.mdb", s->idir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", s->idir);
	unlink(path);
	s->index_wiped = 1;
}

/*
 * Opens the index environment. Its commits are not synced: after a crash of
 * the process the kernel still writes them out, and the writer replays the
 * log past the index's checkpoint. After a crash of the machine it may be
 * torn: the boot id differs from the one recorded when it was opened and it
 * was not closed cleanly (both marks are in the log's synced meta), and it
 * is thrown away (the writer rebuilds it from the log). So is an index LMDB
 * cannot open as one (derived data: nothing is lost).
 */
static int index_open(store *s, const store_options *o, ld_errinfo *e)
{
	char boot[64], was[64] = "", file[4200];
	uint8_t digest[LD_SHA256_LEN], now[LD_SHA256_LEN];
	int rc, clean = 1, has_digest = 0;
	store_boot_id(boot);
	MDB_txn *txn;
	MDB_val k = {10, "index-boot"}, v;
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)))
		goto lmdb_fail;
	if (mdb_get(txn, s->dbi[DB_META], &k, &v) == 0 && v.mv_size < sizeof(was)) {
		memcpy(was, v.mv_data, v.mv_size);
		was[v.mv_size] = 0;
		k.mv_size = 11;
		k.mv_data = "index-clean";
		clean = mdb_get(txn, s->dbi[DB_META], &k, &v) == 0 && v.mv_size == 1 &&
			*(const char *)v.mv_data == '1';
	}
	k.mv_size = strlen(INDEX_DIGEST_KEY);
	k.mv_data = INDEX_DIGEST_KEY;
	if (clean && mdb_get(txn, s->dbi[DB_META], &k, &v) == 0 && v.mv_size == LD_SHA256_LEN) {
		memcpy(digest, v.mv_data, LD_SHA256_LEN);
		has_digest = 1;
	}
	mdb_txn_abort(txn);
	if (mkdir(s->idir, 0750) != 0 && errno != EEXIST)
		return ld_errinfo_set(e, LD_E(STORAGE), NULL,
				      "unable to create index directory '%s': %s", s->idir,
				      strerror(errno));
	snprintf(file, sizeof(file), "%s/data.mdb", s->idir);
	if (o->discard_index) {
		log_warn("store: %s: the index in '%s' is rebuilt from the log", o->discard_index,
			 s->idir);
		index_remove(s);
	} else if (was[0] && !clean && strcmp(was, boot) != 0) {
		log_warn("store: the machine restarted since the index in '%s' was last closed "
			 "cleanly; it is rebuilt from the log",
			 s->idir);
		index_remove(s);
	} else if (has_digest && access(file, F_OK) == 0 &&
		   (ld_sha256_file(file, now) != 0 || memcmp(now, digest, LD_SHA256_LEN) != 0)) {
		/* Derived data changed at rest: a flipped byte could answer a
		 * resent event as new or let a person join twice. */
		log_warn("store: the index in '%s' was changed since it was closed cleanly (its "
			 "SHA-256 is not the one recorded then); it is rebuilt from the log",
			 s->idir);
		index_remove(s);
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		rc = env_open(&s->ienv, s->idir, o->map_size, o->max_readers,
			      MDB_NOSYNC | MDB_NOMETASYNC);
		if (rc == 0 && (rc = dbs_open(s, s->ienv, 1, db_names)) == 0)
			break;
		if (s->ienv)
			mdb_env_close(s->ienv);
		s->ienv = NULL;
		if (attempt || (rc != MDB_INVALID && rc != MDB_CORRUPTED && rc != MDB_PAGE_NOTFOUND &&
				rc != MDB_VERSION_MISMATCH))
			goto lmdb_fail;
		log_warn("store: the index in '%s' is unreadable (%s); it is rebuilt from the log",
			 s->idir, mdb_strerror(rc));
		index_remove(s);
	}
	if ((rc = index_mark(s, boot, 0, NULL)))
		goto lmdb_fail;
	return 0;
lmdb_fail:
	return ld_errinfo_set(e, rc == ENOSPC ? LD_E(DISK_FULL) : LD_E(STORAGE), NULL,
			      "unable to open the index in '%s': %s", s->idir, mdb_strerror(rc));
}

/* Read-only: the index as it is, if it is there and LMDB opens it (what
 * index_open would throw away reads as empty: nothing of it is checked). */
static void index_open_read_only(store *s, const store_options *o)
{
	char file[4200];
	snprintf(file, sizeof(file), "%s/data.mdb", s->idir);
	int rc = access(file, F_OK) == 0
			 ? env_open(&s->ienv, s->idir, o->map_size, o->max_readers, MDB_RDONLY)
			 : MDB_NOTFOUND;
	if (rc == 0)
		rc = dbs_open(s, s->ienv, 1, db_names);
	if (rc == 0)
		return;
	if (s->ienv)
		mdb_env_close(s->ienv);
	s->ienv = NULL;
	for (unsigned i = 0; i < s->ndbs; i++)
		if (s->in_index[i])
			s->absent[i] = 1;
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
	const char *failidx = getenv("LEDGERD_TEST_INDEX_FAIL_AT_COMMIT");
	s->fail_index_at = failidx ? atol(failidx) : 0;

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
	if (s->ndbs > STORE_MAX_DBS) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "too many databases");
		goto fail;
	}
	if (!o->dbs) {
		memcpy(s->in_index, db_in_index, DB__COUNT);
		size_t n = strlen(o->dir) + sizeof("/index");
		s->idir = malloc(n);
		snprintf(s->idir, n, "%s/index", o->dir);
	}
	unsigned flags = (o->no_sync ? MDB_NOSYNC : 0) | (o->no_meta_sync ? MDB_NOMETASYNC : 0);
	if (o->read_only)
		flags = MDB_RDONLY;
	if ((rc = env_open(&s->env, o->dir, o->map_size, o->max_readers, flags)) != 0)
		goto lmdb_fail;
	if (o->read_only) {
		/* Only what a check reads: the log's databases, the format, and
		 * the index if asked for and there. */
		MDB_val fk = {6, "format"}, fv;
		MDB_txn *rt;
		if ((rc = dbs_open(s, s->env, 0, names)) != 0 ||
		    (rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &rt)) != 0)
			goto lmdb_fail;
		rc = o->dbs || s->absent[DB_META] ? MDB_NOTFOUND
						  : mdb_get(rt, s->dbi[DB_META], &fk, &fv);
		int known = rc == MDB_NOTFOUND ||
			    (rc == 0 && fv.mv_size == 1 && *(const char *)fv.mv_data == '2');
		mdb_txn_abort(rt);
		if (rc && rc != MDB_NOTFOUND)
			goto lmdb_fail;
		if (!known) {
			ld_errinfo_set(e, LD_E(STORAGE), NULL,
				       "data directory '%s' has a format this check does not read",
				       o->dir);
			goto fail;
		}
		if (s->idir && !o->no_index)
			index_open_read_only(s, o);
		else
			for (unsigned i = 0; i < s->ndbs; i++)
				if (s->in_index[i])
					s->absent[i] = 1;
		*out = s;
		return 0;
	}

	/* Open every named database once, at start, in one transaction. */
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto lmdb_fail;
	for (unsigned i = 0; i < s->ndbs; i++)
		if (!s->in_index[i] && (rc = mdb_dbi_open(txn, names[i], MDB_CREATE, &s->dbi[i])) != 0)
			goto lmdb_fail;
	/* The log's files carry a format number; the projections are rebuilt
	 * instead of converted, so theirs do not. Format 2: the indexes live
	 * in DATA/index/ (format 1 had them beside the log). */
	if (!o->dbs) {
		MDB_val fk = {6, "format"}, fv;
		rc = mdb_get(txn, s->dbi[DB_META], &fk, &fv);
		if (rc == 0 && fv.mv_size == 1 && *(const char *)fv.mv_data == '1') {
			/* Format 1: the indexes beside the log. They go; the
			 * writer rebuilds them in index/ from the log. */
			log_warn("store: '%s' has format 1; its indexes move to index/ and are "
				 "rebuilt from the log",
				 o->dir);
			for (unsigned i = 0; i < DB__COUNT; i++) {
				MDB_dbi old;
				if (!s->in_index[i] || i == DB_IMETA)
					continue;
				if ((rc = mdb_dbi_open(txn, names[i], 0, &old)) == 0)
					rc = mdb_drop(txn, old, 1);
				if (rc && rc != MDB_NOTFOUND)
					goto lmdb_fail;
			}
			rc = MDB_NOTFOUND;
		}
		if (rc == MDB_NOTFOUND) {
			fv.mv_size = 1;
			fv.mv_data = "2";
			rc = mdb_put(txn, s->dbi[DB_META], &fk, &fv, 0);
		} else if (rc == 0 && (fv.mv_size != 1 || *(const char *)fv.mv_data != '2')) {
			ld_errinfo_set(e, LD_E(STORAGE), NULL,
				       "data directory '%s' has an unknown format %.*s", o->dir,
				       (int)fv.mv_size, (const char *)fv.mv_data);
			goto fail;
		}
		if (rc != 0)
			goto lmdb_fail;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto lmdb_fail;
	if (s->idir && index_open(s, o, e) != 0)
		goto fail;
	*out = s;
	return 0;

lmdb_fail:
	ld_errinfo_set(e, rc == ENOSPC ? LD_E(DISK_FULL) : LD_E(STORAGE), NULL,
		       "unable to open %s in '%s': %s", o->name ? o->name : "the log", o->dir,
		       mdb_strerror(rc));
fail:
	if (txn)
		mdb_txn_abort(txn);
	if (s->ienv)
		mdb_env_close(s->ienv);
	if (s->env)
		mdb_env_close(s->env);
	pthread_rwlock_destroy(&s->resize);
	free(s->idir);
	free(s->dir);
	free(s);
	return e ? e->code : LD_E(STORAGE);
}

int store_index_wiped(store *s)
{
	return s->index_wiped;
}

int store_index_clear(store_txn *t)
{
	for (unsigned db = 0; db < t->s->ndbs; db++)
		if (t->s->in_index[db] && db != DB_IMETA) {
			int rc = mdb_drop(t->itxn, t->s->dbi[db], 0);
			if (rc)
				return fail("clearing the index", rc);
		}
	return 0;
}

void store_close(store *s)
{
	if (!s)
		return;
	if (s->ienv && s->read_only) {
		mdb_env_close(s->ienv);
	} else if (s->ienv) {
		/* Everything written, then the clean mark and the file's digest:
		 * the index can be trusted after a restart of the machine, as
		 * long as its file is what was closed here. */
		char boot[64], file[4200];
		uint8_t digest[LD_SHA256_LEN];
		store_boot_id(boot);
		int rc = mdb_env_sync(s->ienv, 1);
		mdb_env_close(s->ienv);
		snprintf(file, sizeof(file), "%s/data.mdb", s->idir);
		int hashed = rc == 0 && ld_sha256_file(file, digest) == 0;
		if (rc == 0)
			rc = index_mark(s, boot, 1, hashed ? digest : NULL);
		if (rc)
			log_error("store: closing the index in '%s': %s", s->idir, mdb_strerror(rc));
	}
	mdb_env_close(s->env);
	pthread_rwlock_destroy(&s->resize);
	free(s->idir);
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
	if (s->ienv) {
		mdb_env_info(s->ienv, &info);
		mdb_env_stat(s->ienv, &st);
		*map_size += info.me_mapsize;
		*used += (info.me_last_pgno + 1) * (size_t)st.ms_psize;
	}
}

int store_reader_check(store *s)
{
	int dead = 0, idead = 0;
	mdb_reader_check(s->env, &dead);
	if (s->ienv)
		mdb_reader_check(s->ienv, &idead);
	return dead + idead;
}

int store_sync(store *s)
{
	int rc = mdb_env_sync(s->env, 1);
	if (rc == 0 && s->ienv)
		rc = mdb_env_sync(s->ienv, 1);
	return rc ? fail("sync", rc) : 0;
}

int store_grow(store *s, size_t min)
{
	/* Both environments: which one was full is not known here. */
	MDB_env *envs[2] = {s->env, s->ienv};
	int rc = 0;
	pthread_rwlock_wrlock(&s->resize);
	for (int i = 0; i < 2 && rc == 0 && envs[i]; i++) {
		MDB_envinfo info;
		mdb_env_info(envs[i], &info);
		size_t size = info.me_mapsize * 2;
		while (size < min)
			size *= 2;
		if ((rc = mdb_env_set_mapsize(envs[i], size)) == 0)
			log_info("store: map of the %s grown to %zu MiB", i ? "index" : "log",
				 size >> 20);
	}
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

static int txn_begin(store *s, store_txn *parent, unsigned flags, store_txn **out)
{
	store_txn *t = malloc(sizeof(*t));
	*out = NULL;
	if (!t)
		return LD_E(INTERNAL);
	t->s = s;
	t->read = (flags & MDB_RDONLY) != 0;
	t->child = parent != NULL;
	t->parent = parent;
	t->appended = 0;
	t->itxn = NULL;
	if (t->read)
		pthread_rwlock_rdlock(&s->resize);
	/* The index first: it commits after the log, so a reader never sees
	 * an index entry whose event its log snapshot lacks. */
	int rc = 0;
	if (s->ienv)
		rc = mdb_txn_begin(s->ienv, parent ? parent->itxn : NULL, flags, &t->itxn);
	if (rc == 0 && (rc = mdb_txn_begin(s->env, parent ? parent->txn : NULL, flags, &t->txn)) &&
	    t->itxn)
		mdb_txn_abort(t->itxn);
	if (rc != 0) {
		if (t->read)
			pthread_rwlock_unlock(&s->resize);
		free(t);
		return fail("beginning a transaction", rc);
	}
	*out = t;
	return 0;
}

int store_read_begin(store *s, store_txn **t)
{
	return txn_begin(s, NULL, MDB_RDONLY, t);
}

void store_read_end(store_txn *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	if (t->itxn)
		mdb_txn_abort(t->itxn);
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
	MDB_txn *itxn = t->itxn;
	int child = t->child, appended = t->appended;
	if (child && appended)
		t->parent->appended = 1;
	/* The log first, synced: what it holds is recorded. */
	int rc = mdb_txn_commit(t->txn);
	free(t);
	if (rc == 0 && itxn) {
		long n = !child && appended ? ++s->log_commits : 0;
		if (n && n == s->crash_at) {
			log_warn("store: LEDGERD_TEST_CRASH_AT_COMMIT: killed between the log's "
				 "commit and the index's");
			raise(SIGKILL);
		}
		if (n && n == s->fail_index_at) {
			log_warn("store: LEDGERD_TEST_INDEX_FAIL_AT_COMMIT: the index's commit fails");
			mdb_txn_abort(itxn);
			return STORE_INDEX_BEHIND;
		}
		rc = mdb_txn_commit(itxn);
		if (rc == 0)
			return 0;
		if (child || !appended) { /* nothing of it was recorded */
			if (rc != MDB_MAP_FULL && disk_full(s)) {
				log_error("store: commit of the index: no space left on the device "
					  "of '%s' (%s)",
					  s->idir, mdb_strerror(rc));
				return LD_E(DISK_FULL);
			}
			return fail("commit of the index", rc);
		}
		log_error("store: the log committed but its index did not: %s",
			  mdb_strerror(rc));
		return STORE_INDEX_BEHIND;
	}
	if (itxn && rc != 0)
		mdb_txn_abort(itxn);
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
	mdb_txn_abort(t->txn);
	if (t->itxn)
		mdb_txn_abort(t->itxn);
	if (t->read)
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
	MDB_val k = {klen, (void *)key}, d = {vlen, NULL};
	int rc = mdb_put(tx(t, db), t->s->dbi[db], &k, &d, MDB_APPEND | MDB_RESERVE);
	if (db == DB_LOG && !t->s->in_index[db] && t->s->idir)
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
