//! A scriptable fake of the socket engine: the test plays dom0 and the peers.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::net::SocketAddrV4;
use core::task::Poll;

use skiff_pvcalls::{Errno, Readiness};

use crate::env::{SocketHandle, Sockets};

/// The state of one fake socket.
#[derive(Clone, Debug, Default)]
pub struct FakeSocket {
    /// Bound to.
    pub bound: Option<SocketAddrV4>,
    /// Listening (with this backlog).
    pub listening: Option<u32>,
    /// Connected to (`Some` also for accepted connections, with the
    /// listener's address).
    pub connected: Option<SocketAddrV4>,
    /// A connect in flight, to this address.
    pub connecting: Option<SocketAddrV4>,
    /// Bytes waiting for `recv`.
    pub rx: VecDeque<u8>,
    /// The peer finished sending: `recv` returns 0 once `rx` is empty.
    pub eof: bool,
    /// A sticky error (reset): `recv` returns it once `rx` is empty, `send` at once.
    pub error: Option<Errno>,
    /// Everything the application sent.
    pub tx: Vec<u8>,
    /// How many more bytes `send` may take before it is `Pending`.
    pub tx_room: usize,
    /// Connections waiting to be accepted.
    pub accept_queue: VecDeque<SocketHandle>,
    /// Closed by the application.
    pub closed: bool,
    /// How many times `readiness` was asked.
    pub polls: usize,
}

/// The fake engine. Commands (bind, listen, connect) complete at once
/// unless [`hold_commands`](Self::hold_commands) is set; their outcome can
/// be scripted per address.
#[derive(Clone, Debug, Default)]
pub struct FakeSockets {
    next: u64,
    socks: BTreeMap<u64, FakeSocket>,
    /// While true, bind/listen/connect stay `Pending`.
    pub hold_commands: bool,
    /// `bind` to these addresses fails with the error.
    pub bind_errors: Vec<(SocketAddrV4, Errno)>,
    /// `connect` to these addresses fails with the error.
    pub connect_errors: Vec<(SocketAddrV4, Errno)>,
    /// Refuse new sockets with this error.
    pub socket_error: Option<Errno>,
    /// Default room in `tx` of new connections.
    pub default_tx_room: usize,
    /// `(n, listener)`: a peer connects to `listener` during the `n`-th
    /// readiness question from now, as the real engine takes in an ACCEPT
    /// answer while it is asked (a change between two looks of a caller).
    pub arrive_during_readiness: Option<(u32, SocketHandle)>,
}

impl FakeSockets {
    /// An engine with 64 KiB of send room per connection.
    pub fn new() -> Self {
        FakeSockets { default_tx_room: 65536, next: 100, ..Default::default() }
    }

    fn alloc(&mut self, s: FakeSocket) -> SocketHandle {
        self.next += 1;
        self.socks.insert(self.next, s);
        SocketHandle(self.next)
    }

    /// The socket behind `h` (panics if there is none: a test bug).
    pub fn sock(&mut self, h: SocketHandle) -> &mut FakeSocket {
        self.socks.get_mut(&h.0).expect("no such fake socket")
    }

    /// Every socket, with its handle.
    pub fn all(&self) -> impl Iterator<Item = (SocketHandle, &FakeSocket)> {
        self.socks.iter().map(|(&h, s)| (SocketHandle(h), s))
    }

    /// The listener bound to `port`, if any.
    pub fn listener_on(&self, port: u16) -> Option<SocketHandle> {
        self.all()
            .find(|(_, s)| {
                s.listening.is_some() && !s.closed && s.bound.is_some_and(|a| a.port() == port)
            })
            .map(|(h, _)| h)
    }

    /// A peer connects to `listener`: returns the new connection's handle.
    pub fn incoming(&mut self, listener: SocketHandle) -> SocketHandle {
        let room = self.default_tx_room;
        let addr = self.sock(listener).bound;
        let h = self.alloc(FakeSocket { connected: addr, tx_room: room, ..Default::default() });
        self.sock(listener).accept_queue.push_back(h);
        h
    }

    /// The peer of `h` sends `data`.
    pub fn push_rx(&mut self, h: SocketHandle, data: &[u8]) {
        self.sock(h).rx.extend(data);
    }

    /// The peer of `h` shuts down its sending side.
    pub fn push_eof(&mut self, h: SocketHandle) {
        self.sock(h).eof = true;
    }

    /// The connection `h` is reset.
    pub fn reset(&mut self, h: SocketHandle) {
        self.sock(h).error = Some(Errno::ECONNRESET);
    }

    /// Takes what the application sent on `h`.
    pub fn take_tx(&mut self, h: SocketHandle) -> Vec<u8> {
        core::mem::take(&mut self.sock(h).tx)
    }

    /// Lets `h` send `n` more bytes.
    pub fn add_tx_room(&mut self, h: SocketHandle, n: usize) {
        self.sock(h).tx_room += n;
    }

    fn live(&mut self, h: SocketHandle) -> Result<&mut FakeSocket, Errno> {
        match self.socks.get_mut(&h.0) {
            Some(s) if !s.closed => Ok(s),
            _ => Err(Errno::EBADF),
        }
    }
}

impl Sockets for FakeSockets {
    fn socket(&mut self) -> Result<SocketHandle, Errno> {
        if let Some(e) = self.socket_error {
            return Err(e);
        }
        let room = self.default_tx_room;
        Ok(self.alloc(FakeSocket { tx_room: room, ..Default::default() }))
    }

    fn bind(&mut self, s: SocketHandle, addr: SocketAddrV4) -> Poll<Result<(), Errno>> {
        if self.hold_commands {
            return Poll::Pending;
        }
        let err = self.bind_errors.iter().find(|(a, _)| *a == addr).map(|&(_, e)| e);
        let taken = self.all().any(|(_, o)| !o.closed && o.bound == Some(addr) && addr.port() != 0);
        Poll::Ready(match self.live(s) {
            Err(e) => Err(e),
            Ok(_) if err.is_some() => Err(err.unwrap_or(Errno::EINVAL)),
            Ok(_) if taken => Err(Errno::EADDRINUSE),
            Ok(so) if so.bound.is_some() => Err(Errno::EINVAL),
            Ok(so) => {
                so.bound = Some(addr);
                Ok(())
            }
        })
    }

    fn listen(&mut self, s: SocketHandle, backlog: u32) -> Poll<Result<(), Errno>> {
        if self.hold_commands {
            return Poll::Pending;
        }
        Poll::Ready(self.live(s).and_then(|so| {
            if so.bound.is_none() {
                return Err(Errno::EINVAL);
            }
            so.listening = Some(backlog);
            Ok(())
        }))
    }

    fn accept(&mut self, s: SocketHandle) -> Poll<Result<SocketHandle, Errno>> {
        match self.live(s) {
            Err(e) => Poll::Ready(Err(e)),
            Ok(so) if so.listening.is_none() => Poll::Ready(Err(Errno::EINVAL)),
            Ok(so) => match so.accept_queue.pop_front() {
                Some(h) => Poll::Ready(Ok(h)),
                None => Poll::Pending,
            },
        }
    }

    fn connect(&mut self, s: SocketHandle, addr: SocketAddrV4) -> Poll<Result<(), Errno>> {
        let hold = self.hold_commands;
        let err = self.connect_errors.iter().find(|(a, _)| *a == addr).map(|&(_, e)| e);
        let so = match self.live(s) {
            Ok(so) => so,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if so.connected.is_some() {
            return Poll::Ready(Err(Errno::EISCONN));
        }
        let target = *so.connecting.get_or_insert(addr);
        if hold {
            return Poll::Pending;
        }
        so.connecting = None;
        match err {
            Some(e) => Poll::Ready(Err(e)),
            None => {
                so.connected = Some(target);
                Poll::Ready(Ok(()))
            }
        }
    }

    fn send(&mut self, s: SocketHandle, buf: &[u8]) -> Poll<Result<usize, Errno>> {
        let so = match self.live(s) {
            Ok(so) => so,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Some(e) = so.error {
            return Poll::Ready(Err(e));
        }
        if so.connected.is_none() {
            return if so.connecting.is_some() {
                Poll::Pending
            } else {
                Poll::Ready(Err(Errno::ENOTCONN))
            };
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = buf.len().min(so.tx_room);
        if n == 0 {
            return Poll::Pending;
        }
        so.tx_room -= n;
        so.tx.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn recv(&mut self, s: SocketHandle, buf: &mut [u8]) -> Poll<Result<usize, Errno>> {
        let so = match self.live(s) {
            Ok(so) => so,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if so.connected.is_none() {
            return if so.connecting.is_some() {
                Poll::Pending
            } else {
                Poll::Ready(Err(Errno::ENOTCONN))
            };
        }
        if !so.rx.is_empty() {
            let n = buf.len().min(so.rx.len());
            for (d, s) in buf.iter_mut().zip(so.rx.drain(..n)) {
                *d = s;
            }
            return Poll::Ready(Ok(n));
        }
        if let Some(e) = so.error {
            return Poll::Ready(Err(e));
        }
        if so.eof {
            return Poll::Ready(Ok(0));
        }
        Poll::Pending
    }

    fn close(&mut self, s: SocketHandle) {
        if let Some(so) = self.socks.get_mut(&s.0) {
            so.closed = true;
        }
    }

    fn readiness(&mut self, s: SocketHandle) -> Readiness {
        if let Some((n, listener)) = self.arrive_during_readiness {
            if n <= 1 {
                self.arrive_during_readiness = None;
                self.incoming(listener);
            } else {
                self.arrive_during_readiness = Some((n - 1, listener));
            }
        }
        let hold = self.hold_commands;
        let errors = self.connect_errors.clone();
        let Ok(so) = self.live(s) else { return Readiness::default() };
        so.polls += 1;
        if so.listening.is_some() {
            return Readiness { readable: !so.accept_queue.is_empty(), ..Default::default() };
        }
        if let Some(target) = so.connecting {
            // The engine's view: the answer is in once dom0 replied.
            let failed = errors.iter().find(|(a, _)| *a == target).map(|&(_, e)| e);
            let done = !hold;
            return Readiness {
                writable: done,
                error: failed.filter(|_| done),
                ..Default::default()
            };
        }
        if so.connected.is_none() {
            return Readiness { hup: true, ..Default::default() };
        }
        let broken = so.error.is_some();
        Readiness {
            readable: !so.rx.is_empty() || so.eof || broken,
            writable: so.tx_room > 0 || broken,
            error: so.error,
            rdhup: so.eof || broken,
            hup: broken,
        }
    }

    fn available(&mut self, s: SocketHandle) -> Result<usize, Errno> {
        let so = self.live(s)?;
        if so.connected.is_none() {
            return Err(Errno::ENOTCONN);
        }
        Ok(so.rx.len())
    }
}
