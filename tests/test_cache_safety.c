/*
 * The kernel cache and the tuning files against a hostile neighbour (issue 18): symlinks planted
 * where segcl writes its temporaries, folders that other users can write or own, no HOME, FIFOs
 * where a cache entry or a tuning file should be, a cache entry cut short and re-hashed, the
 * marker a process that died in the driver leaves, and the context open that failed and is
 * tried again. Each attack is made by the test itself in its own temporary folder; no second
 * user is needed (the folder owned by another user is made when the tests run as root).
 */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl/cl.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder (test_util.h) */
static const char *const tmp_root = fx.temp;

static int warnings;
static char warning[2048];

static void on_warning(const char *message, void *user)
{
    (void)user;
    warnings++;
    snprintf(warning, sizeof warning, "%s", message);
}

/* A context on the test device with the cache in `dir` (NULL: the default folder). */
static segcl_context *open_cached(const char *dir, segcl_kernel_cache_mode mode)
{
    segcl_settings s;
    segcl_default_settings(&s);
    s.kernel_cache = mode;
    s.kernel_cache_dir = dir;
    segcl_context *ctx = NULL;
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    segcl_context_set_warning_handler(ctx, on_warning, NULL);
    warnings = 0;
    warning[0] = '\0';
    assert_ok(ctx, segcl_context_open(ctx, &s));
    return ctx;
}

/* Builds (or loads) the fill kernel and checks what it computes. */
static void run_fill(segcl_context *ctx)
{
    cl_mem buf;
    float out[16];
    assert_ok(ctx, segcl_buffer_create(ctx, "check", sizeof out, &buf));
    assert_ok(ctx, segcl_fill(ctx, buf, 16, 2.5f));
    assert_int_equal(clEnqueueReadBuffer(segcl_context_queue(ctx), buf, CL_TRUE, 0, sizeof out,
                                         out, 0, NULL, NULL),
                     CL_SUCCESS);
    for (int i = 0; i < 16; i++)
        assert_true(out[i] == 2.5f);
    segcl_buffer_release(ctx, buf, sizeof out);
}


/* A cache folder in dir with one entry for the fill kernel; its path in entry. */
static void cache_with_entry(const char *dir, char *entry, size_t len)
{
    segcl_context *ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    run_fill(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).stored, 1);
    segcl_context_destroy(ctx);
    test_only_cache_entry(dir, entry, len);
}

static bool is_regular(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static unsigned mode_of(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (unsigned)(sb.st_mode & 0777);
}

static void assert_text(const char *path, const char *want)
{
    char *text = test_read_file(path);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
}

/* ---- item 1: temporaries through planted symlinks ------------------------------------------ */

/* The names segcl used for its temporaries were predictable (`<entry>.tmp<pid>`,
 * `.<name>.tmp-<pid>`): a symlink planted there made segcl overwrite its target. */
static void test_planted_symlinks(void **state)
{
    (void)state;
    char victim[512], dir[512], target[600], trap[2200], entry[1024];
    snprintf(victim, sizeof victim, "%s/victim.txt", tmp_root);
    test_write_text(victim, "precious");

    /* atomic writes (checkpoints, args.json, tuning files) */
    snprintf(dir, sizeof dir, "%s/atomic", tmp_root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(target, sizeof target, "%s/args.json", dir);
    snprintf(trap, sizeof trap, "%s/.args.json.tmp-%ld", dir, (long)getpid());
    assert_int_equal(symlink(victim, trap), 0);
    json_t *json = json_pack("{s:i}", "epochs", 3);
    assert_non_null(json);
    assert_int_equal(segcl_json_write_file(NULL, target, json), SEGCL_OK);
    json_decref(json);
    assert_text(victim, "precious");
    assert_true(is_regular(target));

    /* the kernel cache: a symlink where the entry's temporary would be */
    snprintf(dir, sizeof dir, "%s/symlink-cache", tmp_root);
    cache_with_entry(dir, entry, sizeof entry);
    assert_int_equal(unlink(entry), 0);
    snprintf(trap, sizeof trap, "%s.tmp%ld", entry, (long)getpid());
    assert_int_equal(symlink(victim, trap), 0);
    segcl_context *ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    run_fill(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).stored, 1);
    segcl_device_info in;
    assert_ok(ctx, segcl_context_device_info(ctx, &in));
    char *tuning = segcl_context_tuning_path(ctx);
    assert_non_null(tuning);
    segcl_context_destroy(ctx);
    assert_text(victim, "precious");
    assert_true(is_regular(entry));

    /* a symlink as the entry itself is refused, not read through, and replaced */
    assert_int_equal(unlink(entry), 0);
    assert_int_equal(symlink(victim, entry), 0);
    ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    run_fill(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).rejected, 1);
    assert_int_equal(segcl_context_cache_stats(ctx).stored, 1);
    segcl_context_destroy(ctx);
    assert_text(victim, "precious");
    assert_true(is_regular(entry));

    /* the tuning file's temporary */
    char tuning_dir[1024];
    snprintf(tuning_dir, sizeof tuning_dir, "%s", tuning);
    *strrchr(tuning_dir, '/') = '\0';
    assert_int_equal(mkdir(tuning_dir, 0700), 0);
    snprintf(trap, sizeof trap, "%s/.%s.tmp-%ld", tuning_dir, strrchr(tuning, '/') + 1,
             (long)getpid());
    assert_int_equal(symlink(victim, trap), 0);
    ctx = open_cached(dir, SEGCL_KERNEL_CACHE_OFF);
    segcl_tuning t;
    memset(&t, 0, sizeof t);
    assert_ok(ctx, segcl_tuning_save(ctx, tuning, &in, &t, NULL));
    segcl_context_destroy(ctx);
    assert_text(victim, "precious");
    assert_true(is_regular(tuning));
    segcl_free(tuning);
}

/* ---- item 1: private folders --------------------------------------------------------------- */

static void test_private_folders(void **state)
{
    (void)state;
    char parent[512], dir[600], entry[1024];
    snprintf(parent, sizeof parent, "%s/private/segcl", tmp_root);
    snprintf(dir, sizeof dir, "%s/kernels", parent);
    /* made 0700, with the folders above it that segcl creates */
    cache_with_entry(dir, entry, sizeof entry);
    assert_int_equal(mode_of(dir), 0700);
    assert_int_equal(mode_of(parent), 0700);

    segcl_context *ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    segcl_device_info in;
    assert_ok(ctx, segcl_context_device_info(ctx, &in));
    char *tuning = segcl_context_tuning_path(ctx);
    assert_non_null(tuning);
    segcl_tuning t;
    memset(&t, 0, sizeof t);
    t.run_length = 64;
    assert_ok(ctx, segcl_tuning_save(ctx, tuning, &in, &t, NULL));
    segcl_context_destroy(ctx);
    char tuning_dir[1024];
    snprintf(tuning_dir, sizeof tuning_dir, "%s", tuning);
    *strrchr(tuning_dir, '/') = '\0';
    assert_int_equal(mode_of(tuning_dir), 0700);

    /* a cache folder that other users can write: refused with a warning naming it, no entry
     * read or written */
    assert_int_equal(chmod(dir, 0777), 0);
    ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    assert_true(warnings >= 1);
    assert_non_null(strstr(warning, dir));
    assert_false(segcl_context_cache_enabled(ctx));
    run_fill(ctx);
    segcl_cache_stats cs = segcl_context_cache_stats(ctx);
    assert_int_equal(cs.hits + cs.misses + cs.rejected + cs.stored, 0);
    segcl_context_destroy(ctx);
    assert_int_equal(chmod(dir, 0700), 0);

    /* a tuning folder that other users can write: its file is not used */
    unsetenv("SEGCL_TUNING");
    ctx = open_cached(dir, SEGCL_KERNEL_CACHE_OFF);
    assert_true(segcl_context_params(ctx)->tuned);
    segcl_context_destroy(ctx);
    assert_int_equal(chmod(tuning_dir, 0777), 0);
    ctx = open_cached(dir, SEGCL_KERNEL_CACHE_OFF);
    assert_false(segcl_context_params(ctx)->tuned);
    assert_int_equal(warnings, 1);
    assert_non_null(strstr(warning, tuning_dir));
    segcl_context_destroy(ctx);
    assert_int_equal(chmod(tuning_dir, 0700), 0);

    /* a folder of another user's (only root can make one here) */
    if (geteuid() == 0) {
        assert_int_equal(chown(dir, 65534, 65534), 0);
        ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
        assert_false(segcl_context_cache_enabled(ctx));
        assert_non_null(strstr(warning, "belongs to user 65534"));
        segcl_context_destroy(ctx);
        assert_int_equal(chown(tuning_dir, 65534, 65534), 0);
        ctx = open_cached(dir, SEGCL_KERNEL_CACHE_OFF);
        assert_false(segcl_context_params(ctx)->tuned);
        assert_non_null(strstr(warning, "belongs to user 65534"));
        segcl_context_destroy(ctx);
        assert_int_equal(chown(dir, 0, 0), 0);
        assert_int_equal(chown(tuning_dir, 0, 0), 0);
    }
    setenv("SEGCL_TUNING", "off", 1);
    segcl_free(tuning);
}

/* ---- item 1: no HOME ----------------------------------------------------------------------- */

static char *saved(const char *name)
{
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}

static void restore(const char *name, char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
    free(value);
}

/* Without HOME and XDG_CACHE_HOME there is no disk cache (never /tmp), and a warning says so;
 * XDG_CACHE_HOME alone is enough. */
static void test_no_home(void **state)
{
    (void)state;
    char *home = saved("HOME"), *xdg = saved("XDG_CACHE_HOME"),
         *cache = saved("SEGCL_KERNEL_CACHE_DIR");
    unsetenv("HOME");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("SEGCL_KERNEL_CACHE_DIR");
    unsetenv("SEGCL_TUNING");
    segcl_context *ctx = open_cached(NULL, SEGCL_KERNEL_CACHE_ON);
    assert_int_equal(warnings, 1);
    assert_non_null(strstr(warning, "HOME"));
    assert_false(segcl_context_cache_enabled(ctx));
    assert_null(segcl_context_tuning_path(ctx));
    run_fill(ctx);
    segcl_cache_stats cs = segcl_context_cache_stats(ctx);
    assert_int_equal(cs.hits + cs.misses + cs.rejected + cs.stored, 0);
    segcl_device_info in;
    assert_ok(ctx, segcl_context_device_info(ctx, &in));
    segcl_context_destroy(ctx);
    char listed[1024] = "";
    assert_int_equal(segcl_device_tuned(&in, NULL, listed, sizeof listed), 0);

    char dir[512], entry[1024];
    snprintf(dir, sizeof dir, "%s/xdg-only", tmp_root);
    setenv("XDG_CACHE_HOME", dir, 1);
    ctx = open_cached(NULL, SEGCL_KERNEL_CACHE_ON);
    assert_int_equal(warnings, 0);
    run_fill(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).stored, 1);
    segcl_context_destroy(ctx);
    snprintf(dir, sizeof dir, "%s/xdg-only/segcl/kernels", tmp_root);
    test_only_cache_entry(dir, entry, sizeof entry);

    setenv("SEGCL_TUNING", "off", 1);
    restore("HOME", home);
    restore("XDG_CACHE_HOME", xdg);
    restore("SEGCL_KERNEL_CACHE_DIR", cache);
}

/* ---- item 7: FIFOs ------------------------------------------------------------------------- */

/* A FIFO at the tuning path or as a cache entry used to block fopen until a writer came:
 * `predict` and `devices` hung. Each open here must come back (a hang is this test failing on
 * the suite's timeout). */
static void test_fifos(void **state)
{
    (void)state;
    char dir[512], entry[1024], tuning_dir[1024];
    snprintf(dir, sizeof dir, "%s/fifo/kernels", tmp_root);
    cache_with_entry(dir, entry, sizeof entry);
    segcl_context *ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    segcl_device_info in;
    assert_ok(ctx, segcl_context_device_info(ctx, &in));
    char *tuning = segcl_context_tuning_path(ctx);
    assert_non_null(tuning);
    segcl_context_destroy(ctx);
    snprintf(tuning_dir, sizeof tuning_dir, "%s", tuning);
    *strrchr(tuning_dir, '/') = '\0';
    assert_int_equal(mkdir(tuning_dir, 0700), 0);
    assert_int_equal(mkfifo(tuning, 0600), 0);

    unsetenv("SEGCL_TUNING");
    ctx = open_cached(dir, SEGCL_KERNEL_CACHE_OFF);
    assert_false(segcl_context_params(ctx)->tuned);
    assert_int_equal(warnings, 1);
    assert_non_null(strstr(warning, tuning));
    segcl_context_destroy(ctx);
    assert_int_equal(segcl_device_tuned(&in, dir, NULL, 0), 0);
    setenv("SEGCL_TUNING", "off", 1);

    assert_int_equal(unlink(entry), 0);
    assert_int_equal(mkfifo(entry, 0600), 0);
    ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    run_fill(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).rejected, 1);
    assert_int_equal(segcl_context_cache_stats(ctx).stored, 1);
    segcl_context_destroy(ctx);
    assert_true(is_regular(entry));
    segcl_free(tuning);
}

/* ---- item 2: entries that could crash the driver ------------------------------------------- */

#define HEADER_BYTES SEGCL_CACHE_HEADER_BYTES

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    unsigned char *data = malloc((size_t)size);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return data;
}

/* Rewrites entry with its binary cut to `keep` bytes, the size and SHA-256 made to match. */
static void cut_and_rehash(const char *entry, size_t keep)
{
    size_t n;
    unsigned char *data = read_all(entry, &n);
    uint64_t size = keep;
    memcpy(data + 48, &size, 8);
    segcl_sha256 h;
    segcl_sha256_init(&h);
    segcl_sha256_update(&h, data + HEADER_BYTES, keep);
    segcl_sha256_final(&h, data + 56);
    FILE *f = fopen(entry, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, HEADER_BYTES + keep, f), HEADER_BYTES + keep);
    assert_int_equal(fclose(f), 0);
    free(data);
}

/* A binary cut in half with its size and digest rewritten passes the digest; the structural
 * check must refuse it before the driver reads past its end. */
static void test_truncated_rehashed_entry(void **state)
{
    (void)state;
    char dir[512], entry[1024];
    snprintf(dir, sizeof dir, "%s/truncated", tmp_root);
    cache_with_entry(dir, entry, sizeof entry);
    size_t n;
    unsigned char *data = read_all(entry, &n);
    size_t binary = n - HEADER_BYTES;
    /* the stored binary holds together; every cut of it that keeps the header does not (PoCL,
     * rusticl and ELF binaries: layouts segcl knows) */
    assert_true(segcl_binary_check(data + HEADER_BYTES, binary, NULL, 0));
    const bool known = memcmp(data + HEADER_BYTES, "poclbin", 8) == 0 ||
                       memcmp(data + HEADER_BYTES, "\x7f" "ELF", 4) == 0 ||
                       memcmp(data + HEADER_BYTES, "rusticl", 8) == 0;
    if (known) {
        const size_t cuts[] = {binary / 2, binary - 1, binary - 4, 100};
        char why[160];
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
            assert_false(segcl_binary_check(data + HEADER_BYTES, cuts[i], why, sizeof why));
    }
    free(data);

    cut_and_rehash(entry, binary / 2);
    segcl_context *ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    run_fill(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).rejected, 1);
    assert_int_equal(segcl_context_cache_stats(ctx).builds, 1);
    assert_int_equal(segcl_context_cache_stats(ctx).stored, 1);
    if (known) {
        assert_int_equal(warnings, 1);
        assert_non_null(strstr(warning, entry));
    }
    segcl_context_destroy(ctx);
}

/* A marker beside an entry says a process died while the driver had its binary: the entry is
 * not handed over again but removed and rebuilt, and no marker stays after a good load. */
static void test_stale_crash_marker(void **state)
{
    (void)state;
    char dir[512], entry[1024], marker[1100];
    snprintf(dir, sizeof dir, "%s/marker", tmp_root);
    cache_with_entry(dir, entry, sizeof entry);
    snprintf(marker, sizeof marker, "%s.loading", entry);
    assert_false(access(marker, F_OK) == 0);
    test_write_text(marker, "");

    segcl_context *ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    run_fill(ctx);
    segcl_cache_stats cs = segcl_context_cache_stats(ctx);
    assert_int_equal(cs.hits, 0);
    assert_int_equal(cs.rejected, 1);
    assert_int_equal(cs.builds, 1);
    assert_int_equal(cs.stored, 1);
    assert_int_equal(warnings, 1);
    assert_non_null(strstr(warning, "died"));
    segcl_context_destroy(ctx);
    assert_false(access(marker, F_OK) == 0);

    ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    run_fill(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).hits, 1);
    assert_int_equal(warnings, 0);
    segcl_context_destroy(ctx);
    assert_false(access(marker, F_OK) == 0);
    /* the marker is made under a temporary name and linked into place: none is left */
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp-") || strstr(e->d_name, ".loading"))
            fail_msg("left in the cache: %s", e->d_name);
    closedir(d);
}

/* A marker whose lock is held belongs to a process loading the entry now (parallel runs, MPI
 * ranks): the entry is neither refused nor removed, and no warning cries crash; this process
 * builds from source, and loads the entry once the marker has gone. Before the lock, 4 of 18
 * parallel selftests warned "a process died" and dropped good entries. */
static void test_busy_crash_marker(void **state)
{
    (void)state;
    char dir[512], entry[1024], marker[1100];
    snprintf(dir, sizeof dir, "%s/busy", tmp_root);
    cache_with_entry(dir, entry, sizeof entry);
    snprintf(marker, sizeof marker, "%s.loading", entry);
    test_write_text(marker, "");
    int held = open(marker, O_RDONLY);
    assert_true(held >= 0);
    assert_int_equal(flock(held, LOCK_EX), 0); /* another open file: as another process's */

    segcl_context *ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    run_fill(ctx);
    segcl_cache_stats cs = segcl_context_cache_stats(ctx);
    assert_int_equal(cs.hits, 0);
    assert_int_equal(cs.rejected, 0);
    assert_int_equal(cs.builds, 1);
    assert_int_equal(warnings, 0);
    segcl_context_destroy(ctx);
    assert_int_equal(access(entry, F_OK), 0);
    assert_int_equal(access(marker, F_OK), 0); /* the loader's own, not this process's */

    assert_int_equal(unlink(marker), 0);
    close(held);
    ctx = open_cached(dir, SEGCL_KERNEL_CACHE_ON);
    run_fill(ctx);
    assert_int_equal(segcl_context_cache_stats(ctx).hits, 1);
    assert_int_equal(warnings, 0);
    segcl_context_destroy(ctx);
    assert_false(access(marker, F_OK) == 0);
}

/* Layouts made here: rusticl's two, SPIR-V, this program's own ELF; cut, each is refused. */
static void test_binary_layouts(void **state)
{
    (void)state;
    unsigned char spirv[20] = {0x03, 0x02, 0x23, 0x07, 0, 0, 1, 0};
    unsigned char named[24 + 4 + 20] = "rusticl";
    const uint32_t named_fields[] = {1, 4, 20, 4};
    memcpy(named + 8, named_fields, sizeof named_fields);
    memcpy(named + 24, "llvm", 4);
    memcpy(named + 28, spirv, 20);
    unsigned char bare[12 + 20];
    const uint32_t bare_fields[] = {1, 20, 4};
    memcpy(bare, bare_fields, sizeof bare_fields);
    memcpy(bare + 12, spirv, 20);
    char why[160];
    assert_true(segcl_binary_check(named, sizeof named, why, sizeof why));
    assert_false(segcl_binary_check(named, sizeof named - 4, why, sizeof why));
    assert_non_null(strstr(why, "rusticl"));
    assert_true(segcl_binary_check(bare, sizeof bare, why, sizeof why));
    assert_false(segcl_binary_check(bare, sizeof bare - 4, why, sizeof why));
    assert_true(segcl_binary_check(spirv, sizeof spirv, why, sizeof why));
    assert_false(segcl_binary_check(spirv, 18, why, sizeof why));

    size_t n;
    unsigned char *elf = read_all("/proc/self/exe", &n);
    assert_true(segcl_binary_check(elf, n, why, sizeof why));
    assert_false(segcl_binary_check(elf, n / 2, why, sizeof why));
    assert_non_null(strstr(why, "ELF"));
    assert_false(segcl_binary_check(elf, 40, why, sizeof why));
    free(elf);
    /* what segcl cannot read goes to the driver as it is (the crash marker guards it) */
    assert_true(segcl_binary_check((const unsigned char *)"// PTX text", 11, why, sizeof why));
}

/* ---- the context open that fails and is tried again ---------------------------------------- */

/* segcl_context_open failed after it had set the cache folder, and a second open overwrote it:
 * 96 bytes lost under valgrind. Every allocation the open makes is made to fail in turn; the
 * open is then tried again, and nothing stays allocated once the context is destroyed. */
static void test_failed_open_leaks_nothing(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/leak", tmp_root);
    segcl_settings s;
    segcl_default_settings(&s);
    s.kernel_cache = SEGCL_KERNEL_CACHE_OFF;
    s.kernel_cache_dir = dir;
    segcl_test_fail_alloc_after(-1); /* jansson's allocations counted from here on */
    segcl_context_destroy(test_open_context(&s)); /* whatever a first open keeps for good */
    const long before = segcl_test_live_allocations();
    int failed = 0;
    for (long n = 0; n < 400; n++) {
        segcl_context *ctx = NULL;
        assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
        segcl_test_fail_alloc_after(n);
        segcl_status st = segcl_context_open(ctx, &s);
        segcl_test_fail_alloc_after(-1);
        if (st == SEGCL_OK) {
            segcl_context_destroy(ctx);
            assert_int_equal(segcl_test_live_allocations(), before);
            break;
        }
        failed++;
        assert_ok(ctx, segcl_context_open(ctx, &s));
        segcl_context_destroy(ctx);
        if (segcl_test_live_allocations() != before)
            fail_msg("allocation %ld failing in the first open: %ld allocations left", n,
                     segcl_test_live_allocations() - before);
    }
    assert_true(failed > 3);
}

static int setup(void **state)
{
    (void)state;
    if (test_fixture_setup(&fx, "cache-safety", TEST_FIXTURE_TEMP))
        return -1;
    /* nothing of these tests reaches the real ~/.cache */
    char xdg[512];
    snprintf(xdg, sizeof xdg, "%s/xdg", fx.temp);
    setenv("XDG_CACHE_HOME", xdg, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_fixture_teardown(&fx);
}

int main(void)
{
    unsetenv("SEGCL_KERNEL_DIR");
    unsetenv("SEGCL_KERNEL_CACHE_DIR");
    setenv("SEGCL_TUNING", "off", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_symlinks),
        cmocka_unit_test(test_private_folders),
        cmocka_unit_test(test_no_home),
        cmocka_unit_test(test_fifos),
        cmocka_unit_test(test_truncated_rehashed_entry),
        cmocka_unit_test(test_stale_crash_marker),
        cmocka_unit_test(test_busy_crash_marker),
        cmocka_unit_test(test_binary_layouts),
        cmocka_unit_test(test_failed_open_leaks_nothing),
    };
    return cmocka_run_group_tests_name("cache safety", tests, setup, teardown);
}
