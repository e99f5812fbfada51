/*
 * rfc6962.h — the Merkle tree of the log in the style of Certificate
 * Transparency (RFC 6962 §2.1), pure math shared by the daemon (which keeps
 * the tree, core/merkle.h) and the clients (which check its proofs).
 *
 *   leaf(n)        = SHA-256(0x00 || hash(n))   hash(n): event n's chain hash
 *   node(l, r)     = SHA-256(0x01 || l || r)
 *   MTH({})        = SHA-256("")
 *   MTH(D[0:n])    = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of
 *                    two below n
 *
 * Leaf i (0-based) is the event seq i+1, and a tree of size n holds seq 1..n.
 * A leaf is the event's chain hash, not its bytes: the hash already commits to
 * the event's canonical bytes, its seq and everything before it, and a client
 * that recomputes it from the event's content (codec_event_hash) gets the
 * leaf without the stored bytes. A client must recompute it: the hash a
 * server sends is only a claim.
 *
 * Trees are described by their complete subtrees: (start, level) is the
 * subtree of the 2^level leaves from leaf `start` (a multiple of 2^level).
 * Proofs are lists of subtree hashes, leaf side first, as RFC 6962 PATH and
 * PROOF define them; checking follows RFC 9162 §2.1.3.2 and §2.1.4.2.
 *
 * Errors follow proto/error.h.
 */
#ifndef LD_MERKLE_H
#define LD_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define LD_MERKLE_HASH      32
#define LD_MERKLE_MAX_PROOF 64 /* hashes in any proof of a tree below 2^63 */

/* The right edge of a tree: the complete subtrees whose sizes are the set
 * bits of `size`, largest (leftmost) first. Enough to append and to compute
 * the root. */
typedef struct ld_merkle_frontier {
	uint64_t size;
	unsigned n;
	uint8_t h[64][LD_MERKLE_HASH];
} ld_merkle_frontier;

void ld_merkle_leaf(const uint8_t event_hash[LD_MERKLE_HASH], uint8_t out[LD_MERKLE_HASH]);
void ld_merkle_node(const uint8_t l[LD_MERKLE_HASH], const uint8_t r[LD_MERKLE_HASH],
                    uint8_t out[LD_MERKLE_HASH]);

/* Called for every complete subtree an append completes: the leaf itself
 * (level 0), then each merge, in increasing level. Its start is
 * size_after - 2^level. A non-zero return stops and is returned. */
typedef int (*ld_merkle_emit_fn)(void *arg, uint64_t start, unsigned level,
                                 const uint8_t h[LD_MERKLE_HASH]);

/* Appends one leaf (already hashed with ld_merkle_leaf). emit may be NULL.
 * Returns 0 or emit's error (the frontier is then unchanged). */
int ld_merkle_append(ld_merkle_frontier *f, const uint8_t leaf[LD_MERKLE_HASH],
                     ld_merkle_emit_fn emit, void *arg);
/* MTH of the frontier's tree. */
void ld_merkle_root(const ld_merkle_frontier *f, uint8_t out[LD_MERKLE_HASH]);

/* Hash of the complete subtree (start, level): 0 or a negative code. */
typedef int (*ld_merkle_get_fn)(void *arg, uint64_t start, unsigned level,
                                uint8_t out[LD_MERKLE_HASH]);

/* MTH(D[a:b]) of a range that RFC 6962's recursion produces (a a multiple of
 * the largest power of two below b-a ... as in every proof), from complete
 * subtrees: O(log n) calls of get. */
int ld_merkle_range(uint64_t a, uint64_t b, ld_merkle_get_fn get, void *arg,
                    uint8_t out[LD_MERKLE_HASH]);

/* RFC 6962 PATH(index, D[0:size]) into path (LD_MERKLE_MAX_PROOF entries),
 * *n the count. LD_E(INVALID_VALUE) if index >= size; else get's error or 0. */
int ld_merkle_inclusion_proof(uint64_t index, uint64_t size, ld_merkle_get_fn get, void *arg,
                              uint8_t (*path)[LD_MERKLE_HASH], size_t *n);
/* RFC 6962 PROOF(m, D[0:size]); m = 0 and m = size give an empty proof.
 * LD_E(INVALID_VALUE) if m > size. */
int ld_merkle_consistency_proof(uint64_t m, uint64_t size, ld_merkle_get_fn get, void *arg,
                                uint8_t (*path)[LD_MERKLE_HASH], size_t *n);

/* 0 if path proves leaf is leaf `index` of the tree of `size` with `root`,
 * else LD_E(PROOF_MISMATCH). */
int ld_merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[LD_MERKLE_HASH],
                               const uint8_t (*path)[LD_MERKLE_HASH], size_t n,
                               const uint8_t root[LD_MERKLE_HASH]);
/* 0 if path proves that the tree of size m with root_m is a prefix of the
 * tree of size `size` with root_n (m = 0: always; m = size: the roots are
 * equal and the path empty), else LD_E(PROOF_MISMATCH). */
int ld_merkle_verify_consistency(uint64_t m, uint64_t size, const uint8_t root_m[LD_MERKLE_HASH],
                                 const uint8_t root_n[LD_MERKLE_HASH],
                                 const uint8_t (*path)[LD_MERKLE_HASH], size_t n);

/*
 * A signed tree head signs these bytes (LD_TREE_HEAD_MSG_LEN of them):
 *   "ledgerd tree head v1\n" (21 bytes) || tree size (8 BE) ||
 *   timestamp (µs since the epoch, 8 BE) || root (32)
 * with Ed25519 (RFC 8032; proto/digest.h).
 */
#define LD_TREE_HEAD_MSG_LEN (21 + 8 + 8 + LD_MERKLE_HASH)
void ld_tree_head_message(uint64_t size, int64_t timestamp, const uint8_t root[LD_MERKLE_HASH],
                          uint8_t out[LD_TREE_HEAD_MSG_LEN]);

#endif
