#!/bin/bash
# Rig case: the hello guest boots, prints its greeting and its cfg args, sleeps and powers itself off.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"

reason=$(skiff_run hello 120)
check_eq "hello shuts down with reason poweroff" poweroff "$reason"
check_console hello 'hello from skiff' "console says 'hello from skiff'"
check_console hello 'hello: args:.*greeting=world' "console shows arg greeting=world"
check_console hello 'hello: args:.*count=3' "console shows arg count=3"
check_console hello 'hello: slept' "console says 'hello: slept'"
