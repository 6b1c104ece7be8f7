/*
 * Exporting a trained model: its weights and BatchNorm buffers with the settings a predictor
 * needs (architecture, classes, size, normalisation), without the optimizer's moments; or as
 * an ONNX graph.
 */
#include <stdio.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/onnx_export.h"
#include "model/model.h"
#include "train/run_folder.h"
#include "settings/run_config.h"

/* Opens the model a run folder or checkpoint names, with its settings; not into out_path. */
static segcl_status open_model(segcl_context *ctx, const char *model_path, const char *out_path,
                               segcl_run_config *meta, segcl_model **model)
{
    char *src = NULL;
    *model = NULL;
    /* the weights pass through the device: a half context would round them */
    segcl_status st = segcl_require_fp32(ctx, "export (float32 weights)");
    if (st || (st = segcl_model_file(ctx, model_path, &src)))
        return st;
    if (segcl_same_file(src, out_path))
        st = segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                        "%s is the model itself: export to another file", out_path);
    else if (!(st = segcl_run_output_check(ctx, out_path, src)))
        st = segcl_run_config_read(ctx, src, meta);
    if (!st && !meta->from_segcl)
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                        "%s has no segcl metadata (architecture, size, normalisation): export "
                        "a model segcl trained, or start a training run from its weights",
                        src);
    if (!st && !(st = segcl_settings_check(ctx, meta, SEGCL_SETTINGS_MODEL, NULL)) &&
        !(st = segcl_model_create(ctx, &meta->model, model)))
        st = segcl_checkpoint_load(ctx, src, *model, 0);
    if (st) {
        segcl_model_destroy(*model);
        *model = NULL;
    }
    segcl_free(src);
    return st;
}

segcl_status segcl_export_weights(segcl_context *ctx, const char *model_path, const char *out_path)
{
    if (!ctx || !model_path || !out_path)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_export_weights: NULL argument");
    segcl_run_config meta;
    segcl_model *model;
    segcl_status st = open_model(ctx, model_path, out_path, &meta, &model);
    if (st)
        return st;
    st = segcl_run_checkpoint_save(ctx, out_path, model, &meta);
    segcl_model_destroy(model);
    return st;
}

segcl_status segcl_export_onnx(segcl_context *ctx, const char *model_path, const char *out_path)
{
    if (!ctx || !model_path || !out_path)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_export_onnx: NULL argument");
    segcl_run_config meta;
    segcl_model *model;
    segcl_status st = open_model(ctx, model_path, out_path, &meta, &model);
    if (st)
        return st;
    st = segcl_onnx_write(ctx, model, meta.size, meta.mean, meta.std, out_path);
    segcl_model_destroy(model);
    return st;
}
