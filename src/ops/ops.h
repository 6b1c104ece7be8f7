/*
 * The op set: forward and backward of every layer and loss the segmentation networks use.
 * Tensors are float32 NCHW on the context's device. Calls only queue work (nothing waits)
 * unless they return host values. Backward calls write input gradients, or add to them when
 * `accumulate` is set (for tensors that feed two consumers); parameter gradients always add.
 * Ops that need scratch device memory take it from a workspace (segcl_workspace, src/cl/cl.h)
 * that their caller owns.
 */
#ifndef SEGCL_OPS_H
#define SEGCL_OPS_H

#include "cl/cl.h"
#include "settings/settings.h"

/* ---- convolution (src/ops/conv2d.c) ---- */

typedef struct segcl_conv_params {
    int kernel_h, kernel_w;
    int stride;
    int pad;
} segcl_conv_params;

/* y (N, Cout, Ho, Wo) = conv(x (N, Cin, H, W), w (Cout, Cin, KH, KW)) + b (Cout, or NULL) */
/* y = ReLU(conv(x, w) + b), then scale[c] * y + shift[c] when scale and shift are given (an
 * inference BatchNorm), in the product's epilogue (SEGCL_NO_FUSION: as a pass of its own,
 * computing the same values in the same order as the separate ops). */
SEGCL_INTERNAL segcl_status segcl_conv2d_forward_fused(
    segcl_context *ctx, segcl_workspace *ws, const segcl_conv_params *p, const segcl_tensor *x,
    const segcl_tensor *w, const segcl_tensor *b, const segcl_tensor *scale,
    const segcl_tensor *shift, segcl_tensor *y);
SEGCL_INTERNAL segcl_status segcl_conv2d_forward(segcl_context *ctx, segcl_workspace *ws,
                                                 const segcl_conv_params *p, const segcl_tensor *x,
                                                 const segcl_tensor *w, const segcl_tensor *b,
                                                 segcl_tensor *y);
/* dx (may be NULL), dw += , db += (may be NULL) */
SEGCL_INTERNAL segcl_status segcl_conv2d_backward(segcl_context *ctx, segcl_workspace *ws,
                                                  const segcl_conv_params *p, const segcl_tensor *x,
                                                  const segcl_tensor *w, const segcl_tensor *dy,
                                                  segcl_tensor *dx, segcl_tensor *dw,
                                                  segcl_tensor *db, bool accumulate);
/* Transposed convolution, PyTorch's ConvTranspose2d: w is (Cin, Cout, KH, KW); output size
 * (H - 1) * stride - 2 * pad + KH. */
SEGCL_INTERNAL segcl_status segcl_conv_transpose2d_forward(segcl_context *ctx, segcl_workspace *ws,
                                                           const segcl_conv_params *p,
                                                           const segcl_tensor *x,
                                                           const segcl_tensor *w,
                                                           const segcl_tensor *b, segcl_tensor *y);
SEGCL_INTERNAL segcl_status segcl_conv_transpose2d_backward(
    segcl_context *ctx, segcl_workspace *ws, const segcl_conv_params *p, const segcl_tensor *x,
    const segcl_tensor *w, const segcl_tensor *dy, segcl_tensor *dx, segcl_tensor *dw,
    segcl_tensor *db, bool accumulate);

/* ---- batch normalisation (src/ops/batchnorm.c) ---- */

typedef struct segcl_batchnorm {
    segcl_tensor *gamma, *beta;                 /* (C) parameters */
    segcl_tensor *running_mean, *running_var;   /* (C) buffers */
    segcl_tensor *save_mean, *save_invstd;      /* (C) batch statistics kept for backward */
    segcl_tensor *scale, *shift;                /* (C) folded y = scale * x + shift */
    float eps;                                  /* PyTorch: 1e-5 */
    float momentum;                             /* PyTorch: 0.1 */
} segcl_batchnorm;

/* `sync` (NULL: none): in training, the statistics are those of every rank's batch, summed
 * over the ranks through it (synchronised BatchNorm of a data-parallel run). */
/* Inference: folds the running statistics into bn->scale and bn->shift (y = scale x + shift),
 * for an epilogue that applies them (segcl_conv2d_forward_fused). */
SEGCL_INTERNAL segcl_status segcl_batchnorm_eval_fold(segcl_context *ctx, segcl_batchnorm *bn);
SEGCL_INTERNAL segcl_status segcl_batchnorm_forward(segcl_context *ctx, segcl_workspace *ws,
                                                    segcl_batchnorm *bn, const segcl_tensor *x,
                                                    segcl_tensor *y, bool training,
                                                    const segcl_collective *sync);
SEGCL_INTERNAL segcl_status segcl_batchnorm_backward(segcl_context *ctx, segcl_workspace *ws,
                                                     segcl_batchnorm *bn, const segcl_tensor *x,
                                                     const segcl_tensor *dy, segcl_tensor *dx,
                                                     segcl_tensor *dgamma, segcl_tensor *dbeta,
                                                     bool training, bool accumulate,
                                                     const segcl_collective *sync);

/* Training backward through the BatchNorm and then through the ReLU that produced its input x
 * (x > 0 passes the gradient): batchnorm_backward and relu_backward in the launches of one.
 * dx is written. */
SEGCL_INTERNAL segcl_status segcl_batchnorm_relu_backward(
    segcl_context *ctx, segcl_workspace *ws, segcl_batchnorm *bn, const segcl_tensor *x,
    const segcl_tensor *dy, segcl_tensor *dx, segcl_tensor *dgamma, segcl_tensor *dbeta,
    const segcl_collective *sync);

/* ---- activations (src/ops/activation.c) ---- */

SEGCL_INTERNAL segcl_status segcl_relu_forward(segcl_context *ctx, const segcl_tensor *x,
                                               segcl_tensor *y);
SEGCL_INTERNAL segcl_status segcl_relu_backward(segcl_context *ctx, const segcl_tensor *y,
                                                const segcl_tensor *dy, segcl_tensor *dx,
                                                bool accumulate);
SEGCL_INTERNAL segcl_status segcl_sigmoid_forward(segcl_context *ctx, const segcl_tensor *x,
                                                  segcl_tensor *y);
SEGCL_INTERNAL segcl_status segcl_sigmoid_backward(segcl_context *ctx, const segcl_tensor *y,
                                                   const segcl_tensor *dy, segcl_tensor *dx,
                                                   bool accumulate);

/* ---- pooling (src/ops/pool.c); `indices` holds int32 values in a float-sized tensor ---- */

typedef struct segcl_pool_params {
    int kernel, stride, pad;
} segcl_pool_params;

SEGCL_INTERNAL segcl_status segcl_maxpool_forward(segcl_context *ctx, const segcl_pool_params *p,
                                                  const segcl_tensor *x, segcl_tensor *y,
                                                  segcl_tensor *indices);
SEGCL_INTERNAL segcl_status segcl_maxpool_backward(segcl_context *ctx, const segcl_pool_params *p,
                                                   const segcl_tensor *dy,
                                                   const segcl_tensor *indices, segcl_tensor *dx,
                                                   bool accumulate);
/* out (N, C, OH, OW) from x (N, C, H, W) placed at indices of a pool with params p */
SEGCL_INTERNAL segcl_status segcl_maxunpool_forward(segcl_context *ctx,
                                                    const segcl_pool_params *p,
                                                    const segcl_tensor *x,
                                                    const segcl_tensor *indices,
                                                    segcl_tensor *out);
SEGCL_INTERNAL segcl_status segcl_maxunpool_backward(segcl_context *ctx,
                                                     const segcl_tensor *dout,
                                                     const segcl_tensor *indices,
                                                     segcl_tensor *dx, bool accumulate);

/* ---- bilinear resize (src/ops/upsample.c); output size from y's shape ---- */

SEGCL_INTERNAL segcl_status segcl_upsample_bilinear_forward(segcl_context *ctx, segcl_workspace *ws,
                                                            const segcl_tensor *x, segcl_tensor *y,
                                                            bool align_corners);
SEGCL_INTERNAL segcl_status segcl_upsample_bilinear_backward(segcl_context *ctx,
                                                             segcl_workspace *ws,
                                                             const segcl_tensor *dy,
                                                             segcl_tensor *dx, bool align_corners,
                                                             bool accumulate);

/* x (N, C, h, w) resized into channels [c0, c0 + C) of y (N, Cy, H, W), and the backward
 * from that channel range of dy: one half of a concatenation written and read in place. */
SEGCL_INTERNAL segcl_status segcl_upsample_bilinear_into(segcl_context *ctx, const segcl_tensor *x,
                                                         segcl_tensor *y, int c0,
                                                         bool align_corners);
SEGCL_INTERNAL segcl_status segcl_upsample_bilinear_backward_from(segcl_context *ctx,
                                                                  const segcl_tensor *dy, int c0,
                                                                  segcl_tensor *dx,
                                                                  bool align_corners,
                                                                  bool accumulate);

/* ---- channel concatenation (src/ops/concat.c) ---- */

/* dst's channels [c0, c0 + C) = src (N, C, H, W), and the backward: dsrc (+)= those channels
 * of ddst. A concatenation written in place: its other part is written there by its producer
 * (segcl_upsample_bilinear_into). */
SEGCL_INTERNAL segcl_status segcl_channels_place(segcl_context *ctx, const segcl_tensor *src,
                                                 segcl_tensor *dst, int c0);
SEGCL_INTERNAL segcl_status segcl_channels_take(segcl_context *ctx, const segcl_tensor *ddst,
                                                int c0, segcl_tensor *dsrc, bool accumulate);
/* out = concat(a, b) along channels; backward splits dout into da, db (each may be NULL). */
SEGCL_INTERNAL segcl_status segcl_concat_forward(segcl_context *ctx, const segcl_tensor *a,
                                                 const segcl_tensor *b, segcl_tensor *out);
SEGCL_INTERNAL segcl_status segcl_concat_backward(segcl_context *ctx, const segcl_tensor *dout,
                                                  segcl_tensor *da, segcl_tensor *db,
                                                  bool accumulate_a, bool accumulate_b);

/* ---- losses (src/ops/loss.c) ---- */

typedef struct segcl_loss_params {
    segcl_loss_kind kind;
    const segcl_tensor *class_weights; /* (C) or NULL, CE only */
    int ignore_index;                  /* CE and metrics: pixels with this target are skipped */
    float dice_smooth;                 /* added to Dice numerator and denominator; 1 */
} segcl_loss_params;

SEGCL_INTERNAL void segcl_loss_default_params(segcl_loss_params *p, segcl_loss_kind kind);

/* Computes the loss of logits (N, C, H, W) against targets (N, 1, H, W) into loss[0] on the
 * device, and dlogits = dloss/dlogits (dlogits may be NULL for evaluation). */
SEGCL_INTERNAL segcl_status segcl_loss(segcl_context *ctx, segcl_workspace *ws,
                                       const segcl_loss_params *p, const segcl_tensor *logits,
                                       const segcl_tensor *targets, segcl_tensor *dlogits,
                                       segcl_tensor *loss);

/* ---- optimizers (src/ops/optim.c) ---- */

typedef struct segcl_adam_params {
    float lr, beta1, beta2, eps, weight_decay;
    bool decoupled; /* AdamW */
} segcl_adam_params;

typedef struct segcl_sgd_params {
    float lr, momentum, dampening, weight_decay;
    bool nesterov;
} segcl_sgd_params;

/* step counts from 1 */
SEGCL_INTERNAL segcl_status segcl_adam_step(segcl_context *ctx, const segcl_adam_params *p,
                                            long step, segcl_tensor *param,
                                            const segcl_tensor *grad, segcl_tensor *m,
                                            segcl_tensor *v);
SEGCL_INTERNAL segcl_status segcl_sgd_step(segcl_context *ctx, const segcl_sgd_params *p,
                                           long step, segcl_tensor *param,
                                           const segcl_tensor *grad, segcl_tensor *momentum_buf);

/* ---- metrics (src/ops/metrics.c) ---- */

/* Adds confusion counts counts[target * K + predicted] (K = 2 for one logit, else C) of logits
 * against targets; blocks until they are on the host. */
SEGCL_INTERNAL segcl_status segcl_confusion(segcl_context *ctx, segcl_workspace *ws,
                                            const segcl_tensor *logits, const segcl_tensor *targets,
                                            int ignore_index, uint64_t *counts);

/* Scores from confusion counts (K x K, K = 2 for one logit): Dice and IoU averaged over the
 * foreground classes present in the targets (class 1 for binary, classes 1.. otherwise;
 * background 0 is left out). A class absent from the targets has no defined Dice (0/0, or 0
 * for any prediction of it, which says nothing): it is left out of the mean, and with no
 * foreground class present at all Dice and IoU are NaN. */
typedef struct segcl_scores {
    double dice, iou, pixel_accuracy;
    int defined_classes; /* foreground classes present in the targets */
} segcl_scores;

SEGCL_INTERNAL void segcl_scores_from_confusion(const uint64_t *counts, int k, segcl_scores *out);

/* ---- shared helpers (src/ops/common.c) ---- */

/* Checks a tensor's rank and extents (-1 matches anything); names it in the error. */
SEGCL_INTERNAL segcl_status segcl_expect_shape(segcl_context *ctx, const char *op,
                                               const char *what, const segcl_tensor *t,
                                               int ndim, const int64_t *shape);
/* The workspace's small per-call scratch (at least 1024 floats) and im2col columns. */
SEGCL_INTERNAL segcl_status segcl_small_scratch(segcl_context *ctx, segcl_workspace *ws,
                                                size_t floats, cl_mem *out);
SEGCL_INTERNAL segcl_status segcl_column_scratch(segcl_context *ctx, segcl_workspace *ws,
                                                 size_t floats, cl_mem *out);
/* Per-channel sums over (N, H, W) of NCHW data (kernels/reduce.cl), in a fixed order:
 * out[out_offset + c] = scale * sum of x (SUM), of (x - mean[c])^2 (SQDEV), or for DY_XHAT
 * rows c: sum dy and channels + c: sum dy * (x - mean[c]) * invstd[c]; added to out's values
 * with accumulate. */
typedef enum segcl_channel_kind {
    SEGCL_CHANNEL_SUM,
    SEGCL_CHANNEL_SQDEV,
    SEGCL_CHANNEL_DY_XHAT,
    SEGCL_CHANNEL_MOMENTS, /* first stage only: rows c the spans' sums, channels + c their M2 */
} segcl_channel_kind;
/* The first stage alone: partial rows of `groups` spans of `span` elements each (the last
 * shorter) in the workspace's partials; options: the reductions' build options
 * (GROUP_SUM_WG = wg), for the kernel that finishes them. */
typedef struct segcl_channel_partials {
    cl_mem partials;
    cl_uint groups, span;
    size_t wg;
    const char *options;
} segcl_channel_partials;
SEGCL_INTERNAL segcl_status segcl_channel_first_stage(segcl_context *ctx, segcl_workspace *ws,
                                                      segcl_channel_kind kind, cl_mem x,
                                                      cl_mem dy, cl_mem mean, cl_mem invstd,
                                                      cl_uint n, cl_uint channels, cl_uint plane,
                                                      segcl_channel_partials *out);
SEGCL_INTERNAL segcl_status segcl_channel_reduce(segcl_context *ctx, segcl_workspace *ws,
                                                 segcl_channel_kind kind, cl_mem x, cl_mem dy,
                                                 cl_mem mean, cl_mem invstd, cl_uint n,
                                                 cl_uint channels, cl_uint plane, cl_mem out,
                                                 cl_uint out_offset, bool accumulate, float scale);
/* Elements of a tensor as a cl_uint, or an error for tensors too large for 32-bit indexing. */
SEGCL_INTERNAL segcl_status segcl_u32(segcl_context *ctx, const char *op, size_t v, cl_uint *out);

#endif
