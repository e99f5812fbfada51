/*
 * intake.c — the requests that write: appends, and forgets (an append of
 * MemberForgotten). See server.h and core/writer.h.
 *
 * On NNG's threads each event is checked without state: personal data
 * first (the national ID becomes person_hash before anything else sees it:
 * core/pii.h), then check_event (proto/check.h). An event that carries a
 * name or phone must then be sealed with its member's key, and making a new
 * key is a synced commit of the keystore: that step runs on the sealing
 * thread, never on NNG's. Then the writer gets the request, and the reply
 * is built when its commit decided every event (on NNG's threads again).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "check.h"
#include "clock.h"
#include "counters.h"
#include "log.h"
#include "pii.h"

/* ------------------------------------------------------------------ */
/* The reply                                                           */
/* ------------------------------------------------------------------ */

/* How many events ahead a request's national IDs are hashed (pii_hint):
 * enough for the lookups' cache misses to overlap. */
#define PII_AHEAD 8

/* Requests of up to this many events are answered without allocating
 * (besides the reply's message). */
#define REPLY_ON_STACK 16

/* A forget recorded on a node whose members' keys travel between the nodes
 * (a cluster key): where copies of the key remain (docs/REPLICATION.md,
 * "Personal data across nodes"). */
static const char forget_note[] =
    "the member's key is destroyed on every node; copies of it wrapped with the cluster key "
    "remain in each node's raft log, in the entries that carried it, until that log is "
    "truncated behind a snapshot marker (one is taken every --snapshot-threshold entries, "
    "and the --snapshot-trailing entries before it are kept); the ledger's log, its pages "
    "and its backups hold none";

static int forgot_with_keys(const append_req *r, const keystore *keys)
{
	if (!keys || !keystore_clustered(keys))
		return 0;
	for (size_t i = 0; i < r->req->n_events; i++)
		if (!r->items[i].code && !r->items[i].duplicate &&
		    r->req->events[i]->body_case == LEDGER__EVENT__BODY_MEMBER_FORGOTTEN)
			return 1;
	return 0;
}

/* A node that does not lead because its replica halted (a fork, a key not
 * the cluster's) or failed: ERR_HALTED with the reason its log and
 * `ledgerctl cluster` give, for the client to go to another node rather
 * than wait here for an election that will not make this one lead; one
 * the leader said was removed: ERR_NOT_LEADER saying so. NULL otherwise. */
static nng_msg *halted_reply(server *srv)
{
	if (!srv->cluster_status)
		return NULL;
	Ledger__ClusterStatus st = LEDGER__CLUSTER_STATUS__INIT;
	void *mem = srv->cluster_status(srv->cluster_arg, &st);
	nng_msg *m = NULL;
	if (st.role && strcmp(st.role, "removed") == 0) {
		/* Not ERR_HALTED: nothing is wrong with it but that it is no
		 * member; a client given every node tries the next. */
		ld_errinfo e;
		ld_errinfo_set(&e, LD_E(NOT_LEADER), NULL,
			       "this node is not in the cluster and takes no writes (nothing of "
			       "this request was recorded: send it to another node): %s",
			       st.reason && *st.reason ? st.reason : "removed");
		m = reply_error(&e);
	} else if (st.role &&
		   (strcmp(st.role, "halted") == 0 || strcmp(st.role, "failed") == 0)) {
		ld_errinfo e;
		ld_errinfo_set(&e, LD_E(HALTED), NULL,
			       "this node %s and takes no writes until repaired (nothing of this "
			       "request was recorded: send it to another node): %s",
			       st.role, st.reason && *st.reason ? st.reason : "its log says why");
		m = reply_error(&e);
	}
	free(mem);
	return m;
}

static nng_msg *append_reply(const append_req *r, server *srv)
{
	writer *w = srv->w;
	const keystore *keys = srv->keys;
	size_t n = r->req->n_events;
	nng_msg *halted;
	if (r->status == LD_E(NOT_LEADER) && (halted = halted_reply(srv)))
		return halted;
	if (r->status == LD_E(NOT_LEADER)) {
		/* A node of a cluster that does not lead: the redirect. */
		char url[256];
		ld_errinfo e;
		int elected = writer_leader_url(w, url, sizeof(url));
		if (elected)
			ld_errinfo_set(&e, r->status, NULL,
				       "this node was elected leader of its cluster and is not "
				       "taking writes yet (its first entry is being confirmed); "
				       "nothing of this request was recorded: retry shortly, here "
				       "(%s)",
				       url);
		else if (url[0])
			ld_errinfo_set(&e, r->status, NULL,
				       "this node is not the leader of its cluster; nothing of this "
				       "request was recorded: send it to the leader, %s",
				       url);
		else
			ld_errinfo_set(&e, r->status, NULL,
				       "this node is not the leader of its cluster and knows of none "
				       "(an election is under way?); nothing of this request was "
				       "recorded: retry shortly");
		Ledger__Response resp = LEDGER__RESPONSE__INIT;
		Ledger__Error err;
		reply_fill_error(&err, &e);
		if (url[0])
			err.leader = url;
		resp.error = &err;
		return reply_pack(&resp);
	}
	if (r->status) {
		ld_errinfo e;
		if (r->status == LD_E(OUTCOME_UNKNOWN))
			ld_errinfo_set(&e, r->status, NULL,
				       "this node lost the leadership of its cluster before the "
				       "request was confirmed: it may or may not be recorded; send it "
				       "again, with the same event ids, to the leader");
		else
			ld_errinfo_set(&e, r->status, NULL, "%s; nothing of this request was recorded",
				       ld_strerror(r->status));
		return reply_error(&e);
	}
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__AppendResult res = LEDGER__APPEND_RESULT__INIT;
	/* Each event's result and error, and the pointers to the results: on
	 * the stack for the usual small request. */
	struct slot {
		Ledger__EventResult r;
		Ledger__Error err;
	} small[REPLY_ON_STACK];
	Ledger__EventResult *ptrs_small[REPLY_ON_STACK];
	int big = n > REPLY_ON_STACK;
	struct slot *slots = big ? malloc(n * sizeof(*slots)) : small;
	Ledger__EventResult **ptrs = big ? malloc(n * sizeof(*ptrs)) : ptrs_small;
	nng_msg *m = NULL;
	if (!slots || !ptrs)
		goto out;
	uint32_t accepted = 0, dups = 0, rejected = 0;
	for (size_t i = 0; i < n; i++) {
		const append_item *it = &r->items[i];
		Ledger__EventResult *er = &slots[i].r;
		ledger__event_result__init(er);
		ptrs[i] = er;
		if (it->code) {
			ld_errinfo fallback;
			const ld_errinfo *e = it->err;
			if (!e) {
				ld_errinfo_set(&fallback, it->code, NULL, "%s", ld_strerror(it->code));
				e = &fallback;
			}
			Ledger__Error *err = &slots[i].err;
			reply_fill_error(err, e);
			if (it->err == NULL)
				err->message = (char *)ld_strerror(it->code);
			err->has_index = 1;
			err->index = (uint32_t)i;
			er->error = err;
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
	if (forgot_with_keys(r, keys))
		res.note = (char *)forget_note;
	resp.result_case = LEDGER__RESPONSE__RESULT_APPEND;
	resp.append = &res;
	m = reply_pack(&resp);
out:
	if (big) {
		free(slots);
		free(ptrs);
	}
	return m;
}

void intake_release(call *c)
{
	if (!c->areq.items)
		return;
	append_req_release(&c->areq);
	c->areq.items = NULL; /* in the call's pool, given back with the request */
}

/* The writer (or the sealer) decided: the reply, on NNG's threads. */
static nng_msg *append_decided(call *c)
{
	return append_reply(&c->areq, c->srv);
}

/* ------------------------------------------------------------------ */
/* Checks, and the hand-off to the writer                              */
/* ------------------------------------------------------------------ */

static void item_fail(append_item *it, int code, const ld_errinfo *e)
{
	it->code = code;
	it->err = malloc(sizeof(ld_errinfo));
	if (it->err)
		*it->err = *e;
}

/* 1 when nothing is left for the writer: every event failed its checks,
 * or one did in an atomic request (the others are then marked aborted). */
static int nothing_to_write(call *c)
{
	append_req *r = &c->areq;
	Ledger__AppendRequest *a = r->req;
	size_t failed = 0;
	for (size_t i = 0; i < a->n_events; i++)
		failed += r->items[i].code != 0;
	if (!(failed == a->n_events || (failed && a->atomic)))
		return 0;
	for (size_t i = 0; i < a->n_events; i++)
		if (!r->items[i].code) {
			ld_errinfo e;
			ld_errinfo_set(&e, LD_E(ABORTED), NULL,
				       "not recorded: another event of the atomic batch was rejected");
			item_fail(&r->items[i], LD_E(ABORTED), &e);
		}
	writer_head(c->srv->w, &r->head_seq, NULL, NULL);
	return 1;
}

/* The writer calls this when its commit decided the request. */
static void append_done(append_req *r)
{
	call_wake(r->arg, 0);
}

/* Gives a handed-off call's request to the writer (any thread). */
static void submit(call *c)
{
	append_req *r = &c->areq;
	r->done = append_done;
	r->arg = c;
	int rc = writer_submit(c->srv->w, r);
	if (rc != 0) {
		/* Refused (busy, stopping): the answer says so, with every item
		 * failed; it goes out like a decided one. */
		r->status = rc;
		call_wake(c, 0);
	}
}

/* ------------------------------------------------------------------ */
/* The sealing thread                                                  */
/* ------------------------------------------------------------------ */

/* Seals the personal data of every event that passed its checks (making
 * member keys: synced commits), then gives the request to the writer. */
static void seal_job(call *c)
{
	server *srv = c->srv;
	append_req *r = &c->areq;
	Ledger__AppendRequest *a = r->req;
	for (size_t i = 0; i < a->n_events; i++) {
		if (r->items[i].code || !codec_has_clear_personal(a->events[i]))
			continue;
		ld_errinfo e = {0};
		int rc = pii_seal(srv->keys, srv->s, a->events[i], &c->pool, &e);
		if (rc == LD_E(DISK_FULL) || rc == LD_E(KEYSTORE)) {
			/* Storage, not this event: the request fails whole and
			 * nothing of it is recorded, as when the log's commit
			 * fails (keys made for its other events stay unused). */
			log_error("intake: %s; nothing of the request is recorded", e.message);
			r->status = rc;
			call_wake(c, 0);
			return;
		}
		if (rc)
			item_fail(&r->items[i], rc, &e);
	}
	if (nothing_to_write(c))
		call_wake(c, 0);
	else
		submit(c);
}

static void *sealer_main(void *arg)
{
	server *srv = arg;
	pthread_setname_np(pthread_self(), "ld-sealer");
	pthread_mutex_lock(&srv->seal_lock);
	for (;;) {
		while (!srv->seal_head && !srv->sealer_stopping)
			pthread_cond_wait(&srv->seal_wake, &srv->seal_lock);
		call *c = srv->seal_head;
		if (!c)
			break;
		srv->seal_head = c->seal_next;
		if (!srv->seal_head)
			srv->seal_tail = NULL;
		pthread_mutex_unlock(&srv->seal_lock);
		seal_job(c);
		pthread_mutex_lock(&srv->seal_lock);
	}
	pthread_mutex_unlock(&srv->seal_lock);
	return NULL;
}

int intake_start(server *srv, ld_errinfo *e)
{
	if (pthread_create(&srv->sealer, NULL, sealer_main, srv) != 0)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to start a thread");
	srv->sealing = 1;
	return 0;
}

/* Every queued call was sealed (server_stop waited for their aios). */
void intake_stop(server *srv)
{
	if (!srv->sealing)
		return;
	pthread_mutex_lock(&srv->seal_lock);
	srv->sealer_stopping = 1;
	pthread_cond_signal(&srv->seal_wake);
	pthread_mutex_unlock(&srv->seal_lock);
	pthread_join(srv->sealer, NULL);
	srv->sealing = 0;
}

static void seal_enqueue(call *c)
{
	server *srv = c->srv;
	pthread_mutex_lock(&srv->seal_lock);
	c->seal_next = NULL;
	if (srv->seal_tail)
		srv->seal_tail->seal_next = c;
	else
		srv->seal_head = c;
	srv->seal_tail = c;
	pthread_cond_signal(&srv->seal_wake);
	pthread_mutex_unlock(&srv->seal_lock);
}

/* ------------------------------------------------------------------ */
/* Joins of persons the ledger holds (server.h)                        */
/* ------------------------------------------------------------------ */

/* The join ev carries (a join, or an amendment correcting one), or NULL. */
static const Ledger__MemberJoined *join_of(const Ledger__Event *ev)
{
	if (ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED)
		return ev->member_joined;
	if (ev->body_case == LEDGER__EVENT__BODY_EVENT_AMENDED &&
	    ev->event_amended->corrected_case == LEDGER__EVENT_AMENDED__CORRECTED_MEMBER_JOINED)
		return ev->event_amended->member_joined;
	return NULL;
}

/* 1 if event ev, a join by national ID that passed its checks, names a
 * person the ledger holds, or (a join, not an amendment) a member the
 * ledger holds (for an ended one, "registered for another person" tells
 * that the ID is not its person's, one ID at a time), and is not a resend
 * of an event recorded (whose answer, a duplicate, says nothing of the
 * ID); the member in `member`. */
static int known_join(server *srv, store_txn *t, const Ledger__Event *ev,
		      char member[LD_ID_MAX + 1])
{
	const Ledger__MemberJoined *j = join_of(ev);
	char org[LD_ID_MAX + 1];
	uint64_t seq = 0;
	if (!j || !j->has_person_hash || j->person_hash.len != LD_HASH_LEN)
		return 0;
	if (model_person_in(srv->s, j->person_hash.data, member) != 0) {
		if (ev->body_case != LEDGER__EVENT__BODY_MEMBER_JOINED || !t || !ld_has(j->member_id) ||
		    model_member_org(t, j->member_id, org) != 0)
			return 0;
		snprintf(member, LD_ID_MAX + 1, "%s", j->member_id);
	}
	if (t && ev->has_event_id && ev->event_id.len == LD_EVENT_ID_LEN &&
	    model_id_lookup(t, ev->event_id.data, &seq) == 0 && seq)
		return 0;
	return 1;
}

/* The allowance of clerk `identity` (role ro), brought up to now (under
 * known_lock): NULL when the table is full (it holds one entry per identity
 * of the role file, so it is not). */
static struct known_allowance *allowance(server *srv, const role *ro, const char *identity,
					 int64_t now)
{
	struct known_allowance *a = NULL;
	for (size_t i = 0; i < srv->nknown && !a; i++)
		if (!srv->known[i].id[0] || strcmp(srv->known[i].id, identity) == 0)
			a = &srv->known[i];
	if (!a)
		return NULL;
	if (!a->id[0]) {
		snprintf(a->id, sizeof(a->id), "%s", identity);
		a->tokens = ro->known_joins;
		a->at_us = now;
	}
	if (now > a->at_us) {
		a->tokens += (double)(now - a->at_us) / (ro->known_every_s * 1e6);
		if (a->tokens > ro->known_joins)
			a->tokens = ro->known_joins;
		a->at_us = now;
	}
	return a;
}

/*
 * A clerk's request: counts its joins by national ID (by_id[i]) that passed
 * their checks, and those of them naming a person the ledger holds; takes
 * the latter from the clerk's allowance, or refuses the whole request when
 * the allowance is short of them or below one while the request has any
 * join by national ID. NULL to go on, or the refusal to answer (the same
 * for any IDs: it does not say which or how many were known).
 */
static nng_msg *known_joins(call *c, const unsigned char *by_id, int64_t now)
{
	server *srv = c->srv;
	const Ledger__AppendRequest *a = c->req->append;
	append_req *r = &c->areq;
	size_t joins = 0, known = 0;
	char members[160] = "", member[LD_ID_MAX + 1];
	store_txn *t = NULL;
	for (size_t i = 0; i < a->n_events; i++) {
		if (!by_id[i] || r->items[i].code)
			continue;
		joins++;
		if (!t && store_read_begin(srv->s, &t) != 0)
			t = NULL;
		if (known_join(srv, t, a->events[i], member)) {
			known++;
			size_t l = strlen(members);
			if (l + strlen(member) + 8 < sizeof(members))
				snprintf(members + l, sizeof(members) - l, "%s%s", l ? ", " : "",
					 member);
			else if (l + 6 < sizeof(members) && !strstr(members, "…"))
				snprintf(members + l, sizeof(members) - l, ", …");
		}
	}
	if (t)
		store_read_end(t);
	if (!joins)
		return NULL;
	pthread_mutex_lock(&srv->known_lock);
	const role *ro = c->role;
	struct known_allowance *al = allowance(srv, ro, c->identity, now);
	if (!al) {
		pthread_mutex_unlock(&srv->known_lock);
		return reply_error_msg(LD_E(INTERNAL), "no allowance for this identity");
	}
	if (al->tokens >= 1 && (double)known <= al->tokens) {
		al->tokens -= (double)known;
		double left = al->tokens;
		pthread_mutex_unlock(&srv->known_lock);
		if (known)
			log_info("intake: clerk %s joins by national ID %zu person(s) the ledger "
				 "holds already (%s); %.0f such join(s) left to it now",
				 c->identity, known, members, left);
		return NULL;
	}
	if (known > al->tokens)
		al->tokens = 0;
	int wait_s = (int)((1 - al->tokens) * ro->known_every_s + 0.999);
	unsigned long told = ld_every_count(&al->refusals, 60 * 1000000LL);
	pthread_mutex_unlock(&srv->known_lock);
	if (told)
		log_warn("intake: clerk %s refused a request of %zu join(s) by national ID, %zu of "
			 "them of persons the ledger holds already (%s): over its allowance of %u "
			 "and one every %u s (%lu refusal(s) not logged since the last)",
			 c->identity, joins, known, known ? members : "none", ro->known_joins,
			 ro->known_every_s, told - 1);
	time_t until = (time_t)(now / 1000000) + wait_s;
	struct tm tm;
	char when[32] = "";
	if (gmtime_r(&until, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	/* The identity is not in the sentence (the log names it; the clerk
	 * knows who it is): with it, an identity over 59 characters (tls: and
	 * a listener name of up to 63 give 67) cut the end of ld_errinfo's 256
	 * bytes, and a sentence cut is no longer translated (servertext.c).
	 * Without it, at most 211 bytes. */
	ld_errinfo e;
	ld_errinfo_set(&e, LD_E(PERMISSION_DENIED), NULL,
		       "joins by national ID are refused to this clerk until %s UTC, past its "
		       "allowance of persons the ledger holds (%u, 1 more per %u s); nothing "
		       "recorded; an admin may record them",
		       when, ro->known_joins, ro->known_every_s);
	return reply_error(&e);
}

/* ------------------------------------------------------------------ */
/* The handlers                                                        */
/* ------------------------------------------------------------------ */

nng_msg *intake_append(call *c)
{
	server *srv = c->srv;
	Ledger__AppendRequest *a = c->req->append;
	ld_errinfo e;
	if (a->n_events == 0) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "append.events", "the append has no events");
		return reply_error(&e);
	}
	if (a->n_events > WRITER_MAX_BATCH) {
		ld_errinfo_set(&e, LD_E(TOO_LARGE), "append.events",
			       "%zu events in one request; at most %d", a->n_events,
			       WRITER_MAX_BATCH);
		return reply_error(&e);
	}
	append_req *r = &c->areq;
	memset(r, 0, sizeof(*r));
	r->req = a;
	r->items = codec_alloc(&c->pool, a->n_events * sizeof(*r->items));
	if (!r->items)
		return reply_error_msg(LD_E(INTERNAL), "out of memory");
	memset(r->items, 0, a->n_events * sizeof(*r->items));
	_Static_assert(sizeof(r->actor) == sizeof(c->identity), "the identity is the actor");
	memcpy(r->actor, c->identity, sizeof(r->actor));
	r->role = c->role && c->role->kind == ROLE_CLERK ? c->role : NULL;
	int64_t now = ld_wall_us();
	int to_seal = 0;
	if (!writer_leads(srv->w)) {
		/* Nothing of it is prepared here (no key made for its
		 * members): the leader does that. */
		r->status = LD_E(NOT_LEADER);
		return append_reply(r, srv);
	}
	/* Several events: their national IDs' hashes and their places in the
	 * write model made PII_AHEAD events ahead of their lookups (core/pii.h
	 * pii_hint); one has nothing to overlap with. */
	/* A clerk's joins by national ID (known_joins), told before
	 * pii_prepare replaces the ID with its hash. */
	int clerk = c->role && c->role->kind == ROLE_CLERK;
	unsigned char *by_id = clerk ? codec_alloc(&c->pool, a->n_events) : NULL;
	if (clerk && !by_id)
		return reply_error_msg(LD_E(INTERNAL), "out of memory");
	for (size_t i = 0; by_id && i < a->n_events; i++) {
		const Ledger__MemberJoined *j = join_of(a->events[i]);
		by_id[i] = j && j->national_id && !j->has_person_hash;
	}
	pii_hint ahead[PII_AHEAD];
	int hinting = srv->keys && a->n_events > 1;
	for (size_t i = 0; hinting && i < PII_AHEAD && i < a->n_events; i++)
		pii_hint_make(srv->keys, srv->s, a->events[i], now, &ahead[i]);
	for (size_t i = 0; i < a->n_events; i++) {
		ld_errinfo_clear(&e);
		pii_hint *hint = hinting ? &ahead[i % PII_AHEAD] : NULL;
		/* Read before pii_prepare, which gives a national ID its hash:
		 * a hash the client sent vouches for no one (roles.h). */
		r->items[i].by_hash = a->events[i]->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED &&
				      a->events[i]->member_joined->has_person_hash;
		int rc = srv->keys ? pii_prepare(srv->keys, srv->s, a->events[i], now, hint, &c->pool,
						 &e)
				   : 0;
		if (hinting && i + PII_AHEAD < a->n_events)
			pii_hint_make(srv->keys, srv->s, a->events[i + PII_AHEAD], now, hint);
		if (rc == 0)
			rc = check_event(a->events[i], now, &e);
		if (rc == 0 && !srv->keys && a->events[i]->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED &&
		    !a->events[i]->member_joined->has_person_hash)
			rc = ld_errinfo_set(&e, LD_E(KEYSTORE), "member_joined.national_id",
					    "this server has no keystore: national IDs cannot be "
					    "hashed");
		if (rc == 0 && codec_has_clear_personal(a->events[i])) {
			if (srv->keys)
				to_seal = 1;
			else
				rc = ld_errinfo_set(&e, LD_E(KEYSTORE), NULL,
						    "this server has no keystore: personal data is "
						    "refused");
		}
		if (rc)
			item_fail(&r->items[i], rc, &e);
	}
	for (size_t i = 0; hinting && i < PII_AHEAD && i < a->n_events; i++)
		pii_hint_wipe(&ahead[i]);
	nng_msg *refused = by_id ? known_joins(c, by_id, now) : NULL;
	if (by_id)
		codec_free(&c->pool, by_id);
	if (refused)
		return refused;
	if (!to_seal && nothing_to_write(c))
		return append_reply(r, srv); /* answered now, without a commit */
	/* Appends waiting for their seal or their commit have the intake's
	 * bounds, not their identity's half of the calls (server.c,
	 * "Fairness": forty joins of one clerk waiting for a slow disk are
	 * answered). */
	call_fair_release(c);
	if (call_hand_off(c, append_decided, NULL) != 0)
		return reply_error_msg(LD_E(SHUTTING_DOWN),
				       "server shutting down; nothing was recorded");
	if (to_seal)
		seal_enqueue(c);
	else
		submit(c);
	return CALL_AWAY;
}

nng_msg *intake_forget(call *c)
{
	ld_errinfo e;
	if (pii_forget_request(c->req, ld_wall_us(), &c->pool, &e))
		return reply_error(&e);
	return intake_append(c);
}
