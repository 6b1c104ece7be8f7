/*
 * OpenCL suite (runs on PoCL in CI): device enumeration and selection, program builds from the
 * embedded sources and from SEGCL_KERNEL_DIR, the on-disk cache (miss, hit, corrupt and stale
 * entries), build errors carrying the compiler log, tensors, and the kernel style. Tuning,
 * memory limits, the arena planner, GEMM and allocation failures: test_opencl_memory.c.
 */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl/cl.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static const char *const tmp_root = fx.temp;

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void make_dir(const char *path)
{
    assert_true(mkdir(path, 0755) == 0 || access(path, F_OK) == 0);
}


/* ---- devices ---------------------------------------------------------------------------------- */

static void test_device_enumeration(void **state)
{
    (void)state;
    segcl_context *ctx;
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    size_t count = 0;
    assert_ok(ctx, segcl_device_count(ctx, &count));
    assert_true(count >= 1);
    for (size_t i = 0; i < count; i++) {
        segcl_device_info in;
        assert_ok(ctx, segcl_device_get_info(ctx, i, &in));
        assert_int_equal(in.index, (int)i);
        assert_true(strlen(in.name) > 0);
        assert_true(strlen(in.platform_name) > 0);
        assert_true(in.compute_units >= 1);
        assert_true(in.global_mem_bytes > 0);
        assert_true(in.max_alloc_bytes > 0 && in.max_alloc_bytes <= in.global_mem_bytes);
        assert_true(in.max_work_group_size >= 1);
        assert_non_null(strstr(in.opencl_c_version, "OpenCL C"));
    }
    segcl_device_info in;
    assert_int_equal(segcl_device_get_info(ctx, count, &in), SEGCL_ERROR_NO_DEVICE);
    segcl_context_destroy(ctx);
}

/* Default: the first GPU, else the first CPU; first is what it chose. */
static void check_default_device(segcl_context *ctx, size_t count, segcl_device_info *first)
{
    size_t index = 99;
    assert_ok(ctx, segcl_device_resolve(ctx, NULL, &index));
    assert_ok(ctx, segcl_device_get_info(ctx, index, first));
    bool any_gpu = false;
    for (size_t i = 0; i < count; i++) {
        segcl_device_info in;
        assert_ok(ctx, segcl_device_get_info(ctx, i, &in));
        if (in.type == SEGCL_DEVICE_TYPE_GPU && !any_gpu) {
            any_gpu = true;
            assert_int_equal(index, i);
        }
    }
    if (!any_gpu)
        assert_int_equal(first->type, SEGCL_DEVICE_TYPE_CPU);
}

/* Unknown devices name the valid ones; malformed specs say what is expected; anything else is
 * a name. first is the default device. */
static void check_device_specs(segcl_context *ctx, const segcl_device_info *first)
{
    size_t index = 99;
    assert_int_equal(segcl_device_resolve(ctx, "99", &index), SEGCL_ERROR_NO_DEVICE);
    const char *msg = segcl_context_error(ctx);
    assert_non_null(strstr(msg, "'99'"));
    assert_non_null(strstr(msg, "valid devices: 0"));
    assert_non_null(strstr(msg, first->name));
    assert_int_equal(segcl_device_resolve(ctx, "0:99", &index), SEGCL_ERROR_NO_DEVICE);
    assert_int_equal(segcl_device_resolve(ctx, "7:0", &index), SEGCL_ERROR_NO_DEVICE);
    const char *bad[] = {"1:", ":1", "0:0:0", "a:b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(segcl_device_resolve(ctx, bad[i], &index), SEGCL_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(segcl_context_error(ctx), "PLATFORM:DEVICE"));
    }
    /* anything else is a name: a device whose name or platform name holds it, any case */
    const char *unknown[] = {"no-such-device-xyz", "-1", "1x", " 0"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_int_equal(segcl_device_resolve(ctx, unknown[i], &index), SEGCL_ERROR_NO_DEVICE);
        assert_non_null(strstr(segcl_context_error(ctx), "valid devices: 0"));
    }
    char part[16];
    snprintf(part, sizeof part, "%.6s", first->platform_name);
    for (char *c = part; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    assert_ok(ctx, segcl_device_resolve(ctx, part, &index));
    segcl_device_info found;
    assert_ok(ctx, segcl_device_get_info(ctx, index, &found));
    assert_int_equal(found.platform_index, first->platform_index);
}

static void test_device_selection(void **state)
{
    (void)state;
    segcl_context *ctx;
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    size_t count = 0, index = 99;
    assert_ok(ctx, segcl_device_count(ctx, &count));
    /* the device this run tests (the rusticl setup names one): given back at the end, so the
     * tests after this one run on it too */
    char outer[256] = "";
    const bool given = getenv("SEGCL_DEVICE") != NULL;
    if (given)
        snprintf(outer, sizeof outer, "%s", getenv("SEGCL_DEVICE"));
    unsetenv("SEGCL_DEVICE");

    segcl_device_info first;
    check_default_device(ctx, count, &first);

    /* By global index and by platform:device, for every device. */
    for (size_t i = 0; i < count; i++) {
        segcl_device_info in;
        assert_ok(ctx, segcl_device_get_info(ctx, i, &in));
        char spec[32];
        snprintf(spec, sizeof spec, "%zu", i);
        assert_ok(ctx, segcl_device_resolve(ctx, spec, &index));
        assert_int_equal(index, i);
        snprintf(spec, sizeof spec, "%d:%d", in.platform_index, in.device_index);
        assert_ok(ctx, segcl_device_resolve(ctx, spec, &index));
        assert_int_equal(index, i);
    }

    /* From the environment, and an explicit spec overrides it. */
    char last[32];
    snprintf(last, sizeof last, "%zu", count - 1);
    setenv("SEGCL_DEVICE", last, 1);
    assert_ok(ctx, segcl_device_resolve(ctx, NULL, &index));
    assert_int_equal(index, count - 1);
    assert_ok(ctx, segcl_device_resolve(ctx, "0", &index));
    assert_int_equal(index, 0);
    setenv("SEGCL_DEVICE", "77", 1);
    assert_int_equal(segcl_device_resolve(ctx, NULL, &index), SEGCL_ERROR_NO_DEVICE);
    assert_non_null(strstr(segcl_context_error(ctx), "SEGCL_DEVICE"));
    unsetenv("SEGCL_DEVICE");

    check_device_specs(ctx, &first);

    /* Opening an unknown device fails cleanly and leaves the context closed. */
    segcl_settings s;
    segcl_default_settings(&s);
    s.device = "42";
    assert_int_equal(segcl_context_open(ctx, &s), SEGCL_ERROR_NO_DEVICE);
    segcl_device_info in;
    assert_int_equal(segcl_context_device_info(ctx, &in), SEGCL_ERROR_STATE);
    s.device = "0";
    assert_ok(ctx, segcl_context_open(ctx, &s));
    assert_ok(ctx, segcl_context_device_info(ctx, &in));
    assert_int_equal(in.index, 0);
    assert_int_equal(segcl_context_open(ctx, &s), SEGCL_ERROR_STATE);
    segcl_context_destroy(ctx);
    if (given)
        setenv("SEGCL_DEVICE", outer, 1);
}

/* ---- programs --------------------------------------------------------------------------------- */

static void test_kernel_round_trip(void **state)
{
    (void)state;
    segcl_settings s;
    segcl_default_settings(&s);
    s.kernel_cache = SEGCL_KERNEL_CACHE_OFF;
    segcl_context *ctx = test_open_context(&s);
    int64_t shape[] = {3, 37, 29};
    segcl_tensor *x, *y;
    assert_ok(ctx, segcl_tensor_create(ctx, "x", 3, shape, &x));
    assert_ok(ctx, segcl_tensor_create(ctx, "y", 3, shape, &y));
    size_t n = segcl_tensor_numel(x);
    assert_int_equal(n, 3 * 37 * 29);
    float *hx = malloc(n * sizeof *hx), *hy = malloc(n * sizeof *hy), *out = malloc(n * 4);
    assert_non_null(hx);
    assert_non_null(hy);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        hx[i] = (float)i * 0.25f - 100.0f;
        hy[i] = (float)(i % 17) - 8.0f;
    }
    assert_ok(ctx, segcl_tensor_write(x, hx, n));
    assert_ok(ctx, segcl_tensor_write(y, hy, n));
    assert_ok(ctx, segcl_axpby(ctx, x->buffer, y->buffer, n, 2.0f, -0.5f));
    assert_ok(ctx, segcl_tensor_read(y, out, n));
    for (size_t i = 0; i < n; i++)
        assert_float_equal(out[i], 2.0f * hx[i] - 0.5f * hy[i], 1e-6f * (1.0f + fabsf(out[i])));
    assert_ok(ctx, segcl_fill(ctx, x->buffer, n, 7.5f));
    assert_ok(ctx, segcl_tensor_read(x, out, n));
    for (size_t i = 0; i < n; i++)
        assert_true(out[i] == 7.5f);
    /* Wrong element counts are refused, not overrun. */
    assert_int_equal(segcl_tensor_read(x, out, n - 1), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(segcl_tensor_write(x, hx, n + 1), SEGCL_ERROR_INVALID_ARGUMENT);
    int64_t got[4];
    assert_int_equal(segcl_tensor_shape(x, got), 3);
    assert_memory_equal(got, shape, sizeof shape);
    assert_string_equal(segcl_tensor_name(x), "x");
    /* The program is built once per context: a second lookup returns the same objects. */
    cl_program p1, p2;
    assert_ok(ctx, segcl_program_get(ctx, "util", NULL, &p1));
    assert_ok(ctx, segcl_program_get(ctx, "util", NULL, &p2));
    assert_ptr_equal(p1, p2);
    assert_int_equal(segcl_context_cache_stats(ctx).builds, 1);
    cl_kernel k1, k2;
    assert_ok(ctx, segcl_kernel_get(ctx, "util", NULL, "fill_f32", &k1));
    assert_ok(ctx, segcl_kernel_get(ctx, "util", NULL, "fill_f32", &k2));
    assert_ptr_equal(k1, k2);
    assert_int_equal(segcl_kernel_get(ctx, "util", NULL, "no_such_kernel", &k1),
                     SEGCL_ERROR_OPENCL);
    assert_non_null(strstr(segcl_context_error(ctx), "no_such_kernel"));
    assert_int_equal(segcl_program_get(ctx, "no_such_family", NULL, &p1),
                     SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(segcl_context_error(ctx), "no_such_family"));
    free(hx);
    free(hy);
    free(out);
    segcl_tensor_destroy(x);
    segcl_tensor_destroy(y);
    segcl_tensor_destroy(NULL);
    segcl_context_destroy(ctx);
}

static void test_kernel_dir_and_build_error(void **state)
{
    (void)state;
    const char *src_dir = getenv("SEGCL_TEST_KERNEL_DIR");
    assert_non_null(src_dir);
    char dir[512], from[512], to[600];
    snprintf(dir, sizeof dir, "%s/kernels", tmp_root);
    make_dir(dir);
    const char *copies[] = {"util.cl", "common.cl"};
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s/%s", src_dir, copies[i]);
        snprintf(to, sizeof to, "%s/%s", dir, copies[i]);
        copy_file(from, to);
    }
    /* A fill kernel that adds 1, so we can tell the disk copy from the embedded one. */
    snprintf(to, sizeof to, "%s/marker.cl", dir);
    test_write_text(to, "__kernel void fill_f32(__global float *x, const uint n, const float v)\n"
                        "{ uint i = get_global_id(0); if (i < n) x[i] = v + 1.0f; }\n");
    snprintf(to, sizeof to, "%s/broken.cl", dir);
    test_write_text(to, "__kernel void broken(__global float *x)\n"
                        "{ x[0] = undeclared_identifier_segcl * 2.0f; }\n");

    segcl_settings s;
    segcl_default_settings(&s);
    s.kernel_cache = SEGCL_KERNEL_CACHE_OFF;
    s.kernel_dir = dir;
    segcl_context *ctx = test_open_context(&s);
    cl_kernel k;
    size_t max_wg;
    assert_ok(ctx, segcl_kernel_find(ctx, "marker", NULL, "fill_f32", &k, &max_wg));
    cl_mem buf;
    assert_ok(ctx, segcl_buffer_create(ctx, "marker", 16 * 4, &buf));
    cl_uint n = 16;
    float v = 2.0f;
    segcl_arg args[] = {SEGCL_ARG(buf), SEGCL_ARG(n), SEGCL_ARG(v)};
    assert_ok(ctx, segcl_set_args(ctx, k, "fill_f32", args, 3));
    size_t global = 16;
    assert_ok(ctx, segcl_launch(ctx, k, "fill_f32", max_wg, 1, &global, NULL));
    float out[16];
    assert_int_equal(clEnqueueReadBuffer(segcl_context_queue(ctx), buf, CL_TRUE, 0, sizeof out, out,
                                         0, NULL, NULL),
                     CL_SUCCESS);
    for (int i = 0; i < 16; i++)
        assert_true(out[i] == 3.0f);
    segcl_buffer_release(ctx, buf, 16 * 4);

    /* A build failure carries the compiler's log, the file and the device. */
    cl_program p;
    assert_int_equal(segcl_program_get(ctx, "broken", NULL, &p), SEGCL_ERROR_BUILD);
    const char *msg = segcl_context_error(ctx);
    assert_non_null(strstr(msg, "kernels/broken.cl"));
    assert_non_null(strstr(msg, "build log"));
    assert_non_null(strstr(msg, "undeclared_identifier_segcl"));
    assert_int_equal(segcl_context_last_cl_error(ctx), CL_BUILD_PROGRAM_FAILURE);
    /* An error in common.cl, the prelude of every family, is blamed on common.cl with its own
     * line numbers, not on the family built behind it (new options: a program not built yet). */
    snprintf(to, sizeof to, "%s/common.cl", dir);
    test_write_text(to, "#define FINE 1\n"
                        "float prelude_typo_segcl(void) { return missing_in_common_segcl; }\n");
    assert_int_equal(segcl_program_get(ctx, "marker", "-DSEGCL_FRESH=1", &p), SEGCL_ERROR_BUILD);
    msg = segcl_context_error(ctx);
    assert_non_null(strstr(msg, "building kernels/common.cl, the prelude of kernels/marker.cl"));
    assert_non_null(strstr(msg, "common.cl:2:"));
    assert_null(strstr(msg, "marker.cl:"));
    snprintf(from, sizeof from, "%s/common.cl", src_dir);
    copy_file(from, to);
    /* A family missing from the folder is an I/O error naming the path. */
    assert_int_equal(segcl_program_get(ctx, "absent", NULL, &p), SEGCL_ERROR_IO);
    assert_non_null(strstr(segcl_context_error(ctx), "absent.cl"));
    segcl_context_destroy(ctx);

    /* The environment variable does the same as the setting. */
    setenv("SEGCL_KERNEL_DIR", dir, 1);
    segcl_default_settings(&s);
    s.kernel_cache = SEGCL_KERNEL_CACHE_OFF;
    ctx = test_open_context(&s);
    assert_int_equal(segcl_program_get(ctx, "broken", NULL, &p), SEGCL_ERROR_BUILD);
    unsetenv("SEGCL_KERNEL_DIR");
    segcl_context_destroy(ctx);
}

static segcl_context *cache_ctx(const char *dir)
{
    segcl_settings s;
    segcl_default_settings(&s);
    s.kernel_cache = SEGCL_KERNEL_CACHE_ON;
    s.kernel_cache_dir = dir;
    return test_open_context(&s);
}

static void run_fill_check(segcl_context *ctx)
{
    cl_mem buf;
    assert_ok(ctx, segcl_buffer_create(ctx, "check", 40 * 4, &buf));
    assert_ok(ctx, segcl_fill(ctx, buf, 40, -3.25f));
    float out[40];
    assert_int_equal(clEnqueueReadBuffer(segcl_context_queue(ctx), buf, CL_TRUE, 0, sizeof out, out,
                                         0, NULL, NULL),
                     CL_SUCCESS);
    for (int i = 0; i < 40; i++)
        assert_true(out[i] == -3.25f);
    segcl_buffer_release(ctx, buf, 40 * 4);
}

/* Corrupt, truncated, empty, garbage and stale entries in dir (whose one entry is `entry`) are
 * each rejected and rebuilt. */
static void check_damaged_entries(const char *dir, char *entry, size_t len)
{
    /* Corrupt: flip a byte inside the binary; the digest catches it and the entry is rebuilt. */
    FILE *f = fopen(entry, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 200, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, 200, SEEK_SET), 0);
    fputc(c ^ 0x5a, f);
    fclose(f);
    segcl_context *ctx = cache_ctx(dir);
    run_fill_check(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).rejected, 1);
    assert_int_equal(segcl_context_cache_stats(ctx).builds, 1);
    assert_int_equal(segcl_context_cache_stats(ctx).stored, 1);
    segcl_context_destroy(ctx);

    /* Truncated, empty and garbage entries are rebuilt too. */
    const char *garbage[] = {"", "SEGCLKC", "not a cache entry at all, just text............"};
    for (size_t i = 0; i < 4; i++) {
        test_only_cache_entry(dir, entry, len);
        if (i < 3) {
            test_write_text(entry, garbage[i]);
        } else {
            assert_int_equal(truncate(entry, 100), 0);
        }
        ctx = cache_ctx(dir);
        run_fill_check(ctx);
        assert_int_equal(segcl_context_cache_stats(ctx).rejected, 1);
        assert_int_equal(segcl_context_cache_stats(ctx).stored, 1);
        segcl_context_destroy(ctx);
    }

    /* Stale: an entry from another format version is rejected. */
    test_only_cache_entry(dir, entry, len);
    f = fopen(entry, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 8, SEEK_SET), 0);
    uint32_t other_version = 999;
    assert_int_equal(fwrite(&other_version, 4, 1, f), 1);
    fclose(f);
    ctx = cache_ctx(dir);
    run_fill_check(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).rejected, 1);
    segcl_context_destroy(ctx);
}

static void test_kernel_cache(void **state)
{
    (void)state;
    char dir[512], entry[1024];
    snprintf(dir, sizeof dir, "%s/cache/nested", tmp_root);

    /* Miss: built from source and stored (the folder is created). */
    segcl_context *ctx = cache_ctx(dir);
    assert_true(segcl_context_cache_enabled(ctx));
    run_fill_check(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).misses, 1);
    assert_int_equal(segcl_context_cache_stats(ctx).hits, 0);
    assert_int_equal(segcl_context_cache_stats(ctx).stored, 1);
    segcl_context_destroy(ctx);
    test_only_cache_entry(dir, entry, sizeof entry);

    /* Hit: a new context loads the binary and builds nothing from source. */
    ctx = cache_ctx(dir);
    run_fill_check(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).hits, 1);
    assert_int_equal(segcl_context_cache_stats(ctx).builds, 0);
    segcl_context_destroy(ctx);

    /* Different build options are a different entry (kept in its own folder here). */
    char dir2[512];
    snprintf(dir2, sizeof dir2, "%s/cache-options", tmp_root);
    ctx = cache_ctx(dir2);
    cl_program p;
    assert_ok(ctx, segcl_program_get(ctx, "util", NULL, &p));
    assert_ok(ctx, segcl_program_get(ctx, "util", "-DSEGCL_TEST_OPTION=1", &p));
    assert_int_equal(segcl_context_cache_stats(ctx).misses, 2);
    assert_int_equal(segcl_context_cache_stats(ctx).stored, 2);
    segcl_context_destroy(ctx);

    check_damaged_entries(dir, entry, sizeof entry);

    /* Off: nothing read or written. */
    segcl_settings s;
    segcl_default_settings(&s);
    s.kernel_cache = SEGCL_KERNEL_CACHE_OFF;
    s.kernel_cache_dir = dir;
    ctx = test_open_context(&s);
    run_fill_check(ctx);
    const segcl_cache_stats cs = segcl_context_cache_stats(ctx);
    assert_int_equal(cs.hits + cs.misses + cs.stored, 0);
    segcl_context_destroy(ctx);

    /* An unwritable cache folder costs a rebuild, never an error. */
    ctx = cache_ctx("/proc/segcl-cannot-write-here");
    run_fill_check(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).stored, 0);
    segcl_context_destroy(ctx);
}

/* AUTO, the default, keeps the on-disk cache unless the driver caches compiled programs itself
 * (segcl.h names NVIDIA's and PoCL's): there it neither reads an entry nor writes one; on every
 * other driver it behaves as ON, and a stale entry is rejected and replaced. What is checked is
 * what the cache did (its counters and the folder), not how the library decides. */
static void test_cache_auto_mode(void **state)
{
    (void)state;
    char dir[512], entry[1024];
    snprintf(dir, sizeof dir, "%s/cache-auto", tmp_root);
    /* an entry for the fill kernel, stored with the cache forced on, then made stale */
    segcl_context *ctx = cache_ctx(dir);
    run_fill_check(ctx);
    segcl_device_info in;
    assert_ok(ctx, segcl_context_device_info(ctx, &in));
    segcl_context_destroy(ctx);
    test_only_cache_entry(dir, entry, sizeof entry);
    test_write_text(entry, "stale");

    segcl_settings s;
    segcl_default_settings(&s);
    assert_int_equal(s.kernel_cache, SEGCL_KERNEL_CACHE_AUTO);
    s.kernel_cache_dir = dir;
    ctx = test_open_context(&s);
    run_fill_check(ctx);
    const segcl_cache_stats got = segcl_context_cache_stats(ctx);
    segcl_context_destroy(ctx);
    char *text = test_read_file(entry);
    assert_non_null(text);
    const bool untouched = strcmp(text, "stale") == 0;
    free(text);
    test_only_cache_entry(dir, entry, sizeof entry); /* still one entry, whatever happened */

    const bool documented_self_caching =
        strstr(in.platform_name, "Portable Computing Language") || strstr(in.vendor, "NVIDIA");
    if (documented_self_caching) {
        assert_int_equal(got.hits + got.misses + got.rejected + got.stored, 0);
        assert_true(untouched);
    } else {
        assert_int_equal(got.rejected, 1);
        assert_int_equal(got.stored, 1);
        assert_false(untouched);
    }
    assert_int_equal(got.builds, 1);
}

/* The kernel style follows the device's properties (and SEGCL_KERNEL_STYLE overrides it), and
 * with it the build options, the GEMM and the elementwise geometry. */
static void test_kernel_style(void **state)
{
    (void)state;
    const char *saved = getenv("SEGCL_KERNEL_STYLE");
    char keep[16] = "";
    if (saved)
        snprintf(keep, sizeof keep, "%s", saved);
    unsetenv("SEGCL_KERNEL_STYLE");
    segcl_context *ctx = test_open_context(NULL);
    segcl_device_info in;
    assert_ok(ctx, segcl_context_device_info(ctx, &in));
    assert_int_equal(in.cpu_style, in.type == SEGCL_DEVICE_TYPE_CPU && in.native_float_width > 1);
    assert_int_equal(segcl_context_params(ctx)->cpu_style, in.cpu_style);
    assert_non_null(strstr(segcl_context_device_options(ctx),
                           in.cpu_style ? "-DSEGCL_CPU_STYLE=1" : "-DSEGCL_GPU_STYLE=1"));
    segcl_context_destroy(ctx);
    for (int style = 0; style < 2; style++) {
        setenv("SEGCL_KERNEL_STYLE", style ? "cpu" : "gpu", 1);
        ctx = test_open_context(NULL);
        const segcl_kernel_params *kp = segcl_context_params(ctx);
        assert_int_equal(kp->cpu_style, style);
        assert_int_equal(segcl_gemm_get_backend(ctx), style ? SEGCL_GEMM_CPU : SEGCL_GEMM_CLBLAST);
        assert_int_equal(kp->run_local, style ? 1 : kp->elem_local);
        assert_true(kp->elem_local >= 1 && kp->elem_local <= 64 &&
                    kp->elem_local <= in.max_work_group_size);
        /* reductions fit what the device allows for a kernel with a barrier */
        size_t wg;
        const char *options;
        assert_ok(ctx, segcl_reduction_group(ctx, &wg, &options));
        assert_true(wg >= 1 && wg <= 64 && (wg & (wg - 1)) == 0 && wg <= in.max_work_group_size);
        assert_non_null(strstr(options, "-DGROUP_SUM_WG="));
        segcl_context_destroy(ctx);
    }
    if (keep[0])
        setenv("SEGCL_KERNEL_STYLE", keep, 1);
    else
        unsetenv("SEGCL_KERNEL_STYLE");
}

static char env_warning[1024];

static void keep_warning(const char *message, void *user)
{
    (void)user;
    snprintf(env_warning, sizeof env_warning, "%s", message);
}

/* A SEGCL_* variable set to a value it does not accept is a warning that names it and what it
 * accepts, not silently the default. */
static void test_environment_refusals(void **state)
{
    (void)state;
    static const char *const names[] = {"SEGCL_GEMM", "SEGCL_KERNEL_STYLE", "SEGCL_TUNING",
                                        "SEGCL_RUN", "SEGCL_GEMM_VEC", "SEGCL_GEMM_MR",
                                        "SEGCL_GEMM_CPU_BLOCKING"};
    static const char *const accepted[] = {"clblast, cpu", "cpu, gpu", "off", "1 to 1048576",
                                           "8, 16", "1 to 32", "MC,NC,KC"};
    static const char *const bad[] = {"foo", "foo", "of", "12x", "4", "33", "4,8,128,9"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *saved = getenv(names[i]);
        char keep[64] = "";
        if (saved)
            snprintf(keep, sizeof keep, "%s", saved);
        setenv(names[i], bad[i], 1);
        env_warning[0] = '\0';
        segcl_context *ctx = NULL;
        assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
        segcl_context_set_warning_handler(ctx, keep_warning, NULL);
        assert_ok(ctx, segcl_context_open(ctx, NULL));
        char expect[128];
        snprintf(expect, sizeof expect, "%s='%s' (accepted: %s", names[i], bad[i], accepted[i]);
        if (!strstr(env_warning, expect))
            fail_msg("%s=%s: warning '%s' lacks \"%s\"", names[i], bad[i], env_warning, expect);
        segcl_context_destroy(ctx);
        if (keep[0])
            setenv(names[i], keep, 1);
        else
            unsetenv(names[i]);
    }
}

static int setup(void **state)
{
    (void)state;
    return test_fixture_setup(&fx, "test", TEST_FIXTURE_TEMP);
}

static int teardown(void **state)
{
    (void)state;
    return test_fixture_teardown(&fx);
}

int main(void)
{
    unsetenv("SEGCL_KERNEL_DIR");
    /* the defaults, whatever 'segcl tune' stored for this machine's devices */
    setenv("SEGCL_TUNING", "off", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_enumeration),
        cmocka_unit_test(test_device_selection),
        cmocka_unit_test(test_kernel_round_trip),
        cmocka_unit_test(test_kernel_dir_and_build_error),
        cmocka_unit_test(test_kernel_cache),
        cmocka_unit_test(test_cache_auto_mode),
        cmocka_unit_test(test_kernel_style),
        cmocka_unit_test(test_environment_refusals),
    };
    return cmocka_run_group_tests_name("opencl", tests, setup, teardown);
}
