/*
 * The predictor: open a checkpoint (segcl's, or a PyTorch state_dict in safetensors with the
 * arch given) with its options and palette, segment images in memory in batches into maps at
 * each input's size, and evaluate a dataset with per-image Dice, IoU and pixel accuracy.
 * Prediction from files, with the outputs it writes, is in predict_files.c; tiles in tile.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "infer/predictor.h"
#include "io/checkpoint.h"
#include "train/run_folder.h"

void segcl_predictor_default_options(segcl_predictor_options *o)
{
    memset(o, 0, sizeof *o);
    o->threshold = SEGCL_DEFAULT_THRESHOLD;
    o->batch = SEGCL_DEFAULT_PREDICT_BATCH;
}

/* The default palette: class 0 black, then PASCAL VOC's (bits of the class index spread over
 * the high bits of red, green and blue). */
static void default_palette(uint8_t *pal)
{
    for (int i = 0; i < 256; i++) {
        int r = 0, g = 0, b = 0, c = i;
        for (int j = 0; j < 8; j++, c >>= 3) {
            r |= ((c >> 0) & 1) << (7 - j);
            g |= ((c >> 1) & 1) << (7 - j);
            b |= ((c >> 2) & 1) << (7 - j);
        }
        pal[3 * i] = (uint8_t)r, pal[3 * i + 1] = (uint8_t)g, pal[3 * i + 2] = (uint8_t)b;
    }
}

/* "R G B": three numbers 0..255 of decimal digits alone, blank-separated, and nothing else
 * (sscanf's %u would take a sign, and 4294967296 as 0). */
static bool parse_rgb(const char *text, uint8_t rgb[3])
{
    const char *p = text;
    for (int c = 0; c < 3; c++) {
        if (c > 0 && *p != ' ' && *p != '\t')
            return false;
        while (*p == ' ' || *p == '\t')
            p++;
        unsigned v = 0;
        int digits = 0;
        for (; *p >= '0' && *p <= '9'; p++, digits++) {
            v = v * 10 + (unsigned)(*p - '0');
            if (v > 255)
                return false;
        }
        if (!digits)
            return false;
        rgb[c] = (uint8_t)v;
    }
    return *p == '\0';
}

/* A gray palette would read back as gray levels, not classes: refused for more than one. */
segcl_status segcl_palette_load(segcl_context *ctx, const char *path, int classes, uint8_t *pal,
                                int *entries)
{
    char *text = NULL;
    size_t len = 0;
    segcl_status st = segcl_read_file(segcl_context_diag(ctx), path, 1 << 20, &text, &len);
    if (st)
        return st;
    int n = 0, line_no = 0;
    bool colour = false;
    for (char *line = text, *next; line && *line && !st; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        while (*line == ' ' || *line == '\t' || *line == '\r')
            line++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r'))
            line[--l] = '\0';
        if (!l || (line[0] == '#' && (l == 1 || line[1] == ' ' || line[1] == '#')))
            continue;
        uint8_t rgb[3];
        const bool ok = line[0] == '#' ? segcl_hex_colour_parse(line, rgb) : parse_rgb(line, rgb);
        const unsigned r = rgb[0], g = rgb[1], b = rgb[2];
        if (!ok)
            st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                            "%s:%d: '%s' is not a colour (#RRGGBB or R G B, 0..255)", path, line_no,
                            line);
        else if (n == 256)
            st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: more than 256 colours", path);
        else {
            pal[3 * n] = (uint8_t)r, pal[3 * n + 1] = (uint8_t)g, pal[3 * n + 2] = (uint8_t)b;
            colour = colour || r != g || g != b;
            n++;
        }
    }
    if (!st && n < classes)
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: %d colours for a model of %d classes", path,
                        n, classes);
    else if (!st && !colour && classes > 1)
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                        "%s: every colour is a gray; masks would read back as gray levels, not "
                        "class indices",
                        path);
    segcl_free(text);
    if (!st)
        *entries = n;
    return st;
}

void segcl_predictor_destroy(segcl_predictor *p)
{
    if (!p)
        return;
    segcl_model_destroy(p->model);
    segcl_background_free(&p->background);
    segcl_tensor_destroy(p->x);
    segcl_free(p->host_x);
    segcl_free(p->host_logits);
    segcl_free(p->tiled_logits);
    segcl_free(p->model_file);
    segcl_free(p);
}

/* The options' own ranges, checked before the checkpoint is read, and the background parsed. */
static segcl_status check_options(segcl_predictor *p)
{
    segcl_context *ctx = p->ctx;
    const segcl_predictor_options *o = &p->opt;
    if (!(o->threshold > 0 && o->threshold < 1))
        return segcl_fail_setting(ctx, "threshold", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "threshold %g must lie strictly between 0 and 1",
                                  (double)o->threshold);
    if (!(o->feather >= 0 && o->feather <= 1000))
        return segcl_fail_setting(ctx, "feather", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "feather %g must be a number of pixels in [0, 1000]",
                                  (double)o->feather);
    if (o->min_area < 0)
        return segcl_fail_setting(ctx, "min_area", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "the minimum instance area must be >= 0");
    if (o->overlay < SEGCL_OVERLAY_FILL || o->overlay > SEGCL_OVERLAY_NONE)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "unknown overlay style %d",
                          (int)o->overlay);
    if (o->background)
        return segcl_background_parse(segcl_context_diag(ctx), o->background, &p->background);
    return SEGCL_OK;
}

/* The run configuration of the checkpoint at path, with what the options give in place of its
 * model's (a checkpoint without segcl metadata needs the arch), checked. */
static segcl_status read_config(segcl_predictor *p, const char *path)
{
    segcl_context *ctx = p->ctx;
    segcl_status st = segcl_run_config_read(ctx, path, &p->meta);
    if (st)
        return st;
    segcl_model_config *cfg = &p->meta.model;
    if (!p->meta.from_segcl && !p->opt.arch)
        return segcl_fail_setting(ctx, "arch", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "%s has no segcl metadata (a PyTorch export?): give its arch, "
                                  "unet or segnet (and its classes, width and depth if not the "
                                  "defaults)",
                                  path);
    if (p->opt.arch) {
        int arch;
        if ((st = segcl_name_parse(ctx, "architecture", segcl_arch_names, p->opt.arch, &arch)))
            return st;
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
    return segcl_settings_check(ctx, &p->meta, SEGCL_SETTINGS_MODEL, NULL);
}

/* The host and device buffers of one batch of images and its logits. */
static segcl_status alloc_batch(segcl_predictor *p)
{
    const int64_t S = p->side;
    int64_t xs[4] = {p->opt.batch, 3, S, S};
    p->host_x = segcl_malloc((size_t)p->opt.batch * 3 * S * S * sizeof(float));
    p->host_logits =
        segcl_malloc((size_t)p->opt.batch * p->meta.model.classes * S * S * sizeof(float));
    if (!p->host_x || !p->host_logits)
        return segcl_fail(p->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    return segcl_tensor_create(p->ctx, "images", 4, xs, &p->x);
}

static segcl_status open_file(segcl_context *ctx, const char *path,
                              const segcl_predictor_options *options, segcl_predictor **out)
{
    *out = NULL;
    segcl_predictor *p = segcl_calloc(1, sizeof *p);
    segcl_status st = SEGCL_OK;
    if (!p) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto error;
    }
    p->ctx = ctx;
    if (!(p->model_file = segcl_strdup(path))) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto error;
    }
    if (options)
        p->opt = *options;
    else
        segcl_predictor_default_options(&p->opt);
    if (p->opt.batch < 1)
        p->opt.batch = 1;
    if ((st = check_options(p)) || (st = read_config(p, path)) || (st = segcl_tile_check(p)) ||
        (st = segcl_model_create(ctx, &p->meta.model, &p->model)) ||
        (st = segcl_checkpoint_load(ctx, path, p->model, 0)) || (st = alloc_batch(p)))
        goto error;
    const int classes = p->meta.model.classes;
    default_palette(p->palette);
    p->palette_entries = classes > 1 ? classes : 2;
    if (p->opt.palette && classes > 1 &&
        (st = segcl_palette_load(ctx, p->opt.palette, classes, p->palette, &p->palette_entries)))
        goto error;
    if (p->opt.palette && classes == 1) {
        /* one class: masks hold 0/255, so the palette goes unused; a file that is missing or
         * wrong is still the error it would be for any other model */
        uint8_t unused[256 * 3];
        int entries;
        if ((st = segcl_palette_load(ctx, p->opt.palette, 1, unused, &entries)))
            goto error;
        segcl_warn(ctx, "%s: a one-class model's masks hold 0 and 255; the palette is not used",
                   p->opt.palette);
    }
    *out = p;
    return SEGCL_OK;
error:
    if (st == SEGCL_ERROR_OUT_OF_DEVICE_MEMORY) {
        char message[768];
        snprintf(message, sizeof message, "%s", segcl_context_error(ctx));
        segcl_fail_setting(ctx, "batch", st, "%s; try a smaller batch (%d now) or %s", message,
                           p->opt.batch, p->opt.tile ? "tile" : "size, or tiles (tile)");
    }
    segcl_predictor_destroy(p);
    return st;
}

segcl_status segcl_predictor_open(segcl_context *ctx, const char *path,
                                  const segcl_predictor_options *options, segcl_predictor **out)
{
    if (!ctx || !path || !out)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_predictor_open: NULL argument");
    *out = NULL;
    char *file;
    segcl_status st = segcl_model_file(ctx, path, &file);
    if (st)
        return st;
    st = open_file(ctx, file, options, out);
    segcl_free(file);
    return st;
}

void segcl_predictor_put(segcl_predictor *p, const segcl_image *img, size_t s)
{
    const size_t plane = (size_t)p->side * p->side;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            p->host_x[(s * 3 + c) * plane + i] =
                (img->pixels[i * 3 + c] / 255.0f - p->meta.mean[c]) / p->meta.std[c];
}

/* The same for an RGB image of any size, resized to S x S first. */
static segcl_status put_image(segcl_predictor *p, const segcl_image *img, size_t s)
{
    const int S = p->meta.size;
    segcl_image small;
    segcl_status st = segcl_image_resize(segcl_context_diag(p->ctx), img, S, S, false, &small);
    if (st)
        return st;
    segcl_predictor_put(p, &small, s);
    segcl_image_free(&small);
    return SEGCL_OK;
}

segcl_status segcl_predictor_run_batch(segcl_predictor *p, size_t n)
{
    const size_t per = (size_t)3 * p->side * p->side;
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

/* labels: foreground where sigmoid > threshold for one class, the argmax otherwise.
 * foreground: P(foreground), the sigmoid for one class, 1 - softmax of class 0 otherwise.
 * classes (several classes): the softmax, classes x height x width. */
void segcl_predictor_maps(const segcl_predictor *p, const float *logits, int lw, int lh, int width,
                          int height, uint8_t *labels, float *foreground, float *classes)
{
    const int C = p->meta.model.classes;
    const size_t plane = (size_t)lw * lh, out_plane = (size_t)width * height;
    const float logit_threshold = logf(p->opt.threshold / (1.0f - p->opt.threshold));
    float v[SEGCL_MAX_CLASSES];
    for (int y = 0; y < height; y++) {
        float sy = ((float)y + 0.5f) * lh / height - 0.5f;
        sy = sy < 0 ? 0 : sy;
        int y0 = (int)sy < lh - 1 ? (int)sy : lh - 1, y1 = y0 < lh - 1 ? y0 + 1 : y0;
        float ly = sy - y0;
        for (int x = 0; x < width; x++) {
            float sx = ((float)x + 0.5f) * lw / width - 0.5f;
            sx = sx < 0 ? 0 : sx;
            int x0 = (int)sx < lw - 1 ? (int)sx : lw - 1, x1 = x0 < lw - 1 ? x0 + 1 : x0;
            float lx = sx - x0;
            int best = 0;
            for (int c = 0; c < C; c++) {
                const float *L = logits + c * plane;
                v[c] = (1 - ly) * ((1 - lx) * L[y0 * lw + x0] + lx * L[y0 * lw + x1]) +
                       ly * ((1 - lx) * L[y1 * lw + x0] + lx * L[y1 * lw + x1]);
                if (C == 1)
                    best = v[0] > logit_threshold;
                else if (v[c] > v[best])
                    best = c;
            }
            const size_t i = (size_t)y * width + x;
            if (labels)
                labels[i] = (uint8_t)best;
            if (C == 1) {
                if (foreground)
                    foreground[i] = (float)(1.0 / (1.0 + exp(-(double)v[0])));
                continue;
            }
            if (!foreground && !classes)
                continue;
            double sum = 0;
            for (int c = 0; c < C; c++)
                sum += exp((double)v[c] - v[best]);
            if (foreground)
                foreground[i] = (float)(1.0 - exp((double)v[0] - v[best]) / sum);
            for (int c = 0; classes && c < C; c++)
                classes[c * out_plane + i] = (float)(exp((double)v[c] - v[best]) / sum);
        }
    }
}

/* An 8-bit RGB or RGBA buffer as an RGB image (alpha dropped): a view of the caller's pixels
 * when they are packed RGB already (*owned false), else a copy (*owned true). */
static segcl_status rgb_of(segcl_context *ctx, const segcl_pixels *px, segcl_image *out,
                           bool *owned)
{
    *owned = false;
    if (!px->data || px->width < 1 || px->height < 1 || (px->channels != 3 && px->channels != 4))
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "an image of %d x %d pixels with %d channels: give 8-bit RGB or RGBA "
                          "with a size of at least 1 x 1",
                          px->width, px->height, px->channels);
    const size_t row = (size_t)px->width * px->channels;
    const size_t stride = px->stride ? px->stride : row;
    if (stride < row)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "a row stride of %zu bytes is shorter than a row (%zu)", stride, row);
    const uint64_t max_pixels = segcl_diag_max_pixels(segcl_context_diag(ctx));
    if ((uint64_t)px->width * (uint64_t)px->height > max_pixels)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "an image of %d x %d pixels is over the limit of %llu pixels", px->width,
                          px->height, (unsigned long long)max_pixels);
    if (px->channels == 3 && stride == row) {
        *out = (segcl_image){px->width, px->height, 3, (uint8_t *)px->data};
        return SEGCL_OK;
    }
    segcl_status st = segcl_image_alloc(segcl_context_diag(ctx), px->width, px->height, 3, out);
    *owned = st == SEGCL_OK;
    for (int y = 0; y < px->height && !st; y++) {
        const uint8_t *src = px->data + (size_t)y * stride;
        uint8_t *dst = out->pixels + (size_t)y * px->width * 3;
        for (int x = 0; x < px->width; x++)
            memcpy(dst + 3 * x, src + (size_t)x * px->channels, 3);
    }
    return st;
}

segcl_status segcl_predict_pixels(segcl_predictor *p, const segcl_pixels *images, size_t count,
                                  const segcl_prediction_maps *maps)
{
    if (!p || (!images && count) || (!maps && count))
        return segcl_fail(p ? p->ctx : NULL, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_predict_pixels: NULL argument");
    const size_t B = (size_t)p->opt.batch;
    segcl_status st = SEGCL_OK;
    for (size_t k = 0; p->opt.tile && k < count && !st; k++) {
        segcl_image rgb;
        bool owned;
        if ((st = rgb_of(p->ctx, &images[k], &rgb, &owned)))
            break;
        st = segcl_predict_tiled(p, &rgb, &maps[k]);
        if (owned)
            segcl_image_free(&rgb);
    }
    for (size_t first = 0; !p->opt.tile && first < count && !st; first += B) {
        const size_t take = count - first < B ? count - first : B;
        for (size_t s = 0; s < take && !st; s++) {
            segcl_image rgb;
            bool owned;
            if ((st = rgb_of(p->ctx, &images[first + s], &rgb, &owned)))
                break;
            st = put_image(p, &rgb, s);
            if (owned)
                segcl_image_free(&rgb);
        }
        if (!st)
            st = segcl_predictor_run_batch(p, take);
        const int S = p->side, C = p->meta.model.classes;
        for (size_t s = 0; s < take && !st; s++) {
            const segcl_prediction_maps *m = &maps[first + s];
            segcl_predictor_maps(p, p->host_logits + s * C * S * S, S, S, images[first + s].width,
                                 images[first + s].height, m->labels, m->foreground,
                                 C > 1 ? m->classes : NULL);
        }
    }
    return st;
}

int segcl_predictor_classes(const segcl_predictor *p)
{
    return p ? p->meta.model.classes : 0;
}

segcl_status segcl_evaluate(segcl_predictor *p, const segcl_dataset *ds, segcl_eval_result *res)
{
    if (!p || !ds || !res)
        return segcl_fail(p ? p->ctx : NULL, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_evaluate: NULL argument");
    segcl_context *ctx = p->ctx;
    memset(res, 0, sizeof *res);
    if (p->opt.tile)
        return segcl_fail_setting(ctx, "tile", SEGCL_ERROR_INVALID_ARGUMENT,
                                  "evaluation runs at the network's input size, not in tiles: "
                                  "open the predictor without tiling");
    res->images = segcl_calloc(ds->count ? ds->count : 1, sizeof *res->images);
    if (!res->images)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    const size_t B = (size_t)p->opt.batch;
    const int S = p->meta.size, C = p->meta.model.classes, K = C == 1 ? 2 : C;
    const size_t plane = (size_t)S * S;
    uint8_t *labels = segcl_malloc(plane), *targets = segcl_malloc(B * plane);
    segcl_status st = labels && targets
                          ? SEGCL_OK
                          : segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    size_t defined = 0;
    for (size_t first = 0; first < ds->count && !st; first += B) {
        size_t take = ds->count - first < B ? ds->count - first : B;
        for (size_t s = 0; s < take && !st; s++) {
            segcl_image img, mask;
            segcl_mask_info info;
            if ((st = segcl_sample_load(segcl_context_diag(ctx), &ds->items[first + s], S, C, &img,
                                        &mask, &info)))
                break;
            segcl_predictor_put(p, &img, s);
            for (size_t i = 0; i < plane; i++)
                targets[s * plane + i] = C == 1 ? mask.pixels[i] > 127 : mask.pixels[i];
            segcl_image_free(&img);
            segcl_image_free(&mask);
        }
        if (!st)
            st = segcl_predictor_run_batch(p, take);
        for (size_t s = 0; s < take && !st; s++) {
            uint64_t counts[SEGCL_MAX_CLASSES * SEGCL_MAX_CLASSES] = {0};
            segcl_predictor_maps(p, p->host_logits + s * C * plane, S, S, S, S, labels, NULL, NULL);
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
            /* images without foreground have no Dice: means are over those that have one */
            if (sc.defined_classes) {
                res->dice += sc.dice;
                res->iou += sc.iou;
                defined++;
            }
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
    res->undefined = res->count - defined;
    res->dice = defined ? res->dice / (double)defined : NAN;
    res->iou = defined ? res->iou / (double)defined : NAN;
    res->pixel_accuracy = res->count ? res->pixel_accuracy / (double)res->count : NAN;
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
