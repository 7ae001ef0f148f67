//! `bind` that waits out a port dom0 still holds from an earlier run of the guest (both faces).

use core::net::SocketAddr;
use core::time::Duration;

use skiff_pvcalls::Errno;

use crate::handle::Owned;
use crate::posix::{Fd, FdTable};
use crate::{Result, SockAddr, Stack, TcpListener, to_v4};

/// How often a patient bind tries again.
const RETRY_NS: u64 = 500_000_000;

/// Runs `bind` again every half second while it fails with `EADDRINUSE`,
/// for up to `patience`; `waiting` is called once, before the first wait.
fn retry_while_in_use<S: Stack>(
    stack: &S,
    patience: Duration,
    mut waiting: impl FnMut(),
    mut bind: impl FnMut() -> core::result::Result<(), Errno>,
) -> core::result::Result<(), Errno> {
    let patience_ns = u64::try_from(patience.as_nanos()).unwrap_or(u64::MAX);
    let deadline = stack.now_ns().saturating_add(patience_ns);
    let mut told = false;
    loop {
        match bind() {
            Err(Errno::EADDRINUSE) => {
                let now = stack.now_ns();
                if now >= deadline {
                    return Err(Errno::EADDRINUSE);
                }
                if !core::mem::replace(&mut told, true) {
                    waiting();
                }
                let until = now.saturating_add(RETRY_NS).min(deadline);
                while stack.now_ns() < until {
                    stack.wait(Some(until));
                }
            }
            r => return r,
        }
    }
}

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
        waiting: impl FnMut(),
    ) -> core::result::Result<(), Errno> {
        let stack = self.stack().clone();
        retry_while_in_use(&stack, patience, waiting, || self.bind(fd, addr))
    }
}

impl<S: Stack> TcpListener<S> {
    /// [`bind_in`](Self::bind_in) with a `backlog` of its own, waiting out a
    /// port dom0 still holds, as [`FdTable::bind_patiently`] does: tried
    /// again every half second while the port is in use, for up to
    /// `patience`; `waiting` is called once, before the first wait.
    pub fn bind_patiently_in(
        stack: &S,
        addr: impl Into<SocketAddr>,
        backlog: u32,
        patience: Duration,
        waiting: impl FnMut(),
    ) -> Result<Self> {
        let addr = to_v4(addr.into())?;
        let sock = Owned::socket(stack)?;
        let id = sock.id;
        retry_while_in_use(stack, patience, waiting, || {
            crate::block(stack, |fe| fe.bind(id, addr))
        })?;
        crate::block(stack, |fe| fe.listen(id, backlog))?;
        Ok(TcpListener::from_owned(sock))
    }
}
