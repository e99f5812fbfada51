/*
 * output.c — talking to the ledger and printing its answers: errors on stderr,
 * JSON, events one per line, enum words, aligned table cells.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledgerctl.h"
#include "servertext.h"

/* "ledgerctl: WHERE: message (ERR_NAME, field F, seq N)" on stderr. */
void print_error(const char *where, int code, const char *message, const char *field,
		 uint64_t seq, int with_code)
{
	/* The ledger's own message is English; in another language the
	 * description of its code goes first, in that language. */
	const char *desc = code ? _(ld_strerror(code)) : NULL;
	char said[1024]; /* a correction's sentence around another, in Chinese */
	const char *own = with_code ? ldc_server_text(message, said, sizeof(said)) : NULL;
	if (own) /* a sentence of the ledger's known here: all of it translated */
		fprintf(stderr, "ledgerctl: %s: %s", where, own);
	else if (!message || !*message)
		fprintf(stderr, "ledgerctl: %s: %s", where, desc ? desc : "");
	else if (desc && with_code && strcmp(desc, ld_strerror(code)) != 0)
		fprintf(stderr, _("ledgerctl: %s: %s: %s"), where, desc, message);
	else
		fprintf(stderr, "ledgerctl: %s: %s", where, message);
	if (with_code) {
		fprintf(stderr, " (%s", ld_errname(code));
		if (field && *field)
			fprintf(stderr, _(", field %s"), field);
		if (seq)
			fprintf(stderr, _(", seq %llu"), (unsigned long long)seq);
		fputc(')', stderr);
	}
	fputc('\n', stderr);
}

int connection(struct run *r, ldc **out, ld_errinfo *e)
{
	int rc = 0;
	if (!r->conn)
		rc = ldc_open_tls(&r->conn, r->url, r->timeout_ms, &r->tls, e);
	*out = r->conn;
	return rc;
}

/* Prints a whole response's result as JSON on stdout. */
int print_json(const void *msg, ld_errinfo *e)
{
	return dump_json(ldc_to_json(msg), e);
}

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

/* " name=value" for each field present in m; enums as a command line takes
 * them (delivery-rider; in Chinese mode their Chinese name), times in RFC
 * 3339 (the ledger's zone), long hex shortened, nested messages as compact
 * JSON. */
static void print_fields(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *j = ldc_to_json(m);
	if (!j)
		return;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		json_t *v = json_object_get(j, f->name);
		char tbuf[LDC_RFC3339_MAX], word[ENUM_WORD_MAX];
		if (!v)
			continue;
		printf(" %s=", f->name);
		if (f->type == PROTOBUF_C_TYPE_BYTES && json_string_length(v) > 16) {
			printf("%.12s..", json_string_value(v));
		} else if (enum_field_word(m, f->name, word, sizeof(word))) {
			fputs(word, stdout); /* as a command line takes it */
		} else if (ldc_is_time_field(d, f)) {
			ldc_format_rfc3339(json_integer_value(v), tbuf);
			fputs(tbuf, stdout);
		} else if (json_is_string(v) && *json_string_value(v) &&
			   !strpbrk(json_string_value(v), " \t\"=\\")) {
			fputs(json_string_value(v), stdout);
		} else {
			char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			fputs(s ? s : "?", stdout);
			free(s);
		}
	}
	json_decref(j);
}

/* One event per line: seq, time (occurred_at, RFC 3339), actor, type, stream
 * and version, the body's fields, and the start of the event's chain hash. */
void print_event(const Ledger__Event *ev)
{
	char hash[2 * LD_HASH_LEN + 1];
	char t[LDC_RFC3339_MAX] = "-";
	if (ev->has_occurred_at)
		ldc_format_rfc3339(ev->occurred_at, t);
	printf("%llu %s %s %s %s v%llu", (unsigned long long)ev->seq, t,
	       ev->actor && *ev->actor ? ev->actor : "-", codec_event_type_name(ev->body_case),
	       ev->stream && *ev->stream ? ev->stream : "-", (unsigned long long)ev->version);
	const ProtobufCMessage *body = codec_event_body(ev);
	if (body)
		print_fields(body);
	if (ev->has_hash && ev->hash.len == LD_HASH_LEN) {
		ldc_format_hex(ev->hash.data, LD_HASH_LEN, hash);
		printf(" hash=%.12s..", hash);
	}
	putchar('\n');
}

int print_page(struct run *r, const Ledger__EventPage *p, ld_errinfo *e)
{
	if (!p)
		return ld_errinfo_set(e, LD_E(MALFORMED), NULL, _("the server answered no page"));
	if (r->json)
		return print_json(p, e);
	for (size_t i = 0; i < p->n_events; i++)
		print_event(p->events[i]);
	return 0;
}
void wait_of(const struct args *a, ldc_consistency *cons)
{
	cons->min_seq = val_of(a, "wait-seq")->u;
	cons->timeout_ms = (uint32_t)val_of(a, "wait-ms")->u;
}

/* An answer that lacks the result its request asks for. */
int no_result(ld_errinfo *e, const char *what)
{
	return ld_errinfo_set(e, LD_E(MALFORMED), NULL, _("the server answered no %s"), what);
}

int show_result(struct run *r, int rc, Ledger__Response *resp, const void *result,
		const char *what, result_print print, const void *arg, ld_errinfo *e)
{
	if (rc == 0 && !result)
		rc = no_result(e, what);
	else if (rc == 0 && r->json)
		rc = dump_json(result_json(resp, result), e);
	else if (rc == 0)
		print(result, resp->as_of_seq, arg);
	codec_response_free(resp);
	return rc;
}

int ask_plain(struct run *r, int (*call)(ldc *c, Ledger__Response **out, ld_errinfo *e),
	      Ledger__Response **resp, ld_errinfo *e)
{
	ldc *c;
	int rc = connection(r, &c, e);
	return rc ? rc : call(c, resp, e);
}

/* The result of a projection answer as JSON, with the answer's as_of_seq
 * added; NULL if memory runs out. */
json_t *result_json(const Ledger__Response *resp, const void *result)
{
	json_t *j = ldc_to_json(result);
	if (j && resp->has_as_of_seq &&
	    json_object_set_new(j, "as_of_seq", json_integer((json_int_t)resp->as_of_seq)) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Prints j (taking the reference) indented on stdout. */
int dump_json(json_t *j, ld_errinfo *e)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (!s)
		return out_of_memory(e);
	puts(s);
	free(s);
	return 0;
}

const char *enum_field_word(const ProtobufCMessage *m, const char *name, char *out, size_t size)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	if (!f || f->type != PROTOBUF_C_TYPE_ENUM || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	int v = *(const int *)((const char *)m + f->offset);
	return ldc_enum_label(f->descriptor, v, out, size);
}

void format_time_s(int64_t us, char out[32])
{
	ldc_format_time(us - us % 1000000, out);
}

/* Columns a UTF-8 string takes (one per code point: ids, names of enums and
 * times are ASCII; free text may be off). */
int text_width(const char *s)
{
	int n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		uint32_t cp = *p;
		int len = cp < 0x80 ? 1 : cp >= 0xf0 ? 4 : cp >= 0xe0 ? 3 : cp >= 0xc0 ? 2 : 1;
		if (len > 1)
			cp &= 0x3fu >> (len - 1);
		for (int k = 1; k < len && (p[k] & 0xc0) == 0x80; k++)
			cp = cp << 6 | (p[k] & 0x3f);
		for (int k = 0; k < len && *p; k++)
			p++;
		/* East Asian wide characters take two columns in a terminal:
		 * Hangul Jamo, CJK and its punctuation, Hangul, compatibility
		 * ideographs, full-width forms. */
		int wide = (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
			   (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
			   (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
			   (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x20000 && cp <= 0x3fffd);
		n += 1 + wide;
	}
	return n;
}

void print_cell(const char *s, int w)
{
	int pad = w - text_width(s);
	fputs(s, stdout);
	printf("%*s  ", pad > 0 ? pad : 0, "");
}

void print_rcell(const char *s, int w, int last)
{
	int pad = w - text_width(s);
	printf("%*s%s%s", pad > 0 ? pad : 0, "", s, last ? "\n" : "  ");
}

/* Prints n cells aligned to widths w (the last one unpadded), without
 * trailing blanks when the last ones are empty. */
void print_row(char (*cell)[200], const int *w, int n)
{
	while (n > 1 && !cell[n - 1][0])
		n--;
	for (int k = 0; k < n - 1; k++)
		print_cell(cell[k], w[k]);
	printf("%s\n", cell[n - 1]);
}

/* A ratio as a percentage, "-" if absent. */
const char *percent(int has, double ratio, char out[16])
{
	double p = ratio * 100.0;
	if (!has)
		snprintf(out, 16, "-");
	else if (p > 0 && p < 0.01)
		snprintf(out, 16, "<0.01%%");
	else if (p < 10)
		snprintf(out, 16, "%.2f%%", p);
	else
		snprintf(out, 16, "%.1f%%", p);
	return out;
}
