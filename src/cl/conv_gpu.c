/*
 * The GPU-style convolutions (kernels/conv_gpu.cl): each a batched implicit GEMM, one launch for
 * the whole batch (the weight gradient: one more to add its split-K partial products in order).
 * Here: the tile a device gets, the checks of shapes and sizes, and the launches.
 */
#include <stdio.h>
#include <string.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

/* The most iterations one work-item's loop may run: Mesa's llvmpipe silently ends longer loops
 * (tools/PERF.md). The K loops run K / tk times. */
#define LOOP_LIMIT 65535u

/* The most a split-K weight gradient keeps in partial products, and the most splits. */
#define SLAB_BYTES ((size_t)64 << 20)
#define MAX_SPLITS 64u

/*
 * The default tile, from the device's properties:
 *   CL_DEVICE_MAX_WORK_GROUP_SIZE  the largest of the tiles below whose (tm/wm) x (tn/wn)
 *                                  work-items it allows, 256 at most;
 *   CL_DEVICE_LOCAL_MEM_SIZE       and whose (tm + tn) x tk floats take at most half of it
 *                                  (two work-groups resident per compute unit);
 *   CL_DEVICE_TYPE                 CPU devices that run GPU-style kernels (llvmpipe: work-items
 *                                  are the lanes of a CPU's vector registers, and every local
 *                                  memory access is one per lane) get 8 x 8 register tiles, to
 *                                  load fewer values per multiply-add; GPUs 4 x 4 (registers
 *                                  per work-item are what limits their occupancy).
 *   compute units                  a smaller tile when the larger leaves compute units idle is
 *                                  the caller's choice per shape (segcl tune); not done here.
 */
static const segcl_conv_tile gpu_tiles[] = {
    {64, 64, 4, 4, 16, 4}, {32, 64, 4, 4, 16, 4}, {32, 32, 4, 4, 16, 4},
    {32, 32, 4, 8, 16, 4}, {16, 16, 2, 2, 16, 4}, {8, 8, 2, 2, 8, 4},
    {4, 4, 1, 1, 16, 4},
};
static const segcl_conv_tile cpu_tiles[] = {
    {64, 64, 8, 8, 16, 4}, {32, 32, 8, 4, 16, 4}, {32, 32, 4, 4, 16, 4},
    {16, 16, 2, 2, 16, 4}, {8, 8, 2, 2, 8, 4},     {4, 4, 1, 1, 16, 4},
};

static size_t tile_threads(const segcl_conv_tile *t)
{
    return (size_t)(t->tm / t->wm) * (t->tn / t->wn);
}

static size_t tile_local_bytes(const segcl_conv_tile *t)
{
    return ((size_t)t->tm + t->tn) * t->tk * sizeof(float);
}

/* The first tile of the device type's list within max_threads work-items and half the local
 * memory (the last of the list, the smallest, when none is). */
static segcl_conv_tile pick_tile(const segcl_device_info *info, size_t max_threads)
{
    const bool cpu = info->type == SEGCL_DEVICE_TYPE_CPU;
    const segcl_conv_tile *list = cpu ? cpu_tiles : gpu_tiles;
    const size_t count = cpu ? sizeof cpu_tiles / sizeof cpu_tiles[0]
                             : sizeof gpu_tiles / sizeof gpu_tiles[0];
    if (max_threads > info->max_work_group_size)
        max_threads = info->max_work_group_size;
    size_t i = 0;
    while (i + 1 < count && (tile_threads(&list[i]) > max_threads ||
                             tile_local_bytes(&list[i]) > info->local_mem_bytes / 2))
        i++;
    return list[i];
}

void segcl_conv_gpu_default_tile(const segcl_device_info *info, segcl_conv_tile *tile)
{
    *tile = pick_tile(info, info->max_work_group_size);
}

/* Shape rules of kernels/conv_gpu.cl's loaders; NULL when the tile follows them. */
static const char *tile_rule_broken(const segcl_conv_tile *t)
{
    if (!t->tm || !t->tn || !t->wm || !t->wn || !t->tk || !t->vw)
        return "every field must be positive";
    if (t->tm % t->wm || t->tn % t->wn)
        return "tm must be a multiple of wm and tn of wn";
    if ((t->wm & (t->wm - 1)) || t->wm > 8 || (t->wn & (t->wn - 1)) || t->wn > 16)
        return "wm must be 1, 2, 4 or 8 and wn 1, 2, 4, 8 or 16";
    if (t->vw != 1 && t->vw != 2 && t->vw != 4)
        return "vw must be 1, 2 or 4";
    if (t->tk % t->vw)
        return "tk must be a multiple of vw";
    const size_t threads = tile_threads(t);
    if (threads % t->tk || (threads % t->tn && t->tn % threads))
        return "(tm/wm) x (tn/wn) work-items must be a multiple of tk, and divide tn or be a "
               "multiple of it";
    if (t->wm * t->wn > 256 || t->tm > 1024 || t->tn > 1024 || t->tk > 256)
        return "the tile is too large (wm x wn <= 256, tm and tn <= 1024, tk <= 256)";
    return NULL;
}

segcl_status segcl_conv_gpu_tile_check(segcl_context *ctx, const segcl_conv_tile *t)
{
    const char *broken = tile_rule_broken(t);
    const segcl_device_info *info = &ctx->dev->info;
    if (broken)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "convolution tile tm=%u tn=%u wm=%u wn=%u tk=%u vw=%u: %s", t->tm,
                          t->tn, t->wm, t->wn, t->tk, t->vw, broken);
    if (tile_threads(t) > info->max_work_group_size ||
        tile_local_bytes(t) > info->local_mem_bytes)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "convolution tile tm=%u tn=%u wm=%u wn=%u tk=%u: %zu work-items and "
                          "%zu bytes of local memory; %s allows %zu and %llu",
                          t->tm, t->tn, t->wm, t->wn, t->tk, tile_threads(t),
                          tile_local_bytes(t), info->name, info->max_work_group_size,
                          (unsigned long long)info->local_mem_bytes);
    return SEGCL_OK;
}

static void format_options(const segcl_conv_tile *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "-DTM=%u -DTN=%u -DWM=%u -DWN=%u -DTK=%u -DVW=%u", t->tm, t->tn, t->wm,
             t->wn, t->tk, t->vw);
}

static bool same_tile(const segcl_conv_tile *a, const segcl_conv_tile *b)
{
    return a->tm == b->tm && a->tn == b->tn && a->wm == b->wm && a->wn == b->wn &&
           a->tk == b->tk && a->vw == b->vw;
}

/* The build options of the context's tile, in buf; checks it first. A kernel may allow fewer
 * work-items than the device (CL_KERNEL_WORK_GROUP_SIZE: llvmpipe allows 32 for these): the
 * device's default tile then gives way to the largest that the kernel allows, for the rest of
 * the context's life; a tuned tile is an error. */
static segcl_status tile_options(segcl_context *ctx, char *buf, size_t cap,
                                 const segcl_conv_tile **tile)
{
    segcl_conv_tile *t = &ctx->params.conv_tile;
    segcl_status st;
    for (;;) {
        cl_kernel kernel;
        size_t allowed = 0;
        format_options(t, buf, cap);
        if ((st = segcl_conv_gpu_tile_check(ctx, t)) ||
            (st = segcl_kernel_find(ctx, "conv_gpu", buf, "conv_gpu_forward", &kernel,
                                    &allowed)))
            return st;
        if (tile_threads(t) <= allowed)
            break;
        segcl_conv_tile usual, fallback = pick_tile(&ctx->dev->info, allowed);
        segcl_conv_gpu_default_tile(&ctx->dev->info, &usual);
        if (!same_tile(t, &usual) || tile_threads(&fallback) > allowed)
            return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                              "convolution tile tm=%u tn=%u wm=%u wn=%u: %zu work-items; the "
                              "kernel allows %zu on %s (CL_KERNEL_WORK_GROUP_SIZE)",
                              t->tm, t->tn, t->wm, t->wn, tile_threads(t), allowed,
                              ctx->dev->info.name);
        *t = fallback;
    }
    *tile = t;
    return SEGCL_OK;
}

/* Elements of a tensor: 0 when it would not fit the kernels' 31-bit indices. */
static size_t elements(size_t a, size_t b, size_t c, size_t d)
{
    const size_t limit = (size_t)INT32_MAX;
    size_t n = a;
    const size_t f[3] = {b, c, d};
    for (int i = 0; i < 3; i++) {
        if (f[i] && n > limit / f[i])
            return 0;
        n *= f[i];
    }
    return n;
}

static segcl_status check_buffer(segcl_context *ctx, const char *op, cl_mem buf,
                                 const char *which, size_t elems)
{
    size_t bytes = 0;
    if (!buf)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: no buffer for %s", op, which);
    cl_int err = clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clGetMemObjectInfo", "%s: %s", op, which);
    /* tensor data: float, or half in a half context (kernels/common.cl's store_t) */
    if (elems > bytes / segcl_storage_bytes(ctx))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: buffer of %s too small: %zu values needed, %zu bytes held", op,
                          which, elems, bytes);
    return SEGCL_OK;
}

/* Tensor sizes of a shape, all within 31-bit indices. */
typedef struct conv_sizes {
    size_t image, column, weights, k;
} conv_sizes;

static segcl_status check_shape(segcl_context *ctx, const char *op, const segcl_conv_shape *s,
                                conv_sizes *z)
{
    segcl_status st = segcl_require_open(ctx);
    if (st)
        return st;
    if (!s || !s->images || !s->cin || !s->h || !s->w || !s->cout || !s->kh || !s->kw ||
        !s->stride || s->h + 2 * (size_t)s->pad < s->kh || s->w + 2 * (size_t)s->pad < s->kw ||
        s->ho != (s->h + 2 * (size_t)s->pad - s->kh) / s->stride + 1 ||
        s->wo != (s->w + 2 * (size_t)s->pad - s->kw) / s->stride + 1 || s->pad > 65535 ||
        s->stride > 65535)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: invalid convolution shape (images, cin, h, w, cout, ho, wo, kh, "
                          "kw, stride, pad = %u, %u, %u, %u, %u, %u, %u, %u, %u, %u, %u)",
                          op, s ? s->images : 0, s ? s->cin : 0, s ? s->h : 0, s ? s->w : 0,
                          s ? s->cout : 0, s ? s->ho : 0, s ? s->wo : 0, s ? s->kh : 0,
                          s ? s->kw : 0, s ? s->stride : 0, s ? s->pad : 0);
    z->image = elements(s->images, s->cin, s->h, s->w);
    z->column = elements(s->images, s->cout, s->ho, s->wo);
    z->weights = elements(s->cout, s->cin, s->kh, s->kw);
    z->k = elements(s->cin, s->kh, s->kw, 1);
    if (!z->image || !z->column || !z->weights || !z->k ||
        (size_t)s->h + s->kh + s->stride + 2 * (size_t)s->pad > INT32_MAX / 2 ||
        (size_t)s->w + s->kw + s->stride + 2 * (size_t)s->pad > INT32_MAX / 2)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: tensors too large for 32-bit indices (%u x %u x %u x %u images, "
                          "%u x %u x %u x %u columns; at most %d values each)",
                          op, s->images, s->cin, s->h, s->w, s->images, s->cout, s->ho, s->wo,
                          INT32_MAX);
    return SEGCL_OK;
}

/* K / tk, the iterations of a work-item's K loop, within the driver loop limit. */
static segcl_status check_loop(segcl_context *ctx, const char *op, size_t k, unsigned tk)
{
    if ((k + tk - 1) / tk > LOOP_LIMIT)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: K = %zu takes %zu steps of %u, more than the %u one loop may run "
                          "on some drivers (llvmpipe)",
                          op, k, (k + tk - 1) / tk, tk, LOOP_LIMIT);
    return SEGCL_OK;
}

static size_t groups_of(size_t n, unsigned tile)
{
    return (n + tile - 1) / tile;
}

/* The three tensors of a product, each by its role in the shape (for its size check). */
typedef enum conv_role { ROLE_IMAGE, ROLE_COLUMN, ROLE_WEIGHTS } conv_role;
typedef struct conv_operand {
    cl_mem buf;
    const char *name;
    conv_role role;
} conv_operand;

/* What a launch needs: the shape's sizes, the context's tile and its build options. */
typedef struct conv_call {
    conv_sizes z;
    const segcl_conv_tile *t;
    char options[128];
} conv_call;

/* The checks every entry point makes first: the shape, the tile, and each operand's buffer. */
static segcl_status begin_call(segcl_context *ctx, const char *op, const segcl_conv_shape *s,
                               const conv_operand operands[3], conv_call *c)
{
    segcl_status st;
    if ((st = check_shape(ctx, op, s, &c->z)) ||
        (st = tile_options(ctx, c->options, sizeof c->options, &c->t)))
        return st;
    for (int i = 0; i < 3 && !st; i++) {
        const conv_operand *o = &operands[i];
        const size_t elems = o->role == ROLE_IMAGE    ? c->z.image
                             : o->role == ROLE_COLUMN ? c->z.column
                                                      : c->z.weights;
        st = check_buffer(ctx, op, o->buf, o->name, elems);
    }
    return st;
}

segcl_status segcl_conv_gpu_forward(segcl_context *ctx, segcl_workspace *ws,
                                    const segcl_conv_shape *s, cl_mem w, cl_mem x, cl_mem y,
                                    const segcl_conv_epilogue *ep)
{
    static const char op[] = "segcl_conv_gpu_forward";
    (void)ws;
    const conv_operand operands[3] = {
        {w, "weights", ROLE_WEIGHTS}, {x, "input", ROLE_IMAGE}, {y, "output", ROLE_COLUMN}};
    conv_call c;
    segcl_status st;
    if ((st = begin_call(ctx, op, s, operands, &c)) ||
        (st = check_loop(ctx, op, c.z.k, c.t->tk)))
        return st;
    const segcl_conv_tile *t = c.t;
    const segcl_conv_epilogue none = {0};
    if (!ep)
        ep = &none;
    if ((ep->scale == NULL) != (ep->shift == NULL) ||
        (ep->bias && (st = check_buffer(ctx, op, ep->bias, "bias", s->cout))) ||
        (ep->scale && ((st = check_buffer(ctx, op, ep->scale, "scale", s->cout)) ||
                       (st = check_buffer(ctx, op, ep->shift, "shift", s->cout)))))
        return st ? st
                  : segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                               "%s: scale and shift go together", op);
    /* kernels/conv_gpu.cl's EP_BIAS, EP_RELU, EP_AFFINE */
    const cl_uint flags = (ep->bias ? 1u : 0u) | (ep->relu ? 2u : 0u) | (ep->scale ? 4u : 0u);
    const size_t n = (size_t)s->images * s->ho * s->wo;
    const size_t global[2] = {groups_of(n, t->tn) * (t->tn / t->wn),
                              groups_of(s->cout, t->tm) * (t->tm / t->wm)};
    const size_t local[2] = {t->tn / t->wn, t->tm / t->wm};
    return segcl_run(ctx, "conv_gpu", c.options, "conv_gpu_forward", 2, global, local,
                     SEGCL_ARGS(SEGCL_ARG(w), SEGCL_ARG(x), SEGCL_ARG(y), SEGCL_ARG(s->images),
                                SEGCL_ARG(s->cin), SEGCL_ARG(s->h), SEGCL_ARG(s->w),
                                SEGCL_ARG(s->cout), SEGCL_ARG(s->ho), SEGCL_ARG(s->wo),
                                SEGCL_ARG(s->kh), SEGCL_ARG(s->kw), SEGCL_ARG(s->stride),
                                SEGCL_ARG(s->pad), SEGCL_ARG(ep->beta), SEGCL_ARG(ep->bias),
                                SEGCL_ARG(ep->scale), SEGCL_ARG(ep->shift), SEGCL_ARG(flags)));
}

segcl_status segcl_conv_gpu_data_grad(segcl_context *ctx, segcl_workspace *ws,
                                      const segcl_conv_shape *s, cl_mem w, cl_mem a, cl_mem img,
                                      const segcl_conv_epilogue *ep)
{
    static const char op[] = "segcl_conv_gpu_data_grad";
    (void)ws;
    const conv_operand operands[3] = {{w, "weights", ROLE_WEIGHTS},
                                      {a, "output gradient", ROLE_COLUMN},
                                      {img, "input gradient", ROLE_IMAGE}};
    conv_call c;
    segcl_status st;
    const segcl_conv_epilogue none = {0};
    if (!ep)
        ep = &none;
    if ((st = begin_call(ctx, op, s, operands, &c)) ||
        (st = check_loop(ctx, op, (size_t)s->cout * s->kh * s->kw, c.t->tk)) ||
        (st = segcl_conv_data_grad_epilogue_check(ctx, op, ep)) ||
        (ep->bias && (st = check_buffer(ctx, op, ep->bias, "bias", s->cin))))
        return st;
    const segcl_conv_tile *t = c.t;
    /* phase (0, 0) has the most output pixels: ceil(h / stride) x ceil(w / stride) */
    const size_t n = (size_t)s->images * ((s->h + s->stride - 1) / s->stride) *
                     ((s->w + s->stride - 1) / s->stride);
    const size_t global[3] = {groups_of(n, t->tn) * (t->tn / t->wn),
                              groups_of(s->cin, t->tm) * (t->tm / t->wm),
                              (size_t)s->stride * s->stride};
    const size_t local[3] = {t->tn / t->wn, t->tm / t->wm, 1};
    return segcl_run(ctx, "conv_gpu", c.options, "conv_gpu_data_grad", 3, global, local,
                     SEGCL_ARGS(SEGCL_ARG(w), SEGCL_ARG(a), SEGCL_ARG(img), SEGCL_ARG(s->images),
                                SEGCL_ARG(s->cin), SEGCL_ARG(s->h), SEGCL_ARG(s->w),
                                SEGCL_ARG(s->cout), SEGCL_ARG(s->ho), SEGCL_ARG(s->wo),
                                SEGCL_ARG(s->kh), SEGCL_ARG(s->kw), SEGCL_ARG(s->stride),
                                SEGCL_ARG(s->pad), SEGCL_ARG(ep->beta), SEGCL_ARG(ep->bias)));
}

/* The weight gradient's K splits: enough work-groups for every compute unit four times over,
 * whole tk steps per split, each split's loop within the driver limit, the partial products
 * within SLAB_BYTES (unless the loop limit needs more). */
static cl_uint wgrad_splits(const segcl_context *ctx, const segcl_conv_tile *t,
                            const segcl_conv_shape *s, size_t k_out, cl_uint *chunk)
{
    const size_t q = (size_t)s->images * s->ho * s->wo, steps = (q + t->tk - 1) / t->tk;
    const size_t tiles = groups_of(s->cout, t->tm) * groups_of(k_out, t->tn);
    const size_t want = 4 * (size_t)(ctx->dev->info.compute_units ? ctx->dev->info.compute_units
                                                                  : 1);
    const size_t slab = (size_t)s->cout * k_out * sizeof(float);
    size_t splits = tiles >= want ? 1 : (want + tiles - 1) / tiles;
    if (splits > MAX_SPLITS)
        splits = MAX_SPLITS;
    while (splits > 1 && splits * slab > SLAB_BYTES)
        splits--;
    if (splits > steps / 4) /* at least 4 steps per split */
        splits = steps / 4 > 1 ? steps / 4 : 1;
    const size_t least = (steps + LOOP_LIMIT - 1) / LOOP_LIMIT;
    if (splits < least)
        splits = least;
    const size_t per = (steps + splits - 1) / splits;
    *chunk = (cl_uint)(per * t->tk);
    return (cl_uint)((q + *chunk - 1) / *chunk);
}

size_t segcl_conv_gpu_workspace_bytes(segcl_context *ctx, const segcl_conv_shape *s)
{
    if (!ctx || !ctx->open || !s)
        return 0;
    const segcl_conv_tile *t = &ctx->params.conv_tile;
    if (tile_rule_broken(t) || !s->cout || !s->cin || !s->kh || !s->kw)
        return 0;
    const size_t k_out = (size_t)s->cin * s->kh * s->kw;
    cl_uint chunk;
    const cl_uint splits = wgrad_splits(ctx, t, s, k_out, &chunk);
    return (size_t)splits * s->cout * k_out * sizeof(float);
}

segcl_status segcl_conv_gpu_weight_grad(segcl_context *ctx, segcl_workspace *ws,
                                        const segcl_conv_shape *s, cl_mem a, cl_mem x,
                                        cl_mem dw, float beta)
{
    static const char op[] = "segcl_conv_gpu_weight_grad";
    const conv_operand operands[3] = {{a, "output gradient", ROLE_COLUMN},
                                      {x, "input", ROLE_IMAGE},
                                      {dw, "weight gradient", ROLE_WEIGHTS}};
    conv_call c;
    segcl_status st;
    if ((st = begin_call(ctx, op, s, operands, &c)))
        return st;
    const segcl_conv_tile *t = c.t;
    const conv_sizes z = c.z;
    cl_uint chunk, splits = wgrad_splits(ctx, t, s, z.k, &chunk);
    cl_mem slabs;
    if ((size_t)splits * z.weights > INT32_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "%s: %u partial products of %zu values exceed 32-bit indices", op,
                          splits, z.weights);
    if ((st = segcl_workspace_reserve(ws, SEGCL_SCRATCH_SLABS,
                                      "convolution weight-gradient partial products",
                                      (size_t)splits * z.weights * sizeof(float), &slabs)))
        return st;
    const size_t global[3] = {groups_of(z.k, t->tn) * (t->tn / t->wn),
                              groups_of(s->cout, t->tm) * (t->tm / t->wm), splits};
    const size_t local[3] = {t->tn / t->wn, t->tm / t->wm, 1};
    if ((st = segcl_run(ctx, "conv_gpu", c.options, "conv_gpu_weight_grad", 3, global, local,
                        SEGCL_ARGS(SEGCL_ARG(a), SEGCL_ARG(x), SEGCL_ARG(slabs),
                                   SEGCL_ARG(s->images), SEGCL_ARG(s->cin), SEGCL_ARG(s->h),
                                   SEGCL_ARG(s->w), SEGCL_ARG(s->cout), SEGCL_ARG(s->ho),
                                   SEGCL_ARG(s->wo), SEGCL_ARG(s->kh), SEGCL_ARG(s->kw),
                                   SEGCL_ARG(s->stride), SEGCL_ARG(s->pad), SEGCL_ARG(chunk)))))
        return st;
    const cl_uint count = (cl_uint)z.weights;
    const size_t sum_global[1] = {count};
    return segcl_run(ctx, "conv_gpu", c.options, "conv_gpu_sum_slabs", 1, sum_global, NULL,
                     SEGCL_ARGS(SEGCL_ARG(slabs), SEGCL_ARG(splits), SEGCL_ARG(count),
                                SEGCL_ARG(dw), SEGCL_ARG(beta)));
}
