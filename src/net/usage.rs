//! What the sockets hold, as the PV Calls frontend accounts it and as the kernel counts it, and
//! the idle reports servers print for leak checks.

use core::fmt;

use skiff_kernel::mm::pages;
use skiff_kernel::time::Instant;
use skiff_kernel::xen::{evtchn, grant};

pub use skiff_net::server::{IDLE_CHECK, IDLE_FOLLOW_UP, IDLE_REPORT_WAIT, IdleReport};
pub use skiff_pvcalls::Resources;

/// A snapshot of the resources behind the application's sockets: the
/// frontend's own accounting next to the kernel's counters for the same
/// things, so that a leak or a miscount shows either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// What the frontend holds (sockets include ones still closing, and
    /// connections the backend accepted that the application has not).
    pub frontend: Resources,
    /// Sockets the application has open (not closed yet).
    pub open_sockets: usize,
    /// Grants the kernel has active (leaked ones too: they are never ended).
    pub kernel_grants: usize,
    /// Pages the kernel has handed out for sharing.
    pub kernel_pages: usize,
    /// Pages the kernel gave up because a peer still mapped them.
    pub kernel_leaked_pages: usize,
    /// Event channels the kernel has open (console, xenstore and timer too).
    pub kernel_ports: usize,
}

impl Usage {
    /// Whether every socket the application closed has been released.
    pub fn settled(&self) -> bool {
        self.frontend.sockets == self.open_sockets
    }

    /// Whether the frontend's grants and pages, held and leaked, match the
    /// kernel's counts (true when nothing but sockets shares memory).
    pub fn matches_kernel(&self) -> bool {
        self.frontend.grants + self.frontend.leaked_grants == self.kernel_grants
            && self.frontend.pages == self.kernel_pages
            && self.frontend.leaked_pages == self.kernel_leaked_pages
    }
}

/// What the sockets hold now; `None` until the first socket connected the
/// frontend (or when there is no backend).
pub fn usage() -> Option<Usage> {
    let (frontend, open_sockets) = super::frontend::resources()?;
    let p = pages::stats();
    Some(Usage {
        frontend,
        open_sockets,
        kernel_grants: grant::in_use(),
        kernel_pages: p.live_pages,
        kernel_leaked_pages: p.leaked_pages,
        kernel_ports: evtchn::open_ports(&mut []),
    })
}

/// One line: `sockets 1 (0 closing), commands 1, grants 18, pages 18,
/// ports 2, leaked 0 pages 0 grants; kernel: grants 18, pages 18, leaked 0
/// pages, ports 5`.
impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.frontend;
        write!(
            f,
            "sockets {} ({} closing), commands {}, grants {}, pages {}, ports {}, \
             leaked {} pages {} grants; kernel: grants {}, pages {}, leaked {} pages, ports {}",
            r.sockets,
            r.sockets.saturating_sub(self.open_sockets),
            r.req_ids,
            r.grants,
            r.pages,
            r.ports,
            r.leaked_pages,
            r.leaked_grants,
            self.kernel_grants,
            self.kernel_pages,
            self.kernel_leaked_pages,
            self.kernel_ports,
        )
    }
}

/// For a poll-based server named `name` with `open` connections, after
/// each poll: prints `<name>: idle after N connections: <usage>` when
/// `report` says one is due (see [`IdleReport`]).
pub fn report_if_idle(name: &str, report: &mut IdleReport, open: usize) {
    let now = Instant::now();
    // Look at the sockets only when a report may be due (not on every
    // poll of a busy server).
    let usage = if report.may_be_due(open) { usage() } else { None };
    let settled = usage.is_none_or(|u| u.settled());
    if let Some(served) = report.take_due(open, settled, now) {
        match usage {
            Some(u) => skiff_kernel::println!("{name}: idle after {served} connections: {u}"),
            None => skiff_kernel::println!("{name}: idle after {served} connections"),
        }
    }
}
