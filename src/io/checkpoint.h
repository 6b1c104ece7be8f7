/*
 * Checkpoints in the safetensors format (8-byte little-endian header length, JSON header,
 * raw little-endian tensors) with PyTorch's state_dict names, so PyTorch users can load them
 * and segcl can start from PyTorch weights. Optimizer moments live under "optimizer.m." and
 * "optimizer.v."; run settings under "__metadata__".
 */
#ifndef SEGCL_CHECKPOINT_H
#define SEGCL_CHECKPOINT_H

#include <stdio.h>

#include "model/model.h"

typedef struct segcl_checkpoint_meta {
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
    bool has_optimizer_state;
    /* the training run, so --resume continues it exactly */
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
} segcl_checkpoint_meta;

/* The settings of a default training run (segcl_train_default_options). */
SEGCL_INTERNAL void segcl_checkpoint_meta_defaults(segcl_checkpoint_meta *meta);

/* Writes model (and optimizer moments when opt has them) to path through a temporary file,
 * fsynced and renamed: an interrupted save never damages an existing checkpoint. */
SEGCL_INTERNAL segcl_status segcl_checkpoint_save(segcl_context *ctx, const char *path,
                                                  segcl_model *model,
                                                  const segcl_checkpoint_meta *meta);

/* Reads only the header: checks every tensor's dtype, shape and offsets against the file size,
 * and parses and range-checks the metadata (segcl_settings_check). */
SEGCL_INTERNAL segcl_status segcl_checkpoint_read_meta(segcl_context *ctx, const char *path,
                                                       segcl_checkpoint_meta *meta);
/* The same from an open stream of the whole file (`name` labels messages); for fuzzing. */
SEGCL_INTERNAL segcl_status segcl_checkpoint_read_meta_stream(segcl_context *ctx,
                                                              const char *name, FILE *f,
                                                              segcl_checkpoint_meta *meta);

/* Loads weights and buffers into model (shapes must match exactly); with load_optimizer, also
 * the optimizer moments (absent ones start at zero). */
SEGCL_INTERNAL segcl_status segcl_checkpoint_load(segcl_context *ctx, const char *path,
                                                  segcl_model *model, bool load_optimizer,
                                                  segcl_checkpoint_meta *meta);

#endif
