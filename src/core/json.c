/*
 * JSON text from jansson values, checked. json_dumps() cannot be trusted when memory runs out:
 * jansson 2.14 ignores a failed append of an object key and returns a string with the key
 * missing. Dumping through our own callback lets every failed append be seen.
 */
#include <jansson.h>
#include <string.h>

#include "core/core.h"

typedef struct text_buffer {
    char *data;
    size_t len, cap;
    bool failed;
} text_buffer;

static int append(const char *buffer, size_t size, void *data)
{
    text_buffer *b = data;
    if (b->failed)
        return -1;
    if (b->len + size + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + size + 1)
            cap *= 2;
        char *grown = segcl_realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return -1;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, buffer, size);
    b->len += size;
    b->data[b->len] = '\0';
    return 0;
}

segcl_status segcl_json_text(segcl_diag *diag, const json_t *json, size_t flags, char **out)
{
    text_buffer b = {0};
    *out = NULL;
    if (!json || json_dump_callback(json, append, &b, flags) != 0 || b.failed || !b.data) {
        segcl_free(b.data);
        return segcl_diag_fail(diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                               "out of host memory writing JSON");
    }
    *out = b.data;
    return SEGCL_OK;
}

segcl_status segcl_json_write_file(segcl_diag *diag, const char *path, const json_t *json)
{
    char *text = NULL;
    segcl_status st = segcl_json_text(
        diag, json, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9), &text);
    if (!st)
        st = segcl_text_write_file(diag, path, text);
    segcl_free(text);
    return st;
}

segcl_status segcl_text_write_file(segcl_diag *diag, const char *path, const char *text)
{
    segcl_file file = {-1, path, NULL};
    segcl_status st = segcl_file_begin(diag, path, &file);
    if (!st) {
        st = segcl_write_all(diag, file.fd, text, strlen(text), path);
        if (!st)
            st = segcl_write_all(diag, file.fd, "\n", 1, path);
        st = segcl_file_end(diag, &file, st);
    }
    return st;
}
