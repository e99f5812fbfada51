/*
 * sink_pg.c — the PostgreSQL target of ledger-sink (libpq behind one file).
 * See sink.h.
 *
 * Rows are gathered per table in COPY's binary format; commit sends, in one
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

/* COPY's binary format: a header, then per row a 16-bit field count and per
 * field a 32-bit length (-1: NULL) and the value in the type's binary form
 * (bigint: 8 bytes big-endian; text and bytea: the bytes), then -1 as the
 * field count. The server parses nothing: cheaper than text for bytea. */
static const char copy_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

static void put_be(buf *b, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--)
		b->p[b->n++] = (char)(v >> (8 * i));
}

/* One value of a column of type ct; reserve() was called for it. */
static void put_val(buf *b, enum sink_ctype ct, const sink_val *v)
{
	char num[24];
	const char *data = NULL;
	size_t len = 0;
	switch (v->t) {
	case SV_NULL:
		put_be(b, 0xffffffffu, 4);
		return;
	case SV_INT:
		if (ct == SC_INT) {
			put_be(b, 8, 4);
			put_be(b, (uint64_t)v->i, 8);
			return;
		}
		len = (size_t)snprintf(num, sizeof(num), "%lld", (long long)v->i);
		data = num; /* an enum value this build has no name for */
		break;
	case SV_TEXT:
		data = v->s;
		len = strlen(v->s);
		break;
	case SV_BLOB:
		data = v->s;
		len = v->len;
		break;
	}
	put_be(b, len, 4);
	memcpy(b->p + b->n, data, len);
	b->n += len;
}

static size_t val_size(const sink_val *v)
{
	return 4 + (v->t == SV_TEXT ? strlen(v->s) : v->t == SV_BLOB ? v->len : 24);
}

static int pg_row(sink *s, int table, const sink_val *v, char err[SINK_ERRLEN])
{
	buf *b = &s->rows[table];
	const sink_table *tb = &sink_tables[table];
	size_t need = 2 + (b->n ? 0 : sizeof(copy_header));
	for (int c = 0; c < tb->ncols; c++)
		need += val_size(&v[c]);
	if (reserve(b, need + 2)) { /* + the trailer */
		snprintf(err, SINK_ERRLEN, "out of memory");
		return SINK_ERR;
	}
	if (b->n == 0) {
		memcpy(b->p, copy_header, sizeof(copy_header));
		b->n = sizeof(copy_header);
	}
	put_be(b, (uint64_t)tb->ncols, 2);
	for (int c = 0; c < tb->ncols; c++)
		put_val(b, tb->types[c], &v[c]);
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
	snprintf(sql + n, sizeof(sql) - n, ") FROM STDIN (FORMAT binary)");
	PGresult *res = PQexec(s->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		int rc = pg_error(s, res, err, "COPY");
		PQclear(res);
		return rc;
	}
	PQclear(res);
	buf *b = &s->rows[t];
	put_be(b, 0xffff, 2); /* the trailer (pg_row reserved room for it) */
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
