/*
 * An ordered list of key/value strings: what a file format carries beside its data (a
 * checkpoint's "__metadata__"). The format reads and writes the list; what the keys mean is
 * the business of whoever fills it (src/settings for a run's configuration).
 */
#ifndef SEGCL_METADATA_H
#define SEGCL_METADATA_H

#include "core/core.h"

typedef struct segcl_metadata_entry {
    char *key;
    char *value; /* NULL: the key is present but its value is not a string */
} segcl_metadata_entry;

typedef struct segcl_metadata {
    segcl_metadata_entry *entries; /* in insertion order, which is the order written */
    size_t count, capacity;
} segcl_metadata;

/* Appends key with a copy of value (NULL allowed, see above); false when memory runs out, the
 * list unchanged. */
SEGCL_INTERNAL bool segcl_metadata_add(segcl_metadata *md, const char *key, const char *value);
/* The first entry named key, or NULL. */
SEGCL_INTERNAL const segcl_metadata_entry *segcl_metadata_find(const segcl_metadata *md,
                                                               const char *key);
/* Frees every entry and leaves an empty list; a zeroed list is empty. */
SEGCL_INTERNAL void segcl_metadata_clear(segcl_metadata *md);

#endif
