/*
 * Data side: image files, dataset layouts (PH2, MADS, images/ + masks/ folders) and the batch
 * loader that decodes, resizes, augments and normalises on a background thread.
 */
#ifndef SEGCL_DATA_H
#define SEGCL_DATA_H

#include "core/core.h"
#include "settings/settings.h"

/* 8-bit pixels, row-major, interleaved channels (1: gray, 3: RGB, 4: RGBA). */
typedef struct segcl_image {
    int width, height, channels;
    uint8_t *pixels;
} segcl_image;

SEGCL_INTERNAL segcl_status segcl_image_alloc(segcl_diag *diag, int width, int height, int channels,
                                              segcl_image *out);
/* Decodes a JPEG, PNG or BMP file (by content, not name) into `channels` 1 or 3, turned as
 * its EXIF orientation says. Damage a decoder can live with is a warning (an error when the
 * sink is strict); images beyond the sink's pixel limit are refused. */
SEGCL_INTERNAL segcl_status segcl_image_load(segcl_diag *diag, const char *path, int channels,
                                             segcl_image *out);
/* The same from memory; `name` labels messages. */
SEGCL_INTERNAL segcl_status segcl_image_decode(segcl_diag *diag, const char *name,
                                               const uint8_t *data, size_t n, int channels,
                                               segcl_image *out);
/* The EXIF orientation (1..8; 1 when absent or unreadable) of an EXIF block (TIFF header
 * first) or of a JPEG file's APP1 segment, and an image turned upright by it
 * (src/data/orientation.c). */
SEGCL_INTERNAL int segcl_exif_orientation(const uint8_t *exif, size_t n);
SEGCL_INTERNAL int segcl_jpeg_orientation(const uint8_t *jpeg, size_t n);
SEGCL_INTERNAL segcl_status segcl_image_orient(segcl_diag *diag, segcl_image *img, int orientation);
/* Luma (ITU-R 601) of an RGB triple, as every decoder here makes gray from colour. */
SEGCL_INTERNAL uint8_t segcl_gray_of(int r, int g, int b);
SEGCL_INTERNAL segcl_status segcl_image_save_png(segcl_diag *diag, const char *path,
                                                 const segcl_image *img);
/* A one-channel image of indices as a palette PNG (palette: entries x RGB bytes). */
SEGCL_INTERNAL segcl_status segcl_image_save_png_palette(segcl_diag *diag, const char *path,
                                                         const segcl_image *img,
                                                         const uint8_t *palette, int entries);
SEGCL_INTERNAL segcl_status segcl_image_save_jpeg(segcl_diag *diag, const char *path,
                                                  const segcl_image *img, int quality);
/* Antialiased (triangle filter widened when shrinking) or nearest-neighbour resize. */
SEGCL_INTERNAL segcl_status segcl_image_resize(segcl_diag *diag, const segcl_image *src, int width,
                                               int height, bool nearest, segcl_image *dst);
/* dst (width x height) = the window at (x0, y0) of src resized (antialiased) to full_width x
 * full_height, as segcl_image_resize and a crop would give it; only the window is computed,
 * so the full size may be far larger than memory, or than an int. */
SEGCL_INTERNAL segcl_status segcl_image_resize_window(segcl_diag *diag, const segcl_image *src,
                                                      int64_t full_width, int64_t full_height,
                                                      int64_t x0, int64_t y0, int width,
                                                      int height, segcl_image *dst);
SEGCL_INTERNAL void segcl_image_free(segcl_image *img);

/* ---- datasets (src/data/dataset.c) ---- */

/* segcl_dataset_open, segcl_dataset_open_pair and segcl_synth (segcl.h) on a sink rather than a
 * context: the public calls (src/api/data.c) pass their context's sink down. */
SEGCL_INTERNAL segcl_status segcl_dataset_scan(segcl_diag *diag, const char *dir,
                                               segcl_dataset_format format, segcl_dataset **out);
SEGCL_INTERNAL segcl_status segcl_dataset_scan_pair(segcl_diag *diag, const char *images_dir,
                                                    const char *masks_dir, segcl_dataset **out);
SEGCL_INTERNAL segcl_status segcl_synth_write(segcl_diag *diag, const char *out_dir, int count,
                                              int size, uint64_t seed);

typedef struct segcl_sample_entry {
    char *stem;       /* case name: IMD002, or the file stem */
    char *image_path;
    char *mask_path;
} segcl_sample_entry;

/* A pair decoded and resized to the network's size (segcl_dataset_check). */
typedef struct segcl_cached_sample {
    segcl_image image; /* size x size RGB */
    segcl_image mask;  /* size x size, read by the mask rules */
} segcl_cached_sample;

struct segcl_dataset {
    segcl_dataset_format format; /* the layout found */
    char *root;                  /* the folder given (the images folder of a pair) */
    char *masks_root;            /* the masks folder of a pair, else NULL */
    segcl_sample_entry *items;   /* sorted by stem */
    size_t count;
    size_t skipped;              /* images without a mask */
    char **unmatched;            /* their file names (skipped of them) */
    segcl_cached_sample *cache;  /* per item once checked, else NULL */
    int cache_size, cache_classes;
};

/* ---- one sample: a photo and its mask (src/data/sample.c) ---- */

typedef struct segcl_mask_info {
    int stored_width, stored_height; /* as in the file */
    bool resized;    /* stored at another size with the same aspect ratio: resized */
    bool zero_one;   /* a binary mask stored as 0/1, now 0/255 */
    bool empty;      /* no foreground pixel */
    bool only_0_255; /* class indices: nothing but background and "ignore" */
} segcl_mask_info;

/* Reads a decoded mask (1 channel) for an image of width x height by the rules every layout
 * shares: another size with the same aspect ratio (within 1%) is resized with nearest
 * neighbour, another aspect ratio is an error naming the file; for one class, 0/1 masks become
 * 0/255; for several, values must be classes or 255. */
SEGCL_INTERNAL segcl_status segcl_mask_prepare(segcl_diag *diag, const char *name,
                                               segcl_image *mask, int classes, int width,
                                               int height, segcl_mask_info *info);
/* Loads entry e: the photo (RGB) and its mask (prepared), both resized to size x size. */
SEGCL_INTERNAL segcl_status segcl_sample_load(segcl_diag *diag, const segcl_sample_entry *e,
                                              int size, int classes, segcl_image *image,
                                              segcl_image *mask, segcl_mask_info *info);

/* ---- checking a dataset up front (src/data/check.c) ---- */

/* One line for the user; setting: the setting it concerns (e.g. "max_pixels"), or NULL. */
typedef void (*segcl_say_fn)(void *user, const char *line, const char *setting);

typedef struct segcl_check_result {
    size_t resized, zero_one, empty; /* masks resized, stored as 0/1, without foreground */
    size_t skipped_bad;              /* pairs dropped (skip_bad) */
} segcl_check_result;

/* Decodes every pair of ds on all cores into ds->cache at size x size. Each problem (and each
 * decoder warning) is passed to fn as one line in file order, then the notes; problems are an
 * error unless skip_bad, which drops those pairs from ds. */
SEGCL_INTERNAL segcl_status segcl_dataset_check(segcl_diag *diag, segcl_dataset *ds, int size,
                                                int classes, bool skip_bad, segcl_say_fn fn,
                                                void *user, segcl_check_result *result);
SEGCL_INTERNAL void segcl_dataset_release_cache(segcl_dataset *ds);

/* Sorted names of the entries of dir (no dot files); dirs_only picks folders, else files.
 * Free with segcl_free_names. A NULL diag gets no message. */
SEGCL_INTERNAL segcl_status segcl_list_dir(segcl_diag *diag, const char *dir, bool dirs_only,
                                           char ***names, size_t *count);
SEGCL_INTERNAL void segcl_free_names(char **names, size_t count);
/* True for .jpg, .jpeg, .png and .bmp names (any case). */
SEGCL_INTERNAL bool segcl_image_file_name(const char *name);

/* ---- loader (src/data/loader.c) ---- */

typedef struct segcl_loader_config {
    int size;            /* images become size x size */
    int batch;
    unsigned augment;    /* SEGCL_AUGMENT_* bits */
    bool shuffle;        /* a new order each epoch; else sorted order */
    uint64_t seed;
    int classes;         /* 1: masks > 127 are 1; >= 2: mask values are class indices */
    float mean[3], std[3];
} segcl_loader_config;

typedef struct segcl_loader segcl_loader;

/* Iterates the dataset entries `indices` (copied) in batches. Decoded, resized samples are
 * kept in memory after their first use. */
SEGCL_INTERNAL segcl_status segcl_loader_create(segcl_diag *diag, const segcl_dataset *ds,
                                                const size_t *indices, size_t count,
                                                const segcl_loader_config *cfg, segcl_loader **out);
SEGCL_INTERNAL void segcl_loader_destroy(segcl_loader *loader);
SEGCL_INTERNAL size_t segcl_loader_batches(const segcl_loader *loader);
/* Fills images (batch, 3, size, size) and masks (batch, 1, size, size) with batch `b` of epoch
 * `epoch`; *n is the number of samples in it (the last batch may be smaller). Deterministic in
 * (seed, epoch, b) whatever the thread timing; the next batch is prepared in the background. */
SEGCL_INTERNAL segcl_status segcl_loader_get(segcl_loader *loader, long epoch, size_t b,
                                             float *images, float *masks, size_t *n,
                                             size_t *sample_index);

#endif
