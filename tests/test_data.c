/*
 * Data and files: every image decoder on the committed fixtures (PH2's BMP variants: 24-bit
 * bottom-up photos, 1-bit and 8-bit palettised and 24-bit top-down masks; PNG; JPEG), corrupt
 * and truncated files (an error naming the file, never a crash), the three dataset layouts,
 * resizing, the loader's determinism, and checkpoints: round trip, corrupt and truncated
 * files, a PyTorch-written state_dict, and a failed save that leaves the old file intact.
 * Fixtures come from tools/make_fixtures.py; the PyTorch file from tools/gen_reference.py.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/data.h"
#include "test_checkpoint.h"
#include "test_util.h"

#define W 21
#define H 14

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static segcl_context *ctx;
static const char *const fixtures = fx.fixtures, *const tmp_dir = fx.temp;

static void fixture(char *buf, size_t len, const char *rel)
{
    snprintf(buf, len, "%s/%s", fixtures, rel);
}



static void check_mask(const segcl_image *m, int seed)
{
    assert_int_equal(m->width, W);
    assert_int_equal(m->height, H);
    assert_int_equal(m->channels, 1);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if ((m->pixels[y * W + x] > 127) != fixture_mask(seed, x, y))
                fail_msg("mask %d pixel (%d, %d) = %d", seed, x, y, m->pixels[y * W + x]);
}

static void test_bmp_variants(void **state)
{
    (void)state;
    char path[1024];
    const char *masks[] = {"IMD001/IMD001_lesion/IMD001_lesion.bmp",  /* 1-bit palettised */
                           "IMD002/IMD002_lesion/IMD002_lesion.bmp",  /* 24-bit top-down */
                           "IMD003/IMD003_lesion/IMD003_lesion.bmp"}; /* 8-bit palettised */
    for (int i = 0; i < 3; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "ph2/PH2Dataset/PH2 Dataset images/%s", masks[i]);
        fixture(path, sizeof path, rel);
        segcl_image m;
        assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 1, &m));
        check_mask(&m, i);
        segcl_image_free(&m);
    }
    /* 24-bit bottom-up photo, exact */
    fixture(path, sizeof path,
            "ph2/PH2Dataset/PH2 Dataset images/IMD002/IMD002_Dermoscopic_Image/IMD002.bmp");
    segcl_image p;
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 3, &p));
    assert_int_equal(p.width, W);
    assert_int_equal(p.height, H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int rgb[3];
            fixture_photo(1, x, y, rgb);
            for (int c = 0; c < 3; c++)
                assert_int_equal(p.pixels[(y * W + x) * 3 + c], rgb[c]);
        }
    segcl_image_free(&p);
}

static void test_png_and_jpeg(void **state)
{
    (void)state;
    char path[1024];
    segcl_image img;
    fixture(path, sizeof path, "folder/images/d.png");
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 3, &img));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int rgb[3];
            fixture_photo(3, x, y, rgb);
            for (int c = 0; c < 3; c++)
                assert_int_equal(img.pixels[(y * W + x) * 3 + c], rgb[c]);
        }
    segcl_image_free(&img);
    /* JPEG is lossy: the mean absolute difference stays small */
    fixture(path, sizeof path, "folder/images/a.jpg");
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 3, &img));
    double diff = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int rgb[3];
            fixture_photo(0, x, y, rgb);
            for (int c = 0; c < 3; c++)
                diff += abs(img.pixels[(y * W + x) * 3 + c] - rgb[c]);
        }
    assert_true(diff / (W * H * 3) < 12);
    segcl_image_free(&img);
    /* a JPEG mask read as grey keeps the shape */
    fixture(path, sizeof path, "folder/masks/d.jpeg");
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 1, &img));
    check_mask(&img, 3);
    segcl_image_free(&img);
    /* write and read back a PNG exactly */
    char out[512];
    snprintf(out, sizeof out, "%s/roundtrip.png", tmp_dir);
    fixture(path, sizeof path, "folder/images/d.png");
    segcl_image a, b;
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 3, &a));
    assert_ok(ctx, segcl_image_save_png(segcl_context_diag(ctx), out, &a));
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), out, 3, &b));
    assert_memory_equal(a.pixels, b.pixels, (size_t)W * H * 3);
    segcl_image_free(&a);
    segcl_image_free(&b);
}

static void test_corrupt_images(void **state)
{
    (void)state;
    const char *bad[] = {"truncated.bmp", "header_only.bmp", "bad_size.bmp", "truncated.png",
                         "truncated.jpg", "not_an_image.png", "empty.jpg", "missing.png"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char rel[256], path[1024];
        snprintf(rel, sizeof rel, "corrupt/%s", bad[i]);
        fixture(path, sizeof path, rel);
        segcl_image img;
        segcl_status st = segcl_image_load(segcl_context_diag(ctx), path, 3, &img);
        if (st != SEGCL_ERROR_FORMAT && st != SEGCL_ERROR_IO)
            fail_msg("%s: status %d (%s)", bad[i], st, segcl_context_error(ctx));
        assert_null(img.pixels);
        const char *msg = segcl_context_error(ctx);
        assert_non_null(strstr(msg, bad[i]));
        assert_null(strchr(msg, '\n')); /* one line */
    }
    /* the intact versions load */
    const char *good[] = {"whole.bmp", "whole.png", "whole.jpg"};
    for (int i = 0; i < 3; i++) {
        char rel[256], path[1024];
        snprintf(rel, sizeof rel, "corrupt/%s", good[i]);
        fixture(path, sizeof path, rel);
        segcl_image img;
        assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 3, &img));
        segcl_image_free(&img);
    }
}

static void test_dataset_layouts(void **state)
{
    (void)state;
    char path[1024];
    segcl_dataset *ds;
    fixture(path, sizeof path, "ph2/PH2Dataset");
    assert_ok(ctx, segcl_dataset_open(ctx, path, SEGCL_DATASET_AUTO, &ds));
    assert_int_equal(segcl_dataset_get_format(ds), SEGCL_DATASET_PH2);
    assert_int_equal(segcl_dataset_size(ds), 3);
    assert_int_equal(segcl_dataset_skipped(ds), 1); /* IMD004 has no lesion mask */
    assert_string_equal(ds->items[0].stem, "IMD001");
    assert_non_null(strstr(ds->items[2].mask_path, "IMD003_lesion/IMD003_lesion.bmp"));
    segcl_dataset_destroy(ds);

    fixture(path, sizeof path, "mads");
    for (int f = 0; f < 2; f++) {
        assert_ok(ctx, segcl_dataset_open(ctx, path, f ? SEGCL_DATASET_MADS : SEGCL_DATASET_AUTO,
                                          &ds));
        assert_int_equal(segcl_dataset_get_format(ds), SEGCL_DATASET_MADS);
        assert_int_equal(segcl_dataset_size(ds), 3);
        assert_string_equal(ds->items[1].stem, "Kata_F1");
        /* the outer copy, not the nested duplicate */
        assert_null(strstr(ds->items[1].image_path,
                           "img/segmentation_full_body_mads_dataset_1192_img/"));
        segcl_dataset_destroy(ds);
    }

    fixture(path, sizeof path, "folder");
    assert_ok(ctx, segcl_dataset_open(ctx, path, SEGCL_DATASET_AUTO, &ds));
    assert_int_equal(segcl_dataset_get_format(ds), SEGCL_DATASET_FOLDER);
    segcl_dataset_destroy(ds);
    assert_ok(ctx, segcl_dataset_open(ctx, path, SEGCL_DATASET_FOLDER, &ds));
    assert_int_equal(segcl_dataset_size(ds), 3);
    assert_int_equal(segcl_dataset_skipped(ds), 1); /* b.jpg */
    assert_string_equal(ds->items[0].stem, "a");
    assert_string_equal(ds->items[1].stem, "c");
    assert_string_equal(ds->items[2].stem, "d");
    segcl_dataset_destroy(ds);

    /* errors say what was expected */
    assert_int_equal(segcl_dataset_open(ctx, path, SEGCL_DATASET_PH2, &ds), SEGCL_ERROR_FORMAT);
    assert_non_null(strstr(segcl_context_error(ctx), "PH2 Dataset images"));
    fixture(path, sizeof path, "corrupt");
    assert_int_equal(segcl_dataset_open(ctx, path, SEGCL_DATASET_AUTO, &ds), SEGCL_ERROR_FORMAT);
    assert_non_null(strstr(segcl_context_error(ctx), "images/"));
    assert_int_equal(segcl_dataset_open(ctx, "/nonexistent/segcl", SEGCL_DATASET_AUTO, &ds),
                     SEGCL_ERROR_IO);
    segcl_dataset_format fmt;
    assert_int_equal(segcl_dataset_format_parse("mads", &fmt), SEGCL_OK);
    assert_int_equal(fmt, SEGCL_DATASET_MADS);
    assert_int_equal(segcl_dataset_format_parse("coco", &fmt), SEGCL_ERROR_INVALID_ARGUMENT);
}

static void test_resize(void **state)
{
    (void)state;
    segcl_image src, dst;
    assert_ok(ctx, segcl_image_alloc(segcl_context_diag(ctx), 40, 30, 3, &src));
    memset(src.pixels, 77, 40 * 30 * 3);
    assert_ok(ctx, segcl_image_resize(segcl_context_diag(ctx), &src, 16, 16, false, &dst));
    for (int i = 0; i < 16 * 16 * 3; i++)
        assert_int_equal(dst.pixels[i], 77);
    segcl_image_free(&dst);
    /* a fine checkerboard shrunk 4x averages to mid grey (antialiasing) */
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++)
            memset(src.pixels + (y * 40 + x) * 3, (x + y) % 2 ? 255 : 0, 3);
    assert_ok(ctx, segcl_image_resize(segcl_context_diag(ctx), &src, 10, 8, false, &dst));
    for (int i = 0; i < 10 * 8 * 3; i++)
        assert_true(dst.pixels[i] > 100 && dst.pixels[i] < 155);
    segcl_image_free(&dst);
    /* nearest keeps labels: no value appears that was not there */
    segcl_image m;
    assert_ok(ctx, segcl_image_alloc(segcl_context_diag(ctx), 40, 30, 1, &m));
    for (int i = 0; i < 40 * 30; i++)
        m.pixels[i] = (uint8_t)((i % 40) < 20 ? 3 : 9);
    assert_ok(ctx, segcl_image_resize(segcl_context_diag(ctx), &m, 13, 7, true, &dst));
    for (int i = 0; i < 13 * 7; i++)
        assert_true(dst.pixels[i] == 3 || dst.pixels[i] == 9);
    segcl_image_free(&dst);
    segcl_image_free(&m);
    segcl_image_free(&src);
}

static void test_loader(void **state)
{
    (void)state;
    char path[1024];
    fixture(path, sizeof path, "folder");
    segcl_dataset *ds;
    assert_ok(ctx, segcl_dataset_open(ctx, path, SEGCL_DATASET_AUTO, &ds));
    size_t idx[3] = {0, 1, 2};
    segcl_loader_config cfg = {.size = 16, .batch = 2, .augment = SEGCL_AUGMENT_DERMOSCOPY, .shuffle = true,
                               .seed = 5, .classes = 1, .std = {1, 1, 1}};
    segcl_loader *a, *b;
    assert_ok(ctx, segcl_loader_create(segcl_context_diag(ctx), ds, idx, 3, &cfg, &a));
    assert_ok(ctx, segcl_loader_create(segcl_context_diag(ctx), ds, idx, 3, &cfg, &b));
    assert_int_equal(segcl_loader_batches(a), 2);
    float xa[2 * 3 * 256], ta[2 * 256], xb[2 * 3 * 256], tb[2 * 256];
    size_t na, nb, sa[2], sb[2];
    /* same (seed, epoch, batch): the same batch, whatever was asked before */
    assert_ok(ctx, segcl_loader_get(a, 3, 1, xa, ta, &na, sa));
    assert_ok(ctx, segcl_loader_get(b, 0, 0, xb, tb, &nb, sb));
    assert_ok(ctx, segcl_loader_get(b, 3, 1, xb, tb, &nb, sb));
    assert_int_equal(na, 1); /* 3 samples, batch 2: the last batch has one */
    assert_int_equal(nb, 1);
    assert_memory_equal(xa, xb, na * 3 * 256 * sizeof(float));
    assert_memory_equal(ta, tb, na * 256 * sizeof(float));
    assert_int_equal(sa[0], sb[0]);
    for (size_t i = 0; i < na * 256; i++)
        assert_true(ta[i] == 0.0f || ta[i] == 1.0f);
    for (size_t i = 0; i < na * 3 * 256; i++)
        assert_true(xa[i] >= 0.0f && xa[i] <= 1.0f);
    /* every sample appears once per epoch */
    for (long e = 0; e < 3; e++) {
        int seen[3] = {0};
        for (size_t bi = 0; bi < 2; bi++) {
            assert_ok(ctx, segcl_loader_get(a, e, bi, xa, ta, &na, sa));
            for (size_t s = 0; s < na; s++)
                seen[sa[s]]++;
        }
        assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    }
    segcl_loader_destroy(a);
    segcl_loader_destroy(b);
    /* no augmentation, no shuffle: the resized image itself, normalised */
    cfg.augment = 0;
    cfg.shuffle = false;
    cfg.mean[0] = cfg.mean[1] = cfg.mean[2] = 0.5f;
    cfg.std[0] = cfg.std[1] = cfg.std[2] = 0.25f;
    assert_ok(ctx, segcl_loader_create(segcl_context_diag(ctx), ds, idx, 3, &cfg, &a));
    assert_ok(ctx, segcl_loader_get(a, 0, 0, xa, ta, &na, sa));
    assert_int_equal(sa[0], 0);
    segcl_image img, small;
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), ds->items[0].image_path, 3, &img));
    assert_ok(ctx, segcl_image_resize(segcl_context_diag(ctx), &img, 16, 16, false, &small));
    for (int p = 0; p < 256; p++)
        for (int c = 0; c < 3; c++)
            assert_float_equal(xa[c * 256 + p], (small.pixels[p * 3 + c] / 255.0f - 0.5f) / 0.25f,
                               1e-6);
    segcl_image_free(&img);
    segcl_image_free(&small);
    segcl_loader_destroy(a);
    /* class-index masks: 0/255 masks pass (255 is "ignore"); d.jpeg's JPEG noise holds values
     * beyond the class count, an error that names the file */
    cfg.classes = 2;
    assert_ok(ctx, segcl_loader_create(segcl_context_diag(ctx), ds, idx, 3, &cfg, &a));
    assert_ok(ctx, segcl_loader_get(a, 0, 0, xa, ta, &na, sa));
    assert_int_equal(segcl_loader_get(a, 0, 1, xa, ta, &na, sa), SEGCL_ERROR_FORMAT);
    assert_non_null(strstr(segcl_context_error(ctx), "d.jpeg"));
    assert_non_null(strstr(segcl_context_error(ctx), "classes"));
    segcl_loader_destroy(a);
    segcl_dataset_destroy(ds);
}

/* ---- checkpoints ---- */

static segcl_model *small_model(uint64_t seed)
{
    segcl_model_config cfg = {SEGCL_ARCH_UNET, 1, 4, 2, 3};
    segcl_model *m;
    assert_ok(ctx, segcl_model_create(ctx, &cfg, &m));
    assert_ok(ctx, segcl_model_init(m, seed));
    return m;
}

static void read_params(segcl_model *m, float **out, size_t *n)
{
    size_t total = segcl_model_parameter_elements(m), at = 0;
    for (size_t i = 0; i < segcl_model_bn_count(m); i++)
        total += 2 * segcl_model_bn(m, i)->op.running_mean->numel;
    float *all = malloc(total * sizeof *all);
    for (size_t i = 0; i < segcl_model_param_count(m); i++) {
        segcl_param *p = segcl_model_param(m, i);
        assert_ok(ctx, segcl_tensor_read(p->value, all + at, p->value->numel));
        at += p->value->numel;
    }
    for (size_t i = 0; i < segcl_model_bn_count(m); i++) {
        segcl_bn_layer *bn = segcl_model_bn(m, i);
        assert_ok(ctx, segcl_tensor_read(bn->op.running_mean, all + at, bn->op.running_mean->numel));
        at += bn->op.running_mean->numel;
        assert_ok(ctx, segcl_tensor_read(bn->op.running_var, all + at, bn->op.running_var->numel));
        at += bn->op.running_var->numel;
    }
    *out = all;
    *n = total;
}

/* The checkpoint at path, truncated at every interesting length and with corrupted headers:
 * errors, never crashes (loaded into b). */
static void check_damaged_copies(const char *path, segcl_model *b)
{
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *bytes = malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", tmp_dir);
    long cuts[] = {0, 4, 8, 20, 200, size / 2, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        f = fopen(bad, "wb");
        fwrite(bytes, 1, (size_t)cuts[i], f);
        fclose(f);
        segcl_status st = test_checkpoint_load(ctx, bad, b, true, NULL);
        if (st != SEGCL_ERROR_FORMAT)
            fail_msg("cut at %ld: status %d: %s", cuts[i], st, segcl_context_error(ctx));
    }
    /* header length low and high bytes, and the JSON's opening brace */
    const size_t flips[] = {0, 7, 8};
    for (size_t i = 0; i < 3; i++) {
        bytes[flips[i]] ^= 0x55;
        f = fopen(bad, "wb");
        fwrite(bytes, 1, (size_t)size, f);
        fclose(f);
        assert_int_equal(test_checkpoint_load(ctx, bad, b, true, NULL), SEGCL_ERROR_FORMAT);
        bytes[flips[i]] ^= 0x55;
    }
    free(bytes);
}

/* A failed save (out of host memory mid-way) of b over path leaves the existing checkpoint (of
 * step 17) untouched. */
static void check_failed_saves(const char *path, segcl_model *b, const segcl_run_config *meta)
{
    segcl_run_config got;
    segcl_model *c;
    int failed_saves = 0;
    for (long n = 0; n < 12; n++) {
        segcl_test_fail_alloc_after(n);
        segcl_status st = segcl_run_checkpoint_save(ctx, path, b, meta);
        segcl_test_fail_alloc_after(-1);
        if (st == SEGCL_OK)
            break;
        failed_saves++;
        assert_int_equal(test_checkpoint_load(ctx, path, c = small_model(3), true, &got), SEGCL_OK);
        assert_int_equal(got.step, 17);
        segcl_model_destroy(c);
    }
    assert_true(failed_saves > 0);
    assert_int_equal(access(path, F_OK), 0);
}

static void test_checkpoint_round_trip(void **state)
{
    (void)state;
    segcl_model *a = small_model(1), *b = small_model(2);
    /* non-trivial BN statistics and optimizer state */
    int64_t xs[4] = {2, 3, 16, 16};
    segcl_tensor *x, *logits;
    assert_ok(ctx, segcl_tensor_create(ctx, "x", 4, xs, &x));
    assert_ok(ctx, segcl_fill(ctx, x->buffer, x->numel, 0.3f));
    assert_ok(ctx, segcl_model_forward(a, x, true, &logits));
    segcl_optimizer opt;
    segcl_optimizer_defaults(&opt, SEGCL_OPTIMIZER_ADAM);
    assert_ok(ctx, segcl_model_zero_grad(a));
    assert_ok(ctx, segcl_model_step(a, &opt));
    segcl_run_config meta;
    segcl_run_config_defaults(&meta);
    meta.model = (segcl_model_config){SEGCL_ARCH_UNET, 1, 4, 2, 3};
    meta.step = 17;
    meta.epoch = 3;
    meta.seed = 99;
    meta.size = 48;
    snprintf(meta.data_dir, sizeof meta.data_dir, "/some/data");
    char path[512];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", tmp_dir);
    assert_ok(ctx, segcl_run_checkpoint_save(ctx, path, a, &meta));
    segcl_run_config got;
    assert_ok(ctx, test_checkpoint_load(ctx, path, b, true, &got));
    assert_true(got.from_segcl);
    assert_int_equal(got.step, 17);
    assert_int_equal(got.epoch, 3);
    assert_int_equal(got.seed, 99);
    assert_int_equal(got.size, 48);
    assert_int_equal(got.model.width, 4);
    assert_string_equal(got.data_dir, "/some/data");
    segcl_metadata md = {0};
    bool has_optimizer_state = false;
    assert_ok(ctx, segcl_checkpoint_read_metadata(ctx, path, &md, &has_optimizer_state));
    assert_true(has_optimizer_state);
    assert_string_equal(segcl_metadata_find(&md, "format")->value, "segcl");
    segcl_metadata_clear(&md);
    float *pa, *pb;
    size_t na, nb;
    read_params(a, &pa, &na);
    read_params(b, &pb, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, na * sizeof *pa);
    free(pa), free(pb);
    assert_int_equal(segcl_model_bn(b, 0)->num_batches_tracked, 1);
    segcl_param *p0 = segcl_model_param(b, 0);
    assert_non_null(p0->m);
    float ma[108], mb[108];
    assert_int_equal(p0->m->numel, 108);
    assert_ok(ctx, segcl_tensor_read(segcl_model_param(a, 0)->m, ma, 108));
    assert_ok(ctx, segcl_tensor_read(p0->m, mb, 108));
    assert_memory_equal(ma, mb, sizeof ma);

    /* a model of another shape refuses the file with a clear message */
    segcl_model_config other = {SEGCL_ARCH_UNET, 1, 8, 2, 3};
    segcl_model *c;
    assert_ok(ctx, segcl_model_create(ctx, &other, &c));
    assert_int_equal(test_checkpoint_load(ctx, path, c, false, NULL), SEGCL_ERROR_FORMAT);
    assert_non_null(strstr(segcl_context_error(ctx), "shape"));
    segcl_model_destroy(c);

    check_damaged_copies(path, b);
    check_failed_saves(path, b, &meta);
    segcl_tensor_destroy(x);
    segcl_model_destroy(a);
    segcl_model_destroy(b);
}

static void test_pytorch_state_dict(void **state)
{
    (void)state;
    char path[1024];
    test_data_path(path, sizeof path, "pytorch_unet_w4_d2.safetensors");
    segcl_run_config meta;
    assert_ok(ctx, segcl_run_config_read(ctx, path, &meta));
    assert_false(meta.from_segcl); /* a plain PyTorch export: the caller names the model */
    segcl_model *m = small_model(9);
    assert_ok(ctx, test_checkpoint_load(ctx, path, m, false, NULL));
    golden_file g;
    assert_int_equal(golden_load(&g, "pytorch_unet_w4_d2.golden"), 0);
    const golden_entry *in = golden_need(&g, "input"), *out = golden_need(&g, "logits");
    segcl_tensor *x, *logits;
    assert_ok(ctx, segcl_tensor_create(ctx, "x", 4, in->shape, &x));
    assert_ok(ctx, segcl_tensor_write(x, in->values, in->count));
    assert_ok(ctx, segcl_model_forward(m, x, false, &logits));
    float *y = malloc(logits->numel * sizeof *y);
    assert_ok(ctx, segcl_tensor_read(logits, y, logits->numel));
    double scale = 0;
    for (size_t i = 0; i < out->count; i++)
        scale = fmax(scale, fabs(out->values[i]));
    for (size_t i = 0; i < out->count; i++)
        if (!(fabs(y[i] - out->values[i]) <= 1e-4 * scale))
            fail_msg("logit %zu: segcl %g, PyTorch %g", i, y[i], out->values[i]);
    free(y);
    golden_free(&g);
    segcl_tensor_destroy(x);
    segcl_model_destroy(m);
}

/* Reads ../shared/datasets/PH2Dataset (the real PH2 subset beside the project's folder) when it
 * is there, and skips otherwise: a user's clone does not have it. Every photo and mask must
 * decode, masks must match their photo's size and hold only black and white. */
static void test_real_ph2_if_present(void **state)
{
    (void)state;
    const char *shared = getenv("SEGCL_TEST_SHARED_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/datasets/PH2Dataset", shared ? shared : "../shared");
    if (access(path, R_OK) != 0) {
        print_message("skipping: %s is absent (it lives beside the project's folder)\n", path);
        skip();
    }
    segcl_dataset *ds;
    assert_ok(ctx, segcl_dataset_open(ctx, path, SEGCL_DATASET_AUTO, &ds));
    assert_int_equal(segcl_dataset_get_format(ds), SEGCL_DATASET_PH2);
    assert_true(segcl_dataset_size(ds) >= 100);
    for (size_t i = 0; i < ds->count; i++) {
        segcl_image img, mask;
        assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), ds->items[i].image_path, 3, &img));
        assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), ds->items[i].mask_path, 1, &mask));
        assert_int_equal(img.width, mask.width);
        assert_int_equal(img.height, mask.height);
        size_t fg = 0, n = (size_t)mask.width * mask.height;
        for (size_t p = 0; p < n; p++) {
            if (mask.pixels[p] != 0 && mask.pixels[p] != 255)
                fail_msg("%s: value %d", ds->items[i].mask_path, mask.pixels[p]);
            fg += mask.pixels[p] == 255;
        }
        /* lesions cover 3% to 98% of a PH2 image */
        assert_true(fg > n / 50 && fg < n - n / 100);
        segcl_image_free(&img);
        segcl_image_free(&mask);
    }
    segcl_dataset_destroy(ds);
}

static int setup(void **state)
{
    (void)state;
    if (test_fixture_setup(&fx, "data", TEST_FIXTURE_TEMP | TEST_FIXTURE_DEVICE))
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
        cmocka_unit_test(test_bmp_variants),
        cmocka_unit_test(test_png_and_jpeg),
        cmocka_unit_test(test_corrupt_images),
        cmocka_unit_test(test_dataset_layouts),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_loader),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_pytorch_state_dict),
        cmocka_unit_test(test_real_ph2_if_present),
    };
    return cmocka_run_group_tests_name("data", tests, setup, teardown);
}
