//! The xenstore driver: the `skiff-xenstore` client over the xenstore page
//! and event channel from `HVM_PARAM_STORE_PFN`/`_EVTCHN`, with watch events
//! kept per token for whoever asked for them.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use skiff_xen::hvm::{PARAM_STORE_EVTCHN, PARAM_STORE_PFN};
use skiff_xenstore::{Transaction, Transport, Xenstore};
use spin::Mutex;

pub use skiff_xenstore::{WatchEvent, XsError as Error, XsIo};

use super::rawmem::RawMem;
use super::{evtchn, hvm};
use crate::time::Instant;

/// How long one request waits for xenstored before failing with
/// [`Error::TimedOut`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Watch events kept per connection before the oldest are dropped.
const MAX_QUEUED_EVENTS: usize = 256;

/// The kernel's side of the xenstore connection.
#[derive(Debug)]
pub struct KernelTransport {
    mem: RawMem,
    port: u32,
}

impl Transport for KernelTransport {
    type Mem = RawMem;

    fn mem(&self) -> &RawMem {
        &self.mem
    }

    fn notify(&mut self) {
        let _ = evtchn::send(self.port);
    }

    fn wait_until(&mut self, deadline_ns: u64) -> Result<(), Error> {
        let limit = Instant::now() + REQUEST_TIMEOUT;
        if deadline_ns >= limit.as_nanos() {
            return self.wait();
        }
        // A deadline the caller chose: running into it is no fault of
        // xenstored's, so nothing is logged.
        if crate::wait::wait_port(self.port, Some(Instant::from_nanos(deadline_ns))) {
            Ok(())
        } else {
            Err(Error::TimedOut)
        }
    }

    fn wait(&mut self) -> Result<(), Error> {
        // The fired flag stays set until taken, so an event that arrived
        // before this call is not lost.
        if crate::wait::wait_port(self.port, Some(Instant::now() + REQUEST_TIMEOUT)) {
            Ok(())
        } else {
            use skiff_ring::SharedMem;
            use skiff_xen::xs_wire::intf;
            let (pending, masked, fired, upcall, sel) = evtchn::port_state(self.port);
            let idx = |o| self.mem.load_u32(o);
            log::warn!(
                "xenstore: no reply in {}s: port {} pending={pending} masked={masked} \
                 fired={fired} upcall_pending={upcall} sel={sel:#x} generation={} \
                 req cons/prod {}/{} rsp cons/prod {}/{}",
                REQUEST_TIMEOUT.as_secs(),
                self.port,
                evtchn::generation(),
                idx(intf::REQ_CONS),
                idx(intf::REQ_PROD),
                idx(intf::RSP_CONS),
                idx(intf::RSP_PROD)
            );
            Err(Error::TimedOut)
        }
    }
}

/// A transaction opened by [`transaction`].
pub type Tx<'a> = Transaction<'a, KernelTransport>;

static XS: Mutex<Option<Xenstore<KernelTransport>>> = Mutex::new(None);
static EVENTS: Mutex<VecDeque<WatchEvent>> = Mutex::new(VecDeque::new());
static PORT: AtomicU32 = AtomicU32::new(u32::MAX);

/// Connects to xenstored through the page and port Xen gives this domain.
pub fn init() -> Result<(), crate::xen::hypercall::XenError> {
    let pfn = hvm::get_param(PARAM_STORE_PFN)?;
    let port = hvm::get_param(PARAM_STORE_EVTCHN)? as u32;
    evtchn::track(port);
    log::debug!("xenstore: page at frame {pfn:#x}, event channel {port}");
    // SAFETY: Xen's xenstore page for this domain, identity-mapped below
    // 4 GiB and shared only with xenstored.
    let mem = unsafe { RawMem::new((pfn << 12) as usize, 4096) };
    *XS.lock() = Some(Xenstore::new(KernelTransport { mem, port }));
    PORT.store(port, Ordering::Release);
    Ok(())
}

/// Runs `f` on the connection (for protocol code generic over
/// `skiff-xenstore`), then moves arrived watch events to the per-token queue.
pub fn with_connection<R>(
    f: impl FnOnce(&mut Xenstore<KernelTransport>) -> Result<R, Error>,
) -> Result<R, Error> {
    with(f)
}

/// Runs `f` on the connection, then moves arrived watch events to the
/// per-token queue.
fn with<R>(f: impl FnOnce(&mut Xenstore<KernelTransport>) -> Result<R, Error>) -> Result<R, Error> {
    let mut guard = XS.lock();
    let xs = guard.as_mut().ok_or(Error::Io)?;
    let r = f(xs);
    stash_events(xs);
    r
}

fn stash_events(xs: &mut Xenstore<KernelTransport>) {
    let mut q = EVENTS.lock();
    while let Ok(Some(ev)) = xs.poll_watch() {
        if q.len() == MAX_QUEUED_EVENTS {
            q.pop_front();
        }
        q.push_back(ev);
    }
}

/// Whether a request is in progress (the connection is locked).
pub fn is_busy() -> bool {
    XS.is_locked()
}

/// Reads responses and watch events that have arrived, without blocking.
pub fn pump() -> Result<(), Error> {
    with(|xs| xs.pump())
}

/// [`pump`]s only if xenstored signalled since the last look: cheap enough
/// to call on every wake-up.
pub fn pump_if_fired() -> Result<(), Error> {
    let port = PORT.load(Ordering::Acquire);
    if port != u32::MAX && evtchn::take_fired(port) {
        pump()
    } else {
        Ok(())
    }
}

/// `XS_READ` as text.
pub fn read(path: &str) -> Result<String, Error> {
    with(|xs| xs.read_string(path))
}

/// `XS_WRITE`.
pub fn write(path: &str, value: &str) -> Result<(), Error> {
    with(|xs| xs.write(path, value))
}

/// `XS_DIRECTORY`.
pub fn directory(path: &str) -> Result<Vec<String>, Error> {
    with(|xs| xs.directory(path))
}

/// `XS_RM`.
pub fn rm(path: &str) -> Result<(), Error> {
    with(|xs| xs.rm(path))
}

/// This domain's id (the `domid` node of its home).
pub fn domid() -> Result<u16, Error> {
    let id = with(|xs| xs.read_u32("domid"))?;
    u16::try_from(id).map_err(|_| Error::BadValue)
}

/// Watches `path` (and below); events are delivered to `token`.
pub fn watch(path: &str, token: &str) -> Result<(), Error> {
    with(|xs| xs.watch(path, token))
}

/// Removes a watch.
pub fn unwatch(path: &str, token: &str) -> Result<(), Error> {
    with(|xs| xs.unwatch(path, token))?;
    EVENTS.lock().retain(|e| e.token != token);
    Ok(())
}

/// Takes the oldest queued event for `token`, if any (never blocks).
pub fn take_watch_event(token: &str) -> Option<WatchEvent> {
    let mut q = EVENTS.lock();
    let i = q.iter().position(|e| e.token == token)?;
    q.remove(i)
}

/// Waits until an event for `token` arrives or `deadline` passes.
pub fn wait_watch_event(token: &str, deadline: Option<Instant>) -> Option<WatchEvent> {
    let mut got = None;
    crate::wait::block_until(deadline, || {
        got = take_watch_event(token).or_else(|| {
            let _ = pump();
            take_watch_event(token)
        });
        got.is_some()
    });
    got
}

/// Runs `f` in a transaction and commits it, retrying on `EAGAIN`.
pub fn transaction<R>(f: impl FnMut(&mut Tx<'_>) -> Result<R, Error>) -> Result<R, Error> {
    with(|xs| xs.transaction(f))
}
