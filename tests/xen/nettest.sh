#!/bin/bash
# Rig case: the nettest guest checks the socket API's errnos, listener and poll() over the real
# pvcalls-back, against a dom0 listener on a busy port and a dom0 client (tests/xen/peers.py).
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
peers=$(dirname "$0")/peers.py
busy=9200 closed=9201 listen=9202

check "nothing listens on dom0 port $closed" python3 "$peers" refused "$closed"
python3 "$peers" serve "$busy" >"$RIG_TMP/nettest-busy.log" 2>&1 &
server=$!
check "dom0 listens on port $busy" skiff_wait_serving "$RIG_TMP/nettest-busy.log" 5

if ! skiff_create nettest 'on_reboot="destroy"' "extra=\"busy=$busy closed=$closed listen=$listen\""; then
    fail "nettest guest created"
    kill "$server" 2>/dev/null
    exit 0
fi
if skiff_wait_console nettest "nettest: listening on 0\.0\.0\.0:$listen" 180; then
    pass "nettest says it listens on 0.0.0.0:$listen"
    python3 "$peers" nettest-peer "$listen" --timeout 120 >"$RIG_TMP/nettest-peer.log" 2>&1
    peer_rc=$?
    sed 's/^/    peer| /' "$RIG_TMP/nettest-peer.log"
    check_eq "nettest-peer exits 0" 0 "$peer_rc"
    if grep -q '^FAIL' "$RIG_TMP/nettest-peer.log"; then
        fail "nettest-peer printed no FAIL"
    else
        pass "nettest-peer printed no FAIL"
    fi
else
    fail "nettest says it listens on 0.0.0.0:$listen"
fi
reason=$(skiff_shutdown_reason nettest 180)
kill "$server" 2>/dev/null
check_eq "nettest powers off (exit 0)" poweroff "$reason"
check_console nettest 'nettest: PASS [0-9]+/[0-9]+' "console says 'nettest: PASS'"
check_no_console nettest 'nettest: FAIL' "console has no 'nettest: FAIL'"
check_no_console nettest 'panicked|fault' "nettest's console shows no panic or fault"
