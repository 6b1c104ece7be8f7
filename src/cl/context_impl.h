/* The layout of the context: private to src/cl. Every other layer goes through src/cl/cl.h. */
#ifndef SEGCL_CONTEXT_IMPL_H
#define SEGCL_CONTEXT_IMPL_H

/* Only files of src/cl define SEGCL_CL_IMPL before including this: elsewhere the context is
 * an opaque type (tests/test_layering.c checks the includes). */
#ifndef SEGCL_CL_IMPL
#error "cl/context_impl.h is private to src/cl: include cl/cl.h and use its accessors"
#endif

#include "cl/cl.h"

struct segcl_context {
    segcl_diag diag; /* last error message, warning handler, reading policy */
    cl_int last_cl_error;

    bool enumerated;
    segcl_device_entry *devices;
    size_t device_count;

    bool open;
    segcl_precision precision; /* tensor storage, fixed at open */
    size_t device_index;
    segcl_device_entry *dev; /* == &devices[device_index] once open */
    cl_context cl;
    cl_command_queue queue;

    segcl_kernel_cache_mode cache_mode;
    bool cache_enabled; /* resolved from cache_mode and the driver */
    char *cache_dir;
    char *kernel_dir;           /* NULL: embedded sources */
    char *device_options;       /* -D options every program of this device gets */
    segcl_kernel_params params; /* the kernel style, launch shapes and GEMM tile in use */
    const segcl_backend *backend; /* the style's operations (src/cl/backend.c) */
    size_t reduce_wg;           /* work-group of the fixed-order reductions; 0 until probed */
    char reduce_options[48];    /* "-DGROUP_SUM_WG=<reduce_wg>" */
    bool clblast_used;          /* CLBlast ran on this context: its cache is cleared at destroy */
    segcl_program_entry *programs;
    segcl_kernel_entry *kernels;
    segcl_cache_stats cache_stats;

    uint64_t memory_limit;
    uint64_t memory_in_use;
    uint64_t memory_peak;

    int gemm_backend;     /* segcl_gemm_backend; resolved on first use */
    int gemm_env_backend; /* $SEGCL_GEMM read at open; SEGCL_GEMM_AUTO: not set */
    char *gemm_cpu_options;
    /* `segcl tune`'s parameters for this device (src/cl/tuning.c): in use when tuned */
    segcl_tuning tuning; /* params.tuned says whether it is */
    char *tuning_path;
    uint64_t launches;   /* kernels queued (segcl_context_kernel_launches) */
    uint64_t host_waits; /* times the host waited for the queue (segcl_context_host_waits) */
    int profile; /* -1 not open, 0 off, 1 on ($SEGCL_PROFILE, read at open) */
    segcl_profile_entry profile_entries[SEGCL_PROFILE_MAX];
    size_t profile_count;
    segcl_test_hooks test_hooks; /* used by test builds only (cl.h); zero otherwise */
};

#endif /* SEGCL_CONTEXT_IMPL_H */
