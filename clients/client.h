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

#define LDC_DEFAULT_URL "tcp://127.0.0.1:7450"
#define LDC_DEFAULT_TIMEOUT_MS 30000

typedef struct ldc ldc;

/* Opens a REQ socket dialled to url (tcp://, ipc://). The dial is retried in
 * the background, so a daemon that starts later is found. timeout_ms bounds
 * every call (send and receive). Returns 0 and *out, or LD_E(UNAVAILABLE)
 * with e->message naming the url and the reason. Close with ldc_close(). */
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

/* The requests of ledger.proto, each one ldc_call. */
int ldc_append(ldc *c, Ledger__Event **events, size_t n, int atomic, Ledger__Response **out,
	       ld_errinfo *e);
int ldc_get(ldc *c, uint64_t seq, Ledger__Response **out, ld_errinfo *e);
int ldc_read_log(ldc *c, uint64_t from_seq, uint32_t limit, const Ledger__EventType *types,
		 size_t ntypes, Ledger__Response **out, ld_errinfo *e);
int ldc_read_stream(ldc *c, const char *stream, uint64_t from_version, uint32_t limit,
		    Ledger__Response **out, ld_errinfo *e);
int ldc_head(ldc *c, Ledger__Response **out, ld_errinfo *e);

/* 16 random bytes (getrandom) for an event id. */
void ldc_new_event_id(uint8_t id[LD_EVENT_ID_LEN]);
/* A deterministic event id: the first 16 bytes of SHA-256(text). For
 * imports and generators that must be idempotent across runs. */
void ldc_derived_event_id(const char *text, uint8_t id[LD_EVENT_ID_LEN]);

/* HMAC-SHA-256(key, national_id): the person_hash of MemberJoined. */
int ldc_person_hash(const char *key, const char *national_id, uint8_t out[LD_HASH_LEN]);

/* Current time in microseconds since the epoch (CLOCK_REALTIME). */
int64_t ldc_now_us(void);

/* Renders any message as JSON: field names as in the .proto, enums by
 * name, bytes as lowercase hex, 64-bit integers as numbers, times kept as
 * integers (µs). Returns a new reference, or NULL if memory runs out. */
json_t *ldc_to_json(const void *msg);

#endif
