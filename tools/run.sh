#!/bin/sh
# The main job on a fresh machine: install what is missing, build, then run segcl on the
# default OpenCL device (list devices, then check kernels and GEMM on the device).
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh build --buildtype=release
segcl=build/tools/segcl
$segcl devices
$segcl selftest
