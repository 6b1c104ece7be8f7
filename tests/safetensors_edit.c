/*
 * Safetensors files made and edited by hand for the hostile-input tests (safetensors_edit.h):
 * a header text over zero bytes, and one metadata value replaced in a real checkpoint.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors_edit.h"
#include "test_util.h"

/* Writes a safetensors file from a JSON header text and `data_len` zero bytes of data. */
void write_safetensors(const char *path, const char *header, size_t data_len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t n = strlen(header);
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(n >> (8 * i));
    assert_int_equal(fwrite(le, 1, 8, f), 8);
    assert_int_equal(fwrite(header, 1, n, f), n);
    for (size_t i = 0; i < data_len; i++)
        fputc(0, f);
    fclose(f);
}

/* Reads src's header, lets edit change it, and writes dst: the new header (padded to 8 bytes)
 * over src's tensor bytes, whose offsets stay valid. */
static void edit_header(const char *src, const char *dst, void (*edit)(json_t *, const char *,
                                                                        const char *),
                        const char *a, const char *b)
{
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *bytes = malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)bytes[i] << (8 * i);
    json_error_t jerr;
    json_t *header = json_loadb((const char *)bytes + 8, hlen, 0, &jerr);
    assert_non_null(header);
    edit(header, a, b);
    char *text = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t tlen = strlen(text), padded = (tlen + 7) / 8 * 8;
    f = fopen(dst, "wb");
    assert_non_null(f);
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(text, 1, tlen, f);
    for (size_t i = tlen; i < padded; i++)
        fputc(' ', f);
    fwrite(bytes + 8 + hlen, 1, (size_t)size - 8 - hlen, f);
    fclose(f);
    free(text);
    json_decref(header);
    free(bytes);
}

static void set_metadata(json_t *header, const char *key, const char *value)
{
    json_t *md = json_object_get(header, "__metadata__");
    assert_non_null(md);
    assert_int_equal(json_object_set_new(md, key, json_string(value)), 0);
}

static void remove_prefixed(json_t *header, const char *prefix, const char *unused)
{
    (void)unused;
    const char *key;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(header, tmp, key, value)
    {
        if (!strncmp(key, prefix, strlen(prefix)))
            json_object_del(header, key);
    }
}

/* Replaces one metadata value of a safetensors file, keeping the tensors. */
void rewrite_metadata(const char *src, const char *dst, const char *key, const char *value)
{
    edit_header(src, dst, set_metadata, key, value);
}

/* Leaves out of the header every tensor whose name starts with prefix. */
void drop_tensors(const char *src, const char *dst, const char *prefix)
{
    edit_header(src, dst, remove_prefixed, prefix, NULL);
}
