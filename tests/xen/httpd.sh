#!/bin/bash
# Rig case: a dom0 HTTP client (tests/xen/peers.py http) against the httpd guest over the real
# pvcalls-back: the page, /bytes/N with keep-alive, 404, 400, concurrent clients, and a restart that
# finds the port still held in dom0.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
peers=$(dirname "$0")/peers.py
idle_reports=$(dirname "$0")/idle_reports.py

if ! skiff_create httpd || ! skiff_wait_console httpd 'httpd: listening on 0.0.0.0:8080' 120; then
    fail "httpd says it listens on 0.0.0.0:8080"
    skiff_shutdown_reason httpd 1 >/dev/null
    exit 0
fi
pass "httpd says it listens on 0.0.0.0:8080"
check "GET /, /bytes/N keep-alive, 404, 400, pipelined HEAD and 405, 20 concurrent clients" \
    python3 "$peers" http 8080 --conns 20
# peers.py http opens 5 connections, then 2 for each of the 20 clients.
check "httpd's idle reports show 45 connections and no leak" \
    python3 "$idle_reports" "$(skiff_console_file httpd)" httpd --served 45 --wait 90
xl shutdown httpd >/dev/null 2>&1
check_eq "httpd powers off on xl shutdown" poweroff "$(skiff_shutdown_reason httpd 60)"

# Started again at once: dom0 may still hold port 8080 for the first run's closed connections
# (TIME_WAIT; pvcalls-back binds without SO_REUSEADDR), and httpd waits for it instead of failing.
if skiff_create httpd && skiff_wait_console httpd 'httpd: listening on 0.0.0.0:8080' 150; then
    pass "httpd started again at once listens on 0.0.0.0:8080"
    if grep -q 'still in use in dom0' "$(skiff_console_file httpd)"; then
        _rig_log "the second run waited for port 8080"
    fi
    check "the second run serves GET /" python3 "$peers" fetch 8080 --conns 1 --bytes 1000
else
    fail "httpd started again at once listens on 0.0.0.0:8080"
fi
xl shutdown httpd >/dev/null 2>&1
check_eq "the second run powers off" poweroff "$(skiff_shutdown_reason httpd 60)"
