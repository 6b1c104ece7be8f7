/*
 * Host-only suite: no OpenCL device needed. Hashing (cache keys), random numbers, status text,
 * byte formatting, shape validation and allocation-failure paths of context creation.
 */
#include <math.h>
#include <string.h>

#include "cl/cl.h"
#include "test_util.h"

static void hash_hex(const char *msg, size_t repeat, char hex[65])
{
    segcl_sha256 h;
    uint8_t d[32];
    segcl_sha256_init(&h);
    for (size_t i = 0; i < repeat; i++)
        segcl_sha256_update(&h, msg, strlen(msg));
    segcl_sha256_final(&h, d);
    segcl_sha256_hex(d, hex);
}

/* FIPS 180-2 appendix B test vectors. */
static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    hash_hex("abc", 1, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_hex("", 1, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hash_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    hash_hex("a", 1000000, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_sha256_split_updates(void **state)
{
    (void)state;
    /* Feeding the same bytes in odd-sized pieces must give the same digest. */
    char msg[300];
    for (int i = 0; i < 300; i++)
        msg[i] = (char)(i * 7 + 3);
    uint8_t one[32], pieces[32];
    segcl_sha256 h;
    segcl_sha256_init(&h);
    segcl_sha256_update(&h, msg, sizeof msg);
    segcl_sha256_final(&h, one);
    segcl_sha256_init(&h);
    size_t cuts[] = {1, 62, 1, 64, 100, 72};
    size_t at = 0;
    for (size_t i = 0; i < 6; i++) {
        segcl_sha256_update(&h, msg + at, cuts[i]);
        at += cuts[i];
    }
    assert_int_equal(at, sizeof msg);
    segcl_sha256_final(&h, pieces);
    assert_memory_equal(one, pieces, 32);
}

static void test_rng_deterministic(void **state)
{
    (void)state;
    segcl_rng a, b, c;
    segcl_rng_seed(&a, 42, 1);
    segcl_rng_seed(&b, 42, 1);
    segcl_rng_seed(&c, 43, 1);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = segcl_rng_u32(&a), y = segcl_rng_u32(&b), z = segcl_rng_u32(&c);
        assert_int_equal(x, y);
        differ += x != z;
    }
    assert_true(differ > 990);
    /* PCG32 reference: seed 42, stream 54 starts with 0xa15c02b7 (O'Neill's pcg32-demo). */
    segcl_rng r;
    segcl_rng_seed(&r, 42, 54);
    assert_int_equal(segcl_rng_u32(&r), 0xa15c02b7u);
    assert_int_equal(segcl_rng_u32(&r), 0x7b47f409u);
}

static void test_rng_uniform_range_and_mean(void **state)
{
    (void)state;
    segcl_rng r;
    segcl_rng_seed(&r, 7, 0);
    double sum = 0;
    enum { N = 200000 };
    for (int i = 0; i < N; i++) {
        float u = segcl_rng_uniform(&r);
        assert_true(u >= 0.0f && u < 1.0f);
        sum += u;
    }
    assert_true(fabs(sum / N - 0.5) < 0.005);
    unsigned counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint32_t v = segcl_rng_below(&r, 7);
        assert_true(v < 7);
        counts[v]++;
    }
    for (int i = 0; i < 7; i++)
        assert_true(counts[i] > 9500 && counts[i] < 10500);
}

static void test_status_strings(void **state)
{
    (void)state;
    for (int s = 0; s >= SEGCL_ERROR_STATE; s--) {
        const char *text = segcl_status_string((segcl_status)s);
        assert_non_null(text);
        assert_string_not_equal(text, "unknown status");
    }
    assert_string_equal(segcl_status_string((segcl_status)-999), "unknown status");
    assert_string_equal(segcl_cl_error_name(CL_INVALID_KERNEL_NAME), "CL_INVALID_KERNEL_NAME");
    assert_string_equal(segcl_cl_error_name(-1001), "CL_PLATFORM_NOT_FOUND_KHR");
    assert_string_equal(segcl_device_type_string(SEGCL_DEVICE_TYPE_GPU), "GPU");
}

static void test_format_bytes(void **state)
{
    (void)state;
    char buf[32];
    segcl_format_bytes(512, buf, sizeof buf);
    assert_string_equal(buf, "512 B");
    segcl_format_bytes(6 * 1024 * 1024 + 1024 * 100, buf, sizeof buf);
    assert_string_equal(buf, "6.1 MiB");
    segcl_format_bytes((uint64_t)3 << 30, buf, sizeof buf);
    assert_string_equal(buf, "3.0 GiB");
}

static void test_shape_check(void **state)
{
    (void)state;
    segcl_context *ctx;
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    size_t n = 0;
    int64_t good[] = {2, 3, 37, 29};
    assert_int_equal(segcl_shape_check(ctx, "x", 4, good, &n), SEGCL_OK);
    assert_int_equal(n, 2 * 3 * 37 * 29);
    int64_t zero[] = {2, 0};
    assert_int_equal(segcl_shape_check(ctx, "x", 2, zero, &n), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(segcl_context_error(ctx), "'x'"));
    int64_t huge[] = {INT64_MAX / 2, 4};
    assert_int_equal(segcl_shape_check(ctx, "big", 2, huge, &n), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(segcl_shape_check(ctx, "x", 5, good, &n), SEGCL_ERROR_INVALID_ARGUMENT);
    char text[64];
    segcl_shape_format(4, good, text, sizeof text);
    assert_string_equal(text, "2x3x37x29");
    segcl_context_destroy(ctx);
}

static void test_context_create_alloc_failure(void **state)
{
    (void)state;
    for (long n = 0; n < 2; n++) {
        segcl_test_fail_alloc_after(n);
        segcl_context *ctx = (segcl_context *)0x1;
        assert_int_equal(segcl_context_create(&ctx), SEGCL_ERROR_OUT_OF_HOST_MEMORY);
        assert_null(ctx);
        assert_non_null(strstr(segcl_context_error(ctx), "memory"));
    }
    segcl_test_fail_alloc_after(-1);
    segcl_context *ctx = NULL;
    assert_int_equal(segcl_context_create(&ctx), SEGCL_OK);
    assert_string_equal(segcl_context_error(ctx), "");
    /* An error message longer than the initial buffer grows it... */
    char long_name[600];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    segcl_fail(ctx, SEGCL_ERROR_IO, "cannot open %s", long_name);
    assert_int_equal(strlen(segcl_context_error(ctx)), strlen("cannot open ") + 599);
    /* ...and when growing fails the message is truncated, not lost. */
    segcl_test_fail_alloc_after(0);
    char longer[2000];
    memset(longer, 'm', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    segcl_fail(ctx, SEGCL_ERROR_IO, "cannot open %s", longer);
    segcl_test_fail_alloc_after(-1);
    assert_true(strncmp(segcl_context_error(ctx), "cannot open mmm", 15) == 0);
    segcl_context_destroy(ctx);
    segcl_context_destroy(NULL);
}

static void test_default_settings(void **state)
{
    (void)state;
    segcl_settings s;
    memset(&s, 0xff, sizeof s);
    segcl_default_settings(&s);
    assert_null(s.device);
    assert_null(s.kernel_cache_dir);
    assert_null(s.kernel_dir);
    assert_int_equal(s.kernel_cache, SEGCL_KERNEL_CACHE_AUTO);
    assert_int_equal(s.memory_limit, 0);
    assert_string_equal(segcl_version(), SEGCL_TEST_VERSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_split_updates),
        cmocka_unit_test(test_rng_deterministic),
        cmocka_unit_test(test_rng_uniform_range_and_mean),
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_format_bytes),
        cmocka_unit_test(test_shape_check),
        cmocka_unit_test(test_context_create_alloc_failure),
        cmocka_unit_test(test_default_settings),
    };
    return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
