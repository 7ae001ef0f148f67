//! Event channels, 2-level ABI: the upcall handler that scans the pending
//! bitmaps, per-port "fired" flags for waiters, and the port operations
//! (alloc_unbound, bind_interdomain, bind_virq, send, close).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;

use skiff_xen::event_channel::{
    AllocUnbound, BindInterdomain, BindVirq, Close, NR_2L_PORTS, Port, PortArg, Send,
};
use skiff_xen::hvm::{PARAM_CALLBACK_IRQ, callback_via_vector};
use skiff_xen::{DOMID_SELF, DomId};

use super::hypercall::{XenError, op};
use super::shared_info as si;
use crate::arch::UPCALL_VECTOR;

const WORDS: usize = (NR_2L_PORTS / 64) as usize;

/// Ports that fired since their waiter last looked (one bit per port).
static FIRED: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];
/// Counts upcalls that delivered at least one event; waiters compare it to
/// detect "something happened" without scanning.
static EVENTS: AtomicU64 = AtomicU64::new(0);
/// Total events delivered, for statistics.
static DELIVERED: AtomicU64 = AtomicU64::new(0);
/// Upcalls delivered through [`UPCALL_VECTOR`].
static VECTOR_UPCALLS: AtomicU64 = AtomicU64::new(0);
/// Whether `HVM_PARAM_CALLBACK_IRQ` routes upcalls to [`UPCALL_VECTOR`].
static ROUTED: AtomicBool = AtomicBool::new(false);
/// Ports this domain has open, for `SCHEDOP_poll`.
static OPEN: Mutex<Vec<Port>> = Mutex::new(Vec::new());

/// Resets the per-port state. Event delivery does not depend on the upcall
/// vector: waits block in `SCHEDOP_poll`, which Xen ends when a listed port
/// becomes pending, and collect events from the pending bitmaps themselves.
pub fn init() -> Result<(), XenError> {
    for word in &FIRED {
        word.store(0, Ordering::Relaxed);
    }
    si::upcall_mask().store(1, Ordering::Release);
    Ok(())
}

/// Routes upcalls to [`UPCALL_VECTOR`] (`HVM_PARAM_CALLBACK_IRQ`). The
/// kernel runs with interrupts disabled, so the vector is taken only where
/// it opens a window ([`take_upcall_interrupts`]); the handler collects
/// events like a wait does.
pub fn route_upcall_vector() -> Result<(), XenError> {
    // SAFETY: the IDT has a handler for UPCALL_VECTOR (arch::idt, loaded
    // first thing at boot), and it only collects events.
    unsafe { super::hvm::set_param(PARAM_CALLBACK_IRQ, callback_via_vector(UPCALL_VECTOR))? };
    si::upcall_mask().store(0, Ordering::Release);
    ROUTED.store(true, Ordering::Release);
    Ok(())
}

/// Whether upcalls are routed to the vector (the default; the
/// `no-upcall-vector` command-line flag leaves them unrouted).
pub fn upcall_vector_routed() -> bool {
    ROUTED.load(Ordering::Acquire)
}

/// The handler of [`UPCALL_VECTOR`] (registered with the trap code at boot).
pub fn upcall_interrupt() {
    VECTOR_UPCALLS.fetch_add(1, Ordering::Relaxed);
    handle_upcall();
}

/// Upcalls taken through the interrupt vector since boot.
pub fn vector_upcalls() -> u64 {
    VECTOR_UPCALLS.load(Ordering::Relaxed)
}

/// Opens one interrupt window, so that an upcall Xen holds pending is
/// delivered through the vector now; returns how many were taken (0 if
/// nothing was pending or no vector is routed).
pub fn take_upcall_interrupts() -> u64 {
    let before = vector_upcalls();
    crate::arch::cpu::interrupt_window();
    vector_upcalls() - before
}

/// Remembers a port Xen or the toolstack opened for us (console, xenstore)
/// so that blocking waits include it.
pub fn track(port: Port) {
    let mut open = OPEN.lock();
    if !open.contains(&port) {
        open.push(port);
    }
}

fn untrack(port: Port) {
    OPEN.lock().retain(|&p| p != port);
}

/// Copies up to `out.len()` open ports into `out`; returns how many there
/// are in all.
pub fn open_ports(out: &mut [Port]) -> usize {
    let open = OPEN.lock();
    for (o, p) in out.iter_mut().zip(open.iter()) {
        *o = *p;
    }
    open.len()
}

/// Collects pending events from the shared info bitmaps into the per-port
/// "fired" flags. Called by the upcall vector's handler and by the waiting
/// code after every wake-up.
pub fn handle_upcall() {
    let mut any = false;
    while si::upcall_pending().swap(0, Ordering::AcqRel) != 0 {
        let sel = si::pending_sel().swap(0, Ordering::AcqRel);
        let mut words = sel;
        while words != 0 {
            let w = words.trailing_zeros() as usize;
            words &= words - 1;
            let pending = si::evtchn_pending(w).load(Ordering::Acquire)
                & !si::evtchn_mask(w).load(Ordering::Acquire);
            if pending == 0 {
                continue;
            }
            // Clear exactly the bits we saw, then publish them to waiters.
            si::evtchn_pending(w).fetch_and(!pending, Ordering::AcqRel);
            FIRED[w].fetch_or(pending, Ordering::AcqRel);
            DELIVERED.fetch_add(pending.count_ones() as u64, Ordering::Relaxed);
            any = true;
        }
    }
    if any {
        EVENTS.fetch_add(1, Ordering::AcqRel);
    }
}

/// The current event generation; changes whenever an upcall delivers events.
pub fn generation() -> u64 {
    EVENTS.load(Ordering::Acquire)
}

/// Total events delivered since boot.
pub fn delivered() -> u64 {
    DELIVERED.load(Ordering::Relaxed)
}

/// For diagnostics: `port`'s pending and mask bits in shared info, and
/// whether it is marked fired; plus `upcall_pending` and `pending_sel`.
pub fn port_state(port: Port) -> (bool, bool, bool, u8, u64) {
    let (w, b) = split(port);
    let bit = 1u64 << b;
    (
        si::evtchn_pending(w).load(Ordering::Acquire) & bit != 0,
        si::evtchn_mask(w).load(Ordering::Acquire) & bit != 0,
        FIRED[w].load(Ordering::Acquire) & bit != 0,
        si::upcall_pending().load(Ordering::Acquire),
        si::pending_sel().load(Ordering::Acquire),
    )
}

/// Returns and clears whether `port` fired since the last call.
pub fn take_fired(port: Port) -> bool {
    let (w, b) = split(port);
    FIRED[w].fetch_and(!(1 << b), Ordering::AcqRel) & (1 << b) != 0
}

fn split(port: Port) -> (usize, u32) {
    assert!(port < NR_2L_PORTS, "event channel port {port} beyond the 2-level ABI");
    ((port / 64) as usize, port % 64)
}

/// Allocates a port that domain `remote` may bind to.
pub fn alloc_unbound(remote: DomId) -> Result<Port, XenError> {
    let mut a = AllocUnbound { dom: DOMID_SELF, remote_dom: remote, port: 0 };
    op(&mut a)?;
    track(a.port);
    Ok(a.port)
}

/// Binds a local port to `remote_port`, an unbound port of `remote`.
pub fn bind_interdomain(remote: DomId, remote_port: Port) -> Result<Port, XenError> {
    let mut a = BindInterdomain { remote_dom: remote, pad: 0, remote_port, local_port: 0 };
    op(&mut a)?;
    track(a.local_port);
    Ok(a.local_port)
}

/// Binds virtual IRQ `virq` on vCPU 0.
pub fn bind_virq(virq: u32) -> Result<Port, XenError> {
    let mut a = BindVirq { virq, vcpu: 0, port: 0 };
    op(&mut a)?;
    track(a.port);
    Ok(a.port)
}

/// Notifies the other end of `port`.
pub fn send(port: Port) -> Result<(), XenError> {
    op(&mut Send(PortArg { port })).map(drop)
}

/// Closes `port` and forgets whether it fired.
pub fn close(port: Port) -> Result<(), XenError> {
    op(&mut Close(PortArg { port }))?;
    untrack(port);
    take_fired(port);
    Ok(())
}
