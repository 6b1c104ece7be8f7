/*
 * Convolution pieces around GEMM: im2col (input patches to columns), gather-style col2im (each
 * input pixel sums its own contributions, no atomics), and bias broadcast. Transposed
 * convolution reuses them with roles swapped.
 *
 * Column layout for one image: col[(c * KH * KW + ky * KW + kx) * (HO * WO) + oy * WO + ox].
 */

__kernel void im2col(__global const float *x, const uint x_offset, const uint channels,
                     const uint h, const uint w, const uint kh, const uint kw, const uint stride,
                     const uint pad, const uint ho, const uint wo, __global float *col)
{
    const uint pix = get_global_id(0); /* oy * wo + ox */
    const uint row = get_global_id(1); /* c * kh * kw + ky * kw + kx */
    if (pix >= ho * wo || row >= channels * kh * kw)
        return;
    const uint kx = row % kw;
    const uint ky = (row / kw) % kh;
    const uint c = row / (kw * kh);
    const uint oy = pix / wo, ox = pix % wo;
    const int iy = (int)(oy * stride + ky) - (int)pad;
    const int ix = (int)(ox * stride + kx) - (int)pad;
    float v = 0.0f;
    if (iy >= 0 && iy < (int)h && ix >= 0 && ix < (int)w)
        v = x[x_offset + ((size_t)c * h + iy) * w + ix];
    col[(size_t)row * ho * wo + pix] = v;
}

/* dx[c, iy, ix] (+)= sum of col entries that im2col read from (c, iy, ix). */
__kernel void col2im(__global const float *col, const uint channels, const uint h, const uint w,
                     const uint kh, const uint kw, const uint stride, const uint pad,
                     const uint ho, const uint wo, __global float *x, const uint x_offset,
                     const uint accumulate)
{
    const uint pix = get_global_id(0); /* iy * w + ix */
    const uint c = get_global_id(1);
    if (pix >= h * w || c >= channels)
        return;
    const int iy = pix / w, ix = pix % w;
    float sum = 0.0f;
    for (uint ky = 0; ky < kh; ky++) {
        const int ty = iy + (int)pad - (int)ky;
        if (ty < 0 || ty % (int)stride != 0)
            continue;
        const uint oy = ty / stride;
        if (oy >= ho)
            continue;
        for (uint kx = 0; kx < kw; kx++) {
            const int tx = ix + (int)pad - (int)kx;
            if (tx < 0 || tx % (int)stride != 0)
                continue;
            const uint ox = tx / stride;
            if (ox >= wo)
                continue;
            sum += col[((size_t)(c * kh + ky) * kw + kx) * ho * wo + oy * wo + ox];
        }
    }
    __global float *dst = x + x_offset + (size_t)c * h * w + pix;
    *dst = accumulate ? *dst + sum : sum;
}

/* y[n, c, p] += b[c] */
__kernel void bias_add(__global float *y, __global const float *b, const uint channels,
                       const uint plane, const uint total)
{
    const uint i = get_global_id(0);
    if (i >= total)
        return;
    y[i] += b[(i / plane) % channels];
}
