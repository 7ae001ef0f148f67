//! What the environment provides the frontend: pages, grants, event channels, a clock and a way to block.

use core::fmt;

use skiff_ring::SharedMem;
pub use skiff_xen::DomId;
pub use skiff_xen::event_channel::Port;
pub use skiff_xen::grant_table::GrantRef;

/// A block of `2^order` zeroed, physically backed 4 KiB pages that can be
/// granted to another domain. Freed when dropped.
///
/// The block must never hold Rust objects: the peer may write to it at any
/// time. Access goes through [`SharedMem`] (byte offsets from the first page).
pub trait PageBlock: SharedMem {
    /// Guest frame number of page `i` (`i < pages()`).
    fn gfn(&self, i: usize) -> u64;

    /// Number of pages in the block.
    fn pages(&self) -> usize {
        self.size() / 4096
    }
}

/// Failure of a platform resource allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// No memory, grant entry or event channel left.
    Exhausted,
    /// The hypervisor refused the operation.
    Refused,
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlatformError::Exhausted => "out of pages, grant entries or event channels",
            PlatformError::Refused => "operation refused by the hypervisor",
        })
    }
}

/// Why a grant could not be ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndGrantError {
    /// The peer still maps the page: the grant stays active and the page
    /// must never be reused (the frontend leaks it).
    StillMapped,
    /// The reference is not an active grant of ours (a frontend bug).
    BadRef,
}

/// The services the PV Calls frontend needs from the kernel (or from a
/// simulation on the host).
///
/// Every method is non-blocking except [`wait`](Self::wait). Event
/// delivery is modelled as one "fired" flag per port that
/// [`take_fired`](Self::take_fired) reads and clears, plus a global wake-up
/// for [`wait`](Self::wait).
pub trait Platform {
    /// The page blocks this platform allocates.
    type Pages: PageBlock;

    /// Allocates `2^order` zeroed pages.
    fn alloc_pages(&mut self, order: u32) -> Result<Self::Pages, PlatformError>;

    /// Pages still free for [`alloc_pages`](Self::alloc_pages) and the rest
    /// of the system, if the platform knows: new data rings are sized by it
    /// (see [`RING_SHARE`](crate::RING_SHARE)). The default: unknown.
    fn free_pages(&self) -> Option<usize> {
        None
    }

    /// Grant entries still free for [`grant`](Self::grant), if the platform
    /// knows: new data rings are sized by them too (see
    /// [`GRANT_SHARE`](crate::GRANT_SHARE)). The default: unknown.
    fn free_grants(&self) -> Option<usize> {
        None
    }

    /// Gives up a block that a peer may still map: it must never be reused
    /// or freed. The default forgets it.
    fn leak_pages(&mut self, pages: Self::Pages) {
        core::mem::forget(pages);
    }

    /// Grants domain `domid` read-write access to frame `gfn`.
    fn grant(&mut self, domid: DomId, gfn: u64) -> Result<GrantRef, PlatformError>;

    /// Revokes a grant. On [`EndGrantError::StillMapped`] the grant stays
    /// active and the page must be leaked.
    fn end_grant(&mut self, gref: GrantRef) -> Result<(), EndGrantError>;

    /// Allocates an unbound event channel that domain `remote` may bind.
    fn alloc_evtchn(&mut self, remote: DomId) -> Result<Port, PlatformError>;

    /// Closes a port (and forgets whether it fired).
    fn close_evtchn(&mut self, port: Port);

    /// Signals the other end of `port`.
    fn notify(&mut self, port: Port);

    /// Whether `port` fired since the previous call for that port; clears
    /// the flag.
    fn take_fired(&mut self, port: Port) -> bool;

    /// Monotonic time in nanoseconds.
    fn now_ns(&self) -> u64;

    /// Blocks until an event is delivered on any port, or `deadline_ns`
    /// (monotonic, see [`now_ns`](Self::now_ns)) passes, or spuriously.
    /// Must return at once if an event was delivered since the previous
    /// `wait` returned, so that no wake-up is lost between checking for
    /// work and calling `wait`.
    fn wait(&mut self, deadline_ns: Option<u64>);
}

/// What a [`Frontend`](crate::Frontend) currently holds, for leak checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Active grants (command ring and data rings).
    pub grants: usize,
    /// Pages allocated and not freed or leaked.
    pub pages: usize,
    /// Event channels open.
    pub ports: usize,
    /// Data rings allocated and not released or leaked: connected sockets',
    /// closing ones', and the one each listener's outstanding ACCEPT carries
    /// (what [`FIRST_RINGS`](crate::FIRST_RINGS) counts).
    pub rings: usize,
    /// Command `req_id`s outstanding (at most 32).
    pub req_ids: usize,
    /// Sockets in the table (including ones closing in the background).
    pub sockets: usize,
    /// ACCEPTs left outstanding by [`release_all`](crate::Frontend::release_all),
    /// whose rings are given back at teardown.
    pub orphans: usize,
    /// Pages given up because the backend still mapped them.
    pub leaked_pages: usize,
    /// Grants left active because the backend still mapped them.
    pub leaked_grants: usize,
}
