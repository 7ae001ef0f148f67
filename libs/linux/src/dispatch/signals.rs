//! Signal calls (`rt_sigaction`, `rt_sigprocmask`, `sigaltstack`, `rt_sigreturn`, `kill`, `tkill`, `tgkill`) and delivery for the kernel.

use skiff_pvcalls::Errno;

use super::{Action, Cx, Ret, SysResult, zero};
use crate::abi::{
    KSigaction, NSIG, SI_TKILL, SIG_BLOCK, SIG_DFL, SIG_IGN, SIG_SETMASK, SIG_UNBLOCK, SigInfo,
    StackT,
};
use crate::mem::{UserMem, UserMemExt};
use crate::process::Process;
use crate::regs::Regs;
use crate::sched::Tid;
use crate::signal::{self, Delivery, Fault, UNBLOCKABLE, bit, default_ignored};

/// Size of the kernel's signal set.
const SIGSET_SIZE: u64 = 8;

impl Process {
    pub(crate) fn sys_rt_sigaction(
        &mut self,
        signo: u32,
        act: u64,
        oact: u64,
        size: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        if size != SIGSET_SIZE || signo == 0 || signo > NSIG {
            return Err(Errno::EINVAL);
        }
        let old = self.sigactions.get(signo).unwrap_or_default();
        if act != 0 {
            let new: KSigaction = mem.read_val(act)?;
            self.sigactions.set(signo, new)?;
        }
        if oact != 0 {
            mem.write_val(oact, &old)?;
        }
        zero()
    }

    pub(crate) fn sys_rt_sigprocmask(
        &mut self,
        cx: &Cx,
        how: u32,
        set: u64,
        oset: u64,
        size: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        if size != SIGSET_SIZE {
            return Err(Errno::EINVAL);
        }
        let th = self.threads.get(&cx.tid).ok_or(Errno::ESRCH)?;
        let old = th.signals.mask;
        let new = if set != 0 {
            let s: u64 = mem.read_val(set)?;
            match how {
                SIG_BLOCK => old | s,
                SIG_UNBLOCK => old & !s,
                SIG_SETMASK => s,
                _ => return Err(Errno::EINVAL),
            }
        } else {
            old
        };
        if oset != 0 {
            mem.write_val(oset, &old)?;
        }
        let th = self.threads.get_mut(&cx.tid).ok_or(Errno::ESRCH)?;
        th.signals.mask = new & !UNBLOCKABLE;
        Ok(self.deliver_pending(cx.tid, 0))
    }

    /// `Val(rax)`, or — if a signal pending for `tid` is no longer blocked —
    /// that value then the signal.
    fn deliver_pending(&mut self, tid: Tid, rax: u64) -> Ret {
        let Some(th) = self.threads.get(&tid) else { return Ret::Val(rax) };
        let ready = th.pending & !th.signals.mask;
        if ready == 0 {
            return Ret::Val(rax);
        }
        let signo = ready.trailing_zeros() + 1;
        Ret::ValThen(rax, Action::Signal(signo))
    }

    pub(crate) fn sys_sigaltstack(
        &mut self,
        cx: &Cx,
        sp: u64,
        ss: u64,
        old: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        let min = self.min_sigstack;
        let th = self.threads.get_mut(&cx.tid).ok_or(Errno::ESRCH)?;
        let report = th.signals.altstack_report(sp);
        if ss != 0 {
            let new: StackT = mem.read_val(ss)?;
            let th = self.threads.get_mut(&cx.tid).ok_or(Errno::ESRCH)?;
            th.signals.set_altstack(new, sp, min)?;
        }
        if old != 0 {
            mem.write_val(old, &report)?;
        }
        zero()
    }

    pub(crate) fn sys_rt_sigreturn(
        &mut self,
        cx: &Cx,
        regs: &mut Regs,
        mem: &mut impl UserMem,
    ) -> SysResult {
        let fp_len = self.fp_len;
        let th = self.threads.get_mut(&cx.tid).ok_or(Errno::ESRCH)?;
        match signal::sigreturn(&mut th.signals, regs, fp_len, mem) {
            Ok(r) => {
                let ready = th.pending & !th.signals.mask;
                if ready != 0 {
                    // A signal unblocked by the restored mask: deliver it on the restored state.
                    return Ok(Ret::Act(Action::Signal(ready.trailing_zeros() + 1)));
                }
                Ok(Ret::Act(Action::SigReturn(r.fpstate)))
            }
            Err(_) => Ok(Ret::Act(Action::Killed(crate::abi::SIGSEGV))),
        }
    }

    /// What raising `signo` at thread `tid` does, with `rax` the call's
    /// own result: ignored, kept pending (blocked), delivered after the
    /// call, or the process is killed.
    pub(crate) fn raise(&mut self, tid: Tid, signo: u32, rax: u64) -> Ret {
        let act = self.sigactions.get(signo).unwrap_or_default();
        let ignored = act.handler == SIG_IGN || (act.handler == SIG_DFL && default_ignored(signo));
        if ignored {
            return Ret::Val(rax);
        }
        let Some(th) = self.threads.get_mut(&tid) else { return Ret::Val(rax) };
        if th.signals.mask & bit(signo) != 0 {
            th.pending |= bit(signo);
            return Ret::Val(rax);
        }
        if act.handler == SIG_DFL {
            return Ret::Act(Action::Killed(signo));
        }
        Ret::ValThen(rax, Action::Signal(signo))
    }

    /// `kill(pid, sig)` (`thread` `None`), `tkill`/`tgkill` (`Some(tid)`):
    /// only this process and its threads exist (`ESRCH` otherwise). A
    /// signal whose action is a handler can only be taken by the calling
    /// thread; aimed at another thread it is refused with `EPERM`.
    pub(crate) fn sys_kill(
        &mut self,
        cx: &Cx,
        pid: i32,
        thread: Option<i32>,
        signo: u32,
    ) -> SysResult {
        if pid != self.pid as i32 && !(thread.is_none() && (pid == 0 || pid == -1)) {
            return Err(Errno::ESRCH);
        }
        let target = match thread {
            Some(t) => u32::try_from(t)
                .ok()
                .filter(|t| self.threads.contains_key(t))
                .ok_or(Errno::ESRCH)?,
            None => cx.tid,
        };
        if signo > NSIG {
            return Err(Errno::EINVAL);
        }
        if signo == 0 {
            return zero();
        }
        let act = self.sigactions.get(signo).unwrap_or_default();
        if target != cx.tid && act.handler != SIG_DFL && act.handler != SIG_IGN {
            return Err(Errno::EPERM);
        }
        Ok(self.raise(target, signo, 0))
    }

    /// Delivers `signo` to thread `tid` (after [`Action::Signal`]): builds
    /// the frame with the thread's FPU image `fpstate` and points `regs` at
    /// the handler. See [`Delivery`].
    pub fn deliver_signal(
        &mut self,
        tid: Tid,
        regs: &mut Regs,
        signo: u32,
        fpstate: &[u8],
        mem: &mut impl UserMem,
    ) -> Delivery {
        let pid = self.pid;
        let Some(th) = self.threads.get_mut(&tid) else { return Delivery::Ignored };
        th.pending &= !bit(signo.clamp(1, NSIG));
        let info = SigInfo {
            signo: signo as i32,
            code: SI_TKILL,
            addr: u64::from(pid),
            ..SigInfo::default()
        };
        signal::deliver(&mut self.sigactions, &mut th.signals, regs, &info, None, fpstate, mem)
    }

    /// A CPU fault in thread `tid` (page fault, invalid opcode, divide
    /// error, ...): delivered to the handler the application installed
    /// (on its alternate stack if it asked), or the process dies
    /// ([`Delivery::Terminate`]: print the fault and exit with 128 + signal).
    pub fn fault(
        &mut self,
        tid: Tid,
        regs: &mut Regs,
        fault: &Fault,
        fpstate: &[u8],
        mem: &mut impl UserMem,
    ) -> Delivery {
        let Some(th) = self.threads.get_mut(&tid) else {
            return Delivery::Terminate { signo: fault.signo };
        };
        let info = SigInfo {
            signo: fault.signo as i32,
            code: fault.code,
            addr: fault.addr,
            ..SigInfo::default()
        };
        signal::deliver(
            &mut self.sigactions,
            &mut th.signals,
            regs,
            &info,
            Some(fault),
            fpstate,
            mem,
        )
    }
}
