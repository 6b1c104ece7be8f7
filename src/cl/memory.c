/*
 * Device memory: buffers charged against the context's limit (so running out is an error that
 * names the tensor and its size, not a driver crash later), and tensors on top of them: float32,
 * or half in a half context, converted on the host so callers always pass floats.
 */
#include <stdio.h>
#include <string.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

segcl_status segcl_buffer_create(segcl_context *ctx, const char *what, size_t bytes, cl_mem *out)
{
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "the context has no device: call segcl_context_open first");
    char size[32], used[32], limit[32];
    segcl_format_bytes(bytes, size, sizeof size);
    segcl_format_bytes(ctx->memory_in_use, used, sizeof used);
    segcl_format_bytes(ctx->memory_limit, limit, sizeof limit);
    if (bytes > ctx->dev->info.max_alloc_bytes) {
        char max[32];
        segcl_format_bytes(ctx->dev->info.max_alloc_bytes, max, sizeof max);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_DEVICE_MEMORY,
                          "out of device memory: %s needs %s in one buffer, more than %s allows "
                          "(%s)",
                          what, size, ctx->dev->info.name, max);
    }
    if (bytes > ctx->memory_limit || ctx->memory_in_use > ctx->memory_limit - bytes)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_DEVICE_MEMORY,
                          "out of device memory: %s needs %s but %s of %s is in use on %s",
                          what, size, used, limit, ctx->dev->info.name);
    cl_int err;
    cl_mem buffer = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &err);
    if (!buffer || err != CL_SUCCESS) {
        segcl_status st = segcl_fail_cl(ctx, err, "clCreateBuffer", "%s, %s", what, size);
        if (st == SEGCL_ERROR_OUT_OF_DEVICE_MEMORY || st == SEGCL_ERROR_OUT_OF_HOST_MEMORY)
            segcl_fail(ctx, SEGCL_ERROR_OUT_OF_DEVICE_MEMORY,
                       "out of device memory: %s needs %s (%s in use on %s): %s (%d)", what, size,
                       used, ctx->dev->info.name, segcl_cl_error_name(err), (int)err);
        return st == SEGCL_ERROR_OUT_OF_HOST_MEMORY ? SEGCL_ERROR_OUT_OF_DEVICE_MEMORY : st;
    }
    ctx->memory_in_use += bytes;
    if (ctx->memory_in_use > ctx->memory_peak)
        ctx->memory_peak = ctx->memory_in_use;
    *out = buffer;
    return SEGCL_OK;
}

void segcl_buffer_release(segcl_context *ctx, cl_mem buffer, size_t bytes)
{
    if (!buffer)
        return;
    clReleaseMemObject(buffer);
    ctx->memory_in_use = bytes <= ctx->memory_in_use ? ctx->memory_in_use - bytes : 0;
}

void segcl_shape_format(int ndim, const int64_t *shape, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%lld", i ? "x" : "", (long long)shape[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

segcl_status segcl_shape_check(segcl_context *ctx, const char *name, int ndim,
                               const int64_t *shape, size_t *numel)
{
    if (ndim < 1 || ndim > SEGCL_MAX_DIMS || !shape)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "tensor '%s': rank %d is outside 1..%d", name ? name : "?", ndim,
                          SEGCL_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0 || (uint64_t)shape[i] > SIZE_MAX / sizeof(float) / n)
            return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                              "tensor '%s': extent %lld of dimension %d is invalid",
                              name ? name : "?", (long long)shape[i], i);
        n *= (size_t)shape[i];
    }
    *numel = n;
    return SEGCL_OK;
}

static segcl_status tensor_alloc(segcl_context *ctx, const char *name, int ndim,
                                 const int64_t *shape, size_t elem_bytes, segcl_tensor **out)
{
    if (!ctx || !out)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_tensor_create: NULL argument");
    *out = NULL;
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "the context has no device: call segcl_context_open first");
    if (!name)
        name = "unnamed";
    size_t numel;
    segcl_status st = segcl_shape_check(ctx, name, ndim, shape, &numel);
    if (st)
        return st;
    segcl_tensor *t = segcl_calloc(1, sizeof *t);
    if (!t || !(t->name = segcl_strdup(name))) {
        segcl_free(t);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                          "out of host memory creating tensor '%s'", name);
    }
    t->ctx = ctx;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = numel;
    t->elem_bytes = elem_bytes;
    t->bytes = numel * elem_bytes;
    *out = t;
    return SEGCL_OK;
}

static segcl_status tensor_create(segcl_context *ctx, const char *name, int ndim,
                                  const int64_t *shape, size_t elem_bytes, segcl_tensor **out)
{
    segcl_tensor *t;
    segcl_status st = tensor_alloc(ctx, name, ndim, shape, elem_bytes, &t);
    if (st)
        return st;
    char what[160], dims[64];
    segcl_shape_format(ndim, shape, dims, sizeof dims);
    snprintf(what, sizeof what, "tensor '%s' (%s)", t->name, dims);
    st = segcl_buffer_create(ctx, what, t->bytes, &t->buffer);
    if (st) {
        segcl_free(t->name);
        segcl_free(t);
        return st;
    }
    t->owns_memory = true;
    *out = t;
    return SEGCL_OK;
}

segcl_status segcl_tensor_create(segcl_context *ctx, const char *name, int ndim,
                                 const int64_t *shape, segcl_tensor **out)
{
    return tensor_create(ctx, name, ndim, shape, segcl_storage_bytes(ctx), out);
}

segcl_status segcl_tensor_create_i32(segcl_context *ctx, const char *name, int ndim,
                                     const int64_t *shape, segcl_tensor **out)
{
    return tensor_create(ctx, name, ndim, shape, sizeof(int32_t), out);
}

segcl_status segcl_tensor_wrap(segcl_context *ctx, const char *name, int ndim,
                               const int64_t *shape, size_t elem_bytes, cl_mem parent,
                               size_t offset_bytes, segcl_tensor **out)
{
    segcl_tensor *t;
    segcl_status st = tensor_alloc(ctx, name, ndim, shape, elem_bytes, &t);
    if (st)
        return st;
    cl_buffer_region region = {offset_bytes, t->bytes};
    cl_int err;
    t->buffer = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region,
                                  &err);
    if (!t->buffer || err != CL_SUCCESS) {
        segcl_free(t->name);
        segcl_free(t);
        return segcl_fail_cl(ctx, err, "clCreateSubBuffer", "tensor '%s' at offset %zu", name,
                             offset_bytes);
    }
    t->owns_memory = false;
    *out = t;
    return SEGCL_OK;
}

void segcl_tensor_destroy(segcl_tensor *tensor)
{
    if (!tensor)
        return;
    if (tensor->owns_memory)
        segcl_buffer_release(tensor->ctx, tensor->buffer, tensor->bytes);
    else if (tensor->buffer)
        clReleaseMemObject(tensor->buffer);
    segcl_free(tensor->name);
    segcl_free(tensor);
}

segcl_status segcl_tensor_write(segcl_tensor *tensor, const float *src, size_t count)
{
    if (!tensor || !src)
        return segcl_fail(tensor ? tensor->ctx : NULL, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_tensor_write: NULL argument");
    segcl_context *ctx = tensor->ctx;
    if (count != tensor->numel)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "tensor '%s' holds %zu elements, not %zu", tensor->name, tensor->numel,
                          count);
    uint16_t *halves = NULL;
    if (tensor->elem_bytes == 2) {
        if (!(halves = segcl_malloc(tensor->bytes)))
            return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                              "out of host memory converting tensor '%s' to half", tensor->name);
        segcl_halves_from_floats(src, halves, count);
    }
    ctx->host_waits++;
    cl_int err = clEnqueueWriteBuffer(ctx->queue, tensor->buffer, CL_TRUE, 0, tensor->bytes,
                                      halves ? (const void *)halves : (const void *)src, 0, NULL,
                                      NULL);
    segcl_free(halves);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clEnqueueWriteBuffer", "tensor '%s'", tensor->name);
    return SEGCL_OK;
}

segcl_status segcl_tensor_read(segcl_tensor *tensor, float *dst, size_t count)
{
    if (!tensor || !dst)
        return segcl_fail(tensor ? tensor->ctx : NULL, SEGCL_ERROR_INVALID_ARGUMENT,
                          "segcl_tensor_read: NULL argument");
    segcl_context *ctx = tensor->ctx;
    if (count != tensor->numel)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "tensor '%s' holds %zu elements, not %zu", tensor->name, tensor->numel,
                          count);
    uint16_t *halves = NULL;
    if (tensor->elem_bytes == 2 && !(halves = segcl_malloc(tensor->bytes)))
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                          "out of host memory converting tensor '%s' from half", tensor->name);
    ctx->host_waits++;
    cl_int err = clEnqueueReadBuffer(ctx->queue, tensor->buffer, CL_TRUE, 0, tensor->bytes,
                                     halves ? (void *)halves : (void *)dst, 0, NULL, NULL);
    if (err == CL_SUCCESS && halves)
        segcl_floats_from_halves(halves, dst, count);
    segcl_free(halves);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clEnqueueReadBuffer", "tensor '%s'", tensor->name);
    return SEGCL_OK;
}

size_t segcl_tensor_numel(const segcl_tensor *tensor)
{
    return tensor ? tensor->numel : 0;
}

int segcl_tensor_shape(const segcl_tensor *tensor, int64_t *shape)
{
    if (!tensor)
        return 0;
    if (shape)
        memcpy(shape, tensor->shape, (size_t)tensor->ndim * sizeof *shape);
    return tensor->ndim;
}

const char *segcl_tensor_name(const segcl_tensor *tensor)
{
    return tensor ? tensor->name : "";
}

segcl_status segcl_mem_read(segcl_context *ctx, cl_mem buffer, size_t floats, float *host)
{
    return segcl_mem_read_bytes(ctx, buffer, 0, floats * sizeof(float), host);
}

segcl_status segcl_mem_read_bytes(segcl_context *ctx, cl_mem buffer, size_t offset, size_t bytes,
                                  void *host)
{
    ctx->host_waits++;
    cl_int err = clEnqueueReadBuffer(ctx->queue, buffer, CL_TRUE, offset, bytes, host, 0, NULL,
                                     NULL);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clEnqueueReadBuffer", "%zu bytes", bytes);
    return SEGCL_OK;
}

uint64_t segcl_context_host_waits(const segcl_context *ctx)
{
    return ctx ? ctx->host_waits : 0;
}

void segcl_context_note_host_wait(segcl_context *ctx)
{
    ctx->host_waits++;
}

segcl_status segcl_mem_write(segcl_context *ctx, cl_mem buffer, size_t floats, const float *host)
{
    ctx->host_waits++;
    cl_int err = clEnqueueWriteBuffer(ctx->queue, buffer, CL_TRUE, 0, floats * sizeof(float),
                                      host, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clEnqueueWriteBuffer", "%zu floats", floats);
    return SEGCL_OK;
}

uint64_t segcl_memory_limit(const segcl_context *ctx)
{
    return ctx->memory_limit;
}

uint64_t segcl_memory_in_use(const segcl_context *ctx)
{
    return ctx->memory_in_use;
}

void segcl_context_memory(segcl_context *ctx, uint64_t *in_use, uint64_t *peak, bool reset_peak)
{
    if (in_use)
        *in_use = ctx ? ctx->memory_in_use : 0;
    if (peak)
        *peak = ctx ? ctx->memory_peak : 0;
    if (ctx && reset_peak)
        ctx->memory_peak = ctx->memory_in_use;
}
