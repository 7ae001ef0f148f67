//! Blocking xenstore operations over a [`Transport`]: read, write, directory, watches, transactions.
//!
//! [`Xenstore`] wraps a [`Client`] and a transport supplied by the
//! environment (the kernel: the xenstore page, "notify the event channel",
//! a clock and "block until the event channel fires or a deadline"; tests:
//! a simulated xenstored). Each call queues one request and pumps the rings
//! until its reply is there, waiting on the transport in between, for at
//! most the request timeout: a xenstored that never answers, or that keeps
//! sending other traffic (watch events) instead, cannot hold a call longer.
//! Watch events that arrive meanwhile go to the queue of their token, for
//! [`Xenstore::poll_watch`] or [`Xenstore::wait_watch_until`].
//!
//! The node operations live in the [`XsIo`] trait so that they work the same
//! outside a transaction (on [`Xenstore`]) and inside one (on
//! [`Transaction`]).

use alloc::string::String;
use alloc::vec::Vec;

use skiff_ring::SharedMem;

use crate::wire::{self, MsgType};
use crate::{Client, ProtocolError, WatchEvent, XsError};

/// How many times [`Xenstore::transaction`] runs a transaction that keeps
/// failing with `EAGAIN` before giving up.
pub const TRANSACTION_TRIES: u32 = 16;

/// How long one request waits for its reply by default (10 s).
pub const DEFAULT_REQUEST_TIMEOUT_NS: u64 = 10_000_000_000;

/// What the environment provides to talk to xenstored.
pub trait Transport {
    /// The shared xenstore page.
    type Mem: SharedMem + ?Sized;

    /// The shared xenstore page.
    fn mem(&self) -> &Self::Mem;

    /// Signals xenstored (the xenstore event channel).
    fn notify(&mut self);

    /// Monotonic time in nanoseconds: the clock deadlines are on.
    fn now_ns(&self) -> u64;

    /// Blocks until xenstored may have made progress (the event channel
    /// fired since the previous wait returned: a notification that arrives
    /// before the call must not be lost), a spurious wakeup, or
    /// `deadline_ns` passes. Reaching the deadline is not an error (the
    /// caller looks at the clock); an error abandons the current call.
    fn wait_until(&mut self, deadline_ns: u64) -> Result<(), XsError>;
}

/// Node operations, issued outside a transaction by [`Xenstore`] and inside
/// one by [`Transaction`]. Paths are absolute (`/local/domain/0/...`) or
/// relative to the domain's home (`device/pvcalls/0`).
pub trait XsIo {
    /// Sends one request (payload = concatenated `parts`) and returns the
    /// reply payload.
    fn call(&mut self, msg_type: MsgType, parts: &[&[u8]]) -> Result<Vec<u8>, XsError>;

    /// `XS_READ`: the value at `path`.
    fn read(&mut self, path: &str) -> Result<Vec<u8>, XsError> {
        wire::check_string(path)?;
        self.call(MsgType::Read, &[path.as_bytes(), b"\0"])
    }

    /// [`read`](Self::read), with `ENOENT` mapped to `None`.
    fn try_read(&mut self, path: &str) -> Result<Option<Vec<u8>>, XsError> {
        match self.read(path) {
            Ok(v) => Ok(Some(v)),
            Err(XsError::NoEnt) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`read`](Self::read) as UTF-8 text ([`XsError::BadValue`] otherwise).
    fn read_string(&mut self, path: &str) -> Result<String, XsError> {
        String::from_utf8(self.read(path)?).map_err(|_| XsError::BadValue)
    }

    /// [`read`](Self::read) as an unsigned decimal `u32` (grant refs, event
    /// channels, states); [`XsError::BadValue`] if it is not one.
    fn read_u32(&mut self, path: &str) -> Result<u32, XsError> {
        wire::parse_u32(&self.read(path)?)
    }

    /// [`read`](Self::read) as an unsigned decimal `u64`.
    fn read_u64(&mut self, path: &str) -> Result<u64, XsError> {
        wire::parse_u64(&self.read(path)?)
    }

    /// `XS_WRITE`: sets `path` to `value`, creating missing parents.
    fn write(&mut self, path: &str, value: impl AsRef<[u8]>) -> Result<(), XsError>
    where
        Self: Sized,
    {
        wire::check_string(path)?;
        self.call(MsgType::Write, &[path.as_bytes(), b"\0", value.as_ref()]).map(drop)
    }

    /// `XS_DIRECTORY`: the names of the children of `path`.
    fn directory(&mut self, path: &str) -> Result<Vec<String>, XsError> {
        wire::check_string(path)?;
        let reply = self.call(MsgType::Directory, &[path.as_bytes(), b"\0"])?;
        wire::split_strings(&reply).map(|s| wire::to_string(s).map_err(XsError::Protocol)).collect()
    }

    /// `XS_MKDIR`: creates `path` (and parents) if missing.
    fn mkdir(&mut self, path: &str) -> Result<(), XsError> {
        wire::check_string(path)?;
        self.call(MsgType::Mkdir, &[path.as_bytes(), b"\0"]).map(drop)
    }

    /// `XS_RM`: removes `path` and everything below it.
    fn rm(&mut self, path: &str) -> Result<(), XsError> {
        wire::check_string(path)?;
        self.call(MsgType::Rm, &[path.as_bytes(), b"\0"]).map(drop)
    }
}

/// A xenstore connection: a [`Client`] driven over a [`Transport`].
#[derive(Debug)]
pub struct Xenstore<T: Transport> {
    client: Client,
    transport: T,
    timeout_ns: u64,
}

impl<T: Transport> Xenstore<T> {
    /// A connection over `transport`, with a fresh client and the default
    /// request timeout.
    pub fn new(transport: T) -> Self {
        Xenstore { client: Client::new(), transport, timeout_ns: DEFAULT_REQUEST_TIMEOUT_NS }
    }

    /// How long each request waits for its reply before it fails with
    /// [`XsError::TimedOut`].
    pub fn set_request_timeout(&mut self, timeout_ns: u64) {
        self.timeout_ns = timeout_ns;
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> u64 {
        self.timeout_ns
    }

    /// The underlying client (statistics, failure state).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Sends one request in transaction `tx_id` (0 for none) and blocks
    /// until its reply arrives, or the request timeout passes
    /// ([`XsError::TimedOut`]; a late reply is dropped).
    pub fn request(
        &mut self,
        tx_id: u32,
        msg_type: MsgType,
        parts: &[&[u8]],
    ) -> Result<Vec<u8>, XsError> {
        let id = self.client.start(tx_id, msg_type, parts)?;
        let deadline = self.transport.now_ns().saturating_add(self.timeout_ns);
        loop {
            let pumped = self.pump();
            if let Some(reply) = self.client.take_reply(id) {
                return reply;
            }
            let waited = match pumped {
                Err(e) => Err(e),
                Ok(_) if self.transport.now_ns() >= deadline => Err(XsError::TimedOut),
                Ok(true) => Ok(()),
                Ok(false) => self.transport.wait_until(deadline),
            };
            if let Err(e) = waited {
                self.client.forget(id);
                return Err(e);
            }
        }
    }

    /// Moves bytes both ways without blocking, notifying xenstored if
    /// needed. Returns whether bytes are left in the response ring that no
    /// event will announce (call again before waiting).
    pub fn pump(&mut self) -> Result<bool, XsError> {
        let mem = self.transport.mem();
        let wrote = self.client.flush(mem);
        let received = self.client.receive(mem);
        if wrote || matches!(received, Ok(r) if r.consumed) {
            self.transport.notify();
        }
        received.map(|r| r.more)
    }

    /// `XS_WATCH`: watches `path` and everything below it; its events go
    /// to `token`'s own queue ([`poll_watch`](Self::poll_watch)).
    /// xenstored fires the watch once right away, then on every change.
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.client.register_watch(token);
        let r = self.watch_request(MsgType::Watch, path, token);
        if r.is_err() {
            self.client.unregister_watch(token);
        }
        r
    }

    /// `XS_UNWATCH`: removes a watch set with the same `path` and `token`;
    /// its queue goes with the token's last watch, events and all.
    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        let r = self.watch_request(MsgType::Unwatch, path, token);
        self.client.unregister_watch(token);
        r
    }

    fn watch_request(&mut self, ty: MsgType, path: &str, token: &str) -> Result<(), XsError> {
        wire::check_string(path)?;
        wire::check_string(token)?;
        let parts: [&[u8]; 4] = [path.as_bytes(), b"\0", token.as_bytes(), b"\0"];
        self.request(0, ty, &parts).map(drop)
    }

    /// The oldest queued event of `token`'s watches, without touching the
    /// rings.
    pub fn take_watch(&mut self, token: &str) -> Option<WatchEvent> {
        self.client.take_watch_event(token)
    }

    /// An event of `token`'s watches, after pumping the rings once (never
    /// blocks).
    pub fn poll_watch(&mut self, token: &str) -> Result<Option<WatchEvent>, XsError> {
        self.pump_for(token).map(|(ev, _)| ev)
    }

    /// A queued event for `token`, else one after a pump; and whether the
    /// pump left bytes in the ring.
    fn pump_for(&mut self, token: &str) -> Result<(Option<WatchEvent>, bool), XsError> {
        if let Some(ev) = self.client.take_watch_event(token) {
            return Ok((Some(ev), false));
        }
        let more = self.pump()?;
        Ok((self.client.take_watch_event(token), more))
    }

    /// Blocks until an event of `token`'s watches arrives or `deadline_ns`
    /// (the transport's clock) passes (`Ok(None)`).
    pub fn wait_watch_until(
        &mut self,
        token: &str,
        deadline_ns: u64,
    ) -> Result<Option<WatchEvent>, XsError> {
        loop {
            let (ev, more) = self.pump_for(token)?;
            if ev.is_some() {
                return Ok(ev);
            }
            if self.transport.now_ns() >= deadline_ns {
                return Ok(None);
            }
            if !more {
                self.transport.wait_until(deadline_ns)?;
            }
        }
    }

    /// [`wait_watch_until`](Self::wait_watch_until) the request timeout
    /// from now; [`XsError::TimedOut`] if nothing came.
    pub fn wait_watch(&mut self, token: &str) -> Result<WatchEvent, XsError> {
        let deadline = self.transport.now_ns().saturating_add(self.timeout_ns);
        self.wait_watch_until(token, deadline)?.ok_or(XsError::TimedOut)
    }

    /// `XS_GET_DOMAIN_PATH`: the home path of domain `domid`
    /// (`/local/domain/<domid>`).
    pub fn get_domain_path(&mut self, domid: u32) -> Result<String, XsError> {
        let id = alloc::format!("{domid}");
        let reply = self.request(0, MsgType::GetDomainPath, &[id.as_bytes(), b"\0"])?;
        Ok(wire::to_string(wire::first_string(&reply))?)
    }

    /// `XS_TRANSACTION_START`: opens a transaction and returns its id.
    pub fn transaction_start(&mut self) -> Result<u32, XsError> {
        let reply = self.request(0, MsgType::TransactionStart, &[b"\0"])?;
        match wire::parse_u32(wire::first_string(&reply)) {
            Ok(0) | Err(_) => Err(XsError::Protocol(ProtocolError::Malformed)),
            Ok(id) => Ok(id),
        }
    }

    /// `XS_TRANSACTION_END`: commits (`commit = true`) or aborts transaction
    /// `tx_id`. A commit that conflicts with another change fails with
    /// [`XsError::Again`].
    pub fn transaction_end(&mut self, tx_id: u32, commit: bool) -> Result<(), XsError> {
        let arg: &[u8] = if commit { b"T\0" } else { b"F\0" };
        self.request(tx_id, MsgType::TransactionEnd, &[arg]).map(drop)
    }

    /// Runs `f` inside a transaction and commits it. If an operation or the
    /// commit fails with `EAGAIN`, the transaction is restarted and `f` runs
    /// again, up to [`TRANSACTION_TRIES`] times in all (then `Again` is
    /// returned). Any other error from `f` aborts the transaction and is
    /// returned.
    pub fn transaction<R>(
        &mut self,
        mut f: impl FnMut(&mut Transaction<'_, T>) -> Result<R, XsError>,
    ) -> Result<R, XsError> {
        for _ in 0..TRANSACTION_TRIES {
            let id = self.transaction_start()?;
            let result = f(&mut Transaction { xs: self, id });
            match result {
                Ok(r) => match self.transaction_end(id, true) {
                    Ok(()) => return Ok(r),
                    Err(XsError::Again) => continue,
                    Err(e) => return Err(e),
                },
                Err(e) => {
                    // Abort; a failure to abort changes nothing for the caller.
                    let _ = self.transaction_end(id, false);
                    if e != XsError::Again {
                        return Err(e);
                    }
                }
            }
        }
        Err(XsError::Again)
    }
}

impl<T: Transport> XsIo for Xenstore<T> {
    fn call(&mut self, msg_type: MsgType, parts: &[&[u8]]) -> Result<Vec<u8>, XsError> {
        self.request(0, msg_type, parts)
    }
}

/// An open transaction, handed to the closure of [`Xenstore::transaction`].
/// Reads and writes through it see and change the transaction's snapshot.
#[derive(Debug)]
pub struct Transaction<'a, T: Transport> {
    xs: &'a mut Xenstore<T>,
    id: u32,
}

impl<T: Transport> Transaction<'_, T> {
    /// The transaction id.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl<T: Transport> XsIo for Transaction<'_, T> {
    fn call(&mut self, msg_type: MsgType, parts: &[&[u8]]) -> Result<Vec<u8>, XsError> {
        self.xs.request(self.id, msg_type, parts)
    }
}
