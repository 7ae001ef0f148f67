//! The [`Stack`] trait: how every socket face reaches the one PV Calls engine instance.

use alloc::rc::Rc;
use core::cell::RefCell;

use skiff_pvcalls::{Errno, Frontend, Platform};

/// A handle to the single PV Calls engine ([`Frontend`]) that all socket
/// faces share.
///
/// Every socket object keeps a clone, so cloning must be cheap (a
/// zero-sized type over a global, an `Rc`, a reference). The kernel
/// implements it over its global `spin::Mutex<Option<Frontend<_>>>`: with
/// one vCPU and one thread, holding the lock while waiting is fine.
///
/// [`with`](Self::with) must not be called again from inside its closure
/// (a `RefCell` would panic, a spin lock would deadlock); nothing in this
/// crate does.
pub trait Stack: Clone {
    /// The platform the engine runs on.
    type P: Platform;

    /// Makes sure the engine exists before a socket is created: a stack
    /// that connects to its backend on first use does it here and reports
    /// a missing backend as an error (the kernel's gives `ENETDOWN`).
    /// Every face calls it before `socket`; [`with`](Self::with) is then
    /// only called for sockets that exist.
    fn open(&self) -> Result<(), Errno> {
        Ok(())
    }

    /// Runs `f` with exclusive access to the engine.
    fn with<R>(&self, f: impl FnOnce(&mut Frontend<Self::P>) -> R) -> R;

    /// Sleeps until an event arrives or `deadline_ns` passes, then lets the
    /// engine process what arrived ([`Frontend::wait`]). An implementation
    /// may override this to wait without holding its lock.
    fn wait(&self, deadline_ns: Option<u64>) {
        self.with(|fe| fe.wait(deadline_ns));
    }

    /// Monotonic time in nanoseconds ([`Frontend::now_ns`]).
    fn now_ns(&self) -> u64 {
        self.with(|fe| fe.now_ns())
    }
}

/// A single-threaded shared engine, ready to use in tests and simple apps.
impl<P: Platform> Stack for Rc<RefCell<Frontend<P>>> {
    type P = P;

    fn with<R>(&self, f: impl FnOnce(&mut Frontend<P>) -> R) -> R {
        f(&mut self.borrow_mut())
    }
}
