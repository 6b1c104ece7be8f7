/*
 * Kernel argument setting and launching with checked results, plus the elementwise helpers of
 * kernels/util.cl that many ops share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

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

segcl_status segcl_launch(segcl_context *ctx, cl_kernel kernel, const char *name,
                          size_t max_work_group, cl_uint dims, const size_t *global,
                          const size_t *local)
{
    size_t rounded[3], default_local[3] = {ctx->params.elem_local, 1, 1};
    if (dims < 1 || dims > 3)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "kernel %s: %u dimensions", name, dims);
    if (!local) {
        if (default_local[0] > max_work_group)
            default_local[0] = max_work_group;
        local = default_local;
    }
    size_t group = 1;
    for (cl_uint d = 0; d < dims; d++)
        group *= local[d];
    if (group > max_work_group)
        return segcl_fail(ctx, SEGCL_ERROR_OPENCL,
                          "kernel %s needs work-groups of %zu work-items; %s allows %zu for it "
                          "(CL_KERNEL_WORK_GROUP_SIZE, CL_DEVICE_MAX_WORK_GROUP_SIZE)",
                          name, group, ctx->dev->info.name, max_work_group);
    for (cl_uint d = 0; d < dims; d++) {
        if (global[d] == 0)
            return SEGCL_OK; /* nothing to do */
        rounded[d] = (global[d] + local[d] - 1) / local[d] * local[d];
    }
    struct timespec t0, t1;
    if (ctx->profile) {
        clFinish(ctx->queue);
        clock_gettime(CLOCK_MONOTONIC, &t0);
    }
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, kernel, dims, NULL, rounded, local, 0, NULL,
                                        NULL);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clEnqueueNDRangeKernel", "kernel %s, global %zu", name,
                             global[0]);
    ctx->launches++;
    if (ctx->profile) {
        clFinish(ctx->queue);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        size_t i = 0;
        while (i < ctx->profile_count && strcmp(ctx->profile_entries[i].name, name) != 0)
            i++;
        if (i == ctx->profile_count && i < SEGCL_PROFILE_MAX) {
            snprintf(ctx->profile_entries[i].name, sizeof ctx->profile_entries[i].name, "%s",
                     name);
            ctx->profile_count++;
        }
        if (i < ctx->profile_count) {
            ctx->profile_entries[i].calls++;
            ctx->profile_entries[i].seconds += dt;
        }
    }
    return SEGCL_OK;
}

uint64_t segcl_context_kernel_launches(const segcl_context *ctx)
{
    return ctx ? ctx->launches : 0;
}

bool segcl_profile_enabled(const segcl_context *ctx)
{
    return ctx->profile > 0;
}

void segcl_profile_reset(segcl_context *ctx)
{
    memset(ctx->profile_entries, 0, sizeof ctx->profile_entries);
    ctx->profile_count = 0;
}

void segcl_profile_print(segcl_context *ctx, void *file)
{
    FILE *f = file;
    double total = 0;
    for (size_t i = 0; i < ctx->profile_count; i++)
        total += ctx->profile_entries[i].seconds;
    for (size_t i = 0; i < ctx->profile_count; i++) {
        const segcl_profile_entry *e = &ctx->profile_entries[i];
        fprintf(f, "  %-28s %8lu calls %10.2f ms %5.1f%%\n", e->name, e->calls, e->seconds * 1e3,
                total > 0 ? 100 * e->seconds / total : 0);
    }
}

segcl_status segcl_run(segcl_context *ctx, const char *family, const char *options,
                       const char *name, cl_uint dims, const size_t *global, const size_t *local,
                       const segcl_arg *args, size_t nargs)
{
    cl_kernel k;
    size_t max_wg;
    segcl_status st = segcl_kernel_find(ctx, family, options, name, &k, &max_wg);
    if (st || (st = segcl_set_args(ctx, k, name, args, nargs)))
        return st;
    return segcl_launch(ctx, k, name, max_wg, dims, global, local);
}

segcl_status segcl_reduction_group(segcl_context *ctx, size_t *wg, const char **options)
{
    if (!ctx->reduce_wg) {
        /* a kernel with a barrier and local memory tells what such kernels may use here */
        cl_kernel probe;
        size_t limit;
        segcl_status st = segcl_kernel_find(ctx, "util", NULL, "group_probe", &probe, &limit);
        if (st)
            return st;
        size_t w = 64;
        while (w > limit)
            w /= 2;
        ctx->reduce_wg = w;
        snprintf(ctx->reduce_options, sizeof ctx->reduce_options, "-DGROUP_SUM_WG=%zu", w);
    }
    *wg = ctx->reduce_wg;
    *options = ctx->reduce_options;
    return SEGCL_OK;
}

/* Elements a CPU-style work-group of whole rows should cover at least. */
#define ROWS_GROUP_ELEMENTS 4096

segcl_status segcl_run_elements(segcl_context *ctx, const char *family, const char *name,
                                size_t n, size_t planes, const segcl_arg *args, size_t nargs)
{
    cl_kernel k;
    size_t max_wg;
    segcl_status st = segcl_kernel_find(ctx, family, NULL, name, &k, &max_wg);
    if (st || (st = segcl_set_args(ctx, k, name, args, nargs)))
        return st;
    size_t global[2] = {(n + ctx->params.run_length - 1) / ctx->params.run_length, planes};
    size_t local[2] = {ctx->params.run_local < max_wg ? ctx->params.run_local : max_wg, 1};
    /* CPU-style, short rows: a work-group per row would be mostly launch overhead (a U-Net
     * upsample at 32x32 was 65,536 groups of 32 elements). Group whole rows instead, a
     * divisor of the row count so no work-item falls outside: the kernels need no guard. */
    if (ctx->params.cpu_style && planes > 1 && n < ROWS_GROUP_ELEMENTS && local[0] == 1) {
        size_t want = ROWS_GROUP_ELEMENTS / (n ? n : 1);
        if (want > max_wg)
            want = max_wg;
        if (want > planes)
            want = planes;
        while (want > 1 && planes % want)
            want--;
        local[1] = want;
    }
    return segcl_launch(ctx, k, name, max_wg, 2, global, local);
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
    (void)k;
    return segcl_run_elements(ctx, "util", "fill_f32", n, 1,
                              SEGCL_ARGS(SEGCL_ARG(x), SEGCL_ARG(count), SEGCL_ARG(value)));
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
    (void)k;
    return segcl_run_elements(ctx, "util", "axpby_f32", n, 1,
                              SEGCL_ARGS(SEGCL_ARG(x), SEGCL_ARG(y), SEGCL_ARG(count),
                                         SEGCL_ARG(alpha), SEGCL_ARG(beta)));
}
