/* Pictures for people: prediction overlays and the training curve. */
#ifndef SEGCL_VISUAL_H
#define SEGCL_VISUAL_H

#include "data/data.h"

/* out (RGB, photo's size) = photo tinted where labels != 0, with the region outlines drawn.
 * labels: one byte per pixel of the photo, 0 background, c > 0 class c. */
SEGCL_INTERNAL segcl_status segcl_overlay(segcl_context *ctx, const segcl_image *photo,
                                          const uint8_t *labels, segcl_image *out);

typedef struct segcl_curve_point {
    double train_loss, val_loss, val_dice;
} segcl_curve_point;

/* An SVG with loss (train, validation) and validation Dice per epoch. */
SEGCL_INTERNAL segcl_status segcl_write_curve_svg(segcl_context *ctx, const char *path,
                                                  const segcl_curve_point *points, int count);

#endif
