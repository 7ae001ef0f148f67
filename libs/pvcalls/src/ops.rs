//! Non-blocking socket operations of the engine: socket, bind, listen, accept, connect, send, recv, close, poll.
//!
//! Every operation returns at once. Commands answered by the backend are
//! started by the first call (`EINPROGRESS`), report `EALREADY` while in
//! flight, and the next call after the response returns the outcome; a
//! full command ring gives `EAGAIN` with nothing sent. `recv`/`send`
//! return `EAGAIN` when the ring is empty/full. In every case the caller
//! waits ([`Frontend::wait`]) and calls again (see
//! [`Errno::is_would_block`]).

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

    /// Submits `req`, preceded by SOCKET if it has not been sent yet.
    fn submit_with_socket(&mut self, id: SocketId, req: Request) -> Result<ReqId, Errno> {
        let need_socket =
            self.send_socket && !self.sockets.get(&id.0).is_some_and(|s| s.socket_sent);
        let mut reqs: Vec<Request> = Vec::with_capacity(2);
        if need_socket {
            reqs.push(Request::Socket { id: id.0, domain: AF_INET, ty: SOCK_STREAM, protocol: 0 });
        }
        reqs.push(req);
        let ids = self.submit(&reqs)?;
        if let Some(s) = self.sockets.get_mut(&id.0) {
            s.socket_sent = true;
            if need_socket {
                s.socket_req = Some(ids[0]);
            }
        }
        Ok(ids[ids.len() - 1])
    }

    /// `bind()`. The backend creates its socket here; an address in use in
    /// dom0 fails with `EADDRINUSE` (reported, unlike Linux's frontend).
    pub fn bind(&mut self, id: SocketId, addr: SocketAddrV4) -> Result<(), Errno> {
        self.poll_cmd();
        self.user_socket(id)?;
        if let Some(r) = self.take_result(id, PVCALLS_BIND) {
            return r;
        }
        match self.user_socket(id)?.state {
            State::Fresh => {}
            State::Binding(..) => return Err(Errno::EALREADY),
            _ => return Err(Errno::EINVAL),
        }
        let req = self.submit_with_socket(id, Request::Bind { id: id.0, addr })?;
        self.user_socket(id)?.state = State::Binding(req, addr);
        Err(Errno::EINPROGRESS)
    }

    /// `listen()`, on a bound socket. Listening again is a no-op.
    pub fn listen(&mut self, id: SocketId, backlog: u32) -> Result<(), Errno> {
        self.poll_cmd();
        self.user_socket(id)?;
        if let Some(r) = self.take_result(id, PVCALLS_LISTEN) {
            return r;
        }
        let addr = match self.user_socket(id)?.state {
            State::Bound(addr) => addr,
            State::Listening(..) => return Err(Errno::EALREADY),
            State::Listener(_) => return Ok(()),
            _ => return Err(Errno::EINVAL),
        };
        let ids = self.submit(&[Request::Listen { id: id.0, backlog }])?;
        self.user_socket(id)?.state = State::Listening(ids[0], addr);
        Err(Errno::EINPROGRESS)
    }

    /// `accept()`: the next connection, or `EAGAIN` until one arrives.
    ///
    /// At most one ACCEPT is outstanding per listener: the first call
    /// pre-allocates the new socket's data ring and sends it; later calls
    /// return `EAGAIN` until the backend answers (when a connection has
    /// been accepted in dom0). PV Calls does not report the peer address.
    pub fn accept(&mut self, id: SocketId) -> Result<SocketId, Errno> {
        self.poll_cmd();
        let s = self.user_socket(id)?;
        let State::Listener(l) = &mut s.state else { return Err(Errno::EINVAL) };
        if let Some(new) = l.ready.take() {
            if let Some(n) = self.sockets.get_mut(&new) {
                n.user_open = true;
            }
            return Ok(SocketId(new));
        }
        if let Some(e) = l.error.take() {
            return Err(e);
        }
        if l.accept.is_some() {
            return Err(Errno::EAGAIN);
        }
        self.arm_accept(id)?;
        Err(Errno::EAGAIN)
    }

    /// Sends an ACCEPT for listener `id` with a fresh data ring.
    fn arm_accept(&mut self, id: SocketId) -> Result<(), Errno> {
        if self.cmd.free_slots() == 0 {
            return Err(Errno::EAGAIN);
        }
        let ring = self.new_ring()?;
        let id_new = self.alloc_id();
        let req =
            Request::Accept { id: id.0, id_new, ring_ref: ring.intf_ref(), evtchn: ring.port };
        let req_id = match self.submit(&[req]) {
            Ok(ids) => ids[0],
            Err(e) => {
                self.free_ring(*ring);
                return Err(e);
            }
        };
        if let Some(Socket { state: State::Listener(l), .. }) = self.sockets.get_mut(&id.0) {
            l.accept = Some(PendingAccept { req: req_id, id_new, ring });
        }
        Ok(())
    }

    /// `connect()`: sends CONNECT with a new data ring and returns
    /// `EINPROGRESS`; `EALREADY` while it is in flight; then `Ok(())` once
    /// (later calls `EISCONN`) or the connection error (the socket can then
    /// connect again). Note that the Linux backend runs CONNECT inline: no
    /// other command of this guest is processed until it finishes.
    pub fn connect(&mut self, id: SocketId, addr: SocketAddrV4) -> Result<(), Errno> {
        self.poll_cmd();
        self.user_socket(id)?;
        if let Some(r) = self.take_result(id, PVCALLS_CONNECT) {
            return r;
        }
        match self.user_socket(id)?.state {
            State::Fresh => {}
            State::Connecting(..) => return Err(Errno::EALREADY),
            State::Connected(_) => return Err(Errno::EISCONN),
            _ => return Err(Errno::EINVAL),
        }
        let need = if self.send_socket && !self.user_socket(id)?.socket_sent { 2 } else { 1 };
        if self.cmd.free_slots() < need {
            return Err(Errno::EAGAIN);
        }
        let ring = self.new_ring()?;
        let req = Request::Connect { id: id.0, addr, ring_ref: ring.intf_ref(), evtchn: ring.port };
        match self.submit_with_socket(id, req) {
            Ok(r) => {
                self.user_socket(id)?.state = State::Connecting(r, ring);
                Err(Errno::EINPROGRESS)
            }
            Err(e) => {
                self.free_ring(*ring);
                Err(e)
            }
        }
    }

    /// `send()`: copies as much of `buf` as fits into `out` (`EAGAIN` if
    /// full) and notifies the backend.
    pub fn send(&mut self, id: SocketId, buf: &[u8]) -> Result<usize, Errno> {
        let gone = self.gone.is_some();
        let s = self.sockets.get_mut(&id.0).filter(|s| s.user_open).ok_or(Errno::EBADF)?;
        match &mut s.state {
            State::Connected(ring) => {
                if gone {
                    return Err(Errno::ECONNABORTED);
                }
                match ring.send(&mut self.platform, buf) {
                    Poll::Pending => Err(Errno::EAGAIN),
                    Poll::Ready(r) => r,
                }
            }
            State::Connecting(..) => Err(Errno::EAGAIN),
            State::Listener(_) => Err(Errno::ENOTCONN),
            _ => Err(if gone { Errno::ECONNABORTED } else { Errno::ENOTCONN }),
        }
    }

    /// `recv()`: copies available bytes of `in` into `buf`; `Ok(0)` at EOF
    /// (after everything was read), `EAGAIN` if empty, or the error.
    ///
    /// Before it reports `EAGAIN` it looks at the ring's event and sends the
    /// answer due to the backend (see [`Options::answer_events`](crate::Options)):
    /// a caller that polls and reads in a loop without ever blocking must
    /// still hear of a reset the backend only learns from our event.
    pub fn recv(&mut self, id: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
        let gone = self.gone.is_some();
        let answer = self.answer_events;
        let s = self.sockets.get_mut(&id.0).filter(|s| s.user_open).ok_or(Errno::EBADF)?;
        match &mut s.state {
            State::Connected(ring) => match ring.recv(&mut self.platform, buf) {
                Poll::Pending if gone => Err(Errno::ECONNABORTED),
                Poll::Pending => {
                    if self.platform.take_fired(ring.port) && answer {
                        ring.on_event();
                    }
                    ring.flush_notify(&mut self.platform);
                    Err(Errno::EAGAIN)
                }
                Poll::Ready(r) => r,
            },
            State::Connecting(..) => Err(Errno::EAGAIN),
            _ => Err(if gone { Errno::ECONNABORTED } else { Errno::ENOTCONN }),
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
                    && let Err(e) = self.arm_accept(id)
                    && !e.is_would_block()
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
