/*
 * Safetensors files made and edited by hand (test_robust.c's damaged and tampered checkpoints).
 * Both fail the test when a file cannot be read or written.
 */
#ifndef SEGCL_SAFETENSORS_EDIT_H
#define SEGCL_SAFETENSORS_EDIT_H

#include <stddef.h>

/* Writes a safetensors file from a JSON header text and `data_len` zero bytes of data. */
void write_safetensors(const char *path, const char *header, size_t data_len);
/* Replaces one metadata value of a safetensors file, keeping the tensors. */
void rewrite_metadata(const char *src, const char *dst, const char *key, const char *value);
/* Leaves out of the header every tensor whose name starts with prefix (the bytes stay). */
void drop_tensors(const char *src, const char *dst, const char *prefix);

#endif
