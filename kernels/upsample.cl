/*
 * Bilinear resize of NCHW planes, PyTorch's arithmetic: align_corners=True maps output o to
 * o * (in - 1) / (out - 1); otherwise half-pixel centres, (o + 0.5) * in / out - 0.5 clamped at
 * 0. The backward pass is a gather: each input pixel sums the outputs that read it. The forward
 * pass reads and writes store_t tensors (half with -DSEGCL_HALF) through float rows of
 * scratch; the backward pass is float (training).
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

/* The forward pass is separable, in PyTorch's order: each input row is interpolated along x
 * once (upsample_rows_x, into `s`: planes * h rows of ow), then every output row blends two of
 * those rows (upsample_rows_y), a contiguous loop that vectorises. The x taps (first source
 * column and its weight) come from a table computed once per call (upsample_table_x). */
__kernel void upsample_table_x(const uint w, const uint ow, const float scale_w,
                               const uint align, __global int *table)
{
    __global int *first = table;
    __global float *l1 = (__global float *)(table + ow);
    FOR_RUN(ox, ow) {
        int x0, x1;
        float lx;
        source_index(ox, w, scale_w, align, &x0, &x1, &lx);
        first[ox] = x0;
        l1[ox] = lx;
    }
}

/* Dimension 1 runs over the chunk's input rows (plane * h + iy, planes from plane0 on),
 * dimension 0 over runs of output columns. */
__kernel void upsample_rows_x(__global const store_t *x, const uint plane0, const uint h,
                              const uint w, const uint ow, __global const int *table,
                              __global float *s)
{
    __global const int *first = table;
    __global const float *l1 = (__global const float *)(table + ow);
    const uint row = get_global_id(1);
    __global const store_t *src = x + ((size_t)plane0 * h + row) * w;
    __global float *dst = s + (size_t)row * ow;
    FOR_RUN(ox, ow) {
        const int x0 = first[ox];
        const int x1 = x0 + (x0 < (int)w - 1 ? 1 : 0);
        const float lx = l1[ox];
        dst[ox] = (1.0f - lx) * LD(src, x0) + lx * LD(src, x1);
    }
}

/* Dimension 1 runs over the chunk's output rows (plane * oh + oy): two rows of `s`, blended. */
__kernel void upsample_rows_y(__global const float *s, const uint plane0, const uint h,
                              const uint oh, const uint ow, const float scale_h,
                              const uint align, __global store_t *y)
{
    const uint row = get_global_id(1);
    const uint plane = row / oh, oy = row % oh;
    int y0, y1;
    float ly;
    source_index(oy, h, scale_h, align, &y0, &y1, &ly);
    __global const float *top = s + ((size_t)plane * h + y0) * ow;
    __global const float *bottom = s + ((size_t)plane * h + y1) * ow;
    __global store_t *dst = y + ((size_t)plane0 * oh + row) * ow;
    FOR_RUN(ox, ow)
        ST(dst, ox, (1.0f - ly) * top[ox] + ly * bottom[ox]);
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

/* The backward pass is the transpose of the same two steps: upsample_back_y sums, for every
 * input row, the output rows that read it (weights in order), giving planes * h rows of ow;
 * upsample_back_x then sums those along x. Both read a table of each input index's taps,
 * [count | taps | weights] (upsample_table_back: the outputs that read it with non-zero weight,
 * in order, at most `stride` of them; the host sizes stride from the scale, so none is ever
 * dropped). */
__kernel void upsample_table_back(const uint in, const uint out, const float scale,
                                  const uint align, const uint stride, __global int *table)
{
    __global int *count = table, *taps = table + in;
    __global float *weights = (__global float *)(table + in + (size_t)in * stride);
    FOR_RUN(i, in) {
        int o0, o1, n = 0;
        output_range(i, out, scale, align, &o0, &o1);
        for (int o = o0; o <= o1; o++) {
            const float wgt = axis_weight(o, i, in, scale, align);
            if (wgt != 0.0f && n < (int)stride) {
                taps[i * stride + n] = o;
                weights[i * stride + n] = wgt;
                n++;
            }
        }
        count[i] = n;
    }
}

/* Dimension 1 runs over the chunk's input rows (plane * h + iy, planes from plane0 on),
 * dimension 0 over runs of output columns;
 * the rows' taps come from upsample_table_back (in = h, out = oh). */
__kernel void upsample_back_y(__global const float *dy, const uint plane0, const uint h,
                              const uint oh,
                              const uint ow, const uint stride, __global const int *table,
                              __global float *s)
{
    __global const int *count = table, *taps = table + h;
    __global const float *weights = (__global const float *)(table + h + (size_t)h * stride);
    const uint row = get_global_id(1);
    const uint plane = row / h, iy = row % h;
    const int n = count[iy];
    __global const int *rows = taps + iy * stride;
    __global const float *wy = weights + iy * stride;
    __global const float *g = dy + (size_t)(plane0 + plane) * oh * ow;
    __global float *dst = s + (size_t)row * ow;
    FOR_RUN(ox, ow) {
        float col = 0.0f;
        for (int r = 0; r < n; r++)
            col += wy[r] * g[(size_t)rows[r] * ow + ox];
        dst[ox] = col;
    }
}

/* Dimension 1 runs over the chunk's input rows (plane * h + iy, planes from plane0 on),
 * dimension 0 over runs of input columns. */
__kernel void upsample_back_x(__global const float *s, const uint plane0, const uint h,
                              const uint w, const uint ow,
                              const uint stride, __global const int *table,
                              __global float *dx, const uint accumulate)
{
    __global const int *count = table, *taps = table + w;
    __global const float *weights = (__global const float *)(table + w + (size_t)w * stride);
    const uint row = get_global_id(1);
    __global const float *src = s + (size_t)row * ow;
    __global float *dst = dx + ((size_t)plane0 * h + row) * w;
    FOR_RUN(ix, w) {
        float sum = 0.0f;
        const int n = count[ix];
        for (int t = 0; t < n; t++)
            sum += weights[ix * stride + t] * src[taps[ix * stride + t]];
        dst[ix] = accumulate ? dst[ix] + sum : sum;
    }
}
