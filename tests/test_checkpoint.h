/* Checkpoints whose metadata is a run's configuration, written and read as train, predict and
 * export do (io reads and writes the key/value list; src/settings gives it its meaning). */
#ifndef SEGCL_TEST_CHECKPOINT_H
#define SEGCL_TEST_CHECKPOINT_H

#include "io/checkpoint.h"
#include "settings/run_config.h"
#include "train/run_folder.h"

/* The configuration (config may be NULL), then the tensors into model. */
static inline segcl_status test_checkpoint_load(segcl_context *ctx, const char *path,
                                                segcl_model *model, bool load_optimizer,
                                                segcl_run_config *config)
{
    segcl_run_config local;
    segcl_status st = segcl_run_config_read(ctx, path, config ? config : &local);
    return st ? st : segcl_checkpoint_load(ctx, path, model, load_optimizer);
}

#endif
