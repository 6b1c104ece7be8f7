/*
 * Elementwise building blocks shared by ops and used by the self-test: fill and scale-and-add.
 * Run-style (see common.cl): launched through segcl_run_elements.
 */

__kernel void fill_f32(__global float *x, const uint n, const float value)
{
    FOR_RUN(i, n)
        x[i] = value;
}

/* y = alpha * x + beta * y */
__kernel void axpby_f32(__global const float *x, __global float *y, const uint n,
                        const float alpha, const float beta)
{
    FOR_RUN(i, n)
        y[i] = alpha * x[i] + beta * y[i];
}

/* Never run: created once per context so the host can read what work-group size a kernel
 * with local memory and a barrier may use on this device (segcl_reduction_group). */
__kernel void group_probe(__global float *x)
{
    __local float s[64];
    const uint lid = get_local_id(0);
    s[lid % 64] = x[get_global_id(0)];
    barrier(CLK_LOCAL_MEM_FENCE);
    x[get_global_id(0)] = s[(lid + 1) % 64];
}
