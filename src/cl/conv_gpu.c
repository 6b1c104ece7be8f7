/*
 * GPU-style convolutions. Until kernels/conv_gpu.cl's implicit GEMMs land, image by image
 * through columns (src/cl/conv_columns.c) with the epilogue as its own pass.
 */
#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/conv_impl.h"

segcl_status segcl_conv_gpu_forward(segcl_context *ctx, segcl_workspace *ws,
                                    const segcl_conv_shape *s, cl_mem w, cl_mem x, cl_mem y,
                                    const segcl_conv_epilogue *ep)
{
    segcl_status st = segcl_conv_columns_forward(ctx, ws, s, w, x, y, ep->beta);
    return st ? st : segcl_conv_epilogue_pass(ctx, s->images, s->cout, s->ho * s->wo, y, ep);
}

segcl_status segcl_conv_gpu_data_grad(segcl_context *ctx, segcl_workspace *ws,
                                      const segcl_conv_shape *s, cl_mem w, cl_mem a, cl_mem img,
                                      const segcl_conv_epilogue *ep)
{
    segcl_status st = segcl_conv_columns_data_grad(ctx, ws, s, w, a, img, ep->beta);
    return st ? st : segcl_conv_epilogue_pass(ctx, s->images, s->cin, s->h * s->w, img, ep);
}

segcl_status segcl_conv_gpu_weight_grad(segcl_context *ctx, segcl_workspace *ws,
                                        const segcl_conv_shape *s, cl_mem a, cl_mem x,
                                        cl_mem dw, float beta)
{
    return segcl_conv_columns_weight_grad(ctx, ws, s, a, x, dw, beta);
}

size_t segcl_conv_gpu_workspace_bytes(segcl_context *ctx, const segcl_conv_shape *s)
{
    (void)ctx;
    return segcl_conv_columns_workspace_bytes(s);
}
