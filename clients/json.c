/*
 * json.c — ldc_to_json: any protobuf-c message as JSON, by a walk over its
 * descriptor, so that new fields and messages of ledger.proto need no code
 * here. See client.h for the rendering rules.
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static json_t *message_to_json(const ProtobufCMessage *m);

/* Lowercase hex of n bytes as a JSON string. */
static json_t *hex_to_json(const uint8_t *p, size_t n)
{
	char stackbuf[129];
	char *s = 2 * n < sizeof(stackbuf) ? stackbuf : malloc(2 * n + 1);
	if (!s)
		return NULL;
	ldc_format_hex(p, n, s);
	json_t *j = json_stringn(s, 2 * n);
	if (s != stackbuf)
		free(s);
	return j;
}

/* A C string as JSON. Strings on the wire should be UTF-8, but a client must
 * show what it got: bytes that are not valid UTF-8 become '?'. */
static json_t *string_to_json(const char *s)
{
	if (!s)
		s = "";
	json_t *j = json_string(s);
	if (j)
		return j;
	size_t n = strlen(s);
	char *copy = malloc(n + 1);
	if (!copy)
		return NULL;
	for (size_t i = 0; i < n; i++)
		copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	copy[n] = '\0';
	j = json_string(copy);
	free(copy);
	return j;
}

/* JSON numbers as jansson holds them (long long): uint64 values above
 * INT64_MAX, which no ledger field reaches, are rendered as decimal strings. */
static json_t *u64_to_json(uint64_t v)
{
	if (v <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)v);
	char buf[24];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return json_string(buf);
}

/* One value of field f stored at p (for repeated fields: one element). */
static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return u64_to_json(*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
			(const ProtobufCEnumDescriptor *)f->descriptor, v);
		/* A value this client does not know is shown as its number. */
		return ev ? json_string(ev->name) : json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING:
		return string_to_json(*(char *const *)p);
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		return hex_to_json(b->data, b->len);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		return sub ? message_to_json(sub) : json_null();
	}
	}
	return json_null();
}

/* Size of one element of a repeated field in its C array. */
static size_t element_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* Whether a singular field is present, by the rules protobuf-c packs by. */
static int field_present(const ProtobufCFieldDescriptor *f, const char *base)
{
	const void *member = base + f->offset;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return 1;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) {
		const void *ptr = *(const void *const *)member;
		return ptr != NULL && ptr != f->default_value;
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
	/* proto3 implicit presence (LABEL_NONE): not used by ledger.proto;
	 * shown always, as the value cannot be told from "absent". */
	return 1;
}

int ldc_is_time_field(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
	/* The int64 fields that hold an instant (µs): named *_at, or one of
	 * these, or the window of a plan. */
	static const char *const names[] = {"at", "timestamp", "last_seen", "from_time",
					    "to_time", "window_from", "window_to"};
	size_t n = strlen(f->name);
	if (f->type != PROTOBUF_C_TYPE_INT64)
		return 0;
	if (n > 3 && !strcmp(f->name + n - 3, "_at"))
		return 1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(f->name, names[i]))
			return 1;
	return d == &ledger__plan_info__descriptor &&
	       (!strcmp(f->name, "from") || !strcmp(f->name, "to"));
}

/* Beside an instant: "<name>_rfc3339": the time in the ledger's zone. */
static int add_rfc3339(json_t *obj, const ProtobufCFieldDescriptor *f, int64_t us)
{
	char key[128], t[LDC_RFC3339_MAX];
	snprintf(key, sizeof(key), "%s_rfc3339", f->name);
	ldc_format_rfc3339(us, t);
	return json_object_set_new(obj, key, json_string(t));
}

static json_t *message_to_json(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	json_t *obj = json_object();
	json_t *arr = NULL;
	if (!obj)
		return NULL;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		json_t *v = NULL;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t count = *(const size_t *)(base + f->quantifier_offset);
			const char *elems = *(const char *const *)(base + f->offset);
			size_t sz = element_size(f->type);
			if (!(arr = json_array()))
				goto fail;
			for (size_t k = 0; k < count; k++)
				if (json_array_append_new(arr, value_to_json(f, elems + k * sz)) != 0)
					goto fail;
			v = arr;
			arr = NULL;
		} else {
			if (!field_present(f, base))
				continue;
			v = value_to_json(f, base + f->offset);
		}
		/* json_object_set_new takes v, and frees it on failure. */
		if (!v || json_object_set_new(obj, f->name, v) != 0)
			goto fail;
		if (f->label != PROTOBUF_C_LABEL_REPEATED && ldc_is_time_field(d, f) &&
		    add_rfc3339(obj, f, *(const int64_t *)(base + f->offset)) != 0)
			goto fail;
	}
	return obj;

fail:
	json_decref(arr);
	json_decref(obj);
	return NULL;
}

json_t *ldc_to_json(const void *msg)
{
	if (!msg)
		return json_null();
	return message_to_json((const ProtobufCMessage *)msg);
}
