//! The Rust heap: `linked_list_allocator` over the RAM after the image.

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Hands `[start, end)` to the allocator.
///
/// # Safety
/// The region must be unused RAM, identity-mapped, used for nothing else, and
/// this must be called once.
pub unsafe fn init(start: u64, end: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { HEAP.lock().init(start as *mut u8, (end - start) as usize) };
}

/// `(used, free)` bytes of the heap.
pub fn usage() -> (usize, usize) {
    let h = HEAP.lock();
    (h.used(), h.free())
}
