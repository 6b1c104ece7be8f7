/* Pointwise activations and their gradients, run-style (common.cl); the forward passes read
 * and write store_t tensors (half with -DSEGCL_HALF), the backward ones float (training). Backward passes use the
 * forward output where it determines the gradient (ReLU: y > 0, sigmoid: y(1-y)). */

__kernel void relu_forward(__global const store_t *x, __global store_t *y, const uint n)
{
    FOR_RUN(i, n)
        ST(y, i, fmax(LD(x, i), 0.0f));
}

/* dx (+)= dy where y > 0 (the gradient at x = 0 is taken as 0, as PyTorch does) */
__kernel void relu_backward(__global const float *y, __global const float *dy,
                            __global float *dx, const uint n, const uint accumulate)
{
    FOR_RUN(i, n) {
        const float g = y[i] > 0.0f ? dy[i] : 0.0f;
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

__kernel void sigmoid_forward(__global const store_t *x, __global store_t *y, const uint n)
{
    FOR_RUN(i, n)
        ST(y, i, stable_sigmoid(LD(x, i)));
}

__kernel void sigmoid_backward(__global const float *y, __global const float *dy,
                               __global float *dx, const uint n, const uint accumulate)
{
    FOR_RUN(i, n) {
        const float s = y[i];
        const float g = dy[i] * s * (1.0f - s);
        dx[i] = accumulate ? dx[i] + g : g;
    }
}
