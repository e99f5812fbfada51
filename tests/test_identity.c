/*
 * test_identity.c — the one reading of national IDs and phone numbers
 * (proto/identity.h) that the server applies on every path and the importer
 * applies before sending: what is accepted and how it is written back, each
 * rule's error, and that no message ever shows a whole ID.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "identity.h"
#include "keystore.h"
#include "pii.h"
#include "testlib.h"

/* 2026-12-03T12:00:00Z, a fixed "now" for ages. */
#define NOW_US 1796299200000000LL

/* A reading of one kind: ld_national_id at NOW_US, or ld_phone; field "f". */
typedef int (*reading)(const char *in, char *out, ld_errinfo *e);

static int read_id(const char *in, char *out, ld_errinfo *e)
{
	return ld_national_id(in, NOW_US, out, NULL, NULL, "f", e);
}

static int read_phone(const char *in, char *out, ld_errinfo *e)
{
	return ld_phone(in, out, "f", e);
}

/* Accepted: in, and how it is written back. */
typedef struct accepted {
	const char *in, *out;
} accepted;

/* Refused: in, the code, and what the message holds. */
typedef struct refusal {
	const char *in;
	int code;
	const char *want;
} refusal;

#define CASES(t) (t), sizeof(t) / sizeof((t)[0])

static void expect_accepted(reading rd, const accepted *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char out[LD_NATIONAL_ID_LEN + LD_PHONE_MAX + 2];
		ld_errinfo e = {0};
		if (rd(c[i].in, out, &e) != 0)
			fail_msg("'%s' refused: %s", c[i].in, e.message);
		if (c[i].out && strcmp(out, c[i].out) != 0)
			fail_msg("'%s' read as '%s', wanted '%s'", c[i].in, out, c[i].out);
	}
}

static void expect_refused(reading rd, const refusal *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char out[LD_NATIONAL_ID_LEN + LD_PHONE_MAX + 2];
		ld_errinfo e = {0};
		int rc = rd(c[i].in, out, &e);
		if (rc != c[i].code)
			fail_msg("'%s': got %s (%s), wanted %s", c[i].in ? c[i].in : "(null)",
				 ld_errname(rc), e.message, ld_errname(c[i].code));
		assert_string_equal(e.field, "f");
		if (!strstr(e.message, c[i].want))
			fail_msg("'%s': message '%s' lacks '%s'", c[i].in ? c[i].in : "(null)",
				 e.message, c[i].want);
	}
}

/* An ID of the given birth, read as it is. */
static void id_made(uint32_t region, int year, int month, int day)
{
	char id[LD_NATIONAL_ID_LEN + 1];
	ld_national_id_make(region, year, month, day, 7, id);
	expect_accepted(read_id, &(accepted){id, id}, 1);
}

static void test_national_id_accepted(void **state)
{
	(void)state;
	static const accepted ids[] = {
	    {"320102199001011232", "320102199001011232"},
	    /* A lower-case x is X; blanks, tabs, U+3000 and full-width digits read. */
	    {"32010219900101111x", "32010219900101111X"},
	    {" 3201 0219 9001 0111 1X\t", "32010219900101111X"},
	    {"\xE3\x80\x80３２０１０６１９９５１２３０４５６９", "320106199512304569"},
	    {"３２０１０２１９９００１０１１１１ｘ", "32010219900101111X"},
	    /* Leap day in a leap year. */
	    {"320102200002290013", "320102200002290013"},
	};
	expect_accepted(read_id, CASES(ids));
	/* The age bounds' edges (born on this day). */
	id_made(110101, 2026 - LD_ID_MIN_AGE, 12, 3);
	id_made(110101, 2026 - LD_ID_MAX_AGE, 12, 3);
	/* A Taiwan resident's permit (83), Macao (82). */
	id_made(830000, 1990, 1, 1);
	id_made(820000, 1990, 1, 1);
}

/* A 15-digit first-generation number is the same person's 18-digit one. */
static void test_national_id_15(void **state)
{
	(void)state;
	char out[LD_NATIONAL_ID_LEN + 1], out15[16];
	int was15 = 0;
	ld_errinfo e = {0};
	assert_int_equal(ld_national_id("320102900101123", NOW_US, out, &was15, out15, "f", &e), 0);
	assert_true(was15);
	assert_string_equal(out15, "320102900101123");
	assert_string_equal(out, "320102199001011232");
	assert_int_equal(ld_national_id("320102199001011232", NOW_US, out, &was15, out15, "f", &e),
			 0);
	assert_false(was15);
	expect_refused(read_id, &(refusal){"320102901301123", LD_E(INVALID_VALUE), "its month is 13"},
		       1);
}

static void test_national_id_refused(void **state)
{
	(void)state;
	static const refusal ids[] = {
	    /* The README's old example: its check character is 2. */
	    {"320102199001011234", LD_E(INVALID_VALUE),
	     "national ID 320102********1234 fails its GB 11643 check: after these 17 digits the "
	     "18th character would be 2, not 4 (mistyped?)"},
	    {"320102199013011234", LD_E(INVALID_VALUE),
	     "national ID 320102********1234 holds no birth date: its month is 13"},
	    {"320102199000011234", LD_E(INVALID_VALUE), "its month is 00"},
	    /* A 15-digit number is shown as written, not as its 18 digits. */
	    {"320102901301123", LD_E(INVALID_VALUE),
	     "national ID 320102*****1123 holds no birth date: its month is 13"},
	    {"320102199002301231", LD_E(INVALID_VALUE), "month 02 has no day 30"},
	    {"320102199102291234", LD_E(INVALID_VALUE), "month 02 has no day 29 in that year"},
	    {"320102199004001234", LD_E(INVALID_VALUE), "month 04 has no day 00"},
	    {"990102199001011234", LD_E(INVALID_VALUE),
	     "starts with 99, which is no province code of GB/T 2260"},
	    {"000102199001011234", LD_E(INVALID_VALUE), "starts with 00"},
	    {"390102199001011234", LD_E(INVALID_VALUE), "starts with 39"},
	    {"320102202901011234", LD_E(INVALID_VALUE), "a birth date in the future"},
	    {"320102201501011234", LD_E(INVALID_VALUE), "an age of 11; a member is 16 to 120"},
	    {"320102188001011234", LD_E(INVALID_VALUE), "an age of 146"},
	    {"3201021990010112", LD_E(INVALID_VALUE),
	     "national ID 320102******0112 has 16 characters; a citizen ID number has 18"},
	    {"3201021990010112321", LD_E(INVALID_VALUE), "has 19 characters"},
	    {"12345", LD_E(INVALID_VALUE), "national ID ***** has 5 characters"},
	    {"32010219900A011232", LD_E(INVALID_VALUE),
	     "a character other than a digit at position 12 (only the 18th may be X)"},
	    {"3201021990010112X2", LD_E(INVALID_VALUE), "at position 17"},
	    {"320102199001011Y32", LD_E(INVALID_VALUE), "at position 16"},
	    {"", LD_E(MISSING_FIELD), "national ID is empty"},
	    {" \xE3\x80\x80\t", LD_E(MISSING_FIELD), "national ID is empty"},
	    {NULL, LD_E(MISSING_FIELD), "national ID is empty"},
	};
	expect_refused(read_id, CASES(ids));
	char lng[200];
	memset(lng, '1', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	expect_refused(read_id, &(refusal){lng, LD_E(INVALID_VALUE), "longer than 63 characters"}, 1);
}

/* Hostile input: no crash, and whatever the rule, the message never holds
 * the ID whole (nor its 17 digits). */
static void test_national_id_never_shown(void **state)
{
	(void)state;
	char id[LD_NATIONAL_ID_LEN + 1], in[64], out[LD_NATIONAL_ID_LEN + 1];
	unsigned long long x = 88172645463325252ULL;
	int nrefused = 0;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		ld_national_id_make((uint32_t)(x % 1000000), 1900 + (int)(x >> 20) % 140,
				    (int)(x >> 30) % 14, (int)(x >> 34) % 33, (unsigned)(x >> 40),
				    id);
		if (x >> 60 & 1)
			id[17] = (char)('0' + (x >> 50) % 10);
		snprintf(in, sizeof(in), "%s", id);
		if (x >> 61 & 1)
			in[(x >> 44) % 18] = "Xx- \x80\xff"[(x >> 8) % 6];
		ld_errinfo e = {0};
		if (ld_national_id(in, NOW_US, out, NULL, NULL, "f", &e) != 0) {
			nrefused++;
			char first17[18];
			memcpy(first17, in, 17);
			first17[17] = '\0';
			if (strstr(e.message, first17) || strstr(e.message, in))
				fail_msg("the message shows the ID: %s", e.message);
		} else {
			assert_int_equal(strlen(out), 18);
		}
	}
	assert_true(nrefused > 1000);
}

static void test_phones(void **state)
{
	(void)state;
	static const accepted phones[] = {
	    {"13812345678", "13812345678"},
	    {"138 1234 5678", "13812345678"},
	    {"+86 138-1234-5678", "13812345678"},
	    {"0086 19912345678", "19912345678"},
	    {"１３８１２３４５６７８", "13812345678"},
	    {"＋８６\xE3\x80\x80" "13812345678", "13812345678"},
	    {"010-62345678", "010-62345678"},
	    {"(025) 84201234", "025-84201234"},
	    {"０２５－８４２０１２３４", "025-84201234"},
	    {"0512-6123456", "0512-6123456"},
	    {"051261234567", "0512-61234567"},
	};
	expect_accepted(read_phone, CASES(phones));
	static const refusal bad[] = {
	    {"12345", LD_E(INVALID_VALUE), "phone 1***5 is neither a mobile number"},
	    {"12812345678", LD_E(INVALID_VALUE), "neither a mobile number"}, /* 1 then 2 */
	    {"1381234567", LD_E(INVALID_VALUE), "neither"},                  /* 10 digits */
	    {"138123456789", LD_E(INVALID_VALUE), "neither"},                /* 12 digits */
	    {"010-1234567", LD_E(INVALID_VALUE), "neither"},                 /* 010: 8 digits */
	    {"025-04201234", LD_E(INVALID_VALUE), "neither"},                /* local starts 0 */
	    {"0512-1234567", LD_E(INVALID_VALUE), "neither"},                /* local starts 1 */
	    {"0112345678", LD_E(INVALID_VALUE), "neither"},                  /* 011: no such code */
	    {"138a2345678", LD_E(INVALID_VALUE), "a character other than a digit"},
	    {"", LD_E(MISSING_FIELD), "phone is empty"},
	    {"+86", LD_E(INVALID_VALUE), "neither"},
	};
	expect_refused(read_phone, CASES(bad));
	/* The message shows three and four digits of a long phone, no more. */
	char out[LD_PHONE_MAX + 1];
	ld_errinfo e = {0};
	assert_int_not_equal(ld_phone("13812345678999", out, "f", &e), 0);
	assert_null(strstr(e.message, "13812345678999"));
	assert_non_null(strstr(e.message, "138*******8999"));
}

static void test_masks(void **state)
{
	(void)state;
	char m[40];
	ld_mask_id("320102199001011232", m, sizeof(m));
	assert_string_equal(m, "320102********1232");
	ld_mask_id("12345", m, sizeof(m));
	assert_string_equal(m, "*****");
	ld_mask_phone("13812345678", m, sizeof(m));
	assert_string_equal(m, "138****5678");
	/* Generated IDs are valid and distinct. */
	char a[LD_NATIONAL_ID_LEN + 1], b[LD_NATIONAL_ID_LEN + 1];
	for (uint64_t n = 0; n < 3000; n += 7) {
		ld_national_id_nth(n, a);
		ld_national_id_nth(n + 1, b);
		assert_string_not_equal(a, b);
		expect_accepted(read_id, &(accepted){a, a}, 1);
	}
}

static void write_file(const char *path, const char *text, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, (mode_t)mode), 0);
	close(fd);
}

/* What pii_prepare allocated (the server frees it with the request) moved
 * to the tests' arena. */
static void adopt(Ledger__Event *ev)
{
	Ledger__MemberJoined *j = ev->member_joined;
	void *p = j->person_hash.data;
	j->person_hash.data = memcpy(tl_alloc(LD_HASH_LEN), p, LD_HASH_LEN);
	free(p);
}

/* A join by national ID, prepared as the server does, then appended. It is
 * prepared twice, the second time with the hint a batch makes ahead
 * (pii_hint_make, which reads the ID for pii_prepare too): the same answer,
 * the same refusal and the same person. */
static int join_by_id(tl_ledger *l, keystore *k, const char *member, const char *id,
		      ld_errinfo *e)
{
	Ledger__Event *ev = tl_join(member, "NJ", 0), *ev2 = tl_join(member, "NJ", 0);
	ev->member_joined->national_id = strdup(id); /* pii_prepare frees it */
	ev2->member_joined->national_id = strdup(id);
	pii_hint hint;
	pii_hint_make(k, l->s, ev2, NOW_US, &hint);
	ld_errinfo e2 = {0};
	memset(e, 0, sizeof(*e));
	int rc = pii_prepare(k, l->s, ev, NOW_US, NULL, NULL, e);
	assert_int_equal(pii_prepare(k, l->s, ev2, NOW_US, &hint, NULL, &e2), rc);
	assert_string_equal(e2.message, e->message);
	if (rc == 0) {
		assert_memory_equal(ev2->member_joined->person_hash.data,
				    ev->member_joined->person_hash.data, LD_HASH_LEN);
		/* the ID read once, by the hint (pii_prepare took it from there) */
		assert_int_equal(hint.read, 1);
	}
	pii_hint_wipe(&hint);
	free(ev2->member_joined->person_hash.data);
	ev2->member_joined->person_hash.data = NULL;
	if (rc == 0) {
		adopt(ev);
		rc = tl_append(l, ev, NULL, e);
	}
	return rc;
}

/* A join of `member` whose person_hash an old client made with `key` from
 * the ID as typed. */
static void join_hashed_by_client(tl_ledger *l, const char *member, const char *key,
				  const char *id)
{
	Ledger__Event *ev = tl_join(member, "NJ", 0);
	Ledger__MemberJoined *j = ev->member_joined;
	j->national_id = NULL;
	j->has_person_hash = 1;
	j->person_hash.len = LD_HASH_LEN;
	j->person_hash.data = tl_alloc(LD_HASH_LEN);
	assert_int_equal(ld_hmac_sha256(key, strlen(key), id, strlen(id), j->person_hash.data), 0);
	ld_errinfo e = {0};
	if (tl_append(l, ev, NULL, &e) != 0)
		fail_msg("old join of %s: %s", member, e.message);
}

/*
 * A log begun before the server hashed every ID: joins are refused until
 * DATA/legacy-id-keys says with which keys clients hashed; then a person
 * the log holds under one of them (as an 18- or a 15-digit number) is that
 * person; a file others may read is refused; an empty one says none.
 */
static void test_legacy_keys(void **state)
{
	(void)state;
	tl_ledger l;
	keystore *k = NULL;
	ld_errinfo e = {0};
	char path[600];
	tl_open(&l, 0);
	tl_tree(&l);
	/* The keystore comes to a log that has events: an older one. */
	assert_int_equal(keystore_open(&k, l.dir, l.s, &e), 0);
	assert_true(keystore_legacy_unknown(k));
	assert_int_equal(join_by_id(&l, k, "M0", "320102199001011232", &e), LD_E(KEYSTORE));
	assert_string_equal(e.field, "member_joined.national_id");
	assert_non_null(strstr(e.message, "no join until DATA/legacy-id-keys lists those keys"));
	keystore_close(k);

	snprintf(path, sizeof(path), "%s/%s", l.dir, KEYSTORE_LEGACY_FILE);
	write_file(path, "# old clients\n\nold-key\r\nother\n", 0644);
	assert_int_equal(keystore_open(&k, l.dir, l.s, &e), LD_E(KEYSTORE));
	assert_non_null(strstr(e.message, "may be read or written by others; chmod 600 it"));
	write_file(path, "# old clients\n\nold-key\r\nother\n", 0600);
	assert_int_equal(keystore_open(&k, l.dir, l.s, &e), 0);
	assert_false(keystore_legacy_unknown(k));
	assert_int_equal(keystore_legacy_count(k), 2);

	/* Persons an old client recorded: with the second key, as typed (an
	 * 18-digit number with X, and a 15-digit one). */
	join_hashed_by_client(&l, "OLD1", "other", "32010219900101111X");
	join_hashed_by_client(&l, "OLD2", "old-key", "320106951230456");
	/* Joining now finds them, however the ID is typed. */
	assert_int_equal(join_by_id(&l, k, "NEW1", " 32010219900101111x", &e), LD_E(ALREADY_MEMBER));
	assert_non_null(strstr(e.message, "'OLD1'"));
	assert_int_equal(join_by_id(&l, k, "NEW2", "320106199512304569", &e), LD_E(ALREADY_MEMBER));
	assert_non_null(strstr(e.message, "'OLD2'"));
	assert_int_equal(join_by_id(&l, k, "NEW3", "320106951230456", &e), LD_E(ALREADY_MEMBER));
	assert_non_null(strstr(e.message, "'OLD2'"));
	/* A person an older server recorded with its own key as the 15-digit
	 * number typed (a hash a batch's hint makes ahead too, pii_hint). */
	Ledger__Event *old = tl_join("OLD3", "NJ", 0);
	old->member_joined->national_id = NULL;
	old->member_joined->has_person_hash = 1;
	old->member_joined->person_hash.len = LD_HASH_LEN;
	old->member_joined->person_hash.data = tl_alloc(LD_HASH_LEN);
	assert_int_equal(keystore_person_hash(k, "320104850101123", old->member_joined->person_hash.data),
			 0);
	if (tl_append(&l, old, NULL, &e) != 0)
		fail_msg("old join of OLD3: %s", e.message);
	assert_int_equal(join_by_id(&l, k, "NEW7", "320104198501011237", &e), LD_E(ALREADY_MEMBER));
	assert_non_null(strstr(e.message, "'OLD3'"));
	/* Someone else is new, with the server's own hash. */
	assert_int_equal(join_by_id(&l, k, "NEW4", "320102199001011232", &e), 0);
	assert_int_equal(join_by_id(&l, k, "NEW5", "320102199001011232", &e), LD_E(ALREADY_MEMBER));
	assert_non_null(strstr(e.message, "'NEW4'"));
	/* A member id left out: the ledger gives P- and the hash, and the
	 * event id too. */
	Ledger__Event *ev = tl_join("X", "NJ", 0);
	ev->member_joined->member_id = NULL;
	ev->has_event_id = 0;
	ev->member_joined->national_id = strdup("320102198001010059");
	assert_int_equal(pii_prepare(k, l.s, ev, NOW_US, NULL, NULL, &e), 0);
	assert_int_equal(strncmp(ev->member_joined->member_id, "P-", 2), 0);
	assert_int_equal(strlen(ev->member_joined->member_id), 18);
	assert_true(ev->has_event_id);
	assert_int_equal(ev->event_id.len, LD_EVENT_ID_LEN);
	adopt(ev);
	free(ev->member_joined->member_id);
	free(ev->event_id.data);
	keystore_close(k);

	/* An empty file: there were none. */
	write_file(path, "", 0600);
	assert_int_equal(keystore_open(&k, l.dir, l.s, &e), 0);
	assert_false(keystore_legacy_unknown(k));
	assert_int_equal(keystore_legacy_count(k), 0);
	assert_int_equal(join_by_id(&l, k, "NEW6", "320102198001010059", &e), 0);
	keystore_close(k);
	tl_close(&l);
}

/* An amendment of join seq whose corrected join gives `id` (NULL: none),
 * prepared as the server does, then appended; *seq gets its seq. */
static int amend_by_id(tl_ledger *l, keystore *k, uint64_t seq, const char *member,
		       const char *id, uint64_t *out, ld_errinfo *e)
{
	Ledger__Event *with = tl_join(member, "NJ-RIDER", 0);
	with->member_joined->national_id = id ? strdup(id) : NULL; /* pii_prepare frees it */
	Ledger__Event *ev = tl_amend(seq, with);
	memset(e, 0, sizeof(*e));
	int rc = pii_prepare(k, l->s, ev, NOW_US, NULL, NULL, e);
	if (rc == 0) {
		Ledger__MemberJoined *j = ev->event_amended->member_joined;
		void *p = j->person_hash.data;
		j->person_hash.data = memcpy(tl_alloc(LD_HASH_LEN), p, LD_HASH_LEN);
		free(p);
		rc = tl_append(l, ev, out, e);
	}
	return rc;
}

/*
 * A join amended with a national ID: the ID is read by the same rules as a
 * join's (its errors named under event_amended.member_joined), never kept
 * as written, and the person it gives is the member's from then on: the
 * person the join named first is free again, the one the amendment names is
 * taken, and an amendment cannot give a member a person another member is.
 */
static void test_amended_join_national_id(void **state)
{
	(void)state;
	tl_ledger l;
	keystore *k = NULL;
	ld_errinfo e = {0};
	uint64_t seq = 0;
	tl_open(&l, 0);
	assert_int_equal(keystore_open(&k, l.dir, l.s, &e), 0);
	tl_tree(&l);
	const char *A = "320102199001011232", *B = "32010219900101111X", *C = "320102198001010059";
	assert_int_equal(join_by_id(&l, k, "M1", A, &e), 0);
	uint64_t joined;
	writer_head(l.w, &joined, NULL, NULL);
	assert_int_equal(join_by_id(&l, k, "M2", C, &e), 0);

	/* The rules of a join's ID, under the amendment's field. */
	assert_int_equal(amend_by_id(&l, k, joined, "M1", "320102199001011234", &seq, &e),
			 LD_E(INVALID_VALUE));
	assert_string_equal(e.field, "event_amended.member_joined.national_id");
	assert_non_null(strstr(e.message, "fails its GB 11643 check"));
	assert_null(strstr(e.message, "320102199001011234"));
	assert_int_equal(amend_by_id(&l, k, joined, "M1", NULL, &seq, &e), LD_E(MISSING_FIELD));
	assert_string_equal(e.field, "event_amended.member_joined.national_id");

	/* Another member's person: refused as such a join is (the message
	 * names the member), under the amendment's field. */
	int rc = amend_by_id(&l, k, joined, "M1", C, &seq, &e);
	if (rc != LD_E(ALREADY_MEMBER) || !strstr(e.message, "already an active member as 'M2'") ||
	    strcmp(e.field, "event_amended.member_joined.person_hash") != 0)
		fail_msg("amended to M2's person: %s on '%s': %s", ld_errname(rc), e.field, e.message);

	/* Corrected to B (typed with a small x and blanks): recorded, hashed,
	 * the ID itself nowhere in the log. */
	assert_int_equal(amend_by_id(&l, k, joined, "M1", " 3201021990 0101111x", &seq, &e), 0);
	Ledger__Event *got = tl_get(&l, seq);
	assert_non_null(got);
	assert_null(got->event_amended->member_joined->national_id);
	assert_true(got->event_amended->member_joined->has_person_hash);
	uint8_t hb[LD_HASH_LEN];
	assert_int_equal(keystore_person_hash(k, B, hb), 0);
	assert_memory_equal(got->event_amended->member_joined->person_hash.data, hb, LD_HASH_LEN);
	codec_event_free(got);
	/* B is M1's now; A is nobody's. */
	assert_int_equal(join_by_id(&l, k, "M3", B, &e), LD_E(ALREADY_MEMBER));
	assert_non_null(strstr(e.message, "'M1'"));
	assert_int_equal(join_by_id(&l, k, "M4", A, &e), 0);
	keystore_close(k);
	tl_close(&l);
}

/* A log begun by this version needs no file. */
static void test_new_log_server_only(void **state)
{
	(void)state;
	tl_ledger l;
	keystore *k = NULL;
	ld_errinfo e = {0};
	tl_open(&l, 0);
	assert_int_equal(keystore_open(&k, l.dir, l.s, &e), 0);
	assert_false(keystore_legacy_unknown(k));
	tl_tree(&l);
	assert_int_equal(join_by_id(&l, k, "M1", "320102199001011232", &e), 0);
	/* A person_hash the ledger does not hold is refused; one it holds is
	 * taken (a rejoin). */
	Ledger__Event *ev = tl_join("M2", "NJ", 0);
	ev->member_joined->national_id = NULL;
	ev->member_joined->has_person_hash = 1;
	ev->member_joined->person_hash.len = LD_HASH_LEN;
	ev->member_joined->person_hash.data = tl_alloc(LD_HASH_LEN);
	assert_int_equal(pii_prepare(k, l.s, ev, NOW_US, NULL, NULL, &e), LD_E(INVALID_VALUE));
	assert_string_equal(e.field, "member_joined.person_hash");
	assert_int_equal(keystore_person_hash(k, "320102199001011232",
					      ev->member_joined->person_hash.data),
			 0);
	assert_int_equal(pii_prepare(k, l.s, ev, NOW_US, NULL, NULL, &e), 0);
	keystore_close(k);
	tl_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_national_id_accepted),
		cmocka_unit_test(test_national_id_15),
		cmocka_unit_test(test_national_id_refused),
		cmocka_unit_test(test_national_id_never_shown),
		cmocka_unit_test(test_phones),
		cmocka_unit_test(test_masks),
		cmocka_unit_test(test_legacy_keys),
		cmocka_unit_test(test_new_log_server_only),
		cmocka_unit_test(test_amended_join_national_id),
	};
	return tl_run_tests(tests, NULL, NULL);
}
