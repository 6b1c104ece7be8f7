/*
 * safetensors reading and writing (format: https://github.com/huggingface/safetensors): a
 * model's tensors and a list of key/value strings as "__metadata__", whatever they mean.
 * Loading trusts nothing: header length, JSON, dtypes, shapes and byte ranges are all checked
 * against the file before a byte of tensor data is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef SEGCL_TESTING
#include <signal.h>
#endif

#include "io/checkpoint.h"

/* A U-Net's header is a few KiB, a PyTorch state_dict of thousands of tensors about 1 MiB; the
 * bound keeps a tampered header from costing gigabytes of parsing before it is refused. */
#define MAX_HEADER (8u << 20)

#ifdef SEGCL_TESTING
/* Test hook for the kill -9 test: with SEGCL_TEST_KILL_IN_SAVE=N the process kills itself
 * with SIGKILL halfway through writing the N-th checkpoint (counting from 1). */
static void maybe_die_in_save(segcl_context *ctx)
{
    static int saves;
    int n = ctx ? segcl_test_hooks_of(ctx)->kill_in_save : 0;
    if (n > 0 && ++saves == n)
        raise(SIGKILL);
}
#endif

/* ---- writing ---- */

typedef struct pending {
    const segcl_tensor *tensor; /* F32 data, or NULL for an I64 scalar */
    int64_t scalar;
    size_t bytes;
} pending;

/* Appends one tensor's header entry; every jansson result is checked, so running out of
 * memory is an error rather than a silently missing field. */
static segcl_status add_tensor(segcl_context *ctx, json_t *header, pending *list, size_t *n,
                               size_t *offset, const char *name, const segcl_tensor *t,
                               const int64_t *scalar)
{
    pending *p = &list[*n];
    p->tensor = t;
    p->scalar = scalar ? *scalar : 0;
    p->bytes = t ? t->numel * sizeof(float) : sizeof(int64_t);
    json_t *entry = json_object(), *shape = json_array(), *offsets = json_array();
    bool ok = entry && shape && offsets;
    for (int d = 0; ok && t && d < t->ndim; d++)
        ok = json_array_append_new(shape, json_integer(t->shape[d])) == 0;
    ok = ok && json_array_append_new(offsets, json_integer((json_int_t)*offset)) == 0 &&
         json_array_append_new(offsets, json_integer((json_int_t)(*offset + p->bytes))) == 0 &&
         json_object_set_new(entry, "dtype", json_string(t ? "F32" : "I64")) == 0;
    /* set_new takes its reference even when it fails */
    ok = ok && json_object_set(entry, "shape", shape) == 0 &&
         json_object_set(entry, "data_offsets", offsets) == 0 &&
         json_object_set(header, name, entry) == 0;
    json_decref(entry);
    json_decref(shape);
    json_decref(offsets);
    if (!ok)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                          "out of host memory writing the checkpoint header");
    (*n)++;
    *offset += p->bytes;
    return SEGCL_OK;
}

/* The metadata as a JSON object of strings (a NULL value is written as null); NULL when memory
 * runs out. */
static json_t *metadata_object(const segcl_metadata *md)
{
    json_t *object = json_object();
    bool ok = object != NULL;
    for (size_t i = 0; ok && i < md->count; i++) {
        const segcl_metadata_entry *e = &md->entries[i];
        ok = json_object_set_new(object, e->key, e->value ? json_string(e->value) : json_null()) ==
             0;
    }
    if (!ok) {
        json_decref(object);
        return NULL;
    }
    return object;
}

/* The header: metadata, then each parameter followed (for BN layers) by its buffers in
 * state_dict order, then the optimizer moments. */
static segcl_status build_header(segcl_context *ctx, segcl_model *model,
                                 const segcl_metadata *metadata, pending *list, size_t *n,
                                 char **json)
{
    json_t *header = json_object(), *md = metadata_object(metadata);
    segcl_status st = SEGCL_OK;
    if (!header || !md || json_object_set(header, "__metadata__", md) != 0)
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                        "out of host memory writing the checkpoint header");
    json_decref(md);
    size_t nparams = segcl_model_param_count(model), nbn = segcl_model_bn_count(model);
    size_t offset = 0, bn_next = 0;
    char name[112];
    for (size_t i = 0; i < nparams && !st; i++) {
        segcl_param *p = segcl_model_param(model, i);
        st = add_tensor(ctx, header, list, n, &offset, p->name, p->value, NULL);
        if (!st && p->kind == 3 && bn_next < nbn) {
            segcl_bn_layer *bn = segcl_model_bn(model, bn_next++);
            snprintf(name, sizeof name, "%s.running_mean", bn->prefix);
            st = add_tensor(ctx, header, list, n, &offset, name, bn->op.running_mean, NULL);
            snprintf(name, sizeof name, "%s.running_var", bn->prefix);
            if (!st)
                st = add_tensor(ctx, header, list, n, &offset, name, bn->op.running_var, NULL);
            snprintf(name, sizeof name, "%s.num_batches_tracked", bn->prefix);
            if (!st)
                st = add_tensor(ctx, header, list, n, &offset, name, NULL,
                                &bn->num_batches_tracked);
        }
    }
    for (size_t i = 0; i < nparams && !st; i++) {
        segcl_param *p = segcl_model_param(model, i);
        if (p->m) {
            snprintf(name, sizeof name, "optimizer.m.%s", p->name);
            st = add_tensor(ctx, header, list, n, &offset, name, p->m, NULL);
        }
        if (!st && p->v) {
            snprintf(name, sizeof name, "optimizer.v.%s", p->name);
            st = add_tensor(ctx, header, list, n, &offset, name, p->v, NULL);
        }
    }
    if (!st)
        st = segcl_json_text(segcl_context_diag(ctx), header, JSON_COMPACT | JSON_PRESERVE_ORDER,
                             json);
    json_decref(header);
    return st;
}

/* Writes the length, the header padded with spaces so tensor data starts 8-byte aligned, and
 * every tensor. */
static segcl_status write_body(segcl_context *ctx, int fd, const char *path, const char *json,
                               const pending *list, size_t n)
{
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8;
    uint8_t len_le[8];
    for (int i = 0; i < 8; i++)
        len_le[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    segcl_status st = segcl_write_all(segcl_context_diag(ctx), fd, len_le, 8, path);
    if (!st)
        st = segcl_write_all(segcl_context_diag(ctx), fd, json, hlen, path);
    if (!st && padded > hlen)
        st = segcl_write_all(segcl_context_diag(ctx), fd, "        ", padded - hlen, path);
    float *host = NULL;
    size_t host_cap = 0;
    for (size_t i = 0; i < n && !st; i++) {
        const pending *p = &list[i];
#ifdef SEGCL_TESTING
        if (i == n / 2)
            maybe_die_in_save(ctx);
#endif
        if (!p->tensor) {
            uint8_t le[8];
            for (int b = 0; b < 8; b++)
                le[b] = (uint8_t)((uint64_t)p->scalar >> (8 * b));
            st = segcl_write_all(segcl_context_diag(ctx), fd, le, 8, path);
            continue;
        }
        if (p->tensor->numel > host_cap) {
            segcl_free(host);
            host_cap = p->tensor->numel;
            if (!(host = segcl_malloc(host_cap * sizeof *host))) {
                st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                                "out of host memory writing %s", path);
                break;
            }
        }
        /* this library targets little-endian hosts, as safetensors' byte order */
        st = segcl_tensor_read((segcl_tensor *)p->tensor, host, p->tensor->numel);
        if (!st)
            st = segcl_write_all(segcl_context_diag(ctx), fd, host, p->bytes, path);
    }
    segcl_free(host);
    return st;
}

segcl_status segcl_checkpoint_save(segcl_context *ctx, const char *path, segcl_model *model,
                                   const segcl_metadata *metadata)
{
    size_t max = 3 * segcl_model_param_count(model) + 3 * segcl_model_bn_count(model), n = 0;
    pending *list = segcl_calloc(max, sizeof *list);
    char *json = NULL;
    segcl_file file = {-1, path, NULL};
    segcl_status st = SEGCL_OK;
    if (!list)
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory saving %s",
                        path);
    if (!st)
        st = build_header(ctx, model, metadata, list, &n, &json);
    if (!st && !(st = segcl_file_begin(segcl_context_diag(ctx), path, &file)))
        st = segcl_file_end(segcl_context_diag(ctx), &file,
                            write_body(ctx, file.fd, path, json, list, n));
    segcl_free(json);
    segcl_free(list);
    return st;
}

/* ---- reading ---- */

typedef struct parsed {
    segcl_jvalue *header;
    uint64_t data_start, data_size;
} parsed;

/* Checks one tensor entry: known dtype, a shape of non-negative ints whose product stays
 * below 2^40 elements (checked before each multiplication), offsets inside the data, and a
 * byte length that matches the shape. */
static bool tensor_entry_ok(const segcl_jvalue *val, uint64_t data_size)
{
    if (segcl_json_type(val) != SEGCL_JSON_OBJECT)
        return false;
    const segcl_jvalue *sh = segcl_json_get(val, "shape"),
                       *off = segcl_json_get(val, "data_offsets");
    const char *dtype = segcl_json_string(segcl_json_get(val, "dtype"));
    size_t esize = !dtype ? 0 : !strcmp(dtype, "F32") || !strcmp(dtype, "I32") ? 4
                             : !strcmp(dtype, "I64") || !strcmp(dtype, "F64") ? 8
                             : !strcmp(dtype, "F16") || !strcmp(dtype, "BF16") ? 2 : 0;
    if (!esize || segcl_json_type(sh) != SEGCL_JSON_ARRAY ||
        segcl_json_type(off) != SEGCL_JSON_ARRAY || segcl_json_size(off) != 2 ||
        segcl_json_size(sh) > 8)
        return false;
    const uint64_t limit = 1ull << 40;
    uint64_t numel = 1;
    for (size_t d = 0; d < segcl_json_size(sh); d++) {
        int64_t extent;
        if (!segcl_json_integer(segcl_json_at(sh, d), &extent) || extent < 0)
            return false;
        if (extent && numel > limit / (uint64_t)extent)
            return false;
        numel *= (uint64_t)extent;
    }
    int64_t begin, end;
    if (!segcl_json_integer(segcl_json_at(off, 0), &begin) ||
        !segcl_json_integer(segcl_json_at(off, 1), &end))
        return false;
    return begin >= 0 && end >= begin && (uint64_t)end <= data_size &&
           (uint64_t)(end - begin) == numel * esize;
}

/* Reads and checks the header of the safetensors stream f. On success out->header must be
 * released by the caller; on failure it is NULL. */
static segcl_status parse_header(segcl_context *ctx, const char *path, FILE *f, parsed *out)
{
    memset(out, 0, sizeof *out);
    char *text = NULL;
    segcl_jvalue *header = NULL;
    segcl_status st = SEGCL_OK;
    long fsize;
    uint8_t len_le[8];
    if (fseek(f, 0, SEEK_END) != 0 || (fsize = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot read %s", path);
        goto done;
    }
    if (fsize < 8 || fread(len_le, 1, 8, f) != 8) {
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: truncated checkpoint (no header)", path);
        goto done;
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)len_le[i] << (8 * i);
    if (hlen > MAX_HEADER && hlen <= (uint64_t)fsize - 8) {
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                        "%s: a checkpoint header of %llu bytes, over the %u MiB segcl reads "
                        "(edited?)",
                        path, (unsigned long long)hlen, MAX_HEADER >> 20);
        goto done;
    }
    if (hlen == 0 || hlen > MAX_HEADER || hlen > (uint64_t)fsize - 8) {
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                        "%s: not a safetensors checkpoint (header length %llu, file %ld bytes)",
                        path, (unsigned long long)hlen, fsize);
        goto done;
    }
    if (!(text = segcl_malloc((size_t)hlen + 1))) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory reading %s",
                        path);
        goto done;
    }
    if (fread(text, 1, (size_t)hlen, f) != hlen) {
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: truncated checkpoint header", path);
        goto done;
    }
    if ((st = segcl_json_parse(segcl_context_diag(ctx), path, text, (size_t)hlen, &header)))
        goto done;
    if (segcl_json_type(header) != SEGCL_JSON_OBJECT) {
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: corrupt checkpoint header: not an object",
                        path);
        goto done;
    }
    uint64_t data_size = (uint64_t)fsize - 8 - hlen;
    for (size_t i = 0; i < segcl_json_size(header); i++) {
        const char *key = segcl_json_key_at(header, i);
        const segcl_jvalue *val = segcl_json_at(header, i);
        if (!strcmp(key, "__metadata__")) {
            if (segcl_json_type(val) != SEGCL_JSON_OBJECT) {
                st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: __metadata__ is not an object",
                                path);
                goto done;
            }
            continue;
        }
        if (!tensor_entry_ok(val, data_size)) {
            st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                            "%s: tensor '%s' has a bad dtype, shape or byte range (file "
                            "truncated or corrupt?)",
                            path, key);
            goto done;
        }
    }
    out->header = header;
    header = NULL;
    out->data_start = 8 + hlen;
    out->data_size = data_size;
done:
    segcl_json_free(header);
    segcl_free(text);
    return st;
}

/* Copies the header's __metadata__ (checked to be an object) into md, in the file's order; a
 * value that is not a string is kept as a NULL value, for the reader of that key to refuse. */
static segcl_status copy_metadata(segcl_context *ctx, const char *path, const segcl_jvalue *header,
                                  segcl_metadata *md, bool *has_optimizer_state)
{
    const segcl_jvalue *object = segcl_json_get(header, "__metadata__");
    for (size_t i = 0; i < segcl_json_size(object); i++)
        if (!segcl_metadata_add(md, segcl_json_key_at(object, i),
                                segcl_json_string(segcl_json_at(object, i)))) {
            segcl_metadata_clear(md);
            return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory reading %s",
                              path);
        }
    /* any optimizer tensor, whatever the model's first parameter is called */
    if (has_optimizer_state) {
        *has_optimizer_state = false;
        for (size_t i = 0; i < segcl_json_size(header) && !*has_optimizer_state; i++)
            *has_optimizer_state = !strncmp(segcl_json_key_at(header, i), "optimizer.", 10);
    }
    return SEGCL_OK;
}

segcl_status segcl_checkpoint_read_metadata_stream(segcl_context *ctx, const char *name, FILE *f,
                                                   segcl_metadata *md, bool *has_optimizer_state)
{
    parsed p;
    segcl_status st = parse_header(ctx, name, f, &p);
    if (!st)
        st = copy_metadata(ctx, name, p.header, md, has_optimizer_state);
    segcl_json_free(p.header);
    return st;
}

segcl_status segcl_checkpoint_read_metadata(segcl_context *ctx, const char *path,
                                            segcl_metadata *md, bool *has_optimizer_state)
{
    FILE *f;
    segcl_status st = segcl_open_read(segcl_context_diag(ctx), path, "checkpoint ", &f);
    if (st)
        return st;
    st = segcl_checkpoint_read_metadata_stream(ctx, path, f, md, has_optimizer_state);
    fclose(f);
    return st;
}

/* Reads tensor `name` into t (shape must match; F32, or F64 converted) */
static segcl_status read_tensor(segcl_context *ctx, const char *path, FILE *f, const parsed *p,
                                const char *name, segcl_tensor *t, bool required, bool *found)
{
    const segcl_jvalue *e = segcl_json_get(p->header, name);
    if (found)
        *found = e != NULL;
    if (!e)
        return required ? segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                                     "%s: no tensor '%s' (a checkpoint of another model?)", path,
                                     name)
                        : SEGCL_OK;
    const segcl_jvalue *sh = segcl_json_get(e, "shape");
    bool same = segcl_json_size(sh) == (size_t)t->ndim;
    for (int d = 0; same && d < t->ndim; d++) {
        int64_t extent = -1;
        same = segcl_json_integer(segcl_json_at(sh, (size_t)d), &extent) && extent == t->shape[d];
    }
    if (!same) {
        char want[64];
        segcl_shape_format(t->ndim, t->shape, want, sizeof want);
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                          "%s: tensor '%s' has another shape than this model's %s (check "
                          "the model's arch, classes, width and depth)",
                          path, name, want);
    }
    const char *dtype = segcl_json_string(segcl_json_get(e, "dtype"));
    if (strcmp(dtype, "F32") != 0)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: tensor '%s' is %s, segcl reads F32", path,
                          name, dtype);
    int64_t begin = 0;
    segcl_json_integer(segcl_json_at(segcl_json_get(e, "data_offsets"), 0), &begin);
    float *host = segcl_malloc(t->numel * sizeof *host);
    if (!host)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    segcl_status st = SEGCL_OK;
    if (fseek(f, (long)(p->data_start + (uint64_t)begin), SEEK_SET) != 0 ||
        fread(host, sizeof *host, t->numel, f) != t->numel)
        st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: truncated data of tensor '%s'", path, name);
    for (size_t i = 0; !st && i < t->numel; i++)
        if (!isfinite(host[i]))
            st = segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: tensor '%s' holds NaN or infinity",
                            path, name);
    if (!st)
        st = segcl_tensor_write(t, host, t->numel);
    segcl_free(host);
    return st;
}

static segcl_status read_i64(segcl_context *ctx, const char *path, FILE *f, const parsed *p,
                             const char *name, int64_t *out)
{
    const segcl_jvalue *e = segcl_json_get(p->header, name);
    if (!e)
        return SEGCL_OK; /* optional buffer */
    const char *dtype = segcl_json_string(segcl_json_get(e, "dtype"));
    const segcl_jvalue *offsets = segcl_json_get(e, "data_offsets");
    int64_t begin = 0, end = 0;
    segcl_json_integer(segcl_json_at(offsets, 0), &begin);
    segcl_json_integer(segcl_json_at(offsets, 1), &end);
    if (strcmp(dtype, "I64") != 0 || end - begin != 8)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: '%s' must be one I64", path, name);
    uint8_t le[8];
    if (fseek(f, (long)(p->data_start + (uint64_t)begin), SEEK_SET) != 0 || fread(le, 1, 8, f) != 8)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: truncated '%s'", path, name);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)le[i] << (8 * i);
    *out = (int64_t)v;
    return SEGCL_OK;
}

segcl_status segcl_checkpoint_load(segcl_context *ctx, const char *path, segcl_model *model,
                                   unsigned moments)
{
    const bool load_optimizer = moments != 0;
    const unsigned need[2] = {SEGCL_CHECKPOINT_NEED_M, SEGCL_CHECKPOINT_NEED_V};
    FILE *f;
    segcl_status st = segcl_open_read(segcl_context_diag(ctx), path, "checkpoint ", &f);
    if (st)
        return st;
    parsed p;
    st = parse_header(ctx, path, f, &p);
    if (st) {
        fclose(f);
        return st;
    }
    for (size_t i = 0; i < segcl_model_param_count(model) && !st; i++) {
        segcl_param *prm = segcl_model_param(model, i);
        st = read_tensor(ctx, path, f, &p, prm->name, prm->value, true, NULL);
    }
    for (size_t i = 0; i < segcl_model_bn_count(model) && !st; i++) {
        segcl_bn_layer *bn = segcl_model_bn(model, i);
        char name[96];
        snprintf(name, sizeof name, "%s.running_mean", bn->prefix);
        st = read_tensor(ctx, path, f, &p, name, bn->op.running_mean, true, NULL);
        snprintf(name, sizeof name, "%s.running_var", bn->prefix);
        if (!st)
            st = read_tensor(ctx, path, f, &p, name, bn->op.running_var, true, NULL);
        snprintf(name, sizeof name, "%s.num_batches_tracked", bn->prefix);
        if (!st)
            st = read_i64(ctx, path, f, &p, name, &bn->num_batches_tracked);
    }
    for (size_t i = 0; load_optimizer && i < segcl_model_param_count(model) && !st; i++) {
        segcl_param *prm = segcl_model_param(model, i);
        const char *which[2] = {"m", "v"};
        segcl_tensor **slot[2] = {&prm->m, &prm->v};
        for (int k = 0; k < 2 && !st; k++) {
            char name[96];
            snprintf(name, sizeof name, "optimizer.%s.%s", which[k], prm->name);
            if (!segcl_json_get(p.header, name)) {
                if (moments & need[k])
                    st = segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                                    "%s: no optimizer state '%s', which the run's optimizer "
                                    "needs to continue exactly (edited, or not a training "
                                    "checkpoint)",
                                    path, name);
                continue;
            }
            if (!*slot[k]) /* the model keeps every parameter's state together */
                st = segcl_model_optimizer_state(model, k == 1);
            if (!st)
                st = read_tensor(ctx, path, f, &p, name, *slot[k], true, NULL);
        }
    }
    segcl_json_free(p.header);
    fclose(f);
    return st;
}
