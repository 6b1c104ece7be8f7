/*
 * Files and folders: creating a folder and its parents, reading a whole file with a size bound,
 * and writing a file atomically (a hidden temporary beside it, fsynced, renamed over the old
 * one, the rename made durable), so a crash never leaves a half-written file under the name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

segcl_status segcl_make_dirs(segcl_diag *diag, const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT, "path too long: %s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot create folder %s: %s", buf,
                                   strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot create folder %s: %s", buf,
                               strerror(errno));
    struct stat sb;
    if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return segcl_diag_fail(diag, SEGCL_ERROR_IO, "%s exists and is not a folder", buf);
    return SEGCL_OK;
}

segcl_status segcl_read_file(segcl_diag *diag, const char *path, size_t max_bytes, char **data,
                             size_t *length)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot open %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, len = 0;
    segcl_status st = SEGCL_OK;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *grown = segcl_realloc(buf, ncap);
            if (!grown) {
                st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                                     "out of host memory reading %s", path);
                break;
            }
            buf = grown;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (len > max_bytes) {
            st = segcl_diag_fail(diag, SEGCL_ERROR_FORMAT, "%s is larger than %zu bytes", path,
                                 max_bytes);
            break;
        }
        if (got == 0)
            break;
    }
    if (!st && ferror(f))
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    if (st) {
        segcl_free(buf);
        return st;
    }
    buf[len] = '\0';
    *data = buf;
    *length = len;
    return SEGCL_OK;
}

segcl_status segcl_write_all(segcl_diag *diag, int fd, const void *data, size_t n, const char *path)
{
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot write %s: %s", path,
                                   strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return SEGCL_OK;
}

segcl_status segcl_file_begin(segcl_diag *diag, const char *path, segcl_file *out)
{
    out->fd = -1;
    out->path = path;
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    size_t len = strlen(path) + 40;
    if (!(out->temporary = segcl_malloc(len)))
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                               "out of host memory writing %s", path);
    /* hidden, with the writer's pid: what a crash leaves never looks like the file itself */
    snprintf(out->temporary, len, "%.*s.%s.tmp-%ld", (int)dir_len, path, path + dir_len,
             (long)getpid());
    out->fd = open(out->temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out->fd < 0) {
        segcl_status st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot create %s: %s",
                                          out->temporary, strerror(errno));
        segcl_free(out->temporary);
        out->temporary = NULL;
        return st;
    }
    return SEGCL_OK;
}

/* fsyncs the folder holding path, so a rename in it is durable. */
static void sync_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int dfd = open(slash ? (dir[0] ? dir : "/") : ".", O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

segcl_status segcl_file_end(segcl_diag *diag, segcl_file *f, segcl_status st)
{
    if (!f->temporary)
        return st;
    if (!st && fsync(f->fd) != 0)
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot sync %s: %s", f->temporary,
                             strerror(errno));
    if (close(f->fd) != 0 && !st)
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot close %s: %s", f->temporary,
                             strerror(errno));
    f->fd = -1;
    if (!st && rename(f->temporary, f->path) != 0)
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot rename %s to %s: %s", f->temporary,
                             f->path, strerror(errno));
    if (st)
        unlink(f->temporary);
    else
        sync_parent(f->path);
    segcl_free(f->temporary);
    f->temporary = NULL;
    return st;
}

bool segcl_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}
