/*
 * A training run's epochs: the steps (learning-rate schedule, forward, loss, backward, the ranks'
 * gradients summed, the optimizer), then validation, a row of metrics.csv, checkpoint.safetensors
 * every epoch and best.safetensors on improvement, and the curve.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "io/svg.h"
#include "train/run_folder.h"
#include "train/train_impl.h"

static float schedule_lr(int kind, float base, long step, long total, int epoch, int epochs)
{
    if (kind == 1 && total > 0)
        return (float)(0.5 * base *
                       (1.0 + cos(3.14159265358979323846 * (double)step / (double)total)));
    if (kind == 2) {
        int every = epochs >= 3 ? epochs / 3 : 1;
        return base * powf(0.1f, (float)(epoch / every));
    }
    return base;
}

static segcl_status save(run_state *r, const char *name)
{
    char path[1100];
    path_in(path, sizeof path, r->out_dir, name);
    r->meta.seconds = r->seconds_before + (now() - r->t_start);
    return segcl_run_checkpoint_save(r->ctx, path, r->model, &r->meta);
}

/* Rebuilds the curve from metrics.csv, so a resumed run's curve covers the whole run. */
static segcl_status write_curve(run_state *r)
{
    char path[1100], svg[1100];
    path_in(path, sizeof path, r->out_dir, "metrics.csv");
    path_in(svg, sizeof svg, r->out_dir, "curves.svg");
    segcl_metrics_row *rows;
    size_t n;
    segcl_status st = segcl_run_file_check(r->ctx, svg);
    if (!st)
        st = segcl_metrics_read(r->ctx, path, &rows, &n);
    if (st)
        return st;
    segcl_curve_point *pts = segcl_malloc((n ? n : 1) * sizeof *pts);
    if (!pts) {
        segcl_free(rows);
        return segcl_fail(r->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (size_t i = 0; i < n; i++)
        pts[i] = (segcl_curve_point){(long)rows[i].epoch, rows[i].train_loss, rows[i].val_loss,
                                     rows[i].val_dice, rows[i].val_iou};
    st = segcl_write_curve_svg(segcl_context_diag(r->ctx), svg, pts, (int)n);
    segcl_free(pts);
    segcl_free(rows);
    return st;
}

static void report_step(run_state *r, long epoch, float loss)
{
    if (!r->o->progress || !lead(r))
        return;
    double el = now() - r->t_start;
    long left = r->total - r->meta.optimizer.step;
    segcl_train_progress p = {
        .event = 0,
        .epoch = (int)epoch,
        .epochs = r->meta.epochs,
        .step = r->meta.optimizer.step,
        .steps_per_epoch = r->per_epoch,
        .total_steps = r->total,
        .loss = loss,
        .images_per_s = r->images_this_run / (el > 0 ? el : 1e-9),
        .eta_s = r->steps_this_run ? el / (double)r->steps_this_run * (double)left : 0};
    r->o->progress(&p, r->o->user);
}

/* Data-parallel: every parameter's gradient (and the loss in v[0]) summed over the ranks in
 * rank order and divided by their number, so each rank holds the gradient of the global
 * batch's mean loss; the same on every rank. */
static segcl_status sum_gradients(run_state *r, float *loss)
{
    segcl_context *ctx = r->ctx;
    size_t at = 0;
    segcl_status st = SEGCL_OK;
    const size_t nparams = segcl_model_param_count(r->model);
    for (size_t i = 0; i < nparams && !st; i++) {
        segcl_param *p = segcl_model_param(r->model, i);
        st = segcl_tensor_read(p->grad, r->grads + at, p->grad->numel);
        at += p->grad->numel;
    }
    if (st)
        return st;
    r->grads[at] = *loss;
    if (r->coll->sum(r->grads, at + 1, r->coll->user) != 0) {
        r->broken = true;
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "rank %d: summing the gradients failed", r->rank);
    }
    const float inv = 1.0f / (float)r->ranks;
    for (size_t k = 0; k <= at; k++)
        r->grads[k] *= inv;
    *loss = r->grads[at];
    at = 0;
    for (size_t i = 0; i < nparams && !st; i++) {
        segcl_param *p = segcl_model_param(r->model, i);
        st = segcl_tensor_write(p->grad, r->grads + at, p->grad->numel);
        at += p->grad->numel;
    }
    return st;
}

/* This rank's part of global batch b: forward, loss and backward (gradients, loss in v). */
static segcl_status compute(run_state *r, long epoch, long b, float v[2], size_t *n)
{
    segcl_context *ctx = r->ctx;
    const size_t plane = (size_t)r->meta.size * r->meta.size, per = 3 * plane;
    segcl_tensor *logits;
    segcl_status st =
        segcl_loader_get(r->train_loader, epoch, (size_t)b, r->host_x, r->host_t, n, NULL);
    if (st)
        return st;
    /* a short last batch: repeat its first images so the batch size stays fixed (BN statistics
     * then see a few images twice, as a dataloader with drop_last=False and padding would) */
    for (size_t s = *n; s < (size_t)r->global_batch; s++) {
        memcpy(r->host_x + s * per, r->host_x + (s - *n) * per, per * sizeof(float));
        memcpy(r->host_t + s * plane, r->host_t + (s - *n) * plane, plane * sizeof(float));
    }
    /* this rank's images: the global batch's slots [rank * batch, (rank + 1) * batch) */
    const size_t first = (size_t)r->rank * (size_t)r->batch;
    if ((st = segcl_tensor_write(r->x, r->host_x + first * per, r->x->numel)) ||
        (st = segcl_tensor_write(r->t, r->host_t + first * plane, r->t->numel)) ||
        (st = segcl_model_zero_grad(r->model)))
        return st;
    if ((st = segcl_model_forward(r->model, r->x, true, &logits)) ||
        (st = segcl_loss(ctx, segcl_model_workspace(r->model), &r->loss_params, logits, r->t,
                         r->dlogits, r->loss)) ||
        (st = segcl_model_backward(r->model, r->dlogits)) ||
        (st = segcl_tensor_read(r->loss, v, 2)))
        r->broken = r->sync_bn != NULL; /* peers may wait in a BatchNorm sum */
    return st;
}

/* One optimizer step on batch b; *stop when the run is done or cancelled (checkpointed).
 * Data-parallel ranks agree first: all stop when one was cancelled or failed. */
static segcl_status step(run_state *r, long epoch, long b, double *loss_sum, long *loss_n,
                         bool *stop)
{
    segcl_context *ctx = r->ctx;
    segcl_optimizer *opt = &r->meta.optimizer;
    if (opt->step >= r->total) {
        *stop = true;
        return SEGCL_OK;
    }
    bool cancelled = r->o->cancel && atomic_load(r->o->cancel);
    if (r->ranks > 1) {
        /* Ctrl-C reaches the ranks at different moments: they stop at the same step */
        int first;
        segcl_status st = segcl_training_first_rank_with(r, cancelled, &first);
        if (st)
            return st;
        cancelled = first >= 0;
    }
    if (cancelled) {
        /* an interrupted epoch: remember how far it got */
        r->meta.epoch = epoch;
        r->meta.batch_in_epoch = b;
        *stop = true;
        r->interrupted = true;
        return lead(r) ? save(r, "checkpoint.safetensors") : SEGCL_OK;
    }
    opt->lr = schedule_lr(r->meta.lr_schedule, r->meta.base_lr, opt->step, r->total, (int)epoch,
                          r->meta.epochs);
    float v[2] = {0, 0};
    size_t n = 0;
    segcl_status st = compute(r, epoch, b, v, &n);
    if (r->ranks > 1 && !r->broken && !(st = segcl_training_agree(r, st)))
        st = sum_gradients(r, &v[0]);
    if (st || (st = segcl_model_step(r->model, opt)))
        return st;
    if (!isfinite(v[0]))
        return segcl_fail_setting(ctx, "lr", SEGCL_ERROR_STATE,
                                  "training diverged at step %ld (loss %g); lower the learning "
                                  "rate",
                                  opt->step, (double)v[0]);
    *loss_sum += v[0];
    (*loss_n)++;
    r->steps_this_run++;
    r->images_this_run += (double)n;
    r->meta.step = opt->step;
    report_step(r, epoch, v[0]);
    return SEGCL_OK;
}

static segcl_status finish_epoch(run_state *r, long epoch, val_result *v, bool *stop,
                                 segcl_train_summary *summary, double loss_sum, long loss_n,
                                 double t_epoch);

segcl_status segcl_training_epoch(run_state *r, long epoch, val_result *v, bool *stop,
                                  segcl_train_summary *summary)
{
    double loss_sum = 0;
    long loss_n = 0;
    const double t_epoch = now();
    segcl_status st = SEGCL_OK;
    for (long b = epoch == r->start_epoch ? r->start_batch : 0; b < r->per_epoch && !st && !*stop;
         b++)
        st = step(r, epoch, b, &loss_sum, &loss_n, stop);
    if (st)
        return st;
    if (r->interrupted) {
        summary->interrupted = 1;
        return SEGCL_OK;
    }
    if (*stop && loss_n == 0)
        return SEGCL_OK;
    if (!lead(r)) {
        /* validation, metrics and checkpoints are rank 0's: wait for its word */
        summary->epochs_done = (int)(epoch + 1);
        return segcl_training_agree(r, SEGCL_OK);
    }
    return segcl_training_agree(
        r, finish_epoch(r, epoch, v, stop, summary, loss_sum, loss_n, t_epoch));
}

/* Rank 0's end of an epoch: validation, metrics, checkpoints, the curve, the report. */
static segcl_status finish_epoch(run_state *r, long epoch, val_result *v, bool *stop,
                                 segcl_train_summary *summary, double loss_sum, long loss_n,
                                 double t_epoch)
{
    segcl_status st;
    if ((st = segcl_training_validate(r, epoch, v)))
        return st;
    segcl_run_config *m = &r->meta;
    const segcl_optimizer *opt = &m->optimizer;
    m->epoch = epoch + 1;
    m->batch_in_epoch = 0;
    if (*stop && opt->step >= r->total && epoch + 1 < m->epochs) {
        /* stopped by --steps inside an epoch: resuming continues from here */
        m->epoch = epoch;
        m->batch_in_epoch = opt->step - r->per_epoch * epoch;
    }
    bool best;
    if (v->foreground) {
        best = v->dice > m->best_dice;
    } else {
        /* Dice has nothing to measure: the best model is the one with the lowest loss */
        if (r->val_loader && !r->told_undefined) {
            segcl_training_notice(
                r,
                "the %zu validation images hold no foreground pixel: Dice and IoU are "
                "undefined (nan), and best.safetensors follows the validation loss",
                r->nval);
            r->told_undefined = true;
        }
        best = isfinite(v->loss) && v->loss < m->best_loss;
    }
    if (best) {
        m->best_dice = v->foreground ? v->dice : NAN;
        m->best_loss = v->loss;
    }
    char metrics[1100];
    path_in(metrics, sizeof metrics, r->out_dir, "metrics.csv");
    const double el = now() - t_epoch, train_loss = loss_n ? loss_sum / (double)loss_n : NAN;
    segcl_metrics_row row = {(double)(epoch + 1),
                             (double)opt->step,
                             opt->lr,
                             train_loss,
                             v->loss,
                             v->dice,
                             v->iou,
                             v->acc,
                             loss_n ? (double)loss_n * r->batch / el : 0,
                             r->seconds_before + (now() - r->t_start)};
    if ((st = segcl_metrics_append(r->ctx, metrics, &row)) ||
        (st = save(r, "checkpoint.safetensors")) || (best && (st = save(r, "best.safetensors"))) ||
        (st = write_curve(r)))
        return st;
    summary->epochs_done = (int)(epoch + 1);
    if (r->o->progress) {
        segcl_train_progress p = {.event = 1,
                                  .epoch = (int)epoch,
                                  .epochs = m->epochs,
                                  .step = opt->step,
                                  .steps_per_epoch = r->per_epoch,
                                  .total_steps = r->total,
                                  .loss = train_loss,
                                  .images_per_s = r->images_this_run / (now() - r->t_start),
                                  .val_loss = v->loss,
                                  .val_dice = v->dice,
                                  .val_iou = v->iou,
                                  .val_pixel_accuracy = v->acc,
                                  .best = best};
        r->o->progress(&p, r->o->user);
    }
    return SEGCL_OK;
}
