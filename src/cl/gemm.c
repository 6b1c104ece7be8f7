/*
 * GEMM entry point for every op. Routes to CLBlast with a temporary buffer the context keeps
 * and grows (CLBlast otherwise allocates one per call), and turns CLBlast status codes into
 * segcl errors with a message. A, B and C are tensor data: float, or half in a half context
 * (segcl's kernels read half directly; CLBlast gets float copies, see gemm_blas).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

static const char *clblast_status_name(CLBlastStatusCode code)
{
    switch (code) {
    case CLBlastNotImplemented: return "not implemented";
    case CLBlastInvalidMatrixA: return "matrix A is not a valid buffer";
    case CLBlastInvalidMatrixB: return "matrix B is not a valid buffer";
    case CLBlastInvalidMatrixC: return "matrix C is not a valid buffer";
    case CLBlastInvalidDimension: return "M, N and K must be positive";
    case CLBlastInvalidLeadDimA: return "leading dimension of A too small";
    case CLBlastInvalidLeadDimB: return "leading dimension of B too small";
    case CLBlastInvalidLeadDimC: return "leading dimension of C too small";
    case CLBlastInsufficientMemoryA: return "buffer of A too small";
    case CLBlastInsufficientMemoryB: return "buffer of B too small";
    case CLBlastInsufficientMemoryC: return "buffer of C too small";
    case CLBlastInsufficientMemoryTemp: return "temporary buffer too small";
    case CLBlastInvalidLocalMemUsage: return "not enough local memory on the device";
    case CLBlastNoHalfPrecision: return "no half precision on the device";
    case CLBlastNoDoublePrecision: return "no double precision on the device";
    case CLBlastDatabaseError: return "no tuning parameters for this device";
    case CLBlastUnknownError: return "unknown error";
    case CLBlastUnexpectedError: return "unexpected error";
    default: break;
    }
    return (code > -1000) ? segcl_cl_error_name((cl_int)code) : "CLBlast error";
}

static segcl_status fail_clblast(segcl_context *ctx, CLBlastStatusCode code, const char *call,
                                 const segcl_gemm_args *g)
{
    segcl_status st = (code == CLBlastTempBufferAllocFailure || code == CLBlastInvalidBufferSize)
                          ? SEGCL_ERROR_OUT_OF_DEVICE_MEMORY
                      : code == CLBlastOpenCLOutOfHostMemory ? SEGCL_ERROR_OUT_OF_HOST_MEMORY
                                                             : SEGCL_ERROR_BLAS;
    if (code > -1000)
        ctx->last_cl_error = (cl_int)code;
    if (code == CLBlastInvalidLocalThreadsTotal || code == CLBlastInvalidLocalThreadsDim ||
        code == CLBlastInvalidLocalMemUsage)
        return segcl_fail(ctx, st,
                          "%s failed: %s (%d) for M=%zu N=%zu K=%zu: CLBlast's kernels do not fit "
                          "%s (work-groups up to %zu, %llu bytes of local memory); "
                          "SEGCL_GEMM=cpu uses segcl's own GEMM",
                          call, clblast_status_name(code), (int)code, g->m, g->n, g->k,
                          ctx->dev->info.name, ctx->dev->info.max_work_group_size,
                          (unsigned long long)ctx->dev->info.local_mem_bytes);
    return segcl_fail(ctx, st, "%s failed: %s (%d) for M=%zu N=%zu K=%zu%s%s", call,
                      clblast_status_name(code), (int)code, g->m, g->n, g->k,
                      g->trans_a ? " A^T" : "", g->trans_b ? " B^T" : "");
}

/* Elements a row-major matrix view needs from its offset on. */
static size_t extent(size_t offset, size_t rows, size_t cols, size_t ld)
{
    return offset + (rows - 1) * ld + cols;
}

/* elem: bytes an element (segcl_storage_bytes for tensor data, sizeof(float) for scratch) */
static segcl_status check_buffer_of(segcl_context *ctx, cl_mem buf, const char *which,
                                    size_t elems, size_t elem)
{
    size_t bytes = 0;
    cl_int err = clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clGetMemObjectInfo", "GEMM matrix %s", which);
    if (elems > bytes / elem)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_gemm: buffer of %s too small: the view needs %zu elements, the "
                          "buffer holds %zu",
                          which, elems, bytes / elem);
    return SEGCL_OK;
}

/* a buffer of tensor data */
static segcl_status check_buffer(segcl_context *ctx, cl_mem buf, const char *which, size_t elems)
{
    return check_buffer_of(ctx, buf, which, elems, segcl_storage_bytes(ctx));
}

static segcl_status check_args(segcl_context *ctx, const segcl_gemm_args *g)
{
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "the context has no device: call segcl_context_open first");
    size_t a_rows = g->trans_a ? g->k : g->m, a_cols = g->trans_a ? g->m : g->k;
    size_t b_rows = g->trans_b ? g->n : g->k, b_cols = g->trans_b ? g->k : g->n;
    if (g->m == 0 || g->n == 0 || g->k == 0 || !g->a || !g->b || !g->c || g->lda < a_cols ||
        g->ldb < b_cols || g->ldc < g->n)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_gemm: invalid arguments M=%zu N=%zu K=%zu lda=%zu ldb=%zu ldc=%zu",
                          g->m, g->n, g->k, g->lda, g->ldb, g->ldc);
    /* Kernels index raw memory: a view that overruns its buffer must never reach them. */
    segcl_status st;
    if ((st = check_buffer(ctx, g->a, "A", extent(g->a_offset, a_rows, a_cols, g->lda))) ||
        (st = check_buffer(ctx, g->b, "B", extent(g->b_offset, b_rows, b_cols, g->ldb))) ||
        (st = check_buffer(ctx, g->c, "C", extent(g->c_offset, g->m, g->n, g->ldc))))
        return st;
    return SEGCL_OK;
}

void segcl_gemm_set_backend(segcl_context *ctx, segcl_gemm_backend backend)
{
    ctx->gemm_backend = backend;
}

segcl_gemm_backend segcl_gemm_get_backend(segcl_context *ctx)
{
    if (ctx->gemm_backend == SEGCL_GEMM_AUTO && ctx->open) {
        if (ctx->gemm_env_backend != SEGCL_GEMM_AUTO)
            ctx->gemm_backend = ctx->gemm_env_backend;
        else if (ctx->params.tuned && ctx->tuning.gemm_backend)
            ctx->gemm_backend = ctx->tuning.gemm_backend;
        else
            /* CLBlast's default kernels use work-groups of up to 256 work-items; on a device
             * that allows fewer, segcl's own GEMM (one work-item per group) runs anywhere */
            ctx->gemm_backend = ctx->params.cpu_style || ctx->dev->info.max_work_group_size < 256
                                    ? SEGCL_GEMM_CPU
                                    : SEGCL_GEMM_CLBLAST;
    }
    return (segcl_gemm_backend)ctx->gemm_backend;
}

static segcl_status gemm_clblast(segcl_context *ctx, segcl_workspace *ws, const segcl_gemm_args *g)
{
    ctx->clblast_used = true;
    const CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t temp_bytes = 0;
    CLBlastStatusCode code = CLBlastSGemmTempBufferSize(
        CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->a_offset, g->lda, g->b_offset, g->ldb,
        g->c_offset, g->ldc, &ctx->queue, &temp_bytes);
    if (code != CLBlastSuccess)
        return fail_clblast(ctx, code, "CLBlastSGemmTempBufferSize", g);
    cl_mem temp;
    segcl_status st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_GEMM_TEMP, "GEMM temporary buffer",
                                              temp_bytes ? temp_bytes : 4, &temp);
    if (st)
        return st;
    code = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha,
                                      g->a, g->a_offset, g->lda, g->b, g->b_offset, g->ldb, g->beta,
                                      g->c, g->c_offset, g->ldc, &ctx->queue, NULL, temp);
    if (code != CLBlastSuccess)
        return fail_clblast(ctx, code, "CLBlastSgemmWithTempBuffer", g);
    ctx->launches++;
    return SEGCL_OK;
}

/* Tensor elements [offset, offset + n) of `tensor` as floats in scratch buffer `which`. */
static segcl_status widen(segcl_context *ctx, segcl_workspace *ws, segcl_scratch which,
                          cl_mem tensor, size_t offset, size_t n, cl_mem *out)
{
    segcl_status st = segcl_workspace_reserve(ws, which, "GEMM operand widened to float",
                                              n * sizeof(float), out);
    if (st)
        return st;
    cl_uint off = (cl_uint)offset, count = (cl_uint)n;
    return segcl_run_elements(ctx, "util", "widen", n, 1,
                              SEGCL_ARGS(SEGCL_ARG(tensor), SEGCL_ARG(off), SEGCL_ARG(*out),
                                         SEGCL_ARG(count)));
}

/* CLBlast multiplies float buffers only (its half GEMM needs cl_khr_fp16 and computes in
 * half): a half context gives it float copies of the three views and rounds C back. C is
 * widened too when its old values count (beta) or its view has gaps between rows, which then
 * go back unchanged (half -> float -> half is exact). */
static segcl_status gemm_blas(segcl_context *ctx, segcl_workspace *ws, const segcl_gemm_args *g)
{
    if (!segcl_context_half(ctx))
        return gemm_clblast(ctx, ws, g);
    const size_t a_rows = g->trans_a ? g->k : g->m, a_cols = g->trans_a ? g->m : g->k;
    const size_t b_rows = g->trans_b ? g->n : g->k, b_cols = g->trans_b ? g->k : g->n;
    const size_t na = extent(0, a_rows, a_cols, g->lda), nb = extent(0, b_rows, b_cols, g->ldb);
    const size_t nc = extent(0, g->m, g->n, g->ldc);
    if (g->a_offset + na > UINT32_MAX || g->b_offset + nb > UINT32_MAX ||
        g->c_offset + nc > UINT32_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_gemm: dimensions too large");
    segcl_gemm_args f = *g;
    f.a_offset = f.b_offset = f.c_offset = 0;
    segcl_status st;
    if ((st = widen(ctx, ws, SEGCL_SCRATCH_WIDE_A, g->a, g->a_offset, na, &f.a)) ||
        (st = widen(ctx, ws, SEGCL_SCRATCH_WIDE_B, g->b, g->b_offset, nb, &f.b)))
        return st;
    if (g->beta != 0.0f || g->ldc != g->n)
        st = widen(ctx, ws, SEGCL_SCRATCH_WIDE_C, g->c, g->c_offset, nc, &f.c);
    else
        st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_WIDE_C, "GEMM operand widened to float",
                                     nc * sizeof(float), &f.c);
    if (st || (st = gemm_clblast(ctx, ws, &f)))
        return st;
    cl_uint off = (cl_uint)g->c_offset, count = (cl_uint)nc;
    return segcl_run_elements(ctx, "util", "narrow", nc, 1,
                              SEGCL_ARGS(SEGCL_ARG(f.c), SEGCL_ARG(g->c), SEGCL_ARG(off),
                                         SEGCL_ARG(count)));
}

/* Register tile of kernels/gemm_cpu.cl: ctx->params.gemm_mr rows by ctx->params.gemm_nr
 * columns, from the device's vector width (src/cl/context.c). */
#define CPU_PACK_K 256

/* Most bytes of output gradient the weight gradient packs at once: the whole batch up to
 * there, so that its launches do not grow with the batch (issue 17), a few images at a time
 * beyond. */
#define WGRAD_PACK_BYTES ((size_t)256 << 20)

static const char *cpu_options(segcl_context *ctx)
{
    if (!ctx->gemm_cpu_options) {
        char buf[128];
        snprintf(buf, sizeof buf, "-DMR=%u -DMC_TILES=%u -DNC_TILES=%u -DKC=%u -DPACK_K=%d",
                 ctx->params.gemm_mr, ctx->params.gemm_mc_tiles, ctx->params.gemm_nc_tiles,
                 ctx->params.gemm_kc, CPU_PACK_K);
        ctx->gemm_cpu_options = segcl_strdup(buf);
    }
    return ctx->gemm_cpu_options;
}

/* Too few output blocks to occupy every core, but a long K (weight gradients of thin layers:
 * M x N small, K = pixels): the number of K splits, each `*chunk` long (whole KC blocks, so
 * every split runs the same blocking), whose partial products are added afterwards in order. */
/* Below this many work-groups a product splits its K when K is long enough. */
static size_t split_k_blocks(const segcl_context *ctx)
{
    return 4 * (size_t)ctx->dev->info.compute_units;
}

static cl_uint split_k(const segcl_context *ctx, size_t blocks, cl_uint k, cl_uint *chunk)
{
    size_t want = split_k_blocks(ctx);
    cl_uint splits = 1;
    if (blocks < want && k >= 2 * 1024) {
        splits = (cl_uint)((want + blocks - 1) / blocks);
        if (splits > k / 1024)
            splits = k / 1024;
        if (splits > 32)
            splits = 32;
    }
    if (splits <= 1) {
        *chunk = k;
        return 1;
    }
    *chunk = (k + splits - 1) / splits;
    *chunk = (*chunk + ctx->params.gemm_kc - 1) / ctx->params.gemm_kc * ctx->params.gemm_kc;
    return (k + *chunk - 1) / *chunk;
}

/* c = alpha * (sum of the split slabs) + beta * c */
static segcl_status sum_splits(segcl_context *ctx, const char *options, cl_mem slabs,
                               cl_uint splits, cl_uint m, cl_uint n, cl_mem c, cl_uint c_off,
                               cl_uint ldc, float alpha, float beta)
{
    size_t global[2] = {(n + ctx->params.run_length - 1) / ctx->params.run_length, m};
    size_t rlocal[2] = {ctx->params.run_local, 1};
    return segcl_run(ctx, "gemm_cpu", options, "gemm_sum_splits", 2, global, rlocal,
                     SEGCL_ARGS(SEGCL_ARG(slabs), SEGCL_ARG(splits), SEGCL_ARG(m), SEGCL_ARG(n),
                                SEGCL_ARG(c), SEGCL_ARG(c_off), SEGCL_ARG(ldc), SEGCL_ARG(alpha),
                                SEGCL_ARG(beta)));
}

/* Packs op(A) (m x k; A at a_off with leading dimension lda, transposed when trans) into the
 * workspace's packed A, *packed. */
static segcl_status pack_a(segcl_context *ctx, segcl_workspace *ws, const char *options, cl_mem a,
                           cl_uint a_off, cl_uint lda, cl_uint trans, cl_uint m, cl_uint k,
                           cl_mem *packed)
{
    const cl_uint mr = ctx->params.gemm_mr, tiles_m = (m + mr - 1) / mr;
    segcl_status st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_PACK_A, "GEMM packed A",
                                              (size_t)tiles_m * mr * k * sizeof(float), packed);
    if (st)
        return st;
    size_t global[2] = {(k + CPU_PACK_K - 1) / CPU_PACK_K, tiles_m}, local[2] = {1, 1};
    return segcl_run(ctx, "gemm_cpu", options, "gemm_pack_a", 2, global, local,
                     SEGCL_ARGS(SEGCL_ARG(a), SEGCL_ARG(a_off), SEGCL_ARG(lda), SEGCL_ARG(trans),
                                SEGCL_ARG(m), SEGCL_ARG(k), SEGCL_ARG(*packed)));
}

/* CPU path: pack A, pack B unless the caller already did (bp != NULL), multiply. */
static segcl_status gemm_cpu(segcl_context *ctx, segcl_workspace *ws, const segcl_gemm_args *g,
                             cl_mem bp)
{
    if (g->m > UINT32_MAX / 2 || g->n > UINT32_MAX / 2 || g->k > UINT32_MAX / 2 ||
        g->lda > UINT32_MAX || g->ldb > UINT32_MAX || g->ldc > UINT32_MAX ||
        g->a_offset > UINT32_MAX || g->b_offset > UINT32_MAX || g->c_offset > UINT32_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_gemm: dimensions too large");
    const char *options = cpu_options(ctx);
    if (!options)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    const cl_uint mr = ctx->params.gemm_mr, nr = ctx->params.gemm_nr;
    cl_uint m = (cl_uint)g->m, n = (cl_uint)g->n, k = (cl_uint)g->k;
    cl_uint tiles_m = (m + mr - 1) / mr, tiles_n = (n + nr - 1) / nr;
    size_t local[2] = {1, 1};
    cl_mem ap;
    segcl_status st = pack_a(ctx, ws, options, g->a, (cl_uint)g->a_offset, (cl_uint)g->lda,
                             g->trans_a, m, k, &ap);
    if (st)
        return st;
    if (!bp) {
        size_t b_bytes = (size_t)tiles_n * nr * k * sizeof(float);
        cl_mem packed_b;
        if ((st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_PACK_B, "GEMM packed B", b_bytes,
                                          &packed_b)))
            return st;
        cl_uint b_off = (cl_uint)g->b_offset, ldb = (cl_uint)g->ldb, tb = g->trans_b;
        size_t b_global[2] = {(k + CPU_PACK_K - 1) / CPU_PACK_K, tiles_n};
        if ((st = segcl_run(ctx, "gemm_cpu", options, "gemm_pack_b", 2, b_global, local,
                            SEGCL_ARGS(SEGCL_ARG(g->b), SEGCL_ARG(b_off), SEGCL_ARG(ldb),
                                       SEGCL_ARG(tb), SEGCL_ARG(k), SEGCL_ARG(n),
                                       SEGCL_ARG(packed_b)))))
            return st;
        bp = packed_b;
    }
    cl_uint c_off = (cl_uint)g->c_offset, ldc = (cl_uint)g->ldc;
    size_t groups[3] = {(tiles_n + ctx->params.gemm_nc_tiles - 1) / ctx->params.gemm_nc_tiles,
                        (tiles_m + ctx->params.gemm_mc_tiles - 1) / ctx->params.gemm_mc_tiles, 1};
    size_t local3[3] = {1, 1, 1};
    cl_uint chunk, splits = split_k(ctx, groups[0] * groups[1], k, &chunk);
    if (segcl_context_half(ctx)) /* gemm_packed writes store_t: the slabs would be half */
        splits = 1, chunk = k;
    if (splits <= 1) {
        cl_uint stride = 0;
        return segcl_run(ctx, "gemm_cpu", options, "gemm_packed", 3, groups, local3,
                         SEGCL_ARGS(SEGCL_ARG(ap), SEGCL_ARG(bp), SEGCL_ARG(g->c), SEGCL_ARG(c_off),
                                    SEGCL_ARG(ldc), SEGCL_ARG(m), SEGCL_ARG(n), SEGCL_ARG(k),
                                    SEGCL_ARG(g->alpha), SEGCL_ARG(g->beta), SEGCL_ARG(chunk),
                                    SEGCL_ARG(stride)));
    }
    groups[2] = splits;
    cl_uint stride = m * n, zero_off = 0, slab_ld = n;
    float one = 1.0f, zero = 0.0f;
    cl_mem slabs;
    if ((st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_SLABS, "GEMM split-K slabs",
                                      (size_t)splits * stride * sizeof(float), &slabs)) ||
        (st = segcl_run(ctx, "gemm_cpu", options, "gemm_packed", 3, groups, local3,
                        SEGCL_ARGS(SEGCL_ARG(ap), SEGCL_ARG(bp), SEGCL_ARG(slabs),
                                   SEGCL_ARG(zero_off), SEGCL_ARG(slab_ld), SEGCL_ARG(m),
                                   SEGCL_ARG(n), SEGCL_ARG(k), SEGCL_ARG(one), SEGCL_ARG(zero),
                                   SEGCL_ARG(chunk), SEGCL_ARG(stride)))))
        return st;
    return sum_splits(ctx, options, slabs, splits, m, n, g->c, c_off, ldc, g->alpha, g->beta);
}

/* Most bytes of packed B a half context's GEMM holds: wider products run in blocks of columns,
 * so that its float scratch shrinks with its tensors (a float context packs B whole). */
#define HALF_PACK_B_BYTES ((size_t)1 << 20)

/* gemm_cpu over blocks of whole NR-column tiles, each B block packed within HALF_PACK_B_BYTES,
 * in a half context; the whole product at once otherwise. */
static segcl_status gemm_cpu_blocks(segcl_context *ctx, segcl_workspace *ws,
                                    const segcl_gemm_args *g)
{
    const size_t nr = ctx->params.gemm_nr, tile_bytes = nr * g->k * sizeof(float);
    size_t cols = HALF_PACK_B_BYTES / (tile_bytes ? tile_bytes : 1) * nr;
    if (cols < nr)
        cols = nr;
    if (!segcl_context_half(ctx) || cols >= g->n)
        return gemm_cpu(ctx, ws, g, NULL);
    segcl_status st = SEGCL_OK;
    for (size_t j0 = 0; j0 < g->n && !st; j0 += cols) {
        segcl_gemm_args b = *g;
        b.n = g->n - j0 < cols ? g->n - j0 : cols;
        b.b_offset = g->b_offset + (g->trans_b ? j0 * g->ldb : j0);
        b.c_offset = g->c_offset + j0;
        st = gemm_cpu(ctx, ws, &b, NULL);
    }
    return st;
}

segcl_status segcl_conv_implicit(segcl_context *ctx, segcl_workspace *ws,
                                 const segcl_conv_implicit_args *a)
{
    const size_t k = (size_t)a->cin * a->kh * a->kw, pixels = (size_t)a->ho * a->wo;
    const size_t x_plane = (size_t)a->cin * a->h * a->w_in, y_plane = (size_t)a->m * pixels;
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "segcl_conv_implicit: the context is not open");
    if (!a->images || !a->m || !k || !pixels || k > UINT32_MAX / 2 || pixels > UINT32_MAX / 2 ||
        x_plane > UINT32_MAX || y_plane > UINT32_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_conv_implicit: invalid sizes (K=%zu, %zu pixels)", k, pixels);
    segcl_status st;
    if ((st = check_buffer(ctx, a->w, "weights", (size_t)a->m * k)) ||
        (st = check_buffer(ctx, a->x, "image", x_plane * a->images)) ||
        (st = check_buffer(ctx, a->y, "output", y_plane * a->images)))
        return st;
    const char *options = cpu_options(ctx);
    if (!options)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    cl_mem ap;
    if ((st = pack_a(ctx, ws, options, a->w, 0, (cl_uint)k, 0, a->m, (cl_uint)k, &ap)))
        return st;
    const size_t tiles_m = (a->m + ctx->params.gemm_mr - 1) / ctx->params.gemm_mr;
    const size_t tiles_n = (pixels + ctx->params.gemm_nr - 1) / ctx->params.gemm_nr;
    size_t groups[3] = {(tiles_n + ctx->params.gemm_nc_tiles - 1) / ctx->params.gemm_nc_tiles,
                        (tiles_m + ctx->params.gemm_mc_tiles - 1) / ctx->params.gemm_mc_tiles,
                        a->images};
    size_t local[3] = {1, 1, 1};
    cl_uint xp = (cl_uint)x_plane, yp = (cl_uint)y_plane;
    /* kernels/gemm_cpu.cl's EP_BIAS, EP_RELU, EP_AFFINE */
    cl_uint flags = (a->bias ? 1u : 0u) | (a->relu ? 2u : 0u) | (a->scale && a->shift ? 4u : 0u);
    return segcl_run(ctx, "gemm_cpu", options, "conv_implicit", 3, groups, local,
                     SEGCL_ARGS(SEGCL_ARG(ap), SEGCL_ARG(a->x), SEGCL_ARG(xp), SEGCL_ARG(a->cin),
                                SEGCL_ARG(a->h), SEGCL_ARG(a->w_in), SEGCL_ARG(a->kh),
                                SEGCL_ARG(a->kw), SEGCL_ARG(a->stride), SEGCL_ARG(a->pad),
                                SEGCL_ARG(a->ho), SEGCL_ARG(a->wo), SEGCL_ARG(a->y), SEGCL_ARG(yp),
                                SEGCL_ARG(a->m), SEGCL_ARG(a->beta), SEGCL_ARG(a->bias),
                                SEGCL_ARG(a->scale), SEGCL_ARG(a->shift), SEGCL_ARG(flags)));
}

/* dy is packed for a few images at a time: the packed copy stays within WGRAD_PACK_BYTES (at
 * least one image), so a large batch costs no more scratch than a small one. */
static size_t wgrad_chunk_images(const segcl_context *ctx, size_t images, size_t image_pack)
{
    size_t chunk_images = WGRAD_PACK_BYTES / image_pack;
    if (chunk_images < 1)
        chunk_images = 1;
#ifdef SEGCL_TESTING
    if (ctx->test_hooks.wgrad_images > 0) /* tests: force small chunks */
        chunk_images = (size_t)ctx->test_hooks.wgrad_images;
#else
    (void)ctx;
#endif
    return chunk_images > images ? images : chunk_images;
}

segcl_status segcl_conv_implicit_wgrad(segcl_context *ctx, segcl_workspace *ws,
                                       const segcl_conv_implicit_args *a)
{
    const size_t k = (size_t)a->cin * a->kh * a->kw, pixels = (size_t)a->ho * a->wo;
    const size_t x_plane = (size_t)a->cin * a->h * a->w_in, dy_plane = (size_t)a->m * pixels;
    const size_t kg = pixels * a->images;
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE,
                          "segcl_conv_implicit_wgrad: the context is not open");
    segcl_status st = segcl_require_fp32(ctx, "the weight gradient");
    if (st)
        return st;
    if (!a->images || !a->m || !k || !pixels || k > UINT32_MAX / 2 || kg > UINT32_MAX / 2 ||
        x_plane > UINT32_MAX || dy_plane > UINT32_MAX || (size_t)a->m * k > UINT32_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_conv_implicit_wgrad: invalid sizes (K=%zu, %zu pixels)", k, kg);
    /* here y is dy (the A operand) and w the weight gradient (C) */
    if ((st = check_buffer(ctx, a->y, "output gradient", dy_plane * a->images)) ||
        (st = check_buffer(ctx, a->x, "image", x_plane * a->images)) ||
        (st = check_buffer(ctx, a->w, "weight gradient", (size_t)a->m * k)))
        return st;
    const char *options = cpu_options(ctx);
    if (!options)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    const cl_uint mr = ctx->params.gemm_mr, m = a->m, n = (cl_uint)k;
    const cl_uint tiles_m = (m + mr - 1) / mr,
                  tiles_n = (n + ctx->params.gemm_nr - 1) / ctx->params.gemm_nr;
    const size_t image_pack = (size_t)tiles_m * mr * pixels * sizeof(float);
    const size_t chunk_images = wgrad_chunk_images(ctx, a->images, image_pack);
    cl_mem ap;
    if ((st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_PACK_A, "GEMM packed A",
                                      chunk_images * image_pack, &ap)))
        return st;
    cl_uint pix = (cl_uint)pixels, dyp = (cl_uint)dy_plane, xp = (cl_uint)x_plane;
    size_t local[3] = {1, 1, 1};
    for (cl_uint img0 = 0; img0 < a->images && !st; img0 += (cl_uint)chunk_images) {
        cl_uint images = a->images - img0 < chunk_images ? a->images - img0 : (cl_uint)chunk_images;
        cl_uint kk = images * pix;
        size_t pack_global[2] = {(kk + CPU_PACK_K - 1) / CPU_PACK_K, tiles_m};
        if ((st =
                 segcl_run(ctx, "gemm_cpu", options, "gemm_pack_a_images", 2, pack_global, local,
                           SEGCL_ARGS(SEGCL_ARG(a->y), SEGCL_ARG(img0), SEGCL_ARG(pix),
                                      SEGCL_ARG(dyp), SEGCL_ARG(m), SEGCL_ARG(kk), SEGCL_ARG(ap)))))
            break;
        size_t groups[3] = {(tiles_n + ctx->params.gemm_nc_tiles - 1) / ctx->params.gemm_nc_tiles,
                            (tiles_m + ctx->params.gemm_mc_tiles - 1) / ctx->params.gemm_mc_tiles,
                            1};
        cl_uint chunk, splits = split_k(ctx, groups[0] * groups[1], kk, &chunk);
        /* the slabs whenever the shape would split K at some batch, so that the launches do
         * not depend on the batch */
        const bool slabs = splits > 1 || groups[0] * groups[1] < split_k_blocks(ctx);
        cl_uint zero_off = 0, stride = slabs ? m * n : 0;
        /* the first chunk applies the caller's beta, later ones add to it */
        float alpha = 1.0f, beta = img0 == 0 ? a->beta : 1.0f;
        float kernel_beta = slabs ? 0.0f : beta;
        cl_mem c = a->w;
        if (slabs) {
            groups[2] = splits;
            if ((st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_SLABS, "GEMM split-K slabs",
                                              (size_t)splits * stride * sizeof(float), &c)))
                break;
        }
        if ((st = segcl_run(ctx, "gemm_cpu", options, "conv_implicit_wgrad", 3, groups, local,
                            SEGCL_ARGS(SEGCL_ARG(ap), SEGCL_ARG(a->x), SEGCL_ARG(img0),
                                       SEGCL_ARG(xp), SEGCL_ARG(a->cin), SEGCL_ARG(a->h),
                                       SEGCL_ARG(a->w_in), SEGCL_ARG(a->kh), SEGCL_ARG(a->kw),
                                       SEGCL_ARG(a->stride), SEGCL_ARG(a->pad), SEGCL_ARG(a->ho),
                                       SEGCL_ARG(a->wo), SEGCL_ARG(images), SEGCL_ARG(c),
                                       SEGCL_ARG(zero_off), SEGCL_ARG(n), SEGCL_ARG(m),
                                       SEGCL_ARG(alpha), SEGCL_ARG(kernel_beta), SEGCL_ARG(chunk),
                                       SEGCL_ARG(stride)))))
            break;
        if (slabs)
            st = sum_splits(ctx, options, c, splits, m, n, a->w, zero_off, n, alpha, beta);
    }
    return st;
}

segcl_status segcl_gemm_prepacked_b(segcl_context *ctx, segcl_workspace *ws,
                                    const segcl_gemm_args *g, cl_mem bp)
{
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "the context has no device: call segcl_context_open first");
    size_t a_cols = g->trans_a ? g->m : g->k, a_rows = g->trans_a ? g->k : g->m;
    if (g->m == 0 || g->n == 0 || g->k == 0 || !g->a || !bp || !g->c || g->lda < a_cols ||
        g->ldc < g->n)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_gemm_prepacked_b: invalid arguments M=%zu N=%zu K=%zu", g->m,
                          g->n, g->k);
    const size_t nr = ctx->params.gemm_nr;
    size_t panels = (g->n + nr - 1) / nr * nr * g->k;
    segcl_status st;
    if ((st = check_buffer(ctx, g->a, "A", extent(g->a_offset, a_rows, a_cols, g->lda))) ||
        (st = check_buffer_of(ctx, bp, "packed B", panels, sizeof(float))) ||
        (st = check_buffer(ctx, g->c, "C", extent(g->c_offset, g->m, g->n, g->ldc))))
        return st;
    return gemm_cpu(ctx, ws, g, bp);
}

segcl_status segcl_gemm(segcl_context *ctx, segcl_workspace *ws, const segcl_gemm_args *g)
{
    segcl_status st = check_args(ctx, g);
    if (st)
        return st;
#ifdef SEGCL_TESTING
    /* SEGCL_TEST_GEMM_FAULT=K: every product with K or more terms drops its last one, as a
     * driver that cuts long loops short does (llvmpipe after 65,535 steps). */
    const long fault = ctx->test_hooks.gemm_fault;
    if (fault > 0 && g->k >= (size_t)fault) {
        segcl_gemm_args cut = *g;
        cut.k--;
        return segcl_gemm_get_backend(ctx) == SEGCL_GEMM_CPU ? gemm_cpu(ctx, ws, &cut, NULL)
                                                             : gemm_blas(ctx, ws, &cut);
    }
#endif
    if (segcl_gemm_get_backend(ctx) == SEGCL_GEMM_CPU)
        return gemm_cpu_blocks(ctx, ws, g);
    return gemm_blas(ctx, ws, g);
}
