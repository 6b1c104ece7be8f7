/*
 * The one reader of the process environment: every variable the README documents, the tuning
 * experiments' ones that tools/PERF.md documents (SEGCL_RUN, SEGCL_GEMM_VEC, SEGCL_GEMM_MR,
 * SEGCL_GEMM_CPU_BLOCKING, SEGCL_NO_IMPLICIT, SEGCL_NO_FUSION), and in test builds
 * (-DSEGCL_TESTING) the hooks' SEGCL_TEST_* ones: parsed into a struct once per context open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"
#include "cl/environment.h"

/* NULL for unset and empty alike: no variable means anything when empty. */
static const char *value(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Notes a set variable whose value none of its readers accepts, for the warning the context
 * open gives (segcl_environment.ignored). */
static void ignore(segcl_environment *env, const char *name, const char *v, const char *accepted)
{
    size_t used = strlen(env->ignored);
    if (used + 1 < sizeof env->ignored)
        snprintf(env->ignored + used, sizeof env->ignored - used, "%s%s='%.32s' (accepted: %s)",
                 used ? "; " : "", name, v, accepted);
}

/* A whole decimal number in lo..hi, or -1. */
static long whole(const char *v, long lo, long hi)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : -1;
    return v && end != v && !*end && x >= lo && x <= hi ? x : -1;
}

void segcl_environment_read(segcl_environment *env)
{
    memset(env, 0, sizeof *env);
    env->device = value("SEGCL_DEVICE");
    env->kernel_cache_dir = value("SEGCL_KERNEL_CACHE_DIR");
    env->xdg_cache_home = value("XDG_CACHE_HOME");
    env->home = value("HOME");
    env->kernel_dir = value("SEGCL_KERNEL_DIR");
    const char *style = value("SEGCL_KERNEL_STYLE"); /* tests compare both paths */
    env->kernel_style = style && !strcmp(style, "cpu")   ? 1
                        : style && !strcmp(style, "gpu") ? 0
                                                         : -1;
    if (style && env->kernel_style < 0)
        ignore(env, "SEGCL_KERNEL_STYLE", style, "cpu, gpu");
    /* switches for measuring what implicit GEMM and epilogue fusion bring (tools/PERF.md) */
    env->no_implicit = getenv("SEGCL_NO_IMPLICIT") != NULL;
    env->no_fusion = getenv("SEGCL_NO_FUSION") != NULL;
    const char *tuning = value("SEGCL_TUNING");
    env->tuning_off = tuning && !strcmp(tuning, "off");
    if (tuning && !env->tuning_off)
        ignore(env, "SEGCL_TUNING", tuning, "off");
    /* overrides of the device defaults and of `segcl tune`, for experiments and for the tests
     * that compare variants */
    const char *run = value("SEGCL_RUN");
    if (whole(run, 1, 1 << 20) > 0)
        env->run_length = (unsigned)whole(run, 1, 1 << 20);
    else if (run)
        ignore(env, "SEGCL_RUN", run, "1 to 1048576");
    const char *vec = value("SEGCL_GEMM_VEC");
    if (vec && (!strcmp(vec, "8") || !strcmp(vec, "16")))
        env->gemm_vec = (unsigned)atoi(vec);
    else if (vec)
        ignore(env, "SEGCL_GEMM_VEC", vec, "8, 16");
    const char *mr = value("SEGCL_GEMM_MR");
    if (whole(mr, 1, 32) > 0)
        env->gemm_mr = (unsigned)whole(mr, 1, 32);
    else if (mr)
        ignore(env, "SEGCL_GEMM_MR", mr, "1 to 32");
    const char *block = value("SEGCL_GEMM_CPU_BLOCKING");
    unsigned mc, nc, kc;
    char end;
    if (block && sscanf(block, "%u,%u,%u%c", &mc, &nc, &kc, &end) == 3 && mc && nc && kc &&
        mc <= 256 && nc <= 256 && kc <= 4096)
        env->mc_tiles = mc, env->nc_tiles = nc, env->kc = kc;
    else if (block)
        ignore(env, "SEGCL_GEMM_CPU_BLOCKING", block,
               "MC,NC,KC with MC, NC 1 to 256, KC 1 to 4096");
    const char *gemm = value("SEGCL_GEMM");
    env->gemm_backend = gemm && !strcmp(gemm, "clblast") ? SEGCL_GEMM_CLBLAST
                        : gemm && !strcmp(gemm, "cpu")   ? SEGCL_GEMM_CPU
                                                         : SEGCL_GEMM_AUTO;
    if (gemm && env->gemm_backend == SEGCL_GEMM_AUTO)
        ignore(env, "SEGCL_GEMM", gemm, "clblast, cpu");
    const char *profile = getenv("SEGCL_PROFILE");
    env->profile = profile && *profile && strcmp(profile, "0") != 0;
#ifdef SEGCL_TESTING
    const char *fault = getenv("SEGCL_TEST_GEMM_FAULT");
    if (fault && atol(fault) > 0)
        env->test.gemm_fault = atol(fault);
    const char *images = getenv("SEGCL_TEST_WGRAD_IMAGES");
    if (images && atoi(images) > 0)
        env->test.wgrad_images = atoi(images);
    const char *kill = getenv("SEGCL_TEST_KILL_IN_SAVE");
    if (kill && atoi(kill) > 0)
        env->test.kill_in_save = atoi(kill);
#endif
}

#ifdef SEGCL_TESTING
segcl_test_hooks *segcl_test_hooks_of(segcl_context *ctx)
{
    return &ctx->test_hooks;
}
#endif
