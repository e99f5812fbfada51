/* server.c — NNG behind one file. See server.h for the contract. */
#include "server.h"

#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "backup.h"
#include "check.h"
#include "history.h"
#include "log.h"
#include "members.h"
#include "counters.h"
#include "model.h"
#include "pii.h"
#include "progress.h"
#include "subscribe.h"
#include "transfers.h"

#define HARD_MAX_MSG (64u << 20) /* NNG drops the connection above this */
#define SEND_TIMEOUT_MS 10000
#define SUB_POOL_THREADS 2 /* threads reading subscription pages */
#define SUB_POOL_NICE 10   /* ... at this lower CPU priority */

typedef struct worker worker;

#define LISTENER_NAME_MAX 63

typedef struct listener {
	char spec[512]; /* as configured, with ?name=&ca= (for messages) */
	char url[256];  /* what NNG listens on: spec without the parameters */
	nng_listener l;
	int ipc;
	/* tls+tcp:// only: the client group (identity "tls:<name>"), the CA
	 * its clients' certificates must chain to (PEM file and its text) and
	 * the listener's own TLS configuration, trusting only that CA. */
	char name[LISTENER_NAME_MAX + 1];
	char ca[512];
	char *ca_pem;
	nng_tls_config *tls;
	atomic_uint pipes; /* connections that reached the socket through it */
} listener;

struct server {
	nng_socket sock;
	store *s;
	writer *w;
	runner *proj;
	merkle_signer *signer;
	const roles *roles; /* NULL: development mode, everyone is admin */
	keystore *keys;     /* personal data (core/pii.h); NULL: none accepted */
	size_t max_msg;
	worker *workers;
	int nworkers;
	listener listeners[SERVER_MAX_URLS];
	size_t nlisteners;
	/* IPC probe thread. */
	pthread_t probe;
	int probe_ms, probing;
	pthread_mutex_t probe_lock;
	pthread_cond_t probe_wake;
	int stopping;
	atomic_uint ipc_restarts;
	/* Where the live feed is published (daemon/feed.c owns the socket). */
	int has_pub;
	char pub_url[256];
	backup *backup; /* hot backups, on a thread of their own */
	/* Subscriptions waiting for a commit (long-polls), woken by the
	 * writer's commit hook or their aio's timeout; the registry. */
	pthread_mutex_t sub_lock;
	worker *sub_waiters;
	int nwaiting, max_waiting, sub_hooked;
	sub_registry *subs;
	/* The pool that reads subscription pages. */
	pthread_t pool[SUB_POOL_THREADS];
	int npool, pool_stopping;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_wake;
	worker *pool_head, *pool_tail;
};

enum worker_state {
	W_RECV,
	W_WAIT_WRITER,
	W_REPLY_APPEND,
	W_WAIT_PROJ,
	W_QUERY,
	W_SEND,
	W_WAIT_BACKUP,
	W_REPLY_BACKUP,
	W_WAIT_SUB,  /* a subscription waiting for a commit */
	W_SUB_READY, /* ... woken (or timed out): read again */
	W_SUB_QUEUED, /* a page read queued for the pool */
	W_SUB_DONE,   /* ... read: send it, or wait */
};

/* A subscription request being served (it outlives its decoded request). */
typedef struct sub_state {
	uint64_t after;  /* the next page starts after this seq */
	sub_filter f;
	size_t max_events, max_bytes;
	nng_time deadline;
	int wait, timed_out, listed, park, rounds;
	nng_msg *reply;  /* the page the pool read */
	char id[LD_ID_MAX + 1], peer[WRITER_ACTOR_MAX];
	worker *next;    /* in server.sub_waiters */
} sub_state;

struct worker {
	server *srv;
	nng_aio *aio;
	nng_ctx ctx;
	enum worker_state state;
	Ledger__Request *req; /* an append waiting for the writer, or a query
			       * waiting for the projections */
	append_req areq;
	int wait_ok;          /* how the wait for the projections ended */
	struct page *page;    /* scratch for reads */
	int backup_rc;        /* how the backup ended, and its result */
	ld_errinfo backup_err;
	backup_result backup_res;
	sub_state sub;
};

/* ------------------------------------------------------------------ */
/* Replies                                                             */
/* ------------------------------------------------------------------ */

static nng_msg *pack_response(const Ledger__Response *resp)
{
	nng_msg *m;
	size_t n = codec_size(resp);
	if (nng_msg_alloc(&m, n) != 0)
		return NULL;
	codec_pack(resp, nng_msg_body(m));
	return m;
}

static void fill_error(Ledger__Error *err, const ld_errinfo *e)
{
	counters_error(e->code);
	ledger__error__init(err);
	err->has_code = 1;
	err->code = ld_wire_code(e->code);
	err->message = (char *)(e->message[0] ? e->message : ld_strerror(e->code));
	if (e->field[0])
		err->field = (char *)e->field;
	if (e->seq) {
		err->has_seq = 1;
		err->seq = e->seq;
	}
}

static nng_msg *error_reply(const ld_errinfo *e)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__Error err;
	fill_error(&err, e);
	resp.error = &err;
	return pack_response(&resp);
}

static nng_msg *error_msg(int code, const char *msg)
{
	ld_errinfo e;
	ld_errinfo_set(&e, code, NULL, "%s", msg);
	return error_reply(&e);
}

static nng_msg *append_reply(const append_req *r)
{
	size_t n = r->req->n_events;
	if (r->status) {
		ld_errinfo e;
		ld_errinfo_set(&e, r->status, NULL, "%s; nothing of this request was recorded",
			       ld_strerror(r->status));
		return error_reply(&e);
	}
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__AppendResult res = LEDGER__APPEND_RESULT__INIT;
	Ledger__EventResult *results = calloc(n ? n : 1, sizeof(*results));
	Ledger__EventResult **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	Ledger__Error *errs = calloc(n ? n : 1, sizeof(*errs));
	nng_msg *m = NULL;
	if (!results || !ptrs || !errs)
		goto out;
	uint32_t accepted = 0, dups = 0, rejected = 0;
	for (size_t i = 0; i < n; i++) {
		const append_item *it = &r->items[i];
		Ledger__EventResult *er = &results[i];
		ledger__event_result__init(er);
		ptrs[i] = er;
		if (it->code) {
			ld_errinfo fallback;
			const ld_errinfo *e = it->err;
			if (!e) {
				ld_errinfo_set(&fallback, it->code, NULL, "%s", ld_strerror(it->code));
				e = &fallback;
			}
			fill_error(&errs[i], e);
			if (it->err == NULL)
				errs[i].message = (char *)ld_strerror(it->code);
			errs[i].has_index = 1;
			errs[i].index = (uint32_t)i;
			er->error = &errs[i];
			rejected++;
			continue;
		}
		er->has_seq = er->has_version = 1;
		er->seq = it->seq;
		er->version = it->version;
		if (it->duplicate) {
			er->has_duplicate = er->duplicate = 1;
			dups++;
		} else {
			accepted++;
		}
	}
	counters_append(n, accepted, dups, rejected);
	res.n_results = n;
	res.results = ptrs;
	res.has_head_seq = res.has_accepted = res.has_duplicates = res.has_rejected = 1;
	res.head_seq = r->head_seq;
	res.accepted = accepted;
	res.duplicates = dups;
	res.rejected = rejected;
	resp.result_case = LEDGER__RESPONSE__RESULT_APPEND;
	resp.append = &res;
	m = pack_response(&resp);
out:
	free(results);
	free(ptrs);
	free(errs);
	return m;
}

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

/* A page of stored events, embedded as they are stored (no decoding):
 * Response { page = 21: EventPage { events = 1 ...; next_seq = 2; head_seq = 3 } }. */
struct page {
	store_val ev[10000];
	size_t n, bytes;
};
typedef struct page page;

static nng_msg *page_reply(const page *p, uint64_t next, uint64_t head_seq)
{
	size_t inner = p->bytes + 1 + codec_varint_len(next) + 1 + codec_varint_len(head_seq);
	size_t total = codec_ld_len(21, inner);
	nng_msg *m;
	if (nng_msg_alloc(&m, total) != 0)
		return NULL;
	uint8_t *o = nng_msg_body(m);
	o = codec_put_ld(o, 21, inner);
	for (size_t i = 0; i < p->n; i++) {
		o = codec_put_ld(o, 1, p->ev[i].len);
		memcpy(o, p->ev[i].data, p->ev[i].len);
		o += p->ev[i].len;
	}
	*o++ = (2 << 3) | 0;
	o = codec_put_varint(o, next);
	*o++ = (3 << 3) | 0;
	codec_put_varint(o, head_seq);
	return m;
}

static int limit_of(uint32_t has, uint32_t limit, ld_errinfo *e, const char *field)
{
	if (!has)
		return 1000;
	if (limit < 1 || limit > 10000)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				      "limit must be 1 to 10000, got %u", limit);
	return (int)limit;
}

static nng_msg *read_log(server *srv, const Ledger__ReadLogRequest *q, page *p)
{
	ld_errinfo e;
	int limit = limit_of(q->has_limit, q->limit, &e, "read_log.limit");
	if (limit < 0)
		return error_reply(&e);
	uint64_t from = q->has_from_seq && q->from_seq ? q->from_seq : 1;
	uint64_t head;
	writer_head(srv->w, &head, NULL, NULL);
	if (from > head + 1) {
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "read_log.from_seq",
			       "from_seq %llu is beyond the head %llu",
			       (unsigned long long)from, (unsigned long long)head);
		return error_reply(&e);
	}
	/* The filter as a set of body kinds (EventType values are field
	 * numbers below 128), so matching costs the same for any list. */
	uint64_t want[2] = {0, 0};
	if (q->n_types > 128) {
		ld_errinfo_set(&e, LD_E(TOO_LARGE), "read_log.types",
			       "%zu types in the filter; at most 128", q->n_types);
		return error_reply(&e);
	}
	for (size_t i = 0; i < q->n_types; i++) {
		int t = (int)q->types[i];
		if (t <= 0 || t >= 128 ||
		    !protobuf_c_enum_descriptor_get_value(&ledger__event_type__descriptor, t)) {
			ld_errinfo_set(&e, LD_E(UNKNOWN_ENUM), "read_log.types",
				       "%d is not a known EventType", t);
			return error_reply(&e);
		}
		want[t / 64] |= 1ULL << (t % 64);
	}

	store_txn *t;
	store_cursor *c;
	store_val k, v;
	uint8_t key[8];
	nng_msg *m = NULL;
	int rc = store_read_begin(srv->s, &t);
	if (rc)
		return error_msg(rc, "unable to read the log");
	p->n = p->bytes = 0;
	uint64_t next = from;
	if ((rc = store_cursor_open(t, DB_LOG, &c)) == 0) {
		ld_put_be64(key, from);
		/* Stop at the committed head the page reports, even if more
		 * commits land while it is read. Bound the scan too, so a
		 * filter that matches nothing cannot walk the whole log. */
		size_t scanned = 0;
		for (rc = store_cursor_seek(c, key, 8, &k, &v);
		     rc == 0 && p->n < (size_t)limit && scanned < 100000;
		     rc = store_cursor_next(c, &k, &v), scanned++) {
			uint64_t seq = ld_get_be64(k.data);
			if (seq > head)
				break;
			next = seq + 1;
			if (q->n_types) {
				int bc = codec_peek_body_case(v.data, v.len);
				if (bc <= 0 || bc >= 128 || !((want[bc / 64] >> (bc % 64)) & 1))
					continue;
			}
			if (p->bytes + v.len + 8 > 32u << 20)
				break; /* keep a page under 32 MiB */
			p->ev[p->n++] = v;
			p->bytes += codec_ld_len(1, v.len);
		}
		store_cursor_close(c);
	}
	if (rc == 0 || rc == LD_E(NOT_FOUND))
		m = page_reply(p, next, head);
	else
		m = error_msg(rc, "unable to read the log");
	store_read_end(t);
	return m;
}

static nng_msg *read_stream(server *srv, const Ledger__ReadStreamRequest *q, page *p)
{
	ld_errinfo e;
	int limit = limit_of(q->has_limit, q->limit, &e, "read_stream.limit");
	if (limit < 0)
		return error_reply(&e);
	if (!ld_has(q->stream)) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "read_stream.stream",
			       "stream (\"member/<id>\", \"org/<id>\", \"region/<code>\") is required");
		return error_reply(&e);
	}
	if (strlen(q->stream) >= LD_STREAM_MAX) {
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "read_stream.stream",
			       "a stream name has at most %d bytes", LD_STREAM_MAX - 1);
		return error_reply(&e);
	}
	uint64_t from = q->has_from_version && q->from_version ? q->from_version : 1;
	uint64_t head;
	writer_head(srv->w, &head, NULL, NULL);

	store_txn *t;
	store_cursor *c;
	store_val k, v, ev;
	uint8_t key[LD_STREAM_MAX + 9], logkey[8];
	size_t n = strlen(q->stream);
	nng_msg *m = NULL;
	int rc = store_read_begin(srv->s, &t);
	if (rc)
		return error_msg(rc, "unable to read the log");
	memcpy(key, q->stream, n);
	key[n] = 0;
	ld_put_be64(key + n + 1, from);
	p->n = p->bytes = 0;
	uint64_t next = from, found = 0;
	if ((rc = store_cursor_open(t, DB_STREAMS, &c)) == 0) {
		for (rc = store_cursor_seek(c, key, n + 9, &k, &v); rc == 0 && p->n < (size_t)limit;
		     rc = store_cursor_next(c, &k, &v)) {
			if (k.len != n + 9 || memcmp(k.data, key, n + 1) != 0 ||
			    ld_get_be64((const uint8_t *)k.data + n + 1) == UINT64_MAX)
				break; /* past the stream, or at its head record */
			uint64_t seq = ld_get_be64(v.data);
			if (seq > head)
				break;
			memcpy(logkey, v.data, 8);
			if ((rc = store_get(t, DB_LOG, logkey, 8, &ev)))
				break;
			p->ev[p->n++] = ev;
			p->bytes += codec_ld_len(1, ev.len);
			next = ld_get_be64((const uint8_t *)k.data + n + 1) + 1;
			found++;
		}
		store_cursor_close(c);
	}
	if (rc && rc != LD_E(NOT_FOUND)) {
		m = error_msg(rc, "unable to read the stream");
	} else if (!found && from == 1) {
		ld_errinfo_set(&e, LD_E(NOT_FOUND), "read_stream.stream", "stream '%s' not found",
			       q->stream);
		m = error_reply(&e);
	} else {
		m = page_reply(p, next, head);
	}
	store_read_end(t);
	return m;
}

/* An event that may carry sealed personal data, which get_event decrypts. */
static int revealable(store_val v)
{
	int bc = codec_peek_body_case(v.data, v.len);
	return bc == LEDGER__EVENT__BODY_MEMBER_JOINED || bc == LEDGER__EVENT__BODY_PROFILE_CHANGED ||
	       bc == LEDGER__EVENT__BODY_EVENT_AMENDED;
}

static nng_msg *revealed_event_reply(server *srv, store_val v)
{
	Ledger__Event *ev = codec_event_unpack(v.data, v.len);
	if (!ev)
		return error_msg(LD_E(STORAGE), "a stored event does not decode");
	ld_arena a = LD_ARENA_INIT;
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	pii_reveal(srv->keys, ev, &a);
	resp.result_case = LEDGER__RESPONSE__RESULT_EVENT;
	resp.event = ev;
	nng_msg *m = pack_response(&resp);
	pii_unreveal(ev);
	codec_event_free(ev);
	ld_arena_free(&a);
	return m;
}

static nng_msg *get_event(server *srv, const Ledger__GetEventRequest *q)
{
	uint8_t key[8];
	store_txn *t;
	store_val v;
	ld_errinfo e;
	uint64_t head;
	writer_head(srv->w, &head, NULL, NULL);
	if (!q->has_seq) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "get_event.seq", "get_event.seq is required");
		return error_reply(&e);
	}
	if (q->seq == 0 || q->seq > head) {
		ld_errinfo_set(&e, LD_E(NOT_FOUND), "get_event.seq",
			       "no event seq %llu (the log head is %llu)",
			       (unsigned long long)q->seq, (unsigned long long)head);
		return error_reply(&e);
	}
	int rc = store_read_begin(srv->s, &t);
	if (rc)
		return error_msg(rc, "unable to read the log");
	nng_msg *m = NULL;
	ld_put_be64(key, q->seq);
	rc = store_get(t, DB_LOG, key, 8, &v);
	if (rc == 0 && revealable(v)) {
		m = revealed_event_reply(srv, v);
	} else if (rc == 0 && nng_msg_alloc(&m, codec_ld_len(20, v.len)) == 0) {
		uint8_t *o = codec_put_ld(nng_msg_body(m), 20, v.len);
		memcpy(o, v.data, v.len);
	} else if (rc) {
		m = error_msg(rc, "unable to read the event from the log");
	}
	store_read_end(t);
	return m;
}

static nng_msg *head_reply(server *srv)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__Head h = LEDGER__HEAD__INIT;
	uint8_t hash[LD_HASH_LEN];
	writer_head(srv->w, &h.seq, hash, &h.recorded_at);
	h.has_seq = h.has_hash = 1;
	h.has_recorded_at = h.recorded_at != 0;
	h.hash.len = LD_HASH_LEN;
	h.hash.data = hash;
	resp.result_case = LEDGER__RESPONSE__RESULT_HEAD;
	resp.head = &h;
	return pack_response(&resp);
}

/* ------------------------------------------------------------------ */
/* Audit proofs: tree heads, inclusion and consistency proofs           */
/* ------------------------------------------------------------------ */

#define MAX_PROOF_SEQS 1000

/* The committed tree; an error reply when the tree is off. */
static nng_msg *current_tree(server *srv, uint64_t *size, uint8_t root[LD_HASH_LEN])
{
	if (!srv->signer || writer_tree(srv->w, size, root) != 0)
		return error_msg(LD_E(INVALID_STATE),
				 "this server keeps no Merkle tree (started with --no-merkle)");
	return NULL;
}

/* A signed head for (size, root) into h, with its bytes in mh and pub. */
static int fill_tree_head(server *srv, uint64_t size, const uint8_t root[LD_HASH_LEN],
			  Ledger__TreeHead *h, merkle_head *mh, uint8_t pub[LD_ED25519_KEY])
{
	int rc = merkle_sign(srv->signer, size, root, mh);
	if (rc)
		return rc;
	merkle_signer_public(srv->signer, pub);
	ledger__tree_head__init(h);
	h->has_tree_size = h->has_root_hash = h->has_timestamp = h->has_signature = 1;
	h->has_public_key = 1;
	h->tree_size = mh->size;
	h->root_hash.len = LD_HASH_LEN;
	h->root_hash.data = mh->root;
	h->timestamp = mh->timestamp;
	h->signature.len = LD_ED25519_SIG;
	h->signature.data = mh->sig;
	h->public_key.len = LD_ED25519_KEY;
	h->public_key.data = pub;
	return 0;
}

static nng_msg *tree_head_reply(server *srv)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__TreeHead h;
	merkle_head mh;
	uint8_t root[LD_HASH_LEN], pub[LD_ED25519_KEY];
	uint64_t size;
	nng_msg *m = current_tree(srv, &size, root);
	if (m)
		return m;
	if (fill_tree_head(srv, size, root, &h, &mh, pub) != 0)
		return error_msg(LD_E(INTERNAL), "unable to sign the tree head");
	resp.result_case = LEDGER__RESPONSE__RESULT_TREE_HEAD;
	resp.tree_head = &h;
	return pack_response(&resp);
}

static nng_msg *public_key_reply(server *srv)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__PublicKey k = LEDGER__PUBLIC_KEY__INIT;
	uint8_t pub[LD_ED25519_KEY];
	if (!srv->signer)
		return error_msg(LD_E(INVALID_STATE), "this server signs no tree heads");
	merkle_signer_public(srv->signer, pub);
	k.algorithm = "ed25519";
	k.has_key = 1;
	k.key.len = LD_ED25519_KEY;
	k.key.data = pub;
	resp.result_case = LEDGER__RESPONSE__RESULT_PUBLIC_KEY;
	resp.public_key = &k;
	return pack_response(&resp);
}

static nng_msg *inclusion_reply(server *srv, const Ledger__InclusionProofRequest *q)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__InclusionProofs res = LEDGER__INCLUSION_PROOFS__INIT;
	Ledger__TreeHead th;
	merkle_head mh;
	ld_errinfo e;
	uint8_t root[LD_HASH_LEN], pub[LD_ED25519_KEY];
	uint64_t cur;
	nng_msg *m = current_tree(srv, &cur, root);
	if (m)
		return m;
	if (q->n_seqs == 0) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "inclusion_proof.seqs",
			       "inclusion_proof.seqs is required");
		return error_reply(&e);
	}
	if (q->n_seqs > MAX_PROOF_SEQS) {
		ld_errinfo_set(&e, LD_E(TOO_LARGE), "inclusion_proof.seqs",
			       "%zu seqs in one request; at most %d", q->n_seqs, MAX_PROOF_SEQS);
		return error_reply(&e);
	}
	uint64_t size = q->has_tree_size && q->tree_size ? q->tree_size : cur;
	if (size > cur) {
		ld_errinfo_set(&e, LD_E(SIZE_BEYOND_HEAD), "inclusion_proof.tree_size",
			       "tree_size %llu is beyond the tree head, %llu",
			       (unsigned long long)size, (unsigned long long)cur);
		return error_reply(&e);
	}
	for (size_t i = 0; i < q->n_seqs; i++) {
		uint64_t seq = q->seqs[i];
		if (seq == 0) {
			ld_errinfo_set(&e, LD_E(INVALID_VALUE), "inclusion_proof.seqs",
				       "seq 0 does not exist; the log starts at 1");
			return error_reply(&e);
		}
		if (seq > size) {
			ld_errinfo_set(&e, LD_E(SEQ_BEYOND_HEAD), "inclusion_proof.seqs",
				       "seq %llu is beyond the tree of size %llu%s",
				       (unsigned long long)seq, (unsigned long long)size,
				       size == cur ? " (the tree head)" : "");
			e.seq = seq;
			return error_reply(&e);
		}
	}
	size_t n = q->n_seqs;
	Ledger__InclusionProof *proofs = calloc(n, sizeof(*proofs));
	Ledger__InclusionProof **pp = calloc(n, sizeof(*pp));
	ProtobufCBinaryData *bins = calloc(n * LD_MERKLE_MAX_PROOF, sizeof(*bins));
	uint8_t(*hashes)[LD_MERKLE_HASH] = malloc(n * LD_MERKLE_MAX_PROOF * LD_MERKLE_HASH);
	store_txn *t = NULL;
	int rc = LD_E(INTERNAL);
	if (!proofs || !pp || !bins || !hashes || (rc = store_read_begin(srv->s, &t)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t np = 0;
		uint8_t(*path)[LD_MERKLE_HASH] = hashes + i * LD_MERKLE_MAX_PROOF;
		ProtobufCBinaryData *b = bins + i * LD_MERKLE_MAX_PROOF;
		if ((rc = ld_merkle_inclusion_proof(q->seqs[i] - 1, size, merkle_node, t, path,
						    &np)) != 0)
			goto out;
		ledger__inclusion_proof__init(&proofs[i]);
		proofs[i].has_seq = 1;
		proofs[i].seq = q->seqs[i];
		for (size_t k = 0; k < np; k++) {
			b[k].len = LD_MERKLE_HASH;
			b[k].data = path[k];
		}
		proofs[i].n_path = np;
		proofs[i].path = b;
		pp[i] = &proofs[i];
	}
	res.has_tree_size = 1;
	res.tree_size = size;
	res.n_proofs = n;
	res.proofs = pp;
	if (!(q->has_tree_size && q->tree_size)) {
		if ((rc = fill_tree_head(srv, size, root, &th, &mh, pub)) != 0)
			goto out;
		res.tree_head = &th;
	}
	resp.result_case = LEDGER__RESPONSE__RESULT_INCLUSION_PROOFS;
	resp.inclusion_proofs = &res;
	m = pack_response(&resp);
out:
	if (t)
		store_read_end(t);
	if (!m)
		m = error_msg(rc ? rc : LD_E(INTERNAL), "unable to read the Merkle tree");
	free(proofs);
	free(pp);
	free(bins);
	free(hashes);
	return m;
}

static nng_msg *consistency_reply(server *srv, const Ledger__ConsistencyProofRequest *q)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__ConsistencyProof res = LEDGER__CONSISTENCY_PROOF__INIT;
	ProtobufCBinaryData bins[LD_MERKLE_MAX_PROOF];
	uint8_t path[LD_MERKLE_MAX_PROOF][LD_MERKLE_HASH], root[LD_HASH_LEN];
	ld_errinfo e;
	uint64_t cur;
	nng_msg *m = current_tree(srv, &cur, root);
	if (m)
		return m;
	if (!q->has_from_size) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "consistency_proof.from_size",
			       "consistency_proof.from_size is required");
		return error_reply(&e);
	}
	uint64_t to = q->has_to_size && q->to_size ? q->to_size : cur;
	if (to > cur || q->from_size > cur) {
		int from_bad = q->from_size > cur;
		ld_errinfo_set(&e, LD_E(SIZE_BEYOND_HEAD),
			       from_bad ? "consistency_proof.from_size" : "consistency_proof.to_size",
			       "%s %llu is beyond the tree head, %llu",
			       from_bad ? "from_size" : "to_size",
			       (unsigned long long)(from_bad ? q->from_size : to),
			       (unsigned long long)cur);
		return error_reply(&e);
	}
	if (q->from_size > to) {
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "consistency_proof.from_size",
			       "from_size %llu is larger than to_size %llu",
			       (unsigned long long)q->from_size, (unsigned long long)to);
		return error_reply(&e);
	}
	store_txn *t;
	size_t np = 0;
	int rc = store_read_begin(srv->s, &t);
	if (rc)
		return error_msg(rc, "unable to read the Merkle tree");
	rc = ld_merkle_consistency_proof(q->from_size, to, merkle_node, t, path, &np);
	store_read_end(t);
	if (rc)
		return error_msg(rc, "unable to read the Merkle tree");
	for (size_t k = 0; k < np; k++) {
		bins[k].len = LD_MERKLE_HASH;
		bins[k].data = path[k];
	}
	res.has_from_size = res.has_to_size = 1;
	res.from_size = q->from_size;
	res.to_size = to;
	res.n_path = np;
	res.path = bins;
	resp.result_case = LEDGER__RESPONSE__RESULT_CONSISTENCY_PROOF;
	resp.consistency_proof = &res;
	return pack_response(&resp);
}

/* ------------------------------------------------------------------ */
/* Appends                                                             */
/* ------------------------------------------------------------------ */

/* The peer's address as text ("?" if it has none). */
static void peer_ip(nng_pipe p, char *ip, size_t n)
{
	nng_sockaddr sa;
	snprintf(ip, n, "?");
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	if (sa.s_family == NNG_AF_INET)
		inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, (socklen_t)n);
	else if (sa.s_family == NNG_AF_INET6)
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, (socklen_t)n);
}

/*
 * The identity of the connection msg came on (server.h): "tls:<name>" for
 * a verified client of the tls+tcp:// listener named <name>, "uid:<number>"
 * for IPC, "addr:<ip>" for plain TCP. 0, or -1 when it cannot be told.
 * Reads the pipe only: never blocks.
 *
 * NNG 1.5.2 exposes no certificate field of the peer (NNG_OPT_TLS_PEER_CN
 * came in 1.6.0; a pipe answers only NNG_OPT_TLS_VERIFIED), so the identity
 * is the listener's: each tls+tcp:// listener trusts one client CA of its
 * own, and every certificate that chains to it is that client group.
 */
static int identity_of(server *srv, nng_msg *msg, char *out, size_t n)
{
	nng_pipe p = nng_msg_get_pipe(msg);
	uint64_t uid;
	bool verified;
	char ip[INET6_ADDRSTRLEN];
	if (nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &verified) == 0) {
		/* TLS listeners are never re-created: their ids are stable. */
		int id = nng_listener_id(nng_pipe_listener(p));
		for (size_t i = 0; verified && i < srv->nlisteners; i++) {
			const listener *li = &srv->listeners[i];
			if (li->name[0] && nng_listener_id(li->l) == id) {
				snprintf(out, n, "tls:%s", li->name);
				return 0;
			}
		}
		snprintf(out, n, "tls:(unverified)");
		return -1;
	}
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) == 0) {
		snprintf(out, n, "uid:%llu", (unsigned long long)uid);
		return 0;
	}
	peer_ip(p, ip, sizeof(ip));
	if (strcmp(ip, "?") != 0) {
		snprintf(out, n, "addr:%s", ip);
		return 0;
	}
	snprintf(out, n, "(unknown peer)");
	return -1;
}

/* What a command does, for the role check. A command not listed here is a
 * query: auditors may, subscribers may not. */
static roles_action action_of(const Ledger__Request *req)
{
	switch (req->command_case) {
	case LEDGER__REQUEST__COMMAND_APPEND:
		return ROLES_WRITE;
	case LEDGER__REQUEST__COMMAND_GET_EVENT:
	case LEDGER__REQUEST__COMMAND_READ_LOG:
	case LEDGER__REQUEST__COMMAND_HEAD:
	case LEDGER__REQUEST__COMMAND_TREE_HEAD:
	case LEDGER__REQUEST__COMMAND_INCLUSION_PROOF:
	case LEDGER__REQUEST__COMMAND_CONSISTENCY_PROOF:
	case LEDGER__REQUEST__COMMAND_PUBLIC_KEY:
	case LEDGER__REQUEST__COMMAND_SUBSCRIBE:
		return ROLES_READ_LOG;
	case LEDGER__REQUEST__COMMAND_BACKUP:
	case LEDGER__REQUEST__COMMAND_FORGET:
		return ROLES_ADMIN;
	default:
		return ROLES_QUERY;
	}
}

/* The writer decided the append: complete the worker's aio, which we
 * began as its provider (nng_aio_begin/defer in start_append), so the reply
 * is built and sent on NNG's threads, not the writer's. */
static void append_done(append_req *r)
{
	worker *w = r->arg;
	w->state = W_REPLY_APPEND;
	nng_aio_finish(w->aio, 0);
}

/* An append in the writer's hands, or a query waiting for the projections,
 * cannot be taken back; each completes when decided (writer_stop and
 * runner_stop decide every pending one before the server stops), so
 * cancellation has nothing to do. */
static void handoff_cancel(nng_aio *aio, void *arg, int err)
{
	(void)aio;
	(void)arg;
	(void)err;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Starts an append; returns a reply to send now, or NULL when the writer
 * has it (the reply follows in append_done). */
static nng_msg *start_append(worker *w, Ledger__Request *req, const char *identity,
			     const role *ro)
{
	Ledger__AppendRequest *a = req->append;
	ld_errinfo e;
	if (a->n_events == 0) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "append.events", "the append has no events");
		return error_reply(&e);
	}
	if (a->n_events > WRITER_MAX_BATCH) {
		ld_errinfo_set(&e, LD_E(TOO_LARGE), "append.events",
			       "%zu events in one request; at most %d", a->n_events,
			       WRITER_MAX_BATCH);
		return error_reply(&e);
	}
	append_req *r = &w->areq;
	memset(r, 0, sizeof(*r));
	r->req = a;
	r->items = calloc(a->n_events, sizeof(*r->items));
	if (!r->items)
		return error_msg(LD_E(INTERNAL), "out of memory");
	snprintf(r->actor, sizeof(r->actor), "%s", identity);
	r->role = ro && ro->kind == ROLE_CLERK ? ro : NULL;
	int64_t now = now_us();
	size_t failed = 0;
	for (size_t i = 0; i < a->n_events; i++) {
		memset(&e, 0, sizeof(e));
		/* Personal data: the national ID becomes person_hash before
		 * anything else sees it; name and phone are sealed once the
		 * event passed its checks (core/pii.h). */
		int rc = w->srv->keys ? pii_prepare(w->srv->keys, a->events[i], &e) : 0;
		if (rc == 0)
			rc = check_event(a->events[i], now, &e);
		if (rc == 0 && w->srv->keys)
			rc = pii_seal(w->srv->keys, w->srv->s, a->events[i], &e);
		else if (rc == 0 && codec_has_clear_personal(a->events[i]))
			rc = ld_errinfo_set(&e, LD_E(KEYSTORE), NULL,
					    "this server has no keystore: personal data is refused");
		if (rc) {
			failed++;
			r->items[i].code = rc;
			r->items[i].err = malloc(sizeof(ld_errinfo));
			if (r->items[i].err)
				*r->items[i].err = e;
		}
	}
	if (failed == a->n_events || (failed && a->atomic)) {
		/* Nothing for the writer to do: answer now, without a commit. */
		for (size_t i = 0; i < a->n_events; i++)
			if (!r->items[i].code) {
				r->items[i].code = LD_E(ABORTED);
				r->items[i].err = malloc(sizeof(ld_errinfo));
				if (r->items[i].err)
					ld_errinfo_set(r->items[i].err, LD_E(ABORTED), NULL,
						       "not recorded: another event of the atomic "
						       "batch was rejected");
			}
		writer_head(w->srv->w, &r->head_seq, NULL, NULL);
		nng_msg *reply = append_reply(r);
		append_req_release(r);
		free(r->items);
		return reply;
	}
	r->done = append_done;
	r->arg = w;
	w->req = req;
	w->state = W_WAIT_WRITER;
	if (!nng_aio_begin(w->aio)) { /* the socket is closing */
		w->state = W_RECV;
		w->req = NULL;
		append_req_release(r);
		free(r->items);
		return error_msg(LD_E(SHUTTING_DOWN), "server shutting down; nothing was recorded");
	}
	nng_aio_defer(w->aio, handoff_cancel, w);
	int rc = writer_submit(w->srv->w, r);
	if (rc == 0)
		return NULL;
	/* Refused (busy, stopping): the answer says so, with every item
	 * failed; it goes out through the same completion as a decided one. */
	r->status = rc;
	append_done(r);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Projection queries                                                  */
/* ------------------------------------------------------------------ */

static uint32_t this_month(void)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	return (uint32_t)(tm.tm_year + 1900) * 100 + (uint32_t)tm.tm_mon + 1;
}

static const Ledger__Consistency *consistency_of(const Ledger__Request *req)
{
	switch (req->command_case) {
	case LEDGER__REQUEST__COMMAND_GET_MEMBER:
		return req->get_member->consistency;
	case LEDGER__REQUEST__COMMAND_COVERAGE:
		return req->coverage->consistency;
	case LEDGER__REQUEST__COMMAND_TRANSFERS:
		return req->transfers->consistency;
	case LEDGER__REQUEST__COMMAND_HISTORY:
		return req->history->consistency;
	case LEDGER__REQUEST__COMMAND_PROGRESS:
		return req->progress->consistency;
	default:
		return NULL;
	}
}

static int required_id(const char *s, const char *field, const char *what, ld_errinfo *e)
{
	if (!ld_has(s))
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), field, "%s is required", field);
	if (!check_id(s))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field, "%s '%.80s' is not an identifier",
				      what, s);
	return 0;
}

/* Answers a projection query from one read transaction of the projection
 * environment (history: of the log). */
static nng_msg *run_query(server *srv, const Ledger__Request *req)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	ld_arena a = LD_ARENA_INIT;
	ld_errinfo e = {0};
	store_txn *t = NULL;
	nng_msg *m = NULL;
	int rc = 0;
	union {
		Ledger__MemberView member;
		Ledger__CoverageReport coverage;
		Ledger__TransferList transfers;
		Ledger__MemberHistory history;
		Ledger__ProgressReport progress;
	} u;
	int history = req->command_case == LEDGER__REQUEST__COMMAND_HISTORY;

	/* History reads the log: the head is taken before the transaction
	 * begins, so the answer holds at least what as_of_seq says. */
	resp.has_as_of_seq = 1;
	if (history)
		writer_head(srv->w, &resp.as_of_seq, NULL, NULL);
	if ((rc = store_read_begin(history ? srv->s : runner_store(srv->proj), &t)))
		return error_msg(rc, "unable to read the projections");
	if (!history)
		resp.as_of_seq = runner_snapshot_seq(t);

	switch (req->command_case) {
	case LEDGER__REQUEST__COMMAND_GET_MEMBER: {
		const char *id = req->get_member->member_id;
		if ((rc = required_id(id, "get_member.member_id", "member_id", &e)))
			break;
		rc = members_get(t, id, &u.member, &a);
		if (rc == LD_E(NOT_FOUND))
			ld_errinfo_set(&e, rc, "get_member.member_id", "member '%s' not found", id);
		resp.result_case = LEDGER__RESPONSE__RESULT_MEMBER;
		resp.member = &u.member;
		break;
	}
	case LEDGER__REQUEST__COMMAND_COVERAGE: {
		const Ledger__CoverageRequest *q = req->coverage;
		uint32_t period = q->has_period ? q->period : this_month();
		if ((rc = required_id(q->org_id, "coverage.org_id", "org_id", &e)))
			break;
		if (q->has_depth && q->depth > 16) {
			rc = ld_errinfo_set(&e, LD_E(INVALID_VALUE), "coverage.depth",
					    "depth %u is more than 16", q->depth);
			break;
		}
		if (!check_period(period)) {
			rc = ld_errinfo_set(&e, LD_E(INVALID_VALUE), "coverage.period",
					    "period %u is not a month written YYYYMM", period);
			break;
		}
		rc = members_coverage(t, q->org_id, q->depth, period, &u.coverage, &a);
		if (rc == LD_E(NOT_FOUND))
			ld_errinfo_set(&e, rc, "coverage.org_id", "organisation '%s' not found",
				       q->org_id);
		resp.result_case = LEDGER__RESPONSE__RESULT_COVERAGE;
		resp.coverage = &u.coverage;
		break;
	}
	case LEDGER__REQUEST__COMMAND_TRANSFERS: {
		const Ledger__TransfersRequest *q = req->transfers;
		int64_t from = q->has_from_time ? q->from_time : INT64_MIN;
		int64_t to = q->has_to_time ? q->to_time : INT64_MAX;
		uint32_t limit = q->has_limit ? q->limit : 1000;
		if ((rc = required_id(q->org_id, "transfers.org_id", "org_id", &e)))
			break;
		if (limit < 1 || limit > 10000) {
			rc = ld_errinfo_set(&e, LD_E(INVALID_VALUE), "transfers.limit",
					    "limit must be 1 to 10000, got %u", limit);
			break;
		}
		if (from >= to) {
			rc = ld_errinfo_set(&e, LD_E(INVALID_VALUE), "transfers.to_time",
					    "the window is empty: to_time must be after from_time");
			break;
		}
		rc = transfers_query(t, q->org_id, from, to, limit, &u.transfers, &a);
		if (rc == LD_E(NOT_FOUND))
			ld_errinfo_set(&e, rc, "transfers.org_id", "organisation '%s' not found",
				       q->org_id);
		resp.result_case = LEDGER__RESPONSE__RESULT_TRANSFERS;
		resp.transfers = &u.transfers;
		break;
	}
	case LEDGER__REQUEST__COMMAND_HISTORY: {
		const char *id = req->history->member_id;
		if ((rc = required_id(id, "history.member_id", "member_id", &e)))
			break;
		rc = history_query(t, id, req->history->all, &u.history, &a);
		for (size_t i = 0; rc == 0 && i < u.history.n_entries; i++)
			pii_reveal(srv->keys, u.history.entries[i]->event, &a);
		if (rc == LD_E(NOT_FOUND))
			ld_errinfo_set(&e, rc, "history.member_id", "member '%s' not found", id);
		resp.result_case = LEDGER__RESPONSE__RESULT_HISTORY;
		resp.history = &u.history;
		break;
	}
	case LEDGER__REQUEST__COMMAND_PROGRESS: {
		const Ledger__ProgressRequest *q = req->progress;
		const plan *p;
		if (!ld_has(q->plan)) {
			rc = ld_errinfo_set(&e, LD_E(MISSING_FIELD), "progress.plan",
					    "progress.plan is required");
			break;
		}
		const progress *pg = progress_of(srv->proj);
		if (!(p = plan_find(progress_plans(pg), q->plan))) {
			rc = ld_errinfo_set(&e, LD_E(NOT_FOUND), "progress.plan",
					    "no plan '%.64s' (%u plan(s) loaded; 'ledgerctl plans' "
					    "lists them)",
					    q->plan, progress_plans(pg)->n);
			break;
		}
		rc = progress_report(pg, t, p, q->has_year ? q->year : 0, q->has_region ? q->region : 0,
				     q->has_at ? q->at : now_us(), &u.progress, &a, &e);
		resp.result_case = LEDGER__RESPONSE__RESULT_PROGRESS;
		resp.progress = &u.progress;
		break;
	}
	default:
		rc = ld_errinfo_set(&e, LD_E(UNKNOWN_COMMAND), NULL, "not a projection query");
		break;
	}
	if (rc && !e.code)
		ld_errinfo_set(&e, rc, NULL, "%s", ld_strerror(rc));
	m = rc ? error_reply(&e) : pack_response(&resp);
	if (history && resp.result_case == LEDGER__RESPONSE__RESULT_HISTORY) {
		for (size_t i = 0; rc == 0 && i < u.history.n_entries; i++)
			pii_unreveal(u.history.entries[i]->event);
		history_release(&u.history);
	}
	store_read_end(t);
	ld_arena_free(&a);
	return m;
}

static nng_msg *plans_reply(server *srv)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__PlanList list = LEDGER__PLAN_LIST__INIT;
	ld_arena a = LD_ARENA_INIT;
	const plan_set *ps = progress_plans(progress_of(srv->proj));
	list.n_plans = ps->n;
	list.plans = ld_arena_alloc(&a, (ps->n + 1) * sizeof(*list.plans));
	for (unsigned i = 0; i < ps->n; i++)
		list.plans[i] = progress_plan_info(&ps->plans[i], &a);
	if (srv->has_pub)
		list.feed_url = srv->pub_url;
	resp.result_case = LEDGER__RESPONSE__RESULT_PLANS;
	resp.plans = &list;
	nng_msg *m = pack_response(&resp);
	ld_arena_free(&a);
	return m;
}

static nng_msg *status_reply(server *srv)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__ProjectionStatus st;
	if (runner_status(srv->proj, &st) != 0)
		return error_msg(LD_E(INTERNAL), "out of memory");
	resp.result_case = LEDGER__RESPONSE__RESULT_PROJECTIONS;
	resp.projections = &st;
	nng_msg *m = pack_response(&resp);
	runner_status_free(&st);
	return m;
}

/* The projections reached the seq a query waits for, or not: run the
 * query on NNG's threads (the aio was begun as its provider). */
static void query_ready(void *arg, int ok)
{
	worker *w = arg;
	w->wait_ok = ok;
	w->state = W_QUERY;
	nng_aio_finish(w->aio, 0);
}

static nng_msg *wait_failed(int ok, uint64_t min_seq)
{
	ld_errinfo e;
	if (ok == 0)
		ld_errinfo_set(&e, LD_E(NOT_CAUGHT_UP), "consistency.min_seq",
			       "the projections did not reach seq %llu in time",
			       (unsigned long long)min_seq);
	else if (ok == -1)
		ld_errinfo_set(&e, LD_E(PROJECTION_STOPPED), NULL,
			       "a projection stopped on an event it could not apply; see "
			       "'ledgerctl projections'");
	else
		ld_errinfo_set(&e, LD_E(SHUTTING_DOWN), NULL, "server shutting down");
	return error_reply(&e);
}

/* Starts a projection query: answered now, or after a bounded wait for
 * min_seq (returns NULL with *handed_off set; query_ready follows). */
static nng_msg *start_query(worker *w, Ledger__Request *req, int *handed_off)
{
	server *srv = w->srv;
	if (!srv->proj)
		return error_msg(LD_E(UNKNOWN_COMMAND), "projections are not running on this server");
	if (req->command_case == LEDGER__REQUEST__COMMAND_PROJECTIONS)
		return status_reply(srv);
	if (req->command_case == LEDGER__REQUEST__COMMAND_PLANS)
		return plans_reply(srv);
	const Ledger__Consistency *c = consistency_of(req);
	uint64_t min_seq = c && c->has_min_seq ? c->min_seq : 0;
	uint32_t timeout = c && c->has_timeout_ms ? c->timeout_ms : 1000;
	if (timeout > 10000) {
		ld_errinfo e;
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "consistency.timeout_ms",
			       "timeout_ms %u is more than 10000", timeout);
		return error_reply(&e);
	}
	uint64_t head;
	writer_head(srv->w, &head, NULL, NULL);
	if (min_seq > head) {
		ld_errinfo e;
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "consistency.min_seq",
			       "min_seq %llu is beyond the log head %llu",
			       (unsigned long long)min_seq, (unsigned long long)head);
		return error_reply(&e);
	}
	/* History reads the log, which has every committed seq. */
	if (!min_seq || req->command_case == LEDGER__REQUEST__COMMAND_HISTORY ||
	    runner_checkpoint(srv->proj) >= min_seq)
		return run_query(srv, req);
	if (!nng_aio_begin(w->aio))
		return wait_failed(-2, min_seq);
	nng_aio_defer(w->aio, handoff_cancel, w);
	w->req = req;
	w->state = W_WAIT_PROJ;
	*handed_off = 1;
	int rc = runner_wait(srv->proj, min_seq, timeout, query_ready, w);
	if (rc != RUNNER_WAITING)
		query_ready(w, rc);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Hot backup (issue 8)                                                */
/* ------------------------------------------------------------------ */

static nng_msg *backup_reply(int rc, const ld_errinfo *e, const backup_result *r)
{
	if (rc)
		return error_reply(e);
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__BackupResult br = LEDGER__BACKUP_RESULT__INIT;
	br.dir = (char *)r->dir;
	br.has_head_seq = br.has_bytes = br.has_duration_us = 1;
	br.head_seq = r->head_seq;
	br.bytes = r->bytes;
	br.duration_us = r->duration_us;
	resp.result_case = LEDGER__RESPONSE__RESULT_BACKUP;
	resp.backup = &br;
	return pack_response(&resp);
}

/* The backup thread decided: reply on NNG's threads (the aio was begun as
 * its provider, as for appends). */
static void backup_done(void *arg, int rc, const ld_errinfo *e, const backup_result *r)
{
	worker *w = arg;
	w->backup_rc = rc;
	if (rc)
		w->backup_err = *e;
	else
		w->backup_res = *r;
	w->state = W_REPLY_BACKUP;
	nng_aio_finish(w->aio, 0);
}

static nng_msg *start_backup(worker *w, const Ledger__BackupRequest *q, int *handed_off)
{
	ld_errinfo e = {0};
	if (!ld_has(q->dir)) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "backup.dir", "backup.dir is required");
		return error_reply(&e);
	}
	if (!nng_aio_begin(w->aio))
		return error_msg(LD_E(SHUTTING_DOWN), "server shutting down");
	nng_aio_defer(w->aio, handoff_cancel, w);
	w->state = W_WAIT_BACKUP;
	*handed_off = 1;
	backup_result now;
	int rc = backup_begin(w->srv->backup, q->dir, backup_done, w, &now, &e);
	if (rc != BACKUP_PENDING)
		backup_done(w, rc, &e, &now);
	return NULL;
}

/* Subscriptions                                                       */
/* ------------------------------------------------------------------ */

/* Response { subscription = 50: SubscribePage { events = 1 ...; next_seq = 2;
 * head_seq = 3; scanned = 4 } }, the events embedded as stored. */
static nng_msg *sub_page_reply(const sub_page *p, uint64_t head_seq)
{
	size_t inner = p->bytes + 3 + codec_varint_len(p->next) + codec_varint_len(head_seq) +
		       codec_varint_len(p->scanned);
	nng_msg *m;
	if (nng_msg_alloc(&m, codec_ld_len(50, inner)) != 0)
		return NULL;
	uint8_t *o = codec_put_ld(nng_msg_body(m), 50, inner);
	for (size_t i = 0; i < p->n; i++) {
		o = codec_put_ld(o, 1, p->ev[i].len);
		memcpy(o, p->ev[i].data, p->ev[i].len);
		o += p->ev[i].len;
	}
	*o++ = (2 << 3) | 0;
	o = codec_put_varint(o, p->next);
	*o++ = (3 << 3) | 0;
	o = codec_put_varint(o, head_seq);
	*o++ = (4 << 3) | 0;
	codec_put_varint(o, p->scanned);
	return m;
}

static void sub_unlist(server *srv, worker *w)
{
	for (worker **pp = &srv->sub_waiters; *pp; pp = &(*pp)->sub.next)
		if (*pp == w) {
			*pp = w->sub.next;
			break;
		}
	w->sub.listed = 0;
	srv->nwaiting--;
}

/* The wait's timeout (NNG_ETIMEDOUT: answer with what there is) or the
 * server stopping (NNG_ECANCELED). Runs on NNG's threads, without NNG's
 * locks; whoever takes the worker off the list finishes its aio. */
static void sub_cancel(nng_aio *aio, void *arg, int rv)
{
	worker *w = arg;
	server *srv = w->srv;
	pthread_mutex_lock(&srv->sub_lock);
	if (w->sub.listed) {
		sub_unlist(srv, w);
		w->sub.timed_out = 1;
		w->state = W_SUB_READY;
		nng_aio_finish(aio, rv == NNG_ETIMEDOUT ? 0 : rv);
	}
	pthread_mutex_unlock(&srv->sub_lock);
}

/* The writer's commit hook (writer thread): wake every waiting
 * subscription; each reads its page on NNG's threads. */
static void sub_on_commit(void *arg, uint64_t head)
{
	server *srv = arg;
	pthread_mutex_lock(&srv->sub_lock);
	for (worker *w = srv->sub_waiters, *next; w; w = next) {
		next = w->sub.next;
		if (head <= w->sub.after)
			continue;
		sub_unlist(srv, w);
		w->state = W_SUB_READY;
		nng_aio_finish(w->aio, 0);
	}
	pthread_mutex_unlock(&srv->sub_lock);
}

/* Parks w until the head moves past w->sub.after or its deadline: 1 parked
 * (the aio completes later), 0 the head has moved already (read again),
 * -1 not parked (answer now: deadline passed, too many waiting). The head
 * is read under sub_lock, which the commit hook takes after the writer has
 * moved the head, so no commit slips between the check and the wait. */
static int sub_park(worker *w)
{
	server *srv = w->srv;
	uint64_t head;
	int rc = 1;
	pthread_mutex_lock(&srv->sub_lock);
	writer_head(srv->w, &head, NULL, NULL);
	nng_time now = nng_clock();
	if (head > w->sub.after) {
		rc = 0;
	} else if (srv->nwaiting >= srv->max_waiting || now + 1 > w->sub.deadline) {
		rc = -1;
	} else {
		nng_aio_set_timeout(w->aio, (nng_duration)(w->sub.deadline - now));
		w->state = W_SUB_READY; /* what the callback sees if begin fails */
		if (nng_aio_begin(w->aio)) {
			w->state = W_WAIT_SUB;
			w->sub.listed = 1;
			w->sub.next = srv->sub_waiters;
			srv->sub_waiters = w;
			srv->nwaiting++;
			nng_aio_defer(w->aio, sub_cancel, w);
		}
	}
	pthread_mutex_unlock(&srv->sub_lock);
	if (rc == 1)
		subreg_seen(srv->subs, w->sub.id, w->sub.after, 0, w->sub.peer, 1);
	return rc;
}

/* The page reads of subscriptions run on a small pool of threads at a lower
 * CPU priority (nice +SUB_POOL_NICE), not on NNG's: when subscribers catch
 * up at full speed on a busy machine, the writer and the other requests keep
 * the CPU they need, and the readers take what is left. Sending the page
 * stays on NNG's threads. */
static void sub_enqueue(worker *w)
{
	server *srv = w->srv;
	nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE);
	w->state = W_SUB_READY; /* what the callback sees if begin fails */
	if (!nng_aio_begin(w->aio))
		return;
	w->state = W_SUB_QUEUED;
	nng_aio_defer(w->aio, handoff_cancel, w);
	pthread_mutex_lock(&srv->pool_lock);
	w->sub.next = NULL;
	if (srv->pool_tail)
		srv->pool_tail->sub.next = w;
	else
		srv->pool_head = w;
	srv->pool_tail = w;
	pthread_cond_signal(&srv->pool_wake);
	pthread_mutex_unlock(&srv->pool_lock);
}

/* On a pool thread: reads the next page of w's subscription into
 * w->sub.reply, or sets w->sub.park when nothing matched and it may wait. */
static void sub_read_job(worker *w)
{
	server *srv = w->srv;
	ld_errinfo e;
	uint64_t head;
	store_txn *t;
	writer_head(srv->w, &head, NULL, NULL);
	sub_page p = {.ev = w->page->ev, .cap = SUB_MAX_EVENTS};
	w->sub.reply = NULL;
	w->sub.park = 0;
	int rc = store_read_begin(srv->s, &t);
	if (rc) {
		w->sub.reply = error_msg(rc, "unable to read the log");
		return;
	}
	memset(&e, 0, sizeof(e));
	rc = sub_read(t, w->sub.after, head, &w->sub.f, w->sub.max_events, w->sub.max_bytes, &p,
		      &e);
	if (rc) {
		store_read_end(t);
		if (!e.code)
			ld_errinfo_set(&e, rc, NULL, "unable to read the log: %s", ld_strerror(rc));
		w->sub.reply = error_reply(&e);
		return;
	}
	w->sub.after = p.next - 1; /* past what the filter skipped, too */
	if (p.n == 0 && w->sub.wait && !w->sub.timed_out && w->sub.rounds < 16) {
		store_read_end(t);
		w->sub.park = 1;
		return;
	}
	w->sub.reply = sub_page_reply(&p, head);
	store_read_end(t);
	subreg_seen(srv->subs, w->sub.id, w->sub.after, p.n, w->sub.peer, 0);
}

static void *sub_pool_main(void *arg)
{
	server *srv = arg;
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), SUB_POOL_NICE);
	pthread_mutex_lock(&srv->pool_lock);
	for (;;) {
		while (!srv->pool_head && !srv->pool_stopping)
			pthread_cond_wait(&srv->pool_wake, &srv->pool_lock);
		worker *w = srv->pool_head;
		if (!w)
			break;
		srv->pool_head = w->sub.next;
		if (!srv->pool_head)
			srv->pool_tail = NULL;
		pthread_mutex_unlock(&srv->pool_lock);
		sub_read_job(w);
		w->state = W_SUB_DONE;
		nng_aio_finish(w->aio, 0);
		pthread_mutex_lock(&srv->pool_lock);
	}
	pthread_mutex_unlock(&srv->pool_lock);
	return NULL;
}

/* On NNG's threads after a page read: the reply to send, or NULL when the
 * subscription waits for a commit or was queued again. */
static nng_msg *sub_after_read(worker *w)
{
	if (!w->sub.park) {
		nng_msg *m = w->sub.reply;
		w->sub.reply = NULL;
		return m ? m : error_msg(LD_E(INTERNAL), "out of memory");
	}
	w->sub.park = 0;
	int pr = sub_park(w);
	if (pr == 1)
		return NULL;
	if (pr == 0) { /* a commit came meanwhile */
		w->sub.rounds++;
		sub_enqueue(w);
		return NULL;
	}
	/* Not waiting after all (deadline, too many waiting): an empty page. */
	uint64_t head;
	writer_head(w->srv->w, &head, NULL, NULL);
	sub_page p = {.next = w->sub.after + 1};
	subreg_seen(w->srv->subs, w->sub.id, w->sub.after, 0, w->sub.peer, 0);
	return sub_page_reply(&p, head);
}

static nng_msg *start_subscribe(worker *w, const Ledger__SubscribeRequest *q, nng_msg *msg,
				int *handed_off)
{
	server *srv = w->srv;
	sub_state *st = &w->sub;
	ld_errinfo e;
	uint64_t head;
	memset(st, 0, sizeof(*st));
	st->max_events = q->has_max_events ? q->max_events : SUB_DEFAULT_EVENTS;
	st->max_bytes = q->has_max_bytes ? q->max_bytes : SUB_DEFAULT_BYTES;
	if (st->max_events < 1 || st->max_events > SUB_MAX_EVENTS)
		return ld_errinfo_set(&e, LD_E(INVALID_VALUE), "subscribe.max_events",
				      "max_events must be 1 to %d, got %u", SUB_MAX_EVENTS,
				      q->max_events),
		       error_reply(&e);
	if (st->max_bytes < SUB_MIN_BYTES || st->max_bytes > SUB_MAX_BYTES)
		return ld_errinfo_set(&e, LD_E(INVALID_VALUE), "subscribe.max_bytes",
				      "max_bytes must be %u to %u, got %u", SUB_MIN_BYTES,
				      SUB_MAX_BYTES, q->max_bytes),
		       error_reply(&e);
	uint32_t wait = q->has_wait_ms ? q->wait_ms : 0;
	if (wait > SUB_MAX_WAIT_MS)
		return ld_errinfo_set(&e, LD_E(INVALID_VALUE), "subscribe.wait_ms",
				      "wait_ms %u is more than %d", wait, SUB_MAX_WAIT_MS),
		       error_reply(&e);
	if (ld_has(q->subscriber_id)) {
		if (!check_id(q->subscriber_id))
			return ld_errinfo_set(&e, LD_E(INVALID_VALUE), "subscribe.subscriber_id",
					      "'%.64s' is not a subscriber id (1-64 of "
					      "[A-Za-z0-9._:-])",
					      q->subscriber_id),
			       error_reply(&e);
		snprintf(st->id, sizeof(st->id), "%s", q->subscriber_id);
	}
	if (sub_filter_compile(q->filter, &st->f, &e))
		return error_reply(&e);
	st->after = q->has_after_seq ? q->after_seq : 0;
	writer_head(srv->w, &head, NULL, NULL);
	if (st->after > head) {
		e.code = 0;
		ld_errinfo_set(&e, LD_E(AFTER_HEAD), "subscribe.after_seq",
			       "after_seq %llu is beyond the log head %llu: this log is not "
			       "the one the checkpoint was taken from, or an older copy of it",
			       (unsigned long long)st->after, (unsigned long long)head);
		e.seq = head;
		return error_reply(&e);
	}
	st->wait = wait > 0;
	st->deadline = nng_clock() + wait;
	identity_of(w->srv, msg, st->peer, sizeof(st->peer));
	sub_enqueue(w);
	*handed_off = 1;
	return NULL;
}

static nng_msg *subscribers_reply(server *srv)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__SubscriberList l;
	uint64_t head;
	writer_head(srv->w, &head, NULL, NULL);
	if (subreg_list(srv->subs, head, &l) != 0)
		return error_msg(LD_E(INTERNAL), "out of memory");
	resp.result_case = LEDGER__RESPONSE__RESULT_SUBSCRIBERS;
	resp.subscribers = &l;
	nng_msg *m = pack_response(&resp);
	subreg_list_free(&l);
	return m;
}

/* ------------------------------------------------------------------ */
/* The request loop                                                    */
/* ------------------------------------------------------------------ */

/* Answers msg. Returns the reply, or NULL with *handed_off set when the
 * writer has the request: from then on the writer's completion owns the
 * worker (it may already have run), and the caller must not touch it. */
static nng_msg *dispatch(worker *w, nng_msg *msg, page *p, int *handed_off)
{
	server *srv = w->srv;
	Ledger__Request *req;
	ld_errinfo e;
	size_t len = nng_msg_len(msg);
	if (len > srv->max_msg) {
		ld_errinfo_set(&e, LD_E(TOO_LARGE), NULL, "request of %zu bytes; at most %zu", len,
			       srv->max_msg);
		return error_reply(&e);
	}
	if (codec_request_unpack(nng_msg_body(msg), len, &req, &e)) {
		counters_request(0);
		return error_reply(&e);
	}
	counters_request((int)req->command_case);
	/* Who asks, and may they? */
	char identity[WRITER_ACTOR_MAX];
	const role *ro = NULL;
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(&ledger__request__descriptor,
							(unsigned)req->command_case);
	const char *what = f ? f->name : "the request";
	int denied;
	if (identity_of(srv, msg, identity, sizeof(identity)) != 0)
		denied = ld_errinfo_set(&e, LD_E(PERMISSION_DENIED), NULL,
					"the connection has no usable identity (%s): %s refused",
					identity, what);
	else
		denied = roles_allow(ro = roles_lookup(srv->roles, identity), identity,
				     action_of(req), what, &e);
	if (denied) {
		if (req->command_case == LEDGER__REQUEST__COMMAND_APPEND)
			snprintf(e.message + strlen(e.message), sizeof(e.message) - strlen(e.message),
				 "; nothing was recorded");
		log_info("server: permission denied: %s", e.message);
		codec_request_free(req);
		return error_reply(&e);
	}
	nng_msg *reply = NULL;
	switch (req->command_case) {
	case LEDGER__REQUEST__COMMAND_FORGET: /* an append of MemberForgotten */
		if (pii_forget_request(req, now_us(), &e)) {
			reply = error_reply(&e);
			break;
		}
		/* fall through */
	case LEDGER__REQUEST__COMMAND_APPEND:
		reply = start_append(w, req, identity, ro);
		if (!reply) {
			*handed_off = 1; /* req is freed with the reply */
			return NULL;
		}
		break;
	case LEDGER__REQUEST__COMMAND_GET_EVENT:
		reply = get_event(srv, req->get_event);
		break;
	case LEDGER__REQUEST__COMMAND_READ_LOG:
		reply = read_log(srv, req->read_log, p);
		break;
	case LEDGER__REQUEST__COMMAND_READ_STREAM:
		reply = read_stream(srv, req->read_stream, p);
		break;
	case LEDGER__REQUEST__COMMAND_HEAD:
		reply = head_reply(srv);
		break;
	case LEDGER__REQUEST__COMMAND_TREE_HEAD:
		reply = tree_head_reply(srv);
		break;
	case LEDGER__REQUEST__COMMAND_INCLUSION_PROOF:
		reply = inclusion_reply(srv, req->inclusion_proof);
		break;
	case LEDGER__REQUEST__COMMAND_CONSISTENCY_PROOF:
		reply = consistency_reply(srv, req->consistency_proof);
		break;
	case LEDGER__REQUEST__COMMAND_PUBLIC_KEY:
		reply = public_key_reply(srv);
		break;
	case LEDGER__REQUEST__COMMAND_SUBSCRIBE:
		reply = start_subscribe(w, req->subscribe, msg, handed_off);
		if (*handed_off) {
			codec_request_free(req); /* the worker keeps what it needs */
			return NULL;
		}
		break;
	case LEDGER__REQUEST__COMMAND_SUBSCRIBERS:
		reply = subscribers_reply(srv);
		break;
	case LEDGER__REQUEST__COMMAND_GET_MEMBER:
	case LEDGER__REQUEST__COMMAND_COVERAGE:
	case LEDGER__REQUEST__COMMAND_HISTORY:
	case LEDGER__REQUEST__COMMAND_TRANSFERS:
	case LEDGER__REQUEST__COMMAND_PROJECTIONS:
	case LEDGER__REQUEST__COMMAND_PROGRESS:
	case LEDGER__REQUEST__COMMAND_PLANS:
		reply = start_query(w, req, handed_off);
		if (*handed_off)
			return NULL; /* req is freed after the query runs */
		break;
	case LEDGER__REQUEST__COMMAND_BACKUP:
		reply = start_backup(w, req->backup, handed_off);
		if (*handed_off) {
			codec_request_free(req);
			return NULL;
		}
		break;
	default:
		ld_errinfo_set(&e, LD_E(UNKNOWN_COMMAND), NULL,
			       "the request carries no command this server knows");
		reply = error_reply(&e);
		break;
	}
	codec_request_free(req);
	return reply;
}

static void send_reply(worker *w, nng_msg *reply)
{
	if (!reply) {
		/* Out of memory building the answer: drop it; REQ will resend. */
		w->state = W_RECV;
		nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE);
		nng_ctx_recv(w->ctx, w->aio);
		return;
	}
	w->state = W_SEND;
	nng_aio_set_msg(w->aio, reply);
	nng_aio_set_timeout(w->aio, SEND_TIMEOUT_MS);
	nng_ctx_send(w->ctx, w->aio);
}

static void worker_cb(void *arg)
{
	worker *w = arg;
	int rv = nng_aio_result(w->aio);

	switch (w->state) {
	case W_SEND:
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(w->aio));
			if (rv == NNG_ECLOSED)
				return;
		}
		w->state = W_RECV;
		nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE);
		nng_ctx_recv(w->ctx, w->aio);
		return;
	case W_RECV: {
		if (rv != 0) {
			if (rv == NNG_ECLOSED)
				return;
			nng_ctx_recv(w->ctx, w->aio);
			return;
		}
		nng_msg *msg = nng_aio_get_msg(w->aio);
		int handed_off = 0;
		nng_msg *reply = dispatch(w, msg, w->page, &handed_off);
		nng_msg_free(msg);
		if (handed_off)
			return; /* append_done schedules the reply */
		send_reply(w, reply);
		return;
	}
	case W_REPLY_APPEND: {
		nng_msg *reply = append_reply(&w->areq);
		append_req_release(&w->areq);
		free(w->areq.items);
		w->areq.items = NULL;
		codec_request_free(w->req);
		w->req = NULL;
		send_reply(w, reply);
		return;
	}
	case W_QUERY: {
		const Ledger__Consistency *c = consistency_of(w->req);
		nng_msg *reply = w->wait_ok == 1 ? run_query(w->srv, w->req)
						 : wait_failed(w->wait_ok, c ? c->min_seq : 0);
		codec_request_free(w->req);
		w->req = NULL;
		send_reply(w, reply);
		return;
	}
	case W_REPLY_BACKUP:
		send_reply(w, backup_reply(w->backup_rc, &w->backup_err, &w->backup_res));
		return;
	case W_SUB_READY:
		if (rv != 0)
			return; /* the server is stopping */
		sub_enqueue(w);
		return;
	case W_SUB_DONE: {
		nng_msg *reply = sub_after_read(w);
		if (reply)
			send_reply(w, reply);
		return;
	}
	case W_WAIT_WRITER:
	case W_WAIT_PROJ:
	case W_WAIT_BACKUP:
	case W_WAIT_SUB:
	case W_SUB_QUEUED:
		return; /* cannot happen: the aio is ours while they have it */
	}
}

/* ------------------------------------------------------------------ */
/* Listeners and the IPC probe                                          */
/* ------------------------------------------------------------------ */

static int listener_start(server *srv, listener *li, ld_errinfo *e)
{
	int rv = nng_listener_create(&li->l, srv->sock, li->url);
	if (rv == 0)
		rv = nng_listener_set_size(li->l, NNG_OPT_RECVMAXSZ, HARD_MAX_MSG);
	if (rv == 0 && li->tls)
		rv = nng_listener_set_ptr(li->l, NNG_OPT_TLS_CONFIG, li->tls);
	if (rv == 0 && li->ipc)
		rv = nng_listener_set_int(li->l, NNG_OPT_IPC_PERMISSIONS, 0600);
	if (rv == 0)
		rv = nng_listener_start(li->l, 0);
	if (rv != 0)
		return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, "unable to listen on '%s': %s",
		                      li->spec, nng_strerror(rv));
	return 0;
}

/* Counts each connection that reaches the socket, per listener: the proof
 * that a listener serves. Runs on NNG's threads. */
static void pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	server *srv = arg;
	int id = nng_listener_id(nng_pipe_listener(p));
	(void)ev;
	for (size_t i = 0; i < srv->nlisteners; i++)
		if (nng_listener_id(srv->listeners[i].l) == id)
			atomic_fetch_add(&srv->listeners[i].pipes, 1);
}

/*
 * 1 if a fresh connection to li reaches the server's socket within 1 s. A
 * completed handshake is not enough: with the NNG 1.5.2 bug the listener
 * still accepts and negotiates, but its pipes never reach the socket. The
 * socket's own pipe event is the signal, so a server whose workers are all
 * busy still passes.
 */
static int probe_ipc(server *srv, listener *li)
{
	nng_socket s;
	unsigned before = atomic_load(&li->pipes);
	if (nng_req0_open(&s) != 0)
		return 1; /* cannot tell; do not disturb the listener */
	int ok = 0;
	if (nng_dial(s, li->url, NULL, NNG_FLAG_NONBLOCK) == 0)
		for (int i = 0; i < 100 && !ok; i++) {
			nanosleep(&(struct timespec){0, 10000000}, NULL);
			ok = atomic_load(&li->pipes) != before;
		}
	nng_close(s);
	(void)srv;
	return ok;
}

static void *probe_main(void *arg)
{
	server *srv = arg;
	pthread_mutex_lock(&srv->probe_lock);
	while (!srv->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += srv->probe_ms / 1000;
		ts.tv_nsec += (srv->probe_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->probe_wake, &srv->probe_lock, &ts);
		if (srv->stopping)
			break;
		pthread_mutex_unlock(&srv->probe_lock);
		for (size_t i = 0; i < srv->nlisteners; i++) {
			listener *li = &srv->listeners[i];
			if (!li->ipc)
				continue;
			/* Two failed probes in a row: one may be a slow machine. */
			if (probe_ipc(srv, li) || probe_ipc(srv, li))
				continue;
			log_warn("server: IPC listener '%s' stopped serving new connections; "
				 "re-creating it",
				 li->url);
			nng_listener_close(li->l);
			ld_errinfo e;
			if (listener_start(srv, li, &e) != 0)
				log_error("server: %s", e.message);
			else
				atomic_fetch_add(&srv->ipc_restarts, 1);
		}
		pthread_mutex_lock(&srv->probe_lock);
	}
	pthread_mutex_unlock(&srv->probe_lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

/* A whole PEM file, NUL-terminated (malloc'd), or NULL with e filled. */
static char *read_pem(const char *path, const char *what, ld_errinfo *e)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;
	if (f) {
		buf = malloc(1 << 20);
		if (buf)
			n = fread(buf, 1, (1 << 20) - 1, f);
		fclose(f);
	}
	if (!buf || !n) {
		free(buf);
		ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, "cannot read the %s '%s'", what, path);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= LISTENER_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/*
 * Fills li from a configured address: "URL" or, for tls+tcp:// only,
 * "URL?name=GROUP&ca=FILE" (ca defaults to --tls-ca; name is required).
 * No percent-decoding: a CA path may not contain '&'.
 */
static int listener_parse(listener *li, const char *spec, const server_options *o, ld_errinfo *e)
{
	memset(li, 0, sizeof(*li));
	if (strlen(spec) >= sizeof(li->spec))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "listen address '%.60s…' is too long", spec);
	snprintf(li->spec, sizeof(li->spec), "%s", spec);
	int tls = strncmp(spec, "tls+tcp://", 10) == 0;
	li->ipc = strncmp(spec, "ipc://", 6) == 0;
	const char *q = strchr(spec, '?');
	size_t ulen = q ? (size_t)(q - spec) : strlen(spec);
	if (ulen >= sizeof(li->url))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "listen address '%.60s…' is too long", spec);
	memcpy(li->url, spec, ulen);
	li->url[ulen] = 0;
	if (q && !tls)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "'%s': only tls+tcp:// listeners take ?name=GROUP&ca=FILE",
		                      spec);
	char params[512];
	snprintf(params, sizeof(params), "%s", q ? q + 1 : "");
	for (char *save = NULL, *kv = strtok_r(params, "&", &save); kv;
	     kv = strtok_r(NULL, "&", &save)) {
		char *v = strchr(kv, '=');
		if (v)
			*v++ = 0;
		if (!v || !*v)
			return ld_errinfo_set(
			    e, LD_E(INVALID_VALUE), NULL,
			    "'%s': parameter '%s' needs a value (name=GROUP, ca=FILE)", spec, kv);
		if (strcmp(kv, "name") == 0) {
			if (li->name[0])
				return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				                      "'%s': name given twice", spec);
			if (!valid_name(v))
				return ld_errinfo_set(
				    e, LD_E(INVALID_VALUE), NULL,
				    "'%s': name '%s' must be 1 to %d letters, digits, "
				    "'.', '_' or '-'",
				    spec, v, LISTENER_NAME_MAX);
			snprintf(li->name, sizeof(li->name), "%s", v);
		} else if (strcmp(kv, "ca") == 0) {
			if (li->ca[0])
				return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				                      "'%s': ca given twice", spec);
			snprintf(li->ca, sizeof(li->ca), "%s", v);
		} else {
			return ld_errinfo_set(
			    e, LD_E(INVALID_VALUE), NULL,
			    "'%s': unknown listener parameter '%s' (known: name, ca)", spec, kv);
		}
	}
	if (!tls)
		return 0;
	if (!li->name[0])
		return ld_errinfo_set(
		    e, LD_E(INVALID_VALUE), NULL,
		    "'%s' needs ?name=GROUP: a client whose certificate chains to "
		    "the listener's CA is identified as tls:GROUP (docs/ROLES.md)",
		    spec);
	if (!li->ca[0] && o->tls_ca)
		snprintf(li->ca, sizeof(li->ca), "%s", o->tls_ca);
	if (!li->ca[0])
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "'%s' needs the CA of its clients: &ca=FILE or --tls-ca FILE",
		                      spec);
	if (!o->tls_cert || !o->tls_key)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "'%s' needs --tls-cert and --tls-key", spec);
	return 0;
}

/* The next PEM certificate block of *p (its base64 text without
 * whitespace, in out), advancing *p; 0 when there is none. */
static int next_cert(const char **p, char *out, size_t n)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----",
			  end[] = "-----END CERTIFICATE-----";
	const char *b = strstr(*p, begin), *en;
	if (!b || !(en = strstr(b, end)))
		return 0;
	size_t k = 0;
	for (const char *c = b + sizeof(begin) - 1; c < en && k + 1 < n; c++)
		if (*c != ' ' && *c != '\t' && *c != '\r' && *c != '\n')
			out[k++] = *c;
	out[k] = 0;
	*p = en + sizeof(end) - 1;
	return 1;
}

/* 1 if the PEM texts a and b hold a certificate in common. */
static int shared_cert(const char *a, const char *b)
{
	static char ca[16384], cb[16384]; /* start-up only: one thread */
	for (const char *pa = a; next_cert(&pa, ca, sizeof(ca));)
		for (const char *pb = b; next_cert(&pb, cb, sizeof(cb));)
			if (strcmp(ca, cb) == 0)
				return 1;
	return 0;
}

/*
 * The server side of mutual TLS for one listener: our certificate and key
 * (cert, key: PEM text), its clients' CA and nothing else, a client
 * certificate REQUIRED. Two listeners with different names may not trust
 * the same CA (a certificate in both PEM files): a certificate from it could
 * then choose its identity.
 */
static int tls_setup(server *srv, listener *li, const server_options *o, const char *cert,
                     const char *key, ld_errinfo *e)
{
	char what[128];
	snprintf(what, sizeof(what), "client CA of tls:%s", li->name);
	if (!(li->ca_pem = read_pem(li->ca, what, e)))
		return e->code;
	for (size_t i = 0; i < srv->nlisteners; i++) {
		const listener *other = &srv->listeners[i];
		if (other->ca_pem && strcmp(other->name, li->name) != 0 &&
		    shared_cert(other->ca_pem, li->ca_pem))
			return ld_errinfo_set(
			    e, LD_E(INVALID_VALUE), NULL,
			    "%s (tls:%s) and %s (tls:%s) trust a CA in common: a "
			    "certificate from it could choose either identity; give "
			    "each client group a CA of its own",
			    other->url, other->name, li->url, li->name);
	}
	const char *step = "set up TLS", *file = "";
	int rv = nng_tls_config_alloc(&li->tls, NNG_TLS_MODE_SERVER);
	if (rv == 0) {
		step = "use the certificate and key";
		file = o->tls_cert;
		rv = nng_tls_config_own_cert(li->tls, cert, key, NULL);
	}
	if (rv == 0) {
		step = "use the client CA";
		file = li->ca;
		rv = nng_tls_config_ca_chain(li->tls, li->ca_pem, NULL);
	}
	if (rv == 0) {
		step = "require client certificates";
		file = "";
		rv = nng_tls_config_auth_mode(li->tls, NNG_TLS_AUTH_MODE_REQUIRED);
	}
	if (rv != 0)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "%s (tls:%s): unable to %s '%s': %s", li->url, li->name, step,
		                      file, nng_strerror(rv));
	return 0;
}

/* Warns about tls:GROUP identities of the role file that no listener
 * serves: a misspelt name would otherwise only show as refusals. */
static void check_role_names(server *srv)
{
	for (size_t i = 0; i < roles_count(srv->roles); i++) {
		const char *id = roles_identity(srv->roles, i);
		if (strncmp(id, "tls:", 4) != 0)
			continue;
		int found = 0;
		for (size_t j = 0; j < srv->nlisteners && !found; j++)
			found = strcmp(srv->listeners[j].name, id + 4) == 0;
		if (!found)
			log_warn("server: the role file names %s, but no tls+tcp:// listener has "
			         "?name=%s",
			         id, id + 4);
	}
}

int server_start(server **out, store *s, writer *w, runner *r, const server_options *o,
		 ld_errinfo *e)
{
	int rv;
	char *tls_cert = NULL, *tls_key = NULL; /* PEM text, while listeners start */
	server *srv = calloc(1, sizeof(*srv));
	*out = NULL;
	if (!srv)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	srv->s = s;
	srv->w = w;
	srv->proj = r;
	srv->signer = o->signer;
	srv->roles = o->roles;
	srv->keys = o->keys;
	srv->max_msg = o->max_msg ? o->max_msg : 16u << 20;
	if (srv->max_msg > HARD_MAX_MSG)
		srv->max_msg = HARD_MAX_MSG;
	srv->nworkers = o->workers > 0 ? o->workers : 64;
	srv->probe_ms = o->ipc_probe_ms == 0 ? 1000 : o->ipc_probe_ms;
	pthread_mutex_init(&srv->probe_lock, NULL);
	pthread_cond_init(&srv->probe_wake, NULL);
	if (backup_create(&srv->backup, s, w, o->keys, o->data_dir) != 0) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
		goto fail;
	}
	pthread_mutex_init(&srv->sub_lock, NULL);
	pthread_mutex_init(&srv->pool_lock, NULL);
	pthread_cond_init(&srv->pool_wake, NULL);
	for (; srv->npool < SUB_POOL_THREADS; srv->npool++)
		if (pthread_create(&srv->pool[srv->npool], NULL, sub_pool_main, srv) != 0) {
			ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to start a thread");
			goto fail;
		}
	/* Long-polls hold a context each: leave some for everything else. */
	srv->max_waiting = srv->nworkers > 32 ? srv->nworkers - 16 : (srv->nworkers + 1) / 2;
	if (!(srv->subs = subreg_new())) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
		goto fail;
	}
	if (writer_hook_add(w, sub_on_commit, srv) != 0) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "no free commit hook in the writer");
		goto fail;
	}
	srv->sub_hooked = 1;

	if ((rv = nng_rep0_open(&srv->sock)) != 0) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to open a REP socket: %s",
			       nng_strerror(rv));
		goto fail;
	}
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, HARD_MAX_MSG);
	nng_pipe_notify(srv->sock, NNG_PIPE_EV_ADD_POST, pipe_added, srv);
	srv->workers = calloc((size_t)srv->nworkers, sizeof(worker));
	if (!srv->workers) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
		goto fail;
	}
	for (int i = 0; i < srv->nworkers; i++) {
		worker *wk = &srv->workers[i];
		wk->srv = srv;
		if (!(wk->page = malloc(sizeof(page)))) {
			ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
			goto fail;
		}
		if ((rv = nng_aio_alloc(&wk->aio, worker_cb, wk)) != 0 ||
		    (rv = nng_ctx_open(&wk->ctx, srv->sock)) != 0) {
			ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to set up a context: %s",
				       nng_strerror(rv));
			goto fail;
		}
	}
	for (size_t i = 0; i < o->nurls; i++) {
		listener *li = &srv->listeners[srv->nlisteners];
		if (listener_parse(li, o->urls[i], o, e) != 0)
			goto fail;
		if (strncmp(li->url, "tls+tcp://", 10) == 0) {
			if (!tls_cert &&
			    (!(tls_cert = read_pem(o->tls_cert, "TLS certificate", e)) ||
			     !(tls_key = read_pem(o->tls_key, "TLS key", e))))
				goto fail_listener;
			if (tls_setup(srv, li, o, tls_cert, tls_key, e) != 0)
				goto fail_listener;
		}
		if (listener_start(srv, li, e) != 0)
			goto fail_listener;
		srv->nlisteners++;
		if (li->name[0])
			log_info("server: listening on %s: clients with a certificate from %s are "
			         "tls:%s",
			         li->url, li->ca, li->name);
		else
			log_info("server: listening on %s", li->url);
		if (strncmp(li->url, "tcp://", 6) == 0 && strncmp(li->url, "tcp://127.", 10) != 0 &&
		    strncmp(li->url, "tcp://localhost:", 16) != 0 &&
		    strncmp(li->url, "tcp://[::1]:", 12) != 0)
			log_warn("server: %s is plain TCP off loopback: clients are identified "
				 "only by their address (development mode); use tls+tcp://",
				 li->url);
	}
	free(tls_cert);
	free(tls_key);
	tls_cert = tls_key = NULL;
	check_role_names(srv);
	if (o->pub_url) {
		snprintf(srv->pub_url, sizeof(srv->pub_url), "%s", o->pub_url);
		srv->has_pub = 1;
	}
	for (int i = 0; i < srv->nworkers; i++) {
		srv->workers[i].state = W_RECV;
		nng_ctx_recv(srv->workers[i].ctx, srv->workers[i].aio);
	}
	if (srv->probe_ms > 0) {
		int any_ipc = 0;
		for (size_t i = 0; i < srv->nlisteners; i++)
			any_ipc |= srv->listeners[i].ipc;
		if (any_ipc && pthread_create(&srv->probe, NULL, probe_main, srv) == 0)
			srv->probing = 1;
	}
	*out = srv;
	return 0;
fail_listener: /* the listener being set up owns what it allocated */
	free(srv->listeners[srv->nlisteners].ca_pem);
	if (srv->listeners[srv->nlisteners].tls)
		nng_tls_config_free(srv->listeners[srv->nlisteners].tls);
fail:
	free(tls_cert);
	free(tls_key);
	server_stop(srv);
	return e ? e->code : LD_E(INTERNAL);
}

void server_stop(server *srv)
{
	if (!srv)
		return;
	pthread_mutex_lock(&srv->probe_lock);
	srv->stopping = 1;
	pthread_cond_signal(&srv->probe_wake);
	pthread_mutex_unlock(&srv->probe_lock);
	if (srv->probing)
		pthread_join(srv->probe, NULL);
	/* A backup in flight finishes and is answered before the socket goes. */
	backup_stop(srv->backup);
	if (srv->sub_hooked)
		writer_hook_remove(srv->w, sub_on_commit, srv);
	nng_close(srv->sock);
	for (int i = 0; srv->workers && i < srv->nworkers; i++) {
		worker *wk = &srv->workers[i];
		if (wk->aio) {
			nng_aio_stop(wk->aio);
			nng_aio_free(wk->aio);
		}
		if (wk->req) {
			if (wk->areq.items) {
				append_req_release(&wk->areq);
				free(wk->areq.items);
			}
			codec_request_free(wk->req);
		}
		free(wk->page);
	}
	/* The pool finished every queued read (the aio stops above waited
	 * for them); now it can go. */
	pthread_mutex_lock(&srv->pool_lock);
	srv->pool_stopping = 1;
	pthread_cond_broadcast(&srv->pool_wake);
	pthread_mutex_unlock(&srv->pool_lock);
	for (int i = 0; i < srv->npool; i++)
		pthread_join(srv->pool[i], NULL);
	for (int i = 0; srv->workers && i < srv->nworkers; i++)
		if (srv->workers[i].sub.reply)
			nng_msg_free(srv->workers[i].sub.reply);
	free(srv->workers);
	for (size_t i = 0; i < srv->nlisteners; i++) {
		free(srv->listeners[i].ca_pem);
		if (srv->listeners[i].tls)
			nng_tls_config_free(srv->listeners[i].tls);
	}
	backup_free(srv->backup);
	subreg_free(srv->subs);
	pthread_cond_destroy(&srv->pool_wake);
	pthread_mutex_destroy(&srv->pool_lock);
	pthread_mutex_destroy(&srv->sub_lock);
	pthread_cond_destroy(&srv->probe_wake);
	pthread_mutex_destroy(&srv->probe_lock);
	free(srv);
}

unsigned server_ipc_restarts(server *srv)
{
	return atomic_load(&srv->ipc_restarts);
}

struct sub_registry *server_subscribers(server *srv)
{
	return srv->subs;
}
