//! Readiness of every file kind, and `poll`, `ppoll`, `epoll_ctl`, `epoll_wait`, `epoll_pwait`, `epoll_pwait2` on it.
//!
//! The signal masks of `ppoll` and `epoll_pwait` are accepted and not
//! applied: no signal arrives asynchronously here.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use skiff_pvcalls::{Errno, Readiness};
use zerocopy::IntoBytes;

use super::io::Want;
use super::{Cx, Ret, SysResult, val, zero};
use crate::abi::{
    EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLNVAL, EPOLLOUT,
    EPOLLRDHUP, EPOLLRDNORM, EPOLLWRNORM, EpollEvent, PollFd, Timespec,
};
use crate::env::Env;
use crate::epoll::Probe;
use crate::file::{FileId, FileKind, SockState};
use crate::mem::{UserMem, UserMemExt};
use crate::process::Process;
use crate::sched::BlockOn;

/// `poll`'s millisecond timeout: negative waits forever.
pub(crate) fn poll_timeout(ms: i32) -> Option<u64> {
    u64::try_from(ms).ok().map(|ms| ms * 1_000_000)
}

/// A `struct timespec *` timeout: null waits forever; `EINVAL` if invalid.
pub(crate) fn timespec_timeout(ptr: u64, mem: &impl UserMem) -> Result<Option<u64>, Errno> {
    if ptr == 0 {
        return Ok(None);
    }
    let ts: Timespec = mem.read_val(ptr)?;
    ts.to_nanos().map(Some)
}

/// The poll bits of a socket's readiness.
pub(crate) fn mask(r: Readiness) -> u32 {
    let mut m = 0;
    if r.readable {
        m |= EPOLLIN | EPOLLRDNORM;
    }
    if r.writable {
        m |= EPOLLOUT | EPOLLWRNORM;
    }
    if r.error.is_some() {
        m |= EPOLLERR;
    }
    if r.rdhup {
        m |= EPOLLRDHUP;
    }
    if r.hup {
        m |= EPOLLHUP;
    }
    m
}

impl Process {
    /// The readiness of open file `id` (`EPOLLIN`, `EPOLLOUT`, ...).
    pub(crate) fn file_ready(&mut self, id: FileId, env: &mut impl Env) -> u32 {
        if matches!(self.files.get(&id).map(|f| &f.kind), Some(FileKind::Socket(s)) if matches!(s.state, SockState::Connecting(_)))
        {
            self.collect_connect(id, env);
        }
        let Some(f) = self.files.get(&id) else { return EPOLLNVAL };
        match &f.kind {
            FileKind::Console => EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM,
            FileKind::Socket(s) => {
                let mut m = mask(env.readiness(s.handle));
                if s.so_error.is_some() {
                    m |= EPOLLERR | EPOLLOUT | EPOLLHUP;
                }
                if s.shut_rd {
                    m |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
                }
                if s.shut_wr {
                    m |= EPOLLOUT;
                }
                m
            }
            FileKind::PipeRead(p) => match self.pipes.get(p) {
                Some(pipe) => {
                    let mut m = 0;
                    if pipe.readable() && !pipe.is_empty() {
                        m |= EPOLLIN | EPOLLRDNORM;
                    }
                    if pipe.writers == 0 {
                        m |= EPOLLHUP;
                    }
                    m
                }
                None => EPOLLHUP,
            },
            FileKind::PipeWrite(p) => match self.pipes.get(p) {
                Some(pipe) if pipe.readers == 0 => EPOLLERR | EPOLLOUT,
                Some(pipe) if pipe.writable() => EPOLLOUT | EPOLLWRNORM,
                Some(_) => 0,
                None => EPOLLERR,
            },
            // A socket pair end: readable from one pipe, writable to the
            // other; the peer's close is a hang-up both ways.
            FileKind::UnixStream { rx, tx } => {
                let mut m = 0;
                match self.pipes.get(rx) {
                    Some(pipe) if !pipe.is_empty() => m |= EPOLLIN | EPOLLRDNORM,
                    Some(pipe) if pipe.writers == 0 => m |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP,
                    Some(_) => {}
                    None => m |= EPOLLIN | EPOLLRDHUP,
                }
                match self.pipes.get(tx) {
                    Some(pipe) if pipe.readers == 0 => m |= EPOLLOUT | EPOLLHUP,
                    Some(pipe) if pipe.writable() => m |= EPOLLOUT | EPOLLWRNORM,
                    Some(_) => {}
                    None => m |= EPOLLOUT | EPOLLHUP,
                }
                m
            }
            FileKind::EventFd(e) => {
                let mut m = 0;
                if e.readable() {
                    m |= EPOLLIN | EPOLLRDNORM;
                }
                if e.writable() {
                    m |= EPOLLOUT | EPOLLWRNORM;
                }
                m
            }
            FileKind::Epoll(_) => {
                let probes = self.epoll_probes(id, env);
                match self.files.get(&id).map(|f| &f.kind) {
                    Some(FileKind::Epoll(ep)) if ep.would_report(|f| probes.get(&f).copied()) => {
                        EPOLLIN | EPOLLRDNORM
                    }
                    _ => 0,
                }
            }
            FileKind::Static { .. } => EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM,
        }
    }

    /// Every epoll instance and its registrations whose files are ready,
    /// for a debugging dump.
    pub fn describe_epolls(&mut self, env: &mut impl Env) -> String {
        let ids: Vec<FileId> = self
            .files
            .iter()
            .filter(|(_, f)| matches!(f.kind, FileKind::Epoll(_)))
            .map(|(id, _)| *id)
            .collect();
        let mut out = String::new();
        for id in ids {
            let probes = self.epoll_probes(id, env);
            if let Some(FileKind::Epoll(ep)) = self.files.get(&id).map(|f| &f.kind) {
                out.push_str(&alloc::format!("\n  epoll {id:?} ({} registered):", ep.len()));
                let what = |f: FileId| match self.files.get(&f).map(|o| &o.kind) {
                    Some(FileKind::Socket(s)) => alloc::format!("{f:?} socket {:?}", s.handle),
                    Some(FileKind::EventFd(_)) => alloc::format!("{f:?} eventfd"),
                    Some(FileKind::PipeRead(p)) => alloc::format!("{f:?} pipe {p:?} read end"),
                    Some(FileKind::PipeWrite(p)) => alloc::format!("{f:?} pipe {p:?} write end"),
                    Some(FileKind::UnixStream { rx, tx }) => {
                        alloc::format!("{f:?} unix rx {rx:?} tx {tx:?}")
                    }
                    Some(_) => alloc::format!("{f:?}"),
                    None => alloc::format!("{f:?} gone"),
                };
                out.push_str(&ep.describe(|f| probes.get(&f).copied(), what));
            }
        }
        out
    }

    /// Probes of the files registered in epoll `id` (which are never epolls).
    fn epoll_probes(&mut self, id: FileId, env: &mut impl Env) -> BTreeMap<FileId, Probe> {
        let members: Vec<FileId> = match self.files.get(&id).map(|f| &f.kind) {
            Some(FileKind::Epoll(ep)) => ep.keys().map(|(_, f)| f).collect(),
            _ => Vec::new(),
        };
        let mut probes = BTreeMap::new();
        for m in members {
            if m == id || probes.contains_key(&m) {
                continue;
            }
            if !self.files.contains_key(&m) || matches!(self.files[&m].kind, FileKind::Epoll(_)) {
                continue;
            }
            let ready = self.file_ready(m, env);
            let f = &self.files[&m];
            probes.insert(m, Probe { ready, rx_epoch: f.rx_epoch, tx_epoch: f.tx_epoch });
        }
        probes
    }

    pub(crate) fn sys_poll(
        &mut self,
        cx: &Cx,
        fds: u64,
        nfds: u64,
        timeout_ns: Option<u64>,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        if nfds > self.fds.limit() as u64 {
            return Err(Errno::EINVAL);
        }
        let mut pfds: Vec<PollFd> = mem.read_array(fds, nfds as usize)?;
        // What a wait would wake for is taken before readiness is looked
        // at: the engine takes in dom0's answers whenever it is asked, so a
        // change during the looks must show as a change against the keys.
        let keys = if timeout_ns == Some(0) {
            Vec::new()
        } else {
            let files: Vec<FileId> =
                pfds.iter().filter(|p| p.fd >= 0).filter_map(|p| self.fds.get(p.fd).ok()).collect();
            let mut keys = Vec::new();
            for id in files {
                keys.extend(self.wait_keys(id, Want::Any, env));
            }
            keys
        };
        let mut ready = 0;
        for p in pfds.iter_mut() {
            p.revents = 0;
            if p.fd < 0 {
                continue;
            }
            let m = match self.fds.get(p.fd) {
                Ok(id) => self.file_ready(id, env),
                Err(_) => EPOLLNVAL,
            };
            let events = u32::from(p.events as u16);
            p.revents = (m & (events | EPOLLERR | EPOLLHUP | EPOLLNVAL)) as u16 as i16;
            if p.revents != 0 {
                ready += 1;
            }
        }
        mem.write(fds, pfds.as_slice().as_bytes())?;
        if ready > 0 {
            return val(ready);
        }
        let deadline = self.deadline(cx, timeout_ns);
        if timeout_ns == Some(0) || deadline.is_some_and(|d| cx.now >= d) {
            return zero();
        }
        Ok(Ret::Block(BlockOn::Io(keys), deadline))
    }

    pub(crate) fn sys_epoll_ctl(
        &mut self,
        epfd: i32,
        op: u32,
        fd: i32,
        event: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        let (eid, ef) = self.file(epfd)?;
        if !matches!(ef.kind, FileKind::Epoll(_)) {
            return Err(Errno::EINVAL);
        }
        let (tid, tf) = self.file(fd)?;
        if tid == eid {
            return Err(Errno::EINVAL);
        }
        match tf.kind {
            // Regular files do not support polling, as on Linux.
            FileKind::Static { .. } => return Err(Errno::EPERM),
            // Nesting epoll instances is not supported.
            FileKind::Epoll(_) => return Err(Errno::EINVAL),
            _ => {}
        }
        let ev: EpollEvent = match op {
            EPOLL_CTL_ADD | EPOLL_CTL_MOD => mem.read_val(event)?,
            EPOLL_CTL_DEL => EpollEvent::default(),
            _ => return Err(Errno::EINVAL),
        };
        let Some(FileKind::Epoll(ep)) = self.files.get_mut(&eid).map(|f| &mut f.kind) else {
            return Err(Errno::EINVAL);
        };
        match op {
            EPOLL_CTL_ADD => ep.add(fd, tid, ev.events, ev.data)?,
            EPOLL_CTL_MOD => ep.modify(fd, tid, ev.events, ev.data)?,
            _ => ep.delete(fd, tid)?,
        }
        self.bump_file(eid);
        zero()
    }

    pub(crate) fn sys_epoll_wait(
        &mut self,
        cx: &Cx,
        epfd: i32,
        events: u64,
        maxevents: i32,
        timeout_ns: Option<u64>,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        if maxevents <= 0 || maxevents > i32::MAX / 12 {
            return Err(Errno::EINVAL);
        }
        let (eid, ef) = self.file(epfd)?;
        if !matches!(ef.kind, FileKind::Epoll(_)) {
            return Err(Errno::EINVAL);
        }
        // Keys before probes, as in `sys_poll`: an answer the engine takes
        // in while the members are probed then wakes the wait.
        let keys =
            if timeout_ns == Some(0) { Vec::new() } else { self.wait_keys(eid, Want::Any, env) };
        let probes = self.epoll_probes(eid, env);
        let Some(FileKind::Epoll(ep)) = self.files.get_mut(&eid).map(|f| &mut f.kind) else {
            return Err(Errno::EINVAL);
        };
        let evs = ep.collect(maxevents as usize, |f| probes.get(&f).copied());
        if !evs.is_empty() {
            mem.write(events, evs.as_slice().as_bytes())?;
            return val(evs.len());
        }
        let deadline = self.deadline(cx, timeout_ns);
        if timeout_ns == Some(0) || deadline.is_some_and(|d| cx.now >= d) {
            return zero();
        }
        Ok(Ret::Block(BlockOn::Io(keys), deadline))
    }
}
