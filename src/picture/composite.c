/* Cut-outs and composites: alpha from the model, backgrounds of a colour, a blur or a picture. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picture/picture.h"

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
static segcl_status blur_planes(segcl_diag *diag, float *planes, int count, int w, int h,
                                float radius)
{
    const size_t n = (size_t)w * h;
    float *tmp = segcl_malloc(n * sizeof *tmp);
    double *col = segcl_malloc((size_t)w * sizeof *col);
    if (!tmp || !col) {
        segcl_free(tmp);
        segcl_free(col);
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    const int r = box_half_width(radius);
    for (int k = 0; k < count; k++)
        for (int pass = 0; pass < 3; pass++)
            box_blur(planes + k * n, tmp, w, h, r, col);
    segcl_free(tmp);
    segcl_free(col);
    return SEGCL_OK;
}

segcl_status segcl_blur_plane(segcl_diag *diag, uint8_t *plane, int width, int height, float radius)
{
    if (!(radius > 0))
        return SEGCL_OK;
    const size_t n = (size_t)width * height;
    float *f = segcl_malloc(n * sizeof *f);
    if (!f)
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; i++)
        f[i] = plane[i];
    segcl_status st = blur_planes(diag, f, 1, width, height, radius);
    for (size_t i = 0; i < n && !st; i++)
        plane[i] = segcl_to_byte(f[i]);
    segcl_free(f);
    return st;
}

segcl_status segcl_cutout(segcl_diag *diag, const segcl_image *photo, const uint8_t *alpha,
                          segcl_image *out)
{
    segcl_status st = segcl_image_alloc(diag, photo->width, photo->height, 4, out);
    if (st)
        return st;
    for (size_t i = 0; i < (size_t)photo->width * photo->height; i++) {
        for (int c = 0; c < 3; c++)
            out->pixels[i * 4 + c] = segcl_photo_channel(photo, i, c);
        out->pixels[i * 4 + 3] = alpha[i];
    }
    return SEGCL_OK;
}

segcl_status segcl_background_parse(segcl_diag *diag, const char *spec, segcl_background *out)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec)
        return segcl_diag_fail(
            diag, SEGCL_ERROR_INVALID_ARGUMENT,
            "empty background (give #RRGGBB, blur, blur:RADIUS or an image file)");
    if (spec[0] == '#') {
        unsigned r, g, b;
        int used = 0;
        if (strlen(spec) != 7 || sscanf(spec + 1, "%2x%2x%2x%n", &r, &g, &b, &used) != 3 ||
            used != 6)
            return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                                   "background '%s' is not a colour #RRGGBB (six hex digits)",
                                   spec);
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
            return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                                   "background '%s': the blur radius must be a number of pixels in "
                                   "(0, 1000]",
                                   spec);
        out->kind = SEGCL_BACKGROUND_BLUR;
        out->radius = (float)r;
        return SEGCL_OK;
    }
    segcl_status st = segcl_image_load(diag, spec, 3, &out->image);
    if (st) {
        char message[900];
        snprintf(message, sizeof message, "%s", segcl_diag_message(diag));
        return segcl_diag_fail_setting(diag, segcl_diag_setting(diag), st, "background: %s",
                                       message);
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
static segcl_status cover(segcl_diag *diag, const segcl_image *bg, int w, int h, segcl_image *out)
{
    const double s = fmax((double)w / bg->width, (double)h / bg->height);
    int sw = (int)ceil(bg->width * s - 1e-9), sh = (int)ceil(bg->height * s - 1e-9);
    sw = sw < w ? w : sw;
    sh = sh < h ? h : sh;
    segcl_image scaled;
    segcl_status st = segcl_image_resize(diag, bg, sw, sh, false, &scaled);
    if (st)
        return st;
    if ((st = segcl_image_alloc(diag, w, h, 3, out)) == SEGCL_OK) {
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
static segcl_status blurred_background(segcl_diag *diag, const segcl_image *photo,
                                       const uint8_t *alpha, float radius, segcl_image *out)
{
    const int w = photo->width, h = photo->height;
    const size_t n = (size_t)w * h;
    if (!(radius > 0)) {
        radius = (float)(w > h ? w : h) / 32.0f;
        radius = radius < 4 ? 4 : radius;
    }
    float *f = segcl_malloc(7 * n * sizeof *f); /* weighted RGB, weight, plain RGB */
    segcl_status st =
        f ? SEGCL_OK : segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n && !st; i++) {
        const float wgt = 1.0f - alpha[i] / 255.0f;
        for (int c = 0; c < 3; c++) {
            const float v = segcl_photo_channel(photo, i, c);
            f[c * n + i] = wgt * v;
            f[(4 + c) * n + i] = v;
        }
        f[3 * n + i] = wgt;
    }
    if (!st)
        st = blur_planes(diag, f, 7, w, h, radius);
    if (!st)
        st = segcl_image_alloc(diag, w, h, 3, out);
    for (size_t i = 0; i < n && !st; i++) {
        const float wgt = f[3 * n + i];
        for (int c = 0; c < 3; c++)
            out->pixels[i * 3 + c] =
                segcl_to_byte(wgt > 1e-3f ? f[c * n + i] / wgt : f[(4 + c) * n + i]);
    }
    segcl_free(f);
    return st;
}

segcl_status segcl_composite(segcl_diag *diag, const segcl_image *photo, const uint8_t *alpha,
                             const segcl_background *bg, segcl_image *out)
{
    const int w = photo->width, h = photo->height;
    segcl_image back = {0};
    segcl_status st = SEGCL_OK;
    if (bg->kind == SEGCL_BACKGROUND_IMAGE)
        st = cover(diag, &bg->image, w, h, &back);
    else if (bg->kind == SEGCL_BACKGROUND_BLUR)
        st = blurred_background(diag, photo, alpha, bg->radius, &back);
    if (!st)
        st = segcl_image_alloc(diag, w, h, 3, out);
    for (size_t i = 0; i < (size_t)w * h && !st; i++) {
        const int a = alpha[i];
        for (int c = 0; c < 3; c++) {
            const int fg = segcl_photo_channel(photo, i, c);
            const int b = bg->kind == SEGCL_BACKGROUND_COLOUR ? bg->rgb[c] : back.pixels[i * 3 + c];
            out->pixels[i * 3 + c] = (uint8_t)((a * fg + (255 - a) * b + 127) / 255);
        }
    }
    segcl_image_free(&back);
    return st;
}
