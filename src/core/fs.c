/*
 * Files and folders: creating a folder and its parents, private folders (the user's own, 0700),
 * reading a whole file with a size bound, opening only regular files, and writing a file
 * atomically (a hidden temporary of an unguessable name beside it, created exclusively, fsynced,
 * renamed over the old one, the rename made durable), so a crash never leaves a half-written
 * file under the name and nobody else's symlink is ever followed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* Reads f to its end (closing it); the rest as segcl_read_file. */
static segcl_status read_stream(segcl_diag *diag, FILE *f, const char *path, size_t max_bytes,
                                char **data, size_t *length)
{
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

segcl_status segcl_open_read(segcl_diag *diag, const char *path, const char *kind, FILE **out)
{
    *out = NULL;
    /* O_NONBLOCK: a FIFO is refused below instead of waited on for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot open %s%s: %s", kind, path,
                               strerror(errno));
    struct stat sb;
    segcl_status st = SEGCL_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO,
                             "%s%s is not a regular file (a FIFO, device or folder); segcl does "
                             "not read it",
                             kind, path);
    else if (!(*out = fdopen(fd, "rb")))
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot read %s%s: %s", kind, path,
                             strerror(errno));
    if (st)
        close(fd);
    return st;
}

segcl_status segcl_read_file(segcl_diag *diag, const char *path, size_t max_bytes, char **data,
                             size_t *length)
{
    FILE *f;
    segcl_status st = segcl_open_read(diag, path, "", &f);
    return st ? st : read_stream(diag, f, path, max_bytes, data, length);
}

segcl_status segcl_open_regular(segcl_diag *diag, const char *path, int *fd, bool *absent)
{
    *fd = -1;
    if (absent)
        *absent = false;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; it changes
     * nothing for the regular file that is all this accepts */
    int f = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        if (errno == ENOENT && absent) {
            *absent = true;
            return SEGCL_OK;
        }
        if (errno == ELOOP)
            return segcl_diag_fail(diag, SEGCL_ERROR_IO,
                                   "%s is a symbolic link; segcl reads only regular files there",
                                   path);
        return segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat sb;
    if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        segcl_status st = segcl_diag_fail(diag, SEGCL_ERROR_IO,
                                          "%s is not a regular file (a FIFO, device or folder); "
                                          "segcl does not read it",
                                          path);
        close(f);
        return st;
    }
    *fd = f;
    return SEGCL_OK;
}

segcl_status segcl_read_regular_file(segcl_diag *diag, const char *path, size_t max_bytes,
                                     char **data, size_t *length, bool *absent)
{
    int fd;
    segcl_status st = segcl_open_regular(diag, path, &fd, absent);
    if (st || fd < 0)
        return st;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    return read_stream(diag, f, path, max_bytes, data, length);
}

segcl_status segcl_check_private_dir(segcl_diag *diag, const char *dir, bool *absent)
{
    struct stat link, sb;
    if (absent)
        *absent = false;
    if (lstat(dir, &link) != 0 || stat(dir, &sb) != 0) {
        if (errno == ENOENT && absent) {
            *absent = true;
            return SEGCL_OK;
        }
        return segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot use folder %s: %s", dir,
                               strerror(errno));
    }
    uid_t me = geteuid();
    if (!S_ISDIR(sb.st_mode))
        return segcl_diag_fail(diag, SEGCL_ERROR_IO, "%s is not a folder", dir);
    /* a symlink counts as its owner's: only someone who can write the folder above plants one */
    if (sb.st_uid != me || link.st_uid != me)
        return segcl_diag_fail(diag, SEGCL_ERROR_IO,
                               "%s belongs to user %lu, not to this user (%lu); segcl keeps its "
                               "caches only in folders of its own user",
                               dir, (unsigned long)(sb.st_uid != me ? sb.st_uid : link.st_uid),
                               (unsigned long)me);
    if (sb.st_mode & (S_IWGRP | S_IWOTH))
        return segcl_diag_fail(diag, SEGCL_ERROR_IO,
                               "%s can be written by other users (mode %03o); segcl keeps its "
                               "caches only in private folders ('chmod 700' makes it one)",
                               dir, (unsigned)(sb.st_mode & 0777));
    return SEGCL_OK;
}

segcl_status segcl_make_private_dir(segcl_diag *diag, const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT, "path too long: %s", dir);
    /* every folder it creates is private; folders that exist keep their modes */
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot create folder %s: %s", buf,
                                   strerror(errno));
        *p = c;
        if (!c)
            break;
    }
    return segcl_check_private_dir(diag, dir, NULL);
}

/* splitmix64: spreads the clock, the pid and a counter over a name nobody can guess ahead */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

segcl_status segcl_create_exclusive(segcl_diag *diag, const char *prefix, unsigned mode,
                                    char **path, int *fd)
{
    static _Atomic uint64_t sequence;
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz012345";
    *path = NULL;
    *fd = -1;
    size_t plen = strlen(prefix);
    char *name = segcl_malloc(plen + 14);
    if (!name)
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                               "out of host memory creating a file in %s", prefix);
    memcpy(name, prefix, plen);
    segcl_status st = SEGCL_OK;
    /* a taken name (planted, or a leftover) is skipped; 100 in a row is no accident */
    for (int attempt = 0;; attempt++) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        uint64_t x = mix((uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 30) ^
                         ((uint64_t)getpid() << 20) ^ mix(atomic_fetch_add(&sequence, 1)));
        for (int i = 0; i < 12; i++, x >>= 5)
            name[plen + (size_t)i] = digits[x & 31];
        name[plen + 12] = '\0';
        int f = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
        if (f >= 0) {
            *fd = f;
            *path = name;
            return SEGCL_OK;
        }
        if (errno != EEXIST || attempt == 99) {
            st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot create %s: %s", name,
                                 strerror(errno));
            break;
        }
    }
    const int err = errno; /* for callers that say the error in their own words */
    segcl_free(name);
    errno = err;
    return st;
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
    out->temporary = NULL;
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    size_t len = strlen(path) + 8;
    char *prefix = segcl_malloc(len);
    if (!prefix)
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                               "out of host memory writing %s", path);
    /* hidden: what a crash leaves never looks like the file itself */
    snprintf(prefix, len, "%.*s.%s.tmp-", (int)dir_len, path, path + dir_len);
    segcl_status st = segcl_create_exclusive(NULL, prefix, 0644, &out->temporary, &out->fd);
    const int err = errno;
    segcl_free(prefix);
    /* said of the file asked for, not of its temporary's random name */
    if (st == SEGCL_ERROR_OUT_OF_HOST_MEMORY)
        st = segcl_diag_fail(diag, st, "out of host memory writing %s", path);
    else if (st)
        st = segcl_diag_fail(diag, st, "cannot write %s: %s", path, strerror(err));
    return st;
}

const char *segcl_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void segcl_folder_of(char *buf, size_t len, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, len, ".");
    else if (slash == path)
        snprintf(buf, len, "/");
    else
        snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

/* fsyncs the folder holding path, so a rename in it is durable. */
static void sync_parent(const char *path)
{
    char dir[4096];
    segcl_folder_of(dir, sizeof dir, path);
    int dfd = open(dir, O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

segcl_status segcl_file_end(segcl_diag *diag, segcl_file *f, segcl_status st)
{
    if (!f->temporary)
        return st;
    /* the messages name the file the user asked for; its hidden temporary is removed */
    if (!st && fsync(f->fd) != 0)
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot write %s: %s (syncing it to disk)",
                             f->path, strerror(errno));
    if (close(f->fd) != 0 && !st)
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot write %s: %s (closing it)", f->path,
                             strerror(errno));
    f->fd = -1;
    if (!st && rename(f->temporary, f->path) != 0)
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO,
                             "cannot write %s: %s (putting the new copy in its place)", f->path,
                             strerror(errno));
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

segcl_status segcl_file_begin_stream(segcl_diag *diag, const char *path, segcl_file *out,
                                     FILE **stream)
{
    *stream = NULL;
    segcl_status st = segcl_file_begin(diag, path, out);
    if (st)
        return st;
    /* the stream owns a descriptor of its own, so segcl_file_end's sync and close stay as they
     * are for every writer */
    int fd = dup(out->fd);
    FILE *s = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!s) {
        st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return segcl_file_end(diag, out, st);
    }
    *stream = s;
    return SEGCL_OK;
}

segcl_status segcl_file_end_stream(segcl_diag *diag, segcl_file *f, FILE *stream, segcl_status st)
{
    if (stream) {
        const bool failed = ferror(stream) != 0;
        if ((fclose(stream) != 0 || failed) && !st)
            st = segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot write %s: %s", f->path,
                                 errno ? strerror(errno) : "write error");
    }
    return segcl_file_end(diag, f, st);
}
