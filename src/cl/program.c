/*
 * Run-time kernel programs: sources embedded at build time (or read from SEGCL_KERNEL_DIR),
 * built once per context and option set, with an on-disk binary cache (src/cl/kernel_cache.c)
 * keyed here by source, options and device.
 */
#include <stdio.h>
#include <string.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

struct segcl_program_entry {
    char *family;
    char *options;
    cl_program program;
    segcl_program_entry *next;
};

struct segcl_kernel_entry {
    cl_program program;
    char *name;
    cl_kernel kernel;
    size_t max_work_group; /* min(CL_KERNEL_WORK_GROUP_SIZE, CL_DEVICE_MAX_WORK_GROUP_SIZE) */
    segcl_kernel_entry *next;
};


segcl_status segcl_kernel_source(segcl_context *ctx, const char *family, char **source,
                                 size_t *length)
{
    if (ctx->kernel_dir) {
        size_t n = strlen(ctx->kernel_dir) + strlen(family) + 8;
        char *path = segcl_malloc(n);
        if (!path)
            return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        snprintf(path, n, "%s/%s.cl", ctx->kernel_dir, family);
        segcl_status st = segcl_read_file(segcl_context_diag(ctx), path, 16u << 20, source, length);
        segcl_free(path);
        return st;
    }
    for (size_t i = 0; i < segcl_embedded_kernel_count; i++) {
        const segcl_embedded_kernel *k = &segcl_embedded_kernels[i];
        if (strcmp(k->family, family) == 0) {
            char *copy = segcl_malloc(k->size + 1);
            if (!copy)
                return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            memcpy(copy, k->data, k->size);
            copy[k->size] = '\0';
            *source = copy;
            *length = k->size;
            return SEGCL_OK;
        }
    }
    return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "no kernel family '%s' in this build",
                      family);
}

static void cache_key(segcl_context *ctx, const char *source, size_t length, const char *options,
                      uint8_t key[32])
{
    const segcl_device_info *in = &ctx->dev->info;
    segcl_sha256 h;
    segcl_sha256_init(&h);
    char head[64];
    snprintf(head, sizeof head, "segcl-kernel-cache %u\n", SEGCL_CACHE_FORMAT_VERSION);
    const char *parts[] = {head,       in->platform_name,  in->platform_version, in->name,
                           in->vendor, in->device_version, in->driver_version,   options};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        segcl_sha256_update(&h, parts[i], strlen(parts[i]));
        segcl_sha256_update(&h, "\n", 1);
    }
    segcl_sha256_update(&h, source, length);
    segcl_sha256_final(&h, key);
}

static char *cache_path(segcl_context *ctx, const uint8_t key[32])
{
    char hex[65];
    segcl_sha256_hex(key, hex);
    size_t n = strlen(ctx->cache_dir) + 80;
    char *path = segcl_malloc(n);
    if (path)
        snprintf(path, n, "%s/%s.bin", ctx->cache_dir, hex);
    return path;
}

static segcl_status build_log(segcl_context *ctx, cl_program program, char **log)
{
    size_t need = 0;
    cl_int err = clGetProgramBuildInfo(program, ctx->dev->device, CL_PROGRAM_BUILD_LOG, 0, NULL,
                                       &need);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clGetProgramBuildInfo", "CL_PROGRAM_BUILD_LOG");
    char *text = segcl_malloc(need + 1);
    if (!text)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    err = clGetProgramBuildInfo(program, ctx->dev->device, CL_PROGRAM_BUILD_LOG, need, text, NULL);
    if (err != CL_SUCCESS) {
        segcl_free(text);
        return segcl_fail_cl(ctx, err, "clGetProgramBuildInfo", "CL_PROGRAM_BUILD_LOG");
    }
    text[need] = '\0';
    *log = text;
    return SEGCL_OK;
}

static segcl_status build_from_source(segcl_context *ctx, const char *family, const char *source,
                                      size_t length, const char *options, cl_program *out)
{
    cl_int err;
    const char *sources[] = {source};
    cl_program program = clCreateProgramWithSource(ctx->cl, 1, sources, &length, &err);
    if (!program || err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clCreateProgramWithSource", "kernels/%s.cl", family);
    ctx->cache_stats.builds++;
    err = clBuildProgram(program, 1, &ctx->dev->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char *log = NULL;
        segcl_status st = build_log(ctx, program, &log);
        clReleaseProgram(program);
        if (st)
            return st;
        /* every family is built behind common.cl: a log that names only the prelude blames it */
        char own[96];
        snprintf(own, sizeof own, "%s.cl:", family);
        const bool prelude = strstr(log, "common.cl:") && !strstr(log, own);
        own[strlen(own) - 1] = '\0';
        st = segcl_fail(ctx, SEGCL_ERROR_BUILD,
                        "clBuildProgram failed: %s (%d) building kernels/%s.cl%s%s for %s with "
                        "options '%s'; build log:\n%s",
                        segcl_cl_error_name(err), (int)err, prelude ? "common" : family,
                        prelude ? ", the prelude of kernels/" : " (after kernels/common.cl)",
                        prelude ? own : "", ctx->dev->info.name, options, log);
        ctx->last_cl_error = err;
        segcl_free(log);
        return st;
    }
    *out = program;
    return SEGCL_OK;
}

/* The family's source with kernels/common.cl (shared macros) in front of it. */
static segcl_status full_source(segcl_context *ctx, const char *family, char **source,
                                size_t *length)
{
    char *prelude = NULL, *body = NULL;
    size_t plen = 0, blen = 0;
    segcl_status st = segcl_kernel_source(ctx, "common", &prelude, &plen);
    if (st || (st = segcl_kernel_source(ctx, family, &body, &blen))) {
        segcl_free(prelude);
        return st;
    }
    const size_t extra = 2 * strlen(family) + 64;
    char *all = segcl_malloc(plen + blen + extra);
    if (!all) {
        segcl_free(prelude);
        segcl_free(body);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    /* #line with file names: the compiler's log names the file of each line, the prelude's
     * lines as common.cl's and the rest as the family's own */
    int n = snprintf(all, plen + extra, "#line 1 \"common.cl\"\n%s\n#line 1 \"%s.cl\"\n",
                     prelude, family);
    memcpy(all + n, body, blen + 1);
    *source = all;
    *length = (size_t)n + blen;
    segcl_free(prelude);
    segcl_free(body);
    return SEGCL_OK;
}

static segcl_status create_program(segcl_context *ctx, const char *family, const char *options,
                                   cl_program *out)
{
    char *source = NULL;
    size_t length = 0;
    segcl_status st = full_source(ctx, family, &source, &length);
    if (st)
        return st;
    size_t olen = strlen(ctx->device_options) + (options ? strlen(options) : 0) + 2;
    char *all_options = segcl_malloc(olen);
    if (!all_options) {
        segcl_free(source);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    snprintf(all_options, olen, "%s%s%s", ctx->device_options, options && *options ? " " : "",
             options ? options : "");

    uint8_t key[32];
    char *path = NULL;
    if (ctx->cache_enabled) {
        cache_key(ctx, source, length, all_options, key);
        path = cache_path(ctx, key);
        if (path && segcl_kernel_cache_load(ctx, path, key, out)) {
            segcl_free(path);
            segcl_free(all_options);
            segcl_free(source);
            return SEGCL_OK;
        }
        ctx->cache_stats.misses++;
    }
    st = build_from_source(ctx, family, source, length, all_options, out);
    if (st == SEGCL_OK && path)
        segcl_kernel_cache_store(ctx, path, key, *out);
    segcl_free(path);
    segcl_free(all_options);
    segcl_free(source);
    return st;
}

static bool same_options(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

segcl_status segcl_program_get(segcl_context *ctx, const char *family, const char *options,
                               cl_program *out)
{
    if (!ctx || !family || !out)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_program_get: NULL argument");
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "the context has no device: call segcl_context_open first");
    for (segcl_program_entry *e = ctx->programs; e; e = e->next)
        if (strcmp(e->family, family) == 0 && same_options(e->options, options)) {
            *out = e->program;
            return SEGCL_OK;
        }
    segcl_program_entry *e = segcl_calloc(1, sizeof *e);
    if (!e || !(e->family = segcl_strdup(family)) ||
        !(e->options = segcl_strdup(options ? options : ""))) {
        if (e) {
            segcl_free(e->family);
            segcl_free(e);
        }
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    segcl_status st = create_program(ctx, family, options, &e->program);
    if (st) {
        segcl_free(e->family);
        segcl_free(e->options);
        segcl_free(e);
        return st;
    }
    e->next = ctx->programs;
    ctx->programs = e;
    *out = e->program;
    return SEGCL_OK;
}

/* The kernel's limits: its work-group size and its local memory against the device's. */
static segcl_status kernel_limits(segcl_context *ctx, segcl_kernel_entry *e, const char *family)
{
    size_t wg = 0;
    cl_ulong local = 0;
    cl_device_id d = ctx->dev->device;
    cl_int err = clGetKernelWorkGroupInfo(e->kernel, d, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg,
                                          NULL);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clGetKernelWorkGroupInfo", "CL_KERNEL_WORK_GROUP_SIZE of %s",
                             e->name);
    err = clGetKernelWorkGroupInfo(e->kernel, d, CL_KERNEL_LOCAL_MEM_SIZE, sizeof local, &local,
                                   NULL);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clGetKernelWorkGroupInfo", "CL_KERNEL_LOCAL_MEM_SIZE of %s",
                             e->name);
    if (local > ctx->dev->info.local_mem_bytes)
        return segcl_fail(ctx, SEGCL_ERROR_OPENCL,
                          "kernel '%s' (kernels/%s.cl) needs %llu bytes of local memory; %s has "
                          "%llu (CL_DEVICE_LOCAL_MEM_SIZE)",
                          e->name, family, (unsigned long long)local, ctx->dev->info.name,
                          (unsigned long long)ctx->dev->info.local_mem_bytes);
    size_t device = ctx->dev->info.max_work_group_size;
    e->max_work_group = wg && wg < device ? wg : device ? device : 1;
    return SEGCL_OK;
}

segcl_status segcl_kernel_find(segcl_context *ctx, const char *family, const char *options,
                               const char *name, cl_kernel *out, size_t *max_work_group)
{
    cl_program program;
    segcl_status st = segcl_program_get(ctx, family, options, &program);
    if (st)
        return st;
    for (segcl_kernel_entry *e = ctx->kernels; e; e = e->next)
        if (e->program == program && strcmp(e->name, name) == 0) {
            *out = e->kernel;
            if (max_work_group)
                *max_work_group = e->max_work_group;
            return SEGCL_OK;
        }
    segcl_kernel_entry *e = segcl_calloc(1, sizeof *e);
    if (!e || !(e->name = segcl_strdup(name))) {
        segcl_free(e);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    cl_int err;
    e->kernel = clCreateKernel(program, name, &err);
    if (!e->kernel || err != CL_SUCCESS) {
        segcl_free(e->name);
        segcl_free(e);
        return segcl_fail_cl(ctx, err, "clCreateKernel", "kernel '%s' in kernels/%s.cl", name,
                             family);
    }
    if ((st = kernel_limits(ctx, e, family))) {
        clReleaseKernel(e->kernel);
        segcl_free(e->name);
        segcl_free(e);
        return st;
    }
    e->program = program;
    e->next = ctx->kernels;
    ctx->kernels = e;
    *out = e->kernel;
    if (max_work_group)
        *max_work_group = e->max_work_group;
    return SEGCL_OK;
}

segcl_status segcl_kernel_get(segcl_context *ctx, const char *family, const char *options,
                              const char *name, cl_kernel *out)
{
    return segcl_kernel_find(ctx, family, options, name, out, NULL);
}

void segcl_programs_release(segcl_context *ctx)
{
    for (segcl_kernel_entry *e = ctx->kernels, *next; e; e = next) {
        next = e->next;
        clReleaseKernel(e->kernel);
        segcl_free(e->name);
        segcl_free(e);
    }
    ctx->kernels = NULL;
    for (segcl_program_entry *e = ctx->programs, *next; e; e = next) {
        next = e->next;
        clReleaseProgram(e->program);
        segcl_free(e->family);
        segcl_free(e->options);
        segcl_free(e);
    }
    ctx->programs = NULL;
}
