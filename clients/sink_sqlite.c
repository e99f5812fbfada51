/*
 * sink_sqlite.c — the SQLite target of ledger-sink (libsqlite3 behind one
 * file). See sink.h.
 *
 * WAL journal with synchronous=NORMAL: a commit survives the sink being
 * killed at any point (the WAL is written before COMMIT returns); a power
 * loss may undo the last commits, which the checkpoint undoes with them.
 * One prepared INSERT per table; a batch is one transaction.
 */
#include "sink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

struct sink {
	sqlite3 *db;
	sqlite3_stmt *ins[ST__COUNT];
	sqlite3_stmt *cp_set, *cp_get, *begin, *commit, *rollback;
	int in_txn;
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
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->ins[i]);
	sqlite3_finalize(s->cp_set);
	sqlite3_finalize(s->cp_get);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_close(s->db);
	free(s);
}

static int prepare(sink *s, const char *sql, sqlite3_stmt **st, char err[SINK_ERRLEN])
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
	return rc == SQLITE_OK ? 0 : fail(s, rc, err, "prepare");
}

static int sq_open(sink **out, const char *target, char err[SINK_ERRLEN])
{
	sink *s = calloc(1, sizeof(*s));
	char sql[8192];
	int rc;
	*out = NULL;
	if (!s) {
		snprintf(err, SINK_ERRLEN, "out of memory");
		return SINK_ERR;
	}
	rc = sqlite3_open_v2(
	    target, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, SINK_ERRLEN, "sqlite: cannot open '%s': %s", target,
		         s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		sq_close(s);
		return SINK_ERR;
	}
	sqlite3_busy_timeout(s->db, 5000);
	sink_schema_sql(sql, sizeof(sql), "INTEGER", "BLOB");
	char *msg = NULL;
	rc = sqlite3_exec(s->db,
	                  "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
	                  "PRAGMA cache_size=-65536;",
	                  NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(
		    s->db, "INSERT OR IGNORE INTO sink_checkpoint (id, last_seq) VALUES (1, 0)",
		    NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		int r = fail(s, rc, err, "creating the tables");
		snprintf(err, SINK_ERRLEN, "sqlite: cannot set up '%s': %s", target,
		         msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sq_close(s);
		return r;
	}
	for (int t = 0; t < ST__COUNT; t++) {
		const sink_table *tb = &sink_tables[t];
		size_t n = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (", tb->name);
		for (int c = 0; c < tb->ncols; c++)
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s?", c ? "," : "");
		snprintf(sql + n, sizeof(sql) - n, ")");
		if ((rc = prepare(s, sql, &s->ins[t], err)))
			goto bad;
	}
	if ((rc = prepare(s, "UPDATE sink_checkpoint SET last_seq = ? WHERE id = 1", &s->cp_set,
	                  err)) ||
	    (rc = prepare(s, "SELECT last_seq FROM sink_checkpoint WHERE id = 1", &s->cp_get,
	                  err)) ||
	    (rc = prepare(s, "BEGIN", &s->begin, err)) ||
	    (rc = prepare(s, "COMMIT", &s->commit, err)) ||
	    (rc = prepare(s, "ROLLBACK", &s->rollback, err)))
		goto bad;
	*out = s;
	return 0;
bad:
	sq_close(s);
	return rc;
}

static int step(sink *s, sqlite3_stmt *st, char err[SINK_ERRLEN], const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return fail(s, rc, err, what);
}

static int sq_checkpoint(sink *s, uint64_t *last, char err[SINK_ERRLEN])
{
	int rc = sqlite3_step(s->cp_get);
	*last = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s->cp_get, 0) : 0;
	sqlite3_reset(s->cp_get);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
	                                             : fail(s, rc, err, "reading the checkpoint");
}

static void sq_rollback(sink *s)
{
	if (s->in_txn && !sqlite3_get_autocommit(s->db)) {
		sqlite3_step(s->rollback);
		sqlite3_reset(s->rollback);
	}
	s->in_txn = 0;
}

static int sq_row(sink *s, int table, const sink_val *v, char err[SINK_ERRLEN])
{
	int rc;
	if (!s->in_txn) {
		if ((rc = step(s, s->begin, err, "BEGIN")))
			return rc;
		s->in_txn = 1;
	}
	sqlite3_stmt *st = s->ins[table];
	for (int c = 0; c < sink_tables[table].ncols; c++) {
		switch (v[c].t) {
		case SV_NULL:
			sqlite3_bind_null(st, c + 1);
			break;
		case SV_INT:
			sqlite3_bind_int64(st, c + 1, v[c].i);
			break;
		case SV_TEXT:
			sqlite3_bind_text(st, c + 1, v[c].s, -1, SQLITE_STATIC);
			break;
		case SV_BLOB:
			sqlite3_bind_blob(st, c + 1, v[c].s, (int)v[c].len, SQLITE_STATIC);
			break;
		}
	}
	if ((rc = step(s, st, err, sink_tables[table].name))) {
		sq_rollback(s);
		return rc;
	}
	return 0;
}

static int sq_commit(sink *s, uint64_t last, char err[SINK_ERRLEN])
{
	int rc;
	if (!s->in_txn) {
		if ((rc = step(s, s->begin, err, "BEGIN")))
			return rc;
		s->in_txn = 1;
	}
	sqlite3_bind_int64(s->cp_set, 1, (int64_t)last);
	if ((rc = step(s, s->cp_set, err, "writing the checkpoint")) ||
	    (rc = step(s, s->commit, err, "COMMIT"))) {
		sq_rollback(s);
		return rc;
	}
	s->in_txn = 0;
	return 0;
}

const sink_ops sink_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .checkpoint = sq_checkpoint,
    .row = sq_row,
    .commit = sq_commit,
    .close = sq_close,
};
