/*
 * Status strings and the per-context error message. Messages are formatted into a buffer owned
 * by the context; when growing it fails the message is truncated rather than lost.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "segcl_version.h"

const char *segcl_version(void)
{
    return SEGCL_VERSION;
}

const char *segcl_status_string(segcl_status status)
{
    switch (status) {
    case SEGCL_OK: return "success";
    case SEGCL_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case SEGCL_ERROR_OUT_OF_HOST_MEMORY: return "out of host memory";
    case SEGCL_ERROR_OUT_OF_DEVICE_MEMORY: return "out of device memory";
    case SEGCL_ERROR_NO_PLATFORM: return "no OpenCL platform";
    case SEGCL_ERROR_NO_DEVICE: return "no such OpenCL device";
    case SEGCL_ERROR_OPENCL: return "OpenCL error";
    case SEGCL_ERROR_BUILD: return "kernel build failed";
    case SEGCL_ERROR_IO: return "I/O error";
    case SEGCL_ERROR_BLAS: return "CLBlast error";
    case SEGCL_ERROR_FORMAT: return "corrupt or unsupported file";
    case SEGCL_ERROR_STATE: return "invalid state";
    }
    return "unknown status";
}

const char *segcl_context_error(const segcl_context *ctx)
{
    if (!ctx)
        return "out of host memory creating the segcl context";
    return ctx->error ? ctx->error : "";
}

void segcl_clear_error(segcl_context *ctx)
{
    if (ctx && ctx->error)
        ctx->error[0] = '\0';
    if (ctx)
        ctx->last_cl_error = CL_SUCCESS;
}

static void set_message(segcl_context *ctx, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int needed = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (needed < 0)
        needed = 0;
    size_t want = (size_t)needed + 1;
    if (want > ctx->error_cap) {
        char *grown = segcl_realloc(ctx->error, want);
        if (grown) {
            ctx->error = grown;
            ctx->error_cap = want;
        }
    }
    if (ctx->error && ctx->error_cap > 0)
        vsnprintf(ctx->error, ctx->error_cap, fmt, ap);
}

segcl_status segcl_fail(segcl_context *ctx, segcl_status status, const char *fmt, ...)
{
    if (!ctx)
        return status;
    va_list ap;
    va_start(ap, fmt);
    set_message(ctx, fmt, ap);
    va_end(ap);
    return status;
}

static segcl_status status_of_cl(cl_int err)
{
    switch (err) {
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
    case CL_INVALID_BUFFER_SIZE:
        return SEGCL_ERROR_OUT_OF_DEVICE_MEMORY;
    case CL_OUT_OF_HOST_MEMORY:
        return SEGCL_ERROR_OUT_OF_HOST_MEMORY;
    case CL_BUILD_PROGRAM_FAILURE:
    case CL_COMPILE_PROGRAM_FAILURE:
    case CL_LINK_PROGRAM_FAILURE:
        return SEGCL_ERROR_BUILD;
    case CL_DEVICE_NOT_FOUND:
        return SEGCL_ERROR_NO_DEVICE;
    default:
        return SEGCL_ERROR_OPENCL;
    }
}

segcl_status segcl_fail_cl(segcl_context *ctx, cl_int err, const char *what, const char *fmt, ...)
{
    segcl_status status = status_of_cl(err);
    if (!ctx)
        return status;
    ctx->last_cl_error = err;
    char detail[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
    }
    return segcl_fail(ctx, status, "%s failed: %s (%d)%s%s", what, segcl_cl_error_name(err),
                      (int)err, detail[0] ? ": " : "", detail);
}

void segcl_format_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = (double)bytes;
    int unit = 0;
    while (value >= 1024.0 && unit < 4) {
        value /= 1024.0;
        unit++;
    }
    if (unit == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.1f %s", value, units[unit]);
}

const char *segcl_cl_error_name(cl_int err)
{
    switch (err) {
#define NAME(x) case x: return #x;
    NAME(CL_SUCCESS)
    NAME(CL_DEVICE_NOT_FOUND)
    NAME(CL_DEVICE_NOT_AVAILABLE)
    NAME(CL_COMPILER_NOT_AVAILABLE)
    NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    NAME(CL_OUT_OF_RESOURCES)
    NAME(CL_OUT_OF_HOST_MEMORY)
    NAME(CL_PROFILING_INFO_NOT_AVAILABLE)
    NAME(CL_MEM_COPY_OVERLAP)
    NAME(CL_IMAGE_FORMAT_MISMATCH)
    NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    NAME(CL_BUILD_PROGRAM_FAILURE)
    NAME(CL_MAP_FAILURE)
    NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    NAME(CL_COMPILE_PROGRAM_FAILURE)
    NAME(CL_LINKER_NOT_AVAILABLE)
    NAME(CL_LINK_PROGRAM_FAILURE)
    NAME(CL_DEVICE_PARTITION_FAILED)
    NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    NAME(CL_INVALID_VALUE)
    NAME(CL_INVALID_DEVICE_TYPE)
    NAME(CL_INVALID_PLATFORM)
    NAME(CL_INVALID_DEVICE)
    NAME(CL_INVALID_CONTEXT)
    NAME(CL_INVALID_QUEUE_PROPERTIES)
    NAME(CL_INVALID_COMMAND_QUEUE)
    NAME(CL_INVALID_HOST_PTR)
    NAME(CL_INVALID_MEM_OBJECT)
    NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    NAME(CL_INVALID_IMAGE_SIZE)
    NAME(CL_INVALID_SAMPLER)
    NAME(CL_INVALID_BINARY)
    NAME(CL_INVALID_BUILD_OPTIONS)
    NAME(CL_INVALID_PROGRAM)
    NAME(CL_INVALID_PROGRAM_EXECUTABLE)
    NAME(CL_INVALID_KERNEL_NAME)
    NAME(CL_INVALID_KERNEL_DEFINITION)
    NAME(CL_INVALID_KERNEL)
    NAME(CL_INVALID_ARG_INDEX)
    NAME(CL_INVALID_ARG_VALUE)
    NAME(CL_INVALID_ARG_SIZE)
    NAME(CL_INVALID_KERNEL_ARGS)
    NAME(CL_INVALID_WORK_DIMENSION)
    NAME(CL_INVALID_WORK_GROUP_SIZE)
    NAME(CL_INVALID_WORK_ITEM_SIZE)
    NAME(CL_INVALID_GLOBAL_OFFSET)
    NAME(CL_INVALID_EVENT_WAIT_LIST)
    NAME(CL_INVALID_EVENT)
    NAME(CL_INVALID_OPERATION)
    NAME(CL_INVALID_GL_OBJECT)
    NAME(CL_INVALID_BUFFER_SIZE)
    NAME(CL_INVALID_MIP_LEVEL)
    NAME(CL_INVALID_GLOBAL_WORK_SIZE)
    NAME(CL_INVALID_PROPERTY)
    NAME(CL_INVALID_IMAGE_DESCRIPTOR)
    NAME(CL_INVALID_COMPILER_OPTIONS)
    NAME(CL_INVALID_LINKER_OPTIONS)
    NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef NAME
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

void segcl_context_set_warning_handler(segcl_context *ctx, segcl_warning_fn fn, void *user)
{
    if (!ctx)
        return;
    ctx->warn = fn;
    ctx->warn_user = user;
}

void segcl_context_set_strict(segcl_context *ctx, bool strict)
{
    if (ctx)
        ctx->strict = strict;
}

void segcl_context_set_max_pixels(segcl_context *ctx, uint64_t max_pixels)
{
    if (ctx)
        ctx->max_pixels = max_pixels;
}

void segcl_copy_decoding(segcl_context *to, const segcl_context *from)
{
    if (!to || !from)
        return;
    to->strict = from->strict;
    to->max_pixels = from->max_pixels;
}

bool segcl_strict_decoding(const segcl_context *ctx)
{
    return ctx && ctx->strict;
}

uint64_t segcl_max_pixels(const segcl_context *ctx)
{
    return ctx && ctx->max_pixels ? ctx->max_pixels : SEGCL_DEFAULT_MAX_PIXELS;
}

void segcl_warn(segcl_context *ctx, const char *fmt, ...)
{
    if (!ctx || !ctx->warn)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; p++) /* one line, whatever a decoder's message held */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    ctx->warn(buf, ctx->warn_user);
}
