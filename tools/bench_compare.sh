#!/bin/sh
# segcl bench next to the same model in PyTorch (Debian's python3-torch, 2 threads, tcmalloc
# preloaded when installed: PyTorch's fastest CPU setting here), in one run, with the ratio.
# Usage: tools/bench_compare.sh [--arch unet|segnet] [--batch 8] [--size 256] [--device N]
set -eu
cd "$(dirname "$0")/.."
arch=unet batch=8 size=256 device=""
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --device) device="--device $2"; shift 2 ;;
        *) echo "usage: $0 [--arch A] [--batch N] [--size S] [--device N]" >&2; exit 2 ;;
    esac
done
segcl_json=$(build/tools/segcl $device bench --arch "$arch" --batch "$batch" --size "$size" --json)
tc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
if [ -r "$tc" ]; then preload="LD_PRELOAD=$tc"; else preload=""; fi
torch_json=$(env $preload /usr/bin/python3 tools/bench_torch.py --arch "$arch" --batch "$batch" \
    --size "$size" --seconds 2)
/usr/bin/python3 - "$segcl_json" "$torch_json" <<'PY'
import json, sys
s, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{s['arch']} {s['size']}x{s['size']} batch {s['batch']}   segcl   PyTorch {t['torch']}   segcl/PyTorch")
for key, name in (("train_images_per_s", "training images/s"), ("infer_images_per_s", "inference images/s")):
    print(f"  {name:20s} {s[key]:8.2f} {t[key]:9.2f}   {s[key] / t[key]:.2f}")
PY
