#!/bin/sh
# segcl bench next to the same model in PyTorch (Debian's python3-torch, 2 threads, tcmalloc
# preloaded when installed: PyTorch's fastest CPU setting here), in one run, with the ratios:
# training and inference images/s and the peak resident memory of each process (both train,
# then infer, the same model on the same batch). Without --arch/--batch it runs the U-Net and
# the SegNet at batch 8 and 32.
# Usage: tools/bench_compare.sh [--arch unet|segnet] [--batch 8] [--size 256] [--device N]
#                               [--seconds S]
set -eu
cd "$(dirname "$0")/.."
archs="unet segnet" batches="8 32" size=256 device="" seconds=3
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) archs="$2"; shift 2 ;;
        --batch) batches="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --device) device="--device $2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        *) echo "usage: $0 [--arch A] [--batch N] [--size S] [--device N] [--seconds S]" >&2
           exit 2 ;;
    esac
done
tc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
if [ -r "$tc" ]; then preload="LD_PRELOAD=$tc"; else preload=""; fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
first=1
for arch in $archs; do
    for batch in $batches; do
        segcl_json=$(build/tools/segcl $device bench --arch "$arch" --batch "$batch" \
            --size "$size" --seconds "$seconds" --json)
        torch_json=$(env $preload /usr/bin/python3 tools/bench_torch.py --arch "$arch" \
            --batch "$batch" --size "$size" --seconds "$(echo "$seconds" | awk '{print $1 / 2}')")
        /usr/bin/python3 - "$segcl_json" "$torch_json" "$cpu" "$first" <<'PY'
import json, sys
s, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
if sys.argv[4] == "1":
    d = s["device"]
    print(f"CPU: {sys.argv[3]}; segcl device: {d['name']} ({d['platform']} {d['driver']}), "
          f"native float vector width {d.get('native_float_width', '?')}; "
          f"PyTorch {t['torch']}, {t['threads']} threads")
    print(f"{'':28s} {'segcl':>9s} {'PyTorch':>9s} {'segcl/PyTorch':>14s}")
print(f"{s['arch']} {s['size']}x{s['size']} batch {s['batch']}")
for key, name in (("train_images_per_s", "training images/s"),
                  ("infer_images_per_s", "inference images/s")):
    print(f"  {name:26s} {s[key]:9.2f} {t[key]:9.2f} {s[key] / t[key]:14.2f}")
print(f"  {'peak RSS MiB':26s} {s['peak_rss_mb']:9.0f} {t['peak_rss_mb']:9.0f} "
      f"{s['peak_rss_mb'] / t['peak_rss_mb']:14.2f}")
PY
        first=0
    done
done
