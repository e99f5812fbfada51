/* parse.c — the human forms of ledger values. See parse.h for the contract. */
#include "parse.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "i18n.h"
#include "labels.h"

/* ------------------------------------------------------------------ */
/* Enumerations                                                        */
/* ------------------------------------------------------------------ */

/* Case-insensitive comparison of n characters, '-' equal to '_'. */
static int enum_chars_equal(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ca = a[i] == '-' ? '_' : toupper((unsigned char)a[i]);
		int cb = b[i] == '-' ? '_' : toupper((unsigned char)b[i]);
		if (ca != cb)
			return 0;
	}
	return 1;
}

/* 2: text is the whole name; 1: a word-aligned start or end of it; 0: no. */
static int enum_match(const char *name, const char *text)
{
	size_t nl = strlen(name);
	size_t tl = strlen(text);
	if (tl == nl)
		return enum_chars_equal(name, text, nl) ? 2 : 0;
	if (tl == 0 || tl > nl)
		return 0;
	if (name[tl] == '_' && enum_chars_equal(name, text, tl))
		return 1;
	if (name[nl - tl - 1] == '_' && enum_chars_equal(name + nl - tl, text, tl))
		return 1;
	return 0;
}

int ldc_enum_parse(const ProtobufCEnumDescriptor *d, const char *text, int *out)
{
	const ProtobufCEnumValue *part = NULL;
	int nparts = 0;

	if (!text || !*text)
		return LD_E(UNKNOWN_ENUM);
	if (ldc_label_parse(d, text, out) == 0)
		return 0;
	for (unsigned i = 0; i < d->n_values; i++) {
		const ProtobufCEnumValue *v = &d->values[i];
		if (v->value == 0)
			continue;
		int m = enum_match(v->name, text);
		if (m == 2) {
			*out = v->value;
			return 0;
		}
		if (m == 1) {
			part = v;
			nparts++;
		}
	}
	if (nparts != 1)
		return LD_E(UNKNOWN_ENUM);
	*out = part->value;
	return 0;
}

const char *ldc_enum_name(const ProtobufCEnumDescriptor *d, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
	return v ? v->name : NULL;
}

void ldc_enum_list(const ProtobufCEnumDescriptor *d, char *out, size_t size)
{
	const int zh = ld_i18n_zh();
	size_t used = 0;
	if (size == 0)
		return;
	out[0] = '\0';
	for (unsigned i = 0; i < d->n_values; i++) {
		const char *name = d->values[i].name;
		const char *label = zh ? ldc_label_zh(d, d->values[i].value) : NULL;
		if (d->values[i].value == 0)
			continue;
		size_t need = strlen(name) + (used ? 2 : 0) + (label ? strlen(label) + 6 : 0);
		if (used + need + 4 >= size) { /* room for "…" and NUL */
			snprintf(out + used, size - used, "%s", "\u2026");
			return;
		}
		if (used) {
			out[used++] = ',';
			out[used++] = ' ';
		}
		for (; *name; name++)
			out[used++] = *name == '_' ? '-' : (char)tolower((unsigned char)*name);
		out[used] = '\0';
		if (label)
			used += (size_t)snprintf(out + used, size - used, "\uff08%s\uff09", label);
	}
}

/* ------------------------------------------------------------------ */
/* Numbers and money                                                   */
/* ------------------------------------------------------------------ */

int ldc_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!s || !*s)
		return LD_E(INVALID_VALUE);
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return LD_E(INVALID_VALUE);
		unsigned dgt = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return LD_E(INVALID_VALUE);
		v = v * 10 + dgt;
	}
	*out = v;
	return 0;
}

int ldc_parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;
	if (ldc_parse_u64(s, &v) != 0 || v > UINT32_MAX)
		return LD_E(INVALID_VALUE);
	*out = (uint32_t)v;
	return 0;
}

int ldc_parse_i64(const char *s, int64_t *out)
{
	uint64_t v;
	int neg = s && *s == '-';
	if (ldc_parse_u64(neg ? s + 1 : s, &v) != 0)
		return LD_E(INVALID_VALUE);
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return LD_E(INVALID_VALUE);
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int ldc_parse_yuan(const char *s, int64_t *fen)
{
	char whole[24];
	size_t n = 0;
	uint64_t y;
	int64_t cents = 0;

	if (!s)
		return LD_E(INVALID_VALUE);
	while (s[n] && s[n] != '.')
		n++;
	if (n == 0 || n >= sizeof(whole))
		return LD_E(INVALID_VALUE);
	memcpy(whole, s, n);
	whole[n] = '\0';
	if (ldc_parse_u64(whole, &y) != 0)
		return LD_E(INVALID_VALUE);
	if (s[n] == '.') {
		const char *f = s + n + 1;
		size_t fl = strlen(f);
		if (fl < 1 || fl > 2 || !isdigit((unsigned char)f[0]) ||
		    (fl == 2 && !isdigit((unsigned char)f[1])))
			return LD_E(INVALID_VALUE);
		cents = (f[0] - '0') * 10 + (fl == 2 ? f[1] - '0' : 0);
	}
	if (y > (uint64_t)(INT64_MAX - cents) / 100)
		return LD_E(INVALID_VALUE);
	int64_t v = (int64_t)y * 100 + cents;
	if (v <= 0)
		return LD_E(INVALID_VALUE);
	*fen = v;
	return 0;
}

void ldc_format_yuan(int64_t fen, char out[32])
{
	/* Through unsigned: -INT64_MIN does not fit an int64. */
	uint64_t v = fen < 0 ? 0 - (uint64_t)fen : (uint64_t)fen;
	snprintf(out, 32, "%s%llu.%02llu", fen < 0 ? "-" : "", (unsigned long long)(v / 100),
		 (unsigned long long)(v % 100));
}

/* ------------------------------------------------------------------ */
/* Hex                                                                 */
/* ------------------------------------------------------------------ */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ldc_parse_hex(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return LD_E(INVALID_VALUE);
	for (size_t i = 0; i < n; i++)
		if (hexval(s[2 * i]) < 0 || hexval(s[2 * i + 1]) < 0)
			return LD_E(INVALID_VALUE);
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
	return 0;
}

void ldc_format_hex(const uint8_t *p, size_t n, char *out)
{
	static const char dg[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = dg[p[i] >> 4];
		out[2 * i + 1] = dg[p[i] & 15];
	}
	out[2 * n] = '\0';
}
