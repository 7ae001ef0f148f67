//! Skiff: the crate a unikernel application depends on. It re-exports the
//! kernel's safe API: the entry macro, arguments, exit, time, console output
//! and the Xen services, and the socket API ([`net`]).
#![forbid(unsafe_code)]
#![no_std]

extern crate alloc;

pub mod checks;
pub mod net;

pub use skiff_kernel::{Termination, args, exit, main, print, println};

/// Time: monotonic clock, wall clock, sleeping.
pub mod time {
    pub use skiff_kernel::time::{Instant, since_entry, wall_clock};
    pub use skiff_kernel::wait::sleep;
}

/// Lower-level Xen services for system code and tests.
pub mod sys {
    pub use skiff_kernel::mm::pages::PageBlock;
    pub use skiff_kernel::time::timer_port;
    pub use skiff_kernel::wait::block_until;
    pub use skiff_kernel::xen::{evtchn, grant, xenstore};
}
