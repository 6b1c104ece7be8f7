/*
 * Inference: open a checkpoint (segcl's, or a PyTorch state_dict in safetensors with the arch
 * given), segment image files in batches, write masks at the input's size, overlays and raw
 * logits; and evaluate a dataset with per-image Dice, IoU and pixel accuracy.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data.h"
#include "io/checkpoint.h"
#include "io/visual.h"
#include "model/model.h"
#include "train/settings.h"

struct segcl_predictor {
    segcl_context *ctx;
    segcl_model *model;
    segcl_checkpoint_meta meta;
    segcl_predictor_options opt;
    segcl_tensor *x;
    float *host_x, *host_logits;
};

void segcl_predictor_default_options(segcl_predictor_options *o)
{
    memset(o, 0, sizeof *o);
    o->threshold = 0.5f;
    o->batch = 8;
}

void segcl_predictor_destroy(segcl_predictor *p)
{
    if (!p)
        return;
    segcl_model_destroy(p->model);
    segcl_tensor_destroy(p->x);
    segcl_free(p->host_x);
    segcl_free(p->host_logits);
    segcl_free(p);
}

segcl_status segcl_predictor_open(segcl_context *ctx, const char *path,
                                  const segcl_predictor_options *options, segcl_predictor **out)
{
    if (!ctx || !path || !out)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_predictor_open: NULL argument");
    *out = NULL;
    segcl_predictor *p = segcl_calloc(1, sizeof *p);
    segcl_status st = SEGCL_OK;
    if (!p) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto error;
    }
    p->ctx = ctx;
    if (options)
        p->opt = *options;
    else
        segcl_predictor_default_options(&p->opt);
    if (p->opt.batch < 1)
        p->opt.batch = 1;
    if (!(p->opt.threshold > 0 && p->opt.threshold < 1)) {
        st = segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                        "threshold %g must lie strictly between 0 and 1 (--threshold)",
                        (double)p->opt.threshold);
        goto error;
    }
    if ((st = segcl_checkpoint_read_meta(ctx, path, &p->meta)))
        goto error;
    segcl_model_config *cfg = &p->meta.model;
    if (!p->meta.from_segcl && !p->opt.arch) {
        st = segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                        "%s has no segcl metadata (a PyTorch export?): give --arch unet|segnet "
                        "(and --classes/--width/--depth if not the defaults)",
                        path);
        goto error;
    }
    if (p->opt.arch) {
        int arch;
        if ((st = segcl_name_parse(ctx, "architecture", segcl_arch_names, p->opt.arch, &arch)))
            goto error;
        cfg->arch = (segcl_arch)arch;
    }
    if (p->opt.classes)
        cfg->classes = p->opt.classes;
    if (p->opt.width)
        cfg->width = p->opt.width;
    if (p->opt.depth)
        cfg->depth = p->opt.depth;
    if (p->opt.size)
        p->meta.size = p->opt.size;
    if ((st = segcl_settings_check(ctx, &p->meta, SEGCL_SETTINGS_MODEL, NULL)) ||
        (st = segcl_model_create(ctx, cfg, &p->model)) ||
        (st = segcl_checkpoint_load(ctx, path, p->model, false, NULL)))
        goto error;
    const int64_t S = p->meta.size;
    int64_t xs[4] = {p->opt.batch, 3, S, S};
    p->host_x = segcl_malloc((size_t)p->opt.batch * 3 * S * S * sizeof(float));
    p->host_logits = segcl_malloc((size_t)p->opt.batch * cfg->classes * S * S * sizeof(float));
    if (!p->host_x || !p->host_logits) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto error;
    }
    if ((st = segcl_tensor_create(ctx, "images", 4, xs, &p->x)))
        goto error;
    *out = p;
    return SEGCL_OK;
error:
    segcl_predictor_destroy(p);
    return st;
}

/* Normalised planar floats of an RGB image resized to S x S, into slot s of host_x. */
static segcl_status put_image(segcl_predictor *p, const segcl_image *img, size_t s)
{
    const int S = p->meta.size;
    segcl_image small;
    segcl_status st = segcl_image_resize(p->ctx, img, S, S, false, &small);
    if (st)
        return st;
    size_t plane = (size_t)S * S;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            p->host_x[(s * 3 + c) * plane + i] =
                (small.pixels[i * 3 + c] / 255.0f - p->meta.mean[c]) / p->meta.std[c];
    segcl_image_free(&small);
    return SEGCL_OK;
}

/* Runs the loaded batch (n images; the rest of the slots repeat image 0). */
static segcl_status run_batch(segcl_predictor *p, size_t n)
{
    const size_t per = (size_t)3 * p->meta.size * p->meta.size;
    for (size_t s = n; s < (size_t)p->opt.batch; s++)
        memcpy(p->host_x + s * per, p->host_x, per * sizeof(float));
    segcl_tensor *logits;
    segcl_status st = segcl_tensor_write(p->x, p->host_x, p->x->numel);
    if (!st)
        st = segcl_model_forward(p->model, p->x, false, &logits);
    if (!st)
        st = segcl_tensor_read(logits, p->host_logits, logits->numel);
    return st;
}

/* Labels at width x height from image s's logits, resized bilinearly (half-pixel centres):
 * foreground where sigmoid > threshold for one class, argmax otherwise. */
static void labels_at(const segcl_predictor *p, size_t s, int width, int height, uint8_t *labels)
{
    const int S = p->meta.size, C = p->meta.model.classes;
    const size_t plane = (size_t)S * S;
    const float logit_threshold = logf(p->opt.threshold / (1.0f - p->opt.threshold));
    for (int y = 0; y < height; y++) {
        float sy = ((float)y + 0.5f) * S / height - 0.5f;
        sy = sy < 0 ? 0 : sy;
        int y0 = (int)sy < S - 1 ? (int)sy : S - 1, y1 = y0 < S - 1 ? y0 + 1 : y0;
        float ly = sy - y0;
        for (int x = 0; x < width; x++) {
            float sx = ((float)x + 0.5f) * S / width - 0.5f;
            sx = sx < 0 ? 0 : sx;
            int x0 = (int)sx < S - 1 ? (int)sx : S - 1, x1 = x0 < S - 1 ? x0 + 1 : x0;
            float lx = sx - x0;
            int best = 0;
            float best_v = -INFINITY;
            for (int c = 0; c < C; c++) {
                const float *L = p->host_logits + (s * C + c) * plane;
                float v = (1 - ly) * ((1 - lx) * L[y0 * S + x0] + lx * L[y0 * S + x1]) +
                          ly * ((1 - lx) * L[y1 * S + x0] + lx * L[y1 * S + x1]);
                if (C == 1) {
                    best = v > logit_threshold;
                } else if (v > best_v) {
                    best_v = v;
                    best = c;
                }
            }
            labels[(size_t)y * width + x] = (uint8_t)best;
        }
    }
}

static segcl_status write_npy(segcl_context *ctx, const char *path, const float *data, int c,
                              int s)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    char header[128];
    int n = snprintf(header, sizeof header,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d), }", c, s, s);
    /* magic (6) + version (2) + length (2) + header padded with spaces and a newline to 64 */
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    uint16_t hlen = (uint16_t)(n + pad + 1);
    bool ok = fwrite("\x93NUMPY\x01\x00", 1, 8, f) == 8 &&
              fputc(hlen & 0xff, f) != EOF && fputc(hlen >> 8, f) != EOF &&
              fwrite(header, 1, (size_t)n, f) == (size_t)n;
    for (int i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t count = (size_t)c * s * s;
    ok = ok && fwrite(data, sizeof(float), count, f) == count;
    if (fclose(f) != 0)
        ok = false;
    return ok ? SEGCL_OK : segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s", path);
}

/* Appends path to the list, taking ownership. */
static segcl_status push(segcl_context *ctx, char ***list, size_t *n, size_t *cap, char *path)
{
    if (!path)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (*n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 64;
        char **g = segcl_realloc(*list, ncap * sizeof *g);
        if (!g) {
            segcl_free(path);
            return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        *list = g;
        *cap = ncap;
    }
    (*list)[(*n)++] = path;
    return SEGCL_OK;
}

/* Expands folders into their image files (sorted); files are taken as given. */
static segcl_status expand_inputs(segcl_context *ctx, const char *const *inputs, size_t count,
                                  char ***files, size_t *nfiles)
{
    char **list = NULL;
    size_t n = 0, cap = 0;
    segcl_status st = SEGCL_OK;
    for (size_t i = 0; i < count && !st; i++) {
        struct stat sb;
        if (stat(inputs[i], &sb) != 0) {
            st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot open %s: %s", inputs[i], strerror(errno));
        } else if (!S_ISDIR(sb.st_mode)) {
            st = push(ctx, &list, &n, &cap, segcl_strdup(inputs[i]));
        } else {
            char **names;
            size_t nn;
            if ((st = segcl_list_dir(ctx, inputs[i], false, &names, &nn)))
                break;
            for (size_t k = 0; k < nn && !st; k++) {
                if (!segcl_image_file_name(names[k]))
                    continue;
                size_t len = strlen(inputs[i]) + strlen(names[k]) + 2;
                char *path = segcl_malloc(len);
                if (path)
                    snprintf(path, len, "%s/%s", inputs[i], names[k]);
                st = push(ctx, &list, &n, &cap, path);
            }
            segcl_free_names(names, nn);
        }
    }
    if (!st && n == 0)
        st = segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "no image files among the inputs");
    if (st) {
        segcl_free_names(list, n);
        return st;
    }
    *files = list;
    *nfiles = n;
    return SEGCL_OK;
}

static void stem_of(const char *path, char *stem, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(stem, len, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem)
        *dot = '\0';
}

segcl_status segcl_predict_files(segcl_predictor *p, const char *const *inputs, size_t count,
                                 const char *out_dir, bool save_logits, segcl_predict_fn done,
                                 void *user)
{
    if (!p || !inputs || !out_dir)
        return segcl_fail(p ? p->ctx : NULL, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_predict_files: NULL argument");
    segcl_context *ctx = p->ctx;
    char **files;
    size_t n;
    segcl_status st = segcl_make_dirs(ctx, out_dir);
    if (st || (st = expand_inputs(ctx, inputs, count, &files, &n)))
        return st;
    const size_t B = (size_t)p->opt.batch, C = (size_t)p->meta.model.classes;
    const int S = p->meta.size;
    segcl_image *photos = segcl_calloc(B, sizeof *photos);
    if (!photos)
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t first = 0; first < n && !st; first += B) {
        size_t take = n - first < B ? n - first : B;
        for (size_t s = 0; s < take && !st; s++)
            if (!(st = segcl_image_load(ctx, files[first + s], 3, &photos[s])))
                st = put_image(p, &photos[s], s);
        if (!st)
            st = run_batch(p, take);
        for (size_t s = 0; s < take && !st; s++) {
            segcl_image *ph = &photos[s];
            char stem[256], mask_path[1400], overlay_path[1400], npy[1400];
            stem_of(files[first + s], stem, sizeof stem);
            snprintf(mask_path, sizeof mask_path, "%s/%s_mask.png", out_dir, stem);
            snprintf(overlay_path, sizeof overlay_path, "%s/%s_overlay.jpg", out_dir, stem);
            segcl_image mask, overlay;
            if ((st = segcl_image_alloc(ctx, ph->width, ph->height, 1, &mask)))
                break;
            labels_at(p, s, ph->width, ph->height, mask.pixels);
            if (!(st = segcl_overlay(ctx, ph, mask.pixels, &overlay))) {
                st = segcl_image_save_jpeg(ctx, overlay_path, &overlay, 90);
                segcl_image_free(&overlay);
            }
            if (!st && C == 1)
                for (size_t i = 0; i < (size_t)ph->width * ph->height; i++)
                    mask.pixels[i] = mask.pixels[i] ? 255 : 0;
            if (!st)
                st = segcl_image_save_png(ctx, mask_path, &mask);
            segcl_image_free(&mask);
            if (!st && save_logits) {
                snprintf(npy, sizeof npy, "%s/%s_logits.npy", out_dir, stem);
                st = write_npy(ctx, npy, p->host_logits + s * C * S * S, (int)C, S);
            }
            if (!st && done)
                done(files[first + s], mask_path, overlay_path, user);
        }
        for (size_t s = 0; s < take; s++)
            segcl_image_free(&photos[s]);
    }
    segcl_free(photos);
    segcl_free_names(files, n);
    return st;
}

segcl_status segcl_evaluate(segcl_predictor *p, const segcl_dataset *ds, segcl_eval_result *res)
{
    if (!p || !ds || !res)
        return segcl_fail(p ? p->ctx : NULL, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_evaluate: NULL argument");
    segcl_context *ctx = p->ctx;
    memset(res, 0, sizeof *res);
    res->images = segcl_calloc(ds->count ? ds->count : 1, sizeof *res->images);
    if (!res->images)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    const size_t B = (size_t)p->opt.batch;
    const int S = p->meta.size, C = p->meta.model.classes, K = C == 1 ? 2 : C;
    const size_t plane = (size_t)S * S;
    uint8_t *labels = segcl_malloc(plane), *targets = segcl_malloc(B * plane);
    segcl_status st = labels && targets ? SEGCL_OK
                                        : segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                                                     "out of host memory");
    for (size_t first = 0; first < ds->count && !st; first += B) {
        size_t take = ds->count - first < B ? ds->count - first : B;
        for (size_t s = 0; s < take && !st; s++) {
            const segcl_sample_entry *e = &ds->items[first + s];
            segcl_image img, mask, small;
            if ((st = segcl_image_load(ctx, e->image_path, 3, &img)))
                break;
            if ((st = segcl_image_load(ctx, e->mask_path, 1, &mask))) {
                segcl_image_free(&img);
                break;
            }
            if (mask.width != img.width || mask.height != img.height)
                st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                                "mask %s is %dx%d but its image is %dx%d", e->mask_path,
                                mask.width, mask.height, img.width, img.height);
            if (!st)
                st = put_image(p, &img, s);
            if (!st && !(st = segcl_image_resize(ctx, &mask, S, S, true, &small))) {
                for (size_t i = 0; i < plane; i++)
                    targets[s * plane + i] = C == 1 ? small.pixels[i] > 127 : small.pixels[i];
                segcl_image_free(&small);
            }
            segcl_image_free(&img);
            segcl_image_free(&mask);
        }
        if (!st)
            st = run_batch(p, take);
        for (size_t s = 0; s < take && !st; s++) {
            uint64_t counts[SEGCL_MAX_CLASSES * SEGCL_MAX_CLASSES] = {0};
            labels_at(p, s, S, S, labels);
            for (size_t i = 0; i < plane; i++) {
                int t = targets[s * plane + i];
                if (t < K)
                    counts[t * K + labels[i]]++;
            }
            segcl_scores sc;
            segcl_scores_from_confusion(counts, K, &sc);
            segcl_eval_image *r = &res->images[first + s];
            snprintf(r->name, sizeof r->name, "%s", ds->items[first + s].stem);
            r->dice = sc.dice;
            r->iou = sc.iou;
            r->pixel_accuracy = sc.pixel_accuracy;
            res->dice += sc.dice;
            res->iou += sc.iou;
            res->pixel_accuracy += sc.pixel_accuracy;
            res->count++;
        }
    }
    segcl_free(labels);
    segcl_free(targets);
    if (st) {
        segcl_eval_result_free(res);
        return st;
    }
    if (res->count) {
        res->dice /= (double)res->count;
        res->iou /= (double)res->count;
        res->pixel_accuracy /= (double)res->count;
    }
    return SEGCL_OK;
}

void segcl_eval_result_free(segcl_eval_result *res)
{
    if (!res)
        return;
    segcl_free(res->images);
    res->images = NULL;
    res->count = 0;
}
