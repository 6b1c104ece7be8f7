/*
 * Image files, read as every viewer reads them: JPEG through libjpeg-turbo (CMYK and YCCK
 * converted to RGB as Adobe's inverted CMYK, decoder warnings reported or, when strict,
 * refused), PNG through libpng (8 and 16 bits scaled plainly with no gamma, palettes expanded,
 * except a coloured palette read as a mask: its indices are the classes; alpha dropped so
 * colours stay as stored), BMP through our own strict parser (1-, 4-, 8-,
 * 16-, 24- and 32-bit, BI_BITFIELDS masks honoured). The EXIF orientation of JPEG and PNG
 * files is applied, as OpenCV's imread and PIL's exif_transpose do. Every length is checked
 * against the data before it is used, and the pixel count against a limit before any pixel
 * memory is allocated.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <turbojpeg.h>

#include "data/data.h"

#define MAX_FILE_BYTES (1ul << 31)
#define PNG_MAX_SIDE 65535u /* pixels per side of a PNG */

/* The sink's pixel limit (a context's: segcl_context_set_max_pixels), applied before decoding. */
static segcl_status check_pixels(segcl_diag *diag, const char *path, const char *kind,
                                 uint64_t width, uint64_t height)
{
    uint64_t limit = segcl_diag_max_pixels(diag);
    if (width < 1 || height < 1)
        return segcl_diag_fail(diag, SEGCL_ERROR_FORMAT, "%s: %s of invalid size %llux%llu", path,
                               kind, (unsigned long long)width, (unsigned long long)height);
    if (width * height > limit)
        return segcl_diag_fail_setting(diag, "max_pixels", SEGCL_ERROR_FORMAT,
                                       "%s: %s of %llux%llu pixels exceeds the limit of %llu "
                                       "pixels",
                                       path, kind, (unsigned long long)width,
                                       (unsigned long long)height, (unsigned long long)limit);
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

/* Stores pixel (x, y) from an RGB triple into a 1- or 3-channel image. */
static void put(segcl_image *img, int x, int y, int r, int g, int b)
{
    uint8_t *p = img->pixels + ((size_t)y * img->width + x) * img->channels;
    if (img->channels == 1) {
        p[0] = segcl_gray_of(r, g, b);
    } else {
        p[0] = (uint8_t)r;
        p[1] = (uint8_t)g;
        p[2] = (uint8_t)b;
    }
}

/* ---- BMP ---- */

/* One BI_BITFIELDS channel: a contiguous run of set bits. */
typedef struct bit_field {
    uint32_t mask;
    int shift, bits;
} bit_field;

static bool bit_field_make(uint32_t mask, bit_field *f)
{
    f->mask = mask;
    f->shift = f->bits = 0;
    if (!mask)
        return false;
    while (!(mask & 1)) {
        mask >>= 1;
        f->shift++;
    }
    while (mask & 1) {
        mask >>= 1;
        f->bits++;
    }
    return mask == 0; /* contiguous */
}

static int bit_field_value(const bit_field *f, uint32_t px)
{
    uint32_t v = (px & f->mask) >> f->shift;
    uint32_t max = f->bits >= 32 ? 0xFFFFFFFFu : (1u << f->bits) - 1;
    return (int)(((uint64_t)v * 255 + max / 2) / max);
}

/* What a BMP's headers say, checked against the file's size. */
typedef struct bmp_layout {
    int32_t width;
    int64_t height;
    bool top_down;
    uint16_t bpp;
    bool masks; /* BI_BITFIELDS colour masks in field */
    bit_field field[3];
    const uint8_t *palette; /* bpp <= 8: ncolors entries of entry bytes */
    size_t entry;
    uint32_t ncolors;
    uint32_t offset; /* of the pixel rows */
    size_t stride;   /* bytes per row */
} bmp_layout;

/* Colour masks: BI_BITFIELDS (3) or, in v4/v5 headers, BI_ALPHABITFIELDS (6); without them 16
 * bits are 5-5-5 and 32 bits are 8-8-8. *headers grows past masks stored after the header. */
static segcl_status bmp_masks(segcl_diag *diag, const char *path, const uint8_t *d, size_t n,
                              uint32_t dib, uint32_t compression, size_t *headers, bmp_layout *l)
{
#define BAD(...) segcl_diag_fail(diag, SEGCL_ERROR_FORMAT, __VA_ARGS__)
    l->masks = compression == 3 || compression == 6;
    if (compression != 0 && !(l->masks && (l->bpp == 16 || l->bpp == 32)))
        return BAD("%s: compressed BMP (method %u) is not supported", path, compression);
    bit_field *field = l->field;
    if (l->masks) {
        const uint8_t *m = d + 14 + 40; /* after a 40-byte header they follow it */
        if (dib == 40) {
            *headers += compression == 6 ? 16 : 12;
            if (*headers > n)
                return BAD("%s: truncated BMP colour masks", path);
        }
        for (int c = 0; c < 3; c++)
            if (!bit_field_make(le32(m + 4 * c), &field[c]))
                return BAD("%s: BMP colour mask 0x%08x is empty or not contiguous", path,
                           le32(m + 4 * c));
        if ((field[0].mask & field[1].mask) || (field[0].mask & field[2].mask) ||
            (field[1].mask & field[2].mask))
            return BAD("%s: BMP colour masks overlap", path);
    } else if (l->bpp == 16) {
        bit_field_make(0x7C00, &field[0]);
        bit_field_make(0x03E0, &field[1]);
        bit_field_make(0x001F, &field[2]);
    }
    return SEGCL_OK;
#undef BAD
}

static segcl_status bmp_parse(segcl_diag *diag, const char *path, const uint8_t *d, size_t n,
                              bmp_layout *l)
{
#define BAD(...) segcl_diag_fail(diag, SEGCL_ERROR_FORMAT, __VA_ARGS__)
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
    if (width <= 0 || h <= 0 || h > INT32_MAX)
        return BAD("%s: invalid BMP size %dx%d", path, width, height);
    segcl_status st = check_pixels(diag, path, "BMP", (uint64_t)width, (uint64_t)h);
    if (st)
        return st;
    if (planes != 1)
        return BAD("%s: invalid BMP plane count %u", path, planes);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return BAD("%s: unsupported BMP depth of %u bits", path, bpp);
    *l = (bmp_layout){.width = width, .height = h, .top_down = top_down, .bpp = bpp};
    size_t headers = 14 + (size_t)dib;
    if ((st = bmp_masks(diag, path, d, n, dib, compression, &headers, l)))
        return st;
    /* palette: after the headers, 4 bytes per entry (3 for the old core header) */
    l->palette = d + headers;
    l->entry = dib == 12 ? 3 : 4;
    if (bpp <= 8) {
        l->ncolors = colors ? colors : 1u << bpp;
        if (l->ncolors > 256 || headers + (size_t)l->ncolors * l->entry > n)
            return BAD("%s: BMP palette out of bounds", path);
        headers += (size_t)l->ncolors * l->entry;
    }
    if (offset < headers)
        return BAD("%s: BMP pixel data offset %u lies inside its headers (which end at %zu)", path,
                   offset, headers);
    l->offset = offset;
    l->stride = (((size_t)bpp * (size_t)width + 31) / 32) * 4;
    if (offset > n || l->stride * (size_t)h > n - offset)
        return BAD("%s: truncated BMP pixel data (needs %zu bytes at %u, file has %zu)", path,
                   l->stride * (size_t)h, offset, n);
    return SEGCL_OK;
#undef BAD
}

static segcl_status decode_bmp(segcl_diag *diag, const char *path, const uint8_t *d, size_t n,
                               int channels, segcl_image *out)
{
    bmp_layout l;
    segcl_status st = bmp_parse(diag, path, d, n, &l);
    if (st || (st = segcl_image_alloc(diag, l.width, (int)l.height, channels, out)))
        return st;
    const uint16_t bpp = l.bpp;
    for (int64_t row = 0; row < l.height; row++) {
        const uint8_t *src = d + l.offset + (size_t)row * l.stride;
        int y = (int)(l.top_down ? row : l.height - 1 - row);
        for (int x = 0; x < l.width; x++) {
            int r, g, b;
            if (bpp == 24 || (bpp == 32 && !l.masks)) {
                const uint8_t *px = src + (size_t)x * (bpp / 8);
                b = px[0], g = px[1], r = px[2];
            } else if (bpp >= 16) {
                uint32_t px = bpp == 16 ? le16(src + (size_t)x * 2) : le32(src + (size_t)x * 4);
                r = bit_field_value(&l.field[0], px);
                g = bit_field_value(&l.field[1], px);
                b = bit_field_value(&l.field[2], px);
            } else {
                uint32_t idx;
                if (bpp == 8)
                    idx = src[x];
                else if (bpp == 4)
                    idx = (src[x / 2] >> (x % 2 ? 0 : 4)) & 15;
                else
                    idx = (src[x / 8] >> (7 - x % 8)) & 1;
                if (idx >= l.ncolors) {
                    segcl_image_free(out);
                    return segcl_diag_fail(diag, SEGCL_ERROR_FORMAT,
                                           "%s: BMP pixel refers to palette entry %u of %u", path,
                                           idx, l.ncolors);
                }
                const uint8_t *c = l.palette + (size_t)idx * l.entry;
                b = c[0], g = c[1], r = c[2];
            }
            put(out, x, y, r, g, b);
        }
    }
    return SEGCL_OK;
}

/* ---- PNG ---- */

typedef struct png_source {
    const uint8_t *data;
    size_t size, at;
    segcl_diag *diag;
    const char *path;
    char message[256]; /* libpng's error */
} png_source;

static void png_read_memory(png_structp png, png_bytep out, size_t len)
{
    png_source *s = png_get_io_ptr(png);
    if (len > s->size - s->at)
        png_error(png, "file truncated");
    memcpy(out, s->data + s->at, len);
    s->at += len;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_source *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg);
    png_longjmp(png, 1);
}

/* libpng's warnings are about ancillary chunks (colour profiles and the like) that segcl does
 * not use: nothing a user needs to act on. */
static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static png_voidp png_alloc(png_structp png, png_alloc_size_t size)
{
    (void)png;
    return segcl_malloc(size);
}

static void png_release(png_structp png, png_voidp p)
{
    (void)png;
    segcl_free(p);
}

/* The decoding state that must survive png_error's longjmp. */
typedef struct png_job {
    png_structp png;
    png_infop info;
    uint8_t *rgb; /* 8-bit RGB or gray rows as libpng delivers them */
    png_bytep *rows;
    segcl_status status; /* set before a longjmp-free failure */
} png_job;

/* A one-channel read (a mask) of a palette PNG with colours is read as its indices: the VOC
 * convention, and how segcl writes multi-class masks (index = class, the palette only for
 * viewers). A palette of grays only is a gray image stored compactly: its levels. */
static bool png_palette_indices(png_structp png, png_infop info, int channels)
{
    png_colorp plte = NULL;
    int entries = 0;
    bool indices = false;
    if (png_get_color_type(png, info) == PNG_COLOR_TYPE_PALETTE && channels == 1 &&
        png_get_PLTE(png, info, &plte, &entries) && plte)
        for (int i = 0; i < entries; i++)
            indices = indices || plte[i].red != plte[i].green || plte[i].green != plte[i].blue;
    return indices;
}

static void png_set_transforms(png_structp png, png_infop info, int channels)
{
    if (png_palette_indices(png, info, channels)) {
        png_set_packing(png); /* 1, 2 and 4-bit indices to a byte each */
        return;
    }
    /* everything to 8 bits per channel, plainly: palettes and low-bit gray expanded, 16 bits
     * scaled by 255/65535 (no gamma, whatever gAMA or sRGB chunks say), alpha and
     * transparency dropped so that colours stay as stored */
    png_set_expand(png);
    png_set_scale_16(png);
    png_set_strip_alpha(png);
    bool gray = !(png_get_color_type(png, info) & PNG_COLOR_MASK_COLOR);
    if (gray && channels == 3)
        png_set_gray_to_rgb(png);
}

static uint32_t big_endian32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* libpng allocates some ancillary chunks (eXIf in libpng 1.6.39) at their declared length before
 * reading them, whatever the file holds: a 60-byte PNG could make it allocate 2 GiB. Read from
 * memory, a chunk cannot hold more than the bytes left, so one that claims more is corruption,
 * said before libpng sees it. Returns the offset of the first such ancillary chunk, or 0. */
static size_t png_overrunning_chunk(const uint8_t *d, size_t n)
{
    size_t at = 8;
    while (n - at >= 8) { /* a chunk's length and name: all libpng reads before allocating */
        const uint32_t len = big_endian32(d + at);
        for (int i = 4; i < 8; i++)
            if ((d[at + i] | 0x20) < 'a' || (d[at + i] | 0x20) > 'z')
                return 0; /* libpng refuses the chunk's name before reading it */
        if (n - at < 12 || len > n - at - 12)
            return d[at + 4] >= 'a' ? at : 0; /* ancillary: lower-case first letter */
        if (!memcmp(d + at + 4, "IEND", 4))
            return 0; /* libpng reads no further */
        at += 12 + (size_t)len;
    }
    return 0;
}

static segcl_status decode_png(segcl_diag *diag, const char *path, const uint8_t *d, size_t n,
                               int channels, segcl_image *out)
{
    png_source src = {d, n, 8, diag, path, ""};
    png_job job = {0};
    segcl_status st = SEGCL_OK;
    const size_t overrun = png_overrunning_chunk(d, n);
    if (overrun)
        return segcl_diag_fail(diag, SEGCL_ERROR_FORMAT,
                               "%s: corrupt PNG: its %.4s chunk claims %u bytes, more than the "
                               "%zu left in the file",
                               path, (const char *)d + overrun + 4,
                               (unsigned)big_endian32(d + overrun), n - overrun - 8);
    job.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning,
                                       NULL, png_alloc, png_release);
    if (job.png)
        job.info = png_create_info_struct(job.png);
    if (!job.png || !job.info) {
        png_destroy_read_struct(job.png ? &job.png : NULL, NULL, NULL);
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                               "out of host memory reading %s", path);
    }
    png_job *volatile jp = &job; /* what the error path needs, safe across longjmp */
    const unsigned long failures = segcl_alloc_failures();
    if (setjmp(png_jmpbuf(job.png))) {
        segcl_free(jp->rows);
        segcl_free(jp->rgb);
        png_destroy_read_struct(&jp->png, &jp->info, NULL);
        if (jp->status)
            return jp->status;
        if (segcl_alloc_failures() != failures) /* libpng allocates through segcl_malloc */
            return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                                   "out of host memory reading %s", path);
        /* libpng refuses a side over its user limit as an error in IHDR: said as the limit it
         * is, with the image's size, not as corruption (PNG allows up to 2^31 - 1 per side) */
        if (n >= 24 && memcmp(d + 12, "IHDR", 4) == 0) {
            const uint32_t iw = big_endian32(d + 16), ih = big_endian32(d + 20);
            if ((iw > PNG_MAX_SIDE || ih > PNG_MAX_SIDE) && iw <= PNG_UINT_31_MAX &&
                ih <= PNG_UINT_31_MAX)
                return segcl_diag_fail(diag, SEGCL_ERROR_FORMAT,
                                       "%s: PNG of %ux%u pixels is over segcl's limit of %u "
                                       "pixels per side",
                                       path, (unsigned)iw, (unsigned)ih, PNG_MAX_SIDE);
        }
        return segcl_diag_fail(diag, SEGCL_ERROR_FORMAT, "%s: corrupt PNG: %s", path, src.message);
    }
    png_set_read_fn(job.png, &src, png_read_memory);
    png_set_sig_bytes(job.png, 8);
    png_set_user_limits(job.png, PNG_MAX_SIDE, PNG_MAX_SIDE);
    png_set_chunk_malloc_max(job.png, 16u << 20);
    png_read_info(job.png, job.info);
    png_uint_32 w = png_get_image_width(job.png, job.info),
                h = png_get_image_height(job.png, job.info);
    if ((job.status = check_pixels(diag, path, "PNG", w, h)))
        png_longjmp(job.png, 1);
    png_set_transforms(job.png, job.info, channels);
    png_set_interlace_handling(job.png);
    png_read_update_info(job.png, job.info);
    int got = png_get_channels(job.png, job.info);
    size_t rowbytes = png_get_rowbytes(job.png, job.info);
    if ((got != 1 && got != 3) || rowbytes != (size_t)w * got) {
        job.status = segcl_diag_fail(diag, SEGCL_ERROR_FORMAT,
                                     "%s: PNG layout not supported (%d channels)", path, got);
        png_longjmp(job.png, 1);
    }
    job.rgb = segcl_malloc(rowbytes * h);
    job.rows = segcl_malloc(h * sizeof *job.rows);
    if (!job.rgb || !job.rows) {
        job.status =
            segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory for a %ux%u image", (unsigned)w, (unsigned)h);
        png_longjmp(job.png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++)
        job.rows[y] = job.rgb + (size_t)y * rowbytes;
    png_read_image(job.png, job.rows);
    png_read_end(job.png, job.info);
    int orientation = 1;
    png_uint_32 exif_len = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(job.png, job.info, &exif_len, &exif) && exif)
        orientation = segcl_exif_orientation(exif, exif_len);
    if (!(st = segcl_image_alloc(diag, (int)w, (int)h, channels, out))) {
        if (got == channels) {
            memcpy(out->pixels, job.rgb, rowbytes * h);
        } else { /* colour to gray, as for every other format */
            for (size_t i = 0; i < (size_t)w * h; i++)
                out->pixels[i] =
                    segcl_gray_of(job.rgb[3 * i], job.rgb[3 * i + 1], job.rgb[3 * i + 2]);
        }
    }
    segcl_free(job.rows);
    segcl_free(job.rgb);
    png_destroy_read_struct(&job.png, &job.info, NULL);
    if (!st && (st = segcl_image_orient(diag, out, orientation)))
        segcl_image_free(out);
    return st;
}

/* ---- JPEG ---- */

static segcl_status decode_jpeg(segcl_diag *diag, const char *path, const uint8_t *d, size_t n,
                                int channels, segcl_image *out)
{
    tjhandle tj = tjInitDecompress();
    uint8_t *cmyk = NULL;
    segcl_status st = SEGCL_OK;
    if (!tj)
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                               "%s: cannot start the JPEG decoder", path);
    int w, h, sub, space;
    if (tjDecompressHeader3(tj, d, (unsigned long)n, &w, &h, &sub, &space) != 0) {
        st = segcl_diag_fail(diag, SEGCL_ERROR_FORMAT, "%s: not a readable JPEG: %s", path,
                             tjGetErrorStr2(tj));
        goto done;
    }
    if ((st = check_pixels(diag, path, "JPEG", (uint64_t)(w > 0 ? w : 0),
                           (uint64_t)(h > 0 ? h : 0))))
        goto done;
    const bool ink = space == TJCS_CMYK || space == TJCS_YCCK;
    const int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS |
                      (segcl_diag_strict(diag) ? TJFLAG_STOPONWARNING : 0);
    if ((st = segcl_image_alloc(diag, w, h, channels, out)))
        goto done;
    uint8_t *dst = out->pixels;
    int format = channels == 1 ? TJPF_GRAY : TJPF_RGB, pitch = w * channels;
    if (ink) {
        if (!(cmyk = segcl_malloc((size_t)w * h * 4))) {
            st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                                 "out of host memory for a %dx%d image", w, h);
            goto done;
        }
        dst = cmyk;
        format = TJPF_CMYK;
        pitch = w * 4;
    }
    if (tjDecompress2(tj, d, (unsigned long)n, dst, w, pitch, h, format, flags) != 0) {
        if (tjGetErrorCode(tj) == TJERR_FATAL || segcl_diag_strict(diag)) {
            st = segcl_diag_fail(diag, SEGCL_ERROR_FORMAT, "%s: corrupt JPEG: %s%s", path,
                                 tjGetErrorStr2(tj),
                                 tjGetErrorCode(tj) == TJERR_FATAL ? "" : " (strict decoding)");
            goto done;
        }
        segcl_diag_warn(diag, "%s: damaged JPEG, decoded anyway: %s", path, tjGetErrorStr2(tj));
    }
    if (ink) {
        /* Adobe's inverted CMYK as libjpeg reports it: 255 is no ink */
        for (size_t i = 0; i < (size_t)w * h; i++) {
            const uint8_t *p = cmyk + 4 * i;
            int k = p[3];
            int r = (p[0] * k + 127) / 255, g = (p[1] * k + 127) / 255, b = (p[2] * k + 127) / 255;
            if (channels == 1) {
                out->pixels[i] = segcl_gray_of(r, g, b);
            } else {
                out->pixels[3 * i] = (uint8_t)r;
                out->pixels[3 * i + 1] = (uint8_t)g;
                out->pixels[3 * i + 2] = (uint8_t)b;
            }
        }
    }
    st = segcl_image_orient(diag, out, segcl_jpeg_orientation(d, n));
done:
    if (st)
        segcl_image_free(out);
    segcl_free(cmyk);
    tjDestroy(tj);
    return st;
}

segcl_status segcl_image_decode(segcl_diag *diag, const char *name, const uint8_t *data, size_t n,
                                int channels, segcl_image *out)
{
    memset(out, 0, sizeof *out);
    if (channels != 1 && channels != 3)
        return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT, "decode: 1 or 3 channels");
    if (n >= 2 && data[0] == 'B' && data[1] == 'M')
        return decode_bmp(diag, name, data, n, channels, out);
    if (n >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8))
        return decode_png(diag, name, data, n, channels, out);
    if (n >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(diag, name, data, n, channels, out);
    return segcl_diag_fail(diag, SEGCL_ERROR_FORMAT, "%s: not a JPEG, PNG or BMP file", name);
}

segcl_status segcl_image_load(segcl_diag *diag, const char *path, int channels, segcl_image *out)
{
    memset(out, 0, sizeof *out);
    char *data = NULL;
    size_t n = 0;
    segcl_status st = segcl_read_file(diag, path, MAX_FILE_BYTES, &data, &n);
    if (!st)
        st = segcl_image_decode(diag, path, (const uint8_t *)data, n, channels, out);
    segcl_free(data);
    return st;
}
