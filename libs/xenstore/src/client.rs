//! Sans-IO xenstore client: queues requests, moves bytes over the shared page, matches replies.
//!
//! The client owns no memory mapping and does no waiting. The caller (the
//! kernel, or [`Xenstore`](crate::Xenstore)) drives it:
//!
//! 1. [`start`](Client::start) queues a request and returns its [`ReqId`];
//! 2. [`flush`](Client::flush) copies queued bytes into the request ring and
//!    says whether to notify xenstored;
//! 3. when the event channel fires, [`receive`](Client::receive) reads the
//!    response ring (at most [`RECEIVE_BUDGET`] bytes a call, so a server
//!    that keeps producing cannot hold the caller), reassembles messages
//!    and files them: replies by `req_id`, watch events by token;
//! 4. [`take_reply`](Client::take_reply) / [`take_watch_event`](Client::take_watch_event)
//!    hand them out.
//!
//! Everything read from the page is validated. A broken stream (corrupt ring
//! indexes, a header announcing more than 4096 bytes, an unknown message
//! type, a server-reported connection error) makes the client fail for good:
//! outstanding and future requests get [`XsError::Protocol`]. Replies nobody
//! waits for and malformed watch events are dropped and counted.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use skiff_ring::{ByteRing, Consumer, Producer, SharedMem};
use skiff_xen::xs_wire::{XENSTORE_RING_SIZE, XENSTORE_SERVER_FEATURE_ERROR, intf};

use crate::frame::Framer;
use crate::watch::Watches;
use crate::wire::{self, Header, MsgType};
use crate::{ProtocolError, WatchEvent, XsError};

/// Most response bytes one [`Client::receive`] reads: four times the ring,
/// enough for the largest message (4096 + 16 bytes) in one call.
pub const RECEIVE_BUDGET: usize = 4 * XENSTORE_RING_SIZE;

/// What one [`Client::receive`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Bytes were consumed: xenstored may be waiting for the room.
    pub consumed: bool,
    /// The budget ran out with bytes still in the ring: call again before
    /// waiting (no new event will announce them).
    pub more: bool,
}

/// The request ring of the xenstore page (guest → xenstored).
pub const REQ_RING: ByteRing =
    ByteRing::new(intf::REQ, XENSTORE_RING_SIZE as u32, intf::REQ_PROD, intf::REQ_CONS);
/// The response ring of the xenstore page (xenstored → guest).
pub const RSP_RING: ByteRing =
    ByteRing::new(intf::RSP, XENSTORE_RING_SIZE as u32, intf::RSP_PROD, intf::RSP_CONS);

/// Identifier of an outstanding request (the header's `req_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReqId(pub u32);

/// The xenstore client state machine. See the module documentation.
#[derive(Debug)]
pub struct Client {
    req: Producer,
    rsp: Consumer,
    tx: VecDeque<u8>,
    framer: Framer,
    next_req_id: u32,
    /// Outstanding requests: req_id → request type.
    pending: BTreeMap<u32, MsgType>,
    replies: BTreeMap<u32, Result<Vec<u8>, XsError>>,
    watches: Watches,
    dropped: u64,
    failed: Option<ProtocolError>,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client for the standard xenstore page layout (`xs_wire.h`).
    pub fn new() -> Self {
        Client {
            req: REQ_RING.producer(),
            rsp: RSP_RING.consumer(),
            tx: VecDeque::new(),
            framer: Framer::new(),
            next_req_id: 1,
            pending: BTreeMap::new(),
            replies: BTreeMap::new(),
            watches: Watches::default(),
            dropped: 0,
            failed: None,
        }
    }

    /// Queues a request of type `msg_type` in transaction `tx_id` (0 for
    /// none) whose payload is the concatenation of `parts` (the caller adds
    /// the NUL terminators the message syntax wants).
    ///
    /// Fails with [`XsError::RequestTooLarge`] above 4096 payload bytes,
    /// [`XsError::Inval`] for types only xenstored sends, and
    /// [`XsError::Protocol`] once the connection has failed.
    pub fn start(
        &mut self,
        tx_id: u32,
        msg_type: MsgType,
        parts: &[&[u8]],
    ) -> Result<ReqId, XsError> {
        if let Some(e) = self.failed {
            return Err(XsError::Protocol(e));
        }
        if msg_type.is_server_only() {
            return Err(XsError::Inval);
        }
        let id = self.alloc_req_id();
        let bytes = wire::encode_message(msg_type, id, tx_id, parts)?;
        self.tx.extend(bytes);
        self.pending.insert(id, msg_type);
        Ok(ReqId(id))
    }

    /// Unique among outstanding requests and unclaimed replies; never 0
    /// (the `req_id` of watch events).
    fn alloc_req_id(&mut self) -> u32 {
        loop {
            let id = self.next_req_id;
            self.next_req_id = id.wrapping_add(1);
            if id != 0 && !self.pending.contains_key(&id) && !self.replies.contains_key(&id) {
                return id;
            }
        }
    }

    /// Copies as many queued request bytes as fit into the request ring.
    /// Returns whether xenstored must be notified (something was written).
    /// A corrupt ring fails the connection (reported by
    /// [`receive`](Self::receive) and [`take_reply`](Self::take_reply)).
    pub fn flush<M: SharedMem + ?Sized>(&mut self, mem: &M) -> bool {
        if self.failed.is_some() {
            return false;
        }
        let mut wrote = false;
        while !self.tx.is_empty() {
            let (a, _) = self.tx.as_slices();
            match self.req.write(mem, a) {
                Ok(0) => break,
                Ok(n) => {
                    self.tx.drain(..n);
                    wrote = true;
                }
                Err(e) => {
                    self.fail(e.into());
                    break;
                }
            }
        }
        wrote
    }

    /// Whether request bytes are still waiting for room in the ring.
    pub fn has_unflushed(&self) -> bool {
        !self.tx.is_empty()
    }

    /// Reads the response ring (up to [`RECEIVE_BUDGET`] bytes),
    /// reassembling and filing complete messages.
    pub fn receive<M: SharedMem + ?Sized>(&mut self, mem: &M) -> Result<Received, XsError> {
        if let Some(e) = self.failed {
            return Err(XsError::Protocol(e));
        }
        if mem.load_u32(intf::SERVER_FEATURES) & XENSTORE_SERVER_FEATURE_ERROR != 0 {
            let code = mem.load_u32(intf::ERROR);
            if code != 0 {
                return Err(XsError::Protocol(self.fail(ProtocolError::Server(code))));
            }
        }
        let mut got = Received::default();
        let mut budget = RECEIVE_BUDGET;
        let mut buf = [0u8; XENSTORE_RING_SIZE];
        loop {
            if budget == 0 {
                got.more = matches!(self.rsp.available(mem), Ok(n) if n > 0);
                break;
            }
            let want = budget.min(buf.len());
            let n = match self.rsp.read(mem, &mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => return Err(XsError::Protocol(self.fail(e.into()))),
            };
            budget -= n;
            got.consumed = true;
            let mut input = &buf[..n];
            while !input.is_empty() {
                match self.framer.feed(&mut input) {
                    Ok(Some((h, body))) => {
                        if let Err(e) = self.deliver(h, body) {
                            return Err(XsError::Protocol(self.fail(e)));
                        }
                    }
                    Ok(None) => {}
                    Err(e) => return Err(XsError::Protocol(self.fail(e))),
                }
            }
        }
        Ok(got)
    }

    /// Files one complete message from xenstored.
    fn deliver(&mut self, h: Header, body: Vec<u8>) -> Result<(), ProtocolError> {
        let ty = h.known_type()?;
        if ty == MsgType::WatchEvent {
            match WatchEvent::parse(&body) {
                Ok(ev) => self.watches.route(ev),
                Err(_) => self.dropped += 1,
            }
            return Ok(());
        }
        let Some(request) = self.pending.remove(&h.req_id) else {
            self.dropped += 1;
            return Ok(());
        };
        let reply = if ty == MsgType::Error {
            Err(wire::error_from_payload(&body))
        } else if ty == request {
            Ok(body)
        } else {
            Err(XsError::Protocol(ProtocolError::UnexpectedType {
                request: request.as_u32(),
                reply: ty.as_u32(),
            }))
        };
        self.replies.insert(h.req_id, reply);
        Ok(())
    }

    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        *self.failed.get_or_insert(e)
    }

    /// The reply to `id` once it has arrived: its payload, or the error
    /// xenstored (or the failed connection) returned. `None` while waiting
    /// or if `id` is unknown.
    pub fn take_reply(&mut self, id: ReqId) -> Option<Result<Vec<u8>, XsError>> {
        if let Some(r) = self.replies.remove(&id.0) {
            return Some(r);
        }
        match self.failed {
            Some(e) if self.pending.remove(&id.0).is_some() => Some(Err(XsError::Protocol(e))),
            _ => None,
        }
    }

    /// Stops waiting for `id`: its reply, if it comes, is dropped.
    pub fn forget(&mut self, id: ReqId) {
        self.pending.remove(&id.0);
        self.replies.remove(&id.0);
    }

    /// Gives watch token `token` a queue, before its `XS_WATCH` goes out
    /// (xenstored fires a watch at once). Registered as often as watched.
    pub fn register_watch(&mut self, token: &str) {
        self.watches.register(token);
    }

    /// Undoes one [`register_watch`](Self::register_watch); the queue goes
    /// with the last.
    pub fn unregister_watch(&mut self, token: &str) {
        self.watches.unregister(token);
    }

    /// The oldest queued event of the watches registered with `token`.
    pub fn take_watch_event(&mut self, token: &str) -> Option<WatchEvent> {
        self.watches.take(token)
    }

    /// Whether events for `token` are queued.
    pub fn has_watch_events(&self, token: &str) -> bool {
        self.watches.has(token)
    }

    /// Watch events lost because their queue was full.
    pub fn watch_overflows(&self) -> u64 {
        self.watches.overflowed()
    }

    /// Messages dropped: replies to unknown or forgotten requests, malformed
    /// watch events, and events for tokens nobody registered.
    pub fn dropped(&self) -> u64 {
        self.dropped + self.watches.unrouted()
    }

    /// Requests sent or queued whose reply has not arrived.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// Why the connection failed, if it did.
    pub fn failure(&self) -> Option<ProtocolError> {
        self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_ring::HostMem;

    #[test]
    fn req_ids_wrap_skip_zero_and_stay_unique() {
        let mut c = Client::new();
        c.next_req_id = u32::MAX - 1;
        let a = c.start(0, MsgType::Read, &[b"a\0"]).unwrap();
        let b = c.start(0, MsgType::Read, &[b"b\0"]).unwrap();
        let d = c.start(0, MsgType::Read, &[b"c\0"]).unwrap();
        assert_eq!((a.0, b.0, d.0), (u32::MAX - 1, u32::MAX, 1));
        // Outstanding ids are skipped after a full wrap.
        c.next_req_id = u32::MAX;
        assert_eq!(c.start(0, MsgType::Read, &[b"d\0"]).unwrap().0, 2);
    }

    #[test]
    fn server_only_types_and_oversize_are_refused() {
        let mut c = Client::new();
        assert_eq!(c.start(0, MsgType::Error, &[]), Err(XsError::Inval));
        assert_eq!(c.start(0, MsgType::WatchEvent, &[]), Err(XsError::Inval));
        let big = [b'x'; 4097];
        assert_eq!(c.start(0, MsgType::Write, &[&big]), Err(XsError::RequestTooLarge));
        assert_eq!(c.outstanding(), 0);
        assert!(!c.flush(&HostMem::pages(1)));
    }

    #[test]
    fn flush_streams_large_requests_through_the_ring() {
        let mem = HostMem::pages(1);
        let mut c = Client::new();
        let value = [b'v'; 3000];
        c.start(0, MsgType::Write, &[b"p\0", &value]).unwrap();
        assert!(c.flush(&mem));
        assert!(c.has_unflushed());
        assert_eq!(REQ_RING.consumer().available(&mem), Ok(1024));
        assert!(!c.flush(&mem), "ring full: nothing written, no notification");
        let mut sink = [0u8; 1024];
        REQ_RING.consumer().read(&mem, &mut sink).unwrap();
        assert!(c.flush(&mem));
    }
}
