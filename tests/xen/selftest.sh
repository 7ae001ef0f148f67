#!/bin/bash
# Rig case: the selftest guest runs its in-guest tests and powers off; all of them must pass.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"

reason=$(skiff_run selftest 300)
check_eq "selftest shuts down with reason poweroff" poweroff "$reason"
check_console selftest 'selftest: PASS' "console says 'selftest: PASS'"
check_no_console selftest 'selftest: FAIL' "console has no 'selftest: FAIL'"
echo "boot timing lines of selftest:"
grep -a 'skiff: boot' "$(skiff_console_file selftest)" | tr -d '\r' | sed 's/^/    /' || echo "    (none)"
