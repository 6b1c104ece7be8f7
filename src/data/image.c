/*
 * Image files: JPEG through libjpeg-turbo, PNG through libpng, BMP through our own strict
 * parser (24/32-bit bottom-up and top-down, 8-, 4- and 1-bit palettised: what PH2 holds and
 * what paint programs write). Every length is checked against the file before it is used.
 * Also resizing (antialiased for photos, nearest for masks) and PNG/JPEG writing.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <turbojpeg.h>

#include "data/data.h"

#define MAX_PIXELS (1u << 28) /* 16384 x 16384 */

void segcl_image_free(segcl_image *img)
{
    if (!img)
        return;
    segcl_free(img->pixels);
    img->pixels = NULL;
    img->width = img->height = img->channels = 0;
}

segcl_status segcl_image_alloc(segcl_context *ctx, int width, int height, int channels,
                               segcl_image *out)
{
    out->pixels = NULL;
    if (width < 1 || height < 1 || (channels != 1 && channels != 3) ||
        (uint64_t)width * (uint64_t)height > MAX_PIXELS)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "image size %dx%d not supported",
                          width, height);
    out->pixels = segcl_malloc((size_t)width * height * channels);
    if (!out->pixels)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                          "out of host memory for a %dx%d image", width, height);
    out->width = width;
    out->height = height;
    out->channels = channels;
    return SEGCL_OK;
}

static segcl_status read_whole(segcl_context *ctx, const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot open %s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot read %s: %s", path, strerror(errno));
    }
    long size = ftell(f);
    if (size < 0 || (unsigned long)size > (1ul << 31) || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot read %s (size %ld)", path, size);
    }
    uint8_t *buf = segcl_malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory reading %s",
                          path);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        segcl_free(buf);
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot read %s: short read", path);
    }
    *data = buf;
    *len = (size_t)size;
    return SEGCL_OK;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint8_t gray_of(int r, int g, int b)
{
    return (uint8_t)((r * 299 + g * 587 + b * 114 + 500) / 1000);
}

/* Stores pixel (x, y) from an RGB triple into a 1- or 3-channel image. */
static void put(segcl_image *img, int x, int y, int r, int g, int b)
{
    uint8_t *p = img->pixels + ((size_t)y * img->width + x) * img->channels;
    if (img->channels == 1) {
        p[0] = gray_of(r, g, b);
    } else {
        p[0] = (uint8_t)r;
        p[1] = (uint8_t)g;
        p[2] = (uint8_t)b;
    }
}

static segcl_status decode_bmp(segcl_context *ctx, const char *path, const uint8_t *d, size_t n,
                               int channels, segcl_image *out)
{
#define BAD(...) segcl_fail(ctx, SEGCL_ERROR_FORMAT, __VA_ARGS__)
    if (n < 26)
        return BAD("%s: truncated BMP header", path);
    uint32_t offset = le32(d + 10), dib = le32(d + 14);
    if (dib != 12 && dib != 40 && dib != 52 && dib != 56 && dib != 108 && dib != 124)
        return BAD("%s: unsupported BMP header size %u", path, dib);
    if (n < 14 + (size_t)dib)
        return BAD("%s: truncated BMP header", path);
    int32_t width, height;
    uint16_t planes, bpp;
    uint32_t compression = 0, colors = 0;
    if (dib == 12) {
        width = le16(d + 18);
        height = (int16_t)le16(d + 20);
        planes = le16(d + 22);
        bpp = le16(d + 24);
    } else {
        width = (int32_t)le32(d + 18);
        height = (int32_t)le32(d + 22);
        planes = le16(d + 26);
        bpp = le16(d + 28);
        compression = le32(d + 30);
        colors = le32(d + 46);
    }
    bool top_down = height < 0;
    int64_t h = top_down ? -(int64_t)height : height;
    if (width <= 0 || h <= 0 || (uint64_t)width * (uint64_t)h > MAX_PIXELS)
        return BAD("%s: invalid BMP size %dx%d", path, width, height);
    if (planes != 1)
        return BAD("%s: invalid BMP plane count %u", path, planes);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 24 && bpp != 32)
        return BAD("%s: unsupported BMP depth of %u bits", path, bpp);
    if (compression != 0 && !(compression == 3 && bpp == 32))
        return BAD("%s: compressed BMP (method %u) is not supported", path, compression);
    /* palette: after the DIB header, 4 bytes per entry (3 for the old core header) */
    const uint8_t *palette = d + 14 + dib;
    size_t entry = dib == 12 ? 3 : 4;
    uint32_t ncolors = 0;
    if (bpp <= 8) {
        ncolors = colors ? colors : 1u << bpp;
        if (ncolors > 256 || 14 + dib + (size_t)ncolors * entry > n ||
            14 + dib + (size_t)ncolors * entry > offset)
            return BAD("%s: BMP palette out of bounds", path);
    }
    size_t stride = (((size_t)bpp * (size_t)width + 31) / 32) * 4;
    if (offset > n || stride * (size_t)h > n - offset)
        return BAD("%s: truncated BMP pixel data (needs %zu bytes at %u, file has %zu)", path,
                   stride * (size_t)h, offset, n);
    segcl_status st = segcl_image_alloc(ctx, width, (int)h, channels, out);
    if (st)
        return st;
    for (int64_t row = 0; row < h; row++) {
        const uint8_t *src = d + offset + (size_t)row * stride;
        int y = (int)(top_down ? row : h - 1 - row);
        for (int x = 0; x < width; x++) {
            int r, g, b;
            if (bpp >= 24) {
                const uint8_t *px = src + (size_t)x * (bpp / 8);
                b = px[0], g = px[1], r = px[2];
            } else {
                uint32_t idx;
                if (bpp == 8)
                    idx = src[x];
                else if (bpp == 4)
                    idx = (src[x / 2] >> (x % 2 ? 0 : 4)) & 15;
                else
                    idx = (src[x / 8] >> (7 - x % 8)) & 1;
                if (idx >= ncolors) {
                    segcl_image_free(out);
                    return BAD("%s: BMP pixel refers to palette entry %u of %u", path, idx,
                               ncolors);
                }
                const uint8_t *c = palette + (size_t)idx * entry;
                b = c[0], g = c[1], r = c[2];
            }
            put(out, x, y, r, g, b);
        }
    }
    return SEGCL_OK;
#undef BAD
}

static segcl_status decode_png(segcl_context *ctx, const char *path, const uint8_t *d, size_t n,
                               int channels, segcl_image *out)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, d, n))
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: not a readable PNG: %s", path,
                          img.message);
    img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    if ((uint64_t)img.width * img.height > MAX_PIXELS) {
        png_image_free(&img);
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: PNG of %ux%u is too large", path,
                          img.width, img.height);
    }
    segcl_status st = segcl_image_alloc(ctx, (int)img.width, (int)img.height, channels, out);
    if (st) {
        png_image_free(&img);
        return st;
    }
    if (!png_image_finish_read(&img, NULL, out->pixels, 0, NULL)) {
        segcl_image_free(out);
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: corrupt PNG: %s", path, img.message);
    }
    return SEGCL_OK;
}

static segcl_status decode_jpeg(segcl_context *ctx, const char *path, const uint8_t *d, size_t n,
                                int channels, segcl_image *out)
{
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "%s: cannot start the JPEG decoder",
                          path);
    int w, h, sub, space;
    if (tjDecompressHeader3(tj, d, (unsigned long)n, &w, &h, &sub, &space) != 0) {
        segcl_status st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: not a readable JPEG: %s", path,
                                     tjGetErrorStr2(tj));
        tjDestroy(tj);
        return st;
    }
    if (w < 1 || h < 1 || (uint64_t)w * (uint64_t)h > MAX_PIXELS) {
        tjDestroy(tj);
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: JPEG of invalid size %dx%d", path, w, h);
    }
    segcl_status st = segcl_image_alloc(ctx, w, h, channels, out);
    if (st) {
        tjDestroy(tj);
        return st;
    }
    if (tjDecompress2(tj, d, (unsigned long)n, out->pixels, w, 0, h,
                      channels == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_ACCURATEDCT) != 0 &&
        tjGetErrorCode(tj) == TJERR_FATAL) {
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: corrupt JPEG: %s", path, tjGetErrorStr2(tj));
        segcl_image_free(out);
    }
    tjDestroy(tj);
    return st;
}

segcl_status segcl_image_load(segcl_context *ctx, const char *path, int channels,
                              segcl_image *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *data = NULL;
    size_t n = 0;
    segcl_status st = read_whole(ctx, path, &data, &n);
    if (st)
        return st;
    if (n >= 2 && data[0] == 'B' && data[1] == 'M')
        st = decode_bmp(ctx, path, data, n, channels, out);
    else if (n >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8))
        st = decode_png(ctx, path, data, n, channels, out);
    else if (n >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        st = decode_jpeg(ctx, path, data, n, channels, out);
    else
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: not a JPEG, PNG or BMP file", path);
    segcl_free(data);
    return st;
}

segcl_status segcl_image_save_png(segcl_context *ctx, const char *path, const segcl_image *img)
{
    png_image p;
    memset(&p, 0, sizeof p);
    p.version = PNG_IMAGE_VERSION;
    p.width = (png_uint_32)img->width;
    p.height = (png_uint_32)img->height;
    p.format = img->channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&p, path, 0, img->pixels, 0, NULL))
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, p.message);
    return SEGCL_OK;
}

segcl_status segcl_image_save_jpeg(segcl_context *ctx, const char *path, const segcl_image *img,
                                   int quality)
{
    tjhandle tj = tjInitCompress();
    if (!tj)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "cannot start the JPEG encoder");
    unsigned char *buf = NULL;
    unsigned long len = 0;
    int rc = tjCompress2(tj, img->pixels, img->width, 0, img->height,
                         img->channels == 1 ? TJPF_GRAY : TJPF_RGB, &buf, &len,
                         img->channels == 1 ? TJSAMP_GRAY : TJSAMP_420, quality, 0);
    segcl_status st = SEGCL_OK;
    if (rc != 0) {
        st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot encode %s: %s", path, tjGetErrorStr2(tj));
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, len, f) != len)
            st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
        if (f && fclose(f) != 0 && !st)
            st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
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

static segcl_status axis_filter_make(segcl_context *ctx, int in, int out, axis_filter *f)
{
    double scale = (double)in / out;
    double support = scale > 1.0 ? scale : 1.0;
    f->max_taps = (int)ceil(support) * 2 + 1;
    f->first = segcl_calloc((size_t)out, sizeof(int));
    f->count = segcl_calloc((size_t)out, sizeof(int));
    f->weights = segcl_calloc((size_t)out * f->max_taps, sizeof(float));
    if (!f->first || !f->count || !f->weights) {
        axis_filter_free(f);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory resizing");
    }
    for (int o = 0; o < out; o++) {
        double center = (o + 0.5) * scale;
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

segcl_status segcl_image_resize(segcl_context *ctx, const segcl_image *src, int width, int height,
                                bool nearest, segcl_image *dst)
{
    segcl_status st = segcl_image_alloc(ctx, width, height, src->channels, dst);
    if (st)
        return st;
    const int ch = src->channels;
    if (nearest) {
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
    axis_filter fx = {0}, fy = {0};
    float *tmp = NULL;
    if ((st = axis_filter_make(ctx, src->width, width, &fx)) ||
        (st = axis_filter_make(ctx, src->height, height, &fy))) {
        axis_filter_free(&fx);
        segcl_image_free(dst);
        return st;
    }
    /* horizontal pass into floats (src->height x width), then vertical */
    tmp = segcl_malloc((size_t)src->height * width * ch * sizeof *tmp);
    if (!tmp) {
        axis_filter_free(&fx);
        axis_filter_free(&fy);
        segcl_image_free(dst);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory resizing");
    }
    for (int y = 0; y < src->height; y++)
        for (int x = 0; x < width; x++)
            for (int c = 0; c < ch; c++) {
                float s = 0;
                for (int k = 0; k < fx.count[x]; k++)
                    s += fx.weights[(size_t)x * fx.max_taps + k] *
                         src->pixels[((size_t)y * src->width + fx.first[x] + k) * ch + c];
                tmp[((size_t)y * width + x) * ch + c] = s;
            }
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            for (int c = 0; c < ch; c++) {
                float s = 0;
                for (int k = 0; k < fy.count[y]; k++)
                    s += fy.weights[(size_t)y * fy.max_taps + k] *
                         tmp[((size_t)(fy.first[y] + k) * width + x) * ch + c];
                int v = (int)lrintf(s);
                dst->pixels[((size_t)y * width + x) * ch + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    segcl_free(tmp);
    axis_filter_free(&fx);
    axis_filter_free(&fy);
    return SEGCL_OK;
}
