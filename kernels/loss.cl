/*
 * Pixel-wise losses: each returns the loss (reduced in a fixed order: per-group partial sums,
 * then one group sums the partials) and writes dlogits. Targets are float tensors: 0/1 for
 * binary masks, class indices for multi-class ones. Grid-stride loops over a fixed number of
 * groups (LOSS_GROUPS x LWG work-items) keep the summation order independent of the device.
 */

#define LWG GROUP_SUM_WG

__kernel __attribute__((reqd_work_group_size(LWG, 1, 1)))
void bce_logits(__global const float *x, __global const float *t, const uint n,
                const float scale, __global float *dlogits, const uint accumulate,
                __global float *partials)
{
    __local float scratch[LWG];
    float s = 0.0f;
    for (uint i = get_global_id(0); i < n; i += get_global_size(0)) {
        const float v = x[i], target = t[i];
        s += fmax(v, 0.0f) - v * target + log1p(exp(-fabs(v)));
        const float g = scale * (stable_sigmoid(v) - target);
        if (dlogits)
            dlogits[i] = accumulate ? dlogits[i] + g : g;
    }
    const float total = group_sum(scratch, s);
    if (get_local_id(0) == 0)
        partials[get_group_id(0)] = total;
}

/* Softmax cross-entropy over `classes` channels of (N, C, P) logits, first pass: per-group
 * sums of w[t] * (logsumexp - x_t) and of w[t] over pixels whose target is not ignored. */
__kernel __attribute__((reqd_work_group_size(LWG, 1, 1)))
void softmax_ce_partials(__global const float *x, __global const float *t,
                         __global const float *weights, const uint use_weights,
                         const int ignore_index, const uint n, const uint classes,
                         const uint plane, __global float *partials, const uint weight_offset)
{
    __local float scratch[LWG];
    float sl = 0.0f, sw = 0.0f;
    const uint pixels = n * plane;
    for (uint i = get_global_id(0); i < pixels; i += get_global_size(0)) {
        const int target = (int)t[i];
        if (target == ignore_index || target < 0 || target >= (int)classes)
            continue;
        const uint b = i / plane, p = i % plane;
        __global const float *px = x + (size_t)b * classes * plane + p;
        float m = px[0];
        for (uint c = 1; c < classes; c++)
            m = fmax(m, px[c * plane]);
        float se = 0.0f;
        for (uint c = 0; c < classes; c++)
            se += exp(px[c * plane] - m);
        const float wt = use_weights ? weights[target] : 1.0f;
        sl += wt * (m + log(se) - px[target * plane]);
        sw += wt;
    }
    const float tl = group_sum(scratch, sl);
    const float tw = group_sum(scratch, sw);
    if (get_local_id(0) == 0) {
        partials[get_group_id(0)] = tl;
        partials[weight_offset + get_group_id(0)] = tw;
    }
}

/* Second pass: dlogits (+)= w[t] (softmax - onehot(t)) / total_weight, zero where ignored.
 * stats[stats_offset + 1] holds the total weight from the first pass. */
__kernel void softmax_ce_backward(__global const float *x, __global const float *t,
                                  __global const float *weights, const uint use_weights,
                                  const int ignore_index, const uint n, const uint classes,
                                  const uint plane, __global const float *stats,
                                  const uint stats_offset, const float grad_scale, __global float *dlogits,
                                  const uint accumulate)
{
    const uint i = get_global_id(0);
    if (i >= n * plane)
        return;
    const uint b = i / plane, p = i % plane;
    __global const float *px = x + (size_t)b * classes * plane + p;
    __global float *pg = dlogits + (size_t)b * classes * plane + p;
    const int target = (int)t[i];
    const int ignored = target == ignore_index || target < 0 || target >= (int)classes;
    const float total = stats[stats_offset + 1];
    float m = px[0];
    for (uint c = 1; c < classes; c++)
        m = fmax(m, px[c * plane]);
    float se = 0.0f;
    for (uint c = 0; c < classes; c++)
        se += exp(px[c * plane] - m);
    const float wt = ignored ? 0.0f : (use_weights ? weights[target] : 1.0f);
    const float k = total > 0.0f ? grad_scale * wt / total : 0.0f;
    for (uint c = 0; c < classes; c++) {
        const float sm = exp(px[c * plane] - m) / se;
        const float g = k * (sm - ((int)c == target ? 1.0f : 0.0f));
        pg[c * plane] = accumulate ? pg[c * plane] + g : g;
    }
}

/* stats[stats_offset + {0, 1}] = {sum(losses) / sum(weights), sum(weights)} over the
 * partials written by softmax_ce_partials (weights at weight_offset). */
__kernel __attribute__((reqd_work_group_size(LWG, 1, 1)))
void softmax_ce_finish(__global float *partials, const uint weight_offset, const uint count,
                       __global float *stats, const uint stats_offset)
{
    __local float scratch[LWG];
    float sl = 0.0f, sw = 0.0f;
    for (uint i = get_local_id(0); i < count; i += LWG) {
        sl += partials[i];
        sw += partials[weight_offset + i];
    }
    const float tl = group_sum(scratch, sl);
    const float tw = group_sum(scratch, sw);
    if (get_local_id(0) == 0) {
        stats[stats_offset] = tw > 0.0f ? tl / tw : 0.0f;
        stats[stats_offset + 1] = tw;
    }
}

__kernel void copy_scalar(__global const float *src, const uint offset, __global float *dst)
{
    if (get_global_id(0) == 0)
        dst[0] = src[offset];
}

/* The combined loss: loss[0] += loss[1] (the second term). */
__kernel void add_scalar(__global float *loss)
{
    if (get_global_id(0) == 0)
        loss[0] += loss[1];
}

/* Probability of class c at pixel (b, p): sigmoid for one class, softmax otherwise. */
inline float class_probability(__global const float *x, const uint b, const uint c,
                               const uint p, const uint classes, const uint plane)
{
    __global const float *px = x + (size_t)b * classes * plane + p;
    if (classes == 1)
        return stable_sigmoid(px[0]);
    float m = px[0];
    for (uint k = 1; k < classes; k++)
        m = fmax(m, px[k * plane]);
    float se = 0.0f;
    for (uint k = 0; k < classes; k++)
        se += exp(px[k * plane] - m);
    return exp(px[c * plane] - m) / se;
}

/* Target indicator of class c: the 0/1 mask itself for one class, one-hot of the index else. */
inline float class_target(__global const float *t, const uint b, const uint c, const uint p,
                          const uint classes, const uint plane)
{
    const float v = t[(size_t)b * plane + p];
    return classes == 1 ? v : ((int)v == (int)c ? 1.0f : 0.0f);
}

/* Soft Dice sums per (image, class), one group each: sums[(b*C + c)*3 + {0,1,2}] =
 * {sum p t, sum p, sum t}. */
__kernel __attribute__((reqd_work_group_size(LWG, 1, 1)))
void dice_sums(__global const float *x, __global const float *t, const uint classes,
               const uint plane, __global float *sums)
{
    __local float scratch[LWG];
    const uint bc = get_group_id(0);
    const uint b = bc / classes, c = bc % classes;
    float si = 0.0f, sp = 0.0f, st = 0.0f;
    for (uint p = get_local_id(0); p < plane; p += LWG) {
        const float prob = class_probability(x, b, c, p, classes, plane);
        const float tg = class_target(t, b, c, p, classes, plane);
        si += prob * tg;
        sp += prob;
        st += tg;
    }
    const float ti = group_sum(scratch, si);
    const float tp = group_sum(scratch, sp);
    const float tt = group_sum(scratch, st);
    if (get_local_id(0) == 0) {
        sums[bc * 3 + 0] = ti;
        sums[bc * 3 + 1] = tp;
        sums[bc * 3 + 2] = tt;
    }
}

/* loss = 1 - mean over (b, c) of (2 I + s) / (P + T + s), written to out[0]. */
__kernel __attribute__((reqd_work_group_size(LWG, 1, 1)))
void dice_finish(__global const float *sums, const uint count, const float smooth,
                 __global float *out, const uint out_index)
{
    __local float scratch[LWG];
    float s = 0.0f;
    for (uint i = get_local_id(0); i < count; i += LWG)
        s += (2.0f * sums[i * 3] + smooth) / (sums[i * 3 + 1] + sums[i * 3 + 2] + smooth);
    const float total = group_sum(scratch, s);
    if (get_local_id(0) == 0)
        out[out_index] = 1.0f - total / (float)count;
}

/* dlogits (+)= grad_scale * dL/dx, through the sigmoid (one class) or the softmax. */
__kernel void dice_backward(__global const float *x, __global const float *t,
                            __global const float *sums, const uint n, const uint classes,
                            const uint plane, const float smooth, const float grad_scale,
                            __global float *dlogits, const uint accumulate)
{
    const uint i = get_global_id(0);
    if (i >= n * plane)
        return;
    const uint b = i / plane, p = i % plane;
    const float inv_count = 1.0f / (float)(n * classes);
    __global float *pg = dlogits + (size_t)b * classes * plane + p;
    if (classes == 1) {
        __global const float *s = sums + (size_t)b * 3;
        const float den = s[1] + s[2] + smooth;
        const float prob = class_probability(x, b, 0, p, 1, plane);
        const float tg = class_target(t, b, 0, p, 1, plane);
        const float dp = -inv_count * (2.0f * tg * den - (2.0f * s[0] + smooth)) / (den * den);
        const float g = grad_scale * dp * prob * (1.0f - prob);
        pg[0] = accumulate ? pg[0] + g : g;
        return;
    }
    /* softmax Jacobian: dL/dx_c = p_c (g_c - sum_k p_k g_k) */
    float dot = 0.0f;
    for (uint k = 0; k < classes; k++) {
        __global const float *s = sums + ((size_t)b * classes + k) * 3;
        const float den = s[1] + s[2] + smooth;
        const float gk = -inv_count *
                         (2.0f * class_target(t, b, k, p, classes, plane) * den -
                          (2.0f * s[0] + smooth)) / (den * den);
        dot += class_probability(x, b, k, p, classes, plane) * gk;
    }
    for (uint c = 0; c < classes; c++) {
        __global const float *s = sums + ((size_t)b * classes + c) * 3;
        const float den = s[1] + s[2] + smooth;
        const float gc = -inv_count *
                         (2.0f * class_target(t, b, c, p, classes, plane) * den -
                          (2.0f * s[0] + smooth)) / (den * den);
        const float g = grad_scale * class_probability(x, b, c, p, classes, plane) * (gc - dot);
        pg[c * plane] = accumulate ? pg[c * plane] + g : g;
    }
}
