//! A simulated `pvcalls-back` (Linux `drivers/xen/pvcalls-back.c` semantics) serving real host TCP sockets.
//!
//! Behaviour reproduced from the Linux backend:
//! - SOCKET only validates (`AF_INET`/`SOCK_STREAM`/protocol 0 or 2, else
//!   `-EAFNOSUPPORT`); nothing is stored.
//! - CONNECT connects *inline* with a blocking connect: no other command is
//!   processed meanwhile; the active socket is keyed by `connect.id`; a
//!   ring that cannot be mapped (bad ref, order > max) gives `-EFAULT`.
//! - BIND creates the passive socket (`-EADDRINUSE` etc. from the host).
//!   Unlike Linux, a host `TcpListener` listens as soon as it is bound.
//! - LISTEN on an unknown id: `-EINVAL`.
//! - ACCEPT is answered only when a connection arrives (optionally
//!   `-EAGAIN` at once, like old kernels); a second ACCEPT or POLL while
//!   one is outstanding gets `-EINTR`; unknown listener `-EINVAL`.
//! - POLL on an unknown id is dropped without a response.
//! - RELEASE always answers 0; releasing a listener abandons its
//!   outstanding ACCEPT/POLL (never answered).
//! - Unknown commands: `-ENOTSUPP` (-524).
//! - Sockets are host TCP sockets, or in-memory peers for addresses the
//!   world's [`MemNet`] routes (see `memnet.rs`).
//! - Data: `in` is refilled from the socket; when it is full, reading
//!   resumes only after the frontend signals the ring's event channel. `out`
//!   is flushed to the socket when the frontend signals (retried while the
//!   socket is full). EOF sets `in_error = -ENOTCONN`, errors set
//!   `in_error`/`out_error`, and the backend notifies after each change.

use std::boxed::Box;
use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use std::vec;
use std::vec::Vec;

use skiff_ring::{BackRing, ByteRing, SharedMem};
use skiff_xen::pvcalls::{self as abi, data_ring_size, intf, req, rsp};

use super::host::{Mapped, SimHost};
use super::memnet::{MemNet, SimSocket};
use crate::Errno;
use crate::cmd::CMD_LAYOUT;
use crate::platform::{DomId, GrantRef, Port};
use crate::wire::{Decoded, Request, Response, decode_request};

/// The backend's own domain id.
pub const BACKEND_DOMID: DomId = 0;

/// Tunables of the simulated backend.
#[derive(Clone, Copy, Debug)]
pub struct BackendConfig {
    /// Largest accepted data-ring order (Linux: 4).
    pub max_ring_order: u32,
    /// Timeout of the inline blocking connect.
    pub connect_timeout: Duration,
    /// Answer ACCEPT with `-EAGAIN` when no connection is queued, like
    /// Linux before the accept rework.
    pub accept_eagain: bool,
    /// Mask a connection's event channel once one of its events found `out`
    /// empty, like Linux 6.1 without the "fix permanently masked event
    /// channel" patch: `pvcalls_conn_back_write` returns before clearing
    /// its `write` flag, so the lateeoi EOI is not sent. Later events stay
    /// pending; the stuck flag makes every socket-driven run of the I/O
    /// worker try `out` again, and the first write that succeeds unmasks
    /// the channel. Until then a full `in` waits for an event that does
    /// not come.
    pub mask_after_empty_event: bool,
    /// Refuse the next ACCEPT or POLL on a listener with `-EINTR` after
    /// answering an ACCEPT, as Linux 6.1 can: `__pvcalls_back_accept`
    /// pushes the response and notifies before it clears its copy of the
    /// request, so a frontend that answers at once can find it still busy.
    pub busy_after_accept: bool,
    /// Report a connection the peer reset only after the frontend's next
    /// event, as Linux does: `pvcalls_sk_state_change` notifies the
    /// frontend but does not run the I/O worker, which reads the socket
    /// (and sets `in_error`) when the frontend's next event runs it. A
    /// failed write still sets `out_error` at once.
    pub reset_needs_event: bool,
    /// Read a socket again only at the frontend's next event (or, on a
    /// socket that reports arrivals, when new data arrives) after a read
    /// that left something in it, data or the end of the stream, as Linux
    /// does without Skiff's `read-on` fix:
    /// `pvcalls_conn_back_read` then marks a read pending but does not run
    /// the I/O worker again. (Needs a socket that can tell,
    /// [`SimSocket::more_queued`]: host TCP.)
    pub read_needs_event: bool,
    /// Stop working through the command ring on reaching a command with
    /// this number, for good, as a hung Linux backend does (its command
    /// thread waits in `flush_work`, see docs/pvcalls-back.md): that
    /// command and every later one go unanswered.
    pub stall_on: Option<u32>,
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            max_ring_order: 4,
            connect_timeout: Duration::from_secs(5),
            accept_eagain: false,
            mask_after_empty_event: false,
            busy_after_accept: false,
            reset_needs_event: false,
            read_needs_event: false,
            stall_on: None,
        }
    }
}

/// What the backend has seen and done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// Requests received, by command number (7 = unknown).
    pub requests: [u64; 8],
    /// Responses sent.
    pub responses: u64,
    /// ACCEPT/POLL refused with `-EINTR` (one already outstanding).
    pub eintr: u64,
    /// POLLs dropped without a response (unknown id).
    pub dropped_polls: u64,
    /// Active sockets now.
    pub active: usize,
    /// Passive sockets now.
    pub passive: usize,
    /// Bytes moved into `in` rings.
    pub bytes_in: u64,
    /// Bytes moved out of `out` rings.
    pub bytes_out: u64,
    /// Times a connection's channel was masked
    /// ([`BackendConfig::mask_after_empty_event`]).
    pub masked_channels: u64,
}

struct CmdConn {
    mem: Mapped,
    ring: BackRing,
    port: Port,
}

struct Active {
    stream: Box<dyn SimSocket>,
    idx: Mapped,
    data: Mapped,
    port: Port,
    size: u32,
    in_blocked: bool,
    out_pending: bool,
    /// Events stay pending ([`BackendConfig::mask_after_empty_event`]).
    masked: bool,
    /// A reset read from the socket, reported at the frontend's next event
    /// ([`BackendConfig::reset_needs_event`]).
    reset: Option<i32>,
}

#[derive(Clone, Copy)]
enum Pending {
    Accept { req_id: u32, id_new: u64, ring_ref: GrantRef, evtchn: Port },
    Poll { req_id: u32 },
}

struct Passive {
    listener: TcpListener,
    queued: VecDeque<TcpStream>,
    pending: Option<Pending>,
    /// An answered ACCEPT still counts as outstanding
    /// ([`BackendConfig::busy_after_accept`]).
    busy: bool,
}

/// The simulated backend for one frontend. Drive it with
/// [`step`](Self::step) (see [`spawn`](super::spawn_backend) for a thread).
pub struct SimBackend {
    host: Arc<SimHost>,
    cfg: BackendConfig,
    cmd: Option<CmdConn>,
    active: HashMap<u64, Active>,
    passive: HashMap<u64, Passive>,
    out: Vec<Response>,
    stats: BackendStats,
    buf: Vec<u8>,
    stalled: bool,
    net: MemNet,
}

impl core::fmt::Debug for SimBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimBackend").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

fn neg_errno(e: &std::io::Error) -> i32 {
    -(e.raw_os_error().unwrap_or(Errno::EIO.0))
}

impl SimBackend {
    /// A backend on `host`, not yet connected to a frontend.
    pub fn new(host: Arc<SimHost>, cfg: BackendConfig) -> Self {
        SimBackend {
            host,
            cfg,
            cmd: None,
            active: HashMap::new(),
            passive: HashMap::new(),
            out: Vec::new(),
            stats: BackendStats::default(),
            buf: vec![0u8; 64 * 1024],
            stalled: false,
            net: MemNet::default(),
        }
    }

    /// Serves the addresses `net` routes in memory instead of over host TCP.
    pub fn with_net(mut self, net: MemNet) -> Self {
        self.net = net;
        self
    }

    /// Counters.
    pub fn stats(&self) -> BackendStats {
        BackendStats { active: self.active.len(), passive: self.passive.len(), ..self.stats }
    }

    /// Whether the command ring is connected.
    pub fn is_connected(&self) -> bool {
        self.cmd.is_some()
    }

    /// `backend_connect`: maps the command ring and binds its port.
    pub fn connect(&mut self, ring_ref: GrantRef, port: Port) -> Result<(), &'static str> {
        let mem = Mapped::map(&self.host, BACKEND_DOMID, &[ring_ref]).ok_or("bad ring-ref")?;
        if !self.host.bind_port(port) {
            return Err("bad port");
        }
        // Attach where the frontend initialised the ring (0 after
        // SHARED_RING_INIT; near the wrap in tests, Options::cmd_ring_start).
        let start = mem.load_u32(skiff_ring::sring::hdr::REQ_PROD);
        self.cmd = Some(CmdConn { mem, ring: BackRing::attach(CMD_LAYOUT, start), port });
        Ok(())
    }

    /// `backend_disconnect`: releases every socket and unmaps everything.
    pub fn disconnect(&mut self) {
        for (_, a) in self.active.drain() {
            self.host.unbind_port(a.port);
        }
        self.passive.clear();
        if let Some(c) = self.cmd.take() {
            self.host.unbind_port(c.port);
        }
    }

    /// Handles pending commands, connections and data once. Returns
    /// whether anything happened.
    pub fn step(&mut self) -> bool {
        self.step_io().0
    }

    /// [`step`](Self::step), also telling whether a socket's data arrived
    /// while nothing could move (the worker runs again: see
    /// [`spawn_backend`](super::spawn_backend)).
    pub fn step_io(&mut self) -> (bool, bool) {
        let mut progress = self.commands();
        progress |= self.listeners();
        let (moved, arrived) = self.data();
        progress |= moved;
        progress |= self.flush_responses();
        (progress, arrived)
    }

    /// Whether the command ring has stopped for good
    /// ([`BackendConfig::stall_on`]).
    pub fn is_stalled(&self) -> bool {
        self.stalled
    }

    fn commands(&mut self) -> bool {
        let mut progress = false;
        loop {
            if self.stalled {
                return progress;
            }
            let Some(c) = self.cmd.as_mut() else { return progress };
            self.host.take_back(c.port);
            let mut entry = [0u8; req::SIZE];
            match c.ring.take_request(&c.mem, &mut entry) {
                Ok(true) => {}
                Ok(false) => match c.ring.final_check_for_requests(&c.mem) {
                    Ok(true) => continue,
                    _ => return progress,
                },
                Err(_) => return progress,
            }
            progress = true;
            let cmd = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
            if self.cfg.stall_on == Some(cmd) {
                self.stalled = true;
                return progress;
            }
            self.handle(&entry);
            // CONNECT blocks the ring: answer in order, one at a time.
            self.flush_responses();
        }
    }

    fn respond(&mut self, req_id: u32, cmd: u32, ret: i32, id: u64) {
        self.out.push(Response { req_id, cmd, ret, id });
    }

    fn flush_responses(&mut self) -> bool {
        let Some(c) = self.cmd.as_mut() else {
            self.out.clear();
            return false;
        };
        if self.out.is_empty() {
            return false;
        }
        for r in self.out.drain(..) {
            let mut e = [0u8; abi::ENTRY_SIZE];
            e[..rsp::SIZE].copy_from_slice(&r.encode());
            if c.ring.push_response(&c.mem, &e[..rsp::SIZE]).is_ok() {
                self.stats.responses += 1;
            }
        }
        if c.ring.push_responses_and_check_notify(&c.mem) {
            self.host.notify_front(c.port);
        }
        true
    }

    fn handle(&mut self, entry: &[u8; req::SIZE]) {
        let (req_id, req, addr_ok) = match decode_request(entry) {
            Decoded::Known { req_id, req, addr_ok } => (req_id, req, addr_ok),
            Decoded::Unknown { req_id, cmd, id } => {
                self.stats.requests[7] += 1;
                self.respond(req_id, cmd, crate::BACKEND_ENOTSUPP, id);
                return;
            }
        };
        self.stats.requests[req.cmd() as usize] += 1;
        let (cmd, id) = (req.cmd(), req.id());
        let ret = match req {
            Request::Socket { domain, ty, protocol, .. } => {
                if domain == 2 && ty == 1 && (protocol == 0 || protocol == 2) {
                    0
                } else {
                    -Errno::EAFNOSUPPORT.0
                }
            }
            Request::Connect { addr, ring_ref, evtchn, .. } => {
                if !addr_ok {
                    -Errno::EINVAL.0
                } else {
                    match self.open(addr) {
                        Err(e) => neg_errno(&e),
                        Ok(stream) => match self.map_active(stream, ring_ref, evtchn) {
                            Ok(a) => {
                                if let Some(old) = self.active.insert(id, a) {
                                    self.host.unbind_port(old.port);
                                }
                                0
                            }
                            Err(e) => e,
                        },
                    }
                }
            }
            Request::Release { .. } => {
                if let Some(a) = self.active.remove(&id) {
                    self.host.unbind_port(a.port);
                } else {
                    self.passive.remove(&id);
                }
                0
            }
            Request::Bind { addr, .. } => {
                if addr_ok {
                    self.bind(id, addr)
                } else {
                    -Errno::EINVAL.0
                }
            }
            Request::Listen { .. } => {
                if self.passive.contains_key(&id) {
                    0
                } else {
                    -Errno::EINVAL.0
                }
            }
            Request::Accept { id_new, ring_ref, evtchn, .. } => {
                let pending = Pending::Accept { req_id, id_new, ring_ref, evtchn };
                match self.queue_pending(id, pending) {
                    Some(ret) => ret,
                    None => return,
                }
            }
            Request::Poll { .. } => {
                if !self.passive.contains_key(&id) {
                    // pvcalls_back_poll returns -EINVAL without a response.
                    self.stats.dropped_polls += 1;
                    return;
                }
                match self.queue_pending(id, Pending::Poll { req_id }) {
                    Some(ret) => ret,
                    None => return,
                }
            }
        };
        self.respond(req_id, cmd, ret, id);
    }

    /// The inline connect of CONNECT: in memory if `net` routes `addr`,
    /// else host TCP.
    fn open(&self, addr: std::net::SocketAddrV4) -> std::io::Result<Box<dyn SimSocket>> {
        if let Some(service) = self.net.service(addr) {
            return Ok(service.connect(&self.host));
        }
        let s = TcpStream::connect_timeout(&SocketAddr::V4(addr), self.cfg.connect_timeout)?;
        s.set_nonblocking(true)?;
        let _ = s.set_nodelay(true);
        Ok(Box::new(s))
    }

    /// `pvcalls_back_bind`: creates the passive socket under `id`.
    fn bind(&mut self, id: u64, addr: std::net::SocketAddrV4) -> i32 {
        let std::collections::hash_map::Entry::Vacant(slot) = self.passive.entry(id) else {
            return -Errno::EEXIST.0;
        };
        let listener = match TcpListener::bind(SocketAddr::V4(addr)) {
            Ok(l) => l,
            Err(e) => return neg_errno(&e),
        };
        if let Err(e) = listener.set_nonblocking(true) {
            return neg_errno(&e);
        }
        slot.insert(Passive { listener, queued: VecDeque::new(), pending: None, busy: false });
        0
    }

    /// Records an ACCEPT/POLL on listener `id`; `Some(ret)` if it is
    /// answered right away.
    fn queue_pending(&mut self, id: u64, p: Pending) -> Option<i32> {
        let eagain = self.cfg.accept_eagain;
        let Some(l) = self.passive.get_mut(&id) else { return Some(-Errno::EINVAL.0) };
        if l.pending.is_some() || core::mem::take(&mut l.busy) {
            self.stats.eintr += 1;
            return Some(-Errno::EINTR.0);
        }
        if eagain && matches!(p, Pending::Accept { .. }) && l.queued.is_empty() {
            match l.listener.accept() {
                Ok((s, _)) => l.queued.push_back(s),
                Err(_) => return Some(-Errno::EAGAIN.0),
            }
        }
        l.pending = Some(p);
        None
    }

    /// Maps a data ring passed by CONNECT or ACCEPT.
    fn map_active(
        &mut self,
        stream: Box<dyn SimSocket>,
        ring_ref: GrantRef,
        evtchn: Port,
    ) -> Result<Active, i32> {
        let efault = -Errno::EFAULT.0;
        let idx = Mapped::map(&self.host, BACKEND_DOMID, &[ring_ref]).ok_or(efault)?;
        let order = idx.load_u32(intf::RING_ORDER);
        if order > self.cfg.max_ring_order {
            return Err(efault);
        }
        let refs: Vec<GrantRef> =
            (0..1usize << order).map(|i| idx.load_u32(intf::REF + 4 * i)).collect();
        let data = Mapped::map(&self.host, BACKEND_DOMID, &refs).ok_or(efault)?;
        if !self.host.bind_port(evtchn) {
            return Err(efault);
        }
        Ok(Active {
            stream,
            idx,
            data,
            port: evtchn,
            size: data_ring_size(order) as u32,
            in_blocked: false,
            out_pending: false,
            masked: false,
            reset: None,
        })
    }

    fn listeners(&mut self) -> bool {
        let mut progress = false;
        if !self.passive.values().any(|l| l.pending.is_some()) {
            return false;
        }
        let ids: Vec<u64> = self.passive.keys().copied().collect();
        for id in ids {
            let Some(l) = self.passive.get_mut(&id) else { continue };
            let Some(p) = l.pending else { continue };
            if l.queued.is_empty() {
                match l.listener.accept() {
                    Ok((s, _)) => l.queued.push_back(s),
                    Err(_) => continue,
                }
            }
            progress = true;
            match p {
                Pending::Poll { req_id } => {
                    l.pending = None;
                    self.respond(req_id, abi::PVCALLS_POLL, 0, id);
                }
                Pending::Accept { req_id, id_new, ring_ref, evtchn } => {
                    l.pending = None;
                    l.busy = self.cfg.busy_after_accept;
                    let Some(stream) = l.queued.pop_front() else { continue };
                    let stream = match stream.set_nonblocking(true) {
                        Ok(()) => {
                            let _ = stream.set_nodelay(true);
                            Box::new(stream)
                        }
                        Err(e) => {
                            self.respond(req_id, abi::PVCALLS_ACCEPT, neg_errno(&e), id);
                            continue;
                        }
                    };
                    let ret = match self.map_active(stream, ring_ref, evtchn) {
                        Ok(a) => {
                            self.active.insert(id_new, a);
                            0
                        }
                        Err(e) => e,
                    };
                    self.respond(req_id, abi::PVCALLS_ACCEPT, ret, id);
                }
            }
        }
        progress
    }

    /// Moves data between every active socket and its ring. Returns
    /// whether anything moved, and whether a socket's data arrived (which
    /// runs the worker again even if nothing could move).
    fn data(&mut self) -> (bool, bool) {
        let mut progress = false;
        let mut arrived = false;
        let buf = &mut self.buf;
        let mask_bug = self.cfg.mask_after_empty_event;
        let reset_needs_event = self.cfg.reset_needs_event;
        let read_needs_event = self.cfg.read_needs_event;
        for a in self.active.values_mut() {
            // A masked channel keeps its event pending until unmasked.
            let event = !a.masked && self.host.take_back(a.port);
            if event {
                a.in_blocked = false;
                a.out_pending = true;
            }
            let mut notify = false;
            if let Some(e) = a.reset.filter(|_| event) {
                a.idx.store_u32(intf::IN_ERROR, e as u32);
                a.reset = None;
                notify = true;
            }
            // out: frontend -> socket.
            let out = ByteRing::new(a.size as usize, a.size, intf::OUT_PROD, intf::OUT_CONS);
            if a.out_pending && a.idx.load_u32(intf::OUT_ERROR) == 0 {
                // Read once, into the socket: what it does not take stays
                // in `out` and is read again later, as in
                // `pvcalls_conn_back_write` (cons read once, then advanced).
                let cons = a.idx.load_u32(intf::OUT_CONS);
                match out.consumer().peek_split(&a.idx, &a.data, &mut buf[..]) {
                    Ok(0) => {
                        a.out_pending = false;
                        if event && mask_bug {
                            a.masked = true;
                            self.stats.masked_channels += 1;
                        }
                    }
                    Ok(n) => match a.stream.send(&buf[..n]) {
                        Ok(w) => {
                            // Consume exactly what the socket took.
                            a.idx.store_u32(intf::OUT_CONS, cons.wrapping_add(w as u32));
                            // Linux clears the stuck write flag and sends
                            // the EOI once a write succeeds.
                            a.masked &= w == 0;
                            self.stats.bytes_out += w as u64;
                            notify = true;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => {
                            a.idx.store_u32(intf::OUT_ERROR, neg_errno(&e) as u32);
                            a.out_pending = false;
                            notify = true;
                        }
                    },
                    Err(_) => {
                        a.idx.store_u32(intf::OUT_ERROR, -Errno::EINVAL.0 as u32);
                        notify = true;
                    }
                }
            }
            // in: socket -> frontend. Data that arrived in the socket runs
            // the worker again (`sk_data_ready`), which refills a full `in`
            // as soon as the frontend has read some, event or not.
            if a.stream.data_ready() {
                a.in_blocked = false;
                arrived = true;
            }
            let inr = ByteRing::new(0, a.size, intf::IN_PROD, intf::IN_CONS);
            if !a.in_blocked && a.reset.is_none() && a.idx.load_u32(intf::IN_ERROR) == 0 {
                match inr.producer().space(&a.idx) {
                    Ok(0) => a.in_blocked = true,
                    Ok(space) => {
                        let n = (space as usize).min(buf.len());
                        match a.stream.recv(&mut buf[..], n) {
                            Ok([]) => {
                                a.idx.store_u32(intf::IN_ERROR, -Errno::ENOTCONN.0 as u32);
                                notify = true;
                            }
                            Ok(got) => {
                                let _ = inr.producer().write_split(&a.idx, &a.data, got);
                                self.stats.bytes_in += got.len() as u64;
                                notify = true;
                                // Socket data runs the worker, which retries
                                // `out` while the stuck flag is set.
                                a.out_pending |= a.masked;
                                // The rest waits for an event.
                                a.in_blocked |= read_needs_event && a.stream.more_queued();
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(e) if reset_needs_event => {
                                // sk_state_change: notify, read later.
                                a.reset = Some(neg_errno(&e));
                                notify = true;
                            }
                            Err(e) => {
                                a.idx.store_u32(intf::IN_ERROR, neg_errno(&e) as u32);
                                notify = true;
                            }
                        }
                    }
                    Err(_) => {
                        a.idx.store_u32(intf::IN_ERROR, -Errno::EINVAL.0 as u32);
                        notify = true;
                    }
                }
            }
            if notify {
                progress = true;
                self.host.notify_front(a.port);
            }
        }
        (progress, arrived)
    }
}
