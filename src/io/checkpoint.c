/*
 * safetensors reading and writing (format: https://github.com/huggingface/safetensors).
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

#include "io/checkpoint.h"
#include "segcl_version.h"

#define MAX_HEADER (64u << 20)

void segcl_checkpoint_meta_defaults(segcl_checkpoint_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    meta->model = (segcl_model_config){SEGCL_ARCH_UNET, 1, 16, 4, 3};
    meta->size = 256;
    for (int c = 0; c < 3; c++)
        meta->std[c] = 1.0f;
    segcl_optimizer_defaults(&meta->optimizer, SEGCL_OPTIMIZER_ADAM);
}

/* ---- writing ---- */

typedef struct pending {
    const char *name; /* not owned */
    char owned_name[96];
    const segcl_tensor *tensor; /* F32 data, or NULL for an I64 scalar */
    int64_t scalar;
    size_t bytes;
} pending;

static segcl_status add_tensor(segcl_context *ctx, json_t *header, pending *list, size_t *n,
                               size_t *offset, const char *name, const segcl_tensor *t,
                               const int64_t *scalar)
{
    pending *p = &list[(*n)++];
    snprintf(p->owned_name, sizeof p->owned_name, "%s", name);
    p->name = p->owned_name;
    p->tensor = t;
    p->scalar = scalar ? *scalar : 0;
    p->bytes = t ? t->numel * sizeof(float) : sizeof(int64_t);
    json_t *entry = json_object(), *shape = json_array(), *offsets = json_array();
    if (!entry || !shape || !offsets) {
        json_decref(entry), json_decref(shape), json_decref(offsets);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    if (t)
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
    json_array_append_new(offsets, json_integer((json_int_t)*offset));
    json_array_append_new(offsets, json_integer((json_int_t)(*offset + p->bytes)));
    json_object_set_new(entry, "dtype", json_string(t ? "F32" : "I64"));
    json_object_set_new(entry, "shape", shape);
    json_object_set_new(entry, "data_offsets", offsets);
    if (json_object_set_new(header, name, entry))
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    *offset += p->bytes;
    return SEGCL_OK;
}

static const char *arch_name(segcl_arch a)
{
    return a == SEGCL_ARCH_SEGNET ? "segnet" : "unet";
}

static const char *optimizer_name(segcl_optimizer_kind k)
{
    return k == SEGCL_OPTIMIZER_SGD ? "sgd" : k == SEGCL_OPTIMIZER_ADAMW ? "adamw" : "adam";
}

static json_t *metadata(const segcl_checkpoint_meta *m)
{
    json_t *md = json_object();
    char buf[1100];
#define PUT(key, fmt, ...)                                                                         \
    do {                                                                                           \
        snprintf(buf, sizeof buf, fmt, __VA_ARGS__);                                               \
        json_object_set_new(md, key, json_string(buf));                                            \
    } while (0)
    PUT("format", "%s", "segcl");
    PUT("segcl_version", "%s", SEGCL_VERSION);
    PUT("arch", "%s", arch_name(m->model.arch));
    PUT("classes", "%d", m->model.classes);
    PUT("width", "%d", m->model.width);
    PUT("depth", "%d", m->model.depth);
    PUT("in_channels", "%d", m->model.in_channels);
    PUT("size", "%d", m->size);
    PUT("mean", "%.9g,%.9g,%.9g", m->mean[0], m->mean[1], m->mean[2]);
    PUT("std", "%.9g,%.9g,%.9g", m->std[0], m->std[1], m->std[2]);
    PUT("epoch", "%ld", m->epoch);
    PUT("step", "%ld", m->step);
    PUT("seed", "%llu", (unsigned long long)m->seed);
    PUT("best_dice", "%.17g", m->best_dice);
    PUT("loss", "%d", m->classes_loss);
    PUT("optimizer", "%s", optimizer_name(m->optimizer.kind));
    PUT("lr", "%.9g", m->optimizer.lr);
    PUT("weight_decay", "%.9g", m->optimizer.weight_decay);
    PUT("momentum", "%.9g", m->optimizer.momentum);
    PUT("nesterov", "%d", m->optimizer.nesterov ? 1 : 0);
    PUT("optimizer_step", "%ld", m->optimizer.step);
    PUT("data", "%s", m->data_dir);
    PUT("data_format", "%d", m->format);
    PUT("epochs", "%d", m->epochs);
    PUT("batch", "%d", m->batch);
    PUT("batch_in_epoch", "%ld", m->batch_in_epoch);
    PUT("lr_schedule", "%d", m->lr_schedule);
    PUT("base_lr", "%.9g", m->base_lr);
    PUT("val_fraction", "%.9g", m->val_fraction);
    PUT("augment", "%d", m->augment ? 1 : 0);
    PUT("shuffle", "%d", m->shuffle ? 1 : 0);
    PUT("max_steps", "%ld", m->max_steps);
#undef PUT
    return md;
}

static segcl_status write_all(segcl_context *ctx, int fd, const void *data, size_t n,
                              const char *path)
{
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return SEGCL_OK;
}

segcl_status segcl_checkpoint_save(segcl_context *ctx, const char *path, segcl_model *model,
                                   const segcl_checkpoint_meta *meta)
{
    size_t nparams = segcl_model_param_count(model), nbn = segcl_model_bn_count(model);
    size_t max = 3 * nparams + 3 * nbn;
    pending *list = segcl_calloc(max, sizeof *list);
    json_t *header = json_object();
    segcl_status st = SEGCL_OK;
    if (!list || !header) {
        segcl_free(list);
        json_decref(header);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    json_object_set_new(header, "__metadata__", metadata(meta));
    size_t n = 0, offset = 0;
    /* state_dict order: each BN's parameters followed by its buffers */
    size_t bn_next = 0;
    for (size_t i = 0; i < nparams && !st; i++) {
        segcl_param *p = segcl_model_param(model, i);
        st = add_tensor(ctx, header, list, &n, &offset, p->name, p->value, NULL);
        if (!st && p->kind == 3 && bn_next < nbn) {
            segcl_bn_layer *bn = segcl_model_bn(model, bn_next++);
            char name[96];
            snprintf(name, sizeof name, "%s.running_mean", bn->prefix);
            st = add_tensor(ctx, header, list, &n, &offset, name, bn->op.running_mean, NULL);
            snprintf(name, sizeof name, "%s.running_var", bn->prefix);
            if (!st)
                st = add_tensor(ctx, header, list, &n, &offset, name, bn->op.running_var, NULL);
            snprintf(name, sizeof name, "%s.num_batches_tracked", bn->prefix);
            if (!st)
                st = add_tensor(ctx, header, list, &n, &offset, name, NULL,
                                &bn->num_batches_tracked);
        }
    }
    for (size_t i = 0; i < nparams && !st; i++) {
        segcl_param *p = segcl_model_param(model, i);
        char name[96];
        if (p->m) {
            snprintf(name, sizeof name, "optimizer.m.%s", p->name);
            st = add_tensor(ctx, header, list, &n, &offset, name, p->m, NULL);
        }
        if (!st && p->v) {
            snprintf(name, sizeof name, "optimizer.v.%s", p->name);
            st = add_tensor(ctx, header, list, &n, &offset, name, p->v, NULL);
        }
    }
    char *json = st ? NULL : json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(header);
    if (!st && !json)
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    size_t tlen = strlen(path) + 32;
    char *tmp = st ? NULL : segcl_malloc(tlen);
    if (!st && !tmp)
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    int fd = -1;
    if (!st) {
        snprintf(tmp, tlen, "%s.tmp%ld", path, (long)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot create %s: %s", tmp, strerror(errno));
    }
    if (!st) {
        /* the header is padded with spaces so tensor data starts 8-byte aligned */
        size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8;
        uint8_t len_le[8];
        for (int i = 0; i < 8; i++)
            len_le[i] = (uint8_t)((uint64_t)padded >> (8 * i));
        st = write_all(ctx, fd, len_le, 8, tmp);
        if (!st)
            st = write_all(ctx, fd, json, hlen, tmp);
        if (!st && padded > hlen)
            st = write_all(ctx, fd, "        ", padded - hlen, tmp);
    }
    float *host = NULL;
    size_t host_cap = 0;
    for (size_t i = 0; i < n && !st; i++) {
        pending *p = &list[i];
        if (!p->tensor) {
            uint8_t le[8];
            for (int b = 0; b < 8; b++)
                le[b] = (uint8_t)((uint64_t)p->scalar >> (8 * b));
            st = write_all(ctx, fd, le, 8, tmp);
            continue;
        }
        if (p->tensor->numel > host_cap) {
            segcl_free(host);
            host_cap = p->tensor->numel;
            host = segcl_malloc(host_cap * sizeof *host);
            if (!host) {
                st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
        }
        /* this library targets little-endian hosts, as safetensors' byte order */
        st = segcl_tensor_read((segcl_tensor *)p->tensor, host, p->tensor->numel);
        if (!st)
            st = write_all(ctx, fd, host, p->bytes, tmp);
    }
    segcl_free(host);
    if (fd >= 0) {
        if (!st && fsync(fd) != 0)
            st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot sync %s: %s", tmp, strerror(errno));
        if (close(fd) != 0 && !st)
            st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot close %s: %s", tmp, strerror(errno));
        if (!st && rename(tmp, path) != 0)
            st = segcl_fail(ctx, SEGCL_ERROR_IO, "cannot rename %s to %s: %s", tmp, path,
                            strerror(errno));
        if (st)
            unlink(tmp);
    }
    if (!st) {
        /* make the rename itself durable */
        char *dir = segcl_strdup(path);
        if (dir) {
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = '\0';
            int dfd = open(slash ? dir : ".", O_RDONLY);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            segcl_free(dir);
        }
    }
    free(json);
    segcl_free(tmp);
    segcl_free(list);
    return st;
}

/* ---- reading ---- */

typedef struct parsed {
    json_t *header;
    uint64_t data_start, data_size;
} parsed;

static segcl_status parse_header(segcl_context *ctx, const char *path, FILE *f, parsed *out)
{
    memset(out, 0, sizeof *out);
    if (fseek(f, 0, SEEK_END) != 0)
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot read %s", path);
    long fsize = ftell(f);
    rewind(f);
    uint8_t len_le[8];
    if (fsize < 8 || fread(len_le, 1, 8, f) != 8)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: truncated checkpoint (no header)", path);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)len_le[i] << (8 * i);
    if (hlen == 0 || hlen > MAX_HEADER || hlen > (uint64_t)fsize - 8)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                          "%s: not a safetensors checkpoint (header length %llu, file %ld bytes)",
                          path, (unsigned long long)hlen, fsize);
    char *text = segcl_malloc((size_t)hlen + 1);
    if (!text)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (fread(text, 1, (size_t)hlen, f) != hlen) {
        segcl_free(text);
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: truncated checkpoint header", path);
    }
    json_error_t jerr;
    out->header = json_loadb(text, (size_t)hlen, 0, &jerr);
    segcl_free(text);
    if (!out->header || !json_is_object(out->header)) {
        json_decref(out->header);
        out->header = NULL;
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: corrupt checkpoint header: %s", path,
                          jerr.text);
    }
    out->data_start = 8 + hlen;
    out->data_size = (uint64_t)fsize - out->data_start;
    /* every tensor: known dtype, shape of non-negative ints, offsets inside the data, and a
     * byte length that matches the shape */
    const char *key;
    json_t *val;
    json_object_foreach(out->header, key, val)
    {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(val)) {
                json_decref(out->header);
                return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: __metadata__ is not an object",
                                  path);
            }
            continue;
        }
        json_t *dt = json_object_get(val, "dtype"), *sh = json_object_get(val, "shape"),
               *off = json_object_get(val, "data_offsets");
        const char *dtype = json_string_value(dt);
        size_t esize = !dtype ? 0 : !strcmp(dtype, "F32") || !strcmp(dtype, "I32") ? 4
                                 : !strcmp(dtype, "I64") || !strcmp(dtype, "F64") ? 8
                                 : !strcmp(dtype, "F16") || !strcmp(dtype, "BF16") ? 2 : 0;
        bool ok = esize && json_is_array(sh) && json_is_array(off) && json_array_size(off) == 2 &&
                  json_array_size(sh) <= 8;
        uint64_t numel = 1;
        for (size_t d = 0; ok && d < json_array_size(sh); d++) {
            json_t *e = json_array_get(sh, d);
            ok = json_is_integer(e) && json_integer_value(e) >= 0 &&
                 json_integer_value(e) < (1ll << 40);
            if (ok)
                numel *= (uint64_t)json_integer_value(e);
            ok = ok && numel < (1ull << 40);
        }
        json_t *b = ok ? json_array_get(off, 0) : NULL, *e = ok ? json_array_get(off, 1) : NULL;
        ok = ok && json_is_integer(b) && json_is_integer(e) && json_integer_value(b) >= 0 &&
             json_integer_value(e) >= json_integer_value(b) &&
             (uint64_t)json_integer_value(e) <= out->data_size &&
             (uint64_t)(json_integer_value(e) - json_integer_value(b)) == numel * esize;
        if (!ok) {
            json_decref(out->header);
            out->header = NULL;
            return segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                              "%s: tensor '%s' has a bad dtype, shape or byte range (file "
                              "truncated or corrupt?)",
                              path, key);
        }
    }
    return SEGCL_OK;
}

static const char *md_get(json_t *md, const char *key)
{
    return md ? json_string_value(json_object_get(md, key)) : NULL;
}

static segcl_status fill_meta(segcl_context *ctx, const char *path, json_t *header,
                              segcl_checkpoint_meta *m)
{
    segcl_checkpoint_meta_defaults(m);
    json_t *md = json_object_get(header, "__metadata__");
    const char *fmt = md_get(md, "format");
    m->from_segcl = fmt && !strcmp(fmt, "segcl");
    if (!m->from_segcl)
        return SEGCL_OK;
    const char *arch = md_get(md, "arch");
    if (!arch || (strcmp(arch, "unet") && strcmp(arch, "segnet")))
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: unknown architecture '%s' in metadata",
                          path, arch ? arch : "(none)");
    m->model.arch = !strcmp(arch, "segnet") ? SEGCL_ARCH_SEGNET : SEGCL_ARCH_UNET;
    const char *v;
#define INT(key, dst)                                                                              \
    if ((v = md_get(md, key)))                                                                     \
    (dst) = atoi(v)
#define LONG(key, dst)                                                                             \
    if ((v = md_get(md, key)))                                                                     \
    (dst) = atol(v)
    INT("classes", m->model.classes);
    INT("width", m->model.width);
    INT("depth", m->model.depth);
    INT("in_channels", m->model.in_channels);
    INT("size", m->size);
    LONG("epoch", m->epoch);
    LONG("step", m->step);
    INT("loss", m->classes_loss);
    LONG("optimizer_step", m->optimizer.step);
    INT("data_format", m->format);
    INT("epochs", m->epochs);
    INT("batch", m->batch);
    LONG("batch_in_epoch", m->batch_in_epoch);
    INT("lr_schedule", m->lr_schedule);
    LONG("max_steps", m->max_steps);
#undef INT
#undef LONG
    if ((v = md_get(md, "data")))
        snprintf(m->data_dir, sizeof m->data_dir, "%s", v);
    if ((v = md_get(md, "base_lr")))
        m->base_lr = (float)atof(v);
    if ((v = md_get(md, "val_fraction")))
        m->val_fraction = (float)atof(v);
    if ((v = md_get(md, "augment")))
        m->augment = atoi(v) != 0;
    if ((v = md_get(md, "shuffle")))
        m->shuffle = atoi(v) != 0;
    if ((v = md_get(md, "seed")))
        m->seed = strtoull(v, NULL, 10);
    if ((v = md_get(md, "best_dice")))
        m->best_dice = atof(v);
    if ((v = md_get(md, "mean")))
        sscanf(v, "%f,%f,%f", &m->mean[0], &m->mean[1], &m->mean[2]);
    if ((v = md_get(md, "std")))
        sscanf(v, "%f,%f,%f", &m->std[0], &m->std[1], &m->std[2]);
    if ((v = md_get(md, "optimizer"))) {
        segcl_optimizer_kind k = !strcmp(v, "sgd") ? SEGCL_OPTIMIZER_SGD
                                 : !strcmp(v, "adamw") ? SEGCL_OPTIMIZER_ADAMW
                                                       : SEGCL_OPTIMIZER_ADAM;
        long step = m->optimizer.step;
        segcl_optimizer_defaults(&m->optimizer, k);
        m->optimizer.step = step;
    }
    if ((v = md_get(md, "lr")))
        m->optimizer.lr = (float)atof(v);
    if ((v = md_get(md, "weight_decay")))
        m->optimizer.weight_decay = (float)atof(v);
    if ((v = md_get(md, "momentum")))
        m->optimizer.momentum = (float)atof(v);
    if ((v = md_get(md, "nesterov")))
        m->optimizer.nesterov = atoi(v) != 0;
    /* any optimizer tensor, whatever the model's first parameter is called */
    const char *key;
    json_t *val;
    json_object_foreach(header, key, val)
    {
        (void)val;
        if (!strncmp(key, "optimizer.", 10)) {
            m->has_optimizer_state = true;
            break;
        }
    }
    return SEGCL_OK;
}

segcl_status segcl_checkpoint_read_meta(segcl_context *ctx, const char *path,
                                        segcl_checkpoint_meta *meta)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot open checkpoint %s: %s", path,
                          strerror(errno));
    parsed p;
    segcl_status st = parse_header(ctx, path, f, &p);
    fclose(f);
    if (st)
        return st;
    st = fill_meta(ctx, path, p.header, meta);
    json_decref(p.header);
    return st;
}

/* Reads tensor `name` into t (shape must match; F32, or F64 converted) */
static segcl_status read_tensor(segcl_context *ctx, const char *path, FILE *f, const parsed *p,
                                const char *name, segcl_tensor *t, bool required, bool *found)
{
    json_t *e = json_object_get(p->header, name);
    if (found)
        *found = e != NULL;
    if (!e)
        return required ? segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                                     "%s: no tensor '%s' (a checkpoint of another model?)", path,
                                     name)
                        : SEGCL_OK;
    json_t *sh = json_object_get(e, "shape");
    bool same = json_array_size(sh) == (size_t)t->ndim;
    for (int d = 0; same && d < t->ndim; d++)
        same = json_integer_value(json_array_get(sh, (size_t)d)) == t->shape[d];
    if (!same) {
        char want[64];
        segcl_shape_format(t->ndim, t->shape, want, sizeof want);
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT,
                          "%s: tensor '%s' has another shape than this model's %s (check "
                          "--arch/--classes/--width/--depth)",
                          path, name, want);
    }
    const char *dtype = json_string_value(json_object_get(e, "dtype"));
    if (strcmp(dtype, "F32") != 0)
        return segcl_fail(ctx, SEGCL_ERROR_FORMAT, "%s: tensor '%s' is %s, segcl reads F32", path,
                          name, dtype);
    json_int_t begin = json_integer_value(json_array_get(json_object_get(e, "data_offsets"), 0));
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
    json_t *e = json_object_get(p->header, name);
    if (!e)
        return SEGCL_OK; /* optional buffer */
    const char *dtype = json_string_value(json_object_get(e, "dtype"));
    json_int_t begin = json_integer_value(json_array_get(json_object_get(e, "data_offsets"), 0));
    json_int_t end = json_integer_value(json_array_get(json_object_get(e, "data_offsets"), 1));
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
                                   bool load_optimizer, segcl_checkpoint_meta *meta)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return segcl_fail(ctx, SEGCL_ERROR_IO, "cannot open checkpoint %s: %s", path,
                          strerror(errno));
    parsed p;
    segcl_status st = parse_header(ctx, path, f, &p);
    if (st) {
        fclose(f);
        return st;
    }
    segcl_checkpoint_meta local;
    if (!meta)
        meta = &local;
    st = fill_meta(ctx, path, p.header, meta);
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
            if (!json_object_get(p.header, name))
                continue;
            if (!*slot[k]) {
                char tname[112];
                snprintf(tname, sizeof tname, "%s of %s", which[k], prm->name);
                st = segcl_tensor_create(ctx, tname, prm->value->ndim, prm->value->shape, slot[k]);
            }
            if (!st)
                st = read_tensor(ctx, path, f, &p, name, *slot[k], true, NULL);
        }
    }
    json_decref(p.header);
    fclose(f);
    return st;
}
