/* reads.c — the log as it is stored: single events, pages of the log and of
 * a stream, the head. Answered on NNG's threads in a short read
 * transaction; events are embedded in the answer as stored, not decoded
 * (get_event decodes those that carry sealed personal data: it opens them
 * for a reader whose role may see that member's (core/roles.h,
 * roles_may_see_personal) and marks them "[withheld]" for any other). */
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "model.h"
#include "pii.h"

#define READ_DEFAULT_LIMIT 1000   /* events in a page when the request says none */
#define READ_MAX_LIMIT     10000  /* ... at most (the page's array holds this many) */
#define READ_MAX_SCAN      100000 /* events a filtered read_log looks at for one page */
#define READ_MAX_PAGE      (32u << 20) /* bytes of events in one page */

/* A page of stored events: Response { page = 21: EventPage { events = 1
 * ...; next_seq = 2; head_seq = 3 } }. */
static nng_msg *page_reply(const page *p, uint64_t next, uint64_t head_seq)
{
	uint64_t v[] = {next, head_seq};
	return reply_events(21, p->ev, p->n, p->bytes, v, 2);
}

static int limit_of(uint32_t has, uint32_t limit, ld_errinfo *e, const char *field)
{
	if (!has)
		return READ_DEFAULT_LIMIT;
	if (limit < 1 || limit > READ_MAX_LIMIT)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field, "limit must be 1 to %d, got %u",
				      READ_MAX_LIMIT, limit);
	return (int)limit;
}

nng_msg *reads_log(call *c)
{
	server *srv = c->srv;
	const Ledger__ReadLogRequest *q = c->req->read_log;
	page *p = c->pg;
	ld_errinfo e;
	int limit = limit_of(q->has_limit, q->limit, &e, "read_log.limit");
	if (limit < 0)
		return reply_error(&e);
	uint64_t from = q->has_from_seq && q->from_seq ? q->from_seq : 1;
	uint64_t head;
	writer_head(srv->w, &head, NULL, NULL);
	if (from > head + 1) {
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "read_log.from_seq",
			       "from_seq %llu is beyond the head %llu",
			       (unsigned long long)from, (unsigned long long)head);
		return reply_error(&e);
	}
	/* The filter as a set of body kinds (EventType values are field
	 * numbers below 128), so matching costs the same for any list. */
	uint64_t want[2] = {0, 0};
	if (q->n_types > 128) {
		ld_errinfo_set(&e, LD_E(TOO_LARGE), "read_log.types",
			       "%zu types in the filter; at most 128", q->n_types);
		return reply_error(&e);
	}
	for (size_t i = 0; i < q->n_types; i++) {
		int t = (int)q->types[i];
		if (t <= 0 || t >= 128 ||
		    !protobuf_c_enum_descriptor_get_value(&ledger__event_type__descriptor, t)) {
			ld_errinfo_set(&e, LD_E(UNKNOWN_ENUM), "read_log.types",
				       "%d is not a known EventType", t);
			return reply_error(&e);
		}
		want[t / 64] |= 1ULL << (t % 64);
	}

	store_txn *t;
	store_cursor *cur;
	store_val k, v;
	uint8_t key[8];
	nng_msg *m = NULL;
	int rc = store_read_begin(srv->s, &t);
	if (rc)
		return reply_error_msg(rc, "unable to read the log");
	p->n = p->bytes = 0;
	uint64_t next = from;
	if ((rc = store_cursor_open(t, DB_LOG, &cur)) == 0) {
		ld_put_be64(key, from);
		/* Stop at the committed head the page reports, even if more
		 * commits land while it is read. Bound the scan too, so a
		 * filter that matches nothing cannot walk the whole log. */
		size_t scanned = 0;
		for (rc = store_cursor_seek(cur, key, 8, &k, &v);
		     rc == 0 && p->n < (size_t)limit && scanned < READ_MAX_SCAN;
		     rc = store_cursor_next(cur, &k, &v), scanned++) {
			uint64_t seq = ld_get_be64(k.data);
			if (seq > head)
				break;
			next = seq + 1;
			if (q->n_types) {
				int bc = codec_peek_body_case(v.data, v.len);
				if (bc <= 0 || bc >= 128 || !((want[bc / 64] >> (bc % 64)) & 1))
					continue;
			}
			if (p->bytes + v.len + 8 > READ_MAX_PAGE)
				break;
			p->ev[p->n++] = v;
			p->bytes += codec_ld_len(1, v.len);
		}
		store_cursor_close(cur);
	}
	if (rc == 0 || rc == LD_E(NOT_FOUND))
		m = page_reply(p, next, head);
	else
		m = reply_error_msg(rc, "unable to read the log");
	store_read_end(t);
	return m;
}

nng_msg *reads_stream(call *c)
{
	server *srv = c->srv;
	const Ledger__ReadStreamRequest *q = c->req->read_stream;
	page *p = c->pg;
	ld_errinfo e;
	int limit = limit_of(q->has_limit, q->limit, &e, "read_stream.limit");
	if (limit < 0)
		return reply_error(&e);
	if (!ld_has(q->stream)) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "read_stream.stream",
			       "stream (\"member/<id>\", \"org/<id>\", \"region/<code>\") is required");
		return reply_error(&e);
	}
	if (strlen(q->stream) >= LD_STREAM_MAX) {
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "read_stream.stream",
			       "a stream name has at most %d bytes", LD_STREAM_MAX - 1);
		return reply_error(&e);
	}
	uint64_t from = q->has_from_version && q->from_version ? q->from_version : 1;
	uint64_t head;
	writer_head(srv->w, &head, NULL, NULL);

	store_txn *t;
	store_val ev;
	uint8_t logkey[8];
	size_t n = 0;
	nng_msg *m = NULL;
	int rc = store_read_begin(srv->s, &t);
	if (rc)
		return reply_error_msg(rc, "unable to read the log");
	p->n = p->bytes = 0;
	uint64_t next = from;
	if (from <= UINT32_MAX)
		rc = model_stream_read(t, q->stream, (uint32_t)from, head, (size_t)limit, p->seq,
				       p->version, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		ld_put_be64(logkey, p->seq[i]);
		if ((rc = store_get(t, DB_LOG, logkey, 8, &ev)))
			break;
		p->ev[p->n++] = ev;
		p->bytes += codec_ld_len(1, ev.len);
		next = (uint64_t)p->version[i] + 1;
	}
	if (rc) {
		m = reply_error_msg(rc, "unable to read the stream");
	} else if (!n && from == 1) {
		ld_errinfo_set(&e, LD_E(NOT_FOUND), "read_stream.stream", "stream '%s' not found",
			       q->stream);
		m = reply_error(&e);
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

static nng_msg *revealed_event_reply(call *c, store_txn *t, store_val v)
{
	Ledger__Event *ev = codec_event_unpack(v.data, v.len);
	if (!ev)
		return reply_error_msg(LD_E(STORAGE), "a stored event does not decode");
	ld_arena a = LD_ARENA_INIT;
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	if (roles_may_see_personal(c->role, t, pii_member(ev)))
		pii_reveal(c->srv->keys, ev, &a);
	else
		pii_withhold(ev);
	resp.result_case = LEDGER__RESPONSE__RESULT_EVENT;
	resp.event = ev;
	nng_msg *m = reply_pack(&resp);
	pii_unreveal(ev);
	codec_event_free(ev);
	ld_arena_free(&a);
	return m;
}

nng_msg *reads_get_event(call *c)
{
	server *srv = c->srv;
	const Ledger__GetEventRequest *q = c->req->get_event;
	uint8_t key[8];
	store_txn *t;
	store_val v;
	ld_errinfo e;
	uint64_t head;
	writer_head(srv->w, &head, NULL, NULL);
	if (!q->has_seq) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "get_event.seq", "get_event.seq is required");
		return reply_error(&e);
	}
	if (q->seq == 0 || q->seq > head) {
		ld_errinfo_set(&e, LD_E(NOT_FOUND), "get_event.seq",
			       "no event seq %llu (the log head is %llu)",
			       (unsigned long long)q->seq, (unsigned long long)head);
		return reply_error(&e);
	}
	int rc = store_read_begin(srv->s, &t);
	if (rc)
		return reply_error_msg(rc, "unable to read the log");
	nng_msg *m = NULL;
	ld_put_be64(key, q->seq);
	rc = store_get(t, DB_LOG, key, 8, &v);
	if (rc == 0 && revealable(v)) {
		m = revealed_event_reply(c, t, v);
	} else if (rc == 0) {
		m = reply_stored_event(v);
	} else {
		m = reply_error_msg(rc, "unable to read the event from the log");
	}
	store_read_end(t);
	return m;
}

nng_msg *reads_head(call *c)
{
	server *srv = c->srv;
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
	return reply_pack(&resp);
}

/* whoami: the identity admit() established, its role and its organisations
 * (a clerk's, a reader's), as the role file names them. */
nng_msg *reads_whoami(call *c)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__Whoami w = LEDGER__WHOAMI__INIT;
	char *orgs[ROLES_MAX_ORGS];
	w.identity = c->identity;
	w.role = (char *)(c->role ? roles_kind_name(c->role->kind) : "admin");
	w.has_development = 1;
	w.development = !c->srv->roles;
	if (c->role && (c->role->kind == ROLE_CLERK || c->role->kind == ROLE_READER)) {
		for (size_t i = 0; i < c->role->norgs && i < ROLES_MAX_ORGS; i++)
			orgs[i] = (char *)c->role->orgs[i];
		w.n_orgs = c->role->norgs < ROLES_MAX_ORGS ? c->role->norgs : ROLES_MAX_ORGS;
		w.orgs = orgs;
	}
	resp.result_case = LEDGER__RESPONSE__RESULT_WHOAMI;
	resp.whoami = &w;
	return reply_pack(&resp);
}
