//! [`SharedMem`] over a raw, identity-mapped memory region that another
//! domain may write at any time (console and xenstore pages, granted pages).

use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use skiff_ring::SharedMem;

/// A shared region at a fixed address. Every access is atomic: indexes are
/// 4-byte atomics, byte copies are relaxed 8-byte atomics on the aligned
/// middle of the range and 1-byte atomics at its ends, so a copy touches
/// only the bytes asked for and a peer writing concurrently is no data race.
/// No reference to a plain type is ever formed into the memory.
#[derive(Debug)]
pub struct RawMem {
    base: usize,
    size: usize,
}

impl RawMem {
    /// Describes the region `[base, base + size)`.
    ///
    /// # Safety
    /// The region must be mapped, 8-byte aligned, and reserved for sharing
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

    fn byte(&self, addr: usize) -> &AtomicU8 {
        // SAFETY: callers pass an address inside the region (they checked
        // the whole range); any address is aligned for a byte.
        unsafe { AtomicU8::from_ptr(addr as *mut u8) }
    }

    fn quad(&self, addr: usize) -> &AtomicU64 {
        debug_assert!(addr.is_multiple_of(8));
        // SAFETY: callers pass an 8-byte-aligned address whose 8 bytes lie
        // inside the region (they checked the whole range).
        unsafe { AtomicU64::from_ptr(addr as *mut u64) }
    }
}

/// Splits `[addr, addr + len)` into an unaligned head, whole aligned 8-byte
/// words, and a tail: `(head bytes, words, tail bytes)`.
fn split(addr: usize, len: usize) -> (usize, usize, usize) {
    let head = (addr.next_multiple_of(8) - addr).min(len);
    let words = (len - head) / 8;
    (head, words, len - head - words * 8)
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
        let addr = self.base + off;
        let (head, words, _) = split(addr, dst.len());
        let (h, rest) = dst.split_at_mut(head);
        for (i, b) in h.iter_mut().enumerate() {
            *b = self.byte(addr + i).load(Ordering::Relaxed);
        }
        let (w, t) = rest.split_at_mut(words * 8);
        for (i, chunk) in w.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(
                &self.quad(addr + head + i * 8).load(Ordering::Relaxed).to_ne_bytes(),
            );
        }
        let tail_at = addr + head + words * 8;
        for (i, b) in t.iter_mut().enumerate() {
            *b = self.byte(tail_at + i).load(Ordering::Relaxed);
        }
    }

    fn write_bytes(&self, off: usize, src: &[u8]) {
        self.check(off, src.len());
        let addr = self.base + off;
        let (head, words, _) = split(addr, src.len());
        let (h, rest) = src.split_at(head);
        for (i, &b) in h.iter().enumerate() {
            self.byte(addr + i).store(b, Ordering::Relaxed);
        }
        let (w, t) = rest.split_at(words * 8);
        for (i, chunk) in w.chunks_exact(8).enumerate() {
            let v = u64::from_ne_bytes([
                chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
            ]);
            self.quad(addr + head + i * 8).store(v, Ordering::Relaxed);
        }
        let tail_at = addr + head + words * 8;
        for (i, &b) in t.iter().enumerate() {
            self.byte(tail_at + i).store(b, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_covers_the_range_exactly() {
        for addr in 0..16usize {
            for len in 0..40usize {
                let (h, w, t) = split(addr, len);
                assert_eq!(h + w * 8 + t, len);
                assert!(h < 8 && t < 8);
                if w > 0 {
                    assert!((addr + h).is_multiple_of(8));
                }
            }
        }
    }
}
