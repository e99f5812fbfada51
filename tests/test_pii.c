/*
 * test_pii.c — the sealing of personal data (proto/digest.h) checked against
 * OpenSSL's AES-256-GCM directly, its failures (tampered bytes, another key,
 * another member id as associated data, too short), the secret files,
 * that the canonical bytes (the hash) leave personal data in clear out, and
 * member keys across a cluster's nodes: HKDF (RFC 5869's test vector), the
 * wrapping under the cluster's KEK, a group's key section, keystore_adopt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "codec.h"
#include "digest.h"
#include "group.h"
#include "keystore.h"
#include "testlib.h"

static void test_seal_open(void **state)
{
	(void)state;
	uint8_t key[LD_SECRET_LEN], other[LD_SECRET_LEN];
	const char *msg = "张三 13800138000";
	size_t n = strlen(msg);
	uint8_t sealed[128], again[128], out[128];
	assert_int_equal(ld_random(key, sizeof(key)), 0);
	assert_int_equal(ld_random(other, sizeof(other)), 0);
	assert_int_equal(ld_seal(key, "M1", 2, msg, n, sealed), 0);
	assert_int_equal(ld_seal(key, "M1", 2, msg, n, again), 0);
	assert_memory_not_equal(sealed, again, n + LD_SEAL_OVERHEAD); /* fresh nonce */
	assert_int_equal(ld_open(key, "M1", 2, sealed, n + LD_SEAL_OVERHEAD, out), 0);
	assert_memory_equal(out, msg, n);

	/* Independently: OpenSSL's EVP with the nonce || ct || tag layout. */
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0, l2 = 0;
	uint8_t pt[128];
	assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, sealed), 1);
	assert_int_equal(EVP_DecryptUpdate(c, NULL, &l, (const uint8_t *)"M1", 2), 1);
	assert_int_equal(EVP_DecryptUpdate(c, pt, &l, sealed + LD_SEAL_NONCE, (int)n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, LD_SEAL_TAG,
					     sealed + LD_SEAL_NONCE + n),
			 1);
	assert_int_equal(EVP_DecryptFinal_ex(c, pt + l, &l2), 1);
	assert_int_equal(l + l2, (int)n);
	assert_memory_equal(pt, msg, n);
	EVP_CIPHER_CTX_free(c);

	/* Every failure is a failure. */
	assert_int_equal(ld_open(other, "M1", 2, sealed, n + LD_SEAL_OVERHEAD, out), -1);
	assert_int_equal(ld_open(key, "M2", 2, sealed, n + LD_SEAL_OVERHEAD, out), -1);
	for (size_t i = 0; i < n + LD_SEAL_OVERHEAD; i++) {
		sealed[i] ^= 1;
		assert_int_equal(ld_open(key, "M1", 2, sealed, n + LD_SEAL_OVERHEAD, out), -1);
		sealed[i] ^= 1;
	}
	assert_int_equal(ld_open(key, "M1", 2, sealed, LD_SEAL_OVERHEAD - 1, out), -1);
	/* Empty plaintext round-trips too. */
	assert_int_equal(ld_seal(key, NULL, 0, "", 0, sealed), 0);
	assert_int_equal(ld_open(key, NULL, 0, sealed, LD_SEAL_OVERHEAD, out), 0);
}

static void test_secret_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/ld-pii-XXXXXX", path[64], err[512];
	uint8_t a[LD_SECRET_LEN], b[LD_SECRET_LEN];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k", dir);
	assert_int_equal(ld_secret_load(path, a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unable to open"));
	assert_int_equal(ld_secret_create(path, a, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, LD_SECRET_LEN);
	assert_int_equal(ld_secret_create(path, b, err, sizeof(err)), -1); /* never over one */
	assert_int_equal(ld_secret_load(path, b, err, sizeof(err)), 0);
	assert_memory_equal(a, b, LD_SECRET_LEN);
	chmod(path, 0644);
	assert_int_equal(ld_secret_load(path, b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "chmod 600"));
	chmod(path, 0600);
	FILE *f = fopen(path, "a");
	fputc('x', f);
	fclose(f);
	assert_int_equal(ld_secret_load(path, b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "damaged"));
	unlink(path);
	rmdir(dir);
}

/* The hash of an event does not change when a read adds name and phone. */
static void test_hash_leaves_clear_data_out(void **state)
{
	(void)state;
	Ledger__Event ev = LEDGER__EVENT__INIT;
	Ledger__MemberJoined j = LEDGER__MEMBER_JOINED__INIT;
	uint8_t sealed[40] = {1, 2, 3}, h1[LD_HASH_LEN], h2[LD_HASH_LEN], h3[LD_HASH_LEN];
	j.member_id = "M1";
	j.org_id = "U1";
	j.has_personal = 1;
	j.personal.data = sealed;
	j.personal.len = sizeof(sealed);
	ev.has_seq = 1;
	ev.seq = 7;
	ev.body_case = LEDGER__EVENT__BODY_MEMBER_JOINED;
	ev.member_joined = &j;
	assert_int_equal(codec_event_hash(&ev, h1), 0);
	j.name = "Zhang";
	j.phone = "138";
	j.national_id = "32010219900101123X";
	assert_int_equal(codec_has_clear_personal(&ev), 1);
	assert_int_equal(codec_event_hash(&ev, h2), 0);
	assert_memory_equal(h1, h2, LD_HASH_LEN);
	assert_string_equal(j.name, "Zhang"); /* the event itself is unchanged */
	/* The sealed bytes are covered. */
	sealed[0] ^= 1;
	assert_int_equal(codec_event_hash(&ev, h3), 0);
	assert_memory_not_equal(h1, h3, LD_HASH_LEN);
}


/* RFC 5869 A.3: SHA-256, no salt, no info (the label is ""). */
static void test_hkdf_vector(void **state)
{
	(void)state;
	uint8_t ikm[22], okm[42];
	memset(ikm, 0x0b, sizeof(ikm));
	static const uint8_t want[42] = {
	    0x8d, 0xa4, 0xe7, 0x75, 0xa5, 0x63, 0xc1, 0x8f, 0x71, 0x5f, 0x80, 0x2a, 0x06, 0x3c,
	    0x5a, 0x31, 0xb8, 0xa1, 0x1f, 0x5c, 0x5e, 0xe1, 0x87, 0x9e, 0xc3, 0x45, 0x4e, 0x5f,
	    0x3c, 0x73, 0x8d, 0x2d, 0x9d, 0x20, 0x13, 0x95, 0xfa, 0xa4, 0xb6, 0x1a, 0x96, 0xc8};
	assert_int_equal(ld_hkdf_sha256(ikm, sizeof(ikm), "", okm, sizeof(okm)), 0);
	assert_memory_equal(okm, want, sizeof(want));
}

/* The KEK and fingerprint: the same secret, the same; another, others; the
 * fingerprint is not the KEK's first bytes. A wrapped key opens only with
 * the KEK, the group's first seq and the member id it was wrapped with, and
 * not once a bit of it changed. */
static void test_wrap_unwrap(void **state)
{
	(void)state;
	uint8_t s1[LD_SECRET_LEN], s2[LD_SECRET_LEN], kek1[LD_SECRET_LEN], kek1b[LD_SECRET_LEN],
	    kek2[LD_SECRET_LEN], key[LD_SECRET_LEN], out[LD_SECRET_LEN],
	    w[KEYSTORE_WRAPPED_LEN];
	char fp1[KEYSTORE_FINGERPRINT_LEN + 1], fp1b[sizeof(fp1)], fp2[sizeof(fp1)], hex[8];
	memset(s1, 1, sizeof(s1));
	memset(s2, 2, sizeof(s2));
	assert_int_equal(keystore_derive(s1, kek1, fp1), 0);
	assert_int_equal(keystore_derive(s1, kek1b, fp1b), 0);
	assert_int_equal(keystore_derive(s2, kek2, fp2), 0);
	assert_memory_equal(kek1, kek1b, LD_SECRET_LEN);
	assert_string_equal(fp1, fp1b);
	assert_int_equal(strlen(fp1), KEYSTORE_FINGERPRINT_LEN);
	assert_memory_not_equal(kek1, kek2, LD_SECRET_LEN);
	assert_string_not_equal(fp1, fp2);
	snprintf(hex, sizeof(hex), "%02x%02x%02x", kek1[0], kek1[1], kek1[2]);
	assert_memory_not_equal(hex, fp1, 6);
	assert_memory_not_equal(kek1, s1, LD_SECRET_LEN);

	assert_int_equal(ld_random(key, sizeof(key)), 0);
	assert_int_equal(keystore_key_wrap(kek1, 41, "M1", key, w), 0);
	assert_int_equal(keystore_key_unwrap(kek1, 41, "M1", w, out), 0);
	assert_memory_equal(out, key, LD_SECRET_LEN);
	assert_int_equal(keystore_key_unwrap(kek2, 41, "M1", w, out), LD_E(KEYSTORE));
	assert_int_equal(keystore_key_unwrap(kek1, 42, "M1", w, out), LD_E(KEYSTORE));
	assert_int_equal(keystore_key_unwrap(kek1, 41, "M2", w, out), LD_E(KEYSTORE));
	assert_int_equal(keystore_key_unwrap(kek1, 41, "M", w, out), LD_E(KEYSTORE));
	for (size_t i = 0; i < sizeof(w); i++) {
		w[i] ^= 0x40;
		assert_int_equal(keystore_key_unwrap(kek1, 41, "M1", w, out), LD_E(KEYSTORE));
		w[i] ^= 0x40;
	}
	assert_int_equal(keystore_key_unwrap(kek1, 41, "M1", w, out), 0);
	/* The key is not in the wrapped bytes. */
	assert_null(memmem(w, sizeof(w), key, 8));
}

/* A group of two events from seq 5 with key records for "M1" and "M22". */
static void make_group(group *g, const uint8_t kek[LD_SECRET_LEN], uint8_t k1[LD_SECRET_LEN],
		       uint8_t k2[LD_SECRET_LEN])
{
	uint8_t prev[LD_HASH_LEN] = {0}, w[KEYSTORE_WRAPPED_LEN], *bytes, *hash;
	ld_link l = {0};
	group_init(g);
	group_reset(g, 5, prev, 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(group_add(g, 3, &l, 0, 0, &bytes, &hash), 0);
		memcpy(bytes, "abc", 3);
		memset(hash, i + 1, LD_HASH_LEN);
	}
	assert_int_equal(keystore_key_wrap(kek, 5, "M1", k1, w), 0);
	assert_int_equal(group_add_key(g, "M1", w), 0);
	group_mark m = group_mark_at(g);
	assert_int_equal(group_add_key(g, "GONE", w), 0); /* rolled back below */
	group_truncate(g, m);
	assert_int_equal(keystore_key_wrap(kek, 5, "M22", k2, w), 0);
	assert_int_equal(group_add_key(g, "M22", w), 0);
	assert_true(group_has_key(g, "M1"));
	assert_false(group_has_key(g, "M2"));
	assert_false(group_has_key(g, "GONE"));
	assert_int_equal(group_add_key(g, "", w), LD_E(INVALID_VALUE));
	group_seal(g);
}

/*
 * The key section: read back in order, the events read as without it,
 * malformed sections refused, dropped whole by group_drop_keys (no byte of
 * a wrapped key left in the blob); a blob without keys has an empty
 * section.
 */
static void test_group_key_section(void **state)
{
	(void)state;
	uint8_t kek[LD_SECRET_LEN], k1[LD_SECRET_LEN], k2[LD_SECRET_LEN], out[LD_SECRET_LEN];
	group g, c;
	group_reader rd;
	group_key_reader kr;
	const uint8_t *b, *h, *w;
	const char *id;
	size_t n;
	int events = 0;
	memset(kek, 7, sizeof(kek));
	memset(k1, 0xa1, sizeof(k1));
	memset(k2, 0xa2, sizeof(k2));
	make_group(&g, kek, k1, k2);
	assert_int_equal(group_read_begin(&rd, g.buf, g.len), 0);
	assert_int_equal(rd.flags, GROUP_KEYS);
	while (group_read_next(&rd, &b, &n, &h) == 1)
		events++;
	assert_int_equal(events, 2);
	assert_int_equal(group_read_next(&rd, &b, &n, &h), 0);

	group_keys_begin(&kr, &g);
	assert_int_equal(kr.count, 2);
	assert_int_equal(kr.first, 5);
	assert_int_equal(group_key_next(&kr, &id, &w), 1);
	assert_string_equal(id, "M1");
	assert_int_equal(keystore_key_unwrap(kek, 5, id, w, out), 0);
	assert_memory_equal(out, k1, LD_SECRET_LEN);
	assert_int_equal(group_key_next(&kr, &id, &w), 1);
	assert_string_equal(id, "M22");
	assert_int_equal(keystore_key_unwrap(kek, 5, id, w, out), 0);
	assert_memory_equal(out, k2, LD_SECRET_LEN);
	assert_int_equal(group_key_next(&kr, &id, &w), 0);

	/* Malformed (refused by group_load, before group_keys_begin reads
	 * it): cut short, a byte more, an id without its NUL. */
	group_init(&c);
	assert_int_equal(group_load(&c, g.buf, g.len - 8), LD_E(INVALID_VALUE));
	assert_int_equal(group_load(&c, g.buf, g.len), 0);
	group_keys_begin(&kr, &c);
	assert_int_equal(kr.count, 2);
	uint8_t *more = malloc(g.len + 8);
	memcpy(more, g.buf, g.len);
	memset(more + g.len, 0, 8);
	assert_int_equal(group_load(&c, more, g.len + 8), LD_E(INVALID_VALUE));
	free(more);
	uint8_t *nul = g.buf + g.len - 8; /* "M22\0" and padding: the last record's id */
	assert_int_equal(memcmp(nul, "M22", 4), 0);
	nul[3] = 'x';
	assert_int_equal(group_load(&c, g.buf, g.len), LD_E(INVALID_VALUE));
	nul[3] = 0;

	/* What a node keeps: the events, no key. */
	assert_int_equal(group_load(&c, g.buf, g.len), 0);
	assert_int_equal(c.n, 2);
	group_drop_keys(&c);
	assert_true(c.len < g.len);
	assert_int_equal(group_read_begin(&rd, c.buf, c.len), 0);
	assert_int_equal(rd.flags, 0);
	group_keys_begin(&kr, &c);
	assert_int_equal(kr.count, 0);
	assert_int_equal(group_event(&c, 6, &b, &n), 0);
	group_keys_begin(&kr, &g);
	assert_int_equal(group_key_next(&kr, &id, &w), 1);
	assert_null(memmem(c.buf, c.len, w, 16));
	assert_null(memmem(c.buf, c.len, "M22", 3));
	group_free(&c);
	group_free(&g);
}

/* group_has_key looks at the newest 16 records, and forgets those a
 * request's rollback (group_truncate) took away, however many. */
static void test_group_has_key(void **state)
{
	(void)state;
	uint8_t prev[LD_HASH_LEN] = {0}, w[KEYSTORE_WRAPPED_LEN] = {0};
	char id[32];
	group g;
	group_init(&g);
	group_reset(&g, 1, prev, 0);
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "A%d", i);
		assert_int_equal(group_add_key(&g, id, w), 0);
	}
	assert_true(group_has_key(&g, "A19"));
	assert_true(group_has_key(&g, "A4"));
	assert_false(group_has_key(&g, "A3")); /* older than the newest 16 */
	group_mark m = group_mark_at(&g);
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "LONGER-ID-%d", i);
		assert_int_equal(group_add_key(&g, id, w), 0);
	}
	assert_true(group_has_key(&g, "LONGER-ID-39"));
	group_truncate(&g, m);
	assert_false(group_has_key(&g, "LONGER-ID-39"));
	assert_false(group_has_key(&g, "LONGER-ID-30"));
	assert_int_equal(group_add_key(&g, "B", w), 0);
	assert_int_equal(group_add_key(&g, "C", w), 0);
	assert_true(group_has_key(&g, "B"));
	assert_true(group_has_key(&g, "C"));
	assert_false(group_has_key(&g, "LONGER-ID-25"));
	assert_int_equal(g.nkeys, 22);
	group_reset(&g, 1, prev, 0);
	assert_false(group_has_key(&g, "C"));
	group_free(&g);
}

static void write_secret(const char *path, int fill)
{
	uint8_t s[LD_SECRET_LEN];
	memset(s, fill, sizeof(s));
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, sizeof(s), f), sizeof(s));
	fclose(f);
	chmod(path, 0600);
}

/*
 * keystore_adopt on a follower: the keys stored (synced) with the same
 * cluster key; with another, or none, or a tampered group, an error that
 * says why and nothing stored; a key already there kept (the same) or
 * replaced by the leader's.
 */
static void test_adopt(void **state)
{
	(void)state;
	tl_ledger l;
	keystore *k = NULL;
	ld_errinfo e = {0};
	char path[600], other[600];
	uint8_t kek[LD_SECRET_LEN], k1[LD_SECRET_LEN], k2[LD_SECRET_LEN], out[LD_SECRET_LEN];
	char fp[KEYSTORE_FINGERPRINT_LEN + 1];
	group g;
	tl_open(&l, 0);
	snprintf(path, sizeof(path), "%s/cluster.key", l.dir);
	snprintf(other, sizeof(other), "%s/other.key", l.dir);
	write_secret(path, 9);
	write_secret(other, 8);
	uint8_t s9[LD_SECRET_LEN];
	memset(s9, 9, sizeof(s9));
	assert_int_equal(keystore_derive(s9, kek, fp), 0);
	memset(k1, 0xb1, sizeof(k1));
	memset(k2, 0xb2, sizeof(k2));
	make_group(&g, kek, k1, k2);

	assert_int_equal(keystore_open(&k, l.dir, l.s, &e), 0);
	/* No cluster key here. */
	assert_int_equal(keystore_adopt(k, &g, &e), LD_E(KEYSTORE));
	assert_non_null(strstr(e.message, "this node has none"));
	assert_int_equal(keystore_count(k), 0);
	/* A key file others may read is refused. */
	chmod(other, 0644);
	memset(&e, 0, sizeof(e));
	assert_int_equal(keystore_cluster_key(k, other, &e), LD_E(KEYSTORE));
	assert_non_null(strstr(e.message, "chmod 600"));
	assert_false(keystore_clustered(k));
	chmod(other, 0600);
	/* Another cluster key: refused, nothing stored. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(keystore_cluster_key(k, other, &e), 0);
	assert_string_not_equal(keystore_fingerprint(k), fp);
	assert_int_equal(keystore_adopt(k, &g, &e), LD_E(KEYSTORE));
	assert_non_null(strstr(e.message, "does not open with this node's cluster key"));
	assert_int_equal(keystore_count(k), 0);
	keystore_close(k);

	assert_int_equal(keystore_open(&k, l.dir, l.s, &e), 0);
	assert_int_equal(keystore_cluster_key(k, path, &e), 0);
	assert_string_equal(keystore_fingerprint(k), fp);
	/* Tampered (a byte of the second wrapped key): nothing stored. */
	uint8_t *last = g.buf + g.len - 8 - KEYSTORE_WRAPPED_LEN;
	last[20] ^= 1;
	memset(&e, 0, sizeof(e));
	assert_int_equal(keystore_adopt(k, &g, &e), LD_E(KEYSTORE));
	assert_non_null(strstr(e.message, "member 'M22'"));
	assert_int_equal(keystore_count(k), 0);
	last[20] ^= 1;
	/* M22 holds another key here (a refused append's): the leader's wins. */
	assert_int_equal(keystore_get_or_create(k, "M22", out), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(keystore_adopt(k, &g, &e), 0);
	assert_int_equal(keystore_count(k), 2);
	assert_int_equal(keystore_get(k, "M1", out), 0);
	assert_memory_equal(out, k1, LD_SECRET_LEN);
	assert_int_equal(keystore_get(k, "M22", out), 0);
	assert_memory_equal(out, k2, LD_SECRET_LEN);
	/* Again (a replay): the same keys, nothing to write. */
	assert_int_equal(keystore_adopt(k, &g, &e), 0);
	/* The leader wraps what it holds. */
	uint8_t w[KEYSTORE_WRAPPED_LEN];
	assert_int_equal(keystore_wrap(k, 77, "M1", w), 0);
	assert_int_equal(keystore_key_unwrap(kek, 77, "M1", w, out), 0);
	assert_memory_equal(out, k1, LD_SECRET_LEN);
	assert_int_equal(keystore_wrap(k, 77, "NOBODY", w), LD_E(NOT_FOUND));
	/* Forgotten: no key to wrap. */
	assert_int_equal(keystore_destroy(k, "M1"), 0);
	assert_int_equal(keystore_wrap(k, 78, "M1", w), LD_E(NOT_FOUND));
	keystore_close(k);
	group_free(&g);
	tl_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seal_open),
	    cmocka_unit_test(test_secret_files),
	    cmocka_unit_test(test_hash_leaves_clear_data_out),
	    cmocka_unit_test(test_hkdf_vector),
	    cmocka_unit_test(test_wrap_unwrap),
	    cmocka_unit_test(test_group_key_section),
	    cmocka_unit_test(test_group_has_key),
	    cmocka_unit_test(test_adopt),
	};
	return tl_run_tests(tests, NULL, NULL);
}
