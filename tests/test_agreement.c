/*
 * The same answers on every OpenCL implementation: the lesson U-Net and SegNet (depth 4, at
 * half the lesson's width and 16x16, batch 2, so that a simulator runs them in a minute) give
 * the same training- and eval-mode logits, the same losses over two SGD steps, and the same
 * logits after them, on PoCL's CPU path, PoCL with the GPU path forced
 * (SEGCL_KERNEL_STYLE=gpu: CLBlast GEMMs and a work-item per element), Mesa's rusticl and
 * Oclgrind, and so do the weights after the two steps, within 1e-4 of each tensor's largest
 * magnitude. (At the lesson's full width SegNet's weights can differ more: where two pooled
 * values are equal to within float32 rounding, implementations may route a channel's gradient
 * through different max-pool indices; measured once at 16x16, a BN bias 2.9e-4 apart, while
 * the outputs agreed.) The platforms are registered for this process only (OCL_ICD_VENDORS); an
 * implementation that is not installed is skipped with a message, and at least two must run;
 * one that SEGCL_REQUIRE_IMPLEMENTATIONS names (tools/test.sh sets "rusticl,oclgrind" in CI)
 * is a failure when it does not open.
 * PoCL's CPU path is the reference the others are compared with.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "model/model.h"
#include "test_util.h"

#define TOLERANCE 1e-4
#define SIZE 16
#define BATCH 2
#define WIDTH 8

typedef struct implementation {
    const char *label;
    const char *device; /* a name segcl_device_resolve takes */
    const char *style;  /* SEGCL_KERNEL_STYLE while the context opens, or NULL */
} implementation;

static const implementation implementations[] = {
    {"PoCL, CPU path", "portable computing", "cpu"},
    {"PoCL, GPU path", "portable computing", "gpu"},
    {"rusticl", "rusticl", NULL},
    {"Oclgrind", "oclgrind", NULL},
};
#define IMPLEMENTATIONS (sizeof implementations / sizeof implementations[0])

/* What one implementation computed, on the host. */
typedef struct result {
    bool ran;
    float *train_logits, *eval_logits, *after_logits, losses[2];
    float **weights; /* per parameter, after two SGD steps */
    size_t nparams;
} result;

static char vendors[256];

static segcl_tensor *tensor(segcl_context *ctx, const char *name, int64_t c, const float *values)
{
    int64_t shape[4] = {BATCH, c, SIZE, SIZE};
    segcl_tensor *t;
    assert_ok(ctx, segcl_tensor_create(ctx, name, 4, shape, &t));
    if (values)
        assert_ok(ctx, segcl_tensor_write(t, values, t->numel));
    return t;
}

static float *read_all(segcl_context *ctx, segcl_tensor *t)
{
    float *host = malloc(t->numel * sizeof *host);
    assert_non_null(host);
    assert_ok(ctx, segcl_tensor_read(t, host, t->numel));
    return host;
}

/* Whether SEGCL_REQUIRE_IMPLEMENTATIONS (a comma-separated list of device names, as CI sets
 * it: "rusticl,oclgrind") names impl, which must then run rather than be skipped. */
static bool required(const implementation *impl)
{
    const char *list = getenv("SEGCL_REQUIRE_IMPLEMENTATIONS");
    const size_t n = strlen(impl->device);
    for (const char *p = list; p && *p; p += strcspn(p, ",")) {
        p += *p == ',';
        if (strncasecmp(p, impl->device, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
    }
    return false;
}

static void compute(const implementation *impl, segcl_arch arch, result *r)
{
    memset(r, 0, sizeof *r);
    segcl_context *ctx;
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    segcl_settings s;
    segcl_default_settings(&s);
    s.device = impl->device;
    s.kernel_cache = SEGCL_KERNEL_CACHE_OFF;
    if (impl->style)
        setenv("SEGCL_KERNEL_STYLE", impl->style, 1);
    segcl_status st = segcl_context_open(ctx, &s);
    unsetenv("SEGCL_KERNEL_STYLE");
    if (st == SEGCL_ERROR_NO_DEVICE && required(impl)) {
        char why[512];
        snprintf(why, sizeof why, "%s", segcl_context_error(ctx));
        segcl_context_destroy(ctx);
        fail_msg("%s is required (SEGCL_REQUIRE_IMPLEMENTATIONS=%s) but does not open here: %s",
                 impl->label, getenv("SEGCL_REQUIRE_IMPLEMENTATIONS"), why);
    }
    if (st == SEGCL_ERROR_NO_DEVICE) {
        print_message("skipping %s: not installed here\n", impl->label);
        segcl_context_destroy(ctx);
        return;
    }
    assert_ok(ctx, st);
    const size_t plane = SIZE * SIZE;
    float x[BATCH * 3 * SIZE * SIZE], t[BATCH * SIZE * SIZE];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)((i * 37 % 101) / 101.0 - 0.3);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t px = i % plane, y = px / SIZE, xx = px % SIZE;
        t[i] = (y - 8.0) * (y - 8.0) + (xx - 6.0 - i / plane) * (xx - 6.0 - i / plane) < 20 ? 1.0f
                                                                                         : 0.0f;
    }
    segcl_model_config cfg = {arch, 1, WIDTH, 4, 3};
    segcl_model *m;
    assert_ok(ctx, segcl_model_create(ctx, &cfg, &m));
    assert_ok(ctx, segcl_model_init(m, 5));
    segcl_tensor *xt = tensor(ctx, "x", 3, x), *tt = tensor(ctx, "t", 1, t);
    segcl_tensor *dl = tensor(ctx, "dlogits", 1, NULL), *logits, *loss;
    int64_t two[1] = {2};
    assert_ok(ctx, segcl_tensor_create(ctx, "loss", 1, two, &loss));
    assert_ok(ctx, segcl_model_forward(m, xt, false, &logits));
    r->eval_logits = read_all(ctx, logits);
    segcl_optimizer opt;
    segcl_optimizer_defaults(&opt, SEGCL_OPTIMIZER_SGD);
    opt.lr = 1e-2f;
    segcl_loss_params lp;
    segcl_loss_default_params(&lp, SEGCL_LOSS_BCE);
    for (int step = 0; step < 2; step++) {
        assert_ok(ctx, segcl_model_zero_grad(m));
        assert_ok(ctx, segcl_model_forward(m, xt, true, &logits));
        if (step == 0)
            r->train_logits = read_all(ctx, logits);
        assert_ok(ctx, segcl_loss(ctx, segcl_model_workspace(m), &lp, logits, tt, dl, loss));
        assert_ok(ctx, segcl_model_backward(m, dl));
        assert_ok(ctx, segcl_model_step(m, &opt));
        float l[2];
        assert_ok(ctx, segcl_tensor_read(loss, l, 2));
        r->losses[step] = l[0];
    }
    assert_ok(ctx, segcl_model_forward(m, xt, false, &logits));
    r->after_logits = read_all(ctx, logits);
    r->nparams = segcl_model_param_count(m);
    r->weights = calloc(r->nparams, sizeof *r->weights);
    for (size_t i = 0; i < r->nparams; i++)
        r->weights[i] = read_all(ctx, segcl_model_param(m, i)->value);
    r->ran = true;
    segcl_tensor_destroy(xt), segcl_tensor_destroy(tt), segcl_tensor_destroy(dl),
        segcl_tensor_destroy(loss);
    segcl_model_destroy(m);
    segcl_context_destroy(ctx);
}

static void free_result(result *r)
{
    free(r->train_logits);
    free(r->eval_logits);
    free(r->after_logits);
    for (size_t i = 0; r->weights && i < r->nparams; i++)
        free(r->weights[i]);
    free(r->weights);
}

/* Largest difference relative to the reference's largest magnitude. */
static double relative(const float *ref, const float *got, size_t n)
{
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)got[i] - ref[i]));
    return worst / (scale > 0 ? scale : 1);
}

static void agree(segcl_arch arch, const char *name)
{
    result r[IMPLEMENTATIONS];
    size_t ran = 0;
    for (size_t k = 0; k < IMPLEMENTATIONS; k++) {
        compute(&implementations[k], arch, &r[k]);
        ran += r[k].ran;
    }
    assert_true(r[0].ran);
    assert_true(ran >= 2);
    /* the parameter sizes, from a model on the host side */
    segcl_context *ctx;
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    assert_ok(ctx, segcl_context_open(ctx, NULL));
    segcl_model_config cfg = {arch, 1, WIDTH, 4, 3};
    segcl_model *m;
    assert_ok(ctx, segcl_model_create(ctx, &cfg, &m));
    const size_t logits = BATCH * SIZE * SIZE;
    for (size_t k = 1; k < IMPLEMENTATIONS; k++) {
        if (!r[k].ran)
            continue;
        double train = relative(r[0].train_logits, r[k].train_logits, logits);
        double eval = relative(r[0].eval_logits, r[k].eval_logits, logits);
        double after = relative(r[0].after_logits, r[k].after_logits, logits);
        double loss = relative(r[0].losses, r[k].losses, 2), weights = 0;
        const char *worst = "";
        for (size_t i = 0; i < r[0].nparams; i++) {
            segcl_param *p = segcl_model_param(m, i);
            double d = relative(r[0].weights[i], r[k].weights[i], p->value->numel);
            if (d > weights)
                weights = d, worst = p->name;
        }
        print_message("%s: %s vs %s: logits %.2g (eval %.2g), losses %.2g, after two SGD steps "
                      "logits %.2g, weights %.2g (%s)\n",
                      name, implementations[k].label, implementations[0].label, train, eval, loss,
                      after, weights, worst);
        if (!(train <= TOLERANCE && eval <= TOLERANCE && loss <= TOLERANCE &&
              after <= TOLERANCE && weights <= TOLERANCE))
            fail_msg("%s: %s disagrees with %s beyond %g", name, implementations[k].label,
                     implementations[0].label, TOLERANCE);
    }
    segcl_model_destroy(m);
    segcl_context_destroy(ctx);
    for (size_t k = 0; k < IMPLEMENTATIONS; k++)
        free_result(&r[k]);
}

static void test_unet_agrees(void **state)
{
    (void)state;
    agree(SEGCL_ARCH_UNET, "U-Net");
}

static void test_segnet_agrees(void **state)
{
    (void)state;
    agree(SEGCL_ARCH_SEGNET, "SegNet");
}

/* Registers the installed implementations for this process: PoCL and rusticl from the system's
 * vendor folder, Oclgrind's ICD from its package. */
static void register_implementations(void)
{
    if (test_temp_dir(vendors, sizeof vendors, "vendors"))
        return;
    const char *system_icds[] = {"/etc/OpenCL/vendors/pocl.icd", "/etc/OpenCL/vendors/rusticl.icd"};
    const char *oclgrind[] = {"/usr/lib/oclgrind/liboclgrind-rt-icd.so",
                              "/usr/lib/x86_64-linux-gnu/oclgrind/liboclgrind-rt-icd.so"};
    char cmd[1024];
    for (size_t i = 0; i < 2; i++)
        if (access(system_icds[i], R_OK) == 0) {
            snprintf(cmd, sizeof cmd, "cp '%s' '%s/'", system_icds[i], vendors);
            if (system(cmd) != 0)
                print_message("cannot copy %s\n", system_icds[i]);
        }
    for (size_t i = 0; i < 2; i++)
        if (access(oclgrind[i], R_OK) == 0) {
            snprintf(cmd, sizeof cmd, "echo '%s' > '%s/oclgrind.icd'", oclgrind[i], vendors);
            if (system(cmd) != 0)
                print_message("cannot register Oclgrind\n");
            break;
        }
    setenv("OCL_ICD_VENDORS", vendors, 1);
    setenv("RUSTICL_ENABLE", "llvmpipe", 0);
    unsetenv("SEGCL_DEVICE");
}

int main(void)
{
    register_implementations();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unet_agrees),
        cmocka_unit_test(test_segnet_agrees),
    };
    int failed = cmocka_run_group_tests_name("agreement", tests, NULL, NULL);
    if (vendors[0] && test_remove_tree(vendors) != 0)
        failed++;
    return failed;
}
