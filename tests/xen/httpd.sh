#!/bin/bash
# Rig case: a dom0 HTTP client (tests/xen/peers.py http) against the httpd guest over the real
# pvcalls-back: the page, /bytes/N with keep-alive, 404, 400 and concurrent clients.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
peers=$(dirname "$0")/peers.py

if ! skiff_create httpd || ! skiff_wait_console httpd 'httpd: listening on 0.0.0.0:8080' 120; then
    fail "httpd says it listens on 0.0.0.0:8080"
    skiff_shutdown_reason httpd 1 >/dev/null
    exit 0
fi
pass "httpd says it listens on 0.0.0.0:8080"
check "GET /, /bytes/N keep-alive, 404, 400, 20 concurrent clients" python3 "$peers" http 8080 --conns 20
xl shutdown httpd >/dev/null 2>&1
check_eq "httpd powers off on xl shutdown" poweroff "$(skiff_shutdown_reason httpd 60)"
