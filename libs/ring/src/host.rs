//! Heap-backed [`SharedMem`] for host tests and simulated peers.

use core::sync::atomic::{AtomicU32, Ordering};
use std::boxed::Box;
use std::vec::Vec;

use crate::SharedMem;

/// Size of a Xen page; [`HostMem`] sizes are rounded up to a multiple of it.
const PAGE_SIZE: usize = 4096;

/// Zero-initialised memory on the heap that implements [`SharedMem`].
///
/// Stored as 32-bit atomic words, so it is `Send + Sync` and two threads can
/// play the two ends of a ring over an `Arc<HostMem>` without data races.
/// Byte copies touch only the bytes asked for: a partial word is updated
/// with atomic read-modify-write operations, so bytes written concurrently by
/// the other side of the same word are preserved.
///
/// Out-of-range or misaligned accesses panic: offsets are computed by ring
/// code from its own constants, so such an access is a bug in the caller.
pub struct HostMem {
    words: Box<[AtomicU32]>,
}

impl HostMem {
    /// Allocates `len` bytes rounded up to a whole number of 4 KiB pages.
    pub fn new(len: usize) -> Self {
        let bytes = len.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let words: Vec<AtomicU32> = (0..bytes / 4).map(|_| AtomicU32::new(0)).collect();
        HostMem { words: words.into_boxed_slice() }
    }

    /// Allocates `n` zeroed 4 KiB pages.
    pub fn pages(n: usize) -> Self {
        Self::new(n * PAGE_SIZE)
    }

    /// Copies the whole region out, for inspection in tests.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = std::vec![0; self.size()];
        self.read_bytes(0, &mut v);
        v
    }

    fn check(&self, off: usize, len: usize) {
        let end = off.checked_add(len).expect("HostMem: offset overflow");
        assert!(end <= self.size(), "HostMem: access {off}..{end} beyond {}", self.size());
    }
}

impl core::fmt::Debug for HostMem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostMem").field("size", &self.size()).finish_non_exhaustive()
    }
}

impl SharedMem for HostMem {
    fn size(&self) -> usize {
        self.words.len() * 4
    }

    fn load_u32(&self, off: usize) -> u32 {
        assert!(off.is_multiple_of(4), "HostMem: misaligned u32 load at {off}");
        self.check(off, 4);
        self.words[off / 4].load(Ordering::Acquire)
    }

    fn store_u32(&self, off: usize, val: u32) {
        assert!(off.is_multiple_of(4), "HostMem: misaligned u32 store at {off}");
        self.check(off, 4);
        self.words[off / 4].store(val, Ordering::Release)
    }

    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        self.check(off, dst.len());
        let mut pos = off;
        let mut done = 0;
        while done < dst.len() {
            let word = self.words[pos / 4].load(Ordering::Relaxed).to_le_bytes();
            let start = pos % 4;
            let n = (4 - start).min(dst.len() - done);
            dst[done..done + n].copy_from_slice(&word[start..start + n]);
            done += n;
            pos += n;
        }
    }

    fn write_bytes(&self, off: usize, src: &[u8]) {
        self.check(off, src.len());
        let mut pos = off;
        let mut done = 0;
        while done < src.len() {
            let w = &self.words[pos / 4];
            let start = pos % 4;
            let n = (4 - start).min(src.len() - done);
            if n == 4 {
                let bytes = [src[done], src[done + 1], src[done + 2], src[done + 3]];
                w.store(u32::from_le_bytes(bytes), Ordering::Relaxed);
            } else {
                let mut mask = [0u8; 4];
                let mut val = [0u8; 4];
                mask[start..start + n].fill(0xff);
                val[start..start + n].copy_from_slice(&src[done..done + n]);
                w.fetch_and(!u32::from_le_bytes(mask), Ordering::Relaxed);
                w.fetch_or(u32::from_le_bytes(val), Ordering::Relaxed);
            }
            done += n;
            pos += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_pages() {
        assert_eq!(HostMem::new(1).size(), 4096);
        assert_eq!(HostMem::new(4096).size(), 4096);
        assert_eq!(HostMem::new(4097).size(), 8192);
        assert_eq!(HostMem::pages(3).size(), 3 * 4096);
    }

    #[test]
    fn bytes_and_words_agree_little_endian() {
        let m = HostMem::pages(1);
        m.write_bytes(5, &[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(m.load_u32(4), 0x0302_0100);
        assert_eq!(m.load_u32(8), 0x0706_0504);
        m.store_u32(16, 0xdead_beef);
        let mut b = [0u8; 6];
        m.read_bytes(15, &mut b);
        assert_eq!(b, [0, 0xef, 0xbe, 0xad, 0xde, 0]);
        assert_eq!(m.to_vec()[5..12], [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn partial_write_preserves_neighbours() {
        let m = HostMem::pages(1);
        m.store_u32(0, 0xaabb_ccdd);
        m.write_bytes(1, &[0x11, 0x22]);
        assert_eq!(m.load_u32(0), 0xaa22_11dd);
    }

    #[test]
    #[should_panic]
    fn out_of_range_panics() {
        HostMem::pages(1).write_bytes(4095, &[0, 0]);
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<HostMem>();
    }
}
