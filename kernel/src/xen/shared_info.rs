//! The shared info page: mapped over a reserved page of the image with
//! `XENMEM_add_to_physmap(XENMAPSPACE_shared_info)`, then read and written
//! only through atomics (Xen updates it concurrently).

use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering, fence};

use skiff_xen::memory::MAPSPACE_SHARED_INFO;
use skiff_xen::shared_info::{TimeInfo, offset, time, vcpu_info};

use super::hvm::add_to_physmap;
use super::hypercall::XenError;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// The frame Xen's shared info replaces. Never accessed as a Rust object.
static mut SHARED_INFO_PAGE: Page = Page([0; 4096]);

fn base() -> usize {
    &raw const SHARED_INFO_PAGE as usize
}

/// Maps the shared info page.
pub fn init() -> Result<(), XenError> {
    // SAFETY: SHARED_INFO_PAGE is reserved for this mapping and only ever
    // accessed through the atomic accessors below.
    unsafe { add_to_physmap(MAPSPACE_SHARED_INFO, 0, (base() >> 12) as u64) }
}

fn u8_at(off: usize) -> &'static AtomicU8 {
    debug_assert!(off < 4096);
    // SAFETY: inside the shared info page, which lives for the whole run.
    unsafe { AtomicU8::from_ptr((base() + off) as *mut u8) }
}

fn u32_at(off: usize) -> &'static AtomicU32 {
    debug_assert!(off.is_multiple_of(4) && off < 4096);
    // SAFETY: aligned and inside the shared info page.
    unsafe { AtomicU32::from_ptr((base() + off) as *mut u32) }
}

/// The 64-bit word at `off` of the shared info page.
pub fn u64_at(off: usize) -> &'static AtomicU64 {
    assert!(off.is_multiple_of(8) && off < 4096);
    // SAFETY: aligned and inside the shared info page.
    unsafe { AtomicU64::from_ptr((base() + off) as *mut u64) }
}

/// vCPU 0's `evtchn_upcall_pending` flag.
pub fn upcall_pending() -> &'static AtomicU8 {
    u8_at(offset::VCPU_INFO + vcpu_info::UPCALL_PENDING)
}

/// vCPU 0's `evtchn_upcall_mask` flag.
pub fn upcall_mask() -> &'static AtomicU8 {
    u8_at(offset::VCPU_INFO + vcpu_info::UPCALL_MASK)
}

/// vCPU 0's `evtchn_pending_sel`.
pub fn pending_sel() -> &'static AtomicU64 {
    u64_at(offset::VCPU_INFO + vcpu_info::PENDING_SEL)
}

/// Word `i` of the `evtchn_pending` bitmap.
pub fn evtchn_pending(i: usize) -> &'static AtomicU64 {
    u64_at(offset::EVTCHN_PENDING + 8 * i)
}

/// Word `i` of the `evtchn_mask` bitmap.
pub fn evtchn_mask(i: usize) -> &'static AtomicU64 {
    u64_at(offset::EVTCHN_MASK + 8 * i)
}

/// A consistent snapshot of vCPU 0's `vcpu_time_info` (retries while Xen is
/// updating it: odd or changed version).
pub fn time_info() -> TimeInfo {
    let t = offset::VCPU_INFO + vcpu_info::TIME;
    loop {
        let v1 = u32_at(t + time::VERSION).load(Ordering::Acquire);
        if v1 & 1 != 0 {
            core::hint::spin_loop();
            continue;
        }
        fence(Ordering::Acquire);
        let info = TimeInfo {
            tsc_timestamp: u64_at(t + time::TSC_TIMESTAMP).load(Ordering::Relaxed),
            system_time: u64_at(t + time::SYSTEM_TIME).load(Ordering::Relaxed),
            tsc_to_system_mul: u32_at(t + time::TSC_TO_SYSTEM_MUL).load(Ordering::Relaxed),
            tsc_shift: u8_at(t + time::TSC_SHIFT).load(Ordering::Relaxed) as i8,
        };
        fence(Ordering::Acquire);
        if u32_at(t + time::VERSION).load(Ordering::Acquire) == v1 {
            return info;
        }
    }
}

/// Wall clock at system time zero: `(seconds, nanoseconds)` since the UNIX
/// epoch, as Xen publishes it.
pub fn wall_clock_base() -> (u32, u32) {
    loop {
        let v1 = u32_at(offset::WC_VERSION).load(Ordering::Acquire);
        if v1 & 1 != 0 {
            core::hint::spin_loop();
            continue;
        }
        fence(Ordering::Acquire);
        let sec = u32_at(offset::WC_SEC).load(Ordering::Relaxed);
        let nsec = u32_at(offset::WC_NSEC).load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if u32_at(offset::WC_VERSION).load(Ordering::Acquire) == v1 {
            return (sec, nsec);
        }
    }
}
