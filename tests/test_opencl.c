/*
 * OpenCL suite (runs on PoCL in CI): device enumeration and selection, program builds from the
 * embedded sources and from SEGCL_KERNEL_DIR, the on-disk cache (miss, hit, corrupt and stale
 * entries), build errors carrying the compiler log, tensors, memory limits, the arena planner,
 * GEMM against a double-precision reference, and allocation-failure paths.
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

static segcl_context *open_ctx(const segcl_settings *s)
{
    segcl_context *ctx = NULL;
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    assert_ok(ctx, segcl_context_open(ctx, s));
    return ctx;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

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

/* Returns the path of the only *.bin file in dir (there must be exactly one). */
static void only_cache_entry(const char *dir, char *path, size_t len)
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

static void test_device_selection(void **state)
{
    (void)state;
    segcl_context *ctx;
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    size_t count = 0, index = 99;
    assert_ok(ctx, segcl_device_count(ctx, &count));
    unsetenv("SEGCL_DEVICE");

    /* Default: the first GPU, else the first CPU. */
    assert_ok(ctx, segcl_device_resolve(ctx, NULL, &index));
    segcl_device_info first;
    assert_ok(ctx, segcl_device_get_info(ctx, index, &first));
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
        assert_int_equal(first.type, SEGCL_DEVICE_TYPE_CPU);

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

    /* Unknown devices name the valid ones; malformed specs say what is expected. */
    assert_int_equal(segcl_device_resolve(ctx, "99", &index), SEGCL_ERROR_NO_DEVICE);
    const char *msg = segcl_context_error(ctx);
    assert_non_null(strstr(msg, "'99'"));
    assert_non_null(strstr(msg, "valid devices: 0"));
    assert_non_null(strstr(msg, first.name));
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
    snprintf(part, sizeof part, "%.6s", first.platform_name);
    for (char *c = part; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    assert_ok(ctx, segcl_device_resolve(ctx, part, &index));
    segcl_device_info found;
    assert_ok(ctx, segcl_device_get_info(ctx, index, &found));
    assert_int_equal(found.platform_index, first.platform_index);

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
}

/* ---- programs --------------------------------------------------------------------------------- */

static void test_kernel_round_trip(void **state)
{
    (void)state;
    segcl_settings s;
    segcl_default_settings(&s);
    s.kernel_cache = SEGCL_KERNEL_CACHE_OFF;
    segcl_context *ctx = open_ctx(&s);
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
    write_text(to, "__kernel void fill_f32(__global float *x, const uint n, const float v)\n"
                   "{ uint i = get_global_id(0); if (i < n) x[i] = v + 1.0f; }\n");
    snprintf(to, sizeof to, "%s/broken.cl", dir);
    write_text(to, "__kernel void broken(__global float *x)\n"
                   "{ x[0] = undeclared_identifier_segcl * 2.0f; }\n");

    segcl_settings s;
    segcl_default_settings(&s);
    s.kernel_cache = SEGCL_KERNEL_CACHE_OFF;
    s.kernel_dir = dir;
    segcl_context *ctx = open_ctx(&s);
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
    /* A family missing from the folder is an I/O error naming the path. */
    assert_int_equal(segcl_program_get(ctx, "absent", NULL, &p), SEGCL_ERROR_IO);
    assert_non_null(strstr(segcl_context_error(ctx), "absent.cl"));
    segcl_context_destroy(ctx);

    /* The environment variable does the same as the setting. */
    setenv("SEGCL_KERNEL_DIR", dir, 1);
    segcl_default_settings(&s);
    s.kernel_cache = SEGCL_KERNEL_CACHE_OFF;
    ctx = open_ctx(&s);
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
    return open_ctx(&s);
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
    only_cache_entry(dir, entry, sizeof entry);

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

    /* Corrupt: flip a byte inside the binary; the digest catches it and the entry is rebuilt. */
    FILE *f = fopen(entry, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 200, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, 200, SEEK_SET), 0);
    fputc(c ^ 0x5a, f);
    fclose(f);
    ctx = cache_ctx(dir);
    run_fill_check(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).rejected, 1);
    assert_int_equal(segcl_context_cache_stats(ctx).builds, 1);
    assert_int_equal(segcl_context_cache_stats(ctx).stored, 1);
    segcl_context_destroy(ctx);

    /* Truncated, empty and garbage entries are rebuilt too. */
    const char *garbage[] = {"", "SEGCLKC", "not a cache entry at all, just text............"};
    for (size_t i = 0; i < 4; i++) {
        only_cache_entry(dir, entry, sizeof entry);
        if (i < 3) {
            write_text(entry, garbage[i]);
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
    only_cache_entry(dir, entry, sizeof entry);
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

    /* Off: nothing read or written. */
    segcl_settings s;
    segcl_default_settings(&s);
    s.kernel_cache = SEGCL_KERNEL_CACHE_OFF;
    s.kernel_cache_dir = dir;
    ctx = open_ctx(&s);
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
    only_cache_entry(dir, entry, sizeof entry);
    write_text(entry, "stale");

    segcl_settings s;
    segcl_default_settings(&s);
    assert_int_equal(s.kernel_cache, SEGCL_KERNEL_CACHE_AUTO);
    s.kernel_cache_dir = dir;
    ctx = open_ctx(&s);
    run_fill_check(ctx);
    const segcl_cache_stats got = segcl_context_cache_stats(ctx);
    segcl_context_destroy(ctx);
    char *text = test_read_file(entry);
    assert_non_null(text);
    const bool untouched = strcmp(text, "stale") == 0;
    free(text);
    only_cache_entry(dir, entry, sizeof entry); /* still one entry, whatever happened */

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
    segcl_context *ctx = open_ctx(NULL);
    segcl_device_info in;
    assert_ok(ctx, segcl_context_device_info(ctx, &in));
    assert_int_equal(in.cpu_style, in.type == SEGCL_DEVICE_TYPE_CPU && in.native_float_width > 1);
    assert_int_equal(segcl_context_params(ctx)->cpu_style, in.cpu_style);
    assert_non_null(strstr(segcl_context_device_options(ctx),
                           in.cpu_style ? "-DSEGCL_CPU_STYLE=1" : "-DSEGCL_GPU_STYLE=1"));
    segcl_context_destroy(ctx);
    for (int style = 0; style < 2; style++) {
        setenv("SEGCL_KERNEL_STYLE", style ? "cpu" : "gpu", 1);
        ctx = open_ctx(NULL);
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

/* ---- tuning ----------------------------------------------------------------------------------- */

static int tuning_warnings;
static char tuning_warning[512];

static void count_warning(const char *message, void *user)
{
    (void)user;
    tuning_warnings++;
    snprintf(tuning_warning, sizeof tuning_warning, "%s", message);
}

static segcl_context *open_warned(const segcl_settings *s)
{
    segcl_context *ctx = NULL;
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    segcl_context_set_warning_handler(ctx, count_warning, NULL);
    assert_ok(ctx, segcl_context_open(ctx, s));
    return ctx;
}

/* segcl tune stores the fastest correct variant; later contexts on the device use it; damaged
 * or foreign files are a warning and the defaults; SEGCL_TUNING=off ignores them. */
static void test_tuning(void **state)
{
    (void)state;
    unsetenv("SEGCL_TUNING");
    char cache[512], file[1024], listed[1024];
    snprintf(cache, sizeof cache, "%s/tuning-cache/kernels", tmp_root);
    segcl_settings s;
    segcl_default_settings(&s);
    s.kernel_cache_dir = cache;
    segcl_context *ctx = open_warned(&s);
    segcl_device_info in;
    assert_ok(ctx, segcl_context_device_info(ctx, &in));
    assert_false(segcl_context_params(ctx)->tuned);
    assert_int_equal(segcl_device_tuned(&in, cache, listed, sizeof listed), 0);
    const unsigned default_mr = segcl_context_params(ctx)->gemm_mr;
    const unsigned default_run = segcl_context_params(ctx)->run_length;
    segcl_tune_options o;
    segcl_tune_default_options(&o);
    o.size = 32, o.batch = 2, o.seconds = 0.01;
    assert_ok(ctx, segcl_tune(ctx, &o, file, sizeof file));
    segcl_context_destroy(ctx);
    assert_int_equal(segcl_device_tuned(&in, cache, listed, sizeof listed), 1);
    assert_string_equal(listed, file);
    assert_non_null(strstr(file, "/tuning-cache/tuning/"));
    segcl_tuning stored;
    bool found = false;
    ctx = open_warned(&s);
    assert_ok(ctx, segcl_tuning_load(ctx, file, &in, &stored, &found));
    assert_true(found);
    /* the new context runs what was stored */
    assert_true(segcl_context_params(ctx)->tuned);
    assert_int_equal(tuning_warnings, 0);
    if (stored.gemm_mr)
        assert_int_equal(segcl_context_params(ctx)->gemm_mr, stored.gemm_mr);
    if (stored.run_length && segcl_context_params(ctx)->cpu_style)
        assert_int_equal(segcl_context_params(ctx)->run_length, stored.run_length);
    if (stored.gemm_backend)
        assert_int_equal(segcl_gemm_get_backend(ctx), stored.gemm_backend);
    segcl_context_destroy(ctx);
    /* damaged, foreign, out of range: one warning each, then the defaults */
    const char *bad[] = {
        "{\"format\": 1, \"params\": ",
        "{\"format\": 1, \"device\": \"another\", \"driver\": \"1\", "
        "\"segcl_version\": \"0\", \"params\": {}}",
        NULL, /* the stored file with gemm_mr out of range */
    };
    char *text = NULL;
    size_t len = 0;
    assert_ok(ctx, segcl_read_file(NULL, file, 1 << 20, &text, &len));
    char *mr = strstr(text, "\"gemm_mr\": ");
    assert_non_null(mr);
    char broken[8192];
    snprintf(broken, sizeof broken, "%.*s\"gemm_mr\": 99%s", (int)(mr - text), text,
             strchr(mr, ','));
    for (int i = 0; i < 3; i++) {
        write_text(file, bad[i] ? bad[i] : broken);
        tuning_warnings = 0;
        ctx = open_warned(&s);
        assert_false(segcl_context_params(ctx)->tuned);
        assert_int_equal(tuning_warnings, 1);
        assert_non_null(strstr(tuning_warning, file));
        assert_int_equal(segcl_context_params(ctx)->gemm_mr, default_mr);
        assert_int_equal(segcl_context_params(ctx)->run_length, default_run);
        segcl_context_destroy(ctx);
    }
    /* SEGCL_TUNING=off: the file is not read at all */
    write_text(file, text);
    setenv("SEGCL_TUNING", "off", 1);
    tuning_warnings = 0;
    ctx = open_warned(&s);
    assert_false(segcl_context_params(ctx)->tuned);
    segcl_context_destroy(ctx);
    segcl_free(text);
}

/* ---- memory ----------------------------------------------------------------------------------- */

static void test_out_of_device_memory(void **state)
{
    (void)state;
    segcl_settings s;
    segcl_default_settings(&s);
    s.memory_limit = 1 << 20;
    segcl_context *ctx = open_ctx(&s);
    int64_t small[] = {128, 1024}; /* 512 KiB */
    int64_t big[] = {8, 3, 256, 256};
    segcl_tensor *a = NULL, *b = NULL, *c = NULL;
    assert_ok(ctx, segcl_tensor_create(ctx, "activations", 2, small, &a));
    assert_int_equal(segcl_tensor_create(ctx, "images", 4, big, &b), SEGCL_ERROR_OUT_OF_DEVICE_MEMORY);
    assert_null(b);
    const char *msg = segcl_context_error(ctx);
    assert_non_null(strstr(msg, "'images'"));
    assert_non_null(strstr(msg, "8x3x256x256"));
    assert_non_null(strstr(msg, "6.0 MiB"));
    /* The limit counts what is live: after freeing, the same request fits again. */
    assert_ok(ctx, segcl_tensor_create(ctx, "second", 2, small, &b));
    assert_int_equal(segcl_tensor_create(ctx, "third", 2, small, &c), SEGCL_ERROR_OUT_OF_DEVICE_MEMORY);
    segcl_tensor_destroy(a);
    assert_ok(ctx, segcl_tensor_create(ctx, "third", 2, small, &c));
    assert_int_equal(segcl_memory_in_use(ctx), 1 << 20);
    segcl_tensor_destroy(b);
    segcl_tensor_destroy(c);
    assert_int_equal(segcl_memory_in_use(ctx), 0);

    /* Larger than one buffer may be on this device. */
    segcl_context_destroy(ctx);
    ctx = open_ctx(NULL);
    int64_t huge[] = {(int64_t)(segcl_context_device(ctx)->max_alloc_bytes / 4 + 1)};
    assert_int_equal(segcl_tensor_create(ctx, "huge", 1, huge, &a), SEGCL_ERROR_OUT_OF_DEVICE_MEMORY);
    assert_non_null(strstr(segcl_context_error(ctx), "'huge'"));
    /* Invalid shapes and closed contexts are refused. */
    int64_t neg[] = {4, -1};
    assert_int_equal(segcl_tensor_create(ctx, "neg", 2, neg, &a), SEGCL_ERROR_INVALID_ARGUMENT);
    segcl_context_destroy(ctx);
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    assert_int_equal(segcl_tensor_create(ctx, "x", 2, small, &a), SEGCL_ERROR_STATE);
    assert_int_equal(segcl_context_finish(ctx), SEGCL_ERROR_STATE);
    segcl_context_destroy(ctx);
}

static void test_arena_plan(void **state)
{
    (void)state;
    segcl_context *ctx = open_ctx(NULL);
    segcl_arena *arena;
    assert_ok(ctx, segcl_arena_create(ctx, "activations", &arena));
    /* A chain: each tensor lives from the step that writes it to the step that reads it. */
    int64_t s1[] = {2, 16, 64, 64}, s2[] = {2, 32, 32, 32}, s3[] = {2, 64, 16, 16};
    int64_t s4[] = {2, 16, 64, 64}, skip[] = {2, 8, 64, 64};
    size_t a, b, c, d, e;
    assert_ok(ctx, segcl_arena_declare(arena, "a", 4, s1, 0, 1, &a));
    assert_ok(ctx, segcl_arena_declare(arena, "b", 4, s2, 1, 2, &b));
    assert_ok(ctx, segcl_arena_declare(arena, "c", 4, s3, 2, 3, &c));
    assert_ok(ctx, segcl_arena_declare(arena, "d", 4, s4, 3, 4, &d));
    assert_ok(ctx, segcl_arena_declare(arena, "skip", 4, skip, 0, 4, &e));
    assert_int_equal(segcl_arena_declare(arena, "bad", 4, s1, 3, 2, &a + 0), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_null(segcl_arena_tensor(arena, a));
    assert_ok(ctx, segcl_arena_commit(arena));
    assert_int_equal(segcl_arena_declare(arena, "late", 4, s1, 0, 1, &a), SEGCL_ERROR_STATE);

    /* Tensors alive together never overlap in memory. */
    size_t slots[] = {a, b, c, d, e};
    int first[] = {0, 1, 2, 3, 0}, last[] = {1, 2, 3, 4, 4};
    for (size_t i = 0; i < 5; i++)
        for (size_t j = i + 1; j < 5; j++) {
            bool together = !(last[i] < first[j] || last[j] < first[i]);
            segcl_tensor *ti = segcl_arena_tensor(arena, slots[i]);
            segcl_tensor *tj = segcl_arena_tensor(arena, slots[j]);
            size_t oi = segcl_arena_offset(arena, slots[i]), oj = segcl_arena_offset(arena, slots[j]);
            bool overlap = oi < oj + tj->bytes && oj < oi + ti->bytes;
            if (together)
                assert_false(overlap);
        }
    /* Non-overlapping lifetimes share memory: less than the naive sum. */
    assert_true(segcl_arena_planned_bytes(arena) < segcl_arena_naive_bytes(arena));
    assert_true(segcl_arena_planned_bytes(arena) >= 2 * 16 * 64 * 64 * 4 + 2 * 8 * 64 * 64 * 4);

    /* The sub-buffers hold independent data. */
    segcl_tensor *ta = segcl_arena_tensor(arena, a), *te = segcl_arena_tensor(arena, e);
    assert_string_equal(segcl_tensor_name(ta), "a");
    assert_ok(ctx, segcl_fill(ctx, ta->buffer, ta->numel, 1.0f));
    assert_ok(ctx, segcl_fill(ctx, te->buffer, te->numel, 2.0f));
    float *host = malloc(ta->bytes);
    assert_non_null(host);
    assert_ok(ctx, segcl_tensor_read(ta, host, ta->numel));
    for (size_t i = 0; i < ta->numel; i++)
        assert_true(host[i] == 1.0f);
    free(host);
    segcl_arena_destroy(arena);
    assert_int_equal(segcl_memory_in_use(ctx), 0);

    /* An arena that does not fit names itself in the error. */
    segcl_context_destroy(ctx);
    segcl_settings s;
    segcl_default_settings(&s);
    s.memory_limit = 1 << 20;
    ctx = open_ctx(&s);
    assert_ok(ctx, segcl_arena_create(ctx, "decoder", &arena));
    int64_t big[] = {8, 16, 64, 64};
    assert_ok(ctx, segcl_arena_declare(arena, "x", 4, big, 0, 1, &a));
    assert_int_equal(segcl_arena_commit(arena), SEGCL_ERROR_OUT_OF_DEVICE_MEMORY);
    assert_non_null(strstr(segcl_context_error(ctx), "arena 'decoder'"));
    segcl_arena_destroy(arena);
    segcl_context_destroy(ctx);
}

/* ---- GEMM ------------------------------------------------------------------------------------- */

/* C = alpha op(A) op(B) + beta C on the host in double; returns max |err| / (sum |terms| + |beta C|). */
static double gemm_error(const segcl_gemm_args *g, const float *a, const float *b,
                         const float *c0, const float *c)
{
    double worst = 0;
    for (size_t i = 0; i < g->m; i++)
        for (size_t j = 0; j < g->n; j++) {
            double sum = 0, mag = 0;
            for (size_t p = 0; p < g->k; p++) {
                double x = g->trans_a ? a[g->a_offset + p * g->lda + i] : a[g->a_offset + i * g->lda + p];
                double y = g->trans_b ? b[g->b_offset + j * g->ldb + p] : b[g->b_offset + p * g->ldb + j];
                sum += x * y;
                mag += fabs(x * y);
            }
            double cin = c0[g->c_offset + i * g->ldc + j];
            double ref = g->alpha * sum + g->beta * cin;
            mag = fabs(g->alpha) * mag + fabs(g->beta * cin) + 1e-30;
            double e = fabs(c[g->c_offset + i * g->ldc + j] - ref) / mag;
            if (!(e <= worst))
                worst = isnan(e) ? INFINITY : e;
        }
    return worst;
}

static void test_gemm_random_shapes(void **state)
{
    segcl_gemm_backend backend = *(segcl_gemm_backend *)*state;
    segcl_context *ctx = open_ctx(NULL);
    segcl_gemm_set_backend(ctx, backend);
    assert_int_equal(segcl_gemm_get_backend(ctx), backend);
    segcl_workspace *ws;
    assert_ok(ctx, segcl_workspace_create(ctx, &ws));
    segcl_rng rng;
    segcl_rng_seed(&rng, 2024, 3);
    /* Fixed awkward shapes first, then random ones; every transpose combination. */
    size_t fixed[][3] = {{1, 1, 1}, {7, 13, 5}, {37, 29, 53}, {64, 64, 64}, {65, 3, 129},
                         {3, 300, 27}, {128, 1, 77}, {33, 65, 17}};
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    for (size_t t = 0; t < nfixed + 16; t++) {
        size_t m, n, k;
        if (t < nfixed) {
            m = fixed[t][0], n = fixed[t][1], k = fixed[t][2];
        } else {
            m = 1 + segcl_rng_below(&rng, 150);
            n = 1 + segcl_rng_below(&rng, 150);
            k = 1 + segcl_rng_below(&rng, 300);
        }
        segcl_gemm_args g = {.trans_a = t & 1, .trans_b = (t >> 1) & 1, .m = m, .n = n, .k = k,
                             .alpha = t % 3 ? 1.0f : -0.75f, .beta = t % 4 == 3 ? 0.5f : 0.0f};
        /* Padded leading dimensions and non-zero offsets, as im2col workspaces use. */
        g.lda = (g.trans_a ? m : k) + (t % 5);
        g.ldb = (g.trans_b ? k : n) + (t % 3);
        g.ldc = n + (t % 2) * 3;
        g.a_offset = t % 7;
        g.b_offset = t % 11;
        g.c_offset = t % 4;
        size_t na = g.a_offset + (g.trans_a ? k : m) * g.lda;
        size_t nb = g.b_offset + (g.trans_b ? n : k) * g.ldb;
        size_t nc = g.c_offset + m * g.ldc;
        float *a = malloc(na * 4), *b = malloc(nb * 4), *c0 = malloc(nc * 4), *c = malloc(nc * 4);
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(c0);
        assert_non_null(c);
        for (size_t i = 0; i < na; i++)
            a[i] = segcl_rng_uniform(&rng) * 2 - 1;
        for (size_t i = 0; i < nb; i++)
            b[i] = segcl_rng_uniform(&rng) * 2 - 1;
        for (size_t i = 0; i < nc; i++)
            c0[i] = segcl_rng_uniform(&rng) * 2 - 1;
        assert_ok(ctx, segcl_buffer_create(ctx, "A", na * 4, &g.a));
        assert_ok(ctx, segcl_buffer_create(ctx, "B", nb * 4, &g.b));
        assert_ok(ctx, segcl_buffer_create(ctx, "C", nc * 4, &g.c));
        assert_int_equal(clEnqueueWriteBuffer(segcl_context_queue(ctx), g.a, CL_TRUE, 0, na * 4, a,
                                              0, NULL, NULL),
                         0);
        assert_int_equal(clEnqueueWriteBuffer(segcl_context_queue(ctx), g.b, CL_TRUE, 0, nb * 4, b,
                                              0, NULL, NULL),
                         0);
        assert_int_equal(clEnqueueWriteBuffer(segcl_context_queue(ctx), g.c, CL_TRUE, 0, nc * 4, c0,
                                              0, NULL, NULL),
                         0);
        assert_ok(ctx, segcl_gemm(ctx, ws, &g));
        assert_int_equal(clEnqueueReadBuffer(segcl_context_queue(ctx), g.c, CL_TRUE, 0, nc * 4, c,
                                             0, NULL, NULL),
                         0);
        double err = gemm_error(&g, a, b, c0, c);
        /* float32 accumulation over k terms: normalised error stays near k * 2^-24. */
        if (!(err < 2e-6))
            fail_msg("GEMM M=%zu N=%zu K=%zu ta=%d tb=%d: normalised error %g", m, n, k,
                     g.trans_a, g.trans_b, err);
        /* Elements of C outside the m x n window (padding) are untouched. */
        for (size_t i = 0; i < m; i++)
            for (size_t j = n; j < g.ldc; j++)
                assert_true(c[g.c_offset + i * g.ldc + j] == c0[g.c_offset + i * g.ldc + j]);
        segcl_buffer_release(ctx, g.a, na * 4);
        segcl_buffer_release(ctx, g.b, nb * 4);
        segcl_buffer_release(ctx, g.c, nc * 4);
        free(a);
        free(b);
        free(c0);
        free(c);
    }
    /* Scratch buffers are kept between calls rather than allocated per call. */
    assert_true(segcl_memory_in_use(ctx) == segcl_workspace_bytes(ws, SEGCL_SCRATCH_GEMM_TEMP) +
                                                segcl_workspace_bytes(ws, SEGCL_SCRATCH_PACK_A) +
                                                segcl_workspace_bytes(ws, SEGCL_SCRATCH_PACK_B));
    assert_true(segcl_memory_in_use(ctx) == segcl_workspace_bytes(ws, SEGCL_SCRATCH_COUNT));
    if (backend == SEGCL_GEMM_CPU)
        assert_true(segcl_workspace_bytes(ws, SEGCL_SCRATCH_PACK_A) > 0 &&
                    segcl_workspace_bytes(ws, SEGCL_SCRATCH_GEMM_TEMP) == 0);
    segcl_workspace_destroy(ws);
    assert_true(segcl_memory_in_use(ctx) == 0);
    segcl_context_destroy(ctx);
}

static void test_gemm_bad_arguments(void **state)
{
    segcl_gemm_backend backend = *(segcl_gemm_backend *)*state;
    segcl_context *ctx = open_ctx(NULL);
    segcl_gemm_set_backend(ctx, backend);
    segcl_workspace *ws;
    assert_ok(ctx, segcl_workspace_create(ctx, &ws));
    cl_mem buf;
    assert_ok(ctx, segcl_buffer_create(ctx, "buf", 64 * 4, &buf));
    segcl_gemm_args g = {.m = 4, .n = 4, .k = 4, .alpha = 1, .a = buf, .b = buf, .c = buf,
                         .lda = 3, .ldb = 4, .ldc = 4};
    assert_int_equal(segcl_gemm(ctx, ws, &g), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(segcl_context_error(ctx), "lda=3"));
    g.lda = 4;
    g.k = 0;
    assert_int_equal(segcl_gemm(ctx, ws, &g), SEGCL_ERROR_INVALID_ARGUMENT);
    /* A view that overruns its buffer is refused before any kernel sees it. */
    g.k = 4;
    g.m = 64;
    assert_int_equal(segcl_gemm(ctx, ws, &g), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(segcl_context_error(ctx), "buffer of A too small"));
    g.m = 4;
    g.c_offset = 60;
    assert_int_equal(segcl_gemm(ctx, ws, &g), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(segcl_context_error(ctx), "buffer of C too small"));
    g.c_offset = 48; /* exactly fits: rows 12..15 */
    assert_ok(ctx, segcl_gemm(ctx, ws, &g));
    segcl_buffer_release(ctx, buf, 64 * 4);
    segcl_workspace_destroy(ws);
    segcl_context_destroy(ctx);
}

/* ---- allocation failures ------------------------------------------------------------------------ */

/* Every host allocation along open -> tensor -> program -> kernel -> arena is made to fail in
 * turn; each failure must come back as an error with a message, never a crash. */
static void test_allocation_failure_paths(void **state)
{
    (void)state;
    int failures = 0;
    for (long n = 0; n < 400; n++) {
        segcl_context *ctx = NULL;
        segcl_status st = segcl_context_create(&ctx);
        if (st) {
            assert_int_equal(st, SEGCL_ERROR_OUT_OF_HOST_MEMORY);
            continue;
        }
        segcl_settings s;
        segcl_default_settings(&s);
        s.kernel_cache = SEGCL_KERNEL_CACHE_OFF;
        segcl_test_fail_alloc_after(n);
        segcl_tensor *t = NULL;
        segcl_arena *arena = NULL;
        cl_kernel k;
        size_t slot;
        int64_t shape[] = {4, 8};
        st = segcl_context_open(ctx, &s);
        if (!st)
            st = segcl_tensor_create(ctx, "t", 2, shape, &t);
        if (!st)
            st = segcl_kernel_get(ctx, "util", NULL, "axpby_f32", &k);
        if (!st)
            st = segcl_arena_create(ctx, "arena", &arena);
        if (!st)
            st = segcl_arena_declare(arena, "x", 2, shape, 0, 1, &slot);
        if (!st)
            st = segcl_arena_commit(arena);
        bool exhausted = st == SEGCL_OK;
        segcl_test_fail_alloc_after(-1);
        if (st) {
            failures++;
            assert_true(st < 0);
            assert_true(strlen(segcl_context_error(ctx)) > 0);
        }
        segcl_arena_destroy(arena);
        segcl_tensor_destroy(t);
        segcl_context_destroy(ctx);
        if (exhausted)
            break;
    }
    /* Each allocation along the path failed once before the path completed. */
    assert_true(failures > 10);
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

static segcl_gemm_backend backend_cpu = SEGCL_GEMM_CPU, backend_clblast = SEGCL_GEMM_CLBLAST;

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
        cmocka_unit_test(test_tuning),
        cmocka_unit_test(test_out_of_device_memory),
        cmocka_unit_test(test_arena_plan),
        cmocka_unit_test_prestate(test_gemm_random_shapes, &backend_cpu),
        cmocka_unit_test_prestate(test_gemm_random_shapes, &backend_clblast),
        cmocka_unit_test_prestate(test_gemm_bad_arguments, &backend_cpu),
        cmocka_unit_test_prestate(test_gemm_bad_arguments, &backend_clblast),
        cmocka_unit_test(test_allocation_failure_paths),
    };
    return cmocka_run_group_tests_name("opencl", tests, setup, teardown);
}
