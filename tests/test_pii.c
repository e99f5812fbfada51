/*
 * test_pii.c — the sealing of personal data (proto/digest.h) checked against
 * OpenSSL's AES-256-GCM directly, its failures (tampered bytes, another key,
 * another member id as associated data, too short), the secret files, and
 * that the canonical bytes (the hash) leave personal data in clear out.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seal_open),
	    cmocka_unit_test(test_secret_files),
	    cmocka_unit_test(test_hash_leaves_clear_data_out),
	};
	return tl_run_tests(tests, NULL, NULL);
}
