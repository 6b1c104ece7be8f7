/*
 * Pixel-wise losses (kernels/loss.cl): BCE with logits, softmax cross-entropy with class
 * weights and an ignore index (PyTorch's weighted mean), soft Dice, and BCE/CE + Dice. The loss
 * value stays on the device (loss[0]) so a training step never waits for it.
 */
#include "ops/ops.h"

#define LOSS_GROUPS 64

void segcl_loss_default_params(segcl_loss_params *p, segcl_loss_kind kind)
{
    p->kind = kind;
    p->class_weights = NULL;
    p->ignore_index = -100;
    p->dice_smooth = 1.0f;
}

static segcl_status sum_partials(segcl_context *ctx, cl_mem partials, cl_uint count, cl_mem out,
                                 cl_uint index, float scale)
{
    size_t wg;
    const char *options;
    segcl_status st = segcl_reduction_group(ctx, &wg, &options);
    if (st)
        return st;
    size_t global = wg, local = wg;
    return segcl_run(ctx, "reduce", options, "sum_partials", 1, &global, &local,
                     SEGCL_ARGS(SEGCL_ARG(partials), SEGCL_ARG(count), SEGCL_ARG(out),
                                SEGCL_ARG(index), SEGCL_ARG(scale)));
}

static segcl_status bce(segcl_context *ctx, const segcl_tensor *x, const segcl_tensor *t,
                        segcl_tensor *dx, bool accumulate, cl_mem loss, cl_uint loss_index,
                        cl_mem scratch)
{
    cl_uint n = (cl_uint)x->numel, acc = accumulate, groups = LOSS_GROUPS;
    float scale = 1.0f / (float)n;
    size_t wg;
    const char *options;
    segcl_status st = segcl_reduction_group(ctx, &wg, &options);
    if (st)
        return st;
    size_t global = (size_t)LOSS_GROUPS * wg, local = wg;
    cl_mem g = dx ? dx->buffer : NULL;
    st = segcl_run(ctx, "loss", options, "bce_logits", 1, &global, &local,
                                SEGCL_ARGS(SEGCL_ARG(x->buffer), SEGCL_ARG(t->buffer),
                                           SEGCL_ARG(n), SEGCL_ARG(scale), SEGCL_ARG(g),
                                           SEGCL_ARG(acc), SEGCL_ARG(scratch)));
    return st ? st : sum_partials(ctx, scratch, groups, loss, loss_index, scale);
}

static segcl_status cross_entropy(segcl_context *ctx, const segcl_loss_params *p,
                                  const segcl_tensor *x, const segcl_tensor *t, segcl_tensor *dx,
                                  bool accumulate, cl_mem loss, cl_mem scratch)
{
    cl_uint n = (cl_uint)x->shape[0], classes = (cl_uint)x->shape[1];
    cl_uint plane = (cl_uint)(x->shape[2] * x->shape[3]), groups = LOSS_GROUPS;
    cl_uint use_w = p->class_weights != NULL, acc = accumulate;
    cl_int ignore = p->ignore_index;
    cl_mem weights = p->class_weights ? p->class_weights->buffer : NULL;
    /* scratch: [0, G) partial losses, [G, 2G) partial weights, [2G, 2G + 2) {loss, weight} */
    cl_mem stats = scratch;
    size_t wg;
    const char *options;
    segcl_status st = segcl_reduction_group(ctx, &wg, &options);
    if (st)
        return st;
    size_t global = (size_t)LOSS_GROUPS * wg, local = wg;
    cl_uint off_w = LOSS_GROUPS, off_s = 2 * LOSS_GROUPS;
    st = segcl_run(
        ctx, "loss", options, "softmax_ce_partials", 1, &global, &local,
        SEGCL_ARGS(SEGCL_ARG(x->buffer), SEGCL_ARG(t->buffer), SEGCL_ARG(weights),
                   SEGCL_ARG(use_w), SEGCL_ARG(ignore), SEGCL_ARG(n), SEGCL_ARG(classes),
                   SEGCL_ARG(plane), SEGCL_ARG(scratch), SEGCL_ARG(off_w)));
    if (st)
        return st;
    size_t one = wg;
    if ((st = segcl_run(ctx, "loss", options, "softmax_ce_finish", 1, &one, &local,
                        SEGCL_ARGS(SEGCL_ARG(scratch), SEGCL_ARG(off_w), SEGCL_ARG(groups),
                                   SEGCL_ARG(stats), SEGCL_ARG(off_s)))))
        return st;
    /* loss[0] = stats[0] */
    size_t g1 = 1;
    if ((st = segcl_run(ctx, "loss", options, "copy_scalar", 1, &g1, NULL,
                        SEGCL_ARGS(SEGCL_ARG(scratch), SEGCL_ARG(off_s), SEGCL_ARG(loss)))))
        return st;
    if (!dx)
        return SEGCL_OK;
    float grad_scale = 1.0f;
    size_t pixels = (size_t)n * plane;
    return segcl_run(ctx, "loss", options, "softmax_ce_backward", 1, &pixels, NULL,
                     SEGCL_ARGS(SEGCL_ARG(x->buffer), SEGCL_ARG(t->buffer), SEGCL_ARG(weights),
                                SEGCL_ARG(use_w), SEGCL_ARG(ignore), SEGCL_ARG(n),
                                SEGCL_ARG(classes), SEGCL_ARG(plane), SEGCL_ARG(scratch),
                                SEGCL_ARG(off_s), SEGCL_ARG(grad_scale), SEGCL_ARG(dx->buffer),
                                SEGCL_ARG(acc)));
}

static segcl_status dice(segcl_context *ctx, const segcl_loss_params *p, const segcl_tensor *x,
                         const segcl_tensor *t, segcl_tensor *dx, bool accumulate, cl_mem loss,
                         cl_uint loss_index, cl_mem scratch)
{
    cl_uint n = (cl_uint)x->shape[0], classes = (cl_uint)x->shape[1];
    cl_uint plane = (cl_uint)(x->shape[2] * x->shape[3]), count = n * classes;
    cl_uint acc = accumulate;
    float smooth = p->dice_smooth;
    size_t wg;
    const char *options;
    segcl_status st = segcl_reduction_group(ctx, &wg, &options);
    if (st)
        return st;
    size_t global = (size_t)count * wg, local = wg;
    st = segcl_run(ctx, "loss", options, "dice_sums", 1, &global, &local,
                                SEGCL_ARGS(SEGCL_ARG(x->buffer), SEGCL_ARG(t->buffer),
                                           SEGCL_ARG(classes), SEGCL_ARG(plane),
                                           SEGCL_ARG(scratch)));
    size_t one = wg;
    if (st || (st = segcl_run(ctx, "loss", options, "dice_finish", 1, &one, &local,
                              SEGCL_ARGS(SEGCL_ARG(scratch), SEGCL_ARG(count), SEGCL_ARG(smooth),
                                         SEGCL_ARG(loss), SEGCL_ARG(loss_index)))))
        return st;
    if (!dx)
        return SEGCL_OK;
    float grad_scale = 1.0f;
    size_t pixels = (size_t)n * plane;
    return segcl_run(ctx, "loss", options, "dice_backward", 1, &pixels, NULL,
                     SEGCL_ARGS(SEGCL_ARG(x->buffer), SEGCL_ARG(t->buffer), SEGCL_ARG(scratch),
                                SEGCL_ARG(n), SEGCL_ARG(classes), SEGCL_ARG(plane),
                                SEGCL_ARG(smooth), SEGCL_ARG(grad_scale), SEGCL_ARG(dx->buffer),
                                SEGCL_ARG(acc)));
}

segcl_status segcl_loss(segcl_context *ctx, segcl_workspace *ws, const segcl_loss_params *p,
                        const segcl_tensor *logits, const segcl_tensor *targets,
                        segcl_tensor *dlogits, segcl_tensor *loss)
{
    const char *op = "loss";
    if (!p || !logits || !targets || !loss || logits->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "loss: logits must be NCHW");
    if (segcl_require_fp32(ctx, "the loss (training and validation)"))
        return SEGCL_ERROR_STATE;
    int64_t ts[4] = {logits->shape[0], 1, logits->shape[2], logits->shape[3]};
    cl_uint u;
    segcl_status st;
    if ((st = segcl_expect_shape(ctx, op, "targets", targets, 4, ts)) ||
        (dlogits && (st = segcl_expect_shape(ctx, op, "logit gradient", dlogits, 4,
                                             logits->shape))) ||
        (st = segcl_u32(ctx, op, logits->numel, &u)))
        return st;
    if (loss->numel < 2)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "loss: the loss tensor needs 2 elements (total, second term)");
    const int64_t classes = logits->shape[1];
    const bool binary = classes == 1;
    if (p->class_weights) {
        int64_t wshape[1] = {classes};
        if ((st = segcl_expect_shape(ctx, op, "class weights", p->class_weights, 1, wshape)))
            return st;
    }
    if ((p->kind == SEGCL_LOSS_BCE && !binary) || (p->kind == SEGCL_LOSS_CE && binary))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "loss: %s needs %s logit per pixel, the model has %lld",
                          p->kind == SEGCL_LOSS_BCE ? "BCE" : "cross-entropy",
                          p->kind == SEGCL_LOSS_BCE ? "one" : "two or more",
                          (long long)classes);
    if (classes > SEGCL_MAX_CLASSES)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "loss: at most %d classes",
                          SEGCL_MAX_CLASSES);
    cl_mem scratch;
    size_t need = 2 * LOSS_GROUPS + 8 + 3 * (size_t)logits->shape[0] * (size_t)classes;
    if ((st = segcl_small_scratch(ctx, ws, need, &scratch)))
        return st;
    switch (p->kind) {
    case SEGCL_LOSS_BCE:
        return bce(ctx, logits, targets, dlogits, false, loss->buffer, 0, scratch);
    case SEGCL_LOSS_CE:
        return cross_entropy(ctx, p, logits, targets, dlogits, false, loss->buffer, scratch);
    case SEGCL_LOSS_DICE:
        return dice(ctx, p, logits, targets, dlogits, false, loss->buffer, 0, scratch);
    case SEGCL_LOSS_BCE_DICE:
        /* loss[1] holds the Dice term, then loss[0] += loss[1] */
        st = binary ? bce(ctx, logits, targets, dlogits, false, loss->buffer, 0, scratch)
                    : cross_entropy(ctx, p, logits, targets, dlogits, false, loss->buffer,
                                    scratch);
        if (st || (st = dice(ctx, p, logits, targets, dlogits, true, loss->buffer, 1, scratch)))
            return st;
        {
            size_t g1 = 1, wg;
            const char *options;
            if ((st = segcl_reduction_group(ctx, &wg, &options)))
                return st;
            return segcl_run(ctx, "loss", options, "add_scalar", 1, &g1, NULL,
                             SEGCL_ARGS(SEGCL_ARG(loss->buffer)));
        }
    }
    return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "loss: unknown kind %d", (int)p->kind);
}
