/*
 * rng.h — a seeded pseudo-random generator for the generators and
 * benchmarks: xoshiro256** seeded through splitmix64, the same sequence for
 * the same seed on every machine. Not for anything secret (event ids and
 * keys use getrandom and HMAC).
 */
#ifndef LD_RNG_H
#define LD_RNG_H

#include <stdint.h>

typedef struct ldc_rng {
	uint64_t s[4];
} ldc_rng;

void ldc_rng_seed(ldc_rng *r, uint64_t seed);
uint64_t ldc_rng_next(ldc_rng *r);
/* Uniform in [0, n); 0 for n == 0. */
uint32_t ldc_rng_below(ldc_rng *r, uint32_t n);

#endif
