/*
 * A run's configuration: its defaults, and its conversion to and from the key/value strings of
 * a checkpoint's metadata. The keys and the formatting of every value are the file format:
 * checkpoints of every segcl version read back, and a saved configuration reads back exactly.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl.h"
#include "segcl_version.h"
#include "settings/run_config.h"

void segcl_run_config_defaults(segcl_run_config *config)
{
    memset(config, 0, sizeof *config);
    config->model = (segcl_model_config){SEGCL_ARCH_UNET, SEGCL_DEFAULT_CLASSES,
                                         SEGCL_DEFAULT_WIDTH, SEGCL_DEFAULT_DEPTH, 3};
    config->size = SEGCL_DEFAULT_SIZE;
    for (int c = 0; c < 3; c++)
        config->std[c] = 1.0f;
    segcl_optimizer_defaults(&config->optimizer, SEGCL_OPTIMIZER_ADAM);
    config->best_dice = -1;
    config->best_loss = INFINITY;
    config->epochs = SEGCL_DEFAULT_EPOCHS;
    config->batch = SEGCL_DEFAULT_BATCH;
    config->base_lr = config->optimizer.lr;
    config->val_fraction = SEGCL_DEFAULT_VAL_FRACTION;
    config->augment = SEGCL_AUGMENT_DERMOSCOPY;
    config->shuffle = true;
}

segcl_status segcl_run_config_to_metadata(segcl_context *ctx, const segcl_run_config *m,
                                          segcl_metadata *md)
{
    char buf[1100], aug[64];
    bool ok = true;
    /* string values, as safetensors' __metadata__ requires */
#define PUT(key, fmt, ...)                                                                         \
    do {                                                                                           \
        snprintf(buf, sizeof buf, fmt, __VA_ARGS__);                                               \
        ok = ok && segcl_metadata_add(md, key, buf);                                               \
    } while (0)
    segcl_augment_format(m->augment, aug, sizeof aug);
    PUT("format", "%s", "segcl");
    PUT("segcl_version", "%s", SEGCL_VERSION);
    PUT("arch", "%s", segcl_arch_names[m->model.arch]);
    PUT("classes", "%d", m->model.classes);
    PUT("width", "%d", m->model.width);
    PUT("depth", "%d", m->model.depth);
    PUT("in_channels", "%d", m->model.in_channels);
    PUT("size", "%d", m->size);
    PUT("mean", "%.9g,%.9g,%.9g", m->mean[0], m->mean[1], m->mean[2]);
    PUT("std", "%.9g,%.9g,%.9g", m->std[0], m->std[1], m->std[2]);
    PUT("epoch", "%ld", m->epoch);
    PUT("step", "%ld", m->step);
    PUT("seed", "%llu", (unsigned long long)m->seed);
    PUT("best_dice", "%.17g", m->best_dice);
    PUT("best_loss", "%.17g", m->best_loss);
    PUT("loss", "%s", segcl_loss_names[m->classes_loss]);
    PUT("optimizer", "%s", segcl_optimizer_names[m->optimizer.kind]);
    PUT("lr", "%.9g", m->optimizer.lr);
    PUT("weight_decay", "%.9g", m->optimizer.weight_decay);
    PUT("momentum", "%.9g", m->optimizer.momentum);
    PUT("nesterov", "%d", m->optimizer.nesterov ? 1 : 0);
    PUT("optimizer_step", "%ld", m->optimizer.step);
    PUT("data", "%s", m->data_dir);
    PUT("masks", "%s", m->masks_dir);
    PUT("data_format", "%s",
        m->format >= SEGCL_DATASET_AUTO && m->format <= SEGCL_DATASET_PAIR
            ? segcl_dataset_format_names[m->format]
            : "unknown");
    PUT("epochs", "%d", m->epochs);
    PUT("batch", "%d", m->batch);
    PUT("batch_in_epoch", "%ld", m->batch_in_epoch);
    PUT("lr_schedule", "%s", segcl_schedule_names[m->lr_schedule]);
    PUT("base_lr", "%.9g", m->base_lr);
    PUT("val_fraction", "%.9g", m->val_fraction);
    PUT("augment", "%s", aug);
    PUT("shuffle", "%d", m->shuffle ? 1 : 0);
    PUT("skip_bad", "%d", m->skip_bad ? 1 : 0);
    PUT("max_steps", "%ld", m->max_steps);
    PUT("seconds", "%.3f", m->seconds);
#undef PUT
    return ok ? SEGCL_OK
              : segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                           "out of host memory writing the checkpoint header");
}

/* ---- reading: every value parsed completely and strictly ---- */

typedef struct md_reader {
    segcl_context *ctx;
    const char *path;
    const segcl_metadata *md;
    segcl_status st; /* the first error */
} md_reader;

/* The value of key (NULL when absent); a value that is not a string is an error. */
static const char *md_value(md_reader *r, const char *key)
{
    if (r->st)
        return NULL;
    const segcl_metadata_entry *e = segcl_metadata_find(r->md, key);
    if (e && !e->value) {
        r->st =
            segcl_fail(r->ctx, SEGCL_ERROR_FORMAT, "%s: metadata %s is not a string", r->path, key);
        return NULL;
    }
    return e ? e->value : NULL;
}

static void md_bad(md_reader *r, const char *key, const char *v, const char *what)
{
    r->st = segcl_fail(r->ctx, SEGCL_ERROR_FORMAT, "%s: metadata %s '%.40s' is not %s", r->path,
                       key, v, what);
}

static void md_long(md_reader *r, const char *key, long lo, long hi, long *dst)
{
    const char *v = md_value(r, key);
    if (!v)
        return;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        md_bad(r, key, v, "an integer in range");
    else
        *dst = x;
}

static void md_int(md_reader *r, const char *key, int *dst)
{
    long x = *dst;
    md_long(r, key, INT32_MIN, INT32_MAX, &x);
    *dst = (int)x;
}

static void md_u64(md_reader *r, const char *key, uint64_t *dst)
{
    const char *v = md_value(r, key);
    if (!v)
        return;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || v[0] == '+' || v[0] == ' ')
        md_bad(r, key, v, "a non-negative integer");
    else
        *dst = x;
}

static void md_double(md_reader *r, const char *key, double *dst)
{
    const char *v = md_value(r, key);
    if (!v)
        return;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end)
        md_bad(r, key, v, "a number");
    else
        *dst = x;
}

static void md_float(md_reader *r, const char *key, float *dst)
{
    double x = *dst;
    md_double(r, key, &x);
    *dst = (float)x;
}

static void md_triple(md_reader *r, const char *key, float *dst)
{
    const char *v = md_value(r, key);
    if (!v)
        return;
    float t[3];
    const char *p = v;
    for (int k = 0; k < 3; k++) {
        char *end;
        t[k] = strtof(p, &end);
        if (end == p || (k < 2 && *end != ',') || (k == 2 && *end)) {
            md_bad(r, key, v, "three comma-separated numbers");
            return;
        }
        p = end + 1;
    }
    memcpy(dst, t, sizeof t);
}

static void md_bool(md_reader *r, const char *key, bool *dst)
{
    long x = *dst;
    md_long(r, key, 0, 1, &x);
    *dst = x != 0;
}

/* A name from table, or (as checkpoints before 0.2 wrote) its index as a number. */
static void md_name(md_reader *r, const char *key, const char *const *table, int *dst)
{
    const char *v = md_value(r, key);
    if (!v)
        return;
    int i = segcl_name_index(table, v);
    if (i >= 0) {
        *dst = i;
        return;
    }
    long x = 0;
    char *end;
    errno = 0;
    x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < INT32_MIN || x > INT32_MAX) {
        char choices[128];
        segcl_name_list(table, choices, sizeof choices);
        r->st = segcl_fail(r->ctx, SEGCL_ERROR_FORMAT, "%s: metadata %s '%.40s' is not one of %s",
                           r->path, key, v, choices);
        return;
    }
    *dst = (int)x;
}

static void md_string(md_reader *r, const char *key, char *dst, size_t len)
{
    const char *v = md_value(r, key);
    if (!v)
        return;
    if (strlen(v) >= len)
        md_bad(r, key, "...", "a path short enough");
    else
        snprintf(dst, len, "%s", v);
}

segcl_status segcl_run_config_from_metadata(segcl_context *ctx, const char *path,
                                            const segcl_metadata *md, segcl_run_config *m)
{
    segcl_run_config_defaults(m);
    md_reader r = {ctx, path, md, SEGCL_OK};
    const char *fmt = md_value(&r, "format");
    m->from_segcl = fmt && !strcmp(fmt, "segcl");
    if (r.st || !m->from_segcl)
        return r.st;
    int arch = m->model.arch, kind = m->optimizer.kind, loss = m->classes_loss,
        sched = m->lr_schedule;
    md_name(&r, "arch", segcl_arch_names, &arch);
    md_name(&r, "optimizer", segcl_optimizer_names, &kind);
    m->model.arch = (segcl_arch)arch;
    if (!r.st && kind >= 0 && kind <= SEGCL_OPTIMIZER_SGD)
        segcl_optimizer_defaults(&m->optimizer, (segcl_optimizer_kind)kind);
    else
        m->optimizer.kind = (segcl_optimizer_kind)kind;
    md_int(&r, "classes", &m->model.classes);
    md_int(&r, "width", &m->model.width);
    md_int(&r, "depth", &m->model.depth);
    md_int(&r, "in_channels", &m->model.in_channels);
    md_int(&r, "size", &m->size);
    md_triple(&r, "mean", m->mean);
    md_triple(&r, "std", m->std);
    md_long(&r, "epoch", LONG_MIN, LONG_MAX, &m->epoch);
    md_long(&r, "step", LONG_MIN, LONG_MAX, &m->step);
    md_u64(&r, "seed", &m->seed);
    md_double(&r, "best_dice", &m->best_dice);
    md_double(&r, "best_loss", &m->best_loss);
    md_name(&r, "loss", segcl_loss_names, &loss);
    m->classes_loss = loss;
    md_float(&r, "lr", &m->optimizer.lr);
    md_float(&r, "weight_decay", &m->optimizer.weight_decay);
    md_float(&r, "momentum", &m->optimizer.momentum);
    md_bool(&r, "nesterov", &m->optimizer.nesterov);
    md_long(&r, "optimizer_step", LONG_MIN, LONG_MAX, &m->optimizer.step);
    md_string(&r, "data", m->data_dir, sizeof m->data_dir);
    md_string(&r, "masks", m->masks_dir, sizeof m->masks_dir);
    md_name(&r, "data_format", segcl_dataset_format_names, &m->format);
    md_int(&r, "epochs", &m->epochs);
    md_int(&r, "batch", &m->batch);
    md_long(&r, "batch_in_epoch", LONG_MIN, LONG_MAX, &m->batch_in_epoch);
    md_name(&r, "lr_schedule", segcl_schedule_names, &sched);
    m->lr_schedule = sched;
    md_float(&r, "base_lr", &m->base_lr);
    md_float(&r, "val_fraction", &m->val_fraction);
    const char *aug = md_value(&r, "augment");
    if (aug && !strcmp(aug, "1")) /* before 0.2: on or off */
        m->augment = SEGCL_AUGMENT_DERMOSCOPY;
    else if (aug && !strcmp(aug, "0"))
        m->augment = 0;
    else if (aug && segcl_augment_parse(ctx, aug, &m->augment))
        md_bad(&r, "augment", aug, "a list of augmentations");
    md_bool(&r, "shuffle", &m->shuffle);
    md_bool(&r, "skip_bad", &m->skip_bad);
    md_long(&r, "max_steps", LONG_MIN, LONG_MAX, &m->max_steps);
    md_double(&r, "seconds", &m->seconds);
    if (r.st)
        return r.st;
    return segcl_settings_check(ctx, m, SEGCL_SETTINGS_RUN, path);
}
