/* compress.c — LZ4 blocks. See compress.h. */
#include "compress.h"

#include <lz4.h>

#include "error.h"

size_t ld_compress_bound(size_t n)
{
	return n > LD_COMPRESS_MAX ? 0 : (size_t)LZ4_compressBound((int)n);
}

size_t ld_compress(const void *src, size_t n, void *dst, size_t cap)
{
	if (n == 0 || n > LD_COMPRESS_MAX)
		return 0;
	if (cap > (size_t)LZ4_compressBound((int)n))
		cap = (size_t)LZ4_compressBound((int)n);
	int r = LZ4_compress_default(src, dst, (int)n, (int)cap);
	return r > 0 ? (size_t)r : 0;
}

int ld_decompress(const void *src, size_t n, void *dst, size_t out)
{
	if (n == 0 || n > (size_t)LZ4_compressBound(LZ4_MAX_INPUT_SIZE) || out > LD_COMPRESS_MAX)
		return LD_E(MALFORMED);
	int r = LZ4_decompress_safe(src, dst, (int)n, (int)out);
	return r >= 0 && (size_t)r == out ? 0 : LD_E(MALFORMED);
}
