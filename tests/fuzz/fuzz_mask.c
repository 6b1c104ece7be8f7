/*
 * libFuzzer target: the mask reader. The first two bytes choose the class count and the shape
 * of the photo the mask must fit (same size, twice the size, or another aspect ratio); the rest
 * is the mask file, decoded as grey and read by the rules every dataset layout shares.
 */
#include <stdlib.h>
#include <string.h>

#include "cl/cl.h"
#include "data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static segcl_context *ctx;
    if (!ctx) {
        if (segcl_context_create(&ctx))
            abort();
        segcl_context_set_max_pixels(ctx, 1u << 18); /* 512 x 512: the same code, quicker runs */
    }
    segcl_diag_clear(segcl_context_diag(ctx)); /* a refusal must bring its own message */
    if (size < 2)
        return 0;
    const int classes = 1 + data[0] % 5, shape = data[1] % 4;
    segcl_image mask;
    if (segcl_image_decode(segcl_context_diag(ctx), "fuzz.png", data + 2, size - 2, 1, &mask))
        return 0;
    int w = mask.width, h = mask.height;
    if (shape == 1 && (uint64_t)w * h * 4 <= (1u << 18))
        w *= 2, h *= 2;
    else if (shape == 2)
        w = w + 1 + w / 2;
    else if (shape == 3)
        h = h > 1 ? h / 2 : 1;
    segcl_mask_info info;
    segcl_status st =
        segcl_mask_prepare(segcl_context_diag(ctx), "fuzz.png", &mask, classes, w, h, &info);
    if (st == SEGCL_OK) {
        if (mask.width != w || mask.height != h)
            abort();
        for (size_t i = 0; i < (size_t)w * h; i++) {
            int v = mask.pixels[i];
            if (classes == 1 ? info.zero_one && v != 0 && v != 255
                             : v >= classes && v != 255)
                abort();
        }
    } else if (!*segcl_context_error(ctx)) {
        abort();
    }
    segcl_image_free(&mask);
    return 0;
}
