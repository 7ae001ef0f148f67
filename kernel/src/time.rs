//! Time: the pvclock (monotonic nanoseconds from `vcpu_time_info` and the
//! TSC), the wall clock, and the `VIRQ_TIMER` port. A clock only: waits are
//! bounded by `SCHEDOP_poll`'s own timeout (`wait`), sleeping is
//! `wait::sleep`.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;

use skiff_xen::event_channel::VIRQ_TIMER;

use crate::arch::cpu;
use crate::xen::hypercall::XenError;
use crate::xen::{evtchn, shared_info};

pub use skiff_xen::time::Instant;

static LAST: AtomicU64 = AtomicU64::new(0);
static TIMER_PORT: AtomicU32 = AtomicU32::new(u32::MAX);

/// Monotonic nanoseconds of Xen system time (never goes backwards, even if
/// the TSC readings of two records disagree slightly).
pub fn now_ns() -> u64 {
    let t = shared_info::time_info().system_time_at(cpu::rdtsc());
    let prev = LAST.fetch_max(t, Ordering::AcqRel);
    prev.max(t)
}

/// Converts a TSC delta into nanoseconds with the current pvclock scale.
pub fn tsc_delta_to_ns(delta: u64) -> u64 {
    let mut info = shared_info::time_info();
    info.system_time = 0;
    info.tsc_timestamp = 0;
    info.system_time_at(delta)
}

/// Time since the PVH entry point, measured with the TSC.
pub fn since_entry() -> Duration {
    Duration::from_nanos(tsc_delta_to_ns(
        cpu::rdtsc().wrapping_sub(crate::arch::entry::entry_tsc()),
    ))
}

/// Wall-clock time since the UNIX epoch, as Xen knows it.
pub fn wall_clock() -> Duration {
    let (sec, nsec) = shared_info::wall_clock_base();
    Duration::new(sec as u64, nsec) + Duration::from_nanos(now_ns())
}

/// Registers the pvclock as the clock [`Instant::now`] reads and binds
/// `VIRQ_TIMER`; must run after event channels are set up.
pub fn init() -> Result<(), XenError> {
    skiff_xen::time::set_clock(now_ns);
    let port = evtchn::bind_virq(VIRQ_TIMER)?;
    TIMER_PORT.store(port, Ordering::Release);
    Ok(())
}

/// The port `VIRQ_TIMER` is bound to.
pub fn timer_port() -> u32 {
    TIMER_PORT.load(Ordering::Acquire)
}
