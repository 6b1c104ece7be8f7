/*
 * libFuzzer target: the safetensors reader of checkpoints (header length, the JSON header
 * through segcl's own JSON reader, every tensor entry, and the metadata parsed and
 * range-checked) on any bytes, as a whole file.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "io/checkpoint.h"
#include "settings/run_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    segcl_context *ctx = fuzz_context();
    if (size == 0)
        return 0; /* fmemopen refuses an empty buffer; the file reader's own test covers it */
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return 0;
    segcl_run_config meta;
    segcl_metadata md = {0};
    segcl_status st = segcl_checkpoint_read_metadata_stream(ctx, "fuzz.safetensors", f, &md, NULL);
    fclose(f);
    if (!st)
        st = segcl_run_config_from_metadata(ctx, "fuzz.safetensors", &md, &meta);
    segcl_metadata_clear(&md);
    if (st && !*segcl_context_error(ctx))
        abort();
    if (!st && meta.from_segcl &&
        (meta.model.depth < 1 || meta.model.depth > SEGCL_MAX_DEPTH || meta.batch < 1 ||
         meta.size % (1 << meta.model.depth) != 0 || meta.batch_in_epoch < 0))
        abort(); /* metadata that passed must be in range */
    return 0;
}
