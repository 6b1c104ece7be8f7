/*
 * Batch normalisation, elementwise parts. Statistics come from kernels/reduce.cl; the forward
 * pass folds them into y = a[c] * x + b[c].
 */

/* From the batch mean and the sum of squared deviations: invstd, the folded scale/shift, and
 * PyTorch's running statistics update (momentum on the unbiased variance). */
__kernel void bn_stats(__global const float *mean, __global const float *sum_sqdev,
                       __global const float *gamma, __global const float *beta,
                       const uint channels, const float count, const float eps,
                       const float momentum, const uint update_running,
                       __global float *running_mean, __global float *running_var,
                       __global float *invstd, __global float *scale, __global float *shift)
{
    const uint c = get_global_id(0);
    if (c >= channels)
        return;
    const float m = mean[c];
    const float var = sum_sqdev[c] / count;
    const float is = 1.0f / sqrt(var + eps);
    invstd[c] = is;
    scale[c] = gamma[c] * is;
    shift[c] = beta[c] - m * gamma[c] * is;
    if (update_running) {
        const float unbiased = count > 1.0f ? sum_sqdev[c] / (count - 1.0f) : var;
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * m;
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
    }
}

/* Evaluation mode: fold running statistics (also kept as mean/invstd for the backward pass). */
__kernel void bn_eval_fold(__global const float *running_mean, __global const float *running_var,
                           __global const float *gamma, __global const float *beta,
                           const uint channels, const float eps, __global float *mean,
                           __global float *invstd, __global float *scale, __global float *shift)
{
    const uint c = get_global_id(0);
    if (c >= channels)
        return;
    const float is = 1.0f / sqrt(running_var[c] + eps);
    mean[c] = running_mean[c];
    invstd[c] = is;
    scale[c] = gamma[c] * is;
    shift[c] = beta[c] - running_mean[c] * gamma[c] * is;
}

/* The elementwise passes run over (image, channel) planes in dimension 1 and runs of pixels
 * in dimension 0, so the channel's constants are loaded once per run. */

/* y = scale[c] * x + shift[c] */
__kernel void bn_apply(__global const float *x, __global const float *scale,
                       __global const float *shift, const uint channels, const uint plane,
                       __global float *y)
{
    const uint bc = get_global_id(1);
    const uint c = bc % channels;
    const float a = scale[c], b = shift[c];
    __global const float *src = x + (size_t)bc * plane;
    __global float *dst = y + (size_t)bc * plane;
    FOR_RUN(p, plane)
        dst[p] = a * src[p] + b;
}

/* dx (+)= gamma * invstd / M * (M * dy - sum_dy - xhat * sum_dy_xhat), sums as written by
 * channel_sum_dy_xhat: sum_dy at [c], sum_dy_xhat at [channels + c] */
__kernel void bn_backward_input(__global const float *dy, __global const float *x,
                                __global const float *mean, __global const float *invstd,
                                __global const float *gamma, __global const float *sums,
                                const uint channels, const uint plane, const float count,
                                __global float *dx, const uint accumulate)
{
    const uint bc = get_global_id(1);
    const uint c = bc % channels;
    const float is = invstd[c], m = mean[c];
    const float k = gamma[c] * is / count;
    const float s1 = sums[c], s2 = sums[channels + c];
    const size_t base = (size_t)bc * plane;
    FOR_RUN(p, plane) {
        const float xhat = (x[base + p] - m) * is;
        const float g = k * (count * dy[base + p] - s1 - xhat * s2);
        dx[base + p] = accumulate ? dx[base + p] + g : g;
    }
}

/* Evaluation-mode backward: dx (+)= scale[c] * dy */
__kernel void bn_backward_input_eval(__global const float *dy, __global const float *scale,
                                     const uint channels, const uint plane, __global float *dx,
                                     const uint accumulate)
{
    const uint bc = get_global_id(1);
    const float a = scale[bc % channels];
    const size_t base = (size_t)bc * plane;
    FOR_RUN(p, plane) {
        const float g = a * dy[base + p];
        dx[base + p] = accumulate ? dx[base + p] + g : g;
    }
}

/* dgamma += sum dy * xhat, dbeta += sum dy */
__kernel void bn_param_grads(__global const float *sums, const uint channels,
                             __global float *dgamma, __global float *dbeta)
{
    const uint c = get_global_id(0);
    if (c >= channels)
        return;
    if (dgamma)
        dgamma[c] += sums[channels + c];
    if (dbeta)
        dbeta[c] += sums[c];
}
