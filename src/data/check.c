/*
 * Checking a dataset before the first step: every image/mask pair is decoded once (on all
 * cores), its mask read by the shared rules (src/data/sample.c), and both resized to the
 * network's size and kept for the loaders. Every problem is reported together, in file order:
 * unreadable files, masks of another shape, masks with unknown classes; and what was fixed on
 * the way (masks resized, 0/1 masks) is summed up in one note each. Problems are errors unless
 * the caller skips problem pairs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data/data.h"

typedef struct pair_result {
    segcl_status status;
    char *message; /* the problem, or a warning of a pair that loaded */
    const char *setting; /* the setting the problem concerns, or NULL */
    segcl_mask_info info;
} pair_result;

typedef struct check_job {
    segcl_dataset *ds;
    const segcl_diag *parent; /* the caller's: its reading policy */
    int size, classes;
    pair_result *results;
    atomic_size_t next;
} check_job;

/* Keeps the first warning of the pair being decoded (per worker sink). */
static void keep_warning(const char *message, void *user)
{
    char **slot = user;
    if (!*slot)
        *slot = segcl_strdup(message);
}

static void check_pairs(check_job *job, segcl_diag *diag)
{
    for (;;) {
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->ds->count)
            return;
        pair_result *r = &job->results[i];
        char *warning = NULL;
        segcl_diag_set_warning_handler(diag, keep_warning, &warning);
        r->status = segcl_sample_load(diag, &job->ds->items[i], job->size, job->classes,
                                      &job->ds->cache[i].image, &job->ds->cache[i].mask, &r->info);
        segcl_diag_set_warning_handler(diag, NULL, NULL);
        if (r->status) {
            segcl_free(warning);
            r->message = segcl_strdup(segcl_diag_message(diag));
            r->setting = segcl_diag_setting(diag);
        } else {
            r->message = warning;
        }
        if (!r->message && r->status)
            r->status = SEGCL_ERROR_OUT_OF_HOST_MEMORY;
    }
}

static void *worker(void *arg)
{
    check_job *job = arg;
    segcl_diag own;
    if (segcl_diag_init(&own) == SEGCL_OK) {
        segcl_diag_copy_decoding(&own, job->parent);
        check_pairs(job, &own);
    }
    segcl_diag_release(&own);
    return NULL;
}

/* Drops entry i (its files were bad) from the dataset, keeping order. */
static void drop_entry(segcl_dataset *ds, size_t i)
{
    segcl_free(ds->items[i].stem);
    segcl_free(ds->items[i].image_path);
    segcl_free(ds->items[i].mask_path);
    segcl_image_free(&ds->cache[i].image);
    segcl_image_free(&ds->cache[i].mask);
    memmove(ds->items + i, ds->items + i + 1, (ds->count - i - 1) * sizeof *ds->items);
    memmove(ds->cache + i, ds->cache + i + 1, (ds->count - i - 1) * sizeof *ds->cache);
    ds->count--;
}

static void say_setting(segcl_say_fn fn, void *user, const char *setting, const char *fmt, ...)
    SEGCL_PRINTF(4, 5);
static void say_setting(segcl_say_fn fn, void *user, const char *setting, const char *fmt, ...)
{
    if (!fn)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fn(user, line, setting);
}
#define say(fn, user, ...) say_setting(fn, user, NULL, __VA_ARGS__)

/* Decodes every pair on all cores (up to 16 threads, the calling one among them). Only running
 * out of memory is an error here; each pair's own problem waits in job->results. */
static segcl_status decode_all(check_job *job, segcl_diag *diag, size_t n)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t threads = cores < 1 ? 1 : cores > 16 ? 16 : (size_t)cores;
    if (threads > n)
        threads = n ? n : 1;
    pthread_t tid[16];
    size_t started = 0;
    for (size_t t = 1; t < threads; t++) /* the calling thread is one of them */
        if (pthread_create(&tid[started], NULL, worker, job) == 0)
            started++;
    /* workers that cannot start a sink claim nothing: this thread takes what is left */
    segcl_diag own;
    segcl_status st = segcl_diag_init(&own);
    if (st == SEGCL_OK) {
        segcl_diag_copy_decoding(&own, diag);
        check_pairs(job, &own);
    }
    segcl_diag_release(&own);
    for (size_t t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    if (st)
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                               "out of host memory checking %s", job->ds->root);
    for (size_t i = 0; i < n && !st; i++)
        if (job->results[i].status == SEGCL_ERROR_OUT_OF_HOST_MEMORY)
            st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "%s",
                                 job->results[i].message ? job->results[i].message
                                                         : "out of host memory");
    return st;
}

/* Passes on every warning and problem in file order, decides whether the problems are an error,
 * drops the problem pairs and sums up what was fixed on the way in one note each. */
static segcl_status report(const check_job *job, segcl_diag *diag, bool skip_bad, segcl_say_fn fn,
                           void *user, segcl_check_result *result)
{
    segcl_dataset *ds = job->ds;
    const size_t n = ds->count;
    size_t bad = 0, only_0_255 = 0, with_foreground = 0;
    for (size_t i = 0; i < n; i++) {
        const pair_result *r = &job->results[i];
        if (r->status) {
            bad++;
            say_setting(fn, user, r->setting, "%s: %s", skip_bad ? "skipped" : "problem",
                        r->message);
            continue;
        }
        if (r->message)
            say(fn, user, "warning: %s", r->message);
        result->resized += r->info.resized;
        result->zero_one += r->info.zero_one;
        result->empty += r->info.empty;
        only_0_255 += r->info.only_0_255;
        with_foreground += !r->info.empty;
    }
    if (bad && !skip_bad)
        return segcl_diag_fail_setting(
            diag, "skip_bad", SEGCL_ERROR_FORMAT,
            "%zu of the %zu image/mask pairs in %s cannot be used (listed above): fix or "
            "remove them, or skip them to train without them",
            bad, n, ds->root);
    if (job->classes >= 2 && only_0_255 && !with_foreground)
        return segcl_diag_fail_setting(
            diag, "classes", SEGCL_ERROR_FORMAT,
            "the masks in %s hold only 0 and 255, and 255 means 'ignore' for class indices: "
            "these are binary masks; train them with 1 class",
            ds->root);
    for (size_t i = n; i-- > 0;)
        if (job->results[i].status)
            drop_entry(ds, i);
    result->skipped_bad = bad;
    if (result->resized)
        say(fn, user,
            "note: %zu of %zu masks are stored at another size than their images (same aspect "
            "ratio): resized to their images with nearest neighbour",
            result->resized, n - bad);
    if (result->zero_one)
        say(fn, user, "note: %zu masks hold 0/1 rather than 0/255: 1 is read as foreground",
            result->zero_one);
    if (ds->count == 0)
        return segcl_diag_fail(diag, SEGCL_ERROR_FORMAT, "%s holds no usable image/mask pair",
                               ds->root);
    return SEGCL_OK;
}

segcl_status segcl_dataset_check(segcl_diag *diag, segcl_dataset *ds, int size, int classes,
                                 bool skip_bad, segcl_say_fn fn, void *user,
                                 segcl_check_result *result)
{
    memset(result, 0, sizeof *result);
    segcl_dataset_release_cache(ds);
    const size_t n = ds->count;
    check_job job = {ds, diag, size, classes, NULL, 0};
    segcl_status st = SEGCL_OK;
    ds->cache = segcl_calloc(n ? n : 1, sizeof *ds->cache);
    job.results = segcl_calloc(n ? n : 1, sizeof *job.results);
    if (!ds->cache || !job.results) {
        st = segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory checking %s",
                             ds->root);
        goto done;
    }
    ds->cache_size = size;
    ds->cache_classes = classes;
    if (!(st = decode_all(&job, diag, n)))
        st = report(&job, diag, skip_bad, fn, user, result);
done:
    for (size_t i = 0; job.results && i < n; i++)
        segcl_free(job.results[i].message);
    segcl_free(job.results);
    if (st)
        segcl_dataset_release_cache(ds);
    return st;
}

void segcl_dataset_release_cache(segcl_dataset *ds)
{
    for (size_t i = 0; ds->cache && i < ds->count; i++) {
        segcl_image_free(&ds->cache[i].image);
        segcl_image_free(&ds->cache[i].mask);
    }
    segcl_free(ds->cache);
    ds->cache = NULL;
    ds->cache_size = ds->cache_classes = 0;
}
