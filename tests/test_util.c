/* Helpers shared by the cmocka suites (declared in test_util.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

void fixture_photo(int seed, int x, int y, int rgb[3])
{
    rgb[0] = (x * 11 + seed * 40) % 256;
    rgb[1] = (y * 17 + seed * 7) % 256;
    rgb[2] = (x * y + seed) % 256;
}

int fixture_mask(int seed, int x, int y)
{
    double cx = 8 + seed, cy = 6;
    return (x - cx) * (x - cx) / 30 + (y - cy) * (y - cy) / 12 < 1;
}

unsigned char *test_tensor_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char le[8];
    assert_int_equal(fread(le, 1, 8, f), 8);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h |= (uint64_t)le[i] << (8 * i);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, (long)(8 + h), SEEK_SET);
    *len = (size_t)size - 8 - h;
    unsigned char *b = malloc(*len);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

char *test_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    s[fread(s, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return s;
}

void test_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

segcl_context *test_open_context(const segcl_settings *s)
{
    segcl_context *ctx = NULL;
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    assert_ok(ctx, segcl_context_open(ctx, s));
    return ctx;
}

int test_temp_dir(char *buf, size_t len, const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, len, "%s/segcl-%s-XXXXXX", base && *base ? base : "/tmp", name);
    return mkdtemp(buf) ? 0 : -1;
}

int test_remove_tree(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

const char *test_data_dir(void)
{
    const char *dir = getenv("SEGCL_TEST_DATA_DIR");
    return dir ? dir : "tests/data";
}

void test_data_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", test_data_dir(), name);
}

int test_fixture_setup(test_fixture *fx, const char *name, unsigned needs)
{
    memset(fx, 0, sizeof *fx);
    test_data_path(fx->fixtures, sizeof fx->fixtures, "fixtures");
    if ((needs & TEST_FIXTURE_TEMP) && test_temp_dir(fx->temp, sizeof fx->temp, name)) {
        fprintf(stderr, "fixture: cannot create a temporary folder for %s\n", name);
        fx->temp[0] = '\0';
        return -1;
    }
    if ((needs & TEST_FIXTURE_CONTEXT) && segcl_context_create(&fx->ctx) != SEGCL_OK) {
        fprintf(stderr, "fixture: cannot create a context\n");
        return -1;
    }
    if ((needs & TEST_FIXTURE_DEVICE) == TEST_FIXTURE_DEVICE &&
        segcl_context_open(fx->ctx, NULL) != SEGCL_OK) {
        fprintf(stderr, "fixture: %s\n", segcl_context_error(fx->ctx));
        return -1;
    }
    return 0;
}

int test_fixture_synth(test_fixture *fx, const char *sub, int count, int size, uint64_t seed,
                       char *out, size_t len)
{
    snprintf(out, len, "%s/%s", fx->temp, sub);
    if (segcl_synth(fx->ctx, out, count, size, seed) != SEGCL_OK) {
        fprintf(stderr, "fixture: synthetic data in %s: %s\n", out, segcl_context_error(fx->ctx));
        return -1;
    }
    return 0;
}

int test_fixture_teardown(test_fixture *fx)
{
    segcl_context_destroy(fx->ctx);
    fx->ctx = NULL;
    int rc = fx->temp[0] ? test_remove_tree(fx->temp) : 0;
    fx->temp[0] = '\0';
    return rc;
}

/* ---- golden files (checking every length against the file size) ---------------------------- */

static int take(FILE *f, void *dst, size_t n)
{
    return fread(dst, 1, n, f) == n ? 0 : -1;
}

int golden_load(golden_file *g, const char *name)
{
    memset(g, 0, sizeof *g);
    char path[1024];
    test_data_path(path, sizeof path, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "golden: cannot open %s\n", path);
        return -1;
    }
    char magic[8];
    uint32_t version, count;
    if (take(f, magic, 8) || memcmp(magic, "SEGCLGLD", 8) || take(f, &version, 4) || version != 1 ||
        take(f, &count, 4) || count > 100000) {
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

const golden_entry *golden_need(const golden_file *g, const char *name)
{
    const golden_entry *e = golden_get(g, name);
    if (!e)
        fail_msg("missing golden entry %s", name);
    return e;
}

int test_each_backend(const char *group, const struct CMUnitTest *tests, size_t count,
                      CMFixtureFunction setup, CMFixtureFunction teardown)
{
    /* which styles: SEGCL_KERNEL_STYLE's alone when it is set, else the device's own and the
     * GPU style (every device runs it), the CPU style only where the device's is */
    char keep[16] = "";
    const char *forced = getenv("SEGCL_KERNEL_STYLE") ? keep : NULL;
    if (forced)
        snprintf(keep, sizeof keep, "%s", getenv("SEGCL_KERNEL_STYLE"));
    const char *styles[2] = {forced, NULL};
    if (!forced) {
        segcl_context *probe = test_open_context(NULL);
        segcl_device_info info;
        if (segcl_context_device_info(probe, &info) != SEGCL_OK) {
            fprintf(stderr, "%s: %s\n", group, segcl_context_error(probe));
            segcl_context_destroy(probe);
            return 1;
        }
        segcl_context_destroy(probe);
        styles[0] = info.cpu_style ? "cpu" : "gpu";
        styles[1] = info.cpu_style ? "gpu" : NULL;
    }
    int failed = 0;
    for (int i = 0; i < 2 && styles[i]; i++) {
        char name[160];
        snprintf(name, sizeof name, "%s [%s-style backend]", group, styles[i]);
        setenv("SEGCL_KERNEL_STYLE", styles[i], 1);
        failed += _cmocka_run_group_tests(name, tests, count, setup, teardown);
    }
    if (forced)
        setenv("SEGCL_KERNEL_STYLE", forced, 1);
    else
        unsetenv("SEGCL_KERNEL_STYLE");
    return failed;
}

void test_only_cache_entry(const char *dir, char *path, size_t len)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".bin") == 0) {
            snprintf(path, len, "%s/%s", dir, e->d_name);
            found++;
        }
    }
    closedir(d);
    assert_int_equal(found, 1);
}
