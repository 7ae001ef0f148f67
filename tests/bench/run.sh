#!/usr/bin/env bash
# make bench: boots the rig once with tests/bench/bench.sh, linux.sh and linuxguest.sh, then writes
# bench/results/<date>-<host>.md with the machine, the raw measurements, Skiff/dom0 and Skiff/Linux
# guest ratios from the same boot, and image and program sizes.
# Absolute numbers are Xen inside QEMU TCG on a shared machine: compare ratios, not values.
# tests/bench/run.sh --from LOG [COMMIT]: writes the results file from the output of an earlier rig run
# (e.g. of one case alone: tests/rig/run.sh tests/bench/linuxguest.sh) without booting the rig; COMMIT
# names what was measured (default: the checkout's HEAD).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out_dir=$repo/bench/results
mkdir -p "$out_dir" "$repo/target/bench"
stamp=$(date -u +%Y%m%d-%H%M)
host=$(hostname -s 2>/dev/null || hostname)
raw=$repo/target/bench/$stamp.log
result=$out_dir/$stamp-$host.md

rc=0 from="" commit=""
if [ "${1:-}" = --from ]; then
    [ -f "${2:-}" ] || { echo "bench: --from wants a rig log, got '${2:-}'" >&2; exit 2; }
    cp "$2" "$raw"
    from=$2 commit=${3:-}
else
    RIG_CASE_TIMEOUT=${RIG_CASE_TIMEOUT:-3600} "$repo/tests/rig/run.sh" --retries 1 --timeout 7200 \
        "$here/bench.sh" "$here/linux.sh" "$here/linuxguest.sh" 2>&1 | tee "$raw" || rc=$?
fi

# A boot that hung or reset is booted again and runs every case anew: the log then holds the figures
# of two boots. Only the last boot's count, so that every ratio still compares runs of one boot.
again='^rig: boot .*; booting again'
log=$raw boots=1
if grep -aq "$again" "$raw"; then
    boots=$(($(grep -ac "$again" "$raw") + 1))
    raw=$log.last-boot
    tail -n +"$(($(grep -an "$again" "$log" | tail -n 1 | cut -d: -f1) + 1))" "$log" >"$raw"
fi

# runs KEY: the values of "BENCH KEY VALUE UNIT", or of KEY_1, KEY_2... (a figure measured in each
# run), sorted, one a line.
runs() {
    awk -v k="$1" '$1 == "BENCH" && ($2 == k || (index($2, k "_") == 1 && substr($2, length(k) + 2) ~ /^[0-9]+$/)) {
        print $3 + 0 }' "$raw" | sort -g
}
# value KEY: the median of runs KEY (empty if none).
value() { runs "$1" | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
# cell KEY: the median, with the range when there are several runs: "4.3 (2.1-17.8)".
cell() {
    runs "$1" | awk '{ v[NR] = $1 } END { if (!NR) exit
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        if (NR > 1) printf "%.5g (%.5g-%.5g)\n", m, v[1], v[NR]; else printf "%.5g\n", m }'
}
ratio() {
    local a b
    a=$(value "$1") b=$(value "$2")
    if [ -n "$a" ] && [ -n "$b" ]; then
        awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
    else
        echo "n/a"
    fi
}
# row WHAT SKIFF BASE...: a table row "| WHAT | skiff | base | skiff/base |" for each BASE key (cells
# and ratios of medians).
row() {
    local what=$1 skiff=$2 b line
    shift 2
    line="| $what | $(cell "$skiff")"
    for b in "$@"; do line+=" | $(cell "$b") | $(ratio "$skiff" "$b")"; done
    echo "$line |"
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
    if [ -n "$commit" ]; then
        echo "Commit: \`$(git -C "$repo" rev-parse --short "$commit")\`."
    else
        echo "Commit: \`$(git -C "$repo" rev-parse --short HEAD)\`$(git -C "$repo" diff --quiet HEAD -- . ':!bench' || echo ' (with local changes)')."
    fi
    echo "Rig exit status: $([ -z "$from" ] && echo "$rc" || echo "not run here (results from $from)"). Raw log: \`${log#"$repo"/}\`."
    [ "$boots" = 1 ] || echo "The rig booted $boots times (a boot hung or reset and was booted again): figures from the last boot only."
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
    echo "## Linux binaries (tests/bench/linux.sh)"
    echo
    echo "The programs of target/apps on Skiff's linux image (\`ramdisk=\`), against the same static"
    echo "binaries run as dom0 processes in the same boot, and against the no_std guests (\`echo\`;"
    echo "\`httpd\` from the table above), driven by the same dom0 clients (peers.py rounds and fetch,"
    echo "apps.py echo with $(value echo_conns) connections of $(value echo_bytes) bytes each, sha256-checked)."
    echo
    echo "| measurement (MB/s) | on Skiff | same binary in dom0 | Skiff / dom0 | no_std guest | Skiff / no_std |"
    echo "|---|---|---|---|---|---|"
    for app in std_echo tokio_echo; do
        row "${app//_/-}: echo round trips, 16 KiB rounds" "rounds_${app}_skiff_mbps" "rounds_${app}_dom0_mbps" rounds_echo_nostd_mbps
        row "${app//_/-}: concurrent echo" "echo_${app}_skiff_mbps" "echo_${app}_dom0_mbps" echo_echo_nostd_mbps
    done
    row "axum-server: HTTP download, 1 connection" fetch1_axum_server_skiff_mbps fetch1_axum_server_dom0_mbps fetch1_skiff_mbps
    row "axum-server: HTTP download, 50 connections" fetch50_axum_server_skiff_mbps fetch50_axum_server_dom0_mbps fetch50_skiff_mbps
    echo
    echo "Syscall cost: \`syscall-loop\` (tests/apps), the same static binary on Skiff and in dom0;"
    echo "each call made with \`syscall\` (no vDSO), timed by the program itself. The rig's dom0 is a"
    echo "64-bit PV domain: its system calls enter Xen before its kernel, so this baseline is not native Linux's:"
    echo
    echo "| system call | on Skiff (ns/call) | in dom0 (ns/call) | Skiff / dom0 |"
    echo "|---|---|---|---|"
    row getppid syscall_getppid_skiff_ns syscall_getppid_dom0_ns
    row "clock_gettime (CLOCK_MONOTONIC)" syscall_clock_gettime_skiff_ns syscall_clock_gettime_dom0_ns
    echo
    echo "Boot, as the guest measured it (ms after PVH entry; \"first accept\" is the program's first"
    echo "accept/accept4 call: std's blocking accept right after listen, tokio's once epoll reports the"
    echo "first connection, which dom0 makes as soon as the port answers):"
    echo
    echo "| program | PVH entry to main | to first instruction | to first accept |"
    echo "|---|---|---|---|"
    for app in std-echo tokio-echo axum-server; do
        k=boot_$app
        echo "| $app | $(cell "${k}_entry_to_main") | $(cell "${k}_entry_to_first_instruction") | $(cell "${k}_entry_to_first_accept") |"
    done
    echo "| syscall-loop | | $(cell boot_syscall_loop_entry_to_first_instruction) | |"
    echo "| no_std \`echo\` | $(cell boot_echo_entry_to_main) | | |"
    echo
    echo "Boot as dom0 sees it: \`xl create\` (or, in dom0, starting the process) to the first connection"
    echo "that succeeds (s), tried every 10 ms by a dom0 poller started before it (peers.py firstconnect):"
    echo
    echo "| program | xl create on Skiff | process start in dom0 | Skiff / dom0 | no_std \`echo\` guest | Skiff / no_std |"
    echo "|---|---|---|---|---|---|"
    for app in std-echo tokio-echo axum-server; do
        row "$app" "boot_${app}_xl_create_to_connect" "boot_${app}_dom0_start_to_connect" boot_echo_xl_create_to_connect
    done
    echo
    echo "Least \`memory=\` (MiB) with which the program boots on Skiff and serves one echo (64 KiB) or"
    echo "request (100 kB download), bisected in 1 MiB steps up to ${BENCH_MEM_MAX:-64} MiB (no baseline;"
    echo "xl-configs/linux.cfg has 64, the no_std echo.cfg 96):"
    echo
    echo "| program | least memory= (MiB) |"
    echo "|---|---|"
    for app in std_echo tokio_echo axum_server; do echo "| ${app//_/-} | $(value "memory_${app}_mib") |"; done
    echo
    echo "## Skiff beside a Linux guest with netfront (tests/bench/linuxguest.sh)"
    echo
    echo "The same static binaries (target/apps) on Skiff's linux image, in a Linux PVH guest (the rig"
    echo "dom0's Debian kernel $(grep -a -o 'rig kernel [^ ]*' "$raw" | head -1 | cut -d' ' -f3), a busybox"
    echo "initramfs, \`xen-netfront\` on a dom0 bridge with \`xen-netback\`, 10.200.0.0/24) with the same"
    echo "memory= (160 MiB) and one vCPU, and as dom0 processes; each in turn in every run of the same"
    echo "boot, driven by the same dom0 clients (peers.py, apps.py). Medians (range) over the runs."
    echo "Latency and boot: lower is better, so a ratio below 1 favours Skiff there. \"First connection\""
    echo "is timed by a dom0 poller started before \`xl create\` that tries every 10 ms; \"built and"
    echo "running\" by the rig's shell loop that reads xl's output every 0.1 s, so it can come out a"
    echo "little later than the first connection."
    echo
    echo "| measurement | Skiff | Linux guest | Skiff / Linux guest | dom0 process | Skiff / dom0 |"
    echo "|---|---|---|---|---|---|"
    lg_row() { row "$1" "${2}_skiff_$3" "${2}_linux_$3" "${2}_dom0_$3"; }
    for app in std_echo tokio_echo; do
        lg_row "${app//_/-}: echo round trips, 16 KiB rounds (MB/s)" "lg_rounds_$app" mbps
        lg_row "${app//_/-}: concurrent echo, $(value lg_echo_conns) x $(value lg_echo_bytes) bytes (MB/s)" "lg_echo_$app" mbps
        lg_row "${app//_/-}: 64-byte request/response p50 (us)" "lg_lat64_p50_$app" us
        lg_row "${app//_/-}: 64-byte request/response p99 (us)" "lg_lat64_p99_$app" us
        lg_row "${app//_/-}: connect, 64-byte echo, close, 4 workers (per s)" "lg_crc_$app" per_s
    done
    lg_row "axum-server: HTTP download, 1 connection (MB/s)" lg_fetch1_axum_server mbps
    lg_row "axum-server: HTTP download, 50 connections (MB/s)" lg_fetch50_axum_server mbps
    for way in "out:guest to dom0" "in:dom0 to guest"; do
        lg_row "bulk: ${way#*:}, 1 stream (MB/s)" "lg_bulk${way%%:*}1_bulk" mbps
        lg_row "bulk: ${way#*:}, 8 streams (MB/s)" "lg_bulk${way%%:*}8_bulk" mbps
    done
    for app in std_echo tokio_echo axum_server; do
        lg_row "${app//_/-}: \`xl create\` (dom0: process start) to first connection (s)" "lg_boot_$app" to_connect
        echo "$(row "${app//_/-}: \`xl create\` to the domain built and running, to 0.1 s or worse (s)" \
            "lg_boot_${app}_skiff_to_running" "lg_boot_${app}_linux_to_running") | |"
    done
    for app in std_echo tokio_echo axum_server; do
        echo "$(row "${app//_/-}: least memory= serving one echo or request (MiB; Skiff: linux.sh)" \
            "memory_${app}_mib" "lg_memory_${app}_linux_mib") | |"
    done
    echo "$(row "tokio-echo: most concurrent connections held with memory=64, of 1000 tried (0: does not come up)" \
        lg_held64_tokio_echo_skiff lg_held64_tokio_echo_linux) | |"
    echo
    echo "Image sizes (bytes): Skiff boots linux.elf with the program as \`ramdisk=\`; the Linux guest"
    echo "boots vmlinuz with a gzip'd initramfs holding busybox, xen-netfront.ko and the program:"
    echo
    echo "| program | Skiff: linux.elf + program | Linux guest: vmlinuz + initramfs | Skiff / Linux guest |"
    echo "|---|---|---|---|"
    for name in std-echo tokio-echo axum-server; do
        k=$(value lg_size_kernel) i=$(value "lg_size_${name//-/_}_initramfs")
        k=${k%.*} i=${i%.*}
        [ -f "$repo/target/apps/$name" ] && [ -n "$k" ] && [ -n "$i" ] || continue
        s=$(($(stat -c %s "$repo/target/images/linux.elf") + $(stat -c %s "$repo/target/apps/$name")))
        echo "| $name | $s | $((k + i)) | $(awk -v a="$s" -v b="$((k + i))" 'BEGIN { printf "%.3f", a / b }') |"
    done
    echo
    echo "Programs (target/apps, \`size\`; Skiff runs each on linux.elf, in the images table below):"
    echo
    echo "| program | file bytes | text | data | bss | linux.elf + program / no_std echo.elf |"
    echo "|---|---|---|---|---|---|"
    for name in std-echo tokio-echo axum-server bulk c-poll-server syscall-loop; do
        f=$repo/target/apps/$name
        [ -f "$f" ] || continue
        read -r text data bss _ < <(size "$f" | awk 'NR == 2')
        echo "| $name | $(stat -c %s "$f") | $text | $data | $bss | $(awk -v a="$(stat -c %s "$f")" \
            -v l="$(stat -c %s "$repo/target/images/linux.elf")" -v e="$(stat -c %s "$repo/target/images/echo.elf")" \
            'BEGIN { printf "%.2f", (a + l) / e }') |"
    done
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
