/* writer.c — decisions in memory, group commit on its own thread. See
 * writer.h. */
#include "writer.h"
#include "writer_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "counters.h"
#include "group.h"
#include "keystore.h"
#include "log.h"
#include "merkle.h"
#include "model.h"
#include "snapshot.h"

#define REPLAY_CHUNK 50000 /* events per transaction when replaying at start */

/* Queued events from which the decider is woken while a group commits. */
#define WRITER_DECIDE_AHEAD 256
/* A replicated writer with nothing decided, in flight or queued decides a
 * request of up to this many events on the submitting thread (decide_here). */
#define WRITER_DECIDE_HERE_EVENTS 64

/* The client's parts of a request's events (codec.h), packed by
 * writer_submit: event i's head at buf + off[i], its body right after. */
typedef struct append_pack {
	codec_parts *parts;
	size_t *off;
	uint8_t *buf;
} append_pack;

static int pack_request(append_req *r)
{
	size_t n = r->req->n_events, bytes = 0;
	codec_parts *parts = malloc(n * (sizeof(codec_parts) + sizeof(size_t)) + sizeof(append_pack));
	if (!parts)
		return LD_E(INTERNAL);
	append_pack *pk = (append_pack *)(parts + n);
	pk->parts = parts;
	pk->off = (size_t *)(pk + 1);
	for (size_t i = 0; i < n; i++) {
		if (r->items[i].code) {
			parts[i] = (codec_parts){0, 0};
			continue;
		}
		parts[i] = codec_event_parts_size(r->req->events[i]);
		pk->off[i] = bytes;
		bytes += parts[i].head + parts[i].body;
	}
	if (!(pk->buf = malloc(bytes ? bytes : 1))) {
		free(parts);
		return LD_E(INTERNAL);
	}
	for (size_t i = 0; i < n; i++)
		if (!r->items[i].code)
			codec_event_parts_pack(r->req->events[i], parts[i], pk->buf + pk->off[i],
					       pk->buf + pk->off[i] + parts[i].head);
	r->pack = pk;
	return 0;
}

static void pack_free(append_req *r)
{
	if (r->pack) {
		free(r->pack->buf);
		free(r->pack->parts);
		r->pack = NULL;
	}
}

static void item_fail(append_item *it, int code, const ld_errinfo *e)
{
	it->code = code;
	if (!it->err)
		it->err = calloc(1, sizeof(*it->err));
	if (it->err) {
		if (e && e->code == code)
			*it->err = *e;
		else
			ld_errinfo_set(it->err, code, e ? e->field : NULL, "%s",
				       e && e->message[0] ? e->message : ld_strerror(code));
	}
}

void append_req_release(append_req *r)
{
	for (size_t i = 0; r->items && i < r->req->n_events; i++) {
		free(r->items[i].err);
		r->items[i].err = NULL;
	}
}

static int is_storage_error(int rc)
{
	return rc == STORE_MAP_FULL || rc == LD_E(STORAGE) || rc == LD_E(DISK_FULL) ||
	       rc == LD_E(INTERNAL) || rc == LD_E(KEYSTORE);
}

/* ------------------------------------------------------------------ */
/* What the decider sees beyond the log: its groups                    */
/* ------------------------------------------------------------------ */

int wr_view_event(void *arg, uint64_t seq, Ledger__Event **ev)
{
	writer *w = arg;
	const uint8_t *b;
	size_t n;
	for (int i = 0; i < 2; i++) {
		const wgroup *g = &w->groups[i];
		if (g->g.n && group_event(&g->g, seq, &b, &n) == 0) {
			*ev = codec_event_unpack(b, n);
			return *ev ? 0 : LD_E(INTERNAL);
		}
	}
	if (!w->replicate)
		return LD_E(NOT_FOUND);
	pthread_mutex_lock(&w->lock);
	const pend *p = wr_pending_at(w, seq);
	int rc = p ? group_event(&p->g, seq, &b, &n) : LD_E(NOT_FOUND);
	if (rc == 0 && !(*ev = codec_event_unpack(b, n)))
		rc = LD_E(INTERNAL);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

int wr_view_link(void *arg, uint64_t seq, ld_link *l)
{
	writer *w = arg;
	for (int i = 0; i < 2; i++)
		if (w->groups[i].g.n && group_link(&w->groups[i].g, seq, l) == 0)
			return 0;
	if (!w->replicate)
		return LD_E(NOT_FOUND);
	pthread_mutex_lock(&w->lock);
	const pend *p = wr_pending_at(w, seq);
	int rc = p ? group_link(&p->g, seq, l) : LD_E(NOT_FOUND);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* The decider's read transaction of the log, with its view. */
static int decider_txn(writer *w, store_txn **t)
{
	if (!w->txn) {
		/* What the store holds from here on is in the transaction; what
		 * it does not yet hold stays in the view until it ends. */
		pthread_mutex_lock(&w->lock);
		w->pin = w->sseq;
		pthread_mutex_unlock(&w->lock);
		int rc = store_read_begin(w->s, &w->txn);
		if (rc) {
			pthread_mutex_lock(&w->lock);
			w->pin = UINT64_MAX;
			pthread_mutex_unlock(&w->lock);
			return rc;
		}
		store_txn_set_view(w->txn, &w->view);
	}
	*t = w->txn;
	return 0;
}

static void decider_txn_end(writer *w)
{
	store_read_end(w->txn);
	w->txn = NULL;
	pthread_mutex_lock(&w->lock);
	w->pin = UINT64_MAX;
	wr_prune_locked(w);
	pthread_mutex_unlock(&w->lock);
}

/* ------------------------------------------------------------------ */
/* One event                                                           */
/* ------------------------------------------------------------------ */

/* Packs the client-chosen part of an event (id, time, body) for comparing
 * a resent event with the recorded one, without personal data (the stored
 * event has it sealed with a fresh nonce, the resent one in clear). Returns
 * a malloc'd buffer. */
static uint8_t *client_part(const Ledger__Event *ev, size_t *len)
{
	Ledger__Event c;
	codec_personal_buf pb;
	codec_strip_personal(ev, &c, &pb);
	/* The sealed bytes too: copies of the bodies that hold them. */
	Ledger__MemberJoined j;
	Ledger__ProfileChanged p;
	Ledger__EventAmended am;
	if (c.body_case == LEDGER__EVENT__BODY_MEMBER_JOINED && c.member_joined->has_personal) {
		j = *c.member_joined;
		j.has_personal = 0;
		j.personal.len = 0;
		j.personal.data = NULL;
		c.member_joined = &j;
	} else if (c.body_case == LEDGER__EVENT__BODY_PROFILE_CHANGED &&
		   c.profile_changed->has_personal) {
		p = *c.profile_changed;
		p.has_personal = 0;
		p.personal.len = 0;
		p.personal.data = NULL;
		c.profile_changed = &p;
	} else if (c.body_case == LEDGER__EVENT__BODY_EVENT_AMENDED &&
		   c.event_amended->corrected_case ==
			   LEDGER__EVENT_AMENDED__CORRECTED_MEMBER_JOINED &&
		   c.event_amended->member_joined->has_personal) {
		am = *c.event_amended;
		j = *am.member_joined;
		j.has_personal = 0;
		j.personal.len = 0;
		j.personal.data = NULL;
		am.member_joined = &j;
		c.event_amended = &am;
	}
	c.has_seq = c.has_recorded_at = c.has_version = 0;
	c.has_prev_hash = c.has_hash = c.has_expected_version = 0;
	c.actor = c.stream = NULL;
	*len = codec_size(&c);
	uint8_t *buf = malloc(*len ? *len : 1);
	if (buf)
		codec_pack(&c, buf);
	return buf;
}

/* The event was sent before: a duplicate if identical, else a mismatch. */
static int check_duplicate(store_txn *t, const Ledger__Event *ev, uint64_t seq, append_item *it,
			   ld_errinfo *e)
{
	Ledger__Event *old;
	int rc = model_load_event(t, seq, &old);
	if (rc)
		return rc;
	size_t a, b;
	uint8_t *pa = client_part(ev, &a), *pb = client_part(old, &b);
	if (!pa || !pb)
		rc = LD_E(INTERNAL);
	else if (a != b || memcmp(pa, pb, a) != 0)
		rc = ld_errinfo_set(e, LD_E(IDEMPOTENCY_MISMATCH), "event_id",
				    "event_id was recorded as seq %llu with a different body",
				    (unsigned long long)seq);
	else {
		it->seq = seq;
		it->version = old->version;
		it->duplicate = 1;
	}
	if (e && rc == LD_E(IDEMPOTENCY_MISMATCH))
		e->seq = seq;
	free(pa);
	free(pb);
	codec_event_free(old);
	return rc;
}

/* Room for one more stream ref in g. */
static int streams_room(wgroup *g)
{
	if (g->g.n < g->ncap)
		return 0;
	size_t cap = g->ncap ? g->ncap * 2 : 1024;
	uint32_t *s = realloc(g->streams, cap * sizeof(*s));
	if (!s)
		return LD_E(INTERNAL);
	g->streams = s;
	g->ncap = cap;
	return 0;
}

/*
 * Decides one event into the open group. Returns 0 (recorded or duplicate,
 * it filled), a rejection (< 0, e filled, the model unchanged), or an error
 * of the kind is_storage_error() names (the request's changes must be
 * rolled back).
 */
static int decide_one(writer *w, store_txn *t, wgroup *g, const append_req *r, size_t index,
		      const model_hint *hint, append_item *it, ld_errinfo *e)
{
	const Ledger__Event *ev = r->req->events[index];
	model_result mr;
	uint64_t dup;
	int rc = model_id_lookup(t, ev->event_id.data, &dup);
	if (rc)
		return rc;
	if (dup)
		return check_duplicate(t, ev, dup, it, e);

	if ((rc = roles_check_event(r->role, r->actor, t, ev, index, r->req->n_events, it->by_hash,
				     e)))
		return rc;
	uint64_t seq = w->dseq + 1;
	if ((rc = model_apply(t, ev, seq, hint, &mr, e))) {
		/* Personal data for a forgotten member: the key the server made
		 * for it (a forget came in between) goes too. */
		int krc;
		if (rc == LD_E(ALREADY_FORGOTTEN) && w->keys && codec_event_member(ev) &&
		    (krc = keystore_destroy(w->keys, codec_event_member(ev))) != 0)
			return krc;
		return rc;
	}
	/* Forgetting: the key goes (durably, in its own environment) before
	 * the event is recorded; a group that then fails leaves the member
	 * forgotten without the event, and the resent request records it. */
	if (ev->body_case == LEDGER__EVENT__BODY_MEMBER_FORGOTTEN && w->keys &&
	    (rc = keystore_destroy(w->keys, ev->member_forgotten->member_id))) {
		log_error("writer: unable to destroy the key of member '%s'",
			  ev->member_forgotten->member_id);
		return rc;
	}
	if ((rc = model_id_add(t, ev->event_id.data, seq)) || (rc = streams_room(g)))
		return rc;

	/* The group's time of recording is when its first event is decided:
	 * it was opened when the group before it went, on an idle ledger
	 * maybe hours before (each event then read as recorded before it
	 * occurred). Never before the time it was opened. */
	if (g->g.n == 0) {
		int64_t now = ld_wall_us();
		if (now > g->recorded_at)
			g->recorded_at = now;
	}
	/* The stored bytes: the client's parts (packed by writer_submit,
	 * personal data in clear left out) around the writer's fields. */
	const append_pack *pk = r->pack;
	codec_parts parts = pk->parts[index];
	codec_stored st = {.seq = seq,
			   .recorded_at = g->recorded_at,
			   .actor = r->actor,
			   .stream = mr.stream,
			   .version = mr.version,
			   .prev_hash = w->dhash};
	uint8_t hash[LD_HASH_LEN], *dst, *hdst;
	const uint8_t *head = pk->buf + pk->off[index];
	if ((rc = group_add(&g->g, codec_stored_size(&st, parts), &mr.link, mr.fix_kind,
			    mr.fix_target, &dst, &hdst)))
		return rc;
	codec_stored_pack(&st, head, head + parts.head, parts, dst, hash);
	memcpy(hdst, hash, LD_HASH_LEN);
	g->streams[g->g.n - 1] = mr.stream_ref;
	if ((rc = wr_key_wrap(w, g, ev)))
		return rc;

	w->dseq = seq;
	memcpy(w->dhash, hash, LD_HASH_LEN);
	it->seq = seq;
	it->version = mr.version;
	return 0;
}

/* ------------------------------------------------------------------ */
/* One request                                                         */
/* ------------------------------------------------------------------ */

typedef struct mark {
	size_t undo;
	group_mark g;
	uint64_t dseq;
	uint8_t dhash[LD_HASH_LEN];
} mark;

static mark mark_now(writer *w, wgroup *g)
{
	mark m = {.undo = model_undo_mark(g->undo), .g = group_mark_at(&g->g), .dseq = w->dseq};
	memcpy(m.dhash, w->dhash, LD_HASH_LEN);
	return m;
}

static void back_to(writer *w, wgroup *g, const mark *m)
{
	model_undo_rollback(w->m, g->undo, m->undo);
	group_truncate(&g->g, m->g);
	w->dseq = m->dseq;
	memcpy(w->dhash, m->dhash, LD_HASH_LEN);
}

/* Forgets what the writer decided for r (its items but the stateless
 * failures, and what the submitter said of each: by_hash), to decide it
 * again. */
static void reset_items(append_req *r)
{
	for (size_t i = 0; i < r->req->n_events; i++) {
		append_item *it = &r->items[i];
		if (it->stateless)
			continue;
		int by_hash = it->by_hash;
		free(it->err);
		memset(it, 0, sizeof(*it));
		it->by_hash = by_hash;
	}
}

/* Decides r into g. Its status is set when it cannot be decided (a
 * storage error while reading the log, memory): then nothing of it
 * stays. */
static void decide_request(writer *w, wgroup *g, append_req *r)
{
	size_t n = r->req->n_events;
	store_txn *t;
	ld_errinfo e;
	mark m = mark_now(w, g);
	int rc = decider_txn(w, &t);

	if (rc == 0 && r->req->atomic)
		for (size_t i = 0; i < n; i++)
			if (r->items[i].code) {
				for (size_t j = 0; j < n; j++)
					if (!r->items[j].code) {
						ld_errinfo_set(&e, LD_E(ABORTED), NULL,
							       "not recorded: event %zu of the atomic "
							       "batch was rejected",
							       i);
						item_fail(&r->items[j], LD_E(ABORTED), &e);
					}
				return;
			}
	/* Event j's lookups hashed once, by its first prefetch (two events
	 * ahead; the first two at the start), for its decision: hint[j % 3]. */
	model_hint hint[3] = {{0}};
	for (size_t i = 0; rc == 0 && i < n; i++) {
		append_item *it = &r->items[i];
		for (size_t j = i ? i + 2 : 0; j <= i + 2 && j < n; j++)
			model_prefetch(t, r->req->events[j], 0, &hint[j % 3]);
		if (i + 1 < n)
			model_prefetch(t, r->req->events[i + 1], 1, &hint[(i + 1) % 3]);
		if (it->code)
			continue; /* failed the stateless check */
		ld_errinfo_clear(&e);
		int one = decide_one(w, t, g, r, i, &hint[i % 3], it, &e);
		if (one == 0)
			continue;
		if (is_storage_error(one) || model_undo_failed(g->undo)) {
			rc = one;
			break;
		}
		item_fail(it, one, &e);
		if (!r->req->atomic)
			continue;
		/* Atomic: what the others changed goes. */
		back_to(w, g, &m);
		for (size_t j = 0; j < n; j++)
			if (j != i && !r->items[j].code) {
				r->items[j].seq = r->items[j].version = 0;
				r->items[j].duplicate = 0;
				ld_errinfo_set(&e, LD_E(ABORTED), NULL,
					       "not recorded: event %zu of the atomic batch was "
					       "rejected",
					       i);
				item_fail(&r->items[j], LD_E(ABORTED), &e);
			}
		break;
	}
	if (rc) {
		if (model_undo_failed(g->undo)) {
			/* The model cannot be taken back: nothing more is decided. */
			log_error("writer: out of memory logging the write model's changes; "
				  "no more appends until ledgerd restarts");
			w->broken = 1;
		} else {
			back_to(w, g, &m);
		}
		reset_items(r);
		r->status = rc == STORE_MAP_FULL ? LD_E(STORAGE) : rc;
		log_error("writer: a request of %zu events not decided: %s", n, ld_strerror(rc));
	}
}

/* ------------------------------------------------------------------ */
/* The committer                                                       */
/* ------------------------------------------------------------------ */

void wr_call_hooks(writer *w, uint64_t head)
{
	pthread_mutex_lock(&w->hook_lock);
	if (w->on_commit)
		w->on_commit(w->on_commit_arg, head);
	for (int i = 0; i < WRITER_MAX_HOOKS; i++)
		if (w->hooks[i].fn)
			w->hooks[i].fn(w->hooks[i].arg, head);
	pthread_mutex_unlock(&w->hook_lock);
}

/* Writes g's blob durably, the tree advanced; the map grown as often as it
 * fills. A blob this writer made that does not apply is its own fault. */
static int commit_group(writer *w, wgroup *g)
{
	for (;;) {
		ld_merkle_frontier tree = w->ctree;
		store_txn *t;
		int rc = store_write_begin(w->s, &t);
		if (rc)
			return rc;
		rc = group_apply(t, g->g.buf, g->g.len, w->merkle ? &tree : NULL);
		rc = rc ? (store_abort(t), rc) : store_commit(t);
		if (rc == STORE_MAP_FULL) {
			if ((rc = store_grow(w->s, 0)) != 0)
				return rc;
			continue;
		}
		if (rc == 0)
			w->ctree = tree;
		return rc == LD_E(INVALID_VALUE) ? LD_E(INTERNAL) : rc;
	}
}

/* What a replicated group needs on disk, checked before raft's append
 * (writer.h, raft_dir). Measured here (docs/REPLICATION.md, "A full disk"):
 * the log's store grows about 1.3 bytes per byte of group blob (the events,
 * their links and Merkle nodes, pages' slack), the projections' about 0.9;
 * more than twice that is asked, for the group and everything still waiting
 * for the applier. Besides: raft's framing of the entry (under a block),
 * what raft_uv allocates ahead (a segment), and reserves for LMDB's pages
 * copied on write by the transactions to come (a freed page is reused only
 * two transactions later, and only once no reader holds it). */
#define ROOM_RAFT_FRAME 4096u
#define ROOM_STORE_FACTOR 3u
#define ROOM_PROJ_FACTOR 2u
#define ROOM_STORE_RESERVE (4u << 20)
#define ROOM_PROJ_RESERVE (4u << 20)
/* How long what statvfs said is kept (the bytes checked since taken off). */
#define ROOM_CACHE_US 5000u

enum { ROOM_RAFT, ROOM_STORE, ROOM_PROJ, ROOM__COUNT };

/* Replicated: 0 when the disks take group g and the unstored bytes applied
 * before it; LD_E(DISK_FULL) (logged, naming the disk) otherwise. */
static int disk_room(writer *w, const wgroup *g, uint64_t unstored)
{
	if (!w->room)
		return 0;
	uint64_t len = g->g.len, queued = unstored + len;
	uint64_t need[ROOM__COUNT] = {
		[ROOM_RAFT] = len + ROOM_RAFT_FRAME + w->raft_ahead,
		[ROOM_STORE] = ROOM_STORE_FACTOR * queued + ROOM_STORE_RESERVE,
		[ROOM_PROJ] = ROOM_PROJ_FACTOR * queued + ROOM_PROJ_RESERVE,
	};
	uint64_t takes[ROOM__COUNT] = {
		[ROOM_RAFT] = len + ROOM_RAFT_FRAME,
		[ROOM_STORE] = ROOM_STORE_FACTOR * len,
		[ROOM_PROJ] = ROOM_PROJ_FACTOR * len,
	};
	ld_errinfo e;
	int rc = store_room_check(w->room, need, takes, &e);
	if (rc)
		log_error("writer: a group of %zu events is refused before raft's append: %s",
			  g->g.n, e.message);
	return rc;
}

/* Answers the requests of list reqs (linked by next). */
static void answer_reqs(append_req *reqs, int status, uint64_t head)
{
	for (append_req *r = reqs, *next; r; r = next) {
		next = r->next;
		if (!r->status)
			r->status = status;
		r->head_seq = head;
		pack_free(r);
		r->done(r);
	}
}

static void answer(wgroup *g, int status, uint64_t head)
{
	append_req *reqs = g->reqs;
	g->reqs = g->reqs_tail = NULL;
	g->nreqs = 0;
	answer_reqs(reqs, status, head);
}

static void flight_done(writer *w);

/* The flight's commit ended (status; t0: when it began, wall µs): its
 * requests answered on success, the decider woken to take the flight
 * back (flight_done). On the committing thread, or for a replicated
 * group on whichever thread learnt its outcome (the replica's, mostly:
 * its clients are woken from there, without a hop to another thread of
 * the writer's). */
static void flight_ended(writer *w, wgroup *g, int status, int64_t t0, int timed)
{
	int64_t done = ld_wall_us();
	if (g->g.n) {
		counters_commit(g->g.n, done - t0, status == 0);
		log_debug("writer: a group of %zu events (seq %llu..) committed in %lld us",
			  g->g.n, (unsigned long long)g->g.first, (long long)(done - t0));
	}
	g->status = status;
	if (status == 0 && !w->replicate) {
		for (size_t i = 0; i < g->g.n; i++)
			model_publish(w->m, g->streams[i], g->g.first + i);
		uint8_t root[LD_HASH_LEN];
		if (w->merkle)
			ld_merkle_root(&w->ctree, root);
		pthread_mutex_lock(&w->lock);
		if (g->g.n) {
			w->seq = w->sseq = g->last;
			memcpy(w->hash, g->hash, LD_HASH_LEN);
			memcpy(w->shash, g->hash, LD_HASH_LEN);
			w->recorded_at = w->srecorded_at = g->recorded_at;
			if (w->merkle) {
				w->tree = w->ctree;
				memcpy(w->root, root, LD_HASH_LEN);
			}
		}
		uint64_t head = w->seq;
		pthread_mutex_unlock(&w->lock);
		if (g->g.n && w->on_group)
			w->on_group(w->on_group_arg, g->g.buf, g->g.len);
		if (g->g.n)
			wr_call_hooks(w, head);
	} else if (status) {
		log_error("writer: a group of %zu events not recorded: %s", g->g.n,
			  ld_strerror(status));
	}
	/* Replicated, a success was applied here by writer_apply_entry (own),
	 * which queued it for the applier: its clients are answered now,
	 * once, on the raft log's flush. */
	pthread_mutex_lock(&w->lock);
	uint64_t head = w->seq;
	w->flight_state = FLIGHT_DONE;
	/* A success is taken back here (its changes stay) before its requests
	 * are answered, so that a client's next request finds the writer idle
	 * (decide_here), and the decider is woken only if it has something to
	 * do: requests that queued while the group was out, or a group to send
	 * (or a snapshot due). One client at a time then never wakes it. A
	 * failure is the decider's (its rollback changes the model; it answers
	 * the requests). */
	int wake = 1;
	append_req *reqs = NULL;
	if (status == 0) {
		reqs = g->reqs; /* g may be the open group again once taken back */
		g->reqs = g->reqs_tail = NULL;
		g->nreqs = 0;
		flight_done(w);
		w->linger_timed = timed && w->linger_until;
		wake = w->head || w->open->reqs || w->stopping ||
		       w->seq - w->snap_seq >= writer_snapshot_interval(w->snapshot_every, w->snap_seq);
	}
	if (wake)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	answer_reqs(reqs, 0, head);
}

/* A single node's committing thread: writes each group the decider hands
 * it (a replicated writer has none: the decider hands its groups to
 * replicate(), hand_over). */
static void *committer_main(void *arg)
{
	writer *w = arg;
	/* Named, so that top -H, perf and bench/ingest tell the threads apart. */
	pthread_setname_np(pthread_self(), "ld-commit");
	wr_no_read_wait = 1;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->flight_state != FLIGHT_COMMITTING && !w->committer_done)
			pthread_cond_wait(&w->go, &w->lock);
		if (w->flight_state != FLIGHT_COMMITTING)
			break;
		wgroup *g = w->flight;
		pthread_mutex_unlock(&w->lock);
		int64_t t0 = ld_wall_us();
		flight_ended(w, g, g->g.n ? commit_group(w, g) : 0, t0, 0);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* The replica's answer to the group in flight (writer_options.replicate). */
static void replicated(void *ctx, int status)
{
	writer *w = ctx;
	flight_ended(w, w->flight, status, w->flight->handed_at, w->linger_timer);
}

/* Replicated: hands the group just sent (the flight) to replicate() from
 * the deciding thread (lock held; let go meanwhile), after the room
 * checks: the replica's answer then wakes the clients and this thread
 * directly (replicated), where a committing thread in between cost two
 * more wake-ups per group (docs/ARCHITECTURE.md, "One append"). */
static void hand_over(writer *w)
{
	wgroup *g = w->flight;
	int status = 0;
	uint64_t unstored = 0;
	/* Once replicate() took it, g may be answered, taken back and opened
	 * again as the next group (by another thread sending the one after)
	 * before replicate() returns here: nothing of it is read after. */
	size_t n = g->g.n;
	if (n) {
		wr_wait_room_locked(w);
		unstored = w->unstored_bytes;
	}
	g->handed_at = ld_wall_us();
	pthread_mutex_unlock(&w->lock);
	if (n && (status = disk_room(w, g, unstored)) == 0)
		status = w->replicate(w->replicate_arg, g->g.buf, g->g.len, replicated, w);
	if (status || !n) /* not handed over (or nothing to): g is still the flight */
		flight_ended(w, g, status, g->handed_at, 0);
	pthread_mutex_lock(&w->lock);
}

/* ------------------------------------------------------------------ */
/* The decider                                                         */
/* ------------------------------------------------------------------ */

void wr_group_open(writer *w, wgroup *g)
{
	group_reset(&g->g, w->dseq + 1, w->dhash, 0);
	model_undo_clear(g->undo);
	g->reqs = g->reqs_tail = NULL;
	g->nreqs = 0;
	g->recorded_at = ld_wall_us();
	g->events = 0;
	g->status = 0;
	g->last = w->dseq;
	memcpy(g->hash, w->dhash, LD_HASH_LEN);
}

/* The flight's commit is done (lock held): on success its changes stay;
 * on failure they and the open group's go, the flight's requests are
 * answered with the error (the lock let go meanwhile) and the open group's
 * go back to the queue. */
static void flight_done(writer *w)
{
	wgroup *f = w->flight;
	if (f->status == 0) {
		model_undo_clear(f->undo);
	} else {
		wgroup failed = *f;
		model_undo_rollback(w->m, w->open->undo, 0);
		model_undo_rollback(w->m, f->undo, 0);
		append_req *again = w->open->reqs, *last = w->open->reqs_tail;
		for (append_req *r = again; r; r = r->next) {
			reset_items(r);
			r->status = 0;
		}
		if (last) {
			last->next = w->head;
			w->head = again;
			if (!w->tail)
				w->tail = last;
			w->queued_events += w->open->events;
		}
		w->dseq = w->seq;
		memcpy(w->dhash, w->hash, LD_HASH_LEN);
		wr_group_open(w, w->open);
		f->reqs = f->reqs_tail = NULL;
		f->nreqs = 0;
		w->flight_state = FLIGHT_NONE;
		uint64_t head = w->seq;
		pthread_mutex_unlock(&w->lock);
		answer(&failed, failed.status, head);
		pthread_mutex_lock(&w->lock);
		pthread_cond_broadcast(&w->idle);
		return;
	}
	w->flight_state = FLIGHT_NONE;
	if (w->replicate) {
		int64_t now = ld_mono_us(), wait = (now - w->sent_at) * WRITER_LINGER_COMMITS;
		w->linger_reqs = w->sent_reqs + w->open->nreqs;
		w->linger_until = now + (wait < WRITER_LINGER_MAX_US ? wait : WRITER_LINGER_MAX_US);
	}
	pthread_cond_broadcast(&w->idle);
}

/* How long the open group still waits for more requests (lock held): 0,
 * or µs (see linger_until). */
static int64_t linger_left(writer *w)
{
	if (!w->linger_until || w->stopping || w->broken ||
	    w->open->events >= WRITER_LINGER_EVENTS || w->open->nreqs >= w->linger_reqs)
		return 0;
	int64_t left = w->linger_until - ld_mono_us();
	return left > 0 ? left : 0;
}

/* Hands the open group to the committer, or (replicated) to replicate()
 * (lock held; let go meanwhile). */
static void send_open(writer *w)
{
	wgroup *g = w->open;
	w->sent_reqs = g->nreqs;
	w->sent_at = ld_mono_us();
	w->linger_until = 0;
	w->linger_timed = 0;
	group_seal(&g->g);
	g->last = w->dseq;
	memcpy(g->hash, w->dhash, LD_HASH_LEN);
	w->flight = g;
	w->open = g == &w->groups[0] ? &w->groups[1] : &w->groups[0];
	w->flight_state = FLIGHT_COMMITTING;
	wr_group_open(w, w->open);
	model_undo_use(w->m, w->open->undo);
	if (w->replicate)
		hand_over(w);
	else
		pthread_cond_signal(&w->go);
}

/* Takes the queued requests up to `last` (events among them) off the
 * queue (lock held). */
static void queue_cut(writer *w, append_req *last, size_t events)
{
	w->head = last->next;
	if (!w->head)
		w->tail = NULL;
	last->next = NULL;
	w->queued_events -= events;
}

/* A request decided without refusal joins group g's (the decider's lock
 * or w->deciding keeps g the deciding thread's). */
static void group_take(wgroup *g, append_req *r)
{
	g->events += r->req->n_events;
	if (g->reqs_tail)
		g->reqs_tail->next = r;
	else
		g->reqs = r;
	g->reqs_tail = r;
	g->nreqs++;
}

static void refuse(append_req *r, int status)
{
	r->status = status;
	pack_free(r);
	r->done(r);
}

uint64_t writer_snapshot_interval(uint64_t every, uint64_t last)
{
	uint64_t share = last / WRITER_SNAPSHOT_SHARE;
	return share > every ? share : every;
}

static void *decider_main(void *arg)
{
	writer *w = arg;
	pthread_setname_np(pthread_self(), "ld-writer");
	wr_no_read_wait = 1;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		if (w->deciding) {
			/* A submitting thread decides (decide_here); it wakes
			 * this one if requests queued meanwhile. */
			pthread_cond_wait(&w->wake, &w->lock);
			continue;
		}
		if (w->flight_state == FLIGHT_DONE) {
			/* A failure lets the lock go (its requests answered):
			 * a submitting thread may be deciding now. */
			flight_done(w);
			continue;
		}
		int idle = w->flight_state == FLIGHT_NONE;
		/* A snapshot wants nothing decided beyond the committed head:
		 * taken when the pipeline is empty; until then no new group. */
		int want_snap = w->seq - w->snap_seq >= writer_snapshot_interval(w->snapshot_every, w->snap_seq) && !w->stopping &&
				!w->broken && !snapshot_running(w->m);
		if (want_snap && idle && !w->open->reqs) {
			/* The snapshot names a state of the store. */
			if (wr_wait_stored_locked(w)) {
				w->snap_seq = w->seq;
				continue;
			}
			if (snapshot_start(w->m, store_dir(w->s), w->seq, w->hash) == 0)
				w->snap_seq = w->seq;
			else
				w->snap_seq = w->seq; /* not before as many again */
			continue;
		}
		int room = w->open->events < WRITER_MAX_EVENTS && !want_snap;
		if (w->open->reqs && idle) {
			int64_t left = room ? linger_left(w) : 0;
			if (!left) {
				send_open(w);
				continue;
			}
			if (!w->head) {
				struct timespec ts = ld_wall_after_us((uint64_t)left);
				w->decider_timed = 1;
				pthread_cond_timedwait(&w->wake, &w->lock, &ts);
				w->decider_timed = 0;
				continue;
			}
		}
		if (w->head && (room || w->stopping)) {
			/* Take whole requests up to the group's bound. */
			append_req *batch = w->head, *last = w->head;
			size_t events = last->req->n_events;
			if (!w->stopping) {
				while (last->next &&
				       w->open->events + events + last->next->req->n_events <=
					       WRITER_MAX_EVENTS) {
					last = last->next;
					events += last->req->n_events;
				}
			} else {
				while (last->next) {
					last = last->next;
					events += last->req->n_events;
				}
			}
			queue_cut(w, last, events);
			int stopping = w->stopping, broken = w->broken;
			int follower = w->replicate && !w->leading;
			wgroup *g = w->open;
			w->deciding = 1;
			pthread_mutex_unlock(&w->lock);

			for (append_req *r = batch, *next; r; r = next) {
				next = r->next;
				r->next = NULL;
				if (stopping || broken || follower) {
					/* Only what was decided is finished. */
					refuse(r, stopping ? LD_E(SHUTTING_DOWN)
						   : broken ? LD_E(INTERNAL)
							    : LD_E(NOT_LEADER));
					continue;
				}
				decide_request(w, g, r);
				if (r->status)
					refuse(r, r->status);
				else
					group_take(g, r);
			}
			if (w->txn)
				decider_txn_end(w);
			pthread_mutex_lock(&w->lock);
			w->deciding = 0;
			pthread_cond_broadcast(&w->idle);
			continue;
		}
		if (w->stopping && !w->head && !w->open->reqs && idle)
			break;
		pthread_cond_wait(&w->wake, &w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Start: the model from its snapshot and the log                      */
/* ------------------------------------------------------------------ */

static int read_head(writer *w)
{
	store_txn *t;
	store_cursor *c;
	store_val v;
	int rc = store_read_begin(w->s, &t);
	if (rc)
		return rc;
	if ((rc = store_cursor_open(t, DB_LOG, &c)) == 0) {
		rc = store_cursor_last(c, NULL, &v);
		if (rc == 0) {
			Ledger__Event *ev = codec_event_unpack(v.data, v.len);
			if (ev && ev->has_hash && ev->hash.len == LD_HASH_LEN) {
				w->seq = ev->seq;
				memcpy(w->hash, ev->hash.data, LD_HASH_LEN);
				w->recorded_at = ev->recorded_at;
			} else {
				rc = LD_E(STORAGE);
			}
			codec_event_free(ev);
		} else if (rc == LD_E(NOT_FOUND)) {
			rc = 0; /* an empty log */
		}
		store_cursor_close(c);
	}
	store_read_end(t);
	return rc;
}

/* The hash of event seq in the log, and the last key of the links. */
static int log_facts(store *s, uint64_t seq, uint8_t hash[LD_HASH_LEN], uint64_t *links_head)
{
	store_txn *t;
	int rc = store_read_begin(s, &t);
	if (rc)
		return rc;
	uint8_t key[8];
	store_val v, k;
	const uint8_t *h;
	if (seq) {
		ld_put_be64(key, seq);
		rc = store_get(t, DB_LOG, key, 8, &v);
		if (rc == 0 && codec_peek_hash(v.data, v.len, &h) == 0)
			memcpy(hash, h, LD_HASH_LEN);
		else if (rc == 0)
			rc = LD_E(STORAGE);
	}
	store_cursor *c;
	*links_head = 0;
	if (rc == 0 && (rc = store_cursor_open(t, DB_LINKS, &c)) == 0) {
		rc = store_cursor_last(c, &k, NULL);
		if (rc == 0 && k.len == 8)
			*links_head = ld_get_be64(k.data);
		if (rc == LD_E(NOT_FOUND))
			rc = 0;
		store_cursor_close(c);
	}
	store_read_end(t);
	return rc;
}

typedef struct replay {
	writer *w;
	group derived; /* links and corrections of events that lack them */
	model_view view;
} replay;

int wr_replay_apply(store_txn *t, const Ledger__Event *ev, uint64_t seq, const char *prefix,
		    const char *where, model_result *mr, ld_errinfo *e)
{
	int rc = model_apply(t, ev, seq, NULL, mr, e);
	if (rc == 0 && (mr->version != ev->version || !ev->stream ||
			strcmp(mr->stream, ev->stream) != 0))
		rc = ld_errinfo_set(e, LD_E(STORAGE), NULL,
				    "%sseq %llu is version %llu of %s in %s but %llu of %s in the "
				    "write model",
				    prefix, (unsigned long long)seq, (unsigned long long)ev->version,
				    ev->stream ? ev->stream : "-", where,
				    (unsigned long long)mr->version, mr->stream);
	return rc;
}

static int replay_event_none(void *arg, uint64_t seq, Ledger__Event **ev)
{
	(void)arg;
	(void)seq;
	(void)ev;
	return LD_E(NOT_FOUND);
}

static int replay_link(void *arg, uint64_t seq, ld_link *l)
{
	replay *r = arg;
	return r->derived.n ? group_link(&r->derived, seq, l) : LD_E(NOT_FOUND);
}

/*
 * Applies events from+1 .. (at most REPLAY_CHUNK) of the log to the model,
 * as the writer did when it recorded them (they passed its checks then, on
 * the same state, so they pass again; a failure means the log and the
 * model's snapshot disagree). Events past links_head get their links and
 * corrections written too (a log of an older format). *last = the last
 * applied. 0 or a negative code with e filled.
 */
static int replay_chunk(replay *rp, uint64_t from, uint64_t links_head, ld_merkle_frontier *tree,
			uint64_t *last, ld_errinfo *e)
{
	writer *w = rp->w;
	int derive = from + 1 > links_head && from < w->seq;
	store_txn *t;
	store_cursor *c;
	store_val k, v;
	uint8_t key[8];
	int rc = derive ? store_write_begin(w->s, &t) : store_read_begin(w->s, &t);
	if (rc)
		return rc;
	store_txn_set_view(t, &rp->view);
	if (derive) {
		uint8_t prev[LD_HASH_LEN] = {0};
		group_reset(&rp->derived, from + 1, prev, GROUP_DERIVED);
	}
	/* A chunk does not straddle the links' head: past it, it derives. */
	uint64_t limit = derive || links_head - from > REPLAY_CHUNK ? REPLAY_CHUNK : links_head - from;
	*last = from;
	if ((rc = store_cursor_open(t, DB_LOG, &c)))
		goto out;
	ld_put_be64(key, from + 1);
	for (rc = store_cursor_seek(c, key, 8, &k, &v); rc == 0 && *last - from < limit;
	     rc = store_cursor_next(c, &k, &v)) {
		uint64_t seq = ld_get_be64(k.data);
		Ledger__Event *ev = codec_event_unpack(v.data, v.len);
		model_result mr;
		if (!ev || seq != *last + 1 || !ev->has_hash || ev->hash.len != LD_HASH_LEN) {
			codec_event_free(ev);
			rc = ld_errinfo_set(e, LD_E(STORAGE), NULL,
					    "replay: seq %llu of the log is unreadable",
					    (unsigned long long)(*last + 1));
			break;
		}
		rc = wr_replay_apply(t, ev, seq, "replay: ", "the log", &mr, e);
		if (rc && rc != LD_E(STORAGE) && rc != LD_E(INTERNAL))
			rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, "replay: seq %llu rejected: %s",
					    (unsigned long long)seq, e->message);
		if (rc == 0)
			rc = model_id_add(t, ev->event_id.data, seq);
		if (rc == 0) {
			model_publish(w->m, mr.stream_ref, seq);
			if (seq > links_head) {
				uint8_t *b, *h;
				rc = group_add(&rp->derived, 0, &mr.link, mr.fix_kind, mr.fix_target,
					       &b, &h);
				if (rc == 0)
					memcpy(h, ev->hash.data, LD_HASH_LEN);
			}
		}
		codec_event_free(ev);
		if (rc)
			break;
		*last = seq;
	}
	store_cursor_close(c);
	if (rc == LD_E(NOT_FOUND))
		rc = 0;
	if (rc == 0 && derive && rp->derived.n) {
		group_seal(&rp->derived);
		ld_merkle_frontier work = *tree;
		int with_tree = w->merkle && tree->size == rp->derived.first - 1;
		rc = group_apply(t, rp->derived.buf, rp->derived.len, with_tree ? &work : NULL);
		if (rc == 0 && (rc = store_commit(t)) == 0 && with_tree)
			*tree = work;
		t = NULL;
		group_reset(&rp->derived, 0, (uint8_t[LD_HASH_LEN]){0}, GROUP_DERIVED);
		rp->derived.n = 0;
	}
out:
	if (t)
		derive ? store_abort(t) : store_read_end(t);
	return rc;
}

/* The model as of the log's head: its snapshot, then the log past it. */
static int load_model(writer *w, ld_errinfo *e)
{
	const char *dir = store_dir(w->s);
	uint64_t from = 0, links_head;
	uint8_t snap_hash[LD_HASH_LEN], log_hash[LD_HASH_LEN];
	int64_t t0 = ld_wall_us();
	int rc;
	if ((rc = model_create(&w->m, w->s)))
		return ld_errinfo_set(e, rc, NULL, "out of memory");
	if (!store_migrating(w->s)) {
		ld_errinfo se = {0};
		rc = snapshot_load(w->m, dir, &from, snap_hash, &se);
		if (rc == 0) {
			if (from > w->seq || log_facts(w->s, from, log_hash, &links_head) != 0 ||
			    (from && memcmp(log_hash, snap_hash, LD_HASH_LEN) != 0)) {
				ld_errinfo_set(&se, LD_E(STORAGE), NULL,
					       "the snapshot of the write model (as of seq %llu) "
					       "does not match the log (head %llu)",
					       (unsigned long long)from, (unsigned long long)w->seq);
				rc = LD_E(STORAGE);
			}
		}
		if (rc) {
			if (rc != LD_E(NOT_FOUND))
				log_warn("writer: %s; the write model is rebuilt from the log",
					 se.message);
			else if (w->seq)
				log_info("writer: no snapshot of the write model; it is rebuilt "
					 "from the log");
			model_free(w->m);
			w->m = NULL;
			from = 0;
			if ((rc = model_create(&w->m, w->s)))
				return ld_errinfo_set(e, rc, NULL, "out of memory");
		}
	}
	if ((rc = log_facts(w->s, 0, log_hash, &links_head)))
		return ld_errinfo_set(e, rc, NULL, "unable to read the log");
	ld_merkle_frontier tree = {0};
	if (w->merkle && links_head < w->seq) {
		/* Nodes are written with the links: the tree as stored. */
		store_txn *t;
		if ((rc = store_read_begin(w->s, &t)) == 0) {
			rc = merkle_load(t, &tree);
			store_read_end(t);
		}
		if (rc)
			return ld_errinfo_set(e, rc, NULL, "unable to read the Merkle tree");
		if (tree.size != links_head)
			tree.size = UINT64_MAX; /* not in step: caught up after */
	}
	replay rp = {.w = w, .view = {replay_event_none, replay_link, NULL, NULL, 0}};
	rp.view.arg = &rp;
	group_init(&rp.derived);
	model_undo_use(w->m, NULL);
	model_replaying(w->m, 1);
	uint64_t at = from, replayed = 0;
	if (from < w->seq)
		log_info("writer: replaying the log from seq %llu to %llu into the write model",
			 (unsigned long long)from + 1, (unsigned long long)w->seq);
	while (at < w->seq) {
		uint64_t last;
		rc = replay_chunk(&rp, at, links_head, &tree, &last, e);
		if (rc == STORE_MAP_FULL) {
			/* The derived data did not fit: the map grows, and the
			 * model starts again (the events were applied to it). */
			group_free(&rp.derived);
			if ((rc = store_grow(w->s, 0)))
				break;
			model_free(w->m);
			w->m = NULL;
			return load_model(w, e);
		}
		if (rc || last == at)
			break;
		replayed += last - at;
		at = last;
	}
	group_free(&rp.derived);
	model_replaying(w->m, 0);
	if (rc) {
		if (!e->message[0])
			ld_errinfo_set(e, rc, NULL, "replay: %s", ld_strerror(rc));
		return rc;
	}
	if (at != w->seq)
		return ld_errinfo_set(e, LD_E(STORAGE), NULL,
				      "replay: the log ends at seq %llu, not at its head %llu",
				      (unsigned long long)at, (unsigned long long)w->seq);
	if (store_migrating(w->s) && (rc = store_migrated(w->s)))
		return ld_errinfo_set(e, rc, NULL, "unable to record the log's new format");
	if (replayed) {
		int64_t us = ld_wall_us() - t0;
		log_info("writer: the write model replayed %llu events to seq %llu in %.3f s "
			 "(%.0f events/s)",
			 (unsigned long long)replayed, (unsigned long long)at, us / 1e6,
			 us ? replayed * 1e6 / us : 0.0);
	}
	w->snap_seq = from;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Public                                                              */
/* ------------------------------------------------------------------ */

/* Stops the committing thread (a single node's), once the decider has. */
static void stop_committer(writer *w)
{
	if (w->replicate)
		return;
	pthread_mutex_lock(&w->lock);
	w->committer_done = 1;
	pthread_cond_signal(&w->go);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->committer, NULL);
}

int writer_start(writer **out, store *s)
{
	return writer_start_opts(out, s, NULL);
}

int writer_start_opts(writer **out, store *s, const writer_options *o)
{
	writer *w = calloc(1, sizeof(*w));
	ld_errinfo e = {0};
	int rc;
	*out = NULL;
	if (!w)
		return LD_E(INTERNAL);
	w->s = s;
	w->merkle = !(o && o->no_merkle);
	w->keys = o ? o->keys : NULL;
	w->snapshot_every = o && o->snapshot_every ? o->snapshot_every : WRITER_SNAPSHOT_EVENTS;
	w->on_group = o ? o->on_group : NULL;
	w->on_group_arg = o ? o->on_group_arg : NULL;
	w->replicate = o ? o->replicate : NULL;
	w->replicate_arg = o ? o->replicate_arg : NULL;
	w->linger_timer = o ? o->linger_timer : 0;
	w->failed = o ? o->failed : NULL;
	w->failed_arg = o ? o->failed_arg : NULL;
	w->store_delay_us = o ? o->store_delay_us : 0;
	w->pin = w->fpin = UINT64_MAX;
	/* Test hook: LEDGERD_TEST_ROOM_OFF=1 skips the check of the disks, as
	 * if the room went right after it (tests/diskfull_test.sh). */
	const char *room_off = getenv("LEDGERD_TEST_ROOM_OFF");
	if (o && o->replicate && o->raft_dir && !(room_off && !strcmp(room_off, "1"))) {
		store_room_dir dirs[ROOM__COUNT] = {
			[ROOM_RAFT] = {o->raft_dir, "raft's log"},
			[ROOM_STORE] = {store_dir(s), "the log"},
			[ROOM_PROJ] = {o->projections_dir, "the projections"},
		};
		if (store_room_new(&w->room, dirs, o->projections_dir ? ROOM__COUNT : ROOM_PROJ,
				   ROOM_CACHE_US) != 0) {
			free(w);
			return LD_E(INTERNAL);
		}
		w->raft_ahead = o->raft_ahead;
	}
	/* Test hook: from this node's first own group on, the applier stores
	 * nothing, as if the process died each time between raft's flush and
	 * the store's commit. */
	const char *hold = getenv("LEDGERD_TEST_APPLY_HOLD");
	w->hold_armed = w->replicate && hold && *hold && strcmp(hold, "0") != 0;
	/* Test hook: another bound of the bytes applied and not stored. */
	const char *max = getenv("LEDGERD_TEST_UNSTORED_MAX");
	w->unstored_max = max && *max ? strtoull(max, NULL, 10) : WRITER_UNSTORED_MAX;
	pthread_cond_init(&w->apply_go, NULL);
	pthread_cond_init(&w->stored_cv, NULL);
	pthread_cond_init(&w->idle, NULL);
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->hook_lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_cond_init(&w->go, NULL);
	for (int i = 0; i < 2; i++) {
		group_init(&w->groups[i].g);
		if (!(w->groups[i].undo = model_undo_new())) {
			rc = LD_E(INTERNAL);
			goto fail;
		}
	}
	if ((rc = read_head(w)) != 0) {
		log_error("writer: unable to read the head of the log: %s", ld_strerror(rc));
		goto fail;
	}
	if ((rc = load_model(w, &e)) != 0) {
		log_error("writer: unable to load the write model: %s", e.message);
		goto fail;
	}
	if (w->merkle) {
		if ((rc = merkle_catch_up(s, &w->tree, &e)) != 0) {
			log_error("writer: %s", e.message);
			goto fail;
		}
		if (w->tree.size != w->seq) {
			log_error("writer: the Merkle tree has %llu leaves but the log %llu events",
				  (unsigned long long)w->tree.size, (unsigned long long)w->seq);
			rc = LD_E(STORAGE);
			goto fail;
		}
		ld_merkle_root(&w->tree, w->root);
		w->ctree = w->tree;
	}
	w->dseq = w->sseq = w->seq;
	memcpy(w->dhash, w->hash, LD_HASH_LEN);
	memcpy(w->shash, w->hash, LD_HASH_LEN);
	w->srecorded_at = w->recorded_at;
	if (w->replicate && (rc = wr_stored_index(w, &w->applied_index)) != 0) {
		log_error("writer: unable to read the raft index of the log: %s", ld_strerror(rc));
		goto fail;
	}
	w->view = (model_view){wr_view_event, wr_view_link, w, NULL, 0};
	w->open = &w->groups[0];
	wr_group_open(w, w->open);
	model_undo_use(w->m, w->open->undo);
	if (w->replicate) {
		if (pthread_create(&w->applier, NULL, wr_applier_main, w) != 0) {
			rc = LD_E(INTERNAL);
			goto fail;
		}
		w->applier_started = 1;
		store_set_read_wait(s, wr_read_wait, w);
	}
	if (!w->replicate && pthread_create(&w->committer, NULL, committer_main, w) != 0) {
		wr_stop_applier(w);
		rc = LD_E(INTERNAL);
		goto fail;
	}
	if (pthread_create(&w->decider, NULL, decider_main, w) != 0) {
		stop_committer(w);
		wr_stop_applier(w);
		rc = LD_E(INTERNAL);
		goto fail;
	}
	w->started = 1;
	uint64_t members, orgs, streams, ids;
	model_counts(w->m, &members, &orgs, &streams, &ids);
	log_info("writer: log head is seq %llu; the write model knows %llu members, %llu "
		 "organisations, %llu streams in %.1f MiB",
		 (unsigned long long)w->seq, (unsigned long long)members, (unsigned long long)orgs,
		 (unsigned long long)streams, model_memory(w->m) / 1048576.0);
	*out = w;
	return 0;
fail:
	store_room_free(w->room);
	model_free(w->m);
	for (int i = 0; i < 2; i++) {
		group_free(&w->groups[i].g);
		model_undo_free(w->groups[i].undo);
	}
	pthread_cond_destroy(&w->go);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->apply_go);
	pthread_cond_destroy(&w->stored_cv);
	pthread_mutex_destroy(&w->hook_lock);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return rc;
}

void writer_on_commit(writer *w, writer_commit_fn fn, void *arg)
{
	pthread_mutex_lock(&w->hook_lock);
	w->on_commit = fn;
	w->on_commit_arg = arg;
	pthread_mutex_unlock(&w->hook_lock);
}

int writer_hook_add(writer *w, writer_commit_fn fn, void *arg)
{
	int rc = LD_E(INTERNAL);
	pthread_mutex_lock(&w->hook_lock);
	for (int i = 0; i < WRITER_MAX_HOOKS && rc; i++)
		if (!w->hooks[i].fn) {
			w->hooks[i].fn = fn;
			w->hooks[i].arg = arg;
			rc = 0;
		}
	pthread_mutex_unlock(&w->hook_lock);
	return rc;
}

void writer_hook_remove(writer *w, writer_commit_fn fn, void *arg)
{
	pthread_mutex_lock(&w->hook_lock);
	for (int i = 0; i < WRITER_MAX_HOOKS; i++)
		if (w->hooks[i].fn == fn && w->hooks[i].arg == arg)
			w->hooks[i].fn = NULL;
	pthread_mutex_unlock(&w->hook_lock);
}

/* Whether request r is one a submitting thread may decide: small, and
 * forgetting no member (that destroys a key, a synced commit of the
 * keystore, which is the deciding thread's to wait for: docs/
 * ARCHITECTURE.md, "Threads"). */
static int here_sized(const append_req *r)
{
	if (r->req->n_events > WRITER_DECIDE_HERE_EVENTS)
		return 0;
	for (size_t i = 0; i < r->req->n_events; i++)
		if (r->req->events[i]->body_case == LEDGER__EVENT__BODY_MEMBER_FORGOTTEN)
			return 0;
	return 1;
}

/* Whether request r may join group g on a submitting thread (lock held):
 * here_sized, room for it in g, and a writer that leads, goes on and has
 * no failed flight to roll back. */
static int here_joinable(const writer *w, const wgroup *g, const append_req *r)
{
	return here_sized(r) && !w->stopping && !w->broken && w->leading &&
	       w->flight_state != FLIGHT_DONE && g->events + r->req->n_events <= WRITER_MAX_EVENTS;
}

/* Whether request r may be decided on its submitting thread (lock held):
 * a replicated writer that leads, nobody deciding, nothing queued, the
 * flight (if any) not failed, no snapshot due, room for the store and in
 * the open group, the request here_sized and the thread holding no read of
 * the store. The thread then decides it into the open group, as the decider
 * would have, and hands that group to replicate() if it need not wait
 * (idle, and no other client to linger for: linger_left). */
static int decide_here_ok(const writer *w, const append_req *r)
{
	return w->replicate && !w->deciding && !w->head && here_joinable(w, w->open, r) &&
	       w->seq - w->snap_seq < writer_snapshot_interval(w->snapshot_every, w->snap_seq) &&
	       w->unstored_bytes <= w->unstored_max && !store_reading();
}

/* Decides r on this thread into the open group (lock held; let go
 * meanwhile; decide_here_ok), then the small requests that queued
 * meanwhile, and hands the group over when it need not wait. The decider
 * waits while w->deciding; it is woken only for what is left to it: a
 * request it must decide, a stop, or the open group's linger to time (once
 * per linger: it then waits for its end, decider_timed). Returns 1 when r
 * is refused (r->status: the caller answers it), else 0: r is the group's,
 * maybe answered already, and not to be touched. */
static int decide_here(writer *w, append_req *r)
{
	wgroup *g = w->open;
	int was = wr_no_read_wait;
	wr_no_read_wait = 1; /* the decider's reads see the view (wr_no_read_wait) */
	int refused = 0;
	w->deciding = 1;
	for (append_req *next = r; next;) {
		append_req *q = next;
		pthread_mutex_unlock(&w->lock);
		decide_request(w, g, q);
		if (q->status && q != r)
			refuse(q, q->status);
		pthread_mutex_lock(&w->lock);
		if (q->status)
			refused |= q == r;
		else
			group_take(g, q);
		/* A request that queued while this one was decided. */
		next = w->head;
		if (next && here_joinable(w, g, next))
			queue_cut(w, next, next->req->n_events);
		else
			next = NULL;
	}
	if (w->txn) {
		pthread_mutex_unlock(&w->lock);
		decider_txn_end(w);
		pthread_mutex_lock(&w->lock);
	}
	w->deciding = 0;
	wr_no_read_wait = was;
	if (g->reqs && w->flight_state == FLIGHT_NONE && !w->stopping && !w->broken &&
	    w->leading && !linger_left(w))
		send_open(w);
	pthread_cond_broadcast(&w->idle);
	/* Anything left for the decider (a wake-up that came while this
	 * thread decided found the decider waiting for it): requests queued,
	 * a stop, a leadership lost, a failed flight to roll back, the open
	 * group to send when its linger ends (unless the decider or raft's
	 * loop times that end). A group decided while one is in flight is
	 * the flight's end's to look at (flight_ended). */
	if (w->head || w->stopping || w->broken || !w->leading ||
	    w->flight_state == FLIGHT_DONE ||
	    (w->open->reqs && w->flight_state == FLIGHT_NONE && !w->decider_timed &&
	     !w->linger_timed))
		pthread_cond_signal(&w->wake);
	return refused;
}

int64_t writer_linger_left(writer *w)
{
	pthread_mutex_lock(&w->lock);
	int64_t left = 0;
	if (w->linger_timed) {
		left = linger_left(w);
		if (!left) {
			w->linger_timed = 0;
			/* A thread deciding here hands the group over itself. */
			if (w->open->reqs && w->flight_state == FLIGHT_NONE && !w->deciding)
				pthread_cond_signal(&w->wake);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return left;
}

int writer_submit(writer *w, append_req *r)
{
	int rc = 0;
	r->next = NULL;
	r->status = 0;
	r->pack = NULL;
	for (size_t i = 0; i < r->req->n_events; i++)
		r->items[i].stateless = r->items[i].code != 0;
	if ((rc = pack_request(r)))
		return rc;
	int wake = 0, refused = 0;
	pthread_mutex_lock(&w->lock);
	if (w->stopping)
		rc = LD_E(SHUTTING_DOWN);
	else if (w->queued_events + r->req->n_events > WRITER_MAX_QUEUED)
		rc = LD_E(BUSY);
	else if (decide_here_ok(w, r)) {
		refused = decide_here(w, r);
	} else {
		if (w->tail)
			w->tail->next = r;
		else
			w->head = r;
		w->tail = r;
		w->queued_events += r->req->n_events;
		/* While a group commits, small requests queue without waking
		 * the decider: the end of the commit wakes it, and it decides
		 * them all at once (one wake-up for the batch, not one per
		 * request). A queue big enough to be worth deciding ahead is
		 * woken for at once. Whoever decides meanwhile (the decider, or
		 * a submitting thread: decide_here) looks at the queue when done. */
		wake = !w->deciding && (w->flight_state != FLIGHT_COMMITTING ||
					w->queued_events >= WRITER_DECIDE_AHEAD);
	}
	pthread_mutex_unlock(&w->lock);
	/* Signalled after the lock is let go: woken while this thread still
	 * held it, the decider would at once sleep again on the lock. */
	if (wake)
		pthread_cond_signal(&w->wake);
	if (rc)
		pack_free(r);
	else if (refused)
		refuse(r, r->status); /* r is this thread's still */
	return rc;
}

void writer_head(writer *w, uint64_t *seq, uint8_t hash[LD_HASH_LEN], int64_t *recorded_at)
{
	wr_read_wait(w);
	pthread_mutex_lock(&w->lock);
	*seq = w->sseq;
	if (hash)
		memcpy(hash, w->shash, LD_HASH_LEN);
	if (recorded_at)
		*recorded_at = w->srecorded_at;
	pthread_mutex_unlock(&w->lock);
}

int writer_tree(writer *w, uint64_t *size, uint8_t root[LD_HASH_LEN])
{
	wr_read_wait(w);
	pthread_mutex_lock(&w->lock);
	int on = w->merkle;
	*size = w->tree.size;
	memcpy(root, w->root, LD_HASH_LEN);
	pthread_mutex_unlock(&w->lock);
	return on ? 0 : LD_E(INVALID_STATE);
}

struct model *writer_model(writer *w)
{
	return w->m;
}

void writer_stop(writer *w)
{
	if (!w || !w->started)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_cond_signal(&w->wake);
	pthread_cond_broadcast(&w->stored_cv);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->decider, NULL);
	stop_committer(w);
	wr_stop_applier(w);
	w->started = 0;
	/* A clean stop leaves a snapshot of the head: the next start replays
	 * nothing (of a head the store holds). Not of a model that holds what
	 * the log does not (broken): the next start builds it from the log. */
	snapshot_wait(w->m);
	if (!w->broken && w->seq != w->snap_seq && w->seq == w->sseq &&
	    snapshot_write(w->m, store_dir(w->s), w->seq, w->hash) == 0)
		w->snap_seq = w->seq;
}

void writer_free(writer *w)
{
	if (!w)
		return;
	writer_stop(w);
	store_room_free(w->room);
	model_free(w->m);
	codec_pool_free(&w->follow_pool);
	for (int i = 0; i < 2; i++) {
		group_free(&w->groups[i].g);
		model_undo_free(w->groups[i].undo);
		free(w->groups[i].streams);
	}
	while (w->pending) {
		pend *p = w->pending;
		w->pending = p->next;
		wr_pend_free(p);
	}
	pthread_cond_destroy(&w->apply_go);
	pthread_cond_destroy(&w->stored_cv);
	pthread_cond_destroy(&w->go);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->idle);
	pthread_mutex_destroy(&w->hook_lock);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
