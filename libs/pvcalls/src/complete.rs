//! Command completions: what each answered command does to the socket table.

use crate::cmd::{Completion, ReqId};
use crate::platform::Platform;
use crate::socket::{Listener, Peer, PendingAccept, Socket, State};
use crate::wire::Request;
use crate::{Errno, Frontend};

impl<P: Platform> Frontend<P> {
    pub(crate) fn on_completion(&mut self, c: Completion) {
        let result = c.result();
        match c.req {
            Request::Socket { id, .. } => {
                if let Some(s) = self.sockets.get_mut(&id)
                    && s.socket_req == Some(c.req_id)
                {
                    s.socket_req = None;
                    s.socket_err = result.err();
                }
            }
            Request::Bind { id, .. } | Request::Listen { id, .. } | Request::Connect { id, .. } => {
                self.on_setup(id, c, result);
            }
            Request::Accept { id, id_new, .. } => self.on_accept(id, id_new, c.req_id, result),
            Request::Release { id, .. } => {
                let Some(s) = self.sockets.get(&id) else { return };
                if matches!(s.state, State::Releasing(r, _) if r == c.req_id)
                    && let Some(s) = self.sockets.remove(&id)
                    && let State::Releasing(_, Some(ring)) = s.state
                {
                    ring.release(&mut self.platform, &mut self.acct);
                }
            }
            Request::Poll { .. } => {}
        }
    }

    /// BIND, LISTEN or CONNECT answered.
    fn on_setup(&mut self, id: u64, c: Completion, result: Result<(), Errno>) {
        let Some(s) = self.sockets.get_mut(&id) else { return };
        let result = match s.socket_err.take() {
            Some(e) => Err(e),
            None => result,
        };
        let state = core::mem::replace(&mut s.state, State::Fresh);
        let (next, ring_to_free) = match state {
            State::Binding(r, addr) if r == c.req_id => {
                (if result.is_ok() { State::Bound(addr) } else { State::Fresh }, None)
            }
            State::Listening(r, addr) if r == c.req_id => {
                let next = if result.is_ok() {
                    State::Listener(Listener { addr, accept: None, ready: None, error: None })
                } else {
                    State::Bound(addr)
                };
                (next, None)
            }
            State::Connecting(r, ring) if r == c.req_id => {
                if result.is_ok() {
                    if let Request::Connect { addr, .. } = c.req {
                        s.peer = Some(Peer::Addr(addr));
                    }
                    (State::Connected(ring), None)
                } else {
                    // The backend does not keep a failed connection and has
                    // unmapped (or never mapped) the ring.
                    (State::Fresh, Some(ring))
                }
            }
            other => {
                s.state = other;
                return;
            }
        };
        s.state = next;
        s.result = Some((c.req.cmd(), result));
        if let Some(ring) = ring_to_free {
            ring.release(&mut self.platform, &mut self.acct);
        }
        self.advance(id);
    }

    fn on_accept(&mut self, id: u64, id_new: u64, req: ReqId, result: Result<(), Errno>) {
        if let Some(i) = self.orphans.iter().position(|o| o.req == req) {
            let o = self.orphans.swap_remove(i);
            self.adopt(o.pending, result, true);
            return;
        }
        let Some(s) = self.sockets.get_mut(&id) else { return };
        let State::Listener(l) = &mut s.state else { return };
        let Some(pending) = l.accept.take_if(|a| a.req == req && a.id_new == id_new) else {
            return;
        };
        match result {
            Ok(()) => l.ready = Some(id_new),
            // Old backends answer EAGAIN when nothing is queued, and Linux's
            // answers EINTR to an ACCEPT sent right after it answered the
            // previous one (it clears its copy of that request only after
            // notifying us): neither is an error; the next accept or poll
            // sends a new ACCEPT.
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(e) => l.error = Some(e),
        }
        let closing = s.closing;
        self.adopt(pending, result, closing);
        self.advance(id);
    }

    /// Turns an answered ACCEPT into a connected socket (or frees its ring).
    fn adopt(&mut self, pending: PendingAccept<P::Pages>, result: Result<(), Errno>, close: bool) {
        if result.is_err() {
            pending.ring.release(&mut self.platform, &mut self.acct);
            return;
        }
        let mut s = Socket::new(false, State::Connected(pending.ring));
        s.socket_sent = true;
        s.peer = Some(Peer::Unknown);
        s.closing = close;
        self.sockets.insert(pending.id_new, s);
        if close {
            self.advance(pending.id_new);
        }
    }
}
