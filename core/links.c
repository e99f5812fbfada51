/* links.c — the streams of the log as links between events. See links.h. */
#include "links.h"

#include <stdlib.h>

static void put48(uint8_t *p, uint64_t v)
{
	for (int i = 5; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get48(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 6; i++)
		v = v << 8 | p[i];
	return v;
}

void link_encode(const ld_link *l, uint8_t out[LINK_LEN])
{
	put48(out, l->prev);
	put48(out + 6, l->skip);
	ld_put_be32(out + 12, l->version);
}

int link_decode(const void *p, size_t n, ld_link *l)
{
	if (n != LINK_LEN)
		return LD_E(STORAGE);
	l->prev = get48(p);
	l->skip = get48((const uint8_t *)p + 6);
	l->version = ld_get_be32((const uint8_t *)p + 12);
	return l->version ? 0 : LD_E(STORAGE);
}

int link_get_stored(void *arg, uint64_t seq, ld_link *l)
{
	uint8_t key[8];
	store_val v;
	ld_put_be64(key, seq);
	int rc = store_get(arg, DB_LINKS, key, 8, &v);
	return rc ? rc : link_decode(v.data, v.len, l);
}

int link_skip_for(link_get_fn get, void *arg, uint64_t head, uint32_t version, uint64_t head_skip,
		  uint64_t *skip)
{
	uint32_t v = version + 1, target = v & (v - 1);
	*skip = 0;
	if (target == 0)
		return 0;
	/* The skip links from the head visit the versions that are prefixes
	 * of its version (one low bit cleared at a time); target is one. */
	uint64_t seq = head, next = head_skip;
	uint32_t at = version;
	while (at != target) {
		if (at < target || !next)
			return LD_E(STORAGE); /* the links disagree with the versions */
		seq = next;
		at &= at - 1;
		if (at == target)
			break;
		ld_link l;
		int rc = get(arg, seq, &l);
		if (rc)
			return rc == LD_E(NOT_FOUND) ? LD_E(STORAGE) : rc;
		if (l.version != at)
			return LD_E(STORAGE);
		next = l.skip;
	}
	*skip = seq;
	return 0;
}

int link_walk(link_get_fn get, void *arg, uint64_t head, uint64_t upto, uint32_t from, size_t max,
	      uint64_t *seqs, uint32_t *versions, size_t *n)
{
	ld_link l;
	int rc;
	*n = 0;
	if (!head || !max)
		return 0;
	if (from == 0)
		from = 1;
	uint64_t seq = head;
	if ((rc = get(arg, seq, &l)))
		return rc;
	/* 1. Back to the newest event at or below upto: seqs grow with
	 * versions, so a skip whose seq is still above upto passes only
	 * events above it. */
	while (seq > upto) {
		uint64_t to = l.prev;
		ld_link sl;
		if (l.skip && l.skip > upto && (rc = get(arg, l.skip, &sl)) == 0) {
			seq = l.skip;
			l = sl;
			continue;
		}
		if (rc)
			return rc;
		if (!to)
			return 0; /* nothing at or below upto */
		seq = to;
		if ((rc = get(arg, seq, &l)))
			return rc;
	}
	if (l.version < from)
		return 0;
	/* 2. Down to the last version wanted: from + max - 1. */
	uint64_t last = (uint64_t)from + max - 1;
	while (l.version > last) {
		uint32_t sv = l.version & (l.version - 1);
		uint64_t to = sv >= last && l.skip ? l.skip : l.prev;
		if (!to)
			return LD_E(STORAGE);
		seq = to;
		if ((rc = get(arg, seq, &l)))
			return rc;
	}
	/* 3. Back along prev to from, filling from the end. */
	size_t count = l.version - from + 1, i = count;
	for (;;) {
		i--;
		seqs[i] = seq;
		if (versions)
			versions[i] = l.version;
		if (i == 0)
			break;
		if (!l.prev || l.version <= from)
			return LD_E(STORAGE);
		uint32_t want = l.version - 1;
		seq = l.prev;
		if ((rc = get(arg, seq, &l)))
			return rc;
		if (l.version != want)
			return LD_E(STORAGE);
	}
	*n = count;
	return 0;
}
