/*
 * The training run: data split, model set-up (new, --init weights, or --resume), the step loop
 * with the learning-rate schedule, validation with Dice/IoU/pixel accuracy each epoch,
 * checkpoint.safetensors every epoch, best.safetensors on improvement, metrics.csv, a curve
 * and overlays. Everything a run depends on is in the checkpoint, so a resumed run ends with
 * the same weights, bit for bit, as one that never stopped.
 */
#include <errno.h>
#include <stdatomic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data/data.h"
#include "io/checkpoint.h"
#include "io/visual.h"
#include "model/model.h"
#include "train/settings.h"

void segcl_train_default_options(segcl_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->arch = "unet";
    o->classes = 1;
    o->width = 16;
    o->depth = 4;
    o->size = 256;
    o->epochs = 30;
    o->batch = 32;
    o->optimizer = "adam";
    o->lr = 1e-3f;
    o->weight_decay = 1e-6f;
    o->lr_schedule = "none";
    o->val_fraction = 0.1f;
    o->seed = 42;
    o->augment = true;
    o->shuffle = true;
    o->std[0] = o->std[1] = o->std[2] = 1.0f;
    o->overlays = 4;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static segcl_status make_dir(segcl_context *ctx, const char *dir)
{
    return segcl_make_dirs(ctx, dir);
}

static void path_in(char *buf, size_t len, const char *dir, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

/* Deterministic split: a seeded shuffle of the sorted entries; the first part validates. */
static segcl_status split(segcl_context *ctx, const segcl_dataset *ds, float fraction,
                          uint64_t seed, size_t **train, size_t *ntrain, size_t **val,
                          size_t *nval)
{
    size_t n = ds->count;
    size_t *order = segcl_malloc(n * sizeof *order);
    if (!order)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    segcl_rng rng;
    segcl_rng_seed(&rng, seed, 0x5b117);
    for (size_t i = n; i > 1; i--) {
        size_t j = segcl_rng_below(&rng, (uint32_t)i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    size_t v = (size_t)lround(fraction * (double)n);
    if (fraction > 0 && v == 0 && n >= 2)
        v = 1;
    if (v >= n)
        v = n - 1;
    *val = segcl_malloc((v ? v : 1) * sizeof **val);
    *train = segcl_malloc((n - v) * sizeof **train);
    if (!*val || !*train) {
        segcl_free(order);
        segcl_free(*val);
        segcl_free(*train);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    /* each part in sorted (index) order; the loader shuffles training batches itself */
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        bool is_val = false;
        for (size_t k = 0; k < v && !is_val; k++)
            is_val = order[k] == i;
        if (is_val)
            (*val)[b++] = i;
        else
            (*train)[a++] = i;
    }
    *ntrain = a;
    *nval = b;
    segcl_free(order);
    return SEGCL_OK;
}

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

typedef struct run_state {
    segcl_context *ctx;
    const segcl_train_options *o;
    segcl_checkpoint_meta meta;
    segcl_dataset *ds;
    segcl_model *model;
    segcl_loader *train_loader, *val_loader;
    size_t *train_idx, *val_idx;
    size_t ntrain, nval;
    segcl_tensor *x, *t, *dlogits, *loss;
    float *host_x, *host_t, *host_logits;
    segcl_loss_params loss_params;
    char out_dir[1024];
    segcl_curve_point *curve;
    int curve_count;
} run_state;

static void notice(run_state *r, const char *fmt, ...) SEGCL_PRINTF(2, 3);
static void notice(run_state *r, const char *fmt, ...)
{
    if (!r->o->progress)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    segcl_train_progress p = {.event = 2, .notice = buf};
    r->o->progress(&p, r->o->user);
}

/* The run's settings from the caller's options, checked by the one validator. */
static segcl_status parse_options(run_state *r)
{
    segcl_context *ctx = r->ctx;
    const segcl_train_options *o = r->o;
    segcl_checkpoint_meta *m = &r->meta;
    segcl_checkpoint_meta_defaults(m);
    int arch, kind, loss, schedule;
    segcl_status st;
    const char *loss_name = o->loss ? o->loss : (o->classes == 1 ? "bce" : "ce");
    if ((st = segcl_name_parse(ctx, "architecture", segcl_arch_names, o->arch ? o->arch : "unet",
                               &arch)) ||
        (st = segcl_name_parse(ctx, "optimizer", segcl_optimizer_names,
                               o->optimizer ? o->optimizer : "adam", &kind)) ||
        (st = segcl_name_parse(ctx, "loss", segcl_loss_names, loss_name, &loss)) ||
        (st = segcl_name_parse(ctx, "learning-rate schedule", segcl_schedule_names,
                               o->lr_schedule ? o->lr_schedule : "none", &schedule)))
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
    m->augment = o->augment ? SEGCL_AUGMENT_DERMOSCOPY : 0;
    m->shuffle = o->shuffle;
    m->max_steps = o->max_steps;
    m->format = o->format;
    if ((st = segcl_settings_check(ctx, m, SEGCL_SETTINGS_RUN, NULL)))
        return st;
    if (!o->data_dir)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "no data folder given (--data)");
    if (strlen(o->data_dir) >= sizeof m->data_dir)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "data path too long: %s",
                          o->data_dir);
    snprintf(m->data_dir, sizeof m->data_dir, "%s", o->data_dir);
    return SEGCL_OK;
}

static segcl_status read_loss(run_state *r, float *out)
{
    float v[2];
    segcl_status st = segcl_tensor_read(r->loss, v, 2);
    *out = v[0];
    return st;
}

/* Labels (0/1, or class index) from logits of image s of a batch of size S x S. */
static void labels_of(const float *logits, int classes, size_t s, int size, uint8_t *labels)
{
    size_t plane = (size_t)size * size;
    for (size_t p = 0; p < plane; p++) {
        if (classes == 1) {
            labels[p] = logits[s * plane + p] > 0.0f;
            continue;
        }
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (logits[(s * classes + c) * plane + p] > logits[(s * classes + best) * plane + p])
                best = c;
        labels[p] = (uint8_t)best;
    }
}

static segcl_status write_overlays(run_state *r, long epoch, size_t n, const size_t *samples,
                                   size_t already)
{
    const int S = r->meta.size, classes = r->meta.model.classes;
    size_t plane = (size_t)S * S;
    segcl_status st;
    char dir[1100];
    path_in(dir, sizeof dir, r->out_dir, "overlays");
    if ((st = make_dir(r->ctx, dir)))
        return st;
    uint8_t *labels = segcl_malloc(plane);
    if (!labels)
        return segcl_fail(r->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t s = 0; s < n && already + s < (size_t)r->o->overlays && !st; s++) {
        segcl_image photo, out;
        if ((st = segcl_image_alloc(r->ctx, S, S, 3, &photo)))
            break;
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < 3; c++) {
                float v = r->host_x[(s * 3 + c) * plane + p] * r->meta.std[c] + r->meta.mean[c];
                int b = (int)lrintf(v * 255.0f);
                photo.pixels[p * 3 + c] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
            }
        labels_of(r->host_logits, classes, s, S, labels);
        if (!(st = segcl_overlay(r->ctx, &photo, labels, &out))) {
            char path[1400];
            snprintf(path, sizeof path, "%s/epoch%03ld_%s.jpg", dir, epoch + 1,
                     r->ds->items[samples[s]].stem);
            st = segcl_image_save_jpeg(r->ctx, path, &out, 90);
            segcl_image_free(&out);
        }
        segcl_image_free(&photo);
    }
    segcl_free(labels);
    return st;
}

typedef struct val_result {
    double loss, dice, iou, acc;
} val_result;

static segcl_status validate(run_state *r, long epoch, val_result *v)
{
    memset(v, 0, sizeof *v);
    if (!r->val_loader) {
        v->dice = v->iou = v->acc = NAN;
        v->loss = NAN;
        return SEGCL_OK;
    }
    const int classes = r->meta.model.classes;
    const int k = classes == 1 ? 2 : classes;
    uint64_t counts[SEGCL_MAX_CLASSES * SEGCL_MAX_CLASSES] = {0};
    double loss_sum = 0;
    size_t images = 0, written = 0;
    size_t *samples = segcl_malloc((size_t)r->x->shape[0] * sizeof *samples);
    segcl_status st = samples ? SEGCL_OK
                              : segcl_fail(r->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                                           "out of host memory for validation");
    for (size_t b = 0; b < segcl_loader_batches(r->val_loader) && !st; b++) {
        size_t n;
        if ((st = segcl_loader_get(r->val_loader, 0, b, r->host_x, r->host_t, &n, samples)))
            break;
        segcl_tensor *x = r->x, *t = r->t, *logits;
        /* a short last batch runs through full-size buffers; only n images count */
        size_t per = (size_t)3 * r->meta.size * r->meta.size;
        for (size_t s = n; s < (size_t)r->x->shape[0]; s++) {
            memcpy(r->host_x + s * per, r->host_x, per * sizeof(float));
            memcpy(r->host_t + s * per / 3, r->host_t, per / 3 * sizeof(float));
        }
        if ((st = segcl_tensor_write(x, r->host_x, x->numel)) ||
            (st = segcl_tensor_write(t, r->host_t, t->numel)) ||
            (st = segcl_model_forward(r->model, x, false, &logits)))
            break;
        /* per-image loss and counts: the padded copies are excluded by reading logits back */
        if ((st = segcl_tensor_read(logits, r->host_logits, logits->numel)))
            break;
        for (size_t s = 0; s < n; s++) {
            size_t plane = (size_t)r->meta.size * r->meta.size;
            for (size_t p = 0; p < plane; p++) {
                int target = (int)r->host_t[s * plane + p];
                if (classes >= 2 && target == 255)
                    continue;
                double l;
                int pred;
                if (classes == 1) {
                    double z = r->host_logits[s * plane + p];
                    l = fmax(z, 0) - z * target + log1p(exp(-fabs(z)));
                    pred = z > 0;
                } else {
                    double m = -INFINITY, se = 0;
                    pred = 0;
                    for (int c = 0; c < classes; c++) {
                        double z = r->host_logits[(s * classes + c) * plane + p];
                        if (z > m)
                            m = z, pred = c;
                    }
                    for (int c = 0; c < classes; c++)
                        se += exp(r->host_logits[(s * classes + c) * plane + p] - m);
                    l = m + log(se) - r->host_logits[(s * classes + target) * plane + p];
                }
                loss_sum += l / (double)plane;
                if (target >= 0 && target < k)
                    counts[target * k + pred]++;
            }
        }
        if (written < (size_t)r->o->overlays)
            st = write_overlays(r, epoch, n, samples, written);
        written += n;
        images += n;
    }
    segcl_free(samples);
    if (st)
        return st;
    segcl_scores sc;
    segcl_scores_from_confusion(counts, k, &sc);
    v->loss = images ? loss_sum / (double)images : NAN;
    v->dice = sc.dice;
    v->iou = sc.iou;
    v->acc = sc.pixel_accuracy;
    return SEGCL_OK;
}

static segcl_status append_metrics(run_state *r, long epoch, long step, double train_loss,
                                   const val_result *v, double ips, double seconds)
{
    char path[1100];
    path_in(path, sizeof path, r->out_dir, "metrics.csv");
    bool fresh = access(path, F_OK) != 0;
    FILE *f = fopen(path, "a");
    if (!f)
        return segcl_fail(r->ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    if (fresh)
        fprintf(f, "epoch,step,train_loss,val_loss,val_dice,val_iou,pixel_accuracy,images_per_s,"
                   "seconds\n");
    fprintf(f, "%ld,%ld,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f\n", epoch + 1, step, train_loss,
            v->loss, v->dice, v->iou, v->acc, ips, seconds);
    if (fclose(f) != 0)
        return segcl_fail(r->ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    return SEGCL_OK;
}

/* Rebuilds the curve from metrics.csv (so a resumed run's curve covers the whole run). */
static segcl_status write_curve(run_state *r)
{
    char path[1100], svg[1100];
    path_in(path, sizeof path, r->out_dir, "metrics.csv");
    path_in(svg, sizeof svg, r->out_dir, "curves.svg");
    FILE *f = fopen(path, "r");
    if (!f)
        return SEGCL_OK;
    segcl_curve_point pts[4096];
    int n = 0;
    char line[512];
    while (fgets(line, sizeof line, f) && n < 4096) {
        long e, s;
        double tl, vl, vd;
        if (sscanf(line, "%ld,%ld,%lf,%lf,%lf", &e, &s, &tl, &vl, &vd) == 5)
            pts[n++] = (segcl_curve_point){tl, vl, vd};
    }
    fclose(f);
    return segcl_write_curve_svg(r->ctx, svg, pts, n);
}

static segcl_status save(run_state *r, const char *name)
{
    char path[1100];
    path_in(path, sizeof path, r->out_dir, name);
    return segcl_checkpoint_save(r->ctx, path, r->model, &r->meta);
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
    segcl_free(r->train_idx);
    segcl_free(r->val_idx);
}

/* The largest batch (<= wanted) whose activations fit in 80% of what the device has left. */
static int fit_batch(run_state *r, int wanted)
{
    segcl_context *ctx = r->ctx;
    uint64_t params = segcl_model_parameter_elements(r->model) * sizeof(float) * 4;
    uint64_t avail = ctx->memory_limit > ctx->memory_in_use + params
                         ? ctx->memory_limit - ctx->memory_in_use - params
                         : 0;
    int b = wanted;
    while (b > 1) {
        uint64_t need = segcl_model_activation_bytes(r->model, b, r->meta.size, r->meta.size);
        /* convolution columns of one image: the largest layer's K x P, twice for backward */
        need += (uint64_t)r->meta.size * r->meta.size * 16 * 9 * 3 * sizeof(float) * 2;
        bool fits_total = need <= avail / 10 * 8;
        bool fits_one = segcl_model_activation_bytes(r->model, b, r->meta.size, r->meta.size) /
                            8 <= ctx->dev->info.max_alloc_bytes;
        if (fits_total && fits_one)
            break;
        b = b / 2 > 1 ? b / 2 : 1;
    }
    return b;
}

segcl_status segcl_train(segcl_context *ctx, const segcl_train_options *o,
                         segcl_train_summary *summary)
{
    if (!ctx || !o || !summary)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_train: NULL argument");
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "the context has no device: call segcl_context_open first");
    memset(summary, 0, sizeof *summary);
    run_state r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.o = o;
    segcl_status st = SEGCL_OK;
    const char *dir = o->resume_dir ? o->resume_dir : o->out_dir;
    if (!dir)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "no run folder given (--out)");
    snprintf(r.out_dir, sizeof r.out_dir, "%s", dir);
    long start_epoch = 0, start_batch = 0;
    char ckpt[1100];
    path_in(ckpt, sizeof ckpt, r.out_dir, "checkpoint.safetensors");
    if (o->resume_dir) {
        /* everything comes from the checkpoint: the run continues as it was */
        if ((st = segcl_checkpoint_read_meta(ctx, ckpt, &r.meta)))
            return st;
        if (!r.meta.from_segcl)
            return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s was not written by segcl train", ckpt);
        start_epoch = r.meta.epoch;
        start_batch = r.meta.batch_in_epoch;
    } else if ((st = parse_options(&r))) {
        return st;
    }
    if ((st = make_dir(ctx, r.out_dir)))
        return st;
    if ((st = segcl_dataset_open(ctx, r.meta.data_dir, (segcl_dataset_format)r.meta.format, &r.ds)))
        return st;
    if (r.ds->count < 2) {
        cleanup(&r);
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s holds %zu image/mask pair; training needs 2",
                          r.meta.data_dir, r.ds->count);
    }
    if (r.ds->skipped)
        notice(&r, "%zu images in %s have no mask and are left out", r.ds->skipped,
               r.meta.data_dir);
    if ((st = split(ctx, r.ds, r.meta.val_fraction, r.meta.seed, &r.train_idx, &r.ntrain,
                    &r.val_idx, &r.nval)) ||
        (st = segcl_model_create(ctx, &r.meta.model, &r.model))) {
        cleanup(&r);
        return st;
    }
    segcl_loss_default_params(&r.loss_params, (segcl_loss_kind)r.meta.classes_loss);
    r.loss_params.ignore_index = 255;
    if (o->resume_dir) {
        st = segcl_checkpoint_load(ctx, ckpt, r.model, true, NULL);
    } else if (o->init_path) {
        segcl_checkpoint_meta im;
        st = segcl_checkpoint_load(ctx, o->init_path, r.model, false, &im);
        if (!st)
            notice(&r, "starting from the weights in %s", o->init_path);
    } else {
        st = segcl_model_init(r.model, r.meta.seed);
    }
    if (st) {
        cleanup(&r);
        return st;
    }
    int batch = fit_batch(&r, r.meta.batch);
    if (batch < r.meta.batch) {
        notice(&r, "batch %d does not fit in %s's memory; using %d", r.meta.batch,
               ctx->dev->info.name, batch);
        r.meta.batch = batch;
    }
    summary->batch = batch;
    segcl_loader_config lc = {.size = r.meta.size, .batch = batch, .augment = r.meta.augment,
                              .shuffle = r.meta.shuffle, .seed = r.meta.seed,
                              .classes = r.meta.model.classes};
    memcpy(lc.mean, r.meta.mean, sizeof lc.mean);
    memcpy(lc.std, r.meta.std, sizeof lc.std);
    segcl_loader_config vc = lc;
    vc.augment = false;
    vc.shuffle = false;
    const int64_t S = r.meta.size, C = r.meta.model.classes;
    int64_t xs[4] = {batch, 3, S, S}, ts[4] = {batch, 1, S, S}, ls[4] = {batch, C, S, S};
    int64_t two[1] = {2};
    size_t plane = (size_t)S * S;
    r.host_x = segcl_malloc((size_t)batch * 3 * plane * sizeof(float));
    r.host_t = segcl_malloc((size_t)batch * plane * sizeof(float));
    r.host_logits = segcl_malloc((size_t)batch * C * plane * sizeof(float));
    if (!r.host_x || !r.host_t || !r.host_logits)
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for batch %d",
                        batch);
    if (!st)
        st = segcl_loader_create(ctx, r.ds, r.train_idx, r.ntrain, &lc, &r.train_loader);
    if (!st && r.nval)
        st = segcl_loader_create(ctx, r.ds, r.val_idx, r.nval, &vc, &r.val_loader);
    if (!st)
        st = segcl_tensor_create(ctx, "images", 4, xs, &r.x);
    if (!st)
        st = segcl_tensor_create(ctx, "masks", 4, ts, &r.t);
    if (!st)
        st = segcl_tensor_create(ctx, "logit gradients", 4, ls, &r.dlogits);
    if (!st)
        st = segcl_tensor_create(ctx, "loss", 1, two, &r.loss);
    if (st) {
        cleanup(&r);
        return st;
    }

    segcl_optimizer *opt = &r.meta.optimizer;
    const long per_epoch = (long)segcl_loader_batches(r.train_loader);
    if (start_batch >= per_epoch) {
        cleanup(&r);
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                          "%s: metadata batch_in_epoch %ld is beyond the %ld batches of an epoch "
                          "(corrupt or edited?)",
                          ckpt, start_batch, per_epoch);
    }
    long total = per_epoch * r.meta.epochs;
    if (r.meta.max_steps > 0 && r.meta.max_steps < total)
        total = r.meta.max_steps;
    const double t_start = now();
    long steps_this_run = 0;
    double images_this_run = 0;
    val_result v = {NAN, NAN, NAN, NAN};
    bool stop = false;
    for (long epoch = start_epoch; epoch < r.meta.epochs && !stop && !st; epoch++) {
        double loss_sum = 0;
        long loss_n = 0;
        const double t_epoch = now();
        for (long b = epoch == start_epoch ? start_batch : 0; b < per_epoch && !st; b++) {
            if (opt->step >= total) {
                stop = true;
                break;
            }
            if (o->cancel && atomic_load(o->cancel)) {
                /* an interrupted epoch: remember how far it got */
                r.meta.epoch = epoch;
                r.meta.batch_in_epoch = b;
                st = save(&r, "checkpoint.safetensors");
                summary->interrupted = 1;
                stop = true;
                break;
            }
            size_t n;
            segcl_tensor *logits;
            if ((st = segcl_loader_get(r.train_loader, epoch, (size_t)b, r.host_x, r.host_t, &n,
                                       NULL)))
                break;
            /* a short last batch: repeat its first images so the batch size stays fixed (BN
             * statistics then see a few images twice, as a dataloader with drop_last=False
             * and padding would) */
            size_t per = 3 * plane;
            for (size_t s = n; s < (size_t)batch; s++) {
                memcpy(r.host_x + s * per, r.host_x + (s - n) * per, per * sizeof(float));
                memcpy(r.host_t + s * plane, r.host_t + (s - n) * plane, plane * sizeof(float));
            }
            opt->lr = schedule_lr(r.meta.lr_schedule, r.meta.base_lr, opt->step, total,
                                  (int)epoch, r.meta.epochs);
            float l = 0;
            if ((st = segcl_tensor_write(r.x, r.host_x, r.x->numel)) ||
                (st = segcl_tensor_write(r.t, r.host_t, r.t->numel)) ||
                (st = segcl_model_zero_grad(r.model)) ||
                (st = segcl_model_forward(r.model, r.x, true, &logits)) ||
                (st = segcl_loss(ctx, &r.loss_params, logits, r.t, r.dlogits, r.loss)) ||
                (st = segcl_model_backward(r.model, r.dlogits)) ||
                (st = segcl_model_step(r.model, opt)) || (st = read_loss(&r, &l)))
                break;
            if (!isfinite(l)) {
                st = segcl_fail(ctx, SEGCL_ERROR_STATE,
                                "training diverged at step %ld (loss %g); lower --lr", opt->step, l);
                break;
            }
            loss_sum += l;
            loss_n++;
            steps_this_run++;
            images_this_run += (double)n;
            r.meta.step = opt->step;
            if (o->progress) {
                double el = now() - t_start;
                double ips = images_this_run / (el > 0 ? el : 1e-9);
                long left = total - opt->step;
                segcl_train_progress p = {.event = 0, .epoch = (int)epoch,
                                          .epochs = r.meta.epochs, .step = opt->step,
                                          .steps_per_epoch = per_epoch, .total_steps = total,
                                          .loss = l, .images_per_s = ips,
                                          .eta_s = steps_this_run ? el / steps_this_run * left : 0};
                o->progress(&p, o->user);
            }
        }
        if (st || (summary->interrupted))
            break;
        bool epoch_complete = loss_n > 0 || !stop;
        if (!epoch_complete)
            break;
        if ((st = validate(&r, epoch, &v)))
            break;
        r.meta.epoch = epoch + 1;
        r.meta.batch_in_epoch = 0;
        if (stop && opt->step >= total && epoch + 1 < r.meta.epochs) {
            /* stopped by --steps inside an epoch: resuming continues from here */
            r.meta.epoch = epoch;
            r.meta.batch_in_epoch = opt->step - per_epoch * epoch;
        }
        double el = now() - t_epoch;
        double train_loss = loss_n ? loss_sum / loss_n : NAN;
        bool best = isfinite(v.dice) && v.dice > r.meta.best_dice;
        if (best)
            r.meta.best_dice = v.dice;
        if ((st = append_metrics(&r, epoch, opt->step, train_loss, &v,
                                 loss_n ? (double)loss_n * batch / el : 0, now() - t_start)) ||
            (st = save(&r, "checkpoint.safetensors")) || (best && (st = save(&r, "best.safetensors"))) ||
            (st = write_curve(&r)))
            break;
        summary->epochs_done = (int)(epoch + 1);
        if (o->progress) {
            segcl_train_progress p = {.event = 1, .epoch = (int)epoch, .epochs = r.meta.epochs,
                                      .step = opt->step, .steps_per_epoch = per_epoch,
                                      .total_steps = total, .loss = train_loss,
                                      .images_per_s = images_this_run / (now() - t_start),
                                      .val_loss = v.loss, .val_dice = v.dice, .val_iou = v.iou,
                                      .val_pixel_accuracy = v.acc, .best = best};
            o->progress(&p, o->user);
        }
    }
    summary->steps = opt->step;
    summary->best_val_dice = r.meta.best_dice;
    summary->final_val_dice = v.dice;
    summary->final_val_iou = v.iou;
    summary->final_val_pixel_accuracy = v.acc;
    summary->final_val_loss = v.loss;
    summary->seconds = now() - t_start;
    summary->images_per_s = images_this_run / (summary->seconds > 0 ? summary->seconds : 1);
    cleanup(&r);
    return st;
}
