//! `bind` that waits out a port dom0 still holds from an earlier run of the guest.

use core::time::Duration;

use skiff_pvcalls::Errno;

use super::{Fd, FdTable};
use crate::{SockAddr, Stack};

/// How often [`FdTable::bind_patiently`] tries again.
const RETRY_NS: u64 = 500_000_000;

impl<S: Stack> FdTable<S> {
    /// `bind`, tried again every half second while it fails with
    /// `EADDRINUSE`, for up to `patience`; `waiting` is called once, before
    /// the first wait, so a server can say why it is not listening yet.
    ///
    /// For servers that restart: Linux's `pvcalls-back` binds without
    /// `SO_REUSEADDR`, so after a guest reboot its port stays in use in dom0
    /// while connections the previous run closed sit in `TIME_WAIT` (60 s
    /// on Linux). A port another program holds gives `EADDRINUSE` too, once
    /// `patience` has passed.
    pub fn bind_patiently(
        &mut self,
        fd: Fd,
        addr: &SockAddr,
        patience: Duration,
        mut waiting: impl FnMut(),
    ) -> Result<(), Errno> {
        let patience_ns = u64::try_from(patience.as_nanos()).unwrap_or(u64::MAX);
        let deadline = self.stack.now_ns().saturating_add(patience_ns);
        let mut told = false;
        loop {
            match self.bind(fd, addr) {
                Err(Errno::EADDRINUSE) => {
                    let now = self.stack.now_ns();
                    if now >= deadline {
                        return Err(Errno::EADDRINUSE);
                    }
                    if !core::mem::replace(&mut told, true) {
                        waiting();
                    }
                    let until = now.saturating_add(RETRY_NS).min(deadline);
                    while self.stack.now_ns() < until {
                        self.stack.wait(Some(until));
                    }
                }
                r => return r,
            }
        }
    }
}
