/*
 * The GPU-style implicit-GEMM convolutions (src/cl/conv_gpu.c) next to CLBlast's SGEMM on the
 * same M, N and K (the columns already in memory, so CLBlast's figure leaves out im2col), for
 * the U-Net's 3x3 convolutions at batch 8 and its 2x2 stride-2 transposed ones, forward, data
 * gradient and weight gradient, in one run. GFLOP/s = 2 M N K / time.
 * Usage: bench_conv [--device N|P:D] [--seconds S] [--batch B] [--tile TM,TN,WM,WN,TK,VW]
 *                   [--skip N]
 * (--tile: that tile instead of the device's, as `segcl tune` would set it; --skip: leave out
 * the first N layers of the table, the slowest on a slow device).
 */
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

/* cin -> cout at size x size (output of a transposed convolution when transposed) */
typedef struct layer {
    unsigned cin, cout, size, kernel, stride, pad;
} layer;

static const layer layers[] = {
    {3, 32, 128, 3, 1, 1},  {32, 32, 128, 3, 1, 1}, {3, 32, 64, 3, 1, 1},
    {32, 32, 64, 3, 1, 1},  {32, 64, 32, 3, 1, 1},  {64, 64, 32, 3, 1, 1},
    {64, 128, 16, 3, 1, 1}, {128, 128, 16, 3, 1, 1}, {256, 256, 8, 3, 1, 1},
    {64, 32, 64, 2, 2, 0},  {256, 128, 16, 2, 2, 0},
};

enum { FORWARD, DATA_GRAD, WEIGHT_GRAD };
static const char *const op_names[] = {"forward", "data grad", "weight grad"};

typedef struct bench {
    segcl_context *ctx;
    segcl_workspace *ws;
    segcl_conv_shape s;
    cl_mem x, w, y, col; /* col: K x N columns for CLBlast */
    int op;
    bool clblast;
} bench;

static segcl_status run_once(bench *b)
{
    const segcl_conv_shape *s = &b->s;
    const size_t k = (size_t)s->cin * s->kh * s->kw, n = (size_t)s->images * s->ho * s->wo;
    if (!b->clblast) {
        const segcl_conv_epilogue ep = {0};
        if (b->op == FORWARD)
            return segcl_conv_gpu_forward(b->ctx, b->ws, s, b->w, b->x, b->y, &ep);
        if (b->op == DATA_GRAD)
            return segcl_conv_gpu_data_grad(b->ctx, b->ws, s, b->w, b->y, b->x, &ep);
        return segcl_conv_gpu_weight_grad(b->ctx, b->ws, s, b->y, b->x, b->w, 0.0f);
    }
    segcl_gemm_args g = {.alpha = 1, .beta = 0};
    if (b->op == FORWARD) /* y (cout x N) = W (cout x K) col (K x N) */
        g.m = s->cout, g.n = n, g.k = k, g.a = b->w, g.b = b->col, g.c = b->y, g.lda = k,
        g.ldb = n, g.ldc = n;
    else if (b->op == DATA_GRAD) /* col (K x N) = W^T a */
        g.trans_a = true, g.m = k, g.n = n, g.k = s->cout, g.a = b->w, g.b = b->y, g.c = b->col,
        g.lda = k, g.ldb = n, g.ldc = n;
    else /* dW (cout x K) = a col^T */
        g.trans_b = true, g.m = s->cout, g.n = k, g.k = n, g.a = b->y, g.b = b->col, g.c = b->w,
        g.lda = n, g.ldb = n, g.ldc = k;
    return segcl_gemm(b->ctx, b->ws, &g);
}

/* GFLOP/s over at least `seconds` after a warm-up call; negative after a message. */
static double time_op(bench *b, double seconds)
{
    const segcl_conv_shape *s = &b->s;
    const double flop = 2.0 * s->cout * (double)s->cin * s->kh * s->kw * s->images * s->ho * s->wo;
    segcl_gemm_set_backend(b->ctx, SEGCL_GEMM_CLBLAST);
    if (run_once(b) || segcl_context_finish(b->ctx)) {
        fprintf(stderr, "bench_conv: %s\n", segcl_context_error(b->ctx));
        return -1;
    }
    int reps = 0;
    double t = now(), el;
    do {
        for (int r = 0; r < 2; r++)
            if (run_once(b)) {
                fprintf(stderr, "bench_conv: %s\n", segcl_context_error(b->ctx));
                return -1;
            }
        if (segcl_context_finish(b->ctx))
            return -1;
        reps += 2;
        el = now() - t;
    } while (el < seconds);
    return flop * reps / el * 1e-9;
}

static int bench_layer(segcl_context *ctx, segcl_workspace *ws, const layer *l, unsigned batch,
                       double seconds)
{
    bench b = {.ctx = ctx, .ws = ws};
    /* a transposed convolution cin -> cout is the data gradient of a convolution cout -> cin */
    const bool up = l->stride > 1;
    const unsigned h = up ? l->size : l->size;
    b.s = (segcl_conv_shape){batch, up ? l->cout : l->cin, h, h, up ? l->cin : l->cout, 0, 0,
                             l->kernel, l->kernel, l->stride, l->pad};
    b.s.ho = b.s.wo = (h + 2 * l->pad - l->kernel) / l->stride + 1;
    const size_t k = (size_t)b.s.cin * b.s.kh * b.s.kw, n = (size_t)batch * b.s.ho * b.s.wo;
    const size_t nx = (size_t)batch * b.s.cin * h * h, ny = (size_t)b.s.cout * n,
                 nw = (size_t)b.s.cout * k;
    const size_t sizes[4] = {nx, nw, ny, k * n};
    cl_mem *bufs[4] = {&b.x, &b.w, &b.y, &b.col};
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++) {
        rc = segcl_buffer_create(ctx, "bench", sizes[i] * sizeof(float), bufs[i]) ||
             segcl_fill(ctx, *bufs[i], sizes[i], 0.01f * (float)(i + 1));
        if (rc)
            fprintf(stderr, "bench_conv: %s\n", segcl_context_error(ctx));
    }
    for (int op = 0; op < 3 && !rc; op++) {
        if (up && op != DATA_GRAD)
            continue;
        b.op = op;
        b.clblast = false;
        double mine = time_op(&b, seconds);
        b.clblast = true;
        double blast = time_op(&b, seconds);
        if (mine < 0 || blast < 0) {
            rc = 1;
            break;
        }
        printf("%-6s %4u -> %-4u %3ux%-3u %ux%u/%u  %-11s M=%-5zu N=%-7zu K=%-5zu %8.1f %8.1f "
               "%6.2fx\n",
               up ? "upconv" : "conv", l->cin, l->cout, up ? l->size : l->size,
               up ? l->size : l->size, l->kernel, l->kernel, l->stride, op_names[op],
               op == DATA_GRAD ? k : (size_t)b.s.cout, op == WEIGHT_GRAD ? k : n,
               op == FORWARD ? k : op == DATA_GRAD ? (size_t)b.s.cout : n, mine, blast,
               mine / blast);
        fflush(stdout);
    }
    for (int i = 0; i < 4; i++)
        if (*bufs[i])
            segcl_buffer_release(ctx, *bufs[i], sizes[i] * sizeof(float));
    return rc;
}

int main(int argc, char **argv)
{
    const char *device = NULL;
    double seconds = 0.5;
    unsigned batch = 8;
    size_t skip = 0;
    segcl_tuning tuning = {0};
    const segcl_tuning *override = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tile") && i + 1 < argc &&
                 sscanf(argv[++i], "%u,%u,%u,%u,%u,%u", &tuning.conv_tm, &tuning.conv_tn,
                        &tuning.conv_wm, &tuning.conv_wn, &tuning.conv_tk, &tuning.conv_vw) == 6)
            override = &tuning;
        else if (!strcmp(argv[i], "--skip") && i + 1 < argc)
            skip = (size_t)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_conv [--device N|P:D] [--seconds S] [--batch B] "
                            "[--tile TM,TN,WM,WN,TK,VW] [--skip N]\n");
            return 2;
        }
    }
    segcl_context *ctx = NULL;
    segcl_workspace *ws = NULL;
    segcl_settings settings;
    segcl_default_settings(&settings);
    settings.device = device;
    int rc = segcl_context_create(&ctx) != SEGCL_OK;
    if (!rc && (segcl_context_open_tuned(ctx, &settings, override) || segcl_workspace_create(ctx, &ws))) {
        fprintf(stderr, "bench_conv: %s\n", segcl_context_error(ctx));
        rc = 1;
    }
    if (!rc) {
        const segcl_device_info *info = segcl_context_device(ctx);
        const segcl_conv_tile *t = &segcl_context_params(ctx)->conv_tile;
        printf("device: %s (%s, driver %s), batch %u\n", info->name, info->platform_name,
               info->driver_version, batch);
        printf("tile: tm=%u tn=%u wm=%u wn=%u tk=%u vw=%u\n", t->tm, t->tn, t->wm, t->wn, t->tk,
               t->vw);
        printf("%-38s %-11s %-29s %8s %8s %7s\n", "layer", "op", "GEMM", "implicit", "CLBlast",
               "ratio");
    }
    for (size_t i = skip; !rc && i < sizeof layers / sizeof layers[0]; i++)
        rc = bench_layer(ctx, ws, &layers[i], batch, seconds);
    segcl_workspace_destroy(ws);
    segcl_context_destroy(ctx);
    return rc;
}
