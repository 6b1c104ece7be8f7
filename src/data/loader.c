/*
 * Batch loader: decodes and resizes each sample once (kept in memory afterwards), then per
 * batch shuffles, augments and normalises on a background thread while the device computes.
 * Everything random comes from generators seeded by (seed, epoch, position), so a batch is the
 * same whichever thread made it and whether the run was resumed.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "data/data.h"

/* A sample of the loader: the dataset's checked copy, or one the loader read itself. */
typedef struct loader_sample {
    const segcl_image *image, *mask; /* size x size; NULL until loaded */
    segcl_cached_sample own;         /* when the dataset held no checked copy */
} loader_sample;

struct segcl_loader {
    segcl_diag *diag; /* the caller's, for error messages */
    bool lock_ready;
    const segcl_dataset *ds;
    segcl_loader_config cfg;
    size_t *indices;
    size_t count;
    loader_sample *cache; /* per position in indices */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    /* the one job in flight: prepare (job_epoch, job_batch) into job_images/job_masks */
    bool job_pending, job_done;
    long job_epoch;
    size_t job_batch, job_n;
    float *job_images, *job_masks;
    size_t *job_samples;
    segcl_status job_status;
    segcl_diag errors; /* the worker's own, for error messages */
};

static segcl_status load_sample(segcl_loader *l, size_t pos)
{
    loader_sample *c = &l->cache[pos];
    if (c->image)
        return SEGCL_OK;
    const segcl_dataset *ds = l->ds;
    const size_t item = l->indices[pos];
    if (ds->cache && ds->cache_size == l->cfg.size && ds->cache_classes == l->cfg.classes &&
        ds->cache[item].image.pixels) {
        c->image = &ds->cache[item].image;
        c->mask = &ds->cache[item].mask;
        return SEGCL_OK;
    }
    segcl_mask_info info;
    segcl_status st = segcl_sample_load(&l->errors, &ds->items[item], l->cfg.size, l->cfg.classes,
                                        &c->own.image, &c->own.mask, &info);
    if (!st) {
        c->image = &c->own.image;
        c->mask = &c->own.mask;
    }
    return st;
}

/* Position order of an epoch: sorted, or a Fisher-Yates shuffle seeded by (seed, epoch). */
static void epoch_order(const segcl_loader *l, long epoch, size_t *order)
{
    for (size_t i = 0; i < l->count; i++)
        order[i] = i;
    if (!l->cfg.shuffle)
        return;
    segcl_rng rng;
    segcl_rng_seed(&rng, l->cfg.seed, 0x5eed0000u + (uint64_t)epoch);
    for (size_t i = l->count; i > 1; i--) {
        size_t j = segcl_rng_below(&rng, (uint32_t)i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* Bilinear sample of channel ch of an RGB image at (y, x), clamped to the edges. */
static float bilinear(const segcl_image *img, float y, float x, int ch)
{
    const int S = img->width;
    y = y < 0 ? 0 : y > S - 1 ? (float)(S - 1) : y;
    x = x < 0 ? 0 : x > S - 1 ? (float)(S - 1) : x;
    int y0 = (int)y, x0 = (int)x;
    int y1 = y0 < S - 1 ? y0 + 1 : y0, x1 = x0 < S - 1 ? x0 + 1 : x0;
    float fy = y - y0, fx = x - x0;
    const uint8_t *p = img->pixels;
#define AT(yy, xx) ((float)p[((size_t)(yy) * S + (xx)) * 3 + ch])
    return (1 - fy) * ((1 - fx) * AT(y0, x0) + fx * AT(y0, x1)) +
           fy * ((1 - fx) * AT(y1, x0) + fx * AT(y1, x1));
#undef AT
}

/* Writes sample `pos` (augmented for this epoch) into slot s of the batch. Every draw is made
 * whatever the enabled augmentations, so a draw's value depends only on (seed, epoch, pos). */
static void emit(segcl_loader *l, long epoch, size_t pos, size_t s, float *images, float *masks)
{
    const int S = l->cfg.size;
    const size_t plane = (size_t)S * S;
    const loader_sample *c = &l->cache[pos];
    const unsigned aug = l->cfg.augment;
    bool hflip = false, vflip = false;
    int turns = 0;
    float gain = 1.0f, bias = 0.0f, zoom = 1.0f, oy = 0.0f, ox = 0.0f;
    if (aug) {
        segcl_rng rng;
        segcl_rng_seed(&rng, l->cfg.seed ^ 0xa5a5a5a5u, ((uint64_t)epoch << 32) | pos);
        hflip = segcl_rng_below(&rng, 2) && (aug & SEGCL_AUGMENT_HFLIP);
        vflip = segcl_rng_below(&rng, 2) && (aug & SEGCL_AUGMENT_VFLIP);
        turns = (int)segcl_rng_below(&rng, 4) * ((aug & SEGCL_AUGMENT_ROT90) != 0);
        float g = 0.9f + 0.2f * segcl_rng_uniform(&rng);  /* contrast */
        float b = -0.1f + 0.2f * segcl_rng_uniform(&rng); /* brightness */
        if (aug & SEGCL_AUGMENT_COLOR)
            gain = g, bias = b;
        /* a mild zoom: a window of S / zoom pixels at a random place, scaled up to S */
        float z = 1.0f + 0.25f * segcl_rng_uniform(&rng);
        float uy = segcl_rng_uniform(&rng), ux = segcl_rng_uniform(&rng);
        if (aug & SEGCL_AUGMENT_SCALE) {
            zoom = z;
            oy = uy * (S - S / z);
            ox = ux * (S - S / z);
        }
    }
    const bool color = (aug & SEGCL_AUGMENT_COLOR) != 0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            /* output (y, x) reads the zoom window at (fy, fx), whose flipped and turned frame
             * reads the source at (sy, sx) */
            float fy = zoom == 1.0f ? (float)y : oy + ((float)y + 0.5f) / zoom - 0.5f;
            float fx = zoom == 1.0f ? (float)x : ox + ((float)x + 0.5f) / zoom - 0.5f;
            float sy = fy, sx = fx;
            for (int t = 0; t < turns; t++) {
                float ny = sx, nx = (float)(S - 1) - sy;
                sy = ny;
                sx = nx;
            }
            if (hflip)
                sx = (float)(S - 1) - sx;
            if (vflip)
                sy = (float)(S - 1) - sy;
            int iy = (int)lrintf(sy), ix = (int)lrintf(sx);
            iy = iy < 0 ? 0 : iy > S - 1 ? S - 1 : iy;
            ix = ix < 0 ? 0 : ix > S - 1 ? S - 1 : ix;
            const uint8_t *px = c->image->pixels + ((size_t)iy * S + ix) * 3;
            for (int ch = 0; ch < 3; ch++) {
                float v = (zoom == 1.0f ? px[ch] : bilinear(c->image, sy, sx, ch)) *
                          (1.0f / 255.0f);
                if (color) {
                    v = (v - 0.5f) * gain + 0.5f + bias;
                    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                }
                images[(s * 3 + ch) * plane + (size_t)y * S + x] =
                    (v - l->cfg.mean[ch]) / l->cfg.std[ch];
            }
            uint8_t m = c->mask->pixels[(size_t)iy * S + ix];
            masks[s * plane + (size_t)y * S + x] =
                l->cfg.classes == 1 ? (m > 127 ? 1.0f : 0.0f) : (float)m;
        }
}

static segcl_status prepare(segcl_loader *l, long epoch, size_t b, float *images, float *masks,
                            size_t *n, size_t *samples)
{
    size_t *order = segcl_malloc(l->count * sizeof *order);
    if (!order)
        return segcl_diag_fail(&l->errors, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    epoch_order(l, epoch, order);
    size_t first = b * (size_t)l->cfg.batch;
    size_t take = l->count - first < (size_t)l->cfg.batch ? l->count - first : (size_t)l->cfg.batch;
    segcl_status st = SEGCL_OK;
    for (size_t s = 0; s < take && !st; s++) {
        size_t pos = order[first + s];
        if (!(st = load_sample(l, pos))) {
            emit(l, epoch, pos, s, images, masks);
            if (samples)
                samples[s] = l->indices[pos];
        }
    }
    segcl_free(order);
    *n = take;
    return st;
}

static void *worker(void *arg)
{
    segcl_loader *l = arg;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!l->stop && !l->job_pending)
            pthread_cond_wait(&l->cond, &l->lock);
        if (l->stop)
            break;
        long epoch = l->job_epoch;
        size_t b = l->job_batch;
        pthread_mutex_unlock(&l->lock);
        size_t n = 0;
        segcl_status st = prepare(l, epoch, b, l->job_images, l->job_masks, &n, l->job_samples);
        pthread_mutex_lock(&l->lock);
        l->job_n = n;
        l->job_status = st;
        l->job_pending = false;
        l->job_done = true;
        pthread_cond_broadcast(&l->cond);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

segcl_status segcl_loader_create(segcl_diag *diag, const segcl_dataset *ds, const size_t *indices,
                                 size_t count, const segcl_loader_config *cfg, segcl_loader **out)
{
    *out = NULL;
    if (!ds || !cfg || count == 0 || cfg->size < 8 || cfg->batch < 1 || cfg->classes < 1)
        return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                               "loader: needs samples, size >= 8, batch >= 1");
    for (int c = 0; c < 3; c++)
        if (!(cfg->std[c] > 0.0f))
            return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                                   "loader: std must be positive");
    segcl_loader *l = segcl_calloc(1, sizeof *l);
    if (!l)
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    l->ds = ds;
    l->cfg = *cfg;
    l->count = count;
    size_t per = (size_t)cfg->batch * cfg->size * cfg->size;
    l->indices = segcl_malloc(count * sizeof *l->indices);
    l->cache = segcl_calloc(count, sizeof *l->cache);
    l->job_images = segcl_malloc(per * 3 * sizeof(float));
    l->job_masks = segcl_malloc(per * sizeof(float));
    l->job_samples = segcl_malloc((size_t)cfg->batch * sizeof(size_t));
    if (!l->indices || !l->cache || !l->job_images || !l->job_masks || !l->job_samples ||
        segcl_diag_init(&l->errors)) {
        segcl_loader_destroy(l);
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    segcl_diag_copy_decoding(&l->errors, diag);
    l->diag = diag;
    memcpy(l->indices, indices, count * sizeof *indices);
    for (size_t i = 0; i < count; i++)
        if (indices[i] >= ds->count) {
            segcl_loader_destroy(l);
            return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                                   "loader: index out of range");
        }
    if (pthread_mutex_init(&l->lock, NULL)) {
        segcl_loader_destroy(l);
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "cannot create loader lock");
    }
    if (pthread_cond_init(&l->cond, NULL)) {
        pthread_mutex_destroy(&l->lock);
        segcl_loader_destroy(l);
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "cannot create loader lock");
    }
    l->lock_ready = true;
    if (pthread_create(&l->thread, NULL, worker, l) != 0) {
        segcl_loader_destroy(l);
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                               "cannot start the loader thread");
    }
    l->thread_started = true;
    *out = l;
    return SEGCL_OK;
}

void segcl_loader_destroy(segcl_loader *l)
{
    if (!l)
        return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->lock);
        l->stop = true;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
    }
    if (l->lock_ready) {
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->cond);
    }
    for (size_t i = 0; l->cache && i < l->count; i++) {
        segcl_image_free(&l->cache[i].own.image);
        segcl_image_free(&l->cache[i].own.mask);
    }
    segcl_free(l->cache);
    segcl_free(l->indices);
    segcl_free(l->job_images);
    segcl_free(l->job_masks);
    segcl_free(l->job_samples);
    segcl_diag_release(&l->errors);
    segcl_free(l);
}

size_t segcl_loader_batches(const segcl_loader *l)
{
    return (l->count + (size_t)l->cfg.batch - 1) / (size_t)l->cfg.batch;
}

static void post(segcl_loader *l, long epoch, size_t b)
{
    l->job_epoch = epoch;
    l->job_batch = b;
    l->job_pending = true;
    l->job_done = false;
    pthread_cond_broadcast(&l->cond);
}

segcl_status segcl_loader_get(segcl_loader *l, long epoch, size_t b, float *images,
                              float *masks, size_t *n, size_t *sample_index)
{
    const size_t per = (size_t)l->cfg.batch * l->cfg.size * l->cfg.size;
    if (epoch < 0 || b >= segcl_loader_batches(l))
        return segcl_diag_fail(l->diag, SEGCL_ERROR_INVALID_ARGUMENT,
                               "loader: no batch %zu in epoch %ld (an epoch has %zu)", b, epoch,
                               segcl_loader_batches(l));
    pthread_mutex_lock(&l->lock);
    bool have = (l->job_pending || l->job_done) && l->job_epoch == epoch && l->job_batch == b;
    if (!have) {
        while (l->job_pending) /* let a stale job finish before reusing its buffers */
            pthread_cond_wait(&l->cond, &l->lock);
        post(l, epoch, b);
    }
    while (!l->job_done)
        pthread_cond_wait(&l->cond, &l->lock);
    segcl_status st = l->job_status;
    size_t got = l->job_n;
    if (!st) {
        memcpy(images, l->job_images, per * 3 * sizeof(float));
        memcpy(masks, l->job_masks, per * sizeof(float));
        if (sample_index)
            memcpy(sample_index, l->job_samples, got * sizeof(size_t));
    }
    /* start on the following batch while the caller computes */
    size_t next_b = b + 1;
    long next_epoch = epoch;
    if (next_b >= segcl_loader_batches(l)) {
        next_b = 0;
        next_epoch++;
    }
    if (!st)
        post(l, next_epoch, next_b);
    else
        l->job_done = false;
    if (st)
        segcl_diag_fail_setting(l->diag, segcl_diag_setting(&l->errors), st, "%s",
                                segcl_diag_message(&l->errors));
    pthread_mutex_unlock(&l->lock);
    *n = got;
    return st;
}
