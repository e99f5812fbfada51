/*
 * sink_pg.c — the PostgreSQL target of ledger-sink (libpq behind one file).
 * See sink.h.
 *
 * Rows are gathered per table in COPY's binary format and sent by flush (and
 * commit) as one COPY ... FROM STDIN per table; rows that replace the row
 * of their key go through a temporary staging table and one INSERT ... ON
 * CONFLICT DO UPDATE. Queries ask for binary results, so integers, booleans and times
 * are read without parsing text. Disk full on the server (SQLSTATE 53100)
 * is SINK_FULL; a lost connection (the server restarted, the backend was
 * terminated: SQLSTATE 08xxx, 57P01–57P03, or libpq's connection gone) is
 * SINK_LOST, and the caller reconnects.
 */
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define FLUSH_BYTES (32u << 20)       /* rows buffered before they are sent */
#define PG_EPOCH_US 946684800000000LL /* 2000-01-01T00:00:00Z, PostgreSQL's epoch */

typedef struct buf {
	char *p;
	size_t n, cap;
} buf;

struct sink {
	PGconn *conn;
	buf rows[ST__COUNT], stage[ST__COUNT]; /* inserts; an upsert table's replaces */
	size_t buffered;
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

static int lost(sink *s, const char *state)
{
	if (PQstatus(s->conn) == CONNECTION_BAD)
		return 1;
	return state && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	                 strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0);
}

static int pg_error(sink *s, const PGresult *res, char err[SINK_ERRLEN], const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	if (!msg || !*msg)
		msg = PQerrorMessage(s->conn);
	snprintf(err, SINK_ERRLEN, "postgresql: %s: %s", what, msg && *msg ? msg : "failed");
	size_t n = strlen(err);
	while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = 0;
	if (lost(s, state))
		return SINK_LOST;
	return state && strcmp(state, "53100") == 0 ? SINK_FULL : SINK_ERR;
}

static void drop_rows(sink *s)
{
	for (int i = 0; i < ST__COUNT; i++)
		s->rows[i].n = s->stage[i].n = 0;
	s->buffered = 0;
}

/* Statements without parameters or results (several allowed). */
static int run(sink *s, const char *sql, char err[SINK_ERRLEN], const char *what)
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
	for (int i = 0; i < ST__COUNT; i++) {
		free(s->rows[i].p);
		free(s->stage[i].p);
	}
	free(s);
}

static int pg_open(sink **out, const char *target, char err[SINK_ERRLEN])
{
	static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {target, "ledger-sink", NULL};
	sink *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s) {
		snprintf(err, SINK_ERRLEN, "out of memory");
		return SINK_ERR;
	}
	s->conn = PQconnectdbParams(keys, vals, 1);
	/* Whether the server accepts connections, asked after each refusal. */
	PGPing ping = PQPING_OK;
	if (PQstatus(s->conn) != CONNECTION_OK &&
	    (ping = PQpingParams(keys, vals, 1)) == PQPING_OK) {
		/* Refused by a server that accepts connections now: one that was
		 * still starting when asked ("the database system is starting
		 * up") has since come up, and is asked again; a refusal of this
		 * connection (password, database) is refused again. */
		PQfinish(s->conn);
		s->conn = PQconnectdbParams(keys, vals, 1);
		if (PQstatus(s->conn) != CONNECTION_OK)
			ping = PQpingParams(keys, vals, 1);
	}
	if (PQstatus(s->conn) != CONNECTION_OK) {
		snprintf(err, SINK_ERRLEN, "postgresql: cannot connect: %s",
		         s->conn ? PQerrorMessage(s->conn) : "out of memory");
		size_t n = strlen(err);
		while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
			err[--n] = 0;
		/* A server that is not there, or not accepting connections yet
		 * (starting, shutting down), is waited for; a refusal (password,
		 * database) is final. */
		pg_close(s);
		return ping == PQPING_NO_RESPONSE || ping == PQPING_REJECT ? SINK_LOST : SINK_ERR;
	}
	int rc = run(s, "SET client_min_messages = warning", err, "setting up");
	if (rc) {
		pg_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Statements and queries                                              */
/* ------------------------------------------------------------------ */

typedef struct params {
	const char *v[16];
	char num[16][24];
} params;

static int set_params(params *p, const sink_val *vals, int n, char err[SINK_ERRLEN])
{
	if (n > 16) {
		snprintf(err, SINK_ERRLEN, "postgresql: too many parameters");
		return SINK_ERR;
	}
	for (int i = 0; i < n; i++) {
		switch (vals[i].t) {
		case SV_NULL:
			p->v[i] = NULL;
			break;
		case SV_INT:
			snprintf(p->num[i], sizeof(p->num[i]), "%lld", (long long)vals[i].i);
			p->v[i] = p->num[i];
			break;
		default:
			p->v[i] = vals[i].s;
			break;
		}
	}
	return 0;
}

static int pg_exec(sink *s, const char *sql, const sink_val *vals, int n, char err[SINK_ERRLEN])
{
	if (n == 0)
		return run(s, sql, err, "exec");
	params p;
	int rc = set_params(&p, vals, n, err);
	if (rc)
		return rc;
	PGresult *res = PQexecParams(s->conn, sql, n, NULL, p.v, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : pg_error(s, res, err, "exec");
	PQclear(res);
	return rc;
}

static int64_t get_be(const char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | (uint8_t)p[i];
	if (n < 8 && n > 0 && (v >> (8 * n - 1)) & 1) /* sign-extend */
		v |= ~0ULL << (8 * n);
	return (int64_t)v;
}

/* The rows of a binary result, read as types, to fn. */
static int result_rows(const PGresult *res, const enum sink_ctype *types, int ncols, sink_row_fn fn,
                       void *arg)
{
	sink_val v[SINK_MAX_COLS];
	int nr = PQntuples(res), nc = PQnfields(res);
	if (ncols > nc)
		ncols = nc;
	for (int r = 0; r < nr; r++) {
		for (int c = 0; c < ncols && c < SINK_MAX_COLS; c++) {
			v[c] = sink_null();
			if (PQgetisnull(res, r, c))
				continue;
			const char *d = PQgetvalue(res, r, c);
			int len = PQgetlength(res, r, c);
			switch (types[c]) {
			case SC_INT:
			case SC_BOOL:
				v[c] = sink_int(len <= 8 ? get_be(d, len) : 0);
				break;
			case SC_TIME:
				v[c] = sink_int(len == 8 ? get_be(d, 8) + PG_EPOCH_US : 0);
				break;
			case SC_TEXT: /* binary text is followed by a NUL (libpq) */
				v[c] = (sink_val){.t = SV_TEXT, .s = d};
				break;
			case SC_BLOB:
				v[c] = (sink_val){.t = SV_BLOB, .s = d, .len = (size_t)len};
				break;
			default:
				break;
			}
		}
		int rc = fn(arg, v);
		if (rc)
			return rc;
	}
	return 0;
}

static int pg_query(sink *s, const char *sql, const sink_val *vals, int n,
                    const enum sink_ctype *types, int ncols, sink_row_fn fn, void *arg,
                    char err[SINK_ERRLEN])
{
	params p;
	int rc = set_params(&p, vals, n, err);
	if (rc)
		return rc;
	PGresult *res = PQexecParams(s->conn, sql, n, NULL, p.v, NULL, NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_error(s, res, err, "query");
	else
		rc = result_rows(res, types, ncols, fn, arg);
	PQclear(res);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Rows: COPY's binary format                                           */
/* ------------------------------------------------------------------ */

/* A header, then per row a 16-bit field count and per field a 32-bit length
 * (-1: NULL) and the value in the type's binary form (bigint: 8 bytes
 * big-endian; boolean: 1 byte; timestamptz: µs since 2000 as bigint; text and
 * bytea: the bytes), then -1 as the field count. The server parses nothing. */
static const char copy_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

static void put_be(buf *b, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--)
		b->p[b->n++] = (char)(v >> (8 * i));
}

static void put_bytes(buf *b, const char *data, size_t len)
{
	put_be(b, len, 4);
	memcpy(b->p + b->n, data, len);
	b->n += len;
}

/* One value of a column of type ct; reserve() was called for it. */
static void put_val(buf *b, enum sink_ctype ct, const sink_val *v)
{
	char num[24];
	switch (v->t) {
	case SV_NULL:
		put_be(b, 0xffffffffu, 4);
		return;
	case SV_INT:
		if (ct == SC_BOOL) {
			put_be(b, 1, 4);
			put_be(b, v->i != 0, 1);
		} else if (ct == SC_INT || ct == SC_TIME) {
			put_be(b, 8, 4);
			put_be(b, (uint64_t)(ct == SC_TIME ? v->i - PG_EPOCH_US : v->i), 8);
		} else { /* an enum value this build has no name for */
			size_t len = (size_t)snprintf(num, sizeof(num), "%lld", (long long)v->i);
			put_bytes(b, num, len);
		}
		return;
	case SV_TEXT:
		put_bytes(b, v->s, strlen(v->s));
		return;
	case SV_BLOB:
		put_bytes(b, v->s, v->len);
		return;
	}
}

static size_t val_size(const sink_val *v)
{
	return 4 + (v->t == SV_TEXT ? strlen(v->s) : v->t == SV_BLOB ? v->len : 24);
}

static int pg_flush(sink *s, char err[SINK_ERRLEN]);

static int pg_row(sink *s, int table, const sink_val *v, int replace, char err[SINK_ERRLEN])
{
	const sink_table *tb = &sink_tables[table];
	buf *b = replace && tb->upsert ? &s->stage[table] : &s->rows[table];
	size_t need = 2 + (b->n ? 0 : sizeof(copy_header));
	for (int c = 0; c < tb->ncols; c++)
		need += val_size(&v[c]);
	if (reserve(b, need + 2)) { /* + the trailer */
		snprintf(err, SINK_ERRLEN, "out of memory");
		return SINK_ERR;
	}
	size_t before = b->n;
	if (b->n == 0) {
		memcpy(b->p, copy_header, sizeof(copy_header));
		b->n = sizeof(copy_header);
	}
	put_be(b, (uint64_t)tb->ncols, 2);
	for (int c = 0; c < tb->ncols; c++)
		put_val(b, tb->cols[c].type, &v[c]);
	s->buffered += b->n - before;
	return s->buffered >= FLUSH_BYTES ? pg_flush(s, err) : 0;
}

/* COPY the rows b holds (of table t) into `into`. */
static int copy_rows(sink *s, int t, buf *b, const char *into, char err[SINK_ERRLEN])
{
	const sink_table *tb = &sink_tables[t];
	char sql[1024];
	size_t n = (size_t)snprintf(sql, sizeof(sql), "COPY %s (", into);
	for (int c = 0; c < tb->ncols; c++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s", c ? "," : "",
		                      tb->cols[c].name);
	snprintf(sql + n, sizeof(sql) - n, ") FROM STDIN (FORMAT binary)");
	PGresult *res = PQexec(s->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		int rc = pg_error(s, res, err, "COPY");
		PQclear(res);
		return rc;
	}
	PQclear(res);
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

/* An upsert table's rows: staged, then merged over the rows of their keys. */
static int upsert_rows(sink *s, int t, char err[SINK_ERRLEN])
{
	const sink_table *tb = &sink_tables[t];
	char stage[96], sql[4096];
	snprintf(stage, sizeof(stage), "sink_stage_%s", tb->name);
	snprintf(sql, sizeof(sql), "CREATE TEMP TABLE IF NOT EXISTS %s (LIKE %s)", stage, tb->name);
	int rc = run(s, sql, err, "staging");
	if (rc || (rc = copy_rows(s, t, &s->stage[t], stage, err)))
		return rc;
	size_t n = (size_t)snprintf(
	    sql, sizeof(sql), "INSERT INTO %s SELECT * FROM %s ON CONFLICT (", tb->name, stage);
	for (int c = 0; c < tb->nkey; c++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s", c ? ", " : "",
		                      tb->cols[c].name);
	n += (size_t)snprintf(sql + n, sizeof(sql) - n, ") DO UPDATE SET ");
	for (int c = tb->nkey; c < tb->ncols; c++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s = EXCLUDED.%s",
		                      c > tb->nkey ? ", " : "", tb->cols[c].name, tb->cols[c].name);
	snprintf(sql + n, sizeof(sql) - n, "; DELETE FROM %s", stage);
	return run(s, sql, err, tb->name);
}

static int pg_flush(sink *s, char err[SINK_ERRLEN])
{
	int rc = 0;
	/* New rows, then the replaces (a replaced row may be new in this
	 * transaction, never the other way round). */
	for (int t = 0; t < ST__COUNT && !rc; t++) {
		if (s->rows[t].n)
			rc = copy_rows(s, t, &s->rows[t], sink_tables[t].name, err);
		s->rows[t].n = 0;
	}
	for (int t = 0; t < ST__COUNT && !rc; t++) {
		if (s->stage[t].n)
			rc = upsert_rows(s, t, err);
		s->stage[t].n = 0;
	}
	if (rc)
		drop_rows(s);
	s->buffered = 0;
	return rc;
}

static int pg_begin(sink *s, int lock, char err[SINK_ERRLEN])
{
	drop_rows(s);
	int rc = run(s, "BEGIN", err, "BEGIN");
	/* Sinks of several sources may share the database: one at a time
	 * changes its schema. */
	if (!rc && lock)
		rc = run(s, "SELECT pg_advisory_xact_lock(7450745)", err, "locking the schema");
	return rc;
}

static int pg_commit(sink *s, char err[SINK_ERRLEN])
{
	int rc = pg_flush(s, err);
	if (!rc)
		rc = run(s, "COMMIT", err, "COMMIT");
	return rc;
}

static void pg_rollback(sink *s)
{
	drop_rows(s);
	if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
		PGresult *res = PQexec(s->conn, "ROLLBACK");
		PQclear(res);
	}
}

/* A text array literal of keys: {"a","b"} (quotes and backslashes escaped). */
static char *array_literal(const char *const *keys, size_t n)
{
	size_t len = 3;
	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(keys[i]) + 3;
	char *p = malloc(len), *q = p;
	if (!p)
		return NULL;
	*q++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*q++ = ',';
		*q++ = '"';
		for (const char *k = keys[i]; *k; k++) {
			if (*k == '"' || *k == '\\')
				*q++ = '\\';
			*q++ = *k;
		}
		*q++ = '"';
	}
	*q++ = '}';
	*q = 0;
	return p;
}

static int pg_load(sink *s, int table, const char *source, int col, const char *const *keys,
                   size_t n, int open_only, sink_row_fn fn, void *arg, char err[SINK_ERRLEN])
{
	const sink_table *tb = &sink_tables[table];
	enum sink_ctype types[SINK_MAX_COLS];
	char sql[256];
	if (!n)
		return 0;
	char *arr = array_literal(keys, n);
	if (!arr) {
		snprintf(err, SINK_ERRLEN, "out of memory");
		return SINK_ERR;
	}
	snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE source = $1 AND %s = ANY($2::text[])%s",
	         tb->name, tb->cols[col].name, open_only ? " AND ended_at IS NULL" : "");
	for (int c = 0; c < tb->ncols; c++)
		types[c] = tb->cols[c].type;
	sink_val p[2] = {sink_text(source), sink_text(arr)};
	int rc = pg_query(s, sql, p, 2, types, tb->ncols, fn, arg, err);
	free(arr);
	return rc;
}

const sink_ops sink_pg_ops = {
    .name = "postgresql",
    .types = {[SC_INT] = "BIGINT",
              [SC_TEXT] = "TEXT",
              [SC_BLOB] = "BYTEA",
              [SC_TIME] = "TIMESTAMPTZ",
              [SC_BOOL] = "BOOLEAN"},
    .has_table_sql = "SELECT 1 FROM information_schema.tables WHERE table_schema = "
                     "current_schema() AND table_name = $1",
    .has_column_sql = "SELECT 1 FROM information_schema.columns WHERE table_schema = "
                      "current_schema() AND table_name = $1 AND column_name = $2",
    .has_index_sql = "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND "
                     "indexname = $1",
    .table_options = "",
    .in_ints = "= ANY ($2::bigint[])",
    .ints_brackets = "{}",
    /* events without its raw bytes, hashes and ids: sampling those costs
     * most of the time and helps no plan. */
    .analyze_sql =
        "ANALYZE events (source, seq, kind, stream, version, occurred_at, recorded_at, actor, "
        "voided_by, amended_by), corrections, organisations, org_tree, members, memberships, "
        "affiliations, transfers, dues, services, activities, funds, stations, workforce",
    /* A commit does not wait for its WAL to reach the disk: a crash of
     * the server may take back the last commits, each whole, checkpoint
     * included (never corrupts), and the sink reloads them. */
    .first_load_sql = "SET synchronous_commit = off",
    .loaded_sql = "RESET synchronous_commit",
    .lock_row = " FOR UPDATE",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec = pg_exec,
    .query = pg_query,
    .row = pg_row,
    .flush = pg_flush,
    .load = pg_load,
};
