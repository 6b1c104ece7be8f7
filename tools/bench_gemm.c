/*
 * GEMM throughput through segcl's wrapper next to OpenBLAS cblas_sgemm, in the same process and
 * run, for square sizes and the U-Net's convolution shapes. Also reports how long the first
 * kernel program build took (run with an empty POCL_CACHE_DIR for a cold figure).
 * Usage: bench_gemm [--device N|P:D] [--seconds S]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl/cl.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int check(segcl_context *ctx, segcl_status st, const char *what)
{
    if (st) {
        fprintf(stderr, "bench_gemm: %s: %s\n", what, segcl_context_error(ctx));
        return 1;
    }
    return 0;
}

typedef struct shape {
    const char *name;
    size_t m, n, k;
} shape;

/* 0, or the exit status after a usage message. */
static int parse_args(int argc, char **argv, const char **device, double *seconds)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            *device = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            *seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_gemm [--device N|P:D] [--seconds S]\n");
            return 2;
        }
    }
    return 0;
}

/* Opens the device, times its first program build and makes the GEMM's workspace: 0, or 1
 * after a message. */
static int open_device(const char *device, segcl_context **out, segcl_workspace **ws)
{
    segcl_context *ctx;
    if (segcl_context_create(&ctx))
        return 1;
    *out = ctx;
    segcl_settings s;
    segcl_default_settings(&s);
    s.device = device;
    if (check(ctx, segcl_context_open(ctx, &s), "open"))
        return 1;
    printf("device: %s (%s)\n", segcl_context_device(ctx)->name,
           segcl_context_device(ctx)->platform_name);
    double t0 = now();
    cl_program prog;
    if (check(ctx, segcl_program_get(ctx, "util", NULL, &prog), "build"))
        return 1;
    printf("first kernel program build: %.3f s\n", now() - t0);
    if (check(ctx, segcl_workspace_create(ctx, ws), "workspace"))
        return 1;
    return 0;
}

/* segcl's GFLOP/s on g over at least `seconds`: 0, or 1 after a message. */
static int time_segcl(segcl_context *ctx, segcl_workspace *ws, const segcl_gemm_args *g,
                      double flop, double seconds, double *gflops)
{
    /* warm-up (kernel builds), then queue batches and wait once per batch */
    if (check(ctx, segcl_gemm(ctx, ws, g), "gemm") ||
        check(ctx, segcl_context_finish(ctx), "finish"))
        return 1;
    int reps = 0;
    double t = now(), el;
    do {
        for (int r = 0; r < 4; r++)
            if (check(ctx, segcl_gemm(ctx, ws, g), "gemm"))
                return 1;
        if (check(ctx, segcl_context_finish(ctx), "finish"))
            return 1;
        reps += 4;
        el = now() - t;
    } while (el < seconds);
    *gflops = flop * reps / el * 1e-9;
    return 0;
}

/* OpenBLAS's GFLOP/s on the same product, after one warm-up call. */
static double time_openblas(const shape *sh, const float *a, const float *b, float *c, double flop,
                            double seconds)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)sh->m, (int)sh->n, (int)sh->k, 1.0f,
                a, (int)sh->k, b, (int)sh->n, 0.0f, c, (int)sh->n);
    int reps = 0;
    double t = now(), el;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)sh->m, (int)sh->n, (int)sh->k,
                    1.0f, a, (int)sh->k, b, (int)sh->n, 0.0f, c, (int)sh->n);
        reps++;
        el = now() - t;
    } while (el < seconds);
    return flop * reps / el * 1e-9;
}

/* One shape's line of the table: 0, or 1 after a message. */
static int bench_shape(segcl_context *ctx, segcl_workspace *ws, const shape *sh, double seconds)
{
    size_t na = sh->m * sh->k, nb = sh->k * sh->n, nc = sh->m * sh->n;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4);
    if (!a || !b || !c)
        return 1;
    for (size_t j = 0; j < na; j++)
        a[j] = (float)((j * 37) % 101) * 0.01f - 0.5f;
    for (size_t j = 0; j < nb; j++)
        b[j] = (float)((j * 53) % 97) * 0.01f - 0.5f;
    segcl_gemm_args g = {.m = sh->m,
                         .n = sh->n,
                         .k = sh->k,
                         .alpha = 1,
                         .beta = 0,
                         .lda = sh->k,
                         .ldb = sh->n,
                         .ldc = sh->n};
    if (check(ctx, segcl_buffer_create(ctx, "A", na * 4, &g.a), "alloc") ||
        check(ctx, segcl_buffer_create(ctx, "B", nb * 4, &g.b), "alloc") ||
        check(ctx, segcl_buffer_create(ctx, "C", nc * 4, &g.c), "alloc"))
        return 1;
    clEnqueueWriteBuffer(segcl_context_queue(ctx), g.a, CL_TRUE, 0, na * 4, a, 0, NULL, NULL);
    clEnqueueWriteBuffer(segcl_context_queue(ctx), g.b, CL_TRUE, 0, nb * 4, b, 0, NULL, NULL);
    double flop = 2.0 * (double)sh->m * sh->n * sh->k, ours;
    if (time_segcl(ctx, ws, &g, flop, seconds, &ours))
        return 1;
    double blas = time_openblas(sh, a, b, c, flop, seconds);
    char label[64];
    snprintf(label, sizeof label, "%s", sh->name);
    printf("%-26s %10.1f %10.1f %8.2f   (%zux%zux%zu)\n", label, ours, blas, ours / blas, sh->m,
           sh->n, sh->k);
    segcl_buffer_release(ctx, g.a, na * 4);
    segcl_buffer_release(ctx, g.b, nb * 4);
    segcl_buffer_release(ctx, g.c, nc * 4);
    free(a);
    free(b);
    free(c);
    return 0;
}

int main(int argc, char **argv)
{
    const char *device = NULL;
    double seconds = 0.5;
    int rc = parse_args(argc, argv, &device, &seconds);
    if (rc)
        return rc;
    segcl_context *ctx = NULL;
    segcl_workspace *ws = NULL;
    if (open_device(device, &ctx, &ws))
        return 1;

    /* Square sizes, then conv GEMMs of the lesson U-Net at 256x256 (per image):
     * M = out channels, N = H*W, K = in channels * 9. */
    static const shape shapes[] = {
        {"square 256", 256, 256, 256},
        {"square 512", 512, 512, 512},
        {"square 1024", 1024, 1024, 1024},
        {"enc1 conv 16->32 @128^2", 32, 128 * 128, 16 * 9},
        {"enc3 conv 64->128 @32^2", 128, 32 * 32, 64 * 9},
        {"dec0 conv 384->128 @32^2", 128, 32 * 32, 384 * 9},
    };
    printf("%-26s %10s %10s %8s\n", "shape (MxNxK)", "segcl", "OpenBLAS", "ratio");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (bench_shape(ctx, ws, &shapes[i], seconds))
            return 1;
    printf("GFLOP/s; OpenBLAS threads: %s\n",
           getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "default");
    segcl_workspace_destroy(ws);
    segcl_context_destroy(ctx);
    return 0;
}
