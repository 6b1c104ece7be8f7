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

/* y = scale[c] * x + shift[c] */
__kernel void bn_apply(__global const float *x, __global const float *scale,
                       __global const float *shift, const uint channels, const uint plane,
                       const uint total, __global float *y)
{
    const uint i = get_global_id(0);
    if (i >= total)
        return;
    const uint c = (i / plane) % channels;
    y[i] = scale[c] * x[i] + shift[c];
}

/* dx (+)= gamma * invstd / M * (M * dy - sum_dy - xhat * sum_dy_xhat), sums as written by
 * channel_sum_dy_xhat: sum_dy at [c], sum_dy_xhat at [channels + c] */
__kernel void bn_backward_input(__global const float *dy, __global const float *x,
                                __global const float *mean, __global const float *invstd,
                                __global const float *gamma, __global const float *sums,
                                const uint channels,
                                const uint plane, const uint total, const float count,
                                __global float *dx, const uint accumulate)
{
    const uint i = get_global_id(0);
    if (i >= total)
        return;
    const uint c = (i / plane) % channels;
    const float is = invstd[c];
    const float xhat = (x[i] - mean[c]) * is;
    const float g =
        gamma[c] * is / count * (count * dy[i] - sums[c] - xhat * sums[channels + c]);
    dx[i] = accumulate ? dx[i] + g : g;
}

/* Evaluation-mode backward: dx (+)= scale[c] * dy */
__kernel void bn_backward_input_eval(__global const float *dy, __global const float *scale,
                                     const uint channels, const uint plane, const uint total,
                                     __global float *dx, const uint accumulate)
{
    const uint i = get_global_id(0);
    if (i >= total)
        return;
    const float g = scale[(i / plane) % channels] * dy[i];
    dx[i] = accumulate ? dx[i] + g : g;
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
