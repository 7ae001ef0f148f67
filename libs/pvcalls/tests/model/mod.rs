//! A model of what the engine's socket calls must return, for the stateful property tests.
//!
//! It follows the documented behaviour of `Frontend` (ops.rs, complete.rs,
//! release.rs): commands go out as calls are made, their answers take
//! effect when the engine next polls the command ring (every call but
//! `socket`, `send`, `recv`), closed sockets are released once nothing is
//! in flight for them, and a closed connection lingers until `out` is
//! drained (noticed at the same points). Command slots never run short
//! here (the tests make few sockets) and virtual time does not move (no
//! call waits).

use std::collections::{BTreeMap, VecDeque};
use std::task::Poll::{self, Pending, Ready};

use skiff_pvcalls::sim::pattern;
use skiff_pvcalls::{Errno, Readiness, SocketPhase, SocketView};
use skiff_xen::pvcalls::{
    PVCALLS_ACCEPT, PVCALLS_BIND, PVCALLS_CONNECT, PVCALLS_LISTEN, PVCALLS_RELEASE, PVCALLS_SOCKET,
};

/// `-ENOTCONN`: the end of the stream in `in_error`.
pub const EOF: i32 = -107;

/// Where a modelled socket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum St {
    Fresh,
    Binding,
    Bound,
    Listening,
    Listener,
    Connecting,
    Connected,
    Draining,
    Releasing,
}

/// A connection's data ring as both ends see it.
#[derive(Clone, Debug, Default)]
pub struct Conn {
    pub size: usize,
    /// Bytes the backend wrote into `in` and the frontend has not read.
    pub inq: VecDeque<u8>,
    /// Bytes the backend wrote into `in` so far.
    pub produced: u64,
    pub in_error: i32,
    /// Bytes sent and not consumed by the backend.
    pub outq: VecDeque<u8>,
    pub out_error: i32,
}

impl Conn {
    fn new(size: usize) -> Self {
        Conn { size, ..Conn::default() }
    }

    /// The receive side's error when it ends the connection (not EOF).
    fn failed(&self) -> Option<Errno> {
        match self.in_error {
            0 | EOF => None,
            e => Some(map(e)),
        }
    }

    fn settled(&self) -> bool {
        self.out_error != 0 || self.failed().is_some() || self.outq.is_empty()
    }
}

/// One socket of the model.
#[derive(Clone, Debug)]
pub struct Sock {
    pub st: St,
    pub user_open: bool,
    pub closing: bool,
    socket_sent: bool,
    socket_inflight: bool,
    socket_err: Option<Errno>,
    result: Option<(u32, Result<(), Errno>)>,
    accept: Option<u64>,
    ready: Option<u64>,
    l_error: Option<Errno>,
    pub conn: Option<Conn>,
}

impl Sock {
    fn new(st: St, user_open: bool) -> Self {
        Sock {
            st,
            user_open,
            closing: false,
            socket_sent: false,
            socket_inflight: false,
            socket_err: None,
            result: None,
            accept: None,
            ready: None,
            l_error: None,
            conn: None,
        }
    }

    fn busy(&self) -> bool {
        matches!(self.st, St::Binding | St::Listening | St::Connecting | St::Releasing)
            || (self.st == St::Listener && self.accept.is_some())
    }
}

/// A request the model expects the frontend to have sent: (cmd, id).
pub type Req = (u32, u64);

/// The model: every socket the engine holds, by id.
#[derive(Debug)]
pub struct Model {
    pub socks: BTreeMap<u64, Sock>,
    next_id: u64,
    ring: usize,
    /// Answers published by the backend, not yet seen by the frontend:
    /// (cmd, id, id_new, result).
    published: VecDeque<(u32, u64, u64, Result<(), Errno>)>,
    /// Requests the last call sent.
    pub sent: Vec<Req>,
}

fn map(e: i32) -> Errno {
    Errno::from_backend(e).err().unwrap_or(Errno::EIO)
}

impl Model {
    pub fn new(ring: usize) -> Self {
        Model {
            socks: BTreeMap::new(),
            next_id: 1,
            ring,
            published: VecDeque::new(),
            sent: Vec::new(),
        }
    }

    fn send_req(&mut self, cmd: u32, id: u64) {
        self.sent.push((cmd, id));
    }

    /// The backend answered `cmd` for `id` (`id_new` for ACCEPT).
    pub fn publish(&mut self, cmd: u32, id: u64, id_new: u64, r: Result<(), Errno>) {
        self.published.push_back((cmd, id, id_new, r));
    }

    /// What the engine does first in most calls: take every answer, then
    /// release the lingering connections whose `out` settled.
    fn poll_cmd(&mut self) {
        while let Some((cmd, id, id_new, r)) = self.published.pop_front() {
            self.complete(cmd, id, id_new, r);
        }
        let draining: Vec<u64> = self
            .socks
            .iter()
            .filter(|(_, s)| s.st == St::Draining && s.conn.as_ref().is_some_and(Conn::settled))
            .map(|(&id, _)| id)
            .collect();
        for id in draining {
            self.release(id);
        }
    }

    fn complete(&mut self, cmd: u32, id: u64, id_new: u64, r: Result<(), Errno>) {
        let Some(s) = self.socks.get_mut(&id) else { return };
        match cmd {
            PVCALLS_SOCKET if s.socket_inflight => {
                s.socket_inflight = false;
                s.socket_err = r.err();
            }
            PVCALLS_BIND | PVCALLS_LISTEN | PVCALLS_CONNECT => {
                let r = match s.socket_err.take() {
                    Some(e) => Err(e),
                    None => r,
                };
                let next = match (s.st, cmd) {
                    (St::Binding, PVCALLS_BIND) => {
                        if r.is_ok() {
                            St::Bound
                        } else {
                            St::Fresh
                        }
                    }
                    (St::Listening, PVCALLS_LISTEN) => {
                        if r.is_ok() {
                            St::Listener
                        } else {
                            St::Bound
                        }
                    }
                    (St::Connecting, PVCALLS_CONNECT) => {
                        if r.is_ok() {
                            s.conn = Some(Conn::new(self.ring));
                            St::Connected
                        } else {
                            St::Fresh
                        }
                    }
                    _ => return,
                };
                s.st = next;
                s.result = Some((cmd, r));
                self.advance(id);
            }
            PVCALLS_ACCEPT => {
                if s.st != St::Listener || s.accept != Some(id_new) {
                    return;
                }
                s.accept = None;
                match r {
                    Ok(()) => s.ready = Some(id_new),
                    Err(Errno::EAGAIN | Errno::EINTR) => {}
                    Err(e) => s.l_error = Some(e),
                }
                let closing = s.closing;
                if r.is_ok() {
                    let mut n = Sock::new(St::Connected, false);
                    n.socket_sent = true;
                    n.closing = closing;
                    n.conn = Some(Conn::new(self.ring));
                    self.socks.insert(id_new, n);
                    if closing {
                        self.advance(id_new);
                    }
                }
                self.advance(id);
            }
            PVCALLS_RELEASE if s.st == St::Releasing => {
                self.socks.remove(&id);
            }
            _ => {}
        }
    }

    fn release(&mut self, id: u64) {
        if let Some(s) = self.socks.get_mut(&id) {
            s.st = St::Releasing;
            self.send_req(PVCALLS_RELEASE, id);
        }
    }

    /// Releases `id` if it is closing and has nothing in flight.
    fn advance(&mut self, id: u64) {
        let Some(s) = self.socks.get_mut(&id) else { return };
        if !s.closing || s.busy() {
            return;
        }
        match s.st {
            St::Fresh => {
                self.socks.remove(&id);
            }
            St::Connected if !s.conn.as_ref().is_some_and(Conn::settled) => s.st = St::Draining,
            St::Connected | St::Bound => self.release(id),
            St::Listener => {
                if let Some(new) = s.ready {
                    if let Some(n) = self.socks.get_mut(&new) {
                        n.closing = true;
                    }
                    self.advance(new);
                }
                self.release(id);
            }
            _ => {}
        }
    }

    fn user(&mut self, id: u64) -> Result<&mut Sock, Errno> {
        self.socks.get_mut(&id).filter(|s| s.user_open).ok_or(Errno::EBADF)
    }

    fn take_result(&mut self, id: u64, cmd: u32) -> Option<Result<(), Errno>> {
        let s = self.socks.get_mut(&id)?;
        match s.result {
            Some((c, r)) if c == cmd => {
                s.result = None;
                Some(r)
            }
            _ => None,
        }
    }

    /// Sends SOCKET first if it has not gone out yet.
    fn submit_with_socket(&mut self, id: u64, cmd: u32) {
        let s = self.socks.get_mut(&id).expect("a user socket");
        let first = !s.socket_sent;
        s.socket_sent = true;
        s.socket_inflight |= first;
        if first {
            self.send_req(PVCALLS_SOCKET, id);
        }
        self.send_req(cmd, id);
    }

    pub fn socket(&mut self) -> Result<u64, Errno> {
        let id = self.next_id;
        self.next_id += 1;
        self.socks.insert(id, Sock::new(St::Fresh, true));
        Ok(id)
    }

    pub fn bind(&mut self, id: u64) -> Poll<Result<(), Errno>> {
        self.poll_cmd();
        self.user(id)?;
        if let Some(r) = self.take_result(id, PVCALLS_BIND) {
            return Ready(r);
        }
        match self.user(id)?.st {
            St::Fresh => {}
            St::Binding => return Pending,
            _ => return Ready(Err(Errno::EINVAL)),
        }
        self.submit_with_socket(id, PVCALLS_BIND);
        self.user(id)?.st = St::Binding;
        Pending
    }

    pub fn listen(&mut self, id: u64) -> Poll<Result<(), Errno>> {
        self.poll_cmd();
        self.user(id)?;
        if let Some(r) = self.take_result(id, PVCALLS_LISTEN) {
            return Ready(r);
        }
        match self.user(id)?.st {
            St::Bound => {}
            St::Listening => return Pending,
            St::Listener => return Ready(Ok(())),
            _ => return Ready(Err(Errno::EINVAL)),
        }
        self.send_req(PVCALLS_LISTEN, id);
        self.user(id)?.st = St::Listening;
        Pending
    }

    fn arm_accept(&mut self, id: u64) {
        let id_new = self.next_id;
        self.next_id += 1;
        self.send_req(PVCALLS_ACCEPT, id);
        if let Some(s) = self.socks.get_mut(&id) {
            s.accept = Some(id_new);
        }
    }

    pub fn accept(&mut self, id: u64) -> Poll<Result<u64, Errno>> {
        self.poll_cmd();
        let s = self.user(id)?;
        if s.st != St::Listener {
            return Ready(Err(Errno::EINVAL));
        }
        if let Some(new) = s.ready.take() {
            if let Some(n) = self.socks.get_mut(&new) {
                n.user_open = true;
            }
            return Ready(Ok(new));
        }
        if let Some(e) = s.l_error.take() {
            return Ready(Err(e));
        }
        if s.accept.is_none() {
            self.arm_accept(id);
        }
        Pending
    }

    pub fn connect(&mut self, id: u64) -> Poll<Result<(), Errno>> {
        self.poll_cmd();
        self.user(id)?;
        if let Some(r) = self.take_result(id, PVCALLS_CONNECT) {
            return Ready(r);
        }
        match self.user(id)?.st {
            St::Fresh => {}
            St::Connecting => return Pending,
            St::Connected => return Ready(Err(Errno::EISCONN)),
            _ => return Ready(Err(Errno::EINVAL)),
        }
        self.submit_with_socket(id, PVCALLS_CONNECT);
        self.user(id)?.st = St::Connecting;
        Pending
    }

    /// `send` of `len` bytes of `pattern(len, seed)`.
    pub fn send(&mut self, id: u64, len: usize, seed: u64) -> Poll<Result<usize, Errno>> {
        let s = self.user(id)?;
        match (s.st, s.conn.as_mut()) {
            (St::Connected, Some(c)) => {
                if c.out_error != 0 {
                    let e = if c.out_error == EOF { Errno::EPIPE } else { map(c.out_error) };
                    return Ready(Err(e));
                }
                if let Some(e) = c.failed() {
                    return Ready(Err(e));
                }
                if len == 0 {
                    return Ready(Ok(0));
                }
                let n = len.min(c.size - c.outq.len());
                if n == 0 {
                    return Pending;
                }
                c.outq.extend(&pattern(len, seed)[..n]);
                Ready(Ok(n))
            }
            (St::Connecting, _) => Pending,
            _ => Ready(Err(Errno::ENOTCONN)),
        }
    }

    /// `recv` into `len` bytes: the result and the bytes it must give.
    pub fn recv(&mut self, id: u64, len: usize) -> (Poll<Result<usize, Errno>>, Vec<u8>) {
        let s = match self.user(id) {
            Ok(s) => s,
            Err(e) => return (Ready(Err(e)), Vec::new()),
        };
        match (s.st, s.conn.as_mut()) {
            (St::Connected, Some(c)) => {
                if len == 0 {
                    return (Ready(Ok(0)), Vec::new());
                }
                if !c.inq.is_empty() {
                    let n = len.min(c.inq.len());
                    return (Ready(Ok(n)), c.inq.drain(..n).collect());
                }
                let r = match c.in_error {
                    0 => Pending,
                    EOF => Ready(Ok(0)),
                    e => Ready(Err(map(e))),
                };
                (r, Vec::new())
            }
            (St::Connecting, _) => (Pending, Vec::new()),
            _ => (Ready(Err(Errno::ENOTCONN)), Vec::new()),
        }
    }

    pub fn close(&mut self, id: u64) -> Result<(), Errno> {
        self.poll_cmd();
        let s = self.user(id)?;
        s.user_open = false;
        s.closing = true;
        self.advance(id);
        Ok(())
    }

    pub fn poll(&mut self, id: u64) -> Result<Readiness, Errno> {
        self.poll_cmd();
        let s = self.user(id)?;
        let pending = match s.result {
            Some((_, Err(e))) => Some(e),
            _ => None,
        };
        Ok(match s.st {
            St::Connected => {
                let c = s.conn.as_ref().expect("a connection has a ring");
                let in_err = c.failed();
                let out_err = match c.out_error {
                    0 => None,
                    EOF => Some(Errno::EPIPE),
                    e => Some(map(e)),
                };
                let error = in_err.or(out_err);
                Readiness {
                    readable: !c.inq.is_empty() || c.in_error != 0,
                    writable: c.outq.len() < c.size || error.is_some(),
                    error,
                    rdhup: c.in_error != 0,
                    hup: error.is_some(),
                }
            }
            St::Listener => {
                let readable = s.ready.is_some() || s.l_error.is_some();
                let error = s.l_error;
                if !readable && s.accept.is_none() {
                    self.arm_accept(id);
                }
                Readiness { readable, writable: false, error, rdhup: false, hup: false }
            }
            St::Connecting | St::Binding | St::Listening => Readiness::default(),
            _ => Readiness {
                readable: false,
                writable: pending.is_some(),
                error: pending,
                rdhup: false,
                hup: true,
            },
        })
    }

    /// `process`: what every call but `socket`, `send` and `recv` does first.
    pub fn process(&mut self) {
        self.poll_cmd();
    }

    /// The backend wrote up to `len` bytes into `in` of `id`: how many fit.
    pub fn backend_in(&mut self, id: u64, len: usize) -> Option<usize> {
        let c = self.socks.get_mut(&id)?.conn.as_mut()?;
        let n = len.min(c.size - c.inq.len());
        c.inq.extend(&pattern(n, c.produced.wrapping_add(id))[..]);
        c.produced += n as u64;
        Some(n)
    }

    /// The backend consumed up to `len` bytes of `out` of `id`: which.
    pub fn backend_out(&mut self, id: u64, len: usize) -> Option<Vec<u8>> {
        let c = self.socks.get_mut(&id)?.conn.as_mut()?;
        let n = len.min(c.outq.len());
        Some(c.outq.drain(..n).collect())
    }

    /// The backend set `in_error` (`out`: `out_error`) of `id`.
    pub fn backend_error(&mut self, id: u64, out: bool, e: i32) {
        if let Some(c) = self.socks.get_mut(&id).and_then(|s| s.conn.as_mut()) {
            let slot = if out { &mut c.out_error } else { &mut c.in_error };
            // The frontend keeps the first error it sees; the test never
            // overwrites one.
            if *slot == 0 {
                *slot = e;
            }
        }
    }

    /// Ids of the sockets whose ring the backend maps (connections not
    /// yet released).
    pub fn connections(&self) -> Vec<u64> {
        self.socks.iter().filter(|(_, s)| s.conn.is_some()).map(|(&id, _)| id).collect()
    }

    /// Whether the engine's view of a socket agrees with the model.
    pub fn agrees(&self, v: &SocketView) -> Result<(), String> {
        let s = self.socks.get(&v.id.0).ok_or_else(|| format!("{v:?} not in the model"))?;
        let phase = match s.st {
            St::Fresh => SocketPhase::Fresh,
            St::Binding => SocketPhase::Binding,
            St::Bound => SocketPhase::Bound,
            St::Listening => SocketPhase::Listening,
            St::Listener => SocketPhase::Listener {
                accept_in_flight: s.accept.is_some(),
                ready: s.ready.is_some(),
            },
            St::Connecting => SocketPhase::Connecting,
            St::Connected => SocketPhase::Connected,
            St::Draining => SocketPhase::Draining,
            St::Releasing => SocketPhase::Releasing,
        };
        if (phase, s.user_open, s.closing) != (v.phase, v.user_open, v.closing) {
            return Err(format!("engine {v:?}, model {s:?}"));
        }
        Ok(())
    }
}
