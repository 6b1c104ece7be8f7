/*
 * Device self-test: builds the elementwise program, runs a fill + axpby round trip and GEMMs
 * (plain and transposed, odd sizes) against a double-precision host reference. It is what the
 * README's main command runs before any model code, so a broken driver shows up at once.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct host_buffers {
    float *a, *b, *c;
} host_buffers;

static void host_buffers_free(host_buffers *h)
{
    segcl_free(h->a);
    segcl_free(h->b);
    segcl_free(h->c);
    *h = (host_buffers){0};
}

/* Random A and B in [-1, 1) from `rng`, C = op(A) op(B) on the device, read back into `h`
 * (which the caller frees, also on failure). */
static segcl_status run_gemm(segcl_context *ctx, segcl_workspace *ws, bool ta, bool tb, size_t m,
                             size_t n, size_t k, segcl_rng *rng, host_buffers *h)
{
    size_t na = m * k, nb = k * n, nc = m * n;
    cl_mem da = NULL, db = NULL, dc = NULL;
    segcl_status st = SEGCL_OK;
    h->a = segcl_malloc(na * sizeof *h->a);
    h->b = segcl_malloc(nb * sizeof *h->b);
    h->c = segcl_malloc(nc * sizeof *h->c);
    if (!h->a || !h->b || !h->c) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    for (size_t i = 0; i < na; i++)
        h->a[i] = segcl_rng_uniform(rng) * 2 - 1;
    for (size_t i = 0; i < nb; i++)
        h->b[i] = segcl_rng_uniform(rng) * 2 - 1;
    if ((st = segcl_buffer_create(ctx, "selftest A", na * 4, &da)) ||
        (st = segcl_buffer_create(ctx, "selftest B", nb * 4, &db)) ||
        (st = segcl_buffer_create(ctx, "selftest C", nc * 4, &dc)))
        goto done;
    cl_int err;
    if ((err = clEnqueueWriteBuffer(ctx->queue, da, CL_TRUE, 0, na * 4, h->a, 0, NULL, NULL)) ||
        (err = clEnqueueWriteBuffer(ctx->queue, db, CL_TRUE, 0, nb * 4, h->b, 0, NULL, NULL))) {
        st = segcl_fail_cl(ctx, err, "clEnqueueWriteBuffer", "selftest");
        goto done;
    }
    /* C starts as NaN: beta = 0 must not read it */
    if ((st = segcl_fill(ctx, dc, nc, NAN)))
        goto done;
    segcl_gemm_args g = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .alpha = 1.0f,
                         .beta = 0.0f, .a = da, .b = db, .c = dc,
                         .lda = ta ? m : k, .ldb = tb ? k : n, .ldc = n};
    if ((st = segcl_gemm(ctx, ws, &g)))
        goto done;
    if ((err = clEnqueueReadBuffer(ctx->queue, dc, CL_TRUE, 0, nc * 4, h->c, 0, NULL, NULL)))
        st = segcl_fail_cl(ctx, err, "clEnqueueReadBuffer", "selftest");
done:
    segcl_buffer_release(ctx, da, na * 4);
    segcl_buffer_release(ctx, db, nb * 4);
    segcl_buffer_release(ctx, dc, nc * 4);
    return st;
}

static segcl_status check_gemm(segcl_context *ctx, segcl_workspace *ws, bool ta, bool tb, size_t m,
                               size_t n, size_t k, double *worst)
{
    host_buffers h = {0};
    segcl_rng rng;
    segcl_rng_seed(&rng, 1234, m * 31 + n * 7 + k);
    segcl_status st = run_gemm(ctx, ws, ta, tb, m, n, k, &rng, &h);
    if (st)
        goto done;
    const float *a = h.a, *b = h.b, *c = h.c;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double sum = 0, mag = 0;
            for (size_t p = 0; p < k; p++) {
                double x = ta ? a[p * m + i] : a[i * k + p];
                double y = tb ? b[j * k + p] : b[p * n + j];
                sum += x * y;
                mag += fabs(x * y);
            }
            double e = fabs(c[i * n + j] - sum) / (mag > 1e-30 ? mag : 1e-30);
            if (!(e <= *worst))
                *worst = isnan(e) ? INFINITY : e;
        }
done:
    host_buffers_free(&h);
    return st;
}

/* A large GEMM checked without an O(MNK) reference: Freivalds' projections. For random sign
 * vectors r, C r must equal A (B r); each row's difference is scaled by |A| (|B| 1), an upper
 * bound of what float32 rounding can reach. Cheap on the host (O(MK + KN + MN)), and wrong
 * results (a driver that cuts long loops short, a miscompiled tile) show in every projection. */
static segcl_status check_gemm_large(segcl_context *ctx, segcl_workspace *ws, bool ta, bool tb,
                                     size_t m, size_t n, size_t k, double *worst)
{
    host_buffers h = {0};
    double *y = segcl_malloc(2 * k * sizeof *y), *bound = segcl_malloc(k * sizeof *bound);
    segcl_status st = SEGCL_OK;
    if (!y || !bound) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    segcl_rng rng;
    segcl_rng_seed(&rng, 99, m * 131 + n * 17 + k);
    if ((st = run_gemm(ctx, ws, ta, tb, m, n, k, &rng, &h)))
        goto done;
    const float *a = h.a, *b = h.b, *c = h.c;
#define A(i, p) (ta ? a[(p) * m + (i)] : a[(i) * k + (p)])
#define B(p, j) (tb ? b[(j) * k + (p)] : b[(p) * n + (j)])
    /* y_v = B r_v for two sign vectors (their signs drawn again per column below) */
    uint32_t seed_signs = segcl_rng_u32(&rng);
    for (size_t p = 0; p < k; p++) {
        double y0 = 0, y1 = 0, mag = 0;
        segcl_rng signs;
        segcl_rng_seed(&signs, seed_signs, 7);
        for (size_t j = 0; j < n; j++) {
            uint32_t s2 = segcl_rng_u32(&signs);
            y0 += (s2 & 1 ? 1.0 : -1.0) * B(p, j);
            y1 += (s2 & 2 ? 1.0 : -1.0) * B(p, j);
            mag += fabs(B(p, j));
        }
        y[2 * p] = y0, y[2 * p + 1] = y1, bound[p] = mag;
    }
    for (size_t i = 0; i < m; i++) {
        double z0 = 0, z1 = 0, mag = 0, w0 = 0, w1 = 0;
        for (size_t p = 0; p < k; p++) {
            z0 += A(i, p) * y[2 * p];
            z1 += A(i, p) * y[2 * p + 1];
            mag += fabs(A(i, p)) * bound[p];
        }
        segcl_rng signs;
        segcl_rng_seed(&signs, seed_signs, 7);
        for (size_t j = 0; j < n; j++) {
            uint32_t s2 = segcl_rng_u32(&signs);
            w0 += (s2 & 1 ? 1.0 : -1.0) * c[i * n + j];
            w1 += (s2 & 2 ? 1.0 : -1.0) * c[i * n + j];
        }
        double e = fmax(fabs(w0 - z0), fabs(w1 - z1)) / (mag > 1e-30 ? mag : 1e-30);
        if (!(e <= *worst))
            *worst = isnan(e) ? INFINITY : e;
    }
#undef A
#undef B
done:
    host_buffers_free(&h);
    segcl_free(y);
    segcl_free(bound);
    return st;
}

segcl_status segcl_check_gemm(segcl_context *ctx, segcl_workspace *ws, bool thorough, double *worst)
{
    /* 48 x 128 rows and columns make 64 of the CPU kernel's tiles, one work-group's worth,
     * each over K: long loops, as the networks' convolutions have them */
    static const struct { bool ta, tb; size_t m, n, k; } quick[] = {{false, false, 48, 128, 1152}},
                                                        full[] = {
                                                            {false, false, 48, 128, 1152},
                                                            {false, false, 256, 256, 2304},
                                                            {false, true, 64, 576, 4096},
                                                            {true, false, 384, 128, 1024},
                                                        };
    size_t count = thorough ? sizeof full / sizeof full[0] : 1;
    *worst = 0;
    segcl_status st = segcl_require_fp32(ctx, "the GEMM check (float buffers)");
    for (size_t i = 0; i < count && !st; i++) {
        const bool ta = thorough ? full[i].ta : quick[i].ta, tb = thorough ? full[i].tb : quick[i].tb;
        const size_t m = thorough ? full[i].m : quick[i].m, n = thorough ? full[i].n : quick[i].n,
                     k = thorough ? full[i].k : quick[i].k;
        double e = 0;
        if ((st = check_gemm_large(ctx, ws, ta, tb, m, n, k, &e)))
            break;
        if (e > *worst || isnan(e))
            *worst = isnan(e) ? INFINITY : e;
        if (*worst > 1e-5)
            st = segcl_fail_setting(ctx, "device", SEGCL_ERROR_STATE,
                                    "%s computes matrix products wrongly (%zux%zux%zu: "
                                    "normalised error %.3g > 1e-5); refusing to use it: try "
                                    "another device, or SEGCL_KERNEL_STYLE=%s",
                                    ctx->dev->info.name, m, n, k, *worst,
                                    ctx->params.cpu_style ? "gpu" : "cpu");
    }
    return st;
}

static segcl_status time_gemm(segcl_context *ctx, segcl_workspace *ws, size_t s, double *gflops)
{
    cl_mem da = NULL, db = NULL, dc = NULL;
    size_t bytes = s * s * 4;
    segcl_status st;
    if ((st = segcl_buffer_create(ctx, "selftest A", bytes, &da)) ||
        (st = segcl_buffer_create(ctx, "selftest B", bytes, &db)) ||
        (st = segcl_buffer_create(ctx, "selftest C", bytes, &dc)) ||
        (st = segcl_fill(ctx, da, s * s, 0.5f)) || (st = segcl_fill(ctx, db, s * s, 0.25f)))
        goto done;
    segcl_gemm_args g = {.m = s, .n = s, .k = s, .alpha = 1.0f, .beta = 0.0f, .a = da, .b = db,
                         .c = dc, .lda = s, .ldb = s, .ldc = s};
    if ((st = segcl_gemm(ctx, ws, &g)) || (st = segcl_context_finish(ctx)))
        goto done;
    int reps = 0;
    double t0 = now(), t;
    do {
        if ((st = segcl_gemm(ctx, ws, &g)) || (st = segcl_context_finish(ctx)))
            goto done;
        reps++;
        t = now() - t0;
    } while (t < 0.2 && reps < 1000);
    *gflops = 2.0 * (double)s * s * s * reps / t * 1e-9;
done:
    segcl_buffer_release(ctx, da, bytes);
    segcl_buffer_release(ctx, db, bytes);
    segcl_buffer_release(ctx, dc, bytes);
    return st;
}

static segcl_status selftest(segcl_context *ctx, segcl_workspace *ws, segcl_selftest_report *report)
{
    double t0 = now();
    cl_program program;
    segcl_status st = segcl_program_get(ctx, "util", NULL, &program);
    if (st)
        return st;
    report->program_build_seconds = now() - t0;

    enum { N = 1000 };
    float host[N];
    cl_mem x = NULL, y = NULL;
    if ((st = segcl_buffer_create(ctx, "selftest x", N * 4, &x)) ||
        (st = segcl_buffer_create(ctx, "selftest y", N * 4, &y)) ||
        (st = segcl_fill(ctx, x, N, 1.5f)) || (st = segcl_fill(ctx, y, N, -2.0f)) ||
        (st = segcl_axpby(ctx, x, y, N, 3.0f, 0.5f))) {
        segcl_buffer_release(ctx, x, N * 4);
        segcl_buffer_release(ctx, y, N * 4);
        return st;
    }
    cl_int err = clEnqueueReadBuffer(ctx->queue, y, CL_TRUE, 0, sizeof host, host, 0, NULL, NULL);
    segcl_buffer_release(ctx, x, N * 4);
    segcl_buffer_release(ctx, y, N * 4);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clEnqueueReadBuffer", "selftest");
    for (int i = 0; i < N; i++) {
        double e = fabs(host[i] - 3.5);
        if (!(e <= report->elementwise_max_error))
            report->elementwise_max_error = isnan(e) ? INFINITY : e;
    }
    if (report->elementwise_max_error > 0)
        return segcl_fail(ctx, SEGCL_ERROR_STATE,
                          "self-test: elementwise kernels on %s are wrong (error %g)",
                          ctx->dev->info.name, report->elementwise_max_error);

    static const struct { bool ta, tb; size_t m, n, k; } shapes[] = {
        {false, false, 37, 29, 53}, {true, false, 64, 33, 17},
        {false, true, 19, 70, 45},  {true, true, 8, 8, 129},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if ((st = check_gemm(ctx, ws, shapes[i].ta, shapes[i].tb, shapes[i].m, shapes[i].n,
                             shapes[i].k, &report->gemm_max_rel_error)))
            return st;
    if (report->gemm_max_rel_error > 1e-5)
        return segcl_fail(ctx, SEGCL_ERROR_STATE,
                          "self-test: GEMM on %s is wrong (normalised error %g > 1e-5)",
                          ctx->dev->info.name, report->gemm_max_rel_error);
    if ((st = segcl_check_gemm(ctx, ws, true, &report->gemm_large_error)))
        return st;
    return time_gemm(ctx, ws, 256, &report->gemm_gflops);
}

segcl_status segcl_selftest(segcl_context *ctx, segcl_selftest_report *report)
{
    if (!ctx || !report)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_selftest: NULL argument");
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE,
                          "the context has no device: call segcl_context_open first");
    memset(report, 0, sizeof *report);
    if (segcl_require_fp32(ctx, "the self-test (float buffers)"))
        return SEGCL_ERROR_STATE;
    segcl_workspace *ws;
    segcl_status st = segcl_workspace_create(ctx, &ws);
    if (!st)
        st = selftest(ctx, ws, report);
    segcl_workspace_destroy(ws);
    return st;
}
