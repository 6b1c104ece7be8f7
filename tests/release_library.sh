#!/bin/sh
# What the release library must not hold (issue 16): getenv anywhere in src/ but the one reader
# of the environment, src/cl/environment.c; in the built libsegcl, no test hook (no
# SEGCL_TEST_* variable, no raise) and no call that changes jansson's allocator for the whole
# application; in the segcl CLI, no SEGCL_TEST_* variable either.
# Usage: release_library.sh SOURCE_ROOT LIBSEGCL SEGCL_CLI
set -u
root="$1"
lib="$2"
cli="$3"
status=0
found=$(grep -rn --include='*.c' --include='*.h' 'getenv' "$root/src" |
        grep -v "^$root/src/cl/environment.c:")
if [ -n "$found" ]; then
    echo "getenv outside src/cl/environment.c:" >&2
    echo "$found" >&2
    status=1
fi
for f in "$lib" "$cli"; do
    if strings "$f" | grep -q 'SEGCL_TEST_'; then
        echo "$f reads SEGCL_TEST_* variables: test hooks belong in -DSEGCL_TESTING builds" >&2
        status=1
    fi
done
calls=$(nm -D --undefined-only "$lib" | grep -E ' (raise|json_set_alloc_funcs)(@|$)')
if [ -n "$calls" ]; then
    echo "$lib calls what an embedding application would not expect:" >&2
    echo "$calls" >&2
    status=1
fi
exit $status
