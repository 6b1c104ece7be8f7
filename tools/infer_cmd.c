/* `segcl predict`, `segcl eval`, `segcl synth`, `segcl bench`. */
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

void cli_predict_help(FILE *out)
{
    fprintf(out,
            "usage: segcl [--device N] predict --model CKPT --out DIR [OPTIONS] INPUT...\n"
            "\n"
            "Segments image files (or every image in the given folders) and writes, per input,\n"
            "<stem>_mask.png at the input's size (0/255, or class indices), <stem>_overlay.jpg\n"
            "and what the options below ask for.\n"
            "\n"
            "  --model CKPT          a segcl checkpoint, a training run's folder (its\n"
            "                        best.safetensors) or a PyTorch state_dict in safetensors\n"
            "  --arch unet|segnet    needed for files without segcl metadata\n"
            "  --classes N --width N --depth N   likewise (defaults 1, 16, 4)\n"
            "  --size S              network input size (default: the training size)\n"
            "  --threshold P         foreground probability threshold (0.5)\n"
            "  --palette FILE        colours of multi-class masks, one per class in order\n"
            "                        (#RRGGBB or R G B per line; default: class 0 black, then\n"
            "                        the PASCAL VOC colours); pixel values stay the classes\n"
            "  --batch N             images (with --tile: tiles) per pass (8)\n"
            "  --tile T              large images on small devices: run each image at its own\n"
            "                        resolution (or at --size S x S when given) in overlapping\n"
            "                        T x T tiles, blended; T a multiple of 2^depth. Device\n"
            "                        memory then follows T and --batch, not the image\n"
            "  --tile-overlap PX     pixels neighbouring tiles share (T/4, rounded to a\n"
            "                        multiple of 2^depth); more is slower but closer to one pass\n"
            "  --precision fp32|fp16 tensors on the device as float (default) or half: half\n"
            "                        the memory, float arithmetic, any OpenCL device\n"
            "  --overlay fill|contour|none   <stem>_overlay.jpg: regions tinted with their\n"
            "                        boundaries (fill, the default), boundaries only\n"
            "                        (2 px; 3 px above 512 px), or no overlay\n"
            "  --cutout              <stem>_cutout.png: RGBA, alpha = the model's foreground\n"
            "                        probability (a soft edge), colours untouched\n"
            "  --feather PX          smooth the cut-out's and composite's edge further (a blur\n"
            "                        of about PX pixels)\n"
            "  --background B        <stem>_composite.jpg: the foreground over B, which is\n"
            "                        #RRGGBB, blur or blur:RADIUS (the photo's own background\n"
            "                        blurred), or an image file (scaled to cover the photo)\n"
            "  --instances           <stem>_instances.png and .json: each connected region of\n"
            "                        each class (8-connectivity) with area, box and centroid\n"
            "  --min-area PX         with --instances, drop regions under PX pixels (0)\n"
            "  --save-logits         <stem>_logits.npy (float32, classes x S x S, raw output;\n"
            "                        with --tile, the blended logits at the working resolution)\n"
            "  --strict              damaged images (a truncated JPEG) are errors, not warnings\n"
            "  --max-pixels N        refuse larger images (67108864)\n"
            "\n"
            "An input that cannot be read is skipped with a warning; the exit status is then 1.\n"
            "Inputs that share a stem (a.jpg, a.png) get distinct names (a_jpg, a_png).\n");
}

void cli_eval_help(FILE *out)
{
    fprintf(out,
            "usage: segcl [--device N] eval --model CKPT --data DIR [--format F] [--json]\n"
            "       segcl [--device N] eval --model CKPT --images DIR --masks DIR [--json]\n"
            "       segcl [--device N] eval [--split val|train|all] RUN_DIR [--json]\n"
            "                         [--allow-changed-data]\n"
            "\n"
            "Mean and per-image Dice, IoU and pixel accuracy of a model on a dataset (at the\n"
            "network's input size). Given a run folder, its best.safetensors is scored on the\n"
            "run's own data: --split val (the default there) takes exactly the images the run\n"
            "validated on; data changed since the run started (pairs added, removed or\n"
            "modified) is an error, or with --allow-changed-data a warning. Images whose\n"
            "masks hold no foreground have no Dice (nan) and are\n"
            "left out of the mean Dice and IoU. --json prints one JSON object with dice, iou,\n"
            "pixel_accuracy, images and undefined. Model options as for predict.\n");
}

void cli_export_help(FILE *out)
{
    fprintf(out,
            "usage: segcl [--device N] export RUN_DIR|CKPT --out MODEL.safetensors\n"
            "       segcl [--device N] export RUN_DIR|CKPT --onnx MODEL.onnx\n"
            "\n"
            "Given a run folder, its best.safetensors. --out writes the model's weights and\n"
            "BatchNorm statistics with the settings predict needs (architecture, classes,\n"
            "size, normalisation), without the optimizer's state: about a third of a training\n"
            "checkpoint; PyTorch loads it as a state_dict. --onnx writes an ONNX graph (opset\n"
            "13) for ONNX Runtime, OpenCV's DNN module or a browser: input \"image\", float\n"
            "N x 3 x H x W normalised as in training ((rgb / 255 - mean) / std; H and W\n"
            "multiples of 2^depth, any batch), output \"logits\" N x classes x H x W; the\n"
            "class count, mean, std and training size are in its metadata. Neither ever\n"
            "writes over a run's checkpoint, best model, args.json or metrics.csv.\n");
}

int cli_cmd_export(const global_options *g, int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *onnx = NULL;
    for (int i = 1; i < argc; i++) {
        int rc = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_export_help(stdout);
            return 0;
        }
        if (cli_opt_str(argc, argv, &i, "--out", &out, &rc) ||
            cli_opt_str(argc, argv, &i, "--onnx", &onnx, &rc) ||
            cli_opt_str(argc, argv, &i, "--model", &model, &rc)) {
            if (rc)
                return rc;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("export: unknown option '%s' (see 'segcl export --help')", argv[i]);
            return 2;
        } else if (!model) {
            model = argv[i];
        } else {
            cli_error("export: one model at a time ('%s' is extra)", argv[i]);
            return 2;
        }
    }
    if (!model || (!out && !onnx)) {
        cli_error("export: needs a run folder or checkpoint, and --out FILE or --onnx FILE (see "
                  "'segcl export --help')");
        return 2;
    }
    segcl_context *ctx;
    if (cli_open_context(g, &ctx))
        return 1;
    segcl_status st = SEGCL_OK;
    if (out && !(st = segcl_export_weights(ctx, model, out)))
        printf("wrote %s\n", out);
    if (!st && onnx && !(st = segcl_export_onnx(ctx, model, onnx)))
        printf("wrote %s\n", onnx);
    int rc = st ? cli_fail(ctx, st) : 0;
    segcl_context_destroy(ctx);
    return rc;
}

void cli_synth_help(FILE *out)
{
    fprintf(out,
            "usage: segcl synth --out DIR [--count N] [--size S] [--seed N]\n"
            "\n"
            "Writes a synthetic dermoscopy-like set in the folder layout (DIR/images,\n"
            "DIR/masks; PNG): N images (100) of S x S pixels (256).\n");
}

void cli_bench_help(FILE *out)
{
    fprintf(out,
            "usage: segcl [--device N] bench [--arch unet|segnet] [--batch N] [--size S]\n"
            "                              [--seconds T] [--precision fp32|fp16] [--json]\n"
            "\n"
            "Training (Adam step) and inference images/s after warm-up, on random data, and the\n"
            "device memory segcl holds for each (infer_device_bytes, train_device_bytes in\n"
            "--json), and the kernel launches of one training step and of one inference pass\n"
            "(train_launches, infer_launches). --precision fp16 stores tensors as half and\n"
            "times inference only.\n"
            "tools/bench_torch.py times the same model in PyTorch for comparison.\n");
}

/* Options shared by predict and eval; returns 1 if argv[*i] was one of them. */
static int model_option(int argc, char **argv, int *i, segcl_predictor_options *po,
                        const char **model, int *rc)
{
    return cli_opt_str(argc, argv, i, "--model", model, rc) ||
           cli_opt_str(argc, argv, i, "--arch", &po->arch, rc) ||
           cli_opt_int(argc, argv, i, "--classes", &po->classes, rc) ||
           cli_opt_int(argc, argv, i, "--width", &po->width, rc) ||
           cli_opt_int(argc, argv, i, "--depth", &po->depth, rc) ||
           cli_opt_int(argc, argv, i, "--size", &po->size, rc) ||
           cli_opt_int(argc, argv, i, "--batch", &po->batch, rc) ||
           cli_opt_float(argc, argv, i, "--threshold", &po->threshold, rc) ||
           cli_opt_str(argc, argv, i, "--palette", &po->palette, rc);
}

static void on_predicted(const segcl_prediction *w, void *user)
{
    (void)user;
    const char *outputs[] = {w->mask,    w->overlay,       w->cutout,
                             w->composite, w->instances_png, w->instances_json};
    printf("%s ->", w->input);
    bool first = true;
    for (size_t k = 0; k < sizeof outputs / sizeof outputs[0]; k++)
        if (outputs[k]) {
            printf("%s %s", first ? "" : ",", outputs[k]);
            first = false;
        }
    if (w->instances >= 0)
        printf(" (%ld instance%s)", w->instances, w->instances == 1 ? "" : "s");
    putchar('\n');
}

/* --overlay fill|contour|none; returns 1 if argv[*i] was it. */
static int overlay_option(int argc, char **argv, int *i, segcl_overlay_style *style, int *rc)
{
    const char *name = NULL;
    if (!cli_opt_str(argc, argv, i, "--overlay", &name, rc))
        return 0;
    if (*rc)
        return 1;
    static const char *const names[] = {"fill", "contour", "none"};
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, names[k])) {
            *style = (segcl_overlay_style)k;
            return 1;
        }
    cli_error("predict: --overlay takes fill, contour or none, not '%s'", name);
    *rc = 2;
    return 1;
}

/* --precision fp32|fp16: the context's tensor storage (*g with it in *out) */
static bool precision_option(int argc, char **argv, int *i, const global_options *g,
                             global_options *out, int *rc)
{
    const char *name = NULL;
    if (!cli_opt_str(argc, argv, i, "--precision", &name, rc))
        return false;
    *out = *g;
    if (!*rc && segcl_precision_parse(name, &out->precision)) {
        cli_error("unknown precision '%s' (fp32, fp16) (--precision)", name);
        *rc = 2;
    }
    return true;
}

int cli_cmd_predict(const global_options *g, int argc, char **argv)
{
    global_options with = *g;
    segcl_predictor_options po;
    segcl_predictor_default_options(&po);
    const char *model = NULL, *out = NULL;
    bool save_logits = false;
    cli_reading reading = {0};
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    size_t n = 0;
    if (!inputs)
        return 1;
    for (int i = 1; i < argc; i++) {
        int rc = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_predict_help(stdout);
            free(inputs);
            return 0;
        }
        if (!strcmp(argv[i], "--save-logits")) {
            save_logits = true;
        } else if (!strcmp(argv[i], "--cutout")) {
            po.cutout = true;
        } else if (!strcmp(argv[i], "--instances")) {
            po.instances = true;
        } else if (!strcmp(argv[i], "--strict")) {
            reading.strict = true;
        } else if (model_option(argc, argv, &i, &po, &model, &rc) ||
                   precision_option(argc, argv, &i, g, &with, &rc) ||
                   cli_opt_u64(argc, argv, &i, "--max-pixels", &reading.max_pixels, &rc) ||
                   overlay_option(argc, argv, &i, &po.overlay, &rc) ||
                   cli_opt_float(argc, argv, &i, "--feather", &po.feather, &rc) ||
                   cli_opt_str(argc, argv, &i, "--background", &po.background, &rc) ||
                   cli_opt_int(argc, argv, &i, "--min-area", &po.min_area, &rc) ||
                   cli_opt_int(argc, argv, &i, "--tile", &po.tile, &rc) ||
                   cli_opt_int(argc, argv, &i, "--tile-overlap", &po.tile_overlap, &rc) ||
                   cli_opt_str(argc, argv, &i, "--out", &out, &rc)) {
            if (rc) {
                free(inputs);
                return rc;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("predict: unknown option '%s' (see 'segcl predict --help')", argv[i]);
            free(inputs);
            return 2;
        } else {
            inputs[n++] = argv[i];
        }
    }
    if (!model || !out || n == 0 || !(po.threshold > 0 && po.threshold < 1)) {
        cli_error("predict: needs --model CKPT, --out DIR, a threshold in (0, 1) and at least "
                  "one input (see 'segcl predict --help')");
        free(inputs);
        return 2;
    }
    segcl_context *ctx;
    if (cli_open_context(&with, &ctx)) {
        free(inputs);
        return 1;
    }
    cli_apply_reading(ctx, &reading);
    segcl_predictor *p = NULL;
    segcl_status st = segcl_predictor_open(ctx, model, &po, &p);
    if (!st)
        st = segcl_predict_files(p, inputs, n, out, save_logits, on_predicted, NULL);
    int rc = st ? cli_fail(ctx, st) : 0;
    if (!st || st == SEGCL_ERROR_FORMAT)
        printf("the outputs are in %s\n", out);
    segcl_predictor_destroy(p);
    segcl_context_destroy(ctx);
    free(inputs);
    return rc;
}

/* The JSON of an evaluation: names with quotes or backslashes stay valid JSON. NaN (images
 * without foreground) is written as null. */
static int print_eval_json(const segcl_eval_result *r)
{
    json_t *root = json_object(), *images = json_array();
    bool ok = root && images;
#define NUMBER(v) (isfinite(v) ? json_real(v) : json_null())
    ok = ok && json_object_set_new(root, "dice", NUMBER(r->dice)) == 0 &&
         json_object_set_new(root, "iou", NUMBER(r->iou)) == 0 &&
         json_object_set_new(root, "pixel_accuracy", NUMBER(r->pixel_accuracy)) == 0 &&
         json_object_set_new(root, "undefined", json_integer((json_int_t)r->undefined)) == 0;
    for (size_t k = 0; k < r->count && ok; k++) {
        json_t *e = json_object();
        ok = e && json_object_set_new(e, "name", json_string(r->images[k].name)) == 0 &&
             json_object_set_new(e, "dice", NUMBER(r->images[k].dice)) == 0 &&
             json_object_set_new(e, "iou", NUMBER(r->images[k].iou)) == 0 &&
             json_object_set_new(e, "pixel_accuracy", NUMBER(r->images[k].pixel_accuracy)) == 0;
        ok = ok && json_array_append(images, e) == 0;
        json_decref(e);
    }
#undef NUMBER
    ok = ok && json_object_set(root, "images", images) == 0;
    json_decref(images);
    int rc = ok && json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : 1;
    json_decref(root);
    if (rc)
        cli_error("eval: cannot write JSON (out of memory)");
    else
        putchar('\n');
    return rc;
}

/* One line per image and their mean, for a person reading the terminal. */
static void print_eval_table(const segcl_eval_result *r)
{
    printf("%-24s %8s %8s %8s\n", "image", "Dice", "IoU", "pix acc");
    for (size_t k = 0; k < r->count; k++)
        printf("%-24s %8.4f %8.4f %8.4f\n", r->images[k].name, r->images[k].dice, r->images[k].iou,
               r->images[k].pixel_accuracy);
    printf("%-24s %8.4f %8.4f %8.4f   (%zu images", "mean", r->dice, r->iou, r->pixel_accuracy,
           r->count);
    if (r->undefined)
        printf("; %zu without foreground have no Dice and are left out of its mean", r->undefined);
    printf(")\n");
}

int cli_cmd_eval(const global_options *g, int argc, char **argv)
{
    global_options with = *g;
    segcl_predictor_options po;
    segcl_predictor_default_options(&po);
    const char *model = NULL, *data = NULL, *images_dir = NULL, *masks_dir = NULL,
               *run = NULL, *split = NULL;
    segcl_dataset_format format = SEGCL_DATASET_AUTO;
    bool json = false;
    cli_reading reading = {0};
    for (int i = 1; i < argc; i++) {
        int rc = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_eval_help(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--strict")) {
            reading.strict = true;
        } else if (!strcmp(argv[i], "--allow-changed-data")) {
            reading.allow_changed_data = true;
        } else if (model_option(argc, argv, &i, &po, &model, &rc) ||
                   precision_option(argc, argv, &i, g, &with, &rc) ||
                   cli_opt_str(argc, argv, &i, "--data", &data, &rc) ||
                   cli_opt_str(argc, argv, &i, "--images", &images_dir, &rc) ||
                   cli_opt_str(argc, argv, &i, "--masks", &masks_dir, &rc) ||
                   cli_opt_str(argc, argv, &i, "--split", &split, &rc) ||
                   cli_opt_u64(argc, argv, &i, "--max-pixels", &reading.max_pixels, &rc) ||
                   cli_opt_format(argc, argv, &i, &format, &rc)) {
            if (rc)
                return rc;
        } else if (argv[i][0] != '-' && !run) {
            run = argv[i];
        } else {
            cli_error("eval: unknown option '%s' (see 'segcl eval --help')", argv[i]);
            return 2;
        }
    }
    const bool pair = images_dir || masks_dir;
    if (run ? data || pair : (!data && !(images_dir && masks_dir)) || !model || split) {
        cli_error("eval: needs --model CKPT and --data DIR (or --images DIR --masks DIR), or a "
                  "run folder with --split (see 'segcl eval --help')");
        return 2;
    }
    char best[4200];
    if (run && !model) {
        snprintf(best, sizeof best, "%s/best.safetensors", run);
        model = best;
    }
    segcl_context *ctx;
    if (cli_open_context(&with, &ctx))
        return 1;
    cli_apply_reading(ctx, &reading);
    segcl_predictor *p = NULL;
    segcl_dataset *ds = NULL;
    segcl_eval_result r = {0};
    segcl_status st = segcl_predictor_open(ctx, model, &po, &p);
    if (!st)
        st = run ? segcl_dataset_open_run(ctx, run, split ? split : "val", &ds)
             : pair ? segcl_dataset_open_pair(ctx, images_dir, masks_dir, &ds)
                    : segcl_dataset_open(ctx, data, format, &ds);
    if (!st)
        st = segcl_evaluate(p, ds, &r);
    int rc = 0;
    if (st) {
        rc = cli_fail(ctx, st);
    } else if (json) {
        rc = print_eval_json(&r);
    } else {
        print_eval_table(&r);
    }
    segcl_eval_result_free(&r);
    segcl_dataset_destroy(ds);
    segcl_predictor_destroy(p);
    segcl_context_destroy(ctx);
    return rc;
}

int cli_cmd_synth(const global_options *g, int argc, char **argv)
{
    (void)g;
    const char *out = NULL;
    int count = 100, size = 256;
    uint64_t seed = 7;
    for (int i = 1; i < argc; i++) {
        int rc = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_synth_help(stdout);
            return 0;
        }
        if (cli_opt_str(argc, argv, &i, "--out", &out, &rc) ||
            cli_opt_int(argc, argv, &i, "--count", &count, &rc) ||
            cli_opt_int(argc, argv, &i, "--size", &size, &rc) ||
            cli_opt_u64(argc, argv, &i, "--seed", &seed, &rc)) {
            if (rc)
                return rc;
        } else {
            cli_error("synth: unknown option '%s' (see 'segcl synth --help')", argv[i]);
            return 2;
        }
    }
    if (!out) {
        cli_error("synth: needs --out DIR (see 'segcl synth --help')");
        return 2;
    }
    segcl_context *ctx = NULL;
    if (segcl_context_create(&ctx)) {
        cli_error("%s", segcl_context_error(NULL));
        return 1;
    }
    segcl_status st = segcl_synth(ctx, out, count, size, seed);
    int rc = st ? cli_fail(ctx, st) : 0;
    if (!st)
        printf("wrote %d synthetic images and masks to %s/images and %s/masks\n", count, out, out);
    segcl_context_destroy(ctx);
    return rc;
}

static int print_bench_json(segcl_context *ctx, const char *arch, int batch, int size,
                            const segcl_bench_result *r)
{
    segcl_device_info info;
    if (segcl_context_device_info(ctx, &info))
        return cli_fail(ctx, SEGCL_ERROR_STATE);
    struct rusage ru;
    double peak_mb = getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0.0;
    json_t *root = json_pack(
        "{s:s, s:i, s:i, s:s, s:f, s:f, s:I, s:I, s:I, s:I, s:f, s:{s:i, s:s, s:s, s:s, s:s, s:i, "
        "s:i}}",
        "arch", arch, "batch", batch, "size", size, "precision",
        segcl_precision_name(segcl_context_precision(ctx)), "train_images_per_s",
        r->train_images_per_s, "infer_images_per_s", r->infer_images_per_s, "infer_device_bytes",
        (json_int_t)r->infer_device_bytes, "train_device_bytes", (json_int_t)r->train_device_bytes,
        "train_launches", (json_int_t)r->train_launches, "infer_launches",
        (json_int_t)r->infer_launches, "peak_rss_mb", peak_mb, "device", "index", info.index, "name", info.name, "type",
        segcl_device_type_string(info.type), "platform", info.platform_name, "driver",
        info.driver_version, "compute_units", (int)info.compute_units, "native_float_width",
        (int)info.native_float_width);
    int rc = root && json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : 1;
    json_decref(root);
    if (rc)
        cli_error("bench: cannot write JSON (out of memory)");
    else
        putchar('\n');
    return rc;
}

int cli_cmd_bench(const global_options *g, int argc, char **argv)
{
    global_options with = *g;
    const char *arch = "unet";
    int batch = 8, size = 256;
    float seconds = 3;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        int rc = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_bench_help(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (cli_opt_str(argc, argv, &i, "--arch", &arch, &rc) ||
                 cli_opt_int(argc, argv, &i, "--batch", &batch, &rc) ||
                 cli_opt_int(argc, argv, &i, "--size", &size, &rc) ||
                 cli_opt_float(argc, argv, &i, "--seconds", &seconds, &rc) ||
                 precision_option(argc, argv, &i, g, &with, &rc)) {
            if (rc)
                return rc;
        } else {
            cli_error("bench: unknown option '%s' (see 'segcl bench --help')", argv[i]);
            return 2;
        }
    }
    segcl_context *ctx;
    if (cli_open_context(&with, &ctx))
        return 1;
    segcl_bench_result r;
    segcl_status st = segcl_bench_run(ctx, arch, batch, size, seconds, &r);
    int rc = 0;
    if (st)
        rc = cli_fail(ctx, st);
    else if (json)
        rc = print_bench_json(ctx, arch, batch, size, &r);
    else if (with.precision != SEGCL_PRECISION_FP32)
        printf("%s %dx%d batch %d %s: inference %.2f images/s, %.1f MiB of device memory\n",
               arch, size, size, batch, segcl_precision_name(with.precision),
               r.infer_images_per_s, (double)r.infer_device_bytes / 1048576.0);
    else
        printf("%s %dx%d batch %d: training %.2f images/s, inference %.2f images/s (%.1f MiB of "
               "device memory; training %.1f MiB; %llu kernel launches a training step, %llu an "
               "inference pass)\n",
               arch, size, size, batch, r.train_images_per_s, r.infer_images_per_s,
               (double)r.infer_device_bytes / 1048576.0, (double)r.train_device_bytes / 1048576.0,
               (unsigned long long)r.train_launches, (unsigned long long)r.infer_launches);
    segcl_context_destroy(ctx);
    return rc;
}
