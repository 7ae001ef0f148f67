//! The xenbus side of the simulated backend and toolstack, and a xenstore transport that runs them.

use std::format;
use std::string::String;
use std::sync::{Arc, Mutex};

use skiff_ring::HostMem;
use skiff_xen::xenbus::XenbusState;
use skiff_xenstore::sim::SimXenstored;
use skiff_xenstore::{Transport, XsError};

use super::backend::SimBackend;

/// How the simulated backend behaves on xenbus.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Probe at all (write the feature nodes and go to InitWait). `false`:
    /// the backend stays in Initialising forever.
    pub probe: bool,
    /// `versions` (`None`: not written).
    pub versions: Option<String>,
    /// `function-calls` (`None`: not written).
    pub function_calls: Option<String>,
    /// `max-page-order` (`None`: not written).
    pub max_page_order: Option<String>,
    /// `feature-unprompted-read` (`None`: not written, as Linux's own
    /// backend; Skiff's patched one writes "1"). Say so only with
    /// [`BackendConfig::reset_needs_event`](super::BackendConfig) and
    /// [`BackendConfig::read_needs_event`](super::BackendConfig) off.
    pub unprompted_read: Option<String>,
    /// Whether the toolstack created the device at all.
    pub device: bool,
    /// Ignore the frontend going Closing/Closed (a backend that never
    /// disconnects, so its mappings stay).
    pub deaf_to_close: bool,
}

impl Default for AgentConfig {
    fn default() -> Self {
        // What Linux's pvcalls_back_probe writes.
        AgentConfig {
            probe: true,
            versions: Some("1".into()),
            function_calls: Some("1".into()),
            max_page_order: Some("4".into()),
            unprompted_read: None,
            device: true,
            deaf_to_close: false,
        }
    }
}

/// The backend's xenbus driver (`pvcalls_back_probe`, `pvcalls_back_changed`).
#[derive(Debug)]
pub struct XenbusAgent {
    domu: u32,
    backend: Arc<Mutex<SimBackend>>,
    cfg: AgentConfig,
    state: XenbusState,
    closing: bool,
}

impl XenbusAgent {
    /// The frontend directory (absolute).
    pub fn frontend_path(&self) -> String {
        format!("/local/domain/{}/device/pvcalls/0", self.domu)
    }

    /// The backend directory (absolute).
    pub fn backend_path(&self) -> String {
        format!("/local/domain/0/backend/pvcalls/{}/0", self.domu)
    }

    fn set_state(&mut self, xs: &mut SimXenstored, s: XenbusState) {
        self.state = s;
        let _ = xs.write(&format!("{}/state", self.backend_path()), s.as_str().as_bytes());
    }

    /// Creates the nodes libxl writes when the domain is built.
    fn toolstack(&self, xs: &mut SimXenstored) {
        if !self.cfg.device {
            return;
        }
        let (fe, be) = (self.frontend_path(), self.backend_path());
        let w = |xs: &mut SimXenstored, p: String, v: &str| {
            let _ = xs.write(&p, v.as_bytes());
        };
        w(xs, format!("{be}/frontend"), &fe);
        w(xs, format!("{be}/frontend-id"), &format!("{}", self.domu));
        w(xs, format!("{be}/online"), "1");
        w(xs, format!("{be}/state"), XenbusState::Initialising.as_str());
        w(xs, format!("{fe}/backend"), &be);
        w(xs, format!("{fe}/backend-id"), "0");
        w(xs, format!("{fe}/state"), XenbusState::Initialising.as_str());
    }

    /// Reacts to the frontend; returns whether it changed anything.
    pub fn step(&mut self, xs: &mut SimXenstored) -> bool {
        if !self.cfg.device {
            return false;
        }
        let be = self.backend_path();
        let fe = self.frontend_path();
        let read_u32 = |xs: &SimXenstored, p: &str| -> Option<u32> {
            core::str::from_utf8(xs.read(p)?).ok()?.trim().parse().ok()
        };
        let read_state = |xs: &SimXenstored, p: &str| -> Option<XenbusState> {
            XenbusState::parse(core::str::from_utf8(xs.read(p)?).ok()?)
        };
        if self.closing {
            if self.state != XenbusState::Closed {
                self.set_state(xs, XenbusState::Closed);
                return true;
            }
            return false;
        }
        match self.state {
            XenbusState::Initialising if self.cfg.probe => {
                for (k, v) in [
                    ("versions", &self.cfg.versions),
                    ("max-page-order", &self.cfg.max_page_order),
                    ("function-calls", &self.cfg.function_calls),
                    (crate::handshake::FEATURE_UNPROMPTED_READ, &self.cfg.unprompted_read),
                ] {
                    if let Some(v) = v {
                        let _ = xs.write(&format!("{be}/{k}"), v.as_bytes());
                    }
                }
                self.set_state(xs, XenbusState::InitWait);
                true
            }
            XenbusState::InitWait => {
                let fs = read_state(xs, &format!("{fe}/state"));
                if !matches!(fs, Some(XenbusState::Initialised | XenbusState::Connected)) {
                    return false;
                }
                let (Some(port), Some(rref)) =
                    (read_u32(xs, &format!("{fe}/port")), read_u32(xs, &format!("{fe}/ring-ref")))
                else {
                    return false;
                };
                let ok = self.backend.lock().map(|mut b| b.connect(rref, port).is_ok());
                if ok.unwrap_or(false) {
                    self.set_state(xs, XenbusState::Connected);
                } else {
                    self.set_state(xs, XenbusState::Closing);
                    self.closing = true;
                }
                true
            }
            XenbusState::Connected if !self.cfg.deaf_to_close => {
                let fs = read_state(xs, &format!("{fe}/state"));
                if fs.is_some_and(XenbusState::is_closed) {
                    self.close(xs);
                    return true;
                }
                false
            }
            _ => false,
        }
    }

    /// The backend leaves Connected: `backend_disconnect` releases every
    /// socket and unmaps everything, then Closing (and Closed on the next
    /// step).
    pub fn close(&mut self, xs: &mut SimXenstored) {
        if let Ok(mut b) = self.backend.lock() {
            b.disconnect();
        }
        self.set_state(xs, XenbusState::Closing);
        self.closing = true;
    }
}

/// A xenstore [`Transport`] whose waits run the simulated xenstored and
/// the backend's xenbus driver on the caller's thread (deterministic),
/// on a simulated clock: each wait that found work takes 1 ms; when
/// neither has anything to do, nothing happens before the deadline, and
/// the clock jumps there.
#[derive(Debug)]
pub struct SimXs {
    mem: HostMem,
    daemon: SimXenstored,
    agent: XenbusAgent,
    now_ns: u64,
}

impl SimXs {
    /// A xenstore for domain `domu` with the toolstack's nodes in place.
    pub fn new(domu: u32, backend: Arc<Mutex<SimBackend>>, cfg: AgentConfig) -> Self {
        let mut daemon = SimXenstored::new(domu);
        let agent =
            XenbusAgent { domu, backend, cfg, state: XenbusState::Initialising, closing: false };
        agent.toolstack(&mut daemon);
        SimXs { mem: HostMem::pages(1), daemon, agent, now_ns: 0 }
    }

    /// The simulated daemon.
    pub fn daemon(&mut self) -> &mut SimXenstored {
        &mut self.daemon
    }

    /// Makes the backend close by itself (`backend_disconnect`, then
    /// Closing and Closed), as when its driver goes away.
    pub fn close_backend(&mut self) {
        self.agent.close(&mut self.daemon);
    }

    /// What libxl does to remove the device: the backend's `online` to 0
    /// and its `state` to Closing, in xenstore only. Like Linux's backend,
    /// the simulated one acts only once the frontend closes.
    pub fn toolstack_remove(&mut self) {
        let be = self.agent.backend_path();
        let _ = self.daemon.write(&format!("{be}/online"), b"0");
        let _ = self.daemon.write(&format!("{be}/state"), XenbusState::Closing.as_str().as_bytes());
    }

    /// The backend's xenbus state.
    pub fn backend_state(&self) -> XenbusState {
        self.agent.state
    }
}

impl Transport for SimXs {
    type Mem = HostMem;

    fn mem(&self) -> &HostMem {
        &self.mem
    }

    fn notify(&mut self) {}

    fn now_ns(&self) -> u64 {
        self.now_ns
    }

    fn wait_until(&mut self, deadline_ns: u64) -> Result<(), XsError> {
        let a = self.agent.step(&mut self.daemon);
        match self.daemon.step(&self.mem) {
            Ok(d) if a || d => self.now_ns = self.now_ns.saturating_add(1_000_000),
            Ok(_) => self.now_ns = self.now_ns.max(deadline_ns),
            Err(e) => return Err(XsError::Protocol(e)),
        }
        Ok(())
    }
}
