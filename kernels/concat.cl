/* Channel concatenation of NCHW tensors and its backward split: a copy of `channels` channels
 * between a tensor and a channel window of a wider one. */

/* dst[n, dst_c0 + c, p] = src[n, c, p] (forward), or src (+)= dst window (backward). */
__kernel void copy_channels(__global const float *src, const uint src_channels,
                            const uint src_c0, __global float *dst, const uint dst_channels,
                            const uint dst_c0, const uint channels, const uint plane,
                            const uint n, const uint accumulate)
{
    const uint i = get_global_id(0);
    const uint total = n * channels * plane;
    if (i >= total)
        return;
    const uint p = i % plane;
    const uint c = (i / plane) % channels;
    const uint b = i / (plane * channels);
    const float v = src[((size_t)b * src_channels + src_c0 + c) * plane + p];
    __global float *d = dst + ((size_t)b * dst_channels + dst_c0 + c) * plane + p;
    *d = accumulate ? *d + v : v;
}
