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
/* How long a call waits for a connection when none is up: a ledger that
 * does not listen is reported after this, not after the call's timeout. */
#define LDC_CONNECT_MS 1500

typedef struct ldc ldc;

/* Opens a REQ socket dialled to url (tcp://, ipc://). The dial is retried in
 * the background, so a daemon that starts later is found. timeout_ms bounds
 * every call, sending and receiving together (<= 0: LDC_DEFAULT_TIMEOUT_MS);
 * but a call made while no connection is up waits at most LDC_CONNECT_MS for
 * one, then fails with LD_E(UNAVAILABLE) naming the url, so that a ledger
 * that is not there is reported at once while a slow answer on a connection
 * gets the whole timeout. Answers are accepted up to 64 MiB. Returns 0 and
 * *out, or LD_E(UNAVAILABLE) with e->message naming the url and the reason
 * (only a url that cannot work fails here: an absent daemon shows at the
 * first call). Close with ldc_close(), which also takes NULL. url may be a
 * list of a cluster's nodes, "a,b,c" (at most 8): a call goes from node to
 * node (to the leader one names, past one unreachable or not leading) until
 * one answers or timeout_ms has passed; a node found unreachable is passed
 * over for 500 ms, then asked again (twice as long each time it is found
 * unreachable again, up to 4 s). Each node of a list gets its own socket
 * when first asked, kept until ldc_close (dialling in the background while
 * the node is down): a node asked again is often connected already, and no
 * socket is closed while its node may be completing a connection (NNG
 * 1.5.2 leaks that connection, docs/LIBRARIES.md). */
int ldc_open(ldc **out, const char *url, int timeout_ms, ld_errinfo *e);

/* Client side of mutual TLS (PEM files): our certificate and key, and the
 * CA that signed the server's certificate. */
typedef struct ldc_tls {
	const char *cert, *key, *ca;
} ldc_tls;

/* ldc_open, with TLS for tls+tcp:// urls (tls is needed there and ignored
 * elsewhere). The first connection is tried at once: a TLS handshake that
 * fails (the server refuses our certificate as forged, expired or unknown,
 * or its own does not verify against tls->ca) gives LD_E(UNAVAILABLE) with
 * the reason; an absent server is retried in the background as with
 * ldc_open. The server checks the host name of the url against its
 * certificate. */
int ldc_open_tls(ldc **out, const char *url, int timeout_ms, const ldc_tls *tls, ld_errinfo *e);
void ldc_close(ldc *c);
/* Closes the socket under a call in flight on another thread, which then
 * returns LD_E(UNAVAILABLE) at once; afterwards only ldc_close is allowed. */
void ldc_interrupt(ldc *c);

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
/* The replication status of the node c is connected to (resp->cluster;
 * replicated = false for a single node). */
int ldc_cluster(ldc *c, Ledger__Response **out, ld_errinfo *e);
/* whoami: the connection's identity, role and (a clerk's, a reader's)
 * organisations; org_roots: the organisation tree's roots in region (0:
 * all), a reader's own organisations for a reader (proto/ledger.proto). */
int ldc_whoami(ldc *c, Ledger__Response **out, ld_errinfo *e);
int ldc_org_roots(ldc *c, uint32_t region, Ledger__Response **out, ld_errinfo *e);

/*
 * Projection queries. Each answer carries (*out)->as_of_seq, the seq of the
 * log it reflects.
 *
 * cons (NULL: answer at once, whatever the projections have applied) asks
 * for read-your-writes: the server waits until the projections have applied
 * min_seq, for at most timeout_ms (0: the server's default, 1000; at most
 * 10,000), and answers ERR_NOT_CAUGHT_UP if they have not by then,
 * ERR_PROJECTION_STOPPED if one has stopped, ERR_INVALID_VALUE if min_seq is
 * beyond the log head. min_seq 0 asks for nothing. The connection's own
 * timeout (ldc_open) must leave room for the wait.
 */
typedef struct ldc_consistency {
	uint64_t min_seq;
	uint32_t timeout_ms;
} ldc_consistency;

/* A member's current view: (*out)->member. ERR_NOT_FOUND for a member id
 * that never joined. */
int ldc_get_member(ldc *c, const char *member_id, const ldc_consistency *cons,
		   Ledger__Response **out, ld_errinfo *e);
/* An organisation and its subtree down to depth levels (0: the organisation
 * alone; at most 16), depth-first: (*out)->coverage. period (YYYYMM) is the
 * month the dues figures refer to, 0 for the server's current month; at (µs)
 * the time whose workforce estimates are the denominators (those in force
 * then), 0 for now. ERR_NOT_FOUND for an unknown organisation. */
int ldc_coverage(ldc *c, const char *org_id, uint32_t depth, uint32_t period, int64_t at,
		 const ldc_consistency *cons, Ledger__Response **out, ld_errinfo *e);
/* The Response.result case that answers a Request.command case (0 for a
 * command it does not know). An answer carrying another is refused by
 * every call (ERR_MALFORMED), before anyone reads it. */
int ldc_answer_case(int command_case);

/* A member's history in seq order, read from the log with the corrections
 * of each event: (*out)->history. all: every event of the member's stream
 * (dues, services...), not only membership events. ERR_NOT_FOUND for a
 * member without events. */
int ldc_history(ldc *c, const char *member_id, int all, const ldc_consistency *cons,
		Ledger__Response **out, ld_errinfo *e);
/* Transfers into, out of and within the subtree of org_id whose occurred_at
 * lies in [from_time, to_time) (µs; INT64_MIN and INT64_MAX leave that end
 * open), by occurred_at then seq: (*out)->transfers, with truncated set if
 * more than limit matched (0: the server's default, 1000; at most 10,000).
 * ERR_NOT_FOUND for an unknown organisation, ERR_INVALID_VALUE for an
 * empty window. */
/* after_seq (0: none), with from_time set: of the transfers at from_time,
 * only those of a higher seq (where a truncated list goes on: its
 * next_time and next_after_seq). */
int ldc_transfers(ldc *c, const char *org_id, int64_t from_time, uint64_t after_seq,
		  int64_t to_time, uint32_t limit, const ldc_consistency *cons,
		  Ledger__Response **out, ld_errinfo *e);
/* ldc_transfers, or (pending) the releases of transfers in two steps that
 * wait for acceptance into, out of or within the subtree instead, by the
 * release's occurred_at (each TransferView with pending set, its seq the
 * release's: what `accept` names, and its note). side (a TransferSide, 0:
 * all): only those into or within the subtree (what it accepts), or out of
 * or within it (what it released). */
int ldc_transfers_of(ldc *c, const char *org_id, int pending, int side, int64_t from_time,
		     uint64_t after_seq, int64_t to_time, uint32_t limit,
		     const ldc_consistency *cons, Ledger__Response **out, ld_errinfo *e);
/* Every projection's checkpoint, lag and state: (*out)->projections. */
int ldc_projections(ldc *c, Ledger__Response **out, ld_errinfo *e);
/* Progress of a plan: (*out)->progress, a row per target, window and
 * region. year 0: every year; region 0: the province and every city; at 0:
 * judge on-track status as of now (else µs; the figures stay today's); day
 * (YYYYMMDD, 0: none): the report as it stood at the end of that day, its
 * figures and its status (overrides at). ERR_NOT_FOUND for an unknown plan,
 * ERR_INVALID_VALUE for a year, region or day outside it (or a day to come). */
int ldc_progress(ldc *c, const char *plan, uint32_t year, uint32_t region, int64_t at,
		 uint32_t day, const ldc_consistency *cons, Ledger__Response **out,
		 ld_errinfo *e);
/* A target's figure day by day (or week by week): (*out)->progress_series.
 * region 0: the province; year, from_day, to_day 0: the plan's whole period
 * (days as YYYYMMDD in the plan's local time, to_day inclusive).
 * ERR_NOT_FOUND for an unknown plan or target, ERR_INVALID_VALUE for a
 * region, year or day outside the plan. */
typedef struct ldc_series_query {
	const char *plan, *target;
	uint32_t region, year, from_day, to_day;
	int week; /* weeks (Monday to Sunday) instead of days */
} ldc_series_query;
int ldc_progress_series(ldc *c, const ldc_series_query *q, const ldc_consistency *cons,
			Ledger__Response **out, ld_errinfo *e);
/* The plans the daemon counts against and where its live feed is:
 * (*out)->plans. */
int ldc_plans(ldc *c, Ledger__Response **out, ld_errinfo *e);

/*
 * The live feed (NNG SUB). Subscribes to messages whose topic starts with
 * prefix ("" for all), e.g. "progress/jiangsu-2024-2026/". The dial is
 * retried in the background. NNG drops messages for a subscriber that does
 * not keep up: each message says which seq it follows (see ledger.proto).
 */
typedef struct ldc_sub ldc_sub;
int ldc_sub_open(ldc_sub **out, const char *url, const char *prefix, ld_errinfo *e);
/* Waits up to timeout_ms for a message: 0 with the topic copied into topic
 * (NUL-terminated, truncated to cap) and *body / *len the bytes after it
 * (free with free()); LD_E(UNAVAILABLE) on timeout or a closed socket. */
int ldc_sub_recv(ldc_sub *s, int timeout_ms, char *topic, size_t cap, uint8_t **body,
		 size_t *len);
/* A descriptor that poll(2) finds readable while a message waits (NNG's
 * NNG_OPT_RECVFD): to sleep on the feed and other descriptors at once, then
 * take the messages with ldc_sub_recv(s, 0, ...). It stays s's: never read
 * or close it. -1 if NNG gives none. */
int ldc_sub_fd(ldc_sub *s);
void ldc_sub_close(ldc_sub *s);

/* ------------------------------------------------------------------ */
/* Audit: the hash chain (clients/audit.c)                             */
/* ------------------------------------------------------------------ */

/* 1: ev's stored hash is SHA-256(prev_hash || seq || canonical(ev)); 0: it
 * is not, or hash / prev_hash are missing; negative: out of memory. Checks
 * the event alone, not that prev_hash is the previous event's hash. */
int ldc_event_hash_ok(const Ledger__Event *ev);

/* What ldc_verify_chain found. */
typedef struct ldc_verify_result {
	uint64_t from, to;   /* the range checked (to: the head when 0 was asked) */
	uint64_t checked;    /* events checked and found good */
	uint64_t first_bad;  /* the first seq that fails, 0 if none */
	char why[200];       /* how it fails */
	uint8_t last_hash[LD_HASH_LEN]; /* hash of the last good event */
	int root_checked;    /* the Merkle root of th was recomputed and compared */
} ldc_verify_result;

/* A signed tree head (ledger.TreeHead, proto/rfc6962.h): the log's Merkle
 * tree of `size` events has `root`; `key` signed it at `timestamp`. */
typedef struct ldc_tree_head {
	uint64_t size;
	uint8_t root[LD_HASH_LEN];
	int64_t timestamp; /* µs */
	uint8_t sig[64];
	uint8_t key[32]; /* Ed25519 public key of the signer */
} ldc_tree_head;

/*
 * Reads the log from seq `from` (0: 1) to `to` (0: the head) in pages of
 * read_log and recomputes the hash chain: each event must be the seq that
 * follows, its prev_hash the hash of the one before (32 zero bytes before
 * seq 1; for from > 1 the stored hash of from-1 is the anchor), and its
 * stored hash the one its content gives. Stops at the first event that fails
 * (res->first_bad, res->why; an event that no longer decodes fails too).
 * With th (not NULL; its signature checked by the caller) and a range from
 * seq 1 through th->size, the Merkle root of the first th->size events is
 * recomputed from their hashes too, and a root other than th->root fails at
 * seq th->size (res->root_checked says whether it was compared).
 * Returns 0 when the range was read, whether or not it is intact (look at
 * res->first_bad); LD_E(INVALID_VALUE) for from > to or to beyond the head;
 * the call's error otherwise.
 */
int ldc_verify_chain(ldc *c, uint64_t from, uint64_t to, const ldc_tree_head *th,
		     ldc_verify_result *res, ld_errinfo *e);

/* ------------------------------------------------------------------ */
/* Audit: Merkle proofs and signed tree heads (clients/audit.c)        */
/* ------------------------------------------------------------------ */

/* The raw requests (ledger.proto, fields 60-63). tree_size / to_size 0: the
 * current tree head. */
int ldc_tree_head_raw(ldc *c, Ledger__Response **out, ld_errinfo *e);
int ldc_public_key(ldc *c, uint8_t key[32], ld_errinfo *e);
int ldc_inclusion_proof(ldc *c, const uint64_t *seqs, size_t n, uint64_t tree_size,
			Ledger__Response **out, ld_errinfo *e);
int ldc_consistency_proof(ldc *c, uint64_t from_size, uint64_t to_size, Ledger__Response **out,
			  ld_errinfo *e);

/* 0 if h->sig is the signature of h by key (NULL: by h->key), else
 * LD_E(BAD_SIGNATURE) with a message; a key other than h->key is
 * LD_E(BAD_SIGNATURE) too (the head was not signed by the key trusted). */
int ldc_tree_head_check(const ldc_tree_head *h, const uint8_t *key, ld_errinfo *e);
/* Fetches the current signed tree head and checks it with key (NULL: the
 * key the server sends along; trust on first use). 0, LD_E(BAD_SIGNATURE),
 * or the call's error. */
int ldc_get_tree_head(ldc *c, const uint8_t *key, ldc_tree_head *out, ld_errinfo *e);
/* A tree head as a JSON file ({"tree_size", "root_hash", "timestamp",
 * "signature", "public_key"}; hashes in hex), and back. Load checks the
 * signature with the key in the file: LD_E(BAD_SIGNATURE) if it fails,
 * LD_E(INVALID_VALUE) for a file that is not such a head. */
int ldc_tree_head_save(const char *path, const ldc_tree_head *h, ld_errinfo *e);
int ldc_tree_head_load(const char *path, ldc_tree_head *h, ld_errinfo *e);
/* The same object in memory: a new JSON object (json_decref it) or NULL;
 * and back, with the signature checked as by load. */
json_t *ldc_tree_head_json(const ldc_tree_head *h);
int ldc_tree_head_from_json(json_t *j, ldc_tree_head *h, ld_errinfo *e);
/* A packed ledger.TreeHead (the live feed's "tree-head" messages) into h,
 * its signature checked with key (NULL: the key it names). 0,
 * LD_E(MALFORMED), or LD_E(BAD_SIGNATURE). */
int ldc_tree_head_unpack(const uint8_t *body, size_t len, const uint8_t *key, ldc_tree_head *h,
			 ld_errinfo *e);

/* Proves that the tree of `old` is a prefix of the tree of `cur` (both
 * already checked), with a consistency proof from the server: 0, or
 * LD_E(PROOF_MISMATCH) when the proof does not verify (the log was
 * rewritten), or the call's error. */
int ldc_check_consistency(ldc *c, const ldc_tree_head *old, const ldc_tree_head *cur,
			  ld_errinfo *e);
/*
 * Proves that every event of evs (n of them, each with seq <= h->size) is in
 * the tree of h: its hash is recomputed from its content (LD_E(CHAIN_BROKEN)
 * if it does not match), its leaf taken from that, and its inclusion proof
 * (fetched in requests of up to 1000) checked against h->root
 * (LD_E(PROOF_MISMATCH)). The first failing seq goes to *bad_seq (and
 * e->seq). LD_E(SEQ_BEYOND_HEAD) for an event beyond h->size.
 */
int ldc_check_inclusion(ldc *c, const ldc_tree_head *h, Ledger__Event *const *evs, size_t n,
			uint64_t *bad_seq, ld_errinfo *e);

/* A hot backup of the log into dir, an absolute path on the server's
 * machine (absent or empty): (*out)->backup once the copy is on disk. A big
 * log takes a while: open the connection with a timeout that allows it.
 * Errors as ledger.proto's BackupRequest says. */
int ldc_backup(ldc *c, const char *dir, Ledger__Response **out, ld_errinfo *e);

/*
 * Subscriptions: pages of the log after a seq, in seq order, through an
 * optional filter; the events stay in their stored bytes (decode one with
 * codec_event_unpack), so a subscriber that catches up is not bound by
 * decoding. The subscriber keeps its checkpoint: the next call's after_seq
 * is page->next_seq - 1, which moves past events the filter skipped.
 * wait_ms > 0 makes a caught-up call wait (at most 30,000 ms) for the next
 * commit and answer at once when it lands; the call's timeout is extended
 * to cover it. after_seq beyond the head answers ERR_AFTER_HEAD (the log is
 * not the one the checkpoint came from); 0 starts at the beginning. With a
 * list of a cluster's nodes ("a,b,c"), any node serves the pages: one that
 * cannot be reached, or answers ERR_AFTER_HEAD (it lags), is left for the
 * next, each asked once a call (the last one's error is the call's).
 */
typedef struct ldc_subscription {
	const char *subscriber_id;     /* NULL: anonymous (not listed by `subscribers`) */
	uint32_t max_events;           /* 0: the server's default (1,000); at most 10,000 */
	uint32_t max_bytes;            /* 0: the server's default (4 MiB); 4 KiB … 16 MiB */
	uint32_t wait_ms;              /* 0: answer at once */
	const Ledger__EventType *kinds; /* filter; NULL/0: every kind */
	size_t nkinds;
	const char *org_subtree;       /* NULL: any organisation */
	const char *region_prefix;     /* NULL: any region; else 1-6 digits */
} ldc_subscription;

typedef struct ldc_bytes {
	const uint8_t *data;
	size_t len;
} ldc_bytes;

/* A page; zero it before the first call, reuse it for the next ones (each
 * call replaces the previous page), free it with ldc_page_free. */
typedef struct ldc_page {
	ldc_bytes *events; /* packed ledger.Event, valid until the next call */
	size_t n;
	uint64_t next_seq; /* resume with after_seq = next_seq - 1 */
	uint64_t head_seq; /* the log head when the page was read */
	uint64_t scanned;  /* events the server looked at (matching or not) */
	size_t cap;
	void *msg;
} ldc_page;

int ldc_subscribe(ldc *c, const ldc_subscription *s, uint64_t after_seq, ldc_page *page,
		  ld_errinfo *e);
void ldc_page_free(ldc_page *page);
/* The subscribers the daemon has seen: (*out)->subscribers. */
int ldc_subscribers(ldc *c, Ledger__Response **out, ld_errinfo *e);

/* A fresh event id: a version-7 UUID (RFC 9562), 48 bits of the current
 * time in milliseconds then 74 random bits (getrandom). Time-ordered ids
 * keep the daemon's idempotency index appending; any 16 unique bytes work. */
void ldc_new_event_id(uint8_t id[LD_EVENT_ID_LEN]);
/* A deterministic event id: the first 16 bytes of SHA-256(text). For
 * imports and generators that must be idempotent across runs. */
void ldc_derived_event_id(const char *text, uint8_t id[LD_EVENT_ID_LEN]);

/* Current time in microseconds since the epoch (CLOCK_REALTIME: ld_wall_us of
 * clock.h, which also has the monotonic clock for durations). */
int64_t ldc_now_us(void);

/* Renders any message as JSON: field names as in the .proto, in field-number
 * order; enums by name (a value this build does not know: its number); bytes
 * as lowercase hex; 64-bit integers as numbers (uint64 above 2^63-1, which no
 * ledger field reaches, as a decimal string); times kept as integers (µs),
 * each followed by "<name>_rfc3339", the time in RFC 3339 with the ledger's
 * offset ("2026-06-30T14:05:00+08:00", when.h); nested messages as objects; repeated fields as arrays (also when empty);
 * of a oneof only the member that is set; optional fields only when present;
 * strings that are not UTF-8 with '?' for the bytes >= 0x80. NULL msg gives
 * JSON null. Returns a new reference, or NULL if memory runs out. */
json_t *ldc_to_json(const void *msg);

/* Whether field f of messages d holds an instant, µs since the epoch: the
 * int64 fields named *_at, at, timestamp, last_seen, from_time, to_time,
 * window_from, window_to, and a plan's from and to. */
int ldc_is_time_field(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f);

#endif
