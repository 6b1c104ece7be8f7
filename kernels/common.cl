/*
 * Prepended to every kernel family. RUN is the number of consecutive elements one work-item
 * handles in run-style kernels: many on CPU devices (each work-group is a thread and the loop
 * vectorises), one on GPUs. The host passes -DRUN to match its launch geometry.
 */
#ifndef RUN
#define RUN 1
#endif

/* Register vectors of the CPU GEMM micro-kernel and the panels that feed it: GEMM_VEC floats
 * (the device's native float vector width, 8 or 16), two per panel row of GEMM_NR floats. */
#ifndef GEMM_VEC
#define GEMM_VEC 8
#endif
#define GEMM_NR (2 * GEMM_VEC)
#if GEMM_VEC == 16
typedef float16 gemm_vec;
#define GEMM_VLOAD vload16
#define GEMM_VSTORE vstore16
#else
typedef float8 gemm_vec;
#define GEMM_VLOAD vload8
#define GEMM_VSTORE vstore8
#endif

/* Storage of activations and weights: float, or half with -DSEGCL_HALF (inference only).
 * vload_half and vstore_half are core OpenCL C 1.2 and need no cl_khr_fp16; arithmetic stays
 * float. Scratch (reduction partials, losses, packed GEMM panels) is always float. LD(p, i)
 * reads element i of a store_t buffer as float, ST(p, i, v) writes float v (rounded to
 * nearest even). */
#ifdef SEGCL_HALF
typedef half store_t;
#define LD(p, i) vload_half((i), (p))
#define ST(p, i, v) vstore_half_rte((v), (i), (p))
#else
typedef float store_t;
#define LD(p, i) ((p)[i])
#define ST(p, i, v) ((p)[i] = (v))
#endif

/* GEMM_VEC-wide loads and stores of store_t data (tensors), as GEMM_VLOAD/GEMM_VSTORE are of
 * float data: vload_halfN converts to floatN, vstore_halfN_rte rounds back. */
#ifdef SEGCL_HALF
#if GEMM_VEC == 16
#define GEMM_VLOAD_ST vload_half16
#define GEMM_VSTORE_ST vstore_half16_rte
#else
#define GEMM_VLOAD_ST vload_half8
#define GEMM_VSTORE_ST vstore_half8_rte
#endif
#else
#define GEMM_VLOAD_ST GEMM_VLOAD
#define GEMM_VSTORE_ST GEMM_VSTORE
#endif

/* Loops `i` over this work-item's run of [0, n) in dimension 0. */
#define FOR_RUN(i, n)                                                                              \
    for (uint i = (uint)get_global_id(0) * RUN, i##_end = min(i + RUN, (uint)(n)); i < i##_end; i++)

/* Work-group size of the fixed-order reductions (kernels/reduce.cl, loss.cl, metrics.cl): a
 * power of two <= 64 that the device allows, which the host passes with -DGROUP_SUM_WG and
 * launches them with (segcl_reduction_group). */
#ifndef GROUP_SUM_WG
#define GROUP_SUM_WG 64
#endif

/* Sum of v over a GROUP_SUM_WG work-group, as a fixed-order tree in `scratch` (deterministic on
 * every device). Every work-item gets the total; scratch may be reused right after. */
inline float group_sum(__local float *scratch, float v)
{
    const uint lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = GROUP_SUM_WG / 2; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

/* sigmoid through exp of a non-positive argument only: no overflow for large |v| */
inline float stable_sigmoid(const float v)
{
    const float e = exp(-fabs(v));
    return v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}
