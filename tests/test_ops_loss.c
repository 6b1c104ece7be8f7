/*
 * What training adds to the network's ops: the losses (BCE, cross-entropy with class weights
 * and an ignore index, Dice, BCE + Dice) and their gradients against the double references in
 * reference.c with finite-difference checks, the Adam and SGD steps, and the confusion counts
 * and the scores made from them. Helpers: test_ops_util.h.
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

/* ---- losses -----------------------------------------------------------------------------------
 */

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
    segcl_tensor *tx = tensor4("logits", n, classes, h, w, k.x),
                 *tt = tensor4("targets", n, 1, h, w, k.t);
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
    float *got = read_tensor(tl);
    if (!(fabs(got[0] - ref) <= 1e-5 * fabs(ref) + 1e-6))
        fail_msg("loss kind %d classes %d: got %.9g, reference %.9g", kind, classes, got[0], ref);
    compare_tensor("dlogits", tdx, rdx, 1e-5, 1e-4);
    float *g = read_tensor(tdx);
    fd_check("dlogits", loss_objective, &k, k.x, nx, g, 16, NULL);
    /* evaluation: the loss without gradients */
    assert_ok(ctx, segcl_loss(ctx, ws, &p, tx, tt, NULL, tl));
    float *got2 = read_tensor(tl);
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
    float *l = read_tensor(tl), *g = read_tensor(tdx);
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

/* ---- optimizers -------------------------------------------------------------------------------
 */

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
        segcl_tensor *tp = tensor1("param", (int64_t)n, p0),
                     *tg = tensor1("grad", (int64_t)n, NULL);
        segcl_tensor *tm = tensor1("m", (int64_t)n, NULL), *tv = tensor1("v", (int64_t)n, NULL);
        double *p = zeros(n), *m = zeros(n), *v = zeros(n);
        memcpy(p, p0, n * sizeof *p);
        segcl_adam_params ap = {.lr = 1e-3f,
                                .beta1 = 0.9f,
                                .beta2 = 0.999f,
                                .eps = 1e-8f,
                                .weight_decay = variant == 0 ? 1e-6f : 1e-2f,
                                .decoupled = variant == 1};
        segcl_sgd_params sp = {.lr = 0.1f,
                               .momentum = variant == 2 ? 0.0f : 0.9f,
                               .dampening = 0.0f,
                               .weight_decay = 1e-4f,
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
        float *got = read_tensor(tp);
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

/* ---- metrics ----------------------------------------------------------------------------------
 */

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
        segcl_tensor *tx = tensor4("logits", n, classes, h, w, x),
                     *tt = tensor4("t", n, 1, h, w, t);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_losses),     cmocka_unit_test(test_loss_extremes),
        cmocka_unit_test(test_optimizers), cmocka_unit_test(test_confusion),
        cmocka_unit_test(test_scores),
    };
    return test_each_backend_group("loss, optimizer and metric ops", tests, ops_setup,
                                       ops_teardown);
}
