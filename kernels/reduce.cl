/*
 * Per-channel reductions over (N, H, W) of NCHW tensors, in two stages with no atomics and a
 * fixed order on every device: group (g, c) sums the g-th span of RWG x CHUNK elements of
 * channel c (each work-item a fixed stride, then a tree in local memory) into partials[c][g];
 * then one group per row sums the partials in order. Every work-item loops at most CHUNK times
 * in the first stage, whatever the tensor's size (no long-running work-items: display GPUs'
 * watchdogs, and llvmpipe, which ends loops after 65,535 iterations). Used by bias gradients
 * and batch normalisation.
 */

#define RWG GROUP_SUM_WG
#ifndef CHUNK
#define CHUNK 64
#endif

/* The element of channel c at position e of its (n, plane) range, stepping by RWG. */
#define CHANNEL_LOOP(body)                                                                         \
    const uint g = get_group_id(0), c = get_group_id(1), lid = get_local_id(0);                    \
    const uint count = n * plane;                                                                  \
    uint e = g * CHUNK * RWG + lid;                                                                \
    uint b = e / plane, p = e - b * plane;                                                         \
    for (uint i = 0; i < CHUNK && e < count; i++) {                                                \
        const size_t at = ((size_t)b * channels + c) * plane + p;                                  \
        body;                                                                                      \
        e += RWG;                                                                                  \
        p += RWG;                                                                                  \
        while (p >= plane) {                                                                       \
            p -= plane;                                                                            \
            b++;                                                                                   \
        }                                                                                          \
    }

/* partials[c * groups + g] = sum of x over span g of channel c */
__kernel __attribute__((reqd_work_group_size(RWG, 1, 1)))
void channel_partials_sum(__global const float *x, const uint n, const uint channels,
                          const uint plane, const uint groups, __global float *partials)
{
    __local float scratch[RWG];
    float s = 0.0f;
    CHANNEL_LOOP(s += x[at])
    const float total = group_sum(scratch, s);
    if (lid == 0)
        partials[(size_t)c * groups + g] = total;
}

/* the same for (x - mean[c])^2 */
__kernel __attribute__((reqd_work_group_size(RWG, 1, 1)))
void channel_partials_sqdev(__global const float *x, __global const float *mean, const uint n,
                            const uint channels, const uint plane, const uint groups,
                            __global float *partials)
{
    __local float scratch[RWG];
    const float m = mean[get_group_id(1)];
    float s = 0.0f;
    CHANNEL_LOOP(const float d = x[at] - m; s += d * d)
    const float total = group_sum(scratch, s);
    if (lid == 0)
        partials[(size_t)c * groups + g] = total;
}

/* Moments of span g of channel c, in one launch and without the batch mean: its sum at
 * partials[c * groups + g] and the squared deviations about its own mean at
 * partials[(channels + c) * groups + g] (a second pass over the same span). bn_stats_merge
 * combines the spans exactly (Chan et al.'s pairwise update), in a fixed order. */
__kernel __attribute__((reqd_work_group_size(RWG, 1, 1)))
void channel_partials_moments(__global const float *x, const uint n, const uint channels,
                              const uint plane, const uint groups, __global float *partials)
{
    __local float scratch[RWG];
    float s = 0.0f;
    CHANNEL_LOOP(s += x[at])
    const uint start = get_group_id(0) * CHUNK * RWG;
    const uint span = min((uint)(CHUNK * RWG), n * plane - start);
    const float sum = group_sum(scratch, s), m = sum / (float)span;
    float q = 0.0f;
    { /* the same span again (the loop's names in a scope of their own) */
        CHANNEL_LOOP(const float d = x[at] - m; q += d * d)
    }
    const float m2 = group_sum(scratch, q);
    if (lid == 0) {
        partials[(size_t)c * groups + g] = sum;
        partials[((size_t)channels + c) * groups + g] = m2;
    }
}

/* rows c: dy; rows channels + c: dy * (x - mean[c]) * invstd[c] */
__kernel __attribute__((reqd_work_group_size(RWG, 1, 1)))
void channel_partials_dy_xhat(__global const float *dy, __global const float *x,
                              __global const float *mean, __global const float *invstd,
                              const uint n, const uint channels, const uint plane,
                              const uint groups, __global float *partials)
{
    __local float scratch[RWG];
    const float m = mean[get_group_id(1)], is = invstd[get_group_id(1)];
    float s1 = 0.0f, s2 = 0.0f;
    CHANNEL_LOOP(const float d = dy[at]; s1 += d; s2 += d * (x[at] - m) * is)
    const float t1 = group_sum(scratch, s1);
    const float t2 = group_sum(scratch, s2);
    if (lid == 0) {
        partials[(size_t)c * groups + g] = t1;
        partials[((size_t)channels + c) * groups + g] = t2;
    }
}

/* out[out_offset + r] (+)= scale * sum of partials[r * groups ..], one group per row r */
__kernel __attribute__((reqd_work_group_size(RWG, 1, 1)))
void sum_rows(__global const float *partials, const uint groups, __global float *out,
              const uint out_offset, const uint accumulate, const float scale)
{
    __local float scratch[RWG];
    const uint r = get_group_id(0), lid = get_local_id(0);
    float s = 0.0f;
    for (uint i = lid; i < groups; i += RWG)
        s += partials[(size_t)r * groups + i];
    const float total = group_sum(scratch, s) * scale;
    if (lid == 0)
        out[out_offset + r] = accumulate ? out[out_offset + r] + total : total;
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
