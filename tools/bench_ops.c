/*
 * Speed of segcl's convolutions (forward, backward) on the lesson U-Net's layer shapes and of
 * a whole U-Net training step, next to PyTorch on the same machine in the same run
 * (tools/bench_torch.py, 2 threads, tcmalloc preloaded when installed). Prints GFLOP/s and
 * the ratio segcl / PyTorch per op and for the whole step.
 * Usage: bench_ops [--device N] [--batch 8] [--size 256] [--seconds 1] [--no-torch]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model/model.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static segcl_context *ctx;

static void die_on(segcl_status st, const char *what)
{
    if (st) {
        fprintf(stderr, "bench_ops: %s: %s\n", what, segcl_context_error(ctx));
        exit(1);
    }
}

typedef struct layer {
    const char *name;
    int cin, cout, res, k; /* res: height = width at 256x256 input, scaled for other sizes */
    double fwd_s, bwd_s;
} layer;

static segcl_tensor *random_tensor(const char *name, int64_t a, int64_t b, int64_t c, int64_t d,
                                   segcl_rng *rng)
{
    int64_t shape[4] = {a, b, c, d};
    segcl_tensor *t;
    die_on(segcl_tensor_create(ctx, name, 4, shape, &t), "tensor");
    float *h = malloc(t->numel * sizeof *h);
    for (size_t i = 0; i < t->numel; i++)
        h[i] = segcl_rng_uniform(rng) - 0.5f;
    die_on(segcl_tensor_write(t, h, t->numel), "write");
    free(h);
    return t;
}

/* Seconds per call of fn, after one warm-up call, over at least `seconds`. */
#define TIME(result, seconds, body)                                                                \
    do {                                                                                           \
        body;                                                                                      \
        die_on(segcl_context_finish(ctx), "finish");                                               \
        segcl_profile_reset(ctx); /* leave kernel builds out of the profile */                     \
        int reps_ = 0;                                                                             \
        double t0_ = now(), el_;                                                                   \
        do {                                                                                       \
            body;                                                                                  \
            die_on(segcl_context_finish(ctx), "finish");                                           \
            reps_++;                                                                               \
            el_ = now() - t0_;                                                                     \
        } while (el_ < (seconds) || reps_ < 2);                                                    \
        (result) = el_ / reps_;                                                                    \
    } while (0)

typedef struct options {
    const char *device;
    int batch, size;
    double seconds;
    bool torch;
} options;

/* 0, or the exit status after a usage message. */
static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){NULL, 8, 256, 1.0, true};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            o->device = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            o->batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            o->size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            o->seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--no-torch"))
            o->torch = false;
        else {
            fprintf(stderr, "usage: bench_ops [--device N] [--batch B] [--size S] [--seconds T] "
                            "[--no-torch]\n");
            return 2;
        }
    }
    if (o->batch < 1 || o->size < 16 || o->size % 16) {
        fprintf(stderr, "bench_ops: batch >= 1 and size a multiple of 16 please\n");
        return 2;
    }
    return 0;
}

/* One convolution's forward and backward, timed into l->fwd_s and l->bwd_s. */
static void bench_layer(layer *l, segcl_workspace *ws, const options *o, segcl_rng *rng)
{
    const int batch = o->batch;
    const double seconds = o->seconds;
    int res = l->res * o->size / 256;
    segcl_tensor *x = random_tensor("x", batch, l->cin, res, res, rng);
    segcl_tensor *w = random_tensor("w", l->cout, l->cin, l->k, l->k, rng);
    segcl_tensor *y = random_tensor("y", batch, l->cout, res, res, rng);
    segcl_tensor *dy = random_tensor("dy", batch, l->cout, res, res, rng);
    segcl_tensor *dx = random_tensor("dx", batch, l->cin, res, res, rng);
    segcl_tensor *dw = random_tensor("dw", l->cout, l->cin, l->k, l->k, rng);
    int64_t bs[1] = {l->cout};
    segcl_tensor *b, *db;
    die_on(segcl_tensor_create(ctx, "b", 1, bs, &b), "tensor");
    die_on(segcl_tensor_create(ctx, "db", 1, bs, &db), "tensor");
    die_on(segcl_fill(ctx, b->buffer, b->numel, 0.1f), "fill");
    segcl_conv_params p = {l->k, l->k, 1, l->k / 2};
    segcl_profile_reset(ctx);
    TIME(l->fwd_s, seconds, die_on(segcl_conv2d_forward(ctx, ws, &p, x, w, b, y), "conv"));
    if (segcl_profile_enabled(ctx)) {
        printf("%s forward:\n", l->name);
        segcl_profile_print(ctx, stdout);
    }
    segcl_profile_reset(ctx);
    TIME(l->bwd_s, seconds,
         die_on(segcl_conv2d_backward(ctx, ws, &p, x, w, dy, dx, dw, db, false), "conv bwd"));
    if (segcl_profile_enabled(ctx)) {
        printf("%s backward:\n", l->name);
        segcl_profile_print(ctx, stdout);
    }
    segcl_tensor *all[] = {x, w, y, dy, dx, dw, b, db};
    for (int k = 0; k < 8; k++)
        segcl_tensor_destroy(all[k]);
}

/* A whole U-Net training step (Adam) and inference: seconds per batch of each. */
static void bench_unet(const options *o, segcl_rng *rng, double *step_s, double *infer_s)
{
    const int batch = o->batch, size = o->size;
    const double seconds = o->seconds;
    segcl_model_config cfg = {SEGCL_ARCH_UNET, 1, 16, 4, 3};
    segcl_model *m;
    die_on(segcl_model_create(ctx, &cfg, &m), "model");
    die_on(segcl_model_init(m, 42), "init");
    segcl_tensor *x = random_tensor("images", batch, 3, size, size, rng);
    segcl_tensor *t = random_tensor("masks", batch, 1, size, size, rng);
    segcl_tensor *dl = random_tensor("dlogits", batch, 1, size, size, rng);
    int64_t two[1] = {2};
    segcl_tensor *loss;
    die_on(segcl_tensor_create(ctx, "loss", 1, two, &loss), "tensor");
    segcl_optimizer opt;
    segcl_optimizer_defaults(&opt, SEGCL_OPTIMIZER_ADAM);
    segcl_loss_params lp;
    segcl_loss_default_params(&lp, SEGCL_LOSS_BCE);
    segcl_tensor *logits;
    segcl_profile_reset(ctx);
    TIME(*step_s, seconds * 3, {
        die_on(segcl_model_zero_grad(m), "zero");
        die_on(segcl_model_forward(m, x, true, &logits), "forward");
        die_on(segcl_loss(ctx, segcl_model_workspace(m), &lp, logits, t, dl, loss), "loss");
        die_on(segcl_model_backward(m, dl), "backward");
        die_on(segcl_model_step(m, &opt), "step");
    });
    if (segcl_profile_enabled(ctx)) {
        printf("training step:\n");
        segcl_profile_print(ctx, stdout);
    }
    segcl_profile_reset(ctx);
    TIME(*infer_s, seconds * 2, die_on(segcl_model_forward(m, x, false, &logits), "forward"));
    if (segcl_profile_enabled(ctx)) {
        printf("inference:\n");
        segcl_profile_print(ctx, stdout);
    }
    segcl_model_destroy(m);
    segcl_tensor_destroy(x), segcl_tensor_destroy(t), segcl_tensor_destroy(dl),
        segcl_tensor_destroy(loss);
}

/* PyTorch, same shapes, same run: tools/bench_torch.py's figures, or NULL. */
static json_t *torch_figures(const layer *layers, size_t nlayers, const options *o)
{
    char specs[1024] = "", cmd[2048];
    size_t used = 0;
    for (size_t i = 0; i < nlayers; i++)
        used += (size_t)snprintf(specs + used, sizeof specs - used, "%sL%zu:%d:%d:%d:%d",
                                 i ? "," : "", i, layers[i].cin, layers[i].cout,
                                 layers[i].res * o->size / 256, layers[i].k);
    const char *tc = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";
    const char *dir = getenv("SEGCL_TOOLS_DIR") ? getenv("SEGCL_TOOLS_DIR") : "tools";
    snprintf(cmd, sizeof cmd,
             "%s%s /usr/bin/python3 %s/bench_torch.py --batch %d --size %d --seconds %g "
             "--layers %s",
             access(tc, R_OK) == 0 ? "LD_PRELOAD=" : "", access(tc, R_OK) == 0 ? tc : "", dir,
             o->batch, o->size, o->seconds, specs);
    FILE *pp = popen(cmd, "r");
    char buf[65536];
    size_t n = pp ? fread(buf, 1, sizeof buf - 1, pp) : 0;
    buf[n] = '\0';
    if (pp)
        pclose(pp);
    json_error_t jerr;
    json_t *tj = json_loads(buf, 0, &jerr);
    if (!tj)
        fprintf(stderr, "bench_ops: no PyTorch figures (is python3-torch installed?)\n");
    return tj;
}

/* The table: each layer's times and GFLOP/s, the whole step's images/s, and the ratios to
 * PyTorch where tj has its figures. */
static void report(const segcl_device_info *info, const layer *layers, size_t nlayers,
                   const options *o, json_t *tj, double step_s, double infer_s)
{
    const int batch = o->batch, size = o->size;
    printf("device: %s (%s); U-Net %dx%d, batch %d\n", info->name, info->platform_name, size, size,
           batch);
    printf("%-22s %9s %9s %9s %9s %7s %7s\n", "layer", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s",
           "fwd x", "bwd x");
    double conv_total = 0, conv_torch = 0;
    for (size_t i = 0; i < nlayers; i++) {
        const layer *l = &layers[i];
        int res = l->res * size / 256;
        double flop = 2.0 * batch * l->cin * l->cout * l->k * l->k * (double)res * res;
        double tf = 0, tb = 0;
        if (tj) {
            char key[32];
            snprintf(key, sizeof key, "L%zu", i);
            json_t *e = json_object_get(json_object_get(tj, "layers"), key);
            tf = json_real_value(json_object_get(e, "forward_s"));
            tb = json_real_value(json_object_get(e, "backward_s"));
        }
        conv_total += l->fwd_s + l->bwd_s;
        conv_torch += tf + tb;
        printf("%-22s %9.2f %9.1f %9.2f %9.1f", l->name, l->fwd_s * 1e3, flop / l->fwd_s * 1e-9,
               l->bwd_s * 1e3, 2 * flop / l->bwd_s * 1e-9);
        if (tj)
            printf(" %7.2f %7.2f", tf / l->fwd_s, tb / l->bwd_s);
        printf("\n");
    }
    printf("%-22s %9.1f ms (segcl)", "all convs fwd+bwd", conv_total * 1e3);
    if (tj)
        printf("  %.1f ms (PyTorch)  ratio %.2f", conv_torch * 1e3, conv_torch / conv_total);
    printf("\n");
    printf("train step: segcl %.2f images/s", batch / step_s);
    if (tj)
        printf(", PyTorch %.2f images/s, ratio %.2f",
               json_real_value(json_object_get(tj, "train_images_per_s")),
               (batch / step_s) / json_real_value(json_object_get(tj, "train_images_per_s")));
    printf("\ninference: segcl %.2f images/s", batch / infer_s);
    if (tj)
        printf(", PyTorch %.2f images/s, ratio %.2f",
               json_real_value(json_object_get(tj, "infer_images_per_s")),
               (batch / infer_s) / json_real_value(json_object_get(tj, "infer_images_per_s")));
    printf("\n(ratios: PyTorch time / segcl time; above 1 means segcl is faster)\n");
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    segcl_settings s;
    segcl_default_settings(&s);
    s.device = o.device;
    if (segcl_context_create(&ctx))
        return 1;
    die_on(segcl_context_open(ctx, &s), "open");
    segcl_device_info info;
    die_on(segcl_context_device_info(ctx, &info), "device");

    layer layers[] = {
        {"enc_conv0 3->16", 3, 16, 256, 3, 0, 0},
        {"enc_conv1 16->32", 16, 32, 128, 3, 0, 0},
        {"enc_conv2 32->64", 32, 64, 64, 3, 0, 0},
        {"enc_conv3 64->128", 64, 128, 32, 3, 0, 0},
        {"bottleneck 128->256", 128, 256, 16, 3, 0, 0},
        {"dec_conv0 384->128", 384, 128, 32, 3, 0, 0},
        {"dec_conv1 192->64", 192, 64, 64, 3, 0, 0},
        {"dec_conv2 96->32", 96, 32, 128, 3, 0, 0},
        {"dec_conv3 48->1 1x1", 48, 1, 256, 1, 0, 0},
    };
    const size_t nlayers = sizeof layers / sizeof layers[0];
    segcl_rng rng;
    segcl_rng_seed(&rng, 5, 0);
    segcl_workspace *ws;
    die_on(segcl_workspace_create(ctx, &ws), "workspace");
    for (size_t i = 0; i < nlayers; i++)
        bench_layer(&layers[i], ws, &o, &rng);
    double step_s, infer_s;
    bench_unet(&o, &rng, &step_s, &infer_s);
    json_t *tj = o.torch ? torch_figures(layers, nlayers, &o) : NULL;
    report(&info, layers, nlayers, &o, tj, step_s, infer_s);
    json_decref(tj);
    segcl_workspace_destroy(ws);
    segcl_context_destroy(ctx);
    return 0;
}
