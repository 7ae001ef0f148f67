//! `SCHEDOP_shutdown`: stopping the domain with a reason the toolstack sees.
#![forbid(unsafe_code)]

use skiff_xen::sched::{SchedShutdown, ShutdownReason};

use super::hypercall;
use crate::arch::cpu;

/// Why the domain stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Normal exit.
    Poweroff,
    /// Ask the toolstack to restart the domain.
    Reboot,
    /// Abnormal exit.
    Crash,
}

/// Stops the domain. Never returns.
pub fn shutdown(reason: Reason) -> ! {
    let r = match reason {
        Reason::Poweroff => ShutdownReason::Poweroff,
        Reason::Reboot => ShutdownReason::Reboot,
        Reason::Crash => ShutdownReason::Crash,
    };
    let mut arg = SchedShutdown { reason: r as u32 };
    if hypercall::is_ready() {
        let _ = hypercall::op(&mut arg);
    }
    // Unreachable under Xen; without a hypercall page, halting with
    // interrupts off makes Xen take the vCPU (and so the domain) down.
    loop {
        cpu::disable_interrupts();
        x86_64::instructions::hlt();
    }
}
