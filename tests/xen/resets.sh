#!/bin/bash
# Rig case: bursts of dom0 clients that reset their connection to the echo guest mid-transfer, with
# data in flight both ways (tests/xen/peers.py resets). The guest must keep serving and release every
# socket; dom0 must stay healthy (the rig fails a case on dom0 watchdog reports). This is what hung
# Linux's pvcalls-back before the fixes dom0/install-pvcalls-back.sh applies (docs/pvcalls-back.md).
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
peers=$(dirname "$0")/peers.py
idle_reports=$(dirname "$0")/idle_reports.py

if ! skiff_create echo; then
    fail "echo guest created"
    exit 0
fi
if ! skiff_wait_console echo 'echo: listening on 0.0.0.0:7' 120; then
    fail "echo says it listens on 0.0.0.0:7"
    skiff_shutdown_reason echo 1 >/dev/null
    exit 0
fi
check "50 connections in a row, 1000 bytes each, then a reset" \
    python3 "$peers" resets 7 --conns 1 --bursts 50 --bytes 1000 --timeout 60
check "6 bursts of 50 concurrent connections reset mid-transfer (256 KiB each)" \
    python3 "$peers" resets 7 --conns 50 --bursts 6 --bytes 262144 --timeout 120
# 50 + 1 and 300 + 1 connections were accepted, and each time echo went idle it reported what its
# sockets hold: in the end every one is released and nothing leaked.
what="echo's idle reports show 352 connections, each released, and no leak"
if out=$(python3 "$idle_reports" "$(skiff_console_file echo)" echo --served 352 --wait 90 2>&1); then
    pass "$what"
else
    fail "$what"
    printf '%s\n' "$out" | sed 's/^/    | /'
    skiff_dom0_blocked
fi
check "a connection after the resets echoes 1 MB" python3 "$peers" echo 7 --conns 1 --bytes 1000000
xl shutdown echo >/dev/null 2>&1
check_eq "echo powers off on xl shutdown" poweroff "$(skiff_shutdown_reason echo 60)"
check_no_console echo 'panicked|fault' "echo's console shows no panic or fault"
