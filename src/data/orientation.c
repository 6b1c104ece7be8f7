/*
 * The EXIF orientation of JPEG and PNG files (tag 0x0112 in the first IFD), and turning a
 * decoded image upright by it, as OpenCV's imread and PIL's exif_transpose do.
 */
#include <string.h>

#include "data/data.h"

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The orientation tag (1..8) of a TIFF-structured EXIF block, or 1 when absent or unreadable. */
int segcl_exif_orientation(const uint8_t *d, size_t n)
{
    if (n < 8)
        return 1;
    bool le = d[0] == 'I' && d[1] == 'I', be = d[0] == 'M' && d[1] == 'M';
    if (!le && !be)
        return 1;
#define U16(p) (le ? (uint32_t)((p)[0] | (p)[1] << 8) : (uint32_t)((p)[0] << 8 | (p)[1]))
#define U32(p)                                                                                     \
    (le ? le32(p)                                                                                  \
        : ((uint32_t)(p)[0] << 24 | (uint32_t)(p)[1] << 16 | (uint32_t)(p)[2] << 8 | (p)[3]))
    if (U16(d + 2) != 42)
        return 1;
    uint32_t ifd = U32(d + 4);
    if (ifd > n - 2 || ifd < 8)
        return 1;
    uint32_t entries = U16(d + ifd);
    for (uint32_t i = 0; i < entries; i++) {
        size_t at = (size_t)ifd + 2 + (size_t)i * 12;
        if (at + 12 > n)
            return 1;
        if (U16(d + at) != 0x0112)
            continue;
        uint32_t type = U16(d + at + 2), count = U32(d + at + 4);
        uint32_t value = U16(d + at + 8);
        return type == 3 && count == 1 && value >= 1 && value <= 8 ? (int)value : 1;
    }
#undef U16
#undef U32
    return 1;
}

/* The EXIF orientation of a JPEG: the first APP1 "Exif" segment before the image data. */
int segcl_jpeg_orientation(const uint8_t *d, size_t n)
{
    size_t at = 2;
    while (at + 4 <= n) {
        if (d[at] != 0xFF)
            return 1;
        uint8_t marker = d[at + 1];
        if (marker == 0xFF) { /* fill byte */
            at++;
            continue;
        }
        if (marker == 0xD9 || marker == 0xDA) /* end of image, start of scan */
            return 1;
        if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
            at += 2;
            continue;
        }
        size_t len = (size_t)d[at + 2] << 8 | d[at + 3];
        if (len < 2 || at + 2 + len > n)
            return 1;
        const uint8_t *seg = d + at + 4;
        size_t seg_len = len - 2;
        if (marker == 0xE1 && seg_len >= 6 && !memcmp(seg, "Exif\0\0", 6))
            return segcl_exif_orientation(seg + 6, seg_len - 6);
        at += 2 + len;
    }
    return 1;
}

/* Turns img (decoded as stored) the way its EXIF orientation says it is to be shown. */
segcl_status segcl_image_orient(segcl_diag *diag, segcl_image *img, int orientation)
{
    if (orientation <= 1 || orientation > 8)
        return SEGCL_OK;
    const int W = img->width, H = img->height, ch = img->channels;
    const bool swap = orientation >= 5;
    segcl_image out;
    segcl_status st = segcl_image_alloc(diag, swap ? H : W, swap ? W : H, ch, &out);
    if (st)
        return st;
    for (int y = 0; y < out.height; y++)
        for (int x = 0; x < out.width; x++) {
            int sx, sy;
            switch (orientation) {
            case 2:
                sx = W - 1 - x, sy = y;
                break; /* mirrored */
            case 3:
                sx = W - 1 - x, sy = H - 1 - y;
                break; /* turned 180 degrees */
            case 4:
                sx = x, sy = H - 1 - y;
                break; /* mirrored top-bottom */
            case 5:
                sx = y, sy = x;
                break; /* transposed */
            case 6:
                sx = y, sy = H - 1 - x;
                break; /* shown turned 90 degrees clockwise */
            case 7:
                sx = W - 1 - y, sy = H - 1 - x;
                break; /* transversed */
            default:
                sx = W - 1 - y, sy = x;
                break; /* 8: turned 90 counter-clockwise */
            }
            memcpy(out.pixels + ((size_t)y * out.width + x) * ch,
                   img->pixels + ((size_t)sy * W + sx) * ch, (size_t)ch);
        }
    segcl_image_free(img);
    *img = out;
    return SEGCL_OK;
}
