/*
 * Lifetime-aware device memory planning: tensors declared with [first_step, last_step] share one
 * buffer, and tensors never alive at the same step may share bytes. Greedy by size (largest
 * first, lowest free offset), which is near-optimal for the chain-like lifetimes of a network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEGCL_CL_IMPL /* a file of src/cl */
#include "cl/context_impl.h"

typedef struct arena_slot {
    char *name;
    int ndim;
    int64_t shape[SEGCL_MAX_DIMS];
    size_t bytes, elem_bytes;
    int first, last;
    size_t offset;
    segcl_tensor *tensor;
} arena_slot;

struct segcl_arena {
    segcl_context *ctx;
    char *name;
    arena_slot *slots;
    size_t count, cap;
    bool planned, committed;
    cl_mem buffer;
    size_t planned_bytes;
};

segcl_status segcl_arena_create(segcl_context *ctx, const char *name, segcl_arena **out)
{
    if (!ctx || !out)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "segcl_arena_create: NULL argument");
    segcl_arena *a = segcl_calloc(1, sizeof *a);
    if (!a || !(a->name = segcl_strdup(name ? name : "arena"))) {
        segcl_free(a);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    a->ctx = ctx;
    *out = a;
    return SEGCL_OK;
}

static segcl_status declare(segcl_arena *arena, const char *name, int ndim,
                            const int64_t *shape, size_t elem_bytes, int first_step,
                            int last_step, size_t *slot)
{
    segcl_context *ctx = arena->ctx;
    if (arena->planned)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "arena '%s' is planned; cannot declare '%s'",
                          arena->name, name);
    if (last_step < first_step)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT,
                          "tensor '%s': last step %d before first step %d", name, last_step,
                          first_step);
    size_t numel;
    segcl_status st = segcl_shape_check(ctx, name, ndim, shape, &numel);
    if (st)
        return st;
    if (arena->count == arena->cap) {
        size_t ncap = arena->cap ? arena->cap * 2 : 16;
        arena_slot *grown = segcl_realloc(arena->slots, ncap * sizeof *grown);
        if (!grown)
            return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        arena->slots = grown;
        arena->cap = ncap;
    }
    arena_slot *s = &arena->slots[arena->count];
    memset(s, 0, sizeof *s);
    if (!(s->name = segcl_strdup(name ? name : "unnamed")))
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    s->ndim = ndim;
    memcpy(s->shape, shape, (size_t)ndim * sizeof *shape);
    s->elem_bytes = elem_bytes;
    s->bytes = numel * elem_bytes;
    s->first = first_step;
    s->last = last_step;
    *slot = arena->count++;
    return SEGCL_OK;
}

segcl_status segcl_arena_declare(segcl_arena *arena, const char *name, int ndim,
                                 const int64_t *shape, int first_step, int last_step,
                                 size_t *slot)
{
    return declare(arena, name, ndim, shape, segcl_storage_bytes(arena->ctx), first_step,
                   last_step, slot);
}

segcl_status segcl_arena_declare_i32(segcl_arena *arena, const char *name, int ndim,
                                     const int64_t *shape, int first_step, int last_step,
                                     size_t *slot)
{
    return declare(arena, name, ndim, shape, sizeof(int32_t), first_step, last_step, slot);
}

static size_t align_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

static int by_size_desc(const void *pa, const void *pb)
{
    const arena_slot *a = *(const arena_slot *const *)pa, *b = *(const arena_slot *const *)pb;
    if (a->bytes != b->bytes)
        return a->bytes < b->bytes ? 1 : -1;
    /* ties broken by first step, then declaration order: the plan is deterministic */
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
}

segcl_status segcl_arena_plan(segcl_arena *arena)
{
    if (arena->planned)
        return SEGCL_OK;
    segcl_context *ctx = arena->ctx;
    if (arena->committed)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "arena '%s' already committed", arena->name);
    if (!ctx->open)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "the context has no device: call segcl_context_open first");
    cl_uint align_bits = 0;
    cl_int err = clGetDeviceInfo(ctx->dev->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits,
                                 &align_bits, NULL);
    if (err != CL_SUCCESS)
        return segcl_fail_cl(ctx, err, "clGetDeviceInfo", "CL_DEVICE_MEM_BASE_ADDR_ALIGN");
    size_t align = align_bits / 8 > 256 ? align_bits / 8 : 256;

    arena_slot **order = segcl_calloc(arena->count, sizeof *order);
    arena_slot **placed = segcl_calloc(arena->count, sizeof *placed);
    if (!order || !placed) {
        segcl_free(order);
        segcl_free(placed);
        return segcl_fail(ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (size_t i = 0; i < arena->count; i++)
        order[i] = &arena->slots[i];
    qsort(order, arena->count, sizeof *order, by_size_desc);

    size_t total = 0, nplaced = 0;
    for (size_t i = 0; i < arena->count; i++) {
        arena_slot *s = order[i];
        size_t need = align_up(s->bytes, align);
        size_t offset = 0;
        /* Raise the candidate offset past every lifetime-overlapping block it collides with
         * until it fits; each pass moves strictly upward, so this ends. */
        bool moved = true;
        while (moved) {
            moved = false;
            for (size_t j = 0; j < nplaced; j++) {
                arena_slot *p = placed[j];
                bool live_together = !(p->last < s->first || s->last < p->first);
                size_t p_end = p->offset + align_up(p->bytes, align);
                bool overlap = offset < p_end && p->offset < offset + need;
                if (live_together && overlap) {
                    offset = p_end;
                    moved = true;
                }
            }
        }
        s->offset = offset;
        placed[nplaced++] = s;
        if (offset + need > total)
            total = offset + need;
    }
    segcl_free(order);
    segcl_free(placed);
    arena->planned_bytes = total ? total : align;
    arena->planned = true;
    return SEGCL_OK;
}

segcl_status segcl_arena_commit(segcl_arena *arena)
{
    segcl_context *ctx = arena->ctx;
    if (arena->committed)
        return segcl_fail(ctx, SEGCL_ERROR_STATE, "arena '%s' already committed", arena->name);
    segcl_status st = segcl_arena_plan(arena);
    if (st)
        return st;

    char what[200];
    size_t largest = 0;
    for (size_t i = 1; i < arena->count; i++)
        if (arena->slots[i].bytes > arena->slots[largest].bytes)
            largest = i;
    if (arena->count)
        snprintf(what, sizeof what, "arena '%s' (%zu tensors, the largest tensor '%s')",
                 arena->name, arena->count, arena->slots[largest].name);
    else
        snprintf(what, sizeof what, "arena '%s'", arena->name);
    if ((st = segcl_buffer_create(ctx, what, arena->planned_bytes, &arena->buffer)))
        return st;
    for (size_t i = 0; i < arena->count; i++) {
        arena_slot *s = &arena->slots[i];
        st = segcl_tensor_wrap(ctx, s->name, s->ndim, s->shape, s->elem_bytes, arena->buffer, s->offset,
                               &s->tensor);
        if (st) {
            for (size_t j = 0; j < i; j++) {
                segcl_tensor_destroy(arena->slots[j].tensor);
                arena->slots[j].tensor = NULL;
            }
            segcl_buffer_release(ctx, arena->buffer, arena->planned_bytes);
            arena->buffer = NULL;
            return st;
        }
    }
    arena->committed = true;
    return SEGCL_OK;
}

segcl_tensor *segcl_arena_tensor(segcl_arena *arena, size_t slot)
{
    if (!arena || !arena->committed || slot >= arena->count)
        return NULL;
    return arena->slots[slot].tensor;
}

cl_mem segcl_arena_buffer(const segcl_arena *arena)
{
    return arena && arena->committed ? arena->buffer : NULL;
}

size_t segcl_arena_planned_bytes(const segcl_arena *arena)
{
    return arena->planned ? arena->planned_bytes : 0;
}

size_t segcl_arena_naive_bytes(const segcl_arena *arena)
{
    size_t sum = 0;
    for (size_t i = 0; i < arena->count; i++)
        sum += arena->slots[i].bytes;
    return sum;
}

size_t segcl_arena_offset(const segcl_arena *arena, size_t slot)
{
    return slot < arena->count ? arena->slots[slot].offset : 0;
}

void segcl_arena_destroy(segcl_arena *arena)
{
    if (!arena)
        return;
    for (size_t i = 0; i < arena->count; i++) {
        segcl_tensor_destroy(arena->slots[i].tensor);
        segcl_free(arena->slots[i].name);
    }
    if (arena->buffer)
        segcl_buffer_release(arena->ctx, arena->buffer, arena->planned_bytes);
    segcl_free(arena->slots);
    segcl_free(arena->name);
    segcl_free(arena);
}
