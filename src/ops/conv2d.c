/*
 * 2-D convolution and transposed convolution: shapes checked here, the products run by the
 * context's backend (src/cl/backend.c: implicit GEMMs over the whole batch with the epilogue
 * fused), and per-channel sums for bias gradients. A transposed convolution is a convolution
 * seen from the other side: its input plays the convolution's output (the column side) and its
 * output the convolution's input (the image side).
 */
#include <stdio.h>
#include <stdlib.h>

#include "ops/ops.h"

/* s: the image side (conv input, transposed-conv output) and the column side (conv output,
 * transposed-conv input) of the product. */
static segcl_status geometry(segcl_context *ctx, const char *op, const segcl_conv_params *p,
                             const segcl_tensor *img, const segcl_tensor *cols,
                             segcl_conv_shape *s)
{
    if (!p || p->kernel_h < 1 || p->kernel_w < 1 || p->stride < 1 || p->pad < 0)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: invalid kernel/stride/pad", op);
    if (!img || !cols || img->ndim != 4 || cols->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: tensors must be NCHW", op);
    s->images = (cl_uint)img->shape[0];
    s->cin = (cl_uint)img->shape[1];
    s->h = (cl_uint)img->shape[2];
    s->w = (cl_uint)img->shape[3];
    s->cout = (cl_uint)cols->shape[1];
    s->kh = (cl_uint)p->kernel_h;
    s->kw = (cl_uint)p->kernel_w;
    s->stride = (cl_uint)p->stride;
    s->pad = (cl_uint)p->pad;
    long ho = ((long)s->h + 2L * p->pad - p->kernel_h) / p->stride + 1;
    long wo = ((long)s->w + 2L * p->pad - p->kernel_w) / p->stride + 1;
    if (ho < 1 || wo < 1)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: kernel %dx%d larger than padded input %ux%u", op, p->kernel_h,
                          p->kernel_w, s->h, s->w);
    s->ho = (cl_uint)ho;
    s->wo = (cl_uint)wo;
    int64_t want[4] = {s->images, s->cout, s->ho, s->wo};
    return segcl_expect_shape(ctx, op, "output-side tensor", cols, 4, want);
}

/* db (C) += sum over N, H, W of dy */
static segcl_status bias_grad(segcl_context *ctx, segcl_workspace *ws, const segcl_tensor *dy,
                              segcl_tensor *db)
{
    cl_uint n = (cl_uint)dy->shape[0], channels = (cl_uint)dy->shape[1];
    cl_uint plane = (cl_uint)(dy->shape[2] * dy->shape[3]);
    return segcl_channel_reduce(ctx, ws, SEGCL_CHANNEL_SUM, dy->buffer, NULL, NULL, NULL, n,
                                channels, plane, db->buffer, 0, true, 1.0f);
}

static segcl_status check_sizes(segcl_context *ctx, const char *op, const segcl_tensor *a,
                                const segcl_tensor *b)
{
    cl_uint u;
    segcl_status st = segcl_u32(ctx, op, a->numel, &u);
    return st ? st : segcl_u32(ctx, op, b->numel, &u);
}

/* Geometry plus every shape check an entry point needs. img/cols: the image-side and
 * column-side tensors; the bias has conv's cout channels, transposed conv's cin (s->cin). */
static segcl_status setup(segcl_context *ctx, const char *op, const segcl_conv_params *p,
                          const segcl_tensor *img, const segcl_tensor *cols,
                          const segcl_tensor *w, const segcl_tensor *b, const segcl_tensor *dw,
                          const segcl_tensor *dx, const segcl_tensor *dx_like, bool transposed,
                          segcl_conv_shape *s)
{
    segcl_status st = segcl_require_open(ctx);
    if (st || (st = geometry(ctx, op, p, img, cols, s)) ||
        (st = check_sizes(ctx, op, img, cols)))
        return st;
    int64_t wshape[4] = {s->cout, s->cin, s->kh, s->kw};
    int64_t bshape[1] = {transposed ? s->cin : s->cout};
    if ((st = segcl_expect_shape(ctx, op, "weight", w, 4, wshape)) ||
        (dw && (st = segcl_expect_shape(ctx, op, "weight gradient", dw, 4, wshape))) ||
        (b && (st = segcl_expect_shape(ctx, op, dw ? "bias gradient" : "bias", b, 1, bshape))) ||
        (dx && (st = segcl_expect_shape(ctx, op, "input gradient", dx, 4, dx_like->shape))))
        return st;
    return SEGCL_OK;
}

segcl_status segcl_conv2d_forward(segcl_context *ctx, segcl_workspace *ws,
                                  const segcl_conv_params *p, const segcl_tensor *x,
                                  const segcl_tensor *w, const segcl_tensor *b, segcl_tensor *y)
{
    segcl_conv_shape s;
    segcl_status st = setup(ctx, "conv2d", p, x, y, w, b, NULL, NULL, NULL, false, &s);
    if (st)
        return st;
    segcl_conv_epilogue ep = {.bias = b ? b->buffer : NULL};
    return segcl_context_backend(ctx)->conv_forward(ctx, ws, &s, w->buffer, x->buffer, y->buffer,
                                                    &ep);
}

segcl_status segcl_conv2d_forward_fused(segcl_context *ctx, segcl_workspace *ws,
                                        const segcl_conv_params *p, const segcl_tensor *x,
                                        const segcl_tensor *w, const segcl_tensor *b,
                                        const segcl_tensor *scale, const segcl_tensor *shift,
                                        segcl_tensor *y)
{
    segcl_conv_shape s;
    segcl_status st = setup(ctx, "conv2d", p, x, y, w, b, NULL, NULL, NULL, false, &s);
    if (st)
        return st;
    int64_t cshape[1] = {s.cout};
    if (!scale != !shift)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "conv2d: an epilogue scale needs its shift, and a shift its scale");
    if ((scale && (st = segcl_expect_shape(ctx, "conv2d", "epilogue scale", scale, 1, cshape))) ||
        (shift && (st = segcl_expect_shape(ctx, "conv2d", "epilogue shift", shift, 1, cshape))))
        return st;
    segcl_conv_epilogue ep = {.bias = b ? b->buffer : NULL, .relu = true,
                              .scale = scale ? scale->buffer : NULL,
                              .shift = shift ? shift->buffer : NULL};
    return segcl_context_backend(ctx)->conv_forward(ctx, ws, &s, w->buffer, x->buffer, y->buffer,
                                                    &ep);
}

segcl_status segcl_conv2d_backward(segcl_context *ctx, segcl_workspace *ws,
                                   const segcl_conv_params *p, const segcl_tensor *x,
                                   const segcl_tensor *w, const segcl_tensor *dy, segcl_tensor *dx,
                                   segcl_tensor *dw, segcl_tensor *db, bool accumulate)
{
    segcl_conv_shape s;
    segcl_status st = setup(ctx, "conv2d backward", p, x, dy, w, db, dw, dx, x, false, &s);
    if (st)
        return st;
    const segcl_backend *be = segcl_context_backend(ctx);
    if ((db && (st = bias_grad(ctx, ws, dy, db))) ||
        (dw && (st = be->conv_weight_grad(ctx, ws, &s, dy->buffer, x->buffer, dw->buffer, 1.0f))))
        return st;
    segcl_conv_epilogue ep = {.beta = accumulate ? 1.0f : 0.0f};
    return dx ? be->conv_data_grad(ctx, ws, &s, w->buffer, dy->buffer, dx->buffer, &ep)
              : SEGCL_OK;
}

segcl_status segcl_conv_transpose2d_forward(segcl_context *ctx, segcl_workspace *ws,
                                            const segcl_conv_params *p, const segcl_tensor *x,
                                            const segcl_tensor *w, const segcl_tensor *b,
                                            segcl_tensor *y)
{
    /* PyTorch layout (Cin, Cout, KH, KW) = conv's (out, in, KH, KW) */
    segcl_conv_shape s;
    segcl_status st = setup(ctx, "conv_transpose2d", p, y, x, w, b, NULL, NULL, NULL, true, &s);
    if (st)
        return st;
    segcl_conv_epilogue ep = {.bias = b ? b->buffer : NULL};
    return segcl_context_backend(ctx)->conv_data_grad(ctx, ws, &s, w->buffer, x->buffer,
                                                      y->buffer, &ep);
}

segcl_status segcl_conv_transpose2d_backward(segcl_context *ctx, segcl_workspace *ws,
                                             const segcl_conv_params *p, const segcl_tensor *x,
                                             const segcl_tensor *w, const segcl_tensor *dy,
                                             segcl_tensor *dx, segcl_tensor *dw, segcl_tensor *db,
                                             bool accumulate)
{
    segcl_conv_shape s;
    segcl_status st =
        setup(ctx, "conv_transpose2d backward", p, dy, x, w, db, dw, dx, x, true, &s);
    if (st || (db && (st = bias_grad(ctx, ws, dy, db))))
        return st;
    const segcl_backend *be = segcl_context_backend(ctx);
    /* dx (Cin_t x P) = W (Cin_t x K) * im2col(dy): conv's forward */
    segcl_conv_epilogue ep = {.beta = accumulate ? 1.0f : 0.0f};
    if (dx && (st = be->conv_forward(ctx, ws, &s, w->buffer, dy->buffer, dx->buffer, &ep)))
        return st;
    /* dW (Cin_t x K) += x (Cin_t x P) * im2col(dy)^T */
    return dw ? be->conv_weight_grad(ctx, ws, &s, x->buffer, dy->buffer, dw->buffer, 1.0f)
              : SEGCL_OK;
}
