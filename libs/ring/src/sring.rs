//! Request/response rings: ring.h `DEFINE_RING_TYPES` (front and back rings).
//!
//! The shared ring ("sring") is a 64-byte header followed by `size` entries
//! of `entry_size` bytes (the union of the request and response structs):
//!
//! | offset | field |
//! |---|---|
//! | 0 / 4 | `req_prod` / `req_event` |
//! | 8 / 12 | `rsp_prod` / `rsp_event` |
//! | 16 | `pvt` (4 bytes), then `__pad[44]` |
//! | 64 | `ring[]` |
//!
//! `size` is `__RD32((region - 64) / entry_size)`: as many entries as fit,
//! rounded down to a power of two. The front end produces requests and
//! consumes responses ([`FrontRing`]); the back end does the opposite
//! ([`BackRing`]). Each keeps its private index pair (`req_prod_pvt`,
//! `rsp_cons` / `rsp_prod_pvt`, `req_cons`) and reads the peer's producer
//! index once per operation, validating it against its own indexes.

use core::sync::atomic::{Ordering, fence};

use crate::{RingError, SharedMem};

/// Offsets of the shared ring header fields.
pub mod hdr {
    /// `req_prod`.
    pub const REQ_PROD: usize = 0;
    /// `req_event`.
    pub const REQ_EVENT: usize = 4;
    /// `rsp_prod`.
    pub const RSP_PROD: usize = 8;
    /// `rsp_event`.
    pub const RSP_EVENT: usize = 12;
    /// `pvt` union (4 bytes) followed by `__pad[44]`.
    pub const PVT: usize = 16;
    /// `ring[]`: the first entry.
    pub const RING: usize = 64;
}

/// `__RD32(x)`: rounds `x` down to a power of two (0 stays 0).
pub const fn rd32(x: u32) -> u32 {
    if x == 0 { 0 } else { 1 << (31 - x.leading_zeros()) }
}

/// Geometry of a shared ring: entry size and number of entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RingLayout {
    entry_size: usize,
    nr_ents: u32,
}

impl RingLayout {
    /// The layout of a ring occupying `region` bytes with entries of
    /// `entry_size` bytes (`__CONST_RING_SIZE`). PV Calls: `new(4096, 64)`
    /// has 32 entries.
    ///
    /// # Panics
    ///
    /// If `entry_size` is zero or not a multiple of 4, or not even one entry
    /// fits: these are constants of the caller's protocol.
    pub const fn new(region: usize, entry_size: usize) -> Self {
        assert!(entry_size > 0 && entry_size.is_multiple_of(4), "bad ring entry size");
        assert!(region >= hdr::RING + entry_size, "ring region too small");
        let fit = (region - hdr::RING) / entry_size;
        let fit = if fit > u32::MAX as usize { u32::MAX } else { fit as u32 };
        RingLayout { entry_size, nr_ents: rd32(fit) }
    }

    /// `RING_SIZE`: number of entries (a power of two).
    pub const fn size(&self) -> u32 {
        self.nr_ents
    }

    /// Bytes per entry.
    pub const fn entry_size(&self) -> usize {
        self.entry_size
    }

    /// Bytes of shared memory the ring uses (header + entries).
    pub const fn bytes(&self) -> usize {
        hdr::RING + self.nr_ents as usize * self.entry_size
    }

    /// Offset of the entry for free-running index `idx`.
    pub const fn entry_offset(&self, idx: u32) -> usize {
        hdr::RING + (idx & (self.nr_ents - 1)) as usize * self.entry_size
    }

    fn write_entry<M: SharedMem + ?Sized>(&self, mem: &M, idx: u32, src: &[u8]) {
        let off = self.entry_offset(idx);
        mem.write_bytes(off, src);
        // Zero the tail so a short entry never carries stale bytes.
        let mut rest = self.entry_size - src.len();
        let zeros = [0u8; 64];
        let mut at = off + src.len();
        while rest > 0 {
            let n = rest.min(zeros.len());
            mem.write_bytes(at, &zeros[..n]);
            at += n;
            rest -= n;
        }
    }

    fn read_entry<M: SharedMem + ?Sized>(&self, mem: &M, idx: u32, dst: &mut [u8]) {
        let n = dst.len().min(self.entry_size);
        mem.read_bytes(self.entry_offset(idx), &mut dst[..n]);
    }
}

/// Notification hold-off test of `RING_PUSH_*_AND_CHECK_NOTIFY`.
fn needs_notify(new: u32, old: u32, event: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

/// The front end of a shared ring: pushes requests, consumes responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrontRing {
    layout: RingLayout,
    req_prod_pvt: u32,
    rsp_cons: u32,
}

impl FrontRing {
    /// `XEN_FRONT_RING_INIT`: initialises the shared header
    /// (`SHARED_RING_INIT`: producers 0, events 1, padding zeroed) and
    /// returns a front ring starting at index 0.
    pub fn init<M: SharedMem + ?Sized>(layout: RingLayout, mem: &M) -> Self {
        Self::init_at(layout, mem, 0)
    }

    /// [`init`](Self::init) with the indexes at `start` (and the event
    /// indexes at `start + 1`) instead of 0: the ring as it would be after
    /// `start` requests and responses, for exercising the 32-bit wrap.
    pub fn init_at<M: SharedMem + ?Sized>(layout: RingLayout, mem: &M, start: u32) -> Self {
        mem.store_u32(hdr::REQ_PROD, start);
        mem.store_u32(hdr::RSP_PROD, start);
        mem.store_u32(hdr::REQ_EVENT, start.wrapping_add(1));
        mem.store_u32(hdr::RSP_EVENT, start.wrapping_add(1));
        mem.write_bytes(hdr::PVT, &[0u8; hdr::RING - hdr::PVT]);
        Self::attach(layout, start)
    }

    /// `FRONT_RING_ATTACH`: a front ring over an already initialised shared
    /// ring, with both private indexes at `start`.
    pub const fn attach(layout: RingLayout, start: u32) -> Self {
        FrontRing { layout, req_prod_pvt: start, rsp_cons: start }
    }

    /// The ring's geometry.
    pub const fn layout(&self) -> RingLayout {
        self.layout
    }

    /// `RING_SIZE`.
    pub const fn size(&self) -> u32 {
        self.layout.nr_ents
    }

    /// Private producer index: the index the next request will get.
    pub const fn req_prod_pvt(&self) -> u32 {
        self.req_prod_pvt
    }

    /// Private consumer index: the index of the next response.
    pub const fn rsp_cons(&self) -> u32 {
        self.rsp_cons
    }

    /// `RING_FREE_REQUESTS`: requests that can be pushed before the ring is
    /// full (a slot is free once its response has been consumed).
    pub const fn free_requests(&self) -> u32 {
        self.layout.nr_ents - self.req_prod_pvt.wrapping_sub(self.rsp_cons)
    }

    /// `RING_FULL`.
    pub const fn is_full(&self) -> bool {
        self.free_requests() == 0
    }

    /// Copies `req` into the next request slot (zero-padded to the entry
    /// size) without publishing it; returns its free-running index (Linux
    /// PV Calls uses `index & (size - 1)` as the request id).
    pub fn push_request<M: SharedMem + ?Sized>(
        &mut self,
        mem: &M,
        req: &[u8],
    ) -> Result<u32, RingError> {
        if req.len() > self.layout.entry_size {
            return Err(RingError::EntryTooLarge);
        }
        if self.is_full() {
            return Err(RingError::Full);
        }
        let idx = self.req_prod_pvt;
        self.layout.write_entry(mem, idx, req);
        self.req_prod_pvt = idx.wrapping_add(1);
        Ok(idx)
    }

    /// `RING_PUSH_REQUESTS`: publishes pushed requests without checking
    /// whether the back end wants a notification.
    pub fn push_requests<M: SharedMem + ?Sized>(&self, mem: &M) {
        fence(Ordering::Release);
        mem.store_u32(hdr::REQ_PROD, self.req_prod_pvt);
    }

    /// `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`: publishes pushed requests and
    /// returns whether the back end must be notified.
    pub fn push_requests_and_check_notify<M: SharedMem + ?Sized>(&self, mem: &M) -> bool {
        let old = mem.load_u32(hdr::REQ_PROD);
        let new = self.req_prod_pvt;
        // wmb: requests are visible before the producer index.
        fence(Ordering::Release);
        mem.store_u32(hdr::REQ_PROD, new);
        // mb: the back end sees the new requests before we read req_event.
        fence(Ordering::SeqCst);
        needs_notify(new, old, mem.load_u32(hdr::REQ_EVENT))
    }

    /// `RING_HAS_UNCONSUMED_RESPONSES`, validated: a back end cannot have
    /// produced more responses than there are outstanding requests.
    pub fn unconsumed_responses<M: SharedMem + ?Sized>(&self, mem: &M) -> Result<u32, RingError> {
        let rsp_prod = mem.load_u32(hdr::RSP_PROD);
        let avail = rsp_prod.wrapping_sub(self.rsp_cons);
        // Outstanding requests never exceed the ring size (push_request).
        let outstanding = self.req_prod_pvt.wrapping_sub(self.rsp_cons);
        if avail > outstanding {
            return Err(RingError::Corrupt { prod: rsp_prod, cons: self.rsp_cons });
        }
        Ok(avail)
    }

    /// Copies the next response into `dst` (at most one entry; a shorter
    /// `dst` takes a prefix) and consumes it. Returns `false` if there is no
    /// response.
    pub fn take_response<M: SharedMem + ?Sized>(
        &mut self,
        mem: &M,
        dst: &mut [u8],
    ) -> Result<bool, RingError> {
        if self.unconsumed_responses(mem)? == 0 {
            return Ok(false);
        }
        // rmb: the entry is read after the producer index that covers it.
        fence(Ordering::Acquire);
        self.layout.read_entry(mem, self.rsp_cons, dst);
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        Ok(true)
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`: returns whether responses are
    /// pending; if none, first asks for a notification on the next one
    /// (`rsp_event = rsp_cons + 1`) and checks again, closing the race with a
    /// response produced meanwhile.
    pub fn final_check_for_responses<M: SharedMem + ?Sized>(
        &mut self,
        mem: &M,
    ) -> Result<bool, RingError> {
        if self.unconsumed_responses(mem)? > 0 {
            return Ok(true);
        }
        mem.store_u32(hdr::RSP_EVENT, self.rsp_cons.wrapping_add(1));
        fence(Ordering::SeqCst);
        Ok(self.unconsumed_responses(mem)? > 0)
    }
}

/// The back end of a shared ring: consumes requests, pushes responses.
/// Used by simulated back ends in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackRing {
    layout: RingLayout,
    rsp_prod_pvt: u32,
    req_cons: u32,
}

impl BackRing {
    /// `BACK_RING_INIT`: a back ring at index 0 (only the front end
    /// initialises the shared header).
    pub const fn new(layout: RingLayout) -> Self {
        Self::attach(layout, 0)
    }

    /// `BACK_RING_ATTACH`: both private indexes at `start`.
    pub const fn attach(layout: RingLayout, start: u32) -> Self {
        BackRing { layout, rsp_prod_pvt: start, req_cons: start }
    }

    /// The ring's geometry.
    pub const fn layout(&self) -> RingLayout {
        self.layout
    }

    /// `RING_SIZE`.
    pub const fn size(&self) -> u32 {
        self.layout.nr_ents
    }

    /// Private consumer index: the index of the next request.
    pub const fn req_cons(&self) -> u32 {
        self.req_cons
    }

    /// Private producer index: the index the next response will get.
    pub const fn rsp_prod_pvt(&self) -> u32 {
        self.rsp_prod_pvt
    }

    /// `RING_HAS_UNCONSUMED_REQUESTS`, validated against
    /// `RING_REQUEST_PROD_OVERFLOW` and a producer index moving backwards.
    pub fn unconsumed_requests<M: SharedMem + ?Sized>(&self, mem: &M) -> Result<u32, RingError> {
        let req_prod = mem.load_u32(hdr::REQ_PROD);
        let produced = req_prod.wrapping_sub(self.rsp_prod_pvt);
        let consumed = self.req_cons.wrapping_sub(self.rsp_prod_pvt);
        if produced > self.layout.nr_ents || produced < consumed {
            return Err(RingError::Corrupt { prod: req_prod, cons: self.req_cons });
        }
        Ok(produced - consumed)
    }

    /// Copies the next request into `dst` (at most one entry) and consumes
    /// it. Returns `false` if there is no request.
    pub fn take_request<M: SharedMem + ?Sized>(
        &mut self,
        mem: &M,
        dst: &mut [u8],
    ) -> Result<bool, RingError> {
        if self.unconsumed_requests(mem)? == 0 {
            return Ok(false);
        }
        fence(Ordering::Acquire);
        self.layout.read_entry(mem, self.req_cons, dst);
        self.req_cons = self.req_cons.wrapping_add(1);
        Ok(true)
    }

    /// Copies `rsp` into the next response slot without publishing it;
    /// returns its free-running index. Fails with [`RingError::Full`] if
    /// every consumed request already has its response.
    pub fn push_response<M: SharedMem + ?Sized>(
        &mut self,
        mem: &M,
        rsp: &[u8],
    ) -> Result<u32, RingError> {
        if rsp.len() > self.layout.entry_size {
            return Err(RingError::EntryTooLarge);
        }
        if self.req_cons == self.rsp_prod_pvt {
            return Err(RingError::Full);
        }
        let idx = self.rsp_prod_pvt;
        self.layout.write_entry(mem, idx, rsp);
        self.rsp_prod_pvt = idx.wrapping_add(1);
        Ok(idx)
    }

    /// `RING_PUSH_RESPONSES`.
    pub fn push_responses<M: SharedMem + ?Sized>(&self, mem: &M) {
        fence(Ordering::Release);
        mem.store_u32(hdr::RSP_PROD, self.rsp_prod_pvt);
    }

    /// `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`: publishes pushed responses
    /// and returns whether the front end must be notified.
    pub fn push_responses_and_check_notify<M: SharedMem + ?Sized>(&self, mem: &M) -> bool {
        let old = mem.load_u32(hdr::RSP_PROD);
        let new = self.rsp_prod_pvt;
        fence(Ordering::Release);
        mem.store_u32(hdr::RSP_PROD, new);
        fence(Ordering::SeqCst);
        needs_notify(new, old, mem.load_u32(hdr::RSP_EVENT))
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`.
    pub fn final_check_for_requests<M: SharedMem + ?Sized>(
        &mut self,
        mem: &M,
    ) -> Result<bool, RingError> {
        if self.unconsumed_requests(mem)? > 0 {
            return Ok(true);
        }
        mem.store_u32(hdr::REQ_EVENT, self.req_cons.wrapping_add(1));
        fence(Ordering::SeqCst);
        Ok(self.unconsumed_requests(mem)? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostMem;

    const PVCALLS: RingLayout = RingLayout::new(4096, 64);

    #[test]
    fn rd32_rounds_down() {
        assert_eq!(rd32(0), 0);
        assert_eq!(rd32(1), 1);
        assert_eq!(rd32(63), 32);
        assert_eq!(rd32(64), 64);
        assert_eq!(rd32(u32::MAX), 1 << 31);
    }

    #[test]
    fn layouts() {
        assert_eq!(PVCALLS.size(), 32);
        assert_eq!(PVCALLS.bytes(), 64 + 32 * 64);
        assert_eq!(PVCALLS.entry_offset(33), 128);
        // blkif: 112-byte entries, 32 per page; netif tx: 12 bytes → 256.
        assert_eq!(RingLayout::new(4096, 112).size(), 32);
        assert_eq!(RingLayout::new(4096, 12).size(), 256);
    }

    #[test]
    fn init_writes_header() {
        let m = HostMem::pages(1);
        m.write_bytes(0, &[0xaa; 64]);
        let f = FrontRing::init(PVCALLS, &m);
        assert_eq!(m.load_u32(hdr::REQ_PROD), 0);
        assert_eq!(m.load_u32(hdr::REQ_EVENT), 1);
        assert_eq!(m.load_u32(hdr::RSP_PROD), 0);
        assert_eq!(m.load_u32(hdr::RSP_EVENT), 1);
        assert!(m.to_vec()[16..64].iter().all(|&b| b == 0));
        assert_eq!(f.free_requests(), 32);
    }

    #[test]
    fn request_response_round_trip_and_notify() {
        let m = HostMem::pages(1);
        let mut f = FrontRing::init(PVCALLS, &m);
        let mut b = BackRing::new(PVCALLS);
        assert_eq!(f.push_request(&m, &[1; 64]), Ok(0));
        assert_eq!(f.push_request(&m, &[2; 10]), Ok(1));
        assert_eq!(b.unconsumed_requests(&m), Ok(0), "not yet published");
        // req_event = 1: the first push must notify.
        assert!(f.push_requests_and_check_notify(&m));
        assert_eq!(b.unconsumed_requests(&m), Ok(2));
        let mut e = [0u8; 64];
        assert_eq!(b.take_request(&m, &mut e), Ok(true));
        assert_eq!(e, [1; 64]);
        assert_eq!(b.take_request(&m, &mut e), Ok(true));
        assert_eq!(&e[..10], &[2; 10]);
        assert!(e[10..].iter().all(|&x| x == 0), "short entries are zero-padded");
        assert_eq!(b.final_check_for_requests(&m), Ok(false));
        assert_eq!(m.load_u32(hdr::REQ_EVENT), 3);

        // Back end did not ask again until index 3: pushing #2 notifies,
        // pushing #3 afterwards does not (req_event still 3).
        f.push_request(&m, &[3; 4]).unwrap();
        assert!(f.push_requests_and_check_notify(&m));
        f.push_request(&m, &[4; 4]).unwrap();
        assert!(!f.push_requests_and_check_notify(&m));

        assert_eq!(b.push_response(&m, &[9; 24]), Ok(0));
        assert!(b.push_responses_and_check_notify(&m));
        let mut r = [0u8; 24];
        assert_eq!(f.take_response(&m, &mut r), Ok(true));
        assert_eq!(r, [9; 24]);
        assert_eq!(f.take_response(&m, &mut r), Ok(false));
        assert_eq!(f.final_check_for_responses(&m), Ok(false));
        assert_eq!(m.load_u32(hdr::RSP_EVENT), 2);
    }

    #[test]
    fn full_and_entry_size() {
        let m = HostMem::pages(1);
        let mut f = FrontRing::init(PVCALLS, &m);
        assert_eq!(f.push_request(&m, &[0; 65]), Err(RingError::EntryTooLarge));
        for _ in 0..32 {
            f.push_request(&m, &[0; 8]).unwrap();
        }
        assert!(f.is_full());
        assert_eq!(f.push_request(&m, &[0; 8]), Err(RingError::Full));
        let mut b = BackRing::new(PVCALLS);
        assert_eq!(b.push_response(&m, &[0; 8]), Err(RingError::Full));
    }

    #[test]
    fn hostile_producer_indexes() {
        let m = HostMem::pages(1);
        let mut f = FrontRing::init(PVCALLS, &m);
        f.push_request(&m, &[0; 8]).unwrap();
        f.push_requests(&m);
        // Two responses for one request.
        m.store_u32(hdr::RSP_PROD, 2);
        assert!(matches!(f.take_response(&m, &mut [0; 8]), Err(RingError::Corrupt { .. })));
        // Producer moved backwards.
        m.store_u32(hdr::RSP_PROD, u32::MAX);
        assert!(f.final_check_for_responses(&m).is_err());
        let mut b = BackRing::new(PVCALLS);
        m.store_u32(hdr::REQ_PROD, 33);
        assert!(b.take_request(&m, &mut [0; 8]).is_err());
        m.store_u32(hdr::REQ_PROD, 1);
        assert_eq!(b.take_request(&m, &mut [0; 8]), Ok(true));
        m.store_u32(hdr::REQ_PROD, 0);
        assert!(b.unconsumed_requests(&m).is_err());
    }
}
