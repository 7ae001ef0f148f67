//! Heap-backed [`SharedMem`] for host tests and simulated peers.

use core::sync::atomic::{AtomicU64, Ordering};
use std::boxed::Box;
use std::vec::Vec;

use crate::SharedMem;

/// Size of a Xen page; [`HostMem`] sizes are rounded up to a multiple of it.
const PAGE_SIZE: usize = 4096;

/// Zero-initialised memory on the heap that implements [`SharedMem`].
///
/// Stored as 64-bit atomic words, so it is `Send + Sync` and two threads can
/// play the two ends of a ring over an `Arc<HostMem>` without data races.
/// Every access is atomic, as the kernel's shared pages are accessed
/// (`kernel/src/xen/rawmem.rs`): byte copies move whole words with relaxed
/// 8-byte loads and stores over the aligned middle of the range, in one
/// tight loop; a word only partly covered (the ends of a copy, a `u32`
/// store) is updated with a compare-and-swap, so the bytes the other side
/// writes concurrently in the same word are preserved and never seen torn.
///
/// Out-of-range or misaligned accesses panic: offsets are computed by ring
/// code from its own constants, so such an access is a bug in the caller.
pub struct HostMem {
    words: Box<[AtomicU64]>,
}

/// Replaces the bytes of `w` selected by `mask` with those of `val`, in one
/// atomic step.
fn merge(w: &AtomicU64, mask: u64, val: u64, order: Ordering) {
    let mut old = w.load(Ordering::Relaxed);
    loop {
        let new = (old & !mask) | (val & mask);
        match w.compare_exchange_weak(old, new, order, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => old = now,
        }
    }
}

/// The mask of bytes `start..start + n` of a little-endian word.
fn byte_mask(start: usize, n: usize) -> u64 {
    let ones = if n >= 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
    ones << (8 * start)
}

impl HostMem {
    /// Allocates `len` bytes rounded up to a whole number of 4 KiB pages.
    pub fn new(len: usize) -> Self {
        let bytes = len.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let words: Vec<AtomicU64> = (0..bytes / 8).map(|_| AtomicU64::new(0)).collect();
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

    #[inline]
    fn check(&self, off: usize, len: usize) {
        let end = off.checked_add(len).expect("HostMem: offset overflow");
        assert!(end <= self.size(), "HostMem: access {off}..{end} beyond {}", self.size());
    }

    /// Splits `off..off + len` into a head in a partial word, whole words,
    /// and a tail in a partial word: `(head bytes, first whole word, words)`.
    #[inline]
    fn split(off: usize, len: usize) -> (usize, usize, usize) {
        let head = (off.next_multiple_of(8) - off).min(len);
        ((head), (off + head) / 8, (len - head) / 8)
    }
}

impl core::fmt::Debug for HostMem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostMem").field("size", &self.size()).finish_non_exhaustive()
    }
}

impl SharedMem for HostMem {
    #[inline]
    fn size(&self) -> usize {
        self.words.len() * 8
    }

    #[inline]
    fn load_u32(&self, off: usize) -> u32 {
        assert!(off.is_multiple_of(4), "HostMem: misaligned u32 load at {off}");
        self.check(off, 4);
        (self.words[off / 8].load(Ordering::Acquire) >> (8 * (off % 8))) as u32
    }

    #[inline]
    fn store_u32(&self, off: usize, val: u32) {
        assert!(off.is_multiple_of(4), "HostMem: misaligned u32 store at {off}");
        self.check(off, 4);
        let shift = 8 * (off % 8);
        merge(
            &self.words[off / 8],
            0xffff_ffff << shift,
            u64::from(val) << shift,
            Ordering::Release,
        );
    }

    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        self.check(off, dst.len());
        let (head, first, n) = Self::split(off, dst.len());
        let (h, rest) = dst.split_at_mut(head);
        if head > 0 {
            let w = self.words[off / 8].load(Ordering::Relaxed).to_le_bytes();
            h.copy_from_slice(&w[off % 8..off % 8 + head]);
        }
        let (mid, tail) = rest.split_at_mut(n * 8);
        for (d, w) in mid.chunks_exact_mut(8).zip(&self.words[first..first + n]) {
            let d: &mut [u8; 8] = d.try_into().expect("8-byte chunk");
            *d = w.load(Ordering::Relaxed).to_le_bytes();
        }
        if !tail.is_empty() {
            let w = self.words[first + n].load(Ordering::Relaxed).to_le_bytes();
            tail.copy_from_slice(&w[..tail.len()]);
        }
    }

    fn write_bytes(&self, off: usize, src: &[u8]) {
        self.check(off, src.len());
        let (head, first, n) = Self::split(off, src.len());
        let (h, rest) = src.split_at(head);
        if head > 0 {
            let mut b = [0u8; 8];
            b[off % 8..off % 8 + head].copy_from_slice(h);
            let mask = byte_mask(off % 8, head);
            merge(&self.words[off / 8], mask, u64::from_le_bytes(b), Ordering::Relaxed);
        }
        let (mid, tail) = rest.split_at(n * 8);
        for (s, w) in mid.chunks_exact(8).zip(&self.words[first..first + n]) {
            let s: &[u8; 8] = s.try_into().expect("8-byte chunk");
            w.store(u64::from_le_bytes(*s), Ordering::Relaxed);
        }
        if !tail.is_empty() {
            let mut b = [0u8; 8];
            b[..tail.len()].copy_from_slice(tail);
            let mask = byte_mask(0, tail.len());
            merge(&self.words[first + n], mask, u64::from_le_bytes(b), Ordering::Relaxed);
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
        m.store_u32(4, 0x1234_5678);
        assert_eq!(m.load_u32(0), 0xaa22_11dd, "the other half of the word");
    }

    #[test]
    fn copies_of_every_alignment_and_length_touch_only_their_bytes() {
        let m = HostMem::pages(1);
        for off in 0..24 {
            for len in 0..40 {
                let fill: std::vec::Vec<u8> = (0..64).map(|i| 0xc0 | i as u8).collect();
                m.write_bytes(0, &fill);
                let src: std::vec::Vec<u8> = (0..len).map(|i| i as u8).collect();
                m.write_bytes(off, &src);
                let all = m.to_vec();
                assert_eq!(&all[off..off + len], &src[..], "off {off} len {len}");
                assert_eq!(&all[..off], &fill[..off], "before, off {off} len {len}");
                assert_eq!(&all[off + len..64], &fill[off + len..], "after, off {off} len {len}");
                let mut back = std::vec![0u8; len];
                m.read_bytes(off, &mut back);
                assert_eq!(back, src);
            }
        }
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
