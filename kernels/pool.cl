/*
 * Max pooling with argmax indices (index into the input plane, iy * W + ix), its gather-style
 * backward, and max-unpooling from those indices (SegNet). Windows with no valid input (only
 * with padding) produce -inf and index -1, as they never occur for the networks here. The
 * forward passes (maxpool_forward, maxunpool_forward) take store_t tensors (half with
 * -DSEGCL_HALF), the backward ones float; indices are int32 in every precision.
 */

/* PyTorch's rule: start at the window's first valid pixel with -inf, take strictly greater
 * values or NaN, so the first maximum wins and NaN propagates. */
#define MAX_TAKE(v, i)                                                                             \
    do {                                                                                           \
        const float v_ = (v);                                                                      \
        if (best_i < 0)                                                                            \
            best_i = (i);                                                                          \
        if (v_ > best || isnan(v_)) {                                                              \
            best = v_;                                                                             \
            best_i = (i);                                                                          \
        }                                                                                          \
    } while (0)

/* Dimension 1 runs over output rows (plane * ho + oy), dimension 0 over runs of columns. */
__kernel void maxpool_forward(__global const store_t *x, const uint planes, const uint h,
                              const uint w, const uint k, const uint stride, const uint pad,
                              const uint ho, const uint wo, __global store_t *y,
                              __global int *indices)
{
    const uint row = get_global_id(1);
    const uint plane = row / ho;
    const int oy = row % ho;
    __global const store_t *src = x + (size_t)plane * h * w;
    __global store_t *dst = y + (size_t)row * wo;
    __global int *dst_i = indices + (size_t)row * wo;
    if (k == 2 && stride == 2 && pad == 0) {
        /* the networks' 2x2 pooling: two whole input rows, no bounds to test */
        __global const store_t *r0 = src + (size_t)(2 * oy) * w, *r1 = r0 + w;
        const int base = 2 * oy * (int)w;
        FOR_RUN(ox, wo) {
            float best = -INFINITY;
            int best_i = -1;
            MAX_TAKE(LD(r0, 2 * ox), base + 2 * (int)ox);
            MAX_TAKE(LD(r0, 2 * ox + 1), base + 2 * (int)ox + 1);
            MAX_TAKE(LD(r1, 2 * ox), base + (int)w + 2 * (int)ox);
            MAX_TAKE(LD(r1, 2 * ox + 1), base + (int)w + 2 * (int)ox + 1);
            ST(dst, ox, best);
            dst_i[ox] = best_i;
        }
        return;
    }
    FOR_RUN(ox, wo) {
        float best = -INFINITY;
        int best_i = -1;
        for (uint ky = 0; ky < k; ky++) {
            const int iy = oy * (int)stride - (int)pad + (int)ky;
            if (iy < 0 || iy >= (int)h)
                continue;
            for (uint kx = 0; kx < k; kx++) {
                const int ix = (int)ox * (int)stride - (int)pad + (int)kx;
                if (ix < 0 || ix >= (int)w)
                    continue;
                MAX_TAKE(LD(src, iy * w + ix), iy * (int)w + ix);
            }
        }
        ST(dst, ox, best);
        dst_i[ox] = best_i;
    }
}

/* dx[i] (+)= sum of dy over the windows covering i whose argmax is i. Dimension 1 runs over
 * input rows (plane * h + iy), dimension 0 over runs of columns. */
__kernel void maxpool_backward(__global const float *dy, __global const int *indices,
                               const uint planes, const uint h, const uint w, const uint k,
                               const uint stride, const uint pad, const uint ho, const uint wo,
                               __global float *dx, const uint accumulate)
{
    const uint row = get_global_id(1);
    const uint plane = row / h;
    const int iy = row % h;
    const size_t base = (size_t)plane * ho * wo;
    __global float *dst = dx + (size_t)row * w;
    if (k == 2 && stride == 2 && pad == 0) {
        /* windows do not overlap: dimension 0 runs over column pairs (the host launches
         * (w + 1) / 2 of them), each the one window that covers both pixels, if any */
        const int oy = iy / 2;
        const bool row_in = oy < (int)ho;
        __global const float *g = dy + base + (size_t)oy * wo;
        __global const int *idx = indices + base + (size_t)oy * wo;
        const int pix0 = iy * (int)w;
        FOR_RUN(ox, (w + 1) / 2) {
            const bool in = row_in && ox < wo;
            const int e = in ? idx[ox] : -1;
            const float gv = in ? g[ox] : 0.0f;
            const int ix = 2 * (int)ox;
            const float v0 = e == pix0 + ix ? gv : 0.0f;
            const float v1 = e == pix0 + ix + 1 ? gv : 0.0f;
            dst[ix] = accumulate ? dst[ix] + v0 : v0;
            if (ix + 1 < (int)w)
                dst[ix + 1] = accumulate ? dst[ix + 1] + v1 : v1;
        }
        return;
    }
    /* windows oy with oy*stride - pad <= iy <= oy*stride - pad + k - 1 */
    const int oy0 = max(0, (iy + (int)pad - (int)k + (int)stride) / (int)stride);
    const int oy1 = min((int)ho - 1, (iy + (int)pad) / (int)stride);
    FOR_RUN(ix, w) {
        const int pix = iy * (int)w + (int)ix;
        const int ox0 = max(0, ((int)ix + (int)pad - (int)k + (int)stride) / (int)stride);
        const int ox1 = min((int)wo - 1, ((int)ix + (int)pad) / (int)stride);
        float g = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) {
                const size_t o = base + oy * wo + ox;
                if (indices[o] == pix)
                    g += dy[o];
            }
        dst[ix] = accumulate ? dst[ix] + g : g;
    }
}

/* Unpool: out (planes x oh x ow) is x scattered to its indices, zero elsewhere. Written as a
 * gather over the windows (k, stride) that cover each output pixel, so no two work-items write
 * the same element. */
__kernel void maxunpool_forward(__global const store_t *x, __global const int *indices,
                                const uint planes, const uint h, const uint w, const uint k,
                                const uint stride, const uint pad, const uint oh, const uint ow,
                                __global store_t *out)
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
                v = LD(x, i); /* last window wins, as a scatter in index order would */
        }
    ST(out, (size_t)plane * oh * ow + pix, v);
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
