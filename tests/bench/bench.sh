#!/bin/bash
# Rig case for `make bench` (tests/bench/run.sh): boot time of hello, and Skiff guests against dom0
# baselines measured in the same boot with the same dom0 client (tests/xen/peers.py). Prints
# "BENCH <key> <value> <unit>" lines that run.sh turns into a results file.
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
peers=$(dirname "$0")/peers.py
BIG=${BENCH_BYTES:-16000000}
RUNS=${BENCH_RUNS:-3}

# Boot: the guest's own measurement (pvclock, PVH entry to main) and xl create to poweroff in dom0.
for i in $(seq "$RUNS"); do
    t0=$(date +%s.%N)
    reason=$(skiff_run hello 120)
    t1=$(date +%s.%N)
    check_eq "hello run $i powers off" poweroff "$reason"
    ms=$(grep -a -o 'PVH entry to application main in [0-9.]* ms' "$(skiff_console_file hello)" | grep -o '[0-9.]*' | head -1)
    [ -n "$ms" ] && bench "boot_entry_to_main_$i" "$ms" ms
    bench "boot_xl_create_to_poweroff_$i" "$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')" s
done

# Echo server in dom0 for the round-trip measurements.
python3 "$peers" serve 9000 >"$RIG_TMP/bench-serve.log" 2>&1 &
echo_srv=$!
skiff_wait_serving "$RIG_TMP/bench-serve.log" || fail "dom0 echo server started"

# Round trips in 16 KiB rounds: the client guest vs the same algorithm in a dom0 process.
measure rounds_dom0_mbps python3 "$peers" rounds 9000 --bytes "$BIG" --chunk 16384
reason=$(skiff_run client 600 "extra=\"addr=127.0.0.1:9000 bytes=$BIG chunk=16384\"")
check_eq "client powers off" poweroff "$reason"
kbs=$(grep -a -o 'client: ok [0-9]* bytes in [0-9]* ms ([0-9]* KB/s)' "$(skiff_console_file client)" | sed 's/.*(\([0-9]*\) KB\/s)/\1/')
if [ -n "$kbs" ]; then
    bench rounds_skiff_mbps "$(awk -v k="$kbs" 'BEGIN { printf "%.3f", k / 1000 }')" MB/s
else
    fail "client printed its rate"
fi
kill "$echo_srv" 2>/dev/null

# Downloads over HTTP: the httpd guest vs a Python HTTP server in dom0, same client.
python3 "$peers" serve-http 9300 >"$RIG_TMP/bench-http.log" 2>&1 &
http_srv=$!
skiff_wait_serving "$RIG_TMP/bench-http.log" || fail "dom0 HTTP server started"
measure fetch1_dom0_mbps python3 "$peers" fetch 9300 --conns 1 --bytes "$BIG"
measure fetch50_dom0_mbps python3 "$peers" fetch 9300 --conns 50 --bytes 200000
kill "$http_srv" 2>/dev/null
if skiff_create httpd && skiff_wait_console httpd 'httpd: listening on 0.0.0.0:8080' 120; then
    measure fetch1_skiff_mbps python3 "$peers" fetch 8080 --conns 1 --bytes "$BIG"
    measure fetch50_skiff_mbps python3 "$peers" fetch 8080 --conns 50 --bytes 200000
    xl shutdown httpd >/dev/null 2>&1
    check_eq "httpd powers off" poweroff "$(skiff_shutdown_reason httpd 60)"
else
    fail "httpd listens on 8080"
    skiff_shutdown_reason httpd 1 >/dev/null
fi
