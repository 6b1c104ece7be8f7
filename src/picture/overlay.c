/* Overlays: the regions of a label map drawn over the photo, and the training overlay. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picture/picture.h"

static const uint8_t overlay_palette[8][3] = {{255, 64, 64},  {64, 160, 255}, {64, 220, 96},
                                              {255, 200, 32}, {200, 80, 255}, {32, 220, 220},
                                              {255, 128, 0},  {160, 160, 160}};

const uint8_t *segcl_overlay_colour(int c)
{
    return overlay_palette[(c - 1 + 8) % 8];
}

int segcl_contour_width(int width, int height)
{
    return (width > height ? width : height) > 512 ? 3 : 2;
}

/* Sliding minimum and maximum of labels over a (2r+1)^2 window (clamped at the edges), by
 * rows then columns: a pixel lies within r of another label when either differs from it. */
static segcl_status window_min_max(segcl_diag *diag, const uint8_t *labels, int w, int h, int r,
                                   uint8_t **lo_out, uint8_t **hi_out)
{
    const size_t n = (size_t)w * h;
    uint8_t *lo = segcl_malloc(n), *hi = segcl_malloc(n), *tlo = segcl_malloc(n),
            *thi = segcl_malloc(n);
    segcl_status st = SEGCL_OK;
    if (!lo || !hi || !tlo || !thi) {
        st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t a = 255, b = 0;
            for (int d = -r; d <= r; d++) {
                int xx = x + d < 0 ? 0 : x + d >= w ? w - 1 : x + d;
                uint8_t v = labels[(size_t)y * w + xx];
                a = v < a ? v : a;
                b = v > b ? v : b;
            }
            tlo[(size_t)y * w + x] = a, thi[(size_t)y * w + x] = b;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t a = 255, b = 0;
            for (int d = -r; d <= r; d++) {
                int yy = y + d < 0 ? 0 : y + d >= h ? h - 1 : y + d;
                size_t i = (size_t)yy * w + x;
                a = tlo[i] < a ? tlo[i] : a;
                b = thi[i] > b ? thi[i] : b;
            }
            lo[(size_t)y * w + x] = a, hi[(size_t)y * w + x] = b;
        }
    *lo_out = lo, *hi_out = hi;
    lo = hi = NULL;
done:
    segcl_free(lo);
    segcl_free(hi);
    segcl_free(tlo);
    segcl_free(thi);
    return st;
}

segcl_status segcl_overlay(segcl_diag *diag, const segcl_image *photo, const uint8_t *labels,
                           segcl_overlay_style style, segcl_image *out)
{
    const int w = photo->width, h = photo->height;
    uint8_t *lo = NULL, *hi = NULL;
    segcl_status st = window_min_max(diag, labels, w, h, segcl_contour_width(w, h), &lo, &hi);
    if (st)
        return st;
    if ((st = segcl_image_alloc(diag, w, h, 3, out))) {
        segcl_free(lo);
        segcl_free(hi);
        return st;
    }
    for (size_t i = 0; i < (size_t)w * h; i++) {
        uint8_t rgb[3];
        for (int c = 0; c < 3; c++)
            rgb[c] = segcl_photo_channel(photo, i, c);
        const int label = labels[i];
        if (label) {
            const uint8_t *col = segcl_overlay_colour(label);
            const bool edge = lo[i] != label || hi[i] != label;
            for (int c = 0; c < 3; c++)
                if (edge)
                    rgb[c] = col[c];
                else if (style == SEGCL_OVERLAY_FILL)
                    rgb[c] = (uint8_t)((rgb[c] * 3 + col[c] * 2) / 5);
        }
        memcpy(out->pixels + i * 3, rgb, 3);
    }
    segcl_free(lo);
    segcl_free(hi);
    return SEGCL_OK;
}

/* ---- captions: a 5 x 7 pixel font of the few characters they use ---- */

static const struct glyph {
    char c;
    uint8_t rows[7]; /* 5 bits each, most significant left */
} glyphs[] = {
    {'0', {14, 17, 19, 21, 25, 17, 14}}, {'1', {4, 12, 4, 4, 4, 4, 14}},
    {'2', {14, 17, 1, 2, 4, 8, 31}},     {'3', {31, 2, 4, 2, 1, 17, 14}},
    {'4', {2, 6, 10, 18, 31, 2, 2}},     {'5', {31, 16, 30, 1, 1, 17, 14}},
    {'6', {6, 8, 16, 30, 17, 17, 14}},   {'7', {31, 1, 2, 4, 8, 8, 8}},
    {'8', {14, 17, 17, 14, 17, 17, 14}}, {'9', {14, 17, 17, 15, 1, 2, 12}},
    {'.', {0, 0, 0, 0, 0, 12, 12}},      {'-', {0, 0, 0, 31, 0, 0, 0}},
    {'A', {14, 17, 17, 31, 17, 17, 17}}, {'C', {14, 17, 16, 16, 16, 17, 14}},
    {'D', {28, 18, 17, 17, 17, 18, 28}}, {'E', {31, 16, 16, 30, 16, 16, 31}},
    {'G', {14, 17, 16, 23, 17, 17, 15}}, {'H', {17, 17, 17, 31, 17, 17, 17}},
    {'I', {14, 4, 4, 4, 4, 4, 14}},      {'N', {17, 17, 25, 21, 19, 17, 17}},
    {'O', {14, 17, 17, 17, 17, 17, 14}}, {'P', {30, 17, 17, 30, 16, 16, 16}},
    {'R', {30, 17, 17, 30, 20, 18, 17}}, {'T', {31, 4, 4, 4, 4, 4, 4}},
    {'U', {17, 17, 17, 17, 17, 17, 14}}, {'W', {17, 17, 17, 21, 21, 21, 10}},
};

/* Draws text (characters outside the font are blank) at (x, y), `scale` pixels per dot. */
static void draw_text(segcl_image *img, int x, int y, int scale, const char *text,
                      const uint8_t rgb[3])
{
    for (; *text; text++, x += 6 * scale) {
        const struct glyph *g = NULL;
        for (size_t k = 0; k < sizeof glyphs / sizeof glyphs[0] && !g; k++)
            if (glyphs[k].c == *text)
                g = &glyphs[k];
        for (int r = 0; g && r < 7; r++)
            for (int c = 0; c < 5; c++) {
                if (!(g->rows[r] >> (4 - c) & 1))
                    continue;
                for (int dy = 0; dy < scale; dy++)
                    for (int dx = 0; dx < scale; dx++) {
                        const int xx = x + c * scale + dx, yy = y + r * scale + dy;
                        if (xx >= 0 && yy >= 0 && xx < img->width && yy < img->height)
                            memcpy(img->pixels + ((size_t)yy * img->width + xx) * img->channels,
                                   rgb, 3);
                    }
            }
    }
}

segcl_status segcl_training_overlay(segcl_diag *diag, const segcl_image *photo,
                                    const uint8_t *truth, const uint8_t *predicted, double dice,
                                    segcl_image *out)
{
    const int w = photo->width, h = photo->height, scale = w >= 256 ? 2 : 1;
    const int bar = 11 * scale, gap = 4;
    segcl_image left = {0}, right = {0};
    segcl_status st;
    if ((st = segcl_overlay(diag, photo, truth, SEGCL_OVERLAY_FILL, &left)) ||
        (st = segcl_overlay(diag, photo, predicted, SEGCL_OVERLAY_FILL, &right)) ||
        (st = segcl_image_alloc(diag, 2 * w + gap, h + bar, 3, out)))
        goto done;
    memset(out->pixels, 40, (size_t)out->width * out->height * 3);
    for (int y = 0; y < h; y++) {
        uint8_t *row = out->pixels + (size_t)(y + bar) * out->width * 3;
        memcpy(row, left.pixels + (size_t)y * w * 3, (size_t)w * 3);
        memcpy(row + (size_t)(w + gap) * 3, right.pixels + (size_t)y * w * 3, (size_t)w * 3);
    }
    static const uint8_t white[3] = {255, 255, 255};
    char caption[64];
    if (isfinite(dice))
        snprintf(caption, sizeof caption, "PREDICTION DICE %.3f", dice);
    else
        snprintf(caption, sizeof caption, "PREDICTION");
    draw_text(out, 2 * scale, 2 * scale, scale, w >= 90 * scale ? "GROUND TRUTH" : "TRUTH", white);
    draw_text(out, w + gap + 2 * scale, 2 * scale, scale,
              w >= 120 * scale ? caption
              : isfinite(dice) ? caption + 11
                               : "PRED",
              white);
done:
    segcl_image_free(&left);
    segcl_image_free(&right);
    return st;
}
