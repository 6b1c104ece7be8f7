/*
 * Checked heap allocation. All library allocations pass through here so that tests can make any
 * chosen one fail and verify that every caller reports the error and cleans up (in test builds,
 * -DSEGCL_TESTING; the release library only counts real failures).
 */
#include <stdlib.h>
#include <string.h>
#ifdef SEGCL_TESTING
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#endif

#include "core/core.h"

#ifdef SEGCL_TESTING
/* Shared by every thread that allocates (the loader's included), hence atomic. */
static _Atomic long fail_countdown = -1;

/* jansson allocates through segcl's allocator, so the injected failures reach it too. Its
 * allocator is the whole process's: test builds only, never the library an application links. */
static void route_jansson(void)
{
    json_set_alloc_funcs(segcl_malloc, segcl_free);
}

void segcl_test_fail_alloc_after(long n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, route_jansson);
    atomic_store(&fail_countdown, n);
}

/* Allocations made and not yet freed, for the tests that look for leaks on error paths. */
static _Atomic long live_allocations;

long segcl_test_live_allocations(void)
{
    return atomic_load(&live_allocations);
}

static void *track(void *p, long change)
{
    if (p)
        atomic_fetch_add(&live_allocations, change);
    return p;
}

static bool should_fail(void)
{
    long n = atomic_load(&fail_countdown);
    while (n >= 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &n, n == 0 ? -1 : n - 1))
            return n == 0;
    }
    return false;
}
#else
static bool should_fail(void)
{
    return false;
}

static void *track(void *p, long change)
{
    (void)change;
    return p;
}
#endif

/* Failed allocations of this thread, injected or real. */
static _Thread_local unsigned long failures;

unsigned long segcl_alloc_failures(void)
{
    return failures;
}

static void *counted(void *p)
{
    if (!p)
        failures++;
    return p;
}

void *segcl_malloc(size_t size)
{
    return track(counted(should_fail() ? NULL : malloc(size ? size : 1)), 1);
}

void *segcl_calloc(size_t count, size_t size)
{
    return track(counted(should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1)), 1);
}

void *segcl_realloc(void *ptr, size_t size)
{
    return track(counted(should_fail() ? NULL : realloc(ptr, size ? size : 1)), ptr ? 0 : 1);
}

char *segcl_strdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = segcl_malloc(len);
    if (copy)
        memcpy(copy, s, len);
    return copy;
}

void segcl_free(void *ptr)
{
    track(ptr, -1);
    free(ptr);
}
