/*
 * Real-world datasets and run folders: masks stored smaller than their photos (resized, with a
 * note), 0/1 masks (read as foreground, with a note), a mask of another shape (an error naming
 * it, or skipped with --skip-bad), every problem listed together, any two folders matched by
 * stem, augmentation defaults per layout, a validation split without foreground (Dice undefined,
 * said so), run folders that refuse a second run and a second writer, args.json and evaluation
 * of exactly a run's validation images, and predicting a folder with a bad file, colliding
 * stems and the output folder inside the input. Fixtures: tests/data/fixtures/sizes*.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cl/cl.h"
#include "data/data.h"
#include "train/run_folder.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static segcl_context *ctx;
static const char *const fixtures = fx.fixtures, *const tmp = fx.temp;
static char synth[300];

static char lines[32][600];
static const char *line_settings[32]; /* the setting each line concerns, or NULL */
static int line_count;

static void collect(void *user, const char *line, const char *setting)
{
    (void)user;
    if (line_count < 32) {
        snprintf(lines[line_count], sizeof lines[0], "%s", line);
        line_settings[line_count] = setting;
    }
    line_count++;
}

static void collect_progress(const segcl_train_progress *p, void *user)
{
    if (p->event == 2)
        collect(user, p->notice, p->notice_setting);
}

static void collect_warning(const char *message, void *user)
{
    collect(user, message, segcl_context_warning_setting(ctx));
}

/* The index of the first collected line holding all of a and b, or -1. */
static int find_line(const char *a, const char *b)
{
    for (int i = 0; i < line_count && i < 32; i++)
        if (strstr(lines[i], a) && (!b || strstr(lines[i], b)))
            return i;
    return -1;
}

static void sizes_folders(const char *which, char *images, char *masks, size_t len)
{
    snprintf(images, len, "%s/%s/photos", fixtures, which);
    snprintf(masks, len, "%s/%s/truth", fixtures, which);
}

/* The mask tools/make_fixtures.py draws (big_mask_bits). */
static int big_mask(int w, int h, int seed, int x, int y)
{
    double cx = w * (0.4 + 0.05 * seed), cy = h * 0.5;
    return (x - cx) * (x - cx) / (w * w / 9.0) + (y - cy) * (y - cy) / (h * h / 9.0) < 1;
}

static void test_mask_rules(void **state)
{
    (void)state;
    char images[600], masks[600], path[700];
    sizes_folders("sizes", images, masks, sizeof images);
    /* a half-size mask becomes its photo's size by nearest neighbour */
    segcl_image m;
    segcl_mask_info info;
    snprintf(path, sizeof path, "%s/p1.png", masks);
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 1, &m));
    assert_int_equal(m.width, 20);
    assert_ok(ctx, segcl_mask_prepare(segcl_context_diag(ctx), path, &m, 1, 40, 30, &info));
    assert_true(info.resized && !info.zero_one);
    assert_int_equal(info.stored_width, 20);
    assert_int_equal(m.width, 40);
    assert_int_equal(m.height, 30);
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++)
            assert_int_equal(m.pixels[y * 40 + x], 255 * big_mask(20, 15, 1, x / 2, y / 2));
    segcl_image_free(&m);
    /* 0/1 is background/foreground */
    snprintf(path, sizeof path, "%s/p3.png", masks);
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 1, &m));
    assert_ok(ctx, segcl_mask_prepare(segcl_context_diag(ctx), path, &m, 1, 40, 30, &info));
    assert_true(info.zero_one && !info.resized && !info.empty);
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++)
            assert_int_equal(m.pixels[y * 40 + x], 255 * big_mask(40, 30, 3, x, y));
    segcl_image_free(&m);
    /* another aspect ratio is an error naming the mask */
    sizes_folders("sizes_bad", images, masks, sizeof images);
    snprintf(path, sizeof path, "%s/p2.png", masks);
    assert_ok(ctx, segcl_image_load(segcl_context_diag(ctx), path, 1, &m));
    assert_int_equal(segcl_mask_prepare(segcl_context_diag(ctx), path, &m, 1, 40, 30, &info),
                     SEGCL_ERROR_FORMAT);
    assert_non_null(strstr(segcl_context_error(ctx), "p2.png"));
    assert_non_null(strstr(segcl_context_error(ctx), "aspect"));
    segcl_image_free(&m);
}

static void test_dataset_check(void **state)
{
    (void)state;
    char images[600], masks[600];
    sizes_folders("sizes", images, masks, sizeof images);
    segcl_dataset *ds;
    segcl_check_result res;
    assert_ok(ctx, segcl_dataset_open_pair(ctx, images, masks, &ds));
    assert_int_equal(segcl_dataset_get_format(ds), SEGCL_DATASET_PAIR);
    assert_int_equal(segcl_dataset_size(ds), 4);
    line_count = 0;
    assert_ok(ctx,
              segcl_dataset_check(segcl_context_diag(ctx), ds, 16, 1, false, collect, NULL, &res));
    assert_int_equal(res.resized, 2);
    assert_int_equal(res.zero_one, 1);
    assert_true(find_line("note: 2 of 4 masks", "resized") >= 0);
    assert_true(find_line("note: 1 masks hold 0/1", NULL) >= 0);
    /* the checked samples are kept for the loaders, and the 0/1 mask has foreground */
    assert_non_null(ds->cache);
    size_t fg = 0;
    for (int i = 0; i < 16 * 16; i++)
        fg += ds->cache[3].mask.pixels[i] > 127;
    assert_true(fg > 10);
    segcl_dataset_destroy(ds);

    /* a mask of another shape: an error, with the problem listed (naming the file) first */
    sizes_folders("sizes_bad", images, masks, sizeof images);
    assert_ok(ctx, segcl_dataset_open_pair(ctx, images, masks, &ds));
    line_count = 0;
    assert_int_equal(
        segcl_dataset_check(segcl_context_diag(ctx), ds, 16, 1, false, collect, NULL, &res),
        SEGCL_ERROR_FORMAT);
    assert_true(find_line("problem: ", "p2.png") >= 0);
    assert_non_null(strstr(segcl_context_error(ctx), "skip them"));
    assert_string_equal(segcl_context_error_setting(ctx), "skip_bad");
    assert_non_null(strstr(segcl_context_error(ctx), "1 of the 4"));
    /* --skip-bad leaves it out */
    line_count = 0;
    assert_ok(ctx,
              segcl_dataset_check(segcl_context_diag(ctx), ds, 16, 1, true, collect, NULL, &res));
    assert_true(find_line("skipped: ", "p2.png") >= 0);
    assert_int_equal(res.skipped_bad, 1);
    assert_int_equal(segcl_dataset_size(ds), 3);
    assert_string_equal(ds->items[2].stem, "p3");
    segcl_dataset_destroy(ds);

    /* every unusable pair is listed, not only the first: a corrupt photo joins in */
    char bad[400], bad_images[420], bad_masks[420], cmd[4000];
    snprintf(bad, sizeof bad, "%s/two_bad", tmp);
    snprintf(bad_images, sizeof bad_images, "%s/photos", bad);
    snprintf(bad_masks, sizeof bad_masks, "%s/truth", bad);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp -r '%s' '%s' '%s/' && head -c 300 '%s/p0.jpg' > '%s/p0.jpg'",
             bad, images, masks, bad, images, bad_images);
    assert_int_equal(system(cmd), 0);
    assert_ok(ctx, segcl_dataset_open_pair(ctx, bad_images, bad_masks, &ds));
    line_count = 0;
    assert_int_equal(
        segcl_dataset_check(segcl_context_diag(ctx), ds, 16, 1, false, collect, NULL, &res),
        SEGCL_ERROR_FORMAT);
    assert_true(find_line("problem: ", "p0.jpg") >= 0);
    assert_true(find_line("problem: ", "p2.png") >= 0);
    assert_true(find_line("problem: ", "p0.jpg") < find_line("problem: ", "p2.png"));
    assert_non_null(strstr(segcl_context_error(ctx), "2 of the 4"));
    assert_null(line_settings[find_line("problem: ", "p0.jpg")]); /* damage: no setting */
    segcl_dataset_destroy(ds);

    /* photos over the pixel limit: each problem line names the setting that would let them in */
    sizes_folders("sizes", images, masks, sizeof images);
    assert_ok(ctx, segcl_dataset_open_pair(ctx, images, masks, &ds));
    segcl_context_set_max_pixels(ctx, 16);
    line_count = 0;
    assert_int_equal(
        segcl_dataset_check(segcl_context_diag(ctx), ds, 16, 1, false, collect, NULL, &res),
        SEGCL_ERROR_FORMAT);
    segcl_context_set_max_pixels(ctx, 0);
    const int over = find_line("problem: ", "exceeds the limit of 16 pixels");
    assert_true(over >= 0);
    assert_non_null(line_settings[over]);
    assert_string_equal(line_settings[over], "max_pixels");
    segcl_dataset_destroy(ds);
}

static void base_options(segcl_train_options *o, const char *out)
{
    segcl_train_default_options(o);
    o->data_dir = synth;
    o->out_dir = out;
    o->width = 4;
    o->depth = 2;
    o->size = 16;
    o->batch = 4;
    o->epochs = 1;
    o->val_fraction = 0.25f;
    o->overlays = 0;
    o->progress = collect_progress;
}


static void test_run_folder(void **state)
{
    (void)state;
    char out[400], path[700];
    snprintf(out, sizeof out, "%s/run1", tmp);
    segcl_train_options o;
    segcl_train_summary s;
    base_options(&o, out);
    line_count = 0;
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    /* what was found is said up front */
    assert_true(find_line("note: 12 images with masks: training 9, validating 3", NULL) >= 0);
    /* args.json: settings, data, split; and the split evaluates as the run validated */
    snprintf(path, sizeof path, "%s/args.json", out);
    char *args = test_read_file(path);
    assert_non_null(args);
    assert_non_null(strstr(args, "\"validation\""));
    assert_non_null(strstr(args, "\"augment\": \"hflip,color,scale\"")); /* not PH2 */
    assert_non_null(strstr(args, synth));
    free(args);
    segcl_dataset *val;
    assert_ok(ctx, segcl_dataset_open_run(ctx, out, "val", &val));
    assert_int_equal(segcl_dataset_size(val), 3);
    segcl_dataset *train;
    assert_ok(ctx, segcl_dataset_open_run(ctx, out, "train", &train));
    assert_int_equal(segcl_dataset_size(train), 9);
    for (size_t i = 0; i < val->count; i++)
        for (size_t j = 0; j < train->count; j++)
            assert_string_not_equal(val->items[i].stem, train->items[j].stem);
    segcl_dataset_destroy(train);
    segcl_dataset_destroy(val);
    /* a second run into the same folder is refused, pointing at resuming it */
    base_options(&o, out);
    assert_int_equal(segcl_train(ctx, &o, &s), SEGCL_ERROR_STATE);
    assert_non_null(strstr(segcl_context_error(ctx), "resume it"));
    assert_string_equal(segcl_context_error_setting(ctx), "resume_dir");
    /* while another process holds the lock, nobody else writes the folder */
    snprintf(path, sizeof path, "%s/.lock", out);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    pid_t child = fork();
    if (child == 0) {
        flock(fd, LOCK_EX);
        sleep(30);
        _exit(0);
    }
    nanosleep(&(struct timespec){0, 300000000}, NULL);
    segcl_train_options r;
    segcl_train_default_options(&r);
    r.resume_dir = out;
    assert_int_equal(segcl_train(ctx, &r, &s), SEGCL_ERROR_STATE);
    assert_non_null(strstr(segcl_context_error(ctx), "another segcl train"));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    close(fd);
    /* the lock dies with its holder */
    r.epochs = 0;
    assert_ok(ctx, segcl_train(ctx, &r, &s));
}

static void test_person_layout_and_empty_validation(void **state)
{
    (void)state;
    char images[600], masks[600], out[400];
    sizes_folders("sizes", images, masks, sizeof images);
    snprintf(out, sizeof out, "%s/pairs", tmp);
    segcl_train_options o;
    segcl_train_summary s;
    base_options(&o, out);
    o.data_dir = NULL;
    o.images_dir = images;
    o.masks_dir = masks;
    o.augment = "hflip,rot90";
    line_count = 0;
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    assert_true(find_line("augmentation hflip,rot90", NULL) >= 0);
    assert_true(find_line("resized", NULL) >= 0);
    assert_true(isfinite(s.final_val_dice));
    /* a bad augmentation name is refused with the choices */
    snprintf(out, sizeof out, "%s/pairs-bad", tmp);
    base_options(&o, out);
    o.augment = "hflip,twirl";
    assert_int_equal(segcl_train(ctx, &o, &s), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(segcl_context_error(ctx), "twirl"));
    assert_non_null(strstr(segcl_context_error(ctx), "scale"));

    /* masks without foreground: Dice is undefined, and said so; best follows the loss */
    char empty[600];
    snprintf(empty, sizeof empty, "%s/empty", fixtures);
    snprintf(out, sizeof out, "%s/empty-run", tmp);
    base_options(&o, out);
    o.data_dir = empty;
    o.epochs = 2;
    line_count = 0;
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    assert_true(isnan(s.final_val_dice) && isnan(s.final_val_iou));
    assert_true(s.final_val_pixel_accuracy >= 0 && s.final_val_pixel_accuracy <= 1);
    assert_true(find_line("hold no foreground", "undefined") >= 0);
    char path[700];
    snprintf(path, sizeof path, "%s/best.safetensors", out);
    assert_int_equal(access(path, R_OK), 0);
}

/* A whole file (free it) and its length; NULL when it cannot be read. */
static unsigned char *bytes_of(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

/* images/<from> and masks/<from> of a pair folder linked under another name: a pair added. */
static void link_pair(const char *dir, const char *from, const char *to)
{
    const char *sub[] = {"images", "masks"};
    for (int i = 0; i < 2; i++) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/%s/%s", dir, sub[i], from);
        snprintf(b, sizeof b, "%s/%s/%s", dir, sub[i], to);
        assert_int_equal(link(a, b), 0);
    }
}

static void unlink_pair(const char *dir, const char *name)
{
    const char *sub[] = {"images", "masks"};
    for (int i = 0; i < 2; i++) {
        char a[700];
        snprintf(a, sizeof a, "%s/%s/%s", dir, sub[i], name);
        assert_int_equal(unlink(a), 0);
    }
}

/* A resumed run and `eval --split val` use the data the run started with, or refuse and say
 * what changed: pairs added, pairs modified. The data path is stored absolute, so another
 * working folder changes nothing (issue 18). */
static void test_run_checks_its_data(void **state)
{
    (void)state;
    char data_dir[400], out[400], path[700], cwd[1024];
    snprintf(data_dir, sizeof data_dir, "%s/changing", tmp);
    assert_ok(ctx, segcl_synth(ctx, data_dir, 12, 16, 5));
    snprintf(out, sizeof out, "%s/data-run", tmp);
    segcl_train_options o;
    segcl_train_summary s;
    segcl_dataset *ds = NULL;
    /* started from the data's own folder, with a relative path */
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmp), 0);
    base_options(&o, out);
    o.data_dir = "changing";
    segcl_status st = segcl_train(ctx, &o, &s);
    assert_int_equal(chdir(cwd), 0);
    assert_ok(ctx, st);
    segcl_train_options r;
    segcl_train_default_options(&r);
    r.resume_dir = out;

    /* pairs added since: resuming would re-split, evaluating would score other images */
    link_pair(data_dir, "synth0003.png", "zz_added.png");
    st = segcl_train(ctx, &r, &s);
    if (st == SEGCL_OK || !strstr(segcl_context_error(ctx), "zz_added.png"))
        fail_msg("resume after a pair was added: status %d (%s)", st, segcl_context_error(ctx));
    assert_null(strchr(segcl_context_error(ctx), '\n'));
    st = segcl_dataset_open_run(ctx, out, "val", &ds);
    segcl_dataset_destroy(ds);
    ds = NULL;
    if (st == SEGCL_OK || !strstr(segcl_context_error(ctx), "zz_added.png"))
        fail_msg("eval --split val after a pair was added: status %d (%s)", st,
                 segcl_context_error(ctx));

    /* the path in args.json is absolute: from here (not the data's folder) it is the same data */
    snprintf(path, sizeof path, "%s/args.json", out);
    char *args = test_read_file(path);
    assert_non_null(args);
    if (!strstr(args, "\"path\": \"/"))
        fail_msg("args.json keeps a relative data path:\n%s", args);
    free(args);
    /* the pair gone again: the data is the run's, and both work */
    unlink_pair(data_dir, "zz_added.png");
    assert_ok(ctx, segcl_train(ctx, &r, &s));
    assert_ok(ctx, segcl_dataset_open_run(ctx, out, "val", &ds));
    assert_int_equal(segcl_dataset_size(ds), 3);
    segcl_dataset_destroy(ds);
    ds = NULL;

    /* a file rewritten in place (same names): the fingerprint's sizes and times see it */
    snprintf(path, sizeof path, "%s/masks/synth0005.png", data_dir);
    struct timespec times[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    st = segcl_train(ctx, &r, &s);
    if (st == SEGCL_OK || !strstr(segcl_context_error(ctx), "modified"))
        fail_msg("resume after a mask changed: status %d (%s)", st, segcl_context_error(ctx));
    assert_string_equal(segcl_context_error_setting(ctx), "allow_changed_data");
    /* modified after the run started (its args.json), the file is named */
    clock_gettime(CLOCK_REALTIME, &times[1]);
    times[1].tv_sec += 100;
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    st = segcl_train(ctx, &r, &s);
    if (st == SEGCL_OK || !strstr(segcl_context_error(ctx), "1 file was modified after") ||
        !strstr(segcl_context_error(ctx), "masks/synth0005.png"))
        fail_msg("resume after a mask was rewritten: status %d (%s)", st,
                 segcl_context_error(ctx));

    /* allowed: the run goes on, with a warning saying what changed */
    link_pair(data_dir, "synth0003.png", "zz_added.png");
    segcl_context_set_allow_changed_data(ctx, true);
    line_count = 0;
    st = segcl_train(ctx, &r, &s);
    assert_ok(ctx, st);
    assert_true(find_line("zz_added.png", NULL) >= 0);
    line_count = 0;
    assert_ok(ctx, segcl_dataset_open_run(ctx, out, "val", &ds));
    segcl_dataset_destroy(ds);
    ds = NULL;
    assert_true(find_line("zz_added.png", NULL) >= 0);
    segcl_context_set_allow_changed_data(ctx, false);
    unlink_pair(data_dir, "zz_added.png");

    /* a run folder of an older segcl (no fingerprint) still works, with a warning that its data
     * cannot be checked */
    snprintf(path, sizeof path, "%s/args.json", out);
    args = test_read_file(path);
    assert_non_null(args);
    char *at = strstr(args, "\"fingerprint\"");
    assert_non_null(at);
    memcpy(at, "\"fingerprinx\"", 13);
    test_write_text(path, args);
    free(args);
    line_count = 0;
    assert_ok(ctx, segcl_dataset_open_run(ctx, out, "val", &ds));
    segcl_dataset_destroy(ds);
    assert_true(find_line("cannot be checked", NULL) >= 0);
}

/* A run that failed before its first checkpoint (args.json written, then the device ran out of
 * memory) starts again in the same folder; resuming a folder that does not exist creates
 * nothing (issue 18). */
static void test_stuck_run_folder(void **state)
{
    (void)state;
    char out[400], path[700];
    snprintf(out, sizeof out, "%s/stuck", tmp);
    segcl_train_options o;
    segcl_train_summary s;
    base_options(&o, out);
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    /* what a run that failed in its first epoch leaves: args.json and the lock */
    const char *gone[] = {"checkpoint.safetensors", "best.safetensors", "metrics.csv",
                          "curves.svg"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", out, gone[i]);
        unlink(path);
    }
    segcl_train_options r;
    segcl_train_default_options(&r);
    r.resume_dir = out;
    assert_int_not_equal(segcl_train(ctx, &r, &s), SEGCL_OK);
    assert_non_null(strstr(segcl_context_error(ctx), "start it again"));
    base_options(&o, out);
    line_count = 0;
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    assert_int_equal(s.epochs_done, 1);
    assert_true(find_line("before its first checkpoint", NULL) >= 0);
    /* a finished run is still refused */
    assert_int_equal(segcl_train(ctx, &o, &s), SEGCL_ERROR_STATE);

    char missing[500];
    snprintf(missing, sizeof missing, "%s/never/run", tmp);
    r.resume_dir = missing;
    assert_int_not_equal(segcl_train(ctx, &r, &s), SEGCL_OK);
    assert_non_null(strstr(segcl_context_error(ctx), missing));
    snprintf(path, sizeof path, "%s/never", tmp);
    assert_int_not_equal(access(path, F_OK), 0);
}

/* Export and prediction never write over a run's checkpoint, best model, args.json or
 * metrics.csv, whatever name leads there (issue 18). */
static void test_run_files_are_never_outputs(void **state)
{
    (void)state;
    char out[400], other[400], ckpt[700], best[700], args[700], metrics[700], link_best[700],
        other_ckpt[700], path[700];
    snprintf(out, sizeof out, "%s/guarded", tmp);
    segcl_train_options o;
    segcl_train_summary s;
    base_options(&o, out);
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out);
    snprintf(best, sizeof best, "%s/best.safetensors", out);
    snprintf(args, sizeof args, "%s/args.json", out);
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", out);
    snprintf(link_best, sizeof link_best, "%s/best-link.safetensors", tmp);
    assert_int_equal(symlink(best, link_best), 0);
    /* another run's folder: its checkpoint is no output either */
    snprintf(other, sizeof other, "%s/other-run", tmp);
    assert_int_equal(mkdir(other, 0755), 0);
    snprintf(path, sizeof path, "%s/args.json", other);
    test_write_text(path, "{}\n");
    snprintf(other_ckpt, sizeof other_ckpt, "%s/checkpoint.safetensors", other);
    test_write_text(other_ckpt, "a checkpoint\n");
    const char *files[] = {ckpt, best, args, metrics, other_ckpt};
    unsigned char *before[5];
    size_t len[5];
    for (int i = 0; i < 5; i++)
        assert_non_null(before[i] = bytes_of(files[i], &len[i]));
    const struct {
        const char *model, *target;
        bool onnx;
    } cases[] = {{ckpt, best, false},   {out, ckpt, true},       {out, args, true},
                 {ckpt, metrics, false}, {ckpt, link_best, false}, {out, other_ckpt, false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        segcl_status st = cases[i].onnx ? segcl_export_onnx(ctx, cases[i].model, cases[i].target)
                                        : segcl_export_weights(ctx, cases[i].model, cases[i].target);
        if (st == SEGCL_OK || !strstr(segcl_context_error(ctx), cases[i].target))
            fail_msg("export %s to %s: status %d (%s)", cases[i].model, cases[i].target, st,
                     segcl_context_error(ctx));
    }
    /* prediction into a folder where an output's name leads to the run's checkpoint */
    char pred[500], image[700];
    snprintf(pred, sizeof pred, "%s/guarded-pred", tmp);
    assert_int_equal(mkdir(pred, 0755), 0);
    snprintf(path, sizeof path, "%s/synth0000_mask.png", pred);
    assert_int_equal(symlink(ckpt, path), 0);
    snprintf(image, sizeof image, "%s/images/synth0000.png", synth);
    segcl_predictor *p;
    assert_ok(ctx, segcl_predictor_open(ctx, out, NULL, &p));
    const char *inputs[] = {image};
    segcl_status st = segcl_predict_files(p, inputs, 1, pred, false, NULL, NULL);
    segcl_predictor_destroy(p);
    if (st == SEGCL_OK || !strstr(segcl_context_error(ctx), "synth0000_mask.png"))
        fail_msg("predict over the checkpoint: status %d (%s)", st, segcl_context_error(ctx));
    for (int i = 0; i < 5; i++) {
        size_t n;
        unsigned char *after = bytes_of(files[i], &n);
        assert_non_null(after);
        if (n != len[i] || memcmp(after, before[i], n))
            fail_msg("%s was changed", files[i]);
        free(after);
        free(before[i]);
    }
    /* anywhere else, export writes */
    snprintf(path, sizeof path, "%s/exported-fine.safetensors", tmp);
    assert_ok(ctx, segcl_export_weights(ctx, ckpt, path));
}

static segcl_atomic_int cancel_flag;

/* Cancels the run when its first epoch ends, as Ctrl-C would: its checkpoint says epoch 1. */
static void cancel_after_epoch(const segcl_train_progress *p, void *user)
{
    (void)user;
    if (p->event == 1)
        atomic_store(&cancel_flag, 1);
}

/* A symlink planted in a run folder is refused, naming the file, and the file it points to is
 * never written: the lock, metrics.csv, an overlay and curves.svg (issue 18). */
static void test_run_folder_links_refused(void **state)
{
    (void)state;
    char out[400], target[500], path[700], aside[700], overlay[1000] = "";
    snprintf(out, sizeof out, "%s/linked", tmp);
    snprintf(target, sizeof target, "%s/precious.txt", tmp);
    segcl_train_options o;
    segcl_train_summary s;
    base_options(&o, out);
    o.overlays = 1;
    o.epochs = 2;
    o.progress = cancel_after_epoch;
    o.cancel = &cancel_flag;
    atomic_store(&cancel_flag, 0);
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    assert_int_equal(s.epochs_done, 1);
    /* the overlay the next epoch writes: epoch002_<stem>.jpg beside epoch001_<stem>.jpg */
    snprintf(path, sizeof path, "%s/overlays", out);
    DIR *d = opendir(path);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (!strncmp(e->d_name, "epoch001_", 9))
            snprintf(overlay, sizeof overlay, "overlays/epoch002_%s", e->d_name + 9);
    closedir(d);
    assert_true(overlay[0] != '\0');
    const char *names[] = {".lock", "metrics.csv", overlay, "curves.svg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        test_write_text(target, "precious\n");
        snprintf(path, sizeof path, "%s/%s", out, names[i]);
        snprintf(aside, sizeof aside, "%s/aside", tmp);
        const bool existed = access(path, F_OK) == 0;
        if (existed)
            assert_int_equal(rename(path, aside), 0);
        assert_int_equal(symlink(target, path), 0);
        segcl_train_options r;
        segcl_train_default_options(&r);
        r.resume_dir = out;
        r.overlays = 1;
        segcl_status st = segcl_train(ctx, &r, &s);
        if (st == SEGCL_OK || !strstr(segcl_context_error(ctx), names[i]))
            fail_msg("resume with %s a link: status %d (%s)", names[i], st,
                     segcl_context_error(ctx));
        char *text = test_read_file(target);
        assert_non_null(text);
        if (strcmp(text, "precious\n"))
            fail_msg("resume with %s a link wrote its target: %.60s", names[i], text);
        free(text);
        struct stat sb;
        assert_int_equal(lstat(path, &sb), 0);
        assert_true(S_ISLNK(sb.st_mode));
        assert_int_equal(unlink(path), 0);
        if (existed)
            assert_int_equal(rename(aside, path), 0);
    }
    /* a hard link at .lock or metrics.csv: O_NOFOLLOW does not see it; writing the pid or
     * appending a row would change the file it shares */
    const char *linked[] = {".lock", "metrics.csv"};
    for (size_t i = 0; i < sizeof linked / sizeof linked[0]; i++) {
        test_write_text(target, "precious\n");
        snprintf(path, sizeof path, "%s/%s", out, linked[i]);
        snprintf(aside, sizeof aside, "%s/aside", tmp);
        assert_int_equal(rename(path, aside), 0);
        assert_int_equal(link(target, path), 0);
        segcl_train_options r;
        segcl_train_default_options(&r);
        r.resume_dir = out;
        segcl_status st = segcl_train(ctx, &r, &s);
        char *text = test_read_file(target);
        assert_non_null(text);
        if (strcmp(text, "precious\n"))
            fail_msg("resume with %s a hard link wrote its target: %.60s", linked[i], text);
        /* the lock is refused; metrics.csv is replaced by its cut copy before any row is
         * appended (resume keeps the rows of the checkpoint's epochs), which leaves the
         * target alone too */
        if (i == 0 && (st == SEGCL_OK || !strstr(segcl_context_error(ctx), "hard link")))
            fail_msg("resume with .lock a hard link: status %d (%s)", st,
                     segcl_context_error(ctx));
        free(text);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rename(aside, path), 0);
    }
    /* a FIFO at the checkpoint: refused at once (opening it for reading would wait for a
     * writer for ever, holding the folder's lock) */
    {
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", out);
        snprintf(aside, sizeof aside, "%s/aside", tmp);
        assert_int_equal(rename(path, aside), 0);
        assert_int_equal(mkfifo(path, 0600), 0);
        segcl_train_options r;
        segcl_train_default_options(&r);
        r.resume_dir = out;
        segcl_status st = segcl_train(ctx, &r, &s);
        if (st == SEGCL_OK || !strstr(segcl_context_error(ctx), "not a regular file"))
            fail_msg("resume with a FIFO for a checkpoint: status %d (%s)", st,
                     segcl_context_error(ctx));
        segcl_run_config meta;
        assert_int_not_equal(segcl_run_config_read(ctx, path, &meta), SEGCL_OK);
        assert_non_null(strstr(segcl_context_error(ctx), "not a regular file"));
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rename(aside, path), 0);
    }
    /* metrics.csv is never appended through a link */
    segcl_metrics_row row = {.epoch = 1};
    snprintf(path, sizeof path, "%s/metrics-link.csv", tmp);
    test_write_text(target, "precious\n");
    assert_int_equal(symlink(target, path), 0);
    assert_int_not_equal(segcl_metrics_append(ctx, path, &row), SEGCL_OK);
    assert_non_null(strstr(segcl_context_error(ctx), path));
    char *text = test_read_file(target);
    assert_non_null(text);
    assert_string_equal(text, "precious\n");
    free(text);
    /* nor through a hard link (O_NOFOLLOW does not see one: the row would grow the other
     * file) */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(link(target, path), 0);
    assert_int_not_equal(segcl_metrics_append(ctx, path, &row), SEGCL_OK);
    assert_non_null(strstr(segcl_context_error(ctx), "hard link"));
    text = test_read_file(target);
    assert_non_null(text);
    assert_string_equal(text, "precious\n");
    free(text);
    assert_int_equal(unlink(path), 0);

    /* a line longer than any row of segcl's (an edit) is dropped whole: before, its tail read
     * as a row of its own, at epoch 5.4e227 (found by the metrics.csv fuzz target) */
    char *longline = malloc(1400);
    assert_non_null(longline);
    snprintf(longline, 1400, "epoch,step\n1,12\n-%01300d,1\n2,24\n", 1);
    test_write_text(path, longline);
    free(longline);
    segcl_metrics_row *rows = NULL;
    size_t count = 0;
    assert_ok(ctx, segcl_metrics_read(ctx, path, &rows, &count));
    assert_int_equal(count, 2);
    assert_true(rows[0].epoch == 1 && rows[1].epoch == 2 && rows[1].step == 24);
    segcl_free(rows);
    assert_int_equal(unlink(path), 0);
}

static int setup(void **state)
{
    (void)state;
    if (test_fixture_setup(&fx, "datasets", TEST_FIXTURE_TEMP | TEST_FIXTURE_DEVICE) ||
        test_fixture_synth(&fx, "synth", 12, 16, 11, synth, sizeof synth))
        return -1;
    ctx = fx.ctx;
    segcl_context_set_warning_handler(ctx, collect_warning, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_fixture_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_rules),
        cmocka_unit_test(test_dataset_check),
        cmocka_unit_test(test_run_folder),
        cmocka_unit_test(test_person_layout_and_empty_validation),
        cmocka_unit_test(test_run_checks_its_data),
        cmocka_unit_test(test_stuck_run_folder),
        cmocka_unit_test(test_run_files_are_never_outputs),
        cmocka_unit_test(test_run_folder_links_refused),
    };
    return cmocka_run_group_tests_name("datasets", tests, setup, teardown);
}
