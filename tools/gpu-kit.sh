#!/bin/sh
# Prepares gpu-kit/ (ignored by git): everything tools/gpu-check.sh needs on a machine with a
# GPU and no package registry. A release build of segcl and its test programs, and the .deb
# files of segcl's runtime libraries (unpacked there with dpkg -x, never installed). Carry it:
# the device tool's `carry` takes "gpu-kit". Built on Debian 12, it runs where glibc is 2.36
# or newer.
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh build-gpu --buildtype=release -Dtests=true
kit=gpu-kit
rm -rf "$kit"
mkdir -p "$kit/debs" "$kit/bin"
# runtime libraries only: the GPU's own OpenCL driver comes with its machine
# (downloaded in a folder apt's own user may write, then moved)
tmp=$(mktemp -d)
chmod 777 "$tmp"
(cd "$tmp" && apt-get download -q libclblast1 libturbojpeg0 libpng16-16 libjansson4 \
    libcmocka0 ocl-icd-libopencl1 >/dev/null)
mv "$tmp"/*.deb "$kit/debs/"
rm -rf "$tmp"
cp build-gpu/tools/segcl build-gpu/tools/bench_conv "$kit/bin/"
for f in build-gpu/src/libsegcl.so*; do
    [ -d "$f" ] || cp -P "$f" "$kit/bin/"
done
for t in build-gpu/tests/test_*; do
    if [ -f "$t" ] && [ -x "$t" ]; then cp "$t" "$kit/bin/"; fi
done
echo "gpu-kit ready: $(du -sh "$kit" | cut -f1); carry it and run tools/gpu-check.sh there"
