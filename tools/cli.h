/* Shared pieces of the segcl command-line tool: global options, error printing, commands. */
#ifndef SEGCL_CLI_H
#define SEGCL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "segcl/segcl.h"

typedef struct global_options {
    const char *device;
    bool no_kernel_cache;
    const char *kernel_cache_dir;
} global_options;

void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_fail(segcl_context *ctx, segcl_status st);
double cli_now(void);
int cli_open_context(const global_options *g, segcl_context **out);

int cli_cmd_selftest(const global_options *g, int argc, char **argv);
void cli_selftest_help(FILE *out);

#endif
