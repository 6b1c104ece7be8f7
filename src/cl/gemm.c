/*
 * GEMM entry point for every op. Routes to CLBlast with a temporary buffer the context keeps
 * and grows (CLBlast otherwise allocates one per call), and turns CLBlast status codes into
 * segcl errors with a message.
 */
#include <stdio.h>

#include <clblast_c.h>

#include "internal.h"

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
    return segcl_fail(ctx, st, "%s failed: %s (%d) for M=%zu N=%zu K=%zu%s%s", call,
                      clblast_status_name(code), (int)code, g->m, g->n, g->k,
                      g->trans_a ? " A^T" : "", g->trans_b ? " B^T" : "");
}

static segcl_status check_args(segcl_context *ctx, const segcl_gemm_args *g)
{
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "the context has no device: call segcl_context_open first");
    size_t a_cols = g->trans_a ? g->m : g->k, b_cols = g->trans_b ? g->k : g->n;
    if (g->m == 0 || g->n == 0 || g->k == 0 || !g->a || !g->b || !g->c || g->lda < a_cols ||
        g->ldb < b_cols || g->ldc < g->n)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_gemm: invalid arguments M=%zu N=%zu K=%zu lda=%zu ldb=%zu ldc=%zu",
                          g->m, g->n, g->k, g->lda, g->ldb, g->ldc);
    return SEGCL_OK;
}

segcl_status segcl_gemm(segcl_context *ctx, const segcl_gemm_args *g)
{
    segcl_status st = check_args(ctx, g);
    if (st)
        return st;
    const CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t temp_bytes = 0;
    CLBlastStatusCode code = CLBlastSGemmTempBufferSize(
        CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->a_offset, g->lda, g->b_offset, g->ldb,
        g->c_offset, g->ldc, &ctx->queue, &temp_bytes);
    if (code != CLBlastSuccess)
        return fail_clblast(ctx, code, "CLBlastSGemmTempBufferSize", g);
    if (temp_bytes > ctx->gemm_temp_bytes) {
        /* Grow geometrically so a sequence of growing shapes reallocates only a few times. */
        size_t want = temp_bytes + temp_bytes / 2;
        if (ctx->gemm_temp) {
            /* The old buffer may still be in use by queued GEMMs; finish before releasing. */
            cl_int err = clFinish(ctx->queue);
            if (err != CL_SUCCESS)
                return segcl_fail_cl(ctx, err, "clFinish", NULL);
            segcl_buffer_release(ctx, ctx->gemm_temp, ctx->gemm_temp_bytes);
            ctx->gemm_temp = NULL;
            ctx->gemm_temp_bytes = 0;
        }
        st = segcl_buffer_create(ctx, "GEMM temporary buffer", want, &ctx->gemm_temp);
        if (st)
            return st;
        ctx->gemm_temp_bytes = want;
    }
    code = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha,
                                      g->a, g->a_offset, g->lda, g->b, g->b_offset, g->ldb,
                                      g->beta, g->c, g->c_offset, g->ldc, &ctx->queue, NULL,
                                      ctx->gemm_temp);
    if (code != CLBlastSuccess)
        return fail_clblast(ctx, code, "CLBlastSgemmWithTempBuffer", g);
    return SEGCL_OK;
}
