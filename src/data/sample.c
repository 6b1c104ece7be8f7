/*
 * One training sample from disk: the photo, and its mask read by the rules every layout shares.
 * A mask stored at another size than its photo but with the same aspect ratio (within 1%) is
 * resized to the photo with nearest neighbour; any other mismatch is an error naming both files.
 * Binary masks stored as 0/1 are read as background/foreground; class-index masks must hold
 * only classes of the model (or 255, "ignore"). Then both are resized to the network's size.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/data.h"

#define ASPECT_TOLERANCE 0.01

segcl_status segcl_mask_prepare(segcl_diag *diag, const char *name, segcl_image *mask, int classes,
                                int width, int height, segcl_mask_info *info)
{
    memset(info, 0, sizeof *info);
    info->stored_width = mask->width;
    info->stored_height = mask->height;
    if (mask->channels != 1 || classes < 1 || classes > 255)
        return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT, "%s: masks have one channel",
                               name);
    if (mask->width != width || mask->height != height) {
        double want = (double)width / height, have = (double)mask->width / mask->height;
        if (fabs(have - want) > ASPECT_TOLERANCE * want)
            return segcl_diag_fail(
                diag, SEGCL_ERROR_FORMAT,
                "%s: mask is %dx%d but its image is %dx%d (another aspect ratio)", name,
                mask->width, mask->height, width, height);
        segcl_image resized;
        segcl_status st = segcl_image_resize(diag, mask, width, height, true, &resized);
        if (st)
            return st;
        segcl_image_free(mask);
        *mask = resized;
        info->resized = true;
    }
    const size_t n = (size_t)width * height;
    uint8_t top = 0;
    bool foreground = false;
    for (size_t i = 0; i < n; i++)
        if (mask->pixels[i] > top)
            top = mask->pixels[i];
    if (classes == 1) {
        if (top == 1) { /* 0/1: scaled to 0/255 so the usual "> 127" holds */
            info->zero_one = true;
            for (size_t i = 0; i < n; i++)
                mask->pixels[i] = mask->pixels[i] ? 255 : 0;
        }
        for (size_t i = 0; i < n && !foreground; i++)
            foreground = mask->pixels[i] > 127;
    } else {
        for (size_t i = 0; i < n; i++) {
            int v = mask->pixels[i];
            if (v >= classes && v != 255)
                return segcl_diag_fail(
                    diag, SEGCL_ERROR_FORMAT,
                    "%s: mask holds class %d but the model has %d classes (255 is "
                    "ignored)",
                    name, v, classes);
            foreground = foreground || (v > 0 && v != 255);
            info->only_0_255 = info->only_0_255 || v == 255;
        }
        info->only_0_255 = info->only_0_255 && !foreground;
    }
    info->empty = !foreground;
    return SEGCL_OK;
}

segcl_status segcl_sample_load(segcl_diag *diag, const segcl_sample_entry *e, int size, int classes,
                               segcl_image *image, segcl_image *mask, segcl_mask_info *info)
{
    segcl_image img = {0}, m = {0};
    memset(image, 0, sizeof *image);
    memset(mask, 0, sizeof *mask);
    segcl_status st = segcl_image_load(diag, e->image_path, 3, &img);
    if (!st)
        st = segcl_image_load(diag, e->mask_path, 1, &m);
    if (!st)
        st = segcl_mask_prepare(diag, e->mask_path, &m, classes, img.width, img.height, info);
    if (!st)
        st = segcl_image_resize(diag, &img, size, size, false, image);
    if (!st && (st = segcl_image_resize(diag, &m, size, size, true, mask)))
        segcl_image_free(image);
    segcl_image_free(&img);
    segcl_image_free(&m);
    return st;
}
