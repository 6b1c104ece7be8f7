#!/bin/sh
# The CLI end to end at the smallest sizes, for simulators (Oclgrind) and slow devices: a
# synthetic set of 6 images, two training steps, a prediction and an evaluation. Each must exit
# 0 and write its outputs. Under tests/oclgrind.sh every segcl process gets its own Oclgrind
# log (OCLGRIND_LOG is per process), and any diagnostic in any of them fails the test.
# Usage: tiny_e2e.sh SEGCL_EXE
set -eu
segcl="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step=0
run() {
    step=$((step + 1))
    if [ -n "${OCLGRIND_LOG:-}" ]; then
        OCLGRIND_LOG="$work/oclgrind-$step.log" "$segcl" "$@"
        if [ -s "$work/oclgrind-$step.log" ]; then
            echo "Oclgrind diagnostics in: segcl $*" >&2
            cat "$work/oclgrind-$step.log" >&2
            exit 1
        fi
    else
        "$segcl" "$@"
    fi
}
run synth --out "$work/syn" --count 6 --size 16 --seed 4
run train --data "$work/syn" --out "$work/run" --size 16 --width 2 --depth 2 --batch 2 \
    --epochs 1 --steps 2 --val-fraction 0.34 --overlays 1
test -f "$work/run/checkpoint.safetensors"
test -f "$work/run/best.safetensors"
run predict --model "$work/run/best.safetensors" --out "$work/pred" "$work/syn/images/synth0001.png"
test -f "$work/pred/synth0001_mask.png"
test -f "$work/pred/synth0001_overlay.jpg"
run eval --split val "$work/run" --json > "$work/eval.json"
grep -q '"pixel_accuracy"' "$work/eval.json"
echo "tiny end to end: ok"
