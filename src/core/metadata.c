/*
 * Key/value string lists (see metadata.h), grown by doubling.
 */
#include <string.h>

#include "core/metadata.h"

bool segcl_metadata_add(segcl_metadata *md, const char *key, const char *value)
{
    if (md->count == md->capacity) {
        size_t capacity = md->capacity ? 2 * md->capacity : 16;
        segcl_metadata_entry *grown = segcl_realloc(md->entries, capacity * sizeof *md->entries);
        if (!grown)
            return false;
        md->entries = grown;
        md->capacity = capacity;
    }
    char *k = segcl_strdup(key), *v = value ? segcl_strdup(value) : NULL;
    if (!k || (value && !v)) {
        segcl_free(k);
        segcl_free(v);
        return false;
    }
    md->entries[md->count++] = (segcl_metadata_entry){k, v};
    return true;
}

const segcl_metadata_entry *segcl_metadata_find(const segcl_metadata *md, const char *key)
{
    for (size_t i = 0; i < md->count; i++)
        if (!strcmp(md->entries[i].key, key))
            return &md->entries[i];
    return NULL;
}

void segcl_metadata_clear(segcl_metadata *md)
{
    for (size_t i = 0; i < md->count; i++) {
        segcl_free(md->entries[i].key);
        segcl_free(md->entries[i].value);
    }
    segcl_free(md->entries);
    *md = (segcl_metadata){0};
}
