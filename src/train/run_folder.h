/* The run folder of a training run: claiming and locking it, metrics.csv and args.json. */
#ifndef SEGCL_RUN_FOLDER_H
#define SEGCL_RUN_FOLDER_H

#include "io/checkpoint.h"
#include "settings/run_config.h"

/* Refuses a folder that already holds a run (a checkpoint or a best model), without touching
 * anything; *restart tells that it holds the traces (args.json, metrics.csv) of a run that
 * failed before its first checkpoint, which a new run replaces. */
SEGCL_INTERNAL segcl_status segcl_run_folder_check_new(segcl_context *ctx, const char *dir,
                                                       bool *restart);
/* Locks dir (dir/.lock, held while *lock_fd stays open). A new run (resume false) creates dir
 * if needed, refuses a folder that already holds a run and removes a failed run's metrics; a
 * resumed one needs the folder to exist and creates nothing when it does not. */
SEGCL_INTERNAL segcl_status segcl_run_folder_claim(segcl_context *ctx, const char *dir,
                                                   bool resume, int *lock_fd);
SEGCL_INTERNAL void segcl_run_folder_release(int lock_fd);
/* Refuses out_path when it is, by file identity (a link to one counts), a file a run keeps:
 * the checkpoint, best model, args.json or metrics.csv of the run folder out_path lies in, or
 * of the folder of model_file (the model being read; NULL: none). */
SEGCL_INTERNAL segcl_status segcl_run_output_check(segcl_context *ctx, const char *out_path,
                                                   const char *model_file);
/* Removes the temporaries (.<name>.tmp-<random>) a killed run left behind. */
SEGCL_INTERNAL void segcl_run_folder_tidy(const char *dir);
/* Before a run folder's file is written: OK when path does not exist or is a regular file (or
 * a folder); a symbolic link, a FIFO or a device there is an error naming it. The writers
 * themselves never follow a link either (O_NOFOLLOW, or a temporary renamed over the name). */
SEGCL_INTERNAL segcl_status segcl_run_file_check(segcl_context *ctx, const char *path);

/* One row of metrics.csv; NaN where a value is unknown. */
typedef struct segcl_metrics_row {
    double epoch, step, lr, train_loss, val_loss, val_dice, val_iou, pixel_accuracy,
        images_per_s, seconds;
} segcl_metrics_row;

/* Rows read by column name (so files of older versions read too); none when absent. */
SEGCL_INTERNAL segcl_status segcl_metrics_read(segcl_context *ctx, const char *path,
                                               segcl_metrics_row **rows, size_t *count);
SEGCL_INTERNAL segcl_status segcl_metrics_append(segcl_context *ctx, const char *path,
                                                 const segcl_metrics_row *row);
/* Keeps the rows of the first `epochs` epochs (what the checkpoint a run resumes from had),
 * rewritten in the current columns. */
SEGCL_INTERNAL segcl_status segcl_metrics_truncate(segcl_context *ctx, const char *path,
                                                   long epochs);

/* args.json has a size limit (4 MiB: the names of about 150,000 images, more than segcl's
 * decoded-pair cache holds), applied when it is written and read, so a tampered file costs
 * little before it is refused. */
#define SEGCL_ARGS_JSON_MAX (4 << 20)

/* A dataset's fingerprint: SHA-256 over every pair's file names, sizes and modification times,
 * and the number of pairs, as the dataset was opened (before any pair was skipped). */
typedef struct segcl_data_fingerprint {
    char sha256[65];
    size_t pairs;
} segcl_data_fingerprint;
SEGCL_INTERNAL void segcl_dataset_fingerprint(const segcl_dataset *ds, char hex[65]);

/* Writes args.json: the run's settings, its data (with its fingerprint, NULL: none) and its
 * split (image file names). */
SEGCL_INTERNAL segcl_status segcl_args_write(segcl_context *ctx, const char *path,
                                             const segcl_run_config *m, const segcl_dataset *ds,
                                             const size_t *train, size_t ntrain, const size_t *val,
                                             size_t nval, const char *device,
                                             const segcl_data_fingerprint *fingerprint);
/* Reads and parses args.json (within SEGCL_ARGS_JSON_MAX); free *text and *root. */
SEGCL_INTERNAL segcl_status segcl_args_read(segcl_context *ctx, const char *path, char **text,
                                            segcl_jvalue **root);
/* The dataset ds (just opened) against the fingerprint args.json (parsed: root) recorded: a
 * change is an error that says what changed (pairs added or gone, files modified), or with
 * the context's allow_changed_data, a warning; a run without a fingerprint gets a warning that
 * it cannot be checked. */
SEGCL_INTERNAL segcl_status segcl_run_data_check(segcl_context *ctx, const char *args_path,
                                                 const segcl_jvalue *root,
                                                 const segcl_dataset *ds);
/* A resumed run's split (validation indices into ds, and the training count) against the
 * names args.json recorded; a difference is treated as segcl_run_data_check treats a change. */
SEGCL_INTERNAL segcl_status segcl_run_split_check(segcl_context *ctx, const char *args_path,
                                                  const segcl_jvalue *root,
                                                  const segcl_dataset *ds, const size_t *val,
                                                  size_t nval, size_t ntrain);

/* The checkpoint a model argument names: the file itself, or a run folder's best.safetensors
 * (an IO error when the folder has none). *out: free with segcl_free. */
SEGCL_INTERNAL segcl_status segcl_model_file(segcl_context *ctx, const char *path, char **out);

/* A checkpoint of a run: the model's tensors with the run's configuration as its metadata. */
SEGCL_INTERNAL segcl_status segcl_run_checkpoint_save(segcl_context *ctx, const char *path,
                                                      segcl_model *model,
                                                      const segcl_run_config *config);
/* The run configuration in a checkpoint's metadata, read and range-checked (a plain PyTorch
 * export has none: config->from_segcl is then false). */
SEGCL_INTERNAL segcl_status segcl_run_config_read(segcl_context *ctx, const char *path,
                                                  segcl_run_config *config);

#endif
