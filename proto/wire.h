/*
 * wire.h — decoding our own messages from the wire format in one pass, into
 * memory from the caller's allocator (a pool thrown away as a whole).
 *
 * Why: protobuf-c's generic unpack scans every message twice (once to find
 * and count the fields, once to parse them), allocates each string and
 * sub-message through the allocator's function pointers and keeps unknown
 * fields; a projection rebuild decodes every record of the log, serially,
 * before any projection applies it. Our records are written by our own
 * packer (proto/codec.c), canonical: each field at most once, no unknown
 * field, no repeated field in an Event. wire_decode reads exactly that in
 * one pass, guided by protobuf-c's descriptors (no generated code of its
 * own), and DECLINES anything else, so the caller falls back to protobuf-c,
 * which decides (codec_event_unpack_pool does).
 *
 * The contract: when wire_decode returns a message, protobuf-c's unpack of
 * the same bytes succeeds, and the two messages are equal field by field
 * (packing them gives the same bytes; fuzz_wire checks it): the same
 * defaults (the descriptor's message_init), has_ flags, oneof cases, a
 * string absent NULL (or its default) and present NUL-terminated, bytes of
 * length 0 with data NULL, the low 32 bits of a varint for 32-bit types.
 *
 * A repeated field of messages (a request's events) is decoded as protobuf-c
 * gathers it, every element in the order given, into an array of exactly
 * their number (its keys counted when the first comes); such a message is
 * never said canonical.
 *
 * Declined (NULL): a field number the descriptor does not know (an unknown
 * field protobuf-c would keep), a field given twice (protobuf-c would keep
 * the last, merging messages), a second member of a oneof, a repeated field
 * of any other type (packed or not), more than 4 repeated fields of messages
 * in one message, a wire type that does not match the field's type, a varint longer than 10
 * bytes or wider than 64 bits, a length past the end, nesting deeper than
 * WIRE_MAX_DEPTH, a message of more than 128 fields, and memory running out.
 */
#ifndef LD_WIRE_H
#define LD_WIRE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAX_DEPTH 8

/* Memory for the message: n bytes, aligned for any type, or NULL. Nothing
 * is freed one by one: the caller gives it all back at once. */
typedef void *(*wire_alloc_fn)(void *arg, size_t n);

/* The varint at p, before end: the byte after it, its value in *v (the low
 * 64 bits, as protobuf-c keeps them), or NULL past the end or longer than
 * 10 bytes. The one reader of wire.c, codec.c and the projections' own
 * records (members.c). */
static inline const uint8_t *wire_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	if (p < end && *p < 0x80) { /* most keys, lengths and values: one byte */
		*v = *p;
		return p + 1;
	}
	*v = 0;
	for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
		uint8_t b = *p++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return p;
	}
	return NULL;
}

/* The message of type d in buf[0..len), or NULL (declined, see above). */
ProtobufCMessage *wire_decode(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
			      wire_alloc_fn alloc, void *arg);

/*
 * wire_decode (the same message, declining the same bytes), which also says
 * whether buf is canonical: *canonical 1 when protobuf-c 1.4's
 * protobuf_c_message_pack of the message is exactly buf, byte for byte,
 * without packing it; 0 when it is not, or is declined (NULL). What makes
 * it 0, each where protobuf-c's packer would write other bytes:
 *  - a field before one that comes earlier in d's field array (the packer
 *    walks that array; protoc-c sorts it by field number), at any depth;
 *  - a key, value or length varint not in the fewest bytes (a last byte of
 *    0 after the first);
 *  - a varint outside its type's range: an int32 or enum other than the
 *    sign extension of its low 32 bits (a negative one in 5 bytes: packed
 *    in 10), a uint32 or sint32 wider than 32 bits, a bool other than 0
 *    and 1;
 *  - a string holding a NUL byte (packed up to it), a length over 2^32-1;
 *  - a field without a label (proto3, implicit presence) present with a
 *    zero, an empty string or empty bytes, and a required field absent
 *    (protobuf-c packs the one never, the other always). A proto2
 *    optional field or oneof member is packed whenever present, zero or
 *    empty included, as decoding sets its has_, pointer or case; and a
 *    sub-message's length is exact when its own bytes are canonical.
 * Unknown, repeated and doubled fields and a second oneof member are
 * declined by the decoding itself. fuzz_wire checks that *canonical is 1
 * exactly when packing the message gives buf (fuzz/harness.c).
 */
ProtobufCMessage *wire_decode_canonical(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
					size_t len, wire_alloc_fn alloc, void *arg, int *canonical);

#endif
