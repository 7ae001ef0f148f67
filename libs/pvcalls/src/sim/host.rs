//! The simulated hypervisor: guest frames, a grant table and event channels shared by both simulated domains.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
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

#[derive(Debug, Default)]
struct Channel {
    bound: bool,
    front_pending: bool,
    back_pending: bool,
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
    channels: HashMap<Port, Channel>,
    free_ports: Vec<Port>,
    next_port: Port,
    front_gen: u64,
    back_gen: u64,
    leaked_frames: usize,
    leaked_unmapped: usize,
    freed_while_granted: usize,
}

/// Shared state of the simulated machine; `Send + Sync`, used through an `Arc`.
#[derive(Debug)]
pub struct SimHost {
    state: Mutex<State>,
    cond: Condvar,
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
        SimHost { state: Mutex::new(state), cond: Condvar::new(), epoch: Instant::now() }
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
            ports: s.channels.len(),
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

    /// Allocates an unbound port for the backend to bind.
    pub fn alloc_port(&self) -> Port {
        let mut s = self.lock();
        let p = match s.free_ports.pop() {
            Some(p) => p,
            None => {
                let p = s.next_port;
                s.next_port += 1;
                p
            }
        };
        s.channels.insert(p, Channel::default());
        p
    }

    /// The frontend closes `port`.
    pub fn close_port(&self, port: Port) {
        let mut s = self.lock();
        if s.channels.remove(&port).is_some() {
            s.free_ports.push(port);
        }
    }

    /// The backend binds the frontend's unbound `port`.
    pub fn bind_port(&self, port: Port) -> bool {
        let mut s = self.lock();
        match s.channels.get_mut(&port) {
            Some(c) if !c.bound => {
                c.bound = true;
                true
            }
            _ => false,
        }
    }

    /// The backend unbinds `port`.
    pub fn unbind_port(&self, port: Port) {
        if let Some(c) = self.lock().channels.get_mut(&port) {
            c.bound = false;
            c.back_pending = false;
        }
    }

    /// Whether `port` is bound by the backend.
    pub fn is_bound(&self, port: Port) -> bool {
        self.lock().channels.get(&port).is_some_and(|c| c.bound)
    }

    /// The frontend signals `port` (delivered only if the backend bound it).
    pub fn notify_back(&self, port: Port) {
        let mut s = self.lock();
        if let Some(c) = s.channels.get_mut(&port)
            && c.bound
        {
            c.back_pending = true;
            s.back_gen += 1;
            self.cond.notify_all();
        }
    }

    /// The backend signals `port`.
    pub fn notify_front(&self, port: Port) {
        let mut s = self.lock();
        if let Some(c) = s.channels.get_mut(&port) {
            c.front_pending = true;
            s.front_gen += 1;
            self.cond.notify_all();
        }
    }

    /// Wakes the backend without an event (a socket's data arrived).
    pub fn wake_back(&self) {
        let mut s = self.lock();
        s.back_gen += 1;
        self.cond.notify_all();
    }

    /// Takes the frontend-side fired flag of `port`.
    pub fn take_front(&self, port: Port) -> bool {
        self.lock().channels.get_mut(&port).is_some_and(|c| core::mem::take(&mut c.front_pending))
    }

    /// Takes the backend-side fired flag of `port`.
    pub fn take_back(&self, port: Port) -> bool {
        self.lock().channels.get_mut(&port).is_some_and(|c| core::mem::take(&mut c.back_pending))
    }

    /// The frontend's event generation.
    pub fn front_gen(&self) -> u64 {
        self.lock().front_gen
    }

    /// Blocks until the frontend generation differs from `seen` or
    /// `timeout` passes; returns the current generation.
    pub fn wait_front(&self, seen: u64, timeout: Duration) -> u64 {
        self.wait_gen(seen, timeout, |s| s.front_gen)
    }

    /// Blocks until the backend generation differs from `seen` or
    /// `timeout` passes; returns the current generation.
    pub fn wait_back(&self, seen: u64, timeout: Duration) -> u64 {
        self.wait_gen(seen, timeout, |s| s.back_gen)
    }

    fn wait_gen(&self, seen: u64, timeout: Duration, generation: impl Fn(&State) -> u64) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            let g = generation(&s);
            let now = Instant::now();
            if g != seen || now >= deadline {
                return g;
            }
            s = self.cond.wait_timeout(s, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
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
