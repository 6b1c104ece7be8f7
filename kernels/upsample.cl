/*
 * Bilinear resize of NCHW planes, PyTorch's arithmetic: align_corners=True maps output o to
 * o * (in - 1) / (out - 1); otherwise half-pixel centres, (o + 0.5) * in / out - 0.5 clamped at
 * 0. The backward pass is a gather: each input pixel sums the outputs that read it.
 */

inline void source_index(const uint o, const uint in, const float scale, const uint align,
                         int *i0, int *i1, float *l1)
{
    float src = align ? scale * (float)o : scale * ((float)o + 0.5f) - 0.5f;
    if (src < 0.0f)
        src = 0.0f;
    const int lo = min((int)src, (int)in - 1);
    *i0 = lo;
    *i1 = lo + (lo < (int)in - 1 ? 1 : 0);
    *l1 = src - (float)lo;
}

/* Dimension 1 runs over output rows (plane * oh + oy), dimension 0 over runs of columns: the
 * row's source rows and weight are computed once per run. */
__kernel void upsample_bilinear_forward(__global const float *x, const uint planes, const uint h,
                                        const uint w, const uint oh, const uint ow,
                                        const float scale_h, const float scale_w,
                                        const uint align, __global float *y)
{
    const uint row = get_global_id(1);
    const uint plane = row / oh, oy = row % oh;
    int y0, y1;
    float ly;
    source_index(oy, h, scale_h, align, &y0, &y1, &ly);
    __global const float *top = x + ((size_t)plane * h + y0) * w;
    __global const float *bottom = x + ((size_t)plane * h + y1) * w;
    __global float *dst = y + (size_t)row * ow;
    FOR_RUN(ox, ow) {
        int x0, x1;
        float lx;
        source_index(ox, w, scale_w, align, &x0, &x1, &lx);
        const float t = (1.0f - lx) * top[x0] + lx * top[x1];
        const float b = (1.0f - lx) * bottom[x0] + lx * bottom[x1];
        dst[ox] = (1.0f - ly) * t + ly * b;
    }
}

/* Weight with which output o reads input i along one axis (0 when it does not). */
inline float axis_weight(const uint o, const int i, const uint in, const float scale,
                         const uint align)
{
    int i0, i1;
    float l1;
    source_index(o, in, scale, align, &i0, &i1, &l1);
    float wgt = 0.0f;
    if (i0 == i)
        wgt += 1.0f - l1;
    if (i1 == i)
        wgt += l1;
    return wgt;
}

/* Outputs that can read input i: their source coordinate lies in (i - 1, i + 1), i.e.
 * o in ((i - 1 - c) / scale, (i + 1 - c) / scale) with c = 0 (align) or c in [-0.5, 0]
 * (half-pixel); one extra on each side absorbs float rounding. */
inline void output_range(const int i, const uint out, const float scale, const uint align,
                         int *lo, int *hi)
{
    if (scale <= 0.0f) {
        *lo = 0;
        *hi = (int)out - 1;
        return;
    }
    const float shift = align ? 0.0f : 0.5f;
    *lo = max(0, (int)floor(((float)i - 1.0f + shift) / scale - shift) - 1);
    *hi = min((int)out - 1, (int)ceil(((float)i + 1.0f + shift) / scale - shift) + 1);
}

#define MAX_TAPS 16

/* Dimension 1 runs over input rows (plane * h + iy), dimension 0 over runs of columns. */
__kernel void upsample_bilinear_backward(__global const float *dy, const uint planes,
                                         const uint h, const uint w, const uint oh,
                                         const uint ow, const float scale_h,
                                         const float scale_w, const uint align,
                                         __global float *dx, const uint accumulate)
{
    const uint row = get_global_id(1);
    const uint plane = row / h, iy = row % h;
    int oy0, oy1;
    output_range(iy, oh, scale_h, align, &oy0, &oy1);
    /* the output rows that read this input row, with their weights */
    float wy[MAX_TAPS];
    int rows[MAX_TAPS], nrows = 0;
    for (int oy = oy0; oy <= oy1; oy++) {
        const float wgt = axis_weight(oy, iy, h, scale_h, align);
        if (wgt != 0.0f && nrows < MAX_TAPS) {
            wy[nrows] = wgt;
            rows[nrows++] = oy;
        }
    }
    __global const float *g = dy + (size_t)plane * oh * ow;
    __global float *dst = dx + (size_t)row * w;
    FOR_RUN(ix, w) {
        int ox0, ox1;
        output_range(ix, ow, scale_w, align, &ox0, &ox1);
        float sum = 0.0f;
        for (int ox = ox0; ox <= ox1; ox++) {
            const float wx = axis_weight(ox, ix, w, scale_w, align);
            if (wx == 0.0f)
                continue;
            float col = 0.0f;
            for (int r = 0; r < nrows; r++)
                col += wy[r] * g[rows[r] * ow + ox];
            sum += wx * col;
        }
        dst[ix] = accumulate ? dst[ix] + sum : sum;
    }
}
