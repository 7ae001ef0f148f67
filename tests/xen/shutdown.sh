#!/bin/bash
# Rig case: a waiting guest obeys "xl shutdown" (powers itself off) and "xl reboot" (reason reboot), and
# a guest that never waits obeys "xl shutdown" too.
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

# A guest that never waits: echo polling its sockets in a loop that never blocks (as a spinning event
# loop does) still serves, and still hears "xl shutdown".
if skiff_create echo 'extra="port=7 busy-poll"' 'on_reboot="destroy"'; then
    if skiff_wait_console echo 'echo: listening on 0.0.0.0:7' 60; then
        pass "busy-polling echo listens"
        check "busy-polling echo: 50 round trips of 64 bytes" \
            python3 "$(dirname "$0")/peers.py" pingpong 7 --cycles 50 --bytes 64
    else
        fail "busy-polling echo listens"
    fi
    xl shutdown echo >/dev/null 2>&1
    check_eq "busy-polling echo powers off on xl shutdown within 60 s" poweroff "$(skiff_shutdown_reason echo 60)"
else
    fail "busy-polling echo created"
fi
