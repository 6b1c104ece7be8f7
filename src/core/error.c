/*
 * Status strings and the per-context error message. Messages are formatted into a buffer owned
 * by the context; when growing it fails the message is truncated rather than lost.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
/* transitional: the error and warning members until they move to a core-level sink */
#define SEGCL_CL_IMPL
#include "cl/context_impl.h"
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
