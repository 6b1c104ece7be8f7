/*
 * Checkpoints in the safetensors format (8-byte little-endian header length, JSON header,
 * raw little-endian tensors) with PyTorch's state_dict names, so PyTorch users can load them
 * and segcl can start from PyTorch weights. Optimizer moments live under "optimizer.m." and
 * "optimizer.v."; beside the tensors, "__metadata__" holds key/value strings that this file
 * format carries without knowing what they mean (a run's configuration: src/settings).
 */
#ifndef SEGCL_CHECKPOINT_H
#define SEGCL_CHECKPOINT_H

#include <stdio.h>

#include "core/metadata.h"
#include "model/model.h"

/* Writes model (and optimizer moments when its parameters have them) with metadata (NULL: none)
 * to path through a temporary file, fsynced and renamed: an interrupted save never damages an
 * existing checkpoint. */
SEGCL_INTERNAL segcl_status segcl_checkpoint_save(segcl_context *ctx, const char *path,
                                                  segcl_model *model,
                                                  const segcl_metadata *metadata);

/* Reads only the header: checks every tensor's dtype, shape and offsets against the file size,
 * and appends the metadata to md (an empty list; left empty on failure). *has_optimizer_state
 * (when not NULL) tells whether the file holds optimizer moments. */
SEGCL_INTERNAL segcl_status segcl_checkpoint_read_metadata(segcl_context *ctx, const char *path,
                                                           segcl_metadata *md,
                                                           bool *has_optimizer_state);
/* The same from an open stream of the whole file (`name` labels messages); for fuzzing. */
SEGCL_INTERNAL segcl_status segcl_checkpoint_read_metadata_stream(segcl_context *ctx,
                                                                  const char *name, FILE *f,
                                                                  segcl_metadata *md,
                                                                  bool *has_optimizer_state);

/* What segcl_checkpoint_load reads besides weights and buffers: the optimizer moments the file
 * holds, and those it must hold (a resumed run continues exactly or not at all). */
enum {
    SEGCL_CHECKPOINT_MOMENTS = 1, /* the moments present (absent ones start at zero) */
    SEGCL_CHECKPOINT_NEED_M = 2,  /* every parameter's optimizer.m (Adam's, SGD's momentum) */
    SEGCL_CHECKPOINT_NEED_V = 4,  /* every parameter's optimizer.v (Adam's) */
};

/* Loads weights and buffers into model (shapes must match exactly) and, as `moments` (the flags
 * above, 0: none) says, the optimizer moments; a required one that is missing is an error
 * naming the file. The metadata is not read. */
SEGCL_INTERNAL segcl_status segcl_checkpoint_load(segcl_context *ctx, const char *path,
                                                  segcl_model *model, unsigned moments);

#endif
