/* Optimizer steps on device, PyTorch's semantics (torch.optim.Adam, AdamW, SGD). */

/* Adam (decoupled == 0: L2 weight decay added to the gradient) or AdamW (decoupled == 1:
 * parameters shrink by lr * wd first). bias1 = 1 - beta1^t, bias2_sqrt = sqrt(1 - beta2^t). */
__kernel void adam_step(__global float *param, __global const float *grad, __global float *m,
                        __global float *v, const uint n, const float lr, const float beta1,
                        const float beta2, const float eps, const float weight_decay,
                        const uint decoupled, const float bias1, const float bias2_sqrt)
{
    FOR_RUN(i, n) {
        float p = param[i];
        float g = grad[i];
        if (weight_decay != 0.0f) {
            if (decoupled)
                p *= 1.0f - lr * weight_decay;
            else
                g += weight_decay * p;
        }
        const float mi = beta1 * m[i] + (1.0f - beta1) * g;
        const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrt(vi) / bias2_sqrt + eps;
        param[i] = p - (lr / bias1) * mi / denom;
    }
}

/* SGD with momentum (buffer initialised to the first gradient), dampening and Nesterov. */
__kernel void sgd_step(__global float *param, __global const float *grad, __global float *buf,
                       const uint n, const float lr, const float momentum,
                       const float dampening, const float weight_decay, const uint nesterov,
                       const uint first_step)
{
    FOR_RUN(i, n) {
        const float p = param[i];
        float g = grad[i];
        if (weight_decay != 0.0f)
            g += weight_decay * p;
        if (momentum != 0.0f) {
            const float b = first_step ? g : momentum * buf[i] + (1.0f - dampening) * g;
            buf[i] = b;
            g = nesterov ? g + momentum * b : b;
        }
        param[i] = p - lr * g;
    }
}
