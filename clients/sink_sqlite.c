/*
 * sink_sqlite.c — the SQLite target of ledger-sink (libsqlite3 behind one
 * file). See sink.h.
 *
 * WAL journal with synchronous=NORMAL: a commit survives the sink being
 * killed at any point (the WAL is written before COMMIT returns); a power
 * loss may undo the last commits, which the checkpoint undoes with them.
 * Rows are written as they come (no buffering: flush has nothing to do);
 * statements are prepared once and kept. Times are ISO 8601 text in UTC.
 */
#include "sink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define STMT_CACHE 96

struct sink {
	sqlite3 *db;
	sqlite3_stmt *ins[ST__COUNT], *ups[ST__COUNT]; /* insert; insert or replace */
	struct cached {
		char *sql;
		sqlite3_stmt *st;
	} cache[STMT_CACHE];
	int ncache;
};

static int fail(sink *s, int rc, char err[SINK_ERRLEN], const char *what)
{
	int ext = s->db ? sqlite3_extended_errcode(s->db) : rc;
	int full = rc == SQLITE_FULL || (rc & 0xff) == SQLITE_FULL ||
	           ((ext & 0xff) == SQLITE_IOERR && sqlite3_system_errno(s->db) == ENOSPC);
	snprintf(err, SINK_ERRLEN, "sqlite: %s: %s", what,
	         s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	return full ? SINK_FULL : SINK_ERR;
}

static void sq_close(sink *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST__COUNT; i++) {
		sqlite3_finalize(s->ins[i]);
		sqlite3_finalize(s->ups[i]);
	}
	for (int i = 0; i < s->ncache; i++) {
		sqlite3_finalize(s->cache[i].st);
		free(s->cache[i].sql);
	}
	sqlite3_close(s->db);
	free(s);
}

static int sq_open(sink **out, const char *target, char err[SINK_ERRLEN])
{
	sink *s = calloc(1, sizeof(*s));
	char *msg = NULL;
	*out = NULL;
	if (!s) {
		snprintf(err, SINK_ERRLEN, "out of memory");
		return SINK_ERR;
	}
	/* No memory statistics: counting them takes a global mutex at every
	 * allocation. Only before SQLite's first use (later: refused, and
	 * harmless). */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	int rc = sqlite3_open_v2(
	    target, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		/* Another writer of the file (a sink of another source) holds the
		 * lock for a batch at most: wait for it. */
		sqlite3_busy_timeout(s->db, 60000);
		rc = sqlite3_exec(s->db,
		                  "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; "
		                  "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;",
		                  NULL, NULL, &msg);
	}
	if (rc != SQLITE_OK) {
		int r = fail(s, rc, err, "open");
		snprintf(err, SINK_ERRLEN, "sqlite: cannot open '%s': %s", target,
		         msg     ? msg
		         : s->db ? sqlite3_errmsg(s->db)
		                 : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sq_close(s);
		return r;
	}
	*out = s;
	return 0;
}

/* A prepared statement for sql ($1 … $9 become ?1 … ?9), kept. */
static int prepare(sink *s, const char *sql, sqlite3_stmt **st, char err[SINK_ERRLEN])
{
	for (int i = 0; i < s->ncache; i++)
		if (strcmp(s->cache[i].sql, sql) == 0) {
			*st = s->cache[i].st;
			return 0;
		}
	char *text = strdup(sql);
	if (!text) {
		snprintf(err, SINK_ERRLEN, "out of memory");
		return SINK_ERR;
	}
	for (char *p = text; *p; p++)
		if (*p == '$' && p[1] >= '1' && p[1] <= '9')
			*p = '?';
	int rc = sqlite3_prepare_v2(s->db, text, -1, st, NULL);
	free(text);
	if (rc != SQLITE_OK)
		return fail(s, rc, err, "prepare");
	if (s->ncache == STMT_CACHE) { /* full: the oldest goes */
		sqlite3_finalize(s->cache[0].st);
		free(s->cache[0].sql);
		memmove(&s->cache[0], &s->cache[1], (STMT_CACHE - 1) * sizeof(s->cache[0]));
		s->ncache--;
	}
	if (!(s->cache[s->ncache].sql = strdup(sql))) {
		sqlite3_finalize(*st);
		snprintf(err, SINK_ERRLEN, "out of memory");
		return SINK_ERR;
	}
	s->cache[s->ncache++].st = *st;
	return 0;
}

/* Binds v to parameter i; a time is formatted into t, which must last
 * until the statement has been stepped (bound without a copy). */
static void bind(sqlite3_stmt *st, int i, enum sink_ctype ct, const sink_val *v,
                 char t[SINK_TIME_LEN])
{
	switch (v->t) {
	case SV_NULL:
		sqlite3_bind_null(st, i);
		break;
	case SV_INT:
		if (ct == SC_TIME) {
			sink_time_format(v->i, t);
			sqlite3_bind_text(st, i, t, SINK_TIME_LEN - 1, SQLITE_STATIC);
		} else {
			sqlite3_bind_int64(st, i, v->i);
		}
		break;
	case SV_TEXT:
		sqlite3_bind_text(st, i, v->s, -1, SQLITE_STATIC);
		break;
	case SV_BLOB:
		sqlite3_bind_blob(st, i, v->s, (int)v->len, SQLITE_STATIC);
		break;
	}
}

static void bind_params(sqlite3_stmt *st, const sink_val *params, int n)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (int i = 0; i < n; i++)
		bind(st, i + 1, SC_INT, &params[i], NULL); /* SC_INT: no time */
}

static int sq_exec(sink *s, const char *sql, const sink_val *params, int n, char err[SINK_ERRLEN])
{
	if (n == 0) {
		char *msg = NULL;
		int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			int r = fail(s, rc, err, "exec");
			snprintf(err, SINK_ERRLEN, "sqlite: %s", msg ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			return r;
		}
		return 0;
	}
	sqlite3_stmt *st;
	int rc = prepare(s, sql, &st, err);
	if (rc)
		return rc;
	bind_params(st, params, n);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, err, "exec");
}

/* Steps st, handing each row to fn read as types. */
static int rows(sink *s, sqlite3_stmt *st, const enum sink_ctype *types, int ncols, sink_row_fn fn,
                void *arg, char err[SINK_ERRLEN])
{
	sink_val v[SINK_MAX_COLS];
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < ncols && c < SINK_MAX_COLS; c++) {
			int ty = sqlite3_column_type(st, c);
			v[c] = sink_null();
			if (ty == SQLITE_NULL)
				continue;
			switch (types[c]) {
			case SC_TIME:
				if (ty == SQLITE_TEXT) {
					int64_t us;
					if (sink_time_parse(
					        (const char *)sqlite3_column_text(st, c), &us) == 0)
						v[c] = sink_int(us);
				} else {
					v[c] = sink_int(sqlite3_column_int64(st, c));
				}
				break;
			case SC_INT:
			case SC_BOOL:
				v[c] = sink_int(sqlite3_column_int64(st, c));
				break;
			case SC_TEXT:
				v[c] = (sink_val){.t = SV_TEXT,
				                  .s = (const char *)sqlite3_column_text(st, c)};
				break;
			case SC_BLOB:
				v[c] = (sink_val){.t = SV_BLOB,
				                  .s = sqlite3_column_blob(st, c),
				                  .len = (size_t)sqlite3_column_bytes(st, c)};
				break;
			default:
				break;
			}
		}
		int r = fn(arg, v);
		if (r) {
			sqlite3_reset(st);
			return r;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, err, "query");
}

static int sq_query(sink *s, const char *sql, const sink_val *params, int n,
                    const enum sink_ctype *types, int ncols, sink_row_fn fn, void *arg,
                    char err[SINK_ERRLEN])
{
	sqlite3_stmt *st;
	int rc = prepare(s, sql, &st, err);
	if (rc)
		return rc;
	bind_params(st, params, n);
	return rows(s, st, types, ncols, fn, arg, err);
}

static int sq_begin(sink *s, int lock, char err[SINK_ERRLEN])
{
	(void)lock; /* BEGIN IMMEDIATE takes the file's write lock anyway */
	return sq_exec(s, "BEGIN IMMEDIATE", NULL, 0, err);
}

static int sq_commit(sink *s, char err[SINK_ERRLEN])
{
	return sq_exec(s, "COMMIT", NULL, 0, err);
}

static void sq_rollback(sink *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sq_row(sink *s, int table, const sink_val *v, int replace, char err[SINK_ERRLEN])
{
	const sink_table *tb = &sink_tables[table];
	sqlite3_stmt **st = replace && tb->upsert ? &s->ups[table] : &s->ins[table];
	int rc;
	if (!*st) {
		/* An upsert updates in place (only the indexes of changed columns
		 * move), where REPLACE would delete and insert. */
		char sql[4096];
		size_t n = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (", tb->name);
		for (int c = 0; c < tb->ncols; c++)
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s?", c ? "," : "");
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ")");
		if (st == &s->ups[table]) {
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, " ON CONFLICT (");
			for (int c = 0; c < tb->nkey; c++)
				n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s",
				                      c ? ", " : "", tb->cols[c].name);
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, ") DO UPDATE SET ");
			for (int c = tb->nkey; c < tb->ncols; c++)
				n += (size_t)snprintf(
				    sql + n, sizeof(sql) - n, "%s%s = excluded.%s",
				    c > tb->nkey ? ", " : "", tb->cols[c].name, tb->cols[c].name);
		}
		if ((rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL)) != SQLITE_OK)
			return fail(s, rc, err, "prepare");
	}
	char times[SINK_MAX_COLS][SINK_TIME_LEN];
	for (int c = 0; c < tb->ncols; c++)
		bind(*st, c + 1, tb->cols[c].type, &v[c], times[c]);
	rc = sqlite3_step(*st);
	sqlite3_reset(*st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, err, tb->name);
}

static int sq_flush(sink *s, char err[SINK_ERRLEN])
{
	(void)s;
	(void)err;
	return 0;
}

static int sq_load(sink *s, int table, const char *source, int col, const char *const *keys,
                   size_t n, int open_only, sink_row_fn fn, void *arg, char err[SINK_ERRLEN])
{
	const sink_table *tb = &sink_tables[table];
	enum sink_ctype types[SINK_MAX_COLS];
	char sql[256];
	sqlite3_stmt *st;
	snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE source = $1 AND %s = $2%s", tb->name,
	         tb->cols[col].name, open_only ? " AND ended_at IS NULL" : "");
	int rc = prepare(s, sql, &st, err);
	if (rc)
		return rc;
	for (int c = 0; c < tb->ncols; c++)
		types[c] = tb->cols[c].type;
	for (size_t i = 0; i < n && !rc; i++) {
		sink_val p[2] = {sink_text(source), sink_text(keys[i])};
		bind_params(st, p, 2);
		rc = rows(s, st, types, tb->ncols, fn, arg, err);
	}
	return rc;
}

const sink_ops sink_sqlite_ops = {
    .name = "sqlite",
    .types = {[SC_INT] = "INTEGER",
              [SC_TEXT] = "TEXT",
              [SC_BLOB] = "BLOB",
              [SC_TIME] = "TEXT",
              [SC_BOOL] = "INTEGER"},
    .has_table_sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1",
    .has_column_sql = "SELECT 1 FROM pragma_table_info($1) WHERE name = $2",
    .has_index_sql = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = $1",
    .table_options = " WITHOUT ROWID",
    .in_ints = "IN (SELECT value FROM json_each($2))",
    .ints_brackets = "[]",
    .analyze_sql = "PRAGMA analysis_limit = 1000; ANALYZE",
    /* A first load keeps WAL with synchronous=NORMAL: its commits do not
     * wait for the disk already (only checkpoints sync), and a power cut
     * cannot corrupt the file. OFF, which can, measured no faster (183k
     * events, 3 alternated runs: 2.42–2.53 s against 2.16–2.27). At the
     * end a checkpoint writes the WAL into the file and syncs it. */
    .first_load_sql = NULL,
    .loaded_sql = "PRAGMA wal_checkpoint(TRUNCATE)",
    .lock_row = "",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .exec = sq_exec,
    .query = sq_query,
    .row = sq_row,
    .flush = sq_flush,
    .load = sq_load,
};
