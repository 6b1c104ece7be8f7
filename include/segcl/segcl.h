/*
 * segcl: semantic segmentation networks trained and run on any OpenCL device.
 *
 * Public C API. Every function that can fail returns a segcl_status (0 on success, a negative
 * value on failure) and leaves a human-readable message in the context it was given
 * (segcl_context_error()). The library never prints to stdout and never exits the process.
 */
#ifndef SEGCL_SEGCL_H
#define SEGCL_SEGCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#include <atomic>
typedef std::atomic<int> segcl_atomic_int;
extern "C" {
#else
#include <stdatomic.h>
typedef atomic_int segcl_atomic_int;
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
    int index;          /**< global index over all platforms: "N" in segcl_settings.device */
    int platform_index; /**< P in a "P:D" device string */
    int device_index;   /**< D in a "P:D" device string (index within its platform) */
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
    uint32_t native_float_width; /**< CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT */
    /** 1 when segcl runs CPU-style kernels here: a CPU device whose compiler vectorises within
     *  a work-item (native float vector width above 1), such as PoCL. Work-groups are then
     *  threads and kernels loop like CPU code; otherwise (GPUs, and CPU runtimes that
     *  vectorise across work-items, such as Mesa's llvmpipe) one work-item per element.
     *  $SEGCL_KERNEL_STYLE=cpu|gpu overrides it when a context opens. */
    int cpu_style;
} segcl_device_info;

/** Name of a device type: "CPU", "GPU", "accelerator" or "other". */
SEGCL_API const char *segcl_device_type_string(segcl_device_type type);

typedef enum segcl_kernel_cache_mode {
    /** Cache compiled programs on disk unless the driver caches them itself (NVIDIA, PoCL). */
    SEGCL_KERNEL_CACHE_AUTO = 0,
    SEGCL_KERNEL_CACHE_ON = 1,  /**< always use the on-disk cache */
    SEGCL_KERNEL_CACHE_OFF = 2, /**< never read or write the on-disk cache */
} segcl_kernel_cache_mode;

/** How a context stores tensors on its device. Arithmetic is float32 in both. */
typedef enum segcl_precision {
    SEGCL_PRECISION_FP32 = 0, /**< float32 tensors: training and inference (the default) */
    /** Every tensor (weights, inputs, activations, logits) stored as IEEE half, 2 bytes an
     *  element, through vload_half/vstore_half (core OpenCL C 1.2: no cl_khr_fp16 needed, so
     *  any device). Inference only: such a context refuses training. segcl_tensor_write and
     *  segcl_tensor_read still take float arrays and convert (round to nearest even). */
    SEGCL_PRECISION_FP16 = 1,
} segcl_precision;

/** Name of a precision: "fp32" or "fp16"; parse with segcl_precision_parse. */
SEGCL_API const char *segcl_precision_name(segcl_precision precision);
/** 0 and *out set when name is "fp32" or "fp16", else SEGCL_ERROR_INVALID_ARGUMENT. */
SEGCL_API segcl_status segcl_precision_parse(const char *name, segcl_precision *out);

/** Options for segcl_context_open(). Fill with segcl_default_settings() first. */
typedef struct segcl_settings {
    /** "N" (global index), "P:D" (platform:device) or NULL: then $SEGCL_DEVICE, else the first
     *  GPU, else the first CPU. Borrowed for the duration of the call. */
    const char *device;
    segcl_kernel_cache_mode kernel_cache;
    /** Where cached binaries live. NULL: $SEGCL_KERNEL_CACHE_DIR, else
     *  $XDG_CACHE_HOME/segcl/kernels, else ~/.cache/segcl/kernels; with neither HOME nor
     *  XDG_CACHE_HOME set, no disk cache (a warning). The folder must belong to the user and be
     *  writable by no one else, or the cache is off (a warning). Copied. */
    const char *kernel_cache_dir;
    /** Load the kernels/ .cl sources from this folder instead of the copies embedded at build time.
     *  NULL: $SEGCL_KERNEL_DIR if set, else the embedded copies. Copied. */
    const char *kernel_dir;
    /** Upper bound on device memory segcl allocates, in bytes; 0: the device's global memory. */
    uint64_t memory_limit;
    /** Tensor storage (SEGCL_PRECISION_FP32): fixed when the context opens. FP16 here, or
     *  segcl_context_set_precision() before the open, gives a half-precision context. */
    segcl_precision precision;
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
 * and in-order queue on it. Can be called once per context. The environment variables the
 * README documents (SEGCL_DEVICE, SEGCL_KERNEL_STYLE, SEGCL_GEMM, ...) are read here, once:
 * changing them later affects only contexts opened later.
 *
 * Effect on the process: on a device that `segcl tune` tuned with one of CLBlast's Xgemm
 * parameter sets, opening installs that set for the device in CLBlast
 * (CLBlastOverrideParameters), which every CLBlast user in the process then gets, also after
 * the context is destroyed; CLBlast has no per-context parameters.
 */
SEGCL_API segcl_status segcl_context_open(segcl_context *ctx, const segcl_settings *settings);

/**
 * Releases the context and everything it owns. Accepts NULL. Tensors, predictors and anything
 * else made on it must be destroyed first.
 *
 * Effect on the process: when the context ran GEMMs through CLBlast, this empties CLBlast's
 * caches of compiled programs and binaries (CLBlastClearCache) for every CLBlast user in the
 * process; their next call compiles again, nothing else changes for them. CLBlast keys that
 * cache by OpenCL context, and each cached program holds its context, but it has no call that
 * drops one context's entries: left there, every destroyed context would stay alive (its
 * programs and device memory) until the process exits, and be released by a static destructor
 * after the OpenCL driver may have torn itself down.
 */
SEGCL_API void segcl_context_destroy(segcl_context *ctx);

/** Sets the tensor storage of a context that is not open yet (segcl_settings.precision
 *  FP16 at the open also sets it). SEGCL_ERROR_STATE once the context is open: every tensor
 *  and compiled program of a context has one precision. */
SEGCL_API segcl_status segcl_context_set_precision(segcl_context *ctx, segcl_precision precision);
/** The context's tensor storage (FP32 for NULL). */
SEGCL_API segcl_precision segcl_context_precision(const segcl_context *ctx);

/** Device memory segcl holds on ctx now (tensors, workspaces, arenas) and the most it has held
 *  since the context opened or the last reset (reset_peak: the peak restarts from now). */
SEGCL_API void segcl_context_memory(segcl_context *ctx, uint64_t *in_use, uint64_t *peak,
                                    bool reset_peak);

/** Message describing the last error on ctx (empty string when none). Owned by ctx; valid until
 *  the next call on ctx. A NULL ctx gives a message about memory exhaustion. */
SEGCL_API const char *segcl_context_error(const segcl_context *ctx);

/** The setting the last error on ctx concerns, or NULL when it concerns none (or ctx is NULL):
 *  the name of an options field, e.g. "threshold" (segcl_predictor_options), "max_steps"
 *  (segcl_train_options), "max_pixels" (segcl_context_set_max_pixels). The message itself names
 *  the setting in words; a tool with its own names for settings (a command-line flag, a form
 *  field) can point at them with this. Static storage. */
SEGCL_API const char *segcl_context_error_setting(const segcl_context *ctx);

/** While a warning handler runs: the setting that warning concerns (e.g. "max_pixels" when an
 *  input was skipped for its size), or NULL; as segcl_context_error_setting for errors. */
SEGCL_API const char *segcl_context_warning_setting(const segcl_context *ctx);

/** Receives one line per warning: something segcl read but found damaged and used anyway
 *  (e.g. a truncated JPEG decoded with a grey bottom). `user` is passed back. */
typedef void (*segcl_warning_fn)(const char *message, void *user);

/** Where ctx's warnings go; NULL drops them (the default). */
SEGCL_API void segcl_context_set_warning_handler(segcl_context *ctx, segcl_warning_fn fn,
                                                 void *user);

/** With strict set, anything that would be a warning while reading images is an error. */
SEGCL_API void segcl_context_set_strict(segcl_context *ctx, bool strict);

/** Images with more pixels than this are refused before any pixel memory is allocated;
 *  0 restores the default, SEGCL_DEFAULT_MAX_PIXELS. */
SEGCL_API void segcl_context_set_max_pixels(segcl_context *ctx, uint64_t max_pixels);

/** A run's data that changed since the run started (pairs added, removed or modified; a split
 *  that differs) stops segcl_train() resuming it and segcl_dataset_open_run() opening its
 *  split, with an error that says what changed; with allow set, both go on with the data as
 *  it is, with a warning. Error and warning concern the setting "allow_changed_data". */
SEGCL_API void segcl_context_set_allow_changed_data(segcl_context *ctx, bool allow);
#define SEGCL_DEFAULT_MAX_PIXELS (64ull << 20) /**< 64 Mpixel: 8192 x 8192, any phone photo */

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
/** Kernel launches queued on the context since it opened: each of segcl's kernels, and each
 *  CLBlast call as one (CLBlast may run more than one kernel for it). */
SEGCL_API uint64_t segcl_context_kernel_launches(const segcl_context *ctx);

/** Maximum rank of a segcl tensor. */
#define SEGCL_MAX_DIMS 4

/** A tensor in device memory, row-major (NCHW for images): float32, or half in a context of
 *  SEGCL_PRECISION_FP16 (read and written as float32 either way). */
typedef struct segcl_tensor segcl_tensor;

/**
 * Allocates an uninitialised tensor on ctx's device (4 bytes an element, 2 in a half context). `name` (copied) appears in error
 * messages, e.g. when the device runs out of memory. shape holds ndim positive extents.
 */
SEGCL_API segcl_status segcl_tensor_create(segcl_context *ctx, const char *name, int ndim,
                                           const int64_t *shape, segcl_tensor **out);

/** Releases a tensor. Accepts NULL. */
SEGCL_API void segcl_tensor_destroy(segcl_tensor *tensor);

/** Copies `count` floats (must equal the element count) from host memory into the tensor; a
 *  half context rounds each to the nearest half (ties to even; beyond 65504: infinity). */
SEGCL_API segcl_status segcl_tensor_write(segcl_tensor *tensor, const float *src, size_t count);

/** Copies the tensor into `count` floats of host memory; blocks until done. */
SEGCL_API segcl_status segcl_tensor_read(segcl_tensor *tensor, float *dst, size_t count);

/** Number of elements. */
SEGCL_API size_t segcl_tensor_numel(const segcl_tensor *tensor);

/** Rank, and extents copied into shape[0..rank-1] when shape is not NULL. */
SEGCL_API int segcl_tensor_shape(const segcl_tensor *tensor, int64_t *shape);

/** Name given at creation. Owned by the tensor. */
SEGCL_API const char *segcl_tensor_name(const segcl_tensor *tensor);

/* ---- datasets ------------------------------------------------------------------------------ */

typedef enum segcl_dataset_format {
    SEGCL_DATASET_AUTO = 0,   /**< detect: PH2, else images/ + masks/ (MADS or folder) */
    SEGCL_DATASET_PH2 = 1,    /**< "PH2 Dataset images/IMDxxx/..." */
    SEGCL_DATASET_MADS = 2,   /**< images/ and masks/ with identical file names */
    SEGCL_DATASET_FOLDER = 3, /**< images/ and masks/ matched by file stem */
    SEGCL_DATASET_PAIR = 4,   /**< any image folder and mask folder matched by file stem */
} segcl_dataset_format;

/** Name of a format ("auto", "ph2", "mads", "folder", "pair"); parse with
 *  segcl_dataset_format_parse. */
SEGCL_API const char *segcl_dataset_format_name(segcl_dataset_format format);
/** 0 and *out set when name is one of the names above, else SEGCL_ERROR_INVALID_ARGUMENT. */
SEGCL_API segcl_status segcl_dataset_format_parse(const char *name, segcl_dataset_format *out);

/** A list of image/mask pairs found on disk (files are read later, by whoever uses it). */
typedef struct segcl_dataset segcl_dataset;

/** Scans `dir` for the given layout. Errors name the folder and what was expected. */
SEGCL_API segcl_status segcl_dataset_open(segcl_context *ctx, const char *dir,
                                          segcl_dataset_format format, segcl_dataset **out);
/** Pairs the images in images_dir with the masks in masks_dir of the same file stem
 *  (format SEGCL_DATASET_PAIR): any two folders, e.g. a publisher's Training_Images/ and
 *  Ground_Truth/. */
SEGCL_API segcl_status segcl_dataset_open_pair(segcl_context *ctx, const char *images_dir,
                                               const char *masks_dir, segcl_dataset **out);
/** The dataset of a training run, as its args.json records it, restricted to one split:
 *  "val" (the images the run validated on), "train", or "all". Data that changed since the
 *  run started is refused (see segcl_context_set_allow_changed_data). */
SEGCL_API segcl_status segcl_dataset_open_run(segcl_context *ctx, const char *run_dir,
                                              const char *split, segcl_dataset **out);
SEGCL_API void segcl_dataset_destroy(segcl_dataset *ds);
/** Pairs found, images skipped for lack of a mask, and the layout detected. */
SEGCL_API size_t segcl_dataset_size(const segcl_dataset *ds);
SEGCL_API size_t segcl_dataset_skipped(const segcl_dataset *ds);
SEGCL_API segcl_dataset_format segcl_dataset_get_format(const segcl_dataset *ds);

/* ---- training ------------------------------------------------------------------------------- */

/** Where a training run stands; passed to the progress callback. */
typedef struct segcl_train_progress {
    int event;          /**< 0: a step ended, 1: an epoch ended (validation filled), 2: a notice */
    /** event 2: one line for the user, starting with "note: " (e.g. batch lowered),
     *  "warning: " (a damaged file used anyway), "problem: " (a pair that stops the run) or
     *  "skipped: " (a pair left out under skip_bad). */
    const char *notice;
    int epoch;          /**< 0-based epoch in progress */
    int epochs;
    long step;          /**< optimizer steps taken so far */
    long steps_per_epoch;
    long total_steps;
    double loss;        /**< last step's training loss (event 0), epoch mean (event 1) */
    double images_per_s;
    double eta_s;
    double val_loss, val_dice, val_iou, val_pixel_accuracy; /**< event 1; Dice and IoU are
                                                                 means over the validation
                                                                 images with foreground */
    int best;           /**< event 1: this epoch is the best so far (best.safetensors written) */
    const char *notice_setting; /**< event 2: the setting the notice concerns (e.g.
                                     "max_pixels" for a pair refused for its size), or NULL */
} segcl_train_progress;

typedef void (*segcl_progress_fn)(const segcl_train_progress *progress, void *user);

/**
 * Data-parallel training over several processes ("ranks"), each with its own device: the
 * library stays free of any transport, and the caller (the CLI, over MPI) supplies these.
 * Every rank calls segcl_train() with the same options; each takes 1/size of every global
 * batch, gradients are summed over the ranks in rank order before the optimizer step (so
 * the result does not depend on which rank answers first), and rank 0 alone writes the run
 * folder. Both calls must be collective: every rank makes them in the same order.
 */
typedef struct segcl_collective {
    int rank, size;
    /** Sums `count` floats over the ranks into every rank's `data`, adding the ranks'
     *  contributions in rank order 0, 1, ..., size - 1. Returns 0 on success. */
    int (*sum)(float *data, size_t count, void *user);
    /** Every rank's `value`, in rank order, into values[0 .. size). Returns 0 on success. */
    int (*gather)(int value, int *values, void *user);
    /** Synchronised BatchNorm: statistics over the whole global batch (sums over the ranks),
     *  so size ranks compute what one process does; false: per rank (PyTorch DDP's default). */
    bool sync_bn;
    void *user;
} segcl_collective;

/** segcl_train() options; segcl_train_default_options() gives the lesson's settings. */
typedef struct segcl_train_options {
    const char *data_dir;       /**< dataset folder (not needed with resume_dir or a pair) */
    segcl_dataset_format format;
    /** Any image folder and mask folder matched by file stem, instead of data_dir. */
    const char *images_dir, *masks_dir;
    /** A new run's folder: checkpoints, metrics.csv, curves.svg, overlays/, args.json. A folder
     *  that already holds a run is refused (continue it with resume_dir); a lock stops two
     *  trainings from writing one folder. */
    const char *out_dir;
    const char *resume_dir;     /**< continue the run in this folder exactly (NULL: new run) */
    const char *init_path;      /**< start from these weights (segcl or PyTorch safetensors) */
    const char *arch;           /**< "unet" (default) or "segnet" */
    int classes;                /**< 1: binary (BCE); >= 2: class-index masks (cross-entropy) */
    int width, depth;           /**< base channels (16), encoder stages (4) */
    int size;                   /**< images are resized to size x size (256) */
    int epochs;                 /**< 30 */
    int batch;                  /**< 32; lowered (with a notice) when device memory is short */
    long max_steps;             /**< stop after this many optimizer steps (0: no limit) */
    const char *optimizer;      /**< "adam" (default), "adamw", "sgd" */
    float lr, weight_decay, momentum; /**< 1e-3, 1e-6, 0 */
    bool nesterov;
    const char *loss;           /**< "bce" (default for 1 class), "ce" (default for >= 2), "dice", "bce+dice" */
    const char *lr_schedule;    /**< "none" (default), "cosine", "step" */
    float val_fraction;         /**< 0.1 */
    uint64_t seed;              /**< 42 */
    /** Augmentations: a comma list of hflip, vflip, rot90, color, scale; "none"; or NULL for
     *  the data's default: hflip,vflip,rot90,color for PH2 (dermoscopy has no up or down),
     *  hflip,color,scale for every other layout (people stand upright). */
    const char *augment;
    bool shuffle;               /**< on */
    /** Leave out image/mask pairs that cannot be used (with a listed notice) instead of
     *  refusing to train. */
    bool skip_bad;
    float mean[3], std[3];      /**< normalisation of [0, 1] pixels: 0 and 1 */
    int overlays;               /**< validation overlays written per epoch (4) */
    /** When it becomes non-zero (set from any thread or a signal-waiting thread): checkpoint
     *  and return. */
    segcl_atomic_int *cancel;
    segcl_progress_fn progress; /**< may be NULL; called on rank 0 only */
    void *user;
    /** Data-parallel training (NULL: one process). The batch is the global batch and must be
     *  a multiple of collective->size. */
    const segcl_collective *collective;
} segcl_train_options;

SEGCL_API void segcl_train_default_options(segcl_train_options *options);

/** Result of a run. */
typedef struct segcl_train_summary {
    int epochs_done;
    long steps;
    double best_val_dice;
    double final_val_dice, final_val_iou, final_val_pixel_accuracy, final_val_loss;
    double seconds, images_per_s;
    int interrupted;            /**< stopped by `cancel` (a checkpoint was written) */
    int batch;                  /**< the batch size used (the global batch over every rank) */
    /** Data-parallel runs: the rank whose error stopped the run (-1: none), and whether the
     *  ranks may be left inside different collective calls (an error inside a synchronised
     *  BatchNorm pass), so that the caller must abort them all (MPI_Abort). */
    int failed_rank;
    bool collective_broken;
} segcl_train_summary;

/** Trains a model as described by options; see segcl_train_options. */
SEGCL_API segcl_status segcl_train(segcl_context *ctx, const segcl_train_options *options,
                                   segcl_train_summary *summary);

/**
 * Writes the weights and BatchNorm buffers of `model` (a checkpoint, or a run folder: its
 * best.safetensors) to out_path, with the settings a predictor needs (architecture, classes,
 * width, depth, size, normalisation) and without the optimizer's moments: about a third of a
 * training checkpoint. The file is written atomically; out_path must not be the model itself.
 */
SEGCL_API segcl_status segcl_export_weights(segcl_context *ctx, const char *model,
                                            const char *out_path);

/**
 * Writes `model` (as for segcl_export_weights) as an ONNX graph (opset 13: Conv, Relu,
 * BatchNormalization, MaxPool, Resize with align_corners, Concat) to out_path, atomically.
 * Input "image": float N x 3 x H x W, normalised as in training ((rgb / 255 - mean) / std),
 * batch, height and width dynamic (H and W multiples of 2^depth); output "logits": N x classes
 * x H x W. Metadata: arch, classes, mean, std, training_size, size_multiple.
 */
SEGCL_API segcl_status segcl_export_onnx(segcl_context *ctx, const char *model,
                                         const char *out_path);

/* ---- inference ------------------------------------------------------------------------------ */

/** How segcl_predict_files() shows a prediction over the photo in <stem>_overlay.jpg. */
typedef enum segcl_overlay_style {
    SEGCL_OVERLAY_FILL,    /**< regions tinted, their boundaries drawn (the default) */
    SEGCL_OVERLAY_CONTOUR, /**< boundaries only, 2 px wide (3 px above 512 px) */
    SEGCL_OVERLAY_NONE,    /**< no overlay file */
} segcl_overlay_style;

/** How to open a trained model for segcl_predict_files() and segcl_evaluate(), and what
 *  segcl_predict_files() writes besides the mask. */
typedef struct segcl_predictor_options {
    /** Needed only for files without segcl metadata (e.g. a PyTorch state_dict): */
    const char *arch;     /**< "unet" or "segnet" (NULL: from the file) */
    int classes;          /**< 0: from the file (1 when the file does not say) */
    int width, depth;     /**< 0: from the file (16, 4) */
    int size;             /**< network input size; 0: the training size (256) */
    float threshold;      /**< foreground when sigmoid(logit) > threshold (0.5) */
    int batch;            /**< images per forward pass (8) */
    /** Colours of multi-class masks: a text file with one colour per class, in class order,
     *  "#RRGGBB" or "R G B" per line ('#' starts a comment otherwise); NULL: the default
     *  palette (class 0 black, then the PASCAL VOC colours: 1 dark red, 2 dark green, 3 olive,
     *  4 dark blue, ...). */
    const char *palette;
    segcl_overlay_style overlay;
    /** Write <stem>_cutout.png: RGBA at the input's size, colours untouched, alpha the model's
     *  foreground probability (1 - P(class 0) for several classes), so the edge is soft. */
    bool cutout;
    /** Smooths the alpha of cut-outs and composites further: a Gaussian-like blur whose radius
     *  is about this many pixels of the input (0: none). */
    float feather;
    /** Write <stem>_composite.jpg, the foreground over another background, blended with the
     *  same alpha: "#RRGGBB", "blur" or "blur:RADIUS" (the photo's own background blurred;
     *  the default radius is 1/32 of its longer side), or an image file scaled to cover the
     *  photo. NULL: none. */
    const char *background;
    /** Write <stem>_instances.png (one colour per instance, black background) and
     *  <stem>_instances.json: the connected components (8-connectivity) of each class, with
     *  class, area, bounding box, centroid and colour; components under min_area pixels (of
     *  the input) are dropped. */
    bool instances;
    int min_area;
    /** Tiled inference (0: off): segcl_predict_pixels() and segcl_predict_files() run each
     *  image in overlapping tile x tile squares, `batch` tiles per forward pass, so device
     *  memory is bounded by the tile and the batch, not by the image (the parameters, one
     *  batch x 3 x tile x tile input and the network's activations and workspaces for it).
     *  The working resolution is the image's own size, or size x size when `size` is given
     *  (then a tiled result agrees with the untiled one at that size; with one tile it is the
     *  same bit for bit). Tiles lie on a regular grid whose last row and column are shifted to
     *  end at the image's border; only an image smaller than a tile is padded (by
     *  reflection). Overlapping tiles' logits are blended with linear ramps over their
     *  overlaps (weight 1 at the image's borders) and normalised by the summed weights, then
     *  thresholded or argmaxed as without tiles. A multiple of 2^depth, at least 2^depth and
     *  at most 4096. Host memory: about (4 x classes + 7) bytes per working pixel.
     *  segcl_evaluate() does not tile. */
    int tile;
    /** Pixels neighbouring tiles share: a multiple of 2^depth below tile; 0: tile / 4
     *  rounded to the nearest multiple of 2^depth. It should cover the network's receptive
     *  field for tiles to agree with a whole-image pass. */
    int tile_overlap;
} segcl_predictor_options;

SEGCL_API void segcl_predictor_default_options(segcl_predictor_options *options);

typedef struct segcl_predictor segcl_predictor;

SEGCL_API segcl_status segcl_predictor_open(segcl_context *ctx, const char *model_path,
                                            const segcl_predictor_options *options,
                                            segcl_predictor **out);
SEGCL_API void segcl_predictor_destroy(segcl_predictor *predictor);

/** An image in memory: 8-bit RGB or RGBA (alpha ignored), rows top to bottom, channels
 *  interleaved; stride: bytes from one row to the next (0: width * channels). */
typedef struct segcl_pixels {
    const uint8_t *data;
    int width, height, channels;
    size_t stride;
} segcl_pixels;

/** Where segcl_predict_pixels() writes one image's maps, at that image's size (the caller
 *  allocates them; any may be NULL). */
typedef struct segcl_prediction_maps {
    uint8_t *labels;   /**< width x height: the class of each pixel (0/1 for one class, using
                            the predictor's threshold) */
    float *foreground; /**< width x height: P(foreground): the sigmoid for one class,
                            1 - P(class 0) for several (a cut-out's alpha) */
    float *classes;    /**< classes x height x width: softmax probabilities (several classes
                            only; ignored for one) */
} segcl_prediction_maps;

/**
 * Segments `count` images held in memory, of any sizes (each resized to the network's input,
 * normalised as in training, run in batches of the predictor's batch size; with
 * options->tile, each at its working resolution in batches of tiles, see there) and writes
 * each one's maps at its own size, the logits resized bilinearly before the sigmoid or softmax.
 * No files are involved: the call for a video loop, a GUI or a language binding.
 * segcl_predict_files() is built on it.
 */
SEGCL_API segcl_status segcl_predict_pixels(segcl_predictor *predictor,
                                            const segcl_pixels *images, size_t count,
                                            const segcl_prediction_maps *maps);

/** The model's class count (1: binary). */
SEGCL_API int segcl_predictor_classes(const segcl_predictor *predictor);

/** What segcl_predict_files() wrote for one input; paths are NULL for outputs not asked for. */
typedef struct segcl_prediction {
    const char *input;
    const char *mask, *overlay, *cutout, *composite, *instances_png, *instances_json;
    long instances; /**< instances found (-1 without options->instances) */
} segcl_prediction;

/** Called once per input written by segcl_predict_files(). */
typedef void (*segcl_predict_fn)(const segcl_prediction *written, void *user);

/**
 * Segments `count` inputs (image files, or folders whose images are all taken, sorted) and
 * writes into out_dir: <stem>_mask.png at the input's size (0/255 for one class; otherwise a
 * palette PNG whose pixel values are the class indices, coloured by options->palette),
 * <stem>_overlay.jpg (unless options->overlay is NONE), the cut-out, composite and instances
 * the options ask for, and with save_logits <stem>_logits.npy (float32, classes x size x
 * size, the network output before any resize; with options->tile, the blended logits at the
 * working resolution, classes x height x width). With options->tile the images go through
 * one at a time, their tiles in batches. Inputs sharing a stem (a.jpg, a.png) are written
 * as a_jpg, a_png; the same name in two folders gets -2, -3. When there are several inputs,
 * one that fails on its own (it cannot be read, or an output cannot hold it: a picture past
 * JPEG's 65500 pixels a side) is skipped with a warning naming it
 * (segcl_context_set_warning_handler); the others are still written, and the call then
 * returns SEGCL_ERROR_FORMAT with a summary ("N of M inputs failed"). A skipped input has no
 * mask (written last); outputs written before its failure stay. Every output is written to a
 * temporary beside its name and renamed over it (a symbolic link there is replaced, never
 * followed). A folder that is also out_dir has segcl's own outputs left out.
 */
SEGCL_API segcl_status segcl_predict_files(segcl_predictor *predictor,
                                           const char *const *inputs, size_t count,
                                           const char *out_dir, bool save_logits,
                                           segcl_predict_fn done, void *user);

/** Scores of one image and their means over a dataset (foreground classes, as in training). */
typedef struct segcl_eval_image {
    char name[128];
    double dice, iou, pixel_accuracy;
} segcl_eval_image;

typedef struct segcl_eval_result {
    /** Means over images; Dice and IoU over the images whose masks hold foreground (an empty
     *  mask gives nothing to overlap with: its Dice and IoU are NaN and counted in undefined). */
    double dice, iou, pixel_accuracy;
    size_t count;
    size_t undefined;
    segcl_eval_image *images;         /**< count entries; free with segcl_eval_result_free */
} segcl_eval_result;

SEGCL_API segcl_status segcl_evaluate(segcl_predictor *predictor, const segcl_dataset *ds,
                                      segcl_eval_result *result);
SEGCL_API void segcl_eval_result_free(segcl_eval_result *result);

/* ---- synthetic data and benchmark ----------------------------------------------------------- */

/** Writes `count` synthetic dermoscopy-like images (skin texture, irregular darker lesions,
 *  hairs, vignette) and their masks to out_dir/images and out_dir/masks (folder layout, PNG). */
SEGCL_API segcl_status segcl_synth(segcl_context *ctx, const char *out_dir, int count, int size,
                                   uint64_t seed);

/** Training and inference images/s of a model after warm-up (training 0 on a half-precision
 *  context, which only infers). */
SEGCL_API segcl_status segcl_bench(segcl_context *ctx, const char *arch, int batch, int size,
                                   double seconds, double *train_images_per_s,
                                   double *infer_images_per_s);

/** What segcl_bench_run() measured. Device bytes are segcl's own accounting (every buffer it
 *  creates), peak over the phase, counted from what the context held before the call. */
typedef struct segcl_bench_result {
    double train_images_per_s; /**< 0 on a half-precision context */
    double infer_images_per_s;
    uint64_t infer_device_bytes; /**< weights, input, activations and scratch of inference */
    uint64_t train_device_bytes; /**< the same for training (0 when not run) */
    uint64_t train_launches; /**< kernel launches of one training step (0 when not run) */
    uint64_t infer_launches; /**< kernel launches of one inference pass */
} segcl_bench_result;

/** segcl_bench with device memory: inference is run (and measured) first, then training. */
SEGCL_API segcl_status segcl_bench_run(segcl_context *ctx, const char *arch, int batch, int size,
                                       double seconds, segcl_bench_result *result);

/* ---- tuning ------------------------------------------------------------------------------- */

/** What segcl_tune() times: a model's training step and inference on random data. */
typedef struct segcl_tune_options {
    const char *arch;       /**< "unet" (default) or "segnet" */
    int size;               /**< image side, a multiple of 16 (default 128) */
    int batch;              /**< images per step (default 8) */
    double seconds;         /**< timing per candidate and phase (default 1) */
    /** One line per candidate and the result; NULL: silent. */
    void (*progress)(const char *line, void *user);
    void *user;
} segcl_tune_options;

/** Fills *options with the defaults above. */
SEGCL_API void segcl_tune_default_options(segcl_tune_options *options);

/**
 * Times the kernel variants segcl can run on ctx's device (register tile and cache blocking of
 * the CPU GEMM, run lengths, segcl's GEMM against CLBlast; on GPU-style devices CLBlast
 * parameter sets and elementwise work-group sizes) on the model's real shapes, each variant in
 * a context of its own (same device, cache and memory limit) and first checked for correct
 * results, and stores the fastest next to the kernel cache. Every context opened on that
 * device later uses it. The stored file's path goes to path (cap bytes, may be NULL).
 */
SEGCL_API segcl_status segcl_tune(segcl_context *ctx, const segcl_tune_options *options,
                                  char *path, size_t cap);

/**
 * Whether the device described by info (segcl_device_get_info) has been tuned for this version of
 * segcl and its driver: 1 and the file's path in path (cap bytes, may be NULL), or 0.
 * cache_dir as in segcl_settings (NULL: the default).
 */
SEGCL_API int segcl_device_tuned(const segcl_device_info *info, const char *cache_dir, char *path,
                                 size_t cap);

/** What segcl_selftest() measured. */
typedef struct segcl_selftest_report {
    double program_build_seconds; /**< first build of the elementwise kernels */
    double elementwise_max_error; /**< fill + axpby round trip vs host */
    double gemm_max_rel_error;    /**< worst normalised GEMM error vs a double reference */
    double gemm_large_error;      /**< worst normalised error of large GEMMs (K up to 4096),
                                       checked by random projections */
    double gemm_gflops;           /**< 256x256x256 GEMM throughput after warm-up */
} segcl_selftest_report;

/**
 * Builds the elementwise kernels, runs them, and runs GEMMs (plain and transposed, sizes not
 * multiples of 8) against a double-precision host reference, and large GEMMs (up to
 * 256x256x2304 and K = 4096) against random projections. Returns SEGCL_ERROR_STATE with a
 * message when a result is wrong: such a device is not to be used. The context must be open.
 */
SEGCL_API segcl_status segcl_selftest(segcl_context *ctx, segcl_selftest_report *report);

#ifdef __cplusplus
}
#endif

#endif /* SEGCL_SEGCL_H */
