/*
 * sink.h — loading the event stream into an analyst's database (ledger-sink).
 *
 * One schema (sink_rows.c) and two targets behind one table of operations:
 * SQLite (sink_sqlite.c, a file path) and PostgreSQL (sink_pg.c, a libpq
 * connection string). Every table is append-only and keyed by seq, so a
 * load is a function of the log: loading the same range twice gives the same
 * rows.
 *
 *   events         every event: seq, kind, stream, version, times, actor,
 *                  event id and hash (hex), and the stored bytes (raw)
 *   organisations  registrations, updates and dissolutions
 *   members        joins, affiliations, disaffiliations, profile changes, ends
 *   transfers      membership transfers
 *   dues           payments, waivers, refunds
 *   services       services delivered
 *   activities     activities held
 *   corrections    voids and amendments (target_seq: the event corrected)
 *   sink_checkpoint  one row: the last seq loaded
 *
 * Enums are stored by name ("DELIVERY_RIDER"), money in fen, times in µs
 * since the epoch, periods as YYYYMM. A transaction holds a batch of events'
 * rows and the new checkpoint together (sink_ops.commit), so a sink killed at
 * any point restarts from its checkpoint with nothing lost or doubled.
 */
#ifndef LD_SINK_H
#define LD_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

/* Results of the operations: 0, or */
#define SINK_ERR  (-1) /* anything else; the message says what */
#define SINK_FULL (-2) /* the database's disk is full: nothing of the batch was written */

enum sink_vtype { SV_NULL, SV_INT, SV_TEXT, SV_BLOB };

typedef struct sink_val {
	enum sink_vtype t;
	int64_t i;
	const char *s; /* SV_TEXT (NUL-terminated) and SV_BLOB */
	size_t len;    /* SV_BLOB */
} sink_val;

enum sink_ctype { SC_INT, SC_TEXT, SC_BLOB };

typedef struct sink_table {
	const char *name;
	int ncols;
	const char *const *cols;
	const enum sink_ctype *types; /* the first column is seq, the primary key */
} sink_table;

enum {
	ST_EVENTS,
	ST_ORGANISATIONS,
	ST_MEMBERS,
	ST_TRANSFERS,
	ST_DUES,
	ST_SERVICES,
	ST_ACTIVITIES,
	ST_CORRECTIONS,
	ST__COUNT
};
extern const sink_table sink_tables[ST__COUNT];

#define SINK_MAX_COLS 16
#define SINK_ERRLEN   512

typedef struct sink sink;

typedef struct sink_ops {
	const char *name; /* "sqlite", "postgresql" */
	/* Opens (creating the tables if missing). */
	int (*open)(sink **out, const char *target, char err[SINK_ERRLEN]);
	/* The last seq loaded (0 for a new database). */
	int (*checkpoint)(sink *s, uint64_t *last_seq, char err[SINK_ERRLEN]);
	/* Adds a row to the open batch (one is begun by the first row). */
	int (*row)(sink *s, int table, const sink_val *vals, char err[SINK_ERRLEN]);
	/* Writes the batch and the checkpoint last_seq in one transaction. On
	 * an error nothing of it is written and the batch is dropped. */
	int (*commit)(sink *s, uint64_t last_seq, char err[SINK_ERRLEN]);
	void (*close)(sink *s);
} sink_ops;

extern const sink_ops sink_sqlite_ops;
extern const sink_ops sink_pg_ops;

/* The ops for a target: a libpq connection string ("postgresql://…",
 * "postgres://…" or "key=value …") is PostgreSQL, anything else a SQLite
 * file path. */
const sink_ops *sink_ops_for(const char *target);

/* Turns one stored event (raw: its bytes, ev: decoded) into its rows: the
 * events row and at most one tidy row, each passed to ops->row. */
int sink_event_rows(const sink_ops *ops, sink *s, const Ledger__Event *ev, const uint8_t *raw,
                    size_t rawlen, char err[SINK_ERRLEN]);

/* CREATE TABLE statements of the schema for a target's dialect (int_type
 * "INTEGER" or "BIGINT", blob_type "BLOB" or "BYTEA") into buf. */
void sink_schema_sql(char *buf, size_t n, const char *int_type, const char *blob_type);

#endif
