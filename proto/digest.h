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

#endif
