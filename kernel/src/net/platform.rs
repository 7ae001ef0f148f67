//! The kernel's [`Platform`] for the PV Calls frontend: page blocks from the
//! shared-page pool, grant table v1, event channels, pvclock and blocking.
#![forbid(unsafe_code)]

use skiff_pvcalls::platform::{DomId, GrantRef, Port};
use skiff_pvcalls::{EndGrantError, PageBlock as PageBlockTrait, Platform, PlatformError};

use crate::mm::frames;
use crate::mm::pages::{self, PageBlock};
use crate::time::Instant;
use crate::xen::evtchn;
use crate::xen::grant::{self, GrantError};

impl PageBlockTrait for PageBlock {
    fn gfn(&self, i: usize) -> u64 {
        PageBlock::gfn(self, i)
    }

    fn pages(&self) -> usize {
        PageBlock::pages(self)
    }
}

/// Kernel services handed to the frontend.
#[derive(Debug, Default)]
pub struct KernelPlatform {
    /// Event generation when the last `wait` returned.
    seen: u64,
}

impl KernelPlatform {
    /// A platform whose first `wait` returns at once if anything happened
    /// since boot.
    pub fn new() -> Self {
        KernelPlatform { seen: 0 }
    }
}

impl Platform for KernelPlatform {
    type Pages = PageBlock;

    fn alloc_pages(&mut self, order: u32) -> Result<PageBlock, PlatformError> {
        if order > pages::MAX_ORDER as u32 {
            return Err(PlatformError::Exhausted);
        }
        PageBlock::alloc(order as u8).map_err(|_| PlatformError::Exhausted)
    }

    fn free_pages(&self) -> Option<usize> {
        let s = frames::stats();
        Some(((s.free_runs + s.uncarved) / 4096) as usize)
    }

    fn free_grants(&self) -> Option<usize> {
        Some((grant::capacity() as usize).saturating_sub(grant::in_use()))
    }

    fn leak_pages(&mut self, block: PageBlock) {
        pages::leak(block);
    }

    fn grant(&mut self, domid: DomId, gfn: u64) -> Result<GrantRef, PlatformError> {
        grant::grant_access(domid, gfn, false).map_err(|_| PlatformError::Exhausted)
    }

    fn end_grant(&mut self, gref: GrantRef) -> Result<(), EndGrantError> {
        grant::end_access(gref).map_err(|e| match e {
            GrantError::StillMapped => EndGrantError::StillMapped,
            GrantError::BadRef | GrantError::Exhausted => EndGrantError::BadRef,
        })
    }

    fn alloc_evtchn(&mut self, remote: DomId) -> Result<Port, PlatformError> {
        evtchn::alloc_unbound(remote).map_err(|e| {
            // -ENOSPC (28): no free port; anything else is a refusal.
            if e.0 == -28 { PlatformError::Exhausted } else { PlatformError::Refused }
        })
    }

    fn close_evtchn(&mut self, port: Port) {
        if let Err(e) = evtchn::close(port) {
            log::warn!("closing event channel {port}: {e}");
        }
    }

    fn notify(&mut self, port: Port) {
        let _ = evtchn::send(port);
    }

    fn take_fired(&mut self, port: Port) -> bool {
        evtchn::take_fired(port)
    }

    fn now_ns(&self) -> u64 {
        crate::time::now_ns()
    }

    fn wait(&mut self, deadline_ns: Option<u64>) {
        let seen = self.seen;
        crate::wait::block_until(deadline_ns.map(Instant::from_nanos), || {
            evtchn::generation() != seen
        });
        self.seen = evtchn::generation();
    }
}
