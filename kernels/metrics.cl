/*
 * Confusion counts for segmentation metrics: counts[target * C + predicted] over all pixels.
 * Prediction is logit > 0 for one class (sigmoid > 0.5), argmax otherwise (first maximum).
 * Each work-group counts into local memory, then writes its own row of partial counts; one
 * pass sums the rows. Integer sums are exact, so the order does not matter, but no global
 * atomics are needed either. Logits and targets are store_t tensors (half with -DSEGCL_HALF).
 */

#define MWG GROUP_SUM_WG
#ifndef MAX_CLASSES
#define MAX_CLASSES 16
#endif

__kernel __attribute__((reqd_work_group_size(MWG, 1, 1)))
void confusion_partials(__global const store_t *x, __global const store_t *t, const uint n,
                        const uint classes, const uint plane, const int ignore_index,
                        __global uint *partials)
{
    /* binary segmentation still has two classes (background, foreground) */
    const uint k = classes == 1 ? 2 : classes;
    __local uint counts[MAX_CLASSES * MAX_CLASSES];
    const uint lid = get_local_id(0);
    for (uint i = lid; i < k * k; i += MWG)
        counts[i] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint pixels = n * plane;
    for (uint i = get_global_id(0); i < pixels; i += get_global_size(0)) {
        const int target = (int)LD(t, i);
        if (target == ignore_index || target < 0 || target >= (int)k)
            continue;
        const uint b = i / plane, p = i % plane;
        __global const store_t *px = x + (size_t)b * classes * plane + p;
        uint pred = 0;
        if (classes == 1) {
            pred = LD(px, 0) > 0.0f ? 1 : 0;
        } else {
            float best = LD(px, 0);
            for (uint c = 1; c < classes; c++)
                if (LD(px, c * plane) > best) {
                    best = LD(px, c * plane);
                    pred = c;
                }
        }
        atomic_inc(&counts[target * k + pred]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint i = lid; i < k * k; i += MWG)
        partials[get_group_id(0) * k * k + i] = counts[i];
}

/* partials[out_offset + i] = sum over groups of partials[g * cells + i] */
__kernel void confusion_reduce(__global uint *partials, const uint groups, const uint cells,
                               const uint out_offset)
{
    const uint i = get_global_id(0);
    if (i >= cells)
        return;
    uint s = 0;
    for (uint g = 0; g < groups; g++)
        s += partials[g * cells + i];
    partials[out_offset + i] = s;
}
