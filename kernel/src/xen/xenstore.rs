//! The xenstore driver: the `skiff-xenstore` client over the xenstore page
//! and event channel from `HVM_PARAM_STORE_PFN`/`_EVTCHN`. Watch events
//! are routed by token inside the client, so every watcher has its own
//! queue; every request has a deadline of its own.

use alloc::string::String;
use alloc::vec::Vec;

use skiff_xen::hvm::{PARAM_STORE_EVTCHN, PARAM_STORE_PFN};
use skiff_xenstore::{Transaction, Transport, Xenstore};
use spin::{Mutex, MutexGuard};

pub use skiff_xenstore::{WatchEvent, XsError as Error, XsIo};

use super::rawmem::RawMem;
use super::{evtchn, hvm};
use crate::time::Instant;

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

    fn now_ns(&self) -> u64 {
        crate::time::now_ns()
    }

    fn wait_until(&mut self, deadline_ns: u64) -> Result<(), Error> {
        // The fired flag stays set until taken, so an event that arrived
        // before this call is not lost.
        let port = self.port;
        crate::wait::block_until(Some(Instant::from_nanos(deadline_ns)), || {
            evtchn::take_fired(port)
        });
        Ok(())
    }
}

impl KernelTransport {
    /// The connection's event channel.
    pub fn port(&self) -> u32 {
        self.port
    }
}

/// A transaction opened by [`transaction`].
pub type Tx<'a> = Transaction<'a, KernelTransport>;

static XS: Mutex<Option<Xenstore<KernelTransport>>> = Mutex::new(None);

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
    Ok(())
}

/// Runs `f` on the connection (for protocol code generic over
/// `skiff-xenstore`).
pub fn with_connection<R>(
    f: impl FnOnce(&mut Xenstore<KernelTransport>) -> Result<R, Error>,
) -> Result<R, Error> {
    let mut guard = XS.lock();
    f(guard.as_mut().ok_or(Error::Io)?)
}

/// Runs `f` on the connection if nobody is using it (`None` otherwise):
/// for idle hooks, which may run while a request of the kernel's waits.
pub fn try_with<R>(
    f: impl FnOnce(&mut Xenstore<KernelTransport>) -> Result<R, Error>,
) -> Option<Result<R, Error>> {
    let mut guard: MutexGuard<'_, _> = XS.try_lock()?;
    Some(f(guard.as_mut()?))
}

/// `XS_READ` as text.
pub fn read(path: &str) -> Result<String, Error> {
    with_connection(|xs| xs.read_string(path))
}

/// `XS_WRITE`.
pub fn write(path: &str, value: &str) -> Result<(), Error> {
    with_connection(|xs| xs.write(path, value))
}

/// `XS_DIRECTORY`.
pub fn directory(path: &str) -> Result<Vec<String>, Error> {
    with_connection(|xs| xs.directory(path))
}

/// `XS_RM`.
pub fn rm(path: &str) -> Result<(), Error> {
    with_connection(|xs| xs.rm(path))
}

/// This domain's id (the `domid` node of its home).
pub fn domid() -> Result<u16, Error> {
    let id = with_connection(|xs| xs.read_u32("domid"))?;
    u16::try_from(id).map_err(|_| Error::BadValue)
}

/// Watches `path` (and below); its events go to `token`'s own queue.
pub fn watch(path: &str, token: &str) -> Result<(), Error> {
    with_connection(|xs| xs.watch(path, token))
}

/// Removes a watch (and, with its token's last watch, the token's queue).
pub fn unwatch(path: &str, token: &str) -> Result<(), Error> {
    with_connection(|xs| xs.unwatch(path, token))
}

/// Takes the oldest event for `token`, reading what xenstored sent if its
/// event channel fired (never blocks).
pub fn take_watch_event(token: &str) -> Result<Option<WatchEvent>, Error> {
    with_connection(|xs| {
        if evtchn::take_fired(xs.transport().port()) {
            xs.poll_watch(token)
        } else {
            Ok(xs.take_watch(token))
        }
    })
}

/// Waits until an event for `token` arrives or `deadline` passes.
pub fn wait_watch_event(token: &str, deadline: Instant) -> Result<Option<WatchEvent>, Error> {
    with_connection(|xs| xs.wait_watch_until(token, deadline.as_nanos()))
}

/// Runs `f` in a transaction and commits it, retrying on `EAGAIN`.
pub fn transaction<R>(f: impl FnMut(&mut Tx<'_>) -> Result<R, Error>) -> Result<R, Error> {
    with_connection(|xs| xs.transaction(f))
}
