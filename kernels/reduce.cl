/*
 * Per-channel reductions over (N, H, W) of NCHW tensors, one work-group per channel, each
 * work-item summing a fixed stride and a fixed-order tree in local memory: deterministic on
 * every device, no atomics. Used by bias gradients and batch normalisation.
 */

#define RWG GROUP_SUM_WG

__kernel __attribute__((reqd_work_group_size(RWG, 1, 1)))
void channel_sum(__global const float *x, const uint n, const uint channels, const uint plane,
                 __global float *out, const uint accumulate)
{
    __local float scratch[RWG];
    const uint c = get_group_id(0);
    const uint lid = get_local_id(0);
    float s = 0.0f;
    for (uint b = 0; b < n; b++) {
        __global const float *src = x + ((size_t)b * channels + c) * plane;
        for (uint p = lid; p < plane; p += RWG)
            s += src[p];
    }
    const float total = group_sum(scratch, s);
    if (lid == 0)
        out[c] = accumulate ? out[c] + total : total;
}

/* out[c] = sum_{n, p} (x[n, c, p] - mean[c])^2 */
__kernel __attribute__((reqd_work_group_size(RWG, 1, 1)))
void channel_sum_sqdev(__global const float *x, __global const float *mean, const uint n,
                       const uint channels, const uint plane, __global float *out)
{
    __local float scratch[RWG];
    const uint c = get_group_id(0);
    const uint lid = get_local_id(0);
    const float m = mean[c];
    float s = 0.0f;
    for (uint b = 0; b < n; b++) {
        __global const float *src = x + ((size_t)b * channels + c) * plane;
        for (uint p = lid; p < plane; p += RWG) {
            const float d = src[p] - m;
            s += d * d;
        }
    }
    const float total = group_sum(scratch, s);
    if (lid == 0)
        out[c] = total;
}

/* sums[c] = sum dy; sums[channels + c] = sum dy * (x - mean[c]) * invstd[c] */
__kernel __attribute__((reqd_work_group_size(RWG, 1, 1)))
void channel_sum_dy_xhat(__global const float *dy, __global const float *x,
                         __global const float *mean, __global const float *invstd, const uint n,
                         const uint channels, const uint plane, __global float *sums)
{
    __local float scratch[RWG];
    const uint c = get_group_id(0);
    const uint lid = get_local_id(0);
    const float m = mean[c], is = invstd[c];
    float s1 = 0.0f, s2 = 0.0f;
    for (uint b = 0; b < n; b++) {
        const size_t base = ((size_t)b * channels + c) * plane;
        for (uint p = lid; p < plane; p += RWG) {
            const float g = dy[base + p];
            s1 += g;
            s2 += g * (x[base + p] - m) * is;
        }
    }
    const float t1 = group_sum(scratch, s1);
    const float t2 = group_sum(scratch, s2);
    if (lid == 0) {
        sums[c] = t1;
        sums[channels + c] = t2;
    }
}

/* Sum of `count` partial values in a fixed order, by one work-group. */
__kernel __attribute__((reqd_work_group_size(RWG, 1, 1)))
void sum_partials(__global const float *partials, const uint count, __global float *out,
                  const uint out_index, const float scale)
{
    __local float scratch[RWG];
    const uint lid = get_local_id(0);
    float s = 0.0f;
    for (uint i = lid; i < count; i += RWG)
        s += partials[i];
    const float total = group_sum(scratch, s);
    if (lid == 0)
        out[out_index] = total * scale;
}
