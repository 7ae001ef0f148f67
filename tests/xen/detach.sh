#!/bin/bash
# Rig case: dom0 removes the detach guest's PV Calls device the way libxl does (backend online=0,
# state=Closing) while the guest waits in poll on a connection and a listener. The guest must close its
# end, Linux's pvcalls-back must then disconnect and reach Closed (the guest reads both states), and the
# guest must see every socket fail (no hang), give back every ring with nothing leaked, and power off.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
peers=$(dirname "$0")/peers.py
peer=9300 listen=9301

python3 "$peers" serve "$peer" >"$RIG_TMP/detach-serve.log" 2>&1 &
server=$!
check "dom0 serves echo on port $peer" skiff_wait_serving "$RIG_TMP/detach-serve.log" 5

if ! skiff_create detach "extra=\"peer=$peer listen=$listen\""; then
    fail "detach guest created"
    kill "$server" 2>/dev/null
    exit 0
fi
if skiff_wait_console detach 'detach: ready' 120; then
    pass "detach says it is ready"
    domid=$(xl domid detach)
    be=/local/domain/0/backend/pvcalls/$domid/0
    sleep 1
    check "dom0 sets the backend offline and Closing (as libxl's device removal)" \
        xenstore-write "$be/online" 0 "$be/state" 5
else
    fail "detach says it is ready"
fi
reason=$(skiff_shutdown_reason detach 240)
kill "$server" 2>/dev/null
check_eq "detach powers off (exit 0)" poweroff "$reason"
check_console detach 'detach: PASS [0-9]+/[0-9]+' "console says 'detach: PASS'"
check_no_console detach 'detach: FAIL' "console has no 'detach: FAIL'"
check_no_console detach 'panicked|fault' "detach's console shows no panic or fault"
check_console detach 'PV Calls backend closed in [0-9]+ us' "the guest saw the backend close"
