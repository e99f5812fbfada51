/* digest.c — SHA-256 through OpenSSL (SHA-NI / AVX2 code paths where present). */
#include "digest.h"

/* The SHA256_* calls are deprecated in OpenSSL 3 in favour of EVP, but they
 * need no allocation per digest and reach the same assembly; the writer
 * hashes every event, so we keep them. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/hmac.h>
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

int ld_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
		   uint8_t out[LD_SHA256_LEN])
{
	unsigned int len = 0;
	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &len) || len != LD_SHA256_LEN)
		return -1;
	return 0;
}
