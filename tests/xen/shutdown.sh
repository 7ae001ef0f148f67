#!/bin/bash
# Rig case: a waiting guest obeys "xl shutdown" (powers itself off) and "xl reboot" (reason reboot).
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"

# try_request CMD EXPECTED: start a waiting hello, send "xl CMD", expect shutdown reason EXPECTED.
try_request() {
    local cmd=$1 expected=$2 reason out
    if ! skiff_create hello 'extra="wait=forever"' 'on_reboot="destroy"' 'on_poweroff="destroy"'; then
        fail "xl $cmd: hello created"
        return
    fi
    if ! skiff_wait_console hello 'hello: waiting' 60; then
        fail "xl $cmd: hello reaches 'hello: waiting'"
        skiff_shutdown_reason hello 1 >/dev/null
        return
    fi
    pass "xl $cmd: hello reaches 'hello: waiting'"
    if out=$(xl "$cmd" hello 2>&1); then
        pass "xl $cmd hello accepted"
    else
        fail "xl $cmd hello accepted: $out"
    fi
    reason=$(skiff_shutdown_reason hello 60)
    check_eq "xl $cmd: guest shuts itself down with reason $expected within 60 s" "$expected" "$reason"
}

try_request shutdown poweroff
try_request reboot reboot
