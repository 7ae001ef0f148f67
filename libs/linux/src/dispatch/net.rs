//! Socket calls over the PV Calls engine, with the fd semantics of `skiff_net::posix` and what PV Calls cannot do decided here.
//!
//! Choices where PV Calls v1 falls short of Linux:
//! - only `AF_INET` + `SOCK_STREAM` (`EAFNOSUPPORT` for IPv6 and others,
//!   `ESOCKTNOSUPPORT` for UDP and raw, each with a console notice);
//! - `bind` and `listen` wait for dom0's answer even on a non-blocking
//!   socket; `listen` needs a bound socket (`EINVAL`: no implicit bind);
//!   `connect` needs an unbound socket (`EINVAL` after `bind`);
//! - accepted connections do not learn their peer: `accept4` and
//!   `getpeername` report `0.0.0.0:0` (a valid `sockaddr_in`, so std's
//!   and tokio's accept work); `getsockname` reports the listener's address;
//! - `getsockname` after binding port 0 reports port 0 (dom0 chose one and
//!   PV Calls does not say which); of an outgoing connection, `0.0.0.0:0`;
//! - `shutdown(SHUT_WR)` cannot half-close: later sends fail with `EPIPE`
//!   and the peer sees end of stream only at `close` (console notice once);
//!   `SHUT_RD` makes reads return end of stream;
//! - options: `SO_RCVTIMEO`/`SO_SNDTIMEO` are honoured; `SO_ERROR`,
//!   `SO_TYPE`, `SO_DOMAIN`, `SO_PROTOCOL`, `SO_ACCEPTCONN` answered; the
//!   rest of the common ones (`SO_REUSEADDR`, `SO_REUSEPORT`,
//!   `SO_KEEPALIVE`, `SO_LINGER`, buffer sizes, `TCP_NODELAY`, keepalive
//!   tuning, `IP_TOS`/`IP_TTL`) are accepted and remembered but dom0's
//!   socket is not changed; unknown ones are `ENOPROTOOPT`;
//! - `MSG_PEEK` and `MSG_OOB` are `EOPNOTSUPP`; `MSG_WAITALL` returns what
//!   is there (at least one byte) like a plain receive.

use core::net::{Ipv4Addr, SocketAddrV4};
use core::task::Poll;
use core::time::Duration;

use skiff_pvcalls::Errno;

use super::io::{Dir, XferFlags};
use super::{Cx, Ret, SysResult, val, zero};
use crate::abi::{
    AF_INET, AF_INET6, AF_UNIX, IP_TOS, IP_TTL, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, IoVec,
    MSG_CMSG_CLOEXEC, MSG_DONTWAIT, MSG_MORE, MSG_NOSIGNAL, MSG_WAITALL, MsgHdr, O_RDWR, SHUT_RD,
    SHUT_RDWR, SHUT_WR, SO_ACCEPTCONN, SO_BROADCAST, SO_DOMAIN, SO_ERROR, SO_KEEPALIVE, SO_LINGER,
    SO_OOBINLINE, SO_PROTOCOL, SO_RCVBUF, SO_RCVLOWAT, SO_RCVTIMEO, SO_REUSEADDR, SO_REUSEPORT,
    SO_SNDBUF, SO_SNDTIMEO, SO_TYPE, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM,
    SOCK_TYPE_MASK, SOL_SOCKET, TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_MAXSEG, TCP_NODELAY,
    TCP_QUICKACK, TCP_USER_TIMEOUT, Timeval,
};
use crate::env::{Env, Notice};
use crate::file::{FileId, FileKind, SockState, SocketFile};
use crate::mem::{UserMem, UserMemExt};
use crate::process::Process;
use crate::sched::{BlockOn, IoKey};

/// Flags `recv*` accepts (`MSG_WAITALL` behaves as a plain receive).
const RECV_FLAGS: u32 = MSG_DONTWAIT | MSG_WAITALL | MSG_NOSIGNAL | MSG_CMSG_CLOEXEC;
/// Flags `send*` accepts (`MSG_MORE` is a hint dom0 never sees).
const SEND_FLAGS: u32 = MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE | 0x80 /* MSG_EOR */;
/// The unknown address: what accepted connections report as their peer.
const UNSPECIFIED: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);

impl Process {
    /// The socket of `fd`: `EBADF`, or `ENOTSOCK` for other files.
    fn sock(&mut self, fd: i32) -> Result<(FileId, &mut SocketFile), Errno> {
        let (id, f) = self.file_mut(fd)?;
        Ok((id, f.socket_mut()?))
    }

    pub(crate) fn sys_socket(
        &mut self,
        domain: u32,
        ty: u32,
        proto: u32,
        env: &mut impl Env,
    ) -> SysResult {
        if domain != AF_INET {
            if domain == AF_INET6 {
                self.notice_once(env, Notice::NoIpv6);
            }
            return Err(Errno::EAFNOSUPPORT);
        }
        if ty & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        if ty & SOCK_TYPE_MASK != SOCK_STREAM {
            if ty & SOCK_TYPE_MASK == SOCK_DGRAM {
                self.notice_once(env, Notice::NoUdp);
            }
            return Err(Errno::ESOCKTNOSUPPORT);
        }
        if proto != 0 && proto != IPPROTO_TCP {
            return Err(Errno::EPROTONOSUPPORT);
        }
        // Check for a free fd before the engine makes anything.
        let probe = self.fds.alloc(FileId(0), false, 0)?;
        let _ = self.fds.remove(probe);
        let h = env.socket()?;
        self.install_socket(SocketFile::new(h), ty, env).map(|fd| Ret::Val(fd as u64))
    }

    /// `socketpair(AF_UNIX, SOCK_STREAM, 0, sv)`: two connected ends inside
    /// the process (tokio's signal driver makes one), each reading one
    /// pipe and writing the other. Other families and types: `EAFNOSUPPORT`,
    /// `EOPNOTSUPP` (no datagrams, as for PV Calls' sockets).
    pub(crate) fn sys_socketpair(
        &mut self,
        domain: u32,
        ty: u32,
        proto: u32,
        sv: u64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        if domain != AF_UNIX {
            return Err(Errno::EAFNOSUPPORT);
        }
        if ty & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        if ty & SOCK_TYPE_MASK != SOCK_STREAM {
            return Err(Errno::EOPNOTSUPP);
        }
        if proto != 0 {
            return Err(Errno::EPROTONOSUPPORT);
        }
        let status = if ty & SOCK_NONBLOCK != 0 { crate::abi::O_NONBLOCK } else { 0 };
        let (p, q) = (self.new_pipe(), self.new_pipe());
        let a = self.new_file(FileKind::UnixStream { rx: p, tx: q }, O_RDWR | status);
        let b = self.new_file(FileKind::UnixStream { rx: q, tx: p }, O_RDWR | status);
        self.install_pair(a, b, ty & SOCK_CLOEXEC != 0, sv, mem, env)
    }

    /// Names a new socket of the engine by the lowest fd, with the
    /// `SOCK_NONBLOCK`/`SOCK_CLOEXEC` of `flags`; closes it if none is free.
    fn install_socket(
        &mut self,
        s: SocketFile,
        flags: u32,
        env: &mut impl Env,
    ) -> Result<i32, Errno> {
        let h = s.handle;
        let id = self.new_file(FileKind::Socket(s), O_RDWR | (flags & SOCK_NONBLOCK));
        self.install(id, flags & SOCK_CLOEXEC != 0, 0).inspect_err(|_| {
            self.files.remove(&id);
            env.close(h);
        })
    }

    pub(crate) fn sys_bind(
        &mut self,
        fd: i32,
        addr: u64,
        len: u32,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        self.sock(fd)?;
        let sa = mem.read_sockaddr(addr, len)?;
        let (_, s) = self.sock(fd)?;
        if s.state != SockState::Idle {
            return Err(Errno::EINVAL);
        }
        match env.bind(s.handle, sa) {
            Poll::Pending => {
                Ok(Ret::Block(BlockOn::Io(alloc::vec![IoKey::Command(s.handle)]), None))
            }
            Poll::Ready(r) => {
                r?;
                s.state = SockState::Bound(sa);
                zero()
            }
        }
    }

    pub(crate) fn sys_listen(&mut self, fd: i32, backlog: i32, env: &mut impl Env) -> SysResult {
        let (_, s) = self.sock(fd)?;
        let addr = match s.state {
            SockState::Bound(a) => a,
            SockState::Listening(_) => return zero(),
            _ => return Err(Errno::EINVAL),
        };
        let backlog = backlog.clamp(0, 4096) as u32;
        match env.listen(s.handle, backlog) {
            Poll::Pending => {
                Ok(Ret::Block(BlockOn::Io(alloc::vec![IoKey::Command(s.handle)]), None))
            }
            Poll::Ready(r) => {
                r?;
                s.state = SockState::Listening(addr);
                zero()
            }
        }
    }

    pub(crate) fn sys_accept4(
        &mut self,
        cx: &Cx,
        fd: i32,
        addr: u64,
        addrlen: u64,
        flags: u32,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let (id, f) = self.file(fd)?;
        let nonblock = f.nonblocking();
        let s = *f.socket()?;
        let SockState::Listening(local) = s.state else { return Err(Errno::EINVAL) };
        // EMFILE before taking a connection off the queue.
        let probe = self.fds.alloc(FileId(0), false, 0)?;
        let _ = self.fds.remove(probe);
        let h = match env.accept(s.handle) {
            Poll::Ready(r) => r?,
            Poll::Pending => {
                self.bump_rx(id);
                return self.wait_or_again(cx, id, nonblock, true, env);
            }
        };
        let mut new = SocketFile::new(h);
        new.state = SockState::Connected { peer: None, local: Some(local) };
        let nfd = self.install_socket(new, flags, env)?;
        if addr != 0 {
            mem.write_sockaddr(addr, addrlen, UNSPECIFIED)?;
        }
        val(nfd as usize)
    }

    /// Collects the outcome of a connect in flight without waiting.
    pub(crate) fn collect_connect(&mut self, id: FileId, env: &mut impl Env) {
        let Some(FileKind::Socket(s)) = self.files.get_mut(&id).map(|f| &mut f.kind) else {
            return;
        };
        if let SockState::Connecting(target) = s.state {
            match env.connect(s.handle, target) {
                Poll::Ready(Ok(())) | Poll::Ready(Err(Errno::EISCONN)) => {
                    s.state = SockState::Connected { peer: Some(target), local: None };
                    s.connect_unreported = true;
                }
                Poll::Ready(Err(e)) => {
                    s.state = SockState::Idle;
                    s.so_error = Some(e);
                }
                Poll::Pending => {}
            }
        }
    }

    pub(crate) fn sys_connect(
        &mut self,
        cx: &Cx,
        fd: i32,
        addr: u64,
        len: u32,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        self.sock(fd)?;
        let sa = mem.read_sockaddr(addr, len)?;
        let (id, f) = self.file_mut(fd)?;
        let nonblock = f.nonblocking();
        let s = f.socket_mut()?;
        let target = match s.state {
            SockState::Connected { .. } if core::mem::take(&mut s.connect_unreported) => {
                return zero();
            }
            SockState::Connected { .. } => return Err(Errno::EISCONN),
            SockState::Listening(_) | SockState::Bound(_) => return Err(Errno::EINVAL),
            SockState::Idle => {
                if let Some(e) = s.so_error.take() {
                    return Err(e);
                }
                s.state = SockState::Connecting(sa);
                sa
            }
            SockState::Connecting(t) if nonblock && !cx.resumed => {
                // Still in flight? Look once; else EALREADY.
                match env.connect(s.handle, t) {
                    Poll::Pending => return Err(Errno::EALREADY),
                    r => return self.connect_done(id, t, r),
                }
            }
            SockState::Connecting(t) => t,
        };
        let s = self.files.get_mut(&id).and_then(|f| f.socket_mut().ok()).ok_or(Errno::EBADF)?;
        let h = s.handle;
        let sndtimeo = s.opts.sndtimeo;
        match env.connect(h, target) {
            Poll::Pending if nonblock => Err(Errno::EINPROGRESS),
            Poll::Pending => {
                let t = sndtimeo.map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
                let deadline = self.deadline(cx, t);
                if deadline.is_some_and(|d| cx.now >= d) {
                    return Err(Errno::EINPROGRESS);
                }
                let seen = env.readiness(h);
                Ok(Ret::Block(
                    BlockOn::Io(alloc::vec![IoKey::Socket { handle: h, seen }]),
                    deadline,
                ))
            }
            r => self.connect_done(id, target, r),
        }
    }

    fn connect_done(
        &mut self,
        id: FileId,
        target: SocketAddrV4,
        r: Poll<Result<(), Errno>>,
    ) -> SysResult {
        let s = self.files.get_mut(&id).and_then(|f| f.socket_mut().ok()).ok_or(Errno::EBADF)?;
        match r {
            Poll::Ready(Ok(())) => {
                s.state = SockState::Connected { peer: Some(target), local: None };
                zero()
            }
            Poll::Ready(Err(e)) => {
                s.state = SockState::Idle;
                Err(e)
            }
            Poll::Pending => Err(Errno::EALREADY),
        }
    }

    /// The `MSG_*` flags a transfer `dir` accepts: `EOPNOTSUPP` for others.
    fn msg_flags(&mut self, fd: i32, flags: u32, dir: Dir) -> Result<XferFlags, Errno> {
        let (_, f) = self.file_mut(fd)?;
        if !matches!(f.kind, FileKind::UnixStream { .. }) {
            self.sock(fd)?;
        }
        let known = if dir == Dir::Read { RECV_FLAGS } else { SEND_FLAGS };
        if flags & !known != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        Ok(XferFlags { msg: flags })
    }

    /// `sendto` (`Dir::Write`; a destination is ignored on a stream
    /// socket, as Linux does) and `recvfrom` (`Dir::Read`; a stream socket
    /// reports no source address: its length is set to 0).
    pub(crate) fn sys_sendrecv(
        &mut self,
        cx: &Cx,
        fd: i32,
        buf: u64,
        len: u64,
        flags: u32,
        addrlen: u64,
        dir: Dir,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let flags = self.msg_flags(fd, flags, dir)?;
        let iov = [IoVec { base: buf, len }];
        let r = self.transfer(cx, fd, &iov, dir, flags, mem, env)?;
        if dir == Dir::Read && addrlen != 0 && matches!(r, Ret::Val(_)) {
            mem.write_val(addrlen, &0u32)?;
        }
        Ok(r)
    }

    /// `sendmsg` and `recvmsg`: ancillary data has no meaning over PV
    /// Calls (ignored on send; none on receive, where the name and control
    /// lengths and the flags are returned as 0).
    pub(crate) fn sys_msg(
        &mut self,
        cx: &Cx,
        fd: i32,
        msg: u64,
        flags: u32,
        dir: Dir,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let flags = self.msg_flags(fd, flags, dir)?;
        let mut m: MsgHdr = mem.read_val(msg)?;
        let iov = mem.read_iovecs(m.iov, m.iovlen)?;
        let r = self.transfer(cx, fd, &iov, dir, flags, mem, env)?;
        if dir == Dir::Read && matches!(r, Ret::Val(_)) {
            m.namelen = 0;
            m.controllen = 0;
            m.flags = 0;
            mem.write_val(msg, &m)?;
        }
        Ok(r)
    }

    pub(crate) fn sys_shutdown(&mut self, fd: i32, how: u32, env: &mut impl Env) -> SysResult {
        let (id, s) = self.sock(fd)?;
        if how > SHUT_RDWR {
            return Err(Errno::EINVAL);
        }
        if !matches!(s.state, SockState::Connected { .. }) {
            return Err(Errno::ENOTCONN);
        }
        if how == SHUT_RD || how == SHUT_RDWR {
            s.shut_rd = true;
        }
        let wr = how == SHUT_WR || how == SHUT_RDWR;
        if wr {
            s.shut_wr = true;
        }
        // Readiness changed for pollers of this socket.
        self.bump_rx(id);
        self.sched.wake_file(id);
        if wr {
            self.notice_once(env, Notice::NoHalfClose);
        }
        zero()
    }

    pub(crate) fn sys_getsockname(
        &mut self,
        fd: i32,
        addr: u64,
        addrlen: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        let (_, s) = self.sock(fd)?;
        let a = match s.state {
            SockState::Bound(a) | SockState::Listening(a) => a,
            SockState::Connected { local: Some(a), .. } => a,
            _ => UNSPECIFIED,
        };
        mem.write_sockaddr(addr, addrlen, a)?;
        zero()
    }

    pub(crate) fn sys_getpeername(
        &mut self,
        fd: i32,
        addr: u64,
        addrlen: u64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let (id, _) = self.sock(fd)?;
        self.collect_connect(id, env);
        let (_, s) = self.sock(fd)?;
        let a = match s.state {
            SockState::Connected { peer, .. } => peer.unwrap_or(UNSPECIFIED),
            _ => return Err(Errno::ENOTCONN),
        };
        mem.write_sockaddr(addr, addrlen, a)?;
        zero()
    }

    pub(crate) fn sys_setsockopt(
        &mut self,
        fd: i32,
        level: u32,
        name: u32,
        val_ptr: u64,
        len: u32,
        mem: &mut impl UserMem,
    ) -> SysResult {
        self.sock(fd)?;
        let read_int = || -> Result<i32, Errno> {
            if len < 4 {
                return Err(Errno::EINVAL);
            }
            mem.read_val::<i32>(val_ptr)
        };
        let (_, s) = self.sock(fd)?;
        let o = &mut s.opts;
        match (level, name) {
            (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
                if len < 16 {
                    return Err(Errno::EINVAL);
                }
                let tv: Timeval = mem.read_val(val_ptr)?;
                // A negative time means "no timeout"; zero means "forever", as Linux.
                let t = if tv.tv_sec < 0 { None } else { Some(tv.to_duration()?) };
                let t = t.filter(|t| *t != Duration::ZERO);
                if name == SO_RCVTIMEO {
                    o.rcvtimeo = t;
                } else {
                    o.sndtimeo = t;
                }
            }
            (SOL_SOCKET, SO_LINGER) => {
                if len < 8 {
                    return Err(Errno::EINVAL);
                }
                let l: [i32; 2] = mem.read_val(val_ptr)?;
                o.linger = (l[0] != 0, l[1]);
            }
            (SOL_SOCKET, SO_REUSEADDR) => o.reuseaddr = read_int()? != 0,
            (SOL_SOCKET, SO_REUSEPORT) => o.reuseport = read_int()? != 0,
            (SOL_SOCKET, SO_KEEPALIVE) => o.keepalive = read_int()? != 0,
            (SOL_SOCKET, SO_RCVBUF) => o.rcvbuf = Some(read_int()?.max(0) as u32),
            (SOL_SOCKET, SO_SNDBUF) => o.sndbuf = Some(read_int()?.max(0) as u32),
            (SOL_SOCKET, SO_BROADCAST | SO_OOBINLINE | SO_RCVLOWAT) => {
                read_int()?;
            }
            (IPPROTO_TCP, TCP_NODELAY) => o.nodelay = read_int()? != 0,
            (
                IPPROTO_TCP,
                TCP_KEEPIDLE | TCP_KEEPINTVL | TCP_KEEPCNT | TCP_QUICKACK | TCP_USER_TIMEOUT
                | TCP_MAXSEG,
            ) => {
                read_int()?;
            }
            (IPPROTO_IP, IP_TOS | IP_TTL) => {
                read_int()?;
            }
            (IPPROTO_IPV6, _) => return Err(Errno::ENOPROTOOPT),
            _ => return Err(Errno::ENOPROTOOPT),
        }
        zero()
    }

    pub(crate) fn sys_getsockopt(
        &mut self,
        fd: i32,
        level: u32,
        name: u32,
        val_ptr: u64,
        lenp: u64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let (id, _) = self.sock(fd)?;
        let len: i32 = mem.read_val(lenp)?;
        let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
        if name == SO_ERROR && level == SOL_SOCKET {
            self.collect_connect(id, env);
        }
        let (_, s) = self.sock(fd)?;
        let o = s.opts;
        let b = i32::from;
        let tv = |t: Option<Duration>| {
            let t = t.unwrap_or(Duration::ZERO);
            Timeval { tv_sec: t.as_secs() as i64, tv_usec: i64::from(t.subsec_micros()) }
        };
        let mut out = [0u8; 16];
        let n = match (level, name) {
            (SOL_SOCKET, SO_ERROR) => {
                let e = match s.so_error.take() {
                    Some(e) => Some(e),
                    None if matches!(s.state, SockState::Connected { .. }) => {
                        let h = s.handle;
                        env.readiness(h).error
                    }
                    None => None,
                };
                put_int(&mut out, e.map_or(0, |e| e.0))
            }
            (SOL_SOCKET, SO_TYPE) => put_int(&mut out, SOCK_STREAM as i32),
            (SOL_SOCKET, SO_DOMAIN) => put_int(&mut out, AF_INET as i32),
            (SOL_SOCKET, SO_PROTOCOL) => put_int(&mut out, IPPROTO_TCP as i32),
            (SOL_SOCKET, SO_ACCEPTCONN) => {
                put_int(&mut out, b(matches!(s.state, SockState::Listening(_))))
            }
            (SOL_SOCKET, SO_REUSEADDR) => put_int(&mut out, b(o.reuseaddr)),
            (SOL_SOCKET, SO_REUSEPORT) => put_int(&mut out, b(o.reuseport)),
            (SOL_SOCKET, SO_KEEPALIVE) => put_int(&mut out, b(o.keepalive)),
            (SOL_SOCKET, SO_RCVBUF) => {
                put_int(&mut out, o.rcvbuf.map_or(131072, |v| v.saturating_mul(2)) as i32)
            }
            (SOL_SOCKET, SO_SNDBUF) => {
                put_int(&mut out, o.sndbuf.map_or(16384, |v| v.saturating_mul(2)) as i32)
            }
            (SOL_SOCKET, SO_RCVTIMEO) => put_tv(&mut out, tv(o.rcvtimeo)),
            (SOL_SOCKET, SO_SNDTIMEO) => put_tv(&mut out, tv(o.sndtimeo)),
            (SOL_SOCKET, SO_LINGER) => {
                out[..4].copy_from_slice(&b(o.linger.0).to_ne_bytes());
                out[4..8].copy_from_slice(&o.linger.1.to_ne_bytes());
                8
            }
            (IPPROTO_TCP, TCP_NODELAY) => put_int(&mut out, b(o.nodelay)),
            (IPPROTO_IP, IP_TTL) => put_int(&mut out, 64),
            _ => return Err(Errno::ENOPROTOOPT),
        };
        let n = n.min(len);
        mem.write(val_ptr, &out[..n])?;
        mem.write_val(lenp, &(n as u32))?;
        zero()
    }
}

fn put_int(out: &mut [u8; 16], v: i32) -> usize {
    out[..4].copy_from_slice(&v.to_ne_bytes());
    4
}

fn put_tv(out: &mut [u8; 16], t: Timeval) -> usize {
    out[..8].copy_from_slice(&t.tv_sec.to_ne_bytes());
    out[8..].copy_from_slice(&t.tv_usec.to_ne_bytes());
    16
}
