/*
 * Max pooling with argmax indices (index into the input plane, iy * W + ix), its gather-style
 * backward, and max-unpooling from those indices (SegNet). Windows with no valid input (only
 * with padding) produce -inf and index -1, as they never occur for the networks here.
 */

__kernel void maxpool_forward(__global const float *x, const uint planes, const uint h,
                              const uint w, const uint k, const uint stride, const uint pad,
                              const uint ho, const uint wo, __global float *y,
                              __global int *indices)
{
    const uint pix = get_global_id(0);
    const uint plane = get_global_id(1);
    if (pix >= ho * wo || plane >= planes)
        return;
    const int oy = pix / wo, ox = pix % wo;
    __global const float *src = x + (size_t)plane * h * w;
    /* PyTorch's rule: start at the window's first valid pixel with -inf, take strictly
     * greater values or NaN, so the first maximum wins and NaN propagates. */
    float best = -INFINITY;
    int best_i = -1;
    for (uint ky = 0; ky < k; ky++) {
        const int iy = oy * (int)stride - (int)pad + (int)ky;
        if (iy < 0 || iy >= (int)h)
            continue;
        for (uint kx = 0; kx < k; kx++) {
            const int ix = ox * (int)stride - (int)pad + (int)kx;
            if (ix < 0 || ix >= (int)w)
                continue;
            const float v = src[iy * w + ix];
            if (best_i < 0)
                best_i = iy * (int)w + ix;
            if (v > best || isnan(v)) {
                best = v;
                best_i = iy * (int)w + ix;
            }
        }
    }
    y[(size_t)plane * ho * wo + pix] = best;
    indices[(size_t)plane * ho * wo + pix] = best_i;
}

/* dx[i] (+)= sum of dy over the windows covering i whose argmax is i */
__kernel void maxpool_backward(__global const float *dy, __global const int *indices,
                               const uint planes, const uint h, const uint w, const uint k,
                               const uint stride, const uint pad, const uint ho, const uint wo,
                               __global float *dx, const uint accumulate)
{
    const uint pix = get_global_id(0);
    const uint plane = get_global_id(1);
    if (pix >= h * w || plane >= planes)
        return;
    const int iy = pix / w, ix = pix % w;
    /* windows oy with oy*stride - pad <= iy <= oy*stride - pad + k - 1 */
    const int oy0 = max(0, (iy + (int)pad - (int)k + (int)stride) / (int)stride);
    const int oy1 = min((int)ho - 1, (iy + (int)pad) / (int)stride);
    const int ox0 = max(0, (ix + (int)pad - (int)k + (int)stride) / (int)stride);
    const int ox1 = min((int)wo - 1, (ix + (int)pad) / (int)stride);
    const size_t base = (size_t)plane * ho * wo;
    float g = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++) {
            const size_t o = base + oy * wo + ox;
            if (indices[o] == (int)pix)
                g += dy[o];
        }
    __global float *dst = dx + (size_t)plane * h * w + pix;
    *dst = accumulate ? *dst + g : g;
}

/* Unpool: out (planes x oh x ow) is x scattered to its indices, zero elsewhere. Written as a
 * gather over the windows (k, stride) that cover each output pixel, so no two work-items write
 * the same element. */
__kernel void maxunpool_forward(__global const float *x, __global const int *indices,
                                const uint planes, const uint h, const uint w, const uint k,
                                const uint stride, const uint pad, const uint oh, const uint ow,
                                __global float *out)
{
    const uint pix = get_global_id(0);
    const uint plane = get_global_id(1);
    if (pix >= oh * ow || plane >= planes)
        return;
    const int py = pix / ow, px = pix % ow;
    const int y0 = max(0, (py + (int)pad - (int)k + (int)stride) / (int)stride);
    const int y1 = min((int)h - 1, (py + (int)pad) / (int)stride);
    const int x0 = max(0, (px + (int)pad - (int)k + (int)stride) / (int)stride);
    const int x1 = min((int)w - 1, (px + (int)pad) / (int)stride);
    const size_t base = (size_t)plane * h * w;
    float v = 0.0f;
    for (int y = y0; y <= y1; y++)
        for (int xx = x0; xx <= x1; xx++) {
            const size_t i = base + y * w + xx;
            if (indices[i] == (int)pix)
                v = x[i]; /* last window wins, as a scatter in index order would */
        }
    out[(size_t)plane * oh * ow + pix] = v;
}

/* dx[i] (+)= dout[indices[i]] */
__kernel void maxunpool_backward(__global const float *dout, __global const int *indices,
                                 const uint planes, const uint h, const uint w, const uint oh,
                                 const uint ow, __global float *dx, const uint accumulate)
{
    const uint pix = get_global_id(0);
    const uint plane = get_global_id(1);
    if (pix >= h * w || plane >= planes)
        return;
    const size_t i = (size_t)plane * h * w + pix;
    const int idx = indices[i];
    const float g = idx >= 0 ? dout[(size_t)plane * oh * ow + idx] : 0.0f;
    dx[i] = accumulate ? dx[i] + g : g;
}
