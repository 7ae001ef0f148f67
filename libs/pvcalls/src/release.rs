//! Closing sockets: lingering, RELEASE, and giving every page, grant and port back at teardown or drop.
//!
//! The rule everything here follows: a page is freed only once its grant
//! has ended, and a grant is ended only when the backend does not map it
//! (after RELEASE was answered, or after the backend closed); a grant the
//! backend still maps stays active and its page is leaked, never reused.

use alloc::vec::Vec;
use core::task::Poll;

use crate::Frontend;
use crate::cmd::ReqId;
use crate::engine::GoneReason;
use crate::platform::Platform;
use crate::rings::DataRing;
use crate::socket::{PendingAccept, State};
use crate::wire::Request;

/// Rings taken out of the table: those the backend maps or has let go of,
/// and those of CONNECTs and ACCEPTs in flight, which it may map any time.
struct AllRings<B> {
    settled: Vec<DataRing<B>>,
    in_flight: Vec<DataRing<B>>,
}

/// An ACCEPT left outstanding when its listener was released at shutdown:
/// its command slot is lost, but if it is ever answered the new connection
/// must be released too, and its ring is given back at teardown.
#[derive(Debug)]
pub(crate) struct Orphan<B> {
    pub req: ReqId,
    pub pending: PendingAccept<B>,
}

impl<P: Platform> Frontend<P> {
    /// If `id` is closing and has no command in flight, releases it.
    pub(crate) fn advance(&mut self, id: u64) {
        let gone = self.gone.is_some();
        let Some(s) = self.sockets.get_mut(&id) else { return };
        if !s.closing || s.busy() {
            return;
        }
        // The backend discards `out` on RELEASE: let it drain first.
        let linger = match &mut s.state {
            State::Connected(r) => !gone && !r.io.out_settled(&r.idx.mem),
            _ => false,
        };
        let state = core::mem::replace(&mut s.state, State::Fresh);
        let ring = match state {
            // Nothing is keyed by this id in the backend (SOCKET stores
            // nothing; a failed BIND or CONNECT leaves nothing behind).
            State::Fresh => {
                self.sockets.remove(&id);
                return;
            }
            State::Connected(ring) if linger => {
                s.state =
                    State::Draining(ring, self.platform.now_ns().saturating_add(self.linger_ns));
                self.draining.push(id);
                return;
            }
            State::Bound(_) => None,
            State::Listener(l) => {
                if let Some(new) = l.ready {
                    if let Some(n) = self.sockets.get_mut(&new) {
                        n.closing = true;
                    }
                    self.advance(new);
                }
                None
            }
            State::Connected(ring) => Some(ring),
            State::ReleaseQueued(r) => r,
            other => {
                s.state = other;
                return;
            }
        };
        let Some(s) = self.sockets.get_mut(&id) else { return };
        s.state = State::ReleaseQueued(ring);
        self.queue_release(id);
    }

    /// Queues RELEASE for `id` (already in [`State::ReleaseQueued`]), or
    /// frees it at once if the backend is gone (its grants are ended where
    /// the backend does not map them; the rest is leaked).
    fn queue_release(&mut self, id: u64) {
        if self.gone.is_some() {
            if let Some(s) = self.sockets.remove(&id)
                && let State::ReleaseQueued(Some(r)) = s.state
            {
                r.release(&mut self.platform, &mut self.acct);
            }
            return;
        }
        self.release_queue.push_back(id);
        self.flush_releases();
    }

    /// Sends queued RELEASEs while there are free slots.
    pub(crate) fn flush_releases(&mut self) {
        while let Some(&id) = self.release_queue.front() {
            if self.gone.is_some() || !self.cmd.has_room() {
                return;
            }
            self.release_queue.pop_front();
            let Some(s) = self.sockets.get(&id) else { continue };
            if !matches!(s.state, State::ReleaseQueued(_)) {
                continue;
            }
            let Poll::Ready(Ok(ids)) = self.submit(&[Request::Release { id, reuse: false }]) else {
                return;
            };
            if let Some(s) = self.sockets.get_mut(&id)
                && let State::ReleaseQueued(r) = core::mem::replace(&mut s.state, State::Fresh)
            {
                s.state = State::Releasing(ids[0], r);
            }
        }
    }

    /// Releases every socket, including listeners with an ACCEPT in
    /// flight (whose command slot is then lost for good, as the backend
    /// never answers it; its ring is kept until [`teardown`](Self::teardown)):
    /// for shutdown only. Sockets are then closed in the background by
    /// [`process`](Self::process).
    pub fn release_all(&mut self) {
        let ids: Vec<u64> = self.sockets.keys().copied().collect();
        for id in ids {
            let Some(s) = self.sockets.get_mut(&id) else { continue };
            s.closing = true;
            s.user_open = false;
            if let State::Listener(l) = &mut s.state
                && let Some(a) = l.accept.take()
            {
                self.orphans.push(Orphan { req: a.req, pending: a });
            }
            self.advance(id);
        }
    }

    /// Releases the closed connections whose `out` has drained, failed, or
    /// outlived the linger time.
    pub(crate) fn check_draining(&mut self) {
        if self.draining.is_empty() {
            return;
        }
        let now = self.platform.now_ns();
        let gone = self.gone.is_some();
        let ids = core::mem::take(&mut self.draining);
        for id in ids {
            let Some(s) = self.sockets.get_mut(&id) else { continue };
            let done = match &mut s.state {
                State::Draining(ring, deadline) => {
                    gone || now >= *deadline || ring.io.out_settled(&ring.idx.mem)
                }
                _ => continue,
            };
            if !done {
                self.draining.push(id);
                continue;
            }
            if let State::Draining(ring, _) = core::mem::replace(&mut s.state, State::Fresh) {
                s.state = State::ReleaseQueued(Some(ring));
            }
            self.queue_release(id);
        }
    }

    /// Whether closed connections are still waiting for `out` to drain.
    pub fn is_draining(&self) -> bool {
        !self.draining.is_empty()
    }

    /// Tears the command ring down once the backend has disconnected
    /// (xenbus Closed), or was given up on: fails every socket, gives back
    /// the rings of ACCEPTs orphaned at shutdown, ends the command ring's
    /// grant and closes its port. Pages the backend still maps are leaked.
    /// Sockets still open keep their data rings until they are closed.
    pub fn teardown(&mut self) {
        self.give_up(GoneReason::Closed);
        for o in core::mem::take(&mut self.orphans) {
            o.pending.ring.release(&mut self.platform, &mut self.acct);
        }
        if let Some(page) = self.cmd_page.take() {
            self.cmd.abandon_all();
            page.release(&mut self.platform, &mut self.acct);
            crate::rings::close_port(&mut self.platform, &mut self.acct, self.cmd_port);
        }
    }

    /// Every ring the frontend still holds, taken out of the table.
    fn take_all_rings(&mut self) -> AllRings<P::Pages> {
        let (mut settled, mut in_flight) = (Vec::new(), Vec::new());
        for (_, s) in core::mem::take(&mut self.sockets) {
            match s.state {
                State::Connecting(_, r) => in_flight.push(*r),
                State::Connected(r) | State::Draining(r, _) => settled.push(*r),
                State::ReleaseQueued(Some(r)) | State::Releasing(_, Some(r)) => settled.push(*r),
                State::Listener(l) => {
                    if let Some(a) = l.accept {
                        in_flight.push(*a.ring);
                    }
                }
                _ => {}
            }
        }
        in_flight.extend(core::mem::take(&mut self.orphans).into_iter().map(|o| *o.pending.ring));
        AllRings { settled, in_flight }
    }
}

/// A frontend dropped while it still holds rings (the guest gives up on
/// networking without a clean disconnect): grants are ended where the
/// backend does not map the page, the rings of CONNECTs and ACCEPTs in
/// flight are leaked whole (the backend may map them later), and no page
/// the backend may still use is ever returned to the allocator.
impl<P: Platform> Drop for Frontend<P> {
    fn drop(&mut self) {
        let AllRings { settled, in_flight } = self.take_all_rings();
        for ring in settled {
            ring.release(&mut self.platform, &mut self.acct);
        }
        for ring in in_flight {
            ring.leak(&mut self.platform, &mut self.acct);
        }
        if let Some(page) = self.cmd_page.take() {
            page.release(&mut self.platform, &mut self.acct);
            crate::rings::close_port(&mut self.platform, &mut self.acct, self.cmd_port);
        }
    }
}
