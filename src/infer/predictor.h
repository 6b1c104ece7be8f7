/*
 * The predictor's layout, private to src/infer: predict.c opens it and runs its batches,
 * tile.c runs large images in blended tiles through the same batches, and predict_files.c
 * reads its options, palette and logits to write the outputs of image files.
 */
#ifndef SEGCL_PREDICTOR_H
#define SEGCL_PREDICTOR_H

#include "data/data.h"
#include "picture/picture.h"
#include "model/model.h"
#include "settings/run_config.h"

/* Made by segcl_predictor_open; read-only once open, but for the batch buffers. */
struct segcl_predictor {
    segcl_context *ctx;
    char *model_file; /* the checkpoint read: its run's files are never outputs */
    segcl_model *model;
    segcl_run_config meta;
    segcl_predictor_options opt;
    int side;        /* of the network's input: the tile when tiling, else meta.size */
    segcl_tensor *x; /* (batch, 3, side, side) */
    float *host_x, *host_logits;
    /* Tiling: the last image's blended logits (classes, tiled_h, tiled_w), and its capacity
     * in floats, kept for save_logits. */
    float *tiled_logits;
    size_t tiled_cap;
    int tiled_w, tiled_h;
    uint8_t palette[256 * 3]; /* colours of multi-class masks, by class */
    int palette_entries;
    segcl_background background; /* of composites */
};

/* A palette file: one colour per line, "#RRGGBB" or "R G B"; blank lines and lines starting
 * with '#' and a space or nothing else are skipped. At least `classes` colours (at most 256
 * into pal, 3 bytes each), and for more than one class not all gray. Errors name the file and
 * line. */
SEGCL_INTERNAL segcl_status segcl_palette_load(segcl_context *ctx, const char *path, int classes,
                                               uint8_t *pal, int *entries);

/* Normalised planar floats of an RGB image already side x side, into slot s of host_x. */
SEGCL_INTERNAL void segcl_predictor_put(segcl_predictor *p, const segcl_image *img, size_t s);
/* Runs the batch in host_x (n slots loaded; the rest repeat slot 0) into host_logits. */
SEGCL_INTERNAL segcl_status segcl_predictor_run_batch(segcl_predictor *p, size_t n);
/* Maps at width x height from logits (classes, lh, lw), resized bilinearly (half-pixel
 * centres); each output may be NULL (segcl_prediction_maps says what each holds). */
SEGCL_INTERNAL void segcl_predictor_maps(const segcl_predictor *p, const float *logits, int lw,
                                         int lh, int width, int height, uint8_t *labels,
                                         float *foreground, float *classes);

/* ---- tiling (tile.c) ---------------------------------------------------------------------- */

/* Checks options->tile and tile_overlap against the model's depth and resolves the default
 * overlap. */
SEGCL_INTERNAL segcl_status segcl_tile_check(segcl_predictor *p);
/* Origins of the tiles covering `extent` pixels: a regular grid of stride tile - overlap
 * whose last tile ends at the border, or one tile at 0 when the extent is at most a tile.
 * Returns their count; writes them when origins is not NULL. */
SEGCL_INTERNAL int segcl_tile_origins(int extent, int tile, int overlap, int *origins);
/* The 1-D blend weight of pixel i of tile k of n (origins as above): linear ramps over the
 * overlaps with the neighbouring tiles, 1 where there is none (the image's borders). */
SEGCL_INTERNAL float segcl_tile_weight(const int *origins, int n, int k, int tile, int i);
/* Adds the weighted logits of one tile (classes, tile, tile) at (x0, y0) into acc (classes,
 * h, w) and its weights into wsum (h, w); the part beyond the image is left out. */
SEGCL_INTERNAL void segcl_tile_accumulate(float *acc, float *wsum, int w, int h, int classes,
                                          const float *logits, int tile, int x0, int y0,
                                          const float *wx, const float *wy);
/* acc /= wsum, pixel by pixel. */
SEGCL_INTERNAL void segcl_tile_normalise(float *acc, const float *wsum, size_t pixels, int classes);
/* One RGB image through the tiles, its maps at its own size. */
SEGCL_INTERNAL segcl_status segcl_predict_tiled(segcl_predictor *p, const segcl_image *rgb,
                                                const segcl_prediction_maps *maps);

#endif
