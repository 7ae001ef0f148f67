//! `echo`: a TCP echo server on `port=N` (default 7) serving many connections at once, written with
//! the std-shaped `TcpListener`/`TcpStream` and a `PollSet`.
//!
//! Each connection's bytes are sent back as they come; a connection that
//! cannot take more output stops being read until it can (no unbounded
//! buffering). When the peer finishes sending, what is left is echoed and
//! the connection closed. `max-conns=N` (default 1000) bounds how many are
//! served at once; further clients wait in dom0's backlog, as they do
//! while memory for new connections' rings is short (see [`AcceptPause`]).
//! Each time the last connection has closed and been released it prints
//! `echo: idle after N connections: <what the sockets hold>` (see
//! [`skiff::net::usage::Usage`]), so a run can be checked for leaks.
//! `busy-poll` makes it poll without ever waiting, as a spinning event loop
//! does (the rig checks that `xl shutdown` still reaches it).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use skiff::net::server::{self, AcceptPause};
use skiff::net::usage::{self, IdleReport};
use skiff::net::{Errno, ErrorKind, Interest, PollSet, TcpListener, TcpStream};
use skiff::time::Instant;

skiff::main!(main);

/// Bytes read per `read`.
const CHUNK: usize = 16 * 1024;
/// The listener's token in the poll set; connections count up from 0.
const LISTENER: usize = usize::MAX;

/// One client: what was read and not yet echoed, and whether it is done.
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    sent: usize,
    peer_done: bool,
    failed: bool,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Conn { stream, pending: Vec::new(), sent: 0, peer_done: false, failed: false }
    }

    fn has_pending(&self) -> bool {
        self.sent < self.pending.len()
    }

    fn finished(&self) -> bool {
        self.failed || (self.peer_done && !self.has_pending())
    }

    /// Reading is watched while nothing waits to be echoed, writing while
    /// something does.
    fn interest(&self) -> Interest {
        if self.has_pending() { Interest::WRITABLE } else { Interest::READABLE }
    }
}

fn main() -> Result<(), Errno> {
    let args = skiff::args();
    let port: u16 = args.get("port").map_or(Ok(7), str::parse).map_err(|_| Errno::EINVAL)?;
    let max_conns: usize =
        args.get("max-conns").map_or(Ok(1000), str::parse).map_err(|_| Errno::EINVAL)?;

    let busy_poll = args.has_flag("busy-poll");

    let listener = server::listen("echo", port).map_err(errno)?;
    listener.set_nonblocking(true).map_err(errno)?;
    let mut poll = PollSet::default();
    let mut conns: BTreeMap<usize, Conn> = BTreeMap::new();
    let mut next_token = 0usize;
    let mut events = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let mut pause = AcceptPause::new();
    let mut idle = IdleReport::new();
    let mut listening = false;
    loop {
        // The listener is watched only while there is room for a connection.
        let now = Instant::now();
        let accepting = conns.len() < max_conns && pause.accepting(now);
        if accepting != listening {
            if accepting {
                poll.add(&listener, LISTENER, Interest::READABLE).map_err(errno)?;
            } else {
                poll.remove(LISTENER).map_err(errno)?;
            }
            listening = accepting;
        }
        let timeout = if busy_poll {
            Some(Duration::ZERO)
        } else {
            idle.poll_timeout(conns.len(), pause.poll_timeout(now))
        };
        poll.wait(&mut events, timeout).map_err(errno)?;

        for ev in &events {
            if ev.token == LISTENER {
                continue;
            }
            if let Some(c) = conns.get_mut(&ev.token) {
                serve(c, &mut buf);
                if c.finished() {
                    poll.remove(ev.token).map_err(errno)?;
                    conns.remove(&ev.token);
                    pause.resume();
                } else {
                    poll.modify(ev.token, c.interest()).map_err(errno)?;
                }
            }
        }
        if events.iter().any(|ev| ev.token == LISTENER) {
            accept_waiting(
                &listener,
                &mut poll,
                &mut conns,
                &mut next_token,
                max_conns,
                &mut pause,
                &mut idle,
            )?;
        }
        usage::report_if_idle("echo", &mut idle, conns.len());
    }
}

/// Accepts every waiting connection while there is room, registering each
/// under a token of its own.
fn accept_waiting(
    listener: &TcpListener,
    poll: &mut PollSet,
    conns: &mut BTreeMap<usize, Conn>,
    next_token: &mut usize,
    max_conns: usize,
    pause: &mut AcceptPause,
    idle: &mut IdleReport,
) -> Result<(), Errno> {
    while conns.len() < max_conns {
        match listener.accept() {
            Ok((stream, _)) => {
                pause.on_accept();
                idle.on_accept();
                stream.set_nonblocking(true).map_err(errno)?;
                let token = *next_token;
                *next_token += 1;
                poll.add(&stream, token, Interest::READABLE).map_err(errno)?;
                conns.insert(token, Conn::new(stream));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => {
                server::accept_failed("echo", errno(e), conns.len(), pause);
                break;
            }
        }
    }
    Ok(())
}

/// Moves what it can for one connection: reads only when everything read
/// before has been echoed.
fn serve(c: &mut Conn, buf: &mut [u8]) {
    if !c.has_pending() && !c.peer_done {
        match c.stream.read(buf) {
            Ok(0) => c.peer_done = true,
            Ok(n) => {
                c.pending.clear();
                c.pending.extend_from_slice(&buf[..n]);
                c.sent = 0;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => c.failed = true,
        }
    }
    if c.has_pending() {
        match c.stream.write(&c.pending[c.sent..]) {
            Ok(n) => c.sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => c.failed = true,
        }
    }
}

/// The errno behind a socket error (`EIO` if it has none).
fn errno(e: skiff::net::Error) -> Errno {
    e.errno().unwrap_or(Errno::EIO)
}
