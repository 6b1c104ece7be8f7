/*
 * Status strings and the error sink (segcl_diag). Messages are formatted into a buffer owned
 * by the sink; when growing it fails the message is truncated rather than lost.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
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

segcl_status segcl_diag_init(segcl_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    diag->message_cap = 256;
    diag->message = segcl_calloc(1, diag->message_cap);
    if (!diag->message) {
        diag->message_cap = 0;
        return SEGCL_ERROR_OUT_OF_HOST_MEMORY;
    }
    return SEGCL_OK;
}

void segcl_diag_release(segcl_diag *diag)
{
    if (!diag)
        return;
    segcl_free(diag->message);
    diag->message = NULL;
    diag->message_cap = 0;
}

const char *segcl_diag_message(const segcl_diag *diag)
{
    return diag && diag->message ? diag->message : "";
}

const char *segcl_diag_setting(const segcl_diag *diag)
{
    return diag ? diag->setting : NULL;
}

void segcl_diag_clear(segcl_diag *diag)
{
    if (diag)
        diag->setting = NULL;
    if (diag && diag->message)
        diag->message[0] = '\0';
}

segcl_status segcl_diag_vfail(segcl_diag *diag, segcl_status status, const char *fmt, va_list ap)
{
    if (!diag)
        return status;
    diag->setting = NULL; /* segcl_diag_fail_setting names one after this */
    va_list copy;
    va_copy(copy, ap);
    int needed = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (needed < 0)
        needed = 0;
    size_t want = (size_t)needed + 1;
    if (want > diag->message_cap) {
        char *grown = segcl_realloc(diag->message, want);
        if (grown) {
            diag->message = grown;
            diag->message_cap = want;
        }
    }
    if (diag->message && diag->message_cap > 0)
        vsnprintf(diag->message, diag->message_cap, fmt, ap);
    return status;
}

segcl_status segcl_diag_fail(segcl_diag *diag, segcl_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    segcl_diag_vfail(diag, status, fmt, ap);
    va_end(ap);
    return status;
}

segcl_status segcl_diag_fail_setting(segcl_diag *diag, const char *setting, segcl_status status,
                                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    segcl_diag_vfail(diag, status, fmt, ap);
    va_end(ap);
    if (diag)
        diag->setting = setting;
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

void segcl_diag_set_warning_handler(segcl_diag *diag, segcl_warning_fn fn, void *user)
{
    if (!diag)
        return;
    diag->warn = fn;
    diag->warn_user = user;
}

void segcl_diag_copy_decoding(segcl_diag *to, const segcl_diag *from)
{
    if (!to || !from)
        return;
    to->strict = from->strict;
    to->max_pixels = from->max_pixels;
}

bool segcl_diag_strict(const segcl_diag *diag)
{
    return diag && diag->strict;
}

uint64_t segcl_diag_max_pixels(const segcl_diag *diag)
{
    return diag && diag->max_pixels ? diag->max_pixels : SEGCL_DEFAULT_MAX_PIXELS;
}

void segcl_diag_vwarn(segcl_diag *diag, const char *fmt, va_list ap)
{
    if (!diag || !diag->warn)
        return;
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    for (char *p = buf; *p; p++) /* one line, whatever a decoder's message held */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    diag->warn(buf, diag->warn_user);
}

void segcl_diag_warn(segcl_diag *diag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    segcl_diag_vwarn(diag, fmt, ap);
    va_end(ap);
}

void segcl_diag_vwarn_setting(segcl_diag *diag, const char *setting, const char *fmt,
                              va_list ap)
{
    if (!diag)
        return;
    diag->warning_setting = setting;
    segcl_diag_vwarn(diag, fmt, ap);
    diag->warning_setting = NULL;
}

