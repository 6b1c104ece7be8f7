/*
 * The model's parameters in four arenas: values, gradients, and the optimizer's two moments
 * (Adam's m and v, SGD's momentum in m). Each arena is declared with the same tensors in the
 * same order, so the arenas share one plan and element i of one buffer belongs to the same
 * parameter as element i of the others: zeroing every gradient is one fill and an optimizer
 * step is one launch over the whole buffers. The gaps the plan leaves between tensors are
 * zeroed with them and stay zero under every optimizer update.
 */
#include <stdio.h>

#include "model/model_impl.h"

static const char *const what[4] = {"parameters", "gradients", "first moments",
                                    "second moments"};

static void name_of(const segcl_param *p, int which, char *buf, size_t len)
{
    if (which == SEGCL_PARAM_VALUE)
        snprintf(buf, len, "%s", p->name);
    else
        snprintf(buf, len, "%s of %s",
                 which == SEGCL_PARAM_GRAD ? "grad" : which == SEGCL_PARAM_M ? "m" : "v", p->name);
}

segcl_status segcl_params_commit(segcl_model *m, int which)
{
    if (m->param_arena[which])
        return SEGCL_OK;
    segcl_arena *arena = NULL;
    segcl_status st = segcl_arena_create(m->ctx, what[which], &arena);
    for (size_t i = 0; i < m->nparams && !st; i++) {
        segcl_param *p = &m->params[i];
        char name[96];
        name_of(p, which, name, sizeof name);
        /* one step for all of them: they live together, never in each other's place */
        st = segcl_arena_declare(arena, name, p->ndim, p->shape, 0, 0, &p->slot[which]);
    }
    if (!st)
        st = segcl_arena_commit(arena);
    const size_t bytes = st ? 0 : segcl_arena_planned_bytes(arena);
    const size_t elem = segcl_storage_bytes(m->ctx);
    const int64_t n = (int64_t)(bytes / elem);
    if (!st)
        st = segcl_tensor_wrap(m->ctx, what[which], 1, &n, elem, segcl_arena_buffer(arena), 0,
                               &m->param_flat[which]);
    if (!st)
        st = segcl_fill(m->ctx, m->param_flat[which]->buffer, (size_t)n, 0.0f);
    if (st) {
        segcl_tensor_destroy(m->param_flat[which]);
        m->param_flat[which] = NULL;
        segcl_arena_destroy(arena);
        return st;
    }
    m->param_arena[which] = arena;
    for (size_t i = 0; i < m->nparams; i++) {
        segcl_param *p = &m->params[i];
        segcl_tensor *t = segcl_arena_tensor(arena, p->slot[which]);
        segcl_tensor **slot[4] = {&p->value, &p->grad, &p->m, &p->v};
        *slot[which] = t;
    }
    return SEGCL_OK;
}

void segcl_params_release(segcl_model *m, int which)
{
    for (size_t i = 0; i < m->nparams; i++) {
        segcl_param *p = &m->params[i];
        segcl_tensor **slot[4] = {&p->value, &p->grad, &p->m, &p->v};
        *slot[which] = NULL;
    }
    segcl_tensor_destroy(m->param_flat[which]);
    m->param_flat[which] = NULL;
    segcl_arena_destroy(m->param_arena[which]);
    m->param_arena[which] = NULL;
}

segcl_status segcl_model_optimizer_state(segcl_model *m, bool second)
{
    segcl_status st = segcl_params_commit(m, SEGCL_PARAM_M);
    return st || !second ? st : segcl_params_commit(m, SEGCL_PARAM_V);
}

void segcl_model_reset_optimizer(segcl_model *m)
{
    segcl_params_release(m, SEGCL_PARAM_M);
    segcl_params_release(m, SEGCL_PARAM_V);
}

segcl_status segcl_model_zero_grad(segcl_model *m)
{
    if (segcl_require_fp32(m->ctx, "zeroing the gradients"))
        return SEGCL_ERROR_STATE;
    const segcl_tensor *g = m->param_flat[SEGCL_PARAM_GRAD];
    return segcl_fill(m->ctx, g->buffer, g->numel, 0.0f);
}

segcl_status segcl_model_step(segcl_model *m, segcl_optimizer *opt)
{
    if (segcl_require_fp32(m->ctx, "an optimizer step"))
        return SEGCL_ERROR_STATE;
    long step = opt->step + 1;
    segcl_tensor *value = m->param_flat[SEGCL_PARAM_VALUE], *grad = m->param_flat[SEGCL_PARAM_GRAD];
    segcl_status st;
    if (opt->kind == SEGCL_OPTIMIZER_SGD) {
        if (opt->momentum != 0.0f && (st = segcl_model_optimizer_state(m, false)))
            return st;
        segcl_sgd_params sp = {opt->lr, opt->momentum, opt->dampening, opt->weight_decay,
                               opt->nesterov};
        st = segcl_sgd_step(m->ctx, &sp, step, value, grad,
                            opt->momentum != 0.0f ? m->param_flat[SEGCL_PARAM_M] : NULL);
    } else {
        if ((st = segcl_model_optimizer_state(m, true)))
            return st;
        segcl_adam_params ap = {opt->lr, opt->beta1, opt->beta2, opt->eps, opt->weight_decay,
                                opt->kind == SEGCL_OPTIMIZER_ADAMW};
        st = segcl_adam_step(m->ctx, &ap, step, value, grad, m->param_flat[SEGCL_PARAM_M],
                             m->param_flat[SEGCL_PARAM_V]);
    }
    if (!st)
        opt->step = step;
    return st;
}
