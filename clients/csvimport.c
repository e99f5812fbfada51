/* csvimport.c — member lists (CSV, UTF-8, GB18030 or UTF-16 with its BOM) as MemberJoined events;
 * libcsv and iconv behind one file. See csvimport.h for the contract. */
#include "csvimport.h"

#include <csv.h>
#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "digest.h"
#include "identity.h"
#include "i18n.h"
#include "parse.h"

#define MAX_FIELDS 256
#define MAX_FIELD_LEN 4096
#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD: bytes GB18030 could not read */

/* ------------------------------------------------------------------ */
/* Names: columns and enum labels                                      */
/* ------------------------------------------------------------------ */

/* Accepted header names per column, normalised (see norm_header). */
static const char *const col_names[CSVIMP__COLUMNS][10] = {
	[CSVIMP_NAME] = {"name", "full_name", "姓名", "会员姓名", "名字"},
	[CSVIMP_NATIONAL_ID] = {"national_id", "id_number", "id_card", "身份证号", "身份证号码",
				"公民身份号码", "身份证", "证件号码"},
	[CSVIMP_PHONE] = {"phone", "mobile", "手机", "手机号", "手机号码", "联系电话", "电话"},
	[CSVIMP_WORKER_GROUP] = {"worker_group", "group", "职业群体", "群体", "职业", "工种"},
	[CSVIMP_PLATFORM] = {"platform", "平台", "所在平台", "平台名称", "平台企业"},
	[CSVIMP_EMPLOYMENT] = {"employment", "employment_relation", "用工关系", "用工形式",
			       "劳动关系"},
	[CSVIMP_REGION] = {"region", "region_code", "地区", "地区代码", "行政区划代码",
			   "区划代码", "居住地"},
	[CSVIMP_CHANNEL] = {"channel", "join_channel", "入会渠道", "入会方式"},
	[CSVIMP_JOIN_DATE] = {"join_date", "joined", "date", "入会日期", "入会时间"},
	[CSVIMP_JOIN_PATH] = {"join_path", "path", "入会路径"},
	[CSVIMP_MEMBER_ID] = {"member_id", "会员编号", "会员号"},
};

/* English names of the columns, for messages and the field mapping. */
static const char *const col_field[CSVIMP__COLUMNS] = {
	[CSVIMP_NAME] = "name",
	[CSVIMP_NATIONAL_ID] = "national_id",
	[CSVIMP_PHONE] = "phone",
	[CSVIMP_WORKER_GROUP] = "worker_group",
	[CSVIMP_PLATFORM] = "platform",
	[CSVIMP_EMPLOYMENT] = "employment",
	[CSVIMP_REGION] = "region",
	[CSVIMP_CHANNEL] = "channel",
	[CSVIMP_JOIN_DATE] = "occurred_at",
	[CSVIMP_JOIN_PATH] = "join_path",
	[CSVIMP_MEMBER_ID] = "member_id",
};

/* The usual Chinese header of each required column, for messages. */
static const char *const col_zh[CSVIMP__COLUMNS] = {
	[CSVIMP_NAME] = "姓名", [CSVIMP_NATIONAL_ID] = "身份证号",
	[CSVIMP_WORKER_GROUP] = "职业群体", [CSVIMP_EMPLOYMENT] = "用工关系",
};

/* ------------------------------------------------------------------ */
/* The reader                                                          */
/* ------------------------------------------------------------------ */

struct csvimp {
	csvimp_options o;
	char *org_id;
	int gb18030, bom;
	int bad_utf8; /* UTF-8 with bytes that are not (replaced by U+FFFD) */
	int utf16;    /* UTF-16 with its BOM (Excel's "Unicode text"); the
		       * report is then UTF-8 with a BOM */
	char *buf; /* the file in UTF-8, BOM dropped */
	size_t len, pos;
	unsigned long line; /* lines fed so far */
	struct csv_parser p;
	int finished;
	/* The record being read. */
	char *fbuf;
	size_t flen, fcap;
	size_t foff[MAX_FIELDS + 1];
	size_t nfields;
	int too_many, too_long, rec_done, in_record;
	unsigned long rec_line;
	/* The header. */
	int col[CSVIMP__COLUMNS]; /* field index, -1 if absent */
	char *headers;            /* header texts, NUL-separated */
	size_t hoff[MAX_FIELDS];
	size_t nheaders;
	size_t ignored[MAX_FIELDS];
	size_t nignored;
	/* Persons (and member ids) seen in earlier rows. */
	struct seen *seen;
	size_t nseen, seencap;
};

/* An entry of the table of persons seen: 16 bytes of the person hash (or
 * of a hash of the member id) and the line of the row. */
struct seen {
	uint8_t key[16];
	unsigned long line; /* 0: empty slot */
};

static void on_field(void *s, size_t len, void *data)
{
	csvimp *ci = data;
	if (ci->nfields >= MAX_FIELDS) {
		ci->too_many = 1;
		return;
	}
	if (len > MAX_FIELD_LEN) {
		ci->too_long = 1;
		len = 0;
	}
	if (ci->flen + len + 1 > ci->fcap) {
		size_t cap = ci->fcap ? ci->fcap : 1024;
		while (cap < ci->flen + len + 1)
			cap *= 2;
		char *nb = realloc(ci->fbuf, cap);
		if (!nb) {
			ci->too_long = 1; /* reported as a bad row, not a crash */
			return;
		}
		ci->fbuf = nb;
		ci->fcap = cap;
	}
	if (len)
		memcpy(ci->fbuf + ci->flen, s, len);
	ci->foff[ci->nfields++] = ci->flen;
	ci->flen += len;
	ci->fbuf[ci->flen++] = '\0';
}

static void on_record(int c, void *data)
{
	(void)c;
	csvimp *ci = data;
	ci->rec_done = 1;
}

static const char *field(const csvimp *ci, size_t i)
{
	return i < ci->nfields ? ci->fbuf + ci->foff[i] : "";
}

static size_t field_len(const csvimp *ci, size_t i)
{
	if (i >= ci->nfields)
		return 0;
	return (i + 1 < ci->nfields ? ci->foff[i + 1] : ci->flen) - ci->foff[i] - 1;
}

/* Reads the next record into fbuf/foff: 1, or 0 at the end. */
static int read_record(csvimp *ci)
{
	ci->nfields = ci->flen = 0;
	ci->too_many = ci->too_long = ci->rec_done = ci->in_record = 0;
	ci->rec_line = ci->line + 1;
	while (!ci->rec_done) {
		if (ci->pos >= ci->len) {
			if (ci->finished)
				return ci->nfields > 0;
			ci->finished = 1;
			csv_fini(&ci->p, on_field, on_record, ci);
			continue;
		}
		/* One line at a time (a CR LF pair, or a lone CR or LF, ends
		 * it), so each record's first line is known. */
		const char *s = ci->buf + ci->pos;
		size_t n = 0, left = ci->len - ci->pos;
		while (n < left && s[n] != '\n' && s[n] != '\r')
			n++;
		int blank = 1;
		for (size_t i = 0; i < n && blank; i++)
			blank = s[i] == ' ' || s[i] == '\t';
		if (n < left)
			n += (s[n] == '\r' && n + 1 < left && s[n + 1] == '\n') ? 2 : 1;
		ci->line++;
		if (!ci->in_record) {
			if (blank) {
				ci->pos += n;
				ci->rec_line = ci->line + 1;
				continue;
			}
			ci->in_record = 1;
			ci->rec_line = ci->line;
		}
		csv_parse(&ci->p, s, n, on_field, on_record, ci);
		ci->pos += n;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* Encodings                                                           */
/* ------------------------------------------------------------------ */

/* The length of the valid UTF-8 sequence at s (before end), or 0. */
static size_t utf8_seq(const unsigned char *s, const unsigned char *end)
{
	unsigned c = *s;
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned min;
	if (c >= 0xC2 && c <= 0xDF)
		n = 1, min = 0x80, c &= 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 2, min = 0x800, c &= 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 3, min = 0x10000, c &= 0x07;
	else
		return 0;
	if ((size_t)(end - s) <= n)
		return 0;
	for (size_t i = 1; i <= n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	return n + 1;
}

int csvimp_is_utf8(const void *data, size_t len)
{
	const unsigned char *s = data, *end = s + len;
	size_t n;
	for (; s < end; s += n)
		if (!(n = utf8_seq(s, end)))
			return 0;
	return 1;
}

/*
 * Is a file that is not valid UTF-8 UTF-8 with some bad bytes rather than
 * GB18030? Its valid multi-byte sequences are counted against the bytes
 * that start none: GB18030's Chinese text is almost all invalid as UTF-8
 * (two bytes a character, rarely a valid sequence by chance), so a file
 * with four times as many valid sequences as bad bytes is UTF-8 damaged in
 * a few places. Read as GB18030 instead, all its Chinese would turn into
 * other characters (its header unread, or its names recorded garbled).
 */
static int mostly_utf8(const void *data, size_t len)
{
	const unsigned char *s = data, *end = s + len;
	size_t multi = 0, bad = 0, n;
	while (s < end) {
		if (!(n = utf8_seq(s, end))) {
			bad++;
			s++;
			continue;
		}
		multi += n > 1;
		s += n;
	}
	return multi > 0 && multi >= 4 * bad;
}

/* in (len bytes) as UTF-8 in a new string, each byte that starts no
 * valid sequence replaced by U+FFFD (whose row then fails). NULL: out of
 * memory. */
static char *utf8_repair(const char *in, size_t len, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in, *end = s + len;
	size_t bad = 0, n;
	for (const unsigned char *p = s; p < end; p += n ? n : 1)
		bad += (n = utf8_seq(p, end)) == 0;
	char *out = malloc(len + 2 * bad + 1), *o = out;
	if (!out)
		return NULL;
	while (s < end) {
		if ((n = utf8_seq(s, end))) {
			memcpy(o, s, n);
			o += n, s += n;
		} else {
			memcpy(o, REPLACEMENT, 3);
			o += 3, s++;
		}
	}
	*o = '\0';
	*outlen = (size_t)(o - out);
	return out;
}

/* GB18030 (or another charset, whose code units are `unit` bytes) → UTF-8
 * with iconv; a unit that starts no valid sequence becomes U+FFFD (and makes
 * its row fail), so one bad cell costs one row. */
static int from_charset(const char *charset, size_t unit, const char *in, size_t len, char **out,
			size_t *outlen)
{
	iconv_t cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return -1;
	size_t cap = len * 2 + 16, used = 0;
	char *buf = malloc(cap);
	char *src = (char *)in;
	size_t srcleft = len;
	int rc = 0;
	while (buf && srcleft > 0) {
		char *dst = buf + used;
		size_t dstleft = cap - used - 1;
		size_t r = iconv(cd, &src, &srcleft, &dst, &dstleft);
		used = (size_t)(dst - buf);
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = -1;
				break;
			}
			buf = nb;
			cap *= 2;
		} else { /* EILSEQ, or EINVAL: a sequence cut short at the end */
			if (cap - used < 8) {
				char *nb = realloc(buf, cap * 2);
				if (!nb) {
					rc = -1;
					break;
				}
				buf = nb;
				cap *= 2;
			}
			memcpy(buf + used, REPLACEMENT, 3);
			used += 3;
			size_t skip = srcleft < unit ? srcleft : unit;
			src += skip;
			srcleft -= skip;
		}
	}
	iconv_close(cd);
	if (!buf || rc) {
		free(buf);
		return -1;
	}
	buf[used] = '\0';
	*out = buf;
	*outlen = used;
	return 0;
}

/* UTF-8 → GB18030 for the report of a GB18030 file. */
static char *to_gb18030(const char *in, size_t len, size_t *outlen)
{
	iconv_t cd = iconv_open("GB18030", "UTF-8");
	if (cd == (iconv_t)-1)
		return NULL;
	size_t cap = len * 2 + 16;
	char *buf = malloc(cap), *src = (char *)in, *dst = buf;
	size_t srcleft = len, dstleft = cap;
	if (buf && iconv(cd, &src, &srcleft, &dst, &dstleft) == (size_t)-1) {
		free(buf);
		buf = NULL;
	}
	iconv_close(cd);
	if (buf)
		*outlen = cap - dstleft;
	return buf;
}

/* ------------------------------------------------------------------ */
/* Opening: encoding, header                                           */
/* ------------------------------------------------------------------ */

/* Header text → comparable form: trimmed (ASCII blanks and U+3000), a
 * trailing '*' or '＊' dropped, ASCII lowercased, ' ' and '-' as '_'. */
static void norm_header(const char *s, char *out, size_t size)
{
	size_t n = 0;
	while (*s == ' ' || *s == '\t' || !strncmp(s, "\xE3\x80\x80", 3))
		s += *s == ' ' || *s == '\t' ? 1 : 3;
	for (; *s && n + 1 < size; s++) {
		char c = *s;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (c == ' ' || c == '-')
			c = '_';
		out[n++] = c;
	}
	out[n] = '\0';
	for (;;) {
		if (n && (out[n - 1] == '_' || out[n - 1] == '*' || out[n - 1] == '\t'))
			out[--n] = '\0';
		else if (n >= 3 && (!strcmp(out + n - 3, "\xEF\xBC\x8A") ||
				    !strcmp(out + n - 3, "\xE3\x80\x80")))
			out[n -= 3] = '\0';
		else
			break;
	}
}

static int read_header(csvimp *ci, ld_errinfo *e)
{
	for (int c = 0; c < CSVIMP__COLUMNS; c++)
		ci->col[c] = -1;
	if (!read_record(ci))
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), NULL, _("the file is empty: no header"));
	if (ci->too_many)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				      _("the header has more than %d columns"), MAX_FIELDS);
	ci->headers = malloc(ci->flen ? ci->flen : 1);
	if (!ci->headers)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
	memcpy(ci->headers, ci->fbuf, ci->flen);
	ci->nheaders = ci->nfields;
	memcpy(ci->hoff, ci->foff, ci->nfields * sizeof(size_t));
	for (size_t i = 0; i < ci->nheaders; i++) {
		char h[256];
		norm_header(ci->headers + ci->hoff[i], h, sizeof(h));
		int found = -1;
		for (int c = 0; c < CSVIMP__COLUMNS && found < 0; c++)
			for (int k = 0; k < 10 && col_names[c][k] && found < 0; k++)
				if (!strcmp(h, col_names[c][k]))
					found = c;
		if (found < 0) {
			if (h[0])
				ci->ignored[ci->nignored++] = i;
			continue;
		}
		if (ci->col[found] >= 0)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
					      _("columns '%s' and '%s' both give the %s"),
					      ci->headers + ci->hoff[ci->col[found]],
					      ci->headers + ci->hoff[i], col_names[found][0]);
		ci->col[found] = (int)i;
	}
	static const enum csvimp_column required[] = {CSVIMP_NAME, CSVIMP_NATIONAL_ID,
						      CSVIMP_WORKER_GROUP, CSVIMP_EMPLOYMENT};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (ci->col[required[i]] < 0)
			return ld_errinfo_set(e, LD_E(MISSING_FIELD), NULL,
					      _("no %s column (%s / %s)"), col_names[required[i]][0],
					      col_zh[required[i]], col_names[required[i]][0]);
	if (ci->col[CSVIMP_REGION] < 0 && !ci->o.region)
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), NULL,
				      _("no region column (地区 / region) and no default region"));
	if (ci->col[CSVIMP_JOIN_DATE] < 0 && !ci->o.has_default_date)
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), NULL,
				      _("no join date column (入会日期 / join_date) and no default "
				      "date"));
	return 0;
}

int csvimp_open(csvimp **out, const void *data, size_t len, const csvimp_options *o,
		ld_errinfo *e)
{
	*out = NULL;
	if (!o->org_id || !*o->org_id)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, _("an organisation is needed"));
	csvimp *ci = calloc(1, sizeof(*ci));
	if (!ci)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
	ci->o = *o;
	ci->org_id = strdup(o->org_id);
	ci->o.org_id = ci->org_id;
	int rc;
	if (!ci->org_id || csv_init(&ci->p, 0) != 0) {
		free(ci->org_id);
		free(ci);
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
	}
	const char *in = data;
	int bom = len >= 3 && !memcmp(in, "\xEF\xBB\xBF", 3);
	if (csvimp_is_utf8(in, len)) {
		ci->bom = bom;
		in += bom ? 3 : 0;
		len -= bom ? 3 : 0;
		ci->buf = malloc(len + 1);
		if (ci->buf) {
			memcpy(ci->buf, in, len);
			ci->buf[len] = '\0';
			ci->len = len;
		}
	} else if (bom || mostly_utf8(in, len)) {
		/* UTF-8 (its BOM says so, or most of it reads as UTF-8) with
		 * bytes that are not: those rows fail, the others are read as
		 * written. */
		ci->bom = bom;
		ci->bad_utf8 = 1;
		in += bom ? 3 : 0;
		len -= bom ? 3 : 0;
		ci->buf = utf8_repair(in, len, &ci->len);
		if (!ci->buf) {
			rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
			goto fail;
		}
	} else if (len >= 2 && (!memcmp(in, "\xFF\xFE", 2) || !memcmp(in, "\xFE\xFF", 2))) {
		/* UTF-16 with its BOM (Excel's "Unicode text", tab-separated):
		 * read as GB18030 it gave "no name column". */
		int le = in[0] == '\xFF';
		ci->utf16 = ci->bom = 1;
		if (from_charset(le ? "UTF-16LE" : "UTF-16BE", 2, in + 2, len - 2, &ci->buf,
				 &ci->len) != 0)
			ci->buf = NULL;
	} else {
		ci->gb18030 = 1;
		if (from_charset("GB18030", 1, in, len, &ci->buf, &ci->len) != 0)
			ci->buf = NULL;
	}
	if (!ci->buf) {
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL,
				    ci->utf16 ? _("unable to convert the file from UTF-16 (iconv)")
					      : _("unable to convert the file from GB18030 (iconv)"));
		goto fail;
	}
	/* A NUL byte in the first line: no CSV header has one, UTF-16 without
	 * its byte-order mark has one in every ASCII character (read as
	 * GB18030, it gave "no name column"). */
	const char *nl = memchr(ci->buf, '\n', ci->len);
	if (memchr(ci->buf, '\0', nl ? (size_t)(nl - ci->buf) : ci->len)) {
		rc = ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				    _("the header holds NUL bytes: is the file UTF-16 without its "
				      "byte-order mark? Save it as \"CSV UTF-8\" (or as UTF-16 "
				      "with its BOM, Excel's \"Unicode text\")"));
		goto fail;
	}
	/* A header with tabs and no commas: tab-separated. */
	size_t hl = strcspn(ci->buf, "\r\n");
	if (memchr(ci->buf, '\t', hl) && !memchr(ci->buf, ',', hl))
		csv_set_delim(&ci->p, CSV_TAB);
	if ((rc = read_header(ci, e)) != 0)
		goto fail;
	*out = ci;
	return 0;
fail:
	csvimp_free(ci);
	return rc;
}

void csvimp_free(csvimp *ci)
{
	if (!ci)
		return;
	csv_free(&ci->p);
	free(ci->buf);
	free(ci->fbuf);
	free(ci->headers);
	if (ci->seen) /* traces of the persons in the file */
		ld_wipe(ci->seen, ci->seencap * sizeof(*ci->seen));
	free(ci->seen);
	free(ci->org_id);
	free(ci);
}

const char *csvimp_encoding(const csvimp *ci)
{
	return ci->gb18030 ? "GB18030" : ci->utf16 ? "UTF-16" : "UTF-8";
}

double csvimp_progress(const csvimp *ci)
{
	return ci->len ? (double)ci->pos / (double)ci->len : 1.0;
}

const char *csvimp_header(const csvimp *ci, enum csvimp_column c)
{
	if ((int)c < 0 || c >= CSVIMP__COLUMNS || ci->col[c] < 0)
		return NULL;
	return ci->headers + ci->hoff[ci->col[c]];
}

const char *csvimp_ignored(const csvimp *ci, size_t i)
{
	return i < ci->nignored ? ci->headers + ci->hoff[ci->ignored[i]] : NULL;
}

const char *csvimp_column_of_field(const csvimp *ci, const char *f)
{
	if (!f)
		return NULL;
	const char *dot = strrchr(f, '.');
	if (dot)
		f = dot + 1;
	if (!strcmp(f, "person_hash")) /* the ledger's name for the person */
		f = col_field[CSVIMP_NATIONAL_ID];
	for (int c = 0; c < CSVIMP__COLUMNS; c++)
		if (!strcmp(f, col_field[c])) {
			/* A member id made from the person hash is the ID's doing. */
			if (c == CSVIMP_MEMBER_ID && ci->col[c] < 0)
				c = CSVIMP_NATIONAL_ID;
			return csvimp_header(ci, (enum csvimp_column)c);
		}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

__attribute__((format(printf, 4, 5))) static int row_fail(const csvimp *ci, csvimp_row *row,
							   int c, const char *fmt, ...)
{
	const char *h = c >= 0 ? csvimp_header(ci, (enum csvimp_column)c) : NULL;
	snprintf(row->column, sizeof(row->column), "%s", h ? h : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(row->reason, sizeof(row->reason), fmt, ap);
	va_end(ap);
	row->code = LD_E(INVALID_VALUE);
	return 0;
}

/* A cell that is no value of d: the row fails with fmt ("unknown ... '%s'
 * (expected one of: %s)"), the cell and what d accepts (its names, and in
 * Chinese mode their Chinese names, as join --help lists them). */
static int unknown_value(const csvimp *ci, csvimp_row *row, int c, const ProtobufCEnumDescriptor *d,
			 const char *fmt, const char *v)
{
	char names[1024];
	ldc_enum_list(d, names, sizeof(names));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	return row_fail(ci, row, c, fmt, v, names);
#pragma GCC diagnostic pop
}

/* The cell of column c in the current record, trimmed, with full-width
 * ASCII (Ａ-Ｚ, ０-９ …) and U+3000 made ASCII when ascii is set; into out.
 * "" when the column or the cell is absent. */
static void cell(const csvimp *ci, int c, int ascii, char *out, size_t size)
{
	const char *s = ci->col[c] >= 0 ? field(ci, (size_t)ci->col[c]) : "";
	size_t n = 0;
	while (*s && n + 1 < size) {
		const unsigned char *u = (const unsigned char *)s;
		if (ascii && u[0] == 0xEF && (u[1] == 0xBC || u[1] == 0xBD) && u[2]) {
			unsigned cp = ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
			if (cp >= 0xFF01 && cp <= 0xFF5E) {
				out[n++] = (char)(cp - 0xFF01 + 0x21);
				s += 3;
				continue;
			}
		}
		if (ascii && u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x80) {
			out[n++] = ' ';
			s += 3;
			continue;
		}
		out[n++] = *s++;
	}
	out[n] = '\0';
	size_t b = 0;
	while (out[b] == ' ' || out[b] == '\t')
		b++;
	while (n > b && (out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	memmove(out, out + b, n - b);
	out[n - b] = '\0';
}

/* The line of an earlier row with the same key, or 0 after adding it. */
static unsigned long seen_before(csvimp *ci, const uint8_t key[16], unsigned long line)
{
	if (ci->nseen * 2 >= ci->seencap) {
		size_t cap = ci->seencap ? ci->seencap * 2 : 4096;
		struct seen *t = calloc(cap, sizeof(*t));
		if (!t)
			return 0; /* no memory: the ledger still refuses a second join */
		for (size_t i = 0; i < ci->seencap; i++) {
			if (!ci->seen[i].line)
				continue;
			size_t h;
			memcpy(&h, ci->seen[i].key, sizeof(h));
			for (h &= cap - 1; t[h].line; h = (h + 1) & (cap - 1))
				;
			t[h] = ci->seen[i];
		}
		free(ci->seen);
		ci->seen = t;
		ci->seencap = cap;
	}
	size_t h;
	memcpy(&h, key, sizeof(h));
	for (h &= ci->seencap - 1; ci->seen[h].line; h = (h + 1) & (ci->seencap - 1))
		if (!memcmp(ci->seen[h].key, key, 16))
			return ci->seen[h].line;
	memcpy(ci->seen[h].key, key, 16);
	ci->seen[h].line = line;
	ci->nseen++;
	return 0;
}

/* Fills row from the current record. */
static void make_row(csvimp *ci, csvimp_row *row)
{
	char v[1024], phone[LD_PHONE_MAX + 1];
	ld_errinfo e;
	int iv, rc;

	if (ci->too_long)
		return (void)row_fail(ci, row, -1, _("a cell is longer than %d bytes"), MAX_FIELD_LEN);
	if (ci->too_many || ci->nfields > ci->nheaders) {
		for (size_t i = ci->nheaders; i < ci->nfields; i++)
			if (field_len(ci, i) || ci->too_many)
				return (void)row_fail(ci, row, -1,
						      _("the row has %s%zu cells; the header has %zu"),
						      ci->too_many ? _("more than ") : "",
						      ci->nfields, ci->nheaders);
	}
	/* What a U+FFFD in a cell stands for: bytes the file's encoding does
	 * not have (NULL: clean UTF-8, where it is a character written). */
	const char *undecodable = ci->gb18030  ? N_("bytes that are neither UTF-8 nor GB18030")
				  : ci->utf16    ? N_("bytes that are not UTF-16")
				  : ci->bad_utf8 ? N_("bytes that are not UTF-8 (the rest of the file is)")
						 : NULL;
	for (int c = 0; c < CSVIMP__COLUMNS; c++) {
		if (ci->col[c] < 0)
			continue;
		const char *f = field(ci, (size_t)ci->col[c]);
		if (undecodable && strstr(f, REPLACEMENT))
			return (void)row_fail(ci, row, c, "%s", _(undecodable));
		if (strlen(f) != field_len(ci, (size_t)ci->col[c]))
			return (void)row_fail(ci, row, c, _("a NUL byte in the cell"));
	}

	Ledger__MemberJoined *mj = &row->mj;
	ledger__member_joined__init(mj);
	ledger__event__init(&row->ev);

	cell(ci, CSVIMP_NAME, 0, v, sizeof(v));
	if (!*v)
		return (void)row_fail(ci, row, CSVIMP_NAME, _("name is empty (real-name registration)"));
	if (strlen(v) > 200)
		return (void)row_fail(ci, row, CSVIMP_NAME, _("name is longer than 200 bytes"));

	/* The ledger's own rules (proto/identity.h), here so that --check
	 * says what the ledger would; the ledger reads the ID again. */
	cell(ci, CSVIMP_NATIONAL_ID, 1, v, sizeof(v));
	rc = ld_national_id(v, ldc_now_us(), row->national_id, NULL, NULL, "national_id", &e);
	ld_wipe(v, sizeof(v));
	if (rc)
		return (void)row_fail(ci, row, CSVIMP_NATIONAL_ID, "%s", e.message);
	mj->national_id = row->national_id;
	mj->has_real_name = mj->real_name = 1;

	cell(ci, CSVIMP_PHONE, 1, v, sizeof(v));
	if (*v && ld_phone(v, phone, "phone", &e) != 0)
		return (void)row_fail(ci, row, CSVIMP_PHONE, "%s", e.message);

	cell(ci, CSVIMP_WORKER_GROUP, 1, v, sizeof(v));
	if (!*v)
		return (void)row_fail(ci, row, CSVIMP_WORKER_GROUP, _("worker group is empty"));
	if (ldc_enum_parse(&ledger__worker_group__descriptor, v, &iv) != 0)
		return (void)unknown_value(ci, row, CSVIMP_WORKER_GROUP,
					   &ledger__worker_group__descriptor,
					   _("unknown worker group '%s' (expected one of: %s)"), v);
	mj->has_worker_group = 1;
	mj->worker_group = (Ledger__WorkerGroup)iv;

	cell(ci, CSVIMP_EMPLOYMENT, 1, v, sizeof(v));
	if (!*v)
		return (void)row_fail(ci, row, CSVIMP_EMPLOYMENT, _("employment relation is empty"));
	if (ldc_enum_parse(&ledger__employment_relation__descriptor, v, &iv) != 0)
		return (void)unknown_value(ci, row, CSVIMP_EMPLOYMENT,
					   &ledger__employment_relation__descriptor,
					   _("unknown employment relation '%s' (expected one of: %s)"),
					   v);
	mj->has_employment = 1;
	mj->employment = (Ledger__EmploymentRelation)iv;

	cell(ci, CSVIMP_JOIN_PATH, 1, v, sizeof(v));
	mj->has_join_path = 1;
	if (*v) {
		if (ldc_enum_parse(&ledger__join_path__descriptor, v, &iv) != 0)
			return (void)unknown_value(ci, row, CSVIMP_JOIN_PATH,
						   &ledger__join_path__descriptor,
						   _("unknown join path '%s' (expected one of: %s)"), v);
		mj->join_path = (Ledger__JoinPath)iv;
	} else {
		mj->join_path = mj->employment == LEDGER__EMPLOYMENT_RELATION__EMPLOYED
					? LEDGER__JOIN_PATH__LABOUR_RELATION
				: mj->employment == LEDGER__EMPLOYMENT_RELATION__DISPATCHED_LABOUR
					? LEDGER__JOIN_PATH__DISPATCHED
					: LEDGER__JOIN_PATH__PLATFORM_WORK;
	}

	cell(ci, CSVIMP_CHANNEL, 1, v, sizeof(v));
	mj->has_channel = 1;
	mj->channel = LEDGER__JOIN_CHANNEL__COLLECTIVE_REGISTRATION;
	if (*v) {
		if (ldc_enum_parse(&ledger__join_channel__descriptor, v, &iv) != 0)
			return (void)unknown_value(ci, row, CSVIMP_CHANNEL,
						   &ledger__join_channel__descriptor,
						   _("unknown join channel '%s' (expected one of: %s)"), v);
		mj->channel = (Ledger__JoinChannel)iv;
	}

	cell(ci, CSVIMP_REGION, 1, v, sizeof(v));
	uint32_t region = ci->o.region;
	if (*v && (strlen(v) != 6 || ldc_parse_u32(v, &region) != 0 || region < 110000))
		return (void)row_fail(ci, row, CSVIMP_REGION,
				      _("region '%s' is not a 6-digit GB/T 2260 code"), v);
	if (!region)
		return (void)row_fail(ci, row, CSVIMP_REGION, _("region is empty"));
	mj->has_region = 1;
	mj->region = region;

	cell(ci, CSVIMP_PLATFORM, 0, v, sizeof(v));
	if (strlen(v) >= sizeof(row->platform))
		return (void)row_fail(ci, row, CSVIMP_PLATFORM, _("platform is longer than %zu bytes"),
				      sizeof(row->platform) - 1);
	memcpy(row->platform, v, strlen(v) + 1);
	mj->platform = *v ? row->platform : NULL;

	cell(ci, CSVIMP_JOIN_DATE, 1, v, sizeof(v));
	if (*v) {
		if (ldc_parse_clerk_time(v, &row->ev.occurred_at) != 0)
			return (void)row_fail(ci, row, CSVIMP_JOIN_DATE,
					      _("join date '%s' is not a date (2025-03-01, "
					      "2025/3/1, 2025年3月1日)"),
					      v);
	} else if (ci->o.has_default_date) {
		row->ev.occurred_at = ci->o.default_date;
	} else {
		return (void)row_fail(ci, row, CSVIMP_JOIN_DATE, _("join date is empty"));
	}
	row->ev.has_occurred_at = 1;

	cell(ci, CSVIMP_MEMBER_ID, 1, v, sizeof(v));
	if (*v) {
		size_t n = strlen(v);
		if (n > 64 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					"0123456789._:-") != n)
			return (void)row_fail(ci, row, CSVIMP_MEMBER_ID,
					      _("member id '%s' is not 1-64 of A-Z a-z 0-9 . _ : -"),
					      v);
		memcpy(row->member_id, v, n + 1);
	} else {
		row->member_id[0] = '\0'; /* the ledger gives P- and the person hash */
	}
	mj->member_id = row->member_id[0] ? row->member_id : NULL;
	mj->org_id = ci->org_id;

	/* One person, one row: with requests in flight side by side, which of
	 * two rows of one person the ledger took first would be chance. */
	uint8_t person[LD_EVENT_ID_LEN];
	char text[64];
	snprintf(text, sizeof(text), "csv-import:person:%s", row->national_id);
	ldc_derived_event_id(text, person);
	ld_wipe(text, sizeof(text));
	unsigned long first = seen_before(ci, person, row->line);
	if (first)
		return (void)row_fail(ci, row, CSVIMP_NATIONAL_ID,
				      _("the same person as row %lu (one row per person)"), first);
	if (ci->col[CSVIMP_MEMBER_ID] >= 0 && row->member_id[0]) {
		uint8_t k[LD_EVENT_ID_LEN];
		char t[80];
		snprintf(t, sizeof(t), "member:%s", row->member_id);
		ldc_derived_event_id(t, k);
		k[0] ^= 0x5a; /* apart from person hashes */
		if ((first = seen_before(ci, k, row->line)))
			return (void)row_fail(ci, row, CSVIMP_MEMBER_ID,
					      _("member id '%s' is also on row %lu"), row->member_id,
					      first);
	}

	/* No event id: the ledger derives it from the join it records, so
	 * that the same row sent again is a duplicate (PROTOCOL.md). */
	row->ev.body_case = LEDGER__EVENT__BODY_MEMBER_JOINED;
	row->ev.member_joined = mj;
}

void csvimp_row_fix(csvimp_row *row)
{
	if (row->code || row->ev.body_case != LEDGER__EVENT__BODY_MEMBER_JOINED)
		return;
	row->ev.member_joined = &row->mj;
	row->mj.member_id = row->member_id[0] ? row->member_id : NULL;
	row->mj.national_id = row->national_id;
	row->mj.platform = row->platform[0] ? row->platform : NULL;
}

int csvimp_next(csvimp *ci, csvimp_row *row)
{
	for (;;) {
		if (!read_record(ci))
			return 0;
		int empty = 1;
		for (size_t i = 0; i < ci->nfields && empty; i++)
			empty = field_len(ci, i) == 0;
		if (empty && !ci->too_long && !ci->too_many)
			continue;
		row->line = ci->rec_line;
		row->code = 0;
		row->column[0] = row->reason[0] = '\0';
		make_row(ci, row);
		return 1;
	}
}

/* ------------------------------------------------------------------ */
/* The report                                                          */
/* ------------------------------------------------------------------ */

static int add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap * 2 : 4096;
		while (c < *len + n + 1)
			c *= 2;
		char *nb = realloc(*buf, c);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	return 0;
}

/* A CSV cell: quoted when it holds a comma, quote or line break. */
static int add_cell(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);
	char tmp[2 * 512 + 3];
	if (n > 512)
		n = 512;
	size_t m = csv_write(tmp, sizeof(tmp), s, n);
	if (strcspn(s, ",\"\r\n") == strlen(s))
		return add(buf, len, cap, s, n);
	return add(buf, len, cap, tmp, m);
}

int csvimp_write_report(const csvimp *ci, const char *path, const csvimp_error *errs, size_t n,
			ld_errinfo *e)
{
	char *buf = NULL, num[32];
	size_t len = 0, cap = 0;
	/* TRANSLATORS: the header of an import's report of rejected rows: three
	 * CSV column names, comma-separated, no quotes or commas within them. */
	const char *head = _("row,column,reason");
	int bad = add(&buf, &len, &cap, head, strlen(head)) || add(&buf, &len, &cap, "\n", 1);
	for (size_t i = 0; i < n && !bad; i++) {
		int k = snprintf(num, sizeof(num), "%lu,", errs[i].line);
		bad |= add(&buf, &len, &cap, num, (size_t)k);
		bad |= add_cell(&buf, &len, &cap, errs[i].column);
		bad |= add(&buf, &len, &cap, ",", 1);
		bad |= add_cell(&buf, &len, &cap, errs[i].reason);
		bad |= add(&buf, &len, &cap, "\n", 1);
	}
	if (bad) {
		free(buf);
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
	}
	char *out = buf;
	size_t outlen = len;
	if (ci->gb18030 && !(out = to_gb18030(buf, len, &outlen))) {
		free(buf);
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL,
				      _("unable to convert the report to GB18030 (iconv)"));
	}
	FILE *f = fopen(path, "wb");
	int rc = 0;
	if (!f || (ci->bom && fwrite("\xEF\xBB\xBF", 1, 3, f) != 3) ||
	    fwrite(out, 1, outlen, f) != outlen) {
		rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, _("unable to write '%s': %s"), path,
				    strerror(errno));
	}
	if (f && fclose(f) != 0 && !rc)
		rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, _("unable to write '%s': %s"), path,
				    strerror(errno));
	if (out != buf)
		free(out);
	free(buf);
	return rc;
}
