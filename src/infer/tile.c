/*
 * Tiled inference: an image at its working resolution in overlapping square tiles on a regular
 * grid (the last row and column shifted to end at the border), run through the predictor's
 * batches, their logits blended with linear ramps over the overlaps and normalised by the
 * summed weights. Device memory follows the tile and the batch, not the image.
 */
#include <math.h>
#include <string.h>

#include "infer/predictor.h"

segcl_status segcl_tile_check(segcl_predictor *p)
{
    segcl_context *ctx = p->ctx;
    segcl_predictor_options *o = &p->opt;
    const int multiple = 1 << p->meta.model.depth;
    p->side = p->meta.size;
    if (!o->tile && o->tile_overlap)
        return segcl_fail_setting(ctx, "tile_overlap", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "a tile overlap needs a tile size");
    if (!o->tile)
        return SEGCL_OK;
    if (o->tile < 0 || o->tile > SEGCL_MAX_SIZE)
        return segcl_fail_setting(ctx, "tile", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "tile size %d must be a multiple of %d (2^depth) from %d to %d",
                                  o->tile, multiple, multiple, SEGCL_MAX_SIZE);
    if (o->tile < multiple)
        return segcl_fail_setting(ctx, "tile", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "tile size %d is smaller than %d: this model's input sides must "
                                  "be multiples of 2^depth",
                                  o->tile, multiple);
    if (o->tile % multiple)
        return segcl_fail_setting(ctx, "tile", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "tile size %d must be a multiple of %d (2^depth of this model)",
                                  o->tile, multiple);
    if (o->tile_overlap < 0 || o->tile_overlap >= o->tile || o->tile_overlap % multiple)
        return segcl_fail_setting(ctx, "tile_overlap", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "tile overlap %d must be a multiple of %d (2^depth) below the "
                                  "tile size %d",
                                  o->tile_overlap, multiple, o->tile);
    if (!o->tile_overlap)
        o->tile_overlap = (o->tile / 4 + multiple / 2) / multiple * multiple;
    p->side = o->tile;
    return SEGCL_OK;
}

int segcl_tile_origins(int extent, int tile, int overlap, int *origins)
{
    if (extent <= tile) {
        if (origins)
            origins[0] = 0;
        return 1;
    }
    const int stride = tile - overlap;
    const int n = 1 + (extent - tile + stride - 1) / stride;
    for (int k = 0; origins && k < n; k++)
        origins[k] = k < n - 1 ? k * stride : extent - tile;
    return n;
}

/* Ramps run from 1/(2 overlap) to 1 - 1/(2 overlap) at pixel centres, so two neighbours'
 * weights sum to 1 across a regular overlap and no pixel ever gets weight 0. */
float segcl_tile_weight(const int *origins, int n, int k, int tile, int i)
{
    float w = 1.0f;
    if (k > 0) {
        const int left = origins[k - 1] + tile - origins[k];
        if (left > 0 && i < left)
            w = fminf(w, ((float)i + 0.5f) / (float)left);
    }
    if (k < n - 1) {
        const int right = origins[k] + tile - origins[k + 1], j = tile - 1 - i;
        if (right > 0 && j < right)
            w = fminf(w, ((float)j + 0.5f) / (float)right);
    }
    return w;
}

void segcl_tile_accumulate(float *acc, float *wsum, int w, int h, int classes, const float *logits,
                           int tile, int x0, int y0, const float *wx, const float *wy)
{
    const int xe = w - x0 < tile ? w - x0 : tile, ye = h - y0 < tile ? h - y0 : tile;
    const size_t plane = (size_t)w * h, tile_plane = (size_t)tile * tile;
    for (int y = 0; y < ye; y++)
        for (int x = 0; x < xe; x++) {
            const float weight = wx[x] * wy[y];
            const size_t i = (size_t)(y0 + y) * w + (size_t)(x0 + x);
            wsum[i] += weight;
            for (int c = 0; c < classes; c++)
                acc[c * plane + i] += weight * logits[c * tile_plane + (size_t)y * tile + x];
        }
}

void segcl_tile_normalise(float *acc, const float *wsum, size_t pixels, int classes)
{
    for (int c = 0; c < classes; c++)
        for (size_t i = 0; i < pixels; i++)
            acc[c * pixels + i] /= wsum[i];
}

/* Index i folded into [0, n) by reflection about the edge pixels (... 2 1 | 0 1 2 ... n-1 | n-2
 * ...). */
static int mirror(int i, int n)
{
    if (n == 1)
        return 0;
    const int period = 2 * (n - 1);
    i %= period;
    if (i < 0)
        i += period;
    return i < n ? i : period - i;
}

/* The tile at (x0, y0) of img, normalised as segcl_predictor_put does, into slot s; pixels
 * beyond a side smaller than the tile are reflected. */
static void put_tile(segcl_predictor *p, const segcl_image *img, int x0, int y0, size_t s)
{
    const int T = p->side;
    const size_t plane = (size_t)T * T;
    float *dst = p->host_x + s * 3 * plane;
    for (int y = 0; y < T; y++) {
        const int sy = mirror(y0 + y, img->height);
        for (int x = 0; x < T; x++) {
            const uint8_t *px =
                img->pixels + ((size_t)sy * img->width + (size_t)mirror(x0 + x, img->width)) * 3;
            for (int c = 0; c < 3; c++)
                dst[c * plane + (size_t)y * T + x] =
                    (px[c] / 255.0f - p->meta.mean[c]) / p->meta.std[c];
        }
    }
}

/* The grid of one image: tile origins and 1-D weights per axis, and the sums. */
typedef struct tile_grid {
    int nx, ny;
    int *ox, *oy;
    float *wx, *wy; /* (nx, tile) and (ny, tile) */
    float *wsum;    /* (h, w) */
} tile_grid;

static void grid_free(tile_grid *g)
{
    segcl_free(g->ox);
    segcl_free(g->oy);
    segcl_free(g->wx);
    segcl_free(g->wy);
    segcl_free(g->wsum);
}

/* The grid of a w x h working image, and the predictor's logits sums zeroed for it; what it
 * allocated is the caller's to free (grid_free) also when it fails. */
static segcl_status grid_make(segcl_predictor *p, int w, int h, tile_grid *g)
{
    const int T = p->side, O = p->opt.tile_overlap;
    const size_t pixels = (size_t)w * h, need = (size_t)p->meta.model.classes * pixels;
    memset(g, 0, sizeof *g);
    g->nx = segcl_tile_origins(w, T, O, NULL);
    g->ny = segcl_tile_origins(h, T, O, NULL);
    g->ox = segcl_malloc((size_t)g->nx * sizeof *g->ox);
    g->oy = segcl_malloc((size_t)g->ny * sizeof *g->oy);
    g->wx = segcl_malloc((size_t)g->nx * T * sizeof *g->wx);
    g->wy = segcl_malloc((size_t)g->ny * T * sizeof *g->wy);
    g->wsum = segcl_calloc(pixels, sizeof *g->wsum);
    if (need > p->tiled_cap) {
        segcl_free(p->tiled_logits);
        p->tiled_cap = 0;
        if ((p->tiled_logits = segcl_malloc(need * sizeof *p->tiled_logits)))
            p->tiled_cap = need;
    }
    if (!g->ox || !g->oy || !g->wx || !g->wy || !g->wsum || !p->tiled_logits)
        return segcl_fail(p->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                          "out of host memory for the tiles of a %d x %d image", w, h);
    memset(p->tiled_logits, 0, need * sizeof *p->tiled_logits);
    segcl_tile_origins(w, T, O, g->ox);
    segcl_tile_origins(h, T, O, g->oy);
    for (int k = 0; k < g->nx; k++)
        for (int i = 0; i < T; i++)
            g->wx[(size_t)k * T + i] = segcl_tile_weight(g->ox, g->nx, k, T, i);
    for (int k = 0; k < g->ny; k++)
        for (int i = 0; i < T; i++)
            g->wy[(size_t)k * T + i] = segcl_tile_weight(g->oy, g->ny, k, T, i);
    p->tiled_w = w;
    p->tiled_h = h;
    return SEGCL_OK;
}

/* Every tile of img through the network, row by row, a batch at a time, blended into the
 * predictor's tiled logits. */
static segcl_status run_tiles(segcl_predictor *p, const segcl_image *img, const tile_grid *g)
{
    const int T = p->side, C = p->meta.model.classes;
    const size_t B = (size_t)p->opt.batch, count = (size_t)g->nx * g->ny;
    segcl_status st = SEGCL_OK;
    for (size_t first = 0; first < count && !st; first += B) {
        const size_t take = count - first < B ? count - first : B;
        for (size_t s = 0; s < take; s++) {
            const size_t t = first + s;
            put_tile(p, img, g->ox[t % g->nx], g->oy[t / g->nx], s);
        }
        st = segcl_predictor_run_batch(p, take);
        for (size_t s = 0; s < take && !st; s++) {
            const size_t t = first + s, kx = t % g->nx, ky = t / g->nx;
            segcl_tile_accumulate(p->tiled_logits, g->wsum, img->width, img->height, C,
                                  p->host_logits + s * C * T * T, T, g->ox[kx], g->oy[ky],
                                  g->wx + kx * T, g->wy + ky * T);
        }
    }
    if (!st)
        segcl_tile_normalise(p->tiled_logits, g->wsum, (size_t)img->width * img->height, C);
    return st;
}

segcl_status segcl_predict_tiled(segcl_predictor *p, const segcl_image *rgb,
                                 const segcl_prediction_maps *maps)
{
    /* the working resolution: size x size when the size is given, as without tiles */
    const int w = p->opt.size ? p->meta.size : rgb->width;
    const int h = p->opt.size ? p->meta.size : rgb->height;
    segcl_image resized = {0};
    const segcl_image *work = rgb;
    tile_grid g = {0};
    segcl_status st = SEGCL_OK;
    if (w != rgb->width || h != rgb->height) {
        if ((st = segcl_image_resize(segcl_context_diag(p->ctx), rgb, w, h, false, &resized)))
            goto done;
        work = &resized;
    }
    if ((st = grid_make(p, w, h, &g)) || (st = run_tiles(p, work, &g)))
        goto done;
    const int C = p->meta.model.classes;
    segcl_predictor_maps(p, p->tiled_logits, w, h, rgb->width, rgb->height, maps->labels,
                         maps->foreground, C > 1 ? maps->classes : NULL);
done:
    grid_free(&g);
    segcl_image_free(&resized);
    return st;
}
