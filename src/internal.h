/* Transitional: what src/core and src/data still include while they move to their own
 * headers. The context's layout (cl/context_impl.h) is not part of it: it is private to
 * src/cl. */
#ifndef SEGCL_INTERNAL_H
#define SEGCL_INTERNAL_H
#include "cl/cl.h"
#endif
