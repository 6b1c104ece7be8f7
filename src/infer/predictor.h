/*
 * The predictor's layout, private to src/infer: predict.c opens it and runs its batches, and
 * predict_files.c reads its options, palette and logits to write the outputs of image files.
 */
#ifndef SEGCL_PREDICTOR_H
#define SEGCL_PREDICTOR_H

#include "data/data.h"
#include "picture/picture.h"
#include "model/model.h"
#include "settings/run_config.h"

/* Made by segcl_predictor_open; read-only once open, but for the batch buffers. */
struct segcl_predictor {
    segcl_context *ctx;
    segcl_model *model;
    segcl_run_config meta;
    segcl_predictor_options opt;
    segcl_tensor *x;
    float *host_x, *host_logits;
    uint8_t palette[256 * 3]; /* colours of multi-class masks, by class */
    int palette_entries;
    segcl_background background; /* of composites */
};

#endif
