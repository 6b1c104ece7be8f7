/* Option helpers for the CLI: `--name VALUE` or `--name=VALUE`, with one-line errors. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* If argv[*i] is `name` (taking the next argument) or `name=value`, returns its value and
 * advances *i; sets *rc = 2 when the value is missing. NULL when argv[*i] is another option. */
static const char *value_of(int argc, char **argv, int *i, const char *name, int *rc)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        cli_error("option '%s' needs a value", name);
        *rc = 2;
        return "";
    }
    return argv[++*i];
}

bool cli_opt_str(int argc, char **argv, int *i, const char *name, const char **dst, int *rc)
{
    const char *v = value_of(argc, argv, i, name, rc);
    if (!v)
        return false;
    *dst = v;
    return true;
}

static bool bad(const char *name, const char *v, const char *what, int *rc)
{
    cli_error("option '%s': '%s' is not %s", name, v, what);
    *rc = 2;
    return true;
}

bool cli_opt_long(int argc, char **argv, int *i, const char *name, long *dst, int *rc)
{
    const char *v = value_of(argc, argv, i, name, rc);
    if (!v || *rc)
        return v != NULL;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < 0)
        return bad(name, v, "a non-negative integer", rc);
    *dst = x;
    return true;
}

bool cli_opt_int(int argc, char **argv, int *i, const char *name, int *dst, int *rc)
{
    long x = *dst;
    bool hit = cli_opt_long(argc, argv, i, name, &x, rc);
    if (hit && !*rc) {
        if (x > 1 << 30)
            return bad(name, argv[*i], "a reasonable integer", rc);
        *dst = (int)x;
    }
    return hit;
}

bool cli_opt_u64(int argc, char **argv, int *i, const char *name, uint64_t *dst, int *rc)
{
    const char *v = value_of(argc, argv, i, name, rc);
    if (!v || *rc)
        return v != NULL;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-')
        return bad(name, v, "a non-negative integer", rc);
    *dst = x;
    return true;
}

bool cli_opt_float(int argc, char **argv, int *i, const char *name, float *dst, int *rc)
{
    const char *v = value_of(argc, argv, i, name, rc);
    if (!v || *rc)
        return v != NULL;
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (end == v || *end)
        return bad(name, v, "a number", rc);
    /* a number all the same: say which way it is out of range */
    const char *why = NULL;
    if (errno == ERANGE && fabsf(x) < FLT_MIN)
        why = "too small for a 32-bit float (nonzero magnitudes start at 1.2e-38)";
    else if (errno == ERANGE)
        why = "too large for a 32-bit float (magnitudes up to 3.4e38)";
    else if (!isfinite(x))
        why = "not a finite number";
    if (why) {
        cli_error("option '%s': '%s' is %s", name, v, why);
        *rc = 2;
        return true;
    }
    *dst = x;
    return true;
}

bool cli_opt_triple(int argc, char **argv, int *i, const char *name, float *dst, int *rc)
{
    const char *v = value_of(argc, argv, i, name, rc);
    if (!v || *rc)
        return v != NULL;
    float t[3];
    char *end;
    const char *p = v;
    for (int k = 0; k < 3; k++) {
        errno = 0;
        t[k] = strtof(p, &end);
        if (errno || end == p || (k < 2 && *end != ',') || (k == 2 && *end))
            return bad(name, v, "three comma-separated numbers (R,G,B)", rc);
        p = end + 1;
    }
    memcpy(dst, t, sizeof t);
    return true;
}

bool cli_opt_format(int argc, char **argv, int *i, segcl_dataset_format *dst, int *rc)
{
    const char *v = value_of(argc, argv, i, "--format", rc);
    if (!v || *rc)
        return v != NULL;
    if (segcl_dataset_format_parse(v, dst) != SEGCL_OK)
        return bad("--format", v, "one of auto, ph2, mads, folder", rc);
    return true;
}
