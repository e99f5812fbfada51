/*
 * replica.c — the log replicated on C-Raft 0.15 (see replica.h for the
 * contract, docs/REPLICATION.md for the design).
 *
 * Sections: entries and markers; halting; applying (the state machine side
 * of C-Raft: apply, snapshot, restore, catch-up); the leader (barrier,
 * proposals, checkpoints); polling; the libuv node; operations.
 */
#include "replica.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "log.h"

/* The largest entry proposed: C-Raft keeps entries in memory until a
 * snapshot, and sends a follower's backlog in one message. */
#define ENTRY_MAX (64u << 20)
/* Entries queued while catching up to a snapshot marker, at most. Past it the
 * node fails and restarts: C-Raft replays them from its log. */
#define QUEUE_MAX ((size_t)512 << 20)

#define MARKER_LEN 56

struct queued {
	struct queued *next;
	uint64_t index;
	size_t size;
	uint8_t data[];
};

struct proposal {
	struct raft_apply req; /* first: C-Raft hands it back */
	replica *r;
	replica_done_cb cb; /* NULL: a checkpoint */
	void *arg;
};

struct replica {
	const replica_sm_ops *ops;
	void *sm;
	struct raft_fsm fsm;
	struct raft *raft; /* the fixture's, or own_raft */

	/* the libuv node (replica_start) */
	uv_loop_t *loop;
	struct raft_uv_transport transport;
	struct raft_io io;
	int (*o_append)(struct raft_io *, struct raft_io_append *, const struct raft_entry[],
	                unsigned, raft_io_append_cb);
	unsigned test_fail_append; /* LEDGERD_TEST_RAFT_APPEND_FAIL_AT */
	struct raft own_raft;
	uv_check_t check;
	int has_transport, has_io, has_raft, has_check;
	int raft_running; /* raft_start succeeded, raft_close not yet called */
	int close_called; /* raft_close called (once) */
	int raft_closed;  /* its callback ran (or raft never ran) */
	int stopping;
	void (*stop_done)(replica *r, void *arg);
	void *stop_arg;

	unsigned election_ms, checkpoint_ms;
	void (*on_change)(replica *r, void *arg);
	void *arg;
	int notify;

	/* role, as last polled */
	int role;
	uint64_t leader_id;
	/* The leader's way to readiness: a barrier, then everything before it
	 * applied to the log (not just queued while catching up), then the
	 * tail taken from the log. */
	enum { L_NONE, L_BARRIER, L_SENT, L_APPLIED, L_READY } lstate;
	uint64_t lterm; /* the term lstate belongs to */
	int barrier_pending;
	struct raft_barrier barrier;

	/* the tail proposals must follow */
	uint64_t tail_seq;
	uint8_t tail_hash[REPLICA_HASH_LEN];
	unsigned inflight;
	int checkpoint_inflight, checkpoint_due;
	uint64_t last_activity;

	/* catching up to a marker */
	int catching_up, fetch_running;
	uint64_t cu_seq, cu_index, fetch_retry_at;
	uint8_t cu_hash[REPLICA_HASH_LEN];
	uint64_t f_seq; /* the fetch in flight: up to this seq, this hash */
	uint8_t f_hash[REPLICA_HASH_LEN];
	struct queued *q_head, *q_tail;
	size_t q_bytes;

	int halted, failed;
	char reason[320];

	uint64_t snapshot_index, snapshots, checkpoints;
	struct raft_buffer snap_buf;

	struct raft_change change;
	int change_busy;
	replica_done_cb change_cb;
	void *change_arg;
	struct raft_transfer *transfer;
	replica_done_cb transfer_cb;
	void *transfer_arg;
};

static const uint8_t zero_hash[REPLICA_HASH_LEN];

static void maybe_ready(replica *r);

/* ------------------------------------------------------------------ */
/* Entries and markers                                                 */
/* ------------------------------------------------------------------ */

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

size_t replica_entry_size(size_t len)
{
	return (REPLICA_ENTRY_HDR + len + 7) & ~(size_t)7;
}

void replica_entry_encode(const replica_entry *h, const void *events, size_t len, uint8_t *out)
{
	size_t size = replica_entry_size(len);
	memcpy(out, "LDRE", 4);
	put_be(out + 4, 1, 2);
	put_be(out + 6, 0, 2);
	put_be(out + 8, h->first_seq, 8);
	put_be(out + 16, h->count, 4);
	put_be(out + 20, len, 4);
	memcpy(out + 24, h->prev_hash, REPLICA_HASH_LEN);
	memcpy(out + 56, h->last_hash, REPLICA_HASH_LEN);
	if (len)
		memcpy(out + REPLICA_ENTRY_HDR, events, len);
	memset(out + REPLICA_ENTRY_HDR + len, 0, size - REPLICA_ENTRY_HDR - len);
}

int replica_entry_decode(const void *buf, size_t size, replica_entry *h, const uint8_t **events,
                         size_t *len, char *why, size_t n)
{
	const uint8_t *p = buf;
	if (size < REPLICA_ENTRY_HDR || size % 8) {
		snprintf(why, n, "%zu bytes: not a multiple of 8 of at least %d", size,
		         REPLICA_ENTRY_HDR);
		return LD_E(MALFORMED);
	}
	if (memcmp(p, "LDRE", 4) || get_be(p + 4, 2) != 1 || get_be(p + 6, 2) != 0) {
		snprintf(why, n, "not an entry of format 1");
		return LD_E(MALFORMED);
	}
	h->first_seq = get_be(p + 8, 8);
	h->count = (uint32_t)get_be(p + 16, 4);
	size_t l = (size_t)get_be(p + 20, 4);
	memcpy(h->prev_hash, p + 24, REPLICA_HASH_LEN);
	memcpy(h->last_hash, p + 56, REPLICA_HASH_LEN);
	if (replica_entry_size(l) != size) {
		snprintf(why, n, "%zu bytes of events do not fill %zu bytes", l, size);
		return LD_E(MALFORMED);
	}
	for (size_t i = REPLICA_ENTRY_HDR + l; i < size; i++)
		if (p[i]) {
			snprintf(why, n, "padding is not zeros");
			return LD_E(MALFORMED);
		}
	if (h->first_seq == 0) {
		snprintf(why, n, "first seq 0");
		return LD_E(MALFORMED);
	}
	if (h->count == 0 && (l || memcmp(h->prev_hash, h->last_hash, REPLICA_HASH_LEN))) {
		snprintf(why, n, "a checkpoint with events or two hashes");
		return LD_E(MALFORMED);
	}
	*events = p + REPLICA_ENTRY_HDR;
	*len = l;
	return 0;
}

/* A snapshot marker: "LDRS", format 1, the raft index, seq and head hash of
 * a synced state of the log. */
struct marker {
	uint64_t index, seq;
	uint8_t hash[REPLICA_HASH_LEN];
};

static void marker_encode(const struct marker *m, uint8_t out[MARKER_LEN])
{
	memcpy(out, "LDRS", 4);
	put_be(out + 4, 1, 2);
	put_be(out + 6, 0, 2);
	put_be(out + 8, m->index, 8);
	put_be(out + 16, m->seq, 8);
	memcpy(out + 24, m->hash, REPLICA_HASH_LEN);
}

static int marker_decode(const void *buf, size_t len, struct marker *m)
{
	const uint8_t *p = buf;
	if (len != MARKER_LEN || memcmp(p, "LDRS", 4) || get_be(p + 4, 2) != 1)
		return LD_E(MALFORMED);
	m->index = get_be(p + 8, 8);
	m->seq = get_be(p + 16, 8);
	memcpy(m->hash, p + 24, REPLICA_HASH_LEN);
	return 0;
}

/* The first 8 bytes of a hash in hex, for messages. */
static const char *hex8(const uint8_t *h, char out[17])
{
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
	return out;
}

/* ------------------------------------------------------------------ */
/* Halting                                                             */
/* ------------------------------------------------------------------ */

static uint64_t now_ms(replica *r)
{
	return r->raft ? (uint64_t)r->raft->io->time(r->raft->io) : 0;
}

/* Stops applying for good on a fork: a chain this node must not continue. */
static int halt(replica *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int halt(replica *r, const char *fmt, ...)
{
	if (r->halted || r->failed)
		return RAFT_CORRUPT;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof r->reason, fmt, ap);
	va_end(ap);
	r->halted = 1;
	r->notify = 1;
	log_error("replica: HALTED, this node's log forks from the cluster's: %s; it stops "
	          "applying and leaves the cluster until it is re-seeded from a healthy peer",
	          r->reason);
	return RAFT_CORRUPT;
}

/* Stops on an I/O error: the node must be restarted (C-Raft 0.15 does not
 * recover from one reliably). */
static void fail(replica *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(replica *r, const char *fmt, ...)
{
	if (r->halted || r->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof r->reason, fmt, ap);
	va_end(ap);
	r->failed = 1;
	r->notify = 1;
	log_error("replica: FAILED: %s; the node stops and must be restarted", r->reason);
}

static int is_io_error(int status)
{
	return status == RAFT_IOERR || status == RAFT_NOSPACE;
}

/* ------------------------------------------------------------------ */
/* Applying                                                            */
/* ------------------------------------------------------------------ */

/* Checks the entry at raft index `index` against the log and applies it (or
 * skips it, when the log holds it already). 0, or a raft error code after a
 * halt or failure. */
static int apply_entry(replica *r, uint64_t index, const void *data, size_t size)
{
	replica_entry h;
	const uint8_t *events;
	size_t len;
	char why[128], a[17], b[17];
	if (replica_entry_decode(data, size, &h, &events, &len, why, sizeof why))
		return halt(r, "entry %llu cannot be read: %s", (unsigned long long)index, why);

	uint64_t seq, at;
	uint8_t head[REPLICA_HASH_LEN], hash[REPLICA_HASH_LEN];
	r->ops->head(r->sm, &seq, head, &at);
	uint64_t last = h.first_seq + h.count - 1;

	if (index <= at) {
		/* Applied before (a restart replays from the last snapshot):
		 * the log must hold exactly these events. */
		if (last > seq)
			return halt(r,
			            "entry %llu (seq %llu..%llu) was applied before, but the log "
			            "ends at seq %llu",
			            (unsigned long long)index, (unsigned long long)h.first_seq,
			            (unsigned long long)last, (unsigned long long)seq);
		const uint8_t *prev = zero_hash;
		if (h.first_seq > 1) {
			if (r->ops->hash_at(r->sm, h.first_seq - 1, hash)) {
				fail(r, "the log cannot read seq %llu",
				     (unsigned long long)(h.first_seq - 1));
				return RAFT_IOERR;
			}
			prev = hash;
		}
		if (memcmp(prev, h.prev_hash, REPLICA_HASH_LEN))
			return halt(r,
			            "entry %llu replayed: seq %llu's hash is %s in the log, %s in "
			            "the entry",
			            (unsigned long long)index,
			            (unsigned long long)(h.first_seq - 1), hex8(prev, a),
			            hex8(h.prev_hash, b));
		if (h.count) {
			if (r->ops->hash_at(r->sm, last, hash)) {
				fail(r, "the log cannot read seq %llu", (unsigned long long)last);
				return RAFT_IOERR;
			}
			if (memcmp(hash, h.last_hash, REPLICA_HASH_LEN))
				return halt(r,
				            "entry %llu replayed: seq %llu's hash is %s in the "
				            "log, %s in the entry",
				            (unsigned long long)index, (unsigned long long)last,
				            hex8(hash, a), hex8(h.last_hash, b));
		}
		return 0;
	}

	if (h.first_seq != seq + 1 || memcmp(h.prev_hash, head, REPLICA_HASH_LEN))
		return halt(r,
		            "entry %llu starts at seq %llu after hash %s, but the log's head is "
		            "seq %llu with hash %s (applied at index %llu)",
		            (unsigned long long)index, (unsigned long long)h.first_seq,
		            hex8(h.prev_hash, a), (unsigned long long)seq, hex8(head, b),
		            (unsigned long long)at);
	if (h.count == 0) {
		r->checkpoints++;
		return 0;
	}
	int rc = r->ops->apply(r->sm, index, &h, events, len);
	if (rc == LD_E(CHAIN_BROKEN))
		return halt(r,
		            "entry %llu: its events do not chain from seq %llu's hash to the "
		            "hash it names for seq %llu",
		            (unsigned long long)index, (unsigned long long)seq,
		            (unsigned long long)last);
	if (rc) {
		fail(r, "applying entry %llu to the log: %s", (unsigned long long)index,
		     ld_strerror(rc));
		return RAFT_IOERR;
	}
	return 0;
}

static int enqueue(replica *r, uint64_t index, const void *data, size_t size)
{
	if (r->q_bytes + size > QUEUE_MAX) {
		fail(r, "over %zu MiB of entries arrived while catching up to index %llu",
		     QUEUE_MAX >> 20, (unsigned long long)r->cu_index);
		return RAFT_NOMEM;
	}
	struct queued *q = malloc(sizeof *q + size);
	if (!q) {
		fail(r, "out of memory queueing entry %llu", (unsigned long long)index);
		return RAFT_NOMEM;
	}
	q->next = NULL;
	q->index = index;
	q->size = size;
	memcpy(q->data, data, size);
	if (r->q_tail)
		r->q_tail->next = q;
	else
		r->q_head = q;
	r->q_tail = q;
	r->q_bytes += size;
	return 0;
}

static void queue_drop(replica *r, uint64_t upto)
{
	struct queued **pp = &r->q_head, *last = NULL;
	while (*pp) {
		struct queued *q = *pp;
		if (q->index <= upto) {
			*pp = q->next;
			r->q_bytes -= q->size;
			free(q);
		} else {
			last = q;
			pp = &q->next;
		}
	}
	r->q_tail = last;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	replica *r = fsm->data;
	*result = NULL;
	if (r->halted || r->failed)
		return RAFT_CORRUPT;
	/* C-Raft 0.15 passes no index: entries are applied in order and
	 * last_applied moves after each, so this one is the next. */
	uint64_t index = raft_last_applied(r->raft) + 1;
	if (r->catching_up)
		return enqueue(r, index, buf->base, buf->len);
	return apply_entry(r, index, buf->base, buf->len);
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
	replica *r = fsm->data;
	if (r->halted || r->failed || r->catching_up)
		return RAFT_BUSY; /* C-Raft tries again later */
	int rc = r->ops->sync(r->sm);
	if (rc) {
		fail(r, "syncing the log for a snapshot: %s", ld_strerror(rc));
		return RAFT_IOERR;
	}
	struct marker m;
	uint64_t at;
	m.index = raft_last_applied(r->raft);
	r->ops->head(r->sm, &m.seq, m.hash, &at);
	r->snap_buf.base = raft_malloc(MARKER_LEN);
	if (!r->snap_buf.base)
		return RAFT_NOMEM;
	r->snap_buf.len = MARKER_LEN;
	marker_encode(&m, r->snap_buf.base);
	*bufs = &r->snap_buf;
	*n = 1;
	r->snapshot_index = m.index;
	r->snapshots++;
	return 0;
}

/* fsm version 2: the buffers stay ours. */
static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
	replica *r = fsm->data;
	raft_free(r->snap_buf.base);
	r->snap_buf.base = NULL;
	*bufs = NULL;
	*n = 0;
	return 0;
}

static void fetch_start(replica *r)
{
	r->fetch_running = 1;
	r->f_seq = r->cu_seq;
	memcpy(r->f_hash, r->cu_hash, REPLICA_HASH_LEN);
	int rc = r->ops->fetch(r->sm, r->cu_seq, r->cu_hash, r->cu_index);
	if (rc) {
		r->fetch_running = 0;
		r->fetch_retry_at = now_ms(r) + r->election_ms;
		log_warn("replica: cannot fetch events up to seq %llu: %s; retrying",
		         (unsigned long long)r->cu_seq, ld_strerror(rc));
	}
}

/* A marker: C-Raft restores the last snapshot at start, and a follower
 * installs one sent by the leader. Either the log holds the marker's state
 * (check it), or it must catch up to it. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	replica *r = fsm->data;
	struct marker m;
	char a[17], b[17];
	if (r->halted || r->failed)
		return RAFT_CORRUPT;
	if (marker_decode(buf->base, buf->len, &m))
		return halt(r, "a snapshot marker of %zu bytes cannot be read", buf->len);
	uint64_t seq, at;
	uint8_t head[REPLICA_HASH_LEN], hash[REPLICA_HASH_LEN];
	r->ops->head(r->sm, &seq, head, &at);
	r->snapshot_index = m.index;
	if (m.seq <= seq) {
		const uint8_t *have = zero_hash;
		if (m.seq) {
			if (r->ops->hash_at(r->sm, m.seq, hash)) {
				fail(r, "the log cannot read seq %llu", (unsigned long long)m.seq);
				return RAFT_IOERR;
			}
			have = hash;
		}
		if (memcmp(have, m.hash, REPLICA_HASH_LEN))
			return halt(r,
			            "snapshot at index %llu: seq %llu's hash is %s, the log has %s",
			            (unsigned long long)m.index, (unsigned long long)m.seq,
			            hex8(m.hash, a), hex8(have, b));
		if (seq > m.seq && at < m.index)
			return halt(
			    r,
			    "snapshot at index %llu ends at seq %llu, but the log holds seq "
			    "%llu from index %llu or earlier",
			    (unsigned long long)m.index, (unsigned long long)m.seq,
			    (unsigned long long)seq, (unsigned long long)at);
		/* An installed snapshot replaces raft's log: from now on the
		 * log's own copy of those events is the node's only one. */
		int rc = r->ops->sync(r->sm);
		if (rc) {
			fail(r, "syncing the log for a snapshot: %s", ld_strerror(rc));
			return RAFT_IOERR;
		}
		raft_free(buf->base);
		return 0;
	}
	log_info("replica: snapshot at index %llu is ahead of the log (seq %llu > %llu): "
	         "fetching the events from a peer",
	         (unsigned long long)m.index, (unsigned long long)m.seq, (unsigned long long)seq);
	queue_drop(r, m.index);
	r->catching_up = 1;
	r->cu_seq = m.seq;
	r->cu_index = m.index;
	memcpy(r->cu_hash, m.hash, REPLICA_HASH_LEN);
	r->notify = 1;
	raft_free(buf->base);
	if (!r->fetch_running)
		fetch_start(r);
	return 0;
}

void replica_fetched(replica *r, int status)
{
	r->fetch_running = 0;
	if (!r->catching_up || r->halted || r->failed)
		return;
	if (status) {
		r->fetch_retry_at = now_ms(r) + r->election_ms;
		log_warn("replica: fetching events up to seq %llu failed: %s; retrying",
		         (unsigned long long)r->cu_seq, ld_strerror(status));
		return;
	}
	uint64_t seq, at;
	uint8_t head[REPLICA_HASH_LEN];
	char a[17], b[17];
	r->ops->head(r->sm, &seq, head, &at);
	if (seq != r->f_seq || memcmp(head, r->f_hash, REPLICA_HASH_LEN)) {
		halt(r, "the fetch ended at seq %llu with hash %s, not the marker's seq %llu, %s",
		     (unsigned long long)seq, hex8(head, a), (unsigned long long)r->f_seq,
		     hex8(r->f_hash, b));
		return;
	}
	if (seq != r->cu_seq) {
		/* a newer snapshot was installed meanwhile: on to it */
		fetch_start(r);
		return;
	}
	r->catching_up = 0;
	r->notify = 1;
	log_info("replica: caught up to seq %llu (index %llu)", (unsigned long long)seq,
	         (unsigned long long)r->cu_index);
	while (r->q_head && !r->halted && !r->failed) {
		struct queued *q = r->q_head;
		r->q_head = q->next;
		if (!r->q_head)
			r->q_tail = NULL;
		r->q_bytes -= q->size;
		apply_entry(r, q->index, q->data, q->size);
		free(q);
	}
	maybe_ready(r);
}

/* ------------------------------------------------------------------ */
/* The leader                                                          */
/* ------------------------------------------------------------------ */

static int is_ready(replica *r)
{
	return r->lstate == L_READY && !r->catching_up && !r->halted && !r->failed;
}

/* Once the barrier applied and nothing is left queued, the log's head is
 * the tail: ready. */
static void maybe_ready(replica *r)
{
	if (r->lstate != L_APPLIED || r->catching_up || r->halted || r->failed)
		return;
	uint64_t at;
	r->ops->head(r->sm, &r->tail_seq, r->tail_hash, &at);
	r->lstate = L_READY;
	r->checkpoint_due = 1;
	r->notify = 1;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	replica *r = (replica *)((char *)req - offsetof(replica, barrier));
	r->barrier_pending = 0;
	if (is_io_error(status)) {
		fail(r, "the election barrier: %s", raft_strerror(status));
		return;
	}
	if (r->lstate != L_SENT)
		return; /* sent in a leadership lost since */
	if (status || raft_state(r->raft) != RAFT_LEADER || r->raft->current_term != r->lterm) {
		r->lstate = L_BARRIER;
		return;
	}
	r->lstate = L_APPLIED;
	maybe_ready(r);
}

static void proposal_cb(struct raft_apply *req, int status, void *result)
{
	struct proposal *p = (struct proposal *)req;
	replica *r = p->r;
	(void)result;
	r->inflight--;
	int rc = 0;
	if (status) {
		if (is_io_error(status))
			fail(r, "appending an entry: %s", raft_strerror(status));
		rc = REPLICA_E_UNKNOWN; /* on the other nodes it may be committed */
		/* What follows the failed entry is unknown: rebase the tail on
		 * the log once a barrier has applied again. */
		if (r->lstate != L_NONE)
			r->lstate = L_BARRIER;
		r->notify = 1;
	}
	if (p->cb)
		p->cb(r, rc, rc ? 0 : p->req.index, p->arg);
	else
		r->checkpoint_inflight = 0;
	free(p);
}

static int submit(replica *r, const replica_entry *h, const void *events, size_t len,
                  replica_done_cb cb, void *arg)
{
	size_t size = replica_entry_size(len);
	struct proposal *p = calloc(1, sizeof *p);
	struct raft_buffer b = {raft_malloc(size), size};
	if (!p || !b.base) {
		free(p);
		raft_free(b.base);
		return LD_E(INTERNAL);
	}
	replica_entry_encode(h, events, len, b.base);
	p->r = r;
	p->cb = cb;
	p->arg = arg;
	p->req.data = p;
	int rv = raft_apply(r->raft, &p->req, &b, 1, proposal_cb);
	if (rv) {
		raft_free(b.base);
		free(p);
		if (rv == RAFT_NOTLEADER || rv == RAFT_LEADERSHIPLOST)
			return REPLICA_E_NOT_LEADER;
		if (is_io_error(rv)) {
			fail(r, "appending an entry: %s", raft_strerror(rv));
			return REPLICA_E_HALTED;
		}
		return LD_E(INTERNAL);
	}
	r->inflight++;
	r->tail_seq = h->first_seq + h->count - 1;
	memcpy(r->tail_hash, h->last_hash, REPLICA_HASH_LEN);
	r->last_activity = now_ms(r);
	return 0;
}

int replica_propose(replica *r, const replica_entry *h, const void *events, size_t len,
                    replica_done_cb cb, void *arg, ld_errinfo *e)
{
	char a[17], b[17];
	if (r->halted || r->failed)
		return ld_errinfo_set(e, REPLICA_E_HALTED, NULL, "this node halted: %s", r->reason);
	if (!r->raft || r->role != REPLICA_LEADER)
		return ld_errinfo_set(e, REPLICA_E_NOT_LEADER, NULL, "not the leader");
	if (!is_ready(r))
		return ld_errinfo_set(e, LD_E(BUSY), NULL,
		                      "the leader is applying its election barrier");
	if (len > ENTRY_MAX)
		return ld_errinfo_set(e, LD_E(TOO_LARGE), NULL, "%zu bytes of events in one entry",
		                      len);
	if (h->count == 0 && (len || memcmp(h->prev_hash, h->last_hash, REPLICA_HASH_LEN)))
		return ld_errinfo_set(
		    e, LD_E(INVALID_VALUE), NULL,
		    "an entry without events carries neither events nor a new hash");
	if (h->first_seq != r->tail_seq + 1 || memcmp(h->prev_hash, r->tail_hash, REPLICA_HASH_LEN))
		return ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
		                      "the entry starts at seq %llu after hash %s; the tail is "
		                      "seq %llu, hash %s",
		                      (unsigned long long)h->first_seq, hex8(h->prev_hash, a),
		                      (unsigned long long)r->tail_seq, hex8(r->tail_hash, b));
	int rc = submit(r, h, events, len, cb, arg);
	if (rc)
		return ld_errinfo_set(e, rc, NULL, "raft refused the entry");
	return 0;
}

void replica_tail(replica *r, uint64_t *seq, uint8_t hash[REPLICA_HASH_LEN])
{
	*seq = r->tail_seq;
	memcpy(hash, r->tail_hash, REPLICA_HASH_LEN);
}

/* A checkpoint: no events, the tail as prev_hash. Every follower whose head
 * differs halts on it; the leader proposes one once its barrier applied and
 * after each idle period. */
static void checkpoint(replica *r)
{
	replica_entry h = {.first_seq = r->tail_seq + 1, .count = 0};
	memcpy(h.prev_hash, r->tail_hash, REPLICA_HASH_LEN);
	memcpy(h.last_hash, r->tail_hash, REPLICA_HASH_LEN);
	if (submit(r, &h, NULL, 0, NULL, NULL) == 0) {
		r->checkpoint_inflight = 1;
		r->checkpoint_due = 0;
	}
}

/* ------------------------------------------------------------------ */
/* Polling                                                             */
/* ------------------------------------------------------------------ */

static int role_of(replica *r)
{
	if (r->halted)
		return REPLICA_HALTED;
	if (r->failed)
		return REPLICA_FAILED;
	if (!r->raft)
		return REPLICA_STOPPED;
	switch (raft_state(r->raft)) {
	case RAFT_FOLLOWER:
		return REPLICA_FOLLOWER;
	case RAFT_CANDIDATE:
		return REPLICA_CANDIDATE;
	case RAFT_LEADER:
		return REPLICA_LEADER;
	default:
		return REPLICA_STOPPED;
	}
}

static void raft_closed_cb(struct raft *raft);

/* raft_close, once for every raft_init (started or not). */
static void close_raft(replica *r)
{
	r->raft_running = 0;
	if (r->close_called)
		return;
	r->close_called = 1;
	raft_close(r->raft, raft_closed_cb);
}

void replica_poll(replica *r)
{
	if (!r->raft)
		return;
	int st = raft_state(r->raft);
	/* C-Raft turns itself off after an error it cannot handle (a failed
	 * write on a follower, say). In the fixture its owner checks. */
	if (r->loop && r->raft_running && st == RAFT_UNAVAILABLE)
		fail(r, "raft stopped on its own: %s", raft_errmsg(r->raft));

	int role = role_of(r);
	if (role != r->role)
		r->notify = 1;
	r->role = role;
	if (role != REPLICA_LEADER) {
		r->lstate = L_NONE;
	} else if (r->lstate == L_NONE || r->lterm != r->raft->current_term) {
		/* a leadership won (maybe lost and won again between polls) */
		r->lstate = L_BARRIER;
		r->lterm = r->raft->current_term;
		r->notify = 1;
	}
	raft_id lid = 0;
	const char *laddr = NULL;
	if (st != RAFT_UNAVAILABLE)
		raft_leader(r->raft, &lid, &laddr);
	if (lid != r->leader_id) {
		r->leader_id = lid;
		r->notify = 1;
	}

	if (role == REPLICA_LEADER) {
		/* One barrier at a time: 0.15 mishandles overlapping ones. */
		if (r->lstate == L_BARRIER && !r->barrier_pending) {
			memset(&r->barrier, 0, sizeof r->barrier);
			r->barrier.data = r;
			int rv = raft_barrier(r->raft, &r->barrier, barrier_cb);
			if (rv == 0) {
				r->barrier_pending = 1;
				r->lstate = L_SENT;
			} else if (is_io_error(rv)) {
				fail(r, "the election barrier: %s", raft_strerror(rv));
			}
		}
		maybe_ready(r);
		if (is_ready(r) && !r->checkpoint_inflight &&
		    (r->checkpoint_due || now_ms(r) - r->last_activity >= r->checkpoint_ms))
			checkpoint(r);
	}

	if (r->catching_up && !r->fetch_running && !r->halted && !r->failed &&
	    now_ms(r) >= r->fetch_retry_at)
		fetch_start(r);

	/* A halted or failed node stops its raft instance: it must neither vote
	 * nor lead. In the fixture, its owner does. */
	if ((r->halted || r->failed) && r->loop && r->raft_running)
		close_raft(r);

	if (r->notify) {
		r->notify = 0;
		if (r->on_change)
			r->on_change(r, r->arg);
	}
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

int replica_new(replica **out, const replica_sm_ops *ops, void *sm)
{
	replica *r = calloc(1, sizeof *r);
	if (!r)
		return LD_E(INTERNAL);
	r->ops = ops;
	r->sm = sm;
	r->fsm.version = 2; /* 3 (async snapshots) fails with raft_uv in 0.15 */
	r->fsm.data = r;
	r->fsm.apply = fsm_apply;
	r->fsm.snapshot = fsm_snapshot;
	r->fsm.restore = fsm_restore;
	r->fsm.snapshot_finalize = fsm_snapshot_finalize;
	r->fsm.snapshot_async = NULL;
	r->election_ms = 3000;
	r->checkpoint_ms = 3000;
	r->raft_closed = 1;
	uint64_t at;
	ops->head(sm, &r->tail_seq, r->tail_hash, &at);
	*out = r;
	return 0;
}

void replica_free(replica *r)
{
	if (!r)
		return;
	queue_drop(r, UINT64_MAX);
	free(r->transfer);
	free(r);
}

struct raft_fsm *replica_fsm(replica *r)
{
	return &r->fsm;
}

static void take_options(replica *r, const replica_options *o)
{
	if (!o)
		return;
	if (o->election_ms)
		r->election_ms = o->election_ms;
	r->checkpoint_ms = o->checkpoint_ms ? o->checkpoint_ms : r->election_ms;
	r->on_change = o->on_change;
	r->arg = o->arg;
}

void replica_bind(replica *r, struct raft *raft, const replica_options *o)
{
	r->raft = raft;
	take_options(r, o);
	if (!(o && o->election_ms))
		r->election_ms = raft->election_timeout;
	if (!(o && o->checkpoint_ms))
		r->checkpoint_ms = r->election_ms;
	r->last_activity = now_ms(r);
}

/* Raft traffic is plain TCP: the address must be one that only the cluster's
 * machines reach (loopback, RFC 1918, 100.64/10 as WireGuard and CGNAT use,
 * link local). Returns 0, or -1 with why. */
static int private_address(const char *address, char *why, size_t n)
{
	char host[64];
	const char *colon = strrchr(address, ':');
	if (!colon || colon == address || (size_t)(colon - address) >= sizeof host || !colon[1]) {
		snprintf(why, n, "'%s' is not A.B.C.D:PORT", address);
		return -1;
	}
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	struct in_addr a;
	if (*end || port < 1 || port > 65535 || inet_pton(AF_INET, host, &a) != 1) {
		snprintf(why, n, "'%s' is not A.B.C.D:PORT (C-Raft's TCP is IPv4 only)", address);
		return -1;
	}
	uint32_t ip = ntohl(a.s_addr);
	if ((ip >> 24) == 127 || (ip >> 24) == 10 || (ip >> 20) == 0xac1 /* 172.16/12 */ ||
	    (ip >> 16) == 0xc0a8 /* 192.168/16 */ || (ip >> 22) == 0x191 /* 100.64/10 */ ||
	    (ip >> 16) == 0xa9fe /* 169.254/16 */)
		return 0;
	snprintf(why, n,
	         "'%s' is not a private address: raft's peer traffic has no TLS and no "
	         "authentication, so it must stay on a network only the cluster reaches "
	         "(docs/REPLICATION.md)",
	         address);
	return -1;
}

/*
 * raft_uv's writes, watched: C-Raft 0.15's handling of a failed write on a
 * leader truncates its in-memory log under the other writes in flight and
 * crashes or corrupts it (seen in the simulation). So a failed write never
 * reaches it: the node fails (and is closed by the next poll), and every
 * later completion is swallowed too. The writes are matched to their
 * replica through one list, as the callback only gets the request.
 */
struct watched {
	struct raft_io_append *req;
	raft_io_append_cb cb;
	replica *r;
	struct watched *next;
};
static pthread_mutex_t watched_lock = PTHREAD_MUTEX_INITIALIZER;
static struct watched *watched;

static struct watched *watched_take(struct raft_io_append *req)
{
	pthread_mutex_lock(&watched_lock);
	struct watched **pp = &watched, *w = NULL;
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->req == req) {
			w = *pp;
			*pp = w->next;
			break;
		}
	pthread_mutex_unlock(&watched_lock);
	return w;
}

static void io_append_cb(struct raft_io_append *req, int status)
{
	struct watched *w = watched_take(req);
	if (!w)
		abort(); /* a completion for a write never submitted: a bug */
	replica *r = w->r;
	raft_io_append_cb cb = w->cb;
	free(w);
	if (r->test_fail_append && --r->test_fail_append == 0)
		status = RAFT_IOERR;
	if (status)
		fail(r, "writing raft's log: %s", raft_strerror(status));
	if (r->failed || r->halted)
		return;
	cb(req, status);
}

static int io_append(struct raft_io *io, struct raft_io_append *req,
                     const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
	replica *r = (replica *)((char *)io - offsetof(replica, io));
	if (r->failed)
		return RAFT_IOERR;
	struct watched *w = malloc(sizeof *w);
	if (!w)
		return RAFT_NOMEM;
	w->req = req;
	w->cb = cb;
	w->r = r;
	pthread_mutex_lock(&watched_lock);
	w->next = watched;
	watched = w;
	pthread_mutex_unlock(&watched_lock);
	int rv = r->o_append(io, req, entries, n, io_append_cb);
	if (rv)
		free(watched_take(req));
	return rv;
}

static void poll_cb(uv_check_t *h)
{
	replica_poll(h->data);
}

static void finish_stop(replica *r)
{
	if (r->stop_done)
		r->stop_done(r, r->stop_arg);
}

static void check_closed_cb(uv_handle_t *h)
{
	replica *r = h->data;
	r->has_check = 0;
	finish_stop(r);
}

static void close_check(replica *r)
{
	if (r->has_check) {
		uv_check_stop(&r->check);
		uv_close((uv_handle_t *)&r->check, check_closed_cb);
	} else {
		finish_stop(r);
	}
}

static void raft_closed_cb(struct raft *raft)
{
	replica *r = raft->data;
	r->raft_closed = 1;
	r->has_raft = 0;
	if (r->has_io)
		raft_uv_close(&r->io);
	if (r->has_transport)
		raft_uv_tcp_close(&r->transport);
	r->has_io = r->has_transport = 0;
	if (r->stopping)
		close_check(r);
}

int replica_start(replica *r, uv_loop_t *loop, const replica_options *o, ld_errinfo *e)
{
	char why[256];
	int rv;
	if (!o->id || !o->address || !o->dir)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "raft",
		                      "id, address and dir are needed");
	if (private_address(o->address, why, sizeof why))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "raft.address", "%s", why);
	if (mkdir(o->dir, 0700) && errno != EEXIST)
		return ld_errinfo_set(e, LD_E(STORAGE), "raft.dir", "cannot create '%s': %s",
		                      o->dir, strerror(errno));
	r->loop = loop;
	take_options(r, o);
	if (!o->election_ms)
		r->election_ms = 3000;
	if (!o->checkpoint_ms)
		r->checkpoint_ms = r->election_ms;

	if ((rv = raft_uv_tcp_init(&r->transport, loop)))
		return ld_errinfo_set(e, LD_E(INTERNAL), "raft", "raft_uv_tcp_init: %s",
		                      raft_strerror(rv));
	r->has_transport = 1;
	if ((rv = raft_uv_init(&r->io, loop, o->dir, &r->transport)))
		return ld_errinfo_set(e, LD_E(STORAGE), "raft.dir", "'%s': %s", o->dir,
		                      r->io.errmsg);
	r->has_io = 1;
	r->o_append = r->io.append;
	r->io.append = io_append;
	const char *t = getenv("LEDGERD_TEST_RAFT_APPEND_FAIL_AT");
	r->test_fail_append = t ? (unsigned)strtoul(t, NULL, 10) : 0;
	/* By default 0.15 renames a segment it cannot read out of the way and
	 * starts without its entries: a silent loss. Refuse to start instead. */
	raft_uv_set_auto_recovery(&r->io, false);
	if ((rv = raft_init(&r->own_raft, &r->io, &r->fsm, o->id, o->address)))
		return ld_errinfo_set(e, LD_E(INTERNAL), "raft", "raft_init: %s",
		                      raft_errmsg(&r->own_raft));
	r->has_raft = 1;
	r->raft_closed = 0;
	r->raft = &r->own_raft;
	r->own_raft.data = r;
	unsigned hb = o->heartbeat_ms ? o->heartbeat_ms : r->election_ms / 6;
	raft_set_election_timeout(r->raft, r->election_ms);
	raft_set_heartbeat_timeout(r->raft, hb ? hb : 1);
	/* A follower may start an election while it installs a snapshot: give
	 * installs time. */
	raft_set_install_snapshot_timeout(r->raft, 10 * r->election_ms);
	raft_set_snapshot_threshold(r->raft, o->snapshot_threshold ? o->snapshot_threshold : 1024);
	raft_set_snapshot_trailing(r->raft, o->snapshot_trailing ? o->snapshot_trailing : 8192);
	raft_set_pre_vote(r->raft, true);

	if (o->bootstrap_n) {
		struct raft_configuration conf;
		raft_configuration_init(&conf);
		for (unsigned i = 0; i < o->bootstrap_n && rv == 0; i++) {
			if (private_address(o->bootstrap_addresses[i], why, sizeof why)) {
				raft_configuration_close(&conf);
				return ld_errinfo_set(e, LD_E(INVALID_VALUE), "raft.peers", "%s",
				                      why);
			}
			rv = raft_configuration_add(&conf, o->bootstrap_ids[i],
			                            o->bootstrap_addresses[i], RAFT_VOTER);
		}
		if (rv == 0)
			rv = raft_bootstrap(r->raft, &conf);
		raft_configuration_close(&conf);
		if (rv && rv != RAFT_CANTBOOTSTRAP)
			return ld_errinfo_set(
			    e, rv == RAFT_IOERR ? LD_E(STORAGE) : LD_E(INVALID_VALUE), "raft.peers",
			    "bootstrap: %s", raft_errmsg(r->raft));
	}
	if ((rv = raft_start(r->raft))) {
		if (r->halted)
			return ld_errinfo_set(e, LD_E(CHAIN_BROKEN), "raft", "%s", r->reason);
		return ld_errinfo_set(e, LD_E(STORAGE), "raft.dir", "'%s': %s", o->dir,
		                      raft_errmsg(r->raft));
	}
	r->raft_running = 1;
	r->last_activity = now_ms(r);
	uv_check_init(loop, &r->check);
	r->check.data = r;
	r->has_check = 1;
	uv_check_start(&r->check, poll_cb);
	return 0;
}

void replica_stop(replica *r, void (*done)(replica *r, void *arg), void *arg)
{
	r->stop_done = done;
	r->stop_arg = arg;
	r->stopping = 1;
	if (r->has_raft) {
		/* raft_closed_cb finishes (after a halt it is closing already). */
		close_raft(r);
		return;
	}
	if (r->has_io)
		raft_uv_close(&r->io);
	if (r->has_transport)
		raft_uv_tcp_close(&r->transport);
	r->has_io = r->has_transport = 0;
	close_check(r);
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */
/* ------------------------------------------------------------------ */

const char *replica_role_name(int role)
{
	static const char *const names[] = {
	    [REPLICA_STOPPED] = "stopped",     [REPLICA_FOLLOWER] = "follower",
	    [REPLICA_CANDIDATE] = "candidate", [REPLICA_LEADER] = "leader",
	    [REPLICA_HALTED] = "halted",       [REPLICA_FAILED] = "failed",
	};
	return role >= 0 && role <= REPLICA_FAILED ? names[role] : "unknown";
}

void replica_status_get(replica *r, replica_status *st)
{
	memset(st, 0, sizeof *st);
	st->role = role_of(r);
	st->ready = is_ready(r);
	st->catching_up = r->catching_up;
	r->ops->head(r->sm, &st->log_seq, st->log_hash, &st->log_index);
	st->snapshot_index = r->snapshot_index;
	st->snapshots = r->snapshots;
	st->checkpoints = r->checkpoints;
	snprintf(st->reason, sizeof st->reason, "%s", r->reason);
	if (!r->raft || (r->loop && r->raft_closed))
		return;
	struct raft *raft = r->raft;
	st->id = raft->id;
	raft_id lid = 0;
	const char *laddr = NULL;
	if (raft_state(raft) != RAFT_UNAVAILABLE)
		raft_leader(raft, &lid, &laddr);
	st->leader_id = lid;
	snprintf(st->leader_address, sizeof st->leader_address, "%s", laddr ? laddr : "");
	st->last_index = raft_last_index(raft);
	st->applied_index = raft_last_applied(raft);
	/* 0.15 has no getters for these: with the configuration below and
	 * current_term in replica_poll, the only fields of struct raft this file
	 * reads (renamed after 0.15; Debian 12 ships 0.15). */
	st->term = raft->current_term;
	st->commit_index = raft->commit_index;
	for (unsigned i = 0; i < raft->configuration.n && i < REPLICA_MAX_NODES; i++) {
		const struct raft_server *s = &raft->configuration.servers[i];
		st->nodes[i].id = s->id;
		snprintf(st->nodes[i].address, sizeof st->nodes[i].address, "%s", s->address);
		st->nodes[i].voter = s->role == RAFT_VOTER ? 1 : s->role == RAFT_STANDBY ? 0 : -1;
		st->n_nodes = i + 1;
	}
}

static void change_cb(struct raft_change *req, int status)
{
	replica *r = req->data;
	r->change_busy = 0;
	if (is_io_error(status))
		fail(r, "a membership change: %s", raft_strerror(status));
	int rc = status == 0                                                 ? 0
	         : status == RAFT_NOTLEADER || status == RAFT_LEADERSHIPLOST ? REPLICA_E_UNKNOWN
	         : r->failed                                                 ? REPLICA_E_HALTED
	                                                                     : LD_E(INVALID_STATE);
	if (r->change_cb)
		r->change_cb(r, rc, 0, r->change_arg);
}

static int change_result(replica *r, int rv)
{
	if (rv == 0) {
		r->change_busy = 1;
		return 0;
	}
	if (rv == RAFT_NOTLEADER)
		return REPLICA_E_NOT_LEADER;
	if (rv == RAFT_CANTCHANGE)
		return LD_E(BUSY);
	return LD_E(INVALID_VALUE);
}

static int change_check(replica *r, replica_done_cb cb, void *arg)
{
	if (r->halted || r->failed)
		return REPLICA_E_HALTED;
	if (!r->raft || role_of(r) != REPLICA_LEADER)
		return REPLICA_E_NOT_LEADER;
	if (r->change_busy)
		return LD_E(BUSY);
	memset(&r->change, 0, sizeof r->change);
	r->change.data = r;
	r->change_cb = cb;
	r->change_arg = arg;
	return 0;
}

int replica_add(replica *r, uint64_t id, const char *address, replica_done_cb cb, void *arg)
{
	char why[256];
	int rc = change_check(r, cb, arg);
	if (rc)
		return rc;
	if (!id || (r->loop && private_address(address, why, sizeof why)))
		return LD_E(INVALID_VALUE);
	/* C-Raft adds a spare; a stand-by replicates. */
	return change_result(r, raft_add(r->raft, &r->change, id, address, change_cb));
}

int replica_assign(replica *r, uint64_t id, int voter, replica_done_cb cb, void *arg)
{
	int rc = change_check(r, cb, arg);
	if (rc)
		return rc;
	return change_result(
	    r, raft_assign(r->raft, &r->change, id, voter ? RAFT_VOTER : RAFT_STANDBY, change_cb));
}

int replica_remove(replica *r, uint64_t id, replica_done_cb cb, void *arg)
{
	int rc = change_check(r, cb, arg);
	if (rc)
		return rc;
	return change_result(r, raft_remove(r->raft, &r->change, id, change_cb));
}

static void transfer_cb(struct raft_transfer *req)
{
	replica *r = req->data;
	uint64_t want = req->id;
	raft_id lid = 0;
	const char *laddr = NULL;
	if (raft_state(r->raft) != RAFT_UNAVAILABLE)
		raft_leader(r->raft, &lid, &laddr);
	int ok = lid && lid != r->raft->id && (!want || lid == want);
	/* Freed only now: 0.15 may still use it until this callback. */
	free(r->transfer);
	r->transfer = NULL;
	if (r->transfer_cb)
		r->transfer_cb(r, ok ? 0 : LD_E(BUSY), 0, r->transfer_arg);
}

int replica_transfer(replica *r, uint64_t id, replica_done_cb cb, void *arg)
{
	if (r->halted || r->failed)
		return REPLICA_E_HALTED;
	if (!r->raft || role_of(r) != REPLICA_LEADER)
		return REPLICA_E_NOT_LEADER;
	if (r->transfer)
		return LD_E(BUSY);
	r->transfer = calloc(1, sizeof *r->transfer);
	if (!r->transfer)
		return LD_E(INTERNAL);
	r->transfer->data = r;
	r->transfer_cb = cb;
	r->transfer_arg = arg;
	int rv = raft_transfer(r->raft, r->transfer, id, transfer_cb);
	if (rv) {
		free(r->transfer);
		r->transfer = NULL;
		return rv == RAFT_NOTLEADER ? REPLICA_E_NOT_LEADER : LD_E(INVALID_VALUE);
	}
	return 0;
}
