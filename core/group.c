/* group.c — a group commit as one blob. See group.h. */
#include "group.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merkle.h"

#define RECORD_HEAD (4 + 1 + 3 + 8 + LINK_LEN + LD_HASH_LEN) /* 64 */
#define KEY_HEAD (4 + GROUP_WRAPPED_LEN)                      /* 64 */
#define KEYS_HEAD 8
#define KEYS_RECENT (sizeof(((group *)0)->krecent) / sizeof(size_t))

/* An event record's bytes, padded to 8: its head and len bytes of event. */
static size_t record_len(size_t len)
{
	return (RECORD_HEAD + len + 7) & ~(size_t)7;
}

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
	if (g->kbuf)
		ld_wipe(g->kbuf, g->kcap);
	free(g->kbuf);
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
	g->klen = g->nkeys = 0;
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
	size_t rec = record_len(len);
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
	g->klen = m.klen;
	g->nkeys = m.nkeys;
	for (size_t i = 0; i < KEYS_RECENT; i++) /* records gone: forgotten here too */
		if (g->krecent[i] >= m.klen)
			g->krecent[i] = SIZE_MAX;
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

int group_fix(const group *g, uint64_t seq, int *kind, uint64_t *target)
{
	const uint8_t *r = record_of(g, seq);
	if (!r)
		return LD_E(NOT_FOUND);
	*kind = r[4];
	*target = get64(r + 8);
	return 0;
}

const uint8_t *group_hash(const group *g, size_t i)
{
	return g->buf + g->off[i] + 16 + LINK_LEN;
}

void group_seal(group *g)
{
	put32(g->buf + 16, (uint32_t)g->n);
	if (!g->nkeys || (get32(g->buf + 20) & GROUP_KEYS))
		return;
	if (reserve(g, KEYS_HEAD + g->klen))
		return; /* g->failed */
	uint8_t *p = g->buf + g->len;
	put32(p, (uint32_t)g->nkeys);
	put32(p + 4, 0);
	memcpy(p + KEYS_HEAD, g->kbuf, g->klen);
	g->len += KEYS_HEAD + g->klen;
	put32(g->buf + 20, get32(g->buf + 20) | GROUP_KEYS);
}

static size_t key_rec(size_t idlen)
{
	return (KEY_HEAD + idlen + 1 + 7) & ~(size_t)7;
}

int group_add_key(group *g, const char *member_id, const uint8_t wrapped[GROUP_WRAPPED_LEN])
{
	size_t n = strlen(member_id), rec = key_rec(n);
	if (n == 0 || n > LD_ID_MAX)
		return LD_E(INVALID_VALUE);
	if (g->klen + rec > g->kcap) {
		size_t cap = g->kcap ? g->kcap * 2 : 4096;
		uint8_t *b = malloc(cap);
		if (!b) {
			g->failed = 1;
			return LD_E(INTERNAL);
		}
		if (g->kbuf) { /* not realloc: the old bytes are wiped */
			memcpy(b, g->kbuf, g->klen);
			ld_wipe(g->kbuf, g->kcap);
			free(g->kbuf);
		}
		g->kbuf = b;
		g->kcap = cap;
	}
	uint8_t *p = g->kbuf + g->klen;
	memset(p, 0, rec);
	put32(p, (uint32_t)n);
	memcpy(p + 4, wrapped, GROUP_WRAPPED_LEN);
	memcpy(p + KEY_HEAD, member_id, n);
	g->krecent[g->nkeys % KEYS_RECENT] = g->klen;
	g->klen += rec;
	g->nkeys++;
	return 0;
}

int group_has_key(const group *g, const char *member_id)
{
	size_t n = strlen(member_id);
	for (size_t i = 0; i < KEYS_RECENT && i < g->nkeys; i++) {
		size_t off = g->krecent[(g->nkeys - 1 - i) % KEYS_RECENT];
		if (off != SIZE_MAX && get32(g->kbuf + off) == n &&
		    memcmp(g->kbuf + off + KEY_HEAD, member_id, n) == 0)
			return 1;
	}
	return 0;
}

/* The key section at p..end (after the last record) of a blob with flags:
 * 0 and its count if well formed (0: none), else LD_E(INVALID_VALUE). */
static int keys_check(unsigned flags, const uint8_t *p, const uint8_t *end, uint32_t *count)
{
	*count = 0;
	if (!(flags & GROUP_KEYS))
		return p == end ? 0 : LD_E(INVALID_VALUE);
	if (end - p < KEYS_HEAD || get32(p) == 0 || get32(p + 4) != 0)
		return LD_E(INVALID_VALUE);
	uint32_t n = get32(p);
	p += KEYS_HEAD;
	for (uint32_t i = 0; i < n; i++) {
		if (end - p < KEY_HEAD)
			return LD_E(INVALID_VALUE);
		size_t len = get32(p);
		if (len == 0 || len > LD_ID_MAX || (size_t)(end - p) < key_rec(len) ||
		    p[KEY_HEAD + len] != 0 || memchr(p + KEY_HEAD, 0, len))
			return LD_E(INVALID_VALUE);
		p += key_rec(len);
	}
	if (p != end)
		return LD_E(INVALID_VALUE);
	*count = n;
	return 0;
}

/* 1 if g (sealed or loaded) has a key section, which starts where its
 * records end (*end). */
static int keys_at(const group *g, size_t *end)
{
	if (g->len < GROUP_HEADER || !(get32(g->buf + 20) & GROUP_KEYS))
		return 0;
	*end = g->n ? g->off[g->n - 1] + record_len(get32(g->buf + g->off[g->n - 1]))
		    : GROUP_HEADER;
	return 1;
}

void group_drop_keys(group *g)
{
	size_t end;
	if (!keys_at(g, &end))
		return;
	ld_wipe(g->buf + end, g->len - end);
	g->len = end;
	put32(g->buf + 20, get32(g->buf + 20) & ~GROUP_KEYS);
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
	if (r->i == r->count) {
		uint32_t keys;
		return keys_check(r->flags, r->p, r->end, &keys);
	}
	if (r->end - r->p < RECORD_HEAD)
		return LD_E(INVALID_VALUE);
	size_t n = get32(r->p), rec = record_len(n);
	if ((size_t)(r->end - r->p) < rec)
		return LD_E(INVALID_VALUE);
	*bytes = r->p + RECORD_HEAD;
	*len = n;
	*hash = r->p + 16 + LINK_LEN;
	r->p += rec;
	r->i++;
	return 1;
}

/* Each record of a blob (flags: none but GROUP_KEYS): fn on its record
 * head and its stored bytes' layout (codec_stored_layout). 0, or -1 if one
 * is malformed or not laid out as a writer packs, and why (unless NULL:
 * why_n bytes, NUL-terminated) says which. */
static int each_laid_out(uint8_t *blob, size_t len,
			 void (*fn)(uint8_t *rec, uint8_t *bytes, size_t prev_at, void *arg),
			 void *arg, char *why, size_t why_n)
{
	group_reader rd;
	const uint8_t *b, *h;
	size_t n, at;
	int rc;
	char ignored[8];
	if (!why) {
		why = ignored;
		why_n = sizeof(ignored);
	}
	if (group_read_begin(&rd, blob, len)) {
		snprintf(why, why_n, "its %zu bytes do not begin with a group's header", len);
		return -1;
	}
	if (rd.flags & ~(GROUP_KEYS | GROUP_BARE)) {
		snprintf(why, why_n, "its flags (%#x) say more than member keys", rd.flags);
		return -1;
	}
	while ((rc = group_read_next(&rd, &b, &n, &h)) == 1) {
		if (codec_stored_layout(b, n, &at)) {
			snprintf(why, why_n, "its event of seq %llu is not laid out as a writer packs one",
				 (unsigned long long)(rd.first + rd.i - 1));
			return -1;
		}
		fn((uint8_t *)(b - RECORD_HEAD), (uint8_t *)b, at, arg);
	}
	if (rc == 0)
		return 0;
	if (rd.i < rd.count)
		snprintf(why, why_n, "its record of seq %llu (%u of %u) runs past its end",
			 (unsigned long long)(rd.first + rd.i), rd.i + 1, rd.count);
	else if (rd.flags & GROUP_KEYS)
		snprintf(why, why_n, "its key section, after its %u events, is malformed", rd.count);
	else
		snprintf(why, why_n, "bytes follow its %u events, and its flags say no key section",
			 rd.count);
	return -1;
}

static void strip_one(uint8_t *rec, uint8_t *bytes, size_t at, void *arg)
{
	(void)arg;
	memset(rec + 16 + LINK_LEN, 0, LD_HASH_LEN);
	memset(bytes + at, 0, LD_HASH_LEN);
	memset(bytes + at + LD_HASH_LEN + 2, 0, LD_HASH_LEN);
}

int group_strip_hashes(const uint8_t *blob, size_t len, uint8_t *out)
{
	if (len < GROUP_HEADER || (get32(blob + 20) & ~GROUP_KEYS))
		return -1;
	memcpy(out, blob, len);
	if (each_laid_out(out, len, strip_one, NULL, NULL, 0))
		return -1;
	put32(out + 20, get32(out + 20) | GROUP_BARE);
	return 0;
}

int group_is_bare(const uint8_t *blob, size_t len)
{
	return len >= GROUP_HEADER && memcmp(blob, "LDGROUP1", 8) == 0 &&
	       (get32(blob + 20) & GROUP_BARE);
}

typedef struct filling {
	uint8_t prev[LD_HASH_LEN];
	uint64_t seq;   /* of the next record */
	uint64_t failed; /* the seq of the first event that could not be hashed (0: none) */
} filling;

static void fill_one(uint8_t *rec, uint8_t *bytes, size_t at, void *arg)
{
	filling *f = arg;
	size_t n = get32(rec);
	uint8_t *hash = bytes + at + LD_HASH_LEN + 2;
	memcpy(bytes + at, f->prev, LD_HASH_LEN);
	uint64_t seq = f->seq++;
	if (f->failed || codec_stored_hash_at(bytes, n, at, hash)) {
		f->failed = f->failed ? f->failed : seq;
		return;
	}
	memcpy(rec + 16 + LINK_LEN, hash, LD_HASH_LEN);
	memcpy(f->prev, hash, LD_HASH_LEN);
}

int group_fill_hashes(uint8_t *blob, size_t len, char *why, size_t why_n)
{
	filling f = {{0}, 0, 0};
	if (!group_is_bare(blob, len)) {
		if (why)
			snprintf(why, why_n, "its flags do not say its hashes are left out");
		return LD_E(INVALID_VALUE);
	}
	memcpy(f.prev, blob + 24, LD_HASH_LEN);
	f.seq = get64(blob + 8);
	if (each_laid_out(blob, len, fill_one, &f, why, why_n))
		return LD_E(INVALID_VALUE);
	if (f.failed) {
		if (why)
			snprintf(why, why_n, "its event of seq %llu cannot be hashed as it is laid out",
				 (unsigned long long)f.failed);
		return LD_E(INVALID_VALUE);
	}
	put32(blob + 20, get32(blob + 20) & ~GROUP_BARE);
	return 0;
}

int group_load(group *dst, const uint8_t *blob, size_t len)
{
	group_reader rd;
	const uint8_t *b, *h;
	size_t n;
	int rc;
	if ((rc = group_read_begin(&rd, blob, len)))
		return rc;
	if (rd.count > (len - GROUP_HEADER) / RECORD_HEAD || (rd.flags & GROUP_BARE))
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

void group_keys_begin(group_key_reader *r, const group *g)
{
	size_t end;
	memset(r, 0, sizeof(*r));
	r->first = g->first;
	if (!keys_at(g, &end))
		return;
	/* Well formed: group_seal wrote it, or group_load checked it. */
	r->count = get32(g->buf + end);
	r->p = g->buf + end + KEYS_HEAD;
	r->end = g->buf + g->len;
}

int group_key_next(group_key_reader *r, const char **member_id, const uint8_t **wrapped)
{
	if (r->i == r->count)
		return 0;
	if (r->end - r->p < KEY_HEAD)
		return LD_E(INVALID_VALUE);
	size_t len = get32(r->p);
	if ((size_t)(r->end - r->p) < key_rec(len))
		return LD_E(INVALID_VALUE);
	*wrapped = r->p + 4;
	*member_id = (const char *)r->p + KEY_HEAD;
	r->p += key_rec(len);
	r->i++;
	return 1;
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
	if (flags & GROUP_BARE)
		return LD_E(INVALID_VALUE); /* its hashes not filled in */
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
	/* The log's and the links' records are appended through a cursor
	 * each: a put of its own searched the tree from its root for every
	 * record (LMDB's dirty page list at each level). */
	store_cursor *lc = NULL, *kc = NULL;
	if ((!derived && (rc = store_cursor_open(t, DB_LOG, &lc))) ||
	    (rc = store_cursor_open(t, DB_LINKS, &kc)))
		goto out;
	for (uint32_t i = 0; i < count; i++) {
		rc = LD_E(INVALID_VALUE);
		if (end - p < RECORD_HEAD)
			goto out;
		size_t n = get32(p), rec = record_len(n);
		if ((size_t)(end - p) < rec || (derived && n))
			goto out;
		uint64_t seq = first + i;
		uint8_t key[8], val[9];
		void *dst;
		ld_put_be64(key, seq);
		if (!derived) {
			if ((rc = store_cursor_append_reserve(t, DB_LOG, lc, key, 8, n, &dst)))
				goto out;
			memcpy(dst, p + RECORD_HEAD, n);
		}
		if ((rc = store_cursor_append_reserve(t, DB_LINKS, kc, key, 8, LINK_LEN, &dst)))
			goto out;
		memcpy(dst, p + 16, LINK_LEN);
		if (p[4]) {
			uint8_t tkey[8];
			ld_put_be64(tkey, get64(p + 8));
			val[0] = p[4];
			ld_put_be64(val + 1, seq);
			if ((rc = store_put(t, DB_FIXES, tkey, 8, val, 9)))
				goto out;
		}
		if (tree && (rc = merkle_append(t, tree, p + 16 + LINK_LEN)))
			goto out;
		p += rec;
	}
	uint32_t keys; /* the key section, if any, is not written */
	rc = keys_check(flags, p, end, &keys);
out:
	/* Closed before the transaction ends (an aborted write transaction
	 * frees the cursors still open in it). */
	store_cursor_close(kc);
	store_cursor_close(lc);
	return rc;
}
