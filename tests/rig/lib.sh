# Helpers that rig test cases (tests/xen/*.sh) source inside dom0: start guests, read consoles, report checks.
# shellcheck shell=bash
#
# Guests:
#   skiff_create NAME [key=value...]      xl create /skiff/xl-configs/NAME.cfg (with overrides); returns once
#                                         the domain exists, with "xl create -F" left watching it. Adds
#                                         tsc_mode="$RIG_TSC_MODE" (native) before the overrides: under TCG
#                                         Xen otherwise intercepts every RDTSC (about 30 us each), and each
#                                         VM exit is a chance for the emulated SVM to lose guest state.
#   skiff_wait_console NAME REGEX [SECS]  wait (default 60 s) until the guest console log matches REGEX (grep -E).
#   skiff_shutdown_reason NAME [SECS]     wait (default 60 s) for a domain started by skiff_create to shut
#                                         down; prints the reason word (see below), dumps its console on stderr.
#   skiff_run NAME [SECS] [key=value...]  skiff_create + skiff_shutdown_reason (default 120 s; on_reboot is
#                                         "destroy" unless overridden), e.g. reason=$(skiff_run hello).
#   Reasons: poweroff reboot suspend crash watchdog soft_reset (Xen's SHUTDOWN_* codes, as read from xl),
#   destroyed (domain vanished without shutting down), timeout (domain destroyed by the rig), error.
#   skiff_console NAME                    print the console log framed by markers (stdout).
#   skiff_console_file NAME               path of the console log.
# dom0 peers:
#   skiff_wait_serving LOG [SECS]         wait (default 10 s) until a tests/xen/peers.py server started
#                                         with output to LOG says "ok serving"; fails otherwise.
#   first_connect_watch HOST PORT SECS    start a poller (peers.py firstconnect) trying HOST:PORT every
#                                         10 ms for up to SECS; returns once it is ready
#   first_connect_secs T0 [NAME]          wait for that poller; set fc_secs to the seconds from T0 (an
#                                         $EPOCHREALTIME) to its first connection; fails if it gave up,
#                                         or as soon as the "xl create -F" watching domain NAME ends.
#                                         Not in $(...): the poller is this shell's child
# Checks (one "RIG-CHECK PASS|FAIL <case>: <what>" line each; a case with a failed check, or with no
# check at all, fails):
#   pass WHAT / fail WHAT
#   check WHAT CMD...                     pass if CMD succeeds (its output is shown on failure)
#   check_eq WHAT EXPECTED ACTUAL
#   check_console NAME REGEX [WHAT]       console log of NAME matches REGEX
#   check_no_console NAME REGEX [WHAT]    console log of NAME does not match REGEX
# Benchmarks (make bench; tests/bench/*.sh):
#   bench KEY VALUE UNIT                  one "BENCH KEY VALUE UNIT" line for tests/bench/run.sh
#   measure KEY CMD...                    run a peers.py/apps.py client; its "ok ... rate=X MB/s" as BENCH
#                                         KEY (a check passes), or a failed check with its output
#   secs T0 T1                            T1 - T0 in seconds, two decimals (times as $EPOCHREALTIME gives them)

RIG_CASE=${RIG_CASE:-$(basename "$0" .sh)}
SKIFF_ROOT=${SKIFF_ROOT:-/skiff}
SKIFF_CONSOLE_DIR=${SKIFF_CONSOLE_DIR:-/var/log/xen/console}
RIG_TMP=${RIG_TMP:-/tmp/rig}
RIG_PASSES=0
RIG_FAILS=0
mkdir -p "$RIG_TMP"

_rig_log() { printf 'rig[%s]: %s\n' "$RIG_CASE" "$*" >&2; }

pass() {
    RIG_PASSES=$((RIG_PASSES + 1))
    echo "RIG-CHECK PASS $RIG_CASE: $*"
}

fail() {
    RIG_FAILS=$((RIG_FAILS + 1))
    echo "RIG-CHECK FAIL $RIG_CASE: $*"
}

check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        pass "$what"
    else
        fail "$what"
        [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/    | /'
    fi
    return 0
}

# skiff_dom0_blocked: prints dom0's blocked (D state) tasks with their kernel stacks (sysrq w), to show
# where a backend that stopped answering sits.
skiff_dom0_blocked() {
    local before
    before=$(dmesg | wc -l)
    echo w >/proc/sysrq-trigger 2>/dev/null || return 0
    sleep 1
    dmesg | tail -n +"$((before + 1))" | sed 's/^/    dom0| /'
}

check_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (expected '$2', got '$3')"; fi
    return 0
}

bench() { echo "BENCH $*"; }
secs() { awk -v a="$2" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

measure() {
    local key=$1 out
    shift
    if out=$("$@" 2>&1) && [[ $out == ok* ]]; then
        bench "$key" "$(sed -n 's/.*rate=\([0-9.]*\)MB\/s.*/\1/p' <<<"$out")" MB/s
        pass "$key: $out"
    else
        fail "$key: $out"
    fi
    return 0
}

skiff_console_file() { echo "$SKIFF_CONSOLE_DIR/guest-$1.log"; }

check_console() {
    local f
    f=$(skiff_console_file "$1")
    if grep -qE -- "$2" "$f" 2>/dev/null; then pass "${3:-console of $1 matches /$2/}"; else fail "${3:-console of $1 matches /$2/}"; fi
    return 0
}

check_no_console() {
    local f
    f=$(skiff_console_file "$1")
    if grep -qE -- "$2" "$f" 2>/dev/null; then fail "${3:-console of $1 has no /$2/}"; else pass "${3:-console of $1 has no /$2/}"; fi
    return 0
}

skiff_console() {
    local f
    f=$(skiff_console_file "$1")
    echo "----- console of $1 ($f) -----"
    if [ -f "$f" ]; then tr -d '\r' <"$f"; else echo "(no console log)"; fi
    echo "----- end of console of $1 -----"
}

_skiff_domain_exists() { xl domid "$1" >/dev/null 2>&1; }

# _skiff_monitor_alive NAME: the "xl create -F" watching NAME still runs.
_skiff_monitor_alive() {
    local pid
    { read -r pid <"$RIG_TMP/$1.pid"; } 2>/dev/null || return 1
    kill -0 "$pid" 2>/dev/null
}

skiff_create() {
    local name=$1 cfg i f out created='Waiting for domain [^ ]+ \(domid ([0-9]+)\)'
    shift
    cfg=$SKIFF_ROOT/xl-configs/$name.cfg
    if [ ! -f "$cfg" ]; then
        _rig_log "no xl config $cfg"
        return 1
    fi
    if _skiff_domain_exists "$name"; then
        _rig_log "domain $name already exists; destroying it"
        xl destroy "$name" >/dev/null 2>&1 || true
    fi
    # Keep earlier console logs of the same name apart from this run's.
    f=$(skiff_console_file "$name")
    if [ -e "$f" ]; then
        i=1
        while [ -e "$f.$i" ]; do i=$((i + 1)); done
        mv "$f" "$f.$i"
    fi
    local defaults=()
    [ -z "${RIG_TSC_MODE:-}" ] || defaults=("tsc_mode=\"$RIG_TSC_MODE\"")
    set -- "${defaults[@]}" "$@"
    _rig_log "xl create $cfg $*"
    # Emptied here, not only by the background job's redirection, so that the loop below never
    # reads an earlier run's output.
    : >"$RIG_TMP/$name.xl"
    (cd "$SKIFF_ROOT" && exec xl create -F "xl-configs/$name.cfg" "$@") >>"$RIG_TMP/$name.xl" 2>&1 &
    echo $! >"$RIG_TMP/$name.pid"
    for ((i = 0; i < 600; i++)); do
        # "xl create -F" says "Waiting for domain NAME (domid N) to die" once the domain is built and
        # running. Read with builtins only: a fork costs tens of ms in an emulated dom0, and make
        # bench times this return ("built and running").
        out=""
        { IFS= read -r -d '' out <"$RIG_TMP/$name.xl"; } 2>/dev/null || true
        if [[ $out =~ $created ]]; then
            _rig_log "domain $name created (domid ${BASH_REMATCH[1]})"
            return 0
        fi
        if [[ $out == *"has shut down"* || $out == *"has been destroyed"* ]]; then
            _rig_log "domain $name created, and has already ended"
            return 0
        fi
        if ! _skiff_monitor_alive "$name"; then
            _rig_log "xl create $name failed:"
            sed 's/^/    | /' "$RIG_TMP/$name.xl" >&2
            return 1
        fi
        sleep 0.1
    done
    _rig_log "domain $name did not appear within 60 s"
    sed 's/^/    | /' "$RIG_TMP/$name.xl" >&2
    return 1
}

skiff_wait_console() {
    local name=$1 re=$2 secs=${3:-60} f end
    f=$(skiff_console_file "$name")
    end=$((SECONDS + secs))
    while [ "$SECONDS" -lt "$end" ]; do
        grep -qE -- "$re" "$f" 2>/dev/null && return 0
        if ! _skiff_monitor_alive "$name" && ! _skiff_domain_exists "$name"; then
            sleep 0.5
            grep -qE -- "$re" "$f" 2>/dev/null && return 0
            _rig_log "domain $name ended before its console matched /$re/"
            return 1
        fi
        sleep 0.2
    done
    _rig_log "console of $name did not match /$re/ within $secs s"
    return 1
}

skiff_wait_serving() {
    local log=$1 tenths=$((${2:-10} * 10)) i
    for ((i = 0; i < tenths; i++)); do
        grep -q '^ok serving' "$log" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# wait_local_port PORT SECS [DOMAIN]: until a connection to 127.0.0.1:PORT succeeds (bash's /dev/tcp,
# no interpreter to start); fails after SECS, or at once when DOMAIN is given and no longer exists.
wait_local_port() {
    local port=$1 end=$((SECONDS + $2)) dom=${3:-}
    while [ "$SECONDS" -lt "$end" ]; do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        if [ -n "$dom" ] && ! xl domid "$dom" >/dev/null 2>&1; then return 1; fi
        sleep 0.05
    done
    return 1
}

first_connect_watch() {
    local i
    _fc_out=$RIG_TMP/firstconnect.$2
    SKIFF_PEER_HOST=$1 python3 "$SKIFF_ROOT/tests/xen/peers.py" firstconnect "$2" --timeout "$3" \
        >"$_fc_out" 2>&1 &
    _fc_pid=$!
    for ((i = 0; i < 600; i++)); do
        grep -q '^ready' "$_fc_out" && return 0
        kill -0 "$_fc_pid" 2>/dev/null || break
        sleep 0.05
    done
    _rig_log "firstconnect poller for $1:$2 did not start: $(cat "$_fc_out")"
    kill "$_fc_pid" 2>/dev/null
    return 1
}

first_connect_secs() {
    local t0=$1 name=${2:-} at
    fc_secs=""
    # kill -0 on xl's monitor, not "xl domid": an xl process every half second would slow the boot timed.
    while kill -0 "$_fc_pid" 2>/dev/null; do
        if [ -n "$name" ] && ! _skiff_monitor_alive "$name"; then
            kill "$_fc_pid" 2>/dev/null
            break
        fi
        sleep 0.2
    done
    wait "$_fc_pid" 2>/dev/null
    # A connection made just before the domain ended still counts.
    at=$(sed -n 's/^ok firstconnect at //p' "$_fc_out")
    if [ -z "$at" ]; then
        _rig_log "no connection to port ${_fc_out##*.}${name:+ before domain $name ended}: $(cat "$_fc_out")"
        return 1
    fi
    fc_secs=$(secs "$t0" "$at")
}

# _skiff_reason_of FILE: the reason word from "Domain N has shut down, reason code R 0x.." in xl's output.
_skiff_reason_of() {
    local code
    code=$(sed -n 's/.*has shut down, reason code \([0-9]*\).*/\1/p' "$1" 2>/dev/null | head -n 1)
    case $code in
        0) echo poweroff ;; 1) echo reboot ;; 2) echo suspend ;; 3) echo crash ;;
        4) echo watchdog ;; 5) echo soft_reset ;;
        "") return 1 ;;
        *) echo "code$code" ;;
    esac
}

# Prints vCPU 0's registers of domain NAME (xenctx, with the image's symbols when run.sh shipped
# NAME.map), so a hung or crashed guest shows where it was.
_skiff_xenctx() {
    local name=$1 why=$2 ctx="" c map domid syms=()
    for c in /usr/lib/xen-*/bin/xenctx; do [ -x "$c" ] && ctx=$c; done
    domid=$(xl domid "$name" 2>/dev/null) || return 0
    [ -n "$ctx" ] || return 0
    map=$SKIFF_ROOT/target/images/$name.map
    [ -s "$map" ] && syms=(-s "$map")
    echo "----- xenctx of $why $name -----" >&2
    timeout 20 "$ctx" "${syms[@]}" "$domid" 0 >&2 2>&1 || true
}

skiff_shutdown_reason() {
    local name=$1 secs=${2:-60} out reason="" end pid
    out=$RIG_TMP/$name.xl
    end=$((SECONDS + secs))
    while :; do
        if reason=$(_skiff_reason_of "$out"); then break; fi
        if ! _skiff_monitor_alive "$name"; then
            reason=$(_skiff_reason_of "$out") || {
                if grep -q 'has been destroyed' "$out"; then reason=destroyed; else reason=error; fi
            }
            break
        fi
        if [ "$SECONDS" -ge "$end" ]; then
            _rig_log "domain $name still running after $secs s; destroying it"
            _skiff_xenctx "$name" "still running"
            xl destroy "$name" >/dev/null 2>&1 || true
            reason=timeout
            break
        fi
        sleep 0.2
    done
    # Let xl carry out the on_* action, then make sure the domain is gone.
    pid=$(cat "$RIG_TMP/$name.pid" 2>/dev/null || echo)
    for _ in $(seq 50); do _skiff_monitor_alive "$name" || break; sleep 0.1; done
    if _skiff_domain_exists "$name"; then
        [ "$reason" != crash ] || _skiff_xenctx "$name" crashed
        xl destroy "$name" >/dev/null 2>&1 || true
    fi
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    echo "----- xl create -F $name -----" >&2
    sed 's/^/    | /' "$out" >&2
    sleep 0.3 # xenconsoled may still be writing the last bytes
    skiff_console "$name" >&2
    _rig_log "domain $name: $reason"
    echo "$reason"
}

skiff_run() {
    local name=$1 secs=120
    shift
    if [[ ${1:-} =~ ^[0-9]+$ ]]; then
        secs=$1
        shift
    fi
    skiff_create "$name" 'on_reboot="destroy"' "$@" || { echo error; return 0; }
    skiff_shutdown_reason "$name" "$secs"
}

_rig_exit() {
    local rc=$1
    if [ "$RIG_PASSES" -eq 0 ] && [ "$RIG_FAILS" -eq 0 ]; then
        fail "ran no check"
    fi
    [ "$RIG_FAILS" -eq 0 ] || [ "$rc" -ne 0 ] || rc=1
    echo "RIG-CASE-SUMMARY $RIG_CASE pass=$RIG_PASSES fail=$RIG_FAILS rc=$rc"
    exit "$rc"
}
trap '_rig_exit $?' EXIT
