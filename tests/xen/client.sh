#!/bin/bash
# Rig case: the client guest against a dom0 echo server (tests/xen/peers.py serve) over the real
# pvcalls-back, and against a port nobody listens on.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
peers=$(dirname "$0")/peers.py

python3 "$peers" serve 9000 >"$RIG_TMP/serve.log" 2>&1 &
server=$!
skiff_wait_serving "$RIG_TMP/serve.log" 5 || true  # a failed start shows in the checks below
reason=$(skiff_run client 300)
check_eq "client powers off (exit 0) after the echo round trip" poweroff "$reason"
check_console client 'client: ok 4000000 bytes' "client verified 4000000 echoed bytes"
kill "$server" 2>/dev/null

reason=$(skiff_run client 120 'extra="addr=127.0.0.1:9 bytes=10"')
check_eq "client to a closed port exits non-zero (crash)" crash "$reason"
check_console client 'client: connect 127.0.0.1:9: .*(refused|ECONNREFUSED)' "client reports connection refused"
