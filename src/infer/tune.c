/*
 * `segcl tune`: times the kernel variants segcl can run on one device on a model's training
 * step and inference, each variant in a fresh context (its kernels compiled with its options)
 * and first checked for correct GEMM results, and stores the fastest (src/cl/tuning.c).
 * Coordinate descent over the parameters in the order they matter: GEMM backend and register
 * tile, cache blocking, then run length or elementwise work-group size.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cl/cl.h"

/* Bounds of the tune options: beyond them a run takes hours or days per variant. */
#define SEGCL_TUNE_MAX_SECONDS 600
#define SEGCL_TUNE_MAX_BATCH 1024
#define SEGCL_TUNE_MAX_SIZE 4096

void segcl_tune_default_options(segcl_tune_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->arch = "unet";
    o->size = 128;
    o->batch = 8;
    o->seconds = 1.0;
}

typedef struct tuner {
    const segcl_settings *settings;
    const segcl_tune_options *o;
    segcl_context *ctx; /* errors go here */
    json_t *report;     /* every candidate's figures */
    double best_score;
    segcl_tuning best;
    int failed, out_of_memory; /* variants that could not run, and of them those out of memory */
    char last_error[256];      /* why the last of them could not */
} tuner;

static void say(const tuner *t, const char *fmt, ...) SEGCL_PRINTF(2, 3);
static void say(const tuner *t, const char *fmt, ...)
{
    if (!t->o->progress)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    t->o->progress(line, t->o->user);
}

static void describe(const segcl_tuning *c, bool cpu_style, char *out, size_t cap)
{
    if (cpu_style)
        snprintf(out, cap, "%s GEMM, tile %ux%u, blocking %u,%u,%u, run %u",
                 c->gemm_backend == SEGCL_GEMM_CLBLAST ? "CLBlast" : "segcl", c->gemm_mr,
                 2 * c->gemm_vec, c->mc_tiles, c->nc_tiles, c->kc, c->run_length);
    else {
        char tile[64] = "default convolution tile";
        if (c->conv_tm)
            snprintf(tile, sizeof tile, "convolution tile %ux%u of %ux%u, K %u, loads %u",
                     c->conv_tm, c->conv_tn, c->conv_wm, c->conv_wn, c->conv_tk, c->conv_vw);
        if (c->clblast_set > 0)
            snprintf(out, cap, "%s, CLBlast set %d, work-groups of %u", tile, c->clblast_set,
                     c->elem_local);
        else
            snprintf(out, cap, "%s, CLBlast's own, work-groups of %u", tile, c->elem_local);
    }
}

/* Seconds per image of training plus inference with candidate c, or INFINITY when it cannot
 * run or computes wrong products (said on the progress line; not an error). */
static double measure(tuner *t, const segcl_tuning *c, bool cpu_style)
{
    char what[160];
    describe(c, cpu_style, what, sizeof what);
    segcl_context *ctx = NULL;
    double score = INFINITY, train = 0, infer = 0, gemm_error = 0;
    const char *verdict = "";
    if (segcl_context_create(&ctx)) {
        verdict = "out of host memory";
        goto done;
    }
    segcl_status st = segcl_context_open_tuned(ctx, t->settings, c);
    segcl_workspace *ws = NULL;
    double conv_error = 0;
    if (!st && !(st = segcl_workspace_create(ctx, &ws)) &&
        !(st = segcl_check_gemm(ctx, ws, false, &gemm_error)))
        st = segcl_check_conv(ctx, ws, &conv_error); /* the candidate's convolution kernels */
    segcl_workspace_destroy(ws);
    if (!st)
        st = segcl_bench(ctx, t->o->arch, t->o->batch, t->o->size, t->o->seconds, &train, &infer);
    if (st) {
        verdict = segcl_context_error(ctx);
        t->failed++;
        t->out_of_memory += st == SEGCL_ERROR_OUT_OF_DEVICE_MEMORY ||
                            segcl_context_last_cl_error(ctx) == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
                            segcl_context_last_cl_error(ctx) == CL_OUT_OF_RESOURCES;
        snprintf(t->last_error, sizeof t->last_error, "%s", verdict);
    } else {
        score = 1.0 / train + 1.0 / infer;
    }
    json_t *entry = json_pack("{s:s, s:f, s:f, s:s}", "variant", what, "train_images_per_s", train,
                              "infer_images_per_s", infer, "error", verdict);
    if (entry)
        json_array_append_new(t->report, entry);
    if (isinf(score))
        say(t, "  %-58s skipped: %s", what, verdict);
    else
        say(t, "  %-58s training %7.2f, inference %7.2f images/s", what, train, infer);
done:
    segcl_context_destroy(ctx);
    return score;
}

/* Measures candidate c and keeps it when it beats the best so far. */
static void consider(tuner *t, const segcl_tuning *c, bool cpu_style)
{
    double s = measure(t, c, cpu_style);
    if (s < t->best_score) {
        t->best_score = s;
        t->best = *c;
    }
}

/* The search on a CPU-style device, from base: 1. GEMM backend and register tile, 2. cache
 * blocking of segcl's GEMM, 3. elements per work-item of run-style kernels. */
static void tune_cpu(tuner *t, const segcl_tuning *base, const segcl_device_info *info)
{
    /* 1. GEMM: segcl's register tiles for the vector widths the device has, and CLBlast */
    static const unsigned tiles[][2] = {{16, 12}, {16, 8}, {16, 14}, {8, 6}, {8, 4}};
    for (size_t i = 0; i < sizeof tiles / sizeof tiles[0]; i++) {
        if (tiles[i][0] > info->native_float_width && tiles[i][0] > 8)
            continue;
        segcl_tuning c = *base;
        c.gemm_backend = SEGCL_GEMM_CPU;
        c.gemm_vec = tiles[i][0], c.gemm_mr = tiles[i][1];
        if (c.gemm_vec != base->gemm_vec || c.gemm_mr != base->gemm_mr)
            consider(t, &c, true);
    }
    if (info->max_work_group_size >= 256) {
        segcl_tuning c = *base;
        c.gemm_backend = SEGCL_GEMM_CLBLAST;
        consider(t, &c, true);
    }
    /* 2. cache blocking of segcl's GEMM: row tiles, column tiles, K block */
    if (t->best.gemm_backend == SEGCL_GEMM_CPU) {
        static const unsigned blocks[][3] = {
            {4, 8, 128}, {8, 4, 128}, {4, 16, 128}, {16, 4, 256}, {8, 8, 128}};
        segcl_tuning from = t->best;
        for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
            segcl_tuning c = from;
            c.mc_tiles = blocks[i][0], c.nc_tiles = blocks[i][1], c.kc = blocks[i][2];
            consider(t, &c, true);
        }
    }
    /* 3. elements per work-item of run-style kernels */
    static const unsigned runs[] = {256, 1024, 2048};
    segcl_tuning from = t->best;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        segcl_tuning c = from;
        c.run_length = runs[i];
        consider(t, &c, true);
    }
}

/* The search on a GPU-style device, from base: 1. CLBlast's Xgemm parameter sets, 2. the
 * work-group size of the elementwise kernels. */
static void tune_gpu(tuner *t, const segcl_tuning *base, const segcl_device_info *info)
{
    /* 0. the implicit-GEMM convolutions' tile: output tile, register tile, K step, load width
     * (each candidate the device can run, its products checked before it is timed) */
    static const unsigned tiles[][6] = {
        {64, 64, 4, 4, 16, 4}, {64, 64, 8, 8, 16, 4}, {32, 64, 4, 4, 16, 4},
        {64, 32, 4, 4, 16, 4}, {32, 32, 4, 4, 16, 4}, {32, 32, 8, 4, 8, 4},
        {16, 16, 2, 2, 16, 4}, {128, 64, 8, 8, 8, 4},
    };
    for (size_t i = 0; i < sizeof tiles / sizeof tiles[0]; i++) {
        const segcl_conv_tile tile = {tiles[i][0], tiles[i][1], tiles[i][2],
                                      tiles[i][3], tiles[i][4], tiles[i][5]};
        if (segcl_conv_gpu_tile_check(t->ctx, &tile)) {
            segcl_clear_error(t->ctx);
            continue;
        }
        segcl_tuning c = *base;
        c.conv_tm = tile.tm, c.conv_tn = tile.tn, c.conv_wm = tile.wm, c.conv_wn = tile.wn;
        c.conv_tk = tile.tk, c.conv_vw = tile.vw;
        consider(t, &c, false);
    }
    /* 1. CLBlast's Xgemm parameter sets against its own database (from the best tile) */
    base = &t->best;
    for (int set = 1; set <= segcl_clblast_set_count(); set++) {
        segcl_tuning c = *base;
        c.clblast_set = set;
        consider(t, &c, false);
    }
    /* 2. work-group size of the elementwise kernels */
    static const unsigned locals[] = {32, 128, 256};
    segcl_tuning from = t->best;
    for (size_t i = 0; i < sizeof locals / sizeof locals[0]; i++) {
        if (locals[i] > info->max_work_group_size)
            continue;
        segcl_tuning c = from;
        c.elem_local = locals[i];
        consider(t, &c, false);
    }
}

/* Stores the fastest candidate in the device's tuning file; its path into path (cap bytes). */
static segcl_status save_best(tuner *t, const segcl_device_info *info, bool cpu_style, char *path,
                              size_t cap)
{
    if (isinf(t->best_score) && t->failed > 0 && t->out_of_memory == t->failed)
        return segcl_fail_setting(t->ctx, "batch", SEGCL_ERROR_OUT_OF_DEVICE_MEMORY,
                                  "tune: no variant fits in %s's memory with batch %d at %dx%d "
                                  "(%s); try a smaller batch or size",
                                  info->name, t->o->batch, t->o->size, t->o->size, t->last_error);
    if (isinf(t->best_score))
        return segcl_fail(t->ctx, SEGCL_ERROR_STATE,
                          "tune: no variant ran correctly on %s; the last: %s", info->name,
                          t->last_error[0] ? t->last_error : "wrong products");
    char *file = segcl_context_tuning_path(t->ctx);
    if (!file && !segcl_context_has_cache_folder(t->ctx))
        return segcl_fail(t->ctx, SEGCL_ERROR_STATE,
                          "no folder to store the tuning in: neither HOME nor XDG_CACHE_HOME "
                          "nor SEGCL_KERNEL_CACHE_DIR is set");
    if (!file)
        return segcl_fail(t->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    segcl_status st = segcl_tuning_save(t->ctx, file, info, &t->best, t->report);
    if (!st) {
        char what[160];
        describe(&t->best, cpu_style, what, sizeof what);
        say(t, "fastest: %s (%.1f ms per image, training and inference)", what,
            1e3 * t->best_score);
        if (path && cap)
            snprintf(path, cap, "%s", file);
    }
    segcl_free(file);
    return st;
}

segcl_status segcl_tune(segcl_context *user_ctx, const segcl_tune_options *options, char *path,
                        size_t cap)
{
    if (!user_ctx)
        return SEGCL_ERROR_INVALID_ARGUMENT;
    segcl_status st = segcl_require_open(user_ctx);
    if (st)
        return st;
    segcl_tune_options defaults;
    segcl_tune_default_options(&defaults);
    const segcl_tune_options *o = options ? options : &defaults;
    if (!o->arch || (strcmp(o->arch, "unet") && strcmp(o->arch, "segnet")))
        return segcl_fail_setting(user_ctx, "arch", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "tune: arch '%s' is not unet or segnet",
                                  o->arch ? o->arch : "(null)");
    if (o->batch < 1 || o->batch > SEGCL_TUNE_MAX_BATCH)
        return segcl_fail_setting(user_ctx, "batch", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "tune: batch %d is out of range: 1..%d", o->batch,
                                  SEGCL_TUNE_MAX_BATCH);
    if (o->size < 16 || o->size % 16 || o->size > SEGCL_TUNE_MAX_SIZE)
        return segcl_fail_setting(user_ctx, "size", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "tune: size %d must be a multiple of 16 in 16..%d", o->size,
                                  SEGCL_TUNE_MAX_SIZE);
    /* each variant is timed this long per phase: an infinite or absurd time never ends */
    if (!isfinite(o->seconds) || !(o->seconds > 0) || o->seconds > SEGCL_TUNE_MAX_SECONDS)
        return segcl_fail_setting(user_ctx, "seconds", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "tune: seconds %g is out of range: more than 0, at most %d",
                                  o->seconds, SEGCL_TUNE_MAX_SECONDS);
    /* every candidate opens the same device with the same cache and limits */
    char device[32];
    segcl_settings settings;
    segcl_context_same_settings(user_ctx, &settings, device, sizeof device);
    segcl_context *ctx = NULL;
    st = segcl_context_create(&ctx);
    if (st)
        return segcl_fail(user_ctx, st, "out of host memory");
    tuner t = {.settings = &settings, .o = o, .ctx = ctx, .best_score = INFINITY};
    /* the device as it runs untuned: its properties decide the starting point */
    segcl_tuning off = {0};
    if ((st = segcl_context_open_tuned(ctx, &settings, &off)))
        goto done;
    if (!(t.report = json_array())) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    const segcl_device_info *info = segcl_context_device(ctx);
    const segcl_kernel_params *kp = segcl_context_params(ctx);
    const bool cpu_style = kp->cpu_style;
    say(&t, "tuning %s (%s, driver %s) on %s %dx%d, batch %d", info->name, info->platform_name,
        info->driver_version, o->arch, o->size, o->size, o->batch);
    segcl_tuning base = {.gemm_backend = segcl_gemm_get_backend(ctx),
                         .gemm_vec = kp->gemm_vec,
                         .gemm_mr = kp->gemm_mr,
                         .mc_tiles = kp->gemm_mc_tiles,
                         .nc_tiles = kp->gemm_nc_tiles,
                         .kc = kp->gemm_kc,
                         .run_length = kp->run_length,
                         .elem_local = (unsigned)kp->elem_local};
    consider(&t, &base, cpu_style);
    if (cpu_style)
        tune_cpu(&t, &base, info);
    else
        tune_gpu(&t, &base, info);
    st = save_best(&t, info, cpu_style, path, cap);
done:
    json_decref(t.report);
    if (st && segcl_context_error_setting(ctx)) /* formatted before its context goes */
        segcl_fail_setting(user_ctx, segcl_context_error_setting(ctx), st, "%s",
                           segcl_context_error(ctx));
    else if (st)
        segcl_fail(user_ctx, st, "%s", segcl_context_error(ctx));
    segcl_context_destroy(ctx);
    return st;
}
