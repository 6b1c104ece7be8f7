/*
 * The environment variables segcl documents (README), read in one place (src/cl/environment.c)
 * when a context opens, and by the two device queries that work without an open context
 * (segcl_device_resolve, segcl_device_tuned). Private to src/cl.
 */
#ifndef SEGCL_ENVIRONMENT_H
#define SEGCL_ENVIRONMENT_H

#include "cl/cl.h"

/* Every variable's value, parsed as its one reader does; unset, empty or out of range reads as
 * "not set" (NULL, 0, -1), and a set value that is refused is listed in `ignored`, which a
 * context open gives as one warning. The strings point into the process environment: valid until it
 * changes, so only the call that read them uses them. */
typedef struct segcl_environment {
    const char *device;              /* SEGCL_DEVICE */
    const char *kernel_cache_dir;    /* SEGCL_KERNEL_CACHE_DIR */
    const char *xdg_cache_home;      /* XDG_CACHE_HOME */
    const char *home;                /* HOME */
    const char *kernel_dir;          /* SEGCL_KERNEL_DIR */
    int kernel_style;                /* SEGCL_KERNEL_STYLE: 1 "cpu", 0 "gpu", -1 the device's */
    bool no_implicit, no_fusion;     /* SEGCL_NO_IMPLICIT, SEGCL_NO_FUSION: set at all */
    bool tuning_off;                 /* SEGCL_TUNING=off */
    unsigned run_length;             /* SEGCL_RUN > 0 */
    unsigned gemm_vec;               /* SEGCL_GEMM_VEC: 8 or 16 */
    unsigned gemm_mr;                /* SEGCL_GEMM_MR: 1 to 32 */
    unsigned mc_tiles, nc_tiles, kc; /* SEGCL_GEMM_CPU_BLOCKING=MC,NC,KC within the limits */
    int gemm_backend;                /* SEGCL_GEMM: clblast or cpu; SEGCL_GEMM_AUTO otherwise */
    bool profile;                    /* SEGCL_PROFILE set, not empty and not "0" */
    segcl_test_hooks test;           /* SEGCL_TEST_*: read in test builds only, zero otherwise */
    char ignored[512];               /* the set variables whose values were refused, each with
                                      * what it accepts: empty when none (a context open warns) */
} segcl_environment;

SEGCL_INTERNAL void segcl_environment_read(segcl_environment *env);

#endif /* SEGCL_ENVIRONMENT_H */
