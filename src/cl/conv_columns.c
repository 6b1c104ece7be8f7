/*
 * Convolutions image by image through explicit columns: im2col of one image into a reused
 * workspace buffer, one GEMM per image, gather-style col2im for data gradients (no atomics:
 * deterministic). 1x1 stride-1 convolutions skip im2col. On the CPU GEMM the columns go
 * straight into its packed panels. Launches grow with the batch: this is the path that
 * SEGCL_NO_IMPLICIT measures the implicit GEMMs against (the design before issue 17).
 * Also the epilogue as a pass of its own, for products that do not apply it.
 */
#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/conv_impl.h"

static bool direct(const segcl_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
}

static size_t rows_of(const segcl_conv_shape *s)
{
    return (size_t)s->cin * s->kh * s->kw;
}

static size_t panels_of(const segcl_context *ctx, size_t n)
{
    const size_t nr = ctx->params.gemm_nr;
    return (n + nr - 1) / nr;
}

/* One image's columns (K x P) at img_offset; kernel `name`: im2col (plain), im2col_panels (the
 * CPU GEMM's packed B) or im2col_panels_t (packed B of the transposed columns). */
static segcl_status columns(segcl_context *ctx, const segcl_conv_shape *s, const char *name,
                            cl_mem img, cl_uint img_offset, cl_mem col)
{
    const size_t pixels = (size_t)s->ho * s->wo, k = rows_of(s);
    size_t global[2] = {pixels, k}, one[2] = {1, 1};
    const size_t *local = NULL;
    if (strcmp(name, "im2col_panels") == 0)
        global[0] = panels_of(ctx, pixels), global[1] = (k + 63) / 64, local = one;
    else if (strcmp(name, "im2col_panels_t") == 0)
        global[0] = (pixels + 255) / 256, global[1] = panels_of(ctx, k), local = one;
    return segcl_run(ctx, "conv2d", NULL, name, 2, global, local,
                     SEGCL_ARGS(SEGCL_ARG(img), SEGCL_ARG(img_offset), SEGCL_ARG(s->cin),
                                SEGCL_ARG(s->h), SEGCL_ARG(s->w), SEGCL_ARG(s->kh),
                                SEGCL_ARG(s->kw), SEGCL_ARG(s->stride), SEGCL_ARG(s->pad),
                                SEGCL_ARG(s->ho), SEGCL_ARG(s->wo), SEGCL_ARG(col)));
}

static segcl_status col2im(segcl_context *ctx, const segcl_conv_shape *s, cl_mem col, cl_mem img,
                           cl_uint img_offset, bool accumulate)
{
    size_t global[2] = {(size_t)s->h * s->w, s->cin};
    cl_uint acc = accumulate;
    return segcl_run(ctx, "conv2d", NULL, "col2im", 2, global, NULL,
                     SEGCL_ARGS(SEGCL_ARG(col), SEGCL_ARG(s->cin), SEGCL_ARG(s->h),
                                SEGCL_ARG(s->w), SEGCL_ARG(s->kh), SEGCL_ARG(s->kw),
                                SEGCL_ARG(s->stride), SEGCL_ARG(s->pad), SEGCL_ARG(s->ho),
                                SEGCL_ARG(s->wo), SEGCL_ARG(img), SEGCL_ARG(img_offset),
                                SEGCL_ARG(acc)));
}

static segcl_status scratch(segcl_workspace *ws, size_t floats, cl_mem *out)
{
    return segcl_workspace_reserve(ws, SEGCL_SCRATCH_COLUMNS, "convolution columns",
                                   floats * sizeof(float), out);
}

/* Product ga with image i's input as B: the input itself (1x1, stride 1), its columns packed
 * in panels for the CPU GEMM (panel_kernel names the packing; NULL: not packed), or its
 * columns (K x P) for CLBlast. */
static segcl_status image_product(segcl_context *ctx, segcl_workspace *ws,
                                  const segcl_conv_shape *s, cl_mem x, cl_uint i, cl_mem col,
                                  const char *panel_kernel, segcl_gemm_args *ga)
{
    const cl_uint at = (cl_uint)(i * ((size_t)s->cin * s->h * s->w));
    segcl_status st;
    if (direct(s)) {
        ga->b = x;
        ga->b_offset = at;
        return segcl_gemm(ctx, ws, ga);
    }
    if (panel_kernel) {
        st = columns(ctx, s, panel_kernel, x, at, col);
        return st ? st : segcl_gemm_prepacked_b(ctx, ws, ga, col);
    }
    if ((st = columns(ctx, s, "im2col", x, at, col)))
        return st;
    ga->b = col;
    return segcl_gemm(ctx, ws, ga);
}

segcl_status segcl_conv_columns_forward(segcl_context *ctx, segcl_workspace *ws,
                                        const segcl_conv_shape *s, cl_mem w, cl_mem x, cl_mem y,
                                        float beta)
{
    const size_t pixels = (size_t)s->ho * s->wo, k = rows_of(s);
    const size_t plane_out = (size_t)s->cout * pixels;
    const bool panels = !direct(s) && segcl_gemm_get_backend(ctx) == SEGCL_GEMM_CPU;
    cl_mem col = NULL;
    segcl_status st = SEGCL_OK;
    if (!direct(s))
        st = scratch(ws, panels ? panels_of(ctx, pixels) * ctx->params.gemm_nr * k : k * pixels,
                     &col);
    for (cl_uint i = 0; i < s->images && !st; i++) {
        segcl_gemm_args ga = {.m = s->cout, .n = pixels, .k = k, .alpha = 1.0f, .beta = beta,
                              .a = w, .lda = k, .ldb = pixels, .c = y,
                              .c_offset = i * plane_out, .ldc = pixels};
        st = image_product(ctx, ws, s, x, i, col, panels ? "im2col_panels" : NULL, &ga);
    }
    return st;
}

segcl_status segcl_conv_columns_weight_grad(segcl_context *ctx, segcl_workspace *ws,
                                            const segcl_conv_shape *s, cl_mem a, cl_mem x,
                                            cl_mem dw, float beta)
{
    const size_t pixels = (size_t)s->ho * s->wo, k = rows_of(s);
    const size_t plane_out = (size_t)s->cout * pixels;
    const bool panels = !direct(s) && segcl_gemm_get_backend(ctx) == SEGCL_GEMM_CPU;
    cl_mem col = NULL;
    segcl_status st = SEGCL_OK;
    if (!direct(s))
        st = scratch(ws, panels ? panels_of(ctx, k) * ctx->params.gemm_nr * pixels : k * pixels,
                     &col);
    for (cl_uint i = 0; i < s->images && !st; i++) {
        segcl_gemm_args ga = {.trans_b = !panels, .m = s->cout, .n = k, .k = pixels,
                              .alpha = 1.0f, .beta = i == 0 ? beta : 1.0f, .a = a,
                              .a_offset = i * plane_out, .lda = pixels, .ldb = pixels, .c = dw,
                              .ldc = k};
        /* packed as col^T (P x K) for the CPU GEMM */
        st = image_product(ctx, ws, s, x, i, col, panels ? "im2col_panels_t" : NULL, &ga);
    }
    return st;
}

segcl_status segcl_conv_columns_data_grad(segcl_context *ctx, segcl_workspace *ws,
                                          const segcl_conv_shape *s, cl_mem w, cl_mem a,
                                          cl_mem img, float beta)
{
    const size_t pixels = (size_t)s->ho * s->wo, k = rows_of(s);
    const size_t plane_in = (size_t)s->cin * s->h * s->w, plane_out = (size_t)s->cout * pixels;
    if (beta != 0.0f && beta != 1.0f)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "convolution data gradient: beta %g (0 or 1 only)", (double)beta);
    cl_mem col = NULL;
    segcl_status st = direct(s) ? SEGCL_OK : scratch(ws, k * pixels, &col);
    for (cl_uint i = 0; i < s->images && !st; i++) {
        /* dcol (K x P) = W^T (K x cout) * a_i (cout x P), then gathered back to pixels */
        segcl_gemm_args ga = {.trans_a = true, .m = k, .n = pixels, .k = s->cout, .alpha = 1.0f,
                              .beta = 0.0f, .a = w, .lda = k, .b = a,
                              .b_offset = i * plane_out, .ldb = pixels, .ldc = pixels};
        if (direct(s)) {
            ga.c = img;
            ga.c_offset = i * plane_in;
            ga.beta = beta;
            st = segcl_gemm(ctx, ws, &ga);
        } else {
            ga.c = col;
            if (!(st = segcl_gemm(ctx, ws, &ga)))
                st = col2im(ctx, s, col, img, (cl_uint)(i * plane_in), beta != 0.0f);
        }
    }
    return st;
}

size_t segcl_conv_columns_workspace_bytes(const segcl_conv_shape *s)
{
    /* one image's columns, and as much again for CLBlast's temporary buffer, grown by half */
    return rows_of(s) * s->ho * s->wo * sizeof(float) * 3;
}

segcl_status segcl_conv_epilogue_pass(segcl_context *ctx, cl_uint images, cl_uint channels,
                                      cl_uint plane, cl_mem y, const segcl_conv_epilogue *ep)
{
    /* kernels/conv2d.cl's EP_BIAS, EP_RELU, EP_AFFINE */
    cl_uint flags = (ep->bias ? 1u : 0u) | (ep->relu ? 2u : 0u) |
                    (ep->scale && ep->shift ? 4u : 0u);
    if (!flags)
        return SEGCL_OK;
    return segcl_run_elements(ctx, "conv2d", "conv_epilogue", plane, (size_t)images * channels,
                              SEGCL_ARGS(SEGCL_ARG(y), SEGCL_ARG(ep->bias), SEGCL_ARG(ep->scale),
                                         SEGCL_ARG(ep->shift), SEGCL_ARG(flags),
                                         SEGCL_ARG(channels), SEGCL_ARG(plane)));
}
