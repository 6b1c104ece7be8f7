/*
 * Every op, forward and backward, against the double-precision references in reference.c on
 * random inputs with odd shapes (batch > 1, sizes and channel counts that are not multiples of
 * 8), plus central finite-difference checks of every backward pass (on the double reference
 * forward, so the numeric gradient itself is exact to ~1e-9), and a determinism check.
 *
 * Tolerances (float32 device results vs double references):
 *   forward: |got - ref| <= 1e-5 * max|ref| + 1e-4 * |ref|     (reductions over <= 10^4 terms)
 *   backward, optimizer steps: the same bounds with 1e-4 / 1e-3
 *   finite differences (step 1e-4 in double): |analytic - numeric| <= 1e-3 * max|grad| + 1e-3 * |numeric|
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "reference.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static segcl_context *ctx;
static segcl_workspace *ws; /* the ops' scratch */
static segcl_rng rng;

/* ---- helpers ---------------------------------------------------------------------------------- */

static double *rand_array(size_t n, double lo, double hi)
{
    double *a = malloc(n * sizeof *a);
    assert_non_null(a);
    for (size_t i = 0; i < n; i++)
        a[i] = lo + (hi - lo) * segcl_rng_uniform(&rng);
    return a;
}

static double *zeros(size_t n)
{
    double *a = calloc(n, sizeof *a);
    assert_non_null(a);
    return a;
}

/* Rounds to float so the reference sees exactly what the device sees. */
static void round_to_float(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)a[i];
}

static segcl_tensor *tensor(const char *name, int ndim, const int64_t *shape, const double *host)
{
    segcl_tensor *t;
    assert_ok(ctx, segcl_tensor_create(ctx, name, ndim, shape, &t));
    float *f = malloc(t->numel * sizeof *f);
    assert_non_null(f);
    for (size_t i = 0; i < t->numel; i++)
        f[i] = host ? (float)host[i] : 0.0f;
    assert_ok(ctx, segcl_tensor_write(t, f, t->numel));
    free(f);
    return t;
}

static segcl_tensor *tensor4(const char *name, int64_t a, int64_t b, int64_t c, int64_t d,
                             const double *host)
{
    int64_t s[4] = {a, b, c, d};
    return tensor(name, 4, s, host);
}

static segcl_tensor *tensor1(const char *name, int64_t a, const double *host)
{
    int64_t s[1] = {a};
    return tensor(name, 1, s, host);
}

static float *read(segcl_tensor *t)
{
    float *f = malloc(t->numel * sizeof *f);
    assert_non_null(f);
    assert_ok(ctx, segcl_tensor_read(t, f, t->numel));
    return f;
}

static double max_abs(const double *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

/* |got - ref| <= atol_scale * max|ref| + rtol * |ref| for every element. */
static void compare(const char *what, const float *got, const double *ref, size_t n,
                    double atol_scale, double rtol)
{
    double scale = max_abs(ref, n);
    double atol = atol_scale * (scale > 0 ? scale : 1.0);
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]);
        if (!(err <= atol + rtol * fabs(ref[i])))
            fail_msg("%s[%zu]: got %.9g, reference %.9g (error %.3g, allowed %.3g)", what, i,
                     (double)got[i], ref[i], err, atol + rtol * fabs(ref[i]));
    }
}

static void compare_tensor(const char *what, segcl_tensor *t, const double *ref, double atol,
                           double rtol)
{
    float *got = read(t);
    compare(what, got, ref, t->numel, atol, rtol);
    free(got);
}

/* Scalar function of one input array for finite differences. */
typedef double (*objective_fn)(void *state);

/* Central differences of f with respect to `count` sampled entries of `param`, against the
 * analytic gradient; entries for which `skip` says the function has a kink nearby are left out. */
static void fd_check(const char *what, objective_fn f, void *state, double *param, size_t n,
                     const float *analytic, int samples, bool (*skip_at)(void *, size_t))
{
    const double h = 1e-4;
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)analytic[i]));
    int checked = 0;
    for (int s = 0; s < samples; s++) {
        size_t i = segcl_rng_below(&rng, (uint32_t)n);
        if (skip_at && skip_at(state, i))
            continue;
        double saved = param[i];
        param[i] = saved + h;
        double fp = f(state);
        param[i] = saved - h;
        double fm = f(state);
        param[i] = saved;
        double numeric = (fp - fm) / (2 * h);
        double err = fabs(numeric - analytic[i]);
        if (!(err <= 1e-3 * scale + 1e-3 * fabs(numeric) + 1e-7))
            fail_msg("%s: d/d[%zu] analytic %.8g, numeric %.8g", what, i, (double)analytic[i],
                     numeric);
        checked++;
    }
    assert_true(checked >= samples / 2);
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* ---- convolution ------------------------------------------------------------------------------ */

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

    segcl_tensor *tx = transposed ? tensor4("x", n, cout, c->ho, c->wo, k.x)
                                  : tensor4("x", n, cin, h, w, k.x);
    segcl_tensor *ty = transposed ? tensor4("y", n, cin, h, w, NULL)
                                  : tensor4("y", n, cout, c->ho, c->wo, NULL);
    segcl_tensor *tw = tensor4("w", cout, cin, kh, kw, k.w);
    segcl_tensor *tb = tensor1("b", (int64_t)n_bias, k.b);
    segcl_tensor *tg = transposed ? tensor4("dy", n, cin, h, w, k.g)
                                  : tensor4("dy", n, cout, c->ho, c->wo, k.g);
    segcl_tensor *tdx = transposed ? tensor4("dx", n, cout, c->ho, c->wo, NULL)
                                   : tensor4("dx", n, cin, h, w, NULL);
    segcl_tensor *tdw = tensor4("dw", cout, cin, kh, kw, NULL);
    segcl_tensor *tdb = tensor1("db", (int64_t)n_bias, NULL);
    segcl_conv_params p = {kh, kw, stride, pad};

    double *ref_y = zeros(n_out), *ref_dx = zeros(n_in), *ref_dw = zeros(nw),
           *ref_db = zeros(n_bias);
    if (transposed) {
        assert_ok(ctx, segcl_conv_transpose2d_forward(ctx, ws, &p, tx, tw, tb, ty));
        ref_conv_transpose2d_forward(c, k.x, k.w, k.b, ref_y);
        assert_ok(ctx,
                  segcl_conv_transpose2d_backward(ctx, ws, &p, tx, tw, tg, tdx, tdw, tdb, false));
        ref_conv_transpose2d_backward(c, k.x, k.w, k.g, ref_dx, ref_dw, ref_db);
    } else {
        assert_ok(ctx, segcl_conv2d_forward(ctx, ws, &p, tx, tw, tb, ty));
        ref_conv2d_forward(c, k.x, k.w, k.b, ref_y);
        assert_ok(ctx, segcl_conv2d_backward(ctx, ws, &p, tx, tw, tg, tdx, tdw, tdb, false));
        ref_conv2d_backward(c, k.x, k.w, k.g, ref_dx, ref_dw, ref_db);
    }
    compare_tensor("conv y", ty, ref_y, 1e-5, 1e-4);
    compare_tensor("conv dx", tdx, ref_dx, 1e-5, 1e-4);
    compare_tensor("conv dw", tdw, ref_dw, 1e-5, 1e-4);
    compare_tensor("conv db", tdb, ref_db, 1e-5, 1e-4);

    float *gx = read(tdx), *gw = read(tdw), *gb = read(tdb);
    if (conv_fd) {
        fd_check("conv dx", conv_objective, &k, k.x, n_in, gx, 12, NULL);
        fd_check("conv dw", conv_objective, &k, k.w, nw, gw, 12, NULL);
        fd_check("conv db", conv_objective, &k, k.b, n_bias, gb, 4, NULL);
    }
    free(gx);
    free(gw);
    free(gb);

    /* accumulate: dx += again, dw and db always add */
    if (transposed)
        assert_ok(ctx,
                  segcl_conv_transpose2d_backward(ctx, ws, &p, tx, tw, tg, tdx, tdw, tdb, true));
    else
        assert_ok(ctx, segcl_conv2d_backward(ctx, ws, &p, tx, tw, tg, tdx, tdw, tdb, true));
    for (size_t i = 0; i < n_in; i++)
        ref_dx[i] *= 2;
    for (size_t i = 0; i < nw; i++)
        ref_dw[i] *= 2;
    for (size_t i = 0; i < n_bias; i++)
        ref_db[i] *= 2;
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
    run_conv_case(2, 3, 37, 29, 5, 3, 3, 1, 1, false);  /* odd sizes, 3x3 pad 1 */
    run_conv_case(2, 4, 16, 15, 6, 3, 3, 2, 1, false);  /* stride 2 */
    run_conv_case(3, 7, 9, 11, 3, 1, 1, 1, 0, false);   /* 1x1: no im2col */
    run_conv_case(2, 5, 8, 10, 9, 2, 3, 2, 0, false);   /* rectangular kernel */
    run_conv_case(1, 20, 6, 6, 17, 3, 3, 1, 1, false);  /* K = 180 > one GEMM tile */
    /* The CPU kernels' blocking (a simulator would take minutes over it): K = 270 in two K
     * blocks; 70-pixel rows, so tiles both inside rows and across them; 150 output channels,
     * more than one work-group's rows (128 by default); the weight gradient's K (4 x 630 pixels) split, with
     * K blocks that straddle images. */
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

/* conv -> bias -> ReLU -> per-channel scale and shift (inference BatchNorm) in one pass where
 * the device path fuses them, against the double reference of the separate ops; where it does
 * not fuse, the call must say so and leave the output alone. */
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
    bool fused = true;
    assert_ok(ctx, segcl_conv2d_forward_fused(ctx, ws, &p, tx, tw, tb, ts, tsh, ty, &fused));
    ref_conv2d_forward(&c, x, wt, b, ref);
    for (size_t i = 0; i < ny; i++) {
        size_t ch = i / plane % (size_t)cout;
        ref[i] = sc[ch] * (ref[i] > 0 ? ref[i] : 0) + sh[ch];
    }
    if (fused) {
        compare_tensor("fused conv", ty, ref, 1e-5, 1e-4);
        /* without scale and shift: bias and ReLU only */
        assert_ok(ctx, segcl_conv2d_forward_fused(ctx, ws, &p, tx, tw, tb, NULL, NULL, ty, &fused));
        assert_true(fused);
        ref_conv2d_forward(&c, x, wt, b, ref);
        for (size_t i = 0; i < ny; i++)
            ref[i] = ref[i] > 0 ? ref[i] : 0;
        compare_tensor("fused conv, ReLU only", ty, ref, 1e-5, 1e-4);
    } else {
        float *got = read(ty);
        for (size_t i = 0; i < ny; i++)
            assert_true(got[i] == 12345.0f);
        free(got);
    }
    segcl_tensor *all[] = {tx, tw, tb, ts, tsh, ty};
    for (size_t i = 0; i < 6; i++)
        segcl_tensor_destroy(all[i]);
    free(x), free(wt), free(b), free(sc), free(sh), free(ref);
}

static void test_conv_fused(void **state)
{
    (void)state;
    run_fused_case(2, 3, 37, 29, 5);    /* odd sizes, partial tiles */
    /* two K blocks: the epilogue on the last one only; two row groups */
    run_fused_case(2, 30, strstr(segcl_context_device(ctx)->name, "Oclgrind") ? 3 : 9, 70, 150);
}

static void test_conv_transpose2d(void **state)
{
    (void)state;
    /* ref_conv describes the conv this transposes: (h, w) is the transposed conv's output */
    run_conv_case(2, 3, 14, 10, 5, 2, 2, 2, 0, true);   /* the common 2x2 stride 2 */
    run_conv_case(2, 4, 13, 11, 6, 3, 3, 2, 1, true);   /* 3x3 stride 2 pad 1, odd output */
    run_conv_case(2, 5, 7, 9, 3, 1, 1, 1, 0, true);     /* 1x1 */
    run_conv_case(2, 3, 9, 11, 4, 3, 3, 1, 1, true);    /* stride 1: flipped weights on CPUs */
}

static void test_conv_shape_errors(void **state)
{
    (void)state;
    segcl_tensor *x = tensor4("x", 2, 3, 8, 8, NULL), *w = tensor4("w", 4, 2, 3, 3, NULL);
    segcl_tensor *y = tensor4("y", 2, 4, 8, 8, NULL);
    segcl_conv_params p = {3, 3, 1, 1};
    assert_int_equal(segcl_conv2d_forward(ctx, ws, &p, x, w, NULL, y),
                     SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(segcl_context_error(ctx), "weight 'w' has shape 4x2x3x3, expected 4x3x3x3"));
    segcl_conv_params bad = {0, 3, 1, 1};
    assert_int_equal(segcl_conv2d_forward(ctx, ws, &bad, x, w, NULL, y),
                     SEGCL_ERROR_INVALID_ARGUMENT);
    segcl_tensor_destroy(x);
    segcl_tensor_destroy(w);
    segcl_tensor_destroy(y);
}

/* ---- batch norm ------------------------------------------------------------------------------- */

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

static segcl_batchnorm make_bn(int c, const double *gamma, const double *beta,
                               const double *rmean, const double *rvar)
{
    segcl_batchnorm bn = {
        .gamma = tensor1("gamma", c, gamma), .beta = tensor1("beta", c, beta),
        .running_mean = tensor1("running_mean", c, rmean),
        .running_var = tensor1("running_var", c, rvar),
        .save_mean = tensor1("save_mean", c, NULL), .save_invstd = tensor1("save_invstd", c, NULL),
        .scale = tensor1("scale", c, NULL), .shift = tensor1("shift", c, NULL),
        .eps = 1e-5f, .momentum = 0.1f};
    return bn;
}

static void free_bn(segcl_batchnorm *bn)
{
    segcl_tensor *all[] = {bn->gamma, bn->beta, bn->running_mean, bn->running_var,
                           bn->save_mean, bn->save_invstd, bn->scale, bn->shift};
    for (size_t i = 0; i < 8; i++)
        segcl_tensor_destroy(all[i]);
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
    segcl_tensor *dy = tensor4("dy", k.n, k.c, 7, 9, k.g), *dx = tensor4("dx", k.n, k.c, 7, 9, NULL);
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
    float *gx = read(dx), *gg = read(dgamma), *gb = read(dbeta);
    fd_check("bn dx", bn_objective, &k, k.x, nx, gx, 16, NULL);
    fd_check("bn dgamma", bn_objective, &k, k.gamma, (size_t)k.c, gg, 5, NULL);
    fd_check("bn dbeta", bn_objective, &k, k.beta, (size_t)k.c, gb, 5, NULL);
    free(gx), free(gg), free(gb);

    /* evaluation mode uses the running statistics */
    float *rm_dev = read(bn.running_mean), *rv_dev = read(bn.running_var);
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

/* ---- activations ------------------------------------------------------------------------------ */

static void test_activations(void **state)
{
    (void)state;
    size_t n = 2 * 3 * 37 * 29;
    double *x = rand_array(n, -6, 6), *g = rand_array(n, -1, 1);
    x[0] = 0.0;     /* ReLU's kink: gradient 0 there, as in PyTorch */
    x[1] = 100.0;   /* sigmoid saturates without overflow */
    x[2] = -100.0;
    round_to_float(x, n);
    round_to_float(g, n);
    segcl_tensor *tx = tensor4("x", 2, 3, 37, 29, x), *ty = tensor4("y", 2, 3, 37, 29, NULL);
    segcl_tensor *tg = tensor4("dy", 2, 3, 37, 29, g), *tdx = tensor4("dx", 2, 3, 37, 29, NULL);
    double *ry = zeros(n), *rdx = zeros(n);

    assert_ok(ctx, segcl_relu_forward(ctx, tx, ty));
    for (size_t i = 0; i < n; i++)
        ry[i] = x[i] > 0 ? x[i] : 0;
    compare_tensor("relu y", ty, ry, 0, 0);
    assert_ok(ctx, segcl_relu_backward(ctx, ty, tg, tdx, false));
    for (size_t i = 0; i < n; i++)
        rdx[i] = x[i] > 0 ? g[i] : 0;
    compare_tensor("relu dx", tdx, rdx, 0, 0);
    assert_ok(ctx, segcl_relu_backward(ctx, ty, tg, tdx, true));
    for (size_t i = 0; i < n; i++)
        rdx[i] *= 2;
    compare_tensor("relu dx accumulated", tdx, rdx, 0, 0);

    assert_ok(ctx, segcl_sigmoid_forward(ctx, tx, ty));
    for (size_t i = 0; i < n; i++)
        ry[i] = 1 / (1 + exp(-x[i]));
    compare_tensor("sigmoid y", ty, ry, 1e-7, 1e-6);
    assert_ok(ctx, segcl_sigmoid_backward(ctx, ty, tg, tdx, false));
    for (size_t i = 0; i < n; i++)
        rdx[i] = g[i] * ry[i] * (1 - ry[i]);
    compare_tensor("sigmoid dx", tdx, rdx, 1e-6, 1e-5);

    segcl_tensor *all[] = {tx, ty, tg, tdx};
    for (size_t i = 0; i < 4; i++)
        segcl_tensor_destroy(all[i]);
    free(x), free(g), free(ry), free(rdx);
}

/* ---- pooling ---------------------------------------------------------------------------------- */

static int *read_indices(segcl_tensor *t)
{
    int *idx = malloc(t->numel * sizeof *idx);
    assert_non_null(idx);
    assert_int_equal(clEnqueueReadBuffer(segcl_context_queue(ctx), t->buffer, CL_TRUE, 0,
                                         t->numel * 4, idx, 0, NULL, NULL),
                     CL_SUCCESS);
    return idx;
}

static void run_pool_case(int n, int c, int h, int w, int k, int s, int p)
{
    int ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1, planes = n * c;
    size_t nx = (size_t)planes * h * w, ny = (size_t)planes * ho * wo;
    /* distinct values: no ties, so argmax is unambiguous */
    double *x = rand_array(nx, -1, 1);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)(x[i] + 1e-3 * (double)(i % 997));
    double *g = rand_array(ny, -1, 1);
    round_to_float(g, ny);
    segcl_tensor *tx = tensor4("x", n, c, h, w, x), *ty = tensor4("y", n, c, ho, wo, NULL);
    segcl_tensor *ti = tensor4("indices", n, c, ho, wo, NULL);
    segcl_tensor *tg = tensor4("dy", n, c, ho, wo, g), *tdx = tensor4("dx", n, c, h, w, NULL);
    segcl_pool_params pp = {k, s, p};
    assert_ok(ctx, segcl_maxpool_forward(ctx, &pp, tx, ty, ti));
    double *ry = zeros(ny), *rdx = zeros(nx);
    int *ridx = malloc(ny * sizeof *ridx);
    ref_maxpool_forward(planes, h, w, k, s, p, x, ry, ridx);
    compare_tensor("maxpool y", ty, ry, 0, 0);
    int *idx = read_indices(ti);
    assert_memory_equal(idx, ridx, ny * sizeof *idx);
    assert_ok(ctx, segcl_maxpool_backward(ctx, &pp, tg, ti, tdx, false));
    ref_maxpool_backward(planes, h, w, k, s, p, ridx, g, rdx);
    compare_tensor("maxpool dx", tdx, rdx, 1e-7, 1e-6);

    /* unpool: scatter y back to the argmax positions; backward gathers */
    segcl_tensor *tu = tensor4("unpooled", n, c, h, w, NULL);
    segcl_tensor *tdu = tensor4("dunpooled", n, c, h, w, x), *tdyu = tensor4("dy_unpool", n, c, ho, wo, NULL);
    assert_ok(ctx, segcl_maxunpool_forward(ctx, &pp, ty, ti, tu));
    double *ru = zeros(nx);
    for (int pl = 0; pl < planes; pl++)
        for (int o = 0; o < ho * wo; o++)
            ru[(size_t)pl * h * w + ridx[(size_t)pl * ho * wo + o]] = ry[(size_t)pl * ho * wo + o];
    compare_tensor("maxunpool out", tu, ru, 0, 0);
    assert_ok(ctx, segcl_maxunpool_backward(ctx, tdu, ti, tdyu, false));
    double *rdu = zeros(ny);
    for (int pl = 0; pl < planes; pl++)
        for (int o = 0; o < ho * wo; o++)
            rdu[(size_t)pl * ho * wo + o] = x[(size_t)pl * h * w + ridx[(size_t)pl * ho * wo + o]];
    compare_tensor("maxunpool dx", tdyu, rdu, 0, 0);

    segcl_tensor *all[] = {tx, ty, ti, tg, tdx, tu, tdu, tdyu};
    for (size_t i = 0; i < 8; i++)
        segcl_tensor_destroy(all[i]);
    free(x), free(g), free(ry), free(rdx), free(ridx), free(idx), free(ru), free(rdu);
}

static void test_maxpool(void **state)
{
    (void)state;
    run_pool_case(2, 3, 37, 29, 2, 2, 0); /* the networks' 2x2; odd sizes drop the last row */
    run_pool_case(2, 5, 16, 16, 2, 2, 0);
    run_pool_case(1, 4, 15, 13, 3, 2, 1); /* overlapping windows with padding */
}

static void test_maxpool_ties_and_nan(void **state)
{
    (void)state;
    /* a window of equal values takes the first; NaN propagates (PyTorch's rules) */
    double x[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, NAN, 4, 4, 5, 3, 4, 4};
    segcl_tensor *tx = tensor4("x", 1, 1, 4, 4, x), *ty = tensor4("y", 1, 1, 2, 2, NULL);
    segcl_tensor *ti = tensor4("i", 1, 1, 2, 2, NULL);
    segcl_pool_params pp = {2, 2, 0};
    assert_ok(ctx, segcl_maxpool_forward(ctx, &pp, tx, ty, ti));
    float *y = read(ty);
    int *idx = read_indices(ti);
    assert_true(y[0] == 1.0f && idx[0] == 0);
    assert_true(y[1] == 2.0f && idx[1] == 2);
    assert_true(isnan(y[2]) && idx[2] == 9);
    assert_true(y[3] == 4.0f && idx[3] == 10);
    free(y), free(idx);
    segcl_tensor_destroy(tx), segcl_tensor_destroy(ty), segcl_tensor_destroy(ti);
}

/* ---- upsampling ------------------------------------------------------------------------------- */

typedef struct up_case {
    int planes, h, w, oh, ow;
    bool align;
    double *x, *g, *y;
} up_case;

static double up_objective(void *state)
{
    up_case *k = state;
    ref_upsample_forward(k->planes, k->h, k->w, k->oh, k->ow, k->align, k->x, k->y);
    return dot(k->y, k->g, (size_t)k->planes * k->oh * k->ow);
}

static void run_up_case(int n, int c, int h, int w, int oh, int ow, bool align)
{
    up_case k = {.planes = n * c, .h = h, .w = w, .oh = oh, .ow = ow, .align = align};
    size_t nx = (size_t)k.planes * h * w, ny = (size_t)k.planes * oh * ow;
    k.x = rand_array(nx, -1, 1);
    k.g = rand_array(ny, -1, 1);
    k.y = zeros(ny);
    round_to_float(k.x, nx);
    round_to_float(k.g, ny);
    segcl_tensor *tx = tensor4("x", n, c, h, w, k.x), *ty = tensor4("y", n, c, oh, ow, NULL);
    segcl_tensor *tg = tensor4("dy", n, c, oh, ow, k.g), *tdx = tensor4("dx", n, c, h, w, NULL);
    assert_ok(ctx, segcl_upsample_bilinear_forward(ctx, ws, tx, ty, align));
    double *ry = zeros(ny), *rdx = zeros(nx);
    ref_upsample_forward(k.planes, h, w, oh, ow, align, k.x, ry);
    compare_tensor("upsample y", ty, ry, 1e-6, 1e-5);
    assert_ok(ctx, segcl_upsample_bilinear_backward(ctx, ws, tg, tdx, align, false));
    ref_upsample_backward(k.planes, h, w, oh, ow, align, k.g, rdx);
    compare_tensor("upsample dx", tdx, rdx, 1e-5, 1e-4);
    float *gx = read(tdx);
    fd_check("upsample dx", up_objective, &k, k.x, nx, gx, 12, NULL);
    free(gx);
    segcl_tensor *all[] = {tx, ty, tg, tdx};
    for (size_t i = 0; i < 4; i++)
        segcl_tensor_destroy(all[i]);
    free(k.x), free(k.g), free(k.y), free(ry), free(rdx);
}

static void test_upsample(void **state)
{
    (void)state;
    run_up_case(2, 3, 8, 9, 16, 18, true);   /* nn.UpsamplingBilinear2d(scale_factor=2) */
    run_up_case(2, 3, 8, 9, 16, 18, false);  /* F.interpolate(..., align_corners=False) */
    run_up_case(1, 2, 7, 5, 16, 9, true);    /* general sizes */
    run_up_case(1, 2, 7, 5, 16, 9, false);
    run_up_case(2, 1, 5, 6, 3, 4, false);    /* downscaling */
    /* each input read by ~40 outputs per axis: a fixed tap limit (16) once dropped some */
    run_up_case(1, 1, 3, 2, 60, 40, true);
    run_up_case(1, 1, 3, 2, 60, 40, false);
    run_up_case(1, 2, 40, 30, 3, 2, false);  /* shrinking by over 8x, once refused */
    /* more planes than the bounded scratch of rows holds (256 of 32x128): three passes */
    run_up_case(2, 130, 32, 64, 64, 128, true);
}

/* ---- concat ----------------------------------------------------------------------------------- */

static void test_concat(void **state)
{
    (void)state;
    int n = 2, ca = 3, cb = 5, h = 7, w = 6;
    size_t na = (size_t)n * ca * h * w, nb = (size_t)n * cb * h * w, no = na + nb;
    double *a = rand_array(na, -1, 1), *b = rand_array(nb, -1, 1), *g = rand_array(no, -1, 1);
    round_to_float(a, na), round_to_float(b, nb), round_to_float(g, no);
    segcl_tensor *ta = tensor4("a", n, ca, h, w, a), *tb = tensor4("b", n, cb, h, w, b);
    segcl_tensor *to = tensor4("out", n, ca + cb, h, w, NULL), *tg = tensor4("dout", n, ca + cb, h, w, g);
    segcl_tensor *tda = tensor4("da", n, ca, h, w, a), *tdb = tensor4("db", n, cb, h, w, NULL);
    assert_ok(ctx, segcl_concat_forward(ctx, ta, tb, to));
    double *ro = zeros(no), *rda = zeros(na), *rdb = zeros(nb);
    size_t plane = (size_t)h * w;
    for (int i = 0; i < n; i++) {
        memcpy(ro + (size_t)i * (ca + cb) * plane, a + (size_t)i * ca * plane, ca * plane * 8);
        memcpy(ro + ((size_t)i * (ca + cb) + ca) * plane, b + (size_t)i * cb * plane, cb * plane * 8);
        memcpy(rda + (size_t)i * ca * plane, g + (size_t)i * (ca + cb) * plane, ca * plane * 8);
        memcpy(rdb + (size_t)i * cb * plane, g + ((size_t)i * (ca + cb) + ca) * plane, cb * plane * 8);
    }
    compare_tensor("concat out", to, ro, 0, 0);
    /* da accumulates onto its previous content (a), db is overwritten */
    assert_ok(ctx, segcl_concat_backward(ctx, tg, tda, tdb, true, false));
    for (size_t i = 0; i < na; i++)
        rda[i] += a[i];
    compare_tensor("concat da", tda, rda, 1e-7, 1e-7);
    compare_tensor("concat db", tdb, rdb, 0, 0);
    segcl_tensor *all[] = {ta, tb, to, tg, tda, tdb};
    for (size_t i = 0; i < 6; i++)
        segcl_tensor_destroy(all[i]);
    free(a), free(b), free(g), free(ro), free(rda), free(rdb);
}

/* ---- losses ----------------------------------------------------------------------------------- */

typedef struct loss_case {
    segcl_loss_kind kind;
    int n, classes, plane;
    double *x, *t, *weights;
    int ignore;
} loss_case;

static double loss_value(const loss_case *k, double *dx)
{
    size_t nx = (size_t)k->n * k->classes * k->plane;
    double *tmp = dx ? zeros(nx) : NULL;
    double v = 0;
    bool binary = k->classes == 1;
    if (k->kind == SEGCL_LOSS_BCE || (k->kind == SEGCL_LOSS_BCE_DICE && binary))
        v += ref_bce(k->n * k->plane, k->x, k->t, dx);
    else if (k->kind == SEGCL_LOSS_CE || k->kind == SEGCL_LOSS_BCE_DICE)
        v += ref_cross_entropy(k->n, k->classes, k->plane, k->x, k->t, k->weights, k->ignore, dx);
    if (k->kind == SEGCL_LOSS_DICE || k->kind == SEGCL_LOSS_BCE_DICE) {
        double d = ref_dice(k->n, k->classes, k->plane, k->x, k->t, 1.0, tmp);
        v += d;
        if (dx) {
            for (size_t i = 0; i < nx; i++)
                dx[i] = (k->kind == SEGCL_LOSS_DICE ? 0 : dx[i]) + tmp[i];
        }
    }
    free(tmp);
    return v;
}

static double loss_objective(void *state)
{
    return loss_value(state, NULL);
}

static void run_loss_case(segcl_loss_kind kind, int n, int classes, int h, int w, bool weighted,
                          int ignore)
{
    loss_case k = {.kind = kind, .n = n, .classes = classes, .plane = h * w, .ignore = ignore};
    size_t nx = (size_t)n * classes * k.plane, nt = (size_t)n * k.plane;
    k.x = rand_array(nx, -4, 4);
    round_to_float(k.x, nx);
    k.t = zeros(nt);
    for (size_t i = 0; i < nt; i++)
        k.t[i] = classes == 1 ? (double)segcl_rng_below(&rng, 2)
                              : (double)segcl_rng_below(&rng, (uint32_t)classes);
    if (ignore >= 0)
        for (size_t i = 0; i < nt; i += 7)
            k.t[i] = ignore;
    if (weighted) {
        k.weights = rand_array((size_t)classes, 0.5, 2);
        round_to_float(k.weights, (size_t)classes);
    }
    segcl_tensor *tx = tensor4("logits", n, classes, h, w, k.x), *tt = tensor4("targets", n, 1, h, w, k.t);
    segcl_tensor *tdx = tensor4("dlogits", n, classes, h, w, NULL), *tl = tensor1("loss", 2, NULL);
    segcl_tensor *tw = weighted ? tensor1("class weights", classes, k.weights) : NULL;
    segcl_loss_params p;
    segcl_loss_default_params(&p, kind);
    p.class_weights = tw;
    p.ignore_index = ignore >= 0 ? ignore : -100;
    if (ignore < 0)
        k.ignore = -100;
    assert_ok(ctx, segcl_loss(ctx, ws, &p, tx, tt, tdx, tl));
    double *rdx = zeros(nx);
    double ref = loss_value(&k, rdx);
    float *got = read(tl);
    if (!(fabs(got[0] - ref) <= 1e-5 * fabs(ref) + 1e-6))
        fail_msg("loss kind %d classes %d: got %.9g, reference %.9g", kind, classes, got[0], ref);
    compare_tensor("dlogits", tdx, rdx, 1e-5, 1e-4);
    float *g = read(tdx);
    fd_check("dlogits", loss_objective, &k, k.x, nx, g, 16, NULL);
    /* evaluation: the loss without gradients */
    assert_ok(ctx, segcl_loss(ctx, ws, &p, tx, tt, NULL, tl));
    float *got2 = read(tl);
    assert_true(got2[0] == got[0]);
    segcl_tensor *all[] = {tx, tt, tdx, tl, tw};
    for (size_t i = 0; i < 5; i++)
        segcl_tensor_destroy(all[i]);
    free(k.x), free(k.t), free(k.weights), free(rdx), free(got), free(got2), free(g);
}

static void test_losses(void **state)
{
    (void)state;
    run_loss_case(SEGCL_LOSS_BCE, 2, 1, 37, 29, false, -1);
    run_loss_case(SEGCL_LOSS_CE, 2, 3, 13, 11, false, -1);
    run_loss_case(SEGCL_LOSS_CE, 2, 4, 13, 11, true, 255); /* class weights, ignore index */
    run_loss_case(SEGCL_LOSS_DICE, 2, 1, 17, 15, false, -1);
    run_loss_case(SEGCL_LOSS_DICE, 3, 3, 9, 8, false, -1);
    run_loss_case(SEGCL_LOSS_BCE_DICE, 2, 1, 17, 15, false, -1);
    run_loss_case(SEGCL_LOSS_BCE_DICE, 2, 3, 9, 8, false, -1);
}

static void test_loss_extremes(void **state)
{
    (void)state;
    /* |logit| = 100: the stable form gives finite loss and gradients */
    double x[4] = {100, -100, 100, -100}, t[4] = {1, 0, 0, 1};
    segcl_tensor *tx = tensor4("logits", 1, 1, 2, 2, x), *tt = tensor4("targets", 1, 1, 2, 2, t);
    segcl_tensor *tdx = tensor4("dlogits", 1, 1, 2, 2, NULL), *tl = tensor1("loss", 2, NULL);
    segcl_loss_params p;
    segcl_loss_default_params(&p, SEGCL_LOSS_BCE);
    assert_ok(ctx, segcl_loss(ctx, ws, &p, tx, tt, tdx, tl));
    float *l = read(tl), *g = read(tdx);
    assert_float_equal(l[0], 50.0f, 1e-4f);
    assert_float_equal(g[0], 0.0f, 1e-6f);
    assert_float_equal(g[2], 0.25f, 1e-6f);
    assert_float_equal(g[3], -0.25f, 1e-6f);
    free(l), free(g);
    /* wrong pairing of loss and class count is refused */
    segcl_loss_default_params(&p, SEGCL_LOSS_CE);
    assert_int_equal(segcl_loss(ctx, ws, &p, tx, tt, tdx, tl), SEGCL_ERROR_INVALID_ARGUMENT);
    segcl_tensor *all[] = {tx, tt, tdx, tl};
    for (size_t i = 0; i < 4; i++)
        segcl_tensor_destroy(all[i]);
}

/* ---- optimizers ------------------------------------------------------------------------------- */

static void test_optimizers(void **state)
{
    (void)state;
    size_t n = 1000;
    double *p0 = rand_array(n, -1, 1);
    round_to_float(p0, n);
    double *grads[3];
    for (int s = 0; s < 3; s++) {
        grads[s] = rand_array(n, -0.1, 0.1);
        round_to_float(grads[s], n);
    }
    for (int variant = 0; variant < 5; variant++) {
        segcl_tensor *tp = tensor1("param", (int64_t)n, p0), *tg = tensor1("grad", (int64_t)n, NULL);
        segcl_tensor *tm = tensor1("m", (int64_t)n, NULL), *tv = tensor1("v", (int64_t)n, NULL);
        double *p = zeros(n), *m = zeros(n), *v = zeros(n);
        memcpy(p, p0, n * sizeof *p);
        segcl_adam_params ap = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                .weight_decay = variant == 0 ? 1e-6f : 1e-2f,
                                .decoupled = variant == 1};
        segcl_sgd_params sp = {.lr = 0.1f, .momentum = variant == 2 ? 0.0f : 0.9f,
                               .dampening = 0.0f, .weight_decay = 1e-4f,
                               .nesterov = variant == 4};
        for (int s = 1; s <= 3; s++) {
            const double *g = grads[s - 1];
            float *gf = malloc(n * 4);
            for (size_t i = 0; i < n; i++)
                gf[i] = (float)g[i];
            assert_ok(ctx, segcl_tensor_write(tg, gf, n));
            free(gf);
            if (variant <= 1) {
                assert_ok(ctx, segcl_adam_step(ctx, &ap, s, tp, tg, tm, tv));
                double b1 = ap.beta1, b2 = ap.beta2, wd = ap.weight_decay, lr = ap.lr;
                for (size_t i = 0; i < n; i++) {
                    double gi = g[i];
                    if (ap.decoupled)
                        p[i] *= 1 - lr * wd;
                    else
                        gi += wd * p[i];
                    m[i] = b1 * m[i] + (1 - b1) * gi;
                    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                    double denom = sqrt(v[i]) / sqrt(1 - pow(b2, s)) + (double)ap.eps;
                    p[i] -= lr / (1 - pow(b1, s)) * m[i] / denom;
                }
            } else {
                assert_ok(ctx, segcl_sgd_step(ctx, &sp, s, tp, tg, tm));
                for (size_t i = 0; i < n; i++) {
                    double gi = g[i] + (double)sp.weight_decay * p[i];
                    if (sp.momentum != 0) {
                        m[i] = s == 1 ? gi : sp.momentum * m[i] + gi;
                        gi = sp.nesterov ? gi + sp.momentum * m[i] : m[i];
                    }
                    p[i] -= sp.lr * gi;
                }
            }
        }
        /* the change of each weight matches within 1e-3 relative */
        float *got = read(tp);
        double *delta_ref = zeros(n);
        float *delta = malloc(n * 4);
        for (size_t i = 0; i < n; i++) {
            delta_ref[i] = p[i] - p0[i];
            delta[i] = (float)((double)got[i] - p0[i]);
        }
        compare(variant <= 1 ? "Adam step" : "SGD step", delta, delta_ref, n, 1e-3, 1e-3);
        free(got), free(delta), free(delta_ref), free(p), free(m), free(v);
        segcl_tensor_destroy(tp), segcl_tensor_destroy(tg), segcl_tensor_destroy(tm),
            segcl_tensor_destroy(tv);
    }
    for (int s = 0; s < 3; s++)
        free(grads[s]);
    free(p0);
}

/* ---- metrics ---------------------------------------------------------------------------------- */

static void test_confusion(void **state)
{
    (void)state;
    for (int classes = 1; classes <= 4; classes += 3) {
        int n = 2, h = 19, w = 23;
        size_t nx = (size_t)n * classes * h * w, nt = (size_t)n * h * w;
        double *x = rand_array(nx, -2, 2), *t = zeros(nt);
        int k = classes == 1 ? 2 : classes;
        for (size_t i = 0; i < nt; i++)
            t[i] = segcl_rng_below(&rng, (uint32_t)k);
        t[5] = 255; /* ignored */
        segcl_tensor *tx = tensor4("logits", n, classes, h, w, x), *tt = tensor4("t", n, 1, h, w, t);
        uint64_t counts[SEGCL_MAX_CLASSES * SEGCL_MAX_CLASSES] = {0};
        uint64_t ref[SEGCL_MAX_CLASSES * SEGCL_MAX_CLASSES] = {0};
        assert_ok(ctx, segcl_confusion(ctx, ws, tx, tt, 255, counts));
        for (int b = 0; b < n; b++)
            for (int p = 0; p < h * w; p++) {
                int tg = (int)t[(size_t)b * h * w + p];
                if (tg == 255)
                    continue;
                int pred = 0;
                if (classes == 1) {
                    pred = (float)x[(size_t)b * h * w + p] > 0;
                } else {
                    for (int c = 1; c < classes; c++)
                        if ((float)x[((size_t)b * classes + c) * h * w + p] >
                            (float)x[((size_t)b * classes + pred) * h * w + p])
                            pred = c;
                }
                ref[tg * k + pred]++;
            }
        assert_memory_equal(counts, ref, sizeof(uint64_t) * k * k);
        uint64_t total = 0;
        for (int i = 0; i < k * k; i++)
            total += counts[i];
        assert_int_equal(total, nt - 1);
        segcl_tensor_destroy(tx), segcl_tensor_destroy(tt);
        free(x), free(t);
    }
}

static void test_scores(void **state)
{
    (void)state;
    /* binary: tp 30, fp 10, fn 20, tn 40 -> Dice 60/90, IoU 30/60, accuracy 70/100 */
    uint64_t b[4] = {40, 10, 20, 30};
    segcl_scores s;
    segcl_scores_from_confusion(b, 2, &s);
    assert_float_equal(s.dice, 60.0 / 90.0, 1e-12);
    assert_float_equal(s.iou, 0.5, 1e-12);
    assert_float_equal(s.pixel_accuracy, 0.7, 1e-12);
    assert_int_equal(s.defined_classes, 1);
    /* three classes; class 2 absent from the targets (though predicted once) is left out */
    uint64_t c[9] = {5, 1, 1, 2, 8, 0, 0, 0, 0};
    segcl_scores_from_confusion(c, 3, &s);
    assert_float_equal(s.dice, 16.0 / 19.0, 1e-12);
    assert_float_equal(s.iou, 8.0 / 11.0, 1e-12);
    assert_float_equal(s.pixel_accuracy, 13.0 / 17.0, 1e-12);
    assert_int_equal(s.defined_classes, 1);
    /* no foreground in the targets: Dice and IoU undefined, accuracy still counts */
    uint64_t e[4] = {90, 10, 0, 0};
    segcl_scores_from_confusion(e, 2, &s);
    assert_true(isnan(s.dice) && isnan(s.iou));
    assert_int_equal(s.defined_classes, 0);
    assert_float_equal(s.pixel_accuracy, 0.9, 1e-12);
}

/* ---- finite differences of the piecewise ops ---------------------------------------------- */

typedef struct pw_case {
    int kind; /* 0 relu, 1 sigmoid, 2 maxpool 2x2, 3 maxpool 3x3 s2 p1 */
    int planes, h, w;
    double *x, *g, *y;
} pw_case;

static size_t pw_out(const pw_case *k)
{
    if (k->kind < 2)
        return (size_t)k->planes * k->h * k->w;
    int kk = k->kind == 2 ? 2 : 3, s = 2, p = k->kind == 2 ? 0 : 1;
    return (size_t)k->planes * ((k->h + 2 * p - kk) / s + 1) * ((k->w + 2 * p - kk) / s + 1);
}

static double pw_objective(void *state)
{
    pw_case *k = state;
    size_t n = (size_t)k->planes * k->h * k->w, no = pw_out(k);
    if (k->kind == 0)
        for (size_t i = 0; i < n; i++)
            k->y[i] = k->x[i] > 0 ? k->x[i] : 0;
    else if (k->kind == 1)
        for (size_t i = 0; i < n; i++)
            k->y[i] = 1 / (1 + exp(-k->x[i]));
    else {
        int *idx = malloc(no * sizeof *idx);
        ref_maxpool_forward(k->planes, k->h, k->w, k->kind == 2 ? 2 : 3, 2, k->kind == 2 ? 0 : 1,
                            k->x, k->y, idx);
        free(idx);
    }
    return dot(k->y, k->g, no);
}

/* ReLU: skip inputs within the step of the kink; max-pool: values are spread >= 1e-3 apart,
 * ten times the step, so no perturbation changes an argmax. */
static bool pw_skip(void *state, size_t i)
{
    pw_case *k = state;
    return k->kind == 0 && fabs(k->x[i]) < 1e-3;
}

static void test_piecewise_finite_differences(void **state)
{
    (void)state;
    for (int kind = 0; kind < 4; kind++) {
        pw_case k = {.kind = kind, .planes = 6, .h = 13, .w = 11};
        size_t n = (size_t)k.planes * k.h * k.w, no = pw_out(&k);
        k.x = rand_array(n, -3, 3);
        for (size_t i = 0; i < n && kind >= 2; i++)
            k.x[i] = ((double)((i * 7919) % n) - n / 2.0) * 1e-2; /* distinct, spaced 1e-2 */
        round_to_float(k.x, n);
        k.g = rand_array(no, -1, 1);
        round_to_float(k.g, no);
        k.y = zeros(n > no ? n : no);
        segcl_tensor *tx = tensor4("x", 2, 3, k.h, k.w, k.x), *tdx = tensor4("dx", 2, 3, k.h, k.w, NULL);
        segcl_tensor *ty, *tg, *ti = NULL;
        if (kind < 2) {
            ty = tensor4("y", 2, 3, k.h, k.w, NULL);
            tg = tensor4("dy", 2, 3, k.h, k.w, k.g);
            if (kind == 0) {
                assert_ok(ctx, segcl_relu_forward(ctx, tx, ty));
                assert_ok(ctx, segcl_relu_backward(ctx, ty, tg, tdx, false));
            } else {
                assert_ok(ctx, segcl_sigmoid_forward(ctx, tx, ty));
                assert_ok(ctx, segcl_sigmoid_backward(ctx, ty, tg, tdx, false));
            }
        } else {
            segcl_pool_params pp = {kind == 2 ? 2 : 3, 2, kind == 2 ? 0 : 1};
            int64_t ho = (k.h + 2 * pp.pad - pp.kernel) / 2 + 1, wo = (k.w + 2 * pp.pad - pp.kernel) / 2 + 1;
            ty = tensor4("y", 2, 3, ho, wo, NULL);
            ti = tensor4("i", 2, 3, ho, wo, NULL);
            tg = tensor4("dy", 2, 3, ho, wo, k.g);
            assert_ok(ctx, segcl_maxpool_forward(ctx, &pp, tx, ty, ti));
            assert_ok(ctx, segcl_maxpool_backward(ctx, &pp, tg, ti, tdx, false));
        }
        float *gx = read(tdx);
        fd_check(kind == 0 ? "relu dx" : kind == 1 ? "sigmoid dx" : "maxpool dx", pw_objective, &k,
                 k.x, n, gx, 40, pw_skip);
        free(gx);
        segcl_tensor *all[] = {tx, tdx, ty, tg, ti};
        for (size_t i = 0; i < 5; i++)
            segcl_tensor_destroy(all[i]);
        free(k.x), free(k.g), free(k.y);
    }
}

/* ---- determinism ------------------------------------------------------------------------------ */

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
    segcl_tensor *tdx = tensor4("dx", n, cin, h, w, NULL), *tdw = tensor4("dw", cout, cin, 3, 3, NULL);
    segcl_batchnorm bn = make_bn(cout, ones, zero, zero, ones);
    segcl_tensor *dgam = tensor1("dgamma", cout, NULL), *dbet = tensor1("dbeta", cout, NULL);
    segcl_conv_params p = {3, 3, 1, 1};
    assert_ok(ctx, segcl_conv2d_forward(ctx, ws, &p, tx, tw, NULL, ty));
    assert_ok(ctx, segcl_batchnorm_forward(ctx, ws, &bn, ty, tz, true, NULL));
    assert_ok(ctx,
              segcl_batchnorm_backward(ctx, ws, &bn, ty, tg, tdy, dgam, dbet, true, false, NULL));
    assert_ok(ctx, segcl_conv2d_backward(ctx, ws, &p, tx, tw, tdy, tdx, tdw, NULL, false));
    out[0] = read(tz), sizes[0] = ny;
    out[1] = read(tdx), sizes[1] = nx;
    out[2] = read(tdw), sizes[2] = nw;
    out[3] = read(dgam), sizes[3] = (size_t)cout;
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

static int setup(void **state)
{
    (void)state;
    segcl_rng_seed(&rng, 20261125, 7);
    if (test_fixture_setup(&fx, "ops", TEST_FIXTURE_DEVICE))
        return -1;
    ctx = fx.ctx;
    if (segcl_workspace_create(ctx, &ws)) {
        fprintf(stderr, "%s\n", segcl_context_error(ctx));
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    segcl_workspace_destroy(ws);
    return test_fixture_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_conv_fused),
        cmocka_unit_test(test_conv_transpose2d),
        cmocka_unit_test(test_conv_shape_errors),
        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_maxpool_ties_and_nan),
        cmocka_unit_test(test_upsample),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_loss_extremes),
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_confusion),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_piecewise_finite_differences),
        cmocka_unit_test(test_determinism),
    };
    return cmocka_run_group_tests_name("ops", tests, setup, teardown);
}
