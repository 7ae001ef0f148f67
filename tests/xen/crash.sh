#!/bin/bash
# Rig case: the crash guest fails on purpose (panic, stack overflow into the guard page, non-zero exit
# code); each failure must be printed on the console and end the domain with reason crash.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"

reason=$(skiff_run crash 120 'extra="how=panic"')
check_eq "a panic crashes the domain" crash "$reason"
check_console crash 'skiff: FATAL: panicked at tests/guests/crash\.rs:[0-9]+:[0-9]+: crash: panicking on purpose' \
    "the console shows the panic's message and location"

reason=$(skiff_run crash 120 'extra="how=stack-overflow"')
check_eq "a stack overflow crashes the domain" crash "$reason"
check_console crash 'skiff: FATAL: CPU exception 14 \(page fault\) at address 0x[0-9a-f]+ \(stack overflow: hit the guard page\)' \
    "the console names the page fault on the stack's guard page"
check_console crash '  rip 0x[0-9a-f]+ rsp 0x[0-9a-f]+' "the console shows the faulting rip and rsp"
check_no_console crash 'recursion came back' "the recursion never returned"
# A fatal error is copied to the debug port, which Xen logs as (dN) lines; a fault while crashing is
# reported only there.
dmesg=$(xl dmesg 2>&1)
if grep -q 'skiff: FATAL: CPU exception 14' <<<"$dmesg"; then
    pass "Xen's log has the debug port's copy of the report"
else
    fail "Xen's log has the debug port's copy of the report"
fi
if grep -q 'fatal error while crashing' <<<"$dmesg"; then
    fail "the fault handler did not fault itself (Xen's log)"
else
    pass "the fault handler did not fault itself (Xen's log)"
fi

reason=$(skiff_run crash 120 'extra="how=exit code=3"')
check_eq "exit code 3 crashes the domain" crash "$reason"
check_console crash 'skiff: exit code 3' "the console shows exit code 3"
