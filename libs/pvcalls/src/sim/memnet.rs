//! Sockets of the simulated dom0: host TCP, or in-memory peers as fast as `memcpy` (for benchmarks).
//!
//! [`SimBackend`](super::SimBackend) moves data between a data ring and a
//! [`SimSocket`]. CONNECT gives it a host [`TcpStream`], unless the
//! address is routed to an in-memory service in the world's [`MemNet`]:
//!
//! - [`MemSink`] takes everything sent to it and counts it;
//! - [`MemSource`] sends pattern bytes, as many as it is granted
//!   ([`MemSource::grant`]) or without end;
//! - [`MemEcho`] sends back what it receives.
//!
//! They let a benchmark measure the frontend and the simulated machine
//! without a loopback TCP connection in the path. The backend's side of the
//! copy is the one `pvcalls-back` makes: it reads `out` once into the
//! socket, and fills `in` from the socket's own buffer
//! ([`SimSocket::recv`] hands out the source's bytes without a copy, as
//! `inet_recvmsg` copies from the socket buffer straight into the ring).
//!
//! Linux's `pvcalls-back` reads its socket again whenever new data arrives
//! (`sk_data_ready` runs the I/O worker), not only on the frontend's events.
//! A host TCP socket does not tell the simulation when data arrives, so the
//! backend refills a full `in` only on an event for those; in-memory peers
//! report their arrivals ([`SimSocket::data_ready`]).

use std::boxed::Box;
use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::vec::Vec;

use super::host::SimHost;
use super::peers::pattern;

/// A connected socket of the simulated backend (non-blocking).
pub trait SimSocket: Send {
    /// Sends what the socket takes of `data` (`WouldBlock` if nothing).
    fn send(&mut self, data: &[u8]) -> io::Result<usize>;

    /// Receives up to `max` bytes (`max > 0`): either read into `scratch`
    /// (at least `max` bytes long) or handed out of the socket's own
    /// buffer. An empty slice is the end of the stream; `WouldBlock` if
    /// nothing is there.
    fn recv<'a>(&'a mut self, scratch: &'a mut [u8], max: usize) -> io::Result<&'a [u8]>;

    /// Whether data arrived since the previous call (`sk_data_ready`). A
    /// socket that cannot tell says no: the backend then reads it on its
    /// own schedule and refills a full `in` only on the frontend's events.
    fn data_ready(&mut self) -> bool {
        false
    }

    /// Whether a read would find something now (data or the end of the
    /// stream), without taking it. A socket that cannot tell says no.
    fn more_queued(&mut self) -> bool {
        false
    }
}

impl SimSocket for TcpStream {
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write(data)
    }

    fn recv<'a>(&'a mut self, scratch: &'a mut [u8], max: usize) -> io::Result<&'a [u8]> {
        let n = self.read(&mut scratch[..max])?;
        Ok(&scratch[..n])
    }

    fn more_queued(&mut self) -> bool {
        self.peek(&mut [0u8]).is_ok()
    }
}

/// An in-memory service: what a connection to its address talks to.
pub trait MemService: Send + Sync {
    /// A new connection; `host` is the machine, to wake the backend when
    /// data arrives without an event.
    fn connect(&self, host: &Arc<SimHost>) -> Box<dyn SimSocket>;
}

/// Addresses served in memory by the simulated backend. Cloning shares the
/// routes; the default routes nothing (every CONNECT goes to host TCP).
#[derive(Clone, Default)]
pub struct MemNet {
    routes: Arc<Mutex<HashMap<SocketAddrV4, Arc<dyn MemService>>>>,
}

impl core::fmt::Debug for MemNet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemNet").field("routes", &self.lock().len()).finish()
    }
}

impl MemNet {
    /// No routes.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SocketAddrV4, Arc<dyn MemService>>> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves connections to `addr` with `service` (replacing a route).
    pub fn route(&self, addr: SocketAddrV4, service: Arc<dyn MemService>) {
        self.lock().insert(addr, service);
    }

    /// The service for `addr`, if it is routed.
    pub fn service(&self, addr: SocketAddrV4) -> Option<Arc<dyn MemService>> {
        self.lock().get(&addr).cloned()
    }
}

/// Sets a socket's wake-up target once it is connected.
#[derive(Default)]
struct Waker(Mutex<Option<Arc<SimHost>>>);

impl Waker {
    fn set(&self, host: &Arc<SimHost>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(host.clone());
    }

    fn wake(&self) {
        if let Some(h) = self.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            h.wake_back();
        }
    }
}

/// A peer that receives everything and counts the bytes (shared by all
/// its connections).
#[derive(Debug, Default)]
pub struct MemSink {
    received: Arc<AtomicU64>,
}

impl MemSink {
    /// A sink that has received nothing.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Acquire)
    }
}

struct SinkSocket(Arc<AtomicU64>);

impl SimSocket for SinkSocket {
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.fetch_add(data.len() as u64, Ordering::Release);
        Ok(data.len())
    }

    fn recv<'a>(&'a mut self, _: &'a mut [u8], _: usize) -> io::Result<&'a [u8]> {
        Err(ErrorKind::WouldBlock.into())
    }
}

impl MemService for MemSink {
    fn connect(&self, _: &Arc<SimHost>) -> Box<dyn SimSocket> {
        Box::new(SinkSocket(self.received.clone()))
    }
}

/// Bytes a [`MemSource`] hands out per call at most, and the length of
/// its pattern.
const SOURCE_CHUNK: usize = 64 * 1024;

/// A peer that sends [`pattern`] bytes (seed 1, repeating every 64 KiB):
/// as many as it has been granted, or without end. Its connections share
/// the grant.
pub struct MemSource {
    data: Arc<[u8]>,
    /// Bytes it may still send (`u64::MAX`: no limit).
    credit: Arc<AtomicU64>,
    waker: Arc<Waker>,
}

impl core::fmt::Debug for MemSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemSource").field("credit", &self.credit()).finish_non_exhaustive()
    }
}

impl MemSource {
    /// A source that sends only what it is granted.
    pub fn new() -> Arc<Self> {
        Self::with_credit(0)
    }

    /// A source that never stops.
    pub fn endless() -> Arc<Self> {
        Self::with_credit(u64::MAX)
    }

    fn with_credit(credit: u64) -> Arc<Self> {
        Arc::new(MemSource {
            data: pattern(SOURCE_CHUNK, 1).into(),
            credit: Arc::new(AtomicU64::new(credit)),
            waker: Arc::new(Waker::default()),
        })
    }

    /// Lets it send `bytes` more (data arrives: the backend is woken).
    pub fn grant(&self, bytes: u64) {
        let _ = self.credit.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
            Some(if c == u64::MAX { c } else { c.saturating_add(bytes) })
        });
        self.waker.wake();
    }

    /// Bytes it may still send.
    pub fn credit(&self) -> u64 {
        self.credit.load(Ordering::Acquire)
    }
}

struct SourceSocket {
    data: Arc<[u8]>,
    credit: Arc<AtomicU64>,
    pos: usize,
}

impl SourceSocket {
    /// Takes up to `want` bytes of credit.
    fn take(&self, want: usize) -> usize {
        let mut got = 0;
        let _ = self.credit.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
            got = (want as u64).min(c) as usize;
            Some(if c == u64::MAX { c } else { c - got as u64 })
        });
        got
    }
}

impl SimSocket for SourceSocket {
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        Ok(data.len())
    }

    fn recv<'a>(&'a mut self, _: &'a mut [u8], max: usize) -> io::Result<&'a [u8]> {
        let n = self.take(max.min(self.data.len() - self.pos));
        if n == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        let at = self.pos;
        self.pos = (at + n) % self.data.len();
        Ok(&self.data[at..at + n])
    }

    /// The peer keeps sending while it has credit: data keeps arriving.
    fn data_ready(&mut self) -> bool {
        self.credit.load(Ordering::Acquire) > 0
    }
}

impl MemService for MemSource {
    fn connect(&self, host: &Arc<SimHost>) -> Box<dyn SimSocket> {
        self.waker.set(host);
        Box::new(SourceSocket { data: self.data.clone(), credit: self.credit.clone(), pos: 0 })
    }
}

/// How much a [`MemEcho`] connection holds before it stops taking data
/// (like a socket's send buffer).
const ECHO_BUFFER: usize = 256 * 1024;

/// A peer that sends back everything it receives, per connection.
#[derive(Debug, Default)]
pub struct MemEcho;

impl MemEcho {
    /// An echo service.
    pub fn new() -> Arc<Self> {
        Arc::new(MemEcho)
    }
}

#[derive(Default)]
struct EchoSocket {
    queued: VecDeque<u8>,
    out: Vec<u8>,
    arrived: bool,
}

impl SimSocket for EchoSocket {
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(ECHO_BUFFER - self.queued.len());
        if n == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        self.queued.extend(&data[..n]);
        self.arrived = true;
        Ok(n)
    }

    fn recv<'a>(&'a mut self, _: &'a mut [u8], max: usize) -> io::Result<&'a [u8]> {
        let n = max.min(self.queued.len());
        if n == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        self.out.clear();
        self.out.extend(self.queued.drain(..n));
        Ok(&self.out)
    }

    fn data_ready(&mut self) -> bool {
        core::mem::take(&mut self.arrived)
    }
}

impl MemService for MemEcho {
    fn connect(&self, _: &Arc<SimHost>) -> Box<dyn SimSocket> {
        Box::<EchoSocket>::default()
    }
}
