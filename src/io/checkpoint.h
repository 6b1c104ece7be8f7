/*
 * Checkpoints in the safetensors format (8-byte little-endian header length, JSON header,
 * raw little-endian tensors) with PyTorch's state_dict names, so PyTorch users can load them
 * and segcl can start from PyTorch weights. Optimizer moments live under "optimizer.m." and
 * "optimizer.v."; run settings under "__metadata__".
 */
#ifndef SEGCL_CHECKPOINT_H
#define SEGCL_CHECKPOINT_H

#include "model/model.h"

typedef struct segcl_checkpoint_meta {
    bool from_segcl;       /* metadata written by segcl (false: e.g. a plain PyTorch export) */
    segcl_model_config model;
    int size;              /* training image size */
    float mean[3], std[3];
    long epoch;            /* epochs completed */
    long step;             /* optimizer steps taken */
    uint64_t seed;
    double best_dice;
    int classes_loss;      /* segcl_loss_kind */
    segcl_optimizer optimizer;
    bool has_optimizer_state;
    /* the training run, so --resume continues it exactly */
    char data_dir[1024];
    int format;            /* segcl_dataset_format */
    int epochs, batch;
    long batch_in_epoch;   /* batches of `epoch` already done (an interrupted epoch) */
    int lr_schedule;       /* 0 none, 1 cosine, 2 step */
    float base_lr;
    float val_fraction;
    bool augment, shuffle;
    long max_steps;
} segcl_checkpoint_meta;

SEGCL_INTERNAL void segcl_checkpoint_meta_defaults(segcl_checkpoint_meta *meta);

/* Writes model (and optimizer moments when opt has them) to path through a temporary file,
 * fsynced and renamed: an interrupted save never damages an existing checkpoint. */
SEGCL_INTERNAL segcl_status segcl_checkpoint_save(segcl_context *ctx, const char *path,
                                                  segcl_model *model,
                                                  const segcl_checkpoint_meta *meta);

/* Reads only the header: metadata, and checks every tensor's dtype, shape and offsets
 * against the file size. */
SEGCL_INTERNAL segcl_status segcl_checkpoint_read_meta(segcl_context *ctx, const char *path,
                                                       segcl_checkpoint_meta *meta);

/* Loads weights and buffers into model (shapes must match exactly); with load_optimizer, also
 * the optimizer moments (absent ones start at zero). */
SEGCL_INTERNAL segcl_status segcl_checkpoint_load(segcl_context *ctx, const char *path,
                                                  segcl_model *model, bool load_optimizer,
                                                  segcl_checkpoint_meta *meta);

#endif
