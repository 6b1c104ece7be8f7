/*
 * libFuzzer target: args.json as resume and `eval --split val` read it (the size limit,
 * segcl's JSON reader), then checked against a dataset of six pairs: the data fingerprint and
 * the names of what changed, and the split matched through the hash set of names. The first
 * byte picks --allow-changed-data and how many of the six pairs validate. With the change
 * allowed both checks must pass; every refusal must come with a message.
 */
#include <string.h>

#include "cl/cl.h"
#include "core/core.h"
#include "data/data.h"
#include "fuzz_util.h"
#include "train/run_folder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAIRS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static segcl_context *ctx;
    static segcl_sample_entry items[PAIRS];
    static segcl_dataset ds;
    if (!ctx) {
        if (segcl_context_create(&ctx))
            abort();
        /* the pairs the seed corpus's args.json files name: a0.png .. a5.png (no such files:
         * the fingerprint is over names then, as for files that went) */
        static char stems[PAIRS][8], images[PAIRS][32], masks[PAIRS][32];
        for (int i = 0; i < PAIRS; i++) {
            snprintf(stems[i], sizeof stems[i], "a%d", i);
            snprintf(images[i], sizeof images[i], "fuzzdata/images/a%d.png", i);
            snprintf(masks[i], sizeof masks[i], "fuzzdata/masks/a%d.png", i);
            items[i] = (segcl_sample_entry){.stem = stems[i], .image_path = images[i],
                                            .mask_path = masks[i]};
        }
        static char root[] = "fuzzdata/images", masks_root[] = "fuzzdata/masks";
        ds.format = SEGCL_DATASET_PAIR;
        ds.root = root;
        ds.masks_root = masks_root;
        ds.items = items;
        ds.count = PAIRS;
    }
    segcl_diag_clear(segcl_context_diag(ctx)); /* a refusal must bring its own message */
    if (size < 1)
        return 0;
    const bool allow = data[0] & 1;
    const size_t nval = (size_t)(data[0] >> 1) % (PAIRS + 1);
    const char *path = fuzz_write("args.json", data + 1, size - 1);
    segcl_context_set_allow_changed_data(ctx, allow);
    char *text = NULL;
    segcl_jvalue *root = NULL;
    segcl_status st = segcl_args_read(ctx, path, &text, &root);
    if (st) {
        if (root || text || !strstr(segcl_context_error(ctx), "args.json"))
            abort();
        return 0;
    }
    size_t val[PAIRS];
    for (size_t i = 0; i < nval; i++)
        val[i] = PAIRS - nval + i; /* the last pairs validate */
    st = segcl_run_data_check(ctx, path, root, &ds);
    if (!st)
        st = segcl_run_split_check(ctx, path, root, &ds, val, nval, PAIRS - nval);
    if (st && (allow || !strstr(segcl_context_error(ctx), "args.json")))
        abort();
    segcl_json_free(root);
    segcl_free(text);
    return 0;
}
