/* cluster.c — the replica between the writer and the other nodes. See
 * cluster.h. */
#include "cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "behind.h"
#include "catchup.h"
#include "clock.h"
#include "group.h"
#include "log.h"
#include "membership.h"
#include "peer.h"

/* The group the writer handed over (one at a time: the writer replicates
 * one group while it decides the next). Owned by the cluster: freed when
 * the replica has answered it, which may be after the writer was told
 * ("outcome unknown" when another leader's entry came first). */
typedef struct prop {
	struct cluster *c;
	const uint8_t *blob; /* the writer's, valid until it is told */
	size_t len;
	replica_entry h; /* its header, once proposed */
	writer_replicated_fn done; /* the writer told, once */
	void *ctx;
	int own_applied; /* written into this log as this node's own */
	int detached;    /* the writer was told; the replica's answer frees it */
} prop;

/* What the writer is told once the cluster's lock is let go (at most the
 * queued group and the one in flight). */
typedef struct told {
	unsigned n;
	struct {
		writer_replicated_fn done;
		void *ctx;
		int status;
	} t[2];
} told;

struct cluster {
	uint64_t id;
	cluster_peer peers[CLUSTER_MAX_PEERS];
	unsigned npeers;
	char dir[4096];
	unsigned election_ms;
	cluster_options o; /* snapshot settings, TLS for the catch-up */
	catchup *cu;       /* sm->fetch (daemon/catchup.h) */
	membership *mb;    /* the operator's changes (daemon/membership.h) */
	store *s;
	writer *w;
	replica *rep;

	pthread_t thread;
	int started;
	uv_loop_t loop;
	/* The loop's wake-up (a proposal queued, or stop): an eventfd the loop
	 * polls, written once until the loop takes it (wake_pending), not a
	 * uv_async_t: libuv 1.44's uv_async_send sets its handle busy, writes
	 * its eventfd and only then sets it done, and the loop it woke spins
	 * (then yields) until it is done, the sender still in its write: a
	 * quarter of raft's loop's user time for one client appending one
	 * event at a time (docs/LIBRARIES.md, "libuv"). */
	int wake_fd;
	atomic_int wake_pending;
	uv_poll_t wake;
	uv_timer_t tick;  /* the status copied out */
	uv_timer_t linger; /* the writer's next group's wait (writer_linger_left) */

	/* Under lock: between the committing thread and the loop. */
	pthread_mutex_t lock;
	pthread_cond_t answered; /* the group in flight answered (cluster_stop) */
	/* stopping: no more groups taken (cluster_stop); stop_replica: the
	 * loop stops the replica, asked once the group in flight is answered
	 * (a wake-up of the loop still pending from before is no such ask). */
	int leading, stopping, stop_replica, replica_stopped;
	int test_stop_wake; /* LEDGERD_TEST_STOP_WAKE (cluster_stop) */
	prop *queued;       /* waiting for the loop to propose it */
	prop *inflight;     /* proposed, not answered to the writer yet */
	replica_status st;  /* as of the last change or tick */
	uint64_t last_leader;
	int last_elected; /* the last status: elected, not ready */
	int failed; /* an I/O error stopped the replica: the daemon exits */
	int have_st;
	pthread_cond_t status; /* st copied (cluster_final_marker waits on it) */
	int marker_asked, marker_answered; /* cluster_final_marker's question */
	uint64_t marker_at; /* and the loop's answer (replica_final_marker) */

	/* The loop's: the group proposed, its hashes left out (bare). */
	uint8_t *bare;
	size_t bare_cap;
};

/* Wakes the loop (on_wake): one write until the loop takes it. */
static void wake_loop(cluster *c)
{
	if (atomic_exchange(&c->wake_pending, 1))
		return;
	uint64_t one = 1;
	while (write(c->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* What of the bare copy is kept between groups: a batch's group or two. */
#define BARE_KEEP ((size_t)4 << 20)

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

int cluster_parse_peer(const char *text, cluster_peer *p, char *why, size_t n)
{
	memset(p, 0, sizeof(*p));
	const char *a = strchr(text, ','), *b = a ? strchr(a + 1, ',') : NULL;
	char *end;
	unsigned long long id = strtoull(text, &end, 10);
	if (!a || !b || end != a || id == 0 || *text == '-') {
		snprintf(why, n, "'%s' is not ID,A.B.C.D:PORT,URL (e.g. 2,10.0.0.2:7460,tcp://10.0.0.2:7450)",
			 text);
		return -1;
	}
	size_t rl = (size_t)(b - a - 1);
	if (rl == 0 || rl >= sizeof(p->raft) || strlen(b + 1) == 0 ||
	    strlen(b + 1) >= sizeof(p->url)) {
		snprintf(why, n, "'%s': the raft address or the URL is empty or too long", text);
		return -1;
	}
	p->id = id;
	memcpy(p->raft, a + 1, rl);
	snprintf(p->url, sizeof(p->url), "%s", b + 1);
	struct sockaddr_in sa;
	if (ld_ipv4_port(p->raft, rl, &sa, NULL, 0)) {
		snprintf(why, n, "'%s': the raft address must be an IPv4 A.B.C.D:PORT", p->raft);
		return -1;
	}
	return 0;
}

/* Raft's files: DATA/raft. */
static void raft_dir(const char *data_dir, char *out, size_t n)
{
	snprintf(out, n, "%s/raft", data_dir);
}

int cluster_has_raft(const char *data_dir)
{
	char dir[4200];
	struct stat st;
	raft_dir(data_dir, dir, sizeof(dir));
	return stat(dir, &st) == 0;
}

/* c's peers and id from o's peer settings (a single node: node 1 alone, at
 * REPLICA_SOLO_ADDRESS). 0, or LD_E(INVALID_VALUE) with e saying why. */
static int take_peers(cluster *c, const cluster_options *o, ld_errinfo *e)
{
	char why[300];
	if (o->solo) {
		c->peers[0].id = c->id = 1;
		snprintf(c->peers[0].raft, sizeof(c->peers[0].raft), "%s", REPLICA_SOLO_ADDRESS);
		c->npeers = 1;
		return 0;
	}
	if (o->npeers == 0 || o->npeers > CLUSTER_MAX_PEERS)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "peer", "a cluster has 1 to %d peers",
				      CLUSTER_MAX_PEERS);
	int self = 0;
	for (unsigned i = 0; i < o->npeers; i++) {
		if (cluster_parse_peer(o->peers[i], &c->peers[i], why, sizeof(why)))
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "peer", "peer %s", why);
		for (unsigned k = 0; k < i; k++)
			if (c->peers[k].id == c->peers[i].id ||
			    !strcmp(c->peers[k].raft, c->peers[i].raft))
				return ld_errinfo_set(e, LD_E(INVALID_VALUE), "peer",
						      "peers %u and %u have the same id or raft address",
						      k + 1, i + 1);
		self |= c->peers[i].id == o->id;
	}
	if (!self)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "node-id",
				      "node-id %llu is none of the peers (every voter is listed, this "
				      "node included)",
				      (unsigned long long)o->id);
	c->id = o->id;
	c->npeers = o->npeers;
	return 0;
}

int cluster_new(cluster **out, const cluster_options *o, ld_errinfo *e)
{
	*out = NULL;
	cluster *c = calloc(1, sizeof(*c));
	if (!c)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	c->wake_fd = -1;
	int rc = take_peers(c, o, e);
	if (rc) {
		free(c);
		return rc;
	}
	c->election_ms = o->election_ms ? o->election_ms : CLUSTER_ELECTION_MS;
	c->o = *o;
	raft_dir(o->data_dir, c->dir, sizeof(c->dir));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->answered, NULL);
	pthread_cond_init(&c->status, NULL);
	*out = c;
	return 0;
}

const char *cluster_url_of(const cluster *c, const replica_status *st, uint64_t id)
{
	for (unsigned i = 0; i < c->npeers; i++)
		if (c->peers[i].id == id)
			return c->peers[i].url;
	for (unsigned i = 0; st && i < st->n_nodes && i < REPLICA_MAX_NODES; i++)
		if (st->nodes[i].id == id)
			return st->nodes[i].url;
	return "";
}

/* ------------------------------------------------------------------ */
/* The writer's side: one group, proposed and waited for               */
/* ------------------------------------------------------------------ */

/* Answers the handed-over group p: the writer told of status once the lock
 * is let go (into t; lock held). */
static void answer_locked(cluster *c, prop *p, int status, told *t)
{
	if (c->inflight == p)
		c->inflight = NULL;
	if (c->queued == p)
		c->queued = NULL;
	t->t[t->n].done = p->done;
	t->t[t->n].ctx = p->ctx;
	t->t[t->n].status = status;
	t->n++;
	pthread_cond_broadcast(&c->answered);
}

/* Tells the writer what answer_locked answered (lock not held). */
static void tell(told *t)
{
	for (unsigned i = 0; i < t->n; i++)
		t->t[i].done(t->t[i].ctx, t->t[i].status);
	t->n = 0;
}

/* The writer's next group waits for its clients (writer_options.
 * linger_timer): timed here, on the loop, where it costs no thread a
 * wake-up when the clients come back in time (the group handed over
 * stops it, propose_queued); a deciding thread timing it was woken once
 * per group to start the wait and once at its end. */
static void on_linger(uv_timer_t *t);

static void linger_arm(cluster *c)
{
	int64_t left = writer_linger_left(c->w);
	if (left > 0) {
		uv_update_time(&c->loop);
		uv_timer_start(&c->linger, on_linger, (uint64_t)(left + 999) / 1000, 0);
	}
}

static void on_linger(uv_timer_t *t)
{
	linger_arm(t->data);
}

/* The writer's hand-over (writer_options.replicate, on its deciding
 * thread or an NNG thread that decided the group's last request): queued
 * for the loop, answered from there (proposed: the
 * writer answers its clients on the loop, without another thread). */
static int replicate(void *arg, const uint8_t *blob, size_t len, writer_replicated_fn done,
		     void *ctx)
{
	cluster *c = arg;
	pthread_mutex_lock(&c->lock);
	if (!c->leading || c->stopping) {
		int rc = c->stopping ? LD_E(SHUTTING_DOWN) : LD_E(NOT_LEADER);
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	prop *p = calloc(1, sizeof(*p));
	if (!p) {
		pthread_mutex_unlock(&c->lock);
		return LD_E(INTERNAL);
	}
	p->c = c;
	p->blob = blob;
	p->len = len;
	p->done = done;
	p->ctx = ctx;
	/* p is the cluster's from here: freed once the replica answered it,
	 * maybe before this returns. */
	c->queued = p;
	pthread_mutex_unlock(&c->lock);
	wake_loop(c);
	return 0;
}

/* The log cannot be written past what raft holds: stop, to be restarted
 * (raft's log replays it). On the writer's applier thread. */
static void store_failed(void *arg, int rc)
{
	cluster *c = arg;
	(void)rc;
	pthread_mutex_lock(&c->lock);
	int was = c->failed;
	c->failed = 1;
	pthread_mutex_unlock(&c->lock);
	if (!was) {
		log_error("cluster: the log cannot be written; ledgerd stops, to be restarted");
		kill(getpid(), SIGTERM);
	}
}

void cluster_writer_options(cluster *c, writer_options *wo)
{
	wo->replicate = replicate;
	wo->replicate_arg = c;
	wo->linger_timer = 1;
	wo->failed = store_failed;
	wo->failed_arg = c;
	wo->raft_dir = c->dir;
	wo->raft_ahead = REPLICA_DISK_AHEAD;
}

static int map_status(int status)
{
	switch (status) {
	case 0:
		return 0;
	case REPLICA_E_NOT_LEADER:
		return LD_E(NOT_LEADER);
	case REPLICA_E_UNKNOWN:
		return LD_E(OUTCOME_UNKNOWN);
	case REPLICA_E_HALTED:
		return LD_E(STORAGE);
	case LD_E(BUSY):
		return LD_E(BUSY);
	default:
		return LD_E(INTERNAL);
	}
}

/* The replica answered a proposal (on the loop). */
static void proposed(replica *r, int status, uint64_t index, void *arg)
{
	(void)r;
	(void)index;
	prop *p = arg;
	cluster *c = p->c;
	told t = {0};
	pthread_mutex_lock(&c->lock);
	/* Written here as its own: recorded, whatever the replica says of
	 * the leadership after. A detached one's writer was told already
	 * (another leader's entry came first). */
	int ok = !p->detached && p->own_applied;
	if (!p->detached)
		answer_locked(c, p, ok ? 0 : map_status(status), &t);
	pthread_mutex_unlock(&c->lock);
	free(p);
	tell(&t);
	if (ok)
		linger_arm(c);
}

/* The entry header the replica checks: first seq, count, prev and last
 * hash, from the blob. */
static int entry_of(const uint8_t *blob, size_t len, replica_entry *h)
{
	group_reader rd;
	const uint8_t *b, *hash = NULL;
	size_t n;
	int rc;
	if (group_read_begin(&rd, blob, len))
		return LD_E(INTERNAL);
	memset(h, 0, sizeof(*h));
	h->first_seq = rd.first;
	h->count = rd.count;
	memcpy(h->prev_hash, rd.prev, REPLICA_HASH_LEN);
	while ((rc = group_read_next(&rd, &b, &n, &hash)) == 1)
		;
	if (rc < 0 || !hash)
		return LD_E(INTERNAL);
	memcpy(h->last_hash, hash, REPLICA_HASH_LEN);
	return 0;
}

/* The group as its entry carries it: bare (its hashes left out, core/group.h;
 * docs/REPLICATION.md "The hashes left out"), in c->bare, or as it is if
 * it cannot be (memory, or an event not laid out as the writer packs). */
static const uint8_t *bare_of(cluster *c, const prop *p)
{
	if (c->bare_cap < p->len) {
		free(c->bare);
		c->bare_cap = 0;
		if (!(c->bare = malloc(p->len)))
			return p->blob;
		c->bare_cap = p->len;
	}
	return group_strip_hashes(p->blob, p->len, c->bare) == 0 ? c->bare : p->blob;
}

/* Proposes the queued group, if any (on the loop). */
static void propose_queued(cluster *c)
{
	pthread_mutex_lock(&c->lock);
	prop *p = c->queued;
	if (!p) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	c->queued = NULL;
	c->inflight = p;
	pthread_mutex_unlock(&c->lock);
	uv_timer_stop(&c->linger);
	replica_entry h;
	ld_errinfo e = {0};
	/* The bare copy first: its copy brings the blob into this core's
	 * cache, which entry_of then walks record by record (first, it
	 * missed on every record: 7% of this loop's CPU in a batch). */
	const uint8_t *bare = bare_of(c, p);
	int rc = entry_of(p->blob, p->len, &h);
	if (rc == 0) {
		p->h = h; /* read by sm_own, on this thread */
		rc = replica_propose(c->rep, &h, bare, p->len, proposed, p, &e);
	}
	if (c->bare_cap > BARE_KEEP) {
		free(c->bare);
		c->bare = NULL;
		c->bare_cap = 0;
	}
	if (rc) {
		if (rc == LD_E(INVALID_STATE) || rc == LD_E(INTERNAL))
			log_error("cluster: a group from seq %llu not proposed: %s",
				  (unsigned long long)h.first_seq, e.message[0] ? e.message : ld_strerror(rc));
		told t = {0};
		pthread_mutex_lock(&c->lock);
		answer_locked(c, p, map_status(rc), &t);
		pthread_mutex_unlock(&c->lock);
		free(p);
		tell(&t);
	}
}

/* Answers the groups still waiting ("outcome unknown" if the replica has
 * it, else not leader): another leader's entry is about to be applied, or
 * leadership is gone (lock held; the writer told from t once it is let go).
 * The replica's later answer finds nothing. */
static void give_up_locked(cluster *c, told *t)
{
	if (c->queued) {
		prop *p = c->queued;
		answer_locked(c, p, c->stopping ? LD_E(SHUTTING_DOWN) : LD_E(NOT_LEADER), t);
		free(p);
	}
	if (c->inflight) {
		/* The replica's answer frees it. */
		prop *p = c->inflight;
		answer_locked(c, p, LD_E(OUTCOME_UNKNOWN), t);
		p->detached = 1;
	}
}

/* ------------------------------------------------------------------ */
/* The state machine: this node's log, through the writer              */
/* ------------------------------------------------------------------ */

static void sm_head(void *sm, uint64_t *seq, uint8_t hash[REPLICA_HASH_LEN], uint64_t *index)
{
	cluster *c = sm;
	writer_follow_head(c->w, seq, hash, index);
}

static int sm_hash_at(void *sm, uint64_t seq, uint8_t hash[REPLICA_HASH_LEN])
{
	cluster *c = sm;
	store_txn *t;
	store_val v;
	uint8_t key[8];
	const uint8_t *h;
	int rc = store_read_begin(c->s, &t);
	if (rc)
		return rc;
	ld_put_be64(key, seq);
	rc = store_get(t, DB_LOG, key, 8, &v);
	if (rc == 0 && codec_peek_hash(v.data, v.len, &h) == 0)
		memcpy(hash, h, REPLICA_HASH_LEN);
	else if (rc == 0)
		rc = LD_E(STORAGE);
	store_read_end(t);
	return rc;
}

static void set_leading(cluster *c, int leading, uint64_t leader_id, int elected);

static int sm_apply(void *sm, uint64_t index, const replica_entry *h, const void *events,
		    size_t len)
{
	cluster *c = sm;
	if (h->count == 0)
		return writer_follow_entry(c->w, index, NULL, 0, h->last_hash);
	pthread_mutex_lock(&c->lock);
	prop *p = c->inflight;
	int own = p && p->len == len && (p->blob == events || memcmp(p->blob, events, len) == 0);
	if (own) {
		pthread_mutex_unlock(&c->lock);
		/* The committing thread waits for this very group. */
		int rc = writer_apply_entry(c->w, index, events, len, 1);
		if (rc == 0) {
			pthread_mutex_lock(&c->lock);
			p->own_applied = 1;
			pthread_mutex_unlock(&c->lock);
		}
		return rc;
	}
	/* Another leader's: nothing of this node's may still wait, and what
	 * follows the log yields to what a commit waits for (core/behind.h). */
	behind_set_following(1);
	told t = {0};
	give_up_locked(c, &t);
	int leading = c->leading;
	pthread_mutex_unlock(&c->lock);
	tell(&t);
	if (leading)
		set_leading(c, 0, 0, 0);
	/* The group must be the one its entry's header names: a restart that
	 * replays the entry finds its last seq by the header's count. */
	group_reader rd;
	if (group_read_begin(&rd, events, len) || rd.first != h->first_seq ||
	    rd.count != h->count || memcmp(rd.prev, h->prev_hash, REPLICA_HASH_LEN) != 0) {
		log_error("cluster: the entry at raft index %llu names seq %llu and %u events, "
			  "but its group is not those",
			  (unsigned long long)index, (unsigned long long)h->first_seq, h->count);
		return LD_E(CHAIN_BROKEN);
	}
	/* Checked and applied on the writer's follow thread, while this one
	 * takes the next entries (docs/REPLICATION.md, "Applying"). */
	return writer_follow_entry(c->w, index, events, len, h->last_hash);
}

static int sm_settle(void *sm, int wait, uint64_t *index, char *why, size_t n)
{
	cluster *c = sm;
	return writer_follow_settle(c->w, wait, index, why, n);
}

static int sm_sync(void *sm)
{
	cluster *c = sm;
	return writer_sync(c->w);
}

/* Asks the leader first, then the other peers (daemon/catchup.h). */
static int sm_fetch(void *sm, uint64_t to_seq, const uint8_t to_hash[REPLICA_HASH_LEN],
		    uint64_t index)
{
	cluster *c = sm;
	const char *urls[CLUSTER_MAX_PEERS];
	unsigned n = 0;
	/* On the loop, which alone writes c->st: read without the lock. */
	const char *leader = c->last_leader && c->last_leader != c->id
				 ? cluster_url_of(c, &c->st, c->last_leader)
				 : "";
	if (*leader)
		urls[n++] = leader;
	for (unsigned i = 0; i < c->npeers; i++)
		if (c->peers[i].id != c->id && c->peers[i].id != c->last_leader)
			urls[n++] = c->peers[i].url;
	/* Nodes added at run time: the URLs the configuration carries. */
	for (unsigned i = 0; i < c->st.n_nodes && n < CLUSTER_MAX_PEERS; i++) {
		uint64_t id = c->st.nodes[i].id;
		unsigned k = 0;
		while (k < c->npeers && c->peers[k].id != id)
			k++;
		if (k == c->npeers && id != c->id && id != c->last_leader && c->st.nodes[i].url[0])
			urls[n++] = c->st.nodes[i].url;
	}
	return catchup_start(c->cu, urls, n, to_seq, to_hash, index);
}

/* The group in flight, if h is its header: the writer is told of it only on
 * this thread (the loop's), or once the loop has stopped, so its blob stays
 * valid through the apply that follows. */
static const void *sm_own(void *sm, const replica_entry *h, size_t len)
{
	cluster *c = sm;
	const void *events = NULL;
	pthread_mutex_lock(&c->lock);
	const prop *p = c->inflight;
	if (p && p->h.count && p->h.first_seq == h->first_seq && p->h.count == h->count &&
	    p->len == len && memcmp(p->h.last_hash, h->last_hash, REPLICA_HASH_LEN) == 0)
		events = p->blob;
	pthread_mutex_unlock(&c->lock);
	return events;
}

static const replica_sm_ops sm_ops = {sm_head,	sm_hash_at, sm_apply, sm_sync,
				       sm_fetch, sm_settle,  sm_own};

/* ------------------------------------------------------------------ */
/* The loop                                                            */
/* ------------------------------------------------------------------ */

/* elected: this node won its election, its barrier not confirmed yet. On
 * the loop (c->st read without the lock). */
static void set_leading(cluster *c, int leading, uint64_t leader_id, int elected)
{
	told t = {0};
	behind_set_following(!leading);
	pthread_mutex_lock(&c->lock);
	c->leading = leading && !c->stopping;
	if (!c->leading)
		give_up_locked(c, &t);
	int quiet = c->stopping && c->o.solo; /* cluster_stop */
	pthread_mutex_unlock(&c->lock);
	tell(&t);
	if (!quiet)
		writer_set_leading(c->w, leading,
				   leading ? NULL : cluster_url_of(c, &c->st, leader_id), elected);
}

static void copy_status(cluster *c)
{
	replica_status st;
	replica_status_get(c->rep, &st);
	pthread_mutex_lock(&c->lock);
	c->st = st;
	c->have_st = 1;
	int was = c->leading, stopping = c->stopping;
	pthread_cond_broadcast(&c->status);
	pthread_mutex_unlock(&c->lock);
	int now = st.role == REPLICA_LEADER && st.ready;
	if (st.role == REPLICA_FAILED && !c->failed) {
		/* 0.15 cannot be trusted to recover from an I/O error: the
		 * process stops, and its supervisor starts it again (raft's log
		 * is reloaded from disk). */
		c->failed = 1;
		log_error("cluster: the replica failed (%s; raft's directory is '%s'); ledgerd "
			  "stops, to be restarted",
			  st.reason, c->dir);
		kill(getpid(), SIGTERM);
	}
	int elected = st.role == REPLICA_LEADER && !st.ready;
	/* Stopping, the node leads no more whatever raft says (cluster_stop set
	 * leading to 0): a tick while the stop waited for the group in flight
	 * saw a leader that did not lead, and set_leading answered the group
	 * "outcome unknown". */
	if (!stopping &&
	    (now != was || (!now && st.leader_id != c->last_leader) || elected != c->last_elected)) {
		if (now != was)
			log_info("cluster: %s (term %llu)%s%s",
				 now ? "this node leads" : "this node does not lead",
				 (unsigned long long)st.term,
				 !now && st.leader_id ? "; the leader is " : "",
				 !now && st.leader_id ? cluster_url_of(c, &st, st.leader_id) : "");
		set_leading(c, now, st.leader_id, elected);
	}
	c->last_leader = st.leader_id;
	c->last_elected = elected;
}

static void on_change(replica *r, void *arg)
{
	(void)r;
	copy_status(arg);
}

static void on_tick(uv_timer_t *t)
{
	cluster *c = t->data;
	copy_status(c);
	membership_run(c->mb, uv_now(&c->loop));
}

static void closed(uv_handle_t *h)
{
	(void)h;
}

static void replica_stopped(replica *r, void *arg)
{
	(void)r;
	cluster *c = arg;
	catchup_close(c->cu);
	uv_close((uv_handle_t *)&c->wake, closed);
	uv_close((uv_handle_t *)&c->tick, closed);
	uv_close((uv_handle_t *)&c->linger, closed);
}

static void on_async(cluster *c)
{
	pthread_mutex_lock(&c->lock);
	int stop = c->stop_replica && !c->replica_stopped;
	if (stop)
		c->replica_stopped = 1;
	int tick = c->stopping && !c->stop_replica && c->test_stop_wake;
	pthread_mutex_unlock(&c->lock);
	if (tick) /* test hook (cluster_stop): a tick now */
		copy_status(c);
	if (stop) {
		uv_timer_stop(&c->tick);
		membership_stop(c->mb);
		replica_stop(c->rep, replica_stopped, c);
		return;
	}
	pthread_mutex_lock(&c->lock);
	int marker = c->marker_asked;
	c->marker_asked = 0;
	pthread_mutex_unlock(&c->lock);
	if (marker) {
		uint64_t at = replica_final_marker(c->rep);
		pthread_mutex_lock(&c->lock);
		c->marker_at = at;
		c->marker_answered = 1;
		pthread_cond_broadcast(&c->status);
		pthread_mutex_unlock(&c->lock);
	}
	propose_queued(c);
	membership_run(c->mb, uv_now(&c->loop));
}

/* The eventfd readable: taken (the next wake_loop writes again) before
 * what it woke the loop for is done, so a wake-up after that is not lost. */
static void on_wake(uv_poll_t *h, int status, int events)
{
	cluster *c = h->data;
	uint64_t n;
	(void)status;
	(void)events;
	while (read(c->wake_fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	atomic_store(&c->wake_pending, 0);
	on_async(c);
}

/* The operator's changes (daemon/membership.h). */
static void mb_wake(void *arg)
{
	cluster *c = arg;
	wake_loop(c);
}

static const char *mb_leader_url(void *arg)
{
	cluster *c = arg;
	return cluster_url_of(c, &c->st, c->last_leader);
}

static void copy_status(cluster *c);

/* A change's answer: with the status as the change left it. */
struct change_answer {
	cluster *c;
	void (*done)(void *call, int rc, const ld_errinfo *e);
	void *call;
};

static void change_done(void *arg, int rc, const ld_errinfo *e)
{
	struct change_answer *a = arg;
	copy_status(a->c);
	a->done(a->call, rc, e);
	free(a);
}

int cluster_change(void *arg, const Ledger__ClusterChangeRequest *q,
		   void (*done)(void *call, int rc, const ld_errinfo *e), void *call, ld_errinfo *e)
{
	cluster *c = arg;
	if (c->o.solo)
		return ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
				      "this ledger is a single node, not a cluster (a cluster of one, "
				      "whose raft transport reaches no one): start it with --node-id 1 "
				      "--peer 1,A.B.C.D:PORT,URL first (docs/OPERATIONS.md, \"A "
				      "cluster\")");
	if (!c->mb)
		return ld_errinfo_set(e, LD_E(SHUTTING_DOWN), NULL, "the cluster is not running");
	struct change_answer *a = malloc(sizeof(*a));
	if (!a)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	*a = (struct change_answer){c, done, call};
	int rc = membership_submit(c->mb, q, change_done, a, e);
	if (rc)
		free(a);
	return rc;
}

static void *loop_main(void *arg)
{
	cluster *c = arg;
	pthread_setname_np(pthread_self(), "ld-raft");
	uv_run(&c->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* DATA/raft/solo: raft's log is a single node's (its configuration names
 * it node 1 at REPLICA_SOLO_ADDRESS, no network address). */
static void solo_mark_path(const cluster *c, char *out, size_t n)
{
	snprintf(out, n, "%s/solo", c->dir);
}

/* What raft's directory and the log's raft index say, before the replica
 * starts (docs/REPLICATION.md, "Upgrade"): an upgrade (no raft directory, no
 * index), a restart, or a restored hot backup (no raft directory, an index:
 * forgotten here); a single node's raft log (DATA/raft/solo) started as a
 * cluster's first node (*recover: its configuration becomes this node's
 * address), or refused. 0, or a negative code with e saying why. */
static int prepare_raft_dir(cluster *c, writer *w, int *recover, ld_errinfo *e)
{
	/* A log recorded before replication (events, no raft index) that
	 * raft has never seen: its head is where raft starts (every event
	 * stays as it is; the next entry follows it). */
	struct stat st;
	uint64_t head, index = 0;
	uint8_t hash[REPLICA_HASH_LEN];
	/* Raft has used its directory once it wrote its metadata (a crash
	 * may leave the directory and DATA/raft/solo alone before that). */
	char meta[4200];
	snprintf(meta, sizeof(meta), "%s/metadata1", c->dir);
	int fresh = stat(meta, &st) != 0;
	snprintf(meta, sizeof(meta), "%s/metadata2", c->dir);
	fresh = fresh && stat(meta, &st) != 0;
	char solo_mark[4200];
	solo_mark_path(c, solo_mark, sizeof(solo_mark));
	int was_solo = !fresh && access(solo_mark, F_OK) == 0;
	*recover = 0;
	if (c->o.solo && !fresh && !was_solo)
		return ld_errinfo_set(e, LD_E(INVALID_STATE), "peer",
				      "raft's files in %s are a cluster node's: start it with its "
				      "--node-id and --peer settings",
				      c->dir);
	if (!c->o.solo && was_solo) {
		if (c->npeers != 1 || c->o.join || c->id != 1)
			return ld_errinfo_set(
			    e, LD_E(INVALID_STATE), "peer",
			    "raft's files in %s are a single node's (node 1): start it first as "
			    "a cluster's first node, with --node-id 1 and one --peer setting "
			    "naming itself, then add the others (ledgerctl cluster add; "
			    "docs/OPERATIONS.md, \"A cluster\")",
			    c->dir);
		*recover = 1;
	}
	writer_applied_head(w, &head, hash);
	writer_applied_index(w, &index);
	if (fresh && index && c->npeers == 1 && !c->o.join) {
		/* A log that recorded raft indexes, without raft's files: a hot
		 * backup restored (raft's directory is not in a backup). Raft
		 * starts afresh at index 1 with this node its only voter, so the
		 * index the log recorded, of another raft log, would make the new
		 * entries up to it look applied already. The log forgets it before
		 * raft bootstraps (a crash in between finds an upgrade next time).
		 * With several peers the index is kept: it may be the cluster's
		 * own (a node that lost its raft directory alone), whose entries
		 * the leader sends again and the chain checks find held. */
		int rrc = writer_rebase_index(w);
		if (rrc)
			return ld_errinfo_set(e, rrc, NULL, "the log's raft index cannot be reset: %s",
					      ld_strerror(rrc));
		log_info("cluster: the log (seq %llu, raft index %llu recorded) has no raft "
			 "directory: a hot backup restored. Raft starts afresh in %s at index 1, "
			 "so the log forgets index %llu (every event stays as it is; the next "
			 "entry follows seq %llu)",
			 (unsigned long long)head, (unsigned long long)index, c->dir,
			 (unsigned long long)index, (unsigned long long)head);
	} else if (fresh && head && !index && c->npeers == 1)
		log_info("cluster: the log (seq %llu, recorded before replication) becomes a "
			 "one-node cluster; raft's files in %s",
			 (unsigned long long)head, c->dir);
	else if (fresh && head && !index)
		log_info("cluster: the log (seq %llu, recorded before replication) becomes node "
			 "%llu's of a cluster of %u; raft's files in %s",
			 (unsigned long long)head, (unsigned long long)c->id, c->npeers, c->dir);
	if (c->o.solo && fresh) {
		int fd = -1;
		if ((mkdir(c->dir, 0700) && errno != EEXIST) ||
		    (fd = open(solo_mark, O_WRONLY | O_CREAT, 0600)) < 0)
			return ld_errinfo_set(e, LD_E(STORAGE), NULL, "cannot create '%s': %s",
					      solo_mark, strerror(errno));
		close(fd);
	}
	return 0;
}

/* Whether raft's directory has the room C-Raft needs to start
 * (REPLICA_START_ROOM): without it raft_uv's allocation of its first segments
 * fails once the node runs (a replica failure, "to be restarted", which a
 * restart does not mend), or leaves the node taking no write. Skipped by
 * LEDGERD_TEST_ROOM_OFF=1, as the writer's check is. 0, or LD_E(DISK_FULL). */
static int raft_room(const cluster *c, ld_errinfo *e)
{
	const char *off = getenv("LEDGERD_TEST_ROOM_OFF");
	if (off && strcmp(off, "1") == 0)
		return 0;
	uint64_t open = 0;
	DIR *d = opendir(c->dir);
	for (struct dirent *de; d && (de = readdir(d));) {
		struct stat st;
		if (strncmp(de->d_name, "open-", 5) == 0 &&
		    fstatat(dirfd(d), de->d_name, &st, 0) == 0)
			open += (uint64_t)st.st_blocks * 512;
	}
	if (d)
		closedir(d);
	store_room *room;
	store_room_dir dir = {c->dir, "raft's log"};
	if (store_room_new(&room, &dir, 1, 0))
		return 0;
	uint64_t need = REPLICA_START_ROOM > open ? REPLICA_START_ROOM - open : 0;
	uint64_t takes = 0;
	ld_errinfo why;
	int rc = store_room_check(room, &need, &takes, &why);
	store_room_free(room);
	if (rc == 0)
		return 0;
	return ld_errinfo_set(e, rc, NULL,
			      "raft cannot start: %s (C-Raft 0.15 allocates its log in segments of "
			      "%u MiB, three at a time; the open ones there count as free): free "
			      "space there, or move raft's directory to a larger disk",
			      why.message, REPLICA_SEGMENT_BYTES >> 20);
}

int cluster_start(cluster *c, store *s, writer *w, ld_errinfo *e)
{
	c->s = s;
	c->w = w;
	writer_set_leading(w, 0, NULL, 0);
	int recover;
	int rc = raft_room(c, e);
	if (rc == 0)
		rc = prepare_raft_dir(c, w, &recover, e);
	if (rc)
		return rc;
	/* One flush per commit of the log: raft's log holds every entry past
	 * the raft index the log records (docs/REPLICATION.md, "Where the log
	 * is synced"). */
	if (store_set_meta_sync(s, 0))
		return ld_errinfo_set(e, LD_E(STORAGE), NULL, "cluster: the log's sync mode");
	if (replica_new(&c->rep, &sm_ops, c))
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	if (uv_loop_init(&c->loop)) {
		replica_free(c->rep);
		c->rep = NULL;
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "cluster: no event loop");
	}
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->wake_fd < 0 || uv_poll_init(&c->loop, &c->wake, c->wake_fd)) {
		if (c->wake_fd >= 0)
			close(c->wake_fd);
		c->wake_fd = -1;
		uv_loop_close(&c->loop);
		replica_free(c->rep);
		c->rep = NULL;
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "cluster: no event loop");
	}
	atomic_store(&c->wake_pending, 0);
	c->wake.data = c;
	uv_poll_start(&c->wake, UV_READABLE, on_wake);
	uv_timer_init(&c->loop, &c->tick);
	c->tick.data = c;
	uv_timer_init(&c->loop, &c->linger);
	c->linger.data = c;
	catchup_options cuo = {.w = w,
			       .rep = c->rep,
			       .id = c->id,
			       .tls_cert = c->o.tls_cert,
			       .tls_key = c->o.tls_key,
			       .tls_ca = c->o.tls_ca,
			       .sync = sm_sync,
			       .arg = c};
	catchup_new(&c->cu, &c->loop, &cuo);
	membership_hooks mh = {mb_wake, mb_leader_url, c};
	membership_new(&c->mb, c->rep, &mh);
	uint64_t ids[CLUSTER_MAX_PEERS];
	const char *addrs[CLUSTER_MAX_PEERS];
	const char *self = NULL;
	for (unsigned i = 0; i < c->npeers; i++) {
		ids[i] = c->peers[i].id;
		addrs[i] = c->peers[i].raft;
		if (ids[i] == c->id)
			self = addrs[i];
	}
	replica_options o = {
	    .id = c->id,
	    .address = self,
	    .dir = c->dir,
	    .election_ms = c->election_ms,
	    .snapshot_threshold = c->o.snapshot_threshold,
	    .snapshot_trailing = c->o.snapshot_trailing,
	    .snapshot_bytes = c->o.snapshot_bytes,
	    .trailing_bytes = c->o.trailing_bytes,
	    .bootstrap_ids = ids,
	    .bootstrap_addresses = addrs,
	    .bootstrap_n = c->o.join ? 0 : c->npeers,
	    .on_change = on_change,
	    .arg = c,
	    .keys = c->o.keys,
	    .solo = c->o.solo,
	    .recover_alone = recover,
	};
	rc = replica_start(c->rep, &c->loop, &o, e);
	if (rc) {
		/* What the replica opened before it failed (raft's transport, the
		 * confirmations' socket) closes on the loop below. */
		replica_stop(c->rep, NULL, NULL);
		catchup_close(c->cu);
		uv_close((uv_handle_t *)&c->wake, closed);
		uv_close((uv_handle_t *)&c->tick, closed);
		uv_close((uv_handle_t *)&c->linger, closed);
		uv_run(&c->loop, UV_RUN_DEFAULT);
		uv_loop_close(&c->loop);
		close(c->wake_fd);
		c->wake_fd = -1;
		catchup_free(c->cu);
		c->cu = NULL;
		membership_free(c->mb);
		c->mb = NULL;
		replica_free(c->rep);
		c->rep = NULL;
		return rc;
	}
	if (recover) {
		log_info("cluster: the single node's raft log in %s becomes node 1's of a cluster, "
			 "raft on %s: add the other nodes with ledgerctl cluster add",
			 c->dir, self);
		char mark[4200];
		solo_mark_path(c, mark, sizeof(mark));
		unlink(mark);
	}
	uv_timer_start(&c->tick, on_tick, 100, 100);
	/* The replica's work runs after each poll of the loop (its check
	 * handle): woken at once, the first poll does not wait out the tick
	 * before the election's barrier is appended (a single node was ready
	 * 65-100 ms later). */
	wake_loop(c);
	if (pthread_create(&c->thread, NULL, loop_main, c)) {
		/* Not reachable in practice; the replica is left to exit. */
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "cluster: no thread");
	}
	c->started = 1;
	if (c->o.solo)
		log_info("cluster: a single node, a cluster of one: raft's log in %s is the "
			 "write-ahead log; no raft port is opened (started with --node-id 1 and "
			 "one --peer naming itself, it becomes a cluster's first node), "
			 "person-hash key id %016llx",
			 c->dir, (unsigned long long)c->o.keys.id[REPLICA_KEY_HASH]);
	else
		log_info("cluster: node %llu of %u, raft on %s (%s), person-hash key id %016llx, cluster "
			 "key fingerprint %016llx%s",
			 (unsigned long long)c->id, c->npeers, self, c->dir,
			 (unsigned long long)c->o.keys.id[REPLICA_KEY_HASH],
			 (unsigned long long)c->o.keys.id[REPLICA_KEY_CLUSTER],
			 c->o.join ? "; joining: waits to be added by the leader" : "");
	return 0;
}

/* The free space below which a stopping node takes no marker. */
#define MARKER_ROOM ((uint64_t)64 << 20)

void cluster_final_marker(cluster *c, unsigned ms)
{
	if (!c || !c->started || !c->o.solo)
		return;
	/* A marker syncs the log and writes raft's files: on a disk nearly
	 * full that could fail the replica as it stops (exit 1), for the sake
	 * of a faster start only. The room is asked as for a group
	 * (core/store.h, store_room). */
	store_room *room = NULL;
	const store_room_dir dir = {c->dir, "raft's log"};
	const uint64_t need = MARKER_ROOM, takes = 0;
	ld_errinfo e = {0};
	int rc = store_room_new(&room, &dir, 1, 0);
	if (rc == 0)
		rc = store_room_check(room, &need, &takes, &e);
	store_room_free(room);
	if (rc) {
		log_info("cluster: no marker as this node stops (%s), and the next start reads "
			 "raft's log back whole",
			 e.message[0] ? e.message : ld_strerror(rc));
		return;
	}
	struct timespec until = ld_wall_after_ms(ms);
	int64_t t0 = ld_mono_ms();
	pthread_mutex_lock(&c->lock);
	uint64_t bytes = c->st.log_bytes;
	c->marker_asked = 1;
	c->marker_answered = 0;
	pthread_mutex_unlock(&c->lock);
	wake_loop(c);
	/* Until the loop has answered and (if it asked for one) the marker is
	 * written or the replica gone; woken by every status copied (the
	 * loop's tick: each 100 ms), bounded by the monotonic clock too,
	 * should the wall clock step back. */
	pthread_mutex_lock(&c->lock);
	int late = 0;
	while (!late && (!c->marker_answered ||
			 (c->marker_at && c->st.snapshot_index < c->marker_at &&
			  c->st.role != REPLICA_FAILED && c->st.role != REPLICA_HALTED)))
		late = pthread_cond_timedwait(&c->status, &c->lock, &until) != 0 ||
		       ld_mono_ms() - t0 >= (int64_t)ms;
	uint64_t at = c->marker_answered ? c->marker_at : 0;
	int done = at && c->st.snapshot_index >= at;
	pthread_mutex_unlock(&c->lock);
	if (done)
		log_info("cluster: a marker at raft index %llu as this node stops (%lld ms): raft's "
			 "log (%.1f MiB) is trimmed, and the next start reads little of it back",
			 (unsigned long long)at, (long long)(ld_mono_ms() - t0), bytes / 1048576.0);
	else if (at || late)
		log_warn("cluster: no marker written within %u ms as this node stops: the next "
			 "start reads raft's log (%.1f MiB) back whole",
			 ms, bytes / 1048576.0);
}

void cluster_stop(cluster *c)
{
	if (!c || !c->started)
		return;
	told t = {0};
	/* Test hook (below): from a group in flight, if one comes within 2 s. */
	const char *wake = getenv("LEDGERD_TEST_STOP_WAKE");
	int wake_hook = wake && !strcmp(wake, "1");
	pthread_mutex_lock(&c->lock);
	c->test_stop_wake = wake_hook;
	for (int i = 0; wake_hook && !c->inflight && i < 2000; i++) {
		pthread_mutex_unlock(&c->lock);
		nanosleep(&(struct timespec){0, 1000000}, NULL);
		pthread_mutex_lock(&c->lock);
	}
	c->stopping = 1;
	c->leading = 0;
	if (c->queued) {
		prop *p = c->queued;
		answer_locked(c, p, LD_E(SHUTTING_DOWN), &t);
		free(p);
	}
	/* Test hook: the loop woken now, as by a group handed over (replicate)
	 * while the loop was proposing the one before: that wake-up, still
	 * pending, once stopped the replica under the group in flight, whose
	 * clients were answered "outcome unknown" (test_daemon); and it copies
	 * the replica's status then, as its tick does every 100 ms (see
	 * copy_status: that too answered the group "outcome unknown"). */
	if (wake_hook)
		wake_loop(c);
	/* A single node finishes the group in flight (one flush), as it did
	 * before it ran raft, instead of answering it "outcome unknown". */
	struct timespec until = ld_wall_after_ms(5000);
	while (c->o.solo && c->inflight &&
	       pthread_cond_timedwait(&c->answered, &c->lock, &until) == 0)
		;
	c->stop_replica = 1;
	pthread_mutex_unlock(&c->lock);
	tell(&t);
	/* A cluster's node sends its clients on (ERR_NOT_LEADER: the client
	 * library asks the next node). A single node has no next: what the
	 * writer decides from here is refused ERR_SHUTTING_DOWN (replicate),
	 * then the rest by writer_stop, as before it ran raft. */
	if (!c->o.solo)
		writer_set_leading(c->w, 0, NULL, 0);
	wake_loop(c);
	pthread_join(c->thread, NULL);
	c->started = 0;
	catchup_free(c->cu);
	c->cu = NULL;
	membership_free(c->mb);
	c->mb = NULL;
	/* The replica answered what it had (its stop ends every proposal). */
	pthread_mutex_lock(&c->lock);
	give_up_locked(c, &t);
	pthread_mutex_unlock(&c->lock);
	tell(&t);
	uv_loop_close(&c->loop);
	close(c->wake_fd);
	c->wake_fd = -1;
	replica_free(c->rep);
	c->rep = NULL;
}

void cluster_free(cluster *c)
{
	if (!c)
		return;
	cluster_stop(c);
	pthread_cond_destroy(&c->answered);
	pthread_cond_destroy(&c->status);
	pthread_mutex_destroy(&c->lock);
	free(c->bare);
	free(c);
}

void cluster_catchup_stats(cluster *c, catchup_stats *st)
{
	catchup_stats_get(c->cu, st);
}

int cluster_ready(cluster *c)
{
	pthread_mutex_lock(&c->lock);
	int ready = c->leading                                                  ? 1
		    : c->failed || (c->have_st && (c->st.role == REPLICA_HALTED ||
						   c->st.role == REPLICA_FAILED)) ? -1
										    : 0;
	pthread_mutex_unlock(&c->lock);
	return ready;
}

int cluster_failed(cluster *c)
{
	return c && c->failed;
}

int cluster_status(cluster *c, replica_status *st)
{
	pthread_mutex_lock(&c->lock);
	int have = c->have_st;
	if (have)
		*st = c->st;
	pthread_mutex_unlock(&c->lock);
	return have ? 0 : LD_E(INVALID_STATE);
}

/* What the cluster request answers (server/nodes.c). */
struct status_block {
	replica_status st;
	Ledger__ClusterNode nodes[REPLICA_MAX_NODES];
	Ledger__ClusterNode *ptrs[REPLICA_MAX_NODES];
};

void *cluster_fill(void *arg, Ledger__ClusterStatus *out)
{
	cluster *c = arg;
	struct status_block *b = calloc(1, sizeof(*b));
	if (!b || cluster_status(c, &b->st) != 0) {
		free(b);
		return NULL; /* not started: said as not replicated */
	}
	const replica_status *st = &b->st;
	out->has_replicated = out->replicated = 1;
	out->has_id = 1;
	out->id = st->id;
	out->role = (char *)replica_role_name(st->role);
	out->has_ready = 1;
	out->ready = st->ready;
	out->has_leader_id = 1;
	out->leader_id = st->leader_id;
	out->leader_url = (char *)cluster_url_of(c, st, st->leader_id);
	out->has_term = out->has_last_index = out->has_commit_index = 1;
	out->term = st->term;
	out->last_index = st->last_index;
	out->commit_index = st->commit_index;
	out->has_confirmed_index = out->has_applied_index = out->has_log_seq = 1;
	out->confirmed_index = st->confirmed_index;
	out->applied_index = st->log_index;
	out->log_seq = st->log_seq;
	out->has_log_hash = 1;
	out->log_hash.data = b->st.log_hash;
	out->log_hash.len = REPLICA_HASH_LEN;
	if (st->reason[0])
		out->reason = b->st.reason;
	for (unsigned i = 0; i < st->n_nodes && i < REPLICA_MAX_NODES; i++) {
		Ledger__ClusterNode *n = &b->nodes[i];
		ledger__cluster_node__init(n);
		n->has_id = n->has_voter = 1;
		n->id = st->nodes[i].id;
		n->raft_address = b->st.nodes[i].address;
		n->url = (char *)cluster_url_of(c, st, st->nodes[i].id);
		n->voter = st->nodes[i].voter == 1;
		b->ptrs[i] = n;
	}
	out->n_nodes = st->n_nodes;
	out->nodes = b->ptrs;
	return b;
}
