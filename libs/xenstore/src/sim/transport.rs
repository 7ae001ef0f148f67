//! A [`Transport`] whose "event channel" steps a [`SimXenstored`] on the same thread.

use skiff_ring::HostMem;

use super::SimXenstored;
use crate::{Transport, XsError};

/// A xenstore page in [`HostMem`] served by a [`SimXenstored`] that runs
/// whenever the client waits: deterministic, single-threaded tests.
///
/// The clock is simulated: each wait steps the daemon once and advances it
/// by [`SimTransport::STEP_NS`]; a daemon with nothing to do means nothing
/// will happen before the deadline, so the clock jumps there.
#[derive(Debug)]
pub struct SimTransport {
    mem: HostMem,
    sim: SimXenstored,
    notifications: u64,
    now_ns: u64,
}

impl SimTransport {
    /// Simulated time one wait takes when the daemon had work.
    pub const STEP_NS: u64 = 1_000_000;

    /// A fresh page and daemon for domain `domid`.
    pub fn new(domid: u32) -> Self {
        SimTransport {
            mem: HostMem::pages(1),
            sim: SimXenstored::new(domid),
            notifications: 0,
            now_ns: 0,
        }
    }

    /// The simulated daemon.
    pub fn sim(&self) -> &SimXenstored {
        &self.sim
    }

    /// The simulated daemon, mutably (to change the tree or inject faults).
    pub fn sim_mut(&mut self) -> &mut SimXenstored {
        &mut self.sim
    }

    /// The page and the daemon together, for stepping by hand.
    pub fn parts(&mut self) -> (&HostMem, &mut SimXenstored) {
        (&self.mem, &mut self.sim)
    }

    /// How many times the client notified the daemon.
    pub fn notifications(&self) -> u64 {
        self.notifications
    }
}

impl Transport for SimTransport {
    type Mem = HostMem;

    fn mem(&self) -> &HostMem {
        &self.mem
    }

    fn notify(&mut self) {
        self.notifications += 1;
    }

    fn now_ns(&self) -> u64 {
        self.now_ns
    }

    fn wait_until(&mut self, deadline_ns: u64) -> Result<(), XsError> {
        match self.sim.step(&self.mem) {
            Ok(true) => self.now_ns = self.now_ns.saturating_add(Self::STEP_NS),
            Ok(false) => self.now_ns = self.now_ns.max(deadline_ns),
            Err(e) => return Err(XsError::Protocol(e)),
        }
        Ok(())
    }
}
