/*
 * replica_confirm.c — the replica's own account of what is on disk where,
 * and what is therefore committed (see replica_confirm.h).
 */
#include "replica_confirm.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

/* ------------------------------------------------------------------ */
/* This node's raft log on disk                                        */
/* ------------------------------------------------------------------ */

void rc_log_init(rc_log *l)
{
	memset(l, 0, sizeof *l);
	l->base = 1;
}

void rc_log_free(rc_log *l)
{
	free(l->e);
	free(l->w);
	rc_log_init(l);
}

static void cut_writes(rc_log *l, uint64_t index)
{
	for (size_t k = l->wh; k < l->wn; k++) {
		struct rc_write *w = &l->w[k];
		if (w->first + w->n > index)
			w->n = index > w->first ? index - w->first : 0;
	}
}

void rc_log_load(rc_log *l, uint64_t snap_index, uint64_t snap_term, uint64_t start)
{
	l->n = 0;
	l->base = start ? start : 1;
	l->end0 = 0;
	l->snap_index = snap_index;
	l->snap_term = snap_term;
	l->durable = 0;
	l->installing = 0;
	l->wh = l->wn = 0;
}

void rc_log_loaded(rc_log *l)
{
	l->durable = rc_log_last(l);
}

uint64_t rc_log_last(const rc_log *l)
{
	return l->base + l->n - 1;
}

uint64_t rc_log_first(const rc_log *l)
{
	return l->base;
}

int rc_log_push(rc_log *l, uint64_t term, uint64_t digest, uint64_t bytes)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct rc_entry *e = realloc(l->e, cap * sizeof *e);
		if (!e)
			return LD_E(INTERNAL);
		l->e = e;
		l->cap = cap;
	}
	l->e[l->n].term = term;
	l->e[l->n].digest = digest;
	l->e[l->n].end = (l->n ? l->e[l->n - 1].end : l->end0) + bytes;
	l->n++;
	return 0;
}

int rc_log_submit(rc_log *l, uint64_t n)
{
	if (l->wn == l->wcap) {
		if (l->wh) {
			memmove(l->w, l->w + l->wh, (l->wn - l->wh) * sizeof *l->w);
			l->wn -= l->wh;
			l->wh = 0;
		}
		if (l->wn == l->wcap) {
			size_t cap = l->wcap ? 2 * l->wcap : 16;
			struct rc_write *w = realloc(l->w, cap * sizeof *w);
			if (!w)
				return LD_E(INTERNAL);
			l->w = w;
			l->wcap = cap;
		}
	}
	l->w[l->wn].first = rc_log_last(l) - n + 1;
	l->w[l->wn].n = n;
	l->wn++;
	return 0;
}

void rc_log_cancel(rc_log *l)
{
	if (l->wn > l->wh)
		l->wn--;
}

void rc_log_written(rc_log *l)
{
	if (l->wh == l->wn)
		return;
	struct rc_write w = l->w[l->wh++];
	if (l->wh == l->wn)
		l->wh = l->wn = 0;
	/* Writes land in order; what a truncation cut does not count. */
	if (l->installing || !w.n || w.first > l->durable + 1)
		return;
	if (w.first + w.n - 1 > l->durable)
		l->durable = w.first + w.n - 1;
}

void rc_log_truncate(rc_log *l, uint64_t index)
{
	if (index <= l->snap_index)
		return;
	if (index < l->base)
		index = l->base;
	if (index - l->base < l->n)
		l->n = index - l->base;
	if (l->durable >= index)
		l->durable = index - 1;
	cut_writes(l, index);
}

void rc_log_install(rc_log *l, uint64_t index, uint64_t term)
{
	l->n = 0;
	l->base = index + 1;
	l->end0 = 0;
	l->snap_index = index;
	l->snap_term = term;
	l->durable = 0;
	l->installing = 1;
	cut_writes(l, 0);
}

void rc_log_installed(rc_log *l)
{
	l->installing = 0;
	l->durable = l->snap_index;
}

void rc_log_compact(rc_log *l, uint64_t index, uint64_t term, unsigned trailing)
{
	if (index <= l->snap_index)
		return;
	l->snap_index = index;
	l->snap_term = term;
	/* C-Raft keeps the entries after index - trailing. */
	if (index <= trailing)
		return;
	uint64_t keep = index - trailing + 1;
	if (keep <= l->base)
		return;
	uint64_t drop = keep - l->base;
	if (drop > l->n)
		drop = l->n;
	l->end0 = l->e[drop - 1].end;
	memmove(l->e, l->e + drop, (l->n - drop) * sizeof *l->e);
	l->n -= drop;
	l->base += drop;
}

/* rc_entry.end of the entry before index (base <= index <= last + 1). */
static uint64_t end_before(const rc_log *l, uint64_t index)
{
	return index == l->base ? l->end0 : l->e[index - l->base - 1].end;
}

/* The position in e of the first entry from position pos on whose end
 * reaches target (l->n: none does). */
static size_t first_reaching(const rc_log *l, size_t pos, uint64_t target)
{
	size_t lo = pos, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->e[mid].end >= target)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

unsigned rc_log_threshold(const rc_log *l, uint64_t bytes, unsigned most)
{
	uint64_t from = l->snap_index + 1 > l->base ? l->snap_index + 1 : l->base;
	if (from > rc_log_last(l))
		return most;
	/* The first entry at which those from `from` on hold `bytes`. */
	size_t at = first_reaching(l, from - l->base, end_before(l, from) + bytes);
	if (at == l->n)
		return most;
	uint64_t count = l->base + at - l->snap_index;
	return count < most ? (unsigned)count : most;
}

unsigned rc_log_trailing(const rc_log *l, uint64_t bytes, unsigned most)
{
	if (!l->n)
		return most;
	/* The newest entries that fit in `bytes`: all of them, or those after
	 * the first whose end reaches the last one's less `bytes`. */
	uint64_t last = l->e[l->n - 1].end;
	size_t at = last - l->end0 <= bytes ? 0 : first_reaching(l, 0, last - bytes) + 1;
	uint64_t count = l->n - at;
	if (!count)
		count = 1; /* the newest alone is more than `bytes` */
	return count < most ? (unsigned)count : most;
}

uint64_t rc_log_bytes(const rc_log *l)
{
	return l->n ? l->e[l->n - 1].end - l->end0 : 0;
}

uint64_t rc_log_bytes_after_snapshot(const rc_log *l)
{
	uint64_t from = l->snap_index + 1 > l->base ? l->snap_index + 1 : l->base;
	if (!l->n || from > rc_log_last(l))
		return 0;
	return l->e[l->n - 1].end - end_before(l, from);
}

uint64_t rc_log_term(const rc_log *l, uint64_t index)
{
	if (index >= l->base && index - l->base < l->n)
		return l->e[index - l->base].term;
	if (index && index == l->snap_index)
		return l->snap_term;
	return 0;
}

int rc_log_digest(const rc_log *l, uint64_t index, uint64_t *d)
{
	if (index >= l->base && index - l->base < l->n) {
		*d = l->e[index - l->base].digest;
		return 0;
	}
	return -1;
}

uint64_t rc_log_held(const rc_log *l, uint64_t term)
{
	if (l->installing || !l->durable || !term)
		return 0;
	return rc_log_term(l, l->durable) == term ? l->durable : 0;
}

uint64_t rc_digest(unsigned type, const void *buf, size_t len)
{
	/* FNV-1a: a check that two nodes hold the same entry, not a defence
	 * against forgery; ledgerd's entries carry SHA-256 hashes of their
	 * events in their first 88 bytes, which this covers. */
	uint64_t h = 0xcbf29ce484222325ull;
	const uint8_t *p = buf;
	uint8_t pre[9] = {(uint8_t)type};
	for (int i = 0; i < 8; i++)
		pre[1 + i] = (uint8_t)((uint64_t)len >> (8 * i));
	for (int i = 0; i < 9; i++)
		h = (h ^ pre[i]) * 0x100000001b3ull;
	for (size_t i = 0; i < len && i < 96; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* ------------------------------------------------------------------ */
/* What the others hold                                                */
/* ------------------------------------------------------------------ */

void rc_peers_note(rc_peers *q, uint64_t id, uint64_t term, uint64_t index)
{
	for (unsigned i = 0; i < q->n; i++)
		if (q->p[i].id == id) {
			if (term > q->p[i].term ||
			    (term == q->p[i].term && index > q->p[i].index)) {
				q->p[i].term = term;
				q->p[i].index = index;
			}
			return;
		}
	if (q->n == RC_MAX_PEERS)
		return;
	q->p[q->n].id = id;
	q->p[q->n].term = term;
	q->p[q->n].index = index;
	q->n++;
}

uint64_t rc_quorum(const rc_peers *q, const uint64_t *voters, unsigned nv, uint64_t self,
                   uint64_t self_index, uint64_t term)
{
	uint64_t v[RC_MAX_PEERS];
	if (!nv || nv > RC_MAX_PEERS)
		return 0;
	for (unsigned i = 0; i < nv; i++) {
		v[i] = 0;
		if (voters[i] == self) {
			v[i] = self_index;
			continue;
		}
		for (unsigned k = 0; k < q->n; k++)
			if (q->p[k].id == voters[i] && q->p[k].term == term)
				v[i] = q->p[k].index;
	}
	/* The (nv/2 + 1)-th largest: a majority holds at least that much. */
	for (unsigned i = 1; i < nv; i++)
		for (unsigned k = i; k > 0 && v[k] > v[k - 1]; k--) {
			uint64_t t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
	return v[nv / 2];
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void rc_msg_encode(const rc_msg *m, uint8_t out[RC_MSG_LEN])
{
	memcpy(out, "LDRC", 4);
	out[4] = RC_FORMAT;
	out[5] = (uint8_t)m->type;
	out[6] = out[7] = 0;
	put64(out + 8, m->from);
	put64(out + 16, m->term);
	put64(out + 24, m->index);
	put64(out + 32, m->digest);
	for (int k = 0; k < REPLICA_KEYS; k++)
		put64(out + 40 + 8 * k, m->keys.id[k]);
}

int rc_msg_decode(const void *buf, size_t len, rc_msg *m)
{
	const uint8_t *p = buf;
	if (len != RC_MSG_LEN || memcmp(p, "LDRC", 4) || p[4] != RC_FORMAT ||
	    p[5] < RC_HOLD || p[5] > RC_APPLIED || p[6] || p[7])
		return -1;
	m->type = p[5];
	m->from = get64(p + 8);
	m->term = get64(p + 16);
	m->index = get64(p + 24);
	m->digest = get64(p + 32);
	for (int k = 0; k < REPLICA_KEYS; k++)
		m->keys.id[k] = get64(p + 40 + 8 * k);
	return m->from && m->term ? 0 : -1;
}
