//! The page-frame pool: whole pages carved downward from the top of RAM, for shared rings and the
//! application's memory, while the Rust heap grows upward toward it (`heap.rs`).
//!
//! RAM after the image is one region `[floor, top)`: the heap owns `[start, floor)` and raises
//! `floor` when it needs room; the pool owns `[ceiling, top)` and lowers `ceiling` when it carves
//! new pages. Freed runs are kept (coalesced) and reused first; a run that reaches `ceiling` goes
//! back to the uncarved middle. The pool always leaves the heap a reserve, so that Rust objects
//! can still be allocated when pages run short (a refused page block is an `ENOMEM` for one
//! connection; a heap that runs dry is a crash).
#![forbid(unsafe_code)]

use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

/// Size of a page.
pub const PAGE: u64 = 4096;

/// The heap's top: the lowest address the pool may never carve.
static FLOOR: AtomicU64 = AtomicU64::new(0);
/// The pool's bottom: pages at or above it are the pool's.
static CEILING: AtomicU64 = AtomicU64::new(0);
/// End of the region.
static TOP: AtomicU64 = AtomicU64::new(0);
/// Bytes the pool leaves between `floor` and `ceiling` for the heap.
static RESERVE: AtomicU64 = AtomicU64::new(0);
/// Freed runs inside `[ceiling, top)`: start -> length in bytes.
static FREE: Mutex<BTreeMap<u64, u64>> = Mutex::new(BTreeMap::new());

/// Hands the region `[floor, top)` to the pool and the heap's growth (call
/// once); the pages from `in_use_from` up count as carved and in use.
pub(crate) fn init(floor: u64, top: u64, in_use_from: u64) {
    let top = top & !(PAGE - 1);
    FLOOR.store(floor, Ordering::Release);
    CEILING.store(in_use_from.min(top) & !(PAGE - 1), Ordering::Release);
    TOP.store(top, Ordering::Release);
    // A sixteenth of what the heap and pool share, at least 256 KiB.
    RESERVE.store(((top.saturating_sub(floor)) / 16).max(256 * 1024), Ordering::Release);
}

/// Moves the heap's top up by `bytes` if the pool has not carved there;
/// returns the old top (where the new heap memory starts).
pub(crate) fn raise_floor(bytes: u64) -> Option<u64> {
    let mut floor = FLOOR.load(Ordering::Acquire);
    loop {
        let new = floor.checked_add(bytes)?;
        if new > CEILING.load(Ordering::Acquire) {
            return None;
        }
        match FLOOR.compare_exchange(floor, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some(floor),
            Err(now) => floor = now,
        }
    }
}

/// `pages` contiguous, page-aligned pages (not zeroed), or `None` when the
/// pool cannot give them without eating into the heap's reserve.
pub fn alloc(pages: u64) -> Option<u64> {
    let bytes = pages.checked_mul(PAGE)?;
    if bytes == 0 {
        return None;
    }
    let mut free = FREE.lock();
    // Reuse a freed run first (the highest that fits).
    let found = free.iter().rev().find(|&(_, &len)| len >= bytes).map(|(&a, &l)| (a, l));
    if let Some((addr, len)) = found {
        free.remove(&addr);
        if len > bytes {
            free.insert(addr + bytes, len - bytes);
        }
        return Some(addr);
    }
    drop(free);
    let reserve = RESERVE.load(Ordering::Acquire);
    let mut ceiling = CEILING.load(Ordering::Acquire);
    loop {
        let new = ceiling.checked_sub(bytes)?;
        if new < FLOOR.load(Ordering::Acquire).saturating_add(reserve) {
            return None;
        }
        match CEILING.compare_exchange(ceiling, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some(new),
            Err(now) => ceiling = now,
        }
    }
}

/// Gives back `pages` pages at `addr`, which [`alloc()`] returned (whole or in
/// part), or free RAM outside the heap that boot hands over. Runs are
/// merged; one that reaches the uncarved middle goes back to it.
pub fn free(addr: u64, pages: u64) {
    let Some(bytes) = pages.checked_mul(PAGE) else { return };
    if bytes == 0 {
        return;
    }
    let mut free = FREE.lock();
    let (mut start, mut len) = (addr, bytes);
    // Merge with the run before and the run after.
    if let Some((&a, &l)) = free.range(..start).next_back()
        && a + l == start
    {
        free.remove(&a);
        start = a;
        len += l;
    }
    if let Some(&l) = free.get(&(start + len)) {
        free.remove(&(start + len));
        len += l;
    }
    if start == CEILING.load(Ordering::Acquire) {
        // Back to the middle, where the heap may grow too.
        CEILING.store(start + len, Ordering::Release);
    } else {
        free.insert(start, len);
    }
}

/// Pool statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Bytes the pool has carved (in use or in freed runs).
    pub carved: u64,
    /// Bytes in freed runs, ready for reuse.
    pub free_runs: u64,
    /// Bytes neither the heap nor the pool has taken yet.
    pub uncarved: u64,
}

/// Current statistics.
pub fn stats() -> Stats {
    let free_runs = FREE.lock().values().sum();
    let (floor, ceiling, top) = (
        FLOOR.load(Ordering::Acquire),
        CEILING.load(Ordering::Acquire),
        TOP.load(Ordering::Acquire),
    );
    Stats { carved: top - ceiling, free_runs, uncarved: ceiling.saturating_sub(floor) }
}
