#!/bin/sh
# Installs what is missing, builds with warnings as errors, and runs every test suite:
#   1. the normal build (host-only, OpenCL on the default device, CLI end to end);
#   2. the same suites built with AddressSanitizer and UBSan (leaks and undefined behaviour
#      are failures).
# Usage: tools/test.sh [--quick] [MESON TEST ARGS...]   (--quick: stage 1 only)
set -eu
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then
    quick=1
    shift
fi
tools/deps.sh
status=0

stage() {
    echo "== $1" >&2
}

# One closing line per stage that counts cmocka's test cases over all suites.
summary() {
    awk -v name="$2" '/^\[  PASSED  \] [0-9]+ test/ { p += $4 }
         /^\[  FAILED  \] [0-9]+ test/ { f += $4 }
         /^\[  SKIPPED \] [0-9]+ test/ { s += $4 }
         END { printf "cmocka (%s): %d passed, %d failed, %d skipped\n", name, p, f, s }' \
        "$1/meson-logs/testlog${3:-}.txt"
}

stage "build and test"
tools/build.sh build-test --buildtype=debugoptimized -Dwerror=true -Dtests=true
meson test -C build-test --print-errorlogs "$@" || status=1
summary build-test default

if [ $quick -eq 0 ]; then
    stage "AddressSanitizer + UBSan"
    tools/build.sh build-sanitize --buildtype=debug -Dwerror=true -Dtests=true \
        -Db_sanitize=address,undefined -Db_lundef=false
    meson test -C build-sanitize --setup sanitize --print-errorlogs "$@" || status=1
    summary build-sanitize sanitize -sanitize
fi
exit $status
