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

void segcl_environment_read(segcl_environment *env)
{
    memset(env, 0, sizeof *env);
    env->device = value("SEGCL_DEVICE");
    env->kernel_cache_dir = value("SEGCL_KERNEL_CACHE_DIR");
    env->xdg_cache_home = value("XDG_CACHE_HOME");
    env->home = value("HOME");
    env->kernel_dir = value("SEGCL_KERNEL_DIR");
    const char *style = getenv("SEGCL_KERNEL_STYLE"); /* tests compare both paths */
    env->kernel_style = style && !strcmp(style, "cpu")   ? 1
                        : style && !strcmp(style, "gpu") ? 0
                                                         : -1;
    /* switches for measuring what implicit GEMM and epilogue fusion bring (tools/PERF.md) */
    env->no_implicit = getenv("SEGCL_NO_IMPLICIT") != NULL;
    env->no_fusion = getenv("SEGCL_NO_FUSION") != NULL;
    const char *tuning = getenv("SEGCL_TUNING");
    env->tuning_off = tuning && !strcmp(tuning, "off");
    /* overrides of the device defaults and of `segcl tune`, for experiments and for the tests
     * that compare variants */
    const char *run = getenv("SEGCL_RUN");
    if (run && atoi(run) > 0)
        env->run_length = (unsigned)atoi(run);
    const char *vec = getenv("SEGCL_GEMM_VEC");
    if (vec && (!strcmp(vec, "8") || !strcmp(vec, "16")))
        env->gemm_vec = (unsigned)atoi(vec);
    const char *mr = getenv("SEGCL_GEMM_MR");
    if (mr && atoi(mr) > 0 && atoi(mr) <= 32)
        env->gemm_mr = (unsigned)atoi(mr);
    const char *block = getenv("SEGCL_GEMM_CPU_BLOCKING");
    unsigned mc, nc, kc;
    if (block && sscanf(block, "%u,%u,%u", &mc, &nc, &kc) == 3 && mc && nc && kc && mc <= 256 &&
        nc <= 256 && kc <= 4096)
        env->mc_tiles = mc, env->nc_tiles = nc, env->kc = kc;
    const char *gemm = getenv("SEGCL_GEMM");
    env->gemm_backend = gemm && !strcmp(gemm, "clblast") ? SEGCL_GEMM_CLBLAST
                        : gemm && !strcmp(gemm, "cpu")   ? SEGCL_GEMM_CPU
                                                         : SEGCL_GEMM_AUTO;
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
