/*
 * Ops against PyTorch: inputs, outputs and gradients written by tools/gen_reference.py
 * (torch 1.13, float32) in tests/data/ops.golden. Tolerance for every comparison:
 * |segcl - torch| <= 1e-4 * max|torch| + 1e-4 * |torch| (both sides are float32; this is the
 * "same answers as PyTorch within 1e-4" bar, relative to the tensor's scale).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static segcl_context *ctx;
static segcl_workspace *ws; /* the ops' scratch */
static golden_file gold;

static const golden_entry *entry(const char *name)
{
    return golden_need(&gold, name);
}

static segcl_tensor *from_golden(const char *name)
{
    const golden_entry *e = entry(name);
    assert_int_equal(e->stride, 1);
    segcl_tensor *t;
    assert_ok(ctx, segcl_tensor_create(ctx, name, e->ndim, e->shape, &t));
    assert_ok(ctx, segcl_tensor_write(t, e->values, e->count));
    return t;
}

static segcl_tensor *like(const char *name, const char *golden_name)
{
    const golden_entry *e = entry(golden_name);
    segcl_tensor *t;
    assert_ok(ctx, segcl_tensor_create(ctx, name, e->ndim, e->shape, &t));
    assert_ok(ctx, segcl_fill(ctx, t->buffer, t->numel, 0.0f));
    return t;
}

static void check(segcl_tensor *t, const char *golden_name)
{
    const golden_entry *e = entry(golden_name);
    assert_int_equal(t->numel, e->numel);
    float *got = malloc(t->numel * sizeof *got);
    assert_non_null(got);
    assert_ok(ctx, segcl_tensor_read(t, got, t->numel));
    double scale = 0;
    for (size_t i = 0; i < e->count; i++)
        scale = fmax(scale, fabs(e->values[i]));
    for (size_t i = 0; i < e->count; i++) {
        double ref = e->values[i], v = got[i * e->stride];
        if (!(fabs(v - ref) <= 1e-4 * scale + 1e-4 * fabs(ref)))
            fail_msg("%s[%zu]: segcl %.9g, PyTorch %.9g", golden_name, i * e->stride, v, ref);
    }
    free(got);
}

static void destroy(segcl_tensor **ts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        segcl_tensor_destroy(ts[i]);
}

static void test_conv2d_vs_torch(void **state)
{
    (void)state;
    segcl_tensor *x = from_golden("conv2d.x"), *w = from_golden("conv2d.w");
    segcl_tensor *b = from_golden("conv2d.b"), *dy = from_golden("conv2d.dy");
    segcl_tensor *y = like("y", "conv2d.y"), *dx = like("dx", "conv2d.dx");
    segcl_tensor *dw = like("dw", "conv2d.dw"), *db = like("db", "conv2d.db");
    segcl_conv_params p = {3, 3, 1, 1};
    assert_ok(ctx, segcl_conv2d_forward(ctx, ws, &p, x, w, b, y));
    assert_ok(ctx, segcl_conv2d_backward(ctx, ws, &p, x, w, dy, dx, dw, db, false));
    check(y, "conv2d.y");
    check(dx, "conv2d.dx");
    check(dw, "conv2d.dw");
    check(db, "conv2d.db");
    segcl_tensor *all[] = {x, w, b, dy, y, dx, dw, db};
    destroy(all, 8);
}

static void test_conv_transpose2d_vs_torch(void **state)
{
    (void)state;
    segcl_tensor *x = from_golden("convt2d.x"), *w = from_golden("convt2d.w");
    segcl_tensor *b = from_golden("convt2d.b"), *dy = from_golden("convt2d.dy");
    segcl_tensor *y = like("y", "convt2d.y"), *dx = like("dx", "convt2d.dx");
    segcl_tensor *dw = like("dw", "convt2d.dw"), *db = like("db", "convt2d.db");
    segcl_conv_params p = {2, 2, 2, 0};
    assert_ok(ctx, segcl_conv_transpose2d_forward(ctx, ws, &p, x, w, b, y));
    assert_ok(ctx, segcl_conv_transpose2d_backward(ctx, ws, &p, x, w, dy, dx, dw, db, false));
    check(y, "convt2d.y");
    check(dx, "convt2d.dx");
    check(dw, "convt2d.dw");
    check(db, "convt2d.db");
    segcl_tensor *all[] = {x, w, b, dy, y, dx, dw, db};
    destroy(all, 8);
}

static void test_batchnorm_vs_torch(void **state)
{
    (void)state;
    segcl_tensor *x = from_golden("batchnorm.x"), *dy = from_golden("batchnorm.dy");
    segcl_tensor *y = like("y", "batchnorm.y"), *dx = like("dx", "batchnorm.dx");
    segcl_tensor *dg = like("dgamma", "batchnorm.dgamma"), *dbt = like("dbeta", "batchnorm.dbeta");
    segcl_batchnorm bn = {.gamma = from_golden("batchnorm.gamma"),
                          .beta = from_golden("batchnorm.beta"),
                          .running_mean = like("rm", "batchnorm.running_mean"),
                          .running_var = like("rv", "batchnorm.running_var"),
                          .save_mean = like("sm", "batchnorm.gamma"),
                          .save_invstd = like("si", "batchnorm.gamma"),
                          .scale = like("scale", "batchnorm.gamma"),
                          .shift = like("shift", "batchnorm.gamma"),
                          .eps = 1e-5f, .momentum = 0.1f};
    assert_ok(ctx, segcl_fill(ctx, bn.running_var->buffer, bn.running_var->numel, 1.0f));
    assert_ok(ctx, segcl_batchnorm_forward(ctx, ws, &bn, x, y, true, NULL));
    assert_ok(ctx, segcl_batchnorm_backward(ctx, ws, &bn, x, dy, dx, dg, dbt, true, false, NULL));
    check(y, "batchnorm.y");
    check(dx, "batchnorm.dx");
    check(dg, "batchnorm.dgamma");
    check(dbt, "batchnorm.dbeta");
    check(bn.running_mean, "batchnorm.running_mean");
    check(bn.running_var, "batchnorm.running_var");
    segcl_tensor *all[] = {x, dy, y, dx, dg, dbt, bn.gamma, bn.beta, bn.running_mean,
                           bn.running_var, bn.save_mean, bn.save_invstd, bn.scale, bn.shift};
    destroy(all, 14);
}

static void test_maxpool_vs_torch(void **state)
{
    (void)state;
    segcl_tensor *x = from_golden("maxpool.x"), *dy = from_golden("maxpool.dy");
    segcl_tensor *y = like("y", "maxpool.y"), *idx = like("indices", "maxpool.y");
    segcl_tensor *dx = like("dx", "maxpool.dx");
    segcl_pool_params p = {2, 2, 0};
    assert_ok(ctx, segcl_maxpool_forward(ctx, &p, x, y, idx));
    assert_ok(ctx, segcl_maxpool_backward(ctx, &p, dy, idx, dx, false));
    check(y, "maxpool.y");
    check(dx, "maxpool.dx");
    segcl_tensor *all[] = {x, dy, y, idx, dx};
    destroy(all, 5);
}

static void test_upsample_vs_torch(void **state)
{
    (void)state;
    const char *modes[] = {"upsample_align", "upsample_halfpixel"};
    for (int m = 0; m < 2; m++) {
        char n_x[64], n_y[64], n_dy[64], n_dx[64];
        snprintf(n_x, sizeof n_x, "%s.x", modes[m]);
        snprintf(n_y, sizeof n_y, "%s.y", modes[m]);
        snprintf(n_dy, sizeof n_dy, "%s.dy", modes[m]);
        snprintf(n_dx, sizeof n_dx, "%s.dx", modes[m]);
        segcl_tensor *x = from_golden(n_x), *dy = from_golden(n_dy);
        segcl_tensor *y = like("y", n_y), *dx = like("dx", n_dx);
        assert_ok(ctx, segcl_upsample_bilinear_forward(ctx, ws, x, y, m == 0));
        assert_ok(ctx, segcl_upsample_bilinear_backward(ctx, ws, dy, dx, m == 0, false));
        check(y, n_y);
        check(dx, n_dx);
        segcl_tensor *all[] = {x, dy, y, dx};
        destroy(all, 4);
    }
}

static void test_losses_vs_torch(void **state)
{
    (void)state;
    segcl_tensor *x = from_golden("bce.x"), *t = from_golden("bce.t");
    segcl_tensor *dx = like("dx", "bce.dx"), *loss;
    int64_t two[1] = {2};
    assert_ok(ctx, segcl_tensor_create(ctx, "loss", 1, two, &loss));
    segcl_loss_params p;
    segcl_loss_default_params(&p, SEGCL_LOSS_BCE);
    assert_ok(ctx, segcl_loss(ctx, ws, &p, x, t, dx, loss));
    float l[2];
    assert_ok(ctx, segcl_tensor_read(loss, l, 2));
    assert_float_equal(l[0], entry("bce.loss")->values[0], 1e-5f * fabsf(l[0]));
    check(dx, "bce.dx");
    segcl_tensor *all[] = {x, t, dx};
    destroy(all, 3);

    x = from_golden("ce.x");
    t = from_golden("ce.t");
    dx = like("dx", "ce.dx");
    segcl_tensor *wt = from_golden("ce.weights");
    segcl_loss_default_params(&p, SEGCL_LOSS_CE);
    p.class_weights = wt;
    p.ignore_index = 255;
    assert_ok(ctx, segcl_loss(ctx, ws, &p, x, t, dx, loss));
    assert_ok(ctx, segcl_tensor_read(loss, l, 2));
    assert_float_equal(l[0], entry("ce.loss")->values[0], 1e-5f * fabsf(l[0]));
    check(dx, "ce.dx");
    segcl_tensor *all2[] = {x, t, dx, wt, loss};
    destroy(all2, 5);
}

static int setup(void **state)
{
    (void)state;
    if (golden_load(&gold, "ops.golden"))
        return -1;
    if (test_fixture_setup(&fx, "golden-ops", TEST_FIXTURE_DEVICE) ||
        segcl_workspace_create(fx.ctx, &ws))
        return -1;
    ctx = fx.ctx;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    segcl_workspace_destroy(ws);
    golden_free(&gold);
    return test_fixture_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_vs_torch),
        cmocka_unit_test(test_conv_transpose2d_vs_torch),
        cmocka_unit_test(test_batchnorm_vs_torch),
        cmocka_unit_test(test_maxpool_vs_torch),
        cmocka_unit_test(test_upsample_vs_torch),
        cmocka_unit_test(test_losses_vs_torch),
    };
    return test_each_backend_group("golden-ops", tests, setup, teardown);
}
