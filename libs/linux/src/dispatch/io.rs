//! `read`, `write`, `readv`, `writev`, `pread64`, and the transfers `recv`/`send` share: per file kind, bounded, re-runnable.

use alloc::vec::Vec;
use core::task::Poll;

use skiff_pvcalls::Errno;

use super::{Cx, Ret, SysResult, neg, val};
use crate::abi::{IoVec, MSG_DONTWAIT, MSG_NOSIGNAL, O_ACCMODE, O_RDONLY, O_WRONLY, SIGPIPE};
use crate::env::Env;
use crate::file::{FileId, FileKind, PipeId, SockState};
use crate::mem::{UserMem, UserMemExt};
use crate::pipe::Pipe;
use crate::process::Process;
use crate::sched::{BlockOn, IoKey};
use crate::vfs::Node;

/// Most bytes one call moves; larger requests get a short count, as
/// sockets and pipes may give anyway.
pub(crate) const MAX_IO: usize = 64 * 1024;

/// Bytes the buffers of `iov` hold together (saturating).
fn total(iov: &[IoVec]) -> usize {
    let sum = iov.iter().map(|v| v.len).fold(0u64, u64::saturating_add);
    usize::try_from(sum).unwrap_or(usize::MAX)
}

/// Copies `data` into the buffers of `iov` in order.
fn scatter(mem: &mut impl UserMem, iov: &[IoVec], data: &[u8]) -> Result<(), Errno> {
    let mut done = 0;
    for v in iov {
        if done == data.len() {
            break;
        }
        let n = (v.len as usize).min(data.len() - done);
        mem.write(v.base, &data[done..done + n])?;
        done += n;
    }
    Ok(())
}

/// Copies the first `len` bytes of the buffers of `iov` into `out`.
fn gather(mem: &impl UserMem, iov: &[IoVec], len: usize, out: &mut Vec<u8>) -> Result<(), Errno> {
    out.clear();
    out.resize(len, 0);
    let mut done = 0;
    for v in iov {
        if done == len {
            break;
        }
        let n = (v.len as usize).min(len - done);
        mem.read(v.base, &mut out[done..done + n])?;
        done += n;
    }
    Ok(())
}

/// How a transfer treats blocking.
#[derive(Clone, Copy, Debug)]
pub(crate) struct XferFlags {
    /// `MSG_*` flags of the socket call (0 for read/write).
    pub msg: u32,
}

/// Which way a transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// From the file into the application (read, recv).
    Read,
    /// From the application into the file (write, send).
    Write,
}

impl Process {
    /// `read` and `write`.
    pub(crate) fn sys_rw(
        &mut self,
        cx: &Cx,
        fd: i32,
        buf: u64,
        len: u64,
        dir: Dir,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let iov = [IoVec { base: buf, len }];
        self.transfer(cx, fd, &iov, dir, XferFlags { msg: 0 }, mem, env)
    }

    /// `readv` and `writev`.
    pub(crate) fn sys_rwv(
        &mut self,
        cx: &Cx,
        fd: i32,
        iov: u64,
        count: u64,
        dir: Dir,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        self.file(fd)?;
        let iov = mem.read_iovecs(iov, count)?;
        self.transfer(cx, fd, &iov, dir, XferFlags { msg: 0 }, mem, env)
    }

    /// A transfer between `fd` and the buffers of `iov`.
    pub(crate) fn transfer(
        &mut self,
        cx: &Cx,
        fd: i32,
        iov: &[IoVec],
        dir: Dir,
        flags: XferFlags,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        match dir {
            Dir::Read => self.read_iov(cx, fd, iov, flags, mem, env),
            Dir::Write => self.write_iov(cx, fd, iov, flags, mem, env),
        }
    }

    /// `pread64`: only files of the read-only set have offsets (`ESPIPE` otherwise).
    pub(crate) fn sys_pread(
        &mut self,
        fd: i32,
        buf: u64,
        len: u64,
        off: i64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let (_, f) = self.file(fd)?;
        if f.flags & O_ACCMODE == O_WRONLY {
            return Err(Errno::EBADF);
        }
        let off = u64::try_from(off).map_err(|_| Errno::EINVAL)?;
        let FileKind::Static { node, .. } = &f.kind else { return Err(Errno::ESPIPE) };
        let n = (len as usize).min(MAX_IO);
        let data = read_node(node, off, n, env)?;
        mem.write(buf, &data)?;
        val(data.len())
    }

    /// Reads from `fd` into `iov` (recv semantics for sockets, with `flags.msg`).
    fn read_iov(
        &mut self,
        cx: &Cx,
        fd: i32,
        iov: &[IoVec],
        flags: XferFlags,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let (id, f) = self.file(fd)?;
        if f.flags & O_ACCMODE == O_WRONLY {
            return Err(Errno::EBADF);
        }
        let asked = total(iov);
        let want = asked.min(MAX_IO);
        let nonblock = f.nonblocking() || flags.msg & MSG_DONTWAIT != 0;
        let mut buf = core::mem::take(&mut self.scratch);
        buf.clear();
        buf.resize(want, 0);
        let r = self.read_kind(id, &mut buf, env);
        let out = match r {
            Ok(Poll::Ready(n)) => scatter(mem, iov, &buf[..n]).map(|()| n),
            Ok(Poll::Pending) => Err(Errno::EAGAIN),
            Err(e) => Err(e),
        };
        self.scratch = buf;
        match out {
            Ok(n) => {
                // Short of what the caller asked (not of MAX_IO): tokio then
                // waits for the next edge, so re-arm it.
                if n < asked {
                    self.bump_rx(id);
                }
                val(n)
            }
            Err(Errno::EAGAIN) => {
                self.bump_rx(id);
                self.wait_or_again(cx, id, nonblock, true, env)
            }
            Err(e) => Err(e),
        }
    }

    /// The transfer itself: `Ready(n)` with the data in `buf[..n]`.
    fn read_kind(
        &mut self,
        id: FileId,
        buf: &mut [u8],
        env: &mut impl Env,
    ) -> Result<Poll<usize>, Errno> {
        let f = self.files.get_mut(&id).ok_or(Errno::EBADF)?;
        match &mut f.kind {
            FileKind::Console => Ok(Poll::Ready(0)),
            FileKind::Socket(s) => {
                if s.shut_rd || buf.is_empty() {
                    return Ok(Poll::Ready(0));
                }
                match s.state {
                    SockState::Connected { .. } => {}
                    SockState::Connecting(_) => return Ok(Poll::Pending),
                    _ => return Err(Errno::ENOTCONN),
                }
                match env.recv(s.handle, buf) {
                    Poll::Ready(r) => r.map(Poll::Ready),
                    Poll::Pending => Ok(Poll::Pending),
                }
            }
            FileKind::PipeRead(p) | FileKind::UnixStream { rx: p, .. } => {
                let p = *p;
                self.pipe_op(p, |pipe| pipe.read(buf))
            }
            FileKind::PipeWrite(_) => Err(Errno::EBADF),
            FileKind::EventFd(e) => {
                if buf.len() < 8 {
                    return Err(Errno::EINVAL);
                }
                match e.read() {
                    Ok(v) => {
                        buf[..8].copy_from_slice(&v.to_ne_bytes());
                        self.bump_file(id);
                        Ok(Poll::Ready(8))
                    }
                    Err(Errno::EAGAIN) => Ok(Poll::Pending),
                    Err(e) => Err(e),
                }
            }
            FileKind::Epoll(_) => Err(Errno::EINVAL),
            FileKind::Static { node, pos } => {
                let data = read_node(node, *pos, buf.len(), env)?;
                if matches!(node, Node::Text(_)) {
                    *pos += data.len() as u64;
                }
                buf[..data.len()].copy_from_slice(&data);
                Ok(Poll::Ready(data.len()))
            }
        }
    }

    /// Writes `iov` to `fd` (send semantics for sockets, with `flags.msg`).
    fn write_iov(
        &mut self,
        cx: &Cx,
        fd: i32,
        iov: &[IoVec],
        flags: XferFlags,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let (id, f) = self.file(fd)?;
        if f.flags & O_ACCMODE == O_RDONLY && !matches!(f.kind, FileKind::Console) {
            return Err(Errno::EBADF);
        }
        let nonblock = f.nonblocking() || flags.msg & MSG_DONTWAIT != 0;
        let asked = total(iov);
        let want = asked.min(MAX_IO);
        let mut buf = core::mem::take(&mut self.scratch);
        let r = gather(mem, iov, want, &mut buf).and_then(|()| self.write_kind(id, &buf, env));
        self.scratch = buf;
        match r {
            Ok(Poll::Ready(n)) => {
                // As for reads: short of what the caller asked re-arms the edge.
                if n < asked {
                    self.bump_tx(id);
                }
                val(n)
            }
            Ok(Poll::Pending) => {
                self.bump_tx(id);
                self.wait_or_again(cx, id, nonblock, false, env)
            }
            Err(Errno::EPIPE) if flags.msg & MSG_NOSIGNAL == 0 => {
                Ok(self.raise(cx.tid, SIGPIPE, neg(Errno::EPIPE)))
            }
            Err(e) => Err(e),
        }
    }

    fn write_kind(
        &mut self,
        id: FileId,
        buf: &[u8],
        env: &mut impl Env,
    ) -> Result<Poll<usize>, Errno> {
        let f = self.files.get_mut(&id).ok_or(Errno::EBADF)?;
        match &mut f.kind {
            FileKind::Console => {
                env.console(buf);
                Ok(Poll::Ready(buf.len()))
            }
            FileKind::Socket(s) => {
                if s.shut_wr {
                    return Err(Errno::EPIPE);
                }
                match s.state {
                    SockState::Connected { .. } => {}
                    SockState::Connecting(_) => return Ok(Poll::Pending),
                    _ => return Err(Errno::ENOTCONN),
                }
                if buf.is_empty() {
                    return Ok(Poll::Ready(0));
                }
                let mut sent = 0;
                while sent < buf.len() {
                    match env.send(s.handle, &buf[sent..]) {
                        Poll::Ready(Ok(0)) => break,
                        Poll::Ready(Ok(n)) => sent += n,
                        Poll::Ready(Err(_)) if sent > 0 => break,
                        Poll::Ready(Err(e)) => return Err(e),
                        Poll::Pending if sent > 0 => break,
                        Poll::Pending => return Ok(Poll::Pending),
                    }
                }
                Ok(Poll::Ready(sent))
            }
            FileKind::PipeWrite(p) | FileKind::UnixStream { tx: p, .. } => {
                let p = *p;
                self.pipe_op(p, |pipe| pipe.write(buf))
            }
            FileKind::PipeRead(_) => Err(Errno::EBADF),
            FileKind::EventFd(e) => {
                let Some(b) = buf.get(..8) else { return Err(Errno::EINVAL) };
                let mut v = [0u8; 8];
                v.copy_from_slice(b);
                match e.write(u64::from_ne_bytes(v)) {
                    Ok(()) => {
                        self.bump_file(id);
                        Ok(Poll::Ready(8))
                    }
                    Err(Errno::EAGAIN) => Ok(Poll::Pending),
                    Err(e) => Err(e),
                }
            }
            FileKind::Epoll(_) => Err(Errno::EINVAL),
            FileKind::Static { node: Node::Null, .. } => Ok(Poll::Ready(buf.len())),
            FileKind::Static { .. } => Err(Errno::EBADF),
        }
    }

    /// A read or write on pipe `p`: moved bytes wake the other side;
    /// `EAGAIN` is "not yet".
    fn pipe_op(
        &mut self,
        p: PipeId,
        op: impl FnOnce(&mut Pipe) -> Result<usize, Errno>,
    ) -> Result<Poll<usize>, Errno> {
        let pipe = self.pipes.get_mut(&p).ok_or(Errno::EBADF)?;
        match op(pipe) {
            Ok(n) => {
                if n > 0 {
                    self.bump_pipe(p);
                }
                Ok(Poll::Ready(n))
            }
            Err(Errno::EAGAIN) => Ok(Poll::Pending),
            Err(e) => Err(e),
        }
    }

    /// A transfer that would block: `EAGAIN` if non-blocking or its
    /// timeout passed, else block on the file (`read`: its read side).
    pub(crate) fn wait_or_again(
        &mut self,
        cx: &Cx,
        id: FileId,
        nonblock: bool,
        read: bool,
        env: &mut impl Env,
    ) -> SysResult {
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        let timeout = match self.files.get(&id).map(|f| &f.kind) {
            Some(FileKind::Socket(s)) if read => s.opts.rcvtimeo,
            Some(FileKind::Socket(s)) => s.opts.sndtimeo,
            _ => None,
        };
        let timeout_ns = timeout.map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
        let deadline = self.deadline(cx, timeout_ns);
        if deadline.is_some_and(|d| cx.now >= d) {
            return Err(Errno::EAGAIN);
        }
        let keys = self.wait_keys(id, if read { Want::Read } else { Want::Write }, env);
        Ok(Ret::Block(BlockOn::Io(keys), deadline))
    }

    /// Moves the read-side re-arm epoch of `id` (see [`crate::epoll`]) and
    /// wakes the epoll waiters it re-arms.
    pub(crate) fn bump_rx(&mut self, id: FileId) {
        if let Some(f) = self.files.get_mut(&id) {
            f.rx_epoch += 1;
            self.sched.wake_io(|k| *k == IoKey::Rearm(id));
        }
    }

    /// Moves the write-side re-arm epoch of `id` and wakes the epoll
    /// waiters it re-arms.
    pub(crate) fn bump_tx(&mut self, id: FileId) {
        if let Some(f) = self.files.get_mut(&id) {
            f.tx_epoch += 1;
            self.sched.wake_io(|k| *k == IoKey::Rearm(id));
        }
    }

    /// What a thread waiting on file `id` wakes for.
    pub(crate) fn wait_keys(&mut self, id: FileId, want: Want, env: &mut impl Env) -> Vec<IoKey> {
        let mut keys = Vec::new();
        match self.files.get(&id).map(|f| &f.kind) {
            Some(FileKind::Socket(s)) => {
                let h = s.handle;
                let seen = env.readiness(h);
                // If the engine already says what we wait for, a change may
                // not come: any event makes the thread look again.
                let already = match want {
                    Want::Read => seen.readable,
                    Want::Write => seen.writable,
                    Want::Any => false,
                };
                keys.push(if already {
                    IoKey::Command(h)
                } else {
                    IoKey::Socket { handle: h, seen }
                });
                // A change made through the fd layer (shutdown, close) wakes too.
                keys.push(IoKey::File(id));
            }
            Some(FileKind::PipeRead(p) | FileKind::PipeWrite(p)) => keys.push(IoKey::Pipe(*p)),
            Some(FileKind::UnixStream { rx, tx }) => {
                keys.push(IoKey::Pipe(*rx));
                keys.push(IoKey::Pipe(*tx));
            }
            Some(FileKind::Epoll(ep)) => {
                let members: Vec<FileId> = ep.keys().map(|(_, f)| f).collect();
                keys.push(IoKey::File(id));
                for m in members {
                    if m != id {
                        keys.extend(self.wait_keys(m, Want::Any, env));
                        keys.push(IoKey::Rearm(m));
                    }
                }
            }
            Some(_) => keys.push(IoKey::File(id)),
            None => {}
        }
        keys
    }
}

/// What a waiter on a file waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// Data to read.
    Read,
    /// Room to write.
    Write,
    /// Any change (poll, epoll).
    Any,
}

/// Up to `n` bytes of a read-only node from offset `off`.
fn read_node(node: &Node, off: u64, n: usize, env: &mut impl Env) -> Result<Vec<u8>, Errno> {
    match node {
        Node::Text(t) => {
            let start = usize::try_from(off).unwrap_or(usize::MAX).min(t.len());
            let end = start + n.min(t.len() - start);
            Ok(t[start..end].to_vec())
        }
        Node::Null => Ok(Vec::new()),
        Node::Zero => Ok(alloc::vec![0; n]),
        Node::Random => {
            let mut v = alloc::vec![0; n];
            if env.random(&mut v) { Ok(v) } else { Err(Errno::EIO) }
        }
        Node::Dir => Err(Errno::EISDIR),
    }
}
