/*
 * digest.h — SHA-256 and HMAC-SHA-256, the only use of OpenSSL's libcrypto.
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

#endif
