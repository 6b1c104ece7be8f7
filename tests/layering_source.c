/*
 * The layering test's reader of the source tree (layering_source.h): listing the C files under
 * a folder, reading C with its comments and literals told apart, and #include lines.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layering_source.h"
#include "test_util.h"

/* ---- what a check found ------------------------------------------------------------------- */

void note(report *r, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t need = (size_t)(n < 0 ? 0 : n >= (int)sizeof line ? (int)sizeof line - 1 : n);
    if (r->len + need + 2 > r->cap) {
        r->cap = 2 * (r->len + need + 2) + 1024;
        r->text = realloc(r->text, r->cap);
        assert_non_null(r->text);
    }
    memcpy(r->text + r->len, line, need);
    r->len += need;
    r->text[r->len++] = '\n';
    r->text[r->len] = '\0';
    r->count++;
}

void report_free(report *r)
{
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* ---- the source tree ---------------------------------------------------------------------- */

static bool is_c_file(const char *name)
{
    size_t n = strlen(name);
    return n > 2 && name[n - 2] == '.' && (name[n - 1] == 'c' || name[n - 1] == 'h');
}

/* Adds the .c and .h files under root/rel, in name order; a folder that is absent adds none. */
void list_files(const char *root, const char *rel, file_list *out)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", root, rel);
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0)
        return;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char sub[1024], full[2100];
        snprintf(sub, sizeof sub, "%s/%s", rel, name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (name[0] != '.' && stat(full, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                list_files(root, sub, out);
            } else if (S_ISREG(st.st_mode) && is_c_file(name)) {
                out->paths = realloc(out->paths, (out->count + 1) * sizeof *out->paths);
                assert_non_null(out->paths);
                out->paths[out->count] = strdup(sub);
                assert_non_null(out->paths[out->count]);
                out->count++;
            }
        }
        free(names[i]);
    }
    free(names);
}

void file_list_free(file_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof *l);
}

bool under(const char *path, const char *folder)
{
    size_t n = strlen(folder);
    return strncmp(path, folder, n) == 0 && path[n] == '/';
}

/* ---- reading C ---------------------------------------------------------------------------- */

static void blank(char *s, size_t i)
{
    if (s[i] != '\n')
        s[i] = ' ';
}

/* Splits text into code and literals: block and line comments (a line comment continues past
 * a backslash-newline), string and character literals with their escapes (\" does not end a
 * string). An unterminated literal ends at the end of its line, as the compiler would reject
 * it anyway. */
void source_parse(source *s)
{
    enum { CODE, LINE_COMMENT, BLOCK_COMMENT, STRING, CHAR } state = CODE;
    s->code = strdup(s->text);
    s->bare = strdup(s->text);
    assert_non_null(s->code);
    assert_non_null(s->bare);
    for (size_t i = 0; i < s->len; i++) {
        char c = s->text[i], next = i + 1 < s->len ? s->text[i + 1] : '\0';
        switch (state) {
        case CODE:
            if (c == '/' && next == '*') {
                state = BLOCK_COMMENT;
                blank(s->code, i), blank(s->bare, i);
                i++;
                blank(s->code, i), blank(s->bare, i);
            } else if (c == '/' && next == '/') {
                state = LINE_COMMENT;
                blank(s->code, i), blank(s->bare, i);
            } else if (c == '"' || c == '\'') {
                state = c == '"' ? STRING : CHAR;
                if (c == '"') {
                    s->literal_at = realloc(s->literal_at, (s->literals + 1) * sizeof(size_t));
                    assert_non_null(s->literal_at);
                    s->literal_at[s->literals++] = i;
                }
            }
            break;
        case LINE_COMMENT:
            if (c == '\n') {
                state = CODE;
            } else if (c == '\\' && next == '\n') {
                blank(s->code, i), blank(s->bare, i);
                i++;
            } else {
                blank(s->code, i), blank(s->bare, i);
            }
            break;
        case BLOCK_COMMENT:
            blank(s->code, i), blank(s->bare, i);
            if (c == '*' && next == '/') {
                i++;
                blank(s->code, i), blank(s->bare, i);
                state = CODE;
            }
            break;
        case STRING:
        case CHAR:
            if (c == '\n') {
                state = CODE;
            } else if ((state == STRING && c == '"') || (state == CHAR && c == '\'')) {
                state = CODE;
            } else {
                blank(s->bare, i);
                if (c == '\\' && next != '\n' && next != '\0') {
                    i++;
                    blank(s->bare, i);
                }
            }
            break;
        }
    }
}

/* Reads root/path; false when it cannot be read. */
bool source_load(source *s, const char *root, const char *path)
{
    memset(s, 0, sizeof *s);
    char full[2100];
    snprintf(full, sizeof full, "%s/%s", root, path);
    s->text = test_read_file(full);
    if (!s->text)
        return false;
    s->len = strlen(s->text);
    source_parse(s);
    return true;
}

void source_free(source *s)
{
    free(s->text);
    free(s->code);
    free(s->bare);
    free(s->literal_at);
    memset(s, 0, sizeof *s);
}

int line_of(const source *s, size_t at)
{
    int line = 1;
    for (size_t i = 0; i < at && i < s->len; i++)
        line += s->text[i] == '\n';
    return line;
}

/* The path an #include directive on the line starting at `at` names (quoted, or in <> when
 * angle is set), copied into path; false when the line is no such directive. */
static bool include_on_line(const char *code, size_t at, bool *angle, char *path, size_t cap)
{
    const char *p = code + at;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != '#')
        return false;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, "include", 7) != 0)
        return false;
    p += 7;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '"' && *p != '<')
        return false;
    const char close = *p == '"' ? '"' : '>';
    *angle = *p == '<';
    p++;
    size_t n = 0;
    while (p[n] && p[n] != close && p[n] != '\n')
        n++;
    if (p[n] != close)
        return false;
    snprintf(path, cap, "%.*s", (int)n, p);
    return true;
}

/* The included path without leading "./", "../" and "src/": what it names inside src/. */
const char *normalised(const char *path)
{
    for (;;) {
        if (strncmp(path, "./", 2) == 0)
            path += 2;
        else if (strncmp(path, "../", 3) == 0)
            path += 3;
        else if (strncmp(path, "src/", 4) == 0)
            path += 4;
        else
            return path;
    }
}

const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Applies rule to every #include in the .c and .h files under each of folders. */
void each_source(const char *root, const char *folder, source_visit visit, const void *arg,
                 report *r)
{
    file_list files = {0};
    list_files(root, folder, &files);
    for (size_t i = 0; i < files.count; i++) {
        source s;
        if (!source_load(&s, root, files.paths[i])) {
            note(r, "%s: cannot be read", files.paths[i]);
            continue;
        }
        r->files++;
        visit(files.paths[i], &s, arg, r);
        source_free(&s);
    }
    file_list_free(&files);
}

static void includes_of(const char *file, const source *s, const void *arg, report *r)
{
    const include_rule *rule = arg;
    int line = 1;
    for (size_t at = 0; at < s->len; line++) {
        char path[512];
        bool angle;
        if (include_on_line(s->code, at, &angle, path, sizeof path) &&
            (*rule)(file, path, angle))
            note(r, "%s:%d: #include %c%s%c", file, line, angle ? '<' : '"', path,
                 angle ? '>' : '"');
        const char *nl = strchr(s->text + at, '\n');
        at = nl ? (size_t)(nl - s->text) + 1 : s->len;
    }
}

void check_includes(const char *root, const char *const *folders, size_t nfolders,
                    include_rule rule, report *r)
{
    for (size_t f = 0; f < nfolders; f++)
        each_source(root, folders[f], includes_of, &rule, r);
}
