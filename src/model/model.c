/*
 * The lesson's encoder-decoder networks. Encoder stage i: conv 3x3 -> ReLU -> BN (the skip) ->
 * max-pool 2x2; bottleneck conv 3x3 doubling the channels, no BN or activation. Decoder stage
 * j: bilinear x2 (align_corners) -> [U-Net: concat with the skip of that resolution] -> conv 3x3
 * -> ReLU -> BN; then x2 -> [U-Net: concat with the first skip] -> conv 1x1 to the classes.
 * This file builds the layers and their parameters, initialises them and steps the optimizer;
 * activations.c plans the activations, passes.c runs forward and backward.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model_impl.h"

static segcl_status new_tensor(segcl_model *m, const char *name, int ndim, int64_t a, int64_t b,
                               int64_t c, int64_t d, segcl_tensor **out)
{
    int64_t shape[4] = {a, b, c, d};
    return segcl_tensor_create(m->ctx, name, ndim, shape, out);
}

static segcl_status add_param(segcl_model *m, const char *name, int kind, int fan_in,
                              int ndim, int64_t a, int64_t b, int64_t c, int64_t d,
                              segcl_param **out)
{
    /* the tensors come later, all in one arena (segcl_params_commit) */
    segcl_param *p = &m->params[m->nparams++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = kind;
    p->fan_in = fan_in;
    p->ndim = ndim;
    const int64_t shape[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++)
        p->shape[i] = i < ndim ? shape[i] : 0;
    *out = p;
    return SEGCL_OK;
}

static segcl_status add_conv(segcl_model *m, segcl_conv_layer *l, const char *prefix, int cin,
                             int cout, int k)
{
    char name[64];
    l->cin = cin;
    l->cout = cout;
    l->p = (segcl_conv_params){k, k, 1, k / 2};
    int fan_in = cin * k * k;
    snprintf(name, sizeof name, "%s.weight", prefix);
    segcl_status st = add_param(m, name, 0, fan_in, 4, cout, cin, k, k, &l->weight);
    if (st)
        return st;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return add_param(m, name, 1, fan_in, 1, cout, 0, 0, 0, &l->bias);
}

static segcl_status add_bn(segcl_model *m, segcl_bn_layer **out, const char *prefix, int c)
{
    segcl_bn_layer *l = &m->bn[m->nbn++];
    snprintf(l->prefix, sizeof l->prefix, "%s", prefix);
    char name[64];
    segcl_status st;
    snprintf(name, sizeof name, "%s.weight", prefix);
    if ((st = add_param(m, name, 2, c, 1, c, 0, 0, 0, &l->gamma)))
        return st;
    snprintf(name, sizeof name, "%s.bias", prefix);
    if ((st = add_param(m, name, 3, c, 1, c, 0, 0, 0, &l->beta)))
        return st;
    segcl_batchnorm *op = &l->op; /* gamma and beta: once the parameters have their tensors */
    op->eps = 1e-5f;
    op->momentum = 0.1f;
    segcl_tensor **bufs[] = {&op->running_mean, &op->running_var, &op->save_mean,
                             &op->save_invstd, &op->scale, &op->shift};
    const char *suffix[] = {"running_mean", "running_var", "save_mean", "save_invstd", "scale",
                            "shift"};
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, suffix[i]);
        if ((st = new_tensor(m, name, 1, c, 0, 0, 0, bufs[i])))
            return st;
    }
    *out = l;
    return SEGCL_OK;
}

segcl_status segcl_model_create(segcl_context *ctx, const segcl_model_config *cfg,
                                segcl_model **out)
{
    if (!ctx || !cfg || !out)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_model_create: NULL argument");
    *out = NULL;
    if (cfg->depth < 1 || cfg->depth > SEGCL_MAX_DEPTH || cfg->width < 1 ||
        cfg->width > SEGCL_MAX_WIDTH || cfg->classes < 1 || cfg->classes > SEGCL_MAX_CLASSES ||
        cfg->in_channels < 1 || (cfg->arch != SEGCL_ARCH_UNET && cfg->arch != SEGCL_ARCH_SEGNET))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "model: depth must be 1..%d, width 1..%d, classes 1..%d", SEGCL_MAX_DEPTH,
                          SEGCL_MAX_WIDTH, SEGCL_MAX_CLASSES);
    if (cfg->arch == SEGCL_ARCH_SEGNET && cfg->depth < 2)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "model: SegNet needs depth >= 2");
    segcl_model *m = segcl_calloc(1, sizeof *m);
    if (!m)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->cfg = *cfg;
    const int d = cfg->depth;
    int c[SEGCL_MAX_DEPTH + 1];
    c[0] = cfg->in_channels;
    for (int i = 0; i < d; i++)
        c[i + 1] = cfg->width << i;
    segcl_status st = segcl_workspace_create(ctx, &m->ws);
    char name[32];
    /* registration order = PyTorch's state_dict order */
    for (int i = 0; i < d && !st; i++) {
        snprintf(name, sizeof name, "enc_conv%d", i);
        st = add_conv(m, &m->enc[i], name, c[i], c[i + 1], 3);
        snprintf(name, sizeof name, "bn%d", i);
        if (!st)
            st = add_bn(m, &m->enc_bn[i], name, c[i + 1]);
    }
    if (!st)
        st = add_conv(m, &m->bottleneck, "bottleneck_conv", c[d], 2 * c[d], 3);
    int prev = 2 * c[d];
    for (int j = 0; j < d - 1 && !st; j++) {
        int cout = c[d - j];
        int cin = cfg->arch == SEGCL_ARCH_UNET ? prev + c[d - j] : prev;
        snprintf(name, sizeof name, "dec_conv%d", j);
        st = add_conv(m, &m->dec[j], name, cin, cout, 3);
        snprintf(name, sizeof name, "dec_bn%d", j);
        if (!st)
            st = add_bn(m, &m->dec_bn[j], name, cout);
        prev = cout;
    }
    if (!st) {
        int cin = cfg->arch == SEGCL_ARCH_UNET ? prev + c[1] : prev;
        snprintf(name, sizeof name, "dec_conv%d", d - 1);
        st = add_conv(m, &m->dec[d - 1], name, cin, cfg->classes, 1);
    }
    /* a half context never trains: no gradients */
    if (!st && !(st = segcl_params_commit(m, SEGCL_PARAM_VALUE)) && !segcl_context_half(m->ctx))
        st = segcl_params_commit(m, SEGCL_PARAM_GRAD);
    for (size_t i = 0; i < m->nbn && !st; i++) {
        m->bn[i].op.gamma = m->bn[i].gamma->value;
        m->bn[i].op.beta = m->bn[i].beta->value;
    }
    if (st) {
        segcl_model_destroy(m);
        return st;
    }
    *out = m;
    return SEGCL_OK;
}

segcl_workspace *segcl_model_workspace(segcl_model *m)
{
    return m->ws;
}

void segcl_model_set_sync_bn(segcl_model *m, const segcl_collective *sync)
{
    m->sync_bn = sync;
}

void segcl_model_destroy(segcl_model *m)
{
    if (!m)
        return;
    segcl_activations_release(&m->act);
    for (int which = 0; which < 4; which++)
        segcl_params_release(m, which);
    for (size_t i = 0; i < m->nbn; i++) {
        segcl_batchnorm *op = &m->bn[i].op;
        segcl_tensor *bufs[] = {op->running_mean, op->running_var, op->save_mean,
                                op->save_invstd, op->scale, op->shift};
        for (int k = 0; k < 6; k++)
            segcl_tensor_destroy(bufs[k]);
    }
    segcl_workspace_destroy(m->ws);
    segcl_free(m);
}

segcl_status segcl_model_init(segcl_model *m, uint64_t seed)
{
    segcl_rng rng;
    segcl_rng_seed(&rng, seed, 0);
    segcl_status st = SEGCL_OK;
    for (size_t i = 0; i < m->nparams && !st; i++) {
        segcl_param *p = &m->params[i];
        float *host = segcl_malloc(p->value->numel * sizeof *host);
        if (!host)
            return segcl_fail(m->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        /* kaiming_uniform_(a=sqrt(5)) and the default bias both have bound 1/sqrt(fan_in) */
        double bound = 1.0 / sqrt((double)p->fan_in);
        for (size_t k = 0; k < p->value->numel; k++) {
            if (p->kind <= 1)
                host[k] = (float)(bound * (2.0 * (double)segcl_rng_uniform(&rng) - 1.0));
            else
                host[k] = p->kind == 2 ? 1.0f : 0.0f;
        }
        st = segcl_tensor_write(p->value, host, p->value->numel);
        segcl_free(host);
    }
    for (size_t i = 0; i < m->nbn && !st; i++) {
        segcl_batchnorm *op = &m->bn[i].op;
        m->bn[i].num_batches_tracked = 0;
        if ((st = segcl_fill(m->ctx, op->running_mean->buffer, op->running_mean->numel, 0.0f)))
            break;
        st = segcl_fill(m->ctx, op->running_var->buffer, op->running_var->numel, 1.0f);
    }
    return st;
}

size_t segcl_model_param_count(const segcl_model *m)
{
    return m->nparams;
}

segcl_param *segcl_model_param(segcl_model *m, size_t i)
{
    return i < m->nparams ? &m->params[i] : NULL;
}

segcl_param *segcl_model_find_param(segcl_model *m, const char *name)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return &m->params[i];
    return NULL;
}

size_t segcl_model_bn_count(const segcl_model *m)
{
    return m->nbn;
}

segcl_bn_layer *segcl_model_bn(segcl_model *m, size_t i)
{
    return i < m->nbn ? &m->bn[i] : NULL;
}

const segcl_model_config *segcl_model_get_config(const segcl_model *m)
{
    return &m->cfg;
}

size_t segcl_model_parameter_elements(const segcl_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nparams; i++)
        n += m->params[i].value->numel;
    return n;
}
