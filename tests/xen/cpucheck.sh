#!/bin/bash
# Rig case (not in make test's CASES): the platform under the guests computes correctly while the
# guest makes a million intercepted instructions (RDTSC, CPUID) or hypercalls between its compares
# and branches; a triple fault or a differing result means the emulated machine lost guest state.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"

for mode in none tsc cpuid hypercall; do
    reason=$(skiff_run cpucheck 300 "extra=\"runs=20 n=50000 mode=$mode\"")
    check_eq "cpucheck mode=$mode powers off" poweroff "$reason"
    check_console cpucheck "cpucheck: mode $mode: 0 of 20 runs differed" "cpucheck mode=$mode: every run computed the same"
done
