//! The syscall dispatcher: decodes a thread's registers once into typed arguments, runs the call, and says what the kernel does next.
//!
//! # Calling it
//!
//! At every `syscall` the kernel calls [`Process::syscall`] with the
//! calling thread's id and saved registers, the application's memory and
//! its services. The answer is an [`Action`]; for a plain result the
//! dispatcher has already written `rax` (a value, or `-errno`).
//!
//! # Blocking and re-running
//!
//! A call that must wait returns [`Action::Block`] with the registers
//! untouched: the thread is then blocked in the [`Scheduler`](crate::sched::Scheduler)
//! on a futex word, on sockets and internal files, or until a deadline.
//! When something wakes it, [`Process::pick`] hands it back and the kernel
//! calls [`Process::syscall`] again with the *same* registers. Calls are
//! written to be re-run from their arguments: no lock and no partial
//! transfer is held across the wait; what the re-run needs (its absolute
//! deadline, and why it was woken: a futex wake, a timeout, an I/O change)
//! is kept in the thread.
//!
//! # Example: the kernel's loop
//!
//! ```
//! use skiff_linux::dispatch::Action;
//! use skiff_linux::fake::{FakeEnv, FakeMem};
//! use skiff_linux::process::{Process, ProcessConfig};
//! use skiff_linux::regs::Regs;
//! use skiff_linux::sysno::nr;
//!
//! let mut mem = FakeMem::new();
//! let mut env = FakeEnv::new(mem.clone());
//! let mut p = Process::new(ProcessConfig::default());
//! // The kernel keeps each thread's registers; here the program calls
//! // getpid and then exit_group(3).
//! let mut script = [nr::getpid, nr::exit_group].into_iter();
//! let status = loop {
//!     let Some(tid) = p.pick() else {
//!         // Nothing runnable: wait for an event or the next deadline, then
//!         p.poll(&mut env);
//!         continue;
//!     };
//!     // ... run `tid` in user mode until it makes a syscall ...
//!     let mut regs = Regs { rax: script.next().unwrap(), rdi: 3, ..Regs::default() };
//!     match p.syscall(tid, &mut regs, &mut mem, &mut env) {
//!         Action::Return => { /* sysret with regs.rax */ }
//!         Action::ExitProcess(status) => break status,
//!         _ => { /* block, switch, spawn, signal: see Action */ }
//!     }
//! };
//! assert_eq!(status, 3);
//! ```

// Handlers take a syscall's arguments one by one, already typed, plus the
// call context, the memory and the kernel's services: often more than seven.
#![allow(clippy::too_many_arguments)]

mod fd;
mod fs;
mod io;
mod memory;
mod misc;
mod net;
mod poll;
mod signals;
mod table;
mod thread;
mod time;

use alloc::vec::Vec;

use skiff_pvcalls::Errno;

pub use table::{SUPPORTED, Support, syscall_table_markdown};

use crate::env::{Env, Notice};
use crate::mem::UserMem;
use crate::process::Process;
use crate::regs::Regs;
use crate::sched::{BlockOn, Tid, Wake};
use crate::sysno::{self, nr};
use io::Dir;

/// What the kernel does after [`Process::syscall`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Return to the thread: `rax` holds the result.
    Return,
    /// The thread is blocked: switch to [`Process::pick`]'s choice; when
    /// the thread is picked again, call [`Process::syscall`] again with
    /// the same registers.
    Block,
    /// `sched_yield`: `rax` holds 0 and the thread is at the back of the
    /// run queue; switch to [`Process::pick`]'s choice.
    Yield,
    /// `clone` made a thread: `rax` holds its id for the parent, which
    /// goes on running; the new thread is in the run queue and starts
    /// with these registers (its `rax` is 0) and FS base.
    Spawn(NewThread),
    /// The calling thread has exited (its clear-tid word was cleared and
    /// woken): free its kernel context and switch.
    ExitThread,
    /// The process exits with this status (`exit_group`, or `exit` of the
    /// last thread): power off (0) or crash (non-zero).
    ExitProcess(i32),
    /// The process is killed by this signal (a default action: `abort`,
    /// `raise`, an unhandled `SIGPIPE`, a bad signal frame): report it
    /// and exit with status 128 + signal.
    Killed(u32),
    /// `rt_sigreturn` restored every register from the signal frame:
    /// resume the thread with all of them (`rcx` and `r11` included, so
    /// return with `iretq`, not `sysret`), and load this FPU image (after
    /// checking it: MXCSR reserved bits, XSAVE header) if there is one.
    SigReturn(Option<Vec<u8>>),
    /// `rax` holds the result; now deliver this signal to the calling
    /// thread: call [`Process::deliver_signal`] with its FPU image.
    Signal(u32),
}

/// A thread `clone` created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewThread {
    /// Its id.
    pub tid: Tid,
    /// Its registers: the parent's at the syscall, with `rax` 0 and the new stack.
    pub regs: Regs,
    /// Its FS base.
    pub fs_base: u64,
}

/// A handler's outcome.
pub(crate) enum Ret {
    /// A result for `rax`.
    Val(u64),
    /// Block on this until that deadline.
    Block(BlockOn, Option<u64>),
    /// Something else for the kernel to do (`rax` already written if needed).
    Act(Action),
    /// A result for `rax`, then something else to do (a signal).
    ValThen(u64, Action),
}

pub(crate) type SysResult = Result<Ret, Errno>;

/// The call being served.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cx {
    /// The calling thread.
    pub tid: Tid,
    /// This is the re-run of a call that blocked.
    pub resumed: bool,
    /// What woke it, on a re-run.
    pub wake: Option<Wake>,
    /// Monotonic time now.
    pub now: u64,
}

/// The `fd` argument (`unsigned int` in the kernel, negative here if large).
pub(crate) fn fd(a: u64) -> i32 {
    a as u32 as i32
}

/// Converts a count into `rax`.
pub(crate) fn val(v: usize) -> SysResult {
    Ok(Ret::Val(v as u64))
}

/// Success with 0.
pub(crate) fn zero() -> SysResult {
    Ok(Ret::Val(0))
}

impl Process {
    /// Serves the syscall of thread `tid` whose registers are `regs` (see
    /// the module documentation). Never panics on what the application
    /// passes; an unknown or unimplemented number gives `ENOSYS` and a
    /// [`Notice::Unimplemented`] the first time.
    pub fn syscall<M: UserMem, E: Env>(
        &mut self,
        tid: Tid,
        regs: &mut Regs,
        mem: &mut M,
        env: &mut E,
    ) -> Action {
        let nr = regs.rax;
        let Some(th) = self.threads.get_mut(&tid) else {
            regs.rax = neg(Errno::ESRCH);
            return Action::Return;
        };
        let resumed = th.blocked_nr == Some(nr);
        th.blocked_nr = None;
        if !resumed {
            th.deadline = None;
        }
        let wake = self.sched.take_wake(tid);
        let cx = Cx { tid, resumed, wake, now: env.monotonic_ns() };
        let r = self.dispatch(&cx, nr, regs, mem, env);
        match r {
            Ok(Ret::Val(v)) => {
                regs.rax = v;
                Action::Return
            }
            Err(e) => {
                regs.rax = neg(e);
                Action::Return
            }
            Ok(Ret::Block(on, deadline)) => {
                if let Some(th) = self.threads.get_mut(&tid) {
                    th.blocked_nr = Some(nr);
                    th.deadline = deadline;
                }
                self.sched.block(tid, on, deadline);
                Action::Block
            }
            Ok(Ret::Act(a)) => a,
            Ok(Ret::ValThen(v, a)) => {
                regs.rax = v;
                a
            }
        }
    }

    /// The absolute deadline of the call: the one kept from before on a
    /// re-run, else `now + timeout_ns`.
    pub(crate) fn deadline(&self, cx: &Cx, timeout_ns: Option<u64>) -> Option<u64> {
        if cx.resumed {
            return self.threads.get(&cx.tid).and_then(|t| t.deadline);
        }
        timeout_ns.map(|t| cx.now.saturating_add(t))
    }

    fn dispatch<M: UserMem, E: Env>(
        &mut self,
        cx: &Cx,
        nr: u64,
        regs: &mut Regs,
        mem: &mut M,
        env: &mut E,
    ) -> SysResult {
        let [a0, a1, a2, a3, a4, a5] = regs.args();
        match nr {
            // I/O on fds.
            nr::read => self.sys_rw(cx, fd(a0), a1, a2, Dir::Read, mem, env),
            nr::write => self.sys_rw(cx, fd(a0), a1, a2, Dir::Write, mem, env),
            nr::readv => self.sys_rwv(cx, fd(a0), a1, a2, Dir::Read, mem, env),
            nr::writev => self.sys_rwv(cx, fd(a0), a1, a2, Dir::Write, mem, env),
            nr::pread64 => self.sys_pread(fd(a0), a1, a2, a3 as i64, mem, env),
            nr::close => self.sys_close(fd(a0), env),
            nr::lseek => self.sys_lseek(fd(a0), a1 as i64, a2 as u32),
            // Files.
            nr::open => self.sys_openat(crate::abi::AT_FDCWD, a0, a1 as u32, mem),
            nr::openat => self.sys_openat(a0 as i32, a1, a2 as u32, mem),
            nr::fstat => self.sys_fstat(fd(a0), a1, mem),
            nr::stat | nr::lstat => self.sys_newfstatat(crate::abi::AT_FDCWD, a0, a1, 0, mem),
            nr::newfstatat => self.sys_newfstatat(a0 as i32, a1, a2, a3 as u32, mem),
            nr::statx => self.sys_statx(a0 as i32, a1, a2 as u32, a4, mem),
            nr::access => self.sys_faccessat(crate::abi::AT_FDCWD, a0, a1 as u32, mem),
            nr::faccessat | nr::faccessat2 => self.sys_faccessat(a0 as i32, a1, a2 as u32, mem),
            nr::readlink => self.sys_readlinkat(crate::abi::AT_FDCWD, a0, a1, a2, mem),
            nr::readlinkat => self.sys_readlinkat(a0 as i32, a1, a2, a3, mem),
            nr::getcwd => self.sys_getcwd(a0, a1, mem),
            // Fd table.
            nr::dup => self.sys_dup(fd(a0)),
            nr::dup2 => self.sys_dup3(fd(a0), fd(a1), None, env),
            nr::dup3 => self.sys_dup3(fd(a0), fd(a1), Some(a2 as u32), env),
            nr::fcntl => self.sys_fcntl(fd(a0), a1 as u32, a2),
            nr::ioctl => self.sys_ioctl(fd(a0), a1 as u32, a2, mem, env),
            nr::pipe => self.sys_pipe2(a0, 0, mem, env),
            nr::pipe2 => self.sys_pipe2(a0, a1 as u32, mem, env),
            nr::eventfd => self.sys_eventfd2(a0 as u32, 0),
            nr::eventfd2 => self.sys_eventfd2(a0 as u32, a1 as u32),
            // Readiness.
            nr::poll => self.sys_poll(cx, a0, a1, poll::poll_timeout(a2 as i32), mem, env),
            nr::ppoll => {
                let t = poll::timespec_timeout(a2, mem)?;
                self.sys_poll(cx, a0, a1, t, mem, env)
            }
            nr::epoll_create => self.sys_epoll_create(if (a0 as i32) <= 0 { u32::MAX } else { 0 }),
            nr::epoll_create1 => self.sys_epoll_create(a0 as u32),
            nr::epoll_ctl => self.sys_epoll_ctl(fd(a0), a1 as u32, fd(a2), a3, mem),
            nr::epoll_wait | nr::epoll_pwait => self.sys_epoll_wait(
                cx,
                fd(a0),
                a1,
                a2 as i32,
                poll::poll_timeout(a3 as i32),
                mem,
                env,
            ),
            nr::epoll_pwait2 => {
                let t = poll::timespec_timeout(a3, mem)?;
                self.sys_epoll_wait(cx, fd(a0), a1, a2 as i32, t, mem, env)
            }
            // Sockets.
            nr::socket => self.sys_socket(a0 as u32, a1 as u32, a2 as u32, env),
            nr::socketpair => self.sys_socketpair(a0 as u32, a1 as u32, a2 as u32, a3, mem, env),
            nr::bind => self.sys_bind(fd(a0), a1, a2 as u32, mem, env),
            nr::listen => self.sys_listen(fd(a0), a1 as i32, env),
            nr::accept => self.sys_accept4(cx, fd(a0), a1, a2, 0, mem, env),
            nr::accept4 => self.sys_accept4(cx, fd(a0), a1, a2, a3 as u32, mem, env),
            nr::connect => self.sys_connect(cx, fd(a0), a1, a2 as u32, mem, env),
            nr::sendto => self.sys_sendrecv(cx, fd(a0), a1, a2, a3 as u32, 0, Dir::Write, mem, env),
            nr::recvfrom => {
                let addrlen = if a4 != 0 { a5 } else { 0 };
                self.sys_sendrecv(cx, fd(a0), a1, a2, a3 as u32, addrlen, Dir::Read, mem, env)
            }
            nr::sendmsg => self.sys_msg(cx, fd(a0), a1, a2 as u32, Dir::Write, mem, env),
            nr::recvmsg => self.sys_msg(cx, fd(a0), a1, a2 as u32, Dir::Read, mem, env),
            nr::shutdown => self.sys_shutdown(fd(a0), a1 as u32, env),
            nr::getsockname => self.sys_getsockname(fd(a0), a1, a2, mem),
            nr::getpeername => self.sys_getpeername(fd(a0), a1, a2, mem, env),
            nr::setsockopt => self.sys_setsockopt(fd(a0), a1 as u32, a2 as u32, a3, a4 as u32, mem),
            nr::getsockopt => self.sys_getsockopt(fd(a0), a1 as u32, a2 as u32, a3, a4, mem, env),
            // Memory.
            nr::mmap => self.sys_mmap(a0, a1, a2, a3 as u32, fd(a4), a5, env),
            nr::munmap => self.sys_munmap(a0, a1, env),
            nr::mprotect => self.sys_mprotect(a0, a1, a2, env),
            nr::madvise => self.sys_madvise(a0, a1, a2 as u32, env),
            nr::mremap => self.sys_mremap(a0, a1, a2, a3 as u32, mem, env),
            nr::brk => self.sys_brk(a0, env),
            // Threads and futexes.
            nr::clone => self.sys_clone(cx, regs, a0, a1, a2, a3, a4, mem, env),
            nr::exit => self.sys_exit(cx, a0 as i32, mem),
            nr::exit_group => Ok(Ret::Act(Action::ExitProcess(a0 as i32 & 0xff))),
            nr::set_tid_address => self.sys_set_tid_address(cx, a0),
            nr::set_robust_list => self.sys_set_robust_list(a1),
            nr::futex => self.sys_futex(cx, a0, a1 as u32, a2 as u32, a3, a4, a5 as u32, mem, env),
            nr::arch_prctl => self.sys_arch_prctl(cx, a0 as u32, a1, mem, env),
            nr::prctl => self.sys_prctl(cx.tid, a0 as u32, a1, mem),
            nr::sched_yield => {
                self.sched.yield_now(cx.tid);
                regs.rax = 0;
                Ok(Ret::Act(Action::Yield))
            }
            nr::sched_getaffinity => self.sys_sched_getaffinity(a0 as i32, a1, a2, mem),
            nr::sched_setaffinity => self.sys_sched_setaffinity(a0 as i32, a1, a2, mem),
            nr::getcpu => self.sys_getcpu(a0, a1, mem),
            // Signals.
            nr::rt_sigaction => self.sys_rt_sigaction(a0 as u32, a1, a2, a3, mem),
            nr::rt_sigprocmask => self.sys_rt_sigprocmask(cx, a0 as u32, a1, a2, a3, mem),
            nr::sigaltstack => self.sys_sigaltstack(cx, regs.rsp, a0, a1, mem),
            nr::rt_sigreturn => self.sys_rt_sigreturn(cx, regs, mem),
            nr::kill => self.sys_kill(cx, a0 as i32, None, a1 as u32),
            nr::tkill => self.sys_kill(cx, self.pid as i32, Some(a0 as i32), a1 as u32),
            nr::tgkill => self.sys_kill(cx, a0 as i32, Some(a1 as i32), a2 as u32),
            // Time.
            nr::clock_gettime => self.sys_clock_gettime(a0 as i32, a1, mem, env),
            nr::clock_getres => self.sys_clock_getres(a0 as i32, a1, mem),
            nr::gettimeofday => self.sys_gettimeofday(a0, a1, mem, env),
            nr::time => self.sys_time(a0, mem, env),
            nr::nanosleep => self.sys_nanosleep(cx, a0, mem),
            nr::clock_nanosleep => self.sys_clock_nanosleep(cx, a0 as i32, a1 as u32, a2, mem, env),
            // Identity and the rest.
            nr::getrandom => self.sys_getrandom(a0, a1, a2 as u32, mem, env),
            nr::uname => self.sys_uname(a0, mem),
            nr::getpid => val(self.pid as usize),
            nr::gettid => val(cx.tid as usize),
            nr::getppid => zero(),
            nr::getuid | nr::geteuid | nr::getgid | nr::getegid => zero(),
            nr::getresuid | nr::getresgid => self.sys_getres(a0, a1, a2, mem),
            nr::getpgrp | nr::getsid => val(self.pid as usize),
            nr::prlimit64 => self.sys_prlimit64(a0 as i32, a1 as u32, a2, a3, mem),
            nr::getrlimit => self.sys_prlimit64(0, a0 as u32, 0, a1, mem),
            nr::setrlimit => self.sys_prlimit64(0, a0 as u32, a1, 0, mem),
            _ => {
                self.notice_once(env, Notice::Unimplemented { nr, name: sysno::name(nr) });
                Err(Errno::ENOSYS)
            }
        }
    }
}

/// `-errno` as `rax` holds it.
pub(crate) fn neg(e: Errno) -> u64 {
    (-i64::from(e.0)) as u64
}
