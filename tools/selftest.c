/* `segcl selftest`: checks that the chosen device builds and runs segcl's kernels correctly. */
#include <string.h>

#include "cli.h"

void cli_selftest_help(FILE *out)
{
    fprintf(out,
            "usage: segcl [--device N|P:D] selftest\n"
            "\n"
            "Opens the device, builds the elementwise kernels, checks a kernel round trip,\n"
            "GEMMs (plain and transposed, odd sizes) against a double-precision host reference\n"
            "and large GEMMs (up to 256x256x2304, K up to 4096) by random projections, and\n"
            "times a 256^3 GEMM. Exits non-zero when any result is wrong: such a device is\n"
            "not to be trained on (segcl train checks one large GEMM itself).\n");
}

int cli_cmd_selftest(const global_options *g, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_selftest_help(stdout);
            return 0;
        }
        cli_error("selftest: unknown option '%s' (see 'segcl selftest --help')", argv[i]);
        return 2;
    }
    segcl_context *ctx;
    if (cli_open_context(g, &ctx))
        return 1;
    segcl_device_info info;
    segcl_status st = segcl_context_device_info(ctx, &info);
    if (st) {
        cli_fail(ctx, st);
        segcl_context_destroy(ctx);
        return 1;
    }
    printf("device %d: %s (%s, %s)\n", info.index, info.name, segcl_device_type_string(info.type),
           info.platform_name);
    segcl_selftest_report r;
    double t0 = cli_now();
    st = segcl_selftest(ctx, &r);
    if (st) {
        cli_fail(ctx, st);
        segcl_context_destroy(ctx);
        return 1;
    }
    printf("kernel build: %.3f s\n", r.program_build_seconds);
    printf("elementwise round trip: max error %g\n", r.elementwise_max_error);
    printf("GEMM vs double reference: max normalised error %.2e\n", r.gemm_max_rel_error);
    printf("GEMM, large shapes by random projections: max normalised error %.2e\n",
           r.gemm_large_error);
    printf("GEMM 256^3: %.1f GFLOP/s\n", r.gemm_gflops);
    printf("selftest passed in %.2f s\n", cli_now() - t0);
    segcl_context_destroy(ctx);
    return 0;
}
