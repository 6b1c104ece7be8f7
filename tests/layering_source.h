/*
 * The layering test's reader of the source tree (test_layering.c holds the rules): the files
 * under a folder, C read with comments and literals told apart, #include lines, and a report
 * of findings.
 */
#ifndef SEGCL_LAYERING_SOURCE_H
#define SEGCL_LAYERING_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

/* What a check found. */
typedef struct report {
    char *text; /* one line per finding */
    size_t len, cap;
    int count; /* findings */
    int files; /* files read */
} report;

/* Adds a finding (a line of text). */
void note(report *r, const char *fmt, ...);
void report_free(report *r);

typedef struct file_list {
    char **paths; /* relative to the root, sorted */
    size_t count;
} file_list;

/* Adds the .c and .h files under root/rel, in name order; a folder that is absent adds none. */
void list_files(const char *root, const char *rel, file_list *out);
void file_list_free(file_list *l);
/* Whether path lies inside folder. */
bool under(const char *path, const char *folder);

/* A source file as the checks read it. All three texts have the same length and the same
 * newlines, so an offset in one is a line in all. */
typedef struct source {
    char *text; /* as written */
    char *code; /* comments blanked */
    char *bare; /* comments and the inside of string and character literals blanked */
    size_t len;
    size_t *literal_at; /* offset of each string literal's opening quote */
    size_t literals;
} source;

/* Fills code, bare and the literals from text and len. */
void source_parse(source *s);
/* Reads root/path; false when it cannot be read. */
bool source_load(source *s, const char *root, const char *path);
void source_free(source *s);
/* The line (from 1) of offset at. */
int line_of(const source *s, size_t at);

/* Calls visit for every .c and .h file under root/folder that reads (one that cannot be read
 * is a finding), counting them in r->files. */
typedef void (*source_visit)(const char *path, const source *s, const void *arg, report *r);
void each_source(const char *root, const char *folder, source_visit visit, const void *arg,
                 report *r);

/* The included path without leading "./", "../" and "src/": what it names inside src/. */
const char *normalised(const char *path);
const char *base_name(const char *path);

/* A rule about #include lines: is_forbidden decides for one file and one included path. */
typedef bool (*include_rule)(const char *file, const char *included, bool angle);

/* Applies rule to every #include in the .c and .h files under each of folders. */
void check_includes(const char *root, const char *const *folders, size_t nfolders,
                    include_rule rule, report *r);

#endif
