/* Helpers shared by the ops: shape checks with readable errors and per-context scratch. */
#include <stdio.h>

#include "ops/ops.h"

segcl_status segcl_expect_shape(segcl_context *ctx, const char *op, const char *what,
                                const segcl_tensor *t, int ndim, const int64_t *shape)
{
    if (!t)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", op, what);
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (ok)
        return SEGCL_OK;
    char want[80] = "", have[80];
    size_t used = 0;
    for (int i = 0; i < ndim && used < sizeof want; i++) {
        int n = shape[i] < 0 ? snprintf(want + used, sizeof want - used, "%s?", i ? "x" : "")
                             : snprintf(want + used, sizeof want - used, "%s%lld", i ? "x" : "",
                                        (long long)shape[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    segcl_shape_format(t->ndim, t->shape, have, sizeof have);
    return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                      "%s: %s '%s' has shape %s, expected %s", op, what, t->name, have, want);
}

segcl_status segcl_small_scratch(segcl_context *ctx, size_t floats, cl_mem *out)
{
    segcl_status st = segcl_scratch_reserve(ctx, "op scratch", &ctx->ws_small, &ctx->ws_small_bytes,
                                            (floats < 1024 ? 1024 : floats) * sizeof(float));
    *out = ctx->ws_small;
    return st;
}

segcl_status segcl_column_scratch(segcl_context *ctx, size_t floats, cl_mem *out)
{
    segcl_status st = segcl_scratch_reserve(ctx, "convolution columns", &ctx->ws_columns,
                                            &ctx->ws_columns_bytes, floats * sizeof(float));
    *out = ctx->ws_columns;
    return st;
}

segcl_status segcl_u32(segcl_context *ctx, const char *op, size_t v, cl_uint *out)
{
    if (v > UINT32_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: %zu elements exceed 32-bit indexing", op, v);
    *out = (cl_uint)v;
    return SEGCL_OK;
}
