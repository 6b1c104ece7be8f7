/* Checkpoints whose metadata is a run's configuration, written and read as train, predict and
 * export do (io reads and writes the key/value list; src/settings gives it its meaning). */
#ifndef SEGCL_TEST_CHECKPOINT_H
#define SEGCL_TEST_CHECKPOINT_H

#include <math.h>
#include <stdlib.h>

#include "io/checkpoint.h"
#include "model/model.h"
#include "settings/run_config.h"
#include "train/run_folder.h"
#include "test_util.h"

/* The configuration (config may be NULL), then the tensors into model. */
static inline segcl_status test_checkpoint_load(segcl_context *ctx, const char *path,
                                                segcl_model *model, bool load_optimizer,
                                                segcl_run_config *config)
{
    segcl_run_config local;
    segcl_status st = segcl_run_config_read(ctx, path, config ? config : &local);
    return st ? st : segcl_checkpoint_load(ctx, path, model,
                                          load_optimizer ? SEGCL_CHECKPOINT_MOMENTS : 0);
}

/* A U-Net of `classes` classes, width 4 and depth 2, initialised from seed, with BatchNorm
 * statistics from a training pass over a smooth 2 x 3 x 32 x 32 input, saved at path as a
 * segcl checkpoint for 32 x 32 inputs. */
static inline void test_small_unet_checkpoint(segcl_context *ctx, int classes, uint64_t seed,
                                              const char *path)
{
    segcl_model_config cfg = {SEGCL_ARCH_UNET, classes, 4, 2, 3};
    segcl_model *m;
    assert_ok(ctx, segcl_model_create(ctx, &cfg, &m));
    assert_ok(ctx, segcl_model_init(m, seed + (uint64_t)classes));
    int64_t shape[4] = {2, 3, 32, 32};
    segcl_tensor *x, *logits;
    assert_ok(ctx, segcl_tensor_create(ctx, "x", 4, shape, &x));
    float *v = malloc(x->numel * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < x->numel; i++)
        v[i] = (float)sin((double)i * 0.37) * 2.0f;
    assert_ok(ctx, segcl_tensor_write(x, v, x->numel));
    assert_ok(ctx, segcl_model_forward(m, x, true, &logits));
    free(v);
    segcl_tensor_destroy(x);
    segcl_run_config meta;
    segcl_run_config_defaults(&meta);
    meta.from_segcl = true;
    meta.model = cfg;
    meta.size = 32;
    meta.classes_loss = classes == 1 ? SEGCL_LOSS_BCE : SEGCL_LOSS_CE;
    assert_ok(ctx, segcl_run_checkpoint_save(ctx, path, m, &meta));
    segcl_model_destroy(m);
}

#endif
