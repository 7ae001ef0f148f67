//! Threads and futexes: `clone` (musl's pthread flags), `exit`, `set_tid_address`, `futex`, `arch_prctl`, affinity.

use skiff_pvcalls::Errno;

use super::{Action, Cx, NewThread, Ret, SysResult, val, zero};
use crate::abi::{
    ARCH_GET_FS, ARCH_SET_FS, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID, CLONE_DETACHED,
    CLONE_FILES, CLONE_FS, CLONE_PARENT_SETTID, CLONE_SETTLS, CLONE_SIGHAND, CLONE_SYSVSEM,
    CLONE_THREAD, CLONE_VM, CSIGNAL, FUTEX_BITSET_MATCH_ANY, FUTEX_CLOCK_REALTIME,
    FUTEX_CMP_REQUEUE, FUTEX_PRIVATE_FLAG, FUTEX_REQUEUE, FUTEX_WAIT, FUTEX_WAIT_BITSET,
    FUTEX_WAKE, FUTEX_WAKE_BITSET, Timespec,
};
use crate::env::{Env, Notice};
use crate::mem::{UserMem, UserMemExt};
use crate::process::{MAX_THREADS, Process, Thread};
use crate::regs::{Regs, is_user_addr};
use crate::sched::{BlockOn, Wake};

/// Flags every thread `clone` must have.
const THREAD_FLAGS: u64 = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
/// Flags a thread `clone` may add.
const THREAD_EXTRA: u64 = CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_CHILD_SETTID
    | CLONE_DETACHED;

impl Process {
    /// `clone(flags, stack, parent_tid, child_tid, tls)`. Only threads:
    /// `CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD` plus any
    /// of `CLONE_SYSVSEM`, `CLONE_SETTLS`, `CLONE_PARENT_SETTID`,
    /// `CLONE_CHILD_CLEARTID`, `CLONE_CHILD_SETTID`, with a stack. A new
    /// process (`fork`, `vfork`, `posix_spawn`: no `CLONE_VM` or no
    /// `CLONE_THREAD`) is `ENOSYS`; other thread-like combinations `EINVAL`;
    /// both with a console notice.
    pub(crate) fn sys_clone(
        &mut self,
        cx: &Cx,
        regs: &mut Regs,
        flags: u64,
        stack: u64,
        ptid: u64,
        ctid: u64,
        tls: u64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        if flags & (CLONE_VM | CLONE_THREAD) != CLONE_VM | CLONE_THREAD {
            self.notice_once(env, Notice::CloneRefused { flags });
            return Err(Errno::ENOSYS);
        }
        if flags & THREAD_FLAGS != THREAD_FLAGS
            || flags & !(THREAD_FLAGS | THREAD_EXTRA | CSIGNAL) != 0
        {
            self.notice_once(env, Notice::CloneRefused { flags });
            return Err(Errno::EINVAL);
        }
        if stack == 0 || !is_user_addr(stack) {
            return Err(Errno::EINVAL);
        }
        if flags & CLONE_SETTLS != 0 && !is_user_addr(tls) {
            return Err(Errno::EPERM);
        }
        if self.threads.len() >= MAX_THREADS {
            return Err(Errno::EAGAIN);
        }
        let tid = self.next_tid;
        if flags & CLONE_PARENT_SETTID != 0 {
            mem.write_val(ptid, &tid)?;
        }
        if flags & CLONE_CHILD_SETTID != 0 {
            mem.write_val(ctid, &tid)?;
        }
        self.next_tid += 1;
        let parent = self.threads.get(&cx.tid).ok_or(Errno::ESRCH)?;
        let fs_base = if flags & CLONE_SETTLS != 0 { tls } else { parent.fs_base };
        let mut th = Thread::new(tid, fs_base, parent.signals.mask);
        if flags & CLONE_CHILD_CLEARTID != 0 {
            th.clear_child_tid = ctid;
        }
        self.threads.insert(tid, th);
        self.sched.add(tid);
        let child = Regs { rax: 0, rsp: stack, ..*regs };
        regs.rax = u64::from(tid);
        Ok(Ret::Act(Action::Spawn(NewThread { tid, regs: child, fs_base })))
    }

    /// `exit`: this thread ends; its clear-tid word is zeroed and woken
    /// (what `pthread_join` waits on). The last thread's exit ends the process.
    pub(crate) fn sys_exit(&mut self, cx: &Cx, status: i32, mem: &mut impl UserMem) -> SysResult {
        let Some(th) = self.threads.remove(&cx.tid) else { return Err(Errno::ESRCH) };
        if th.clear_child_tid != 0 && mem.write_val(th.clear_child_tid, &0u32).is_ok() {
            self.sched.futex_wake(th.clear_child_tid, 1, FUTEX_BITSET_MATCH_ANY);
        }
        self.sched.remove(cx.tid);
        if self.threads.is_empty() {
            return Ok(Ret::Act(Action::ExitProcess(status & 0xff)));
        }
        Ok(Ret::Act(Action::ExitThread))
    }

    pub(crate) fn sys_set_tid_address(&mut self, cx: &Cx, addr: u64) -> SysResult {
        if let Some(t) = self.threads.get_mut(&cx.tid) {
            t.clear_child_tid = addr;
        }
        val(cx.tid as usize)
    }

    /// `set_robust_list`: accepted (length checked); robust futexes of a
    /// dying thread are not cleaned up (threads only die by `exit`).
    pub(crate) fn sys_set_robust_list(&mut self, len: u64) -> SysResult {
        if len != 24 {
            return Err(Errno::EINVAL);
        }
        zero()
    }

    /// `futex(uaddr, op, val, timeout_or_val2, uaddr2, val3)`: WAIT, WAKE,
    /// WAIT_BITSET, WAKE_BITSET, REQUEUE, CMP_REQUEUE, keyed by user
    /// address (private and shared alike: there is one address space).
    pub(crate) fn sys_futex(
        &mut self,
        cx: &Cx,
        uaddr: u64,
        op: u32,
        value: u32,
        timeout: u64,
        uaddr2: u64,
        val3: u32,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
        if op & FUTEX_CLOCK_REALTIME != 0 && cmd != FUTEX_WAIT_BITSET && cmd != FUTEX_WAIT {
            return Err(Errno::ENOSYS);
        }
        if !uaddr.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        match cmd {
            FUTEX_WAIT | FUTEX_WAIT_BITSET => {
                let bitset = if cmd == FUTEX_WAIT { FUTEX_BITSET_MATCH_ANY } else { val3 };
                if bitset == 0 {
                    return Err(Errno::EINVAL);
                }
                if cx.resumed {
                    match cx.wake {
                        Some(Wake::Futex) => return zero(),
                        Some(Wake::Timeout) => return Err(Errno::ETIMEDOUT),
                        _ => {}
                    }
                }
                let deadline = if cx.resumed {
                    self.deadline(cx, None)
                } else if timeout == 0 {
                    None
                } else {
                    let ts: Timespec = mem.read_val(timeout)?;
                    let t = ts.to_nanos()?;
                    if cmd == FUTEX_WAIT {
                        Some(cx.now.saturating_add(t))
                    } else if op & FUTEX_CLOCK_REALTIME != 0 {
                        Some(cx.now.saturating_add(t.saturating_sub(env.realtime_ns())))
                    } else {
                        Some(t)
                    }
                };
                let cur: u32 = mem.read_val(uaddr)?;
                if cur != value {
                    return Err(Errno::EAGAIN);
                }
                if deadline.is_some_and(|d| cx.now >= d) {
                    return Err(Errno::ETIMEDOUT);
                }
                Ok(Ret::Block(BlockOn::Futex { addr: uaddr, bitset }, deadline))
            }
            FUTEX_WAKE | FUTEX_WAKE_BITSET => {
                let bitset = if cmd == FUTEX_WAKE { FUTEX_BITSET_MATCH_ANY } else { val3 };
                if bitset == 0 {
                    return Err(Errno::EINVAL);
                }
                // Linux wakes at least one waiter even for a count of 0.
                let n = (value as i32).max(1) as usize;
                val(self.sched.futex_wake(uaddr, n, bitset).len())
            }
            FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
                if !uaddr2.is_multiple_of(4) {
                    return Err(Errno::EINVAL);
                }
                let n_wake = usize::try_from(value as i32).map_err(|_| Errno::EINVAL)?;
                let n_move = usize::try_from(timeout as i32).map_err(|_| Errno::EINVAL)?;
                if cmd == FUTEX_CMP_REQUEUE {
                    let cur: u32 = mem.read_val(uaddr)?;
                    if cur != val3 {
                        return Err(Errno::EAGAIN);
                    }
                }
                let (w, m) = self.sched.futex_requeue(uaddr, uaddr2, n_wake, n_move);
                val(w + m)
            }
            _ => Err(Errno::ENOSYS),
        }
    }

    /// `arch_prctl`: `ARCH_SET_FS` (a user address, else `EPERM`) and
    /// `ARCH_GET_FS`; the GS base is not offered (`EINVAL`).
    pub(crate) fn sys_arch_prctl(
        &mut self,
        cx: &Cx,
        code: u32,
        addr: u64,
        mem: &mut impl UserMem,
        env: &mut impl Env,
    ) -> SysResult {
        let th = self.threads.get_mut(&cx.tid).ok_or(Errno::ESRCH)?;
        match code {
            ARCH_SET_FS => {
                if !is_user_addr(addr) {
                    return Err(Errno::EPERM);
                }
                th.fs_base = addr;
                env.set_fs_base(addr);
                zero()
            }
            ARCH_GET_FS => {
                let base = th.fs_base;
                mem.write_val(addr, &base)?;
                zero()
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `pid` names this process or one of its threads (0: the caller); else `ESRCH`.
    pub(crate) fn owns_pid(&self, pid: i32) -> Result<(), Errno> {
        if pid == 0 || pid as u32 == self.pid || self.threads.contains_key(&(pid as u32)) {
            Ok(())
        } else {
            Err(Errno::ESRCH)
        }
    }

    /// `sched_getaffinity`: one CPU (the vCPU); returns the mask size (8).
    pub(crate) fn sys_sched_getaffinity(
        &mut self,
        pid: i32,
        len: u64,
        mask: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        self.owns_pid(pid)?;
        if len < 8 || !len.is_multiple_of(8) {
            return Err(Errno::EINVAL);
        }
        mem.write_val(mask, &1u64)?;
        val(8)
    }

    /// `sched_setaffinity`: accepted if the mask holds CPU 0.
    pub(crate) fn sys_sched_setaffinity(
        &mut self,
        pid: i32,
        len: u64,
        mask: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        self.owns_pid(pid)?;
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let first: u8 = mem.read_val(mask)?;
        if first & 1 == 0 {
            return Err(Errno::EINVAL);
        }
        zero()
    }

    /// `getcpu`: CPU 0, node 0.
    pub(crate) fn sys_getcpu(&mut self, cpu: u64, node: u64, mem: &mut impl UserMem) -> SysResult {
        if cpu != 0 {
            mem.write_val(cpu, &0u32)?;
        }
        if node != 0 {
            mem.write_val(node, &0u32)?;
        }
        zero()
    }
}
