/*
 * compress.h — LZ4 block compression behind one file (liblz4, Debian
 * liblz4-dev): what raft's entries carry (core/replica.h, entry format 2).
 *
 * A block is LZ4's raw block format (no frame, no checksum: raft's segments
 * and the transport carry their own CRCs, and the decompressed events are
 * checked against the hash chain). Decompressing needs the exact size the
 * block decompresses to, which the caller stores beside it.
 */
#ifndef LD_COMPRESS_H
#define LD_COMPRESS_H

#include <stddef.h>

/* The most bytes ld_compress may take (and will accept) in one block. */
#define LD_COMPRESS_MAX ((size_t)1 << 30)

/* Room ld_compress needs to compress n bytes whatever they hold (n <=
 * LD_COMPRESS_MAX). */
size_t ld_compress_bound(size_t n);
/* Compresses src (n bytes, 1..LD_COMPRESS_MAX) into dst (cap bytes): the
 * block's length, or 0 when it does not fit in cap (pass cap < n to keep
 * only a block that saves something). */
size_t ld_compress(const void *src, size_t n, void *dst, size_t cap);
/* Decompresses the block src (n bytes) into dst, which it must fill
 * exactly (out bytes, <= LD_COMPRESS_MAX): 0, or LD_E(MALFORMED) for a
 * block that is not LZ4 or does not decompress to exactly out bytes
 * (nothing is read or written outside src and dst). */
int ld_decompress(const void *src, size_t n, void *dst, size_t out);

#endif
