/* store.c — LMDB behind one file. See store.h for the contract. */
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "log.h"

static const char *const db_names[DB__COUNT] = {
	[DB_LOG] = "log",	    [DB_IDEM] = "idem",	      [DB_STREAMS] = "streams",
	[DB_PERSONS] = "persons",
	[DB_STATIONS] = "stations", [DB_FIXES] = "fixes",     [DB_REFUNDS] = "refunds",
	[DB_META] = "meta",	    [DB_MERKLE] = "merkle",
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_MAX_DBS];
	char *dir;
	/* Read transactions hold this shared; store_grow takes it exclusive,
	 * because mdb_env_set_mapsize needs every transaction of the process
	 * closed. Writer-preferring, so a steady stream of readers cannot
	 * starve a resize. */
	pthread_rwlock_t resize;
};

struct store_txn {
	store *s;
	MDB_txn *txn;
	int read;
};

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

	if (mkdir(o->dir, 0750) != 0 && errno != EEXIST) {
		ld_errinfo_set(e, LD_E(STORAGE), NULL, "unable to create data directory '%s': %s",
			       o->dir, strerror(errno));
		goto fail;
	}
	if ((rc = mdb_env_create(&s->env)) != 0)
		goto lmdb_fail;
	const char *const *names = o->dbs ? o->dbs : db_names;
	unsigned ndbs = o->dbs ? o->ndbs : DB__COUNT;
	if (ndbs > STORE_MAX_DBS) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "too many databases");
		goto fail;
	}
	mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
	mdb_env_set_maxreaders(s->env, o->max_readers ? o->max_readers : 1024);
	/* Keep the larger of the configured size and what the file already has. */
	if ((rc = mdb_env_set_mapsize(s->env, o->map_size ? o->map_size : (size_t)1 << 30)) != 0)
		goto lmdb_fail;
	unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | (o->no_sync ? MDB_NOSYNC : 0) |
			 (o->no_meta_sync ? MDB_NOMETASYNC : 0);
	if ((rc = mdb_env_open(s->env, o->dir, flags, 0640)) != 0)
		goto lmdb_fail;
	int dead = 0;
	mdb_reader_check(s->env, &dead);
	if (dead)
		log_warn("store: cleared %d stale reader slot(s)", dead);

	/* Open every named database once, at start, in one transaction. */
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto lmdb_fail;
	for (unsigned i = 0; i < ndbs; i++)
		if ((rc = mdb_dbi_open(txn, names[i], MDB_CREATE, &s->dbi[i])) != 0)
			goto lmdb_fail;
	/* The log's files carry a format number; the projections are rebuilt
	 * instead of converted, so theirs do not. */
	if (!o->dbs) {
		MDB_val fk = {6, "format"}, fv;
		rc = mdb_get(txn, s->dbi[DB_META], &fk, &fv);
		if (rc == MDB_NOTFOUND) {
			fv.mv_size = 1;
			fv.mv_data = "1";
			rc = mdb_put(txn, s->dbi[DB_META], &fk, &fv, 0);
		} else if (rc == 0 && (fv.mv_size != 1 || *(const char *)fv.mv_data != '1')) {
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
	*out = s;
	return 0;

lmdb_fail:
	ld_errinfo_set(e, rc == ENOSPC ? LD_E(DISK_FULL) : LD_E(STORAGE), NULL,
		       "unable to open the log in '%s': %s", o->dir, mdb_strerror(rc));
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
	MDB_envinfo info;
	mdb_env_info(s->env, &info);
	size_t size = info.me_mapsize * 2;
	while (size < min)
		size *= 2;
	pthread_rwlock_wrlock(&s->resize);
	int rc = mdb_env_set_mapsize(s->env, size);
	pthread_rwlock_unlock(&s->resize);
	if (rc != 0)
		return fail("growing the map", rc);
	log_info("store: map grown to %zu MiB", size >> 20);
	return 0;
}

int store_copy_compact(store *s, const char *path)
{
	int rc = mdb_env_copy2(s->env, path, MDB_CP_COMPACT);
	if (rc != 0)
		return fail("copying the environment", rc);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

static int txn_begin(store *s, MDB_txn *parent, unsigned flags, store_txn **out)
{
	store_txn *t = malloc(sizeof(*t));
	*out = NULL;
	if (!t)
		return LD_E(INTERNAL);
	t->s = s;
	t->read = (flags & MDB_RDONLY) != 0;
	if (t->read)
		pthread_rwlock_rdlock(&s->resize);
	int rc = mdb_txn_begin(s->env, parent, flags, &t->txn);
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
	pthread_rwlock_unlock(&t->s->resize);
	free(t);
}

int store_write_begin(store *s, store_txn **t)
{
	return txn_begin(s, NULL, 0, t);
}

int store_child_begin(store_txn *parent, store_txn **t)
{
	return txn_begin(parent->s, parent->txn, 0, t);
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
	int rc = mdb_txn_commit(t->txn);
	free(t);
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
	int rc = mdb_get(t->txn, t->s->dbi[db], &k, &d);
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
	int rc = mdb_put(t->txn, t->s->dbi[db], &k, &d, 0);
	return rc ? fail("put", rc) : 0;
}

int store_del(store_txn *t, unsigned db, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key};
	int rc = mdb_del(t->txn, t->s->dbi[db], &k, NULL);
	return rc && rc != MDB_NOTFOUND ? fail("del", rc) : 0;
}

int store_empty(store_txn *t, unsigned db)
{
	int rc = mdb_drop(t->txn, t->s->dbi[db], 0);
	return rc ? fail("drop", rc) : 0;
}

int store_append_reserve(store_txn *t, unsigned db, const void *key, size_t klen,
			 size_t vlen, void **out)
{
	MDB_val k = {klen, (void *)key}, d = {vlen, NULL};
	int rc = mdb_put(t->txn, t->s->dbi[db], &k, &d, MDB_APPEND | MDB_RESERVE);
	if (rc)
		return fail("append", rc);
	*out = d.mv_data;
	return 0;
}

size_t store_count(store_txn *t, unsigned db)
{
	MDB_stat st;
	if (mdb_stat(t->txn, t->s->dbi[db], &st) != 0)
		return 0;
	return st.ms_entries;
}

/* ------------------------------------------------------------------ */
/* Cursors                                                             */
/* ------------------------------------------------------------------ */

int store_cursor_open(store_txn *t, unsigned db, store_cursor **c)
{
	MDB_cursor *mc;
	int rc = mdb_cursor_open(t->txn, t->s->dbi[db], &mc);
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
