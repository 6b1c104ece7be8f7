/*
 * The lesson's encoder-decoder networks. Encoder stage i: conv 3x3 -> ReLU -> BN (the skip) ->
 * max-pool 2x2; bottleneck conv 3x3 doubling the channels, no BN or activation. Decoder stage
 * j: bilinear x2 (align_corners) -> [U-Net: concat with the skip of that resolution] -> conv 3x3
 * -> ReLU -> BN; then x2 -> [U-Net: concat with the first skip] -> conv 1x1 to the classes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"

typedef struct activations {
    int64_t n, h, w;
    bool ready, training;  /* training: gradients too */
    segcl_arena *arena;    /* owns the tensors below, unless NULL (one buffer each) */
    /* encoder, per stage */
    segcl_tensor *enc_conv[SEGCL_MAX_DEPTH], *enc_bn[SEGCL_MAX_DEPTH];
    segcl_tensor *pool[SEGCL_MAX_DEPTH], *pool_idx[SEGCL_MAX_DEPTH];
    segcl_tensor *bott;
    /* decoder, per stage, the last index is the final (1x1) stage */
    segcl_tensor *up[SEGCL_MAX_DEPTH], *cat[SEGCL_MAX_DEPTH];
    segcl_tensor *dec_conv[SEGCL_MAX_DEPTH], *dec_bn[SEGCL_MAX_DEPTH];
    segcl_tensor *logits;
    /* gradients of the same shapes (d_ prefix) */
    segcl_tensor *d_enc_conv[SEGCL_MAX_DEPTH], *d_enc_bn[SEGCL_MAX_DEPTH];
    segcl_tensor *d_pool[SEGCL_MAX_DEPTH], *d_bott;
    segcl_tensor *d_up[SEGCL_MAX_DEPTH], *d_cat[SEGCL_MAX_DEPTH];
    segcl_tensor *d_dec_conv[SEGCL_MAX_DEPTH], *d_dec_bn[SEGCL_MAX_DEPTH];
} activations;

struct segcl_model {
    segcl_context *ctx;
    segcl_model_config cfg;
    segcl_param params[4 * (2 * SEGCL_MAX_DEPTH + 1)];
    size_t nparams;
    segcl_conv_layer enc[SEGCL_MAX_DEPTH], bottleneck, dec[SEGCL_MAX_DEPTH];
    segcl_bn_layer bn[2 * SEGCL_MAX_DEPTH];
    size_t nbn;
    segcl_bn_layer *enc_bn[SEGCL_MAX_DEPTH], *dec_bn[SEGCL_MAX_DEPTH];
    const segcl_tensor *last_input;
    bool last_training;
    const segcl_collective *sync_bn; /* synchronised BatchNorm's collective, or NULL */
    segcl_workspace *ws;             /* the ops' scratch */
    activations act;
};

static segcl_status new_tensor(segcl_model *m, const char *name, int ndim, int64_t a, int64_t b,
                               int64_t c, int64_t d, segcl_tensor **out)
{
    int64_t shape[4] = {a, b, c, d};
    return segcl_tensor_create(m->ctx, name, ndim, shape, out);
}

static segcl_status add_param(segcl_model *m, const char *name, int kind, int fan_in,
                              int ndim, int64_t a, int64_t b, int64_t c, int64_t d,
                              segcl_param **out)
{
    segcl_param *p = &m->params[m->nparams++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = kind;
    p->fan_in = fan_in;
    char gname[80];
    snprintf(gname, sizeof gname, "grad of %s", name);
    segcl_status st = new_tensor(m, p->name, ndim, a, b, c, d, &p->value);
    if (st || (st = new_tensor(m, gname, ndim, a, b, c, d, &p->grad)))
        return st;
    *out = p;
    return SEGCL_OK;
}

static segcl_status add_conv(segcl_model *m, segcl_conv_layer *l, const char *prefix, int cin,
                             int cout, int k)
{
    char name[64];
    l->cin = cin;
    l->cout = cout;
    l->p = (segcl_conv_params){k, k, 1, k / 2};
    int fan_in = cin * k * k;
    snprintf(name, sizeof name, "%s.weight", prefix);
    segcl_status st = add_param(m, name, 0, fan_in, 4, cout, cin, k, k, &l->weight);
    if (st)
        return st;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return add_param(m, name, 1, fan_in, 1, cout, 0, 0, 0, &l->bias);
}

static segcl_status add_bn(segcl_model *m, segcl_bn_layer **out, const char *prefix, int c)
{
    segcl_bn_layer *l = &m->bn[m->nbn++];
    snprintf(l->prefix, sizeof l->prefix, "%s", prefix);
    char name[64];
    segcl_status st;
    snprintf(name, sizeof name, "%s.weight", prefix);
    if ((st = add_param(m, name, 2, c, 1, c, 0, 0, 0, &l->gamma)))
        return st;
    snprintf(name, sizeof name, "%s.bias", prefix);
    if ((st = add_param(m, name, 3, c, 1, c, 0, 0, 0, &l->beta)))
        return st;
    segcl_batchnorm *op = &l->op;
    op->gamma = l->gamma->value;
    op->beta = l->beta->value;
    op->eps = 1e-5f;
    op->momentum = 0.1f;
    segcl_tensor **bufs[] = {&op->running_mean, &op->running_var, &op->save_mean,
                             &op->save_invstd, &op->scale, &op->shift};
    const char *suffix[] = {"running_mean", "running_var", "save_mean", "save_invstd", "scale",
                            "shift"};
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, suffix[i]);
        if ((st = new_tensor(m, name, 1, c, 0, 0, 0, bufs[i])))
            return st;
    }
    *out = l;
    return SEGCL_OK;
}

segcl_status segcl_model_create(segcl_context *ctx, const segcl_model_config *cfg,
                                segcl_model **out)
{
    if (!ctx || !cfg || !out)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_model_create: NULL argument");
    *out = NULL;
    if (cfg->depth < 1 || cfg->depth > SEGCL_MAX_DEPTH || cfg->width < 1 ||
        cfg->width > SEGCL_MAX_WIDTH || cfg->classes < 1 || cfg->classes > SEGCL_MAX_CLASSES ||
        cfg->in_channels < 1 || (cfg->arch != SEGCL_ARCH_UNET && cfg->arch != SEGCL_ARCH_SEGNET))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "model: depth must be 1..%d, width 1..%d, classes 1..%d",
                          SEGCL_MAX_DEPTH, SEGCL_MAX_WIDTH, SEGCL_MAX_CLASSES);
    if (cfg->arch == SEGCL_ARCH_SEGNET && cfg->depth < 2)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "model: SegNet needs depth >= 2");
    segcl_model *m = segcl_calloc(1, sizeof *m);
    if (!m)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->cfg = *cfg;
    const int d = cfg->depth;
    int c[SEGCL_MAX_DEPTH + 1];
    c[0] = cfg->in_channels;
    for (int i = 0; i < d; i++)
        c[i + 1] = cfg->width << i;
    segcl_status st = segcl_workspace_create(ctx, &m->ws);
    char name[32];
    /* registration order = PyTorch's state_dict order */
    for (int i = 0; i < d && !st; i++) {
        snprintf(name, sizeof name, "enc_conv%d", i);
        st = add_conv(m, &m->enc[i], name, c[i], c[i + 1], 3);
        snprintf(name, sizeof name, "bn%d", i);
        if (!st)
            st = add_bn(m, &m->enc_bn[i], name, c[i + 1]);
    }
    if (!st)
        st = add_conv(m, &m->bottleneck, "bottleneck_conv", c[d], 2 * c[d], 3);
    int prev = 2 * c[d];
    for (int j = 0; j < d - 1 && !st; j++) {
        int cout = c[d - j];
        int cin = cfg->arch == SEGCL_ARCH_UNET ? prev + c[d - j] : prev;
        snprintf(name, sizeof name, "dec_conv%d", j);
        st = add_conv(m, &m->dec[j], name, cin, cout, 3);
        snprintf(name, sizeof name, "dec_bn%d", j);
        if (!st)
            st = add_bn(m, &m->dec_bn[j], name, cout);
        prev = cout;
    }
    if (!st) {
        int cin = cfg->arch == SEGCL_ARCH_UNET ? prev + c[1] : prev;
        snprintf(name, sizeof name, "dec_conv%d", d - 1);
        st = add_conv(m, &m->dec[d - 1], name, cin, cfg->classes, 1);
    }
    if (st) {
        segcl_model_destroy(m);
        return st;
    }
    *out = m;
    return SEGCL_OK;
}

static void free_activations(activations *a)
{
    segcl_tensor **groups[] = {a->enc_conv, a->enc_bn, a->pool, a->pool_idx, a->up, a->cat,
                               a->dec_conv, a->dec_bn, a->d_enc_conv, a->d_enc_bn, a->d_pool,
                               a->d_up, a->d_cat, a->d_dec_conv, a->d_dec_bn};
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

segcl_workspace *segcl_model_workspace(segcl_model *m)
{
    return m->ws;
}

void segcl_model_set_sync_bn(segcl_model *m, const segcl_collective *sync)
{
    m->sync_bn = sync;
}

void segcl_model_destroy(segcl_model *m)
{
    if (!m)
        return;
    free_activations(&m->act);
    for (size_t i = 0; i < m->nparams; i++) {
        segcl_param *p = &m->params[i];
        segcl_tensor_destroy(p->value);
        segcl_tensor_destroy(p->grad);
        segcl_tensor_destroy(p->m);
        segcl_tensor_destroy(p->v);
    }
    for (size_t i = 0; i < m->nbn; i++) {
        segcl_batchnorm *op = &m->bn[i].op;
        segcl_tensor *bufs[] = {op->running_mean, op->running_var, op->save_mean,
                                op->save_invstd, op->scale, op->shift};
        for (int k = 0; k < 6; k++)
            segcl_tensor_destroy(bufs[k]);
    }
    segcl_workspace_destroy(m->ws);
    segcl_free(m);
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
} plan_entry;

typedef struct plan {
    plan_entry e[PLAN_MAX];
    size_t n;
    int step;
} plan;

static void plan_add(plan *pl, segcl_tensor **dst, const char *label, int i, int64_t n,
                     int64_t c, int64_t h, int64_t w)
{
    plan_entry *e = &pl->e[pl->n++];
    e->dst = dst;
    snprintf(e->name, sizeof e->name, label, i);
    e->shape[0] = n, e->shape[1] = c, e->shape[2] = h, e->shape[3] = w;
    e->first = INT32_MAX, e->last = -1;
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

static void describe(const segcl_model *m, activations *a, int64_t n, int64_t h, int64_t w,
                     bool training, plan *pl)
{
    const int d = m->cfg.depth;
    const bool unet = m->cfg.arch == SEGCL_ARCH_UNET;
    memset(pl, 0, sizeof *pl);
    for (int i = 0; i < d; i++) {
        int64_t hi = h >> i, wi = w >> i, ch = m->enc[i].cout;
        plan_add(pl, &a->enc_conv[i], "enc_conv%d output", i, n, ch, hi, wi);
        plan_add(pl, &a->enc_bn[i], "bn%d output", i, n, ch, hi, wi);
        plan_add(pl, &a->pool[i], "pool%d output", i, n, ch, hi / 2, wi / 2);
        plan_add(pl, &a->pool_idx[i], "pool%d indices", i, n, ch, hi / 2, wi / 2);
        if (training) {
            plan_add(pl, &a->d_enc_conv[i], "grad of enc_conv%d output", i, n, ch, hi, wi);
            plan_add(pl, &a->d_enc_bn[i], "grad of bn%d output", i, n, ch, hi, wi);
            plan_add(pl, &a->d_pool[i], "grad of pool%d output", i, n, ch, hi / 2, wi / 2);
        }
    }
    plan_add(pl, &a->bott, "bottleneck output%.0d", 0, n, m->bottleneck.cout, h >> d, w >> d);
    if (training)
        plan_add(pl, &a->d_bott, "grad of bottleneck output%.0d", 0, n, m->bottleneck.cout,
                 h >> d, w >> d);
    int64_t prev = m->bottleneck.cout;
    for (int j = 0; j < d; j++) {
        /* stage j runs at the resolution of encoder stage d - 1 - j */
        int64_t hj = h >> (d - 1 - j), wj = w >> (d - 1 - j);
        plan_add(pl, &a->up[j], "dec%d upsampled", j, n, prev, hj, wj);
        if (training)
            plan_add(pl, &a->d_up[j], "grad of dec%d upsampled", j, n, prev, hj, wj);
        if (unet) {
            plan_add(pl, &a->cat[j], "dec%d concat", j, n, m->dec[j].cin, hj, wj);
            if (training)
                plan_add(pl, &a->d_cat[j], "grad of dec%d concat", j, n, m->dec[j].cin, hj, wj);
        }
        if (j < d - 1) {
            plan_add(pl, &a->dec_conv[j], "dec_conv%d output", j, n, m->dec[j].cout, hj, wj);
            plan_add(pl, &a->dec_bn[j], "dec_bn%d output", j, n, m->dec[j].cout, hj, wj);
            if (training) {
                plan_add(pl, &a->d_dec_conv[j], "grad of dec_conv%d output", j, n,
                         m->dec[j].cout, hj, wj);
                plan_add(pl, &a->d_dec_bn[j], "grad of dec_bn%d output", j, n, m->dec[j].cout,
                         hj, wj);
            }
        }
        prev = m->dec[j].cout;
    }
    plan_add(pl, &a->logits, "logits%.0d", 0, n, m->cfg.classes, h, w);

    /* forward, as segcl_model_forward runs it (one step per op; conv -> ReLU -> BN is one) */
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
        pl->step++;
        use(pl, in), use(pl, &a->up[j]);
        segcl_tensor **conv_in = &a->up[j];
        if (unet) {
            pl->step++;
            use(pl, &a->up[j]), use(pl, &a->enc_bn[d - 1 - j]), use(pl, &a->cat[j]);
            conv_in = &a->cat[j];
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
    if (training) {
        /* backward, as segcl_model_backward runs it */
        for (int j = d - 1; j >= 0; j--) {
            segcl_tensor **conv_in = unet ? &a->cat[j] : &a->up[j];
            segcl_tensor **d_conv_in = unet ? &a->d_cat[j] : &a->d_up[j];
            pl->step++;
            use(pl, conv_in), use(pl, d_conv_in);
            if (j < d - 1)
                use(pl, &a->dec_conv[j]), use(pl, &a->d_dec_bn[j]), use(pl, &a->d_dec_conv[j]);
            if (unet) {
                pl->step++;
                use(pl, &a->d_cat[j]), use(pl, &a->d_up[j]), use(pl, &a->d_enc_bn[d - 1 - j]);
            }
            pl->step++;
            use(pl, &a->d_up[j]), use(pl, j == 0 ? &a->d_bott : &a->d_dec_bn[j - 1]);
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
    /* the logits stay valid until the next forward (losses, metrics, pictures read them) */
    pl->step++;
    use(pl, &a->logits);
}

/* Declares a plan's tensors in a new arena. */
static segcl_status plan_arena(segcl_context *ctx, const plan *pl, segcl_arena **out,
                               size_t *slots)
{
    segcl_arena *arena = NULL;
    segcl_status st = segcl_arena_create(ctx, "activations and gradients", &arena);
    for (size_t i = 0; i < pl->n && !st; i++) {
        const plan_entry *e = &pl->e[i];
        st = segcl_arena_declare(arena, e->name, 4, e->shape, e->first, e->last, &slots[i]);
    }
    if (st) {
        segcl_arena_destroy(arena);
        return st;
    }
    *out = arena;
    return SEGCL_OK;
}

/* Activations for batch shape (n, h, w), with gradients when training; a training plan also
 * serves inference (validation between epochs), so it is not replaced by a smaller one. */
static segcl_status ensure_activations(segcl_model *m, int64_t n, int64_t h, int64_t w,
                                       bool training)
{
    activations *a = &m->act;
    if (a->ready && a->n == n && a->h == h && a->w == w && (a->training || !training))
        return SEGCL_OK;
    free_activations(a);
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
            st = segcl_tensor_create(m->ctx, pl->e[i].name, 4, pl->e[i].shape, pl->e[i].dst);
        if (st)
            free_activations(a);
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
    activations scratch;
    memset(&scratch, 0, sizeof scratch);
    plan *pl = segcl_malloc(sizeof *pl);
    size_t *slots = segcl_malloc(PLAN_MAX * sizeof *slots), bytes = SIZE_MAX;
    segcl_arena *arena = NULL;
    if (pl && slots) {
        describe(m, &scratch, n, h, w, true, pl);
        if (!plan_arena(m->ctx, pl, &arena, slots) && !segcl_arena_plan(arena)) {
            bytes = segcl_arena_planned_bytes(arena);
            /* what ensure_activations falls back to beyond the largest allocation */
            if (bytes > segcl_context_device(m->ctx)->max_alloc_bytes)
                bytes = segcl_arena_naive_bytes(arena);
        }
    }
    segcl_arena_destroy(arena);
    segcl_free(pl);
    segcl_free(slots);
    return bytes;
}

size_t segcl_model_workspace_bytes(const segcl_model *m, int64_t h, int64_t w)
{
    if (segcl_gemm_get_backend(m->ctx) == SEGCL_GEMM_CPU)
        return (size_t)32 << 20; /* packed operands, split-K slabs, resize rows: bounded */
    /* im2col columns of one image for the largest convolution, grown by half, and as much
     * again for CLBlast's temporary buffer */
    size_t most = 0;
    const int d = m->cfg.depth;
    for (int i = 0; i <= d; i++) {
        const segcl_conv_layer *l = i < d ? &m->enc[i] : &m->bottleneck;
        size_t cols = (size_t)l->cin * l->p.kernel_h * l->p.kernel_w * (size_t)(h >> i) *
                      (size_t)(w >> i);
        most = cols > most ? cols : most;
    }
    for (int j = 0; j < d; j++) {
        const segcl_conv_layer *l = &m->dec[j];
        size_t cols = (size_t)l->cin * l->p.kernel_h * l->p.kernel_w *
                      (size_t)(h >> (d - 1 - j)) * (size_t)(w >> (d - 1 - j));
        most = cols > most ? cols : most;
    }
    return most * sizeof(float) * 3;
}

segcl_status segcl_model_init(segcl_model *m, uint64_t seed)
{
    segcl_rng rng;
    segcl_rng_seed(&rng, seed, 0);
    segcl_status st = SEGCL_OK;
    for (size_t i = 0; i < m->nparams && !st; i++) {
        segcl_param *p = &m->params[i];
        float *host = segcl_malloc(p->value->numel * sizeof *host);
        if (!host)
            return segcl_fail(m->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        /* kaiming_uniform_(a=sqrt(5)) and the default bias both have bound 1/sqrt(fan_in) */
        double bound = 1.0 / sqrt((double)p->fan_in);
        for (size_t k = 0; k < p->value->numel; k++) {
            if (p->kind <= 1)
                host[k] = (float)(bound * (2.0 * (double)segcl_rng_uniform(&rng) - 1.0));
            else
                host[k] = p->kind == 2 ? 1.0f : 0.0f;
        }
        st = segcl_tensor_write(p->value, host, p->value->numel);
        segcl_free(host);
    }
    for (size_t i = 0; i < m->nbn && !st; i++) {
        segcl_batchnorm *op = &m->bn[i].op;
        m->bn[i].num_batches_tracked = 0;
        if ((st = segcl_fill(m->ctx, op->running_mean->buffer, op->running_mean->numel, 0.0f)))
            break;
        st = segcl_fill(m->ctx, op->running_var->buffer, op->running_var->numel, 1.0f);
    }
    return st;
}

size_t segcl_model_param_count(const segcl_model *m)
{
    return m->nparams;
}

segcl_param *segcl_model_param(segcl_model *m, size_t i)
{
    return i < m->nparams ? &m->params[i] : NULL;
}

segcl_param *segcl_model_find_param(segcl_model *m, const char *name)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return &m->params[i];
    return NULL;
}

size_t segcl_model_bn_count(const segcl_model *m)
{
    return m->nbn;
}

segcl_bn_layer *segcl_model_bn(segcl_model *m, size_t i)
{
    return i < m->nbn ? &m->bn[i] : NULL;
}

const segcl_model_config *segcl_model_get_config(const segcl_model *m)
{
    return &m->cfg;
}

size_t segcl_model_parameter_elements(const segcl_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nparams; i++)
        n += m->params[i].value->numel;
    return n;
}

/* conv -> ReLU (in place) -> BN */
static segcl_status conv_relu_bn(segcl_model *m, segcl_conv_layer *conv, segcl_bn_layer *bn,
                                 const segcl_tensor *in, segcl_tensor *conv_out,
                                 segcl_tensor *bn_out, bool training)
{
    segcl_status st;
    bool fused = false;
    /* Where the device path fuses: bias and ReLU in the convolution's epilogue, and at
     * inference the BatchNorm's scale and shift too (straight into bn_out). */
    /* (where it does not fuse, segcl_batchnorm_forward folds the statistics itself) */
    if (!training && segcl_conv2d_fuses(m->ctx, &conv->p) &&
        (st = segcl_batchnorm_eval_fold(m->ctx, &bn->op)))
        return st;
    if ((st = segcl_conv2d_forward_fused(m->ctx, m->ws, &conv->p, in, conv->weight->value,
                                         conv->bias->value, training ? NULL : bn->op.scale,
                                         training ? NULL : bn->op.shift,
                                         training ? conv_out : bn_out, &fused)))
        return st;
    if (fused) {
        if (training && (st = segcl_batchnorm_forward(m->ctx, m->ws, &bn->op, conv_out, bn_out,
                                                      true, m->sync_bn)))
            return st;
    } else if ((st = segcl_conv2d_forward(m->ctx, m->ws, &conv->p, in, conv->weight->value,
                                          conv->bias->value, conv_out)) ||
               (st = segcl_relu_forward(m->ctx, conv_out, conv_out)) ||
               (st = segcl_batchnorm_forward(m->ctx, m->ws, &bn->op, conv_out, bn_out, training,
                                             m->sync_bn))) {
        return st;
    }
    if (training)
        bn->num_batches_tracked++;
    return SEGCL_OK;
}

segcl_status segcl_model_forward(segcl_model *m, const segcl_tensor *x, bool training,
                                 segcl_tensor **logits)
{
    const int d = m->cfg.depth;
    if (!x || x->ndim != 4 || x->shape[1] != m->cfg.in_channels)
        return segcl_fail(m->ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "model: input must be (N, %d, H, W)", m->cfg.in_channels);
    int64_t mult = (int64_t)1 << d;
    if (x->shape[2] % mult || x->shape[3] % mult)
        return segcl_fail(m->ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "model: image size %lldx%lld must be a multiple of %lld for depth %d",
                          (long long)x->shape[2], (long long)x->shape[3], (long long)mult, d);
    segcl_status st = ensure_activations(m, x->shape[0], x->shape[2], x->shape[3], training);
    if (st)
        return st;
    activations *a = &m->act;
    segcl_pool_params pool = {2, 2, 0};
    const segcl_tensor *in = x;
    for (int i = 0; i < d; i++) {
        if ((st = conv_relu_bn(m, &m->enc[i], m->enc_bn[i], in, a->enc_conv[i], a->enc_bn[i],
                               training)) ||
            (st = segcl_maxpool_forward(m->ctx, &pool, a->enc_bn[i], a->pool[i], a->pool_idx[i])))
            return st;
        in = a->pool[i];
    }
    if ((st = segcl_conv2d_forward(m->ctx, m->ws, &m->bottleneck.p, in, m->bottleneck.weight->value,
                                   m->bottleneck.bias->value, a->bott)))
        return st;
    in = a->bott;
    const bool unet = m->cfg.arch == SEGCL_ARCH_UNET;
    for (int j = 0; j < d; j++) {
        if ((st = segcl_upsample_bilinear_forward(m->ctx, m->ws, in, a->up[j], true)))
            return st;
        const segcl_tensor *conv_in = a->up[j];
        if (unet) {
            if ((st = segcl_concat_forward(m->ctx, a->up[j], a->enc_bn[d - 1 - j], a->cat[j])))
                return st;
            conv_in = a->cat[j];
        }
        if (j < d - 1) {
            if ((st = conv_relu_bn(m, &m->dec[j], m->dec_bn[j], conv_in, a->dec_conv[j],
                                   a->dec_bn[j], training)))
                return st;
            in = a->dec_bn[j];
        } else if ((st = segcl_conv2d_forward(m->ctx, m->ws, &m->dec[j].p, conv_in,
                                              m->dec[j].weight->value, m->dec[j].bias->value,
                                              a->logits))) {
            return st;
        }
    }
    m->last_input = x;
    m->last_training = training;
    *logits = a->logits;
    return SEGCL_OK;
}

/* BN backward -> ReLU backward (in place) -> conv backward into d_in (NULL: not needed) */
static segcl_status conv_relu_bn_backward(segcl_model *m, segcl_conv_layer *conv,
                                          segcl_bn_layer *bn, const segcl_tensor *in,
                                          segcl_tensor *conv_out, segcl_tensor *d_bn_out,
                                          segcl_tensor *d_conv_out, segcl_tensor *d_in,
                                          bool accumulate_d_in)
{
    segcl_status st;
    if ((st = segcl_batchnorm_backward(m->ctx, m->ws, &bn->op, conv_out, d_bn_out, d_conv_out,
                                       bn->gamma->grad, bn->beta->grad, true, false, m->sync_bn)) ||
        (st = segcl_relu_backward(m->ctx, conv_out, d_conv_out, d_conv_out, false)))
        return st;
    return segcl_conv2d_backward(m->ctx, m->ws, &conv->p, in, conv->weight->value, d_conv_out, d_in,
                                 conv->weight->grad, conv->bias->grad, accumulate_d_in);
}

segcl_status segcl_model_backward(segcl_model *m, const segcl_tensor *dlogits)
{
    activations *a = &m->act;
    if (!a->ready || !m->last_input || !m->last_training)
        return segcl_fail(m->ctx, SEGCL_ERROR_STATE,
                          "model: backward needs a training-mode forward first");
    segcl_status st = segcl_expect_shape(m->ctx, "model backward", "logit gradient", dlogits, 4,
                                         a->logits->shape);
    if (st)
        return st;
    const int d = m->cfg.depth;
    const bool unet = m->cfg.arch == SEGCL_ARCH_UNET;
    /* Decoder, last stage first. The U-Net's skips get their gradient from the concat first
     * (written), then from the pool (added). */
    for (int j = d - 1; j >= 0; j--) {
        segcl_tensor *conv_in = unet ? a->cat[j] : a->up[j];
        segcl_tensor *d_conv_in = unet ? a->d_cat[j] : a->d_up[j];
        if (j == d - 1) {
            st = segcl_conv2d_backward(m->ctx, m->ws, &m->dec[j].p, conv_in,
                                       m->dec[j].weight->value, dlogits, d_conv_in,
                                       m->dec[j].weight->grad, m->dec[j].bias->grad, false);
        } else {
            st = conv_relu_bn_backward(m, &m->dec[j], m->dec_bn[j], conv_in, a->dec_conv[j],
                                       a->d_dec_bn[j], a->d_dec_conv[j], d_conv_in, false);
        }
        if (st)
            return st;
        if (unet && (st = segcl_concat_backward(m->ctx, a->d_cat[j], a->d_up[j],
                                                a->d_enc_bn[d - 1 - j], false, false)))
            return st;
        segcl_tensor *d_prev = j == 0 ? a->d_bott : a->d_dec_bn[j - 1];
        if ((st = segcl_upsample_bilinear_backward(m->ctx, m->ws, a->d_up[j], d_prev, true, false)))
            return st;
    }
    if ((st = segcl_conv2d_backward(m->ctx, m->ws, &m->bottleneck.p, a->pool[d - 1],
                                    m->bottleneck.weight->value, a->d_bott, a->d_pool[d - 1],
                                    m->bottleneck.weight->grad, m->bottleneck.bias->grad, false)))
        return st;
    segcl_pool_params pool = {2, 2, 0};
    for (int i = d - 1; i >= 0; i--) {
        if ((st = segcl_maxpool_backward(m->ctx, &pool, a->d_pool[i], a->pool_idx[i],
                                         a->d_enc_bn[i], unet)))
            return st;
        const segcl_tensor *in = i == 0 ? m->last_input : a->pool[i - 1];
        segcl_tensor *d_in = i == 0 ? NULL : a->d_pool[i - 1];
        if ((st = conv_relu_bn_backward(m, &m->enc[i], m->enc_bn[i], in, a->enc_conv[i],
                                        a->d_enc_bn[i], a->d_enc_conv[i], d_in, false)))
            return st;
    }
    return SEGCL_OK;
}

segcl_status segcl_model_zero_grad(segcl_model *m)
{
    for (size_t i = 0; i < m->nparams; i++) {
        segcl_status st = segcl_fill(m->ctx, m->params[i].grad->buffer, m->params[i].grad->numel,
                                     0.0f);
        if (st)
            return st;
    }
    return SEGCL_OK;
}

static segcl_status ensure_state(segcl_model *m, segcl_param *p, segcl_tensor **t, const char *what)
{
    if (*t)
        return SEGCL_OK;
    char name[96];
    snprintf(name, sizeof name, "%s of %s", what, p->name);
    segcl_status st = segcl_tensor_create(m->ctx, name, p->value->ndim, p->value->shape, t);
    return st ? st : segcl_fill(m->ctx, (*t)->buffer, (*t)->numel, 0.0f);
}

segcl_status segcl_model_step(segcl_model *m, segcl_optimizer *opt)
{
    long step = opt->step + 1;
    for (size_t i = 0; i < m->nparams; i++) {
        segcl_param *p = &m->params[i];
        segcl_status st;
        if (opt->kind == SEGCL_OPTIMIZER_SGD) {
            if (opt->momentum != 0.0f && (st = ensure_state(m, p, &p->m, "momentum")))
                return st;
            segcl_sgd_params sp = {opt->lr, opt->momentum, opt->dampening, opt->weight_decay,
                                   opt->nesterov};
            st = segcl_sgd_step(m->ctx, &sp, step, p->value, p->grad, p->m);
        } else {
            if ((st = ensure_state(m, p, &p->m, "first moment")) ||
                (st = ensure_state(m, p, &p->v, "second moment")))
                return st;
            segcl_adam_params ap = {opt->lr, opt->beta1, opt->beta2, opt->eps, opt->weight_decay,
                                    opt->kind == SEGCL_OPTIMIZER_ADAMW};
            st = segcl_adam_step(m->ctx, &ap, step, p->value, p->grad, p->m, p->v);
        }
        if (st)
            return st;
    }
    opt->step = step;
    return SEGCL_OK;
}
