/* Helpers shared by the cmocka suites. */
#ifndef SEGCL_TEST_UTIL_H
#define SEGCL_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "segcl/segcl.h"

/* Fails the test with the context's message when a call does not return SEGCL_OK. */
#define assert_ok(ctx, call)                                                                       \
    do {                                                                                           \
        segcl_status st_ = (call);                                                                 \
        if (st_ != SEGCL_OK)                                                                       \
            fail_msg("%s returned %d: %s", #call, (int)st_, segcl_context_error(ctx));             \
    } while (0)

#endif
