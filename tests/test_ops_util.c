/*
 * The op suites' shared helpers (test_ops_util.h): tensors from double arrays, comparisons
 * against the double references, finite differences, and the group's set-up.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_ops_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
segcl_context *ctx;
segcl_workspace *ws; /* the ops' scratch */
segcl_rng rng;

double *rand_array(size_t n, double lo, double hi)
{
    double *a = malloc(n * sizeof *a);
    assert_non_null(a);
    for (size_t i = 0; i < n; i++)
        a[i] = lo + (hi - lo) * segcl_rng_uniform(&rng);
    return a;
}

double *zeros(size_t n)
{
    double *a = calloc(n, sizeof *a);
    assert_non_null(a);
    return a;
}

/* Rounds to float so the reference sees exactly what the device sees. */
void round_to_float(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)a[i];
}

segcl_tensor *tensor(const char *name, int ndim, const int64_t *shape, const double *host)
{
    segcl_tensor *t;
    assert_ok(ctx, segcl_tensor_create(ctx, name, ndim, shape, &t));
    float *f = malloc(t->numel * sizeof *f);
    assert_non_null(f);
    for (size_t i = 0; i < t->numel; i++)
        f[i] = host ? (float)host[i] : 0.0f;
    assert_ok(ctx, segcl_tensor_write(t, f, t->numel));
    free(f);
    return t;
}

segcl_tensor *tensor4(const char *name, int64_t a, int64_t b, int64_t c, int64_t d,
                      const double *host)
{
    int64_t s[4] = {a, b, c, d};
    return tensor(name, 4, s, host);
}

segcl_tensor *tensor1(const char *name, int64_t a, const double *host)
{
    int64_t s[1] = {a};
    return tensor(name, 1, s, host);
}

float *read_tensor(segcl_tensor *t)
{
    float *f = malloc(t->numel * sizeof *f);
    assert_non_null(f);
    assert_ok(ctx, segcl_tensor_read(t, f, t->numel));
    return f;
}

static double max_abs(const double *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

/* |got - ref| <= atol_scale * max|ref| + rtol * |ref| for every element. */
void compare(const char *what, const float *got, const double *ref, size_t n, double atol_scale,
             double rtol)
{
    double scale = max_abs(ref, n);
    double atol = atol_scale * (scale > 0 ? scale : 1.0);
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]);
        if (!(err <= atol + rtol * fabs(ref[i])))
            fail_msg("%s[%zu]: got %.9g, reference %.9g (error %.3g, allowed %.3g)", what, i,
                     (double)got[i], ref[i], err, atol + rtol * fabs(ref[i]));
    }
}

void compare_tensor(const char *what, segcl_tensor *t, const double *ref, double atol, double rtol)
{
    float *got = read_tensor(t);
    compare(what, got, ref, t->numel, atol, rtol);
    free(got);
}

/* Central differences of f with respect to `count` sampled entries of `param`, against the
 * analytic gradient; entries for which `skip` says the function has a kink nearby are left out. */
void fd_check(const char *what, objective_fn f, void *state, double *param, size_t n,
              const float *analytic, int samples, bool (*skip_at)(void *, size_t))
{
    const double h = 1e-4;
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)analytic[i]));
    int checked = 0;
    for (int s = 0; s < samples; s++) {
        size_t i = segcl_rng_below(&rng, (uint32_t)n);
        if (skip_at && skip_at(state, i))
            continue;
        double saved = param[i];
        param[i] = saved + h;
        double fp = f(state);
        param[i] = saved - h;
        double fm = f(state);
        param[i] = saved;
        double numeric = (fp - fm) / (2 * h);
        double err = fabs(numeric - analytic[i]);
        if (!(err <= 1e-3 * scale + 1e-3 * fabs(numeric) + 1e-7))
            fail_msg("%s: d/d[%zu] analytic %.8g, numeric %.8g", what, i, (double)analytic[i],
                     numeric);
        checked++;
    }
    assert_true(checked >= samples / 2);
}

double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

segcl_batchnorm make_bn(int c, const double *gamma, const double *beta, const double *rmean,
                        const double *rvar)
{
    segcl_batchnorm bn = {.gamma = tensor1("gamma", c, gamma),
                          .beta = tensor1("beta", c, beta),
                          .running_mean = tensor1("running_mean", c, rmean),
                          .running_var = tensor1("running_var", c, rvar),
                          .save_mean = tensor1("save_mean", c, NULL),
                          .save_invstd = tensor1("save_invstd", c, NULL),
                          .scale = tensor1("scale", c, NULL),
                          .shift = tensor1("shift", c, NULL),
                          .eps = 1e-5f,
                          .momentum = 0.1f};
    return bn;
}

void free_bn(segcl_batchnorm *bn)
{
    segcl_tensor *all[] = {bn->gamma,     bn->beta,        bn->running_mean, bn->running_var,
                           bn->save_mean, bn->save_invstd, bn->scale,        bn->shift};
    for (size_t i = 0; i < 8; i++)
        segcl_tensor_destroy(all[i]);
}

int ops_setup(void **state)
{
    (void)state;
    segcl_rng_seed(&rng, 20261125, 7);
    if (test_fixture_setup(&fx, "ops", TEST_FIXTURE_DEVICE))
        return -1;
    ctx = fx.ctx;
    if (segcl_workspace_create(ctx, &ws)) {
        fprintf(stderr, "%s\n", segcl_context_error(ctx));
        return -1;
    }
    return 0;
}

int ops_teardown(void **state)
{
    (void)state;
    segcl_workspace_destroy(ws);
    return test_fixture_teardown(&fx);
}
