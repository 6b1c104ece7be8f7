/*
 * What the files of a training run share (private to src/train): the run's state, which set-up
 * (setup.c) fills, the epochs (epoch.c) and validation (validate.c) use, and train.c owns.
 */
#ifndef SEGCL_TRAIN_IMPL_H
#define SEGCL_TRAIN_IMPL_H

#include <stdio.h>
#include <time.h>

#include "data/data.h"
#include "model/model.h"
#include "settings/run_config.h"
#include "train/run_folder.h"

typedef struct run_state {
    segcl_context *ctx;
    const segcl_train_options *o;
    segcl_run_config meta;
    bool resuming;
    char out_dir[1024];
    char ckpt[1100];
    int lock_fd;
    segcl_dataset *ds;
    segcl_data_fingerprint fingerprint; /* of ds as opened, for args.json */
    segcl_model *model;
    segcl_loader *train_loader, *val_loader;
    size_t *train_idx, *val_idx;
    size_t ntrain, nval;
    segcl_tensor *x, *t, *dlogits, *loss;
    float *host_x, *host_t, *host_logits;
    size_t *samples; /* dataset index of each image of a batch */
    segcl_loss_params loss_params;
    int batch;
    long per_epoch, total;
    long start_epoch, start_batch;
    double t_start, seconds_before; /* this session's start; earlier sessions' time */
    long steps_this_run;
    double images_this_run;
    bool told_undefined;
    bool interrupted; /* stopped by the cancel flag, with a checkpoint written */
    /* data-parallel: the collective (NULL alone), this rank, the global batch of which this
     * rank runs `batch` images, and the flat host copy of every gradient (and the loss) */
    const segcl_collective *coll;
    const segcl_collective *sync_bn; /* coll when BatchNorm is synchronised, else NULL */
    int rank, ranks, failed_rank;
    int global_batch;
    float *grads;
    bool broken; /* an error inside a synchronised pass: ranks may wait in different calls */
} run_state;

typedef struct val_result {
    double loss, dice, iou, acc;
    bool foreground; /* the validation images hold foreground pixels */
} val_result;

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void path_in(char *buf, size_t len, const char *dir, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

/* Rank 0 writes the run folder and talks to the user; every rank when alone. */
static inline bool lead(const run_state *r)
{
    return r->rank == 0;
}

/* ---- train.c: the ranks, and words for the user ---- */

/* Gathers every rank's `flag` (a collective call); *first is the first rank whose flag is set,
 * -1 when none is. */
SEGCL_INTERNAL segcl_status segcl_training_first_rank_with(run_state *r, int flag, int *first);
/* Every rank's status at the same point of the run: the first rank that failed (its own
 * error stays with it; the others get one that names it), or SEGCL_OK everywhere. */
SEGCL_INTERNAL segcl_status segcl_training_agree(run_state *r, segcl_status st);
/* A line for the user (progress event 2): `line` as it is. */
SEGCL_INTERNAL void segcl_training_say_line(void *user, const char *line, const char *setting);
/* A note for the user: "note: " and the formatted text. */
SEGCL_INTERNAL void segcl_training_notice(run_state *r, const char *fmt, ...) SEGCL_PRINTF(2, 3);

/* ---- setup.c: before the first step ---- */

/* The run folder (claimed and locked) and the settings: the caller's, or the checkpoint's. */
SEGCL_INTERNAL segcl_status segcl_training_setup_settings(run_state *r);
/* The dataset, checked up front; problems listed together; the split. */
SEGCL_INTERNAL segcl_status segcl_training_setup_data(run_state *r);
/* The model (new, from --init weights, or the checkpoint's), the batch, loaders, buffers. */
SEGCL_INTERNAL segcl_status segcl_training_setup_model(run_state *r);

/* ---- epoch.c: the epochs ---- */

/* The steps of one epoch, then (when it completed) validation, metrics, checkpoints, curve;
 * *stop when the run is done or cancelled. */
SEGCL_INTERNAL segcl_status segcl_training_epoch(run_state *r, long epoch, val_result *v,
                                                 bool *stop, segcl_train_summary *summary);

/* ---- validate.c: after each epoch ---- */

/* Per-image loss and confusion counts over the validation split (NaN without one); overlays of
 * its first images. */
SEGCL_INTERNAL segcl_status segcl_training_validate(run_state *r, long epoch, val_result *v);

#endif
