#!/bin/sh
# Installs what is missing, builds with warnings as errors, and runs every test suite:
#   1. the normal build (host-only, OpenCL on the default device, CLI end to end, and the
#      agreement of the lesson networks across PoCL's CPU and GPU paths, rusticl, Oclgrind);
#   2. the same suites built with AddressSanitizer and UBSan (leaks and undefined behaviour
#      are failures);
#   3. the suites where threads share state (loader, up-front dataset check, cancel flag,
#      allocation-failure sweeps) built with ThreadSanitizer;
#   4. the libFuzzer targets (image decoders, checkpoint, mask, tuning, metrics.csv, args.json,
#      background specs, palette and kernel-cache readers), built with clang, each run for a
#      fixed number of inputs from its seed corpus;
#   5. the OpenCL suites on Mesa's rusticl (another vendor's compiler);
#   6. the simulator-sized suites under Oclgrind (a GPU-type device; any out-of-bounds access,
#      data race or API error it reports fails the test).
# Usage: tools/test.sh [--quick] [MESON TEST ARGS...]   (--quick: stage 1 only)
# With CI=true a test that cannot run fails instead of skipping: the build needs MPI
# (-Dmpi=enabled), ONNX Runtime for Node.js and onnx.checker must be there, the agreement test
# must see rusticl and Oclgrind (SEGCL_REQUIRE_IMPLEMENTATIONS), and every stage's skipped tests
# must be listed, with a reason, in tests/ci-skips.txt (tools/check_skips.sh).
set -eu
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then
    quick=1
    shift
fi
tools/deps.sh test
status=0
ci=false
mpi=auto
if [ "${CI:-}" = true ]; then
    ci=true
    mpi=enabled
    export SEGCL_REQUIRE_IMPLEMENTATIONS=rusticl,oclgrind
fi

stage() {
    echo "== $1" >&2
}

# In CI: what cannot run is a failure (the message says what is missing).
require() {
    if [ $ci = true ]; then
        echo "segcl: CI: $*" >&2
        status=1
    fi
}

# In CI: the stage's skips against tests/ci-skips.txt.
check_skips() {
    if [ $ci = true ]; then
        tools/check_skips.sh "$1/meson-logs/testlog${3:-}.txt" "$2" || status=1
    fi
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
tools/build.sh build-test --buildtype=debugoptimized -Dwerror=true -Dtests=true -Dmpi=$mpi
# ONNX Runtime for Node.js (its CPU runtime ships inside the package; the install script only
# fetches GPU extras, hence --ignore-scripts), the client tests/test_onnx.c checks exports
# with; the test is skipped, saying so, where npm or its registry is out of reach.
ort=build-test/onnx-node
if [ ! -f "$ort/node_modules/onnxruntime-node/package.json" ] && command -v npm >/dev/null 2>&1; then
    mkdir -p "$ort"
    (cd "$ort" && npm install --ignore-scripts --no-audit --no-fund --silent \
        onnxruntime-node@1.30.0 >/dev/null) ||
        echo "segcl: could not install onnxruntime-node; the ONNX Runtime test is skipped" >&2
fi
check_onnx() {
    if [ ! -f "$ort/node_modules/onnxruntime-node/package.json" ]; then
        require "ONNX Runtime for Node.js is missing ($ort/node_modules/onnxruntime-node: npm" \
            "install failed, or no npm), so the ONNX Runtime tests would skip"
    fi
    if ! /usr/bin/python3 -c 'import onnx.checker' 2>/dev/null; then
        require "onnx.checker is missing (python3-onnx), so exported graphs go unchecked"
    fi
}
check_onnx
meson test -C build-test --print-errorlogs "$@" || status=1
summary build-test default
check_skips build-test default

if [ $quick -eq 0 ]; then
    stage "AddressSanitizer + UBSan"
    tools/build.sh build-sanitize --buildtype=debug -Dwerror=true -Dtests=true \
        -Db_sanitize=address,undefined -Db_lundef=false -Dmpi=$mpi
    # the ONNX exporter under the sanitizers too, checked by the same ONNX Runtime
    if [ -d "$ort/node_modules" ] && [ ! -e build-sanitize/onnx-node ]; then
        ln -s ../build-test/onnx-node build-sanitize/onnx-node
    fi
    # (not the agreement across implementations, nor the switches' designs kept for
    # measurements: the same code as the op tests, run by stage 1)
    meson test -C build-sanitize --setup sanitize --print-errorlogs --no-suite agreement \
        --no-suite switches "$@" || status=1
    summary build-sanitize sanitize -sanitize
    check_skips build-sanitize sanitize -sanitize

    stage "ThreadSanitizer"
    if [ -f build-tsan/build.ninja ]; then
        meson configure build-tsan -Dwerror=true >/dev/null
    else
        meson setup build-tsan --buildtype=debug -Dwerror=true -Dtests=true \
            -Db_sanitize=thread -Db_lundef=false >/dev/null
    fi
    ninja -C build-tsan tests/test_robust tests/test_train tests/test_datasets >/dev/null
    TSAN_OPTIONS=halt_on_error=1 meson test -C build-tsan --no-rebuild --print-errorlogs \
        "hostile inputs and error paths" "training end to end" "datasets and run folders" \
        || status=1
    summary build-tsan threads
    check_skips build-tsan threads

    stage "fuzz targets"
    CC=clang-14 tools/build.sh build-fuzz -Dfuzz=true -Dtests=false -Dwerror=true \
        -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fsanitize=fuzzer-no-link
    meson test -C build-fuzz --suite fuzz --print-errorlogs || status=1
    grep -E "^#[0-9]+ +DONE" build-fuzz/meson-logs/testlog.txt >&2 || true

    stage "Mesa rusticl"
    meson test -C build-test --setup rusticl --suite opencl --print-errorlogs || status=1
    summary build-test rusticl -rusticl
    check_skips build-test rusticl -rusticl

    stage "Oclgrind"
    meson test -C build-test --setup oclgrind --suite simulator --print-errorlogs || status=1
    summary build-test oclgrind -oclgrind
    check_skips build-test oclgrind -oclgrind
fi
exit $status
