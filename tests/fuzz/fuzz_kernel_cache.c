/*
 * libFuzzer target: the kernel-cache entry reader (header: magic, format version, key, size
 * against the file's, SHA-256; then the binary's own structure, segcl_binary_check) on any
 * bytes as an entry file. The first byte picks what the harness does first: as they are, or
 * with the key and digest fields made to match (so that the structure check, the part a
 * crafted entry with a valid digest meets, is fuzzed, not just SHA-256). An entry that passes
 * must have the size its header gives.
 */
#include <fcntl.h>
#include <string.h>

#include "cl/cl.h"
#include "core/core.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* header offsets: magic 0, version 8, reserved 12, key 16, binary size 48, digest 56 */
#define KEY_AT 16
#define SIZE_AT 48
#define DIGEST_AT 56

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int seal = data[0] & 1;
    data++, size--;
    uint8_t key[32] = {0};
    uint8_t *entry = malloc(size ? size : 1);
    if (!entry)
        abort();
    memcpy(entry, data, size);
    if (size >= SEGCL_CACHE_HEADER_BYTES) {
        memcpy(key, entry + KEY_AT, 32); /* the key the caller looks for: this one */
        if (seal) { /* the size and digest of what follows, as a crafted entry has them */
            const uint64_t n = size - SEGCL_CACHE_HEADER_BYTES;
            memcpy(entry + SIZE_AT, &n, 8);
            segcl_sha256 h;
            segcl_sha256_init(&h);
            segcl_sha256_update(&h, entry + SEGCL_CACHE_HEADER_BYTES, (size_t)n);
            segcl_sha256_final(&h, entry + DIGEST_AT);
        }
    }
    const char *path = fuzz_write("entry.bin", entry, size);
    free(entry);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        abort();
    unsigned char *binary = NULL;
    uint64_t binary_size = 0;
    char why[160];
    if (segcl_cache_entry_read(fd, key, &binary, &binary_size, why, sizeof why)) {
        if (!binary || binary_size != size - SEGCL_CACHE_HEADER_BYTES)
            abort();
    } else if (binary || binary_size || !memchr(why, '\0', sizeof why)) {
        abort();
    }
    segcl_free(binary);
    return 0;
}
