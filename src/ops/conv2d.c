/*
 * 2-D convolution and transposed convolution: im2col of one image into a reused workspace, one
 * GEMM per image, gather-style col2im for input gradients (no atomics: deterministic), and
 * per-channel sums for bias gradients. 1x1 stride-1 convolutions skip im2col entirely.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ops/ops.h"

typedef struct conv_geometry {
    cl_uint n, cin, h, w;     /* image side: conv input, transposed-conv output */
    cl_uint cout, ho, wo;     /* column side: conv output, transposed-conv input */
    cl_uint kh, kw, stride, pad;
    cl_uint k;                /* cin * kh * kw: rows of the column matrix */
    bool direct;              /* 1x1, stride 1, no padding: columns are the image itself */
} conv_geometry;

static segcl_status geometry(segcl_context *ctx, const char *op, const segcl_conv_params *p,
                             const segcl_tensor *img, const segcl_tensor *cols,
                             conv_geometry *g)
{
    if (!p || p->kernel_h < 1 || p->kernel_w < 1 || p->stride < 1 || p->pad < 0)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: invalid kernel/stride/pad", op);
    if (!img || !cols || img->ndim != 4 || cols->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: tensors must be NCHW", op);
    g->n = (cl_uint)img->shape[0];
    g->cin = (cl_uint)img->shape[1];
    g->h = (cl_uint)img->shape[2];
    g->w = (cl_uint)img->shape[3];
    g->cout = (cl_uint)cols->shape[1];
    g->kh = (cl_uint)p->kernel_h;
    g->kw = (cl_uint)p->kernel_w;
    g->stride = (cl_uint)p->stride;
    g->pad = (cl_uint)p->pad;
    long ho = ((long)g->h + 2L * p->pad - p->kernel_h) / p->stride + 1;
    long wo = ((long)g->w + 2L * p->pad - p->kernel_w) / p->stride + 1;
    if (ho < 1 || wo < 1)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: kernel %dx%d larger than padded input %ux%u", op, p->kernel_h,
                          p->kernel_w, g->h, g->w);
    g->ho = (cl_uint)ho;
    g->wo = (cl_uint)wo;
    g->k = g->cin * g->kh * g->kw;
    g->direct = g->kh == 1 && g->kw == 1 && g->stride == 1 && g->pad == 0;
    int64_t want[4] = {g->n, g->cout, g->ho, g->wo};
    return segcl_expect_shape(ctx, op, "output-side tensor", cols, 4, want);
}

static segcl_status im2col(segcl_context *ctx, const conv_geometry *g, cl_mem img,
                           cl_uint img_offset, cl_mem col)
{
    size_t global[2] = {(size_t)g->ho * g->wo, g->k};
    return segcl_run(ctx, "conv2d", NULL, "im2col", 2, global, NULL,
                     SEGCL_ARGS(SEGCL_ARG(img), SEGCL_ARG(img_offset), SEGCL_ARG(g->cin),
                                SEGCL_ARG(g->h), SEGCL_ARG(g->w), SEGCL_ARG(g->kh),
                                SEGCL_ARG(g->kw), SEGCL_ARG(g->stride), SEGCL_ARG(g->pad),
                                SEGCL_ARG(g->ho), SEGCL_ARG(g->wo), SEGCL_ARG(col)));
}

static segcl_status col2im(segcl_context *ctx, const conv_geometry *g, cl_mem col, cl_mem img,
                           cl_uint img_offset, bool accumulate)
{
    size_t global[2] = {(size_t)g->h * g->w, g->cin};
    cl_uint acc = accumulate;
    return segcl_run(ctx, "conv2d", NULL, "col2im", 2, global, NULL,
                     SEGCL_ARGS(SEGCL_ARG(col), SEGCL_ARG(g->cin), SEGCL_ARG(g->h),
                                SEGCL_ARG(g->w), SEGCL_ARG(g->kh), SEGCL_ARG(g->kw),
                                SEGCL_ARG(g->stride), SEGCL_ARG(g->pad), SEGCL_ARG(g->ho),
                                SEGCL_ARG(g->wo), SEGCL_ARG(img), SEGCL_ARG(img_offset),
                                SEGCL_ARG(acc)));
}

static segcl_status bias_add(segcl_context *ctx, segcl_tensor *y, const segcl_tensor *b)
{
    cl_uint channels = (cl_uint)y->shape[1], plane = (cl_uint)(y->shape[2] * y->shape[3]);
    return segcl_run_elements(ctx, "conv2d", "bias_add", plane, (size_t)y->shape[0] * channels,
                              SEGCL_ARGS(SEGCL_ARG(y->buffer), SEGCL_ARG(b->buffer),
                                         SEGCL_ARG(channels), SEGCL_ARG(plane)));
}

/* ---- CPU devices: im2col straight into the GEMM's packed panels ---- */

static bool cpu_path(segcl_context *ctx)
{
    return segcl_gemm_get_backend(ctx) == SEGCL_GEMM_CPU;
}

static size_t panels_of(const segcl_context *ctx, size_t n)
{
    const size_t nr = segcl_context_params(ctx)->gemm_nr;
    return (n + nr - 1) / nr;
}

/* Columns of image `img` at img_offset as packed B panels (B = col, K x P) */
static segcl_status im2col_panels(segcl_context *ctx, const conv_geometry *g, cl_mem img,
                                  cl_uint img_offset, cl_mem bp)
{
    size_t global[2] = {panels_of(ctx, (size_t)g->ho * g->wo), (g->k + 63) / 64}, local[2] = {1, 1};
    return segcl_run(ctx, "conv2d", NULL, "im2col_panels", 2, global, local,
                     SEGCL_ARGS(SEGCL_ARG(img), SEGCL_ARG(img_offset), SEGCL_ARG(g->cin),
                                SEGCL_ARG(g->h), SEGCL_ARG(g->w), SEGCL_ARG(g->kh),
                                SEGCL_ARG(g->kw), SEGCL_ARG(g->stride), SEGCL_ARG(g->pad),
                                SEGCL_ARG(g->ho), SEGCL_ARG(g->wo), SEGCL_ARG(bp)));
}

/* Transposed columns as packed B panels (B = col^T, P x K) */
static segcl_status im2col_panels_t(segcl_context *ctx, const conv_geometry *g, cl_mem img,
                                    cl_uint img_offset, cl_mem bp)
{
    size_t global[2] = {((size_t)g->ho * g->wo + 255) / 256, panels_of(ctx, g->k)}, local[2] = {1, 1};
    return segcl_run(ctx, "conv2d", NULL, "im2col_panels_t", 2, global, local,
                     SEGCL_ARGS(SEGCL_ARG(img), SEGCL_ARG(img_offset), SEGCL_ARG(g->cin),
                                SEGCL_ARG(g->h), SEGCL_ARG(g->w), SEGCL_ARG(g->kh),
                                SEGCL_ARG(g->kw), SEGCL_ARG(g->stride), SEGCL_ARG(g->pad),
                                SEGCL_ARG(g->ho), SEGCL_ARG(g->wo), SEGCL_ARG(bp)));
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
 * column-side tensors; bias_channels: conv's cout, transposed conv's cin (g->cin there). */
static segcl_status setup(segcl_context *ctx, const char *op, const segcl_conv_params *p,
                          const segcl_tensor *img, const segcl_tensor *cols,
                          const segcl_tensor *w, const segcl_tensor *b, const segcl_tensor *dw,
                          const segcl_tensor *dx, const segcl_tensor *dx_like, bool transposed,
                          conv_geometry *g)
{
    segcl_status st = geometry(ctx, op, p, img, cols, g);
    if (st || (st = check_sizes(ctx, op, img, cols)))
        return st;
    int64_t wshape[4] = {g->cout, g->cin, g->kh, g->kw};
    int64_t bshape[1] = {transposed ? g->cin : g->cout};
    if ((st = segcl_expect_shape(ctx, op, "weight", w, 4, wshape)) ||
        (dw && (st = segcl_expect_shape(ctx, op, "weight gradient", dw, 4, wshape))) ||
        (b && (st = segcl_expect_shape(ctx, op, dw ? "bias gradient" : "bias", b, 1, bshape))) ||
        (dx && (st = segcl_expect_shape(ctx, op, "input gradient", dx, 4, dx_like->shape))))
        return st;
    return SEGCL_OK;
}

/* The three products every convolution is made of, per image i. `g` describes the image side
 * (cin x h x w, the im2col input) and the column side (cout x ho x wo). On CPU devices the
 * columns go straight into the GEMM's packed panels. */

/* out_i (+ beta * out_i) = W (cout x k) * col(img_i): conv's forward, transposed conv's input
 * gradient, and a stride-1 conv's input gradient (with flipped weights). */
static segcl_status columns_product(segcl_context *ctx, segcl_workspace *ws, const conv_geometry *g,
                                    cl_mem w, cl_mem img, cl_mem out, float beta)
{
    const size_t pixels = (size_t)g->ho * g->wo;
    const size_t plane_in = (size_t)g->cin * g->h * g->w, plane_out = (size_t)g->cout * pixels;
    const segcl_kernel_params *kp = segcl_context_params(ctx);
    const bool panels = !g->direct && cpu_path(ctx);
    if (panels && !kp->no_implicit) {
        /* every image in one launch, the columns never leave the work-groups' local memory */
        segcl_conv_implicit_args ia = {.w = w, .x = img, .y = out, .images = g->n, .m = g->cout,
                                       .cin = g->cin, .h = g->h, .w_in = g->w, .kh = g->kh,
                                       .kw = g->kw, .stride = g->stride, .pad = g->pad,
                                       .ho = g->ho, .wo = g->wo, .beta = beta};
        return segcl_conv_implicit(ctx, ws, &ia);
    }
    cl_mem col = NULL;
    segcl_status st = SEGCL_OK;
    if (!g->direct)
        st = segcl_column_scratch(
            ctx, ws, panels ? panels_of(ctx, pixels) * kp->gemm_nr * g->k : (size_t)g->k * pixels,
            &col);
    for (cl_uint i = 0; i < g->n && !st; i++) {
        segcl_gemm_args ga = {.m = g->cout, .n = pixels, .k = g->k, .alpha = 1.0f, .beta = beta,
                              .a = w, .lda = g->k, .ldb = pixels, .c = out,
                              .c_offset = i * plane_out, .ldc = pixels};
        if (g->direct) {
            ga.b = img;
            ga.b_offset = i * plane_in;
            st = segcl_gemm(ctx, ws, &ga);
        } else if (panels) {
            if (!(st = im2col_panels(ctx, g, img, (cl_uint)(i * plane_in), col)))
                st = segcl_gemm_prepacked_b(ctx, ws, &ga, col);
        } else if (!(st = im2col(ctx, g, img, (cl_uint)(i * plane_in), col))) {
            ga.b = col;
            st = segcl_gemm(ctx, ws, &ga);
        }
    }
    return st;
}

/* dW (cout x k) += a_i (cout x P) * col(img_i)^T: the weight gradient of both convolutions. */
static segcl_status weight_gradient(segcl_context *ctx, segcl_workspace *ws, const conv_geometry *g,
                                    cl_mem a, cl_mem img, cl_mem dw)
{
    const size_t pixels = (size_t)g->ho * g->wo;
    const size_t plane_in = (size_t)g->cin * g->h * g->w, plane_out = (size_t)g->cout * pixels;
    const segcl_kernel_params *kp = segcl_context_params(ctx);
    const bool panels = !g->direct && cpu_path(ctx);
    if (panels && !kp->no_implicit) {
        /* every image in one product (K = images x pixels), columns built in local memory */
        segcl_conv_implicit_args ia = {.w = dw, .x = img, .y = a, .images = g->n, .m = g->cout,
                                       .cin = g->cin, .h = g->h, .w_in = g->w, .kh = g->kh,
                                       .kw = g->kw, .stride = g->stride, .pad = g->pad,
                                       .ho = g->ho, .wo = g->wo, .beta = 1.0f};
        return segcl_conv_implicit_wgrad(ctx, ws, &ia);
    }
    cl_mem col = NULL;
    segcl_status st = SEGCL_OK;
    if (!g->direct)
        st = segcl_column_scratch(
            ctx, ws, panels ? panels_of(ctx, g->k) * kp->gemm_nr * pixels : (size_t)g->k * pixels,
            &col);
    for (cl_uint i = 0; i < g->n && !st; i++) {
        segcl_gemm_args ga = {.trans_b = !panels, .m = g->cout, .n = g->k, .k = pixels,
                              .alpha = 1.0f, .beta = 1.0f, .a = a, .a_offset = i * plane_out,
                              .lda = pixels, .ldb = pixels, .c = dw, .ldc = g->k};
        if (g->direct) {
            ga.b = img;
            ga.b_offset = i * plane_in;
            st = segcl_gemm(ctx, ws, &ga);
        } else if (panels) {
            /* packed as col^T (P x K) */
            if (!(st = im2col_panels_t(ctx, g, img, (cl_uint)(i * plane_in), col)))
                st = segcl_gemm_prepacked_b(ctx, ws, &ga, col);
        } else if (!(st = im2col(ctx, g, img, (cl_uint)(i * plane_in), col))) {
            ga.b = col;
            st = segcl_gemm(ctx, ws, &ga);
        }
    }
    return st;
}

/* img_i (+)= col2im(W^T * a_i): conv's input gradient and transposed conv's forward. On CPU
 * devices a stride-1 problem is itself a convolution of a with flipped weights (no col2im). */
static segcl_status data_gradient(segcl_context *ctx, segcl_workspace *ws, const conv_geometry *g,
                                  cl_mem w, cl_mem a, cl_mem img, bool accumulate)
{
    segcl_status st;
    if (!g->direct && cpu_path(ctx) && g->stride == 1 && g->kh == g->kw &&
        g->pad <= g->kh - 1) {
        /* a (cout channels, ho x wo) convolved to img (cin, h x w) */
        conv_geometry t = {.n = g->n, .cin = g->cout, .h = g->ho, .w = g->wo, .cout = g->cin,
                           .ho = g->h, .wo = g->w, .kh = g->kh, .kw = g->kw, .stride = 1,
                           .pad = g->kh - 1 - g->pad, .k = g->cout * g->kh * g->kw};
        size_t weights = (size_t)g->cout * g->k;
        cl_mem flipped;
        if ((st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_WEIGHTS, "flipped convolution weights",
                                          weights * sizeof(float), &flipped)) ||
            (st = segcl_run_elements(ctx, "conv2d", "conv_weight_flip", weights, 1,
                                     SEGCL_ARGS(SEGCL_ARG(w), SEGCL_ARG(g->cout), SEGCL_ARG(g->cin),
                                                SEGCL_ARG(g->kh), SEGCL_ARG(g->kw),
                                                SEGCL_ARG(flipped)))))
            return st;
        return columns_product(ctx, ws, &t, flipped, a, img, accumulate ? 1.0f : 0.0f);
    }
    const size_t pixels = (size_t)g->ho * g->wo;
    const size_t plane_in = (size_t)g->cin * g->h * g->w, plane_out = (size_t)g->cout * pixels;
    cl_mem col = NULL;
    st = g->direct ? SEGCL_OK : segcl_column_scratch(ctx, ws, (size_t)g->k * pixels, &col);
    for (cl_uint i = 0; i < g->n && !st; i++) {
        /* dcol (K x P) = W^T (K x cout) * a_i (cout x P), then gathered back to pixels */
        segcl_gemm_args ga = {.trans_a = true, .m = g->k, .n = pixels, .k = g->cout,
                              .alpha = 1.0f, .beta = 0.0f, .a = w, .lda = g->k, .b = a,
                              .b_offset = i * plane_out, .ldb = pixels, .ldc = pixels};
        if (g->direct) {
            ga.c = img;
            ga.c_offset = i * plane_in;
            ga.beta = accumulate ? 1.0f : 0.0f;
            st = segcl_gemm(ctx, ws, &ga);
        } else {
            ga.c = col;
            if (!(st = segcl_gemm(ctx, ws, &ga)))
                st = col2im(ctx, g, col, img, (cl_uint)(i * plane_in), accumulate);
        }
    }
    return st;
}

segcl_status segcl_conv2d_forward(segcl_context *ctx, segcl_workspace *ws,
                                  const segcl_conv_params *p, const segcl_tensor *x,
                                  const segcl_tensor *w, const segcl_tensor *b, segcl_tensor *y)
{
    conv_geometry g;
    segcl_status st = setup(ctx, "conv2d", p, x, y, w, b, NULL, NULL, NULL, false, &g);
    if (st || (st = columns_product(ctx, ws, &g, w->buffer, x->buffer, y->buffer, 0.0f)))
        return st;
    return b ? bias_add(ctx, y, b) : SEGCL_OK;
}

bool segcl_conv2d_fuses(segcl_context *ctx, const segcl_conv_params *p)
{
    /* the same test as segcl_conv2d_forward_fused's, before any geometry: 1x1 convolutions
     * (direct) never fuse */
    return cpu_path(ctx) && !segcl_context_params(ctx)->no_fusion &&
           !(p->kernel_h == 1 && p->kernel_w == 1 && p->stride == 1 && p->pad == 0);
}

segcl_status segcl_conv2d_forward_fused(segcl_context *ctx, segcl_workspace *ws,
                                        const segcl_conv_params *p, const segcl_tensor *x,
                                        const segcl_tensor *w, const segcl_tensor *b,
                                        const segcl_tensor *scale, const segcl_tensor *shift,
                                        segcl_tensor *y, bool *fused)
{
    conv_geometry g = {0};
    *fused = false;
    segcl_status st = setup(ctx, "conv2d", p, x, y, w, b, NULL, NULL, NULL, false, &g);
    if (st)
        return st;
    int64_t cshape[1] = {g.cout};
    if ((scale && (st = segcl_expect_shape(ctx, "conv2d", "epilogue scale", scale, 1, cshape))) ||
        (shift && (st = segcl_expect_shape(ctx, "conv2d", "epilogue shift", shift, 1, cshape))))
        return st;
    if (g.direct || !cpu_path(ctx) || segcl_context_params(ctx)->no_fusion)
        return SEGCL_OK;
    segcl_conv_implicit_args ia = {.w = w->buffer, .x = x->buffer, .y = y->buffer, .images = g.n,
                                   .m = g.cout, .cin = g.cin, .h = g.h, .w_in = g.w, .kh = g.kh,
                                   .kw = g.kw, .stride = g.stride, .pad = g.pad, .ho = g.ho,
                                   .wo = g.wo, .beta = 0.0f, .bias = b ? b->buffer : NULL,
                                   .scale = scale ? scale->buffer : NULL,
                                   .shift = shift ? shift->buffer : NULL, .relu = true};
    if ((st = segcl_conv_implicit(ctx, ws, &ia)))
        return st;
    *fused = true;
    return SEGCL_OK;
}

segcl_status segcl_conv2d_backward(segcl_context *ctx, segcl_workspace *ws,
                                   const segcl_conv_params *p, const segcl_tensor *x,
                                   const segcl_tensor *w, const segcl_tensor *dy, segcl_tensor *dx,
                                   segcl_tensor *dw, segcl_tensor *db, bool accumulate)
{
    conv_geometry g;
    segcl_status st = setup(ctx, "conv2d backward", p, x, dy, w, db, dw, dx, x, false, &g);
    if (st || (db && (st = bias_grad(ctx, ws, dy, db))) ||
        (dw && (st = weight_gradient(ctx, ws, &g, dy->buffer, x->buffer, dw->buffer))))
        return st;
    return dx ? data_gradient(ctx, ws, &g, w->buffer, dy->buffer, dx->buffer, accumulate)
              : SEGCL_OK;
}

/* Transposed convolution is convolution seen from the other side: its input x plays the conv
 * output (column side) and its output y the conv input (image side). */
segcl_status segcl_conv_transpose2d_forward(segcl_context *ctx, segcl_workspace *ws,
                                            const segcl_conv_params *p, const segcl_tensor *x,
                                            const segcl_tensor *w, const segcl_tensor *b,
                                            segcl_tensor *y)
{
    /* PyTorch layout (Cin, Cout, KH, KW) = conv's (out, in, KH, KW) */
    conv_geometry g;
    segcl_status st = setup(ctx, "conv_transpose2d", p, y, x, w, b, NULL, NULL, NULL, true, &g);
    if (st || (st = data_gradient(ctx, ws, &g, w->buffer, x->buffer, y->buffer, false)))
        return st;
    return b ? bias_add(ctx, y, b) : SEGCL_OK;
}

segcl_status segcl_conv_transpose2d_backward(segcl_context *ctx, segcl_workspace *ws,
                                             const segcl_conv_params *p, const segcl_tensor *x,
                                             const segcl_tensor *w, const segcl_tensor *dy,
                                             segcl_tensor *dx, segcl_tensor *dw, segcl_tensor *db,
                                             bool accumulate)
{
    conv_geometry g;
    segcl_status st =
        setup(ctx, "conv_transpose2d backward", p, dy, x, w, db, dw, dx, x, true, &g);
    if (st || (db && (st = bias_grad(ctx, ws, dy, db))))
        return st;
    /* dx_i (Cin_t x P) = W (Cin_t x K) * im2col(dy_i): conv's forward */
    if (dx && (st = columns_product(ctx, ws, &g, w->buffer, dy->buffer, dx->buffer,
                                    accumulate ? 1.0f : 0.0f)))
        return st;
    /* dW (Cin_t x K) += x_i (Cin_t x P) * im2col(dy_i)^T */
    return dw ? weight_gradient(ctx, ws, &g, x->buffer, dy->buffer, dw->buffer) : SEGCL_OK;
}
