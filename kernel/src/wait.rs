//! Blocking: wait for a condition, an event or a deadline with the vCPU
//! blocked in Xen in between (`SCHEDOP_poll` on the open event channels),
//! never busy-looping while idle.
//!
//! The kernel runs with interrupts disabled: the upcall vector is routed
//! but taken only where code opens a window for it, and waits do not need
//! it. `SCHEDOP_poll` needs no injection: Xen wakes a polling vCPU itself when
//! a listed port becomes pending, and a port that fires after the bitmaps
//! were scanned stays pending, so no wake-up is lost for listed ports.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::cpu;
use crate::time::{self, Instant};
use crate::xen::{evtchn, hypercall};
use skiff_xen::sched::POLL_MAX_PORTS;

static IN_HOOKS: AtomicBool = AtomicBool::new(false);

/// Blocks until `ready()` returns true (returns true) or `deadline` passes
/// (returns false). `ready` is re-evaluated after every event delivery, so it
/// should be cheap.
pub fn block_until(deadline: Option<Instant>, ready: impl FnMut() -> bool) -> bool {
    wait_loop(deadline, ready, true)
}

/// Blocks until `port` fires or `deadline` passes; true if it fired. For
/// the kernel's own request/response waits: it does not run the wait hooks,
/// so a hook never issues a request while another one is in flight.
pub fn wait_port(port: u32, deadline: Option<Instant>) -> bool {
    wait_loop(deadline, || evtchn::take_fired(port), false)
}

fn wait_loop(deadline: Option<Instant>, mut ready: impl FnMut() -> bool, hooks: bool) -> bool {
    loop {
        let seen = evtchn::generation();
        if hooks {
            run_hooks();
        }
        if ready() {
            return true;
        }
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                return false;
            }
            if let Err(e) = time::arm(d) {
                crate::crash::fatal(format_args!("cannot arm the one-shot timer: {e}"));
            }
        }
        halt_until_event(seen, deadline);
    }
}

/// Longest single block when more ports are open than one `SCHEDOP_poll`
/// can list: events on unlisted ports are then noticed within this time.
const UNLISTED_PORT_LATENCY_NS: u64 = 10_000_000;

/// Blocks until an open port fires or `deadline` passes, unless the event
/// generation already moved past `seen`.
fn halt_until_event(seen: u64, deadline: Option<Instant>) {
    cpu::disable_interrupts();
    evtchn::handle_upcall();
    if evtchn::generation() != seen {
        return;
    }
    let mut ports = [0u32; POLL_MAX_PORTS];
    let open = evtchn::open_ports(&mut ports);
    let listed = open.min(POLL_MAX_PORTS);
    let mut timeout = deadline.map_or(0, Instant::as_nanos);
    if open > listed {
        let cap = time::now_ns().saturating_add(UNLISTED_PORT_LATENCY_NS);
        timeout = if timeout == 0 { cap } else { timeout.min(cap) };
    }
    if let Err(e) = hypercall::sched_poll(&ports[..listed], timeout) {
        crate::crash::fatal(format_args!("SCHEDOP_poll failed: {e}"));
    }
    evtchn::handle_upcall();
}

/// Work the kernel does whenever the application waits: honour shutdown
/// requests from the toolstack. Not re-entered from inside itself.
fn run_hooks() {
    if IN_HOOKS.swap(true, Ordering::Acquire) {
        return;
    }
    crate::xen::lifecycle::poll();
    IN_HOOKS.store(false, Ordering::Release);
}
