/*
 * replica.c — the log replicated on C-Raft 0.15: what the replica decides
 * (see replica.h for the contract, docs/REPLICATION.md for the design;
 * core/replica_node.c is the plumbing around C-Raft).
 *
 * Sections: entries and markers; halting; confirmation (what a majority
 * holds, and what is therefore applied); applying (the state machine side of
 * C-Raft: apply, snapshot, restore, catch-up); the leader (barrier,
 * proposals, checkpoints); polling.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "log.h"
#include "replica_int.h"

static const uint8_t zero_hash[REPLICA_HASH_LEN];
_Static_assert(RC_MSG_LEN <= REPLICA_MSG_MAX, "a confirmation message fits");

static void maybe_ready(replica *r);

/* ------------------------------------------------------------------ */
/* Entries and markers                                                */
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

/* Format 2's events: their length once decompressed, 4 zero bytes, the
 * block. */
#define PACKED_HDR (REPLICA_ENTRY_HDR + 8)
/* Events shorter than this are not worth a block (one event or two). */
#define PACK_MIN 512

static size_t packed_size(size_t block)
{
	return (PACKED_HDR + block + 7) & ~(size_t)7;
}

static void header_encode(const replica_entry *h, unsigned format, size_t len, uint8_t *out)
{
	memcpy(out, "LDRE", 4);
	put_be(out + 4, format, 2);
	put_be(out + 6, 0, 2);
	put_be(out + 8, h->first_seq, 8);
	put_be(out + 16, h->count, 4);
	put_be(out + 20, len, 4);
	memcpy(out + 24, h->prev_hash, REPLICA_HASH_LEN);
	memcpy(out + 56, h->last_hash, REPLICA_HASH_LEN);
}

void replica_entry_encode(const replica_entry *h, const void *events, size_t len, uint8_t *out)
{
	size_t size = replica_entry_size(len);
	header_encode(h, 1, len, out);
	if (len)
		memcpy(out + REPLICA_ENTRY_HDR, events, len);
	memset(out + REPLICA_ENTRY_HDR + len, 0, size - REPLICA_ENTRY_HDR - len);
}

size_t replica_entry_packed_max(size_t len)
{
	size_t one = replica_entry_size(len);
	if (len < PACK_MIN || len > LD_COMPRESS_MAX)
		return one;
	size_t two = packed_size(ld_compress_bound(len));
	return two > one ? two : one;
}

size_t replica_entry_pack(const replica_entry *h, const void *events, size_t len, uint8_t *out)
{
	size_t one = replica_entry_size(len), block = 0;
	if (len >= PACK_MIN && len <= LD_COMPRESS_MAX)
		/* Kept only if the entry comes out smaller. */
		block = ld_compress(events, len, out + PACKED_HDR, one - PACKED_HDR - 8);
	if (!block) {
		replica_entry_encode(h, events, len, out);
		return one;
	}
	size_t size = packed_size(block);
	header_encode(h, 2, block, out);
	put_be(out + REPLICA_ENTRY_HDR, len, 4);
	put_be(out + REPLICA_ENTRY_HDR + 4, 0, 4);
	memset(out + PACKED_HDR + block, 0, size - PACKED_HDR - block);
	return size;
}

int replica_entry_unpack(const replica_entry *h, const uint8_t *events, size_t len, uint8_t *out)
{
	return ld_decompress(events, len, out, h->raw_len);
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
	unsigned format = (unsigned)get_be(p + 4, 2);
	if (memcmp(p, "LDRE", 4) || (format != 1 && format != 2) || get_be(p + 6, 2) != 0) {
		snprintf(why, n, "not an entry of format 1 or 2");
		return LD_E(MALFORMED);
	}
	h->first_seq = get_be(p + 8, 8);
	h->count = (uint32_t)get_be(p + 16, 4);
	size_t l = (size_t)get_be(p + 20, 4), at = REPLICA_ENTRY_HDR;
	memcpy(h->prev_hash, p + 24, REPLICA_HASH_LEN);
	memcpy(h->last_hash, p + 56, REPLICA_HASH_LEN);
	h->raw_len = 0;
	if (format == 2) {
		if (size < PACKED_HDR || packed_size(l) != size) {
			snprintf(why, n, "%zu bytes of compressed events do not fill %zu bytes", l,
			         size);
			return LD_E(MALFORMED);
		}
		h->raw_len = (uint32_t)get_be(p + REPLICA_ENTRY_HDR, 4);
		/* LZ4 gives at most 255 bytes per byte of block (a match's
		 * length goes on in bytes of 255): a length beyond that, or
		 * beyond what a leader proposes (REPLICA_ENTRY_MAX), is refused before
		 * anything is allocated for it. */
		if (!l || !h->count || !h->raw_len || h->raw_len > REPLICA_ENTRY_MAX ||
		    h->raw_len > 255 * (uint64_t)l + 16 || get_be(p + REPLICA_ENTRY_HDR + 4, 4)) {
			snprintf(why, n, "compressed events of %u bytes in a block of %zu",
			         h->raw_len, l);
			return LD_E(MALFORMED);
		}
		at = PACKED_HDR;
	} else if (replica_entry_size(l) != size || l > REPLICA_ENTRY_MAX) {
		snprintf(why, n, "%zu bytes of events do not fill %zu bytes, or are more than %u", l,
		         size, REPLICA_ENTRY_MAX);
		return LD_E(MALFORMED);
	}
	for (size_t i = at + l; i < size; i++)
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
	*events = p + at;
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
/* Halting                                                            */
/* ------------------------------------------------------------------ */

uint64_t rp_now_ms(replica *r)
{
	return r->raft ? (uint64_t)r->raft->io->time(r->raft->io) : 0;
}

/* Why a node halts, and what brings it back: a table, indexed by key_halt. */
static const char *const halt_says[][2] = {
    {"this node's log forks from the cluster's",
     "it is re-seeded from a healthy peer"},
    {"a key of this node (person-hash or cluster key) is not the cluster's",
     "it has the cluster's keys and is restarted"},
};

static int halt_v(replica *r, int key, const char *fmt, va_list ap)
{
	if (r->halted || r->failed)
		return RAFT_CORRUPT;
	vsnprintf(r->reason, sizeof r->reason, fmt, ap);
	r->halted = 1;
	r->key_halt = key;
	r->notify = 1;
	log_error("replica: HALTED, %s: %s; it stops applying and leaves the cluster until %s",
	          halt_says[key][0], r->reason, halt_says[key][1]);
	return RAFT_CORRUPT;
}

/* Stops applying for good on a fork: a chain this node must not continue. */
int rp_halt(replica *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = halt_v(r, 0, fmt, ap);
	va_end(ap);
	return rc;
}

/* Stops for good on a key the cluster does not share (replica_keys): this node
 * must neither decide (as leader) nor apply with it. */
static void halt_key(replica *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void halt_key(replica *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	halt_v(r, 1, fmt, ap);
	va_end(ap);
}

/* Stops on an I/O error: the node must be restarted (C-Raft 0.15 does not
 * recover from one reliably). */
void rp_fail(replica *r, const char *fmt, ...)
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

int rp_io_error(int status)
{
	return status == RAFT_IOERR || status == RAFT_NOSPACE;
}

/* ------------------------------------------------------------------ */
/* Confirmation                                                       */
/* ------------------------------------------------------------------ */

/*
 * What C-Raft reports committed is not trusted: an entry is confirmed when
 * an entry of the current leader's term at that index or after it is on the
 * disks of a majority of voters, as they say themselves (RC_HOLD, to the
 * leader). The leader tells the others how far that goes (RC_SAFE). A node
 * applies an entry C-Raft hands over only once it is confirmed and its own
 * disk holds the leader's log up to it (docs/REPLICATION.md has the
 * argument). The messages are resent every heartbeat: a lost one costs a
 * heartbeat, not safety.
 */

static void drain(replica *r);

static uint64_t now_us(replica *r)
{
	return r->loop ? uv_hrtime() / 1000 : rp_now_ms(r) * 1000;
}

static void say(replica *r, uint64_t to, int type, uint64_t term, uint64_t index)
{
	rc_msg m = {
	    .type = type, .from = r->raft->id, .term = term, .index = index, .keys = r->keys};
	uint8_t buf[RC_MSG_LEN];
	rc_log_digest(&r->log, index, &m.digest);
	rc_msg_encode(&m, buf);
	if (r->send)
		r->send(r, to, buf, sizeof buf, r->arg);
}

int rp_running(replica *r)
{
	return r->raft && !r->halted && !r->failed && !(r->loop && !r->raft_running);
}

/* Works out what is confirmed and held here. */
void rp_reckon(replica *r)
{
	struct raft *raft = r->raft;
	uint64_t term = raft->current_term, held = rc_log_held(&r->log, term);
	if (r->safe_term != term) {
		r->safe_term = term;
		r->safe_index = 0;
	}
	if (raft_state(raft) == RAFT_LEADER) {
		uint64_t v[RC_MAX_PEERS];
		unsigned nv = 0;
		for (unsigned i = 0; i < raft->configuration.n && nv < RC_MAX_PEERS; i++)
			if (raft->configuration.servers[i].role == RAFT_VOTER)
				v[nv++] = raft->configuration.servers[i].id;
		uint64_t c = rc_quorum(&r->peers, v, nv, raft->id, held, term);
		if (c > r->safe_index)
			r->safe_index = c;
	}
	uint64_t safe = r->safe_index < held ? r->safe_index : held;
	if (safe > r->committed)
		r->committed = safe;
}

/* A node that does not vote tells the leader, once a heartbeat, how far its
 * log has applied raft's entries and how its catch-ups went (RC_APPLIED):
 * the leader makes it a voter only once it has caught up. */
static void tell_applied(replica *r, uint64_t now)
{
	struct raft *raft = r->raft;
	raft_id lid = 0;
	const char *laddr = NULL;
	if (now - r->applied_sent_at < raft->heartbeat_timeout)
		return;
	raft_leader(raft, &lid, &laddr);
	if (!lid || lid == raft->id)
		return;
	for (unsigned i = 0; i < raft->configuration.n; i++)
		if (raft->configuration.servers[i].id == raft->id &&
		    raft->configuration.servers[i].role == RAFT_VOTER)
			return;
	rc_msg m = {.type = RC_APPLIED,
	            .from = raft->id,
	            .term = raft->current_term,
	            .index = r->catching_up ? 0 : raft_last_applied(raft),
	            .digest = (r->fetch_failures & ~RC_CATCHING) | (r->catching_up ? RC_CATCHING : 0),
	            .keys = r->keys};
	uint8_t buf[RC_MSG_LEN];
	rc_msg_encode(&m, buf);
	if (r->send)
		r->send(r, lid, buf, sizeof buf, r->arg);
	r->applied_sent_at = now;
}

/* Tells the others what changed, or what holds, once a heartbeat. */
void rp_tell(replica *r)
{
	struct raft *raft = r->raft;
	uint64_t term = raft->current_term, now = rp_now_ms(r), held = rc_log_held(&r->log, term);
	int leader = raft_state(raft) == RAFT_LEADER,
	    due = now - r->sent_at >= raft->heartbeat_timeout;
	/* The leader says what it has confirmed once C-Raft has applied it
	 * there: after the proposal's answer, not before it, and still before
	 * C-Raft's next AppendEntries tells the followers it is committed. */
	uint64_t applied = raft_last_applied(raft);
	uint64_t what = !leader ? held : r->safe_index < applied ? r->safe_index : applied;
	if (!leader)
		tell_applied(r, now);
	if (!what || (!due && r->sent_term == term && r->sent_index == what))
		return;
	if (leader) {
		for (unsigned i = 0; i < raft->configuration.n; i++)
			if (raft->configuration.servers[i].id != raft->id)
				say(r, raft->configuration.servers[i].id, RC_SAFE, term, what);
	} else {
		raft_id lid = 0;
		const char *laddr = NULL;
		raft_leader(raft, &lid, &laddr);
		if (!lid || lid == raft->id)
			return;
		say(r, lid, RC_HOLD, term, what);
	}
	r->sent_term = term;
	r->sent_index = what;
	r->sent_at = now;
}

/* Works out what is confirmed, applies it, and (tell) tells the others. */
static void advance(replica *r, int tell)
{
	if (!rp_running(r))
		return;
	rp_reckon(r);
	drain(r);
	maybe_ready(r);
	/* An entry held back from C-Raft for a snapshot's sake (fsm_apply) is
	 * confirmed now: a checkpoint's write makes C-Raft apply again. */
	if (r->held_back && r->committed >= r->held_back && rp_is_ready(r) &&
	    !r->checkpoint_inflight) {
		r->held_back = 0;
		rp_checkpoint(r);
	}
	if (tell && rp_running(r))
		rp_tell(r);
}

const replica_key_info replica_key_table[REPLICA_KEYS] = {
    [REPLICA_KEY_HASH] = {"person-hash key id", "ledgerd_replica_person_hash_key_info", "key_id",
                          "copy the first node's DATA/person-hash.key (mode 0600) into its data "
                          "directory"},
    [REPLICA_KEY_CLUSTER] = {"cluster key fingerprint", "ledgerd_replica_cluster_key_info",
                             "fingerprint",
                             "give it the other nodes' cluster key file (--cluster-key; none "
                             "if they have none)"},
};

int replica_keys_differ(const replica_keys *a, const replica_keys *b)
{
	for (int k = 0; k < REPLICA_KEYS; k++)
		if (a->id[k] != b->id[k])
			return k;
	return -1;
}

struct rp_heard *rp_heard_of(replica *r, uint64_t id)
{
	for (unsigned k = 0; k < r->n_keys_heard; k++)
		if (r->keys_heard[k].id == id)
			return &r->keys_heard[k];
	return NULL;
}

/* A leader heard node `from` name its keys. A node whose keys differ is not
 * counted (its HOLDs are dropped); once the voters whose keys differ from
 * this node's are a majority, this node's are not the cluster's: it could
 * never be ready, and halts. Its entry in keys_heard (NULL: the table is
 * full). */

static struct rp_heard *key_heard(replica *r, uint64_t from, const replica_keys *keys)
{
	struct rp_heard *h = rp_heard_of(r, from);
	int known = h != NULL;
	if (!known) {
		if (r->n_keys_heard == RC_MAX_PEERS)
			return NULL;
		h = &r->keys_heard[r->n_keys_heard++];
		*h = (struct rp_heard){.id = from};
	}
	int which = replica_keys_differ(keys, &r->keys);
	if (!known || replica_keys_differ(&h->keys, keys) >= 0) {
		h->keys = *keys;
		if (which >= 0)
			log_warn("replica: node %llu's %s is %016llx, this node's %016llx: its "
			         "confirmations do not count (every node of a cluster must share it: "
			         "%s)",
			         (unsigned long long)from, replica_key_table[which].what,
			         (unsigned long long)keys->id[which],
			         (unsigned long long)r->keys.id[which], replica_key_table[which].fix);
	}
	if (which < 0)
		return h;
	const struct raft_configuration *c = &r->raft->configuration;
	unsigned nv = 0, differ = 0;
	uint64_t other = 0, other_id = 0;
	int other_which = which;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->servers[i].role != RAFT_VOTER)
			continue;
		nv++;
		const struct rp_heard *o = rp_heard_of(r, c->servers[i].id);
		int w = o ? replica_keys_differ(&o->keys, &r->keys) : -1;
		if (w >= 0) {
			differ++;
			other_which = w;
			other = o->keys.id[w];
			other_id = o->id;
		}
	}
	if (nv && differ >= nv / 2 + 1)
		halt_key(r,
		         "%s %016llx here, %016llx on node %llu: %u of the %u voters do not share "
		         "this node's keys; %s, and restart it",
		         replica_key_table[other_which].what,
		         (unsigned long long)r->keys.id[other_which], (unsigned long long)other,
		         (unsigned long long)other_id, differ, nv, replica_key_table[other_which].fix);
	return h;
}

void rp_forget_heard(replica *r, uint64_t id)
{
	struct rp_heard *h = rp_heard_of(r, id);
	if (h)
		*h = r->keys_heard[--r->n_keys_heard];
}

int replica_catchup_of(replica *r, uint64_t id, replica_catchup *c)
{
	memset(c, 0, sizeof *c);
	if (!r->raft || r->role != REPLICA_LEADER)
		return LD_E(NOT_FOUND);
	uint64_t now = rp_now_ms(r);
	const struct rp_heard *h = rp_heard_of(r, id);
	if (!h || !h->applied_at)
		return LD_E(NOT_FOUND);
	c->applied_index = h->applied;
	c->fetch_failures = h->fetch_failures;
	c->catching_up = h->catching;
	c->heard_ms = now >= h->applied_at ? now - h->applied_at : 0;
	return 0;
}

int replica_key_of(replica *r, uint64_t id, replica_keys *keys, int *which)
{
	if (!r->raft || r->role != REPLICA_LEADER)
		return LD_E(NOT_FOUND);
	const struct rp_heard *h = rp_heard_of(r, id);
	if (!h)
		return LD_E(NOT_FOUND);
	*keys = h->keys;
	*which = replica_keys_differ(keys, &r->keys);
	return *which < 0 ? 0 : LD_E(INVALID_STATE);
}

void replica_receive(replica *r, const void *msg, size_t len)
{
	rc_msg m;
	uint64_t d;
	if (!r->raft || r->halted || r->failed || (r->loop && !r->raft_running) ||
	    rc_msg_decode(msg, len, &m) || m.from == r->raft->id)
		return;
	if (m.type == RC_REMOVED) { /* of any term: this node may be behind */
		rp_removed_heard(r, &m);
		return;
	}
	if (m.term != r->raft->current_term)
		return;
	int leader = raft_state(r->raft) == RAFT_LEADER;
	if (m.type == RC_APPLIED) {
		if (!leader)
			return;
		struct rp_heard *h = key_heard(r, m.from, &m.keys);
		if (h) {
			h->applied_at = rp_now_ms(r);
			h->applied = m.index;
			h->fetch_failures = m.digest & ~RC_CATCHING;
			h->catching = (m.digest & RC_CATCHING) != 0;
		}
		return;
	}
	if (m.type == RC_HOLD) {
		if (!leader)
			return;
		/* A node with other keys (a national ID hashed with another key,
		 * members' keys it cannot open) is not counted: a leader is
		 * ready only with a majority sharing its keys. */
		struct rp_heard *h = key_heard(r, m.from, &m.keys);
		if (replica_keys_differ(&m.keys, &r->keys) >= 0)
			return;
		if (h)
			h->at = rp_now_ms(r);
		/* Only the leader of m.term made its entries; a node that holds
		 * another one at that index and term is not counted. */
		if (rc_log_term(&r->log, m.index) != m.term ||
		    (rc_log_digest(&r->log, m.index, &d) == 0 && d != m.digest))
			return;
		rc_peers_note(&r->peers, m.from, m.term, m.index);
	} else {
		if (leader)
			return;
		/* A leader says SAFE only for what a majority of voters sharing
		 * its keys hold: this node's keys are not the cluster's. It halts
		 * before it applies anything that leader confirmed. */
		int w = replica_keys_differ(&m.keys, &r->keys);
		if (w >= 0) {
			/* The leader hears this node's keys first (membership
			 * waits for them before making a node a voter). */
			say(r, m.from, RC_HOLD, m.term, rc_log_held(&r->log, m.term));
			halt_key(r,
			         "%s %016llx here, %016llx on the leader, node %llu, and on a "
			         "majority of the voters; %s, and restart it",
			         replica_key_table[w].what, (unsigned long long)r->keys.id[w],
			         (unsigned long long)m.keys.id[w], (unsigned long long)m.from,
			         replica_key_table[w].fix);
			return;
		}
		if (r->safe_term != m.term) {
			r->safe_term = m.term;
			r->safe_index = 0;
		}
		if (m.index > r->safe_index)
			r->safe_index = m.index;
		if (rc_log_held(&r->log, m.term) >= m.index &&
		    rc_log_digest(&r->log, m.index, &d) == 0 && d != m.digest) {
			rp_halt(
			    r,
			    "raft's log here holds another entry at index %llu, term %llu, than "
			    "the leader's",
			    (unsigned long long)m.index, (unsigned long long)m.term);
			return;
		}
	}
	/* The others are told in the next poll, once this loop iteration
	 * has handled what else arrived (C-Raft's own messages): what is
	 * confirmed is applied and answered first. */
	advance(r, 0);
}

/* ------------------------------------------------------------------ */
/* Applying                                                           */
/* ------------------------------------------------------------------ */

static int enqueue(replica *r, uint64_t index, const void *data, size_t size, int front);
static void fetch_start(replica *r);

/* Whether an entry the state machine took to append later failed there
 * (replica_sm_ops.settle; wait: first until all are appended): 0, or a
 * raft error code after the node halted (its events do not chain) or
 * failed. */
static int settled(replica *r, int wait)
{
	uint64_t index = 0;
	char why[256];
	if (!r->ops->settle || r->halted || r->failed)
		return r->halted || r->failed ? RAFT_CORRUPT : 0;
	int rc = r->ops->settle(r->sm, wait, &index, why, sizeof why);
	if (rc == 0)
		return 0;
	if (rc == LD_E(CHAIN_BROKEN))
		return rp_halt(r, "entry %llu: %s", (unsigned long long)index, why);
	rp_fail(r, "applying entry %llu to the log: %s", (unsigned long long)index, why);
	return RAFT_IOERR;
}

/* Checks the entry at raft index `index` against the log and applies it (or
 * skips it, when the log holds it already). 0, or a raft error code after a
 * halt or failure. */
static int apply_events(replica *r, uint64_t index, const replica_entry *hp,
                        const uint8_t *events, size_t len)
{
	replica_entry h = *hp;
	char a[17], b[17];
	uint64_t seq, at;
	uint8_t head[REPLICA_HASH_LEN], hash[REPLICA_HASH_LEN];
	r->ops->head(r->sm, &seq, head, &at);
	uint64_t last = h.first_seq + h.count - 1;

	if (index <= at && h.count && h.first_seq == seq + 1 &&
	    !memcmp(h.prev_hash, head, REPLICA_HASH_LEN)) {
		/* Events that follow the log's head exactly, at an index it
		 * recorded as applied: never applied here (every seq it applied
		 * is at or before its head), so the index it recorded is another
		 * raft log's: a whole cluster restored from one hot backup, each
		 * node's raft log begun afresh at index 1 (docs/REPLICATION.md,
		 * "Upgrade"). Applied as new: the chain checks are what keeps the
		 * events one history; the log's index follows raft's from here. */
		log_warn("replica: entry %llu (seq %llu..%llu) follows the log's head, which "
		         "recorded raft index %llu: that index is another raft log's (a cluster "
		         "restored from one hot backup); the entry is applied, and the log's "
		         "index follows this raft log from here on",
		         (unsigned long long)index, (unsigned long long)h.first_seq,
		         (unsigned long long)last, (unsigned long long)at);
		at = index - 1;
	}
	if (index <= at) {
		/* Applied before (a restart replays from the last snapshot):
		 * the log must hold exactly these events (all of them appended
		 * first, for hash_at to read). */
		int rc = settled(r, 1);
		if (rc)
			return rc;
		if (last > seq)
			return rp_halt(
			    r,
			    "entry %llu (seq %llu..%llu) was applied before, but the log "
			    "ends at seq %llu",
			    (unsigned long long)index, (unsigned long long)h.first_seq,
			    (unsigned long long)last, (unsigned long long)seq);
		const uint8_t *prev = zero_hash;
		if (h.first_seq > 1) {
			if (r->ops->hash_at(r->sm, h.first_seq - 1, hash)) {
				rp_fail(r, "the log cannot read seq %llu",
				        (unsigned long long)(h.first_seq - 1));
				return RAFT_IOERR;
			}
			prev = hash;
		}
		if (memcmp(prev, h.prev_hash, REPLICA_HASH_LEN))
			return rp_halt(
			    r,
			    "entry %llu replayed: seq %llu's hash is %s in the log, %s in "
			    "the entry",
			    (unsigned long long)index, (unsigned long long)(h.first_seq - 1),
			    hex8(prev, a), hex8(h.prev_hash, b));
		if (h.count) {
			if (r->ops->hash_at(r->sm, last, hash)) {
				rp_fail(r, "the log cannot read seq %llu",
				        (unsigned long long)last);
				return RAFT_IOERR;
			}
			if (memcmp(hash, h.last_hash, REPLICA_HASH_LEN))
				return rp_halt(r,
				               "entry %llu replayed: seq %llu's hash is %s in the "
				               "log, %s in the entry",
				               (unsigned long long)index, (unsigned long long)last,
				               hex8(hash, a), hex8(h.last_hash, b));
		}
		return 0;
	}

	if (h.first_seq != seq + 1 || memcmp(h.prev_hash, head, REPLICA_HASH_LEN))
		return rp_halt(r,
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
	/* An entry taken before failed: that is the one to name. */
	if (rc && settled(r, 0))
		return r->halted ? RAFT_CORRUPT : RAFT_IOERR;
	if (rc == LD_E(CHAIN_BROKEN))
		return rp_halt(r,
		               "entry %llu: its events do not chain from seq %llu's hash to the "
		               "hash it names for seq %llu",
		               (unsigned long long)index, (unsigned long long)seq,
		               (unsigned long long)last);
	if (rc) {
		rp_fail(r, "applying entry %llu to the log: %s", (unsigned long long)index,
		        ld_strerror(rc));
		return RAFT_IOERR;
	}
	return 0;
}

/* Decodes the entry at raft index `index` (decompressing its events, format
 * 2) and applies it (apply_events). */
static int apply_entry(replica *r, uint64_t index, const void *data, size_t size)
{
	replica_entry h;
	const uint8_t *events;
	size_t len;
	char why[128];
	if (replica_entry_decode(data, size, &h, &events, &len, why, sizeof why))
		return rp_halt(r, "entry %llu cannot be read: %s", (unsigned long long)index, why);
	uint64_t seq, at;
	uint8_t head[REPLICA_HASH_LEN];
	r->ops->head(r->sm, &seq, head, &at);
	if (at == 0 && seq + 1 < h.first_seq && !r->catching_up) {
		/* A log with no raft index (a node added from an empty data
		 * directory, or such a catch-up cut short by a kill: its pages
		 * are stored in several commits, each with index 0) sent an
		 * entry past its head + 1: the cluster's raft log begins after
		 * its first events (an upgraded single node's, a restored
		 * cluster's). It catches up over pages from its head to the
		 * event before the entry, as behind a marker (the pages must
		 * chain on its head's hash, and end on the entry's prev_hash),
		 * and applies the entry after. */
		log_info("replica: entry %llu starts at seq %llu and this node's log %s: "
		         "fetching the events up to seq %llu from a peer",
		         (unsigned long long)index, (unsigned long long)h.first_seq,
		         seq ? "ends before it, with no raft index (a catch-up cut short)"
		             : "is empty",
		         (unsigned long long)(h.first_seq - 1));
		r->catching_up = 1;
		r->cu_seq = h.first_seq - 1;
		r->cu_index = index - 1;
		memcpy(r->cu_hash, h.prev_hash, REPLICA_HASH_LEN);
		r->notify = 1;
		int rc = enqueue(r, index, data, size, 1);
		if (rc == 0 && !r->fetch_running)
			fetch_start(r);
		return rc;
	}
	/* The leader's own group: its events as its writer has them. */
	size_t raw_len = h.raw_len ? h.raw_len : len;
	const void *mine = h.count && r->ops->own ? r->ops->own(r->sm, &h, raw_len) : NULL;
	if (mine)
		return apply_events(r, index, &h, mine, raw_len);
	if (!h.raw_len)
		return apply_events(r, index, &h, events, len);
	uint8_t *raw = malloc(h.raw_len);
	if (!raw) {
		rp_fail(r, "no memory to decompress entry %llu (%u bytes)",
		        (unsigned long long)index, h.raw_len);
		return RAFT_NOMEM;
	}
	int rc = replica_entry_unpack(&h, events, len, raw) == 0
	             ? apply_events(r, index, &h, raw, h.raw_len)
	             : rp_halt(r, "entry %llu cannot be read: its %zu bytes of events do not "
	                          "decompress to %u",
	                       (unsigned long long)index, len, h.raw_len);
	free(raw);
	return rc;
}

/* Queues an entry at the tail, or at the head (front: the one taken off it
 * to be applied, put back behind a catch-up). */
static int enqueue(replica *r, uint64_t index, const void *data, size_t size, int front)
{
	if (r->q_bytes + size > QUEUE_MAX) {
		rp_fail(r,
		        "over %zu MiB of entries wait to be applied (unconfirmed, or behind a "
		        "catch-up to index %llu)",
		        QUEUE_MAX >> 20, (unsigned long long)r->cu_index);
		return RAFT_NOMEM;
	}
	struct queued *q = malloc(sizeof *q + size);
	if (!q) {
		rp_fail(r, "out of memory queueing entry %llu", (unsigned long long)index);
		return RAFT_NOMEM;
	}
	q->next = NULL;
	q->index = index;
	q->size = size;
	memcpy(q->data, data, size);
	if (front) {
		q->next = r->q_head;
		r->q_head = q;
		if (!r->q_tail)
			r->q_tail = q;
	} else {
		if (r->q_tail)
			r->q_tail->next = q;
		else
			r->q_head = q;
		r->q_tail = q;
	}
	r->q_bytes += size;
	return 0;
}

void rp_queue_drop(replica *r, uint64_t upto)
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

static void answer(replica *r, uint64_t index);
static void seen(replica *r, uint64_t index);

/* Applies a confirmed entry, if it is what this node's raft log holds at
 * that index (C-Raft never replaces an entry it reported committed; were it
 * to, the node restarts and C-Raft hands over its log again). */
static int apply_confirmed(replica *r, uint64_t index, const void *data, size_t size)
{
	uint64_t d;
	if (rc_log_digest(&r->log, index, &d) == 0 && d != rc_digest(RAFT_COMMAND, data, size)) {
		rp_fail(r, "C-Raft handed over an entry at index %llu that its log no longer holds",
		        (unsigned long long)index);
		return RAFT_IOERR;
	}
	int rc = apply_entry(r, index, data, size);
	if (rc == 0)
		answer(r, index);
	return rc;
}

/* Applies what C-Raft handed over, in order, as far as it is confirmed and
 * not waiting behind a catch-up. */
static void drain(replica *r)
{
	while (r->q_head && r->q_head->index <= r->committed && !r->catching_up && !r->halted &&
	       !r->failed) {
		struct queued *q = r->q_head;
		r->q_head = q->next;
		if (!r->q_head)
			r->q_tail = NULL;
		r->q_bytes -= q->size;
		apply_confirmed(r, q->index, q->data, q->size);
		free(q);
	}
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	replica *r = fsm->data;
	*result = NULL;
	if (r->halted || r->failed || settled(r, 0))
		return RAFT_CORRUPT;
	/* C-Raft 0.15 passes no index: entries are applied in order and
	 * last_applied moves after each, so this one is the next. What it says
	 * is committed waits here until it is confirmed. */
	uint64_t index = raft_last_applied(r->raft) + 1;
	if (r->q_head || r->catching_up || index > r->committed) {
		/* C-Raft takes a snapshot only right after it applied entries,
		 * and the marker must not name one awaiting confirmation. A
		 * leader that had to put one off holds the next unconfirmed entry
		 * back from C-Raft instead (it stops there, takes the snapshot,
		 * and applies the entry again later: errors from apply are
		 * ignored on a leader; never on a follower, whose answer to the
		 * leader would be lost). */
		if (r->snapshot_owed && !r->q_head && !r->catching_up && rp_is_ready(r) &&
		    raft_state(r->raft) == RAFT_LEADER) {
			r->held_back = index;
			r->holdbacks++;
			seen(r, index);
			return RAFT_BUSY;
		}
		return enqueue(r, index, buf->base, buf->len, 0);
	}
	return apply_confirmed(r, index, buf->base, buf->len);
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
	replica *r = fsm->data;
	/* A marker names the log at raft's last applied index: everything up to
	 * it must be confirmed and in the log. C-Raft tries again after its
	 * next apply. */
	if (r->halted || r->failed || r->catching_up || r->q_head ||
	    raft_last_applied(r->raft) > r->committed) {
		r->snapshots_refused++;
		r->snapshot_owed = 1;
		return RAFT_BUSY;
	}
	r->snapshot_owed = 0;
	int rc = settled(r, 1);
	if (rc)
		return rc;
	rc = r->ops->sync(r->sm);
	if (rc) {
		rp_fail(r, "syncing the log for a snapshot: %s", ld_strerror(rc));
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
	r->snapshot_taking = m.index;
	r->snapshots++;
	return 0;
}

/* fsm version 2: the buffers stay ours. C-Raft 0.15 calls this once the
 * marker is written and its in-memory log trimmed behind it (takeSnapshotCb:
 * logSnapshot, then the close): only then is a follower that far behind sent
 * the marker rather than entries, so only then is it the status's marker. (A
 * marker whose write failed comes here too; raft's I/O errors fail the
 * node.) */
static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
	replica *r = fsm->data;
	if (r->snapshot_taking > r->snapshot_index) {
		r->snapshot_index = r->snapshot_taking;
		r->notify = 1; /* replica_final_marker's caller watches the status */
	}
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
		r->fetch_retry_at = rp_now_ms(r) + r->election_ms;
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
	if (r->halted || r->failed || settled(r, 1))
		return RAFT_CORRUPT;
	if (marker_decode(buf->base, buf->len, &m))
		return rp_halt(r, "a snapshot marker of %zu bytes cannot be read", buf->len);
	uint64_t seq, at;
	uint8_t head[REPLICA_HASH_LEN], hash[REPLICA_HASH_LEN];
	r->ops->head(r->sm, &seq, head, &at);
	r->snapshot_index = m.index;
	/* A marker names a confirmed state (fsm_snapshot), which covers what
	 * C-Raft handed over before it. */
	if (m.index > r->committed)
		r->committed = m.index;
	rp_queue_drop(r, m.index);
	if (m.seq <= seq) {
		const uint8_t *have = zero_hash;
		if (m.seq) {
			if (r->ops->hash_at(r->sm, m.seq, hash)) {
				rp_fail(r, "the log cannot read seq %llu",
				        (unsigned long long)m.seq);
				return RAFT_IOERR;
			}
			have = hash;
		}
		if (memcmp(have, m.hash, REPLICA_HASH_LEN))
			return rp_halt(
			    r, "snapshot at index %llu: seq %llu's hash is %s, the log has %s",
			    (unsigned long long)m.index, (unsigned long long)m.seq, hex8(m.hash, a),
			    hex8(have, b));
		if (seq > m.seq && at < m.index)
			return rp_halt(
			    r,
			    "snapshot at index %llu ends at seq %llu, but the log holds seq "
			    "%llu from index %llu or earlier",
			    (unsigned long long)m.index, (unsigned long long)m.seq,
			    (unsigned long long)seq, (unsigned long long)at);
		/* An installed snapshot replaces raft's log: from now on the
		 * log's own copy of those events is the node's only one. */
		int rc = r->ops->sync(r->sm);
		if (rc) {
			rp_fail(r, "syncing the log for a snapshot: %s", ld_strerror(rc));
			return RAFT_IOERR;
		}
		raft_free(buf->base);
		return 0;
	}
	log_info("replica: snapshot at index %llu is ahead of the log (seq %llu > %llu): "
	         "fetching the events from a peer",
	         (unsigned long long)m.index, (unsigned long long)m.seq, (unsigned long long)seq);
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
		r->fetch_failures++;
		r->fetch_retry_at = rp_now_ms(r) + r->election_ms;
		log_warn("replica: fetching events up to seq %llu failed: %s; retrying",
		         (unsigned long long)r->cu_seq, ld_strerror(status));
		return;
	}
	uint64_t seq, at;
	uint8_t head[REPLICA_HASH_LEN];
	char a[17], b[17];
	r->ops->head(r->sm, &seq, head, &at);
	if (seq != r->f_seq || memcmp(head, r->f_hash, REPLICA_HASH_LEN)) {
		rp_halt(r,
		        "the fetch ended at seq %llu with hash %s, not the marker's seq %llu, %s",
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
	drain(r);
	maybe_ready(r);
}

/* ------------------------------------------------------------------ */
/* The leader                                                         */
/* ------------------------------------------------------------------ */

int rp_is_ready(replica *r)
{
	return r->lstate == L_READY && !r->catching_up && !r->halted && !r->failed;
}

/* Once the barrier is applied and confirmed (so every entry before it is
 * committed) and nothing before it waits to be applied, the log's head is the
 * tail: ready. */
static void maybe_ready(replica *r)
{
	if (r->lstate != L_APPLIED || r->catching_up || r->halted || r->failed ||
	    r->committed < r->barrier_index || (r->q_head && r->q_head->index <= r->barrier_index))
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
	if (rp_io_error(status)) {
		rp_fail(r, "the election barrier: %s", raft_strerror(status));
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

void rp_unlink_proposal(replica *r, struct proposal *p)
{
	for (struct proposal **pp = &r->p_head; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	free(p);
}

/* Answers a proposal once: 0 (confirmed and applied here) or
 * REPLICA_E_UNKNOWN. It is freed once C-Raft is done with it too. */
static void finish(replica *r, struct proposal *p, int status)
{
	p->answered = 1;
	if (status == 0) {
		r->acks++;
		if (p->raft_seen)
			r->ack_wait_us += now_us(r) - p->raft_at;
	} else {
		/* What follows the entry is unknown: rebase the tail on the log
		 * once a barrier has applied again. */
		if (r->lstate != L_NONE)
			r->lstate = L_BARRIER;
		r->notify = 1;
	}
	if (p->cb)
		p->cb(r, status, status ? 0 : p->req.index, p->arg);
	else
		r->checkpoint_inflight = 0;
	if (p->raft_done)
		rp_unlink_proposal(r, p);
}

/* Entry index is applied: its proposal (of this leadership) is answered. */
static void answer(replica *r, uint64_t index)
{
	for (struct proposal *p = r->p_head; p; p = p->next)
		if (!p->answered && p->req.index == index) {
			finish(r, p, 0);
			return;
		}
}

/* C-Raft reports entry index committed, or tries to apply it: from then on
 * the time to its confirmation is what the confirmation costs. */
static void seen(replica *r, uint64_t index)
{
	for (struct proposal *p = r->p_head; p; p = p->next)
		if (p->req.index == index && !p->raft_seen) {
			p->raft_seen = 1;
			p->raft_at = now_us(r);
		}
}

/* Every proposal not answered, but those of the leadership in `keep_term`
 * (0: all), ends "outcome unknown": the entry may be committed elsewhere. */
void rp_fail_pending(replica *r, uint64_t keep_term)
{
	for (;;) {
		struct proposal *p = r->p_head;
		while (p && (p->answered || (keep_term && p->term == keep_term)))
			p = p->next;
		if (!p)
			return;
		finish(r, p, REPLICA_E_UNKNOWN);
	}
}

static void proposal_cb(struct raft_apply *req, int status, void *result)
{
	struct proposal *p = (struct proposal *)req;
	replica *r = p->r;
	(void)result;
	p->raft_done = 1;
	if (!p->raft_seen) {
		p->raft_seen = 1;
		p->raft_at = now_us(r);
	}
	if (status && rp_io_error(status))
		rp_fail(r, "appending an entry: %s", raft_strerror(status));
	/* Committed as C-Raft counts: answered once confirmed (answer). */
	if (p->answered)
		rp_unlink_proposal(r, p);
	else if (status)
		finish(r, p, REPLICA_E_UNKNOWN);
}

/* Whether the packed entry (size bytes) reads back as h and the events: a
 * group is checked before raft's log holds it, as the leader applies its own
 * group from the writer's bytes (replica_sm_ops.own), not from the entry. */
static int packed_back(const void *buf, size_t size, const replica_entry *h, const void *events,
                       size_t len)
{
	replica_entry d;
	const uint8_t *got;
	size_t n;
	char why[128];
	if (replica_entry_decode(buf, size, &d, &got, &n, why, sizeof why) ||
	    d.first_seq != h->first_seq || d.count != h->count ||
	    memcmp(d.prev_hash, h->prev_hash, REPLICA_HASH_LEN) ||
	    memcmp(d.last_hash, h->last_hash, REPLICA_HASH_LEN))
		return 0;
	if (!d.raw_len)
		return n == len && (!len || memcmp(got, events, len) == 0);
	uint8_t *raw = d.raw_len == len ? malloc(len) : NULL;
	int ok = raw && replica_entry_unpack(&d, got, n, raw) == 0 && memcmp(raw, events, len) == 0;
	free(raw);
	return ok;
}

static int submit(replica *r, const replica_entry *h, const void *events, size_t len,
                  replica_done_cb cb, void *arg)
{
	size_t size = replica_entry_packed_max(len);
	struct proposal *p = calloc(1, sizeof *p);
	struct raft_buffer b = {raft_malloc(size), size};
	if (!p || !b.base) {
		free(p);
		raft_free(b.base);
		return LD_E(INTERNAL);
	}
	b.len = replica_entry_pack(h, events, len, b.base);
	if (!packed_back(b.base, b.len, h, events, len)) {
		log_error("replica: an entry from seq %llu did not read back as the events packed "
		          "into it; not proposed",
		          (unsigned long long)h->first_seq);
		raft_free(b.base);
		free(p);
		return LD_E(INTERNAL);
	}
	/* C-Raft holds the buffer until a marker trims its log: sized to what
	 * the entry holds, not to the room compressing needed (a batch's
	 * entry compresses to about a quarter, and the rest stayed held). */
	if (b.len < size) {
		void *fit = raft_realloc(b.base, b.len);
		if (fit)
			b.base = fit;
	}
	p->r = r;
	p->cb = cb;
	p->arg = arg;
	p->req.data = p;
	p->term = r->raft->current_term;
	int rv = raft_apply(r->raft, &p->req, &b, 1, proposal_cb);
	if (rv) {
		raft_free(b.base);
		free(p);
		if (rv == RAFT_NOTLEADER || rv == RAFT_LEADERSHIPLOST)
			return REPLICA_E_NOT_LEADER;
		if (rp_io_error(rv)) {
			rp_fail(r, "appending an entry: %s", raft_strerror(rv));
			return REPLICA_E_HALTED;
		}
		return LD_E(INTERNAL);
	}
	struct proposal **pp = &r->p_head;
	while (*pp)
		pp = &(*pp)->next;
	*pp = p;
	r->tail_seq = h->first_seq + h->count - 1;
	memcpy(r->tail_hash, h->last_hash, REPLICA_HASH_LEN);
	r->last_activity = rp_now_ms(r);
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
	if (!rp_is_ready(r))
		return ld_errinfo_set(e, LD_E(BUSY), NULL,
		                      "the leader is applying its election barrier");
	if (len > REPLICA_ENTRY_MAX)
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
void rp_checkpoint(replica *r)
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
/* Polling                                                            */
/* ------------------------------------------------------------------ */

int replica_role(replica *r)
{
	if (r->halted)
		return REPLICA_HALTED;
	if (r->failed)
		return REPLICA_FAILED;
	if (!r->raft)
		return REPLICA_STOPPED;
	if (r->removed && raft_state(r->raft) != RAFT_LEADER)
		return REPLICA_REMOVED;
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

void replica_poll(replica *r)
{
	if (!r->raft)
		return;
	rp_flush_deferred(r);
	settled(r, 0);
	int st = raft_state(r->raft);
	/* C-Raft turns itself off after an error it cannot handle (a failed
	 * write on a follower, say). In the fixture its owner checks. */
	if (r->loop && r->raft_running && st == RAFT_UNAVAILABLE)
		rp_fail(r, "raft stopped on its own: %s", raft_errmsg(r->raft));
	if (r->loop && r->raft_running && st == RAFT_FOLLOWER)
		rp_removed_self(r);

	int role = replica_role(r);
	if (role != r->role)
		r->notify = 1;
	r->role = role;
	if (role != REPLICA_LEADER) {
		r->lstate = L_NONE;
	} else if (r->lstate == L_NONE || r->lterm != r->raft->current_term) {
		/* a leadership won (maybe lost and won again between polls):
		 * the keys heard are this leadership's */
		r->lstate = L_BARRIER;
		r->n_keys_heard = 0;
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
	/* Proposals of a leadership lost (or of a halted node) end unknown. */
	if (r->p_head)
		rp_fail_pending(r, role == REPLICA_LEADER ? r->raft->current_term : 0);
	advance(r, 1);

	if (role == REPLICA_LEADER) {
		/* One barrier at a time: 0.15 mishandles overlapping ones. */
		if (r->lstate == L_BARRIER && !r->barrier_pending) {
			memset(&r->barrier, 0, sizeof r->barrier);
			r->barrier.data = r;
			int rv = raft_barrier(r->raft, &r->barrier, barrier_cb);
			if (rv == 0) {
				r->barrier_pending = 1;
				r->barrier_index = r->barrier.index;
				r->lstate = L_SENT;
			} else if (rp_io_error(rv)) {
				rp_fail(r, "the election barrier: %s", raft_strerror(rv));
			}
		}
		maybe_ready(r);
		/* replica_final_marker's marker, put off (C-Raft was writing
		 * one, or fsm_snapshot refused): another entry to apply. */
		int marker_owed = r->final_marker && !r->putting &&
				  raft_last_applied(r->raft) > r->snapshot_index;
		if (rp_is_ready(r) && !r->checkpoint_inflight &&
		    (r->checkpoint_due || marker_owed ||
		     rp_now_ms(r) - r->last_activity >= r->checkpoint_ms))
			rp_checkpoint(r);
	}

	if (r->catching_up && !r->fetch_running && !r->halted && !r->failed &&
	    rp_now_ms(r) >= r->fetch_retry_at)
		fetch_start(r);

	/* A halted or failed node stops its raft instance: it must neither vote
	 * nor lead. In the fixture, its owner does. */
	if ((r->halted || r->failed) && r->loop && r->raft_running)
		rp_close_raft(r);

	if (r->notify) {
		r->notify = 0;
		if (r->on_change)
			r->on_change(r, r->arg);
	}
}

/* The state machine C-Raft applies to (version 2: 3, asynchronous snapshots,
 * fails with raft_uv in 0.15). */
void rp_fsm_init(replica *r)
{
	r->fsm.version = 2;
	r->fsm.data = r;
	r->fsm.apply = fsm_apply;
	r->fsm.snapshot = fsm_snapshot;
	r->fsm.restore = fsm_restore;
	r->fsm.snapshot_finalize = fsm_snapshot_finalize;
	r->fsm.snapshot_async = NULL;
}
