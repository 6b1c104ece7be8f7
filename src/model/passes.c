/*
 * The model's forward and backward passes, written out layer by layer over the op set, on
 * the activations that src/model/activations.c plans for the batch shape.
 */
#include "model/model_impl.h"

/* conv -> ReLU (in place) -> BN */
static segcl_status conv_relu_bn(segcl_model *m, segcl_conv_layer *conv, segcl_bn_layer *bn,
                                 const segcl_tensor *in, segcl_tensor *conv_out,
                                 segcl_tensor *bn_out, bool training)
{
    segcl_status st;
    /* Bias and ReLU in the convolution's epilogue, and at inference the BatchNorm's scale and
     * shift too (straight into bn_out). */
    if (!training && (st = segcl_batchnorm_eval_fold(m->ctx, &bn->op)))
        return st;
    if ((st = segcl_conv2d_forward_fused(m->ctx, m->ws, &conv->p, in, conv->weight->value,
                                         conv->bias->value, training ? NULL : bn->op.scale,
                                         training ? NULL : bn->op.shift,
                                         training ? conv_out : bn_out)))
        return st;
    if (training && (st = segcl_batchnorm_forward(m->ctx, m->ws, &bn->op, conv_out, bn_out, true,
                                                  m->sync_bn)))
        return st;
    if (training)
        bn->num_batches_tracked++;
    return SEGCL_OK;
}

segcl_status segcl_model_forward(segcl_model *m, const segcl_tensor *x, bool training,
                                 segcl_tensor **logits)
{
    const int d = m->cfg.depth;
    if (!x || x->ndim != 4 || x->shape[1] != m->cfg.in_channels)
        return segcl_fail(m->ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "model: input must be (N, %d, H, W)", m->cfg.in_channels);
    int64_t mult = (int64_t)1 << d;
    if (x->shape[2] % mult || x->shape[3] % mult)
        return segcl_fail(m->ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "model: image size %lldx%lld must be a multiple of %lld for depth %d",
                          (long long)x->shape[2], (long long)x->shape[3], (long long)mult, d);
    segcl_status st;
    if ((training && (st = segcl_require_fp32(m->ctx, "a training forward pass"))) ||
        (st = segcl_activations_ensure(m, x->shape[0], x->shape[2], x->shape[3], training)))
        return st;
    segcl_activations *a = &m->act;
    segcl_pool_params pool = {2, 2, 0};
    const segcl_tensor *in = x;
    for (int i = 0; i < d; i++) {
        if ((st = conv_relu_bn(m, &m->enc[i], m->enc_bn[i], in, a->enc_conv[i], a->enc_bn[i],
                               training)) ||
            (st = segcl_maxpool_forward(m->ctx, &pool, a->enc_bn[i], a->pool[i], a->pool_idx[i])))
            return st;
        in = a->pool[i];
    }
    if ((st = segcl_conv2d_forward(m->ctx, m->ws, &m->bottleneck.p, in, m->bottleneck.weight->value,
                                   m->bottleneck.bias->value, a->bott)))
        return st;
    in = a->bott;
    const bool unet = m->cfg.arch == SEGCL_ARCH_UNET;
    for (int j = 0; j < d; j++) {
        /* a U-Net's concatenation written in place: the upsampled channels first, then the
         * skip beside them */
        const segcl_tensor *conv_in = unet ? a->cat[j] : a->up[j];
        if (unet ? (st = segcl_upsample_bilinear_into(m->ctx, in, a->cat[j], 0, true)) ||
                       (st = segcl_channels_place(m->ctx, a->enc_bn[d - 1 - j], a->cat[j],
                                                  (int)in->shape[1]))
                 : (st = segcl_upsample_bilinear_forward(m->ctx, m->ws, in, a->up[j], true)))
            return st;
        if (j < d - 1) {
            if ((st = conv_relu_bn(m, &m->dec[j], m->dec_bn[j], conv_in, a->dec_conv[j],
                                   a->dec_bn[j], training)))
                return st;
            in = a->dec_bn[j];
        } else if ((st = segcl_conv2d_forward(m->ctx, m->ws, &m->dec[j].p, conv_in,
                                              m->dec[j].weight->value, m->dec[j].bias->value,
                                              a->logits))) {
            return st;
        }
    }
    m->last_input = x;
    m->last_training = training;
    *logits = a->logits;
    return SEGCL_OK;
}

/* BN backward and ReLU backward (one pass) -> conv backward into d_in (NULL: not needed) */
static segcl_status conv_relu_bn_backward(segcl_model *m, segcl_conv_layer *conv,
                                          segcl_bn_layer *bn, const segcl_tensor *in,
                                          segcl_tensor *conv_out, segcl_tensor *d_bn_out,
                                          segcl_tensor *d_conv_out, segcl_tensor *d_in,
                                          bool accumulate_d_in)
{
    segcl_status st;
    if ((st = segcl_batchnorm_relu_backward(m->ctx, m->ws, &bn->op, conv_out, d_bn_out,
                                            d_conv_out, bn->gamma->grad, bn->beta->grad,
                                            m->sync_bn)))
        return st;
    return segcl_conv2d_backward(m->ctx, m->ws, &conv->p, in, conv->weight->value, d_conv_out, d_in,
                                 conv->weight->grad, conv->bias->grad, accumulate_d_in);
}

segcl_status segcl_model_backward(segcl_model *m, const segcl_tensor *dlogits)
{
    segcl_activations *a = &m->act;
    if (segcl_require_fp32(m->ctx, "the backward pass"))
        return SEGCL_ERROR_STATE;
    if (!a->ready || !m->last_input || !m->last_training)
        return segcl_fail(m->ctx, SEGCL_ERROR_STATE,
                          "model: backward needs a training-mode forward first");
    segcl_status st = segcl_expect_shape(m->ctx, "model backward", "logit gradient", dlogits, 4,
                                         a->logits->shape);
    if (st)
        return st;
    const int d = m->cfg.depth;
    const bool unet = m->cfg.arch == SEGCL_ARCH_UNET;
    /* Decoder, last stage first. The U-Net's skips get their gradient from the concat first
     * (written), then from the pool (added). */
    for (int j = d - 1; j >= 0; j--) {
        segcl_tensor *conv_in = unet ? a->cat[j] : a->up[j];
        segcl_tensor *d_conv_in = unet ? a->d_cat[j] : a->d_up[j];
        if (j == d - 1) {
            st = segcl_conv2d_backward(m->ctx, m->ws, &m->dec[j].p, conv_in,
                                       m->dec[j].weight->value, dlogits, d_conv_in,
                                       m->dec[j].weight->grad, m->dec[j].bias->grad, false);
        } else {
            st = conv_relu_bn_backward(m, &m->dec[j], m->dec_bn[j], conv_in, a->dec_conv[j],
                                       a->d_dec_bn[j], a->d_dec_conv[j], d_conv_in, false);
        }
        if (st)
            return st;
        segcl_tensor *d_prev = j == 0 ? a->d_bott : a->d_dec_bn[j - 1];
        if (unet ? (st = segcl_channels_take(m->ctx, a->d_cat[j], (int)d_prev->shape[1],
                                             a->d_enc_bn[d - 1 - j], false)) ||
                       (st = segcl_upsample_bilinear_backward_from(m->ctx, a->d_cat[j], 0, d_prev,
                                                                   true, false))
                 : (st = segcl_upsample_bilinear_backward(m->ctx, m->ws, a->d_up[j], d_prev, true,
                                                          false)))
            return st;
    }
    if ((st = segcl_conv2d_backward(m->ctx, m->ws, &m->bottleneck.p, a->pool[d - 1],
                                    m->bottleneck.weight->value, a->d_bott, a->d_pool[d - 1],
                                    m->bottleneck.weight->grad, m->bottleneck.bias->grad, false)))
        return st;
    segcl_pool_params pool = {2, 2, 0};
    for (int i = d - 1; i >= 0; i--) {
        if ((st = segcl_maxpool_backward(m->ctx, &pool, a->d_pool[i], a->pool_idx[i],
                                         a->d_enc_bn[i], unet)))
            return st;
        const segcl_tensor *in = i == 0 ? m->last_input : a->pool[i - 1];
        segcl_tensor *d_in = i == 0 ? NULL : a->d_pool[i - 1];
        if ((st = conv_relu_bn_backward(m, &m->enc[i], m->enc_bn[i], in, a->enc_conv[i],
                                        a->d_enc_bn[i], a->d_enc_conv[i], d_in, false)))
            return st;
    }
    return SEGCL_OK;
}
