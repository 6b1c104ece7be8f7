#!/bin/sh
# Configures (once) and builds segcl in the given build folder with extra meson options.
# Usage: tools/build.sh BUILD_DIR [MESON OPTION...]
set -eu
cd "$(dirname "$0")/.."
dir="$1"
shift
if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
else
    meson setup "$dir" "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null
