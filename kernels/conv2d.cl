/*
 * Convolution pieces around GEMM: im2col (input patches to columns), gather-style col2im (each
 * input pixel sums its own contributions, no atomics), and bias broadcast. Transposed
 * convolution reuses them with roles swapped.
 *
 * Column layout for one image: col[(c * KH * KW + ky * KW + kx) * (HO * WO) + oy * WO + ox].
 * Images, weights, biases and the columns are store_t (half with -DSEGCL_HALF): columns are
 * copies of image elements, so storing them as the images are loses nothing and they stay
 * the same type as every other GEMM operand; the packed panels are float like the GEMM's own.
 */

__kernel void im2col(__global const store_t *x, const uint x_offset, const uint channels,
                     const uint h, const uint w, const uint kh, const uint kw, const uint stride,
                     const uint pad, const uint ho, const uint wo, __global store_t *col)
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
        v = LD(x, x_offset + ((size_t)c * h + iy) * w + ix);
    ST(col, (size_t)row * ho * wo + pix, v);
}

/* dx[c, iy, ix] (+)= sum of col entries that im2col read from (c, iy, ix). */
__kernel void col2im(__global const store_t *col, const uint channels, const uint h, const uint w,
                     const uint kh, const uint kw, const uint stride, const uint pad,
                     const uint ho, const uint wo, __global store_t *x, const uint x_offset,
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
            sum += LD(col, ((size_t)(c * kh + ky) * kw + kx) * ho * wo + oy * wo + ox);
        }
    }
    __global store_t *dst = x + x_offset + (size_t)c * h * w + pix;
    ST(dst, 0, accumulate ? LD(dst, 0) + sum : sum);
}

/* The epilogue of a product that did not apply it, in the same order (kernels/gemm_cpu.cl's
 * ep_apply): + b[c], ReLU, scale[c] * v + shift[c]. Dimension 1 runs over (image, channel)
 * planes. */
#define EP_BIAS 1
#define EP_RELU 2
#define EP_AFFINE 4
__kernel void conv_epilogue(__global store_t *y, __global const store_t *bias,
                            __global const store_t *scale, __global const store_t *shift,
                            const uint flags, const uint channels, const uint plane)
{
    const uint bc = get_global_id(1), c = bc % channels;
    __global store_t *dst = y + (size_t)bc * plane;
    FOR_RUN(p, plane) {
        float v = LD(dst, p);
        if (flags & EP_BIAS)
            v += LD(bias, c);
        if (flags & EP_RELU)
            v = fmax(v, 0.0f);
        if (flags & EP_AFFINE)
            v = LD(scale, c) * v + LD(shift, c);
        ST(dst, p, v);
    }
}

/* ---- CPU devices: columns written straight into the GEMM's packed panel layouts ---- */

#define PANEL GEMM_NR /* = NR of kernels/gemm_cpu.cl */

/* Columns as the B operand of y = W * col:
 * Bp[(tile * K + row) * PANEL + j] = col[row][tile * PANEL + j].
 * One work-item per (PANEL-pixel tile, block of ROWS_PER_ITEM rows). */
#define ROWS_PER_ITEM 64
__kernel void im2col_panels(__global const store_t *x, const uint x_offset, const uint channels,
                            const uint h, const uint w, const uint kh, const uint kw,
                            const uint stride, const uint pad, const uint ho, const uint wo,
                            __global float *bp)
{
    const uint tile = get_global_id(0);
    const uint k = channels * kh * kw, pixels = ho * wo;
    const uint r0 = get_global_id(1) * ROWS_PER_ITEM;
    const uint r1 = min(r0 + ROWS_PER_ITEM, k);
    if (tile * PANEL >= pixels)
        return;
    x += x_offset;
    const uint j0 = tile * PANEL;
    const uint oy0 = j0 / wo, ox0 = j0 % wo;
    /* all PANEL pixels in one output row (true whenever wo is a multiple of PANEL) */
    const int one_row = ox0 + PANEL <= wo && j0 + PANEL <= pixels;
    for (uint row = r0; row < r1; row++) {
        const uint kx = row % kw, ky = (row / kw) % kh, c = row / (kw * kh);
        __global float *dst = bp + ((size_t)tile * k + row) * PANEL;
        __global const store_t *plane = x + (size_t)c * h * w;
        if (one_row) {
            const int iy = (int)(oy0 * stride + ky) - (int)pad;
            if (iy < 0 || iy >= (int)h) {
                for (uint j = 0; j < PANEL; j++)
                    dst[j] = 0.0f;
                continue;
            }
            __global const store_t *src = plane + (size_t)iy * w;
            const int ix0 = (int)(ox0 * stride + kx) - (int)pad;
            if (stride == 1 && ix0 >= 0 && ix0 + PANEL <= (int)w) {
                /* interior: a straight copy of two vectors */
                GEMM_VSTORE(GEMM_VLOAD_ST(0, src + ix0), 0, dst);
                GEMM_VSTORE(GEMM_VLOAD_ST(0, src + ix0 + GEMM_VEC), 0, dst + GEMM_VEC);
                continue;
            }
            for (uint j = 0; j < PANEL; j++) {
                const int ix = ix0 + (int)(j * stride);
                dst[j] = ix >= 0 && ix < (int)w ? LD(src, ix) : 0.0f;
            }
        } else {
            for (uint j = 0; j < PANEL; j++) {
                const uint pix = j0 + j;
                float v = 0.0f;
                if (pix < pixels) {
                    const int iy = (int)((pix / wo) * stride + ky) - (int)pad;
                    const int ix = (int)((pix % wo) * stride + kx) - (int)pad;
                    if (iy >= 0 && iy < (int)h && ix >= 0 && ix < (int)w)
                        v = LD(plane, (size_t)iy * w + ix);
                }
                dst[j] = v;
            }
        }
    }
}

/* Transposed columns as the B operand of dW = dy * col^T:
 * Bp[(tile * P + pix) * PANEL + r] = col[tile * PANEL + r][pix]. One work-item per (PANEL-row tile,
 * run of PIXELS_PER_ITEM pixels). */
#define PIXELS_PER_ITEM 256
__kernel void im2col_panels_t(__global const store_t *x, const uint x_offset, const uint channels,
                              const uint h, const uint w, const uint kh, const uint kw,
                              const uint stride, const uint pad, const uint ho, const uint wo,
                              __global float *bp)
{
    const uint tile = get_global_id(1);
    const uint k = channels * kh * kw, pixels = ho * wo;
    const uint p0 = get_global_id(0) * PIXELS_PER_ITEM;
    const uint p1 = min(p0 + PIXELS_PER_ITEM, pixels);
    x += x_offset;
    int dy[PANEL], dx[PANEL];
    uint base[PANEL];
    int valid[PANEL];
    for (uint r = 0; r < PANEL; r++) {
        const uint row = tile * PANEL + r;
        valid[r] = row < k;
        const uint rr = valid[r] ? row : 0;
        const uint kx = rr % kw, ky = (rr / kw) % kh, c = rr / (kw * kh);
        dy[r] = (int)ky - (int)pad;
        dx[r] = (int)kx - (int)pad;
        base[r] = c * h * w;
    }
    __global float *dst = bp + ((size_t)tile * pixels) * PANEL;
    uint oy = p0 / wo, ox = p0 % wo;
    for (uint pix = p0; pix < p1; pix++) {
        const int iy0 = (int)(oy * stride), ix0 = (int)(ox * stride);
        for (uint r = 0; r < PANEL; r++) {
            const int iy = iy0 + dy[r], ix = ix0 + dx[r];
            float v = 0.0f;
            if (valid[r] && iy >= 0 && iy < (int)h && ix >= 0 && ix < (int)w)
                v = LD(x, base[r] + (uint)iy * w + (uint)ix);
            dst[(size_t)pix * PANEL + r] = v;
        }
        if (++ox == wo) {
            ox = 0;
            oy++;
        }
    }
}

/* Weights of the transposed problem: wr[ci][co][ky][kx] = w[co][ci][kh-1-ky][kw-1-kx], so that
 * a stride-1 convolution's input gradient is itself a convolution of dy. */
__kernel void conv_weight_flip(__global const store_t *w, const uint cout, const uint cin,
                               const uint kh, const uint kw, __global store_t *wr)
{
    FOR_RUN(i, cout * cin * kh * kw) {
        const uint kx = i % kw, ky = (i / kw) % kh, ci = (i / (kw * kh)) % cin;
        const uint co = i / (kw * kh * cin);
        ST(wr, (((size_t)ci * cout + co) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx), LD(w, i));
    }
}
