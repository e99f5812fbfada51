/*
 * codec.h — protobuf-c behind one file: decoding with limits, packing into a
 * caller's buffer, the canonical bytes and hash of an event.
 *
 * Shared by the daemon and the clients. Errors follow proto/error.h.
 */
#ifndef LD_CODEC_H
#define LD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "ledger.pb-c.h"

#define LD_HASH_LEN 32     /* SHA-256 */
#define LD_EVENT_ID_LEN 16 /* idempotency key */
#define LD_ID_MAX 64       /* longest organisation / member / station id */

/* Where a decode or validation error points: filled by functions that take
 * one; `field` is a dotted path ("events[3].member_joined.org_id"). */
/* A refusal's own sentence fits this (with its NUL) with ids of 63
 * characters and seqs of 20 digits; ld_errinfo's message holds one whole
 * inside the correction's sentence around it ("the correction would make
 * event seq N (KIND) invalid: ...", core/model.c: up to 86 bytes more). */
#define LD_SENTENCE_MAX 256
typedef struct ld_errinfo {
	int code;                           /* negative project code, as returned */
	char message[LD_SENTENCE_MAX + 128]; /* human sentence naming the subject */
	char field[96];    /* field path, "" if none */
	uint64_t seq;      /* related event, 0 if none */
} ld_errinfo;

/* An empty e: what `= {0}` gives, for its reader (code 0, both strings
 * ""), without zeroing its 496 bytes; for a per-event path, where that
 * was a tenth of the projections' applying (a `rep stos` per call). */
static inline void ld_errinfo_clear(ld_errinfo *e)
{
	e->code = 0;
	e->message[0] = e->field[0] = 0;
	e->seq = 0;
}

/* An optional string is present when it is set and not empty: "" on the wire
 * means the same as leaving the field out, everywhere. */
static inline int ld_has(const char *s)
{
	return s && *s;
}

/* Sets e (if not NULL; seq is reset to 0) and returns code. printf-style
 * message. The message and the field are always valid UTF-8, whatever the
 * arguments hold (they often quote a request's bytes) and wherever `%.80s`
 * or the buffer's end cut a character: ld_utf8_clean. */
int ld_errinfo_set(ld_errinfo *e, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Appends to e's message (if e is not NULL; as far as it holds, valid
 * UTF-8 as above), its code, field and seq kept: what a caller knows beyond the sentence it got
 * ("; what it had copied was removed"). */
void ld_errinfo_append(ld_errinfo *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The length of the UTF-8 character at p (at most n bytes there), 1 to 4,
 * or 0 when the bytes there are not one (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF, nothing cut short). */
size_t ld_utf8_len(const unsigned char *p, size_t n);

/* Makes the NUL-terminated s valid UTF-8 in place: each byte that begins
 * no character becomes '?', except a character cut short at the end, which
 * is dropped. */
void ld_utf8_clean(char *s);

/*
 * What decoding a request may cost. protobuf-c allocates every element of a
 * repeated field and a struct for every embedded message: an empty Event is
 * 2 bytes on the wire and over 200 in memory, so 16 MiB of them would take
 * gigabytes. A request is therefore first read on its raw bytes (the
 * structure walked with the descriptors, nothing allocated), and refused
 * there with ERR_TOO_LARGE, naming the field, when a repeated field has more
 * than CODEC_MAX_REPEATED elements in one message, or when its decoded form
 * would take more than its budget: CODEC_BUDGET_FACTOR times its size, at
 * least CODEC_BUDGET_MIN, at most CODEC_BUDGET_MAX. Then it is unpacked
 * with an allocator that refuses to go beyond that budget whatever the
 * reading missed (ERR_TOO_LARGE too). Real requests take 3 to 8 times their
 * size.
 */
#define CODEC_MAX_REPEATED  10000 /* the most of any repeated field: append.events */
#define CODEC_BUDGET_FACTOR 16
#define CODEC_BUDGET_MIN    ((size_t)64 << 10)
#define CODEC_BUDGET_MAX    ((size_t)256 << 20)

/* The budget of a request of len bytes. */
size_t codec_request_budget(size_t len);

/* The command of a request (its Request.command field number, the last one
 * if it names several, as decoding keeps), read from its top-level field
 * keys only: enough to check who may send it before anything is decoded.
 * 0 when it names none or the keys do not parse. */
int codec_request_command(const uint8_t *buf, size_t len);

/* Reads a request's raw bytes as above without decoding them: 0 and *cost
 * (the bytes decoding would allocate, an upper bound), ERR_MALFORMED, or
 * ERR_TOO_LARGE with e naming the field or the budget. */
int codec_request_measure(const uint8_t *buf, size_t len, size_t *cost, ld_errinfo *e);

/*
 * Decodes a Request within its budget (above). Rejects bytes that do not
 * parse (ERR_MALFORMED), a request over its limits (ERR_TOO_LARGE), a
 * top-level field this schema does not know (a command of a newer
 * protocol: ERR_UNKNOWN_COMMAND), and any unknown field deeper down
 * (ERR_UNKNOWN_FIELD, naming it), so that what the server stores is exactly
 * what it understood.
 * On success *out must be freed with codec_request_free().
 */
int codec_request_unpack(const uint8_t *buf, size_t len, Ledger__Request **out, ld_errinfo *e);
void codec_request_free(Ledger__Request *req);

/* Decodes a stored Event (trusted bytes). NULL on failure. Free with
 * codec_event_free(). */
Ledger__Event *codec_event_unpack(const uint8_t *buf, size_t len);
void codec_event_free(Ledger__Event *ev);

/*
 * Decoding many stored events that are thrown away together (the
 * projections' batches): their memory comes from a pool of large blocks
 * instead of one malloc per string and sub-message, and is given back all
 * at once by codec_pool_reset, which keeps the blocks for the next batch.
 * An event from codec_event_unpack_pool is never passed to
 * codec_event_free. A pool is used by one thread at a time.
 */
typedef struct codec_pool {
	struct codec_block *blocks, *spare;
	uint8_t *at, *end; /* free space in blocks' first */
	size_t block;      /* the size of its blocks (0: 1 MiB) */
} codec_pool;

#define CODEC_POOL_INIT {NULL, NULL, NULL, NULL, 0}

/* NULL if the bytes do not parse (or memory runs out). Decoded in one pass
 * by wire_decode (wire.h) when they are as our packer writes them, by
 * protobuf-c otherwise: the same event either way. */
Ledger__Event *codec_event_unpack_pool(const uint8_t *buf, size_t len, codec_pool *p);
void codec_pool_reset(codec_pool *p);
/* n bytes from pool `p` (a codec_pool *), aligned for any type; NULL when
 * memory runs out. A wire_alloc_fn (wire.h). */
void *codec_pool_alloc(void *p, size_t n);
void codec_pool_free(codec_pool *p);
/* codec_pool_reset, then the spare blocks beyond the first `keep` bytes
 * freed: what a pool that serves one request after another keeps between
 * them. */
void codec_pool_trim(codec_pool *p, size_t keep);

/*
 * codec_request_unpack into pool p (the server's: one per call): no malloc
 * per string and sub-message, nothing freed one by one, the request given
 * back with the pool (codec_pool_reset / codec_pool_trim), never to
 * codec_request_free. The budget counts the pool's memory (each allocation
 * rounded up to its alignment). What replaces a part of such a request
 * comes from the same pool, and what it replaces is not freed: codec_alloc
 * and codec_free below, whose p NULL is a request from codec_request_unpack
 * (malloc and free). Into a pool still empty, the request is decoded in one
 * pass (wire_decode, within the same budget); what that declines (an
 * unknown field, a repeated field of scalars, the budget passed...) is
 * decoded by protobuf-c into the pool emptied again: the same request, or
 * the same refusal, either way (fuzz_request checks it).
 */
int codec_request_unpack_in(const uint8_t *buf, size_t len, codec_pool *p, Ledger__Request **out,
			    ld_errinfo *e);
/* The same once codec_request_measure has passed on buf (not read again):
 * the server measures first, to hold the cost before it decodes. */
int codec_request_unpack_measured(const uint8_t *buf, size_t len, codec_pool *p,
				  Ledger__Request **out, ld_errinfo *e);
void *codec_alloc(codec_pool *p, size_t n);
void codec_free(codec_pool *p, void *ptr);

/* Decodes a Response (client side). NULL if the bytes do not parse. Free with
 * codec_response_free(). */
Ledger__Response *codec_response_unpack(const uint8_t *buf, size_t len);
/* The same, allocating at most max bytes in all (protobuf-c's every struct,
 * array and copy, freed or not, counted): a peer's answer of a few MiB can
 * otherwise take gigabytes (CODEC_BUDGET_FACTOR above). NULL if the bytes
 * do not parse, or (*too_large = 1) if decoding them would take more. */
Ledger__Response *codec_response_unpack_within(const uint8_t *buf, size_t len, size_t max,
					       int *too_large);
void codec_response_free(Ledger__Response *resp);

/* Packed size and packing of any message. codec_pack writes exactly
 * codec_size(m) bytes into out and returns that count. */
size_t codec_size(const void *msg);
size_t codec_pack(const void *msg, uint8_t *out);

/*
 * The canonical bytes of an event are its protobuf-c packing with `hash`,
 * `prev_hash` and `expected_version` absent and everything else as stored
 * (seq, times, actor, stream, version, event_id, body). protobuf-c packs
 * fields in field-number order, so the packing is deterministic.
 *
 * hash = SHA-256(prev_hash[32] || seq as 8 bytes big-endian || canonical).
 *
 * codec_event_hash computes that for ev (whose seq and prev_hash must be set)
 * into out. Returns 0, or LD_E(INTERNAL) if memory runs out.
 */
int codec_event_hash(const Ledger__Event *ev, uint8_t out[LD_HASH_LEN]);

/*
 * The stored bytes of an event, put together from parts instead of packed
 * whole, byte for byte what protobuf-c packs (fields in number order):
 *
 *   seq | event_id, occurred_at (the client's "head") | recorded_at, actor,
 *   stream, version | prev_hash, hash | the body (the client's)
 *
 * The client's parts need no state and are packed where the request is
 * (codec_event_parts: personal data in clear left out, as stored); the
 * writer adds its fields, and the hash over them, with codec_stored_pack:
 * one pass over a few hundred bytes instead of two packings of the event.
 */
typedef struct codec_parts {
	size_t head, body; /* their sizes */
} codec_parts;
/* The sizes of ev's parts. */
codec_parts codec_event_parts_size(const Ledger__Event *ev);
/* Packs them: head and body, of the sizes p above (the body's own size
 * is taken from p.body, not measured again). */
void codec_event_parts_pack(const Ledger__Event *ev, codec_parts p, uint8_t *head, uint8_t *body);

typedef struct codec_stored {
	uint64_t seq;
	int64_t recorded_at;
	const char *actor, *stream;
	uint64_t version;
	const uint8_t *prev_hash; /* LD_HASH_LEN bytes */
} codec_stored;
/* The size of the stored event with these parts. */
size_t codec_stored_size(const codec_stored *s, codec_parts p);
/* Writes it into out (codec_stored_size bytes) and its hash into hash: the
 * same bytes and hash as codec_pack and codec_event_hash of the event. */
void codec_stored_pack(const codec_stored *s, const uint8_t *head, const uint8_t *body,
		       codec_parts p, uint8_t *out, uint8_t hash[LD_HASH_LEN]);

/*
 * Personal data in clear: the fields proto/kinds.c lists as `clear` (today
 * national_id, name and phone of MemberJoined, also as an amendment's
 * corrected body, and name and phone of ProfileChanged). They are never
 * stored (the server keeps only person_hash and the sealed `personal`) and
 * never hashed: the canonical bytes above leave them out, so an event a read
 * decrypted still gives its stored hash. codec_strip_personal makes *out a
 * shallow copy of ev without them (copies of the bodies it changes in b).
 */
typedef struct codec_personal_buf {
	union { /* a copy of the body that carries them: room for each such body */
		Ledger__MemberJoined joined;
		Ledger__ProfileChanged profile;
	} body;
	Ledger__EventAmended amended;
} codec_personal_buf;
int codec_has_clear_personal(const Ledger__Event *ev);
void codec_strip_personal(const Ledger__Event *ev, Ledger__Event *out, codec_personal_buf *b);

/*
 * Checks one stored event against the chain: that it is event `seq`, that its
 * prev_hash is `prev` (the hash of seq-1, 32 zero bytes for seq 1; NULL skips
 * this check) and that its stored hash is the one its content gives. Returns
 * 0, LD_E(CHAIN_BROKEN) with why (size n) saying which check failed, or
 * LD_E(INTERNAL) if memory runs out.
 */
int codec_event_check(const Ledger__Event *ev, uint64_t seq, const uint8_t *prev, char *why,
		      size_t n);
/* codec_event_check without the hash's content check: seq, the two hashes'
 * sizes and prev_hash only (for an event whose hash was computed here). */
int codec_event_chain(const Ledger__Event *ev, uint64_t seq, const uint8_t *prev, char *why,
		      size_t n);

/*
 * Stored bytes laid out as codec_stored_pack writes them: seq first, the
 * fields in number order, prev_hash and then hash of 32 bytes each, the
 * body last. codec_stored_layout: 0 with the offset of prev_hash's 32 bytes
 * in *prev_at (hash's are 34 bytes further), or -1 for bytes not so laid
 * out. codec_stored_hash: their hash taken over the bytes themselves,
 * SHA-256(their prev_hash || seq as 8 bytes big-endian || the bytes before
 * prev_hash || the body); of the bytes a writer packed, the hash
 * codec_event_hash gives their event, with no packing. The stored hash
 * field is not read. 0, or -1 (not so laid out; nothing written to out).
 */
int codec_stored_layout(const uint8_t *b, size_t len, size_t *prev_at);
int codec_stored_hash(const uint8_t *b, size_t len, uint8_t out[LD_HASH_LEN]);
/* codec_stored_hash of bytes whose layout gave prev_at (not parsed again). */
int codec_stored_hash_at(const uint8_t *b, size_t len, size_t prev_at, uint8_t out[LD_HASH_LEN]);

/*
 * codec_event_check of ev, decoded from its stored bytes b (len of them),
 * its hash taken over b (codec_stored_hash) when they are laid out as a
 * writer packs them; packed again (codec_event_hash) only when they are
 * not, or do not give ev's hash (then the answer and why are
 * codec_event_check's). For bytes from a writer of this ledger (another
 * node's groups), where the event is decoded anyway.
 */
int codec_stored_check(const uint8_t *b, size_t len, const Ledger__Event *ev, uint64_t seq,
		       const uint8_t *prev, char *why, size_t n);

/*
 * Whether b (len bytes), which decoded as ev, is ev's packing as a writer
 * makes it, so that hashing b (codec_stored_hash) is hashing its canonical
 * bytes, as `verify` and an auditor will: an event_id of 16 bytes (the
 * write model indexes every event by it), no expected_version, no personal
 * data in clear, and ev packed again equal to b byte for byte. (Its length
 * alone is no proof: a negative enum written in 5 bytes, which protobuf-c
 * reads and packs in 10, leaves room for a field given twice, and fields
 * out of order are as long.) 0, LD_E(CHAIN_BROKEN) with why (size n), or
 * LD_E(INTERNAL). Always packs ev again; codec_follow_event packs it only
 * when its decoding did not prove b canonical.
 */
int codec_stored_canonical(const uint8_t *b, size_t len, const Ledger__Event *ev, char *why,
			   size_t n);

/* Another node's stored event, decoded only if it is laid out as our
 * writer packs one (proto/wire.h: each field once, none unknown, no
 * repeated field; NULL otherwise, where codec_event_unpack_pool would let
 * protobuf-c decide): its memory from p is bounded by its bytes, whatever
 * they hold. With canonical not NULL, *canonical says whether buf is
 * exactly protobuf-c's packing of the event (wire_decode_canonical: 1
 * proves it, 0 proves nothing), found while decoding. */
Ledger__Event *codec_event_unpack_strict(const uint8_t *buf, size_t len, codec_pool *p,
					 int *canonical);

/*
 * The checks of each event of another node's group, the one sequence that
 * a follower's raft entries (core/writer_apply.c check_blob) and a
 * catch-up's pages (daemon/catchup.c stage) go through: its stored bytes b
 * (len) with the hash its group record names (record_hash), to be event
 * seq after the event whose hash is prev. In order, the first that fails
 * named in why (size n):
 *  1. decoded strictly into p (codec_event_unpack_strict): "does not
 *     decode as a writer packs an event";
 *  2. it is seq, its prev_hash is prev, and (hashed 0) its content gives
 *     its hash (codec_stored_check); hashed 1: its hash was computed here
 *     from b (group_fill_hashes), so codec_event_chain only;
 *  3. b is its canonical packing, with an event_id of 16 bytes, no
 *     expected_version, no personal data in clear (codec_stored_canonical;
 *     ev is packed again and compared only when step 1 did not prove b
 *     its packing, which our writer's bytes always are): "not its
 *     canonical packing", "no event_id";
 *  4. its hash is record_hash: "names another hash".
 * 0 and the event in *out (memory from p), or LD_E(CHAIN_BROKEN) with why
 * (*out NULL), or LD_E(INTERNAL) (memory ran out packing it again).
 */
int codec_follow_event(const uint8_t *b, size_t len, const uint8_t record_hash[LD_HASH_LEN],
		       uint64_t seq, const uint8_t prev[LD_HASH_LEN], int hashed, codec_pool *p,
		       Ledger__Event **out, char *why, size_t n);

/* Name of an event body kind ("member_joined"), "unknown" if none. */
const char *codec_event_type_name(int body_case);

/* The member an event is about: member events, dues, and services to a
 * member (NULL for every other body, and for a service to a non-member). */
const char *codec_event_member(const Ledger__Event *ev);

/* Stream name of an event, derived from its body into out (size
 * LD_STREAM_MAX): "member/<id>", "org/<id>", "region/<code>". For voids and
 * amendments the stream is that of the target and is not derivable from the
 * body alone: returns LD_E(NOT_FOUND) so the caller looks the target up.
 * Returns 0, or LD_E(MISSING_FIELD) when the body has no subject. */
#define LD_STREAM_MAX 80
int codec_event_stream(const Ledger__Event *ev, char out[LD_STREAM_MAX]);

/* Fills `out` (a fresh Event; only body_case and the body pointer are set)
 * with the corrected body of an amendment, as the Event body of the same
 * type: EventAmended.member_joined becomes Event.member_joined. The body is
 * shared, not copied. */
void codec_amended_body(const Ledger__EventAmended *a, Ledger__Event *out);

/* The body message of an event (NULL if none is set). */
const ProtobufCMessage *codec_event_body(const Ledger__Event *ev);

/*
 * Protobuf wire primitives, for responses that embed stored events without
 * decoding them (a page of the log is the stored bytes, each behind a field
 * key and a length). See PROTOCOL.md for the layout this produces.
 */
size_t codec_varint_len(uint64_t v);
uint8_t *codec_put_varint(uint8_t *p, uint64_t v);
/* A length-delimited field's key and length: returns the byte after them. */
uint8_t *codec_put_ld(uint8_t *p, unsigned field, size_t len);
/* Bytes codec_put_ld writes for a field of that number and length. */
size_t codec_ld_len(unsigned field, size_t len);
/* The body kind (Event.body field number) of a packed Event, read from its
 * top-level field keys without decoding; 0 if none or malformed. */
int codec_peek_body_case(const uint8_t *buf, size_t len);
/* The first top-level length-delimited field `field` of a packed message,
 * without decoding: 0 with *p, *n set, or LD_E(NOT_FOUND) (absent or
 * malformed). */
int codec_peek_field(const uint8_t *buf, size_t len, unsigned field, const uint8_t **p, size_t *n);
/* The stored hash of a packed Event (32 bytes): 0, or LD_E(NOT_FOUND). */
int codec_peek_hash(const uint8_t *buf, size_t len, const uint8_t **hash);

/* Big-endian helpers used for LMDB keys and hashing. */
static inline void ld_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline void ld_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t ld_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t ld_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

#endif
