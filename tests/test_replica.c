/*
 * test_replica.c — core/replica on C-Raft 0.15.
 *
 *  - the entry format: padding to 8 bytes, what decoding refuses;
 *  - the replica's account of what is on disk (writes in flight cut by a
 *    truncation, an installed snapshot, compaction), the quorum of the
 *    leader's term, the confirmation messages;
 *  - a real node on raft_uv (a temporary directory, TCP on loopback): odd
 *    sized entries survive a restart and replay without a halt; a damaged
 *    segment stops the start instead of vanishing; a log that predates
 *    replication becomes a one-node cluster with no event changed; three
 *    nodes: the leader stopped, a new one elected, the old one back and
 *    caught up (through a snapshot marker and a fetch), all logs equal; what
 *    the confirmation costs a client there (printed);
 *  - the deterministic simulation: C-Raft's fixture (raft/fixture.h) with
 *    this replica and an in-memory log with a real SHA-256 hash chain in
 *    every node, seeded crashes, partitions, lost and slow messages, disk
 *    errors, sends failing at once; the replicas' confirmation messages on
 *    the same links. After every step: every acknowledged entry is durable
 *    on a majority; no two nodes (but halted ones) hold different events at
 *    one seq, so their heads agree on their common prefix. Each seed ends
 *    healed: every node back, one more entry acknowledged, every log equal.
 *    C-Raft reporting committed an entry a minority holds is counted: it
 *    must happen (the simulation still tests the confirmation) and never
 *    reach a client;
 *  - a forced divergence (a different entry at one node, same index and
 *    term) is caught: that node halts and the others go on; it is replaced by
 *    a new member;
 *  - an AppendEntries from index 1 to a follower whose log starts after a
 *    snapshot (C-Raft 0.15 dereferences NULL on it) is taken from the
 *    snapshot on; one from a leader without that snapshot halts the node.
 *
 * Environment: REPLICA_SEEDS (how many seeds, default 40, and the seeds that
 * failed before the confirmation; make soak-replica runs thousands),
 * REPLICA_SEED_BASE (the first, 1), REPLICA_SEED (that one seed only, with its trace),
 * REPLICA_STEPS (steps per seed, default 4000), REPLICA_TRACE=1 (print every
 * seed's trace), REPLICA_FAULTS=0 (no faults: what the confirmation costs
 * when nothing goes wrong), REPLICA_COST_N (entries timed on raft_uv, 100). A failing
 * seed prints the seed, the step and the trace; the same seed replays the
 * same run exactly.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>
#include <malloc.h>
#include <ftw.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>
#include <uv.h>

#include "digest.h"
#include "replica.h"
#include "replica_confirm.h"
#include "testlib.h"

#define H REPLICA_HASH_LEN

/* ------------------------------------------------------------------ */
/* A log in memory with a real hash chain: the state machine           */
/* ------------------------------------------------------------------ */

/* Event s's hash is SHA-256(hash of s-1 ‖ s (8 bytes BE) ‖ body); an entry's
 * events are [length (4 bytes BE)][body] each. */
typedef struct ledger ledger;
struct ledger {
	uint64_t seq, index; /* head; raft index last applied */
	uint64_t synced;     /* events up to here survive a crash of the machine */
	uint64_t cap;
	uint8_t (*hash)[H]; /* hash[0] = zeros */
	uint8_t **body;
	uint32_t *blen;
	uint64_t *at; /* at[s]: the raft index event s came with */
	replica *rep;
	/* fetching up to a marker, from peers */
	ledger **peers;
	unsigned npeers;
	int (*usable)(ledger *peer); /* may serve pages now */
	int fetching;
	uint64_t f_seq, f_index, f_due;
	uint8_t f_hash[H];
	unsigned applies, fetches, fetch_refused;
	int down; /* the simulation killed the node: nothing may apply */
	unsigned applied_while_down;
	/* As the writer's follow thread (replica_sm_ops.settle): the first
	 * entry from raft index fail_index on is taken (its head becomes the
	 * head) but found not to chain later; nothing from it on is appended,
	 * every later one refused, and settle says so. 0: never. */
	uint64_t fail_index, failed_at, taken_seq;
	uint8_t taken_hash[H];
	int failed;
};

static void seq_be(uint64_t s, uint8_t b[8])
{
	for (int i = 7; i >= 0; i--, s >>= 8)
		b[i] = (uint8_t)s;
}

static void event_hash(const uint8_t prev[H], uint64_t seq, const void *body, size_t len,
                       uint8_t out[H])
{
	uint8_t b[8];
	seq_be(seq, b);
	ld_sha256_3(prev, H, b, 8, body, len, out);
}

static void lg_init(ledger *l)
{
	memset(l, 0, sizeof *l);
	l->cap = 64;
	l->hash = calloc(l->cap + 1, H);
	l->body = calloc(l->cap + 1, sizeof *l->body);
	l->blen = calloc(l->cap + 1, sizeof *l->blen);
	l->at = calloc(l->cap + 1, sizeof *l->at);
}

static void lg_truncate(ledger *l, uint64_t seq)
{
	for (uint64_t s = seq + 1; s <= l->seq; s++) {
		free(l->body[s]);
		l->body[s] = NULL;
	}
	l->seq = seq;
	l->index = seq ? l->at[seq] : 0;
	if (l->synced > seq)
		l->synced = seq;
}

static void lg_free(ledger *l)
{
	lg_truncate(l, 0);
	free(l->hash);
	free(l->body);
	free(l->blen);
	free(l->at);
}

static void lg_push(ledger *l, const void *body, size_t len, uint64_t index)
{
	if (l->seq + 1 > l->cap) {
		uint64_t c = l->cap * 2;
		l->hash = realloc(l->hash, (c + 1) * H);
		l->body = realloc(l->body, (c + 1) * sizeof *l->body);
		l->blen = realloc(l->blen, (c + 1) * sizeof *l->blen);
		l->at = realloc(l->at, (c + 1) * sizeof *l->at);
		l->cap = c;
	}
	uint64_t s = ++l->seq;
	event_hash(l->hash[s - 1], s, body, len, l->hash[s]);
	l->body[s] = malloc(len ? len : 1);
	memcpy(l->body[s], body, len);
	l->blen[s] = (uint32_t)len;
	l->at[s] = index;
}

/* Replaces l's events by a copy of src's (a re-seed from a healthy peer). */
static void lg_copy(ledger *l, const ledger *src)
{
	lg_truncate(l, 0);
	for (uint64_t s = 1; s <= src->seq; s++)
		lg_push(l, src->body[s], src->blen[s], src->at[s]);
	l->index = src->index;
	l->synced = l->seq;
}

static void sm_head(void *sm, uint64_t *seq, uint8_t hash[H], uint64_t *index)
{
	ledger *l = sm;
	*seq = l->seq;
	memcpy(hash, l->hash[l->seq], H);
	*index = l->index;
	if (l->failed) {
		*seq = l->taken_seq;
		memcpy(hash, l->taken_hash, H);
		*index = l->failed_at;
	}
}

static int sm_hash_at(void *sm, uint64_t seq, uint8_t hash[H])
{
	ledger *l = sm;
	if (seq < 1 || seq > l->seq)
		return LD_E(NOT_FOUND);
	memcpy(hash, l->hash[seq], H);
	return 0;
}

static int sm_apply(void *sm, uint64_t index, const replica_entry *h, const void *events,
                    size_t len)
{
	ledger *l = sm;
	const uint8_t *p = events, *end = p + len;
	uint8_t prev[H], hash[H];
	memcpy(prev, h->prev_hash, H);
	/* Check everything before appending anything. */
	uint32_t n = 0;
	for (const uint8_t *q = p; q < end; n++) {
		if (end - q < 4)
			return LD_E(CHAIN_BROKEN);
		uint32_t bl =
		    (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
		if ((size_t)(end - q - 4) < bl)
			return LD_E(CHAIN_BROKEN);
		event_hash(prev, h->first_seq + n, q + 4, bl, hash);
		memcpy(prev, hash, H);
		q += 4 + bl;
	}
	if (n != h->count || memcmp(prev, h->last_hash, H))
		return LD_E(CHAIN_BROKEN);
	if (l->failed)
		return LD_E(CHAIN_BROKEN);
	if (l->fail_index && index >= l->fail_index) {
		l->failed = 1;
		l->failed_at = index;
		l->taken_seq = h->first_seq + h->count - 1;
		memcpy(l->taken_hash, h->last_hash, H);
		return 0;
	}
	if (l->down) {
		/* a dead process applies nothing */
		l->applied_while_down++;
		return LD_E(STORAGE);
	}
	for (const uint8_t *q = p; q < end;) {
		uint32_t bl =
		    (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
		lg_push(l, q + 4, bl, index);
		q += 4 + bl;
	}
	l->index = index;
	l->applies++;
	return 0;
}

static int sm_sync(void *sm)
{
	ledger *l = sm;
	l->synced = l->seq;
	return 0;
}

static uint64_t (*fetch_clock)(void);
static uint64_t fetch_delay = 50;

static int sm_fetch(void *sm, uint64_t to_seq, const uint8_t to_hash[H], uint64_t index)
{
	ledger *l = sm;
	l->fetching = 1;
	l->f_seq = to_seq;
	l->f_index = index;
	memcpy(l->f_hash, to_hash, H);
	l->f_due = fetch_clock() + fetch_delay;
	return 0;
}

static int sm_settle(void *sm, int wait, uint64_t *index, char *why, size_t n)
{
	ledger *l = sm;
	(void)wait;
	if (!l->failed)
		return 0;
	*index = l->failed_at;
	snprintf(why, n, "its events do not chain (the test's state machine)");
	return LD_E(CHAIN_BROKEN);
}

static const replica_sm_ops sm_ops = {sm_head, sm_hash_at, sm_apply, sm_sync, sm_fetch, sm_settle, NULL};

/* The page protocol, in memory: events head+1 .. f_seq from a usable peer
 * that has them, checked against the marker's hash before any is kept, then
 * synced (raft's log no longer has them). */
static void lg_fetch_step(ledger *l)
{
	if (!l->fetching || l->down || fetch_clock() < l->f_due)
		return;
	l->fetching = 0;
	for (unsigned i = 0; i < l->npeers; i++) {
		ledger *p = l->peers[i];
		if (p == l || !l->usable(p) || p->seq < l->f_seq)
			continue;
		uint8_t prev[H], hash[H];
		memcpy(prev, l->hash[l->seq], H);
		for (uint64_t s = l->seq + 1; s <= l->f_seq; s++) {
			event_hash(prev, s, p->body[s], p->blen[s], hash);
			memcpy(prev, hash, H);
		}
		if (memcmp(prev, l->f_hash, H)) {
			l->fetch_refused++;
			continue;
		}
		for (uint64_t s = l->seq + 1; s <= l->f_seq; s++)
			lg_push(l, p->body[s], p->blen[s], l->f_index);
		l->index = l->f_index;
		l->synced = l->seq;
		l->fetches++;
		replica_fetched(l->rep, 0);
		return;
	}
	replica_fetched(l->rep, LD_E(UNAVAILABLE));
}

/* Events: n bodies of rng-chosen length; returns the encoded events (malloc)
 * and fills h to follow (seq, prev). */
static uint64_t rng_state;
static uint64_t rng(void)
{
	/* splitmix64: one seed, one sequence, on every machine */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static unsigned rnd(unsigned n)
{
	return n ? (unsigned)(rng() % n) : 0;
}

/* Events of text that compresses, as a group's records do (the entry is
 * then format 2), instead of random bytes; and how many events propose()
 * puts in a group (0: 1 to 3). */
static int events_compress;
static unsigned events_per_group;

static uint8_t *make_events(uint64_t seq, const uint8_t prev[H], unsigned n, replica_entry *h,
                            size_t *len)
{
	size_t cap = n * (4 + 64), off = 0;
	uint8_t *buf = malloc(cap ? cap : 1), p[H], hash[H];
	memcpy(p, prev, H);
	h->first_seq = seq + 1;
	h->count = n;
	memcpy(h->prev_hash, prev, H);
	for (unsigned i = 0; i < n; i++) {
		uint32_t bl = 1 + rnd(60);
		buf[off] = 0;
		buf[off + 1] = 0;
		buf[off + 2] = (uint8_t)(bl >> 8);
		buf[off + 3] = (uint8_t)bl;
		for (uint32_t k = 0; k < bl; k++)
			buf[off + 4 + k] = events_compress ? (uint8_t)"member/P0000 NJ-01 dues "[k % 24]
			                                   : (uint8_t)rng();
		event_hash(p, seq + 1 + i, buf + off + 4, bl, hash);
		memcpy(p, hash, H);
		off += 4 + bl;
	}
	memcpy(h->last_hash, p, H);
	*len = off;
	return buf;
}

/* ------------------------------------------------------------------ */
/* The entry format                                                    */
/* ------------------------------------------------------------------ */

static void test_entry_format(void **state)
{
	(void)state;
	char why[128];
	for (size_t len = 0; len < 40; len++) {
		uint8_t ev[40], out[256];
		for (size_t i = 0; i < len; i++)
			ev[i] = (uint8_t)(i * 7 + 1);
		replica_entry h = {.first_seq = 42, .count = len ? 3 : 0}, d;
		memset(h.prev_hash, 0xab, H);
		memset(h.last_hash, len ? 0xcd : 0xab, H);
		size_t size = replica_entry_size(len);
		assert_int_equal(size % 8, 0);
		assert_true(size >= REPLICA_ENTRY_HDR + len && size < REPLICA_ENTRY_HDR + len + 8);
		replica_entry_encode(&h, ev, len, out);
		const uint8_t *e;
		size_t l;
		assert_int_equal(replica_entry_decode(out, size, &d, &e, &l, why, sizeof why), 0);
		assert_int_equal(d.first_seq, 42);
		assert_int_equal(d.count, h.count);
		assert_int_equal(l, len);
		assert_memory_equal(e, ev, len);
		assert_memory_equal(d.prev_hash, h.prev_hash, H);
		assert_memory_equal(d.last_hash, h.last_hash, H);
		/* a length that is not a multiple of 8 */
		assert_int_equal(replica_entry_decode(out, size - 1, &d, &e, &l, why, sizeof why),
		                 LD_E(MALFORMED));
		if (size > REPLICA_ENTRY_HDR + len) {
			out[size - 1] = 1; /* padding that is not zeros */
			assert_int_equal(
			    replica_entry_decode(out, size, &d, &e, &l, why, sizeof why),
			    LD_E(MALFORMED));
			out[size - 1] = 0;
		}
	}
	uint8_t out[REPLICA_ENTRY_HDR];
	replica_entry h = {.first_seq = 1, .count = 0}, d;
	const uint8_t *e;
	size_t l;
	replica_entry_encode(&h, NULL, 0, out);
	assert_int_equal(replica_entry_decode(out, sizeof out, &d, &e, &l, why, sizeof why), 0);
	out[0] = 'X';
	assert_int_equal(replica_entry_decode(out, sizeof out, &d, &e, &l, why, sizeof why),
	                 LD_E(MALFORMED));
	h.first_seq = 0;
	replica_entry_encode(&h, NULL, 0, out);
	assert_int_equal(replica_entry_decode(out, sizeof out, &d, &e, &l, why, sizeof why),
	                 LD_E(MALFORMED));
	h.first_seq = 5;
	h.last_hash[3] = 1; /* a checkpoint with two hashes */
	replica_entry_encode(&h, NULL, 0, out);
	assert_int_equal(replica_entry_decode(out, sizeof out, &d, &e, &l, why, sizeof why),
	                 LD_E(MALFORMED));
}

/* Format 2: events compressed when that saves room; format 1 otherwise. */
static void test_entry_packed(void **state)
{
	(void)state;
	enum { N = 6000 };
	static uint8_t ev[N], out[N + 512], raw[N];
	char why[128];
	const uint8_t *e;
	size_t l;
	replica_entry h = {.first_seq = 7, .count = 20}, d;
	memset(h.prev_hash, 0xab, H);
	memset(h.last_hash, 0xcd, H);
	/* like a group's records: repeated text with a counter */
	for (size_t i = 0; i < N; i++)
		ev[i] = (uint8_t)("member/P0000 org NJ-01 dues 2026-11 "[i % 37] + (i / 37) % 3);
	assert_true(replica_entry_packed_max(N) <= sizeof out);
	size_t size = replica_entry_pack(&h, ev, N, out);
	assert_int_equal(size % 8, 0);
	assert_true(size < replica_entry_size(N) / 4);
	assert_int_equal(out[5], 2);
	assert_int_equal(replica_entry_decode(out, size, &d, &e, &l, why, sizeof why), 0);
	assert_int_equal(d.first_seq, 7);
	assert_int_equal(d.count, 20);
	assert_int_equal(d.raw_len, N);
	assert_memory_equal(d.last_hash, h.last_hash, H);
	memset(raw, 0, sizeof raw);
	assert_int_equal(replica_entry_unpack(&d, e, l, raw), 0);
	assert_memory_equal(raw, ev, N);
	/* a decompressed length that is not the block's */
	d.raw_len = N - 1;
	assert_int_equal(replica_entry_unpack(&d, e, l, raw), LD_E(MALFORMED));
	d.raw_len = N;
	/* a block cut short: the lengths no longer add up */
	out[23] ^= 8;
	assert_int_equal(replica_entry_decode(out, size, &d, &e, &l, why, sizeof why),
	                 LD_E(MALFORMED));
	out[23] ^= 8;
	/* the reserved bytes, and a length of 0 */
	out[REPLICA_ENTRY_HDR + 7] = 1;
	assert_int_equal(replica_entry_decode(out, size, &d, &e, &l, why, sizeof why),
	                 LD_E(MALFORMED));
	out[REPLICA_ENTRY_HDR + 7] = 0;
	uint8_t keep[4];
	memcpy(keep, out + REPLICA_ENTRY_HDR, 4);
	memset(out + REPLICA_ENTRY_HDR, 0, 4);
	assert_int_equal(replica_entry_decode(out, size, &d, &e, &l, why, sizeof why),
	                 LD_E(MALFORMED));
	/* more than LZ4 can give from the block: refused before any allocation */
	uint32_t big = (uint32_t)(255 * l + 17); /* l: the block's length */
	for (int i = 0; i < 4; i++)
		out[REPLICA_ENTRY_HDR + i] = (uint8_t)(big >> (24 - 8 * i));
	assert_int_equal(replica_entry_decode(out, size, &d, &e, &l, why, sizeof why),
	                 LD_E(MALFORMED));
	memcpy(out + REPLICA_ENTRY_HDR, keep, 4);
	/* more than a leader proposes (REPLICA_ENTRY_MAX) is refused, though
	 * the block could give it */
	static uint8_t zeros[REPLICA_ENTRY_MAX + 8];
	uint8_t *huge = malloc(replica_entry_packed_max(sizeof zeros));
	assert_non_null(huge);
	size_t hsize = replica_entry_pack(&h, zeros, sizeof zeros, huge);
	assert_int_equal(huge[5], 2);
	assert_int_equal(replica_entry_decode(huge, hsize, &d, &e, &l, why, sizeof why),
	                 LD_E(MALFORMED));
	hsize = replica_entry_pack(&h, zeros, REPLICA_ENTRY_MAX, huge);
	assert_int_equal(replica_entry_decode(huge, hsize, &d, &e, &l, why, sizeof why), 0);
	assert_int_equal(d.raw_len, REPLICA_ENTRY_MAX);
	free(huge);
	/* a format this release does not know */
	out[5] = 3;
	assert_int_equal(replica_entry_decode(out, size, &d, &e, &l, why, sizeof why),
	                 LD_E(MALFORMED));
	out[5] = 2;
	/* garbage in the block: refused, never read or written past the ends */
	memset(out + REPLICA_ENTRY_HDR + 8, 0xff, 16);
	assert_int_equal(replica_entry_decode(out, size, &d, &e, &l, why, sizeof why), 0);
	assert_int_equal(replica_entry_unpack(&d, e, l, raw), LD_E(MALFORMED));

	/* what does not compress, and a few events, stay format 1 */
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		ev[i] = (uint8_t)x;
	}
	size_t sizes[] = {N, 100, 0};
	for (size_t k = 0; k < 3; k++) {
		h.count = sizes[k] ? 20 : 0;
		if (!sizes[k])
			memcpy(h.last_hash, h.prev_hash, H);
		size = replica_entry_pack(&h, ev, sizes[k], out);
		assert_int_equal(size, replica_entry_size(sizes[k]));
		assert_int_equal(out[5], 1);
		assert_int_equal(replica_entry_decode(out, size, &d, &e, &l, why, sizeof why), 0);
		assert_int_equal(d.raw_len, 0);
		assert_int_equal(l, sizes[k]);
		assert_memory_equal(e, ev, sizes[k]);
	}
}

/* ------------------------------------------------------------------ */
/* The replica's account of what is on disk where                       */
/* ------------------------------------------------------------------ */

/* C-Raft's entry counts from bounds in bytes: a snapshot once the entries
 * after the last one hold the bytes, and the newest entries that fit kept
 * behind it; the counts' own bounds win when they come first. */
static void test_confirm_bounds(void **state)
{
	(void)state;
	rc_log l;
	rc_log_init(&l);
	rc_log_load(&l, 0, 0, 1);
	assert_int_equal(rc_log_threshold(&l, 1000, 1024), 1024); /* nothing held */
	assert_int_equal(rc_log_trailing(&l, 1000, 8192), 8192);
	/* Entries 1..10 of 100 bytes, then 11 of 5000. */
	for (uint64_t i = 1; i <= 10; i++)
		assert_int_equal(rc_log_push(&l, 1, i, 100), 0);
	assert_int_equal(rc_log_bytes(&l), 1000);
	assert_int_equal(rc_log_threshold(&l, 1000, 1024), 10); /* due at 10 */
	assert_int_equal(rc_log_threshold(&l, 1001, 1024), 1024); /* not yet */
	assert_int_equal(rc_log_threshold(&l, 250, 1024), 3);
	assert_int_equal(rc_log_threshold(&l, 250, 2), 2);
	assert_int_equal(rc_log_trailing(&l, 250, 8192), 2);
	assert_int_equal(rc_log_trailing(&l, 1000, 8192), 10);
	assert_int_equal(rc_log_trailing(&l, 1000, 4), 4);
	assert_int_equal(rc_log_push(&l, 1, 11, 5000), 0);
	assert_int_equal(rc_log_trailing(&l, 1000, 8192), 1); /* at least one */
	assert_int_equal(rc_log_threshold(&l, 2000, 1024), 11);
	/* A snapshot at 6 keeping 2 (5 and 6 stay): counted from 6 on. */
	assert_int_equal(rc_log_submit(&l, 11), 0);
	rc_log_written(&l);
	rc_log_compact(&l, 6, 1, 2);
	assert_int_equal(rc_log_first(&l), 5);
	assert_int_equal(rc_log_bytes(&l), 6 * 100 + 5000);
	assert_int_equal(rc_log_threshold(&l, 400, 1024), 4); /* 7..10 */
	assert_int_equal(rc_log_threshold(&l, 401, 1024), 5); /* 7..11 */
	assert_int_equal(rc_log_threshold(&l, 10000, 1024), 1024);
	/* A truncation takes its bytes away; new entries count from there. */
	rc_log_truncate(&l, 9);
	assert_int_equal(rc_log_bytes(&l), 4 * 100);
	assert_int_equal(rc_log_push(&l, 2, 12, 300), 0);
	assert_int_equal(rc_log_threshold(&l, 500, 1024), 3); /* 7, 8, the new 9 */
	assert_int_equal(rc_log_trailing(&l, 500, 8192), 3);  /* 7, 8, 9 */
	/* An installed snapshot replaces everything. */
	rc_log_install(&l, 50, 3);
	rc_log_installed(&l);
	assert_int_equal(rc_log_bytes(&l), 0);
	assert_int_equal(rc_log_push(&l, 3, 13, 700), 0);
	assert_int_equal(rc_log_threshold(&l, 700, 1024), 1);
	assert_int_equal(rc_log_bytes(&l), 700);
	rc_log_free(&l);
}

static void test_confirm_account(void **state)
{
	(void)state;
	rc_log l;
	uint64_t d;
	rc_log_init(&l);
	/* Loaded: 1..2 of term 1, then a tail of term 2 that the leader of term
	 * 3 never sent: nothing of term 3 is held. */
	rc_log_load(&l, 0, 0, 1);
	uint64_t terms[] = {1, 1, 2, 2};
	for (int i = 0; i < 4; i++)
		assert_int_equal(rc_log_push(&l, terms[i], 100 + (uint64_t)i, 100), 0);
	rc_log_loaded(&l);
	assert_int_equal(rc_log_held(&l, 2), 4);
	assert_int_equal(rc_log_held(&l, 3), 0);
	/* Term 3's leader replaces index 3 on: two writes in flight (3..4, 5),
	 * then a truncation from 4 (a later conflict) cuts both. */
	rc_log_truncate(&l, 3);
	assert_int_equal(rc_log_held(&l, 2), 0);
	assert_int_equal(rc_log_held(&l, 1), 2);
	assert_int_equal(rc_log_push(&l, 3, 3, 100), 0);
	assert_int_equal(rc_log_push(&l, 3, 4, 100), 0);
	assert_int_equal(rc_log_submit(&l, 2), 0);
	assert_int_equal(rc_log_push(&l, 3, 5, 100), 0);
	assert_int_equal(rc_log_submit(&l, 1), 0);
	assert_int_equal(rc_log_held(&l, 3), 0); /* nothing on disk yet */
	rc_log_truncate(&l, 4);
	assert_int_equal(rc_log_push(&l, 4, 6, 100), 0);
	assert_int_equal(rc_log_submit(&l, 1), 0);
	rc_log_written(&l); /* 3..4, cut to 3 */
	assert_int_equal(rc_log_held(&l, 3), 3);
	rc_log_written(&l); /* 5: cut to nothing */
	assert_int_equal(l.durable, 3);
	rc_log_written(&l); /* the new 4, of term 4 */
	assert_int_equal(rc_log_held(&l, 4), 4);
	assert_int_equal(rc_log_held(&l, 3), 0);
	assert_int_equal(rc_log_digest(&l, 4, &d), 0);
	assert_int_equal(d, 6);
	/* A write that never started is taken back. */
	assert_int_equal(rc_log_push(&l, 4, 7, 100), 0);
	assert_int_equal(rc_log_submit(&l, 1), 0);
	rc_log_cancel(&l);
	rc_log_truncate(&l, 5);
	assert_int_equal(rc_log_last(&l), 4);
	/* An installed snapshot: nothing counts until it is stored, a write in
	 * flight meanwhile never does; then the snapshot's index and term. */
	assert_int_equal(rc_log_push(&l, 4, 8, 100), 0);
	assert_int_equal(rc_log_submit(&l, 1), 0);
	rc_log_install(&l, 10, 5);
	assert_int_equal(rc_log_held(&l, 4), 0);
	rc_log_written(&l);
	assert_int_equal(rc_log_held(&l, 5), 0);
	rc_log_truncate(&l, 1); /* the fixture's own step of an install */
	rc_log_installed(&l);
	assert_int_equal(rc_log_held(&l, 5), 10);
	assert_int_equal(rc_log_first(&l), 11);
	assert_int_equal(rc_log_term(&l, 10), 5);
	assert_int_equal(rc_log_digest(&l, 10, &d), -1);
	/* A snapshot taken here keeps `trailing` entries behind it. */
	for (uint64_t i = 11; i <= 20; i++)
		assert_int_equal(rc_log_push(&l, 6, i, 100), 0);
	assert_int_equal(rc_log_submit(&l, 10), 0);
	rc_log_written(&l);
	assert_int_equal(rc_log_held(&l, 6), 20);
	rc_log_compact(&l, 18, 6, 2);
	assert_int_equal(rc_log_first(&l), 17);
	assert_int_equal(rc_log_digest(&l, 16, &d), -1);
	assert_int_equal(rc_log_digest(&l, 17, &d), 0);
	assert_int_equal(d, 17);
	assert_int_equal(rc_log_held(&l, 6), 20);
	rc_log_free(&l);

	/* The quorum: what a majority of voters holds in the term, the leader
	 * counted for what its own disk holds. */
	rc_peers q = {0};
	rc_peers_note(&q, 2, 5, 10);
	rc_peers_note(&q, 3, 5, 7);
	rc_peers_note(&q, 2, 4, 99); /* an older term: ignored */
	rc_peers_note(&q, 3, 5, 6);  /* less than said before: ignored */
	uint64_t three[] = {1, 2, 3}, five[] = {1, 2, 3, 4, 5};
	assert_int_equal(rc_quorum(&q, three, 3, 1, 8, 5), 8);
	assert_int_equal(rc_quorum(&q, three, 3, 1, 0, 5), 7);
	assert_int_equal(rc_quorum(&q, five, 5, 1, 8, 5), 7);
	assert_int_equal(rc_quorum(&q, five, 5, 1, 8, 6), 0); /* nobody else in term 6 */
	assert_int_equal(rc_quorum(&q, three, 1, 1, 8, 6), 8); /* a cluster of one */
	uint64_t without_self[] = {2, 3};
	assert_int_equal(rc_quorum(&q, without_self, 2, 1, 99, 5), 7);

	/* The messages. */
	rc_msg m = {.type = RC_HOLD,
	            .from = 3,
	            .term = 7,
	            .index = 1234,
	            .digest = 0xfeed,
	            .keys = {{0x0123456789abcdefull, 0x00000000000000f1ull}}},
	       m2;
	uint8_t b[RC_MSG_LEN];
	rc_msg_encode(&m, b);
	assert_int_equal(rc_msg_decode(b, sizeof b, &m2), 0);
	assert_int_equal(m2.type, RC_HOLD);
	assert_int_equal(m2.from, 3);
	assert_int_equal(m2.term, 7);
	assert_int_equal(m2.index, 1234);
	assert_int_equal(m2.digest, 0xfeed);
	assert_true(m2.keys.id[REPLICA_KEY_HASH] == 0x0123456789abcdefull);
	assert_true(m2.keys.id[REPLICA_KEY_CLUSTER] == 0xf1);
	assert_int_equal(replica_keys_differ(&m.keys, &m2.keys), -1);
	m2.keys.id[REPLICA_KEY_CLUSTER] = 0; /* none: another value */
	assert_int_equal(replica_keys_differ(&m.keys, &m2.keys), REPLICA_KEY_CLUSTER);
	assert_int_equal(rc_msg_decode(b, sizeof b - 1, &m2), -1);
	/* formats 1 (no key id) and 2 (the person-hash key id only) are not read */
	b[4] = 1;
	assert_int_equal(rc_msg_decode(b, 40, &m2), -1);
	assert_int_equal(rc_msg_decode(b, sizeof b, &m2), -1);
	b[4] = 2;
	assert_int_equal(rc_msg_decode(b, 48, &m2), -1);
	assert_int_equal(rc_msg_decode(b, sizeof b, &m2), -1);
	b[4] = RC_FORMAT;
	b[5] = RC_REMOVED; /* the leader to a node it removed (this release on) */
	assert_int_equal(rc_msg_decode(b, sizeof b, &m2), 0);
	assert_int_equal(m2.type, RC_REMOVED);
	b[5] = 9;
	assert_int_equal(rc_msg_decode(b, sizeof b, &m2), -1);
	b[5] = RC_SAFE;
	b[0] = 'X';
	assert_int_equal(rc_msg_decode(b, sizeof b, &m2), -1);
	/* A digest sees the type, the length and the first bytes. */
	uint8_t e1[200] = {1}, e2[200] = {1};
	assert_true(rc_digest(1, e1, 100) == rc_digest(1, e2, 100));
	assert_true(rc_digest(1, e1, 100) != rc_digest(2, e1, 100));
	assert_true(rc_digest(1, e1, 100) != rc_digest(1, e1, 104));
	e2[50] = 2;
	assert_true(rc_digest(1, e1, 100) != rc_digest(1, e2, 100));
}

/* ------------------------------------------------------------------ */
/* Real nodes: raft_uv on a temporary directory, TCP on loopback        */
/* ------------------------------------------------------------------ */

#define UV_MAX 3
typedef struct unode {
	ledger lg;
	replica *rep;
	uint64_t id;
	char dir[512], addr[32];
	int running;
	int stopped; /* replica_stop's callback ran */
} unode;

static uv_loop_t uvl;
static unode un[UV_MAX];
static unsigned un_n;

static uint64_t uv_clock(void)
{
	return uv_now(&uvl);
}

static int un_usable(ledger *p)
{
	for (unsigned i = 0; i < un_n; i++)
		if (&un[i].lg == p)
			return un[i].running;
	return 0;
}

/* Runs the loop until cond(arg) or ms of real time: bounds, not timings
 * (the conditions are met in well under a second on an idle machine). */
static int run_until(int (*cond)(void *), void *arg, unsigned ms)
{
	uint64_t end = uv_now(&uvl) + ms;
	while (!cond(arg)) {
		if (uv_now(&uvl) > end)
			return 0;
		uv_run(&uvl, UV_RUN_NOWAIT);
		for (unsigned i = 0; i < un_n; i++)
			if (un[i].running)
				lg_fetch_step(&un[i].lg);
		usleep(1000);
		uv_update_time(&uvl);
	}
	return 1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void un_setup(unsigned n, const char *tag)
{
	assert_int_equal(uv_loop_init(&uvl), 0);
	fetch_clock = uv_clock;
	fetch_delay = 20;
	un_n = n;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	for (unsigned i = 0; i < n; i++) {
		unode *u = &un[i];
		memset(u, 0, sizeof *u);
		lg_init(&u->lg);
		u->id = i + 1;
		snprintf(u->dir, sizeof u->dir, "%s/raft-%s-%u", tmp, tag, i + 1);
		nftw(u->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
		snprintf(u->addr, sizeof u->addr, "127.0.0.1:%d", tl_free_port());
	}
	static ledger *peers[UV_MAX];
	for (unsigned i = 0; i < n; i++) {
		peers[i] = &un[i].lg;
		un[i].lg.peers = peers;
		un[i].lg.npeers = n;
		un[i].lg.usable = un_usable;
	}
}

static void un_stopped(replica *r, void *arg)
{
	(void)r;
	((unode *)arg)->stopped = 1;
}

static int is_stopped(void *arg)
{
	return ((unode *)arg)->stopped;
}

/* Starts node i (a fresh replica over its ledger, as a restarted process
 * would); bootstrap: the first start of a new cluster of un_n voters. */
static int un_start(unsigned i, int bootstrap, unsigned threshold, ld_errinfo *e)
{
	unode *u = &un[i];
	uint64_t ids[UV_MAX];
	const char *addrs[UV_MAX];
	for (unsigned k = 0; k < un_n; k++) {
		ids[k] = un[k].id;
		addrs[k] = un[k].addr;
	}
	replica_options o = {
	    .id = u->id,
	    .address = u->addr,
	    .dir = u->dir,
	    .election_ms = 1000,
	    .heartbeat_ms = 100,
	    .snapshot_threshold = threshold,
	    .snapshot_trailing = 2,
	    .bootstrap_ids = bootstrap ? ids : NULL,
	    .bootstrap_addresses = bootstrap ? addrs : NULL,
	    .bootstrap_n = bootstrap ? un_n : 0,
	};
	assert_int_equal(replica_new(&u->rep, &sm_ops, &u->lg), 0);
	u->lg.rep = u->rep;
	u->stopped = 0;
	int rc = replica_start(u->rep, &uvl, &o, e);
	u->running = rc == 0;
	return rc;
}

static void un_stop(unsigned i)
{
	unode *u = &un[i];
	u->running = 0;
	replica_stop(u->rep, un_stopped, u);
	assert_true(run_until(is_stopped, u, 10000));
	replica_free(u->rep);
	u->rep = NULL;
	u->lg.rep = NULL;
	u->lg.fetching = 0;
}

static void un_teardown(void)
{
	for (unsigned i = 0; i < un_n; i++) {
		if (un[i].rep)
			un_stop(i);
		lg_free(&un[i].lg);
	}
	uv_run(&uvl, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&uvl), 0);
}

static int any_ready(void *arg)
{
	int *who = arg;
	for (unsigned i = 0; i < un_n; i++) {
		if (!un[i].running)
			continue;
		replica_status st;
		replica_status_get(un[i].rep, &st);
		if (st.ready) {
			*who = (int)i;
			return 1;
		}
	}
	return 0;
}

struct pending {
	int done, status;
	uint64_t index;
};

static void proposed(replica *r, int status, uint64_t index, void *arg)
{
	(void)r;
	struct pending *p = arg;
	p->done = 1;
	p->status = status;
	p->index = index;
}

static int pending_done(void *arg)
{
	return ((struct pending *)arg)->done;
}

/* Proposes one entry of 1..3 events through node i and waits for it. */
static void un_propose(unsigned i)
{
	uint64_t seq;
	uint8_t prev[H];
	replica_tail(un[i].rep, &seq, prev);
	replica_entry h;
	size_t len;
	uint8_t *ev = make_events(seq, prev, 1 + rnd(3), &h, &len);
	struct pending p = {0};
	ld_errinfo e = {0};
	int rc = replica_propose(un[i].rep, &h, ev, len, proposed, &p, &e);
	free(ev);
	if (rc)
		fail_msg("propose: %d %s", rc, e.message);
	assert_true(run_until(pending_done, &p, 10000));
	assert_int_equal(p.status, 0);
	assert_true(p.index > 0);
}

static int all_at(void *arg)
{
	uint64_t seq = *(uint64_t *)arg;
	for (unsigned i = 0; i < un_n; i++)
		if (un[i].running && un[i].lg.seq != seq)
			return 0;
	return 1;
}

static void assert_same_logs(const ledger *a, const ledger *b)
{
	assert_int_equal(a->seq, b->seq);
	for (uint64_t s = 1; s <= a->seq; s++)
		assert_memory_equal(a->hash[s], b->hash[s], H);
}

/* A voter whose leader's port refuses: a follower's election comes rank * 2
 * heartbeats from now, never later than C-Raft's own timeout, and never
 * while the leader was heard within two heartbeats and a half; a pre-vote
 * candidate calls again once every other voter has called. */
static void test_gone_skip(void **state)
{
	(void)state;
	static const struct {
		int candidate;
		uint64_t since, timeout, heartbeat;
		unsigned rank, left;
		uint64_t skip;
	} cases[] = {
	    /* 600 ms drawn as 900, heartbeat 100, nothing heard for 300 ms. */
	    {0, 300, 900, 100, 0, 2, 600},
	    {0, 300, 900, 100, 1, 2, 400},
	    {0, 300, 900, 100, 2, 4, 200},
	    /* Heard 249 ms ago: C-Raft's heartbeats may be two apart. */
	    {0, 249, 900, 100, 0, 2, 0},
	    {0, 250, 900, 100, 0, 2, 650},
	    /* The timeout comes first anyway. */
	    {0, 800, 900, 100, 1, 2, 0},
	    {0, 900, 900, 100, 0, 2, 0},
	    {0, 1000, 900, 100, 0, 2, 0},
	    /* A candidate (drawn 1,500 ms) calls again 400 ms after its call
	     * with two voters left, 800 with four, plus what it drew modulo a
	     * heartbeat; not once that has passed. */
	    {1, 0, 1500, 100, 0, 2, 1100},
	    {1, 100, 1500, 100, 1, 4, 700},
	    {1, 0, 1234, 100, 0, 2, 800},
	    {1, 500, 1500, 100, 0, 2, 0},
	    {1, 0, 300, 100, 0, 2, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (replica_gone_skip(cases[i].candidate, cases[i].since, cases[i].timeout,
		                      cases[i].heartbeat, cases[i].rank,
		                      cases[i].left) != cases[i].skip)
			fail_msg("case %zu: not %llu", i, (unsigned long long)cases[i].skip);
}

/* Odd-sized entries, a restart that replays them, more after it. */
static void test_uv_one_node(void **state)
{
	(void)state;
	ld_errinfo e = {0};
	int who = -1;
	un_setup(1, "one");
	rng_state = 1;
	if (un_start(0, 1, 0, &e))
		fail_msg("start: %s", e.message);
	assert_true(run_until(any_ready, &who, 20000));
	for (int k = 0; k < 20; k++)
		un_propose(0);
	uint64_t seq = un[0].lg.seq;
	unsigned applies = un[0].lg.applies;
	assert_true(seq >= 20);
	un_stop(0);

	/* 0.15 reads an entry whose length is not a multiple of 8 back wrong
	 * after a restart: padded, every one replays and matches the log. */
	if (un_start(0, 1, 0, &e))
		fail_msg("restart: %s", e.message);
	who = -1;
	assert_true(run_until(any_ready, &who, 20000));
	replica_status st;
	replica_status_get(un[0].rep, &st);
	assert_int_equal(st.role, REPLICA_LEADER);
	assert_int_equal(st.reason[0], 0);
	assert_int_equal(un[0].lg.seq, seq);
	assert_int_equal(un[0].lg.applies, applies); /* replayed, skipped, not applied twice */
	assert_true(st.applied_index > 20);
	un_propose(0);
	assert_true(un[0].lg.seq > seq);
	replica_status_get(un[0].rep, &st);
	assert_true(st.checkpoints >= 1); /* one per election */
	assert_true(st.term >= 1);        /* 0.15: a lone voter leads in the bootstrap term */
	assert_int_equal(st.n_nodes, 1);
	assert_int_equal(st.nodes[0].voter, 1);
	un_stop(0);

	/* A damaged segment: the start fails and says so; nothing is renamed
	 * away (0.15 by default would start without the segment's entries). */
	char path[1024] = "";
	DIR *d = opendir(un[0].dir);
	struct dirent *de;
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 33 && de->d_name[16] == '-' &&
		    strcmp(de->d_name, "0000000000000001-0000000000000001"))
			snprintf(path, sizeof path, "%s/%s", un[0].dir, de->d_name);
	closedir(d);
	assert_true(path[0]);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 60, SEEK_SET);
	int c = fgetc(f);
	fseek(f, 60, SEEK_SET);
	fputc(c ^ 0xff, f);
	fclose(f);
	/* In a child: 0.15 leaks what it read of a log it then refuses. */
	pid_t pid = fork();
	if (pid == 0) {
		int rc = un_start(0, 0, 0, &e);
		struct stat sb;
		_exit(rc == LD_E(STORAGE) && strstr(e.message, un[0].dir) && stat(path, &sb) == 0
		          ? 0
		          : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	un[0].running = 0;
	un_teardown();
}

/* A write of raft's log fails: the node fails and closes (0.15's own error
 * path would corrupt its log), the proposal's outcome is unknown; restarted,
 * it holds everything acknowledged and goes on. */
static void test_uv_write_error(void **state)
{
	(void)state;
	ld_errinfo e = {0};
	int who = -1;
	un_setup(1, "ioerr");
	rng_state = 4;
	if (un_start(0, 1, 0, &e))
		fail_msg("start: %s", e.message);
	assert_true(run_until(any_ready, &who, 20000));
	for (int k = 0; k < 5; k++)
		un_propose(0);
	un_stop(0);
	uint64_t seq = un[0].lg.seq;

	/* In a child (the replica holds back the failed write from C-Raft for
	 * good, so C-Raft's record of it leaks; the daemon exits anyway): the
	 * third write after the start fails (election barrier, checkpoint,
	 * ours). Exit status: 0, or the line of the check that failed. */
	replica_entry h;
	size_t len;
	uint8_t *ev = make_events(seq, un[0].lg.hash[seq], 2, &h, &len);
	pid_t pid = fork();
	if (pid == 0) {
		uv_loop_fork(&uvl);
		setenv("LEDGERD_TEST_RAFT_APPEND_FAIL_AT", "3", 1);
#define CHILD_CHECK(c)                                                                             \
	do {                                                                                       \
		if (!(c))                                                                          \
			_exit(__LINE__ % 250 + 1);                                                 \
	} while (0)
		CHILD_CHECK(un_start(0, 0, 0, &e) == 0);
		CHILD_CHECK(run_until(any_ready, &who, 20000));
		struct pending p = {0};
		CHILD_CHECK(replica_propose(un[0].rep, &h, ev, len, proposed, &p, &e) == 0);
		CHILD_CHECK(run_until(pending_done, &p, 10000));
		CHILD_CHECK(p.status == REPLICA_E_UNKNOWN);
		replica_status st;
		replica_status_get(un[0].rep, &st);
		CHILD_CHECK(st.role == REPLICA_FAILED);
		CHILD_CHECK(strstr(st.reason, "writing raft's log"));
		CHILD_CHECK(un[0].lg.seq == seq); /* not applied */
		CHILD_CHECK(replica_propose(un[0].rep, &h, ev, len, proposed, &p, &e) ==
		            REPLICA_E_HALTED);
		_exit(0);
#undef CHILD_CHECK
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	free(ev);

	if (un_start(0, 0, 0, &e))
		fail_msg("restart: %s", e.message);
	assert_true(run_until(any_ready, &who, 20000));
	replica_status st;
	replica_status_get(un[0].rep, &st);
	assert_int_equal(st.reason[0], 0);
	/* The write did reach the disk here (only its report failed): the
	 * entry of unknown outcome is committed after all, as retries with the
	 * same event ids must expect. */
	assert_int_equal(un[0].lg.seq, seq + 2);
	assert_memory_equal(un[0].lg.hash[seq + 2], h.last_hash, H);
	un_propose(0);
	assert_true(un[0].lg.seq > seq + 2);
	un_stop(0);
	un_teardown();
}

/* Node 0's log given 100 events of random bodies, their raft index `index`
 * (0: written before replication), then node 0 bootstrapped alone and
 * ready. Returns the log's hashes before the start (seq 0 to 100; free it). */
static uint8_t (*un_start_filled(uint64_t index, ld_errinfo *e, int *who))[H]
{
	uint8_t body[32];
	for (int s = 0; s < 100; s++) {
		for (unsigned k = 0; k < sizeof body; k++)
			body[k] = (uint8_t)rng();
		lg_push(&un[0].lg, body, 1 + rnd(sizeof body), index);
	}
	un[0].lg.index = index;
	if (index)
		un[0].lg.synced = 100; /* a hot backup's state is durable */
	uint8_t(*before)[H] = malloc(101 * H);
	memcpy(before, un[0].lg.hash, 101 * H);
	if (un_start(0, 1, 0, e))
		fail_msg("start: %s", e->message);
	assert_true(run_until(any_ready, who, 20000));
	return before;
}

/* A log written before replication (no raft index) becomes a one-node
 * cluster: no event changes, the next continues its chain. */
static void test_uv_upgrade(void **state)
{
	(void)state;
	ld_errinfo e = {0};
	int who = -1;
	un_setup(1, "upgrade");
	rng_state = 2;
	uint8_t(*before)[H] = un_start_filled(0, &e, &who);
	uint64_t seq;
	uint8_t tail[H];
	replica_tail(un[0].rep, &seq, tail);
	assert_int_equal(seq, 100);
	assert_memory_equal(tail, before[100], H);
	for (int k = 0; k < 5; k++)
		un_propose(0);
	assert_true(un[0].lg.seq > 100);
	assert_memory_equal(un[0].lg.hash, before, 101 * H);
	assert_int_equal(un[0].lg.at[100], 0);
	assert_true(un[0].lg.at[101] > 1);
	free(before);
	un_stop(0);
	un_teardown();
}

/* A log restored from a hot backup of another raft log (a whole cluster
 * restored: its index, 500 for every event, is past anything the new raft
 * log holds): the entries raft starts with are skipped as applied, the
 * first with events follows the log's head at an index below 500 and is
 * applied, not taken for a fork; the log's index then follows raft's, and a
 * restart replays it. (Every node halted there before.) */
static void test_uv_restored_cluster(void **state)
{
	(void)state;
	ld_errinfo e = {0};
	int who = -1;
	un_setup(1, "restored");
	rng_state = 3;
	uint8_t(*before)[H] = un_start_filled(500, &e, &who);
	for (int k = 0; k < 5; k++)
		un_propose(0);
	replica_status st;
	replica_status_get(un[0].rep, &st);
	assert_int_not_equal(st.role, REPLICA_HALTED);
	assert_true(un[0].lg.seq > 100);
	assert_memory_equal(un[0].lg.hash, before, 101 * H);
	assert_true(un[0].lg.at[101] > 1 && un[0].lg.at[101] < 500);
	assert_true(un[0].lg.index < 500);
	uint64_t seq = un[0].lg.seq;
	un_stop(0);
	if (un_start(0, 0, 0, &e))
		fail_msg("restart: %s", e.message);
	assert_true(run_until(any_ready, &who, 20000));
	un_propose(0);
	replica_status_get(un[0].rep, &st);
	assert_int_not_equal(st.role, REPLICA_HALTED);
	assert_true(un[0].lg.seq > seq);
	free(before);
	un_stop(0);
	un_teardown();
}

static void transferred(replica *r, int status, uint64_t index, void *arg)
{
	(void)r;
	(void)index;
	struct pending *p = arg;
	p->done = 1;
	p->status = status;
}

/* Three nodes: the leader stopped, a new one; the old one back after the
 * others took snapshots: it installs a marker, fetches the events, applies
 * what queued meanwhile; every log equal; a leadership transfer. */
static void test_uv_three_nodes(void **state)
{
	(void)state;
	ld_errinfo e = {0};
	int who = -1;
	un_setup(3, "three");
	rng_state = 3;
	for (unsigned i = 0; i < 3; i++)
		if (un_start(i, 1, 8, &e))
			fail_msg("start %u: %s", i, e.message);
	assert_true(run_until(any_ready, &who, 20000));
	for (int k = 0; k < 10; k++)
		un_propose((unsigned)who);
	uint64_t seq = un[who].lg.seq;
	assert_true(run_until(all_at, &seq, 10000));

	/* Its process gone, the leader's port refuses the followers' probes:
	 * one of them leads within 1.2 s of the stop (about 0.6 s), where
	 * waiting out their timers (1 s election timeout here) takes the later
	 * of two draws of 1 to 2 s after the last heartbeat, under 1.2 s one
	 * time in 25 ("A leader gone"). */
	int old = who;
	un_stop((unsigned)old);
	uint64_t t0 = uv_now(&uvl);
	who = -1;
	assert_true(run_until(any_ready, &who, 20000));
	assert_true(who != old);
	uint64_t took = uv_now(&uvl) - t0;
	if (took >= 1200)
		fail_msg("a new leader %llu ms after the leader stopped", (unsigned long long)took);
	for (int k = 0; k < 40; k++)
		un_propose((unsigned)who);
	replica_status st;
	replica_status_get(un[who].rep, &st);
	assert_true(st.snapshots >= 2);

	unsigned fetches = un[old].lg.fetches;
	if (un_start((unsigned)old, 0, 8, &e))
		fail_msg("restart: %s", e.message);
	seq = un[who].lg.seq;
	assert_true(run_until(all_at, &seq, 20000));
	assert_true(un[old].lg.fetches > fetches); /* through the snapshot path */
	for (int k = 0; k < 3; k++)
		un_propose((unsigned)who);
	seq = un[who].lg.seq;
	assert_true(run_until(all_at, &seq, 10000));
	for (unsigned i = 0; i < 3; i++) {
		replica_status_get(un[i].rep, &st);
		assert_int_equal(st.reason[0], 0);
		assert_int_equal(st.n_nodes, 3);
		assert_same_logs(&un[i].lg, &un[who].lg);
	}

	/* Leadership to the old leader, checked by who leads afterwards. */
	struct pending p = {0};
	assert_int_equal(replica_transfer(un[who].rep, un[old].id, transferred, &p), 0);
	assert_true(run_until(pending_done, &p, 20000));
	if (p.status == 0) {
		int now = -1;
		assert_true(run_until(any_ready, &now, 20000));
		assert_int_equal(now, old);
		who = now;
	}
	un_propose((unsigned)who);
	un_teardown();
}

static int is_halted(void *arg)
{
	replica_status st;
	replica_status_get(((unode *)arg)->rep, &st);
	return st.role == REPLICA_HALTED;
}

/* A follower whose state machine took an entry to append later (the
 * writer's follow thread) and then found its events do not chain halts at
 * its next poll (replica_sm_ops.settle), naming that entry: nothing from it
 * on is in its log, and it neither votes nor leads; the other two go on. */
static void test_uv_settle_halts(void **state)
{
	(void)state;
	ld_errinfo e = {0};
	int who = -1;
	un_setup(3, "settle");
	rng_state = 5;
	/* The halted node's raft closes its connections under the others'
	 * sends (the daemon ignores SIGPIPE too). */
	signal(SIGPIPE, SIG_IGN);
	for (unsigned i = 0; i < 3; i++)
		if (un_start(i, 1, 0, &e))
			fail_msg("start %u: %s", i, e.message);
	assert_true(run_until(any_ready, &who, 20000));
	for (int k = 0; k < 3; k++)
		un_propose((unsigned)who);
	uint64_t seq = un[who].lg.seq;
	assert_true(run_until(all_at, &seq, 10000));
	unsigned f = ((unsigned)who + 1) % 3, o = ((unsigned)who + 2) % 3;
	uint64_t fail = un[f].lg.index + 1, held = un[f].lg.seq;
	un[f].lg.fail_index = fail;
	for (int k = 0; k < 6; k++)
		un_propose((unsigned)who);
	assert_true(run_until(is_halted, &un[f], 10000));
	replica_status st;
	replica_status_get(un[f].rep, &st);
	print_message("    %s\n", st.reason);
	char want[64];
	snprintf(want, sizeof want, "entry %llu: its events do not chain",
		 (unsigned long long)un[f].lg.failed_at);
	assert_non_null(strstr(st.reason, want));
	assert_int_equal(un[f].lg.seq, held);
	for (uint64_t s = 1; s <= un[f].lg.seq; s++)
		assert_true(un[f].lg.at[s] < fail);
	/* The others go on without it. */
	un_propose((unsigned)who);
	seq = un[who].lg.seq;
	assert_true(seq > held);
	un[f].running = 0;
	assert_true(run_until(all_at, &seq, 10000));
	assert_same_logs(&un[o].lg, &un[who].lg);
	un[f].running = 1;
	un_teardown();
}

static unsigned env_u(const char *name, unsigned def)
{
	const char *v = getenv(name);
	return v && *v ? (unsigned)strtoul(v, NULL, 10) : def;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, unsigned n, unsigned p)
{
	return v[(n - 1) * p / 100];
}

/* What the confirmation costs a client, on raft_uv, three nodes on loopback:
 * entries proposed one after another, each timed from its proposal to its
 * acknowledgement ("with"); the leader's status says how long after C-Raft
 * reported it committed the confirmation came, so a client answered on
 * C-Raft's report would have had it that much earlier ("without"). Printed,
 * never asserted: a measurement, not a timed test. REPLICA_COST_N entries
 * (default 100), a snapshot every 64. */
static void test_uv_confirm_cost(void **state)
{
	(void)state;
	ld_errinfo e = {0};
	int who = -1;
	unsigned n = env_u("REPLICA_COST_N", 100);
	un_setup(3, "cost");
	rng_state = 5;
	for (unsigned i = 0; i < 3; i++)
		if (un_start(i, 1, 64, &e))
			fail_msg("start %u: %s", i, e.message);
	assert_true(run_until(any_ready, &who, 20000));
	for (int k = 0; k < 10; k++)
		un_propose((unsigned)who);
	uint64_t *with = calloc(n, sizeof *with), *without = calloc(n, sizeof *without);
	unsigned first = 0;
	for (unsigned k = 0; k < n; k++) {
		replica_status a, b;
		uint64_t seq;
		uint8_t prev[H];
		replica_entry h;
		size_t len;
		replica_tail(un[who].rep, &seq, prev);
		uint8_t *ev = make_events(seq, prev, 1, &h, &len);
		struct pending p = {0};
		replica_status_get(un[who].rep, &a);
		uint64_t t0 = uv_hrtime(), end = uv_now(&uvl) + 10000;
		assert_int_equal(replica_propose(un[who].rep, &h, ev, len, proposed, &p, &e), 0);
		while (!p.done && uv_now(&uvl) < end)
			uv_run(&uvl, UV_RUN_ONCE);
		uint64_t t1 = uv_hrtime();
		free(ev);
		assert_true(p.done);
		assert_int_equal(p.status, 0);
		replica_status_get(un[who].rep, &b);
		uint64_t wait = b.ack_wait_us - a.ack_wait_us;
		with[k] = (t1 - t0) / 1000;
		without[k] = with[k] > wait ? with[k] - wait : 0;
		first += wait == 0;
	}
	replica_status st;
	replica_status_get(un[who].rep, &st);
	qsort(with, n, sizeof *with, cmp_u64);
	qsort(without, n, sizeof *without, cmp_u64);
	double lavg[3] = {0};
	if (getloadavg(lavg, 3) < 0)
		lavg[0] = -1;
	fprintf(stderr,
	        "replica cost, raft_uv, 3 nodes on loopback, %u entries one after another (load "
	        "average %.2f): acknowledged after %llu us median, %llu p90, %llu p99, %llu max; "
	        "raft reported them committed after %llu us median, %llu p90, %llu p99, %llu "
	        "max; the confirmation came first for %u; %llu snapshots, %llu put off, %llu "
	        "entries held back for one\n",
	        n, lavg[0], (unsigned long long)pct(with, n, 50), (unsigned long long)pct(with, n, 90),
	        (unsigned long long)pct(with, n, 99), (unsigned long long)with[n - 1],
	        (unsigned long long)pct(without, n, 50), (unsigned long long)pct(without, n, 90),
	        (unsigned long long)pct(without, n, 99), (unsigned long long)without[n - 1], first,
	        (unsigned long long)st.snapshots, (unsigned long long)st.snapshots_refused,
	        (unsigned long long)st.holdbacks);
	free(with);
	free(without);
	un_teardown();
}

/* ------------------------------------------------------------------ */
/* The simulation                                                      */
/* ------------------------------------------------------------------ */

#define SIM_MAX 8 /* RAFT_FIXTURE_MAX_SERVERS */
#define TRACE_N 400

/* What a node has durably in raft's log, as raft_uv would keep it: the
 * fixture's own in-memory "disk" cannot restart a server after it took a
 * snapshot (its load reports the entries as starting after the snapshot
 * while it keeps them all from index 1) and applies a truncation before the
 * appends still in flight; this model keeps raft_uv's order. */
struct dentry {
	raft_term term;
	unsigned short type;
	size_t len;
	uint8_t *bytes;
};
struct dwrite {
	struct raft_io_append *req;
	raft_io_append_cb cb;
	uint64_t first;   /* index of its first entry */
	unsigned n;       /* entries to write (fewer once truncated past) */
	unsigned ncopied; /* entries copied */
	struct dentry *e;
};
struct dput {
	struct raft_io_snapshot_put *req;
	raft_io_snapshot_put_cb cb;
	unsigned trailing;
	uint64_t index;
};
struct dsend {
	struct raft_io_send *req;
	raft_io_send_cb cb;
};

typedef struct snode {
	ledger lg;
	replica *rep;
	int in;     /* a member of the cluster (the fixture never forgets one) */
	int up;     /* its raft instance runs */
	int halted; /* its replica halted on a fork (noticed) */
	int reseeds;
	replica_keys keys; /* its key ids (0 in the seeds) */
	uint64_t up_at; /* when down: when to restart it */
	/* disk */
	uint64_t base; /* index of d[0] */
	struct dentry *d;
	size_t nd, capd;
	uint64_t tail; /* last index written or in flight */
	struct dwrite *aq;
	size_t naq, capaq, haq;
	struct dput pq[16];
	unsigned npq, hpq;
	struct dsend *sq;
	size_t nsq, capsq, hsq;
	unsigned disk_ms;
	unsigned disk_faults; /* the next disk operations that fail */
	uint64_t send_fail_until; /* sends fail at once until then */
	int term_fault;           /* a term or vote write failed (C-Raft stops) */
	unsigned net_ms;          /* the latency of what it sends */
	int last_role, last_ready;
	uint64_t last_term;
	/* the fixture's methods */
	int (*o_load)(struct raft_io *, raft_term *, raft_id *, struct raft_snapshot **,
	              raft_index *, struct raft_entry **, size_t *);
	int (*o_append)(struct raft_io *, struct raft_io_append *, const struct raft_entry[],
	                unsigned, raft_io_append_cb);
	int (*o_truncate)(struct raft_io *, raft_index);
	int (*o_put)(struct raft_io *, unsigned, struct raft_io_snapshot_put *,
	             const struct raft_snapshot *, raft_io_snapshot_put_cb);
	int (*o_send)(struct raft_io *, struct raft_io_send *, const struct raft_message *,
	              raft_io_send_cb);
	int (*o_set_term)(struct raft_io *, raft_term);
	int (*o_set_vote)(struct raft_io *, raft_id);
	int (*o_start)(struct raft_io *, unsigned, raft_io_tick_cb, raft_io_recv_cb);
	raft_io_recv_cb recv; /* what the fixture delivers to (the replica's) */
} snode;

struct acked {
	uint64_t index, first, count;
	uint8_t last[H];
	size_t size;
	uint8_t *bytes; /* the encoded entry */
};

struct proposal_ctx {
	unsigned node;
	uint64_t at; /* proposed at (simulated ms) */
	uint64_t first, count;
	uint8_t last[H];
	size_t size;
	uint8_t *bytes;
};

/* A replica's message to another, on its way: the same links as raft's
 * (latency, partitions, lost messages). */
struct cmsg {
	uint64_t due, n;
	unsigned from, to;
	size_t len;
	uint8_t b[REPLICA_MSG_MAX];
};

/* What a seed measured, for the soak's totals. */
struct sim_stats {
	uint64_t acks, ack_ms, ack_wait_us, snapshots, snapshots_refused, holdbacks, overcommits,
	    send_fails, shutdowns, halts;
};

typedef struct sim {
	uint64_t seed, step;
	struct cmsg *cq; /* by due time, then order sent */
	size_t ncq, capcq;
	uint64_t csent;
	uint64_t rng2;   /* faults added after the first soak draw from their own
	                  * sequence: adding them left the others' draws as they were */
	struct sim_stats st;
	uint64_t overcommit_term, overcommit_index;
	struct raft_fixture f;
	unsigned n; /* servers in the fixture */
	snode s[SIM_MAX];
	struct acked *acked;
	size_t nacked, capacked;
	unsigned inflight;
	int destructive; /* a step that may have removed durable data */
	uint64_t verified[SIM_MAX][SIM_MAX];
	/* faults in force */
	uint64_t heal_part_at[SIM_MAX][SIM_MAX]; /* disconnected i-j until */
	uint64_t heal_sat_at[SIM_MAX][SIM_MAX];  /* i->j dropping until */
	/* stats */
	unsigned proposals, acks, unknowns, crashes, machine_crashes, restarts, partitions, drops,
	    slows, io_faults, halts, reseeds, failures, installs;
	char trace[TRACE_N][160];
	unsigned ntrace;
	int verbose;
	int fixed_timeouts; /* leave the election timeouts as set */
	int expect_fork;    /* a fork is forced: count it, do not fail on it */
	unsigned forks_seen;
	ledger *peers[SIM_MAX];
	char last_halt[320];
	char failure[512];
} sim;

static sim *S;

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
	char *t = S->trace[S->ntrace++ % TRACE_N];
	int k = snprintf(t, 160, "%6llu t=%-7llu ", (unsigned long long)S->step,
	                 (unsigned long long)S->f.time);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t + k, (size_t)(160 - k), fmt, ap);
	va_end(ap);
	if (S->verbose > 1)
		fprintf(stderr, "%s\n", t);
}

static void print_trace(void)
{
	unsigned from = S->ntrace > TRACE_N ? S->ntrace - TRACE_N : 0;
	for (unsigned k = from; k < S->ntrace; k++)
		fprintf(stderr, "  %s\n", S->trace[k % TRACE_N]);
}

/* An invariant broken: recorded, reported with the seed by the caller. */
static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	if (S->failure[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(S->failure, sizeof S->failure, fmt, ap);
	va_end(ap);
	trace("VIOLATION %s", S->failure);
}

static uint64_t sim_clock(void)
{
	return S->f.time;
}

static unsigned node_of(struct raft_io *io)
{
	for (unsigned i = 0; i < S->n; i++)
		if (&S->f.servers[i].io == io)
			return i;
	abort();
}

static void dentry_free(struct dentry *e)
{
	free(e->bytes);
}

/* ---- the disk model behind the fixture's raft_io ---- */

static void crash(unsigned i, int machine, const char *why);

static void disk_push(snode *n, const struct dentry *e)
{
	if (n->nd == n->capd) {
		n->capd = n->capd ? 2 * n->capd : 64;
		n->d = realloc(n->d, n->capd * sizeof *n->d);
	}
	n->d[n->nd].term = e->term;
	n->d[n->nd].type = e->type;
	n->d[n->nd].len = e->len;
	n->d[n->nd].bytes = malloc(e->len ? e->len : 1);
	memcpy(n->d[n->nd].bytes, e->bytes, e->len);
	n->nd++;
}

static void disk_truncate(snode *n, uint64_t index)
{
	while (n->nd && n->base + n->nd > index) {
		dentry_free(&n->d[--n->nd]);
		S->destructive = 1;
	}
	if (n->tail >= index)
		n->tail = index - 1;
	/* writes in flight past it will not land either */
	for (size_t k = n->haq; k < n->naq; k++) {
		struct dwrite *a = &n->aq[k];
		if (a->first + a->n > index)
			a->n = index > a->first ? (unsigned)(index - a->first) : 0;
	}
}

static void dwrite_free(struct dwrite *a, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		dentry_free(&a->e[k]);
	free(a->e);
}

static void w_append_cb(struct raft_io_append *req, int status)
{
	for (unsigned i = 0; i < S->n; i++) {
		snode *n = &S->s[i];
		if (n->haq == n->naq || n->aq[n->haq].req != req)
			continue;
		struct dwrite a = n->aq[n->haq++];
		unsigned copied = a.ncopied;
		if (n->up && n->disk_faults) {
			/* A write fails: the replica stops the node (0.15's own
			 * handling of a failed write corrupts its log), as a
			 * crash. */
			n->disk_faults--;
			S->failures++;
			crash(i, 0, "write failed");
		}
		if (!n->up) {
			/* The process died before the write reached the disk: the
			 * dead instance is told it did (it is discarded anyway). */
		} else if (status == 0) {
			if (S->verbose > 2)
				trace("node %u: wrote %u entries from index %llu", i, a.n,
				      (unsigned long long)a.first);
			for (unsigned k = 0; k < a.n; k++) {
				if (n->base + n->nd != a.first + k) {
					violation(
					    "disk model: node %u writes index %llu after %llu", i,
					    (unsigned long long)(a.first + k),
					    (unsigned long long)(n->base + n->nd - 1));
					break;
				}
				disk_push(n, &a.e[k]);
			}
		}
		dwrite_free(&a, copied);
		a.cb(req, status);
		return;
	}
	abort();
}

static int w_append(struct raft_io *io, struct raft_io_append *req,
                    const struct raft_entry entries[], unsigned cnt, raft_io_append_cb cb)
{
	snode *n = &S->s[node_of(io)];
	int rv = n->o_append(io, req, entries, cnt, w_append_cb);
	if (rv)
		return rv;
	if (n->naq == n->capaq) {
		if (n->haq) {
			memmove(n->aq, n->aq + n->haq, (n->naq - n->haq) * sizeof *n->aq);
			n->naq -= n->haq;
			n->haq = 0;
		}
		if (n->naq == n->capaq) {
			n->capaq = n->capaq ? 2 * n->capaq : 16;
			n->aq = realloc(n->aq, n->capaq * sizeof *n->aq);
		}
	}
	if (S->verbose > 2)
		trace("node %u: write %u entries from index %llu", node_of(io), cnt,
		      (unsigned long long)(n->tail + 1));
	struct dwrite *a = &n->aq[n->naq++];
	a->req = req;
	a->cb = cb;
	a->first = n->tail + 1;
	a->n = a->ncopied = cnt;
	a->e = calloc(cnt ? cnt : 1, sizeof *a->e);
	for (unsigned k = 0; k < cnt; k++) {
		a->e[k].term = entries[k].term;
		a->e[k].type = entries[k].type;
		a->e[k].len = entries[k].buf.len;
		a->e[k].bytes = malloc(entries[k].buf.len ? entries[k].buf.len : 1);
		memcpy(a->e[k].bytes, entries[k].buf.base, entries[k].buf.len);
	}
	n->tail += cnt;
	return 0;
}

static int w_truncate(struct raft_io *io, raft_index index)
{
	unsigned i = node_of(io);
	snode *n = &S->s[i];
	if (index == 1) {
		/* Only the fixture's store of an installed snapshot asks for
		 * this (entry 1 is the bootstrap configuration, never in
		 * conflict): the log is replaced by the snapshot. */
		if (n->hpq == n->npq)
			abort();
		struct dput *p = &n->pq[n->hpq % 16];
		disk_truncate(n, 0);
		n->base = p->index + 1;
		n->tail = p->index;
		S->destructive = 1;
		S->installs++;
		trace("node %u installs a snapshot at index %llu", i, (unsigned long long)p->index);
		return n->o_truncate(io, 1);
	}
	if (index < n->base)
		return 0;
	if (S->verbose > 2)
		trace("node %u: truncate from index %llu", i, (unsigned long long)index);
	disk_truncate(n, index);
	return 0;
}

static void w_put_cb(struct raft_io_snapshot_put *req, int status)
{
	for (unsigned i = 0; i < S->n; i++) {
		snode *n = &S->s[i];
		if (n->hpq == n->npq || n->pq[n->hpq % 16].req != req)
			continue;
		struct dput p = n->pq[n->hpq++ % 16];
		p.cb(req, status);
		return;
	}
	abort();
}

static int w_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                 const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	snode *n = &S->s[node_of(io)];
	if (n->npq - n->hpq >= 16)
		abort();
	int rv = n->o_put(io, trailing, req, snapshot, w_put_cb);
	if (rv)
		return rv;
	struct dput *p = &n->pq[n->npq++ % 16];
	p->req = req;
	p->cb = cb;
	p->trailing = trailing;
	p->index = snapshot->index;
	return 0;
}

static void w_send_cb(struct raft_io_send *req, int status)
{
	for (unsigned i = 0; i < S->n; i++) {
		snode *n = &S->s[i];
		if (n->hsq == n->nsq || n->sq[n->hsq].req != req)
			continue;
		struct dsend q = n->sq[n->hsq++];
		if (q.cb)
			q.cb(req, status);
		return;
	}
	abort();
}

static int w_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m,
                  raft_io_send_cb cb)
{
	snode *n = &S->s[node_of(io)];
	if (S->verbose > 3 && m->type == RAFT_IO_APPEND_ENTRIES_RESULT)
		trace("node %u -> %llu: append result term %llu rejected %llu last index %llu",
		      node_of(io), (unsigned long long)m->server_id,
		      (unsigned long long)m->append_entries_result.term,
		      (unsigned long long)m->append_entries_result.rejected,
		      (unsigned long long)m->append_entries_result.last_log_index);
	if (S->verbose > 3 && m->type == RAFT_IO_APPEND_ENTRIES)
		trace("node %u -> %llu: append term %llu prev %llu/%llu, %u entries, commit %llu",
		      node_of(io), (unsigned long long)m->server_id,
		      (unsigned long long)m->append_entries.term,
		      (unsigned long long)m->append_entries.prev_log_index,
		      (unsigned long long)m->append_entries.prev_log_term,
		      m->append_entries.n_entries,
		      (unsigned long long)m->append_entries.leader_commit);
	if (n->up && S->f.time < n->send_fail_until) {
		/* what a transport says when it cannot even queue the message */
		S->st.send_fails++;
		return RAFT_NOCONNECTION;
	}
	int rv = n->o_send(io, req, m, w_send_cb);
	if (rv)
		return rv;
	if (n->nsq == n->capsq) {
		if (n->hsq) {
			memmove(n->sq, n->sq + n->hsq, (n->nsq - n->hsq) * sizeof *n->sq);
			n->nsq -= n->hsq;
			n->hsq = 0;
		}
		if (n->nsq == n->capsq) {
			n->capsq = n->capsq ? 2 * n->capsq : 16;
			n->sq = realloc(n->sq, n->capsq * sizeof *n->sq);
		}
	}
	n->sq[n->nsq].req = req;
	n->sq[n->nsq].cb = cb;
	n->nsq++;
	return 0;
}

/* Term and vote are written synchronously: a failure is returned. */
static int w_set_term(struct raft_io *io, raft_term term)
{
	snode *n = &S->s[node_of(io)];
	if (n->up && n->disk_faults) {
		n->disk_faults--;
		n->term_fault = 1;
		return RAFT_IOERR;
	}
	return n->o_set_term(io, term);
}

static int w_set_vote(struct raft_io *io, raft_id id)
{
	snode *n = &S->s[node_of(io)];
	if (n->up && n->disk_faults) {
		n->disk_faults--;
		n->term_fault = 1;
		return RAFT_IOERR;
	}
	return n->o_set_vote(io, id);
}

static int w_load(struct raft_io *io, raft_term *term, raft_id *voted,
                  struct raft_snapshot **snapshot, raft_index *start, struct raft_entry **entries,
                  size_t *n_entries)
{
	snode *n = &S->s[node_of(io)];
	struct raft_entry *fe;
	size_t fn;
	int rv = n->o_load(io, term, voted, snapshot, start, &fe, &fn);
	if (rv)
		return rv;
	if (fn) {
		raft_free(fe[0].batch);
		raft_free(fe);
	}
	*start = n->base;
	*n_entries = n->nd;
	*entries = NULL;
	if (!n->nd)
		return 0;
	size_t total = 0;
	for (size_t k = 0; k < n->nd; k++)
		total += n->d[k].len;
	uint8_t *batch = raft_malloc(total ? total : 8), *cur = batch;
	struct raft_entry *es = raft_calloc(n->nd, sizeof *es);
	for (size_t k = 0; k < n->nd; k++) {
		es[k].term = n->d[k].term;
		es[k].type = n->d[k].type;
		es[k].buf.base = cur;
		es[k].buf.len = n->d[k].len;
		es[k].batch = batch;
		memcpy(cur, n->d[k].bytes, n->d[k].len);
		cur += n->d[k].len;
	}
	*entries = es;
	return 0;
}

/* Keeps what the fixture delivers messages to, so that a test can deliver
 * one of its own. */
static int w_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
	snode *n = &S->s[node_of(io)];
	n->recv = recv;
	return n->o_start(io, msecs, tick, recv);
}

/* Puts the disk model behind server i's io, starting from what the fixture
 * holds for it (the bootstrap configuration, entries added by hand). */
static void disk_attach(unsigned i)
{
	snode *n = &S->s[i];
	struct raft_io *io = &S->f.servers[i].io;
	n->o_start = io->start;
	io->start = w_start;
	n->o_load = io->load;
	n->o_append = io->append;
	n->o_truncate = io->truncate;
	n->o_put = io->snapshot_put;
	n->o_send = io->send;
	n->o_set_term = io->set_term;
	n->o_set_vote = io->set_vote;
	io->set_term = w_set_term;
	io->set_vote = w_set_vote;
	io->load = w_load;
	io->append = w_append;
	io->truncate = w_truncate;
	io->snapshot_put = w_put;
	io->send = w_send;
	n->base = 1;
	raft_term term;
	raft_id vote;
	struct raft_snapshot *snap = NULL;
	raft_index start;
	struct raft_entry *fe;
	size_t fn;
	assert_int_equal(n->o_load(io, &term, &vote, &snap, &start, &fe, &fn), 0);
	assert_null(snap);
	for (size_t k = 0; k < fn; k++) {
		struct dentry e = {fe[k].term, fe[k].type, fe[k].buf.len, fe[k].buf.base};
		disk_push(n, &e);
	}
	n->tail = fn;
	if (fn) {
		raft_free(fe[0].batch);
		raft_free(fe);
	}
}

static int drained(const snode *n)
{
	return n->haq == n->naq && n->hpq == n->npq && n->hsq == n->nsq;
}

/* ---- nodes ---- */

static unsigned sim_threshold, sim_trailing;

/* ---- the replicas' own messages ---- */

static int link_down(unsigned i, unsigned j)
{
	return S->heal_part_at[i][j] || S->heal_part_at[j][i] || S->heal_sat_at[i][j];
}

static int sim_send(replica *r, uint64_t to, const void *msg, size_t len, void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg, j = (unsigned)(to - 1);
	(void)r;
	if (j >= S->n || len > REPLICA_MSG_MAX || !S->s[i].up || !S->s[j].in || link_down(i, j))
		return 0;
	if (S->ncq == S->capcq) {
		S->capcq = S->capcq ? 2 * S->capcq : 64;
		S->cq = realloc(S->cq, S->capcq * sizeof *S->cq);
	}
	struct cmsg m = {.due = S->f.time + S->s[i].net_ms, .n = S->csent++, .from = i, .to = j,
	                 .len = len};
	memcpy(m.b, msg, len);
	size_t k = S->ncq++;
	while (k > 0 && S->cq[k - 1].due > m.due) {
		S->cq[k] = S->cq[k - 1];
		k--;
	}
	S->cq[k] = m;
	return 0;
}

/* Delivers what is due, to nodes up, over links up. */
static void sim_deliver(void)
{
	size_t k = 0;
	while (k < S->ncq && S->cq[k].due <= S->f.time) {
		struct cmsg *m = &S->cq[k++];
		snode *t = &S->s[m->to];
		if (t->up && !t->halted && !link_down(m->from, m->to))
			replica_receive(t->rep, m->b, m->len);
	}
	if (k) {
		memmove(S->cq, S->cq + k, (S->ncq - k) * sizeof *S->cq);
		S->ncq -= k;
	}
}

static void set_latency(unsigned i, unsigned ms)
{
	raft_fixture_set_network_latency(&S->f, i, ms);
	S->s[i].net_ms = ms;
}

/* What a replica measured, added to the seed's before it goes. */
static void collect(unsigned i)
{
	replica_status st;
	replica_status_get(S->s[i].rep, &st);
	S->st.ack_wait_us += st.ack_wait_us;
	S->st.snapshots += st.snapshots;
	S->st.snapshots_refused += st.snapshots_refused;
	S->st.holdbacks += st.holdbacks;
}

static int sim_usable(ledger *p)
{
	for (unsigned i = 0; i < S->n; i++)
		if (&S->s[i].lg == p)
			return S->s[i].up && !S->s[i].halted;
	return 0;
}

static void raft_setup(unsigned i)
{
	struct raft *r = &S->f.servers[i].raft;
	raft_set_election_timeout(r, 1000);
	raft_set_heartbeat_timeout(r, 100);
	raft_set_install_snapshot_timeout(r, 10000);
	raft_set_snapshot_threshold(r, sim_threshold);
	raft_set_snapshot_trailing(r, sim_trailing);
	raft_set_pre_vote(r, true);
	replica_options o = {.checkpoint_ms = 1000,
	                     .send = sim_send,
	                     .arg = (void *)(uintptr_t)i,
	                     .keys = S->s[i].keys};
	replica_bind(S->s[i].rep, r, &o);
}

static void lg_reset_verified(unsigned i)
{
	for (unsigned j = 0; j < SIM_MAX; j++) {
		uint64_t s = S->s[i].lg.seq;
		if (S->verified[i][j] > s)
			S->verified[i][j] = S->verified[j][i] = s;
	}
}

static int dead_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	(void)fsm;
	(void)buf;
	*result = NULL;
	return 0;
}
static int dead_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
	(void)fsm;
	(void)bufs;
	(void)n;
	return RAFT_BUSY;
}
static int dead_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	(void)fsm;
	raft_free(buf->base);
	return 0;
}
/* a snapshot taken before the crash, stored after it: the replica's buffer */
static int dead_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
	(void)fsm;
	if (*bufs && *n)
		raft_free((*bufs)[0].base);
	*bufs = NULL;
	*n = 0;
	return 0;
}
static struct raft_fsm dead_fsm = {.version = 2,
                                   .apply = dead_apply,
                                   .snapshot = dead_snapshot,
                                   .restore = dead_restore,
                                   .snapshot_finalize = dead_finalize};

/* A crash: the process dies (writes in flight are lost); a crash of the
 * machine also loses the log's unsynced tail, back to any point after its
 * last sync. */
static void crash(unsigned i, int machine, const char *why)
{
	S->s[i].disk_faults = 0;
	S->s[i].term_fault = 0;
	snode *n = &S->s[i];
	raft_fixture_kill(&S->f, i);
	n->up = 0;
	n->lg.down = 1;
	n->lg.fetching = 0;
	/* A dead process reaches its state machine no more: C-Raft's instance
	 * lives on in the fixture until the restart, completing its writes. */
	S->f.servers[i].raft.fsm = &dead_fsm;
	if (machine && n->lg.seq > n->lg.synced) {
		/* back to the end of a transaction: an entry's events go in one */
		uint64_t p = n->lg.synced + rnd((unsigned)(n->lg.seq - n->lg.synced + 1));
		while (p > n->lg.synced && p < n->lg.seq && n->lg.at[p] == n->lg.at[p + 1])
			p--;
		lg_truncate(&n->lg, p);
		lg_reset_verified(i);
		S->destructive = 1;
		S->machine_crashes++;
	}
	n->up_at = S->f.time + 500 + rnd(3000);
	trace("node %u down (%s%s), log at seq %llu", i, why, machine ? ", machine" : "",
	      (unsigned long long)n->lg.seq);
}

static int restart(unsigned i)
{
	snode *n = &S->s[i];
	struct raft_fixture_server *srv = &S->f.servers[i];
	if (!drained(n))
		return -1;
	if (n->halted) {
		/* Re-seed from a healthy peer: the most advanced one up. */
		int best = -1;
		for (unsigned j = 0; j < S->n; j++)
			if (j != i && S->s[j].in && S->s[j].up && !S->s[j].halted &&
			    (best < 0 || S->s[j].lg.seq > S->s[best].lg.seq))
				best = (int)j;
		if (best < 0)
			return -1;
		lg_copy(&n->lg, &S->s[best].lg);
		for (unsigned j = 0; j < SIM_MAX; j++)
			S->verified[i][j] = S->verified[j][i] = 0;
		n->reseeds++;
		S->reseeds++;
		trace("node %u re-seeded from node %d (seq %llu)", i, best,
		      (unsigned long long)n->lg.seq);
	}
	n->tail = n->base + n->nd - 1; /* the writes in flight at the crash are lost */
	collect(i);
	replica_unbind(n->rep);
	raft_close(&srv->raft, NULL);
	replica_free(n->rep);
	assert_int_equal(replica_new(&n->rep, &sm_ops, &n->lg), 0);
	n->lg.rep = n->rep;
	memset(&srv->raft, 0, sizeof srv->raft);
	assert_int_equal(
	    raft_init(&srv->raft, &srv->io, replica_fsm(n->rep), srv->id, srv->address), 0);
	raft_setup(i);
	int rv = raft_start(&srv->raft);
	if (rv) {
		trace("node %u: raft_start: %s", i, raft_strerror(rv));
		n->up_at = S->f.time + 500;
		return -1;
	}
	n->lg.down = 0;
	n->up = 1;
	n->halted = 0;
	raft_fixture_revive(&S->f, i);
	S->restarts++;
	trace("node %u up (log seq %llu, disk %llu..%llu)", i, (unsigned long long)n->lg.seq,
	      (unsigned long long)n->base, (unsigned long long)(n->base + n->nd - 1));
	return 0;
}

/* ---- the writer ---- */

static void proposal_done(replica *r, int status, uint64_t index, void *arg);

static int voters(void)
{
	int v = 0;
	for (unsigned i = 0; i < S->n; i++)
		v += S->s[i].in;
	return v;
}

/* Is acked entry a durable on node i: in raft's log on its disk, or in its
 * log, synced. */
static int on_node(unsigned i, const struct acked *a)
{
	snode *n = &S->s[i];
	if (a->index >= n->base && a->index < n->base + n->nd) {
		struct dentry *d = &n->d[a->index - n->base];
		if (d->len == a->size && !memcmp(d->bytes, a->bytes, a->size))
			return 1;
	}
	uint64_t last = a->first + a->count - 1;
	return n->lg.synced >= last && !memcmp(n->lg.hash[last], a->last, H);
}

static void check_acked(const struct acked *a)
{
	int on = 0;
	for (unsigned i = 0; i < S->n; i++)
		if (S->s[i].in)
			on += on_node(i, a);
	if (on <= voters() / 2 && !S->failure[0]) {
		for (unsigned i = 0; i < S->n; i++) {
			snode *n = &S->s[i];
			uint64_t last = a->first + a->count - 1;
			int in_disk = a->index >= n->base && a->index < n->base + n->nd;
			trace("  node %u%s: disk %llu..%llu%s, log seq %llu synced %llu%s", i,
			      n->up ? "" : " (down)", (unsigned long long)n->base,
			      (unsigned long long)(n->base + n->nd - 1),
			      !in_disk        ? ""
			      : on_node(i, a) ? " (has it)"
			                      : " (another entry there)",
			      (unsigned long long)n->lg.seq, (unsigned long long)n->lg.synced,
			      n->lg.seq >= last && !memcmp(n->lg.hash[last], a->last, H)
			          ? " (applied)"
			          : "");
		}
		violation(
		    "acknowledged entry at index %llu (seq %llu..%llu) is durable on %d of %d "
		    "nodes",
		    (unsigned long long)a->index, (unsigned long long)a->first,
		    (unsigned long long)(a->first + a->count - 1), on, voters());
	}
}

static void proposal_done(replica *r, int status, uint64_t index, void *arg)
{
	(void)r;
	struct proposal_ctx *p = arg;
	S->inflight--;
	if (!S->s[p->node].up)
		status = REPLICA_E_UNKNOWN; /* a dead process answers no client */
	if (status == 0) {
		if (S->nacked == S->capacked) {
			S->capacked = S->capacked ? 2 * S->capacked : 256;
			S->acked = realloc(S->acked, S->capacked * sizeof *S->acked);
		}
		struct acked *a = &S->acked[S->nacked++];
		a->index = index;
		a->first = p->first;
		a->count = p->count;
		memcpy(a->last, p->last, H);
		a->size = p->size;
		a->bytes = p->bytes;
		S->acks++;
		S->st.acks++;
		S->st.ack_ms += S->f.time - p->at;
		trace("node %u: ack index %llu seq %llu..%llu", p->node, (unsigned long long)index,
		      (unsigned long long)p->first, (unsigned long long)(p->first + p->count - 1));
		check_acked(a);
	} else {
		S->unknowns++;
		trace("node %u: proposal seq %llu..: %s", p->node, (unsigned long long)p->first,
		      status == REPLICA_E_UNKNOWN ? "outcome unknown" : "halted");
		free(p->bytes);
	}
	free(p);
}

static int propose(unsigned i)
{
	snode *n = &S->s[i];
	uint64_t seq;
	uint8_t prev[H];
	replica_tail(n->rep, &seq, prev);
	replica_entry h;
	size_t len;
	uint8_t *ev = make_events(seq, prev, events_per_group ? events_per_group : 1 + rnd(3), &h,
	                          &len);
	struct proposal_ctx *p = calloc(1, sizeof *p);
	p->node = i;
	p->at = S->f.time;
	p->first = h.first_seq;
	p->count = h.count;
	memcpy(p->last, h.last_hash, H);
	/* The entry as submit packs it (compressed when that saves room). */
	p->bytes = malloc(replica_entry_packed_max(len));
	p->size = replica_entry_pack(&h, ev, len, p->bytes);
	ld_errinfo e = {0};
	int rc = replica_propose(n->rep, &h, ev, len, proposal_done, p, &e);
	free(ev);
	if (rc) {
		free(p->bytes);
		free(p);
		return rc;
	}
	S->inflight++;
	S->proposals++;
	return 0;
}

static int ready_leader(void)
{
	for (unsigned i = 0; i < S->n; i++) {
		if (!S->s[i].up || S->s[i].halted)
			continue;
		replica_status st;
		replica_status_get(S->s[i].rep, &st);
		if (st.ready)
			return (int)i;
	}
	return -1;
}

/* ---- invariants, after every step ---- */

/* Does C-Raft's leader i report committed an entry on a minority of disks?
 * That is the fault the confirmation designs around: counted (once per entry),
 * not a violation, as long as no such entry is acknowledged. */
static void count_overcommit(unsigned i)
{
	struct raft *raft = &S->f.servers[i].raft;
	snode *l = &S->s[i];
	uint64_t c = raft->commit_index;
	if (raft_state(raft) != RAFT_LEADER || c < l->base || c >= l->base + l->nd ||
	    (raft->current_term == S->overcommit_term && c <= S->overcommit_index))
		return;
	struct dentry *d = &l->d[c - l->base];
	struct acked a = {.index = c, .size = d->len, .bytes = d->bytes};
	replica_entry h;
	const uint8_t *ev;
	size_t len;
	char why[128];
	int cmd = d->type == RAFT_COMMAND &&
	          replica_entry_decode(d->bytes, d->len, &h, &ev, &len, why, sizeof why) == 0 &&
	          h.count;
	int on = 0;
	for (unsigned j = 0; j < S->n; j++) {
		snode *n = &S->s[j];
		if (!n->in)
			continue;
		if (cmd) {
			a.first = h.first_seq;
			a.count = h.count;
			memcpy(a.last, h.last_hash, H);
			on += on_node(j, &a);
		} else {
			on += c >= n->base && c < n->base + n->nd && n->d[c - n->base].len == d->len &&
			      !memcmp(n->d[c - n->base].bytes, d->bytes, d->len);
		}
	}
	if (on > voters() / 2)
		return;
	S->overcommit_term = raft->current_term;
	S->overcommit_index = c;
	S->st.overcommits++;
	trace("node %u: raft reports index %llu committed, on %d of %d disks", i,
	      (unsigned long long)c, on, voters());
}

static void check_invariants(void)
{
	for (unsigned i = 0; i < S->n; i++)
		if (S->s[i].up)
			count_overcommit(i);
	/* No two leaders in one term (the fixture aborts on it too). */
	for (unsigned i = 0; i < S->n; i++)
		for (unsigned j = i + 1; j < S->n; j++) {
			if (!S->s[i].up || !S->s[j].up)
				continue;
			struct raft *a = &S->f.servers[i].raft, *b = &S->f.servers[j].raft;
			if (raft_state(a) == RAFT_LEADER && raft_state(b) == RAFT_LEADER) {
				replica_status sa, sb;
				replica_status_get(S->s[i].rep, &sa);
				replica_status_get(S->s[j].rep, &sb);
				if (sa.term == sb.term)
					violation("nodes %u and %u both lead term %llu", i, j,
					          (unsigned long long)sa.term);
			}
		}
	/* Every acknowledged entry durable on a majority: it can only stop
	 * being after a step that removed something durable. */
	if (S->destructive)
		for (size_t k = 0; k < S->nacked; k++)
			check_acked(&S->acked[k]);
	/* No two nodes hold different events at one seq (so their heads
	 * agree at their common prefix), halted ones aside. */
	for (unsigned i = 0; i < S->n; i++)
		for (unsigned j = i + 1; j < S->n; j++) {
			if (S->s[i].halted || S->s[j].halted)
				continue;
			ledger *a = &S->s[i].lg, *b = &S->s[j].lg;
			uint64_t common = a->seq < b->seq ? a->seq : b->seq;
			for (uint64_t s = S->verified[i][j] + 1; s <= common; s++)
				if (memcmp(a->hash[s], b->hash[s], H)) {
					if (S->expect_fork) {
						if (!S->forks_seen++)
							trace("nodes %u and %u hold different "
							      "events at "
							      "seq %llu",
							      i, j, (unsigned long long)s);
						goto next;
					}
					violation(
					    "nodes %u and %u hold different events at seq %llu", i,
					    j, (unsigned long long)s);
					return;
				}
			if (common > S->verified[i][j])
				S->verified[i][j] = S->verified[j][i] = common;
		next:;
		}
}

/* ---- faults ---- */

static void notice(unsigned i)
{
	snode *n = &S->s[i];
	if (!n->up)
		return;
	replica_status st;
	replica_status_get(n->rep, &st);
	if (st.role == REPLICA_HALTED) {
		S->halts++;
		snprintf(S->last_halt, sizeof S->last_halt, "%s", st.reason);
		trace("node %u HALTED: %s", i, st.reason);
		crash(i, 0, "halted");
		n->halted = 1;
	} else if (st.role == REPLICA_FAILED ||
	           raft_state(&S->f.servers[i].raft) == RAFT_UNAVAILABLE) {
		S->failures++;
		/* C-Raft shutting itself down but for a failed term or vote
		 * write: it found a conflict at an index it had counted
		 * committed (a follower's stale entries) */
		S->st.shutdowns += st.role != REPLICA_FAILED && !n->term_fault;
		n->term_fault = 0;
		trace("node %u failed: %s", i,
		      st.reason[0] ? st.reason : raft_errmsg(&S->f.servers[i].raft));
		crash(i, 0, "failed");
	}
}

static void faults(void)
{
	unsigned n = S->n, i = rnd(n), j = rnd(n);
	unsigned roll = rnd(10000);
	uint64_t now = S->f.time;
	if (!S->s[i].in)
		return;
	if (roll < 25) { /* crash */
		if (S->s[i].up) {
			S->crashes++;
			crash(i, rnd(2), "crash");
		}
	} else if (roll < 50) { /* partition: i and j cannot talk */
		if (i != j && S->s[j].in && !S->heal_part_at[i][j]) {
			raft_fixture_disconnect(&S->f, i, j);
			raft_fixture_disconnect(&S->f, j, i);
			S->heal_part_at[i][j] = now + 200 + rnd(4000);
			S->partitions++;
			trace("partition %u-%u", i, j);
		}
	} else if (roll < 60) { /* isolate i */
		for (j = 0; j < n; j++)
			if (j != i && S->s[j].in && !S->heal_part_at[i][j] &&
			    !S->heal_part_at[j][i]) {
				raft_fixture_disconnect(&S->f, i, j);
				raft_fixture_disconnect(&S->f, j, i);
				S->heal_part_at[i][j] = now + 500 + rnd(4000);
			}
		S->partitions++;
		trace("node %u isolated", i);
	} else if (roll < 110) { /* lost messages i -> j */
		if (i != j && S->s[i].up && S->s[j].up && !S->heal_sat_at[i][j]) {
			raft_fixture_saturate(&S->f, i, j);
			S->heal_sat_at[i][j] = now + 20 + rnd(800);
			S->drops++;
			trace("messages %u->%u lost", i, j);
		}
	} else if (roll < 160) { /* slow (and so reordered) messages from i */
		unsigned ms = rnd(4) ? 5 + rnd(60) : 100 + rnd(400);
		set_latency(i, ms);
		S->slows++;
		trace("node %u: network latency %u ms", i, ms);
	} else if (roll < 168) { /* disk errors: the next writes fail */
		if (S->s[i].up) {
			S->s[i].disk_faults = 1 + rnd(3);
			S->io_faults++;
			trace("node %u: disk errors armed", i);
		}
	} else if (roll < 190) { /* sends fail at once for a while */
		uint64_t z = (S->rng2 += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
		unsigned ms = 10 + (unsigned)((z >> 17) % 400);
		if (S->s[i].up) {
			S->s[i].send_fail_until = now + ms;
			trace("node %u: sends fail for %u ms", i, ms);
		}
	}
}

static void heals(int all)
{
	uint64_t now = S->f.time;
	for (unsigned i = 0; i < S->n; i++)
		for (unsigned j = 0; j < S->n; j++) {
			if (S->heal_part_at[i][j] && (all || now >= S->heal_part_at[i][j])) {
				raft_fixture_reconnect(&S->f, i, j);
				raft_fixture_reconnect(&S->f, j, i);
				S->heal_part_at[i][j] = 0;
				trace("partition %u-%u healed", i, j);
			}
			if (S->heal_sat_at[i][j] && (all || now >= S->heal_sat_at[i][j])) {
				if (S->s[i].up && S->s[j].up)
					raft_fixture_desaturate(&S->f, i, j);
				S->heal_sat_at[i][j] = 0;
			}
		}
}

static void sim_step(int with_faults, unsigned propose_permille)
{
	S->step++;
	S->destructive = 0;
	for (unsigned i = 0; i < S->n && !S->fixed_timeouts; i++)
		raft_fixture_set_randomized_election_timeout(&S->f, i, 1000 + rnd(1000));
	if (with_faults)
		faults();
	if (rnd(1000) < propose_permille && S->inflight < 4) {
		int l = ready_leader();
		if (l >= 0)
			propose((unsigned)l);
	}
	raft_fixture_step(&S->f);
	sim_deliver();
	for (unsigned i = 0; i < S->n; i++) {
		if (!S->s[i].up)
			continue;
		replica_poll(S->s[i].rep);
		if (S->verbose > 1) {
			replica_status st;
			replica_status_get(S->s[i].rep, &st);
			uint64_t tseq;
			uint8_t th[H];
			replica_tail(S->s[i].rep, &tseq, th);
			if (st.role != S->s[i].last_role || st.term != S->s[i].last_term ||
			    st.ready != S->s[i].last_ready)
				trace("node %u: %s%s, term %llu, last index %llu, commit %llu, log "
				      "seq %llu, tail %llu",
				      i, replica_role_name(st.role), st.ready ? " (ready)" : "",
				      (unsigned long long)st.term,
				      (unsigned long long)st.last_index,
				      (unsigned long long)st.commit_index,
				      (unsigned long long)st.log_seq, (unsigned long long)tseq);
			S->s[i].last_role = st.role;
			S->s[i].last_term = st.term;
			S->s[i].last_ready = st.ready;
		}
		notice(i);
	}
	for (unsigned i = 0; i < S->n; i++)
		if (S->s[i].up)
			lg_fetch_step(&S->s[i].lg);
	for (unsigned i = 0; i < S->n; i++)
		if (S->s[i].in && !S->s[i].up && S->f.time >= S->s[i].up_at)
			if (restart(i))
				S->s[i].up_at = S->f.time + 100;
	heals(0);
	check_invariants();
}

/* ---- one seed ---- */

static void sim_open(unsigned n)
{
	events_compress = 0; /* a test that set them may have failed midway */
	events_per_group = 0;
	memset(&S->f, 0, sizeof S->f); /* raft_fixture_initialize leaves fields unset */
	assert_int_equal(raft_fixture_initialize(&S->f), 0);
	fetch_clock = sim_clock;
	fetch_delay = 20 + rnd(300);
	ledger **peers = S->peers;
	for (unsigned i = 0; i < n; i++) {
		snode *s = &S->s[i];
		lg_init(&s->lg);
		assert_int_equal(replica_new(&s->rep, &sm_ops, &s->lg), 0);
		s->lg.rep = s->rep;
		peers[i] = &s->lg;
		assert_int_equal(raft_fixture_grow(&S->f, replica_fsm(s->rep)), 0);
		s->in = 1;
	}
	S->n = n;
	for (unsigned i = 0; i < SIM_MAX; i++) {
		S->s[i].lg.peers = peers;
		S->s[i].lg.npeers = n;
		S->s[i].lg.usable = sim_usable;
	}
	struct raft_configuration conf;
	assert_int_equal(raft_fixture_configuration(&S->f, n, &conf), 0);
	assert_int_equal(raft_fixture_bootstrap(&S->f, &conf), 0);
	raft_configuration_close(&conf);
}

static void sim_start(void)
{
	for (unsigned i = 0; i < S->n; i++) {
		disk_attach(i);
		raft_setup(i);
		S->s[i].disk_ms = rnd(5) ? 1 + rnd(20) : 50 + rnd(100);
		raft_fixture_set_disk_latency(&S->f, i, S->s[i].disk_ms);
		S->s[i].net_ms = 15; /* the fixture's default */
		S->s[i].up = 1;
	}
	assert_int_equal(raft_fixture_start(&S->f), 0);
}

static void sim_close(void)
{
	for (unsigned i = 0; i < S->n; i++) {
		collect(i);
		replica_unbind(S->s[i].rep);
	}
	/* Every server must hold a raft instance for the fixture to close. */
	for (unsigned i = 0; i < S->n; i++) {
		struct raft_fixture_server *srv = &S->f.servers[i];
		if (!S->s[i].up && drained(&S->s[i])) {
			raft_close(&srv->raft, NULL);
			memset(&srv->raft, 0, sizeof srv->raft);
			raft_init(&srv->raft, &srv->io, replica_fsm(S->s[i].rep), srv->id,
			          srv->address);
		}
	}
	raft_fixture_close(&S->f);
	for (unsigned i = 0; i < S->n; i++) {
		snode *n = &S->s[i];
		replica_free(n->rep);
		lg_free(&n->lg);
		for (size_t k = 0; k < n->nd; k++)
			dentry_free(&n->d[k]);
		free(n->d);
		free(n->aq);
		free(n->sq);
	}
	for (size_t k = 0; k < S->nacked; k++)
		free(S->acked[k].bytes);
	free(S->acked);
	free(S->cq);
}

static int logs_equal(void)
{
	int ref = -1;
	for (unsigned i = 0; i < S->n; i++) {
		if (!S->s[i].in)
			continue;
		if (ref < 0) {
			ref = (int)i;
			continue;
		}
		ledger *a = &S->s[ref].lg, *b = &S->s[i].lg;
		if (a->seq != b->seq || memcmp(a->hash[a->seq], b->hash[b->seq], H))
			return 0;
	}
	return 1;
}

/* Heals everything and waits (in simulated time) for every node to be back,
 * one more entry acknowledged, every log equal. */
static void sim_settle(void)
{
	heals(1);
	for (unsigned i = 0; i < S->n; i++) {
		set_latency(i, 15);
		S->s[i].disk_faults = 0;
		S->s[i].send_fail_until = 0;
		if (S->s[i].in && !S->s[i].up)
			S->s[i].up_at = S->f.time;
	}
	trace("healed");
	uint64_t end = S->f.time + 120000, acks = S->acks;
	int proposed = 0;
	while (!S->failure[0] && S->f.time < end) {
		sim_step(0, 0);
		int all = 1;
		for (unsigned i = 0; i < S->n; i++)
			if (S->s[i].in && (!S->s[i].up || S->s[i].lg.fetching))
				all = 0;
		if (!all)
			continue;
		if (!proposed && S->inflight == 0) {
			int l = ready_leader();
			if (l >= 0 && propose((unsigned)l) == 0)
				proposed = 1;
			continue;
		}
		if (proposed && S->acks > acks && S->inflight == 0 && logs_equal())
			break;
	}
	if (S->failure[0])
		return;
	if (S->f.time >= end) {
		char st[300] = "";
		for (unsigned i = 0; i < S->n; i++) {
			replica_status s;
			replica_status_get(S->s[i].rep, &s);
			size_t k = strlen(st);
			snprintf(st + k, sizeof st - k, " [%u %s seq %llu%s]", i,
			         S->s[i].up ? replica_role_name(s.role) : "down",
			         (unsigned long long)S->s[i].lg.seq,
			         S->s[i].halted ? " halted" : "");
		}
		violation("no progress in 120 s after healing:%s", st);
		return;
	}
	/* every log the same, event for event */
	for (unsigned i = 0; i < S->n; i++)
		for (unsigned j = i + 1; j < S->n; j++)
			if (S->s[i].in && S->s[j].in) {
				ledger *a = &S->s[i].lg, *b = &S->s[j].lg;
				for (uint64_t s = 1; s <= a->seq; s++)
					if (memcmp(a->hash[s], b->hash[s], H)) {
						violation("after healing, nodes %u and %u differ "
						          "at seq %llu",
						          i, j, (unsigned long long)s);
						return;
					}
			}
	for (size_t k = 0; k < S->nacked; k++)
		check_acked(&S->acked[k]);
}

/* A digest of a run's outcome, to check that a seed replays exactly. */
static uint64_t sim_digest(void)
{
	uint64_t d = S->step * 1000003u ^ S->f.time;
	for (unsigned i = 0; i < S->n; i++) {
		d = d * 31 + S->s[i].lg.seq;
		for (int k = 0; k < 8; k++)
			d = d * 131 + S->s[i].lg.hash[S->s[i].lg.seq][k];
	}
	return d ^ (uint64_t)S->acks << 32 ^ S->crashes;
}

/* If the process dies in a seed (C-Raft's fixture aborts on two leaders in
 * one term; a sanitizer on a memory error), the seed is said first. */
static uint64_t running_seed;
static void died(void)
{
	char b[128];
	int k =
	    snprintf(b, sizeof b, "\nreplica sim: died in seed %llu (replay: REPLICA_SEED=%llu)\n",
	             (unsigned long long)running_seed, (unsigned long long)running_seed);
	if (running_seed && write(2, b, (size_t)k) < 0)
		return;
}
static void on_fatal(int sig)
{
	died();
	signal(sig, SIG_DFL);
	raise(sig);
}
void __asan_set_death_callback(void (*cb)(void)) __attribute__((weak));

/* Runs one seed; returns 0, or -1 after printing the seed, the violation
 * and the trace. *digest gets the run's digest, *stats what it measured
 * (either may be NULL). */
static int sim_run(uint64_t seed, unsigned steps, int verbose, uint64_t *digest,
                   struct sim_stats *stats)
{
	static sim one;
	S = &one;
	memset(S, 0, sizeof *S);
	S->seed = seed;
	S->verbose = verbose;
	running_seed = seed;
	if (__asan_set_death_callback)
		__asan_set_death_callback(died);
	signal(SIGSEGV, on_fatal);
	signal(SIGABRT, on_fatal);
	rng_state = seed * 0x2545f4914f6cdd1dull + 1;
	S->rng2 = seed ^ 0x5851f42d4c957f2dull;
	unsigned n = rnd(4) ? 3 : 5;
	sim_threshold = 8 + rnd(56);
	sim_trailing = 2 + rnd(14);
	sim_open(n);
	sim_start();
	trace("seed %llu: %u nodes, snapshot every %u entries (%u kept)", (unsigned long long)seed,
	      n, sim_threshold, sim_trailing);
	unsigned permille = 150 + rnd(350);
	int with_faults = (int)env_u("REPLICA_FAULTS", 1);
	while (S->step < steps && !S->failure[0])
		sim_step(with_faults, permille);
	if (!S->failure[0])
		sim_settle();
	int bad = S->failure[0] != 0;
	if (bad || verbose) {
		fprintf(
		    stderr,
		    "replica sim seed %llu: %s%s (step %llu, t=%llu ms; %u nodes; %u proposals, "
		    "%u acks, %u unknown; %u crashes (%u of the machine), %u restarts, %u "
		    "partitions, %u drops, %u slow, %u disk faults, %u failures, %u installs, "
		    "%u halts, %u re-seeds; raft over-committed %llu times, sends failed at once "
		    "%llu times)\n",
		    (unsigned long long)seed, bad ? "FAILED: " : "ok", S->failure,
		    (unsigned long long)S->step, (unsigned long long)S->f.time, n, S->proposals,
		    S->acks, S->unknowns, S->crashes, S->machine_crashes, S->restarts,
		    S->partitions, S->drops, S->slows, S->io_faults, S->failures, S->installs,
		    S->halts, S->reseeds, (unsigned long long)S->st.overcommits,
		    (unsigned long long)S->st.send_fails);
		if (bad || verbose > 1 || S->halts)
			print_trace();
		if (bad)
			fprintf(stderr,
			        "replay: REPLICA_SEED=%llu tests/run.sh build/asan test_replica\n",
			        (unsigned long long)seed);
	}
	if (digest)
		*digest = sim_digest();
	unsigned halts = S->halts;
	S->st.halts = halts;
	sim_close();
	if (stats)
		*stats = S->st;
	running_seed = 0;
	if (halts && !bad)
		fprintf(stderr,
		        "replica sim seed %llu: %u halt(s) on a fork, caught (trace above)\n",
		        (unsigned long long)seed, halts);
	return bad ? -1 : 0;
}

/* Seeds that failed before the confirmation (an entry acknowledged while on
 * one node of three or two of five; C-Raft crashing: 231, 4913), run in every
 * make test. The runs are not the same any more (the confirmation changes
 * when leaders become ready, and so what follows), but they stay good seeds. */
static const uint64_t former_failures[] = {43,   231,  253,  369,  548,  1431, 1591, 1661,
                                           1928, 1939, 1989, 2047, 2378, 2617, 2759, 4913};

/* Runs a seed in a child (C-Raft can crash outright, which must not end the
 * run); 0 passed, 1 failed, 2 died. Adds what it measured to *t. */
static int sim_child(uint64_t seed, unsigned steps, int verbose, struct sim_stats *t)
{
	int fd[2];
	struct sim_stats st = {0};
	fflush(NULL);
	assert_int_equal(pipe(fd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		int rc = sim_run(seed, steps, verbose, NULL, &st);
		if (write(fd[1], &st, sizeof st) != (ssize_t)sizeof st)
			rc = -1;
		_exit(rc ? 1 : 0);
	}
	close(fd[1]);
	if (read(fd[0], &st, sizeof st) == (ssize_t)sizeof st) {
		t->acks += st.acks;
		t->ack_ms += st.ack_ms;
		t->ack_wait_us += st.ack_wait_us;
		t->snapshots += st.snapshots;
		t->snapshots_refused += st.snapshots_refused;
		t->holdbacks += st.holdbacks;
		t->overcommits += st.overcommits;
		t->send_fails += st.send_fails;
		t->shutdowns += st.shutdowns;
		t->halts += st.halts;
	}
	close(fd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "replica sim seed %llu: FAILED: died of signal %d\n",
		        (unsigned long long)seed, WTERMSIG(status));
		return 2;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static void test_simulation(void **state)
{
	(void)state;
	unsigned steps = env_u("REPLICA_STEPS", 4000);
	int verbose = (int)env_u("REPLICA_TRACE", 0);
	const char *one = getenv("REPLICA_SEED");
	if (one && *one) {
		assert_int_equal(
		    sim_run(strtoull(one, NULL, 10), steps, verbose ? verbose : 2, NULL, NULL), 0);
		return;
	}
	unsigned seeds = env_u("REPLICA_SEEDS", 40), failed = 0, died_n = 0, runs = 0;
	uint64_t base = env_u("REPLICA_SEED_BASE", 1);
	struct sim_stats t = {0};
	for (uint64_t s = base; s < base + seeds; s++) {
		int rc = sim_child(s, steps, verbose, &t);
		failed += rc != 0;
		died_n += rc == 2;
		runs++;
	}
	for (size_t k = 0; k < sizeof former_failures / sizeof *former_failures; k++) {
		uint64_t s = former_failures[k];
		if (s >= base && s < base + seeds)
			continue;
		int rc = sim_child(s, steps, verbose, &t);
		failed += rc != 0;
		died_n += rc == 2;
		runs++;
	}
	fprintf(stderr,
	        "replica sim: %u seeds of %u steps (%llu.. and the former failures), %u failed "
	        "(%u died); %llu acknowledgements, %.1f ms simulated from proposal to "
	        "acknowledgement, of which %.2f ms waiting for the confirmation after raft "
	        "reported the commit; raft over-committed %llu times, none acknowledged; "
	        "%llu snapshots taken, %llu put off (%llu entries held back for one); %llu sends "
	        "failed at once; raft shut itself down on a conflict %llu times; %llu halts\n",
	        runs, steps, (unsigned long long)base, failed, died_n, (unsigned long long)t.acks,
	        t.acks ? (double)t.ack_ms / (double)t.acks : 0.0,
	        t.acks ? (double)t.ack_wait_us / 1000.0 / (double)t.acks : 0.0,
	        (unsigned long long)t.overcommits, (unsigned long long)t.snapshots,
	        (unsigned long long)t.snapshots_refused, (unsigned long long)t.holdbacks,
	        (unsigned long long)t.send_fails, (unsigned long long)t.shutdowns,
	        (unsigned long long)t.halts);
	assert_int_equal(failed, 0);
	/* The simulation still brings on what the confirmation is there for:
	 * C-Raft reporting committed an entry a minority holds (a few times in
	 * every forty seeds or so), and sends failing at once. */
	if (seeds >= 40 && env_u("REPLICA_FAULTS", 1)) {
		assert_true(t.overcommits > 0);
		assert_true(t.send_fails > 0);
	}
	/* the same seed, the same run */
	uint64_t d1, d2;
	assert_int_equal(sim_run(base, steps / 2, 0, &d1, NULL), 0);
	assert_int_equal(sim_run(base, steps / 2, 0, &d2, NULL), 0);
	assert_true(d1 == d2);
}

/* ---- a forced divergence ---- */

static void member_done(replica *r, int status, uint64_t index, void *arg)
{
	(void)r;
	(void)index;
	struct pending *p = arg;
	p->done = 1;
	p->status = status;
}

static int step_until(int (*cond)(void *), void *arg, unsigned ms)
{
	uint64_t end = S->f.time + ms;
	while (!cond(arg) && S->f.time < end && !S->failure[0])
		sim_step(0, 0);
	return cond(arg);
}

static int leader_is(void *arg)
{
	return ready_leader() == *(int *)arg;
}

static int halts_reach(void *arg)
{
	return S->halts >= *(unsigned *)arg;
}

static int none_inflight(void *arg)
{
	(void)arg;
	return S->inflight == 0;
}

static int change_done(void *arg)
{
	return ((struct pending *)arg)->done;
}

static int settled(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < S->n; i++)
		if (S->s[i].in && (!S->s[i].up || S->s[i].lg.fetching))
			return 0;
	return S->inflight == 0 && logs_equal();
}

/* A scripted run of three nodes, no faults: the seed of its random draws
 * and the snapshot spacing; sim_start and node0_first follow. */
static void sim_scripted(uint64_t seed, unsigned threshold, unsigned trailing)
{
	static sim one;
	S = &one;
	memset(S, 0, sizeof *S);
	S->fixed_timeouts = 1;
	S->verbose = (int)env_u("REPLICA_TRACE", 0) * 2;
	rng_state = seed;
	sim_threshold = threshold;
	sim_trailing = trailing;
	sim_open(3);
}

/* Node 0 calls the first election, the others much later. */
static void node0_first(void)
{
	raft_fixture_set_randomized_election_timeout(&S->f, 0, 1000);
	raft_fixture_set_randomized_election_timeout(&S->f, 1, 3000);
	raft_fixture_set_randomized_election_timeout(&S->f, 2, 3000);
}

/* Starts the scripted run and steps it until node 0 leads. */
static void node0_leads(void)
{
	sim_start();
	node0_first();
	int zero_i = 0;
	assert_true(step_until(leader_is, &zero_i, 10000));
}

/* Nodes 0 and 1 hold entry A at index 2, node 2 entry B, same term, same
 * seqs: a fork C-Raft cannot see (its log matching property assumes it away)
 * and 0.15's bugs can produce. Node 2 halts on the leader's confirmation
 * (its digest names A) before it applies B; re-seeded from a peer with its
 * raft log kept, the chain check halts it on B replayed; replaced by a new
 * member, the cluster goes on. */
static void test_forced_divergence(void **state)
{
	(void)state;
	sim_scripted(99, 1000, 100);
	S->expect_fork = 1;
	uint8_t zero[H] = {0};
	replica_entry ha, hb;
	size_t la, lb;
	uint8_t *ea = make_events(0, zero, 2, &ha, &la), *eb = make_events(0, zero, 2, &hb, &lb);
	assert_memory_not_equal(ha.last_hash, hb.last_hash, H);
	for (unsigned i = 0; i < 3; i++) {
		struct raft_entry e = {.term = 1, .type = RAFT_COMMAND};
		e.buf.len = replica_entry_size(i < 2 ? la : lb);
		e.buf.base = raft_malloc(e.buf.len);
		replica_entry_encode(i < 2 ? &ha : &hb, i < 2 ? ea : eb, i < 2 ? la : lb,
		                     e.buf.base);
		raft_fixture_add_entry(&S->f, i, &e);
	}
	free(ea);
	free(eb);
	node0_leads();
	unsigned want = 1;
	assert_true(step_until(halts_reach, &want, 10000));
	assert_true(S->s[2].halted);
	/* The leader's SAFE names its entry's digest: node 2 halts before it
	 * applies B, so no node's log ever held it. */
	assert_int_equal(S->forks_seen, 0);
	assert_int_equal(S->s[2].lg.seq, 0);
	assert_false(S->s[0].halted || S->s[1].halted);
	assert_non_null(strstr(S->last_halt, "another entry at index 2"));
	assert_int_equal(S->s[0].lg.seq, 2);
	assert_memory_equal(S->s[0].lg.hash[2], ha.last_hash, H);
	assert_memory_equal(S->s[1].lg.hash[2], ha.last_hash, H);
	for (int k = 0; k < 5; k++) {
		assert_int_equal(propose(0), 0);
		assert_true(step_until(none_inflight, NULL, 5000));
	}
	assert_int_equal(S->acks, 5);

	/* Re-seeded (its log replaced by a peer's), its raft log kept: B is
	 * replayed at index 2 and does not match the log. */
	want = 2;
	assert_true(step_until(halts_reach, &want, 20000));
	assert_true(S->reseeds >= 1);
	assert_non_null(strstr(S->last_halt, "entry 2 replayed"));

	/* Replaced: node 2 removed, a new node 3 (id 4) from a copy of node
	 * 1's log, added as a stand-by, made a voter. */
	S->s[2].in = 0;
	S->s[2].up_at = UINT64_MAX;
	struct pending p = {0};
	assert_int_equal(replica_remove(S->s[0].rep, 3, member_done, &p), 0);
	assert_true(step_until(change_done, &p, 10000));
	assert_int_equal(p.status, 0);
	snode *s3 = &S->s[3];
	lg_init(&s3->lg);
	lg_copy(&s3->lg, &S->s[1].lg);
	assert_int_equal(replica_new(&s3->rep, &sm_ops, &s3->lg), 0);
	s3->lg.rep = s3->rep;
	S->peers[3] = &s3->lg;
	assert_int_equal(raft_fixture_grow(&S->f, replica_fsm(s3->rep)), 0);
	S->n = 4;
	for (unsigned i = 0; i < SIM_MAX; i++) {
		S->s[i].lg.peers = S->peers;
		S->s[i].lg.npeers = 4;
		S->s[i].lg.usable = sim_usable;
	}
	disk_attach(3);
	raft_setup(3);
	s3->net_ms = 15;
	assert_int_equal(raft_start(&S->f.servers[3].raft), 0);
	s3->up = s3->in = 1;
	memset(&p, 0, sizeof p);
	assert_int_equal(replica_add(S->s[0].rep, 4, "4", "tcp://node4:7450", member_done, &p), 0);
	assert_true(step_until(change_done, &p, 10000));
	assert_int_equal(p.status, 0);
	memset(&p, 0, sizeof p);
	assert_int_equal(replica_assign(S->s[0].rep, 4, 1, member_done, &p), 0);
	assert_true(step_until(change_done, &p, 20000));
	assert_int_equal(p.status, 0);
	for (int k = 0; k < 5; k++) {
		assert_int_equal(propose(0), 0);
		assert_true(step_until(settled, NULL, 10000));
	}
	assert_int_equal(S->acks, 10);
	assert_int_equal(S->halts, 2);
	assert_false(S->s[0].halted || S->s[1].halted || S->s[3].halted);
	assert_string_equal(S->failure, "");
	replica_status st;
	replica_status_get(S->s[0].rep, &st);
	assert_int_equal(st.n_nodes, 3);
	for (unsigned i = 0; i < 4; i++)
		if (S->s[i].in)
			assert_same_logs(&S->s[i].lg, &S->s[0].lg);
	/* The added node's client URL, in every node's configuration (its
	 * own too); the raft address apart from it. */
	for (unsigned i = 0; i < 4; i++) {
		if (!S->s[i].in)
			continue;
		replica_status_get(S->s[i].rep, &st);
		unsigned k = 0;
		while (k < st.n_nodes && st.nodes[k].id != 4)
			k++;
		assert_true(k < st.n_nodes);
		assert_string_equal(st.nodes[k].address, "4");
		assert_string_equal(st.nodes[k].url, "tcp://node4:7450");
		for (unsigned j = 0; j < st.n_nodes; j++)
			if (st.nodes[j].id != 4)
				assert_string_equal(st.nodes[j].url, "");
	}
	sim_close();
}

/* ---- a person-hash key that is not the cluster's ---- */

#define KEY_RIGHT 0x1111111111111111ull
#define KEY_WRONG 0x2222222222222222ull
/* The cases' right keys: a person-hash key id, a cluster key. */
static const replica_keys keys_right = {{[REPLICA_KEY_HASH] = KEY_RIGHT,
                                         [REPLICA_KEY_CLUSTER] = 0x3333333333333333ull}};

struct key_watch {
	unsigned node;  /* the node with the wrong key */
	int ever_ready; /* it was ever a ready leader */
};

static int key_halted(void *arg)
{
	struct key_watch *w = arg;
	snode *n = &S->s[w->node];
	if (n->up && !n->halted) {
		replica_status st;
		replica_status_get(n->rep, &st);
		w->ever_ready |= st.ready;
	}
	return S->halts >= 1;
}

/* Node 2 hashes national IDs with another key than nodes 0 and 1. The
 * operator copies the right key and restarts it (no re-seed: it applied
 * nothing with its own). */
static void key_fixed(unsigned i)
{
	snode *n = &S->s[i];
	assert_true(n->halted);
	assert_int_equal(n->lg.seq, 0);
	n->keys = keys_right;
	n->halted = 0;
}

/* Three nodes, node `wrong`'s key `which` is `id` (the others' keys_right);
 * node 0 calls the first election. */
static void key_sim_open(unsigned wrong, int which, uint64_t id)
{
	sim_scripted(11, 1000, 100);
	for (unsigned i = 0; i < 3; i++) {
		S->s[i].keys = keys_right;
		if (i == wrong)
			S->s[i].keys.id[which] = id;
	}
	sim_start();
	node0_first();
}

/* After node `wrong` halted and its key was fixed: five entries through a
 * ready leader, node `wrong` back (a restart, no re-seed) and caught up, one
 * more entry; one halt, every log the same. */
static void key_goes_on(unsigned wrong)
{
	int l = -1;
	uint64_t end = S->f.time + 20000;
	while ((l = ready_leader()) < 0 && S->f.time < end)
		sim_step(0, 0);
	assert_true(l >= 0);
	for (int k = 0; k < 5; k++) {
		assert_int_equal(propose((unsigned)l), 0);
		assert_true(step_until(none_inflight, NULL, 5000));
	}
	assert_int_equal(S->acks, 5);
	assert_true(step_until(settled, NULL, 20000));
	l = ready_leader();
	assert_true(l >= 0);
	assert_int_equal(propose((unsigned)l), 0);
	assert_true(step_until(settled, NULL, 10000));
	assert_int_equal(S->acks, 6);
	assert_int_equal(S->halts, 1);
	assert_int_equal(S->reseeds, 0);
	assert_string_equal(S->failure, "");
	assert_false(S->s[wrong].halted);
	for (unsigned i = 0; i < 3; i++)
		assert_same_logs(&S->s[i].lg, &S->s[l].lg);
	sim_close();
}

/* Node `wrong`, a follower whose key `which` is `id`, halts at the leader's
 * (node 0's) first confirmation, saying `says`, before it applies anything;
 * the two others go on; with the right key it catches up. */
static void key_follower_halts(unsigned wrong, int which, uint64_t id, const char *says)
{
	key_sim_open(wrong, which, id);
	int zero_i = 0;
	assert_true(step_until(leader_is, &zero_i, 10000));
	struct key_watch w = {.node = wrong};
	assert_true(step_until(key_halted, &w, 10000));
	for (unsigned i = 0; i < 3; i++)
		assert_true(S->s[i].halted == (i == wrong));
	assert_non_null(strstr(S->last_halt, says));
	assert_non_null(strstr(S->last_halt, replica_key_table[which].fix));
	key_fixed(wrong);
	key_goes_on(wrong);
}

/* Node 0, whose key `which` is `id`, wins the first election: it is never
 * ready (the others' HOLDs name another key and do not count) and halts,
 * saying `says`, once a majority of voters said so; the others elect one of
 * them and go on. */
static void key_leader_halts(int which, uint64_t id, const char *says)
{
	key_sim_open(0, which, id);
	struct key_watch w = {.node = 0};
	assert_true(step_until(key_halted, &w, 20000));
	assert_false(w.ever_ready);
	assert_false(S->s[1].halted || S->s[2].halted);
	assert_non_null(strstr(S->last_halt, says));
	assert_non_null(strstr(S->last_halt, "2 of the 3 voters"));
	key_fixed(0);
	key_goes_on(0);
}

/* The person-hash key: the follower, then the leader (the fix named: copy
 * the first node's DATA/person-hash.key). */
static void test_key_follower(void **state)
{
	(void)state;
	key_follower_halts(2, REPLICA_KEY_HASH, KEY_WRONG,
	                   "person-hash key id 2222222222222222 here, 1111111111111111 on the "
	                   "leader, node 1");
}

static void test_key_leader(void **state)
{
	(void)state;
	key_leader_halts(REPLICA_KEY_HASH, KEY_WRONG,
	                 "person-hash key id 2222222222222222 here, 1111111111111111 on node");
}

/* The cluster key is checked as the person-hash key is (one table): a
 * follower with another cluster key halts before it applies anything (before
 * any entry could carry a key it cannot open). */
static void test_key_cluster_follower(void **state)
{
	(void)state;
	key_follower_halts(2, REPLICA_KEY_CLUSTER, 0x4444444444444444ull,
	                   "cluster key fingerprint 4444444444444444 here, 3333333333333333 on the "
	                   "leader, node 1");
}

/* No cluster key (0) is a value of its own: a follower without one, where
 * the others have one, halts the same way. */
static void test_key_cluster_none(void **state)
{
	(void)state;
	key_follower_halts(1, REPLICA_KEY_CLUSTER, 0,
	                   "cluster key fingerprint 0000000000000000 here, 3333333333333333 on the "
	                   "leader, node 1");
}

/* A leader whose cluster key differs (here: it has none, the others one) is
 * never ready and halts once a majority of voters said theirs. */
static void test_key_cluster_leader(void **state)
{
	(void)state;
	key_leader_halts(REPLICA_KEY_CLUSTER, 0,
	                 "cluster key fingerprint 0000000000000000 here, 3333333333333333 on node");
}

/* An AppendEntries from index 1 (the probe of a new leader that lost track
 * of a follower) reaching a follower whose log starts after a snapshot:
 * 0.15 appends the entries after its last one, finds none at index 1 and
 * dereferences NULL. The replica makes the message start at the follower's
 * snapshot; a leader whose log does not hold that snapshot's entry is a fork,
 * and the follower halts. The messages are the leader's own entries,
 * delivered where the fixture delivers. */
static struct raft_message probe_from_one(unsigned leader, uint64_t bad_upto)
{
	snode *l = &S->s[leader];
	struct raft *lr = &S->f.servers[leader].raft;
	assert_int_equal(l->base, 1);
	size_t total = 0;
	for (size_t k = 0; k < l->nd; k++)
		total += l->d[k].len;
	uint8_t *batch = raft_malloc(total ? total : 8), *cur = batch;
	struct raft_entry *es = raft_calloc(l->nd, sizeof *es);
	for (size_t k = 0; k < l->nd; k++) {
		es[k].term = l->d[k].term + (k + 1 <= bad_upto);
		es[k].type = l->d[k].type;
		es[k].buf.base = cur;
		es[k].buf.len = l->d[k].len;
		es[k].batch = batch;
		memcpy(cur, l->d[k].bytes, l->d[k].len);
		cur += l->d[k].len;
	}
	struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES,
	                         .server_id = S->f.servers[leader].id,
	                         .server_address = S->f.servers[leader].address};
	m.append_entries.term = lr->current_term;
	m.append_entries.leader_commit = lr->commit_index;
	m.append_entries.entries = es;
	m.append_entries.n_entries = (unsigned)l->nd;
	return m;
}

static void test_probe_below_snapshot(void **state)
{
	(void)state;
	sim_scripted(7, 8, 2);
	node0_leads();
	for (int k = 0; k < 30; k++) {
		assert_int_equal(propose(0), 0);
		assert_true(step_until(settled, NULL, 5000));
	}
	replica_status st;
	replica_status_get(S->s[1].rep, &st);
	assert_true(st.snapshot_index > 2); /* its raft log starts after index 1 */
	uint64_t snap = st.snapshot_index, acks = S->acks;

	/* The leader's log from index 1: taken from the follower's snapshot on,
	 * as if the leader had probed there. */
	struct raft_message m = probe_from_one(0, 0);
	S->s[1].recv(&S->f.servers[1].io, &m);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(propose(0), 0);
		assert_true(step_until(settled, NULL, 5000));
	}
	assert_int_equal(S->acks, acks + 3);
	assert_int_equal(S->halts, 0);
	replica_status_get(S->s[1].rep, &st);
	assert_int_equal(st.role, REPLICA_FOLLOWER);

	/* A leader whose entries up to there have another term does not hold
	 * what the follower took a snapshot of: it halts, and is re-seeded. */
	replica_status_get(S->s[1].rep, &st);
	snap = st.snapshot_index;
	m = probe_from_one(0, snap);
	S->s[1].recv(&S->f.servers[1].io, &m);
	unsigned want = 1;
	assert_true(step_until(halts_reach, &want, 1000));
	assert_non_null(strstr(S->last_halt, "does not hold this node's snapshot"));
	assert_true(step_until(settled, NULL, 20000));
	assert_int_equal(propose(0), 0);
	assert_true(step_until(settled, NULL, 5000));
	assert_string_equal(S->failure, "");
	sim_close();
}

/* C-Raft keeps the buffer of each entry proposed until a marker trims its
 * log: the buffer is the entry's size, not the room compressing it needed
 * (as big as the events uncompressed). A batch load kept about 4 times its
 * raft log in memory: 125 MiB at 1.5M events (heaptrack). */
static void test_entry_buffer_fits(void **state)
{
	(void)state;
	sim_scripted(11, 1000, 100);
	node0_leads();
	events_compress = 1;
	events_per_group = 60;
	for (int k = 0; k < 5; k++) {
		assert_int_equal(propose(0), 0);
		assert_true(step_until(settled, NULL, 5000));
	}
	const struct raft_log *log = &S->f.servers[0].raft.log;
	unsigned packed = 0;
	for (size_t i = log->front; i != log->back; i = (i + 1) % log->size) {
		const struct raft_entry *en = &log->entries[i];
		const uint8_t *b = en->buf.base;
		if (en->type != RAFT_COMMAND || en->buf.len < 8 || memcmp(b, "LDRE", 4) || b[5] != 2)
			continue;
		packed++;
		size_t usable = malloc_usable_size(en->buf.base);
		if (usable > en->buf.len + 64)
			fail_msg("an entry of %zu bytes is held in a buffer of %zu", en->buf.len,
				 usable);
	}
	assert_int_equal(packed, 5);
	assert_string_equal(S->failure, "");
	sim_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_entry_format),
	    cmocka_unit_test(test_entry_packed),   cmocka_unit_test(test_confirm_account),
	    cmocka_unit_test(test_confirm_bounds),
	    cmocka_unit_test(test_gone_skip),
	    cmocka_unit_test(test_uv_one_node),
	    cmocka_unit_test(test_uv_write_error), cmocka_unit_test(test_uv_upgrade),
	    cmocka_unit_test(test_uv_restored_cluster),
	    cmocka_unit_test(test_uv_three_nodes), cmocka_unit_test(test_uv_confirm_cost),
	    cmocka_unit_test(test_uv_settle_halts),
	    cmocka_unit_test(test_forced_divergence),
	    cmocka_unit_test(test_probe_below_snapshot),
	    cmocka_unit_test(test_entry_buffer_fits),
	    cmocka_unit_test(test_key_follower),   cmocka_unit_test(test_key_leader),
	    cmocka_unit_test(test_key_cluster_follower),
	    cmocka_unit_test(test_key_cluster_none),
	    cmocka_unit_test(test_key_cluster_leader),
	    cmocka_unit_test(test_simulation),
	};
	return tl_run_tests(tests, NULL, NULL);
}
