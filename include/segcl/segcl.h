/*
 * segcl: semantic segmentation networks trained and run on any OpenCL device.
 *
 * Public C API. Every function that can fail returns a segcl_status (0 on success, a negative
 * value on failure) and leaves a human-readable message in the context it was given
 * (segcl_context_error()). The library never prints to stdout and never exits the process.
 */
#ifndef SEGCL_SEGCL_H
#define SEGCL_SEGCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(SEGCL_STATIC)
#define SEGCL_API __attribute__((visibility("default")))
#else
#define SEGCL_API
#endif

/** Result of every fallible call. Negative values are errors. */
typedef enum segcl_status {
    SEGCL_OK = 0,
    SEGCL_ERROR_INVALID_ARGUMENT = -1,     /**< a parameter is out of range or NULL */
    SEGCL_ERROR_OUT_OF_HOST_MEMORY = -2,   /**< malloc failed */
    SEGCL_ERROR_OUT_OF_DEVICE_MEMORY = -3, /**< the device cannot hold a buffer */
    SEGCL_ERROR_NO_PLATFORM = -4,          /**< no OpenCL platform is installed */
    SEGCL_ERROR_NO_DEVICE = -5,            /**< the requested device does not exist */
    SEGCL_ERROR_OPENCL = -6,               /**< an OpenCL call failed (see message) */
    SEGCL_ERROR_BUILD = -7,                /**< a kernel program failed to build (log in message) */
    SEGCL_ERROR_IO = -8,                   /**< reading or writing a file failed */
    SEGCL_ERROR_BLAS = -9,                 /**< CLBlast returned an error */
    SEGCL_ERROR_FORMAT = -10,              /**< a file is corrupt, truncated or of the wrong kind */
    SEGCL_ERROR_STATE = -11,               /**< the call is not valid in the object's current state */
} segcl_status;

/** Static description of a status code, e.g. "out of device memory". Never NULL. */
SEGCL_API const char *segcl_status_string(segcl_status status);

/** Library version, e.g. "0.1.0". */
SEGCL_API const char *segcl_version(void);

typedef enum segcl_device_type {
    SEGCL_DEVICE_TYPE_OTHER = 0,
    SEGCL_DEVICE_TYPE_CPU = 1,
    SEGCL_DEVICE_TYPE_GPU = 2,
    SEGCL_DEVICE_TYPE_ACCELERATOR = 3,
} segcl_device_type;

/** Everything `segcl devices` shows about one OpenCL device. Plain data, owned by the caller. */
typedef struct segcl_device_info {
    int index;          /**< global index over all platforms, as taken by `--device N` */
    int platform_index; /**< P in `--device P:D` */
    int device_index;   /**< D in `--device P:D` (index within its platform) */
    segcl_device_type type;
    char platform_name[128];
    char platform_version[128];
    char name[128];
    char vendor[128];
    char driver_version[64];
    char device_version[128];
    char opencl_c_version[64];
    uint32_t compute_units;
    uint32_t max_clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    int fp16; /**< 1 when cl_khr_fp16 is supported */
    int fp64; /**< 1 when cl_khr_fp64 is supported */
} segcl_device_info;

/** Name of a device type: "CPU", "GPU", "accelerator" or "other". */
SEGCL_API const char *segcl_device_type_string(segcl_device_type type);

typedef enum segcl_kernel_cache_mode {
    /** Cache compiled programs on disk unless the driver caches them itself (NVIDIA, PoCL). */
    SEGCL_KERNEL_CACHE_AUTO = 0,
    SEGCL_KERNEL_CACHE_ON = 1,  /**< always use the on-disk cache */
    SEGCL_KERNEL_CACHE_OFF = 2, /**< never read or write the on-disk cache */
} segcl_kernel_cache_mode;

/** Options for segcl_context_open(). Fill with segcl_default_settings() first. */
typedef struct segcl_settings {
    /** "N" (global index), "P:D" (platform:device) or NULL: then $SEGCL_DEVICE, else the first
     *  GPU, else the first CPU. Borrowed for the duration of the call. */
    const char *device;
    segcl_kernel_cache_mode kernel_cache;
    /** Where cached binaries live. NULL: $SEGCL_KERNEL_CACHE_DIR, else
     *  $XDG_CACHE_HOME/segcl/kernels, else ~/.cache/segcl/kernels. Copied. */
    const char *kernel_cache_dir;
    /** Load the kernels/ .cl sources from this folder instead of the copies embedded at build time.
     *  NULL: $SEGCL_KERNEL_DIR if set, else the embedded copies. Copied. */
    const char *kernel_dir;
    /** Upper bound on device memory segcl allocates, in bytes; 0: the device's global memory. */
    uint64_t memory_limit;
} segcl_settings;

/** Fills *settings with the defaults described above. */
SEGCL_API void segcl_default_settings(segcl_settings *settings);

/** Opaque library state: one OpenCL context, queue and program cache, plus the last error. */
typedef struct segcl_context segcl_context;

/**
 * Allocates a context that is not yet bound to a device. It can list devices and carries
 * error messages. Fails only when memory is exhausted (then *out is NULL).
 */
SEGCL_API segcl_status segcl_context_create(segcl_context **out);

/**
 * Selects a device as described by settings (NULL: defaults) and creates the OpenCL context
 * and in-order queue on it. Can be called once per context.
 */
SEGCL_API segcl_status segcl_context_open(segcl_context *ctx, const segcl_settings *settings);

/** Releases the context and everything it owns. Accepts NULL. Tensors must be destroyed first. */
SEGCL_API void segcl_context_destroy(segcl_context *ctx);

/** Message describing the last error on ctx (empty string when none). Owned by ctx; valid until
 *  the next call on ctx. A NULL ctx gives a message about memory exhaustion. */
SEGCL_API const char *segcl_context_error(const segcl_context *ctx);

/** Number of OpenCL devices over all platforms. Enumerates on first use. */
SEGCL_API segcl_status segcl_device_count(segcl_context *ctx, size_t *count);

/** Description of device `index` (global index). */
SEGCL_API segcl_status segcl_device_get_info(segcl_context *ctx, size_t index,
                                             segcl_device_info *info);

/**
 * Resolves a device specification ("N", "P:D", or NULL for $SEGCL_DEVICE / the default) to a
 * global index without opening it. Unknown devices give SEGCL_ERROR_NO_DEVICE with a message
 * that lists the valid indices.
 */
SEGCL_API segcl_status segcl_device_resolve(segcl_context *ctx, const char *spec, size_t *index);

/** Description of the device the context was opened on. */
SEGCL_API segcl_status segcl_context_device_info(segcl_context *ctx, segcl_device_info *info);

/** Blocks until every command queued on the context's device has completed. */
SEGCL_API segcl_status segcl_context_finish(segcl_context *ctx);

/** Maximum rank of a segcl tensor. */
#define SEGCL_MAX_DIMS 4

/** A float32 tensor in device memory, row-major (NCHW for images). */
typedef struct segcl_tensor segcl_tensor;

/**
 * Allocates an uninitialised float32 tensor on ctx's device. `name` (copied) appears in error
 * messages, e.g. when the device runs out of memory. shape holds ndim positive extents.
 */
SEGCL_API segcl_status segcl_tensor_create(segcl_context *ctx, const char *name, int ndim,
                                           const int64_t *shape, segcl_tensor **out);

/** Releases a tensor. Accepts NULL. */
SEGCL_API void segcl_tensor_destroy(segcl_tensor *tensor);

/** Copies `count` floats (must equal the element count) from host memory into the tensor. */
SEGCL_API segcl_status segcl_tensor_write(segcl_tensor *tensor, const float *src, size_t count);

/** Copies the tensor into `count` floats of host memory; blocks until done. */
SEGCL_API segcl_status segcl_tensor_read(segcl_tensor *tensor, float *dst, size_t count);

/** Number of elements. */
SEGCL_API size_t segcl_tensor_numel(const segcl_tensor *tensor);

/** Rank, and extents copied into shape[0..rank-1] when shape is not NULL. */
SEGCL_API int segcl_tensor_shape(const segcl_tensor *tensor, int64_t *shape);

/** Name given at creation. Owned by the tensor. */
SEGCL_API const char *segcl_tensor_name(const segcl_tensor *tensor);

/** What segcl_selftest() measured. */
typedef struct segcl_selftest_report {
    double program_build_seconds; /**< first build of the elementwise kernels */
    double elementwise_max_error; /**< fill + axpby round trip vs host */
    double gemm_max_rel_error;    /**< worst normalised GEMM error vs a double reference */
    double gemm_gflops;           /**< 256x256x256 GEMM throughput after warm-up */
} segcl_selftest_report;

/**
 * Builds the elementwise kernels, runs them, and runs GEMMs (plain and transposed, sizes not
 * multiples of 8) against a double-precision host reference. Returns SEGCL_ERROR_STATE with a
 * message when a result is wrong. The context must be open.
 */
SEGCL_API segcl_status segcl_selftest(segcl_context *ctx, segcl_selftest_report *report);

#ifdef __cplusplus
}
#endif

#endif /* SEGCL_SEGCL_H */
