/*
 * An example of segcl's in-memory API (segcl_predict_pixels): cut the person (or whatever the
 * model segments) out of every frame in a folder, as a video loop would, and write RGBA PNGs
 * whose alpha is the model's foreground probability. It decodes and encodes with libjpeg-turbo
 * and libpng itself: segcl sees only pixels, never files.
 *
 *   cutout_frames [--device N] MODEL IN_DIR OUT_DIR
 *
 * MODEL is a segcl checkpoint or a training run's folder; frames are the JPEG and PNG files of
 * IN_DIR in name order; OUT_DIR/<frame>.png is written for each. Prints frames per second.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <png.h>
#include <turbojpeg.h>

#include "segcl/segcl.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && !strcasecmp(name + n - k, suffix);
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *data = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n)) &&
        fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *len = n > 0 ? (size_t)n : 0;
    return data;
}

/* A JPEG or PNG frame as RGB; NULL (with a message) when it cannot be read. */
static uint8_t *decode(const char *path, int *w, int *h)
{
    uint8_t *rgb = NULL;
    if (has_suffix(path, ".png")) {
        png_image im;
        memset(&im, 0, sizeof im);
        im.version = PNG_IMAGE_VERSION;
        if (png_image_begin_read_from_file(&im, path)) {
            im.format = PNG_FORMAT_RGB;
            rgb = malloc(PNG_IMAGE_SIZE(im));
            if (!rgb || !png_image_finish_read(&im, NULL, rgb, 0, NULL)) {
                free(rgb);
                rgb = NULL;
            }
            *w = (int)im.width, *h = (int)im.height;
        }
        if (!rgb)
            fprintf(stderr, "cutout_frames: cannot read %s: %s\n", path, im.message);
        return rgb;
    }
    size_t len;
    unsigned char *data = read_all(path, &len);
    tjhandle tj = tjInitDecompress();
    int sub, space;
    if (data && tj && tjDecompressHeader3(tj, data, (unsigned long)len, w, h, &sub, &space) == 0 &&
        (rgb = malloc((size_t)*w * *h * 3)) &&
        tjDecompress2(tj, data, (unsigned long)len, rgb, *w, 0, *h, TJPF_RGB, 0) != 0) {
        free(rgb);
        rgb = NULL;
    }
    if (!rgb)
        fprintf(stderr, "cutout_frames: cannot read %s\n", path);
    if (tj)
        tjDestroy(tj);
    free(data);
    return rgb;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The JPEG and PNG files of dir in name order; -1 (with a message) when it cannot be read. */
static int list_frames(const char *dir, char ***out, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cutout_frames: cannot open %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (!has_suffix(e->d_name, ".jpg") && !has_suffix(e->d_name, ".jpeg") &&
            !has_suffix(e->d_name, ".png"))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **g = realloc(names, cap * sizeof *g);
            if (!g) {
                rc = -1;
                break;
            }
            names = g;
        }
        if (!(names[n] = strdup(e->d_name)))
            rc = -1;
        else
            n++;
    }
    closedir(d);
    if (rc) {
        fprintf(stderr, "cutout_frames: out of memory\n");
        free_names(names, n);
        return rc;
    }
    qsort(names, n, sizeof *names, by_name);
    *out = names;
    *count = n;
    return 0;
}

/* RGBA with the foreground probability as alpha, written as a PNG. */
static int write_cutout(const char *path, const uint8_t *rgb, const float *alpha, int w, int h)
{
    uint8_t *rgba = malloc((size_t)w * h * 4);
    if (!rgba) {
        fprintf(stderr, "cutout_frames: out of memory\n");
        return -1;
    }
    for (size_t k = 0; k < (size_t)w * h; k++) {
        memcpy(rgba + 4 * k, rgb + 3 * k, 3);
        rgba[4 * k + 3] = (uint8_t)(alpha[k] * 255.0f + 0.5f);
    }
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w, im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_RGBA;
    int rc = 0;
    if (!png_image_write_to_file(&im, path, 0, rgba, 0, NULL)) {
        fprintf(stderr, "cutout_frames: cannot write %s: %s\n", path, im.message);
        rc = 1;
    }
    free(rgba);
    return rc;
}

/* One frame: decoded here, segmented from memory, written as OUT_DIR/<stem>.png. Returns 0
 * when written, 1 when this frame failed (the loop goes on), -1 when out of memory (it stops);
 * a segcl failure is left in *st. */
static int cut_out_frame(segcl_predictor *p, const char *in_dir, const char *name,
                         const char *out_dir, segcl_status *st)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", in_dir, name);
    int w, h;
    uint8_t *rgb = decode(path, &w, &h);
    if (!rgb)
        return 1;
    float *alpha = malloc((size_t)w * h * sizeof *alpha);
    int rc = 0;
    if (!alpha) {
        fprintf(stderr, "cutout_frames: out of memory\n");
        rc = -1;
        goto done;
    }
    const segcl_pixels frame = {rgb, w, h, 3, 0};
    const segcl_prediction_maps maps = {NULL, alpha, NULL};
    if ((*st = segcl_predict_pixels(p, &frame, 1, &maps)) != SEGCL_OK)
        goto done;
    char stem[3000];
    snprintf(stem, sizeof stem, "%s", name);
    char *dot = strrchr(stem, '.');
    if (dot)
        *dot = '\0';
    snprintf(path, sizeof path, "%s/%s.png", out_dir, stem);
    rc = write_cutout(path, rgb, alpha, w, h);
done:
    free(rgb);
    free(alpha);
    return rc;
}

int main(int argc, char **argv)
{
    const char *device = NULL;
    int a = 1;
    if (argc > 2 && !strcmp(argv[1], "--device")) {
        device = argv[2];
        a = 3;
    }
    if (argc - a != 3) {
        fprintf(stderr, "usage: cutout_frames [--device N] MODEL IN_DIR OUT_DIR\n");
        return 2;
    }
    const char *model = argv[a], *in_dir = argv[a + 1], *out_dir = argv[a + 2];
    char **names = NULL;
    size_t n = 0;
    if (list_frames(in_dir, &names, &n) != 0)
        return 1;
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "cutout_frames: cannot create %s: %s\n", out_dir, strerror(errno));
        free_names(names, n);
        return 1;
    }
    segcl_context *ctx = NULL;
    segcl_predictor *p = NULL;
    segcl_settings settings;
    segcl_default_settings(&settings);
    settings.device = device;
    segcl_predictor_options po;
    segcl_predictor_default_options(&po);
    po.batch = 1; /* one frame at a time, as a live loop gets them */
    segcl_status st = segcl_context_create(&ctx);
    if (!st)
        st = segcl_context_open(ctx, &settings);
    if (!st)
        st = segcl_predictor_open(ctx, model, &po, &p);
    int rc = 0, written = 0;
    const double t0 = now();
    for (size_t i = 0; i < n && !st; i++) {
        const int frame_rc = cut_out_frame(p, in_dir, names[i], out_dir, &st);
        if (frame_rc == 0 && !st)
            written++;
        else if (frame_rc != 0)
            rc = 1;
        if (frame_rc < 0)
            break;
    }
    if (st) {
        fprintf(stderr, "cutout_frames: %s\n", segcl_context_error(ctx));
        rc = 1;
    } else {
        const double el = now() - t0;
        printf("%d frames cut out into %s (%.1f frames/s, decoding and encoding included)\n",
               written, out_dir, el > 0 ? written / el : 0.0);
    }
    segcl_predictor_destroy(p);
    segcl_context_destroy(ctx);
    free_names(names, n);
    return rc;
}
