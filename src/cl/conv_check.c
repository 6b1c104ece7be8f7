/*
 * The convolution check `segcl tune` runs on each candidate before timing it: the context's
 * backend computes a forward pass (bias and ReLU in its epilogue), a data gradient and a weight
 * gradient of a small odd-sized problem, compared with a double-precision host reference.
 */
#include <math.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

/* 2 images of 5 x 11 x 9, 19 output channels, 3x3 kernels, padding 1, stride 2: tiles cut
 * through everything, strided data gradients take every phase. */
static const segcl_conv_shape check_shape = {.images = 2, .cin = 5, .h = 11, .w = 9, .cout = 19,
                                             .ho = 6, .wo = 5, .kh = 3, .kw = 3, .stride = 2,
                                             .pad = 1};

typedef struct conv_host {
    float *x, *w, *b, *dy, *y, *dx, *dw;
    size_t nx, nw, ny;
} conv_host;

/* col(x) at row k = (ci, ky, kx), column (n, oy, ox), or 0 outside the image */
static double col_at(const conv_host *h, const segcl_conv_shape *s, size_t n, size_t k,
                     size_t p)
{
    const size_t ci = k / (s->kh * s->kw), ky = k / s->kw % s->kh, kx = k % s->kw;
    const long iy = (long)(p / s->wo * s->stride + ky) - (long)s->pad;
    const long ix = (long)(p % s->wo * s->stride + kx) - (long)s->pad;
    if (iy < 0 || ix < 0 || iy >= (long)s->h || ix >= (long)s->w)
        return 0.0;
    return h->x[((n * s->cin + ci) * s->h + (size_t)iy) * s->w + (size_t)ix];
}

/* The largest error of the three products against the reference, relative to each one's
 * largest magnitude. */
static double worst_error(const conv_host *h, const segcl_conv_shape *s)
{
    const size_t k = (size_t)s->cin * s->kh * s->kw, pix = (size_t)s->ho * s->wo;
    double *dx = segcl_calloc(h->nx, sizeof *dx), *dw = segcl_calloc(h->nw, sizeof *dw);
    double err[3] = {0, 0, 0}, scale[3] = {1e-30, 1e-30, 1e-30};
    if (!dx || !dw) {
        segcl_free(dx), segcl_free(dw);
        return INFINITY;
    }
    for (size_t n = 0; n < s->images; n++)
        for (size_t co = 0; co < s->cout; co++)
            for (size_t p = 0; p < pix; p++) {
                double v = h->b[co];
                const double g = h->dy[(n * s->cout + co) * pix + p];
                for (size_t r = 0; r < k; r++) {
                    const double c = col_at(h, s, n, r, p);
                    v += h->w[co * k + r] * c;
                    dw[co * k + r] += g * c;
                }
                v = v > 0 ? v : 0;
                const size_t at = (n * s->cout + co) * pix + p;
                err[0] = fmax(err[0], fabs(h->y[at] - v)), scale[0] = fmax(scale[0], fabs(v));
            }
    for (size_t i = 0; i < h->nw; i++)
        err[2] = fmax(err[2], fabs(h->dw[i] - dw[i])), scale[2] = fmax(scale[2], fabs(dw[i]));
    /* the data gradient by scattering each output's gradient back through its window */
    for (size_t n = 0; n < s->images; n++)
        for (size_t co = 0; co < s->cout; co++)
            for (size_t p = 0; p < pix; p++)
                for (size_t r = 0; r < k; r++) {
                    const size_t ci = r / (s->kh * s->kw), ky = r / s->kw % s->kh, kx = r % s->kw;
                    const long iy = (long)(p / s->wo * s->stride + ky) - (long)s->pad;
                    const long ix = (long)(p % s->wo * s->stride + kx) - (long)s->pad;
                    if (iy >= 0 && ix >= 0 && iy < (long)s->h && ix < (long)s->w)
                        dx[((n * s->cin + ci) * s->h + (size_t)iy) * s->w + (size_t)ix] +=
                            h->w[co * k + r] * h->dy[(n * s->cout + co) * pix + p];
                }
    for (size_t i = 0; i < h->nx; i++)
        err[1] = fmax(err[1], fabs(h->dx[i] - dx[i])), scale[1] = fmax(scale[1], fabs(dx[i]));
    segcl_free(dx), segcl_free(dw);
    return fmax(fmax(err[0] / scale[0], err[1] / scale[1]), err[2] / scale[2]);
}

/* The three products on the device, results into h->y, h->dx, h->dw. */
static segcl_status run_products(segcl_context *ctx, segcl_workspace *ws, conv_host *h)
{
    const segcl_conv_shape *s = &check_shape;
    const size_t sizes[7] = {h->nx, h->nw, s->cout, h->ny, h->ny, h->nx, h->nw};
    float *host[7] = {h->x, h->w, h->b, h->dy, h->y, h->dx, h->dw};
    cl_mem d[7] = {NULL};
    segcl_status st = SEGCL_OK;
    for (int i = 0; i < 7 && !st; i++)
        if (!(st = segcl_buffer_create(ctx, "convolution check", sizes[i] * sizeof(float), &d[i])) &&
            i < 4)
            st = segcl_mem_write(ctx, d[i], sizes[i], host[i]);
    const segcl_backend *be = ctx->backend;
    segcl_conv_epilogue ep = {.bias = d[2], .relu = true}, none = {0};
    if (!st && !(st = be->conv_forward(ctx, ws, s, d[1], d[0], d[4], &ep)) &&
        !(st = be->conv_data_grad(ctx, ws, s, d[1], d[3], d[5], &none)) &&
        !(st = be->conv_weight_grad(ctx, ws, s, d[3], d[0], d[6], 0.0f)))
        for (int i = 4; i < 7 && !st; i++)
            st = segcl_mem_read(ctx, d[i], sizes[i], host[i]);
    for (int i = 0; i < 7; i++)
        if (d[i])
            segcl_buffer_release(ctx, d[i], sizes[i] * sizeof(float));
    return st;
}

segcl_status segcl_check_conv(segcl_context *ctx, segcl_workspace *ws, double *worst)
{
    const segcl_conv_shape *s = &check_shape;
    conv_host h = {.nx = (size_t)s->images * s->cin * s->h * s->w,
                   .nw = (size_t)s->cout * s->cin * s->kh * s->kw,
                   .ny = (size_t)s->images * s->cout * s->ho * s->wo};
    segcl_status st = segcl_require_open(ctx);
    if (st)
        return st;
    if (segcl_context_half(ctx))
        return segcl_fail_setting(ctx, "precision", SEGCL_ERROR_STATE,
                                  "the convolution check runs in float32, not in a half context");
    float **all[7] = {&h.x, &h.w, &h.b, &h.dy, &h.y, &h.dx, &h.dw};
    const size_t sizes[7] = {h.nx, h.nw, s->cout, h.ny, h.ny, h.nx, h.nw};
    for (int i = 0; i < 7 && !st; i++)
        if (!(*all[i] = segcl_malloc(sizes[i] * sizeof(float))))
            st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    segcl_rng rng;
    segcl_rng_seed(&rng, 17, 3);
    for (int i = 0; i < 4 && !st; i++)
        for (size_t j = 0; j < sizes[i]; j++)
            (*all[i])[j] = segcl_rng_uniform(&rng) * 2 - 1;
    if (!st && !(st = run_products(ctx, ws, &h))) {
        const double e = worst_error(&h, s);
        if (worst)
            *worst = e;
        if (!(e <= 1e-4))
            st = segcl_fail(ctx, SEGCL_ERROR_STATE,
                            "%s computes convolutions wrongly with these kernels (relative error "
                            "%.3g, more than 1e-4)",
                            ctx->dev->info.name, e);
    }
    for (int i = 0; i < 7; i++)
        segcl_free(*all[i]);
    return st;
}
