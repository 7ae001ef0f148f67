#!/usr/bin/env bash
# Developer check of the tests/apps programs and their dom0 drivers (tests/xen/apps.py) without Xen:
# the programs are static Linux executables, so this runs each one as a process on this machine and
# drives it over 127.0.0.1 as the rig drives it from dom0. Builds first (tests/apps/build.sh; skip
# with --no-build). Servers listen on free ports (port 0, read back from their "listening" line),
# except the axum README example, which wants 3000. Prints one line per check and a closing
# "N passed, N failed"; exits 1 if any check failed. Not part of make test.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
[ "${1:-}" = --no-build ] || tests/apps/build.sh >/dev/null || exit 1
bin=target/apps
driver=tests/xen/apps.py
timeout=${CHECK_TIMEOUT:-120}
tmp=$(mktemp -d)
ulimit -n "$(ulimit -Hn)" 2>/dev/null # 1500 connections, both ends in this machine
passed=0
failed=0
server=
peer=

cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    [ -n "$peer" ] && kill "$peer" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() {
    echo "check-on-host: ok $*"
    passed=$((passed + 1))
}
bad() {
    echo "check-on-host: FAIL $*"
    failed=$((failed + 1))
}
show() { sed 's/^/    | /' "$@"; }

# check WHAT CMD...: CMD must exit 0; its last line is shown.
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$what: $(tail -n 1 <<<"$out")"
    else
        bad "$what"
        show <<<"$out"
    fi
}

# start NAME ARGS...: starts target/apps/NAME with output to $tmp/NAME.log and waits (30 s at most)
# for its "NAME: listening on 0.0.0.0:PORT" line; sets $server and $port. Returns 1 if it fails.
start() {
    local name=$1 log=$tmp/$1.log deadline=$((SECONDS + 30))
    shift
    "$bin/$name" "$@" >"$log" 2>&1 &
    server=$!
    until port=$(sed -n "s/^$name: listening on 0\.0\.0\.0:\([0-9]*\)$/\1/p" "$log") && [ -n "$port" ]; do
        if ! kill -0 "$server" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            bad "$name prints its listening line"
            show "$log"
            stop_quietly
            return 1
        fi
        sleep 0.1
    done
    ok "$name listens on port $port"
}

stop_quietly() {
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    server=
}

# stop NAME: the server must still be running after its checks; then it is stopped.
stop() {
    if kill -0 "$server" 2>/dev/null; then
        ok "$1 still serving after its checks"
    else
        bad "$1 ended during its checks"
        show "$tmp/$1.log"
    fi
    stop_quietly
}

# free_port: a port nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_program WHAT STATUS NAME ARGS...: runs target/apps/NAME; it must exit with STATUS. Output in
# $tmp/NAME.out.
run_program() {
    local what=$1 want=$2 name=$3 status
    shift 3
    timeout "$timeout" "$bin/$name" "$@" >"$tmp/$name.out" 2>&1
    status=$?
    if [ "$status" = "$want" ]; then
        ok "$what exits with status $status"
    else
        bad "$what exits with status $status, not $want"
        show "$tmp/$name.out"
    fi
}

for name in std-echo tokio-echo c-poll-server; do
    start "$name" 0 || continue
    digest=()
    [ "$name" = tokio-echo ] && digest=(--digest)
    check "$name: 1 connection echoes 8 MB" \
        python3 "$driver" echo "$port" --conns 1 --bytes 8000000 "${digest[@]}" --timeout "$timeout"
    check "$name: 300 concurrent connections echo 64 KiB each" \
        python3 "$driver" echo "$port" --conns 300 --bytes 65536 "${digest[@]}" --timeout "$timeout"
    check "$name: 1500 concurrent connections echo 4 KiB each" \
        python3 "$driver" echo "$port" --conns 1500 --bytes 4096 "${digest[@]}" --timeout "$timeout"
    stop "$name"
done

if start axum-server 0; then
    check "axum-server: JSON, 1 MiB both ways, 50 concurrent clients" \
        python3 "$driver" axum "$port" --conns 50 --timeout "$timeout"
    stop axum-server
fi

# bulk's client is peers.py bulk; "to-guest" is to the program, here a process on this machine.
if start bulk 0; then
    for dir in to-guest from-guest; do
        for streams in 1 8; do
            what="$streams concurrent connections"
            [ "$streams" = 1 ] && what="1 connection"
            check "bulk: $what, 16 MB each $dir" \
                python3 tests/xen/peers.py bulk "$port" --dir "$dir" --streams "$streams" --bytes 16000000 \
                --timeout "$timeout"
        done
    done
    stop bulk
fi

# axum's README example listens on 0.0.0.0:3000 and prints nothing: wait for the port instead.
if python3 "$driver" wait 3000 --timeout 0 >/dev/null 2>&1; then
    bad "axum-readme: port 3000 is already in use on this machine; free it and run this again"
else
    (cd "$tmp" && exec "$root/$bin/axum-readme" >"$tmp/axum-readme.log" 2>&1) &
    server=$!
    check "axum-readme accepts on port 3000" python3 "$driver" wait 3000 --timeout 30
    check "axum-readme: GET /, POST /users, 20 concurrent clients" \
        python3 "$driver" axum-readme 3000 --conns 20 --timeout "$timeout"
    stop axum-readme
fi

# std-client against the dom0 peer the driver runs; the tag travels in the environment.
port=$(free_port)
tag=host-$RANDOM
python3 "$driver" client-peer "$port" --bytes 4000000 --tag "$tag" --timeout "$timeout" >"$tmp/peer.log" 2>&1 &
peer=$!
deadline=$((SECONDS + 30))
until grep -q '^ok serving' "$tmp/peer.log"; do
    if ! kill -0 "$peer" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then break; fi
    sleep 0.1
done
STD_CLIENT_TAG=$tag run_program "std-client 127.0.0.1:$port 4000000 (STD_CLIENT_TAG=$tag)" 0 \
    std-client "127.0.0.1:$port" 4000000
if wait "$peer"; then
    ok "client-peer: $(tail -n 1 "$tmp/peer.log")"
else
    bad "client-peer"
    show "$tmp/peer.log"
fi
peer=
check "std-client's result line matches the peer's sha256" \
    python3 "$driver" client-output "$tmp/std-client.out" --bytes 4000000 --tag "$tag" \
    --sha256 "$(sed -n 's/^ok client-peer .* sha256=\([0-9a-f]*\)$/\1/p' "$tmp/peer.log")"
port=$(free_port)
run_program "std-client to a port nobody listens on" 1 std-client "127.0.0.1:$port" 10
if grep -q "^std-client: connect 127.0.0.1:$port: .*refused" "$tmp/std-client.out"; then
    ok "std-client reports the refused connection"
else
    bad "std-client reports the refused connection"
    show "$tmp/std-client.out"
fi

for status in 0 3; do
    run_program "threads $status" "$status" threads "$status"
    check "threads $status: its output" python3 "$driver" threads "$tmp/threads.out" --status "$status"
done

run_program "nosys" 0 nosys
check "nosys: its output" python3 "$driver" nosys "$tmp/nosys.out"

echo "check-on-host: $passed passed, $failed failed"
[ "$failed" = 0 ]
