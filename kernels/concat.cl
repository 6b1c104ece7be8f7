/* Channel concatenation of NCHW tensors and its backward split: a copy of `channels` channels
 * between a tensor and a channel window of a wider one. Dimension 1 runs over (image, channel)
 * planes, dimension 0 over runs of pixels within a plane. */

/* dst[b, dst_c0 + c, p] (+)= src[b, src_c0 + c, p] */
__kernel void copy_channels(__global const store_t *src, const uint src_channels,
                            const uint src_c0, __global store_t *dst, const uint dst_channels,
                            const uint dst_c0, const uint channels, const uint plane,
                            const uint accumulate)
{
    const uint bc = get_global_id(1);
    const uint b = bc / channels, c = bc % channels;
    __global const store_t *s = src + ((size_t)b * src_channels + src_c0 + c) * plane;
    __global store_t *d = dst + ((size_t)b * dst_channels + dst_c0 + c) * plane;
    if (accumulate) {
        FOR_RUN(p, plane)
            ST(d, p, LD(d, p) + LD(s, p));
    } else {
        FOR_RUN(p, plane)
            ST(d, p, LD(s, p));
    }
}
