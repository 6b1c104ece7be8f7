/* Prediction overlays (tint and outline over the photo) and an SVG training curve. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/visual.h"

static const uint8_t palette[8][3] = {{255, 64, 64},  {64, 160, 255}, {64, 220, 96},
                                      {255, 200, 32}, {200, 80, 255}, {32, 220, 220},
                                      {255, 128, 0},  {160, 160, 160}};

segcl_status segcl_overlay(segcl_context *ctx, const segcl_image *photo, const uint8_t *labels,
                           segcl_image *out)
{
    const int w = photo->width, h = photo->height;
    segcl_status st = segcl_image_alloc(ctx, w, h, 3, out);
    if (st)
        return st;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            uint8_t rgb[3];
            for (int c = 0; c < 3; c++)
                rgb[c] = photo->pixels[i * photo->channels + (photo->channels == 3 ? c : 0)];
            int label = labels[i];
            if (label) {
                const uint8_t *col = palette[(label - 1) % 8];
                bool edge = (x > 0 && labels[i - 1] != label) ||
                            (x + 1 < w && labels[i + 1] != label) ||
                            (y > 0 && labels[i - w] != label) ||
                            (y + 1 < h && labels[i + w] != label);
                for (int c = 0; c < 3; c++)
                    rgb[c] = edge ? col[c] : (uint8_t)((rgb[c] * 3 + col[c] * 2) / 5);
            }
            memcpy(out->pixels + i * 3, rgb, 3);
        }
    return SEGCL_OK;
}

segcl_status segcl_write_curve_svg(segcl_context *ctx, const char *path,
                                   const segcl_curve_point *p, int count)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    const double W = 640, H = 360, L = 50, R = 50, T = 30, B = 40;
    double max_loss = 1e-9;
    for (int i = 0; i < count; i++) {
        if (isfinite(p[i].train_loss))
            max_loss = fmax(max_loss, p[i].train_loss);
        if (isfinite(p[i].val_loss))
            max_loss = fmax(max_loss, p[i].val_loss);
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"black\"/>\n", L, H - B,
            W - R, H - B);
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"black\"/>\n", L, T, L, H - B);
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"black\"/>\n", W - R, T,
            W - R, H - B);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">epoch</text>\n", (L + W - R) / 2,
            H - 8);
    fprintf(f, "<text x=\"8\" y=\"%g\">loss (0..%.3g)</text>\n", T - 10, max_loss);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">Dice (0..1)</text>\n", W - 8, T - 10);
    const char *colors[3] = {"#d62728", "#ff7f0e", "#1f77b4"};
    const char *labels[3] = {"train loss", "val loss", "val Dice"};
    for (int s = 0; s < 3; s++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[s]);
        for (int i = 0; i < count; i++) {
            double v = s == 0 ? p[i].train_loss : s == 1 ? p[i].val_loss : p[i].val_dice;
            if (!isfinite(v))
                continue;
            double x = L + (count > 1 ? (double)i / (count - 1) : 0.5) * (W - L - R);
            double y = s == 2 ? H - B - v * (H - T - B) : H - B - v / max_loss * (H - T - B);
            fprintf(f, "%.1f,%.1f ", x, y);
        }
        fprintf(f, "\"/>\n<text x=\"%g\" y=\"%g\" fill=\"%s\">%s</text>\n", L + 10 + 110 * s,
                T + 14, colors[s], labels[s]);
    }
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0)
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
    return SEGCL_OK;
}
