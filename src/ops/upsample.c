/* Bilinear resize with align_corners or half-pixel centres, and its backward, one launch each
 * (kernels/upsample.cl); the big side may be a channel range of a larger tensor, so that a
 * U-Net's concatenation is written and read in place. */
#include "ops/ops.h"

/* PyTorch's scale per axis: (in - 1) / (out - 1) with align_corners, in / out otherwise. */
static float axis_scale(cl_uint in, cl_uint out, bool align)
{
    if (align)
        return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return (float)in / (float)out;
}

/* small (N, C, h, w) and the channel range [c0, c0 + C) of big (N, Cbig, oh, ow). */
typedef struct resize {
    cl_uint channels, planes, h, w, oh, ow, big_channels, c0, align;
    float sh, sw;
} resize;

static segcl_status prepare(segcl_context *ctx, const char *op, const segcl_tensor *small,
                            const segcl_tensor *big, cl_uint c0, bool align, resize *r)
{
    if (!small || !big || small->ndim != 4 || big->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: tensors must be NCHW", op);
    int64_t want[4] = {small->shape[0], -1, -1, -1};
    cl_uint u;
    segcl_status st;
    if ((st = segcl_expect_shape(ctx, op, "output", big, 4, want)) ||
        (st = segcl_u32(ctx, op, small->numel, &u)) || (st = segcl_u32(ctx, op, big->numel, &u)))
        return st;
    if ((int64_t)c0 + small->shape[1] > big->shape[1])
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: channels %u..%lld do not fit the %lld of '%s'", op, c0,
                          (long long)(c0 + small->shape[1] - 1), (long long)big->shape[1],
                          big->name);
    r->channels = (cl_uint)small->shape[1];
    r->planes = (cl_uint)(small->shape[0] * small->shape[1]);
    r->h = (cl_uint)small->shape[2], r->w = (cl_uint)small->shape[3];
    r->oh = (cl_uint)big->shape[2], r->ow = (cl_uint)big->shape[3], r->align = align;
    r->big_channels = (cl_uint)big->shape[1], r->c0 = c0;
    r->sh = axis_scale(r->h, r->oh, align), r->sw = axis_scale(r->w, r->ow, align);
    return SEGCL_OK;
}

segcl_status segcl_upsample_bilinear_into(segcl_context *ctx, const segcl_tensor *x,
                                          segcl_tensor *y, int c0, bool align_corners)
{
    resize r;
    segcl_status st = c0 < 0 ? segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                                          "upsample_bilinear: channel offset %d", c0)
                             : prepare(ctx, "upsample_bilinear", x, y, (cl_uint)c0,
                                       align_corners, &r);
    if (st)
        return st;
    return segcl_run_elements(ctx, "upsample", "upsample_forward", r.ow, (size_t)r.planes * r.oh,
                              SEGCL_ARGS(SEGCL_ARG(x->buffer), SEGCL_ARG(r.channels),
                                         SEGCL_ARG(r.h), SEGCL_ARG(r.w), SEGCL_ARG(r.oh),
                                         SEGCL_ARG(r.ow), SEGCL_ARG(r.sh), SEGCL_ARG(r.sw),
                                         SEGCL_ARG(r.align), SEGCL_ARG(y->buffer),
                                         SEGCL_ARG(r.big_channels), SEGCL_ARG(r.c0)));
}

segcl_status segcl_upsample_bilinear_forward(segcl_context *ctx, segcl_workspace *ws,
                                             const segcl_tensor *x, segcl_tensor *y,
                                             bool align_corners)
{
    (void)ws;
    if (x && y && x->ndim == 4 && y->ndim == 4 && x->shape[1] != y->shape[1])
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "upsample_bilinear: output '%s' has %lld channels, the input %lld",
                          y->name, (long long)y->shape[1], (long long)x->shape[1]);
    return segcl_upsample_bilinear_into(ctx, x, y, 0, align_corners);
}

segcl_status segcl_upsample_bilinear_backward_from(segcl_context *ctx, const segcl_tensor *dy,
                                                   int c0, segcl_tensor *dx, bool align_corners,
                                                   bool accumulate)
{
    resize r;
    cl_uint acc = accumulate;
    segcl_status st = c0 < 0 ? segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                                          "upsample_bilinear backward: channel offset %d", c0)
                             : prepare(ctx, "upsample_bilinear backward", dx, dy, (cl_uint)c0,
                                       align_corners, &r);
    if (st)
        return st;
    return segcl_run_elements(ctx, "upsample", "upsample_backward", r.w, (size_t)r.planes * r.h,
                              SEGCL_ARGS(SEGCL_ARG(dy->buffer), SEGCL_ARG(r.big_channels),
                                         SEGCL_ARG(r.c0), SEGCL_ARG(r.channels), SEGCL_ARG(r.h),
                                         SEGCL_ARG(r.w), SEGCL_ARG(r.oh), SEGCL_ARG(r.ow),
                                         SEGCL_ARG(r.sh), SEGCL_ARG(r.sw), SEGCL_ARG(r.align),
                                         SEGCL_ARG(dx->buffer), SEGCL_ARG(acc)));
}

segcl_status segcl_upsample_bilinear_backward(segcl_context *ctx, segcl_workspace *ws,
                                              const segcl_tensor *dy, segcl_tensor *dx,
                                              bool align_corners, bool accumulate)
{
    (void)ws;
    if (dy && dx && dy->ndim == 4 && dx->ndim == 4 && dx->shape[1] != dy->shape[1])
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "upsample_bilinear backward: output '%s' has %lld channels, the "
                          "input %lld",
                          dy->name, (long long)dy->shape[1], (long long)dx->shape[1]);
    return segcl_upsample_bilinear_backward_from(ctx, dy, 0, dx, align_corners, accumulate);
}
