/*
 * A run's data, checked against what the run recorded: args.json read within a size limit, a
 * cheap fingerprint of the dataset (file names, sizes and modification times), and the split's
 * names matched through a hash set. A resumed run and an evaluation of a run's split use the
 * data the run started with, or refuse and say what changed (a context may allow it, with a
 * warning); an older run folder without a fingerprint is used with a warning.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cl/cl.h"
#include "data/data.h"
#include "train/run_folder.h"

/* ---- a set of names (open addressing, FNV-1a) ---- */

typedef struct name_set {
    const char **slots; /* borrowed strings; NULL: empty */
    size_t mask;
} name_set;

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static segcl_status set_init(segcl_context *ctx, name_set *set, size_t count)
{
    size_t cap = 16;
    while (cap < 2 * count + 1 && cap < (SIZE_MAX >> 2))
        cap *= 2;
    set->mask = cap - 1;
    set->slots = segcl_calloc(cap, sizeof *set->slots);
    return set->slots ? SEGCL_OK
                      : segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
}

/* Adds name (when absent); whether it was absent. */
static bool set_add(name_set *set, const char *name)
{
    size_t i = (size_t)hash_name(name) & set->mask;
    for (; set->slots[i]; i = (i + 1) & set->mask)
        if (!strcmp(set->slots[i], name))
            return false;
    set->slots[i] = name;
    return true;
}

static bool set_has(const name_set *set, const char *name)
{
    size_t i = (size_t)hash_name(name) & set->mask;
    for (; set->slots[i]; i = (i + 1) & set->mask)
        if (!strcmp(set->slots[i], name))
            return true;
    return false;
}

static void set_free(name_set *set)
{
    segcl_free(set->slots);
    set->slots = NULL;
}

/* The names of a JSON array of strings, added to set; the strings that are not names are left
 * out. How many were added (duplicates count once). */
static size_t add_names(name_set *set, const segcl_jvalue *names)
{
    size_t added = 0;
    for (size_t k = 0; k < segcl_json_size(names); k++) {
        const char *name = segcl_json_string(segcl_json_at(names, k));
        added += name && set_add(set, name);
    }
    return added;
}

/* ---- args.json ---- */

segcl_status segcl_args_read(segcl_context *ctx, const char *path, char **text,
                             segcl_jvalue **root)
{
    *text = NULL;
    *root = NULL;
    struct stat sb;
    size_t len = 0;
    if (stat(path, &sb) == 0 && sb.st_size > (off_t)SEGCL_ARGS_JSON_MAX)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                          "%s holds %lld bytes, over the %d MiB an args.json may hold (edited?)",
                          path, (long long)sb.st_size, SEGCL_ARGS_JSON_MAX >> 20);
    segcl_status st = segcl_read_file(segcl_context_diag(ctx), path, SEGCL_ARGS_JSON_MAX, text, &len);
    if (!st)
        st = segcl_json_parse(segcl_context_diag(ctx), path, *text, len, root);
    if (st) {
        segcl_free(*text);
        *text = NULL;
    }
    return st;
}

/* ---- the fingerprint ---- */

static void hash_file(segcl_sha256 *h, const char *path)
{
    struct stat sb;
    int64_t fields[3] = {-1, -1, -1};
    if (stat(path, &sb) == 0) {
        fields[0] = (int64_t)sb.st_size;
        /* whole seconds: archivers (tar's GNU format, zip) and some file systems keep no
         * more, and a copy made with them is the same data */
        fields[1] = (int64_t)sb.st_mtim.tv_sec;
        fields[2] = 0;
    }
    const char *name = segcl_base_name(path);
    segcl_sha256_update(h, name, strlen(name) + 1);
    uint8_t le[24];
    for (int f = 0; f < 3; f++)
        for (int b = 0; b < 8; b++)
            le[8 * f + b] = (uint8_t)((uint64_t)fields[f] >> (8 * b));
    segcl_sha256_update(h, le, sizeof le);
}

void segcl_dataset_fingerprint(const segcl_dataset *ds, char hex[65])
{
    segcl_sha256 h;
    segcl_sha256_init(&h);
    for (size_t i = 0; i < ds->count; i++) {
        hash_file(&h, ds->items[i].image_path);
        hash_file(&h, ds->items[i].mask_path);
    }
    uint8_t digest[32];
    segcl_sha256_final(&h, digest);
    segcl_sha256_hex(digest, hex);
}

/* ---- what changed ---- */

static void warn(segcl_context *ctx, const char *fmt, ...) SEGCL_PRINTF(2, 3);
static void warn(segcl_context *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    segcl_diag_vwarn_setting(segcl_context_diag(ctx), "allow_changed_data", fmt, ap);
    va_end(ap);
}

/* Up to three names, ", ..." when there are more. */
typedef struct name_list {
    char text[400];
    size_t count;
} name_list;

static void list_add(name_list *l, const char *name)
{
    size_t at = strlen(l->text);
    if (l->count < 3)
        snprintf(l->text + at, sizeof l->text - at, "%s%.100s", l->count ? ", " : "", name);
    else if (l->count == 3)
        snprintf(l->text + at, sizeof l->text - at, ", ...");
    l->count++;
}

/* A file of ds named from its data folder's own name on (set/masks/x.png: an image and its
 * mask may share a name), or in full when it lies elsewhere. */
static const char *in_root(const segcl_dataset *ds, const char *path)
{
    const char *roots[2] = {ds->root, ds->masks_root};
    for (int k = 0; k < 2; k++) {
        const size_t n = roots[k] ? strlen(roots[k]) : 0;
        if (n && !strncmp(path, roots[k], n) && path[n] == '/') {
            const char *slash = strrchr(roots[k], '/');
            return slash && slash[1] ? path + (slash - roots[k]) + 1 : path;
        }
    }
    return path;
}

/* The files of ds modified after args.json was written (when the run started; resuming does
 * not rewrite it), into `list`; whether there were any. */
static bool newer_files(const char *args_path, const segcl_dataset *ds, name_list *list)
{
    struct stat args, sb;
    if (stat(args_path, &args) != 0)
        return false;
    for (size_t i = 0; i < ds->count; i++) {
        const char *files[2] = {ds->items[i].image_path, ds->items[i].mask_path};
        for (int k = 0; k < 2; k++)
            if (files[k] && stat(files[k], &sb) == 0 && sb.st_mtim.tv_sec > args.st_mtim.tv_sec)
                list_add(list, in_root(ds, files[k]));
    }
    return list->count > 0;
}

/* A changed data set: an error that concerns allow_changed_data, or with that allowed, a
 * warning; `what` says what changed. */
static segcl_status changed(segcl_context *ctx, const char *args_path, const char *what)
{
    if (segcl_context_diag(ctx)->allow_changed_data) {
        warn(ctx, "%s: %s; going on with the data as it is now, as allowed", args_path, what);
        return SEGCL_OK;
    }
    return segcl_fail_setting(ctx, "allow_changed_data", SEGCL_ERROR_STATE,
                              "%s: %s; the run's own data is needed to continue or score it "
                              "exactly, or allow the change",
                              args_path, what);
}

segcl_status segcl_run_data_check(segcl_context *ctx, const char *args_path,
                                  const segcl_jvalue *root, const segcl_dataset *ds)
{
    const segcl_jvalue *print = segcl_json_get(segcl_json_get(root, "data"), "fingerprint");
    const char *recorded = segcl_json_string(segcl_json_get(print, "sha256"));
    int64_t then = -1;
    if (!recorded || !segcl_json_integer(segcl_json_get(print, "pairs"), &then)) {
        warn(ctx,
             "%s records no fingerprint of its data (written by an older segcl): whether %s "
             "changed since the run started cannot be checked",
             args_path, ds->root);
        return SEGCL_OK;
    }
    char hex[65];
    segcl_dataset_fingerprint(ds, hex);
    if (!strcmp(hex, recorded))
        return SEGCL_OK;
    /* which names came and went, against the run's split */
    const segcl_jvalue *split = segcl_json_get(root, "split");
    const segcl_jvalue *lists[2] = {segcl_json_get(split, "training"),
                                    segcl_json_get(split, "validation")};
    name_set old = {0}, now = {0};
    name_list added = {"", 0}, gone = {"", 0}, modified = {"", 0};
    segcl_status st = set_init(ctx, &old, segcl_json_size(lists[0]) + segcl_json_size(lists[1]));
    if (!st)
        st = set_init(ctx, &now, ds->count);
    if (st)
        goto done;
    for (int k = 0; k < 2; k++)
        add_names(&old, lists[k]);
    for (size_t i = 0; i < ds->count; i++) {
        const char *name = segcl_base_name(ds->items[i].image_path);
        set_add(&now, name);
        if (!set_has(&old, name))
            list_add(&added, name);
    }
    for (int k = 0; k < 2; k++)
        for (size_t j = 0; j < segcl_json_size(lists[k]); j++) {
            const char *name = segcl_json_string(segcl_json_at(lists[k], j));
            if (name && !set_has(&now, name))
                list_add(&gone, name);
        }
    char what[1200];
    if (added.count || gone.count)
        snprintf(what, sizeof what,
                 "%s changed since the run started: %zu pairs now, %lld then%s%s%s%s", ds->root,
                 ds->count, (long long)then, added.count ? "; new: " : "", added.text,
                 gone.count ? "; gone: " : "", gone.text);
    else if (newer_files(args_path, ds, &modified))
        snprintf(what, sizeof what,
                 "%s changed since the run started: the same %zu pairs, but %zu %s modified "
                 "after its args.json was written: %s",
                 ds->root, ds->count, modified.count,
                 modified.count == 1 ? "file was" : "files were", modified.text);
    else
        snprintf(what, sizeof what,
                 "%s changed since the run started: the same %zu pairs, but files were modified "
                 "(sizes or modification times differ; none is newer than its args.json, so a "
                 "copy or an older version of some?)",
                 ds->root, ds->count);
    st = changed(ctx, args_path, what);
done:
    set_free(&old);
    set_free(&now);
    return st;
}

segcl_status segcl_run_split_check(segcl_context *ctx, const char *args_path,
                                   const segcl_jvalue *root, const segcl_dataset *ds,
                                   const size_t *val, size_t nval, size_t ntrain)
{
    const segcl_jvalue *split = segcl_json_get(root, "split");
    const segcl_jvalue *names = segcl_json_get(split, "validation");
    const size_t then_train = segcl_json_size(segcl_json_get(split, "training"));
    name_set set = {0};
    name_list moved = {"", 0};
    segcl_status st = set_init(ctx, &set, segcl_json_size(names));
    if (st)
        return st;
    const size_t then_val = add_names(&set, names);
    for (size_t i = 0; i < nval; i++) {
        const char *name = segcl_base_name(ds->items[val[i]].image_path);
        if (!set_has(&set, name))
            list_add(&moved, name);
    }
    if (moved.count || nval != then_val || ntrain != then_train) {
        char what[800];
        snprintf(what, sizeof what,
                 "the split of %s differs from the run's: %zu training and %zu validation "
                 "images now, %zu and %zu then%s%s",
                 ds->root, ntrain, nval, then_train, then_val,
                 moved.count ? "; validating now: " : "", moved.text);
        st = changed(ctx, args_path, what);
    }
    set_free(&set);
    return st;
}

/* ---- a run's own split, for evaluation ---- */

segcl_status segcl_dataset_open_run(segcl_context *ctx, const char *run_dir, const char *split,
                                    segcl_dataset **out)
{
    if (!ctx || !run_dir || !out)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_dataset_open_run: NULL argument");
    *out = NULL;
    const char *key = !split || !strcmp(split, "all") ? NULL
                      : !strcmp(split, "val") || !strcmp(split, "validation") ? "validation"
                      : !strcmp(split, "train") || !strcmp(split, "training") ? "training"
                                                                               : "";
    if (key && !*key)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "unknown split '%s' (train, val, all)", split);
    char path[4200], *text = NULL;
    segcl_jvalue *root = NULL;
    segcl_dataset *ds = NULL;
    name_set wanted_set = {0};
    snprintf(path, sizeof path, "%s/args.json", run_dir);
    segcl_status st = segcl_args_read(ctx, path, &text, &root);
    if (st)
        goto done;
    const segcl_jvalue *data = segcl_json_get(root, "data");
    const char *format = segcl_json_string(segcl_json_get(data, "format"));
    const char *dir = segcl_json_string(segcl_json_get(data, "path"));
    const char *images = segcl_json_string(segcl_json_get(data, "images"));
    const char *masks = segcl_json_string(segcl_json_get(data, "masks"));
    segcl_dataset_format fmt;
    if (!format || segcl_dataset_format_parse(format, &fmt) ||
        (fmt == SEGCL_DATASET_PAIR ? !images || !masks : !dir)) {
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: no readable \"data\" section", path);
        goto done;
    }
    st = fmt == SEGCL_DATASET_PAIR ? segcl_dataset_open_pair(ctx, images, masks, &ds)
                                   : segcl_dataset_open(ctx, dir, fmt, &ds);
    if (st || (st = segcl_run_data_check(ctx, path, root, ds)) || !key)
        goto done;
    const segcl_jvalue *names = segcl_json_get(segcl_json_get(root, "split"), key);
    if (segcl_json_type(names) != SEGCL_JSON_ARRAY) {
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: no \"split\".\"%s\" list", path, key);
        goto done;
    }
    if ((st = set_init(ctx, &wanted_set, segcl_json_size(names))))
        goto done;
    const size_t wanted = add_names(&wanted_set, names);
    /* keep the entries the run put in that split, in the dataset's order */
    size_t kept = 0;
    for (size_t i = 0; i < ds->count; i++) {
        if (set_has(&wanted_set, segcl_base_name(ds->items[i].image_path))) {
            segcl_sample_entry e = ds->items[kept];
            ds->items[kept++] = ds->items[i];
            ds->items[i] = e;
        }
    }
    for (size_t i = kept; i < ds->count; i++) {
        segcl_free(ds->items[i].stem);
        segcl_free(ds->items[i].image_path);
        segcl_free(ds->items[i].mask_path);
    }
    ds->count = kept;
    if (kept == 0) {
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: none of the run's %zu %s images is in %s",
                        path, wanted, key, ds->root);
    } else if (kept != wanted) {
        char what[600];
        snprintf(what, sizeof what, "%zu of the run's %zu %s images are no longer in %s",
                 wanted - kept, wanted, key, ds->root);
        st = changed(ctx, path, what);
    }
done:
    if (st) {
        segcl_dataset_destroy(ds);
        ds = NULL;
    }
    set_free(&wanted_set);
    segcl_json_free(root);
    segcl_free(text);
    *out = ds;
    return st;
}
