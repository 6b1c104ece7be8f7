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

__kernel void upsample_bilinear_forward(__global const float *x, const uint planes, const uint h,
                                        const uint w, const uint oh, const uint ow,
                                        const float scale_h, const float scale_w,
                                        const uint align, __global float *y)
{
    const uint pix = get_global_id(0);
    const uint plane = get_global_id(1);
    if (pix >= oh * ow || plane >= planes)
        return;
    const uint oy = pix / ow, ox = pix % ow;
    int y0, y1, x0, x1;
    float ly, lx;
    source_index(oy, h, scale_h, align, &y0, &y1, &ly);
    source_index(ox, w, scale_w, align, &x0, &x1, &lx);
    __global const float *src = x + (size_t)plane * h * w;
    const float top = (1.0f - lx) * src[y0 * w + x0] + lx * src[y0 * w + x1];
    const float bottom = (1.0f - lx) * src[y1 * w + x0] + lx * src[y1 * w + x1];
    y[(size_t)plane * oh * ow + pix] = (1.0f - ly) * top + ly * bottom;
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

/* Outputs that can read input i lie within this conservative range. */
inline void output_range(const int i, const uint out, const float scale, int *lo, int *hi)
{
    if (scale <= 0.0f) {
        *lo = 0;
        *hi = (int)out - 1;
        return;
    }
    *lo = max(0, (int)floor(((float)i - 1.5f) / scale) - 1);
    *hi = min((int)out - 1, (int)ceil(((float)i + 1.5f) / scale) + 1);
}

__kernel void upsample_bilinear_backward(__global const float *dy, const uint planes,
                                         const uint h, const uint w, const uint oh,
                                         const uint ow, const float scale_h,
                                         const float scale_w, const uint align,
                                         __global float *dx, const uint accumulate)
{
    const uint pix = get_global_id(0);
    const uint plane = get_global_id(1);
    if (pix >= h * w || plane >= planes)
        return;
    const int iy = pix / w, ix = pix % w;
    int oy0, oy1, ox0, ox1;
    output_range(iy, oh, scale_h, &oy0, &oy1);
    output_range(ix, ow, scale_w, &ox0, &ox1);
    __global const float *g = dy + (size_t)plane * oh * ow;
    float sum = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++) {
        const float wy = axis_weight(oy, iy, h, scale_h, align);
        if (wy == 0.0f)
            continue;
        for (int ox = ox0; ox <= ox1; ox++) {
            const float wx = axis_weight(ox, ix, w, scale_w, align);
            /* same product order as the forward pass's weights */
            if (wx != 0.0f)
                sum += wy * wx * g[oy * ow + ox];
        }
    }
    __global float *dst = dx + (size_t)plane * h * w + pix;
    *dst = accumulate ? *dst + sum : sum;
}
