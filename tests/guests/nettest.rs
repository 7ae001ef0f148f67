//! `nettest`: checks the socket API's errnos, listener and `poll()` against dom0's real `pvcalls-back`.
//!
//! Arguments: `busy=PORT` (a dom0 process listens there), `closed=PORT`
//! (nothing listens there), `listen=PORT` (the guest listens there and
//! `tests/xen/peers.py nettest-peer PORT` connects, once the guest printed
//! `nettest: listening on 0.0.0.0:PORT`). Prints one line per check, then
//! `nettest: PASS n/n` (exit 0) or `nettest: FAIL k/n checks failed` (exit 1).
//!
//! The exchange with the peer, in order: connection 1 is accepted; the
//! guest sends `G`, the peer answers [`FIRST_DATA`]; the guest sends `A`,
//! the peer closes. Then the peer opens connections 2 and 3 and sends
//! [`THIRD_DATA`] on connection 3 only; the guest closes both and the peer
//! expects EOF on each. Then the peer opens connection 4; the guest sends
//! [`RESET_ME`], the peer resets the connection (`SO_LINGER` 0) and the
//! guest, idle on it, must see the reset.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use skiff::checks::{Check, ensure, expect_err};
use skiff::net::posix::consts::*;
use skiff::net::posix::{Fd, PollFd};
use skiff::net::{Errno, FdTable, Kernel, SockAddr};
use skiff::time::Instant;

skiff::main!(main);

/// What the peer sends on connection 1 (`NETTEST_FIRST` in peers.py).
const FIRST_DATA: &[u8] = b"nettest: first connection from dom0\n";
/// What the peer sends on connection 3 (`NETTEST_THIRD` in peers.py).
const THIRD_DATA: &[u8] = b"nettest: third connection from dom0\n";
/// Guest to peer on connection 1: send the data now.
const GO: &[u8] = b"G";
/// Guest to peer on connection 1: data received, close now.
const ACK: &[u8] = b"A";
/// Guest to peer on connection 4: accepted, reset it now.
const RESET_ME: &[u8] = b"R";
/// fds that are never opened (`FdTable` hands out the lowest free fd).
const NEVER_OPENED: [Fd; 2] = [-1, 999];
/// Timeout of the polls that must find nothing, in ms.
const IDLE_MS: i32 = 200;
/// Timeout of the polls that wait for the peer, in ms.
const WAIT_MS: i32 = 60_000;

type NamedCheck = (&'static str, fn(&mut Ctx) -> Check);

/// What the checks share: the fd table, the ports, and the fds later checks use.
struct Ctx {
    net: FdTable,
    busy: u16,
    closed: u16,
    listen: u16,
    listener: Option<Fd>,
    /// The peer's connection 1.
    first: Option<Fd>,
    /// The peer's connections 2 and 3, in the order accepted.
    pair: Vec<Fd>,
}

fn port_arg(key: &str) -> Option<u16> {
    skiff::args().get(key)?.parse().ok()
}

fn main() -> i32 {
    let (Some(busy), Some(closed), Some(listen)) =
        (port_arg("busy"), port_arg("closed"), port_arg("listen"))
    else {
        skiff::println!("nettest: need busy=PORT closed=PORT listen=PORT");
        return 2;
    };
    let mut ctx = Ctx {
        net: FdTable::new(Kernel),
        busy,
        closed,
        listen,
        listener: None,
        first: None,
        pair: Vec::new(),
    };
    let checks: [NamedCheck; 14] = [
        ("connect to a closed port", closed_port),
        ("bind to a port dom0 listens on", busy_port),
        ("fds never opened give EBADF", never_opened),
        ("a closed fd gives EBADF", closed_fd),
        ("unsupported families and types", unsupported),
        ("an idle listener polls not ready", idle_listener),
        ("a connection makes the listener readable", listener_readable),
        ("non-blocking accept", nonblocking_accept),
        ("recv on an idle stream gives EAGAIN", idle_stream),
        ("data from dom0 makes the stream readable", stream_data),
        ("dom0 closing makes the stream readable at EOF", stream_eof),
        ("poll over several fds reports only the one with data", poll_many),
        ("a peer's reset reaches an idle stream", peer_reset),
        ("close releases every fd", close_all),
    ];
    skiff::checks::report("nettest", checks.into_iter().map(|(name, f)| (name, f(&mut ctx))))
}

/// An fd an earlier check should have left.
fn need(fd: Option<Fd>, what: &str) -> Result<Fd, String> {
    fd.ok_or_else(|| format!("no {what} (an earlier check failed)"))
}

fn tcp_socket(net: &mut FdTable) -> Result<Fd, String> {
    net.socket(AF_INET, SOCK_STREAM, 0).map_err(|e| match skiff::net::down_reason() {
        Some(why) => format!("socket: {e}: {why}"),
        None => format!("socket: {e}"),
    })
}

/// `poll` on one fd: how many fds were ready and its `revents`.
fn poll1(net: &mut FdTable, fd: Fd, events: i16, timeout_ms: i32) -> Result<(usize, i16), String> {
    let mut p = [PollFd::new(fd, events)];
    let n = net.poll(&mut p, timeout_ms).map_err(|e| format!("poll: {e}"))?;
    Ok((n, p[0].revents))
}

/// Waits up to [`WAIT_MS`] until `fd` reports exactly `want` of `events`;
/// returns how long that took in ms.
fn wait_for(net: &mut FdTable, fd: Fd, events: i16, want: i16) -> Result<u128, String> {
    let start = Instant::now();
    let (n, revents) = poll1(net, fd, events, WAIT_MS)?;
    let ms = start.elapsed().as_millis();
    ensure(n == 1 && revents == want, || {
        format!("poll gave {n} ready, revents {revents:#x} after {ms} ms; expected {want:#x}")
    })?;
    Ok(ms)
}

/// A poll of `fd` with [`IDLE_MS`] must time out with nothing ready.
fn expect_idle(net: &mut FdTable, fd: Fd, events: i16) -> Result<u128, String> {
    let start = Instant::now();
    let (n, revents) = poll1(net, fd, events, IDLE_MS)?;
    let ms = start.elapsed().as_millis();
    ensure(n == 0 && revents == 0, || format!("poll gave {n} ready, revents {revents:#x}"))?;
    ensure(ms >= IDLE_MS as u128, || format!("poll returned 0 after {ms} ms, before its timeout"))?;
    Ok(ms)
}

/// Reads exactly `n` bytes, waiting with `poll` (blocking or not alike).
fn read_n(net: &mut FdTable, fd: Fd, n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        wait_for(net, fd, POLLIN, POLLIN)?;
        match net.recv(fd, &mut buf[got..], MSG_DONTWAIT) {
            Ok(0) => return Err(format!("EOF after {got} of {n} bytes")),
            Ok(k) => got += k,
            Err(e) => return Err(format!("recv after {got} of {n} bytes: {e}")),
        }
    }
    Ok(buf)
}

/// `send`, `recv`, `accept` and `close` on `fd` give `EBADF`; `poll`
/// reports `POLLNVAL` (and skips a negative fd, as documented).
fn expect_not_open(net: &mut FdTable, fd: Fd) -> Result<(), String> {
    expect_err(&format!("send({fd})"), net.send(fd, b"x", 0), Errno::EBADF)?;
    expect_err(&format!("recv({fd})"), net.recv(fd, &mut [0u8; 8], 0), Errno::EBADF)?;
    expect_err(&format!("accept({fd})"), net.accept(fd), Errno::EBADF)?;
    expect_err(&format!("close({fd})"), net.close(fd), Errno::EBADF)?;
    let want = if fd < 0 { (0, 0) } else { (1, POLLNVAL) };
    let got = poll1(net, fd, POLLIN, 0)?;
    ensure(got == want, || format!("poll({fd}) gave (ready, revents) {got:?}, expected {want:?}"))
}

/// Check 1: nothing listens on `closed`: connect is refused.
fn closed_port(ctx: &mut Ctx) -> Check {
    let fd = tcp_socket(&mut ctx.net)?;
    let addr = SockAddr::new(Ipv4Addr::LOCALHOST, ctx.closed);
    let r = ctx.net.connect(fd, &addr);
    ctx.net.close(fd).map_err(|e| format!("close: {e}"))?;
    expect_err(&format!("connect to {}", addr.addr()), r, Errno::ECONNREFUSED)?;
    Ok(format!("{} gave ECONNREFUSED", addr.addr()))
}

/// Check 2: dom0 listens on `busy`: bind (or listen) on it gives `EADDRINUSE`.
fn busy_port(ctx: &mut Ctx) -> Check {
    let fd = tcp_socket(&mut ctx.net)?;
    let addr = SockAddr::new(Ipv4Addr::UNSPECIFIED, ctx.busy);
    let r = match ctx.net.bind(fd, &addr) {
        Err(e) => Err(("bind", e)),
        Ok(()) => ctx.net.listen(fd, 8).map_err(|e| ("listen", e)),
    };
    ctx.net.close(fd).map_err(|e| format!("close: {e}"))?;
    match r {
        Err((call, Errno::EADDRINUSE)) => Ok(format!("{call} on {} gave EADDRINUSE", addr.addr())),
        Err((call, e)) => Err(format!("{call} on {} gave {e}, expected EADDRINUSE", addr.addr())),
        Ok(()) => Err(format!("bind and listen on {} succeeded", addr.addr())),
    }
}

/// Check 3: fds that were never opened.
fn never_opened(ctx: &mut Ctx) -> Check {
    for fd in NEVER_OPENED {
        expect_not_open(&mut ctx.net, fd)?;
    }
    Ok(format!(
        "send, recv, accept, close on fds {NEVER_OPENED:?}: EBADF; poll: POLLNVAL for fd >= 0"
    ))
}

/// Check 4: an fd after `close`.
fn closed_fd(ctx: &mut Ctx) -> Check {
    let fd = tcp_socket(&mut ctx.net)?;
    ctx.net.close(fd).map_err(|e| format!("close: {e}"))?;
    expect_not_open(&mut ctx.net, fd)?;
    Ok(format!("send, recv, accept, close on closed fd {fd}: EBADF; poll: POLLNVAL"))
}

/// Check 5: only IPv4 TCP exists: other families and `SOCK_DGRAM` are refused
/// with the errnos `posix::consts` documents, and no fd is used up.
fn unsupported(ctx: &mut Ctx) -> Check {
    let before = ctx.net.open_fds();
    let cases = [
        ("AF_INET6", AF_INET6, SOCK_STREAM, Errno::EAFNOSUPPORT),
        ("AF_UNIX", AF_UNIX, SOCK_STREAM, Errno::EAFNOSUPPORT),
        ("SOCK_DGRAM", AF_INET, SOCK_DGRAM, Errno::ESOCKTNOSUPPORT),
    ];
    for (what, domain, ty, want) in cases {
        expect_err(&format!("socket({what})"), ctx.net.socket(domain, ty, 0), want)?;
    }
    ensure(ctx.net.open_fds() == before, || format!("{} fds open after", ctx.net.open_fds()))?;
    Ok("AF_INET6, AF_UNIX: EAFNOSUPPORT; SOCK_DGRAM: ESOCKTNOSUPPORT".into())
}

/// Check 6: a listener nobody connects to: a 200 ms poll finds nothing.
fn idle_listener(ctx: &mut Ctx) -> Check {
    let fd = tcp_socket(&mut ctx.net)?;
    let addr = SockAddr::new(Ipv4Addr::UNSPECIFIED, ctx.listen);
    ctx.net.bind(fd, &addr).map_err(|e| format!("bind {}: {e}", addr.addr()))?;
    ctx.net.listen(fd, 8).map_err(|e| format!("listen: {e}"))?;
    ctx.listener = Some(fd);
    let ms = expect_idle(&mut ctx.net, fd, POLLIN)?;
    Ok(format!("listening on {}; poll gave 0 ready after {ms} ms", addr.addr()))
}

/// Check 7: the peer's connection 1 makes the listener readable.
fn listener_readable(ctx: &mut Ctx) -> Check {
    let l = need(ctx.listener, "listener")?;
    skiff::println!("nettest: listening on 0.0.0.0:{}", ctx.listen);
    let ms = wait_for(&mut ctx.net, l, POLLIN, POLLIN)?;
    Ok(format!("POLLIN after {ms} ms"))
}

/// Check 8: on an `O_NONBLOCK` listener, accept takes connection 1, then gives
/// `EAGAIN`.
fn nonblocking_accept(ctx: &mut Ctx) -> Check {
    let l = need(ctx.listener, "listener")?;
    ctx.net.fcntl(l, F_SETFL, O_NONBLOCK).map_err(|e| format!("fcntl(F_SETFL): {e}"))?;
    let fl = ctx.net.fcntl(l, F_GETFL, 0).map_err(|e| format!("fcntl(F_GETFL): {e}"))?;
    ensure(fl == O_NONBLOCK, || format!("F_GETFL gave {fl:#o} after setting O_NONBLOCK"))?;
    let (fd, peer) = ctx.net.accept(l).map_err(|e| format!("first accept: {e}"))?;
    ctx.first = Some(fd);
    ensure(peer.is_none(), || format!("accept reported a peer address {peer:?}"))?;
    expect_err("second accept", ctx.net.accept(l), Errno::EAGAIN)?;
    Ok(format!("accepted fd {fd}, then EAGAIN"))
}

/// Check 9: connection 1 before the peer sends: poll finds nothing, and recv
/// gives `EAGAIN` with `MSG_DONTWAIT` and with `O_NONBLOCK`.
fn idle_stream(ctx: &mut Ctx) -> Check {
    let s = need(ctx.first, "connection 1")?;
    let ms = expect_idle(&mut ctx.net, s, POLLIN | POLLRDHUP)?;
    let mut buf = [0u8; 16];
    expect_err("recv(MSG_DONTWAIT)", ctx.net.recv(s, &mut buf, MSG_DONTWAIT), Errno::EAGAIN)?;
    ctx.net.fcntl(s, F_SETFL, O_NONBLOCK).map_err(|e| format!("fcntl(F_SETFL): {e}"))?;
    let r = ctx.net.recv(s, &mut buf, 0);
    ctx.net.fcntl(s, F_SETFL, 0).map_err(|e| format!("fcntl(F_SETFL): {e}"))?;
    expect_err("recv on O_NONBLOCK", r, Errno::EAGAIN)?;
    Ok(format!("poll gave 0 ready after {ms} ms; MSG_DONTWAIT and O_NONBLOCK recv: EAGAIN"))
}

/// Check 10: the guest sends `G`; the peer's answer makes the stream readable
/// (not `POLLRDHUP`: the peer keeps it open) and recv returns exactly it.
fn stream_data(ctx: &mut Ctx) -> Check {
    let s = need(ctx.first, "connection 1")?;
    let n = ctx.net.send(s, GO, 0).map_err(|e| format!("send: {e}"))?;
    ensure(n == GO.len(), || format!("send queued {n} of {} bytes", GO.len()))?;
    let ms = wait_for(&mut ctx.net, s, POLLIN | POLLRDHUP, POLLIN)?;
    let got = read_n(&mut ctx.net, s, FIRST_DATA.len())?;
    ensure(got == FIRST_DATA, || format!("received {got:?}"))?;
    expect_err(
        "recv after the data",
        ctx.net.recv(s, &mut [0u8; 16], MSG_DONTWAIT),
        Errno::EAGAIN,
    )?;
    Ok(format!("POLLIN after {ms} ms, {} bytes as sent, then EAGAIN", got.len()))
}

/// Check 11: the guest sends `A`; the peer's close shows as `POLLIN|POLLRDHUP`
/// (the peer finished sending; `POLLHUP` is for no connection), recv
/// returns 0 (and again), and the closed stream's fd is gone.
fn stream_eof(ctx: &mut Ctx) -> Check {
    let s = need(ctx.first, "connection 1")?;
    let n = ctx.net.send(s, ACK, 0).map_err(|e| format!("send: {e}"))?;
    ensure(n == ACK.len(), || format!("send queued {n} of {} bytes", ACK.len()))?;
    let ms = wait_for(&mut ctx.net, s, POLLIN | POLLRDHUP, POLLIN | POLLRDHUP)?;
    for i in 1..=2 {
        let r = ctx.net.recv(s, &mut [0u8; 16], MSG_DONTWAIT);
        ensure(r == Ok(0), || format!("recv {i} at EOF gave {r:?}, expected Ok(0)"))?;
    }
    ctx.net.close(s).map_err(|e| format!("close: {e}"))?;
    ctx.first = None;
    expect_not_open(&mut ctx.net, s)?;
    Ok(format!("POLLIN|POLLRDHUP after {ms} ms, recv 0 twice, closed"))
}

/// Check 12: connections 2 and 3 (accepted `SOCK_NONBLOCK`): a poll over the
/// listener and both reports only the stream the peer sent on; the other
/// gives `EAGAIN`.
fn poll_many(ctx: &mut Ctx) -> Check {
    let l = need(ctx.listener, "listener")?;
    for _ in 0..2 {
        if let Err(e) = wait_for(&mut ctx.net, l, POLLIN, POLLIN) {
            let accept = match ctx.net.accept4(l, SOCK_NONBLOCK) {
                Ok((fd, _)) => format!("accepted fd {fd}"),
                Err(e) => format!("gave {e}"),
            };
            return Err(format!("listener: {e}; accept then {accept}"));
        }
        let (fd, _) = ctx.net.accept4(l, SOCK_NONBLOCK).map_err(|e| format!("accept4: {e}"))?;
        ctx.pair.push(fd);
    }
    let mut fds = [l, ctx.pair[0], ctx.pair[1]].map(|fd| PollFd::new(fd, POLLIN));
    let n = ctx.net.poll(&mut fds, WAIT_MS).map_err(|e| format!("poll: {e}"))?;
    let revents = fds.map(|p| p.revents);
    let Some(k) = [1, 2].into_iter().find(|&k| revents[k] == POLLIN) else {
        return Err(format!("poll gave {n} ready, revents {revents:x?}: no stream readable"));
    };
    let silent = 3 - k;
    ensure(n == 1 && revents[0] == 0 && revents[silent] == 0, || {
        format!("poll gave {n} ready, revents {revents:x?} for listener and streams")
    })?;
    let got = read_n(&mut ctx.net, fds[k].fd, THIRD_DATA.len())?;
    ensure(got == THIRD_DATA, || format!("received {got:?}"))?;
    let r = ctx.net.recv(fds[silent].fd, &mut [0u8; 16], 0);
    expect_err("recv on the silent SOCK_NONBLOCK stream", r, Errno::EAGAIN)?;
    // The peer waits for EOF on both before it opens connection 4.
    for fd in ctx.pair.drain(..) {
        ctx.net.close(fd).map_err(|e| format!("close({fd}): {e}"))?;
    }
    Ok(format!(
        "of fds {:?} only {} (accepted {}) reported POLLIN; its data as sent; the other EAGAIN",
        fds.map(|p| p.fd),
        fds[k].fd,
        if k == 1 { "first" } else { "second" }
    ))
}

/// Check 13: connection 4 is reset by the peer while the guest has nothing to
/// read on it: the poll that waits on it reports the end of the connection
/// (`POLLIN|POLLERR|POLLHUP|POLLRDHUP`, as Linux), recv gives
/// `ECONNRESET`, and so does send (the backend itself may never report the
/// reset on `out`; Linux reports it once, so its send would give `EPIPE`
/// here). The backend reports a reset only by notifying the
/// frontend; it reads the socket, and finds the error, once the frontend
/// answers (`Options::answer_events`).
fn peer_reset(ctx: &mut Ctx) -> Check {
    let l = need(ctx.listener, "listener")?;
    wait_for(&mut ctx.net, l, POLLIN, POLLIN).map_err(|e| format!("listener: {e}"))?;
    let (fd, _) = ctx.net.accept4(l, 0).map_err(|e| format!("accept4: {e}"))?;
    ctx.pair.push(fd);
    ctx.net.send(fd, RESET_ME, 0).map_err(|e| format!("send: {e}"))?;
    let ended = POLLIN | POLLERR | POLLHUP | POLLRDHUP;
    let ms = wait_for(&mut ctx.net, fd, POLLIN | POLLRDHUP, ended)?;
    expect_err("recv after the reset", ctx.net.recv(fd, &mut [0u8; 8], 0), Errno::ECONNRESET)?;
    expect_err("send after the reset", ctx.net.send(fd, b"late", 0), Errno::ECONNRESET)?;
    Ok(format!("POLLIN|POLLERR|POLLHUP|POLLRDHUP after {ms} ms, recv and send ECONNRESET"))
}

/// Check 14: closing what is left (connection 4), the listener and anything
/// an earlier failed check left open leaves no fd open.
fn close_all(ctx: &mut Ctx) -> Check {
    let fds: Vec<Fd> = ctx.first.take().into_iter().chain(ctx.pair.drain(..)).collect();
    let closed = fds.len();
    let listener = ctx.listener.take();
    for fd in fds.into_iter().chain(listener) {
        ctx.net.close(fd).map_err(|e| format!("close({fd}): {e}"))?;
    }
    need(listener, "listener")?;
    let open = ctx.net.open_fds();
    ensure(open == 0, || format!("{open} fds still open"))?;
    Ok(format!("{closed} connections and the listener closed, no fd open"))
}
