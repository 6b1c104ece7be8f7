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
/* Writes text to path; fails the test when it cannot. */
void test_write_text(const char *path, const char *text);

/* Runs a group of tests once per backend the test device runs (as ggml's test-backend-ops
 * does): its own kernel style and the GPU style, which every device runs; only the style in
 * $SEGCL_KERNEL_STYLE when that is set. Each run's contexts open with the style set. Returns
 * the number of failed tests over all runs. */
int test_each_backend(const char *group, const struct CMUnitTest *tests, size_t count,
                      CMFixtureFunction setup, CMFixtureFunction teardown);
#define test_each_backend_group(group, tests, setup, teardown)                                    \
    test_each_backend(group, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

/* A new context opened with s (NULL: the defaults); fails the test when it cannot be. */
segcl_context *test_open_context(const segcl_settings *s);

/* A new folder $TMPDIR/segcl-<name>-XXXXXX (or under /tmp) in buf; 0 on success. */
int test_temp_dir(char *buf, size_t len, const char *name);
/* Removes a folder and everything in it; 0 on success. */
int test_remove_tree(const char *dir);

/* The test data folder (tests/data): $SEGCL_TEST_DATA_DIR, else "tests/data". */
const char *test_data_dir(void);
/* <test data folder>/<name> in buf. */
void test_data_path(char *buf, size_t len, const char *name);

/* ---- the group fixture: what a suite's set-up makes, and its teardown removes ---------------- */

enum {
    TEST_FIXTURE_TEMP = 1,    /* a temporary folder, removed with everything in it */
    TEST_FIXTURE_CONTEXT = 2, /* a context, not opened (host work only) */
    TEST_FIXTURE_DEVICE = 6,  /* a context opened on the test device (SEGCL_DEVICE, else the
                                 library's choice), as segcl_context_open(ctx, NULL) does */
};

typedef struct test_fixture {
    char temp[256];     /* the temporary folder, or "" */
    char fixtures[512]; /* <test data folder>/fixtures */
    segcl_context *ctx; /* or NULL */
} test_fixture;

/* Makes what `needs` (TEST_FIXTURE_* bits) asks for; `name` names the temporary folder. Returns
 * 0, or -1 with a message on stderr (a cmocka group set-up's answer). */
int test_fixture_setup(test_fixture *fx, const char *name, unsigned needs);
/* A synthetic data set (segcl_synth) in <temporary folder>/<sub>, its path in out; 0 or -1. */
int test_fixture_synth(test_fixture *fx, const char *sub, int count, int size, uint64_t seed,
                       char *out, size_t len);
/* Destroys the context and removes the temporary folder; 0 or -1 (a group teardown's answer). */
int test_fixture_teardown(test_fixture *fx);

/* ---- golden files: the PyTorch references tools/gen_reference.py writes (format there) ---- */

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

/* The entry; fails the test when it is absent. */
const golden_entry *golden_need(const golden_file *g, const char *name);

/* The path of the only kernel-cache entry (*.bin) in dir; fails the test unless exactly one. */
void test_only_cache_entry(const char *dir, char *path, size_t len);

#endif
