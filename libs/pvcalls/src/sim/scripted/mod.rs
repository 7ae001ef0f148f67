//! A deterministic, single-threaded hostile `pvcalls-back`, driven step by step by a script.
//!
//! [`ScriptedBackend`] does nothing on its own: each [`Step`] (applied by
//! [`apply`](ScriptedBackend::apply), or one per frontend wait when it runs
//! as the [`Peer`] of a [`FakePlatform`](crate::sim::FakePlatform)) takes
//! requests off the command ring, answers one of them (right, with any
//! `ret`, with a wrong `req_id`/`cmd`/`id`, twice, or never; late is just a
//! later step), publishes impossible indexes, or acts on a data ring it
//! mapped through [`SimHost`] grants (bytes into `in`, bytes out of `out`,
//! `in_error`/`out_error`, any index, events). Rings are mapped when a
//! CONNECT or ACCEPT is answered right and unmapped on RELEASE or
//! [`disconnect`](ScriptedBackend::disconnect), as Linux does. Once the
//! script has run out the [`Autopilot`] decides.

mod cmd;
mod data;
mod script;

use std::collections::VecDeque;
use std::sync::Arc;
use std::vec::Vec;

use skiff_xen::pvcalls::{self as abi, req};

use self::cmd::BackCmd;
use self::data::BackData;
pub use self::script::{Answer, Autopilot, Step};
use super::BACKEND_DOMID;
use super::fake_platform::Peer;
use super::host::{Mapped, SimHost};
use super::peers::pattern;
use crate::platform::{GrantRef, Port};
use crate::wire::{Decoded, Request, Response, decode_request};
use crate::{BACKEND_ENOTSUPP, Errno};

/// A request taken off the command ring and not answered yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// Its `req_id` as sent.
    pub req_id: u32,
    /// The command number as sent.
    pub cmd: u32,
    /// The `id` as sent.
    pub id: u64,
    /// The decoded request (`None`: an unknown command).
    pub req: Option<Request>,
}

/// What the backend has done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptStats {
    /// Requests taken off the ring.
    pub taken: u64,
    /// Responses written (garbage included).
    pub responses: u64,
    /// Steps applied.
    pub steps: u64,
}

/// The scripted backend. See the module documentation.
#[derive(Debug)]
pub struct ScriptedBackend {
    host: Arc<SimHost>,
    cmd: Option<BackCmd>,
    inbox: Vec<Inbound>,
    rings: Vec<BackData>,
    passive: Vec<u64>,
    script: VecDeque<Step>,
    autopilot: Autopilot,
    /// Largest data-ring order it maps.
    pub max_order: u32,
    stats: ScriptStats,
}

impl ScriptedBackend {
    /// A backend on `host`, not connected, with an empty script.
    pub fn new(host: Arc<SimHost>) -> Self {
        ScriptedBackend {
            host,
            cmd: None,
            inbox: Vec::new(),
            rings: Vec::new(),
            passive: Vec::new(),
            script: VecDeque::new(),
            autopilot: Autopilot::Silent,
            max_order: abi::MAX_RING_ORDER,
            stats: ScriptStats::default(),
        }
    }

    /// `backend_connect`: maps the command ring and binds its port.
    pub fn connect(&mut self, ring_ref: GrantRef, port: Port) -> Result<(), &'static str> {
        if self.cmd.is_some() {
            return Err("already connected");
        }
        let mem = Mapped::map(&self.host, BACKEND_DOMID, &[ring_ref]).ok_or("bad ring-ref")?;
        if !self.host.bind_port(port) {
            return Err("bad port");
        }
        self.cmd = Some(BackCmd::attach(mem, port));
        Ok(())
    }

    /// `backend_disconnect`: unmaps every data ring and the command ring,
    /// unbinds their ports and forgets every request.
    pub fn disconnect(&mut self) {
        self.rings.clear();
        self.passive.clear();
        self.inbox.clear();
        if let Some(c) = self.cmd.take() {
            self.host.unbind_port(c.port);
        }
    }

    /// Whether the command ring is mapped.
    pub fn is_connected(&self) -> bool {
        self.cmd.is_some()
    }

    /// Queues steps to run, one per [`Peer::run`].
    pub fn extend_script(&mut self, steps: impl IntoIterator<Item = Step>) {
        self.script.extend(steps);
    }

    /// Steps still queued.
    pub fn script_len(&self) -> usize {
        self.script.len()
    }

    /// Sets what happens once the script has run out.
    pub fn set_autopilot(&mut self, a: Autopilot) {
        self.autopilot = a;
    }

    /// Requests taken and not answered, oldest first.
    pub fn inbox(&self) -> &[Inbound] {
        &self.inbox
    }

    /// Counters.
    pub fn stats(&self) -> ScriptStats {
        self.stats
    }

    /// Ids of the sockets whose data rings it maps, in mapping order.
    pub fn ring_ids(&self) -> Vec<u64> {
        self.rings.iter().map(|r| r.id).collect()
    }

    /// Bytes written into `in` of socket `id`'s ring so far.
    pub fn produced(&self, id: u64) -> Option<u64> {
        self.ring(id).map(|r| r.produced)
    }

    /// Bytes consumed from `out` of socket `id`'s ring so far.
    pub fn consumed(&self, id: u64) -> Option<&[u8]> {
        self.ring(id).map(|r| &r.consumed[..])
    }

    /// Bytes waiting in `out` of socket `id`'s ring.
    pub fn out_pending(&self, id: u64) -> Option<usize> {
        self.ring(id).map(BackData::out_pending)
    }

    fn ring(&self, id: u64) -> Option<&BackData> {
        self.rings.iter().find(|r| r.id == id)
    }

    fn ring_index(&self, id: u64) -> Option<u8> {
        self.rings.iter().position(|r| r.id == id).map(|i| i as u8)
    }

    /// Takes every published request into the inbox; returns how many.
    pub fn take(&mut self) -> usize {
        let Some(c) = self.cmd.as_mut() else { return 0 };
        let entries = c.take();
        for e in &entries {
            let (req_id, cmd, id, req) = match decode_request(e) {
                Decoded::Known { req_id, req, .. } => (req_id, req.cmd(), req.id(), Some(req)),
                Decoded::Unknown { req_id, cmd, id } => (req_id, cmd, id, None),
            };
            self.inbox.push(Inbound { req_id, cmd, id, req });
        }
        self.stats.taken += entries.len() as u64;
        entries.len()
    }

    /// Answers inbox request `i` as `how`; false if there is none.
    pub fn answer(&mut self, i: usize, how: Answer) -> bool {
        if i >= self.inbox.len() {
            return false;
        }
        let r = self.inbox.remove(i);
        let (req_id, cmd, id) = (r.req_id, r.cmd, r.id);
        let rsp = |ret| Response { req_id, cmd, ret, id };
        match how {
            Answer::Right => {
                let ret = self.act(&r, true);
                self.respond(rsp(ret));
            }
            Answer::Twice => {
                let ret = self.act(&r, true);
                self.respond(rsp(ret));
                self.respond(rsp(ret));
            }
            Answer::Ret(ret) => self.respond(rsp(ret)),
            Answer::MapThenRet(ret) => {
                self.act(&r, false);
                self.respond(rsp(ret));
            }
            Answer::WrongReqId(req_id) => self.respond(Response { req_id, ..rsp(0) }),
            Answer::WrongCmd(cmd) => self.respond(Response { cmd, ..rsp(0) }),
            Answer::WrongId(id) => self.respond(Response { id, ..rsp(0) }),
            Answer::Never => {}
        }
        true
    }

    /// Answers the oldest inbox request for socket `id` with command `cmd`.
    pub fn answer_request(&mut self, cmd: u32, id: u64, how: Answer) -> bool {
        match self.inbox.iter().position(|r| r.cmd == cmd && r.id == id) {
            Some(i) => self.answer(i, how),
            None => false,
        }
    }

    /// What Linux's backend does for `r` before answering; returns its
    /// `ret`. With `all == false` only the mapping of a data ring is done.
    fn act(&mut self, r: &Inbound, all: bool) -> i32 {
        let efault = -Errno::EFAULT.0;
        let Some(req) = r.req else { return BACKEND_ENOTSUPP };
        match req {
            Request::Socket { domain, ty, protocol, .. } => {
                let ok = domain == 2 && ty == 1 && (protocol == 0 || protocol == 6);
                if ok { 0 } else { -Errno::EAFNOSUPPORT.0 }
            }
            Request::Connect { id, ring_ref, evtchn, .. } => self.map(id, ring_ref, evtchn, efault),
            Request::Accept { id, id_new, ring_ref, evtchn } => {
                if all && !self.passive.contains(&id) {
                    return -Errno::EINVAL.0;
                }
                self.map(id_new, ring_ref, evtchn, efault)
            }
            _ if !all => 0,
            Request::Release { id, .. } => {
                self.rings.retain(|d| d.id != id);
                self.passive.retain(|&p| p != id);
                0
            }
            Request::Bind { id, .. } => {
                if !self.passive.contains(&id) {
                    self.passive.push(id);
                }
                0
            }
            Request::Listen { id, .. } => {
                if self.passive.contains(&id) {
                    0
                } else {
                    -Errno::EINVAL.0
                }
            }
            Request::Poll { .. } => 0,
        }
    }

    fn map(&mut self, id: u64, ring_ref: GrantRef, port: Port, efault: i32) -> i32 {
        match BackData::map(&self.host, id, ring_ref, port, self.max_order) {
            Some(d) => {
                self.rings.retain(|r| r.id != id);
                self.rings.push(d);
                0
            }
            None => efault,
        }
    }

    fn respond(&mut self, r: Response) {
        let Some(c) = self.cmd.as_mut() else { return };
        self.stats.responses += 1;
        if c.respond(&r) {
            self.host.notify_front(c.port);
        }
    }

    /// Writes up to `len` bytes of a pattern into `in` of socket `id`'s
    /// ring and notifies; returns how many fitted.
    pub fn write_in(&mut self, id: u64, len: usize) -> usize {
        match self.ring_index(id) {
            Some(i) => self.in_bytes(i, len),
            None => 0,
        }
    }

    fn in_bytes(&mut self, i: u8, len: usize) -> usize {
        let Some(d) = self.pick_ring(i) else { return 0 };
        let bytes = pattern(len, d.produced.wrapping_add(d.id));
        let n = d.write_in(&bytes);
        d.notify();
        n
    }

    /// Consumes up to `len` bytes of `out` of socket `id`'s ring and
    /// notifies; returns them.
    pub fn read_out(&mut self, id: u64, len: usize) -> Vec<u8> {
        let Some(d) = self.rings.iter_mut().find(|r| r.id == id) else { return Vec::new() };
        let got = d.read_out(len);
        d.notify();
        got
    }

    /// Sets `in_error` of socket `id`'s ring and notifies.
    pub fn set_in_error(&mut self, id: u64, err: i32) {
        if let Some(i) = self.ring_index(id) {
            self.ring_word(i, abi::intf::IN_ERROR, err as u32);
        }
    }

    /// Sets `out_error` of socket `id`'s ring and notifies.
    pub fn set_out_error(&mut self, id: u64, err: i32) {
        if let Some(i) = self.ring_index(id) {
            self.ring_word(i, abi::intf::OUT_ERROR, err as u32);
        }
    }

    fn pick_ring(&mut self, i: u8) -> Option<&mut BackData> {
        let n = self.rings.len();
        (n > 0).then(|| &mut self.rings[usize::from(i) % n])
    }

    fn ring_word(&mut self, i: u8, off: usize, val: u32) {
        if let Some(d) = self.pick_ring(i) {
            d.store(off, val);
            d.notify();
        }
    }

    /// Applies one step; returns whether it did anything.
    pub fn apply(&mut self, step: &Step) -> bool {
        self.stats.steps += 1;
        match *step {
            Step::Idle => false,
            Step::Take => self.take() > 0,
            Step::Answer { pick, how } => {
                let n = self.inbox.len();
                n > 0 && self.answer(usize::from(pick) % n, how)
            }
            Step::Garbage { req_id, cmd, ret, id } => {
                self.respond(Response { req_id, cmd, ret, id });
                self.cmd.is_some()
            }
            Step::RspProd { delta } => match self.cmd.as_mut() {
                Some(c) => {
                    c.shift(delta);
                    true
                }
                None => false,
            },
            Step::CmdWord { off, val } => match &self.cmd {
                Some(c) => {
                    c.store_header(off, val);
                    true
                }
                None => false,
            },
            Step::NotifyCmd => match &self.cmd {
                Some(c) => {
                    self.host.notify_front(c.port);
                    true
                }
                None => false,
            },
            Step::In { ring, len } => self.in_bytes(ring, usize::from(len)) > 0,
            Step::Out { ring, len } => match self.pick_ring(ring) {
                Some(d) => {
                    let got = d.read_out(usize::from(len));
                    d.notify();
                    !got.is_empty()
                }
                None => false,
            },
            Step::InError { ring, err } => self.word_step(ring, abi::intf::IN_ERROR, err as u32),
            Step::OutError { ring, err } => self.word_step(ring, abi::intf::OUT_ERROR, err as u32),
            Step::RingWord { ring, off, val } => {
                self.word_step(ring, usize::from(off % 32) * 4, val)
            }
            Step::Notify { ring } => match self.pick_ring(ring) {
                Some(d) => {
                    d.notify();
                    true
                }
                None => false,
            },
            Step::Unmap { ring } => {
                let n = self.rings.len();
                n > 0 && {
                    self.rings.remove(usize::from(ring) % n);
                    true
                }
            }
            Step::Disconnect => {
                let was = self.cmd.is_some();
                self.disconnect();
                was
            }
        }
    }

    fn word_step(&mut self, ring: u8, off: usize, val: u32) -> bool {
        let some = !self.rings.is_empty();
        self.ring_word(ring, off, val);
        some
    }

    /// The [`Autopilot::Cooperative`] round: takes and answers every
    /// request right, and drains every `out`.
    pub fn cooperate(&mut self) -> bool {
        let mut worked = self.take() > 0;
        while !self.inbox.is_empty() {
            self.answer(0, Answer::Right);
            worked = true;
        }
        for d in &mut self.rings {
            if d.out_pending() > 0 {
                d.read_out(usize::MAX);
                d.notify();
                worked = true;
            }
        }
        worked
    }
}

impl Peer for ScriptedBackend {
    fn run(&mut self) -> bool {
        match self.script.pop_front() {
            Some(step) => {
                self.apply(&step);
                true
            }
            None => match self.autopilot {
                Autopilot::Silent => false,
                Autopilot::Cooperative => self.cooperate(),
            },
        }
    }
}

const _: () = assert!(req::SIZE == abi::ENTRY_SIZE);
