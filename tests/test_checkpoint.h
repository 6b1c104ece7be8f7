/* Checkpoints whose metadata is a run's configuration, written and read as train, predict and
 * export do (io reads and writes the key/value list; src/settings gives it its meaning). */
#ifndef SEGCL_TEST_CHECKPOINT_H
#define SEGCL_TEST_CHECKPOINT_H

#include "io/checkpoint.h"
#include "settings/run_config.h"

static inline segcl_status test_checkpoint_save(segcl_context *ctx, const char *path,
                                                segcl_model *model,
                                                const segcl_run_config *config)
{
    segcl_metadata md = {0};
    segcl_status st = segcl_run_config_to_metadata(ctx, config, &md);
    if (!st)
        st = segcl_checkpoint_save(ctx, path, model, &md);
    segcl_metadata_clear(&md);
    return st;
}

/* The configuration in path's metadata, read and checked. */
static inline segcl_status test_checkpoint_read_config(segcl_context *ctx, const char *path,
                                                       segcl_run_config *config)
{
    segcl_metadata md = {0};
    segcl_status st = segcl_checkpoint_read_metadata(ctx, path, &md, NULL);
    if (!st)
        st = segcl_run_config_from_metadata(ctx, path, &md, config);
    segcl_metadata_clear(&md);
    return st;
}

/* The configuration (config may be NULL), then the tensors into model. */
static inline segcl_status test_checkpoint_load(segcl_context *ctx, const char *path,
                                                segcl_model *model, bool load_optimizer,
                                                segcl_run_config *config)
{
    segcl_run_config local;
    segcl_status st = test_checkpoint_read_config(ctx, path, config ? config : &local);
    return st ? st : segcl_checkpoint_load(ctx, path, model, load_optimizer);
}

#endif
