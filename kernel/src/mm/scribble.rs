//! Diagnostic (`scribble-check` on the command line): fills spare RAM and the unused part of the
//! boot stack with a known pattern at boot and, after every hypercall, reports words that changed.
//!
//! Nothing in the guest writes there, so a change is a write from outside the guest's code
//! (hypervisor, toolstack, emulator), or a stray write of the guest's own.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use spin::Mutex;

/// Words filled in spare RAM.
const RAM_WORDS: usize = 256 * 1024;
/// Stack left unfilled below the stack pointer at boot, for the calls to come.
const STACK_MARGIN: usize = 64 * 1024;
/// Changes reported in all, so a large overwrite cannot flood the console.
const MAX_REPORTS: usize = 64;

static ENABLED: AtomicBool = AtomicBool::new(false);
static REPORTED: AtomicUsize = AtomicUsize::new(0);
static REGIONS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

fn expected(addr: usize) -> u64 {
    0x5ca1_ab1e_d15c_0de5 ^ addr as u64
}

fn fill(start: usize, end: usize) {
    for a in (start..end).step_by(8) {
        // SAFETY: callers pass 8-byte-aligned memory they own and nothing else uses.
        unsafe { core::ptr::write_volatile(a as *mut u64, expected(a)) };
    }
}

/// Fills the regions (only with the command-line flag).
pub fn init() {
    let ram: &'static mut [u64] = Vec::leak(alloc::vec![0u64; RAM_WORDS]);
    let ram = (ram.as_mut_ptr() as usize, ram.as_mut_ptr() as usize + RAM_WORDS * 8);
    let (bottom, _) = crate::arch::paging::boot_stack();
    let rsp = crate::arch::cpu::stack_pointer() as usize;
    let stack = (bottom as usize, (rsp - STACK_MARGIN) & !7);
    for &(s, e) in [ram, stack].iter() {
        fill(s, e);
    }
    *REGIONS.lock() = alloc::vec![ram, stack];
    log::info!(
        "scribble-check: watching {:#x}..{:#x} (RAM) and {:#x}..{:#x} (stack)",
        ram.0,
        ram.1,
        stack.0,
        stack.1
    );
    ENABLED.store(true, Ordering::Release);
}

/// Reports (and re-fills) words that changed since they were filled;
/// called after every hypercall (`nr`), the blocking `SCHEDOP_poll` included.
pub fn check(nr: usize) {
    if !ENABLED.load(Ordering::Acquire) {
        return;
    }
    let Some(regions) = REGIONS.try_lock() else { return };
    for &(s, e) in regions.iter() {
        for a in (s..e).step_by(8) {
            // SAFETY: inside a region `init` filled, which nothing else uses.
            let v = unsafe { core::ptr::read_volatile(a as *const u64) };
            if v != expected(a) {
                if REPORTED.fetch_add(1, Ordering::Relaxed) < MAX_REPORTS {
                    log::warn!(
                        "scribble-check: {a:#x} changed to {v:#018x} (after hypercall {nr})"
                    );
                }
                fill(a, a + 8);
            }
        }
    }
}

/// Words of live stack (the callers' frames) compared across each hypercall.
const FRAME_WORDS: usize = 128;

/// A copy of the live stack above a hypercall: `(base, words used, words)`.
static SNAPSHOT: Mutex<(usize, usize, [u64; FRAME_WORDS])> = Mutex::new((0, 0, [0; FRAME_WORDS]));
static IN_SNAPSHOT: AtomicBool = AtomicBool::new(false);

/// Copies the `FRAME_WORDS` words from `sp` up (only with the flag, and not
/// from inside another snapshot); true if it did, and then
/// [`compare_stack`] must follow.
#[inline(never)]
pub fn snapshot_stack(sp: usize) -> bool {
    if !ENABLED.load(Ordering::Acquire) || IN_SNAPSHOT.swap(true, Ordering::Acquire) {
        return false;
    }
    let base = sp & !7;
    let (_, top) = crate::arch::paging::boot_stack();
    let len = ((top as usize).saturating_sub(base) / 8).min(FRAME_WORDS);
    let mut snap = SNAPSHOT.lock();
    *snap = (base, len, [0; FRAME_WORDS]);
    for i in 0..len {
        // SAFETY: between the stack pointer and the top of the boot stack: live, mapped frames.
        snap.2[i] = unsafe { core::ptr::read_volatile((base + i * 8) as *const u64) };
    }
    true
}

/// Reports words of the snapshot's region that changed (`what`: the hypercall).
#[inline(never)]
pub fn compare_stack(what: usize) {
    let mut changed = [(0usize, 0u64, 0u64); 8];
    let mut n = 0;
    {
        let snap = SNAPSHOT.lock();
        let (base, len) = (snap.0, snap.1);
        for (i, &old) in snap.2.iter().enumerate().take(len) {
            let a = base + i * 8;
            // SAFETY: as in `snapshot_stack`; the callers' frames are still live.
            let v = unsafe { core::ptr::read_volatile(a as *const u64) };
            if v != old && n < changed.len() {
                changed[n] = (a, old, v);
                n += 1;
            }
        }
    }
    for &(a, old, v) in &changed[..n] {
        if REPORTED.fetch_add(1, Ordering::Relaxed) < MAX_REPORTS {
            log::warn!(
                "scribble-check: live stack {a:#x} changed across hypercall {what}: \
                 {old:#018x} -> {v:#018x}"
            );
        }
    }
    IN_SNAPSHOT.store(false, Ordering::Release);
}
