/*
 * A training run's set-up: its settings (the caller's options, checked, or the checkpoint's when
 * resuming), the run folder, the dataset checked up front and split, the model and its weights,
 * the batch that fits the device, the loaders and the buffers of a step.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "train/run_folder.h"
#include "train/train_impl.h"

/* Deterministic split: a seeded shuffle of the sorted entries; the first part validates. */
static segcl_status split(run_state *r)
{
    segcl_context *ctx = r->ctx;
    size_t n = r->ds->count;
    size_t *order = segcl_malloc(n * sizeof *order);
    bool *is_val = segcl_calloc(n, sizeof *is_val);
    size_t v = (size_t)lround(r->meta.val_fraction * (double)n);
    if (r->meta.val_fraction > 0 && v == 0 && n >= 2)
        v = 1;
    if (v >= n)
        v = n - 1;
    r->val_idx = segcl_malloc((v ? v : 1) * sizeof *r->val_idx);
    r->train_idx = segcl_malloc((n - v) * sizeof *r->train_idx);
    segcl_status st = SEGCL_OK;
    if (!order || !is_val || !r->val_idx || !r->train_idx) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    segcl_rng rng;
    segcl_rng_seed(&rng, r->meta.seed, 0x5b117);
    for (size_t i = n; i > 1; i--) {
        size_t j = segcl_rng_below(&rng, (uint32_t)i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (size_t k = 0; k < v; k++)
        is_val[order[k]] = true;
    /* each part in sorted (index) order; the loader shuffles training batches itself */
    r->ntrain = r->nval = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_val[i])
            r->val_idx[r->nval++] = i;
        else
            r->train_idx[r->ntrain++] = i;
    }
done:
    segcl_free(order);
    segcl_free(is_val);
    return st;
}

/* path made absolute (against the working folder) into out (len bytes); as given when the
 * working folder is unknown or the result would not fit. */
static void absolute(char *out, size_t len, const char *path)
{
    char cwd[4096];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd) ||
        (size_t)snprintf(out, len, "%s/%s", strcmp(cwd, "/") ? cwd : "", path) >= len)
        snprintf(out, len, "%s", path);
}

/* The run's settings from the caller's options, checked by the one validator. */
static segcl_status settings_from_options(run_state *r)
{
    segcl_context *ctx = r->ctx;
    const segcl_train_options *o = r->o;
    segcl_run_config *m = &r->meta;
    segcl_run_config_defaults(m);
    int arch, kind, loss, schedule;
    segcl_status st;
    const char *loss_name = o->loss ? o->loss : segcl_loss_names[segcl_loss_default(o->classes)];
    if ((st = segcl_name_parse(ctx, "architecture", segcl_arch_names, o->arch ? o->arch : "unet",
                               &arch)) ||
        (st = segcl_name_parse(ctx, "optimizer", segcl_optimizer_names,
                               o->optimizer ? o->optimizer : "adam", &kind)) ||
        (st = segcl_name_parse(ctx, "loss", segcl_loss_names, loss_name, &loss)) ||
        (st = segcl_name_parse(ctx, "learning-rate schedule", segcl_schedule_names,
                               o->lr_schedule ? o->lr_schedule : "none", &schedule)) ||
        (o->augment && (st = segcl_augment_parse(ctx, o->augment, &m->augment))))
        return st;
    m->model.arch = (segcl_arch)arch;
    m->model.classes = o->classes;
    m->model.width = o->width;
    m->model.depth = o->depth;
    m->size = o->size;
    memcpy(m->mean, o->mean, sizeof m->mean);
    memcpy(m->std, o->std, sizeof m->std);
    m->seed = o->seed;
    segcl_optimizer_defaults(&m->optimizer, (segcl_optimizer_kind)kind);
    m->optimizer.lr = o->lr;
    m->optimizer.weight_decay = o->weight_decay;
    m->optimizer.momentum = o->momentum;
    m->optimizer.nesterov = o->nesterov;
    m->classes_loss = loss;
    m->lr_schedule = schedule;
    m->epochs = o->epochs;
    m->batch = o->batch;
    m->base_lr = o->lr;
    m->val_fraction = o->val_fraction;
    m->shuffle = o->shuffle;
    m->skip_bad = o->skip_bad;
    m->max_steps = o->max_steps;
    const bool pair = o->images_dir || o->masks_dir;
    m->format = pair ? SEGCL_DATASET_PAIR : o->format;
    if ((st = segcl_settings_check(ctx, m, SEGCL_SETTINGS_RUN, NULL)))
        return st;
    if (pair && (!o->images_dir || !o->masks_dir))
        return segcl_fail_setting(ctx, o->images_dir ? "masks_dir" : "images_dir",
                                  SEGCL_ERROR_INVALID_ARGUMENT,
                                  "a pair of folders needs both an images and a masks folder");
    if (pair && o->data_dir)
        return segcl_fail_setting(ctx, "data_dir", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "give either a dataset folder or a pair of images and masks "
                                  "folders, not both");
    const char *data = pair ? o->images_dir : o->data_dir;
    if (!data)
        return segcl_fail_setting(ctx, "data_dir", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "no data given (a dataset folder, or a pair of images and "
                                  "masks folders)");
    if (strlen(data) >= sizeof m->data_dir || (pair && strlen(o->masks_dir) >= sizeof m->masks_dir))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "data path too long: %s", data);
    /* absolute, so that a resumed run or an evaluation from another folder reads the same data
     * (a folder that cannot be resolved stays as given, and opening it says why) */
    absolute(m->data_dir, sizeof m->data_dir, data);
    if (pair)
        absolute(m->masks_dir, sizeof m->masks_dir, o->masks_dir);
    return SEGCL_OK;
}

/* The run folder (claimed and locked) and the settings: the caller's, or the checkpoint's. */
segcl_status segcl_training_setup_settings(run_state *r)
{
    segcl_context *ctx = r->ctx;
    const segcl_train_options *o = r->o;
    const char *dir = o->resume_dir ? o->resume_dir : o->out_dir;
    if (!dir)
        return segcl_fail_setting(ctx, "out_dir", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "no run folder given");
    if (strlen(dir) >= sizeof r->out_dir - 32)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "run folder path too long: %s", dir);
    snprintf(r->out_dir, sizeof r->out_dir, "%s", dir);
    path_in(r->ckpt, sizeof r->ckpt, r->out_dir, "checkpoint.safetensors");
    r->resuming = o->resume_dir != NULL;
    segcl_status st;
    if (!r->resuming) {
        /* the settings and the data are checked before the folder is created and locked */
        if ((st = settings_from_options(r)))
            return st;
        bool restart = false;
        if (lead(r) && !(st = segcl_run_folder_check_new(ctx, r->out_dir, &restart)) && restart)
            segcl_training_notice(r,
                                  "%s holds a run that failed before its first checkpoint; "
                                  "starting it again there",
                                  r->out_dir);
        return st;
    }
    if (lead(r)) {
        if ((st = segcl_run_folder_claim(ctx, r->out_dir, true, &r->lock_fd)))
            return st;
        /* what a killed run left half-written goes before anything is read */
        segcl_run_folder_tidy(r->out_dir);
    }
    /* not there: a run that stopped before its first checkpoint; there but not a regular
     * file (a FIFO would be waited on): refused as such */
    if (access(r->ckpt, F_OK) != 0)
        return segcl_fail_setting(ctx, "out_dir", SEGCL_ERROR_IO,
                                  "%s has no checkpoint to resume from (%s): the run stopped "
                                  "before its first checkpoint; start it again as a new run in "
                                  "the same folder",
                                  r->out_dir, strerror(errno));
    FILE *probe;
    if ((st = segcl_open_read(segcl_context_diag(ctx), r->ckpt, "checkpoint ", &probe)))
        return st;
    fclose(probe);
    if ((st = segcl_run_config_read(ctx, r->ckpt, &r->meta)))
        return st;
    if (!r->meta.from_segcl)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s was not written by segcl train", r->ckpt);
    r->start_epoch = r->meta.epoch;
    r->start_batch = r->meta.batch_in_epoch;
    r->seconds_before = r->meta.seconds;
    char metrics[1100];
    path_in(metrics, sizeof metrics, r->out_dir, "metrics.csv");
    /* rows of epochs after the checkpoint (a kill between the row and the save) go */
    return lead(r) ? segcl_metrics_truncate(ctx, metrics, r->meta.epoch) : SEGCL_OK;
}

static segcl_status check_and_split(run_state *r);

/* The dataset, checked up front; problems listed together; the split. */
segcl_status segcl_training_setup_data(run_state *r)
{
    segcl_context *ctx = r->ctx;
    segcl_run_config *m = &r->meta;
    segcl_status st =
        m->format == SEGCL_DATASET_PAIR
            ? segcl_dataset_open_pair(ctx, m->data_dir, m->masks_dir, &r->ds)
            : segcl_dataset_open(ctx, m->data_dir, (segcl_dataset_format)m->format, &r->ds);
    if (st)
        return st;
    segcl_dataset_fingerprint(r->ds, r->fingerprint.sha256);
    r->fingerprint.pairs = r->ds->count;
    /* a resumed run's data is the data it started with, or it says what changed */
    char args[1100];
    char *text = NULL;
    segcl_jvalue *recorded = NULL;
    path_in(args, sizeof args, r->out_dir, "args.json");
    if (r->resuming && lead(r)) {
        if (access(args, F_OK) != 0)
            segcl_training_notice(r, "%s has no args.json: whether its data changed cannot be "
                                     "checked", r->out_dir);
        else if ((st = segcl_args_read(ctx, args, &text, &recorded)) ||
                 (st = segcl_run_data_check(ctx, args, recorded, r->ds)))
            goto done;
    }
    st = check_and_split(r);
    if (!st && recorded)
        st = segcl_run_split_check(ctx, args, recorded, r->ds, r->val_idx, r->nval, r->ntrain);
done:
    segcl_json_free(recorded);
    segcl_free(text);
    return st;
}

/* The dataset's pairs checked up front (problems listed together), then split. */
static segcl_status check_and_split(run_state *r)
{
    segcl_context *ctx = r->ctx;
    segcl_run_config *m = &r->meta;
    segcl_status st;
    if (r->ds->skipped) {
        char names[400] = "";
        size_t at = 0, shown = 0;
        for (size_t i = 0; i < r->ds->skipped && at < 300; i++, shown++)
            at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "",
                                   r->ds->unmatched[i]);
        segcl_training_notice(r, "%zu images have no mask and are left out: %s%s", r->ds->skipped,
                              names, shown < r->ds->skipped ? ", ..." : "");
    }
    if (!r->resuming && !r->o->augment) /* the data's own default */
        m->augment = segcl_augment_default(r->ds->format);
    segcl_check_result check;
    if ((st = segcl_dataset_check(segcl_context_diag(ctx), r->ds, m->size, m->model.classes,
                                  m->skip_bad, segcl_training_say_line, r, &check)))
        return st;
    if (r->ds->count < 2)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                          "%s holds %zu usable image/mask pair; training needs 2", m->data_dir,
                          r->ds->count);
    if ((st = split(r)))
        return st;
    char aug[64];
    segcl_augment_format(m->augment, aug, sizeof aug);
    segcl_training_notice(r, "%zu images with masks: training %zu, validating %zu; augmentation %s",
                          r->ds->count, r->ntrain, r->nval, aug);
    return SEGCL_OK;
}

/* The largest batch (<= wanted) whose activations fit in 80% of what the device has left. */
static int fit_batch(run_state *r, int wanted)
{
    segcl_context *ctx = r->ctx;
    uint64_t params = segcl_model_parameter_elements(r->model) * sizeof(float) * 4;
    const uint64_t limit = segcl_memory_limit(ctx), in_use = segcl_memory_in_use(ctx);
    uint64_t avail = limit > in_use + params ? limit - in_use - params : 0;
    int b = wanted;
    while (b > 1) {
        uint64_t need = segcl_model_activation_bytes(r->model, b, r->meta.size, r->meta.size);
        const uint64_t workspace =
            segcl_model_workspace_bytes(r->model, b, r->meta.size, r->meta.size);
        if (need != SIZE_MAX && need + workspace <= avail / 10 * 8)
            break;
        b = b / 2 > 1 ? b / 2 : 1;
    }
    return b;
}

/* The model and its weights: new, from --init weights, or the checkpoint's. */
static segcl_status setup_weights(run_state *r)
{
    segcl_context *ctx = r->ctx;
    segcl_run_config *m = &r->meta;
    segcl_status st = segcl_model_create(ctx, &m->model, &r->model);
    if (st)
        return st;
    segcl_model_set_sync_bn(r->model, r->sync_bn);
    segcl_loss_default_params(&r->loss_params, (segcl_loss_kind)m->classes_loss);
    r->loss_params.ignore_index = 255;
    if (r->resuming) {
        /* the moments the optimizer has kept since its first step, each one required: once
         * the run has taken a step, whatever the optimizer's own count (one number to edit)
         * says */
        const segcl_optimizer *opt = &m->optimizer;
        const bool stepped = opt->step > 0 || m->step > 0;
        unsigned moments = SEGCL_CHECKPOINT_MOMENTS;
        if (stepped && opt->kind != SEGCL_OPTIMIZER_SGD)
            moments |= SEGCL_CHECKPOINT_NEED_M | SEGCL_CHECKPOINT_NEED_V;
        else if (stepped && opt->momentum != 0.0f)
            moments |= SEGCL_CHECKPOINT_NEED_M;
        st = segcl_checkpoint_load(ctx, r->ckpt, r->model, moments);
    } else if (r->o->init_path) {
        /* the weights' own metadata is checked, although the run's settings are the caller's */
        segcl_run_config im;
        if (!(st = segcl_run_config_read(ctx, r->o->init_path, &im)) &&
            !(st = segcl_checkpoint_load(ctx, r->o->init_path, r->model, 0)))
            segcl_training_notice(r, "starting from the weights in %s", r->o->init_path);
    } else {
        st = segcl_model_init(r->model, m->seed);
    }
    return st;
}

/* This rank's share of the global batch, smaller when alone and it does not fit. */
static segcl_status choose_batch(run_state *r)
{
    segcl_context *ctx = r->ctx;
    segcl_run_config *m = &r->meta;
    if (m->batch % r->ranks != 0)
        return segcl_fail_setting(ctx, "batch", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "the global batch %d cannot be shared by %d ranks: give a "
                                  "multiple of %d",
                                  m->batch, r->ranks, r->ranks);
    const int wanted = m->batch / r->ranks;
    int batch = fit_batch(r, wanted);
    if (batch < wanted && r->ranks > 1)
        return segcl_fail_setting(ctx, "batch", SEGCL_ERROR_OUT_OF_DEVICE_MEMORY,
                                  "rank %d: %d images (batch %d over %d ranks) do not fit in "
                                  "%s's memory; %d would: give batch %d",
                                  r->rank, wanted, m->batch, r->ranks,
                                  segcl_context_device(ctx)->name, batch, batch * r->ranks);
    if (batch < wanted) { /* alone: the run goes on with a smaller batch */
        segcl_training_notice(r, "batch %d does not fit in %s's memory; using %d", m->batch,
                              segcl_context_device(ctx)->name, batch);
        m->batch = batch;
    }
    r->batch = batch;                   /* this rank's images per step */
    r->global_batch = batch * r->ranks; /* every rank's: what the loader makes */
    return SEGCL_OK;
}

/* The loaders of both parts of the split, and the host and device buffers of a step. */
static segcl_status setup_buffers(run_state *r)
{
    segcl_context *ctx = r->ctx;
    const segcl_run_config *m = &r->meta;
    const int batch = r->batch;
    segcl_status st;
    segcl_loader_config lc = {.size = m->size,
                              .batch = r->global_batch,
                              .augment = m->augment,
                              .shuffle = m->shuffle,
                              .seed = m->seed,
                              .classes = m->model.classes};
    memcpy(lc.mean, m->mean, sizeof lc.mean);
    memcpy(lc.std, m->std, sizeof lc.std);
    segcl_loader_config vc = lc;
    vc.batch = batch; /* validation runs on rank 0 alone */
    vc.augment = 0;
    vc.shuffle = false;
    const int64_t S = m->size, C = m->model.classes;
    int64_t xs[4] = {batch, 3, S, S}, ts[4] = {batch, 1, S, S}, ls[4] = {batch, C, S, S};
    int64_t two[1] = {2};
    size_t plane = (size_t)S * S;
    const size_t gb = (size_t)r->global_batch;
    r->host_x = segcl_malloc(gb * 3 * plane * sizeof(float));
    r->host_t = segcl_malloc(gb * plane * sizeof(float));
    r->host_logits = segcl_malloc((size_t)batch * C * plane * sizeof(float));
    r->samples = segcl_malloc(gb * sizeof *r->samples);
    if (r->ranks > 1) /* every gradient, and the loss */
        r->grads = segcl_malloc((segcl_model_parameter_elements(r->model) + 1) * sizeof *r->grads);
    if (!r->host_x || !r->host_t || !r->host_logits || !r->samples || (r->ranks > 1 && !r->grads))
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for batch %d",
                          batch);
    if ((st = segcl_loader_create(segcl_context_diag(ctx), r->ds, r->train_idx, r->ntrain, &lc,
                                  &r->train_loader)) ||
        (r->nval && (st = segcl_loader_create(segcl_context_diag(ctx), r->ds, r->val_idx, r->nval,
                                              &vc, &r->val_loader))) ||
        (st = segcl_tensor_create(ctx, "images", 4, xs, &r->x)) ||
        (st = segcl_tensor_create(ctx, "masks", 4, ts, &r->t)) ||
        (st = segcl_tensor_create(ctx, "logit gradients", 4, ls, &r->dlogits)) ||
        (st = segcl_tensor_create(ctx, "loss", 1, two, &r->loss)))
        return st;
    return SEGCL_OK;
}

/* The model (new, from --init weights, or the checkpoint's), the batch, loaders, buffers. */
segcl_status segcl_training_setup_model(run_state *r)
{
    segcl_context *ctx = r->ctx;
    const segcl_run_config *m = &r->meta;
    const int batch = m->batch; /* as given or read, before it is fitted to the device */
    segcl_status st;
    if ((st = setup_weights(r)) || (st = choose_batch(r)) || (st = setup_buffers(r)))
        return st;
    r->per_epoch = (long)segcl_loader_batches(r->train_loader);
    r->total = r->per_epoch * m->epochs;
    if (m->max_steps > 0 && m->max_steps < r->total)
        r->total = m->max_steps;
    if (r->start_batch >= r->per_epoch)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                          "%s: metadata batch_in_epoch %ld is beyond the %ld batches of an epoch "
                          "(corrupt or edited?)",
                          r->ckpt, r->start_batch, r->per_epoch);
    /* steps past the whole run's would end it at once, with nothing trained or validated */
    const long steps = r->per_epoch * m->epochs;
    const bool past = m->step > steps || m->optimizer.step > steps;
    if (r->resuming && past)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                          "%s: metadata %s %ld is beyond the %ld steps of the whole run (%d "
                          "epochs of %ld batches with batch %d) (corrupt or edited?)",
                          r->ckpt, m->step > steps ? "step" : "optimizer_step",
                          m->step > steps ? m->step : m->optimizer.step, steps, m->epochs,
                          r->per_epoch, batch);
    if (!r->resuming && lead(r)) {
        char args[1100];
        path_in(args, sizeof args, r->out_dir, "args.json");
        st = segcl_args_write(ctx, args, m, r->ds, r->train_idx, r->ntrain, r->val_idx, r->nval,
                              segcl_context_device(ctx)->name, &r->fingerprint);
    }
    return st;
}
