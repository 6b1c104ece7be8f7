/*
 * The model's layout, shared by the files of src/model: the layers and parameters (model.c),
 * the activations planned for one batch shape (activations.c), and the passes that run them
 * (passes.c). Every other layer goes through model/model.h.
 */
#ifndef SEGCL_MODEL_IMPL_H
#define SEGCL_MODEL_IMPL_H

#include "model/model.h"

typedef struct segcl_activations {
    int64_t n, h, w;
    bool ready, training; /* training: gradients too */
    segcl_arena *arena;   /* owns the tensors below, unless NULL (one buffer each) */
    /* encoder, per stage */
    segcl_tensor *enc_conv[SEGCL_MAX_DEPTH], *enc_bn[SEGCL_MAX_DEPTH];
    segcl_tensor *pool[SEGCL_MAX_DEPTH], *pool_idx[SEGCL_MAX_DEPTH];
    segcl_tensor *bott;
    /* decoder, per stage, the last index is the final (1x1) stage */
    segcl_tensor *up[SEGCL_MAX_DEPTH], *cat[SEGCL_MAX_DEPTH];
    segcl_tensor *dec_conv[SEGCL_MAX_DEPTH], *dec_bn[SEGCL_MAX_DEPTH];
    segcl_tensor *logits;
    /* gradients of the same shapes (d_ prefix) */
    segcl_tensor *d_enc_conv[SEGCL_MAX_DEPTH], *d_enc_bn[SEGCL_MAX_DEPTH];
    segcl_tensor *d_pool[SEGCL_MAX_DEPTH], *d_bott;
    segcl_tensor *d_up[SEGCL_MAX_DEPTH], *d_cat[SEGCL_MAX_DEPTH];
    segcl_tensor *d_dec_conv[SEGCL_MAX_DEPTH], *d_dec_bn[SEGCL_MAX_DEPTH];
} segcl_activations;

struct segcl_model {
    segcl_context *ctx;
    segcl_model_config cfg;
    segcl_param params[4 * (2 * SEGCL_MAX_DEPTH + 1)];
    size_t nparams;
    segcl_conv_layer enc[SEGCL_MAX_DEPTH], bottleneck, dec[SEGCL_MAX_DEPTH];
    segcl_bn_layer bn[2 * SEGCL_MAX_DEPTH];
    size_t nbn;
    segcl_bn_layer *enc_bn[SEGCL_MAX_DEPTH], *dec_bn[SEGCL_MAX_DEPTH];
    const segcl_tensor *last_input;
    bool last_training;
    const segcl_collective *sync_bn; /* synchronised BatchNorm's collective, or NULL */
    segcl_workspace *ws;             /* the ops' scratch */
    segcl_activations act;
    /* Every parameter's values, gradients, first and second moments (or SGD momentum) in one
     * arena each, with the same plan: one launch zeroes the gradients and one steps the
     * optimizer (src/model/params.c). */
    segcl_arena *param_arena[4];
    segcl_tensor *param_flat[4]; /* each arena's whole buffer as a tensor */
};

enum { SEGCL_PARAM_VALUE, SEGCL_PARAM_GRAD, SEGCL_PARAM_M, SEGCL_PARAM_V };

/* Places every parameter's tensor `which` (SEGCL_PARAM_*) in an arena of its own, zeroed; a
 * no-op when it is there. */
SEGCL_INTERNAL segcl_status segcl_params_commit(segcl_model *m, int which);
/* Frees arena `which` and the tensors in it (SEGCL_PARAM_M and _V: the optimizer state). */
SEGCL_INTERNAL void segcl_params_release(segcl_model *m, int which);

/* Activations for batch shape (n, h, w), with gradients when training; a training plan also
 * serves inference (validation between epochs), so it is not replaced by a smaller one. */
SEGCL_INTERNAL segcl_status segcl_activations_ensure(segcl_model *m, int64_t n, int64_t h,
                                                     int64_t w, bool training);
/* Frees the activations (an arena's tensors with it) and marks them not ready. */
SEGCL_INTERNAL void segcl_activations_release(segcl_activations *a);

#endif
