//! The frontend's [`Platform`] on a [`SimHost`] with a virtual clock: waits never block, so runs are deterministic.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use skiff_ring::SharedMem;

use super::clock::VirtualClock;
use super::host::{LeakRecord, SimHost};
use super::platform::SimPages;
use super::tamper::Tamper;
use crate::platform::{DomId, EndGrantError, GrantRef, PageBlock, Platform, PlatformError, Port};

/// What runs while the frontend waits: the simulated other side.
pub trait Peer {
    /// Does one step of work; returns whether it did anything.
    fn run(&mut self) -> bool;
}

/// Pages of a [`FakePlatform`]: [`SimPages`] whose loads may first let a
/// [`Tamper`] store into them.
#[derive(Debug)]
pub struct FakePages {
    pages: SimPages,
    tamper: Option<Tamper>,
}

impl SharedMem for FakePages {
    fn size(&self) -> usize {
        self.pages.size()
    }
    fn load_u32(&self, off: usize) -> u32 {
        if let Some(t) = &self.tamper {
            t.on_load(&self.pages);
        }
        self.pages.load_u32(off)
    }
    fn store_u32(&self, off: usize, val: u32) {
        self.pages.store_u32(off, val)
    }
    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        self.pages.read_bytes(off, dst)
    }
    fn write_bytes(&self, off: usize, src: &[u8]) {
        self.pages.write_bytes(off, src)
    }
}

impl PageBlock for FakePages {
    fn gfn(&self, i: usize) -> u64 {
        self.pages.gfn(i)
    }
}

/// Caps on what a [`FakePlatform`] hands out (`None`: no cap), to drive
/// the frontend into its out-of-resources paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Live frames on the host.
    pub pages: Option<usize>,
    /// Active grants on the host.
    pub grants: Option<usize>,
    /// Open event channels on the host.
    pub ports: Option<usize>,
}

/// The guest side of a simulated machine, on a [`VirtualClock`].
///
/// [`wait`](Platform::wait) never blocks: if an event arrived since the
/// last wait it returns at once; otherwise it lets the [`Peer`] (if any)
/// do one step; if that did nothing and still no event came, the clock
/// jumps to the deadline (or by [`idle_ns`](Self::idle_ns) without one, a
/// spurious wake-up). Each wait that found work moves the clock by
/// [`tick_ns`](Self::tick_ns), so deadlines (the watchdog, lingering) are
/// reached after a bounded number of waits.
pub struct FakePlatform {
    host: Arc<SimHost>,
    clock: VirtualClock,
    tamper: Option<Tamper>,
    peer: Option<Rc<RefCell<dyn Peer>>>,
    seen: u64,
    /// Caps on pages, grants and ports.
    pub limits: Limits,
    waits: u64,
    notifies: u64,
    /// Virtual time a wait that found work takes.
    pub tick_ns: u64,
    /// Virtual time a wait without deadline takes when nothing happens.
    pub idle_ns: u64,
}

impl core::fmt::Debug for FakePlatform {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FakePlatform")
            .field("now_ns", &self.clock.now_ns())
            .field("waits", &self.waits)
            .finish_non_exhaustive()
    }
}

impl FakePlatform {
    /// A platform on `host` reading `clock`, without a peer or tampering.
    pub fn new(host: Arc<SimHost>, clock: VirtualClock) -> Self {
        let seen = host.front_gen();
        FakePlatform {
            host,
            clock,
            tamper: None,
            peer: None,
            seen,
            limits: Limits::default(),
            waits: 0,
            notifies: 0,
            tick_ns: 1_000_000,
            idle_ns: 1_000_000_000,
        }
    }

    /// Runs `peer` while the frontend waits.
    pub fn with_peer(mut self, peer: Rc<RefCell<dyn Peer>>) -> Self {
        self.peer = Some(peer);
        self
    }

    /// Gives every page block allocated from now on to `tamper`.
    pub fn with_tamper(mut self, tamper: Tamper) -> Self {
        self.tamper = Some(tamper);
        self
    }

    /// The machine.
    pub fn host(&self) -> &Arc<SimHost> {
        &self.host
    }

    /// The clock.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// What was leaked, and whether the backend mapped it then.
    pub fn leaks(&self) -> LeakRecord {
        self.host.leak_record()
    }

    /// Calls to [`wait`](Platform::wait) so far.
    pub fn waits(&self) -> u64 {
        self.waits
    }

    /// Notifications sent so far.
    pub fn notifications(&self) -> u64 {
        self.notifies
    }

    fn over(limit: Option<usize>, live: usize, more: usize) -> bool {
        limit.is_some_and(|l| live + more > l)
    }

    /// Takes a delivered event, if one came since the last wait.
    fn take_event(&mut self) -> bool {
        let generation = self.host.front_gen();
        core::mem::replace(&mut self.seen, generation) != generation
    }
}

impl Platform for FakePlatform {
    type Pages = FakePages;

    fn alloc_pages(&mut self, order: u32) -> Result<FakePages, PlatformError> {
        let n = 1usize.checked_shl(order).ok_or(PlatformError::Exhausted)?;
        if Self::over(self.limits.pages, self.host.stats().frames, n) {
            return Err(PlatformError::Exhausted);
        }
        Ok(FakePages { pages: SimPages::alloc(&self.host, order), tamper: self.tamper.clone() })
    }

    fn free_pages(&self) -> Option<usize> {
        self.limits.pages.map(|l| l.saturating_sub(self.host.stats().frames))
    }

    fn free_grants(&self) -> Option<usize> {
        self.limits.grants.map(|l| l.saturating_sub(self.host.stats().grants))
    }

    fn leak_pages(&mut self, pages: FakePages) {
        pages.pages.leak();
    }

    fn grant(&mut self, domid: DomId, gfn: u64) -> Result<GrantRef, PlatformError> {
        if Self::over(self.limits.grants, self.host.stats().grants, 1) {
            return Err(PlatformError::Exhausted);
        }
        self.host.grant(domid, gfn).ok_or(PlatformError::Refused)
    }

    fn end_grant(&mut self, gref: GrantRef) -> Result<(), EndGrantError> {
        self.host.end_guest_grant(gref)
    }

    fn alloc_evtchn(&mut self, _remote: DomId) -> Result<Port, PlatformError> {
        if Self::over(self.limits.ports, self.host.stats().ports, 1) {
            return Err(PlatformError::Exhausted);
        }
        self.host.alloc_port().ok_or(PlatformError::Exhausted)
    }

    fn close_evtchn(&mut self, port: Port) {
        self.host.close_port(port);
    }

    fn notify(&mut self, port: Port) {
        self.notifies += 1;
        self.host.notify_back(port);
    }

    fn take_fired(&mut self, port: Port) -> bool {
        self.host.take_front(port)
    }

    fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    fn wait(&mut self, deadline_ns: Option<u64>) {
        self.waits += 1;
        if self.take_event() {
            self.clock.advance(self.tick_ns);
            return;
        }
        let worked = self.peer.as_ref().is_some_and(|p| p.borrow_mut().run());
        if self.take_event() || worked {
            self.clock.advance(self.tick_ns);
            return;
        }
        let now = self.clock.now_ns();
        match deadline_ns {
            Some(d) if d > now => self.clock.advance_to(d),
            Some(_) => self.clock.advance(self.tick_ns),
            None => self.clock.advance(self.idle_ns),
        }
    }
}
