/* codec.c — protobuf-c behind one file. See codec.h for the contract. */
#include "codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "kinds.h"
#include "wire.h"

int ld_errinfo_set(ld_errinfo *e, int code, const char *field, const char *fmt, ...)
{
	if (!e)
		return code;
	e->code = code;
	e->seq = 0;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	ld_utf8_clean(e->message);
	ld_utf8_clean(e->field);
	return code;
}

void ld_errinfo_append(ld_errinfo *e, const char *fmt, ...)
{
	if (!e)
		return;
	size_t n = strlen(e->message);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message + n, sizeof(e->message) - n, fmt, ap);
	va_end(ap);
	ld_utf8_clean(e->message);
}

size_t ld_utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = n ? p[0] : 0;
	unsigned lo = 0x80, hi = 0xbf; /* the range of the first continuation */
	size_t k;
	if (!n)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		k = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		k = 2;
		lo = c == 0xe0 ? 0xa0 : lo; /* overlong below U+0800 */
		hi = c == 0xed ? 0x9f : hi; /* surrogates U+D800..U+DFFF */
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 3;
		lo = c == 0xf0 ? 0x90 : lo; /* overlong below U+10000 */
		hi = c == 0xf4 ? 0x8f : hi; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (k >= n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t j = 2; j <= k; j++)
		if ((p[j] & 0xc0) != 0x80)
			return 0;
	return k + 1;
}

void ld_utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0;
	while (i < n) {
		size_t k = ld_utf8_len(p + i, n - i);
		if (k) {
			memmove(p + o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		/* A lead byte whose continuations all are there but run out at
		 * the end: a character cut short, dropped. */
		size_t j = i + 1;
		while (j < n && (p[j] & 0xc0) == 0x80 && j - i < 4)
			j++;
		if (j == n && p[i] >= 0xc2 && p[i] <= 0xf4 && j - i < 4) {
			i = n;
			break;
		}
		p[o++] = '?';
		i++;
	}
	p[o] = 0;
}

/* ------------------------------------------------------------------ */
/* Unknown-field check                                                 */
/* ------------------------------------------------------------------ */

/* Whether m or any message in it kept an unknown field. The common answer
 * is no, found without formatting a single path; check_unknown walks again
 * to name where. */
static int has_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (m->n_unknown_fields > 0)
		return 1;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *base = (const char *)m;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t count = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t k = 0; k < count; k++)
				if (has_unknown(arr[k]))
					return 1;
		} else {
			const ProtobufCMessage *child = *(ProtobufCMessage *const *)(base + f->offset);
			if (child && has_unknown(child))
				return 1;
		}
	}
	return 0;
}

/* The schema has no recursive types, so the walk is bounded by its depth. */
static int check_unknown(const ProtobufCMessage *m, char *path, size_t pathlen, size_t used,
			 ld_errinfo *e)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (m->n_unknown_fields > 0)
		return ld_errinfo_set(e, LD_E(UNKNOWN_FIELD), path,
				      "unknown field number %u in %s%s%s",
				      m->unknown_fields[0].tag, d->name, used ? " at " : "",
				      used ? path : "");
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *base = (const char *)m;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
			if (which != f->id)
				continue;
		}
		int n = snprintf(path + used, pathlen - used, "%s%s", used ? "." : "", f->name);
		size_t sub = used + (n > 0 ? (size_t)n : 0);
		if (sub >= pathlen)
			sub = pathlen - 1;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t count = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t k = 0; k < count; k++) {
				int n2 = snprintf(path + sub, pathlen - sub, "[%zu]", k);
				size_t sub2 = sub + (n2 > 0 ? (size_t)n2 : 0);
				if (sub2 >= pathlen)
					sub2 = pathlen - 1;
				int rc = check_unknown(arr[k], path, pathlen, sub2, e);
				if (rc)
					return rc;
			}
		} else {
			const ProtobufCMessage *child = *(ProtobufCMessage *const *)(base + f->offset);
			if (child) {
				int rc = check_unknown(child, path, pathlen, sub, e);
				if (rc)
					return rc;
			}
		}
		path[used] = '\0';
	}
	return 0;
}

/* protobuf-c's allocator for a request: plain malloc (so that what it
 * allocates is freed like anything else, with or without an allocator), or
 * the call's pool, but refusing to go beyond the request's budget in
 * total. */
typedef struct budget {
	size_t used, max;
	int refused;
	codec_pool *pool; /* NULL: malloc */
} budget;

#define POOL_ALIGN(n) (((n) + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1))

static void *budget_alloc(void *data, size_t size)
{
	budget *b = data;
	size_t cost = b->pool ? POOL_ALIGN(size) : size;
	if (cost > b->max - b->used) {
		b->refused = 1;
		return NULL;
	}
	void *p = codec_alloc(b->pool, size);
	if (p)
		b->used += cost;
	return p;
}

static void budget_free(void *data, void *p)
{
	codec_free(((budget *)data)->pool, p);
}

void *codec_alloc(codec_pool *p, size_t n)
{
	return p ? codec_pool_alloc(p, n) : malloc(n);
}

void codec_free(codec_pool *p, void *ptr)
{
	if (!p)
		free(ptr); /* a pool's memory goes back with the pool */
}

static int malformed(size_t len, ld_errinfo *e)
{
	return ld_errinfo_set(e, LD_E(MALFORMED), NULL,
			      "request of %zu bytes is not a valid ledger.Request", len);
}

int codec_request_unpack_in(const uint8_t *buf, size_t len, codec_pool *p, Ledger__Request **out,
			    ld_errinfo *e)
{
	size_t cost;
	*out = NULL;
	int rc = codec_request_measure(buf, len, &cost, e);
	return rc ? rc : codec_request_unpack_measured(buf, len, p, out, e);
}

int codec_request_unpack_measured(const uint8_t *buf, size_t len, codec_pool *p,
				  Ledger__Request **out, ld_errinfo *e)
{
	int rc;
	*out = NULL;
	budget b = {.max = codec_request_budget(len), .pool = p};
	if (p && !p->blocks) {
		/* Into a pool still empty: in one pass (wire.h), within the
		 * same budget; what it declines (an unknown field, the budget
		 * passed, anything else) protobuf-c decides below, into the
		 * pool emptied again. Its memory is the pool's, never freed
		 * field by field. */
		Ledger__Request *req = (Ledger__Request *)wire_decode(&ledger__request__descriptor,
								      buf, len, budget_alloc, &b);
		if (req) {
			*out = req;
			return 0;
		}
		codec_pool_reset(p);
		b.used = 0;
		b.refused = 0;
	}
	ProtobufCAllocator alloc = {.alloc = budget_alloc, .free = budget_free, .allocator_data = &b};
	Ledger__Request *req = ledger__request__unpack(&alloc, len, buf);
	if (!req && b.refused)
		return ld_errinfo_set(e, LD_E(TOO_LARGE), NULL,
				      "the request of %zu bytes takes more than %zu bytes to decode",
				      len, b.max);
	if (!req)
		return malformed(len, e);
	char path[96] = "";
	if (req->base.n_unknown_fields > 0)
		/* A top-level field this schema lacks is a command of a newer
		 * protocol. */
		rc = ld_errinfo_set(e, LD_E(UNKNOWN_COMMAND), NULL,
				    "command field %u is not one this server knows",
				    req->base.unknown_fields[0].tag);
	else
		rc = has_unknown(&req->base) ? check_unknown(&req->base, path, sizeof(path), 0, e) : 0;
	if (rc) {
		if (!p)
			ledger__request__free_unpacked(req, NULL);
		return rc;
	}
	*out = req;
	return 0;
}

int codec_request_unpack(const uint8_t *buf, size_t len, Ledger__Request **out, ld_errinfo *e)
{
	return codec_request_unpack_in(buf, len, NULL, out, e);
}

void codec_request_free(Ledger__Request *req)
{
	if (req)
		ledger__request__free_unpacked(req, NULL);
}

Ledger__Event *codec_event_unpack(const uint8_t *buf, size_t len)
{
	return ledger__event__unpack(NULL, len, buf);
}

void codec_event_free(Ledger__Event *ev)
{
	if (ev)
		ledger__event__free_unpacked(ev, NULL);
}

/* ------------------------------------------------------------------ */
/* Pools                                                               */
/* ------------------------------------------------------------------ */

#define POOL_BLOCK ((size_t)1 << 20)

struct codec_block {
	struct codec_block *next;
	size_t size;
	max_align_t data[];
};

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POOL_POISON(p, n) ((void)0)
#define POOL_UNPOISON(p, n) ((void)0)
#endif

void *codec_pool_alloc(void *arg, size_t n)
{
	codec_pool *p = arg;
	n = POOL_ALIGN(n);
	if (!n)
		n = sizeof(max_align_t);
	if ((size_t)(p->end - p->at) < n) {
		struct codec_block *b = p->spare;
		size_t block = p->block ? p->block : POOL_BLOCK;
		if (b && b->size >= n) {
			p->spare = b->next;
		} else {
			size_t size = n > block ? n : block;
			if (!(b = malloc(sizeof(*b) + size)))
				return NULL;
			b->size = size;
		}
		b->next = p->blocks;
		p->blocks = b;
		POOL_POISON(b->data, b->size);
		p->at = (uint8_t *)b->data;
		p->end = p->at + b->size;
	}
	void *r = p->at;
	p->at += n;
	POOL_UNPOISON(r, n);
	return r;
}

static void pool_free(void *arg, void *ptr)
{
	(void)arg;
	(void)ptr; /* given back with the whole pool */
}

Ledger__Event *codec_event_unpack_strict(const uint8_t *buf, size_t len, codec_pool *p,
					 int *canonical)
{
	const ProtobufCMessageDescriptor *d = &ledger__event__descriptor;
	return (Ledger__Event *)(canonical ? wire_decode_canonical(d, buf, len, codec_pool_alloc, p,
								   canonical)
					   : wire_decode(d, buf, len, codec_pool_alloc, p));
}

Ledger__Event *codec_event_unpack_pool(const uint8_t *buf, size_t len, codec_pool *p)
{
	/* Our own records, in one pass (wire.h); what it declines, protobuf-c
	 * decides. */
	Ledger__Event *ev = codec_event_unpack_strict(buf, len, p, NULL);
	if (ev)
		return ev;
	ProtobufCAllocator a = {.alloc = codec_pool_alloc, .free = pool_free, .allocator_data = p};
	return ledger__event__unpack(&a, len, buf);
}

void codec_pool_reset(codec_pool *p)
{
	while (p->blocks) {
		struct codec_block *b = p->blocks;
		p->blocks = b->next;
		b->next = p->spare;
		p->spare = b;
		POOL_POISON(b->data, b->size);
	}
	p->at = p->end = NULL;
}

void codec_pool_trim(codec_pool *p, size_t keep)
{
	codec_pool_reset(p);
	size_t kept = 0;
	for (struct codec_block **b = &p->spare; *b;) {
		if (kept + (*b)->size <= keep) {
			kept += (*b)->size;
			b = &(*b)->next;
			continue;
		}
		struct codec_block *gone = *b;
		*b = gone->next;
		POOL_UNPOISON(gone->data, gone->size);
		free(gone);
	}
}

void codec_pool_free(codec_pool *p)
{
	codec_pool_reset(p);
	while (p->spare) {
		struct codec_block *b = p->spare;
		p->spare = b->next;
		POOL_UNPOISON(b->data, b->size);
		free(b);
	}
}

Ledger__Response *codec_response_unpack(const uint8_t *buf, size_t len)
{
	return ledger__response__unpack(NULL, len, buf);
}

Ledger__Response *codec_response_unpack_within(const uint8_t *buf, size_t len, size_t max,
					       int *too_large)
{
	/* malloc within the budget: codec_response_free frees it. */
	budget b = {.max = max};
	ProtobufCAllocator alloc = {.alloc = budget_alloc, .free = budget_free, .allocator_data = &b};
	Ledger__Response *resp = ledger__response__unpack(&alloc, len, buf);
	*too_large = !resp && b.refused;
	return resp;
}

void codec_response_free(Ledger__Response *resp)
{
	if (resp)
		ledger__response__free_unpacked(resp, NULL);
}

size_t codec_size(const void *msg)
{
	return protobuf_c_message_get_packed_size((const ProtobufCMessage *)msg);
}

size_t codec_pack(const void *msg, uint8_t *out)
{
	return protobuf_c_message_pack((const ProtobufCMessage *)msg, out);
}

/* ------------------------------------------------------------------ */
/* Canonical bytes and hash                                            */
/* ------------------------------------------------------------------ */

/* The body that may carry personal data in clear: the event's own, or the
 * corrected body of an amendment. */
static const ld_kind *personal_body(const Ledger__Event *ev, const ProtobufCMessage **body)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	*body = ld_kind_body(k, ev);
	if ((k->flags & LD_KIND_AMENDMENT) && *body) {
		Ledger__Event corrected;
		codec_amended_body((const Ledger__EventAmended *)*body, &corrected);
		k = ld_kind_of(corrected.body_case);
		*body = ld_kind_body(k, &corrected);
	}
	return k;
}

int codec_has_clear_personal(const Ledger__Event *ev)
{
	const ProtobufCMessage *body;
	const ld_kind *k = personal_body(ev, &body);
	for (size_t i = 0; i < LD_KIND_MAX_CLEAR; i++)
		if (ld_field_raw(&k->clear[i], body))
			return 1;
	return 0;
}

void codec_strip_personal(const Ledger__Event *ev, Ledger__Event *out, codec_personal_buf *b)
{
	*out = *ev;
	if (!codec_has_clear_personal(ev))
		return;
	const ld_kind *outer = ld_kind_of(ev->body_case);
	const ProtobufCMessage *body;
	const ld_kind *k = personal_body(ev, &body);
	memcpy(&b->body, body, k->desc->sizeof_message); /* fits: proto/kinds.c checks */
	for (size_t i = 0; i < LD_KIND_MAX_CLEAR; i++)
		if (k->clear[i].fd)
			*(char **)((char *)&b->body + k->clear[i].fd->offset) = NULL;
	void *copy = &b->body;
	if (outer != k) { /* an amendment: a copy of it pointing at the copy */
		b->amended = *ev->event_amended;
		*(void **)((char *)&b->amended + k->amend->offset) = copy;
		copy = &b->amended;
	}
	*(void **)((char *)out + outer->offset) = copy;
}

/* The chain's hash: SHA-256(prev_hash || seq BE || canonical), the
 * canonical bytes given in two pieces (the second may be empty): for stored
 * bytes, those before prev_hash's field and the body after hash's
 * (PROTOCOL.md, "The hash chain"). */
static void chain_hash(const uint8_t prev[LD_HASH_LEN], uint64_t seq, const uint8_t *canon,
		       size_t canon_len, const uint8_t *body, size_t body_len,
		       uint8_t out[LD_HASH_LEN])
{
	uint8_t prefix[LD_HASH_LEN + 8];
	memcpy(prefix, prev, LD_HASH_LEN);
	ld_put_be64(prefix + LD_HASH_LEN, seq);
	ld_sha256_3(prefix, sizeof(prefix), canon, canon_len, body, body_len, out);
}

int codec_event_hash(const Ledger__Event *ev, uint8_t out[LD_HASH_LEN])
{
	/* A shallow copy with the excluded fields cleared packs to the
	 * canonical bytes; the body pointers are shared, not copied. Personal
	 * data in clear (a read's decryption) is never part of the hash. */
	Ledger__Event c;
	codec_personal_buf pb;
	codec_strip_personal(ev, &c, &pb);
	c.has_hash = 0;
	c.hash.len = 0;
	c.hash.data = NULL;
	c.has_prev_hash = 0;
	c.prev_hash.len = 0;
	c.prev_hash.data = NULL;
	c.has_expected_version = 0;

	uint8_t stackbuf[1024];
	size_t n = codec_size(&c);
	uint8_t *buf = n <= sizeof(stackbuf) ? stackbuf : malloc(n);
	if (!buf)
		return LD_E(INTERNAL);
	codec_pack(&c, buf);

	uint8_t prev[LD_HASH_LEN] = {0};
	if (ev->has_prev_hash && ev->prev_hash.len == LD_HASH_LEN)
		memcpy(prev, ev->prev_hash.data, LD_HASH_LEN);
	chain_hash(prev, ev->seq, buf, n, NULL, 0, out);
	if (buf != stackbuf)
		free(buf);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Stored bytes from parts                                             */
/* ------------------------------------------------------------------ */

enum {
	F_SEQ = 1, F_EVENT_ID = 2, F_OCCURRED_AT = 3, F_RECORDED_AT = 4, F_ACTOR = 5,
	F_STREAM = 6, F_VERSION = 7, F_PREV_HASH = 8, F_HASH = 9, F_EXPECTED_VERSION = 10,
};

static size_t key_len(unsigned field, unsigned type)
{
	return codec_varint_len((uint64_t)field << 3 | type);
}

static uint8_t *put_key(uint8_t *p, unsigned field, unsigned type)
{
	return codec_put_varint(p, (uint64_t)field << 3 | type);
}

static const ProtobufCMessage *stored_body(const Ledger__Event *ev, Ledger__Event *c,
					   codec_personal_buf *pb)
{
	codec_strip_personal(ev, c, pb);
	return codec_event_body(c);
}

codec_parts codec_event_parts_size(const Ledger__Event *ev)
{
	codec_parts p = {0, 0};
	Ledger__Event c;
	codec_personal_buf pb;
	if (ev->has_event_id)
		p.head += codec_ld_len(F_EVENT_ID, ev->event_id.len);
	if (ev->has_occurred_at)
		p.head += key_len(F_OCCURRED_AT, 0) + codec_varint_len((uint64_t)ev->occurred_at);
	const ProtobufCMessage *body = stored_body(ev, &c, &pb);
	if (body)
		p.body = codec_ld_len((unsigned)ev->body_case, codec_size(body));
	return p;
}

void codec_event_parts_pack(const Ledger__Event *ev, codec_parts p, uint8_t *head, uint8_t *body)
{
	Ledger__Event c;
	codec_personal_buf pb;
	if (ev->has_event_id) {
		head = codec_put_ld(head, F_EVENT_ID, ev->event_id.len);
		memcpy(head, ev->event_id.data, ev->event_id.len);
		head += ev->event_id.len;
	}
	if (ev->has_occurred_at) {
		head = put_key(head, F_OCCURRED_AT, 0);
		codec_put_varint(head, (uint64_t)ev->occurred_at);
	}
	const ProtobufCMessage *b = stored_body(ev, &c, &pb);
	if (b) {
		/* The body's own size from p.body (its key, its length's
		 * varint, then it), not measured again: the one n whose
		 * varint's bytes and n make up what follows the key. */
		size_t rest = p.body - key_len((unsigned)ev->body_case, 2), n = 0;
		for (size_t vl = 1; vl <= 10 && vl <= rest; vl++)
			if (codec_varint_len(rest - vl) == vl) {
				n = rest - vl;
				break;
			}
		codec_pack(b, codec_put_ld(body, (unsigned)ev->body_case, n));
	}
}

/* The fields between the client's head and the prev_hash. */
static size_t middle_len(const codec_stored *s, size_t actor, size_t stream)
{
	return key_len(F_RECORDED_AT, 0) + codec_varint_len((uint64_t)s->recorded_at) +
	       codec_ld_len(F_ACTOR, actor) + codec_ld_len(F_STREAM, stream) +
	       key_len(F_VERSION, 0) + codec_varint_len(s->version);
}

size_t codec_stored_size(const codec_stored *s, codec_parts p)
{
	return key_len(F_SEQ, 0) + codec_varint_len(s->seq) + p.head +
	       middle_len(s, strlen(s->actor), strlen(s->stream)) +
	       codec_ld_len(F_PREV_HASH, LD_HASH_LEN) + codec_ld_len(F_HASH, LD_HASH_LEN) + p.body;
}

void codec_stored_pack(const codec_stored *s, const uint8_t *head, const uint8_t *body,
		       codec_parts p, uint8_t *out, uint8_t hash[LD_HASH_LEN])
{
	size_t actor = strlen(s->actor), stream = strlen(s->stream);
	uint8_t *o = codec_put_varint(put_key(out, F_SEQ, 0), s->seq);
	memcpy(o, head, p.head);
	o += p.head;
	o = codec_put_varint(put_key(o, F_RECORDED_AT, 0), (uint64_t)s->recorded_at);
	o = codec_put_ld(o, F_ACTOR, actor);
	memcpy(o, s->actor, actor);
	o += actor;
	o = codec_put_ld(o, F_STREAM, stream);
	memcpy(o, s->stream, stream);
	o += stream;
	o = codec_put_varint(put_key(o, F_VERSION, 0), s->version);
	size_t canon = (size_t)(o - out); /* the canonical bytes: this, then the body */
	o = codec_put_ld(o, F_PREV_HASH, LD_HASH_LEN);
	memcpy(o, s->prev_hash, LD_HASH_LEN);
	o = codec_put_ld(o + LD_HASH_LEN, F_HASH, LD_HASH_LEN);
	uint8_t *h = o;
	memcpy(o + LD_HASH_LEN, body, p.body);
	chain_hash(s->prev_hash, s->seq, out, canon, body, p.body, hash);
	memcpy(h, hash, LD_HASH_LEN);
}

int codec_stored_layout(const uint8_t *b, size_t len, size_t *prev_at)
{
	const uint8_t *p = b, *end = b + len, *prev = NULL, *body = NULL;
	uint64_t last = 0, key, v;
	while (p < end && !body) {
		const uint8_t *f0 = p;
		if (!(p = wire_varint(p, end, &key)))
			return -1;
		uint64_t field = key >> 3, type = key & 7;
		if (field <= last || field > F_HASH || (type != 0 && type != 2) ||
		    (field == F_SEQ && type != 0))
			return -1;
		last = field;
		if (!(p = wire_varint(p, end, &v)) || (type == 2 && v > (uint64_t)(end - p)))
			return -1;
		if (field == F_PREV_HASH || field == F_HASH) {
			/* Key and length a byte each, as packed (the hash
			 * leaves out exactly those two bytes of each). */
			if (type != 2 || v != LD_HASH_LEN || p != f0 + 2)
				return -1;
			if (field == F_PREV_HASH)
				prev = p;
			else if (prev && p == prev + LD_HASH_LEN + 2)
				body = p + LD_HASH_LEN;
		}
		if (type == 2)
			p += v;
	}
	/* Seq first; what follows the hash is the body, never a field the
	 * hash leaves out (expected_version, 10). */
	if (len < 2 || b[0] != (F_SEQ << 3) || !body ||
	    (body < end && (!wire_varint(body, end, &key) || (key >> 3) <= F_EXPECTED_VERSION)))
		return -1;
	*prev_at = (size_t)(prev - b);
	return 0;
}

int codec_stored_hash(const uint8_t *b, size_t len, uint8_t out[LD_HASH_LEN])
{
	size_t at;
	return codec_stored_layout(b, len, &at) ? -1 : codec_stored_hash_at(b, len, at, out);
}

int codec_stored_hash_at(const uint8_t *b, size_t len, size_t at, uint8_t out[LD_HASH_LEN])
{
	uint64_t seq;
	if (!wire_varint(b + 1, b + len, &seq) || !seq)
		return -1;
	size_t canon = at - 2;                            /* prev_hash's key and length */
	size_t body = at + LD_HASH_LEN + 2 + LD_HASH_LEN; /* past the hash's */
	chain_hash(b + at, seq, b, canon, b + body, len - body, out);
	return 0;
}

int codec_event_chain(const Ledger__Event *ev, uint64_t seq, const uint8_t *prev, char *why,
		      size_t n)
{
	if (!ev->has_seq || ev->seq != seq) {
		snprintf(why, n, "the event stored as seq %llu says it is seq %llu",
			 (unsigned long long)seq, (unsigned long long)ev->seq);
		return LD_E(CHAIN_BROKEN);
	}
	if (!ev->has_hash || ev->hash.len != LD_HASH_LEN || !ev->has_prev_hash ||
	    ev->prev_hash.len != LD_HASH_LEN) {
		snprintf(why, n, "seq %llu has no hash or prev_hash of 32 bytes",
			 (unsigned long long)seq);
		return LD_E(CHAIN_BROKEN);
	}
	if (prev && memcmp(prev, ev->prev_hash.data, LD_HASH_LEN) != 0) {
		snprintf(why, n, "the prev_hash of seq %llu is not the hash of seq %llu",
			 (unsigned long long)seq, (unsigned long long)(seq - 1));
		return LD_E(CHAIN_BROKEN);
	}
	return 0;
}

int codec_event_check(const Ledger__Event *ev, uint64_t seq, const uint8_t *prev, char *why,
		      size_t n)
{
	uint8_t h[LD_HASH_LEN];
	int rc = codec_event_chain(ev, seq, prev, why, n);
	if (rc == 0)
		rc = codec_event_hash(ev, h);
	if (rc)
		return rc;
	if (memcmp(h, ev->hash.data, LD_HASH_LEN) != 0) {
		snprintf(why, n, "the content of seq %llu does not give its stored hash",
			 (unsigned long long)seq);
		return LD_E(CHAIN_BROKEN);
	}
	return 0;
}

int codec_stored_check(const uint8_t *b, size_t len, const Ledger__Event *ev, uint64_t seq,
		       const uint8_t *prev, char *why, size_t n)
{
	uint8_t h[LD_HASH_LEN];
	int rc = codec_event_chain(ev, seq, prev, why, n);
	if (rc)
		return rc;
	if (codec_stored_hash(b, len, h) == 0 && memcmp(h, ev->hash.data, LD_HASH_LEN) == 0)
		return 0;
	return codec_event_check(ev, seq, prev, why, n);
}

/* codec_stored_canonical, ev packed again only when the decoder did not
 * prove b its packing already (`proved`: wire_decode_canonical's word). */
static int stored_canonical(const uint8_t *b, size_t len, const Ledger__Event *ev, int proved,
			    char *why, size_t n)
{
	if (ev->event_id.len != LD_EVENT_ID_LEN) {
		snprintf(why, n, "seq %llu has no event_id of %d bytes", (unsigned long long)ev->seq,
			 LD_EVENT_ID_LEN);
		return LD_E(CHAIN_BROKEN);
	}
	int same = !ev->has_expected_version && !codec_has_clear_personal(ev);
	if (same && !proved && (same = codec_size(ev) == len)) {
		uint8_t stackbuf[1024];
		uint8_t *buf = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
		if (!buf)
			return LD_E(INTERNAL);
		same = codec_pack(ev, buf) == len && memcmp(buf, b, len) == 0;
		if (buf != stackbuf)
			free(buf);
	}
	if (same)
		return 0;
	snprintf(why, n, "the stored bytes of seq %llu are not its canonical packing",
		 (unsigned long long)ev->seq);
	return LD_E(CHAIN_BROKEN);
}

int codec_stored_canonical(const uint8_t *b, size_t len, const Ledger__Event *ev, char *why,
			   size_t n)
{
	return stored_canonical(b, len, ev, 0, why, n);
}

int codec_follow_event(const uint8_t *b, size_t len, const uint8_t record_hash[LD_HASH_LEN],
		       uint64_t seq, const uint8_t prev[LD_HASH_LEN], int hashed, codec_pool *p,
		       Ledger__Event **out, char *why, size_t n)
{
	int canonical, rc;
	Ledger__Event *ev = codec_event_unpack_strict(b, len, p, &canonical);
	*out = NULL;
	if (!ev) {
		snprintf(why, n, "seq %llu does not decode as a writer packs an event",
			 (unsigned long long)seq);
		return LD_E(CHAIN_BROKEN);
	}
	rc = hashed ? codec_event_chain(ev, seq, prev, why, n)
		    : codec_stored_check(b, len, ev, seq, prev, why, n);
	/* Hashed as its bytes are: those must be its canonical packing, as
	 * verify and an auditor hash it. */
	if (rc == 0)
		rc = stored_canonical(b, len, ev, canonical, why, n);
	if (rc == 0 && memcmp(record_hash, ev->hash.data, LD_HASH_LEN) != 0) {
		snprintf(why, n, "seq %llu's record names another hash", (unsigned long long)seq);
		rc = LD_E(CHAIN_BROKEN);
	}
	if (rc == 0)
		*out = ev;
	return rc;
}

const char *codec_event_type_name(int body_case)
{
	return ld_kind_of(body_case)->name;
}

void codec_amended_body(const Ledger__EventAmended *a, Ledger__Event *out)
{
	ledger__event__init(out);
	const ld_kind *k = ld_kind_amended(a->corrected_case);
	if (!k->body_case)
		return;
	out->body_case = (Ledger__Event__BodyCase)k->body_case;
	*(void **)((char *)out + k->offset) = *(void *const *)((const char *)a + k->amend->offset);
}

const ProtobufCMessage *codec_event_body(const Ledger__Event *ev)
{
	return ld_kind_body(ld_kind_of(ev->body_case), ev);
}

/* ------------------------------------------------------------------ */
/* Streams                                                             */
/* ------------------------------------------------------------------ */

static int stream_of(char out[LD_STREAM_MAX], const char *kind, const char *id)
{
	if (!id || !*id)
		return LD_E(MISSING_FIELD);
	/* By hand, as snprintf(out, LD_STREAM_MAX, "%s/%s", kind, id) would cut
	 * it: the writer names every event's stream, and the format parsing was
	 * a tenth of its time. */
	size_t k = strlen(kind), n = strlen(id);
	if (k > LD_STREAM_MAX - 1)
		k = LD_STREAM_MAX - 1;
	memcpy(out, kind, k);
	if (k < LD_STREAM_MAX - 1)
		out[k++] = '/';
	if (n > LD_STREAM_MAX - 1 - k)
		n = LD_STREAM_MAX - 1 - k;
	memcpy(out + k, id, n);
	out[k + n] = '\0';
	return 0;
}

const char *codec_event_member(const Ledger__Event *ev)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	return ld_field_str(&k->member, ld_kind_body(k, ev));
}

int codec_event_stream(const Ledger__Event *ev, char out[LD_STREAM_MAX])
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	const ProtobufCMessage *body = ld_kind_body(k, ev);
	const char *member;
	char region[16];
	switch (k->stream) {
	case LD_STREAM_MEMBER:
		if ((member = ld_field_str(&k->member, body)))
			return stream_of(out, "member", member);
		if (!k->subject.fd)
			return LD_E(MISSING_FIELD);
		/* A service to a non-member is in its organisation's stream. */
		return stream_of(out, "org", ld_field_raw(&k->subject, body));
	case LD_STREAM_ORG:
		return stream_of(out, "org", ld_field_raw(&k->subject, body));
	case LD_STREAM_REGION:
		snprintf(region, sizeof(region), "%u", (unsigned)ld_field_num(&k->subject, body));
		return stream_of(out, "region", region);
	case LD_STREAM_TARGET:
		return LD_E(NOT_FOUND);
	default:
		return LD_E(MISSING_FIELD);
	}
}

/* ------------------------------------------------------------------ */
/* Wire primitives                                                     */
/* ------------------------------------------------------------------ */

size_t codec_varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

uint8_t *codec_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

uint8_t *codec_put_ld(uint8_t *p, unsigned field, size_t len)
{
	p = codec_put_varint(p, ((uint64_t)field << 3) | 2);
	return codec_put_varint(p, len);
}

size_t codec_ld_len(unsigned field, size_t len)
{
	return codec_varint_len(((uint64_t)field << 3) | 2) + codec_varint_len(len) + len;
}

int codec_peek_body_case(const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf, *end = buf + len;
	while (p && p < end) {
		uint64_t key, v;
		if (!(p = wire_varint(p, end, &key)))
			return 0;
		unsigned field = (unsigned)(key >> 3);
		switch (key & 7) {
		case 0:
			p = wire_varint(p, end, &v);
			break;
		case 1:
			p = p + 8 <= end ? p + 8 : NULL;
			break;
		case 2:
			if (!(p = wire_varint(p, end, &v)) || v > (uint64_t)(end - p))
				return 0;
			if (field >= 20)
				return (int)field;
			p += v;
			break;
		case 5:
			p = p + 4 <= end ? p + 4 : NULL;
			break;
		default:
			return 0;
		}
	}
	return 0;
}

int codec_peek_field(const uint8_t *buf, size_t len, unsigned field, const uint8_t **out, size_t *n)
{
	const uint8_t *p = buf, *end = buf + len;
	while (p && p < end) {
		uint64_t key, v;
		if (!(p = wire_varint(p, end, &key)))
			break;
		switch (key & 7) {
		case 0:
			p = wire_varint(p, end, &v);
			break;
		case 1:
			p = p + 8 <= end ? p + 8 : NULL;
			break;
		case 2:
			if (!(p = wire_varint(p, end, &v)) || v > (uint64_t)(end - p))
				return LD_E(NOT_FOUND);
			if ((key >> 3) == field) {
				*out = p;
				*n = (size_t)v;
				return 0;
			}
			p += v;
			break;
		case 5:
			p = p + 4 <= end ? p + 4 : NULL;
			break;
		default:
			return LD_E(NOT_FOUND);
		}
	}
	return LD_E(NOT_FOUND);
}

int codec_peek_hash(const uint8_t *buf, size_t len, const uint8_t **hash)
{
	size_t n;
	int rc = codec_peek_field(buf, len, 9, hash, &n); /* Event.hash */
	return rc == 0 && n != LD_HASH_LEN ? LD_E(NOT_FOUND) : rc;
}

/* ------------------------------------------------------------------ */
/* Reading a request before decoding it                                */
/* ------------------------------------------------------------------ */

size_t codec_request_budget(size_t len)
{
	if (len > CODEC_BUDGET_MAX / CODEC_BUDGET_FACTOR)
		return CODEC_BUDGET_MAX;
	return len * CODEC_BUDGET_FACTOR > CODEC_BUDGET_MIN ? len * CODEC_BUDGET_FACTOR
							    : CODEC_BUDGET_MIN;
}

/* One field of a message on the wire: its key and where its value is. */
typedef struct wire_field {
	unsigned num, type;
	uint64_t varint;         /* type 0 */
	const uint8_t *val, *end; /* type 2: the bytes of the value */
} wire_field;

/* Reads the field at *p; NULL p when the bytes do not parse (protobuf-c
 * refuses groups and the reserved wire types as well). */
static const uint8_t *next_field(const uint8_t *p, const uint8_t *end, wire_field *f)
{
	uint64_t key, v;
	if (!(p = wire_varint(p, end, &key)) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
		return NULL;
	f->num = (unsigned)(key >> 3);
	f->type = (unsigned)(key & 7);
	f->val = f->end = p;
	switch (f->type) {
	case 0:
		return wire_varint(p, end, &f->varint);
	case 1:
		return end - p >= 8 ? p + 8 : NULL;
	case 2:
		if (!(p = wire_varint(p, end, &v)) || v > (uint64_t)(end - p))
			return NULL;
		f->val = p;
		f->end = p + v;
		return f->end;
	case 5:
		return end - p >= 4 ? p + 4 : NULL;
	default:
		return NULL;
	}
}

int codec_request_command(const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf, *end = buf + len;
	int command = 0;
	wire_field f;
	while (p < end) {
		if (!(p = next_field(p, end, &f)))
			return 0;
		const ProtobufCFieldDescriptor *fd =
			protobuf_c_message_descriptor_get_field(&ledger__request__descriptor, f.num);
		if (fd && (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			command = (int)f.num;
	}
	return command;
}

typedef struct measure_ctx {
	size_t cost, max, len;
	ld_errinfo *e;
	char path[96];
} measure_ctx;

/* What protobuf-c allocates for one element of a repeated field. */
static size_t element_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4; /* 32-bit numbers, enums, protobuf_c_boolean */
	}
}

/* A repeated number sent packed: several elements in one value. */
static int packed(const ProtobufCFieldDescriptor *f, const wire_field *w)
{
	return w->type == 2 && f->type != PROTOBUF_C_TYPE_MESSAGE &&
	       f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_BYTES;
}

/* Elements in the packed value of a repeated scalar field. */
static size_t packed_count(const ProtobufCFieldDescriptor *f, const wire_field *w)
{
	size_t bytes = (size_t)(w->end - w->val), n = 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return bytes / 4;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return bytes / 8;
	default: /* varints: one ends at each byte without the high bit */
		for (const uint8_t *p = w->val; p < w->end; p++)
			n += !(*p & 0x80);
		return n;
	}
}

/* Appends ".name" to the path at `used`; returns the new length. */
static size_t path_push(measure_ctx *c, size_t used, const char *name)
{
	/* By hand: this runs for every nested message of every request, and
	 * snprintf's format parsing cost more than the rest of the walk. */
	size_t room = sizeof(c->path) - 1, n = strlen(name);
	if (used && used < room)
		c->path[used++] = '.';
	if (n > room - used)
		n = room - used;
	memcpy(c->path + used, name, n);
	c->path[used + n] = '\0';
	return used + n;
}

/* Every repeated field's elements in one message, by the field's place in
 * the descriptor (no message of ledger.proto has more fields than this). */
#define MEASURE_MAX_FIELDS 64
/* What protobuf-c allocates to scan a message of `fields` fields: it keeps
 * the first 16 on its stack and the others in slabs of 32, 64, 128 …
 * entries of 32 bytes (a ScannedMember), freed when the message is done. */
static size_t scan_slabs(size_t fields)
{
	size_t bytes = 0;
	for (size_t room = 16, slab = 32; room < fields; room += slab, slab *= 2)
		bytes += slab * 32;
	return bytes;
}

/* Adds what decoding the message d at [p, end) allocates to c->cost, or
 * refuses it. The schema has no recursive types, so the depth is bounded by
 * it; the bound here is for bytes that nest an unknown field's contents. */
static int measure_message(measure_ctx *c, const ProtobufCMessageDescriptor *d,
			   const uint8_t *p, const uint8_t *end, size_t used, int depth)
{
	size_t counts[MEASURE_MAX_FIELDS], fields = 0;
	wire_field w;
	if (depth > 32 || d->n_fields > MEASURE_MAX_FIELDS)
		return malformed(c->len, c->e);
	/* Only the message's own fields: the rest of the array is never read
	 * (zeroing all of it was 512 bytes per message, on every event). */
	memset(counts, 0, d->n_fields * sizeof(*counts));
	/* Each allocation as a call's pool counts it (rounded up to its
	 * alignment: budget_alloc), which is at least what malloc asks. */
	c->cost += POOL_ALIGN(d->sizeof_message);
	while (p < end) {
		if (!(p = next_field(p, end, &w)))
			return malformed(c->len, c->e);
		fields++;
		size_t vlen = (size_t)(w.end - w.val);
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, w.num);
		if (!f) { /* kept as an unknown field (and refused after decoding) */
			c->cost += POOL_ALIGN(sizeof(ProtobufCMessageUnknownField)) + POOL_ALIGN(vlen);
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = 1, i = (size_t)(f - d->fields);
			if (packed(f, &w))
				n = packed_count(f, &w);
			if (!counts[i]) /* its array, allocated once: rounded once */
				c->cost += sizeof(max_align_t) - 1;
			counts[i] += n;
			c->cost += n * element_size(f);
			if (counts[i] > CODEC_MAX_REPEATED) {
				/* Count the rest of them for the message, reading
				 * nothing else. */
				for (const uint8_t *q = p; q && q < end;) {
					if (!(q = next_field(q, end, &w)))
						return malformed(c->len, c->e);
					if (w.num == f->id)
						counts[i] += packed(f, &w) ? packed_count(f, &w) : 1;
				}
				path_push(c, used, f->name);
				return ld_errinfo_set(c->e, LD_E(TOO_LARGE), c->path,
						      "%s has %zu elements; at most %d", c->path,
						      counts[i], CODEC_MAX_REPEATED);
			}
		}
		if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES) {
			c->cost += POOL_ALIGN(vlen + 1);
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			if (w.type != 2)
				return malformed(c->len, c->e);
			size_t to = path_push(c, used, f->name);
			int rc = measure_message(c, f->descriptor, w.val, w.end, to, depth + 1);
			c->path[used] = '\0';
			if (rc)
				return rc;
		}
	}
	c->cost += scan_slabs(fields);
	return 0;
}

int codec_request_measure(const uint8_t *buf, size_t len, size_t *cost, ld_errinfo *e)
{
	measure_ctx c = {.max = codec_request_budget(len), .len = len, .e = e};
	*cost = 0;
	int rc = measure_message(&c, &ledger__request__descriptor, buf, buf + len, 0, 0);
	if (rc)
		return rc;
	*cost = c.cost;
	if (c.cost > c.max)
		return ld_errinfo_set(e, LD_E(TOO_LARGE), NULL,
				      "the request of %zu bytes would take more than %zu bytes to "
				      "decode (at most %d times its size, %zu bytes in all)",
				      len, c.max, CODEC_BUDGET_FACTOR, CODEC_BUDGET_MAX);
	return 0;
}
