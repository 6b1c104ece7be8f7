/* Cut-outs and composites: alpha from the model, backgrounds of a colour, a blur or a picture. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

bool segcl_hex_colour_parse(const char *text, uint8_t rgb[3])
{
    /* six digits and nothing else: sscanf's %x would take a sign or a 0x prefix as well */
    if (text[0] != '#' || strlen(text) != 7)
        return false;
    for (int c = 0; c < 3; c++) {
        const int hi = hex_digit(text[1 + 2 * c]), lo = hex_digit(text[2 + 2 * c]);
        if (hi < 0 || lo < 0)
            return false;
        rgb[c] = (uint8_t)(hi * 16 + lo);
    }
    return true;
}

/* A background file is refused at once when it is no regular file (a device would be read up
 * to the decoder's 2 GiB, a FIFO waited on) or larger than any image within the pixel limit
 * (4 bytes a pixel, as an uncompressed BMP, and 1 MiB of headers). */
static segcl_status check_background_file(segcl_diag *diag, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return segcl_diag_fail(diag, SEGCL_ERROR_IO,
                               "%s is not a regular file (a device, FIFO or folder)", path);
    const uint64_t limit = segcl_diag_max_pixels(diag), bound = 4 * limit + (1u << 20);
    if ((uint64_t)sb.st_size > bound)
        return segcl_diag_fail_setting(diag, "max_pixels", SEGCL_ERROR_FORMAT,
                                       "%s is %llu bytes, more than any image of at most %llu "
                                       "pixels takes",
                                       path, (unsigned long long)sb.st_size,
                                       (unsigned long long)limit);
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
        if (!segcl_hex_colour_parse(spec, out->rgb))
            return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                                   "background '%s' is not a colour #RRGGBB (six hex digits)",
                                   spec);
        out->kind = SEGCL_BACKGROUND_COLOUR;
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
        /* from 0.1: a radius that rounds to 0 as a float would mean "from the photo's size" */
        if (errno || end == spec + 5 || *end || !(r >= 0.1 && r <= 1000))
            return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                                   "background '%s': the blur radius must be a number of pixels "
                                   "from 0.1 to 1000",
                                   spec);
        out->kind = SEGCL_BACKGROUND_BLUR;
        out->radius = (float)r;
        return SEGCL_OK;
    }
    segcl_status st = check_background_file(diag, spec);
    if (!st)
        st = segcl_image_load(diag, spec, 3, &out->image);
    if (!st && !(out->path = segcl_strdup(spec))) {
        segcl_image_free(&out->image);
        st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
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
    segcl_free(bg->path);
    bg->path = NULL;
    bg->kind = SEGCL_BACKGROUND_NONE;
}

/* The background image scaled to cover w x h (aspect kept) and its centre cut out: only the
 * window that shows is resampled, so an aspect far from the photo's costs no more than the
 * photo (a 65535 x 1 strip over a 64 x 64 photo scales to 4 million pixels wide, of which 64
 * show), and sizes past an int never reach one. */
static segcl_status cover(segcl_diag *diag, const segcl_background *bg, int w, int h,
                          segcl_image *out)
{
    const segcl_image *img = &bg->image;
    const double s = fmax((double)w / img->width, (double)h / img->height);
    const double fw = fmax(ceil(img->width * s - 1e-9), w),
                 fh = fmax(ceil(img->height * s - 1e-9), h);
    /* exact in a double and an int64 */
    if (!(fw < 0x1p52 && fh < 0x1p52))
        return segcl_diag_fail(diag, SEGCL_ERROR_FORMAT,
                               "background %s (%dx%d) cannot be scaled to cover a %dx%d photo",
                               bg->path ? bg->path : "image", img->width, img->height, w, h);
    const int64_t sw = (int64_t)fw, sh = (int64_t)fh;
    segcl_status st =
        segcl_image_resize_window(diag, img, sw, sh, (sw - w) / 2, (sh - h) / 2, w, h, out);
    if (st && bg->path) {
        char message[900];
        snprintf(message, sizeof message, "%s", segcl_diag_message(diag));
        st = segcl_diag_fail(diag, st, "background %s: %s", bg->path, message);
    }
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
        st = cover(diag, bg, w, h, &back);
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
