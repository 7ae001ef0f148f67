#!/bin/bash
# Checks what README.md promises for `make run APP=httpd`: from the machine running it, curl gets the
# guest's page through the port QEMU forwards to dom0 (in the QEMU rig) or dom0 itself (under Xen).
# Starts `make run APP=httpd`, waits for the guest to listen, checks GET /, GET /bytes/1000000 (sha256
# of the expected alphabet) and a 404 with curl on 127.0.0.1:8080, then stops the run.
set -u
cd "$(dirname "$0")/.."
command -v curl >/dev/null || { echo "run-httpd: curl is required" >&2; exit 1; }
mkdir -p target
log=target/run-httpd.log
url=http://127.0.0.1:8080

setsid make --no-print-directory run APP=httpd >"$log" 2>&1 </dev/null &
run=$!
stop() {
    kill -TERM -- -"$run" 2>/dev/null
    wait "$run" 2>/dev/null
    # In a Xen dom0, make run is `xl create -c`: the guest outlives its console.
    if grep -qs control_d /proc/xen/capabilities; then xl destroy httpd 2>/dev/null; fi
}
trap stop EXIT

failed=0
ok() { echo "run-httpd: ok $*"; }
bad() {
    echo "run-httpd: FAIL $*"
    failed=1
}

deadline=$((SECONDS + ${RUN_HTTPD_TIMEOUT:-600}))
until grep -qs 'httpd: listening on 0\.0\.0\.0:8080' "$log"; do
    if ! kill -0 "$run" 2>/dev/null; then
        bad "make run APP=httpd ended before httpd listened; its output:"
        sed 's/^/    | /' "$log"
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        bad "httpd did not listen within ${RUN_HTTPD_TIMEOUT:-600} s; the last of make run's output:"
        tail -n 40 "$log" | sed 's/^/    | /'
        exit 1
    fi
    sleep 1
done
ok "make run APP=httpd: the guest listens ($SECONDS s)"

page=$(curl -fsS --max-time 60 "$url/" 2>&1)
if grep -q 'Hello from Skiff' <<<"$page"; then ok "curl $url/ gets the page"; else bad "curl $url/: $page"; fi

want=$(yes abcdefghijklmnopqrstuvwxyz | tr -d '\n' | head -c 1000000 | sha256sum)
got=$(curl -fsS --max-time 300 "$url/bytes/1000000" | sha256sum)
if [ "$got" = "$want" ]; then
    ok "curl $url/bytes/1000000 gets the 1000000 expected bytes"
else
    bad "curl $url/bytes/1000000: sha256 ${got%% *}, expected ${want%% *}"
fi

code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 60 "$url/nothing-here" 2>&1)
if [ "$code" = 404 ]; then ok "curl $url/nothing-here gets 404"; else bad "curl $url/nothing-here: $code"; fi

stop
trap - EXIT
# What make run shows: progress lines and the guest's console, not Xen's, dom0's or QEMU's output.
noise=$(grep -E '^\(XEN\)|^qemu-system|^dom0-init:|^RIG-' "$log" | head -n 3)
if [ -z "$noise" ]; then
    ok "make run showed progress lines and the guest's console only ($(wc -l <"$log") lines)"
else
    bad "make run showed the emulator's or dom0's output, e.g.:"
    printf '%s\n' "$noise" | sed 's/^/    | /'
fi

[ "$failed" = 0 ] && echo "run-httpd: PASS" || echo "run-httpd: FAIL (make run's output: $log)"
exit "$failed"
