/*
 * libFuzzer target: the palette reader of `predict --palette` (lines of "#RRGGBB" or "R G B",
 * comments, the 256-colour limit, enough colours and not all gray) on any bytes. A palette
 * that loads has between `classes` and 256 colours; a refusal names the file.
 */
#include <string.h>

#include "cl/cl.h"
#include "fuzz_util.h"
#include "infer/predictor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    segcl_context *ctx = fuzz_context();
    if (size < 1)
        return 0;
    const int classes = 1 + data[0] % 4;
    const char *path = fuzz_write("palette.txt", data + 1, size - 1);
    uint8_t palette[256 * 3 + 1];
    palette[256 * 3] = 0xa5; /* a guard: nothing past 256 colours is written */
    int entries = -1;
    segcl_status st = segcl_palette_load(ctx, path, classes, palette, &entries);
    if (palette[256 * 3] != 0xa5)
        abort();
    if (st) {
        if (!strstr(segcl_context_error(ctx), "palette.txt"))
            abort();
    } else if (entries < classes || entries > 256) {
        abort();
    }
    return 0;
}
