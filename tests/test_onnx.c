/*
 * ONNX export checked by clients no one here wrote: ONNX Runtime (onnxruntime-node, run by
 * tests/onnx_run.js) computes the exported graphs' logits on the same inputs as segcl, within
 * 1e-4 of the largest logit, for U-Net and SegNet (PyTorch weights from tests/data, a model
 * segcl trained on PH2 when ../shared is beside the project, and the lesson networks with BatchNorm statistics from training passes), at
 * two input sizes and batches 1 and 4, with 1 and 3 classes; onnx.checker (Debian's
 * python3-onnx) accepts every graph. Both are skipped, with a message, when absent:
 * SEGCL_ONNX_NODE_MODULES names a node_modules folder holding onnxruntime-node
 * (tools/test.sh installs it there when npm is present). A model that cannot be exported
 * gives a clear error and leaves no file.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_checkpoint.h"
#include "model/model.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static segcl_context *ctx;
static const char *const tmp = fx.temp;
static const char *node_modules;
static bool have_checker;

/* One model to export, and what segcl computes for it. */
typedef struct exported {
    char onnx[512];
    int classes;
} exported;

static int run_command(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void write_floats(const char *path, const float *v, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(v, sizeof *v, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static float *read_floats(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    assert_int_equal(fread(v, sizeof *v, n, f), n);
    assert_int_equal(fgetc(f), EOF);
    fclose(f);
    return v;
}

/* Saves model as a segcl checkpoint and exports it; onnx.checker when present. */
static void save_and_export(segcl_model *model, int size, const char *name, char *onnx,
                            size_t len)
{
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/%s.safetensors", tmp, name);
    snprintf(onnx, len, "%s/%s.onnx", tmp, name);
    segcl_run_config meta;
    segcl_run_config_defaults(&meta);
    meta.from_segcl = true;
    meta.model = *segcl_model_get_config(model);
    meta.size = size;
    meta.classes_loss = meta.model.classes == 1 ? SEGCL_LOSS_BCE : SEGCL_LOSS_CE;
    assert_ok(ctx, segcl_run_checkpoint_save(ctx, ckpt, model, &meta));
    assert_ok(ctx, segcl_export_onnx(ctx, ckpt, onnx));
    if (have_checker) {
        char cmd[2400];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"import onnx, sys; m = onnx.load(sys.argv[1]); "
                 "onnx.checker.check_model(m, full_check=True); "
                 "assert m.opset_import[0].version >= 13\" '%s'",
                 onnx);
        assert_int_equal(run_command(cmd), 0);
    }
}

/* BatchNorm statistics that are not the initial 0 and 1: a few training-mode passes. */
static void train_statistics(segcl_model *model, int size, segcl_rng *rng)
{
    int64_t shape[4] = {2, 3, size, size};
    segcl_tensor *x, *logits;
    assert_ok(ctx, segcl_tensor_create(ctx, "x", 4, shape, &x));
    float *v = malloc(x->numel * sizeof *v);
    assert_non_null(v);
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < x->numel; i++)
            v[i] = 1.5f * (segcl_rng_uniform(rng) * 2 - 1) + 0.3f;
        assert_ok(ctx, segcl_tensor_write(x, v, x->numel));
        assert_ok(ctx, segcl_model_forward(model, x, true, &logits));
    }
    free(v);
    segcl_tensor_destroy(x);
}

/* Compares ONNX Runtime with segcl for the exported models on shared inputs. */
static void compare(segcl_model **models, exported *ex, int count)
{
    static const int sizes[2] = {32, 48}, batches[2] = {1, 4};
    char manifest[600];
    snprintf(manifest, sizeof manifest, "%s/manifest.json", tmp);
    FILE *mf = fopen(manifest, "w");
    assert_non_null(mf);
    fputs("[", mf);
    segcl_rng rng;
    segcl_rng_seed(&rng, 11, 3);
    float *expect[16];
    size_t numel[16];
    int job = 0;
    for (int m = 0; m < count; m++)
        for (int s = 0; s < 2; s++)
            for (int b = 0; b < 2; b++, job++) {
                const int n = batches[b], size = sizes[s];
                int64_t shape[4] = {n, 3, size, size};
                segcl_tensor *x, *logits;
                assert_ok(ctx, segcl_tensor_create(ctx, "x", 4, shape, &x));
                float *v = malloc(x->numel * sizeof *v);
                assert_non_null(v);
                for (size_t i = 0; i < x->numel; i++)
                    v[i] = (segcl_rng_uniform(&rng) * 2 - 1);
                assert_ok(ctx, segcl_tensor_write(x, v, x->numel));
                assert_ok(ctx, segcl_model_forward(models[m], x, false, &logits));
                numel[job] = logits->numel;
                assert_int_equal(numel[job], (size_t)n * ex[m].classes * size * size);
                expect[job] = malloc(numel[job] * sizeof(float));
                assert_non_null(expect[job]);
                assert_ok(ctx, segcl_tensor_read(logits, expect[job], numel[job]));
                char in[600];
                snprintf(in, sizeof in, "%s/in%d.bin", tmp, job);
                write_floats(in, v, x->numel);
                fprintf(mf, "%s{\"model\": \"%s\", \"input\": \"%s\", \"shape\": [%d, 3, %d, %d], "
                            "\"output\": \"%s/out%d.bin\"}",
                        job ? ",\n" : "", ex[m].onnx, in, n, size, size, tmp, job);
                free(v);
                segcl_tensor_destroy(x);
            }
    fputs("]\n", mf);
    assert_int_equal(fclose(mf), 0);
    char cmd[1600];
    const char *src = getenv("SEGCL_TEST_SOURCE_DIR");
    snprintf(cmd, sizeof cmd, "NODE_PATH='%s' node '%s/tests/onnx_run.js' '%s' >/dev/null",
             node_modules, src ? src : ".", manifest);
    assert_int_equal(run_command(cmd), 0);
    for (int j = 0; j < job; j++) {
        char out[600];
        snprintf(out, sizeof out, "%s/out%d.bin", tmp, j);
        float *got = read_floats(out, numel[j]);
        double scale = 0, worst = 0;
        for (size_t i = 0; i < numel[j]; i++) {
            scale = fmax(scale, fabs(expect[j][i]));
            worst = fmax(worst, fabs((double)got[i] - expect[j][i]));
        }
        if (!(worst <= 1e-4 * fmax(scale, 1e-3)))
            fail_msg("job %d (%s): ONNX Runtime differs by %g (largest logit %g)", j,
                     ex[j / 4].onnx, worst, scale);
        free(got);
        free(expect[j]);
    }
}

static segcl_model *lesson(segcl_arch arch, int classes, int width, int depth, uint64_t seed)
{
    segcl_model_config cfg = {arch, classes, width, depth, 3};
    segcl_model *m;
    assert_ok(ctx, segcl_model_create(ctx, &cfg, &m));
    assert_ok(ctx, segcl_model_init(m, seed));
    return m;
}

static void test_onnx_runtime_agrees(void **state)
{
    (void)state;
    if (!node_modules) {
        print_message("skipped: ONNX Runtime for Node.js is absent (set SEGCL_ONNX_NODE_MODULES "
                      "to a node_modules folder with onnxruntime-node; tools/test.sh installs "
                      "it when npm is present)\n");
        skip();
    }
    segcl_rng rng;
    segcl_rng_seed(&rng, 5, 1);
    segcl_model *models[4];
    exported ex[4];
    /* PyTorch's weights (tests/data): a U-Net of width 4, depth 2 */
    char path[1024];
    test_data_path(path, sizeof path, "pytorch_unet_w4_d2.safetensors");
    models[0] = lesson(SEGCL_ARCH_UNET, 1, 4, 2, 1);
    assert_ok(ctx, test_checkpoint_load(ctx, path, models[0], false, NULL));
    /* the lesson's networks, BatchNorm statistics from training passes */
    models[1] = lesson(SEGCL_ARCH_UNET, 1, 16, 4, 2);
    models[2] = lesson(SEGCL_ARCH_SEGNET, 1, 16, 4, 3);
    models[3] = lesson(SEGCL_ARCH_UNET, 3, 8, 3, 4); /* --classes 3 */
    const char *names[4] = {"pytorch_unet", "lesson_unet", "lesson_segnet", "unet_3_classes"};
    for (int m = 0; m < 4; m++) {
        if (m)
            train_statistics(models[m], 32, &rng);
        ex[m].classes = segcl_model_get_config(models[m])->classes;
        save_and_export(models[m], 32, names[m], ex[m].onnx, sizeof ex[m].onnx);
    }
    compare(models, ex, 4);
    for (int m = 0; m < 4; m++)
        segcl_model_destroy(models[m]);
}

/* A model segcl trained exports from its run folder: on PH2 (../shared, a few steps) where it
 * is beside the project, else on the synthetic set. */
static void test_trained_run_exports(void **state)
{
    (void)state;
    if (!node_modules)
        skip();
    char data[400], run[400], ph2[600];
    snprintf(run, sizeof run, "%s/run", tmp);
    const char *shared = getenv("SEGCL_TEST_SHARED_DIR");
    snprintf(ph2, sizeof ph2, "%s/datasets/PH2Dataset", shared ? shared : "../shared");
    segcl_train_options o;
    segcl_train_default_options(&o);
    if (access(ph2, R_OK) == 0) {
        o.data_dir = ph2;
        o.max_steps = 6;
    } else {
        print_message("note: ../shared/datasets/PH2Dataset is absent: the trained model comes "
                      "from the synthetic set\n");
        snprintf(data, sizeof data, "%s/synth", tmp);
        assert_ok(ctx, segcl_synth(ctx, data, 12, 48, 7));
        o.data_dir = data;
        o.epochs = 2;
    }
    o.out_dir = run;
    o.size = 32;
    o.batch = 4;
    o.overlays = 0;
    segcl_train_summary s;
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    exported ex = {.classes = 1};
    snprintf(ex.onnx, sizeof ex.onnx, "%s/trained.onnx", tmp);
    assert_ok(ctx, segcl_export_onnx(ctx, run, ex.onnx));
    segcl_model *m = lesson(SEGCL_ARCH_UNET, 1, 16, 4, 9);
    char best[500];
    snprintf(best, sizeof best, "%s/best.safetensors", run);
    assert_ok(ctx, test_checkpoint_load(ctx, best, m, false, NULL));
    compare(&m, &ex, 1);
    segcl_model_destroy(m);
}

/* Models that cannot be exported: a clear error, and no file left behind. */
static void test_export_errors(void **state)
{
    (void)state;
    char out[600], bad[600];
    snprintf(out, sizeof out, "%s/never.onnx", tmp);
    snprintf(bad, sizeof bad, "%s/truncated.safetensors", tmp);
    FILE *f = fopen(bad, "wb");
    assert_non_null(f);
    fputs("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", f);
    fclose(f);
    assert_int_equal(segcl_export_onnx(ctx, bad, out), SEGCL_ERROR_FORMAT);
    assert_non_null(strstr(segcl_context_error(ctx), "truncated.safetensors"));
    assert_int_not_equal(access(out, F_OK), 0);
    /* a PyTorch state_dict has no settings: say what to do */
    char path[1024];
    test_data_path(path, sizeof path, "pytorch_unet_w4_d2.safetensors");
    assert_int_equal(segcl_export_onnx(ctx, path, out), SEGCL_ERROR_FORMAT);
    assert_non_null(strstr(segcl_context_error(ctx), "no segcl metadata"));
    assert_int_equal(segcl_export_onnx(ctx, "/nonexistent/model", out), SEGCL_ERROR_IO);
    assert_int_not_equal(access(out, F_OK), 0);
    /* an existing file is replaced only by a whole export */
    f = fopen(out, "w");
    assert_non_null(f);
    fputs("previous", f);
    fclose(f);
    assert_int_not_equal(segcl_export_onnx(ctx, bad, out), SEGCL_OK);
    char *kept = test_read_file(out);
    assert_string_equal(kept, "previous");
    free(kept);
}

static int setup(void **state)
{
    (void)state;
    if (test_fixture_setup(&fx, "onnx", TEST_FIXTURE_TEMP | TEST_FIXTURE_DEVICE))
        return -1;
    ctx = fx.ctx;
    node_modules = getenv("SEGCL_ONNX_NODE_MODULES");
    char probe[700];
    if (node_modules) {
        snprintf(probe, sizeof probe, "%s/onnxruntime-node/package.json", node_modules);
        if (access(probe, R_OK) != 0 || run_command("node --version >/dev/null 2>&1") != 0)
            node_modules = NULL;
    }
    have_checker = run_command("/usr/bin/python3 -c 'import onnx.checker' 2>/dev/null") == 0;
    if (!have_checker)
        print_message("note: onnx.checker is absent (apt-get install python3-onnx); graphs are "
                      "checked by ONNX Runtime only\n");
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
        cmocka_unit_test(test_onnx_runtime_agrees),
        cmocka_unit_test(test_trained_run_exports),
        cmocka_unit_test(test_export_errors),
    };
    return cmocka_run_group_tests_name("onnx export", tests, setup, teardown);
}
