/*
 * Run settings, checked in one place: the name tables of every named choice (architectures,
 * optimizers, losses, schedules, augmentations), and one validator that serves the training
 * options, metadata read back from a checkpoint (to resume or to predict) and the predictor.
 */
#ifndef SEGCL_SETTINGS_H
#define SEGCL_SETTINGS_H

#include "io/checkpoint.h"

/* NULL-terminated; a name's index is its enum value (segcl_arch, segcl_optimizer_kind,
 * segcl_loss_kind, the schedule number) or, for augmentations, its bit. */
SEGCL_INTERNAL extern const char *const segcl_arch_names[];
SEGCL_INTERNAL extern const char *const segcl_optimizer_names[];
SEGCL_INTERNAL extern const char *const segcl_loss_names[];
SEGCL_INTERNAL extern const char *const segcl_schedule_names[];
SEGCL_INTERNAL extern const char *const segcl_augment_names[];

/* Index of name in table, or -1. */
SEGCL_INTERNAL int segcl_name_index(const char *const *table, const char *name);
/* The table's names joined by ", " (for messages). */
SEGCL_INTERNAL void segcl_name_list(const char *const *table, char *buf, size_t len);
/* Looks name up; an unknown one is SEGCL_ERROR_INVALID_ARGUMENT "unknown <what> '<name>'
 * (<choices>)". */
SEGCL_INTERNAL segcl_status segcl_name_parse(segcl_context *ctx, const char *what,
                                             const char *const *table, const char *name,
                                             int *out);

/* Augmentation lists: "hflip,color", "none" <-> a bit mask of SEGCL_AUGMENT_* bits. */
SEGCL_INTERNAL segcl_status segcl_augment_parse(segcl_context *ctx, const char *list,
                                                unsigned *mask);
SEGCL_INTERNAL void segcl_augment_format(unsigned mask, char *buf, size_t len);

typedef enum segcl_settings_scope {
    SEGCL_SETTINGS_MODEL = 1, /* what inference needs: model shape, input size, normalisation */
    SEGCL_SETTINGS_RUN = 3,   /* everything a training run (or its resumption) needs */
} segcl_settings_scope;

/*
 * Checks every setting of m within scope against its range. file == NULL: the settings came
 * from the caller (SEGCL_ERROR_INVALID_ARGUMENT, naming the option); otherwise from that
 * checkpoint's metadata (SEGCL_ERROR_FORMAT, naming the file and the metadata key).
 */
SEGCL_INTERNAL segcl_status segcl_settings_check(segcl_context *ctx,
                                                 const segcl_checkpoint_meta *m,
                                                 segcl_settings_scope scope, const char *file);

#endif
