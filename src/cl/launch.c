/*
 * Kernel argument setting and launching with checked results, plus the elementwise helpers of
 * kernels/util.cl that many ops share.
 */
#include <stdio.h>

#include "internal.h"

segcl_status segcl_set_args(segcl_context *ctx, cl_kernel kernel, const char *name,
                            const segcl_arg *args, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cl_int err = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS)
            return segcl_fail_cl(ctx, err, "clSetKernelArg", "kernel %s, argument %zu", name, i);
    }
    return SEGCL_OK;
}

segcl_status segcl_launch(segcl_context *ctx, cl_kernel kernel, const char *name, cl_uint dims,
                          const size_t *global, const size_t *local)
{
    size_t rounded[3], default_local[3] = {64, 1, 1};
    if (dims < 1 || dims > 3)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "kernel %s: %u dimensions", name, dims);
    if (!local)
        local = default_local;
    for (cl_uint d = 0; d < dims; d++) {
        if (global[d] == 0)
            return SEGCL_OK; /* nothing to do */
        rounded[d] = (global[d] + local[d] - 1) / local[d] * local[d];
    }
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, kernel, dims, NULL, rounded, local, 0, NULL,
                                        NULL);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clEnqueueNDRangeKernel", "kernel %s, global %zu", name,
                             global[0]);
    return SEGCL_OK;
}

segcl_status segcl_run(segcl_context *ctx, const char *family, const char *options,
                       const char *name, cl_uint dims, const size_t *global, const size_t *local,
                       const segcl_arg *args, size_t nargs)
{
    cl_kernel k;
    segcl_status st = segcl_kernel_get(ctx, family, options, name, &k);
    if (st || (st = segcl_set_args(ctx, k, name, args, nargs)))
        return st;
    return segcl_launch(ctx, k, name, dims, global, local);
}

segcl_status segcl_fill(segcl_context *ctx, cl_mem x, size_t n, float value)
{
    cl_kernel k;
    segcl_status st = segcl_kernel_get(ctx, "util", NULL, "fill_f32", &k);
    if (st)
        return st;
    if (n > UINT32_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "fill_f32: %zu elements", n);
    cl_uint count = (cl_uint)n;
    segcl_arg args[] = {SEGCL_ARG(x), SEGCL_ARG(count), SEGCL_ARG(value)};
    if ((st = segcl_set_args(ctx, k, "fill_f32", args, 3)))
        return st;
    return segcl_launch(ctx, k, "fill_f32", 1, &n, NULL);
}

segcl_status segcl_axpby(segcl_context *ctx, cl_mem x, cl_mem y, size_t n, float alpha, float beta)
{
    cl_kernel k;
    segcl_status st = segcl_kernel_get(ctx, "util", NULL, "axpby_f32", &k);
    if (st)
        return st;
    if (n > UINT32_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "axpby_f32: %zu elements", n);
    cl_uint count = (cl_uint)n;
    segcl_arg args[] = {SEGCL_ARG(x), SEGCL_ARG(y), SEGCL_ARG(count), SEGCL_ARG(alpha),
                        SEGCL_ARG(beta)};
    if ((st = segcl_set_args(ctx, k, "axpby_f32", args, 5)))
        return st;
    return segcl_launch(ctx, k, "axpby_f32", 1, &n, NULL);
}
