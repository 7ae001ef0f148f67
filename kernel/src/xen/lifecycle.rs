//! Domain lifecycle: `SCHEDOP_shutdown` with a reason, and the toolstack's
//! `control/shutdown` requests (`xl shutdown`, `xl reboot`) honoured through
//! a xenstore watch (docs/misc/xenstore-paths.pandoc).

use core::sync::atomic::{AtomicBool, Ordering};

use skiff_xen::hypercall::SCHED_OP;
use skiff_xen::sched::{SchedShutdown, ShutdownReason, SCHEDOP_SHUTDOWN};

use super::hypercall::call;
use super::xenstore;
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

const WATCH_TOKEN: &str = "skiff-lifecycle";
static WATCHING: AtomicBool = AtomicBool::new(false);

/// Stops the domain. Never returns.
pub fn shutdown(reason: Reason) -> ! {
    let r = match reason {
        Reason::Poweroff => ShutdownReason::Poweroff,
        Reason::Reboot => ShutdownReason::Reboot,
        Reason::Crash => ShutdownReason::Crash,
    };
    let mut arg = SchedShutdown { reason: r as u32 };
    if super::hypercall::is_ready() {
        // SAFETY: SCHEDOP_shutdown takes a sched_shutdown.
        unsafe {
            call(SCHED_OP, SCHEDOP_SHUTDOWN, &mut arg as *mut SchedShutdown as usize, 0, 0, 0)
        };
    }
    // Unreachable under Xen; without a hypercall page, halting with
    // interrupts off makes Xen take the vCPU (and so the domain) down.
    loop {
        cpu::disable_interrupts();
        x86_64::instructions::hlt();
    }
}

/// Advertises what the domain supports and watches `control/shutdown`.
pub fn init() -> Result<(), xenstore::Error> {
    xenstore::write("control/feature-poweroff", "1")?;
    xenstore::write("control/feature-reboot", "1")?;
    xenstore::watch("control/shutdown", WATCH_TOKEN)?;
    WATCHING.store(true, Ordering::Release);
    Ok(())
}

/// Acts on a pending shutdown request, if any. Called whenever the kernel
/// waits, so a blocked application is stopped promptly.
pub fn poll() {
    if !WATCHING.load(Ordering::Acquire) || xenstore::is_busy() {
        return;
    }
    if xenstore::pump_if_fired().is_err() {
        return;
    }
    while xenstore::take_watch_event(WATCH_TOKEN).is_some() {
        check_request();
    }
}

/// Reads `control/shutdown` once and acts on a pending request (for callers
/// that may have swallowed the watch event).
pub fn recheck() {
    if WATCHING.load(Ordering::Acquire) {
        check_request();
    }
}

fn check_request() {
    let request = match xenstore::read("control/shutdown") {
        Ok(v) => v,
        Err(xenstore::Error::NoEnt) => return,
        Err(e) => {
            log::warn!("cannot read control/shutdown: {e}");
            return;
        }
    };
    let reason = match request.as_str() {
        "" => return,
        "poweroff" | "halt" => Reason::Poweroff,
        "reboot" => Reason::Reboot,
        other => {
            log::warn!("ignoring unsupported shutdown request {other:?}");
            let _ = xenstore::write("control/shutdown", "");
            return;
        }
    };
    // Acknowledge, then go.
    let _ = xenstore::write("control/shutdown", "");
    crate::println!("skiff: {request} requested by the toolstack");
    shutdown(reason);
}
