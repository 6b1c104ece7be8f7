/* Helpers shared by the cmocka suites (declared in test_util.h). */
#include <stdio.h>
#include <stdlib.h>

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
