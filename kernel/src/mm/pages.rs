//! Whole pages for sharing with other domains: blocks of `2^order` contiguous pages from the
//! page-frame pool (`frames.rs`), so they never hold Rust objects, zeroed on allocation, given
//! back when dropped, and leaked for good when a peer may still map them.

use skiff_ring::SharedMem;
use spin::Mutex;

use super::frames;
use crate::xen::rawmem::RawMem;

/// Largest block: 2^MAX_ORDER pages.
pub const MAX_ORDER: u8 = 9;
const PAGE: usize = 4096;

struct Pool {
    /// Blocks handed out and not yet returned, per order.
    live: [usize; MAX_ORDER as usize + 1],
    /// Pages ever taken from the frame pool.
    pages_taken: usize,
    /// Pages leaked because a peer still mapped them.
    leaked_pages: usize,
}

static POOL: Mutex<Pool> =
    Mutex::new(Pool { live: [0; MAX_ORDER as usize + 1], pages_taken: 0, leaked_pages: 0 });

/// `2^order` contiguous, page-aligned, zeroed pages; returned to the pool on
/// drop. Accessed only through [`SharedMem`] (another domain may map them).
#[derive(Debug)]
pub struct PageBlock {
    mem: RawMem,
    order: u8,
}

/// No memory for the requested block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfPages;

impl PageBlock {
    /// Allocates `2^order` pages.
    pub fn alloc(order: u8) -> Result<PageBlock, OutOfPages> {
        assert!(order <= MAX_ORDER, "page block order {order} > {MAX_ORDER}");
        let size = PAGE << order;
        let addr = frames::alloc(1 << order).ok_or(OutOfPages)? as usize;
        // SAFETY: the frame pool gave us these pages exclusively; they hold
        // no Rust object, and nobody else maps them yet.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0, size) };
        let mut pool = POOL.lock();
        pool.live[order as usize] += 1;
        pool.pages_taken += 1 << order;
        drop(pool);
        // SAFETY: the block is page-aligned, mapped, and exclusively ours
        // until dropped; it holds no Rust objects.
        Ok(PageBlock { mem: unsafe { RawMem::new(addr, size) }, order })
    }

    /// Guest frame number of page `i` of the block.
    pub fn gfn(&self, i: usize) -> u64 {
        assert!(i < 1 << self.order);
        ((self.mem.base() + i * PAGE) >> 12) as u64
    }

    /// Number of pages.
    pub fn pages(&self) -> usize {
        1 << self.order
    }

    /// The block's order.
    pub fn order(&self) -> u8 {
        self.order
    }
}

impl SharedMem for PageBlock {
    fn size(&self) -> usize {
        self.mem.size()
    }
    fn load_u32(&self, off: usize) -> u32 {
        self.mem.load_u32(off)
    }
    fn store_u32(&self, off: usize, val: u32) {
        self.mem.store_u32(off, val)
    }
    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        self.mem.read_bytes(off, dst)
    }
    fn write_bytes(&self, off: usize, src: &[u8]) {
        self.mem.write_bytes(off, src)
    }
}

impl Drop for PageBlock {
    fn drop(&mut self) {
        POOL.lock().live[self.order as usize] -= 1;
        frames::free(self.mem.base() as u64, 1 << self.order);
    }
}

/// Gives up a block another domain may still map: it is never reused or
/// freed (reusing it would let the peer see or change new data).
pub fn leak(block: PageBlock) {
    let mut pool = POOL.lock();
    pool.live[block.order as usize] -= 1;
    pool.leaked_pages += block.pages();
    drop(pool);
    core::mem::forget(block);
}

/// Pool statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Blocks handed out and not returned.
    pub live_blocks: usize,
    /// Pages in those blocks.
    pub live_pages: usize,
    /// Pages ever taken from the frame pool.
    pub pages_taken: usize,
    /// Pages given up because a peer still mapped them.
    pub leaked_pages: usize,
}

/// Current pool statistics.
pub fn stats() -> Stats {
    let pool = POOL.lock();
    Stats {
        live_blocks: pool.live.iter().sum(),
        live_pages: pool.live.iter().enumerate().map(|(order, n)| n << order).sum(),
        pages_taken: pool.pages_taken,
        leaked_pages: pool.leaked_pages,
    }
}
