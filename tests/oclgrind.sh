#!/bin/sh
# Test wrapper (meson test --setup oclgrind): runs a test with Oclgrind as the only OpenCL
# platform, a simulator that reports a GPU device, checking every work-item's memory accesses,
# data races between work-items (--data-races) and OpenCL API misuse (--check-api). Any
# diagnostic in its log, or an abnormal exit, fails the test. Oclgrind's uninitialised-value
# checker is not used: on this code it stops at LLVM's `freeze` instruction and reports scratch
# buffers grown by clCreateBuffer as uninitialised after kernels wrote them (false positives).
set -u
icd=""
for f in /usr/lib/oclgrind/liboclgrind-rt-icd.so /usr/lib/*/oclgrind/liboclgrind-rt-icd.so \
         /usr/local/lib/liboclgrind-rt-icd.so; do
    [ -f "$f" ] && icd="$f" && break
done
if [ -z "$icd" ]; then
    echo "oclgrind.sh: Oclgrind's ICD library is missing (apt-get install oclgrind)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$icd" > "$work/oclgrind.icd"
OCL_ICD_VENDORS="$work" OCLGRIND_DATA_RACES=1 OCLGRIND_CHECK_API=1 \
    OCLGRIND_LOG="$work/oclgrind.log" "$@"
status=$?
if [ -s "$work/oclgrind.log" ]; then
    echo "Oclgrind diagnostics:" >&2
    head -c 20000 "$work/oclgrind.log" >&2
    [ $status -eq 0 ] && status=1
fi
exit $status
