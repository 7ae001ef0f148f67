//! The Rust heap: `linked_list_allocator` over RAM after the image, growing upward on demand into
//! room the page-frame pool (`frames.rs`, carving downward from the top) has not taken.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use linked_list_allocator::Heap;
use spin::Mutex;

use super::frames;

/// The heap starts this big and grows in steps of at least this much.
const STEP: u64 = 256 * 1024;

struct GrowingHeap(Mutex<Heap>);

#[global_allocator]
static HEAP: GrowingHeap = GrowingHeap(Mutex::new(Heap::empty()));

// SAFETY: allocations come from `linked_list_allocator::Heap`, which hands
// out non-overlapping blocks of the region it was given; the region only
// grows by memory `frames::raise_floor` gave up for it, which nothing else
// uses. Deallocation returns exactly what `alloc` handed out.
unsafe impl GlobalAlloc for GrowingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        loop {
            if let Ok(p) = heap.allocate_first_fit(layout) {
                return p.as_ptr();
            }
            let want = (layout.size() as u64 + layout.align() as u64).max(STEP);
            let want = want.next_multiple_of(frames::PAGE);
            if frames::raise_floor(want).is_none() {
                return core::ptr::null_mut();
            }
            // SAFETY: `raise_floor` handed the `want` bytes above the heap's
            // top to the heap; nothing else uses them.
            unsafe { heap.extend(want as usize) };
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` was returned by `alloc` with this layout (the
            // GlobalAlloc contract).
            unsafe { self.0.lock().deallocate(p, layout) };
        }
    }
}

/// Gives `[start, end)` to the heap (its first `STEP`) and to its growth
/// and the page-frame pool (the rest); the pool's pages from `in_use_from`
/// up are in use already (the boot module moved there) until freed.
///
/// # Safety
/// The region must be unused RAM (but for `[in_use_from, end)`, which the
/// caller frees through the pool when done with it), identity-mapped, used
/// for nothing else, and this must be called once.
pub unsafe fn init(start: u64, end: u64, in_use_from: u64) {
    let initial = (in_use_from - start).min(STEP);
    // SAFETY: forwarded to the caller.
    unsafe { HEAP.0.lock().init(start as *mut u8, initial as usize) };
    frames::init(start + initial, end, in_use_from);
}

/// `(used, free)` bytes of the heap, `free` counting the room it can still
/// grow into.
pub fn usage() -> (usize, usize) {
    let h = HEAP.0.lock();
    (h.used(), h.free() + frames::stats().uncarved as usize)
}
