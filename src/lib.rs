//! Skiff: the crate a unikernel application depends on. It re-exports the
//! kernel's safe API: the entry macro, arguments, exit, time, console output
//! and the Xen services, and the socket API ([`net`]).
#![forbid(unsafe_code)]
#![no_std]

extern crate alloc;

pub mod checks;
pub mod linux;
pub mod net;

pub use skiff_kernel::{Termination, args, exit, main, print, println};

/// Time: one instant type on the monotonic clock ([`Instant`](time::Instant)) with
/// [`Duration`](time::Duration) for spans, the wall clock, sleeping.
///
/// ```no_run
/// use skiff::time::{Duration, Instant};
/// let start = Instant::now();
/// skiff::time::sleep(Duration::from_millis(100));
/// assert!(start.elapsed() >= Duration::from_millis(100));
/// ```
pub mod time {
    pub use core::time::Duration;
    pub use skiff_kernel::time::{Instant, since_entry, wall_clock};
    pub use skiff_kernel::wait::sleep;
}

/// What an application may use of Xen itself: its own xenstore nodes
/// (read, write, watch), for configuration and status.
pub mod sys {
    /// The domain's xenstore: paths relative to `/local/domain/<domid>`
    /// or absolute, as xenstored allows this domain.
    pub mod xenstore {
        pub use skiff_kernel::xen::xenstore::{
            Error, WatchEvent, directory, domid, read, rm, unwatch, wait_watch_event, watch, write,
        };
    }
}
