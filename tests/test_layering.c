/*
 * The house rules that a grep can hold (issue 16), read from the source tree: which folder may
 * include which, the context's layout private to src/cl, no command-line flags and no getenv in
 * the library but in one place, and files of a readable size. Each rule is its own test case,
 * and a failure names every offending file and line. The checks read C properly enough:
 * comments are skipped, and string literals are read with their escapes.
 *
 * The tree is $SEGCL_TEST_SOURCE_DIR (meson passes the project's root); the first cases run the
 * same checks on a small tree made in a temporary folder, good files and bad ones, so that the
 * checker itself is tested.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

/* The one file in src/ that reads environment variables (the documented ones, at context
 * open). */
#define GETENV_ALLOWED "src/cl/environment.c"

/* The most lines a file in src/ may have... */
#define MAX_LINES 600
/* ...except these, over it when the rule came (issue 16); take a file off once it is under. */
static const char *const size_allowed[] = {
    "src/model/model.c",
    "src/train/train.c",
};

/* ---- what a check found ------------------------------------------------------------------- */

typedef struct report {
    char *text; /* one line per finding */
    size_t len, cap;
    int count; /* findings */
    int files; /* files read */
} report;

static void note(report *r, const char *fmt, ...)
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

static void report_free(report *r)
{
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* ---- the source tree ---------------------------------------------------------------------- */

typedef struct file_list {
    char **paths; /* relative to the root, sorted */
    size_t count;
} file_list;

static bool is_c_file(const char *name)
{
    size_t n = strlen(name);
    return n > 2 && name[n - 2] == '.' && (name[n - 1] == 'c' || name[n - 1] == 'h');
}

/* Adds the .c and .h files under root/rel, in name order; a folder that is absent adds none. */
static void list_files(const char *root, const char *rel, file_list *out)
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

static void file_list_free(file_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof *l);
}

static bool under(const char *path, const char *folder)
{
    size_t n = strlen(folder);
    return strncmp(path, folder, n) == 0 && path[n] == '/';
}

/* ---- reading C ---------------------------------------------------------------------------- */

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

static void blank(char *s, size_t i)
{
    if (s[i] != '\n')
        s[i] = ' ';
}

/* Splits text into code and literals: block and line comments (a line comment continues past
 * a backslash-newline), string and character literals with their escapes (\" does not end a
 * string). An unterminated literal ends at the end of its line, as the compiler would reject
 * it anyway. */
static void source_parse(source *s)
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
static bool source_load(source *s, const char *root, const char *path)
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

static void source_free(source *s)
{
    free(s->text);
    free(s->code);
    free(s->bare);
    free(s->literal_at);
    memset(s, 0, sizeof *s);
}

static int line_of(const source *s, size_t at)
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
static const char *normalised(const char *path)
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

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A rule about #include lines: is_forbidden decides for one file and one included path. */
typedef bool (*include_rule)(const char *file, const char *included, bool angle);

/* Applies rule to every #include in the .c and .h files under each of folders. */
static void check_includes(const char *root, const char *const *folders, size_t nfolders,
                           include_rule rule, report *r)
{
    for (size_t f = 0; f < nfolders; f++) {
        file_list files = {0};
        list_files(root, folders[f], &files);
        for (size_t i = 0; i < files.count; i++) {
            source s;
            if (!source_load(&s, root, files.paths[i])) {
                note(r, "%s: cannot be read", files.paths[i]);
                continue;
            }
            r->files++;
            int line = 1;
            for (size_t at = 0; at < s.len; line++) {
                char path[512];
                bool angle;
                if (include_on_line(s.code, at, &angle, path, sizeof path) &&
                    rule(files.paths[i], path, angle))
                    note(r, "%s:%d: #include %c%s%c", files.paths[i], line, angle ? '<' : '"', path,
                         angle ? '>' : '"');
                const char *nl = strchr(s.text + at, '\n');
                at = nl ? (size_t)(nl - s.text) + 1 : s.len;
            }
            source_free(&s);
        }
        file_list_free(&files);
    }
}

/* ---- the rules ---------------------------------------------------------------------------- */

/* src/data is host work: nothing of src/cl (nor OpenCL's own headers), nor the catch-all. */
static bool data_includes_cl(const char *file, const char *included, bool angle)
{
    (void)file;
    if (angle)
        return strncmp(included, "CL/", 3) == 0;
    const char *n = normalised(included);
    return strncmp(n, "cl/", 3) == 0 || strcmp(base_name(n), "internal.h") == 0;
}

static void check_data_not_cl(const char *root, report *r)
{
    const char *folders[] = {"src/data"};
    check_includes(root, folders, 1, data_includes_cl, r);
}

static bool io_includes_train(const char *file, const char *included, bool angle)
{
    (void)file;
    return !angle && strncmp(normalised(included), "train/", 6) == 0;
}

static void check_io_not_train(const char *root, report *r)
{
    const char *folders[] = {"src/io"};
    check_includes(root, folders, 1, io_includes_train, r);
}

/* The context's layout is src/cl's: anywhere else the compiler then rejects a member access. */
static bool includes_context_layout(const char *file, const char *included, bool angle)
{
    return !angle && !under(file, "src/cl") &&
           strcmp(base_name(normalised(included)), "context_impl.h") == 0;
}

static const char *const everywhere[] = {"src", "include", "tools", "tests"};

static void check_context_private(const char *root, report *r)
{
    check_includes(root, everywhere, 4, includes_context_layout, r);
}

static bool includes_internal(const char *file, const char *included, bool angle)
{
    (void)file;
    return !angle && strcmp(base_name(normalised(included)), "internal.h") == 0;
}

static void check_no_internal_h(const char *root, report *r)
{
    check_includes(root, everywhere, 4, includes_internal, r);
}

/* A flag in a literal: "--" at its start or after a character that is no letter, digit or
 * '-', then a lowercase letter ("(--threshold)", "--epochs"; not "a--b" or "----"). */
static bool names_flag(const char *lit, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (lit[i] == '-' && lit[i + 1] == '-' && islower((unsigned char)lit[i + 2]) &&
            (i == 0 || (!isalnum((unsigned char)lit[i - 1]) && lit[i - 1] != '-')))
            return true;
    return false;
}

static void check_no_flags(const char *root, report *r)
{
    file_list files = {0};
    list_files(root, "src", &files);
    for (size_t i = 0; i < files.count; i++) {
        source s;
        if (!source_load(&s, root, files.paths[i])) {
            note(r, "%s: cannot be read", files.paths[i]);
            continue;
        }
        r->files++;
        for (size_t k = 0; k < s.literals; k++) {
            /* the literal's text, escapes as written, up to its closing quote */
            const char *lit = s.text + s.literal_at[k] + 1;
            size_t n = 0;
            while (lit + n < s.text + s.len && lit[n] != '\n' &&
                   !(lit[n] == '"' && s.bare[lit + n - s.text] == '"'))
                n++;
            if (names_flag(lit, n))
                note(r, "%s:%d: \"%.*s\"", files.paths[i], line_of(&s, s.literal_at[k]),
                     (int)(n > 80 ? 80 : n), lit);
        }
        source_free(&s);
    }
    file_list_free(&files);
}

static bool is_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static void check_getenv(const char *root, report *r)
{
    file_list files = {0};
    list_files(root, "src", &files);
    for (size_t i = 0; i < files.count; i++) {
        source s;
        if (!source_load(&s, root, files.paths[i])) {
            note(r, "%s: cannot be read", files.paths[i]);
            continue;
        }
        r->files++;
        if (strcmp(files.paths[i], GETENV_ALLOWED) != 0) {
            for (size_t at = 0; at < s.len; at++) {
                if (!is_ident(s.bare[at]) || (at > 0 && is_ident(s.bare[at - 1])))
                    continue;
                size_t n = 0;
                while (is_ident(s.bare[at + n]))
                    n++;
                if ((n == 6 && strncmp(s.bare + at, "getenv", 6) == 0) ||
                    (n == 13 && strncmp(s.bare + at, "secure_getenv", 13) == 0))
                    note(r, "%s:%d: %.*s (only " GETENV_ALLOWED " reads the environment)",
                         files.paths[i], line_of(&s, at), (int)n, s.bare + at);
                at += n;
            }
        }
        source_free(&s);
    }
    file_list_free(&files);
}

static bool size_allows(const char *path)
{
    for (size_t i = 0; i < sizeof size_allowed / sizeof *size_allowed; i++)
        if (strcmp(size_allowed[i], path) == 0)
            return true;
    return false;
}

/* Files over MAX_LINES, and allowances no longer needed (the list only shrinks). */
static void check_sizes(const char *root, report *r)
{
    file_list files = {0};
    list_files(root, "src", &files);
    for (size_t i = 0; i < files.count; i++) {
        char full[2100];
        snprintf(full, sizeof full, "%s/%s", root, files.paths[i]);
        char *text = test_read_file(full);
        if (!text) {
            note(r, "%s: cannot be read", files.paths[i]);
            continue;
        }
        r->files++;
        int lines = 0;
        for (const char *p = text; *p; p++)
            lines += *p == '\n';
        free(text);
        const bool allowed = size_allows(files.paths[i]);
        if (lines > MAX_LINES && !allowed)
            note(r, "%s:%d: %d lines, over %d", files.paths[i], lines, lines, MAX_LINES);
        else if (lines <= MAX_LINES && allowed)
            note(r, "%s: %d lines now: take it off size_allowed in tests/test_layering.c",
                 files.paths[i], lines);
    }
    for (size_t k = 0; k < sizeof size_allowed / sizeof *size_allowed; k++) {
        bool present = false;
        for (size_t i = 0; i < files.count && !present; i++)
            present = strcmp(files.paths[i], size_allowed[k]) == 0;
        if (!present)
            note(r, "%s is gone: take it off size_allowed in tests/test_layering.c",
                 size_allowed[k]);
    }
    file_list_free(&files);
}

/* ---- the checker on a tree made here ------------------------------------------------------ */

static char fake[256];

static void put(const char *path, const char *text)
{
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", fake, path);
    for (char *slash = strchr(full + strlen(fake) + 1, '/'); slash;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        assert_true(mkdir(full, 0755) == 0 || access(full, F_OK) == 0);
        *slash = '/';
    }
    FILE *f = fopen(full, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* Runs one check on the fake tree: `count` findings, each of `expect` among them. */
static void expect_findings(void (*check)(const char *, report *), int count,
                            const char *const *expect, size_t nexpect)
{
    report r = {0};
    check(fake, &r);
    if (r.count != count)
        fail_msg("%d findings, not %d:\n%s", r.count, count, r.text ? r.text : "");
    for (size_t i = 0; i < nexpect; i++)
        if (!strstr(r.text, expect[i]))
            fail_msg("no finding '%s' in:\n%s", expect[i], r.text);
    report_free(&r);
}

static int fake_setup(void **state)
{
    (void)state;
    return test_temp_dir(fake, sizeof fake, "layering");
}

static int fake_teardown(void **state)
{
    (void)state;
    return test_remove_tree(fake);
}

static void test_reads_c(void **state)
{
    (void)state;
    source s = {0};
    s.text = strdup("a /* getenv(\"x\") */ b // \"--no\" \\\n still comment\n"
                    "\"q\\\"--yes\" '\"' \"/* not a comment */\" c\n");
    assert_non_null(s.text);
    s.len = strlen(s.text);
    source_parse(&s);
    assert_null(strstr(s.code, "getenv"));
    assert_null(strstr(s.code, "--no"));
    assert_null(strstr(s.code, "still"));
    assert_non_null(strstr(s.code, "\"q\\\"--yes\""));
    assert_non_null(strstr(s.code, "/* not a comment */"));
    assert_null(strstr(s.bare, "yes"));
    assert_non_null(strstr(s.bare, " c\n"));
    assert_int_equal(s.literals, 2); /* '"' is a character, not a string */
    assert_int_equal(line_of(&s, s.literal_at[0]), 3);
    assert_true(names_flag("(--threshold)", 13));
    assert_true(names_flag("--epochs", 8));
    assert_false(names_flag("a--b", 4));
    assert_false(names_flag("-----", 5));
    assert_false(names_flag("--", 2));
    source_free(&s);
}

static void test_checker_includes(void **state)
{
    (void)state;
    put("src/data/good.c", "#include \"data/data.h\"\n#include <png.h>\n"
                           "/* #include \"cl/cl.h\" */\n// #include \"internal.h\"\n");
    put("src/data/bad.c", "#include \"core/core.h\"\n  #  include \"cl/cl.h\"\n"
                          "#include \"../internal.h\"\n#include <CL/cl.h>\n");
    put("src/io/good.c", "#include \"settings/settings.h\"\n");
    put("src/io/bad.h", "\n\n#include \"train/run_folder.h\"\n");
    put("src/cl/context.c", "#include \"cl/context_impl.h\"\n");
    put("src/ops/bad.c", "#include \"cl/context_impl.h\"\n#include \"cl/cl.h\"\n");
    put("tools/bad.c", "#include \"context_impl.h\"\n");
    put("tests/bad.c",
        "#include \"internal.h\"\nconst char *s = \"#include \\\"internal.h\\\"\";\n");
    const char *data[] = {"src/data/bad.c:2: #include \"cl/cl.h\"",
                          "src/data/bad.c:3: #include \"../internal.h\"",
                          "src/data/bad.c:4: #include <CL/cl.h>"};
    expect_findings(check_data_not_cl, 3, data, 3);
    const char *io[] = {"src/io/bad.h:3: #include \"train/run_folder.h\""};
    expect_findings(check_io_not_train, 1, io, 1);
    const char *layout[] = {"src/ops/bad.c:1:", "tools/bad.c:1:"};
    expect_findings(check_context_private, 2, layout, 2);
    const char *internal[] = {"src/data/bad.c:3:", "tests/bad.c:1:"};
    expect_findings(check_no_internal_h, 2, internal, 2);
}

static void test_checker_literals(void **state)
{
    (void)state;
    put("src/infer/good.c", "/* say \"--threshold\" in a comment */\n"
                            "// or \"(--out)\" here\n"
                            "static const char *a = \"threshold must be in (0, 1)\";\n"
                            "static const char *b = \"-cl-fast-relaxed-math a--b ----\";\n"
                            "static const char *c = \"\\\"\"; /* \"--after-escape\" */\n"
                            "static const char d = '\"'; // \"--after-char\"\n"
                            "static const char *e = \"home\"; /* getenv(\"HOME\") */\n"
                            "static int my_getenv_count;\n");
    put("src/infer/bad.c", "static const char *a = \"bad value (--threshold)\";\n"
                           "static const char *b = \"x\\\" --epochs\";\n"
                           "const char *h(void) { return getenv(\"HOME\"); }\n");
    put(GETENV_ALLOWED, "const char *k(void) { return getenv(\"SEGCL_DEVICE\"); }\n");
    const char *flags[] = {"src/infer/bad.c:1: \"bad value (--threshold)\"", "src/infer/bad.c:2:"};
    expect_findings(check_no_flags, 2, flags, 2);
    const char *env[] = {"src/infer/bad.c:3: getenv"};
    expect_findings(check_getenv, 1, env, 1);
}

static void test_checker_sizes(void **state)
{
    (void)state;
    char *big = malloc(MAX_LINES * 3 + 8);
    assert_non_null(big);
    for (int i = 0; i < MAX_LINES; i++)
        memcpy(big + 3 * i, "x;\n", 3);
    big[3 * MAX_LINES] = '\0';
    put("src/model/at_limit.c", big); /* 600 lines: fine */
    memcpy(big + 3 * MAX_LINES, "y;\n", 4);
    put("src/model/over.c", big); /* 601: over */
    for (size_t i = 0; i < sizeof size_allowed / sizeof *size_allowed; i++)
        put(size_allowed[i], i == 0 ? "small;\n" : big); /* allowed; the first needs it no more */
    free(big);
    char small_now[300], over[300];
    snprintf(small_now, sizeof small_now, "%s: 1 lines now", size_allowed[0]);
    snprintf(over, sizeof over, "src/model/over.c:%d: %d lines", MAX_LINES + 1, MAX_LINES + 1);
    const char *sizes[] = {over, small_now};
    expect_findings(check_sizes, 2, sizes, 2);
    /* an allowance whose file has gone is reported too */
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fake, size_allowed[1]);
    assert_int_equal(remove(path), 0);
    char gone[300];
    snprintf(gone, sizeof gone, "%s is gone", size_allowed[1]);
    const char *sizes2[] = {over, small_now, gone};
    expect_findings(check_sizes, 3, sizes2, 3);
}

/* ---- the project's tree ------------------------------------------------------------------- */

static const char *project_root(void)
{
    const char *dir = getenv("SEGCL_TEST_SOURCE_DIR");
    return dir && *dir ? dir : ".";
}

static void expect_none(void (*check)(const char *, report *), const char *rule)
{
    report r = {0};
    check(project_root(), &r);
    if (r.files == 0)
        fail_msg("no source files under %s (set SEGCL_TEST_SOURCE_DIR)", project_root());
    if (r.count) {
        /* a line at a time: cmocka cuts one long message short */
        for (char *line = r.text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
            *nl = '\0';
            print_error("%s\n", line);
        }
        const int count = r.count;
        report_free(&r);
        fail_msg("%s: %d finding%s (above)", rule, count, count == 1 ? "" : "s");
    }
    report_free(&r);
}

static void test_data_does_not_include_cl(void **state)
{
    (void)state;
    expect_none(check_data_not_cl, "src/data includes src/cl or internal.h");
}

static void test_io_does_not_include_train(void **state)
{
    (void)state;
    expect_none(check_io_not_train, "src/io includes src/train");
}

static void test_context_layout_private(void **state)
{
    (void)state;
    expect_none(check_context_private, "the context's layout is included outside src/cl");
}

static void test_no_internal_h(void **state)
{
    (void)state;
    expect_none(check_no_internal_h, "internal.h is included");
}

static void test_no_flags_in_library(void **state)
{
    (void)state;
    expect_none(check_no_flags, "a string literal in src/ names a command-line flag");
}

static void test_getenv_in_one_place(void **state)
{
    (void)state;
    expect_none(check_getenv, "getenv outside " GETENV_ALLOWED);
}

static void test_file_sizes(void **state)
{
    (void)state;
    expect_none(check_sizes, "a file in src/ is over the size limit");
}

int main(void)
{
    const struct CMUnitTest checker[] = {
        cmocka_unit_test(test_reads_c),
        cmocka_unit_test(test_checker_includes),
        cmocka_unit_test(test_checker_literals),
        cmocka_unit_test(test_checker_sizes),
    };
    const struct CMUnitTest tree[] = {
        cmocka_unit_test(test_data_does_not_include_cl),
        cmocka_unit_test(test_io_does_not_include_train),
        cmocka_unit_test(test_context_layout_private),
        cmocka_unit_test(test_no_internal_h),
        cmocka_unit_test(test_no_flags_in_library),
        cmocka_unit_test(test_getenv_in_one_place),
        cmocka_unit_test(test_file_sizes),
    };
    int failed =
        cmocka_run_group_tests_name("layering checker", checker, fake_setup, fake_teardown);
    failed += cmocka_run_group_tests_name("layering", tree, NULL, NULL);
    return failed;
}
