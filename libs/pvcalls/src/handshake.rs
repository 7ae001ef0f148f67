//! Xenbus handshake with `pvcalls-back` (spec "Frontend/Backend XenBus Nodes" and "State Machine").
//!
//! 1. read `device/pvcalls/0/backend` and `backend-id`;
//! 2. watch the backend `state` until it is InitWait or later;
//! 3. check `versions` lists "1", `function-calls` is "1", read
//!    `max-page-order` (>= 1);
//! 4. allocate, initialise and grant the command ring, allocate its event
//!    channel, and write `version`, `ring-ref`, `port` and `state` =
//!    Initialised in one transaction (retried on `EAGAIN`);
//! 5. wait for the backend to be Connected, then switch to Connected.
//!
//! Afterwards the caller keeps watching [`BackendInfo::state_path`]: when
//! [`backend_state`] reports Closing or Closed ([`XenbusState::is_closed`]),
//! it calls [`backend_closing`].

use alloc::format;
use alloc::string::String;
use core::fmt;

use skiff_xen::pvcalls::{PVCALLS_VERSION, XENBUS_FUNCTIONS_CALLS};
use skiff_xen::xenbus::XenbusState;
use skiff_xenstore::{Transport, Xenstore, XsError, XsIo};

use crate::Errno;
use crate::engine::{Frontend, Options};
use crate::platform::{DomId, Platform};

/// The frontend's xenstore directory (relative to the domain's home).
pub const FRONTEND_PATH: &str = "device/pvcalls/0";

/// Token of the handshake's watch on the backend state.
const WATCH_TOKEN: &str = "skiff-pvcalls";

/// The backend node by which a backend says it reads a socket whenever the
/// socket has something for `in` and `in` has room, and on every change of
/// the socket's state, without waiting for an event of ours (Skiff's
/// `dom0/install-pvcalls-back.sh` writes it): its events then need no answer
/// (see [`Options::answer_events`]).
pub const FEATURE_UNPROMPTED_READ: &str = "feature-unprompted-read";

/// Default time to wait for each backend state change.
pub const DEFAULT_TIMEOUT_NS: u64 = 10_000_000_000;

/// Why the handshake failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// The guest has no `device/pvcalls/0`.
    NoDevice,
    /// A xenstore operation failed.
    Xenstore(XsError),
    /// A node has an unusable value (path, message).
    BadNode(String, &'static str),
    /// The backend does not offer protocol version 1.
    UnsupportedVersion(String),
    /// The backend does not implement the socket calls.
    NoFunctionCalls(String),
    /// The backend's `max-page-order` is below 1 (or the requested order is
    /// out of range).
    BadPageOrder(u32),
    /// The backend did not reach the expected state in time.
    TimedOut {
        /// State awaited.
        want: XenbusState,
        /// Last state seen.
        seen: XenbusState,
    },
    /// The backend is closing or closed.
    BackendClosed(XenbusState),
    /// The backend's `state` node disappeared before the backend was
    /// Closed (the toolstack removed it): whether it unmapped our rings is
    /// unknown.
    BackendVanished,
    /// Allocating the command ring failed.
    Resources(Errno),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::NoDevice => {
                f.write_str("no PV Calls device: add pvcalls = [\"backend=0\"] to the xl config")
            }
            HandshakeError::Xenstore(e) => write!(f, "xenstore: {e:?}"),
            HandshakeError::BadNode(p, why) => write!(f, "{p}: {why}"),
            HandshakeError::UnsupportedVersion(v) => {
                write!(f, "backend offers PV Calls versions {v:?}, we need 1")
            }
            HandshakeError::NoFunctionCalls(v) => {
                write!(f, "backend function-calls is {v:?}, we need \"1\"")
            }
            HandshakeError::BadPageOrder(o) => write!(f, "unusable data ring order {o}"),
            HandshakeError::TimedOut { want, seen } => {
                write!(f, "backend stayed in state {seen}, waiting for {want}")
            }
            HandshakeError::BackendClosed(s) => write!(f, "backend closed (state {s})"),
            HandshakeError::BackendVanished => {
                f.write_str("the backend's state node vanished before it was Closed")
            }
            HandshakeError::Resources(e) => write!(f, "allocating the command ring: {e}"),
        }
    }
}

impl From<XsError> for HandshakeError {
    fn from(e: XsError) -> Self {
        HandshakeError::Xenstore(e)
    }
}

/// What the handshake learnt about the backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    /// The backend's directory (`/local/domain/0/backend/pvcalls/<domU>/0`).
    pub path: String,
    /// The backend domain.
    pub domid: DomId,
    /// Its `max-page-order`.
    pub max_page_order: u32,
    /// It says (`feature-unprompted-read` = 1) that it reads its sockets
    /// without waiting for an event of ours (see [`FEATURE_UNPROMPTED_READ`]).
    pub unprompted_read: bool,
}

impl BackendInfo {
    /// The backend's `state` node: watch it after the handshake.
    pub fn state_path(&self) -> String {
        format!("{}/state", self.path)
    }
}

/// Handshake settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Engine options (data ring order, SOCKET).
    pub options: Options,
    /// How long to wait for each backend state change.
    pub timeout_ns: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { options: Options::default(), timeout_ns: DEFAULT_TIMEOUT_NS }
    }
}

/// Reads the backend state (`Unknown` if absent or garbled).
pub fn backend_state<X: XsIo>(xs: &mut X, info: &BackendInfo) -> Result<XenbusState, XsError> {
    read_state(xs, &info.state_path())
}

fn read_state<X: XsIo>(xs: &mut X, path: &str) -> Result<XenbusState, XsError> {
    let v = xs.try_read(path)?;
    let parsed =
        v.as_deref().and_then(|v| core::str::from_utf8(v).ok()).and_then(XenbusState::parse);
    Ok(parsed.unwrap_or(XenbusState::Unknown))
}

/// Writes the frontend's `state` node.
fn set_state<X: XsIo>(xs: &mut X, state: XenbusState) -> Result<(), XsError> {
    xs.write(&format!("{FRONTEND_PATH}/state"), state.as_str())
}

/// Reads where the backend is. Fails with [`HandshakeError::NoDevice`] if
/// the guest has no PV Calls device.
pub fn find_backend<X: XsIo>(xs: &mut X) -> Result<(String, DomId), HandshakeError> {
    let bpath = format!("{FRONTEND_PATH}/backend");
    let path = match xs.try_read(&bpath)? {
        Some(v) => {
            String::from_utf8(v).map_err(|_| HandshakeError::BadNode(bpath.clone(), "not UTF-8"))?
        }
        None => return Err(HandshakeError::NoDevice),
    };
    let idpath = format!("{FRONTEND_PATH}/backend-id");
    let domid = match xs.read_u32(&idpath) {
        Ok(d) if d <= u32::from(u16::MAX) => d as DomId,
        Ok(_) | Err(XsError::BadValue) => {
            return Err(HandshakeError::BadNode(idpath, "not a domain id"));
        }
        Err(XsError::NoEnt) => return Err(HandshakeError::NoDevice),
        Err(e) => return Err(e.into()),
    };
    Ok((path, domid))
}

/// Waits (watching `path`) until the backend is in `want` or later; fails
/// on Closing/Closed and after `timeout_ns`.
fn wait_state<T: Transport>(
    xs: &mut Xenstore<T>,
    path: &str,
    want: XenbusState,
    timeout_ns: u64,
) -> Result<XenbusState, HandshakeError> {
    watch_state(xs, path, want, timeout_ns, |s| {
        if s.is_closed() {
            Some(Err(HandshakeError::BackendClosed(s)))
        } else {
            (s >= want).then_some(Ok(s))
        }
    })
}

/// Watches the backend state at `path` until `done` returns a result for
/// it; fails with [`HandshakeError::TimedOut`] (naming `want`) after
/// `timeout_ns` (on the xenstore transport's clock). The watch has a token
/// of its own: no other watcher's events are seen or taken.
fn watch_state<T: Transport>(
    xs: &mut Xenstore<T>,
    path: &str,
    want: XenbusState,
    timeout_ns: u64,
    done: impl Fn(XenbusState) -> Option<Result<XenbusState, HandshakeError>>,
) -> Result<XenbusState, HandshakeError> {
    let deadline = xs.transport().now_ns().saturating_add(timeout_ns);
    xs.watch(path, WATCH_TOKEN)?;
    let result = loop {
        let s = match read_state(xs, path) {
            Ok(s) => s,
            Err(e) => break Err(e.into()),
        };
        if let Some(r) = done(s) {
            break r;
        }
        // Checked here too, not only when a wait ends empty: a backend that
        // keeps writing its state fires the watch at every turn.
        if xs.transport().now_ns() >= deadline {
            break Err(HandshakeError::TimedOut { want, seen: s });
        }
        match xs.wait_watch_until(WATCH_TOKEN, deadline) {
            Ok(Some(_)) => {}
            Ok(None) | Err(XsError::TimedOut) => {
                break Err(HandshakeError::TimedOut { want, seen: s });
            }
            Err(e) => break Err(e.into()),
        }
    };
    // The watch is ours (its queue goes with it); failing to remove it
    // changes nothing for the caller.
    let _ = xs.unwatch(path, WATCH_TOKEN);
    result
}

/// Runs the whole handshake and returns the connected frontend. On failure
/// after the command ring was allocated, it is freed again (the backend
/// never mapped it, or its mapping is ended before reuse).
pub fn connect<T: Transport, P: Platform>(
    xs: &mut Xenstore<T>,
    platform: P,
    cfg: Config,
) -> Result<(Frontend<P>, BackendInfo), HandshakeError> {
    let (bpath, domid) = find_backend(xs)?;
    let state_path = format!("{bpath}/state");
    wait_state(xs, &state_path, XenbusState::InitWait, cfg.timeout_ns)?;

    let vpath = format!("{bpath}/versions");
    let versions = xs.read_string(&vpath)?;
    if !versions.split(',').any(|v| v.trim() == PVCALLS_VERSION) {
        return Err(HandshakeError::UnsupportedVersion(versions));
    }
    let fpath = format!("{bpath}/function-calls");
    let calls = xs.try_read(&fpath)?.map(|v| String::from_utf8_lossy(&v).into_owned());
    match calls {
        Some(c) if c.trim() == XENBUS_FUNCTIONS_CALLS => {}
        other => return Err(HandshakeError::NoFunctionCalls(other.unwrap_or_default())),
    }
    let opath = format!("{bpath}/max-page-order");
    let max_page_order = match xs.read_u32(&opath) {
        Ok(o) => o,
        Err(XsError::NoEnt) => skiff_xen::pvcalls::MAX_RING_ORDER,
        Err(XsError::BadValue) => return Err(HandshakeError::BadNode(opath, "not a number")),
        Err(e) => return Err(e.into()),
    };
    if max_page_order < 1 {
        return Err(HandshakeError::BadPageOrder(max_page_order));
    }
    let rpath = format!("{bpath}/{FEATURE_UNPROMPTED_READ}");
    let unprompted_read = xs.try_read(&rpath)?.is_some_and(|v| v.trim_ascii() == b"1");
    let info = BackendInfo { path: bpath, domid, max_page_order, unprompted_read };
    let mut options = cfg.options;
    if unprompted_read {
        options.answer_events = false;
    }

    let mut fe = Frontend::new(platform, domid, max_page_order, options).map_err(|e| {
        if e == Errno::EINVAL {
            HandshakeError::BadPageOrder(cfg.options.ring_order.unwrap_or(max_page_order))
        } else {
            HandshakeError::Resources(e)
        }
    })?;
    match publish_and_wait(xs, &mut fe, &state_path, cfg.timeout_ns) {
        Ok(()) => Ok((fe, info)),
        Err(e) => {
            fe.teardown();
            Err(e)
        }
    }
}

fn publish_and_wait<T: Transport, P: Platform>(
    xs: &mut Xenstore<T>,
    fe: &mut Frontend<P>,
    state_path: &str,
    timeout_ns: u64,
) -> Result<(), HandshakeError> {
    let ring_ref = format!("{}", fe.cmd_ring_ref());
    let port = format!("{}", fe.cmd_port());
    xs.transaction(|tx| {
        tx.write(&format!("{FRONTEND_PATH}/version"), PVCALLS_VERSION)?;
        tx.write(&format!("{FRONTEND_PATH}/ring-ref"), &ring_ref)?;
        tx.write(&format!("{FRONTEND_PATH}/port"), &port)?;
        set_state(tx, XenbusState::Initialised)
    })?;
    wait_state(xs, state_path, XenbusState::Connected, timeout_ns)?;
    set_state(xs, XenbusState::Connected)?;
    Ok(())
}

/// Frontend-initiated close (spec "State Machine"): Closing, wait for the
/// backend to close (it unmaps everything), tear the rings down, Closed.
/// The rings are torn down whatever happens on the way (a failed xenstore
/// write, a backend that does not close in time): pages the backend still
/// maps are leaked, everything else is given back. The first error is
/// returned.
pub fn disconnect<T: Transport, P: Platform>(
    xs: &mut Xenstore<T>,
    fe: &mut Frontend<P>,
    info: &BackendInfo,
    timeout_ns: u64,
) -> Result<(), HandshakeError> {
    fe.release_all();
    let closing = XenbusState::Closing;
    let r = set_state(xs, closing).map_err(HandshakeError::from).and_then(|()| {
        watch_state(xs, &info.state_path(), closing, timeout_ns, |s| {
            (s.is_closed() || s == XenbusState::Unknown).then_some(Ok(s))
        })
    });
    fe.teardown();
    let closed = set_state(xs, XenbusState::Closed).map_err(HandshakeError::from);
    r.and(closed).map(|_| ())
}

/// Backend-initiated close, once [`backend_state`] reports Closing or
/// Closed (the toolstack removes the device: libxl sets the backend's
/// `online` to 0 and its `state` to Closing, then waits for Closed).
///
/// Switches the frontend to Closed, as Linux's frontends do
/// (`xenbus_frontend_closed`). Linux's backend reacts only to the
/// frontend's state: it unmaps every ring (`backend_disconnect`) and goes
/// Closed itself. This waits for that up to `timeout_ns`, then fails every
/// socket, frees the rings of sockets already closing and gives back the
/// command ring. Sockets the application still holds keep failing; their
/// rings are given back as they are closed. Rings the backend still maps
/// (it timed out, or the toolstack removed its node without it: `Unknown`,
/// reported as [`HandshakeError::BackendVanished`]) are leaked rather than
/// reused. The frontend does not connect again.
pub fn backend_closing<T: Transport, P: Platform>(
    xs: &mut Xenstore<T>,
    fe: &mut Frontend<P>,
    info: &BackendInfo,
    timeout_ns: u64,
) -> Result<(), HandshakeError> {
    // Sockets fail only after the wait (in `teardown`): rings of sockets
    // already closing are freed then, once the backend has unmapped them,
    // not now, while it still maps them. Nothing else runs on `fe` while
    // this waits.
    let closed = XenbusState::Closed;
    let r = set_state(xs, closed).map_err(HandshakeError::from).and_then(|()| {
        watch_state(xs, &info.state_path(), closed, timeout_ns, |s| match s {
            XenbusState::Closed => Some(Ok(s)),
            XenbusState::Unknown => Some(Err(HandshakeError::BackendVanished)),
            _ => None,
        })
    });
    fe.teardown();
    r.map(|_| ())
}
