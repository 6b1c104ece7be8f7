#!/bin/sh
# Fails when a meson test log shows a skipped test that tests/ci-skips.txt does not list.
# Each skip is a cmocka case ("[  SKIPPED ] case" in the test's output) or a whole meson test
# (exit status 77, case "*"). tools/test.sh runs this on every stage's log when CI=true.
# Usage: tools/check_skips.sh TESTLOG STAGE [LIST]
#   STAGE: the stage's name in the list (default, sanitize, threads, rusticl, oclgrind)
#   LIST:  lines of "stage<TAB>meson test name<TAB>case<TAB>reason" (default tests/ci-skips.txt);
#          a stage of "*" matches every stage, and lines starting with '#' are comments.
set -eu
log="$1"
stage="$2"
list="${3:-$(dirname "$0")/../tests/ci-skips.txt}"
if [ ! -r "$log" ]; then
    echo "segcl: check_skips: no test log $log" >&2
    exit 1
fi
if [ ! -r "$list" ]; then
    echo "segcl: check_skips: no list of allowed skips $list" >&2
    exit 1
fi
# a listed skip needs its reason: a line without one is an error, not a permission
bad=$(awk -F '\t' '!/^#/ && NF > 0 && (NF < 4 || $4 == "") { print FILENAME ":" NR }' "$list")
if [ -n "$bad" ]; then
    echo "segcl: $bad: a skip needs four tab-separated fields: stage, test, case, reason" >&2
    exit 1
fi
# "test<TAB>case" for each skip in the log, once
skips=$(awk '
    /^test: / { sub(/^test: +/, ""); sub(/^[^ ]+ \/ /, ""); test = $0; next }
    /^result: +exit status 77$/ { print test "\t*"; next }
    /^\[  SKIPPED \] / {
        c = $0; sub(/^\[  SKIPPED \] +/, "", c)
        if (c !~ /^[0-9]+ test\(s\)/) print test "\t" c
    }' "$log" | sort -u)
[ -z "$skips" ] && exit 0
# the skips the list does not allow, each said on a line of its own
echo "$skips" | awk -F '\t' -v stage="$stage" -v list="$list" '
    NR == FNR { if ($0 !~ /^#/ && ($1 == stage || $1 == "*")) allowed[$2 "\t" $3] = 1; next }
    !(($1 "\t" $2) in allowed) && !(($1 "\t*") in allowed) {
        what = $2 == "*" ? "as a whole (exit status 77)" : $2
        printf "segcl: stage %s: \"%s\" skipped %s, which %s does not list (fix what it needs, " \
               "or list it with a reason)\n", stage, $1, what, list > "/dev/stderr"
        unlisted++
    }
    END { exit unlisted > 0 }' "$list" -
