/*
 * libFuzzer target: `predict --background` specs ("#RRGGBB", "blur", "blur:RADIUS" or an image
 * file's name) and the colour parser behind them and `--colour`, on any string. What parses
 * must be in range (a blur radius in [0.1, 1000], a colour that round-trips
 * through "#RRGGBB"); a refusal must come with a message. A file's name is taken in the
 * fuzzer's own empty folder (names with a '/' are left out), so no other file is read.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "cl/cl.h"
#include "fuzz_util.h"
#include "picture/picture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    segcl_context *ctx = fuzz_context();
    char spec[512];
    if (size >= 256 || memchr(data, '/', size) || memchr(data, '\0', size))
        return 0;
    /* what is not a colour or a blur names a file in the fuzzer's own (empty) folder */
    const bool named = size && data[0] != '#' && !(size == 4 && !memcmp(data, "blur", 4)) &&
                       !(size >= 5 && !memcmp(data, "blur:", 5));
    int at = named ? snprintf(spec, sizeof spec, "%s/", fuzz_dir()) : 0;
    memcpy(spec + at, data, size);
    spec[at + (int)size] = '\0';

    uint8_t rgb[3];
    if (segcl_hex_colour_parse(spec, rgb)) {
        char again[8];
        snprintf(again, sizeof again, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
        if (strlen(spec) != 7 || strcasecmp(again, spec))
            abort(); /* exactly "#RRGGBB" */
    }

    segcl_background bg;
    memset(&bg, 0x5a, sizeof bg);
    segcl_status st = segcl_background_parse(segcl_context_diag(ctx), spec, &bg);
    if (st) {
        if (!*segcl_context_error(ctx))
            abort();
        return 0;
    }
    /* "blur" alone takes its radius from the photo's size (0); "blur:R" is R in [0.1, 1000]
     * (found here: "blur:1e-50" was radius 0) */
    if (bg.kind == SEGCL_BACKGROUND_BLUR &&
        (strcmp(spec, "blur") ? !(bg.radius >= 0.1f && bg.radius <= 1000) : bg.radius != 0))
        abort();
    segcl_background_free(&bg);
    return 0;
}
