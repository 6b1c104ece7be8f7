/*
 * Elementwise building blocks shared by ops and used by the self-test: fill and scale-and-add
 * of tensors (store_t: float, or half with -DSEGCL_HALF; the names keep their _f32 from before
 * half storage), and the conversions of tensor data to and from float scratch.
 * Run-style (see common.cl): launched through segcl_run_elements.
 */

__kernel void fill_f32(__global store_t *x, const uint n, const float value)
{
    FOR_RUN(i, n)
        ST(x, i, value);
}

/* y = alpha * x + beta * y */
__kernel void axpby_f32(__global const store_t *x, __global store_t *y, const uint n,
                        const float alpha, const float beta)
{
    FOR_RUN(i, n)
        ST(y, i, alpha * LD(x, i) + beta * LD(y, i));
}

/* dst[i] = src[offset + i] as float (tensor data for a float-only consumer: CLBlast) */
__kernel void widen(__global const store_t *src, const uint offset, __global float *dst,
                    const uint n)
{
    FOR_RUN(i, n)
        dst[i] = LD(src, offset + i);
}

/* dst[offset + i] = src[i], rounded to store_t */
__kernel void narrow(__global const float *src, __global store_t *dst, const uint offset,
                     const uint n)
{
    FOR_RUN(i, n)
        ST(dst, offset + i, src[i]);
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
