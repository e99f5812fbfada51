/* reply.c — every answer is packed here. See call.h. */
#include <string.h>

#include "call.h"
#include "counters.h"

nng_msg *reply_pack(const Ledger__Response *resp)
{
	nng_msg *m;
	size_t n = codec_size(resp);
	if (nng_msg_alloc(&m, n) != 0)
		return NULL;
	codec_pack(resp, nng_msg_body(m));
	return m;
}

void reply_fill_error(Ledger__Error *err, const ld_errinfo *e)
{
	counters_error(e->code);
	ledger__error__init(err);
	err->has_code = 1;
	err->code = ld_wire_code(e->code);
	err->message = (char *)(e->message[0] ? e->message : ld_strerror(e->code));
	if (e->field[0])
		err->field = (char *)e->field;
	if (e->seq) {
		err->has_seq = 1;
		err->seq = e->seq;
	}
}

nng_msg *reply_error(const ld_errinfo *e)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__Error err;
	reply_fill_error(&err, e);
	resp.error = &err;
	return reply_pack(&resp);
}

nng_msg *reply_error_msg(int code, const char *msg)
{
	ld_errinfo e;
	ld_errinfo_set(&e, code, NULL, "%s", msg);
	return reply_error(&e);
}

nng_msg *reply_events(uint32_t field, const store_val *ev, size_t n, size_t bytes,
		      const uint64_t *varints, size_t nvarints)
{
	size_t inner = bytes;
	for (size_t i = 0; i < nvarints; i++)
		inner += 1 + codec_varint_len(varints[i]);
	nng_msg *m;
	if (nng_msg_alloc(&m, codec_ld_len(field, inner)) != 0)
		return NULL;
	uint8_t *o = codec_put_ld(nng_msg_body(m), field, inner);
	for (size_t i = 0; i < n; i++) {
		o = codec_put_ld(o, 1, ev[i].len);
		memcpy(o, ev[i].data, ev[i].len);
		o += ev[i].len;
	}
	for (size_t i = 0; i < nvarints; i++) {
		*o++ = (uint8_t)((i + 2) << 3); /* field i + 2, wire type varint */
		o = codec_put_varint(o, varints[i]);
	}
	return m;
}

nng_msg *reply_stored_event(store_val v)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, codec_ld_len(20, v.len)) != 0)
		return NULL;
	uint8_t *o = codec_put_ld(nng_msg_body(m), 20, v.len);
	memcpy(o, v.data, v.len);
	return m;
}
