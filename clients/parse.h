/*
 * parse.h — the human forms of ledger values, read and written: enum names,
 * money, hex; months and times in when.h. Shared by ledgerctl and the other programs in
 * clients/; part of the client library (prefix ldc_).
 *
 * Parsers return 0 and store the value, or a negative LD_E() code
 * (INVALID_VALUE, or UNKNOWN_ENUM for enum names) and leave the output alone.
 * They write no message: the caller knows which option it was reading.
 */
#ifndef LD_PARSE_H
#define LD_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.pb-c.h"
#include "when.h" /* months and times, in the ledger's time zone */

/*
 * An enum value by name, case-insensitively, '-' standing for '_':
 * "DELIVERY_RIDER", "delivery-rider" and "Delivery_Rider" are one value.
 * Also accepted: a word-aligned part of the name that starts or ends it and
 * names exactly one value ("rider" for DELIVERY_RIDER, "platform" for
 * PLATFORM_AFFILIATION), and the value's Chinese names (labels.h: 网约配送员). The value 0 (…_UNSPECIFIED) is never accepted, as
 * the server rejects it. LD_E(UNKNOWN_ENUM) for no match or an ambiguous part.
 */
int ldc_enum_parse(const ProtobufCEnumDescriptor *d, const char *text, int *out);

/* The value's name as in the .proto ("DELIVERY_RIDER"), NULL if unknown. */
const char *ldc_enum_name(const ProtobufCEnumDescriptor *d, int value);

/* The accepted names of an enum, lowercase with dashes, comma-separated
 * ("truck-driver, ride-hailing-driver, …"), UNSPECIFIED left out, each
 * followed by its Chinese name in Chinese mode ("truck-driver（货车司机）"),
 * into out (always terminated; truncated with "…" if it does not fit). */
void ldc_enum_list(const ProtobufCEnumDescriptor *d, char *out, size_t size);

/* Unsigned decimal integer, digits only, no sign, no overflow; the whole
 * string must be consumed. */
int ldc_parse_u64(const char *s, uint64_t *out);
/* The same, and at most UINT32_MAX. */
int ldc_parse_u32(const char *s, uint32_t *out);
/* Signed decimal integer ('-' allowed), whole string, no overflow. */
int ldc_parse_i64(const char *s, int64_t *out);

/* Money in yuan with at most two decimals ("12", "12.3", "12.34") to fen,
 * exactly (no floating point). Positive amounts only. */
int ldc_parse_yuan(const char *s, int64_t *fen);

/* fen as yuan with two decimals ("12.34", "-0.05", "0.00"). out needs 32
 * bytes. */
void ldc_format_yuan(int64_t fen, char out[32]);

/* Exactly n bytes from 2n hex digits (either case). */
int ldc_parse_hex(const char *s, uint8_t *out, size_t n);
/* n bytes as 2n lowercase hex digits and a NUL into out (2n+1 bytes). */
void ldc_format_hex(const uint8_t *p, size_t n, char *out);

#endif
