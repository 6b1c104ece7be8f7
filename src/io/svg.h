/* The training curve, written as an SVG file. */
#ifndef SEGCL_SVG_H
#define SEGCL_SVG_H

#include "core/core.h"

/* One row of the training curve; NAN where there is no value. */
typedef struct segcl_curve_point {
    long epoch; /* 1-based */
    double train_loss, val_loss, val_dice, val_iou;
} segcl_curve_point;

/* An SVG with two panels over the epochs: the losses (train, validation), and validation
 * Dice and IoU; axes with ticks and a grid, the best epoch (highest Dice, else lowest
 * validation loss) marked, legends beside the panels. */
SEGCL_INTERNAL segcl_status segcl_write_curve_svg(segcl_diag *diag, const char *path,
                                                  const segcl_curve_point *points, int count);

#endif
