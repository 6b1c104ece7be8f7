/* Reader for the PyTorch reference files written by tools/gen_reference.py (format there). */
#ifndef SEGCL_TEST_GOLDEN_H
#define SEGCL_TEST_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct golden_entry {
    char *name;
    int ndim;
    int64_t shape[8];
    size_t numel;    /* elements of the full tensor */
    uint32_t stride; /* values[i] is element i * stride */
    size_t count;
    float *values;
} golden_entry;

typedef struct golden_file {
    golden_entry *entries;
    size_t count;
} golden_file;

/* Loads $SEGCL_TEST_DATA_DIR/<name>; returns 0 or -1 with a message on stderr. */
int golden_load(golden_file *g, const char *name);
/* The entry, or NULL (the caller fails the test). */
const golden_entry *golden_get(const golden_file *g, const char *name);
void golden_free(golden_file *g);

#endif
