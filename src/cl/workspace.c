/* Scratch device memory of the ops and the GEMM, owned by whoever runs them (a model). */
#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

struct segcl_workspace {
    segcl_context *ctx;
    cl_mem buffer[SEGCL_SCRATCH_COUNT];
    size_t bytes[SEGCL_SCRATCH_COUNT];
};

segcl_status segcl_workspace_create(segcl_context *ctx, segcl_workspace **out)
{
    *out = segcl_calloc(1, sizeof **out);
    if (!*out)
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    (*out)->ctx = ctx;
    return SEGCL_OK;
}

void segcl_workspace_destroy(segcl_workspace *ws)
{
    if (!ws)
        return;
    for (int i = 0; i < SEGCL_SCRATCH_COUNT; i++)
        segcl_buffer_release(ws->ctx, ws->buffer[i], ws->bytes[i]);
    segcl_free(ws);
}

segcl_status segcl_workspace_reserve(segcl_workspace *ws, segcl_scratch which, const char *what,
                                     size_t bytes, cl_mem *out)
{
    segcl_context *ctx = ws->ctx;
    cl_mem *buf = &ws->buffer[which];
    size_t *have = &ws->bytes[which];
    if (bytes <= *have) {
        *out = *buf;
        return SEGCL_OK;
    }
    /* Grow geometrically so a sequence of growing shapes reallocates only a few times. */
    size_t want = bytes + bytes / 2;
    if (*buf) {
        /* Queued commands may still use the old buffer. */
        segcl_context_note_host_wait(ctx);
        cl_int err = clFinish(ctx->queue);
        if (err != CL_SUCCESS)
            return segcl_fail_cl(ctx, err, "clFinish", NULL);
        segcl_buffer_release(ctx, *buf, *have);
        *buf = NULL;
        *have = 0;
    }
    segcl_status st = segcl_buffer_create(ctx, what, want, buf);
    if (st == SEGCL_ERROR_OUT_OF_DEVICE_MEMORY && want > bytes)
        st = segcl_buffer_create(ctx, what, bytes, buf), want = bytes;
    if (st)
        return st;
    *have = want;
    *out = *buf;
    return SEGCL_OK;
}

size_t segcl_workspace_bytes(const segcl_workspace *ws, segcl_scratch which)
{
    if (which < SEGCL_SCRATCH_COUNT)
        return ws->bytes[which];
    size_t total = 0;
    for (int i = 0; i < SEGCL_SCRATCH_COUNT; i++)
        total += ws->bytes[i];
    return total;
}
