//! A [`Transport`] whose "event channel" steps a [`SimXenstored`] on the same thread.

use skiff_ring::HostMem;

use super::SimXenstored;
use crate::{Transport, XsError};

/// A xenstore page in [`HostMem`] served by a [`SimXenstored`] that runs
/// whenever the client waits: deterministic, single-threaded tests.
///
/// `wait` steps the daemon once; if the daemon had nothing to do, the client
/// would wait forever, so `wait` fails with [`XsError::TimedOut`] instead.
#[derive(Debug)]
pub struct SimTransport {
    mem: HostMem,
    sim: SimXenstored,
    notifications: u64,
}

impl SimTransport {
    /// A fresh page and daemon for domain `domid`.
    pub fn new(domid: u32) -> Self {
        SimTransport { mem: HostMem::pages(1), sim: SimXenstored::new(domid), notifications: 0 }
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

    fn wait(&mut self) -> Result<(), XsError> {
        match self.sim.step(&self.mem) {
            Ok(true) => Ok(()),
            Ok(false) => Err(XsError::TimedOut),
            Err(e) => Err(XsError::Protocol(e)),
        }
    }
}
