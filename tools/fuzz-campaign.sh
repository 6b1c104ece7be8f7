#!/bin/sh
# A longer fuzzing campaign than CI's: builds the libFuzzer targets with clang (ASan + UBSan)
# and runs each for SECONDS (default 1200), one after another, growing a corpus under
# build-campaign/campaign/ (the committed seeds in tests/fuzz/corpus are only read). Crashes
# land in build-campaign/campaign/<target>/crash-*; each log's last lines give executions and
# coverage.
# Usage: tools/fuzz-campaign.sh [SECONDS] [TARGET...]   (targets: image checkpoint mask tuning
#        metrics args background palette kernel_cache; default: all)
set -eu
cd "$(dirname "$0")/.."
seconds="${1:-1200}"
[ $# -gt 0 ] && shift
targets="${*:-image checkpoint mask tuning metrics args background palette kernel_cache}"
CC=clang-14 tools/build.sh build-campaign -Dfuzz=true -Dtests=false -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link
for t in $targets; do
    dir="build-campaign/campaign/$t"
    mkdir -p "$dir/corpus"
    echo "== $t: $seconds s" >&2
    status=0
    "build-campaign/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 \
        -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" "tests/fuzz/corpus/$t" \
        >"$dir/log.txt" 2>&1 || status=$?
    grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$dir/log.txt" >&2 || true
    crashes=$(find "$dir" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'leak-*' -o \
                   -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)
    echo "$t: exit $status, $crashes crash/leak/timeout/oom inputs in $dir" >&2
done
