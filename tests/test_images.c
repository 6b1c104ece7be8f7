/*
 * Real-world image files read as every viewer reads them (fixtures in tests/data/fixtures/
 * realworld, from tools/make_fixtures.py): EXIF orientation in JPEG and PNG, 16-bit PNG scaled
 * plainly (no gamma), RGBA whose transparent pixels keep their colour, CMYK JPEG, a truncated
 * JPEG (a warning, or an error when strict), BMP colour masks, a pixel data offset inside the
 * headers, and files that claim more pixels than the limit. Each fixture is checked for the
 * right pixels, not only for "no error".
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl/cl.h"
#include "data/data.h"
#include "test_util.h"

#define W 21
#define H 14

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static segcl_context *ctx;
static const char *const fixtures = fx.fixtures;
static char warnings[8][512];
static int warning_count;

static void on_warning(const char *message, void *user)
{
    (void)user;
    if (warning_count < 8)
        snprintf(warnings[warning_count], sizeof warnings[0], "%s", message);
    warning_count++;
}

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/realworld/%s", fixtures, name);
}



static segcl_image load_path(const char *path, int channels)
{
    segcl_image img;
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, channels, &img));
    return img;
}

static segcl_image load(const char *name, int channels)
{
    char path[700];
    path_of(path, sizeof path, name);
    return load_path(path, channels);
}

/* Mean absolute difference from photo(seed), or from its mirror image; exact files give 0. */
static double photo_error_mirrored(const segcl_image *img, int seed, bool mirrored)
{
    assert_int_equal(img->width, W);
    assert_int_equal(img->height, H);
    assert_int_equal(img->channels, 3);
    double diff = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int rgb[3];
            fixture_photo(seed, mirrored ? W - 1 - x : x, y, rgb);
            for (int c = 0; c < 3; c++)
                diff += abs(img->pixels[(y * W + x) * 3 + c] - rgb[c]);
        }
    return diff / (W * H * 3);
}

static double photo_error(const segcl_image *img, int seed)
{
    return photo_error_mirrored(img, seed, false);
}

static void assert_mask(const segcl_image *m, int seed)
{
    assert_int_equal(m->width, W);
    assert_int_equal(m->height, H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int v = m->pixels[y * W + x];
            if (v != 255 * fixture_mask(seed, x, y))
                fail_msg("mask pixel (%d, %d) = %d, expected %d", x, y, v,
                         255 * fixture_mask(seed, x, y));
        }
}

static void test_exif_orientation(void **state)
{
    (void)state;
    /* stored 14 x 21, shown 21 x 14 once turned as orientation 6 says */
    segcl_image img = load("exif6.jpg", 3);
    /* orientation 8 would give the same size, turned the other way: its error is ~ the
     * mirror's, and JPEG's chroma subsampling costs ~5 per channel on this pattern */
    double err = photo_error(&img, 4), wrong = photo_error_mirrored(&img, 4, true);
    if (err > 8 || wrong < 5 * err)
        fail_msg("EXIF 6 JPEG differs from the upright photo by %.2f per channel (mirrored: %.2f)",
                 err, wrong);
    segcl_image_free(&img);
    /* a mask PNG with orientation 8 in its eXIf chunk: exact */
    img = load("exif8.png", 1);
    assert_mask(&img, 1);
    segcl_image_free(&img);
}

static void test_png_16_bit_is_plain(void **state)
{
    (void)state;
    /* 257 * v in 16 bits is v in 8 bits, although the file says gamma 1.0 */
    segcl_image img = load("rgb16.png", 3);
    assert_true(photo_error(&img, 5) == 0);
    segcl_image_free(&img);
    img = load("rgb16.png", 1);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int rgb[3];
            fixture_photo(5, x, y, rgb);
            assert_int_equal(img.pixels[y * W + x], segcl_gray_of(rgb[0], rgb[1], rgb[2]));
        }
    segcl_image_free(&img);
    img = load("gray16.png", 1);
    assert_mask(&img, 2);
    segcl_image_free(&img);
}

static void test_png_alpha_keeps_colours(void **state)
{
    (void)state;
    /* the left half is fully transparent: its colours are still the photo's */
    segcl_image img = load("rgba.png", 3);
    assert_true(photo_error(&img, 6) == 0);
    segcl_image_free(&img);
    /* masks with alpha are read from their colour channels */
    img = load("rgba_mask.png", 1);
    assert_mask(&img, 0);
    segcl_image_free(&img);
}

static void test_cmyk_jpeg(void **state)
{
    (void)state;
    segcl_image img = load("cmyk.jpg", 3);
    double err = photo_error(&img, 7);
    if (err > 6)
        fail_msg("CMYK JPEG differs from its RGB original by %.2f per channel", err);
    segcl_image_free(&img);
}

static void test_truncated_jpeg_warns(void **state)
{
    (void)state;
    warning_count = 0;
    segcl_image half = load("half.jpg", 3), whole = load("whole64.jpg", 3);
    assert_int_equal(warning_count, 1);
    assert_non_null(strstr(warnings[0], "half.jpg"));
    assert_null(strchr(warnings[0], '\n'));
    /* what was there decodes as in the whole file (the first row of 16-pixel blocks, less
     * the rows whose chroma upsampling reads the next block row) */
    assert_int_equal(half.width, 64);
    assert_memory_equal(half.pixels, whole.pixels, 64 * 8 * 3);
    segcl_image_free(&half);
    segcl_image_free(&whole);
    /* strict: an error naming the file */
    char path[700];
    path_of(path, sizeof path, "half.jpg");
    segcl_context_set_strict(ctx, true);
    segcl_image img;
    assert_int_equal(segcl_image_load(segcl_context_diag(ctx), path, 3, &img), SEGCL_ERROR_FORMAT);
    segcl_context_set_strict(ctx, false);
    assert_non_null(strstr(segcl_context_error(ctx), "half.jpg"));
    assert_non_null(strstr(segcl_context_error(ctx), "strict"));
    assert_null(img.pixels);
}

static void test_pixel_limit(void **state)
{
    (void)state;
    const char *huge[] = {"huge.png", "huge.jpg"};
    for (int i = 0; i < 2; i++) {
        char path[700];
        path_of(path, sizeof path, huge[i]);
        segcl_image img;
        assert_int_equal(segcl_image_load(segcl_context_diag(ctx), path, 3, &img),
                         SEGCL_ERROR_FORMAT);
        assert_non_null(strstr(segcl_context_error(ctx), "exceeds the limit"));
        assert_non_null(strstr(segcl_context_error(ctx), huge[i]));
        assert_null(img.pixels);
    }
    /* the limit is the context's: a small one refuses a small image */
    segcl_context_set_max_pixels(ctx, 100);
    char path[700];
    path_of(path, sizeof path, "rgba.png");
    segcl_image img;
    assert_int_equal(segcl_image_load(segcl_context_diag(ctx), path, 3, &img), SEGCL_ERROR_FORMAT);
    assert_non_null(strstr(segcl_context_error(ctx), "21x14"));
    segcl_context_set_max_pixels(ctx, 0);
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 3, &img));
    segcl_image_free(&img);
}

static void test_bmp_bitfields_and_offsets(void **state)
{
    (void)state;
    segcl_image img = load("bitfields32.bmp", 3);
    assert_true(photo_error(&img, 8) == 0);
    segcl_image_free(&img);
    /* 5-6-5 keeps the top bits of each channel */
    img = load("rgb565.bmp", 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int rgb[3];
            fixture_photo(8, x, y, rgb);
            const uint8_t *p = img.pixels + (y * W + x) * 3;
            assert_true(abs(p[0] - rgb[0]) <= 8 && abs(p[1] - rgb[1]) <= 4 &&
                        abs(p[2] - rgb[2]) <= 8);
        }
    segcl_image_free(&img);
    char path[700];
    path_of(path, sizeof path, "bad_offset.bmp");
    assert_int_equal(segcl_image_load(segcl_context_diag(ctx), path, 3, &img), SEGCL_ERROR_FORMAT);
    assert_non_null(strstr(segcl_context_error(ctx), "offset"));
    assert_non_null(strstr(segcl_context_error(ctx), "bad_offset.bmp"));
}

static int setup(void **state)
{
    (void)state;
    if (test_fixture_setup(&fx, "images", TEST_FIXTURE_CONTEXT))
        return -1;
    ctx = fx.ctx;
    segcl_context_set_warning_handler(ctx, on_warning, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_fixture_teardown(&fx);
}

/* Multi-class masks as palette PNGs: the pixel values stay the class indices (a viewer shows
 * the colours), and segcl reads them back as indices; a palette of grays only is an image
 * stored compactly and reads as its gray levels. */
static void test_palette_masks(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "/tmp/segcl-palette-%d.png", (int)getpid());
    segcl_image m;
    assert_int_equal(segcl_image_alloc(segcl_context_diag(ctx), W, H, 1, &m), SEGCL_OK);
    for (int i = 0; i < W * H; i++)
        m.pixels[i] = (uint8_t)((i * 7 + i / W) % 5);
    const uint8_t colours[5 * 3] = {0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128};
    assert_int_equal(segcl_image_save_png_palette(segcl_context_diag(ctx), path, &m, colours, 5),
                     SEGCL_OK);
    /* a palette image on disk: IHDR colour type 3, and a PLTE chunk of 5 entries */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t head[64];
    assert_true(fread(head, 1, sizeof head, f) == sizeof head);
    fclose(f);
    assert_int_equal(head[25], 3);
    const uint8_t *plte = NULL;
    for (size_t i = 33; i + 4 <= sizeof head && !plte; i++)
        if (!memcmp(head + i, "PLTE", 4))
            plte = head + i;
    assert_non_null(plte);
    assert_int_equal(plte[-1], 15); /* chunk length: 5 RGB entries */
    segcl_image back = load_path(path, 1);
    assert_memory_equal(back.pixels, m.pixels, (size_t)W * H);
    segcl_image_free(&back);
    /* read as a photo, the colours */
    back = load_path(path, 3);
    for (int i = 0; i < W * H; i++)
        assert_memory_equal(back.pixels + 3 * i, colours + 3 * m.pixels[i], 3);
    segcl_image_free(&back);
    /* grays only: the levels, as before */
    const uint8_t grays[2 * 3] = {0, 0, 0, 255, 255, 255};
    for (int i = 0; i < W * H; i++)
        m.pixels[i] = (uint8_t)(i % 3 == 0);
    assert_int_equal(segcl_image_save_png_palette(segcl_context_diag(ctx), path, &m, grays, 2),
                     SEGCL_OK);
    back = load_path(path, 1);
    for (int i = 0; i < W * H; i++)
        assert_int_equal(back.pixels[i], m.pixels[i] ? 255 : 0);
    segcl_image_free(&back);
    segcl_image_free(&m);
    remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exif_orientation),
        cmocka_unit_test(test_png_16_bit_is_plain),
        cmocka_unit_test(test_png_alpha_keeps_colours),
        cmocka_unit_test(test_cmyk_jpeg),
        cmocka_unit_test(test_truncated_jpeg_warns),
        cmocka_unit_test(test_pixel_limit),
        cmocka_unit_test(test_bmp_bitfields_and_offsets),
        cmocka_unit_test(test_palette_masks),
    };
    return cmocka_run_group_tests_name("images", tests, setup, teardown);
}
