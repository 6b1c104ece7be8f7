/* Helpers shared by the cmocka suites. */
#ifndef SEGCL_TEST_UTIL_H
#define SEGCL_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "segcl/segcl.h"

/* Fails the test with the context's message when a call does not return SEGCL_OK. */
#define assert_ok(ctx, call)                                                                       \
    do {                                                                                           \
        segcl_status st_ = (call);                                                                 \
        if (st_ != SEGCL_OK)                                                                       \
            fail_msg("%s returned %d: %s", #call, (int)st_, segcl_context_error(ctx));             \
    } while (0)

/* The photo and mask patterns tools/make_fixtures.py draws (photo(seed), mask_bits(seed)). */
void fixture_photo(int seed, int x, int y, int rgb[3]);
int fixture_mask(int seed, int x, int y);

/* The tensor bytes of a safetensors file (after its header); free() them. */
unsigned char *test_tensor_bytes(const char *path, size_t *len);
/* A whole file, NUL-terminated (free() it), or NULL when it cannot be opened. */
char *test_read_file(const char *path);

/* A new folder $TMPDIR/segcl-<name>-XXXXXX (or under /tmp) in buf; 0 on success. */
int test_temp_dir(char *buf, size_t len, const char *name);
/* Removes a folder and everything in it; 0 on success. */
int test_remove_tree(const char *dir);

#endif
