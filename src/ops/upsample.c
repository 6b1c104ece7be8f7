/* Bilinear resize with align_corners or half-pixel centres, and its gather-style backward. */
#include "ops/ops.h"

/* PyTorch's scale per axis: (in - 1) / (out - 1) with align_corners, in / out otherwise. */
static float axis_scale(cl_uint in, cl_uint out, bool align)
{
    if (align)
        return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return (float)in / (float)out;
}

static segcl_status run(segcl_context *ctx, const char *op, const char *kernel,
                        const segcl_tensor *small, const segcl_tensor *big, bool align,
                        bool backward, bool accumulate)
{
    if (!small || !big || small->ndim != 4 || big->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: tensors must be NCHW", op);
    int64_t want[4] = {small->shape[0], small->shape[1], -1, -1};
    cl_uint u;
    segcl_status st;
    if ((st = segcl_expect_shape(ctx, op, "output", big, 4, want)) ||
        (st = segcl_u32(ctx, op, small->numel, &u)) || (st = segcl_u32(ctx, op, big->numel, &u)))
        return st;
    cl_uint planes = (cl_uint)(small->shape[0] * small->shape[1]);
    cl_uint h = (cl_uint)small->shape[2], w = (cl_uint)small->shape[3];
    cl_uint oh = (cl_uint)big->shape[2], ow = (cl_uint)big->shape[3], al = align;
    float sh = axis_scale(h, oh, align), sw = axis_scale(w, ow, align);
    if (!backward)
        return segcl_run_elements(ctx, "upsample", kernel, ow, (size_t)planes * oh,
                                  SEGCL_ARGS(SEGCL_ARG(small->buffer), SEGCL_ARG(planes),
                                             SEGCL_ARG(h), SEGCL_ARG(w), SEGCL_ARG(oh),
                                             SEGCL_ARG(ow), SEGCL_ARG(sh), SEGCL_ARG(sw),
                                             SEGCL_ARG(al), SEGCL_ARG(big->buffer)));
    /* more than MAX_TAPS output rows per input row would mean shrinking by over 8x */
    if (oh * 8 < h)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: shrinking %u rows to %u is beyond bilinear resize's backward", op,
                          h, oh);
    cl_uint acc = accumulate;
    return segcl_run_elements(ctx, "upsample", kernel, w, (size_t)planes * h,
                              SEGCL_ARGS(SEGCL_ARG(big->buffer), SEGCL_ARG(planes), SEGCL_ARG(h),
                                         SEGCL_ARG(w), SEGCL_ARG(oh), SEGCL_ARG(ow), SEGCL_ARG(sh),
                                         SEGCL_ARG(sw), SEGCL_ARG(al), SEGCL_ARG(small->buffer),
                                         SEGCL_ARG(acc)));
}

segcl_status segcl_upsample_bilinear_forward(segcl_context *ctx, const segcl_tensor *x,
                                             segcl_tensor *y, bool align_corners)
{
    return run(ctx, "upsample_bilinear", "upsample_bilinear_forward", x, y, align_corners, false,
               false);
}

segcl_status segcl_upsample_bilinear_backward(segcl_context *ctx, const segcl_tensor *dy,
                                              segcl_tensor *dx, bool align_corners,
                                              bool accumulate)
{
    return run(ctx, "upsample_bilinear backward", "upsample_bilinear_backward", dx, dy,
               align_corners, true, accumulate);
}
