/*
 * Double-precision reference implementations of every op, written for clarity (direct loops
 * over the definitions, PyTorch's formulas), used by the op tests and their finite-difference
 * gradient checks. All tensors are NCHW, row-major.
 */
#ifndef SEGCL_TEST_REFERENCE_H
#define SEGCL_TEST_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ref_conv {
    int n, cin, h, w, cout, kh, kw, stride, pad, ho, wo;
} ref_conv;

void ref_conv_init(ref_conv *c, int n, int cin, int h, int w, int cout, int kh, int kw,
                   int stride, int pad);
/* y (n, cout, ho, wo) = conv(x, w) + b; b may be NULL */
void ref_conv2d_forward(const ref_conv *c, const double *x, const double *w, const double *b,
                        double *y);
/* gradients (overwritten): dx, dw, db may be NULL */
void ref_conv2d_backward(const ref_conv *c, const double *x, const double *w, const double *dy,
                         double *dx, double *dw, double *db);
/* transposed conv: x (n, cout, ho, wo) -> y (n, cin, h, w), weight (cout, cin, kh, kw) as in
 * PyTorch's ConvTranspose2d(cout -> cin); bias (cin) */
void ref_conv_transpose2d_forward(const ref_conv *c, const double *x, const double *w,
                                  const double *b, double *y);
void ref_conv_transpose2d_backward(const ref_conv *c, const double *x, const double *w,
                                   const double *dy, double *dx, double *dw, double *db);

/* batch norm, training mode: also returns batch mean and biased variance */
void ref_bn_train_forward(int n, int c, int plane, const double *x, const double *gamma,
                          const double *beta, double eps, double *y, double *mean, double *var);
void ref_bn_train_backward(int n, int c, int plane, const double *x, const double *gamma,
                           double eps, const double *dy, double *dx, double *dgamma,
                           double *dbeta);
void ref_bn_eval_forward(int n, int c, int plane, const double *x, const double *gamma,
                         const double *beta, const double *rmean, const double *rvar,
                         double eps, double *y);

void ref_maxpool_forward(int planes, int h, int w, int k, int s, int p, const double *x,
                         double *y, int *idx);
void ref_maxpool_backward(int planes, int h, int w, int k, int s, int p, const int *idx,
                          const double *dy, double *dx);

/* bilinear resize with PyTorch's float scale arithmetic */
void ref_upsample_forward(int planes, int h, int w, int oh, int ow, bool align,
                          const double *x, double *y);
void ref_upsample_backward(int planes, int h, int w, int oh, int ow, bool align,
                           const double *dy, double *dx);

/* losses: return the loss, write dlogits (may be NULL) */
double ref_bce(int count, const double *x, const double *t, double *dx);
double ref_cross_entropy(int n, int classes, int plane, const double *x, const double *t,
                         const double *weights, int ignore_index, double *dx);
double ref_dice(int n, int classes, int plane, const double *x, const double *t, double smooth,
                double *dx);

#endif
