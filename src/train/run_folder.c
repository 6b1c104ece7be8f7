/*
 * The run folder: what makes it safe (a new run never lands on an old one, a lock keeps two
 * trainings from writing one folder, a resumed run first removes what a killed one left
 * half-written), args.json (every setting, the data and the split, written when a run starts),
 * metrics.csv (rows by column name, so older files are read too). A run's data checked
 * against args.json, and its split opened again: run_data.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl/cl.h"
#include "data/data.h"
#include "segcl_version.h"
#include "train/run_folder.h"
#include "settings/run_config.h"

static void join(char *buf, size_t len, const char *dir, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static segcl_status refuse_link(segcl_context *ctx, const char *path)
{
    return segcl_fail(ctx, SEGCL_ERROR_IO,
                      "%s is a symbolic link; segcl writes no file of a run folder through a "
                      "link (remove it)",
                      path);
}

/* Opens a run folder's file to change in place (the lock, metrics.csv), creating it if need
 * be: never through a symlink (O_NOFOLLOW: the write would land in the link's target), a FIFO
 * (not waited on) or anything but a regular file, a hard link (another file's name too) or
 * another user's file; each refused with a message naming it. */
static segcl_status open_in_place(segcl_context *ctx, const char *path, int flags, int *out)
{
    *out = -1;
    int fd = open(path, flags | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno == ELOOP ? refuse_link(ctx, path)
                              : segcl_fail(ctx, SEGCL_ERROR_IO, "cannot open %s: %s", path,
                                           strerror(errno));
    struct stat sb;
    segcl_status st = SEGCL_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = segcl_fail(ctx, SEGCL_ERROR_IO, "%s is not a regular file; segcl does not use it",
                        path);
    else if (sb.st_nlink != 1 || sb.st_uid != geteuid())
        st = segcl_fail(ctx, SEGCL_ERROR_IO,
                        "%s is %s; segcl does not write through it (remove it, and start again)",
                        path, sb.st_nlink != 1 ? "a hard link to another file" : "another user's");
    if (st) {
        close(fd);
        return st;
    }
    *out = fd;
    return SEGCL_OK;
}

segcl_status segcl_run_file_check(segcl_context *ctx, const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? SEGCL_OK
                               : segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path,
                                            strerror(errno));
    if (S_ISLNK(sb.st_mode))
        return refuse_link(ctx, path);
    if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
        return segcl_fail(ctx, SEGCL_ERROR_IO,
                          "%s is not a regular file (a FIFO, device or socket); segcl does not "
                          "write it",
                          path);
    return SEGCL_OK;
}

segcl_status segcl_run_folder_check_new(segcl_context *ctx, const char *dir, bool *restart)
{
    static const char *const marks[] = {"checkpoint.safetensors", "best.safetensors"};
    static const char *const traces[] = {"args.json", "metrics.csv"};
    char path[4200];
    *restart = false;
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        join(path, sizeof path, dir, marks[i]);
        if (exists(path))
            return segcl_fail_setting(ctx, "resume_dir", SEGCL_ERROR_STATE,
                                      "%s already holds a training run (%s): resume it from %s, "
                                      "or give another run folder",
                                      dir, marks[i], dir);
    }
    /* a run that failed before its first checkpoint cannot be resumed: it starts again */
    for (size_t i = 0; i < sizeof traces / sizeof traces[0]; i++) {
        join(path, sizeof path, dir, traces[i]);
        *restart = *restart || exists(path);
    }
    return SEGCL_OK;
}

segcl_status segcl_run_folder_claim(segcl_context *ctx, const char *dir, bool resume, int *lock_fd)
{
    *lock_fd = -1;
    char path[4200];
    bool restart = false;
    segcl_status st = SEGCL_OK;
    if (resume) {
        /* a run to continue is never created */
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return segcl_fail_setting(ctx, "resume_dir", SEGCL_ERROR_IO,
                                      "no run folder %s to resume: %s", dir,
                                      stat(dir, &sb) != 0 ? strerror(errno) : "not a folder");
    } else {
        st = segcl_run_folder_check_new(ctx, dir, &restart);
        if (!st)
            st = segcl_make_dirs(segcl_context_diag(ctx), dir);
    }
    if (st)
        return st;
    join(path, sizeof path, dir, ".lock");
    int fd;
    if ((st = open_in_place(ctx, path, O_RDWR, &fd)))
        return st;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char holder[32] = "";
        ssize_t got = pread(fd, holder, sizeof holder - 1, 0);
        holder[got > 0 ? got : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        return segcl_fail(ctx, SEGCL_ERROR_STATE,
                          "another segcl train (pid %s) is writing %s; wait for it to end",
                          holder[0] ? holder : "?", dir);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        close(fd);
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    /* the rows of a run that never reached its first checkpoint are not this run's */
    if (restart) {
        join(path, sizeof path, dir, "metrics.csv");
        if (unlink(path) != 0 && errno != ENOENT) {
            close(fd);
            return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot remove %s: %s", path, strerror(errno));
        }
    }
    *lock_fd = fd;
    return SEGCL_OK;
}

void segcl_run_folder_release(int lock_fd)
{
    if (lock_fd >= 0)
        close(lock_fd); /* the lock goes with the descriptor, also when the process dies */
}

void segcl_run_folder_tidy(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        /* a temporary file that a killed run left: ".<name>.tmp-<random>" */
        if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp-")) {
            char path[4200];
            join(path, sizeof path, dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

/* ---- what a run keeps ---- */

segcl_status segcl_run_output_check(segcl_context *ctx, const char *out_path,
                                    const char *model_file)
{
    static const char *const kept[] = {"checkpoint.safetensors", "best.safetensors", "args.json",
                                       "metrics.csv"};
    struct stat sb;
    if (stat(out_path, &sb) != 0)
        return SEGCL_OK; /* a new file is nobody's */
    char out_dir[2048], model_dir[2048], path[4200];
    const char *dirs[2] = {out_dir, model_dir};
    segcl_folder_of(out_dir, sizeof out_dir, out_path);
    if (model_file)
        segcl_folder_of(model_dir, sizeof model_dir, model_file);
    for (int d = 0; d < (model_file ? 2 : 1); d++) {
        join(path, sizeof path, dirs[d], "args.json");
        bool run = exists(path);
        join(path, sizeof path, dirs[d], "checkpoint.safetensors");
        if (!run && !exists(path))
            continue; /* not a run folder */
        for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
            join(path, sizeof path, dirs[d], kept[i]);
            if (segcl_same_file(out_path, path))
                return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                                  "%s is the run's own %s (%s): write to another file", out_path,
                                  kept[i], dirs[d]);
        }
    }
    return SEGCL_OK;
}

/* ---- metrics.csv ---- */

static const char *const metric_columns[] = {"epoch",   "step",    "lr",
                                             "train_loss", "val_loss", "val_dice",
                                             "val_iou", "pixel_accuracy", "images_per_s",
                                             "seconds", NULL};

/* Splits line at commas into at most max fields (in place). */
static int split_fields(char *line, char **fields, int max)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    return n;
}

/* One line of f into buf (its newline kept): 1, or 0 at the end of the file, or -1 for a line
 * longer than buf, read to its end and dropped (fgets alone would return its tail as a line
 * of its own). */
static int read_line(FILE *f, char *buf, size_t len)
{
    if (!fgets(buf, (int)len, f))
        return 0;
    if (strchr(buf, '\n') || feof(f))
        return 1;
    int c;
    while ((c = getc(f)) != EOF && c != '\n')
        ;
    return -1;
}

segcl_status segcl_metrics_read(segcl_context *ctx, const char *path, segcl_metrics_row **rows,
                                size_t *count)
{
    *rows = NULL;
    *count = 0;
    int fd;
    bool absent;
    segcl_status st = segcl_open_regular(segcl_context_diag(ctx), path, &fd, &absent);
    if (st || absent)
        return st;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    char line[1024], *fields[16];
    int column[16], ncol = 0;
    segcl_metrics_row *list = NULL;
    size_t n = 0, cap = 0;
    int got = read_line(f, line, sizeof line);
    if (got > 0) {
        ncol = split_fields(line, fields, 16);
        for (int c = 0; c < ncol; c++)
            column[c] = segcl_name_index(metric_columns, fields[c]);
    }
    while (!st && got != 0 && (got = read_line(f, line, sizeof line)) != 0) {
        if (got < 0)
            continue; /* no row of segcl's is that long: an edit, not a row */
        int nf = split_fields(line, fields, 16);
        segcl_metrics_row row;
        double *slot[] = {&row.epoch, &row.step, &row.lr, &row.train_loss, &row.val_loss,
                          &row.val_dice, &row.val_iou, &row.pixel_accuracy, &row.images_per_s,
                          &row.seconds};
        for (size_t k = 0; k < sizeof slot / sizeof slot[0]; k++)
            *slot[k] = NAN;
        for (int c = 0; c < nf && c < ncol; c++)
            if (column[c] >= 0) {
                char *end;
                double v = strtod(fields[c], &end);
                if (end != fields[c])
                    *slot[column[c]] = v;
            }
        if (!isfinite(row.epoch))
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            segcl_metrics_row *grown = segcl_realloc(list, ncap * sizeof *grown);
            if (!grown) {
                st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory reading %s",
                                path);
                break;
            }
            list = grown;
            cap = ncap;
        }
        list[n++] = row;
    }
    fclose(f);
    if (st) {
        segcl_free(list);
        return st;
    }
    *rows = list;
    *count = n;
    return SEGCL_OK;
}

static void put_number(FILE *f, double v, const char *fmt)
{
    if (isfinite(v))
        fprintf(f, fmt, v);
    else if (isnan(v))
        fputs("nan", f);
}

static void write_row(FILE *f, const segcl_metrics_row *r)
{
    fprintf(f, "%.0f,%.0f,", r->epoch, r->step);
    put_number(f, r->lr, "%.6g");
    const double rest[] = {r->train_loss, r->val_loss, r->val_dice, r->val_iou,
                           r->pixel_accuracy};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
        fputc(',', f);
        put_number(f, rest[i], "%.6f");
    }
    fputc(',', f);
    put_number(f, r->images_per_s, "%.3f");
    fputc(',', f);
    put_number(f, r->seconds, "%.1f");
    fputc('\n', f);
}

static void write_header(FILE *f)
{
    for (int c = 0; metric_columns[c]; c++)
        fprintf(f, "%s%s", c ? "," : "", metric_columns[c]);
    fputc('\n', f);
}

segcl_status segcl_metrics_append(segcl_context *ctx, const char *path,
                                  const segcl_metrics_row *row)
{
    int fd;
    struct stat sb;
    FILE *f = NULL;
    segcl_status st = open_in_place(ctx, path, O_WRONLY | O_APPEND, &fd);
    if (st)
        return st;
    if (fstat(fd, &sb) != 0 || !(f = fdopen(fd, "a"))) {
        st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (sb.st_size == 0)
        write_header(f);
    write_row(f, row);
    const bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed)
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    return SEGCL_OK;
}

segcl_status segcl_metrics_truncate(segcl_context *ctx, const char *path, long epochs)
{
    segcl_metrics_row *rows;
    size_t n;
    segcl_status st = segcl_metrics_read(ctx, path, &rows, &n);
    if (st || !rows)
        return st;
    segcl_file file;
    FILE *f;
    if ((st = segcl_file_begin_stream(segcl_context_diag(ctx), path, &file, &f))) {
        segcl_free(rows);
        return st;
    }
    write_header(f);
    for (size_t i = 0; i < n; i++)
        if (rows[i].epoch <= (double)epochs)
            write_row(f, &rows[i]);
    segcl_free(rows);
    return segcl_file_end_stream(segcl_context_diag(ctx), &file, f, SEGCL_OK);
}

/* ---- args.json ---- */

/* as segcl_json_write_file writes it */
#define ARGS_JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9))

segcl_status segcl_args_write(segcl_context *ctx, const char *path, const segcl_run_config *m,
                              const segcl_dataset *ds, const size_t *train, size_t ntrain,
                              const size_t *val, size_t nval, const char *device,
                              const segcl_data_fingerprint *fingerprint)
{
    json_t *root = json_object(), *data = json_object(), *settings = json_object(),
           *split = json_object(), *training = json_array(), *validation = json_array();
    bool ok = root && data && settings && split && training && validation;
    char text[64];
#define SET(obj, key, value) ok = ok && json_object_set_new(obj, key, value) == 0
    SET(root, "segcl_version", json_string(SEGCL_VERSION));
    SET(root, "device", json_string(device));
    SET(data, "format", json_string(segcl_dataset_format_name(ds->format)));
    if (ds->format == SEGCL_DATASET_PAIR) {
        SET(data, "images", json_string(ds->root));
        SET(data, "masks", json_string(ds->masks_root ? ds->masks_root : ""));
    } else {
        SET(data, "path", json_string(ds->root));
    }
    SET(data, "pairs", json_integer((json_int_t)ds->count));
    if (fingerprint) { /* of the pairs as opened, before any was skipped */
        json_t *print = json_object();
        ok = ok && print;
        SET(print, "sha256", json_string(fingerprint->sha256));
        SET(print, "pairs", json_integer((json_int_t)fingerprint->pairs));
        SET(data, "fingerprint", print);
    }
    SET(settings, "arch", json_string(segcl_arch_names[m->model.arch]));
    SET(settings, "classes", json_integer(m->model.classes));
    SET(settings, "width", json_integer(m->model.width));
    SET(settings, "depth", json_integer(m->model.depth));
    SET(settings, "size", json_integer(m->size));
    SET(settings, "epochs", json_integer(m->epochs));
    SET(settings, "batch", json_integer(m->batch));
    SET(settings, "max_steps", json_integer(m->max_steps));
    SET(settings, "optimizer", json_string(segcl_optimizer_names[m->optimizer.kind]));
    SET(settings, "lr", json_real(m->base_lr));
    SET(settings, "weight_decay", json_real(m->optimizer.weight_decay));
    SET(settings, "momentum", json_real(m->optimizer.momentum));
    SET(settings, "nesterov", json_boolean(m->optimizer.nesterov));
    SET(settings, "loss", json_string(segcl_loss_names[m->classes_loss]));
    SET(settings, "lr_schedule", json_string(segcl_schedule_names[m->lr_schedule]));
    segcl_augment_format(m->augment, text, sizeof text);
    SET(settings, "augment", json_string(text));
    SET(settings, "shuffle", json_boolean(m->shuffle));
    SET(settings, "skip_bad", json_boolean(m->skip_bad));
    SET(settings, "seed", json_integer((json_int_t)m->seed));
    SET(settings, "val_fraction", json_real(m->val_fraction));
    json_t *mean = json_array(), *std = json_array();
    ok = ok && mean && std;
    for (int c = 0; c < 3 && ok; c++)
        ok = json_array_append_new(mean, json_real(m->mean[c])) == 0 &&
             json_array_append_new(std, json_real(m->std[c])) == 0;
    SET(settings, "mean", mean);
    SET(settings, "std", std);
    for (size_t i = 0; i < ntrain && ok; i++)
        ok = json_array_append_new(
                 training, json_string(segcl_base_name(ds->items[train[i]].image_path))) == 0;
    for (size_t i = 0; i < nval && ok; i++)
        ok = json_array_append_new(validation,
                                   json_string(segcl_base_name(ds->items[val[i]].image_path))) == 0;
    SET(split, "training", training);
    SET(split, "validation", validation);
    SET(root, "data", data);
    SET(root, "settings", settings);
    SET(root, "split", split);
#undef SET
    char *dump = NULL;
    segcl_status st =
        ok ? segcl_json_text(segcl_context_diag(ctx), root, ARGS_JSON_FLAGS, &dump)
           : segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory writing %s", path);
    /* what could not be read back is not written: the run would not resume */
    if (!st && strlen(dump) >= SEGCL_ARGS_JSON_MAX)
        st = segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                        "%s would hold the names of %zu images, over the %d MiB an args.json may "
                        "hold: split the data into smaller sets",
                        path, ntrain + nval, SEGCL_ARGS_JSON_MAX >> 20);
    if (!st)
        st = segcl_run_file_check(ctx, path);
    if (!st)
        st = segcl_text_write_file(segcl_context_diag(ctx), path, dump);
    segcl_free(dump);
    json_decref(root);
    return st;
}

segcl_status segcl_run_checkpoint_save(segcl_context *ctx, const char *path, segcl_model *model,
                                       const segcl_run_config *config)
{
    segcl_metadata md = {0};
    segcl_status st = segcl_run_file_check(ctx, path);
    if (!st)
        st = segcl_run_config_to_metadata(ctx, config, &md);
    if (!st)
        st = segcl_checkpoint_save(ctx, path, model, &md);
    segcl_metadata_clear(&md);
    return st;
}

segcl_status segcl_run_config_read(segcl_context *ctx, const char *path, segcl_run_config *config)
{
    segcl_metadata md = {0};
    segcl_status st = segcl_checkpoint_read_metadata(ctx, path, &md, NULL);
    if (!st)
        st = segcl_run_config_from_metadata(ctx, path, &md, config);
    segcl_metadata_clear(&md);
    return st;
}

segcl_status segcl_model_file(segcl_context *ctx, const char *path, char **out)
{
    *out = NULL;
    struct stat sb;
    const bool folder = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    const size_t len = strlen(path) + sizeof "/best.safetensors";
    char *file = segcl_malloc(len);
    if (!file)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    snprintf(file, len, folder ? "%s/best.safetensors" : "%s", path);
    if (folder && stat(file, &sb) != 0) {
        segcl_free(file);
        return segcl_fail(ctx, SEGCL_ERROR_IO,
                          "%s is a folder without best.safetensors: not a segcl run folder (give "
                          "a checkpoint file, or a run folder that finished an epoch)",
                          path);
    }
    *out = file;
    return SEGCL_OK;
}
