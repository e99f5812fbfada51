/*
 * test_csvimport.c — the CSV module of `ledgerctl import` without a daemon:
 * encoding detection and conversion, header names, Chinese labels, row
 * numbers across blank lines and multi-line cells, adversarial rows, what a
 * row sends (the national ID, no hash, no derived ids), and the report in
 * the input's encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "csvimport.h"
#include "testlib.h"

/* Valid resident IDs (check digits computed). */
#define ID1 "320102199001011232"
#define ID2 "320502198505120018"
#define ID3 "320106199512304569"

static csvimp *open_text(const char *text, const csvimp_options *o)
{
	csvimp_options def = {.org_id = "JS"};
	ld_errinfo e = {0};
	csvimp *ci = NULL;
	int rc = csvimp_open(&ci, text, strlen(text), o ? o : &def, &e);
	if (rc)
		fail_msg("csvimp_open: %s", e.message);
	return ci;
}

static int open_fails(const char *text, const csvimp_options *o, const char *want)
{
	csvimp_options def = {.org_id = "JS"};
	ld_errinfo e = {0};
	csvimp *ci = NULL;
	int rc = csvimp_open(&ci, text, strlen(text), o ? o : &def, &e);
	assert_null(ci);
	if (!strstr(e.message, want))
		fail_msg("message '%s' lacks '%s'", e.message, want);
	return rc;
}

/* Converts UTF-8 text to GB18030 (caller frees). */
static char *gb(const char *utf8, size_t *len)
{
	iconv_t cd = iconv_open("GB18030", "UTF-8");
	assert_true(cd != (iconv_t)-1);
	size_t n = strlen(utf8), cap = 2 * n + 16, left = cap;
	char *out = malloc(cap), *dst = out, *src = (char *)utf8;
	assert_true(iconv(cd, &src, &n, &dst, &left) != (size_t)-1);
	iconv_close(cd);
	*len = cap - left;
	return out;
}

/* The report csvimp_write_report makes of errs, read back into buf (at
 * most 512 bytes): its length. */
static size_t report_of(csvimp *ci, const csvimp_error *errs, size_t n, char buf[512])
{
	ld_errinfo e = {0};
	char path[] = "report-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(csvimp_write_report(ci, path, errs, n, &e), 0);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t got = fread(buf, 1, 512, f);
	fclose(f);
	unlink(path);
	return got;
}

static void test_utf8_detection(void **state)
{
	(void)state;
	assert_true(csvimp_is_utf8("plain ascii", 11));
	assert_true(csvimp_is_utf8("姓名,张三", strlen("姓名,张三")));
	assert_true(csvimp_is_utf8("\xF0\x9F\x98\x80", 4));      /* U+1F600 */
	assert_false(csvimp_is_utf8("\xC0\xAF", 2));             /* overlong '/' */
	assert_false(csvimp_is_utf8("\xED\xA0\x80", 3));         /* surrogate */
	assert_false(csvimp_is_utf8("\xF4\x90\x80\x80", 4));     /* > U+10FFFF */
	assert_false(csvimp_is_utf8("\xE5\xA7", 2));             /* cut short */
	assert_false(csvimp_is_utf8("\xD5\xC5\xC8\xFD", 4));     /* 张三 in GB18030 */
}

static void test_english_header_bom_and_defaults(void **state)
{
	(void)state;
	const char *text = "\xEF\xBB\xBF"
			   "Name *,National-ID,Worker Group,EMPLOYMENT,platform\r\n"
			   "Li Si," ID2 ",courier,employed,SF\r\n";
	csvimp_options o = {.org_id = "NJ", .region = 320100,
			    .has_default_date = 1, .default_date = 1735689600000000LL};
	csvimp *ci = open_text(text, &o);
	assert_string_equal(csvimp_encoding(ci), "UTF-8");
	assert_string_equal(csvimp_header(ci, CSVIMP_NAME), "Name *");
	assert_null(csvimp_header(ci, CSVIMP_REGION));
	csvimp_row row;
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	assert_int_equal(row.line, 2);
	const Ledger__MemberJoined *mj = row.ev.member_joined;
	assert_non_null(mj);
	assert_string_equal(mj->org_id, "NJ");
	assert_int_equal(mj->region, 320100);
	assert_int_equal(row.ev.occurred_at, 1735689600000000LL);
	assert_int_equal(mj->worker_group, LEDGER__WORKER_GROUP__COURIER);
	assert_int_equal(mj->join_path, LEDGER__JOIN_PATH__LABOUR_RELATION);
	assert_int_equal(mj->channel, LEDGER__JOIN_CHANNEL__COLLECTIVE_REGISTRATION);
	assert_string_equal(mj->platform, "SF");
	assert_true(mj->real_name);
	/* The national ID goes to the ledger, which hashes it and gives the
	 * member id and the event id: the row has neither hash nor key. */
	assert_string_equal(mj->national_id, ID2);
	assert_false(mj->has_person_hash);
	assert_null(mj->member_id);
	assert_false(row.ev.has_event_id);
	assert_int_equal(csvimp_next(ci, &row), 0);
	csvimp_free(ci);
}

/* UTC+8: how much earlier a Beijing date starts than the UTC one. */
#define BEIJING_US (8 * 3600 * 1000000LL)

static void test_chinese_labels_and_formats(void **state)
{
	assert_int_equal(ldc_tz_set("Asia/Shanghai"), 0);
	(void)state;
	const char *text =
		"姓名,身份证号,职业群体,用工关系,地区,入会日期,入会渠道,入会路径,会员编号\n"
		"张三," ID1 ",网约配送员,不完全劳动关系,320102,2025/3/1,流动窗口,,M-1\n"
		"李四," ID2 ",外卖骑手,劳务派遣,320502,2025年3月2日,沟通会现场,,\n"
		"王五,３２０１０６１９９５１２３０４５６９,家政服务员,个体,３２０１０６,20250303 8:05:09,"
		"入会仪式,平台就业,\n";
	csvimp *ci = open_text(text, NULL);
	csvimp_row row;
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	assert_string_equal(row.mj.member_id, "M-1");
	assert_int_equal(row.mj.worker_group, LEDGER__WORKER_GROUP__DELIVERY_RIDER);
	assert_int_equal(row.mj.employment, LEDGER__EMPLOYMENT_RELATION__PARTIAL);
	assert_int_equal(row.mj.join_path, LEDGER__JOIN_PATH__PLATFORM_WORK);
	assert_int_equal(row.mj.channel, LEDGER__JOIN_CHANNEL__MOBILE_WINDOW);
	/* Join dates are Beijing dates: 2025-03-01T00:00+08:00. */
	assert_int_equal(row.ev.occurred_at, 1740787200000000LL - BEIJING_US);
	assert_null(row.mj.platform);
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	assert_int_equal(row.mj.employment, LEDGER__EMPLOYMENT_RELATION__DISPATCHED_LABOUR);
	assert_int_equal(row.mj.join_path, LEDGER__JOIN_PATH__DISPATCHED);
	assert_int_equal(row.mj.channel, LEDGER__JOIN_CHANNEL__WORKER_MEETING);
	assert_int_equal(row.ev.occurred_at, 1740873600000000LL - BEIJING_US);
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	assert_int_equal(row.mj.region, 320106);
	assert_int_equal(row.mj.employment, LEDGER__EMPLOYMENT_RELATION__SELF_EMPLOYED);
	assert_int_equal(row.mj.join_path, LEDGER__JOIN_PATH__PLATFORM_WORK);
	assert_int_equal(row.mj.channel, LEDGER__JOIN_CHANNEL__CEREMONY);
	assert_int_equal(row.ev.occurred_at,
			 1740960000000000LL - BEIJING_US + (8 * 3600 + 5 * 60 + 9) * 1000000LL);
	/* Moving a row and fixing it keeps its event whole. */
	csvimp_row *moved = malloc(sizeof(*moved));
	memcpy(moved, &row, sizeof(row));
	memset(&row, 0xAB, sizeof(row));
	csvimp_row_fix(moved);
	assert_ptr_equal(moved->ev.member_joined, &moved->mj);
	assert_null(moved->mj.member_id);
	assert_ptr_equal(moved->mj.national_id, moved->national_id);
	assert_string_equal(moved->national_id, "320106199512304569"); /* full-width read */
	free(moved);
	assert_int_equal(csvimp_next(ci, &row), 0);
	csvimp_free(ci);
}

/* Row numbers are lines of the file, across blank lines, CR LF and cells
 * over several lines; all-empty rows are skipped. */
static void test_row_numbers(void **state)
{
	(void)state;
	const char *text = "\n"
			   "name,national_id,worker_group,employment,region,join_date\r\n"
			   "\r\n"
			   "\"A\nB\",bad,courier,employed,320102,2025-01-01\r\n"
			   ",,,,,\n"
			   "   \n"
			   "C," ID1 ",courier,employed,320102,2025-01-01\r"
			   "D," ID2 ",courier,employed,320102,2025-01-01";
	csvimp *ci = open_text(text, NULL);
	csvimp_row row;
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.line, 4);
	assert_int_not_equal(row.code, 0);
	assert_string_equal(row.column, "national_id");
	assert_string_equal(row.reason, "national ID *** has a character other than a digit at "
					"position 1 (only the 18th may be X)");
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.line, 8);
	assert_int_equal(row.code, 0);
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.line, 9);
	assert_int_equal(row.code, 0);
	assert_true(csvimp_progress(ci) == 1.0);
	assert_int_equal(csvimp_next(ci, &row), 0);
	assert_int_equal(csvimp_next(ci, &row), 0);
	csvimp_free(ci);
}

struct bad {
	const char *line;
	const char *column;
	const char *reason;
};

static void test_bad_rows(void **state)
{
	(void)state;
	static const struct bad bad[] = {
		/* The ledger's rules and words (proto/identity.h; test_identity). */
		{"A,320102199001011233,courier,employed,320102,2025-01-01,", "national_id",
		 "national ID 320102********1233 fails its GB 11643 check: after these 17 "
		 "digits the 18th character would be 2, not 3 (mistyped?)"},
		{"A,32010219900101123X,courier,employed,320102,2025-01-01,", "national_id",
		 "national ID 320102********123X fails its GB 11643 check: after these 17 "
		 "digits the 18th character would be 2, not X (mistyped?)"},
		{"A,3201021990010112,courier,employed,320102,2025-01-01,", "national_id",
		 "national ID 320102******0112 has 16 characters; a citizen ID number has 18 "
		 "(15 on a first-generation card)"},
		{"A,32010219900A011232,courier,employed,320102,2025-01-01,", "national_id",
		 "national ID 320102********1232 has a character other than a digit at "
		 "position 12 (only the 18th may be X)"},
		{"A,320102199002301231,courier,employed,320102,2025-01-01,", "national_id",
		 "national ID 320102********1231 holds no birth date: month 02 has no day 30"},
		{"A,320102199013011234,courier,employed,320102,2025-01-01,", "national_id",
		 "national ID 320102********1234 holds no birth date: its month is 13"},
		{"A,990102199001011234,courier,employed,320102,2025-01-01,", "national_id",
		 "national ID 990102********1234 starts with 99, which is no province code of "
		 "GB/T 2260 (11 Beijing ... 82 Macao)"},
		{"A,,courier,employed,320102,2025-01-01,", "national_id", "national ID is empty"},
		{"A," ID1 ",,employed,320102,2025-01-01,", "worker_group", "worker group is empty"},
		{"A," ID1 ",driver,employed,320102,2025-01-01,", "worker_group",
		 "unknown worker group 'driver' (expected one of: truck-driver, "
		 "ride-hailing-driver, courier, delivery-rider, live-streamer, care-worker, "
		 "domestic-worker, mall-information-worker, real-estate-agent, security-guard, "
		 "other-group)"},
		{"A," ID1 ",courier,boss,320102,2025-01-01,", "employment",
		 "unknown employment relation 'boss' (expected one of: employed, partial, "
		 "self-employed, dispatched-labour)"},
		{"A," ID1 ",courier,employed,3201021,2025-01-01,", "region",
		 "region '3201021' is not a 6-digit GB/T 2260 code"},
		{"A," ID1 ",courier,employed,,2025-01-01,", "region", "region is empty"},
		{"A," ID1 ",courier,employed,320102,,", "join_date", "join date is empty"},
		{"A," ID1 ",courier,employed,320102,01/03/2025,", "join_date",
		 "join date '01/03/2025' is not a date (2025-03-01, 2025/3/1, 2025年3月1日)"},
		{"A," ID1 ",courier,employed,320102,2025-01-01,x", "phone",
		 "phone x has a character other than a digit, a blank, '-' or parentheses (or a "
		 "leading +86)"},
		{"A," ID1 ",courier,employed,320102,2025-01-01,12345", "phone",
		 "phone 1***5 is neither a mobile number (11 digits: 1, then 3-9, ...) nor a "
		 "landline with its area code (010-62345678, 0512-6123456)"},
		{"A," ID1 ",courier,employed,320102,2025-01-01,,1", "",
		 "the row has 8 cells; the header has 7"},
		{" ," ID1 ",courier,employed,320102,2025-01-01,", "name",
		 "name is empty (real-name registration)"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text),
			 "name,national_id,worker_group,employment,region,join_date,phone\n%s\n",
			 bad[i].line);
		csvimp *ci = open_text(text, NULL);
		csvimp_row row;
		assert_int_equal(csvimp_next(ci, &row), 1);
		if (row.code == 0)
			fail_msg("row '%s' was accepted", bad[i].line);
		assert_string_equal(row.column, bad[i].column);
		assert_string_equal(row.reason, bad[i].reason);
		csvimp_free(ci);
	}
	/* Good variants of the same cells. */
	static const char *const good[] = {
		"A,32010219900101103x,courier,employed,320102,2025-01-01,+86 138-0000-0000",
		"A," ID1 ",courier,employed,320102,2025-01-01,025-84561234",
		"A," ID1 ",courier,employed,320102,2025-01-01",          /* fewer cells */
		"A," ID1 ",courier,employed,320102,2025-01-01,,",        /* extra empty cell */
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text),
			 "name,national_id,worker_group,employment,region,join_date,phone\n%s\n",
			 good[i]);
		csvimp *ci = open_text(text, NULL);
		csvimp_row row;
		assert_int_equal(csvimp_next(ci, &row), 1);
		if (row.code)
			fail_msg("row '%s': %s: %s", good[i], row.column, row.reason);
		csvimp_free(ci);
	}
}

/* Hostile files: an unterminated quote, a huge cell, hundreds of cells, a
 * NUL byte; each costs its row and no more. */
static void test_hostile(void **state)
{
	(void)state;
	const char *hdr = "name,national_id,worker_group,employment,region,join_date\n";
	char *text = malloc(64 * 1024);
	csvimp_row row;

	snprintf(text, 64 * 1024, "%sA," ID1 ",courier,employed,320102,2025-01-01\n"
				  "\"B," ID2 ",courier,employed,320102,2025-01-01\n", hdr);
	csvimp *ci = open_text(text, NULL);
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_not_equal(row.code, 0); /* one cell holding the rest */
	assert_int_equal(row.line, 3);
	assert_int_equal(csvimp_next(ci, &row), 0);
	csvimp_free(ci);

	size_t n = (size_t)snprintf(text, 64 * 1024, "%sA,", hdr);
	memset(text + n, 'x', 5000);
	snprintf(text + n + 5000, 64 * 1024 - n - 5000,
		 ",courier,employed,320102,2025-01-01\nC," ID3 ",courier,employed,320102,2025-01-01\n");
	ci = open_text(text, NULL);
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_string_equal(row.reason, "a cell is longer than 4096 bytes");
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	csvimp_free(ci);

	n = (size_t)snprintf(text, 64 * 1024, "%s", hdr);
	for (int i = 0; i < 300; i++)
		text[n++] = ',';
	snprintf(text + n, 64 * 1024 - n, "\nC," ID3 ",courier,employed,320102,2025-01-01\n");
	ci = open_text(text, NULL);
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_string_equal(row.reason, "the row has more than 256 cells; the header has 6");
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	csvimp_free(ci);

	static const char nul[] = "name,national_id,worker_group,employment,region,join_date\n"
				  "A\0B," ID1 ",courier,employed,320102,2025-01-01\n";
	csvimp_options o = {.org_id = "JS"};
	ld_errinfo e;
	assert_int_equal(csvimp_open(&ci, nul, sizeof(nul) - 1, &o, &e), 0);
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_string_equal(row.column, "name");
	assert_string_equal(row.reason, "a NUL byte in the cell");
	csvimp_free(ci);
	free(text);
}

/* A UTF-8 file with a byte that is not UTF-8 in one row (a file damaged
 * in one place, with or without a BOM, its header Chinese or English) is
 * still read as UTF-8: that row fails, naming the bytes, and the others are
 * read as written. Before, the whole file was read as GB18030: a Chinese
 * header was not found ("no name column"), and under an English one every
 * platform was recorded garbled ("美团" as "缇庡洟"). A GB18030 file is still
 * read as GB18030. */
static void test_damaged_utf8(void **state)
{
	(void)state;
	static const char *const files[] = {
		"name,national_id,worker_group,employment,region,join_date,platform\n"
		"张三," ID1 ",courier,employed,320102,2025-01-01,美团\n"
		"李\xff四," ID2 ",courier,employed,320102,2025-01-01,美团\n",
		"\xEF\xBB\xBFname,national_id,worker_group,employment,region,join_date,platform\n"
		"张三," ID1 ",courier,employed,320102,2025-01-01,美团\n"
		"李\xff四," ID2 ",courier,employed,320102,2025-01-01,美团\n",
		"姓名,身份证号,职业群体,用工关系,地区,入会日期,平台\n"
		"张三," ID1 ",快递员,劳动关系,320102,2025-01-01,美团\n"
		"李\xff四," ID2 ",快递员,劳动关系,320102,2025-01-01,美团\n",
		/* the BOM says UTF-8 even when little else is */
		"\xEF\xBB\xBFname,national_id,worker_group,employment,region,join_date,platform\n"
		"Zhang," ID1 ",courier,employed,320102,2025-01-01,Meituan\n"
		"Li\xff\xfe\x80," ID2 ",courier,employed,320102,2025-01-01,Meituan\n",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		csvimp *ci = open_text(files[i], NULL);
		csvimp_row row;
		assert_string_equal(csvimp_encoding(ci), "UTF-8");
		assert_int_equal(csvimp_next(ci, &row), 1);
		if (row.code)
			fail_msg("file %zu row 2: %s: %s", i, row.column, row.reason);
		assert_string_equal(row.mj.platform, i == 3 ? "Meituan" : "美团");
		assert_int_equal(csvimp_next(ci, &row), 1);
		assert_int_not_equal(row.code, 0);
		assert_int_equal(row.line, 3);
		assert_string_equal(row.reason, "bytes that are not UTF-8 (the rest of the file is)");
		assert_int_equal(csvimp_next(ci, &row), 0);
		csvimp_free(ci);
	}
	/* GB18030 with a byte that is neither */
	size_t gl;
	char *g = gb("姓名,身份证号,职业群体,用工关系,地区,入会日期,平台\n"
		     "张三," ID1 ",快递员,劳动关系,320102,2025-01-01,美团\n"
		     "李四," ID2 ",快递员,劳动关系,320102,2025-02-01,美团\n",
		     &gl);
	char *text = malloc(gl + 1);
	memcpy(text, g, gl);
	text[gl - 11] = (char)0xff; /* the last row's date: 2025-\xff2-01 */
	text[gl] = '\0';
	csvimp_options o = {.org_id = "JS"};
	ld_errinfo e;
	csvimp *ci = NULL;
	assert_int_equal(csvimp_open(&ci, text, gl, &o, &e), 0);
	assert_string_equal(csvimp_encoding(ci), "GB18030");
	csvimp_row row;
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	assert_string_equal(row.mj.platform, "美团");
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_string_equal(row.reason, "bytes that are neither UTF-8 nor GB18030");
	csvimp_free(ci);
	free(text);
	free(g);
}

/* UTF-16 with its BOM (Excel's "Unicode text": tab-separated), little- or
 * big-endian, is read as such: before, it was taken for GB18030 and refused
 * with "no name column". A unit that is not UTF-16 (a lone surrogate) costs
 * its row; the report is UTF-8 with a BOM. Without its BOM it is refused
 * saying it may be UTF-16 (a NUL byte in the header). */
static char *utf16(const char *utf8, const char *cs, size_t *len)
{
	iconv_t cd = iconv_open(cs, "UTF-8");
	assert_true(cd != (iconv_t)-1);
	size_t n = strlen(utf8), cap = 4 * n + 16, left = cap - 2;
	char *out = malloc(cap), *dst = out + 2, *src = (char *)utf8;
	int le = !strcmp(cs, "UTF-16LE");
	out[0] = le ? (char)0xFF : (char)0xFE;
	out[1] = le ? (char)0xFE : (char)0xFF;
	assert_true(iconv(cd, &src, &n, &dst, &left) != (size_t)-1);
	iconv_close(cd);
	*len = cap - left;
	return out;
}

static void test_utf16(void **state)
{
	(void)state;
	const char *text = "姓名\t身份证号\t职业群体\t用工关系\t地区\t入会日期\t平台\n"
			   "张三\t" ID1 "\t快递员\t劳动关系\t320102\t2025-01-01\t美团\n"
			   "李四\t" ID2 "\t快递员\t劳动关系\t320102\t2025-01-01\tXY\n";
	for (int be = 0; be < 2; be++) {
		size_t len;
		char *u = utf16(text, be ? "UTF-16BE" : "UTF-16LE", &len);
		/* without its byte-order mark: a clear refusal */
		csvimp_options o0 = {.org_id = "JS"};
		ld_errinfo e0;
		csvimp *c0 = NULL;
		assert_int_equal(csvimp_open(&c0, u + 2, len - 2, &o0, &e0), LD_E(INVALID_VALUE));
		assert_null(c0);
		assert_non_null(strstr(e0.message, "the header holds NUL bytes: is the file UTF-16"));
		/* the second row's platform "XY" becomes "X" and a lone surrogate */
		char *x = memmem(u, len, be ? "\0X\0Y" : "X\0Y\0", 4);
		assert_non_null(x);
		x[be ? 2 : 3] = (char)0xDC;
		x[be ? 3 : 2] = 0x00;
		csvimp_options o = {.org_id = "JS"};
		ld_errinfo e;
		csvimp *ci = NULL;
		if (csvimp_open(&ci, u, len, &o, &e) != 0)
			fail_msg("UTF-16%s: %s", be ? "BE" : "LE", e.message);
		assert_string_equal(csvimp_encoding(ci), "UTF-16");
		csvimp_row row;
		assert_int_equal(csvimp_next(ci, &row), 1);
		if (row.code)
			fail_msg("row 2: %s: %s", row.column, row.reason);
		assert_string_equal(row.mj.platform, "美团");
		assert_int_equal(csvimp_next(ci, &row), 1);
		assert_string_equal(row.column, "平台");
		assert_string_equal(row.reason, "bytes that are not UTF-16");
		assert_int_equal(csvimp_next(ci, &row), 0);
		csvimp_error errs[1] = {{3, "平台", "bytes that are not UTF-16"}};
		char buf[512];
		size_t n = report_of(ci, errs, 1, buf);
		const char want[] = "\xEF\xBB\xBFrow,column,reason\n3,平台,bytes that are not UTF-16\n";
		assert_int_equal(n, sizeof(want) - 1);
		assert_memory_equal(buf, want, n);
		csvimp_free(ci);
		free(u);
	}
}

static void test_headers_refused(void **state)
{
	(void)state;
	assert_int_equal(open_fails("", NULL, "no header"), LD_E(MISSING_FIELD));
	assert_int_equal(open_fails("\n\n  \n", NULL, "no header"), LD_E(MISSING_FIELD));
	assert_int_equal(open_fails("name,worker_group,employment,region,join_date\n", NULL,
				    "no national_id column (身份证号 / national_id)"),
			 LD_E(MISSING_FIELD));
	assert_int_equal(open_fails("name,national_id,worker_group,employment,join_date\n", NULL,
				    "no region column"),
			 LD_E(MISSING_FIELD));
	assert_int_equal(open_fails("name,national_id,worker_group,employment,region\n", NULL,
				    "no join date column"),
			 LD_E(MISSING_FIELD));
	assert_int_equal(open_fails("name,身份证号,national_id,worker_group,employment\n", NULL,
				    "columns '身份证号' and 'national_id' both give the national_id"),
			 LD_E(INVALID_VALUE));
	csvimp_options o = {.org_id = ""};
	assert_int_equal(open_fails("name\n", &o, "an organisation is needed"),
			 LD_E(INVALID_VALUE));
}

/* One row per person and per member id, whatever the dates. */
static void test_same_person_twice(void **state)
{
	(void)state;
	const char *text = "name,national_id,worker_group,employment,region,join_date,member_id\n"
			   "A," ID1 ",courier,employed,320102,2025-01-01,M1\n"
			   "B," ID2 ",courier,employed,320102,2025-01-01,M1\n"
			   "C,320102199001011233,courier,employed,320102,2025-01-01,M3\n"
			   "A2," ID1 ",courier,employed,320102,2025-02-01,M4\n"
			   "C," ID3 ",courier,employed,320102,2025-01-01,M5\n";
	csvimp *ci = open_text(text, NULL);
	csvimp_row row;
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_string_equal(row.column, "member_id");
	assert_string_equal(row.reason, "member id 'M1' is also on row 2");
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_string_equal(row.column, "national_id"); /* bad check digit */
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_string_equal(row.column, "national_id");
	assert_string_equal(row.reason, "the same person as row 2 (one row per person)");
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	csvimp_free(ci);
	/* Many persons: the table grows and still finds them. */
	size_t cap = 20000 * 80, n = 0;
	char *big = malloc(cap);
	n += (size_t)snprintf(big, cap, "name,national_id,worker_group,employment,region,join_date\n");
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	for (int i = 0; i < 10001; i++) {
		char id[19];
		snprintf(id, sizeof(id), "3201021990%07d", i % 10000);
		memcpy(id + 10, "0101", 4); /* born 1990-01-01 */
		int sum = 0;
		for (int k = 0; k < 17; k++)
			sum += (id[k] - '0') * w[k];
		id[17] = "10X98765432"[sum % 11];
		id[18] = '\0';
		n += (size_t)snprintf(big + n, cap - n, "P,%s,courier,employed,320102,2025-01-01\n",
				      id);
	}
	ci = open_text(big, NULL);
	size_t good = 0, dup = 0;
	while (csvimp_next(ci, &row) == 1) {
		good += row.code == 0;
		dup += row.code != 0 && strstr(row.reason, "the same person as row") != NULL;
	}
	csvimp_free(ci);
	free(big);
	assert_int_equal(dup, 10001 - good);
	assert_int_equal(good, 1000); /* ids differ in 3 digits: 1000 persons */
}

static void test_tabs_and_ignored(void **state)
{
	(void)state;
	const char *text = "姓名\t身份证号\t职业群体\t用工关系\t地区\t入会日期\t备注\t\n"
			   "张三\t" ID1 "\t快递员\t劳动关系\t320102\t2025-01-01\t,a,b\t\n";
	csvimp *ci = open_text(text, NULL);
	assert_string_equal(csvimp_ignored(ci, 0), "备注");
	assert_null(csvimp_ignored(ci, 1));
	csvimp_row row;
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	assert_string_equal(csvimp_column_of_field(ci, "member_joined.region"), "地区");
	assert_string_equal(csvimp_column_of_field(ci, "member_joined.person_hash"), "身份证号");
	assert_string_equal(csvimp_column_of_field(ci, "member_joined.national_id"), "身份证号");
	assert_string_equal(csvimp_column_of_field(ci, "member_joined.member_id"), "身份证号");
	assert_string_equal(csvimp_column_of_field(ci, "occurred_at"), "入会日期");
	assert_null(csvimp_column_of_field(ci, "member_joined.org_id"));
	assert_null(csvimp_column_of_field(ci, NULL));
	csvimp_free(ci);
}

static void test_gb18030_and_report(void **state)
{
	(void)state;
	size_t len;
	char *g = gb("姓名,身份证号,职业群体,用工关系,地区,入会日期,平台\n"
		     "张三," ID1 ",快递员,劳动关系,320102,2025-01-01,顺丰\n"
		     "李四," ID2 ",快递员,劳动关系,320102,2025-01-01,X\n",
		     &len);
	/* Make the last row's platform cell a byte GB18030 does not have. */
	assert_int_equal(g[len - 2], 'X');
	g[len - 2] = (char)0xFF;
	csvimp_options o = {.org_id = "JS"};
	ld_errinfo e = {0};
	csvimp *ci;
	assert_int_equal(csvimp_open(&ci, g, len, &o, &e), 0);
	assert_string_equal(csvimp_encoding(ci), "GB18030");
	assert_string_equal(csvimp_header(ci, CSVIMP_PLATFORM), "平台");
	csvimp_row row;
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_int_equal(row.code, 0);
	assert_string_equal(row.mj.platform, "顺丰");
	assert_int_equal(csvimp_next(ci, &row), 1);
	assert_string_equal(row.column, "平台");
	assert_string_equal(row.reason, "bytes that are neither UTF-8 nor GB18030");

	/* The report goes out in GB18030, cells quoted as CSV needs. */
	csvimp_error errs[2] = {{3, "平台", "bytes that are neither UTF-8 nor GB18030"},
				{4, "", "a \"quoted\", reason"}};
	char buf[512];
	size_t n = report_of(ci, errs, 2, buf);
	size_t wl;
	char *want = gb("row,column,reason\n3,平台,bytes that are neither UTF-8 nor GB18030\n"
			"4,,\"a \"\"quoted\"\", reason\"\n",
			&wl);
	assert_int_equal(n, wl);
	assert_memory_equal(buf, want, wl);
	free(want);
	assert_int_not_equal(csvimp_write_report(ci, "/nonexistent/dir/r.csv", errs, 2, &e), 0);
	assert_non_null(strstr(e.message, "/nonexistent/dir/r.csv"));
	csvimp_free(ci);
	free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_detection),
		cmocka_unit_test(test_english_header_bom_and_defaults),
		cmocka_unit_test(test_chinese_labels_and_formats),
		cmocka_unit_test(test_row_numbers),
		cmocka_unit_test(test_bad_rows),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_damaged_utf8),
		cmocka_unit_test(test_utf16),
		cmocka_unit_test(test_headers_refused),
		cmocka_unit_test(test_same_person_twice),
		cmocka_unit_test(test_tabs_and_ignored),
		cmocka_unit_test(test_gb18030_and_report),
	};
	return tl_run_tests(tests, NULL, NULL);
}
