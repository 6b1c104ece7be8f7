/*
 * The bottom layer of the library: allocation (with fault injection), error messages,
 * JSON, files (atomic writes), SHA-256 and the seeded random generator. Nothing here knows
 * of OpenCL or devices.
 */
#ifndef SEGCL_CORE_H
#define SEGCL_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
/* How many allocations have failed in the calling thread so far. Libraries that allocate
 * through segcl_malloc but report running out of memory as something else (libpng's error
 * callback) are told apart by it. */
SEGCL_INTERNAL unsigned long segcl_alloc_failures(void);
#ifdef SEGCL_TESTING
/* Test hook (test builds only): the allocation after `n` more successful ones fails; n < 0
 * disables. The first call also routes jansson's allocations through segcl_malloc. */
SEGCL_INTERNAL void segcl_test_fail_alloc_after(long n);
/* Test hook: allocations made through segcl_malloc/calloc/realloc and not yet freed (jansson's
 * count once segcl_test_fail_alloc_after has routed them). */
SEGCL_INTERNAL long segcl_test_live_allocations(void);
#endif

/* ---- errors (src/core/error.c) -------------------------------------------------------------- */

/* Where host work reports: the last error message, where warnings go, and the reading policy
 * decoders follow. Every OpenCL context embeds one (segcl_context_diag); a thread that decodes
 * on its own (the loader's, the dataset checker's) keeps its own and hands its message on. */
typedef struct segcl_diag {
    char *message; /* last error message, heap-allocated; "" when none */
    size_t message_cap;
    const char *setting;   /* the setting the last error concerns (a static name), or NULL */
    segcl_warning_fn warn; /* where warnings go (NULL: dropped) */
    void *warn_user;
    const char *warning_setting; /* while the handler runs: the setting the warning concerns */
    bool strict;         /* decoder warnings are errors */
    uint64_t max_pixels; /* images larger than this are refused; 0: the default */
    bool allow_changed_data; /* a run's data that changed is a warning, not an error */
} segcl_diag;

/* Allocates the message buffer up front, so a short message survives running out of memory
 * later; fails only when memory is exhausted. segcl_diag_release frees it (accepts NULL). */
SEGCL_INTERNAL segcl_status segcl_diag_init(segcl_diag *diag);
SEGCL_INTERNAL void segcl_diag_release(segcl_diag *diag);
/* Records a formatted message and returns status, so callers can `return segcl_diag_fail(...)`.
 * When growing the buffer fails the message is truncated rather than lost. A NULL diag gets no
 * message. */
SEGCL_INTERNAL segcl_status segcl_diag_fail(segcl_diag *diag, segcl_status status, const char *fmt,
                                            ...) SEGCL_PRINTF(3, 4);
SEGCL_INTERNAL segcl_status segcl_diag_vfail(segcl_diag *diag, segcl_status status, const char *fmt,
                                             va_list ap) SEGCL_PRINTF(3, 0);
/* The same, and the name of the setting the error concerns (e.g. "max_pixels"; static
 * storage), so that a tool can point at its own name for it (a command-line flag). */
SEGCL_INTERNAL segcl_status segcl_diag_fail_setting(segcl_diag *diag, const char *setting,
                                                    segcl_status status, const char *fmt, ...)
    SEGCL_PRINTF(4, 5);
/* The last message ("" when none), and the setting it concerns (NULL: none). */
SEGCL_INTERNAL const char *segcl_diag_message(const segcl_diag *diag);
SEGCL_INTERNAL const char *segcl_diag_setting(const segcl_diag *diag);
SEGCL_INTERNAL void segcl_diag_clear(segcl_diag *diag);
/* Passes a one-line warning to the handler; with none it is dropped. Strictness is the
 * decoders' business: they fail instead of warning. */
SEGCL_INTERNAL void segcl_diag_warn(segcl_diag *diag, const char *fmt, ...) SEGCL_PRINTF(2, 3);
/* The same for a warning that concerns a setting (e.g. "max_pixels"), which the handler can
 * ask for while it runs (segcl_context_warning_setting). */
SEGCL_INTERNAL void segcl_diag_vwarn_setting(segcl_diag *diag, const char *setting,
                                             const char *fmt, va_list ap) SEGCL_PRINTF(3, 0);
SEGCL_INTERNAL void segcl_diag_vwarn(segcl_diag *diag, const char *fmt, va_list ap)
    SEGCL_PRINTF(2, 0);
SEGCL_INTERNAL void segcl_diag_set_warning_handler(segcl_diag *diag, segcl_warning_fn fn,
                                                   void *user);
/* Copies the reading settings (strictness, pixel limit; not the handler) from one sink to
 * another, e.g. to the loader thread's. */
SEGCL_INTERNAL void segcl_diag_copy_decoding(segcl_diag *to, const segcl_diag *from);
SEGCL_INTERNAL bool segcl_diag_strict(const segcl_diag *diag);
/* The pixel limit in force: SEGCL_DEFAULT_MAX_PIXELS unless set. */
SEGCL_INTERNAL uint64_t segcl_diag_max_pixels(const segcl_diag *diag);

/* ---- JSON (src/core/json.c) ---------------------------------------------------------------- */

typedef struct json_t json_t;
/* The text of json (jansson dump flags) in *out (free with segcl_free); every failed append is
 * an error, unlike json_dumps. */
SEGCL_INTERNAL segcl_status segcl_json_text(segcl_diag *diag, const json_t *json, size_t flags,
                                            char **out);
/* Writes json, indented, reals to 9 significant digits (a float round-trips), to path through
 * a temporary file and a rename. */
SEGCL_INTERNAL segcl_status segcl_json_write_file(segcl_diag *diag, const char *path,
                                                  const json_t *json);
/* Writes text and a newline to path through a temporary file and a rename (text as
 * segcl_json_text made it, when the caller needs it too). */
SEGCL_INTERNAL segcl_status segcl_text_write_file(segcl_diag *diag, const char *path,
                                                  const char *text);

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
SEGCL_INTERNAL segcl_status segcl_json_parse(segcl_diag *diag, const char *name, const char *text,
                                             size_t len, segcl_jvalue **out);
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
SEGCL_INTERNAL segcl_status segcl_make_dirs(segcl_diag *diag, const char *dir);
/* Opens path for reading as a stream (links followed: a user's own paths): anything but a
 * regular file is refused with a message, and a FIFO never waited on. kind prefixes the path
 * in messages ("" or e.g. "checkpoint "). */
SEGCL_INTERNAL segcl_status segcl_open_read(segcl_diag *diag, const char *path, const char *kind,
                                            FILE **out);
/* The whole file, NUL-terminated (free with segcl_free); longer than max_bytes is an error; not
 * a regular file is an error too (segcl_open_read). */
SEGCL_INTERNAL segcl_status segcl_read_file(segcl_diag *diag, const char *path, size_t max_bytes,
                                            char **data, size_t *length);
/* Opens an existing regular file for reading: a symlink at path (O_NOFOLLOW), a FIFO, device or
 * folder is refused with a message, and a FIFO is never waited on (O_NONBLOCK, then fstat).
 * With `absent` non-NULL a missing file is no error: *absent is set and *fd is -1. */
SEGCL_INTERNAL segcl_status segcl_open_regular(segcl_diag *diag, const char *path, int *fd,
                                               bool *absent);
/* segcl_read_file through segcl_open_regular. */
SEGCL_INTERNAL segcl_status segcl_read_regular_file(segcl_diag *diag, const char *path,
                                                    size_t max_bytes, char **data,
                                                    size_t *length, bool *absent);
/* Whether dir is a folder that only this user can change: owned by the effective user (a
 * symlink to it too) and writable by nobody else. An error says which rule it breaks; with
 * `absent` non-NULL a missing folder is no error (*absent set). */
SEGCL_INTERNAL segcl_status segcl_check_private_dir(segcl_diag *diag, const char *dir,
                                                    bool *absent);
/* mkdir -p with mode 0700 for every folder it creates, then segcl_check_private_dir. */
SEGCL_INTERNAL segcl_status segcl_make_private_dir(segcl_diag *diag, const char *dir);
/* Creates <prefix><12 random letters> with O_CREAT | O_EXCL | O_NOFOLLOW and `mode` (less the
 * umask): never an existing file, never through a symlink. *path (free with segcl_free) and an
 * fd open for writing. */
SEGCL_INTERNAL segcl_status segcl_create_exclusive(segcl_diag *diag, const char *prefix,
                                                   unsigned mode, char **path, int *fd);
/* The last component of path (what follows its last '/'). */
SEGCL_INTERNAL const char *segcl_base_name(const char *path);
/* The folder holding path into buf: "." for a bare name, "/" for one in the root. */
SEGCL_INTERNAL void segcl_folder_of(char *buf, size_t len, const char *path);
/* Whether a and b name the same file or folder (same device and inode; false when either
 * cannot be read). */
SEGCL_INTERNAL bool segcl_same_file(const char *a, const char *b);
/* write() until done, retrying interrupted calls; `path` names the file in errors. */
SEGCL_INTERNAL segcl_status segcl_write_all(segcl_diag *diag, int fd, const void *data, size_t n,
                                            const char *path);

/* A file written atomically: segcl_file_begin creates a hidden temporary beside path
 * (segcl_create_exclusive: .<name>.tmp-<random>); write to
 * fd; segcl_file_end(st) then fsyncs and renames it over path when st is SEGCL_OK (and makes
 * the rename durable), or removes it otherwise. Returns the first error. */
typedef struct segcl_file {
    int fd;
    const char *path;
    char *temporary;
} segcl_file;
SEGCL_INTERNAL segcl_status segcl_file_begin(segcl_diag *diag, const char *path, segcl_file *out);
SEGCL_INTERNAL segcl_status segcl_file_end(segcl_diag *diag, segcl_file *f, segcl_status st);
/* The same through stdio: *stream writes the temporary (on a descriptor of its own);
 * segcl_file_end_stream closes it, counting a write error that stdio kept, then
 * segcl_file_end. On failure segcl_file_begin_stream has already removed the temporary. */
SEGCL_INTERNAL segcl_status segcl_file_begin_stream(segcl_diag *diag, const char *path,
                                                    segcl_file *out, FILE **stream);
SEGCL_INTERNAL segcl_status segcl_file_end_stream(segcl_diag *diag, segcl_file *f, FILE *stream,
                                                  segcl_status st);

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

/* ---- IEEE half precision (src/core/half.c) --------------------------------------------------- */

/* binary16 <-> binary32 as OpenCL's vstore_half_rte and vload_half do them: round to nearest,
 * ties to even; magnitudes from 65520 up become infinity; denormals both ways; NaN stays NaN
 * (quiet, sign and top payload bits kept). */
SEGCL_INTERNAL uint16_t segcl_half_from_float(float f);
SEGCL_INTERNAL float segcl_float_from_half(uint16_t h);
SEGCL_INTERNAL void segcl_halves_from_floats(const float *src, uint16_t *dst, size_t n);
SEGCL_INTERNAL void segcl_floats_from_halves(const uint16_t *src, float *dst, size_t n);

#endif /* SEGCL_CORE_H */
