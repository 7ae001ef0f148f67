//! The socket engine: the command ring, the socket table and the events that drive them.
//!
//! [`Frontend`] owns the command ring and every socket's resources. Its
//! user operations (in `ops.rs`) never block: they either finish, or
//! start a command and return [`Poll::Pending`] ("call again"). Callers
//! that want to block loop on [`Frontend::wait`], which sleeps on the
//! platform until an event or a deadline and then runs
//! [`Frontend::process`]. Command completions are
//! handled in `complete.rs`, releases and teardown in `release.rs`, and
//! the bound on how long the backend may leave a command unanswered in
//! `watchdog.rs`.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::task::Poll;

use skiff_xen::pvcalls::MAX_RING_ORDER;

use crate::Errno;
use crate::cmd::{CmdClient, CmdStats, NR_REQ_IDS, ReqId, SubmitError};
use crate::platform::{DomId, GrantRef, Platform, Port, Resources};
use crate::release::Orphan;
use crate::rings::{Accounting, DataRing, GrantedBlock, alloc_port};
use crate::socket::{Socket, State};
use crate::watchdog::{Stuck, Watchdog};
use crate::wire::Request;

/// Tunables of a [`Frontend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Data-ring order (`1 << order` data pages per socket). `None`: the
    /// backend's `max-page-order` (capped at 9), less for a new socket when
    /// free pages are few (see [`RING_SHARE`]). Must be between 1 and the
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
    /// Answer a backend event on a data ring with an event of ours, while
    /// nothing has failed on the ring: sent with the next send, before the
    /// next block, or before `recv` reports that nothing is there. Linux's
    /// `pvcalls-back` leaves reading to our events: it reports a peer's
    /// reset only by notifying us, and after a read that leaves data queued
    /// (or takes the last data before the FIN) it marks a read pending
    /// without doing it; its I/O worker reads when our next event runs it.
    /// Without answers a reset on an idle connection is never seen, and a
    /// stream can stop short of its end.
    ///
    /// The handshake turns it off for a backend that reads by itself and
    /// says so
    /// ([`FEATURE_UNPROMPTED_READ`](crate::handshake::FEATURE_UNPROMPTED_READ),
    /// written by Skiff's `dom0/install-pvcalls-back.sh`): there an answer
    /// to an event that delivered or took data finds the worker with
    /// nothing to do, which Linux counts as a spurious event; after two in
    /// a row it holds the channel's next event back by a growing number of
    /// jiffies (the lateeoi back-off), about one round trip in a hundred
    /// took 10 ms longer for it.
    ///
    /// Turn it off by hand (`no-event-answers`) only for a backend without
    /// the masked-channel fix (docs/pvcalls-back.md), with
    /// [`defer_acks`](Self::defer_acks).
    pub answer_events: bool,
    /// Hold back the event that a read from a full `in` owes the backend
    /// until the next send or block, instead of sending it at once: only for
    /// a backend without the masked-channel fix, where an event that finds
    /// `out` empty can stall the stream (see `DataRing::recv`).
    pub defer_acks: bool,
    /// How long the backend may leave a command other than CONNECT, ACCEPT
    /// and POLL unanswered before the frontend calls it stuck (ns). The
    /// backend works through the command ring in order, so the time counts
    /// from when it answered the command before, if that was later than
    /// when this one was sent.
    pub command_timeout_ns: u64,
    /// The same for CONNECT, which dom0 runs inline, for as long as its TCP
    /// handshake takes (Linux gives up after about 127 s by default).
    pub connect_timeout_ns: u64,
    /// The index the command ring starts at (`SHARED_RING_INIT` uses 0).
    /// Only for tests that run the ring across the 32-bit wrap: a backend
    /// must attach at the index it finds in the shared page.
    pub cmd_ring_start: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ring_order: None,
            send_socket: true,
            linger_ns: 30_000_000_000,
            answer_events: true,
            defer_acks: false,
            command_timeout_ns: 10_000_000_000,
            connect_timeout_ns: 180_000_000_000,
            cmd_ring_start: 0,
        }
    }
}

/// Why the frontend stopped using the backend (see [`Frontend::gone_reason`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoneReason {
    /// The backend left the Connected state (the device is being removed)
    /// or the frontend disconnected.
    Closed,
    /// The backend broke the command ring (impossible indexes).
    BrokeRing,
    /// The backend left a command unanswered for too long.
    Stuck(Stuck),
}

/// With the ring order left to the frontend ([`Options::ring_order`] `None`),
/// a new socket's data pages are at most this fraction (1 / `RING_SHARE`) of
/// the pages the platform says are free, and its ring at least of order 1
/// (but see [`FIRST_RINGS`]). Rings are then as large as the backend allows
/// while memory is plentiful (order 4 takes 16 pages: 64 MiB free), and
/// shrink as connections fill it: with `memory=64`, 1000 connections of a
/// tokio server fit (each also costs the application several pages), where
/// rings of order 4 (68 KiB each) would run out at about 600.
pub const RING_SHARE: usize = 1024;

/// Likewise for grant entries: with the ring order left to the frontend, a
/// new socket's data pages are at most 1 / `GRANT_SHARE` of the grant
/// entries the platform says are free. Skiff's kernel has 16,384: rings of
/// order 5 (33 grants) while half of them are free, then smaller ones, so
/// some 1,200 connections fit where rings of order 5 alone would stop at
/// about 490.
pub const GRANT_SHARE: usize = 256;

/// While fewer than this many data rings are live, a new one may take a
/// larger share: 1 / [`FIRST_RING_SHARE`] of the free pages and
/// 1 / [`FIRST_GRANT_SHARE`] of the free grant entries. One stream moves
/// at most a ring's half per round of events between the two domains, so
/// the bandwidth of a connection grows with its ring; a server with a few
/// busy connections gets large rings for them (order 8, 512 KiB each way, in
/// a guest with 160 MiB), and one with many gets the small ones above for
/// all but its first few. The first rings take at most
/// `FIRST_RINGS / FIRST_RING_SHARE` (1/16) of the free pages together.
///
/// A listener's ACCEPT carries the next connection's ring, so that ring
/// is sized when the application asks for the next connection, not when
/// it comes: asked for while `FIRST_RINGS` or more connections were live,
/// it is of the common share even if they have closed by then, and the
/// next one is large again.
pub const FIRST_RINGS: usize = 8;

/// The page share of the first [`FIRST_RINGS`] rings (see [`RING_SHARE`]).
pub const FIRST_RING_SHARE: usize = 128;

/// The grant share of the first [`FIRST_RINGS`] rings (see
/// [`GRANT_SHARE`]): with Skiff's 16,384 entries, rings of order 8.
pub const FIRST_GRANT_SHARE: usize = 32;

/// The PV Calls frontend: command ring + socket table. See the module docs.
#[derive(Debug)]
pub struct Frontend<P: Platform> {
    pub(crate) platform: P,
    pub(crate) backend: DomId,
    pub(crate) order: u32,
    /// `order` is the backend's maximum, to be lowered by free memory.
    auto_order: bool,
    pub(crate) cmd_page: Option<GrantedBlock<P::Pages>>,
    pub(crate) cmd_port: Port,
    pub(crate) cmd: CmdClient,
    pub(crate) sockets: BTreeMap<u64, Socket<P::Pages>>,
    next_id: u64,
    pub(crate) acct: Accounting,
    pub(crate) release_queue: VecDeque<u64>,
    pub(crate) orphans: Vec<Orphan<P::Pages>>,
    pub(crate) gone: Option<GoneReason>,
    notify_pending: bool,
    pub(crate) send_socket: bool,
    /// Closed connections waiting for `out` to drain (see [`State::Draining`]).
    pub(crate) draining: Vec<u64>,
    pub(crate) linger_ns: u64,
    pub(crate) answer_events: bool,
    pub(crate) defer_acks: bool,
    pub(crate) watchdog: Watchdog,
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
        let cmd = CmdClient::init_at(&page.mem, opts.cmd_ring_start);
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
            auto_order: opts.ring_order.is_none(),
            cmd_page: Some(page),
            cmd_port,
            cmd,
            sockets: BTreeMap::new(),
            next_id: 1,
            acct,
            release_queue: VecDeque::new(),
            orphans: Vec::new(),
            gone: None,
            notify_pending: false,
            send_socket: opts.send_socket,
            draining: Vec::new(),
            linger_ns: opts.linger_ns,
            answer_events: opts.answer_events,
            defer_acks: opts.defer_acks,
            watchdog: Watchdog::new(opts.command_timeout_ns, opts.connect_timeout_ns),
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

    /// What the frontend holds (grants, pages, ports, `req_id`s, sockets,
    /// orphaned ACCEPTs).
    pub fn resources(&self) -> Resources {
        self.acct.resources(self.cmd.outstanding(), self.sockets.len(), self.orphans.len())
    }

    /// Responses dropped by validation.
    pub fn cmd_stats(&self) -> CmdStats {
        self.cmd.stats()
    }

    /// Whether the frontend stopped using the backend (see
    /// [`gone_reason`](Self::gone_reason)).
    pub fn is_backend_gone(&self) -> bool {
        self.gone.is_some()
    }

    /// Why the frontend stopped using the backend, if it did.
    pub fn gone_reason(&self) -> Option<GoneReason> {
        self.gone
    }

    /// The backend left the Connected state (its xenbus `state` became
    /// Closing or Closed): every socket fails from now on
    /// (`ECONNABORTED`; new sockets `ENETDOWN`), data already in an `in`
    /// ring can still be read, nothing waits for a response any more.
    /// Resources are reclaimed as sockets are closed; pages the backend
    /// still maps are leaked, never reused.
    pub fn backend_gone(&mut self) {
        self.give_up(GoneReason::Closed);
    }

    /// Stops using the backend for `reason`: commands in flight fail
    /// (`ETIMEDOUT` if the backend was stuck, else `ECONNABORTED`).
    pub(crate) fn give_up(&mut self, reason: GoneReason) {
        if self.gone.is_some() {
            return;
        }
        self.gone = Some(reason);
        let err = match reason {
            GoneReason::Stuck(_) => Errno::ETIMEDOUT,
            GoneReason::Closed | GoneReason::BrokeRing => Errno::ECONNABORTED,
        };
        let ids: Vec<u64> = self.sockets.keys().copied().collect();
        for id in ids {
            self.finish_in_flight(id, err, reason == GoneReason::Closed);
            self.advance(id);
        }
        self.release_queue.clear();
        self.check_draining();
    }

    /// Resolves any command in flight for `id` as failed with `err`. The
    /// rings of CONNECTs and ACCEPTs in flight are given back if the backend
    /// `closed` (it unmapped everything), else leaked.
    fn finish_in_flight(&mut self, id: u64, err: Errno, closed: bool) {
        let Some(s) = self.sockets.get_mut(&id) else { return };
        s.socket_req = None;
        let state = core::mem::replace(&mut s.state, State::Fresh);
        s.state = match state {
            State::Binding(..) | State::Listening(..) => {
                s.result = Some((0, Err(err)));
                State::Fresh
            }
            State::Connecting(_, ring) => {
                s.result = Some((0, Err(err)));
                if closed {
                    // The backend has closed and unmapped everything: the
                    // ring goes back when the socket is closed.
                    State::Connected(ring)
                } else {
                    // It may still map the ring: give it up for good.
                    ring.leak(&mut self.platform, &mut self.acct);
                    State::Fresh
                }
            }
            State::Listener(mut l) => {
                if let Some(a) = l.accept.take() {
                    if closed {
                        a.ring.release(&mut self.platform, &mut self.acct);
                    } else {
                        a.ring.leak(&mut self.platform, &mut self.acct);
                    }
                }
                l.error = Some(err);
                State::Listener(l)
            }
            State::ReleaseQueued(r) | State::Releasing(_, r) => State::ReleaseQueued(r),
            other => other,
        };
    }

    /// Consumes command responses, updates socket states and checks how
    /// long commands have been outstanding; clears the fired flags of every
    /// port. Returns whether a response was handled.
    pub fn process(&mut self) -> bool {
        let progressed = self.poll_cmd();
        let answer = self.answer_events;
        for s in self.sockets.values_mut() {
            match &mut s.state {
                // take_fired runs first: the port's flag is cleared either way.
                State::Connected(r) | State::Draining(r, _)
                    if self.platform.take_fired(r.port) && answer =>
                {
                    r.on_event();
                }
                State::Connecting(_, r) => {
                    self.platform.take_fired(r.port);
                }
                _ => {}
            }
        }
        self.check_stuck();
        progressed
    }

    /// Sends the data-ring notifications that [`recv`](Self::recv) and
    /// backend events left due.
    fn flush_data_notify(&mut self) {
        for s in self.sockets.values_mut() {
            if let State::Connected(r) | State::Draining(r, _) = &mut s.state {
                r.flush_notify(&mut self.platform);
            }
        }
    }

    /// Blocks until an event arrives or `deadline_ns` passes (see
    /// [`Platform::wait`]), then [`process`](Self::process)es. The wait
    /// ends early enough for a command that is due to be called stuck.
    pub fn wait(&mut self, deadline_ns: Option<u64>) {
        self.before_block();
        let deadline = match (deadline_ns, self.next_timer_ns()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.platform.wait(deadline);
        self.process();
    }

    /// What a caller that blocks by other means than [`wait`](Self::wait)
    /// must do first: send the notifications still due (a command
    /// published, room made in a full `in` ring, an event to answer).
    /// Without them the backend may wait for us while we wait for it.
    pub fn before_block(&mut self) {
        self.flush_notify();
        self.flush_data_notify();
    }

    /// When the engine next needs [`process`](Self::process) without an
    /// event, in platform nanoseconds: a command due to be called stuck, or
    /// a closed connection whose linger time runs out (the backend may
    /// never send the event that says `out` drained).
    pub fn next_timer_ns(&self) -> Option<u64> {
        let linger = self.draining.iter().filter_map(|id| match self.sockets.get(id)?.state {
            State::Draining(_, deadline) => Some(deadline),
            _ => None,
        });
        linger.chain(self.watchdog.next_deadline(&self.cmd)).min()
    }

    /// Monotonic time from the platform.
    pub fn now_ns(&self) -> u64 {
        self.platform.now_ns()
    }

    /// Handles every command response available now, and releases the
    /// lingering connections that are done.
    pub(crate) fn poll_cmd(&mut self) -> bool {
        if self.gone.is_some() {
            return false;
        }
        self.platform.take_fired(self.cmd_port);
        let mut progressed = false;
        while let Some(page) = self.cmd_page.as_ref() {
            match self.cmd.poll(&page.mem) {
                Ok(Some(c)) => {
                    progressed = true;
                    let now = self.platform.now_ns();
                    self.watchdog.on_answer(&c.req, now);
                    self.on_completion(c);
                }
                Ok(None) => break,
                Err(_) => {
                    self.give_up(GoneReason::BrokeRing);
                    return true;
                }
            }
        }
        // Here rather than only in `process`: an application that never
        // waits still has its drained connections released.
        self.check_draining();
        self.flush_releases();
        self.flush_notify();
        self.check_stuck();
        progressed
    }

    /// Submits `reqs` together (all or none) and publishes them; `Pending`
    /// if the command ring has too few free slots (nothing is sent).
    pub(crate) fn submit(&mut self, reqs: &[Request]) -> Poll<Result<Vec<ReqId>, Errno>> {
        if self.gone.is_some() {
            return Poll::Ready(Err(Errno::ECONNABORTED));
        }
        if self.cmd.free_slots() < reqs.len() {
            if self.cmd.failure().is_some() {
                return Poll::Ready(Err(Errno::EIO));
            }
            return Poll::Pending;
        }
        let Some(page) = self.cmd_page.as_ref() else {
            return Poll::Ready(Err(Errno::ECONNABORTED));
        };
        let now = self.platform.now_ns();
        let mut ids = Vec::with_capacity(reqs.len());
        for r in reqs {
            match self.cmd.submit(&page.mem, r) {
                Ok(id) => {
                    self.watchdog.on_submit(id, now);
                    ids.push(id);
                }
                // Checked above; only a failed ring gets here.
                Err(SubmitError::Full) => return Poll::Pending,
                Err(SubmitError::Failed) => return Poll::Ready(Err(Errno::EIO)),
            }
        }
        if self.cmd.push(&page.mem) {
            self.notify_pending = true;
        }
        self.flush_notify();
        Poll::Ready(Ok(ids))
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

    /// Allocates a data ring for a new active socket: `1 << order` data
    /// pages (with the order left to the frontend, no more than free memory
    /// and grants allow, see [`RING_SHARE`] and [`GRANT_SHARE`]), or, when
    /// pages or grants run short, the largest smaller ring (down to order 1)
    /// that can be had. A connection
    /// with a small ring is slower; one refused for want of memory is lost.
    pub(crate) fn new_ring(&mut self) -> Result<Box<DataRing<P::Pages>>, Errno> {
        let mut order = self.next_ring_order();
        loop {
            match DataRing::new(&mut self.platform, &mut self.acct, self.backend, order) {
                Err(Errno::ENOMEM) if order > 1 => order -= 1,
                r => return r.map(Box::new),
            }
        }
    }

    /// The order the next new socket's data ring gets if its pages can be
    /// had: [`Options::ring_order`], or with that left to the frontend, the
    /// backend's maximum lowered by free memory and free grant entries (see
    /// [`RING_SHARE`], [`GRANT_SHARE`] and [`FIRST_RINGS`]).
    pub fn next_ring_order(&self) -> u32 {
        if !self.auto_order {
            return self.order;
        }
        let (page_share, grant_share) = if self.acct.rings < FIRST_RINGS {
            (FIRST_RING_SHARE, FIRST_GRANT_SHARE)
        } else {
            (RING_SHARE, GRANT_SHARE)
        };
        let pages = self.platform.free_pages().map_or(self.order, |f| share_order(f, page_share));
        let grants =
            self.platform.free_grants().map_or(self.order, |f| share_order(f, grant_share));
        self.order.min(pages).min(grants)
    }

    /// Frees a data ring the backend does not map.
    pub(crate) fn free_ring(&mut self, ring: DataRing<P::Pages>) {
        ring.release(&mut self.platform, &mut self.acct);
    }

    /// Gives up on the backend if the command holding up its ring has been
    /// unanswered for longer than its bound (see `watchdog.rs`).
    pub(crate) fn check_stuck(&mut self) {
        if self.gone.is_some() {
            return;
        }
        let now = self.platform.now_ns();
        if let Some(stuck) = self.watchdog.check(&self.cmd, now) {
            self.give_up(GoneReason::Stuck(stuck));
        }
    }

    /// Command slots (`req_id`s) in all.
    pub const COMMAND_SLOTS: usize = NR_REQ_IDS;
}

/// The largest order `o >= 1` with `(1 << o) * share <= free`.
fn share_order(free: usize, share: usize) -> u32 {
    (free / share).max(2).ilog2()
}
