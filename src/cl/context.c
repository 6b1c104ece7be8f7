/*
 * The segcl context: device selection, one OpenCL context and in-order queue for a whole run,
 * per-device build options, and where the kernel cache lives.
 */
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl/environment.h"
#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/conv_impl.h"

void segcl_default_settings(segcl_settings *settings)
{
    if (!settings)
        return;
    memset(settings, 0, sizeof *settings);
    settings->kernel_cache = SEGCL_KERNEL_CACHE_AUTO;
}

segcl_status segcl_context_create(segcl_context **out)
{
    if (!out)
        return SEGCL_ERROR_INVALID_ARGUMENT;
    *out = NULL;
    segcl_context *ctx = segcl_calloc(1, sizeof *ctx);
    if (!ctx)
        return SEGCL_ERROR_OUT_OF_HOST_MEMORY;
    ctx->profile = -1;
    if (segcl_diag_init(&ctx->diag)) {
        segcl_free(ctx);
        return SEGCL_ERROR_OUT_OF_HOST_MEMORY;
    }
    *out = ctx;
    return SEGCL_OK;
}

/* The kernel cache folder: $SEGCL_KERNEL_CACHE_DIR, else $XDG_CACHE_HOME/segcl/kernels, else
 * $HOME/.cache/segcl/kernels. With none of them set *dir is NULL: no disk cache, and no shared
 * folder such as /tmp in its place, where another user could plant entries. */
static segcl_status default_cache_dir(const segcl_environment *env, char **dir)
{
    *dir = NULL;
    if (env->kernel_cache_dir) {
        *dir = segcl_strdup(env->kernel_cache_dir);
        return *dir ? SEGCL_OK : SEGCL_ERROR_OUT_OF_HOST_MEMORY;
    }
    const char *xdg = env->xdg_cache_home;
    const char *base = xdg ? xdg : env->home;
    const char *suffix = xdg ? "/segcl/kernels" : "/.cache/segcl/kernels";
    if (!base)
        return SEGCL_OK;
    size_t len = strlen(base) + strlen(suffix) + 1;
    if (!(*dir = segcl_malloc(len)))
        return SEGCL_ERROR_OUT_OF_HOST_MEMORY;
    snprintf(*dir, len, "%s%s", base, suffix);
    return SEGCL_OK;
}

/* The kernel style a context on this device uses: the device's, or $SEGCL_KERNEL_STYLE's. */
static bool kernel_style_cpu(const segcl_environment *env, const segcl_device_info *info)
{
    return env->kernel_style >= 0 ? env->kernel_style == 1 : info->cpu_style;
}

int segcl_device_tuned(const segcl_device_info *info, const char *cache_dir, char *path,
                       size_t cap)
{
    segcl_environment env;
    segcl_environment_read(&env);
    char *dir = NULL, *file = NULL;
    int tuned = 0;
    if (cache_dir ? !(dir = segcl_strdup(cache_dir)) : default_cache_dir(&env, &dir) != SEGCL_OK)
        goto done;
    if (!dir || !info || !(file = segcl_tuning_path(dir, info, kernel_style_cpu(&env, info))))
        goto done;
    /* a regular file only: a FIFO planted there must not stop `segcl devices` */
    int fd;
    if (segcl_open_regular(NULL, file, &fd, NULL) == SEGCL_OK) {
        close(fd);
        tuned = 1;
        if (path && cap)
            snprintf(path, cap, "%s", file);
    }
done:
    segcl_free(file);
    segcl_free(dir);
    return tuned;
}

/* Drivers that keep their own binary cache: a second cache would only cost disk and time. */
static bool driver_caches_itself(const segcl_device_info *info)
{
    return strstr(info->vendor, "NVIDIA") || strstr(info->platform_name, "NVIDIA") ||
           strstr(info->platform_name, "Portable Computing Language") ||
           strstr(info->platform_name, "pocl") || strstr(info->platform_version, "PoCL");
}

/*
 * What is derived from which device property (tools/PERF.md has the same table):
 *
 *   kernel style          CL_DEVICE_TYPE and CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: CPU-style
 *                         (a work-group is a thread, loops vectorised within a work-item) on
 *                         CPU devices whose compiler vectorises within a work-item (width > 1:
 *                         PoCL); GPU-style (a work-item per element) everywhere else, including
 *                         CPU runtimes that vectorise across work-items (llvmpipe: width 1).
 *   GEMM                  the style: segcl's packed CPU kernel, or CLBlast.
 *   run length            the style: 512 elements per work-item (CPU), 1 (GPU).
 *   CPU GEMM tile         CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: >= 16 (512-bit registers):
 *                         12 x 32 in float16 accumulators; else 6 x 16 in float8 ones. The
 *                         im2col panels are NR wide to match. Cache blocking: row tiles for
 *                         128 rows, 4 column tiles, K blocks of 256 (the column slice,
 *                         256 x NR floats, in local memory: CL_DEVICE_LOCAL_MEM_SIZE).
 *   elementwise local     min(64, CL_DEVICE_MAX_WORK_GROUP_SIZE), and for run-style kernels 1
 *                         on CPU-style devices; clamped per kernel to CL_KERNEL_WORK_GROUP_SIZE
 *                         at launch.
 *   reduction work-group  a power of two <= 64, CL_DEVICE_MAX_WORK_GROUP_SIZE and a probe
 *                         kernel's CL_KERNEL_WORK_GROUP_SIZE (src/cl/launch.c).
 *   local memory          CL_DEVICE_LOCAL_MEM_SIZE against each kernel's CL_KERNEL_LOCAL_MEM_SIZE.
 *   buffers               CL_DEVICE_MAX_MEM_ALLOC_SIZE and CL_DEVICE_GLOBAL_MEM_SIZE.
 *   fp16, fp64            their extensions (-DSEGCL_HAS_FP16/FP64; no kernel needs them).
 *   GPU convolution tile  CL_DEVICE_MAX_WORK_GROUP_SIZE, CL_DEVICE_LOCAL_MEM_SIZE and
 *                         CL_DEVICE_TYPE (src/cl/conv_gpu.c has the table).
 *
 * `segcl tune` replaces the GEMM choice, tile, blocking, run length and elementwise local size
 * with what it measured on the device (src/cl/tuning.c); SEGCL_RUN, SEGCL_GEMM_VEC,
 * SEGCL_GEMM_MR and SEGCL_GEMM_CPU_BLOCKING override both.
 */
/* 1. Defaults from the device's properties (the table above). */
static void device_defaults(segcl_context *ctx, const segcl_environment *env,
                            const segcl_device_info *info, size_t device_wg)
{
    ctx->params.cpu_style = kernel_style_cpu(env, info);
    /* switches for measuring what implicit GEMM and epilogue fusion bring (tools/PERF.md) */
    ctx->params.no_implicit = env->no_implicit;
    ctx->params.no_fusion = env->no_implicit || env->no_fusion;
    ctx->params.run_length = ctx->params.cpu_style ? 512 : 1;
    ctx->params.elem_local = device_wg < 64 ? device_wg : 64;
    /* CPU GEMM register tile from the native float vector width: 512-bit registers (16
     * floats; 32 of them with AVX-512) hold 12 x 32 accumulators, 256-bit ones (16 registers
     * with AVX2) 6 x 16; cache blocking measured on Zen 4 (tools/PERF.md) */
    ctx->params.gemm_vec = info->native_float_width >= 16 ? 16 : 8;
    ctx->params.gemm_mr = ctx->params.gemm_vec == 16 ? 12 : 6;
    /* row tiles covering 128 rows (output channels): an implicit-GEMM work-group then builds
     * each column slice once for up to 128 channels; 4 column tiles, K blocks of 256 */
    ctx->params.gemm_mc_tiles = (128 + ctx->params.gemm_mr - 1) / ctx->params.gemm_mr;
    ctx->params.gemm_nc_tiles = 4, ctx->params.gemm_kc = 256;
    /* GPU-style convolution tile: from the work-group and local memory limits and the device
     * type (the table in src/cl/conv_gpu.c) */
    segcl_conv_gpu_default_tile(info, &ctx->params.conv_tile);
}

/* 2. What `segcl tune` measured on this device (or the candidate it is measuring): *used is
 * the tuning applied, NULL if none. */
static segcl_status apply_tuning(segcl_context *ctx, const segcl_environment *env,
                                 const segcl_tuning *override, size_t device_wg,
                                 const segcl_tuning **used)
{
    const segcl_device_info *info = &ctx->dev->info;
    const segcl_tuning *t = override;
    *used = NULL;
    if (!t && !env->tuning_off && ctx->cache_dir) {
        bool found = false;
        ctx->tuning_path = segcl_tuning_path(ctx->cache_dir, info, ctx->params.cpu_style);
        if (!ctx->tuning_path)
            return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (segcl_tuning_load(ctx, ctx->tuning_path, info, &ctx->tuning, &found)) {
            segcl_warn(ctx, "%s; using the defaults", segcl_context_error(ctx));
            segcl_clear_error(ctx);
        }
        if (found)
            t = &ctx->tuning;
    }
    if (t) {
        ctx->tuning = *t;
        ctx->params.tuned = true;
        if (t->run_length && ctx->params.cpu_style)
            ctx->params.run_length = t->run_length;
        if (t->elem_local && t->elem_local <= device_wg)
            ctx->params.elem_local = t->elem_local;
        if (t->gemm_vec)
            ctx->params.gemm_vec = t->gemm_vec;
        if (t->gemm_mr)
            ctx->params.gemm_mr = t->gemm_mr;
        if (t->mc_tiles && t->nc_tiles && t->kc)
            ctx->params.gemm_mc_tiles = t->mc_tiles, ctx->params.gemm_nc_tiles = t->nc_tiles,
            ctx->params.gemm_kc = t->kc;
        if (t->conv_tm && t->conv_tn && t->conv_wm && t->conv_wn && t->conv_tk && t->conv_vw)
            ctx->params.conv_tile = (segcl_conv_tile){t->conv_tm, t->conv_tn, t->conv_wm,
                                                      t->conv_wn, t->conv_tk, t->conv_vw};
    }
    *used = t;
    return SEGCL_OK;
}

/* 3. Environment overrides, for experiments and for the tests that compare variants; t is the
 * tuning applied (NULL: none). */
static void apply_environment(segcl_context *ctx, const segcl_environment *env,
                              const segcl_tuning *t)
{
    if (env->run_length)
        ctx->params.run_length = env->run_length;
    if (env->gemm_vec) {
        ctx->params.gemm_vec = env->gemm_vec;
        ctx->params.gemm_mr = ctx->params.gemm_vec == 16 ? 12 : 6;
    }
    if (env->gemm_mr)
        ctx->params.gemm_mr = env->gemm_mr;
    if (!(t && t->mc_tiles && t->nc_tiles && t->kc)) /* 128 rows for whichever tile */
        ctx->params.gemm_mc_tiles = (128 + ctx->params.gemm_mr - 1) / ctx->params.gemm_mr;
    if (env->mc_tiles)
        ctx->params.gemm_mc_tiles = env->mc_tiles, ctx->params.gemm_nc_tiles = env->nc_tiles,
        ctx->params.gemm_kc = env->kc;
}

/* 4. The options every program of this device is built with. */
static segcl_status format_device_options(segcl_context *ctx)
{
    const segcl_device_info *info = &ctx->dev->info;
    int major = 1, minor = 0;
    /* CL_DEVICE_OPENCL_C_VERSION reads "OpenCL C <major>.<minor> <vendor text>". */
    if (sscanf(info->opencl_c_version, "OpenCL C %d.%d", &major, &minor) != 2)
        major = 1, minor = 0;
    const char *std = (major > 1 || (major == 1 && minor >= 2)) ? "-cl-std=CL1.2 " : "";
    char buf[256];
    /* -DSEGCL_HALF: tensors are half (kernels/common.cl's store_t), in every program */
    snprintf(buf, sizeof buf, "%s%s -DRUN=%u -DGEMM_VEC=%u%s%s%s", std,
             ctx->params.cpu_style ? "-DSEGCL_CPU_STYLE=1" : "-DSEGCL_GPU_STYLE=1",
             ctx->params.run_length, ctx->params.gemm_vec, info->fp16 ? " -DSEGCL_HAS_FP16=1" : "",
             info->fp64 ? " -DSEGCL_HAS_FP64=1" : "",
             ctx->precision == SEGCL_PRECISION_FP16 ? " -DSEGCL_HALF=1" : "");
    ctx->device_options = segcl_strdup(buf);
    if (!ctx->device_options)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    return SEGCL_OK;
}

static segcl_status build_device_options(segcl_context *ctx, const segcl_environment *env,
                                         const segcl_tuning *override)
{
    const segcl_device_info *info = &ctx->dev->info;
    size_t device_wg = info->max_work_group_size ? info->max_work_group_size : 1;
    device_defaults(ctx, env, info, device_wg);
    const segcl_tuning *t = NULL;
    segcl_status st = apply_tuning(ctx, env, override, device_wg, &t);
    if (st)
        return st;
    apply_environment(ctx, env, t);
    /* what follows from the tile and the style */
    ctx->params.run_local = ctx->params.cpu_style ? 1 : ctx->params.elem_local;
    ctx->params.gemm_nr = 2 * ctx->params.gemm_vec;
    /* the one place the style chooses code: every op reaches it through this table */
    ctx->backend = ctx->params.cpu_style ? &segcl_backend_cpu_style : &segcl_backend_gpu_style;
    if (ctx->params.tuned && ctx->tuning.clblast_set > 0 &&
        segcl_clblast_apply_set(ctx, ctx->tuning.clblast_set)) {
        segcl_warn(ctx, "%s; CLBlast keeps its own parameters", segcl_context_error(ctx));
        segcl_clear_error(ctx);
    }
    return format_device_options(ctx);
}

/* Frees what an open derives (its folders, options, OpenCL context and queue), so that an
 * open that failed can be retried without leaking them. */
static void release_open_state(segcl_context *ctx)
{
    if (ctx->queue)
        clReleaseCommandQueue(ctx->queue);
    if (ctx->cl)
        clReleaseContext(ctx->cl);
    ctx->queue = NULL;
    ctx->cl = NULL;
    ctx->dev = NULL;
    segcl_free(ctx->cache_dir);
    segcl_free(ctx->kernel_dir);
    segcl_free(ctx->tuning_path);
    segcl_free(ctx->device_options);
    ctx->cache_dir = ctx->kernel_dir = ctx->tuning_path = ctx->device_options = NULL;
}

/* The kernel cache and the tuning files live only in a folder of this user's that nobody else
 * can write: one that is not (or none at all, without HOME and XDG_CACHE_HOME) turns the disk
 * cache off, with a warning that says why. The folder is created, 0700, at the first store. */
static void check_cache_folder(segcl_context *ctx, const segcl_environment *env)
{
    if (!ctx->cache_dir) {
        if (ctx->cache_enabled || !env->tuning_off)
            segcl_warn(ctx, "neither HOME nor XDG_CACHE_HOME is set: no kernel cache and no "
                            "tuning files on disk (SEGCL_KERNEL_CACHE_DIR names a folder)");
        ctx->cache_enabled = false;
        return;
    }
    bool absent = false;
    if (ctx->cache_enabled &&
        segcl_check_private_dir(segcl_context_diag(ctx), ctx->cache_dir, &absent)) {
        segcl_warn(ctx, "kernel cache off: %s", segcl_context_error(ctx));
        segcl_clear_error(ctx);
        ctx->cache_enabled = false;
    }
}

segcl_status segcl_context_open(segcl_context *ctx, const segcl_settings *settings)
{
    return segcl_context_open_tuned(ctx, settings, NULL);
}

segcl_status segcl_context_open_tuned(segcl_context *ctx, const segcl_settings *settings,
                                      const segcl_tuning *override)
{
    if (!ctx)
        return SEGCL_ERROR_INVALID_ARGUMENT;
    segcl_clear_error(ctx);
    if (ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "segcl_context_open: context already open");
    segcl_settings defaults;
    if (!settings) {
        segcl_default_settings(&defaults);
        settings = &defaults;
    }
    /* the environment once, for everything this open derives from it */
    segcl_environment env;
    segcl_environment_read(&env);
    if (env.ignored[0])
        segcl_warn(ctx, "ignored: %s", env.ignored);
    size_t index;
    segcl_status st = segcl_device_resolve_env(ctx, settings->device, env.device, &index);
    if (st)
        return st;
    segcl_device_entry *dev = &ctx->devices[index];

    if (settings->precision != SEGCL_PRECISION_FP32 &&
        (st = segcl_context_set_precision(ctx, settings->precision)))
        return st;
    /* what an open derives, kept from nothing that a failed open before it left */
    release_open_state(ctx);
    ctx->cache_mode = settings->kernel_cache;
    if (settings->kernel_cache_dir ? !(ctx->cache_dir = segcl_strdup(settings->kernel_cache_dir))
                                   : default_cache_dir(&env, &ctx->cache_dir) != SEGCL_OK) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto fail;
    }
    const char *kdir = settings->kernel_dir ? settings->kernel_dir : env.kernel_dir;
    if (kdir && !(ctx->kernel_dir = segcl_strdup(kdir))) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto fail;
    }
    switch (settings->kernel_cache) {
    case SEGCL_KERNEL_CACHE_ON: ctx->cache_enabled = true; break;
    case SEGCL_KERNEL_CACHE_OFF: ctx->cache_enabled = false; break;
    default: ctx->cache_enabled = !driver_caches_itself(&dev->info); break;
    }
    check_cache_folder(ctx, &env);

    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)dev->platform, 0};
    ctx->cl = clCreateContext(props, 1, &dev->device, NULL, NULL, &err);
    if (!ctx->cl || err != CL_SUCCESS) {
        st = segcl_fail_cl(ctx, err, "clCreateContext", "device %zu (%s)", index, dev->info.name);
        goto fail;
    }
    ctx->queue = clCreateCommandQueue(ctx->cl, dev->device, 0, &err);
    if (!ctx->queue || err != CL_SUCCESS) {
        st = segcl_fail_cl(ctx, err, "clCreateCommandQueue", "device %zu (%s)", index,
                           dev->info.name);
        goto fail;
    }
    ctx->device_index = index;
    ctx->dev = dev;
    ctx->memory_limit = settings->memory_limit ? settings->memory_limit : dev->info.global_mem_bytes;
    ctx->gemm_env_backend = env.gemm_backend;
    ctx->profile = env.profile;
    ctx->test_hooks = env.test;
    if ((st = build_device_options(ctx, &env, override)))
        goto fail;
    ctx->open = true;
    return SEGCL_OK;
fail:
    release_open_state(ctx);
    return st;
}

segcl_status segcl_require_open(segcl_context *ctx)
{
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE,
                          "the context has no device: call segcl_context_open first");
    return SEGCL_OK;
}

const segcl_device_info *segcl_context_device(const segcl_context *ctx)
{
    return ctx->open ? &ctx->dev->info : NULL;
}

const segcl_kernel_params *segcl_context_params(const segcl_context *ctx)
{
    return ctx->open ? &ctx->params : NULL;
}

cl_command_queue segcl_context_queue(const segcl_context *ctx)
{
    return ctx->queue;
}

void segcl_context_same_settings(const segcl_context *ctx, segcl_settings *settings, char *device,
                                 size_t cap)
{
    snprintf(device, cap, "%zu", ctx->device_index);
    segcl_default_settings(settings);
    settings->device = device;
    settings->kernel_cache = ctx->cache_enabled ? SEGCL_KERNEL_CACHE_ON : SEGCL_KERNEL_CACHE_OFF;
    settings->kernel_cache_dir = ctx->cache_dir;
    settings->kernel_dir = ctx->kernel_dir;
    settings->memory_limit = ctx->memory_limit;
    settings->precision = ctx->precision;
}

static const char *const precision_names[] = {"fp32", "fp16", NULL};

const char *segcl_precision_name(segcl_precision precision)
{
    return precision == SEGCL_PRECISION_FP16 ? "fp16" : "fp32";
}

segcl_status segcl_precision_parse(const char *name, segcl_precision *out)
{
    for (int i = 0; name && out && precision_names[i]; i++)
        if (!strcmp(name, precision_names[i])) {
            *out = (segcl_precision)i;
            return SEGCL_OK;
        }
    return SEGCL_ERROR_INVALID_ARGUMENT;
}

segcl_status segcl_context_set_precision(segcl_context *ctx, segcl_precision precision)
{
    if (!ctx)
        return SEGCL_ERROR_INVALID_ARGUMENT;
    if (precision != SEGCL_PRECISION_FP32 && precision != SEGCL_PRECISION_FP16)
        return segcl_fail_setting(ctx, "precision", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "precision %d is neither fp32 (0) nor fp16 (1)", (int)precision);
    if (ctx->open && precision != ctx->precision)
        return segcl_fail_setting(ctx, "precision", SEGCL_ERROR_STATE,
                                  "the precision of an open context cannot change (it is %s)",
                                  segcl_precision_name(ctx->precision));
    ctx->precision = precision;
    return SEGCL_OK;
}

segcl_precision segcl_context_precision(const segcl_context *ctx)
{
    return ctx ? ctx->precision : SEGCL_PRECISION_FP32;
}

bool segcl_context_half(const segcl_context *ctx)
{
    return ctx && ctx->precision == SEGCL_PRECISION_FP16;
}

size_t segcl_storage_bytes(const segcl_context *ctx)
{
    return segcl_context_half(ctx) ? 2 : sizeof(float);
}

segcl_status segcl_require_fp32(segcl_context *ctx, const char *what)
{
    if (!segcl_context_half(ctx))
        return SEGCL_OK;
    return segcl_fail_setting(ctx, "precision", SEGCL_ERROR_STATE,
                              "%s needs a float32 context: this one stores tensors as half "
                              "(precision fp16), which serves inference only",
                              what);
}

char *segcl_context_tuning_path(const segcl_context *ctx)
{
    return segcl_tuning_path(ctx->cache_dir, &ctx->dev->info, ctx->params.cpu_style);
}

bool segcl_context_has_cache_folder(const segcl_context *ctx)
{
    return ctx->cache_dir != NULL;
}

bool segcl_context_cache_enabled(const segcl_context *ctx)
{
    return ctx->cache_enabled;
}

segcl_cache_stats segcl_context_cache_stats(const segcl_context *ctx)
{
    return ctx->cache_stats;
}

const char *segcl_context_device_options(const segcl_context *ctx)
{
    return ctx->device_options;
}

cl_int segcl_context_last_cl_error(const segcl_context *ctx)
{
    return ctx->last_cl_error;
}

segcl_status segcl_context_device_info(segcl_context *ctx, segcl_device_info *info)
{
    if (!ctx || !info)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "NULL argument");
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "the context has no device: call segcl_context_open first");
    *info = ctx->dev->info;
    return SEGCL_OK;
}

segcl_status segcl_context_finish(segcl_context *ctx)
{
    if (!ctx)
        return SEGCL_ERROR_INVALID_ARGUMENT;
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "the context has no device: call segcl_context_open first");
    ctx->host_waits++;
    cl_int err = clFinish(ctx->queue);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clFinish", NULL);
    return SEGCL_OK;
}

void segcl_context_destroy(segcl_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->queue)
        clFinish(ctx->queue);
    /* CLBlast keeps programs of every context in a static cache, and each holds its OpenCL
     * context: left there, every destroyed context stays alive until exit (1.7 MB a context
     * for one small GEMM on PoCL), released from a static destructor after the driver may have
     * torn itself down (Oclgrind: "corrupted double-linked list"). CLBlast has no call that
     * drops one context's entries, so the whole cache goes: segcl.h documents it. */
    if (ctx->clblast_used)
        CLBlastClearCache();
    segcl_free(ctx->tuning_path);
    segcl_free(ctx->gemm_cpu_options);
    segcl_programs_release(ctx);
    if (ctx->queue)
        clReleaseCommandQueue(ctx->queue);
    if (ctx->cl)
        clReleaseContext(ctx->cl);
    segcl_free(ctx->devices);
    segcl_free(ctx->cache_dir);
    segcl_free(ctx->kernel_dir);
    segcl_free(ctx->device_options);
    segcl_diag_release(&ctx->diag);
    segcl_free(ctx);
}
