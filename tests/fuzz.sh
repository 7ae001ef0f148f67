#!/usr/bin/env bash
# Runs every fuzz target of tests/fuzz (or those named) for SECONDS each, one after the other.
#
# Usage: tests/fuzz.sh [SECONDS] [TARGET...]     (SECONDS defaults to 300)
#
# Installs the pinned nightly (tests/nightly.sh) and cargo-fuzz if missing. Each target's
# corpus lives in ${SKIFF_CACHE:-<repo>/.cache}/fuzz/corpus/<target>, seeded from
# tests/fuzz/seeds/<target>; findings go to .../fuzz/artifacts/<target>/ and logs to
# .../fuzz/logs/<target>.log. Prints executions per second per target and exits non-zero if
# any target found something (a panic, a sanitizer report, or one input running over 10 s),
# naming the input and how to replay it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=tests/nightly.sh
source tests/nightly.sh

seconds=${1:-300}
shift || true
command -v rustup >/dev/null || { echo "fuzz.sh: rustup is required" >&2; exit 1; }
ensure_nightly
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked
fi

fuzz=(cargo "+$NIGHTLY" fuzz)
dir=tests/fuzz
if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir "$dir")
fi
cache=${SKIFF_CACHE:-$repo/.cache}/fuzz
mkdir -p "$cache/logs"

# Debug assertions on: an arithmetic overflow is a finding (dev images panic on it).
echo "== building the fuzz targets ($NIGHTLY)"
if ! "${fuzz[@]}" build --fuzz-dir "$dir" --debug-assertions >"$cache/logs/build.log" 2>&1; then
    tail -40 "$cache/logs/build.log"
    echo "fuzz.sh: building the fuzz targets failed (log: $cache/logs/build.log)" >&2
    exit 1
fi

failed=()
summary=()
for t in "${targets[@]}"; do
    corpus=$cache/corpus/$t
    artifacts=$cache/artifacts/$t
    log=$cache/logs/$t.log
    mkdir -p "$corpus" "$artifacts"
    if [[ -d $dir/seeds/$t ]]; then
        cp -n "$dir/seeds/$t"/* "$corpus"/ 2>/dev/null || true
    fi
    echo "== $t: ${seconds}s, corpus $corpus"
    set +e
    "${fuzz[@]}" run --fuzz-dir "$dir" --debug-assertions "$t" "$corpus" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    summary+=("$(printf '%-10s %8s exec/s  %10s executions  in %ss' "$t" "${rate:-?}" "${execs:-?}" "$seconds")")
    if ((rc != 0)); then
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        grep -m1 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" -A2 "$log" || tail -20 "$log"
        echo "!! $t: finding (exit $rc); input: ${input:-none written, see $log}"
        if [[ -n $input ]]; then
            echo "   replay: cargo run --manifest-path $dir/Cargo.toml --example replay -- $t $input"
        fi
        failed+=("$t")
    fi
done

echo "== fuzzing summary (executions per second per target)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    echo "== findings in: ${failed[*]}" >&2
    exit 1
fi
echo "== no findings"
