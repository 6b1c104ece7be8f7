/*
 * `segcl tune`'s results per device: stored next to the kernel cache (a private folder, read
 * only when it is one, and only a regular file there), keyed by the device's
 * name, its driver version and segcl's version (a new driver or a new segcl is untuned again),
 * and read by every context opened on that device. Plus the CLBlast Xgemm parameter sets that
 * tune tries on GPU-style devices.
 */
#include <clblast_c.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"
#include "segcl_version.h"

#define TUNING_FORMAT 1

char *segcl_tuning_path(const char *cache_dir, const segcl_device_info *info, bool cpu_style)
{
    if (!cache_dir || !info)
        return NULL;
    /* the folder beside the kernel cache's */
    size_t base = strlen(cache_dir);
    while (base > 1 && cache_dir[base - 1] == '/')
        base--;
    while (base > 0 && cache_dir[base - 1] != '/')
        base--;
    segcl_sha256 h;
    segcl_sha256_init(&h);
    const char *parts[] = {info->platform_name, info->name, info->driver_version, SEGCL_VERSION,
                           cpu_style ? "cpu-style" : "gpu-style"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        segcl_sha256_update(&h, parts[i], strlen(parts[i]) + 1);
    uint8_t digest[32];
    char hex[65];
    segcl_sha256_final(&h, digest);
    segcl_sha256_hex(digest, hex);
    hex[16] = '\0';
    /* a readable name: the device's, letters and digits only */
    char name[48];
    size_t n = 0;
    for (const char *c = info->name; *c && n + 1 < sizeof name; c++)
        name[n++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                            (*c >= '0' && *c <= '9')
                        ? *c
                        : '-';
    name[n] = '\0';
    size_t len = base + strlen("tuning/") + n + 1 + 16 + strlen(".json") + 1;
    char *path = segcl_malloc(len);
    if (path)
        snprintf(path, len, "%.*stuning/%s-%s.json", (int)base, cache_dir, name, hex);
    return path;
}

/* Fields of a tuning file, with their ranges. */
typedef struct field {
    const char *key;
    size_t offset;
    bool is_int;
    int64_t lo, hi;
} field;

#define UFIELD(k, lo, hi) {#k, offsetof(segcl_tuning, k), false, lo, hi}
#define IFIELD(k, lo, hi) {#k, offsetof(segcl_tuning, k), true, lo, hi}
static const field fields[] = {
    IFIELD(gemm_backend, 0, 2),  UFIELD(gemm_vec, 0, 16),     UFIELD(gemm_mr, 0, 32),
    UFIELD(mc_tiles, 0, 256),    UFIELD(nc_tiles, 0, 256),    UFIELD(kc, 0, 4096),
    UFIELD(run_length, 0, 65536), UFIELD(elem_local, 0, 4096), IFIELD(clblast_set, 0, 64),
    UFIELD(conv_tm, 0, 1024),    UFIELD(conv_tn, 0, 1024),    UFIELD(conv_wm, 0, 64),
    UFIELD(conv_wn, 0, 64),      UFIELD(conv_tk, 0, 256),     UFIELD(conv_vw, 0, 4),
};

segcl_status segcl_tuning_load(segcl_context *ctx, const char *path,
                               const segcl_device_info *info, segcl_tuning *t, bool *found)
{
    *found = false;
    memset(t, 0, sizeof *t);
    char *text = NULL;
    size_t len = 0;
    segcl_jvalue *root = NULL;
    bool absent = false;
    /* only from a folder that no other user can write, and only a regular file: a FIFO
     * planted at the path is refused, not waited on */
    char *dir = segcl_strdup(path);
    if (!dir)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    segcl_status st = slash ? segcl_check_private_dir(segcl_context_diag(ctx), dir, &absent)
                            : SEGCL_OK;
    segcl_free(dir);
    if (st || absent ||
        (st = segcl_read_regular_file(segcl_context_diag(ctx), path, 1 << 20, &text, &len,
                                      &absent)) ||
        absent) /* not tuned */
        goto done;
    if ((st = segcl_json_parse(segcl_context_diag(ctx), path, text, len, &root)))
        goto done;
    const segcl_jvalue *params = segcl_json_get(root, "params");
    const char *device = segcl_json_string(segcl_json_get(root, "device"));
    const char *driver = segcl_json_string(segcl_json_get(root, "driver"));
    const char *version = segcl_json_string(segcl_json_get(root, "segcl_version"));
    int64_t format = 0;
    if (!segcl_json_integer(segcl_json_get(root, "format"), &format) || format != TUNING_FORMAT ||
        !params || segcl_json_type(params) != SEGCL_JSON_OBJECT || !device || !driver ||
        !version || strcmp(device, info->name) || strcmp(driver, info->driver_version) ||
        strcmp(version, SEGCL_VERSION)) {
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                        "%s: not a segcl %s tuning file for %s (driver %s); run 'segcl tune' "
                        "again or remove it",
                        path, SEGCL_VERSION, info->name, info->driver_version);
        goto done;
    }
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const field *f = &fields[i];
        const segcl_jvalue *v = segcl_json_get(params, f->key);
        int64_t x = 0;
        if (!v)
            continue; /* absent: the default */
        if (!segcl_json_integer(v, &x) || x < f->lo || x > f->hi) {
            st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                            "%s: tuning parameter %s must be an integer in %lld..%lld", path,
                            f->key, (long long)f->lo, (long long)f->hi);
            goto done;
        }
        if (f->is_int)
            *(int *)((char *)t + f->offset) = (int)x;
        else
            *(unsigned *)((char *)t + f->offset) = (unsigned)x;
    }
    /* combinations the kernels rely on */
    if ((t->gemm_vec && t->gemm_vec != 8 && t->gemm_vec != 16) ||
        (t->elem_local & (t->elem_local - 1))) {
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                        "%s: gemm_vec must be 8 or 16 and elem_local a power of two", path);
        goto done;
    }
    *found = true;
done:
    if (st)
        memset(t, 0, sizeof *t);
    segcl_json_free(root);
    segcl_free(text);
    return st;
}

segcl_status segcl_tuning_save(segcl_context *ctx, const char *path,
                               const segcl_device_info *info, const segcl_tuning *t,
                               json_t *report)
{
    segcl_status st = SEGCL_OK;
    json_t *root = json_object(), *params = json_object();
    char *dir = segcl_strdup(path);
    if (!root || !params || !dir) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const field *f = &fields[i];
        json_int_t v = f->is_int ? (json_int_t) * (const int *)((const char *)t + f->offset)
                                 : (json_int_t) * (const unsigned *)((const char *)t + f->offset);
        if (json_object_set_new(params, f->key, json_integer(v))) {
            st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            goto done;
        }
    }
    if (json_object_set_new(root, "format", json_integer(TUNING_FORMAT)) ||
        json_object_set_new(root, "device", json_string(info->name)) ||
        json_object_set_new(root, "platform", json_string(info->platform_name)) ||
        json_object_set_new(root, "driver", json_string(info->driver_version)) ||
        json_object_set_new(root, "segcl_version", json_string(SEGCL_VERSION)) ||
        json_object_set_new(root, "kernel_style",
                            json_string(ctx->params.cpu_style ? "cpu" : "gpu")) ||
        json_object_set(root, "params", params) ||
        (report && json_object_set(root, "measured", report))) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    if (slash && (st = segcl_make_private_dir(segcl_context_diag(ctx), dir)))
        goto done;
    st = segcl_json_write_file(segcl_context_diag(ctx), path, root);
done:
    json_decref(params);
    json_decref(root);
    segcl_free(dir);
    return st;
}

/* CLBlast 1.5's Xgemm parameters, and the sets tune tries besides CLBlast's own database:
 * work-groups of 256 (square tiles, vectors of 4), 256 (tall tiles, vectors of 4 and 8, local
 * memory for both operands) and 64 work-items (small devices). Each is checked against the
 * constraints in CLBlast's xgemm kernel (tile sizes multiples of the thread and vector
 * dimensions) and, on the device, by segcl's GEMM check before it is timed. */
static const char *const xgemm_names[] = {"GEMMK", "KREG", "KWG",   "KWI", "MDIMA", "MDIMC",
                                          "MWG",   "NDIMB", "NDIMC", "NWG", "SA",    "SB",
                                          "STRM",  "STRN", "VWM",   "VWN"};
static const size_t xgemm_sets[][16] = {
    {0, 1, 16, 2, 16, 16, 64, 16, 16, 64, 1, 1, 0, 0, 4, 4},
    {0, 1, 32, 2, 32, 32, 128, 8, 8, 64, 1, 1, 1, 1, 4, 8},
    {0, 1, 16, 2, 8, 8, 32, 8, 8, 32, 0, 0, 0, 0, 1, 1},
};

int segcl_clblast_set_count(void)
{
    return (int)(sizeof xgemm_sets / sizeof xgemm_sets[0]);
}

segcl_status segcl_clblast_apply_set(segcl_context *ctx, int set)
{
    if (set <= 0)
        return SEGCL_OK;
    if (set > segcl_clblast_set_count())
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "no CLBlast parameter set %d", set);
    CLBlastStatusCode code =
        CLBlastOverrideParameters(ctx->dev->device, "Xgemm", CLBlastPrecisionSingle,
                                  sizeof xgemm_names / sizeof xgemm_names[0],
                                  (const char **)xgemm_names, xgemm_sets[set - 1]);
    if (code != CLBlastSuccess)
        return segcl_fail(ctx, SEGCL_ERROR_BLAS,
                          "CLBlastOverrideParameters failed (%d) for Xgemm set %d on %s",
                          (int)code, set, ctx->dev->info.name);
    ctx->clblast_used = true;
    return SEGCL_OK;
}
