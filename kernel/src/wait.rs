//! Blocking: wait for a condition or a deadline with the vCPU blocked in Xen
//! in between (`SCHEDOP_poll` on the open event channels), never
//! busy-looping while idle; sleeping; and the idle hooks higher layers
//! register to run whenever the kernel waits (and now and then while an
//! application never waits, [`run_hooks_if_due`]).
//!
//! The kernel runs with interrupts disabled: the upcall vector is routed
//! but taken only where code opens a window for it, and waits do not need
//! it. `SCHEDOP_poll` needs no injection: Xen wakes a polling vCPU itself when
//! a listed port becomes pending, and a port that fires after the bitmaps
//! were scanned stays pending, so no wake-up is lost for listed ports.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use spin::Mutex;

use crate::arch::cpu;
use crate::time::{self, Instant};
use crate::xen::{evtchn, hypercall};
use skiff_xen::sched::POLL_MAX_PORTS;

/// Most idle hooks that can be registered.
const MAX_HOOKS: usize = 4;

/// The registered hooks (empty slots are `None`).
type Hooks = [Option<fn()>; MAX_HOOKS];

static HOOKS: Mutex<Hooks> = Mutex::new([None; MAX_HOOKS]);

/// Registers `hook` to run each time a wait looks for work (before its
/// condition is checked). Hooks run on the waiting path of every wait,
/// including waits inside other kernel services, so a hook must not block
/// on a lock such a service may hold: it takes locks with `try_lock` and
/// tries again next time. Panics if four are registered already.
pub fn add_idle_hook(hook: fn()) {
    let mut hooks = HOOKS.lock();
    let slot = hooks.iter_mut().find(|h| h.is_none()).expect("too many idle hooks");
    *slot = Some(hook);
}

/// Longest time the idle hooks go without a turn while the application
/// keeps the vCPU without waiting (see [`run_hooks_if_due`]).
const HOOK_PERIOD_NS: u64 = 10_000_000;

/// When [`run_hooks_if_due`] last ran the hooks (monotonic ns).
static HOOKS_DUE_FROM: AtomicU64 = AtomicU64::new(0);

/// Runs the idle hooks, after collecting pending events, if this has not
/// happened for 10 ms. For the paths an application can loop on without
/// ever waiting (socket calls that find something ready at once, system
/// calls): a busy poll loop still hears `xl shutdown`. Otherwise it costs
/// one clock read. It may be called wherever a wait may be: hooks take
/// their locks with `try_lock` ([`add_idle_hook`]).
pub fn run_hooks_if_due() {
    let now = time::now_ns();
    if now.wrapping_sub(HOOKS_DUE_FROM.load(Ordering::Relaxed)) < HOOK_PERIOD_NS {
        return;
    }
    // Before the hooks run: a hook that comes back here is not due.
    HOOKS_DUE_FROM.store(now, Ordering::Relaxed);
    cpu::disable_interrupts();
    evtchn::handle_upcall();
    run_hooks();
}

fn run_hooks() {
    // Copied out, so that a hook may wait (and run the hooks) itself.
    let hooks = *HOOKS.lock();
    for hook in hooks.into_iter().flatten() {
        hook();
    }
}

/// Blocks until `ready()` returns true (returns true) or `deadline` passes
/// (returns false). `ready` is re-evaluated after every event delivery, so it
/// should be cheap.
pub fn block_until(deadline: Option<Instant>, mut ready: impl FnMut() -> bool) -> bool {
    loop {
        let seen = evtchn::generation();
        run_hooks();
        if ready() {
            return true;
        }
        // `SCHEDOP_poll` itself wakes the vCPU at the deadline: no timer to
        // arm, which under emulation would cost a second exit to Xen.
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        halt_until_event(seen, deadline);
    }
}

/// The event generation now: read it before looking at what events
/// change, then [`until_event_since`] cannot miss one that comes after.
pub fn event_generation() -> u64 {
    evtchn::generation()
}

/// Blocks until an event arrives after generation `seen` (returns true) or
/// `deadline` passes (returns false).
pub fn until_event_since(seen: u64, deadline: Option<Instant>) -> bool {
    block_until(deadline, || evtchn::generation() != seen)
}

/// Sleeps for `d`, blocking the vCPU (events are still handled).
pub fn sleep(d: Duration) {
    let deadline = Instant::now() + d;
    block_until(Some(deadline), || false);
}

/// `SCHEDOP_poll` calls since boot.
static POLLS: AtomicU64 = AtomicU64::new(0);

/// How many times the vCPU blocked in `SCHEDOP_poll` since boot (a poll
/// that finds a port already pending returns at once, and counts too).
pub fn polls() -> u64 {
    POLLS.load(Ordering::Relaxed)
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
    POLLS.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = hypercall::sched_poll(&ports[..listed], timeout) {
        crate::crash::fatal(format_args!("SCHEDOP_poll failed: {e}"));
    }
    evtchn::handle_upcall();
}
