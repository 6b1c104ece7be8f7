/*
 * Elementwise building blocks shared by ops and used by the self-test: fill, scale-and-add,
 * copy with strides. Sizes are rounded up to the work-group size by the host; every kernel
 * bounds-checks its index.
 */

__kernel void fill_f32(__global float *x, const uint n, const float value)
{
    const uint i = get_global_id(0);
    if (i < n)
        x[i] = value;
}

/* y = alpha * x + beta * y */
__kernel void axpby_f32(__global const float *x, __global float *y, const uint n,
                        const float alpha, const float beta)
{
    const uint i = get_global_id(0);
    if (i < n)
        y[i] = alpha * x[i] + beta * y[i];
}
