/* writer.c — group commit on one thread. See writer.h. */
#include "writer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "keystore.h"
#include "log.h"
#include "merkle.h"
#include "counters.h"
#include "model.h"

struct writer {
	store *s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	append_req *head, *tail; /* the queue */
	size_t queued_events;
	int stopping;

	/* Committed head, read by other threads under lock. */
	uint64_t seq;
	uint8_t hash[LD_HASH_LEN];
	int64_t recorded_at;
	/* The committed Merkle tree (when merkle is set), under lock. */
	int merkle;
	ld_merkle_frontier tree;
	uint8_t root[LD_HASH_LEN];
	keystore *keys; /* destroys keys of MemberForgotten events; may be NULL */
	int index_behind; /* the index missed a commit of the log: replay first */

	/* The commit hook, called with hook_lock held, so that clearing it
	 * (which takes the lock) waits for a call in flight. */
	pthread_mutex_t hook_lock;
	writer_commit_fn on_commit;
	void *on_commit_arg;
	/* More hooks (subscriptions, the PUB feed), same rules. */
	struct {
		writer_commit_fn fn;
		void *arg;
	} hooks[WRITER_MAX_HOOKS];
};

/* The working head inside a transaction. */
typedef struct head {
	uint64_t seq;
	uint8_t hash[LD_HASH_LEN];
	ld_merkle_frontier *tree; /* working copy; NULL: no tree */
	keystore *keys;
} head;

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

/*
 * Validates and appends one event in t. Returns 0 (recorded or duplicate,
 * it filled), a rejection (< 0, e filled, nothing written), or a storage
 * error (STORE_MAP_FULL, LD_E(STORAGE), LD_E(DISK_FULL)): the transaction
 * must be aborted.
 */
static int append_one(store_txn *t, head *h, const append_req *r, size_t index,
		      int64_t recorded_at, append_item *it, ld_errinfo *e)
{
	const Ledger__Event *ev = r->req->events[index];
	const char *actor = r->actor;
	store_val v;
	model_result mr;
	int rc = store_get(t, DB_IDEM, ev->event_id.data, LD_EVENT_ID_LEN, &v);
	if (rc == 0)
		return check_duplicate(t, ev, ld_get_be64(v.data), it, e);
	if (rc != LD_E(NOT_FOUND))
		return rc;

	if ((rc = roles_check_event(r->role, actor, t, ev, index, e)))
		return rc;
	uint64_t seq = h->seq + 1;
	if ((rc = model_apply(t, ev, seq, &mr, e))) {
		/* Personal data for a forgotten member: the key the server made
		 * for it (a forget came in between) goes too. */
		int krc;
		if (rc == LD_E(ALREADY_FORGOTTEN) && h->keys && codec_event_member(ev) &&
		    (krc = keystore_destroy(h->keys, codec_event_member(ev))) != 0)
			return krc;
		return rc;
	}
	/* Forgetting: the key goes (durably, in its own environment) before
	 * the event is recorded; a batch that then fails leaves the member
	 * forgotten without the event, and the resent request records it. */
	if (ev->body_case == LEDGER__EVENT__BODY_MEMBER_FORGOTTEN && h->keys &&
	    (rc = keystore_destroy(h->keys, ev->member_forgotten->member_id))) {
		log_error("writer: unable to destroy the key of member '%s'",
			  ev->member_forgotten->member_id);
		return rc;
	}

	/* Stored without personal data in clear (pii.h). */
	Ledger__Event rec;
	codec_personal_buf pb;
	codec_strip_personal(ev, &rec, &pb);
	rec.has_expected_version = 0;
	rec.has_seq = 1;
	rec.seq = seq;
	rec.has_recorded_at = 1;
	rec.recorded_at = recorded_at;
	rec.actor = (char *)actor;
	rec.stream = mr.stream;
	rec.has_version = 1;
	rec.version = mr.version;
	rec.has_prev_hash = 1;
	rec.prev_hash.len = LD_HASH_LEN;
	rec.prev_hash.data = h->hash;
	uint8_t hash[LD_HASH_LEN];
	if ((rc = codec_event_hash(&rec, hash)))
		return rc;
	rec.has_hash = 1;
	rec.hash.len = LD_HASH_LEN;
	rec.hash.data = hash;

	uint8_t key[8], val[8];
	void *dst;
	ld_put_be64(key, seq);
	if ((rc = store_append_reserve(t, DB_LOG, key, 8, codec_size(&rec), &dst)))
		return rc;
	codec_pack(&rec, dst);
	ld_put_be64(val, seq);
	if ((rc = store_put(t, DB_IDEM, ev->event_id.data, LD_EVENT_ID_LEN, val, 8)))
		return rc;
	if (h->tree && (rc = merkle_append(t, h->tree, hash)))
		return rc;

	h->seq = seq;
	memcpy(h->hash, hash, LD_HASH_LEN);
	it->seq = seq;
	it->version = mr.version;
	return 0;
}

static int is_storage_error(int rc)
{
	return rc == STORE_MAP_FULL || rc == LD_E(STORAGE) || rc == LD_E(DISK_FULL) ||
	       rc == LD_E(INTERNAL) || rc == LD_E(KEYSTORE);
}

/* ------------------------------------------------------------------ */
/* One request                                                         */
/* ------------------------------------------------------------------ */

/* Returns 0, or a storage error that dooms the transaction. */
static int append_request(store_txn *txn, head *h, append_req *r, int64_t recorded_at)
{
	size_t n = r->req->n_events;
	ld_errinfo e;

	if (!r->req->atomic) {
		for (size_t i = 0; i < n; i++) {
			append_item *it = &r->items[i];
			if (it->code)
				continue; /* failed the stateless check */
			memset(&e, 0, sizeof(e));
			int rc = append_one(txn, h, r, i, recorded_at, it, &e);
			if (is_storage_error(rc))
				return rc;
			if (rc)
				item_fail(it, rc, &e);
		}
		return 0;
	}

	/* Atomic: all in a nested transaction, dropped if one event fails. */
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
			return 0;
		}
	store_txn *child;
	head saved = *h;
	ld_merkle_frontier saved_tree;
	if (h->tree)
		saved_tree = *h->tree;
	int rc = store_child_begin(txn, &child);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		rc = append_one(child, h, r, i, recorded_at, &r->items[i], &e);
		if (rc == 0)
			continue;
		store_abort(child);
		*h = saved;
		if (h->tree)
			*h->tree = saved_tree;
		if (is_storage_error(rc))
			return rc;
		item_fail(&r->items[i], rc, &e);
		for (size_t j = 0; j < n; j++) {
			if (j == i)
				continue;
			r->items[j].seq = r->items[j].version = 0;
			r->items[j].duplicate = 0;
			ld_errinfo_set(&e, LD_E(ABORTED), NULL,
				       "not recorded: event %zu of the atomic batch was rejected",
				       i);
			item_fail(&r->items[j], LD_E(ABORTED), &e);
		}
		return 0;
	}
	return store_commit(child);
}

/* ------------------------------------------------------------------ */
/* The index: checkpoint, replay, rebuild                              */
/* ------------------------------------------------------------------ */

#define APPLIED_KEY "applied"
#define REPLAY_CHUNK 50000 /* events per replay transaction */

/* The index's checkpoint: the last event it reflects, in the same index
 * transaction as the changes. */
static int put_applied(store_txn *t, uint64_t seq, const uint8_t hash[LD_HASH_LEN])
{
	uint8_t v[8 + LD_HASH_LEN];
	ld_put_be64(v, seq);
	memcpy(v + 8, hash, LD_HASH_LEN);
	return store_put(t, DB_IMETA, APPLIED_KEY, strlen(APPLIED_KEY), v, sizeof(v));
}

/* The checkpoint in t: *seq 0 for none. An index whose checkpoint names an
 * event the log does not have, or has with another hash, belongs to another
 * log (a restored backup, a copied directory): it is emptied and *seq = 0. */
static int check_applied(store_txn *t, uint64_t log_head, uint64_t *seq)
{
	store_val v;
	*seq = 0;
	int rc = store_get(t, DB_IMETA, APPLIED_KEY, strlen(APPLIED_KEY), &v);
	if (rc == 0 && v.len == 8 + LD_HASH_LEN) {
		uint64_t at = ld_get_be64(v.data);
		uint8_t hash[LD_HASH_LEN];
		memcpy(hash, (const uint8_t *)v.data + 8, LD_HASH_LEN);
		Ledger__Event *ev = NULL;
		if (at <= log_head && (rc = model_load_event(t, at, &ev)) == 0 && ev->has_hash &&
		    ev->hash.len == LD_HASH_LEN && memcmp(ev->hash.data, hash, LD_HASH_LEN) == 0) {
			codec_event_free(ev);
			*seq = at;
			return 0;
		}
		codec_event_free(ev);
		if (rc && rc != LD_E(NOT_FOUND))
			return rc;
		log_warn("writer: the index (checkpoint seq %llu) does not match the log (head "
			 "%llu); it is rebuilt",
			 (unsigned long long)at, (unsigned long long)log_head);
	} else if (rc != 0 && rc != LD_E(NOT_FOUND)) {
		return rc;
	}
	return store_index_clear(t);
}

/* Applies events from+1 .. at most `limit` of them to the index in t, as the
 * writer did when it recorded them (they passed its checks then, on the
 * same state, so they pass again; a failure means index and log disagree).
 * *last = the last applied. */
static int replay_chunk(store_txn *t, uint64_t from, uint64_t limit, uint64_t *last,
			uint8_t hash[LD_HASH_LEN], ld_errinfo *e)
{
	store_cursor *c;
	store_val k, v;
	uint8_t key[8], val[8];
	int rc = store_cursor_open(t, DB_LOG, &c);
	if (rc)
		return rc;
	*last = from;
	ld_put_be64(key, from + 1);
	for (rc = store_cursor_seek(c, key, 8, &k, &v); rc == 0 && *last - from < limit;
	     rc = store_cursor_next(c, &k, &v)) {
		uint64_t seq = ld_get_be64(k.data);
		Ledger__Event *ev = codec_event_unpack(v.data, v.len);
		model_result mr;
		if (!ev || seq != *last + 1 || !ev->has_hash || ev->hash.len != LD_HASH_LEN) {
			codec_event_free(ev);
			rc = ld_errinfo_set(e, LD_E(STORAGE), NULL,
					    "index replay: seq %llu of the log is unreadable",
					    (unsigned long long)(*last + 1));
			break;
		}
		rc = model_apply(t, ev, seq, &mr, e);
		if (rc == 0 && (mr.version != ev->version || !ev->stream ||
				strcmp(mr.stream, ev->stream) != 0))
			rc = ld_errinfo_set(e, LD_E(STORAGE), NULL,
					    "index replay: seq %llu is version %llu of %s in the "
					    "log but %llu of %s in the index",
					    (unsigned long long)seq, (unsigned long long)ev->version,
					    ev->stream ? ev->stream : "-",
					    (unsigned long long)mr.version, mr.stream);
		else if (rc && rc != STORE_MAP_FULL && rc != LD_E(STORAGE))
			rc = ld_errinfo_set(e, LD_E(STORAGE), NULL,
					    "index replay: seq %llu rejected: %s",
					    (unsigned long long)seq, e->message);
		ld_put_be64(val, seq);
		if (rc == 0)
			rc = store_put(t, DB_IDEM, ev->event_id.data, ev->event_id.len, val, 8);
		if (rc == 0)
			memcpy(hash, ev->hash.data, LD_HASH_LEN);
		codec_event_free(ev);
		if (rc)
			break;
		*last = seq;
	}
	store_cursor_close(c);
	if (rc == LD_E(NOT_FOUND))
		rc = 0;
	if (rc == 0 && *last > from)
		rc = put_applied(t, *last, hash);
	return rc;
}

/*
 * Brings the index up to the log (writer thread, or before it starts): the
 * events past its checkpoint are applied again, in transactions of
 * REPLAY_CHUNK events (the map grows when full); then the Merkle tree.
 * 0, or a negative code with the reason logged.
 */
static int index_recover(writer *w)
{
	ld_errinfo e = {0};
	uint64_t at = 0, log_head = w->seq, replayed = 0;
	uint8_t hash[LD_HASH_LEN];
	int64_t t0 = ld_wall_us();
	int rc = 0, first = 1;
	while (rc == 0) {
		store_txn *t;
		uint64_t from = at, last;
		if ((rc = store_write_begin(w->s, &t)))
			break;
		if (first && (rc = check_applied(t, log_head, &from)) == 0) {
			at = from;
			if (from < log_head)
				log_info("writer: the index is at seq %llu, the log at %llu: "
					 "replaying",
					 (unsigned long long)from, (unsigned long long)log_head);
		}
		if (rc == 0)
			rc = replay_chunk(t, from, REPLAY_CHUNK, &last, hash, &e);
		if (rc == 0 && last == from && !first) {
			store_abort(t);
			break;
		}
		rc = rc == 0 ? store_commit(t) : (store_abort(t), rc);
		if (rc == STORE_MAP_FULL) {
			rc = store_grow(w->s, 0);
			continue; /* from the same checkpoint */
		}
		if (rc)
			break;
		first = 0;
		replayed += last - from;
		at = last;
		if (last == from)
			break;
	}
	if (rc) {
		log_error("writer: unable to bring the index up to the log: %s",
			  e.message[0] ? e.message : ld_strerror(rc));
		return rc;
	}
	if (replayed) {
		int64_t us = ld_wall_us() - t0;
		log_info("writer: index replayed %llu events to seq %llu in %.3f s (%.0f events/s)",
			 (unsigned long long)replayed, (unsigned long long)at, us / 1e6,
			 us ? replayed * 1e6 / us : 0.0);
	}
	if (w->merkle) {
		ld_merkle_frontier tree;
		if ((rc = merkle_catch_up(w->s, &tree, &e)) != 0) {
			log_error("writer: %s", e.message);
			return rc;
		}
		if (tree.size != log_head) {
			log_error("writer: the Merkle tree has %llu leaves but the log %llu events",
				  (unsigned long long)tree.size, (unsigned long long)log_head);
			return LD_E(STORAGE);
		}
		pthread_mutex_lock(&w->lock);
		w->tree = tree;
		ld_merkle_root(&w->tree, w->root);
		pthread_mutex_unlock(&w->lock);
	}
	w->index_behind = 0;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The batch loop                                                      */
/* ------------------------------------------------------------------ */

/* Forgets the outcome of a failed attempt so the batch can be redone. */
static void reset_items(append_req *r, const uint8_t *prestate)
{
	for (size_t i = 0; i < r->req->n_events; i++) {
		append_item *it = &r->items[i];
		if (prestate[i])
			continue; /* stateless failure: keep */
		free(it->err);
		memset(it, 0, sizeof(*it));
	}
}

static void commit_batch(writer *w, append_req *batch)
{
	/* Which items failed before the writer saw them, to redo cleanly. */
	size_t total = 0;
	for (append_req *r = batch; r; r = r->next)
		total += r->req->n_events;
	uint8_t *pre = calloc(total ? total : 1, 1);
	size_t k = 0;
	for (append_req *r = batch; pre && r; r = r->next)
		for (size_t i = 0; i < r->req->n_events; i++)
			pre[k++] = r->items[i].code != 0;

	/* Without that note a failed attempt could not be redone: the batch
	 * fails whole, nothing of it written. */
	int status = pre ? 0 : LD_E(INTERNAL);
	head h;
	pthread_mutex_lock(&w->lock);
	h.seq = w->seq; /* the head the requests are told, should none commit */
	pthread_mutex_unlock(&w->lock);
	ld_merkle_frontier tree;
	for (; pre;) {
		/* Validating against an index behind the log would miss what
		 * it lacks (a resent event id, a member's join). */
		if (w->index_behind && (status = index_recover(w)) != 0)
			break;
		/* Every attempt starts from the committed head and tree. */
		pthread_mutex_lock(&w->lock);
		h.seq = w->seq;
		memcpy(h.hash, w->hash, LD_HASH_LEN);
		h.tree = w->merkle ? &tree : NULL;
		h.keys = w->keys;
		if (h.tree)
			tree = w->tree;
		pthread_mutex_unlock(&w->lock);

		int64_t recorded_at = ld_wall_us();
		store_txn *txn = NULL;
		status = store_write_begin(w->s, &txn);
		for (append_req *r = batch; status == 0 && r; r = r->next)
			status = append_request(txn, &h, r, recorded_at);
		if (status == 0 && h.seq != w->seq)
			status = put_applied(txn, h.seq, h.hash);
		int64_t applied = ld_wall_us();
		if (status == 0) {
			status = store_commit(txn);
			if (status == STORE_INDEX_BEHIND) {
				/* Recorded: the index catches up before the next
				 * batch uses it. */
				w->index_behind = 1;
				status = 0;
			}
		} else {
			store_abort(txn);
		}
		int64_t done = ld_wall_us();
		log_debug("writer: %zu events: applied in %lld us, committed in %lld us", total,
			  (long long)(applied - recorded_at), (long long)(done - applied));
		if (status != STORE_MAP_FULL)
			counters_commit(total, done - recorded_at, status == 0);
		if (status == 0) {
			/* Only a commit that appended moves the head (a batch of
			 * duplicates and rejections leaves it as it was). */
			uint8_t root[LD_HASH_LEN];
			if (h.tree)
				ld_merkle_root(h.tree, root);
			pthread_mutex_lock(&w->lock);
			if (h.seq != w->seq) {
				w->seq = h.seq;
				memcpy(w->hash, h.hash, LD_HASH_LEN);
				w->recorded_at = recorded_at;
				if (h.tree) {
					w->tree = *h.tree;
					memcpy(w->root, root, LD_HASH_LEN);
				}
			}
			pthread_mutex_unlock(&w->lock);
			break;
		}
		k = 0;
		for (append_req *r = batch; r; r = r->next) {
			reset_items(r, pre + k);
			k += r->req->n_events;
		}
		if (status != STORE_MAP_FULL)
			break;
		if ((status = store_grow(w->s, 0)) != 0)
			break;
	}
	free(pre);

	if (status) {
		log_error("writer: batch of %zu events not recorded: %s", total,
			  ld_strerror(status));
	} else {
		pthread_mutex_lock(&w->hook_lock);
		if (w->on_commit)
			w->on_commit(w->on_commit_arg, h.seq);
		for (int i = 0; i < WRITER_MAX_HOOKS; i++)
			if (w->hooks[i].fn)
				w->hooks[i].fn(w->hooks[i].arg, h.seq);
		pthread_mutex_unlock(&w->hook_lock);
	}
	for (append_req *r = batch, *next; r; r = next) {
		next = r->next;
		r->status = status;
		r->head_seq = h.seq;
		r->done(r);
	}
}

static void *writer_main(void *arg)
{
	writer *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->wake, &w->lock);
		if (!w->head) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		/* Take whole requests up to the transaction bound. */
		append_req *batch = w->head, *last = w->head;
		size_t events = last->req->n_events;
		while (last->next && events + last->next->req->n_events <= WRITER_MAX_EVENTS) {
			last = last->next;
			events += last->req->n_events;
		}
		w->head = last->next;
		if (!w->head)
			w->tail = NULL;
		last->next = NULL;
		w->queued_events -= events;
		int stopping = w->stopping;
		pthread_mutex_unlock(&w->lock);

		if (stopping) {
			/* Only the batch in flight is finished; the rest is refused. */
			for (append_req *r = batch, *next; r; r = next) {
				next = r->next;
				r->status = LD_E(SHUTTING_DOWN);
				r->done(r);
			}
			continue;
		}
		commit_batch(w, batch);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Public                                                              */
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

int writer_start(writer **out, store *s)
{
	return writer_start_opts(out, s, NULL);
}

int writer_start_opts(writer **out, store *s, const writer_options *o)
{
	writer *w = calloc(1, sizeof(*w));
	int rc;
	*out = NULL;
	if (!w)
		return LD_E(INTERNAL);
	w->s = s;
	w->merkle = !(o && o->no_merkle);
	w->keys = o ? o->keys : NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->hook_lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	if ((rc = read_head(w)) != 0) {
		log_error("writer: unable to read the head of the log: %s", ld_strerror(rc));
		goto fail;
	}
	if ((rc = index_recover(w)) != 0)
		goto fail;
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		rc = LD_E(INTERNAL);
		goto fail;
	}
	log_info("writer: log head is seq %llu", (unsigned long long)w->seq);
	*out = w;
	return 0;
fail:
	pthread_cond_destroy(&w->wake);
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

int writer_submit(writer *w, append_req *r)
{
	int rc = 0;
	r->next = NULL;
	r->status = 0;
	pthread_mutex_lock(&w->lock);
	if (w->stopping)
		rc = LD_E(SHUTTING_DOWN);
	else if (w->queued_events + r->req->n_events > WRITER_MAX_QUEUED)
		rc = LD_E(BUSY);
	else {
		if (w->tail)
			w->tail->next = r;
		else
			w->head = r;
		w->tail = r;
		w->queued_events += r->req->n_events;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void writer_head(writer *w, uint64_t *seq, uint8_t hash[LD_HASH_LEN], int64_t *recorded_at)
{
	pthread_mutex_lock(&w->lock);
	*seq = w->seq;
	if (hash)
		memcpy(hash, w->hash, LD_HASH_LEN);
	if (recorded_at)
		*recorded_at = w->recorded_at;
	pthread_mutex_unlock(&w->lock);
}

int writer_tree(writer *w, uint64_t *size, uint8_t root[LD_HASH_LEN])
{
	pthread_mutex_lock(&w->lock);
	int on = w->merkle;
	*size = w->tree.size;
	memcpy(root, w->root, LD_HASH_LEN);
	pthread_mutex_unlock(&w->lock);
	return on ? 0 : LD_E(INVALID_STATE);
}

void writer_stop(writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
}

void writer_free(writer *w)
{
	if (!w)
		return;
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->hook_lock);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
