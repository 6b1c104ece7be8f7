/* The context's errors and warnings (its sink, src/core), the public calls that set how it reads
 * images, and OpenCL status codes: their names and the segcl status each maps to in an error. */
#include <stdio.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

segcl_diag *segcl_context_diag(segcl_context *ctx)
{
    return ctx ? &ctx->diag : NULL;
}

segcl_status segcl_fail(segcl_context *ctx, segcl_status status, const char *fmt, ...)
{
    if (!ctx)
        return status;
    va_list ap;
    va_start(ap, fmt);
    segcl_diag_vfail(&ctx->diag, status, fmt, ap);
    va_end(ap);
    return status;
}

segcl_status segcl_fail_setting(segcl_context *ctx, const char *setting, segcl_status status,
                                const char *fmt, ...)
{
    if (!ctx)
        return status;
    va_list ap;
    va_start(ap, fmt);
    segcl_diag_vfail(&ctx->diag, status, fmt, ap);
    va_end(ap);
    ctx->diag.setting = setting;
    return status;
}

void segcl_clear_error(segcl_context *ctx)
{
    if (!ctx)
        return;
    segcl_diag_clear(&ctx->diag);
    ctx->last_cl_error = CL_SUCCESS;
}

void segcl_warn(segcl_context *ctx, const char *fmt, ...)
{
    if (!ctx)
        return;
    va_list ap;
    va_start(ap, fmt);
    segcl_diag_vwarn(&ctx->diag, fmt, ap);
    va_end(ap);
}

void segcl_warn_setting(segcl_context *ctx, const char *setting, const char *fmt, ...)
{
    if (!ctx)
        return;
    va_list ap;
    va_start(ap, fmt);
    segcl_diag_vwarn_setting(&ctx->diag, setting, fmt, ap);
    va_end(ap);
}

const char *segcl_context_error(const segcl_context *ctx)
{
    if (!ctx)
        return "out of host memory creating the segcl context";
    return segcl_diag_message(&ctx->diag);
}

void segcl_context_set_warning_handler(segcl_context *ctx, segcl_warning_fn fn, void *user)
{
    if (ctx)
        segcl_diag_set_warning_handler(&ctx->diag, fn, user);
}

void segcl_context_set_strict(segcl_context *ctx, bool strict)
{
    if (ctx)
        ctx->diag.strict = strict;
}

void segcl_context_set_max_pixels(segcl_context *ctx, uint64_t max_pixels)
{
    if (ctx)
        ctx->diag.max_pixels = max_pixels;
}

void segcl_context_set_allow_changed_data(segcl_context *ctx, bool allow)
{
    if (ctx)
        ctx->diag.allow_changed_data = allow;
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

const char *segcl_cl_error_name(cl_int err)
{
    switch (err) {
#define NAME(x)                                                                                    \
    case x:                                                                                        \
        return #x;
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
    case -1001:
        return "CL_PLATFORM_NOT_FOUND_KHR";
    default:
        return "unknown OpenCL error";
    }
}

const char *segcl_context_warning_setting(const segcl_context *ctx)
{
    return ctx ? ctx->diag.warning_setting : NULL;
}

const char *segcl_context_error_setting(const segcl_context *ctx)
{
    return ctx ? segcl_diag_setting(&ctx->diag) : NULL;
}
