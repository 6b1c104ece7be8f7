/* Transitional: the whole library-internal interface while layers move to their own headers. */
#ifndef SEGCL_INTERNAL_H
#define SEGCL_INTERNAL_H
#include "cl/cl.h"
#include "cl/context_impl.h"
#endif
