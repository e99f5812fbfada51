/* group.c — a group commit as one blob. See group.h. */
#include "group.h"

#include <stdlib.h>
#include <string.h>

#include "merkle.h"

#define RECORD_HEAD (4 + 1 + 3 + 8 + LINK_LEN + LD_HASH_LEN) /* 64 */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

void group_init(group *g)
{
	memset(g, 0, sizeof(*g));
}

void group_free(group *g)
{
	free(g->buf);
	free(g->off);
	memset(g, 0, sizeof(*g));
}

static int reserve(group *g, size_t more)
{
	if (g->len + more <= g->cap)
		return 0;
	size_t cap = g->cap ? g->cap : 1 << 16;
	while (cap < g->len + more)
		cap *= 2;
	uint8_t *b = realloc(g->buf, cap);
	if (!b) {
		g->failed = 1;
		return LD_E(INTERNAL);
	}
	g->buf = b;
	g->cap = cap;
	return 0;
}

int group_copy(group *dst, const group *src)
{
	group c = {0};
	c.buf = malloc(src->len ? src->len : 1);
	c.off = malloc((src->n ? src->n : 1) * sizeof(*c.off));
	if (!c.buf || !c.off) {
		group_free(&c);
		return LD_E(INTERNAL);
	}
	memcpy(c.buf, src->buf, src->len);
	memcpy(c.off, src->off, src->n * sizeof(*c.off));
	c.len = c.cap = src->len;
	c.n = c.ncap = src->n;
	c.first = src->first;
	group_free(dst);
	*dst = c;
	return 0;
}

void group_reset(group *g, uint64_t first, const uint8_t prev[LD_HASH_LEN], unsigned flags)
{
	g->len = g->n = 0;
	g->failed = 0;
	g->first = first;
	if (reserve(g, GROUP_HEADER))
		return;
	memcpy(g->buf, "LDGROUP1", 8);
	put64(g->buf + 8, first);
	put32(g->buf + 16, 0);
	put32(g->buf + 20, flags);
	memcpy(g->buf + 24, prev, LD_HASH_LEN);
	g->len = GROUP_HEADER;
}

int group_add(group *g, size_t len, const ld_link *l, int fix_kind, uint64_t fix_target,
	      uint8_t **bytes, uint8_t **hash)
{
	size_t rec = (RECORD_HEAD + len + 7) & ~(size_t)7;
	if (g->n == g->ncap) {
		size_t cap = g->ncap ? g->ncap * 2 : 1024;
		size_t *o = realloc(g->off, cap * sizeof(*o));
		if (!o) {
			g->failed = 1;
			return LD_E(INTERNAL);
		}
		g->off = o;
		g->ncap = cap;
	}
	if (reserve(g, rec))
		return LD_E(INTERNAL);
	uint8_t *p = g->buf + g->len;
	put32(p, (uint32_t)len);
	p[4] = (uint8_t)fix_kind;
	p[5] = p[6] = p[7] = 0;
	put64(p + 8, fix_target);
	link_encode(l, p + 16);
	*hash = p + 16 + LINK_LEN;
	*bytes = p + RECORD_HEAD;
	memset(p + RECORD_HEAD + len, 0, rec - RECORD_HEAD - len);
	g->off[g->n++] = g->len;
	g->len += rec;
	return 0;
}

void group_truncate(group *g, group_mark m)
{
	g->len = m.len;
	g->n = m.n;
}

static const uint8_t *record_of(const group *g, uint64_t seq)
{
	if (seq < g->first || seq - g->first >= g->n)
		return NULL;
	return g->buf + g->off[seq - g->first];
}

int group_event(const group *g, uint64_t seq, const uint8_t **bytes, size_t *len)
{
	const uint8_t *r = record_of(g, seq);
	if (!r)
		return LD_E(NOT_FOUND);
	*len = get32(r);
	*bytes = r + RECORD_HEAD;
	return 0;
}

int group_link(const group *g, uint64_t seq, ld_link *l)
{
	const uint8_t *r = record_of(g, seq);
	return r ? link_decode(r + 16, LINK_LEN, l) : LD_E(NOT_FOUND);
}

const uint8_t *group_hash(const group *g, size_t i)
{
	return g->buf + g->off[i] + 16 + LINK_LEN;
}

void group_seal(group *g)
{
	put32(g->buf + 16, (uint32_t)g->n);
}

int group_read_begin(group_reader *r, const uint8_t *blob, size_t len)
{
	if (len < GROUP_HEADER || memcmp(blob, "LDGROUP1", 8) != 0)
		return LD_E(INVALID_VALUE);
	r->p = blob + GROUP_HEADER;
	r->end = blob + len;
	r->first = get64(blob + 8);
	r->count = get32(blob + 16);
	r->flags = get32(blob + 20);
	r->prev = blob + 24;
	r->i = 0;
	return 0;
}

int group_read_next(group_reader *r, const uint8_t **bytes, size_t *len, const uint8_t **hash)
{
	if (r->i == r->count)
		return r->p == r->end ? 0 : LD_E(INVALID_VALUE);
	if (r->end - r->p < RECORD_HEAD)
		return LD_E(INVALID_VALUE);
	size_t n = get32(r->p), rec = (RECORD_HEAD + n + 7) & ~(size_t)7;
	if ((size_t)(r->end - r->p) < rec)
		return LD_E(INVALID_VALUE);
	*bytes = r->p + RECORD_HEAD;
	*len = n;
	*hash = r->p + 16 + LINK_LEN;
	r->p += rec;
	r->i++;
	return 1;
}

int group_load(group *dst, const uint8_t *blob, size_t len)
{
	group_reader rd;
	const uint8_t *b, *h;
	size_t n;
	int rc;
	if ((rc = group_read_begin(&rd, blob, len)))
		return rc;
	if (rd.count > (len - GROUP_HEADER) / RECORD_HEAD)
		return LD_E(INVALID_VALUE);
	group c = {0};
	c.buf = malloc(len ? len : 1);
	c.off = malloc((rd.count ? rd.count : 1) * sizeof(*c.off));
	if (!c.buf || !c.off) {
		group_free(&c);
		return LD_E(INTERNAL);
	}
	memcpy(c.buf, blob, len);
	c.len = c.cap = len;
	c.ncap = rd.count;
	c.first = rd.first;
	while ((rc = group_read_next(&rd, &b, &n, &h)) == 1)
		c.off[c.n++] = (size_t)(b - RECORD_HEAD - blob);
	if (rc < 0) {
		group_free(&c);
		return rc;
	}
	group_free(dst);
	*dst = c;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Applying a blob                                                     */
/* ------------------------------------------------------------------ */

/* The last key of db in t (0 if empty) and, for the log, its hash. */
static int head_of(store_txn *t, unsigned db, uint64_t *seq, uint8_t hash[LD_HASH_LEN])
{
	store_cursor *c;
	store_val k, v;
	*seq = 0;
	memset(hash, 0, LD_HASH_LEN);
	int rc = store_cursor_open(t, db, &c);
	if (rc)
		return rc;
	rc = store_cursor_last(c, &k, &v);
	store_cursor_close(c);
	if (rc == LD_E(NOT_FOUND))
		return 0;
	if (rc)
		return rc;
	if (k.len != 8)
		return LD_E(STORAGE);
	*seq = ld_get_be64(k.data);
	if (db == DB_LOG) {
		const uint8_t *h;
		if (codec_peek_hash(v.data, v.len, &h))
			return LD_E(STORAGE);
		memcpy(hash, h, LD_HASH_LEN);
	}
	return 0;
}

int group_apply(store_txn *t, const uint8_t *blob, size_t len, ld_merkle_frontier *tree)
{
	if (len < GROUP_HEADER || memcmp(blob, "LDGROUP1", 8) != 0)
		return LD_E(INVALID_VALUE);
	uint64_t first = get64(blob + 8);
	uint32_t count = get32(blob + 16), flags = get32(blob + 20);
	int derived = (flags & GROUP_DERIVED) != 0;
	uint64_t head;
	uint8_t hash[LD_HASH_LEN];
	int rc = head_of(t, derived ? DB_LINKS : DB_LOG, &head, hash);
	if (rc)
		return rc;
	if (first != head + 1 || (!derived && memcmp(hash, blob + 24, LD_HASH_LEN) != 0))
		return LD_E(INVALID_VALUE); /* not the next group of this log */
	if (tree && tree->size != first - 1)
		return LD_E(INVALID_VALUE);
	const uint8_t *p = blob + GROUP_HEADER, *end = blob + len;
	for (uint32_t i = 0; i < count; i++) {
		if (end - p < RECORD_HEAD)
			return LD_E(INVALID_VALUE);
		size_t n = get32(p), rec = (RECORD_HEAD + n + 7) & ~(size_t)7;
		if ((size_t)(end - p) < rec || (derived && n))
			return LD_E(INVALID_VALUE);
		uint64_t seq = first + i;
		uint8_t key[8], val[9];
		void *dst;
		ld_put_be64(key, seq);
		if (!derived) {
			if ((rc = store_append_reserve(t, DB_LOG, key, 8, n, &dst)))
				return rc;
			memcpy(dst, p + RECORD_HEAD, n);
		}
		if ((rc = store_append_reserve(t, DB_LINKS, key, 8, LINK_LEN, &dst)))
			return rc;
		memcpy(dst, p + 16, LINK_LEN);
		if (p[4]) {
			uint8_t tkey[8];
			ld_put_be64(tkey, get64(p + 8));
			val[0] = p[4];
			ld_put_be64(val + 1, seq);
			if ((rc = store_put(t, DB_FIXES, tkey, 8, val, 9)))
				return rc;
		}
		if (tree && (rc = merkle_append(t, tree, p + 16 + LINK_LEN)))
			return rc;
		p += rec;
	}
	return p == end ? 0 : LD_E(INVALID_VALUE);
}
