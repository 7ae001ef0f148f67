//! The socket engine: the command ring, the socket table and the command completions that drive it.
//!
//! [`Frontend`] owns the command ring and every socket's resources. Its
//! user operations (in `ops.rs`) never block: they either finish, or
//! start a command and return a "call again" error (see
//! [`Errno::is_would_block`]). Callers that want to block loop on
//! [`Frontend::wait`], which sleeps on the platform until an event or a
//! deadline and then runs [`Frontend::process`].

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};

use skiff_xen::pvcalls::MAX_RING_ORDER;

use crate::cmd::{CmdClient, CmdStats, Completion, ReqId, SubmitError};
use crate::platform::{DomId, GrantRef, Platform, Port, Resources};
use crate::rings::{alloc_port, close_port, Accounting, DataRing, GrantedBlock};
use crate::socket::{Listener, PendingAccept, Socket, State};
use crate::wire::Request;
use crate::Errno;

/// Tunables of a [`Frontend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Data-ring order (`1 << order` data pages per socket). `None`: the
    /// backend's `max-page-order` (capped at 9). Must be between 1 and the
    /// backend's maximum. When pages run short, new sockets get the largest
    /// smaller ring that can be allocated, down to order 1.
    pub ring_order: Option<u32>,
    /// Send `PVCALLS_SOCKET` (lazily, right before the first BIND or
    /// CONNECT of a socket). The Linux backend only validates it; turning
    /// it off saves a command slot per socket.
    pub send_socket: bool,
    /// How long a closed connection may wait for the backend to send what
    /// was written to it before RELEASE discards the rest (nanoseconds).
    pub linger_ns: u64,
    /// Answer every backend event on a data ring with an event of ours (sent
    /// with the next send or before the next block). Linux's `pvcalls-back`
    /// reports a socket state change (a peer's reset) only by marking the
    /// socket to be read and notifying us; its I/O worker reads it when our
    /// next event runs it, and that notification can arrive merged with a
    /// data event. Without answers a reset on an idle connection is never
    /// seen. Turn it off only for a 6.1 backend without the masked-channel
    /// fix, where an answer that finds `out` empty masks the channel and
    /// stalls request/response traffic.
    pub answer_events: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ring_order: None,
            send_socket: true,
            linger_ns: 30_000_000_000,
            answer_events: true,
        }
    }
}

impl Errno {
    /// Whether a [`Frontend`] operation returning this error should be
    /// called again after [`Frontend::wait`]: `EAGAIN` (nothing to do yet,
    /// or no free command slot), `EINPROGRESS` (a command was just sent),
    /// `EALREADY` (a command is still in flight).
    pub fn is_would_block(self) -> bool {
        matches!(self, Errno::EAGAIN | Errno::EINPROGRESS | Errno::EALREADY)
    }
}

/// An ACCEPT left outstanding when its listener was force-released at
/// shutdown: its slot is lost, but if it is ever answered the new
/// connection must be released too.
#[derive(Debug)]
struct Orphan<B> {
    req: ReqId,
    pending: PendingAccept<B>,
}

/// The PV Calls frontend: command ring + socket table. See the module docs.
#[derive(Debug)]
pub struct Frontend<P: Platform> {
    pub(crate) platform: P,
    pub(crate) backend: DomId,
    pub(crate) order: u32,
    cmd_page: Option<GrantedBlock<P::Pages>>,
    cmd_port: Port,
    pub(crate) cmd: CmdClient,
    pub(crate) sockets: BTreeMap<u64, Socket<P::Pages>>,
    next_id: u64,
    pub(crate) acct: Accounting,
    release_queue: VecDeque<u64>,
    orphans: alloc::vec::Vec<Orphan<P::Pages>>,
    pub(crate) gone: bool,
    notify_pending: bool,
    pub(crate) send_socket: bool,
    /// Closed connections waiting for `out` to drain (see [`State::Draining`]).
    draining: alloc::vec::Vec<u64>,
    linger_ns: u64,
    answer_events: bool,
}

impl<P: Platform> Frontend<P> {
    /// Allocates and initialises the command ring (`SHARED_RING_INIT`),
    /// grants it to `backend` and allocates its event channel. The
    /// handshake then publishes [`cmd_ring_ref`](Self::cmd_ring_ref) and
    /// [`cmd_port`](Self::cmd_port).
    ///
    /// `max_page_order` is the backend's `max-page-order`; fails with
    /// `EINVAL` if the requested order is outside `1..=max_page_order`.
    pub fn new(
        mut platform: P,
        backend: DomId,
        max_page_order: u32,
        opts: Options,
    ) -> Result<Self, Errno> {
        let max = max_page_order.min(MAX_RING_ORDER);
        let order = opts.ring_order.unwrap_or(max);
        if order < 1 || order > max {
            return Err(Errno::EINVAL);
        }
        let mut acct = Accounting::default();
        let page = GrantedBlock::new(&mut platform, &mut acct, backend, 0)?;
        let cmd = CmdClient::init(&page.mem);
        let cmd_port = match alloc_port(&mut platform, &mut acct, backend) {
            Ok(p) => p,
            Err(e) => {
                page.release(&mut platform, &mut acct);
                return Err(e);
            }
        };
        Ok(Frontend {
            platform,
            backend,
            order,
            cmd_page: Some(page),
            cmd_port,
            cmd,
            sockets: BTreeMap::new(),
            next_id: 1,
            acct,
            release_queue: VecDeque::new(),
            orphans: alloc::vec::Vec::new(),
            gone: false,
            notify_pending: false,
            send_socket: opts.send_socket,
            draining: alloc::vec::Vec::new(),
            linger_ns: opts.linger_ns,
            answer_events: opts.answer_events,
        })
    }

    /// Grant reference of the command-ring page (`ring-ref`).
    pub fn cmd_ring_ref(&self) -> GrantRef {
        self.cmd_page.as_ref().map_or(0, |p| p.refs[0])
    }

    /// Event channel of the command ring (`port`).
    pub fn cmd_port(&self) -> Port {
        self.cmd_port
    }

    /// The backend domain.
    pub fn backend_id(&self) -> DomId {
        self.backend
    }

    /// The data-ring order used for new sockets.
    pub fn ring_order(&self) -> u32 {
        self.order
    }

    /// The platform.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The platform, mutably.
    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    /// What the frontend holds (grants, pages, ports, `req_id`s, sockets).
    pub fn resources(&self) -> Resources {
        self.acct.resources(self.cmd.outstanding(), self.sockets.len())
    }

    /// Responses dropped by validation.
    pub fn cmd_stats(&self) -> CmdStats {
        self.cmd.stats()
    }

    /// Whether the backend is gone (closed, or broke the command ring).
    pub fn is_backend_gone(&self) -> bool {
        self.gone
    }

    /// The backend left the Connected state (its xenbus `state` became
    /// Closing or Closed) or broke the protocol: every socket fails from
    /// now on (`ECONNABORTED`; new sockets `ENETDOWN`), data already in an
    /// `in` ring can still be read, nothing waits for a response any more.
    /// Resources are reclaimed as sockets are closed; pages the backend
    /// still maps are leaked, never reused.
    pub fn backend_gone(&mut self) {
        if self.gone {
            return;
        }
        self.gone = true;
        let ids: alloc::vec::Vec<u64> = self.sockets.keys().copied().collect();
        for id in ids {
            self.finish_in_flight(id);
            self.advance(id);
        }
        self.release_queue.clear();
        self.check_draining();
    }

    /// Resolves any command in flight for `id` as failed (backend gone).
    fn finish_in_flight(&mut self, id: u64) {
        let Some(s) = self.sockets.get_mut(&id) else { return };
        s.socket_req = None;
        let state = core::mem::replace(&mut s.state, State::Fresh);
        s.state = match state {
            State::Binding(..) | State::Listening(..) => {
                s.result = Some((0, Err(Errno::ECONNABORTED)));
                State::Fresh
            }
            State::Connecting(_, ring) => {
                s.result = Some((0, Err(Errno::ECONNABORTED)));
                State::Connected(ring)
            }
            State::Listener(mut l) => {
                if let Some(a) = l.accept.take() {
                    a.ring.release(&mut self.platform, &mut self.acct);
                }
                l.error = Some(Errno::ECONNABORTED);
                State::Listener(l)
            }
            State::ReleaseQueued(r) | State::Releasing(_, r) => State::ReleaseQueued(r),
            other => other,
        };
    }

    /// Consumes command responses and updates socket states; clears the
    /// fired flags of every port. Returns whether a response was handled.
    pub fn process(&mut self) -> bool {
        let progressed = self.poll_cmd();
        for s in self.sockets.values_mut() {
            match &mut s.state {
                // take_fired runs first: the port's flag is cleared either way.
                State::Connected(r) | State::Draining(r, _)
                    if self.platform.take_fired(r.port) && self.answer_events =>
                {
                    r.on_event();
                }
                State::Connecting(_, r) => {
                    self.platform.take_fired(r.port);
                }
                _ => {}
            }
        }
        self.check_draining();
        progressed
    }

    /// Sends the data-ring notifications that [`recv`](Self::recv) left due.
    fn flush_data_notify(&mut self) {
        for s in self.sockets.values_mut() {
            if let State::Connected(r) | State::Draining(r, _) = &mut s.state {
                r.flush_notify(&mut self.platform);
            }
        }
    }

    /// Releases the closed connections whose `out` has drained, failed, or
    /// outlived the linger time.
    fn check_draining(&mut self) {
        if self.draining.is_empty() {
            return;
        }
        let now = self.platform.now_ns();
        let ids = core::mem::take(&mut self.draining);
        for id in ids {
            let Some(s) = self.sockets.get_mut(&id) else { continue };
            let done = match &mut s.state {
                State::Draining(ring, deadline) => {
                    self.gone || now >= *deadline || ring.io.out_settled(&ring.idx.mem)
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

    /// Blocks until an event arrives or `deadline_ns` passes (see
    /// [`Platform::wait`]), then [`process`](Self::process)es.
    pub fn wait(&mut self, deadline_ns: Option<u64>) {
        self.flush_notify();
        self.flush_data_notify();
        self.platform.wait(deadline_ns);
        self.process();
    }

    /// Monotonic time from the platform.
    pub fn now_ns(&self) -> u64 {
        self.platform.now_ns()
    }

    /// Handles every command response available now.
    pub(crate) fn poll_cmd(&mut self) -> bool {
        if self.gone {
            return false;
        }
        self.platform.take_fired(self.cmd_port);
        let mut progressed = false;
        while let Some(page) = self.cmd_page.as_ref() {
            match self.cmd.poll(&page.mem) {
                Ok(Some(c)) => {
                    progressed = true;
                    self.on_completion(c);
                }
                Ok(None) => break,
                Err(_) => {
                    self.backend_gone();
                    return true;
                }
            }
        }
        self.flush_releases();
        self.flush_notify();
        progressed
    }

    /// Submits `reqs` together (all or none) and publishes them.
    pub(crate) fn submit(&mut self, reqs: &[Request]) -> Result<alloc::vec::Vec<ReqId>, Errno> {
        if self.gone {
            return Err(Errno::ECONNABORTED);
        }
        if self.cmd.free_slots() < reqs.len() {
            return Err(if self.cmd.failure().is_some() { Errno::EIO } else { Errno::EAGAIN });
        }
        let Some(page) = self.cmd_page.as_ref() else { return Err(Errno::ECONNABORTED) };
        let mut ids = alloc::vec::Vec::with_capacity(reqs.len());
        for r in reqs {
            match self.cmd.submit(&page.mem, r) {
                Ok(id) => ids.push(id),
                // Checked above; only a failed ring gets here.
                Err(SubmitError::Full) => return Err(Errno::EAGAIN),
                Err(SubmitError::Failed) => return Err(Errno::EIO),
            }
        }
        if self.cmd.push(&page.mem) {
            self.notify_pending = true;
        }
        self.flush_notify();
        Ok(ids)
    }

    fn flush_notify(&mut self) {
        if self.notify_pending {
            self.notify_pending = false;
            self.platform.notify(self.cmd_port);
        }
    }

    /// A fresh socket id.
    pub(crate) fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn on_completion(&mut self, c: Completion) {
        let result = c.result();
        match c.req {
            Request::Socket { id, .. } => {
                if let Some(s) = self.sockets.get_mut(&id) {
                    if s.socket_req == Some(c.req_id) {
                        s.socket_req = None;
                        s.socket_err = result.err();
                    }
                }
            }
            Request::Bind { id, .. } | Request::Listen { id, .. } | Request::Connect { id, .. } => {
                self.on_setup(id, c, result);
            }
            Request::Accept { id, id_new, .. } => self.on_accept(id, id_new, c.req_id, result),
            Request::Release { id, .. } => {
                let Some(s) = self.sockets.get(&id) else { return };
                if matches!(s.state, State::Releasing(r, _) if r == c.req_id) {
                    if let Some(s) = self.sockets.remove(&id) {
                        if let State::Releasing(_, Some(ring)) = s.state {
                            ring.release(&mut self.platform, &mut self.acct);
                        }
                    }
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
        s.closing = close;
        self.sockets.insert(pending.id_new, s);
        if close {
            self.advance(pending.id_new);
        }
    }

    /// If `id` is closing and has no command in flight, releases it.
    pub(crate) fn advance(&mut self, id: u64) {
        let Some(s) = self.sockets.get_mut(&id) else { return };
        if !s.closing || s.busy() {
            return;
        }
        // The backend discards `out` on RELEASE: let it drain first.
        let linger = match &mut s.state {
            State::Connected(r) => !self.gone && !r.io.out_settled(&r.idx.mem),
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
    /// frees it at once if the backend is gone.
    fn queue_release(&mut self, id: u64) {
        if self.gone {
            if let Some(s) = self.sockets.remove(&id) {
                if let State::ReleaseQueued(Some(r)) = s.state {
                    r.release(&mut self.platform, &mut self.acct);
                }
            }
            return;
        }
        self.release_queue.push_back(id);
        self.flush_releases();
    }

    /// Sends queued RELEASEs while there are free slots.
    fn flush_releases(&mut self) {
        while let Some(&id) = self.release_queue.front() {
            if self.gone || !self.cmd.has_room() {
                return;
            }
            self.release_queue.pop_front();
            let Some(s) = self.sockets.get(&id) else { continue };
            if !matches!(s.state, State::ReleaseQueued(_)) {
                continue;
            }
            let Ok(ids) = self.submit(&[Request::Release { id, reuse: false }]) else { return };
            if let Some(s) = self.sockets.get_mut(&id) {
                if let State::ReleaseQueued(r) = core::mem::replace(&mut s.state, State::Fresh) {
                    s.state = State::Releasing(ids[0], r);
                }
            }
        }
    }

    /// Releases every socket, including listeners with an ACCEPT in
    /// flight (whose command slot is then lost for good, as the backend
    /// never answers it): for shutdown only. Sockets are then closed in the
    /// background by [`process`](Self::process).
    pub fn release_all(&mut self) {
        let ids: alloc::vec::Vec<u64> = self.sockets.keys().copied().collect();
        for id in ids {
            let Some(s) = self.sockets.get_mut(&id) else { continue };
            s.closing = true;
            s.user_open = false;
            if let State::Listener(l) = &mut s.state {
                if let Some(a) = l.accept.take() {
                    self.orphans.push(Orphan { req: a.req, pending: a });
                }
            }
            self.advance(id);
        }
    }

    /// Allocates a data ring for a new active socket: `1 << order` data
    /// pages, or, when pages or grants run short, the largest smaller ring
    /// (down to order 1) that can be had. A connection with a small ring is
    /// slower; one refused for want of memory is lost.
    pub(crate) fn new_ring(&mut self) -> Result<Box<DataRing<P::Pages>>, Errno> {
        let mut order = self.order;
        loop {
            match DataRing::new(&mut self.platform, &mut self.acct, self.backend, order) {
                Err(Errno::ENOMEM) if order > 1 => order -= 1,
                r => return r.map(Box::new),
            }
        }
    }

    /// Frees a data ring the backend does not map.
    pub(crate) fn free_ring(&mut self, ring: DataRing<P::Pages>) {
        ring.release(&mut self.platform, &mut self.acct);
    }

    /// Tears the command ring down once the backend has disconnected
    /// (xenbus Closed), or was given up on: fails every socket, ends the
    /// ring's grant (leaking the page if still mapped) and closes its port.
    /// Sockets still open keep their data rings until they are closed.
    pub fn teardown(&mut self) {
        self.backend_gone();
        if let Some(page) = self.cmd_page.take() {
            self.cmd.abandon_all();
            page.release(&mut self.platform, &mut self.acct);
            close_port(&mut self.platform, &mut self.acct, self.cmd_port);
        }
    }
}
