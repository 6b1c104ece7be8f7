/*
 * Running the segcl executable under test ($SEGCL_EXE): its output captured (the last 16 KiB of
 * stdout, the start of stderr), or killed with SIGKILL at a chosen moment.
 */
#ifndef SEGCL_CLI_RUN_H
#define SEGCL_CLI_RUN_H

typedef struct run_result {
    int status;
    char out[16384];
} run_result;

/* Runs `env_prefix segcl args` with stdout and stderr captured separately. */
void run(const char *env_prefix, const char *args, run_result *r, run_result *err);
/* Lines in s. */
int count_lines(const char *s);
/* Starts `segcl args` with env set, and SIGKILLs it `delay_ms` after `wait_for` appears (or,
 * with wait_for NULL, lets it run until it dies). Returns the wait status. */
int run_and_kill(const char *env, const char *args, const char *wait_for, long delay_ms);

#endif
