//! Per-socket state of the engine: the life cycle of active and passive sockets.

use alloc::boxed::Box;
use core::net::SocketAddrV4;

use crate::Errno;
use crate::cmd::ReqId;
use crate::rings::DataRing;

/// Handle of a socket: the 64-bit `id` the frontend chose and the backend
/// knows it by. Unique across active and passive sockets, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u64);

/// The other end of a connection, as far as PV Calls tells the frontend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Connected by `connect` to this address.
    Addr(SocketAddrV4),
    /// An accepted connection: PV Calls does not report who connected.
    Unknown,
}

/// The ACCEPT outstanding on a listener, with the data ring it pre-allocated.
#[derive(Debug)]
pub(crate) struct PendingAccept<B> {
    pub req: ReqId,
    pub id_new: u64,
    pub ring: Box<DataRing<B>>,
}

/// A listening socket.
#[derive(Debug)]
pub(crate) struct Listener<B> {
    pub addr: SocketAddrV4,
    /// At most one ACCEPT in flight (the backend answers a second ACCEPT
    /// or POLL on the same listener with -EINTR).
    pub accept: Option<PendingAccept<B>>,
    /// A connection accepted by the backend, not yet handed to the user.
    pub ready: Option<u64>,
    /// An ACCEPT that failed, reported by the next `accept()`.
    pub error: Option<Errno>,
}

/// Where a socket is in its life cycle.
#[derive(Debug)]
pub(crate) enum State<B> {
    /// Created locally; nothing keyed by it in the backend.
    Fresh,
    /// BIND in flight.
    Binding(ReqId, SocketAddrV4),
    /// Bound (the backend holds a passive socket under this id).
    Bound(SocketAddrV4),
    /// LISTEN in flight.
    Listening(ReqId, SocketAddrV4),
    /// Listening.
    Listener(Listener<B>),
    /// CONNECT in flight (the backend holds the whole command ring meanwhile).
    Connecting(ReqId, Box<DataRing<B>>),
    /// Connected, or accepted.
    Connected(Box<DataRing<B>>),
    /// Closed by the user with data still in `out`: RELEASE waits until the
    /// backend has consumed it, reported an error, or the deadline
    /// (monotonic ns) passed, because the backend discards `out` on RELEASE.
    Draining(Box<DataRing<B>>, u64),
    /// Closed by the user; RELEASE waits for a free command slot.
    ReleaseQueued(Option<Box<DataRing<B>>>),
    /// RELEASE in flight; the ring is freed when it is answered.
    Releasing(ReqId, Option<Box<DataRing<B>>>),
}

/// One entry of the socket table.
#[derive(Debug)]
pub(crate) struct Socket<B> {
    pub state: State<B>,
    /// The user still holds the handle (false once `close()`d, or for an
    /// accepted connection not yet handed out).
    pub user_open: bool,
    /// The user closed it; release it as soon as no command is in flight.
    pub closing: bool,
    /// SOCKET sent (it is sent lazily, right before BIND or CONNECT).
    pub socket_sent: bool,
    /// SOCKET in flight.
    pub socket_req: Option<ReqId>,
    /// Error returned for SOCKET, reported with the next completion.
    pub socket_err: Option<Errno>,
    /// Outcome of the last BIND/LISTEN/CONNECT, until the user collects it.
    pub result: Option<(u32, Result<(), Errno>)>,
    /// Who the connection is with, once it is one (a CONNECT in flight
    /// when the backend went away leaves a ring but no connection).
    pub peer: Option<Peer>,
}

impl<B> Socket<B> {
    pub fn new(user_open: bool, state: State<B>) -> Self {
        Socket {
            state,
            user_open,
            closing: false,
            socket_sent: false,
            socket_req: None,
            socket_err: None,
            result: None,
            peer: None,
        }
    }

    /// Whether a command other than SOCKET is in flight for this socket.
    pub fn busy(&self) -> bool {
        match &self.state {
            State::Binding(..) | State::Listening(..) | State::Connecting(..) => true,
            State::Releasing(..) => true,
            State::Listener(l) => l.accept.is_some(),
            _ => false,
        }
    }
}
