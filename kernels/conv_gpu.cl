/*
 * Convolutions on GPU-style devices as implicit GEMMs over the whole batch (src/cl/conv_gpu.c):
 * forward, data gradient (gather form, phase by phase for strides > 1) and weight gradient
 * (split K, partial products summed in a fixed order). The operand tiles are gathered from the
 * tensors into local memory tile by tile (implicit im2col); each work-item keeps a WM x WN
 * register tile of the output.
 *
 * Tunables (the host passes them with -D; src/cl/context.c derives them from the device):
 *   TM x TN   the output tile of a work-group (rows: channels; columns: images x pixels)
 *   WM x WN   the register tile of a work-item: work-groups are (TN/WN) x (TM/WM)
 *   TK        the K step staged in local memory: (TM + TN) x TK floats
 *   VW        floats per vector load of the forward pass's weight tile (1, 2 or 4)
 * The host checks that THREADS = (TM/WM) x (TN/WN) is a multiple of TK and TK / VW, that
 * THREADS and TN divide one another, and that TK is a multiple of VW.
 */
#ifndef TM
#define TM 64
#endif
#ifndef TN
#define TN 64
#endif
#ifndef WM
#define WM 4
#endif
#ifndef WN
#define WN 4
#endif
#ifndef TK
#define TK 16
#endif
#ifndef VW
#define VW 4
#endif
#define THREADS ((TM / WM) * (TN / WN))
#define TKV (TK / VW)
/* The B tiles of the forward pass and the data gradient are gathered column by column: a
 * work-item keeps BCOLS columns (tid % TN + c * THREADS) and steps through K BSTEP rows at a
 * time. */
#define BCOLS (TN > THREADS ? TN / THREADS : 1)
#define BSTEP (THREADS > TN ? THREADS / TN : 1)

#if VW == 4
#ifdef SEGCL_HALF
#define LDV(p, i, t) vstore4(vload_half4(0, (p) + (i)), 0, (t))
#else
#define LDV(p, i, t) vstore4(vload4(0, (p) + (i)), 0, (t))
#endif
#elif VW == 2
#ifdef SEGCL_HALF
#define LDV(p, i, t) vstore2(vload_half2(0, (p) + (i)), 0, (t))
#else
#define LDV(p, i, t) vstore2(vload2(0, (p) + (i)), 0, (t))
#endif
#else
#define LDV(p, i, t) ((t)[0] = LD(p, i))
#endif

/* Division by a divisor every work-item shares, as a multiply-high and a shift (Granlund and
 * Montgomery; the form PyTorch's IntDivider uses): exact for n < 2^31, which the host checks
 * every index stays under. Integer division is a long loop on most GPUs and scalar on CPUs. */
typedef struct fdiv {
    uint magic, shift;
} fdiv;

inline fdiv fdiv_of(uint d)
{
    fdiv f;
    d = max(d, 1u);
    f.shift = d > 1 ? 32 - clz(d - 1) : 0;
    f.magic = (uint)((((ulong)1 << 32) * (((ulong)1 << f.shift) - d)) / d + 1);
    return f;
}

inline uint fdiv_q(const uint n, const fdiv f)
{
    return (mul_hi(n, f.magic) + n) >> f.shift;
}

/* What the forward pass applies to each output of channel c before it stores it, in the order
 * of ep_apply in kernels/gemm_cpu.cl: + bias, ReLU, then scale * v + shift (all three tensors,
 * store_t). */
#define EP_BIAS 1
#define EP_RELU 2
#define EP_AFFINE 4

/* The register tile: WM row vectors of WN floats, acc0 .. acc<WM-1>, as named variables rather
 * than an array (some compilers keep a private array in memory, one access per lane: llvmpipe).
 * WM is 1, 2, 4 or 8; WN 1, 2, 4, 8 or 16. */
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#if WN == 1
typedef float accv;
#define VLOAD_ROW(p) (*(p))
#define VSTORE_ROW(v, p) (*(p) = (v))
#else
typedef CAT(float, WN) accv;
#define VLOAD_ROW(p) CAT(vload, WN)(0, (p))
#define VSTORE_ROW(v, p) CAT(vstore, WN)((v), 0, (p))
#endif
#if WM > 1
#define ROW_1(X) X(1)
#else
#define ROW_1(X)
#endif
#if WM > 2
#define ROW_2(X) X(2) X(3)
#else
#define ROW_2(X)
#endif
#if WM > 4
#define ROW_4(X) X(4) X(5) X(6) X(7)
#else
#define ROW_4(X)
#endif
#define EACH_ROW(X) X(0) ROW_1(X) ROW_2(X) ROW_4(X)

#define ACC_DECLARE(i) accv acc##i = (accv)(0.0f);
#define ACC_FMA(i) acc##i = fma((accv)(a_[(i) * NY]), b_, acc##i);
#define ACC_SPILL(i) VSTORE_ROW(acc##i, acc[i]);
#define DECLARE_ACC EACH_ROW(ACC_DECLARE)

/* The work-item (tx, ty) owns the columns tx + j * NX and the rows ty + i * NY of the tile:
 * neighbouring work-items read neighbouring words of the local tiles (no bank conflicts on
 * GPUs; where work-items are the lanes of a SIMD register, llvmpipe, contiguous vector loads
 * instead of gathers), as CLBlast's strided STRM/STRN layouts. */
#define NX (TN / WN)
#define NY (TM / WM)
#if WN == 1
#define B_ROW(p) ((p)[0])
#elif WN == 2
#define B_ROW(p) ((float2)((p)[0], (p)[NX]))
#elif WN == 4
#define B_ROW(p) ((float4)((p)[0], (p)[NX], (p)[2 * NX], (p)[3 * NX]))
#elif WN == 8
#define B_ROW(p)                                                                                   \
    ((float8)((p)[0], (p)[NX], (p)[2 * NX], (p)[3 * NX], (p)[4 * NX], (p)[5 * NX], (p)[6 * NX],    \
              (p)[7 * NX]))
#else
#define B_ROW(p)                                                                                   \
    ((float16)((p)[0], (p)[NX], (p)[2 * NX], (p)[3 * NX], (p)[4 * NX], (p)[5 * NX], (p)[6 * NX],   \
               (p)[7 * NX], (p)[8 * NX], (p)[9 * NX], (p)[10 * NX], (p)[11 * NX], (p)[12 * NX],    \
               (p)[13 * NX], (p)[14 * NX], (p)[15 * NX]))
#endif

/* acc += the TK-deep product of the local tiles: rows ty + i * NY, columns tx + j * NX */
#define TILE_PRODUCT(as, bs, tx, ty)                                                               \
    _Pragma("unroll") for (uint kk_ = 0; kk_ < TK; kk_++)                                          \
    {                                                                                              \
        const accv b_ = B_ROW((bs) + kk_ * TN + (tx));                                             \
        __local const float *a_ = (as) + kk_ * TM + (ty);                                          \
        EACH_ROW(ACC_FMA)                                                                          \
    }

/* the register tile as an array, for the stores */
#define SPILL_ACC(acc)                                                                             \
    float acc[WM][WN];                                                                             \
    EACH_ROW(ACC_SPILL)

/* ---- forward: y (images x cout x ho x wo) = ep(W col(x)) -------------------------------------
 * M = cout, N = images * ho * wo, K = cin * kh * kw. */
__kernel __attribute__((reqd_work_group_size(TN / WN, TM / WM, 1)))
void conv_gpu_forward(__global const store_t *w, __global const store_t *x, __global store_t *y,
                      const uint images, const uint cin, const uint h, const uint wd,
                      const uint cout, const uint ho, const uint wo, const uint kh,
                      const uint kw, const uint stride, const uint pad, const float beta,
                      __global const store_t *bias, __global const store_t *scale,
                      __global const store_t *shift, const uint ep_flags)
{
    __local float as[TK * TM], bs[TK * TN];
    const uint tx = get_local_id(0), ty = get_local_id(1), tid = ty * (TN / WN) + tx;
    const uint m0 = get_group_id(1) * TM, n0 = get_group_id(0) * TN;
    const uint khw = kh * kw, kt = cin * khw, pixels = ho * wo, nt = images * pixels;
    const fdiv by_khw = fdiv_of(khw), by_kw = fdiv_of(kw), by_pix = fdiv_of(pixels),
               by_wo = fdiv_of(wo);
    /* the columns of the B tile this work-item gathers: where their pixels' windows start
     * (INT_MIN / 2 for columns past the end: never inside the image) */
    uint xbase[BCOLS];
    int iy0[BCOLS], ix0[BCOLS];
#pragma unroll
    for (uint c = 0; c < BCOLS; c++) {
        const uint col = n0 + tid % TN + c * THREADS, img = fdiv_q(col, by_pix);
        const uint pix = col - img * pixels, oy = fdiv_q(pix, by_wo), ox = pix - oy * wo;
        iy0[c] = col < nt ? (int)(oy * stride) - (int)pad : INT_MIN / 2;
        ix0[c] = (int)(ox * stride) - (int)pad;
        xbase[c] = col < nt ? img * cin * h * wd : 0;
    }
    DECLARE_ACC

    for (uint k0 = 0; k0 < kt; k0 += TK) {
        for (uint e = tid; e < TM * TKV; e += THREADS) {
            const uint mm = e / TKV, kc = (e % TKV) * VW, m = m0 + mm, k = k0 + kc;
            float t[VW];
            if (m < cout && k + VW <= kt) {
                LDV(w, m * kt + k, t);
            } else {
#pragma unroll
                for (uint u = 0; u < VW; u++)
                    t[u] = m < cout && k + u < kt ? LD(w, m * kt + k + u) : 0.0f;
            }
#pragma unroll
            for (uint u = 0; u < VW; u++)
                as[(kc + u) * TM + mm] = t[u];
        }
        for (uint kk = tid / TN; kk < TK; kk += BSTEP) {
            const uint k = k0 + kk, ci = fdiv_q(k, by_khw), r = k - ci * khw;
            const uint ky = fdiv_q(r, by_kw), kx = r - ky * kw;
#pragma unroll
            for (uint c = 0; c < BCOLS; c++) {
                const int iy = iy0[c] + (int)ky, ix = ix0[c] + (int)kx;
                float v = 0.0f;
                if (k < kt && iy >= 0 && iy < (int)h && ix >= 0 && ix < (int)wd)
                    v = LD(x, xbase[c] + (ci * h + (uint)iy) * wd + (uint)ix);
                bs[kk * TN + tid % TN + c * THREADS] = v;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        TILE_PRODUCT(as, bs, tx, ty);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    SPILL_ACC(acc);

#pragma unroll
    for (uint j = 0; j < WN; j++) {
        const uint c = n0 + tx + j * NX, ci_img = fdiv_q(c, by_pix), p = c - ci_img * pixels;
        if (c >= nt)
            continue;
#pragma unroll
        for (uint i = 0; i < WM; i++) {
            const uint m = m0 + ty + i * NY, idx = (ci_img * cout + m) * pixels + p;
            if (m >= cout)
                continue;
            float v = acc[i][j];
            if (beta != 0.0f)
                v += beta * LD(y, idx);
            if (ep_flags & EP_BIAS)
                v += LD(bias, m);
            if (ep_flags & EP_RELU)
                v = fmax(v, 0.0f);
            if (ep_flags & EP_AFFINE)
                v = LD(scale, m) * v + LD(shift, m);
            ST(y, idx, v);
        }
    }
}

/* ---- data gradient: img (images x cin x h x w) = beta img + col2im(W^T a) + bias -------------
 * Gathered, phase by phase: the output pixels (y, x) with y % stride == py and x % stride == px
 * (dimension 2: py * stride + px) meet only the taps ky = ry + stride * jy, kx = rx + stride *
 * jx, at a[oy = y / stride + qy - jy, ox = ...]. Per phase M = cin, N = images x hp x wp,
 * K = cout x (taps of the phase), with no zero terms. */
__kernel __attribute__((reqd_work_group_size(TN / WN, TM / WM, 1)))
void conv_gpu_data_grad(__global const store_t *w, __global const store_t *a,
                        __global store_t *im, const uint images, const uint cin, const uint h,
                        const uint wd, const uint cout, const uint ho, const uint wo,
                        const uint kh, const uint kw, const uint stride, const uint pad,
                        const float beta, __global const store_t *bias)
{
    __local float as[TK * TM], bs[TK * TN];
    const uint tx = get_local_id(0), ty = get_local_id(1), tid = ty * (TN / WN) + tx;
    const uint m0 = get_group_id(1) * TM, n0 = get_group_id(0) * TN;
    const uint py = get_group_id(2) / stride, px = get_group_id(2) % stride;
    const uint hp = py < h ? (h - py + stride - 1) / stride : 0;
    const uint wp = px < wd ? (wd - px + stride - 1) / stride : 0;
    const uint ry = (py + pad) % stride, rx = (px + pad) % stride;
    const uint qy = (py + pad) / stride, qx = (px + pad) / stride;
    const uint nky = ry < kh ? (kh - ry + stride - 1) / stride : 0;
    const uint nkx = rx < kw ? (kw - rx + stride - 1) / stride : 0;
    const uint taps = nky * nkx, kt = cout * taps, khw = kh * kw;
    const uint php = hp * wp, nt = images * php, apix = ho * wo;
    const fdiv by_taps = fdiv_of(taps), by_nkx = fdiv_of(nkx), by_php = fdiv_of(php),
               by_wp = fdiv_of(wp);
    uint abase[BCOLS];
    int oyb[BCOLS], oxb[BCOLS];
#pragma unroll
    for (uint c = 0; c < BCOLS; c++) {
        const uint col = n0 + tid % TN + c * THREADS, img = fdiv_q(col, by_php);
        const uint pp = col - img * php, yy = fdiv_q(pp, by_wp), xx = pp - yy * wp;
        oyb[c] = col < nt ? (int)(yy + qy) : INT_MIN / 2;
        oxb[c] = (int)(xx + qx);
        abase[c] = col < nt ? img * cout * apix : 0;
    }
    DECLARE_ACC

    for (uint k0 = 0; k0 < kt; k0 += TK) {
        {
            /* A[ci][k] = w[co][ci][ky][kx]: one k per work-item, rows stepping */
            const uint kk = tid % TK, k = k0 + kk, co = fdiv_q(k, by_taps), r = k - co * taps;
            const uint jy = fdiv_q(r, by_nkx), jx = r - jy * nkx;
            const uint wk = co * cin * khw + (ry + stride * jy) * kw + rx + stride * jx;
            for (uint mm = tid / TK; mm < TM; mm += THREADS / TK) {
                const uint ci = m0 + mm;
                as[kk * TM + mm] = ci < cin && k < kt ? LD(w, wk + ci * khw) : 0.0f;
            }
        }
        for (uint kk = tid / TN; kk < TK; kk += BSTEP) {
            const uint k = k0 + kk, co = fdiv_q(k, by_taps), r = k - co * taps;
            const uint jy = fdiv_q(r, by_nkx), jx = r - jy * nkx;
#pragma unroll
            for (uint c = 0; c < BCOLS; c++) {
                const int oy = oyb[c] - (int)jy, ox = oxb[c] - (int)jx;
                float v = 0.0f;
                if (k < kt && oy >= 0 && oy < (int)ho && ox >= 0 && ox < (int)wo)
                    v = LD(a, abase[c] + co * apix + (uint)oy * wo + (uint)ox);
                bs[kk * TN + tid % TN + c * THREADS] = v;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        TILE_PRODUCT(as, bs, tx, ty);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    SPILL_ACC(acc);

#pragma unroll
    for (uint j = 0; j < WN; j++) {
        const uint c = n0 + tx + j * NX, ci_img = fdiv_q(c, by_php), p = c - ci_img * php;
        const uint oy = fdiv_q(p, by_wp), y = py + stride * oy, x = px + stride * (p - oy * wp);
        if (c >= nt)
            continue;
#pragma unroll
        for (uint i = 0; i < WM; i++) {
            const uint ci = m0 + ty + i * NY, idx = ((ci_img * cin + ci) * h + y) * wd + x;
            if (ci >= cin)
                continue;
            float v = acc[i][j];
            if (beta != 0.0f)
                v += beta * LD(im, idx);
            if (bias)
                v += LD(bias, ci);
            ST(im, idx, v);
        }
    }
}

/* ---- weight gradient: dw (cout x cin*kh*kw) = beta dw + sum_q a_q col(x)_q^T -----------------
 * M = cout, N = cin * kh * kw, K = images * ho * wo split in chunks of `chunk` (dimension 2).
 * Split s stores its partial product in slab s of `slabs` (float), and conv_gpu_sum_slabs adds
 * them up, also when there is one split: two launches whatever the shape and batch. */
__kernel __attribute__((reqd_work_group_size(TN / WN, TM / WM, 1)))
void conv_gpu_weight_grad(__global const store_t *a, __global const store_t *x,
                          __global float *slabs, const uint images,
                          const uint cin, const uint h, const uint wd, const uint cout,
                          const uint ho, const uint wo, const uint kh, const uint kw,
                          const uint stride, const uint pad, const uint chunk)
{
    __local float as[TK * TM], bs[TK * TN];
    const uint tx = get_local_id(0), ty = get_local_id(1), tid = ty * (TN / WN) + tx;
    const uint m0 = get_group_id(1) * TM, n0 = get_group_id(0) * TN, split = get_group_id(2);
    const uint khw = kh * kw, nt = cin * khw, pixels = ho * wo, plane = h * wd;
    const uint k_begin = split * chunk, k_end = min(k_begin + chunk, images * pixels);
    const fdiv by_khw = fdiv_of(khw), by_kw = fdiv_of(kw), by_pix = fdiv_of(pixels),
               by_wo = fdiv_of(wo);
    const uint kk = tid % TK;
    DECLARE_ACC

    for (uint k0 = k_begin; k0 < k_end; k0 += TK) {
        /* one pixel q per work-item, shared by its rows of A and its columns of B */
        const uint q = k0 + kk, img = fdiv_q(q, by_pix), pix = q - img * pixels;
        const uint oy = fdiv_q(pix, by_wo), ox = pix - oy * wo;
        const int iy0 = (int)(oy * stride) - (int)pad, ix0 = (int)(ox * stride) - (int)pad;
        const bool q_ok = q < k_end;
        for (uint mm = tid / TK; mm < TM; mm += THREADS / TK) {
            const uint m = m0 + mm;
            as[kk * TM + mm] = q_ok && m < cout ? LD(a, (img * cout + m) * pixels + pix) : 0.0f;
        }
        for (uint nn = tid / TK; nn < TN; nn += THREADS / TK) {
            const uint n = n0 + nn, ci = fdiv_q(n, by_khw), r = n - ci * khw;
            const uint ky = fdiv_q(r, by_kw), kx = r - ky * kw;
            const int iy = iy0 + (int)ky, ix = ix0 + (int)kx;
            float v = 0.0f;
            if (q_ok && n < nt && iy >= 0 && iy < (int)h && ix >= 0 && ix < (int)wd)
                v = LD(x, (img * cin + ci) * plane + (uint)iy * wd + (uint)ix);
            bs[kk * TN + nn] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        TILE_PRODUCT(as, bs, tx, ty);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    SPILL_ACC(acc);

#pragma unroll
    for (uint i = 0; i < WM; i++) {
        const uint m = m0 + ty + i * NY;
#pragma unroll
        for (uint j = 0; j < WN; j++) {
            const uint n = n0 + tx + j * NX;
            if (m < cout && n < nt)
                slabs[(split * cout + m) * nt + n] = acc[i][j];
        }
    }
}

/* dw = sum of the `splits` slabs in order s = 0, 1, ... (+ beta dw): deterministic. */
__kernel void conv_gpu_sum_slabs(__global const float *slabs, const uint splits, const uint count,
                                 __global store_t *dw, const float beta)
{
    const uint i = get_global_id(0);
    if (i >= count)
        return;
    float v = 0.0f;
    for (uint s = 0; s < splits; s++)
        v += slabs[s * count + i];
    if (beta != 0.0f)
        v += beta * LD(dw, i);
    ST(dw, i, v);
}
