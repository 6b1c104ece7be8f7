/* Double-precision references for the op tests (see reference.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

void ref_conv_init(ref_conv *c, int n, int cin, int h, int w, int cout, int kh, int kw,
                   int stride, int pad)
{
    c->n = n;
    c->cin = cin;
    c->h = h;
    c->w = w;
    c->cout = cout;
    c->kh = kh;
    c->kw = kw;
    c->stride = stride;
    c->pad = pad;
    c->ho = (h + 2 * pad - kh) / stride + 1;
    c->wo = (w + 2 * pad - kw) / stride + 1;
}

/* Visits every (output pixel, tap) pair with its input pixel: the one loop nest that defines
 * convolution; forward, backward and transposed variants differ only in what they accumulate. */
#define CONV_LOOP(c, BODY)                                                                         \
    for (int b_ = 0; b_ < (c)->n; b_++)                                                            \
        for (int co = 0; co < (c)->cout; co++)                                                     \
            for (int oy = 0; oy < (c)->ho; oy++)                                                   \
                for (int ox = 0; ox < (c)->wo; ox++)                                               \
                    for (int ci = 0; ci < (c)->cin; ci++)                                          \
                        for (int ky = 0; ky < (c)->kh; ky++)                                       \
                            for (int kx = 0; kx < (c)->kw; kx++) {                                 \
                                int iy = oy * (c)->stride - (c)->pad + ky;                         \
                                int ix = ox * (c)->stride - (c)->pad + kx;                         \
                                if (iy < 0 || iy >= (c)->h || ix < 0 || ix >= (c)->w)              \
                                    continue;                                                      \
                                size_t xi = (((size_t)b_ * (c)->cin + ci) * (c)->h + iy) * (c)->w + ix; \
                                size_t wi = (((size_t)co * (c)->cin + ci) * (c)->kh + ky) * (c)->kw + kx; \
                                size_t yi = (((size_t)b_ * (c)->cout + co) * (c)->ho + oy) * (c)->wo + ox; \
                                BODY;                                                              \
                            }

static size_t out_count(const ref_conv *c)
{
    return (size_t)c->n * c->cout * c->ho * c->wo;
}

static size_t in_count(const ref_conv *c)
{
    return (size_t)c->n * c->cin * c->h * c->w;
}

void ref_conv2d_forward(const ref_conv *c, const double *x, const double *w, const double *b,
                        double *y)
{
    size_t plane = (size_t)c->ho * c->wo;
    for (size_t i = 0; i < out_count(c); i++)
        y[i] = b ? b[(i / plane) % c->cout] : 0.0;
    CONV_LOOP(c, y[yi] += x[xi] * w[wi]);
}

void ref_conv2d_backward(const ref_conv *c, const double *x, const double *w, const double *dy,
                         double *dx, double *dw, double *db)
{
    size_t plane = (size_t)c->ho * c->wo;
    if (dx)
        memset(dx, 0, in_count(c) * sizeof *dx);
    if (dw)
        memset(dw, 0, (size_t)c->cout * c->cin * c->kh * c->kw * sizeof *dw);
    if (db) {
        memset(db, 0, (size_t)c->cout * sizeof *db);
        for (size_t i = 0; i < out_count(c); i++)
            db[(i / plane) % c->cout] += dy[i];
    }
    CONV_LOOP(c, {
        if (dx)
            dx[xi] += dy[yi] * w[wi];
        if (dw)
            dw[wi] += dy[yi] * x[xi];
    });
}

/* Transposed conv: the conv's input side is the output y, its output side the input x. */
void ref_conv_transpose2d_forward(const ref_conv *c, const double *x, const double *w,
                                  const double *b, double *y)
{
    size_t plane = (size_t)c->h * c->w;
    for (size_t i = 0; i < in_count(c); i++)
        y[i] = b ? b[(i / plane) % c->cin] : 0.0;
    CONV_LOOP(c, y[xi] += x[yi] * w[wi]);
}

void ref_conv_transpose2d_backward(const ref_conv *c, const double *x, const double *w,
                                   const double *dy, double *dx, double *dw, double *db)
{
    size_t plane = (size_t)c->h * c->w;
    if (dx)
        memset(dx, 0, out_count(c) * sizeof *dx);
    if (dw)
        memset(dw, 0, (size_t)c->cout * c->cin * c->kh * c->kw * sizeof *dw);
    if (db) {
        memset(db, 0, (size_t)c->cin * sizeof *db);
        for (size_t i = 0; i < in_count(c); i++)
            db[(i / plane) % c->cin] += dy[i];
    }
    CONV_LOOP(c, {
        if (dx)
            dx[yi] += dy[xi] * w[wi];
        if (dw)
            dw[wi] += dy[xi] * x[yi];
    });
}

void ref_bn_train_forward(int n, int c, int plane, const double *x, const double *gamma,
                          const double *beta, double eps, double *y, double *mean, double *var)
{
    double m_count = (double)n * plane;
    for (int ch = 0; ch < c; ch++) {
        double s = 0, s2 = 0;
        for (int b = 0; b < n; b++)
            for (int p = 0; p < plane; p++)
                s += x[((size_t)b * c + ch) * plane + p];
        double m = s / m_count;
        for (int b = 0; b < n; b++)
            for (int p = 0; p < plane; p++) {
                double d = x[((size_t)b * c + ch) * plane + p] - m;
                s2 += d * d;
            }
        double v = s2 / m_count;
        if (mean)
            mean[ch] = m;
        if (var)
            var[ch] = v;
        for (int b = 0; b < n; b++)
            for (int p = 0; p < plane; p++) {
                size_t i = ((size_t)b * c + ch) * plane + p;
                y[i] = (x[i] - m) / sqrt(v + eps) * gamma[ch] + beta[ch];
            }
    }
}

void ref_bn_train_backward(int n, int c, int plane, const double *x, const double *gamma,
                           double eps, const double *dy, double *dx, double *dgamma,
                           double *dbeta)
{
    double m_count = (double)n * plane;
    for (int ch = 0; ch < c; ch++) {
        double s = 0, s2 = 0;
        for (int b = 0; b < n; b++)
            for (int p = 0; p < plane; p++)
                s += x[((size_t)b * c + ch) * plane + p];
        double m = s / m_count;
        for (int b = 0; b < n; b++)
            for (int p = 0; p < plane; p++) {
                double d = x[((size_t)b * c + ch) * plane + p] - m;
                s2 += d * d;
            }
        double is = 1.0 / sqrt(s2 / m_count + eps);
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < n; b++)
            for (int p = 0; p < plane; p++) {
                size_t i = ((size_t)b * c + ch) * plane + p;
                sdy += dy[i];
                sdyx += dy[i] * (x[i] - m) * is;
            }
        if (dgamma)
            dgamma[ch] = sdyx;
        if (dbeta)
            dbeta[ch] = sdy;
        if (dx)
            for (int b = 0; b < n; b++)
                for (int p = 0; p < plane; p++) {
                    size_t i = ((size_t)b * c + ch) * plane + p;
                    double xhat = (x[i] - m) * is;
                    dx[i] = gamma[ch] * is / m_count * (m_count * dy[i] - sdy - xhat * sdyx);
                }
    }
}

void ref_bn_eval_forward(int n, int c, int plane, const double *x, const double *gamma,
                         const double *beta, const double *rmean, const double *rvar,
                         double eps, double *y)
{
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < plane; p++) {
                size_t i = ((size_t)b * c + ch) * plane + p;
                y[i] = (x[i] - rmean[ch]) / sqrt(rvar[ch] + eps) * gamma[ch] + beta[ch];
            }
}

void ref_maxpool_forward(int planes, int h, int w, int k, int s, int p, const double *x,
                         double *y, int *idx)
{
    int ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
    for (int pl = 0; pl < planes; pl++)
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                double best = -INFINITY;
                int bi = -1;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = oy * s - p + ky, ix = ox * s - p + kx;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                            continue;
                        double v = x[((size_t)pl * h + iy) * w + ix];
                        if (bi < 0 || v > best) {
                            best = v;
                            bi = iy * w + ix;
                        }
                    }
                size_t o = ((size_t)pl * ho + oy) * wo + ox;
                y[o] = best;
                idx[o] = bi;
            }
}

void ref_maxpool_backward(int planes, int h, int w, int k, int s, int p, const int *idx,
                          const double *dy, double *dx)
{
    int ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
    memset(dx, 0, (size_t)planes * h * w * sizeof *dx);
    for (int pl = 0; pl < planes; pl++)
        for (int o = 0; o < ho * wo; o++)
            dx[(size_t)pl * h * w + idx[(size_t)pl * ho * wo + o]] += dy[(size_t)pl * ho * wo + o];
}

static void source_index(int o, int in, float scale, bool align, int *i0, int *i1, double *l1)
{
    /* PyTorch computes the source coordinate in float */
    float src = align ? scale * (float)o : scale * ((float)o + 0.5f) - 0.5f;
    if (src < 0)
        src = 0;
    int lo = (int)src;
    if (lo > in - 1)
        lo = in - 1;
    *i0 = lo;
    *i1 = lo + (lo < in - 1 ? 1 : 0);
    *l1 = (double)src - lo;
}

static float axis_scale(int in, int out, bool align)
{
    if (align)
        return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return (float)in / (float)out;
}

static void upsample(int planes, int h, int w, int oh, int ow, bool align, const double *x,
                     double *y, const double *dy, double *dx)
{
    float sh = axis_scale(h, oh, align), sw = axis_scale(w, ow, align);
    if (dx)
        memset(dx, 0, (size_t)planes * h * w * sizeof *dx);
    for (int pl = 0; pl < planes; pl++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int y0, y1, x0, x1;
                double ly, lx;
                source_index(oy, h, sh, align, &y0, &y1, &ly);
                source_index(ox, w, sw, align, &x0, &x1, &lx);
                size_t base = (size_t)pl * h * w, o = ((size_t)pl * oh + oy) * ow + ox;
                double w00 = (1 - ly) * (1 - lx), w01 = (1 - ly) * lx;
                double w10 = ly * (1 - lx), w11 = ly * lx;
                if (y) {
                    y[o] = w00 * x[base + y0 * w + x0] + w01 * x[base + y0 * w + x1] +
                           w10 * x[base + y1 * w + x0] + w11 * x[base + y1 * w + x1];
                } else {
                    dx[base + y0 * w + x0] += w00 * dy[o];
                    dx[base + y0 * w + x1] += w01 * dy[o];
                    dx[base + y1 * w + x0] += w10 * dy[o];
                    dx[base + y1 * w + x1] += w11 * dy[o];
                }
            }
}

void ref_upsample_forward(int planes, int h, int w, int oh, int ow, bool align,
                          const double *x, double *y)
{
    upsample(planes, h, w, oh, ow, align, x, y, NULL, NULL);
}

void ref_upsample_backward(int planes, int h, int w, int oh, int ow, bool align,
                           const double *dy, double *dx)
{
    upsample(planes, h, w, oh, ow, align, NULL, NULL, dy, dx);
}

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

double ref_bce(int count, const double *x, const double *t, double *dx)
{
    double s = 0;
    for (int i = 0; i < count; i++) {
        s += fmax(x[i], 0) - x[i] * t[i] + log1p(exp(-fabs(x[i])));
        if (dx)
            dx[i] = (sigmoid(x[i]) - t[i]) / count;
    }
    return s / count;
}

double ref_cross_entropy(int n, int classes, int plane, const double *x, const double *t,
                         const double *weights, int ignore_index, double *dx)
{
    double sl = 0, sw = 0;
    for (int b = 0; b < n; b++)
        for (int p = 0; p < plane; p++) {
            int tg = (int)t[(size_t)b * plane + p];
            if (tg == ignore_index)
                continue;
            double m = -INFINITY, se = 0;
            for (int c = 0; c < classes; c++)
                m = fmax(m, x[((size_t)b * classes + c) * plane + p]);
            for (int c = 0; c < classes; c++)
                se += exp(x[((size_t)b * classes + c) * plane + p] - m);
            double wt = weights ? weights[tg] : 1.0;
            sl += wt * (m + log(se) - x[((size_t)b * classes + tg) * plane + p]);
            sw += wt;
        }
    if (dx) {
        for (int b = 0; b < n; b++)
            for (int p = 0; p < plane; p++) {
                int tg = (int)t[(size_t)b * plane + p];
                double m = -INFINITY, se = 0;
                for (int c = 0; c < classes; c++)
                    m = fmax(m, x[((size_t)b * classes + c) * plane + p]);
                for (int c = 0; c < classes; c++)
                    se += exp(x[((size_t)b * classes + c) * plane + p] - m);
                double wt = tg == ignore_index ? 0.0 : (weights ? weights[tg] : 1.0);
                for (int c = 0; c < classes; c++) {
                    size_t i = ((size_t)b * classes + c) * plane + p;
                    dx[i] = wt * (exp(x[i] - m) / se - (c == tg ? 1.0 : 0.0)) / sw;
                }
            }
    }
    return sl / sw;
}

/* probabilities: sigmoid for one class, softmax over classes otherwise */
static void probabilities(int n, int classes, int plane, const double *x, double *prob)
{
    for (int b = 0; b < n; b++)
        for (int p = 0; p < plane; p++) {
            if (classes == 1) {
                prob[(size_t)b * plane + p] = sigmoid(x[(size_t)b * plane + p]);
                continue;
            }
            double m = -INFINITY, se = 0;
            for (int c = 0; c < classes; c++)
                m = fmax(m, x[((size_t)b * classes + c) * plane + p]);
            for (int c = 0; c < classes; c++)
                se += exp(x[((size_t)b * classes + c) * plane + p] - m);
            for (int c = 0; c < classes; c++) {
                size_t i = ((size_t)b * classes + c) * plane + p;
                prob[i] = exp(x[i] - m) / se;
            }
        }
}

static double indicator(const double *t, int b, int c, int p, int classes, int plane)
{
    double v = t[(size_t)b * plane + p];
    return classes == 1 ? v : ((int)v == c ? 1.0 : 0.0);
}

double ref_dice(int n, int classes, int plane, const double *x, const double *t, double smooth,
                double *dx)
{
    size_t total = (size_t)n * classes * plane;
    double *prob = malloc(total * sizeof *prob);
    double *gp = calloc(total, sizeof *gp);
    probabilities(n, classes, plane, x, prob);
    double sum = 0;
    for (int b = 0; b < n; b++)
        for (int c = 0; c < classes; c++) {
            double si = 0, sp = 0, st = 0;
            for (int p = 0; p < plane; p++) {
                double pr = prob[((size_t)b * classes + c) * plane + p];
                double tg = indicator(t, b, c, p, classes, plane);
                si += pr * tg;
                sp += pr;
                st += tg;
            }
            double den = sp + st + smooth;
            sum += (2 * si + smooth) / den;
            for (int p = 0; p < plane; p++) {
                double tg = indicator(t, b, c, p, classes, plane);
                gp[((size_t)b * classes + c) * plane + p] =
                    -(2 * tg * den - (2 * si + smooth)) / (den * den) / (n * classes);
            }
        }
    if (dx) {
        for (int b = 0; b < n; b++)
            for (int p = 0; p < plane; p++) {
                if (classes == 1) {
                    size_t i = (size_t)b * plane + p;
                    dx[i] = gp[i] * prob[i] * (1 - prob[i]);
                    continue;
                }
                double dot = 0;
                for (int k = 0; k < classes; k++) {
                    size_t i = ((size_t)b * classes + k) * plane + p;
                    dot += prob[i] * gp[i];
                }
                for (int c = 0; c < classes; c++) {
                    size_t i = ((size_t)b * classes + c) * plane + p;
                    dx[i] = prob[i] * (gp[i] - dot);
                }
            }
    }
    free(prob);
    free(gp);
    return 1.0 - sum / (n * classes);
}
