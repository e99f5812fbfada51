/* writer_apply.c — a replicated writer: the entries applied here, stored
 * by the applier thread off the path of the answer, and another leader's
 * groups applied to the write model. See writer.h (writer_apply_entry) and
 * docs/REPLICATION.md ("Where the log is synced"). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "behind.h"
#include "clock.h"
#include "keystore.h"
#include "log.h"
#include "pii.h"
#include "snapshot.h"
#include "writer_int.h"

__thread int wr_no_read_wait;

/* The raft index of the last entry applied, in the log's meta. */
static const char META_RAFT_INDEX[] = "raft-index";
/* What the pool another leader's groups are decoded into keeps between
 * them: one block (codec.h's default), not the largest group's events. */
#define FOLLOW_POOL_KEEP ((size_t)1 << 20)

/* The entry not yet stored that holds seq (lock held), or NULL. */
const pend *wr_pending_at(const writer *w, uint64_t seq)
{
	for (const pend *p = w->pending; p; p = p->next)
		if (p->g.n && seq >= p->g.first && seq < p->g.first + p->g.n)
			return p;
	return NULL;
}

void wr_pend_free(pend *p)
{
	group_free(&p->g);
	free(p->streams);
	free(p);
}

/* Frees the stored entries the decider's transaction sees (lock held). */
void wr_prune_locked(writer *w)
{
	pend *p;
	while ((p = w->pending) && p->stored && p->last <= w->pin && p->last <= w->fpin &&
	       !w->mem_pins) {
		w->pending = p->next;
		if (!w->pending)
			w->pending_tail = NULL;
		wr_pend_free(p);
	}
}

/* ------------------------------------------------------------------ */
/* The applier (replicated): entries applied here, into the store      */
/* ------------------------------------------------------------------ */

/* Writes the entries from..to (each with its blob, if any) and the last
 * one's raft index in one transaction, the tree advanced. */
static int store_entries(writer *w, pend *from, pend *to)
{
	uint8_t v[8];
	ld_put_be64(v, to->index);
	for (;;) {
		ld_merkle_frontier tree = w->ctree;
		store_txn *t;
		int rc = store_write_begin(w->s, &t);
		if (rc)
			return rc;
		for (pend *p = from; rc == 0; p = p->next) {
			if (p->g.n)
				rc = group_apply(t, p->g.buf, p->g.len, w->merkle ? &tree : NULL);
			if (p == to)
				break;
		}
		if (rc == 0)
			rc = store_put(t, DB_META, META_RAFT_INDEX, sizeof(META_RAFT_INDEX) - 1, v, 8);
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

/* Why the entries waiting are stored now (lock held), or NULL: someone
 * waits for the store, the writer stops, they reach a bound, or the first
 * of them has waited the store delay. */
static const char *store_due(const writer *w)
{
	if (w->store_waiters)
		return "a thread waits for the store";
	if (w->store_soon > w->sseq)
		return "a query waits for the projections";
	if (w->applier_stop || w->stopping)
		return "stopping";
	if (!w->store_delay_us)
		return "no store delay";
	if (w->apply_entries >= WRITER_STORE_BATCH_ENTRIES)
		return "entries waiting";
	if (w->apply_bytes >= WRITER_STORE_BATCH_BYTES)
		return "bytes waiting";
	if (ld_mono_us() - w->apply_since >= (int64_t)w->store_delay_us)
		return "the store delay";
	return NULL;
}

/* A thread is about to wait for the store (lock held): the applier stores
 * what waits without waiting out its delay. Undone by store_unwanted. */
static void store_wanted(writer *w)
{
	w->store_waiters++;
	pthread_cond_signal(&w->apply_go);
}

static void store_unwanted(writer *w)
{
	w->store_waiters--;
}

/*
 * Writes what was applied here into the log's store, off the path of the
 * acknowledgement: each transaction takes every entry waiting (one device
 * flush for all: the store commits without syncing its meta page, and raft's
 * log holds every entry past the raft index recorded with them). An entry
 * waits up to the store delay for others to share that flush, unless a
 * thread waits for the store (store_due). Then the readers see them: the
 * streams' heads published, the store's head and tree moved on, the commit
 * hooks called.
 */
void *wr_applier_main(void *arg)
{
	writer *w = arg;
	pthread_setname_np(pthread_self(), "ld-apply");
	wr_no_read_wait = 1;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		const char *why = "stopping", *due;
		while (!w->applier_stop) {
			if (!w->apply_next || w->apply_hold) {
				pthread_cond_wait(&w->apply_go, &w->lock);
			} else if ((due = store_due(w)) != NULL) {
				why = due;
				break;
			} else {
				int64_t left =
					w->apply_since + (int64_t)w->store_delay_us - ld_mono_us();
				struct timespec ts = ld_wall_after_us(left > 0 ? (uint64_t)left : 0);
				pthread_cond_timedwait(&w->apply_go, &w->lock, &ts);
			}
		}
		if (!w->apply_next || w->apply_hold)
			break;
		pend *from = w->apply_next, *to = w->pending_tail;
		w->apply_next = NULL;
		w->apply_entries = w->apply_bytes = 0;
		pthread_mutex_unlock(&w->lock);

		behind_apply();
		int64_t t0 = ld_wall_us();
		int rc = store_entries(w, from, to);
		if (rc) {
			log_error("writer: the entries from raft index %llu to %llu cannot be written "
				  "into the log: %s; raft's log holds them, and this node stops",
				  (unsigned long long)from->index, (unsigned long long)to->index,
				  ld_strerror(rc));
			pthread_mutex_lock(&w->lock);
			w->apply_failed = rc;
			w->broken = 1;
			pthread_cond_broadcast(&w->stored_cv);
			pthread_mutex_unlock(&w->lock);
			if (w->failed)
				w->failed(w->failed_arg, rc);
			return NULL;
		}
		size_t events = 0, entries = 0;
		for (pend *p = from;; p = p->next) {
			for (size_t i = 0; i < p->g.n; i++)
				model_publish(w->m, p->streams[i], p->g.first + i);
			events += p->g.n;
			entries++;
			if (p == to)
				break;
		}
		log_debug("writer: %zu entries (%zu events) stored in %lld us (%s)", entries, events,
			  (long long)(ld_wall_us() - t0), why);
		if (w->on_group)
			for (pend *p = from;; p = p->next) {
				if (p->g.n)
					w->on_group(w->on_group_arg, p->g.buf, p->g.len);
				if (p == to)
					break;
			}
		uint8_t root[LD_HASH_LEN];
		if (w->merkle)
			ld_merkle_root(&w->ctree, root);
		pthread_mutex_lock(&w->lock);
		for (pend *p = from;; p = p->next) {
			p->stored = 1;
			w->unstored--;
			w->unstored_bytes -= p->g.len;
			if (p == to)
				break;
		}
		uint64_t was = w->sseq;
		w->sseq = to->last;
		memcpy(w->shash, to->hash, LD_HASH_LEN);
		w->srecorded_at = to->recorded_at;
		if (w->merkle) {
			w->tree = w->ctree;
			memcpy(w->root, root, LD_HASH_LEN);
		}
		uint64_t head = w->sseq;
		/* Freed before anyone waiting for the store is told: what it
		 * measures or does next finds them gone (but those a reader
		 * still sees, pruned after the hooks). */
		wr_prune_locked(w);
		pthread_cond_broadcast(&w->stored_cv);
		pthread_mutex_unlock(&w->lock);
		if (head != was)
			wr_call_hooks(w, head);
		pthread_mutex_lock(&w->lock);
		wr_prune_locked(w);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Queues an entry applied here for the applier (lock held). */
static void wr_pend_queue(writer *w, pend *p)
{
	if (w->pending_tail)
		w->pending_tail->next = p;
	else
		w->pending = p;
	w->pending_tail = p;
	/* The applier is woken by the first entry it has to store (it then
	 * waits out the store delay) and by the one that reaches a bound. */
	int wake = !w->apply_next;
	if (wake) {
		w->apply_next = p;
		w->apply_since = ld_mono_us();
	}
	w->apply_entries++;
	w->apply_bytes += p->g.len;
	wake |= w->apply_entries == WRITER_STORE_BATCH_ENTRIES ||
		(w->apply_bytes >= WRITER_STORE_BATCH_BYTES &&
		 w->apply_bytes - p->g.len < WRITER_STORE_BATCH_BYTES);
	w->unstored++;
	w->unstored_bytes += p->g.len;
	w->applied_index = p->index;
	w->seq = p->last;
	memcpy(w->hash, p->hash, LD_HASH_LEN);
	w->recorded_at = p->recorded_at;
	if (wake)
		pthread_cond_signal(&w->apply_go);
}

/* Until the entries waiting for the store are within bounds (lock held):
 * a store slower than raft holds back the next group, not memory. */
void wr_wait_room_locked(writer *w)
{
	while (w->unstored_bytes > w->unstored_max && !w->apply_failed && !w->stopping &&
	       w->applier_started) {
		if (!w->room_said) {
			log_warn("writer: %zu bytes applied are not stored yet; the next group waits "
				 "for the store",
				 w->unstored_bytes);
			w->room_said = 1;
		}
		store_wanted(w);
		pthread_cond_wait(&w->stored_cv, &w->lock);
		store_unwanted(w);
	}
}

/* Until the store holds everything applied here (lock held); 0, or the
 * applier's error. */
int wr_wait_stored_locked(writer *w)
{
	while ((w->unstored || (w->f_head && !w->f_failed)) && !w->apply_failed &&
	       !w->apply_hold) {
		store_wanted(w);
		pthread_cond_wait(&w->stored_cv, &w->lock);
		store_unwanted(w);
	}
	return w->apply_failed ? w->apply_failed
	       : w->f_failed   ? w->f_failed
	       : w->unstored || w->f_head ? LD_E(BUSY)
					  : 0;
}

/* A read that begins waits until the store holds what was applied here
 * when it arrived (a replicated writer answers its clients before): at
 * most the applier's transaction in flight and the next, which does not
 * wait out the store delay. */
void wr_read_wait(void *arg)
{
	writer *w = arg;
	/* The writer's threads, and a thread inside a read transaction (the
	 * applier may wait for it to end, to grow the map), do not wait. */
	if (wr_no_read_wait || store_reading())
		return;
	pthread_mutex_lock(&w->lock);
	uint64_t want = w->seq;
	while (w->sseq < want && !w->apply_failed && !w->apply_hold && w->applier_started) {
		store_wanted(w);
		pthread_cond_wait(&w->stored_cv, &w->lock);
		store_unwanted(w);
	}
	pthread_mutex_unlock(&w->lock);
}

void writer_store_soon(writer *w, uint64_t seq)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	/* Never past what is applied here: a seq asked for ahead of the log
	 * would otherwise keep every later entry from sharing a flush. */
	if (seq > w->seq)
		seq = w->seq;
	if (w->applier_started && seq > w->sseq && seq > w->store_soon) {
		w->store_soon = seq;
		pthread_cond_signal(&w->apply_go);
	}
	pthread_mutex_unlock(&w->lock);
}

void writer_thread_reads_stored(void)
{
	wr_no_read_wait = 1;
}

/* ---- what is applied and not stored, for a reader ---- */

struct writer_unstored {
	writer *w;
	const pend **e; /* the entries with events, in seq order */
	size_t n;
};

/* The entry of u that holds seq, or NULL. */
static const pend *unstored_at(const writer_unstored *u, uint64_t seq)
{
	size_t lo = 0, hi = u->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const pend *p = u->e[mid];
		if (seq < p->g.first)
			hi = mid;
		else if (seq >= p->g.first + p->g.n)
			lo = mid + 1;
		else
			return p;
	}
	return NULL;
}

int writer_unstored_event(const writer_unstored *u, uint64_t seq, const uint8_t **bytes,
			  size_t *len)
{
	const pend *p = unstored_at(u, seq);
	return p ? group_event(&p->g, seq, bytes, len) : LD_E(NOT_FOUND);
}

static int unstored_view_event(void *arg, uint64_t seq, Ledger__Event **ev)
{
	const uint8_t *b;
	size_t n;
	int rc = writer_unstored_event(arg, seq, &b, &n);
	if (rc == 0 && !(*ev = codec_event_unpack(b, n)))
		rc = LD_E(INTERNAL);
	return rc;
}

static int unstored_view_link(void *arg, uint64_t seq, ld_link *l)
{
	const pend *p = unstored_at(arg, seq);
	return p ? group_link(&p->g, seq, l) : LD_E(NOT_FOUND);
}

/* The newest event of the stream among u's at or before upto: a walk back
 * over their streams (u holds at most the max of writer_unstored_begin). */
static int unstored_view_head(void *arg, uint32_t stream, uint64_t upto, uint64_t *seq)
{
	const writer_unstored *u = arg;
	for (size_t k = u->n; k-- > 0;) {
		const pend *p = u->e[k];
		if (p->g.first > upto)
			continue;
		size_t i = upto - p->g.first < p->g.n ? (size_t)(upto - p->g.first) + 1 : p->g.n;
		while (i-- > 0)
			if (p->streams[i] == stream) {
				*seq = p->g.first + i;
				return 0;
			}
	}
	return LD_E(NOT_FOUND);
}

int writer_unstored_begin(writer *w, uint64_t max, writer_unstored **out, model_view *view,
			  uint64_t *last)
{
	*out = NULL;
	pthread_mutex_lock(&w->lock);
	size_t n = 0;
	for (const pend *p = w->pending; p; p = p->next)
		n += p->g.n && p->last > w->sseq;
	int rc = !n || w->seq - w->sseq > max ? LD_E(NOT_FOUND) : 0;
	writer_unstored *u = NULL;
	if (!rc && (!(u = calloc(1, sizeof(*u))) || !(u->e = malloc(n * sizeof(*u->e))))) {
		free(u);
		rc = LD_E(INTERNAL);
	}
	if (!rc) {
		u->w = w;
		for (const pend *p = w->pending; p; p = p->next)
			if (p->g.n && p->last > w->sseq)
				u->e[u->n++] = p;
		*last = w->seq;
		w->mem_pins++;
		*view = (model_view){unstored_view_event, unstored_view_link, u, unstored_view_head, 0};
		*out = u;
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void writer_unstored_end(writer_unstored *u)
{
	if (!u)
		return;
	writer *w = u->w;
	pthread_mutex_lock(&w->lock);
	if (!--w->mem_pins)
		wr_prune_locked(w);
	pthread_mutex_unlock(&w->lock);
	free(u->e);
	free(u);
}

uint64_t writer_unstored_count(writer *w)
{
	pthread_mutex_lock(&w->lock);
	uint64_t n = w->seq - w->sseq;
	pthread_mutex_unlock(&w->lock);
	return n;
}

/* Stores what is applied (unless held or failed) and stops the applier;
 * readers no longer wait for it. */
static void follow_stop(writer *w);

void wr_stop_applier(writer *w)
{
	follow_stop(w);
	if (!w->applier_started)
		return;
	pthread_mutex_lock(&w->lock);
	w->applier_stop = 1;
	pthread_cond_signal(&w->apply_go);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->applier, NULL);
	store_set_read_wait(w->s, NULL, NULL);
	pthread_mutex_lock(&w->lock);
	w->applier_started = 0;
	pthread_cond_broadcast(&w->stored_cv);
	pthread_mutex_unlock(&w->lock);
}

/* ------------------------------------------------------------------ */
/* Replication                                                         */
/* ------------------------------------------------------------------ */

static int follow_wait_locked(writer *w);

void writer_set_leading(writer *w, int leading, const char *leader_url, int elected)
{
	pthread_mutex_lock(&w->lock);
	/* Another leader's entries handed over before this node's barrier are
	 * in the model before anything is decided on it (one that failed
	 * halts the replica: this node does not lead). */
	if (leading && follow_wait_locked(w))
		leading = 0;
	__atomic_store_n(&w->leading, leading, __ATOMIC_RELEASE);
	snprintf(w->leader_url, sizeof(w->leader_url), "%s",
		 !leading && leader_url ? leader_url : "");
	w->leader_elected = !leading && elected;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

/* Read without the lock, which every request would otherwise take once
 * more: a request let through as the leadership changes is refused by the
 * decider, which reads it under the lock. */
int writer_leads(writer *w)
{
	return !w->replicate || __atomic_load_n(&w->leading, __ATOMIC_ACQUIRE);
}

int writer_leader_url(writer *w, char *out, size_t n)
{
	pthread_mutex_lock(&w->lock);
	snprintf(out, n, "%s", w->leader_url);
	int elected = w->leader_elected;
	pthread_mutex_unlock(&w->lock);
	return elected;
}

/* The raft index recorded in the store (0: none). */
int wr_stored_index(writer *w, uint64_t *index)
{
	store_txn *t;
	store_val v;
	*index = 0;
	int rc = store_read_begin(w->s, &t);
	if (rc)
		return rc;
	rc = store_get(t, DB_META, META_RAFT_INDEX, sizeof(META_RAFT_INDEX) - 1, &v);
	if (rc == 0 && v.len == 8)
		*index = ld_get_be64(v.data);
	else if (rc == 0)
		rc = LD_E(STORAGE);
	store_read_end(t);
	return rc == LD_E(NOT_FOUND) ? 0 : rc;
}

int writer_rebase_index(writer *w)
{
	store_txn *t;
	int rc = store_write_begin(w->s, &t);
	if (rc)
		return rc;
	rc = store_del(t, DB_META, META_RAFT_INDEX, sizeof(META_RAFT_INDEX) - 1);
	if (rc == LD_E(NOT_FOUND))
		rc = 0;
	rc = rc ? (store_abort(t), rc) : store_commit(t);
	if (rc == 0)
		rc = store_sync(w->s);
	if (rc == 0) {
		pthread_mutex_lock(&w->lock);
		w->applied_index = 0;
		pthread_mutex_unlock(&w->lock);
	}
	return rc;
}

int writer_applied_index(writer *w, uint64_t *index)
{
	pthread_mutex_lock(&w->lock);
	*index = w->applied_index;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void writer_applied_head(writer *w, uint64_t *seq, uint8_t hash[LD_HASH_LEN])
{
	pthread_mutex_lock(&w->lock);
	*seq = w->seq;
	if (hash)
		memcpy(hash, w->hash, LD_HASH_LEN);
	pthread_mutex_unlock(&w->lock);
}

int writer_sync(writer *w)
{
	pthread_mutex_lock(&w->lock);
	int rc = wr_wait_stored_locked(w);
	pthread_mutex_unlock(&w->lock);
	return rc ? rc : store_sync(w->s);
}

/* What a replicated group's events see while the model takes them: the
 * group's own events first, then the writer's view. */
typedef struct follow_view {
	writer *w;
	const group *g;
} follow_view;

static int follow_event(void *arg, uint64_t seq, Ledger__Event **ev)
{
	follow_view *f = arg;
	const uint8_t *b;
	size_t n;
	if (group_event(f->g, seq, &b, &n) == 0) {
		*ev = codec_event_unpack(b, n);
		return *ev ? 0 : LD_E(INTERNAL);
	}
	return wr_view_event(f->w, seq, ev);
}

static int follow_link(void *arg, uint64_t seq, ld_link *l)
{
	follow_view *f = arg;
	return group_link(f->g, seq, l) == 0 ? 0 : wr_view_link(f->w, seq, l);
}

/* The link and the correction another leader recorded with event seq (its
 * hash covers neither) are those this node's write model derived (mr): a
 * leader's model that went another way is a fork. 0 or LD_E(CHAIN_BROKEN). */
static int derived_same(const group *g, uint64_t seq, const model_result *mr, ld_errinfo *e)
{
	ld_link l;
	int kind;
	uint64_t target;
	if (group_link(g, seq, &l) == 0 && group_fix(g, seq, &kind, &target) == 0 &&
	    l.prev == mr->link.prev && l.skip == mr->link.skip && l.version == mr->link.version &&
	    kind == mr->fix_kind && target == mr->fix_target)
		return 0;
	return ld_errinfo_set(e, LD_E(CHAIN_BROKEN), NULL,
			      "seq %llu's record names another stream link or correction than "
			      "this node's write model derives",
			      (unsigned long long)seq);
}

/* Applies another leader's group (p, checked; evs: its events, decoded by
 * check_blob) to the write model, event by event as at start (each passed
 * the leader's checks on the same state, so passes again), its streams
 * into p->streams. Reads the log without waiting for the applier: what it
 * has not stored is in the view. */
static int model_follow(writer *w, pend *p, Ledger__Event *const *evs, ld_errinfo *e)
{
	follow_view fv = {w, &p->g};
	model_view v = {follow_event, follow_link, &fv, NULL, 1};
	store_txn *t;
	pthread_mutex_lock(&w->lock);
	w->fpin = w->sseq;
	pthread_mutex_unlock(&w->lock);
	int saved = wr_no_read_wait;
	wr_no_read_wait = 1;
	int rc = store_read_begin(w->s, &t);
	wr_no_read_wait = saved;
	if (rc == 0) {
		store_txn_set_view(t, &v);
		model_undo_use(w->m, NULL);
		/* What each event looks up asked of memory ahead, as the
		 * leader's decider does (model_prefetch): the index slots two
		 * events ahead, the records they name one ahead. */
		model_hint hint[3] = {{0}};
		for (size_t i = 0; rc == 0 && i < p->g.n; i++) {
			uint64_t seq = p->g.first + i;
			model_result mr;
			for (size_t j = i ? i + 2 : 0; j <= i + 2 && j < p->g.n; j++)
				model_prefetch(t, evs[j], 0, &hint[j % 3]);
			if (i + 1 < p->g.n)
				model_prefetch(t, evs[i + 1], 1, &hint[(i + 1) % 3]);
			rc = wr_replay_apply(t, evs[i], seq, "", "the group", &mr, e);
			if (rc == 0)
				rc = derived_same(&p->g, seq, &mr, e);
			if (rc == 0)
				rc = model_id_add(t, evs[i]->event_id.data, seq);
			if (rc == 0)
				p->streams[i] = mr.stream_ref;
		}
		model_undo_use(w->m, w->open->undo);
		store_read_end(t);
	}
	pthread_mutex_lock(&w->lock);
	w->fpin = UINT64_MAX;
	wr_prune_locked(w);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* Another node's group: each event the next of the log, chained, its
 * content giving its hash, its bytes its canonical packing, its record
 * repeating its hash (codec_follow_event, as a catch-up's pages; filled:
 * the hashes were computed here from the contents, group_fill_hashes, so
 * only the chain's fields are checked, and the last hash by the caller). Its events, decoded
 * once into w->follow_pool (emptied by the caller), go to *evs (an array
 * the caller frees, of the group's count). */
static int check_blob(writer *w, const uint8_t *blob, size_t len, int filled, uint64_t *last,
		      uint8_t hash[LD_HASH_LEN], int64_t *recorded_at, Ledger__Event ***evs,
		      ld_errinfo *e)
{
	group_reader rd;
	const uint8_t *b, *h;
	size_t n;
	char why[200];
	*evs = NULL;
	if (group_read_begin(&rd, blob, len) || (rd.flags & ~GROUP_KEYS))
		return ld_errinfo_set(e, LD_E(CHAIN_BROKEN), NULL,
				      "a replicated entry that is not a group of events");
	if (rd.first != w->seq + 1 || memcmp(rd.prev, w->hash, LD_HASH_LEN) != 0)
		return ld_errinfo_set(e, LD_E(CHAIN_BROKEN), NULL,
				      "a replicated group from seq %llu does not follow the log's "
				      "head (seq %llu)",
				      (unsigned long long)rd.first, (unsigned long long)w->seq);
	if (rd.count > len / 8)
		return ld_errinfo_set(e, LD_E(CHAIN_BROKEN), NULL, "a malformed replicated group");
	if (!(*evs = malloc((rd.count ? rd.count : 1) * sizeof(**evs))))
		return LD_E(INTERNAL);
	uint64_t seq = w->seq;
	size_t i = 0;
	memcpy(hash, w->hash, LD_HASH_LEN);
	int rc;
	while ((rc = group_read_next(&rd, &b, &n, &h)) == 1) {
		Ledger__Event *ev; /* (*evs)[i]: the reader stops at the header's count */
		rc = codec_follow_event(b, n, h, ++seq, hash, filled, &w->follow_pool, &ev, why,
					sizeof(why));
		if (rc)
			return ld_errinfo_set(e, rc, NULL, "a replicated group: %s", why);
		(*evs)[i++] = ev;
		memcpy(hash, ev->hash.data, LD_HASH_LEN);
		*recorded_at = ev->recorded_at;
	}
	if (rc < 0 || i != rd.count)
		return ld_errinfo_set(e, LD_E(CHAIN_BROKEN), NULL, "a malformed replicated group");
	*last = seq;
	return 0;
}

/* The leader: the key of the member whose sealed data ev (just decided
 * into g) carries joins g's key section, wrapped with the cluster's KEK
 * (core/group.h, keystore.h), once per member. A key gone (a forget
 * decided before, in this group or an earlier one) is not sent: the
 * member's data is unreadable everywhere. 0 or LD_E(KEYSTORE) / INTERNAL. */
int wr_key_wrap(writer *w, wgroup *g, const Ledger__Event *ev)
{
	const char *member = pii_member(ev);
	if (!member || !w->replicate || !keystore_clustered(w->keys))
		return 0;
	return keystore_wrap_into(w->keys, &g->g, member);
}

/* The keys of the members the group's n events (check_blob's) forget go
 * first, as on the leader. */
static int forget_keys(writer *w, Ledger__Event *const *evs, size_t n)
{
	int rc = 0;
	for (size_t i = 0; w->keys && rc == 0 && i < n; i++)
		if (evs[i]->body_case == LEDGER__EVENT__BODY_MEMBER_FORGOTTEN)
			rc = keystore_destroy(w->keys, evs[i]->member_forgotten->member_id);
	return rc;
}

/* Queues the group the committing thread replicates, or (blob NULL) an
 * entry without events, for the applier: applied here, stored after. */
static int apply_queued(writer *w, uint64_t index, const uint8_t *blob, size_t len)
{
	pend *p = calloc(1, sizeof(*p));
	if (!p)
		return LD_E(INTERNAL);
	p->index = index;
	pthread_mutex_lock(&w->lock);
	const wgroup *f = w->flight;
	int rc = 0;
	if (blob && (w->flight_state != FLIGHT_COMMITTING || f->g.len != len ||
		     (f->g.buf != blob && memcmp(f->g.buf, blob, len) != 0))) {
		log_error("writer: the entry at raft index %llu is not the group in flight",
			  (unsigned long long)index);
		rc = LD_E(INTERNAL);
	} else if (blob && ((rc = group_copy(&p->g, &f->g)) ||
			    !(p->streams = malloc((f->g.n ? f->g.n : 1) * sizeof(*p->streams))))) {
		rc = LD_E(INTERNAL);
	}
	group_drop_keys(&p->g); /* the store and on_group never see a key */
	if (rc) {
		pthread_mutex_unlock(&w->lock);
		wr_pend_free(p);
		return rc;
	}
	if (blob && w->hold_armed && !w->apply_hold) {
		log_warn("writer: LEDGERD_TEST_APPLY_HOLD: nothing more is written into the log");
		w->apply_hold = 1;
	}
	if (blob) {
		memcpy(p->streams, f->streams, f->g.n * sizeof(*p->streams));
		p->last = f->last;
		memcpy(p->hash, f->hash, LD_HASH_LEN);
		p->recorded_at = f->recorded_at;
	} else {
		p->last = w->seq;
		memcpy(p->hash, w->hash, LD_HASH_LEN);
		p->recorded_at = w->recorded_at;
	}
	wr_pend_queue(w, p);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* Another leader's group (blob; NULL: an entry without events; filled:
 * a bare group whose hashes fill_bare computed), applied here on the
 * calling thread: checked against the head applied (each event the next,
 * chained, its content giving its hash; the last one's hash `last_hash`
 * unless NULL), the members' keys it carries stored, the write
 * model brought up to it, then queued for the applier. Waits until nothing
 * of this writer's own is decided or in flight. 0, LD_E(CHAIN_BROKEN) with
 * why in e (nothing of it applied), or another error. */
static int follow_one(writer *w, uint64_t index, const uint8_t *blob, size_t len, int filled,
		      const uint8_t *last_hash, ld_errinfo *e)
{
	/* Broken (its model took part of a group it refused, or the store
	 * failed): nothing more is taken on top of that model, whose next
	 * group (a catch-up's next page) it might otherwise take; a restart
	 * builds the model again from the log. */
	pthread_mutex_lock(&w->lock);
	int broken = w->broken;
	pthread_mutex_unlock(&w->lock);
	if (broken) {
		ld_errinfo_set(e, LD_E(STORAGE), NULL,
			       "the entry at raft index %llu not applied: this node's write model "
			       "took part of a group it refused, or its store failed; it applies "
			       "nothing more until it restarts",
			       (unsigned long long)index);
		log_error("writer: %s", e->message);
		return LD_E(STORAGE);
	}
	if (!blob)
		return apply_queued(w, index, NULL, 0);
	if (filled && !last_hash)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL,
				      "a group whose hashes were computed here, with no hash to "
				      "check the last against");
	/* Nothing of this writer's own may be decided or in flight. */
	pthread_mutex_lock(&w->lock);
	while (w->flight_state != FLIGHT_NONE || w->open->reqs || w->deciding)
		pthread_cond_wait(&w->idle, &w->lock);
	wr_wait_room_locked(w);
	pthread_mutex_unlock(&w->lock);
	snapshot_wait(w->m);

	uint64_t last = 0;
	uint8_t hash[LD_HASH_LEN];
	int64_t recorded_at = w->recorded_at;
	Ledger__Event **evs = NULL;
	pend *p = NULL;
	keystore_keys *keys = NULL;
	int rc = check_blob(w, blob, len, filled, &last, hash, &recorded_at, &evs, e);
	if (rc == 0 && last_hash && memcmp(hash, last_hash, LD_HASH_LEN) != 0)
		rc = ld_errinfo_set(e, LD_E(CHAIN_BROKEN), NULL,
				    "a replicated group's events end at seq %llu with another hash "
				    "than its entry names",
				    (unsigned long long)last);
	if (rc) {
		log_error("writer: %s", e->message[0] ? e->message : ld_strerror(rc));
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p || group_load(&p->g, blob, len) ||
	    !(p->streams = malloc((p->g.n ? p->g.n : 1) * sizeof(*p->streams)))) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	p->index = index;
	p->last = last;
	memcpy(p->hash, hash, LD_HASH_LEN);
	p->recorded_at = recorded_at;
	/* The members' keys the leader sent, unwrapped (checked) now and
	 * stored (synced) once the group is checked whole, before its events
	 * are (pdata, docs/REPLICATION.md "Personal data across nodes"). */
	if (w->keys && (rc = keystore_unwrap_group(w->keys, &p->g, &keys, e))) {
		log_error("writer: a replicated group from seq %llu not applied: %s; this node "
			  "stops",
			  (unsigned long long)p->g.first, e->message);
		goto out;
	}
	group_drop_keys(&p->g); /* the store and on_group never see a key */
	/* The model follows, as the leader's did; the store after. The keys
	 * are stored, and forgotten members' keys destroyed, only then, the
	 * group checked whole (the model's derivations last): a group refused
	 * changes no key. */
	if ((rc = model_follow(w, p, evs, e))) {
		log_error("writer: the write model does not take the replicated events: %s",
			  e->message[0] ? e->message : ld_strerror(rc));
		if (rc != LD_E(CHAIN_BROKEN)) /* a fork halts; the rest stops the node */
			rc = LD_E(STORAGE);
	} else if ((rc = keystore_store_keys(w->keys, keys, e))) {
		log_error("writer: a replicated group from seq %llu not applied: %s",
			  (unsigned long long)p->g.first, e->message);
		rc = LD_E(STORAGE);
	} else if ((rc = forget_keys(w, evs, p->g.n))) {
		ld_errinfo_set(e, LD_E(STORAGE), NULL,
			       "a replicated group from seq %llu not applied: the keys of the "
			       "members it forgets not destroyed: %s",
			       (unsigned long long)p->g.first, ld_strerror(rc));
		log_error("writer: %s", e->message);
		rc = LD_E(STORAGE);
	}
	if (rc) {
		/* The model holds the group's events, or those before the one
		 * that failed (they are not taken back): no snapshot of it, and
		 * nothing more is decided here; a restart loads it again from
		 * the log. */
		pthread_mutex_lock(&w->lock);
		w->broken = 1;
		pthread_mutex_unlock(&w->lock);
		goto out;
	}
	free(evs);
	keystore_keys_free(keys);
	codec_pool_trim(&w->follow_pool, FOLLOW_POOL_KEEP);
	pthread_mutex_lock(&w->lock);
	wr_pend_queue(w, p);
	w->dseq = last;
	memcpy(w->dhash, hash, LD_HASH_LEN);
	wr_group_open(w, w->open);
	pthread_mutex_unlock(&w->lock);
	return 0;
out:
	free(evs);
	keystore_keys_free(keys);
	codec_pool_trim(&w->follow_pool, FOLLOW_POOL_KEEP);
	if (p)
		wr_pend_free(p);
	return rc;
}

/* Until the follow thread has applied every entry handed to it (lock
 * held): 0, or the error the first that failed met. */
static int follow_wait_locked(writer *w)
{
	while (w->f_head && !w->f_failed)
		pthread_cond_wait(&w->stored_cv, &w->lock);
	return w->f_failed;
}

int writer_apply_entry(writer *w, uint64_t index, const uint8_t *blob, size_t len, int own)
{
	if (own)
		return apply_queued(w, index, blob, len);
	pthread_mutex_lock(&w->lock);
	int rc = follow_wait_locked(w);
	pthread_mutex_unlock(&w->lock);
	if (rc)
		return rc;
	ld_errinfo e = {0};
	if (!blob || !group_is_bare(blob, len))
		return follow_one(w, index, blob, len, 0, NULL, &e);
	/* A bare group (its hashes left out) is checked against the last
	 * hash its entry names, which this path has not (another leader's
	 * entries come through writer_follow_entry): refused. */
	log_error("writer: the entry at raft index %llu is a group without its hashes, applied "
		  "where no entry names its last hash",
		  (unsigned long long)index);
	return LD_E(CHAIN_BROKEN);
}

/* ------------------------------------------------------------------ */
/* Another leader's entries, applied off the replica's thread          */
/* ------------------------------------------------------------------ */

/* An entry waiting for the follow thread: its copy, and the head after it. */
typedef struct follow_entry {
	struct follow_entry *next;
	uint64_t index, last;
	uint8_t hash[LD_HASH_LEN];
	size_t len;
	int events; /* 0: an entry without events (blob unused) */
	uint8_t blob[];
} follow_entry;

static void follow_drop_locked(writer *w)
{
	while (w->f_head) {
		follow_entry *f = w->f_head;
		w->f_head = f->next;
		free(f);
	}
	w->f_tail = NULL;
	w->f_bytes = 0;
}

/* A bare group (blob: its hashes left out, core/group.h) gets them, computed
 * from its events' bytes (*filled = 1); another blob is left as it is. 0,
 * or LD_E(CHAIN_BROKEN) with why in e. */
static int fill_bare(uint8_t *blob, size_t len, int *filled, ld_errinfo *e)
{
	*filled = 0;
	if (!group_is_bare(blob, len))
		return 0;
	char why[160];
	if (group_fill_hashes(blob, len, why, sizeof(why))) {
		ld_errinfo_set(e, LD_E(CHAIN_BROKEN), NULL,
			       "a replicated group without its hashes refused: %s", why);
		log_error("writer: %s", e->message);
		return LD_E(CHAIN_BROKEN);
	}
	*filled = 1;
	return 0;
}

/* The follow thread: another leader's entries, checked and applied here one
 * after the other (follow_one) while the replica's thread goes on taking the
 * next ones from raft. The first that fails stops it: the rest are dropped
 * and the replica halts (writer_follow_settle). */
static void *follow_main(void *arg)
{
	writer *w = arg;
	pthread_setname_np(pthread_self(), "ld-follow");
	wr_no_read_wait = 1;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->follow_stop && !w->f_head)
			pthread_cond_wait(&w->idle, &w->lock);
		if (w->follow_stop)
			break;
		follow_entry *f = w->f_head;
		pthread_mutex_unlock(&w->lock);
		behind_apply();
		ld_errinfo e = {0};
		int filled = 0;
		int rc = f->events ? fill_bare(f->blob, f->len, &filled, &e) : 0;
		if (rc == 0)
			rc = follow_one(w, f->index, f->events ? f->blob : NULL, f->len, filled,
					f->events ? f->hash : NULL, &e);
		pthread_mutex_lock(&w->lock);
		w->f_head = f->next;
		if (!w->f_head)
			w->f_tail = NULL;
		w->f_bytes -= f->len;
		if (rc) {
			w->f_failed = rc;
			w->f_failed_index = f->index;
			snprintf(w->f_why, sizeof(w->f_why), "%s",
				 e.message[0] ? e.message : ld_strerror(rc));
			follow_drop_locked(w);
		}
		free(f);
		pthread_cond_broadcast(&w->stored_cv);
	}
	follow_drop_locked(w);
	pthread_cond_broadcast(&w->stored_cv);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Stops the follow thread: what waits for it is dropped (raft's log holds
 * it; a restart applies it again). */
static void follow_stop(writer *w)
{
	pthread_mutex_lock(&w->lock);
	int started = w->follow_started;
	w->follow_stop = 1;
	pthread_cond_broadcast(&w->idle);
	pthread_mutex_unlock(&w->lock);
	if (started)
		pthread_join(w->follower, NULL);
	pthread_mutex_lock(&w->lock);
	w->follow_started = 0;
	follow_drop_locked(w);
	pthread_cond_broadcast(&w->stored_cv);
	pthread_mutex_unlock(&w->lock);
}

void writer_follow_head(writer *w, uint64_t *seq, uint8_t hash[LD_HASH_LEN], uint64_t *index)
{
	pthread_mutex_lock(&w->lock);
	if (w->f_tail) {
		*seq = w->f_tail->last;
		memcpy(hash, w->f_tail->hash, LD_HASH_LEN);
		*index = w->f_tail->index;
	} else {
		*seq = w->seq;
		memcpy(hash, w->hash, LD_HASH_LEN);
		*index = w->applied_index;
	}
	pthread_mutex_unlock(&w->lock);
}

int writer_follow_entry(writer *w, uint64_t index, const uint8_t *blob, size_t len,
			const uint8_t last_hash[LD_HASH_LEN])
{
	group_reader rd;
	if (blob && group_read_begin(&rd, blob, len) != 0)
		return writer_apply_entry(w, index, blob, len, 0); /* says why */
	pthread_mutex_lock(&w->lock);
	int rc = w->f_failed;
	/* An entry without events, none waiting, is only its raft index: in
	 * order at once (a leader's own checkpoint among its own groups). */
	if (rc == 0 && !blob && !w->f_head) {
		pthread_mutex_unlock(&w->lock);
		return apply_queued(w, index, NULL, 0);
	}
	/* The entry must continue the one before it (its events are checked
	 * on the follow thread). */
	uint64_t seq = w->f_tail ? w->f_tail->last : w->seq;
	const uint8_t *head = w->f_tail ? w->f_tail->hash : w->hash;
	if (rc == 0 && blob && (rd.first != seq + 1 || memcmp(rd.prev, head, LD_HASH_LEN) != 0)) {
		log_error("writer: a replicated group from seq %llu does not follow the log's "
			  "head (seq %llu)",
			  (unsigned long long)rd.first, (unsigned long long)seq);
		rc = LD_E(CHAIN_BROKEN);
	}
	/* What waits to be applied and stored stays within the bound: raft's
	 * own back-pressure acts on the replica's thread. */
	while (rc == 0 && w->f_bytes + w->unstored_bytes > w->unstored_max && w->f_head &&
	       !w->f_failed && !w->follow_stop && !w->stopping) {
		store_wanted(w);
		pthread_cond_wait(&w->stored_cv, &w->lock);
		store_unwanted(w);
		rc = w->f_failed;
	}
	follow_entry *f = NULL;
	if (rc == 0 && !(f = malloc(sizeof(*f) + (blob ? len : 0))))
		rc = LD_E(INTERNAL);
	if (rc == 0 && w->follow_stop)
		rc = LD_E(SHUTTING_DOWN);
	if (rc == 0 && !w->follow_started) {
		if (pthread_create(&w->follower, NULL, follow_main, w) != 0)
			rc = LD_E(INTERNAL);
		else
			w->follow_started = 1;
	}
	if (rc) {
		pthread_mutex_unlock(&w->lock);
		free(f);
		return rc;
	}
	f->next = NULL;
	f->index = index;
	f->events = blob != NULL;
	f->len = blob ? len : 0;
	if (blob) {
		memcpy(f->blob, blob, len);
		f->last = rd.first + rd.count - 1;
		memcpy(f->hash, last_hash, LD_HASH_LEN);
	} else {
		f->last = seq;
		memcpy(f->hash, head, LD_HASH_LEN);
	}
	if (w->f_tail)
		w->f_tail->next = f;
	else
		w->f_head = f;
	w->f_tail = f;
	w->f_bytes += f->len;
	pthread_cond_broadcast(&w->idle);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int writer_follow_settle(writer *w, int wait, uint64_t *index, char *why, size_t n)
{
	pthread_mutex_lock(&w->lock);
	int rc = wait ? follow_wait_locked(w) : w->f_failed;
	if (rc) {
		*index = w->f_failed_index;
		snprintf(why, n, "%s", w->f_why);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}
