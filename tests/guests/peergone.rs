//! `peergone`: checks that a guest's waits end with an error, and nothing leaks, when the dom0 process it talks to dies.
//!
//! Argument: `peer=PORT`, where `peers.py hold` listens in dom0. The guest
//! opens two connections: on the first it sends `go` and waits to read; on
//! the second it sends until its data ring and dom0's socket buffer are
//! full (the peer never reads it). It prints `peergone: ready` and waits
//! in `poll` on both (readable on the first, writable on the second) while
//! dom0 kills the peer (`tests/xen/peergone.sh`). dom0's kernel then
//! closes both sockets (a reset for the one with unread data): the wait
//! must end, each connection must report the end (EOF or an errno, never
//! a hang), and closing them must give back every ring, grant and event
//! channel. Prints one line per check, then `peergone: PASS n/n` (exit 0)
//! or `peergone: FAIL ...` (exit 1).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use core::net::Ipv4Addr;
use core::time::Duration;

use skiff::checks::{Check, ensure};
use skiff::net::posix::consts::*;
use skiff::net::posix::{Fd, PollFd};
use skiff::net::{Errno, FdTable, Kernel, SockAddr};
use skiff::time::Instant;

skiff::main!(main);

/// How long the guest waits for the peer to die, in ms.
const WAIT_MS: i32 = 120_000;
/// Longest the sockets may take to be released after close (a closed
/// connection's last bytes get up to 30 s to drain).
const RELEASE_WAIT: Duration = Duration::from_secs(45);

struct Ctx {
    net: FdTable,
    peer: u16,
    reader: Fd,
    writer: Fd,
}

type NamedCheck = (&'static str, fn(&mut Ctx) -> Check);

fn main() -> i32 {
    let Some(peer) = skiff::args().get("peer").and_then(|v| v.parse::<u16>().ok()) else {
        skiff::println!("peergone: needs peer=PORT");
        return 2;
    };
    let mut ctx = Ctx { net: FdTable::new(Kernel), peer, reader: -1, writer: -1 };
    let checks: [NamedCheck; 4] = [
        ("two connections: one waits to read, one has filled what dom0 takes", connect_both),
        ("poll wakes when the peer dies", peer_dies),
        ("each connection reports the end", ends_reported),
        ("close gives back every data ring", close_releases),
    ];
    skiff::checks::report("peergone", checks.into_iter().map(|(name, f)| (name, f(&mut ctx))))
}

fn connect(ctx: &mut Ctx) -> Result<Fd, alloc::string::String> {
    let net = &mut ctx.net;
    let fd = net.socket(AF_INET, SOCK_STREAM, 0).map_err(|e| format!("socket: {e}"))?;
    net.connect(fd, &SockAddr::new(Ipv4Addr::LOCALHOST, ctx.peer))
        .map_err(|e| format!("connect to dom0 port {}: {e}", ctx.peer))?;
    Ok(fd)
}

fn connect_both(ctx: &mut Ctx) -> Check {
    ctx.reader = connect(ctx)?;
    ctx.writer = connect(ctx)?;
    let net = &mut ctx.net;
    net.send(ctx.reader, b"go\n", 0).map_err(|e| format!("send go: {e}"))?;
    let block = [0x5au8; 16384];
    let mut sent = 0usize;
    let start = Instant::now();
    loop {
        match net.send(ctx.writer, &block, MSG_DONTWAIT) {
            Ok(n) => sent += n,
            // Full for good once a wait of 200 ms frees no room.
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(ctx.writer, POLLOUT)];
                if net.poll(&mut fds, 200).map_err(|e| format!("poll: {e}"))? == 0 {
                    break;
                }
            }
            Err(e) => return Err(format!("send after {sent} bytes: {e}")),
        }
        ensure(start.elapsed() < Duration::from_secs(60), || {
            format!("still sending after 60 s ({sent} bytes): the peer reads the second connection")
        })?;
    }
    Ok(format!("{sent} bytes sent before the second connection was full"))
}

fn peer_dies(ctx: &mut Ctx) -> Check {
    ensure(ctx.reader >= 0 && ctx.writer >= 0, || {
        "no connections (an earlier check failed)".into()
    })?;
    skiff::println!("peergone: ready");
    let start = Instant::now();
    let mut fds = [PollFd::new(ctx.reader, POLLIN), PollFd::new(ctx.writer, POLLOUT)];
    let n = ctx.net.poll(&mut fds, WAIT_MS).map_err(|e| format!("poll: {e}"))?;
    let ms = start.elapsed().as_millis();
    let (r, w) = (fds[0].revents, fds[1].revents);
    ensure(n >= 1, || format!("poll gave nothing after {ms} ms"))?;
    Ok(format!("after {ms} ms: reader revents {r:#x}, writer revents {w:#x}"))
}

/// The reader sees EOF or a reset; the writer's send fails (the peer is
/// gone); both within the wait, never a hang. Says how long each took after
/// the poll that saw the peer die.
fn ends_reported(ctx: &mut Ctx) -> Check {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(30);
    let net = &mut ctx.net;
    let mut buf = [0u8; 64];
    let read_end = loop {
        match net.recv(ctx.reader, &mut buf, MSG_DONTWAIT) {
            Ok(0) => break alloc::string::String::from("EOF"),
            Ok(n) => return Err(format!("the dead peer sent {n} bytes")),
            Err(Errno::EAGAIN) if Instant::now() < deadline => {
                let mut fds = [PollFd::new(ctx.reader, POLLIN)];
                net.poll(&mut fds, 1000).map_err(|e| format!("poll: {e}"))?;
            }
            Err(e) => break format!("{e}"),
        }
    };
    let read_ms = start.elapsed().as_millis();
    let block = [0x5au8; 16384];
    let write_end = loop {
        match net.send(ctx.writer, &block, MSG_DONTWAIT) {
            Ok(_) | Err(Errno::EAGAIN) if Instant::now() < deadline => {
                let mut fds = [PollFd::new(ctx.writer, POLLOUT)];
                net.poll(&mut fds, 1000).map_err(|e| format!("poll: {e}"))?;
            }
            Ok(_) | Err(Errno::EAGAIN) => {
                return Err("the writer still takes data 30 s after the peer died".into());
            }
            Err(e) => break e,
        }
    };
    ensure(matches!(write_end, Errno::ECONNRESET | Errno::EPIPE), || {
        format!("send gave {write_end}, expected ECONNRESET or EPIPE")
    })?;
    let write_ms = start.elapsed().as_millis();
    Ok(format!("reader: {read_end} after {read_ms} ms; writer: {write_end} after {write_ms} ms"))
}

/// Closing both must give back their rings once released (the writer's
/// unsent bytes cannot drain to a dead peer: the backend's error ends it).
fn close_releases(ctx: &mut Ctx) -> Check {
    ctx.net.close(ctx.reader).map_err(|e| format!("close(reader): {e}"))?;
    ctx.net.close(ctx.writer).map_err(|e| format!("close(writer): {e}"))?;
    let start = Instant::now();
    loop {
        let u = skiff::net::usage::usage().ok_or("networking never came up")?;
        let r = u.frontend;
        if r.sockets == 0 {
            ensure(r.leaked_pages == 0 && r.leaked_grants == 0, || format!("leaked: {u}"))?;
            ensure(u.matches_kernel(), || format!("frontend and kernel differ: {u}"))?;
            return Ok(format!("released after {} ms: {u}", start.elapsed().as_millis()));
        }
        ensure(start.elapsed() < RELEASE_WAIT, || format!("still held after 45 s: {u}"))?;
        // A poll of no sockets for 100 ms: the frontend takes in dom0's
        // answers (the RELEASEs) meanwhile.
        ctx.net.poll(&mut [], 100).map_err(|e| format!("poll: {e}"))?;
    }
}
