/* Instances: the connected regions of each class, and a picture of them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picture/picture.h"

/* A colour per instance: hues a golden angle apart, bright and saturated. */
static void instance_colour(size_t k, uint8_t rgb[3])
{
    const double hue = fmod(0.13 + 0.6180339887498949 * (double)k, 1.0) * 6.0, s = 0.8, v = 1.0;
    const int sector = (int)hue;
    const double f = hue - sector, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r, g, b;
    switch (sector) {
    case 0:
        r = v, g = t, b = p;
        break;
    case 1:
        r = q, g = v, b = p;
        break;
    case 2:
        r = p, g = v, b = t;
        break;
    case 3:
        r = p, g = q, b = v;
        break;
    case 4:
        r = t, g = p, b = v;
        break;
    default:
        r = v, g = p, b = q;
        break;
    }
    rgb[0] = segcl_to_byte(r * 255), rgb[1] = segcl_to_byte(g * 255),
    rgb[2] = segcl_to_byte(b * 255);
}

/* A stack of pixel indices for the flood fill, grown by doubling. */
typedef struct pixel_stack {
    size_t *at;
    size_t top, cap;
} pixel_stack;

static bool stack_push(pixel_stack *s, size_t i)
{
    if (s->top == s->cap) {
        const size_t ncap = s->cap ? 2 * s->cap : 1024;
        size_t *g = segcl_realloc(s->at, ncap * sizeof *g);
        if (!g)
            return false;
        s->at = g, s->cap = ncap;
    }
    s->at[s->top++] = i;
    return true;
}

/* Fills the 8-connected region of labels[start]'s class from start, marking it `id` in ids and
 * measuring it into in (label, area, bounding box, centroid). */
static segcl_status flood_fill(segcl_diag *diag, const uint8_t *labels, int width, int height,
                               size_t start, uint32_t id, uint32_t *ids, pixel_stack *stack,
                               segcl_instance *in)
{
    const uint8_t label = labels[start];
    memset(in, 0, sizeof *in);
    in->label = label;
    in->x0 = width, in->y0 = height, in->x1 = -1, in->y1 = -1;
    double sx = 0, sy = 0;
    ids[start] = id;
    stack->top = 0;
    if (!stack_push(stack, start))
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    while (stack->top) {
        const size_t i = stack->at[--stack->top];
        const int x = (int)(i % (size_t)width), y = (int)(i / (size_t)width);
        in->area++;
        sx += x, sy += y;
        in->x0 = x < in->x0 ? x : in->x0, in->x1 = x > in->x1 ? x : in->x1;
        in->y0 = y < in->y0 ? y : in->y0, in->y1 = y > in->y1 ? y : in->y1;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                const int xx = x + dx, yy = y + dy;
                if ((!dx && !dy) || xx < 0 || yy < 0 || xx >= width || yy >= height)
                    continue;
                const size_t j = (size_t)yy * width + xx;
                if (labels[j] != label || ids[j])
                    continue;
                ids[j] = id;
                if (!stack_push(stack, j))
                    return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                                           "out of host memory");
            }
    }
    in->cx = sx / (double)in->area;
    in->cy = sy / (double)in->area;
    return SEGCL_OK;
}

/* Drops the instances smaller than min_area and numbers the rest 1.. in order, colouring each;
 * with ids, renumbers its pixels (dropped ones become 0). Returns how many are kept. */
static segcl_status keep_large(segcl_diag *diag, segcl_instance *all, size_t found,
                               uint64_t min_area, uint32_t *ids, size_t n, size_t *kept_out)
{
    uint32_t *keep = segcl_malloc((found + 1) * sizeof *keep);
    if (!keep)
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    size_t kept = 0;
    keep[0] = 0;
    for (size_t k = 0; k < found; k++) {
        if (all[k].area < min_area) {
            keep[k + 1] = 0;
            continue;
        }
        keep[k + 1] = (uint32_t)(kept + 1);
        all[kept] = all[k];
        instance_colour(kept, all[kept].rgb);
        kept++;
    }
    if (ids)
        for (size_t i = 0; i < n; i++)
            ids[i] = keep[ids[i]];
    segcl_free(keep);
    *kept_out = kept;
    return SEGCL_OK;
}

segcl_status segcl_find_instances(segcl_diag *diag, const uint8_t *labels, int width, int height,
                                  uint64_t min_area, uint32_t *ids_out, segcl_instance **instances,
                                  size_t *count)
{
    const size_t n = (size_t)width * height;
    *instances = NULL;
    *count = 0;
    uint32_t *ids = ids_out ? ids_out : segcl_malloc(n * sizeof *ids);
    pixel_stack stack = {0};
    segcl_instance *all = NULL;
    size_t found = 0, cap = 0;
    segcl_status st = SEGCL_OK;
    if (!ids) {
        st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    memset(ids, 0, n * sizeof *ids);
    /* flood fill from each unvisited pixel in raster order; ids hold found + 1 */
    for (size_t start = 0; start < n && !st; start++) {
        if (!labels[start] || ids[start])
            continue;
        if (found == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            segcl_instance *g = ncap < UINT32_MAX - 1 ? segcl_realloc(all, ncap * sizeof *g) : NULL;
            if (!g) {
                st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
            all = g, cap = ncap;
        }
        st = flood_fill(diag, labels, width, height, start, (uint32_t)found + 1, ids, &stack,
                        &all[found]);
        found++;
    }
    size_t kept = 0;
    if (st || (st = keep_large(diag, all, found, min_area, ids_out, n, &kept)))
        goto done;
    *instances = all;
    *count = kept;
    all = NULL;
done:
    if (ids != ids_out)
        segcl_free(ids);
    segcl_free(stack.at);
    segcl_free(all);
    return st;
}

segcl_status segcl_instances_image(segcl_diag *diag, const uint32_t *ids, int width, int height,
                                   const segcl_instance *instances, segcl_image *out)
{
    segcl_status st = segcl_image_alloc(diag, width, height, 3, out);
    if (st)
        return st;
    for (size_t i = 0; i < (size_t)width * height; i++) {
        static const uint8_t black[3] = {0, 0, 0};
        memcpy(out->pixels + i * 3, ids[i] ? instances[ids[i] - 1].rgb : black, 3);
    }
    return SEGCL_OK;
}
