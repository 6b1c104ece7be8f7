/* Helpers shared by the ops: shape checks with readable errors and their scratch. */
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

segcl_status segcl_small_scratch(segcl_context *ctx, segcl_workspace *ws, size_t floats,
                                 cl_mem *out)
{
    (void)ctx;
    return segcl_workspace_reserve(ws, SEGCL_SCRATCH_SMALL, "op scratch",
                                   (floats < 1024 ? 1024 : floats) * sizeof(float), out);
}

segcl_status segcl_column_scratch(segcl_context *ctx, segcl_workspace *ws, size_t floats,
                                  cl_mem *out)
{
    (void)ctx;
    return segcl_workspace_reserve(ws, SEGCL_SCRATCH_COLUMNS, "convolution columns",
                                   floats * sizeof(float), out);
}

segcl_status segcl_u32(segcl_context *ctx, const char *op, size_t v, cl_uint *out)
{
    if (v > UINT32_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: %zu elements exceed 32-bit indexing", op, v);
    *out = (cl_uint)v;
    return SEGCL_OK;
}

/* Elements per work-item in the first stage of the channel reductions (CHUNK in reduce.cl). */
#define CHANNEL_CHUNK 64

segcl_status segcl_channel_first_stage(segcl_context *ctx, segcl_workspace *ws,
                                       segcl_channel_kind kind, cl_mem x, cl_mem dy, cl_mem mean,
                                       cl_mem invstd, cl_uint n, cl_uint channels, cl_uint plane,
                                       segcl_channel_partials *out)
{
    segcl_status st = segcl_reduction_group(ctx, &out->wg, &out->options);
    if (st)
        return st;
    const size_t count = (size_t)n * plane, span = out->wg * CHANNEL_CHUNK;
    const cl_uint groups = (cl_uint)((count + span - 1) / span);
    const bool two = kind == SEGCL_CHANNEL_DY_XHAT || kind == SEGCL_CHANNEL_MOMENTS;
    const cl_uint rows = two ? 2 * channels : channels;
    out->groups = groups;
    out->span = (cl_uint)span;
    if ((st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_PARTIALS, "reduction partials",
                                      (size_t)rows * groups * sizeof(float), &out->partials)))
        return st;
    const cl_mem partials = out->partials;
    size_t global[2] = {(size_t)groups * out->wg, channels}, local[2] = {out->wg, 1};
    switch (kind) {
    case SEGCL_CHANNEL_SUM:
    case SEGCL_CHANNEL_MOMENTS:
        return segcl_run(ctx, "reduce", out->options,
                         kind == SEGCL_CHANNEL_SUM ? "channel_partials_sum"
                                                   : "channel_partials_moments",
                         2, global, local,
                         SEGCL_ARGS(SEGCL_ARG(x), SEGCL_ARG(n), SEGCL_ARG(channels),
                                    SEGCL_ARG(plane), SEGCL_ARG(groups), SEGCL_ARG(partials)));
    case SEGCL_CHANNEL_SQDEV:
        return segcl_run(ctx, "reduce", out->options, "channel_partials_sqdev", 2, global, local,
                         SEGCL_ARGS(SEGCL_ARG(x), SEGCL_ARG(mean), SEGCL_ARG(n),
                                    SEGCL_ARG(channels), SEGCL_ARG(plane), SEGCL_ARG(groups),
                                    SEGCL_ARG(partials)));
    case SEGCL_CHANNEL_DY_XHAT:
        return segcl_run(ctx, "reduce", out->options, "channel_partials_dy_xhat", 2, global,
                         local,
                         SEGCL_ARGS(SEGCL_ARG(dy), SEGCL_ARG(x), SEGCL_ARG(mean),
                                    SEGCL_ARG(invstd), SEGCL_ARG(n), SEGCL_ARG(channels),
                                    SEGCL_ARG(plane), SEGCL_ARG(groups), SEGCL_ARG(partials)));
    }
    return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "channel reduction: unknown kind %d",
                      (int)kind);
}

segcl_status segcl_channel_reduce(segcl_context *ctx, segcl_workspace *ws, segcl_channel_kind kind,
                                  cl_mem x, cl_mem dy, cl_mem mean, cl_mem invstd, cl_uint n,
                                  cl_uint channels, cl_uint plane, cl_mem out, cl_uint out_offset,
                                  bool accumulate, float scale)
{
    segcl_channel_partials cp;
    segcl_status st = segcl_channel_first_stage(ctx, ws, kind, x, dy, mean, invstd, n, channels,
                                                plane, &cp);
    if (st)
        return st;
    const cl_uint rows = kind == SEGCL_CHANNEL_SUM || kind == SEGCL_CHANNEL_SQDEV ? channels
                                                                                   : 2 * channels;
    cl_uint acc = accumulate;
    size_t rglobal = (size_t)rows * cp.wg;
    return segcl_run(ctx, "reduce", cp.options, "sum_rows", 1, &rglobal, &cp.wg,
                     SEGCL_ARGS(SEGCL_ARG(cp.partials), SEGCL_ARG(cp.groups), SEGCL_ARG(out),
                                SEGCL_ARG(out_offset), SEGCL_ARG(acc), SEGCL_ARG(scale)));
}
