/*
 * check.h — the checks an event must pass that need no state: required
 * fields present, enum values known and not UNSPECIFIED, identifiers, region
 * codes, periods and amounts well formed, server-set fields absent,
 * occurred_at not in the future.
 *
 * Rules are read from the schema: a field is required when its comment in
 * ledger.proto starts with "required" (scripts/gen-required.awk), and value
 * rules follow field names:
 *   *_id, org_id, from_org, to_org, merged_into   identifier [A-Za-z0-9._:-]{1,64}
 *   region                                        6-digit GB/T 2260 code, a province
 *                                                 of it first (proto/identity.h)
 *   period_from, period_to                        YYYYMM, 1990 ≤ YYYY ≤ 2100
 *   amount_fen                                    1 … LD_MAX_FEN (10 billion yuan)
 *   person_hash                                   32 bytes
 *   quantity                                      ≥ 1
 *   term_years                                    3 or 5
 *   every other string                            valid UTF-8, ≤ 1024 bytes
 * Stateful rules (references exist, one active membership, …) are the write
 * model's (core/model.h).
 *
 * Thread-safe; no allocation.
 */
#ifndef LD_CHECK_H
#define LD_CHECK_H

#include <stdint.h>

#include "codec.h"

#define LD_MAX_SKEW_US (5LL * 60 * 1000000) /* occurred_at may lead the clock by 5 min */
#define LD_MIN_TIME_US 946684800000000LL    /* 2000-01-01T00:00:00Z */
/* The most one event may move: 10 billion yuan. Sums of amounts (a
 * payment's refunds, a member's dues, an organisation's funds) then stay
 * far within int64 (INT64_MAX fen is 9.2e16 yuan: 922,337 events of this). */
#define LD_MAX_FEN 1000000000000LL

/*
 * Checks one event of an append request against the rules above, with `now`
 * the server's clock (µs). Returns 0, or a negative code with e->field naming
 * the field ("member_joined.org_id") and e->message saying what is wrong.
 */
int check_event(const Ledger__Event *ev, int64_t now_us, ld_errinfo *e);

/* Checks one message (any type of ledger.proto) against the field rules:
 * required fields and values; prefix is prepended to field names in e. */
int check_message(const ProtobufCMessage *m, const char *prefix, ld_errinfo *e);

/* Only the presence of m's required strings and messages, and of those of
 * the messages in it: what a reader of stored events (ledger-sink) needs
 * before it follows their pointers, without the value rules, which a log
 * written before a rule was made need not meet. 0, or LD_E(MISSING_FIELD)
 * with e naming the field (prefix.name...). */
int check_present(const ProtobufCMessage *m, const char *prefix, ld_errinfo *e);

/* Every enum value set in m and the messages in it (a query's arguments,
 * where 0 is allowed: no field rules) is one its enum has: protobuf-c keeps
 * whatever number came. 0, or LD_E(UNKNOWN_ENUM) with e naming the field
 * (prefix.name...). */
int check_enums(const ProtobufCMessage *m, const char *prefix, ld_errinfo *e);

/* Individual value rules, for callers that build events. */
int check_id(const char *s);             /* 1 if a valid identifier */
int check_region(uint32_t code);         /* 1 if a plausible 6-digit code */
int check_period(uint32_t yyyymm);       /* 1 if a valid YYYYMM */

#endif
