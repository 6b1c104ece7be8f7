/*
 * Prepended to every kernel family. RUN is the number of consecutive elements one work-item
 * handles in run-style kernels: many on CPU devices (each work-group is a thread and the loop
 * vectorises), one on GPUs. The host passes -DRUN to match its launch geometry.
 */
#ifndef RUN
#define RUN 1
#endif

/* Loops `i` over this work-item's run of [0, n) in dimension 0. */
#define FOR_RUN(i, n)                                                                              \
    for (uint i = (uint)get_global_id(0) * RUN, i##_end = min(i + RUN, (uint)(n)); i < i##_end; i++)
