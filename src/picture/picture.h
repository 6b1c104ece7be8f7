/*
 * Pictures for people, host work on decoded images: overlays, cut-outs and composites,
 * instances. Errors go to a segcl_diag, as everywhere in the host layers (src/data).
 */
#ifndef SEGCL_PICTURE_H
#define SEGCL_PICTURE_H

#include <math.h>

#include "data/data.h"

/* Colour of foreground class c >= 1 in overlays (a small fixed set, repeated). */
SEGCL_INTERNAL const uint8_t *segcl_overlay_colour(int c);

/* Width in pixels of a region's drawn boundary on an image this size: 2 up to 512 pixels on
 * the longer side, 3 above, so it stays visible once a viewer shrinks the picture. */
SEGCL_INTERNAL int segcl_contour_width(int width, int height);

/* out (RGB, photo's size) = the photo with the regions of labels (one byte per pixel, 0
 * background, c > 0 class c) shown: fill tints them and draws their boundaries, contour draws
 * the boundaries only (segcl_contour_width pixels wide, inside the region). */
SEGCL_INTERNAL segcl_status segcl_overlay(segcl_diag *diag, const segcl_image *photo,
                                          const uint8_t *labels, segcl_overlay_style style,
                                          segcl_image *out);

/* A training overlay: the ground truth (left) and the prediction (right) over the photo, side
 * by side, each captioned (the prediction with its Dice when finite). */
SEGCL_INTERNAL segcl_status segcl_training_overlay(segcl_diag *diag, const segcl_image *photo,
                                                   const uint8_t *truth, const uint8_t *predicted,
                                                   double dice, segcl_image *out);

/* Gaussian-like blur (three box passes) of an 8-bit plane in place; radius is about two
 * standard deviations. radius <= 0 leaves it as it is. */
SEGCL_INTERNAL segcl_status segcl_blur_plane(segcl_diag *diag, uint8_t *plane, int width,
                                             int height, float radius);

/* out (RGBA) = photo's colours with alpha as the fourth channel. */
SEGCL_INTERNAL segcl_status segcl_cutout(segcl_diag *diag, const segcl_image *photo,
                                         const uint8_t *alpha, segcl_image *out);

/* The background of a composite. */
typedef enum segcl_background_kind {
    SEGCL_BACKGROUND_NONE,
    SEGCL_BACKGROUND_COLOUR, /* rgb */
    SEGCL_BACKGROUND_BLUR,   /* the photo's own background blurred by radius (0: from size) */
    SEGCL_BACKGROUND_IMAGE,  /* image, scaled to cover the photo and centred */
} segcl_background_kind;

typedef struct segcl_background {
    segcl_background_kind kind;
    uint8_t rgb[3];
    float radius;
    segcl_image image;
    char *path; /* the image's file, for messages */
} segcl_background;

/* "#RRGGBB", exactly: six hex digits into rgb; false for anything else. */
SEGCL_INTERNAL bool segcl_hex_colour_parse(const char *text, uint8_t rgb[3]);

/* Parses "#RRGGBB", "blur", "blur:RADIUS" or an image file's path (loaded here). */
SEGCL_INTERNAL segcl_status segcl_background_parse(segcl_diag *diag, const char *spec,
                                                   segcl_background *out);
SEGCL_INTERNAL void segcl_background_free(segcl_background *bg);

/* out (RGB) = alpha * photo + (1 - alpha) * background, alpha in 0..255 (0 gives exactly the
 * background's colour). The blurred background is a normalised blur of the photo weighted by
 * 1 - alpha, so the person's colours do not smear into it. */
SEGCL_INTERNAL segcl_status segcl_composite(segcl_diag *diag, const segcl_image *photo,
                                            const uint8_t *alpha, const segcl_background *bg,
                                            segcl_image *out);

/* One connected region of a class. */
typedef struct segcl_instance {
    int label;          /* the class */
    uint64_t area;      /* pixels */
    int x0, y0, x1, y1; /* bounding box, inclusive */
    double cx, cy;      /* centroid (pixel centres at integer coordinates) */
    uint8_t rgb[3];     /* its colour in the instances picture */
} segcl_instance;

/* Connected components (8-connectivity) of every class c > 0 of labels; components smaller
 * than min_area pixels are dropped. ids (width x height, may be NULL) gets 0 for background
 * and dropped pixels, k + 1 for pixels of instance k. Instances are ordered by their first
 * pixel in raster order. *instances: free with segcl_free. */
SEGCL_INTERNAL segcl_status segcl_find_instances(segcl_diag *diag, const uint8_t *labels, int width,
                                                 int height, uint64_t min_area, uint32_t *ids,
                                                 segcl_instance **instances, size_t *count);

/* out (RGB): black background, each instance in its own colour. */
SEGCL_INTERNAL segcl_status segcl_instances_image(segcl_diag *diag, const uint32_t *ids, int width,
                                                  int height, const segcl_instance *instances,
                                                  segcl_image *out);

/* Channel c of pixel i of a photo (a gray photo gives its one channel for each). */
static inline uint8_t segcl_photo_channel(const segcl_image *photo, size_t i, int c)
{
    return photo->pixels[i * photo->channels + (photo->channels >= 3 ? c : 0)];
}

/* v rounded and clamped to 0..255. */
static inline uint8_t segcl_to_byte(double v)
{
    long b = lround(v);
    return (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
}

#endif
