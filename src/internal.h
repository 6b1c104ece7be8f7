/*
 * Library-internal declarations shared by src/: the context layout, error reporting,
 * checked allocation, program and kernel cache, device memory accounting.
 */
#ifndef SEGCL_INTERNAL_H
#define SEGCL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CL/cl.h>

#include "segcl/segcl.h"

#define SEGCL_INTERNAL __attribute__((visibility("hidden")))

#if defined(__GNUC__)
#define SEGCL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SEGCL_PRINTF(f, a)
#endif

/* ---- allocation (src/core/alloc.c) ---------------------------------------------------------- */

/* Every heap allocation in the library goes through these, so tests can make the n-th one fail. */
SEGCL_INTERNAL void *segcl_malloc(size_t size);
SEGCL_INTERNAL void *segcl_calloc(size_t count, size_t size);
SEGCL_INTERNAL void *segcl_realloc(void *ptr, size_t size);
SEGCL_INTERNAL char *segcl_strdup(const char *s);
SEGCL_INTERNAL void segcl_free(void *ptr);
/* How many allocations have failed in the calling thread so far. Libraries that report
 * running out of memory as something else (jansson's parser) are told apart by it. */
SEGCL_INTERNAL unsigned long segcl_alloc_failures(void);
/* Test hook: the allocation after `n` more successful ones fails; n < 0 disables. */
SEGCL_INTERNAL void segcl_test_fail_alloc_after(long n);

/* ---- errors (src/core/error.c) -------------------------------------------------------------- */

/* Records a formatted message on ctx and returns status, so callers can `return segcl_fail(...)`. */
SEGCL_INTERNAL segcl_status segcl_fail(segcl_context *ctx, segcl_status status, const char *fmt,
                                       ...) SEGCL_PRINTF(3, 4);
/* Records "<what> failed: <CL_ERROR_NAME> (<code>)" plus optional detail; maps the code. */
SEGCL_INTERNAL segcl_status segcl_fail_cl(segcl_context *ctx, cl_int err, const char *what,
                                          const char *fmt, ...) SEGCL_PRINTF(4, 5);
SEGCL_INTERNAL const char *segcl_cl_error_name(cl_int err);
SEGCL_INTERNAL void segcl_clear_error(segcl_context *ctx);
/* Passes a one-line warning to the context's handler (segcl_context_set_warning_handler); with
 * none it is dropped. */
SEGCL_INTERNAL void segcl_warn(segcl_context *ctx, const char *fmt, ...) SEGCL_PRINTF(2, 3);
/* Copies the reading settings (strictness, pixel limit; not the handler) from one context to
 * another, e.g. to the loader thread's. */
SEGCL_INTERNAL void segcl_copy_decoding(segcl_context *to, const segcl_context *from);
SEGCL_INTERNAL bool segcl_strict_decoding(const segcl_context *ctx);
SEGCL_INTERNAL uint64_t segcl_max_pixels(const segcl_context *ctx);

/* ---- JSON (src/core/json.c) ---------------------------------------------------------------- */

typedef struct json_t json_t;
/* The text of json (jansson dump flags) in *out (free with segcl_free); every failed append is
 * an error, unlike json_dumps. */
SEGCL_INTERNAL segcl_status segcl_json_text(segcl_context *ctx, const json_t *json, size_t flags,
                                            char **out);
/* Writes json, indented, reals to 9 significant digits (a float round-trips), to path through
 * a temporary file and a rename. */
SEGCL_INTERNAL segcl_status segcl_json_write_file(segcl_context *ctx, const char *path,
                                                  const json_t *json);

/* Reading JSON from outside (src/core/json_read.c): strict, allocation-failure safe, fuzzed. */
typedef enum segcl_jtype {
    SEGCL_JSON_NULL,
    SEGCL_JSON_BOOL,
    SEGCL_JSON_NUMBER,
    SEGCL_JSON_STRING,
    SEGCL_JSON_ARRAY,
    SEGCL_JSON_OBJECT,
} segcl_jtype;
typedef struct segcl_jvalue segcl_jvalue;
/* Parses text[0..len) (`name` labels messages: FORMAT with the byte offset, or out of memory). */
SEGCL_INTERNAL segcl_status segcl_json_parse(segcl_context *ctx, const char *name,
                                             const char *text, size_t len, segcl_jvalue **out);
SEGCL_INTERNAL void segcl_json_free(segcl_jvalue *v);
SEGCL_INTERNAL segcl_jtype segcl_json_type(const segcl_jvalue *v);
/* Members of an object or elements of an array (0 for anything else). */
SEGCL_INTERNAL size_t segcl_json_size(const segcl_jvalue *v);
SEGCL_INTERNAL const segcl_jvalue *segcl_json_at(const segcl_jvalue *v, size_t i);
SEGCL_INTERNAL const char *segcl_json_key_at(const segcl_jvalue *v, size_t i);
SEGCL_INTERNAL const segcl_jvalue *segcl_json_get(const segcl_jvalue *object, const char *key);
/* The string, or NULL when v is not one. */
SEGCL_INTERNAL const char *segcl_json_string(const segcl_jvalue *v);
/* True for a number written as an integer that fits int64. */
SEGCL_INTERNAL bool segcl_json_integer(const segcl_jvalue *v, int64_t *out);
SEGCL_INTERNAL bool segcl_json_number(const segcl_jvalue *v, double *out);

/* ---- files (src/core/fs.c) ------------------------------------------------------------------ */

/* mkdir -p */
SEGCL_INTERNAL segcl_status segcl_make_dirs(segcl_context *ctx, const char *dir);
/* The whole file, NUL-terminated (free with segcl_free); longer than max_bytes is an error. */
SEGCL_INTERNAL segcl_status segcl_read_file(segcl_context *ctx, const char *path,
                                            size_t max_bytes, char **data, size_t *length);
/* write() until done, retrying interrupted calls; `path` names the file in errors. */
SEGCL_INTERNAL segcl_status segcl_write_all(segcl_context *ctx, int fd, const void *data,
                                            size_t n, const char *path);

/* A file written atomically: segcl_file_begin opens a hidden temporary beside path; write to
 * fd; segcl_file_end(st) then fsyncs and renames it over path when st is SEGCL_OK (and makes
 * the rename durable), or removes it otherwise. Returns the first error. */
typedef struct segcl_file {
    int fd;
    const char *path;
    char *temporary;
} segcl_file;
SEGCL_INTERNAL segcl_status segcl_file_begin(segcl_context *ctx, const char *path,
                                             segcl_file *out);
SEGCL_INTERNAL segcl_status segcl_file_end(segcl_context *ctx, segcl_file *f, segcl_status st);

/* Blocking copies of `floats` floats between a raw buffer and the host. */
SEGCL_INTERNAL segcl_status segcl_mem_read(segcl_context *ctx, cl_mem buffer, size_t floats,
                                           float *host);
SEGCL_INTERNAL segcl_status segcl_mem_write(segcl_context *ctx, cl_mem buffer, size_t floats,
                                            const float *host);

/* Formats a byte count as "6.0 MiB". */
SEGCL_INTERNAL void segcl_format_bytes(uint64_t bytes, char *buf, size_t len);

/* ---- SHA-256 (src/core/sha256.c) ------------------------------------------------------------ */

typedef struct segcl_sha256 {
    uint32_t state[8];
    uint64_t length;
    uint8_t block[64];
    size_t fill;
} segcl_sha256;

SEGCL_INTERNAL void segcl_sha256_init(segcl_sha256 *h);
SEGCL_INTERNAL void segcl_sha256_update(segcl_sha256 *h, const void *data, size_t len);
SEGCL_INTERNAL void segcl_sha256_final(segcl_sha256 *h, uint8_t digest[32]);
SEGCL_INTERNAL void segcl_sha256_hex(const uint8_t digest[32], char hex[65]);

/* ---- random numbers (src/core/rng.c) ------------------------------------------------------- */

/* PCG32 (O'Neill): small, fast, and the same sequence on every platform for a given seed. */
typedef struct segcl_rng {
    uint64_t state;
    uint64_t inc;
} segcl_rng;

SEGCL_INTERNAL void segcl_rng_seed(segcl_rng *rng, uint64_t seed, uint64_t stream);
SEGCL_INTERNAL uint32_t segcl_rng_u32(segcl_rng *rng);
/* Uniform in [0, 1) with 24 random bits, so every value is exactly representable as float. */
SEGCL_INTERNAL float segcl_rng_uniform(segcl_rng *rng);
/* Uniform integer in [0, bound) without modulo bias. */
SEGCL_INTERNAL uint32_t segcl_rng_below(segcl_rng *rng, uint32_t bound);

/* ---- devices (src/cl/device.c) -------------------------------------------------------------- */

typedef struct segcl_device_entry {
    cl_platform_id platform;
    cl_device_id device;
    segcl_device_info info;
} segcl_device_entry;

/* Enumerates platforms and devices into ctx once. */
SEGCL_INTERNAL segcl_status segcl_devices_enumerate(segcl_context *ctx);

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
                                             const char *options, const char *name,
                                             cl_kernel *out);
/* The same, with the largest work-group it may run: min(CL_KERNEL_WORK_GROUP_SIZE,
 * CL_DEVICE_MAX_WORK_GROUP_SIZE). */
SEGCL_INTERNAL segcl_status segcl_kernel_find(segcl_context *ctx, const char *family,
                                              const char *options, const char *name,
                                              cl_kernel *out, size_t *max_work_group);
SEGCL_INTERNAL void segcl_programs_release(segcl_context *ctx);
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
 * local == NULL picks the elementwise work-group (ctx->elem_local) in dimension 0, clamped to
 * max_work_group; an explicit local larger than max_work_group is an error naming the limit.
 * Not waited for. */
SEGCL_INTERNAL segcl_status segcl_launch(segcl_context *ctx, cl_kernel kernel, const char *name,
                                         size_t max_work_group, cl_uint dims,
                                         const size_t *global, const size_t *local);
/* The work-group of the fixed-order reductions on this device, and the build options that
 * give it to kernels/common.cl (GROUP_SUM_WG): found once per context with a probe kernel. */
SEGCL_INTERNAL segcl_status segcl_reduction_group(segcl_context *ctx, size_t *wg,
                                                  const char **options);

/* Looks up a kernel, sets its arguments and queues it, in one call. */
SEGCL_INTERNAL segcl_status segcl_run(segcl_context *ctx, const char *family, const char *options,
                                      const char *name, cl_uint dims, const size_t *global,
                                      const size_t *local, const segcl_arg *args, size_t nargs);
#define SEGCL_ARGS(...) ((const segcl_arg[]){__VA_ARGS__}), (sizeof((const segcl_arg[]){__VA_ARGS__}) / sizeof(segcl_arg))

/* Launches a run-style kernel (kernels/common.cl: FOR_RUN) over n elements in dimension 0 and
 * `planes` in dimension 1. */
SEGCL_INTERNAL segcl_status segcl_run_elements(segcl_context *ctx, const char *family,
                                               const char *name, size_t n, size_t planes,
                                               const segcl_arg *args, size_t nargs);

/* Elementwise helpers on raw buffers (kernels/util.cl). */
SEGCL_INTERNAL segcl_status segcl_fill(segcl_context *ctx, cl_mem x, size_t n, float value);
SEGCL_INTERNAL segcl_status segcl_axpby(segcl_context *ctx, cl_mem x, cl_mem y, size_t n,
                                        float alpha, float beta);

/* ---- GEMM (src/cl/gemm.c) ------------------------------------------------------------------- */

/* Row-major C = alpha * op(A) * op(B) + beta * C with op(X) = X or X^T. Offsets and leading
 * dimensions in elements. Queued, not waited for. */
typedef struct segcl_gemm_args {
    bool trans_a, trans_b;
    size_t m, n, k;
    float alpha, beta;
    cl_mem a, b, c;
    size_t a_offset, b_offset, c_offset;
    size_t lda, ldb, ldc;
} segcl_gemm_args;

SEGCL_INTERNAL segcl_status segcl_gemm(segcl_context *ctx, const segcl_gemm_args *args);

typedef enum segcl_gemm_backend {
    SEGCL_GEMM_AUTO = 0,    /* CPU devices: segcl's packed kernel; others: CLBlast */
    SEGCL_GEMM_CLBLAST = 1,
    SEGCL_GEMM_CPU = 2,     /* kernels/gemm_cpu.cl */
} segcl_gemm_backend;

/* CPU backend only: C = alpha op(A) B + beta C with B already in kernels/gemm_cpu.cl's packed
 * layout, Bp[(j / NR * K + p) * NR + j % NR] (zero-padded to whole NR-column tiles; NR is
 * ctx->gemm_nr). */
SEGCL_INTERNAL segcl_status segcl_gemm_prepacked_b(segcl_context *ctx, const segcl_gemm_args *args,
                                                   cl_mem packed_b);

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
SEGCL_INTERNAL segcl_status segcl_conv_implicit(segcl_context *ctx,
                                                const segcl_conv_implicit_args *args);
/* The weight gradient the same way: w (m x cin*kh*kw) = sum_i y_i col(x_i)^T + beta w, with y
 * the output gradient (m x ho*wo per image) and the sum over images inside the product. */
SEGCL_INTERNAL segcl_status segcl_conv_implicit_wgrad(segcl_context *ctx,
                                                      const segcl_conv_implicit_args *args);

/* Checks the device's GEMM on large shapes by random projections (src/cl/selftest.c): one
 * (48x128x1152, a training run's check before its first step) or, thorough, four up to
 * 256x256x2304. A wrong result is SEGCL_ERROR_STATE naming the device. */
SEGCL_INTERNAL segcl_status segcl_check_gemm(segcl_context *ctx, bool thorough, double *worst);
/* Overrides the backend choice (tests and benchmarks compare them); also read from $SEGCL_GEMM
 * ("clblast" or "cpu") on first use. */
SEGCL_INTERNAL void segcl_gemm_set_backend(segcl_context *ctx, segcl_gemm_backend backend);
SEGCL_INTERNAL segcl_gemm_backend segcl_gemm_get_backend(segcl_context *ctx);
/* Grows a context-owned scratch buffer to at least `bytes`, finishing queued work before the
 * old one is released. */
SEGCL_INTERNAL segcl_status segcl_scratch_reserve(segcl_context *ctx, const char *what, cl_mem *buf,
                                                  size_t *have, size_t bytes);

/* ---- device memory (src/cl/memory.c) -------------------------------------------------------- */

/* Creates a device buffer, charging it against the context's memory limit. `what` names it in
 * errors. The returned buffer must be released with segcl_buffer_release(). */
SEGCL_INTERNAL segcl_status segcl_buffer_create(segcl_context *ctx, const char *what, size_t bytes,
                                                cl_mem *out);
SEGCL_INTERNAL void segcl_buffer_release(segcl_context *ctx, cl_mem buffer, size_t bytes);

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
                                                const int64_t *shape, int first_step,
                                                int last_step, size_t *slot);
/* Places the declared tensors (offsets and the buffer's size) without allocating anything;
 * commit plans first if needed. */
SEGCL_INTERNAL segcl_status segcl_arena_plan(segcl_arena *arena);
SEGCL_INTERNAL segcl_status segcl_arena_commit(segcl_arena *arena);
/* The tensor of a slot once committed (owned by the arena), else NULL. */
SEGCL_INTERNAL segcl_tensor *segcl_arena_tensor(segcl_arena *arena, size_t slot);
/* Bytes of the single buffer the plan needs (valid after commit) and the sum of all tensors. */
SEGCL_INTERNAL size_t segcl_arena_planned_bytes(const segcl_arena *arena);
SEGCL_INTERNAL size_t segcl_arena_naive_bytes(const segcl_arena *arena);
SEGCL_INTERNAL size_t segcl_arena_offset(const segcl_arena *arena, size_t slot);
SEGCL_INTERNAL void segcl_arena_destroy(segcl_arena *arena);

/* Wraps part of a buffer as a tensor that does not own device memory. */
SEGCL_INTERNAL segcl_status segcl_tensor_wrap(segcl_context *ctx, const char *name, int ndim,
                                              const int64_t *shape, cl_mem parent,
                                              size_t offset_bytes, segcl_tensor **out);
/* Validates a shape and returns its element count. */
SEGCL_INTERNAL segcl_status segcl_shape_check(segcl_context *ctx, const char *name, int ndim,
                                              const int64_t *shape, size_t *numel);
SEGCL_INTERNAL void segcl_shape_format(int ndim, const int64_t *shape, char *buf, size_t len);

/* ---- profiling (src/cl/launch.c) -------------------------------------------------------------- */

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

/* ---- the context ---------------------------------------------------------------------------- */

/* ---- tuning (src/cl/tuning.c) ------------------------------------------------------------- */

/* What `segcl tune` chooses per device, and what every later run on that device then uses.
 * Zero fields keep the defaults derived from the device's properties (src/cl/context.c). */
typedef struct segcl_tuning {
    int gemm_backend;        /* segcl_gemm_backend; 0: by the kernel style */
    unsigned gemm_vec;       /* CPU GEMM: floats per register vector (8 or 16) */
    unsigned gemm_mr;        /*   rows of the register tile */
    unsigned mc_tiles, nc_tiles, kc; /* cache blocking: row tiles, column tiles, K block */
    unsigned run_length;     /* elements per work-item of run-style kernels */
    unsigned elem_local;     /* work-group size of GPU-style elementwise kernels */
    int clblast_set;         /* 0: CLBlast's own database; n > 0: segcl's Xgemm set n */
} segcl_tuning;

/* Where the tuning of a device lives: next to the kernel cache (cache_dir/../tuning), one file
 * per device name, driver version, segcl version and kernel style. Free with segcl_free. */
SEGCL_INTERNAL char *segcl_tuning_path(const char *cache_dir, const segcl_device_info *info,
                                       bool cpu_style);
/* The kernel style a context on this device uses: the device's, or $SEGCL_KERNEL_STYLE's. */
SEGCL_INTERNAL bool segcl_kernel_style_cpu(const segcl_device_info *info);
/* Reads a tuning file. *found is false (and SEGCL_OK) when there is none; a file that is
 * damaged, out of range or for another device is an error (FORMAT) naming it. */
SEGCL_INTERNAL segcl_status segcl_tuning_load(segcl_context *ctx, const char *path,
                                              const segcl_device_info *info, segcl_tuning *t,
                                              bool *found);
/* Writes it atomically, with `report` (a JSON object of measurements, may be NULL). */
SEGCL_INTERNAL segcl_status segcl_tuning_save(segcl_context *ctx, const char *path,
                                              const segcl_device_info *info,
                                              const segcl_tuning *t, json_t *report);
/* CLBlast Xgemm parameter sets segcl tune tries on GPU-style devices (1..count). */
SEGCL_INTERNAL int segcl_clblast_set_count(void);
SEGCL_INTERNAL segcl_status segcl_clblast_apply_set(segcl_context *ctx, int set);

struct segcl_context {
    char *error;       /* last error message, heap-allocated; "" when none */
    size_t error_cap;
    cl_int last_cl_error;
    segcl_warning_fn warn;  /* where warnings go (NULL: dropped) */
    void *warn_user;
    bool strict;            /* decoder warnings are errors */
    uint64_t max_pixels;    /* images larger than this are refused; 0: the default */

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
    int profile;          /* -1 unknown, 0 off, 1 on */
    segcl_profile_entry profile_entries[SEGCL_PROFILE_MAX];
    size_t profile_count;
};

struct segcl_tensor {
    segcl_context *ctx;
    cl_mem buffer;
    size_t bytes;
    int ndim;
    int64_t shape[SEGCL_MAX_DIMS];
    size_t numel;
    char *name;
    bool owns_memory; /* false for arena sub-buffers */
};

#endif /* SEGCL_INTERNAL_H */
