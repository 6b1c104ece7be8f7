/*
 * The training run: set-up (setup.c), then epochs of steps, validation, checkpoints and metrics
 * (epoch.c, validate.c). Everything a run depends on is in the checkpoint, so a resumed run ends
 * with the same weights, bit for bit, as one that never stopped. Here: the entry point, the
 * ranks' agreement, notes for the user, and the error a device too small for the run gets.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train/run_folder.h"
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

segcl_status segcl_training_first_rank_with(run_state *r, int flag, int *first)
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

segcl_status segcl_training_agree(run_state *r, segcl_status st)
{
    if (!r->coll || r->ranks < 2)
        return st;
    int failed;
    segcl_status gathered = segcl_training_first_rank_with(r, st != SEGCL_OK, &failed);
    if (failed >= 0)
        r->failed_rank = failed;
    if (st || gathered)
        return st ? st : gathered;
    if (failed >= 0)
        return segcl_fail(r->ctx, SEGCL_ERROR_STATE,
                          "rank %d failed (its message says why); every rank stopped", failed);
    return SEGCL_OK;
}

void segcl_training_say_line(void *user, const char *line, const char *setting)
{
    run_state *r = user;
    if (!r->o->progress || !lead(r))
        return;
    segcl_train_progress p = {.event = 2, .notice = line, .notice_setting = setting};
    r->o->progress(&p, r->o->user);
}

void segcl_training_notice(run_state *r, const char *fmt, ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "note: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    segcl_training_say_line(r, buf, NULL);
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
    return segcl_fail_setting(
        r->ctx, "size", st, "%s; even batch 1 does not fit: try a smaller size or width", message);
}

segcl_status segcl_train(segcl_context *ctx, const segcl_train_options *o,
                         segcl_train_summary *summary)
{
    /* cleared before anything can fail, so that every error leaves it so */
    if (summary) {
        memset(summary, 0, sizeof *summary);
        summary->failed_rank = -1;
    }
    if (!ctx || !o || !summary)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_train: NULL argument");
    if (segcl_require_open(ctx) || segcl_require_fp32(ctx, "training"))
        return SEGCL_ERROR_STATE;
    run_state r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.o = o;
    r.lock_fd = -1;
    r.ranks = 1;
    r.failed_rank = -1;
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
        (st = segcl_training_setup_settings(&r)) || (st = segcl_training_setup_data(&r)) ||
        (!r.resuming && lead(&r) &&
         (st = segcl_run_folder_claim(ctx, r.out_dir, false, &r.lock_fd))) ||
        (st = segcl_training_setup_model(&r)))
        st = explain_device_memory(&r, st);
    segcl_workspace_destroy(check_ws);
    if ((st = segcl_training_agree(&r, st))) {
        summary->failed_rank = r.failed_rank;
        summary->collective_broken = r.broken;
        cleanup(&r);
        return st;
    }
    summary->batch = r.global_batch;
    if (r.resuming && r.start_epoch >= r.meta.epochs)
        segcl_training_notice(&r, "%s is complete (%d epochs): nothing to resume", r.out_dir,
                              r.meta.epochs);
    r.t_start = now();
    val_result v = {NAN, NAN, NAN, NAN, false};
    bool stop = false;
    for (long epoch = r.start_epoch; epoch < r.meta.epochs && !stop && !st; epoch++)
        st = segcl_training_epoch(&r, epoch, &v, &stop, summary);
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
