#!/usr/bin/env bash
# make bench-host: runs the host benchmarks (tests/bench/host, criterion) and writes
# bench/results/host-<date>-<host>.md with the machine, every figure and its ratios to the
# baselines measured in the same run (loopback TCP, one-thread memcpy, the rtrb SPSC ring).
# Extra arguments go to criterion (e.g. a filter: tests/bench/host.sh send/api).
# The machine is shared: compare ratios from one run, never assert on timings.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out_dir=$repo/bench/results
mkdir -p "$out_dir"
stamp=$(date -u +%Y%m%d-%H%M)
host=$(hostname -s 2>/dev/null || hostname)
result=$out_dir/host-$stamp-$host.md

commit="\`$(git -C "$repo" rev-parse --short HEAD)\`"
git -C "$repo" diff --quiet HEAD -- . ':!bench' || commit="$commit (with local changes)"

cd "$repo"
SKIFF_BENCH_RESULTS=$result \
SKIFF_BENCH_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')" \
SKIFF_BENCH_HOST=$host \
SKIFF_BENCH_COMMIT=$commit \
    cargo bench --locked -p skiff-hostbench --bench host -- "$@"
echo "bench-host: results in ${result#"$repo"/}"
