//! Blocking: wait for a condition, an event or a deadline with the vCPU
//! halted in between (STI; HLT), never busy-looping while idle.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::cpu;
use crate::time::{self, Instant};
use crate::xen::evtchn;

static IN_HOOKS: AtomicBool = AtomicBool::new(false);

/// Blocks until `ready()` returns true (returns true) or `deadline` passes
/// (returns false). `ready` is re-evaluated after every event delivery, so it
/// should be cheap; it runs with interrupts enabled.
pub fn block_until(deadline: Option<Instant>, mut ready: impl FnMut() -> bool) -> bool {
    loop {
        let seen = evtchn::generation();
        run_hooks();
        if ready() {
            return true;
        }
        if let Some(d) = deadline {
            if Instant::now() >= d {
                return false;
            }
            if let Err(e) = time::arm(d) {
                crate::crash::fatal(format_args!("cannot arm the one-shot timer: {e}"));
            }
        }
        halt_until_event(seen);
    }
}

/// Blocks until `port` fires or `deadline` passes; true if it fired.
pub fn wait_port(port: u32, deadline: Option<Instant>) -> bool {
    block_until(deadline, || evtchn::take_fired(port))
}

/// Halts until the event generation moves past `seen`.
fn halt_until_event(seen: u64) {
    cpu::disable_interrupts();
    if evtchn::generation() != seen {
        cpu::enable_interrupts();
        return;
    }
    cpu::enable_interrupts_and_halt();
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
