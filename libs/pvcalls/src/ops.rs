//! Non-blocking socket operations of the engine: socket, bind, listen, accept, connect, send, recv, close, poll.
//!
//! Every operation returns at once. Those that may have to wait return
//! [`Poll`]: `Pending` means "not yet, call again after
//! [`Frontend::wait`]", and an [`Errno`] is always a real error. Commands
//! answered by the backend (bind, listen, connect) are sent by the first
//! call, or by a later one if no command slot was free; they are
//! `Pending` while in flight, and the next call after the answer returns
//! the outcome, once. `accept` is `Pending` until a connection arrives,
//! `recv`/`send` while the ring is empty/full. Where a socket stands
//! (connecting or not, its peer, an uncollected error) is asked with
//! [`Frontend::phase`], [`Frontend::peer`] and [`Frontend::take_error`].

use alloc::vec::Vec;
use core::net::SocketAddrV4;
use core::task::Poll;

use skiff_xen::pvcalls::{PVCALLS_BIND, PVCALLS_CONNECT, PVCALLS_LISTEN};

use crate::cmd::ReqId;
use crate::data::Readiness;
use crate::platform::Platform;
use crate::socket::{Listener, PendingAccept, Socket, SocketId, State};
use crate::wire::{AF_INET, Request, SOCK_STREAM};
use crate::{Errno, Frontend};

/// `SOCK_NONBLOCK | SOCK_CLOEXEC`, flags Linux allows in the type argument.
const SOCK_FLAGS: u32 = 0o4000 | 0o2000000;
/// `IPPROTO_TCP`.
const IPPROTO_TCP: u32 = 6;

impl<P: Platform> Frontend<P> {
    pub(crate) fn user_socket(&mut self, id: SocketId) -> Result<&mut Socket<P::Pages>, Errno> {
        match self.sockets.get_mut(&id.0) {
            Some(s) if s.user_open => Ok(s),
            _ => Err(Errno::EBADF),
        }
    }

    /// Takes the stored outcome of command `cmd`, if it has arrived.
    fn take_result(&mut self, id: SocketId, cmd: u32) -> Option<Result<(), Errno>> {
        let s = self.sockets.get_mut(&id.0)?;
        match s.result {
            Some((c, r)) if c == cmd || c == 0 => {
                s.result = None;
                Some(r)
            }
            _ => None,
        }
    }

    /// `socket()`: only `AF_INET`, `SOCK_STREAM`, protocol 0 (or
    /// `IPPROTO_TCP`) exist in PV Calls; anything else is refused locally
    /// (`EAFNOSUPPORT`, `ESOCKTNOSUPPORT`, `EPROTONOSUPPORT`). Nothing is
    /// sent: SOCKET goes out with the first BIND or CONNECT.
    pub fn socket(&mut self, domain: u32, ty: u32, protocol: u32) -> Result<SocketId, Errno> {
        if self.gone.is_some() {
            return Err(Errno::ENETDOWN);
        }
        if domain != AF_INET {
            return Err(Errno::EAFNOSUPPORT);
        }
        if ty & !SOCK_FLAGS != SOCK_STREAM {
            return Err(Errno::ESOCKTNOSUPPORT);
        }
        if protocol != 0 && protocol != IPPROTO_TCP {
            return Err(Errno::EPROTONOSUPPORT);
        }
        let id = self.alloc_id();
        self.sockets.insert(id, Socket::new(true, State::Fresh));
        Ok(SocketId(id))
    }

    /// Submits `req`, preceded by SOCKET if it has not been sent yet
    /// (`Pending`: not enough free command slots, nothing sent).
    fn submit_with_socket(&mut self, id: SocketId, req: Request) -> Poll<Result<ReqId, Errno>> {
        let need_socket =
            self.send_socket && !self.sockets.get(&id.0).is_some_and(|s| s.socket_sent);
        let mut reqs: Vec<Request> = Vec::with_capacity(2);
        if need_socket {
            reqs.push(Request::Socket { id: id.0, domain: AF_INET, ty: SOCK_STREAM, protocol: 0 });
        }
        reqs.push(req);
        let Poll::Ready(ids) = self.submit(&reqs)? else { return Poll::Pending };
        if let Some(s) = self.sockets.get_mut(&id.0) {
            s.socket_sent = true;
            if need_socket {
                s.socket_req = Some(ids[0]);
            }
        }
        Poll::Ready(Ok(ids[ids.len() - 1]))
    }

    /// `bind()`. The backend creates its socket here; an address in use in
    /// dom0 fails with `EADDRINUSE` (reported, unlike Linux's frontend).
    pub fn bind(&mut self, id: SocketId, addr: SocketAddrV4) -> Poll<Result<(), Errno>> {
        self.poll_cmd();
        self.user_socket(id)?;
        if let Some(r) = self.take_result(id, PVCALLS_BIND) {
            return Poll::Ready(r);
        }
        match self.user_socket(id)?.state {
            State::Fresh => {}
            State::Binding(..) => return Poll::Pending,
            _ => return Poll::Ready(Err(Errno::EINVAL)),
        }
        let sent = self.submit_with_socket(id, Request::Bind { id: id.0, addr })?;
        if let Poll::Ready(req) = sent {
            self.user_socket(id)?.state = State::Binding(req, addr);
        }
        Poll::Pending
    }

    /// `listen()`, on a bound socket. Listening again is a no-op.
    pub fn listen(&mut self, id: SocketId, backlog: u32) -> Poll<Result<(), Errno>> {
        self.poll_cmd();
        self.user_socket(id)?;
        if let Some(r) = self.take_result(id, PVCALLS_LISTEN) {
            return Poll::Ready(r);
        }
        let addr = match self.user_socket(id)?.state {
            State::Bound(addr) => addr,
            State::Listening(..) => return Poll::Pending,
            State::Listener(_) => return Poll::Ready(Ok(())),
            _ => return Poll::Ready(Err(Errno::EINVAL)),
        };
        if let Poll::Ready(ids) = self.submit(&[Request::Listen { id: id.0, backlog }])? {
            self.user_socket(id)?.state = State::Listening(ids[0], addr);
        }
        Poll::Pending
    }

    /// `accept()`: the next connection, `Pending` until one arrives.
    ///
    /// At most one ACCEPT is outstanding per listener: the first call
    /// pre-allocates the new socket's data ring and sends it; later calls
    /// are `Pending` until the backend answers (when a connection has
    /// been accepted in dom0). PV Calls does not report the peer address.
    pub fn accept(&mut self, id: SocketId) -> Poll<Result<SocketId, Errno>> {
        self.poll_cmd();
        let s = self.user_socket(id)?;
        let State::Listener(l) = &mut s.state else { return Poll::Ready(Err(Errno::EINVAL)) };
        if let Some(new) = l.ready.take() {
            if let Some(n) = self.sockets.get_mut(&new) {
                n.user_open = true;
            }
            return Poll::Ready(Ok(SocketId(new)));
        }
        if let Some(e) = l.error.take() {
            return Poll::Ready(Err(e));
        }
        if l.accept.is_none()
            && let Poll::Ready(Err(e)) = self.arm_accept(id)
        {
            return Poll::Ready(Err(e));
        }
        Poll::Pending
    }

    /// Sends an ACCEPT for listener `id` with a fresh data ring (`Pending`:
    /// no free command slot, nothing sent).
    fn arm_accept(&mut self, id: SocketId) -> Poll<Result<(), Errno>> {
        if self.cmd.free_slots() == 0 {
            return Poll::Pending;
        }
        let ring = self.new_ring()?;
        let id_new = self.alloc_id();
        let req =
            Request::Accept { id: id.0, id_new, ring_ref: ring.intf_ref(), evtchn: ring.port };
        let req_id = match self.submit(&[req]) {
            Poll::Ready(Ok(ids)) => ids[0],
            other => {
                self.free_ring(*ring);
                return other.map_ok(drop);
            }
        };
        if let Some(Socket { state: State::Listener(l), .. }) = self.sockets.get_mut(&id.0) {
            l.accept = Some(PendingAccept { req: req_id, id_new, ring });
        }
        Poll::Ready(Ok(()))
    }

    /// `connect()`: sends CONNECT with a new data ring; `Pending` while it
    /// is in flight (or while no command slot is free); then `Ok(())` once
    /// (later calls `EISCONN`) or the connection error (the socket can then
    /// connect again). The address of a connect in flight cannot change.
    /// Note that the Linux backend runs CONNECT inline: no other command of
    /// this guest is processed until it finishes.
    pub fn connect(&mut self, id: SocketId, addr: SocketAddrV4) -> Poll<Result<(), Errno>> {
        self.poll_cmd();
        self.user_socket(id)?;
        if let Some(r) = self.take_result(id, PVCALLS_CONNECT) {
            return Poll::Ready(r);
        }
        match self.user_socket(id)?.state {
            State::Fresh => {}
            State::Connecting(..) => return Poll::Pending,
            State::Connected(_) => return Poll::Ready(Err(Errno::EISCONN)),
            _ => return Poll::Ready(Err(Errno::EINVAL)),
        }
        let need = if self.send_socket && !self.user_socket(id)?.socket_sent { 2 } else { 1 };
        if self.cmd.free_slots() < need {
            return Poll::Pending;
        }
        let ring = self.new_ring()?;
        let req = Request::Connect { id: id.0, addr, ring_ref: ring.intf_ref(), evtchn: ring.port };
        match self.submit_with_socket(id, req) {
            Poll::Ready(Ok(r)) => {
                self.user_socket(id)?.state = State::Connecting(r, ring);
                Poll::Pending
            }
            other => {
                self.free_ring(*ring);
                other.map_ok(drop)
            }
        }
    }

    /// `send()`: copies as much of `buf` as fits into `out` (`Pending` if
    /// full, or while connecting) and notifies the backend.
    pub fn send(&mut self, id: SocketId, buf: &[u8]) -> Poll<Result<usize, Errno>> {
        let gone = self.gone.is_some();
        let s = self.sockets.get_mut(&id.0).filter(|s| s.user_open).ok_or(Errno::EBADF)?;
        match &mut s.state {
            State::Connected(_) if gone => Poll::Ready(Err(Errno::ECONNABORTED)),
            State::Connected(ring) => ring.send(&mut self.platform, buf),
            State::Connecting(..) => Poll::Pending,
            State::Listener(_) => Poll::Ready(Err(Errno::ENOTCONN)),
            _ => Poll::Ready(Err(if gone { Errno::ECONNABORTED } else { Errno::ENOTCONN })),
        }
    }

    /// `recv()`: copies available bytes of `in` into `buf`; `Ok(0)` at EOF
    /// (after everything was read), `Pending` if empty (or while
    /// connecting), or the error.
    ///
    /// Before it reports `Pending` it looks at the ring's event and sends
    /// the answer due to the backend (see [`Options::answer_events`](crate::Options)):
    /// a caller that polls and reads in a loop without ever blocking must
    /// still hear of a reset the backend only learns from our event.
    pub fn recv(&mut self, id: SocketId, buf: &mut [u8]) -> Poll<Result<usize, Errno>> {
        let gone = self.gone.is_some();
        let answer = self.answer_events;
        let s = self.sockets.get_mut(&id.0).filter(|s| s.user_open).ok_or(Errno::EBADF)?;
        match &mut s.state {
            State::Connected(ring) => match ring.recv(&mut self.platform, buf, !self.defer_acks) {
                Poll::Pending if gone => Poll::Ready(Err(Errno::ECONNABORTED)),
                Poll::Pending => {
                    if self.platform.take_fired(ring.port) && answer {
                        ring.on_event();
                    }
                    ring.flush_notify(&mut self.platform);
                    Poll::Pending
                }
                ready => ready,
            },
            State::Connecting(..) => Poll::Pending,
            _ => Poll::Ready(Err(if gone { Errno::ECONNABORTED } else { Errno::ENOTCONN })),
        }
    }

    /// `close()`: the handle is invalid at once; the backend socket is
    /// released in the background (RELEASE, then grants ended, pages freed
    /// and the port closed once it is answered).
    ///
    /// The backend discards whatever is left in `out` on RELEASE, so a
    /// connection closed with unsent data lingers first: RELEASE waits
    /// until the backend has consumed `out`, reported an error, or
    /// [`Options::linger_ns`](crate::Options::linger_ns) passed (see
    /// [`is_draining`](Self::is_draining)).
    ///
    /// A listener with an ACCEPT in flight is kept (listening in dom0)
    /// until that ACCEPT is answered, because the backend never answers an
    /// ACCEPT whose listener was released and its command slot would be
    /// lost for good; the connection then accepted is released too. Use
    /// [`release_all`](Self::release_all) at shutdown.
    pub fn close(&mut self, id: SocketId) -> Result<(), Errno> {
        self.poll_cmd();
        let s = self.user_socket(id)?;
        s.user_open = false;
        s.closing = true;
        self.advance(id.0);
        Ok(())
    }

    /// Readiness of a socket for `poll()`. For a listener this arms an
    /// ACCEPT if none is in flight, so that it becomes readable when a
    /// connection arrives.
    pub fn poll(&mut self, id: SocketId) -> Result<Readiness, Errno> {
        self.poll_cmd();
        let gone = self.gone.is_some();
        let aborted = Readiness {
            readable: true,
            writable: true,
            error: Some(Errno::ECONNABORTED),
            rdhup: true,
            hup: true,
        };
        let s = self.user_socket(id)?;
        let pending_err = match s.result {
            Some((_, Err(e))) => Some(e),
            _ => None,
        };
        let r = match &mut s.state {
            State::Connected(ring) => ring.readiness(gone),
            State::Listener(l) => {
                let readable = l.ready.is_some() || l.error.is_some();
                let arm = !readable && l.accept.is_none() && !gone;
                if arm
                    && let Poll::Ready(Err(e)) = self.arm_accept(id)
                    && let Some(Socket { state: State::Listener(l), .. }) =
                        self.sockets.get_mut(&id.0)
                {
                    l.error = Some(e);
                }
                return Ok(self.listener_readiness(id, gone));
            }
            _ if gone => aborted,
            State::Connecting(..) | State::Binding(..) | State::Listening(..) => {
                Readiness::default()
            }
            _ => Readiness {
                readable: false,
                writable: pending_err.is_some(),
                error: pending_err,
                rdhup: false,
                hup: true,
            },
        };
        Ok(r)
    }

    fn listener_readiness(&self, id: SocketId, gone: bool) -> Readiness {
        match self.sockets.get(&id.0).map(|s| &s.state) {
            Some(State::Listener(Listener { ready, error, .. })) => Readiness {
                readable: ready.is_some() || error.is_some() || gone,
                writable: false,
                error: if gone { Some(Errno::ECONNABORTED) } else { *error },
                rdhup: false,
                hup: gone,
            },
            _ => Readiness::default(),
        }
    }

    /// Number of sockets the user holds open.
    pub fn open_sockets(&self) -> usize {
        self.sockets.values().filter(|s| s.user_open).count()
    }
}
