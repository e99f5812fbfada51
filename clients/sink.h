/*
 * sink.h — loading the event stream into an analyst's database (ledger-sink):
 * the schema, the values, and the table of operations each database target
 * implements. The loader that turns events into rows is sink_load.h.
 *
 * Targets: SQLite (sink_sqlite.c, a file path) and PostgreSQL (sink_pg.c, a
 * libpq connection string), each behind one file. docs/SINK.md describes the
 * tables for analysts; in short:
 *
 *   events          every event as stored (raw), with voided_by / amended_by
 *   corrections     the voids and amendments
 *   organisations   one row per organisation, as in effect now
 *   org_tree        (ancestor, organisation, distance): subtrees by a join
 *   members         one row per member: the current view
 *   memberships     one row per join: its organisation, start and end
 *   affiliations    one row per affiliation: organisation, start and end
 *   transfers, dues, services, activities, funds, stations, workforce,
 *   releases        one row per event in effect (voids removed, amendments
 *                   applied, keyed by the seq of the original event); a
 *                   release (the first step of a transfer in two steps) is
 *                   pending while no transfers row names it (release_seq)
 *   sink_checkpoint per source: the last seq loaded and its hash
 *   sink_schema     the schema's version
 *   sink_redo       members whose rows an upgrade of the schema left to be
 *                   folded again (by their source's next sink)
 *
 * Every table has a `source` column first (ledger-sink --source), so that the
 * ledgers of several provinces load into one database; every key starts with
 * it. Enums are stored by name ("DELIVERY_RIDER"), money in fen, periods as
 * YYYYMM, times as timestamptz (PostgreSQL) or ISO 8601 text in UTC with its
 * offset (SQLite: "2025-03-01T08:30:00.000000+00:00", which sorts in time
 * order and which SQLite's date functions read).
 */
#ifndef LD_SINK_H
#define LD_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Results of the operations: 0, or a negative LD_E() code (proto/error.h):
 *  SINK_ERR   anything else; the message says what;
 *  SINK_FULL  the database's disk is full: nothing of the transaction was
 *             written;
 *  SINK_LOST  the connection to the database was lost (server restarted,
 *             backend terminated): the transaction in flight may or may not
 *             have been committed; reconnect and read the checkpoint. */
#define SINK_ERR  LD_E(STORAGE)
#define SINK_FULL LD_E(DISK_FULL)
#define SINK_LOST LD_E(UNAVAILABLE)

#define SINK_ERRLEN         512
#define SINK_MAX_COLS       32
#define SINK_SCHEMA_VERSION 3

/* Column types. SC_TIME is µs since the epoch in C; SC_BOOL 0 or 1. */
enum sink_ctype { SC_INT, SC_TEXT, SC_BLOB, SC_TIME, SC_BOOL, SC__COUNT };

/* A value: NULL, an integer (SC_INT, SC_TIME, SC_BOOL columns, and an enum
 * value a text column has no name for), text (NUL-terminated) or bytes. */
enum sink_vtype { SV_NULL, SV_INT, SV_TEXT, SV_BLOB };
typedef struct sink_val {
	enum sink_vtype t;
	int64_t i;
	const char *s; /* SV_TEXT, SV_BLOB */
	size_t len;    /* SV_BLOB */
} sink_val;

static inline sink_val sink_null(void)
{
	return (sink_val){.t = SV_NULL};
}
static inline sink_val sink_int(int64_t i)
{
	return (sink_val){.t = SV_INT, .i = i};
}
/* Text; NULL or "" is SQL NULL. */
static inline sink_val sink_text(const char *s)
{
	return s && *s ? (sink_val){.t = SV_TEXT, .s = s} : sink_null();
}
static inline sink_val sink_opt(int has, int64_t i)
{
	return has ? sink_int(i) : sink_null();
}

/* ------------------------------------------------------------------ */
/* The schema (sink_schema.c)                                          */
/* ------------------------------------------------------------------ */

typedef struct sink_col {
	const char *name;
	enum sink_ctype type;
} sink_col;

typedef struct sink_table {
	const char *name;
	int ncols;
	const sink_col *cols; /* cols[0] is source */
	int nkey;             /* the primary key: the first nkey columns */
	int upsert;           /* a row may replace the row of its key (else: inserts only) */
	/* Indexes, each on (source, <these columns>), NULL-terminated: those
	 * the loader needs once it follows (a stream's events, a member's
	 * rows), and the analysts'. Both are made by sink_schema_finish, once
	 * the first load has caught up: keeping them up to date during a
	 * large load costs far more than building them at its end. */
	const char *const *loader_indexes, *const *indexes;
} sink_table;

enum {
	ST_EVENTS,
	ST_CORRECTIONS,
	ST_ORGANISATIONS,
	ST_ORG_TREE,
	ST_MEMBERS,
	ST_MEMBERSHIPS,
	ST_AFFILIATIONS,
	ST_TRANSFERS,
	ST_DUES,
	ST_SERVICES,
	ST_ACTIVITIES,
	ST_FUNDS,
	ST_STATIONS,
	ST_WORKFORCE,
	ST_RELEASES,
	ST__COUNT
};
extern const sink_table sink_tables[ST__COUNT];

/* The index of column `name` of table t, or -1. */
int sink_col_index(int t, const char *name);

/* µs since the epoch as "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (33 bytes with
 * the NUL), and back (any offset "+HH:MM"/"-HH:MM"/"Z"; 0 or -1). */
#define SINK_TIME_LEN 33
void sink_time_format(int64_t us, char out[SINK_TIME_LEN]);
int sink_time_parse(const char *s, int64_t *us);

/* Does s name a source: 1–64 of [A-Za-z0-9._:-]? */
int sink_source_valid(const char *s);

/* ------------------------------------------------------------------ */
/* The targets                                                         */
/* ------------------------------------------------------------------ */

typedef struct sink sink;

/* A row of a query's answer; a non-zero return stops the query, which then
 * returns that value. The values last until the function returns. */
typedef int (*sink_row_fn)(void *arg, const sink_val *vals);

typedef struct sink_ops {
	const char *name; /* "sqlite", "postgresql" */
	/* The dialect: the SQL type of each column type, and two catalogue
	 * queries answering a row when table $1 exists / table $1 has a column
	 * $2 (in the schema the connection works in). */
	const char *types[SC__COUNT];
	const char *has_table_sql, *has_column_sql;
	/* A query answering a row when index $1 exists. */
	const char *has_index_sql;
	/* What follows CREATE TABLE's column list (SQLite: WITHOUT ROWID, so
	 * that a table is one b-tree, its primary key's, instead of two). */
	const char *table_options;
	/* "the value is one of the integers of parameter $2", after a column:
	 * "seq %s" with this; $2 is the integers between the two characters of
	 * ints_brackets, separated by commas ("[1,2,3]": a JSON array for
	 * SQLite; "{1,2,3}": an array literal for PostgreSQL, read once, where
	 * an expression of $2 would be read again for every row a scan
	 * meets). */
	const char *in_ints, *ints_brackets;
	/* After a SELECT of one row: locks it until the transaction ends ("" when
	 * the transaction's own lock serialises writers, as SQLite's does). */
	const char *lock_row;
	/* Refreshes the planner's statistics of the sink's tables (after a
	 * load: without them SQLite plans the example joins badly). */
	const char *analyze_sql;
	/* A first load's settings, for the connection (sink_loader_open; NULL:
	 * none), and the normal ones again once it has caught up and the
	 * indexes are made (sink_loader_indexed): PostgreSQL's commits do not
	 * wait for the disk meanwhile. A killed sink loses nothing committed
	 * either way; a crash of the server during a first load may take back
	 * its last commits, each whole (docs/SINK.md, "The first load"). */
	const char *first_load_sql, *loaded_sql;

	/* Connects (SQLite: opens or creates the file). The schema is the
	 * caller's business (sink_schema_open). */
	int (*open)(sink **out, const char *target, char err[SINK_ERRLEN]);
	void (*close)(sink *s);

	/* Begins a transaction, taking the database's write lock (SQLite:
	 * BEGIN IMMEDIATE; PostgreSQL: BEGIN and, when lock is set, a
	 * transaction-level advisory lock that serialises schema changes between
	 * sinks sharing the database). */
	int (*begin)(sink *s, int lock, char err[SINK_ERRLEN]);
	/* Writes what is buffered (flush) and commits; or drops everything of
	 * the transaction. */
	int (*commit)(sink *s, char err[SINK_ERRLEN]);
	void (*rollback)(sink *s);

	/* A statement without results. Parameters are $1, $2 ... (text or
	 * integers); with none, sql may hold several statements. */
	int (*exec)(sink *s, const char *sql, const sink_val *params, int nparams,
	            char err[SINK_ERRLEN]);
	/* A query: fn gets each row, its ncols values read as types[]. */
	int (*query)(sink *s, const char *sql, const sink_val *params, int nparams,
	             const enum sink_ctype *types, int ncols, sink_row_fn fn, void *arg,
	             char err[SINK_ERRLEN]);

	/* Adds a row (every column of the table, in order) to the open
	 * transaction: an insert (no row of its key may exist), or, with
	 * replace (upsert tables only), an insert or a replace of the row of
	 * its key. Rows may be buffered: exec, query and load see them after
	 * flush. */
	int (*row)(sink *s, int table, const sink_val *vals, int replace, char err[SINK_ERRLEN]);
	int (*flush)(sink *s, char err[SINK_ERRLEN]);
	/* The rows of `table` with source = `source` whose column `col` is one
	 * of keys[0..n) (and, with open_only, whose ended_at is NULL), every
	 * column, in no particular order. Bulk, for loading state: one round
	 * trip for many keys where the target has round trips. */
	int (*load)(sink *s, int table, const char *source, int col, const char *const *keys,
	            size_t n, int open_only, sink_row_fn fn, void *arg, char err[SINK_ERRLEN]);
} sink_ops;

extern const sink_ops sink_sqlite_ops;
extern const sink_ops sink_pg_ops;

/* The ops for a target: a libpq connection string ("postgresql://…",
 * "postgres://…" or "key=value …") is PostgreSQL, anything else a SQLite
 * file path. */
const sink_ops *sink_ops_for(const char *target);

/*
 * Brings the database's schema to this version, in one transaction:
 *  - no ledger-sink tables: creates them;
 *  - this version: creates whatever tables are missing;
 *  - the first version's tables (one row per event in `members`, times as
 *    integers, no source, corrections not applied): with migrate, renames
 *    its events table to sink_v1_events, drops the rest and creates this
 *    version's tables (sink_migrate_step then reloads them from
 *    sink_v1_events); without, refuses (SINK_ERR) saying what to do;
 *  - a newer version, or an `events` table of someone else: refuses.
 * *migrating is set when sink_v1_events is there to be loaded.
 */
int sink_schema_open(const sink_ops *ops, sink *s, int migrate, int *migrating,
                     char err[SINK_ERRLEN]);

/* Once caught up: makes the indexes that are missing (the loader's and the
 * analysts') and refreshes the planner's statistics (outside a
 * transaction). */
int sink_schema_finish(const sink_ops *ops, sink *s, char err[SINK_ERRLEN]);

/* *yes = whether every index the loader needs exists (they do once a first
 * load has caught up: sink_schema_finish). */
int sink_schema_indexed(const sink_ops *ops, sink *s, int *yes, char err[SINK_ERRLEN]);

#endif
