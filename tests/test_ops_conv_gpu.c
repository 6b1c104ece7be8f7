/*
 * The GPU-style implicit-GEMM convolutions (src/cl/conv_gpu.c, kernels/conv_gpu.cl) called
 * directly, on whatever device the tests run (they run on CPU-style devices too), against
 * double-precision references written here from the definitions: forward with every part of
 * the epilogue, data gradient (beta, bias), weight gradient (beta, split K), on odd shapes and
 * channel counts that are not multiples of any tile, batches 1, 3 and 5. Plus: the weight
 * gradient is bitwise the same run to run; two tiles agree; bad tiles and epilogues are refused.
 *
 * Tolerance: |got - ref| <= 1e-5 * max|ref| for every element (float32 sums of <= 2,400 terms
 * in any order against exact double sums).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl.h"
#include "test_ops_util.h"

#define TOL 1e-5

static bool small_run(void)
{
    const char *v = getenv("SEGCL_TEST_SMALL");
    return v && *v && strcmp(v, "0") != 0;
}

static segcl_conv_shape make_shape(int n, int cin, int h, int w, int cout, int k, int stride,
                                   int pad)
{
    segcl_conv_shape s = {(cl_uint)n, (cl_uint)cin, (cl_uint)h, (cl_uint)w, (cl_uint)cout, 0, 0,
                          (cl_uint)k, (cl_uint)k, (cl_uint)stride, (cl_uint)pad};
    s.ho = (s.h + 2 * s.pad - s.kh) / s.stride + 1;
    s.wo = (s.w + 2 * s.pad - s.kw) / s.stride + 1;
    return s;
}

static size_t image_size(const segcl_conv_shape *s)
{
    return (size_t)s->images * s->cin * s->h * s->w;
}
static size_t column_size(const segcl_conv_shape *s)
{
    return (size_t)s->images * s->cout * s->ho * s->wo;
}
static size_t weight_size(const segcl_conv_shape *s)
{
    return (size_t)s->cout * s->cin * s->kh * s->kw;
}

/* x at (n, c, iy, ix) of an image tensor, 0 outside it */
static double pixel(const segcl_conv_shape *s, const double *x, size_t n, size_t c, long iy,
                    long ix)
{
    if (iy < 0 || ix < 0 || iy >= (long)s->h || ix >= (long)s->w)
        return 0;
    return x[((n * s->cin + c) * s->h + (size_t)iy) * s->w + (size_t)ix];
}

/* the sum over ci, ky, kx of w * x for output (n, co, oy, ox) */
static double conv_at(const segcl_conv_shape *s, const double *x, const double *w, size_t n,
                      size_t co, size_t oy, size_t ox)
{
    double v = 0;
    for (size_t ci = 0; ci < s->cin; ci++)
        for (size_t ky = 0; ky < s->kh; ky++)
            for (size_t kx = 0; kx < s->kw; kx++)
                v += w[((co * s->cin + ci) * s->kh + ky) * s->kw + kx] *
                     pixel(s, x, n, ci, (long)(oy * s->stride + ky) - (long)s->pad,
                           (long)(ox * s->stride + kx) - (long)s->pad);
    return v;
}

typedef struct epilogue_ref {
    double beta;
    const double *bias, *scale, *shift;
    bool relu;
} epilogue_ref;

/* y = ep(conv(x, w)), y holding the old values on entry */
static void ref_forward(const segcl_conv_shape *s, const double *x, const double *w,
                        const epilogue_ref *e, double *y)
{
    for (size_t n = 0; n < s->images; n++)
        for (size_t co = 0; co < s->cout; co++)
            for (size_t oy = 0; oy < s->ho; oy++)
                for (size_t ox = 0; ox < s->wo; ox++) {
                    double *out = &y[((n * s->cout + co) * s->ho + oy) * s->wo + ox];
                    double v = conv_at(s, x, w, n, co, oy, ox) + e->beta * *out;
                    if (e->bias)
                        v += e->bias[co];
                    if (e->relu)
                        v = fmax(v, 0);
                    if (e->scale)
                        v = e->scale[co] * v + e->shift[co];
                    *out = v;
                }
}

/* img = beta img + bias + the transpose of the convolution applied to a, scattered from each
 * output (the opposite loop order to the kernel's gather) */
static void ref_data_grad(const segcl_conv_shape *s, const double *w, const double *a,
                          double beta, const double *bias, double *img)
{
    const size_t plane = (size_t)s->h * s->w;
    for (size_t i = 0; i < image_size(s); i++)
        img[i] = beta * img[i] + (bias ? bias[i / plane % s->cin] : 0);
    for (size_t n = 0; n < s->images; n++)
        for (size_t co = 0; co < s->cout; co++)
            for (size_t oy = 0; oy < s->ho; oy++)
                for (size_t ox = 0; ox < s->wo; ox++) {
                    double g = a[((n * s->cout + co) * s->ho + oy) * s->wo + ox];
                    for (size_t ci = 0; ci < s->cin; ci++)
                        for (size_t ky = 0; ky < s->kh; ky++)
                            for (size_t kx = 0; kx < s->kw; kx++) {
                                long iy = (long)(oy * s->stride + ky) - (long)s->pad;
                                long ix = (long)(ox * s->stride + kx) - (long)s->pad;
                                if (iy < 0 || ix < 0 || iy >= (long)s->h || ix >= (long)s->w)
                                    continue;
                                img[((n * s->cin + ci) * s->h + (size_t)iy) * s->w +
                                    (size_t)ix] +=
                                    g * w[((co * s->cin + ci) * s->kh + ky) * s->kw + kx];
                            }
                }
}

/* dw = beta dw + sum over images and pixels of a * x */
static void ref_weight_grad(const segcl_conv_shape *s, const double *a, const double *x,
                            double beta, double *dw)
{
    for (size_t co = 0; co < s->cout; co++)
        for (size_t ci = 0; ci < s->cin; ci++)
            for (size_t ky = 0; ky < s->kh; ky++)
                for (size_t kx = 0; kx < s->kw; kx++) {
                    double v = 0;
                    for (size_t n = 0; n < s->images; n++)
                        for (size_t oy = 0; oy < s->ho; oy++)
                            for (size_t ox = 0; ox < s->wo; ox++)
                                v += a[((n * s->cout + co) * s->ho + oy) * s->wo + ox] *
                                     pixel(s, x, n, ci,
                                           (long)(oy * s->stride + ky) - (long)s->pad,
                                           (long)(ox * s->stride + kx) - (long)s->pad);
                    double *out = &dw[((co * s->cin + ci) * s->kh + ky) * s->kw + kx];
                    *out = beta * *out + v;
                }
}

static double *rand_floats(size_t n, double lo, double hi)
{
    double *a = rand_array(n, lo, hi);
    round_to_float(a, n);
    return a;
}

static segcl_tensor *flat(const char *name, size_t n, const double *host)
{
    return tensor1(name, (int64_t)n, host);
}

/* Variants of the epilogue: bit 0 beta 1, bit 1 bias, bit 2 ReLU, bit 3 scale and shift. */
static void check_forward(const segcl_conv_shape *s, unsigned variant)
{
    const size_t nx = image_size(s), ny = column_size(s), nw = weight_size(s);
    double *x = rand_floats(nx, -1, 1), *w = rand_floats(nw, -0.5, 0.5);
    double *y = rand_floats(ny, -1, 1), *b = rand_floats(s->cout, -0.5, 0.5);
    double *sc = rand_floats(s->cout, 0.5, 1.5), *sh = rand_floats(s->cout, -0.5, 0.5);
    segcl_tensor *tx = flat("x", nx, x), *tw = flat("w", nw, w), *ty = flat("y", ny, y);
    segcl_tensor *tb = flat("b", s->cout, b), *tsc = flat("scale", s->cout, sc),
                 *tsh = flat("shift", s->cout, sh);
    epilogue_ref e = {variant & 1 ? 1.0 : 0.0, variant & 2 ? b : NULL, variant & 8 ? sc : NULL,
                      variant & 8 ? sh : NULL, (variant & 4) != 0};
    segcl_conv_epilogue ep = {(float)e.beta, variant & 2 ? tb->buffer : NULL, e.relu,
                              variant & 8 ? tsc->buffer : NULL, variant & 8 ? tsh->buffer : NULL};
    assert_ok(ctx, segcl_conv_gpu_forward(ctx, ws, s, tw->buffer, tx->buffer, ty->buffer, &ep));
    ref_forward(s, x, w, &e, y);
    compare_tensor("conv_gpu forward", ty, y, TOL, 0);
    segcl_tensor *all[] = {tx, tw, ty, tb, tsc, tsh};
    for (size_t i = 0; i < 6; i++)
        segcl_tensor_destroy(all[i]);
    free(x), free(w), free(y), free(b), free(sc), free(sh);
}

/* bit 0: beta 1; bit 1: bias */
static void check_data_grad(const segcl_conv_shape *s, unsigned variant)
{
    const size_t nx = image_size(s), ny = column_size(s), nw = weight_size(s);
    double *img = rand_floats(nx, -1, 1), *w = rand_floats(nw, -0.5, 0.5);
    double *a = rand_floats(ny, -1, 1), *b = rand_floats(s->cin, -0.5, 0.5);
    segcl_tensor *ti = flat("img", nx, img), *tw = flat("w", nw, w), *ta = flat("a", ny, a);
    segcl_tensor *tb = flat("b", s->cin, b);
    segcl_conv_epilogue ep = {variant & 1 ? 1.0f : 0.0f, variant & 2 ? tb->buffer : NULL, false,
                              NULL, NULL};
    assert_ok(ctx, segcl_conv_gpu_data_grad(ctx, ws, s, tw->buffer, ta->buffer, ti->buffer, &ep));
    ref_data_grad(s, w, a, variant & 1 ? 1.0 : 0.0, variant & 2 ? b : NULL, img);
    compare_tensor("conv_gpu data grad", ti, img, TOL, 0);
    segcl_tensor_destroy(ti), segcl_tensor_destroy(tw), segcl_tensor_destroy(ta);
    segcl_tensor_destroy(tb);
    free(img), free(w), free(a), free(b);
}

static void check_weight_grad(const segcl_conv_shape *s, float beta)
{
    const size_t nx = image_size(s), ny = column_size(s), nw = weight_size(s);
    double *x = rand_floats(nx, -1, 1), *a = rand_floats(ny, -1, 1);
    double *dw = rand_floats(nw, -1, 1);
    segcl_tensor *tx = flat("x", nx, x), *ta = flat("a", ny, a), *tdw = flat("dw", nw, dw);
    assert_ok(ctx, segcl_conv_gpu_weight_grad(ctx, ws, s, ta->buffer, tx->buffer, tdw->buffer,
                                              beta));
    ref_weight_grad(s, a, x, beta, dw);
    compare_tensor("conv_gpu weight grad", tdw, dw, TOL, 0);
    segcl_tensor_destroy(tx), segcl_tensor_destroy(ta), segcl_tensor_destroy(tdw);
    free(x), free(a), free(dw);
}

/* images, cin, h, w, cout, kernel, stride, pad */
static const int shapes[][8] = {
    {1, 3, 7, 5, 5, 3, 1, 1},    {3, 5, 13, 9, 17, 3, 1, 1}, {5, 17, 7, 5, 33, 3, 2, 1},
    {3, 33, 13, 9, 3, 1, 1, 0},  {5, 3, 14, 10, 5, 2, 2, 0}, {1, 64, 6, 6, 17, 2, 2, 0},
    {3, 5, 13, 9, 17, 3, 2, 0},  {1, 17, 4, 4, 64, 3, 1, 1}, {3, 64, 8, 8, 64, 3, 1, 1},
    {5, 33, 5, 7, 64, 1, 1, 0},
};

static size_t shape_count(void)
{
    const size_t all = sizeof shapes / sizeof shapes[0];
    return small_run() ? 7 : all;
}

static segcl_conv_shape shape_at(size_t i)
{
    const int *v = shapes[i];
    return make_shape(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
}

static void test_forward(void **state)
{
    (void)state;
    for (size_t i = 0; i < shape_count(); i++) {
        segcl_conv_shape s = shape_at(i);
        check_forward(&s, 0);
        check_forward(&s, (unsigned)(1 + i % 15)); /* every epilogue over the shapes */
    }
    segcl_conv_shape s = shape_at(1);
    for (unsigned v = 1; v < 16; v++)
        check_forward(&s, v);
}

static void test_data_grad(void **state)
{
    (void)state;
    for (size_t i = 0; i < shape_count(); i++) {
        segcl_conv_shape s = shape_at(i);
        check_data_grad(&s, 0);
        check_data_grad(&s, 3);
        check_data_grad(&s, 1 + (unsigned)i % 2);
    }
}

static void test_weight_grad(void **state)
{
    (void)state;
    for (size_t i = 0; i < shape_count(); i++) {
        segcl_conv_shape s = shape_at(i);
        check_weight_grad(&s, 0.0f);
        check_weight_grad(&s, 1.0f);
    }
}

/* Two runs of a split-K weight gradient give the same bytes. */
static void test_weight_grad_deterministic(void **state)
{
    (void)state;
    segcl_conv_shape s = make_shape(5, 5, 13, 9, 17, 3, 1, 1);
    /* split K in use: more than one slab of partial products */
    assert_true(segcl_conv_gpu_workspace_bytes(ctx, &s) > weight_size(&s) * sizeof(float));
    const size_t nx = image_size(&s), ny = column_size(&s), nw = weight_size(&s);
    double *x = rand_floats(nx, -1, 1), *a = rand_floats(ny, -1, 1);
    segcl_tensor *tx = flat("x", nx, x), *ta = flat("a", ny, a);
    segcl_tensor *d1 = flat("dw1", nw, NULL), *d2 = flat("dw2", nw, NULL);
    assert_ok(ctx, segcl_conv_gpu_weight_grad(ctx, ws, &s, ta->buffer, tx->buffer, d1->buffer, 0));
    assert_ok(ctx, segcl_conv_gpu_weight_grad(ctx, ws, &s, ta->buffer, tx->buffer, d2->buffer, 0));
    float *g1 = read_tensor(d1), *g2 = read_tensor(d2);
    assert_memory_equal(g1, g2, nw * sizeof(float));
    free(g1), free(g2), free(x), free(a);
    segcl_tensor_destroy(tx), segcl_tensor_destroy(ta), segcl_tensor_destroy(d1);
    segcl_tensor_destroy(d2);
}

/* A second context with another tile gives the same results within the tolerance. */
static void test_tile_override(void **state)
{
    (void)state;
    segcl_settings settings;
    char device[24];
    segcl_context_same_settings(ctx, &settings, device, sizeof device);
    const segcl_kernel_params *p = segcl_context_params(ctx);
    segcl_tuning t = {0};
    /* a tile unlike the default: small (32 work-items, which llvmpipe allows), another
     * register tile and K step, scalar loads */
    const bool big = p->conv_tile.tm >= 32;
    t.conv_tm = big ? 16 : 32, t.conv_tn = big ? 32 : 16, t.conv_wm = 4, t.conv_wn = 4;
    t.conv_tk = 8, t.conv_vw = 1;
    segcl_context *other;
    segcl_workspace *ows;
    assert_int_equal(segcl_context_create(&other), SEGCL_OK);
    assert_ok(other, segcl_context_open_tuned(other, &settings, &t));
    assert_ok(other, segcl_workspace_create(other, &ows));
    assert_int_equal(segcl_context_params(other)->conv_tile.tm, t.conv_tm);
    segcl_conv_shape s = make_shape(3, 17, 7, 5, 33, 3, 1, 1);
    const size_t nx = image_size(&s), ny = column_size(&s), nw = weight_size(&s);
    double *x = rand_floats(nx, -1, 1), *w = rand_floats(nw, -0.5, 0.5), *y = zeros(ny);
    segcl_tensor *tx = flat("x", nx, x), *tw = flat("w", nw, w), *ty = flat("y", ny, NULL);
    float *host = malloc((nx > nw ? nx : nw) * sizeof(float));
    cl_mem ox, ow, oy;
    assert_ok(other, segcl_buffer_create(other, "x", nx * sizeof(float), &ox));
    assert_ok(other, segcl_buffer_create(other, "w", nw * sizeof(float), &ow));
    assert_ok(other, segcl_buffer_create(other, "y", ny * sizeof(float), &oy));
    for (size_t i = 0; i < nx; i++)
        host[i] = (float)x[i];
    assert_ok(other, segcl_mem_write(other, ox, nx, host));
    for (size_t i = 0; i < nw; i++)
        host[i] = (float)w[i];
    assert_ok(other, segcl_mem_write(other, ow, nw, host));
    assert_ok(ctx, segcl_conv_gpu_forward(ctx, ws, &s, tw->buffer, tx->buffer, ty->buffer, NULL));
    assert_ok(other, segcl_conv_gpu_forward(other, ows, &s, ow, ox, oy, NULL));
    float *mine = read_tensor(ty), *theirs = malloc(ny * sizeof(float));
    assert_ok(other, segcl_mem_read(other, oy, ny, theirs));
    const epilogue_ref none = {0};
    ref_forward(&s, x, w, &none, y);
    compare("default tile", mine, y, ny, TOL, 0);
    compare("other tile", theirs, y, ny, TOL, 0);
    /* a tile the kernels cannot run is refused with a message */
    segcl_conv_tile bad = {16, 16, 3, 4, 8, 1};
    assert_int_equal(segcl_conv_gpu_tile_check(other, &bad), SEGCL_ERROR_INVALID_ARGUMENT);
    free(mine), free(theirs), free(host), free(x), free(w), free(y);
    segcl_buffer_release(other, ox, nx * sizeof(float));
    segcl_buffer_release(other, ow, nw * sizeof(float));
    segcl_buffer_release(other, oy, ny * sizeof(float));
    segcl_workspace_destroy(ows);
    segcl_context_destroy(other);
    segcl_tensor_destroy(tx), segcl_tensor_destroy(tw), segcl_tensor_destroy(ty);
}

/* The check segcl tune runs on each candidate passes on the context's backend, well within
 * its 1e-4, and refuses a half context in one line. */
static void test_tune_check(void **state)
{
    (void)state;
    double worst = 1;
    assert_ok(ctx, segcl_check_conv(ctx, ws, &worst));
    print_message("convolution check: relative error %.3g\n", worst);
    assert_true(worst < 1e-5);
    segcl_settings s;
    char device[24];
    segcl_context_same_settings(ctx, &s, device, sizeof device);
    s.precision = SEGCL_PRECISION_FP16;
    segcl_context *half;
    assert_int_equal(segcl_context_create(&half), SEGCL_OK);
    assert_ok(half, segcl_context_open(half, &s));
    assert_int_equal(segcl_check_conv(half, NULL, NULL), SEGCL_ERROR_STATE);
    assert_null(strchr(segcl_context_error(half), '\n'));
    segcl_context_destroy(half);
}

/* What the functions refuse: a data gradient with ReLU, a shape that does not add up. */
static void test_refusals(void **state)
{
    (void)state;
    segcl_conv_shape s = make_shape(1, 3, 7, 5, 5, 3, 1, 1);
    segcl_tensor *ti = flat("img", image_size(&s), NULL), *tw = flat("w", weight_size(&s), NULL);
    segcl_tensor *ta = flat("a", column_size(&s), NULL);
    segcl_conv_epilogue relu = {0, NULL, true, NULL, NULL};
    assert_int_equal(segcl_conv_gpu_data_grad(ctx, ws, &s, tw->buffer, ta->buffer, ti->buffer,
                                              &relu),
                     SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(segcl_context_error(ctx), "data grad"));
    segcl_conv_shape wrong = s;
    wrong.ho++;
    assert_int_equal(segcl_conv_gpu_forward(ctx, ws, &wrong, tw->buffer, ti->buffer, ta->buffer,
                                            NULL),
                     SEGCL_ERROR_INVALID_ARGUMENT);
    segcl_conv_shape big = make_shape(5, 3, 7, 5, 5, 3, 1, 1); /* buffers hold one image */
    assert_int_equal(segcl_conv_gpu_weight_grad(ctx, ws, &big, ta->buffer, ti->buffer,
                                                tw->buffer, 0),
                     SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(segcl_context_error(ctx), "too small"));
    segcl_tensor_destroy(ti), segcl_tensor_destroy(tw), segcl_tensor_destroy(ta);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_data_grad),
        cmocka_unit_test(test_weight_grad),
        cmocka_unit_test(test_weight_grad_deterministic),
        cmocka_unit_test(test_tile_override),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_tune_check),
    };
    return cmocka_run_group_tests(tests, ops_setup, ops_teardown);
}
