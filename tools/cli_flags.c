/*
 * The library names settings (segcl_context_error_setting: the options' field names); the
 * command line names flags. This table joins the two, so an error line ends with the flag the
 * user can change, e.g. "threshold 2 must lie strictly between 0 and 1 (--threshold)".
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *setting, *flag;
} flags[] = {
    {"allow_changed_data", "--allow-changed-data"},
    {"arch", "--arch"},
    {"augment", "--augment"},
    {"batch", "--batch"},
    {"classes", "--classes"},
    {"data_dir", "--data"},
    {"depth", "--depth"},
    {"device", "--device"},
    {"epochs", "--epochs"},
    {"feather", "--feather"},
    {"format", "--format"},
    {"images_dir", "--images"},
    {"init_path", "--init"},
    {"loss", "--loss"},
    {"lr", "--lr"},
    {"lr_schedule", "--lr-schedule"},
    {"masks_dir", "--masks"},
    {"max_pixels", "--max-pixels"},
    {"max_steps", "--steps"},
    {"mean", "--mean"},
    {"min_area", "--min-area"},
    {"momentum", "--momentum"},
    {"optimizer", "--optimizer"},
    {"out_dir", "--out"},
    {"precision", "--precision"},
    {"resume_dir", "--resume"},
    {"seconds", "--seconds"},
    {"size", "--size"},
    {"skip_bad", "--skip-bad"},
    {"std", "--std"},
    {"threshold", "--threshold"},
    {"tile", "--tile"},
    {"tile_overlap", "--tile-overlap"},
    {"val_fraction", "--val-fraction"},
    {"weight_decay", "--weight-decay"},
    {"width", "--width"},
};

const char *cli_setting_note(const char *setting)
{
    static _Thread_local char note[64];
    for (size_t i = 0; setting && i < sizeof flags / sizeof flags[0]; i++)
        if (!strcmp(flags[i].setting, setting)) {
            snprintf(note, sizeof note, " (%s)", flags[i].flag);
            return note;
        }
    return "";
}

const char *cli_flag_note(const segcl_context *ctx)
{
    return cli_setting_note(segcl_context_error_setting(ctx));
}
