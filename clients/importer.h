/*
 * importer.h — a collective registration file, end to end: read it
 * (csvimport.h), append its rows in batches over several connections, write
 * the per-row error report beside it, and count. `ledgerctl import` and
 * bench/import.c run it. Part of the client library.
 *
 * Non-atomic (the default): rows go in requests of `batch` events, `jobs`
 * requests in flight on their own connections (the daemon's group commit
 * puts them in one transaction); each row is decided on its own, a bad row
 * never stops the others. ERR_BUSY answers are retried (same event ids).
 * Atomic: every row in one atomic request (so at most 10,000 rows), sent
 * only if every row reads well; one rejection and nothing is recorded.
 *
 * The report (row,column,reason; one line per rejected row, by row) is
 * written beside the input as FILE.errors.csv, in the input's encoding,
 * whenever a row was rejected; an old report is removed when none was.
 */
#ifndef LD_IMPORTER_H
#define LD_IMPORTER_H

#include <stdint.h>

#include "csvimport.h"

typedef struct ldc_import_options {
	const char *url;
	int timeout_ms;          /* per request; 0: LDC_DEFAULT_TIMEOUT_MS */
	const char *path;        /* the CSV file */
	const char *report_path; /* NULL: path + ".errors.csv" */
	csvimp_options csv;
	int atomic;
	int check_only;          /* read and check every row; send nothing */
	unsigned batch;          /* rows per request; 0: 1000 (at most 10,000) */
	unsigned jobs;           /* requests in flight; 0: 4 (at most 64) */
	int progress;            /* 1: a progress bar on stderr, 0: none,
				  * -1: when stderr is a terminal, or a line per
				  * 10% for files over 1 MB */
	int warn;                /* 1: warnings (ignored columns) on stderr */
} ldc_import_options;

typedef struct ldc_import_result {
	uint64_t rows;       /* data rows read */
	uint64_t imported;   /* recorded now */
	uint64_t duplicates; /* recorded before (same file sent again) */
	uint64_t rejected;   /* in the report */
	uint64_t unsent;     /* not decided: atomic failure, or the import stopped */
	uint64_t head_seq;   /* log head after the last request */
	double seconds;      /* wall time, reading to last answer */
	int sent;            /* something was sent to the ledger */
	int report;          /* a report was written */
	char report_path[4096];
	char encoding[16];
} ldc_import_result;

/*
 * Runs the import. Returns 0 when every row was decided (rejections are
 * counted in res, not errors), or a negative code with e->message: about the
 * file before anything was sent (res->sent = 0: unreadable, no header, a
 * required column missing, too many rows for --atomic), or about the ledger
 * (LD_E(UNAVAILABLE), or a whole-request error such as ERR_DISK_FULL), after
 * which the rows not decided are counted in res->unsent and sending the same
 * file again finishes the job.
 */
int ldc_import(const ldc_import_options *o, ldc_import_result *res, ld_errinfo *e);

#endif
