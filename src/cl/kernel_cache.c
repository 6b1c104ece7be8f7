/*
 * The on-disk kernel cache, for drivers that keep none of their own, in a private folder: one
 * file per program (a header with its key, size and SHA-256, then the driver's binary), written
 * through an exclusive temporary and a rename. An entry that is corrupt, stale, malformed,
 * rejected by the driver or once fatal to the process that loaded it (its crash marker, held
 * under a lock while the driver has the binary) is removed and rebuilt.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

#define CACHE_MAGIC "SEGCLKC"
#define CACHE_MAX_BINARY ((uint64_t)1 << 30)

typedef struct cache_header {
    char magic[8];
    uint32_t version;
    uint32_t reserved;
    uint8_t key[32];
    uint64_t binary_size;
    uint8_t digest[32];
} cache_header;

_Static_assert(sizeof(cache_header) == SEGCL_CACHE_HEADER_BYTES, "cache entry header layout");

bool segcl_cache_entry_read(int fd, const uint8_t key[32], unsigned char **binary,
                            uint64_t *binary_size, char *why, size_t cap)
{
    *binary = NULL;
    *binary_size = 0;
    why[0] = '\0';
    cache_header stored, *hdr = &stored;
    struct stat sb;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return false;
    }
    bool ok = fstat(fd, &sb) == 0 && fread(hdr, sizeof *hdr, 1, f) == 1 &&
              memcmp(hdr->magic, CACHE_MAGIC, 8) == 0 && hdr->version == SEGCL_CACHE_FORMAT_VERSION &&
              memcmp(hdr->key, key, 32) == 0 && hdr->binary_size > 0 &&
              hdr->binary_size <= CACHE_MAX_BINARY &&
              hdr->binary_size == (uint64_t)sb.st_size - sizeof *hdr;
    unsigned char *bytes = NULL;
    if (ok) {
        bytes = segcl_malloc((size_t)hdr->binary_size + 1);
        ok = bytes && fread(bytes, 1, (size_t)hdr->binary_size, f) == hdr->binary_size &&
             fgetc(f) == EOF;
    }
    fclose(f);
    if (ok) {
        uint8_t digest[32];
        segcl_sha256 h;
        segcl_sha256_init(&h);
        segcl_sha256_update(&h, bytes, (size_t)hdr->binary_size);
        segcl_sha256_final(&h, digest);
        ok = memcmp(digest, hdr->digest, 32) == 0 &&
             segcl_binary_check(bytes, (size_t)hdr->binary_size, why, cap);
    }
    if (!ok) {
        segcl_free(bytes);
        return false;
    }
    *binary = bytes;
    *binary_size = hdr->binary_size;
    return true;
}

/* The crash marker "<entry>.loading": a file the loading process holds an flock on for as long
 * as the driver has the binary. The kernel drops the lock with the process, so a marker whose
 * lock can be taken was left by a process that died in the driver, and one whose lock is held
 * belongs to a process loading the entry now (parallel runs and MPI ranks share the cache; on
 * a network file system, as far as its locks reach across machines). */
typedef enum { MARKER_NONE, MARKER_BUSY, MARKER_STALE, MARKER_UNKNOWN } marker_state;

/* What the marker says. For STALE, *held is the fd holding the dead marker's lock (or -1 for
 * a marker that is no file of ours, a symlink): the caller removes the entry, then the marker,
 * then closes it, so that no other process can take the same marker for stale meanwhile or
 * have a new marker of its own removed. UNKNOWN (a passing failure: too many open files) says
 * nothing either way. */
static marker_state marker_probe(const char *marker, int *held)
{
    *held = -1;
    struct stat sb;
    int fd = open(marker, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return MARKER_NONE;
        return lstat(marker, &sb) == 0 && !S_ISREG(sb.st_mode) ? MARKER_STALE : MARKER_UNKNOWN;
    }
    marker_state state = MARKER_UNKNOWN;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            state = MARKER_BUSY;
    } else if (fstat(fd, &sb) == 0) {
        if (sb.st_nlink == 0) {
            state = MARKER_NONE; /* its loader finished (and removed it) since the open */
        } else {
            *held = fd;
            return MARKER_STALE;
        }
    }
    close(fd);
    return state;
}

/* Puts the marker in place already locked: created and locked under a temporary name
 * (<marker>.tmp-<random>), then linked to its own name, which fails while another process's
 * marker is there. Returns the fd holding the lock, or -1. */
static int marker_take(const char *marker)
{
    size_t len = strlen(marker) + sizeof ".tmp-";
    char *prefix = segcl_malloc(len), *tmp = NULL;
    int fd = -1;
    if (!prefix)
        return -1;
    snprintf(prefix, len, "%s.tmp-", marker);
    if (!segcl_create_exclusive(NULL, prefix, 0600, &tmp, &fd)) {
        if (flock(fd, LOCK_EX | LOCK_NB) != 0 || link(tmp, marker) != 0) {
            close(fd);
            fd = -1;
        }
        unlink(tmp);
    }
    segcl_free(tmp);
    segcl_free(prefix);
    return fd;
}

/* Hands a checked binary (read from the entry file `entry`) to the driver under the crash
 * marker. False when the driver refuses it (*refused), or when another process is loading the
 * same entry or replaced or removed it since it was read (neither: build from source this
 * time; a process that found a crash marker removes the entry before the marker, so one read
 * before that removal is caught here). */
static bool cache_hand_over(segcl_context *ctx, const char *path, const struct stat *entry,
                            const char *marker, const unsigned char *binary, size_t size,
                            bool *refused, cl_program *out)
{
    *refused = false;
    int fd = marker_take(marker);
    if (fd < 0)
        return false;
    struct stat now;
    bool ok = stat(path, &now) == 0 && now.st_dev == entry->st_dev &&
              now.st_ino == entry->st_ino;
    cl_program program = NULL;
    if (ok) {
        cl_int err, binary_status = CL_SUCCESS;
        const unsigned char *bins[] = {binary};
        program = clCreateProgramWithBinary(ctx->cl, 1, &ctx->dev->device, &size, bins,
                                            &binary_status, &err);
        ok = program && err == CL_SUCCESS && binary_status == CL_SUCCESS &&
             clBuildProgram(program, 1, &ctx->dev->device, NULL, NULL, NULL) == CL_SUCCESS;
        *refused = !ok;
    }
    unlink(marker); /* before the lock goes, so a process waiting on it sees no marker */
    close(fd);
    if (!ok && program)
        clReleaseProgram(program);
    if (ok)
        *out = program;
    return ok;
}

/* Returns true and a built program when a valid entry exists. A defect counts as rejected and
 * the entry is removed: a digest or key that does not match silently, a binary whose structure
 * does not hold, something that is not a regular file, or the marker of a process that died
 * while the driver had the binary, with a warning. An entry another process is loading now, or
 * that cannot be opened for a passing reason, is left alone (built from source here). */
bool segcl_kernel_cache_load(segcl_context *ctx, const char *path, const uint8_t key[32],
                             cl_program *out)
{
    bool absent = false, loaded = false, refused = false;
    char why[160] = "";
    unsigned char *binary = NULL;
    size_t mlen = strlen(path) + sizeof ".loading";
    char *marker = segcl_malloc(mlen);
    int fd = -1, held = -1;
    struct stat entry;
    marker_state state = MARKER_NONE;
    if (!marker)
        goto done;
    snprintf(marker, mlen, "%s.loading", path);
    if (segcl_open_regular(NULL, path, &fd, &absent)) {
        /* what is there but is no regular file goes; a file that cannot be opened now (too
         * many open files, permissions) stays, and this process builds from source */
        if (lstat(path, &entry) == 0 && !S_ISREG(entry.st_mode)) {
            snprintf(why, sizeof why, "not a regular file");
            refused = true;
        }
        goto done;
    }
    if (absent)
        goto done;
    if (fstat(fd, &entry) != 0 || (state = marker_probe(marker, &held)) != MARKER_NONE) {
        close(fd);
        if (state == MARKER_STALE) {
            snprintf(why, sizeof why, "a process died while the OpenCL driver loaded it");
            refused = true;
        }
        goto done;
    }
    uint64_t size;
    if (!segcl_cache_entry_read(fd, key, &binary, &size, why, sizeof why)) {
        refused = true;
        goto done;
    }
    loaded = cache_hand_over(ctx, path, &entry, marker, binary, (size_t)size, &refused, out);
done:
    if (refused) {
        ctx->cache_stats.rejected++;
        if (why[0])
            segcl_warn(ctx, "kernel cache entry %s refused (%s); rebuilt from source", path, why);
        unlink(path);
        /* the dead marker last, and by the one process holding its lock: no other can take it
         * for stale too, nor lose a marker of its own made meanwhile */
        struct stat sb;
        if (state == MARKER_STALE && (held < 0 || (fstat(held, &sb) == 0 && sb.st_nlink > 0)))
            unlink(marker);
    } else if (loaded) {
        ctx->cache_stats.hits++;
    }
    if (held >= 0)
        close(held);
    segcl_free(binary);
    segcl_free(marker);
    return loaded;
}

/* Best effort: a cache that cannot be written only costs the next run a rebuild. The entry is
 * written to an exclusively created temporary in the (private) cache folder, then renamed. */
void segcl_kernel_cache_store(segcl_context *ctx, const char *path, const uint8_t key[32],
                              cl_program program)
{
    size_t size = 0;
    unsigned char *binary = NULL;
    char *prefix = NULL, *tmp = NULL;
    int fd = -1;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
        size == 0 || size > CACHE_MAX_BINARY || !(binary = segcl_malloc(size)))
        goto done;
    unsigned char *bins[] = {binary};
    if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS ||
        segcl_make_private_dir(NULL, ctx->cache_dir) != SEGCL_OK)
        goto done;
    cache_header hdr;
    memset(&hdr, 0, sizeof hdr);
    memcpy(hdr.magic, CACHE_MAGIC, 8);
    hdr.version = SEGCL_CACHE_FORMAT_VERSION;
    memcpy(hdr.key, key, 32);
    hdr.binary_size = size;
    segcl_sha256 h;
    segcl_sha256_init(&h);
    segcl_sha256_update(&h, binary, size);
    segcl_sha256_final(&h, hdr.digest);

    size_t plen = strlen(path) + sizeof ".tmp-";
    if (!(prefix = segcl_malloc(plen)))
        goto done;
    snprintf(prefix, plen, "%s.tmp-", path);
    if (segcl_create_exclusive(NULL, prefix, 0600, &tmp, &fd))
        goto done;
    bool ok = !segcl_write_all(NULL, fd, &hdr, sizeof hdr, tmp) &&
              !segcl_write_all(NULL, fd, binary, size, tmp);
    ok = close(fd) == 0 && ok;
    fd = -1;
    if (ok && rename(tmp, path) == 0)
        ctx->cache_stats.stored++;
    else
        unlink(tmp);
done:
    if (fd >= 0)
        close(fd);
    segcl_free(tmp);
    segcl_free(prefix);
    segcl_free(binary);
}
