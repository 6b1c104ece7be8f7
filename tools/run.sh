#!/bin/sh
# The main job on a fresh machine: install what is missing, build, make a synthetic
# dermoscopy-like dataset, train a small U-Net on it for a minute or two, and segment a few
# images with the best model. Everything lands in runs/ (ignored by git).
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh build --buildtype=release
segcl=build/tools/segcl
$segcl devices
$segcl synth --out runs/synth --count 120 --size 128
# a run folder is never trained into twice: the demo starts afresh each time
rm -rf runs/demo
$segcl train --data runs/synth --out runs/demo --size 128 --epochs 8 --batch 8
$segcl predict --model runs/demo --out runs/demo/predictions --cutout --background blur \
    runs/synth/images/synth0000.png runs/synth/images/synth0001.png \
    runs/synth/images/synth0002.png runs/synth/images/synth0003.png
echo
echo "training run (checkpoints, metrics.csv, curves.svg, overlays/): runs/demo"
echo "masks (*_mask.png), overlays (*_overlay.jpg), cut-outs (*_cutout.png) and the lesion over"
echo "its own blurred background (*_composite.jpg): runs/demo/predictions"
