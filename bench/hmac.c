/*
 * hmac.c — the CPU cost of one HMAC-SHA-256 of a national ID (18 bytes, a
 * 32-byte key: what the server computes for every one it receives), by way
 * of:
 *   ld_hmac      proto/digest.c's ld_hmac_sha256, what the daemon calls (an
 *                EVP_MAC context kept per thread and key, re-initialised)
 *   mac-reinit   the same without the keeping: one keyed EVP_MAC context,
 *                re-initialised with its key (EVP_MAC_init with no key)
 *   mac-dup      EVP_MAC: a context keyed once, duplicated
 *                (EVP_MAC_CTX_dup) for each call and freed
 *   hmac-oneshot OpenSSL 3's one-shot HMAC(), which fetches the algorithm
 *                and makes its contexts on every call
 * Each round times --calls calls of every way in turn (thread CPU time, so
 * that other processes on the machine count less), --rounds rounds; prints
 * each way's median ns per call and its ratio to ld_hmac, with the load
 * average before and after. proto/digest.c says what it measured.
 *
 *   hmac [--calls N] [--rounds R]
 */
#include <getopt.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bench.h"

enum { W_LD, W_REINIT, W_DUP, W_ONESHOT, W_N };
static const char *const way_names[W_N] = {"ld_hmac", "mac-reinit", "mac-dup", "hmac-oneshot"};

static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static EVP_MAC_CTX *keyed(void)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
	                  OSSL_PARAM_construct_end()};
	EVP_MAC_free(mac);
	if (!c || EVP_MAC_init(c, key, sizeof(key), p) != 1) {
		EVP_MAC_CTX_free(c);
		return NULL;
	}
	return c;
}

/* calls HMACs of msg the way w; its last result into out. 0 or -1. */
static int run_way(int w, EVP_MAC_CTX *tpl, char *msg, size_t n, uint8_t out[32])
{
	size_t len = 0;
	unsigned int ulen = 0;
	for (size_t i = 0; i < n; i++) {
		msg[17] = (char)('0' + i % 10); /* not the same message every time */
		int ok = 1;
		switch (w) {
		case W_LD:
			ok = ld_hmac_sha256(key, sizeof(key), msg, 18, out) == 0;
			break;
		case W_DUP: {
			EVP_MAC_CTX *c = EVP_MAC_CTX_dup(tpl);
			ok = c && EVP_MAC_update(c, (const uint8_t *)msg, 18) == 1 &&
			     EVP_MAC_final(c, out, &len, 32) == 1;
			EVP_MAC_CTX_free(c);
			break;
		}
		case W_REINIT:
			ok = EVP_MAC_init(tpl, NULL, 0, NULL) == 1 &&
			     EVP_MAC_update(tpl, (const uint8_t *)msg, 18) == 1 &&
			     EVP_MAC_final(tpl, out, &len, 32) == 1;
			break;
		default:
			ok = HMAC(EVP_sha256(), key, sizeof(key), (const uint8_t *)msg, 18, out,
			          &ulen) != NULL;
			break;
		}
		if (!ok)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long calls = 200000, rounds = 7;
	static const struct option opts[] = {{"calls", required_argument, NULL, 'c'},
	                                     {"rounds", required_argument, NULL, 'r'},
	                                     {NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		unsigned long v = strtoul(optarg ? optarg : "", &end, 10);
		if (ch == '?' || *end || !v) {
			fprintf(stderr, "usage: hmac [--calls N] [--rounds R]\n");
			return 2;
		}
		*(ch == 'c' ? &calls : &rounds) = v;
	}
	EVP_MAC_CTX *tpl = keyed(), *reinit = keyed();
	if (!tpl || !reinit) {
		fprintf(stderr, "hmac: EVP_MAC HMAC-SHA256 is not available\n");
		return 1;
	}
	char msg[19] = "32010219800101123X";
	uint8_t want[32], got[32];
	/* Every way gives the same MAC. */
	for (int w = 0; w < W_N; w++) {
		if (run_way(w, w == W_REINIT ? reinit : tpl, msg, 1, w ? got : want) != 0 ||
		    (w && memcmp(want, got, 32) != 0)) {
			fprintf(stderr, "hmac: %s fails or differs from ld_hmac\n", way_names[w]);
			return 1;
		}
	}
	char l0[32], l1[32];
	loadavg(l0, sizeof(l0));
	double *ns[W_N];
	for (int w = 0; w < W_N; w++)
		ns[w] = calloc(rounds, sizeof(double));
	for (unsigned long r = 0; r < rounds; r++)
		for (int k = 0; k < W_N; k++) {
			int w = (int)((k + r) % W_N); /* each round starts with another way */
			double t0 = thread_cpu_ns();
			if (run_way(w, w == W_REINIT ? reinit : tpl, msg, calls, got) != 0) {
				fprintf(stderr, "hmac: %s failed\n", way_names[w]);
				return 1;
			}
			ns[w][r] = (thread_cpu_ns() - t0) / (double)calls;
		}
	loadavg(l1, sizeof(l1));
	double base = stats_of(ns[W_LD], rounds).median;
	printf("hmac: HMAC-SHA-256 of 18 bytes with a 32-byte key, %lu calls x %lu rounds, "
	       "thread CPU ns per call (median, min-max); load %s -> %s\n",
	       calls, rounds, l0, l1);
	for (int w = 0; w < W_N; w++) {
		stats s = stats_of(ns[w], rounds);
		printf("  %-12s %8.1f ns  (%.1f-%.1f)  %.2fx ld_hmac\n", way_names[w], s.median, s.min,
		       s.max, s.median / base);
		free(ns[w]);
	}
	EVP_MAC_CTX_free(tpl);
	EVP_MAC_CTX_free(reinit);
	return 0;
}
