#!/usr/bin/env python3
"""dom0-side TCP peers for the rig's socket cases: clients for the echo and httpd guests, a server for
the client guest. Plain Python sockets, independent of Skiff's code. Every subcommand prints one
line starting with "ok" and exits 0, or prints what went wrong and exits 1.

  peers.py echo PORT --conns N --bytes B     N concurrent connections, each sends B bytes of its own
                                             pattern while reading the echo; sha256 compared per conn
  peers.py halfclose PORT --bytes B          send B bytes, shutdown(SHUT_WR), the echo then EOF
  peers.py reset PORT                        send, then close with RST (SO_LINGER 0), then check the
                                             server still answers a new connection
  peers.py resets PORT --conns N --bursts K --bytes B
                                             K bursts of N concurrent connections: each sends B bytes,
                                             reads part of the echo, then resets (SO_LINGER 0) with data
                                             still in flight both ways; then one connection must echo
  peers.py http PORT                         GET /, /bytes/N, keep-alive, 404, 400, pipelined HEAD and 405,
                                             concurrent clients
  peers.py refused PORT                      nothing listens on PORT (connect is refused)
  peers.py serve PORT [--once]               echo server (for the client guest); prints "ok serving"
  peers.py nettest-peer PORT                 the dom0 side of the nettest guest's listener checks (below);
                                             start it once the guest printed "listening on"
  peers.py fetch PORT --conns N --bytes B    N concurrent connections each GET /bytes/B once (body
                                             checked); prints the aggregate rate (for make bench)
  peers.py rounds PORT --bytes B --chunk C   the client guest's algorithm from dom0: rounds of C bytes
                                             written then read back in full from an echo server; rate
  peers.py pingpong PORT --cycles N --bytes B N round trips of B bytes on one connection to an echo
                                             server, each echo checked; latency p50/p99 in microseconds
  peers.py serve-http PORT                   an HTTP server for GET /bytes/N in dom0 (bench baseline)
  peers.py churn PORT --cycles N --conns W --bytes B [--progress P]
                                             N connect-echo-close cycles by W workers, B bytes each;
                                             a progress line on stderr every P cycles
  peers.py hold PORT                         accepts two connections, reads the first's line, never
                                             reads the second, and waits to be killed (peergone)
  peers.py bulk PORT --dir to-guest|from-guest --streams N --bytes B
                                             tests/apps/bulk: N concurrent connections each send it B
                                             bytes of its pattern (R; its count and checksum checked)
                                             or get B bytes from it (S; checked byte for byte); rate
  peers.py firstconnect PORT --timeout S     prints "ready", then tries a connection every 10 ms until one
                                             succeeds; prints when (CLOCK_REALTIME, as bash's
                                             $EPOCHREALTIME). Boot figures: xl create to that connection

nettest-peer, in the order tests/guests/nettest.rs expects: connection 1 waits for the guest's b"G",
sends NETTEST_FIRST, waits for b"A" and closes; then connections 2 and 3 open, NETTEST_THIRD goes out
on connection 3 only, and both must see EOF (the guest closes them) without receiving a byte; then
connection 4 waits for the guest's b"R" and resets the connection (SO_LINGER 0).

Clients connect to, and servers bind, 127.0.0.1 (where a Skiff guest's listeners live in dom0), or
the address in the environment's SKIFF_PEER_HOST (make bench's Linux guest: 10.200.0.2).
"""
import argparse
import array
import hashlib
import operator
import os
import selectors
import socket
import struct
import sys
import threading
import time

HOST = os.environ.get("SKIFF_PEER_HOST", "127.0.0.1")
# What nettest-peer sends; tests/guests/nettest.rs (FIRST_DATA, THIRD_DATA) expects the same bytes.
NETTEST_FIRST = b"nettest: first connection from dom0\n"
NETTEST_THIRD = b"nettest: third connection from dom0\n"
# tests/apps/bulk's pattern repeats every BULK_PERIOD bytes (see bulk_pattern); bulk sends and receives
# BULK_CHUNK bytes at a time here.
BULK_PERIOD = 65521
BULK_CHUNK = 1 << 20


def fail(msg):
    print(f"FAIL {msg}", flush=True)
    sys.exit(1)


def pattern(n, seed):
    """n bytes of a per-connection pattern (sha256 counter stream)."""
    out = bytearray()
    block = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{block}".encode()).digest() * 64
        block += 1
    return bytes(out[:n])


def connect(port, timeout=60):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def cmd_echo(a):
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(a.conns):
        s = connect(a.port)
        s.setblocking(False)
        c = {"i": i, "s": s, "data": pattern(a.bytes, i), "sent": 0, "got": hashlib.sha256(), "n": 0}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    open_conns = len(conns)
    deadline = time.monotonic() + a.timeout
    start = time.monotonic()
    while open_conns:
        if time.monotonic() > deadline:
            done = sum(1 for c in conns if c["n"] == a.bytes)
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
                    sel.modify(s, selectors.EVENT_READ, c)
            if ev & selectors.EVENT_READ:
                try:
                    chunk = s.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    fail(f"echo: connection {c['i']} closed after {c['n']} of {a.bytes} bytes")
                c["got"].update(chunk)
                c["n"] += len(chunk)
                if c["n"] > a.bytes:
                    fail(f"echo: connection {c['i']} got {c['n']} bytes, more than sent")
                if c["n"] == a.bytes:
                    if c["got"].digest() != hashlib.sha256(c["data"]).digest():
                        fail(f"echo: connection {c['i']}: sha256 of the echo differs")
                    sel.unregister(s)
                    s.close()
                    open_conns -= 1
    secs = time.monotonic() - start
    total = a.conns * a.bytes
    print(f"ok echo conns={a.conns} bytes={a.bytes} total={total} secs={secs:.1f} "
          f"rate={total / secs / 1e6:.2f}MB/s sha256-verified", flush=True)


def recv_all(s, limit):
    got = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return bytes(got)
        got += chunk
        if len(got) > limit:
            return bytes(got)


def cmd_halfclose(a):
    s = connect(a.port, a.timeout)
    data = pattern(a.bytes, 99)
    got = bytearray()

    def read_until_eof():
        while len(got) <= a.bytes:
            chunk = s.recv(65536)
            if not chunk:
                return
            got.extend(chunk)

    # Read concurrently: the echo may not fit in socket buffers. `got`
    # grows as data arrives, so a stall reports how far the echo came.
    reader = threading.Thread(target=read_until_eof, daemon=True)
    reader.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    reader.join(a.timeout)
    if reader.is_alive():
        fail(f"halfclose: no EOF within {a.timeout}s ({len(got)} of {a.bytes} bytes back)")
    if bytes(got) != data:
        fail(f"halfclose: echo differs ({len(got)} of {a.bytes} bytes)")
    print(f"ok halfclose bytes={a.bytes} echoed then EOF", flush=True)


def cmd_reset(a):
    """Resets a connection while the server is echoing on it, then checks that a new connection is
    served. Cases that run this check afterwards that the reset connection was released (idle
    reports) and that the guest did not fault: a guest that fails later on the reset shows there."""
    reset_one(a.port, 100000, 5, a.timeout)
    s = connect(a.port, a.timeout)
    s.sendall(b"still alive")
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s, 100)
    if got != b"still alive":
        fail(f"reset: new connection after a reset got {got!r}")
    print("ok reset: server survives a peer reset", flush=True)


def reset_one(port, n, seed, timeout):
    """Sends n bytes and reads about a quarter of the echo, then resets: what the guest echoes after
    that, and what this side still had to send, is in flight when the RST goes out."""
    s = connect(port, timeout)
    try:
        data = pattern(n, seed)
        s.sendall(data[: n // 2])
        want, got = n // 4, 0
        while got < want:
            chunk = s.recv(min(65536, want - got))
            if not chunk:
                raise EOFError(f"EOF after {got} of {want} echoed bytes")
            got += len(chunk)
        s.setblocking(False)
        try:
            s.send(data[n // 2 :])  # as much as fits; the rest is never sent
        except BlockingIOError:
            pass
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()


def cmd_resets(a):
    errors = []
    for burst in range(a.bursts):
        def worker(i, burst=burst):
            try:
                reset_one(a.port, a.bytes, burst * a.conns + i, a.timeout)
            except (OSError, EOFError) as e:
                errors.append(f"burst {burst} connection {i}: {e!r}")
        run_concurrently(worker, a.conns)
        if errors:
            fail(f"resets: {len(errors)} connections failed before their reset: {errors[:3]}")
    s = connect(a.port, a.timeout)
    s.sendall(b"still serving")
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s, 100)
    if got != b"still serving":
        fail(f"resets: a connection after {a.bursts * a.conns} resets got {got!r}")
    print(f"ok resets: {a.bursts} bursts of {a.conns} connections reset mid-transfer; still serving",
          flush=True)


def cmd_refused(a):
    try:
        socket.create_connection((HOST, a.port), timeout=10).close()
    except ConnectionRefusedError:
        print(f"ok refused port={a.port}", flush=True)
        return
    fail(f"refused: something accepted on port {a.port}")


def http_read_response(f, head=False):
    """Reads one HTTP/1.1 response from file object f: (status, headers, body). A response to HEAD
    (head=True) has no body, whatever its Content-Length says."""
    line = f.readline()
    if not line:
        raise EOFError("connection closed before a status line")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(parts) < 2 or parts[0] != "HTTP/1.1":
        raise ValueError(f"bad status line {line!r}")
    status = int(parts[1])
    headers = {}
    while True:
        h = f.readline().decode("latin-1").rstrip("\r\n")
        if not h:
            break
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "-1"))
    if n < 0:
        raise ValueError("response without Content-Length")
    if head:
        return status, headers, b""
    body = f.read(n)
    if len(body) != n:
        raise EOFError(f"body cut at {len(body)} of {n} bytes")
    return status, headers, body


def http_get(port, paths, timeout):
    """GETs each path on one keep-alive connection; returns the responses."""
    s = connect(port, timeout)
    f = s.makefile("rb")
    out = []
    for p in paths:
        s.sendall(f"GET {p} HTTP/1.1\r\nHost: skiff\r\n\r\n".encode())
        out.append(http_read_response(f))
    s.close()
    return out


def cmd_hold(a):
    """Accepts two connections and holds them: reads the first one's "go" line, never reads the
    second, and waits to be killed (the peergone case kills it)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((HOST, a.port))
    srv.listen(8)
    print(f"ok serving hold on {a.port}", flush=True)
    first, _ = srv.accept()
    second, _ = srv.accept()
    line = first.makefile("rb").readline()
    print(f"hold: first connection said {line!r}; holding both", flush=True)
    time.sleep(a.timeout)
    fail(f"hold: not killed within {a.timeout}s ({second.fileno()} still open)")


def cmd_churn(a):
    """--cycles connect-echo-close cycles over --conns workers: each sends --bytes, reads the echo
    back in full and checks it, then closes. Fails at the first cycle that goes wrong. With
    --progress N, says on stderr how far it got after every N cycles."""
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "errors": []}
    data = pattern(a.bytes, "churn")
    start = time.monotonic()

    def worker(_):
        while True:
            with lock:
                if state["errors"] or state["next"] >= a.cycles:
                    return
                n = state["next"]
                state["next"] += 1
            try:
                with connect(a.port, a.timeout) as s:
                    s.sendall(data)
                    if recv_exact(s, a.bytes) != data:
                        raise ValueError("the echo differs from what was sent")
            except (OSError, EOFError, ValueError) as e:
                with lock:
                    state["errors"].append(f"cycle {n}: {e!r}")
                return
            with lock:
                state["done"] += 1
                done = state["done"]
            if a.progress and done % a.progress == 0:
                secs = time.monotonic() - start
                print(f"churn: {done} of {a.cycles} cycles done in {secs:.0f} s ({done / secs:.1f}/s)",
                      file=sys.stderr, flush=True)

    run_concurrently(worker, a.conns)
    secs = time.monotonic() - start
    if state["errors"]:
        fail(f"churn: {state['errors'][0]} (after {state['next']} cycles started)")
    print(f"ok churn cycles={a.cycles} workers={a.conns} bytes={a.bytes} secs={secs:.1f} "
          f"rate={a.cycles / secs:.1f}/s", flush=True)


def run_concurrently(worker, n):
    """Runs worker(0) .. worker(n - 1) in n threads at once and waits for all."""
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def expected_bytes(n):
    """The body of GET /bytes/n: the repeating alphabet."""
    alpha = b"abcdefghijklmnopqrstuvwxyz"
    return (alpha * (n // 26 + 1))[:n]


def cmd_http(a):
    checks = []
    (st, h, body), = http_get(a.port, ["/"], a.timeout)
    page = body
    if st != 200 or b"<html" not in body.lower() or "text/html" not in h.get("content-type", ""):
        fail(f"http: GET / gave {st} {h} {body[:80]!r}")
    checks.append("GET / 200 text/html")

    sizes = [0, 1, 1000, 1 << 20, 5 << 20]
    resp = http_get(a.port, [f"/bytes/{n}" for n in sizes], a.timeout)
    for n, (st, h, body) in zip(sizes, resp):
        if st != 200 or body != expected_bytes(n):
            fail(f"http: GET /bytes/{n} gave {st}, {len(body)} bytes")
    checks.append(f"keep-alive /bytes/{{{','.join(map(str, sizes))}}} on one connection")

    (st, _, _), = http_get(a.port, ["/nothing-here"], a.timeout)
    if st != 404:
        fail(f"http: GET /nothing-here gave {st}, not 404")
    checks.append("404")

    s = connect(a.port, a.timeout)
    s.sendall(b"NONSENSE\r\n\r\n")
    st, _, _ = http_read_response(s.makefile("rb"))
    if st != 400:
        fail(f"http: a malformed request gave {st}, not 400")
    checks.append("400")

    # Pipelined on one connection: HEAD / (no body), POST (405 with its body and Allow), HEAD of an
    # over-large /bytes (400 without a body), then GET / must still be answered in step.
    s = connect(a.port, a.timeout)
    s.sendall(b"HEAD / HTTP/1.1\r\nHost: skiff\r\n\r\n"
              b"POST / HTTP/1.1\r\nHost: skiff\r\nContent-Length: 0\r\n\r\n"
              b"HEAD /bytes/5000000000 HTTP/1.1\r\nHost: skiff\r\n\r\n"
              b"GET / HTTP/1.1\r\nHost: skiff\r\n\r\n")
    f = s.makefile("rb")
    st, h, _ = http_read_response(f, head=True)
    if st != 200 or h.get("content-length") != str(len(page)):
        fail(f"http: HEAD / gave {st} with Content-Length {h.get('content-length')}, "
             f"GET / has {len(page)} bytes")
    st, h, body = http_read_response(f)
    if st != 405 or h.get("allow") != "GET, HEAD" or not body:
        fail(f"http: POST / gave {st}, Allow {h.get('allow')!r}, body {body!r}")
    st, _, _ = http_read_response(f, head=True)
    if st != 400:
        fail(f"http: HEAD /bytes/5000000000 gave {st}, not 400")
    st, _, body = http_read_response(f)
    if st != 200 or body != page:
        fail(f"http: GET / after HEAD, POST and HEAD gave {st}, {len(body)} bytes")
    s.close()
    checks.append("pipelined HEAD, 405 with Allow, HEAD 400 then GET in step")

    errors = []

    def worker(i):
        try:
            n = 10000 + i
            for st, _, body in http_get(a.port, [f"/bytes/{n}", "/"], a.timeout):
                if st != 200:
                    errors.append(f"client {i}: status {st}")
            if http_get(a.port, [f"/bytes/{n}"], a.timeout)[0][2] != expected_bytes(n):
                errors.append(f"client {i}: wrong body")
        except Exception as e:  # noqa: BLE001 - report any failure of a client
            errors.append(f"client {i}: {e!r}")

    run_concurrently(worker, a.conns)
    if errors:
        fail(f"http: {len(errors)} of {a.conns} concurrent clients failed: {errors[:3]}")
    checks.append(f"{a.conns} concurrent clients")
    print("ok http: " + "; ".join(checks), flush=True)


def cmd_serve(a):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST, a.port))
    ls.listen(64)
    print(f"ok serving echo on {HOST}:{a.port}", flush=True)

    def handle(c):
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                c.sendall(d)

    while True:
        c, _ = ls.accept()
        t = threading.Thread(target=handle, args=(c,), daemon=True)
        t.start()
        if a.once:
            t.join()
            return


def rate_line(what, total, secs, extra=""):
    return f"ok {what} total={total} secs={secs:.3f} rate={total / secs / 1e6:.3f}MB/s{extra}"


def cmd_fetch(a):
    errors = []

    def worker(i):
        try:
            (st, _, body), = http_get(a.port, [f"/bytes/{a.bytes}"], a.timeout)
            want = expected_bytes(a.bytes)
            if st != 200 or body != want:
                at = next((k for k, (x, y) in enumerate(zip(body, want)) if x != y), min(len(body), len(want)))
                errors.append(f"connection {i}: status {st}, {len(body)} bytes, first difference at byte {at}: "
                              f"got {body[at:at + 12]!r}, expected {want[at:at + 12]!r}")
        except Exception as e:  # noqa: BLE001 - report any failure of a connection
            errors.append(f"connection {i}: {e!r}")

    start = time.monotonic()
    run_concurrently(worker, a.conns)
    secs = time.monotonic() - start
    if errors:
        fail(f"fetch: {len(errors)} of {a.conns} connections failed: {errors[:3]}")
    print(rate_line(f"fetch conns={a.conns} bytes={a.bytes}", a.conns * a.bytes, secs), flush=True)


def cmd_rounds(a):
    s = connect(a.port, a.timeout)
    data = pattern(a.bytes, "rounds")
    start = time.monotonic()
    done = 0
    while done < a.bytes:
        n = min(a.chunk, a.bytes - done)
        s.sendall(data[done:done + n])
        back = recv_exact(s, n)
        if back != data[done:done + n]:
            fail(f"rounds: echo differs in the round at byte {done}")
        done += n
    secs = time.monotonic() - start
    s.close()
    print(rate_line(f"rounds chunk={a.chunk} bytes={a.bytes}", a.bytes, secs), flush=True)


def cmd_pingpong(a):
    s = connect(a.port, a.timeout)
    data = pattern(a.bytes, "pingpong")
    lat = []
    for i in range(a.cycles):
        t = time.monotonic()
        s.sendall(data)
        if recv_exact(s, a.bytes) != data:
            fail(f"pingpong: echo {i} differs")
        lat.append(time.monotonic() - t)
    s.close()
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))] * 1e6

    print(f"ok pingpong cycles={a.cycles} bytes={a.bytes} p50={pct(0.50):.0f}us p99={pct(0.99):.0f}us "
          f"max={lat[-1] * 1e6:.0f}us", flush=True)


def bulk_pattern(n):
    """The first n bytes of every tests/apps/bulk stream: byte i is (j * 7 + (j >> 8)) mod 256 with
    j = i mod BULK_PERIOD (65521, a prime: the pattern repeats neither every 256 nor every 8 bytes)."""
    period = bytes((j * 7 + (j >> 8)) & 0xFF for j in range(BULK_PERIOD))
    return (period * (n // BULK_PERIOD + 1))[:n]


def bulk_sums(data):
    """(a, b, m) of tests/apps/bulk's checksum of data: its m little-endian u64 words w[k], the last
    padded with zero bytes, a = sum w[k] and b = sum (m - k) * w[k], both mod 2**64 (bulk adds
    a += w[k]; b += a word by word)."""
    words = array.array("Q", bytes(data) + bytes(-len(data) % 8))
    if sys.byteorder == "big":
        words.byteswap()
    m = len(words)
    return sum(words) % 2**64, sum(map(operator.mul, words, range(m, 0, -1))) % 2**64, m


def bulk_finish(a, b, n):
    """The checksum of n bytes from their sums: b + (a rotated left by 32 bits) + n, mod 2**64."""
    a %= 2**64
    return (b + ((a << 32 | a >> 32) & (2**64 - 1)) + n) % 2**64


def bulk_pattern_checksum(n):
    """tests/apps/bulk's checksum of bulk_pattern(n), what its R reply carries, in time independent of
    n (bulk_finish of bulk_sums of the whole pattern, computed by periods): the words repeat every
    BULK_PERIOD words, and X followed by Y (mY words) has a = aX + aY and b = bX + mY * aX + bY."""
    span = 8 * BULK_PERIOD
    q, r = divmod(n, span)
    pa, pb, pm = bulk_sums(bulk_pattern(span))
    qa, qb = q * pa, q * pb + pm * pa * (q * (q - 1) // 2)  # q periods, one after another
    ra, rb, rm = bulk_sums(bulk_pattern(r))
    return bulk_finish(qa + ra, qb + rm * qa + rb, n)


def cmd_bulk(a):
    """--streams concurrent connections to tests/apps/bulk, each moving --bytes of its pattern in
    direction --dir: to-guest sends them (command R) and checks the count and checksum bulk replies,
    from-guest asks for them (command S) and compares what arrives, up to EOF, with the pattern. The
    time runs from the first stream's command to the last stream's end (connections are open before)."""
    if a.dir is None:
        fail("bulk: give --dir to-guest or --dir from-guest")
    n = a.bytes
    # The stream from any offset o, BULK_CHUNK bytes at most: ext[o % BULK_PERIOD:].
    ext = memoryview(bulk_pattern(BULK_PERIOD + BULK_CHUNK))
    want_sum = bulk_pattern_checksum(n) if a.dir == "to-guest" else None
    conns = [connect(a.port, a.timeout) for _ in range(a.streams)]
    times = [None] * a.streams
    done = [0] * a.streams
    errors = []
    deadline = time.monotonic() + a.timeout

    def before_chunk(s):
        """Sets s's timeout to what is left of --timeout, or raises if nothing is."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"not done within {a.timeout}s")
        s.settimeout(left)

    def to_guest(i, s):
        s.sendall(b"R" + struct.pack("<Q", n))
        while done[i] < n:
            k = min(BULK_CHUNK, n - done[i])
            at = done[i] % BULK_PERIOD
            before_chunk(s)
            s.sendall(ext[at:at + k])
            done[i] += k
        before_chunk(s)
        count, checksum = struct.unpack("<QQ", recv_exact(s, 16))
        end = time.monotonic()
        if count != n:
            raise ValueError(f"bulk received {count} of the {n} bytes sent")
        if checksum != want_sum:
            raise ValueError(f"bulk's checksum is {checksum:#018x}, what was sent has {want_sum:#018x}")
        if s.recv(1):
            raise ValueError("bytes after the 16-byte reply")
        return end

    def from_guest(i, s):
        buf = bytearray(BULK_CHUNK)
        view = memoryview(buf)
        s.sendall(b"S" + struct.pack("<Q", n))
        while True:
            before_chunk(s)
            fill = 0
            while fill < BULK_CHUNK:
                k = s.recv_into(view[fill:])
                if not k:
                    break
                fill += k
            if done[i] + fill > n:
                raise ValueError(f"more than the {n} bytes asked for ({done[i] + fill} at least)")
            at = done[i] % BULK_PERIOD
            # bytearray == memoryview is one memcmp.
            if (buf if fill == BULK_CHUNK else buf[:fill]) != ext[at:at + fill]:
                d = next(j for j in range(fill) if buf[j] != ext[at + j])
                raise ValueError(f"byte {done[i] + d} is {buf[d]:#04x}, the pattern's is {ext[at + d]:#04x}")
            done[i] += fill
            if fill < BULK_CHUNK:
                break
        end = time.monotonic()
        if done[i] != n:
            raise EOFError(f"EOF after {done[i]} of {n} bytes")
        return end

    def worker(i):
        s = conns[i]
        try:
            with s:
                start = time.monotonic()
                end = (to_guest if a.dir == "to-guest" else from_guest)(i, s)
                times[i] = (start, end)
        except (OSError, EOFError, ValueError) as e:
            errors.append(f"stream {i} after {done[i]} of {n} bytes: {e!r}")

    run_concurrently(worker, a.streams)
    if errors:
        fail(f"bulk: {len(errors)} of {a.streams} streams {a.dir} failed: {errors[:3]}")
    secs = max(t[1] for t in times) - min(t[0] for t in times)
    print(rate_line(f"bulk dir={a.dir} streams={a.streams} bytes={n}", a.streams * n, max(secs, 1e-9),
                    " verified"), flush=True)


def cmd_firstconnect(a):
    # Started before the guest or process it waits for, so neither an interpreter's start nor a
    # shell's fork per attempt is counted: a boot figure is off by at most one 10 ms pause.
    print("ready", flush=True)
    end = time.monotonic() + a.timeout
    while time.monotonic() < end:
        try:
            # A Linux guest's address answers nothing until its interface is up: the attempt waits
            # on ARP, at most a second, and is then made again.
            with socket.create_connection((HOST, a.port), timeout=1.0):
                print(f"ok firstconnect at {time.time():.6f}", flush=True)
                return
        except OSError:
            time.sleep(0.01)
    fail(f"firstconnect: nothing accepted on {HOST}:{a.port} within {a.timeout} s")


def cmd_serve_http(a):
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - the http.server name
            if not self.path.startswith("/bytes/") or not self.path[7:].isdigit():
                self.send_error(404)
                return
            body = expected_bytes(int(self.path[7:]))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer((HOST, a.port), Handler)
    print(f"ok serving http on {HOST}:{a.port}", flush=True)
    srv.serve_forever()


def recv_exact(s, n):
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            raise EOFError(f"EOF after {len(got)} of {n} bytes")
        got += chunk
    return bytes(got)


def cmd_nettest_peer(a):
    done = []
    step = "connect 1"
    try:
        deadline = time.monotonic() + a.timeout
        while True:
            try:
                s1 = connect(a.port, a.timeout)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        done.append(step)
        step = "connection 1: wait for the guest's G"
        if (got := recv_exact(s1, 1)) != b"G":
            fail(f"nettest-peer: {step}: got {got!r}")
        s1.sendall(NETTEST_FIRST)
        done.append("connection 1: G, data sent")
        step = "connection 1: wait for the guest's A"
        if (got := recv_exact(s1, 1)) != b"A":
            fail(f"nettest-peer: {step}: got {got!r}")
        s1.close()
        done.append("connection 1: A, closed")
        step = "connect 2 and 3, send on 3"
        s2 = connect(a.port, a.timeout)
        s3 = connect(a.port, a.timeout)
        s3.sendall(NETTEST_THIRD)
        done.append(step)
        for i, s in ((2, s2), (3, s3)):
            step = f"connection {i}: wait for EOF"
            if got := recv_all(s, 100):
                fail(f"nettest-peer: {step}: got {got!r} before EOF")
            s.close()
            done.append(f"connection {i}: EOF")
        step = "connection 4: wait for the guest's R"
        s4 = connect(a.port, a.timeout)
        if (got := recv_exact(s4, 1)) != b"R":
            fail(f"nettest-peer: {step}: got {got!r}")
        s4.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s4.close()
        done.append("connection 4: R, reset")
    except (OSError, EOFError) as e:
        fail(f"nettest-peer: {step}: {e!r} (done: {'; '.join(done) or 'nothing'})")
    print(f"ok nettest-peer port={a.port}: {'; '.join(done)}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", choices=["echo", "halfclose", "reset", "resets", "http", "refused", "serve", "nettest-peer",
                                   "fetch", "rounds", "pingpong", "serve-http", "churn", "hold", "bulk", "firstconnect"])
    p.add_argument("port", type=int)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--bytes", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--once", action="store_true")
    p.add_argument("--chunk", type=int, default=16384)
    p.add_argument("--bursts", type=int, default=1)
    p.add_argument("--cycles", type=int, default=1000)
    p.add_argument("--progress", type=int, default=0)
    p.add_argument("--streams", type=int, default=1)
    p.add_argument("--dir", choices=["to-guest", "from-guest"])
    a = p.parse_args()
    try:
        globals()["cmd_" + a.cmd.replace("-", "_")](a)
    except (OSError, ValueError, EOFError) as e:
        fail(f"{a.cmd}: {e!r}")


if __name__ == "__main__":
    main()
