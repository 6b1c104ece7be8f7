/* Filesystem helpers: create a folder and its missing parents. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

segcl_status segcl_make_dirs(segcl_context *ctx, const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "path too long: %s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot create folder %s: %s", buf,
                              strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot create folder %s: %s", buf,
                          strerror(errno));
    struct stat sb;
    if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return segcl_fail(ctx, SEGCL_ERROR_IO, "%s exists and is not a folder", buf);
    return SEGCL_OK;
}
