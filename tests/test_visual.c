/*
 * The pictures segcl writes for people, checked for their content: cut-out alpha, composites
 * (exact colour where alpha is 0, the photo where it is 255, the blend between, a background
 * image scaled to cover, a blurred background that keeps the person's colours out), feathering,
 * instances (8-connectivity, areas, boxes, centroids, the minimum area), overlay boundaries of
 * the promised width, training overlays, and the curve.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cl/cl.h"
#include "io/svg.h"
#include "picture/picture.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static segcl_context *ctx;

static void temp_path(char *buf, size_t len, const char *name)
{
    const char *dir = getenv("TMPDIR");
    snprintf(buf, len, "%s/segcl-visual-%ld-%s", dir && *dir ? dir : "/tmp", (long)getpid(), name);
}

static segcl_image photo_of(int w, int h)
{
    segcl_image img;
    assert_int_equal(segcl_image_alloc(segcl_context_diag(ctx), w, h, 3, &img), SEGCL_OK);
    for (int i = 0; i < w * h; i++)
        for (int c = 0; c < 3; c++)
            img.pixels[3 * i + c] = (uint8_t)((i * 37 + c * 91) % 251);
    return img;
}

static void test_cutout_keeps_colours_and_alpha(void **state)
{
    (void)state;
    segcl_image photo = photo_of(13, 7), out;
    uint8_t alpha[13 * 7];
    for (int i = 0; i < 13 * 7; i++)
        alpha[i] = (uint8_t)(i * 3);
    assert_ok(ctx, segcl_cutout(segcl_context_diag(ctx), &photo, alpha, &out));
    assert_int_equal(out.channels, 4);
    for (int i = 0; i < 13 * 7; i++) {
        assert_memory_equal(out.pixels + 4 * i, photo.pixels + 3 * i, 3);
        assert_int_equal(out.pixels[4 * i + 3], alpha[i]);
    }
    /* written as RGBA and read back as a photo: the colours, untouched by the alpha */
    char path[256];
    temp_path(path, sizeof path, "cutout.png");
    assert_ok(ctx, segcl_image_save_png(segcl_context_diag(ctx), path, &out));
    segcl_image back;
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 3, &back));
    assert_memory_equal(back.pixels, photo.pixels, (size_t)13 * 7 * 3);
    segcl_image_free(&back);
    remove(path);
    segcl_image_free(&out);
    segcl_image_free(&photo);
}

static void test_composite_over_colour(void **state)
{
    (void)state;
    const int w = 16, h = 9;
    segcl_image photo = photo_of(w, h), out;
    uint8_t alpha[16 * 9];
    for (int i = 0; i < w * h; i++)
        alpha[i] = i % 3 == 0 ? 0 : i % 3 == 1 ? 255 : (uint8_t)(i % 256);
    segcl_background bg;
    assert_ok(ctx, segcl_background_parse(segcl_context_diag(ctx), "#10e040", &bg));
    assert_int_equal(bg.kind, SEGCL_BACKGROUND_COLOUR);
    assert_ok(ctx, segcl_composite(segcl_context_diag(ctx), &photo, alpha, &bg, &out));
    const uint8_t green[3] = {0x10, 0xe0, 0x40};
    for (int i = 0; i < w * h; i++)
        for (int c = 0; c < 3; c++) {
            const int a = alpha[i], fg = photo.pixels[3 * i + c];
            const int want = a == 0 ? green[c] : a == 255 ? fg : (a * fg + (255 - a) * green[c] + 127) / 255;
            assert_int_equal(out.pixels[3 * i + c], want);
        }
    segcl_image_free(&out);
    segcl_image_free(&photo);
    /* specs that are not backgrounds */
    const char *bad[] = {"#12345", "#1234567", "#gg0000", "blur:", "blur:-3", "blur:x", "",
                         "blur:1e-50" /* was radius 0: "from the photo's size" */, "blur:1001",
                         "/no/such/background.jpg"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_not_equal(segcl_background_parse(segcl_context_diag(ctx), bad[k], &bg),
                             SEGCL_OK);
        assert_true(strlen(segcl_context_error(ctx)) > 0);
    }
    assert_ok(ctx, segcl_background_parse(segcl_context_diag(ctx), "blur:12.5", &bg));
    assert_int_equal(bg.kind, SEGCL_BACKGROUND_BLUR);
    assert_true(fabsf(bg.radius - 12.5f) < 1e-6f);
}

/* A background image twice as wide (relative to the photo) is scaled to the photo's height
 * and its centre taken: four stripes A B C D become B on the left, C on the right. */
static void test_background_image_covers(void **state)
{
    (void)state;
    const uint8_t stripes[4][3] = {{200, 0, 0}, {0, 200, 0}, {0, 0, 200}, {200, 200, 0}};
    segcl_image back;
    assert_ok(ctx, segcl_image_alloc(segcl_context_diag(ctx), 40, 10, 3, &back));
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 40; x++)
            memcpy(back.pixels + 3 * (y * 40 + x), stripes[x / 10], 3);
    char path[256];
    temp_path(path, sizeof path, "background.png");
    assert_ok(ctx, segcl_image_save_png(segcl_context_diag(ctx), path, &back));
    segcl_image_free(&back);
    segcl_background bg;
    assert_ok(ctx, segcl_background_parse(segcl_context_diag(ctx), path, &bg));
    remove(path);
    assert_int_equal(bg.kind, SEGCL_BACKGROUND_IMAGE);
    segcl_image photo = photo_of(20, 20), out;
    uint8_t alpha[400] = {0};
    assert_ok(ctx, segcl_composite(segcl_context_diag(ctx), &photo, alpha, &bg, &out));
    for (int y = 0; y < 20; y++) {
        assert_memory_equal(out.pixels + 3 * (y * 20 + 3), stripes[1], 3);
        assert_memory_equal(out.pixels + 3 * (y * 20 + 16), stripes[2], 3);
    }
    segcl_image_free(&out);
    segcl_image_free(&photo);
    segcl_background_free(&bg);
}

/* A red person on a gray background: the blurred background stays gray next to the person
 * (a plain blur would bleed red into it), and the person stays as they are. */
static void test_blurred_background_keeps_person_out(void **state)
{
    (void)state;
    const int w = 64, h = 48;
    segcl_image photo, out;
    assert_ok(ctx, segcl_image_alloc(segcl_context_diag(ctx), w, h, 3, &photo));
    uint8_t *alpha = malloc((size_t)w * h);
    assert_non_null(alpha);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const int i = y * w + x;
            const bool person = x >= 24 && x < 40 && y >= 8;
            const uint8_t px[3] = {person ? 250 : 100, person ? 10 : 100, person ? 10 : 100};
            memcpy(photo.pixels + 3 * i, px, 3);
            alpha[i] = person ? 255 : 0;
        }
    segcl_background bg = {.kind = SEGCL_BACKGROUND_BLUR, .radius = 8};
    assert_ok(ctx, segcl_composite(segcl_context_diag(ctx), &photo, alpha, &bg, &out));
    for (int i = 0; i < w * h; i++)
        for (int c = 0; c < 3; c++) {
            const int v = out.pixels[3 * i + c];
            if (alpha[i] == 0)
                assert_true(abs(v - 100) <= 1);
            else
                assert_int_equal(v, photo.pixels[3 * i + c]);
        }
    segcl_image_free(&out);
    segcl_image_free(&photo);
    free(alpha);
}

/* Feathering a hard edge: a smooth monotonic ramp centred on the edge, the far sides intact. */
static void test_feather_ramp(void **state)
{
    (void)state;
    const int w = 80, h = 4;
    uint8_t plane[80 * 4];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            plane[y * w + x] = x < 40 ? 0 : 255;
    assert_ok(ctx, segcl_blur_plane(segcl_context_diag(ctx), plane, w, h, 6));
    for (int y = 0; y < h; y++) {
        const uint8_t *row = plane + y * w;
        assert_int_equal(row[0], 0);
        assert_int_equal(row[w - 1], 255);
        for (int x = 1; x < w; x++)
            assert_true(row[x] >= row[x - 1]);
        assert_true(row[39] > 64 && row[39] < 128);
        assert_true(row[40] > 128 && row[40] < 192);
        assert_true(row[36] > 0 && row[43] < 255); /* the ramp is several pixels wide */
    }
    uint8_t same[4] = {9, 200, 3, 77};
    assert_ok(ctx,
              segcl_blur_plane(segcl_context_diag(ctx), same, 2, 2, 0)); /* no feather: untouched */
    assert_int_equal(same[1], 200);
}

/* Components of a fixture with known answers. */
static void test_instances_fixture(void **state)
{
    (void)state;
    const int w = 40, h = 30;
    uint8_t labels[40 * 30] = {0};
    for (int y = 2; y < 12; y++) /* a 10 x 10 square of class 1 */
        for (int x = 3; x < 13; x++)
            labels[y * w + x] = 1;
    for (int k = 0; k < 8; k++) /* a diagonal of class 1: one component under 8-connectivity */
        labels[(15 + k) * w + 20 + k] = 1;
    for (int y = 2; y < 12; y++) /* class 2 touching the square: its own instance */
        labels[y * w + 13] = 2;
    labels[28 * w + 2] = 1; /* a speck */
    uint32_t ids[40 * 30];
    segcl_instance *in;
    size_t n;
    assert_ok(ctx, segcl_find_instances(segcl_context_diag(ctx), labels, w, h, 0, ids, &in, &n));
    assert_int_equal(n, 4);
    /* raster order of first pixels: square (2,3), class 2 (2,13), diagonal (15,20), speck */
    assert_int_equal(in[0].label, 1);
    assert_int_equal(in[0].area, 100);
    assert_int_equal(in[0].x0, 3);
    assert_int_equal(in[0].y0, 2);
    assert_int_equal(in[0].x1, 12);
    assert_int_equal(in[0].y1, 11);
    assert_true(fabs(in[0].cx - 7.5) < 1e-9 && fabs(in[0].cy - 6.5) < 1e-9);
    assert_int_equal(in[1].label, 2);
    assert_int_equal(in[1].area, 10);
    assert_int_equal(in[2].label, 1);
    assert_int_equal(in[2].area, 8);
    assert_int_equal(in[2].x0, 20);
    assert_int_equal(in[2].y1, 22);
    assert_true(fabs(in[2].cx - 23.5) < 1e-9 && fabs(in[2].cy - 18.5) < 1e-9);
    assert_int_equal(in[3].area, 1);
    for (int i = 0; i < w * h; i++)
        assert_int_equal(ids[i] != 0, labels[i] != 0);
    assert_int_equal(ids[5 * w + 5], 1);
    assert_int_equal(ids[5 * w + 13], 2);
    assert_int_equal(ids[17 * w + 22], 3);
    segcl_free(in);
    /* --min-area 9 drops the speck and the diagonal; the ids follow */
    assert_ok(ctx, segcl_find_instances(segcl_context_diag(ctx), labels, w, h, 9, ids, &in, &n));
    assert_int_equal(n, 2);
    assert_int_equal(in[0].area, 100);
    assert_int_equal(in[1].area, 10);
    assert_int_equal(ids[17 * w + 22], 0);
    assert_int_equal(ids[28 * w + 2], 0);
    /* the picture: one colour per instance, black elsewhere, colours distinct */
    segcl_image pic;
    assert_ok(ctx, segcl_instances_image(segcl_context_diag(ctx), ids, w, h, in, &pic));
    assert_memory_equal(pic.pixels + 3 * (5 * w + 5), in[0].rgb, 3);
    assert_memory_equal(pic.pixels + 3 * (5 * w + 13), in[1].rgb, 3);
    assert_memory_not_equal(in[0].rgb, in[1].rgb, 3);
    const uint8_t black[3] = {0, 0, 0};
    assert_memory_equal(pic.pixels + 3 * (28 * w + 2), black, 3);
    segcl_image_free(&pic);
    segcl_free(in);
    /* no foreground: no instances */
    memset(labels, 0, sizeof labels);
    assert_ok(ctx, segcl_find_instances(segcl_context_diag(ctx), labels, w, h, 0, NULL, &in, &n));
    assert_int_equal(n, 0);
    segcl_free(in);
}

/* A square's boundary in contour style: exactly the promised width inside the region, the
 * photo untouched elsewhere; fill tints the inside. */
static void check_contour(int size, int width)
{
    segcl_image photo = photo_of(size, size), out;
    uint8_t *labels = calloc((size_t)size * size, 1);
    assert_non_null(labels);
    const int a = size / 4, b = 3 * size / 4; /* the square [a, b) */
    for (int y = a; y < b; y++)
        for (int x = a; x < b; x++)
            labels[y * size + x] = 1;
    assert_int_equal(segcl_contour_width(size, size), width);
    assert_ok(ctx,
              segcl_overlay(segcl_context_diag(ctx), &photo, labels, SEGCL_OVERLAY_CONTOUR, &out));
    const uint8_t *col = segcl_overlay_colour(1);
    const int y = size / 2;
    for (int x = 0; x < size; x++) {
        const int i = y * size + x;
        const bool band = (x >= a && x < a + width) || (x >= b - width && x < b);
        if (band)
            assert_memory_equal(out.pixels + 3 * i, col, 3);
        else
            assert_memory_equal(out.pixels + 3 * i, photo.pixels + 3 * i, 3);
    }
    segcl_image_free(&out);
    assert_ok(ctx,
              segcl_overlay(segcl_context_diag(ctx), &photo, labels, SEGCL_OVERLAY_FILL, &out));
    const int i = y * size + size / 2;
    assert_memory_not_equal(out.pixels + 3 * i, photo.pixels + 3 * i, 3);
    assert_memory_equal(out.pixels + 3 * (y * size + a), col, 3);
    segcl_image_free(&out);
    segcl_image_free(&photo);
    free(labels);
}

static void test_overlay_contour_width(void **state)
{
    (void)state;
    check_contour(100, 2);
    check_contour(768, 3);
}

static void test_training_overlay_side_by_side(void **state)
{
    (void)state;
    const int s = 64;
    segcl_image photo = photo_of(s, s), out, left, right;
    uint8_t truth[64 * 64] = {0}, pred[64 * 64] = {0};
    for (int i = 0; i < s * s; i++) {
        truth[i] = (i % s) < 32;
        pred[i] = (i / s) < 20;
    }
    assert_ok(ctx, segcl_training_overlay(segcl_context_diag(ctx), &photo, truth, pred, 0.5, &out));
    assert_ok(ctx,
              segcl_overlay(segcl_context_diag(ctx), &photo, truth, SEGCL_OVERLAY_FILL, &left));
    assert_ok(ctx,
              segcl_overlay(segcl_context_diag(ctx), &photo, pred, SEGCL_OVERLAY_FILL, &right));
    const int bar = out.height - s;
    assert_int_equal(out.width, 2 * s + 4);
    assert_true(bar >= 9 && bar <= 30);
    for (int y = 0; y < s; y++) {
        assert_memory_equal(out.pixels + (size_t)(y + bar) * out.width * 3,
                            left.pixels + (size_t)y * s * 3, (size_t)s * 3);
        assert_memory_equal(out.pixels + ((size_t)(y + bar) * out.width + s + 4) * 3,
                            right.pixels + (size_t)y * s * 3, (size_t)s * 3);
    }
    /* the caption bar holds text: some white pixels */
    int white = 0;
    for (int i = 0; i < out.width * bar; i++)
        white += out.pixels[3 * i] == 255 && out.pixels[3 * i + 1] == 255;
    assert_true(white > 20);
    segcl_image_free(&out);
    segcl_image_free(&left);
    segcl_image_free(&right);
    segcl_image_free(&photo);
}

static void test_curve_svg(void **state)
{
    (void)state;
    segcl_curve_point pts[12];
    for (int i = 0; i < 12; i++)
        pts[i] = (segcl_curve_point){i + 1, 1.0 / (i + 1), 1.2 / (i + 1), 0.5 + 0.03 * i,
                                     0.4 + 0.03 * i};
    pts[8].val_dice = 0.99; /* the best epoch: 9 */
    char path[256];
    temp_path(path, sizeof path, "curve.svg");
    assert_ok(ctx, segcl_write_curve_svg(segcl_context_diag(ctx), path, pts, 12));
    char *svg = test_read_file(path);
    assert_non_null(svg);
    assert_non_null(strstr(svg, ">Loss<"));
    assert_non_null(strstr(svg, ">Validation scores<"));
    assert_non_null(strstr(svg, ">best: epoch 9<"));
    assert_non_null(strstr(svg, ">Dice 0.9900<"));
    assert_non_null(strstr(svg, ">epoch<"));
    assert_non_null(strstr(svg, ">10<")); /* an epoch tick label */
    assert_non_null(strstr(svg, ">0.6<")); /* a score tick label */
    assert_non_null(strstr(svg, ">validation loss<"));
    assert_non_null(strstr(svg, ">IoU<"));
    assert_non_null(strstr(svg, "</svg>"));
    /* legends sit right of the plots (x > 600), clear of every line */
    for (const char *p = strstr(svg, ">train loss<"); p; p = NULL) {
        const char *t = p;
        while (t > svg && strncmp(t, "<text x=\"", 9))
            t--;
        assert_true(atof(t + 9) > 600);
    }
    free(svg);
    /* one epoch, without validation: still a picture, best by nothing */
    segcl_curve_point one = {1, 0.7, NAN, NAN, NAN};
    assert_ok(ctx, segcl_write_curve_svg(segcl_context_diag(ctx), path, &one, 1));
    svg = test_read_file(path);
    assert_non_null(svg);
    assert_null(strstr(svg, "best: epoch"));
    assert_null(strstr(svg, "nan"));
    free(svg);
    remove(path);
}

/* A background whose aspect is far from the photo's (issue 18): a 1 x 65535 column over a
 * 65535 x 1 row scales by 65535 (4.29e9 rows, more than an int holds), and the composite
 * shows the column's centre, as scaling the whole column and cutting its centre out would. */
static void test_background_extreme_aspect(void **state)
{
    (void)state;
    segcl_background bg = {.kind = SEGCL_BACKGROUND_IMAGE};
    assert_ok(ctx, segcl_image_alloc(segcl_context_diag(ctx), 1, 65535, 3, &bg.image));
    for (int y = 0; y < 65535; y++) {
        const uint8_t centre = y >= 32000 && y < 33535;
        bg.image.pixels[3 * y] = centre ? 10 : 250;
        bg.image.pixels[3 * y + 1] = centre ? 200 : 20;
        bg.image.pixels[3 * y + 2] = 90;
    }
    segcl_image photo = photo_of(65535, 1), out;
    uint8_t *alpha = calloc(65535, 1);
    assert_non_null(alpha);
    assert_ok(ctx, segcl_composite(segcl_context_diag(ctx), &photo, alpha, &bg, &out));
    const uint8_t want[3] = {10, 200, 90};
    for (int x = 0; x < 65535; x += 4099)
        assert_memory_equal(out.pixels + 3 * x, want, 3);
    segcl_image_free(&out);
    segcl_image_free(&photo);
    free(alpha);
    segcl_background_free(&bg);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
/* Bytes of address space the process holds now (/proc/self/statm's first field). */
static size_t address_space(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}
#endif

/* A 65535 x 1 background over a 64 x 64 photo: scaled by 64 it is 4.2 million pixels wide,
 * 800 MB whole, of which the composite shows 64 x 64. The composite is made within 64 MiB of
 * address space more than the process holds (a child under RLIMIT_AS; sanitizers reserve
 * terabytes of shadow, so there the check is the time alone). */
static void test_background_scaled_within_bounds(void **state)
{
    (void)state;
    segcl_background bg = {.kind = SEGCL_BACKGROUND_IMAGE};
    assert_ok(ctx, segcl_image_alloc(segcl_context_diag(ctx), 65535, 1, 3, &bg.image));
    for (int x = 0; x < 65535; x++)
        for (int c = 0; c < 3; c++)
            bg.image.pixels[3 * x + c] = (uint8_t)(x * (c + 1));
    segcl_image photo = photo_of(64, 64);
    uint8_t alpha[64 * 64] = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
        const size_t now = address_space();
        const struct rlimit lim = {now + (64u << 20), now + (64u << 20)};
        if (now == 0 || setrlimit(RLIMIT_AS, &lim) != 0)
            _exit(3);
#endif
        segcl_image out;
        segcl_status st = segcl_composite(segcl_context_diag(ctx), &photo, alpha, &bg, &out);
        _exit(st == SEGCL_OK && out.width == 64 && out.height == 64 ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("the composite over a 64 x 64 photo did not fit in 64 MiB (status %d)", status);
    if (seconds > 5)
        fail_msg("the composite over a 64 x 64 photo took %.1f s", seconds);
    segcl_image_free(&photo);
    segcl_background_free(&bg);
}

/* Background specs refused at once, each naming itself: colours that are not six hex digits,
 * and files that are not regular (a device would be read to 2 GiB, a FIFO waited on). */
static void test_background_specs_refused(void **state)
{
    (void)state;
    const char *colours[] = {"#-1-1-1", "#+1+1+1", "# 1 1 1", "#0x1234", "#12345g"};
    segcl_background bg;
    for (size_t i = 0; i < sizeof colours / sizeof colours[0]; i++) {
        if (segcl_background_parse(segcl_context_diag(ctx), colours[i], &bg) == SEGCL_OK)
            fail_msg("background '%s' was accepted as #%02x%02x%02x", colours[i], bg.rgb[0],
                     bg.rgb[1], bg.rgb[2]);
        assert_non_null(strstr(segcl_context_error(ctx), colours[i]));
    }
    char fifo[256];
    temp_path(fifo, sizeof fifo, "background.fifo");
    remove(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *files[] = {"/dev/zero", fifo};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        segcl_status st = segcl_background_parse(segcl_context_diag(ctx), files[i], &bg);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (st == SEGCL_OK)
            fail_msg("background %s was accepted", files[i]);
        if (!strstr(segcl_context_error(ctx), files[i]))
            fail_msg("background %s: %s", files[i], segcl_context_error(ctx));
        if (t1.tv_sec - t0.tv_sec > 1)
            fail_msg("background %s took %ld s to refuse", files[i], (long)(t1.tv_sec - t0.tv_sec));
    }
    remove(fifo);
}

/* Pictures and the curve are written beside their name and renamed over it: a symlink planted
 * at the name is replaced, and the file it points to is unchanged (issue 18). */
static void test_pictures_never_follow_links(void **state)
{
    (void)state;
    char target[256], png[256], jpg[256], svg[256];
    temp_path(target, sizeof target, "target.txt");
    temp_path(png, sizeof png, "link.png");
    temp_path(jpg, sizeof jpg, "link.jpg");
    temp_path(svg, sizeof svg, "link.svg");
    test_write_text(target, "precious\n");
    const char *links[] = {png, jpg, svg};
    for (size_t i = 0; i < 3; i++) {
        remove(links[i]);
        assert_int_equal(symlink(target, links[i]), 0);
    }
    segcl_image photo = photo_of(8, 8);
    assert_ok(ctx, segcl_image_save_png(segcl_context_diag(ctx), png, &photo));
    assert_ok(ctx, segcl_image_save_jpeg(segcl_context_diag(ctx), jpg, &photo, 90));
    segcl_curve_point one = {1, 0.7, 0.6, 0.5, 0.4};
    assert_ok(ctx, segcl_write_curve_svg(segcl_context_diag(ctx), svg, &one, 1));
    char *text = test_read_file(target);
    assert_non_null(text);
    assert_string_equal(text, "precious\n");
    free(text);
    for (size_t i = 0; i < 3; i++) {
        struct stat sb;
        assert_int_equal(lstat(links[i], &sb), 0);
        if (!S_ISREG(sb.st_mode))
            fail_msg("%s is still a link", links[i]);
        remove(links[i]);
    }
    segcl_image_free(&photo);
    remove(target);
}

/* An image JPEG cannot hold (over 65500 pixels a side) is a format error naming the file. */
static void test_jpeg_size_limit(void **state)
{
    (void)state;
    char jpg[256];
    temp_path(jpg, sizeof jpg, "wide.jpg");
    segcl_image photo = photo_of(65535, 1);
    assert_int_equal(segcl_image_save_jpeg(segcl_context_diag(ctx), jpg, &photo, 90),
                     SEGCL_ERROR_FORMAT);
    assert_non_null(strstr(segcl_context_error(ctx), jpg));
    assert_non_null(strstr(segcl_context_error(ctx), "65500"));
    assert_int_not_equal(access(jpg, F_OK), 0);
    segcl_image_free(&photo);
}

static int setup(void **state)
{
    (void)state;
    if (test_fixture_setup(&fx, "pictures", TEST_FIXTURE_CONTEXT))
        return -1;
    ctx = fx.ctx;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_fixture_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cutout_keeps_colours_and_alpha),
        cmocka_unit_test(test_composite_over_colour),
        cmocka_unit_test(test_background_image_covers),
        cmocka_unit_test(test_blurred_background_keeps_person_out),
        cmocka_unit_test(test_feather_ramp),
        cmocka_unit_test(test_instances_fixture),
        cmocka_unit_test(test_overlay_contour_width),
        cmocka_unit_test(test_training_overlay_side_by_side),
        cmocka_unit_test(test_curve_svg),
        cmocka_unit_test(test_background_extreme_aspect),
        cmocka_unit_test(test_background_scaled_within_bounds),
        cmocka_unit_test(test_background_specs_refused),
        cmocka_unit_test(test_pictures_never_follow_links),
        cmocka_unit_test(test_jpeg_size_limit),
    };
    return cmocka_run_group_tests_name("pictures", tests, setup, teardown);
}
