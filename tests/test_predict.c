/*
 * Prediction from memory (segcl_predict_pixels) and its agreement with the file path built on
 * it: RGB and RGBA buffers with padded rows give the same maps; labels, foreground
 * probability and class probabilities agree with each other; a multi-class model's masks are
 * palette PNGs in the colours of --palette whose pixel values are the labels; bad buffers and
 * palettes are clear errors.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data.h"
#include "test_checkpoint.h"
#include "model/model.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static segcl_context *ctx;
static const char *const tmp = fx.temp;

/* A photo-like test image of w x h, RGB. */
static uint8_t *photo(int w, int h)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    assert_non_null(px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                px[3 * (y * w + x) + c] =
                    (uint8_t)(127 + 120 * sin(x * 0.11 * (c + 1) + y * 0.07 - c));
    return px;
}

/* The same image through the files path: saved as tmp/<name>.png, segmented into tmp/<name>/,
 * and its mask's path. */
static void predict_file(segcl_predictor *p, uint8_t *rgb, int w, int h, const char *name,
                         char *mask_path, size_t len)
{
    char img_path[400], out_dir[400];
    snprintf(img_path, sizeof img_path, "%s/%s.png", tmp, name);
    snprintf(out_dir, sizeof out_dir, "%s/%s", tmp, name);
    segcl_image im = {w, h, 3, rgb};
    assert_ok(ctx, segcl_image_save_png(segcl_context_diag(ctx), img_path, &im));
    const char *inputs[] = {img_path};
    assert_ok(ctx, segcl_predict_files(p, inputs, 1, out_dir, false, NULL, NULL));
    snprintf(mask_path, len, "%s/%s_mask.png", out_dir, name);
}

static void test_pixels_binary(void **state)
{
    (void)state;
    char ckpt[400];
    snprintf(ckpt, sizeof ckpt, "%s/binary.safetensors", tmp);
    test_small_unet_checkpoint(ctx, 1, 17, ckpt);
    segcl_predictor *p;
    segcl_predictor_options o;
    segcl_predictor_default_options(&o);
    o.batch = 2;
    assert_ok(ctx, segcl_predictor_open(ctx, ckpt, &o, &p));
    assert_int_equal(segcl_predictor_classes(p), 1);
    const int w = 45, h = 29;
    uint8_t *rgb = photo(w, h);
    /* the same image as RGBA with padded rows */
    const size_t stride = (size_t)w * 4 + 12;
    uint8_t *rgba = calloc(stride * h, 1);
    assert_non_null(rgba);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            memcpy(rgba + y * stride + 4 * x, rgb + 3 * (y * w + x), 3);
            rgba[y * stride + 4 * x + 3] = (uint8_t)(x * 5);
        }
    /* three images: a batch of 2 and one more */
    segcl_pixels in[3] = {{rgb, w, h, 3, 0}, {rgba, w, h, 4, stride}, {rgb, w, h, 3, 0}};
    uint8_t labels[3][45 * 29];
    float fg[3][45 * 29];
    segcl_prediction_maps maps[3];
    for (int k = 0; k < 3; k++)
        maps[k] = (segcl_prediction_maps){labels[k], fg[k], NULL};
    assert_ok(ctx, segcl_predict_pixels(p, in, 3, maps));
    for (int i = 0; i < w * h; i++) {
        assert_true(fg[0][i] >= 0 && fg[0][i] <= 1);
        assert_int_equal(labels[0][i], fg[0][i] > 0.5f);
        assert_int_equal(labels[1][i], labels[0][i]);
        assert_int_equal(labels[2][i], labels[0][i]);
        assert_true(fabsf(fg[1][i] - fg[0][i]) < 1e-6f);
    }
    /* the files path gives the same mask */
    char mask_path[900];
    predict_file(p, rgb, w, h, "photo", mask_path, sizeof mask_path);
    segcl_image mask;
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), mask_path, 1, &mask));
    for (int i = 0; i < w * h; i++)
        assert_int_equal(mask.pixels[i], labels[0][i] ? 255 : 0);
    segcl_image_free(&mask);
    /* bad buffers: one clear error each */
    segcl_pixels bad[] = {{rgb, w, h, 2, 0}, {rgb, 0, h, 3, 0}, {NULL, w, h, 3, 0},
                          {rgb, w, h, 3, (size_t)w * 3 - 1}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(segcl_predict_pixels(p, &bad[k], 1, maps), SEGCL_ERROR_INVALID_ARGUMENT);
        assert_true(strlen(segcl_context_error(ctx)) > 10);
    }
    segcl_predictor_destroy(p);
    free(rgb);
    free(rgba);
}

static void test_pixels_classes_and_palette(void **state)
{
    (void)state;
    char ckpt[400], pal[400];
    snprintf(ckpt, sizeof ckpt, "%s/three.safetensors", tmp);
    snprintf(pal, sizeof pal, "%s/palette.txt", tmp);
    test_small_unet_checkpoint(ctx, 3, 17, ckpt);
    FILE *f = fopen(pal, "w");
    assert_non_null(f);
    fputs("# background, person, bag\n#000000\n255 0 0\n\n#00c0ff\n", f);
    fclose(f);
    segcl_predictor_options o;
    segcl_predictor_default_options(&o);
    o.palette = pal;
    segcl_predictor *p;
    assert_ok(ctx, segcl_predictor_open(ctx, ckpt, &o, &p));
    assert_int_equal(segcl_predictor_classes(p), 3);
    const int w = 40, h = 33;
    uint8_t *rgb = photo(w, h);
    uint8_t labels[40 * 33];
    float fg[40 * 33], probs[3 * 40 * 33];
    segcl_prediction_maps maps = {labels, fg, probs};
    segcl_pixels in = {rgb, w, h, 3, 0};
    assert_ok(ctx, segcl_predict_pixels(p, &in, 1, &maps));
    for (int i = 0; i < w * h; i++) {
        float sum = 0, best = -1;
        int arg = 0;
        for (int c = 0; c < 3; c++) {
            const float q = probs[c * w * h + i];
            sum += q;
            if (q > best)
                best = q, arg = c;
        }
        assert_true(fabsf(sum - 1) < 1e-5f);
        assert_int_equal(labels[i], arg);
        assert_true(fabsf(fg[i] - (1 - probs[i])) < 1e-5f);
    }
    /* the mask file: a palette PNG in the palette's colours, its values the labels */
    char mask_path[900];
    predict_file(p, rgb, w, h, "three", mask_path, sizeof mask_path);
    segcl_image idx, colours;
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), mask_path, 1, &idx));
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), mask_path, 3, &colours));
    const uint8_t want[3][3] = {{0, 0, 0}, {255, 0, 0}, {0, 0xc0, 0xff}};
    for (int i = 0; i < w * h; i++) {
        assert_int_equal(idx.pixels[i], labels[i]);
        assert_memory_equal(colours.pixels + 3 * i, want[labels[i]], 3);
    }
    segcl_image_free(&idx);
    segcl_image_free(&colours);
    segcl_predictor_destroy(p);
    /* palettes that cannot serve: too few colours, grays only, not colours */
    const char *bad[][2] = {{"#000000\n#ff0000\n", "2 colours for a model of 3 classes"},
                            {"0 0 0\n128 128 128\n255 255 255\n", "gray"},
                            {"#000000\nred\n#00ff00\n", "'red' is not a colour"},
                            /* a sign is no hex digit, and 2^32 is no byte */
                            {"#000000\n#-1-1-1\n#00ff00\n", "'#-1-1-1' is not a colour"},
                            {"0 0 0\n4294967296 0 0\n0 255 0\n", "'4294967296 0 0'"},
                            {"0 0 0\n255 +0 0\n0 255 0\n", "'255 +0 0'"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        f = fopen(pal, "w");
        assert_non_null(f);
        fputs(bad[k][0], f);
        fclose(f);
        assert_int_equal(segcl_predictor_open(ctx, ckpt, &o, &p), SEGCL_ERROR_FORMAT);
        if (!strstr(segcl_context_error(ctx), bad[k][1]))
            fail_msg("palette %zu: %s", k, segcl_context_error(ctx));
    }
    free(rgb);
}

/* Outputs are written beside their names and renamed over them: a symlink planted at an
 * output's name is replaced, and the file it points to is unchanged (issue 18). */
static void test_outputs_never_follow_links(void **state)
{
    (void)state;
    char ckpt[400], input[400], out_dir[400], target[400], path[500];
    snprintf(ckpt, sizeof ckpt, "%s/links.safetensors", tmp);
    snprintf(input, sizeof input, "%s/linked.png", tmp);
    snprintf(out_dir, sizeof out_dir, "%s/links", tmp);
    snprintf(target, sizeof target, "%s/precious.txt", tmp);
    test_small_unet_checkpoint(ctx, 1, 37, ckpt);
    uint8_t *rgb = photo(24, 20);
    segcl_image im = {24, 20, 3, rgb};
    assert_ok(ctx, segcl_image_save_png(segcl_context_diag(ctx), input, &im));
    free(rgb);
    test_write_text(target, "precious\n");
    assert_int_equal(mkdir(out_dir, 0755), 0);
    const char *names[] = {"linked_mask.png", "linked_overlay.jpg", "linked_logits.npy"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", out_dir, names[i]);
        assert_int_equal(symlink(target, path), 0);
    }
    segcl_predictor *p;
    assert_ok(ctx, segcl_predictor_open(ctx, ckpt, NULL, &p));
    const char *inputs[] = {input};
    assert_ok(ctx, segcl_predict_files(p, inputs, 1, out_dir, true, NULL, NULL));
    segcl_predictor_destroy(p);
    char *text = test_read_file(target);
    assert_non_null(text);
    assert_string_equal(text, "precious\n");
    free(text);
    for (size_t i = 0; i < 3; i++) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", out_dir, names[i]);
        assert_int_equal(lstat(path, &sb), 0);
        if (!S_ISREG(sb.st_mode))
            fail_msg("%s is not a file of its own", path);
    }
}

/* A --palette file that cannot be read is an error naming it, also for a one-class model,
 * whose masks are 0/255 and do not use it (issue 18). */
static void test_missing_palette(void **state)
{
    (void)state;
    char ckpt[400], pal[400];
    snprintf(ckpt, sizeof ckpt, "%s/one.safetensors", tmp);
    snprintf(pal, sizeof pal, "%s/no-such-palette.txt", tmp);
    test_small_unet_checkpoint(ctx, 1, 29, ckpt);
    segcl_predictor_options o;
    segcl_predictor_default_options(&o);
    o.palette = pal;
    segcl_predictor *p = NULL;
    segcl_status st = segcl_predictor_open(ctx, ckpt, &o, &p);
    segcl_predictor_destroy(p);
    if (st == SEGCL_OK || !strstr(segcl_context_error(ctx), pal))
        fail_msg("a missing palette: status %d (%s)", st, segcl_context_error(ctx));
}

static char warnings[4096];

static void collect_warning(const char *message, void *user)
{
    (void)user;
    size_t n = strlen(warnings);
    snprintf(warnings + n, sizeof warnings - n, "%s\n", message);
}

/* One input whose overlay JPEG cannot hold (65535 x 1, over JPEG's 65500) is skipped with a
 * warning naming it; the others are written, and the call ends with a summary (issue 18). */
static void test_one_bad_input_skipped(void **state)
{
    (void)state;
    char ckpt[400], good[400], wide[400], out_dir[400], path[500];
    snprintf(ckpt, sizeof ckpt, "%s/skip.safetensors", tmp);
    snprintf(good, sizeof good, "%s/good.png", tmp);
    snprintf(wide, sizeof wide, "%s/wide.png", tmp);
    snprintf(out_dir, sizeof out_dir, "%s/skipped", tmp);
    test_small_unet_checkpoint(ctx, 1, 31, ckpt);
    uint8_t *rgb = photo(40, 33), *row = photo(65535, 1);
    segcl_image a = {40, 33, 3, rgb}, b = {65535, 1, 3, row};
    assert_ok(ctx, segcl_image_save_png(segcl_context_diag(ctx), good, &a));
    assert_ok(ctx, segcl_image_save_png(segcl_context_diag(ctx), wide, &b));
    free(rgb);
    free(row);
    segcl_predictor *p;
    assert_ok(ctx, segcl_predictor_open(ctx, ckpt, NULL, &p));
    warnings[0] = '\0';
    segcl_context_set_warning_handler(ctx, collect_warning, NULL);
    const char *inputs[] = {wide, good};
    segcl_status st = segcl_predict_files(p, inputs, 2, out_dir, false, NULL, NULL);
    segcl_context_set_warning_handler(ctx, NULL, NULL);
    segcl_predictor_destroy(p);
    if (st != SEGCL_ERROR_FORMAT || !strstr(segcl_context_error(ctx), "1 of 2 inputs"))
        fail_msg("status %d (%s)", st, segcl_context_error(ctx));
    if (!strstr(warnings, wide) || !strstr(warnings, "65500"))
        fail_msg("warnings: %s", warnings);
    snprintf(path, sizeof path, "%s/good_mask.png", out_dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/good_overlay.jpg", out_dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/wide_mask.png", out_dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

static int setup(void **state)
{
    (void)state;
    if (test_fixture_setup(&fx, "predict", TEST_FIXTURE_TEMP | TEST_FIXTURE_DEVICE))
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
        cmocka_unit_test(test_pixels_binary),
        cmocka_unit_test(test_pixels_classes_and_palette),
        cmocka_unit_test(test_outputs_never_follow_links),
        cmocka_unit_test(test_missing_palette),
        cmocka_unit_test(test_one_bad_input_skipped),
    };
    return cmocka_run_group_tests_name("prediction from memory", tests, setup, teardown);
}
