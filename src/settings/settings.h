/*
 * Every setting of segcl in one place, below the model, io, data, train and infer that use
 * them: the plain configuration types (model shape, optimizer, loss, augmentation), their
 * limits and defaults, and the name tables of every named choice. A run's whole configuration
 * is in settings/run_config.h, which only train and infer include. Nothing here knows a file
 * format or a device.
 */
#ifndef SEGCL_SETTINGS_H
#define SEGCL_SETTINGS_H

#include "core/core.h"

/* ---- limits ------------------------------------------------------------------------------ */

#define SEGCL_MAX_CLASSES 16     /* classes of a model, its loss and its metrics */
#define SEGCL_MAX_DEPTH 6        /* encoder stages */
#define SEGCL_MAX_WIDTH 1024     /* channels of the first stage */
#define SEGCL_MAX_CHANNELS 16384 /* channels of the deepest stage (width << (depth - 1)) */
#define SEGCL_MIN_SIZE 16        /* training and input image size, a multiple of 2^depth */
#define SEGCL_MAX_SIZE 4096
#define SEGCL_MAX_EPOCHS 1000000
#define SEGCL_MAX_BATCH 65536

/* ---- defaults of a new run (segcl_train_default_options) and of the predictor ------------ */

#define SEGCL_DEFAULT_CLASSES 1
#define SEGCL_DEFAULT_WIDTH 16
#define SEGCL_DEFAULT_DEPTH 4
#define SEGCL_DEFAULT_SIZE 256
#define SEGCL_DEFAULT_EPOCHS 30
#define SEGCL_DEFAULT_BATCH 32
#define SEGCL_DEFAULT_LR 1e-3f
#define SEGCL_DEFAULT_WEIGHT_DECAY 1e-6f
#define SEGCL_DEFAULT_VAL_FRACTION 0.1f
#define SEGCL_DEFAULT_SEED 42
#define SEGCL_DEFAULT_OVERLAYS 4
#define SEGCL_DEFAULT_THRESHOLD 0.5f
#define SEGCL_DEFAULT_PREDICT_BATCH 8

/* ---- the model's shape ------------------------------------------------------------------- */

typedef enum segcl_arch {
    SEGCL_ARCH_UNET = 0,
    SEGCL_ARCH_SEGNET = 1,
} segcl_arch;

typedef struct segcl_model_config {
    segcl_arch arch;
    int classes;     /* 1: one logit per pixel (binary); >= 2: softmax over classes */
    int width;       /* channels of the first encoder stage (16 in the lesson) */
    int depth;       /* encoder stages (4 in the lesson) */
    int in_channels; /* 3 for RGB */
} segcl_model_config;

/* ---- the optimizer ----------------------------------------------------------------------- */

typedef enum segcl_optimizer_kind {
    SEGCL_OPTIMIZER_ADAM = 0,
    SEGCL_OPTIMIZER_ADAMW = 1,
    SEGCL_OPTIMIZER_SGD = 2,
} segcl_optimizer_kind;

typedef struct segcl_optimizer {
    segcl_optimizer_kind kind;
    float lr, beta1, beta2, eps, weight_decay;
    float momentum, dampening;
    bool nesterov;
    long step; /* steps taken so far */
} segcl_optimizer;

/* PyTorch's defaults for kind (lr 1e-3, or 1e-2 for SGD; AdamW's weight decay 1e-2). */
SEGCL_INTERNAL void segcl_optimizer_defaults(segcl_optimizer *opt, segcl_optimizer_kind kind);

/* ---- the loss ---------------------------------------------------------------------------- */

typedef enum segcl_loss_kind {
    SEGCL_LOSS_BCE = 0,      /* one logit per pixel, BCE with logits, mean over pixels */
    SEGCL_LOSS_CE = 1,       /* C logits per pixel, softmax cross-entropy, (weighted) mean */
    SEGCL_LOSS_DICE = 2,     /* 1 - mean soft Dice over images and classes */
    SEGCL_LOSS_BCE_DICE = 3, /* BCE (one class) or CE (several) plus Dice */
} segcl_loss_kind;

/* The loss a run gets when the caller names none: BCE for one class, cross-entropy for more. */
SEGCL_INTERNAL segcl_loss_kind segcl_loss_default(int classes);

/* ---- augmentation ------------------------------------------------------------------------ */

#define SEGCL_AUGMENT_HFLIP 1u  /* mirror left-right */
#define SEGCL_AUGMENT_VFLIP 2u  /* mirror top-bottom */
#define SEGCL_AUGMENT_ROT90 4u  /* quarter turns */
#define SEGCL_AUGMENT_COLOR 8u  /* brightness and contrast */
#define SEGCL_AUGMENT_SCALE 16u /* zoom in by up to 25% around a random centre */
#define SEGCL_AUGMENT_BITS 5
/* Dermoscopy has no up or down; people and street scenes do. */
#define SEGCL_AUGMENT_DERMOSCOPY                                                                   \
    (SEGCL_AUGMENT_HFLIP | SEGCL_AUGMENT_VFLIP | SEGCL_AUGMENT_ROT90 | SEGCL_AUGMENT_COLOR)
#define SEGCL_AUGMENT_UPRIGHT (SEGCL_AUGMENT_HFLIP | SEGCL_AUGMENT_COLOR | SEGCL_AUGMENT_SCALE)

/* The augmentation a dataset gets when the caller names none: the layout found decides. */
SEGCL_INTERNAL unsigned segcl_augment_default(segcl_dataset_format format);

/* ---- name tables ------------------------------------------------------------------------- */

/* NULL-terminated; a name's index is its enum value (segcl_arch, segcl_optimizer_kind,
 * segcl_loss_kind, the schedule number, segcl_dataset_format) or, for augmentations, its bit. */
SEGCL_INTERNAL extern const char *const segcl_arch_names[];
SEGCL_INTERNAL extern const char *const segcl_optimizer_names[];
SEGCL_INTERNAL extern const char *const segcl_loss_names[];
SEGCL_INTERNAL extern const char *const segcl_schedule_names[];
SEGCL_INTERNAL extern const char *const segcl_augment_names[];
SEGCL_INTERNAL extern const char *const segcl_dataset_format_names[];

/* Index of name in table, or -1. */
SEGCL_INTERNAL int segcl_name_index(const char *const *table, const char *name);
/* The table's names joined by ", " (for messages). */
SEGCL_INTERNAL void segcl_name_list(const char *const *table, char *buf, size_t len);
/* Looks name up; an unknown one is SEGCL_ERROR_INVALID_ARGUMENT "unknown <what> '<name>'
 * (<choices>)". */
SEGCL_INTERNAL segcl_status segcl_name_parse(segcl_context *ctx, const char *what,
                                             const char *const *table, const char *name, int *out);

/* Augmentation lists: "hflip,color", "none" <-> a bit mask of SEGCL_AUGMENT_* bits. */
SEGCL_INTERNAL segcl_status segcl_augment_parse(segcl_context *ctx, const char *list,
                                                unsigned *mask);
SEGCL_INTERNAL void segcl_augment_format(unsigned mask, char *buf, size_t len);

/* ---- errors that concern one setting ----------------------------------------------------- */

#endif
