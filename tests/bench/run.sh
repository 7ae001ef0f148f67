#!/usr/bin/env bash
# make bench: boots the rig once with tests/bench/bench.sh, then writes bench/results/<date>-<host>.md
# with the machine, the raw measurements, Skiff/dom0 ratios from the same boot, and image sizes.
# Absolute numbers are Xen inside QEMU TCG on a shared machine: compare ratios, not values.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out_dir=$repo/bench/results
mkdir -p "$out_dir" "$repo/target/bench"
stamp=$(date -u +%Y%m%d-%H%M)
host=$(hostname -s 2>/dev/null || hostname)
raw=$repo/target/bench/$stamp.log
result=$out_dir/$stamp-$host.md

rc=0
"$repo/tests/rig/run.sh" --retries 1 "$here/bench.sh" 2>&1 | tee "$raw" || rc=$?

# value KEY: the value of "BENCH KEY VALUE UNIT" (empty if missing).
value() { awk -v k="$1" '$1 == "BENCH" && $2 == k { v = $3 } END { print v }' "$raw" | tr -d '\r'; }
ratio() {
    local a b
    a=$(value "$1") b=$(value "$2")
    if [ -n "$a" ] && [ -n "$b" ]; then
        awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
    else
        echo "n/a"
    fi
}
stats() { # KEY_PREFIX: "min / mean / max over N" of KEY_PREFIX_1..N
    awk -v p="$1_" '$1 == "BENCH" && index($2, p) == 1 { v = $3 + 0; n++; s += v
        if (n == 1 || v < lo) lo = v; if (n == 1 || v > hi) hi = v }
        END { if (n) printf "%.2f / %.2f / %.2f (%d runs)", lo, s / n, hi, n; else print "n/a" }' "$raw"
}

{
    echo "# Skiff benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: \`$host\`, $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)),"
    echo "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)."
    echo "Rig: $(qemu-system-x86_64 --version | head -1) (TCG), $(grep -a -o 'xen_version *: [0-9.]*' "$raw" | head -1 | sed 's/ *: / /')."
    echo "Commit: \`$(git -C "$repo" rev-parse --short HEAD)\`$(git -C "$repo" diff --quiet HEAD -- . ':!bench' || echo ' (with local changes)')."
    echo "Rig exit status: $rc. Raw log: \`${raw#"$repo"/}\`."
    echo
    echo "Everything runs under Xen inside QEMU TCG: absolute figures are slow and noisy."
    echo "Each Skiff figure has a baseline from the same boot (dom0 processes over dom0's"
    echo "loopback, driven by the same client in tests/xen/peers.py); the ratio is what to compare."
    echo
    echo "| measurement | Skiff | dom0 baseline | Skiff / baseline |"
    echo "|---|---|---|---|"
    echo "| echo round trips, 16 KiB rounds (MB/s) | $(value rounds_skiff_mbps) | $(value rounds_dom0_mbps) | $(ratio rounds_skiff_mbps rounds_dom0_mbps) |"
    echo "| HTTP download, 1 connection (MB/s) | $(value fetch1_skiff_mbps) | $(value fetch1_dom0_mbps) | $(ratio fetch1_skiff_mbps fetch1_dom0_mbps) |"
    echo "| HTTP download, 50 concurrent connections (MB/s) | $(value fetch50_skiff_mbps) | $(value fetch50_dom0_mbps) | $(ratio fetch50_skiff_mbps fetch50_dom0_mbps) |"
    echo
    echo "Boot of \`hello\` (min / mean / max):"
    echo
    echo "- PVH entry to application main, as the guest measured it (pvclock): $(stats boot_entry_to_main) ms"
    echo "- \`xl create\` to poweroff, measured in dom0: $(stats boot_xl_create_to_poweroff) s"
    echo
    echo "Images (\`size\`):"
    echo
    echo "| image | file bytes | text | data | bss |"
    echo "|---|---|---|---|---|"
    for f in "$repo"/target/images/*.elf; do
        read -r text data bss _ < <(size "$f" | awk 'NR == 2')
        echo "| $(basename "$f" .elf) | $(stat -c %s "$f") | $text | $data | $bss |"
    done
    echo
    echo "Failed checks (a measurement whose run failed has no figure above):"
    echo
    grep -a '^RIG-CHECK FAIL' "$raw" | tr -d '\r' | sed 's/^/- /' || echo "- none"
    echo
    echo "Raw measurements:"
    echo
    echo '```'
    grep -a '^BENCH ' "$raw" | tr -d '\r' || echo "(none)"
    echo '```'
} >"$result"
cat "$result"
echo "bench: results in ${result#"$repo"/}"
exit "$rc"
