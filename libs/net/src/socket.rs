//! [`TcpSocket`]: a non-blocking socket handle with smoltcp-style methods and states.

use core::cell::Cell;
use core::fmt;
use core::net::{SocketAddr, SocketAddrV4};
use core::task::Poll;

use skiff_pvcalls::{Errno, Readiness, SocketId, SocketPhase};

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

/// Where the socket is, as [`TcpSocket`] derives it from the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// No connection: fresh, bound, failed (with the error) or closed.
    Closed(Option<Errno>),
    /// Connecting.
    Connecting,
    /// Connected, or accepted (the connection may have failed since).
    Connected,
    /// Listening.
    Listening,
}

/// What the engine no longer holds, or does not hold yet, of this
/// handle's last connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Nothing: the engine knows where the socket is.
    Engine,
    /// Asked for while the engine had no free command slot: the next
    /// method that looks at the socket sends it.
    Unsent,
    /// Failed (refused by the backend, or by the engine before anything
    /// was sent): the socket's error until the next connect. The engine
    /// hands a failure over once; this is where it is kept.
    Failed(Errno),
}

/// A non-blocking TCP socket with smoltcp-style methods. Nothing here
/// blocks except [`listen`](Self::listen) (two round trips); progress is
/// made whenever a method touches the engine, and callers sleep with
/// [`Stack::wait`]. Dropping it closes the socket.
///
/// Where the connection is (connecting, connected, refused, listening) is
/// the engine's to know: every method asks it ([`Frontend::phase`]).
///
/// [`Frontend::phase`]: skiff_pvcalls::Frontend::phase
#[derive(Debug)]
pub struct TcpSocket<S: Stack> {
    sock: Owned<S>,
    outcome: Cell<Outcome>,
    remote: Option<SocketAddrV4>,
    local: Option<SocketAddrV4>,
}

impl<S: Stack> TcpSocket<S> {
    /// A new, closed socket.
    pub fn new(stack: &S) -> Result<Self, Errno> {
        Ok(Self::wrap(Owned::socket(stack)?))
    }

    fn wrap(sock: Owned<S>) -> Self {
        TcpSocket { sock, outcome: Cell::new(Outcome::Engine), remote: None, local: None }
    }

    /// The engine's id of this socket.
    pub fn id(&self) -> SocketId {
        self.sock.id
    }

    /// Starts connecting to `remote` and returns at once (state
    /// [`TcpState::SynSent`]); `EISCONN`/`EALREADY` if not closed.
    pub fn connect(&mut self, remote: impl Into<SocketAddr>) -> Result<(), Errno> {
        let remote = to_v4(remote.into())?;
        if !self.sock.is_open() {
            return Err(Errno::EBADF);
        }
        match self.link() {
            Link::Closed(_) => {}
            Link::Connecting => return Err(Errno::EALREADY),
            Link::Connected => return Err(Errno::EISCONN),
            Link::Listening => return Err(Errno::EINVAL),
        }
        self.start_connect(remote);
        Ok(())
    }

    /// Asks the engine for a new connect to `remote`, forgetting an earlier
    /// failure. No free command slot is fine: `link` sends it later.
    fn start_connect(&mut self, remote: SocketAddrV4) {
        self.remote = Some(remote);
        self.outcome.set(Outcome::Unsent);
        self.link();
    }

    /// One non-blocking step of a connect (embedded-nal): `Ok` once
    /// connected, `Pending` while in progress, or the failure, after which
    /// the socket is ready to try again.
    pub(crate) fn poll_connect(&mut self, remote: SocketAddrV4) -> Poll<Result<(), Errno>> {
        if !self.sock.is_open() {
            return Poll::Ready(Err(Errno::EBADF));
        }
        if let Link::Closed(None) = self.link() {
            self.start_connect(remote);
        }
        match self.link() {
            Link::Connected => Poll::Ready(Ok(())),
            Link::Connecting => Poll::Pending,
            Link::Listening => Poll::Ready(Err(Errno::EINVAL)),
            Link::Closed(e) => {
                self.outcome.set(Outcome::Engine);
                Poll::Ready(Err(e.unwrap_or(Errno::EBADF)))
            }
        }
    }

    /// Binds to `local` and listens (blocks for the two round trips).
    pub fn listen(&mut self, local: impl Into<SocketAddr>) -> Result<(), Errno> {
        let local = to_v4(local.into())?;
        if !self.sock.is_open() || self.link() != Link::Closed(None) {
            return Err(Errno::EINVAL);
        }
        let id = self.sock.id;
        crate::block(&self.sock.stack, |fe| fe.bind(id, local))?;
        self.local = Some(local);
        crate::block(&self.sock.stack, |fe| fe.listen(id, DEFAULT_BACKLOG))?;
        Ok(())
    }

    /// Binds only (one round trip); [`listen`](Self::listen) is then
    /// unavailable, use [`listen_bound`](Self::listen_bound).
    pub(crate) fn bind(&mut self, local: SocketAddrV4) -> Result<(), Errno> {
        let id = self.sock.id;
        crate::block(&self.sock.stack, |fe| fe.bind(id, local))?;
        self.local = Some(local);
        Ok(())
    }

    /// Listens on the address given to `bind`.
    pub(crate) fn listen_bound(&mut self) -> Result<(), Errno> {
        let id = self.sock.id;
        crate::block(&self.sock.stack, |fe| fe.listen(id, DEFAULT_BACKLOG))
    }

    /// A connection accepted on this listening socket, if one is ready
    /// (`Ok(None)` otherwise). Its remote endpoint is unknown (PV Calls).
    pub fn accept(&mut self) -> Result<Option<TcpSocket<S>>, Errno> {
        if self.link() != Link::Listening {
            return Err(Errno::EINVAL);
        }
        let id = self.sock.id;
        match self.sock.stack.with(|fe| fe.accept(id)) {
            Poll::Ready(Ok(new)) => {
                Ok(Some(Self::wrap(Owned::adopt(self.sock.stack.clone(), new))))
            }
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Ok(None),
        }
    }

    /// Where the socket is: the engine's phase, after sending a connect
    /// that waits for a command slot and collecting a failed one.
    fn link(&self) -> Link {
        if !self.sock.is_open() {
            return Link::Closed(None);
        }
        let id = self.sock.id;
        if self.outcome.get() == Outcome::Unsent
            && let Some(addr) = self.remote
        {
            let next = self.sock.stack.with(|fe| match fe.connect(id, addr) {
                // Not sent: no command slot was free.
                Poll::Pending if fe.phase(id) != Some(SocketPhase::Connecting) => None,
                Poll::Ready(Err(e)) if e != Errno::EISCONN => Some(Outcome::Failed(e)),
                _ => Some(Outcome::Engine),
            });
            let Some(next) = next else { return Link::Connecting };
            self.outcome.set(next);
        }
        if let Outcome::Failed(e) = self.outcome.get() {
            return Link::Closed(Some(e));
        }
        let link = self.sock.stack.with(|fe| {
            fe.take_answers();
            match fe.phase(id) {
                Some(SocketPhase::Connecting) => Link::Connecting,
                Some(SocketPhase::Listener { .. }) => Link::Listening,
                // A ring kept from a CONNECT the backend never finished is
                // no connection (Frontend::peer).
                Some(SocketPhase::Connected) if fe.peer(id).is_some() => Link::Connected,
                _ => Link::Closed(fe.take_error(id).ok().flatten()),
            }
        });
        if let Link::Closed(Some(e)) = link {
            self.outcome.set(Outcome::Failed(e));
        }
        link
    }

    fn readiness(&self) -> Option<Readiness> {
        let id = self.sock.id;
        self.sock.stack.with(|fe| fe.poll(id)).ok()
    }

    /// The current state (see [`TcpState`] for what can be observed).
    pub fn state(&self) -> TcpState {
        match self.link() {
            Link::Closed(_) => TcpState::Closed,
            Link::Listening => TcpState::Listen,
            Link::Connecting => TcpState::SynSent,
            Link::Connected => match self.readiness() {
                Some(r) if r.error.is_some() => TcpState::Closed,
                Some(r) if r.rdhup => TcpState::CloseWait,
                Some(_) => TcpState::Established,
                None => TcpState::Closed,
            },
        }
    }

    /// The error that closed the connection (refused, reset, ...), if any.
    pub fn error(&self) -> Option<Errno> {
        match self.link() {
            Link::Closed(e) => e,
            Link::Connected => self.readiness().and_then(|r| r.error),
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
        if self.link() != Link::Connected {
            return 0;
        }
        let id = self.sock.id;
        self.sock.stack.with(|fe| fe.available(id)).unwrap_or(0)
    }

    /// Queues as much of `data` as fits; `Ok(0)` when the ring is full.
    pub fn send_slice(&mut self, data: &[u8]) -> Result<usize, SendError> {
        match self.link() {
            Link::Connected => {}
            Link::Closed(Some(e)) => return Err(SendError::Failed(e)),
            _ => return Err(SendError::InvalidState),
        }
        let id = self.sock.id;
        match self.sock.stack.with(|fe| fe.send(id, data)) {
            Poll::Ready(Ok(n)) => Ok(n),
            Poll::Ready(Err(e)) => Err(SendError::Failed(e)),
            Poll::Pending => Ok(0),
        }
    }

    /// Dequeues received bytes into `buf`; `Ok(0)` when none are waiting,
    /// [`RecvError::Finished`] once the peer closed and all was read.
    pub fn recv_slice(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        match self.link() {
            Link::Connected => {}
            Link::Closed(Some(e)) => return Err(RecvError::Failed(e)),
            _ => return Err(RecvError::InvalidState),
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let id = self.sock.id;
        match self.sock.stack.with(|fe| fe.recv(id, buf)) {
            Poll::Ready(Ok(0)) => Err(RecvError::Finished),
            Poll::Ready(Ok(n)) => Ok(n),
            Poll::Ready(Err(e)) => Err(RecvError::Failed(e)),
            Poll::Pending => Ok(0),
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
        self.outcome.set(Outcome::Engine);
    }

    /// Same as [`close`](Self::close): there is no separate reset.
    pub fn abort(&mut self) {
        self.close();
    }
}
