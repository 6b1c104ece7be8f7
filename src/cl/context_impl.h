/* The layout of the context: private to src/cl. Every other layer goes through src/cl/cl.h. */
#ifndef SEGCL_CONTEXT_IMPL_H
#define SEGCL_CONTEXT_IMPL_H

#include "cl/cl.h"

struct segcl_context {
    segcl_diag diag;   /* last error message, warning handler, reading policy */
    cl_int last_cl_error;

    bool enumerated;
    segcl_device_entry *devices;
    size_t device_count;

    bool open;
    size_t device_index;
    segcl_device_entry *dev; /* == &devices[device_index] once open */
    cl_context cl;
    cl_command_queue queue;

    segcl_kernel_cache_mode cache_mode;
    bool cache_enabled; /* resolved from cache_mode and the driver */
    char *cache_dir;
    char *kernel_dir;   /* NULL: embedded sources */
    char *device_options; /* -D options every program of this device gets */
    bool cpu_style;       /* CPU-style kernels (segcl_device_info.cpu_style, or overridden) */
    bool no_implicit, no_fusion; /* $SEGCL_NO_IMPLICIT, $SEGCL_NO_FUSION, read at open */
    unsigned run_length;  /* elements per work-item of run-style kernels (RUN in common.cl) */
    size_t run_local;     /* their work-group size */
    size_t elem_local;    /* that of kernels with a work-item per element: min(64, device) */
    size_t reduce_wg;     /* work-group of the fixed-order reductions; 0 until probed */
    char reduce_options[48]; /* "-DGROUP_SUM_WG=<reduce_wg>" */
    bool clblast_used;    /* CLBlast ran on this context: its cache is cleared at destroy */
    segcl_program_entry *programs;
    segcl_kernel_entry *kernels;
    segcl_cache_stats cache_stats;

    uint64_t memory_limit;
    uint64_t memory_in_use;
    uint64_t memory_peak;

    cl_mem gemm_temp;     /* CLBlast's temporary buffer, grown on demand, never per call */
    size_t gemm_temp_bytes;
    int gemm_backend;     /* segcl_gemm_backend; resolved on first use */
    int gemm_env_backend; /* $SEGCL_GEMM read at open; SEGCL_GEMM_AUTO: not set */
    char *gemm_cpu_options;
    unsigned gemm_vec, gemm_mr, gemm_nr; /* CPU GEMM register tile: MR x NR, NR = 2 x vec */
    unsigned gemm_mc_tiles, gemm_nc_tiles, gemm_kc; /* CPU GEMM cache blocking */
    /* `segcl tune`'s parameters for this device (src/cl/tuning.c): in use when tuned */
    segcl_tuning tuning;
    bool tuned;
    /* during a data-parallel segcl_train with synchronised BatchNorm: its collective */
    const segcl_collective *sync_bn;
    char *tuning_path;
    const segcl_tuning *tuning_override; /* segcl_tune's candidate, set before opening */
    cl_mem gemm_pack_a, gemm_pack_b; /* packed panels for the CPU kernel, grown on demand */
    size_t gemm_pack_a_bytes, gemm_pack_b_bytes;
    cl_mem gemm_slabs;    /* split-K partial products */
    size_t gemm_slabs_bytes;
    cl_mem resample_rows; /* bilinear resize: rows interpolated along one axis */
    size_t resample_rows_bytes;
    cl_mem resample_xtab, resample_ytab; /* bilinear resize: tap tables per axis */
    size_t resample_xtab_bytes, resample_ytab_bytes;
    cl_mem ws_columns;    /* im2col columns of one image */
    size_t ws_columns_bytes;
    cl_mem ws_weights;    /* transformed weights of one op call */
    size_t ws_weights_bytes;
    cl_mem ws_small;      /* reduction partials and per-channel temporaries of one op call */
    size_t ws_small_bytes;
    cl_mem ws_partials;   /* the first stage of the channel reductions */
    size_t ws_partials_bytes;
    int profile;          /* -1 not open, 0 off, 1 on ($SEGCL_PROFILE, read at open) */
    segcl_profile_entry profile_entries[SEGCL_PROFILE_MAX];
    size_t profile_count;
    segcl_test_hooks test_hooks; /* used by test builds only (cl.h); zero otherwise */
};

#endif /* SEGCL_CONTEXT_IMPL_H */
