/*
 * Every setting of segcl in one place, below the model, io, data, train and infer that use
 * them: the plain configuration types (model shape, optimizer, loss, augmentation), their
 * limits and defaults, the name tables of every named choice, a run's whole configuration
 * (segcl_run_config) with its one validator, and its conversion to and from the key/value
 * metadata a checkpoint carries. Nothing here knows a file format or a device.
 */
#ifndef SEGCL_SETTINGS_H
#define SEGCL_SETTINGS_H

#include "core/core.h"
#include "core/metadata.h"

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
    int classes;  /* 1: one logit per pixel (binary); >= 2: softmax over classes */
    int width;    /* channels of the first encoder stage (16 in the lesson) */
    int depth;    /* encoder stages (4 in the lesson) */
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

/* ---- augmentation ------------------------------------------------------------------------ */

#define SEGCL_AUGMENT_HFLIP 1u /* mirror left-right */
#define SEGCL_AUGMENT_VFLIP 2u /* mirror top-bottom */
#define SEGCL_AUGMENT_ROT90 4u /* quarter turns */
#define SEGCL_AUGMENT_COLOR 8u /* brightness and contrast */
#define SEGCL_AUGMENT_SCALE 16u /* zoom in by up to 25% around a random centre */
#define SEGCL_AUGMENT_BITS 5
/* Dermoscopy has no up or down; people and street scenes do. */
#define SEGCL_AUGMENT_DERMOSCOPY                                                                  \
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
                                             const char *const *table, const char *name,
                                             int *out);

/* Augmentation lists: "hflip,color", "none" <-> a bit mask of SEGCL_AUGMENT_* bits. */
SEGCL_INTERNAL segcl_status segcl_augment_parse(segcl_context *ctx, const char *list,
                                                unsigned *mask);
SEGCL_INTERNAL void segcl_augment_format(unsigned mask, char *buf, size_t len);

/* ---- errors that concern one setting ----------------------------------------------------- */

/*
 * segcl_fail, and the context remembers which setting the message concerns (the name of the
 * option's field, e.g. "threshold", "max_steps"): segcl_context_error_setting returns it, so a
 * command-line tool can name its own flag for it.
 */
SEGCL_INTERNAL segcl_status segcl_fail_setting(segcl_context *ctx, const char *setting,
                                               segcl_status status, const char *fmt, ...)
    SEGCL_PRINTF(4, 5);

/* ---- a run's configuration --------------------------------------------------------------- */

/* Everything a training run depends on (to start, to resume it exactly, or to predict with
 * what it made), and where it stands: a checkpoint's metadata is this, as key/value strings. */
typedef struct segcl_run_config {
    bool from_segcl;       /* metadata written by segcl (false: e.g. a plain PyTorch export) */
    segcl_model_config model;
    int size;              /* training image size */
    float mean[3], std[3];
    long epoch;            /* epochs completed */
    long step;             /* optimizer steps taken */
    uint64_t seed;
    double best_dice;      /* best validation Dice so far (-1: none; NaN: undefined) */
    double best_loss;      /* validation loss of the best epoch (chosen by loss when Dice is
                              undefined); +inf: none */
    int classes_loss;      /* segcl_loss_kind */
    segcl_optimizer optimizer;
    /* the training run, so a resumed run continues it exactly */
    char data_dir[1024];   /* the dataset folder, or the images folder of a pair */
    char masks_dir[1024];  /* the masks folder of a pair (format SEGCL_DATASET_PAIR) */
    int format;            /* segcl_dataset_format */
    int epochs, batch;
    long batch_in_epoch;   /* batches of `epoch` already done (an interrupted epoch) */
    int lr_schedule;       /* 0 none, 1 cosine, 2 step */
    float base_lr;
    float val_fraction;
    unsigned augment;      /* SEGCL_AUGMENT_* bits */
    bool shuffle;
    bool skip_bad;         /* unusable pairs left out (so a resumed run sees the same data) */
    long max_steps;
    double seconds;        /* training time so far, over every session of the run */
} segcl_run_config;

/* The configuration metadata is read over: keys a checkpoint lacks keep these values. */
SEGCL_INTERNAL void segcl_run_config_defaults(segcl_run_config *config);

typedef enum segcl_settings_scope {
    SEGCL_SETTINGS_MODEL = 1, /* what inference needs: model shape, input size, normalisation */
    SEGCL_SETTINGS_RUN = 3,   /* everything a training run (or its resumption) needs */
} segcl_settings_scope;

/*
 * Checks every setting of config within scope against its range. file == NULL: the settings
 * came from the caller (SEGCL_ERROR_INVALID_ARGUMENT, naming the setting); otherwise from that
 * checkpoint's metadata (SEGCL_ERROR_FORMAT, naming the file and the metadata key).
 */
SEGCL_INTERNAL segcl_status segcl_settings_check(segcl_context *ctx,
                                                 const segcl_run_config *config,
                                                 segcl_settings_scope scope, const char *file);

/* Appends config to md as a checkpoint's metadata: string values, keys in a fixed order. */
SEGCL_INTERNAL segcl_status segcl_run_config_to_metadata(segcl_context *ctx,
                                                         const segcl_run_config *config,
                                                         segcl_metadata *md);
/* Reads config from the metadata of `file` (for messages): defaults for absent keys, every
 * value parsed completely and strictly, names or (as before 0.2) numbers for named choices,
 * then segcl_settings_check over the whole run. Metadata not written by segcl ("format" other
 * than "segcl") leaves the defaults with from_segcl false, and is no error. */
SEGCL_INTERNAL segcl_status segcl_run_config_from_metadata(segcl_context *ctx, const char *file,
                                                           const segcl_metadata *md,
                                                           segcl_run_config *config);

#endif
