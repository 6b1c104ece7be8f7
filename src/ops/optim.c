/* Optimizer steps on device (kernels/optim.cl): Adam, AdamW and SGD with momentum/Nesterov,
 * following torch.optim's update rules. */
#include <math.h>

#include "ops/ops.h"

static segcl_status same_shapes(segcl_context *ctx, const char *op, const segcl_tensor *param,
                                const segcl_tensor *grad, const segcl_tensor *s1,
                                const segcl_tensor *s2, cl_uint *n)
{
    if (!param)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: NULL parameter", op);
    segcl_status st;
    if ((st = segcl_expect_shape(ctx, op, "gradient", grad, param->ndim, param->shape)) ||
        (s1 && (st = segcl_expect_shape(ctx, op, "state", s1, param->ndim, param->shape))) ||
        (s2 && (st = segcl_expect_shape(ctx, op, "state", s2, param->ndim, param->shape))))
        return st;
    return segcl_u32(ctx, op, param->numel, n);
}

segcl_status segcl_adam_step(segcl_context *ctx, const segcl_adam_params *p, long step,
                             segcl_tensor *param, const segcl_tensor *grad, segcl_tensor *m,
                             segcl_tensor *v)
{
    const char *op = p && p->decoupled ? "AdamW" : "Adam";
    cl_uint n;
    segcl_status st = same_shapes(ctx, op, param, grad, m, v, &n);
    if (st)
        return st;
    if (!m || !v || step < 1)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: missing state or step < 1", op);
    /* bias corrections in double, as PyTorch computes them on the host in Python floats */
    float bias1 = (float)(1.0 - pow(p->beta1, (double)step));
    float bias2_sqrt = (float)sqrt(1.0 - pow(p->beta2, (double)step));
    cl_uint decoupled = p->decoupled;
    return segcl_run_elements(ctx, "optim", "adam_step", n, 1,
                     SEGCL_ARGS(SEGCL_ARG(param->buffer), SEGCL_ARG(grad->buffer),
                                SEGCL_ARG(m->buffer), SEGCL_ARG(v->buffer), SEGCL_ARG(n),
                                SEGCL_ARG(p->lr), SEGCL_ARG(p->beta1), SEGCL_ARG(p->beta2),
                                SEGCL_ARG(p->eps), SEGCL_ARG(p->weight_decay),
                                SEGCL_ARG(decoupled), SEGCL_ARG(bias1), SEGCL_ARG(bias2_sqrt)));
}

segcl_status segcl_sgd_step(segcl_context *ctx, const segcl_sgd_params *p, long step,
                            segcl_tensor *param, const segcl_tensor *grad,
                            segcl_tensor *momentum_buf)
{
    const char *op = "SGD";
    cl_uint n;
    segcl_status st = same_shapes(ctx, op, param, grad, momentum_buf, NULL, &n);
    if (st)
        return st;
    if (step < 1 || (p->momentum != 0.0f && !momentum_buf))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "SGD: momentum needs a buffer and steps count from 1");
    if (p->nesterov && (p->momentum <= 0.0f || p->dampening != 0.0f))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "SGD: Nesterov momentum requires a momentum and zero dampening");
    cl_uint nesterov = p->nesterov, first = step == 1;
    cl_mem buf = momentum_buf ? momentum_buf->buffer : NULL;
    return segcl_run_elements(ctx, "optim", "sgd_step", n, 1,
                     SEGCL_ARGS(SEGCL_ARG(param->buffer), SEGCL_ARG(grad->buffer),
                                SEGCL_ARG(buf), SEGCL_ARG(n), SEGCL_ARG(p->lr),
                                SEGCL_ARG(p->momentum), SEGCL_ARG(p->dampening),
                                SEGCL_ARG(p->weight_decay), SEGCL_ARG(nesterov),
                                SEGCL_ARG(first)));
}
