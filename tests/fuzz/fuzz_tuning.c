/*
 * libFuzzer target: the tuning loader (a tuning file read from a private folder: size limit,
 * segcl's JSON reader, device/driver/version match, every parameter's range and the
 * combinations the kernels rely on) on any bytes. A file that loads must hold only values the
 * kernels accept; a refusal must come with a message naming the file.
 */
#include <string.h>

#include "cl/cl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static segcl_context *ctx;
    static segcl_device_info info;
    if (!ctx) {
        if (segcl_context_create(&ctx))
            abort();
        /* the device the seed corpus's files were tuned for */
        snprintf(info.name, sizeof info.name, "fuzz device");
        snprintf(info.driver_version, sizeof info.driver_version, "1.0");
    }
    segcl_diag_clear(segcl_context_diag(ctx)); /* a refusal must bring its own message */
    const char *path = fuzz_write("tuning.json", data, size);
    segcl_tuning t;
    bool found = true;
    segcl_status st = segcl_tuning_load(ctx, path, &info, &t, &found);
    if (st) {
        if (found || !strstr(segcl_context_error(ctx), "tuning.json"))
            abort();
        return 0;
    }
    if (!found)
        abort(); /* the file is there */
    if ((t.gemm_vec && t.gemm_vec != 8 && t.gemm_vec != 16) || t.gemm_mr > 32 ||
        (t.elem_local & (t.elem_local - 1)) || t.elem_local > 4096 || t.kc > 4096 ||
        t.gemm_backend < 0 || t.gemm_backend > 2 || t.clblast_set < 0 || t.clblast_set > 64 ||
        t.conv_vw > 4 || t.conv_tm > 1024 || t.conv_tn > 1024)
        abort();
    return 0;
}
