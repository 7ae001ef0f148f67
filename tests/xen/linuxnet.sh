#!/bin/bash
# Rig case: unmodified Linux servers and a client on the linux image, their sockets in dom0 over PV
# Calls, driven from dom0 (tests/xen/apps.py): echo servers (std threads, C poll(2), tokio's default
# runtime) checked by sha256 over megabytes and hundreds of concurrent connections, axum (ours and
# the README example of axum itself), std-client against a dom0 server, and xl shutdown.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
here=$(dirname "$0")
apps() { python3 "$here/apps.py" "$@"; }

# serve NAME PORT EXTRA-WORDS [XL-OVERRIDE...]: boots target/apps/NAME and waits for PORT to accept.
serve() {
    local name=$1 port=$2 words=$3
    shift 3
    skiff_create linux 'on_reboot="destroy"' "ramdisk=\"target/apps/$name\"" "extra=\"$words\"" "$@" \
        && check "$name accepts on $port" apps wait "$port" --timeout 60
}

# stop NAME: xl shutdown powers the domain off; the console shows no panic or fault.
stop() {
    xl shutdown linux >/dev/null 2>&1
    check_eq "$1 powers off on xl shutdown" poweroff "$(skiff_shutdown_reason linux 60)"
    check_no_console linux 'panicked|CPU exception|FATAL|killed by' "$1: no panic, fault or signal"
}

# Thread per connection: 200 threads need small stacks (RUST_MIN_STACK) and room for their rings.
serve std-echo 7000 "env.RUST_MIN_STACK=131072 -- std-echo 7000" 'memory=160'
check "std-echo: 1 connection echoes 8 MB (sha256)" apps echo 7000 --conns 1 --bytes 8000000
check "std-echo: 200 concurrent connections echo 64 KiB each (sha256)" apps echo 7000 --conns 200 --bytes 65536
stop std-echo

serve c-poll-server 7001 "-- c-poll-server 7001" 'memory=160'
check "c-poll-server (ET_EXEC): 1 connection echoes 8 MB (sha256)" apps echo 7001 --conns 1 --bytes 8000000
check "c-poll-server: 300 concurrent connections echo 16 KiB each (sha256)" apps echo 7001 --conns 300 --bytes 16384
stop c-poll-server

# Each connection's digest runs on tokio's blocking pool: up to 300 threads at once, and a thread's
# stack is memory the kernel commits when it is mapped (std's default is 2 MiB): RUST_MIN_STACK.
serve tokio-echo 7002 "env.RUST_MIN_STACK=262144 -- tokio-echo 7002" 'memory=256'
check "tokio-echo: 1 connection echoes 8 MB, digest from spawn_blocking" apps echo 7002 --conns 1 --bytes 8000000 --digest
check "tokio-echo: 300 concurrent connections echo 16 KiB each, with digests" apps echo 7002 --conns 300 --bytes 16384 --digest
stop tokio-echo

serve axum-server 8000 "-- axum-server 8000"
check "axum-server: JSON routes, 1 MiB down and up, 400, 404, 20 concurrent clients" apps axum 8000 --conns 20
stop axum-server

serve axum-readme 3000 "-- axum-readme"
check "axum's README example: GET /, POST /users, 20 concurrent clients" apps axum-readme 3000 --conns 20
stop axum-readme

# std-client in the guest connects to a server in dom0 (127.0.0.1 over PV Calls is dom0's loopback).
apps client-peer 9100 --bytes 4000000 --tag rig >"$RIG_TMP/peer.out" 2>&1 &
peer=$!
skiff_wait_serving "$RIG_TMP/peer.out" 30 >/dev/null 2>&1 || true
reason=$(skiff_run linux 240 'ramdisk="target/apps/std-client"' \
    'extra="env.STD_CLIENT_TAG=rig -- std-client 127.0.0.1:9100 4000000"')
check_eq "std-client exits 0 (poweroff)" poweroff "$reason"
wait "$peer"
check "the dom0 peer got the tag through the environment and echoed 4 MB" grep -q '^ok client-peer bytes=4000000 tag=rig' "$RIG_TMP/peer.out"
peer_hash=$(sed -n 's/^ok client-peer .* sha256=\([0-9a-f]*\).*/\1/p' "$RIG_TMP/peer.out")
check "std-client's sha256 is the peer's" apps client-output "$(skiff_console_file linux)" --bytes 4000000 --tag rig --sha256 "${peer_hash:-none}"
