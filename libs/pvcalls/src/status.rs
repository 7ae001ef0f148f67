//! What the socket faces ask the engine about one socket: its phase, peer, local address, pending error and bytes waiting.
//!
//! The engine holds the one state machine of each socket (see `socket.rs`):
//! a face that wants to know whether a connect is in flight, has finished
//! or failed asks here instead of keeping a copy. Asking changes nothing:
//! answers that arrived are taken by the next operation,
//! [`process`](Frontend::process) or [`take_answers`](Frontend::take_answers),
//! so a face can tell what an operation it just made did. Only
//! [`take_error`](Frontend::take_error), which collects, takes them first.

use core::net::SocketAddrV4;

use crate::platform::Platform;
use crate::socket::{Listener, Peer, SocketId, State};
use crate::view::{SocketPhase, phase_of};
use crate::{Errno, Frontend};

impl<P: Platform> Frontend<P> {
    /// Handles every command answer that has arrived, as each operation
    /// does first, without waiting. Returns whether there was one.
    pub fn take_answers(&mut self) -> bool {
        self.poll_cmd()
    }

    /// Where socket `id` is in its life cycle (`None` if the user does not
    /// hold it).
    pub fn phase(&self, id: SocketId) -> Option<SocketPhase> {
        let s = self.sockets.get(&id.0).filter(|s| s.user_open)?;
        Some(phase_of(&s.state).0)
    }

    /// Who socket `id` is connected with; `None` if it is not a connection
    /// (not connected yet, failed, a listener, or not held by the user).
    pub fn peer(&self, id: SocketId) -> Option<Peer> {
        let s = self.sockets.get(&id.0).filter(|s| s.user_open)?;
        match s.state {
            State::Connected(_) => s.peer,
            _ => None,
        }
    }

    /// `SO_ERROR`: the error of a BIND, LISTEN or CONNECT that failed and
    /// whose outcome nobody collected yet (taken: the socket can then try
    /// again), else a connection's pending error (it stays: errors of a
    /// connection are sticky in PV Calls), else `None`.
    pub fn take_error(&mut self, id: SocketId) -> Result<Option<Errno>, Errno> {
        self.poll_cmd();
        let gone = self.gone.is_some();
        let s = self.user_socket(id)?;
        if let Some((_, Err(e))) = s.result {
            s.result = None;
            return Ok(Some(e));
        }
        match &mut s.state {
            State::Connected(ring) if s.peer.is_some() => Ok(ring.readiness(gone).error),
            _ => Ok(None),
        }
    }

    /// Whether an ACCEPT is in flight for listener `id`.
    pub fn accept_pending(&self, id: SocketId) -> bool {
        matches!(
            self.sockets.get(&id.0).map(|s| &s.state),
            Some(State::Listener(Listener { accept: Some(_), .. }))
        )
    }

    /// The local address a socket was bound to.
    pub fn local_addr(&self, id: SocketId) -> Option<SocketAddrV4> {
        match self.sockets.get(&id.0)?.state {
            State::Bound(a) | State::Binding(_, a) | State::Listening(_, a) => Some(a),
            State::Listener(ref l) => Some(l.addr),
            _ => None,
        }
    }

    /// Bytes waiting to be read on a connected socket.
    pub fn available(&mut self, id: SocketId) -> Result<usize, Errno> {
        let s = self.user_socket(id)?;
        match &mut s.state {
            State::Connected(ring) => ring.io.available(&ring.idx.mem),
            _ => Err(Errno::ENOTCONN),
        }
    }
}
