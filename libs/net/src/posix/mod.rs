//! POSIX-like sockets: an fd table over the engine, Linux errnos, flags, timeouts and `poll()`.
//!
//! Arguments are converted once, here at the edge: fds to engine sockets
//! (`EBADF` for anything not open), `sockaddr_in` bytes to [`SockAddr`]
//! (see [`SockAddr::from_bytes`]), flag words to typed behaviour. Sockets
//! block by default; `SOCK_NONBLOCK`, [`FdTable::set_nonblocking`] /
//! `O_NONBLOCK` and `MSG_DONTWAIT` turn "would block" into `EAGAIN`
//! (`EINPROGRESS`/`EALREADY` for `connect`).
//!
//! A non-blocking `connect` returns `EINPROGRESS`; completion shows as
//! `POLLOUT` (with `POLLERR` on failure, read by [`FdTable::take_error`]
//! like `SO_ERROR`). Caveat: the Linux backend runs CONNECT inline on its
//! command ring, so while dom0 waits for the TCP handshake no other socket
//! command of this guest (bind, listen, accept, close, another connect) is
//! processed; data on connected sockets keeps flowing.

pub mod consts;
mod io;
mod poll;

use alloc::vec::Vec;
use core::task::Poll;
use core::time::Duration;

use skiff_pvcalls::{Errno, Peer, SocketId, SocketPhase};

use crate::{NON_BLOCKING, SockAddr, Stack, block, block_on, deadline_after};
use consts::*;

pub use poll::PollFd;

/// A file descriptor.
pub type Fd = i32;

/// One open fd: the engine socket and the flags of the fd. Where the
/// socket is (connecting, connected, listening, a connect's outcome not
/// reported yet) is the engine's to know: the table asks it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    id: SocketId,
    nonblocking: bool,
    rcvtimeo: Option<Duration>,
    sndtimeo: Option<Duration>,
}

impl Entry {
    fn new(id: SocketId, nonblocking: bool) -> Self {
        Entry { id, nonblocking, rcvtimeo: None, sndtimeo: None }
    }
}

/// The socket fd table: POSIX calls on small integers (lowest free first,
/// from [`FIRST_FD`]). Dropping the table closes every fd.
#[derive(Debug)]
pub struct FdTable<S: Stack> {
    stack: S,
    fds: Vec<Option<Entry>>,
}

impl<S: Stack> FdTable<S> {
    /// An empty table on `stack`.
    pub fn new(stack: S) -> Self {
        FdTable { stack, fds: Vec::new() }
    }

    /// The stack.
    pub fn stack(&self) -> &S {
        &self.stack
    }

    /// Number of open fds.
    pub fn open_fds(&self) -> usize {
        self.fds.iter().filter(|e| e.is_some()).count()
    }

    fn entry(&self, fd: Fd) -> Result<&Entry, Errno> {
        let i = slot_of(fd).ok_or(Errno::EBADF)?;
        self.fds.get(i).and_then(Option::as_ref).ok_or(Errno::EBADF)
    }

    fn entry_mut(&mut self, fd: Fd) -> Result<&mut Entry, Errno> {
        let i = slot_of(fd).ok_or(Errno::EBADF)?;
        self.fds.get_mut(i).and_then(Option::as_mut).ok_or(Errno::EBADF)
    }

    /// The lowest free slot, or `EMFILE`.
    fn free_slot(&self) -> Result<usize, Errno> {
        match self.fds.iter().position(Option::is_none) {
            Some(i) => Ok(i),
            None if self.fds.len() < MAX_FDS => Ok(self.fds.len()),
            None => Err(Errno::EMFILE),
        }
    }

    fn install(&mut self, slot: usize, e: Entry) -> Fd {
        if slot == self.fds.len() {
            self.fds.push(Some(e));
        } else {
            self.fds[slot] = Some(e);
        }
        slot as Fd + FIRST_FD
    }

    /// The engine socket behind `fd`.
    pub fn socket_id(&self, fd: Fd) -> Result<SocketId, Errno> {
        Ok(self.entry(fd)?.id)
    }

    /// `socket(domain, type, protocol)`: only `AF_INET`/`SOCK_STREAM`/0 or
    /// `IPPROTO_TCP` exist (`EAFNOSUPPORT` for `AF_INET6`, ...). `type` may
    /// carry `SOCK_NONBLOCK` and `SOCK_CLOEXEC`. No round trip.
    pub fn socket(&mut self, domain: i32, ty: i32, protocol: i32) -> Result<Fd, Errno> {
        let domain = u32::try_from(domain).map_err(|_| Errno::EAFNOSUPPORT)?;
        let ty_u = u32::try_from(ty).map_err(|_| Errno::EINVAL)?;
        let protocol = u32::try_from(protocol).map_err(|_| Errno::EPROTONOSUPPORT)?;
        let slot = self.free_slot()?;
        self.stack.open()?;
        let id = self.stack.with(|fe| fe.socket(domain, ty_u, protocol))?;
        Ok(self.install(slot, Entry::new(id, ty & SOCK_NONBLOCK != 0)))
    }

    /// `bind(fd, addr)`: one round trip; blocks even on a non-blocking
    /// socket, as on Linux. A port in use in dom0 gives `EADDRINUSE`.
    pub fn bind(&mut self, fd: Fd, addr: &SockAddr) -> Result<(), Errno> {
        let id = self.entry(fd)?.id;
        let addr = addr.addr();
        block(&self.stack, |fe| fe.bind(id, addr))
    }

    /// `listen(fd, backlog)` on a bound socket (`EINVAL` if not bound:
    /// PV Calls cannot bind implicitly). A negative backlog means 0.
    pub fn listen(&mut self, fd: Fd, backlog: i32) -> Result<(), Errno> {
        let id = self.entry(fd)?.id;
        let backlog = u32::try_from(backlog).unwrap_or(0);
        block(&self.stack, |fe| fe.listen(id, backlog))
    }

    /// `accept(fd)`: [`accept4`](Self::accept4) without flags.
    pub fn accept(&mut self, fd: Fd) -> Result<(Fd, Option<SockAddr>), Errno> {
        self.accept4(fd, 0)
    }

    /// `accept4(fd, flags)`: the next connection as a new fd (non-blocking
    /// if `flags` has `SOCK_NONBLOCK`). Blocks unless the listener is
    /// non-blocking (`EAGAIN`); honours the receive timeout (`EAGAIN`).
    /// The address is always `None`: PV Calls does not report the peer.
    pub fn accept4(&mut self, fd: Fd, flags: i32) -> Result<(Fd, Option<SockAddr>), Errno> {
        if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let e = *self.entry(fd)?;
        let slot = self.free_slot()?;
        let deadline = self.read_deadline(&e, 0);
        let id = or_eagain(block_on(&self.stack, deadline, |fe| fe.accept(e.id)))?;
        let new = Entry::new(id, flags & SOCK_NONBLOCK != 0);
        Ok((self.install(slot, new), None))
    }

    /// `connect(fd, addr)`. Blocking: waits for the backend's answer (up to
    /// the send timeout, then `EINPROGRESS`). Non-blocking: `EINPROGRESS`,
    /// then `EALREADY` while in flight; the next call after completion
    /// returns the outcome (also when `poll` saw it first), later calls
    /// `EISCONN`, as on Linux. While a connect is in flight the address
    /// of the first call stands (the engine's connect state machine).
    pub fn connect(&mut self, fd: Fd, addr: &SockAddr) -> Result<(), Errno> {
        let e = *self.entry(fd)?;
        // The engine's phase as it stands (asking takes no answer), before
        // and after the call: what this call found and what it did.
        let connecting =
            |stack: &S| stack.with(|fe| fe.phase(e.id)) == Some(SocketPhase::Connecting);
        let was_connecting = connecting(&self.stack);
        let deadline =
            if e.nonblocking { NON_BLOCKING } else { deadline_after(&self.stack, e.sndtimeo) };
        match block_on(&self.stack, deadline, |fe| fe.connect(e.id, addr.addr())) {
            Poll::Ready(r) => r,
            Poll::Pending if !e.nonblocking => Err(Errno::EINPROGRESS),
            // Not finished: already under way, just sent, or (PV Calls) not
            // sent for want of a free command slot.
            Poll::Pending if was_connecting => Err(Errno::EALREADY),
            Poll::Pending if connecting(&self.stack) => Err(Errno::EINPROGRESS),
            Poll::Pending => Err(Errno::EAGAIN),
        }
    }

    /// `close(fd)`: the fd is free at once; the socket is released in the
    /// background.
    pub fn close(&mut self, fd: Fd) -> Result<(), Errno> {
        let id = self.entry(fd)?.id;
        if let Some(e) = slot_of(fd).and_then(|i| self.fds.get_mut(i)) {
            *e = None;
        }
        while self.fds.last().is_some_and(Option::is_none) {
            self.fds.pop();
        }
        self.stack.with(|fe| fe.close(id))
    }

    /// `fcntl(fd, F_GETFL | F_SETFL, arg)`; only `O_NONBLOCK` is kept.
    pub fn fcntl(&mut self, fd: Fd, cmd: i32, arg: i32) -> Result<i32, Errno> {
        let e = self.entry_mut(fd)?;
        match cmd {
            F_GETFL => Ok(if e.nonblocking { O_NONBLOCK } else { 0 }),
            F_SETFL => {
                e.nonblocking = arg & O_NONBLOCK != 0;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// Sets or clears `O_NONBLOCK`.
    pub fn set_nonblocking(&mut self, fd: Fd, nonblocking: bool) -> Result<(), Errno> {
        self.entry_mut(fd)?.nonblocking = nonblocking;
        Ok(())
    }

    /// Whether `O_NONBLOCK` is set.
    pub fn is_nonblocking(&self, fd: Fd) -> Result<bool, Errno> {
        Ok(self.entry(fd)?.nonblocking)
    }

    /// `SO_RCVTIMEO`: how long `recv`/`accept` block (`None` or zero:
    /// forever, as on Linux); expiry gives `EAGAIN`.
    pub fn set_recv_timeout(&mut self, fd: Fd, t: Option<Duration>) -> Result<(), Errno> {
        self.entry_mut(fd)?.rcvtimeo = t.filter(|t| !t.is_zero());
        Ok(())
    }

    /// `SO_SNDTIMEO`: how long `send` (expiry: `EAGAIN`, or the bytes sent
    /// so far) and `connect` (expiry: `EINPROGRESS`) block.
    pub fn set_send_timeout(&mut self, fd: Fd, t: Option<Duration>) -> Result<(), Errno> {
        self.entry_mut(fd)?.sndtimeo = t.filter(|t| !t.is_zero());
        Ok(())
    }

    /// The `SO_RCVTIMEO` value.
    pub fn recv_timeout(&self, fd: Fd) -> Result<Option<Duration>, Errno> {
        Ok(self.entry(fd)?.rcvtimeo)
    }

    /// The `SO_SNDTIMEO` value.
    pub fn send_timeout(&self, fd: Fd) -> Result<Option<Duration>, Errno> {
        Ok(self.entry(fd)?.sndtimeo)
    }

    /// `SO_ERROR`: a failed non-blocking connect (cleared when read), or
    /// the connection's pending error (sticky in PV Calls).
    pub fn take_error(&mut self, fd: Fd) -> Result<Option<Errno>, Errno> {
        let id = self.entry(fd)?.id;
        self.stack.with(|fe| fe.take_error(id))
    }

    /// `getsockname`: the address bound to, as given (PV Calls cannot
    /// report the port chosen for port 0). `EOPNOTSUPP` for connected
    /// sockets (their local address is dom0's business), `EINVAL` if unbound.
    pub fn getsockname(&self, fd: Fd) -> Result<SockAddr, Errno> {
        let id = self.entry(fd)?.id;
        self.stack.with(|fe| match fe.peer(id) {
            Some(_) => Err(Errno::EOPNOTSUPP),
            None => fe.local_addr(id).map(SockAddr::from).ok_or(Errno::EINVAL),
        })
    }

    /// `getpeername`: the address connected to; `ENOTCONN` if not
    /// connected, `EOPNOTSUPP` for accepted connections (PV Calls does not
    /// report the peer).
    pub fn getpeername(&self, fd: Fd) -> Result<SockAddr, Errno> {
        let id = self.entry(fd)?.id;
        let peer = self.stack.with(|fe| {
            fe.take_answers();
            fe.peer(id)
        });
        match peer {
            Some(Peer::Addr(a)) => Ok(a.into()),
            Some(Peer::Unknown) => Err(Errno::EOPNOTSUPP),
            None => Err(Errno::ENOTCONN),
        }
    }

    /// Deadline of a receiving operation on `e` with `flags`.
    fn read_deadline(&self, e: &Entry, flags: i32) -> Option<u64> {
        if e.nonblocking || flags & MSG_DONTWAIT != 0 {
            NON_BLOCKING
        } else {
            deadline_after(&self.stack, e.rcvtimeo)
        }
    }

    /// Deadline of a sending operation on `e` with `flags`.
    fn write_deadline(&self, e: &Entry, flags: i32) -> Option<u64> {
        if e.nonblocking || flags & MSG_DONTWAIT != 0 {
            NON_BLOCKING
        } else {
            deadline_after(&self.stack, e.sndtimeo)
        }
    }
}

impl<S: Stack> Drop for FdTable<S> {
    fn drop(&mut self) {
        for e in self.fds.drain(..).flatten() {
            let _ = self.stack.with(|fe| fe.close(e.id));
        }
    }
}

/// A `poll` timeout in milliseconds for `t` (`None`: -1, no limit), rounded
/// up so that a wait never ends before `t`.
pub fn timeout_ms(t: Option<core::time::Duration>) -> i32 {
    t.map_or(-1, |t| i32::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX))
}

/// The table slot of `fd`, if it could name one (no arithmetic overflows
/// for any `i32`).
pub(crate) fn slot_of(fd: Fd) -> Option<usize> {
    fd.checked_sub(FIRST_FD).and_then(|i| usize::try_from(i).ok())
}

/// Still pending after a timeout or in non-blocking mode is `EAGAIN`.
fn or_eagain<T>(p: Poll<Result<T, Errno>>) -> Result<T, Errno> {
    match p {
        Poll::Ready(r) => r,
        Poll::Pending => Err(Errno::EAGAIN),
    }
}
