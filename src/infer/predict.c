/*
 * Inference: open a checkpoint (segcl's, or a PyTorch state_dict in safetensors with the arch
 * given), segment image files in batches, write masks at the input's size, overlays and raw
 * logits; and evaluate a dataset with per-image Dice, IoU and pixel accuracy.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data.h"
#include "io/checkpoint.h"
#include "picture/picture.h"
#include "model/model.h"
#include "train/run_folder.h"
#include "settings/run_config.h"

struct segcl_predictor {
    segcl_context *ctx;
    segcl_model *model;
    segcl_run_config meta;
    segcl_predictor_options opt;
    segcl_tensor *x;
    float *host_x, *host_logits;
    uint8_t palette[256 * 3]; /* colours of multi-class masks, by class */
    int palette_entries;
    segcl_background background; /* of composites */
};

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

/* A palette file: one colour per line, "#RRGGBB" or "R G B"; blank lines and lines starting
 * with '#' and a space or nothing else are skipped. At least `classes` colours, not all gray
 * (a gray palette would read back as gray levels, not classes). */
static segcl_status load_palette(segcl_context *ctx, const char *path, int classes, uint8_t *pal,
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
        unsigned r, g, b;
        int used = 0;
        bool ok = line[0] == '#' ? l == 7 && sscanf(line + 1, "%2x%2x%2x%n", &r, &g, &b, &used) == 3 &&
                                       used == 6
                                 : sscanf(line, "%u %u %u %n", &r, &g, &b, &used) == 3 &&
                                       (size_t)used == l && r < 256 && g < 256 && b < 256;
        if (!ok)
            st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                            "%s:%d: '%s' is not a colour (#RRGGBB or R G B, 0..255)", path,
                            line_no, line);
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
    else if (!st && !colour)
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
    segcl_free(p);
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
    if (options)
        p->opt = *options;
    else
        segcl_predictor_default_options(&p->opt);
    if (p->opt.batch < 1)
        p->opt.batch = 1;
    if (!(p->opt.threshold > 0 && p->opt.threshold < 1)) {
        st = segcl_fail_setting(ctx, "threshold", SEGCL_ERROR_INVALID_ARGUMENT,
                                "threshold %g must lie strictly between 0 and 1",
                                (double)p->opt.threshold);
        goto error;
    }
    if (!(p->opt.feather >= 0 && p->opt.feather <= 1000)) {
        st = segcl_fail_setting(ctx, "feather", SEGCL_ERROR_INVALID_ARGUMENT,
                                "feather %g must be a number of pixels in [0, 1000]",
                                (double)p->opt.feather);
        goto error;
    }
    if (p->opt.min_area < 0) {
        st = segcl_fail_setting(ctx, "min_area", SEGCL_ERROR_INVALID_ARGUMENT,
                                "the minimum instance area must be >= 0");
        goto error;
    }
    if (p->opt.overlay < SEGCL_OVERLAY_FILL || p->opt.overlay > SEGCL_OVERLAY_NONE) {
        st = segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "unknown overlay style %d",
                        (int)p->opt.overlay);
        goto error;
    }
    if (p->opt.background && (st = segcl_background_parse(segcl_context_diag(ctx), p->opt.background, &p->background)))
        goto error;
    if ((st = segcl_run_config_read(ctx, path, &p->meta)))
        goto error;
    segcl_model_config *cfg = &p->meta.model;
    if (!p->meta.from_segcl && !p->opt.arch) {
        st = segcl_fail_setting(ctx, "arch", SEGCL_ERROR_INVALID_ARGUMENT,
                                "%s has no segcl metadata (a PyTorch export?): give its arch, "
                                "unet or segnet (and its classes, width and depth if not the "
                                "defaults)",
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
        (st = segcl_checkpoint_load(ctx, path, p->model, false)))
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
    default_palette(p->palette);
    p->palette_entries = cfg->classes > 1 ? cfg->classes : 2;
    if (p->opt.palette && cfg->classes > 1 &&
        (st = load_palette(ctx, p->opt.palette, cfg->classes, p->palette, &p->palette_entries)))
        goto error;
    *out = p;
    return SEGCL_OK;
error:
    if (st == SEGCL_ERROR_OUT_OF_DEVICE_MEMORY) {
        char message[768];
        snprintf(message, sizeof message, "%s", segcl_context_error(ctx));
        segcl_fail_setting(ctx, "batch", st, "%s; try a smaller batch (%d now) or size", message,
                           p->opt.batch);
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

/* Normalised planar floats of an RGB image already S x S, into slot s of host_x. */
static segcl_status put_resized(segcl_predictor *p, const segcl_image *small, size_t s)
{
    const int S = p->meta.size;
    size_t plane = (size_t)S * S;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            p->host_x[(s * 3 + c) * plane + i] =
                (small->pixels[i * 3 + c] / 255.0f - p->meta.mean[c]) / p->meta.std[c];
    return SEGCL_OK;
}

/* The same for an RGB image of any size, resized to S x S first. */
static segcl_status put_image(segcl_predictor *p, const segcl_image *img, size_t s)
{
    const int S = p->meta.size;
    segcl_image small;
    segcl_status st = segcl_image_resize(segcl_context_diag(p->ctx), img, S, S, false, &small);
    if (st)
        return st;
    st = put_resized(p, &small, s);
    segcl_image_free(&small);
    return st;
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

/* Maps at width x height from image s's logits, resized bilinearly (half-pixel centres); each
 * output may be NULL. labels: foreground where sigmoid > threshold for one class, the argmax
 * otherwise. foreground: P(foreground), the sigmoid for one class, 1 - softmax of class 0
 * otherwise. classes (several classes): the softmax, classes x height x width. */
static void maps_at(const segcl_predictor *p, size_t s, int width, int height, uint8_t *labels,
                    float *foreground, float *classes)
{
    const int S = p->meta.size, C = p->meta.model.classes;
    const size_t plane = (size_t)S * S, out_plane = (size_t)width * height;
    const float logit_threshold = logf(p->opt.threshold / (1.0f - p->opt.threshold));
    float v[SEGCL_MAX_CLASSES];
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
            for (int c = 0; c < C; c++) {
                const float *L = p->host_logits + (s * C + c) * plane;
                v[c] = (1 - ly) * ((1 - lx) * L[y0 * S + x0] + lx * L[y0 * S + x1]) +
                       ly * ((1 - lx) * L[y1 * S + x0] + lx * L[y1 * S + x1]);
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
                          "an image of %d x %d pixels is over the limit of %llu pixels",
                          px->width, px->height, (unsigned long long)max_pixels);
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
    for (size_t first = 0; first < count && !st; first += B) {
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
            st = run_batch(p, take);
        for (size_t s = 0; s < take && !st; s++) {
            const segcl_prediction_maps *m = &maps[first + s];
            maps_at(p, s, images[first + s].width, images[first + s].height, m->labels,
                    m->foreground, p->meta.model.classes > 1 ? m->classes : NULL);
        }
    }
    return st;
}

int segcl_predictor_classes(const segcl_predictor *p)
{
    return p ? p->meta.model.classes : 0;
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

/* Names segcl writes next to its outputs; a folder that is also the output folder has them
 * left out, so a second run never reads the first one's outputs as photos. */
static bool is_output_name(const char *name)
{
    static const char *const suffixes[] = {"_mask.png",    "_overlay.jpg",    "_cutout.png",
                                           "_composite.jpg", "_instances.png"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && !strcmp(name + n - k, suffixes[i]))
            return true;
    }
    return false;
}

static bool same_folder(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Expands folders into their image files (sorted), listed before anything is written; files
 * are taken as given. */
static segcl_status expand_inputs(segcl_context *ctx, const char *const *inputs, size_t count,
                                  const char *out_dir, char ***files, size_t *nfiles)
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
            if ((st = segcl_list_dir(segcl_context_diag(ctx), inputs[i], false, &names, &nn)))
                break;
            const bool is_out = same_folder(inputs[i], out_dir);
            for (size_t k = 0; k < nn && !st; k++) {
                if (!segcl_image_file_name(names[k]) || (is_out && is_output_name(names[k])))
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

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static size_t stem_len(const char *base)
{
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? (size_t)(dot - base) : strlen(base);
}

/* Output name stems that never collide: the file's stem; for stems two inputs share (a.jpg and
 * a.png), the name with its extension (a_jpg, a_png); and for names that still collide (the
 * same name in two folders) a number, in input order. */
static segcl_status output_stems(segcl_context *ctx, char **files, size_t n, char ***out)
{
    char **stems = segcl_calloc(n, sizeof *stems);
    if (!stems)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; i++) {
        const char *b = base_of(files[i]);
        size_t sl = stem_len(b);
        bool shared = false;
        for (size_t j = 0; j < n && !shared; j++) {
            const char *o = base_of(files[j]);
            shared = j != i && stem_len(o) == sl && !strncmp(o, b, sl);
        }
        char name[300];
        if (shared) {
            snprintf(name, sizeof name, "%s", b);
            char *dot = strrchr(name, '.');
            if (dot && dot != name)
                *dot = '_';
        } else {
            snprintf(name, sizeof name, "%.*s", (int)(sl < 250 ? sl : 250), b);
        }
        char unique[320];
        snprintf(unique, sizeof unique, "%s", name);
        for (int k = 2;; k++) {
            bool taken = false;
            for (size_t j = 0; j < i && !taken; j++)
                taken = !strcmp(stems[j], unique);
            if (!taken)
                break;
            snprintf(unique, sizeof unique, "%s-%d", name, k);
        }
        if (!(stems[i] = segcl_strdup(unique))) {
            segcl_free_names(stems, n);
            return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
    }
    *out = stems;
    return SEGCL_OK;
}

/* Paths of one input's outputs (empty when not written). */
typedef struct output_paths {
    char mask[1400], overlay[1400], cutout[1400], composite[1400], instances_png[1400],
        instances_json[1400], logits[1400];
} output_paths;

/* <stem>_instances.json: the photo's size, the settings, and each instance. */
static segcl_status write_instances_json(segcl_context *ctx, const char *path, const char *input,
                                         int width, int height, uint64_t min_area,
                                         const segcl_instance *in, size_t count)
{
    json_t *root = json_object(), *list = json_array();
    bool ok = root && list &&
              json_object_set_new(root, "input", json_string(input)) == 0 &&
              json_object_set_new(root, "width", json_integer(width)) == 0 &&
              json_object_set_new(root, "height", json_integer(height)) == 0 &&
              json_object_set_new(root, "connectivity", json_integer(8)) == 0 &&
              json_object_set_new(root, "min_area", json_integer((json_int_t)min_area)) == 0 &&
              json_object_set_new(root, "count", json_integer((json_int_t)count)) == 0;
    for (size_t k = 0; k < count && ok; k++) {
        char colour[8];
        snprintf(colour, sizeof colour, "#%02x%02x%02x", in[k].rgb[0], in[k].rgb[1], in[k].rgb[2]);
        json_t *e = json_object(), *box = json_object(), *centre = json_array();
        ok = e && box && centre &&
             json_object_set_new(e, "id", json_integer((json_int_t)k + 1)) == 0 &&
             json_object_set_new(e, "class", json_integer(in[k].label)) == 0 &&
             json_object_set_new(e, "area", json_integer((json_int_t)in[k].area)) == 0 &&
             json_object_set_new(box, "x", json_integer(in[k].x0)) == 0 &&
             json_object_set_new(box, "y", json_integer(in[k].y0)) == 0 &&
             json_object_set_new(box, "width", json_integer(in[k].x1 - in[k].x0 + 1)) == 0 &&
             json_object_set_new(box, "height", json_integer(in[k].y1 - in[k].y0 + 1)) == 0 &&
             json_object_set(e, "bbox", box) == 0 &&
             json_array_append_new(centre, json_real(round(in[k].cx * 100) / 100)) == 0 &&
             json_array_append_new(centre, json_real(round(in[k].cy * 100) / 100)) == 0 &&
             json_object_set(e, "centroid", centre) == 0 &&
             json_object_set_new(e, "colour", json_string(colour)) == 0 &&
             json_array_append(list, e) == 0;
        json_decref(e);
        json_decref(box);
        json_decref(centre);
    }
    ok = ok && json_object_set(root, "instances", list) == 0;
    segcl_status st = ok ? segcl_json_write_file(segcl_context_diag(ctx), path, root)
                         : segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                                      "out of host memory writing %s", path);
    json_decref(list);
    json_decref(root);
    return st;
}

/* The instances of labels: picture and JSON; *count found. */
static segcl_status write_instances(segcl_predictor *p, const segcl_image *photo,
                                    const uint8_t *labels, const char *input,
                                    const output_paths *out, long *count)
{
    segcl_context *ctx = p->ctx;
    const int w = photo->width, h = photo->height;
    uint32_t *ids = segcl_malloc((size_t)w * h * sizeof *ids);
    if (!ids)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    segcl_instance *in = NULL;
    size_t n = 0;
    segcl_image picture = {0};
    segcl_status st = segcl_find_instances(segcl_context_diag(ctx), labels, w, h, (uint64_t)p->opt.min_area, ids,
                                           &in, &n);
    if (!st && !(st = segcl_instances_image(segcl_context_diag(ctx), ids, w, h, in, &picture)))
        st = segcl_image_save_png(segcl_context_diag(ctx), out->instances_png, &picture);
    if (!st)
        st = write_instances_json(ctx, out->instances_json, input, w, h,
                                  (uint64_t)p->opt.min_area, in, n);
    if (!st)
        *count = (long)n;
    segcl_image_free(&picture);
    segcl_free(in);
    segcl_free(ids);
    return st;
}

/* Writes the outputs of image s of the batch; result gets their paths. The labels of `maps`
 * are used up (a one-class mask file holds 0/255). */
static segcl_status write_outputs(segcl_predictor *p, size_t s, const segcl_image *photo,
                                  const segcl_prediction_maps *maps, const char *input,
                                  const char *out_dir, const char *stem, bool save_logits,
                                  output_paths *out, segcl_prediction *result)
{
    segcl_context *ctx = p->ctx;
    const size_t C = (size_t)p->meta.model.classes;
    const int S = p->meta.size, w = photo->width, h = photo->height;
    const bool want_alpha = p->opt.cutout || p->background.kind != SEGCL_BACKGROUND_NONE;
    memset(out, 0, sizeof *out);
    *result = (segcl_prediction){.input = input, .mask = out->mask, .instances = -1};
    snprintf(out->mask, sizeof out->mask, "%s/%s_mask.png", out_dir, stem);
    /* the labels themselves: turned into 0/255 in place last, for a one-class mask file */
    segcl_image mask = {w, h, 1, maps->labels}, picture = {0};
    uint8_t *alpha = NULL;
    segcl_status st = SEGCL_OK;
    if (want_alpha && !(alpha = segcl_malloc((size_t)w * h))) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    for (size_t i = 0; alpha && i < (size_t)w * h; i++)
        alpha[i] = (uint8_t)lroundf(maps->foreground[i] * 255.0f);
    if (p->opt.overlay != SEGCL_OVERLAY_NONE) {
        snprintf(out->overlay, sizeof out->overlay, "%s/%s_overlay.jpg", out_dir, stem);
        if ((st = segcl_overlay(segcl_context_diag(ctx), photo, mask.pixels, p->opt.overlay, &picture)) ||
            (st = segcl_image_save_jpeg(segcl_context_diag(ctx), out->overlay, &picture, 90)))
            goto done;
        segcl_image_free(&picture);
        result->overlay = out->overlay;
    }
    if (p->opt.instances) {
        snprintf(out->instances_png, sizeof out->instances_png, "%s/%s_instances.png", out_dir,
                 stem);
        snprintf(out->instances_json, sizeof out->instances_json, "%s/%s_instances.json",
                 out_dir, stem);
        if ((st = write_instances(p, photo, mask.pixels, input, out, &result->instances)))
            goto done;
        result->instances_png = out->instances_png;
        result->instances_json = out->instances_json;
    }
    if (alpha && (st = segcl_blur_plane(segcl_context_diag(ctx), alpha, w, h, p->opt.feather)))
        goto done;
    if (p->opt.cutout) {
        snprintf(out->cutout, sizeof out->cutout, "%s/%s_cutout.png", out_dir, stem);
        if ((st = segcl_cutout(segcl_context_diag(ctx), photo, alpha, &picture)) ||
            (st = segcl_image_save_png(segcl_context_diag(ctx), out->cutout, &picture)))
            goto done;
        segcl_image_free(&picture);
        result->cutout = out->cutout;
    }
    if (p->background.kind != SEGCL_BACKGROUND_NONE) {
        snprintf(out->composite, sizeof out->composite, "%s/%s_composite.jpg", out_dir, stem);
        if ((st = segcl_composite(segcl_context_diag(ctx), photo, alpha, &p->background, &picture)) ||
            (st = segcl_image_save_jpeg(segcl_context_diag(ctx), out->composite, &picture, 92)))
            goto done;
        segcl_image_free(&picture);
        result->composite = out->composite;
    }
    if (C == 1) {
        for (size_t i = 0; i < (size_t)w * h; i++)
            mask.pixels[i] = mask.pixels[i] ? 255 : 0;
        st = segcl_image_save_png(segcl_context_diag(ctx), out->mask, &mask);
    } else {
        /* class indices as pixel values, coloured for viewers */
        st = segcl_image_save_png_palette(segcl_context_diag(ctx), out->mask, &mask, p->palette,
                                          p->palette_entries);
    }
    if (!st && save_logits) {
        snprintf(out->logits, sizeof out->logits, "%s/%s_logits.npy", out_dir, stem);
        st = write_npy(ctx, out->logits, p->host_logits + s * C * S * S, (int)C, S);
    }
done:
    segcl_image_free(&picture);
    segcl_free(alpha);
    return st;
}

segcl_status segcl_predict_files(segcl_predictor *p, const char *const *inputs, size_t count,
                                 const char *out_dir, bool save_logits, segcl_predict_fn done,
                                 void *user)
{
    if (!p || !inputs || !out_dir)
        return segcl_fail(p ? p->ctx : NULL, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_predict_files: NULL argument");
    segcl_context *ctx = p->ctx;
    char **files = NULL, **stems = NULL;
    size_t n = 0, failed = 0, written = 0;
    segcl_image *photos = NULL;
    size_t *slot_file = NULL;
    output_paths *paths = NULL;
    segcl_pixels *pixels = NULL;
    segcl_prediction_maps *maps = NULL;
    segcl_status st = expand_inputs(ctx, inputs, count, out_dir, &files, &n);
    if (st)
        return st;
    const size_t B = (size_t)p->opt.batch;
    if ((st = output_stems(ctx, files, n, &stems)) ||
        (st = segcl_make_dirs(segcl_context_diag(ctx), out_dir)))
        goto done;
    photos = segcl_calloc(B, sizeof *photos);
    slot_file = segcl_calloc(B, sizeof *slot_file);
    paths = segcl_malloc(sizeof *paths);
    pixels = segcl_calloc(B, sizeof *pixels);
    maps = segcl_calloc(B, sizeof *maps);
    if (!photos || !slot_file || !paths || !pixels || !maps) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    const bool want_alpha = p->opt.cutout || p->background.kind != SEGCL_BACKGROUND_NONE;
    size_t next = 0;
    while (next < n && !st) {
        /* fill a batch with images that decode; one that does not is a warning, not the end */
        size_t take = 0;
        while (take < B && next < n && !st) {
            segcl_status rs =
                segcl_image_load(segcl_context_diag(ctx), files[next], 3, &photos[take]);
            if (n > 1 && (rs == SEGCL_ERROR_FORMAT || rs == SEGCL_ERROR_IO)) {
                segcl_warn(ctx, "skipped %s", segcl_context_error(ctx));
                failed++;
            } else if (rs) {
                st = rs;
            } else {
                const segcl_image *ph = &photos[take];
                const size_t np = (size_t)ph->width * ph->height;
                pixels[take] = (segcl_pixels){ph->pixels, ph->width, ph->height, 3, 0};
                maps[take].labels = segcl_malloc(np);
                maps[take].foreground = want_alpha ? segcl_malloc(np * sizeof(float)) : NULL;
                slot_file[take++] = next;
                if (!maps[take - 1].labels || (want_alpha && !maps[take - 1].foreground))
                    st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            }
            next++;
        }
        /* the library's in-memory call, as every other program uses it */
        if (!st && take)
            st = segcl_predict_pixels(p, pixels, take, maps);
        for (size_t s = 0; s < take && !st; s++) {
            segcl_prediction result;
            st = write_outputs(p, s, &photos[s], &maps[s], files[slot_file[s]], out_dir,
                               stems[slot_file[s]], save_logits, paths, &result);
            if (!st) {
                written++;
                if (done)
                    done(&result, user);
            }
        }
        for (size_t s = 0; s < take; s++) {
            segcl_image_free(&photos[s]);
            segcl_free(maps[s].labels);
            segcl_free(maps[s].foreground);
            maps[s] = (segcl_prediction_maps){0};
        }
    }
    if (!st && failed)
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                        "%zu of %zu inputs could not be read (warnings above); %zu segmented",
                        failed, n, written);
done:
    segcl_free(pixels);
    segcl_free(maps);
    segcl_free(paths);
    segcl_free(photos);
    segcl_free(slot_file);
    segcl_free_names(stems, stems ? n : 0);
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
    size_t defined = 0;
    for (size_t first = 0; first < ds->count && !st; first += B) {
        size_t take = ds->count - first < B ? ds->count - first : B;
        for (size_t s = 0; s < take && !st; s++) {
            segcl_image img, mask;
            segcl_mask_info info;
            if ((st = segcl_sample_load(segcl_context_diag(ctx), &ds->items[first + s], S, C, &img,
                                        &mask, &info)))
                break;
            st = put_resized(p, &img, s);
            for (size_t i = 0; i < plane; i++)
                targets[s * plane + i] = C == 1 ? mask.pixels[i] > 127 : mask.pixels[i];
            segcl_image_free(&img);
            segcl_image_free(&mask);
        }
        if (!st)
            st = run_batch(p, take);
        for (size_t s = 0; s < take && !st; s++) {
            uint64_t counts[SEGCL_MAX_CLASSES * SEGCL_MAX_CLASSES] = {0};
            maps_at(p, s, S, S, labels, NULL, NULL);
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
