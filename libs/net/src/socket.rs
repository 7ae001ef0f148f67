//! [`TcpSocket`]: a non-blocking socket handle with smoltcp-style methods and states.

use core::cell::Cell;
use core::fmt;
use core::net::{SocketAddr, SocketAddrV4};

use skiff_pvcalls::{Errno, Readiness, SocketId};

use crate::handle::{DEFAULT_BACKLOG, Owned};
use crate::{Stack, to_v4};

/// TCP states, as far as the frontend can know them.
///
/// The handshake and the closing sequence happen in dom0, and PV Calls has
/// no half-close, so only these five are ever observed: a connection is
/// `SynSent` until the backend answers CONNECT, `Established` until the
/// peer's FIN is seen (`CloseWait`), and `Closed` after an error, a refused
/// connect, or [`TcpSocket::close`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// No connection (fresh, failed, reset or closed).
    Closed,
    /// Listening.
    Listen,
    /// CONNECT sent, not answered yet.
    SynSent,
    /// Connected.
    Established,
    /// The peer finished sending; writing still works.
    CloseWait,
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN-SENT",
            TcpState::Established => "ESTABLISHED",
            TcpState::CloseWait => "CLOSE-WAIT",
        })
    }
}

/// Why [`TcpSocket::send_slice`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The socket cannot send in its state (not connected).
    InvalidState,
    /// The connection failed.
    Failed(Errno),
}

/// Why [`TcpSocket::recv_slice`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// The socket cannot receive in its state (not connected).
    InvalidState,
    /// The peer closed its side and everything was read.
    Finished,
    /// The connection failed (reset, ...).
    Failed(Errno),
}

/// What this handle did to its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Fresh,
    Connecting(SocketAddrV4),
    Connected,
    Listening,
    /// Failed connect, or closed by the user.
    Closed(Option<Errno>),
}

/// A non-blocking TCP socket with smoltcp-style methods. Nothing here
/// blocks except [`listen`](Self::listen) (two round trips); progress is
/// made whenever a method touches the engine, and callers sleep with
/// [`Stack::wait`]. Dropping it closes the socket.
#[derive(Debug)]
pub struct TcpSocket<S: Stack> {
    sock: Owned<S>,
    phase: Cell<Phase>,
    remote: Option<SocketAddrV4>,
    local: Option<SocketAddrV4>,
}

impl<S: Stack> TcpSocket<S> {
    /// A new, closed socket.
    pub fn new(stack: &S) -> Result<Self, Errno> {
        Ok(Self::wrap(Owned::socket(stack)?, Phase::Fresh))
    }

    fn wrap(sock: Owned<S>, phase: Phase) -> Self {
        TcpSocket { sock, phase: Cell::new(phase), remote: None, local: None }
    }

    /// The engine's id of this socket.
    pub fn id(&self) -> SocketId {
        self.sock.id
    }

    /// Starts connecting to `remote` and returns at once (state
    /// [`TcpState::SynSent`]); `EISCONN`/`EALREADY` if not closed.
    pub fn connect(&mut self, remote: impl Into<SocketAddr>) -> Result<(), Errno> {
        let remote = to_v4(remote.into())?;
        match self.phase.get() {
            Phase::Fresh => {}
            Phase::Connecting(_) => return Err(Errno::EALREADY),
            Phase::Connected => return Err(Errno::EISCONN),
            Phase::Listening => return Err(Errno::EINVAL),
            Phase::Closed(_) if !self.sock.is_open() => return Err(Errno::EBADF),
            Phase::Closed(_) => {}
        }
        self.remote = Some(remote);
        self.phase.set(Phase::Connecting(remote));
        // EAGAIN (no free command slot) is fine too: `refresh` sends it later.
        self.refresh();
        Ok(())
    }

    /// One non-blocking step of a connect in progress: `Ok` once connected,
    /// a "would block" errno while in progress, or the failure.
    pub(crate) fn poll_connect(&mut self, remote: SocketAddrV4) -> Result<(), Errno> {
        if self.phase.get() == Phase::Fresh {
            self.remote = Some(remote);
            self.phase.set(Phase::Connecting(remote));
        }
        self.refresh();
        match self.phase.get() {
            Phase::Connected => Ok(()),
            Phase::Connecting(_) => Err(Errno::EINPROGRESS),
            Phase::Closed(e) => {
                // A failed connect leaves the socket ready to try again.
                if self.sock.is_open() {
                    self.phase.set(Phase::Fresh);
                }
                Err(e.unwrap_or(Errno::EBADF))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// Binds to `local` and listens (blocks for the two round trips).
    pub fn listen(&mut self, local: impl Into<SocketAddr>) -> Result<(), Errno> {
        let local = to_v4(local.into())?;
        if self.phase.get() != Phase::Fresh {
            return Err(Errno::EINVAL);
        }
        let id = self.sock.id;
        crate::block_on(&self.sock.stack, None, |fe| fe.bind(id, local))?;
        self.local = Some(local);
        crate::block_on(&self.sock.stack, None, |fe| fe.listen(id, DEFAULT_BACKLOG))?;
        self.phase.set(Phase::Listening);
        Ok(())
    }

    /// Binds only (one round trip); [`listen`](Self::listen) is then
    /// unavailable, use [`listen_bound`](Self::listen_bound).
    pub(crate) fn bind(&mut self, local: SocketAddrV4) -> Result<(), Errno> {
        let id = self.sock.id;
        crate::block_on(&self.sock.stack, None, |fe| fe.bind(id, local))?;
        self.local = Some(local);
        Ok(())
    }

    /// Listens on the address given to `bind`.
    pub(crate) fn listen_bound(&mut self) -> Result<(), Errno> {
        let id = self.sock.id;
        crate::block_on(&self.sock.stack, None, |fe| fe.listen(id, DEFAULT_BACKLOG))?;
        self.phase.set(Phase::Listening);
        Ok(())
    }

    /// A connection accepted on this listening socket, if one is ready
    /// (`Ok(None)` otherwise). Its remote endpoint is unknown (PV Calls).
    pub fn accept(&mut self) -> Result<Option<TcpSocket<S>>, Errno> {
        if self.phase.get() != Phase::Listening {
            return Err(Errno::EINVAL);
        }
        let id = self.sock.id;
        match self.sock.stack.with(|fe| fe.accept(id)) {
            Ok(new) => {
                let sock = Owned::adopt(self.sock.stack.clone(), new);
                Ok(Some(Self::wrap(sock, Phase::Connected)))
            }
            Err(e) if e.is_would_block() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Collects the outcome of a connect in progress.
    fn refresh(&self) {
        if let Phase::Connecting(addr) = self.phase.get() {
            let id = self.sock.id;
            match self.sock.stack.with(|fe| fe.connect(id, addr)) {
                Ok(()) | Err(Errno::EISCONN) => self.phase.set(Phase::Connected),
                Err(e) if e.is_would_block() => {}
                Err(e) => self.phase.set(Phase::Closed(Some(e))),
            }
        }
    }

    fn readiness(&self) -> Option<Readiness> {
        let id = self.sock.id;
        self.sock.stack.with(|fe| fe.poll(id)).ok()
    }

    /// The current state (see [`TcpState`] for what can be observed).
    pub fn state(&self) -> TcpState {
        self.refresh();
        match self.phase.get() {
            Phase::Fresh | Phase::Closed(_) => TcpState::Closed,
            Phase::Listening => TcpState::Listen,
            Phase::Connecting(_) => TcpState::SynSent,
            Phase::Connected => match self.readiness() {
                Some(r) if r.error.is_some() => TcpState::Closed,
                Some(r) if r.rdhup => TcpState::CloseWait,
                Some(_) => TcpState::Established,
                None => TcpState::Closed,
            },
        }
    }

    /// The error that closed the connection (refused, reset, ...), if any.
    pub fn error(&self) -> Option<Errno> {
        self.refresh();
        match self.phase.get() {
            Phase::Closed(e) => e,
            Phase::Connected => self.readiness().and_then(|r| r.error),
            _ => None,
        }
    }

    /// Open: not closed (listening, connecting or connected).
    pub fn is_open(&self) -> bool {
        self.state() != TcpState::Closed
    }

    /// Listening.
    pub fn is_listening(&self) -> bool {
        self.state() == TcpState::Listen
    }

    /// Connecting or connected.
    pub fn is_active(&self) -> bool {
        matches!(self.state(), TcpState::SynSent | TcpState::Established | TcpState::CloseWait)
    }

    /// The send half is open (`Established` or `CloseWait`).
    pub fn may_send(&self) -> bool {
        matches!(self.state(), TcpState::Established | TcpState::CloseWait)
    }

    /// The receive half is open, or received data is still waiting.
    pub fn may_recv(&self) -> bool {
        self.state() == TcpState::Established || self.can_recv()
    }

    /// Some bytes can be queued for sending now.
    pub fn can_send(&self) -> bool {
        self.may_send() && self.readiness().is_some_and(|r| r.writable)
    }

    /// Received bytes are waiting.
    pub fn can_recv(&self) -> bool {
        self.recv_queue() > 0
    }

    /// Number of received bytes waiting.
    pub fn recv_queue(&self) -> usize {
        if self.phase.get() != Phase::Connected {
            return 0;
        }
        let id = self.sock.id;
        self.sock.stack.with(|fe| fe.available(id)).unwrap_or(0)
    }

    /// Queues as much of `data` as fits; `Ok(0)` when the ring is full.
    pub fn send_slice(&mut self, data: &[u8]) -> Result<usize, SendError> {
        self.refresh();
        match self.phase.get() {
            Phase::Connected => {}
            Phase::Closed(Some(e)) => return Err(SendError::Failed(e)),
            _ => return Err(SendError::InvalidState),
        }
        let id = self.sock.id;
        match self.sock.stack.with(|fe| fe.send(id, data)) {
            Ok(n) => Ok(n),
            Err(Errno::EAGAIN) => Ok(0),
            Err(e) => Err(SendError::Failed(e)),
        }
    }

    /// Dequeues received bytes into `buf`; `Ok(0)` when none are waiting,
    /// [`RecvError::Finished`] once the peer closed and all was read.
    pub fn recv_slice(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.refresh();
        match self.phase.get() {
            Phase::Connected => {}
            Phase::Closed(Some(e)) => return Err(RecvError::Failed(e)),
            _ => return Err(RecvError::InvalidState),
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let id = self.sock.id;
        match self.sock.stack.with(|fe| fe.recv(id, buf)) {
            Ok(0) => Err(RecvError::Finished),
            Ok(n) => Ok(n),
            Err(Errno::EAGAIN) => Ok(0),
            Err(e) => Err(RecvError::Failed(e)),
        }
    }

    /// The address connected to (unknown for accepted connections).
    pub fn remote_endpoint(&self) -> Option<SocketAddr> {
        self.remote.map(SocketAddr::V4)
    }

    /// The address bound to (as given; PV Calls has no `getsockname`).
    pub fn local_endpoint(&self) -> Option<SocketAddr> {
        self.local.map(SocketAddr::V4)
    }

    /// Releases the socket (PV Calls has no FIN-only close): the state
    /// becomes [`TcpState::Closed`] and the handle cannot be reused.
    pub fn close(&mut self) {
        self.sock.close();
        self.phase.set(Phase::Closed(None));
    }

    /// Same as [`close`](Self::close): there is no separate reset.
    pub fn abort(&mut self) {
        self.close();
    }
}
