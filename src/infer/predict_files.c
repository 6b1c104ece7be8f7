/*
 * Prediction from image files: folders expanded into their images, output names that never
 * collide, and each image's lab outputs (mask, overlay, cut-out, composite, instances, logits),
 * written batch by batch from segcl_predict_pixels (predict.c).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "infer/predictor.h"
#include "train/run_folder.h"

/* data: (c, h, w) float32 as a .npy file. */
static segcl_status write_npy(segcl_context *ctx, const char *path, const float *data, int c, int h,
                              int w)
{
    /* beside path, renamed over it: a symlink planted at an output's name is never followed */
    segcl_file file;
    FILE *f;
    segcl_status st = segcl_file_begin_stream(segcl_context_diag(ctx), path, &file, &f);
    if (st)
        return st;
    char header[128];
    int n = snprintf(header, sizeof header,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d), }", c, h, w);
    /* magic (6) + version (2) + length (2) + header padded with spaces and a newline to 64 */
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    uint16_t hlen = (uint16_t)(n + pad + 1);
    bool ok = fwrite("\x93NUMPY\x01\x00", 1, 8, f) == 8 && fputc(hlen & 0xff, f) != EOF &&
              fputc(hlen >> 8, f) != EOF && fwrite(header, 1, (size_t)n, f) == (size_t)n;
    for (int i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t count = (size_t)c * h * w;
    ok = ok && fwrite(data, sizeof(float), count, f) == count;
    if (!ok)
        st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    return segcl_file_end_stream(segcl_context_diag(ctx), &file, f, st);
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
    static const char *const suffixes[] = {"_mask.png", "_overlay.jpg", "_cutout.png",
                                           "_composite.jpg", "_instances.png"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && !strcmp(name + n - k, suffixes[i]))
            return true;
    }
    return false;
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
            const bool is_out = segcl_same_file(inputs[i], out_dir);
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
        const char *b = segcl_base_name(files[i]);
        size_t sl = stem_len(b);
        bool shared = false;
        for (size_t j = 0; j < n && !shared; j++) {
            const char *o = segcl_base_name(files[j]);
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
    bool ok = root && list && json_object_set_new(root, "input", json_string(input)) == 0 &&
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
    segcl_status st =
        ok ? segcl_json_write_file(segcl_context_diag(ctx), path, root)
           : segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory writing %s", path);
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
    segcl_status st = segcl_find_instances(segcl_context_diag(ctx), labels, w, h,
                                           (uint64_t)p->opt.min_area, ids, &in, &n);
    if (!st && !(st = segcl_instances_image(segcl_context_diag(ctx), ids, w, h, in, &picture)))
        st = segcl_image_save_png(segcl_context_diag(ctx), out->instances_png, &picture);
    if (!st)
        st = write_instances_json(ctx, out->instances_json, input, w, h, (uint64_t)p->opt.min_area,
                                  in, n);
    if (!st)
        *count = (long)n;
    segcl_image_free(&picture);
    segcl_free(in);
    segcl_free(ids);
    return st;
}

/* An output must not be one of the files of the model's run (or of a run it lands in). */
static segcl_status guard(segcl_predictor *p, const char *path)
{
    return segcl_run_output_check(p->ctx, path, p->model_file);
}

/* <stem>_logits.npy of image s of the batch: the network's output, or tiled, the blended
 * logits of the one image segcl_predict_pixels last ran. */
static segcl_status write_logits(segcl_predictor *p, size_t s, const char *out_dir,
                                 const char *stem, output_paths *out)
{
    const size_t C = (size_t)p->meta.model.classes;
    const int S = p->side;
    snprintf(out->logits, sizeof out->logits, "%s/%s_logits.npy", out_dir, stem);
    segcl_status st = guard(p, out->logits);
    if (st)
        return st;
    if (p->opt.tile)
        return write_npy(p->ctx, out->logits, p->tiled_logits, (int)C, p->tiled_h, p->tiled_w);
    return write_npy(p->ctx, out->logits, p->host_logits + s * C * S * S, (int)C, S, S);
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
    const int w = photo->width, h = photo->height;
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
        if ((st = guard(p, out->overlay)) ||
            (st = segcl_overlay(segcl_context_diag(ctx), photo, mask.pixels, p->opt.overlay,
                                &picture)) ||
            (st = segcl_image_save_jpeg(segcl_context_diag(ctx), out->overlay, &picture, 90)))
            goto done;
        segcl_image_free(&picture);
        result->overlay = out->overlay;
    }
    if (p->opt.instances) {
        snprintf(out->instances_png, sizeof out->instances_png, "%s/%s_instances.png", out_dir,
                 stem);
        snprintf(out->instances_json, sizeof out->instances_json, "%s/%s_instances.json", out_dir,
                 stem);
        if ((st = guard(p, out->instances_png)) || (st = guard(p, out->instances_json)) ||
            (st = write_instances(p, photo, mask.pixels, input, out, &result->instances)))
            goto done;
        result->instances_png = out->instances_png;
        result->instances_json = out->instances_json;
    }
    if (alpha && (st = segcl_blur_plane(segcl_context_diag(ctx), alpha, w, h, p->opt.feather)))
        goto done;
    if (p->opt.cutout) {
        snprintf(out->cutout, sizeof out->cutout, "%s/%s_cutout.png", out_dir, stem);
        if ((st = guard(p, out->cutout)) ||
            (st = segcl_cutout(segcl_context_diag(ctx), photo, alpha, &picture)) ||
            (st = segcl_image_save_png(segcl_context_diag(ctx), out->cutout, &picture)))
            goto done;
        segcl_image_free(&picture);
        result->cutout = out->cutout;
    }
    if (p->background.kind != SEGCL_BACKGROUND_NONE) {
        snprintf(out->composite, sizeof out->composite, "%s/%s_composite.jpg", out_dir, stem);
        if ((st = guard(p, out->composite)) ||
            (st = segcl_composite(segcl_context_diag(ctx), photo, alpha, &p->background,
                                  &picture)) ||
            (st = segcl_image_save_jpeg(segcl_context_diag(ctx), out->composite, &picture, 92)))
            goto done;
        segcl_image_free(&picture);
        result->composite = out->composite;
    }
    if ((st = guard(p, out->mask)))
        goto done;
    if (C == 1) {
        for (size_t i = 0; i < (size_t)w * h; i++)
            mask.pixels[i] = mask.pixels[i] ? 255 : 0;
        st = segcl_image_save_png(segcl_context_diag(ctx), out->mask, &mask);
    } else {
        /* class indices as pixel values, coloured for viewers */
        st = segcl_image_save_png_palette(segcl_context_diag(ctx), out->mask, &mask, p->palette,
                                          p->palette_entries);
    }
    if (!st && save_logits)
        st = write_logits(p, s, out_dir, stem, out);
done:
    segcl_image_free(&picture);
    segcl_free(alpha);
    return st;
}

/* One batch of decoded files: slot s holds the photo of files[file[s]], a view of its pixels,
 * and the maps segcl_predict_pixels fills; take slots are in use. */
typedef struct file_batch {
    segcl_image *photos;
    size_t *file;
    segcl_pixels *pixels;
    segcl_prediction_maps *maps;
    size_t take;
} file_batch;

/* Fills b with the next files from *next that decode, up to a batch (one file when tiling:
 * its tiles fill the batch); one that does not is a warning (counted in *failed) when there
 * are several files, not the end. */
static segcl_status fill_batch(segcl_predictor *p, char **files, size_t n, size_t *next,
                               file_batch *b, size_t *failed)
{
    segcl_context *ctx = p->ctx;
    const size_t B = p->opt.tile ? 1 : (size_t)p->opt.batch;
    const bool want_alpha = p->opt.cutout || p->background.kind != SEGCL_BACKGROUND_NONE;
    segcl_status st = SEGCL_OK;
    b->take = 0;
    while (b->take < B && *next < n && !st) {
        segcl_image *ph = &b->photos[b->take];
        segcl_status rs = segcl_image_load(segcl_context_diag(ctx), files[*next], 3, ph);
        if (n > 1 && (rs == SEGCL_ERROR_FORMAT || rs == SEGCL_ERROR_IO)) {
            segcl_warn_setting(ctx, segcl_context_error_setting(ctx), "skipped %s",
                               segcl_context_error(ctx));
            (*failed)++;
        } else if (rs) {
            st = rs;
        } else {
            const size_t np = (size_t)ph->width * ph->height;
            segcl_prediction_maps *m = &b->maps[b->take];
            b->pixels[b->take] = (segcl_pixels){ph->pixels, ph->width, ph->height, 3, 0};
            m->labels = segcl_malloc(np);
            m->foreground = want_alpha ? segcl_malloc(np * sizeof(float)) : NULL;
            b->file[b->take++] = *next;
            if (!m->labels || (want_alpha && !m->foreground))
                st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        (*next)++;
    }
    return st;
}

/* Frees what the slots in use hold, ready for the next batch. */
static void empty_batch(file_batch *b)
{
    for (size_t s = 0; s < b->take; s++) {
        segcl_image_free(&b->photos[s]);
        segcl_free(b->maps[s].labels);
        segcl_free(b->maps[s].foreground);
        b->maps[s] = (segcl_prediction_maps){0};
    }
    b->take = 0;
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
    file_batch b = {0};
    output_paths *paths = NULL;
    segcl_status st = expand_inputs(ctx, inputs, count, out_dir, &files, &n);
    if (st)
        return st;
    const size_t B = (size_t)p->opt.batch;
    if ((st = output_stems(ctx, files, n, &stems)) ||
        (st = segcl_make_dirs(segcl_context_diag(ctx), out_dir)))
        goto done;
    b.photos = segcl_calloc(B, sizeof *b.photos);
    b.file = segcl_calloc(B, sizeof *b.file);
    paths = segcl_malloc(sizeof *paths);
    b.pixels = segcl_calloc(B, sizeof *b.pixels);
    b.maps = segcl_calloc(B, sizeof *b.maps);
    if (!b.photos || !b.file || !paths || !b.pixels || !b.maps) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    for (size_t next = 0; next < n && !st;) {
        st = fill_batch(p, files, n, &next, &b, &failed);
        /* the library's in-memory call, as every other program uses it */
        if (!st && b.take)
            st = segcl_predict_pixels(p, b.pixels, b.take, b.maps);
        for (size_t s = 0; s < b.take && !st; s++) {
            segcl_prediction result;
            const char *input = files[b.file[s]];
            st = write_outputs(p, s, &b.photos[s], &b.maps[s], input, out_dir, stems[b.file[s]],
                               save_logits, paths, &result);
            if (!st) {
                written++;
                if (done)
                    done(&result, user);
            } else if (n > 1 && st == SEGCL_ERROR_FORMAT) {
                /* what this input cannot give (a picture past JPEG's size limit, a background
                 * that cannot cover it) is its own failure, not the others'; its mask, written
                 * last, is absent */
                segcl_warn_setting(ctx, segcl_context_error_setting(ctx), "skipped %s: %s", input,
                                   segcl_context_error(ctx));
                failed++;
                st = SEGCL_OK;
            }
        }
        empty_batch(&b);
    }
    if (!st && failed)
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                        "%zu of %zu inputs failed (warnings above); %zu segmented", failed, n,
                        written);
done:
    segcl_free(b.pixels);
    segcl_free(b.maps);
    segcl_free(paths);
    segcl_free(b.photos);
    segcl_free(b.file);
    segcl_free_names(stems, stems ? n : 0);
    segcl_free_names(files, n);
    return st;
}
