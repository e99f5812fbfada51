/* compress.c — LZ4 blocks. See compress.h. */
#include "compress.h"

#include <lz4.h>
#include <stdint.h>
#include <string.h>

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

/* LZ4's block format (lz4_Block_format.md, as liblz4 1.9.4's
 * LZ4_decompress_generic reads it): sequences of a token (the literals'
 * length in its high 4 bits, the match's less 4 in its low 4; 15 goes on
 * in bytes of 255 and one below), the literals, a 2-byte little-endian
 * offset back into the output and the match; the last sequence is literals
 * alone, ending the input and the output together. */
#define LZ4_MINMATCH 4
/* A sequence's literals end this far before the output's end, or it is the
 * last; a match ends LZ4_LASTLITERALS before it. */
#define LZ4_MFLIMIT      12
#define LZ4_LASTLITERALS 5

/* a[0..n) == b[0..n). Most runs are a few bytes: with 16 bytes readable
 * at both (room), one of up to 16 is two loads each and a mask, without
 * memcmp's call; a longer one is memcmp's (vectors). */
static inline int same(const uint8_t *a, const uint8_t *b, size_t n, int room)
{
	if (n > 16)
		return memcmp(a, b, n) == 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (room) {
		uint64_t a0, a1, b0, b1;
		memcpy(&a0, a, 8);
		memcpy(&b0, b, 8);
		memcpy(&a1, a + 8, 8);
		memcpy(&b1, b + 8, 8);
		uint64_t d0 = a0 ^ b0, d1 = a1 ^ b1;
		if (n < 8)
			d0 &= ((uint64_t)1 << (8 * n)) - 1, d1 = 0;
		else
			d1 &= n == 16 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * (n - 8))) - 1;
		return !(d0 | d1);
	}
#else
	(void)room;
#endif
	for (; n; n--)
		if (*a++ != *b++)
			return 0;
	return 1;
}

int ld_compressed_is(const void *src, size_t n, const void *want, size_t len)
{
	const uint8_t *s = src, *w = want;
	size_t i = 0, o = 0; /* read in s, checked in w */
	if (n == 0 || len == 0 || len > LD_COMPRESS_MAX)
		return 0;
	for (;;) {
		if (i >= n)
			return 0;
		unsigned token = s[i++], b;
		size_t lit = token >> 4, ml = token & 15;
		if (lit == 15) {
			/* liblz4 reads no length byte from n - 15 on */
			if (n < 16 || i >= n - 15)
				return 0;
			do {
				b = s[i++];
				lit += b;
				if (i > n - 15)
					return 0;
			} while (b == 255);
		}
		if (lit > n - i || lit > len - o ||
		    !same(s + i, w + o, lit, n - i >= 16 && len - o >= 16))
			return 0;
		i += lit;
		o += lit;
		if (i == n) /* the last sequence: the output whole */
			return o == len;
		/* Not the last: liblz4 must read it as not the last too (it
		 * takes a sequence whose literals come this near either end as
		 * the last, and refuses it unless it ends both). */
		if (len < LZ4_MFLIMIT || o > len - LZ4_MFLIMIT || n < 8 || i > n - 8)
			return 0;
		size_t off = (size_t)s[i] | (size_t)s[i + 1] << 8;
		i += 2;
		if (ml == 15)
			do {
				if (i >= n)
					return 0;
				b = s[i++];
				ml += b;
				if (i > n - (LZ4_LASTLITERALS - 1))
					return 0;
			} while (b == 255);
		ml += LZ4_MINMATCH;
		/* The match repeats the output from off bytes back, byte by byte
		 * (overlapping itself when off < ml): what is behind o is want,
		 * so the output goes on as want iff want repeats itself there. */
		if (off == 0 || off > o || ml > len - o || len - o - ml < LZ4_LASTLITERALS ||
		    !same(w + o - off, w + o, ml, len - o >= 16))
			return 0;
		o += ml;
	}
}
