/*
 * Training end to end through the library API on a small synthetic set: the run folder's
 * files, resume equivalence (a run stopped by Ctrl-C after 5 steps and resumed ends with
 * bitwise the same weights as an uninterrupted one), evaluation and prediction outputs, and
 * errors for bad options.
 */
#include <math.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <png.h>
#include <turbojpeg.h>

#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static segcl_context *ctx;
static const char *const tmp = fx.temp;
static char data[300];

static void base_options(segcl_train_options *o, const char *out)
{
    segcl_train_default_options(o);
    o->data_dir = data;
    o->out_dir = out;
    o->width = 4;
    o->depth = 2;
    o->size = 32;
    o->batch = 4;
    o->epochs = 3;
    o->val_fraction = 0.25f;
    o->overlays = 2;
}

static segcl_atomic_int cancel_flag;
static long cancel_at;

static void cancel_after(const segcl_train_progress *p, void *user)
{
    (void)user;
    if (p->event == 0 && p->step >= cancel_at && !atomic_load(&cancel_flag)) {
        /* time spent before the stop, which the run's clock must keep across --resume */
        nanosleep(&(struct timespec){0, 400000000}, NULL);
        atomic_store(&cancel_flag, 1);
    }
}


/* A whole file's bytes (free() them). */
static unsigned char *file_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    assert_true(n > 0);
    unsigned char *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Whether the bytes hold the text. */
static bool holds(const unsigned char *bytes, size_t len, const char *text)
{
    const size_t k = strlen(text);
    for (size_t i = 0; i + k <= len; i++)
        if (!memcmp(bytes + i, text, k))
            return true;
    return false;
}

/* A PNG read as `format` (libpng's simplified API); free() the pixels. */
static uint8_t *read_png(const char *path, uint32_t format, int *w, int *h)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path))
        fail_msg("cannot read %s: %s", path, im.message);
    im.format = format;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(im));
    assert_non_null(px);
    assert_true(png_image_finish_read(&im, NULL, px, 0, NULL) != 0);
    *w = (int)im.width, *h = (int)im.height;
    return px;
}

/* A JPEG decoded to RGB with libjpeg-turbo; free() the pixels. */
static uint8_t *read_jpeg(const char *path, int *w, int *h)
{
    size_t len;
    unsigned char *bytes = file_bytes(path, &len);
    assert_non_null(bytes);
    tjhandle tj = tjInitDecompress();
    assert_non_null(tj);
    int sub, space;
    assert_int_equal(tjDecompressHeader3(tj, bytes, (unsigned long)len, w, h, &sub, &space), 0);
    uint8_t *px = malloc((size_t)*w * *h * 3);
    assert_non_null(px);
    assert_int_equal(tjDecompress2(tj, bytes, (unsigned long)len, px, *w, 0, *h, TJPF_RGB,
                                   TJFLAG_ACCURATEDCT), 0);
    tjDestroy(tj);
    free(bytes);
    return px;
}

/* The composite (JPEG) in out over solid green: green where alpha (from the cut-out) is 0
 * and all neighbours too, the photo where it is 255, the blend between. */
static void check_composite(const char *out, const uint8_t *cut, const uint8_t *photo, int w, int h)
{
    char path[900];
    int w2, h2;
    snprintf(path, sizeof path, "%s/synth0003_composite.jpg", out);
    assert_int_equal(access(path, R_OK), 0);
    uint8_t *comp = read_jpeg(path, &w2, &h2);
    assert_true(w2 == w && h2 == h);
    size_t checked = 0;
    for (int y = 2; y < h - 2; y++)
        for (int x = 2; x < w - 2; x++) {
            int lo = 255, hi = 0; /* where alpha is flat, JPEG keeps the blend's colour */
            for (int dy = -2; dy <= 2; dy++)
                for (int dx = -2; dx <= 2; dx++) {
                    const int a = cut[4 * ((y + dy) * w + x + dx) + 3];
                    lo = a < lo ? a : lo, hi = a > hi ? a : hi;
                }
            if (hi - lo > 8)
                continue;
            const int a = cut[4 * (y * w + x) + 3];
            const uint8_t *c = comp + 3 * (y * w + x), *ph = photo + 3 * (y * w + x);
            const int green[3] = {0, 255, 0};
            for (int k = 0; k < 3; k++)
                assert_true(abs(c[k] - (a * ph[k] + (255 - a) * green[k]) / 255) <= 24);
            checked++;
        }
    assert_true(checked > 0);
    free(comp);
}

/* The instances' JSON in out: areas add up to the mask's foreground (fg pixels); boxes inside
 * the picture (w wide). */
static void check_instances_json(const char *out, int w, size_t fg)
{
    char path[900];
    snprintf(path, sizeof path, "%s/synth0003_instances.json", out);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    assert_non_null(root);
    json_t *list = json_object_get(root, "instances");
    const size_t n = json_array_size(list);
    assert_int_equal((size_t)json_integer_value(json_object_get(root, "count")), n);
    assert_true(n >= 1);
    json_int_t area = 0;
    for (size_t k = 0; k < n; k++) {
        json_t *e = json_array_get(list, k), *box = json_object_get(e, "bbox");
        assert_int_equal(json_integer_value(json_object_get(e, "class")), 1);
        area += json_integer_value(json_object_get(e, "area"));
        const json_int_t x = json_integer_value(json_object_get(box, "x")),
                         bw = json_integer_value(json_object_get(box, "width"));
        assert_true(x >= 0 && bw >= 1 && x + bw <= w);
        json_t *c = json_object_get(e, "centroid");
        assert_true(json_real_value(json_array_get(c, 0)) >= (double)x);
    }
    assert_int_equal(area, (json_int_t)fg);
    json_decref(root);
}

/* The lab's outputs from a trained model: the cut-out's alpha follows the mask (above one
 * half exactly where the mask is foreground), the composite over a solid colour has that
 * colour where alpha is 0 (within JPEG's error away from edges) and the photo where it is
 * 255, and the instances' JSON agrees with the picture and the mask. */
static void check_lab_outputs(const char *model, const char *image, const char *dir)
{
    char out[600], path[900];
    snprintf(out, sizeof out, "%s/lab", dir);
    segcl_predictor_options po;
    segcl_predictor_default_options(&po);
    po.cutout = true;
    po.background = "#00ff00";
    po.instances = true;
    po.overlay = SEGCL_OVERLAY_CONTOUR;
    segcl_predictor *p;
    assert_ok(ctx, segcl_predictor_open(ctx, model, &po, &p));
    const char *inputs[] = {image};
    assert_ok(ctx, segcl_predict_files(p, inputs, 1, out, false, NULL, NULL));
    segcl_predictor_destroy(p);
    int w, h, w2, h2, w3, h3, w4, h4;
    snprintf(path, sizeof path, "%s/synth0003_mask.png", out);
    uint8_t *mask = read_png(path, PNG_FORMAT_GRAY, &w, &h);
    snprintf(path, sizeof path, "%s/synth0003_cutout.png", out);
    uint8_t *cut = read_png(path, PNG_FORMAT_RGBA, &w2, &h2);
    snprintf(path, sizeof path, "%s/synth0003_instances.png", out);
    uint8_t *inst = read_png(path, PNG_FORMAT_RGB, &w3, &h3);
    snprintf(path, sizeof path, "%s/synth0003_overlay.jpg", out);
    assert_int_equal(access(path, R_OK), 0);
    uint8_t *photo = read_png(image, PNG_FORMAT_RGB, &w4, &h4);
    assert_true(w == w2 && h == h2 && w == w3 && h == h3 && w == w4 && h == h4);
    size_t fg = 0, zero = 0, opaque = 0;
    for (int i = 0; i < w * h; i++) {
        const int a = cut[4 * i + 3];
        assert_true(mask[i] == 0 || mask[i] == 255);
        assert_int_equal(mask[i] == 255, a > 127);          /* threshold 0.5, no feather */
        assert_memory_equal(cut + 4 * i, photo + 3 * i, 3); /* colours untouched */
        const bool coloured = inst[3 * i] || inst[3 * i + 1] || inst[3 * i + 2];
        assert_int_equal(coloured, mask[i] == 255);
        fg += mask[i] == 255;
        zero += a == 0;
        opaque += a == 255;
    }
    assert_true(fg > 0 && fg < (size_t)w * h);
    assert_true(zero + opaque < (size_t)w * h); /* a soft alpha, not a hard mask */
    check_composite(out, cut, photo, w, h);
    check_instances_json(out, w, fg);
    free(mask), free(cut), free(inst), free(photo);
}

/* The run folder out of a 3-epoch run: its files, a metrics.csv row per epoch, overlays. */
static void check_run_files(const char *out)
{
    char path[1024];
    const char *files[] = {"checkpoint.safetensors", "best.safetensors", "metrics.csv",
                           "curves.svg"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        assert_int_equal(access(path, R_OK), 0);
    }
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    FILE *f = fopen(path, "r");
    char line[512];
    int lines = 0;
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "epoch,step,lr,train_loss,val_loss,val_dice,val_iou"));
    while (fgets(line, sizeof line, f))
        lines++;
    fclose(f);
    assert_int_equal(lines, 3);
    /* the first validation image depends on the split; some overlay of epoch 3 exists */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/overlays/epoch003_*.jpg >/dev/null 2>&1", out);
    assert_int_equal(system(cmd), 0);
}

/* Files a and b hold the same bytes. */
static void assert_same_bytes(const char *a, const char *b)
{
    size_t la, lb;
    unsigned char *da = file_bytes(a, &la), *db = file_bytes(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    free(da), free(db);
}

/* segcl export of the run out: weights only (no optimizer moments: about a third of the
 * checkpoint), and from it the same mask of img as mask (the best checkpoint's); never over the
 * model itself, never from what is not a model. */
static void check_export(const char *out, const char *img, const char *mask)
{
    char exported[700], path[1024], pred[500], b[1100];
    const char *inputs[] = {img};
    segcl_predictor *p;
    snprintf(exported, sizeof exported, "%s/exported.safetensors", tmp);
    assert_ok(ctx, segcl_export_weights(ctx, out, exported));
    snprintf(path, sizeof path, "%s/best.safetensors", out);
    size_t full_len, weights_len;
    unsigned char *full = file_bytes(path, &full_len),
                  *weights = file_bytes(exported, &weights_len);
    assert_true(weights_len * 10 < full_len * 4 && weights_len * 10 > full_len * 3);
    assert_false(holds(weights, weights_len, "optimizer."));
    assert_true(holds(full, full_len, "optimizer.m."));
    free(full), free(weights);
    snprintf(pred, sizeof pred, "%s/pred-from-export", tmp);
    assert_ok(ctx, segcl_predictor_open(ctx, exported, NULL, &p));
    assert_ok(ctx, segcl_predict_files(p, inputs, 1, pred, false, NULL, NULL));
    segcl_predictor_destroy(p);
    snprintf(b, sizeof b, "%s/synth0003_mask.png", pred);
    assert_same_bytes(mask, b);
    /* never over the model itself, never from what is not a model */
    assert_int_equal(segcl_export_weights(ctx, path, path), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(segcl_context_error(ctx), "is the model itself"));
    assert_int_not_equal(segcl_export_weights(ctx, data, exported), SEGCL_OK);
    assert_non_null(strstr(segcl_context_error(ctx), "not a segcl run folder"));
}

static void test_train_outputs(void **state)
{
    (void)state;
    char out[400], path[1024];
    snprintf(out, sizeof out, "%s/run", tmp);
    segcl_train_options o;
    base_options(&o, out);
    segcl_train_summary s;
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    assert_int_equal(s.epochs_done, 3);
    assert_int_equal(s.steps, 3 * 3); /* 12 training images, batch 4 */
    assert_true(s.final_val_dice >= 0 && s.final_val_dice <= 1);
    check_run_files(out);

    /* evaluation and prediction from the best checkpoint */
    snprintf(path, sizeof path, "%s/best.safetensors", out);
    segcl_predictor *p;
    assert_ok(ctx, segcl_predictor_open(ctx, path, NULL, &p));
    segcl_dataset *ds;
    assert_ok(ctx, segcl_dataset_open(ctx, data, SEGCL_DATASET_AUTO, &ds));
    segcl_eval_result r;
    assert_ok(ctx, segcl_evaluate(p, ds, &r));
    assert_int_equal(r.count, 16);
    assert_true(r.pixel_accuracy > 0 && r.pixel_accuracy <= 1);
    assert_string_equal(r.images[0].name, "synth0000");
    segcl_eval_result_free(&r);
    segcl_dataset_destroy(ds);
    char img[500], pred[500];
    snprintf(img, sizeof img, "%s/images/synth0003.png", data);
    snprintf(pred, sizeof pred, "%s/pred", tmp);
    const char *inputs[] = {img};
    assert_ok(ctx, segcl_predict_files(p, inputs, 1, pred, true, NULL, NULL));
    const char *outs[] = {"synth0003_mask.png", "synth0003_overlay.jpg", "synth0003_logits.npy"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", pred, outs[i]);
        assert_int_equal(access(path, R_OK), 0);
    }
    segcl_predictor_destroy(p);
    snprintf(path, sizeof path, "%s/best.safetensors", out);
    check_lab_outputs(path, img, tmp);

    /* the run folder itself: its best checkpoint, the same masks */
    snprintf(pred, sizeof pred, "%s/pred-from-run", tmp);
    assert_ok(ctx, segcl_predictor_open(ctx, out, NULL, &p));
    assert_ok(ctx, segcl_predict_files(p, inputs, 1, pred, false, NULL, NULL));
    segcl_predictor_destroy(p);
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/pred/synth0003_mask.png", tmp);
    snprintf(b, sizeof b, "%s/synth0003_mask.png", pred);
    assert_same_bytes(a, b);
    /* a folder that is no run */
    assert_int_equal(segcl_predictor_open(ctx, data, NULL, &p), SEGCL_ERROR_IO);
    assert_null(p);
    assert_non_null(strstr(segcl_context_error(ctx), "not a segcl run folder"));

    check_export(out, img, a);
}

static void test_resume_is_exact(void **state)
{
    (void)state;
    char a[400], b[400], pa[1024], pb[1024];
    snprintf(a, sizeof a, "%s/straight", tmp);
    snprintf(b, sizeof b, "%s/interrupted", tmp);
    segcl_train_options o;
    segcl_train_summary s;
    base_options(&o, a);
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    assert_int_equal(s.interrupted, 0);

    /* stopped (as Ctrl-C does) after 5 steps: in the middle of epoch 2 */
    base_options(&o, b);
    atomic_store(&cancel_flag, 0);
    cancel_at = 5;
    o.cancel = &cancel_flag;
    o.progress = cancel_after;
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    assert_int_equal(s.interrupted, 1);
    assert_int_equal(s.steps, 5);
    segcl_train_options r;
    segcl_train_default_options(&r);
    r.resume_dir = b;
    assert_ok(ctx, segcl_train(ctx, &r, &s));
    assert_int_equal(s.interrupted, 0);
    assert_int_equal(s.steps, 9);

    snprintf(pa, sizeof pa, "%s/checkpoint.safetensors", a);
    snprintf(pb, sizeof pb, "%s/checkpoint.safetensors", b);
    size_t la, lb;
    unsigned char *da = test_tensor_bytes(pa, &la), *db = test_tensor_bytes(pb, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    free(da);
    free(db);

    /* metrics.csv: one row per epoch with the learning rate, and a clock that continues across
     * the resume (the 0.4 s spent before the stop are in the rows written after it) */
    snprintf(pb, sizeof pb, "%s/metrics.csv", b);
    FILE *f = fopen(pb, "r");
    assert_non_null(f);
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, ",lr,"));
    assert_non_null(strstr(line, ",seconds"));
    double seconds[3], lr;
    int rows = 0;
    while (rows < 3 && fgets(line, sizeof line, f)) {
        const char *last = strrchr(line, ',');
        seconds[rows] = atof(last + 1);
        const char *c = strchr(strchr(line, ',') + 1, ',') + 1; /* epoch,step,lr */
        lr = atof(c);
        assert_true(fabs(lr - o.lr) < 1e-9);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 3);
    assert_true(seconds[1] >= seconds[0] + 0.4 && seconds[2] >= seconds[1]);
}

/* Ctrl-C comes from another thread (the CLI's signal thread): the flag is shared across
 * threads, which ThreadSanitizer (tools/test.sh's thread stage) checks. It comes once the run
 * has taken a step, however long setting up took (sanitizers on a loaded machine: seconds). */
static atomic_int stepped;

static void count_steps(const segcl_train_progress *progress, void *user)
{
    (void)user;
    if (progress->event == 0)
        atomic_store(&stepped, 1);
}

static void *cancel_later(void *arg)
{
    (void)arg;
    for (int i = 0; i < 6000 && !atomic_load(&stepped); i++) /* at most 10 minutes */
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    atomic_store(&cancel_flag, 1);
    return NULL;
}

static void test_cancel_from_another_thread(void **state)
{
    (void)state;
    char out[400];
    snprintf(out, sizeof out, "%s/cancelled", tmp);
    segcl_train_options o;
    segcl_train_summary s;
    base_options(&o, out);
    o.epochs = 100000;
    atomic_store(&cancel_flag, 0);
    atomic_store(&stepped, 0);
    o.cancel = &cancel_flag;
    o.progress = count_steps;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cancel_later, NULL), 0);
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    pthread_join(t, NULL);
    assert_int_equal(s.interrupted, 1);
    assert_true(s.steps > 0);
}

static void test_bad_options(void **state)
{
    (void)state;
    char out[400];
    snprintf(out, sizeof out, "%s/bad", tmp);
    segcl_train_options o;
    segcl_train_summary s;
    base_options(&o, out);
    o.arch = "resnet";
    assert_int_equal(segcl_train(ctx, &o, &s), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(segcl_context_error(ctx), "resnet"));
    base_options(&o, out);
    o.size = 30; /* not a multiple of 4 for depth 2 */
    assert_int_equal(segcl_train(ctx, &o, &s), SEGCL_ERROR_INVALID_ARGUMENT);
    base_options(&o, out);
    o.data_dir = "/nonexistent/segcl-data";
    assert_int_equal(segcl_train(ctx, &o, &s), SEGCL_ERROR_IO);
    assert_non_null(strstr(segcl_context_error(ctx), "/nonexistent/segcl-data"));
    base_options(&o, out);
    o.loss = "focal";
    assert_int_equal(segcl_train(ctx, &o, &s), SEGCL_ERROR_INVALID_ARGUMENT);
    /* resuming a folder that does not exist: an error, and nothing created (this wrote
     * /nonexistent/segcl-run/.lock when the tests ran as root) */
    char missing[500];
    snprintf(missing, sizeof missing, "%s/no-such-run", tmp);
    segcl_train_default_options(&o);
    o.resume_dir = missing;
    assert_int_equal(segcl_train(ctx, &o, &s), SEGCL_ERROR_IO);
    assert_int_not_equal(access(missing, F_OK), 0);
    /* every error leaves a cleared summary, the NULL-argument ones included */
    static const segcl_train_summary cleared = {.failed_rank = -1};
    memset(&s, 0x5a, sizeof s);
    assert_int_equal(segcl_train(NULL, &o, &s), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_memory_equal(&s, &cleared, sizeof s);
    memset(&s, 0x5a, sizeof s);
    assert_int_equal(segcl_train(ctx, NULL, &s), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_memory_equal(&s, &cleared, sizeof s);
    /* a truncated checkpoint cannot be used to predict: one clear error */
    char path[1024];
    snprintf(path, sizeof path, "%s/trunc.safetensors", tmp);
    FILE *f = fopen(path, "wb");
    fwrite("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", 1, 13, f);
    fclose(f);
    segcl_predictor *p;
    assert_int_equal(segcl_predictor_open(ctx, path, NULL, &p), SEGCL_ERROR_FORMAT);
}

/* A validation split larger than any fixed array, in one batch: 1045 of 1100 images, batch
 * 2048 (the validation used a 1024-entry array). */
static void test_huge_validation_batch(void **state)
{
    (void)state;
    char big[400], out[400];
    snprintf(big, sizeof big, "%s/big", tmp);
    snprintf(out, sizeof out, "%s/bigrun", tmp);
    assert_ok(ctx, segcl_synth(ctx, big, 1100, 16, 9));
    segcl_train_options o;
    segcl_train_default_options(&o);
    o.data_dir = big;
    o.out_dir = out;
    o.width = 2;
    o.depth = 1;
    o.size = 16;
    o.batch = 2048;
    o.epochs = 1;
    o.val_fraction = 0.95f;
    o.overlays = 1;
    segcl_train_summary s;
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    assert_int_equal(s.epochs_done, 1);
    assert_int_equal(s.steps, 1);
    assert_true(s.final_val_pixel_accuracy > 0 && s.final_val_pixel_accuracy <= 1);
}

static int setup(void **state)
{
    (void)state;
    if (test_fixture_setup(&fx, "train", TEST_FIXTURE_TEMP | TEST_FIXTURE_DEVICE) ||
        test_fixture_synth(&fx, "data", 16, 48, 3, data, sizeof data))
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
        cmocka_unit_test(test_train_outputs),
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_cancel_from_another_thread),
        cmocka_unit_test(test_huge_validation_batch),
    };
    return cmocka_run_group_tests_name("train", tests, setup, teardown);
}
