/* The training curve as an SVG: losses, and validation Dice and IoU, over the epochs. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/svg.h"

/* A tick step of 1, 2 or 5 times a power of ten giving about `ticks` intervals over span. */
static double nice_step(double span, int ticks)
{
    const double raw = span / ticks, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

typedef struct panel {
    double x, y, w, h;     /* plot area */
    double e0, e1, v0, v1; /* data ranges */
} panel;

static double px(const panel *p, double epoch)
{
    return p->x + (epoch - p->e0) / (p->e1 - p->e0) * p->w;
}

static double py(const panel *p, double v)
{
    return p->y + p->h - (v - p->v0) / (p->v1 - p->v0) * p->h;
}

/* Frame, grid, ticks and tick labels of a panel; the x labels only when `epochs`. */
static void draw_axes(FILE *f, const panel *p, double vstep, const char *ylabel, bool epochs)
{
    const double estep = fmax(1, nice_step(p->e1 - p->e0, 8));
    for (double v = p->v0; v <= p->v1 + 1e-9 * vstep; v += vstep) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
                p->x, py(p, v), p->x + p->w, py(p, v));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                p->x - 4, py(p, v), p->x, py(p, v));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", p->x - 7,
                py(p, v) + 4, fabs(v) < 1e-12 ? 0.0 : v);
    }
    for (double e = ceil(p->e0 / estep) * estep; e <= p->e1 + 1e-9; e += estep) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
                px(p, e), p->y, px(p, e), p->y + p->h);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                px(p, e), p->y + p->h, px(p, e), p->y + p->h + 4);
        if (epochs)
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px(p, e),
                    p->y + p->h + 18, e);
    }
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"black\"/>\n",
            p->x, p->y, p->w, p->h);
    fprintf(f,
            "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\">%s"
            "</text>\n",
            p->x - 48, p->y + p->h / 2, ylabel);
}

/* One series as a line with a dot per epoch (a lone epoch still shows), and its legend entry
 * at row `row` right of the panel. */
static void draw_series(FILE *f, const panel *p, const segcl_curve_point *pts, int count, int which,
                        const char *colour, const char *name, bool dashed, int row)
{
    bool any = false;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", colour,
            dashed ? " stroke-dasharray=\"6 3\"" : "");
    for (int i = 0; i < count; i++) {
        const double v = which == 0   ? pts[i].train_loss
                         : which == 1 ? pts[i].val_loss
                         : which == 2 ? pts[i].val_dice
                                      : pts[i].val_iou;
        if (isfinite(v)) {
            fprintf(f, "%.1f,%.1f ", px(p, (double)pts[i].epoch), py(p, v));
            any = true;
        }
    }
    fprintf(f, "\"/>\n");
    for (int i = 0; i < count && count <= 60; i++) {
        const double v = which == 0   ? pts[i].train_loss
                         : which == 1 ? pts[i].val_loss
                         : which == 2 ? pts[i].val_dice
                                      : pts[i].val_iou;
        if (isfinite(v))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                    px(p, (double)pts[i].epoch), py(p, v), colour);
    }
    const double lx = p->x + p->w + 16, ly = p->y + 14 + 20 * row;
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"2\"%s/>\n",
            lx, ly - 4, lx + 24, ly - 4, colour, dashed ? " stroke-dasharray=\"6 3\"" : "");
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s%s</text>\n", lx + 30, ly, name,
            any ? "" : " (none)");
}

segcl_status segcl_write_curve_svg(segcl_diag *diag, const char *path, const segcl_curve_point *pts,
                                   int count)
{
    /* written beside path and renamed over it: a symlink there is replaced, never followed */
    segcl_file file;
    FILE *f;
    segcl_status st = segcl_file_begin_stream(diag, path, &file, &f);
    if (st)
        return st;
    const double W = 760, H = 560;
    double e0 = count ? (double)pts[0].epoch : 1, e1 = count ? (double)pts[count - 1].epoch : 1;
    if (e1 <= e0)
        e0 -= 0.5, e1 += 0.5;
    double max_loss = 0;
    int best = -1;
    bool by_dice = false;
    for (int i = 0; i < count; i++) {
        if (isfinite(pts[i].train_loss))
            max_loss = fmax(max_loss, pts[i].train_loss);
        if (isfinite(pts[i].val_loss))
            max_loss = fmax(max_loss, pts[i].val_loss);
        if (isfinite(pts[i].val_dice) && (!by_dice || pts[i].val_dice > pts[best].val_dice))
            best = i, by_dice = true;
        else if (!by_dice && isfinite(pts[i].val_loss) &&
                 (best < 0 || pts[i].val_loss < pts[best].val_loss))
            best = i;
    }
    const double lstep = max_loss > 0 ? nice_step(max_loss, 5) : 0.2;
    const panel losses = {80, 40, 520, 200,
                          e0, e1, 0,   max_loss > 0 ? ceil(max_loss / lstep) * lstep : 1};
    const panel scores = {80, 300, 520, 200, e0, e1, 0, 1};
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
            "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%g\" y=\"24\" font-size=\"14\" font-weight=\"bold\">Loss</text>\n",
            losses.x);
    fprintf(f,
            "<text x=\"%g\" y=\"284\" font-size=\"14\" font-weight=\"bold\">Validation "
            "scores</text>\n",
            scores.x);
    draw_axes(f, &losses, lstep, "loss", false);
    draw_axes(f, &scores, 0.2, "score", true);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">epoch</text>\n",
            scores.x + scores.w / 2, scores.y + scores.h + 38);
    if (best >= 0) {
        const double bx = px(&scores, (double)pts[best].epoch);
        for (int k = 0; k < 2; k++) {
            const panel *p = k ? &scores : &losses;
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#2ca02c\" "
                    "stroke-dasharray=\"2 3\" stroke-width=\"1.5\"/>\n",
                    bx, p->y, bx, p->y + p->h);
        }
    }
    draw_series(f, &losses, pts, count, 0, "#d62728", "train loss", false, 0);
    draw_series(f, &losses, pts, count, 1, "#ff7f0e", "validation loss", true, 1);
    draw_series(f, &scores, pts, count, 2, "#1f77b4", "Dice", false, 0);
    draw_series(f, &scores, pts, count, 3, "#9467bd", "IoU", true, 1);
    if (best >= 0) {
        const double lx = scores.x + scores.w + 16, ly = scores.y + 14 + 20 * 2;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#2ca02c\" "
                "stroke-dasharray=\"2 3\" stroke-width=\"1.5\"/>\n",
                lx + 12, ly - 12, lx + 12, ly + 2);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">best: epoch %ld</text>\n", lx + 30, ly,
                pts[best].epoch);
        if (by_dice) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">Dice %.4f</text>\n", lx + 30, ly + 18,
                    pts[best].val_dice);
            fprintf(f,
                    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"none\" stroke=\"#2ca02c\" "
                    "stroke-width=\"2\"/>\n",
                    px(&scores, (double)pts[best].epoch), py(&scores, pts[best].val_dice));
        }
    }
    fprintf(f, "</svg>\n");
    return segcl_file_end_stream(diag, &file, f, SEGCL_OK);
}
