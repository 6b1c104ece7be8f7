/* Models as ONNX graphs (src/io/onnx_export.c). */
#ifndef SEGCL_ONNX_EXPORT_H
#define SEGCL_ONNX_EXPORT_H

#include "model/model.h"

/* Writes model to path, atomically, with the input it expects as metadata: images of size x
 * size normalised by mean and std. */
SEGCL_INTERNAL segcl_status segcl_onnx_write(segcl_context *ctx, segcl_model *model, int size,
                                             const float mean[3], const float std[3],
                                             const char *path);

#endif
