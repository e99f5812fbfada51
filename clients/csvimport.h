/*
 * csvimport.h — reading the member lists clerks keep (collective
 * registration, 集体登记) as MemberJoined events. libcsv parses, iconv (glibc)
 * converts; both live behind this file. Part of the client library (ldc_
 * prefix for what programs call, csvimp_ inside).
 *
 * A file is UTF-8 (a leading BOM is dropped) if every byte sequence in it is
 * valid UTF-8, else it is read as GB18030. Its first non-blank record is the
 * header; column names are matched in Chinese or English (姓名/name,
 * 身份证号/national_id, 手机/phone, 职业群体/worker_group, 平台/platform,
 * 用工关系/employment, 地区/region, 入会渠道/channel, 入会日期/join_date,
 * 入会路径/join_path, 会员编号/member_id; a trailing '*' and blanks are
 * ignored, ASCII case too). Unknown columns are ignored (the caller may warn:
 * csvimp_ignored). Enum values are accepted by their English names (as
 * ldc_enum_parse) or their Chinese labels (网约配送员, 劳务派遣, 集体登记 …).
 *
 * Each data record becomes a row: either an event ready to append or the
 * first thing wrong with it (column and reason). A bad row never stops the
 * others. What each row becomes:
 *
 *   member_id   the 会员编号 column if there is one, else none: the ledger
 *               gives "P-" and 16 hex digits of the person hash (the same
 *               person, the same id)
 *   org_id      csvimp_options.org_id
 *   national_id the ID as proto/identity.h reads it, checked by its rules
 *               (the ledger checks it again, hashes it and drops it)
 *   real_name   true: a name and a valid national ID are required per row
 *   join_path   the 入会路径 column, else from the employment relation
 *               (employed → labour-relation, dispatched → dispatched,
 *               partial / self-employed → platform-work)
 *   channel     the 入会渠道 column, else collective-registration
 *   region      the 地区 column (6-digit GB/T 2260), else options.region
 *   occurred_at the join date at 00:00 in the ledger's time zone (when.h),
 *               else options.default_date
 *   event_id    none: the ledger derives it from the join (PROTOCOL.md), so
 *               sending the file again gives duplicates
 *
 * The phone number, when given, is checked by the ledger's rules and then
 * dropped (sealing every member's phone on import is not done yet).
 * A row's national ID is in the row until the next csvimp_next on it.
 */
#ifndef LD_CSVIMPORT_H
#define LD_CSVIMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

enum csvimp_column {
	CSVIMP_NAME,
	CSVIMP_NATIONAL_ID,
	CSVIMP_PHONE,
	CSVIMP_WORKER_GROUP,
	CSVIMP_PLATFORM,
	CSVIMP_EMPLOYMENT,
	CSVIMP_REGION,
	CSVIMP_CHANNEL,
	CSVIMP_JOIN_DATE,
	CSVIMP_JOIN_PATH,
	CSVIMP_MEMBER_ID,
	CSVIMP__COLUMNS
};

typedef struct csvimp_options {
	const char *org_id;   /* required: the organisation every row joins */
	uint32_t region;      /* for rows without a region; 0: the column is required */
	int64_t default_date; /* for rows without a join date (µs) ... */
	int has_default_date; /* ... if set; else the column is required */
} csvimp_options;

/* One data record. When code is 0, ev is a MemberJoined event whose
 * pointers lead into this row (valid until the next csvimp_next on it);
 * else column and reason say what is wrong (column is the header as written
 * in the file, or "" for the row as a whole). */
typedef struct csvimp_row {
	unsigned long line; /* line of the file where the record starts (header: 1) */
	int code;           /* 0 or a negative LD_E() code */
	char column[128];
	char reason[512]; /* an unknown value's message lists what is accepted */
	Ledger__Event ev;
	Ledger__MemberJoined mj;
	char national_id[19]; /* as the ledger reads it (proto/identity.h) */
	char member_id[65];   /* "" when the ledger gives it */
	char platform[256];
} csvimp_row;

typedef struct csvimp csvimp;

/* A row's event points into the row itself: after moving a row (realloc,
 * memcpy), call this on its new place before using row->ev. */
void csvimp_row_fix(csvimp_row *row);

/*
 * Takes the file's bytes (copied; the caller keeps data), detects and
 * converts the encoding, reads the header. Returns 0 and *out, or with
 * e->message naming what is wrong: LD_E(MISSING_FIELD) for no header or a
 * required column missing, LD_E(INVALID_VALUE) for a column given twice or
 * bad options, LD_E(INTERNAL) when memory or iconv fails. Free with
 * csvimp_free (NULL is fine).
 */
int csvimp_open(csvimp **out, const void *data, size_t len, const csvimp_options *o,
		ld_errinfo *e);
void csvimp_free(csvimp *ci);

/* The next data record into row: 1 (row filled, see row->code), 0 at the
 * end of the file, or LD_E(INTERNAL) if memory runs out. Records whose
 * fields are all empty are skipped. */
int csvimp_next(csvimp *ci, csvimp_row *row);

/* "UTF-8" or "GB18030": how the file was read. */
const char *csvimp_encoding(const csvimp *ci);
/* How much of the (converted) file has been read: 0 … 1. */
double csvimp_progress(const csvimp *ci);
/* The header of column c as written in the file (UTF-8), NULL if absent. */
const char *csvimp_header(const csvimp *ci, enum csvimp_column c);
/* The i-th column of the file that matched no known name (UTF-8), NULL
 * past the last. */
const char *csvimp_ignored(const csvimp *ci, size_t i);
/* The column that holds the MemberJoined field named (as in a server
 * error's field, "member_joined.region", or bare "region"), or NULL. */
const char *csvimp_column_of_field(const csvimp *ci, const char *field);

/* One line of the error report. */
typedef struct csvimp_error {
	unsigned long line;
	char column[128];
	char reason[512]; /* a ledger's refusal in Chinese, ids of 64 in it, fits */
} csvimp_error;

/* Writes the report "row,column,reason" (a header line, then one line per
 * error, in the order given) to path, in the input's encoding (a UTF-8
 * input that had a BOM gets one too; a UTF-16 one is answered in UTF-8
 * with a BOM). Returns 0, or LD_E(STORAGE) with
 * e->message naming the path. */
int csvimp_write_report(const csvimp *ci, const char *path, const csvimp_error *errs, size_t n,
			ld_errinfo *e);

/* Whether data (len bytes) is entirely valid UTF-8 (no overlongs,
 * surrogates or code points above U+10FFFF). */
int csvimp_is_utf8(const void *data, size_t len);

#endif
