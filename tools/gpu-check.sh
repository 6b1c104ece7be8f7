#!/bin/sh
# segcl on a real GPU, as one command, on a machine with no package registry: run it from the
# project's root with gpu-kit/ (made by tools/gpu-kit.sh) carried beside it.
#
#   tools/gpu-check.sh [--kit DIR] [--out DIR] [--device SPEC] [--quick]
#
# It unpacks segcl's runtime libraries from the kit's .deb files (dpkg -x into the kit; nothing is
# installed), registers the vendor's OpenCL driver for this process when the driver ships one
# (libnvidia-opencl.so.1, found with ldconfig or in the usual folders), and then runs, writing
# one report ($OUT/gpu-report.md, or --out):
#   - segcl devices and segcl selftest on the chosen device (default: the first GPU);
#   - the OpenCL test programs on it (--quick: the op tests and the tiny end-to-end run only);
#   - segcl bench --json for the U-Net and the SegNet at 256x256, batch 8 and 32: images/s,
#     kernel launches per training step and inference pass, device memory in fp32 and fp16;
#   - bench_conv: the implicit-GEMM convolutions' GFLOP/s against CLBlast's SGEMM on the same
#     M, N and K (forward, data and weight gradients of the U-Net's layers);
#   - where python3 has PyTorch with CUDA, the same models there in the same run.
# It exits non-zero when segcl cannot run at all; failures of single tests are in the report.
set -u
cd "$(dirname "$0")/.."
kit=gpu-kit
out="${OUT:-gpu-report}"
device="${SEGCL_DEVICE:-}"
quick=0
while [ $# -gt 0 ]; do
    case "$1" in
        --kit) kit="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --device) device="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        *) echo "usage: $0 [--kit DIR] [--out DIR] [--device SPEC] [--quick]" >&2; exit 2 ;;
    esac
done
[ -d "$kit/bin" ] || { echo "gpu-check: no $kit/bin: make the kit with tools/gpu-kit.sh" >&2; exit 1; }
mkdir -p "$out"
report="$out/gpu-report.md"
logs="$out/logs"
mkdir -p "$logs"
kit=$(cd "$kit" && pwd)

# runtime libraries from the kit, unpacked once
root="$kit/root"
if [ ! -d "$root" ]; then
    mkdir -p "$root"
    for d in "$kit"/debs/*.deb; do
        [ -f "$d" ] || continue
        if command -v dpkg >/dev/null 2>&1; then
            dpkg -x "$d" "$root"
        else
            (cd "$root" && ar p "$d" data.tar.xz | tar xJ) # no dpkg: the archive by hand
        fi
    done
fi
libs="$kit/bin"
for d in "$root/usr/lib/x86_64-linux-gnu" "$root/usr/lib" "$root/lib/x86_64-linux-gnu"; do
    [ -d "$d" ] && libs="$libs:$d"
done
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# OpenCL drivers for this process: the system's registered ones, and the vendor's library
vendors="$kit/vendors"
rm -rf "$vendors"
mkdir -p "$vendors"
for f in /etc/OpenCL/vendors/*.icd; do
    [ -f "$f" ] && cp "$f" "$vendors/"
done
nvidia=""
for f in $(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so\.1/ {print $NF}') \
         /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 /usr/local/nvidia/lib64/libnvidia-opencl.so.1 \
         /usr/lib64/libnvidia-opencl.so.1 /usr/local/cuda/lib64/libnvidia-opencl.so.1; do
    if [ -f "$f" ]; then nvidia="$f"; break; fi
done
[ -n "$nvidia" ] && echo "$nvidia" > "$vendors/nvidia.icd"
export OCL_ICD_VENDORS="$vendors"
[ -n "$device" ] && export SEGCL_DEVICE="$device"

segcl="$kit/bin/segcl"
say() { printf '%s\n' "$*" >> "$report"; }
block() { # title, then a command whose output goes into the report
    title="$1"; shift
    say ""; say "## $title"; say ""; say '```'
    "$@" >> "$report" 2>&1
    rc=$?
    say '```'
    return $rc
}

: > "$report"
say "# segcl GPU check"
say ""
say "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
say "- host: $(uname -srm); $(nproc) CPU cores"
say "- segcl: $("$segcl" --version 2>&1)"
say "- OpenCL driver registered from the vendor: ${nvidia:-none found}"
command -v nvidia-smi >/dev/null 2>&1 &&
    say "- nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
if ! "$segcl" --version >/dev/null 2>&1; then
    say ""
    say "segcl does not run here: $("$segcl" --version 2>&1 | head -3)"
    echo "gpu-check: segcl does not run here; see $report" >&2
    exit 1
fi
block "segcl devices" "$segcl" devices
block "segcl selftest" "$segcl" selftest || say "(selftest failed: the device computes wrongly or cannot build segcl's kernels)"

# the OpenCL test programs, each with what meson gives it (tests/meson.build)
data="$PWD/tests/data"
results=""
run_test() { # name, timeout, env..., program
    name="$1"; limit="$2"; shift 2
    start=$(date +%s)
    timeout "$limit" env SEGCL_TEST_DATA_DIR="$data" SEGCL_TEST_KERNEL_DIR="$PWD/kernels" \
        SEGCL_EXE="$segcl" "$@" > "$logs/$name.log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    verdict=$([ $rc -eq 0 ] && echo pass || echo "FAIL ($rc)")
    results="$results
| $name | $verdict | $took s | $(grep -Ec '^\[       OK \]' "$logs/$name.log") |"
}
run_test ops-conv 600 "$kit/bin/test_ops_conv"
run_test ops-layers 300 "$kit/bin/test_ops_layers"
run_test ops-loss 300 "$kit/bin/test_ops_loss"
run_test ops-conv-gpu 300 "$kit/bin/test_ops_conv_gpu"
run_test golden-ops 300 "$kit/bin/test_golden_ops"
run_test launches 300 "$kit/bin/test_launches"
run_test half 600 "$kit/bin/test_half"
run_test tiny-end-to-end 300 sh tests/tiny_e2e.sh "$segcl"
if [ $quick -eq 0 ]; then
    run_test opencl 600 "$kit/bin/test_opencl"
    run_test opencl-memory 600 "$kit/bin/test_opencl_memory"
    run_test networks 600 "$kit/bin/test_networks"
    run_test data 300 "$kit/bin/test_data"
    run_test datasets 300 "$kit/bin/test_datasets"
    run_test train 600 "$kit/bin/test_train"
fi
say ""
say "## Test programs on the device (logs in $logs)"
say ""
say "| test | result | time | cmocka tests passed |"
say "|---|---|---|---|"
printf '%s\n' "$results" | sed '1d' >> "$report"
grep -h "vs float64\|vs PoCL" "$logs"/*.log 2>/dev/null | sed 's/^/    /' >> "$report"

# speed: segcl, and the same models in PyTorch on the same GPU when it is there
say ""
say "## Speed, 256x256 (images/s)"
say ""
say "| model | batch | segcl training | segcl inference | PyTorch training | PyTorch inference | launches (train / infer) | inference MiB fp32 / fp16 |"
say "|---|---|---|---|---|---|---|---|"
json_number() { # text, key: the number after "key": in a JSON text, two decimals
    v=$(printf '%s' "$1" | tr -d '\n' | sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p")
    [ -n "$v" ] && awk -v v="$v" 'BEGIN { printf "%.2f", v }'
}
torch_cuda=0
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1 && torch_cuda=1
for arch in unet segnet; do
    for batch in 8 32; do
        s=$("$segcl" bench --arch $arch --batch $batch --size 256 --seconds 3 --json 2>"$logs/bench-$arch-$batch.err")
        echo "$s" > "$logs/bench-$arch-$batch.json"
        st=$(json_number "$s" train_images_per_s)
        si=$(json_number "$s" infer_images_per_s)
        lt=$(json_number "$s" train_launches)
        li=$(json_number "$s" infer_launches)
        h=$("$segcl" bench --arch $arch --batch $batch --size 256 --seconds 1 --precision fp16 \
            --json 2>"$logs/bench-$arch-$batch-fp16.err")
        echo "$h" > "$logs/bench-$arch-$batch-fp16.json"
        m32=$(json_number "$s" infer_device_bytes)
        m16=$(json_number "$h" infer_device_bytes)
        mem="-"
        [ -n "$m32" ] && [ -n "$m16" ] &&
            mem=$(awk -v a="$m32" -v b="$m16" 'BEGIN { printf "%.1f / %.1f", a / 1048576, b / 1048576 }')
        tt="-" ti="-"
        if [ $torch_cuda -eq 1 ]; then
            t=$(python3 tools/bench_torch.py --device cuda --arch $arch --batch $batch --size 256 \
                --seconds 2 2>"$logs/torch-$arch-$batch.err")
            echo "$t" > "$logs/torch-$arch-$batch.json"
            tt=$(json_number "$t" train_images_per_s)
            ti=$(json_number "$t" infer_images_per_s)
        fi
        say "| $arch | $batch | ${st:-error} | ${si:-error} | ${tt:--} | ${ti:--} | ${lt%.00} / ${li%.00} | $mem |"
    done
done
[ $torch_cuda -eq 0 ] && say "" && say "(no PyTorch with CUDA here: nothing to compare with)"

# the convolutions on their own, next to CLBlast's SGEMM on the same M, N and K
if [ -x "$kit/bin/bench_conv" ]; then
    block "Implicit-GEMM convolutions against CLBlast SGEMM (GFLOP/s, batch 8)" \
        "$kit/bin/bench_conv" --seconds 0.5 --batch 8 ||
        say "(bench_conv failed)"
fi
echo "gpu-check: report in $report" >&2
exit 0
