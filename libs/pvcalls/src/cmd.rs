//! Command ring client: req_id allocation, submission with the ring.h notify rule, validated out-of-order completions.
//!
//! Sans-IO over the [`SharedMem`] of the command-ring page. `req_id`s are
//! 0..32 and come from a free list, so they are unique among outstanding
//! requests even when responses come back out of order (ACCEPT and POLL are
//! answered whenever a connection arrives). Every response is validated:
//! a `req_id` out of range or not outstanding, or a `cmd`/`id` different
//! from what was sent, is dropped and counted; impossible ring indexes make
//! the client fail for good (the caller treats the backend as gone).

use skiff_ring::{FrontRing, RingError, RingLayout, SharedMem};
use skiff_xen::pvcalls::{CMD_RING_ENTRIES, ENTRY_SIZE, rsp};

use crate::Errno;
use crate::wire::{Request, Response};

/// Geometry of the one-page command ring: 32 entries of 64 bytes.
pub const CMD_LAYOUT: RingLayout = RingLayout::new(4096, ENTRY_SIZE);

const _: () = assert!(CMD_LAYOUT.size() == CMD_RING_ENTRIES);

/// Number of `req_id`s (= ring slots).
pub const NR_REQ_IDS: usize = CMD_RING_ENTRIES as usize;

/// A request's cookie, `0..32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReqId(pub u32);

/// Why a request could not be submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// Every slot is in use: wait for a response and try again.
    Full,
    /// The ring is unusable (corrupt indexes seen earlier).
    Failed,
}

/// A validated response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The request's cookie (now free again).
    pub req_id: ReqId,
    /// The request that was sent.
    pub req: Request,
    /// The raw `ret`.
    pub ret: i32,
}

impl Completion {
    /// `ret` mapped to a result ([`Errno::from_backend`]).
    pub fn result(&self) -> Result<(), Errno> {
        Errno::from_backend(self.ret)
    }
}

/// Counters of responses that failed validation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CmdStats {
    /// `req_id >= 32`.
    pub bad_req_id: u64,
    /// `req_id` not outstanding (duplicate or unsolicited).
    pub unexpected: u64,
    /// `cmd` or `id` different from the request's.
    pub mismatched: u64,
}

/// The command-ring client. See the module documentation.
#[derive(Debug)]
pub struct CmdClient {
    front: FrontRing,
    outstanding: [Option<Request>; NR_REQ_IDS],
    free: u32,
    stats: CmdStats,
    failed: Option<RingError>,
}

impl CmdClient {
    /// Initialises the shared ring in `mem` (`SHARED_RING_INIT`) and returns
    /// a client with every `req_id` free.
    pub fn init<M: SharedMem + ?Sized>(mem: &M) -> Self {
        Self::init_at(mem, 0)
    }

    /// Like [`init`](Self::init), but with every index at `start` instead
    /// of 0 (`req_event`/`rsp_event` at `start + 1`): for tests that run
    /// the ring across the 32-bit wrap. A backend must attach at the index
    /// it finds in the page.
    pub fn init_at<M: SharedMem + ?Sized>(mem: &M, start: u32) -> Self {
        CmdClient {
            front: FrontRing::init_at(CMD_LAYOUT, mem, start),
            outstanding: [None; NR_REQ_IDS],
            free: u32::MAX,
            stats: CmdStats::default(),
            failed: None,
        }
    }

    /// Whether a request can be submitted now.
    pub fn has_room(&self) -> bool {
        self.failed.is_none() && self.free != 0 && !self.front.is_full()
    }

    /// Free slots (min of free `req_id`s and free ring entries).
    pub fn free_slots(&self) -> usize {
        (self.free.count_ones() as usize).min(self.front.free_requests() as usize)
    }

    /// Requests sent whose response has not arrived.
    pub fn outstanding(&self) -> usize {
        NR_REQ_IDS - self.free.count_ones() as usize
    }

    /// Forgets every outstanding request: the ring is gone and no response
    /// will come. Frees every `req_id`.
    pub fn abandon_all(&mut self) {
        self.outstanding = [None; NR_REQ_IDS];
        self.free = u32::MAX;
    }

    /// Every outstanding request with its `req_id`, in `req_id` order.
    pub fn outstanding_requests(&self) -> impl Iterator<Item = (ReqId, &Request)> + '_ {
        self.outstanding
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (ReqId(i as u32), r)))
    }

    /// The request outstanding under `req_id`, if any.
    pub fn pending(&self, req_id: ReqId) -> Option<&Request> {
        self.outstanding.get(req_id.0 as usize)?.as_ref()
    }

    /// Validation counters.
    pub fn stats(&self) -> CmdStats {
        self.stats
    }

    /// Why the ring failed, if it did.
    pub fn failure(&self) -> Option<RingError> {
        self.failed
    }

    /// Writes `req` into the next slot with a fresh `req_id`, without
    /// publishing it (see [`push`](Self::push)).
    pub fn submit<M: SharedMem + ?Sized>(
        &mut self,
        mem: &M,
        req: &Request,
    ) -> Result<ReqId, SubmitError> {
        if self.failed.is_some() {
            return Err(SubmitError::Failed);
        }
        if !self.has_room() {
            return Err(SubmitError::Full);
        }
        let id = self.free.trailing_zeros();
        let entry = req.encode(id);
        match self.front.push_request(mem, &entry) {
            Ok(_) => {}
            Err(RingError::Full) => return Err(SubmitError::Full),
            Err(e) => {
                self.failed = Some(e);
                return Err(SubmitError::Failed);
            }
        }
        self.free &= !(1 << id);
        self.outstanding[id as usize] = Some(*req);
        Ok(ReqId(id))
    }

    /// Publishes submitted requests (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`);
    /// returns whether the backend must be notified.
    pub fn push<M: SharedMem + ?Sized>(&mut self, mem: &M) -> bool {
        if self.failed.is_some() {
            return false;
        }
        self.front.push_requests_and_check_notify(mem)
    }

    /// The next valid response, or `None` when there is none (after
    /// re-arming `rsp_event`, `RING_FINAL_CHECK_FOR_RESPONSES`). Invalid
    /// responses are consumed, counted and skipped. Fails for good on
    /// corrupt ring indexes.
    pub fn poll<M: SharedMem + ?Sized>(
        &mut self,
        mem: &M,
    ) -> Result<Option<Completion>, RingError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        loop {
            let mut entry = [0u8; rsp::SIZE];
            let got = match self.front.take_response(mem, &mut entry) {
                Ok(true) => true,
                Ok(false) => match self.front.final_check_for_responses(mem) {
                    Ok(true) => continue,
                    Ok(false) => false,
                    Err(e) => return Err(self.fail(e)),
                },
                Err(e) => return Err(self.fail(e)),
            };
            if !got {
                return Ok(None);
            }
            if let Some(c) = self.validate(Response::decode(&entry)) {
                return Ok(Some(c));
            }
        }
    }

    fn fail(&mut self, e: RingError) -> RingError {
        *self.failed.get_or_insert(e)
    }

    fn validate(&mut self, r: Response) -> Option<Completion> {
        let Some(slot) = self.outstanding.get_mut(r.req_id as usize) else {
            self.stats.bad_req_id += 1;
            return None;
        };
        let Some(req) = *slot else {
            self.stats.unexpected += 1;
            return None;
        };
        if req.cmd() != r.cmd || req.id() != r.id {
            self.stats.mismatched += 1;
            return None;
        }
        *slot = None;
        self.free |= 1 << r.req_id;
        Some(Completion { req_id: ReqId(r.req_id), req, ret: r.ret })
    }
}
