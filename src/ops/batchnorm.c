/*
 * Batch normalisation over (N, H, W) per channel with PyTorch's semantics: training mode
 * normalises with the batch mean and biased variance (two passes: mean, then squared
 * deviations, for accuracy) and updates running statistics with the unbiased variance;
 * evaluation mode uses the running statistics. Both fold into y = scale * x + shift.
 */
#include "ops/ops.h"

static segcl_status check(segcl_context *ctx, const char *op, const segcl_batchnorm *bn,
                          const segcl_tensor *x, cl_uint *n, cl_uint *channels, cl_uint *plane,
                          cl_uint *total)
{
    if (!bn || !x || x->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: input must be NCHW", op);
    int64_t c[1] = {x->shape[1]};
    segcl_status st;
    if ((st = segcl_expect_shape(ctx, op, "gamma", bn->gamma, 1, c)) ||
        (st = segcl_expect_shape(ctx, op, "beta", bn->beta, 1, c)) ||
        (st = segcl_expect_shape(ctx, op, "running mean", bn->running_mean, 1, c)) ||
        (st = segcl_expect_shape(ctx, op, "running variance", bn->running_var, 1, c)) ||
        (st = segcl_expect_shape(ctx, op, "saved mean", bn->save_mean, 1, c)) ||
        (st = segcl_expect_shape(ctx, op, "saved invstd", bn->save_invstd, 1, c)) ||
        (st = segcl_expect_shape(ctx, op, "scale", bn->scale, 1, c)) ||
        (st = segcl_expect_shape(ctx, op, "shift", bn->shift, 1, c)) ||
        (st = segcl_u32(ctx, op, x->numel, total)))
        return st;
    *n = (cl_uint)x->shape[0];
    *channels = (cl_uint)x->shape[1];
    *plane = (cl_uint)(x->shape[2] * x->shape[3]);
    return SEGCL_OK;
}

/* Inference: the running statistics as a per-channel scale and shift (bn->scale, bn->shift). */
static segcl_status eval_fold(segcl_context *ctx, segcl_batchnorm *bn, cl_uint channels)
{
    size_t cglobal = channels;
    return segcl_run(ctx, "bnorm", NULL, "bn_eval_fold", 1, &cglobal, NULL,
                     SEGCL_ARGS(SEGCL_ARG(bn->running_mean->buffer),
                                SEGCL_ARG(bn->running_var->buffer), SEGCL_ARG(bn->gamma->buffer),
                                SEGCL_ARG(bn->beta->buffer), SEGCL_ARG(channels),
                                SEGCL_ARG(bn->eps), SEGCL_ARG(bn->save_mean->buffer),
                                SEGCL_ARG(bn->save_invstd->buffer), SEGCL_ARG(bn->scale->buffer),
                                SEGCL_ARG(bn->shift->buffer)));
}

segcl_status segcl_batchnorm_eval_fold(segcl_context *ctx, segcl_batchnorm *bn)
{
    if (!bn || !bn->scale || !bn->running_mean)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "batchnorm: not set up");
    return eval_fold(ctx, bn, (cl_uint)bn->scale->numel);
}

/* With synchronised BatchNorm (a data-parallel run), the sum over the ranks of `floats`
 * floats of a small device buffer, in place; nothing otherwise. */
static segcl_status sum_over_ranks(segcl_context *ctx, const segcl_collective *c, cl_mem buffer,
                                   size_t floats)
{
    if (!c || c->size < 2)
        return SEGCL_OK;
    float *host = segcl_malloc(floats * sizeof *host);
    if (!host)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    segcl_status st = segcl_mem_read(ctx, buffer, floats, host);
    if (!st && c->sum(host, floats, c->user) != 0)
        st = segcl_fail(ctx, SEGCL_ERROR_STATE,
                        "synchronised BatchNorm: summing %zu statistics over the ranks failed",
                        floats);
    if (!st)
        st = segcl_mem_write(ctx, buffer, floats, host);
    segcl_free(host);
    return st;
}

/* Images the statistics cover: this rank's, times the ranks when they are synchronised. */
static float global_count(const segcl_collective *sync, cl_uint n, cl_uint plane)
{
    const int ranks = sync && sync->size > 1 ? sync->size : 1;
    return (float)n * (float)plane * (float)ranks;
}

/* Training statistics in two launches: each span's sum and squared deviations about its own
 * mean, then one work-group per channel merging the spans in a fixed order into the batch
 * mean and variance, the folded scale and shift, and the running statistics. */
static segcl_status train_stats(segcl_context *ctx, segcl_workspace *ws, segcl_batchnorm *bn,
                                const segcl_tensor *x, cl_uint n, cl_uint channels, cl_uint plane)
{
    segcl_channel_partials cp;
    segcl_status st = segcl_channel_first_stage(ctx, ws, SEGCL_CHANNEL_MOMENTS, x->buffer, NULL,
                                                NULL, NULL, n, channels, plane, &cp);
    if (st)
        return st;
    const float count = (float)n * (float)plane;
    size_t global = (size_t)channels * cp.wg;
    return segcl_run(ctx, "bnorm", cp.options, "bn_stats_merge", 1, &global, &cp.wg,
                     SEGCL_ARGS(SEGCL_ARG(cp.partials), SEGCL_ARG(cp.groups), SEGCL_ARG(cp.span),
                                SEGCL_ARG(count), SEGCL_ARG(bn->gamma->buffer),
                                SEGCL_ARG(bn->beta->buffer), SEGCL_ARG(channels),
                                SEGCL_ARG(bn->eps), SEGCL_ARG(bn->momentum),
                                SEGCL_ARG(bn->running_mean->buffer),
                                SEGCL_ARG(bn->running_var->buffer),
                                SEGCL_ARG(bn->save_mean->buffer),
                                SEGCL_ARG(bn->save_invstd->buffer), SEGCL_ARG(bn->scale->buffer),
                                SEGCL_ARG(bn->shift->buffer)));
}

segcl_status segcl_batchnorm_forward(segcl_context *ctx, segcl_workspace *ws, segcl_batchnorm *bn,
                                     const segcl_tensor *x, segcl_tensor *y, bool training,
                                     const segcl_collective *sync)
{
    const char *op = "batchnorm";
    cl_uint n, channels, plane, total;
    segcl_status st = check(ctx, op, bn, x, &n, &channels, &plane, &total);
    if (st || (st = segcl_expect_shape(ctx, op, "output", y, 4, x->shape)))
        return st;
    size_t cglobal = channels;
    if (training && !(sync && sync->size > 1)) {
        if ((st = train_stats(ctx, ws, bn, x, n, channels, plane)))
            return st;
    } else if (training) {
        cl_mem sqdev;
        if ((st = segcl_small_scratch(ctx, ws, channels, &sqdev)))
            return st;
        /* synchronised: the mean's parts and then the squared deviations about the global
         * mean are summed over the ranks */
        const float count = global_count(sync, n, plane);
        cl_uint one = 1;
        if ((st = segcl_channel_reduce(ctx, ws, SEGCL_CHANNEL_SUM, x->buffer, NULL, NULL, NULL, n,
                                       channels, plane, bn->save_mean->buffer, 0, false,
                                       1.0f / count)) ||
            (st = sum_over_ranks(ctx, sync, bn->save_mean->buffer, channels)) ||
            (st = segcl_channel_reduce(ctx, ws, SEGCL_CHANNEL_SQDEV, x->buffer, NULL,
                                       bn->save_mean->buffer, NULL, n, channels, plane, sqdev, 0,
                                       false, 1.0f)) ||
            (st = sum_over_ranks(ctx, sync, sqdev, channels)) ||
            (st = segcl_run(
                 ctx, "bnorm", NULL, "bn_stats", 1, &cglobal, NULL,
                 SEGCL_ARGS(SEGCL_ARG(bn->save_mean->buffer), SEGCL_ARG(sqdev),
                            SEGCL_ARG(bn->gamma->buffer), SEGCL_ARG(bn->beta->buffer),
                            SEGCL_ARG(channels), SEGCL_ARG(count), SEGCL_ARG(bn->eps),
                            SEGCL_ARG(bn->momentum), SEGCL_ARG(one),
                            SEGCL_ARG(bn->running_mean->buffer), SEGCL_ARG(bn->running_var->buffer),
                            SEGCL_ARG(bn->save_invstd->buffer), SEGCL_ARG(bn->scale->buffer),
                            SEGCL_ARG(bn->shift->buffer)))))
            return st;
    } else if ((st = eval_fold(ctx, bn, channels))) {
        return st;
    }
    return segcl_run_elements(ctx, "bnorm", "bn_apply", plane, (size_t)n * channels,
                              SEGCL_ARGS(SEGCL_ARG(x->buffer), SEGCL_ARG(bn->scale->buffer),
                                         SEGCL_ARG(bn->shift->buffer), SEGCL_ARG(channels),
                                         SEGCL_ARG(plane), SEGCL_ARG(y->buffer)));
}

/* The batch's sums of dy and dy * xhat per channel into `sums`, and this rank's dgamma and
 * dbeta (the optimizer sums every gradient over the ranks), in two launches. */
static segcl_status backward_sums(segcl_context *ctx, segcl_workspace *ws, segcl_batchnorm *bn,
                                  const segcl_tensor *x, const segcl_tensor *dy, cl_uint n,
                                  cl_uint channels, cl_uint plane, cl_mem sums,
                                  segcl_tensor *dgamma, segcl_tensor *dbeta)
{
    segcl_channel_partials cp;
    segcl_status st = segcl_channel_first_stage(ctx, ws, SEGCL_CHANNEL_DY_XHAT, x->buffer,
                                                dy->buffer, bn->save_mean->buffer,
                                                bn->save_invstd->buffer, n, channels, plane, &cp);
    if (st)
        return st;
    cl_mem dg = dgamma ? dgamma->buffer : NULL, db = dbeta ? dbeta->buffer : NULL;
    size_t global = (size_t)channels * cp.wg;
    return segcl_run(ctx, "bnorm", cp.options, "bn_backward_sums", 1, &global, &cp.wg,
                     SEGCL_ARGS(SEGCL_ARG(cp.partials), SEGCL_ARG(cp.groups),
                                SEGCL_ARG(channels), SEGCL_ARG(sums), SEGCL_ARG(dg),
                                SEGCL_ARG(db)));
}

static segcl_status backward(segcl_context *ctx, segcl_workspace *ws, segcl_batchnorm *bn,
                             const segcl_tensor *x, const segcl_tensor *dy, segcl_tensor *dx,
                             segcl_tensor *dgamma, segcl_tensor *dbeta, bool training,
                             bool accumulate, cl_uint relu, const segcl_collective *sync)
{
    const char *op = "batchnorm backward";
    cl_uint n, channels, plane, total;
    segcl_status st = check(ctx, op, bn, x, &n, &channels, &plane, &total);
    int64_t c[1] = {x->shape[1]};
    if (st || (st = segcl_expect_shape(ctx, op, "output gradient", dy, 4, x->shape)) ||
        (dx && (st = segcl_expect_shape(ctx, op, "input gradient", dx, 4, x->shape))) ||
        (dgamma && (st = segcl_expect_shape(ctx, op, "gamma gradient", dgamma, 1, c))) ||
        (dbeta && (st = segcl_expect_shape(ctx, op, "beta gradient", dbeta, 1, c))))
        return st;
    cl_mem sums;
    if ((st = segcl_small_scratch(ctx, ws, 2 * (size_t)channels, &sums)) ||
        (st = backward_sums(ctx, ws, bn, x, dy, n, channels, plane, sums, dgamma, dbeta)) || !dx)
        return st;
    cl_uint acc = accumulate;
    size_t planes = (size_t)n * channels;
    if (!training)
        return segcl_run_elements(
            ctx, "bnorm", "bn_backward_input_eval", plane, planes,
            SEGCL_ARGS(SEGCL_ARG(dy->buffer), SEGCL_ARG(bn->scale->buffer), SEGCL_ARG(channels),
                       SEGCL_ARG(plane), SEGCL_ARG(dx->buffer), SEGCL_ARG(acc)));
    /* the input gradient: the sums over the whole (synchronised) batch */
    const float count = global_count(sync, n, plane);
    if ((st = sum_over_ranks(ctx, sync, sums, 2 * (size_t)channels)))
        return st;
    return segcl_run_elements(
        ctx, "bnorm", "bn_backward_input", plane, planes,
        SEGCL_ARGS(SEGCL_ARG(dy->buffer), SEGCL_ARG(x->buffer), SEGCL_ARG(bn->save_mean->buffer),
                   SEGCL_ARG(bn->save_invstd->buffer), SEGCL_ARG(bn->gamma->buffer),
                   SEGCL_ARG(sums), SEGCL_ARG(channels), SEGCL_ARG(plane), SEGCL_ARG(count),
                   SEGCL_ARG(dx->buffer), SEGCL_ARG(acc), SEGCL_ARG(relu)));
}

segcl_status segcl_batchnorm_backward(segcl_context *ctx, segcl_workspace *ws, segcl_batchnorm *bn,
                                      const segcl_tensor *x, const segcl_tensor *dy,
                                      segcl_tensor *dx, segcl_tensor *dgamma, segcl_tensor *dbeta,
                                      bool training, bool accumulate, const segcl_collective *sync)
{
    return backward(ctx, ws, bn, x, dy, dx, dgamma, dbeta, training, accumulate, 0, sync);
}

segcl_status segcl_batchnorm_relu_backward(segcl_context *ctx, segcl_workspace *ws,
                                           segcl_batchnorm *bn, const segcl_tensor *x,
                                           const segcl_tensor *dy, segcl_tensor *dx,
                                           segcl_tensor *dgamma, segcl_tensor *dbeta,
                                           const segcl_collective *sync)
{
    return backward(ctx, ws, bn, x, dy, dx, dgamma, dbeta, true, false, 1, sync);
}
