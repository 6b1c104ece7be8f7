/*
 * Kernel launches per training step and per inference pass (issue 17): the same at batch 8
 * and batch 32, and for the U-Net at depth 4 within 250 per training step and 60 per
 * inference pass, on every backend the test device runs. Launches are counted by the
 * context (segcl_context_kernel_launches: each of segcl's kernels, each CLBlast call as one).
 * Neither the step nor the pass makes the host wait for the queue (no blocking read, no
 * clFinish), with SEGCL_PROFILE unset. Small images keep it fast.
 * SEGCL_TEST_LAUNCHES_VERBOSE=1 prints the counts per kernel (SEGCL_PROFILE must be set too).
 */
#include <stdlib.h>

#include "test_util.h"

#include "cl/cl.h"
#include "model/model.h"

enum { MAX_TRAIN_LAUNCHES = 250, MAX_INFER_LAUNCHES = 60 };

typedef struct counts {
    uint64_t train, infer;
    uint64_t waits; /* times the host waited for the queue in the measured step and pass */
} counts;

/* Launches of one training step (zero grad, forward, loss, backward, Adam) and of one
 * inference pass, after a first round of each (which may build kernels and plan memory). */
static void count_step(segcl_context *ctx, segcl_arch arch, int batch, int size, counts *out)
{
    segcl_model_config cfg = {arch, 1, 4, 4, 3};
    segcl_model *m = NULL;
    segcl_tensor *x = NULL, *t = NULL, *dl = NULL, *loss = NULL, *logits;
    int64_t xs[4] = {batch, 3, size, size}, ts[4] = {batch, 1, size, size}, two[1] = {2};
    assert_ok(ctx, segcl_model_create(ctx, &cfg, &m));
    assert_ok(ctx, segcl_model_init(m, 1));
    assert_ok(ctx, segcl_tensor_create(ctx, "images", 4, xs, &x));
    assert_ok(ctx, segcl_tensor_create(ctx, "masks", 4, ts, &t));
    assert_ok(ctx, segcl_tensor_create(ctx, "dlogits", 4, ts, &dl));
    assert_ok(ctx, segcl_tensor_create(ctx, "loss", 1, two, &loss));
    assert_ok(ctx, segcl_fill(ctx, x->buffer, x->numel, 0.5f));
    assert_ok(ctx, segcl_fill(ctx, t->buffer, t->numel, 1.0f));
    segcl_optimizer opt;
    segcl_optimizer_defaults(&opt, SEGCL_OPTIMIZER_ADAM);
    segcl_loss_params lp;
    segcl_loss_default_params(&lp, SEGCL_LOSS_BCE);
    const bool verbose = getenv("SEGCL_TEST_LAUNCHES_VERBOSE") != NULL;
    uint64_t waits = 0;
    for (int round = 0; round < 2; round++) {
        uint64_t before = segcl_context_kernel_launches(ctx);
        waits = segcl_context_host_waits(ctx);
        segcl_profile_reset(ctx);
        assert_ok(ctx, segcl_model_zero_grad(m));
        assert_ok(ctx, segcl_model_forward(m, x, true, &logits));
        assert_ok(ctx, segcl_loss(ctx, segcl_model_workspace(m), &lp, logits, t, dl, loss));
        assert_ok(ctx, segcl_model_backward(m, dl));
        assert_ok(ctx, segcl_model_step(m, &opt));
        out->train = segcl_context_kernel_launches(ctx) - before;
        out->waits = segcl_context_host_waits(ctx) - waits;
    }
    if (verbose) {
        print_message("training step, batch %d:\n", batch);
        segcl_profile_print(ctx, stderr);
    }
    for (int round = 0; round < 2; round++) {
        uint64_t before = segcl_context_kernel_launches(ctx);
        waits = segcl_context_host_waits(ctx);
        segcl_profile_reset(ctx);
        assert_ok(ctx, segcl_model_forward(m, x, false, &logits));
        out->infer = segcl_context_kernel_launches(ctx) - before;
    }
    out->waits += segcl_context_host_waits(ctx) - waits;
    if (verbose) {
        print_message("inference pass, batch %d:\n", batch);
        segcl_profile_print(ctx, stderr);
    }
    assert_ok(ctx, segcl_context_finish(ctx));
    segcl_tensor_destroy(x);
    segcl_tensor_destroy(t);
    segcl_tensor_destroy(dl);
    segcl_tensor_destroy(loss);
    segcl_model_destroy(m);
}

static void check_arch(segcl_arch arch, const char *name)
{
    segcl_context *ctx = test_open_context(NULL);
    const int size = getenv("SEGCL_TEST_SMALL") ? 16 : 32;
    counts small = {0, 0, 0}, large = {0, 0, 0};
    count_step(ctx, arch, 8, size, &small);
    count_step(ctx, arch, 32, size, &large);
    const char *style = segcl_context_params(ctx)->cpu_style ? "CPU" : "GPU";
    print_message("%s, %s-style kernels: %llu / %llu launches per training step at batch 8 / 32, "
                  "%llu / %llu per inference pass\n",
                  name, style, (unsigned long long)small.train, (unsigned long long)large.train,
                  (unsigned long long)small.infer, (unsigned long long)large.infer);
    /* the queue runs a whole step without the host waiting on it */
    assert_int_equal(small.waits, 0);
    assert_int_equal(large.waits, 0);
    assert_int_equal(small.train, large.train);
    assert_int_equal(small.infer, large.infer);
    if (arch == SEGCL_ARCH_UNET) {
        assert_in_range(small.train, 1, MAX_TRAIN_LAUNCHES);
        assert_in_range(small.infer, 1, MAX_INFER_LAUNCHES);
    }
    segcl_context_destroy(ctx);
}

static void test_unet_launches(void **state)
{
    (void)state;
    check_arch(SEGCL_ARCH_UNET, "U-Net depth 4");
}

static void test_segnet_launches(void **state)
{
    (void)state;
    check_arch(SEGCL_ARCH_SEGNET, "SegNet depth 4");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unet_launches),
        cmocka_unit_test(test_segnet_launches),
    };
    return test_each_backend_group("launches per step", tests, NULL, NULL);
}
