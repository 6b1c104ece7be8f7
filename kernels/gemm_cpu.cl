/*
 * GEMM for CPU devices (PoCL and other CPU runtimes), written like a CPU BLAS micro-kernel:
 * one work-item per work-group, so each work-group is a plain thread; a register tile of
 * MR x NR floats, NR = 2 vectors of GEMM_VEC floats per row (GEMM_VEC and MR come from the
 * device's native float vector width: 8 and 6 for 256-bit registers, 12 x 2 x 16 in zmm
 * registers for 512-bit ones); A and B packed into panels so the inner loop reads both
 * contiguously. Blocked GotoBLAS-style: a KC x NR slice of B stays in L1 while the MC rows of A
 * it meets stay in L2.
 *
 * Packed layouts (zero-padded to whole tiles):
 *   Ap[(tile_m * K + p) * MR + r]   tile_m = row / MR
 *   Bp[(tile_n * K + p) * NR + c]   tile_n = col / NR
 * C is row-major with leading dimension ldc and element offset c_offset.
 * A, B and C (and the images and epilogue vectors of the convolutions) are tensors, store_t
 * (half with -DSEGCL_HALF); the packed panels and split-K slabs are float scratch.
 */

#ifndef MR
#define MR 6
#endif
#define NR GEMM_NR
#ifndef MC_TILES /* row tiles per work-group */
#define MC_TILES 8
#endif
#ifndef NC_TILES /* column tiles per work-group */
#define NC_TILES 8
#endif
#ifndef KC
#define KC 256
#endif

/* Packing runs CPU-style too: each work-group copies one panel (rows or columns of one tile)
 * for a range of PACK_K values of p, reading whole cache lines where the layout allows. */
#ifndef PACK_K
#define PACK_K 256
#endif

/* op(A) is M x K: A[i][p] at a[i * lda + p], or a[p * lda + i] when transposed. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gemm_pack_a(__global const store_t *a, const uint a_offset, const uint lda, const uint trans,
                 const uint m, const uint k, __global float *ap)
{
    const uint tile = get_group_id(1);
    const uint p0 = get_group_id(0) * PACK_K;
    const uint p1 = min(p0 + PACK_K, k);
    const uint i0 = tile * MR;
    const uint rows = min((uint)MR, m - i0);
    a += a_offset;
    __global float *dst = ap + (size_t)tile * k * MR;
    if (trans) {
        for (uint p = p0; p < p1; p++) {
            __global const store_t *src = a + (size_t)p * lda + i0;
            for (uint r = 0; r < MR; r++)
                dst[p * MR + r] = r < rows ? LD(src, r) : 0.0f;
        }
    } else {
        for (uint r = 0; r < MR; r++) {
            __global const store_t *src = a + (size_t)(i0 + r) * lda;
            for (uint p = p0; p < p1; p++)
                dst[p * MR + r] = r < rows ? LD(src, p) : 0.0f;
        }
    }
}

/* op(B) is K x N: B[p][j] at b[p * ldb + j], or b[j * ldb + p] when transposed. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gemm_pack_b(__global const store_t *b, const uint b_offset, const uint ldb, const uint trans,
                 const uint k, const uint n, __global float *bp)
{
    const uint tile = get_group_id(1);
    const uint p0 = get_group_id(0) * PACK_K;
    const uint p1 = min(p0 + PACK_K, k);
    const uint j0 = tile * NR;
    const uint cols = min((uint)NR, n - j0);
    b += b_offset;
    __global float *dst = bp + (size_t)tile * k * NR;
    if (trans) {
        for (uint c = 0; c < NR; c++) {
            __global const store_t *src = b + (size_t)(j0 + c) * ldb;
            for (uint p = p0; p < p1; p++)
                dst[p * NR + c] = c < cols ? LD(src, p) : 0.0f;
        }
    } else if (cols == NR) {
        for (uint p = p0; p < p1; p++) {
            __global const store_t *src = b + (size_t)p * ldb + j0;
            GEMM_VSTORE(GEMM_VLOAD_ST(0, src), 0, dst + p * NR);
            GEMM_VSTORE(GEMM_VLOAD_ST(1, src), 1, dst + p * NR);
        }
    } else {
        for (uint p = p0; p < p1; p++) {
            __global const store_t *src = b + (size_t)p * ldb + j0;
            for (uint c = 0; c < NR; c++)
                dst[p * NR + c] = c < cols ? LD(src, c) : 0.0f;
        }
    }
}

/* What a convolution's last K block applies to each output (row = output channel) before it
 * stores it, in the order the separate ops would: + bias, ReLU (fmax with 0, as relu_forward),
 * then scale * v + shift (inference BatchNorm, as bn_apply). */
#define EP_BIAS 1
#define EP_RELU 2
#define EP_AFFINE 4

typedef struct epilogue {
    __global const store_t *bias, *scale, *shift;
    uint flags; /* EP_*, 0 for none */
} epilogue;

inline float ep_apply(float v, const epilogue ep, const uint row)
{
    if (ep.flags & EP_BIAS)
        v += LD(ep.bias, row);
    if (ep.flags & EP_RELU)
        v = fmax(v, 0.0f);
    if (ep.flags & EP_AFFINE)
        v = LD(ep.scale, row) * v + LD(ep.shift, row);
    return v;
}

inline gemm_vec ep_apply_vec(gemm_vec v, const epilogue ep, const uint row)
{
    if (ep.flags & EP_BIAS)
        v += (gemm_vec)(LD(ep.bias, row));
    if (ep.flags & EP_RELU)
        v = fmax(v, (gemm_vec)(0.0f));
    if (ep.flags & EP_AFFINE)
        v = (gemm_vec)(LD(ep.scale, row)) * v + (gemm_vec)(LD(ep.shift, row));
    return v;
}

/* Stores one MR x NR tile held as two vector halves per row:
 * C = alpha * acc (+ beta * C on the first K block, + C on later ones), then the epilogue on
 * the last K block (ep.flags 0: none). */
inline void store_tile(__global store_t *c, const uint ldc, const uint row0, const uint col0,
                       const uint m, const uint n, const gemm_vec *lo, const gemm_vec *hi,
                       const float alpha, const float beta, const int first, const epilogue ep)
{
    if (row0 + MR <= m && col0 + NR <= n) {
#pragma unroll
        for (int r = 0; r < MR; r++) {
            __global store_t *dst = c + (size_t)(row0 + r) * ldc + col0;
            gemm_vec v0 = alpha * lo[r], v1 = alpha * hi[r];
            if (!first) {
                v0 += GEMM_VLOAD_ST(0, dst);
                v1 += GEMM_VLOAD_ST(1, dst);
            } else if (beta != 0.0f) {
                v0 += beta * GEMM_VLOAD_ST(0, dst);
                v1 += beta * GEMM_VLOAD_ST(1, dst);
            }
            if (ep.flags) {
                v0 = ep_apply_vec(v0, ep, row0 + r);
                v1 = ep_apply_vec(v1, ep, row0 + r);
            }
            GEMM_VSTORE_ST(v0, 0, dst);
            GEMM_VSTORE_ST(v1, 1, dst);
        }
        return;
    }
    for (int r = 0; r < MR; r++) {
        if (row0 + r >= m)
            break;
        __global store_t *dst = c + (size_t)(row0 + r) * ldc + col0;
        float vals[NR];
        GEMM_VSTORE(lo[r], 0, vals);
        GEMM_VSTORE(hi[r], 1, vals);
        for (uint j = 0; j < NR && col0 + j < n; j++) {
            float v = alpha * vals[j];
            if (!first)
                v += LD(dst, j);
            else if (beta != 0.0f)
                v += beta * LD(dst, j);
            if (ep.flags)
                v = ep_apply(v, ep, row0 + r);
            ST(dst, j, v);
        }
    }
}

/* The row tiles [tm0, tm1) and column tiles [tn0, tn1) of an m x n output that this
 * work-group computes (dimension 1: MC_TILES row tiles each, dimension 0: NC_TILES columns). */
typedef struct tile_block {
    uint tm0, tm1, tn0, tn1;
} tile_block;

inline tile_block block_of(const uint m, const uint n)
{
    tile_block b;
    b.tm0 = get_group_id(1) * MC_TILES;
    b.tn0 = get_group_id(0) * NC_TILES;
    b.tm1 = min(b.tm0 + MC_TILES, (m + MR - 1) / MR);
    b.tn1 = min(b.tn0 + NC_TILES, (n + NR - 1) / NR);
    return b;
}

/* The micro-kernel: lo/hi (MR vectors each) = apanel (kc x MR) times bpanel (kc x NR), both
 * packed. A macro, as bpanel is global in gemm_packed and local in conv_implicit. */
#define MICRO_TILE(apanel, bpanel, kc, lo, hi)                                                     \
    do {                                                                                           \
        _Pragma("unroll") for (int r = 0; r < MR; r++) {                                           \
            lo[r] = (gemm_vec)(0.0f);                                                              \
            hi[r] = (gemm_vec)(0.0f);                                                              \
        }                                                                                          \
        for (uint p = 0; p < (kc); p++) {                                                          \
            const gemm_vec b0 = GEMM_VLOAD(0, (bpanel) + p * NR);                                  \
            const gemm_vec b1 = GEMM_VLOAD(1, (bpanel) + p * NR);                                  \
            _Pragma("unroll") for (int r = 0; r < MR; r++) {                                       \
                const gemm_vec av = (gemm_vec)((apanel)[p * MR + r]);                              \
                lo[r] = fma(av, b0, lo[r]);                                                        \
                hi[r] = fma(av, b1, hi[r]);                                                        \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Vector halves rather than one float16 / float32 per row: on 256-bit targets a float16 is two
 * registers anyway, and passing wide vectors between functions trips ABI warnings in the
 * device compiler. */
/* Dimension 2 splits K into chunks of k_chunk (for outputs too small to keep every core busy):
 * split s sums k in [s * k_chunk, (s + 1) * k_chunk) into its own M x N slab of c, at
 * c_offset + s * split_stride; gemm_sum_splits then adds the slabs in order. The slabs are
 * then c, store_t like a tensor: a half context never splits (src/cl/gemm.c). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gemm_packed(__global const float *ap, __global const float *bp, __global store_t *c,
                 const uint c_offset, const uint ldc, const uint m, const uint n, const uint k,
                 const float alpha, const float beta, const uint k_chunk,
                 const uint split_stride)
{
    const tile_block b = block_of(m, n);
    const uint tm0 = b.tm0, tm1 = b.tm1, tn0 = b.tn0, tn1 = b.tn1;
    const uint split = get_group_id(2);
    const uint k_begin = split * k_chunk, k_end = min(k_begin + k_chunk, k);
    const epilogue none = {0, 0, 0, 0};
    c += c_offset + (size_t)split * split_stride;

    for (uint k0 = k_begin; k0 < k_end; k0 += KC) {
        const uint kc = min((uint)KC, k_end - k0);
        const int first = k0 == k_begin;
        for (uint tn = tn0; tn < tn1; tn++) {
            __global const float *bpanel = bp + ((size_t)tn * k + k0) * NR;
            for (uint tm = tm0; tm < tm1; tm++) {
                __global const float *apanel = ap + ((size_t)tm * k + k0) * MR;
                gemm_vec lo[MR], hi[MR];
                MICRO_TILE(apanel, bpanel, kc, lo, hi);
                store_tile(c, ldc, tm * MR, tn * NR, m, n, lo, hi, alpha, beta, first, none);
            }
        }
    }
}

/* c = alpha * sum_s slabs[s] + beta * c, slabs summed in split order (deterministic). */
__kernel void gemm_sum_splits(__global const float *slabs, const uint splits, const uint m,
                              const uint n, __global store_t *c, const uint c_offset,
                              const uint ldc, const float alpha, const float beta)
{
    const uint row = get_global_id(1);
    __global store_t *dst = c + c_offset + (size_t)row * ldc;
    FOR_RUN(j, n) {
        float s = 0.0f;
        for (uint p = 0; p < splits; p++)
            s += slabs[((size_t)p * m + row) * n + j];
        ST(dst, j, beta != 0.0f ? alpha * s + beta * LD(dst, j) : alpha * s);
    }
}

/* ---- implicit-GEMM convolution: y_i = W * col(x_i) with no column matrix in memory ----
 * Each work-group builds the KC x NR slice of col(x_i) it is about to multiply in local memory
 * (an L1-sized buffer on CPU devices), straight from the image, and runs the micro-kernel of
 * gemm_packed on it for all of its row tiles. Column layout as im2col's: row
 * (c * KH + ky) * KW + kx, column oy * WO + ox. */
typedef struct conv_shape {
    uint channels, h, w, kh, kw, stride, pad, ho, wo;
} conv_shape;

inline void build_slice(__local float *bs, __global const store_t *x, const conv_shape s,
                        const uint k0, const uint kc, const uint j0)
{
    const uint pixels = s.ho * s.wo;
    const uint oy0 = j0 / s.wo, ox0 = j0 % s.wo;
    /* all NR pixels in one output row (whenever wo is a multiple of NR) */
    const int one_row = ox0 + NR <= s.wo && j0 + NR <= pixels;
    uint kx = k0 % s.kw, ky = (k0 / s.kw) % s.kh, c = k0 / (s.kw * s.kh);
    for (uint p = 0; p < kc; p++) {
        __local float *dst = bs + p * NR;
        __global const store_t *plane = x + (size_t)c * s.h * s.w;
        if (one_row) {
            const int iy = (int)(oy0 * s.stride + ky) - (int)s.pad;
            const int ix0 = (int)(ox0 * s.stride + kx) - (int)s.pad;
            if (iy < 0 || iy >= (int)s.h) {
                GEMM_VSTORE((gemm_vec)(0.0f), 0, dst);
                GEMM_VSTORE((gemm_vec)(0.0f), 1, dst);
            } else if (s.stride == 1 && ix0 >= 0 && ix0 + NR <= (int)s.w) {
                __global const store_t *src = plane + (size_t)iy * s.w + ix0;
                GEMM_VSTORE(GEMM_VLOAD_ST(0, src), 0, dst);
                GEMM_VSTORE(GEMM_VLOAD_ST(0, src + GEMM_VEC), 1, dst);
            } else {
                __global const store_t *src = plane + (size_t)iy * s.w;
                for (uint j = 0; j < NR; j++) {
                    const int ix = ix0 + (int)(j * s.stride);
                    dst[j] = ix >= 0 && ix < (int)s.w ? LD(src, ix) : 0.0f;
                }
            }
        } else {
            for (uint j = 0; j < NR; j++) {
                const uint pix = j0 + j;
                float v = 0.0f;
                if (pix < pixels) {
                    const int iy = (int)((pix / s.wo) * s.stride + ky) - (int)s.pad;
                    const int ix = (int)((pix % s.wo) * s.stride + kx) - (int)s.pad;
                    if (iy >= 0 && iy < (int)s.h && ix >= 0 && ix < (int)s.w)
                        v = LD(plane, (size_t)iy * s.w + ix);
                }
                dst[j] = v;
            }
        }
        if (++kx == s.kw) {
            kx = 0;
            if (++ky == s.kh) {
                ky = 0;
                c++;
            }
        }
    }
}

/* Dimension 2 runs over images: x at img * x_plane, y at img * y_plane (m x ho*wo, row-major).
 * ap: the weights (m x channels*kh*kw) packed by gemm_pack_a. y = W col(x) + beta y, then the
 * epilogue (ep_flags: EP_*; unused pointers may be NULL). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void conv_implicit(__global const float *ap, __global const store_t *x, const uint x_plane,
                   const uint channels, const uint h, const uint w, const uint kh, const uint kw,
                   const uint stride, const uint pad, const uint ho, const uint wo,
                   __global store_t *y, const uint y_plane, const uint m, const float beta,
                   __global const store_t *bias, __global const store_t *scale,
                   __global const store_t *shift, const uint ep_flags)
{
    __local float bs[KC * NR];
    const epilogue ep = {bias, scale, shift, ep_flags}, none = {0, 0, 0, 0};
    const conv_shape s = {channels, h, w, kh, kw, stride, pad, ho, wo};
    const uint k = channels * kh * kw, n = ho * wo;
    const tile_block b = block_of(m, n);
    const uint tm0 = b.tm0, tm1 = b.tm1, tn0 = b.tn0, tn1 = b.tn1;
    x += (size_t)get_group_id(2) * x_plane;
    y += (size_t)get_group_id(2) * y_plane;

    for (uint k0 = 0; k0 < k; k0 += KC) {
        const uint kc = min((uint)KC, k - k0);
        const int first = k0 == 0;
        for (uint tn = tn0; tn < tn1; tn++) {
            build_slice(bs, x, s, k0, kc, tn * NR);
            for (uint tm = tm0; tm < tm1; tm++) {
                __global const float *apanel = ap + ((size_t)tm * k + k0) * MR;
                gemm_vec lo[MR], hi[MR];
                MICRO_TILE(apanel, bs, kc, lo, hi);
                store_tile(y, n, tm * MR, tn * NR, m, n, lo, hi, 1.0f, beta, first,
                           k0 + kc == k ? ep : none);
            }
        }
    }
}

/* ---- implicit GEMM for the weight gradient: dW += sum_i dy_i col(x_i)^T ----
 * The product's K runs over every image's pixels (p = img * ho*wo + pixel), its N over the
 * column rows. A is dy, packed by gemm_pack_a_images; each KC x NR slice of col^T is built in
 * local memory from the images. */
inline void build_slice_t(__local float *bs, __global const store_t *x, const conv_shape s,
                          const uint x_plane, const uint p0, const uint kc, const uint j0)
{
    const uint pixels = s.ho * s.wo, k = s.channels * s.kh * s.kw;
    /* column by column: within one output row, a column reads consecutive input pixels */
    for (uint r = 0; r < NR; r++) {
        __local float *dst = bs + r;
        const uint row = j0 + r;
        if (row >= k) {
            for (uint p = 0; p < kc; p++)
                dst[p * NR] = 0.0f;
            continue;
        }
        const int kx = (int)(row % s.kw), ky = (int)((row / s.kw) % s.kh);
        const uint c = row / (s.kw * s.kh);
        uint img = p0 / pixels, pix = p0 % pixels;
        uint oy = pix / s.wo, ox = pix % s.wo;
        uint p = 0;
        while (p < kc) {
            const uint len = min(s.wo - ox, kc - p);
            const int iy = (int)(oy * s.stride) + ky - (int)s.pad;
            __local float *d = dst + p * NR;
            if (iy < 0 || iy >= (int)s.h) {
                for (uint t = 0; t < len; t++)
                    d[t * NR] = 0.0f;
            } else {
                __global const store_t *src =
                    x + (size_t)img * x_plane + ((size_t)c * s.h + (uint)iy) * s.w;
                const int ix0 = (int)(ox * s.stride) + kx - (int)s.pad;
                if (s.stride == 1) {
                    /* t in [lo, hi) reads inside the row */
                    const int lo = clamp(-ix0, 0, (int)len);
                    const int hi = clamp((int)s.w - ix0, lo, (int)len);
                    for (int t = 0; t < lo; t++)
                        d[t * NR] = 0.0f;
                    for (int t = lo; t < hi; t++)
                        d[t * NR] = LD(src, ix0 + t);
                    for (int t = hi; t < (int)len; t++)
                        d[t * NR] = 0.0f;
                } else {
                    for (uint t = 0; t < len; t++) {
                        const int ix = ix0 + (int)(t * s.stride);
                        d[t * NR] = ix >= 0 && ix < (int)s.w ? LD(src, ix) : 0.0f;
                    }
                }
            }
            p += len;
            ox += len;
            if (ox == s.wo) {
                ox = 0;
                if (++oy == s.ho) {
                    oy = 0;
                    img++;
                }
            }
        }
    }
}

/* A[i][p] = dy[p / pixels][i][p % pixels] (m x images * pixels) into gemm_pack_a's layout. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gemm_pack_a_images(__global const store_t *a, const uint img0, const uint pixels,
                        const uint image_stride, const uint m, const uint k, __global float *ap)
{
    a += (size_t)img0 * image_stride;
    const uint tile = get_group_id(1);
    const uint p0 = get_group_id(0) * PACK_K;
    const uint p1 = min(p0 + PACK_K, k);
    const uint i0 = tile * MR;
    const uint rows = min((uint)MR, m - i0);
    __global float *dst = ap + (size_t)tile * k * MR;
    for (uint r = 0; r < MR; r++) {
        uint img = p0 / pixels, pix = p0 % pixels;
        __global const store_t *src = a + (size_t)img * image_stride + (size_t)(i0 + r) * pixels;
        for (uint p = p0; p < p1; p++) {
            dst[p * MR + r] = r < rows ? LD(src, pix) : 0.0f;
            if (++pix == pixels) {
                pix = 0;
                src += image_stride;
            }
        }
    }
}

/* c (m x n, ldc) = alpha A col^T (+ beta c) over `images` images from img0 on; dimension 2
 * splits K as in gemm_packed. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void conv_implicit_wgrad(__global const float *ap, __global const store_t *x, const uint img0,
                         const uint x_plane,
                         const uint channels, const uint h, const uint w, const uint kh,
                         const uint kw, const uint stride, const uint pad, const uint ho,
                         const uint wo, const uint images, __global store_t *c,
                         const uint c_offset, const uint ldc, const uint m, const float alpha,
                         const float beta, const uint k_chunk, const uint split_stride)
{
    __local float bs[KC * NR];
    const epilogue none = {0, 0, 0, 0};
    const conv_shape s = {channels, h, w, kh, kw, stride, pad, ho, wo};
    const uint n = channels * kh * kw, k = images * ho * wo;
    const tile_block b = block_of(m, n);
    const uint tm0 = b.tm0, tm1 = b.tm1, tn0 = b.tn0, tn1 = b.tn1;
    const uint split = get_group_id(2);
    const uint k_begin = split * k_chunk, k_end = min(k_begin + k_chunk, k);
    c += c_offset + (size_t)split * split_stride;
    x += (size_t)img0 * x_plane;

    for (uint k0 = k_begin; k0 < k_end; k0 += KC) {
        const uint kc = min((uint)KC, k_end - k0);
        const int first = k0 == k_begin;
        for (uint tn = tn0; tn < tn1; tn++) {
            build_slice_t(bs, x, s, x_plane, k0, kc, tn * NR);
            for (uint tm = tm0; tm < tm1; tm++) {
                __global const float *apanel = ap + ((size_t)tm * k + k0) * MR;
                gemm_vec lo[MR], hi[MR];
                MICRO_TILE(apanel, bs, kc, lo, hi);
                store_tile(c, ldc, tm * MR, tn * NR, m, n, lo, hi, alpha, beta, first, none);
            }
        }
    }
}
