/*
 * Half-precision storage (SEGCL_PRECISION_FP16): the host converter on its edge values and
 * against the device's vstore_half_rte; a small U-Net and SegNet trained on synthetic discs in
 * float32, then run in both precisions: logits within 1e-2 of the largest, >= 99.5% of mask
 * pixels the same, Dice within 0.002; an inference pass's device memory at most half; a half
 * context refuses training.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "test_checkpoint.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and float32 context (test_util.h) */

static segcl_context *open_half(void)
{
    segcl_settings s;
    segcl_default_settings(&s);
    s.precision = SEGCL_PRECISION_FP16;
    return test_open_context(&s);
}

static void expect_half(float f, uint16_t bits)
{
    uint16_t h = segcl_half_from_float(f);
    if (h != bits)
        fail_msg("half of %.9g: 0x%04x, expected 0x%04x", (double)f, h, bits);
}

static void test_converter(void **state)
{
    (void)state;
    expect_half(0.0f, 0x0000);
    expect_half(-0.0f, 0x8000);
    expect_half(1.0f, 0x3c00);
    expect_half(-2.0f, 0xc000);
    expect_half(65504.0f, 0x7bff);  /* the largest half */
    expect_half(65519.99f, 0x7bff); /* below the midpoint to the next binade */
    expect_half(65520.0f, 0x7c00);  /* the midpoint: ties to even, which is infinity */
    expect_half(1e6f, 0x7c00);
    expect_half(-1e6f, 0xfc00);
    expect_half(INFINITY, 0x7c00);
    expect_half(-INFINITY, 0xfc00);
    expect_half(ldexpf(1.0f, -14), 0x0400);               /* the smallest normal */
    expect_half(ldexpf(1.0f, -24), 0x0001);               /* the smallest denormal */
    expect_half(ldexpf(1023.0f, -24), 0x03ff);            /* the largest denormal */
    expect_half(ldexpf(1.0f, -25), 0x0000);               /* a tie: to even (zero) */
    expect_half(ldexpf(1.0f, -25) * 1.0001f, 0x0001);     /* just above it */
    expect_half(ldexpf(3.0f, -25), 0x0002);               /* 1.5 denormals: to even, 2 */
    expect_half(ldexpf(1.0f, -26), 0x0000);
    expect_half(-ldexpf(1.0f, -30), 0x8000);
    expect_half(1.0f + ldexpf(1.0f, -11), 0x3c00);        /* ties to even, down */
    expect_half(1.0f + ldexpf(3.0f, -11), 0x3c02);        /* ties to even, up */
    expect_half(1.0f + ldexpf(1.0f, -11) * 1.001f, 0x3c01);
    expect_half(ldexpf(2047.0f, -25), 0x0400);            /* denormal rounding into normal */
    uint16_t nan = segcl_half_from_float(NAN);
    assert_true((nan & 0x7c00) == 0x7c00 && (nan & 0x03ff) != 0);
    assert_true(isnan(segcl_float_from_half(0x7e00)));
    assert_true(segcl_float_from_half(0x7c00) == INFINITY);
    assert_true(segcl_float_from_half(0x0001) == ldexpf(1.0f, -24));
    assert_true(signbit(segcl_float_from_half(0x8000)) && segcl_float_from_half(0x8000) == 0.0f);
    /* every half that is a number goes to float and back unchanged */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue;
        float f = segcl_float_from_half((uint16_t)h);
        if (segcl_half_from_float(f) != h)
            fail_msg("0x%04x -> %.9g -> 0x%04x", h, (double)f, segcl_half_from_float(f));
    }
}

/* The device rounds as the host does (segcl_fill stores with vstore_half_rte), and a half
 * tensor holds 2 bytes an element. */
static void test_device_rounding(void **state)
{
    (void)state;
    segcl_context *ctx = open_half();
    static const float values[] = {0.1f, -3.14159265f, 65504.0f, 70000.0f, 1e-7f, 3e-8f,
                                   1.0f + 1.0f / 2048.0f, 1.0f + 3.0f / 2048.0f, -0.0f, 2.5e-5f};
    const size_t n = sizeof values / sizeof values[0];
    int64_t shape[1] = {4096};
    segcl_tensor *t;
    assert_ok(ctx, segcl_tensor_create(ctx, "t", 1, shape, &t));
    float *back = malloc(4096 * sizeof *back);
    assert_non_null(back);
    uint64_t in_use;
    segcl_context_memory(ctx, &in_use, NULL, false);
    assert_int_equal(in_use, 4096 * 2);
    for (size_t i = 0; i < n; i++) {
        assert_ok(ctx, segcl_fill(ctx, t->buffer, t->numel, values[i]));
        assert_ok(ctx, segcl_tensor_read(t, back, t->numel));
        float want = segcl_float_from_half(segcl_half_from_float(values[i]));
        if (memcmp(&back[0], &want, sizeof want) || memcmp(&back[4095], &want, sizeof want))
            fail_msg("device half of %.9g: %.9g, host: %.9g", (double)values[i],
                     (double)back[0], (double)want);
    }
    free(back);
    segcl_tensor_destroy(t);
    assert_int_equal(segcl_context_set_precision(ctx, SEGCL_PRECISION_FP32), SEGCL_ERROR_STATE);
    assert_int_equal(segcl_context_precision(ctx), SEGCL_PRECISION_FP16);
    segcl_context_destroy(ctx);
}

/* ---- a model trained in float32, run in both precisions ---- */

#define SIDE 32
#define IMAGES 8

/* Image i: a bright disc on a textured background, and its mask. */
static void disc_images(int first, float *x, float *t)
{
    for (int i = 0; i < IMAGES; i++) {
        const int k = first + i;
        const float cx = 8.0f + (float)((k * 7) % 16), cy = 8.0f + (float)((k * 11) % 16);
        const float r = 5.0f + (float)(k % 5);
        for (int y = 0; y < SIDE; y++)
            for (int xx = 0; xx < SIDE; xx++) {
                const float d = hypotf((float)xx - cx, (float)y - cy);
                const int in = d < r;
                const float texture = 0.3f * sinf(0.9f * xx + 0.4f * y + (float)k);
                for (int c = 0; c < 3; c++)
                    x[((size_t)(i * 3 + c) * SIDE + y) * SIDE + xx] =
                        (in ? 0.8f - 0.3f * c : -0.5f + 0.2f * c) + texture;
                t[((size_t)i * SIDE + y) * SIDE + xx] = (float)in;
            }
    }
}

/* Trains a model of arch for a few Adam steps on the discs and saves it to path. */
static void train_to(segcl_arch arch, const char *path)
{
    segcl_context *ctx = fx.ctx;
    segcl_model_config cfg = {arch, 1, 8, 2, 3};
    segcl_model *m;
    assert_ok(ctx, segcl_model_create(ctx, &cfg, &m));
    assert_ok(ctx, segcl_model_init(m, 5));
    int64_t xs[4] = {IMAGES, 3, SIDE, SIDE}, ts[4] = {IMAGES, 1, SIDE, SIDE}, two[1] = {2};
    segcl_tensor *x, *t, *dl, *loss, *logits;
    assert_ok(ctx, segcl_tensor_create(ctx, "x", 4, xs, &x));
    assert_ok(ctx, segcl_tensor_create(ctx, "t", 4, ts, &t));
    assert_ok(ctx, segcl_tensor_create(ctx, "dl", 4, ts, &dl));
    assert_ok(ctx, segcl_tensor_create(ctx, "loss", 1, two, &loss));
    float *hx = malloc(x->numel * sizeof *hx), *ht = malloc(t->numel * sizeof *ht);
    assert_true(hx && ht);
    segcl_optimizer opt;
    segcl_optimizer_defaults(&opt, SEGCL_OPTIMIZER_ADAM);
    opt.lr = 1e-2f;
    segcl_loss_params lp;
    segcl_loss_default_params(&lp, SEGCL_LOSS_BCE);
    for (int step = 0; step < 40; step++) {
        disc_images(step % 4 * IMAGES, hx, ht);
        assert_ok(ctx, segcl_tensor_write(x, hx, x->numel));
        assert_ok(ctx, segcl_tensor_write(t, ht, t->numel));
        assert_ok(ctx, segcl_model_zero_grad(m));
        assert_ok(ctx, segcl_model_forward(m, x, true, &logits));
        assert_ok(ctx, segcl_loss(ctx, segcl_model_workspace(m), &lp, logits, t, dl, loss));
        assert_ok(ctx, segcl_model_backward(m, dl));
        assert_ok(ctx, segcl_model_step(m, &opt));
    }
    segcl_run_config meta;
    segcl_run_config_defaults(&meta);
    meta.from_segcl = true;
    meta.model = cfg;
    meta.size = SIDE;
    meta.classes_loss = SEGCL_LOSS_BCE;
    assert_ok(ctx, segcl_run_checkpoint_save(ctx, path, m, &meta));
    free(hx);
    free(ht);
    segcl_tensor_destroy(x);
    segcl_tensor_destroy(t);
    segcl_tensor_destroy(dl);
    segcl_tensor_destroy(loss);
    segcl_model_destroy(m);
}

/* The logits of the checkpoint at path for x, on ctx. */
static void logits_of(segcl_context *ctx, const char *path, const float *hx, float *out)
{
    segcl_run_config meta;
    segcl_model *m;
    assert_ok(ctx, segcl_run_config_read(ctx, path, &meta));
    assert_ok(ctx, segcl_model_create(ctx, &meta.model, &m));
    assert_ok(ctx, segcl_checkpoint_load(ctx, path, m, 0));
    int64_t xs[4] = {IMAGES, 3, SIDE, SIDE};
    segcl_tensor *x, *logits;
    assert_ok(ctx, segcl_tensor_create(ctx, "x", 4, xs, &x));
    assert_ok(ctx, segcl_tensor_write(x, hx, x->numel));
    assert_ok(ctx, segcl_model_forward(m, x, false, &logits));
    assert_ok(ctx, segcl_tensor_read(logits, out, logits->numel));
    segcl_tensor_destroy(x);
    segcl_model_destroy(m);
}

static double dice_of(const float *logits, const float *t, size_t n)
{
    double inter = 0, pred = 0, truth = 0;
    for (size_t i = 0; i < n; i++) {
        const int p = logits[i] > 0.0f;
        inter += p && t[i] > 0.5f;
        pred += p;
        truth += t[i] > 0.5f;
    }
    return pred + truth > 0 ? 2 * inter / (pred + truth) : 1.0;
}

/* The acceptance criteria of half storage, per image. */
static void compare_precisions(segcl_arch arch, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.safetensors", fx.temp, name);
    train_to(arch, path);
    const size_t plane = SIDE * SIDE;
    float *hx = malloc(IMAGES * 3 * plane * sizeof *hx), *ht = malloc(IMAGES * plane * sizeof *ht);
    float *l32 = malloc(IMAGES * plane * sizeof *l32), *l16 = malloc(IMAGES * plane * sizeof *l16);
    assert_true(hx && ht && l32 && l16);
    disc_images(100, hx, ht); /* images the model never saw */
    logits_of(fx.ctx, path, hx, l32);
    segcl_context *half = open_half();
    logits_of(half, path, hx, l16);
    segcl_context_destroy(half);
    for (int i = 0; i < IMAGES; i++) {
        const float *a = l32 + i * plane, *b = l16 + i * plane, *t = ht + i * plane;
        double most = 0, diff = 0;
        size_t same = 0;
        for (size_t p = 0; p < plane; p++) {
            most = fmax(most, fabs(a[p]));
            diff = fmax(diff, fabs((double)a[p] - b[p]));
            same += (a[p] > 0.0f) == (b[p] > 0.0f);
        }
        const double dice32 = dice_of(a, t, plane), dice16 = dice_of(b, t, plane);
        print_message("%s image %d: max |l16 - l32| %.3g of max |l32| %.3g (%.2e), masks %.4f "
                      "the same, Dice %.4f / %.4f\n",
                      name, i, diff, most, diff / most, (double)same / plane, dice32, dice16);
        assert_true(dice32 > 0.5); /* the model learnt the discs: the comparison means something */
        assert_true(diff <= 1e-2 * most);
        assert_true((double)same >= 0.995 * plane);
        assert_true(fabs(dice32 - dice16) <= 0.002);
    }
    free(hx);
    free(ht);
    free(l32);
    free(l16);
}

static void test_unet_accuracy(void **state)
{
    (void)state;
    compare_precisions(SEGCL_ARCH_UNET, "unet");
}

static void test_segnet_accuracy(void **state)
{
    (void)state;
    compare_precisions(SEGCL_ARCH_SEGNET, "segnet");
}

/* The device memory of one inference pass of arch (the model segcl bench runs: depth 4, width
 * 16) at size x size, on ctx: segcl's own accounting, as segcl_bench_run() reports it
 * (its training phase, slow on the simulated devices and not part of the figure, is not run). */
static uint64_t inference_bytes(segcl_context *ctx, segcl_arch arch, int batch, int size)
{
    segcl_model_config cfg = {arch, 1, 16, 4, 3};
    int64_t xs[4] = {batch, 3, size, size};
    uint64_t base, peak;
    segcl_model *m;
    segcl_tensor *x, *logits;
    segcl_context_memory(ctx, &base, NULL, true);
    assert_ok(ctx, segcl_model_create(ctx, &cfg, &m));
    assert_ok(ctx, segcl_model_init(m, 1));
    assert_ok(ctx, segcl_tensor_create(ctx, "images", 4, xs, &x));
    assert_ok(ctx, segcl_fill(ctx, x->buffer, x->numel, 0.5f));
    assert_ok(ctx, segcl_model_forward(m, x, false, &logits));
    assert_ok(ctx, segcl_context_finish(ctx));
    segcl_context_memory(ctx, NULL, &peak, true);
    segcl_tensor_destroy(x);
    segcl_model_destroy(m);
    return peak - base;
}

/* An inference pass of the lesson's networks holds at most half the device memory in half, on
 * both backends (their implicit GEMMs read and write half directly). The image-by-image column
 * path (SEGCL_NO_IMPLICIT: float copies of the operands for CLBlast) is measured and printed,
 * not held to it. */
static void test_memory_halves(void **state)
{
    (void)state;
    segcl_context *half = open_half();
    const bool implicit = getenv("SEGCL_NO_IMPLICIT") == NULL;
    static const segcl_arch arches[] = {SEGCL_ARCH_UNET, SEGCL_ARCH_SEGNET};
    static const char *const names[] = {"unet", "segnet"};
    for (int a = 0; a < 2; a++) {
        const uint64_t b32 = inference_bytes(fx.ctx, arches[a], 8, 128);
        const uint64_t b16 = inference_bytes(half, arches[a], 8, 128);
        print_message("%s 128x128 batch 8: inference %llu bytes in fp32, %llu in fp16 (%.3f)\n",
                      names[a], (unsigned long long)b32, (unsigned long long)b16,
                      (double)b16 / (double)b32);
        assert_true(b16 > 0);
        if (implicit)
            assert_true(2 * b16 <= b32);
    }
    /* segcl bench reports the same accounting (inference only in half; a small size, as
     * bench runs a few passes) */
    segcl_bench_result r16;
    assert_ok(half, segcl_bench_run(half, "segnet", 2, 32, 0.0, &r16));
    assert_true(r16.train_device_bytes == 0);
    assert_true(r16.infer_device_bytes == inference_bytes(half, SEGCL_ARCH_SEGNET, 2, 32));
    segcl_context_destroy(half);
}

/* The logits of a small untrained U-Net on ctx (weights from seed 3, the same in any
 * precision before rounding). */
static void small_logits(segcl_context *ctx, float *out, size_t n)
{
    segcl_model_config cfg = {SEGCL_ARCH_UNET, 2, 4, 2, 3};
    segcl_model *m;
    assert_ok(ctx, segcl_model_create(ctx, &cfg, &m));
    assert_ok(ctx, segcl_model_init(m, 3));
    int64_t xs[4] = {1, 3, 16, 16};
    segcl_tensor *x, *logits;
    assert_ok(ctx, segcl_tensor_create(ctx, "x", 4, xs, &x));
    float v[3 * 16 * 16];
    for (size_t i = 0; i < x->numel; i++)
        v[i] = (float)sin((double)i * 0.37) * 2.0f;
    assert_ok(ctx, segcl_tensor_write(x, v, x->numel));
    assert_ok(ctx, segcl_model_forward(m, x, false, &logits));
    assert_int_equal(logits->numel, n);
    assert_ok(ctx, segcl_tensor_read(logits, out, n));
    segcl_tensor_destroy(x);
    segcl_model_destroy(m);
}

/* Every inference kernel in half on a small pass (quick enough for the simulator, whose
 * bounds and race checks then cover the half loads and stores): logits within 1e-2 of the
 * largest of float32's. */
static void test_small_forward(void **state)
{
    (void)state;
    enum { N = 2 * 16 * 16 };
    float l32[N], l16[N];
    small_logits(fx.ctx, l32, N);
    segcl_context *half = open_half();
    small_logits(half, l16, N);
    segcl_context_destroy(half);
    double most = 0, diff = 0;
    for (int i = 0; i < N; i++) {
        most = fmax(most, fabs(l32[i]));
        diff = fmax(diff, fabs((double)l32[i] - l16[i]));
    }
    print_message("small U-Net: max |l16 - l32| %.3g of max |l32| %.3g\n", diff, most);
    assert_true(most > 0 && diff <= 1e-2 * most);
}

/* Training needs float32: a half context says so in one line. */
static void test_refuses_training(void **state)
{
    (void)state;
    segcl_context *ctx = open_half();
    segcl_model_config cfg = {SEGCL_ARCH_UNET, 1, 4, 2, 3};
    segcl_model *m;
    assert_ok(ctx, segcl_model_create(ctx, &cfg, &m));
    assert_ok(ctx, segcl_model_init(m, 1));
    int64_t xs[4] = {1, 3, 16, 16};
    segcl_tensor *x, *logits;
    assert_ok(ctx, segcl_tensor_create(ctx, "x", 4, xs, &x));
    assert_int_equal(segcl_model_forward(m, x, true, &logits), SEGCL_ERROR_STATE);
    assert_non_null(strstr(segcl_context_error(ctx), "needs a float32 context"));
    assert_null(strchr(segcl_context_error(ctx), '\n'));
    assert_string_equal(segcl_context_error_setting(ctx), "precision");
    assert_int_equal(segcl_model_backward(m, x), SEGCL_ERROR_STATE);
    segcl_train_options o;
    segcl_train_default_options(&o);
    segcl_train_summary sum;
    assert_int_equal(segcl_train(ctx, &o, &sum), SEGCL_ERROR_STATE);
    assert_non_null(strstr(segcl_context_error(ctx), "training needs a float32 context"));
    segcl_selftest_report rep;
    assert_int_equal(segcl_selftest(ctx, &rep), SEGCL_ERROR_STATE);
    char out[512];
    snprintf(out, sizeof out, "%s/export.onnx", fx.temp);
    assert_int_equal(segcl_export_onnx(ctx, "unused.safetensors", out), SEGCL_ERROR_STATE);
    assert_non_null(strstr(segcl_context_error(ctx), "export (float32 weights) needs a float32"));
    segcl_tensor_destroy(x);
    segcl_model_destroy(m);
    segcl_context_destroy(ctx);
}

static int setup(void **state)
{
    (void)state;
    return test_fixture_setup(&fx, "half", TEST_FIXTURE_TEMP | TEST_FIXTURE_DEVICE);
}

static int teardown(void **state)
{
    (void)state;
    return test_fixture_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest quick[] = {
        cmocka_unit_test(test_converter),
        cmocka_unit_test(test_device_rounding),
        cmocka_unit_test(test_small_forward),
        cmocka_unit_test(test_refuses_training),
    };
    const struct CMUnitTest models[] = {
        cmocka_unit_test(test_unet_accuracy),
        cmocka_unit_test(test_segnet_accuracy),
        cmocka_unit_test(test_memory_halves),
    };
    int failed = cmocka_run_group_tests_name("half storage", quick, setup, teardown);
    /* training the models and the memory figures at 128 x 128: too slow for the simulator */
    segcl_context *ctx = test_open_context(NULL);
    segcl_device_info info;
    bool simulator = segcl_context_device_info(ctx, &info) || strstr(info.platform_name, "Oclgrind");
    segcl_context_destroy(ctx);
    if (!simulator)
        failed += cmocka_run_group_tests_name("half storage of models", models, setup, teardown);
    return failed;
}
