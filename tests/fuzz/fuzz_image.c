/*
 * libFuzzer target: the image decoders (BMP, PNG, JPEG, chosen by content) on any bytes, read
 * as colour and as grey, plain and strict. Nothing may crash, leak or read out of bounds;
 * every failure must come with a message.
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
        /* 1 Mpixel keeps each input small (CI runs 100,000 of them under ASan in bounded
         * time; libFuzzer drifts toward the largest images it can make); the limit's own
         * path is exercised too */
        segcl_context_set_max_pixels(ctx, 1u << 20);
    }
    for (int pass = 0; pass < 3; pass++) {
        segcl_diag_clear(segcl_context_diag(ctx)); /* a refusal must bring its own message */
        segcl_context_set_strict(ctx, pass == 2);
        segcl_image img;
        segcl_status st = segcl_image_decode(segcl_context_diag(ctx), "fuzz", data, size,
                                             pass == 1 ? 1 : 3, &img);
        if (st == SEGCL_OK) {
            if (!img.pixels || img.width < 1 || img.height < 1)
                abort();
            /* touch every byte, so a short allocation shows */
            volatile uint8_t sum = 0;
            for (size_t i = 0; i < (size_t)img.width * img.height * img.channels; i++)
                sum = (uint8_t)(sum + img.pixels[i]);
            (void)sum;
            segcl_image_free(&img);
        } else if (img.pixels || !*segcl_context_error(ctx)) {
            abort();
        }
    }
    return 0;
}
