/* ReLU and sigmoid, forward and backward (kernels/activation.cl). */
#include "ops/ops.h"

static segcl_status pointwise(segcl_context *ctx, const char *name, const segcl_tensor *x,
                              segcl_tensor *y)
{
    cl_uint n;
    segcl_status st;
    if (!x || !y)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: NULL tensor", name);
    if ((st = segcl_expect_shape(ctx, name, "output", y, x->ndim, x->shape)) ||
        (st = segcl_u32(ctx, name, x->numel, &n)))
        return st;
    return segcl_run_elements(ctx, "activation", name, n, 1,
                              SEGCL_ARGS(SEGCL_ARG(x->buffer), SEGCL_ARG(y->buffer), SEGCL_ARG(n)));
}

static segcl_status pointwise_backward(segcl_context *ctx, const char *name,
                                       const segcl_tensor *y, const segcl_tensor *dy,
                                       segcl_tensor *dx, bool accumulate)
{
    cl_uint n, acc = accumulate;
    segcl_status st;
    if (!y || !dy || !dx)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: NULL tensor", name);
    if ((st = segcl_expect_shape(ctx, name, "output gradient", dy, y->ndim, y->shape)) ||
        (st = segcl_expect_shape(ctx, name, "input gradient", dx, y->ndim, y->shape)) ||
        (st = segcl_u32(ctx, name, y->numel, &n)))
        return st;
    return segcl_run_elements(ctx, "activation", name, n, 1,
                              SEGCL_ARGS(SEGCL_ARG(y->buffer), SEGCL_ARG(dy->buffer),
                                         SEGCL_ARG(dx->buffer), SEGCL_ARG(n), SEGCL_ARG(acc)));
}

segcl_status segcl_relu_forward(segcl_context *ctx, const segcl_tensor *x, segcl_tensor *y)
{
    return pointwise(ctx, "relu_forward", x, y);
}

segcl_status segcl_relu_backward(segcl_context *ctx, const segcl_tensor *y,
                                 const segcl_tensor *dy, segcl_tensor *dx, bool accumulate)
{
    return pointwise_backward(ctx, "relu_backward", y, dy, dx, accumulate);
}

segcl_status segcl_sigmoid_forward(segcl_context *ctx, const segcl_tensor *x, segcl_tensor *y)
{
    return pointwise(ctx, "sigmoid_forward", x, y);
}

segcl_status segcl_sigmoid_backward(segcl_context *ctx, const segcl_tensor *y,
                                    const segcl_tensor *dy, segcl_tensor *dx, bool accumulate)
{
    return pointwise_backward(ctx, "sigmoid_backward", y, dy, dx, accumulate);
}
