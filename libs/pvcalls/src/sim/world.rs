//! A deterministic simulated machine: the fake hypervisor, a virtual clock, the scripted backend, and a checked shutdown.

use std::cell::{RefCell, RefMut};
use std::rc::Rc;
use std::sync::Arc;

use super::BACKEND_DOMID;
use super::clock::VirtualClock;
use super::fake_platform::FakePlatform;
use super::host::SimHost;
use super::invariants::{self, Violation};
use super::scripted::{Autopilot, ScriptedBackend};
use super::tamper::Tamper;
use crate::{Errno, Frontend, Options};

/// The frontend type of a [`FakeWorld`].
pub type FakeFrontend = Frontend<FakePlatform>;

/// How a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Shutdown {
    /// Every socket released, the backend lets the rest of its script run
    /// and then cooperates for a while, disconnects (unmapping everything
    /// if `unmaps`, else keeping its mappings), the frontend tears down
    /// and is dropped.
    Clean {
        /// The backend unmaps everything when it disconnects.
        unmaps: bool,
    },
    /// The frontend is dropped as it is, without a teardown.
    Drop,
}

/// Waits a clean shutdown gives the backend to answer the releases.
const SHUTDOWN_WAITS: u32 = 256;

/// One machine: the host, the clock, a [`Tamper`] every page block of
/// the frontend obeys, and the [`ScriptedBackend`], which runs whenever
/// the frontend waits.
#[derive(Debug, Clone)]
pub struct FakeWorld {
    /// The hypervisor.
    pub host: Arc<SimHost>,
    /// Virtual time.
    pub clock: VirtualClock,
    /// Stores into the frontend's pages between its loads.
    pub tamper: Tamper,
    backend: Rc<RefCell<ScriptedBackend>>,
}

impl Default for FakeWorld {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeWorld {
    /// An empty machine with a silent, unconnected backend.
    pub fn new() -> Self {
        let host = Arc::new(SimHost::new());
        let backend = Rc::new(RefCell::new(ScriptedBackend::new(host.clone())));
        FakeWorld { host, clock: VirtualClock::new(), tamper: Tamper::new(), backend }
    }

    /// The backend. Do not hold the guard across frontend calls: the
    /// frontend runs the backend when it waits.
    pub fn backend(&self) -> RefMut<'_, ScriptedBackend> {
        self.backend.borrow_mut()
    }

    /// A platform for a frontend of this machine.
    pub fn platform(&self) -> FakePlatform {
        FakePlatform::new(self.host.clone(), self.clock.clone())
            .with_peer(self.backend.clone())
            .with_tamper(self.tamper.clone())
    }

    /// A frontend whose command ring the backend has mapped, as after the
    /// xenbus handshake (backend `max-page-order` given).
    pub fn connect(&self, max_page_order: u32, opts: Options) -> Result<FakeFrontend, Errno> {
        let fe = Frontend::new(self.platform(), BACKEND_DOMID, max_page_order, opts)?;
        self.backend().max_order = max_page_order;
        self.backend().connect(fe.cmd_ring_ref(), fe.cmd_port()).map_err(|_| Errno::EIO)?;
        Ok(fe)
    }

    /// The invariants that hold at any time while `fe` runs.
    pub fn check(&self, fe: &FakeFrontend) -> Result<(), Violation> {
        invariants::frontend(fe, &self.host.stats())?;
        invariants::leaks_justified(&fe.platform().leaks(), fe.gone_reason())
    }

    /// Ends the run as `how` says and checks that nothing is held but
    /// what had to be leaked.
    pub fn shutdown(&self, mut fe: FakeFrontend, how: Shutdown) -> Result<(), Violation> {
        self.check(&fe)?;
        let unmaps = match how {
            Shutdown::Drop => {
                drop(fe);
                return invariants::dropped(
                    &self.host.stats(),
                    self.host.grants_name_live_frames(),
                );
            }
            Shutdown::Clean { unmaps } => unmaps,
        };
        fe.release_all();
        self.backend().set_autopilot(Autopilot::Cooperative);
        for _ in 0..SHUTDOWN_WAITS {
            if fe.resources().sockets == 0 && self.backend().script_len() == 0 {
                break;
            }
            let now = fe.now_ns();
            fe.wait(Some(now.saturating_add(fe.platform().tick_ns)));
            self.check(&fe)?;
        }
        if unmaps {
            self.backend().disconnect();
        }
        fe.teardown();
        invariants::torn_down(&fe.resources(), &self.host.stats())?;
        let gone = fe.gone_reason();
        drop(fe);
        invariants::dropped(&self.host.stats(), self.host.grants_name_live_frames())?;
        invariants::leaks_justified(&self.host.leak_record(), gone)
    }
}
