/*
 * Images in memory: allocation, resizing (antialiased for photos, nearest for masks) and
 * PNG/JPEG writing. Reading image files is src/data/decode.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <turbojpeg.h>

#include "data/data.h"

#define JPEG_MAX_SIDE 65500        /* libjpeg's JPEG_MAX_DIMENSION */
#define HARD_MAX_PIXELS (1u << 28) /* no image larger than 16384 x 16384, whatever the limit */

void segcl_image_free(segcl_image *img)
{
    if (!img)
        return;
    segcl_free(img->pixels);
    img->pixels = NULL;
    img->width = img->height = img->channels = 0;
}

segcl_status segcl_image_alloc(segcl_diag *diag, int width, int height, int channels,
                               segcl_image *out)
{
    out->pixels = NULL;
    out->width = out->height = out->channels = 0;
    if (width < 1 || height < 1 || channels < 1 || channels > 4 ||
        (uint64_t)width * (uint64_t)height > HARD_MAX_PIXELS)
        return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT, "image size %dx%d not supported",
                               width, height);
    out->pixels = segcl_malloc((size_t)width * height * channels);
    if (!out->pixels)
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                               "out of host memory for a %dx%d image", width, height);
    out->width = width;
    out->height = height;
    out->channels = channels;
    return SEGCL_OK;
}

uint8_t segcl_gray_of(int r, int g, int b)
{
    return (uint8_t)((r * 299 + g * 587 + b * 114 + 500) / 1000);
}

/* Writes p's pixels as a PNG beside path and renames it over path, so a symlink planted at
 * path is replaced, never followed. */
static segcl_status write_png(segcl_diag *diag, const char *path, png_image *p,
                              const uint8_t *pixels, const uint8_t *palette)
{
    segcl_file file;
    FILE *f;
    segcl_status st = segcl_file_begin_stream(diag, path, &file, &f);
    if (st)
        return st;
    if (!png_image_write_to_stdio(p, f, 0, pixels, 0, palette))
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot write %s: %s", path, p->message);
    return segcl_file_end_stream(diag, &file, f, st);
}

segcl_status segcl_image_save_png(segcl_diag *diag, const char *path, const segcl_image *img)
{
    png_image p;
    memset(&p, 0, sizeof p);
    p.version = PNG_IMAGE_VERSION;
    p.width = (png_uint_32)img->width;
    p.height = (png_uint_32)img->height;
    p.format = img->channels == 1   ? PNG_FORMAT_GRAY
               : img->channels == 4 ? PNG_FORMAT_RGBA
                                    : PNG_FORMAT_RGB;
    return write_png(diag, path, &p, img->pixels, NULL);
}

segcl_status segcl_image_save_png_palette(segcl_diag *diag, const char *path,
                                          const segcl_image *img, const uint8_t *palette,
                                          int entries)
{
    if (img->channels != 1 || entries < 1 || entries > 256)
        return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                               "%s: a palette PNG has one channel and 1..256 colours", path);
    png_image p;
    memset(&p, 0, sizeof p);
    p.version = PNG_IMAGE_VERSION;
    p.width = (png_uint_32)img->width;
    p.height = (png_uint_32)img->height;
    p.format = PNG_FORMAT_RGB_COLORMAP;
    p.colormap_entries = (png_uint_32)entries;
    return write_png(diag, path, &p, img->pixels, palette);
}

segcl_status segcl_image_save_jpeg(segcl_diag *diag, const char *path, const segcl_image *img,
                                   int quality)
{
    /* libjpeg-turbo's own limit; a format error, so that prediction skips the one input */
    if (img->width > JPEG_MAX_SIDE || img->height > JPEG_MAX_SIDE)
        return segcl_diag_fail(diag, SEGCL_ERROR_FORMAT,
                               "cannot write %s: a %dx%d picture is over JPEG's limit of %d "
                               "pixels a side",
                               path, img->width, img->height, JPEG_MAX_SIDE);
    tjhandle tj = tjInitCompress();
    if (!tj)
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                               "cannot start the JPEG encoder");
    unsigned char *buf = NULL;
    unsigned long len = 0;
    int rc = tjCompress2(tj, img->pixels, img->width, 0, img->height,
                         img->channels == 1 ? TJPF_GRAY : TJPF_RGB, &buf, &len,
                         img->channels == 1 ? TJSAMP_GRAY : TJSAMP_420, quality, 0);
    segcl_status st = SEGCL_OK;
    if (rc != 0) {
        st =
            segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot encode %s: %s", path, tjGetErrorStr2(tj));
    } else {
        /* beside path, renamed over it: a symlink there is replaced, never followed */
        segcl_file file;
        if (!(st = segcl_file_begin(diag, path, &file)))
            st = segcl_file_end(diag, &file,
                                segcl_write_all(diag, file.fd, buf, len, file.path));
    }
    tjFree(buf);
    tjDestroy(tj);
    return st;
}

/* Antialiased resampling weights for one axis (triangle filter widened by the shrink factor,
 * as PIL's bilinear resize does): for output o, taps [first[o], first[o] + count[o]). */
typedef struct axis_filter {
    int *first, *count;
    float *weights; /* count[o] weights per output, packed at o * max_taps */
    int max_taps;
} axis_filter;

static void axis_filter_free(axis_filter *f)
{
    segcl_free(f->first);
    segcl_free(f->count);
    segcl_free(f->weights);
    f->first = f->count = NULL;
    f->weights = NULL;
}

/* The taps of outputs [first_out, first_out + out) of a resize from in to full samples. */
static segcl_status axis_filter_make(segcl_diag *diag, int in, int64_t full, int64_t first_out,
                                     int out, axis_filter *f)
{
    double scale = (double)in / (double)full;
    double support = scale > 1.0 ? scale : 1.0;
    f->max_taps = (int)ceil(support) * 2 + 1;
    f->first = segcl_calloc((size_t)out, sizeof(int));
    f->count = segcl_calloc((size_t)out, sizeof(int));
    f->weights = segcl_calloc((size_t)out * f->max_taps, sizeof(float));
    if (!f->first || !f->count || !f->weights) {
        axis_filter_free(f);
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory resizing");
    }
    for (int o = 0; o < out; o++) {
        double center = ((double)(first_out + o) + 0.5) * scale;
        int lo = (int)floor(center - support), hi = (int)ceil(center + support);
        if (lo < 0)
            lo = 0;
        if (hi > in)
            hi = in;
        double sum = 0;
        int c = 0;
        for (int i = lo; i < hi && c < f->max_taps; i++) {
            double wgt = 1.0 - fabs((i + 0.5 - center) / support);
            if (wgt <= 0)
                continue;
            if (c == 0)
                f->first[o] = i;
            f->weights[(size_t)o * f->max_taps + c++] = (float)wgt;
            sum += wgt;
        }
        if (c == 0) { /* cannot happen for in, out >= 1; keep a valid tap regardless */
            f->first[o] = lo < in ? lo : in - 1;
            f->weights[(size_t)o * f->max_taps] = 1.0f;
            c = 1;
            sum = 1;
        }
        for (int k = 0; k < c; k++)
            f->weights[(size_t)o * f->max_taps + k] /= (float)sum;
        f->count[o] = c;
    }
    return SEGCL_OK;
}

segcl_status segcl_image_resize(segcl_diag *diag, const segcl_image *src, int width, int height,
                                bool nearest, segcl_image *dst)
{
    if (!nearest)
        return segcl_image_resize_window(diag, src, width, height, 0, 0, width, height, dst);
    segcl_status st = segcl_image_alloc(diag, width, height, src->channels, dst);
    if (st)
        return st;
    const int ch = src->channels;
    for (int y = 0; y < height; y++) {
        int sy = (int)((y + 0.5) * src->height / height);
        for (int x = 0; x < width; x++) {
            int sx = (int)((x + 0.5) * src->width / width);
            memcpy(dst->pixels + ((size_t)y * width + x) * ch,
                   src->pixels + ((size_t)sy * src->width + sx) * ch, (size_t)ch);
        }
    }
    return SEGCL_OK;
}

segcl_status segcl_image_resize_window(segcl_diag *diag, const segcl_image *src, int64_t full_width,
                                       int64_t full_height, int64_t x0, int64_t y0, int width,
                                       int height, segcl_image *dst)
{
    const int ch = src->channels;
    if (x0 < 0 || y0 < 0 || width < 1 || height < 1 || x0 + width > full_width ||
        y0 + height > full_height)
        return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                               "resize: a %dx%d window at (%lld, %lld) outside %lldx%lld", width,
                               height, (long long)x0, (long long)y0, (long long)full_width,
                               (long long)full_height);
    axis_filter fx = {0}, fy = {0};
    float *tmp = NULL;
    segcl_status st = segcl_image_alloc(diag, width, height, ch, dst);
    if (st || (st = axis_filter_make(diag, src->width, full_width, x0, width, &fx)) ||
        (st = axis_filter_make(diag, src->height, full_height, y0, height, &fy)))
        goto done;
    /* horizontal pass into floats over the source rows the window reads, then vertical */
    int row0 = fy.first[0], rows = 0;
    for (int y = 0; y < height; y++) {
        row0 = fy.first[y] < row0 ? fy.first[y] : row0;
        rows = fy.first[y] + fy.count[y] > rows ? fy.first[y] + fy.count[y] : rows;
    }
    rows -= row0;
    tmp = segcl_malloc((size_t)rows * width * ch * sizeof *tmp);
    if (!tmp) {
        st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory resizing");
        goto done;
    }
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < width; x++)
            for (int c = 0; c < ch; c++) {
                float s = 0;
                for (int k = 0; k < fx.count[x]; k++)
                    s += fx.weights[(size_t)x * fx.max_taps + k] *
                         src->pixels[((size_t)(row0 + y) * src->width + fx.first[x] + k) * ch + c];
                tmp[((size_t)y * width + x) * ch + c] = s;
            }
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            for (int c = 0; c < ch; c++) {
                float s = 0;
                for (int k = 0; k < fy.count[y]; k++)
                    s += fy.weights[(size_t)y * fy.max_taps + k] *
                         tmp[((size_t)(fy.first[y] - row0 + k) * width + x) * ch + c];
                int v = (int)lrintf(s);
                dst->pixels[((size_t)y * width + x) * ch + c] = (uint8_t)(v < 0     ? 0
                                                                          : v > 255 ? 255
                                                                                    : v);
            }
done:
    if (st)
        segcl_image_free(dst);
    segcl_free(tmp);
    axis_filter_free(&fx);
    axis_filter_free(&fy);
    return st;
}
