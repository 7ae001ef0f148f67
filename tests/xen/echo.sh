#!/bin/bash
# Rig case: dom0 clients (tests/xen/peers.py) against the echo guest over the real pvcalls-back:
# hundreds of concurrent connections (1500 at once, beyond what it serves together), tens of megabytes,
# peer half-close and reset.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
peers=$(dirname "$0")/peers.py
idle_reports=$(dirname "$0")/idle_reports.py

if ! skiff_create echo; then
    fail "echo guest created"
    exit 0
fi
if skiff_wait_console echo 'echo: listening on 0.0.0.0:7' 120; then
    pass "echo says it listens on 0.0.0.0:7"
else
    fail "echo says it listens on 0.0.0.0:7"
    skiff_shutdown_reason echo 1 >/dev/null
    exit 0
fi
# dom0's pvcalls-back (built with dom0/install-pvcalls-back.sh) reads its sockets by itself and says so
# in xenstore, so the frontend sends it no answers to its events. Linux counts an answer that finds
# nothing to do as a spurious event and, past a threshold, holds the channel back: with answers, about
# 9 round trips in 10 made one.
check_console echo 'PV Calls connected .*reads unprompted' "echo's frontend sees that dom0's backend reads unprompted"
spurious=/sys/bus/xen-backend/devices/pvcalls-$(xl domid echo)-0/xenbus/spurious_events
before=$(cat "$spurious" 2>/dev/null || echo missing)
check "500 round trips of 64 bytes echo" python3 "$peers" pingpong 7 --cycles 500 --bytes 64
after=$(cat "$spurious" 2>/dev/null || echo missing)
if [[ $before =~ ^[0-9]+$ && $after =~ ^[0-9]+$ ]] && [ $((after - before)) -lt 25 ]; then
    pass "500 round trips made $((after - before)) spurious events in dom0's backend (fewer than 25)"
else
    fail "500 round trips made fewer than 25 spurious events in dom0's backend ($spurious: $before, then $after)"
fi
check "one connection echoes 1 MB" python3 "$peers" echo 7 --conns 1 --bytes 1000000
check "200 concurrent connections echo 64 KiB each (sha256)" python3 "$peers" echo 7 --conns 200 --bytes 65536
check "4 connections echo 8 MB each (sha256)" python3 "$peers" echo 7 --conns 4 --bytes 8000000
# More clients than echo serves at once (max-conns=1000; rings shrink as they fill its 96 MiB): the rest
# wait in dom0's backlog while accepts pause, and are served as others finish.
ulimit -n 4096
check "1500 concurrent connections echo 4 KiB each (sha256)" \
    python3 "$peers" echo 7 --conns 1500 --bytes 4096 --timeout 240
check "peer half-close: the echo arrives, then EOF" python3 "$peers" halfclose 7 --bytes 2000000
check "peer reset: the server survives it" python3 "$peers" reset 7
check "connect to a port nobody listens on is refused" python3 "$peers" refused 8
# Every connection above was accepted (1 + 1 + 200 + 4 + 1500 + 1 + 2 = 1709), and each time echo went
# idle it reported what its sockets hold: nothing may grow or leak over the run.
what="echo's idle reports show 1709 connections, each released, and no leak"
if out=$(python3 "$idle_reports" "$(skiff_console_file echo)" echo --served 1709 --wait 90 2>&1); then
    pass "$what"
else
    fail "$what"
    printf '%s\n' "$out" | sed 's/^/    | /'
    skiff_dom0_blocked # a RELEASE the backend never answered shows here
fi
xl shutdown echo >/dev/null 2>&1
check_eq "echo powers off on xl shutdown" poweroff "$(skiff_shutdown_reason echo 60)"
check_no_console echo 'panicked|fault' "echo's console shows no panic or fault"
