/*
 * The training run: set-up (settings from the options or from the checkpoint being resumed,
 * the run folder claimed and locked, the dataset checked up front and split, the model, the
 * loaders), then epochs of steps with the learning-rate schedule, validation with Dice, IoU and
 * pixel accuracy, checkpoint.safetensors every epoch and best.safetensors on improvement,
 * metrics.csv, a curve and overlays. Everything a run depends on is in the checkpoint, so a
 * resumed run ends with the same weights, bit for bit, as one that never stopped.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/data.h"
#include "io/checkpoint.h"
#include "io/svg.h"
#include "picture/picture.h"
#include "model/model.h"
#include "train/run_folder.h"
#include "settings/run_config.h"
#include "train/train_impl.h"

void segcl_train_default_options(segcl_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->arch = segcl_arch_names[SEGCL_ARCH_UNET];
    o->classes = SEGCL_DEFAULT_CLASSES;
    o->width = SEGCL_DEFAULT_WIDTH;
    o->depth = SEGCL_DEFAULT_DEPTH;
    o->size = SEGCL_DEFAULT_SIZE;
    o->epochs = SEGCL_DEFAULT_EPOCHS;
    o->batch = SEGCL_DEFAULT_BATCH;
    o->optimizer = segcl_optimizer_names[SEGCL_OPTIMIZER_ADAM];
    o->lr = SEGCL_DEFAULT_LR;
    o->weight_decay = SEGCL_DEFAULT_WEIGHT_DECAY;
    o->lr_schedule = segcl_schedule_names[0];
    o->val_fraction = SEGCL_DEFAULT_VAL_FRACTION;
    o->seed = SEGCL_DEFAULT_SEED;
    o->shuffle = true;
    o->std[0] = o->std[1] = o->std[2] = 1.0f;
    o->overlays = SEGCL_DEFAULT_OVERLAYS;
}

segcl_status segcl_run_first_rank_with(run_state *r, int flag, int *first)
{
    *first = -1;
    int flags[1024];
    int *all = r->ranks <= 1024 ? flags : segcl_malloc((size_t)r->ranks * sizeof *all);
    if (!all)
        return segcl_fail(r->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    segcl_status st = SEGCL_OK;
    if (r->coll->gather(flag, all, r->coll->user) != 0) {
        r->broken = true;
        st = segcl_fail(r->ctx, SEGCL_ERROR_STATE, "rank %d: exchanging the ranks' state failed",
                        r->rank);
    }
    for (int k = 0; k < r->ranks && !st && *first < 0; k++)
        if (all[k])
            *first = k;
    if (all != flags)
        segcl_free(all);
    return st;
}

segcl_status segcl_run_agree(run_state *r, segcl_status st)
{
    if (!r->coll || r->ranks < 2)
        return st;
    int failed;
    segcl_status gathered = segcl_run_first_rank_with(r, st != SEGCL_OK, &failed);
    if (failed >= 0)
        r->failed_rank = failed;
    if (st || gathered)
        return st ? st : gathered;
    if (failed >= 0)
        return segcl_fail(r->ctx, SEGCL_ERROR_STATE,
                          "rank %d failed (its message says why); every rank stopped", failed);
    return SEGCL_OK;
}

void segcl_run_say_line(void *user, const char *line)
{
    run_state *r = user;
    if (!r->o->progress || !lead(r))
        return;
    segcl_train_progress p = {.event = 2, .notice = line};
    r->o->progress(&p, r->o->user);
}

void segcl_run_notice(run_state *r, const char *fmt, ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "note: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    segcl_run_say_line(r, buf);
}

/* ---- one epoch ---- */

static float schedule_lr(int kind, float base, long step, long total, int epoch, int epochs)
{
    if (kind == 1 && total > 0)
        return (float)(0.5 * base * (1.0 + cos(3.14159265358979323846 * (double)step / (double)total)));
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
    segcl_status st = segcl_metrics_read(r->ctx, path, &rows, &n);
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
        .event = 0, .epoch = (int)epoch, .epochs = r->meta.epochs, .step = r->meta.optimizer.step,
        .steps_per_epoch = r->per_epoch, .total_steps = r->total, .loss = loss,
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
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "rank %d: summing the gradients failed",
                          r->rank);
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
    segcl_status st = segcl_loader_get(r->train_loader, epoch, (size_t)b, r->host_x, r->host_t,
                                       n, NULL);
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
        segcl_status st = segcl_run_first_rank_with(r, cancelled, &first);
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
    if (r->ranks > 1 && !r->broken && !(st = segcl_run_agree(r, st)))
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

/* The steps of one epoch, then (when it completed) validation, metrics, checkpoints, curve. */
static segcl_status run_epoch(run_state *r, long epoch, val_result *v, bool *stop,
                              segcl_train_summary *summary)
{
    double loss_sum = 0;
    long loss_n = 0;
    const double t_epoch = now();
    segcl_status st = SEGCL_OK;
    for (long b = epoch == r->start_epoch ? r->start_batch : 0;
         b < r->per_epoch && !st && !*stop; b++)
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
        return segcl_run_agree(r, SEGCL_OK);
    }
    return segcl_run_agree(r, finish_epoch(r, epoch, v, stop, summary, loss_sum, loss_n, t_epoch));
}

/* Rank 0's end of an epoch: validation, metrics, checkpoints, the curve, the report. */
static segcl_status finish_epoch(run_state *r, long epoch, val_result *v, bool *stop,
                                 segcl_train_summary *summary, double loss_sum, long loss_n,
                                 double t_epoch)
{
    segcl_status st;
    if ((st = segcl_run_validate(r, epoch, v)))
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
            segcl_run_notice(r,
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
    segcl_metrics_row row = {(double)(epoch + 1), (double)opt->step, opt->lr, train_loss,
                             v->loss, v->dice, v->iou, v->acc,
                             loss_n ? (double)loss_n * r->batch / el : 0,
                             r->seconds_before + (now() - r->t_start)};
    if ((st = segcl_metrics_append(r->ctx, metrics, &row)) ||
        (st = save(r, "checkpoint.safetensors")) || (best && (st = save(r, "best.safetensors"))) ||
        (st = write_curve(r)))
        return st;
    summary->epochs_done = (int)(epoch + 1);
    if (r->o->progress) {
        segcl_train_progress p = {.event = 1, .epoch = (int)epoch, .epochs = m->epochs,
                                  .step = opt->step, .steps_per_epoch = r->per_epoch,
                                  .total_steps = r->total, .loss = train_loss,
                                  .images_per_s = r->images_this_run / (now() - r->t_start),
                                  .val_loss = v->loss, .val_dice = v->dice, .val_iou = v->iou,
                                  .val_pixel_accuracy = v->acc, .best = best};
        r->o->progress(&p, r->o->user);
    }
    return SEGCL_OK;
}

static void cleanup(run_state *r)
{
    segcl_loader_destroy(r->train_loader);
    segcl_loader_destroy(r->val_loader);
    segcl_model_destroy(r->model);
    segcl_dataset_destroy(r->ds);
    segcl_tensor_destroy(r->x);
    segcl_tensor_destroy(r->t);
    segcl_tensor_destroy(r->dlogits);
    segcl_tensor_destroy(r->loss);
    segcl_free(r->host_x);
    segcl_free(r->host_t);
    segcl_free(r->host_logits);
    segcl_free(r->grads);
    segcl_free(r->samples);
    segcl_free(r->train_idx);
    segcl_free(r->val_idx);
    segcl_run_folder_release(r->lock_fd);
}

/* Out of device memory: the message gains a batch that would fit, when one does. */
static segcl_status explain_device_memory(run_state *r, segcl_status st)
{
    if (st != SEGCL_ERROR_OUT_OF_DEVICE_MEMORY)
        return st;
    char message[768];
    snprintf(message, sizeof message, "%s", segcl_context_error(r->ctx));
    if (!r->model)
        return segcl_fail_setting(r->ctx, "width", st,
                                  "%s; the model's weights alone do not fit: try a smaller "
                                  "width or depth (or size)",
                                  message);
    uint64_t limit = segcl_memory_limit(r->ctx);
    uint64_t params = segcl_model_parameter_elements(r->model) * sizeof(float) * 4;
    uint64_t one = segcl_model_activation_bytes(r->model, 1, r->meta.size, r->meta.size);
    uint64_t room = limit > params ? (limit - params) / 10 * 7 : 0;
    long fits = one ? (long)(room / one) : 0;
    if (fits >= 1 && fits < r->batch)
        return segcl_fail_setting(r->ctx, "batch", st, "%s; batch %d does not fit: try batch %ld",
                                  message, r->batch, fits);
    return segcl_fail_setting(r->ctx, "size", st,
                              "%s; even batch 1 does not fit: try a smaller size or width",
                              message);
}

segcl_status segcl_train(segcl_context *ctx, const segcl_train_options *o,
                         segcl_train_summary *summary)
{
    if (!ctx || !o || !summary)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_train: NULL argument");
    if (segcl_require_open(ctx))
        return SEGCL_ERROR_STATE;
    memset(summary, 0, sizeof *summary);
    run_state r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.o = o;
    r.lock_fd = -1;
    r.ranks = 1;
    r.failed_rank = -1;
    summary->failed_rank = -1;
    if (o->collective) {
        const segcl_collective *c = o->collective;
        if (c->size < 1 || c->rank < 0 || c->rank >= c->size || !c->sum || !c->gather)
            return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                              "collective: rank %d of %d, or a missing sum or gather", c->rank,
                              c->size);
        r.coll = c;
        r.rank = c->rank;
        r.ranks = c->size;
        if (c->sync_bn && c->size > 1)
            r.sync_bn = c;
    }
    segcl_status st;
    double gemm_error;
    /* a device that multiplies wrongly is refused before anything is trained on it; every
     * rank sets up, then they agree that all did. The check's scratch is kept until the batch
     * is sized, which counts it among the memory in use. */
    segcl_workspace *check_ws = NULL;
    if ((st = segcl_workspace_create(ctx, &check_ws)) ||
        (st = segcl_check_gemm(ctx, check_ws, false, &gemm_error)) ||
        (st = segcl_run_setup_settings(&r)) || (st = segcl_run_setup_data(&r)) ||
        (!r.resuming && lead(&r) &&
         (st = segcl_run_folder_claim(ctx, r.out_dir, false, &r.lock_fd))) ||
        (st = segcl_run_setup_model(&r)))
        st = explain_device_memory(&r, st);
    segcl_workspace_destroy(check_ws);
    if ((st = segcl_run_agree(&r, st))) {
        summary->failed_rank = r.failed_rank;
        summary->collective_broken = r.broken;
        cleanup(&r);
        return st;
    }
    summary->batch = r.global_batch;
    if (r.resuming && r.start_epoch >= r.meta.epochs)
        segcl_run_notice(&r, "%s is complete (%d epochs): nothing to resume", r.out_dir,
                         r.meta.epochs);
    r.t_start = now();
    val_result v = {NAN, NAN, NAN, NAN, false};
    bool stop = false;
    for (long epoch = r.start_epoch; epoch < r.meta.epochs && !stop && !st; epoch++)
        st = run_epoch(&r, epoch, &v, &stop, summary);
    st = explain_device_memory(&r, st);
    summary->steps = r.meta.optimizer.step;
    summary->best_val_dice = r.meta.best_dice;
    summary->final_val_dice = v.dice;
    summary->final_val_iou = v.iou;
    summary->final_val_pixel_accuracy = v.acc;
    summary->final_val_loss = v.loss;
    summary->seconds = now() - r.t_start;
    summary->images_per_s = r.images_this_run / (summary->seconds > 0 ? summary->seconds : 1);
    summary->failed_rank = st ? (r.failed_rank >= 0 ? r.failed_rank : r.rank) : -1;
    summary->collective_broken = r.broken;
    cleanup(&r);
    return st;
}
