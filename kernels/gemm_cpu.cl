/*
 * GEMM for CPU devices (PoCL and other CPU runtimes), written like a CPU BLAS micro-kernel:
 * one work-item per work-group, so each work-group is a plain thread; a register tile of
 * MR x 16 floats in float8 accumulators (two per row); A and B packed into panels so the inner loop reads
 * both contiguously. Blocked GotoBLAS-style: a KC x 16 slice of B stays in L1 while the MC rows
 * of A it meets stay in L2.
 *
 * Packed layouts (zero-padded to whole tiles):
 *   Ap[(tile_m * K + p) * MR + r]   tile_m = row / MR
 *   Bp[(tile_n * K + p) * 16 + c]   tile_n = col / 16
 * C is row-major with leading dimension ldc and element offset c_offset.
 */

#ifndef MR
#define MR 6
#endif
#define NR 16
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
void gemm_pack_a(__global const float *a, const uint a_offset, const uint lda, const uint trans,
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
            __global const float *src = a + (size_t)p * lda + i0;
            for (uint r = 0; r < MR; r++)
                dst[p * MR + r] = r < rows ? src[r] : 0.0f;
        }
    } else {
        for (uint r = 0; r < MR; r++) {
            __global const float *src = a + (size_t)(i0 + r) * lda;
            for (uint p = p0; p < p1; p++)
                dst[p * MR + r] = r < rows ? src[p] : 0.0f;
        }
    }
}

/* op(B) is K x N: B[p][j] at b[p * ldb + j], or b[j * ldb + p] when transposed. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gemm_pack_b(__global const float *b, const uint b_offset, const uint ldb, const uint trans,
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
            __global const float *src = b + (size_t)(j0 + c) * ldb;
            for (uint p = p0; p < p1; p++)
                dst[p * NR + c] = c < cols ? src[p] : 0.0f;
        }
    } else if (cols == NR) {
        for (uint p = p0; p < p1; p++)
            {
            __global const float *src = b + (size_t)p * ldb + j0;
            vstore8(vload8(0, src), 0, dst + p * NR);
            vstore8(vload8(1, src), 1, dst + p * NR);
        }
    } else {
        for (uint p = p0; p < p1; p++) {
            __global const float *src = b + (size_t)p * ldb + j0;
            for (uint c = 0; c < NR; c++)
                dst[p * NR + c] = c < cols ? src[c] : 0.0f;
        }
    }
}

/* Stores one MR x 16 tile held as two float8 halves per row:
 * C = alpha * acc (+ beta * C on the first K block, + C on later ones). */
inline void store_tile(__global float *c, const uint ldc, const uint row0, const uint col0,
                       const uint m, const uint n, const float8 *lo, const float8 *hi,
                       const float alpha, const float beta, const int first)
{
    if (row0 + MR <= m && col0 + NR <= n) {
#pragma unroll
        for (int r = 0; r < MR; r++) {
            __global float *dst = c + (size_t)(row0 + r) * ldc + col0;
            float8 v0 = alpha * lo[r], v1 = alpha * hi[r];
            if (!first) {
                v0 += vload8(0, dst);
                v1 += vload8(1, dst);
            } else if (beta != 0.0f) {
                v0 += beta * vload8(0, dst);
                v1 += beta * vload8(1, dst);
            }
            vstore8(v0, 0, dst);
            vstore8(v1, 1, dst);
        }
        return;
    }
    for (int r = 0; r < MR; r++) {
        if (row0 + r >= m)
            break;
        __global float *dst = c + (size_t)(row0 + r) * ldc + col0;
        float vals[NR];
        vstore8(lo[r], 0, vals);
        vstore8(hi[r], 1, vals);
        for (uint j = 0; j < NR && col0 + j < n; j++) {
            float v = alpha * vals[j];
            if (!first)
                v += dst[j];
            else if (beta != 0.0f)
                v += beta * dst[j];
            dst[j] = v;
        }
    }
}

/* float8 halves rather than float16: on AVX2 targets a float16 is two registers anyway, and
 * passing it between functions trips an ABI warning in the device compiler. */
/* Dimension 2 splits K into chunks of k_chunk (for outputs too small to keep every core busy):
 * split s sums k in [s * k_chunk, (s + 1) * k_chunk) into its own M x N slab of c, at
 * c_offset + s * split_stride; gemm_sum_splits then adds the slabs in order. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gemm_packed(__global const float *ap, __global const float *bp, __global float *c,
                 const uint c_offset, const uint ldc, const uint m, const uint n, const uint k,
                 const float alpha, const float beta, const uint k_chunk,
                 const uint split_stride)
{
    const uint tiles_m = (m + MR - 1) / MR;
    const uint tiles_n = (n + NR - 1) / NR;
    const uint tm0 = get_group_id(1) * MC_TILES;
    const uint tn0 = get_group_id(0) * NC_TILES;
    const uint tm1 = min(tm0 + MC_TILES, tiles_m);
    const uint tn1 = min(tn0 + NC_TILES, tiles_n);
    const uint split = get_group_id(2);
    const uint k_begin = split * k_chunk, k_end = min(k_begin + k_chunk, k);
    c += c_offset + (size_t)split * split_stride;

    for (uint k0 = k_begin; k0 < k_end; k0 += KC) {
        const uint kc = min((uint)KC, k_end - k0);
        const int first = k0 == k_begin;
        for (uint tn = tn0; tn < tn1; tn++) {
            __global const float *bpanel = bp + ((size_t)tn * k + k0) * NR;
            for (uint tm = tm0; tm < tm1; tm++) {
                __global const float *apanel = ap + ((size_t)tm * k + k0) * MR;
                float8 lo[MR], hi[MR];
#pragma unroll
                for (int r = 0; r < MR; r++) {
                    lo[r] = (float8)(0.0f);
                    hi[r] = (float8)(0.0f);
                }
                for (uint p = 0; p < kc; p++) {
                    const float8 b0 = vload8(0, bpanel + p * NR);
                    const float8 b1 = vload8(1, bpanel + p * NR);
#pragma unroll
                    for (int r = 0; r < MR; r++) {
                        const float8 av = (float8)(apanel[p * MR + r]);
                        lo[r] = fma(av, b0, lo[r]);
                        hi[r] = fma(av, b1, hi[r]);
                    }
                }
                store_tile(c, ldc, tm * MR, tn * NR, m, n, lo, hi, alpha, beta, first);
            }
        }
    }
}

/* c = alpha * sum_s slabs[s] + beta * c, slabs summed in split order (deterministic). */
__kernel void gemm_sum_splits(__global const float *slabs, const uint splits, const uint m,
                              const uint n, __global float *c, const uint c_offset,
                              const uint ldc, const float alpha, const float beta)
{
    const uint row = get_global_id(1);
    __global float *dst = c + c_offset + (size_t)row * ldc;
    FOR_RUN(j, n) {
        float s = 0.0f;
        for (uint p = 0; p < splits; p++)
            s += slabs[((size_t)p * m + row) * n + j];
        dst[j] = beta != 0.0f ? alpha * s + beta * dst[j] : alpha * s;
    }
}
