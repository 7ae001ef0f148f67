#!/usr/bin/env bash
# Boots Xen + a Debian dom0 in QEMU (TCG) and runs rig test cases (tests/xen/*.sh) or one guest in it.
#
# Usage:
#   tests/rig/run.sh [--timeout SECS] [--forward HOSTPORT:DOM0PORT]... [CASE...]
#       run tests/xen/CASE.sh (all of tests/xen/*.sh if none given) in one boot; exit 0 only if all pass
#       (a CASE given as a path, e.g. /tmp/x.sh, is shipped into the boot too)
#   tests/rig/run.sh [--timeout SECS] [--forward HOSTPORT:DOM0PORT]... [--ship FILE]... [--xl KEY=VALUE]... --run NAME
#       boot, xl create xl-configs/NAME.cfg, show its console live until it ends, power off; --ship puts
#       FILE in dom0 as run/<its name> (relative to where xl runs), --xl overrides a line of the config
#       (e.g. --ship my-server --xl 'ramdisk="run/my-server"')
#   tests/rig/run.sh --shell      boot to an interactive dom0 shell (QEMU: Ctrl-A x quits)
# --stall SECS (240): in test mode a boot with no serial output for that long counts as hung, and a hung
#   boot is booted again up to --retries N times (1), as is one whose emulated machine reset (QEMU runs
#   with -no-reboot, so it quits); --timeout SECS (900) bounds each boot. A case that
#   fails after a guest triple-faulted in a state the emulated SVM leaves when it loses guest state (see
#   emulator_fault in dom0-init.sh) is run again in the same boot, at most twice; the summary says so and
#   judges the last attempt.
# --forward: dom0 gets a NIC (e1000, 10.0.2.15/24 via 10.0.2.2, QEMU user net with restrict=on) and
#   host 127.0.0.1:HOSTPORT is forwarded to dom0 port DOM0PORT.
# Environment: SKIFF_CACHE (cache root, default <repo>/.cache), SKIFF_IMAGES (default
#   <repo>/target/images), SKIFF_XL_CONFIGS (default <repo>/xl-configs), RIG_CASE_TIMEOUT (600),
#   SOAK_CYCLES (for tests/xen/soak.sh),
#   RIG_TSC_MODE (tsc_mode every guest is created with, default native; empty: the xl config's),
#   RIG_ACCEL (QEMU -accel value, default tcg), RIG_XEN_ARGS and RIG_DOM0_ARGS (appended to Xen's and
#   to dom0's command line, e.g. RIG_DOM0_ARGS="init_on_free=1 slub_debug=FZPU" when hunting corruption;
#   no commas: QEMU's -initrd splits its module list on them).
# Serial log: target/rig/<timestamp>.log. Tests and --shell show it on stdout as it comes; --run shows
#   progress lines and the guest's console only (RIG_VERBOSE=1: everything).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
images=${SKIFF_IMAGES:-$repo/target/images}
configs=${SKIFF_XL_CONFIGS:-$repo/xl-configs}
cache=${SKIFF_CACHE:-$repo/.cache}/rig

die() { printf 'rig: error: %s\n' "$*" >&2; exit 2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print } /^set /{ exit }' "$0"; exit 2; }

timeout=900 stall=240 retries=1 mode=tests run_name="" forwards=() ships=() xl_args=()
cases=() extra_cases=()
while [ $# -gt 0 ]; do
    case $1 in
        --timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
        --timeout=*) timeout=${1#*=}; shift ;;
        --stall) [ $# -ge 2 ] || usage; stall=$2; shift 2 ;;
        --retries) [ $# -ge 2 ] || usage; retries=$2; shift 2 ;;
        --run) [ $# -ge 2 ] || usage; mode=run run_name=$2; shift 2 ;;
        --run=*) mode=run run_name=${1#*=}; shift ;;
        --shell) mode=shell; shift ;;
        --ship) [ $# -ge 2 ] || usage; [ -f "$2" ] || die "--ship: no file $2"; ships+=("$2"); shift 2 ;;
        --xl) [ $# -ge 2 ] || usage; [[ $2 == *=* ]] || die "--xl wants KEY=VALUE, got '$2'"
              xl_args+=("$2"); shift 2 ;;
        --forward) [ $# -ge 2 ] || usage; forwards+=("$2"); shift 2 ;;
        --forward=*) forwards+=("${1#*=}"); shift ;;
        -h | --help) usage ;;
        -*) die "unknown option $1 (see --help)" ;;
        */*) [ -f "$1" ] || die "no test case file $1"
             extra_cases+=("$(readlink -f "$1")"); cases+=("$(basename "$1" .sh)"); shift ;;
        *) cases+=("${1%.sh}"); shift ;;
    esac
done
for v in "$timeout" "$stall" "$retries"; do
    [[ $v =~ ^[0-9]+$ ]] || die "--timeout, --stall and --retries want a number, got '$v'"
done
for f in "${forwards[@]}"; do
    [[ $f =~ ^[0-9]+:[0-9]+$ ]] || die "--forward wants HOSTPORT:DOM0PORT, got '$f'"
done

if [ "$mode" = tests ]; then
    if [ "${#cases[@]}" -eq 0 ]; then
        for f in "$repo"/tests/xen/*.sh; do [ -e "$f" ] && cases+=("$(basename "$f" .sh)"); done
        [ "${#cases[@]}" -gt 0 ] || die "no test cases in tests/xen/"
    fi
    for c in "${cases[@]}"; do
        [ -f "$repo/tests/xen/$c.sh" ] || [[ " ${extra_cases[*]} " == *"/$c.sh "* ]] \
            || die "no test case tests/xen/$c.sh"
    done
fi
if [ "$mode" != shell ]; then
    compgen -G "$images/*.elf" >/dev/null || die "no images in ${images#"$repo"/}; run make images"
fi
if [ "$mode" = run ]; then
    [ -f "$images/$run_name.elf" ] || die "no image ${images#"$repo"/}/$run_name.elf; run make images"
    [ -f "$configs/$run_name.cfg" ] || die "no xl config ${configs#"$repo"/}/$run_name.cfg"
fi

quiet=0
[ "$mode" != run ] || [ "${RIG_VERBOSE:-0}" = 1 ] || quiet=1
PREPARE_QUIET=$quiet "$here/prepare.sh" >/dev/null || die "preparing the rig failed"
base=$cache/current
for f in xen.bin vmlinuz base.cpio.gz; do
    [ -s "$base/$f" ] || die "prepare.sh left no $base/$f"
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/skiff-rig.XXXXXX")
qpid=""
cleanup() {
    [ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
    rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The per-run archive, appended to the cached base (Linux unpacks concatenated cpio archives in order).
root=$stage/root
mkdir -p "$root/skiff/target/images" "$root/skiff/xl-configs" "$root/skiff/tests/xen" "$root/skiff/tests/rig"
compgen -G "$images/*.elf" >/dev/null && cp "$images"/*.elf "$root/skiff/target/images/"
# Text symbols per image, for xenctx when a guest hangs or crashes (lib.sh).
for f in "$root"/skiff/target/images/*.elf; do
    [ -e "$f" ] || continue
    nm "$f" 2>/dev/null | awk '$2 ~ /^[TtWw]$/' | sort >"${f%.elf}.map" || true
done
compgen -G "$configs/*.cfg" >/dev/null && cp "$configs"/*.cfg "$root/skiff/xl-configs/"
# The Linux programs the linux image runs as ramdisk= (tests/apps, `make apps`).
if compgen -G "$repo/target/apps/*" >/dev/null; then
    mkdir -p "$root/skiff/target/apps"
    cp "$repo"/target/apps/* "$root/skiff/target/apps/"
fi
cp -r "$repo"/tests/xen/. "$root/skiff/tests/xen/"
if [ "${#ships[@]}" -gt 0 ] || [ "${#xl_args[@]}" -gt 0 ]; then
    mkdir -p "$root/skiff/run"
    for f in "${ships[@]}"; do cp "$f" "$root/skiff/run/"; done
    for a in "${xl_args[@]}"; do printf '%s\n' "$a"; done >"$root/skiff/run/xl.args"
fi
for f in "${extra_cases[@]}"; do cp "$f" "$root/skiff/tests/xen/"; done
cp "$here/lib.sh" "$root/skiff/tests/rig/lib.sh"
cp "$here/dom0-init.sh" "$root/init"
chmod 755 "$root/init"
{
    echo "RIG_MODE=$mode"
    echo "RIG_CASES=\"${cases[*]}\""
    echo "RIG_RUN_NAME=$run_name"
    echo "RIG_NET=$([ "${#forwards[@]}" -gt 0 ] && echo 1 || echo 0)"
    echo "RIG_CASE_TIMEOUT=${RIG_CASE_TIMEOUT:-600}"
    echo "RIG_TSC_MODE=${RIG_TSC_MODE-native}"
    # Read by the soak case (tests/xen/soak.sh).
    [ -z "${SOAK_CYCLES:-}" ] || echo "export SOAK_CYCLES=$SOAK_CYCLES"
} >"$root/skiff/rig.env"
find "$root" -type d -exec chmod 755 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$stage/run.cpio.gz"
cat "$base/base.cpio.gz" "$stage/run.cpio.gz" >"$stage/initrd.gz"
ln -s "$(readlink -f "$base/vmlinuz")" "$stage/vmlinuz"

net=(-nic none)
if [ "${#forwards[@]}" -gt 0 ]; then
    opts="user,id=net0,restrict=on"
    for f in "${forwards[@]}"; do opts+=",hostfwd=tcp:127.0.0.1:${f%%:*}-:${f##*:}"; done
    net=(-netdev "$opts" -device "e1000,netdev=net0")
fi
# spec-ctrl=eager-fpu: Xen's default on this (AMD) CPU model is lazy FPU switching, and with it, under
# QEMU 7.2's TCG, dom0 processes see data change under them while guests run: 29 of 160 concurrent
# downloads from httpd compared wrong in dom0 (the guest's bytes were right; a dom0 `bytes` object
# hashed differently from one pass to the next, and held pointers or byte-swapped words), 0 of 160
# with eager switching. That fits SIMD registers restored wrongly. RIG_XEN_ARGS comes last on the
# line, so "spec-ctrl=eager-fpu=0" there brings the lazy mode back.
xen_args="console=com1 com1=115200 dom0_mem=1536M,max:1536M loglvl=all guest_loglvl=all noreboot"
xen_args+=" console_timestamps=boot spec-ctrl=eager-fpu${RIG_XEN_ARGS:+ $RIG_XEN_ARGS}"
qemu=(qemu-system-x86_64 -accel "${RIG_ACCEL:-tcg}" -cpu "EPYC,+svm,+npt,-monitor,-smap,-rdtscp,-tsc-deadline" -m 3072 -smp 2
    -nographic -no-reboot "${net[@]}"
    -kernel "$(readlink -f "$base/xen.bin")"
    -append "$xen_args"
    -initrd "$stage/vmlinuz console=hvc0${RIG_DOM0_ARGS:+ $RIG_DOM0_ARGS},$stage/initrd.gz")

logdir=$repo/target/rig
mkdir -p "$logdir"
log=$logdir/$(date +%Y%m%d-%H%M%S).log
[ ! -e "$log" ] || log=${log%.log}-$$.log
ln -sfn "$(basename "$log")" "$logdir/last.log"
[ "$quiet" = 1 ] ||
    echo "rig: mode=$mode ${cases[*]:+cases: ${cases[*]} }${run_name:+guest: $run_name }timeout=${timeout}s log=${log#"$repo"/}" >&2
for f in "${forwards[@]}"; do echo "rig: forwarding 127.0.0.1:${f%%:*} -> dom0 port ${f##*:}" >&2; done

if [ "$mode" = shell ]; then
    "${qemu[@]}" 2>&1 | tee "$log"
    exit 0
fi

# monitor_dump: append each QEMU vCPU's RIP (from the monitor socket) to the log, to tell where a hang sits.
monitor_dump() {
    command -v python3 >/dev/null || return 0
    python3 - "$stage/monitor.sock" >>"$log" 2>&1 <<'PY' || true
import re, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(b"info registers -a\n"); time.sleep(2); data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk: break
        data += chunk
except OSError: pass
for line in data.decode(errors="replace").splitlines():
    if re.match(r"(CPU#|RIP=|CS =|CR0=)", line.strip()): print("rig-monitor: " + line.strip())
PY
}

# run_view: what --run shows of the serial log: a few progress lines, then the guest's console (the
# lines dom0 tags RIG-GUEST|), then how the guest ended.
run_view() {
    local t0=$SECONDS line
    echo "rig: booting Xen and a Debian dom0 in QEMU (software emulation; full log: ${log#"$repo"/}," \
        "RIG_VERBOSE=1 shows it here)"
    while IFS= read -r line; do
        line=${line%$'\r'}
        case $line in
            "RIG-GUEST| "*) printf '%s\n' "${line#RIG-GUEST| }" ;;
            "dom0-init: xen services up"*) echo "rig: Xen and dom0 up after $((SECONDS - t0)) s" ;;
            "RIG-RUN-START "*) echo "rig: xl create xl-configs/${line#RIG-RUN-START }.cfg; the guest's console:" ;;
            "RIG-RUN-END "*) echo "rig: the guest ended (${line#* reason=}); powering off" ;;
            *"Kernel panic"* | *"Panic on CPU"*) echo "rig: $line" ;;
        esac
    done
}

# boot: run QEMU once with its serial output in $log (and on stdout); sets $verdict.
boot() {
    local start=$SECONDS size=-1 quiet_since=$SECONDS n done_at=0 tpid
    "${qemu[@]}" -monitor "unix:$stage/monitor.sock,server=on,wait=off" </dev/null >"$log" 2>&1 &
    qpid=$!
    if [ "$mode" = run ] && [ "${RIG_VERBOSE:-0}" != 1 ]; then
        tail -n +1 -F --pid="$qpid" "$log" 2>/dev/null | run_view &
    else
        tail -n +1 -F --pid="$qpid" "$log" 2>/dev/null &
    fi
    tpid=$!
    verdict=""
    while kill -0 "$qpid" 2>/dev/null; do
        sleep 1
        n=$(stat -c %s "$log")
        if [ "$n" != "$size" ]; then size=$n quiet_since=$SECONDS; fi
        if [ $((SECONDS - start)) -ge "$timeout" ]; then
            verdict="timed out after ${timeout}s"
            break
        fi
        if [ "$mode" = tests ] && [ $((SECONDS - quiet_since)) -ge "$stall" ]; then
            verdict="hung: no serial output for ${stall}s"
            monitor_dump
            break
        fi
        if grep -qE 'Panic on CPU|Kernel panic - not syncing' "$log"; then
            sleep 3
            verdict="panic"
            break
        fi
        if [ -z "$verdict" ] && grep -q '^RIG-DONE' "$log"; then
            verdict="done"
            done_at=$SECONDS
        fi
        if [ "$verdict" = "done" ] && [ $((SECONDS - done_at)) -ge 30 ]; then
            verdict="did not power off"
            break
        fi
    done
    if kill -0 "$qpid" 2>/dev/null; then
        kill "$qpid" 2>/dev/null || true
        sleep 1
        kill -9 "$qpid" 2>/dev/null || true
    fi
    local rc=0
    wait "$qpid" 2>/dev/null || rc=$?
    # QEMU ended by itself: dom0 powered off after its job (perhaps within the last second), or,
    # before dom0 was done, the emulated machine reset (a triple fault outside any guest, or Xen
    # rebooting) and with -no-reboot QEMU quit without a word.
    if [ -z "$verdict" ]; then
        if grep -q '^RIG-DONE' "$log"; then
            verdict="done"
        else
            verdict="reset: QEMU exited (status $rc) before dom0 finished"
        fi
    fi
    qpid=""
    wait "$tpid" 2>/dev/null || true
    elapsed=$((SECONDS - start))
}

attempt=0
while :; do
    boot
    if [[ $verdict != hung* && $verdict != reset* ]] || [ "$attempt" -ge "$retries" ]; then break; fi
    attempt=$((attempt + 1))
    echo "rig: boot $verdict; booting again ($attempt/$retries) — that boot's log kept in ${log#"$repo"/}" >&2
    log=${log%.log}-retry$attempt.log
    ln -sfn "$(basename "$log")" "$logdir/last.log"
done

clean=$stage/serial.txt
tr -d '\r' <"$log" >"$clean"
problems=()
case $verdict in "" | done) ;; *) problems+=("QEMU: $verdict") ;; esac
grep -q '^RIG-DONE' "$clean" || problems+=("no RIG-DONE: dom0 did not finish its job")

if [ "$mode" = run ]; then
    reason=$(sed -n "s/^RIG-RUN-END $run_name reason=//p" "$clean" | tail -n 1)
    echo "rig: guest $run_name ended: ${reason:-unknown} (${elapsed}s, log ${log#"$repo"/})"
    for p in "${problems[@]}"; do echo "rig: $p"; done
    [ "${#problems[@]}" -eq 0 ] && [ -n "$reason" ]
    exit
fi

npass=0 nfail=0
echo
echo "rig: ===== summary (${elapsed}s, log ${log#"$repo"/}) ====="
# The serial log from a case's last RIG-CASE-START on: a case run again after an emulator fault
# (RIG-CASE-RETRY, see dom0-init.sh) is judged by its last attempt only.
last_attempt() {
    awk -v start="RIG-CASE-START $1" '$0 == start { n = 0 } { buf[++n] = $0 }
        END { for (i = 1; i <= n; i++) print buf[i] }' "$clean"
}
# What a failed case left in its last attempt (from its RIG-CASE-START to its RIG-CASE-END), for a
# summary read without the log (a CI page shows the end of the output): each failed check with its
# first detail lines, and for a guest that had to be destroyed, where its vCPU was (xenctx) and the
# end of its console.
case_diagnostics() {
    awk -v c="$1" '
        function out(l) { if (n++ < 60) print "rig:     " l }
        $0 == "RIG-CASE-START " c { on = 1; next }
        !on { next }
        # Reads on to the end rather than exit: an early exit would kill the writer of the pipe
        # (SIGPIPE), which under pipefail ends this script before the rest of the summary.
        index($0, "RIG-CASE-END " c " ") == 1 { on = 0; next }
        (i = index($0, "RIG-CHECK FAIL " c ":")) > 0 { out(substr($0, i)); details = 6; next }
        details > 0 && /^    \| / { out($0); details--; next }
        { details = 0 }
        index($0, "rig[" c "]: ") == 1 && /still running|did not|failed|destroying/ {
            out($0)
            if (/still running/) { ctx = 1; trace = 0 }
            next
        }
        /^----- xenctx of / { out($0); ctx = 1; trace = 0; next }
        ctx && /^rip: / { out("| " $0); next }
        ctx && /^Call Trace:/ { trace = 6; next }
        ctx && trace > 0 && NF { out("| " $0); trace--; next }
        ctx && /^----- console of / { ctx = 0; incons = 1; nc = 0; next }
        incons && /^----- end of console/ {
            for (i = (nc > 8 ? nc - 7 : 1); i <= nc; i++) out("| console: " cons[i])
            incons = 0; next
        }
        incons { cons[++nc] = $0 }
    '
}
failed_cases=()
for c in "${cases[@]}"; do
    attempt=$(last_attempt "$c")
    end=$(grep -E "^RIG-CASE-END $c rc=" <<<"$attempt" | tail -n 1 || true)
    fails=$(grep -cE "RIG-CHECK FAIL $c:" <<<"$attempt" || true)
    passes=$(grep -cE "RIG-CHECK PASS $c:" <<<"$attempt" || true)
    retried=$(grep -cE "^RIG-CASE-RETRY $c:" "$clean" || true)
    if [ -z "$end" ]; then
        status="FAIL (no result)"
    elif [ "${end##*rc=}" != 0 ] || [ "$fails" -gt 0 ]; then
        status="FAIL (rc=${end##*rc=}, $passes checks passed, $fails failed)"
    elif [ "$passes" -eq 0 ]; then
        status="FAIL (no check ran)"
    else
        status="PASS ($passes checks)"
    fi
    case $retried in
        0) ;;
        1) status+=" after a retry: the first attempt met an emulator fault" ;;
        *) status+=" after $retried retries: each earlier attempt met an emulator fault" ;;
    esac
    echo "rig: case $c: $status"
    if [[ $status == PASS* ]]; then npass=$((npass + 1)); else nfail=$((nfail + 1)); failed_cases+=("$c"); fi
done
for c in "${failed_cases[@]}"; do last_attempt "$c" | case_diagnostics "$c"; done
for p in "${problems[@]}"; do
    echo "rig: $p"
done
[ "${#problems[@]}" -eq 0 ] || [ "$nfail" -gt 0 ] || nfail=1
echo "rig: $npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
