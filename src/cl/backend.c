/*
 * The two backends' tables (src/cl/cl.h, segcl_backend) and the context's choice between them.
 *
 * CPU-style: kernels/gemm_cpu.cl's implicit GEMM for every convolution of the batch in one
 * product, its epilogue fused; data gradients of stride-1 square kernels as a convolution of
 * the output gradient with flipped weights; others image by image through columns.
 * GPU-style: kernels/conv_gpu.cl's implicit GEMMs (src/cl/conv_gpu.c), one launch per product
 * for the whole batch, epilogue fused; CLBlast for plain GEMMs.
 * SEGCL_NO_IMPLICIT (both) runs the image-by-image column path instead, and SEGCL_NO_FUSION the
 * epilogue as a pass of its own: the switches tools/PERF.md measures the designs with.
 */
#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/conv_impl.h"

static segcl_conv_epilogue product_only(const segcl_conv_epilogue *ep)
{
    segcl_conv_epilogue p = {.beta = ep ? ep->beta : 0.0f};
    return p;
}

/* The epilogue after a product that did not apply it. */
static segcl_status epilogue_after(segcl_context *ctx, const segcl_conv_shape *s, cl_mem y,
                                   const segcl_conv_epilogue *ep, bool image_side)
{
    if (!ep)
        return SEGCL_OK;
    return image_side ? segcl_conv_epilogue_pass(ctx, s->images, s->cin, s->h * s->w, y, ep)
                      : segcl_conv_epilogue_pass(ctx, s->images, s->cout, s->ho * s->wo, y, ep);
}

segcl_status segcl_conv_data_grad_epilogue_check(segcl_context *ctx, const char *op,
                                                 const segcl_conv_epilogue *ep)
{
    if (ep && (ep->relu || ep->scale || ep->shift))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: only beta and bias apply to a data gradient (not ReLU, scale or "
                          "shift)",
                          op);
    return SEGCL_OK;
}

/* ---- CPU-style ---- */

static segcl_status cpu_forward(segcl_context *ctx, segcl_workspace *ws,
                                const segcl_conv_shape *s, cl_mem w, cl_mem x, cl_mem y,
                                const segcl_conv_epilogue *ep)
{
    const segcl_conv_epilogue none = product_only(ep);
    if (ctx->params.no_implicit) {
        segcl_status st = segcl_conv_columns_forward(ctx, ws, s, w, x, y, none.beta);
        return st ? st : epilogue_after(ctx, s, y, ep, false);
    }
    const segcl_conv_epilogue *fused = ep && !ctx->params.no_fusion ? ep : &none;
    segcl_conv_implicit_args ia = {.w = w, .x = x, .y = y, .images = s->images, .m = s->cout,
                                   .cin = s->cin, .h = s->h, .w_in = s->w, .kh = s->kh,
                                   .kw = s->kw, .stride = s->stride, .pad = s->pad,
                                   .ho = s->ho, .wo = s->wo, .beta = fused->beta,
                                   .bias = fused->bias, .scale = fused->scale,
                                   .shift = fused->shift, .relu = fused->relu};
    segcl_status st = segcl_conv_implicit(ctx, ws, &ia);
    if (st || fused != &none)
        return st;
    return epilogue_after(ctx, s, y, ep, false);
}

static segcl_status cpu_data_grad(segcl_context *ctx, segcl_workspace *ws,
                                  const segcl_conv_shape *s, cl_mem w, cl_mem a, cl_mem img,
                                  const segcl_conv_epilogue *ep)
{
    segcl_status st = segcl_conv_data_grad_epilogue_check(ctx, "convolution data gradient", ep);
    if (st)
        return st;
    if (ctx->params.no_implicit || s->stride != 1 || s->kh != s->kw || s->pad > s->kh - 1) {
        const segcl_conv_epilogue none = product_only(ep);
        if ((st = segcl_conv_columns_data_grad(ctx, ws, s, w, a, img, none.beta)))
            return st;
        return epilogue_after(ctx, s, img, ep, true);
    }
    /* a (cout channels, ho x wo) convolved to img (cin, h x w) with the kernels flipped and
     * their in and out channels swapped */
    const segcl_conv_shape t = {.images = s->images, .cin = s->cout, .h = s->ho, .w = s->wo,
                                .cout = s->cin, .ho = s->h, .wo = s->w, .kh = s->kh,
                                .kw = s->kw, .stride = 1, .pad = s->kh - 1 - s->pad};
    const size_t weights = (size_t)s->cout * s->cin * s->kh * s->kw;
    cl_mem flipped;
    if ((st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_WEIGHTS, "flipped convolution weights",
                                      weights * sizeof(float), &flipped)) ||
        (st = segcl_run_elements(ctx, "conv2d", "conv_weight_flip", weights, 1,
                                 SEGCL_ARGS(SEGCL_ARG(w), SEGCL_ARG(s->cout), SEGCL_ARG(s->cin),
                                            SEGCL_ARG(s->kh), SEGCL_ARG(s->kw),
                                            SEGCL_ARG(flipped)))))
        return st;
    return cpu_forward(ctx, ws, &t, flipped, a, img, ep);
}

static segcl_status cpu_weight_grad(segcl_context *ctx, segcl_workspace *ws,
                                    const segcl_conv_shape *s, cl_mem a, cl_mem x, cl_mem dw,
                                    float beta)
{
    if (ctx->params.no_implicit)
        return segcl_conv_columns_weight_grad(ctx, ws, s, a, x, dw, beta);
    segcl_conv_implicit_args ia = {.w = dw, .x = x, .y = a, .images = s->images, .m = s->cout,
                                   .cin = s->cin, .h = s->h, .w_in = s->w, .kh = s->kh,
                                   .kw = s->kw, .stride = s->stride, .pad = s->pad,
                                   .ho = s->ho, .wo = s->wo, .beta = beta};
    return segcl_conv_implicit_wgrad(ctx, ws, &ia);
}

static size_t cpu_workspace_bytes(segcl_context *ctx, const segcl_conv_shape *s)
{
    if (ctx->params.no_implicit)
        return segcl_conv_columns_workspace_bytes(s);
    return (size_t)32 << 20; /* packed operands, split-K slabs, flipped weights: bounded */
}

const segcl_backend segcl_backend_cpu_style = {
    .name = "cpu-style",
    .conv_forward = cpu_forward,
    .conv_data_grad = cpu_data_grad,
    .conv_weight_grad = cpu_weight_grad,
    .gemm = segcl_gemm,
    .conv_workspace_bytes = cpu_workspace_bytes,
};

/* ---- GPU-style ---- */

typedef segcl_status (*gpu_product_fn)(segcl_context *ctx, segcl_workspace *ws,
                                       const segcl_conv_shape *s, cl_mem w, cl_mem in,
                                       cl_mem out, const segcl_conv_epilogue *ep);
typedef segcl_status (*columns_product_fn)(segcl_context *ctx, segcl_workspace *ws,
                                           const segcl_conv_shape *s, cl_mem w, cl_mem in,
                                           cl_mem out, float beta);

/* A GPU-style product with its epilogue fused; SEGCL_NO_FUSION: the epilogue as a pass after
 * it; SEGCL_NO_IMPLICIT: the column path's product, then that pass. */
static segcl_status gpu_product(segcl_context *ctx, segcl_workspace *ws,
                                const segcl_conv_shape *s, cl_mem w, cl_mem in, cl_mem out,
                                const segcl_conv_epilogue *ep, gpu_product_fn implicit,
                                columns_product_fn columns, bool image_side)
{
    const segcl_conv_epilogue none = product_only(ep);
    if (!ctx->params.no_implicit && !ctx->params.no_fusion)
        return implicit(ctx, ws, s, w, in, out, ep ? ep : &none);
    segcl_status st = ctx->params.no_implicit ? columns(ctx, ws, s, w, in, out, none.beta)
                                              : implicit(ctx, ws, s, w, in, out, &none);
    return st ? st : epilogue_after(ctx, s, out, ep, image_side);
}

static segcl_status gpu_forward(segcl_context *ctx, segcl_workspace *ws,
                                const segcl_conv_shape *s, cl_mem w, cl_mem x, cl_mem y,
                                const segcl_conv_epilogue *ep)
{
    return gpu_product(ctx, ws, s, w, x, y, ep, segcl_conv_gpu_forward,
                       segcl_conv_columns_forward, false);
}

static segcl_status gpu_data_grad(segcl_context *ctx, segcl_workspace *ws,
                                  const segcl_conv_shape *s, cl_mem w, cl_mem a, cl_mem img,
                                  const segcl_conv_epilogue *ep)
{
    segcl_status st = segcl_conv_data_grad_epilogue_check(ctx, "convolution data gradient", ep);
    return st ? st
              : gpu_product(ctx, ws, s, w, a, img, ep, segcl_conv_gpu_data_grad,
                            segcl_conv_columns_data_grad, true);
}

static segcl_status gpu_weight_grad(segcl_context *ctx, segcl_workspace *ws,
                                    const segcl_conv_shape *s, cl_mem a, cl_mem x, cl_mem dw,
                                    float beta)
{
    if (ctx->params.no_implicit)
        return segcl_conv_columns_weight_grad(ctx, ws, s, a, x, dw, beta);
    return segcl_conv_gpu_weight_grad(ctx, ws, s, a, x, dw, beta);
}

static size_t gpu_workspace_bytes(segcl_context *ctx, const segcl_conv_shape *s)
{
    if (ctx->params.no_implicit)
        return segcl_conv_columns_workspace_bytes(s);
    return segcl_conv_gpu_workspace_bytes(ctx, s);
}

const segcl_backend segcl_backend_gpu_style = {
    .name = "gpu-style",
    .conv_forward = gpu_forward,
    .conv_data_grad = gpu_data_grad,
    .conv_weight_grad = gpu_weight_grad,
    .gemm = segcl_gemm,
    .conv_workspace_bytes = gpu_workspace_bytes,
};

const segcl_backend *segcl_context_backend(const segcl_context *ctx)
{
    return ctx && ctx->open ? ctx->backend : NULL;
}
