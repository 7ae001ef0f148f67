#!/bin/bash
# Rig case: the dom0 process a guest talks to dies (SIGKILL) while the guest waits in poll on two
# connections, one waiting to read and one whose data dom0 never read. The guest's wait must end,
# each connection must report the end (EOF or an errno), and closing them must give back every ring
# with nothing leaked (tests/guests/peergone.rs).
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
peers=$(dirname "$0")/peers.py
peer=9310

python3 "$peers" hold "$peer" --timeout 300 >"$RIG_TMP/peergone-hold.log" 2>&1 &
holder=$!
check "dom0 holds port $peer" skiff_wait_serving "$RIG_TMP/peergone-hold.log" 5

if ! skiff_create peergone "extra=\"peer=$peer\""; then
    fail "peergone guest created"
    kill "$holder" 2>/dev/null
    exit 0
fi
if skiff_wait_console peergone 'peergone: ready' 120; then
    pass "peergone says it is ready"
    kill -9 "$holder"
    wait "$holder" 2>/dev/null
    check_eq "the peer process died of SIGKILL" 137 "$?"
else
    fail "peergone says it is ready"
    kill "$holder" 2>/dev/null
fi
reason=$(skiff_shutdown_reason peergone 240)
check_eq "peergone powers off (exit 0)" poweroff "$reason"
check_console peergone 'peergone: PASS [0-9]+/[0-9]+' "console says 'peergone: PASS'"
check_no_console peergone 'peergone: FAIL' "console has no 'peergone: FAIL'"
check_no_console peergone 'panicked|fault' "peergone's console shows no panic or fault"
