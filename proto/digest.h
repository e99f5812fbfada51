/*
 * digest.h — SHA-256, HMAC-SHA-256 and Ed25519: the only use of OpenSSL's
 * libcrypto.
 */
#ifndef LD_DIGEST_H
#define LD_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define LD_SHA256_LEN 32

/* One-shot SHA-256 over up to three pieces (a NULL piece is skipped). */
void ld_sha256_3(const void *a, size_t alen, const void *b, size_t blen, const void *c,
		 size_t clen, uint8_t out[LD_SHA256_LEN]);

/* HMAC-SHA-256(key, msg) into out. Returns 0, or -1 if libcrypto fails. */
int ld_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
		   uint8_t out[LD_SHA256_LEN]);

/* Ed25519 (RFC 8032): 32-byte private seeds and public keys, 64-byte
 * signatures. */
#define LD_ED25519_KEY 32
#define LD_ED25519_SIG 64

/* A fresh key pair. Returns 0 or -1. */
int ld_ed25519_generate(uint8_t priv[LD_ED25519_KEY], uint8_t pub[LD_ED25519_KEY]);
/* Signs msg. Returns 0 or -1. */
int ld_ed25519_sign(const uint8_t priv[LD_ED25519_KEY], const void *msg, size_t len,
		    uint8_t sig[LD_ED25519_SIG]);
/* 1 if sig is pub's signature of msg, else 0. */
int ld_ed25519_verify(const uint8_t pub[LD_ED25519_KEY], const void *msg, size_t len,
		      const uint8_t sig[LD_ED25519_SIG]);

/*
 * A private key in a PEM file (PKCS#8, as `openssl genpkey -algorithm
 * ed25519` writes it). ld_ed25519_load reads path into priv/pub; it refuses a
 * file that others than its owner may read or write. ld_ed25519_create
 * writes a fresh key to a new file of mode 0600 (never over an existing one).
 * Both return 0, or -1 with err (size n) saying why, naming the file.
 */
int ld_ed25519_load(const char *path, uint8_t priv[LD_ED25519_KEY], uint8_t pub[LD_ED25519_KEY],
		    char *err, size_t n);
int ld_ed25519_create(const char *path, uint8_t priv[LD_ED25519_KEY],
		      uint8_t pub[LD_ED25519_KEY], char *err, size_t n);

/* ---- personal data: random keys, raw secret files, AES-256-GCM ---- */

#define LD_SECRET_LEN 32 /* keys of HMAC and AES-256-GCM */
#define LD_SEAL_NONCE 12
#define LD_SEAL_TAG   16
#define LD_SEAL_OVERHEAD (LD_SEAL_NONCE + LD_SEAL_TAG)

/* n bytes from the OS-seeded CSPRNG. 0 or -1. */
int ld_random(void *buf, size_t n);

/*
 * A raw 32-byte secret in a file of its own (mode 0600). ld_secret_load
 * refuses a file others may read or write, or of another size;
 * ld_secret_create writes a fresh random one to a new file (never over an
 * existing one) and syncs it and its directory. 0, or -1 with err.
 */
int ld_secret_load(const char *path, uint8_t key[LD_SECRET_LEN], char *err, size_t n);
int ld_secret_create(const char *path, uint8_t key[LD_SECRET_LEN], char *err, size_t n);

/*
 * AES-256-GCM. ld_seal writes nonce (12, random) || ciphertext (len) || tag
 * (16) = len + LD_SEAL_OVERHEAD bytes to out; ad (may be NULL) is
 * authenticated, not encrypted. ld_open reverses it into out (len -
 * LD_SEAL_OVERHEAD bytes). 0, or -1 (ld_open: too short, or the key, the ad
 * or the bytes are not the ones sealed).
 */
int ld_seal(const uint8_t key[LD_SECRET_LEN], const void *ad, size_t adlen, const void *pt,
	    size_t len, uint8_t *out);
int ld_open(const uint8_t key[LD_SECRET_LEN], const void *ad, size_t adlen, const uint8_t *in,
	    size_t len, uint8_t *out);

/* HKDF-SHA-256 (RFC 5869): outlen bytes derived from the secret key (keylen
 * bytes), no salt, info as the context (a NUL-terminated label). 0 or -1. */
int ld_hkdf_sha256(const void *key, size_t keylen, const char *info, uint8_t *out,
		   size_t outlen);

/* Zeroes n bytes in a way the compiler keeps. */
void ld_wipe(void *p, size_t n);

#endif
