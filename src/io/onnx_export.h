/* Models as ONNX graphs (src/io/onnx_export.c). */
#ifndef SEGCL_ONNX_EXPORT_H
#define SEGCL_ONNX_EXPORT_H

#include "io/checkpoint.h"
#include "model/model.h"

/* Writes model (with meta's size and normalisation as metadata) to path, atomically. */
SEGCL_INTERNAL segcl_status segcl_onnx_write(segcl_context *ctx, segcl_model *model,
                                             const segcl_checkpoint_meta *meta,
                                             const char *path);

#endif
