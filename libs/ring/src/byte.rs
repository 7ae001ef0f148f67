//! Byte rings: ring.h `DEFINE_XEN_FLEX_RING` (console, xenstore, PV Calls data rings).
//!
//! A byte ring is one direction of a byte stream: a power-of-two data area and
//! two free-running `u32` indexes, `prod` (written by the producer) and `cons`
//! (written by the consumer). Byte `i` of the stream lives at
//! `data + (i & (size - 1))`; `prod - cons` (wrapping) is the number of queued
//! bytes and must never exceed `size`.
//!
//! [`ByteRing`] only describes where things are. [`Producer`] and
//! [`Consumer`] are the two ends; each is a copy of the description and keeps
//! no other state, so the indexes are always read from shared memory (Xen does
//! not promise they start at zero). The frontend of the console `out` ring is
//! a [`Producer`] and its backend a [`Consumer`]; for `in` it is the other way
//! round, so simulated backends use the same types.
//!
//! Indexes and data may live in different [`SharedMem`] regions (PV Calls:
//! indexes page + data pages): every operation has a `*_split` form taking
//! both, and a short form for rings whose indexes and data share one region.
//!
//! Barriers follow the PV Calls spec "Workflow" (the same discipline as
//! Linux's console and xenstore drivers): the producer reads `cons` and
//! `prod`, full barrier, writes data, write barrier, publishes `prod`; the
//! consumer reads `prod` and `cons`, read barrier, reads data, full barrier,
//! publishes `cons`. Notifying the peer is left to the caller.

use core::sync::atomic::{Ordering, fence};

use crate::{RingError, SharedMem};

/// `XEN_FLEX_RING_SIZE(order)`: bytes in each direction of a PV Calls-style
/// data ring of `1 << order` pages (half of the pages each way).
///
/// # Panics
///
/// If `order > 20` (the result would not fit a `u32` ring).
pub const fn flex_ring_size(order: u32) -> u32 {
    assert!(order <= 20, "flex ring order too large");
    1 << (order + 12 - 1)
}

/// Where one direction of a byte ring lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ByteRing {
    data: usize,
    size: u32,
    prod: usize,
    cons: usize,
}

impl ByteRing {
    /// Describes a ring whose data area is `size` bytes at offset `data` and
    /// whose `prod` / `cons` indexes are `u32`s at the given offsets.
    ///
    /// # Panics
    ///
    /// If `size` is not a power of two or an index offset is not 4-byte
    /// aligned: these are constants of the caller's protocol.
    pub const fn new(data: usize, size: u32, prod: usize, cons: usize) -> Self {
        assert!(size.is_power_of_two(), "byte ring size must be a power of two");
        assert!(
            prod.is_multiple_of(4) && cons.is_multiple_of(4),
            "ring indexes must be 4-byte aligned"
        );
        ByteRing { data, size, prod, cons }
    }

    /// Size of the data area in bytes.
    pub const fn size(&self) -> u32 {
        self.size
    }

    /// Offset of the data area.
    pub const fn data_offset(&self) -> usize {
        self.data
    }

    /// Offset of the producer index.
    pub const fn prod_offset(&self) -> usize {
        self.prod
    }

    /// Offset of the consumer index.
    pub const fn cons_offset(&self) -> usize {
        self.cons
    }

    /// Whether the indexes fit in a region of `idx_len` bytes and the data
    /// area in a region of `data_len` bytes.
    pub const fn fits(&self, idx_len: usize, data_len: usize) -> bool {
        self.prod + 4 <= idx_len
            && self.cons + 4 <= idx_len
            && self.data + self.size as usize <= data_len
    }

    /// The producing end of this ring.
    pub const fn producer(self) -> Producer {
        Producer { ring: self }
    }

    /// The consuming end of this ring.
    pub const fn consumer(self) -> Consumer {
        Consumer { ring: self }
    }

    /// Loads both indexes once (the peer's first) and validates them.
    fn indexes<I: SharedMem + ?Sized>(
        &self,
        idx: &I,
        prod_first: bool,
    ) -> Result<Indexes, RingError> {
        let (prod, cons) = if prod_first {
            let p = idx.load_u32(self.prod);
            (p, idx.load_u32(self.cons))
        } else {
            let c = idx.load_u32(self.cons);
            (idx.load_u32(self.prod), c)
        };
        let used = prod.wrapping_sub(cons);
        if used > self.size {
            return Err(RingError::Corrupt { prod, cons });
        }
        Ok(Indexes { prod, cons, used })
    }

    /// Copies `buf.len()` bytes out of the ring starting at stream index `at`.
    fn copy_out<D: SharedMem + ?Sized>(&self, data: &D, at: u32, buf: &mut [u8]) {
        let pos = (at & (self.size - 1)) as usize;
        let first = buf.len().min(self.size as usize - pos);
        let (a, b) = buf.split_at_mut(first);
        data.read_bytes(self.data + pos, a);
        if !b.is_empty() {
            data.read_bytes(self.data, b);
        }
    }

    /// Copies `buf` into the ring starting at stream index `at`.
    fn copy_in<D: SharedMem + ?Sized>(&self, data: &D, at: u32, buf: &[u8]) {
        let pos = (at & (self.size - 1)) as usize;
        let first = buf.len().min(self.size as usize - pos);
        let (a, b) = buf.split_at(first);
        data.write_bytes(self.data + pos, a);
        if !b.is_empty() {
            data.write_bytes(self.data, b);
        }
    }
}

/// Validated snapshot of a ring's indexes.
#[derive(Clone, Copy)]
struct Indexes {
    prod: u32,
    cons: u32,
    used: u32,
}

/// The producing end of a [`ByteRing`]: writes data and publishes `prod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Producer {
    ring: ByteRing,
}

impl Producer {
    /// The ring this end belongs to.
    pub const fn ring(&self) -> ByteRing {
        self.ring
    }

    /// Free bytes in the ring.
    pub fn space<I: SharedMem + ?Sized>(&self, idx: &I) -> Result<u32, RingError> {
        let ix = self.ring.indexes(idx, false)?;
        Ok(self.ring.size - ix.used)
    }

    /// Writes as much of `src` as fits and publishes it; returns the number of
    /// bytes written (0 if the ring is full). The caller notifies the peer if
    /// the result is non-zero.
    pub fn write<M: SharedMem + ?Sized>(&self, mem: &M, src: &[u8]) -> Result<usize, RingError> {
        self.write_split(mem, mem, src)
    }

    /// [`write`](Self::write) for a ring whose indexes are in `idx` and whose
    /// data area is in `data`.
    pub fn write_split<I, D>(&self, idx: &I, data: &D, src: &[u8]) -> Result<usize, RingError>
    where
        I: SharedMem + ?Sized,
        D: SharedMem + ?Sized,
    {
        let ix = self.ring.indexes(idx, false)?;
        // mb: the consumer's index is read before we overwrite data it freed.
        fence(Ordering::SeqCst);
        let n = src.len().min((self.ring.size - ix.used) as usize);
        if n == 0 {
            return Ok(0);
        }
        self.ring.copy_in(data, ix.prod, &src[..n]);
        // wmb: data is visible before the new producer index.
        fence(Ordering::Release);
        idx.store_u32(self.ring.prod, ix.prod.wrapping_add(n as u32));
        Ok(n)
    }
}

/// What one read of a [`Consumer`] took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Bytes read and consumed.
    pub n: usize,
    /// Bytes that were queued when the read looked.
    pub queued: u32,
    /// `cons` before the read.
    pub cons: u32,
}

/// The consuming end of a [`ByteRing`]: reads data and publishes `cons`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Consumer {
    ring: ByteRing,
}

impl Consumer {
    /// The ring this end belongs to.
    pub const fn ring(&self) -> ByteRing {
        self.ring
    }

    /// Bytes queued and ready to read.
    pub fn available<I: SharedMem + ?Sized>(&self, idx: &I) -> Result<u32, RingError> {
        Ok(self.ring.indexes(idx, true)?.used)
    }

    /// Reads as many bytes as are available into `dst` and consumes them;
    /// returns the number read (0 if the ring is empty). The caller notifies
    /// the peer if the result is non-zero and the protocol wants it.
    pub fn read<M: SharedMem + ?Sized>(&self, mem: &M, dst: &mut [u8]) -> Result<usize, RingError> {
        self.read_split(mem, mem, dst)
    }

    /// [`read`](Self::read) for a ring whose indexes are in `idx` and whose
    /// data area is in `data`.
    pub fn read_split<I, D>(&self, idx: &I, data: &D, dst: &mut [u8]) -> Result<usize, RingError>
    where
        I: SharedMem + ?Sized,
        D: SharedMem + ?Sized,
    {
        Ok(self.read_split_counted(idx, data, dst)?.n)
    }

    /// [`read_split`](Self::read_split), saying also what was queued and
    /// where `cons` stood before the read, for [`full_since`](Self::full_since).
    pub fn read_split_counted<I, D>(
        &self,
        idx: &I,
        data: &D,
        dst: &mut [u8],
    ) -> Result<Taken, RingError>
    where
        I: SharedMem + ?Sized,
        D: SharedMem + ?Sized,
    {
        let (ix, n) = self.copy(idx, data, dst)?;
        if n > 0 {
            // mb: data is read before the slots are handed back to the producer.
            fence(Ordering::SeqCst);
            idx.store_u32(self.ring.cons, ix.cons.wrapping_add(n as u32));
        }
        Ok(Taken { n, queued: ix.used, cons: ix.cons })
    }

    /// For a producer that stops when it finds the ring full and goes on
    /// only when notified: whether it may have found the ring full relative
    /// to `cons` or a later value of ours, so that it is owed the
    /// notification. Fences after our published `cons`, then loads `prod`:
    /// a producer that fences between publishing `prod` and loading `cons`
    /// either saw our new `cons` or is seen here. A notification the
    /// producer did not need is possible.
    pub fn full_since<I: SharedMem + ?Sized>(&self, idx: &I, cons: u32) -> bool {
        fence(Ordering::SeqCst);
        idx.load_u32(self.ring.prod).wrapping_sub(cons) >= self.ring.size
    }

    /// Copies up to `dst.len()` available bytes without consuming them.
    pub fn peek<M: SharedMem + ?Sized>(&self, mem: &M, dst: &mut [u8]) -> Result<usize, RingError> {
        self.peek_split(mem, mem, dst)
    }

    /// [`peek`](Self::peek) with indexes and data in different regions.
    pub fn peek_split<I, D>(&self, idx: &I, data: &D, dst: &mut [u8]) -> Result<usize, RingError>
    where
        I: SharedMem + ?Sized,
        D: SharedMem + ?Sized,
    {
        Ok(self.copy(idx, data, dst)?.1)
    }

    fn copy<I, D>(&self, idx: &I, data: &D, dst: &mut [u8]) -> Result<(Indexes, usize), RingError>
    where
        I: SharedMem + ?Sized,
        D: SharedMem + ?Sized,
    {
        let ix = self.ring.indexes(idx, true)?;
        // rmb: data is read after the producer index that covers it.
        fence(Ordering::Acquire);
        let n = dst.len().min(ix.used as usize);
        self.ring.copy_out(data, ix.cons, &mut dst[..n]);
        Ok((ix, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostMem;

    // The console page layout (io/console.h): out ring at 1024, 2048 bytes.
    const OUT: ByteRing = ByteRing::new(1024, 2048, 3084, 3080);

    #[test]
    fn flex_sizes() {
        assert_eq!(flex_ring_size(1), 4096);
        assert_eq!(flex_ring_size(4), 32 * 1024);
    }

    #[test]
    fn write_then_read_round_trip() {
        let m = HostMem::pages(1);
        let (p, c) = (OUT.producer(), OUT.consumer());
        assert_eq!(p.space(&m), Ok(2048));
        assert_eq!(p.write(&m, b"hello"), Ok(5));
        assert_eq!(c.available(&m), Ok(5));
        assert_eq!(m.load_u32(3084), 5);
        let mut buf = [0u8; 16];
        assert_eq!(c.peek(&m, &mut buf[..2]), Ok(2));
        assert_eq!(&buf[..2], b"he");
        assert_eq!(c.read(&m, &mut buf), Ok(5));
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(m.load_u32(3080), 5);
        assert_eq!(c.read(&m, &mut buf), Ok(0));
    }

    #[test]
    fn full_ring_accepts_nothing_and_wraps() {
        let m = HostMem::pages(1);
        let (p, c) = (OUT.producer(), OUT.consumer());
        // Start near the u32 wrap to exercise free-running indexes.
        m.store_u32(3084, u32::MAX - 10);
        m.store_u32(3080, u32::MAX - 10);
        let big = [7u8; 3000];
        assert_eq!(p.write(&m, &big), Ok(2048));
        assert_eq!(p.space(&m), Ok(0));
        assert_eq!(p.write(&m, b"x"), Ok(0));
        let mut out = [0u8; 100];
        assert_eq!(c.read(&m, &mut out), Ok(100));
        assert_eq!(p.write(&m, &[9u8; 200]), Ok(100));
        let mut rest = [0u8; 4096];
        assert_eq!(c.read(&m, &mut rest), Ok(2048));
        assert!(rest[..1948].iter().all(|&b| b == 7));
        assert!(rest[1948..2048].iter().all(|&b| b == 9));
    }

    #[test]
    fn a_producer_that_filled_the_ring_while_we_read_is_seen() {
        let m = HostMem::pages(1);
        let (p, c) = (OUT.producer(), OUT.consumer());
        let mut buf = [0u8; 4096];
        // Half full before and after: nothing owed.
        assert_eq!(p.write(&m, &[1u8; 1024]), Ok(1024));
        let t = c.read_split_counted(&m, &m, &mut buf[..10]).unwrap();
        assert_eq!(t, Taken { n: 10, queued: 1024, cons: 0 });
        assert!(!c.full_since(&m, t.cons));
        // Full when read.
        assert_eq!(p.write(&m, &[2u8; 2048]), Ok(1034));
        let t = c.read_split_counted(&m, &m, &mut buf[..10]).unwrap();
        assert_eq!((t.n, t.queued), (10, 2048));
        assert!(c.full_since(&m, t.cons));
        // Filled after this read took its indexes (the producer saw the old
        // `cons`): a producer that copies between our loads and our store.
        struct FillsOnStore<'a>(&'a HostMem, core::cell::Cell<bool>);
        impl SharedMem for FillsOnStore<'_> {
            fn size(&self) -> usize {
                self.0.size()
            }
            fn load_u32(&self, off: usize) -> u32 {
                self.0.load_u32(off)
            }
            fn store_u32(&self, off: usize, val: u32) {
                if off == 3080 && !self.1.replace(true) {
                    let _ = OUT.producer().write(self.0, &[3u8; 2048]);
                }
                self.0.store_u32(off, val);
            }
            fn read_bytes(&self, off: usize, dst: &mut [u8]) {
                self.0.read_bytes(off, dst)
            }
            fn write_bytes(&self, off: usize, src: &[u8]) {
                self.0.write_bytes(off, src)
            }
        }
        assert_eq!(c.read(&m, &mut buf), Ok(2038));
        assert_eq!(p.write(&m, &[4u8; 100]), Ok(100));
        let racing = FillsOnStore(&m, core::cell::Cell::new(false));
        let t = c.read_split_counted(&racing, &m, &mut buf).unwrap();
        assert_eq!((t.n, t.queued), (100, 100), "the read saw a ring that was not full");
        assert!(c.full_since(&m, t.cons), "the producer's fill is seen after the read");
        // Nothing read.
        let empty = HostMem::pages(1);
        assert_eq!(
            c.read_split_counted(&empty, &empty, &mut buf),
            Ok(Taken { n: 0, queued: 0, cons: 0 })
        );
    }

    #[test]
    fn corrupt_indexes_are_errors() {
        let m = HostMem::pages(1);
        m.store_u32(3084, 5000);
        m.store_u32(3080, 0);
        let err = Err(RingError::Corrupt { prod: 5000, cons: 0 });
        assert_eq!(OUT.consumer().available(&m), err);
        assert_eq!(OUT.consumer().read(&m, &mut [0; 8]), err.map(|_| 0));
        assert_eq!(OUT.producer().write(&m, b"x"), err.map(|_| 0));
        // cons ahead of prod is just as impossible.
        m.store_u32(3084, 0);
        m.store_u32(3080, 1);
        assert!(OUT.producer().space(&m).is_err());
    }

    #[test]
    fn split_indexes_and_data() {
        // PV Calls: indexes page (in_cons 0, in_prod 4) + data area of order 1.
        let idx = HostMem::pages(1);
        let data = HostMem::pages(2);
        let ring = ByteRing::new(0, flex_ring_size(1), 4, 0);
        assert!(ring.fits(idx.size(), data.size()));
        assert_eq!(ring.producer().write_split(&idx, &data, b"abc"), Ok(3));
        assert_eq!(idx.load_u32(4), 3);
        let mut b = [0u8; 3];
        assert_eq!(ring.consumer().read_split(&idx, &data, &mut b), Ok(3));
        assert_eq!(&b, b"abc");
        assert_eq!(idx.load_u32(0), 3);
    }
}
