#!/bin/bash
# Rig case: the linux image runs static Linux programs given as ramdisk= (tests/apps, `make apps`):
# threads with Mutex/Condvar/mpsc, exit statuses, ENOSYS with a console line, every loader refusal
# with its message and exit status, and a program embedded in the image (`make image`).
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
here=$(dirname "$0")
cfgs=$SKIFF_ROOT/xl-configs

# run_app NAME EXTRA [SECS]: boots the linux image on target/apps/NAME with extra=EXTRA; prints the reason.
run_app() {
    skiff_run linux "${3:-180}" "ramdisk=\"target/apps/$1\"" "extra=\"$2\""
}

reason=$(run_app threads "-- threads")
check_eq "threads powers off (exit status 0)" poweroff "$reason"
check "threads: every line as its threads were asked" python3 "$here/apps.py" threads "$(skiff_console_file linux)"
check_console linux 'skiff: exit code 0' "threads: console shows exit code 0"

reason=$(run_app threads "-- threads 3")
check_eq "threads 3 crashes the domain (exit status 3)" crash "$reason"
check "threads 3: its lines, then status 3" python3 "$here/apps.py" threads "$(skiff_console_file linux)" --status 3
check_console linux 'skiff: exit code 3' "threads 3: console shows exit code 3"

reason=$(run_app nosys "-- nosys")
check_eq "nosys powers off: every unknown call returned ENOSYS" poweroff "$reason"
check "nosys: its three lines" python3 "$here/apps.py" nosys "$(skiff_console_file linux)"
check_console linux 'skiff: unimplemented syscall 184 \(tuxcall\): ENOSYS' "nosys: console names syscall 184"
check_console linux 'skiff: unknown syscall 1000: ENOSYS' "nosys: console names syscall 1000"

# Faults: std's stack-overflow guard runs on its alternate signal stack; a wild pointer ends the
# program with the faulting address (the kernel's own memory is out of its reach).
reason=$(run_app faults "-- faults overflow")
check_eq "stack overflow crashes the domain" crash "$reason"
check_console linux "has overflowed its stack" "stack overflow: std's handler ran (on the alternate stack) and said so"
check_console linux 'killed by SIGABRT \(6\)' "stack overflow: then it aborted (SIGABRT)"
check_console linux "skiff: exit code 134([^0-9]|$)" "stack overflow: exit code 134 (128 + SIGABRT)"
reason=$(run_app faults "-- faults null")
check_eq "null read crashes the domain" crash "$reason"
check_console linux 'killed by SIGSEGV \(11\) \(thread 1\): read at address 0x0 \(not allowed there\)' \
    "null read: SIGSEGV with the address"
check_console linux "skiff: exit code 139([^0-9]|$)" "null read: exit code 139"
reason=$(run_app faults "-- faults kernel 100000")
check_eq "a write into the kernel crashes the domain" crash "$reason"
check_console linux 'killed by SIGSEGV \(11\) \(thread 1\): write at address 0x100000 \(not allowed there\)' \
    "write into the kernel: SIGSEGV with the address"
check_no_console linux 'wrote to 0x100000' "write into the kernel: never happened"

# Bad inputs: a message naming the problem, and the loader's exit status.
refused() { # APP STATUS PATTERN WHAT
    reason=$(run_app "$1" "" 60)
    check_eq "$4: crashes the domain" crash "$reason"
    check_console linux "$3" "$4: console says why"
    check_console linux "skiff: exit code $2([^0-9]|$)" "$4: exit code $2"
    check_no_console linux 'CPU exception|FATAL' "$4: no CPU fault"
}
refused not-elf 126 'cannot run the program: the program is not an ELF file' "not-elf"
refused dynamic-hello 124 'dynamically linked \(interpreter /lib64/ld-linux-x86-64.so.2\): build it static' "dynamic ELF"
refused wrong-machine 125 'built for machine 183, not x86_64' "AArch64 ELF"

# No program at all: the same config without ramdisk=.
sed '/^ramdisk/d; s/^name = .*/name = "linux-noprog"/' "$cfgs/linux.cfg" >"$cfgs/linux-noprog.cfg"
reason=$(skiff_run linux-noprog 60)
check_eq "no ramdisk=: crashes the domain" crash "$reason"
check_console linux-noprog 'cannot run the program: no program: give a static x86_64 Linux binary as ramdisk=' \
    "no ramdisk=: console says what to do"
check_console linux-noprog "skiff: exit code 127([^0-9]|$)" "no ramdisk=: exit code 127"

# A program embedded in the image (make image BIN=target/apps/nosys NAME=nosys-embedded).
sed '/^ramdisk/d; s/^name = .*/name = "nosys-embedded"/; s|^kernel = .*|kernel = "target/images/nosys-embedded.elf"|' \
    "$cfgs/linux.cfg" >"$cfgs/nosys-embedded.cfg"
reason=$(skiff_run nosys-embedded 120 'extra="-- nosys"')
check_eq "embedded nosys powers off" poweroff "$reason"
check "embedded nosys: its three lines" python3 "$here/apps.py" nosys "$(skiff_console_file nosys-embedded)"
