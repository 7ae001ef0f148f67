//! A simulated xenstored serving one domain's xenstore page from the server side.
//!
//! [`SimXenstored`] consumes the request ring and produces the response ring
//! of a shared page (normally a [`HostMem`](skiff_ring::HostMem)) exactly as
//! xenstored does, following `docs/misc/xenstore.txt`: a path tree with
//! values, relative paths resolved against `/local/domain/<domid>`,
//! `DIRECTORY`/`READ`/`WRITE`/`MKDIR`/`RM`, `WATCH` (fired once on
//! registration, then on changes at or below the path), `UNWATCH`,
//! transactions (a snapshot per transaction; a commit after any other
//! change fails with `EAGAIN`), `GET_DOMAIN_PATH`, and `ERROR` replies
//! carrying the errno name. Permissions and quotas are not modelled.
//!
//! It is driven by [`SimXenstored::step`], which handles whatever is in the
//! ring and returns, so tests are deterministic; it is also `Send` and can
//! be stepped in a loop on its own thread. [`SimTransport`] plugs it into
//! [`Xenstore`](crate::Xenstore) for single-threaded tests.

mod endless;
mod hostile;
mod store;
mod transport;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use skiff_ring::{Consumer, Producer, SharedMem};
use skiff_xen::xs_wire::{
    XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX, XENSTORE_RING_SIZE,
    XENSTORE_SERVER_FEATURE_ERROR, intf,
};

use crate::client::{REQ_RING, RSP_RING};
use crate::frame::Framer;
use crate::wire::{self, Header, MsgType, PAYLOAD_MAX};
use crate::{ProtocolError, XsError};

pub use endless::EndlessMem;
pub use hostile::{ScriptedTransport, XsAutopilot, XsStep};
pub use store::{Change, Tree, check_abs_path, is_child};
pub use transport::SimTransport;

/// An open transaction: a private copy of the tree.
#[derive(Debug)]
struct Txn {
    tree: Tree,
    base_generation: u64,
    changes: Vec<Change>,
}

/// A registered watch.
#[derive(Debug, PartialEq, Eq)]
struct Watch {
    /// The path as the client gave it (relative, absolute or `@special`).
    given: String,
    /// `given` resolved to an absolute path (or `@special` as is).
    abs: String,
    token: String,
}

/// Writes scheduled to happen just before the next commits, to provoke
/// transaction conflicts.
#[derive(Debug)]
struct Interference {
    path: String,
    value: Vec<u8>,
    remaining: u32,
}

/// The simulated xenstore daemon for one domain. See the module docs.
#[derive(Debug)]
pub struct SimXenstored {
    home: String,
    tree: Tree,
    generation: u64,
    transactions: BTreeMap<u32, Txn>,
    next_tx: u32,
    watches: Vec<Watch>,
    req: Consumer,
    rsp: Producer,
    framer: Framer,
    out: VecDeque<u8>,
    chunk_limit: Option<usize>,
    interference: Option<Interference>,
    failed: Option<ProtocolError>,
    features_written: bool,
    paused: bool,
    handled: u64,
    denied: Vec<String>,
    last: Option<Header>,
}

impl SimXenstored {
    /// A daemon serving domain `domid`, whose home `/local/domain/<domid>`
    /// exists (empty).
    pub fn new(domid: u32) -> Self {
        let home = format!("/local/domain/{domid}");
        let mut tree = Tree::default();
        tree.mkdir(&home, &mut Vec::new());
        SimXenstored {
            home,
            tree,
            generation: 0,
            transactions: BTreeMap::new(),
            next_tx: 1,
            watches: Vec::new(),
            req: REQ_RING.consumer(),
            rsp: RSP_RING.producer(),
            framer: Framer::new(),
            out: VecDeque::new(),
            chunk_limit: None,
            interference: None,
            failed: None,
            features_written: false,
            paused: false,
            handled: 0,
            denied: Vec::new(),
            last: None,
        }
    }

    /// The domain's home path.
    pub fn home(&self) -> &str {
        &self.home
    }

    /// The committed tree.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Reads a node of the committed tree (absolute or relative path).
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        let abs = self.resolve(path.as_bytes()).ok()?;
        self.tree.read(&abs).ok()
    }

    /// Writes a node as another client would (fires watches, conflicts
    /// with open transactions).
    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), XsError> {
        let abs = self.resolve(path.as_bytes())?;
        let mut changes = Vec::new();
        self.tree.write(&abs, value, &mut changes);
        self.commit_changes(&changes);
        Ok(())
    }

    /// Removes a subtree as another client would.
    pub fn rm(&mut self, path: &str) -> Result<(), XsError> {
        let abs = self.resolve(path.as_bytes())?;
        let mut changes = Vec::new();
        self.tree.rm(&abs, &mut changes)?;
        self.commit_changes(&changes);
        Ok(())
    }

    /// Limits how many response bytes each [`step`](Self::step) writes, so
    /// that messages reach the client in pieces (`None`: no limit).
    pub fn set_chunk_limit(&mut self, limit: Option<usize>) {
        self.chunk_limit = limit.map(|l| l.max(1));
    }

    /// Before each of the next `times` transaction commits, writes `value`
    /// at `path` as another client would, so those commits fail with
    /// `EAGAIN`.
    pub fn interfere_with_commits(&mut self, path: &str, value: &[u8], times: u32) {
        self.interference = Some(Interference {
            path: String::from(path),
            value: value.to_vec(),
            remaining: times,
        });
    }

    /// While paused, [`step`](Self::step) does nothing (a daemon that does
    /// not answer).
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// Refuses the client's writes to `path` (absolute) with `EACCES`, as
    /// xenstored does for a node the domain may not write.
    pub fn deny_writes(&mut self, path: &str) {
        self.denied.push(String::from(path));
    }

    fn check_writable(&self, path: &str) -> Result<(), XsError> {
        if self.denied.iter().any(|d| d == path) {
            return Err(XsError::Acces);
        }
        Ok(())
    }

    /// Appends raw bytes to the response stream (to test client robustness).
    pub fn inject_raw(&mut self, bytes: &[u8]) {
        self.out.extend(bytes);
    }

    /// Number of registered watches.
    pub fn watch_count(&self) -> usize {
        self.watches.len()
    }

    /// Number of open transactions.
    pub fn open_transactions(&self) -> usize {
        self.transactions.len()
    }

    /// Requests handled so far.
    pub fn requests_handled(&self) -> u64 {
        self.handled
    }

    /// Header of the last request handled: (type, `req_id`, `tx_id`).
    pub fn last_request(&self) -> Option<(u32, u32, u32)> {
        self.last.map(|h| (h.msg_type, h.req_id, h.tx_id))
    }

    /// Response bytes not yet written to the ring.
    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    /// Why the daemon stopped serving the page, if it did.
    pub fn failure(&self) -> Option<ProtocolError> {
        self.failed
    }

    /// Handles every request in the ring and writes as many response bytes
    /// as fit (and the chunk limit allows). Returns whether anything moved.
    ///
    /// A client that breaks the protocol (corrupt indexes, a payload over
    /// 4096 bytes) makes the daemon stop, as xenstored does: the page's
    /// `error` field is set and an error returned now and on later steps.
    pub fn step<M: SharedMem + ?Sized>(&mut self, mem: &M) -> Result<bool, ProtocolError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.paused {
            return Ok(false);
        }
        if !self.features_written {
            mem.store_u32(intf::SERVER_FEATURES, XENSTORE_SERVER_FEATURE_ERROR);
            self.features_written = true;
        }
        let mut progress = false;
        let mut buf = [0u8; XENSTORE_RING_SIZE];
        loop {
            let n = match self.req.read(mem, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => return Err(self.fail(mem, XENSTORE_ERROR_RINGIDX, e.into())),
            };
            progress = true;
            let mut input = &buf[..n];
            while !input.is_empty() {
                match self.framer.feed(&mut input) {
                    Ok(Some((h, body))) => self.handle(h, &body),
                    Ok(None) => {}
                    Err(e) => return Err(self.fail(mem, XENSTORE_ERROR_PROTO, e)),
                }
            }
        }
        let mut budget = self.chunk_limit.unwrap_or(usize::MAX);
        while budget > 0 && !self.out.is_empty() {
            let (a, _) = self.out.as_slices();
            let a = &a[..a.len().min(budget)];
            match self.rsp.write(mem, a) {
                Ok(0) => break,
                Ok(n) => {
                    self.out.drain(..n);
                    budget -= n;
                    progress = true;
                }
                Err(e) => return Err(self.fail(mem, XENSTORE_ERROR_RINGIDX, e.into())),
            }
        }
        Ok(progress)
    }

    fn fail<M: SharedMem + ?Sized>(
        &mut self,
        mem: &M,
        code: u32,
        e: ProtocolError,
    ) -> ProtocolError {
        mem.store_u32(intf::ERROR, code);
        self.failed = Some(e);
        e
    }

    /// Resolves a client path: absolute as is, `@special` as is, anything
    /// else relative to the home path.
    fn resolve(&self, path: &[u8]) -> Result<String, XsError> {
        let p = core::str::from_utf8(path).map_err(|_| XsError::Inval)?;
        let abs = if p.starts_with('/') { String::from(p) } else { format!("{}/{p}", self.home) };
        check_abs_path(&abs)?;
        Ok(abs)
    }

    /// Handles one request, queueing its reply (and any watch events).
    fn handle(&mut self, h: Header, body: &[u8]) {
        self.handled += 1;
        self.last = Some(h);
        let ty = MsgType::from_u32(h.msg_type);
        let result = match ty {
            Some(t) => self.dispatch(t, &h, body),
            None => Err(XsError::NoSys),
        };
        match result {
            Ok(payload) => {
                let ty = ty.unwrap_or(MsgType::Error);
                self.queue_message(ty, h.req_id, h.tx_id, &payload);
                if ty == MsgType::Watch {
                    // Fired once up front, after the acknowledgement.
                    if let Some(w) = self.watches.last() {
                        let (path, token) = (w.given.clone(), w.token.clone());
                        self.queue_event(&path, &token);
                    }
                }
            }
            Err(e) => {
                let name = e.name().unwrap_or("EINVAL");
                let payload = [name.as_bytes(), b"\0"].concat();
                self.queue_message(MsgType::Error, h.req_id, h.tx_id, &payload);
            }
        }
    }

    fn dispatch(&mut self, ty: MsgType, h: &Header, body: &[u8]) -> Result<Vec<u8>, XsError> {
        const OK: &[u8] = b"OK\0";
        let args: Vec<&[u8]> = wire::split_strings(body).collect();
        let arg = |i: usize| args.get(i).copied().ok_or(XsError::Inval);
        if h.tx_id != 0 {
            // Watches ignore tx_id; TRANSACTION_START must not carry one.
            if ty == MsgType::TransactionStart {
                return Err(XsError::Inval);
            }
            if !matches!(ty, MsgType::Watch | MsgType::Unwatch)
                && !self.transactions.contains_key(&h.tx_id)
            {
                return Err(XsError::NoEnt);
            }
        }
        match ty {
            MsgType::Read => {
                let path = self.resolve(arg(0)?)?;
                Ok(self.view(h.tx_id).read(&path)?.to_vec())
            }
            MsgType::Directory => {
                let path = self.resolve(arg(0)?)?;
                let mut out = Vec::new();
                for name in self.view(h.tx_id).directory(&path)? {
                    out.extend_from_slice(name.as_bytes());
                    out.push(0);
                }
                if out.len() > PAYLOAD_MAX {
                    return Err(XsError::TooBig);
                }
                Ok(out)
            }
            MsgType::Write => {
                let nul = body.iter().position(|&b| b == 0).ok_or(XsError::Inval)?;
                let path = self.resolve(&body[..nul])?;
                self.check_writable(&path)?;
                let value = &body[nul + 1..];
                self.modify(h.tx_id, |t, ch| {
                    t.write(&path, value, ch);
                    Ok(())
                })?;
                Ok(OK.to_vec())
            }
            MsgType::Mkdir => {
                let path = self.resolve(arg(0)?)?;
                self.modify(h.tx_id, |t, ch| {
                    t.mkdir(&path, ch);
                    Ok(())
                })?;
                Ok(OK.to_vec())
            }
            MsgType::Rm => {
                let path = self.resolve(arg(0)?)?;
                self.modify(h.tx_id, |t, ch| t.rm(&path, ch))?;
                Ok(OK.to_vec())
            }
            MsgType::Watch | MsgType::Unwatch => {
                let given = core::str::from_utf8(arg(0)?).map_err(|_| XsError::Inval)?;
                let token = core::str::from_utf8(arg(1)?).map_err(|_| XsError::Inval)?;
                let abs = if given.starts_with('@') {
                    String::from(given)
                } else {
                    self.resolve(given.as_bytes())?
                };
                let watch = Watch { given: String::from(given), abs, token: String::from(token) };
                let existing = self
                    .watches
                    .iter()
                    .position(|w| w.given == watch.given && w.token == watch.token);
                match (ty, existing) {
                    (MsgType::Watch, Some(_)) => return Err(XsError::Exist),
                    (MsgType::Watch, None) => self.watches.push(watch),
                    (_, Some(i)) => drop(self.watches.remove(i)),
                    (_, None) => return Err(XsError::NoEnt),
                }
                Ok(OK.to_vec())
            }
            MsgType::TransactionStart => {
                let id = self.next_tx;
                self.next_tx = self.next_tx.wrapping_add(1).max(1);
                let txn = Txn {
                    tree: self.tree.clone(),
                    base_generation: self.generation,
                    changes: Vec::new(),
                };
                self.transactions.insert(id, txn);
                Ok(format!("{id}\0").into_bytes())
            }
            MsgType::TransactionEnd => {
                let commit = match arg(0)? {
                    b"T" => true,
                    b"F" => false,
                    _ => return Err(XsError::Inval),
                };
                let txn = self.transactions.remove(&h.tx_id).ok_or(XsError::NoEnt)?;
                if commit {
                    self.interfere();
                    if self.generation != txn.base_generation {
                        return Err(XsError::Again);
                    }
                    self.tree = txn.tree;
                    self.commit_changes(&txn.changes);
                }
                Ok(OK.to_vec())
            }
            MsgType::GetDomainPath => {
                let domid = wire::parse_u32(arg(0)?).map_err(|_| XsError::Inval)?;
                Ok(format!("/local/domain/{domid}\0").into_bytes())
            }
            MsgType::WatchEvent | MsgType::Error => Err(XsError::Inval),
            _ => Err(XsError::NoSys),
        }
    }

    /// The tree a request sees: its transaction's copy, or the committed one.
    fn view(&self, tx_id: u32) -> &Tree {
        self.transactions.get(&tx_id).map_or(&self.tree, |t| &t.tree)
    }

    /// Applies a change to the request's view; outside a transaction it is
    /// committed (and fires watches) at once.
    fn modify(
        &mut self,
        tx_id: u32,
        f: impl FnOnce(&mut Tree, &mut Vec<Change>) -> Result<(), XsError>,
    ) -> Result<(), XsError> {
        if let Some(txn) = self.transactions.get_mut(&tx_id) {
            return f(&mut txn.tree, &mut txn.changes);
        }
        let mut changes = Vec::new();
        f(&mut self.tree, &mut changes)?;
        self.commit_changes(&changes);
        Ok(())
    }

    fn interfere(&mut self) {
        let Some(i) = &mut self.interference else { return };
        if i.remaining == 0 {
            return;
        }
        i.remaining -= 1;
        let (path, value) = (i.path.clone(), i.value.clone());
        // A bad path here is a test bug; skipping is the useful reaction.
        let _ = self.write(&path, &value);
    }

    /// Records committed changes: bumps the generation, fires watches.
    fn commit_changes(&mut self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        self.generation += 1;
        let mut events = Vec::new();
        for change in changes {
            for w in self.watches.iter().filter(|w| w.abs.starts_with('/')) {
                let epath = match change {
                    Change::Removed(p) if is_child(&w.abs, p) => w.given.clone(),
                    Change::Written(p) | Change::Removed(p) if is_child(p, &w.abs) => {
                        self.relative_to(w, p)
                    }
                    _ => continue,
                };
                events.push((epath, w.token.clone()));
            }
        }
        for (path, token) in events {
            self.queue_event(&path, &token);
        }
    }

    /// `abs` expressed like the watch's path: relative if it was relative.
    fn relative_to(&self, w: &Watch, abs: &str) -> String {
        if w.given.starts_with('/') {
            return String::from(abs);
        }
        let prefix_len = self.home.len() + 1;
        String::from(abs.get(prefix_len..).unwrap_or(abs))
    }

    fn queue_event(&mut self, path: &str, token: &str) {
        let payload = [path.as_bytes(), b"\0", token.as_bytes(), b"\0"].concat();
        self.queue_message(MsgType::WatchEvent, 0, 0, &payload);
    }

    fn queue_message(&mut self, ty: MsgType, req_id: u32, tx_id: u32, payload: &[u8]) {
        let header = Header { msg_type: ty.as_u32(), req_id, tx_id, len: payload.len() as u32 };
        self.out.extend(header.encode());
        self.out.extend(payload);
    }
}
