/*
 * IEEE 754 binary16 conversions for tensors stored as half (a context of SEGCL_PRECISION_FP16):
 * the host side of what kernels do with vload_half and vstore_half_rte, bit for bit.
 */
#include <string.h>

#include "core/core.h"

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t segcl_half_from_float(float f)
{
    const uint32_t u = bits_of(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t exp = (u >> 23) & 0xffu, man = u & 0x7fffffu;
    if (exp == 0xffu) /* infinity, or NaN kept quiet with its top payload bits */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0u));
    const int e = (int)exp - 127 + 15; /* the half exponent field, before rounding */
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    uint32_t mant, shift;
    if (e <= 0) {
        /* a half denormal (or zero): the implicit bit joins the mantissa, shifted right */
        if (e < -10)
            return sign; /* below half the smallest denormal: rounds to zero */
        mant = man | 0x800000u;
        shift = (uint32_t)(14 - e);
    } else {
        mant = man;
        shift = 13;
    }
    uint32_t h = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (e > 0)
        h |= (uint32_t)e << 10;
    /* round to nearest, ties to even; a carry out of the mantissa bumps the exponent, which is
     * right for both (denormal to normal, largest finite to infinity) */
    if (rest > half || (rest == half && (h & 1u)))
        h++;
    return (uint16_t)(sign | h);
}

float segcl_float_from_half(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1fu)
        return float_of(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (!man)
            return float_of(sign);
        /* denormal: man * 2^-24, exact in float */
        const float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return float_of(sign | ((exp + 112u) << 23) | (man << 13));
}

void segcl_halves_from_floats(const float *src, uint16_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = segcl_half_from_float(src[i]);
}

void segcl_floats_from_halves(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = segcl_float_from_half(src[i]);
}
