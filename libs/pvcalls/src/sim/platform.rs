//! The frontend's [`Platform`] on the simulated machine: `HostMem` pages, the shared grant table and event channels.

use std::sync::Arc;
use std::time::Duration;

use skiff_ring::{HostMem, SharedMem};

use super::host::SimHost;
use crate::platform::{DomId, EndGrantError, GrantRef, PageBlock, Platform, PlatformError, Port};

/// Pages allocated from a [`SimHost`]; returned to it when dropped.
#[derive(Debug)]
pub struct SimPages {
    mem: Arc<HostMem>,
    gfn0: u64,
    host: Arc<SimHost>,
    leaked: bool,
}

impl Drop for SimPages {
    fn drop(&mut self) {
        if !self.leaked {
            self.host.free_frames(self.gfn0, self.mem.size() / 4096);
        }
    }
}

impl SimPages {
    /// Allocates `2^order` zeroed frames on `host`.
    pub(crate) fn alloc(host: &Arc<SimHost>, order: u32) -> Self {
        let (mem, gfn0) = host.alloc_frames(1usize << order);
        SimPages { mem, gfn0, host: host.clone(), leaked: false }
    }

    /// Gives the frames up for good: they are never returned to the host.
    pub(crate) fn leak(mut self) {
        self.leaked = true;
        self.host.note_leak_of(self.gfn0, self.pages());
    }
}

impl SharedMem for SimPages {
    fn size(&self) -> usize {
        self.mem.size()
    }
    fn load_u32(&self, off: usize) -> u32 {
        self.mem.load_u32(off)
    }
    fn store_u32(&self, off: usize, val: u32) {
        self.mem.store_u32(off, val)
    }
    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        self.mem.read_bytes(off, dst)
    }
    fn write_bytes(&self, off: usize, src: &[u8]) {
        self.mem.write_bytes(off, src)
    }
}

impl PageBlock for SimPages {
    fn gfn(&self, i: usize) -> u64 {
        assert!(i < self.pages(), "page index out of range");
        self.gfn0 + i as u64
    }
}

/// The guest side of the simulated machine.
#[derive(Debug)]
pub struct SimPlatform {
    host: Arc<SimHost>,
    seen: u64,
    /// Fail allocations once this many pages are live (`None`: no limit).
    pub page_limit: Option<usize>,
    /// Fail grants once this many are active on the host (`None`: no
    /// limit).
    pub grant_limit: Option<usize>,
    notifies: u64,
}

impl SimPlatform {
    /// A platform on `host`.
    pub fn new(host: Arc<SimHost>) -> Self {
        let seen = host.front_gen();
        SimPlatform { host, seen, page_limit: None, grant_limit: None, notifies: 0 }
    }

    /// The machine.
    pub fn host(&self) -> &Arc<SimHost> {
        &self.host
    }

    /// Notifications sent so far.
    pub fn notifications(&self) -> u64 {
        self.notifies
    }
}

impl Platform for SimPlatform {
    type Pages = SimPages;

    fn alloc_pages(&mut self, order: u32) -> Result<SimPages, PlatformError> {
        let n = 1usize << order;
        if let Some(limit) = self.page_limit
            && self.host.stats().frames + n > limit
        {
            return Err(PlatformError::Exhausted);
        }
        Ok(SimPages::alloc(&self.host, order))
    }

    fn free_pages(&self) -> Option<usize> {
        self.page_limit.map(|limit| limit.saturating_sub(self.host.stats().frames))
    }

    fn leak_pages(&mut self, pages: SimPages) {
        pages.leak();
    }

    fn free_grants(&self) -> Option<usize> {
        self.grant_limit.map(|limit| limit.saturating_sub(self.host.stats().grants))
    }

    fn grant(&mut self, domid: DomId, gfn: u64) -> Result<GrantRef, PlatformError> {
        if self.grant_limit.is_some_and(|limit| self.host.stats().grants >= limit) {
            return Err(PlatformError::Exhausted);
        }
        self.host.grant(domid, gfn).ok_or(PlatformError::Refused)
    }

    fn end_grant(&mut self, gref: GrantRef) -> Result<(), EndGrantError> {
        self.host.end_guest_grant(gref)
    }

    fn alloc_evtchn(&mut self, _remote: DomId) -> Result<Port, PlatformError> {
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
        self.host.now_ns()
    }

    fn wait(&mut self, deadline_ns: Option<u64>) {
        let now = self.host.now_ns();
        let timeout = match deadline_ns {
            Some(d) => Duration::from_nanos(d.saturating_sub(now)),
            None => Duration::from_secs(3600),
        };
        self.seen = self.host.wait_front(self.seen, timeout);
    }
}
