/*
 * Running the segcl executable under test ($SEGCL_EXE) for test_cli.c (cli_run.h): with its
 * output captured, or killed with SIGKILL at a chosen moment.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_run.h"
#include "test_util.h"

/* Runs `env_prefix segcl args` with stdout and stderr captured separately. */
void run(const char *env_prefix, const char *args, run_result *r, run_result *err)
{
    const char *exe = getenv("SEGCL_EXE");
    assert_non_null(exe);
    char errfile[] = "/tmp/segcl-cli-err-XXXXXX";
    int fd = mkstemp(errfile);
    assert_true(fd >= 0);
    close(fd);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s '%s' %s 2>%s", env_prefix ? env_prefix : "", exe, args, errfile);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    /* read everything (a full pipe would stall the child); keep the last part */
    size_t n = 0, got;
    char chunk[4096];
    while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) {
        if (n + got > sizeof r->out - 1) {
            size_t drop = n + got - (sizeof r->out - 1);
            memmove(r->out, r->out + drop, n - drop);
            n -= drop;
        }
        memcpy(r->out + n, chunk, got);
        n += got;
    }
    r->out[n] = '\0';
    int status = pclose(p);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    FILE *f = fopen(errfile, "r");
    assert_non_null(f);
    n = fread(err->out, 1, sizeof err->out - 1, f);
    err->out[n] = '\0';
    fclose(f);
    remove(errfile);
    err->status = r->status;
}

int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Starts `segcl args` with env set, and SIGKILLs it `delay_ms` after `wait_for` appears (or,
 * with wait_for NULL, lets it run until it dies). Returns the wait status. */
int run_and_kill(const char *env, const char *args, const char *wait_for, long delay_ms)
{
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "exec %s '%s' %s >/dev/null 2>&1", env, getenv("SEGCL_EXE"), args);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    int status = 0;
    if (wait_for) {
        for (int i = 0; i < 6000 && access(wait_for, F_OK) != 0; i++) {
            if (waitpid(pid, &status, WNOHANG) == pid)
                fail_msg("segcl ended before %s appeared (status %d)", wait_for, status);
            nanosleep(&(struct timespec){0, 10000000}, NULL);
        }
        nanosleep(&(struct timespec){delay_ms / 1000, (delay_ms % 1000) * 1000000}, NULL);
        kill(pid, SIGKILL);
    }
    waitpid(pid, &status, 0);
    return status;
}
