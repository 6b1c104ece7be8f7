/*
 * The ops without weights: activations, max-pooling and unpooling, bilinear resampling and
 * concatenation, forward and backward, against the double-precision references in reference.c
 * on random inputs with odd shapes, and finite-difference checks of the piecewise ones (ReLU,
 * sigmoid, max-pooling). Helpers: test_ops_util.h.
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

/* ---- activations ------------------------------------------------------------------------------
 */

static void test_activations(void **state)
{
    (void)state;
    size_t n = 2 * 3 * 37 * 29;
    double *x = rand_array(n, -6, 6), *g = rand_array(n, -1, 1);
    x[0] = 0.0;   /* ReLU's kink: gradient 0 there, as in PyTorch */
    x[1] = 100.0; /* sigmoid saturates without overflow */
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

/* ---- pooling ----------------------------------------------------------------------------------
 */

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
    segcl_tensor *tdu = tensor4("dunpooled", n, c, h, w, x),
                 *tdyu = tensor4("dy_unpool", n, c, ho, wo, NULL);
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
    float *y = read_tensor(ty);
    int *idx = read_indices(ti);
    assert_true(y[0] == 1.0f && idx[0] == 0);
    assert_true(y[1] == 2.0f && idx[1] == 2);
    assert_true(isnan(y[2]) && idx[2] == 9);
    assert_true(y[3] == 4.0f && idx[3] == 10);
    free(y), free(idx);
    segcl_tensor_destroy(tx), segcl_tensor_destroy(ty), segcl_tensor_destroy(ti);
}

/* ---- upsampling -------------------------------------------------------------------------------
 */

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
    float *gx = read_tensor(tdx);
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
    run_up_case(2, 3, 8, 9, 16, 18, true);  /* nn.UpsamplingBilinear2d(scale_factor=2) */
    run_up_case(2, 3, 8, 9, 16, 18, false); /* F.interpolate(..., align_corners=False) */
    run_up_case(1, 2, 7, 5, 16, 9, true);   /* general sizes */
    run_up_case(1, 2, 7, 5, 16, 9, false);
    run_up_case(2, 1, 5, 6, 3, 4, false); /* downscaling */
    /* each input read by ~40 outputs per axis: a fixed tap limit (16) once dropped some */
    run_up_case(1, 1, 3, 2, 60, 40, true);
    run_up_case(1, 1, 3, 2, 60, 40, false);
    run_up_case(1, 2, 40, 30, 3, 2, false); /* shrinking by over 8x, once refused */
    /* many planes in one launch (the resize once went in chunks of planes; 16k work-items
     * here, quick on the simulator too) */
    run_up_case(2, 130, 4, 8, 8, 16, true);
}

/* ---- concat -----------------------------------------------------------------------------------
 */

static void test_concat(void **state)
{
    (void)state;
    int n = 2, ca = 3, cb = 5, h = 7, w = 6;
    size_t na = (size_t)n * ca * h * w, nb = (size_t)n * cb * h * w, no = na + nb;
    double *a = rand_array(na, -1, 1), *b = rand_array(nb, -1, 1), *g = rand_array(no, -1, 1);
    round_to_float(a, na), round_to_float(b, nb), round_to_float(g, no);
    segcl_tensor *ta = tensor4("a", n, ca, h, w, a), *tb = tensor4("b", n, cb, h, w, b);
    segcl_tensor *to = tensor4("out", n, ca + cb, h, w, NULL),
                 *tg = tensor4("dout", n, ca + cb, h, w, g);
    segcl_tensor *tda = tensor4("da", n, ca, h, w, a), *tdb = tensor4("db", n, cb, h, w, NULL);
    assert_ok(ctx, segcl_concat_forward(ctx, ta, tb, to));
    double *ro = zeros(no), *rda = zeros(na), *rdb = zeros(nb);
    size_t plane = (size_t)h * w;
    for (int i = 0; i < n; i++) {
        memcpy(ro + (size_t)i * (ca + cb) * plane, a + (size_t)i * ca * plane, ca * plane * 8);
        memcpy(ro + ((size_t)i * (ca + cb) + ca) * plane, b + (size_t)i * cb * plane,
               cb * plane * 8);
        memcpy(rda + (size_t)i * ca * plane, g + (size_t)i * (ca + cb) * plane, ca * plane * 8);
        memcpy(rdb + (size_t)i * cb * plane, g + ((size_t)i * (ca + cb) + ca) * plane,
               cb * plane * 8);
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
        segcl_tensor *tx = tensor4("x", 2, 3, k.h, k.w, k.x),
                     *tdx = tensor4("dx", 2, 3, k.h, k.w, NULL);
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
            int64_t ho = (k.h + 2 * pp.pad - pp.kernel) / 2 + 1,
                    wo = (k.w + 2 * pp.pad - pp.kernel) / 2 + 1;
            ty = tensor4("y", 2, 3, ho, wo, NULL);
            ti = tensor4("i", 2, 3, ho, wo, NULL);
            tg = tensor4("dy", 2, 3, ho, wo, k.g);
            assert_ok(ctx, segcl_maxpool_forward(ctx, &pp, tx, ty, ti));
            assert_ok(ctx, segcl_maxpool_backward(ctx, &pp, tg, ti, tdx, false));
        }
        float *gx = read_tensor(tdx);
        fd_check(kind == 0   ? "relu dx"
                 : kind == 1 ? "sigmoid dx"
                             : "maxpool dx",
                 pw_objective, &k, k.x, n, gx, 40, pw_skip);
        free(gx);
        segcl_tensor *all[] = {tx, tdx, ty, tg, ti};
        for (size_t i = 0; i < 5; i++)
            segcl_tensor_destroy(all[i]);
        free(k.x), free(k.g), free(k.y);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_maxpool_ties_and_nan),
        cmocka_unit_test(test_upsample),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_piecewise_finite_differences),
    };
    return test_each_backend_group("activation, pooling and resampling ops", tests, ops_setup,
                                       ops_teardown);
}
