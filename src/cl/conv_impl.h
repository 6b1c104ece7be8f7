/*
 * Private to src/cl: the pieces the convolution backends (src/cl/backend.c) are made of.
 */
#ifndef SEGCL_CONV_IMPL_H
#define SEGCL_CONV_IMPL_H

#include <string.h>

#include "cl/context_impl.h"

/* Image by image through explicit columns (src/cl/conv_columns.c); launches grow with the
 * batch. The epilogue is not applied: segcl_conv_epilogue_pass does it. */
SEGCL_INTERNAL segcl_status segcl_conv_columns_forward(segcl_context *ctx, segcl_workspace *ws,
                                                       const segcl_conv_shape *s, cl_mem w,
                                                       cl_mem x, cl_mem y, float beta);
SEGCL_INTERNAL segcl_status segcl_conv_columns_data_grad(segcl_context *ctx,
                                                         segcl_workspace *ws,
                                                         const segcl_conv_shape *s, cl_mem w,
                                                         cl_mem a, cl_mem img, float beta);
SEGCL_INTERNAL segcl_status segcl_conv_columns_weight_grad(segcl_context *ctx,
                                                           segcl_workspace *ws,
                                                           const segcl_conv_shape *s, cl_mem a,
                                                           cl_mem x, cl_mem dw, float beta);
SEGCL_INTERNAL size_t segcl_conv_columns_workspace_bytes(const segcl_conv_shape *s);
/* y = bias, ReLU, affine of ep (its beta is the product's) over images x channels x plane. */
SEGCL_INTERNAL segcl_status segcl_conv_epilogue_pass(segcl_context *ctx, cl_uint images,
                                                     cl_uint channels, cl_uint plane, cl_mem y,
                                                     const segcl_conv_epilogue *ep);

/* The backends' tables (src/cl/backend.c). */
extern const segcl_backend segcl_backend_cpu_style;
extern const segcl_backend segcl_backend_gpu_style;

#endif /* SEGCL_CONV_IMPL_H */
