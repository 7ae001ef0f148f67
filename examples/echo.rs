//! `echo`: a TCP echo server on `port=N` (default 7) serving many connections at once with `poll()`.
//!
//! Each connection's bytes are sent back as they come; a connection that
//! cannot take more output stops being read until it can (no unbounded
//! buffering). When the peer finishes sending, what is left is echoed and
//! the connection closed. `max-conns=N` (default 1000) bounds how many are
//! served at once; further clients wait in dom0's backlog, as they do
//! while memory for new connections' rings is short (see [`AcceptPause`]).
//! Each time the last connection has closed and been released it prints
//! `echo: idle after N connections: <what the sockets hold>` (see
//! [`skiff::net::Usage`]), so a run can be checked for leaks.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use skiff::net::posix::consts::*;
use skiff::net::posix::{Fd, PollFd};
use skiff::net::{AcceptPause, Errno, FdTable, IdleReport};
use skiff::time::Instant;

skiff::main!(main);

/// Bytes read per `recv`.
const CHUNK: usize = 16 * 1024;

/// One client: what was read and not yet echoed, and whether it is done.
struct Conn {
    fd: Fd,
    pending: Vec<u8>,
    sent: usize,
    peer_done: bool,
    failed: bool,
}

impl Conn {
    fn new(fd: Fd) -> Self {
        Conn { fd, pending: Vec::new(), sent: 0, peer_done: false, failed: false }
    }

    fn has_pending(&self) -> bool {
        self.sent < self.pending.len()
    }

    fn finished(&self) -> bool {
        self.failed || (self.peer_done && !self.has_pending())
    }
}

fn main() -> Result<(), Errno> {
    let args = skiff::args();
    let port: u16 = args.get("port").map_or(Ok(7), str::parse).map_err(|_| Errno::EINVAL)?;
    let max_conns: usize =
        args.get("max-conns").map_or(Ok(1000), str::parse).map_err(|_| Errno::EINVAL)?;

    let mut net = FdTable::new(skiff::net::Kernel);
    let listener = skiff::net::listen_for_server(&mut net, "echo", port)?;

    let mut conns: Vec<Conn> = Vec::new();
    let mut fds: Vec<PollFd> = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let mut pause = AcceptPause::new();
    let mut idle = IdleReport::new();
    loop {
        fds.clear();
        let now = Instant::now().as_nanos();
        let accepting = conns.len() < max_conns && pause.accepting(now);
        fds.push(PollFd::new(if accepting { listener } else { -1 }, POLLIN));
        for c in &conns {
            let events = if c.has_pending() { POLLOUT } else { POLLIN | POLLRDHUP };
            fds.push(PollFd::new(c.fd, events));
        }
        net.poll(&mut fds, idle.poll_timeout_ms(conns.len(), pause.poll_timeout_ms(now)))?;

        // fds[1..] line up with `conns` as they were before accepting.
        for (c, p) in conns.iter_mut().zip(&fds[1..]) {
            serve(&mut net, c, p.revents, &mut buf);
        }
        let open = conns.len();
        conns.retain(|c| {
            if c.finished() {
                let _ = net.close(c.fd);
            }
            !c.finished()
        });
        if conns.len() < open {
            pause.resume();
        }
        // The listener is polled only while there is room (`accepting`).
        if fds[0].revents & POLLIN != 0 {
            skiff::net::accept_waiting(
                &mut net,
                "echo",
                listener,
                conns.len(),
                &mut pause,
                &mut idle,
                |fd| {
                    conns.push(Conn::new(fd));
                    conns.len() < max_conns
                },
            );
        }
        skiff::net::report_if_idle("echo", &mut idle, conns.len());
    }
}

/// Moves what it can for one connection: reads only when everything read
/// before has been echoed.
fn serve(net: &mut FdTable, c: &mut Conn, revents: i16, buf: &mut [u8]) {
    if revents == 0 {
        return;
    }
    if !c.has_pending() && !c.peer_done {
        match net.recv(c.fd, buf, MSG_DONTWAIT) {
            Ok(0) => c.peer_done = true,
            Ok(n) => {
                c.pending.clear();
                c.pending.extend_from_slice(&buf[..n]);
                c.sent = 0;
            }
            Err(Errno::EAGAIN) => {}
            Err(_) => c.failed = true,
        }
    }
    if c.has_pending() {
        match net.send(c.fd, &c.pending[c.sent..], MSG_DONTWAIT) {
            Ok(n) => c.sent += n,
            Err(Errno::EAGAIN) => {}
            Err(_) => c.failed = true,
        }
    }
}
