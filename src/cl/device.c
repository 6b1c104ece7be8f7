/*
 * OpenCL device discovery and selection: one global index over all platforms, `P:D` addressing,
 * the SEGCL_DEVICE variable, and the default (first GPU, else first CPU).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/environment.h"
#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

#define CL_PLATFORM_NOT_FOUND_KHR_CODE (-1001)

const char *segcl_device_type_string(segcl_device_type type)
{
    switch (type) {
    case SEGCL_DEVICE_TYPE_CPU: return "CPU";
    case SEGCL_DEVICE_TYPE_GPU: return "GPU";
    case SEGCL_DEVICE_TYPE_ACCELERATOR: return "accelerator";
    case SEGCL_DEVICE_TYPE_OTHER: break;
    }
    return "other";
}

static void trim(char *s)
{
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    size_t start = 0;
    while (s[start] && isspace((unsigned char)s[start]))
        start++;
    if (start)
        memmove(s, s + start, len - start + 1);
}

static segcl_status platform_string(segcl_context *ctx, cl_platform_id p, cl_platform_info what,
                                    const char *what_name, char *buf, size_t len)
{
    cl_int err = clGetPlatformInfo(p, what, len, buf, NULL);
    if (err == CL_INVALID_VALUE) {
        /* Longer than our field: fetch in full and truncate. */
        size_t need = 0;
        err = clGetPlatformInfo(p, what, 0, NULL, &need);
        if (err == CL_SUCCESS) {
            char *full = segcl_malloc(need + 1);
            if (!full)
                return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            err = clGetPlatformInfo(p, what, need, full, NULL);
            if (err == CL_SUCCESS)
                snprintf(buf, len, "%s", full);
            segcl_free(full);
        }
    }
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clGetPlatformInfo", "%s", what_name);
    buf[len - 1] = '\0';
    trim(buf);
    return SEGCL_OK;
}

static segcl_status device_string(segcl_context *ctx, cl_device_id d, cl_device_info what,
                                  const char *what_name, char *buf, size_t len)
{
    size_t need = 0;
    cl_int err = clGetDeviceInfo(d, what, 0, NULL, &need);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clGetDeviceInfo", "%s", what_name);
    char *full = segcl_malloc(need + 1);
    if (!full)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    err = clGetDeviceInfo(d, what, need, full, NULL);
    if (err != CL_SUCCESS) {
        segcl_free(full);
        return segcl_fail_cl(ctx, err, "clGetDeviceInfo", "%s", what_name);
    }
    full[need] = '\0';
    snprintf(buf, len, "%s", full);
    segcl_free(full);
    trim(buf);
    return SEGCL_OK;
}

#define DEVICE_VALUE(ctx, d, what, var)                                                            \
    do {                                                                                           \
        cl_int err_ = clGetDeviceInfo((d), (what), sizeof(var), &(var), NULL);                     \
        if (err_ != CL_SUCCESS)                                                                    \
            return segcl_fail_cl((ctx), err_, "clGetDeviceInfo", "%s", #what);                     \
    } while (0)

static segcl_status has_extension(segcl_context *ctx, cl_device_id d, const char *ext, int *out)
{
    size_t need = 0;
    cl_int err = clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &need);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clGetDeviceInfo", "CL_DEVICE_EXTENSIONS");
    char *list = segcl_malloc(need + 1);
    if (!list)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    err = clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, need, list, NULL);
    if (err != CL_SUCCESS) {
        segcl_free(list);
        return segcl_fail_cl(ctx, err, "clGetDeviceInfo", "CL_DEVICE_EXTENSIONS");
    }
    list[need] = '\0';
    *out = 0;
    size_t ext_len = strlen(ext);
    for (const char *p = list; (p = strstr(p, ext)) != NULL; p += ext_len) {
        bool starts = p == list || p[-1] == ' ';
        bool ends = p[ext_len] == '\0' || p[ext_len] == ' ';
        if (starts && ends) {
            *out = 1;
            break;
        }
    }
    segcl_free(list);
    return SEGCL_OK;
}

static segcl_status describe_device(segcl_context *ctx, cl_platform_id p, cl_device_id d,
                                    segcl_device_info *info)
{
    segcl_status st;
    if ((st = platform_string(ctx, p, CL_PLATFORM_NAME, "CL_PLATFORM_NAME", info->platform_name,
                              sizeof info->platform_name)) ||
        (st = platform_string(ctx, p, CL_PLATFORM_VERSION, "CL_PLATFORM_VERSION",
                              info->platform_version, sizeof info->platform_version)) ||
        (st = device_string(ctx, d, CL_DEVICE_NAME, "CL_DEVICE_NAME", info->name,
                            sizeof info->name)) ||
        (st = device_string(ctx, d, CL_DEVICE_VENDOR, "CL_DEVICE_VENDOR", info->vendor,
                            sizeof info->vendor)) ||
        (st = device_string(ctx, d, CL_DRIVER_VERSION, "CL_DRIVER_VERSION", info->driver_version,
                            sizeof info->driver_version)) ||
        (st = device_string(ctx, d, CL_DEVICE_VERSION, "CL_DEVICE_VERSION", info->device_version,
                            sizeof info->device_version)) ||
        (st = device_string(ctx, d, CL_DEVICE_OPENCL_C_VERSION, "CL_DEVICE_OPENCL_C_VERSION",
                            info->opencl_c_version, sizeof info->opencl_c_version)))
        return st;

    cl_device_type type;
    cl_uint units, clock;
    cl_ulong global_mem, local_mem, max_alloc;
    size_t max_wg;
    cl_device_fp_config double_config = 0;
    cl_uint native_float = 1;
    DEVICE_VALUE(ctx, d, CL_DEVICE_TYPE, type);
    DEVICE_VALUE(ctx, d, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, native_float);
    DEVICE_VALUE(ctx, d, CL_DEVICE_MAX_COMPUTE_UNITS, units);
    DEVICE_VALUE(ctx, d, CL_DEVICE_MAX_CLOCK_FREQUENCY, clock);
    DEVICE_VALUE(ctx, d, CL_DEVICE_GLOBAL_MEM_SIZE, global_mem);
    DEVICE_VALUE(ctx, d, CL_DEVICE_LOCAL_MEM_SIZE, local_mem);
    DEVICE_VALUE(ctx, d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, max_alloc);
    DEVICE_VALUE(ctx, d, CL_DEVICE_MAX_WORK_GROUP_SIZE, max_wg);
    /* CL_DEVICE_DOUBLE_FP_CONFIG is optional before OpenCL 1.2; absence means no fp64. */
    if (clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof double_config, &double_config,
                        NULL) != CL_SUCCESS)
        double_config = 0;

    if (type & CL_DEVICE_TYPE_GPU)
        info->type = SEGCL_DEVICE_TYPE_GPU;
    else if (type & CL_DEVICE_TYPE_CPU)
        info->type = SEGCL_DEVICE_TYPE_CPU;
    else if (type & CL_DEVICE_TYPE_ACCELERATOR)
        info->type = SEGCL_DEVICE_TYPE_ACCELERATOR;
    else
        info->type = SEGCL_DEVICE_TYPE_OTHER;
    info->compute_units = units;
    info->max_clock_mhz = clock;
    info->global_mem_bytes = global_mem;
    info->local_mem_bytes = local_mem;
    info->max_alloc_bytes = max_alloc;
    info->max_work_group_size = max_wg;
    info->native_float_width = native_float;
    info->cpu_style = info->type == SEGCL_DEVICE_TYPE_CPU && native_float > 1;
    int fp64_ext = 0;
    if ((st = has_extension(ctx, d, "cl_khr_fp16", &info->fp16)) ||
        (st = has_extension(ctx, d, "cl_khr_fp64", &fp64_ext)))
        return st;
    info->fp64 = fp64_ext || double_config != 0;
    return SEGCL_OK;
}

segcl_status segcl_devices_enumerate(segcl_context *ctx)
{
    if (ctx->enumerated)
        return SEGCL_OK;
    cl_uint nplatforms = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &nplatforms);
    if (err == CL_PLATFORM_NOT_FOUND_KHR_CODE || (err == CL_SUCCESS && nplatforms == 0))
        return segcl_fail(ctx, SEGCL_ERROR_NO_PLATFORM,
                          "no OpenCL platform found: install an OpenCL driver (ICD), e.g. "
                          "'apt-get install pocl-opencl-icd' for the CPU, or your GPU vendor's");
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clGetPlatformIDs", NULL);

    cl_platform_id *platforms = segcl_calloc(nplatforms, sizeof *platforms);
    if (!platforms)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    segcl_status st = SEGCL_OK;
    err = clGetPlatformIDs(nplatforms, platforms, NULL);
    if (err != CL_SUCCESS) {
        segcl_free(platforms);
        return segcl_fail_cl(ctx, err, "clGetPlatformIDs", NULL);
    }

    segcl_device_entry *list = NULL;
    size_t count = 0;
    for (cl_uint p = 0; p < nplatforms && st == SEGCL_OK; p++) {
        cl_uint ndev = 0;
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev);
        if (err == CL_DEVICE_NOT_FOUND || ndev == 0)
            continue; /* a platform without devices is not an error */
        if (err != CL_SUCCESS) {
            st = segcl_fail_cl(ctx, err, "clGetDeviceIDs", "platform %u", p);
            break;
        }
        cl_device_id *ids = segcl_calloc(ndev, sizeof *ids);
        segcl_device_entry *grown = ids ? segcl_realloc(list, (count + ndev) * sizeof *list) : NULL;
        if (!grown) {
            segcl_free(ids);
            st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            break;
        }
        list = grown;
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, ndev, ids, NULL);
        if (err != CL_SUCCESS) {
            segcl_free(ids);
            st = segcl_fail_cl(ctx, err, "clGetDeviceIDs", "platform %u", p);
            break;
        }
        for (cl_uint d = 0; d < ndev && st == SEGCL_OK; d++) {
            segcl_device_entry *e = &list[count];
            memset(e, 0, sizeof *e);
            e->platform = platforms[p];
            e->device = ids[d];
            e->info.index = (int)count;
            e->info.platform_index = (int)p;
            e->info.device_index = (int)d;
            st = describe_device(ctx, platforms[p], ids[d], &e->info);
            if (st == SEGCL_OK)
                count++;
        }
        segcl_free(ids);
    }
    segcl_free(platforms);
    if (st != SEGCL_OK) {
        segcl_free(list);
        return st;
    }
    if (count == 0) {
        segcl_free(list);
        return segcl_fail(ctx, SEGCL_ERROR_NO_DEVICE,
                          "OpenCL platforms exist but none has a device: check the driver "
                          "installation (for the CPU: 'apt-get install pocl-opencl-icd')");
    }
    ctx->devices = list;
    ctx->device_count = count;
    ctx->enumerated = true;
    return SEGCL_OK;
}

segcl_status segcl_device_count(segcl_context *ctx, size_t *count)
{
    if (!ctx || !count)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_device_count: NULL argument");
    segcl_status st = segcl_devices_enumerate(ctx);
    *count = st == SEGCL_OK ? ctx->device_count : 0;
    return st;
}

segcl_status segcl_device_get_info(segcl_context *ctx, size_t index, segcl_device_info *info)
{
    if (!ctx || !info)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_device_get_info: NULL argument");
    segcl_status st = segcl_devices_enumerate(ctx);
    if (st)
        return st;
    if (index >= ctx->device_count)
        return segcl_fail(ctx, SEGCL_ERROR_NO_DEVICE, "no OpenCL device %zu (there are %zu)",
                          index, ctx->device_count);
    *info = ctx->devices[index].info;
    return SEGCL_OK;
}

/* Parses a non-negative decimal integer that fills the whole string. */
static bool parse_index(const char *s, size_t len, long *out)
{
    if (len == 0 || len > 9)
        return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* True when needle occurs in haystack, ignoring case. */
static bool contains_nocase(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *h = haystack; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

static segcl_status no_such_device(segcl_context *ctx, const char *spec, const char *origin)
{
    char list[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < ctx->device_count && used < sizeof list; i++) {
        const segcl_device_info *in = &ctx->devices[i].info;
        int n = snprintf(list + used, sizeof list - used, "%s%d or %d:%d = %s (%s, %s)",
                         i ? "; " : "", in->index, in->platform_index, in->device_index, in->name,
                         segcl_device_type_string(in->type), in->platform_name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return segcl_fail(ctx, SEGCL_ERROR_NO_DEVICE, "no OpenCL device '%s'%s; valid devices: %s",
                      spec, origin, list);
}

segcl_status segcl_device_resolve(segcl_context *ctx, const char *spec, size_t *index)
{
    segcl_environment env;
    segcl_environment_read(&env);
    return segcl_device_resolve_env(ctx, spec, env.device, index);
}

segcl_status segcl_device_resolve_env(segcl_context *ctx, const char *spec, const char *env_device,
                                      size_t *index)
{
    if (!ctx || !index)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_device_resolve: NULL argument");
    segcl_status st = segcl_devices_enumerate(ctx);
    if (st)
        return st;
    const char *origin = "";
    if ((!spec || !*spec) && env_device) {
        spec = env_device;
        origin = " (from SEGCL_DEVICE)";
    }
    if (!spec || !*spec) {
        for (size_t i = 0; i < ctx->device_count; i++)
            if (ctx->devices[i].info.type == SEGCL_DEVICE_TYPE_GPU) {
                *index = i;
                return SEGCL_OK;
            }
        for (size_t i = 0; i < ctx->device_count; i++)
            if (ctx->devices[i].info.type == SEGCL_DEVICE_TYPE_CPU) {
                *index = i;
                return SEGCL_OK;
            }
        *index = 0;
        return SEGCL_OK;
    }

    const char *colon = strchr(spec, ':');
    long a, b;
    if (colon) {
        if (!parse_index(spec, (size_t)(colon - spec), &a) ||
            !parse_index(colon + 1, strlen(colon + 1), &b))
            return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                              "invalid device '%s'%s: expected an index N, PLATFORM:DEVICE (e.g. "
                              "0 or 0:1) or a name; 'segcl devices' lists them",
                              spec, origin);
        for (size_t i = 0; i < ctx->device_count; i++)
            if (ctx->devices[i].info.platform_index == a &&
                ctx->devices[i].info.device_index == b) {
                *index = i;
                return SEGCL_OK;
            }
        return no_such_device(ctx, spec, origin);
    }
    if (!parse_index(spec, strlen(spec), &a)) {
        /* a name: the first device whose device or platform name holds it, any case */
        for (size_t i = 0; i < ctx->device_count; i++) {
            const segcl_device_info *in = &ctx->devices[i].info;
            if (contains_nocase(in->name, spec) || contains_nocase(in->platform_name, spec)) {
                *index = i;
                return SEGCL_OK;
            }
        }
        return no_such_device(ctx, spec, origin);
    }
    if ((size_t)a >= ctx->device_count)
        return no_such_device(ctx, spec, origin);
    *index = (size_t)a;
    return SEGCL_OK;
}
