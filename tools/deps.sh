#!/bin/sh
# Installs what segcl needs on Debian 12 (or Ubuntu) with apt-get, and does nothing when
# everything is already there. Used by tools/run.sh and, with the argument "test", by
# tools/test.sh, which also needs clang and its sanitizer runtimes for the fuzz targets, and
# two more OpenCL implementations: Mesa's rusticl and the Oclgrind simulator, and ONNX's own
# checker for exported graphs (python3-onnx) and Open MPI for the data-parallel test (a build
# without it trains in one process; MPI is optional).
set -eu

packages="gcc libc6-dev meson ninja-build pkg-config ocl-icd-opencl-dev opencl-headers
libclblast-dev libturbojpeg0-dev libpng-dev libjansson-dev libcmocka-dev pocl-opencl-icd
libprotobuf-c-dev protobuf-c-compiler"
if [ "${1:-}" = "test" ]; then
    packages="$packages clang-14 libclang-rt-14-dev mesa-opencl-icd oclgrind python3-onnx
    libopenmpi-dev openmpi-bin"
fi

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    echo "segcl: installing:$missing" >&2
    if [ "$(id -u)" -eq 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "segcl: need root (or sudo) to install:$missing" >&2
        exit 1
    fi
    $sudo apt-get update -q
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
fi
