/* Reader for tools/gen_reference.py's files, checking every length against the file size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"

static int take(FILE *f, void *dst, size_t n)
{
    return fread(dst, 1, n, f) == n ? 0 : -1;
}

int golden_load(golden_file *g, const char *name)
{
    memset(g, 0, sizeof *g);
    const char *dir = getenv("SEGCL_TEST_DATA_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/data", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "golden: cannot open %s\n", path);
        return -1;
    }
    char magic[8];
    uint32_t version, count;
    if (take(f, magic, 8) || memcmp(magic, "SEGCLGLD", 8) || take(f, &version, 4) ||
        version != 1 || take(f, &count, 4) || count > 100000) {
        fprintf(stderr, "golden: %s is not a version-1 golden file\n", path);
        fclose(f);
        return -1;
    }
    g->entries = calloc(count, sizeof *g->entries);
    if (!g->entries) {
        fclose(f);
        return -1;
    }
    for (uint32_t i = 0; i < count; i++) {
        golden_entry *e = &g->entries[i];
        uint16_t len;
        uint8_t ndim;
        uint64_t n;
        if (take(f, &len, 2) || !(e->name = calloc(len + 1u, 1)) || take(f, e->name, len) ||
            take(f, &ndim, 1) || ndim > 8 || take(f, e->shape, 8u * ndim) ||
            take(f, &e->stride, 4) || take(f, &n, 8) || n > (1u << 26) || e->stride == 0) {
            fprintf(stderr, "golden: %s: entry %u is truncated\n", path, i);
            g->count = i + 1;
            golden_free(g);
            fclose(f);
            return -1;
        }
        e->ndim = ndim;
        e->numel = 1;
        for (int d = 0; d < ndim; d++)
            e->numel *= (size_t)e->shape[d];
        e->count = (size_t)n;
        e->values = malloc((e->count ? e->count : 1) * sizeof(float));
        g->count = i + 1;
        if (!e->values || take(f, e->values, e->count * sizeof(float)) ||
            (e->count - 1) * e->stride >= e->numel + (e->count == 0)) {
            fprintf(stderr, "golden: %s: entry %s is inconsistent\n", path, e->name);
            golden_free(g);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

const golden_entry *golden_get(const golden_file *g, const char *name)
{
    for (size_t i = 0; i < g->count; i++)
        if (strcmp(g->entries[i].name, name) == 0)
            return &g->entries[i];
    fprintf(stderr, "golden: no entry '%s'\n", name);
    return NULL;
}

void golden_free(golden_file *g)
{
    for (size_t i = 0; i < g->count; i++) {
        free(g->entries[i].name);
        free(g->entries[i].values);
    }
    free(g->entries);
    memset(g, 0, sizeof *g);
}
