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
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layering_source.h"
#include "test_util.h"

/* The one file in src/ that reads environment variables (the documented ones, at context
 * open). */
#define GETENV_ALLOWED "src/cl/environment.c"

/* The most lines a file in src/ may have... */
#define MAX_LINES 600
/* ...except these (NULL-terminated): files over it when the rule came (issue 16), taken off
 * once under; none is left. */
static const char *const size_allowed[] = {
    NULL,
};
/* The list check_sizes holds the tree to: size_allowed, or the checker's own test list. */
static const char *const *sizes_allowed = size_allowed;

/* The layers of src/, top to bottom, and what each may include besides itself: every arrow
 * points down (README.md's developer section draws the same stack). A folder not named here
 * fails the check until it is placed. */
typedef struct layer {
    const char *name;
    const char *uses[11];
} layer;

static const layer layers[] = {
    {"infer", {"train", "api", "picture", "io", "data", "model", "ops", "settings", "cl", "core"}},
    {"train", {"api", "picture", "io", "data", "model", "ops", "settings", "cl", "core"}},
    {"api", {"data", "settings", "cl", "core"}},
    {"picture", {"data", "settings", "core"}},
    {"io", {"model", "ops", "settings", "cl", "core"}},
    {"data", {"settings", "core"}},
    {"model", {"ops", "settings", "cl", "core"}},
    {"ops", {"settings", "cl", "core"}},
    {"settings", {"cl", "core"}},
    {"cl", {"core"}},
    {"core", {NULL}},
};

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

static const layer *layer_of(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++)
        if (strlen(layers[i].name) == len && strncmp(layers[i].name, name, len) == 0)
            return &layers[i];
    return NULL;
}

/* An include of another layer of src/ that is not below the including file's; io may include
 * settings, but not the run configuration (io reads and writes files, it knows no runs). */
static bool includes_upward(const char *file, const char *included, bool angle)
{
    if (angle || strncmp(file, "src/", 4) != 0)
        return false;
    const char *folder = file + 4, *slash = strchr(folder, '/');
    const layer *own = slash ? layer_of(folder, (size_t)(slash - folder)) : NULL;
    const char *n = normalised(included), *end = strchr(n, '/');
    const layer *target = end ? layer_of(n, (size_t)(end - n)) : NULL;
    if (!slash)
        return false; /* a file at the top of src/ belongs to no layer */
    if (!own)
        return true; /* a folder the table does not place */
    if (!target || target == own)
        return false; /* generated headers, the public header, the layer itself */
    if (strcmp(own->name, "io") == 0 && strcmp(n, "settings/run_config.h") == 0)
        return true;
    for (size_t i = 0; i < sizeof own->uses / sizeof *own->uses && own->uses[i]; i++)
        if (strcmp(own->uses[i], target->name) == 0)
            return false;
    return true;
}

static void check_layers(const char *root, report *r)
{
    const char *folders[] = {"src"};
    check_includes(root, folders, 1, includes_upward, r);
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

static void find_flags(const char *path, const source *s, const void *arg, report *r)
{
    (void)arg;
    for (size_t k = 0; k < s->literals; k++) {
        /* the literal's text, escapes as written, up to its closing quote */
        const char *lit = s->text + s->literal_at[k] + 1;
        size_t n = 0;
        while (lit + n < s->text + s->len && lit[n] != '\n' &&
               !(lit[n] == '"' && s->bare[lit + n - s->text] == '"'))
            n++;
        if (names_flag(lit, n))
            note(r, "%s:%d: \"%.*s\"", path, line_of(s, s->literal_at[k]), (int)(n > 80 ? 80 : n),
                 lit);
    }
}

static void check_no_flags(const char *root, report *r)
{
    each_source(root, "src", find_flags, NULL, r);
}

static bool is_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static void find_getenv(const char *path, const source *s, const void *arg, report *r)
{
    (void)arg;
    if (strcmp(path, GETENV_ALLOWED) == 0)
        return;
    for (size_t at = 0; at < s->len; at++) {
        if (!is_ident(s->bare[at]) || (at > 0 && is_ident(s->bare[at - 1])))
            continue;
        size_t n = 0;
        while (is_ident(s->bare[at + n]))
            n++;
        if ((n == 6 && strncmp(s->bare + at, "getenv", 6) == 0) ||
            (n == 13 && strncmp(s->bare + at, "secure_getenv", 13) == 0))
            note(r, "%s:%d: %.*s (only " GETENV_ALLOWED " reads the environment)", path,
                 line_of(s, at), (int)n, s->bare + at);
        at += n;
    }
}

static void check_getenv(const char *root, report *r)
{
    each_source(root, "src", find_getenv, NULL, r);
}

/* The kernel style chooses code in one place: the backend table src/cl opens a context with
 * (src/cl/backend.c). Above src/cl only `segcl tune`, which tunes the style's own parameters,
 * may ask which style a device has. */
static void find_style_tests(const char *path, const source *s, const void *arg, report *r)
{
    (void)arg;
    if (strncmp(path, "src/cl/", 7) == 0 || strcmp(path, "src/infer/tune.c") == 0)
        return;
    static const char *const names[] = {"cpu_style", "segcl_gemm_get_backend", NULL};
    for (size_t at = 0; at < s->len; at++) {
        if (!is_ident(s->bare[at]) || (at > 0 && is_ident(s->bare[at - 1])))
            continue;
        size_t n = 0;
        while (is_ident(s->bare[at + n]))
            n++;
        for (size_t i = 0; names[i]; i++)
            if (n == strlen(names[i]) && strncmp(s->bare + at, names[i], n) == 0)
                note(r, "%s:%d: %s (the backend table chooses by style: src/cl/backend.c)",
                     path, line_of(s, at), names[i]);
        at += n;
    }
}

static void check_style_tests(const char *root, report *r)
{
    each_source(root, "src", find_style_tests, NULL, r);
}

static bool size_allows(const char *path)
{
    for (size_t i = 0; sizes_allowed[i]; i++)
        if (strcmp(sizes_allowed[i], path) == 0)
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
    for (size_t k = 0; sizes_allowed[k]; k++) {
        bool present = false;
        for (size_t i = 0; i < files.count && !present; i++)
            present = strcmp(files.paths[i], sizes_allowed[k]) == 0;
        if (!present)
            note(r, "%s is gone: take it off size_allowed in tests/test_layering.c",
                 sizes_allowed[k]);
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
    put("src/ops/styled.c", "bool f(const segcl_kernel_params *p) { return p->cpu_style; }\n"
                            "/* cpu_style in a comment */ static int is_cpu_style_x;\n");
    put("src/cl/backend_x.c", "bool g(const segcl_kernel_params *p) { return p->cpu_style; }\n");
    const char *style[] = {"src/ops/styled.c:1: cpu_style"};
    expect_findings(check_style_tests, 1, style, 1);
}

static void test_checker_sizes(void **state)
{
    (void)state;
    static const char *const test_allowed[] = {"src/fake/small.c", "src/fake/big.c", NULL};
    char *big = malloc(MAX_LINES * 3 + 8);
    assert_non_null(big);
    for (int i = 0; i < MAX_LINES; i++)
        memcpy(big + 3 * i, "x;\n", 3);
    memcpy(big + 3 * MAX_LINES, "y;\n", 4);
    put("src/model/over.c", big); /* 601: over */
    put("src/model/exactly.c", "x;\n");
    put(test_allowed[0], "small;\n"); /* allowed, and needs it no more */
    put(test_allowed[1], big);        /* allowed */
    free(big);
    sizes_allowed = test_allowed;
    char over[300];
    snprintf(over, sizeof over, "src/model/over.c:%d: %d lines", MAX_LINES + 1, MAX_LINES + 1);
    const char *sizes[] = {over, "src/fake/small.c: 1 lines now"};
    expect_findings(check_sizes, 2, sizes, 2);
    /* an allowance whose file has gone is reported too */
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fake, test_allowed[1]);
    assert_int_equal(remove(path), 0);
    const char *sizes2[] = {over, "src/fake/small.c: 1 lines now", "src/fake/big.c is gone"};
    expect_findings(check_sizes, 3, sizes2, 3);
    sizes_allowed = size_allowed;
}

static void test_checker_layers(void **state)
{
    (void)state;
    put("src/model/down.c", "#include \"ops/ops.h\"\n#include \"model/model.h\"\n"
                            "#include \"segcl/segcl.h\"\n#include \"segcl_version.h\"\n");
    put("src/ops/up.c", "#include \"cl/cl.h\"\n#include \"model/model.h\"\n");
    put("src/core/up.h", "\n#include \"../settings/settings.h\"\n");
    put("src/io/run.c", "#include \"settings/settings.h\"\n#include \"settings/run_config.h\"\n");
    put("src/infer/down.c", "#include \"train/run_folder.h\"\n");
    put("src/train/up.c", "#include \"infer/predict.h\"\n");
    put("src/newlayer/x.c", "#include \"core/core.h\"\n");
    /* with the includes test's files in the same tree: data on cl, io on train */
    const char *found[] = {
        "src/ops/up.c:2:",     "src/core/up.h:2:",  "src/io/run.c:2:", "src/train/up.c:1:",
        "src/newlayer/x.c:1:", "src/data/bad.c:2:", "src/io/bad.h:3:"};
    expect_findings(check_layers, 7, found, 7);
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

static void test_style_chosen_once(void **state)
{
    (void)state;
    expect_none(check_style_tests, "a kernel-style test outside src/cl");
}

static void test_layers_point_down(void **state)
{
    (void)state;
    expect_none(check_layers, "a layer of src/ includes one above it");
}

static void test_file_sizes(void **state)
{
    (void)state;
    expect_none(check_sizes, "a file in src/ is over the size limit");
}

int main(void)
{
    const struct CMUnitTest checker[] = {
        cmocka_unit_test(test_reads_c),          cmocka_unit_test(test_checker_includes),
        cmocka_unit_test(test_checker_literals), cmocka_unit_test(test_checker_sizes),
        cmocka_unit_test(test_checker_layers),
    };
    const struct CMUnitTest tree[] = {
        cmocka_unit_test(test_data_does_not_include_cl),
        cmocka_unit_test(test_io_does_not_include_train),
        cmocka_unit_test(test_context_layout_private),
        cmocka_unit_test(test_no_internal_h),
        cmocka_unit_test(test_no_flags_in_library),
        cmocka_unit_test(test_getenv_in_one_place),
        cmocka_unit_test(test_style_chosen_once),
        cmocka_unit_test(test_layers_point_down),
        cmocka_unit_test(test_file_sizes),
    };
    int failed =
        cmocka_run_group_tests_name("layering checker", checker, fake_setup, fake_teardown);
    failed += cmocka_run_group_tests_name("layering", tree, NULL, NULL);
    return failed;
}
