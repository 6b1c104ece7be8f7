/*
 * Dataset layouts on disk: PH2's original distribution, the MADS full-body set (images/ and
 * masks/ with the same names, also inside the zip's nested duplicate folder), and any
 * images/ + masks/ folder pair matched by file stem. Entries are sorted by name so every run
 * sees the same order.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/data.h"

const char *segcl_dataset_format_name(segcl_dataset_format format)
{
    return format >= SEGCL_DATASET_AUTO && format <= SEGCL_DATASET_PAIR
               ? segcl_dataset_format_names[format]
               : "unknown";
}

segcl_status segcl_dataset_format_parse(const char *name, segcl_dataset_format *out)
{
    for (int f = SEGCL_DATASET_AUTO; f <= SEGCL_DATASET_PAIR; f++)
        if (name && !strcmp(name, segcl_dataset_format_name((segcl_dataset_format)f))) {
            *out = (segcl_dataset_format)f;
            return SEGCL_OK;
        }
    return SEGCL_ERROR_INVALID_ARGUMENT;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = segcl_malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

segcl_status segcl_list_dir(segcl_diag *diag, const char *dir, bool dirs_only, char ***names,
                            size_t *count)
{
    DIR *d = opendir(dir);
    if (!d)
        return segcl_diag_fail(diag, SEGCL_ERROR_IO, "cannot open folder %s: %s", dir,
                               strerror(errno));
    char **list = NULL;
    size_t n = 0, cap = 0;
    segcl_status st = SEGCL_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *path = join(dir, e->d_name);
        if (!path) {
            st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            break;
        }
        bool keep = dirs_only ? is_dir(path) : is_file(path);
        segcl_free(path);
        if (!keep)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **grown = segcl_realloc(list, ncap * sizeof *grown);
            if (!grown) {
                st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
            list = grown;
            cap = ncap;
        }
        if (!(list[n] = segcl_strdup(e->d_name))) {
            st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (st) {
        for (size_t i = 0; i < n; i++)
            segcl_free(list[i]);
        segcl_free(list);
        return st;
    }
    if (n)
        qsort(list, n, sizeof *list, cmp_str);
    *names = list;
    *count = n;
    return SEGCL_OK;
}

void segcl_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        segcl_free(names[i]);
    segcl_free(names);
}

static segcl_status add_item(segcl_diag *diag, segcl_dataset *ds, size_t *cap, const char *stem,
                             char *image, char *mask)
{
    if (ds->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        segcl_sample_entry *grown = segcl_realloc(ds->items, ncap * sizeof *grown);
        if (!grown) {
            segcl_free(image);
            segcl_free(mask);
            return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        ds->items = grown;
        *cap = ncap;
    }
    segcl_sample_entry *e = &ds->items[ds->count];
    e->stem = segcl_strdup(stem);
    e->image_path = image;
    e->mask_path = mask;
    if (!e->stem) {
        segcl_free(image);
        segcl_free(mask);
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    ds->count++;
    return SEGCL_OK;
}

/* Remembers an image left out for lack of a mask, so the user can be told which. */
static segcl_status add_unmatched(segcl_diag *diag, segcl_dataset *ds, const char *name)
{
    char **grown = segcl_realloc(ds->unmatched, (ds->skipped + 1) * sizeof *grown);
    char *copy = grown ? segcl_strdup(name) : NULL;
    if (grown)
        ds->unmatched = grown;
    if (!copy)
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    ds->unmatched[ds->skipped++] = copy;
    return SEGCL_OK;
}

#define PH2_IMAGES "PH2 Dataset images"

/* The folder holding IMDxxx/ case folders: dir itself or dir/"PH2 Dataset images"; *cases
 * is NULL when dir is neither. Fails only when memory runs out. */
static segcl_status ph2_cases_dir(segcl_diag *diag, const char *dir, char **cases)
{
    *cases = NULL;
    char *inner = join(dir, PH2_IMAGES);
    if (!inner)
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (is_dir(inner)) {
        *cases = inner;
        return SEGCL_OK;
    }
    segcl_free(inner);
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;
    if (strcmp(base, PH2_IMAGES) != 0)
        return SEGCL_OK;
    if (!(*cases = segcl_strdup(dir)))
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    return SEGCL_OK;
}

static segcl_status open_ph2(segcl_diag *diag, const char *dir, segcl_dataset *ds)
{
    char *cases = NULL, **names = NULL;
    size_t n = 0, cap = 0;
    segcl_status st = ph2_cases_dir(diag, dir, &cases);
    if (st)
        goto done;
    if (!cases) {
        st = segcl_diag_fail(diag, SEGCL_ERROR_FORMAT,
                             "%s is not a PH2 folder: expected '%s/IMDxxx/' inside it", dir,
                             PH2_IMAGES);
        goto done;
    }
    if ((st = segcl_list_dir(diag, cases, true, &names, &n)))
        goto done;
    for (size_t i = 0; i < n && !st; i++) {
        const char *c = names[i];
        if (strncmp(c, "IMD", 3) != 0)
            continue;
        char rel_img[512], rel_mask[512];
        snprintf(rel_img, sizeof rel_img, "%s/%s_Dermoscopic_Image/%s.bmp", c, c, c);
        snprintf(rel_mask, sizeof rel_mask, "%s/%s_lesion/%s_lesion.bmp", c, c, c);
        char *img = join(cases, rel_img), *mask = join(cases, rel_mask);
        if (!img || !mask) {
            segcl_free(img);
            segcl_free(mask);
            st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            break;
        }
        if (!is_file(img) || !is_file(mask)) {
            segcl_free(img);
            segcl_free(mask);
            st = add_unmatched(diag, ds, c);
            continue;
        }
        st = add_item(diag, ds, &cap, c, img, mask);
    }
    if (!st && ds->count == 0)
        st = segcl_diag_fail(diag, SEGCL_ERROR_FORMAT,
                             "%s holds no PH2 case with photo and lesion mask", cases);
done:
    segcl_free_names(names, n);
    segcl_free(cases);
    return st;
}

bool segcl_image_file_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
                   !strcasecmp(dot, ".png") || !strcasecmp(dot, ".bmp"));
}

/* The folder with images/ and masks/: dir itself, or one subfolder (the MADS zip nests it);
 * *root is NULL when there is none. Fails only when memory runs out or dir is unreadable. */
static segcl_status pair_root(segcl_diag *diag, const char *dir, char **root)
{
    *root = NULL;
    char *a = join(dir, "images"), *b = join(dir, "masks"), **names = NULL;
    size_t n = 0;
    segcl_status st = SEGCL_OK;
    if (!a || !b) {
        st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    if (is_dir(a) && is_dir(b)) {
        if (!(*root = segcl_strdup(dir)))
            st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    if ((st = segcl_list_dir(diag, dir, true, &names, &n)))
        goto done;
    for (size_t i = 0; i < n && !*root && !st; i++) {
        char *sub = join(dir, names[i]);
        char *si = sub ? join(sub, "images") : NULL, *sm = sub ? join(sub, "masks") : NULL;
        if (!si || !sm)
            st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        else if (is_dir(si) && is_dir(sm))
            *root = sub, sub = NULL;
        segcl_free(sub);
        segcl_free(si);
        segcl_free(sm);
    }
done:
    segcl_free_names(names, n);
    segcl_free(a);
    segcl_free(b);
    return st;
}

static size_t stem_length(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? (size_t)(dot - name) : strlen(name);
}

/* Orders names by stem (then by whole name), so masks can be found by binary search. */
static int cmp_stem(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t lx = stem_length(x), ly = stem_length(y);
    int c = strncmp(x, y, lx < ly ? lx : ly);
    if (c)
        return c;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x, y);
}

/* The first of the (stem-sorted) names whose stem is the first sl bytes of name, or NULL. */
static const char *find_stem(char **sorted, size_t n, const char *name, size_t sl)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        size_t ml = stem_length(sorted[mid]);
        int c = strncmp(sorted[mid], name, ml < sl ? ml : sl);
        if (c == 0 && ml != sl)
            c = ml < sl ? -1 : 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && stem_length(sorted[lo]) == sl && !strncmp(sorted[lo], name, sl)
               ? sorted[lo]
               : NULL;
}

/* Pairs every image in idir with the mask in mdir of the same file name (same_names) or stem;
 * images without one are counted as skipped. */
static segcl_status match_folders(segcl_diag *diag, const char *idir, const char *mdir,
                                  bool same_names, segcl_dataset *ds)
{
    char **inames = NULL, **mnames = NULL, **masks = NULL;
    size_t ni = 0, nm = 0, nmasks = 0, cap = 0;
    segcl_status st = segcl_list_dir(diag, idir, false, &inames, &ni);
    if (!st)
        st = segcl_list_dir(diag, mdir, false, &mnames, &nm);
    if (!st && !(masks = segcl_malloc((nm ? nm : 1) * sizeof *masks)))
        st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t j = 0; j < nm && !st; j++)
        if (same_names || segcl_image_file_name(mnames[j]))
            masks[nmasks++] = mnames[j];
    if (!st && !same_names && nmasks)
        qsort(masks, nmasks, sizeof *masks, cmp_stem);
    for (size_t i = 0; i < ni && !st; i++) {
        if (!segcl_image_file_name(inames[i]))
            continue;
        size_t sl = stem_length(inames[i]);
        const char *match = NULL;
        if (same_names) {
            for (size_t j = 0; j < nmasks && !match; j++)
                if (!strcmp(masks[j], inames[i]))
                    match = masks[j];
        } else {
            match = find_stem(masks, nmasks, inames[i], sl);
        }
        if (!match) {
            st = add_unmatched(diag, ds, inames[i]);
            continue;
        }
        char stem[512];
        snprintf(stem, sizeof stem, "%.*s", (int)(sl < 511 ? sl : 511), inames[i]);
        char *image = join(idir, inames[i]), *mask = join(mdir, match);
        if (!image || !mask) {
            segcl_free(image);
            segcl_free(mask);
            st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            break;
        }
        st = add_item(diag, ds, &cap, stem, image, mask);
    }
    if (!st && ds->count == 0)
        st = segcl_diag_fail(diag, SEGCL_ERROR_FORMAT,
                             "%s: no image has a mask of the same %s in %s", idir,
                             same_names ? "file name" : "name", mdir);
    segcl_free(masks);
    segcl_free_names(inames, ni);
    segcl_free_names(mnames, nm);
    return st;
}

static segcl_status open_pairs(segcl_diag *diag, const char *dir, bool same_names,
                               segcl_dataset *ds)
{
    char *root = NULL, *idir = NULL, *mdir = NULL;
    segcl_status st = pair_root(diag, dir, &root);
    if (st)
        goto done;
    if (!root) {
        st = segcl_diag_fail_setting(diag, "images_dir", SEGCL_ERROR_FORMAT,
                                     "%s has no images/ and masks/ folders (nor one subfolder with "
                                     "them); for other folder names give an images and a masks "
                                     "folder as a pair",
                                     dir);
        goto done;
    }
    idir = join(root, "images");
    mdir = join(root, "masks");
    if (!idir || !mdir)
        st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    else
        st = match_folders(diag, idir, mdir, same_names, ds);
done:
    segcl_free(idir);
    segcl_free(mdir);
    segcl_free(root);
    return st;
}

segcl_status segcl_dataset_scan(segcl_diag *diag, const char *dir, segcl_dataset_format format,
                                segcl_dataset **out)
{
    if (!diag || !dir || !out)
        return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                               "segcl_dataset_open: NULL argument");
    *out = NULL;
    if (!is_dir(dir))
        return segcl_diag_fail(diag, SEGCL_ERROR_IO, "data folder %s does not exist", dir);
    segcl_dataset *ds = segcl_calloc(1, sizeof *ds);
    if (!ds || !(ds->root = segcl_strdup(dir))) {
        segcl_free(ds);
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    bool auto_detect = format == SEGCL_DATASET_AUTO;
    segcl_status st = SEGCL_OK;
    if (auto_detect) {
        char *cases;
        if ((st = ph2_cases_dir(diag, dir, &cases))) {
            segcl_dataset_destroy(ds);
            return st;
        }
        format = cases ? SEGCL_DATASET_PH2 : SEGCL_DATASET_FOLDER;
        segcl_free(cases);
    }
    ds->format = format;
    switch (format) {
    case SEGCL_DATASET_PH2:
        st = open_ph2(diag, dir, ds);
        break;
    case SEGCL_DATASET_MADS:
        st = open_pairs(diag, dir, true, ds);
        break;
    case SEGCL_DATASET_FOLDER:
        st = open_pairs(diag, dir, false, ds);
        if (!st && auto_detect) {
            /* every mask named exactly like its image: the MADS layout */
            bool same = true;
            for (size_t i = 0; i < ds->count && same; i++) {
                const char *a = strrchr(ds->items[i].image_path, '/');
                const char *b = strrchr(ds->items[i].mask_path, '/');
                same = a && b && !strcmp(a, b);
            }
            if (same)
                ds->format = SEGCL_DATASET_MADS;
        }
        break;
    case SEGCL_DATASET_PAIR:
        st = segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                             "a pair of folders is opened with segcl_dataset_open_pair");
        break;
    default:
        st = segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT, "unknown dataset format %d",
                             format);
    }
    if (st) {
        segcl_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return SEGCL_OK;
}

segcl_status segcl_dataset_scan_pair(segcl_diag *diag, const char *images_dir,
                                     const char *masks_dir, segcl_dataset **out)
{
    if (!diag || !images_dir || !masks_dir || !out)
        return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                               "segcl_dataset_open_pair: NULL argument");
    *out = NULL;
    const char *dirs[2] = {images_dir, masks_dir};
    for (int i = 0; i < 2; i++)
        if (!is_dir(dirs[i]))
            return segcl_diag_fail(diag, SEGCL_ERROR_IO, "%s folder %s does not exist",
                                   i ? "mask" : "image", dirs[i]);
    segcl_dataset *ds = segcl_calloc(1, sizeof *ds);
    segcl_status st = SEGCL_OK;
    if (!ds || !(ds->root = segcl_strdup(images_dir)) ||
        !(ds->masks_root = segcl_strdup(masks_dir)))
        st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (!st) {
        ds->format = SEGCL_DATASET_PAIR;
        st = match_folders(diag, images_dir, masks_dir, false, ds);
    }
    if (st) {
        segcl_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return SEGCL_OK;
}

void segcl_dataset_destroy(segcl_dataset *ds)
{
    if (!ds)
        return;
    segcl_dataset_release_cache(ds);
    for (size_t i = 0; i < ds->count; i++) {
        segcl_free(ds->items[i].stem);
        segcl_free(ds->items[i].image_path);
        segcl_free(ds->items[i].mask_path);
    }
    segcl_free_names(ds->unmatched, ds->skipped);
    segcl_free(ds->items);
    segcl_free(ds->root);
    segcl_free(ds->masks_root);
    segcl_free(ds);
}

size_t segcl_dataset_size(const segcl_dataset *ds)
{
    return ds ? ds->count : 0;
}

size_t segcl_dataset_skipped(const segcl_dataset *ds)
{
    return ds ? ds->skipped : 0;
}

segcl_dataset_format segcl_dataset_get_format(const segcl_dataset *ds)
{
    return ds ? ds->format : SEGCL_DATASET_AUTO;
}
