/* Pictures for people: overlays, cut-outs and composites, instances, the training curve. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl.h"
#include "io/visual.h"

static const uint8_t overlay_palette[8][3] = {{255, 64, 64},  {64, 160, 255}, {64, 220, 96},
                                              {255, 200, 32}, {200, 80, 255}, {32, 220, 220},
                                              {255, 128, 0},  {160, 160, 160}};

const uint8_t *segcl_overlay_colour(int c)
{
    return overlay_palette[(c - 1 + 8) % 8];
}

/* Channel c of pixel i of a photo (a gray photo gives its one channel for each). */
static inline uint8_t channel(const segcl_image *photo, size_t i, int c)
{
    return photo->pixels[i * photo->channels + (photo->channels >= 3 ? c : 0)];
}

int segcl_contour_width(int width, int height)
{
    return (width > height ? width : height) > 512 ? 3 : 2;
}

/* Sliding minimum and maximum of labels over a (2r+1)^2 window (clamped at the edges), by
 * rows then columns: a pixel lies within r of another label when either differs from it. */
static segcl_status window_min_max(segcl_context *ctx, const uint8_t *labels, int w, int h, int r,
                                   uint8_t **lo_out, uint8_t **hi_out)
{
    const size_t n = (size_t)w * h;
    uint8_t *lo = segcl_malloc(n), *hi = segcl_malloc(n), *tlo = segcl_malloc(n),
            *thi = segcl_malloc(n);
    segcl_status st = SEGCL_OK;
    if (!lo || !hi || !tlo || !thi) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
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

segcl_status segcl_overlay(segcl_context *ctx, const segcl_image *photo, const uint8_t *labels,
                           segcl_overlay_style style, segcl_image *out)
{
    const int w = photo->width, h = photo->height;
    uint8_t *lo = NULL, *hi = NULL;
    segcl_status st = window_min_max(ctx, labels, w, h, segcl_contour_width(w, h), &lo, &hi);
    if (st)
        return st;
    if ((st = segcl_image_alloc(segcl_context_diag(ctx), w, h, 3, out))) {
        segcl_free(lo);
        segcl_free(hi);
        return st;
    }
    for (size_t i = 0; i < (size_t)w * h; i++) {
        uint8_t rgb[3];
        for (int c = 0; c < 3; c++)
            rgb[c] = channel(photo, i, c);
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

segcl_status segcl_training_overlay(segcl_context *ctx, const segcl_image *photo,
                                    const uint8_t *truth, const uint8_t *predicted, double dice,
                                    segcl_image *out)
{
    const int w = photo->width, h = photo->height, scale = w >= 256 ? 2 : 1;
    const int bar = 11 * scale, gap = 4;
    segcl_image left = {0}, right = {0};
    segcl_status st;
    if ((st = segcl_overlay(ctx, photo, truth, SEGCL_OVERLAY_FILL, &left)) ||
        (st = segcl_overlay(ctx, photo, predicted, SEGCL_OVERLAY_FILL, &right)) ||
        (st = segcl_image_alloc(segcl_context_diag(ctx), 2 * w + gap, h + bar, 3, out)))
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
    draw_text(out, 2 * scale, 2 * scale, scale, w >= 90 * scale ? "GROUND TRUTH" : "TRUTH",
              white);
    draw_text(out, w + gap + 2 * scale, 2 * scale, scale,
              w >= 120 * scale ? caption : isfinite(dice) ? caption + 11 : "PRED", white);
done:
    segcl_image_free(&left);
    segcl_image_free(&right);
    return st;
}

/* One box blur of half-width r (edges clamped) of the float plane a, through tmp (the same
 * size): rows into tmp, then columns back into a, each a running sum. */
static void box_blur(float *a, float *tmp, int w, int h, int r, double *col)
{
    const double inv = 1.0 / (2 * r + 1);
    for (int y = 0; y < h; y++) {
        const float *p = a + (size_t)y * w;
        float *q = tmp + (size_t)y * w;
        double s = 0;
        for (int d = -r; d <= r; d++)
            s += p[d < 0 ? 0 : d >= w ? w - 1 : d];
        for (int x = 0; x < w; x++) {
            q[x] = (float)(s * inv);
            int add = x + r + 1, sub = x - r;
            s += p[add >= w ? w - 1 : add] - p[sub < 0 ? 0 : sub];
        }
    }
    for (int x = 0; x < w; x++)
        col[x] = 0;
    for (int d = -r; d <= r; d++) {
        const float *p = tmp + (size_t)(d < 0 ? 0 : d >= h ? h - 1 : d) * w;
        for (int x = 0; x < w; x++)
            col[x] += p[x];
    }
    for (int y = 0; y < h; y++) {
        float *q = a + (size_t)y * w;
        for (int x = 0; x < w; x++)
            q[x] = (float)(col[x] * inv);
        int add = y + r + 1 >= h ? h - 1 : y + r + 1, sub = y - r < 0 ? 0 : y - r;
        const float *pa = tmp + (size_t)add * w, *ps = tmp + (size_t)sub * w;
        for (int x = 0; x < w; x++)
            col[x] += pa[x] - ps[x];
    }
}

/* Half-width of each of three box passes whose sum has a standard deviation of radius / 2. */
static int box_half_width(float radius)
{
    const double sigma = radius / 2.0, width = sqrt(4 * sigma * sigma + 1);
    int r = (int)lround((width - 1) / 2);
    return r < 1 ? 1 : r;
}

/* Blurs `planes` float planes of w x h in place (three box passes each). */
static segcl_status blur_planes(segcl_context *ctx, float *planes, int count, int w, int h,
                                float radius)
{
    const size_t n = (size_t)w * h;
    float *tmp = segcl_malloc(n * sizeof *tmp);
    double *col = segcl_malloc((size_t)w * sizeof *col);
    if (!tmp || !col) {
        segcl_free(tmp);
        segcl_free(col);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    const int r = box_half_width(radius);
    for (int k = 0; k < count; k++)
        for (int pass = 0; pass < 3; pass++)
            box_blur(planes + k * n, tmp, w, h, r, col);
    segcl_free(tmp);
    segcl_free(col);
    return SEGCL_OK;
}

static uint8_t to_byte(double v)
{
    long b = lround(v);
    return (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
}

segcl_status segcl_blur_plane(segcl_context *ctx, uint8_t *plane, int width, int height,
                              float radius)
{
    if (!(radius > 0))
        return SEGCL_OK;
    const size_t n = (size_t)width * height;
    float *f = segcl_malloc(n * sizeof *f);
    if (!f)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; i++)
        f[i] = plane[i];
    segcl_status st = blur_planes(ctx, f, 1, width, height, radius);
    for (size_t i = 0; i < n && !st; i++)
        plane[i] = to_byte(f[i]);
    segcl_free(f);
    return st;
}

segcl_status segcl_cutout(segcl_context *ctx, const segcl_image *photo, const uint8_t *alpha,
                          segcl_image *out)
{
    segcl_status st =
        segcl_image_alloc(segcl_context_diag(ctx), photo->width, photo->height, 4, out);
    if (st)
        return st;
    for (size_t i = 0; i < (size_t)photo->width * photo->height; i++) {
        for (int c = 0; c < 3; c++)
            out->pixels[i * 4 + c] =
                channel(photo, i, c);
        out->pixels[i * 4 + 3] = alpha[i];
    }
    return SEGCL_OK;
}

segcl_status segcl_background_parse(segcl_context *ctx, const char *spec, segcl_background *out)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "empty background (give #RRGGBB, blur, blur:RADIUS or an image file)");
    if (spec[0] == '#') {
        unsigned r, g, b;
        int used = 0;
        if (strlen(spec) != 7 || sscanf(spec + 1, "%2x%2x%2x%n", &r, &g, &b, &used) != 3 ||
            used != 6)
            return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                              "background '%s' is not a colour #RRGGBB (six hex digits)", spec);
        out->kind = SEGCL_BACKGROUND_COLOUR;
        out->rgb[0] = (uint8_t)r, out->rgb[1] = (uint8_t)g, out->rgb[2] = (uint8_t)b;
        return SEGCL_OK;
    }
    if (!strcmp(spec, "blur")) {
        out->kind = SEGCL_BACKGROUND_BLUR;
        return SEGCL_OK;
    }
    if (!strncmp(spec, "blur:", 5)) {
        char *end;
        errno = 0;
        double r = strtod(spec + 5, &end);
        if (errno || end == spec + 5 || *end || !(r > 0 && r <= 1000))
            return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                              "background '%s': the blur radius must be a number of pixels in "
                              "(0, 1000]",
                              spec);
        out->kind = SEGCL_BACKGROUND_BLUR;
        out->radius = (float)r;
        return SEGCL_OK;
    }
    segcl_status st = segcl_image_load(segcl_context_diag(ctx), spec, 3, &out->image);
    if (st) {
        char message[900];
        snprintf(message, sizeof message, "%s", segcl_context_error(ctx));
        return segcl_fail(ctx, st, "background: %s", message);
    }
    out->kind = SEGCL_BACKGROUND_IMAGE;
    return SEGCL_OK;
}

void segcl_background_free(segcl_background *bg)
{
    if (!bg)
        return;
    segcl_image_free(&bg->image);
    bg->kind = SEGCL_BACKGROUND_NONE;
}

/* The background image scaled to cover w x h (aspect kept) and its centre cut out. */
static segcl_status cover(segcl_context *ctx, const segcl_image *bg, int w, int h,
                          segcl_image *out)
{
    const double s = fmax((double)w / bg->width, (double)h / bg->height);
    int sw = (int)ceil(bg->width * s - 1e-9), sh = (int)ceil(bg->height * s - 1e-9);
    sw = sw < w ? w : sw;
    sh = sh < h ? h : sh;
    segcl_image scaled;
    segcl_status st = segcl_image_resize(segcl_context_diag(ctx), bg, sw, sh, false, &scaled);
    if (st)
        return st;
    if ((st = segcl_image_alloc(segcl_context_diag(ctx), w, h, 3, out)) == SEGCL_OK) {
        const int ox = (sw - w) / 2, oy = (sh - h) / 2;
        for (int y = 0; y < h; y++)
            memcpy(out->pixels + (size_t)y * w * 3,
                   scaled.pixels + ((size_t)(y + oy) * sw + ox) * 3, (size_t)w * 3);
    }
    segcl_image_free(&scaled);
    return st;
}

/* The photo's background, blurred with weights 1 - alpha (a normalised blur: the person's own
 * pixels do not bleed into it); where no background is near, the plain blur. */
static segcl_status blurred_background(segcl_context *ctx, const segcl_image *photo,
                                       const uint8_t *alpha, float radius, segcl_image *out)
{
    const int w = photo->width, h = photo->height;
    const size_t n = (size_t)w * h;
    if (!(radius > 0)) {
        radius = (float)(w > h ? w : h) / 32.0f;
        radius = radius < 4 ? 4 : radius;
    }
    float *f = segcl_malloc(7 * n * sizeof *f); /* weighted RGB, weight, plain RGB */
    segcl_status st = f ? SEGCL_OK
                        : segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n && !st; i++) {
        const float wgt = 1.0f - alpha[i] / 255.0f;
        for (int c = 0; c < 3; c++) {
            const float v = channel(photo, i, c);
            f[c * n + i] = wgt * v;
            f[(4 + c) * n + i] = v;
        }
        f[3 * n + i] = wgt;
    }
    if (!st)
        st = blur_planes(ctx, f, 7, w, h, radius);
    if (!st)
        st = segcl_image_alloc(segcl_context_diag(ctx), w, h, 3, out);
    for (size_t i = 0; i < n && !st; i++) {
        const float wgt = f[3 * n + i];
        for (int c = 0; c < 3; c++)
            out->pixels[i * 3 + c] =
                to_byte(wgt > 1e-3f ? f[c * n + i] / wgt : f[(4 + c) * n + i]);
    }
    segcl_free(f);
    return st;
}

segcl_status segcl_composite(segcl_context *ctx, const segcl_image *photo, const uint8_t *alpha,
                             const segcl_background *bg, segcl_image *out)
{
    const int w = photo->width, h = photo->height;
    segcl_image back = {0};
    segcl_status st = SEGCL_OK;
    if (bg->kind == SEGCL_BACKGROUND_IMAGE)
        st = cover(ctx, &bg->image, w, h, &back);
    else if (bg->kind == SEGCL_BACKGROUND_BLUR)
        st = blurred_background(ctx, photo, alpha, bg->radius, &back);
    if (!st)
        st = segcl_image_alloc(segcl_context_diag(ctx), w, h, 3, out);
    for (size_t i = 0; i < (size_t)w * h && !st; i++) {
        const int a = alpha[i];
        for (int c = 0; c < 3; c++) {
            const int fg = channel(photo, i, c);
            const int b = bg->kind == SEGCL_BACKGROUND_COLOUR ? bg->rgb[c] : back.pixels[i * 3 + c];
            out->pixels[i * 3 + c] = (uint8_t)((a * fg + (255 - a) * b + 127) / 255);
        }
    }
    segcl_image_free(&back);
    return st;
}

/* A colour per instance: hues a golden angle apart, bright and saturated. */
static void instance_colour(size_t k, uint8_t rgb[3])
{
    const double hue = fmod(0.13 + 0.6180339887498949 * (double)k, 1.0) * 6.0, s = 0.8, v = 1.0;
    const int sector = (int)hue;
    const double f = hue - sector, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r, g, b;
    switch (sector) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
    }
    rgb[0] = to_byte(r * 255), rgb[1] = to_byte(g * 255), rgb[2] = to_byte(b * 255);
}

segcl_status segcl_find_instances(segcl_context *ctx, const uint8_t *labels, int width,
                                  int height, uint64_t min_area, uint32_t *ids_out,
                                  segcl_instance **instances, size_t *count)
{
    const size_t n = (size_t)width * height;
    *instances = NULL;
    *count = 0;
    uint32_t *ids = ids_out ? ids_out : segcl_malloc(n * sizeof *ids);
    size_t *stack = NULL;
    uint32_t *keep = NULL;
    segcl_instance *all = NULL;
    size_t found = 0, cap = 0, stack_cap = 0;
    segcl_status st = SEGCL_OK;
    if (!ids) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
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
                st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
            all = g, cap = ncap;
        }
        const uint8_t label = labels[start];
        const uint32_t id = (uint32_t)found + 1;
        segcl_instance *in = &all[found++];
        memset(in, 0, sizeof *in);
        in->label = label;
        in->x0 = width, in->y0 = height, in->x1 = -1, in->y1 = -1;
        double sx = 0, sy = 0;
        size_t top = 0;
        ids[start] = id;
        if (!stack_cap) {
            stack_cap = 1024;
            if (!(stack = segcl_malloc(stack_cap * sizeof *stack))) {
                st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
        }
        stack[top++] = start;
        while (top && !st) {
            const size_t i = stack[--top];
            const int x = (int)(i % (size_t)width), y = (int)(i / (size_t)width);
            in->area++;
            sx += x, sy += y;
            in->x0 = x < in->x0 ? x : in->x0, in->x1 = x > in->x1 ? x : in->x1;
            in->y0 = y < in->y0 ? y : in->y0, in->y1 = y > in->y1 ? y : in->y1;
            for (int dy = -1; dy <= 1 && !st; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    const int xx = x + dx, yy = y + dy;
                    if ((!dx && !dy) || xx < 0 || yy < 0 || xx >= width || yy >= height)
                        continue;
                    const size_t j = (size_t)yy * width + xx;
                    if (labels[j] != label || ids[j])
                        continue;
                    if (top == stack_cap) {
                        size_t *g = segcl_realloc(stack, 2 * stack_cap * sizeof *g);
                        if (!g) {
                            st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                                            "out of host memory");
                            break;
                        }
                        stack = g, stack_cap *= 2;
                    }
                    ids[j] = id;
                    stack[top++] = j;
                }
        }
        in->cx = sx / (double)in->area;
        in->cy = sy / (double)in->area;
    }
    if (st)
        goto done;
    /* drop the small ones and number the rest 1.. in order */
    keep = segcl_malloc((found + 1) * sizeof *keep);
    if (!keep) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
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
    if (ids_out)
        for (size_t i = 0; i < n; i++)
            ids[i] = keep[ids[i]];
    *instances = all;
    *count = kept;
    all = NULL;
done:
    if (ids != ids_out)
        segcl_free(ids);
    segcl_free(stack);
    segcl_free(keep);
    segcl_free(all);
    return st;
}

segcl_status segcl_instances_image(segcl_context *ctx, const uint32_t *ids, int width, int height,
                                   const segcl_instance *instances, segcl_image *out)
{
    segcl_status st = segcl_image_alloc(segcl_context_diag(ctx), width, height, 3, out);
    if (st)
        return st;
    for (size_t i = 0; i < (size_t)width * height; i++) {
        static const uint8_t black[3] = {0, 0, 0};
        memcpy(out->pixels + i * 3, ids[i] ? instances[ids[i] - 1].rgb : black, 3);
    }
    return SEGCL_OK;
}

/* A tick step of 1, 2 or 5 times a power of ten giving about `ticks` intervals over span. */
static double nice_step(double span, int ticks)
{
    const double raw = span / ticks, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

typedef struct panel {
    double x, y, w, h;           /* plot area */
    double e0, e1, v0, v1;       /* data ranges */
} panel;

static double px(const panel *p, double epoch)
{
    return p->x + (epoch - p->e0) / (p->e1 - p->e0) * p->w;
}

static double py(const panel *p, double v)
{
    return p->y + p->h - (v - p->v0) / (p->v1 - p->v0) * p->h;
}

/* Frame, grid, ticks and tick labels of a panel; the x labels only when `epochs`. */
static void draw_axes(FILE *f, const panel *p, double vstep, const char *ylabel, bool epochs)
{
    const double estep = fmax(1, nice_step(p->e1 - p->e0, 8));
    for (double v = p->v0; v <= p->v1 + 1e-9 * vstep; v += vstep) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
                p->x, py(p, v), p->x + p->w, py(p, v));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                p->x - 4, py(p, v), p->x, py(p, v));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", p->x - 7,
                py(p, v) + 4, fabs(v) < 1e-12 ? 0.0 : v);
    }
    for (double e = ceil(p->e0 / estep) * estep; e <= p->e1 + 1e-9; e += estep) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
                px(p, e), p->y, px(p, e), p->y + p->h);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                px(p, e), p->y + p->h, px(p, e), p->y + p->h + 4);
        if (epochs)
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px(p, e),
                    p->y + p->h + 18, e);
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"black\"/>\n", p->x, p->y, p->w, p->h);
    fprintf(f, "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\">%s"
               "</text>\n", p->x - 48, p->y + p->h / 2, ylabel);
}

/* One series as a line with a dot per epoch (a lone epoch still shows), and its legend entry
 * at row `row` right of the panel. */
static void draw_series(FILE *f, const panel *p, const segcl_curve_point *pts, int count,
                        int which, const char *colour, const char *name, bool dashed, int row)
{
    bool any = false;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", colour,
            dashed ? " stroke-dasharray=\"6 3\"" : "");
    for (int i = 0; i < count; i++) {
        const double v = which == 0   ? pts[i].train_loss
                         : which == 1 ? pts[i].val_loss
                         : which == 2 ? pts[i].val_dice
                                      : pts[i].val_iou;
        if (isfinite(v)) {
            fprintf(f, "%.1f,%.1f ", px(p, (double)pts[i].epoch), py(p, v));
            any = true;
        }
    }
    fprintf(f, "\"/>\n");
    for (int i = 0; i < count && count <= 60; i++) {
        const double v = which == 0   ? pts[i].train_loss
                         : which == 1 ? pts[i].val_loss
                         : which == 2 ? pts[i].val_dice
                                      : pts[i].val_iou;
        if (isfinite(v))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                    px(p, (double)pts[i].epoch), py(p, v), colour);
    }
    const double lx = p->x + p->w + 16, ly = p->y + 14 + 20 * row;
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
               "stroke-width=\"2\"%s/>\n", lx, ly - 4, lx + 24, ly - 4, colour,
            dashed ? " stroke-dasharray=\"6 3\"" : "");
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s%s</text>\n", lx + 30, ly, name,
            any ? "" : " (none)");
}

segcl_status segcl_write_curve_svg(segcl_context *ctx, const char *path,
                                   const segcl_curve_point *pts, int count)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    const double W = 760, H = 560;
    double e0 = count ? (double)pts[0].epoch : 1, e1 = count ? (double)pts[count - 1].epoch : 1;
    if (e1 <= e0)
        e0 -= 0.5, e1 += 0.5;
    double max_loss = 0;
    int best = -1;
    bool by_dice = false;
    for (int i = 0; i < count; i++) {
        if (isfinite(pts[i].train_loss))
            max_loss = fmax(max_loss, pts[i].train_loss);
        if (isfinite(pts[i].val_loss))
            max_loss = fmax(max_loss, pts[i].val_loss);
        if (isfinite(pts[i].val_dice) && (!by_dice || pts[i].val_dice > pts[best].val_dice))
            best = i, by_dice = true;
        else if (!by_dice && isfinite(pts[i].val_loss) &&
                 (best < 0 || pts[i].val_loss < pts[best].val_loss))
            best = i;
    }
    const double lstep = max_loss > 0 ? nice_step(max_loss, 5) : 0.2;
    const panel losses = {80, 40, 520, 200, e0, e1, 0, max_loss > 0 ? ceil(max_loss / lstep) * lstep : 1};
    const panel scores = {80, 300, 520, 200, e0, e1, 0, 1};
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
               "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%g\" y=\"24\" font-size=\"14\" font-weight=\"bold\">Loss</text>\n",
            losses.x);
    fprintf(f, "<text x=\"%g\" y=\"284\" font-size=\"14\" font-weight=\"bold\">Validation "
               "scores</text>\n", scores.x);
    draw_axes(f, &losses, lstep, "loss", false);
    draw_axes(f, &scores, 0.2, "score", true);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">epoch</text>\n",
            scores.x + scores.w / 2, scores.y + scores.h + 38);
    if (best >= 0) {
        const double bx = px(&scores, (double)pts[best].epoch);
        for (int k = 0; k < 2; k++) {
            const panel *p = k ? &scores : &losses;
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#2ca02c\" "
                       "stroke-dasharray=\"2 3\" stroke-width=\"1.5\"/>\n",
                    bx, p->y, bx, p->y + p->h);
        }
    }
    draw_series(f, &losses, pts, count, 0, "#d62728", "train loss", false, 0);
    draw_series(f, &losses, pts, count, 1, "#ff7f0e", "validation loss", true, 1);
    draw_series(f, &scores, pts, count, 2, "#1f77b4", "Dice", false, 0);
    draw_series(f, &scores, pts, count, 3, "#9467bd", "IoU", true, 1);
    if (best >= 0) {
        const double lx = scores.x + scores.w + 16, ly = scores.y + 14 + 20 * 2;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#2ca02c\" "
                   "stroke-dasharray=\"2 3\" stroke-width=\"1.5\"/>\n", lx + 12, ly - 12, lx + 12, ly + 2);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">best: epoch %ld</text>\n", lx + 30, ly,
                pts[best].epoch);
        if (by_dice) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">Dice %.4f</text>\n", lx + 30, ly + 18,
                    pts[best].val_dice);
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"none\" stroke=\"#2ca02c\" "
                       "stroke-width=\"2\"/>\n",
                    px(&scores, (double)pts[best].epoch), py(&scores, pts[best].val_dice));
        }
    }
    fprintf(f, "</svg>\n");
    const bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed)
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    return SEGCL_OK;
}
