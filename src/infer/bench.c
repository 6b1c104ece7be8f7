/* `segcl bench`: training and inference throughput of a built-in model on random data, and
 * the device memory each phase holds (segcl's own accounting of its buffers). */
#include <string.h>
#include <time.h>

#include "model/model.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct bench_state {
    segcl_context *ctx;
    segcl_model *m;
    segcl_tensor *x, *t, *dl, *loss;
    int batch;
    double seconds;
} bench_state;

/* One timed phase (0: training steps, 1: inference passes): images/s after a first, untimed
 * round that builds the kernels, and the kernel launches of the last round. */
static segcl_status run_phase(bench_state *b, int phase, double *images_per_s,
                              uint64_t *launches)
{
    segcl_optimizer opt;
    segcl_optimizer_defaults(&opt, SEGCL_OPTIMIZER_ADAM);
    segcl_loss_params lp;
    segcl_loss_default_params(&lp, SEGCL_LOSS_BCE);
    segcl_tensor *logits;
    segcl_status st = SEGCL_OK;
    int reps = 0;
    double t0 = 0, el = 0;
    for (int i = 0; !st; i++) {
        if (i == 1)
            t0 = now();
        const uint64_t before = segcl_context_kernel_launches(b->ctx);
        if (phase == 0) {
            if ((st = segcl_model_zero_grad(b->m)) ||
                (st = segcl_model_forward(b->m, b->x, true, &logits)) ||
                (st = segcl_loss(b->ctx, segcl_model_workspace(b->m), &lp, logits, b->t, b->dl,
                                 b->loss)) ||
                (st = segcl_model_backward(b->m, b->dl)) || (st = segcl_model_step(b->m, &opt)))
                break;
        } else if ((st = segcl_model_forward(b->m, b->x, false, &logits))) {
            break;
        }
        *launches = segcl_context_kernel_launches(b->ctx) - before;
        if ((st = segcl_context_finish(b->ctx)))
            break;
        if (i >= 1) {
            reps++;
            el = now() - t0;
            if (el >= b->seconds && reps >= 2)
                break;
        }
    }
    if (!st)
        *images_per_s = b->batch * reps / el;
    return st;
}

segcl_status segcl_bench_run(segcl_context *ctx, const char *arch, int batch, int size,
                             double seconds, segcl_bench_result *result)
{
    if (!ctx || !arch || batch < 1 || size < 16 || size % 16 || !result)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "bench: batch >= 1 and size a multiple of 16");
    if (strcmp(arch, "unet") && strcmp(arch, "segnet"))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "unknown architecture '%s'", arch);
    memset(result, 0, sizeof *result);
    segcl_model_config cfg = {strcmp(arch, "segnet") ? SEGCL_ARCH_UNET : SEGCL_ARCH_SEGNET, 1, 16,
                              4, 3};
    bench_state b = {.ctx = ctx, .batch = batch, .seconds = seconds};
    int64_t xs[4] = {batch, 3, size, size}, ts[4] = {batch, 1, size, size}, two[1] = {2};
    uint64_t base, peak;
    segcl_context_memory(ctx, &base, NULL, true);
    /* inference first, so that its memory is its own (a training plan would serve it too) */
    segcl_status st;
    if ((st = segcl_model_create(ctx, &cfg, &b.m)) || (st = segcl_model_init(b.m, 1)) ||
        (st = segcl_tensor_create(ctx, "images", 4, xs, &b.x)) ||
        (st = segcl_fill(ctx, b.x->buffer, b.x->numel, 0.5f)) ||
        (st = run_phase(&b, 1, &result->infer_images_per_s, &result->infer_launches)))
        goto done;
    segcl_context_memory(ctx, NULL, &peak, true);
    result->infer_device_bytes = peak - base;
    if (segcl_context_precision(ctx) != SEGCL_PRECISION_FP32)
        goto done; /* a half context only infers */
    if ((st = segcl_tensor_create(ctx, "masks", 4, ts, &b.t)) ||
        (st = segcl_tensor_create(ctx, "dlogits", 4, ts, &b.dl)) ||
        (st = segcl_tensor_create(ctx, "loss", 1, two, &b.loss)) ||
        (st = segcl_fill(ctx, b.t->buffer, b.t->numel, 1.0f)) ||
        (st = run_phase(&b, 0, &result->train_images_per_s, &result->train_launches)))
        goto done;
    segcl_context_memory(ctx, NULL, &peak, false);
    result->train_device_bytes = peak - base;
done:
    segcl_tensor_destroy(b.x);
    segcl_tensor_destroy(b.t);
    segcl_tensor_destroy(b.dl);
    segcl_tensor_destroy(b.loss);
    segcl_model_destroy(b.m);
    return st;
}

segcl_status segcl_bench(segcl_context *ctx, const char *arch, int batch, int size, double seconds,
                         double *train_ips, double *infer_ips)
{
    if (!train_ips || !infer_ips)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_bench: NULL argument");
    segcl_bench_result r;
    segcl_status st = segcl_bench_run(ctx, arch, batch, size, seconds, &r);
    if (!st)
        *train_ips = r.train_images_per_s, *infer_ips = r.infer_images_per_s;
    return st;
}
