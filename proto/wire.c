/* wire.c — one-pass decoding of our own messages. See wire.h. */
#include "wire.h"

#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "wire.c copies fixed-width fields as they are on the wire: little-endian only"
#endif

enum { WT_VARINT = 0, WT_64BIT = 1, WT_LEN = 2, WT_32BIT = 5 };

typedef struct wire_in {
	const uint8_t *p, *end;
	wire_alloc_fn alloc;
	void *arg;
	/* The whole buffer [base, ...) and its one copy from alloc (a byte
	 * longer): every string and bytes field points into the copy, at its
	 * place in the buffer, instead of being allocated and copied one by
	 * one. A string's NUL goes on the byte after it in the copy: the next
	 * key (of its message or an enclosing one) or the extra byte at the
	 * end, never a byte of another field's value (keys, lengths and
	 * numbers are read from the buffer, not the copy). */
	const uint8_t *base;
	uint8_t *copy;
	/* 1 while the bytes read are what protobuf-c packs (checked only by
	 * wire_decode_canonical; 0 from the start otherwise, and from the
	 * first byte that is not). */
	int canon;
} wire_in;

/* The varint [p, q) is in as few bytes as its value takes (a last byte of
 * 0 after the first pads it), as protobuf-c packs every varint: uint32_pack
 * and uint64_pack, and int32_pack's 10 bytes of a negative number. */
static inline int minimal(const uint8_t *p, const uint8_t *q)
{
	return q - p == 1 || q[-1] != 0;
}

/* 0 and *out, or -1: past the end, longer than 10 bytes, or wider than 64
 * bits (protobuf-c would keep the low bits of what it reads; declined). */
static inline int varint(wire_in *in, uint64_t *out)
{
	const uint8_t *q = wire_varint(in->p, in->end, out);
	if (!q || (q - in->p == 10 && q[-1] > 1))
		return -1;
	in->canon &= minimal(in->p, q);
	in->p = q;
	return 0;
}

/* A field's key (its number and wire type) or a length prefix: a varint of
 * at most 5 bytes, as protobuf-c reads both (a longer one, zeros padding
 * it, it declines: fuzz_wire found a 7-byte length of 0 taken here and
 * refused there). 0 and *out, or -1. (protobuf-c writes both minimal.) */
static inline int varint5(wire_in *in, uint64_t *out)
{
	const uint8_t *q = wire_varint(in->p, in->end, out);
	if (!q || q - in->p > 5)
		return -1;
	in->canon &= minimal(in->p, q);
	in->p = q;
	return 0;
}

/* The index of field `id` in d's fields (sorted by id), or -1; `hint` is
 * where it is when the fields come in order, as ours do. */
static int field_index(const ProtobufCMessageDescriptor *d, uint64_t id, unsigned hint)
{
	if (hint < d->n_fields && d->fields[hint].id == id)
		return (int)hint;
	unsigned lo = 0, hi = d->n_fields;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (d->fields[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < d->n_fields && d->fields[lo].id == id ? (int)lo : -1;
}

/* Where the value at p of the buffer is in the copy. */
static inline uint8_t *in_copy(const wire_in *in, const uint8_t *p)
{
	return in->copy + (p - in->base);
}

static ProtobufCMessage *message(const ProtobufCMessageDescriptor *d, wire_in *in, unsigned depth);

/* A varint field's value into mem, as its type stores it: 0 or -1. What
 * protobuf-c packs for what is stored is v again only when v is in the
 * type's range: an int32 or enum the sign extension of its low 32 bits
 * (int32_pack: a negative one in 10 bytes), a uint32 or sint32 its low 32
 * bits, a bool 0 or 1 (boolean_pack); else in->canon is cleared. */
static int put_varint(const ProtobufCFieldDescriptor *f, void *mem, uint64_t v, wire_in *in)
{
	uint32_t u = (uint32_t)v;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_ENUM:
		in->canon &= v == (uint64_t)(int64_t)(int32_t)u;
		memcpy(mem, &u, 4);
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
		in->canon &= v == u;
		memcpy(mem, &u, 4);
		return 0;
	case PROTOBUF_C_TYPE_SINT32: {
		int32_t s = (int32_t)((u >> 1) ^ (0u - (u & 1)));
		in->canon &= v == u;
		memcpy(mem, &s, 4);
		return 0;
	}
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
		memcpy(mem, &v, 8);
		return 0;
	case PROTOBUF_C_TYPE_SINT64: {
		int64_t s = (int64_t)((v >> 1) ^ (0 - (v & 1)));
		memcpy(mem, &s, 8);
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL:
		in->canon &= v <= 1;
		*(protobuf_c_boolean *)mem = v != 0;
		return 0;
	default:
		return -1;
	}
}

/* The width on the wire of the fixed-width types (0: not one). */
static const uint8_t fixed_width[] = {
	[PROTOBUF_C_TYPE_SFIXED32] = 4, [PROTOBUF_C_TYPE_FIXED32] = 4, [PROTOBUF_C_TYPE_FLOAT] = 4,
	[PROTOBUF_C_TYPE_SFIXED64] = 8, [PROTOBUF_C_TYPE_FIXED64] = 8, [PROTOBUF_C_TYPE_DOUBLE] = 8,
};

/* One field's value (its tag read: wire type wt) into message m: 0 or -1. */
static int field(const ProtobufCFieldDescriptor *f, unsigned wt, ProtobufCMessage *m, wire_in *in,
		 unsigned depth)
{
	void *mem = (char *)m + f->offset;
	uint64_t v;
	switch (wt) {
	case WT_VARINT:
		return varint(in, &v) ? -1 : put_varint(f, mem, v, in);
	case WT_32BIT:
	case WT_64BIT: {
		size_t w = wt == WT_32BIT ? 4 : 8;
		if ((size_t)(in->end - in->p) < w || f->type >= sizeof(fixed_width) ||
		    fixed_width[f->type] != w)
			return -1;
		memcpy(mem, in->p, w);
		in->p += w;
		return 0;
	}
	case WT_LEN:
		break;
	default:
		return -1;
	}
	if (varint5(in, &v) || v > (uint64_t)(in->end - in->p))
		return -1;
	const uint8_t *p = in->p;
	size_t n = (size_t)v;
	in->p += n;
	in->canon &= v <= UINT32_MAX; /* packed by uint32_pack */
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		/* string_pack writes strlen's bytes: a NUL inside cuts it. */
		if (in->canon && memchr(p, 0, n))
			in->canon = 0;
		char *s = (char *)in_copy(in, p);
		s[n] = 0;
		memcpy(mem, &s, sizeof(s));
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *bd = mem;
		bd->len = n;
		bd->data = n ? in_copy(in, p) : NULL;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		/* Its length exact when its bytes are its packing. */
		wire_in sub = *in;
		sub.p = p;
		sub.end = p + n;
		ProtobufCMessage *sm = message(f->descriptor, &sub, depth + 1);
		in->canon = sub.canon;
		memcpy(mem, &sm, sizeof(sm));
		return sm ? 0 : -1;
	}
	default:
		return -1; /* a packed repeated field, or a mismatch */
	}
}

/* protobuf-c's field_is_zeroish: a field without a label (proto3's
 * implicit presence) holding this is not packed (unlabeled_field_pack). */
static int zeroish(const ProtobufCFieldDescriptor *f, const void *mem)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)mem == 0;
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
		return *(const uint32_t *)mem == 0;
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)mem == 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)mem == 0; /* -0.0 too */
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)mem == 0;
	case PROTOBUF_C_TYPE_STRING:
		return !*(char *const *)mem || !**(char *const *)mem;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)mem)->len == 0;
	default: /* a message: present, never NULL */
		return *(void *const *)mem == NULL;
	}
}

/* Whether fields [from, to) of d, absent, are left out by protobuf-c's
 * packing too: all but a required one (required_field_pack writes it
 * whatever it holds). */
static int absent_ok(const ProtobufCMessageDescriptor *d, unsigned from, unsigned to)
{
	for (unsigned j = from; j < to; j++)
		if (d->fields[j].label == PROTOBUF_C_LABEL_REQUIRED)
			return 0;
	return 1;
}

/* How many times key (a field number and wire type) occurs in the fields
 * [p, end) of one message, skipping over their values: 0 and *n, or -1
 * (bytes that do not parse as fields: a group, a length past the end). */
static int count_key(const uint8_t *p, const uint8_t *end, uint64_t key, size_t *n)
{
	*n = 0;
	while (p < end) {
		uint64_t k, v;
		const uint8_t *q = wire_varint(p, end, &k);
		if (!q || q - p > 5)
			return -1;
		*n += k == key;
		switch (k & 7) {
		case WT_VARINT:
			p = wire_varint(q, end, &v);
			if (!p)
				return -1;
			break;
		case WT_64BIT:
		case WT_32BIT: {
			size_t w = (k & 7) == WT_32BIT ? 4 : 8;
			if ((size_t)(end - q) < w)
				return -1;
			p = q + w;
			break;
		}
		case WT_LEN:
			p = wire_varint(q, end, &v);
			if (!p || p - q > 5 || v > (uint64_t)(end - p))
				return -1;
			p += v;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

/* The repeated message fields of one message being decoded: each one's
 * array, sized on its first element by counting its keys (count_key), and
 * filled element by element. */
#define WIRE_MAX_REPEATED 4
typedef struct repeated {
	unsigned n;
	struct {
		int field;
		size_t cap;
	} f[WIRE_MAX_REPEATED];
} repeated;

/* The next element of repeated message field f (index i, its key k read
 * from key_at: in->p at its length) into m: 0 or -1. */
static int element(const ProtobufCMessageDescriptor *d, int i, uint64_t k, const uint8_t *key_at,
		   ProtobufCMessage *m, wire_in *in, repeated *rep, unsigned depth)
{
	const ProtobufCFieldDescriptor *f = &d->fields[i];
	size_t *count = (size_t *)(void *)((char *)m + f->quantifier_offset);
	ProtobufCMessage ***arr = (ProtobufCMessage ***)(void *)((char *)m + f->offset);
	unsigned r = 0;
	while (r < rep->n && rep->f[r].field != i)
		r++;
	if (r == rep->n) {
		/* Its first element: the array for every one of them,
		 * counted from its key on. */
		size_t n;
		if (r == WIRE_MAX_REPEATED || count_key(key_at, in->end, k, &n) || !n ||
		    n > SIZE_MAX / sizeof(**arr))
			return -1;
		if (!(*arr = in->alloc(in->arg, n * sizeof(**arr))))
			return -1;
		rep->f[r].field = i;
		rep->f[r].cap = n;
		rep->n++;
	}
	if (*count >= rep->f[r].cap)
		return -1; /* cannot be: every key was counted */
	uint64_t v;
	if (varint5(in, &v) || v > (uint64_t)(in->end - in->p))
		return -1;
	wire_in sub = *in;
	sub.end = in->p + v;
	sub.canon = 0;
	in->p += v;
	ProtobufCMessage *sm = message(f->descriptor, &sub, depth + 1);
	if (!sm)
		return -1;
	(*arr)[(*count)++] = sm;
	return 0;
}

static ProtobufCMessage *message(const ProtobufCMessageDescriptor *d, wire_in *in, unsigned depth)
{
	if (depth > WIRE_MAX_DEPTH || d->n_fields > 128)
		return NULL;
	ProtobufCMessage *m = in->alloc(in->arg, d->sizeof_message);
	if (!m)
		return NULL;
	d->message_init(m);
	uint64_t seen[2] = {0, 0};
	unsigned hint = 0;
	repeated rep = {0};
	while (in->p < in->end) {
		uint64_t k;
		const uint8_t *key_at = in->p;
		if (varint5(in, &k))
			return NULL;
		int i = field_index(d, k >> 3, hint);
		if (i < 0)
			return NULL; /* unknown: protobuf-c keeps it */
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			/* A message's elements, as protobuf-c gathers them (in
			 * the order given, wherever they are); any other
			 * repeated type (packed or not) is declined. Never
			 * said canonical. */
			in->canon = 0;
			if (f->type != PROTOBUF_C_TYPE_MESSAGE || (k & 7) != WT_LEN ||
			    element(d, i, k, key_at, m, in, &rep, depth))
				return NULL;
			hint = (unsigned)i + 1;
			continue;
		}
		if (seen[i >> 6] >> (i & 63) & 1)
			return NULL;
		seen[i >> 6] |= (uint64_t)1 << (i & 63);
		/* protobuf_c_message_pack packs the fields in the order of d's
		 * array (protoc-c sorts it by number): each after the last. */
		if (in->canon && ((unsigned)i < hint || !absent_ok(d, hint, (unsigned)i)))
			in->canon = 0;
		hint = (unsigned)i + 1;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t *which = (uint32_t *)(void *)((char *)m + f->quantifier_offset);
			if (*which)
				return NULL; /* protobuf-c would drop the first */
			*which = f->id;
		} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset) {
			*(protobuf_c_boolean *)(void *)((char *)m + f->quantifier_offset) = 1;
		}
		if (field(f, (unsigned)(k & 7), m, in, depth))
			return NULL;
		/* Without a label (proto3): packed only when not zero or empty;
		 * a oneof's member is packed whatever it holds
		 * (oneof_field_pack), an optional one by its has_ or pointer
		 * (optional_field_pack), which decoding set. */
		if (in->canon && f->label == PROTOBUF_C_LABEL_NONE &&
		    !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && zeroish(f, (char *)m + f->offset))
			in->canon = 0;
	}
	if (in->canon && !absent_ok(d, hint, d->n_fields))
		in->canon = 0;
	return m;
}

/* The reading of buf[0..len) from its start: 0, or -1 out of memory. */
static int in_begin(wire_in *in, const uint8_t *buf, size_t len, wire_alloc_fn alloc, void *arg,
		    int canon)
{
	*in = (wire_in){.p = buf, .end = buf + len, .alloc = alloc, .arg = arg, .canon = canon,
			.base = buf, .copy = alloc(arg, len + 1)};
	if (!in->copy)
		return -1;
	memcpy(in->copy, buf, len);
	in->copy[len] = 0;
	return 0;
}

ProtobufCMessage *wire_decode(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
			      wire_alloc_fn alloc, void *arg)
{
	wire_in in;
	return in_begin(&in, buf, len, alloc, arg, 0) ? NULL : message(d, &in, 0);
}

ProtobufCMessage *wire_decode_canonical(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
					size_t len, wire_alloc_fn alloc, void *arg, int *canonical)
{
	wire_in in;
	if (in_begin(&in, buf, len, alloc, arg, 1)) {
		*canonical = 0;
		return NULL;
	}
	ProtobufCMessage *m = message(d, &in, 0);
	*canonical = m && in.canon;
	return m;
}
