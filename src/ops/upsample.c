/* Bilinear resize with align_corners or half-pixel centres, and its backward, as two separable
 * passes through a bounded scratch of rows (kernels/upsample.cl). */
#include <math.h>

#include "ops/ops.h"

/* PyTorch's scale per axis: (in - 1) / (out - 1) with align_corners, in / out otherwise. */
static float axis_scale(cl_uint in, cl_uint out, bool align)
{
    if (align)
        return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return (float)in / (float)out;
}

/* Most outputs that can read one input along an axis (kernels' output_range: two source units
 * either side, one extra each side for rounding), so a tap table never drops one. */
static cl_uint axis_taps(cl_uint out, float scale)
{
    if (!(scale > 0.0f))
        return out;
    double taps = ceil(2.0 / (double)scale) + 5.0;
    return taps < (double)out ? (cl_uint)taps : out;
}

/* The scratch of rows holds at most this many bytes (at least one plane): it stays in cache
 * between the two passes, and a batch of 32 costs no more memory than a batch of 1. */
#define ROWS_SCRATCH_BYTES ((size_t)4 << 20)

typedef struct resize {
    cl_uint planes, h, w, oh, ow, align;
    float sh, sw;
    cl_uint chunk; /* planes per pass through the scratch */
    cl_mem rows;   /* the scratch */
} resize;

static segcl_status prepare(segcl_context *ctx, segcl_workspace *ws, const char *op,
                            const segcl_tensor *small, const segcl_tensor *big, bool align,
                            size_t row_len, resize *r)
{
    if (!small || !big || small->ndim != 4 || big->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: tensors must be NCHW", op);
    int64_t want[4] = {small->shape[0], small->shape[1], -1, -1};
    cl_uint u;
    segcl_status st;
    if ((st = segcl_expect_shape(ctx, op, "output", big, 4, want)) ||
        (st = segcl_u32(ctx, op, small->numel, &u)) || (st = segcl_u32(ctx, op, big->numel, &u)))
        return st;
    r->planes = (cl_uint)(small->shape[0] * small->shape[1]);
    r->h = (cl_uint)small->shape[2], r->w = (cl_uint)small->shape[3];
    r->oh = (cl_uint)big->shape[2], r->ow = (cl_uint)big->shape[3], r->align = align;
    r->sh = axis_scale(r->h, r->oh, align), r->sw = axis_scale(r->w, r->ow, align);
    size_t plane_bytes = (size_t)r->h * row_len * sizeof(float);
    /* a half context keeps its float scratch to a quarter, as its tensors are half */
    const size_t limit = segcl_context_half(ctx) ? ROWS_SCRATCH_BYTES / 4 : ROWS_SCRATCH_BYTES;
    size_t chunk = limit / (plane_bytes ? plane_bytes : 1);
    if (chunk < 1)
        chunk = 1;
    r->chunk = chunk < r->planes ? (cl_uint)chunk : r->planes;
    if ((size_t)r->chunk * plane_bytes / sizeof(float) > UINT32_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: planes too large", op);
    return segcl_workspace_reserve(ws, SEGCL_SCRATCH_RESAMPLE_ROWS, "bilinear resize rows",
                                   (size_t)r->chunk * plane_bytes, &r->rows);
}

segcl_status segcl_upsample_bilinear_forward(segcl_context *ctx, segcl_workspace *ws,
                                             const segcl_tensor *x, segcl_tensor *y,
                                             bool align_corners)
{
    const char *op = "upsample_bilinear";
    resize r;
    cl_mem xtab;
    segcl_status st = SEGCL_OK;
    if (!y || y->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: tensors must be NCHW", op);
    if ((st = prepare(ctx, ws, op, x, y, align_corners, (size_t)y->shape[3], &r)) ||
        (st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_RESAMPLE_XTAB, "bilinear resize table",
                                      (size_t)r.ow * 8, &xtab)) ||
        (st = segcl_run_elements(ctx, "upsample", "upsample_table_x", r.ow, 1,
                                 SEGCL_ARGS(SEGCL_ARG(r.w), SEGCL_ARG(r.ow), SEGCL_ARG(r.sw),
                                            SEGCL_ARG(r.align), SEGCL_ARG(xtab)))))
        return st;
    for (cl_uint p0 = 0; p0 < r.planes && !st; p0 += r.chunk) {
        cl_uint n = r.planes - p0 < r.chunk ? r.planes - p0 : r.chunk;
        if ((st = segcl_run_elements(ctx, "upsample", "upsample_rows_x", r.ow, (size_t)n * r.h,
                                     SEGCL_ARGS(SEGCL_ARG(x->buffer), SEGCL_ARG(p0), SEGCL_ARG(r.h),
                                                SEGCL_ARG(r.w), SEGCL_ARG(r.ow), SEGCL_ARG(xtab),
                                                SEGCL_ARG(r.rows)))))
            break;
        st = segcl_run_elements(ctx, "upsample", "upsample_rows_y", r.ow, (size_t)n * r.oh,
                                SEGCL_ARGS(SEGCL_ARG(r.rows), SEGCL_ARG(p0), SEGCL_ARG(r.h),
                                           SEGCL_ARG(r.oh), SEGCL_ARG(r.ow), SEGCL_ARG(r.sh),
                                           SEGCL_ARG(r.align), SEGCL_ARG(y->buffer)));
    }
    return st;
}

/* Fills a [count | taps | weights] table of one axis (in inputs, stride taps each). */
static segcl_status back_table(segcl_context *ctx, segcl_workspace *ws, segcl_scratch which,
                               cl_mem *table, cl_uint in, cl_uint out, float scale, cl_uint align,
                               cl_uint *stride)
{
    *stride = axis_taps(out, scale);
    size_t need = (size_t)in * (1 + 2 * (size_t)*stride) * 4;
    if (need / 4 > UINT32_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "upsample_bilinear backward: %u to %u is too large a resize", in, out);
    segcl_status st = segcl_workspace_reserve(ws, which, "bilinear resize table", need, table);
    if (st)
        return st;
    return segcl_run_elements(ctx, "upsample", "upsample_table_back", in, 1,
                              SEGCL_ARGS(SEGCL_ARG(in), SEGCL_ARG(out), SEGCL_ARG(scale),
                                         SEGCL_ARG(align), SEGCL_ARG(*stride), SEGCL_ARG(*table)));
}

segcl_status segcl_upsample_bilinear_backward(segcl_context *ctx, segcl_workspace *ws,
                                              const segcl_tensor *dy, segcl_tensor *dx,
                                              bool align_corners, bool accumulate)
{
    const char *op = "upsample_bilinear backward";
    resize r;
    cl_mem ytab, xtab;
    cl_uint sy, sx, acc = accumulate;
    segcl_status st;
    if (!dy || dy->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: tensors must be NCHW", op);
    if ((st = prepare(ctx, ws, op, dx, dy, align_corners, (size_t)dy->shape[3], &r)) ||
        (st = back_table(ctx, ws, SEGCL_SCRATCH_RESAMPLE_YTAB, &ytab, r.h, r.oh, r.sh, r.align,
                         &sy)) ||
        (st = back_table(ctx, ws, SEGCL_SCRATCH_RESAMPLE_XTAB, &xtab, r.w, r.ow, r.sw, r.align,
                         &sx)))
        return st;
    for (cl_uint p0 = 0; p0 < r.planes && !st; p0 += r.chunk) {
        cl_uint n = r.planes - p0 < r.chunk ? r.planes - p0 : r.chunk;
        if ((st = segcl_run_elements(
                 ctx, "upsample", "upsample_back_y", r.ow, (size_t)n * r.h,
                 SEGCL_ARGS(SEGCL_ARG(dy->buffer), SEGCL_ARG(p0), SEGCL_ARG(r.h), SEGCL_ARG(r.oh),
                            SEGCL_ARG(r.ow), SEGCL_ARG(sy), SEGCL_ARG(ytab), SEGCL_ARG(r.rows)))))
            break;
        st = segcl_run_elements(ctx, "upsample", "upsample_back_x", r.w, (size_t)n * r.h,
                                SEGCL_ARGS(SEGCL_ARG(r.rows), SEGCL_ARG(p0), SEGCL_ARG(r.h),
                                           SEGCL_ARG(r.w), SEGCL_ARG(r.ow), SEGCL_ARG(sx),
                                           SEGCL_ARG(xtab), SEGCL_ARG(dx->buffer), SEGCL_ARG(acc)));
    }
    return st;
}
