#!/bin/sh
# Runs a libFuzzer target over its seed corpus for a fixed number of inputs, without writing
# into the committed corpus (new inputs go to a temporary folder that is removed).
# Usage: run.sh FUZZER CORPUS_DIR RUNS [LIBFUZZER OPTIONS...]
set -eu
fuzzer="$1"
corpus="$2"
runs="$3"
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$fuzzer" -runs="$runs" -seed=1 -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
    -artifact_prefix="$work/" "$@" "$work" "$corpus"
