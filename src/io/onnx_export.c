/*
 * The U-Net and SegNet as ONNX graphs (opset 13): Conv, Relu, BatchNormalization, MaxPool,
 * Resize (linear, align_corners) and Concat, with the weights as initializers under their
 * state_dict names. The protobuf is built with protobuf-c from ONNX's own onnx.proto
 * (src/io/onnx/onnx.proto, generated at build time) and written atomically.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "segcl_version.h"

#include "io/onnx_export.h"
#include "onnx.pb-c.h"

/* Every message, array and string of the graph, freed together. */
typedef struct pool {
    void **blocks;
    size_t n, cap;
    bool failed;
} pool;

static void *pool_alloc(pool *p, size_t bytes)
{
    if (p->failed)
        return NULL;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        void **grown = segcl_realloc(p->blocks, cap * sizeof *grown);
        if (!grown) {
            p->failed = true;
            return NULL;
        }
        p->blocks = grown, p->cap = cap;
    }
    void *block = segcl_calloc(1, bytes ? bytes : 1);
    if (!block) {
        p->failed = true;
        return NULL;
    }
    return p->blocks[p->n++] = block;
}

static char *pool_str(pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *pool_str(pool *p, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *s = pool_alloc(p, strlen(buf) + 1);
    if (s)
        memcpy(s, buf, strlen(buf) + 1);
    return s;
}

static void pool_free(pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        segcl_free(p->blocks[i]);
    segcl_free(p->blocks);
}

/* A growing array of message pointers. */
typedef struct list {
    void **items;
    size_t n, cap;
} list;

static void list_push(pool *p, list *l, void *item)
{
    if (!item) {
        p->failed = true;
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        void **grown = pool_alloc(p, cap * sizeof *grown);
        if (!grown)
            return;
        if (l->n)
            memcpy(grown, l->items, l->n * sizeof *grown);
        l->items = grown, l->cap = cap;
    }
    l->items[l->n++] = item;
}

typedef struct builder {
    pool pool;
    list nodes, initializers;
    segcl_context *ctx;
    segcl_model *model;
    segcl_status st;
    int counter;
} builder;

/* An attribute of the given type; the caller fills its value. */
static Onnx__AttributeProto *attr_new(builder *b, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = pool_alloc(&b->pool, sizeof *a);
    if (!a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = pool_str(&b->pool, "%s", name);
    a->has_type = 1;
    a->type = type;
    return a;
}

static Onnx__AttributeProto *attr_ints(builder *b, const char *name, const int64_t *v, size_t n)
{
    Onnx__AttributeProto *a = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *ints = pool_alloc(&b->pool, n * sizeof *ints);
    if (!a || !ints)
        return NULL;
    memcpy(ints, v, n * sizeof *ints);
    a->ints = ints;
    a->n_ints = n;
    return a;
}

static Onnx__AttributeProto *attr_int(builder *b, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a)
        a->has_i = 1, a->i = v;
    return a;
}

static Onnx__AttributeProto *attr_float(builder *b, const char *name, float v)
{
    Onnx__AttributeProto *a = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a)
        a->has_f = 1, a->f = v;
    return a;
}

static Onnx__AttributeProto *attr_string(builder *b, const char *name, const char *v)
{
    Onnx__AttributeProto *a = attr_new(b, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    char *s = pool_str(&b->pool, "%s", v);
    if (!a || !s)
        return NULL;
    a->has_s = 1;
    a->s.data = (uint8_t *)s;
    a->s.len = strlen(s);
    return a;
}

/* A node with up to 5 inputs and its attributes; returns its output's name. */
static const char *node(builder *b, const char *op, const char *out, const char *const *in,
                        size_t nin, Onnx__AttributeProto **attrs, size_t nattrs)
{
    Onnx__NodeProto *n = pool_alloc(&b->pool, sizeof *n);
    char **inputs = pool_alloc(&b->pool, nin * sizeof *inputs);
    char **outputs = pool_alloc(&b->pool, sizeof *outputs);
    Onnx__AttributeProto **a = pool_alloc(&b->pool, (nattrs ? nattrs : 1) * sizeof *a);
    if (!n || !inputs || !outputs || !a)
        return NULL;
    onnx__node_proto__init(n);
    n->op_type = pool_str(&b->pool, "%s", op);
    n->name = pool_str(&b->pool, "%s_%d", op, b->counter++);
    for (size_t i = 0; i < nin; i++) {
        if (!in[i]) /* an input that failed upstream (its error is in b->st or the pool) */
            return NULL;
        inputs[i] = pool_str(&b->pool, "%s", in[i]);
    }
    outputs[0] = pool_str(&b->pool, "%s", out);
    for (size_t i = 0; i < nattrs; i++) {
        if (!attrs[i])
            b->pool.failed = true;
        a[i] = attrs[i];
    }
    n->input = inputs, n->n_input = nin;
    n->output = outputs, n->n_output = 1;
    n->attribute = a, n->n_attribute = nattrs;
    list_push(&b->pool, &b->nodes, n);
    return b->pool.failed ? NULL : outputs[0];
}

/* A float initializer from host data. */
static const char *initializer(builder *b, const char *name, const float *data, size_t count,
                               const int64_t *dims, size_t ndims)
{
    Onnx__TensorProto *t = pool_alloc(&b->pool, sizeof *t);
    int64_t *d = pool_alloc(&b->pool, ndims * sizeof *d);
    uint8_t *raw = pool_alloc(&b->pool, count * sizeof(float));
    if (!t || !d || !raw)
        return NULL;
    onnx__tensor_proto__init(t);
    t->name = pool_str(&b->pool, "%s", name);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    memcpy(d, dims, ndims * sizeof *d);
    t->dims = d, t->n_dims = ndims;
    /* raw_data is little-endian */
    for (size_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        raw[4 * i] = (uint8_t)u, raw[4 * i + 1] = (uint8_t)(u >> 8);
        raw[4 * i + 2] = (uint8_t)(u >> 16), raw[4 * i + 3] = (uint8_t)(u >> 24);
    }
    t->has_raw_data = 1;
    t->raw_data.data = raw;
    t->raw_data.len = count * sizeof(float);
    list_push(&b->pool, &b->initializers, t);
    return t->name;
}

/* A device tensor of the model as an initializer named `name`. */
static const char *from_device(builder *b, const char *name, segcl_tensor *value)
{
    if (b->st || !value)
        return NULL;
    float *host = segcl_malloc(value->numel * sizeof *host);
    if (!host) {
        b->st = segcl_fail(b->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    const char *out = NULL;
    if (!(b->st = segcl_tensor_read(value, host, value->numel))) {
        int64_t dims[SEGCL_MAX_DIMS];
        for (int i = 0; i < value->ndim; i++)
            dims[i] = value->shape[i];
        out = initializer(b, name, host, value->numel, dims, (size_t)value->ndim);
    }
    segcl_free(host);
    return out;
}

static const char *param(builder *b, const char *name)
{
    segcl_param *p = segcl_model_find_param(b->model, name);
    if (!p && !b->st)
        b->st = segcl_fail(b->ctx, SEGCL_ERROR_STATE, "the model has no parameter %s", name);
    return p ? from_device(b, name, p->value) : NULL;
}

/* Conv (3 x 3 with padding 1, or 1 x 1) of x by the layer `prefix`. */
static const char *conv(builder *b, const char *prefix, const char *x, int kernel)
{
    char w[64], bias[64];
    snprintf(w, sizeof w, "%s.weight", prefix);
    snprintf(bias, sizeof bias, "%s.bias", prefix);
    const char *in[3] = {x, param(b, w), param(b, bias)};
    const int64_t k[2] = {kernel, kernel}, pads[4] = {kernel / 2, kernel / 2, kernel / 2,
                                                      kernel / 2};
    Onnx__AttributeProto *a[2] = {attr_ints(b, "kernel_shape", k, 2),
                                  attr_ints(b, "pads", pads, 4)};
    return node(b, "Conv", pool_str(&b->pool, "%s", prefix), in, 3, a, 2);
}

/* BatchNormalization (inference) by the layer `prefix` (bn0, dec_bn1, ...). */
static const char *batchnorm(builder *b, const char *prefix, const char *x)
{
    segcl_bn_layer *bn = NULL;
    for (size_t i = 0; i < segcl_model_bn_count(b->model) && !bn; i++)
        if (!strcmp(segcl_model_bn(b->model, i)->prefix, prefix))
            bn = segcl_model_bn(b->model, i);
    if (!bn) {
        if (!b->st)
            b->st = segcl_fail(b->ctx, SEGCL_ERROR_STATE, "the model has no BatchNorm %s",
                               prefix);
        return NULL;
    }
    char n[4][64];
    snprintf(n[0], sizeof n[0], "%s.weight", prefix);
    snprintf(n[1], sizeof n[1], "%s.bias", prefix);
    snprintf(n[2], sizeof n[2], "%s.running_mean", prefix);
    snprintf(n[3], sizeof n[3], "%s.running_var", prefix);
    const char *in[5] = {x, from_device(b, n[0], bn->op.gamma), from_device(b, n[1], bn->op.beta),
                         from_device(b, n[2], bn->op.running_mean),
                         from_device(b, n[3], bn->op.running_var)};
    Onnx__AttributeProto *a[1] = {attr_float(b, "epsilon", bn->op.eps)};
    return node(b, "BatchNormalization", pool_str(&b->pool, "%s", prefix), in, 5, a, 1);
}

/* Conv, Relu, BatchNorm: the lesson's block. */
static const char *block(builder *b, const char *conv_prefix, const char *bn_prefix,
                         const char *x)
{
    const char *c = conv(b, conv_prefix, x, 3);
    const char *in[1] = {c};
    const char *r = node(b, "Relu", pool_str(&b->pool, "%s.relu", conv_prefix), in, 1, NULL, 0);
    return batchnorm(b, bn_prefix, r);
}

static const char *maxpool(builder *b, const char *x, int stage)
{
    const int64_t two[2] = {2, 2};
    Onnx__AttributeProto *a[2] = {attr_ints(b, "kernel_shape", two, 2),
                                  attr_ints(b, "strides", two, 2)};
    const char *in[1] = {x};
    return node(b, "MaxPool", pool_str(&b->pool, "pool%d", stage), in, 1, a, 2);
}

/* x2 bilinear upsampling with aligned corners (PyTorch's UpsamplingBilinear2d). */
static const char *upsample(builder *b, const char *x, int stage, const char *scales)
{
    Onnx__AttributeProto *a[2] = {attr_string(b, "mode", "linear"),
                                  attr_string(b, "coordinate_transformation_mode",
                                              "align_corners")};
    const char *in[3] = {x, "", scales};
    return node(b, "Resize", pool_str(&b->pool, "up%d", stage), in, 3, a, 2);
}

static Onnx__ValueInfoProto *value_info(builder *b, const char *name, const char *const dims[4],
                                        const int64_t values[4])
{
    Onnx__ValueInfoProto *v = pool_alloc(&b->pool, sizeof *v);
    Onnx__TypeProto *t = pool_alloc(&b->pool, sizeof *t);
    Onnx__TypeProto__Tensor *tt = pool_alloc(&b->pool, sizeof *tt);
    Onnx__TensorShapeProto *shape = pool_alloc(&b->pool, sizeof *shape);
    Onnx__TensorShapeProto__Dimension **d = pool_alloc(&b->pool, 4 * sizeof *d);
    if (!v || !t || !tt || !shape || !d)
        return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(shape);
    for (int i = 0; i < 4; i++) {
        d[i] = pool_alloc(&b->pool, sizeof *d[i]);
        if (!d[i])
            return NULL;
        onnx__tensor_shape_proto__dimension__init(d[i]);
        if (dims[i]) {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d[i]->dim_param = pool_str(&b->pool, "%s", dims[i]);
        } else {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d[i]->dim_value = values[i];
        }
    }
    shape->dim = d, shape->n_dim = 4;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = shape;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->type = t;
    v->name = pool_str(&b->pool, "%s", name);
    return v;
}

static Onnx__StringStringEntryProto *entry(builder *b, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = pool_alloc(&b->pool, sizeof *e);
    if (!e)
        return NULL;
    onnx__string_string_entry_proto__init(e);
    e->key = pool_str(&b->pool, "%s", key);
    e->value = pool_str(&b->pool, "%s", value);
    return e;
}

/* The network's nodes, from the image to the logits. */
static void build_graph(builder *b, const segcl_model_config *cfg)
{
    const int depth = cfg->depth;
    const char *skips[SEGCL_MAX_DEPTH] = {0};
    const float two[4] = {1, 1, 2, 2};
    const int64_t four = 4;
    const char *scales = initializer(b, "upsample_scales", two, 4, &four, 1);
    const char *x = "image";
    char conv_name[32], bn_name[32];
    for (int i = 0; i < depth; i++) {
        snprintf(conv_name, sizeof conv_name, "enc_conv%d", i);
        snprintf(bn_name, sizeof bn_name, "bn%d", i);
        skips[i] = block(b, conv_name, bn_name, x);
        x = maxpool(b, skips[i], i);
    }
    x = conv(b, "bottleneck_conv", x, 3);
    for (int j = 0; j < depth - 1; j++) {
        x = upsample(b, x, j, scales);
        if (cfg->arch == SEGCL_ARCH_UNET) {
            const char *in[2] = {x, skips[depth - 1 - j]};
            Onnx__AttributeProto *a[1] = {attr_int(b, "axis", 1)};
            x = node(b, "Concat", pool_str(&b->pool, "cat%d", j), in, 2, a, 1);
        }
        snprintf(conv_name, sizeof conv_name, "dec_conv%d", j);
        snprintf(bn_name, sizeof bn_name, "dec_bn%d", j);
        x = block(b, conv_name, bn_name, x);
    }
    x = upsample(b, x, depth - 1, scales);
    if (cfg->arch == SEGCL_ARCH_UNET) {
        const char *in[2] = {x, skips[0]};
        Onnx__AttributeProto *a[1] = {attr_int(b, "axis", 1)};
        x = node(b, "Concat", pool_str(&b->pool, "cat%d", depth - 1), in, 2, a, 1);
    }
    snprintf(conv_name, sizeof conv_name, "dec_conv%d", depth - 1);
    const char *logits = conv(b, conv_name, x, 1);
    /* the last node's output is the graph's "logits" */
    if (logits && b->nodes.n) {
        Onnx__NodeProto *last = b->nodes.items[b->nodes.n - 1];
        last->output[0] = pool_str(&b->pool, "logits");
    }
}

enum { MODEL_PROPERTIES = 8 };

/* The model's metadata: what a client needs to feed the network and read its output. The
 * strings are copied into b's pool; a NULL entry means it ran out of memory. */
static void model_properties(builder *b, const segcl_model_config *cfg, int size_px,
                             const float mean_in[3], const float std_in[3],
                             Onnx__StringStringEntryProto *props[MODEL_PROPERTIES])
{
    char classes[16], size[16], mean[96], std[96], depth[16];
    snprintf(classes, sizeof classes, "%d", cfg->classes);
    snprintf(size, sizeof size, "%d", size_px);
    snprintf(depth, sizeof depth, "%d", 1 << cfg->depth);
    snprintf(mean, sizeof mean, "%.9g,%.9g,%.9g", mean_in[0], mean_in[1], mean_in[2]);
    snprintf(std, sizeof std, "%.9g,%.9g,%.9g", std_in[0], std_in[1], std_in[2]);
    props[0] = entry(b, "arch", cfg->arch == SEGCL_ARCH_UNET ? "unet" : "segnet");
    props[1] = entry(b, "classes", classes);
    props[2] = entry(b, "output",
                     cfg->classes == 1 ? "one logit per pixel: sigmoid gives the "
                                         "foreground probability"
                                       : "a logit per class and pixel: softmax "
                                         "over axis 1");
    props[3] = entry(b, "input_normalisation", "image = (rgb / 255 - mean) / std, planar RGB");
    props[4] = entry(b, "mean", mean);
    props[5] = entry(b, "std", std);
    props[6] = entry(b, "training_size", size);
    props[7] = entry(b, "size_multiple", depth);
}

/* Packs m and writes it to path atomically. */
static segcl_status write_model(segcl_context *ctx, const Onnx__ModelProto *m, const char *path)
{
    segcl_diag *diag = segcl_context_diag(ctx);
    segcl_file file = {-1, path, NULL};
    const size_t n = onnx__model_proto__get_packed_size(m);
    uint8_t *bytes = segcl_malloc(n);
    segcl_status st = SEGCL_OK;
    if (!bytes) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory writing %s", path);
        goto done;
    }
    if (onnx__model_proto__pack(m, bytes) != n) {
        st = segcl_fail(ctx, SEGCL_ERROR_STATE, "protobuf-c packed a wrong size for %s", path);
        goto done;
    }
    if (!(st = segcl_file_begin(diag, path, &file)))
        st = segcl_file_end(diag, &file, segcl_write_all(diag, file.fd, bytes, n, file.path));
done:
    segcl_free(bytes);
    return st;
}

segcl_status segcl_onnx_write(segcl_context *ctx, segcl_model *model, int size_px,
                              const float mean_in[3], const float std_in[3], const char *path)
{
    const segcl_model_config *cfg = segcl_model_get_config(model);
    builder b = {.ctx = ctx, .model = model};
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto opset;
    segcl_status st = SEGCL_OK;
    onnx__model_proto__init(&m);
    onnx__graph_proto__init(&g);
    onnx__operator_set_id_proto__init(&opset);
    build_graph(&b, cfg);
    const char *dyn[4] = {"batch", NULL, "height", "width"};
    const int64_t in_dims[4] = {0, cfg->in_channels, 0, 0}, out_dims[4] = {0, cfg->classes, 0, 0};
    Onnx__ValueInfoProto *input = value_info(&b, "image", dyn, in_dims),
                         *output = value_info(&b, "logits", dyn, out_dims);
    Onnx__StringStringEntryProto *props[MODEL_PROPERTIES];
    model_properties(&b, cfg, size_px, mean_in, std_in, props);
    const size_t nprops = MODEL_PROPERTIES;
    Onnx__ValueInfoProto **ins = pool_alloc(&b.pool, sizeof *ins),
                         **outs = pool_alloc(&b.pool, sizeof *outs);
    Onnx__OperatorSetIdProto **opsets = pool_alloc(&b.pool, sizeof *opsets);
    Onnx__StringStringEntryProto **meta_props = pool_alloc(&b.pool, nprops * sizeof *meta_props);
    for (size_t i = 0; i < nprops; i++)
        if (!props[i])
            b.pool.failed = true;
    if (b.st) {
        st = b.st;
        goto done;
    }
    if (b.pool.failed || !input || !output || !ins || !outs || !opsets || !meta_props) {
        st = segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory building %s",
                        path);
        goto done;
    }
    ins[0] = input, outs[0] = output;
    memcpy(meta_props, props, nprops * sizeof *props);
    g.name = "segcl";
    g.node = (Onnx__NodeProto **)b.nodes.items, g.n_node = b.nodes.n;
    g.initializer = (Onnx__TensorProto **)b.initializers.items;
    g.n_initializer = b.initializers.n;
    g.input = ins, g.n_input = 1;
    g.output = outs, g.n_output = 1;
    opset.domain = "";
    opset.has_version = 1;
    opset.version = 13;
    opsets[0] = &opset;
    m.has_ir_version = 1;
    m.ir_version = 7; /* the IR of opset 13 */
    m.opset_import = opsets, m.n_opset_import = 1;
    m.producer_name = "segcl";
    m.producer_version = SEGCL_VERSION;
    m.doc_string = cfg->arch == SEGCL_ARCH_UNET ? "U-Net exported by segcl"
                                                : "SegNet exported by segcl";
    m.graph = &g;
    m.metadata_props = meta_props, m.n_metadata_props = nprops;
    st = write_model(ctx, &m, path);
done:
    pool_free(&b.pool);
    return st;
}
