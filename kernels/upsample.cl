/*
 * Bilinear resize of NCHW planes, PyTorch's arithmetic: align_corners=True maps output o to
 * o * (in - 1) / (out - 1); otherwise half-pixel centres, (o + 0.5) * in / out - 0.5 clamped at
 * 0. One launch each way, whatever the batch: the forward pass computes each output from its
 * four taps (along x first, then y, as PyTorch does); the backward pass is a gather, each input
 * pixel summing the outputs that read it (for each x tap in order, the y taps in order). The
 * big side may be a channel range of a larger tensor (a U-Net's concatenation, written and read
 * in place): its planes start at channel c0 of `big_channels`. Tensors are store_t (half with
 * -DSEGCL_HALF on the forward pass); arithmetic is float.
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

/* Plane p (image p / channels, channel p % channels) of the big side, at channel c0 of a
 * tensor of big_channels channels. */
inline size_t big_plane(const uint p, const uint channels, const uint big_channels,
                        const uint c0, const size_t plane)
{
    return ((size_t)(p / channels) * big_channels + c0 + p % channels) * plane;
}

/* Dimension 1 runs over output rows (plane * oh + oy), dimension 0 over runs of columns. */
__kernel void upsample_forward(__global const store_t *x, const uint channels, const uint h,
                               const uint w, const uint oh, const uint ow, const float scale_h,
                               const float scale_w, const uint align, __global store_t *y,
                               const uint y_channels, const uint c0)
{
    const uint row = get_global_id(1);
    const uint plane = row / oh, oy = row % oh;
    int y0, y1;
    float ly;
    source_index(oy, h, scale_h, align, &y0, &y1, &ly);
    __global const store_t *top = x + ((size_t)plane * h + y0) * w;
    __global const store_t *bottom = x + ((size_t)plane * h + y1) * w;
    __global store_t *dst =
        y + big_plane(plane, channels, y_channels, c0, (size_t)oh * ow) + (size_t)oy * ow;
    FOR_RUN(ox, ow) {
        int x0, x1;
        float lx;
        source_index(ox, w, scale_w, align, &x0, &x1, &lx);
        const float t = (1.0f - lx) * LD(top, x0) + lx * LD(top, x1);
        const float b = (1.0f - lx) * LD(bottom, x0) + lx * LD(bottom, x1);
        ST(dst, ox, (1.0f - ly) * t + ly * b);
    }
}

/* Dimension 1 runs over input rows (plane * h + iy), dimension 0 over runs of input columns:
 * dx[iy][ix] (+)= sum over x taps ox (in order) of wx * (sum over y taps oy (in order) of
 * wy * dy[oy][ox]), the taps being the outputs that read the input with a non-zero weight. */
__kernel void upsample_backward(__global const float *dy, const uint dy_channels, const uint c0,
                                const uint channels, const uint h, const uint w, const uint oh,
                                const uint ow, const float scale_h, const float scale_w,
                                const uint align, __global float *dx, const uint accumulate)
{
    const uint row = get_global_id(1);
    const uint plane = row / h, iy = row % h;
    int oy0, oy1;
    output_range((int)iy, oh, scale_h, align, &oy0, &oy1);
    __global const float *g = dy + big_plane(plane, channels, dy_channels, c0, (size_t)oh * ow);
    __global float *dst = dx + (size_t)row * w;
    FOR_RUN(ix, w) {
        int ox0, ox1;
        output_range((int)ix, ow, scale_w, align, &ox0, &ox1);
        float sum = 0.0f;
        for (int ox = ox0; ox <= ox1; ox++) {
            const float wx = axis_weight((uint)ox, (int)ix, w, scale_w, align);
            if (wx == 0.0f)
                continue;
            float col = 0.0f;
            for (int oy = oy0; oy <= oy1; oy++) {
                const float wy = axis_weight((uint)oy, (int)iy, h, scale_h, align);
                if (wy != 0.0f)
                    col += wy * g[(size_t)oy * ow + ox];
            }
            sum += wx * col;
        }
        dst[ix] = accumulate ? dst[ix] + sum : sum;
    }
}
