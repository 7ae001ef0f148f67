#!/bin/bash
# Rig case, run by hand (tests/rig/run.sh tests/bench/ringorder.sh): bulk throughput of the linux
# image's `bulk` program with data rings of each order the backend offers, in one boot, so that a
# change to the ring sizing or the backend's mapping comes with figures from the same boot. Prints
# "RINGORDER order=N run=R dir=... streams=S rate=X" lines (MB/s) and checks every transfer.
# Environment: RINGORDER_ORDERS (default "5 6 7 8 9 auto"; auto leaves the order to Skiff's sizing),
# RINGORDER_RUNS (2), BENCH_BYTES (16000000 per figure).
set -u
# shellcheck source=tests/rig/lib.sh
. "$(dirname "$0")/../rig/lib.sh"
peers=$(dirname "$0")/peers.py
BIG=${BENCH_BYTES:-16000000}
T=60

port=7400
for run in $(seq "${RINGORDER_RUNS:-2}"); do
    for order in ${RINGORDER_ORDERS:-5 6 7 8 9 auto}; do
        port=$((port + 1))
        args="-- bulk $port"
        [ "$order" = auto ] || args="ring-order=$order $args"
        if ! skiff_create linux 'on_reboot="destroy"' 'ramdisk="target/apps/bulk"' "extra=\"$args\"" memory=160; then
            fail "order $order: xl create"
            continue
        fi
        if ! wait_local_port "$port" 60 linux; then
            fail "order $order: bulk accepts on $port"
            xl destroy linux >/dev/null 2>&1
            continue
        fi
        for dir in from-guest to-guest; do
            for streams in 1 8; do
                out=$(python3 "$peers" bulk "$port" --dir "$dir" --streams "$streams" \
                    --bytes $((BIG / streams)) --timeout "$T" 2>&1)
                rate=$(sed -n 's/.*rate=\([0-9.]*\)MB\/s.*/\1/p' <<<"$out")
                if [[ $out == ok* ]] && [ -n "$rate" ]; then
                    echo "RINGORDER order=$order run=$run dir=$dir streams=$streams rate=$rate"
                    pass "order $order, $dir, $streams streams: $out"
                else
                    fail "order $order, $dir, $streams streams: $out"
                fi
            done
        done
        xl shutdown linux >/dev/null 2>&1
        check_eq "order $order: bulk powers off on xl shutdown" poweroff "$(skiff_shutdown_reason linux 60)"
    done
done
