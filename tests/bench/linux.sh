#!/bin/bash
# Rig case for `make bench` (tests/bench/run.sh), after bench.sh in the same boot: the Linux programs
# of target/apps on Skiff's linux image against the same static binaries run as dom0 processes, and
# against the no_std echo guest, with the same dom0 clients (tests/xen/peers.py, apps.py): echo and
# HTTP throughput, a syscall loop, boot milestones, and the least memory= each server serves in.
# Prints "BENCH <key> <value> <unit>" lines that run.sh turns into a results file.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
here=$(dirname "$0")
peers=$here/peers.py
apps=$here/apps.py
bin=$SKIFF_ROOT/target/apps
BIG=${BENCH_BYTES:-16000000}
ECHO_BYTES=${BENCH_ECHO_BYTES:-4000000}
ECHO_CONNS=${BENCH_ECHO_CONNS:-4}
SYSCALLS=${BENCH_SYSCALLS:-200000}
MEM_MAX=${BENCH_MEM_MAX:-64}
RUNS=${BENCH_RUNS:-3}

# Keys of figures measured in each run end in "_$run".
# milestone NAME KEY TEXT: the "X ms" of console line TEXT of domain NAME as BENCH KEY_<run> (ms).
milestone() {
    local ms
    ms=$(grep -a -o "$3 [0-9.]* ms" "$(skiff_console_file "$1")" | grep -o '[0-9.]*' | tail -1)
    if [ -n "$ms" ]; then bench "$2_$run" "$ms" ms; else fail "$1: console says '$3 ... ms'"; fi
}

# boot_app APP PORT WORDS [XL-OVERRIDE...]: boots target/apps/APP on the linux image; BENCH lines for
# xl create to the first connection dom0 makes, and the guest's own milestones.
boot_app() {
    local app=$1 port=$2 words=$3 t0
    shift 3
    first_connect_watch 127.0.0.1 "$port" 120 || { fail "$app: dom0's connection poller"; return 1; }
    t0=$EPOCHREALTIME
    skiff_create linux 'on_reboot="destroy"' "ramdisk=\"target/apps/$app\"" "extra=\"$words\"" "$@"
    if first_connect_secs "$t0" linux; then
        bench "boot_${app}_xl_create_to_connect_$run" "$fc_secs" s
        pass "$app accepts on $port"
    else
        fail "$app accepts on $port"
        return 1
    fi
    skiff_wait_console linux 'first accept [0-9.]* ms' 20 || true
    milestone linux "boot_${app}_entry_to_main" 'PVH entry to application main in'
    milestone linux "boot_${app}_entry_to_first_instruction" 'first instruction of the program'
    milestone linux "boot_${app}_entry_to_first_accept" 'first accept'
}

# stop_guest NAME: xl shutdown powers it off.
stop_guest() {
    xl shutdown "$1" >/dev/null 2>&1
    check_eq "$1 powers off on xl shutdown" poweroff "$(skiff_shutdown_reason "$1" 60)"
}

# dom0_start APP PORT: runs target/apps/APP PORT as a dom0 process (its pid in $dom0_pid); BENCH line
# for its start to the first connection.
dom0_start() {
    local t0
    first_connect_watch 127.0.0.1 "$2" 60 || { fail "$1: dom0's connection poller"; return 1; }
    t0=$EPOCHREALTIME
    "$bin/$1" "$2" >"$RIG_TMP/dom0-$1.log" 2>&1 &
    dom0_pid=$!
    if first_connect_secs "$t0"; then
        bench "boot_$1_dom0_start_to_connect_$run" "$fc_secs" s
        pass "$1 in dom0 accepts on $2"
    else
        fail "$1 in dom0 accepts on $2: $(cat "$RIG_TMP/dom0-$1.log")"
    fi
}

# stop_dom0: ends the process dom0_start started, and waits until it has gone (its port with it).
stop_dom0() {
    kill "$dom0_pid" 2>/dev/null
    wait "$dom0_pid" 2>/dev/null
}

# echo_pair KEY PORT: 16 KiB round trips and concurrent echo through the server on PORT.
echo_pair() {
    measure "rounds_$1_mbps_$run" python3 "$peers" rounds "$2" --bytes "$BIG" --chunk 16384
    measure "echo_$1_mbps_$run" python3 "$apps" echo "$2" --conns "$ECHO_CONNS" --bytes "$ECHO_BYTES"
}

# fetch_pair KEY PORT: downloads over HTTP from the server on PORT, 1 and 50 connections.
fetch_pair() {
    measure "fetch1_$1_mbps_$run" python3 "$peers" fetch "$2" --conns 1 --bytes "$BIG"
    measure "fetch50_$1_mbps_$run" python3 "$peers" fetch "$2" --conns 50 --bytes 200000
}

# syscalls SIDE FILE: BENCH syscall_<name>_<side>_ns_<run> from syscall-loop's lines in FILE.
syscalls() {
    local line name ns n=0
    while read -r line; do
        name=$(sed -n 's/.*syscall-loop: \([a-z_]*\): .*/\1/p' <<<"$line")
        ns=$(sed -n 's/.*(\([0-9.]*\) ns\/call).*/\1/p' <<<"$line")
        [ -n "$name" ] && [ -n "$ns" ] && bench "syscall_${name}_$1_ns_$run" "$ns" ns && n=$((n + 1))
    done <<<"$(grep -a 'syscall-loop: .* ns/call' "$2" | tr -d '\r')" # dom0 has no /dev/fd for <(...)
    check_eq "syscall-loop $1: two loops timed" 2 "$n"
}

bench echo_conns "$ECHO_CONNS" connections
bench echo_bytes "$ECHO_BYTES" bytes

# Every figure RUNS times, each side once per run in turn ("KEY_<run>" lines; run.sh reports medians).
for run in $(seq "$RUNS"); do
    # The same binaries as dom0 processes.
    for app in std-echo tokio-echo; do
        port=$([ "$app" = std-echo ] && echo 7100 || echo 7102)
        dom0_start "$app" "$port"
        echo_pair "${app//-/_}_dom0" "$port"
        stop_dom0
    done
    dom0_start axum-server 8100
    fetch_pair axum_server_dom0 8100
    stop_dom0

    # On Skiff's linux image (memory as in the rig's linuxnet case, room for the 16 MB bodies).
    if boot_app std-echo 7000 "-- std-echo 7000" 'memory=160'; then echo_pair std_echo_skiff 7000; fi
    stop_guest linux
    if boot_app tokio-echo 7002 "-- tokio-echo 7002" 'memory=160'; then echo_pair tokio_echo_skiff 7002; fi
    stop_guest linux
    if boot_app axum-server 8000 "-- axum-server 8000" 'memory=160'; then fetch_pair axum_server_skiff 8000; fi
    stop_guest linux

    # The no_std echo guest (examples/echo.rs), the same clients.
    first_connect_watch 127.0.0.1 7 120 || fail "echo: dom0's connection poller"
    t0=$EPOCHREALTIME
    skiff_create echo 'on_reboot="destroy"'
    if first_connect_secs "$t0" echo; then
        bench "boot_echo_xl_create_to_connect_$run" "$fc_secs" s
        skiff_wait_console echo 'PVH entry to application main in' 10 || true
        milestone echo boot_echo_entry_to_main 'PVH entry to application main in'
        echo_pair echo_nostd 7
    else
        fail "echo guest accepts on 7"
    fi
    stop_guest echo

    # Syscall cost: the same loop in dom0 and on Skiff, ns per call.
    "$bin/syscall-loop" "$SYSCALLS" >"$RIG_TMP/syscall-loop.out" 2>&1
    syscalls dom0 "$RIG_TMP/syscall-loop.out"
    reason=$(skiff_run linux 600 'ramdisk="target/apps/syscall-loop"' "extra=\"-- syscall-loop $SYSCALLS\"")
    check_eq "syscall-loop on Skiff exits 0" poweroff "$reason"
    syscalls skiff "$(skiff_console_file linux)"
    milestone linux boot_syscall_loop_entry_to_first_instruction 'first instruction of the program'
done

# The least memory= (MiB) each server boots and serves one echo or request in: bisection between 0
# (taken as too little) and MEM_MAX, each try a fresh boot on its own port.
serves_in() { # APP PORT MIB
    local app=$1 port=$2 mem=$3 ok=1
    if skiff_create linux 'on_reboot="destroy"' "ramdisk=\"target/apps/$app\"" "extra=\"-- $app $port\"" \
        "memory=$mem" 2>/dev/null && wait_local_port "$port" 60 linux; then
        if [ "$app" = axum-server ]; then
            python3 "$peers" fetch "$port" --conns 1 --bytes 100000 --timeout 30
        else
            python3 "$apps" echo "$port" --conns 1 --bytes 65536 --timeout 30
        fi >"$RIG_TMP/mem-$app-$mem.out" 2>&1 && ok=0
    fi
    xl shutdown linux >/dev/null 2>&1
    reason=$(skiff_shutdown_reason linux 30 2>"$RIG_TMP/mem-$app-$mem.log")
    echo "memory: $app with memory=$mem: $([ "$ok" = 0 ] && echo serves || echo fails), domain: $reason;" \
        "$(grep -a -m1 -E 'cannot run|panicked|memory|killed by' "$(skiff_console_file linux)" | tr -d '\r')"
    return "$ok"
}
base=20000
for app in std-echo tokio-echo axum-server; do
    lo=0 hi=$MEM_MAX
    if serves_in "$app" $((base + hi)) "$hi"; then
        while [ $((hi - lo)) -gt 1 ]; do
            mid=$(((lo + hi) / 2))
            if serves_in "$app" $((base + mid)) "$mid"; then hi=$mid; else lo=$mid; fi
        done
        bench "memory_${app//-/_}_mib" "$hi" MiB
        pass "$app: least memory= found ($hi MiB)"
    else
        fail "$app serves with memory=$MEM_MAX"
    fi
    base=$((base + 1000))
done
