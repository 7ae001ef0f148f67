//! `poll()` over many fds (connected sockets, listeners, connects in progress) with a timeout.

use core::task::Poll;
use core::time::Duration;

use skiff_pvcalls::{Errno, Readiness};

use super::consts::*;
use super::{Fd, FdTable};
use crate::{NON_BLOCKING, Stack, block_on, deadline_after};

/// One entry of [`FdTable::poll`]'s array (`struct pollfd`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollFd {
    /// The fd; negative entries are skipped (`revents` 0).
    pub fd: Fd,
    /// Requested events (`POLLIN`, `POLLOUT`, `POLLRDHUP`).
    pub events: i16,
    /// Returned events; `POLLERR`, `POLLHUP` and `POLLNVAL` even if not requested.
    pub revents: i16,
}

impl PollFd {
    /// Watches `fd` for `events`.
    pub const fn new(fd: Fd, events: i16) -> Self {
        PollFd { fd, events, revents: 0 }
    }
}

/// Linux-style poll bits of an fd's readiness.
fn revents(r: Readiness, events: i16) -> i16 {
    let mut m = 0;
    if r.readable {
        m |= POLLIN;
    }
    if r.writable {
        m |= POLLOUT;
    }
    if r.error.is_some() {
        m |= POLLERR;
    }
    if r.rdhup {
        m |= POLLRDHUP;
    }
    if r.hup {
        m |= POLLHUP;
    }
    m & (events | POLLERR | POLLHUP | POLLNVAL)
}

impl<S: Stack> FdTable<S> {
    /// `poll(fds, timeout_ms)`: fills each `revents` and returns how many
    /// entries have some; waits until one does, or `timeout_ms` passes
    /// (`-1`: forever, `0`: check once), then returns 0. A listener is
    /// readable when a connection can be accepted (this arms an ACCEPT on
    /// it); a non-blocking connect becomes `POLLOUT` when it finishes
    /// (`POLLERR|POLLHUP` if it failed, see [`take_error`](Self::take_error)).
    pub fn poll(&mut self, fds: &mut [PollFd], timeout_ms: i32) -> Result<usize, Errno> {
        let deadline = match timeout_ms {
            t if t < 0 => None,
            0 => NON_BLOCKING,
            t => deadline_after(&self.stack, Some(Duration::from_millis(t as u64))),
        };
        let table = &self.fds;
        let r = block_on(&self.stack, deadline, |fe| {
            let mut ready = 0;
            for p in fds.iter_mut() {
                p.revents = 0;
                if p.fd < 0 {
                    continue;
                }
                let slot = super::slot_of(p.fd);
                let Some(e) = slot.and_then(|i| table.get(i)).and_then(Option::as_ref) else {
                    p.revents = POLLNVAL;
                    ready += 1;
                    continue;
                };
                p.revents = match fe.poll(e.id) {
                    Ok(r) => revents(r, p.events),
                    Err(_) => POLLNVAL,
                };
                if p.revents != 0 {
                    ready += 1;
                }
            }
            if ready > 0 { Poll::Ready(Ok(ready)) } else { Poll::Pending }
        });
        match r {
            Poll::Ready(r) => r,
            Poll::Pending => Ok(0),
        }
    }
}
