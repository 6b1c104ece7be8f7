/*
 * One validator for run settings and the tables of every named choice. Settings reach segcl
 * three ways: the caller's options (CLI or API), a checkpoint's metadata when a run resumes,
 * and a checkpoint opened to predict. All three pass through segcl_settings_check before any
 * value is used, so no range is trusted twice or checked in two places. A rejected setting is
 * named by its option's field, never by a command-line flag: the CLI maps one to the other.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cl/cl.h"
#include "settings/run_config.h"

const char *const segcl_arch_names[] = {"unet", "segnet", NULL};
const char *const segcl_optimizer_names[] = {"adam", "adamw", "sgd", NULL};
const char *const segcl_loss_names[] = {"bce", "ce", "dice", "bce+dice", NULL};
const char *const segcl_schedule_names[] = {"none", "cosine", "step", NULL};
const char *const segcl_augment_names[] = {"hflip", "vflip", "rot90", "color", "scale", NULL};
const char *const segcl_dataset_format_names[] = {"auto", "ph2", "mads", "folder", "pair", NULL};

void segcl_optimizer_defaults(segcl_optimizer *opt, segcl_optimizer_kind kind)
{
    memset(opt, 0, sizeof *opt);
    opt->kind = kind;
    opt->lr = kind == SEGCL_OPTIMIZER_SGD ? 1e-2f : 1e-3f;
    opt->beta1 = 0.9f;
    opt->beta2 = 0.999f;
    opt->eps = 1e-8f;
    opt->weight_decay = kind == SEGCL_OPTIMIZER_ADAMW ? 1e-2f : 0.0f;
}

segcl_loss_kind segcl_loss_default(int classes)
{
    return classes == 1 ? SEGCL_LOSS_BCE : SEGCL_LOSS_CE;
}

unsigned segcl_augment_default(segcl_dataset_format format)
{
    return format == SEGCL_DATASET_PH2 ? SEGCL_AUGMENT_DERMOSCOPY : SEGCL_AUGMENT_UPRIGHT;
}

int segcl_name_index(const char *const *table, const char *name)
{
    for (int i = 0; name && table[i]; i++)
        if (!strcmp(table[i], name))
            return i;
    return -1;
}

void segcl_name_list(const char *const *table, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; table[i] && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "", table[i]);
}

segcl_status segcl_name_parse(segcl_context *ctx, const char *what, const char *const *table,
                              const char *name, int *out)
{
    int i = segcl_name_index(table, name);
    if (i < 0) {
        char choices[128];
        segcl_name_list(table, choices, sizeof choices);
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "unknown %s '%s' (%s)", what,
                          name ? name : "", choices);
    }
    *out = i;
    return SEGCL_OK;
}

segcl_status segcl_augment_parse(segcl_context *ctx, const char *list, unsigned *mask)
{
    unsigned bits = 0;
    if (!list || !strcmp(list, "none") || !*list) {
        *mask = 0;
        return SEGCL_OK;
    }
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char name[32];
        if (n == 0 || n >= sizeof name)
            return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                              "augmentation list '%s': expected names from hflip, vflip, rot90, "
                              "color, scale separated by commas, or none",
                              list);
        memcpy(name, p, n);
        name[n] = '\0';
        int bit = 0;
        segcl_status st = segcl_name_parse(ctx, "augmentation", segcl_augment_names, name, &bit);
        if (st)
            return st;
        bits |= 1u << bit;
        p += n + (comma ? 1 : 0);
        if (comma && !*p)
            return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                              "augmentation list '%s' ends with a comma", list);
    }
    *mask = bits;
    return SEGCL_OK;
}

void segcl_augment_format(unsigned mask, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; segcl_augment_names[i] && at < len; i++)
        if (mask & (1u << i))
            at +=
                (size_t)snprintf(buf + at, len - at, "%s%s", at ? "," : "", segcl_augment_names[i]);
    if (!at)
        snprintf(buf, len, "none");
}

/* Formats a rejected setting: the setting for the caller's settings (the option's field; NULL
 * for what no option sets), the metadata key and file for a checkpoint's. */
static segcl_status reject(segcl_context *ctx, const char *file, const char *key,
                           const char *setting, const char *problem)
{
    if (file)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: metadata %s %s (corrupt or edited?)", file,
                          key, problem);
    if (setting)
        return segcl_fail_setting(ctx, setting, SEGCL_ERROR_INVALID_ARGUMENT, "%s %s", key,
                                  problem);
    return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s %s", key, problem);
}

#define CHECK(ok, key, setting, ...)                                                               \
    do {                                                                                           \
        if (!(ok)) {                                                                               \
            char problem_[192];                                                                    \
            snprintf(problem_, sizeof problem_, __VA_ARGS__);                                      \
            return reject(ctx, file, key, setting, problem_);                                      \
        }                                                                                          \
    } while (0)

static bool finite_in(double v, double lo, double hi)
{
    return isfinite(v) && v >= lo && v <= hi;
}

segcl_status segcl_settings_check(segcl_context *ctx, const segcl_run_config *m,
                                  segcl_settings_scope scope, const char *file)
{
    const segcl_model_config *c = &m->model;
    CHECK(c->arch == SEGCL_ARCH_UNET || c->arch == SEGCL_ARCH_SEGNET, "arch", "arch",
          "%d is not an architecture", (int)c->arch);
    CHECK(c->depth >= 1 && c->depth <= SEGCL_MAX_DEPTH, "depth", "depth",
          "%d is out of range: 1..%d", c->depth, SEGCL_MAX_DEPTH);
    CHECK(c->arch != SEGCL_ARCH_SEGNET || c->depth >= 2, "depth", "depth",
          "%d is too shallow: SegNet needs 2 or more", c->depth);
    CHECK(c->width >= 1 && c->width <= SEGCL_MAX_WIDTH, "width", "width",
          "%d is out of range: 1..%d", c->width, SEGCL_MAX_WIDTH);
    CHECK(((long)c->width << (c->depth - 1)) <= SEGCL_MAX_CHANNELS, "width", "width",
          "%d gives %ld channels at depth %d: at most %d", c->width,
          (long)c->width << (c->depth - 1), c->depth, SEGCL_MAX_CHANNELS);
    CHECK(c->classes >= 1 && c->classes <= SEGCL_MAX_CLASSES, "classes", "classes",
          "%d is out of range: 1..%d", c->classes, SEGCL_MAX_CLASSES);
    CHECK(c->in_channels == 3, "in_channels", NULL, "%d: segcl models take 3 (RGB)",
          c->in_channels);
    const int multiple = 1 << c->depth;
    CHECK(m->size >= SEGCL_MIN_SIZE && m->size <= SEGCL_MAX_SIZE && m->size % multiple == 0, "size",
          "size", "%d must be %d..%d and a multiple of %d (2^depth)", m->size, SEGCL_MIN_SIZE,
          SEGCL_MAX_SIZE, multiple);
    for (int i = 0; i < 3; i++) {
        CHECK(finite_in(m->mean[i], -1e6, 1e6), "mean", "mean", "%g is not a finite number",
              (double)m->mean[i]);
        CHECK(isfinite(m->std[i]) && m->std[i] > 0, "std", "std", "%g must be positive",
              (double)m->std[i]);
    }
    if (scope != SEGCL_SETTINGS_RUN)
        return SEGCL_OK;
    CHECK(m->epochs >= 1 && m->epochs <= SEGCL_MAX_EPOCHS, "epochs", "epochs",
          "%d is out of range: 1..%d", m->epochs, SEGCL_MAX_EPOCHS);
    CHECK(m->batch >= 1 && m->batch <= SEGCL_MAX_BATCH, "batch", "batch",
          "%d is out of range: 1..%d", m->batch, SEGCL_MAX_BATCH);
    CHECK(m->epoch >= 0 && m->epoch <= m->epochs, "epoch", NULL, "%ld is outside 0..%d", m->epoch,
          m->epochs);
    CHECK(m->batch_in_epoch >= 0, "batch_in_epoch", NULL, "%ld is negative", m->batch_in_epoch);
    CHECK(m->step >= 0 && m->optimizer.step >= 0, "step", NULL, "%ld is negative",
          m->step < 0 ? m->step : m->optimizer.step);
    CHECK(m->max_steps >= 0, "max_steps", "max_steps", "%ld is negative", m->max_steps);
    CHECK(finite_in(m->seconds, 0, 1e12), "seconds", NULL, "%g is not a duration", m->seconds);
    CHECK(m->classes_loss >= SEGCL_LOSS_BCE && m->classes_loss <= SEGCL_LOSS_BCE_DICE, "loss",
          "loss", "%d is not a loss", m->classes_loss);
    CHECK(!(m->classes_loss == SEGCL_LOSS_BCE && c->classes != 1), "loss", "loss",
          "bce needs one class (binary masks); %d classes take ce", c->classes);
    CHECK(!(m->classes_loss == SEGCL_LOSS_CE && c->classes == 1), "loss", "loss",
          "ce needs 2 or more classes; binary masks take bce");
    CHECK(m->lr_schedule >= 0 && m->lr_schedule <= 2, "lr_schedule", "lr_schedule",
          "%d is not a schedule", m->lr_schedule);
    CHECK(m->format >= SEGCL_DATASET_AUTO && m->format <= SEGCL_DATASET_PAIR, "data_format",
          "format", "%d is not a dataset layout", m->format);
    CHECK((m->augment >> SEGCL_AUGMENT_BITS) == 0, "augment", "augment",
          "mask %u names no augmentation", m->augment);
    CHECK(finite_in(m->val_fraction, 0, 1) && m->val_fraction < 1, "val_fraction", "val_fraction",
          "%g must be in [0, 1)", (double)m->val_fraction);
    const segcl_optimizer *o = &m->optimizer;
    CHECK(o->kind >= SEGCL_OPTIMIZER_ADAM && o->kind <= SEGCL_OPTIMIZER_SGD, "optimizer",
          "optimizer", "%d is not an optimizer", (int)o->kind);
    CHECK(finite_in(o->lr, 0, 1e6) && o->lr > 0, "lr", "lr", "%g must be positive and finite",
          (double)o->lr);
    CHECK(finite_in(m->base_lr, 0, 1e6) && m->base_lr > 0, "base_lr", "lr",
          "%g must be positive and finite", (double)m->base_lr);
    CHECK(finite_in(o->weight_decay, 0, 1e6), "weight_decay", "weight_decay",
          "%g must be zero or positive", (double)o->weight_decay);
    CHECK(finite_in(o->momentum, 0, 1) && o->momentum < 1, "momentum", "momentum",
          "%g must be in [0, 1)", (double)o->momentum);
    CHECK(finite_in(o->beta1, 0, 1) && o->beta1 < 1 && finite_in(o->beta2, 0, 1) && o->beta2 < 1 &&
              isfinite(o->eps) && o->eps > 0,
          "optimizer", NULL, "constants out of range");
    return SEGCL_OK;
}
