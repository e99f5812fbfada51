/* rfc6962.c — RFC 6962 tree math. See rfc6962.h. */
#include "rfc6962.h"

#include <string.h>

#include "codec.h"
#include "digest.h"

void ld_merkle_leaf(const uint8_t event_hash[LD_MERKLE_HASH], uint8_t out[LD_MERKLE_HASH])
{
	static const uint8_t zero = 0x00;
	ld_sha256_3(&zero, 1, event_hash, LD_MERKLE_HASH, NULL, 0, out);
}

void ld_merkle_node(const uint8_t l[LD_MERKLE_HASH], const uint8_t r[LD_MERKLE_HASH],
                    uint8_t out[LD_MERKLE_HASH])
{
	static const uint8_t one = 0x01;
	uint8_t tmp[LD_MERKLE_HASH];
	ld_sha256_3(&one, 1, l, LD_MERKLE_HASH, r, LD_MERKLE_HASH, tmp);
	memcpy(out, tmp, LD_MERKLE_HASH); /* out may be l or r */
}

int ld_merkle_append(ld_merkle_frontier *f, const uint8_t leaf[LD_MERKLE_HASH],
                     ld_merkle_emit_fn emit, void *arg)
{
	uint8_t cur[LD_MERKLE_HASH];
	uint64_t after = f->size + 1;
	unsigned level = 0, n = f->n;
	int rc;
	memcpy(cur, leaf, LD_MERKLE_HASH);
	if (emit && (rc = emit(arg, f->size, 0, cur)) != 0)
		return rc;
	/* Each set low bit of the old size is a subtree of that size that the
	 * new one completes. */
	while ((f->size >> level) & 1) {
		ld_merkle_node(f->h[--n], cur, cur);
		level++;
		if (emit && (rc = emit(arg, after - ((uint64_t)1 << level), level, cur)) != 0)
			return rc;
	}
	memcpy(f->h[n++], cur, LD_MERKLE_HASH);
	f->n = n;
	f->size = after;
	return 0;
}

void ld_merkle_root(const ld_merkle_frontier *f, uint8_t out[LD_MERKLE_HASH])
{
	if (f->n == 0) {
		ld_sha256_3(NULL, 0, NULL, 0, NULL, 0, out);
		return;
	}
	uint8_t acc[LD_MERKLE_HASH];
	memcpy(acc, f->h[f->n - 1], LD_MERKLE_HASH);
	for (unsigned i = f->n - 1; i-- > 0;)
		ld_merkle_node(f->h[i], acc, acc);
	memcpy(out, acc, LD_MERKLE_HASH);
}

/* The largest power of two below n (n >= 2). */
static uint64_t split(uint64_t n)
{
	uint64_t k = 1;
	while (k << 1 < n)
		k <<= 1;
	return k;
}

static int is_pow2(uint64_t n)
{
	return n && !(n & (n - 1));
}

static unsigned log2u(uint64_t n)
{
	unsigned l = 0;
	while (n >>= 1)
		l++;
	return l;
}

int ld_merkle_range(uint64_t a, uint64_t b, ld_merkle_get_fn get, void *arg,
                    uint8_t out[LD_MERKLE_HASH])
{
	uint64_t n = b - a;
	if (b <= a)
		return LD_E(INVALID_VALUE);
	if (is_pow2(n) && a % n == 0)
		return get(arg, a, log2u(n), out);
	uint64_t k = split(n);
	uint8_t l[LD_MERKLE_HASH], r[LD_MERKLE_HASH];
	int rc = get(arg, a, log2u(k), l);
	if (rc == 0)
		rc = ld_merkle_range(a + k, b, get, arg, r);
	if (rc == 0)
		ld_merkle_node(l, r, out);
	return rc;
}

/* PATH(m, D[lo:hi]), appended to path leaf side first. */
static int path_of(uint64_t m, uint64_t lo, uint64_t hi, ld_merkle_get_fn get, void *arg,
                   uint8_t (*path)[LD_MERKLE_HASH], size_t *n)
{
	if (hi - lo <= 1)
		return 0;
	uint64_t k = split(hi - lo);
	int rc;
	if (m < lo + k) {
		if ((rc = path_of(m, lo, lo + k, get, arg, path, n)) != 0)
			return rc;
		rc = ld_merkle_range(lo + k, hi, get, arg, path[*n]);
	} else {
		if ((rc = path_of(m, lo + k, hi, get, arg, path, n)) != 0)
			return rc;
		rc = ld_merkle_range(lo, lo + k, get, arg, path[*n]);
	}
	if (rc == 0)
		(*n)++;
	return rc;
}

int ld_merkle_inclusion_proof(uint64_t index, uint64_t size, ld_merkle_get_fn get, void *arg,
                              uint8_t (*path)[LD_MERKLE_HASH], size_t *n)
{
	*n = 0;
	if (index >= size)
		return LD_E(INVALID_VALUE);
	return path_of(index, 0, size, get, arg, path, n);
}

/* SUBPROOF(m, D[lo:hi], b), m absolute (lo < m <= hi). */
static int subproof(uint64_t m, uint64_t lo, uint64_t hi, int b, ld_merkle_get_fn get, void *arg,
                    uint8_t (*path)[LD_MERKLE_HASH], size_t *n)
{
	int rc;
	if (m == hi) {
		if (b)
			return 0;
		rc = ld_merkle_range(lo, hi, get, arg, path[*n]);
		if (rc == 0)
			(*n)++;
		return rc;
	}
	uint64_t k = split(hi - lo);
	if (m <= lo + k) {
		if ((rc = subproof(m, lo, lo + k, b, get, arg, path, n)) != 0)
			return rc;
		rc = ld_merkle_range(lo + k, hi, get, arg, path[*n]);
	} else {
		if ((rc = subproof(m, lo + k, hi, 0, get, arg, path, n)) != 0)
			return rc;
		rc = ld_merkle_range(lo, lo + k, get, arg, path[*n]);
	}
	if (rc == 0)
		(*n)++;
	return rc;
}

int ld_merkle_consistency_proof(uint64_t m, uint64_t size, ld_merkle_get_fn get, void *arg,
                                uint8_t (*path)[LD_MERKLE_HASH], size_t *n)
{
	*n = 0;
	if (m > size)
		return LD_E(INVALID_VALUE);
	if (m == 0 || m == size)
		return 0;
	return subproof(m, 0, size, 1, get, arg, path, n);
}

int ld_merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[LD_MERKLE_HASH],
                               const uint8_t (*path)[LD_MERKLE_HASH], size_t n,
                               const uint8_t root[LD_MERKLE_HASH])
{
	if (index >= size || n > LD_MERKLE_MAX_PROOF)
		return LD_E(PROOF_MISMATCH);
	uint64_t fn = index, sn = size - 1;
	uint8_t r[LD_MERKLE_HASH];
	memcpy(r, leaf, LD_MERKLE_HASH);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return LD_E(PROOF_MISMATCH);
		if ((fn & 1) || fn == sn) {
			ld_merkle_node(path[i], r, r);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			ld_merkle_node(r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || memcmp(r, root, LD_MERKLE_HASH) != 0)
		return LD_E(PROOF_MISMATCH);
	return 0;
}

int ld_merkle_verify_consistency(uint64_t m, uint64_t size, const uint8_t root_m[LD_MERKLE_HASH],
                                 const uint8_t root_n[LD_MERKLE_HASH],
                                 const uint8_t (*path)[LD_MERKLE_HASH], size_t n)
{
	if (m > size || n > LD_MERKLE_MAX_PROOF)
		return LD_E(PROOF_MISMATCH);
	if (m == 0)
		return n == 0 ? 0 : LD_E(PROOF_MISMATCH);
	if (m == size)
		return n == 0 && memcmp(root_m, root_n, LD_MERKLE_HASH) == 0 ? 0
		                                                             : LD_E(PROOF_MISMATCH);
	if (n == 0)
		return LD_E(PROOF_MISMATCH);
	/* A first tree of a power-of-two size is itself a node of the second:
	 * the proof starts with its root, implicitly. */
	size_t i = 0;
	const uint8_t *first = is_pow2(m) ? root_m : path[i++];
	uint64_t fn = m - 1, sn = size - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	uint8_t fr[LD_MERKLE_HASH], sr[LD_MERKLE_HASH];
	memcpy(fr, first, LD_MERKLE_HASH);
	memcpy(sr, first, LD_MERKLE_HASH);
	for (; i < n; i++) {
		if (sn == 0)
			return LD_E(PROOF_MISMATCH);
		if ((fn & 1) || fn == sn) {
			ld_merkle_node(path[i], fr, fr);
			ld_merkle_node(path[i], sr, sr);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			ld_merkle_node(sr, path[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || memcmp(fr, root_m, LD_MERKLE_HASH) != 0 ||
	    memcmp(sr, root_n, LD_MERKLE_HASH) != 0)
		return LD_E(PROOF_MISMATCH);
	return 0;
}

void ld_tree_head_message(uint64_t size, int64_t timestamp, const uint8_t root[LD_MERKLE_HASH],
                          uint8_t out[LD_TREE_HEAD_MSG_LEN])
{
	memcpy(out, "ledgerd tree head v1\n", 21);
	ld_put_be64(out + 21, size);
	ld_put_be64(out + 29, (uint64_t)timestamp);
	memcpy(out + 37, root, LD_MERKLE_HASH);
}
