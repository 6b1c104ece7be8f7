/*
 * Encoder-decoder segmentation networks: the lesson's SegNet and U-Net, with configurable
 * width and depth. Parameters carry PyTorch's state_dict names. Forward and backward are
 * written out layer by layer (llm.c style) over the op set; activations are allocated for one
 * batch shape and reused while it stays the same. The configuration types (segcl_model_config,
 * segcl_optimizer) are settings (src/settings).
 */
#ifndef SEGCL_MODEL_H
#define SEGCL_MODEL_H

#include "ops/ops.h"

/* A trainable tensor with its gradient and optimizer state (created on first use). */
typedef struct segcl_param {
    char name[64];
    segcl_tensor *value;
    segcl_tensor *grad;
    segcl_tensor *m, *v; /* Adam moments or the SGD momentum buffer (m) */
    int fan_in;          /* for PyTorch's default initialisation bounds */
    int kind;            /* 0: conv weight, 1: conv bias, 2: BN gamma, 3: BN beta */
    int ndim;
    int64_t shape[4];
    size_t slot[4]; /* its place in the model's parameter arenas (src/model/params.c) */
} segcl_param;

typedef struct segcl_buffer_entry {
    char name[64];
    segcl_tensor *value; /* running mean / variance */
} segcl_buffer_entry;

typedef struct segcl_conv_layer {
    segcl_param *weight, *bias;
    segcl_conv_params p;
    int cin, cout;
} segcl_conv_layer;

typedef struct segcl_bn_layer {
    segcl_param *gamma, *beta;
    segcl_batchnorm op;
    int64_t num_batches_tracked;
    char prefix[32];
} segcl_bn_layer;

typedef struct segcl_model segcl_model;

SEGCL_INTERNAL segcl_status segcl_model_create(segcl_context *ctx, const segcl_model_config *cfg,
                                               segcl_model **out);
SEGCL_INTERNAL void segcl_model_destroy(segcl_model *model);
/* Training BatchNorm sums its statistics over the ranks through `sync` (NULL: this process's
 * batch alone, the default); a data-parallel segcl_train with --sync-bn sets it. */
SEGCL_INTERNAL void segcl_model_set_sync_bn(segcl_model *model, const segcl_collective *sync);
/* The scratch device memory the model's ops use (it owns it), for the ops its caller runs
 * on the model's outputs: the loss, the confusion counts. */
SEGCL_INTERNAL segcl_workspace *segcl_model_workspace(segcl_model *model);

/* PyTorch's default initialisation (kaiming-uniform a=sqrt(5) weights, uniform biases with
 * bound 1/sqrt(fan_in), BN gamma 1 beta 0, running mean 0 var 1) from a seeded generator. */
SEGCL_INTERNAL segcl_status segcl_model_init(segcl_model *model, uint64_t seed);

/* Parameters in state_dict order, and the BN layers (running statistics, counters). */
SEGCL_INTERNAL size_t segcl_model_param_count(const segcl_model *model);
SEGCL_INTERNAL segcl_param *segcl_model_param(segcl_model *model, size_t i);
SEGCL_INTERNAL segcl_param *segcl_model_find_param(segcl_model *model, const char *name);
SEGCL_INTERNAL size_t segcl_model_bn_count(const segcl_model *model);
SEGCL_INTERNAL segcl_bn_layer *segcl_model_bn(segcl_model *model, size_t i);
SEGCL_INTERNAL const segcl_model_config *segcl_model_get_config(const segcl_model *model);
SEGCL_INTERNAL size_t segcl_model_parameter_elements(const segcl_model *model);

/* Device bytes the activations and their gradients take for one training batch of n images of
 * h x w: the arena's plan, from the same description the model allocates with. */
SEGCL_INTERNAL size_t segcl_model_activation_bytes(const segcl_model *model, int64_t n, int64_t h,
                                                   int64_t w);
/* Device bytes of the ops' workspaces (the backend's scratch) for n images of h x w. */
SEGCL_INTERNAL size_t segcl_model_workspace_bytes(const segcl_model *model, int64_t n, int64_t h,
                                                  int64_t w);

/* Runs the network on x (N, in_channels, H, W), H and W multiples of 2^depth. Returns the
 * logits (N, classes, H, W), owned by the model and valid until the next forward. */
SEGCL_INTERNAL segcl_status segcl_model_forward(segcl_model *model, const segcl_tensor *x,
                                                bool training, segcl_tensor **logits);
/* Backpropagates dlogits through the last training forward; parameter gradients add up. */
SEGCL_INTERNAL segcl_status segcl_model_backward(segcl_model *model, const segcl_tensor *dlogits);
SEGCL_INTERNAL segcl_status segcl_model_zero_grad(segcl_model *model);

/* One step over every parameter with its current gradient (opt->step is incremented). */
SEGCL_INTERNAL segcl_status segcl_model_step(segcl_model *model, segcl_optimizer *opt);
/* The optimizer's state, zeroed where new: m (Adam's first moment, SGD's momentum) and, with
 * `second`, v; kept until segcl_model_reset_optimizer or the model's end. */
SEGCL_INTERNAL segcl_status segcl_model_optimizer_state(segcl_model *model, bool second);
SEGCL_INTERNAL void segcl_model_reset_optimizer(segcl_model *model);

#endif
