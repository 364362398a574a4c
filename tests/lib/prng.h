/* SPDX-License-Identifier: MIT */
/*
 * prng.h - the property tests' random numbers: splitmix64, so that a seed
 * names the same run on every machine and libc (rand() would not), and
 * a failure's seed replays it exactly.
 *
 * Header-only, one generator per test program (each program's own
 * rng_state); never for anything that must be unpredictable.
 */
#ifndef SAFERRING_TEST_PRNG_H
#define SAFERRING_TEST_PRNG_H

#include <stdbool.h>
#include <stdint.h>

/* Set to the seed before a run. */
static uint64_t rng_state;

static inline uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough below @n (the modulo bias is far below what a property
 * test can notice); 0 when @n is 0. */
static inline uint32_t rng_below(uint32_t n)
{
	return n ? (uint32_t)(rng_next() % n) : 0;
}

/* True @pct times in a hundred. */
static inline bool rng_pct(unsigned pct)
{
	return rng_below(100) < pct;
}

#endif
