#!/bin/sh
# Installs what is missing, builds with warnings as errors, and runs every test suite
# (host-only, OpenCL on the default device, CLI end to end). Extra arguments go to `meson test`.
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh build-test --buildtype=debugoptimized -Dwerror=true -Dtests=true
status=0
meson test -C build-test --print-errorlogs "$@" || status=$?
# One closing line that counts cmocka's test cases over all suites.
awk '/^\[  PASSED  \] [0-9]+ test/ { p += $4 }
     /^\[  FAILED  \] [0-9]+ test/ { f += $4 }
     /^\[  SKIPPED \] [0-9]+ test/ { s += $4 }
     END { printf "cmocka: %d passed, %d failed, %d skipped\n", p, f, s }' \
    build-test/meson-logs/testlog.txt
exit $status
