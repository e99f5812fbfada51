/* digest.c — SHA-256 through OpenSSL (SHA-NI / AVX2 code paths where present), HMAC,
 * Ed25519, random secrets, AES-256-GCM and HKDF. See digest.h. */
#include "digest.h"

/* The SHA256_* calls are deprecated in OpenSSL 3 in favour of EVP, but they
 * need no allocation per digest and reach the same assembly; the writer
 * hashes every event, so we keep them. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

void ld_sha256_3(const void *a, size_t alen, const void *b, size_t blen, const void *c,
		 size_t clen, uint8_t out[LD_SHA256_LEN])
{
	SHA256_CTX ctx;
	SHA256_Init(&ctx);
	if (a)
		SHA256_Update(&ctx, a, alen);
	if (b)
		SHA256_Update(&ctx, b, blen);
	if (c)
		SHA256_Update(&ctx, c, clen);
	SHA256_Final(out, &ctx);
}

/* HMAC through OpenSSL 3's EVP_MAC. Keying a context (fetching the
 * algorithm, hashing the padded key) costs several times the MAC of a
 * national ID, and the one-shot HMAC() does it on every call (28% of a
 * batch's instructions when the server used it). So each thread keeps
 * keyed contexts of the last few keys and re-initialises one with its key
 * for each call (EVP_MAC_init without a key). bench/hmac.c, 18 bytes with a
 * 32-byte key, thread CPU per call: 214 ns, against 192 ns for the HMAC made
 * by hand on the SHA256_* calls that this replaced (1.11 times; A/B of the
 * two builds, 5 runs each, load 13 on 2 cores); a context duplicated per
 * call (EVP_MAC_CTX_dup) 530 ns, the one-shot HMAC() 1,190 ns. A key longer
 * than a block is not kept (no caller has one): it is keyed for the call. */
#define HMAC_BLOCK 64
#define HMAC_KEPT 4 /* keys a thread keeps a context for */

typedef struct hmac_slot {
	EVP_MAC_CTX *ctx;
	size_t keylen;
	uint8_t key[HMAC_BLOCK];
} hmac_slot;

typedef struct hmac_cache {
	hmac_slot slot[HMAC_KEPT];
	unsigned next; /* the slot replaced next */
} hmac_cache;

/* This thread's cache; the key only frees it when the thread ends. */
static _Thread_local hmac_cache *hmac_mine;
static pthread_key_t hmac_tls;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static int hmac_tls_ok;

static void hmac_cache_free(void *p)
{
	hmac_cache *c = p;
	for (int i = 0; i < HMAC_KEPT; i++)
		EVP_MAC_CTX_free(c->slot[i].ctx);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

static void hmac_tls_init(void)
{
	hmac_tls_ok = pthread_key_create(&hmac_tls, hmac_cache_free) == 0;
}

/* A context keyed with key, or NULL. */
static EVP_MAC_CTX *hmac_keyed(const void *key, size_t keylen)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			  OSSL_PARAM_construct_end()};
	EVP_MAC_free(mac);
	if (c && EVP_MAC_init(c, keylen ? key : (const void *)"", keylen, p) == 1)
		return c;
	EVP_MAC_CTX_free(c);
	return NULL;
}

/* This thread's context for key, ready for a message; NULL if the key is
 * not kept (too long, no memory): the caller keys one of its own. */
static EVP_MAC_CTX *hmac_kept(const void *key, size_t keylen)
{
	hmac_cache *c = hmac_mine;
	if (keylen > HMAC_BLOCK)
		return NULL;
	if (!c) {
		if (pthread_once(&hmac_once, hmac_tls_init) || !hmac_tls_ok ||
		    !(c = calloc(1, sizeof(*c))))
			return NULL;
		if (pthread_setspecific(hmac_tls, c)) {
			free(c);
			return NULL;
		}
		hmac_mine = c;
	}
	for (int i = 0; i < HMAC_KEPT; i++) {
		hmac_slot *s = &c->slot[i];
		if (s->ctx && s->keylen == keylen && memcmp(s->key, key, keylen) == 0)
			return EVP_MAC_init(s->ctx, NULL, 0, NULL) == 1 ? s->ctx : NULL;
	}
	hmac_slot *s = &c->slot[c->next];
	EVP_MAC_CTX *ctx = hmac_keyed(key, keylen);
	if (!ctx)
		return NULL;
	c->next = (c->next + 1) % HMAC_KEPT;
	EVP_MAC_CTX_free(s->ctx);
	s->ctx = ctx;
	s->keylen = keylen;
	memcpy(s->key, key, keylen);
	return ctx;
}

int ld_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
		   uint8_t out[LD_SHA256_LEN])
{
	EVP_MAC_CTX *kept = hmac_kept(key, keylen);
	EVP_MAC_CTX *c = kept ? kept : hmac_keyed(key, keylen);
	size_t len = 0;
	int ok = c && (!msglen || EVP_MAC_update(c, msg, msglen) == 1) &&
		 EVP_MAC_final(c, out, &len, LD_SHA256_LEN) == 1 && len == LD_SHA256_LEN;
	if (c != kept)
		EVP_MAC_CTX_free(c);
	return ok ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Ed25519                                                             */
/* ------------------------------------------------------------------ */

static int raw_keys(EVP_PKEY *k, uint8_t priv[LD_ED25519_KEY], uint8_t pub[LD_ED25519_KEY])
{
	size_t a = LD_ED25519_KEY, b = LD_ED25519_KEY;
	if (EVP_PKEY_get_raw_private_key(k, priv, &a) != 1 ||
	    EVP_PKEY_get_raw_public_key(k, pub, &b) != 1 || a != LD_ED25519_KEY ||
	    b != LD_ED25519_KEY)
		return -1;
	return 0;
}

int ld_ed25519_generate(uint8_t priv[LD_ED25519_KEY], uint8_t pub[LD_ED25519_KEY])
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	int rc = -1;
	if (ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &k) == 1)
		rc = raw_keys(k, priv, pub);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int ld_ed25519_sign(const uint8_t priv[LD_ED25519_KEY], const void *msg, size_t len,
		    uint8_t sig[LD_ED25519_SIG])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, LD_ED25519_KEY);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t slen = LD_ED25519_SIG;
	int rc = -1;
	if (k && md && EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(md, sig, &slen, msg, len) == 1 && slen == LD_ED25519_SIG)
		rc = 0;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return rc;
}

int ld_ed25519_verify(const uint8_t pub[LD_ED25519_KEY], const void *msg, size_t len,
		      const uint8_t sig[LD_ED25519_SIG])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, LD_ED25519_KEY);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = k && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestVerify(md, sig, LD_ED25519_SIG, msg, len) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return ok;
}

int ld_ed25519_load(const char *path, uint8_t priv[LD_ED25519_KEY], uint8_t pub[LD_ED25519_KEY],
		    char *err, size_t n)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, n, "unable to open key file '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || (st.st_mode & 077)) {
		snprintf(err, n, "key file '%s' may be read or written by others (mode %03o); "
				 "chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
		close(fd);
		return -1;
	}
	FILE *f = fdopen(fd, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	int rc = -1;
	if (!k)
		snprintf(err, n, "key file '%s' holds no PEM private key", path);
	else if (EVP_PKEY_id(k) != EVP_PKEY_ED25519)
		snprintf(err, n, "key file '%s' holds a key that is not Ed25519", path);
	else if ((rc = raw_keys(k, priv, pub)) != 0)
		snprintf(err, n, "unable to read the key in '%s'", path);
	EVP_PKEY_free(k);
	if (f)
		fclose(f);
	else
		close(fd);
	ERR_clear_error();
	return rc;
}

int ld_ed25519_create(const char *path, uint8_t priv[LD_ED25519_KEY],
		      uint8_t pub[LD_ED25519_KEY], char *err, size_t n)
{
	if (ld_ed25519_generate(priv, pub) != 0) {
		snprintf(err, n, "unable to generate an Ed25519 key");
		return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, n, "unable to create key file '%s': %s", path, strerror(errno));
		return -1;
	}
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, LD_ED25519_KEY);
	FILE *f = fdopen(fd, "w");
	int ok = k && f && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
	ok = (f ? fflush(f) == 0 && fsync(fileno(f)) == 0 : 0) && ok;
	if (f)
		ok = fclose(f) == 0 && ok;
	else
		close(fd);
	EVP_PKEY_free(k);
	ERR_clear_error();
	if (!ok) {
		snprintf(err, n, "unable to write key file '%s'", path);
		unlink(path);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Personal data: random bytes, raw secrets, AES-256-GCM               */
/* ------------------------------------------------------------------ */

int ld_random(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

void ld_wipe(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

int ld_secret_load(const char *path, uint8_t key[LD_SECRET_LEN], char *err, size_t n)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, n, "unable to open key file '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || (st.st_mode & 077)) {
		snprintf(err, n,
			 "key file '%s' may be read or written by others (mode %03o); chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
		close(fd);
		return -1;
	}
	ssize_t got = read(fd, key, LD_SECRET_LEN);
	uint8_t extra;
	int more = got == LD_SECRET_LEN && read(fd, &extra, 1) != 0;
	close(fd);
	if (got != LD_SECRET_LEN || more) {
		ld_wipe(key, LD_SECRET_LEN);
		snprintf(err, n, "key file '%s' is damaged: it must hold exactly %d bytes", path,
			 LD_SECRET_LEN);
		return -1;
	}
	return 0;
}

int ld_secret_create(const char *path, uint8_t key[LD_SECRET_LEN], char *err, size_t n)
{
	if (ld_random(key, LD_SECRET_LEN) != 0) {
		snprintf(err, n, "unable to draw a random key");
		return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, n, "unable to create key file '%s': %s", path, strerror(errno));
		return -1;
	}
	int ok = write(fd, key, LD_SECRET_LEN) == LD_SECRET_LEN && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (ok) { /* the directory entry too */
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	if (!ok) {
		snprintf(err, n, "unable to write key file '%s': %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

static int gcm(int enc, const uint8_t key[LD_SECRET_LEN], const uint8_t nonce[LD_SEAL_NONCE],
	       const void *ad, size_t adlen, const uint8_t *in, size_t len, uint8_t *out,
	       uint8_t tag[LD_SEAL_TAG])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int ok = 0, l = 0;
	if (!c || len > INT32_MAX || adlen > INT32_MAX)
		goto done;
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, LD_SEAL_NONCE, NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) != 1)
		goto done;
	if (ad && adlen && EVP_CipherUpdate(c, NULL, &l, ad, (int)adlen) != 1)
		goto done;
	if (len && EVP_CipherUpdate(c, out, &l, in, (int)len) != 1)
		goto done;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, LD_SEAL_TAG, tag) != 1)
		goto done;
	if (EVP_CipherFinal_ex(c, out + (len ? l : 0), &l) != 1)
		goto done;
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, LD_SEAL_TAG, tag) != 1)
		goto done;
	ok = 1;
done:
	EVP_CIPHER_CTX_free(c);
	ERR_clear_error();
	return ok ? 0 : -1;
}

int ld_seal(const uint8_t key[LD_SECRET_LEN], const void *ad, size_t adlen, const void *pt,
	    size_t len, uint8_t *out)
{
	if (ld_random(out, LD_SEAL_NONCE) != 0)
		return -1;
	return gcm(1, key, out, ad, adlen, pt, len, out + LD_SEAL_NONCE,
		   out + LD_SEAL_NONCE + len);
}

int ld_open(const uint8_t key[LD_SECRET_LEN], const void *ad, size_t adlen, const uint8_t *in,
	    size_t len, uint8_t *out)
{
	if (len < LD_SEAL_OVERHEAD)
		return -1;
	size_t n = len - LD_SEAL_OVERHEAD;
	uint8_t tag[LD_SEAL_TAG];
	memcpy(tag, in + LD_SEAL_NONCE + n, LD_SEAL_TAG);
	int rc = gcm(0, key, in, ad, adlen, in + LD_SEAL_NONCE, n, out, tag);
	if (rc)
		ld_wipe(out, n);
	return rc;
}

int ld_hkdf_sha256(const void *key, size_t keylen, const char *info, uint8_t *out,
		   size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, keylen),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
	    OSSL_PARAM_construct_end()};
	int ok = c && EVP_KDF_derive(c, out, outlen, p) == 1;
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(kdf);
	ERR_clear_error();
	return ok ? 0 : -1;
}
