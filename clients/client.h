/*
 * client.h — the client library: one connection to ledgerd over NNG REQ, the
 * requests of ledger.proto, and helpers every client needs (event ids, person
 * hashes, JSON rendering). Shared by ledgerctl and the other programs in
 * clients/, and by the integration tests and benchmarks.
 *
 * Errors follow proto/error.h: 0 or a negative LD_E() code; functions that
 * take an ld_errinfo fill it with the server's or the library's explanation.
 * A connection is not thread-safe: use one per thread.
 */
#ifndef LD_CLIENT_H
#define LD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "codec.h"
#include "parse.h" /* the human forms of values: enum names, money, times */

#define LDC_DEFAULT_URL "tcp://127.0.0.1:7450"
#define LDC_DEFAULT_TIMEOUT_MS 30000

typedef struct ldc ldc;

/* Opens a REQ socket dialled to url (tcp://, ipc://). The dial is retried in
 * the background, so a daemon that starts later is found. timeout_ms bounds
 * every call, sending and receiving together (<= 0: LDC_DEFAULT_TIMEOUT_MS).
 * Answers are accepted up to 64 MiB. Returns 0 and *out, or LD_E(UNAVAILABLE)
 * with e->message naming the url and the reason (only a url that cannot work
 * fails here: an absent daemon shows at the first call). Close with
 * ldc_close(), which also takes NULL. */
int ldc_open(ldc **out, const char *url, int timeout_ms, ld_errinfo *e);
void ldc_close(ldc *c);

/*
 * Sends req and waits for the response. On 0, *out is the decoded response
 * (free with codec_response_free); if the server answered a whole-request
 * error (resp->error), the call returns that error's code (negative) with e
 * filled AND still sets *out. Transport failures and timeouts return
 * LD_E(UNAVAILABLE); an undecodable answer LD_E(MALFORMED). NNG's REQ resends
 * after its resend time, so every append must carry event ids (idempotent).
 */
int ldc_call(ldc *c, const Ledger__Request *req, Ledger__Response **out, ld_errinfo *e);

/* The requests of ledger.proto, each one ldc_call. Zero for from_seq,
 * from_version or limit leaves the field out (the server's default). An
 * append whose events are rejected one by one still returns 0: the reasons
 * are in (*out)->append->results[i]->error. */
int ldc_append(ldc *c, Ledger__Event **events, size_t n, int atomic, Ledger__Response **out,
	       ld_errinfo *e);
int ldc_get(ldc *c, uint64_t seq, Ledger__Response **out, ld_errinfo *e);
int ldc_read_log(ldc *c, uint64_t from_seq, uint32_t limit, const Ledger__EventType *types,
		 size_t ntypes, Ledger__Response **out, ld_errinfo *e);
int ldc_read_stream(ldc *c, const char *stream, uint64_t from_version, uint32_t limit,
		    Ledger__Response **out, ld_errinfo *e);
int ldc_head(ldc *c, Ledger__Response **out, ld_errinfo *e);

/* 16 random bytes (getrandom) for an event id, shaped as an RFC 4122
 * version-4 UUID. */
void ldc_new_event_id(uint8_t id[LD_EVENT_ID_LEN]);
/* A deterministic event id: the first 16 bytes of SHA-256(text). For
 * imports and generators that must be idempotent across runs. */
void ldc_derived_event_id(const char *text, uint8_t id[LD_EVENT_ID_LEN]);

/* HMAC-SHA-256(key, national_id): the person_hash of MemberJoined. The id is
 * normalised first, so that one person gets one hash however the id was
 * typed: surrounding blanks are dropped and ASCII letters upper-cased (the
 * check character 'x' of a resident id card becomes 'X'). Returns 0,
 * LD_E(INVALID_VALUE) for an empty key or id (or an id over 127 bytes), or
 * LD_E(INTERNAL) if libcrypto fails. */
int ldc_person_hash(const char *key, const char *national_id, uint8_t out[LD_HASH_LEN]);

/* Current time in microseconds since the epoch (CLOCK_REALTIME). */
int64_t ldc_now_us(void);

/* Renders any message as JSON: field names as in the .proto, in field-number
 * order; enums by name (a value this build does not know: its number); bytes
 * as lowercase hex; 64-bit integers as numbers (uint64 above 2^63-1, which no
 * ledger field reaches, as a decimal string); times kept as integers (µs);
 * nested messages as objects; repeated fields as arrays (also when empty);
 * of a oneof only the member that is set; optional fields only when present;
 * strings that are not UTF-8 with '?' for the bytes >= 0x80. NULL msg gives
 * JSON null. Returns a new reference, or NULL if memory runs out. */
json_t *ldc_to_json(const void *msg);

#endif
