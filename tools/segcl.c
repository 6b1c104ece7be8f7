/*
 * segcl command-line tool: parses arguments, calls the library, prints results and progress,
 * and turns errors into one line on stderr and a non-zero exit. Nothing else lives here.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "segcl/segcl.h"
#include "cli.h"
#include "cli_mpi.h"

typedef int (*command_fn)(const global_options *g, int argc, char **argv);

typedef struct command {
    const char *name;
    const char *summary;
    command_fn run;
    void (*help)(FILE *out);
} command;

static const char *program_name = "segcl";

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", program_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* user: the context, which says while the handler runs which setting the warning concerns. */
static void print_warning(const char *message, void *user)
{
    fflush(stdout);
    fprintf(stderr, "%s: warning: %s%s\n", program_name, message,
            cli_setting_note(segcl_context_warning_setting(user)));
}

void cli_apply_reading(segcl_context *ctx, const cli_reading *reading)
{
    segcl_context_set_strict(ctx, reading->strict);
    segcl_context_set_max_pixels(ctx, reading->max_pixels);
    segcl_context_set_allow_changed_data(ctx, reading->allow_changed_data);
    segcl_context_set_warning_handler(ctx, print_warning, ctx);
}

/* One line for a library error: the context's message with the flag of the setting it
 * concerns, or the status text when it has none. */
int cli_fail(segcl_context *ctx, segcl_status st)
{
    const char *msg = segcl_context_error(ctx);
    if (msg && *msg)
        cli_error("%s%s", msg, cli_flag_note(ctx));
    else
        cli_error("%s", segcl_status_string(st));
    return 1;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void format_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void settings_from(const global_options *g, segcl_settings *s)
{
    segcl_default_settings(s);
    s->device = g->device;
    s->precision = g->precision;
    if (g->no_kernel_cache)
        s->kernel_cache = SEGCL_KERNEL_CACHE_OFF;
    else if (g->kernel_cache_dir) {
        s->kernel_cache = SEGCL_KERNEL_CACHE_ON;
        s->kernel_cache_dir = g->kernel_cache_dir;
    }
}

int cli_open_context(const global_options *g, segcl_context **out)
{
    segcl_context *ctx = NULL;
    segcl_status st = segcl_context_create(&ctx);
    if (st) {
        cli_error("%s", segcl_context_error(NULL));
        return 1;
    }
    segcl_settings s;
    settings_from(g, &s);
    /* --device auto-local: the GPU of this node that matches the launcher's local rank (one
     * GPU per rank under mpirun), else the default device */
    const char *spec = s.device ? s.device : getenv("SEGCL_DEVICE");
    char chosen[32];
    if (spec && !strcmp(spec, "auto-local")) {
        size_t count = 0, gpus = 0, pick = 0;
        const int local = cli_local_rank();
        segcl_device_count(ctx, &count);
        for (size_t pass = 0; pass < 2; pass++)
            for (size_t i = 0, k = 0; i < count; i++) {
                segcl_device_info info;
                if (segcl_device_get_info(ctx, i, &info) || info.type != SEGCL_DEVICE_TYPE_GPU)
                    continue;
                if (pass == 0)
                    gpus++;
                else if (k++ == (size_t)local % gpus)
                    pick = i;
            }
        if (gpus) {
            snprintf(chosen, sizeof chosen, "%zu", pick);
            s.device = chosen;
        } else {
            s.device = NULL;
            if (getenv("SEGCL_DEVICE") && !strcmp(getenv("SEGCL_DEVICE"), "auto-local"))
                unsetenv("SEGCL_DEVICE");
        }
    }
    /* a damaged tuning file is a warning at open */
    segcl_context_set_warning_handler(ctx, print_warning, ctx);
    st = segcl_context_open(ctx, &s);
    if (st) {
        cli_fail(ctx, st);
        segcl_context_destroy(ctx);
        return 1;
    }
    *out = ctx;
    return 0;
}

/* ---- segcl devices ---------------------------------------------------------------------------- */

static void devices_help(FILE *out)
{
    fprintf(out,
            "usage: segcl [--device N|P:D|NAME] devices\n"
            "\n"
            "Lists every OpenCL device with the index that --device takes. The device segcl\n"
            "would use (--device, else $SEGCL_DEVICE, else the first GPU, else the first CPU) is\n"
            "marked with '*'. An unknown --device is an error that lists the valid ones.\n");
}

static int cmd_devices(const global_options *g, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            devices_help(stdout);
            return 0;
        }
        cli_error("devices: unknown option '%s' (see 'segcl devices --help')", argv[i]);
        return 2;
    }
    segcl_context *ctx = NULL;
    segcl_status st = segcl_context_create(&ctx);
    if (st) {
        cli_error("%s", segcl_context_error(NULL));
        return 1;
    }
    size_t count = 0, chosen = 0;
    if ((st = segcl_device_count(ctx, &count)) || (st = segcl_device_resolve(ctx, g->device, &chosen))) {
        int rc = cli_fail(ctx, st);
        segcl_context_destroy(ctx);
        return rc;
    }
    for (size_t i = 0; i < count; i++) {
        segcl_device_info in;
        if ((st = segcl_device_get_info(ctx, i, &in))) {
            int rc = cli_fail(ctx, st);
            segcl_context_destroy(ctx);
            return rc;
        }
        char global[32], local[32], alloc[32];
        format_bytes(in.global_mem_bytes, global, sizeof global);
        format_bytes(in.local_mem_bytes, local, sizeof local);
        format_bytes(in.max_alloc_bytes, alloc, sizeof alloc);
        printf("%c %-3d %s\n", i == chosen ? '*' : ' ', in.index, in.name);
        printf("      index %d:%d  platform %s (%s)\n", in.platform_index, in.device_index,
               in.platform_name, in.platform_version);
        printf("      type %s  vendor %s  driver %s\n", segcl_device_type_string(in.type),
               in.vendor, in.driver_version);
        printf("      compute units %u @ %u MHz  global memory %s (max buffer %s)  local memory %s\n",
               in.compute_units, in.max_clock_mhz, global, alloc, local);
        printf("      max work-group %zu  %s  fp16 %s  fp64 %s\n", in.max_work_group_size,
               in.opencl_c_version, in.fp16 ? "yes" : "no", in.fp64 ? "yes" : "no");
        printf("      segcl kernels: %s (native float vector width %u)\n",
               in.cpu_style ? "CPU-style, segcl's GEMM" : "GPU-style, CLBlast GEMM",
               in.native_float_width);
        char tuned[1024];
        if (segcl_device_tuned(&in, g->kernel_cache_dir, tuned, sizeof tuned))
            printf("      tuned: %s\n", tuned);
        else
            printf("      not tuned: defaults from the device's properties "
                   "('segcl --device %d tune' measures better ones)\n",
                   in.index);
    }
    segcl_context_destroy(ctx);
    return 0;
}

/* ---- segcl tune --------------------------------------------------------------------------------- */

static void tune_help(FILE *out)
{
    fprintf(out,
            "usage: segcl [--device N|P:D|NAME] tune [--arch unet|segnet] [--size S] [--batch B]\n"
            "                                         [--seconds T]\n"
            "\n"
            "Times the kernel variants segcl can run on the device (the CPU GEMM's register tile\n"
            "and cache blocking, segcl's GEMM against CLBlast, run lengths; on GPU-style devices\n"
            "the implicit-GEMM convolutions' tiles, CLBlast parameter sets and elementwise\n"
            "work-group sizes) on a model's training step and inference, each checked for\n"
            "correct results first (GEMMs and convolutions), and stores the fastest next\n"
            "to the kernel cache for this device, driver and segcl version. Every later run on\n"
            "the device uses it; 'segcl devices' shows whether a device is tuned. A new driver or\n"
            "segcl version starts untuned. SEGCL_TUNING=off ignores stored tunings.\n"
            "\n"
            "  --arch A      unet (default) or segnet\n"
            "  --size S      image side, a multiple of 16 (default 128)\n"
            "  --batch B     images per step (default 8)\n"
            "  --seconds T   timing per variant and phase (default 1)\n");
}

static void tune_progress(const char *line, void *user)
{
    (void)user;
    printf("%s\n", line);
    fflush(stdout);
}

static int cmd_tune(const global_options *g, int argc, char **argv)
{
    segcl_tune_options o;
    segcl_tune_default_options(&o);
    float seconds = (float)o.seconds;
    for (int i = 1; i < argc; i++) {
        int rc = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            tune_help(stdout);
            return 0;
        }
        if (cli_opt_str(argc, argv, &i, "--arch", &o.arch, &rc) ||
            cli_opt_int(argc, argv, &i, "--size", &o.size, &rc) ||
            cli_opt_int(argc, argv, &i, "--batch", &o.batch, &rc) ||
            cli_opt_float(argc, argv, &i, "--seconds", &seconds, &rc)) {
            if (rc)
                return rc;
        } else {
            cli_error("tune: unknown option '%s' (see 'segcl tune --help')", argv[i]);
            return 2;
        }
    }
    o.seconds = seconds;
    o.progress = tune_progress;
    segcl_context *ctx;
    if (cli_open_context(g, &ctx))
        return 1;
    char path[1024];
    segcl_status st = segcl_tune(ctx, &o, path, sizeof path);
    int rc = st ? cli_fail(ctx, st) : 0;
    if (!st)
        printf("stored in %s\n", path);
    segcl_context_destroy(ctx);
    return rc;
}

/* ---- command table ---------------------------------------------------------------------------- */

static const command commands[] = {
    {"devices", "list OpenCL devices and the index --device takes", cmd_devices, devices_help},
    {"train", "train a U-Net or SegNet on a dataset", cli_cmd_train, cli_train_help},
    {"eval", "Dice, IoU and pixel accuracy of a model on a dataset", cli_cmd_eval,
     cli_eval_help},
    {"predict", "write masks, overlays, cut-outs and composites for images", cli_cmd_predict,
     cli_predict_help},
    {"export", "write a model's weights without its training state", cli_cmd_export,
     cli_export_help},
    {"synth", "write a synthetic dermoscopy-like dataset", cli_cmd_synth, cli_synth_help},
    {"bench", "training and inference images/s", cli_cmd_bench, cli_bench_help},
    {"tune", "measure and store the fastest kernel variants for a device", cmd_tune,
     tune_help},
    {"selftest", "build the kernels and check a computation on the device", cli_cmd_selftest,
     cli_selftest_help},
};
#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out,
            "usage: segcl [GLOBAL OPTIONS] COMMAND [OPTIONS]\n"
            "\n"
            "Train and run semantic-segmentation networks on any OpenCL device.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Global options:\n"
            "  --device N|P:D|NAME  OpenCL device by global index, platform:device, or (part\n"
            "                       of) its name or its platform's, e.g. rusticl or nvidia\n"
            "                       (default: $SEGCL_DEVICE, else first GPU, else first CPU)\n"
            "  --kernel-cache DIR   cache compiled kernels in DIR (on for every driver)\n"
            "  --no-kernel-cache    never read or write the kernel cache\n"
            "  -h, --help           show this help; 'segcl COMMAND --help' for a command\n"
            "  -V, --version        print the version\n"
            "\n"
            "Environment: SEGCL_DEVICE, SEGCL_KERNEL_DIR (load kernels/*.cl from a folder),\n"
            "SEGCL_KERNEL_CACHE_DIR, SEGCL_TUNING=off (ignore 'segcl tune' results).\n");
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

/* Global options given after the command, as people type them (`segcl predict --device 1
 * ...`): taken out of argv from `from` on, before the command parses the rest. */
static int take_global_options(global_options *g, int *argc, char **argv, int from)
{
    int out = from;
    for (int i = from; i < *argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--device") || !strcmp(a, "--kernel-cache")) {
            if (i + 1 >= *argc) {
                cli_error("option '%s' needs a value", a);
                return 2;
            }
            if (!strcmp(a, "--device"))
                g->device = argv[++i];
            else
                g->kernel_cache_dir = argv[++i];
        } else if (!strncmp(a, "--device=", 9)) {
            g->device = a + 9;
        } else if (!strncmp(a, "--kernel-cache=", 15)) {
            g->kernel_cache_dir = a + 15;
        } else if (!strcmp(a, "--no-kernel-cache")) {
            g->no_kernel_cache = true;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    global_options g = {0};
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-')
            break;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("segcl %s\n", segcl_version());
#ifdef SEGCL_HAVE_MPI
            printf("data-parallel training over MPI: yes\n");
#else
            printf("data-parallel training over MPI: no (built without Open MPI)\n");
#endif
            return 0;
        }
        if (!strcmp(a, "--no-kernel-cache")) {
            g.no_kernel_cache = true;
            continue;
        }
        if (!strcmp(a, "--device") || !strcmp(a, "--kernel-cache")) {
            if (i + 1 >= argc) {
                cli_error("option '%s' needs a value (see 'segcl --help')", a);
                return 2;
            }
            if (!strcmp(a, "--device"))
                g.device = argv[++i];
            else
                g.kernel_cache_dir = argv[++i];
            continue;
        }
        if (!strncmp(a, "--device=", 9)) {
            g.device = a + 9;
            continue;
        }
        if (!strncmp(a, "--kernel-cache=", 15)) {
            g.kernel_cache_dir = a + 15;
            continue;
        }
        cli_error("unknown option '%s' (see 'segcl --help')", a);
        return 2;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[i];
    for (size_t c = 0; c < COMMAND_COUNT; c++)
        if (!strcmp(commands[c].name, name)) {
            int rc = take_global_options(&g, &argc, argv, i + 1);
            return rc ? rc : commands[c].run(&g, argc - i, argv + i);
        }

    const char *best = NULL;
    size_t best_d = 3;
    for (size_t c = 0; c < COMMAND_COUNT; c++) {
        size_t d = edit_distance(name, commands[c].name);
        if (d < best_d) {
            best_d = d;
            best = commands[c].name;
        }
    }
    if (best)
        cli_error("unknown command '%s'; did you mean '%s'? (see 'segcl --help')", name, best);
    else
        cli_error("unknown command '%s' (see 'segcl --help')", name);
    return 2;
}
