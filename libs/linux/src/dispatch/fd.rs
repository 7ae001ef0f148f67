//! The fd table calls: `close`, `dup`, `dup2`, `dup3`, `fcntl`, `ioctl`, and the calls that make internal files: `pipe2`, `eventfd2`, `epoll_create1`.

use skiff_pvcalls::Errno;

use super::{SysResult, val, zero};
use crate::abi::{
    EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, EPOLL_CLOEXEC, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD,
    F_GETFL, F_GETPIPE_SZ, F_SETFD, F_SETFL, FD_CLOEXEC, FIOCLEX, FIONBIO, FIONCLEX, FIONREAD,
    O_APPEND, O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY,
};
use crate::env::Env;
use crate::epoll::Epoll;
use crate::eventfd::EventFd;
use crate::file::{FileId, FileKind, PipeId};
use crate::mem::{UserMem, UserMemExt};
use crate::pipe::{self, Pipe};
use crate::process::Process;
use crate::vfs::Node;

/// `O_DIRECT`, accepted by `pipe2` (packet mode is not offered: ignored).
const O_DIRECT: u32 = 0o40000;
/// Status flags `F_SETFL` may change.
const SETFL_MASK: u32 = O_NONBLOCK | O_APPEND;

impl Process {
    pub(crate) fn sys_close(&mut self, fd: i32, env: &mut impl Env) -> SysResult {
        let id = self.fds.remove(fd)?;
        self.release(id, env);
        zero()
    }

    pub(crate) fn sys_dup(&mut self, fd: i32) -> SysResult {
        let id = self.fds.get(fd)?;
        val(self.install(id, false, 0)? as usize)
    }

    /// `dup2` (`flags` `None`) and `dup3`.
    pub(crate) fn sys_dup3(
        &mut self,
        old: i32,
        new: i32,
        flags: Option<u32>,
        env: &mut impl Env,
    ) -> SysResult {
        let id = self.fds.get(old)?;
        let cloexec = match flags {
            None if old == new => return val(new as usize),
            None => false,
            Some(_) if old == new => return Err(Errno::EINVAL),
            Some(f) if f & !O_CLOEXEC != 0 => return Err(Errno::EINVAL),
            Some(f) => f & O_CLOEXEC != 0,
        };
        let previous = self.fds.install_at(new, id, cloexec)?;
        if let Some(f) = self.files.get_mut(&id) {
            f.refs += 1;
        }
        if let Some(p) = previous {
            self.release(p, env);
        }
        val(new as usize)
    }

    pub(crate) fn sys_fcntl(&mut self, fd: i32, cmd: u32, arg: u64) -> SysResult {
        let (id, f) = self.file_mut(fd)?;
        match cmd {
            F_DUPFD | F_DUPFD_CLOEXEC => {
                let min = i32::try_from(arg).map_err(|_| Errno::EINVAL)?;
                val(self.install(id, cmd == F_DUPFD_CLOEXEC, min)? as usize)
            }
            F_GETFD => val(if self.fds.cloexec(fd)? { FD_CLOEXEC as usize } else { 0 }),
            F_SETFD => {
                self.fds.set_cloexec(fd, arg as u32 & FD_CLOEXEC != 0)?;
                zero()
            }
            F_GETFL => val(f.flags as usize),
            F_SETFL => {
                f.flags = (f.flags & !SETFL_MASK) | (arg as u32 & SETFL_MASK);
                zero()
            }
            F_GETPIPE_SZ => match f.kind {
                FileKind::PipeRead(p) | FileKind::PipeWrite(p) => {
                    val(self.pipes.get(&p).map_or(pipe::CAPACITY, Pipe::capacity))
                }
                _ => Err(Errno::EBADF),
            },
            // F_SETOWN/F_GETOWN: there are no asynchronous signals to route.
            8 | 9 => zero(),
            _ => Err(Errno::EINVAL),
        }
    }

    pub(crate) fn sys_ioctl(
        &mut self,
        fd: i32,
        req: u32,
        arg: u64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let (_, f) = self.file(fd)?;
        match req {
            FIONBIO => {
                let on: i32 = mem.read_val(arg)?;
                let (_, f) = self.file_mut(fd)?;
                if on != 0 {
                    f.flags |= O_NONBLOCK;
                } else {
                    f.flags &= !O_NONBLOCK;
                }
                zero()
            }
            FIOCLEX | FIONCLEX => {
                self.fds.set_cloexec(fd, req == FIOCLEX)?;
                zero()
            }
            FIONREAD => {
                let n = match &f.kind {
                    FileKind::Socket(s) => env.available(s.handle)?,
                    FileKind::PipeRead(p) | FileKind::UnixStream { rx: p, .. } => {
                        self.pipes.get(p).map_or(0, Pipe::len)
                    }
                    FileKind::Console => 0,
                    FileKind::Static { node: Node::Text(t), pos } => {
                        t.len().saturating_sub(usize::try_from(*pos).unwrap_or(usize::MAX))
                    }
                    _ => return Err(Errno::ENOTTY),
                };
                mem.write_val(arg, &(i32::try_from(n).unwrap_or(i32::MAX)))?;
                zero()
            }
            // Terminal requests (TCGETS, TIOCGWINSZ, ...): the console is no terminal.
            _ => Err(Errno::ENOTTY),
        }
    }

    pub(crate) fn sys_pipe2(
        &mut self,
        fds: u64,
        flags: u32,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        if flags & !(O_NONBLOCK | O_CLOEXEC | O_DIRECT) != 0 {
            return Err(Errno::EINVAL);
        }
        let status = flags & O_NONBLOCK;
        let p = self.new_pipe();
        let r = self.new_file(FileKind::PipeRead(p), O_RDONLY | status);
        let w = self.new_file(FileKind::PipeWrite(p), O_WRONLY | status);
        self.install_pair(r, w, flags & O_CLOEXEC != 0, fds, mem, env)
    }

    /// A new empty pipe with one reader and one writer.
    pub(crate) fn new_pipe(&mut self) -> PipeId {
        let p = PipeId(self.next_pipe);
        self.next_pipe += 1;
        self.pipes.insert(p, Pipe::new(pipe::CAPACITY));
        p
    }

    /// Names open files `a` and `b` by the two lowest free fds and writes
    /// them to `fds` (`int[2]`), as `pipe2` and `socketpair` do; on any
    /// failure both files are released and no fd is left behind.
    pub(crate) fn install_pair(
        &mut self,
        a: FileId,
        b: FileId,
        cloexec: bool,
        fds: u64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let afd = self.install(a, cloexec, 0);
        let bfd = self.install(b, cloexec, 0);
        let pair = match (afd, bfd) {
            (Ok(x), Ok(y)) => mem.write_val(fds, &[x, y]).map(|()| (x, y)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        match pair {
            Ok(_) => zero(),
            Err(e) => {
                // Undo: whatever fds were made are closed again.
                for (fd, file) in [(afd, a), (bfd, b)] {
                    match fd {
                        Ok(fd) => {
                            let _ = self.fds.remove(fd);
                            self.release(file, env);
                        }
                        Err(_) => {
                            if let Some(f) = self.files.get_mut(&file) {
                                f.refs = 1;
                            }
                            self.release(file, env);
                        }
                    }
                }
                Err(e)
            }
        }
    }

    pub(crate) fn sys_eventfd2(&mut self, initval: u32, flags: u32) -> SysResult {
        if flags & !(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let e = EventFd::new(initval, flags & EFD_SEMAPHORE != 0);
        let id = self.new_file(FileKind::EventFd(e), O_RDWR | (flags & EFD_NONBLOCK));
        self.install_new(id, flags & EFD_CLOEXEC != 0)
    }

    pub(crate) fn sys_epoll_create(&mut self, flags: u32) -> SysResult {
        if flags & !EPOLL_CLOEXEC != 0 {
            return Err(Errno::EINVAL);
        }
        let id = self.new_file(FileKind::Epoll(Epoll::new()), O_RDWR);
        self.install_new(id, flags & EPOLL_CLOEXEC != 0)
    }

    /// Names a just-made file by the lowest fd, dropping it if none is free.
    pub(crate) fn install_new(&mut self, id: crate::file::FileId, cloexec: bool) -> SysResult {
        match self.install(id, cloexec, 0) {
            Ok(fd) => val(fd as usize),
            Err(e) => {
                self.files.remove(&id);
                Err(e)
            }
        }
    }
}
