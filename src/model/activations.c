/*
 * The model's tensors for one batch shape: each activation and gradient described with the
 * steps of the passes that use it, planned into one arena (or one buffer each beyond the
 * device's largest allocation), and the memory estimates made from the same description.
 */
#include <stdio.h>
#include <string.h>

#include "model/model_impl.h"

void segcl_activations_release(segcl_activations *a)
{
    segcl_tensor **groups[] = {a->enc_conv, a->enc_bn,   a->pool,   a->pool_idx,   a->up,
                               a->cat,      a->dec_conv, a->dec_bn, a->d_enc_conv, a->d_enc_bn,
                               a->d_pool,   a->d_up,     a->d_cat,  a->d_dec_conv, a->d_dec_bn};
    /* tensors of an arena belong to it */
    if (!a->arena) {
        for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
            for (int i = 0; i < SEGCL_MAX_DEPTH; i++)
                segcl_tensor_destroy(groups[g][i]);
        segcl_tensor_destroy(a->bott);
        segcl_tensor_destroy(a->d_bott);
        segcl_tensor_destroy(a->logits);
    }
    segcl_arena_destroy(a->arena);
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (int i = 0; i < SEGCL_MAX_DEPTH; i++)
            groups[g][i] = NULL;
    a->bott = a->d_bott = a->logits = NULL;
    a->arena = NULL;
    a->ready = false;
}

/*
 * The model's tensors for one batch shape, described once: each activation and gradient with
 * its shape and the steps of the forward (and, when training, backward) pass that use it, in
 * the order segcl_model_forward and segcl_model_backward run them. The arena places tensors
 * whose steps never meet in the same bytes; the memory estimate plans the same description.
 */
#define PLAN_MAX (16 * SEGCL_MAX_DEPTH + 4)

typedef struct plan_entry {
    segcl_tensor **dst;
    char name[48];
    int64_t shape[4];
    int first, last;
    bool i32; /* int32 values (pool indices): 4 bytes an element in every precision */
} plan_entry;

typedef struct plan {
    plan_entry e[PLAN_MAX];
    size_t n;
    int step;
} plan;

static void plan_add(plan *pl, segcl_tensor **dst, const char *label, int i, int64_t n, int64_t c,
                     int64_t h, int64_t w)
{
    plan_entry *e = &pl->e[pl->n++];
    e->dst = dst;
    snprintf(e->name, sizeof e->name, label, i);
    e->shape[0] = n, e->shape[1] = c, e->shape[2] = h, e->shape[3] = w;
    e->first = INT32_MAX, e->last = -1;
    e->i32 = false;
}

/* The current step reads or writes *dst. */
static void use(plan *pl, segcl_tensor **dst)
{
    for (size_t i = 0; i < pl->n; i++)
        if (pl->e[i].dst == dst) {
            if (pl->step < pl->e[i].first)
                pl->e[i].first = pl->step;
            if (pl->step > pl->e[i].last)
                pl->e[i].last = pl->step;
            return;
        }
}

/* Each tensor with its shape, the gradients only when training. */
static void describe_tensors(const segcl_model *m, segcl_activations *a, int64_t n, int64_t h,
                             int64_t w, bool training, plan *pl)
{
    const int d = m->cfg.depth;
    const bool unet = m->cfg.arch == SEGCL_ARCH_UNET;
    for (int i = 0; i < d; i++) {
        int64_t hi = h >> i, wi = w >> i, ch = m->enc[i].cout;
        plan_add(pl, &a->enc_conv[i], "enc_conv%d output", i, n, ch, hi, wi);
        plan_add(pl, &a->enc_bn[i], "bn%d output", i, n, ch, hi, wi);
        plan_add(pl, &a->pool[i], "pool%d output", i, n, ch, hi / 2, wi / 2);
        plan_add(pl, &a->pool_idx[i], "pool%d indices", i, n, ch, hi / 2, wi / 2);
        pl->e[pl->n - 1].i32 = true;
        if (training) {
            plan_add(pl, &a->d_enc_conv[i], "grad of enc_conv%d output", i, n, ch, hi, wi);
            plan_add(pl, &a->d_enc_bn[i], "grad of bn%d output", i, n, ch, hi, wi);
            plan_add(pl, &a->d_pool[i], "grad of pool%d output", i, n, ch, hi / 2, wi / 2);
        }
    }
    plan_add(pl, &a->bott, "bottleneck output%.0d", 0, n, m->bottleneck.cout, h >> d, w >> d);
    if (training)
        plan_add(pl, &a->d_bott, "grad of bottleneck output%.0d", 0, n, m->bottleneck.cout, h >> d,
                 w >> d);
    int64_t prev = m->bottleneck.cout;
    for (int j = 0; j < d; j++) {
        /* stage j runs at the resolution of encoder stage d - 1 - j */
        int64_t hj = h >> (d - 1 - j), wj = w >> (d - 1 - j);
        if (!unet) { /* a U-Net upsamples into its concatenation */
            plan_add(pl, &a->up[j], "dec%d upsampled", j, n, prev, hj, wj);
            if (training)
                plan_add(pl, &a->d_up[j], "grad of dec%d upsampled", j, n, prev, hj, wj);
        } else {
            plan_add(pl, &a->cat[j], "dec%d concat", j, n, m->dec[j].cin, hj, wj);
            if (training)
                plan_add(pl, &a->d_cat[j], "grad of dec%d concat", j, n, m->dec[j].cin, hj, wj);
        }
        if (j < d - 1) {
            plan_add(pl, &a->dec_conv[j], "dec_conv%d output", j, n, m->dec[j].cout, hj, wj);
            plan_add(pl, &a->dec_bn[j], "dec_bn%d output", j, n, m->dec[j].cout, hj, wj);
            if (training) {
                plan_add(pl, &a->d_dec_conv[j], "grad of dec_conv%d output", j, n, m->dec[j].cout,
                         hj, wj);
                plan_add(pl, &a->d_dec_bn[j], "grad of dec_bn%d output", j, n, m->dec[j].cout, hj,
                         wj);
            }
        }
        prev = m->dec[j].cout;
    }
    plan_add(pl, &a->logits, "logits%.0d", 0, n, m->cfg.classes, h, w);
}

/* The forward pass, as segcl_model_forward runs it (one step per op; conv -> ReLU -> BN is
 * one). */
static void describe_forward(const segcl_model *m, segcl_activations *a, plan *pl)
{
    const int d = m->cfg.depth;
    const bool unet = m->cfg.arch == SEGCL_ARCH_UNET;
    for (int i = 0; i < d; i++) {
        pl->step++;
        if (i > 0)
            use(pl, &a->pool[i - 1]);
        use(pl, &a->enc_conv[i]), use(pl, &a->enc_bn[i]);
        pl->step++;
        use(pl, &a->enc_bn[i]), use(pl, &a->pool[i]), use(pl, &a->pool_idx[i]);
    }
    pl->step++;
    use(pl, &a->pool[d - 1]), use(pl, &a->bott);
    segcl_tensor **in = &a->bott;
    for (int j = 0; j < d; j++) {
        segcl_tensor **conv_in = unet ? &a->cat[j] : &a->up[j];
        pl->step++;
        use(pl, in), use(pl, conv_in);
        if (unet) { /* the skip placed beside the upsampled channels */
            pl->step++;
            use(pl, &a->enc_bn[d - 1 - j]), use(pl, &a->cat[j]);
        }
        pl->step++;
        use(pl, conv_in);
        if (j < d - 1) {
            use(pl, &a->dec_conv[j]), use(pl, &a->dec_bn[j]);
            in = &a->dec_bn[j];
        } else {
            use(pl, &a->logits);
        }
    }
}

/* The backward pass, as segcl_model_backward runs it. */
static void describe_backward(const segcl_model *m, segcl_activations *a, plan *pl)
{
    const int d = m->cfg.depth;
    const bool unet = m->cfg.arch == SEGCL_ARCH_UNET;
    for (int j = d - 1; j >= 0; j--) {
        segcl_tensor **conv_in = unet ? &a->cat[j] : &a->up[j];
        segcl_tensor **d_conv_in = unet ? &a->d_cat[j] : &a->d_up[j];
        pl->step++;
        use(pl, conv_in), use(pl, d_conv_in);
        if (j < d - 1)
            use(pl, &a->dec_conv[j]), use(pl, &a->d_dec_bn[j]), use(pl, &a->d_dec_conv[j]);
        if (unet) {
            pl->step++;
            use(pl, &a->d_cat[j]), use(pl, &a->d_enc_bn[d - 1 - j]);
        }
        pl->step++;
        use(pl, d_conv_in), use(pl, j == 0 ? &a->d_bott : &a->d_dec_bn[j - 1]);
    }
    pl->step++;
    use(pl, &a->pool[d - 1]), use(pl, &a->d_bott), use(pl, &a->d_pool[d - 1]);
    for (int i = d - 1; i >= 0; i--) {
        pl->step++;
        use(pl, &a->d_pool[i]), use(pl, &a->pool_idx[i]), use(pl, &a->d_enc_bn[i]);
        pl->step++;
        use(pl, &a->enc_conv[i]), use(pl, &a->d_enc_bn[i]), use(pl, &a->d_enc_conv[i]);
        if (i > 0)
            use(pl, &a->pool[i - 1]), use(pl, &a->d_pool[i - 1]);
    }
}

static void describe(const segcl_model *m, segcl_activations *a, int64_t n, int64_t h, int64_t w,
                     bool training, plan *pl)
{
    memset(pl, 0, sizeof *pl);
    describe_tensors(m, a, n, h, w, training, pl);
    describe_forward(m, a, pl);
    if (training)
        describe_backward(m, a, pl);
    /* the logits stay valid until the next forward (losses, metrics, pictures read them) */
    pl->step++;
    use(pl, &a->logits);
}

/* Declares a plan's tensors in a new arena. */
static segcl_status plan_arena(segcl_context *ctx, const plan *pl, segcl_arena **out, size_t *slots)
{
    segcl_arena *arena = NULL;
    segcl_status st = segcl_arena_create(ctx, "activations and gradients", &arena);
    for (size_t i = 0; i < pl->n && !st; i++) {
        const plan_entry *e = &pl->e[i];
        st = e->i32 ? segcl_arena_declare_i32(arena, e->name, 4, e->shape, e->first, e->last,
                                              &slots[i])
                    : segcl_arena_declare(arena, e->name, 4, e->shape, e->first, e->last, &slots[i]);
    }
    if (st) {
        segcl_arena_destroy(arena);
        return st;
    }
    *out = arena;
    return SEGCL_OK;
}

segcl_status segcl_activations_ensure(segcl_model *m, int64_t n, int64_t h, int64_t w,
                                      bool training)
{
    segcl_activations *a = &m->act;
    if (a->ready && a->n == n && a->h == h && a->w == w && (a->training || !training))
        return SEGCL_OK;
    segcl_activations_release(a);
    plan *pl = segcl_malloc(sizeof *pl);
    size_t *slots = segcl_malloc(PLAN_MAX * sizeof *slots);
    segcl_arena *arena = NULL;
    segcl_status st = SEGCL_OK;
    if (!pl || !slots) {
        st = segcl_fail(m->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    describe(m, a, n, h, w, training, pl);
    if ((st = plan_arena(m->ctx, pl, &arena, slots)) || (st = segcl_arena_plan(arena)))
        goto done;
    if (segcl_arena_planned_bytes(arena) > segcl_context_device(m->ctx)->max_alloc_bytes) {
        /* one buffer would exceed the device's largest allocation: one buffer per tensor */
        segcl_arena_destroy(arena);
        arena = NULL;
        for (size_t i = 0; i < pl->n && !st; i++)
            st = pl->e[i].i32
                     ? segcl_tensor_create_i32(m->ctx, pl->e[i].name, 4, pl->e[i].shape,
                                               pl->e[i].dst)
                     : segcl_tensor_create(m->ctx, pl->e[i].name, 4, pl->e[i].shape, pl->e[i].dst);
        if (st)
            segcl_activations_release(a);
        goto done;
    }
    if ((st = segcl_arena_commit(arena)))
        goto done;
    for (size_t i = 0; i < pl->n; i++)
        *pl->e[i].dst = segcl_arena_tensor(arena, slots[i]);
    a->arena = arena;
    arena = NULL;
done:
    segcl_arena_destroy(arena);
    segcl_free(pl);
    segcl_free(slots);
    if (st)
        return st;
    a->n = n;
    a->h = h;
    a->w = w;
    a->training = training;
    a->ready = true;
    return SEGCL_OK;
}

size_t segcl_model_activation_bytes(const segcl_model *m, int64_t n, int64_t h, int64_t w)
{
    segcl_activations scratch;
    memset(&scratch, 0, sizeof scratch);
    plan *pl = segcl_malloc(sizeof *pl);
    size_t *slots = segcl_malloc(PLAN_MAX * sizeof *slots), bytes = SIZE_MAX;
    segcl_arena *arena = NULL;
    if (pl && slots) {
        describe(m, &scratch, n, h, w, true, pl);
        if (!plan_arena(m->ctx, pl, &arena, slots) && !segcl_arena_plan(arena)) {
            bytes = segcl_arena_planned_bytes(arena);
            /* what segcl_activations_ensure falls back to beyond the largest allocation */
            if (bytes > segcl_context_device(m->ctx)->max_alloc_bytes)
                bytes = segcl_arena_naive_bytes(arena);
        }
    }
    segcl_arena_destroy(arena);
    segcl_free(pl);
    segcl_free(slots);
    return bytes;
}

/* The backend's scratch for one convolution layer at n images of h x w (its input's size). */
static size_t layer_workspace(const segcl_model *m, const segcl_conv_layer *l, int64_t n,
                              int64_t h, int64_t w)
{
    const int64_t ho = (h + 2 * l->p.pad - l->p.kernel_h) / l->p.stride + 1;
    const int64_t wo = (w + 2 * l->p.pad - l->p.kernel_w) / l->p.stride + 1;
    segcl_conv_shape s = {.images = (cl_uint)n, .cin = (cl_uint)l->cin, .h = (cl_uint)h,
                          .w = (cl_uint)w, .cout = (cl_uint)l->cout, .ho = (cl_uint)ho,
                          .wo = (cl_uint)wo, .kh = (cl_uint)l->p.kernel_h,
                          .kw = (cl_uint)l->p.kernel_w, .stride = (cl_uint)l->p.stride,
                          .pad = (cl_uint)l->p.pad};
    return segcl_context_backend(m->ctx)->conv_workspace_bytes(m->ctx, &s);
}

size_t segcl_model_workspace_bytes(const segcl_model *m, int64_t n, int64_t h, int64_t w)
{
    if (!segcl_context_backend(m->ctx))
        return 0;
    size_t most = 0;
    const int d = m->cfg.depth;
    for (int i = 0; i <= d; i++) {
        const segcl_conv_layer *l = i < d ? &m->enc[i] : &m->bottleneck;
        size_t bytes = layer_workspace(m, l, n, h >> i, w >> i);
        most = bytes > most ? bytes : most;
    }
    for (int j = 0; j < d; j++) {
        size_t bytes = layer_workspace(m, &m->dec[j], n, h >> (d - 1 - j), w >> (d - 1 - j));
        most = bytes > most ? bytes : most;
    }
    return most;
}
