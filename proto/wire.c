/* wire.c — one-pass decoding of our own messages. See wire.h. */
#include "wire.h"

#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "wire.c copies fixed-width fields as they are on the wire: little-endian only"
#endif

enum { WT_VARINT = 0, WT_64BIT = 1, WT_LEN = 2, WT_32BIT = 5 };

typedef struct wire_in {
	const uint8_t *p, *end;
	wire_alloc_fn alloc;
	void *arg;
} wire_in;

/* 0 and *out, or -1: past the end, longer than 10 bytes, or wider than 64
 * bits (protobuf-c would keep the low bits of what it reads; declined). */
static int varint(wire_in *in, uint64_t *out)
{
	const uint8_t *q = wire_varint(in->p, in->end, out);
	if (!q || (q - in->p == 10 && q[-1] > 1))
		return -1;
	in->p = q;
	return 0;
}

/* A field's key (its number and wire type): a varint of at most 5 bytes,
 * as protobuf-c reads a key (a longer one, zeros padding it, it declines).
 * 0 and *out, or -1. */
static int key(wire_in *in, uint64_t *out)
{
	const uint8_t *q = wire_varint(in->p, in->end, out);
	if (!q || q - in->p > 5)
		return -1;
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

static void *copy_out(wire_in *in, const uint8_t *p, size_t n, size_t extra)
{
	uint8_t *out = in->alloc(in->arg, n + extra);
	if (out) {
		memcpy(out, p, n);
		if (extra)
			out[n] = 0;
	}
	return out;
}

static ProtobufCMessage *message(const ProtobufCMessageDescriptor *d, wire_in *in, unsigned depth);

/* A varint field's value into mem, as its type stores it: 0 or -1. */
static int put_varint(const ProtobufCFieldDescriptor *f, void *mem, uint64_t v)
{
	uint32_t u = (uint32_t)v;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_ENUM:
		memcpy(mem, &u, 4);
		return 0;
	case PROTOBUF_C_TYPE_SINT32: {
		int32_t s = (int32_t)((u >> 1) ^ (0u - (u & 1)));
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
		return varint(in, &v) ? -1 : put_varint(f, mem, v);
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
	if (varint(in, &v) || v > (uint64_t)(in->end - in->p))
		return -1;
	const uint8_t *p = in->p;
	size_t n = (size_t)v;
	in->p += n;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		char *s = copy_out(in, p, n, 1);
		memcpy(mem, &s, sizeof(s));
		return s ? 0 : -1;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *bd = mem;
		bd->len = n;
		bd->data = n ? copy_out(in, p, n, 0) : NULL;
		return !n || bd->data ? 0 : -1;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		wire_in sub = {p, p + n, in->alloc, in->arg};
		ProtobufCMessage *sm = message(f->descriptor, &sub, depth + 1);
		memcpy(mem, &sm, sizeof(sm));
		return sm ? 0 : -1;
	}
	default:
		return -1; /* a packed repeated field, or a mismatch */
	}
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
	while (in->p < in->end) {
		uint64_t k;
		if (key(in, &k))
			return NULL;
		int i = field_index(d, k >> 3, hint);
		if (i < 0)
			return NULL; /* unknown: protobuf-c keeps it */
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (seen[i >> 6] >> (i & 63) & 1 || f->label == PROTOBUF_C_LABEL_REPEATED)
			return NULL;
		seen[i >> 6] |= (uint64_t)1 << (i & 63);
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
	}
	return m;
}

ProtobufCMessage *wire_decode(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
			      wire_alloc_fn alloc, void *arg)
{
	wire_in in = {buf, buf + len, alloc, arg};
	return message(d, &in, 0);
}
