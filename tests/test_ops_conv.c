/*
 * Convolutions (plain, fused with bias, ReLU and BatchNorm's scale and shift, transposed) and
 * BatchNorm, forward and backward, against the double-precision references in reference.c on
 * random inputs with odd shapes, with finite-difference checks of the backward passes, and a
 * determinism check of conv -> BatchNorm and back. Helpers: test_ops_util.h.
 *
 * Tolerances (float32 device results vs double references):
 *   forward: |got - ref| <= 1e-5 * max|ref| + 1e-4 * |ref|     (reductions over <= 10^4 terms)
 *   backward, optimizer steps: the same bounds with 1e-4 / 1e-3
 *   finite differences (step 1e-4 in double): |analytic - numeric| <= 1e-3 * max|grad| + 1e-3 *
 * |numeric|
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_ops_util.h"

/* ---- convolution ------------------------------------------------------------------------------
 */

typedef struct conv_case {
    ref_conv c;
    double *x, *w, *b, *g, *y; /* g: weights of the objective sum(y * g) */
    bool transposed;
} conv_case;

static double conv_objective(void *state)
{
    conv_case *k = state;
    size_t out = k->transposed ? (size_t)k->c.n * k->c.cin * k->c.h * k->c.w
                               : (size_t)k->c.n * k->c.cout * k->c.ho * k->c.wo;
    if (k->transposed)
        ref_conv_transpose2d_forward(&k->c, k->x, k->w, k->b, k->y);
    else
        ref_conv2d_forward(&k->c, k->x, k->w, k->b, k->y);
    return dot(k->y, k->g, out);
}

/* Finite-difference checks of the gradients (off for the large blocking cases: the double
 * reference already pins every value, and each check is a few dozen full forward passes). */
static bool conv_fd = true;

/* The device's backward pass of a convolution or a transposed one (the gradients added to when
 * accumulate is set). */
static void conv_backward(bool transposed, const segcl_conv_params *p, const segcl_tensor *x,
                          const segcl_tensor *w, const segcl_tensor *dy, segcl_tensor *dx,
                          segcl_tensor *dw, segcl_tensor *db, bool accumulate)
{
    if (transposed)
        assert_ok(ctx,
                  segcl_conv_transpose2d_backward(ctx, ws, p, x, w, dy, dx, dw, db, accumulate));
    else
        assert_ok(ctx, segcl_conv2d_backward(ctx, ws, p, x, w, dy, dx, dw, db, accumulate));
}

static void twice(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] *= 2;
}

static void run_conv_case(int n, int cin, int h, int w, int cout, int kh, int kw, int stride,
                          int pad, bool transposed)
{
    conv_case k = {.transposed = transposed};
    ref_conv_init(&k.c, n, cin, h, w, cout, kh, kw, stride, pad);
    const ref_conv *c = &k.c;
    size_t nx = (size_t)n * cin * h * w, ny = (size_t)n * cout * c->ho * c->wo;
    size_t nw = (size_t)cout * cin * kh * kw;
    size_t n_in = transposed ? ny : nx, n_out = transposed ? nx : ny;
    size_t n_bias = transposed ? (size_t)cin : (size_t)cout;
    k.x = rand_array(n_in, -1, 1);
    k.w = rand_array(nw, -0.5, 0.5);
    k.b = rand_array(n_bias, -0.5, 0.5);
    k.g = rand_array(n_out, -1, 1);
    k.y = zeros(n_out);
    round_to_float(k.x, n_in);
    round_to_float(k.w, nw);
    round_to_float(k.b, n_bias);
    round_to_float(k.g, n_out);

    segcl_tensor *tx =
        transposed ? tensor4("x", n, cout, c->ho, c->wo, k.x) : tensor4("x", n, cin, h, w, k.x);
    segcl_tensor *ty =
        transposed ? tensor4("y", n, cin, h, w, NULL) : tensor4("y", n, cout, c->ho, c->wo, NULL);
    segcl_tensor *tw = tensor4("w", cout, cin, kh, kw, k.w);
    segcl_tensor *tb = tensor1("b", (int64_t)n_bias, k.b);
    segcl_tensor *tg =
        transposed ? tensor4("dy", n, cin, h, w, k.g) : tensor4("dy", n, cout, c->ho, c->wo, k.g);
    segcl_tensor *tdx =
        transposed ? tensor4("dx", n, cout, c->ho, c->wo, NULL) : tensor4("dx", n, cin, h, w, NULL);
    segcl_tensor *tdw = tensor4("dw", cout, cin, kh, kw, NULL);
    segcl_tensor *tdb = tensor1("db", (int64_t)n_bias, NULL);
    segcl_conv_params p = {kh, kw, stride, pad};

    double *ref_y = zeros(n_out), *ref_dx = zeros(n_in), *ref_dw = zeros(nw),
           *ref_db = zeros(n_bias);
    if (transposed) {
        assert_ok(ctx, segcl_conv_transpose2d_forward(ctx, ws, &p, tx, tw, tb, ty));
        ref_conv_transpose2d_forward(c, k.x, k.w, k.b, ref_y);
        conv_backward(transposed, &p, tx, tw, tg, tdx, tdw, tdb, false);
        ref_conv_transpose2d_backward(c, k.x, k.w, k.g, ref_dx, ref_dw, ref_db);
    } else {
        assert_ok(ctx, segcl_conv2d_forward(ctx, ws, &p, tx, tw, tb, ty));
        ref_conv2d_forward(c, k.x, k.w, k.b, ref_y);
        conv_backward(transposed, &p, tx, tw, tg, tdx, tdw, tdb, false);
        ref_conv2d_backward(c, k.x, k.w, k.g, ref_dx, ref_dw, ref_db);
    }
    compare_tensor("conv y", ty, ref_y, 1e-5, 1e-4);
    compare_tensor("conv dx", tdx, ref_dx, 1e-5, 1e-4);
    compare_tensor("conv dw", tdw, ref_dw, 1e-5, 1e-4);
    compare_tensor("conv db", tdb, ref_db, 1e-5, 1e-4);

    float *gx = read_tensor(tdx), *gw = read_tensor(tdw), *gb = read_tensor(tdb);
    if (conv_fd) {
        fd_check("conv dx", conv_objective, &k, k.x, n_in, gx, 12, NULL);
        fd_check("conv dw", conv_objective, &k, k.w, nw, gw, 12, NULL);
        fd_check("conv db", conv_objective, &k, k.b, n_bias, gb, 4, NULL);
    }
    free(gx);
    free(gw);
    free(gb);

    /* accumulate: dx += again, dw and db always add */
    conv_backward(transposed, &p, tx, tw, tg, tdx, tdw, tdb, true);
    twice(ref_dx, n_in), twice(ref_dw, nw), twice(ref_db, n_bias);
    compare_tensor("conv dx accumulated", tdx, ref_dx, 1e-5, 1e-4);
    compare_tensor("conv dw accumulated", tdw, ref_dw, 1e-5, 1e-4);
    compare_tensor("conv db accumulated", tdb, ref_db, 1e-5, 1e-4);

    segcl_tensor *all[] = {tx, ty, tw, tb, tg, tdx, tdw, tdb};
    for (size_t i = 0; i < 8; i++)
        segcl_tensor_destroy(all[i]);
    free(k.x), free(k.w), free(k.b), free(k.g), free(k.y);
    free(ref_y), free(ref_dx), free(ref_dw), free(ref_db);
}

static void test_conv2d(void **state)
{
    (void)state;
    run_conv_case(2, 3, 37, 29, 5, 3, 3, 1, 1, false); /* odd sizes, 3x3 pad 1 */
    run_conv_case(2, 4, 16, 15, 6, 3, 3, 2, 1, false); /* stride 2 */
    run_conv_case(3, 7, 9, 11, 3, 1, 1, 1, 0, false);  /* 1x1: no im2col */
    run_conv_case(2, 5, 8, 10, 9, 2, 3, 2, 0, false);  /* rectangular kernel */
    run_conv_case(1, 20, 6, 6, 17, 3, 3, 1, 1, false); /* K = 180 > one GEMM tile */
    /* The CPU kernels' blocking (a simulator would take minutes over it): K = 270 in two K
     * blocks; 70-pixel rows, so tiles both inside rows and across them; 150 output channels,
     * more than one work-group's rows (128 by default); the weight gradient's K (4 x 630 pixels)
     * split, with K blocks that straddle images. */
    bool simulator = strstr(segcl_context_device(ctx)->name, "Oclgrind") != NULL;
    if (segcl_context_params(ctx)->cpu_style && simulator) {
        /* under the simulator's bounds checks, the same blocking on fewer pixels (no split K,
         * which the PoCL run below covers): minutes otherwise */
        conv_fd = false;
        run_conv_case(2, 30, 3, 70, 150, 3, 3, 1, 1, false);
        conv_fd = true;
    } else if (segcl_context_params(ctx)->cpu_style) {
        conv_fd = false;
        run_conv_case(4, 30, 9, 70, 150, 3, 3, 1, 1, false);
        run_conv_case(2, 6, 33, 40, 13, 3, 3, 2, 1, false); /* stride 2 through the same */
        /* the weight gradient packs the output gradient a few images at a time */
        segcl_test_hooks_of(ctx)->wgrad_images = 3;
        run_conv_case(4, 30, 9, 70, 150, 3, 3, 1, 1, false);
        segcl_test_hooks_of(ctx)->wgrad_images = 0;
        conv_fd = true;
    }
}

/* conv -> bias -> ReLU -> per-channel scale and shift (inference BatchNorm) in the product's
 * epilogue, against the double reference of the separate ops. */
static void run_fused_case(int n, int cin, int h, int w, int cout)
{
    ref_conv c;
    ref_conv_init(&c, n, cin, h, w, cout, 3, 3, 1, 1);
    size_t nx = (size_t)n * cin * h * w, ny = (size_t)n * cout * c.ho * c.wo;
    size_t nw = (size_t)cout * cin * 9, plane = (size_t)c.ho * c.wo;
    double *x = rand_array(nx, -1, 1), *wt = rand_array(nw, -0.5, 0.5);
    double *b = rand_array((size_t)cout, -0.5, 0.5), *sc = rand_array((size_t)cout, -2, 2);
    double *sh = rand_array((size_t)cout, -1, 1), *ref = zeros(ny);
    round_to_float(x, nx), round_to_float(wt, nw), round_to_float(b, (size_t)cout);
    round_to_float(sc, (size_t)cout), round_to_float(sh, (size_t)cout);
    segcl_tensor *tx = tensor4("x", n, cin, h, w, x), *tw = tensor4("w", cout, cin, 3, 3, wt);
    segcl_tensor *tb = tensor1("b", cout, b), *ts = tensor1("scale", cout, sc);
    segcl_tensor *tsh = tensor1("shift", cout, sh), *ty = tensor4("y", n, cout, c.ho, c.wo, NULL);
    assert_ok(ctx, segcl_fill(ctx, ty->buffer, ty->numel, 12345.0f));
    segcl_conv_params p = {3, 3, 1, 1};
    assert_ok(ctx, segcl_conv2d_forward_fused(ctx, ws, &p, tx, tw, tb, ts, tsh, ty));
    ref_conv2d_forward(&c, x, wt, b, ref);
    for (size_t i = 0; i < ny; i++) {
        size_t ch = i / plane % (size_t)cout;
        ref[i] = sc[ch] * (ref[i] > 0 ? ref[i] : 0) + sh[ch];
    }
    compare_tensor("fused conv", ty, ref, 1e-5, 1e-4);
    /* without scale and shift: bias and ReLU only */
    assert_ok(ctx, segcl_conv2d_forward_fused(ctx, ws, &p, tx, tw, tb, NULL, NULL, ty));
    ref_conv2d_forward(&c, x, wt, b, ref);
    for (size_t i = 0; i < ny; i++)
        ref[i] = ref[i] > 0 ? ref[i] : 0;
    compare_tensor("fused conv, ReLU only", ty, ref, 1e-5, 1e-4);
    segcl_tensor *all[] = {tx, tw, tb, ts, tsh, ty};
    for (size_t i = 0; i < 6; i++)
        segcl_tensor_destroy(all[i]);
    free(x), free(wt), free(b), free(sc), free(sh), free(ref);
}

static void test_conv_fused(void **state)
{
    (void)state;
    run_fused_case(2, 3, 37, 29, 5); /* odd sizes, partial tiles */
    /* two K blocks: the epilogue on the last one only; two row groups */
    run_fused_case(2, 30, strstr(segcl_context_device(ctx)->name, "Oclgrind") ? 3 : 9, 70, 150);
}

static void test_conv_transpose2d(void **state)
{
    (void)state;
    /* ref_conv describes the conv this transposes: (h, w) is the transposed conv's output */
    run_conv_case(2, 3, 14, 10, 5, 2, 2, 2, 0, true); /* the common 2x2 stride 2 */
    run_conv_case(2, 4, 13, 11, 6, 3, 3, 2, 1, true); /* 3x3 stride 2 pad 1, odd output */
    run_conv_case(2, 5, 7, 9, 3, 1, 1, 1, 0, true);   /* 1x1 */
    run_conv_case(2, 3, 9, 11, 4, 3, 3, 1, 1, true);  /* stride 1: flipped weights on CPUs */
}

static void test_conv_shape_errors(void **state)
{
    (void)state;
    segcl_tensor *x = tensor4("x", 2, 3, 8, 8, NULL), *w = tensor4("w", 4, 2, 3, 3, NULL);
    segcl_tensor *y = tensor4("y", 2, 4, 8, 8, NULL);
    segcl_conv_params p = {3, 3, 1, 1};
    assert_int_equal(segcl_conv2d_forward(ctx, ws, &p, x, w, NULL, y),
                     SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(
        strstr(segcl_context_error(ctx), "weight 'w' has shape 4x2x3x3, expected 4x3x3x3"));
    segcl_conv_params bad = {0, 3, 1, 1};
    assert_int_equal(segcl_conv2d_forward(ctx, ws, &bad, x, w, NULL, y),
                     SEGCL_ERROR_INVALID_ARGUMENT);
    segcl_tensor_destroy(x);
    segcl_tensor_destroy(w);
    segcl_tensor_destroy(y);
}

/* ---- batch norm -------------------------------------------------------------------------------
 */

typedef struct bn_case {
    int n, c, plane;
    double *x, *gamma, *beta, *g, *y;
} bn_case;

static double bn_objective(void *state)
{
    bn_case *k = state;
    ref_bn_train_forward(k->n, k->c, k->plane, k->x, k->gamma, k->beta, 1e-5, k->y, NULL, NULL);
    return dot(k->y, k->g, (size_t)k->n * k->c * k->plane);
}

static void test_batchnorm(void **state)
{
    (void)state;
    bn_case k = {.n = 3, .c = 5, .plane = 7 * 9};
    size_t nx = (size_t)k.n * k.c * k.plane;
    k.x = rand_array(nx, -2, 3);
    k.gamma = rand_array(k.c, 0.5, 1.5);
    k.beta = rand_array(k.c, -0.5, 0.5);
    k.g = rand_array(nx, -1, 1);
    k.y = zeros(nx);
    round_to_float(k.x, nx);
    round_to_float(k.gamma, k.c);
    round_to_float(k.beta, k.c);
    round_to_float(k.g, nx);
    double *rmean = rand_array(k.c, -0.2, 0.2), *rvar = rand_array(k.c, 0.5, 2);
    round_to_float(rmean, k.c);
    round_to_float(rvar, k.c);
    segcl_batchnorm bn = make_bn(k.c, k.gamma, k.beta, rmean, rvar);
    segcl_tensor *x = tensor4("x", k.n, k.c, 7, 9, k.x), *y = tensor4("y", k.n, k.c, 7, 9, NULL);
    segcl_tensor *dy = tensor4("dy", k.n, k.c, 7, 9, k.g),
                 *dx = tensor4("dx", k.n, k.c, 7, 9, NULL);
    segcl_tensor *dgamma = tensor1("dgamma", k.c, NULL), *dbeta = tensor1("dbeta", k.c, NULL);

    /* training forward, running statistics (momentum 0.1, unbiased variance) */
    assert_ok(ctx, segcl_batchnorm_forward(ctx, ws, &bn, x, y, true, NULL));
    double *ref_y = zeros(nx), *mean = zeros(k.c), *var = zeros(k.c);
    ref_bn_train_forward(k.n, k.c, k.plane, k.x, k.gamma, k.beta, 1e-5, ref_y, mean, var);
    compare_tensor("bn y", y, ref_y, 1e-5, 1e-4);
    double count = (double)k.n * k.plane;
    double *ref_rm = zeros(k.c), *ref_rv = zeros(k.c);
    for (int c = 0; c < k.c; c++) {
        ref_rm[c] = 0.9 * rmean[c] + 0.1 * mean[c];
        ref_rv[c] = 0.9 * rvar[c] + 0.1 * var[c] * count / (count - 1);
    }
    compare_tensor("bn running mean", bn.running_mean, ref_rm, 1e-6, 1e-5);
    compare_tensor("bn running var", bn.running_var, ref_rv, 1e-6, 1e-5);

    /* training backward */
    assert_ok(ctx,
              segcl_batchnorm_backward(ctx, ws, &bn, x, dy, dx, dgamma, dbeta, true, false, NULL));
    double *ref_dx = zeros(nx), *ref_dg = zeros(k.c), *ref_db = zeros(k.c);
    ref_bn_train_backward(k.n, k.c, k.plane, k.x, k.gamma, 1e-5, k.g, ref_dx, ref_dg, ref_db);
    compare_tensor("bn dx", dx, ref_dx, 1e-5, 1e-4);
    compare_tensor("bn dgamma", dgamma, ref_dg, 1e-5, 1e-4);
    compare_tensor("bn dbeta", dbeta, ref_db, 1e-5, 1e-4);
    float *gx = read_tensor(dx), *gg = read_tensor(dgamma), *gb = read_tensor(dbeta);
    fd_check("bn dx", bn_objective, &k, k.x, nx, gx, 16, NULL);
    fd_check("bn dgamma", bn_objective, &k, k.gamma, (size_t)k.c, gg, 5, NULL);
    fd_check("bn dbeta", bn_objective, &k, k.beta, (size_t)k.c, gb, 5, NULL);
    free(gx), free(gg), free(gb);

    /* evaluation mode uses the running statistics */
    float *rm_dev = read_tensor(bn.running_mean), *rv_dev = read_tensor(bn.running_var);
    double rm[16], rv[16];
    for (int c = 0; c < k.c; c++)
        rm[c] = rm_dev[c], rv[c] = rv_dev[c];
    free(rm_dev), free(rv_dev);
    assert_ok(ctx, segcl_batchnorm_forward(ctx, ws, &bn, x, y, false, NULL));
    ref_bn_eval_forward(k.n, k.c, k.plane, k.x, k.gamma, k.beta, rm, rv, 1e-5, ref_y);
    compare_tensor("bn eval y", y, ref_y, 1e-5, 1e-4);
    /* eval backward: dx = gamma / sqrt(rv + eps) * dy; dgamma accumulates on top of before */
    assert_ok(ctx,
              segcl_batchnorm_backward(ctx, ws, &bn, x, dy, dx, NULL, NULL, false, false, NULL));
    for (size_t i = 0; i < nx; i++) {
        int c = (int)((i / k.plane) % k.c);
        ref_dx[i] = k.gamma[c] / sqrt(rv[c] + 1e-5) * k.g[i];
    }
    compare_tensor("bn eval dx", dx, ref_dx, 1e-5, 1e-4);

    free_bn(&bn);
    segcl_tensor *all[] = {x, y, dy, dx, dgamma, dbeta};
    for (size_t i = 0; i < 6; i++)
        segcl_tensor_destroy(all[i]);
    free(k.x), free(k.gamma), free(k.beta), free(k.g), free(k.y), free(rmean), free(rvar);
    free(ref_y), free(mean), free(var), free(ref_rm), free(ref_rv), free(ref_dx), free(ref_dg),
        free(ref_db);
}

/* ---- determinism ------------------------------------------------------------------------------
 */

static void conv_bn_pass(float **out, size_t *sizes)
{
    segcl_rng local;
    segcl_rng_seed(&local, 99, 1);
    int n = 2, cin = 5, h = 21, w = 19, cout = 7;
    size_t nx = (size_t)n * cin * h * w, ny = (size_t)n * cout * h * w, nw = (size_t)cout * cin * 9;
    double *x = malloc(nx * 8), *wt = malloc(nw * 8), *g = malloc(ny * 8), *ones = malloc(cout * 8),
           *zero = calloc(cout, 8);
    for (size_t i = 0; i < nx; i++)
        x[i] = segcl_rng_uniform(&local) - 0.5;
    for (size_t i = 0; i < nw; i++)
        wt[i] = segcl_rng_uniform(&local) - 0.5;
    for (size_t i = 0; i < ny; i++)
        g[i] = segcl_rng_uniform(&local) - 0.5;
    for (int i = 0; i < cout; i++)
        ones[i] = 1;
    segcl_tensor *tx = tensor4("x", n, cin, h, w, x), *tw = tensor4("w", cout, cin, 3, 3, wt);
    segcl_tensor *ty = tensor4("y", n, cout, h, w, NULL), *tz = tensor4("z", n, cout, h, w, NULL);
    segcl_tensor *tg = tensor4("dz", n, cout, h, w, g), *tdy = tensor4("dy", n, cout, h, w, NULL);
    segcl_tensor *tdx = tensor4("dx", n, cin, h, w, NULL),
                 *tdw = tensor4("dw", cout, cin, 3, 3, NULL);
    segcl_batchnorm bn = make_bn(cout, ones, zero, zero, ones);
    segcl_tensor *dgam = tensor1("dgamma", cout, NULL), *dbet = tensor1("dbeta", cout, NULL);
    segcl_conv_params p = {3, 3, 1, 1};
    assert_ok(ctx, segcl_conv2d_forward(ctx, ws, &p, tx, tw, NULL, ty));
    assert_ok(ctx, segcl_batchnorm_forward(ctx, ws, &bn, ty, tz, true, NULL));
    assert_ok(ctx,
              segcl_batchnorm_backward(ctx, ws, &bn, ty, tg, tdy, dgam, dbet, true, false, NULL));
    assert_ok(ctx, segcl_conv2d_backward(ctx, ws, &p, tx, tw, tdy, tdx, tdw, NULL, false));
    out[0] = read_tensor(tz), sizes[0] = ny;
    out[1] = read_tensor(tdx), sizes[1] = nx;
    out[2] = read_tensor(tdw), sizes[2] = nw;
    out[3] = read_tensor(dgam), sizes[3] = (size_t)cout;
    free_bn(&bn);
    segcl_tensor *all[] = {tx, tw, ty, tz, tg, tdy, tdx, tdw, dgam, dbet};
    for (size_t i = 0; i < 10; i++)
        segcl_tensor_destroy(all[i]);
    free(x), free(wt), free(g), free(ones), free(zero);
}

static void test_determinism(void **state)
{
    (void)state;
    float *a[4], *b[4];
    size_t sa[4], sb[4];
    conv_bn_pass(a, sa);
    conv_bn_pass(b, sb);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sa[i], sb[i]);
        assert_memory_equal(a[i], b[i], sa[i] * sizeof(float));
        free(a[i]), free(b[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),           cmocka_unit_test(test_conv_fused),
        cmocka_unit_test(test_conv_transpose2d), cmocka_unit_test(test_conv_shape_errors),
        cmocka_unit_test(test_batchnorm),        cmocka_unit_test(test_determinism),
    };
    return test_each_backend_group("convolution and batch norm ops", tests, ops_setup,
                                       ops_teardown);
}
