#!/bin/bash
# Rig case for `make bench` (tests/bench/run.sh): the same static servers of target/apps on Skiff's
# linux image, in a Linux PVH guest with netfront (the rig dom0's own kernel, a busybox initramfs built
# here, xl-configs/lguest.cfg) on a private bridge, and as dom0 processes, driven by the same dom0
# clients (peers.py, apps.py; SKIFF_PEER_HOST picks the Linux guest's address). Prints "BENCH lg_..."
# lines that run.sh turns into the Skiff / Linux guest and Skiff / dom0 tables.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
here=$(dirname "$0")
peers=$here/peers.py
apps=$here/apps.py
bin=$SKIFF_ROOT/target/apps
BIG=${BENCH_BYTES:-16000000}
ECHO_BYTES=${BENCH_ECHO_BYTES:-4000000}
ECHO_CONNS=${BENCH_ECHO_CONNS:-4}
RUNS=${BENCH_LG_RUNS:-${BENCH_RUNS:-3}}
# Seconds a client waits on a silent server: a guest that died mid-transfer (an emulator fault) must
# fail its figure well before the rig's stall detector (240 s without serial output) reboots the rig.
T=60
MEM=160 # what linux.sh gives Skiff's linux image, and lguest.cfg the Linux guest
GUEST=10.200.0.2 DOM0=10.200.0.1

# wait_port HOST PORT SECS [DOMAIN]: until a connection to HOST:PORT succeeds; fails after SECS, or at
# once when DOMAIN is given and no longer exists.
wait_port() {
    local end=$((SECONDS + $3)) dom=${4:-}
    while [ "$SECONDS" -lt "$end" ]; do
        timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0
        if [ -n "$dom" ] && ! xl domid "$dom" >/dev/null 2>&1; then return 1; fi
        sleep 0.05
    done
    return 1
}

# The private link: a bridge in dom0 that vif-bridge puts the guest's vif on. The rig may run this
# case again in the same boot (after an emulator fault), so a bridge already there is reused.
setup_net() {
    modprobe xen-netback && modprobe bridge || return 1
    ip link show xenbr0 >/dev/null 2>&1 || ip link add xenbr0 type bridge || return 1
    ip addr replace "$DOM0/24" dev xenbr0 && ip link set xenbr0 up || return 1
    # ARP retries every 50 ms instead of 1 s, so "xl create to first connection" is not rounded up to
    # the next retry after the guest configures its address.
    sysctl -qw net.ipv4.neigh.xenbr0.retrans_time_ms=50 net.ipv4.neigh.xenbr0.mcast_solicit=100
}

# make_initramfs APP: $RIG_TMP/lguest-APP.cpio.gz with busybox, xen-netfront and target/apps/APP; its
# /init configures eth0 from lg_ip= and runs lg_app with lg_port= (kernel words, in init's environment).
make_initramfs() {
    local d=$RIG_TMP/lguest-root-$1
    rm -rf "$d"
    mkdir -p "$d"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,lib,apps,tmp}
    cp /bin/busybox "$d/bin/busybox"
    cp "/lib/modules/$(uname -r)/kernel/drivers/net/xen-netfront.ko" "$d/lib/" || return 1
    cp "$bin/$1" "$d/apps/" || return 1
    mknod "$d/dev/console" c 5 1
    # What the kernel runs on xl shutdown (orderly_poweroff): busybox's own poweroff only signals init.
    printf '#!/bin/busybox sh\nexec /bin/busybox poweroff -f\n' >"$d/sbin/poweroff"
    chmod 755 "$d/sbin/poweroff"
    cat >"$d/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
insmod /lib/xen-netfront.ko
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
ip link set lo up
ip addr add "$lg_ip" dev eth0
ip link set eth0 up
echo "lguest: eth0 $lg_ip up at $(cut -d' ' -f1 /proc/uptime) s; starting $lg_app $lg_port"
"/apps/$lg_app" "$lg_port"
echo "lguest: $lg_app exited with status $?"
poweroff -f
EOF
    chmod 755 "$d/init"
    (cd "$d" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 >"$RIG_TMP/lguest-$1.cpio.gz"
}

# create_guest SIDE APP PORT MIB: xl create of the guest that runs APP listening on PORT with
# memory=MIB (skiff: the linux image, domain linux; linux: the Linux guest, domain lguest).
create_guest() {
    case $1 in
        skiff) skiff_create linux 'on_reboot="destroy"' "ramdisk=\"target/apps/$2\"" "extra=\"-- $2 $3\"" \
                   "memory=$4" ;;
        linux) skiff_create lguest "ramdisk=\"$RIG_TMP/lguest-$2.cpio.gz\"" "memory=$4" \
                   "extra=\"console=hvc0 quiet lg_ip=$GUEST/24 lg_app=$2 lg_port=$3\"" ;;
    esac
}

# start SIDE APP PORT: starts APP listening on PORT on SIDE (skiff: the linux image; linux: the Linux
# guest; dom0: a process) and waits for the first connection; BENCH lg_boot_APP_SIDE_to_connect_RUN
# (xl create, or the process's start, to that connection) and, for guests, ..._to_running_RUN (xl
# create to the domain built and running). Sets $host to where the server is.
start() {
    local side=$1 app=$2 port=$3 t0 dom=""
    case $side in
        skiff) host=127.0.0.1 dom=linux ;;
        linux) host=$GUEST dom=lguest ;;
        dom0) host=127.0.0.1 ;;
    esac
    first_connect_watch "$host" "$port" 180 || { fail "$app on $side: dom0's connection poller"; return 1; }
    t0=$EPOCHREALTIME
    case $side in
        dom0)
            "$bin/$app" "$port" >"$RIG_TMP/lg-dom0-$app.log" 2>&1 &
            dom0_pid=$! ;;
        *)
            # Once it returns, xl create -F has built the domain and unpaused it.
            if create_guest "$side" "$app" "$port" "$MEM"; then
                bench "lg_boot_${app//-/_}_${side}_to_running_$run" "$(secs "$t0" "$EPOCHREALTIME")" s
            else
                fail "$app on $side: xl create"
            fi ;;
    esac
    # On a failed create, xl's monitor has ended and this fails at once (stopping the poller).
    if first_connect_secs "$t0" "$dom"; then
        bench "lg_boot_${app//-/_}_${side}_to_connect_$run" "$fc_secs" s
        pass "$app on $side accepts on $host:$port"
    else
        fail "$app on $side accepts on $host:$port"
        return 1
    fi
}

# guest_safe: a Linux guest's console lines as they may appear on the rig's serial log, where run.sh
# takes "Kernel panic - not syncing" or "Panic on CPU" for dom0's or Xen's panic and ends the boot.
guest_safe() { sed 's/Kernel panic - not syncing/guest kernel panic/; s/Panic on CPU/guest panic on CPU/'; }

# stop SIDE: powers the guest off (xl shutdown), or ends the dom0 process.
stop() {
    case $1 in
        skiff) xl shutdown linux >/dev/null 2>&1
               check_eq "Skiff guest powers off on xl shutdown" poweroff "$(skiff_shutdown_reason linux 60)" ;;
        linux) xl shutdown lguest >/dev/null 2>&1
               reason=$(skiff_shutdown_reason lguest 60 2>"$RIG_TMP/lg-stop.log")
               guest_safe <"$RIG_TMP/lg-stop.log" >&2
               check_eq "Linux guest powers off on xl shutdown" poweroff "$reason" ;;
        dom0) kill "$dom0_pid" 2>/dev/null; wait "$dom0_pid" 2>/dev/null ;;
    esac
}

# measure_re KEY REGEX UNIT CMD...: like measure (lib.sh), for a figure REGEX (sed, one group) takes
# from the client's "ok" line.
measure_re() {
    local key=$1 re=$2 unit=$3 out v
    shift 3
    if out=$(SKIFF_PEER_HOST=$host "$@" 2>&1) && [[ $out == ok* ]] && v=$(sed -n "s|.*$re.*|\1|p" <<<"$out") \
        && [ -n "$v" ]; then
        bench "$key" "$v" "$unit"
        pass "$key: $out"
    else
        fail "$key: $out"
    fi
}
# latency KEY PORT: 64-byte request/response round trips, p50 and p99 (us) of one pingpong run.
latency() {
    local out p50 p99
    if out=$(SKIFF_PEER_HOST=$host python3 "$peers" pingpong "$2" --cycles 2000 --bytes 64 --timeout "$T" 2>&1) && [[ $out == ok* ]] \
        && p50=$(sed -n 's/.* p50=\([0-9]*\)us.*/\1/p' <<<"$out") && p99=$(sed -n 's/.* p99=\([0-9]*\)us.*/\1/p' <<<"$out") \
        && [ -n "$p50" ] && [ -n "$p99" ]; then
        bench "lg_lat64_p50_$1_us_$run" "$p50" us
        bench "lg_lat64_p99_$1_us_$run" "$p99" us
        pass "lg_lat64_$1_$run: $out"
    else
        fail "lg_lat64_$1_$run: $out"
    fi
}
mbps() { measure_re "$1" 'rate=\([0-9.]*\)MB/s' MB/s "${@:2}"; }

# echo_figures APP SIDE PORT / fetch_figures SIDE PORT: the figures, keys lg_<what>_<app>_<side>_..._<run>.
echo_figures() {
    local k=${1//-/_}_$2
    mbps "lg_rounds_${k}_mbps_$run" python3 "$peers" rounds "$3" --bytes "$BIG" --chunk 16384 --timeout "$T"
    mbps "lg_echo_${k}_mbps_$run" python3 "$apps" echo "$3" --conns "$ECHO_CONNS" --bytes "$ECHO_BYTES" --timeout "$T"
    latency "$k" "$3"
    measure_re "lg_crc_${k}_per_s_$run" 'rate=\([0-9.]*\)/s' conn/s python3 "$peers" churn "$3" --cycles 300 --conns 4 --bytes 64 --timeout "$T"
}
# bulk_figures SIDE PORT: bulk throughput each way (guest->dom0: the guest sends; dom0->guest: it
# receives), on 1 stream of $BIG bytes and on 8 streams of $BIG/8 each.
bulk_figures() {
    local dir key streams
    for dir in from-guest to-guest; do
        key=lg_bulk$([ "$dir" = from-guest ] && echo out || echo in)
        for streams in 1 8; do
            mbps "${key}${streams}_bulk_$1_mbps_$run" python3 "$peers" bulk "$2" --dir "$dir" --streams "$streams" \
                --bytes $((BIG / streams)) --timeout "$T"
        done
    done
}
fetch_figures() {
    mbps "lg_fetch1_axum_server_$1_mbps_$run" python3 "$peers" fetch "$2" --conns 1 --bytes "$BIG" --timeout "$T"
    mbps "lg_fetch50_axum_server_$1_mbps_$run" python3 "$peers" fetch "$2" --conns 50 --bytes 200000 --timeout "$T"
}

echo "linuxguest: rig kernel $(uname -r)"
bench lg_echo_conns "$ECHO_CONNS" connections
bench lg_echo_bytes "$ECHO_BYTES" bytes
if ! setup_net; then
    fail "dom0 bridge xenbr0 with $DOM0/24 (xen-netback, bridge)"
    exit 1
fi
pass "dom0 bridge xenbr0 with $DOM0/24"
for app in std-echo tokio-echo axum-server bulk; do
    if make_initramfs "$app"; then
        pass "initramfs for $app"
        bench "lg_size_${app//-/_}_initramfs" "$(stat -c %s "$RIG_TMP/lguest-$app.cpio.gz")" bytes
    else
        fail "initramfs for $app"
    fi
done
bench lg_size_kernel "$(stat -c %s /boot/vmlinuz)" bytes

# Each run: every program on every side in turn, on ports of their own per run (a Skiff guest binds in
# dom0's stack, where a port can stay in use for a while after the last run's connections).
for run in $(seq "$RUNS"); do
    p=$((7400 + 20 * run))
    for side in dom0 skiff linux; do
        if start "$side" std-echo "$p"; then echo_figures std-echo "$side" "$p"; fi
        stop "$side"
        if start "$side" tokio-echo $((p + 1)); then echo_figures tokio-echo "$side" $((p + 1)); fi
        stop "$side"
        if start "$side" axum-server $((p + 2)); then fetch_figures "$side" $((p + 2)); fi
        stop "$side"
        if start "$side" bulk $((p + 3)); then bulk_figures "$side" $((p + 3)); fi
        stop "$side"
        p=$((p + 5))
    done
done

# The least memory= (MiB) with which the Linux guest boots and serves one echo (64 KiB) or request
# (100 kB download), bisected in 1 MiB steps between 0 (taken as too little) and MEM, as linux.sh does
# for Skiff (its memory_* figures are the Skiff side of this, in the same boot under make bench).
lg_serves_in() { # APP PORT MIB
    local app=$1 port=$2 mem=$3 ok=1 reason
    host=$GUEST
    if create_guest linux "$app" "$port" "$mem" 2>/dev/null && wait_port "$GUEST" "$port" 90 lguest; then
        if [ "$app" = axum-server ]; then
            SKIFF_PEER_HOST=$GUEST python3 "$peers" fetch "$port" --conns 1 --bytes 100000 --timeout 30
        else
            SKIFF_PEER_HOST=$GUEST python3 "$apps" echo "$port" --conns 1 --bytes 65536 --timeout 30
        fi >"$RIG_TMP/lg-mem-$app-$mem.out" 2>&1 && ok=0
    fi
    xl shutdown lguest >/dev/null 2>&1
    reason=$(skiff_shutdown_reason lguest 30 2>/dev/null)
    echo "memory: Linux guest $app with memory=$mem: $([ "$ok" = 0 ] && echo serves || echo fails), domain: $reason;" \
        "$(grep -a -m1 -iE 'out of memory|panic|oom|exited' "$(skiff_console_file lguest)" | tr -d '\r' | guest_safe)"
    return "$ok"
}
if [ "${BENCH_LG_MEMORY:-1}" = 1 ]; then
    for app in std-echo tokio-echo axum-server; do
        lo=0 hi=$MEM
        if lg_serves_in "$app" 7000 "$hi"; then
            while [ $((hi - lo)) -gt 1 ]; do
                mid=$(((lo + hi) / 2))
                if lg_serves_in "$app" 7000 "$mid"; then hi=$mid; else lo=$mid; fi
            done
            bench "lg_memory_${app//-/_}_linux_mib" "$hi" MiB
            pass "Linux guest $app: least memory= found ($hi MiB)"
        else
            fail "Linux guest $app serves with memory=$MEM"
        fi
    done
fi

# Most concurrent connections tokio-echo holds with memory=64, on Skiff and in the Linux guest (0 when
# it does not come up with so little): apps.py conns opens them one by one, each echoing 64 bytes, up
# to HELD_MAX, and counts those that all echo again at the end. HELD_MAX stays under tokio-echo's own
# limit, RLIMIT_NOFILE's 1024 descriptors on either system: past it, accept fails with EMFILE and
# tokio-echo retries (and logs) in a loop that starves the connections it holds.
HELD_MAX=1000
held_in_64() { # SIDE PORT
    local side=$1 port=$2 dom out n=0
    case $side in
        skiff) host=127.0.0.1 dom=linux ;;
        linux) host=$GUEST dom=lguest ;;
    esac
    if create_guest "$side" tokio-echo "$port" 64 && wait_port "$host" "$port" 90 "$dom"; then
        out=$(ulimit -n 8192 && SKIFF_PEER_HOST=$host python3 "$apps" conns "$port" --max "$HELD_MAX" --timeout 20 2>&1)
        echo "held: tokio-echo on $side with memory=64: $out"
        n=$(sed -n 's/^ok conns held=\([0-9]*\) .*/\1/p' <<<"$out")
        if [ -z "$n" ]; then fail "tokio-echo on $side with memory=64 holds connections: $out"; n=0; fi
    else
        echo "held: tokio-echo on $side with memory=64 does not accept connections;" \
            "$(grep -a -m1 -iE 'out of memory|panic|oom' "$(skiff_console_file "$dom")" | tr -d '\r' | guest_safe)"
    fi
    xl shutdown "$dom" >/dev/null 2>&1
    skiff_shutdown_reason "$dom" 60 >/dev/null 2>&1
    bench "lg_held64_tokio_echo_${side}" "$n" connections
}
if [ "${BENCH_LG_HELD:-1}" = 1 ]; then
    held_in_64 skiff 7100
    held_in_64 linux 7101
fi
