/* identity.c — national ID and phone numbers. See identity.h for the rules. */
#include "identity.h"

#include <stdio.h>
#include <string.h>

#define READ_MAX 64 /* longer input is refused as too long before any rule */

/* The province-level codes of GB/T 2260, and 83: the first two digits of a
 * residence permit of a Taiwan resident (81 and 82 serve Hong Kong and
 * Macao residents' permits as well as the regions themselves). */
static const unsigned char provinces[] = {
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42,
    43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
};

int ld_province_code(unsigned p)
{
	for (size_t i = 0; i < sizeof(provinces); i++)
		if (provinces[i] == p)
			return 1;
	return 0;
}

/*
 * Copies `in` into out as ASCII where it can: the full-width forms
 * U+FF01-U+FF5E become their ASCII characters and U+3000 a blank; every
 * character in `drop` is left out. Other non-ASCII bytes are kept as they
 * are (the rules refuse them). Returns the length, or -1 if the result
 * would not fit.
 */
static int read_ascii(const char *in, const char *drop, char *out, size_t size)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = 0;
	/* The ASCII bytes of drop as bits: a strchr per byte cost 4% of NNG's
	 * CPU in a batch (every national ID is read twice). */
	uint64_t skip[2] = {0, 0};
	for (const unsigned char *d = (const unsigned char *)drop; *d; d++)
		if (*d < 0x80)
			skip[*d >> 6] |= (uint64_t)1 << (*d & 63);
	while (*s) {
		unsigned char c = *s;
		size_t len = 1;
		if (s[0] == 0xEF && (s[1] == 0xBC || s[1] == 0xBD) && s[2] >= 0x80 && s[2] <= 0xBF) {
			unsigned cp = 0xF000u | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
			if (cp >= 0xFF01 && cp <= 0xFF5E) {
				c = (unsigned char)(cp - 0xFF01 + 0x21);
				len = 3;
			}
		} else if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) {
			c = ' ';
			len = 3;
		}
		s += len;
		if (c < 0x80 && (skip[c >> 6] >> (c & 63) & 1))
			continue;
		if (n + 1 >= size)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return (int)n;
}

void ld_mask_id(const char *id, char *out, size_t size)
{
	size_t n = strlen(id);
	if (n < 12 || n > 24) { /* nothing to show safely, or too much */
		snprintf(out, size, "%.*s", (int)(n < 24 ? n : 24), "************************");
		return;
	}
	snprintf(out, size, "%.6s%.*s%s", id, (int)(n - 10), "**************", id + n - 4);
}

void ld_mask_phone(const char *phone, char *out, size_t size)
{
	size_t n = strlen(phone);
	if (n > 24)
		snprintf(out, size, "%.3s...%s", phone, phone + n - 4);
	else if (n >= 9)
		snprintf(out, size, "%.3s%.*s%s", phone, (int)(n - 7), "*****************", phone + n - 4);
	else if (n >= 3)
		snprintf(out, size, "%c%.*s%c", phone[0], (int)(n - 2), "*******", phone[n - 1]);
	else
		snprintf(out, size, "%s", phone);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_of(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_of(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* The ISO 7064 MOD 11-2 check character of 17 digits. */
static char check_char(const char *id)
{
	static const int weight[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	int sum = 0;
	for (int i = 0; i < 17; i++)
		sum += (id[i] - '0') * weight[i];
	return "10X98765432"[sum % 11];
}

void ld_national_id_make(uint32_t region, int y, int m, int d, unsigned seq,
			 char out[LD_NATIONAL_ID_LEN + 1])
{
	char id[32];
	snprintf(id, sizeof(id), "%06u%04u%02u%02u%03u", region % 1000000, (unsigned)y % 10000,
		 (unsigned)m % 100, (unsigned)d % 100, seq % 1000);
	memcpy(out, id, 17);
	out[17] = check_char(out);
	out[18] = '\0';
}

void ld_national_id_nth(uint64_t n, char out[LD_NATIONAL_ID_LEN + 1])
{
	int y, m, d;
	civil_of(days_of(1970, 1, 1) + (int64_t)(n / 1000 % 10000), &y, &m, &d);
	ld_national_id_make(320102, y, m, d, (unsigned)(n % 1000), out);
}

/* shown (40 bytes): the ID s masked, made the first time it is asked for. */
static const char *mask_once(const char *s, char *shown, int *masked)
{
	if (!*masked)
		ld_mask_id(s, shown, 40);
	*masked = 1;
	return shown;
}

int ld_national_id(const char *in, int64_t now_us, char out[LD_NATIONAL_ID_LEN + 1],
		   int *was15, char *out15, const char *field, ld_errinfo *e)
{
	char s[READ_MAX], shown[40];
	int n = read_ascii(in ? in : "", " \t\r\n", s, sizeof(s));
	if (was15)
		*was15 = 0;
	if (n < 0)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				      "national ID is longer than %d characters", READ_MAX - 1);
	if (n == 0)
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), field, "national ID is empty");
	if (s[n - 1] == 'x')
		s[n - 1] = 'X';
	int masked = 0; /* shown: the ID as read, masked, made for an error only */
	for (int i = 0; i < n; i++)
		if ((s[i] < '0' || s[i] > '9') && !(i == 17 && s[i] == 'X'))
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
					      "national ID %s has a character other than a digit "
					      "at position %d (only the 18th may be X)",
					      mask_once(s, shown, &masked), i + 1);
	if (n == 15) {
		/* A first-generation card: born in the 1900s, no check character. */
		if (was15)
			*was15 = 1;
		if (out15)
			memcpy(out15, s, 16);
		mask_once(s, shown, &masked); /* the ID as written */
		memmove(s + 8, s + 6, 10);
		s[6] = '1';
		s[7] = '9';
		s[17] = check_char(s);
		s[18] = '\0';
		n = 18;
	} else if (n != 18) {
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				      "national ID %s has %d characters; a citizen ID number has 18 "
				      "(15 on a first-generation card)",
				      mask_once(s, shown, &masked), n);
	}
	if (!ld_province_code((unsigned)digits(s, 2)))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				      "national ID %s starts with %.2s, which is no province code of "
				      "GB/T 2260 (11 Beijing ... 82 Macao)",
				      mask_once(s, shown, &masked), s);

	int y = digits(s + 6, 4), m = digits(s + 10, 2), d = digits(s + 12, 2), ty, tm, td;
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (m < 1 || m > 12)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				      "national ID %s holds no birth date: its month is %02d",
				      mask_once(s, shown, &masked), m);
	if (d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				      "national ID %s holds no birth date: month %02d has no day %02d%s",
				      mask_once(s, shown, &masked), m, d,
				      m == 2 && d == 29 ? " in that year" : "");
	/* Today in Beijing (UTC+8), the ledger's time zone. */
	int64_t secs = now_us / 1000000 + 8 * 3600;
	civil_of(secs / 86400 - (secs % 86400 < 0), &ty, &tm, &td);
	if (days_of(y, m, d) > days_of(ty, tm, td))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				      "national ID %s gives a birth date in the future",
				      mask_once(s, shown, &masked));
	int age = ty - y - (tm < m || (tm == m && td < d));
	if (age < LD_ID_MIN_AGE || age > LD_ID_MAX_AGE)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				      "national ID %s gives an age of %d; a member is %d to %d "
				      "(a mistyped year of birth?)",
				      mask_once(s, shown, &masked), age, LD_ID_MIN_AGE,
				      LD_ID_MAX_AGE);
	char want = check_char(s);
	if (s[17] != want)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				      "national ID %s fails its GB 11643 check: after these 17 digits "
				      "the 18th character would be %c, not %c (mistyped?)",
				      mask_once(s, shown, &masked), want, s[17]);
	memcpy(out, s, LD_NATIONAL_ID_LEN + 1);
	return 0;
}

int ld_phone(const char *in, char out[LD_PHONE_MAX + 1], const char *field, ld_errinfo *e)
{
	char s[READ_MAX], shown[40];
	int n = read_ascii(in ? in : "", " \t\r\n-()", s, sizeof(s));
	if (n < 0)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				      "phone is longer than %d characters", READ_MAX - 1);
	if (n == 0)
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), field, "phone is empty");
	const char *p = s;
	if (strncmp(p, "+86", 3) == 0)
		p += 3;
	else if (strncmp(p, "0086", 4) == 0)
		p += 4;
	n = (int)strlen(p);
	ld_mask_phone(s, shown, sizeof(shown));
	for (int i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
					      "phone %s has a character other than a digit, a blank, "
					      "'-' or parentheses (or a leading +86)",
					      shown);
	if (n == 11 && p[0] == '1' && p[1] >= '3' && p[1] <= '9') {
		memcpy(out, p, 12);
		return 0;
	}
	if (p[0] == '0' && n >= 3) {
		/* Area codes: 010 and 02X have three digits, the others four. */
		int area = p[1] == '1' || p[1] == '2' ? 3 : 4;
		int local = n - area;
		int ok = p[1] == '1' ? p[2] == '0' : p[1] >= '2';
		ok = ok && (area == 3 ? local == 8 : local == 7 || local == 8);
		ok = ok && p[area] >= '2';
		if (ok) {
			snprintf(out, LD_PHONE_MAX + 1, "%.*s-%s", area, p, p + area);
			return 0;
		}
	}
	return ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
			      "phone %s is neither a mobile number (11 digits: 1, then 3-9, ...) "
			      "nor a landline with its area code (010-62345678, 0512-6123456)",
			      shown);
}
