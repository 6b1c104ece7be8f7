/*
 * A synthetic dermoscopy-like data set, so the README's main job runs on a fresh machine with
 * nothing downloaded: skin-toned textured background, an irregular darker lesion with
 * mottled pigment, a few hairs across it, and a dark vignette; masks mark the lesion.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data.h"

#define TAU 6.28318530717958647692

/* Smooth value noise on a coarse lattice, bilinearly interpolated. */
static float lattice(const float *grid, int g, float x, float y)
{
    int x0 = (int)x, y0 = (int)y;
    float fx = x - x0, fy = y - y0;
    x0 %= g, y0 %= g;
    int x1 = (x0 + 1) % g, y1 = (y0 + 1) % g;
    float a = grid[y0 * g + x0], b = grid[y0 * g + x1], c = grid[y1 * g + x0], d = grid[y1 * g + x1];
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy;
}

/* Hairs: a few dark quadratic curves, drawn over the photo only (the mask ignores them). */
static void draw_hairs(segcl_rng *rng, segcl_image *img)
{
    const int size = img->width;
    int hairs = (int)segcl_rng_below(rng, 5);
    for (int h = 0; h < hairs; h++) {
        float x0 = size * segcl_rng_uniform(rng), y0 = size * segcl_rng_uniform(rng);
        float ang = (float)(TAU * segcl_rng_uniform(rng)),
              bend = 0.4f * segcl_rng_uniform(rng) - 0.2f;
        float len = size * (0.4f + 0.5f * segcl_rng_uniform(rng));
        for (int s = 0; s < (int)len * 2; s++) {
            float u = s / 2.0f;
            float a = ang + bend * u / size * 4;
            int px = (int)(x0 + u * cosf(a)), py = (int)(y0 + u * sinf(a));
            for (int o = 0; o < 2; o++) {
                int qx = px + o, qy = py;
                if (qx < 0 || qy < 0 || qx >= size || qy >= size)
                    continue;
                uint8_t *pix = img->pixels + ((size_t)qy * size + qx) * 3;
                for (int c = 0; c < 3; c++)
                    pix[c] = (uint8_t)(pix[c] / 4 + 10);
            }
        }
    }
}

static segcl_status make_one(segcl_diag *diag, const char *out_dir, int index, int size,
                             uint64_t seed)
{
    segcl_rng rng;
    segcl_rng_seed(&rng, seed, (uint64_t)index + 1);
    segcl_image img, mask;
    segcl_status st = segcl_image_alloc(diag, size, size, 3, &img);
    if (st)
        return st;
    if ((st = segcl_image_alloc(diag, size, size, 1, &mask))) {
        segcl_image_free(&img);
        return st;
    }
    enum { G = 16 };
    float noise[G * G], pig[G * G];
    for (int i = 0; i < G * G; i++) {
        noise[i] = segcl_rng_uniform(&rng);
        pig[i] = segcl_rng_uniform(&rng);
    }
    /* skin tone */
    float skin[3] = {0.80f + 0.12f * segcl_rng_uniform(&rng), 0.58f + 0.12f * segcl_rng_uniform(&rng),
                     0.48f + 0.10f * segcl_rng_uniform(&rng)};
    float lesion[3] = {0.35f + 0.15f * segcl_rng_uniform(&rng), 0.20f + 0.10f * segcl_rng_uniform(&rng),
                       0.15f + 0.08f * segcl_rng_uniform(&rng)};
    /* lesion outline: radius r(theta) = r0 (1 + sum of a few harmonics) */
    float cx = size * (0.35f + 0.3f * segcl_rng_uniform(&rng));
    float cy = size * (0.35f + 0.3f * segcl_rng_uniform(&rng));
    float r0 = size * (0.12f + 0.18f * segcl_rng_uniform(&rng));
    float amp[5], phase[5];
    for (int k = 0; k < 5; k++) {
        amp[k] = (0.02f + 0.10f * segcl_rng_uniform(&rng)) / (1 + k * 0.5f);
        phase[k] = (float)(TAU * segcl_rng_uniform(&rng));
    }
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            float dx = x - cx, dy = y - cy;
            float th = atan2f(dy, dx), r = sqrtf(dx * dx + dy * dy);
            float edge = r0;
            for (int k = 0; k < 5; k++)
                edge += r0 * amp[k] * sinf((k + 2) * th + phase[k]);
            float t = lattice(noise, G, x * (G - 1.0f) / size * 3, y * (G - 1.0f) / size * 3);
            float inside = 1.0f / (1.0f + expf((r - edge) / (0.01f * size + 0.5f)));
            float p = lattice(pig, G, x * (G - 1.0f) / size * 2, y * (G - 1.0f) / size * 2);
            float ex = x - size / 2.0f, ey = y - size / 2.0f; /* vignette about the centre */
            float vig = 1.0f - 0.55f * powf((ex * ex + ey * ey) / (0.5f * size * size), 1.5f);
            for (int c = 0; c < 3; c++) {
                float bg = skin[c] * (0.92f + 0.12f * t);
                float fg = lesion[c] * (0.7f + 0.6f * p);
                float v = (bg * (1 - inside) + fg * inside) * (vig < 0.15f ? 0.15f : vig);
                img.pixels[((size_t)y * size + x) * 3 + c] =
                    (uint8_t)(v <= 0 ? 0 : v >= 1 ? 255 : (int)(v * 255.0f + 0.5f));
            }
            mask.pixels[(size_t)y * size + x] = r < edge ? 255 : 0;
        }
    draw_hairs(&rng, &img);
    char path[1200];
    snprintf(path, sizeof path, "%s/images/synth%04d.png", out_dir, index);
    st = segcl_image_save_png(diag, path, &img);
    snprintf(path, sizeof path, "%s/masks/synth%04d.png", out_dir, index);
    if (!st)
        st = segcl_image_save_png(diag, path, &mask);
    segcl_image_free(&img);
    segcl_image_free(&mask);
    return st;
}

segcl_status segcl_synth_write(segcl_diag *diag, const char *out_dir, int count, int size,
                               uint64_t seed)
{
    if (!diag || !out_dir || count < 1 || size < 16 || size > 4096)
        return segcl_diag_fail(diag, SEGCL_ERROR_INVALID_ARGUMENT,
                               "synth: needs a folder, count >= 1 and size 16..4096");
    char path[1100];
    const char *sub[] = {"/images", "/masks"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", out_dir, sub[i]);
        segcl_status st = segcl_make_dirs(diag, path);
        if (st)
            return st;
    }
    for (int i = 0; i < count; i++) {
        segcl_status st = make_one(diag, out_dir, i, size, seed);
        if (st)
            return st;
    }
    return SEGCL_OK;
}
