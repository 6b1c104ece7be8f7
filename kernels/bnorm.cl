/*
 * Batch normalisation, elementwise parts. Statistics come from kernels/reduce.cl; the forward
 * pass folds them into y = a[c] * x + b[c]. The inference kernels (bn_eval_fold, bn_apply)
 * take store_t tensors (half with -DSEGCL_HALF); the training ones float.
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

/* Welford/Chan merge of (count, mean, M2) b into a: exact in real arithmetic, and stable. */
inline void moments_merge(float *na, float *ma, float *qa, const float nb, const float mb,
                          const float qb)
{
    if (nb == 0.0f)
        return;
    const float n = *na + nb, d = mb - *ma;
    *ma += d * (nb / n);
    *qa += qb + d * d * (*na * nb / n);
    *na = n;
}

/* bn_stats from channel_partials_moments' spans (sums and M2 of `span` elements each, the last
 * span shorter): one work-group of GROUP_SUM_WG per channel merges them in a fixed order (each
 * work-item its strided spans in turn, then a tree), and its first work-item does what
 * bn_stats does with the batch mean and sum of squared deviations. */
__kernel __attribute__((reqd_work_group_size(GROUP_SUM_WG, 1, 1)))
void bn_stats_merge(__global const float *partials, const uint groups, const uint span,
                    const float count, __global const float *gamma, __global const float *beta,
                    const uint channels, const float eps, const float momentum,
                    __global float *running_mean, __global float *running_var,
                    __global float *mean, __global float *invstd, __global float *scale,
                    __global float *shift)
{
    __local float ln[GROUP_SUM_WG], lm[GROUP_SUM_WG], lq[GROUP_SUM_WG];
    const uint c = get_group_id(0), lid = get_local_id(0);
    float na = 0.0f, ma = 0.0f, qa = 0.0f;
    for (uint g = lid; g < groups; g += GROUP_SUM_WG) {
        const float nb = g + 1 < groups ? (float)span : count - (float)g * (float)span;
        moments_merge(&na, &ma, &qa, nb, partials[(size_t)c * groups + g] / nb,
                      partials[((size_t)channels + c) * groups + g]);
    }
    ln[lid] = na, lm[lid] = ma, lq[lid] = qa;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = GROUP_SUM_WG / 2; s > 0; s >>= 1) {
        if (lid < s) {
            float n0 = ln[lid], m0 = lm[lid], q0 = lq[lid];
            moments_merge(&n0, &m0, &q0, ln[lid + s], lm[lid + s], lq[lid + s]);
            ln[lid] = n0, lm[lid] = m0, lq[lid] = q0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid != 0)
        return;
    const float m = lm[0], q = lq[0];
    const float var = q / count;
    const float is = 1.0f / sqrt(var + eps);
    mean[c] = m;
    invstd[c] = is;
    scale[c] = gamma[c] * is;
    shift[c] = beta[c] - m * gamma[c] * is;
    const float unbiased = count > 1.0f ? q / (count - 1.0f) : var;
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * m;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
}

/* The backward pass's two sums per channel from channel_partials_dy_xhat's partial rows, in a
 * fixed order: sums[c] = sum dy, sums[channels + c] = sum dy * xhat; and dbeta[c] += sum dy,
 * dgamma[c] += sum dy * xhat (each may be NULL). One work-group per channel. */
__kernel __attribute__((reqd_work_group_size(GROUP_SUM_WG, 1, 1)))
void bn_backward_sums(__global const float *partials, const uint groups, const uint channels,
                      __global float *sums, __global float *dgamma, __global float *dbeta)
{
    __local float scratch[GROUP_SUM_WG];
    const uint c = get_group_id(0), lid = get_local_id(0);
    float s1 = 0.0f, s2 = 0.0f;
    for (uint i = lid; i < groups; i += GROUP_SUM_WG) {
        s1 += partials[(size_t)c * groups + i];
        s2 += partials[((size_t)channels + c) * groups + i];
    }
    const float t1 = group_sum(scratch, s1);
    const float t2 = group_sum(scratch, s2);
    if (lid == 0) {
        sums[c] = t1;
        sums[channels + c] = t2;
        if (dbeta)
            dbeta[c] += t1;
        if (dgamma)
            dgamma[c] += t2;
    }
}

/* Evaluation mode: fold running statistics (also kept as mean/invstd for the backward pass). */
__kernel void bn_eval_fold(__global const store_t *running_mean,
                           __global const store_t *running_var, __global const store_t *gamma,
                           __global const store_t *beta, const uint channels, const float eps,
                           __global store_t *mean, __global store_t *invstd,
                           __global store_t *scale, __global store_t *shift)
{
    const uint c = get_global_id(0);
    if (c >= channels)
        return;
    const float is = 1.0f / sqrt(LD(running_var, c) + eps);
    const float m = LD(running_mean, c), g = LD(gamma, c);
    ST(mean, c, m);
    ST(invstd, c, is);
    ST(scale, c, g * is);
    ST(shift, c, LD(beta, c) - m * g * is);
}

/* The elementwise passes run over (image, channel) planes in dimension 1 and runs of pixels
 * in dimension 0, so the channel's constants are loaded once per run. */

/* y = scale[c] * x + shift[c] */
__kernel void bn_apply(__global const store_t *x, __global const store_t *scale,
                       __global const store_t *shift, const uint channels, const uint plane,
                       __global store_t *y)
{
    const uint bc = get_global_id(1);
    const uint c = bc % channels;
    const float a = LD(scale, c), b = LD(shift, c);
    __global const store_t *src = x + (size_t)bc * plane;
    __global store_t *dst = y + (size_t)bc * plane;
    FOR_RUN(p, plane)
        ST(dst, p, a * LD(src, p) + b);
}

/* dx (+)= gamma * invstd / M * (M * dy - sum_dy - xhat * sum_dy_xhat), sums as written by
 * channel_sum_dy_xhat: sum_dy at [c], sum_dy_xhat at [channels + c] */
__kernel void bn_backward_input(__global const float *dy, __global const float *x,
                                __global const float *mean, __global const float *invstd,
                                __global const float *gamma, __global const float *sums,
                                const uint channels, const uint plane, const float count,
                                __global float *dx, const uint accumulate, const uint relu)
{
    const uint bc = get_global_id(1);
    const uint c = bc % channels;
    const float is = invstd[c], m = mean[c];
    const float k = gamma[c] * is / count;
    const float s1 = sums[c], s2 = sums[channels + c];
    const size_t base = (size_t)bc * plane;
    FOR_RUN(p, plane) {
        const float xv = x[base + p], xhat = (xv - m) * is;
        /* relu: x is a ReLU's output, and the gradient goes on through it (relu_backward) */
        const float g = relu && !(xv > 0.0f) ? 0.0f : k * (count * dy[base + p] - s1 - xhat * s2);
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
