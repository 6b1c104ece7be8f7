/*
 * What the fuzz targets share: their context, and for those that read files a private folder
 * (mkdtemp, 0700, removed at exit) and a file in it holding the input.
 */
#ifndef SEGCL_FUZZ_UTIL_H
#define SEGCL_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl/cl.h"
#include "core/core.h"

static char fuzz_folder[256];
static char fuzz_names[4][64];

static inline void fuzz_cleanup(void)
{
    char path[400];
    for (int i = 0; i < 4 && fuzz_names[i][0]; i++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_folder, fuzz_names[i]);
        unlink(path);
    }
    rmdir(fuzz_folder);
}

/* The private folder, made on the first call (aborts when it cannot be: nothing to test): in
 * $SEGCL_FUZZ_DIR, else /dev/shm where there is one, since on a disk the writes, not the code,
 * set the pace (metrics.csv, whose cut is fsynced: 740 inputs/s on ext4, 10,000 in memory). */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_folder[0]) {
        const char *tmp = getenv("SEGCL_FUZZ_DIR");
        if (!tmp || !*tmp)
            tmp = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fuzz_folder, sizeof fuzz_folder, "%s/segcl-fuzz-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fuzz_folder))
            abort();
        atexit(fuzz_cleanup);
    }
    return fuzz_folder;
}

/* Writes the input to `name` in the private folder (a name up to 63 bytes; at most four names
 * per target) and returns its path, in static storage. */
static inline const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    static char path[400];
    int slot = 0;
    while (slot < 4 && fuzz_names[slot][0] && strcmp(fuzz_names[slot], name))
        slot++;
    if (slot == 4 || strlen(name) >= sizeof fuzz_names[0])
        abort();
    snprintf(fuzz_names[slot], sizeof fuzz_names[slot], "%s", name);
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    /* a new file each time, not the old one truncated: ext4 flushes a file rewritten after a
     * truncation when it is closed (auto_da_alloc), at a few hundred inputs a second */
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd))
        abort();
    return path;
}

/* The target's context, made on the first call (aborts when it cannot be), its last message
 * cleared: a refusal of this input must bring its own. */
static inline segcl_context *fuzz_context(void)
{
    static segcl_context *ctx;
    if (!ctx && segcl_context_create(&ctx))
        abort();
    segcl_diag_clear(segcl_context_diag(ctx));
    return ctx;
}

#endif
