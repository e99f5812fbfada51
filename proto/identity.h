/*
 * identity.h — national ID numbers and phone numbers as people write them:
 * one reading and one set of rules. The server runs them on every path that
 * records them (core/pii.c: a join, an import's rows, an amended join, a
 * profile change); the importer runs the same code on its own to check a
 * file without sending it (clients/csvimport.c), so both say the same.
 *
 * National ID: the citizen identity number of GB 11643-1999.
 *   Read: ASCII blanks, tabs and U+3000, and the full-width forms of digits
 *   and of X (０-９, Ｘ, ｘ) are read as ASCII; a lower-case x as X. A
 *   15-digit number of a first-generation card becomes the 18-character
 *   number of the same person (19 inserted before the year, the check
 *   character computed), so that one person has one number whichever card
 *   the clerk copied.
 *   Rules, in this order (the first broken one is the error):
 *     - 17 digits and a check character (a digit or X);
 *     - the first two digits are a province-level code of GB/T 2260
 *       (11 Beijing … 82 Macao; 83 for the residence permits of Taiwan
 *       residents): ld_province_code;
 *     - digits 7-14 are a real date (YYYYMMDD), not after today (Beijing
 *       time), and give an age from LD_ID_MIN_AGE to LD_ID_MAX_AGE years;
 *     - the check character is the ISO 7064 MOD 11-2 one of the first 17.
 *
 * Phone: a mainland number.
 *   Read: the full-width forms of digits, '+', '-', '(' and ')' as ASCII;
 *   blanks, '-' and parentheses dropped; a leading +86 or 0086 dropped.
 *   Rules: a mobile number (11 digits, 1 then 3-9), or a landline with its
 *   area code: 010 or 02X and 8 digits, or 0XXX (X from 3 to 9) and 7 or 8
 *   digits, the local number not starting with 0 or 1.
 *   Written back as the digits (mobile) or area code, '-', number
 *   (landline: 025-84201234).
 *
 * Errors are LD_E(INVALID_VALUE) (LD_E(MISSING_FIELD) for an empty value),
 * e->field the field given, e->message saying which rule and showing the
 * value masked (ld_mask_id, ld_mask_phone): a national ID never appears
 * whole in a message, so never in a reply, a log or an import report.
 *
 * Thread-safe; no allocation.
 */
#ifndef LD_IDENTITY_H
#define LD_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#define LD_NATIONAL_ID_LEN 18
#define LD_PHONE_MAX 16   /* the longest phone written back, without NUL */
#define LD_ID_MIN_AGE 16  /* the Labour Law's working age: members are workers */
#define LD_ID_MAX_AGE 120 /* beyond: a mistyped year of birth */

/*
 * Reads `in` as a national ID number at time now_us (µs since the epoch,
 * for the age). 0 and out (18 characters and NUL), or a negative code with
 * e naming `field`. *was15 (if not NULL) says the number was written as a
 * 15-digit one; then out15 (if not NULL) gets those 15 digits and NUL.
 */
int ld_national_id(const char *in, int64_t now_us, char out[LD_NATIONAL_ID_LEN + 1],
		   int *was15, char *out15, const char *field, ld_errinfo *e);

/* Reads `in` as a phone number: 0 and out (at most LD_PHONE_MAX bytes and
 * NUL), or a negative code with e naming `field`. */
int ld_phone(const char *in, char out[LD_PHONE_MAX + 1], const char *field, ld_errinfo *e);

/* 1 if the two digits p are a province-level code of GB/T 2260 (11 … 82). */
int ld_province_code(unsigned p);

/* For generated data (ledger-gen, benchmarks, tests): the 18-character ID
 * of a region (6 digits), a birth date and a sequence number (0-999), its
 * check character computed. */
void ld_national_id_make(uint32_t region, int y, int m, int d, unsigned seq,
			 char out[LD_NATIONAL_ID_LEN + 1]);
/* The n-th of a series of valid IDs, distinct for n below 10,000,000:
 * region 320102, born 1970-01-01 plus n / 1000 days, sequence n % 1000. */
void ld_national_id_nth(uint64_t n, char out[LD_NATIONAL_ID_LEN + 1]);

/* A national ID as messages may show it: the first six characters (the
 * region), then '*' for the rest but the last four; only '*' when it is too
 * short (or long) to hide enough that way. Into out (size at least 32). */
void ld_mask_id(const char *id, char *out, size_t size);
/* A phone as messages may show it: its first three and last four
 * characters, '*' between; shorter ones keep their first and last. */
void ld_mask_phone(const char *phone, char *out, size_t size);

#endif
