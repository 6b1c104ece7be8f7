/*
 * What the op suites (test_ops_conv.c, test_ops_layers.c, test_ops_loss.c) share: the
 * group's context, workspace and random stream, float tensors made from double arrays, the
 * comparison against the double references, and central finite-difference checks.
 */
#ifndef SEGCL_TEST_OPS_UTIL_H
#define SEGCL_TEST_OPS_UTIL_H

#include <stdbool.h>

#include "ops/ops.h"
#include "reference.h"
#include "test_util.h"

/* The group's context, the ops' scratch and the random stream (set up by ops_setup). */
extern segcl_context *ctx;
extern segcl_workspace *ws;
extern segcl_rng rng;

/* Uniform values in [lo, hi) from rng; free() them. */
double *rand_array(size_t n, double lo, double hi);
double *zeros(size_t n);
/* Rounds to float so the reference sees exactly what the device sees. */
void round_to_float(double *a, size_t n);

/* A device tensor holding host (as floats), or zeros when host is NULL. */
segcl_tensor *tensor(const char *name, int ndim, const int64_t *shape, const double *host);
segcl_tensor *tensor4(const char *name, int64_t a, int64_t b, int64_t c, int64_t d,
                      const double *host);
segcl_tensor *tensor1(const char *name, int64_t a, const double *host);
/* The tensor's values; free() them. */
float *read_tensor(segcl_tensor *t);

/* |got - ref| <= atol_scale * max|ref| + rtol * |ref| for every element. */
void compare(const char *what, const float *got, const double *ref, size_t n, double atol_scale,
             double rtol);
void compare_tensor(const char *what, segcl_tensor *t, const double *ref, double atol, double rtol);

/* Scalar function of one input array for finite differences. */
typedef double (*objective_fn)(void *state);

/* Central differences of f with respect to `count` sampled entries of `param`, against the
 * analytic gradient; entries for which `skip` says the function has a kink nearby are left out. */
void fd_check(const char *what, objective_fn f, void *state, double *param, size_t n,
              const float *analytic, int samples, bool (*skip_at)(void *, size_t));

double dot(const double *a, const double *b, size_t n);

/* A BatchNorm layer of c channels with these parameters and running statistics. */
segcl_batchnorm make_bn(int c, const double *gamma, const double *beta, const double *rmean,
                        const double *rvar);
void free_bn(segcl_batchnorm *bn);

/* The group's set-up (seeds rng, opens the context, makes the workspace) and teardown. */
int ops_setup(void **state);
int ops_teardown(void **state);

#endif
