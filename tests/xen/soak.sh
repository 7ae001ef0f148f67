#!/bin/bash
# Rig case for `make soak` (not in `make test`: it takes a while under emulation): SOAK_CYCLES
# (100000) connect-echo-close cycles from 8 dom0 workers against the echo guest, then the guest's
# idle reports must add up to every connection, each released, nothing leaked and nothing grown
# from the first report to the last (the frontend's and the kernel's counts back to baseline).
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
peers=$(dirname "$0")/peers.py
idle_reports=$(dirname "$0")/idle_reports.py
cycles=${SOAK_CYCLES:-100000}

# 100,000 client connections from one address: let dom0 reuse ports whose connections wait in
# TIME_WAIT, so the soak measures the guest, not the client's port range.
sysctl -q -w net.ipv4.tcp_tw_reuse=1

if ! skiff_create echo || ! skiff_wait_console echo 'echo: listening on 0.0.0.0:7' 120; then
    fail "echo guest created and listening on 0.0.0.0:7"
    skiff_shutdown_reason echo 1 >/dev/null
    exit 0
fi
check "a first connection echoes 1 MB" python3 "$peers" echo 7 --conns 1 --bytes 1000000
what="$cycles connect-echo-close cycles, 8 workers, 1000 bytes each"
# Progress lines go to the console (stderr) as the soak runs; the verdict is on stdout.
if out=$(python3 "$peers" churn 7 --cycles "$cycles" --conns 8 --bytes 1000 --timeout 60 --progress 5000) \
    && [[ $out == ok* ]]; then
    pass "$what: $out"
else
    fail "$what: $out"
fi
check "a connection after the soak echoes 1 MB" python3 "$peers" echo 7 --conns 1 --bytes 1000000
served=$((cycles + 2))
what="echo's idle reports add up to $served connections, each released, nothing leaked or grown"
if out=$(python3 "$idle_reports" "$(skiff_console_file echo)" echo --served "$served" --wait 120 2>&1); then
    pass "$what"
    printf '%s\n' "$out" | tail -3 | sed 's/^/    | /'
else
    fail "$what"
    printf '%s\n' "$out" | sed 's/^/    | /'
    skiff_dom0_blocked
fi
xl shutdown echo >/dev/null 2>&1
check_eq "echo powers off on xl shutdown" poweroff "$(skiff_shutdown_reason echo 60)"
check_no_console echo 'panicked|fault' "echo's console shows no panic or fault"
