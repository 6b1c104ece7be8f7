/*
 * A strict JSON reader for files from outside (checkpoint headers, run folders' args.json).
 * jansson builds and writes segcl's JSON, but its 2.14 parser is not safe when memory runs
 * out: its lexer ignores failed buffer appends and then dereferences the missing buffer (found
 * by the allocation-failure sweep). This reader allocates through segcl's allocator, checks
 * every allocation, bounds nesting, rejects duplicate keys, and is fuzzed with the checkpoint
 * reader.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define MAX_DEPTH 64

struct segcl_jvalue {
    segcl_jtype type;
    bool boolean;
    bool is_integer; /* a number written without fraction or exponent that fits int64 */
    int64_t integer;
    double number;
    char *string; /* NUL-terminated; strings with \u0000 are refused */
    size_t count; /* array elements or object members */
    segcl_jvalue **items;
    char **keys; /* objects */
};

typedef struct parser {
    segcl_diag *diag;
    const char *name;
    const char *p, *start, *end;
    segcl_status st;
} parser;

static void *fail_memory(parser *ps)
{
    if (!ps->st)
        ps->st = segcl_diag_fail(ps->diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                                 "out of host memory reading %s", ps->name);
    return NULL;
}

static void *fail_syntax(parser *ps, const char *what)
{
    if (!ps->st)
        ps->st = segcl_diag_fail(ps->diag, SEGCL_ERROR_FORMAT, "%s: invalid JSON: %s at byte %zu",
                                 ps->name, what, (size_t)(ps->p - ps->start));
    return NULL;
}

void segcl_json_free(segcl_jvalue *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->count; i++) {
        segcl_json_free(v->items[i]);
        if (v->keys)
            segcl_free(v->keys[i]);
    }
    segcl_free(v->items);
    segcl_free(v->keys);
    segcl_free(v->string);
    segcl_free(v);
}

static void skip_space(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return false;
    ps->p += n;
    return true;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool read_hex4(parser *ps, unsigned *out)
{
    if (ps->end - ps->p < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(ps->p[i]);
        if (d < 0)
            return false;
        v = v * 16 + (unsigned)d;
    }
    ps->p += 4;
    *out = v;
    return true;
}

static size_t put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | cp >> 6);
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | cp >> 12);
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | cp >> 18);
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string after its opening quote; escapes decoded. The decoded text is never longer than
 * the source (an escape of 6 bytes gives at most 4). */
static char *parse_string(parser *ps)
{
    const char *s = ps->p;
    while (s < ps->end && *s != '"') {
        if (*s == '\\')
            s++;
        s++;
    }
    if (s >= ps->end)
        return fail_syntax(ps, "unterminated string");
    char *out = segcl_malloc((size_t)(s - ps->p) + 1);
    if (!out)
        return fail_memory(ps);
    size_t n = 0;
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p++;
        if (c < 0x20) {
            segcl_free(out);
            return fail_syntax(ps, "control character in a string");
        }
        if (c != '\\') {
            out[n++] = (char)c;
            continue;
        }
        char e = *ps->p++;
        switch (e) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp, low;
            bool ok = read_hex4(ps, &cp);
            if (ok && cp >= 0xD800 && cp < 0xDC00) {
                ok = ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u';
                if (ok) {
                    ps->p += 2;
                    ok = read_hex4(ps, &low) && low >= 0xDC00 && low < 0xE000;
                }
                if (ok)
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (ok && cp >= 0xDC00 && cp < 0xE000) {
                ok = false;
            }
            if (!ok || cp == 0) {
                segcl_free(out);
                return fail_syntax(ps, "bad \\u escape in a string");
            }
            n += put_utf8(out + n, cp);
            break;
        }
        default:
            segcl_free(out);
            return fail_syntax(ps, "bad escape in a string");
        }
    }
    ps->p++; /* closing quote */
    out[n] = '\0';
    return out;
}

static bool parse_number(parser *ps, segcl_jvalue *v)
{
    const char *s = ps->p;
    const char *q = s;
    bool integer = true;
    if (q < ps->end && *q == '-')
        q++;
    if (q >= ps->end || !(*q >= '0' && *q <= '9'))
        return fail_syntax(ps, "unexpected character"), false;
    if (*q == '0')
        q++;
    else
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    if (q < ps->end && *q == '.') {
        integer = false;
        q++;
        if (q >= ps->end || !(*q >= '0' && *q <= '9'))
            return fail_syntax(ps, "bad number"), false;
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integer = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || !(*q >= '0' && *q <= '9'))
            return fail_syntax(ps, "bad number"), false;
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    char buf[64];
    size_t len = (size_t)(q - s);
    if (len >= sizeof buf)
        return fail_syntax(ps, "number too long"), false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    v->type = SEGCL_JSON_NUMBER;
    errno = 0;
    v->number = strtod(buf, NULL);
    if (integer) {
        errno = 0;
        long long i = strtoll(buf, NULL, 10);
        v->is_integer = errno == 0;
        v->integer = i;
    }
    ps->p = q;
    return true;
}

/* Appends (key, item) to a container; takes ownership of both, also on failure. */
static bool append(parser *ps, segcl_jvalue *c, char *key, segcl_jvalue *item, size_t *cap)
{
    if (c->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        segcl_jvalue **items = segcl_realloc(c->items, ncap * sizeof *items);
        if (items)
            c->items = items;
        char **keys = NULL;
        if (items && c->type == SEGCL_JSON_OBJECT && (keys = segcl_realloc(c->keys, ncap * sizeof *keys)))
            c->keys = keys;
        if (!items || (c->type == SEGCL_JSON_OBJECT && !keys)) {
            segcl_free(key);
            segcl_json_free(item);
            return fail_memory(ps), false;
        }
        *cap = ncap;
    }
    c->items[c->count] = item;
    if (c->keys)
        c->keys[c->count] = key;
    c->count++;
    return true;
}

static segcl_jvalue *parse_value(parser *ps, int depth);

static segcl_jvalue *parse_container(parser *ps, segcl_jvalue *v, int depth)
{
    const bool object = v->type == SEGCL_JSON_OBJECT;
    const char close = object ? '}' : ']';
    size_t cap = 0;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_space(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"')
                return segcl_json_free(v), fail_syntax(ps, "expected a key");
            ps->p++;
            if (!(key = parse_string(ps)))
                return segcl_json_free(v), NULL;
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                segcl_free(key);
                return segcl_json_free(v), fail_syntax(ps, "expected ':'");
            }
            ps->p++;
        }
        segcl_jvalue *item = parse_value(ps, depth + 1);
        if (!item) {
            segcl_free(key);
            return segcl_json_free(v), NULL;
        }
        if (!append(ps, v, key, item, &cap))
            return segcl_json_free(v), NULL;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return v;
        }
        return segcl_json_free(v), fail_syntax(ps, object ? "expected ',' or '}'"
                                                          : "expected ',' or ']'");
    }
}

static segcl_jvalue *parse_value(parser *ps, int depth)
{
    if (depth > MAX_DEPTH)
        return fail_syntax(ps, "nesting too deep");
    skip_space(ps);
    if (ps->p >= ps->end)
        return fail_syntax(ps, "unexpected end");
    segcl_jvalue *v = segcl_calloc(1, sizeof *v);
    if (!v)
        return fail_memory(ps);
    char c = *ps->p;
    if (c == '{' || c == '[') {
        ps->p++;
        v->type = c == '{' ? SEGCL_JSON_OBJECT : SEGCL_JSON_ARRAY;
        return parse_container(ps, v, depth);
    }
    if (c == '"') {
        ps->p++;
        v->type = SEGCL_JSON_STRING;
        if (!(v->string = parse_string(ps)))
            return segcl_json_free(v), NULL;
        return v;
    }
    if (literal(ps, "true") || literal(ps, "false")) {
        v->type = SEGCL_JSON_BOOL;
        v->boolean = c == 't';
        return v;
    }
    if (literal(ps, "null")) {
        v->type = SEGCL_JSON_NULL;
        return v;
    }
    if (!parse_number(ps, v))
        return segcl_json_free(v), NULL;
    return v;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Duplicate keys make "which value counts" ambiguous: refused, as jansson's
 * JSON_REJECT_DUPLICATES does. Sorted copies keep this O(n log n) for hostile headers. */
static segcl_status check_duplicates(parser *ps, const segcl_jvalue *v)
{
    if (v->type != SEGCL_JSON_OBJECT && v->type != SEGCL_JSON_ARRAY)
        return SEGCL_OK;
    for (size_t i = 0; i < v->count; i++) {
        segcl_status st = check_duplicates(ps, v->items[i]);
        if (st)
            return st;
    }
    if (v->type != SEGCL_JSON_OBJECT || v->count < 2)
        return SEGCL_OK;
    char **sorted = segcl_malloc(v->count * sizeof *sorted);
    if (!sorted)
        return segcl_diag_fail(ps->diag, SEGCL_ERROR_OUT_OF_HOST_MEMORY,
                               "out of host memory reading %s", ps->name);
    memcpy(sorted, v->keys, v->count * sizeof *sorted);
    qsort(sorted, v->count, sizeof *sorted, cmp_keys);
    segcl_status st = SEGCL_OK;
    for (size_t i = 1; i < v->count && !st; i++)
        if (!strcmp(sorted[i - 1], sorted[i]))
            st = segcl_diag_fail(ps->diag, SEGCL_ERROR_FORMAT,
                                 "%s: invalid JSON: duplicate key '%s'", ps->name, sorted[i]);
    segcl_free(sorted);
    return st;
}

segcl_status segcl_json_parse(segcl_diag *diag, const char *name, const char *text, size_t len,
                              segcl_jvalue **out)
{
    *out = NULL;
    parser ps = {diag, name, text, text, text + len, SEGCL_OK};
    segcl_jvalue *v = parse_value(&ps, 0);
    if (!v)
        return ps.st;
    skip_space(&ps);
    if (ps.p != ps.end) {
        segcl_json_free(v);
        fail_syntax(&ps, "text after the value");
        return ps.st;
    }
    segcl_status st = check_duplicates(&ps, v);
    if (st) {
        segcl_json_free(v);
        return st;
    }
    *out = v;
    return SEGCL_OK;
}

segcl_jtype segcl_json_type(const segcl_jvalue *v)
{
    return v ? v->type : SEGCL_JSON_NULL;
}

size_t segcl_json_size(const segcl_jvalue *v)
{
    return v && (v->type == SEGCL_JSON_ARRAY || v->type == SEGCL_JSON_OBJECT) ? v->count : 0;
}

const segcl_jvalue *segcl_json_at(const segcl_jvalue *v, size_t i)
{
    return i < segcl_json_size(v) ? v->items[i] : NULL;
}

const char *segcl_json_key_at(const segcl_jvalue *v, size_t i)
{
    return v && v->type == SEGCL_JSON_OBJECT && i < v->count ? v->keys[i] : NULL;
}

const segcl_jvalue *segcl_json_get(const segcl_jvalue *v, const char *key)
{
    if (!v || v->type != SEGCL_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->count; i++)
        if (!strcmp(v->keys[i], key))
            return v->items[i];
    return NULL;
}

const char *segcl_json_string(const segcl_jvalue *v)
{
    return v && v->type == SEGCL_JSON_STRING ? v->string : NULL;
}

bool segcl_json_integer(const segcl_jvalue *v, int64_t *out)
{
    if (!v || v->type != SEGCL_JSON_NUMBER || !v->is_integer)
        return false;
    *out = v->integer;
    return true;
}

bool segcl_json_number(const segcl_jvalue *v, double *out)
{
    if (!v || v->type != SEGCL_JSON_NUMBER)
        return false;
    *out = v->number;
    return true;
}
