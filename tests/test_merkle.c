/*
 * test_merkle.c — the Merkle tree of the log and its signed tree heads,
 * checked against an independent computation: RFC 6962's MTH, PATH and PROOF
 * written out here recursively, straight from the RFC, over OpenSSL's
 * SHA-256 (EVP), sharing no code with proto/rfc6962.c.
 *
 * The tree math alone (every size to 70); a real daemon's tree heads and
 * proofs byte for byte, and the client library's checks of them; tampered
 * tree heads; proofs asked beyond the head; map growth (the writer's redo of
 * a batch) and an atomic batch's rejection leaving the stored tree exact; a
 * daemon run without the tree catching up at the next start.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "client.h"
#include "merkle.h"
#include "rfc6962.h"
#include "testlib.h"

#define TIMEOUT_MS 20000
#define H          32

/* ------------------------------------------------------------------ */
/* RFC 6962 §2.1, independently                                        */
/* ------------------------------------------------------------------ */

static void sha(const void *a, size_t alen, const void *b, size_t blen, const void *c, size_t clen,
                uint8_t out[H])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned len = 0;
	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	if (alen)
		EVP_DigestUpdate(md, a, alen);
	if (blen)
		EVP_DigestUpdate(md, b, blen);
	if (clen)
		EVP_DigestUpdate(md, c, clen);
	assert_int_equal(EVP_DigestFinal_ex(md, out, &len), 1);
	assert_int_equal(len, H);
	EVP_MD_CTX_free(md);
}

/* The leaf of an event: SHA-256(0x00 || its chain hash). */
static void x_leaf(const uint8_t ev[H], uint8_t out[H])
{
	uint8_t z = 0;
	sha(&z, 1, ev, H, NULL, 0, out);
}

static uint64_t x_split(uint64_t n)
{
	uint64_t k = 1;
	while (2 * k < n)
		k *= 2;
	return k;
}

/* MTH(D[lo:hi]) over leaf hashes. */
static void x_mth(uint8_t (*leaves)[H], uint64_t lo, uint64_t hi, uint8_t out[H])
{
	uint64_t n = hi - lo;
	if (n == 0) {
		sha(NULL, 0, NULL, 0, NULL, 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[lo], H);
		return;
	}
	uint64_t k = x_split(n);
	uint8_t l[H], r[H], one = 1;
	x_mth(leaves, lo, lo + k, l);
	x_mth(leaves, lo + k, hi, r);
	sha(&one, 1, l, H, r, H, out);
}

/* PATH(m, D[lo:hi]) (m relative to lo). */
static void x_path(uint8_t (*leaves)[H], uint64_t m, uint64_t lo, uint64_t hi, uint8_t (*out)[H],
                   size_t *n)
{
	uint64_t sz = hi - lo;
	if (sz <= 1)
		return;
	uint64_t k = x_split(sz);
	if (m < k) {
		x_path(leaves, m, lo, lo + k, out, n);
		x_mth(leaves, lo + k, hi, out[(*n)++]);
	} else {
		x_path(leaves, m - k, lo + k, hi, out, n);
		x_mth(leaves, lo, lo + k, out[(*n)++]);
	}
}

/* SUBPROOF(m, D[lo:hi], b) (m relative to lo). */
static void x_subproof(uint8_t (*leaves)[H], uint64_t m, uint64_t lo, uint64_t hi, int b,
                       uint8_t (*out)[H], size_t *n)
{
	uint64_t sz = hi - lo;
	if (m == sz) {
		if (!b)
			x_mth(leaves, lo, hi, out[(*n)++]);
		return;
	}
	uint64_t k = x_split(sz);
	if (m <= k) {
		x_subproof(leaves, m, lo, lo + k, b, out, n);
		x_mth(leaves, lo + k, hi, out[(*n)++]);
	} else {
		x_subproof(leaves, m - k, lo + k, hi, 0, out, n);
		x_mth(leaves, lo, lo + k, out[(*n)++]);
	}
}

static void x_proof(uint8_t (*leaves)[H], uint64_t m, uint64_t n, uint8_t (*out)[H], size_t *len)
{
	*len = 0;
	if (m > 0 && m < n)
		x_subproof(leaves, m, 0, n, 1, out, len);
}

/* ------------------------------------------------------------------ */
/* The tree math alone                                                  */
/* ------------------------------------------------------------------ */

#define MAXN 70

/* Complete subtrees emitted by appends: nodes[level][start >> level]. */
static uint8_t nodes[8][MAXN][H];
static int have[8][MAXN];

static int emit(void *arg, uint64_t start, unsigned level, const uint8_t h[H])
{
	(void)arg;
	assert_true(level < 8);
	assert_int_equal(start % ((uint64_t)1 << level), 0);
	memcpy(nodes[level][start >> level], h, H);
	have[level][start >> level] = 1;
	return 0;
}

static int get(void *arg, uint64_t start, unsigned level, uint8_t out[H])
{
	(void)arg;
	if (level >= 8 || !have[level][start >> level] || start % ((uint64_t)1 << level))
		return LD_E(NOT_FOUND);
	memcpy(out, nodes[level][start >> level], H);
	return 0;
}

static void test_math(void **state)
{
	(void)state;
	uint8_t leaves[MAXN][H], root[H], want[H];
	uint8_t path[LD_MERKLE_MAX_PROOF][H], xpath[LD_MERKLE_MAX_PROOF][H];
	size_t n, xn;
	ld_merkle_frontier f = {0};
	memset(have, 0, sizeof(have));

	ld_merkle_root(&f, root);
	x_mth(leaves, 0, 0, want);
	assert_memory_equal(root, want, H); /* the empty tree: SHA-256("") */
	for (uint64_t size = 1; size <= MAXN; size++) {
		uint8_t ev[H];
		for (int i = 0; i < H; i++)
			ev[i] = (uint8_t)(size * 31 + (uint64_t)i * 7);
		x_leaf(ev, leaves[size - 1]);
		uint8_t lf[H];
		ld_merkle_leaf(ev, lf);
		assert_memory_equal(lf, leaves[size - 1], H);
		assert_int_equal(ld_merkle_append(&f, lf, emit, NULL), 0);
		assert_int_equal(f.size, size);
		ld_merkle_root(&f, root);
		x_mth(leaves, 0, size, want);
		assert_memory_equal(root, want, H);

		for (uint64_t i = 0; i < size; i++) {
			assert_int_equal(ld_merkle_inclusion_proof(i, size, get, NULL, path, &n),
			                 0);
			xn = 0;
			x_path(leaves, i, 0, size, xpath, &xn);
			assert_int_equal(n, xn);
			assert_memory_equal(path, xpath, n * H);
			assert_int_equal(ld_merkle_verify_inclusion(i, size, leaves[i],
			                                            (const uint8_t(*)[H])path, n,
			                                            root),
			                 0);
			/* Another leaf, another index, a changed path or root: no. */
			uint64_t j = (i + 1) % size;
			if (j != i)
				assert_int_equal(
				    ld_merkle_verify_inclusion(j, size, leaves[i],
				                               (const uint8_t(*)[H])path, n, root),
				    LD_E(PROOF_MISMATCH));
			if (n) {
				path[n / 2][5] ^= 0x20;
				assert_int_equal(
				    ld_merkle_verify_inclusion(i, size, leaves[i],
				                               (const uint8_t(*)[H])path, n, root),
				    LD_E(PROOF_MISMATCH));
				assert_int_equal(
				    ld_merkle_verify_inclusion(
				        i, size, leaves[i], (const uint8_t(*)[H])path, n - 1, root),
				    LD_E(PROOF_MISMATCH));
			}
			assert_int_equal(ld_merkle_verify_inclusion(size, size, leaves[i],
			                                            (const uint8_t(*)[H])path, n,
			                                            root),
			                 LD_E(PROOF_MISMATCH));
		}
		for (uint64_t m = 0; m <= size; m++) {
			uint8_t old[H];
			x_mth(leaves, 0, m, old);
			assert_int_equal(ld_merkle_consistency_proof(m, size, get, NULL, path, &n),
			                 0);
			x_proof(leaves, m, size, xpath, &xn);
			assert_int_equal(n, xn);
			assert_memory_equal(path, xpath, n * H);
			assert_int_equal(ld_merkle_verify_consistency(m, size, old, root,
			                                              (const uint8_t(*)[H])path, n),
			                 0);
			if (m == 0 || m == size)
				continue;
			/* A different old tree is not a prefix. */
			uint8_t other[H];
			memcpy(other, old, H);
			other[0] ^= 1;
			assert_int_equal(ld_merkle_verify_consistency(m, size, other, root,
			                                              (const uint8_t(*)[H])path, n),
			                 LD_E(PROOF_MISMATCH));
			path[n - 1][31] ^= 1;
			assert_int_equal(ld_merkle_verify_consistency(m, size, old, root,
			                                              (const uint8_t(*)[H])path, n),
			                 LD_E(PROOF_MISMATCH));
		}
		assert_int_equal(ld_merkle_consistency_proof(size + 1, size, get, NULL, path, &n),
		                 LD_E(INVALID_VALUE));
	}
}

/* ------------------------------------------------------------------ */
/* A real daemon                                                        */
/* ------------------------------------------------------------------ */

static tl_daemon D;

static int setup(void **state)
{
	(void)state;
	memset(&D, 0, sizeof(D));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tl_daemon_discard(&D);
	return 0;
}

/* Appends evs; every event must be recorded. */
static void append(ldc *c, Ledger__Event **evs, size_t n, int atomic)
{
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	if (ldc_append(c, evs, n, atomic, &r, &e) != 0)
		fail_msg("append: %s", e.message);
	for (size_t i = 0; i < n; i++)
		if (r->append->results[i]->error)
			fail_msg("event %zu: %s", i, r->append->results[i]->error->message);
	codec_response_free(r);
}

/* `members` joins in batches of 1, 2, 3, ... after a tree of two orgs. */
static void fill(ldc *c, int first, int members)
{
	Ledger__Event *evs[64];
	char id[32];
	if (first == 0) {
		evs[0] = tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000);
		evs[1] = tl_org("NJ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100);
		append(c, evs, 2, 0);
	}
	int done = 0;
	for (int batch = 1; done < members; batch++) {
		int k = batch < members - done ? batch : members - done;
		for (int i = 0; i < k; i++) {
			snprintf(id, sizeof(id), "M%d", first + done + i);
			evs[i] = tl_join(id, "NJ", first + done + i);
		}
		append(c, evs, (size_t)k, 0);
		done += k;
	}
	tl_free_all();
}

/* The leaves of the whole log, from its stored hashes; returns the count. */
static uint64_t read_leaves(ldc *c, uint8_t (**leaves)[H], Ledger__Event ***events)
{
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	if (ldc_read_log(c, 1, 10000, NULL, 0, &r, &e) != 0)
		fail_msg("read_log: %s", e.message);
	uint64_t n = r->page->n_events;
	*leaves = calloc(n + 1, H);
	for (uint64_t i = 0; i < n; i++) {
		const Ledger__Event *ev = r->page->events[i];
		assert_int_equal(ev->seq, i + 1);
		assert_int_equal(ev->hash.len, H);
		x_leaf(ev->hash.data, (*leaves)[i]);
	}
	if (events) {
		*events = calloc(n + 1, sizeof(**events));
		for (uint64_t i = 0; i < n; i++) {
			size_t len = codec_size(r->page->events[i]);
			uint8_t *buf = malloc(len);
			codec_pack(r->page->events[i], buf);
			(*events)[i] = codec_event_unpack(buf, len);
			free(buf);
		}
	}
	codec_response_free(r);
	return n;
}

static void free_events(Ledger__Event **evs, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		codec_event_free(evs[i]);
	free(evs);
}

static void test_daemon_proofs(void **state)
{
	(void)state;
	tl_daemon_up(&D, NULL);
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	ld_errinfo e = {0};
	ldc_tree_head th, first;
	uint8_t(*leaves)[H];
	Ledger__Event **events;

	/* The empty tree. */
	assert_int_equal(ldc_get_tree_head(c, NULL, &first, &e), 0);
	assert_int_equal(first.size, 0);
	uint8_t want[H];
	x_mth(NULL, 0, 0, want);
	assert_memory_equal(first.root, want, H);

	fill(c, 0, 45);
	uint64_t n = read_leaves(c, &leaves, &events);
	assert_int_equal(n, 47);
	assert_int_equal(ldc_get_tree_head(c, first.key, &th, &e), 0);
	assert_int_equal(th.size, n);
	x_mth(leaves, 0, n, want);
	assert_memory_equal(th.root, want, H);
	uint8_t key[32];
	assert_int_equal(ldc_public_key(c, key, &e), 0);
	assert_memory_equal(key, th.key, 32);

	/* Inclusion: every seq against every tree size that holds it, byte for
	 * byte as RFC 6962 PATH gives it. */
	uint64_t seqs[64];
	uint8_t xpath[LD_MERKLE_MAX_PROOF][H];
	size_t xn;
	for (uint64_t size = 1; size <= n; size++) {
		Ledger__Response *r = NULL;
		for (uint64_t s = 1; s <= size; s++)
			seqs[s - 1] = s;
		if (ldc_inclusion_proof(c, seqs, size, size == n ? 0 : size, &r, &e) != 0)
			fail_msg("inclusion_proof: %s", e.message);
		const Ledger__InclusionProofs *p = r->inclusion_proofs;
		assert_non_null(p);
		assert_int_equal(p->tree_size, size);
		assert_int_equal(p->n_proofs, size);
		/* Without a tree size the answer carries the signed head. */
		if (size == n) {
			assert_non_null(p->tree_head);
			assert_int_equal(p->tree_head->tree_size, n);
			assert_memory_equal(p->tree_head->root_hash.data, want, H);
		} else {
			assert_null(p->tree_head);
		}
		for (uint64_t s = 1; s <= size; s++) {
			const Ledger__InclusionProof *ip = p->proofs[s - 1];
			assert_int_equal(ip->seq, s);
			xn = 0;
			x_path(leaves, s - 1, 0, size, xpath, &xn);
			assert_int_equal(ip->n_path, xn);
			for (size_t k = 0; k < xn; k++) {
				assert_int_equal(ip->path[k].len, H);
				assert_memory_equal(ip->path[k].data, xpath[k], H);
			}
		}
		codec_response_free(r);
	}
	/* Consistency: every pair of sizes, as RFC 6962 PROOF gives it. */
	for (uint64_t to = 0; to <= n; to++)
		for (uint64_t m = 0; m <= to; m++) {
			Ledger__Response *r = NULL;
			if (to == 0)
				continue; /* to_size 0 means the head */
			if (ldc_consistency_proof(c, m, to, &r, &e) != 0)
				fail_msg("consistency_proof %llu %llu: %s", (unsigned long long)m,
				         (unsigned long long)to, e.message);
			const Ledger__ConsistencyProof *p = r->consistency_proof;
			assert_non_null(p);
			assert_int_equal(p->from_size, m);
			assert_int_equal(p->to_size, to);
			x_proof(leaves, m, to, xpath, &xn);
			assert_int_equal(p->n_path, xn);
			for (size_t k = 0; k < xn; k++)
				assert_memory_equal(p->path[k].data, xpath[k], H);
			codec_response_free(r);
		}

	/* The client library's checks pass ... */
	uint64_t bad = 99;
	assert_int_equal(ldc_check_inclusion(c, &th, events, n, &bad, &e), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(ldc_check_consistency(c, &first, &th, &e), 0);
	ldc_tree_head mid = th;
	/* ... and fail on a changed event, or a head that is not the log's. */
	Ledger__Event *ev = events[9];
	ev->member_joined->region = 320105;
	assert_int_equal(ldc_check_inclusion(c, &th, events, n, &bad, &e), LD_E(CHAIN_BROKEN));
	assert_int_equal(bad, 10);
	ev->member_joined->region = 320102;
	mid.root[3] ^= 1;
	assert_int_equal(ldc_check_inclusion(c, &mid, events, n, &bad, &e), LD_E(PROOF_MISMATCH));
	assert_int_equal(bad, 1);
	assert_int_equal(e.seq, 1);
	assert_int_equal(ldc_check_consistency(c, &mid, &th, &e), LD_E(PROOF_MISMATCH));
	/* A full verify recomputes the root. */
	ldc_verify_result res;
	assert_int_equal(ldc_verify_chain(c, 0, 0, &th, &res, &e), 0);
	assert_int_equal(res.first_bad, 0);
	assert_true(res.root_checked);
	assert_int_equal(ldc_verify_chain(c, 0, 0, &mid, &res, &e), 0);
	assert_int_equal(res.first_bad, n);
	assert_non_null(strstr(res.why, "Merkle root"));

	/* The tree survives a restart, and grows on. */
	ldc_close(c);
	tl_daemon_down(&D);
	tl_daemon_up(&D, NULL);
	c = tl_daemon_connect(&D, TIMEOUT_MS);
	ldc_tree_head again;
	assert_int_equal(ldc_get_tree_head(c, th.key, &again, &e), 0);
	assert_int_equal(again.size, n);
	assert_memory_equal(again.root, th.root, H);
	fill(c, 100, 20);
	assert_int_equal(ldc_get_tree_head(c, th.key, &again, &e), 0);
	assert_int_equal(ldc_check_consistency(c, &th, &again, &e), 0);
	free(leaves);
	free_events(events, n);
	n = read_leaves(c, &leaves, NULL);
	assert_int_equal(again.size, n);
	x_mth(leaves, 0, n, want);
	assert_memory_equal(again.root, want, H);

	/* The key file: created 0600, outside the data directory (run.sh sets
	 * XDG_CONFIG_HOME for each test). */
	char path[700];
	struct stat st;
	const char *xdg = getenv("XDG_CONFIG_HOME");
	if (xdg) {
		snprintf(path, sizeof(path), "%s/ledgerd/%s", xdg, MERKLE_KEY_FILE);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	snprintf(path, sizeof(path), "%s/data/%s", D.dir, MERKLE_KEY_FILE);
	assert_int_not_equal(stat(path, &st), 0);
	free(leaves);
	ldc_close(c);
	tl_daemon_down(&D);
}

static void test_tree_head_signature(void **state)
{
	(void)state;
	tl_daemon_up(&D, NULL);
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	ld_errinfo e = {0};
	ldc_tree_head th, t;
	fill(c, 0, 5);
	assert_int_equal(ldc_get_tree_head(c, NULL, &th, &e), 0);
	assert_int_equal(ldc_tree_head_check(&th, th.key, &e), 0);

	/* Any change of a signed field, or of the signature, is refused. */
	t = th;
	t.sig[10] ^= 0x04;
	assert_int_equal(ldc_tree_head_check(&t, NULL, &e), LD_E(BAD_SIGNATURE));
	assert_non_null(strstr(e.message, "does not verify"));
	t = th;
	t.root[0] ^= 1;
	assert_int_equal(ldc_tree_head_check(&t, NULL, &e), LD_E(BAD_SIGNATURE));
	t = th;
	t.size++;
	assert_int_equal(ldc_tree_head_check(&t, NULL, &e), LD_E(BAD_SIGNATURE));
	t = th;
	t.timestamp++;
	assert_int_equal(ldc_tree_head_check(&t, NULL, &e), LD_E(BAD_SIGNATURE));
	/* Signed by a key other than the one trusted. */
	uint8_t other[32];
	memcpy(other, th.key, 32);
	other[31] ^= 1;
	assert_int_equal(ldc_tree_head_check(&th, other, &e), LD_E(BAD_SIGNATURE));
	assert_non_null(strstr(e.message, "another key"));
	assert_int_equal(ldc_get_tree_head(c, other, &t, &e), LD_E(BAD_SIGNATURE));

	/* Saved and loaded; a saved file edited is refused. */
	char path[700];
	snprintf(path, sizeof(path), "%s/head.json", D.dir);
	assert_int_equal(ldc_tree_head_save(path, &th, &e), 0);
	assert_int_equal(ldc_tree_head_load(path, &t, &e), 0);
	assert_memory_equal(&t, &th, sizeof(t));
	t.size = th.size - 1;
	assert_int_equal(ldc_tree_head_save(path, &t, &e), 0);
	assert_int_equal(ldc_tree_head_load(path, &t, &e), LD_E(BAD_SIGNATURE));
	FILE *f = fopen(path, "w");
	fputs("{\"tree_size\": 3}", f);
	fclose(f);
	assert_int_equal(ldc_tree_head_load(path, &t, &e), LD_E(INVALID_VALUE));
	ldc_close(c);
	tl_daemon_down(&D);
}

/* A whole-request error: its code, and its message contains `has`. */
static void expect_error(int rc, const ld_errinfo *e, int want, const char *has)
{
	if (rc != want)
		fail_msg("got %s (%s), wanted %s", ld_errname(rc), e->message, ld_errname(want));
	if (!strstr(e->message, has))
		fail_msg("message '%s' lacks '%s'", e->message, has);
}

static void test_beyond_head(void **state)
{
	(void)state;
	tl_daemon_up(&D, NULL);
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	ld_errinfo e = {0};
	Ledger__Response *r = NULL;
	fill(c, 0, 8); /* head 10 */
	uint64_t s11 = 11, s0 = 0, s10 = 10, s5 = 5;

	int rc = ldc_inclusion_proof(c, &s11, 1, 0, &r, &e);
	expect_error(rc, &e, LD_E(SEQ_BEYOND_HEAD), "seq 11 is beyond the tree of size 10");
	assert_int_equal(e.seq, 11);
	codec_response_free(r);
	rc = ldc_inclusion_proof(c, &s10, 1, 5, &r, &e);
	expect_error(rc, &e, LD_E(SEQ_BEYOND_HEAD), "seq 10 is beyond the tree of size 5");
	codec_response_free(r);
	rc = ldc_inclusion_proof(c, &s5, 1, 11, &r, &e);
	expect_error(rc, &e, LD_E(SIZE_BEYOND_HEAD), "tree_size 11 is beyond the tree head, 10");
	assert_string_equal(e.field, "inclusion_proof.tree_size");
	codec_response_free(r);
	rc = ldc_inclusion_proof(c, &s0, 1, 0, &r, &e);
	expect_error(rc, &e, LD_E(INVALID_VALUE), "seq 0");
	codec_response_free(r);
	rc = ldc_inclusion_proof(c, NULL, 0, 0, &r, &e);
	expect_error(rc, &e, LD_E(MISSING_FIELD), "inclusion_proof.seqs");
	codec_response_free(r);
	uint64_t *many = calloc(1001, sizeof(*many));
	for (int i = 0; i < 1001; i++)
		many[i] = 1;
	rc = ldc_inclusion_proof(c, many, 1001, 0, &r, &e);
	expect_error(rc, &e, LD_E(TOO_LARGE), "at most 1000");
	codec_response_free(r);
	free(many);
	rc = ldc_consistency_proof(c, 3, 11, &r, &e);
	expect_error(rc, &e, LD_E(SIZE_BEYOND_HEAD), "to_size 11 is beyond the tree head, 10");
	codec_response_free(r);
	rc = ldc_consistency_proof(c, 12, 0, &r, &e);
	expect_error(rc, &e, LD_E(SIZE_BEYOND_HEAD), "from_size 12 is beyond the tree head, 10");
	codec_response_free(r);
	rc = ldc_consistency_proof(c, 7, 4, &r, &e);
	expect_error(rc, &e, LD_E(INVALID_VALUE), "from_size 7 is larger than to_size 4");
	codec_response_free(r);

	/* The client refuses an event beyond the head it checks against. */
	ldc_tree_head th;
	assert_int_equal(ldc_get_tree_head(c, NULL, &th, &e), 0);
	th.size = 4;
	Ledger__Event **events;
	uint8_t(*leaves)[H];
	uint64_t n = read_leaves(c, &leaves, &events);
	uint64_t bad;
	expect_error(ldc_check_inclusion(c, &th, events, n, &bad, &e), &e, LD_E(SEQ_BEYOND_HEAD),
	             "seq 5");
	assert_int_equal(bad, 5);
	free(leaves);
	free_events(events, n);
	ldc_close(c);
	tl_daemon_down(&D);
}

/* A daemon run without the tree catches it up at the next start. */
static void test_catch_up(void **state)
{
	(void)state;
	static const char *const no_merkle[] = {"--no-merkle", NULL};
	tl_daemon_up(&D, NULL);
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	ld_errinfo e = {0};
	ldc_tree_head th;
	Ledger__Response *r = NULL;
	fill(c, 0, 6);
	ldc_close(c);
	tl_daemon_down(&D);
	tl_daemon_up(&D, no_merkle);
	c = tl_daemon_connect(&D, TIMEOUT_MS);
	fill(c, 50, 30);
	int rc = ldc_tree_head_raw(c, &r, &e);
	expect_error(rc, &e, LD_E(INVALID_STATE), "--no-merkle");
	codec_response_free(r);
	ldc_close(c);
	tl_daemon_down(&D);
	tl_daemon_up(&D, NULL);
	c = tl_daemon_connect(&D, TIMEOUT_MS);
	uint8_t(*leaves)[H], want[H];
	uint64_t n = read_leaves(c, &leaves, NULL);
	assert_int_equal(n, 38);
	assert_int_equal(ldc_get_tree_head(c, NULL, &th, &e), 0);
	assert_int_equal(th.size, n);
	x_mth(leaves, 0, n, want);
	assert_memory_equal(th.root, want, H);
	free(leaves);
	ldc_close(c);
	tl_daemon_down(&D);
}

/* ------------------------------------------------------------------ */
/* The writer: map growth and redone batches                            */
/* ------------------------------------------------------------------ */

/* Every node stored for l's log, and the tree's root, against the
 * independent computation over the log's hashes. */
static void check_stored_tree(tl_ledger *l, uint64_t head)
{
	uint8_t(*leaves)[H] = calloc(head + 1, H), want[H], root[H];
	for (uint64_t s = 1; s <= head; s++) {
		Ledger__Event *ev = tl_get(l, s);
		assert_non_null(ev);
		x_leaf(ev->hash.data, leaves[s - 1]);
		codec_event_free(ev);
	}
	store_txn *t;
	store_cursor *cur;
	store_val k, v;
	ld_merkle_frontier f;
	assert_int_equal(store_read_begin(l->s, &t), 0);
	/* Stored: the levels from MERKLE_STORED_LEVEL up, so the stored tree
	 * ends at the last multiple of 2^MERKLE_STORED_LEVEL. */
	uint64_t stored = head & ~(((uint64_t)1 << MERKLE_STORED_LEVEL) - 1);
	assert_int_equal(merkle_load(t, &f), 0);
	assert_int_equal(f.size, stored);
	ld_merkle_root(&f, root);
	x_mth(leaves, 0, stored, want);
	if (stored)
		assert_memory_equal(root, want, H);
	/* A node below the stored levels is computed from the events. */
	for (uint64_t start = 0; start + 8 <= head; start += 8) {
		assert_int_equal(merkle_node(t, start, 3, root), 0);
		x_mth(leaves, start, start + 8, want);
		assert_memory_equal(root, want, H);
	}
	x_mth(leaves, 0, head, want);
	uint64_t size;
	assert_int_equal(writer_tree(l->w, &size, root), 0);
	assert_int_equal(size, head);
	assert_memory_equal(root, want, H);
	/* Every complete subtree of the stored levels, each exact. */
	size_t count = 0;
	assert_int_equal(store_cursor_open(t, DB_MERKLE, &cur), 0);
	uint8_t zero[9] = {0};
	int rc = store_cursor_seek(cur, zero, sizeof(zero), &k, &v);
	for (; rc == 0; rc = store_cursor_next(cur, &k, &v), count++) {
		assert_int_equal(k.len, 9);
		uint64_t end = ld_get_be64(k.data);
		unsigned level = ((const uint8_t *)k.data)[8];
		x_mth(leaves, end - ((uint64_t)1 << level), end, want);
		assert_memory_equal(v.data, want, H);
	}
	store_cursor_close(cur);
	store_read_end(t);
	size_t expect = 0;
	for (unsigned level = MERKLE_STORED_LEVEL; level < 64; level++)
		expect += head >> level;
	assert_int_equal(count, expect);
	free(leaves);
}

static void test_redo_keeps_tree(void **state)
{
	(void)state;
	tl_ledger *l = calloc(1, sizeof(*l));
	tl_open(l, 1 << 20); /* 1 MiB: full after a few thousand events */
	tl_tree(l);
	enum { N = 1000, ROUNDS = 6 };
	Ledger__Event *evs[N];
	append_item *items = calloc(N, sizeof(*items));
	char id[32];
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < N; i++) {
			snprintf(id, sizeof(id), "G%d-%d", r, i);
			evs[i] = tl_join(id, "NJ", r * N + i);
		}
		/* Every other round atomic: its child transaction is redone too. */
		assert_int_equal(tl_append_batch(l, evs, N, r % 2, items), 0);
		for (int i = 0; i < N; i++)
			assert_int_equal(items[i].code, 0);
		tl_free_all();
	}
	size_t map, used;
	store_usage(l->s, &map, &used);
	assert_true(map > (1 << 20)); /* batches were redone after growing */
	uint64_t head = 5 + N * ROUNDS;

	/* An atomic batch rejected in the middle leaves no trace in the tree;
	 * the events around it go on from the same frontier. */
	Ledger__Event *mix[3] = {tl_join("A1", "NJ", 900001), tl_join("A2", "NOPE", 900002),
	                         tl_join("A3", "NJ", 900003)};
	assert_int_equal(tl_append_batch(l, mix, 3, 1, items), 0);
	assert_int_equal(items[1].code, LD_E(NOT_FOUND));
	assert_int_equal(items[0].code, LD_E(ABORTED));
	for (int i = 0; i < 3; i++) {
		free(items[i].err);
		items[i].err = NULL;
	}
	uint64_t seq;
	assert_int_equal(tl_append(l, tl_join("A4", "NJ", 900004), &seq, NULL), 0);
	assert_int_equal(seq, head + 1);
	head++;
	tl_free_all();
	check_stored_tree(l, head);
	assert_int_equal(tl_verify_chain(l), 0);

	/* Reopened: the same tree from the stored nodes. */
	tl_shut(l);
	tl_reopen(l);
	check_stored_tree(l, head);
	free(items);
	tl_close(l);
	free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_math),
	    cmocka_unit_test_setup_teardown(test_daemon_proofs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tree_head_signature, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_beyond_head, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_catch_up, setup, teardown),
	    cmocka_unit_test(test_redo_keeps_tree),
	};
	return tl_run_tests(tests, NULL, NULL);
}
