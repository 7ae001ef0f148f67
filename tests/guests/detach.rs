//! `detach`: checks that sockets fail, and nothing hangs, when dom0's PV Calls backend goes away.
//!
//! Arguments: `peer=PORT` (a dom0 echo server listens there) and
//! `listen=PORT`. The guest connects to the peer, checks an echo, listens
//! on `0.0.0.0:listen`, prints `detach: ready` and waits in `poll` on both
//! sockets while dom0 removes the device as libxl does (backend `online` 0,
//! `state` Closing; `tests/xen/detach.sh`). The kernel then fails every
//! socket and closes its end, and Linux's backend unmaps the rings and goes
//! Closed. Every call on the sockets must fail with `ECONNABORTED`, new
//! sockets with `ENETDOWN`, and closing them must give back every ring,
//! grant and event channel with nothing leaked. Prints one line per check,
//! then `detach: PASS n/n` (exit 0) or `detach: FAIL ...` (exit 1).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use core::net::Ipv4Addr;

use skiff::checks::{Check, ensure, expect_err};
use skiff::net::posix::consts::*;
use skiff::net::posix::{Fd, PollFd};
use skiff::net::{Errno, FdTable, Kernel, SockAddr};
use skiff::sys::xenstore;
use skiff::time::Instant;

skiff::main!(main);

/// How long the guest waits for the backend to go, in ms.
const WAIT_MS: i32 = 180_000;
const PING: &[u8] = b"detach: ping\n";

struct Ctx {
    net: FdTable,
    peer: u16,
    listen: u16,
    conn: Fd,
    listener: Fd,
}

type NamedCheck = (&'static str, fn(&mut Ctx) -> Check);

fn main() -> i32 {
    let args = skiff::args();
    let port = |key: &str| args.get(key).and_then(|v| v.parse::<u16>().ok());
    let (Some(peer), Some(listen)) = (port("peer"), port("listen")) else {
        skiff::println!("detach: needs peer=PORT listen=PORT");
        return 2;
    };
    let mut ctx = Ctx { net: FdTable::new(Kernel), peer, listen, conn: -1, listener: -1 };
    let checks: [NamedCheck; 6] = [
        ("sockets work while the backend is there", before),
        ("poll wakes up when the backend goes", backend_goes),
        ("xenstore shows both ends Closed", both_closed),
        ("calls on open sockets give ECONNABORTED", open_sockets_fail),
        ("new sockets give ENETDOWN", new_sockets_fail),
        ("close gives back every data ring", close_releases),
    ];
    skiff::checks::report("detach", checks.into_iter().map(|(name, f)| (name, f(&mut ctx))))
}

/// Connects to the peer and checks an echo; listens on `listen`.
fn before(ctx: &mut Ctx) -> Check {
    let net = &mut ctx.net;
    let conn = net.socket(AF_INET, SOCK_STREAM, 0).map_err(|e| format!("socket: {e}"))?;
    net.connect(conn, &SockAddr::new(Ipv4Addr::LOCALHOST, ctx.peer))
        .map_err(|e| format!("connect to dom0 port {}: {e}", ctx.peer))?;
    ctx.conn = conn;
    let sent = net.send(conn, PING, 0).map_err(|e| format!("send: {e}"))?;
    ensure(sent == PING.len(), || format!("sent {sent} of {} bytes", PING.len()))?;
    let mut got = [0u8; PING.len()];
    let mut n = 0;
    while n < got.len() {
        match net.recv(conn, &mut got[n..], 0) {
            Ok(0) => return Err(format!("EOF after {n} bytes of the echo")),
            Ok(k) => n += k,
            Err(e) => return Err(format!("recv: {e}")),
        }
    }
    ensure(got == PING, || format!("echo was {got:?}"))?;
    let listener =
        net.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).map_err(|e| format!("socket: {e}"))?;
    net.bind(listener, &SockAddr::new(Ipv4Addr::UNSPECIFIED, ctx.listen))
        .map_err(|e| format!("bind: {e}"))?;
    net.listen(listener, 8).map_err(|e| format!("listen: {e}"))?;
    ctx.listener = listener;
    Ok(format!("echo from dom0 port {}, listening on {}", ctx.peer, ctx.listen))
}

/// Prints `detach: ready` and polls both sockets until the backend goes.
fn backend_goes(ctx: &mut Ctx) -> Check {
    ensure(ctx.conn >= 0 && ctx.listener >= 0, || "no sockets (an earlier check failed)".into())?;
    skiff::println!("detach: ready");
    let start = Instant::now();
    let mut fds = [PollFd::new(ctx.conn, POLLIN), PollFd::new(ctx.listener, POLLIN)];
    let n = ctx.net.poll(&mut fds, WAIT_MS).map_err(|e| format!("poll: {e}"))?;
    let ms = start.elapsed().as_millis();
    let (c, l) = (fds[0].revents, fds[1].revents);
    ensure(n == 2 && c & POLLERR != 0 && l & POLLERR != 0, || {
        format!(
            "after {ms} ms poll gave {n} ready, revents {c:#x} and {l:#x}; expected POLLERR on both"
        )
    })?;
    Ok(format!("after {ms} ms: connection revents {c:#x}, listener {l:#x}"))
}

/// The kernel closed its end (Closed, 6) and waited for Linux's backend to
/// disconnect and be Closed too.
fn both_closed(_: &mut Ctx) -> Check {
    let read = |path: &str| xenstore::read(path).map_err(|e| format!("read {path}: {e}"));
    let front = read("device/pvcalls/0/state")?;
    let backend = read("device/pvcalls/0/backend")?;
    let back = read(&format!("{backend}/state"))?;
    ensure(front == "6" && back == "6", || format!("frontend state {front}, backend {back}"))?;
    Ok(format!("frontend and {backend} in state 6"))
}

fn open_sockets_fail(ctx: &mut Ctx) -> Check {
    let net = &mut ctx.net;
    expect_err("recv", net.recv(ctx.conn, &mut [0u8; 16], 0), Errno::ECONNABORTED)?;
    expect_err("send", net.send(ctx.conn, b"x", 0), Errno::ECONNABORTED)?;
    expect_err("accept", net.accept(ctx.listener), Errno::ECONNABORTED)?;
    Ok("recv, send and accept".into())
}

fn new_sockets_fail(ctx: &mut Ctx) -> Check {
    expect_err("socket", ctx.net.socket(AF_INET, SOCK_STREAM, 0), Errno::ENETDOWN)?;
    Ok("socket gave ENETDOWN".into())
}

/// Closing both sockets must end their grants, free their pages and close
/// their ports (the command ring went when the backend closed): the backend
/// unmapped everything first, so nothing may be leaked.
fn close_releases(ctx: &mut Ctx) -> Check {
    ctx.net.close(ctx.conn).map_err(|e| format!("close(conn): {e}"))?;
    ctx.net.close(ctx.listener).map_err(|e| format!("close(listener): {e}"))?;
    let u = skiff::net::usage::usage().ok_or("networking never came up")?;
    let r = u.frontend;
    let held = (r.sockets, r.req_ids, r.grants, r.pages, r.ports);
    ensure(held == (0, 0, 0, 0, 0), || format!("still held: {u}"))?;
    ensure(r.leaked_pages == 0 && r.leaked_grants == 0, || format!("leaked: {u}"))?;
    ensure(u.matches_kernel(), || format!("frontend and kernel differ: {u}"))?;
    Ok(format!("{u}"))
}
