/*
 * sink_pg.c — the PostgreSQL target of ledger-sink (libpq behind one file).
 * See sink.h.
 *
 * Rows are gathered per table as COPY text; commit sends, in one
 * transaction, a COPY ... FROM STDIN per table that has rows and the new
 * checkpoint. Disk full on the server (SQLSTATE 53100) is SINK_FULL; the
 * transaction is rolled back by the server, checkpoint included.
 */
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

typedef struct buf {
	char *p;
	size_t n, cap;
} buf;

struct sink {
	PGconn *conn;
	buf rows[ST__COUNT];
	size_t nrows;
};

static int reserve(buf *b, size_t more)
{
	if (b->n + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 1 << 16;
	while (cap < b->n + more)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int pg_error(sink *s, const PGresult *res, char err[SINK_ERRLEN], const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn);
	snprintf(err, SINK_ERRLEN, "postgresql: %s: %s", what, msg && *msg ? msg : "failed");
	size_t n = strlen(err);
	while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = 0;
	/* 53100 disk_full; 53xxx insufficient resources in general. */
	return state && strcmp(state, "53100") == 0 ? SINK_FULL : SINK_ERR;
}

/* Runs a statement without results: 0 or an error. */
static int exec(sink *s, const char *sql, char err[SINK_ERRLEN], const char *what)
{
	PGresult *res = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : pg_error(s, res, err, what);
	PQclear(res);
	return rc;
}

static void pg_close(sink *s)
{
	if (!s)
		return;
	if (s->conn)
		PQfinish(s->conn);
	for (int i = 0; i < ST__COUNT; i++)
		free(s->rows[i].p);
	free(s);
}

static int pg_open(sink **out, const char *target, char err[SINK_ERRLEN])
{
	char sql[8192];
	sink *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s) {
		snprintf(err, SINK_ERRLEN, "out of memory");
		return SINK_ERR;
	}
	s->conn = PQconnectdb(target);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		snprintf(err, SINK_ERRLEN, "postgresql: cannot connect: %s",
		         PQerrorMessage(s->conn));
		size_t n = strlen(err);
		while (n && err[n - 1] == '\n')
			err[--n] = 0;
		pg_close(s);
		return SINK_ERR;
	}
	sink_schema_sql(sql, sizeof(sql), "BIGINT", "BYTEA");
	int rc = exec(s, "SET client_min_messages = warning", err, "setting up");
	if (!rc)
		rc = exec(s, sql, err, "creating the tables");
	if (!rc)
		rc = exec(s,
		          "INSERT INTO sink_checkpoint (id, last_seq) VALUES (1, 0) "
		          "ON CONFLICT (id) DO NOTHING",
		          err, "creating the checkpoint");
	if (rc) {
		pg_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

static int pg_checkpoint(sink *s, uint64_t *last, char err[SINK_ERRLEN])
{
	PGresult *res = PQexec(s->conn, "SELECT last_seq FROM sink_checkpoint WHERE id = 1");
	int rc = 0;
	*last = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_error(s, res, err, "reading the checkpoint");
	else if (PQntuples(res) == 1)
		*last = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

static const char hexd[] = "0123456789abcdef";

/* One value in COPY text format. */
static int put_val(buf *b, const sink_val *v)
{
	switch (v->t) {
	case SV_NULL:
		if (reserve(b, 2))
			return -1;
		memcpy(b->p + b->n, "\\N", 2);
		b->n += 2;
		return 0;
	case SV_INT:
		if (reserve(b, 24))
			return -1;
		b->n += (size_t)snprintf(b->p + b->n, 24, "%lld", (long long)v->i);
		return 0;
	case SV_TEXT: {
		size_t len = strlen(v->s);
		if (reserve(b, 2 * len))
			return -1;
		for (const char *c = v->s; *c; c++) {
			char e = *c == '\\'   ? '\\'
			         : *c == '\t' ? 't'
			         : *c == '\n' ? 'n'
			         : *c == '\r' ? 'r'
			                      : 0;
			if (e) {
				b->p[b->n++] = '\\';
				b->p[b->n++] = e;
			} else {
				b->p[b->n++] = *c;
			}
		}
		return 0;
	}
	case SV_BLOB:
		/* bytea hex input, its backslash escaped for COPY: \\x0a0b... */
		if (reserve(b, 3 + 2 * v->len))
			return -1;
		memcpy(b->p + b->n, "\\\\x", 3);
		b->n += 3;
		for (size_t i = 0; i < v->len; i++) {
			uint8_t x = (uint8_t)v->s[i];
			b->p[b->n++] = hexd[x >> 4];
			b->p[b->n++] = hexd[x & 15];
		}
		return 0;
	}
	return -1;
}

static int pg_row(sink *s, int table, const sink_val *v, char err[SINK_ERRLEN])
{
	buf *b = &s->rows[table];
	for (int c = 0; c < sink_tables[table].ncols; c++) {
		if ((c && (reserve(b, 1) || (b->p[b->n++] = '\t', 0))) || put_val(b, &v[c])) {
			snprintf(err, SINK_ERRLEN, "out of memory");
			return SINK_ERR;
		}
	}
	if (reserve(b, 1)) {
		snprintf(err, SINK_ERRLEN, "out of memory");
		return SINK_ERR;
	}
	b->p[b->n++] = '\n';
	s->nrows++;
	return 0;
}

static int copy_table(sink *s, int t, char err[SINK_ERRLEN])
{
	const sink_table *tb = &sink_tables[t];
	char sql[1024];
	size_t n = (size_t)snprintf(sql, sizeof(sql), "COPY %s (", tb->name);
	for (int c = 0; c < tb->ncols; c++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s", c ? "," : "", tb->cols[c]);
	snprintf(sql + n, sizeof(sql) - n, ") FROM STDIN");
	PGresult *res = PQexec(s->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		int rc = pg_error(s, res, err, "COPY");
		PQclear(res);
		return rc;
	}
	PQclear(res);
	const buf *b = &s->rows[t];
	for (size_t off = 0; off < b->n;) {
		size_t chunk = b->n - off > (1u << 20) ? 1u << 20 : b->n - off;
		if (PQputCopyData(s->conn, b->p + off, (int)chunk) != 1) {
			PQputCopyEnd(s->conn, "client failed");
			break;
		}
		off += chunk;
	}
	if (PQputCopyEnd(s->conn, NULL) != 1)
		return pg_error(s, NULL, err, "COPY");
	int rc = 0;
	while ((res = PQgetResult(s->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && !rc) {
			char what[64];
			snprintf(what, sizeof(what), "COPY %s", tb->name);
			rc = pg_error(s, res, err, what);
		}
		PQclear(res);
	}
	return rc;
}

static int pg_commit(sink *s, uint64_t last, char err[SINK_ERRLEN])
{
	char sql[128];
	int rc = exec(s, "BEGIN", err, "BEGIN");
	for (int t = 0; !rc && t < ST__COUNT; t++)
		if (s->rows[t].n)
			rc = copy_table(s, t, err);
	snprintf(sql, sizeof(sql), "UPDATE sink_checkpoint SET last_seq = %llu WHERE id = 1",
	         (unsigned long long)last);
	if (!rc)
		rc = exec(s, sql, err, "writing the checkpoint");
	if (!rc)
		rc = exec(s, "COMMIT", err, "COMMIT");
	if (rc) {
		char ignored[SINK_ERRLEN];
		exec(s, "ROLLBACK", ignored, "ROLLBACK");
	}
	for (int t = 0; t < ST__COUNT; t++)
		s->rows[t].n = 0;
	s->nrows = 0;
	return rc;
}

const sink_ops sink_pg_ops = {
    .name = "postgresql",
    .open = pg_open,
    .checkpoint = pg_checkpoint,
    .row = pg_row,
    .commit = pg_commit,
    .close = pg_close,
};
