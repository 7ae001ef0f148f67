//! A hostile xenstored for deterministic runs: a script of replies, garbage, silence, floods and impossible indexes.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;

use skiff_ring::SharedMem;
use skiff_xen::xs_wire::{XENSTORE_SERVER_FEATURE_ERROR, intf};

use super::SimXenstored;
use super::endless::EndlessMem;
use crate::client::RSP_RING;
use crate::wire::{HEADER_LEN, Header, encode_message};
use crate::{MsgType, Transport, XsError};

/// What runs on the daemon at every wait, besides the script.
type Hook = Box<dyn FnMut(&mut SimXenstored) -> bool>;

/// One step of a hostile xenstored's script; one runs per client wait.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum XsStep {
    /// The daemon handles every request in the ring and replies.
    Serve,
    /// Nothing happens.
    Silence,
    /// Raw bytes into the response ring (as many as fit).
    Inject(Vec<u8>),
    /// A whole message with any header: `req_id` is that of the last
    /// request the daemon read if `to_last`.
    Forge {
        /// Message type.
        ty: u32,
        /// Reply to the last request read.
        to_last: bool,
        /// `req_id` otherwise.
        req_id: u32,
        /// `tx_id`.
        tx_id: u32,
        /// Payload (its length goes in the header, whatever it is).
        payload: Vec<u8>,
    },
    /// Moves the response ring's `rsp_prod` by `delta`.
    RspProd(u32),
    /// Moves the request ring's `req_cons` by `delta`.
    ReqCons(u32),
    /// Reports a connection error in the page (`server_features` and `error`).
    ServerError(u32),
    /// Every later wait fills the response ring with events for token
    /// `token % n` of the transport's tokens.
    Flood(u8),
    /// The response ring looks endlessly full of events for a token
    /// (`Some(token % n)`), or stops looking so (`None`).
    Endless(Option<u8>),
    /// Replies reach the ring at most this many bytes per wait.
    Chunk(u16),
    /// Another client writes node `path % n` of the transport's paths.
    Write {
        /// Which node.
        path: u8,
        /// Its new value.
        value: Vec<u8>,
    },
    /// Another client removes node `path % n`.
    Rm(u8),
    /// The client's writes to node `path % n` are refused from now on.
    DenyWrites(u8),
    /// The daemon stops answering, or answers again.
    Pause(bool),
}

/// What the daemon does once the script has run out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum XsAutopilot {
    /// [`XsStep::Serve`] at each wait.
    #[default]
    Serve,
    /// Nothing at all.
    Silence,
}

/// A xenstore [`Transport`] whose waits run a [`SimXenstored`] under a
/// script of [`XsStep`]s, then an [`XsAutopilot`]; a hook (the backend's
/// xenbus driver, say) runs at each wait too.
///
/// The clock is virtual: every reading of it takes
/// [`read_tick_ns`](Self::read_tick_ns) (so a client that never waits
/// still sees time pass), a wait that found work takes
/// [`tick_ns`](Self::tick_ns), and one that found none jumps to its
/// deadline.
pub struct ScriptedTransport {
    mem: EndlessMem,
    daemon: SimXenstored,
    now: Cell<u64>,
    script: VecDeque<XsStep>,
    autopilot: XsAutopilot,
    tokens: Vec<String>,
    paths: Vec<String>,
    hook: Option<Hook>,
    flood: Option<String>,
    waits: u64,
    notifications: u64,
    /// Virtual time each reading of the clock takes.
    pub read_tick_ns: u64,
    /// Virtual time a wait that found work takes.
    pub tick_ns: u64,
}

impl core::fmt::Debug for ScriptedTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ScriptedTransport")
            .field("now", &self.now.get())
            .field("waits", &self.waits)
            .field("script", &self.script.len())
            .finish_non_exhaustive()
    }
}

impl ScriptedTransport {
    /// A daemon for domain `domid`; scripted writes and floods pick among
    /// `paths` and `tokens` (each may be empty).
    pub fn new(domid: u32, paths: Vec<String>, tokens: Vec<String>) -> Self {
        ScriptedTransport {
            mem: EndlessMem::new(),
            daemon: SimXenstored::new(domid),
            now: Cell::new(0),
            script: VecDeque::new(),
            autopilot: XsAutopilot::Serve,
            tokens,
            paths,
            hook: None,
            flood: None,
            waits: 0,
            notifications: 0,
            read_tick_ns: 100_000,
            tick_ns: 1_000_000,
        }
    }

    /// The daemon (to set up its tree).
    pub fn daemon(&mut self) -> &mut SimXenstored {
        &mut self.daemon
    }

    /// Queues steps.
    pub fn extend_script(&mut self, steps: impl IntoIterator<Item = XsStep>) {
        self.script.extend(steps);
    }

    /// Sets what happens once the script has run out.
    pub fn set_autopilot(&mut self, a: XsAutopilot) {
        self.autopilot = a;
    }

    /// Runs `hook` on the daemon at every wait; it returns whether it did
    /// anything.
    pub fn set_hook(&mut self, hook: impl FnMut(&mut SimXenstored) -> bool + 'static) {
        self.hook = Some(Box::new(hook));
    }

    /// The virtual time, read without the cost of a reading.
    pub fn now_peek(&self) -> u64 {
        self.now.get()
    }

    /// Calls to [`Transport::wait_until`] so far.
    pub fn waits(&self) -> u64 {
        self.waits
    }

    /// Notifications from the client so far.
    pub fn notifications(&self) -> u64 {
        self.notifications
    }

    fn pick(list: &[String], i: u8) -> Option<String> {
        (!list.is_empty()).then(|| list[usize::from(i) % list.len()].clone())
    }

    fn token(&self, i: u8) -> String {
        Self::pick(&self.tokens, i).unwrap_or_else(|| String::from("nobody"))
    }

    fn serve(&mut self) -> bool {
        // A daemon that failed (the script broke its ring) stays silent.
        self.daemon.step(&self.mem).unwrap_or(false)
    }

    fn shift(&self, off: usize, delta: u32) {
        self.mem.store_u32(off, self.mem.load_u32(off).wrapping_add(delta));
    }

    /// Applies one step; returns whether it did anything.
    fn apply(&mut self, step: XsStep) -> bool {
        match step {
            XsStep::Serve => self.serve(),
            XsStep::Silence => false,
            XsStep::Inject(bytes) => RSP_RING.producer().write(&self.mem, &bytes).unwrap_or(0) > 0,
            XsStep::Forge { ty, to_last, req_id, tx_id, payload } => {
                let req_id = match self.daemon.last_request() {
                    Some((_, last, _)) if to_last => last,
                    _ => req_id,
                };
                let len = payload.len() as u32;
                let mut bytes = Header { msg_type: ty, req_id, tx_id, len }.encode().to_vec();
                bytes.extend_from_slice(&payload);
                RSP_RING.producer().write(&self.mem, &bytes).unwrap_or(0) > 0
            }
            XsStep::RspProd(d) => {
                self.shift(intf::RSP_PROD, d);
                true
            }
            XsStep::ReqCons(d) => {
                self.shift(intf::REQ_CONS, d);
                true
            }
            XsStep::ServerError(code) => {
                self.mem.store_u32(intf::SERVER_FEATURES, XENSTORE_SERVER_FEATURE_ERROR);
                self.mem.store_u32(intf::ERROR, code);
                true
            }
            XsStep::Flood(t) => {
                self.flood = Some(self.token(t));
                true
            }
            XsStep::Endless(t) => {
                let token = t.map(|t| self.token(t));
                self.mem.set_endless(token.as_deref());
                true
            }
            XsStep::Chunk(n) => {
                self.daemon.set_chunk_limit(Some(usize::from(n)));
                true
            }
            XsStep::Write { path, value } => {
                Self::pick(&self.paths, path).is_some_and(|p| self.daemon.write(&p, &value).is_ok())
            }
            XsStep::Rm(path) => {
                Self::pick(&self.paths, path).is_some_and(|p| self.daemon.rm(&p).is_ok())
            }
            XsStep::DenyWrites(path) => {
                Self::pick(&self.paths, path).map(|p| self.daemon.deny_writes(&p)).is_some()
            }
            XsStep::Pause(p) => {
                self.daemon.set_paused(p);
                true
            }
        }
    }

    /// Fills the response ring with watch events for the flood's token.
    fn flood(&mut self) -> bool {
        let Some(token) = &self.flood else { return false };
        let payload = [b"/flood\0", token.as_bytes(), b"\0"].concat();
        let Ok(ev) = encode_message(MsgType::WatchEvent, 0, 0, &[&payload]) else { return false };
        let mut wrote = false;
        while matches!(RSP_RING.producer().space(&self.mem), Ok(s) if s as usize >= ev.len()) {
            wrote |= RSP_RING.producer().write(&self.mem, &ev).unwrap_or(0) > 0;
        }
        wrote
    }
}

impl Transport for ScriptedTransport {
    type Mem = EndlessMem;

    fn mem(&self) -> &EndlessMem {
        &self.mem
    }

    fn notify(&mut self) {
        self.notifications += 1;
    }

    fn now_ns(&self) -> u64 {
        let t = self.now.get().saturating_add(self.read_tick_ns);
        self.now.set(t);
        t
    }

    fn wait_until(&mut self, deadline_ns: u64) -> Result<(), XsError> {
        self.waits += 1;
        let mut worked = match self.script.pop_front() {
            Some(step) => {
                self.apply(step);
                true
            }
            None => match self.autopilot {
                XsAutopilot::Serve => self.serve(),
                XsAutopilot::Silence => false,
            },
        };
        if let Some(hook) = self.hook.as_mut() {
            worked |= hook(&mut self.daemon);
        }
        worked |= self.flood();
        let now = self.now.get();
        self.now.set(if worked { now.saturating_add(self.tick_ns) } else { now.max(deadline_ns) });
        Ok(())
    }
}

const _: () = assert!(HEADER_LEN == 16);
