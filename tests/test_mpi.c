/*
 * Data-parallel training over MPI, end to end through the CLI: `mpirun -n 2 segcl train` on
 * synthetic data against one process. With synchronised BatchNorm, two ranks end 20 steps
 * within 1e-6 of one process (the largest weight difference relative to the largest weight,
 * and the whole model's L2 norm); a run stopped under MPI and resumed under MPI ends bit for
 * bit where the uninterrupted one does (the gradient sum's order is fixed); a checkpoint
 * written under MPI resumes in one process and the other way round, ending within 1e-6 of a
 * run that never stopped; rank 0 alone writes the run; a batch that ranks cannot share is a
 * clear error on every rank. Skipped, saying so, when mpirun is absent or segcl was built
 * without MPI.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static const char *const tmp = fx.temp;
static char mpirun[256];
static const char *exe;
static bool available;

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* `segcl train` on the synthetic set into tmp/out: under mpirun with `ranks` > 1. */
static int train(int ranks, const char *out, const char *extra, const char *env)
{
    char cmd[2400];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && %s %s %s '%s' train --data syn --out %s --size 32 --width 4 --depth 2 "
             "--epochs 4 --batch 4 --steps 20 %s >%s.log 2>&1",
             tmp, env ? env : "", ranks > 1 ? mpirun : "", ranks > 1 ? "-n 2" : "", exe, out,
             extra ? extra : "", out);
    return sh(cmd);
}

static int resume(int ranks, const char *out, const char *extra)
{
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s %s '%s' train --resume %s %s >>%s.log 2>&1", tmp,
             ranks > 1 ? mpirun : "", ranks > 1 ? "-n 2" : "", exe, out, extra ? extra : "",
             out);
    return sh(cmd);
}

/* The model's F32 weights and buffers (optimizer moments left out) of a checkpoint. */
static float *weights(const char *run, size_t *count)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s/checkpoint.safetensors", tmp, run);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char len8[8];
    assert_int_equal(fread(len8, 1, 8, f), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | len8[i];
    char *header = malloc(n + 1);
    assert_non_null(header);
    assert_int_equal(fread(header, 1, n, f), n);
    header[n] = '\0';
    json_error_t err;
    json_t *h = json_loads(header, 0, &err);
    assert_non_null(h);
    float *out = NULL;
    size_t total = 0;
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
        if (!strcmp(key, "__metadata__") || !strncmp(key, "optimizer.", 10) ||
            strcmp(json_string_value(json_object_get(v, "dtype")), "F32"))
            continue;
        json_t *off = json_object_get(v, "data_offsets");
        const size_t b = (size_t)json_integer_value(json_array_get(off, 0)),
                     e = (size_t)json_integer_value(json_array_get(off, 1));
        out = realloc(out, (total + (e - b) / 4) * sizeof *out);
        assert_non_null(out);
        assert_int_equal(fseek(f, (long)(8 + n + b), SEEK_SET), 0);
        assert_int_equal(fread(out + total, 4, (e - b) / 4, f), (e - b) / 4);
        total += (e - b) / 4;
    }
    json_decref(h);
    free(header);
    fclose(f);
    *count = total;
    return out;
}

/* max |a - b| / max |a| and ||a - b|| / ||a|| of two runs' weights. */
static void difference(const char *a, const char *b, double *max_rel, double *l2_rel)
{
    size_t na, nb;
    float *wa = weights(a, &na), *wb = weights(b, &nb);
    assert_int_equal(na, nb);
    double dmax = 0, amax = 0, d2 = 0, a2 = 0;
    for (size_t i = 0; i < na; i++) {
        const double d = (double)wa[i] - wb[i];
        dmax = fmax(dmax, fabs(d));
        amax = fmax(amax, fabs(wa[i]));
        d2 += d * d;
        a2 += (double)wa[i] * wa[i];
    }
    *max_rel = dmax / amax;
    *l2_rel = sqrt(d2 / a2);
    free(wa);
    free(wb);
}

static bool same_bytes(const char *a, const char *b)
{
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/%s/checkpoint.safetensors", tmp, a);
    snprintf(pb, sizeof pb, "%s/%s/checkpoint.safetensors", tmp, b);
    size_t la, lb;
    unsigned char *da = test_tensor_bytes(pa, &la), *db = test_tensor_bytes(pb, &lb);
    bool same = la == lb && !memcmp(da, db, la);
    free(da);
    free(db);
    return same;
}

static void test_two_ranks_match_one_process(void **state)
{
    (void)state;
    if (!available)
        skip();
    assert_int_equal(train(1, "one", NULL, NULL), 0);
    /* --device auto-local: the node's GPU for the local rank, else (here) the default device */
    assert_int_equal(train(2, "two", "--sync-bn", "SEGCL_DEVICE=auto-local"), 0);
    double max_rel, l2_rel;
    difference("one", "two", &max_rel, &l2_rel);
    print_message("20 steps, 2 ranks with --sync-bn against 1 process: max %.3g, L2 %.3g "
                  "(relative)\n", max_rel, l2_rel);
    assert_true(max_rel <= 1e-6 && l2_rel <= 1e-6);
    /* per-rank statistics (DDP's default) train too, but differently */
    assert_int_equal(train(2, "per_rank", NULL, NULL), 0);
    difference("one", "per_rank", &max_rel, &l2_rel);
    assert_true(max_rel > 1e-5 && isfinite(max_rel));
    /* rank 0 alone wrote the run, and said so once */
    char *log = NULL, path[600];
    snprintf(path, sizeof path, "%s/two.log", tmp);
    log = test_read_file(path);
    assert_non_null(log);
    assert_non_null(strstr(log, "data-parallel over 2 ranks"));
    const char *first = strstr(log, "done: ");
    assert_non_null(first);
    assert_null(strstr(first + 1, "done: "));
    free(log);
}

static void test_resume_across_process_counts(void **state)
{
    (void)state;
    if (!available)
        skip();
    /* stopped at step 10 under MPI, resumed under MPI: bit for bit the uninterrupted run */
    /* (mpirun's own status is 1 when its ranks end with 130: interrupted) */
    assert_int_not_equal(train(2, "mpi_stop", "--sync-bn", "SEGCL_TEST_STOP_AFTER=10"), 0);
    assert_int_equal(resume(2, "mpi_stop", "--sync-bn"), 0);
    assert_true(same_bytes("two", "mpi_stop"));
    /* written under MPI, resumed in one process */
    assert_int_not_equal(train(2, "mpi_then_one", "--sync-bn", "SEGCL_TEST_STOP_AFTER=10"), 0);
    assert_int_equal(resume(1, "mpi_then_one", NULL), 0);
    double max_rel, l2_rel;
    difference("one", "mpi_then_one", &max_rel, &l2_rel);
    assert_true(max_rel <= 1e-6 && l2_rel <= 1e-6);
    /* written by one process, resumed under MPI */
    assert_int_equal(train(1, "one_then_mpi", NULL, "SEGCL_TEST_STOP_AFTER=10"), 130);
    assert_int_equal(resume(2, "one_then_mpi", "--sync-bn"), 0);
    difference("one", "one_then_mpi", &max_rel, &l2_rel);
    assert_true(max_rel <= 1e-6 && l2_rel <= 1e-6);
}

static void test_errors_stop_every_rank(void **state)
{
    (void)state;
    if (!available)
        skip();
    char cmd[2400], path[600];
    /* a global batch two ranks cannot share: one line from each rank, no hang */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && timeout 120 %s -n 2 '%s' train --data syn --out odd --size 32 --width 4 "
             "--depth 2 --epochs 1 --batch 3 >odd.log 2>&1",
             tmp, mpirun, exe);
    assert_int_not_equal(sh(cmd), 0);
    snprintf(path, sizeof path, "%s/odd.log", tmp);
    char *log = test_read_file(path);
    assert_non_null(log);
    assert_non_null(strstr(log, "cannot be shared by 2 ranks"));
    assert_null(strstr(log, "timed out"));
    free(log);
    /* data that only rank 0 can see is missing: every rank stops, naming the rank */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && timeout 120 %s -n 2 '%s' train --data no-such-data --out nodata "
             "--size 32 --epochs 1 --batch 4 >nodata.log 2>&1",
             tmp, mpirun, exe);
    assert_int_not_equal(sh(cmd), 0);
    snprintf(path, sizeof path, "%s/nodata.log", tmp);
    log = test_read_file(path);
    assert_non_null(log);
    assert_non_null(strstr(log, "no-such-data"));
    free(log);
}

static int setup(void **state)
{
    (void)state;
    exe = getenv("SEGCL_EXE");
    if (!exe || test_fixture_setup(&fx, "mpi", TEST_FIXTURE_TEMP))
        return -1;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' --version | grep -q 'over MPI: yes'", exe);
    const bool built = sh(cmd) == 0;
    const bool launcher = sh("command -v mpirun >/dev/null 2>&1") == 0;
    available = built && launcher;
    if (!available) {
        print_message("skipped: %s\n", !built ? "segcl was built without MPI (libopenmpi-dev)"
                                               : "mpirun is absent (openmpi-bin)");
        return 0;
    }
    /* two ranks on whatever cores there are; root needs its own permission */
    snprintf(mpirun, sizeof mpirun, "mpirun --oversubscribe%s -x POCL_MAX_PTHREAD_COUNT=1",
             geteuid() == 0 ? " --allow-run-as-root" : "");
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' synth --out syn --count 24 --size 40 >/dev/null",
             tmp, exe);
    return sh(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return test_fixture_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_ranks_match_one_process),
        cmocka_unit_test(test_resume_across_process_counts),
        cmocka_unit_test(test_errors_stop_every_rank),
    };
    return cmocka_run_group_tests_name("data-parallel over MPI", tests, setup, teardown);
}
