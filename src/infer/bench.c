/* `segcl bench`: training and inference throughput of a built-in model on random data. */
#include <string.h>
#include <time.h>

#include "model/model.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

segcl_status segcl_bench(segcl_context *ctx, const char *arch, int batch, int size, double seconds,
                         double *train_ips, double *infer_ips)
{
    if (!ctx || !arch || batch < 1 || size < 16 || size % 16 || !train_ips || !infer_ips)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "bench: batch >= 1 and size a multiple of 16");
    if (strcmp(arch, "unet") && strcmp(arch, "segnet"))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "unknown architecture '%s'", arch);
    segcl_model_config cfg = {strcmp(arch, "segnet") ? SEGCL_ARCH_UNET : SEGCL_ARCH_SEGNET, 1, 16,
                              4, 3};
    segcl_model *m = NULL;
    segcl_tensor *x = NULL, *t = NULL, *dl = NULL, *loss = NULL, *logits;
    int64_t xs[4] = {batch, 3, size, size}, ts[4] = {batch, 1, size, size}, two[1] = {2};
    segcl_status st;
    if ((st = segcl_model_create(ctx, &cfg, &m)) || (st = segcl_model_init(m, 1)) ||
        (st = segcl_tensor_create(ctx, "images", 4, xs, &x)) ||
        (st = segcl_tensor_create(ctx, "masks", 4, ts, &t)) ||
        (st = segcl_tensor_create(ctx, "dlogits", 4, ts, &dl)) ||
        (st = segcl_tensor_create(ctx, "loss", 1, two, &loss)) ||
        (st = segcl_fill(ctx, x->buffer, x->numel, 0.5f)) ||
        (st = segcl_fill(ctx, t->buffer, t->numel, 1.0f)))
        goto done;
    segcl_optimizer opt;
    segcl_optimizer_defaults(&opt, SEGCL_OPTIMIZER_ADAM);
    segcl_loss_params lp;
    segcl_loss_default_params(&lp, SEGCL_LOSS_BCE);
    for (int phase = 0; phase < 2 && !st; phase++) {
        int reps = 0;
        double t0 = 0, el = 0;
        for (int i = 0; !st; i++) {
            if (i == 1) /* the first round builds kernels: not timed */
                t0 = now();
            if (phase == 0) {
                if ((st = segcl_model_zero_grad(m)) ||
                    (st = segcl_model_forward(m, x, true, &logits)) ||
                    (st = segcl_loss(ctx, segcl_model_workspace(m), &lp, logits, t, dl, loss)) ||
                    (st = segcl_model_backward(m, dl)) || (st = segcl_model_step(m, &opt)))
                    break;
            } else if ((st = segcl_model_forward(m, x, false, &logits))) {
                break;
            }
            if ((st = segcl_context_finish(ctx)))
                break;
            if (i >= 1) {
                reps++;
                el = now() - t0;
                if (el >= seconds && reps >= 2)
                    break;
            }
        }
        if (!st)
            *(phase == 0 ? train_ips : infer_ips) = batch * reps / el;
    }
done:
    segcl_tensor_destroy(x);
    segcl_tensor_destroy(t);
    segcl_tensor_destroy(dl);
    segcl_tensor_destroy(loss);
    segcl_model_destroy(m);
    return st;
}
