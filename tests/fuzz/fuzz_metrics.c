/*
 * libFuzzer target: metrics.csv as resume and the curves read it (columns by name, rows of
 * numbers), then cut to the first epochs as resume does, on any bytes. Rows that read must be
 * rows with an epoch; the cut file must read back, with no more rows and none past the cut.
 */
#include <math.h>
#include <string.h>

#include "cl/cl.h"
#include "core/core.h"
#include "fuzz_util.h"
#include "train/run_folder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    segcl_context *ctx = fuzz_context();
    if (size < 1)
        return 0;
    const long keep = data[0] % 8; /* epochs resume keeps */
    const char *path = fuzz_write("metrics.csv", data + 1, size - 1);
    segcl_metrics_row *rows = NULL;
    size_t count = 0;
    segcl_status st = segcl_metrics_read(ctx, path, &rows, &count);
    if (st) {
        if (rows || !*segcl_context_error(ctx))
            abort();
        return 0;
    }
    for (size_t i = 0; i < count; i++)
        if (!isfinite(rows[i].epoch))
            abort(); /* a row without an epoch is not a row */
    segcl_free(rows);
    rows = NULL;
    st = segcl_metrics_truncate(ctx, path, keep);
    if (st) {
        if (!*segcl_context_error(ctx))
            abort();
        return 0;
    }
    size_t after = 0;
    if (segcl_metrics_read(ctx, path, &rows, &after))
        abort(); /* segcl's own rewrite must read back */
    if (after > count)
        abort();
    for (size_t i = 0; i < after; i++)
        if (!(rows[i].epoch <= (double)keep))
            abort();
    segcl_free(rows);
    return 0;
}
