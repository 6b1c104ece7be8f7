/*
 * Seeded pseudo-random numbers (PCG32, XSH RR variant). Every random draw in segcl comes from
 * one of these, so the same seed gives the same weights, batches and augmentations.
 */
#include "core/core.h"

void segcl_rng_seed(segcl_rng *rng, uint64_t seed, uint64_t stream)
{
    rng->state = 0;
    rng->inc = (stream << 1u) | 1u;
    segcl_rng_u32(rng);
    rng->state += seed;
    segcl_rng_u32(rng);
}

uint32_t segcl_rng_u32(segcl_rng *rng)
{
    uint64_t old = rng->state;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

float segcl_rng_uniform(segcl_rng *rng)
{
    return (float)(segcl_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

uint32_t segcl_rng_below(segcl_rng *rng, uint32_t bound)
{
    if (bound == 0)
        return 0;
    uint32_t threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        uint32_t r = segcl_rng_u32(rng);
        if (r >= threshold)
            return r % bound;
    }
}
