/* Max pooling with argmax indices, its backward, and max-unpooling (kernels/pool.cl). */
#include "ops/ops.h"

static segcl_status pool_dims(segcl_context *ctx, const char *op, const segcl_pool_params *p,
                              const segcl_tensor *x, cl_uint *planes, cl_uint *h, cl_uint *w,
                              cl_uint *ho, cl_uint *wo)
{
    if (!p || p->kernel < 1 || p->stride < 1 || p->pad < 0 || 2 * p->pad > p->kernel)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: invalid kernel/stride/pad (pad must be at most half the kernel)",
                          op);
    if (!x || x->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: input must be NCHW", op);
    cl_uint u;
    segcl_status st = segcl_u32(ctx, op, x->numel, &u);
    if (st)
        return st;
    *planes = (cl_uint)(x->shape[0] * x->shape[1]);
    *h = (cl_uint)x->shape[2];
    *w = (cl_uint)x->shape[3];
    long oh = ((long)*h + 2L * p->pad - p->kernel) / p->stride + 1;
    long ow = ((long)*w + 2L * p->pad - p->kernel) / p->stride + 1;
    if (oh < 1 || ow < 1)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: input %ux%u smaller than the window",
                          op, *h, *w);
    *ho = (cl_uint)oh;
    *wo = (cl_uint)ow;
    return SEGCL_OK;
}

segcl_status segcl_maxpool_forward(segcl_context *ctx, const segcl_pool_params *p,
                                   const segcl_tensor *x, segcl_tensor *y, segcl_tensor *indices)
{
    const char *op = "maxpool";
    cl_uint planes, h, w, ho, wo;
    segcl_status st = pool_dims(ctx, op, p, x, &planes, &h, &w, &ho, &wo);
    if (st)
        return st;
    int64_t want[4] = {x->shape[0], x->shape[1], ho, wo};
    if ((st = segcl_expect_shape(ctx, op, "output", y, 4, want)) ||
        (st = segcl_expect_shape(ctx, op, "indices", indices, 4, want)))
        return st;
    cl_uint k = (cl_uint)p->kernel, s = (cl_uint)p->stride, pad = (cl_uint)p->pad;
    return segcl_run_elements(ctx, "pool", "maxpool_forward", wo, (size_t)planes * ho,
                     SEGCL_ARGS(SEGCL_ARG(x->buffer), SEGCL_ARG(planes), SEGCL_ARG(h),
                                SEGCL_ARG(w), SEGCL_ARG(k), SEGCL_ARG(s), SEGCL_ARG(pad),
                                SEGCL_ARG(ho), SEGCL_ARG(wo), SEGCL_ARG(y->buffer),
                                SEGCL_ARG(indices->buffer)));
}

segcl_status segcl_maxpool_backward(segcl_context *ctx, const segcl_pool_params *p,
                                    const segcl_tensor *dy, const segcl_tensor *indices,
                                    segcl_tensor *dx, bool accumulate)
{
    const char *op = "maxpool backward";
    cl_uint planes, h, w, ho, wo;
    segcl_status st = pool_dims(ctx, op, p, dx, &planes, &h, &w, &ho, &wo);
    if (st)
        return st;
    int64_t want[4] = {dx->shape[0], dx->shape[1], ho, wo};
    if ((st = segcl_expect_shape(ctx, op, "output gradient", dy, 4, want)) ||
        (st = segcl_expect_shape(ctx, op, "indices", indices, 4, want)))
        return st;
    cl_uint k = (cl_uint)p->kernel, s = (cl_uint)p->stride, pad = (cl_uint)p->pad;
    cl_uint acc = accumulate;
    /* the 2x2 kernel path runs over column pairs */
    size_t cols = k == 2 && s == 2 && pad == 0 ? (w + 1) / 2 : w;
    return segcl_run_elements(ctx, "pool", "maxpool_backward", cols, (size_t)planes * h,
                     SEGCL_ARGS(SEGCL_ARG(dy->buffer), SEGCL_ARG(indices->buffer),
                                SEGCL_ARG(planes), SEGCL_ARG(h), SEGCL_ARG(w), SEGCL_ARG(k),
                                SEGCL_ARG(s), SEGCL_ARG(pad), SEGCL_ARG(ho), SEGCL_ARG(wo),
                                SEGCL_ARG(dx->buffer), SEGCL_ARG(acc)));
}

segcl_status segcl_maxunpool_forward(segcl_context *ctx, const segcl_pool_params *p,
                                     const segcl_tensor *x, const segcl_tensor *indices,
                                     segcl_tensor *out)
{
    const char *op = "maxunpool";
    cl_uint planes, oh, ow, h, w;
    /* the pool that made the indices ran over `out`'s shape */
    segcl_status st = pool_dims(ctx, op, p, out, &planes, &oh, &ow, &h, &w);
    if (st)
        return st;
    int64_t want[4] = {out->shape[0], out->shape[1], h, w};
    if ((st = segcl_expect_shape(ctx, op, "input", x, 4, want)) ||
        (st = segcl_expect_shape(ctx, op, "indices", indices, 4, want)))
        return st;
    cl_uint k = (cl_uint)p->kernel, s = (cl_uint)p->stride, pad = (cl_uint)p->pad;
    size_t global[2] = {(size_t)oh * ow, planes};
    return segcl_run(ctx, "pool", NULL, "maxunpool_forward", 2, global, NULL,
                     SEGCL_ARGS(SEGCL_ARG(x->buffer), SEGCL_ARG(indices->buffer),
                                SEGCL_ARG(planes), SEGCL_ARG(h), SEGCL_ARG(w), SEGCL_ARG(k),
                                SEGCL_ARG(s), SEGCL_ARG(pad), SEGCL_ARG(oh), SEGCL_ARG(ow),
                                SEGCL_ARG(out->buffer)));
}

segcl_status segcl_maxunpool_backward(segcl_context *ctx, const segcl_tensor *dout,
                                      const segcl_tensor *indices, segcl_tensor *dx,
                                      bool accumulate)
{
    const char *op = "maxunpool backward";
    if (!dout || !dx || dout->ndim != 4 || dx->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: tensors must be NCHW", op);
    int64_t want[4] = {dout->shape[0], dout->shape[1], -1, -1};
    segcl_status st;
    cl_uint u;
    if ((st = segcl_expect_shape(ctx, op, "input gradient", dx, 4, want)) ||
        (st = segcl_expect_shape(ctx, op, "indices", indices, 4, dx->shape)) ||
        (st = segcl_u32(ctx, op, dout->numel, &u)))
        return st;
    cl_uint planes = (cl_uint)(dx->shape[0] * dx->shape[1]), h = (cl_uint)dx->shape[2],
            w = (cl_uint)dx->shape[3], oh = (cl_uint)dout->shape[2], ow = (cl_uint)dout->shape[3];
    cl_uint acc = accumulate;
    size_t global[2] = {(size_t)h * w, planes};
    return segcl_run(ctx, "pool", NULL, "maxunpool_backward", 2, global, NULL,
                     SEGCL_ARGS(SEGCL_ARG(dout->buffer), SEGCL_ARG(indices->buffer),
                                SEGCL_ARG(planes), SEGCL_ARG(h), SEGCL_ARG(w), SEGCL_ARG(oh),
                                SEGCL_ARG(ow), SEGCL_ARG(dx->buffer), SEGCL_ARG(acc)));
}
