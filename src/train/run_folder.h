/* The run folder of a training run: claiming and locking it, metrics.csv and args.json. */
#ifndef SEGCL_RUN_FOLDER_H
#define SEGCL_RUN_FOLDER_H

#include "io/checkpoint.h"
#include "settings/run_config.h"

/* Refuses a folder that already holds a run, without touching anything. */
SEGCL_INTERNAL segcl_status segcl_run_folder_check_new(segcl_context *ctx, const char *dir);
/* Creates dir if needed and locks it (dir/.lock, held while *lock_fd stays open). A new run
 * (resume false) refuses a folder that already holds a run. */
SEGCL_INTERNAL segcl_status segcl_run_folder_claim(segcl_context *ctx, const char *dir,
                                                   bool resume, int *lock_fd);
SEGCL_INTERNAL void segcl_run_folder_release(int lock_fd);
/* Removes checkpoint temporaries a killed run left behind. */
SEGCL_INTERNAL void segcl_run_folder_tidy(const char *dir);

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

/* Writes args.json: the run's settings, its data and its split (image file names). */
SEGCL_INTERNAL segcl_status segcl_args_write(segcl_context *ctx, const char *path,
                                             const segcl_run_config *m, const segcl_dataset *ds,
                                             const size_t *train, size_t ntrain, const size_t *val,
                                             size_t nval, const char *device);

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
