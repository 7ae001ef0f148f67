//! Read-only views of the engine's state: sockets and outstanding commands, for leak checks, fuzzing and diagnostics.

use crate::cmd::ReqId;
use crate::platform::{Platform, Port};
use crate::rings::DataRing;
use crate::socket::State;
use crate::wire::Request;
use crate::{Frontend, SocketId};

/// Where a socket is in its life cycle (see the engine's `State`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketPhase {
    /// Created locally; nothing keyed by it in the backend.
    Fresh,
    /// BIND in flight.
    Binding,
    /// Bound.
    Bound,
    /// LISTEN in flight.
    Listening,
    /// Listening.
    Listener {
        /// An ACCEPT is in flight.
        accept_in_flight: bool,
        /// A connection is accepted and not yet handed out.
        ready: bool,
    },
    /// CONNECT in flight.
    Connecting,
    /// Connected (or accepted).
    Connected,
    /// Closed with data in `out`; waiting for it to drain before RELEASE.
    Draining,
    /// Closed; RELEASE waits for a free command slot.
    ReleaseQueued,
    /// RELEASE in flight.
    Releasing,
}

/// One socket of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketView {
    /// Its id.
    pub id: SocketId,
    /// Where it is.
    pub phase: SocketPhase,
    /// The application still holds it.
    pub user_open: bool,
    /// Closed by the application, or at shutdown; released when it can be.
    pub closing: bool,
    /// The order of its data ring, if it holds one.
    pub ring_order: Option<u32>,
    /// The event channel of its data ring, if it holds one.
    pub port: Option<Port>,
}

/// One command sent and not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandView {
    /// Its `req_id`.
    pub req_id: ReqId,
    /// What was sent.
    pub request: Request,
}

impl<P: Platform> Frontend<P> {
    /// Every socket in the table (closing ones and accepted connections not
    /// yet handed out included), in id order.
    pub fn sockets(&self) -> impl Iterator<Item = SocketView> + '_ {
        self.sockets.iter().map(|(&id, s)| {
            let (phase, ring) = phase_of(&s.state);
            SocketView {
                id: SocketId(id),
                phase,
                user_open: s.user_open,
                closing: s.closing,
                ring_order: ring.map(|r| r.io.order()),
                port: ring.map(|r| r.port),
            }
        })
    }

    /// Every command sent and not answered yet (ACCEPTs orphaned at
    /// shutdown included), in `req_id` order.
    pub fn commands(&self) -> impl Iterator<Item = CommandView> + '_ {
        self.cmd.outstanding_requests().map(|(req_id, r)| CommandView { req_id, request: *r })
    }
}

/// The phase of `state`, and the data ring it holds, if any.
pub(crate) fn phase_of<B>(state: &State<B>) -> (SocketPhase, Option<&DataRing<B>>) {
    match state {
        State::Fresh => (SocketPhase::Fresh, None),
        State::Binding(..) => (SocketPhase::Binding, None),
        State::Bound(_) => (SocketPhase::Bound, None),
        State::Listening(..) => (SocketPhase::Listening, None),
        State::Listener(l) => (
            SocketPhase::Listener {
                accept_in_flight: l.accept.is_some(),
                ready: l.ready.is_some(),
            },
            l.accept.as_ref().map(|a| &*a.ring),
        ),
        State::Connecting(_, r) => (SocketPhase::Connecting, Some(&**r)),
        State::Connected(r) => (SocketPhase::Connected, Some(&**r)),
        State::Draining(r, _) => (SocketPhase::Draining, Some(&**r)),
        State::ReleaseQueued(r) => (SocketPhase::ReleaseQueued, r.as_deref()),
        State::Releasing(_, r) => (SocketPhase::Releasing, r.as_deref()),
    }
}
