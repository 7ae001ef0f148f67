//! One Linux process: its threads, fd table and open files, pipes, memory regions, signal dispositions, and the scheduler.
//!
//! The kernel creates a [`Process`] after loading the binary, runs its
//! threads, hands every `syscall` to [`Process::syscall`] (see
//! [`crate::dispatch`]) and every CPU fault to [`Process::fault`], and calls
//! [`Process::poll`] when socket events arrive or a deadline passes.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::ops::Range;

use skiff_pvcalls::{Errno, Readiness};

use crate::abi::{O_RDWR, PAGE_SIZE};
use crate::env::{Env, Notice, SocketHandle};
use crate::fdtable::FdTable;
use crate::file::{FileId, FileKind, OpenFile, PipeId};
use crate::names;
use crate::pipe::Pipe;
use crate::sched::{IoKey, Scheduler, Tid};
use crate::signal::{SigActions, ThreadSignals};
use crate::vfs::VfsContext;
use crate::vm::{Prot, Regions};

/// Most threads a process may have (`EAGAIN` from `clone` beyond).
pub const MAX_THREADS: usize = 4096;

/// What the kernel tells a new process.
#[derive(Clone, Debug)]
pub struct ProcessConfig {
    /// The program's path (`argv[0]`, `AT_EXECFN`, `/proc/self/exe`).
    pub exe: String,
    /// Names for `/etc/hosts` besides `localhost`.
    pub hosts: Vec<(String, Ipv4Addr)>,
    /// The node name `uname` reports.
    pub hostname: String,
    /// Ranges the application owns at start (its segments, its stack), with protections.
    pub regions: Vec<(Range<u64>, Prot)>,
    /// The `brk` area: `start` is where the heap begins (after the image,
    /// page aligned), `end` how far it may grow (equal to `start`: `brk`
    /// cannot grow and musl's malloc uses `mmap`).
    pub brk: Range<u64>,
    /// Length of the FPU state image the kernel saves and restores for
    /// signal frames (512 for FXSAVE).
    pub fp_len: usize,
    /// Smallest alternate signal stack accepted (`MINSIGSTKSZ`, also given as `AT_MINSIGSTKSZ`).
    pub min_sigstack: u64,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            exe: String::from("/app"),
            hosts: Vec::new(),
            hostname: String::from("skiff"),
            regions: Vec::new(),
            brk: 0..0,
            fp_len: 512,
            min_sigstack: crate::abi::MINSIGSTKSZ,
        }
    }
}

/// One thread's per-thread state (registers live in the kernel).
#[derive(Clone, Debug)]
pub struct Thread {
    /// Its id.
    pub tid: Tid,
    /// `CLONE_CHILD_CLEARTID` / `set_tid_address`: zeroed and futex-woken at exit.
    pub clear_child_tid: u64,
    /// Signal mask and alternate stack.
    pub signals: ThreadSignals,
    /// Signals sent to this thread while blocked (delivered when unblocked).
    pub pending: u64,
    /// FS base (TLS pointer).
    pub fs_base: u64,
    /// Its name (`prctl(PR_SET_NAME)`), NUL-padded.
    pub name: [u8; 16],
    /// The syscall it is blocked in (its re-run is a resumption).
    pub(crate) blocked_nr: Option<u64>,
    /// The absolute deadline (monotonic ns) of that blocked syscall.
    pub(crate) deadline: Option<u64>,
}

impl Thread {
    pub(crate) fn new(tid: Tid, fs_base: u64, mask: u64) -> Self {
        let mut signals = ThreadSignals::new();
        signals.mask = mask;
        Thread {
            tid,
            clear_child_tid: 0,
            signals,
            pending: 0,
            fs_base,
            name: [0; 16],
            blocked_nr: None,
            deadline: None,
        }
    }
}

/// The `brk` heap: `start..=cur` in use, up to `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Brk {
    pub start: u64,
    pub cur: u64,
    pub limit: u64,
}

/// A Linux process. See the module documentation.
#[derive(Debug)]
pub struct Process {
    pub(crate) pid: u32,
    pub(crate) threads: BTreeMap<Tid, Thread>,
    pub(crate) next_tid: Tid,
    /// The scheduler (public for the kernel's loop and for tests).
    pub sched: Scheduler,
    pub(crate) fds: FdTable,
    pub(crate) files: BTreeMap<FileId, OpenFile>,
    pub(crate) next_file: u64,
    pub(crate) pipes: BTreeMap<PipeId, Pipe>,
    pub(crate) next_pipe: u64,
    pub(crate) regions: Regions,
    pub(crate) brk: Brk,
    pub(crate) sigactions: SigActions,
    pub(crate) vfs: VfsContext,
    pub(crate) hostname: String,
    pub(crate) fp_len: usize,
    pub(crate) min_sigstack: u64,
    pub(crate) reported: BTreeSet<u64>,
    pub(crate) notices: Vec<Notice>,
    pub(crate) scratch: Vec<u8>,
}

impl Process {
    /// A process with one thread (its id is the pid, 1), fds 0-2 on the
    /// console, and the given memory recorded as owned. The kernel starts
    /// that thread at the entry point with the stack built by
    /// [`crate::loader::build_stack`].
    pub fn new(config: ProcessConfig) -> Self {
        let mut regions = Regions::new();
        for (r, prot) in &config.regions {
            let start = r.start & !(PAGE_SIZE - 1);
            let end = r.end.div_ceil(PAGE_SIZE) * PAGE_SIZE;
            if start < end {
                let _ = regions.insert(start, end, *prot);
            }
        }
        let brk_start = config.brk.start.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let brk = Brk { start: brk_start, cur: brk_start, limit: config.brk.end.max(brk_start) };
        let mut p = Process {
            pid: 1,
            threads: BTreeMap::new(),
            next_tid: 2,
            sched: Scheduler::new(),
            fds: FdTable::default(),
            files: BTreeMap::new(),
            next_file: 1,
            pipes: BTreeMap::new(),
            next_pipe: 1,
            regions,
            brk,
            sigactions: SigActions::default(),
            vfs: VfsContext {
                hosts: names::hosts_file(&config.hosts),
                resolv: names::resolv_conf(),
                exe: config.exe.clone(),
                hostname: config.hostname.clone(),
            },
            hostname: config.hostname,
            fp_len: config.fp_len,
            min_sigstack: config.min_sigstack,
            reported: BTreeSet::new(),
            notices: Vec::new(),
            scratch: Vec::new(),
        };
        let console = p.new_file(FileKind::Console, O_RDWR);
        for fd in 0..3 {
            let _ = p.install(console, false, fd);
        }
        p.threads.insert(1, Thread::new(1, 0, 0));
        p.sched.add(1);
        p
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A thread's state, if it exists.
    pub fn thread(&self, tid: Tid) -> Option<&Thread> {
        self.threads.get(&tid)
    }

    /// Ids of the live threads.
    pub fn thread_ids(&self) -> impl Iterator<Item = Tid> + '_ {
        self.threads.keys().copied()
    }

    /// Number of open fds.
    pub fn open_fds(&self) -> usize {
        self.fds.open_count()
    }

    /// The memory the application owns, as `(start, end, prot)`.
    pub fn regions(&self) -> impl Iterator<Item = (u64, u64, Prot)> + '_ {
        self.regions.iter()
    }

    /// Forgets thread `tid`, which `clone` just made, because the kernel
    /// could not create it (no memory for its kernel side); the kernel then
    /// fails that `clone` with `EAGAIN`.
    pub fn forget_thread(&mut self, tid: Tid) {
        if tid != 1 && self.threads.remove(&tid).is_some() {
            self.sched.remove(tid);
        }
    }

    /// The next thread to run (see [`Scheduler::pick`]).
    pub fn pick(&mut self) -> Option<Tid> {
        self.sched.pick()
    }

    /// The earliest deadline of a blocked thread (monotonic ns): the kernel
    /// must call [`poll`](Self::poll) by then.
    pub fn next_deadline(&self) -> Option<u64> {
        self.sched.next_deadline()
    }

    /// Makes runnable every thread whose deadline passed or whose socket
    /// changed (readiness differs from what it saw, or a command it waits
    /// for may have been answered). The kernel calls it after socket
    /// events (any PV Calls event channel) and when the deadline of
    /// [`next_deadline`](Self::next_deadline) passes; not in a spin, since
    /// a thread waiting for dom0's answer to bind, listen or connect is
    /// woken by every call to look again. Internal files (pipes, eventfds,
    /// epoll changes, closes) wake their waiters at once without it.
    /// Returns how many threads were woken.
    pub fn poll<E: Env>(&mut self, env: &mut E) -> usize {
        let mut n = self.sched.wake_expired(env.monotonic_ns());
        let mut cache: BTreeMap<SocketHandle, Readiness> = BTreeMap::new();
        let mut handles: Vec<SocketHandle> = Vec::new();
        for (_, keys) in self.sched.io_waiters() {
            for k in keys {
                if let IoKey::Socket { handle, .. } = k {
                    handles.push(*handle);
                }
            }
        }
        for h in handles {
            cache.entry(h).or_insert_with(|| env.readiness(h));
        }
        n += self.sched.wake_io(|k| match k {
            IoKey::Socket { handle, seen } => cache.get(handle) != Some(seen),
            IoKey::Command(_) => true,
            IoKey::File(_) | IoKey::Pipe(_) | IoKey::Rearm(_) => false,
        });
        n
    }

    /// Every thread is blocked with nothing that could wake it (futexes and
    /// internal files only, no deadline): the process is deadlocked.
    pub fn deadlocked(&self) -> bool {
        self.sched.deadlocked()
    }

    /// Sends `notice` to the kernel once per kind (per number for unimplemented syscalls).
    pub(crate) fn notice_once<E: Env>(&mut self, env: &mut E, notice: Notice) {
        let key = match notice {
            Notice::Unimplemented { nr, .. } => nr,
            _ => u64::MAX - self.notices.len() as u64,
        };
        let seen = match notice {
            Notice::Unimplemented { .. } => !self.reported.insert(key),
            Notice::CloneRefused { .. } => false,
            n => self.notices.contains(&n),
        };
        if !seen {
            if !matches!(notice, Notice::Unimplemented { .. }) {
                self.notices.push(notice);
            }
            env.notice(notice);
        }
    }

    // ---- Open files -------------------------------------------------

    /// Adds an open file with no fd yet.
    pub(crate) fn new_file(&mut self, kind: FileKind, flags: u32) -> FileId {
        let id = FileId(self.next_file);
        self.next_file += 1;
        self.files.insert(id, OpenFile::new(kind, flags));
        id
    }

    /// Names `file` by the lowest free fd not below `min`.
    pub(crate) fn install(&mut self, file: FileId, cloexec: bool, min: i32) -> Result<i32, Errno> {
        let fd = self.fds.alloc(file, cloexec, min)?;
        if let Some(f) = self.files.get_mut(&file) {
            f.refs += 1;
        }
        Ok(fd)
    }

    /// The open file of `fd`.
    pub(crate) fn file(&self, fd: i32) -> Result<(FileId, &OpenFile), Errno> {
        let id = self.fds.get(fd)?;
        self.files.get(&id).map(|f| (id, f)).ok_or(Errno::EBADF)
    }

    /// The open file of `fd`, mutably.
    pub(crate) fn file_mut(&mut self, fd: i32) -> Result<(FileId, &mut OpenFile), Errno> {
        let id = self.fds.get(fd)?;
        self.files.get_mut(&id).map(|f| (id, f)).ok_or(Errno::EBADF)
    }

    /// Drops one reference to `file`; the last one releases it: a socket
    /// is closed in the engine, a pipe end counted out, epoll
    /// registrations of it dropped, waiters woken.
    pub(crate) fn release<E: Env>(&mut self, id: FileId, env: &mut E) {
        let Some(f) = self.files.get_mut(&id) else { return };
        f.refs = f.refs.saturating_sub(1);
        if f.refs > 0 {
            return;
        }
        let Some(f) = self.files.remove(&id) else { return };
        match f.kind {
            FileKind::Socket(s) => {
                env.close(s.handle);
                let h = s.handle;
                self.sched.wake_io(|k| {
                    matches!(k, IoKey::Socket { handle, .. } | IoKey::Command(handle) if *handle == h)
                });
            }
            FileKind::PipeRead(p) => self.drop_pipe_end(p, true),
            FileKind::PipeWrite(p) => self.drop_pipe_end(p, false),
            FileKind::UnixStream { rx, tx } => {
                self.drop_pipe_end(rx, true);
                self.drop_pipe_end(tx, false);
            }
            _ => {}
        }
        for other in self.files.values_mut() {
            if let FileKind::Epoll(ep) = &mut other.kind {
                ep.forget_file(id);
            }
        }
        self.sched.wake_file(id);
    }

    /// One open file of pipe `p`'s read (or write) end is gone; the pipe
    /// goes when no end is left, and waiters on it wake.
    fn drop_pipe_end(&mut self, p: PipeId, reader: bool) {
        if let Some(pipe) = self.pipes.get_mut(&p) {
            if reader {
                pipe.readers = pipe.readers.saturating_sub(1);
            } else {
                pipe.writers = pipe.writers.saturating_sub(1);
            }
            if pipe.readers == 0 && pipe.writers == 0 {
                self.pipes.remove(&p);
            }
        }
        self.bump_pipe(p);
    }

    /// Something changed in pipe `p`: both ends' epochs move and waiters wake.
    pub(crate) fn bump_pipe(&mut self, p: PipeId) {
        for f in self.files.values_mut() {
            let touches = match f.kind {
                FileKind::PipeRead(q) | FileKind::PipeWrite(q) => q == p,
                FileKind::UnixStream { rx, tx } => rx == p || tx == p,
                _ => false,
            };
            if touches {
                f.rx_epoch += 1;
                f.tx_epoch += 1;
            }
        }
        self.sched.wake_io(|k| *k == IoKey::Pipe(p));
    }

    /// Something changed in internal file `id` (eventfd, epoll): its
    /// epochs move and waiters wake.
    pub(crate) fn bump_file(&mut self, id: FileId) {
        if let Some(f) = self.files.get_mut(&id) {
            f.rx_epoch += 1;
            f.tx_epoch += 1;
        }
        self.sched.wake_file(id);
    }
}
