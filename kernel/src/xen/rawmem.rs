//! [`SharedMem`] over a raw, identity-mapped memory region that another
//! domain may write at any time (console and xenstore pages, granted pages).

use core::sync::atomic::{AtomicU32, Ordering};

use skiff_ring::SharedMem;

/// A shared region at a fixed address. Accesses are atomic or volatile and
/// never create references into the memory.
#[derive(Debug)]
pub struct RawMem {
    base: usize,
    size: usize,
}

impl RawMem {
    /// Describes the region `[base, base + size)`.
    ///
    /// # Safety
    /// The region must be mapped, 4-byte aligned, and reserved for sharing
    /// with Xen or another domain for as long as this value (and copies of
    /// `base`) are used; no Rust object may live in it.
    pub const unsafe fn new(base: usize, size: usize) -> Self {
        RawMem { base, size }
    }

    /// Start address.
    pub fn base(&self) -> usize {
        self.base
    }

    fn check(&self, off: usize, len: usize) {
        assert!(
            off.checked_add(len).is_some_and(|end| end <= self.size),
            "shared memory access out of range: {off}+{len} > {}",
            self.size
        );
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        self.check(off, 4);
        assert!(off.is_multiple_of(4), "unaligned shared u32 at {off}");
        // SAFETY: in range and aligned (checked above); the region is
        // reserved shared memory (constructor contract), and an AtomicU32
        // tolerates concurrent writes by the peer.
        unsafe { AtomicU32::from_ptr((self.base + off) as *mut u32) }
    }
}

impl SharedMem for RawMem {
    fn size(&self) -> usize {
        self.size
    }

    fn load_u32(&self, off: usize) -> u32 {
        self.word(off).load(Ordering::Acquire)
    }

    fn store_u32(&self, off: usize, val: u32) {
        self.word(off).store(val, Ordering::Release)
    }

    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        self.check(off, dst.len());
        // SAFETY: the source range is in the region (checked) and `dst` is a
        // distinct Rust buffer. The peer may write concurrently; the bytes
        // are copied exactly once and only the copy is used afterwards.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (self.base + off) as *const u8,
                dst.as_mut_ptr(),
                dst.len(),
            )
        };
    }

    fn write_bytes(&self, off: usize, src: &[u8]) {
        self.check(off, src.len());
        // SAFETY: the destination range is in the region (checked) and is
        // ours to write; `src` is a distinct Rust buffer.
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), (self.base + off) as *mut u8, src.len())
        };
    }
}
