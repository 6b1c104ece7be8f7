/*
 * The segcl executable end to end: help and version, device listing, device errors that list
 * the valid indices, unknown commands and options, and a machine with no OpenCL platform.
 * SEGCL_EXE names the binary under test.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_run.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static const char *const tmp = fx.temp;

static void test_help_and_version(void **state)
{
    (void)state;
    run_result out, err;
    run(NULL, "--help", &out, &err);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.out, "usage: segcl"));
    assert_non_null(strstr(out.out, "devices"));
    assert_non_null(strstr(out.out, "--device"));
    run(NULL, "--version", &out, &err);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.out, "segcl "));
    run(NULL, "devices --help", &out, &err);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.out, "usage: segcl [--device N|P:D|NAME] devices"));
    run(NULL, "selftest --help", &out, &err);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.out, "selftest"));
    run(NULL, "", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "usage"));
}

static void test_unknown_command_and_option(void **state)
{
    (void)state;
    run_result out, err;
    run(NULL, "devics", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "unknown command 'devics'"));
    assert_non_null(strstr(err.out, "did you mean 'devices'"));
    assert_int_equal(count_lines(err.out), 1);
    run(NULL, "--frobnicate devices", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "unknown option '--frobnicate'"));
    run(NULL, "devices --frobnicate", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "'--frobnicate'"));
    run(NULL, "--device", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "needs a value"));
}

static void test_devices_listing(void **state)
{
    (void)state;
    run_result out, err;
    run("env -u SEGCL_DEVICE", "devices", &out, &err);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.out, "* 0"));
    assert_non_null(strstr(out.out, "index 0:0"));
    assert_non_null(strstr(out.out, "compute units"));
    assert_non_null(strstr(out.out, "OpenCL C"));
    assert_non_null(strstr(out.out, "fp64"));
    assert_string_equal(err.out, "");
    run("env -u SEGCL_DEVICE", "--device 0:0 devices", &out, &err);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.out, "* 0"));
    /* global options also after the command, as people type them */
    run("env -u SEGCL_DEVICE", "devices --device 0:0", &out, &err);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.out, "* 0"));
    run("env -u SEGCL_DEVICE", "selftest --device 99", &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "no OpenCL device '99'"));
}

static void test_bad_device(void **state)
{
    (void)state;
    run_result out, err;
    run("env -u SEGCL_DEVICE", "--device 99 devices", &out, &err);
    assert_int_equal(out.status, 1);
    assert_string_equal(out.out, "");
    assert_non_null(strstr(err.out, "segcl: no OpenCL device '99'"));
    assert_non_null(strstr(err.out, "valid devices: 0"));
    assert_int_equal(count_lines(err.out), 1);
    run("env -u SEGCL_DEVICE", "--device banana selftest", &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "no OpenCL device 'banana'"));
    assert_non_null(strstr(err.out, "valid devices: 0"));
    run("env SEGCL_DEVICE=42", "selftest", &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "SEGCL_DEVICE"));
    /* a device by (part of) its own name or its platform's, any case: the one marked '*' */
    run("env -u SEGCL_DEVICE", "devices", &out, &err);
    const char *star = strstr(out.out, "* ");
    assert_non_null(star);
    char name[64];
    assert_int_equal(sscanf(star, "* %*d %63s", name), 1);
    for (char *c = name; *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    char args[200];
    snprintf(args, sizeof args, "--device '%s' devices", name);
    run("env -u SEGCL_DEVICE", args, &out, &err);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.out, "* "));
}

static void test_no_platform(void **state)
{
    (void)state;
    /* ocl-icd reads OCL_ICD_VENDORS: an empty folder means no platform is installed. */
    run_result out, err;
    run("env OCL_ICD_VENDORS=/nonexistent-segcl-vendors", "devices", &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "no OpenCL platform"));
    assert_non_null(strstr(err.out, "pocl-opencl-icd"));
    assert_int_equal(count_lines(err.out), 1);
}

static void test_selftest_runs(void **state)
{
    (void)state;
    run_result out, err;
    run("env -u SEGCL_DEVICE", "selftest", &out, &err);
    if (out.status != 0)
        fail_msg("selftest failed: %s", err.out);
    assert_non_null(strstr(out.out, "selftest passed"));
    assert_non_null(strstr(out.out, "GFLOP/s"));
    assert_non_null(strstr(out.out, "large shapes"));
    /* a device whose long products come out wrong (here: the last term dropped from products
     * of 1000 terms or more, as llvmpipe cuts loops short) is refused by selftest and train */
    run("env -u SEGCL_DEVICE SEGCL_TEST_GEMM_FAULT=1000", "selftest", &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "computes matrix products wrongly"));
    assert_int_equal(count_lines(err.out), 1);
    char args[600];
    snprintf(args, sizeof args, "train --data %s/syn --out %s/refused --size 32 --width 4",
             tmp, tmp);
    run("env -u SEGCL_DEVICE SEGCL_TEST_GEMM_FAULT=1000", args, &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "computes matrix products wrongly"));
    snprintf(args, sizeof args, "%s/refused", tmp);
    assert_int_not_equal(access(args, F_OK), 0); /* nothing was started */
}

/* The lab's outputs from the command line, and their one-line errors (after the run that
 * test_train_predict_eval trains). */
static void check_lab_options(void)
{
    run_result out, err;
    char args[2048];
    snprintf(args, sizeof args,
             "predict --model %s/run --out %s/lab --cutout --feather 2 --background blur:5 "
             "--instances --min-area 3 --overlay contour %s/syn/images/synth0004.png",
             tmp, tmp, tmp);
    run(NULL, args, &out, &err);
    if (out.status != 0)
        fail_msg("predict failed: %s", err.out);
    assert_non_null(strstr(out.out, "synth0004_cutout.png"));
    assert_non_null(strstr(out.out, "synth0004_composite.jpg"));
    assert_non_null(strstr(out.out, "synth0004_instances.json"));
    assert_non_null(strstr(out.out, " instance"));
    const char *bad[][2] = {{"--overlay dots", "fill, contour or none"},
                            {"--background '#12345'", "#RRGGBB"},
                            {"--background /nonexistent/bg.jpg", "/nonexistent/bg.jpg"},
                            {"--feather -1", "feather"},
                            {"--min-area -5", "--min-area"},
                            {"--tile 6", "multiple of 4 (2^depth of this model) (--tile)"},
                            {"--tile 2", "smaller than 4"},
                            {"--tile 16 --tile-overlap 16", "(--tile-overlap)"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(args, sizeof args, "predict --model %s/run --out %s/lab %s %s/syn/images", tmp,
                 tmp, bad[k][0], tmp);
        run(NULL, args, &out, &err);
        assert_true(out.status == 1 || out.status == 2);
        if (!strstr(err.out, bad[k][1]))
            fail_msg("%s: %s", bad[k][0], err.out);
        assert_int_equal(count_lines(err.out), 1);
    }
    /* tiles: the same outputs, at the photo's own 48 x 48 in four by four 16 x 16 tiles */
    snprintf(args, sizeof args,
             "predict --model %s/run --out %s/tiled --tile 16 --cutout --save-logits "
             "%s/syn/images/synth0004.png",
             tmp, tmp, tmp);
    run(NULL, args, &out, &err);
    if (out.status != 0)
        fail_msg("predict --tile failed: %s", err.out);
    assert_non_null(strstr(out.out, "synth0004_cutout.png"));
    char path[1200];
    snprintf(path, sizeof path, "%s/tiled/synth0004_logits.npy", tmp);
    char *npy = test_read_file(path);
    assert_non_null(npy);
    assert_non_null(strstr(npy + 10, "'shape': (1, 48, 48)"));
    free(npy);
    run(NULL, "predict --help", &out, &err);
    assert_non_null(strstr(out.out, "--tile T"));
    assert_non_null(strstr(out.out, "--tile-overlap PX"));
}

/* Export (weights only, usable as a model), and tools/cutout_frames, the in-memory API's
 * example, on the run that test_train_predict_eval trains. */
static void check_export_and_frames(void)
{
    run_result out, err;
    char args[2048];
    /* export: weights only, usable as a model */
    snprintf(args, sizeof args, "export %s/run --out %s/weights.safetensors", tmp, tmp);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 0);
    snprintf(args, sizeof args,
             "predict --model %s/weights.safetensors --out %s/from-weights %s/syn/images/synth0004.png",
             tmp, tmp, tmp);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 0);
    run(NULL, "export", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "--out"));
    /* tools/cutout_frames, the in-memory API's example: a cut-out per frame */
    const char *frames = getenv("SEGCL_CUTOUT_FRAMES");
    assert_non_null(frames);
    char cmd[2400], line[512] = "";
    snprintf(cmd, sizeof cmd, "'%s' %s/run %s/syn/images %s/frames 2>&1; ls %s/frames | wc -l",
             frames, tmp, tmp, tmp, tmp);
    FILE *pipe = popen(cmd, "r");
    assert_non_null(pipe);
    assert_non_null(fgets(line, sizeof line, pipe));
    assert_non_null(strstr(line, "12 frames cut out"));
    assert_non_null(fgets(line, sizeof line, pipe));
    assert_int_equal(atoi(line), 12);
    assert_int_equal(pclose(pipe), 0);
}

static void test_train_predict_eval(void **state)
{
    (void)state;
    run_result out, err;
    char args[2048];
    snprintf(args, sizeof args, "synth --out %s/syn --count 12 --size 48", tmp);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 0);
    snprintf(args, sizeof args,
             "train --data %s/syn --out %s/run --size 32 --width 4 --depth 2 --epochs 2 --batch 4",
             tmp, tmp);
    run(NULL, args, &out, &err);
    if (out.status != 0)
        fail_msg("train failed: %s", err.out);
    assert_non_null(strstr(out.out, "epoch 2/2"));
    assert_non_null(strstr(out.out, "done: 2 epochs"));
    assert_null(strstr(out.out, "\r")); /* plain lines when stdout is not a terminal */
    snprintf(args, sizeof args,
             "predict --model %s/run/best.safetensors --out %s/pred %s/syn/images", tmp, tmp, tmp);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.out, "synth0011_mask.png"));
    char path[1024];
    snprintf(path, sizeof path, "%s/pred/synth0005_overlay.jpg", tmp);
    assert_int_equal(access(path, R_OK), 0);
    snprintf(args, sizeof args, "eval --model %s/run/best.safetensors --data %s/syn --json", tmp,
             tmp);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.out, "\"dice\": "));
    assert_non_null(strstr(out.out, "\"pixel_accuracy\""));
    assert_non_null(strstr(out.out, "\"name\": \"synth0011\""));
    check_lab_options();
    check_export_and_frames();
    run(NULL, "bench --size 32 --batch 2 --seconds 0.2 --json", &out, &err);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.out, "\"train_images_per_s\""));
    assert_non_null(strstr(out.out, "\"infer_images_per_s\""));
}

static void test_interrupt_and_resume(void **state)
{
    (void)state;
    run_result out, err;
    char args[2048], path[1024];
    snprintf(args, sizeof args,
             "train --data %s/syn --out %s/long --size 32 --width 4 --depth 2 --epochs 1000000 "
             "--batch 4",
             tmp, tmp);
    /* Ctrl-C after 4 seconds: a checkpoint, exit status 130, a hint to resume */
    run("timeout -s INT --preserve-status 4", args, &out, &err);
    if (out.status != 130 || !strstr(out.out, "interrupted at step"))
        fail_msg("status %d, stdout ends: %s\nstderr: %s", out.status,
                 out.out + (strlen(out.out) > 300 ? strlen(out.out) - 300 : 0), err.out);
    assert_non_null(strstr(out.out, "--resume"));
    snprintf(path, sizeof path, "%s/long/checkpoint.safetensors", tmp);
    assert_int_equal(access(path, R_OK), 0);
    /* --resume takes the run's own settings; other options are refused */
    snprintf(args, sizeof args, "train --resume %s/long --steps 1", tmp);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "--steps"));
    /* resuming continues from the checkpoint's step (interrupted again to keep this short) */
    snprintf(args, sizeof args, "train --resume %s/long", tmp);
    run("timeout -s INT --preserve-status 3", args, &out, &err);
    assert_int_equal(out.status, 130);
    assert_non_null(strstr(out.out, "interrupted at step"));
}

static void test_bad_inputs(void **state)
{
    (void)state;
    run_result out, err;
    char args[2048];
    const char *data = getenv("SEGCL_TEST_DATA_DIR");
    assert_non_null(data);
    /* a corrupt image: one line naming the file, exit 1 */
    snprintf(args, sizeof args, "predict --model %s/run/best.safetensors --out %s/p2 %s/fixtures/corrupt/truncated.bmp",
             tmp, tmp, data);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "truncated.bmp"));
    assert_int_equal(count_lines(err.out), 1);
    /* a corrupt checkpoint */
    snprintf(args, sizeof args, "predict --model %s/fixtures/corrupt/whole.png --out %s/p3 %s/syn/images",
             data, tmp, tmp);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "not a safetensors checkpoint"));
    assert_int_equal(count_lines(err.out), 1);
    /* a PyTorch export without --arch says what to add */
    snprintf(args, sizeof args, "predict --model %s/pytorch_unet_w4_d2.safetensors --out %s/p4 %s/syn/images",
             data, tmp, tmp);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "--arch"));
    snprintf(args, sizeof args,
             "predict --model %s/pytorch_unet_w4_d2.safetensors --arch unet --width 4 --depth 2 "
             "--size 32 --out %s/p4 %s/syn/images/synth0001.png",
             data, tmp, tmp);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 0);
    /* missing data, malformed numbers, unknown options */
    snprintf(args, sizeof args, "train --data /nonexistent/segcl --out %s/x", tmp);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "/nonexistent/segcl"));
    run(NULL, "train --data x --out y --epochs many", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "'many'"));
    /* a number out of a float's range is said to be so, not "not a number" */
    run(NULL, "train --data x --out y --lr 1e-50", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "option '--lr': '1e-50' is too small for a 32-bit float"));
    assert_int_equal(count_lines(err.out), 1);
    run(NULL, "train --data x --out y --lr 1e50", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "'1e50' is too large for a 32-bit float"));
    run(NULL, "train --data x --out y --lr 0.0.1", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "'0.0.1' is not a number"));
    /* a timing that never ends is refused before anything runs */
    run(NULL, "tune --seconds inf", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "option '--seconds': 'inf' is not a finite number"));
    run(NULL, "tune --seconds 1e9", &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "seconds 1e+09 is out of range"));
    assert_non_null(strstr(err.out, "(--seconds)"));
    run(NULL, "train --data x", &out, &err);
    assert_int_equal(out.status, 2);
    run(NULL, "eval --model m --data d --frobnicate", &out, &err);
    assert_int_equal(out.status, 2);
    assert_non_null(strstr(err.out, "--frobnicate"));
}

static int count_files(const char *dir, const char *suffix)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c -- '%s$'", dir, suffix);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* A 24-bit BMP of w x 1 gray pixels at path. */
static void write_strip_bmp(const char *path, int w)
{
    const unsigned row = ((unsigned)w * 3 + 3) & ~3u, size = 54 + row;
    unsigned char header[54] = {'B', 'M'};
    const unsigned fields[][2] = {{2, size}, {10, 54},       {14, 40}, {18, (unsigned)w},
                                  {22, 1},   {26, 1 | 24u << 16}, {34, row}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        for (int b = 0; b < 4; b++)
            header[fields[i][0] + b] = (unsigned char)(fields[i][1] >> (8 * b));
    unsigned char *pixels = malloc(row);
    assert_non_null(pixels);
    memset(pixels, 128, row);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(header, 1, 54, f), 54);
    assert_int_equal(fwrite(pixels, 1, row, f), row);
    assert_int_equal(fclose(f), 0);
    free(pixels);
}

/* Predicting a folder: a bad file is skipped with a warning and a summary (exit 1), stems that
 * collide get distinct names, and the output folder inside (here: equal to) the input folder
 * is never read back. */
static void test_predict_folder(void **state)
{
    (void)state;
    run_result out, err;
    char args[2048], dir[600], cmd[8192];
    const char *data = getenv("SEGCL_TEST_DATA_DIR");
    snprintf(dir, sizeof dir, "%s/mixed", tmp);
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cp '%s'/syn/images/synth000[0-2].png '%s/' && "
             "cp '%s/fixtures/corrupt/truncated.bmp' '%s/' && "
             "cp '%s/fixtures/folder/images/a.jpg' '%s/a.jpg' && "
             "cp '%s/fixtures/folder/images/d.png' '%s/a.png'",
             dir, tmp, dir, data, dir, data, dir, data, dir);
    assert_int_equal(system(cmd), 0);
    /* one that decodes but whose overlay JPEG cannot hold (65535 px wide, over 65500) */
    char wide[700];
    snprintf(wide, sizeof wide, "%s/wide.bmp", dir);
    write_strip_bmp(wide, 65535);
    snprintf(args, sizeof args, "predict --model %s/run/best.safetensors --out %s %s", tmp, dir,
             dir);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "warning: skipped"));
    assert_non_null(strstr(err.out, "truncated.bmp"));
    if (!strstr(err.out, "wide.bmp") || !strstr(err.out, "65500"))
        fail_msg("no warning for wide.bmp: %s", err.out);
    assert_non_null(strstr(err.out, "2 of 7 inputs failed"));
    assert_int_equal(count_files(dir, "_mask.png"), 5);
    char path[1200];
    snprintf(path, sizeof path, "%s/a_jpg_mask.png", dir);
    assert_int_equal(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/a_png_mask.png", dir);
    assert_int_equal(access(path, R_OK), 0);
    /* again into the same folder: its outputs are not taken for photos */
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "2 of 7 inputs"));
    assert_int_equal(count_files(dir, "_mask.png"), 5);
    assert_null(strstr(out.out, "_mask_mask"));
    /* a photo over the pixel limit is skipped with the flag that would let it in */
    snprintf(args, sizeof args,
             "predict --max-pixels 64 --model %s/run/best.safetensors --out %s/small %s/a.jpg "
             "%s/synth0000.png",
             tmp, tmp, dir, dir);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "warning: skipped"));
    assert_non_null(strstr(err.out, "pixels (--max-pixels)"));
}

/* JSON output is written by a JSON library: names with quotes and backslashes stay valid, and
 * bench names the device. A run folder evaluates on exactly its validation split. */
static void test_json_and_run_eval(void **state)
{
    (void)state;
    run_result out, err;
    char args[2048], dir[600], cmd[8192];
    snprintf(dir, sizeof dir, "%s/quotes", tmp);
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/images' '%s/masks' && cp '%s/syn/images/synth0001.png' "
             "'%s/images/a\"b\\c.png' && cp '%s/syn/masks/synth0001.png' '%s/masks/a\"b\\c.png'",
             dir, dir, tmp, dir, tmp, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(args, sizeof args, "eval --model %s/run/best.safetensors --data %s --json", tmp, dir);
    run(NULL, args, &out, &err);
    if (out.status != 0)
        fail_msg("eval failed: %s", err.out);
    json_error_t jerr;
    json_t *root = json_loads(out.out, 0, &jerr);
    if (!root)
        fail_msg("eval --json is not JSON (%s): %s", jerr.text, out.out);
    const char *name = json_string_value(
        json_object_get(json_array_get(json_object_get(root, "images"), 0), "name"));
    assert_non_null(name);
    assert_string_equal(name, "a\"b\\c");
    json_decref(root);
    run(NULL, "bench --size 32 --batch 2 --seconds 0.2 --json", &out, &err);
    assert_int_equal(out.status, 0);
    root = json_loads(out.out, 0, &jerr);
    assert_non_null(root);
    assert_non_null(json_string_value(json_object_get(json_object_get(root, "device"), "name")));
    json_decref(root);
    /* the run's validation images, as args.json lists them */
    snprintf(args, sizeof args, "eval --split val %s/run --json", tmp);
    run(NULL, args, &out, &err);
    if (out.status != 0)
        fail_msg("eval --split val failed: %s", err.out);
    root = json_loads(out.out, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "images")), 1); /* 12 images, 10% */
    json_decref(root);
    /* a second training into that run folder is refused */
    snprintf(args, sizeof args, "train --data %s/syn --out %s/run --size 32", tmp, tmp);
    run(NULL, args, &out, &err);
    assert_int_equal(out.status, 1);
    assert_non_null(strstr(err.out, "already holds a training run"));
}


/* Every *.safetensors in dir loads and predicts (the hidden temporaries are not checkpoints). */
static void assert_checkpoints_load(const char *dir, const char *image)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls '%s'/*.safetensors", dir);
    FILE *p = popen(cmd, "r");
    char path[1024];
    int n = 0;
    while (fgets(path, sizeof path, p)) {
        path[strcspn(path, "\n")] = '\0';
        char args[3000];
        run_result out, err;
        snprintf(args, sizeof args, "predict --model '%s' --out '%s/check' '%s'", path, tmp, image);
        run(NULL, args, &out, &err);
        if (out.status != 0)
            fail_msg("%s does not load after kill -9: %s", path, err.out);
        n++;
    }
    pclose(p);
    assert_true(n >= 1);
}

/* kill -9 during a step and during a checkpoint write: every checkpoint left loads, and
 * --resume ends with the weights of a run that was never interrupted. */
static void test_kill_9(void **state)
{
    (void)state;
    char ref[600], args[2400], image[700], ckpt[800];
    /* long enough that a kill some time after the first checkpoint lands mid-run: the whole
     * run takes about a second on a 2-core machine */
    const char *common = "--size 32 --width 4 --depth 2 --epochs 30 --batch 4 --overlays 0";
    snprintf(image, sizeof image, "%s/syn/images/synth0002.png", tmp);
    snprintf(ref, sizeof ref, "%s/k_ref", tmp);
    snprintf(args, sizeof args, "train --data %s/syn --out %s %s", tmp, ref, common);
    run_result out, err;
    run(NULL, args, &out, &err);
    if (out.status != 0)
        fail_msg("reference run failed: %s", err.out);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", ref);
    size_t ref_len;
    unsigned char *ref_bytes = test_tensor_bytes(ckpt, &ref_len);
    for (int k = 0; k < 3; k++) {
        char dir[700];
        snprintf(dir, sizeof dir, "%s/k%d", tmp, k);
        snprintf(args, sizeof args, "train --data %s/syn --out %s %s", tmp, dir, common);
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
        int status;
        if (k < 2) {
            /* during a step: some time after the first checkpoint exists */
            status = run_and_kill("", args, ckpt, k == 0 ? 20 : 80);
        } else {
            /* halfway through writing the third checkpoint file (epoch 2's) */
            status = run_and_kill("env SEGCL_TEST_KILL_IN_SAVE=3", args, NULL, 0);
            char cmd[900];
            snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q 'safetensors.tmp-'", dir);
            assert_int_equal(system(cmd), 0); /* the half-written temporary is there */
        }
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("kill %d: segcl was not killed (status 0x%x)", k, status);
        assert_checkpoints_load(dir, image);
        snprintf(args, sizeof args, "train --resume %s", dir);
        run(NULL, args, &out, &err);
        if (out.status != 0)
            fail_msg("resume after kill -9 (%d) failed: %s", k, err.out);
        size_t len;
        unsigned char *bytes = test_tensor_bytes(ckpt, &len);
        assert_int_equal(len, ref_len);
        assert_memory_equal(bytes, ref_bytes, len);
        free(bytes);
        char cmd[900];
        snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q 'safetensors.tmp-'", dir);
        assert_int_not_equal(system(cmd), 0); /* resume removed it */
        /* metrics.csv has one row per epoch, no repeats */
        snprintf(cmd, sizeof cmd, "test $(grep -c '^[0-9]' '%s/metrics.csv') -eq 30", dir);
        assert_int_equal(system(cmd), 0);
    }
    free(ref_bytes);
}

static int setup(void **state)
{
    (void)state;
    return test_fixture_setup(&fx, "cli", TEST_FIXTURE_TEMP);
}

static int teardown(void **state)
{
    (void)state;
    return test_fixture_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_unknown_command_and_option),
        cmocka_unit_test(test_devices_listing),
        cmocka_unit_test(test_bad_device),
        cmocka_unit_test(test_no_platform),
        cmocka_unit_test(test_selftest_runs),
        cmocka_unit_test(test_train_predict_eval),
        cmocka_unit_test(test_interrupt_and_resume),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_predict_folder),
        cmocka_unit_test(test_json_and_run_eval),
        cmocka_unit_test(test_kill_9),
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
