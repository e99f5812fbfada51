/* csvimport.c — member lists (CSV, UTF-8 or GB18030) as MemberJoined events;
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
	[CSVIMP_NATIONAL_ID] = "person_hash",
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
	char *org_id, *id_key;
	int gb18030, bom;
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

int csvimp_is_utf8(const void *data, size_t len)
{
	const unsigned char *s = data, *end = s + len;
	while (s < end) {
		unsigned c = *s;
		if (c < 0x80) {
			s++;
			continue;
		}
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
		s += n + 1;
	}
	return 1;
}

/* GB18030 → UTF-8 with iconv; a byte that starts no valid sequence
 * becomes U+FFFD (and makes its row fail), so one bad cell costs one row. */
static int from_gb18030(const char *in, size_t len, char **out, size_t *outlen)
{
	iconv_t cd = iconv_open("UTF-8", "GB18030");
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
			src++;
			srcleft--;
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
	if (!o->org_id || !*o->org_id || !o->id_key || !*o->id_key)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				      _("an organisation and an id key are needed"));
	csvimp *ci = calloc(1, sizeof(*ci));
	if (!ci)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
	ci->o = *o;
	ci->org_id = strdup(o->org_id);
	ci->id_key = strdup(o->id_key);
	ci->o.org_id = ci->org_id;
	ci->o.id_key = ci->id_key;
	int rc;
	if (!ci->org_id || !ci->id_key || csv_init(&ci->p, 0) != 0) {
		free(ci->org_id);
		free(ci->id_key);
		free(ci);
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
	}
	const char *in = data;
	if (csvimp_is_utf8(in, len)) {
		if (len >= 3 && !memcmp(in, "\xEF\xBB\xBF", 3)) {
			ci->bom = 1;
			in += 3;
			len -= 3;
		}
		ci->buf = malloc(len + 1);
		if (ci->buf) {
			memcpy(ci->buf, in, len);
			ci->buf[len] = '\0';
			ci->len = len;
		}
	} else {
		ci->gb18030 = 1;
		if (from_gb18030(in, len, &ci->buf, &ci->len) != 0)
			ci->buf = NULL;
	}
	if (!ci->buf) {
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL,
				    _("unable to convert the file from GB18030 (iconv)"));
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
	free(ci->seen);
	free(ci->org_id);
	free(ci->id_key);
	free(ci);
}

const char *csvimp_encoding(const csvimp *ci)
{
	return ci->gb18030 ? "GB18030" : "UTF-8";
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

static int check_national_id(const char *id, char *why, size_t size)
{
	static const int weight[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char check[] = "10X98765432";
	size_t n = strlen(id);
	if (n != 18) {
		snprintf(why, size, _("national ID has %zu characters; a resident ID has 18"), n);
		return -1;
	}
	int sum = 0;
	for (int i = 0; i < 17; i++) {
		if (id[i] < '0' || id[i] > '9') {
			snprintf(why, size, _("national ID has a non-digit at position %d"), i + 1);
			return -1;
		}
		sum += (id[i] - '0') * weight[i];
	}
	char want = check[sum % 11], got = id[17] == 'x' ? 'X' : id[17];
	if (got != want) {
		snprintf(why, size, _("national ID check digit does not match (mistyped?)"));
		return -1;
	}
	int y = (id[6] - '0') * 1000 + (id[7] - '0') * 100 + (id[8] - '0') * 10 + (id[9] - '0');
	int m = (id[10] - '0') * 10 + (id[11] - '0'), d = (id[12] - '0') * 10 + (id[13] - '0');
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))) {
		snprintf(why, size, _("national ID holds no valid birth date"));
		return -1;
	}
	return 0;
}

/* A date as clerks write it: 2025-03-01, 2025/3/1, 2025.3.1, 2025年3月1日,
 * 20250301, optionally followed by a time " H:MM[:SS]" (Excel's export). */
static int parse_date(const char *s, int64_t *us)
{
	int y = 0, m = 0, d = 0, h = 0, mi = 0, sec = 0, n = 0;
	if (strspn(s, "0123456789") == 8 && (s[8] == '\0' || s[8] == ' ')) {
		y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
		m = (s[4] - '0') * 10 + (s[5] - '0');
		d = (s[6] - '0') * 10 + (s[7] - '0');
		s += 8;
	} else {
		const char *p = s;
		int *parts[3] = {&y, &m, &d};
		for (int i = 0; i < 3; i++) {
			int v = 0, digits = 0;
			while (*p >= '0' && *p <= '9' && digits < 5)
				v = v * 10 + (*p++ - '0'), digits++;
			if (!digits || (i == 0 && digits != 4) || (i > 0 && digits > 2))
				return -1;
			*parts[i] = v;
			if (i < 2) {
				if (*p == '-' || *p == '/' || *p == '.')
					p++;
				else if (!strncmp(p, i == 0 ? "年" : "月", 3))
					p += 3;
				else
					return -1;
			}
		}
		if (!strncmp(p, "日", 3))
			p += 3;
		s = p;
	}
	if (*s == ' ' || *s == 'T') {
		if (sscanf(s + 1, "%d:%d%n", &h, &mi, &n) != 2)
			return -1;
		s += 1 + n;
		if (*s == ':') {
			if (sscanf(s + 1, "%d%n", &sec, &n) != 1)
				return -1;
			s += 1 + n;
		}
	}
	if (*s)
		return -1;
	char iso[32];
	snprintf(iso, sizeof(iso), "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, h, mi, sec);
	return ldc_parse_time(iso, us) == 0 ? 0 : -1;
}

static int check_phone(const char *s)
{
	char d[32];
	size_t n = 0;
	if (!strncmp(s, "+86", 3))
		s += 3;
	else if (!strncmp(s, "0086", 4))
		s += 4;
	for (; *s; s++) {
		if (*s == ' ' || *s == '-')
			continue;
		if (*s < '0' || *s > '9' || n + 1 >= sizeof(d))
			return -1;
		d[n++] = *s;
	}
	d[n] = '\0';
	if (n == 11 && d[0] == '1')
		return 0; /* mobile */
	if (n >= 10 && n <= 12 && d[0] == '0')
		return 0; /* landline with area code */
	return -1;
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
	char v[1024], why[160];
	int iv;

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
	for (int c = 0; c < CSVIMP__COLUMNS; c++) {
		if (ci->col[c] < 0)
			continue;
		const char *f = field(ci, (size_t)ci->col[c]);
		if (strstr(f, REPLACEMENT) && ci->gb18030)
			return (void)row_fail(ci, row, c,
					      _("bytes that are neither UTF-8 nor GB18030"));
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

	cell(ci, CSVIMP_NATIONAL_ID, 1, v, sizeof(v));
	if (!*v)
		return (void)row_fail(ci, row, CSVIMP_NATIONAL_ID, _("national ID is empty"));
	if (check_national_id(v, why, sizeof(why)) != 0)
		return (void)row_fail(ci, row, CSVIMP_NATIONAL_ID, "%s", why);
	if (ldc_person_hash(ci->o.id_key, v, row->person_hash) != 0)
		return (void)row_fail(ci, row, CSVIMP_NATIONAL_ID, _("national ID cannot be hashed"));
	memset(v, 0, sizeof(v)); /* the ID in clear goes no further */
	mj->has_person_hash = 1;
	mj->person_hash.data = row->person_hash;
	mj->person_hash.len = LD_HASH_LEN;
	mj->has_real_name = mj->real_name = 1;

	cell(ci, CSVIMP_PHONE, 1, v, sizeof(v));
	if (*v && check_phone(v) != 0)
		return (void)row_fail(ci, row, CSVIMP_PHONE,
				      _("phone '%s' is neither an 11-digit mobile number nor a "
				      "landline with its area code"),
				      v);

	cell(ci, CSVIMP_WORKER_GROUP, 1, v, sizeof(v));
	if (!*v)
		return (void)row_fail(ci, row, CSVIMP_WORKER_GROUP, _("worker group is empty"));
	if (ldc_enum_parse(&ledger__worker_group__descriptor, v, &iv) != 0)
		return (void)row_fail(ci, row, CSVIMP_WORKER_GROUP, _("unknown worker group '%s'"), v);
	mj->has_worker_group = 1;
	mj->worker_group = (Ledger__WorkerGroup)iv;

	cell(ci, CSVIMP_EMPLOYMENT, 1, v, sizeof(v));
	if (!*v)
		return (void)row_fail(ci, row, CSVIMP_EMPLOYMENT, _("employment relation is empty"));
	if (ldc_enum_parse(&ledger__employment_relation__descriptor, v, &iv) != 0)
		return (void)row_fail(ci, row, CSVIMP_EMPLOYMENT,
				      _("unknown employment relation '%s'"), v);
	mj->has_employment = 1;
	mj->employment = (Ledger__EmploymentRelation)iv;

	cell(ci, CSVIMP_JOIN_PATH, 1, v, sizeof(v));
	mj->has_join_path = 1;
	if (*v) {
		if (ldc_enum_parse(&ledger__join_path__descriptor, v, &iv) != 0)
			return (void)row_fail(ci, row, CSVIMP_JOIN_PATH, _("unknown join path '%s'"),
					      v);
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
			return (void)row_fail(ci, row, CSVIMP_CHANNEL, _("unknown join channel '%s'"),
					      v);
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
		if (parse_date(v, &row->ev.occurred_at) != 0)
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
		char hex[17];
		ldc_format_hex(row->person_hash, 8, hex);
		snprintf(row->member_id, sizeof(row->member_id), "P-%s", hex);
	}
	mj->member_id = row->member_id;
	mj->org_id = ci->org_id;

	/* One person, one row: with requests in flight side by side, which of
	 * two rows of one person the ledger took first would be chance. */
	unsigned long first = seen_before(ci, row->person_hash, row->line);
	if (first)
		return (void)row_fail(ci, row, CSVIMP_NATIONAL_ID,
				      _("the same person as row %lu (one row per person)"), first);
	if (ci->col[CSVIMP_MEMBER_ID] >= 0) {
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

	char idtext[256];
	snprintf(idtext, sizeof(idtext), "csv-import:join:%s:%s:%lld", row->member_id,
		 ci->org_id, (long long)row->ev.occurred_at);
	ldc_derived_event_id(idtext, row->event_id);
	row->ev.has_event_id = 1;
	row->ev.event_id.data = row->event_id;
	row->ev.event_id.len = LD_EVENT_ID_LEN;
	row->ev.body_case = LEDGER__EVENT__BODY_MEMBER_JOINED;
	row->ev.member_joined = mj;
}

void csvimp_row_fix(csvimp_row *row)
{
	if (row->code || row->ev.body_case != LEDGER__EVENT__BODY_MEMBER_JOINED)
		return;
	row->ev.member_joined = &row->mj;
	row->ev.event_id.data = row->event_id;
	row->mj.member_id = row->member_id;
	row->mj.person_hash.data = row->person_hash;
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
	int bad = add(&buf, &len, &cap, "row,column,reason\n", 18);
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
