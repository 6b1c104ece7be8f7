/*
 * The OpenCL layer as the layers above see it: devices, programs and their cache, launches,
 * GEMM and the implicit convolution, device memory, the arena, profiling and tuning. The
 * context's layout is private to src/cl (src/cl/context_impl.h).
 */
#ifndef SEGCL_CL_H
#define SEGCL_CL_H

#include <CL/cl.h>

#include "core/core.h"

/* ---- errors of a context (src/cl/cl_error.c) ----------------------------------------------- */

/* Every context carries an error sink (src/core): its last message, warning handler and the
 * reading policy. Host work below cl (core, data) takes the sink itself. */
SEGCL_INTERNAL segcl_diag *segcl_context_diag(segcl_context *ctx);
/* Records a formatted message on ctx and returns status: `return segcl_fail(ctx, ...)`. */
SEGCL_INTERNAL segcl_status segcl_fail(segcl_context *ctx, segcl_status status, const char *fmt,
                                       ...) SEGCL_PRINTF(3, 4);
/* Empties the message and forgets the last OpenCL error. */
SEGCL_INTERNAL void segcl_clear_error(segcl_context *ctx);
/* Passes a one-line warning to the context's handler (segcl_context_set_warning_handler); with
 * none it is dropped. */
SEGCL_INTERNAL void segcl_warn(segcl_context *ctx, const char *fmt, ...) SEGCL_PRINTF(2, 3);
/* The same for a warning that concerns a setting (segcl_context_warning_setting). */
SEGCL_INTERNAL void segcl_warn_setting(segcl_context *ctx, const char *setting, const char *fmt,
                                       ...) SEGCL_PRINTF(3, 4);

/* Records "<what> failed: <CL_ERROR_NAME> (<code>)" plus optional detail; maps the code. */
SEGCL_INTERNAL segcl_status segcl_fail_cl(segcl_context *ctx, cl_int err, const char *what,
                                          const char *fmt, ...) SEGCL_PRINTF(4, 5);
SEGCL_INTERNAL const char *segcl_cl_error_name(cl_int err);
/* segcl_fail, and the context remembers which setting the message concerns (the name of the
 * option's field, e.g. "threshold", "max_steps"; static storage): segcl_context_error_setting
 * returns it, so a command-line tool can name its own flag for it. segcl_fail forgets it. */
SEGCL_INTERNAL segcl_status segcl_fail_setting(segcl_context *ctx, const char *setting,
                                               segcl_status status, const char *fmt, ...)
    SEGCL_PRINTF(4, 5);

/* Times the host has waited for the context's queue (blocking reads and writes, finishes)
 * since it opened: a training step or inference pass waits none (tests/test_launches.c). */
SEGCL_INTERNAL uint64_t segcl_context_host_waits(const segcl_context *ctx);
SEGCL_INTERNAL void segcl_context_note_host_wait(segcl_context *ctx);
/* Blocking read of `bytes` at `offset` of a raw buffer. */
SEGCL_INTERNAL segcl_status segcl_mem_read_bytes(segcl_context *ctx, cl_mem buffer, size_t offset,
                                                 size_t bytes, void *host);
/* Blocking copies of `floats` floats between a raw buffer and the host. */
SEGCL_INTERNAL segcl_status segcl_mem_read(segcl_context *ctx, cl_mem buffer, size_t floats,
                                           float *host);
SEGCL_INTERNAL segcl_status segcl_mem_write(segcl_context *ctx, cl_mem buffer, size_t floats,
                                            const float *host);

/* ---- test hooks (src/cl/environment.c) ------------------------------------------------------ */

/* Faults the tests inject, compiled into test builds only (-DSEGCL_TESTING: the library the
 * tests link and the segcl-testing CLI; the release library has none). Read from $SEGCL_TEST_*
 * when a context opens; a test may also set them on its context. 0: off. */
typedef struct segcl_test_hooks {
    long gemm_fault;  /* SEGCL_TEST_GEMM_FAULT=K: every product of K or more terms drops its
                       * last one, as a driver that cuts long loops short does (llvmpipe) */
    int wgrad_images; /* SEGCL_TEST_WGRAD_IMAGES=N: the weight gradient packs N images a time */
    int kill_in_save; /* SEGCL_TEST_KILL_IN_SAVE=N: SIGKILL halfway through the N-th checkpoint
                       * written in this process (the kill -9 test) */
} segcl_test_hooks;
#ifdef SEGCL_TESTING
SEGCL_INTERNAL segcl_test_hooks *segcl_test_hooks_of(segcl_context *ctx);
#endif

/* ---- devices (src/cl/device.c) -------------------------------------------------------------- */

typedef struct segcl_device_entry {
    cl_platform_id platform;
    cl_device_id device;
    segcl_device_info info;
} segcl_device_entry;

/* Enumerates platforms and devices into ctx once. */
SEGCL_INTERNAL segcl_status segcl_devices_enumerate(segcl_context *ctx);
/* segcl_device_resolve with $SEGCL_DEVICE as the context's open read it (NULL: not set). */
SEGCL_INTERNAL segcl_status segcl_device_resolve_env(segcl_context *ctx, const char *spec,
                                                     const char *env_device, size_t *index);

/* ---- programs (src/cl/program.c) ------------------------------------------------------------ */

typedef struct segcl_program_entry segcl_program_entry;
typedef struct segcl_kernel_entry segcl_kernel_entry;

typedef struct segcl_cache_stats {
    unsigned long hits;     /* binaries loaded from the disk cache */
    unsigned long misses;   /* programs built from source (cache enabled, no entry) */
    unsigned long rejected; /* entries found but corrupt or stale, rebuilt from source */
    unsigned long stored;   /* entries written */
    unsigned long builds;   /* programs built from source, cache or not */
} segcl_cache_stats;

/*
 * Returns the program for kernels/<family>.cl built with the device's standard options plus
 * `options` (may be NULL). Built once per (family, options) and kept for the context's life.
 */
SEGCL_INTERNAL segcl_status segcl_program_get(segcl_context *ctx, const char *family,
                                              const char *options, cl_program *out);
/* Returns a kernel object, created once per (family, options, name) and owned by ctx. Its local
 * memory is checked against the device's when it is created. */
SEGCL_INTERNAL segcl_status segcl_kernel_get(segcl_context *ctx, const char *family,
                                             const char *options, const char *name, cl_kernel *out);
/* The same, with the largest work-group it may run: min(CL_KERNEL_WORK_GROUP_SIZE,
 * CL_DEVICE_MAX_WORK_GROUP_SIZE). */
SEGCL_INTERNAL segcl_status segcl_kernel_find(segcl_context *ctx, const char *family,
                                              const char *options, const char *name, cl_kernel *out,
                                              size_t *max_work_group);
SEGCL_INTERNAL void segcl_programs_release(segcl_context *ctx);
/* Whether a driver's program binary holds together as far as segcl can tell (src/cl/
 * binary_check.c): ELF, PoCL's and rusticl's layouts and SPIR-V walked so that every size they
 * declare lies inside the n bytes; other formats pass. False with the reason in `why`. */
SEGCL_INTERNAL bool segcl_binary_check(const unsigned char *binary, size_t n, char *why,
                                       size_t cap);
/* A kernel cache entry (src/cl/program.c): a header of this many bytes (magic "SEGCLKC", format
 * version, reserved, the 32-byte key, the binary's size, its SHA-256) and the binary. */
#define SEGCL_CACHE_HEADER_BYTES 88
/* 2: the crash marker is held under a lock (version 1's never are); in the key too */
#define SEGCL_CACHE_FORMAT_VERSION 2u
/* Reads an entry from fd (closing it) and checks it: magic, version, key, the size against the
 * file's, the digest, then the binary's own structure (segcl_binary_check). True with *binary
 * (free with segcl_free) and its size; false with `why` saying what was wrong, or empty for the
 * accidents a digest catches. */
SEGCL_INTERNAL bool segcl_cache_entry_read(int fd, const uint8_t key[32], unsigned char **binary,
                                           uint64_t *binary_size, char *why, size_t cap);
/* The cache's entries at `path` under `key` (src/cl/kernel_cache.c). Load: true and a built
 * program from a valid entry (a defective one is removed, with a warning where it is no
 * accident); store: best effort. */
SEGCL_INTERNAL bool segcl_kernel_cache_load(segcl_context *ctx, const char *path,
                                            const uint8_t key[32], cl_program *out);
SEGCL_INTERNAL void segcl_kernel_cache_store(segcl_context *ctx, const char *path,
                                             const uint8_t key[32], cl_program program);
/* Source text of kernels/<family>.cl, from SEGCL_KERNEL_DIR or the embedded copy. Caller frees. */
SEGCL_INTERNAL segcl_status segcl_kernel_source(segcl_context *ctx, const char *family,
                                                char **source, size_t *length);

/* Embedded kernel sources (generated at build time by tools/embed_kernels.c). */
typedef struct segcl_embedded_kernel {
    const char *family;
    const unsigned char *data;
    size_t size;
} segcl_embedded_kernel;
extern const segcl_embedded_kernel segcl_embedded_kernels[];
extern const size_t segcl_embedded_kernel_count;

/* ---- launching kernels (src/cl/launch.c) ---------------------------------------------------- */

typedef struct segcl_arg {
    size_t size;
    const void *value;
} segcl_arg;
#define SEGCL_ARG(x) ((segcl_arg){sizeof(x), &(x)})

/* Sets kernel arguments 0..n-1; `name` is used in error messages. */
SEGCL_INTERNAL segcl_status segcl_set_args(segcl_context *ctx, cl_kernel kernel, const char *name,
                                           const segcl_arg *args, size_t n);
/* Queues a launch; global sizes are rounded up to multiples of local (kernels bounds-check).
 * local == NULL picks the elementwise work-group (segcl_kernel_params.elem_local) in
 * dimension 0, clamped to max_work_group; an explicit local larger than max_work_group is an
 * error naming the limit. Not waited for. */
SEGCL_INTERNAL segcl_status segcl_launch(segcl_context *ctx, cl_kernel kernel, const char *name,
                                         size_t max_work_group, cl_uint dims, const size_t *global,
                                         const size_t *local);
/* The work-group of the fixed-order reductions on this device, and the build options that
 * give it to kernels/common.cl (GROUP_SUM_WG): found once per context with a probe kernel. */
SEGCL_INTERNAL segcl_status segcl_reduction_group(segcl_context *ctx, size_t *wg,
                                                  const char **options);

/* Looks up a kernel, sets its arguments and queues it, in one call. */
SEGCL_INTERNAL segcl_status segcl_run(segcl_context *ctx, const char *family, const char *options,
                                      const char *name, cl_uint dims, const size_t *global,
                                      const size_t *local, const segcl_arg *args, size_t nargs);
#define SEGCL_ARGS(...)                                                                            \
    ((const segcl_arg[]){__VA_ARGS__}),                                                            \
        (sizeof((const segcl_arg[]){__VA_ARGS__}) / sizeof(segcl_arg))

/* Launches a run-style kernel (kernels/common.cl: FOR_RUN) over n elements in dimension 0 and
 * `planes` in dimension 1. */
SEGCL_INTERNAL segcl_status segcl_run_elements(segcl_context *ctx, const char *family,
                                               const char *name, size_t n, size_t planes,
                                               const segcl_arg *args, size_t nargs);

/* Elementwise helpers on raw buffers (kernels/util.cl). */
SEGCL_INTERNAL segcl_status segcl_fill(segcl_context *ctx, cl_mem x, size_t n, float value);
SEGCL_INTERNAL segcl_status segcl_axpby(segcl_context *ctx, cl_mem x, cl_mem y, size_t n,
                                        float alpha, float beta);

/* ---- workspaces (src/cl/workspace.c) ------------------------------------------------------- */

/*
 * The scratch device memory of the GEMM and the ops, owned by whoever runs them (a model, or a
 * check) rather than by the context: one buffer per use below, grown on demand (by half again
 * what is asked, so growing shapes reallocate rarely) and never per call. Queued work is
 * finished before a buffer is replaced. Charged against the context's memory like any buffer;
 * destroy it before its context.
 */
typedef struct segcl_workspace segcl_workspace;

typedef enum segcl_scratch {
    SEGCL_SCRATCH_GEMM_TEMP,     /* CLBlast's temporary buffer */
    SEGCL_SCRATCH_PACK_A,        /* the CPU GEMM's packed panels of A */
    SEGCL_SCRATCH_PACK_B,        /*   and of B */
    SEGCL_SCRATCH_SLABS,         /*   its split-K partial products */
    SEGCL_SCRATCH_COLUMNS,  /* im2col columns of one image */
    SEGCL_SCRATCH_WEIGHTS,  /* transformed weights of one op call */
    SEGCL_SCRATCH_SMALL,    /* reduction partials and per-channel temporaries of one op call */
    SEGCL_SCRATCH_PARTIALS, /* the first stage of the channel reductions */
    SEGCL_SCRATCH_WIDE_A,   /* a half context's GEMM operands as float, for CLBlast */
    SEGCL_SCRATCH_WIDE_B,
    SEGCL_SCRATCH_WIDE_C,
    SEGCL_SCRATCH_COUNT
} segcl_scratch;

SEGCL_INTERNAL segcl_status segcl_workspace_create(segcl_context *ctx, segcl_workspace **out);
SEGCL_INTERNAL void segcl_workspace_destroy(segcl_workspace *ws);
/* Buffer `which` with at least `bytes`; `what` names it in errors. Valid until the next
 * reserve of the same buffer. */
SEGCL_INTERNAL segcl_status segcl_workspace_reserve(segcl_workspace *ws, segcl_scratch which,
                                                    const char *what, size_t bytes, cl_mem *out);
/* Device bytes buffer `which` holds; SEGCL_SCRATCH_COUNT: all of them. */
SEGCL_INTERNAL size_t segcl_workspace_bytes(const segcl_workspace *ws, segcl_scratch which);

/* ---- GEMM (src/cl/gemm.c) ------------------------------------------------------------------- */

/* Row-major C = alpha * op(A) * op(B) + beta * C with op(X) = X or X^T. Offsets and leading
 * dimensions in elements. A, B and C hold tensor data: half in a half context (im2col columns
 * included), float otherwise. Queued, not waited for. The GEMM calls below take their scratch
 * (packed panels, split-K slabs, CLBlast's temporary buffer) from `ws`. */
typedef struct segcl_gemm_args {
    bool trans_a, trans_b;
    size_t m, n, k;
    float alpha, beta;
    cl_mem a, b, c;
    size_t a_offset, b_offset, c_offset;
    size_t lda, ldb, ldc;
} segcl_gemm_args;

SEGCL_INTERNAL segcl_status segcl_gemm(segcl_context *ctx, segcl_workspace *ws,
                                       const segcl_gemm_args *args);

typedef enum segcl_gemm_backend {
    SEGCL_GEMM_AUTO = 0, /* CPU devices: segcl's packed kernel; others: CLBlast */
    SEGCL_GEMM_CLBLAST = 1,
    SEGCL_GEMM_CPU = 2, /* kernels/gemm_cpu.cl */
} segcl_gemm_backend;

/* CPU backend only: C = alpha op(A) B + beta C with B already in kernels/gemm_cpu.cl's packed
 * layout, Bp[(j / NR * K + p) * NR + j % NR] (zero-padded to whole NR-column tiles; NR is
 * segcl_kernel_params.gemm_nr). */
SEGCL_INTERNAL segcl_status segcl_gemm_prepacked_b(segcl_context *ctx, segcl_workspace *ws,
                                                   const segcl_gemm_args *args, cl_mem packed_b);

/* CPU backend only: convolution as an implicit GEMM (kernels/gemm_cpu.cl, conv_implicit), for
 * `images` images at once: y_i (m x ho*wo) = W (m x cin*kh*kw) col(x_i) + beta y_i, with the
 * columns built slice by slice in local memory, never as a whole matrix. */
typedef struct segcl_conv_implicit_args {
    cl_mem w, x, y;
    cl_uint images, m, cin, h, w_in, kh, kw, stride, pad, ho, wo;
    float beta;
    /* forward only, applied to each output before it is stored: + bias[row] (when not NULL),
     * ReLU (relu), scale[row] * v + shift[row] (when not NULL) */
    cl_mem bias, scale, shift;
    bool relu;
} segcl_conv_implicit_args;
SEGCL_INTERNAL segcl_status segcl_conv_implicit(segcl_context *ctx, segcl_workspace *ws,
                                                const segcl_conv_implicit_args *args);
/* The weight gradient the same way: w (m x cin*kh*kw) = sum_i y_i col(x_i)^T + beta w, with y
 * the output gradient (m x ho*wo per image) and the sum over images inside the product. */
SEGCL_INTERNAL segcl_status segcl_conv_implicit_wgrad(segcl_context *ctx, segcl_workspace *ws,
                                                      const segcl_conv_implicit_args *args);

/* ---- convolution backends (src/cl/backend.c and the files it names) -------------------------- */

/* One convolution as the backends see it. Image side: `images` x cin x h x w (a convolution's
 * input, a transposed convolution's output); column side: cout x ho x wo (a convolution's
 * output). Weights: cout x cin x kh x kw. Tensors are dense NCHW, image after image. */
typedef struct segcl_conv_shape {
    cl_uint images, cin, h, w;
    cl_uint cout, ho, wo;
    cl_uint kh, kw, stride, pad;
} segcl_conv_shape;

/* What a product does to each value v it computes for channel c before it stores it, in the
 * order the separate ops would: v += beta * old (beta 0: the old value is never read),
 * + bias[c], ReLU, then scale[c] * v + shift[c] (an inference BatchNorm). NULL: not applied;
 * scale and shift go together. */
typedef struct segcl_conv_epilogue {
    float beta;
    cl_mem bias;
    bool relu;
    cl_mem scale, shift;
} segcl_conv_epilogue;

/* The GPU-style implicit-GEMM convolutions (src/cl/conv_gpu.c, kernels/conv_gpu.cl): the
 * whole batch in one product (N x H x W is the column dimension), the columns built tile by
 * tile in local memory, never as a matrix.
 *  forward:     y = ep(W col(x))                          (conv forward; transposed conv's dx)
 *  data grad:   img = ep(col2im(W^T a))   (beta and bias only; conv dx; transposed conv forward)
 *  weight grad: dw = beta dw + sum_i a_i col(x_i)^T       (K split over images and pixels,
 *               partial products summed in a fixed order: deterministic, no atomics) */
/* Refuses what a data gradient cannot fuse (ReLU, scale, shift: they act on a forward
 * output), naming op; src/cl/backend.c. */
SEGCL_INTERNAL segcl_status segcl_conv_data_grad_epilogue_check(segcl_context *ctx,
                                                                const char *op,
                                                                const segcl_conv_epilogue *ep);
SEGCL_INTERNAL segcl_status segcl_conv_gpu_forward(segcl_context *ctx, segcl_workspace *ws,
                                                   const segcl_conv_shape *s, cl_mem w, cl_mem x,
                                                   cl_mem y, const segcl_conv_epilogue *ep);
SEGCL_INTERNAL segcl_status segcl_conv_gpu_data_grad(segcl_context *ctx, segcl_workspace *ws,
                                                     const segcl_conv_shape *s, cl_mem w,
                                                     cl_mem a, cl_mem img,
                                                     const segcl_conv_epilogue *ep);
SEGCL_INTERNAL segcl_status segcl_conv_gpu_weight_grad(segcl_context *ctx, segcl_workspace *ws,
                                                       const segcl_conv_shape *s, cl_mem a,
                                                       cl_mem x, cl_mem dw, float beta);
/* Scratch device bytes the three need for shape s (the weight gradient's partial products). */
SEGCL_INTERNAL size_t segcl_conv_gpu_workspace_bytes(segcl_context *ctx,
                                                     const segcl_conv_shape *s);

/* The operations whose implementation depends on the kind of device, as one table chosen
 * when the context opens (ggml's backend interface is the model): CPU-style (a work-group is
 * a thread; packed GEMM panels, implicit GEMM with columns built per cache block) and
 * GPU-style (a work-item per output tile; local-memory tiles, register blocking). Ops and the
 * model call the table and never test the style. Every entry queues work and waits for none. */
typedef struct segcl_backend {
    const char *name; /* "cpu-style", "gpu-style" */
    /* y = ep(W col(x)): a convolution's forward, a transposed convolution's data gradient */
    segcl_status (*conv_forward)(segcl_context *ctx, segcl_workspace *ws,
                                 const segcl_conv_shape *s, cl_mem w, cl_mem x, cl_mem y,
                                 const segcl_conv_epilogue *ep);
    /* img = ep(col2im(W^T a)), ep's beta and bias only: a convolution's data gradient, a
     * transposed convolution's forward */
    segcl_status (*conv_data_grad)(segcl_context *ctx, segcl_workspace *ws,
                                   const segcl_conv_shape *s, cl_mem w, cl_mem a, cl_mem img,
                                   const segcl_conv_epilogue *ep);
    /* dw = beta dw + sum_i a_i col(x_i)^T: the weight gradient of both */
    segcl_status (*conv_weight_grad)(segcl_context *ctx, segcl_workspace *ws,
                                     const segcl_conv_shape *s, cl_mem a, cl_mem x, cl_mem dw,
                                     float beta);
    /* a plain GEMM (segcl_gemm's arguments) */
    segcl_status (*gemm)(segcl_context *ctx, segcl_workspace *ws, const segcl_gemm_args *args);
    /* scratch bytes the three convolutions of shape s take from a workspace at most */
    size_t (*conv_workspace_bytes)(segcl_context *ctx, const segcl_conv_shape *s);
} segcl_backend;

/* The open context's backend (chosen by the kernel style), NULL before it opens. */
SEGCL_INTERNAL const segcl_backend *segcl_context_backend(const segcl_context *ctx);

/* The tiling of those kernels (kernels/conv_gpu.cl): a work-group computes a tm x tn tile of
 * the output, each of its (tm/wm) x (tn/wn) work-items a wm x wn register tile; K advances tk
 * at a time through local memory; the forward pass loads weights vw floats at a time. */
typedef struct segcl_conv_tile {
    unsigned tm, tn, wm, wn, tk, vw;
} segcl_conv_tile;
/* The tile a device gets by default, from its properties (the table in src/cl/conv_gpu.c). */
SEGCL_INTERNAL void segcl_conv_gpu_default_tile(const segcl_device_info *info,
                                                segcl_conv_tile *tile);
/* SEGCL_OK when the kernels can run tile on ctx's device (shape rules, work-group size, local
 * memory), else SEGCL_ERROR_INVALID_ARGUMENT naming what breaks. */
SEGCL_INTERNAL segcl_status segcl_conv_gpu_tile_check(segcl_context *ctx,
                                                      const segcl_conv_tile *tile);

/* Checks the context's backend on one odd-sized, strided convolution (forward with bias and
 * ReLU, data gradient, weight gradient) against a double-precision host reference
 * (src/cl/conv_check.c): SEGCL_ERROR_STATE when the relative error is over 1e-4. `segcl tune`
 * runs it on each candidate before timing it. */
SEGCL_INTERNAL segcl_status segcl_check_conv(segcl_context *ctx, segcl_workspace *ws,
                                             double *worst);
/* Checks the device's GEMM on large shapes by random projections (src/cl/selftest.c): one
 * (48x128x1152, a training run's check before its first step) or, thorough, four up to
 * 256x256x2304. A wrong result is SEGCL_ERROR_STATE naming the device. */
SEGCL_INTERNAL segcl_status segcl_check_gemm(segcl_context *ctx, segcl_workspace *ws, bool thorough,
                                             double *worst);
/* Overrides the backend choice (tests and benchmarks compare them); also from $SEGCL_GEMM
 * ("clblast" or "cpu", read when the context opens), resolved on first use. */
SEGCL_INTERNAL void segcl_gemm_set_backend(segcl_context *ctx, segcl_gemm_backend backend);
SEGCL_INTERNAL segcl_gemm_backend segcl_gemm_get_backend(segcl_context *ctx);

/* ---- device memory (src/cl/memory.c) -------------------------------------------------------- */

/* Creates a device buffer, charging it against the context's memory limit. `what` names it in
 * errors. The returned buffer must be released with segcl_buffer_release(). */
SEGCL_INTERNAL segcl_status segcl_buffer_create(segcl_context *ctx, const char *what, size_t bytes,
                                                cl_mem *out);
SEGCL_INTERNAL void segcl_buffer_release(segcl_context *ctx, cl_mem buffer, size_t bytes);
/* The device bytes the context may use (settings or the device's), and those in use now. */
SEGCL_INTERNAL uint64_t segcl_memory_limit(const segcl_context *ctx);
SEGCL_INTERNAL uint64_t segcl_memory_in_use(const segcl_context *ctx);

/* ---- arena (src/cl/arena.c) ----------------------------------------------------------------- */

/*
 * Plans device memory for tensors whose lifetimes are known in advance (a network's activations):
 * each tensor is declared with the first and last step that uses it, and tensors whose lifetimes
 * do not overlap share memory. Commit places them greedily, largest first, at the lowest offset
 * free over their lifetime, then allocates one buffer and hands out sub-buffers.
 */
typedef struct segcl_arena segcl_arena;

SEGCL_INTERNAL segcl_status segcl_arena_create(segcl_context *ctx, const char *name,
                                               segcl_arena **out);
SEGCL_INTERNAL segcl_status segcl_arena_declare(segcl_arena *arena, const char *name, int ndim,
                                                const int64_t *shape, int first_step, int last_step,
                                                size_t *slot);
/* The same for an int32 tensor (segcl_tensor_create_i32). */
SEGCL_INTERNAL segcl_status segcl_arena_declare_i32(segcl_arena *arena, const char *name,
                                                    int ndim, const int64_t *shape,
                                                    int first_step, int last_step, size_t *slot);
/* Places the declared tensors (offsets and the buffer's size) without allocating anything;
 * commit plans first if needed. */
SEGCL_INTERNAL segcl_status segcl_arena_plan(segcl_arena *arena);
SEGCL_INTERNAL segcl_status segcl_arena_commit(segcl_arena *arena);
/* The tensor of a slot once committed (owned by the arena), else NULL. */
SEGCL_INTERNAL segcl_tensor *segcl_arena_tensor(segcl_arena *arena, size_t slot);
/* The single buffer once committed (owned by the arena), else NULL. */
SEGCL_INTERNAL cl_mem segcl_arena_buffer(const segcl_arena *arena);
/* Bytes of the single buffer the plan needs (valid after commit) and the sum of all tensors. */
SEGCL_INTERNAL size_t segcl_arena_planned_bytes(const segcl_arena *arena);
SEGCL_INTERNAL size_t segcl_arena_naive_bytes(const segcl_arena *arena);
SEGCL_INTERNAL size_t segcl_arena_offset(const segcl_arena *arena, size_t slot);
SEGCL_INTERNAL void segcl_arena_destroy(segcl_arena *arena);

/* Wraps part of a buffer as a tensor of elem_bytes-byte elements that does not own device
 * memory. */
SEGCL_INTERNAL segcl_status segcl_tensor_wrap(segcl_context *ctx, const char *name, int ndim,
                                              const int64_t *shape, size_t elem_bytes,
                                              cl_mem parent, size_t offset_bytes,
                                              segcl_tensor **out);
/* A tensor of int32 values (max-pool indices) in any precision: 4 bytes an element. Only
 * kernels read and write it (segcl_tensor_read/write would treat it as float). */
SEGCL_INTERNAL segcl_status segcl_tensor_create_i32(segcl_context *ctx, const char *name, int ndim,
                                                    const int64_t *shape, segcl_tensor **out);
/* Validates a shape and returns its element count. */
SEGCL_INTERNAL segcl_status segcl_shape_check(segcl_context *ctx, const char *name, int ndim,
                                              const int64_t *shape, size_t *numel);
SEGCL_INTERNAL void segcl_shape_format(int ndim, const int64_t *shape, char *buf, size_t len);

/* ---- profiling (src/cl/launch.c) --------------------------------------------------------------
 */

/* With $SEGCL_PROFILE set, every launch waits for its kernel and its time is added up per
 * kernel name (development only: it serialises the queue). */
typedef struct segcl_profile_entry {
    char name[48];
    unsigned long calls;
    double seconds;
} segcl_profile_entry;

#define SEGCL_PROFILE_MAX 64
SEGCL_INTERNAL void segcl_profile_print(segcl_context *ctx, void *file);
SEGCL_INTERNAL void segcl_profile_reset(segcl_context *ctx);
/* Whether launches have been profiled (known from the first launch on). */
SEGCL_INTERNAL bool segcl_profile_enabled(const segcl_context *ctx);

/* ---- tuning (src/cl/tuning.c) ------------------------------------------------------------- */

/* What `segcl tune` chooses per device, and what every later run on that device then uses.
 * Zero fields keep the defaults derived from the device's properties (src/cl/context.c). */
typedef struct segcl_tuning {
    int gemm_backend;                /* segcl_gemm_backend; 0: by the kernel style */
    unsigned gemm_vec;               /* CPU GEMM: floats per register vector (8 or 16) */
    unsigned gemm_mr;                /*   rows of the register tile */
    unsigned mc_tiles, nc_tiles, kc; /* cache blocking: row tiles, column tiles, K block */
    unsigned run_length;             /* elements per work-item of run-style kernels */
    unsigned elem_local;             /* work-group size of GPU-style elementwise kernels */
    int clblast_set;                 /* 0: CLBlast's own database; n > 0: segcl's Xgemm set n */
    /* GPU-style implicit-GEMM convolution tile (segcl_conv_tile), all or none */
    unsigned conv_tm, conv_tn, conv_wm, conv_wn, conv_tk, conv_vw;
} segcl_tuning;

/* Where the tuning of a device lives: next to the kernel cache (cache_dir/../tuning), one file
 * per device name, driver version, segcl version and kernel style. Free with segcl_free. */
SEGCL_INTERNAL char *segcl_tuning_path(const char *cache_dir, const segcl_device_info *info,
                                       bool cpu_style);
/* Reads a tuning file. *found is false (and SEGCL_OK) when there is none; a file that is
 * damaged, out of range or for another device, a folder other users can write, or a path
 * that is not a regular file (a FIFO is not waited on) is an error naming it. */
SEGCL_INTERNAL segcl_status segcl_tuning_load(segcl_context *ctx, const char *path,
                                              const segcl_device_info *info, segcl_tuning *t,
                                              bool *found);
/* Writes it atomically, with `report` (a JSON object of measurements, may be NULL). */
SEGCL_INTERNAL segcl_status segcl_tuning_save(segcl_context *ctx, const char *path,
                                              const segcl_device_info *info, const segcl_tuning *t,
                                              json_t *report);
/* CLBlast Xgemm parameter sets segcl tune tries on GPU-style devices (1..count). */
SEGCL_INTERNAL int segcl_clblast_set_count(void);
SEGCL_INTERNAL segcl_status segcl_clblast_apply_set(segcl_context *ctx, int set);

/* ---- the context (src/cl/context.c) --------------------------------------------------------- */

/* What the context derived for its device when it opened (src/cl/context.c says from what):
 * the kernel style, the launch shapes, the CPU GEMM's tile and blocking, and the switches. */
typedef struct segcl_kernel_params {
    bool cpu_style; /* CPU-style kernels (segcl_device_info.cpu_style, or overridden) */
    bool tuned;     /* `segcl tune`'s parameters for this device are in use */
    bool no_implicit, no_fusion; /* $SEGCL_NO_IMPLICIT, $SEGCL_NO_FUSION, read at open */
    unsigned run_length; /* elements per work-item of run-style kernels (RUN in common.cl) */
    size_t run_local;    /* their work-group size */
    size_t elem_local;   /* that of kernels with a work-item per element: min(64, device) */
    unsigned gemm_vec, gemm_mr, gemm_nr; /* CPU GEMM register tile: MR x NR, NR = 2 x vec */
    unsigned gemm_mc_tiles, gemm_nc_tiles, gemm_kc; /* CPU GEMM cache blocking */
    segcl_conv_tile conv_tile; /* GPU-style implicit-GEMM convolutions (src/cl/conv_gpu.c) */
} segcl_kernel_params;

/* SEGCL_OK when the context has a device, else SEGCL_ERROR_STATE saying so. */
SEGCL_INTERNAL segcl_status segcl_require_open(segcl_context *ctx);
/* The open context's device and what it derived for it; NULL before segcl_context_open. */
SEGCL_INTERNAL const segcl_device_info *segcl_context_device(const segcl_context *ctx);
SEGCL_INTERNAL const segcl_kernel_params *segcl_context_params(const segcl_context *ctx);
/* The in-order queue all work goes to, for transfers the helpers here do not cover. */
SEGCL_INTERNAL cl_command_queue segcl_context_queue(const segcl_context *ctx);
/* segcl_context_open with `override` in place of the device's tuning file (NULL: the file, as
 * segcl_context_open); segcl tune measures its candidates so. */
SEGCL_INTERNAL segcl_status segcl_context_open_tuned(segcl_context *ctx,
                                                     const segcl_settings *settings,
                                                     const segcl_tuning *override);
/* Settings that open ctx's device again with its kernel cache, kernel sources and memory
 * limit; `device` (24 bytes are enough) receives the device's index. The strings point into
 * ctx. */
SEGCL_INTERNAL void segcl_context_same_settings(const segcl_context *ctx, segcl_settings *settings,
                                                char *device, size_t cap);
/* Where the tuning of ctx's device lives in its cache (segcl_tuning_path). Free with
 * segcl_free; NULL when out of host memory or when it has no cache folder. */
SEGCL_INTERNAL char *segcl_context_tuning_path(const segcl_context *ctx);
/* Whether the context has a folder for its kernel cache and tuning (none without HOME,
 * XDG_CACHE_HOME and a folder of its own). */
SEGCL_INTERNAL bool segcl_context_has_cache_folder(const segcl_context *ctx);
/* The program cache: whether the context uses one, and what it did so far. */
SEGCL_INTERNAL bool segcl_context_cache_enabled(const segcl_context *ctx);
SEGCL_INTERNAL segcl_cache_stats segcl_context_cache_stats(const segcl_context *ctx);
/* The -D options every program of the device is built with. */
SEGCL_INTERNAL const char *segcl_context_device_options(const segcl_context *ctx);
/* Whether ctx stores tensors as half (SEGCL_PRECISION_FP16), and the bytes of one tensor
 * element: 2 then, else 4. Scratch (workspace buffers) is float in both. */
SEGCL_INTERNAL bool segcl_context_half(const segcl_context *ctx);
SEGCL_INTERNAL size_t segcl_storage_bytes(const segcl_context *ctx);
/* SEGCL_OK on a float32 context; on a half one SEGCL_ERROR_STATE: "<what> needs a float32
 * context ..." (training, backward passes, the self-test's float buffers). */
SEGCL_INTERNAL segcl_status segcl_require_fp32(segcl_context *ctx, const char *what);
/* The OpenCL error code of the last failed call segcl_fail_cl reported. */
SEGCL_INTERNAL cl_int segcl_context_last_cl_error(const segcl_context *ctx);

struct segcl_tensor {
    segcl_context *ctx;
    cl_mem buffer;
    size_t bytes;
    size_t elem_bytes; /* 4: float (or int32), 2: half (a half context's tensors) */
    int ndim;
    int64_t shape[SEGCL_MAX_DIMS];
    size_t numel;
    char *name;
    bool owns_memory; /* false for arena sub-buffers */
};

#endif /* SEGCL_CL_H */
