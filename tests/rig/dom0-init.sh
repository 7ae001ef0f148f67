#!/bin/bash
# Dom0 /init of the rig: starts Xen's dom0 services, runs the job in /skiff/rig.env, then powers off.
# It must never exit (an exiting init panics dom0); a hung job is ended by run.sh's QEMU timeout.
# shellcheck disable=SC1091
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=${TERM:-linux} LANG=C.UTF-8
XENBIN=/usr/lib/xen-4.17/bin
for d in /usr/lib/xen-*/bin; do [ -x "$d/xl" ] && XENBIN=$d; done

say() { echo "dom0-init: $*"; }

power_off() {
    say "powering off"
    echo "RIG-DONE"
    sync
    echo o >/proc/sysrq-trigger
    while :; do sleep 60; done
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
say "dom0 userspace up at $(cut -d' ' -f1 /proc/uptime)s"

RIG_MODE=tests RIG_CASES="" RIG_RUN_NAME="" RIG_NET=0 RIG_CASE_TIMEOUT=600 RIG_TSC_MODE=native
[ -r /skiff/rig.env ] && . /skiff/rig.env
export RIG_TSC_MODE # read by skiff_create in lib.sh

for m in pvcalls-back xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs; do
    modprobe "$m" 2>/dev/null || [ -d "/sys/module/${m//-/_}" ] || say "modprobe $m failed"
done
mount -t xenfs xenfs /proc/xen
mkdir -p /var/lib/xen /var/log/xen/console /run/xen /var/lib/xenstored /var/run
ip link set lo up
hostname dom0

if [ "$RIG_NET" = 1 ]; then
    modprobe e1000 2>/dev/null || true
    nic=""
    for _ in $(seq 50); do
        for d in /sys/class/net/*; do
            [ "${d##*/}" = lo ] || [ ! -e "$d" ] || { nic=${d##*/}; break; }
        done
        [ -n "$nic" ] && break
        sleep 0.1
    done
    if [ -n "$nic" ]; then
        ip addr add 10.0.2.15/24 dev "$nic"
        ip link set "$nic" up
        ip route add default via 10.0.2.2
        say "network: $nic 10.0.2.15/24 via 10.0.2.2"
    else
        say "network: no NIC found"
    fi
fi

"$XENBIN/xenstored" --pid-file /run/xenstored.pid
for _ in $(seq 100); do
    xenstore-ls / >/dev/null 2>&1 && break
    sleep 0.1
done
"$XENBIN/xen-init-dom0" >/dev/null
"$XENBIN/xenconsoled" --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
say "xen services up at $(cut -d' ' -f1 /proc/uptime)s"
if lsmod | grep -q '^pvcalls_back '; then say "pvcalls-back loaded"; else say "pvcalls-back NOT loaded"; fi
xl info | grep -E '^(xen_version|xen_caps|nr_cpus|free_memory)' | sed 's/^/dom0-init: /'

# A task blocked this long is reported by dom0's hung-task watchdog (and fails the case, see below).
echo 30 >/proc/sys/kernel/hung_task_timeout_secs 2>/dev/null

# dom0_health CASE: prints a failed check for each report of dom0's watchdogs and kernel warnings since
# the case's marker in the kernel log (a blocked task, a soft lockup, an RCU stall, a WARN, an oops):
# a guest, or its clients, must never be able to wedge dom0. Returns 1 if there was one.
dom0_health() {
    local lines
    lines=$(dmesg | awk -v m="rig: case $1 starts" 'index($0, m) { n = 0; next } { buf[++n] = $0 }
        END { for (i = 1; i <= n; i++) print buf[i] }' |
        grep -E 'blocked for more than|soft lockup|rcu.*(stall|detected stalls)|WARNING: CPU|BUG:|Oops|general protection' |
        head -n 5)
    [ -n "$lines" ] || return 0
    while IFS= read -r l; do echo "RIG-CHECK FAIL $1: dom0 kernel reports: $l"; done <<<"$lines"
    return 1
}

cd /skiff || power_off
case $RIG_MODE in
    run)
        (
            . /skiff/tests/rig/lib.sh
            trap - EXIT
            export RIG_CASE=run
            f=$(skiff_console_file "$RIG_RUN_NAME")
            # xl config overrides from run.sh --xl, one per line.
            xl_args=()
            if [ -f /skiff/run/xl.args ]; then
                while IFS= read -r a; do xl_args+=("$a"); done </skiff/run/xl.args
            fi
            skiff_create "$RIG_RUN_NAME" "${xl_args[@]}" || exit 1
            echo "RIG-RUN-START $RIG_RUN_NAME"
            # Tagged, so the host shows the guest's console apart from dom0's and Xen's messages.
            tail -F -n +1 "$f" 2>/dev/null | sed -u 's/^/RIG-GUEST| /' &
            tailpid=$!
            reason=$(skiff_shutdown_reason "$RIG_RUN_NAME" 2000000000 2>/dev/null)
            sleep 0.5
            kill "$tailpid" 2>/dev/null
            echo
            echo "RIG-RUN-END $RIG_RUN_NAME reason=$reason"
        )
        ;;
    tests)
        # emulator_fault: prints how, if Xen logged a guest triple fault with one of the two saved
        # states seen when the emulated SVM loses guest state (also in cpucheck's trivial hypercall
        # loop): Xen's own CS (e008), or the guest's RIP on the RET that follows VMMCALL in a stub of
        # its hypercall page (32-byte stubs: mov $n,%eax; vmmcall; ret, so the RET is at +8).
        emulator_fault() {
            local dump rip a base
            dump=$(xl dmesg 2>/dev/null | grep -A4 '^(XEN).*Triple fault')
            if grep -q '^(XEN).*RIP: *e008:' <<<"$dump"; then
                echo "with Xen's CS:RIP in its saved state"
                return 0
            fi
            for rip in $(sed -n 's/^(XEN).*RIP: *0008:\[<\([0-9a-f]*\)>\].*/\1/p' <<<"$dump"); do
                a=$((16#$rip))
                for base in $(awk '$3 == "skiff_hypercall_page" { print $1 }' /skiff/target/images/*.map | sort -u); do
                    base=$((16#$base))
                    if [ "$a" -ge "$base" ] && [ "$a" -lt $((base + 4096)) ] && [ $(((a - base) % 32)) -eq 8 ]; then
                        printf 'on the RET after VMMCALL in its hypercall page (RIP %#x)\n' "$a"
                        return 0
                    fi
                done
            done
            return 1
        }
        for c in $RIG_CASES; do
            # Up to two more attempts, only after emulator faults (below).
            for attempt in 1 2 3; do
                xl dmesg -c >/dev/null 2>&1
                echo "rig: case $c starts" >/dev/kmsg
                echo "RIG-CASE-START $c"
                # timeout puts the case in a process group of its own; whatever the case leaves behind is ended.
                RIG_CASE=$c timeout -k 10 "$RIG_CASE_TIMEOUT" bash "/skiff/tests/xen/$c.sh" </dev/null &
                pid=$!
                wait "$pid"
                rc=$?
                kill -TERM -- "-$pid" 2>/dev/null
                [ "$rc" -ne 124 ] || echo "RIG-CHECK FAIL $c: case timed out after $RIG_CASE_TIMEOUT s"
                dom0_health "$c" || rc=1
                for d in $(xl list 2>/dev/null | awk 'NR > 1 && $2 != 0 { print $1 }'); do
                    say "destroying leftover domain $d"
                    xl destroy "$d" 2>/dev/null
                done
                # A failed case whose guest triple-faulted in a state the emulated SVM leaves when it loses
                # guest state (README, Known problems) met the emulator, not a Skiff bug: run it again, at
                # most twice. run.sh then counts only the last attempt and says how often it retried.
                if [ "$rc" -ne 0 ] && [ "$attempt" -lt 3 ] && why=$(emulator_fault); then
                    echo "RIG-CASE-RETRY $c: a guest triple-faulted $why" \
                        "(the emulated SVM lost guest state); running the case again"
                    continue
                fi
                break
            done
            echo "RIG-CASE-END $c rc=$rc"
        done
        ;;
    shell)
        say "shell (exit to power off)"
        setsid -c bash -i </dev/console >/dev/console 2>&1
        ;;
    *) say "unknown RIG_MODE '$RIG_MODE'" ;;
esac
power_off
