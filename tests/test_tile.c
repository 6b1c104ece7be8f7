/*
 * Tiled prediction (segcl_predictor_options.tile): an image of one tile is predicted bit for
 * bit as without tiles; a larger image in tiles agrees with one pass over it; the blend's
 * weights normalise (constant logits stay that constant, up to the image's borders, also
 * where the last tile is shifted and where a side is shorter than a tile); tile sizes the
 * model cannot take are one-line errors naming the setting.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "infer/predictor.h"
#include "test_checkpoint.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static segcl_context *ctx;
static const char *const tmp = fx.temp;
static char binary[400], three[400]; /* checkpoints: 1 and 3 classes, depth 2 (multiple 4) */

/* A photo-like RGB image of w x h with structure at several scales. */
static uint8_t *photo(int w, int h)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    assert_non_null(px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                px[3 * (y * w + x) + c] = (uint8_t)(127 + 60 * sin(x * 0.11 * (c + 1) + y * 0.07) +
                                                    60 * cos(x * 0.023 - y * 0.031 * (c + 1)));
    return px;
}

/* photo() with a dark disc and a bright bar over it: regions whose logits part clearly. */
static uint8_t *scene(int w, int h)
{
    uint8_t *px = photo(w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const double dx = x - 0.45 * w, dy = y - 0.55 * h;
            uint8_t *q = px + 3 * (y * w + x);
            if (dx * dx + dy * dy < 0.09 * w * h)
                q[0] = (uint8_t)(q[0] / 4 + 20), q[1] = (uint8_t)(q[1] / 5), q[2] /= 3;
            else if (y > 0.15 * h && y < 0.3 * h && x > 0.1 * w)
                q[0] = 250, q[1] = (uint8_t)(200 + q[1] / 8), q[2] = 90;
        }
    return px;
}

static segcl_predictor *open_predictor(const char *ckpt, int size, int tile, int overlap)
{
    segcl_predictor_options o;
    segcl_predictor_default_options(&o);
    o.batch = 3;
    o.size = size;
    o.tile = tile;
    o.tile_overlap = overlap;
    segcl_predictor *p;
    assert_ok(ctx, segcl_predictor_open(ctx, ckpt, &o, &p));
    return p;
}

/* Labels, foreground and class probabilities of one image. */
typedef struct maps_buf {
    uint8_t *labels;
    float *fg, *probs;
    segcl_prediction_maps maps;
} maps_buf;

static void predict(segcl_predictor *p, const uint8_t *rgb, int w, int h, maps_buf *m)
{
    const size_t n = (size_t)w * h;
    m->labels = malloc(n);
    m->fg = malloc(n * sizeof(float));
    m->probs = malloc(3 * n * sizeof(float));
    assert_true(m->labels && m->fg && m->probs);
    m->maps = (segcl_prediction_maps){m->labels, m->fg, m->probs};
    segcl_pixels in = {rgb, w, h, 3, 0};
    assert_ok(ctx, segcl_predict_pixels(p, &in, 1, &m->maps));
}

static void maps_free(maps_buf *m)
{
    free(m->labels);
    free(m->fg);
    free(m->probs);
}

/* One tile covering the image: the same bits as the untiled path, at the training size, at
 * a given size (a non-square image resized to it) and for several classes. */
static void test_one_tile_is_untiled(void **state)
{
    (void)state;
    const struct {
        const char *ckpt;
        int w, h, size, classes;
    } cases[] = {{binary, 32, 32, 0, 1},
                 {binary, 45, 29, 32, 1},
                 {three, 32, 32, 0, 3},
                 {binary, 40, 40, 40, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int w = cases[k].w, h = cases[k].h, C = cases[k].classes;
        const int side = cases[k].size ? cases[k].size : 32;
        uint8_t *rgb = photo(w, h);
        segcl_predictor *whole = open_predictor(cases[k].ckpt, cases[k].size, 0, 0);
        segcl_predictor *tiled = open_predictor(cases[k].ckpt, cases[k].size, side, 0);
        maps_buf a, b;
        predict(whole, rgb, w, h, &a);
        predict(tiled, rgb, w, h, &b);
        const size_t n = (size_t)w * h;
        if (memcmp(a.labels, b.labels, n) || memcmp(a.fg, b.fg, n * sizeof(float)) ||
            (C > 1 && memcmp(a.probs, b.probs, C * n * sizeof(float))))
            fail_msg("case %zu: one tile differs from the untiled prediction", k);
        assert_memory_equal(whole->host_logits, tiled->tiled_logits,
                            (size_t)C * side * side * sizeof(float));
        maps_free(&a);
        maps_free(&b);
        segcl_predictor_destroy(whole);
        segcl_predictor_destroy(tiled);
        free(rgb);
    }
}

/* A 128 x 128 image in 64 x 64 tiles overlapping by 32 (origins 0, 32, 64: three per axis)
 * against one 128 x 128 pass. The model's receptive field (about 40 pixels) fits in the
 * overlap, but a tile's logits still differ from the whole pass's near its inner edges
 * (zero padding where the image goes on) and slightly everywhere (bilinear upsampling with
 * align_corners scales with the tensor's size), so the logits agree within a tolerance. */
static void test_tiles_agree_with_one_pass(void **state)
{
    (void)state;
    const int N = 128;
    uint8_t *rgb = scene(N, N);
    segcl_predictor *whole = open_predictor(binary, N, 0, 0);
    segcl_predictor *tiled = open_predictor(binary, 0, 64, 32);
    maps_buf a, b;
    predict(whole, rgb, N, N, &a);
    predict(tiled, rgb, N, N, &b);
    const size_t n = (size_t)N * N;
    const float *la = whole->host_logits, *lb = tiled->tiled_logits;
    assert_int_equal(tiled->tiled_w, N);
    assert_int_equal(tiled->tiled_h, N);
    /* the masks at the median logit, where half the pixels are foreground: the hardest cut */
    float *sorted = malloc(n * sizeof *sorted);
    assert_non_null(sorted);
    memcpy(sorted, la, n * sizeof *sorted);
    double max_diff = 0, sum_diff = 0, lo = la[0], hi = la[0];
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)la[i] - lb[i]);
        max_diff = d > max_diff ? d : max_diff;
        sum_diff += d;
        lo = la[i] < lo ? la[i] : lo;
        hi = la[i] > hi ? la[i] : hi;
    }
    const double range = hi - lo;
    for (size_t i = 1; i < n; i++) /* insertion sort: 16k floats, a few ms */
        for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            const float t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    const float median = sorted[n / 2];
    size_t same = 0, same_labels = 0;
    for (size_t i = 0; i < n; i++) {
        same += (la[i] > median) == (lb[i] > median);
        same_labels += a.labels[i] == b.labels[i];
    }
    print_message("tiles vs one pass: max |logit diff| %.4f, mean %.5f (logits span %.3f); "
                  "%.2f%% of median-cut labels and %.2f%% of labels identical\n",
                  max_diff, sum_diff / n, range, 100.0 * same / n, 100.0 * same_labels / n);
    assert_true(range > 0.05);
    assert_true(max_diff < 0.05 * range);
    assert_true(sum_diff / n < 0.01 * range);
    assert_true(same >= 0.99 * n);
    assert_true(same_labels >= 0.99 * n);
    free(sorted);
    maps_free(&a);
    maps_free(&b);
    segcl_predictor_destroy(whole);
    segcl_predictor_destroy(tiled);
    free(rgb);
}

/* Constant logits in, the same constant out, over grids with a shifted last tile and a side
 * shorter than a tile; every weight positive, 1 at the image's borders, and two regular
 * neighbours' ramps summing to 1. */
static void test_blend_normalises(void **state)
{
    (void)state;
    const int T = 32, O = 8, C = 2;
    const int sizes[][2] = {{100, 70}, {32, 32}, {100, 20}, {57, 33}};
    float *tile = malloc((size_t)C * T * T * sizeof *tile);
    assert_non_null(tile);
    for (size_t i = 0; i < (size_t)C * T * T; i++)
        tile[i] = i < (size_t)T * T ? -2.75f : 1.3f;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int w = sizes[k][0], h = sizes[k][1];
        int ox[16], oy[16];
        const int nx = segcl_tile_origins(w, T, O, ox), ny = segcl_tile_origins(h, T, O, oy);
        assert_true(nx <= 16 && ny <= 16);
        assert_int_equal(ox[nx - 1], w > T ? w - T : 0); /* the last tile ends at the border */
        for (int j = 1; j < nx - 1; j++)
            assert_int_equal(ox[j], j * (T - O)); /* the others on the regular grid */
        float wx[16][32], wy[16][32];
        for (int j = 0; j < nx; j++)
            for (int i = 0; i < T; i++) {
                wx[j][i] = segcl_tile_weight(ox, nx, j, T, i);
                assert_true(wx[j][i] > 0 && wx[j][i] <= 1);
            }
        for (int j = 0; j < ny; j++)
            for (int i = 0; i < T; i++)
                wy[j][i] = segcl_tile_weight(oy, ny, j, T, i);
        assert_true(wx[0][0] == 1.0f && wx[nx - 1][T - 1] == 1.0f); /* the image's borders */
        if (nx > 2 && ox[2] - ox[1] == T - O) /* regular neighbours: complementary ramps */
            for (int i = T - O; i < T; i++)
                assert_true(fabsf(wx[0][i] + wx[1][i - (T - O)] - 1) < 1e-6f);
        float *acc = calloc((size_t)C * w * h, sizeof *acc),
              *wsum = calloc((size_t)w * h, sizeof *wsum);
        assert_true(acc && wsum);
        for (int ty = 0; ty < ny; ty++)
            for (int tx = 0; tx < nx; tx++)
                segcl_tile_accumulate(acc, wsum, w, h, C, tile, T, ox[tx], oy[ty], wx[tx], wy[ty]);
        segcl_tile_normalise(acc, wsum, (size_t)w * h, C);
        for (size_t i = 0; i < (size_t)w * h; i++) {
            assert_true(wsum[i] > 0);
            assert_true(fabsf(acc[i] + 2.75f) < 2e-6f * 2.75f);
            assert_true(fabsf(acc[(size_t)w * h + i] - 1.3f) < 2e-6f * 1.3f);
        }
        free(acc);
        free(wsum);
    }
    free(tile);
}

/* An image shorter than a tile (padded by reflection), several classes, and the files path
 * writing the blended logits at the working resolution. */
static void test_small_image_and_files(void **state)
{
    (void)state;
    segcl_predictor *p = open_predictor(three, 0, 32, 0);
    assert_int_equal(p->opt.tile_overlap, 8); /* 32 / 4, a multiple of 4 */
    const int w = 70, h = 20;
    uint8_t *rgb = photo(w, h);
    maps_buf m;
    predict(p, rgb, w, h, &m);
    for (int i = 0; i < w * h; i++) {
        const float s = m.probs[i] + m.probs[w * h + i] + m.probs[2 * w * h + i];
        assert_true(fabsf(s - 1) < 1e-5f);
        assert_true(m.labels[i] < 3);
    }
    /* two images of other sizes, one after the other: each one's own logits */
    char img[2][600], out[600], npy[700];
    uint8_t *tall = photo(h, w);
    segcl_image im[2] = {{w, h, 3, rgb}, {h, w, 3, tall}};
    for (int k = 0; k < 2; k++) {
        snprintf(img[k], sizeof img[k], "%s/%s.png", tmp, k ? "tall" : "wide");
        assert_ok(ctx, segcl_image_save_png(segcl_context_diag(ctx), img[k], &im[k]));
    }
    snprintf(out, sizeof out, "%s/files", tmp);
    const char *inputs[] = {img[0], img[1]};
    assert_ok(ctx, segcl_predict_files(p, inputs, 2, out, true, NULL, NULL));
    for (int k = 0; k < 2; k++) {
        snprintf(npy, sizeof npy, "%s/%s_logits.npy", out, k ? "tall" : "wide");
        char *text = test_read_file(npy); /* magic and header length hold NULs: skip them */
        assert_non_null(text);
        assert_non_null(strstr(text + 10, k ? "'shape': (3, 70, 20)" : "'shape': (3, 20, 70)"));
        free(text);
    }
    free(tall);
    maps_free(&m);
    segcl_predictor_destroy(p);
    free(rgb);
}

/* Tile sizes and overlaps the model cannot take: one line each, naming the setting. */
static void test_bad_tiles(void **state)
{
    (void)state;
    const struct {
        int tile, overlap;
        const char *setting, *words;
    } bad[] = {{6, 0, "tile", "multiple of 4"},          {2, 0, "tile", "smaller than 4"},
               {-4, 0, "tile", "tile size -4"},          {8192, 0, "tile", "4096"},
               {32, 6, "tile_overlap", "multiple of 4"}, {32, 32, "tile_overlap", "below"},
               {32, -4, "tile_overlap", "overlap -4"},   {0, 8, "tile_overlap", "needs a tile"}};
    segcl_predictor_options o;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        segcl_predictor_default_options(&o);
        o.tile = bad[k].tile;
        o.tile_overlap = bad[k].overlap;
        segcl_predictor *p = NULL;
        assert_int_equal(segcl_predictor_open(ctx, binary, &o, &p), SEGCL_ERROR_INVALID_ARGUMENT);
        assert_null(p);
        const char *msg = segcl_context_error(ctx);
        if (!strstr(msg, bad[k].words) || strchr(msg, '\n'))
            fail_msg("tile %d overlap %d: %s", bad[k].tile, bad[k].overlap, msg);
        assert_string_equal(segcl_context_error_setting(ctx), bad[k].setting);
    }
    /* evaluation does not tile */
    segcl_predictor *p = open_predictor(binary, 0, 16, 0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/folder", fx.fixtures);
    segcl_dataset *ds;
    assert_ok(ctx, segcl_dataset_open(ctx, dir, SEGCL_DATASET_FOLDER, &ds));
    segcl_eval_result r;
    assert_int_equal(segcl_evaluate(p, ds, &r), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_string_equal(segcl_context_error_setting(ctx), "tile");
    segcl_dataset_destroy(ds);
    segcl_predictor_destroy(p);
}

static int setup(void **state)
{
    (void)state;
    if (test_fixture_setup(&fx, "tile", TEST_FIXTURE_TEMP | TEST_FIXTURE_DEVICE))
        return -1;
    ctx = fx.ctx;
    snprintf(binary, sizeof binary, "%s/binary.safetensors", tmp);
    snprintf(three, sizeof three, "%s/three.safetensors", tmp);
    test_small_unet_checkpoint(ctx, 1, 23, binary);
    test_small_unet_checkpoint(ctx, 3, 23, three);
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
        cmocka_unit_test(test_one_tile_is_untiled),
        cmocka_unit_test(test_tiles_agree_with_one_pass),
        cmocka_unit_test(test_blend_normalises),
        cmocka_unit_test(test_small_image_and_files),
        cmocka_unit_test(test_bad_tiles),
    };
    return cmocka_run_group_tests_name("tiled prediction", tests, setup, teardown);
}
