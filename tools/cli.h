/* Shared pieces of the segcl command-line tool: global options, error printing, commands. */
#ifndef SEGCL_CLI_H
#define SEGCL_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "segcl/segcl.h"

typedef struct global_options {
    const char *device;
    bool no_kernel_cache;
    const char *kernel_cache_dir;
    segcl_precision precision; /* --precision of predict, eval and bench */
} global_options;

/* How images are read: --strict and --max-pixels, shared by train, predict and eval; and
 * whether a run's data may have changed. */
typedef struct cli_reading {
    bool strict;
    uint64_t max_pixels;
    bool allow_changed_data; /* --allow-changed-data: train --resume and eval of a run's split */
} cli_reading;

void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Applies the reading options and sends the library's warnings to stderr as
 * "segcl: warning: ..." lines. */
void cli_apply_reading(segcl_context *ctx, const cli_reading *reading);
int cli_fail(segcl_context *ctx, segcl_status st);
/* " (--flag)": the flag of the setting ctx's last error concerns (tools/cli_flags.c); "" when it
 * concerns none. Valid until the next call. */
const char *cli_flag_note(const segcl_context *ctx);
/* " (--flag)" for a setting's name (from a notice or a warning), or "" when it has none. */
const char *cli_setting_note(const char *setting);
double cli_now(void);
int cli_open_context(const global_options *g, segcl_context **out);

int cli_cmd_selftest(const global_options *g, int argc, char **argv);
void cli_selftest_help(FILE *out);
int cli_cmd_train(const global_options *g, int argc, char **argv);
void cli_train_help(FILE *out);
int cli_cmd_predict(const global_options *g, int argc, char **argv);
void cli_predict_help(FILE *out);
int cli_cmd_eval(const global_options *g, int argc, char **argv);
void cli_eval_help(FILE *out);
int cli_cmd_export(const global_options *g, int argc, char **argv);
void cli_export_help(FILE *out);
int cli_cmd_synth(const global_options *g, int argc, char **argv);
void cli_synth_help(FILE *out);
int cli_cmd_bench(const global_options *g, int argc, char **argv);
void cli_bench_help(FILE *out);

/* Option parsing (tools/cli_opts.c): true when argv[*i] is the option (value consumed);
 * *rc becomes 2 after printing an error for a missing or malformed value. */
bool cli_opt_str(int argc, char **argv, int *i, const char *name, const char **dst, int *rc);
bool cli_opt_int(int argc, char **argv, int *i, const char *name, int *dst, int *rc);
bool cli_opt_long(int argc, char **argv, int *i, const char *name, long *dst, int *rc);
bool cli_opt_u64(int argc, char **argv, int *i, const char *name, uint64_t *dst, int *rc);
bool cli_opt_float(int argc, char **argv, int *i, const char *name, float *dst, int *rc);
bool cli_opt_triple(int argc, char **argv, int *i, const char *name, float *dst, int *rc);
bool cli_opt_format(int argc, char **argv, int *i, segcl_dataset_format *dst, int *rc);

#endif
