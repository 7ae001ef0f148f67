//! The simulated hypervisor: guest frames, a grant table and event channels shared by both simulated domains.
//!
//! Frames and grants are set up and torn down rarely and live under one
//! lock. Event channels are on every data path, so they do not: each port
//! is a slot of atomic flags (bound, pending on each side), and each side
//! has an event generation it waits on by spinning briefly, then parking
//! its thread until the other side's notify unparks it.

use std::boxed::Box;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};
use std::vec::Vec;

use skiff_ring::{HostMem, SharedMem};

use crate::platform::{DomId, EndGrantError, GrantRef, Port};

/// Size of a page.
pub const PAGE: usize = 4096;

/// The first grant reference handed out (below: reserved for the toolstack).
const FIRST_REF: u32 = 8;

/// One page of a [`HostMem`] block.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The block the page belongs to.
    pub mem: Arc<HostMem>,
    /// Index of the page in the block.
    pub index: usize,
}

#[derive(Debug)]
struct Grant {
    domid: DomId,
    gfn: u64,
    maps: u32,
}

/// Ports a [`SimHost`] has: the 2-level event channel ABI's limit for a
/// 64-bit guest (`EVTCHN_2L_NR_CHANNELS`).
pub const MAX_PORTS: u32 = 4096;

/// One event channel: flags only, touched without the host's lock.
#[derive(Debug, Default)]
struct Channel {
    open: AtomicBool,
    bound: AtomicBool,
    front_pending: AtomicBool,
    back_pending: AtomicBool,
}

impl Channel {
    /// Sets a pending flag (a store only if it was clear, so a flag already
    /// set costs no write to a line the other side reads).
    fn raise(flag: &AtomicBool) {
        if !flag.load(Ordering::Relaxed) {
            flag.store(true, Ordering::Release);
        }
    }

    /// Takes a pending flag.
    fn take(flag: &AtomicBool) -> bool {
        flag.load(Ordering::Relaxed) && flag.swap(false, Ordering::AcqRel)
    }
}

/// Iterations a waiter spins on its generation before it parks (a few
/// microseconds). Short: on a shared machine a spinning waiter takes the
/// CPU its peer needs.
const SPINS: u32 = 1 << 8;

/// One side's wake-ups: a generation bumped by every event for that side,
/// and the thread parked waiting for it.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Side {
    generation: AtomicU64,
    sleeping: AtomicBool,
    thread: Mutex<Option<Thread>>,
}

impl Side {
    /// An event for this side: bumps the generation and unparks a sleeper.
    fn signal(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst)
            && let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
        {
            t.unpark();
        }
    }

    /// Waits until the generation differs from `seen` or `timeout` passes.
    fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        for _ in 0..SPINS {
            let g = self.generation.load(Ordering::Acquire);
            if g != seen {
                return g;
            }
            std::hint::spin_loop();
        }
        let deadline = Instant::now() + timeout;
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread::current());
        loop {
            // Store then load, both SeqCst, against signal's bump then
            // load: one of the two sides sees the other.
            self.sleeping.store(true, Ordering::SeqCst);
            let g = self.generation.load(Ordering::SeqCst);
            let now = Instant::now();
            if g != seen || now >= deadline {
                self.sleeping.store(false, Ordering::Relaxed);
                return g;
            }
            thread::park_timeout(deadline - now);
            self.sleeping.store(false, Ordering::Relaxed);
        }
    }
}

/// Frames the frontend gave up for good, by whether the backend mapped
/// one of them at that moment (see [`SimHost::note_leak_of`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeakRecord {
    /// Leaked while the backend mapped one of the block's grants.
    pub while_mapped: usize,
    /// Leaked while no grant of the block was mapped.
    pub while_unmapped: usize,
}

/// Counters of what is live in the simulated hypervisor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Frames allocated and not freed (leaked ones included).
    pub frames: usize,
    /// Active grants.
    pub grants: usize,
    /// Grants currently mapped by the backend.
    pub mapped: usize,
    /// Open event channels.
    pub ports: usize,
    /// Frames leaked by the frontend.
    pub leaked_frames: usize,
    /// Frames the frontend freed while one of its grants still named them
    /// (always a frontend bug: the backend could map freed memory).
    pub freed_while_granted: usize,
}

#[derive(Debug, Default)]
struct State {
    next_gfn: u64,
    frames: HashMap<u64, Frame>,
    grants: HashMap<GrantRef, Grant>,
    free_refs: Vec<GrantRef>,
    next_ref: GrantRef,
    open_ports: usize,
    free_ports: Vec<Port>,
    next_port: Port,
    leaked_frames: usize,
    leaked_unmapped: usize,
    freed_while_granted: usize,
}

/// Shared state of the simulated machine; `Send + Sync`, used through an `Arc`.
#[derive(Debug)]
pub struct SimHost {
    state: Mutex<State>,
    channels: Box<[Channel]>,
    front: Side,
    back: Side,
    epoch: Instant,
}

impl Default for SimHost {
    fn default() -> Self {
        Self::new()
    }
}

impl SimHost {
    /// An empty machine.
    pub fn new() -> Self {
        let state =
            State { next_gfn: 0x1000, next_ref: FIRST_REF, next_port: 1, ..State::default() };
        SimHost {
            state: Mutex::new(state),
            channels: (0..MAX_PORTS).map(|_| Channel::default()).collect(),
            front: Side::default(),
            back: Side::default(),
            epoch: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Nanoseconds since the machine was created.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Live counters.
    pub fn stats(&self) -> HostStats {
        let s = self.lock();
        HostStats {
            frames: s.frames.len(),
            grants: s.grants.len(),
            mapped: s.grants.values().filter(|g| g.maps > 0).count(),
            ports: s.open_ports,
            leaked_frames: s.leaked_frames,
            freed_while_granted: s.freed_while_granted,
        }
    }

    /// Allocates `pages` zeroed frames; returns the block and its first gfn.
    pub fn alloc_frames(&self, pages: usize) -> (Arc<HostMem>, u64) {
        let mem = Arc::new(HostMem::pages(pages));
        let mut s = self.lock();
        let gfn0 = s.next_gfn;
        s.next_gfn += pages as u64;
        for i in 0..pages {
            s.frames.insert(gfn0 + i as u64, Frame { mem: mem.clone(), index: i });
        }
        (mem, gfn0)
    }

    /// Returns frames to the machine; counts those an active grant still
    /// names ([`HostStats::freed_while_granted`]).
    pub fn free_frames(&self, gfn0: u64, pages: usize) {
        let mut s = self.lock();
        let range = gfn0..gfn0 + pages as u64;
        let granted = s.grants.values().filter(|g| range.contains(&g.gfn)).count();
        s.freed_while_granted += granted;
        for gfn in range {
            s.frames.remove(&gfn);
        }
    }

    /// How many active grants name one of the frames `gfn0..gfn0 + pages`
    /// and are mapped by the backend right now.
    pub fn mapped_in(&self, gfn0: u64, pages: usize) -> usize {
        let range = gfn0..gfn0 + pages as u64;
        self.lock().grants.values().filter(|g| g.maps > 0 && range.contains(&g.gfn)).count()
    }

    /// Whether every active grant names a frame that is still allocated
    /// (none outlived its page).
    pub fn grants_name_live_frames(&self) -> bool {
        let s = self.lock();
        s.grants.values().all(|g| s.frames.contains_key(&g.gfn))
    }

    /// Records that the frames `gfn0..gfn0 + pages` will never be freed,
    /// and whether the backend mapped one of them then ([`leak_record`](Self::leak_record)).
    pub fn note_leak_of(&self, gfn0: u64, pages: usize) {
        let mapped = self.mapped_in(gfn0, pages) > 0;
        let mut s = self.lock();
        s.leaked_frames += pages;
        if !mapped {
            s.leaked_unmapped += pages;
        }
    }

    /// Frames leaked so far, by whether the backend mapped one of their
    /// block's grants when they were leaked.
    pub fn leak_record(&self) -> LeakRecord {
        let s = self.lock();
        LeakRecord {
            while_mapped: s.leaked_frames - s.leaked_unmapped,
            while_unmapped: s.leaked_unmapped,
        }
    }

    /// Records that `pages` frames will never be freed.
    pub fn note_leak(&self, pages: usize) {
        self.lock().leaked_frames += pages;
    }

    /// `GNTTABOP` grant: `domid` may map frame `gfn`.
    pub fn grant(&self, domid: DomId, gfn: u64) -> Option<GrantRef> {
        let mut s = self.lock();
        if !s.frames.contains_key(&gfn) {
            return None;
        }
        let r = match s.free_refs.pop() {
            Some(r) => r,
            None => {
                let r = s.next_ref;
                s.next_ref += 1;
                r
            }
        };
        s.grants.insert(r, Grant { domid, gfn, maps: 0 });
        Some(r)
    }

    /// Ends a grant: `Err(true)` if still mapped, `Err(false)` if unknown.
    pub fn end_grant(&self, r: GrantRef) -> Result<(), bool> {
        let mut s = self.lock();
        match s.grants.get(&r) {
            None => Err(false),
            Some(g) if g.maps > 0 => Err(true),
            Some(_) => {
                s.grants.remove(&r);
                s.free_refs.push(r);
                Ok(())
            }
        }
    }

    /// [`end_grant`](Self::end_grant) as the frontend's platform reports it.
    pub(crate) fn end_guest_grant(&self, r: GrantRef) -> Result<(), EndGrantError> {
        self.end_grant(r).map_err(|mapped| {
            if mapped { EndGrantError::StillMapped } else { EndGrantError::BadRef }
        })
    }

    /// The backend (`domid`) maps grant `r`.
    pub fn map_grant(&self, domid: DomId, r: GrantRef) -> Option<Frame> {
        let mut s = self.lock();
        let g = s.grants.get(&r)?;
        if g.domid != domid {
            return None;
        }
        let frame = s.frames.get(&g.gfn)?.clone();
        s.grants.get_mut(&r)?.maps += 1;
        Some(frame)
    }

    /// The backend unmaps grant `r`.
    pub fn unmap_grant(&self, r: GrantRef) {
        if let Some(g) = self.lock().grants.get_mut(&r) {
            g.maps = g.maps.saturating_sub(1);
        }
    }

    fn channel(&self, port: Port) -> Option<&Channel> {
        self.channels.get(port as usize)
    }

    /// Allocates an unbound port for the backend to bind; `None` once all
    /// [`MAX_PORTS`] are open.
    pub fn alloc_port(&self) -> Option<Port> {
        let mut s = self.lock();
        let p = match s.free_ports.pop() {
            Some(p) => p,
            None if s.next_port < MAX_PORTS => {
                let p = s.next_port;
                s.next_port += 1;
                p
            }
            None => return None,
        };
        s.open_ports += 1;
        let c = &self.channels[p as usize];
        c.front_pending.store(false, Ordering::Relaxed);
        c.back_pending.store(false, Ordering::Relaxed);
        c.bound.store(false, Ordering::Relaxed);
        c.open.store(true, Ordering::Release);
        Some(p)
    }

    /// The frontend closes `port`.
    pub fn close_port(&self, port: Port) {
        let mut s = self.lock();
        if let Some(c) = self.channel(port)
            && c.open.swap(false, Ordering::AcqRel)
        {
            c.bound.store(false, Ordering::Release);
            c.front_pending.store(false, Ordering::Relaxed);
            c.back_pending.store(false, Ordering::Relaxed);
            s.open_ports -= 1;
            s.free_ports.push(port);
        }
    }

    /// The backend binds the frontend's unbound `port`.
    pub fn bind_port(&self, port: Port) -> bool {
        let _s = self.lock();
        match self.channel(port) {
            Some(c) if c.open.load(Ordering::Acquire) && !c.bound.load(Ordering::Acquire) => {
                c.back_pending.store(false, Ordering::Relaxed);
                c.bound.store(true, Ordering::Release);
                true
            }
            _ => false,
        }
    }

    /// The backend unbinds `port`.
    pub fn unbind_port(&self, port: Port) {
        let _s = self.lock();
        if let Some(c) = self.channel(port)
            && c.open.load(Ordering::Acquire)
        {
            c.bound.store(false, Ordering::Release);
            c.back_pending.store(false, Ordering::Relaxed);
        }
    }

    /// Whether `port` is bound by the backend.
    pub fn is_bound(&self, port: Port) -> bool {
        self.channel(port).is_some_and(|c| c.bound.load(Ordering::Acquire))
    }

    /// The frontend signals `port` (delivered only if the backend bound it).
    pub fn notify_back(&self, port: Port) {
        if let Some(c) = self.channel(port)
            && c.bound.load(Ordering::Acquire)
        {
            Channel::raise(&c.back_pending);
            self.back.signal();
        }
    }

    /// The backend signals `port`.
    pub fn notify_front(&self, port: Port) {
        if let Some(c) = self.channel(port)
            && c.open.load(Ordering::Acquire)
        {
            Channel::raise(&c.front_pending);
            self.front.signal();
        }
    }

    /// Wakes the backend without an event (a socket's data arrived).
    pub fn wake_back(&self) {
        self.back.signal();
    }

    /// Takes the frontend-side fired flag of `port`.
    pub fn take_front(&self, port: Port) -> bool {
        self.channel(port).is_some_and(|c| Channel::take(&c.front_pending))
    }

    /// Takes the backend-side fired flag of `port`.
    pub fn take_back(&self, port: Port) -> bool {
        self.channel(port).is_some_and(|c| Channel::take(&c.back_pending))
    }

    /// The frontend's event generation.
    pub fn front_gen(&self) -> u64 {
        self.front.generation.load(Ordering::Acquire)
    }

    /// The backend's event generation.
    pub fn back_gen(&self) -> u64 {
        self.back.generation.load(Ordering::Acquire)
    }

    /// Blocks until the frontend generation differs from `seen` or
    /// `timeout` passes; returns the current generation.
    pub fn wait_front(&self, seen: u64, timeout: Duration) -> u64 {
        self.front.wait(seen, timeout)
    }

    /// Blocks until the backend generation differs from `seen` or
    /// `timeout` passes; returns the current generation.
    pub fn wait_back(&self, seen: u64, timeout: Duration) -> u64 {
        self.back.wait(seen, timeout)
    }
}

/// A contiguous view of granted pages, as a backend maps them
/// (`xenbus_map_ring_valloc`): byte offsets run across the pages in order.
#[derive(Debug)]
pub struct Mapped {
    frames: Vec<Frame>,
    refs: Vec<GrantRef>,
    host: Arc<SimHost>,
}

impl Mapped {
    /// Maps `refs` granted to `domid`; `None` (nothing left mapped) if any
    /// is invalid.
    pub fn map(host: &Arc<SimHost>, domid: DomId, refs: &[GrantRef]) -> Option<Self> {
        let mut m = Mapped { frames: Vec::new(), refs: Vec::new(), host: host.clone() };
        for &r in refs {
            let f = host.map_grant(domid, r)?;
            m.frames.push(f);
            m.refs.push(r);
        }
        Some(m)
    }

    fn split(&self, off: usize, len: usize, mut f: impl FnMut(&Frame, usize, usize, usize)) {
        let mut done = 0;
        while done < len {
            let pos = off + done;
            let (page, in_page) = (pos / PAGE, pos % PAGE);
            let n = (PAGE - in_page).min(len - done);
            f(&self.frames[page], in_page, done, n);
            done += n;
        }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        for r in &self.refs {
            self.host.unmap_grant(*r);
        }
    }
}

impl SharedMem for Mapped {
    fn size(&self) -> usize {
        self.frames.len() * PAGE
    }
    fn load_u32(&self, off: usize) -> u32 {
        let f = &self.frames[off / PAGE];
        f.mem.load_u32(f.index * PAGE + off % PAGE)
    }
    fn store_u32(&self, off: usize, val: u32) {
        let f = &self.frames[off / PAGE];
        f.mem.store_u32(f.index * PAGE + off % PAGE, val)
    }
    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        assert!(off + dst.len() <= self.size(), "Mapped: read beyond the mapping");
        self.split(off, dst.len(), |f, at, done, n| {
            f.mem.read_bytes(f.index * PAGE + at, &mut dst[done..done + n])
        });
    }
    fn write_bytes(&self, off: usize, src: &[u8]) {
        assert!(off + src.len() <= self.size(), "Mapped: write beyond the mapping");
        self.split(off, src.len(), |f, at, done, n| {
            f.mem.write_bytes(f.index * PAGE + at, &src[done..done + n])
        });
    }
}
