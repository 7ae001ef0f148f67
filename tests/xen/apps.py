#!/usr/bin/env python3
"""dom0-side drivers for the Linux programs of tests/apps (target/apps/<name>), wherever they run with
their sockets reachable at 127.0.0.1: under Skiff over PV Calls, or as host processes
(tests/apps/check-on-host.sh). Plain Python sockets, independent of the programs' code; helpers shared
with peers.py. Every subcommand prints one line starting with "ok" and exits 0, or prints what went
wrong and exits 1 (client-peer prints "ok serving ..." first, once it listens).

  apps.py wait PORT                           until PORT accepts a connection (--timeout)
  apps.py echo PORT --conns N --bytes B       std-echo, c-poll-server: N concurrent connections each
                                              send B bytes of their own pattern while reading the echo;
                                              sha256 of each echo compared
  apps.py echo PORT --conns N --bytes B --digest
                                              tokio-echo: the same, then each shuts its side down and
                                              expects the line "sha256 HEX B" the server computed on its
                                              blocking pool (HEX: of what this connection sent), then EOF
  apps.py conns PORT --max N [--bytes B]     how many connections an echo server holds at once: opens
                                              them one by one, each echoing B bytes (default 64) and
                                              kept open, until one fails or N are held; then every held
                                              connection echoes once more; prints "ok conns held=H ..."
                                              (H >= 1) and what ended the ramp
  apps.py axum PORT --conns N                 axum-server: GET /json, POST /json (count, sum, sorted of
                                              random numbers), malformed JSON refused, GET /bytes/1048576,
                                              POST /upload of 1 MiB (length, sha256), 404, then N
                                              concurrent keep-alive clients doing the same with their own
                                              data
  apps.py axum-readme PORT --conns N          the axum README example: GET / "Hello, World!", POST /users
                                              201 with id 1337 and the username sent; N clients at once
  apps.py client-peer PORT --bytes B --tag T  the dom0 server std-client talks to: one connection whose
                                              first line is "std-client bytes=B tag=T", the B bytes after it
                                              echoed, then closed;
                                              prints "ok client-peer bytes=B tag=T sha256=HEX" (HEX: of
                                              the B bytes after the line)
  apps.py client-output FILE --bytes B --tag T [--sha256 HEX]
                                              std-client's result line in FILE (its output or a console
                                              log): "std-client: ok bytes=B tag=T sha256=HEX"
  apps.py threads FILE [--status S]           the threads program's lines in FILE, in order, their numbers
                                              checked against what its threads were asked to do, and its
                                              last line announcing exit status S (default 0)
  apps.py nosys FILE                          the nosys program's lines in FILE: syscalls 184 and 1000
                                              returned -1 with errno ENOSYS, and it ran on after them
"""
import argparse
import errno
import hashlib
import http.client
import json
import os
import random
import re
import selectors
import socket
import sys
import time

from peers import HOST, connect, expected_bytes, fail, pattern, recv_exact, run_concurrently

# What the threads program does (tests/apps/threads/src/main.rs): the driver expects these
# parameters and computes the results they must give.
THREADS_WORKERS = 4
THREADS_COUNTERS, THREADS_INCREMENTS = 8, 10_000
THREADS_ROUNDS = 1_000
THREADS_PRODUCERS, THREADS_MESSAGES = 4, 1_000
THREADS_SLEEP_MS = 50
# The calls nosys makes by default (tests/apps/nosys/src/main.rs).
NOSYS_NUMBERS = (184, 1000)


def cmd_wait(a):
    start = time.monotonic()
    deadline = start + a.timeout
    while True:
        try:
            socket.create_connection((HOST, a.port), timeout=5).close()
            break
        except OSError as e:
            if time.monotonic() > deadline:
                fail(f"wait: port {a.port} did not accept within {a.timeout}s: {e!r}")
            time.sleep(0.1)
    print(f"ok wait port={a.port} accepts after {time.monotonic() - start:.1f}s", flush=True)


def cmd_echo(a):
    """N connections at once, each a state machine: send the pattern while reading the echo; with
    --digest, shut down the sending side once all is sent and read the server's digest line to EOF."""
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(a.conns):
        data = pattern(a.bytes, f"apps-echo-{i}")
        s = connect(a.port, a.timeout)
        s.setblocking(False)
        c = {"i": i, "s": s, "data": data, "sent": 0, "n": 0, "hash": hashlib.sha256(),
             "tail": bytearray(), "done": False}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    start = time.monotonic()
    deadline = start + a.timeout
    open_conns = a.conns

    def finish(c):
        nonlocal open_conns
        if c["hash"].digest() != hashlib.sha256(c["data"]).digest():
            fail(f"echo: connection {c['i']}: sha256 of the echo differs from what it sent")
        if a.digest:
            want = f"sha256 {hashlib.sha256(c['data']).hexdigest()} {a.bytes}\n".encode()
            if bytes(c["tail"]) != want:
                fail(f"echo: connection {c['i']}: after the echo the server sent {bytes(c['tail'][:100])!r}, "
                     f"expected {want!r}")
        sel.unregister(c["s"])
        c["s"].close()
        c["done"] = True
        open_conns -= 1

    def sent_all(c):
        sel.modify(c["s"], selectors.EVENT_READ, c)
        if a.digest:
            c["s"].shutdown(socket.SHUT_WR)

    for c in conns:
        if a.bytes == 0:
            sent_all(c)
            if not a.digest:
                finish(c)
    while open_conns:
        if time.monotonic() > deadline:
            done = sum(c["done"] for c in conns)
            fail(f"echo: timeout after {a.timeout}s, {done}/{a.conns} connections complete")
        for key, ev in sel.select(timeout=1):
            c = key.data
            s = c["s"]
            if ev & selectors.EVENT_WRITE and c["sent"] < a.bytes:
                try:
                    c["sent"] += s.send(c["data"][c["sent"]:c["sent"] + 65536])
                except BlockingIOError:
                    pass
                if c["sent"] == a.bytes:
                    sent_all(c)
            if not ev & selectors.EVENT_READ:
                continue
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            if not chunk:
                if a.digest and c["n"] == a.bytes:
                    finish(c)
                    continue
                fail(f"echo: connection {c['i']} closed after {c['n']} of {a.bytes} echoed bytes")
            echo = chunk[: a.bytes - c["n"]]
            c["hash"].update(echo)
            c["n"] += len(echo)
            c["tail"] += chunk[len(echo):]
            if c["tail"] and not a.digest:
                fail(f"echo: connection {c['i']} got more bytes than it sent")
            if len(c["tail"]) > 200:
                fail(f"echo: connection {c['i']}: more than a digest line after the echo: "
                     f"{bytes(c['tail'][:100])!r}")
            if c["n"] == a.bytes and not a.digest:
                finish(c)
    secs = time.monotonic() - start
    total = a.conns * a.bytes
    what = "echo and the server's digest line sha256-verified" if a.digest else "sha256-verified"
    print(f"ok echo conns={a.conns} bytes={a.bytes} total={total} secs={secs:.1f} "
          f"rate={total / max(secs, 1e-9) / 1e6:.2f}MB/s {what}", flush=True)


class Http:
    """One keep-alive HTTP/1.1 connection; request() returns (status, content type, body)."""

    def __init__(self, port, timeout):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(self, method, path, body=None, content_type=None):
        headers = {"Content-Type": content_type} if content_type else {}
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read()

    def json(self, method, path, value=None):
        """A JSON request (value, when given, is the body); returns (status, decoded JSON or None)."""
        body = None if value is None else json.dumps(value).encode()
        st, ctype, got = self.request(method, path, body, "application/json" if body else None)
        if "application/json" not in ctype:
            return st, None
        return st, json.loads(got)

    def close(self):
        self.conn.close()


def cmd_conns(a):
    """Opens connections one at a time, each echoing --bytes of its own pattern, and keeps them: the
    ramp ends at --max held or at the first connection that cannot connect or echo within --timeout.
    Every held connection then echoes once more, so each one counted is still served."""
    held, why = [], f"reached --max {a.max}"
    start = time.monotonic()
    while len(held) < a.max:
        data = pattern(a.bytes, f"apps-conns-{len(held)}")
        try:
            s = connect(a.port, a.timeout)
            s.sendall(data)
            if recv_exact(s, a.bytes) != data:
                fail(f"conns: connection {len(held)}: the echo differs from what was sent")
        except (OSError, EOFError) as e:
            why = f"connection {len(held) + 1}: {e!r}"
            break
        held.append((s, data))
    ramp = time.monotonic() - start
    if not held:
        fail(f"conns: no connection held ({why})")
    for i, (s, data) in enumerate(held):
        try:
            s.sendall(data)
            if recv_exact(s, a.bytes) != data:
                fail(f"conns: held connection {i}: the second echo differs from what was sent")
        except (OSError, EOFError) as e:
            fail(f"conns: held connection {i} of {len(held)} no longer echoes: {e!r}")
    for s, _ in held:
        s.close()
    print(f"ok conns held={len(held)} max={a.max} bytes={a.bytes} ramp_secs={ramp:.1f}: each echoed twice;"
          f" ramp ended: {why}", flush=True)


def axum_round(h, rng, name, nbytes, upload):
    """One client's requests to axum-server; returns the names of the checks, raises on a failure."""
    st, got = h.json("GET", "/json")
    if st != 200 or not got or got.get("server") != "axum-server" or got.get("greeting") != "hello" \
            or len(got.get("routes", [])) != 5:
        raise ValueError(f"GET /json gave {st} {got!r}")
    numbers = [rng.randint(-10**12, 10**12) for _ in range(rng.randint(1, 200))]
    st, got = h.json("POST", "/json", {"name": name, "numbers": numbers})
    want = {"greeting": f"hello, {name}", "count": len(numbers), "sum": sum(numbers),
            "sorted": sorted(numbers)}
    if st != 200 or got != want:
        raise ValueError(f"POST /json with {len(numbers)} numbers gave {st} {str(got)[:200]}")
    st, ctype, body = h.request("GET", f"/bytes/{nbytes}")
    if st != 200 or body != expected_bytes(nbytes):
        raise ValueError(f"GET /bytes/{nbytes} gave {st} {ctype!r}, {len(body)} bytes not the alphabet")
    data = upload
    st, ctype, body = h.request("POST", "/upload", data, "application/octet-stream")
    want = {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if st != 200 or "application/json" not in ctype or json.loads(body) != want:
        raise ValueError(f"POST /upload of {len(data)} bytes gave {st} {body[:200]!r}, expected {want}")
    return ["GET /json", "POST /json", f"GET /bytes/{nbytes}", f"POST /upload {len(data)} bytes"]


def cmd_axum(a):
    rng = random.Random(os.urandom(16))
    h = Http(a.port, a.timeout)
    checks = axum_round(h, rng, "skiff", 1 << 20, os.urandom(1 << 20))
    st, _, body = h.request("POST", "/json", b'{"name": "skiff", "numbers": [1, 2,', "application/json")
    if st != 400:
        fail(f"axum: POST /json with malformed JSON gave {st} {body[:100]!r}, not 400")
    checks.append("malformed JSON 400")
    st, _, body = h.request("GET", "/nothing-here")
    if st != 404:
        fail(f"axum: GET /nothing-here gave {st}, not 404")
    checks.append("404")
    h.close()

    errors = []

    def worker(i):
        try:
            c = Http(a.port, a.timeout)
            r = random.Random(f"{rng.random()}-{i}")
            for k in range(2):
                axum_round(c, r, f"client-{i}-{k}", 10000 + i, os.urandom(65536 + i))
            c.close()
        except Exception as e:  # noqa: BLE001 - report any failure of a client
            errors.append(f"client {i}: {e!r}")

    run_concurrently(worker, a.conns)
    if errors:
        fail(f"axum: {len(errors)} of {a.conns} concurrent clients failed: {errors[:3]}")
    checks.append(f"{a.conns} concurrent keep-alive clients x 2 rounds")
    print("ok axum: " + "; ".join(checks), flush=True)


def readme_round(h, name):
    st, _, body = h.request("GET", "/")
    if st != 200 or body != b"Hello, World!":
        raise ValueError(f"GET / gave {st} {body[:100]!r}")
    st, got = h.json("POST", "/users", {"username": name})
    if st != 201 or got != {"id": 1337, "username": name}:
        raise ValueError(f"POST /users gave {st} {got!r}")


def cmd_axum_readme(a):
    h = Http(a.port, a.timeout)
    name = f"user-{os.urandom(4).hex()}"
    readme_round(h, name)
    h.close()
    errors = []

    def worker(i):
        try:
            c = Http(a.port, a.timeout)
            for k in range(3):
                readme_round(c, f"{name}-{i}-{k}")
            c.close()
        except Exception as e:  # noqa: BLE001 - report any failure of a client
            errors.append(f"client {i}: {e!r}")

    run_concurrently(worker, a.conns)
    if errors:
        fail(f"axum-readme: {len(errors)} of {a.conns} concurrent clients failed: {errors[:3]}")
    print(f"ok axum-readme: GET / Hello, World!; POST /users 201 {{id 1337, username}}; "
          f"{a.conns} concurrent clients x 3 rounds", flush=True)


def cmd_client_peer(a):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST, a.port))
    ls.listen(1)
    ls.settimeout(a.timeout)
    print(f"ok serving std-client peer on {HOST}:{a.port}", flush=True)
    try:
        c, _ = ls.accept()
    except socket.timeout:
        fail(f"client-peer: no connection within {a.timeout}s")
    c.settimeout(a.timeout)
    want = f"std-client bytes={a.bytes} tag={a.tag}\n".encode()
    head = bytearray()
    while b"\n" not in head and len(head) <= len(want):
        chunk = c.recv(len(want) - len(head) + 1)
        if not chunk:
            fail(f"client-peer: EOF in the first line, got {bytes(head)!r}")
        head += chunk
    line, _, rest = bytes(head).partition(b"\n")
    if line + b"\n" != want:
        got = line + b"\n" if b"\n" in head else bytes(head)
        fail(f"client-peer: first line {got!r}, expected {want!r}")
    c.sendall(want)
    h = hashlib.sha256(rest)
    n = len(rest)
    c.sendall(rest)
    # The first line announced the length: echo that much, then close (no half-close is needed,
    # which PV Calls cannot carry from the guest).
    while n < a.bytes:
        chunk = c.recv(min(65536, a.bytes - n))
        if not chunk:
            fail(f"client-peer: EOF after {n} of {a.bytes} bytes")
        n += len(chunk)
        h.update(chunk)
        c.sendall(chunk)
    c.close()
    if n != a.bytes:
        fail(f"client-peer: got {n} bytes after the first line, expected {a.bytes}")
    print(f"ok client-peer bytes={n} tag={a.tag} sha256={h.hexdigest()}", flush=True)


def program_lines(path, prog):
    """What prog printed, from its output or a console log: the rest of each line that starts with
    "prog: " (after a "[...]" or "(dN)" prefix a console log may add)."""
    start = re.compile(rf"^(?:\[[^\]]*\] ?|\(d\d+\) ?)*{re.escape(prog)}: (.*)$")
    with open(path, encoding="utf-8", errors="replace") as f:
        return [m[1] for m in (start.match(line.rstrip("\r\n")) for line in f) if m]


def cmd_client_output(a):
    lines = program_lines(a.file, "std-client")
    want = re.compile(rf"ok bytes={a.bytes} tag={re.escape(a.tag)} sha256=([0-9a-f]{{64}})")
    found = [m for m in map(want.fullmatch, lines) if m]
    if len(found) != 1:
        fail(f"client-output: std-client's lines {lines[:5]!r} have no (or several) {want.pattern!r}")
    if a.sha256 and found[0][1] != a.sha256:
        fail(f"client-output: std-client's sha256 {found[0][1]} differs from the peer's {a.sha256}")
    print(f"ok client-output bytes={a.bytes} tag={a.tag} sha256={found[0][1]}"
          + (" (the same as the peer's)" if a.sha256 else ""), flush=True)


def expect_line(lines, i, regex, what):
    if i >= len(lines):
        fail(f"threads: output ends before {what} (lines: {lines!r})")
    m = re.fullmatch(regex, lines[i])
    if not m:
        fail(f"threads: line {i + 1} {lines[i]!r} is not {what}")
    return [int(x) if x.isdigit() else x for x in m.groups()]


def cmd_threads(a):
    lines = program_lines(a.file, "threads")
    n, pairs = expect_line(lines, 0, r"joined (\d+) named threads: (.*)", "the join line")
    want = " ".join(f"worker-{i}={i * i}" for i in range(THREADS_WORKERS))
    if n != THREADS_WORKERS or pairs != want:
        fail(f"threads: joined {n}: {pairs!r}, expected {THREADS_WORKERS}: {want!r}")
    t, k, total = expect_line(lines, 1, r"mutex (\d+) threads x (\d+) increments, total (\d+)", "the mutex line")
    if (t, k, total) != (THREADS_COUNTERS, THREADS_INCREMENTS, THREADS_COUNTERS * THREADS_INCREMENTS):
        fail(f"threads: mutex {t} x {k} gave {total}, expected {THREADS_COUNTERS * THREADS_INCREMENTS}")
    r, turns = expect_line(lines, 2, r"condvar (\d+) rounds of ping-pong, (\d+) turns", "the condvar line")
    if (r, turns) != (THREADS_ROUNDS, 2 * THREADS_ROUNDS):
        fail(f"threads: condvar {r} rounds gave {turns} turns, expected {2 * THREADS_ROUNDS}")
    p, m, got, s = expect_line(lines, 3, r"mpsc (\d+) producers x (\d+) messages, received (\d+), sum (\d+)",
                               "the mpsc line")
    count = THREADS_PRODUCERS * THREADS_MESSAGES
    if (p, m, got, s) != (THREADS_PRODUCERS, THREADS_MESSAGES, count, count * (count - 1) // 2):
        fail(f"threads: mpsc {p} x {m} received {got} summing to {s}, expected {count} summing to "
             f"{count * (count - 1) // 2}")
    ms, woke = expect_line(lines, 4, r"sleep (\d+) ms in a thread, woke after at least that: (\w+)", "the sleep line")
    if (ms, woke) != (THREADS_SLEEP_MS, "true"):
        fail(f"threads: a {ms} ms sleep: woke after at least that: {woke}")
    status, = expect_line(lines, 5, r"done, exit status (\d+)", "the last line")
    if status != a.status:
        fail(f"threads: says it exits with {status}, expected {a.status}")
    if len(lines) != 6:
        fail(f"threads: {len(lines) - 6} lines more than expected: {lines[6:9]!r}")
    print(f"ok threads: join {THREADS_WORKERS} named; mutex {total}; condvar {turns} turns; "
          f"mpsc {got} messages sum {s}; sleep {ms} ms; exit status {status} announced", flush=True)


def cmd_nosys(a):
    lines = program_lines(a.file, "nosys")
    want = [f"syscall {nr} returned -1, errno {errno.ENOSYS} (ENOSYS)" for nr in NOSYS_NUMBERS]
    want.append(f"still running after {len(NOSYS_NUMBERS)} calls")
    if lines != want:
        fail(f"nosys: printed {lines!r}, expected {want!r}")
    print(f"ok nosys: syscalls {', '.join(map(str, NOSYS_NUMBERS))} got ENOSYS ({errno.ENOSYS}); "
          "the program ran on", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("wait", "echo", "conns", "axum", "axum-readme", "client-peer"):
        s = sub.add_parser(name)
        s.add_argument("port", type=int)
        s.add_argument("--timeout", type=float, default=300)
    for name in ("client-output", "threads", "nosys"):
        sub.add_parser(name).add_argument("file")
    sub.choices["echo"].add_argument("--conns", type=int, default=1)
    sub.choices["echo"].add_argument("--bytes", type=int, default=1000)
    sub.choices["echo"].add_argument("--digest", action="store_true")
    sub.choices["conns"].add_argument("--max", type=int, required=True)
    sub.choices["conns"].add_argument("--bytes", type=int, default=64)
    sub.choices["axum"].add_argument("--conns", type=int, default=16)
    sub.choices["axum-readme"].add_argument("--conns", type=int, default=16)
    for name in ("client-peer", "client-output"):
        sub.choices[name].add_argument("--bytes", type=int, required=True)
        sub.choices[name].add_argument("--tag", required=True)
    sub.choices["client-output"].add_argument("--sha256")
    sub.choices["threads"].add_argument("--status", type=int, default=0)
    a = p.parse_args()
    try:
        globals()["cmd_" + a.cmd.replace("-", "_")](a)
    except (OSError, ValueError, EOFError, http.client.HTTPException) as e:
        fail(f"{a.cmd}: {e!r}")


if __name__ == "__main__":
    main()
