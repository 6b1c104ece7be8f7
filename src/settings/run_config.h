/*
 * A run's configuration (src/settings/run_config.c): everything a training run depends on,
 * its one validator, and its conversion to and from the key/value metadata a checkpoint
 * carries. Train and infer include this; io and the layers below it do not know runs.
 */
#ifndef SEGCL_RUN_CONFIG_H
#define SEGCL_RUN_CONFIG_H

#include "core/metadata.h"
#include "settings/settings.h"

/* Everything a training run depends on (to start, to resume it exactly, or to predict with
 * what it made), and where it stands: a checkpoint's metadata is this, as key/value strings. */
typedef struct segcl_run_config {
    bool from_segcl; /* metadata written by segcl (false: e.g. a plain PyTorch export) */
    segcl_model_config model;
    int size; /* training image size */
    float mean[3], std[3];
    long epoch; /* epochs completed */
    long step;  /* optimizer steps taken */
    uint64_t seed;
    double best_dice; /* best validation Dice so far (-1: none; NaN: undefined) */
    double best_loss; /* validation loss of the best epoch (chosen by loss when Dice is
                         undefined); +inf: none */
    int classes_loss; /* segcl_loss_kind */
    segcl_optimizer optimizer;
    /* the training run, so a resumed run continues it exactly */
    char data_dir[1024];  /* the dataset folder, or the images folder of a pair */
    char masks_dir[1024]; /* the masks folder of a pair (format SEGCL_DATASET_PAIR) */
    int format;           /* segcl_dataset_format */
    int epochs, batch;
    long batch_in_epoch; /* batches of `epoch` already done (an interrupted epoch) */
    int lr_schedule;     /* 0 none, 1 cosine, 2 step */
    float base_lr;
    float val_fraction;
    unsigned augment; /* SEGCL_AUGMENT_* bits */
    bool shuffle;
    bool skip_bad; /* unusable pairs left out (so a resumed run sees the same data) */
    long max_steps;
    double seconds; /* training time so far, over every session of the run */
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
SEGCL_INTERNAL segcl_status segcl_settings_check(segcl_context *ctx, const segcl_run_config *config,
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
