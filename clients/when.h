/*
 * when.h — months and times as people read and write them: in the ledger's
 * time zone.
 *
 * The ledger records instants (µs since the epoch, UTC). People give and read
 * them in the ledger's time zone, by default Asia/Shanghai (Beijing time: the
 * plans count their years and days in it too): `--at 2026-06-30` is the
 * start of that day in Beijing. A program sets another zone with --tz
 * (ldc_tz_set) or $LEDGER_TZ; UTC is one too.
 *
 * Machines get RFC 3339 with the zone's offset ("2026-06-30T14:05:00+08:00"),
 * beside the µs numbers they already read.
 *
 * The zone is the process's (TZ, tzset): set it in main before any thread
 * starts. Until then the first use sets it from $LEDGER_TZ or the default.
 *
 * Parsers return 0 and store the value, or LD_E(INVALID_VALUE) and leave the
 * output alone; they write no message.
 */
#ifndef LD_WHEN_H
#define LD_WHEN_H

#include <stdint.h>

#define LDC_DEFAULT_TZ "Asia/Shanghai"

/* Room for ldc_format_rfc3339's longest answer and its NUL. */
#define LDC_RFC3339_MAX 40

/* Sets the ledger's time zone: an IANA name of the system's zone database
 * ("Asia/Shanghai", "Europe/Berlin") or "UTC". LD_E(INVALID_VALUE) for a
 * name the database does not have (the zone is then left as it was). */
int ldc_tz_set(const char *name);
/* The ledger's time zone's name. */
const char *ldc_tz(void);
/* Its offset from UTC at instant us, in seconds (+28800 for Beijing). */
int ldc_tz_offset_s(int64_t us);

/* A month YYYYMM as "YYYY-MM"; 0 as "-", a value that is not a month as its
 * number. out needs 16 bytes. */
void ldc_format_period(uint32_t period, char out[16]);

/* A month "YYYYMM" or "YYYY-MM" (year 1900–9999, month 01–12) as the
 * YYYYMM number the ledger uses (202405). */
int ldc_parse_period(const char *s, uint32_t *out);

/* A date or a time "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.ffffff]" (also with
 * ' ' for 'T'; up to six digits of a second, as ldc_format_time prints them)
 * in the ledger's time zone, or with an explicit zone: a trailing 'Z'
 * or an offset "+08:00" / "-0500", as µs since the epoch. Fields are
 * range-checked (Feb 30 is refused); years from 1970. */
int ldc_parse_time(const char *s, int64_t *us);

/* A day or a time as clerks write it on forms, in registration lists and
 * in spreadsheets' exports: 2025-03-01, 2025/3/1, 2025.3.1, 2025年3月1日,
 * 20250301, each maybe followed by ' ' or 'T' and H:MM[:SS] (2025/3/1 9:30),
 * in the ledger's time zone; or any form ldc_parse_time reads. The one
 * reader of the importer's dates and ledgerctl's. */
int ldc_parse_clerk_time(const char *s, int64_t *us);

/* µs since the epoch as "YYYY-MM-DD HH:MM:SS" in the ledger's time zone,
 * ".ffffff" added when the fraction is not zero. out needs 32 bytes. */
void ldc_format_time(int64_t us, char out[32]);

/* The same in RFC 3339 with the zone's offset: "2026-06-30T14:05:00+08:00"
 * (".ffffff" before the offset when not zero). */
void ldc_format_rfc3339(int64_t us, char out[LDC_RFC3339_MAX]);

#endif
