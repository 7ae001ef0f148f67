//! A simulated dom0 for host tests: hypervisor, xenstore, and `pvcalls-back` over real TCP sockets.
//!
//! - [`SimHost`]: frames, grant table (the backend maps grants by ref) and
//!   event channels (fired flags + a condition variable per side).
//! - [`SimPlatform`]: the frontend's [`Platform`](crate::Platform) on it.
//! - [`SimBackend`]: the backend's command and data logic, run on its own
//!   thread by [`SimWorld`], serving real `std::net` sockets.
//! - [`SimXs`]: a xenstore transport running [`SimXenstored`](skiff_xenstore::sim::SimXenstored)
//!   and the backend's xenbus driver on the frontend's thread.
//! - [`MemNet`]: addresses the backend serves with in-memory peers
//!   ([`MemSink`], [`MemSource`], [`MemEcho`]) instead of host TCP, for
//!   benchmarks.
//!
//! For deterministic, single-threaded runs (fuzzing, property tests):
//!
//! - [`ScriptedBackend`]: a hostile backend driven step by step by a
//!   script of [`Step`]s.
//! - [`FakePlatform`]: the frontend's platform on a [`VirtualClock`]
//!   whose waits never block; a [`Tamper`] can store into the frontend's
//!   pages between its loads.
//! - [`FakeWorld`]: all of them together, with a checked shutdown;
//!   [`invariants`]: the checks, usable on their own.

mod backend;
mod clock;
mod fake_platform;
mod host;
pub mod invariants;
mod memnet;
mod peers;
mod platform;
mod scripted;
mod tamper;
mod world;
mod xenbus;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use skiff_xenstore::Xenstore;

pub use backend::{BACKEND_DOMID, BackendConfig, BackendStats, SimBackend};
pub use clock::VirtualClock;
pub use fake_platform::{FakePages, FakePlatform, Limits, Peer};
pub use host::{Frame, HostStats, LeakRecord, MAX_PORTS, Mapped, SimHost};
pub use memnet::{MemEcho, MemNet, MemService, MemSink, MemSource, SimSocket};
pub use peers::{echo_server, free_port, localhost, pattern};
pub use platform::{SimPages, SimPlatform};
pub use scripted::{Answer, Autopilot, Inbound, ScriptStats, ScriptedBackend, Step};
pub use tamper::{Poke, Tamper};
pub use world::{FakeFrontend, FakeWorld, Shutdown};
pub use xenbus::{AgentConfig, SimXs, XenbusAgent};

use crate::Frontend;
use crate::handshake::{self, BackendInfo, HandshakeError};

/// The guest's domain id in the simulation.
pub const GUEST_DOMID: u32 = 7;

/// Settings of a simulated machine.
#[derive(Clone, Debug, Default)]
pub struct SimConfig {
    /// The backend's data path and command behaviour.
    pub backend: BackendConfig,
    /// The backend's xenbus behaviour.
    pub agent: AgentConfig,
    /// Addresses served in memory (default: none, all host TCP).
    pub net: MemNet,
}

/// A running simulated dom0: the machine and the backend thread. Dropping
/// it stops the thread.
#[derive(Debug)]
pub struct SimWorld {
    host: Arc<SimHost>,
    backend: Arc<Mutex<SimBackend>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Runs `backend` on a thread until `stop` is set: steps it, and sleeps on
/// the backend's event generation (at most 1 ms, to poll host sockets).
/// While an in-memory peer's data keeps arriving and nothing can move (its
/// `in` ring is full), the worker runs again after a short pause instead of
/// sleeping, as `sk_data_ready` runs Linux's worker on every arrival.
pub fn spawn_backend(
    host: Arc<SimHost>,
    backend: Arc<Mutex<SimBackend>>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut seen = host.back_gen();
        while !stop.load(Ordering::Acquire) {
            let (busy, arrived) = backend.lock().map(|mut b| b.step_io()).unwrap_or_default();
            if busy {
                continue;
            }
            if arrived {
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
                continue;
            }
            seen = host.wait_back(seen, Duration::from_millis(1));
        }
    })
}

impl SimWorld {
    /// Starts a machine: returns it, the guest's xenstore connection and
    /// the guest's platform.
    pub fn start(cfg: SimConfig) -> (SimWorld, Xenstore<SimXs>, SimPlatform) {
        let host = Arc::new(SimHost::new());
        let backend =
            Arc::new(Mutex::new(SimBackend::new(host.clone(), cfg.backend).with_net(cfg.net)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = spawn_backend(host.clone(), backend.clone(), stop.clone());
        let xs = Xenstore::new(SimXs::new(GUEST_DOMID, backend.clone(), cfg.agent));
        let platform = SimPlatform::new(host.clone());
        (SimWorld { host, backend, stop, thread: Some(thread) }, xs, platform)
    }

    /// Starts a machine and runs the handshake.
    #[allow(clippy::type_complexity)]
    pub fn connect(
        cfg: SimConfig,
        hs: handshake::Config,
    ) -> Result<(SimWorld, Xenstore<SimXs>, Frontend<SimPlatform>, BackendInfo), HandshakeError>
    {
        let (world, mut xs, platform) = Self::start(cfg);
        let (fe, info) = handshake::connect(&mut xs, platform, hs)?;
        Ok((world, xs, fe, info))
    }

    /// The machine.
    pub fn host(&self) -> &Arc<SimHost> {
        &self.host
    }

    /// The backend (locked; it pauses while the guard lives).
    pub fn backend(&self) -> MutexGuard<'_, SimBackend> {
        self.backend.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Backend counters.
    pub fn backend_stats(&self) -> BackendStats {
        self.backend().stats()
    }
}

impl Drop for SimWorld {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
