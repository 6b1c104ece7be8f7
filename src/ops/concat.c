/* Channel concatenation and its backward split (kernels/concat.cl). */
#include "ops/ops.h"

static segcl_status copy_channels(segcl_context *ctx, const segcl_tensor *src, cl_uint src_c0,
                                  const segcl_tensor *dst, cl_uint dst_c0, cl_uint channels,
                                  bool accumulate)
{
    cl_uint n = (cl_uint)src->shape[0], plane = (cl_uint)(src->shape[2] * src->shape[3]);
    cl_uint sc = (cl_uint)src->shape[1], dc = (cl_uint)dst->shape[1], acc = accumulate;
    return segcl_run_elements(ctx, "concat", "copy_channels", plane, (size_t)n * channels,
                              SEGCL_ARGS(SEGCL_ARG(src->buffer), SEGCL_ARG(sc), SEGCL_ARG(src_c0),
                                         SEGCL_ARG(dst->buffer), SEGCL_ARG(dc), SEGCL_ARG(dst_c0),
                                         SEGCL_ARG(channels), SEGCL_ARG(plane), SEGCL_ARG(acc)));
}

static segcl_status check(segcl_context *ctx, const char *op, const segcl_tensor *a,
                          const segcl_tensor *b, const segcl_tensor *out)
{
    if (!a || !b || !out || a->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: tensors must be NCHW", op);
    int64_t bs[4] = {a->shape[0], -1, a->shape[2], a->shape[3]};
    segcl_status st = segcl_expect_shape(ctx, op, "second input", b, 4, bs);
    if (st)
        return st;
    int64_t os[4] = {a->shape[0], a->shape[1] + b->shape[1], a->shape[2], a->shape[3]};
    cl_uint u;
    if ((st = segcl_expect_shape(ctx, op, "output", out, 4, os)) ||
        (st = segcl_u32(ctx, op, out->numel, &u)))
        return st;
    return SEGCL_OK;
}

segcl_status segcl_concat_forward(segcl_context *ctx, const segcl_tensor *a,
                                  const segcl_tensor *b, segcl_tensor *out)
{
    segcl_status st = check(ctx, "concat", a, b, out);
    if (st || (st = copy_channels(ctx, a, 0, out, 0, (cl_uint)a->shape[1], false)))
        return st;
    return copy_channels(ctx, b, 0, out, (cl_uint)a->shape[1], (cl_uint)b->shape[1], false);
}

segcl_status segcl_concat_backward(segcl_context *ctx, const segcl_tensor *dout,
                                   segcl_tensor *da, segcl_tensor *db, bool accumulate_a,
                                   bool accumulate_b)
{
    if (!dout || dout->ndim != 4 || (!da && !db))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "concat backward: bad tensors");
    const char *op = "concat backward";
    int64_t a_ch = da ? da->shape[1] : dout->shape[1] - db->shape[1];
    int64_t want[4] = {dout->shape[0], -1, dout->shape[2], dout->shape[3]};
    segcl_status st;
    if ((da && (st = segcl_expect_shape(ctx, op, "first gradient", da, 4, want))) ||
        (db && (st = segcl_expect_shape(ctx, op, "second gradient", db, 4, want))))
        return st;
    if (a_ch <= 0 || a_ch >= dout->shape[1] ||
        (da && db && da->shape[1] + db->shape[1] != dout->shape[1]))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "concat backward: channel counts do not add up to %lld",
                          (long long)dout->shape[1]);
    if (da && (st = copy_channels(ctx, dout, 0, da, 0, (cl_uint)a_ch, accumulate_a)))
        return st;
    if (db)
        return copy_channels(ctx, dout, (cl_uint)a_ch, db, 0, (cl_uint)(dout->shape[1] - a_ch),
                             accumulate_b);
    return SEGCL_OK;
}

/* src and a channel range [c0, c0 + C) of dst: same images and planes, the range inside dst. */
static segcl_status check_range(segcl_context *ctx, const char *op, const segcl_tensor *src,
                                const segcl_tensor *dst, int c0)
{
    if (!src || !dst || src->ndim != 4 || c0 < 0)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: tensors must be NCHW", op);
    int64_t want[4] = {src->shape[0], -1, src->shape[2], src->shape[3]};
    segcl_status st = segcl_expect_shape(ctx, op, "concatenation", dst, 4, want);
    cl_uint u;
    if (st || (st = segcl_u32(ctx, op, dst->numel, &u)))
        return st;
    if ((int64_t)c0 + src->shape[1] > dst->shape[1])
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: channels %d..%lld do not fit the %lld of '%s'", op, c0,
                          (long long)(c0 + src->shape[1] - 1), (long long)dst->shape[1],
                          dst->name);
    return SEGCL_OK;
}

segcl_status segcl_channels_place(segcl_context *ctx, const segcl_tensor *src, segcl_tensor *dst,
                                  int c0)
{
    segcl_status st = check_range(ctx, "concat", src, dst, c0);
    return st ? st
              : copy_channels(ctx, src, 0, dst, (cl_uint)c0, (cl_uint)src->shape[1], false);
}

segcl_status segcl_channels_take(segcl_context *ctx, const segcl_tensor *ddst, int c0,
                                 segcl_tensor *dsrc, bool accumulate)
{
    segcl_status st = check_range(ctx, "concat backward", dsrc, ddst, c0);
    return st ? st
              : copy_channels(ctx, ddst, (cl_uint)c0, dsrc, 0, (cl_uint)dsrc->shape[1],
                              accumulate);
}
