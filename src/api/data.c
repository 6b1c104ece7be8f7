/*
 * The public dataset and synthetic-data calls (segcl.h) take a context; the data layer below
 * knows only error sinks. These pass the context's sink down, from a layer above both cl and
 * data, so data never includes cl.
 */
#include "cl/cl.h"
#include "data/data.h"

segcl_status segcl_dataset_open(segcl_context *ctx, const char *dir, segcl_dataset_format format,
                                segcl_dataset **out)
{
    return segcl_dataset_scan(segcl_context_diag(ctx), dir, format, out);
}

segcl_status segcl_dataset_open_pair(segcl_context *ctx, const char *images_dir,
                                     const char *masks_dir, segcl_dataset **out)
{
    return segcl_dataset_scan_pair(segcl_context_diag(ctx), images_dir, masks_dir, out);
}

segcl_status segcl_synth(segcl_context *ctx, const char *out_dir, int count, int size,
                         uint64_t seed)
{
    return segcl_synth_write(segcl_context_diag(ctx), out_dir, count, size, seed);
}
