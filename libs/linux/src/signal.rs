//! Signals: dispositions, masks and alternate stacks; building the `rt_sigframe` that enters a handler and undoing it at `rt_sigreturn`.
//!
//! Signals are synchronous here: faults the CPU raises in the application
//! (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP) and signals a thread sends to
//! its own process (`tkill`, `tgkill`, `kill`; musl's `abort` and `raise`).
//! There is no other sender. The frame is Linux's x86_64 one: the return
//! address (`sa_restorer`), the kernel `ucontext`, the `siginfo`, and the
//! FPU state the kernel hands over, 64-byte aligned above them.

use alloc::vec;
use alloc::vec::Vec;

use skiff_pvcalls::Errno;
use zerocopy::IntoBytes;

use crate::abi::{
    KSigaction, MContext, NSIG, SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTORER, SIG_DFL,
    SIG_IGN, SIGCHLD, SIGCONT, SIGKILL, SIGSTOP, SIGURG, SIGWINCH, SS_AUTODISARM, SS_DISABLE,
    SS_ONSTACK, SigInfo, StackT, UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS, UContext,
};
use crate::mem::{UserMem, UserMemExt};
use crate::regs::{HANDLER_CLEARS, Regs, USER_FLAGS, is_user_addr};

/// The bit of signal `signo` (1-based) in a mask.
pub const fn bit(signo: u32) -> u64 {
    1u64 << (signo - 1)
}

/// Signals that can be neither caught nor blocked.
pub const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

/// Size of the frame below the FPU state: return address, ucontext, siginfo.
const FRAME_SIZE: u64 = 8 + 304 + 128;
/// Red zone skipped below the interrupted stack pointer.
const RED_ZONE: u64 = 128;

/// The process's signal dispositions.
#[derive(Clone, Debug)]
pub struct SigActions {
    acts: [KSigaction; NSIG as usize],
}

impl Default for SigActions {
    fn default() -> Self {
        SigActions { acts: [KSigaction::default(); NSIG as usize] }
    }
}

impl SigActions {
    /// The action of `signo` (1..=64).
    pub fn get(&self, signo: u32) -> Option<KSigaction> {
        self.acts.get((signo as usize).wrapping_sub(1)).copied()
    }

    /// `rt_sigaction`'s change: `EINVAL` for a bad number, or for SIGKILL/SIGSTOP.
    pub fn set(&mut self, signo: u32, act: KSigaction) -> Result<KSigaction, Errno> {
        if signo == SIGKILL || signo == SIGSTOP {
            return Err(Errno::EINVAL);
        }
        let slot = self.acts.get_mut((signo as usize).wrapping_sub(1)).ok_or(Errno::EINVAL)?;
        let mut act = act;
        act.mask &= !UNBLOCKABLE;
        Ok(core::mem::replace(slot, act))
    }
}

/// Whether `signo`'s default action is to ignore it. The stop signals
/// (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) count as ignored: there is no job
/// control to stop the process for.
pub fn default_ignored(signo: u32) -> bool {
    matches!(signo, SIGCHLD | SIGURG | SIGWINCH | SIGCONT | SIGSTOP | 20 | 21 | 22)
}

/// A thread's signal state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadSignals {
    /// Blocked signals.
    pub mask: u64,
    /// The alternate stack (`ss_flags` `SS_DISABLE` when there is none).
    pub altstack: StackT,
}

impl ThreadSignals {
    /// No signal blocked, no alternate stack.
    pub fn new() -> Self {
        ThreadSignals { mask: 0, altstack: StackT { flags: SS_DISABLE, ..StackT::default() } }
    }

    /// Whether `sp` is on the alternate stack.
    pub fn on_altstack(&self, sp: u64) -> bool {
        let a = self.altstack;
        a.flags & SS_DISABLE == 0 && sp > a.sp && sp - a.sp <= a.size
    }

    /// The alternate stack as `sigaltstack` reports it (`SS_ONSTACK` if `sp` is on it).
    pub fn altstack_report(&self, sp: u64) -> StackT {
        let mut a = self.altstack;
        if self.on_altstack(sp) {
            a.flags = SS_ONSTACK | (a.flags & SS_AUTODISARM);
        }
        a
    }

    /// `sigaltstack`'s change: `EPERM` while running on it, `EINVAL` for
    /// unknown flags, `ENOMEM` below `min_size`.
    pub fn set_altstack(&mut self, new: StackT, sp: u64, min_size: u64) -> Result<(), Errno> {
        if self.on_altstack(sp) {
            return Err(Errno::EPERM);
        }
        let mode = new.flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return Err(Errno::EINVAL);
        }
        if mode == SS_DISABLE {
            self.altstack = StackT { sp: 0, flags: SS_DISABLE, _pad: 0, size: 0 };
            return Ok(());
        }
        if new.size < min_size {
            return Err(Errno::ENOMEM);
        }
        self.altstack =
            StackT { sp: new.sp, flags: new.flags & SS_AUTODISARM, _pad: 0, size: new.size };
        Ok(())
    }
}

/// A fault the CPU raised in the application, as the kernel describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE` or `SIGTRAP`.
    pub signo: u32,
    /// `si_code` (`SEGV_MAPERR`, `SEGV_ACCERR`, `ILL_ILLOPC`, ...).
    pub code: i32,
    /// The faulting address (`si_addr`, `cr2`).
    pub addr: u64,
    /// The CPU's vector.
    pub trapno: u64,
    /// The CPU's error code.
    pub err: u64,
}

impl Fault {
    /// The fault a CPU exception in user mode is, as Linux's trap handlers
    /// report it: the vector, the CPU's error code and, for a page fault,
    /// the address (CR2).
    pub fn from_cpu(vector: u64, err: u64, cr2: u64) -> Fault {
        use crate::abi::{
            BUS_ADRERR, FPE_INTDIV, ILL_ILLOPC, SEGV_ACCERR, SEGV_MAPERR, SI_KERNEL, SIGBUS,
            SIGFPE, SIGILL, SIGSEGV, SIGTRAP,
        };
        let (signo, code, addr) = match vector {
            0 => (SIGFPE, FPE_INTDIV, 0),
            1 | 3 => (SIGTRAP, SI_KERNEL, 0),
            6 => (SIGILL, ILL_ILLOPC, 0),
            // x87 or SIMD floating-point exception (unmasked in MXCSR/FCW).
            16 | 19 => (SIGFPE, 0, 0),
            // Stack-segment fault, alignment check.
            12 | 17 => (SIGBUS, BUS_ADRERR, 0),
            // Page fault: error code bit 0 set = the page was present.
            14 => (SIGSEGV, if err & 1 != 0 { SEGV_ACCERR } else { SEGV_MAPERR }, cr2),
            // General protection and anything else.
            _ => (SIGSEGV, SI_KERNEL, 0),
        };
        Fault { signo, code, addr, trapno: vector, err }
    }
}

/// What became of a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The registers now enter the handler: resume the thread with all of
    /// them (`iretq`: `rcx` and `r11` are part of the state), with a clean
    /// FPU state (as Linux gives a handler).
    Handler,
    /// Ignored: resume the thread as it was.
    Ignored,
    /// The process dies of it (no handler, or the frame could not be
    /// written): exit status 128 + `signo`.
    Terminate {
        /// The signal.
        signo: u32,
    },
}

/// Delivers `info` to the thread with registers `regs`, building the
/// frame in its memory. `forced`: a synchronous fault, which can be
/// neither blocked nor ignored (Linux's `force_sig`). `fpstate`: the
/// thread's FPU state image (FXSAVE, or XSAVE if longer than 512 bytes).
pub fn deliver(
    acts: &mut SigActions,
    th: &mut ThreadSignals,
    regs: &mut Regs,
    info: &SigInfo,
    fault: Option<&Fault>,
    fpstate: &[u8],
    mem: &mut impl UserMem,
) -> Delivery {
    let signo = info.signo as u32;
    let Some(act) = acts.get(signo) else { return Delivery::Ignored };
    let forced = fault.is_some();
    let blocked = th.mask & bit(signo) != 0;
    let mut handler = act.handler;
    if forced && (blocked || handler == SIG_IGN) {
        // force_sig: unblock, and an ignored fault falls back to the default.
        th.mask &= !bit(signo);
        if handler == SIG_IGN {
            handler = SIG_DFL;
        }
    }
    match handler {
        SIG_DFL if default_ignored(signo) => return Delivery::Ignored,
        SIG_DFL => return Delivery::Terminate { signo },
        SIG_IGN => return Delivery::Ignored,
        _ => {}
    }
    if act.flags & SA_RESTORER == 0 || !is_user_addr(handler) {
        return Delivery::Terminate { signo };
    }
    let use_alt = act.flags & SA_ONSTACK != 0
        && th.altstack.flags & SS_DISABLE == 0
        && !th.on_altstack(regs.rsp);
    let top = if use_alt {
        th.altstack.sp.wrapping_add(th.altstack.size)
    } else {
        regs.rsp.wrapping_sub(RED_ZONE)
    };
    match build_frame(th, regs, info, fault, fpstate, top, act.restorer, mem) {
        Ok(frame) => {
            let saved_mask = th.mask;
            let mut mask = saved_mask | act.mask;
            if act.flags & SA_NODEFER == 0 {
                mask |= bit(signo);
            }
            th.mask = mask & !UNBLOCKABLE;
            if use_alt && th.altstack.flags & SS_AUTODISARM != 0 {
                th.altstack = StackT { sp: 0, flags: SS_DISABLE, _pad: 0, size: 0 };
            }
            if act.flags & SA_RESETHAND != 0 {
                let _ = acts.set(signo, KSigaction::default());
            }
            regs.rip = handler;
            regs.rsp = frame;
            regs.rdi = u64::from(signo);
            regs.rsi = frame + 8 + 304;
            regs.rdx = frame + 8;
            regs.rax = 0;
            regs.rflags &= !HANDLER_CLEARS;
            Delivery::Handler
        }
        Err(_) => Delivery::Terminate { signo: crate::abi::SIGSEGV },
    }
}

/// Writes the frame below `top`; returns the handler's stack pointer
/// (where the return address is; `rsp + 8` is 16-byte aligned).
#[allow(clippy::too_many_arguments)]
fn build_frame(
    th: &ThreadSignals,
    regs: &Regs,
    info: &SigInfo,
    fault: Option<&Fault>,
    fpstate: &[u8],
    top: u64,
    restorer: u64,
    mem: &mut impl UserMem,
) -> Result<u64, Errno> {
    let mut sp = top;
    let mut fp_addr = 0;
    if !fpstate.is_empty() {
        sp = sp.checked_sub(fpstate.len() as u64).ok_or(Errno::EFAULT)? & !63;
        fp_addr = sp;
    }
    sp = (sp.checked_sub(FRAME_SIZE).ok_or(Errno::EFAULT)? & !15)
        .checked_sub(8)
        .ok_or(Errno::EFAULT)?;
    let mut flags = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
    if fpstate.len() > 512 {
        flags |= UC_FP_XSTATE;
    }
    let uc = UContext {
        flags,
        link: 0,
        stack: th.altstack_report(regs.rsp),
        mcontext: MContext {
            r8: regs.r8,
            r9: regs.r9,
            r10: regs.r10,
            r11: regs.r11,
            r12: regs.r12,
            r13: regs.r13,
            r14: regs.r14,
            r15: regs.r15,
            rdi: regs.rdi,
            rsi: regs.rsi,
            rbp: regs.rbp,
            rbx: regs.rbx,
            rdx: regs.rdx,
            rax: regs.rax,
            rcx: regs.rcx,
            rsp: regs.rsp,
            rip: regs.rip,
            eflags: regs.rflags,
            cs: 0x33,
            ss: 0x2b,
            err: fault.map_or(0, |f| f.err),
            trapno: fault.map_or(0, |f| f.trapno),
            oldmask: th.mask,
            cr2: fault.map_or(0, |f| f.addr),
            fpstate: fp_addr,
            ..MContext::default()
        },
        sigmask: th.mask,
    };
    let mut frame = vec![0u8; FRAME_SIZE as usize];
    frame[..8].copy_from_slice(&restorer.to_ne_bytes());
    frame[8..8 + 304].copy_from_slice(uc.as_bytes());
    frame[8 + 304..].copy_from_slice(info.as_bytes());
    if fp_addr != 0 {
        mem.write(fp_addr, fpstate)?;
    }
    mem.write(sp, &frame)?;
    Ok(sp)
}

/// What `rt_sigreturn` restores besides the registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The FPU state image read back from the frame (same length as was
    /// delivered), for the kernel to load after checking it (MXCSR
    /// reserved bits, XSAVE header); `None` if the frame had none.
    pub fpstate: Option<Vec<u8>>,
}

/// `rt_sigreturn`: reads the frame at `regs.rsp - 8` and restores the
/// registers, signal mask and alternate stack. `fp_len` is the length of
/// the FPU image the kernel delivers. `EFAULT` if the frame cannot be read
/// or holds a non-user instruction or stack pointer (the process then dies
/// of SIGSEGV, as on Linux).
pub fn sigreturn(
    th: &mut ThreadSignals,
    regs: &mut Regs,
    fp_len: usize,
    mem: &impl UserMem,
) -> Result<Restored, Errno> {
    let frame = regs.rsp.checked_sub(8).ok_or(Errno::EFAULT)?;
    let uc: UContext = mem.read_val(frame + 8)?;
    let m = uc.mcontext;
    if !is_user_addr(m.rip) {
        return Err(Errno::EFAULT);
    }
    let fpstate = if m.fpstate != 0 && fp_len > 0 {
        let mut buf = vec![0u8; fp_len];
        mem.read(m.fpstate, &mut buf)?;
        Some(buf)
    } else {
        None
    };
    *regs = Regs {
        rax: m.rax,
        rbx: m.rbx,
        rcx: m.rcx,
        rdx: m.rdx,
        rsi: m.rsi,
        rdi: m.rdi,
        rbp: m.rbp,
        rsp: m.rsp,
        r8: m.r8,
        r9: m.r9,
        r10: m.r10,
        r11: m.r11,
        r12: m.r12,
        r13: m.r13,
        r14: m.r14,
        r15: m.r15,
        rip: m.rip,
        rflags: (regs.rflags & !USER_FLAGS) | (m.eflags & USER_FLAGS),
    };
    th.mask = uc.sigmask & !UNBLOCKABLE;
    // As Linux's restore_altstack: a failure to restore is ignored.
    let _ = th.set_altstack(uc.stack, regs.rsp, 0);
    Ok(Restored { fpstate })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{SA_SIGINFO, SEGV_MAPERR, SIGABRT, SIGSEGV};
    use crate::fake::FakeMem;

    fn setup() -> (SigActions, ThreadSignals, FakeMem) {
        let mut m = FakeMem::new();
        m.map(0x10000, 0x4000); // main stack
        m.map(0x20000, 0x3000); // alternate stack
        let mut acts = SigActions::default();
        acts.set(
            SIGSEGV,
            KSigaction {
                handler: 0x401000,
                flags: SA_SIGINFO | SA_ONSTACK | SA_RESTORER,
                restorer: 0x402000,
                mask: 0,
            },
        )
        .unwrap();
        let mut th = ThreadSignals::new();
        th.set_altstack(StackT { sp: 0x20000, flags: 0, _pad: 0, size: 0x3000 }, 0x13000, 2048)
            .unwrap();
        (acts, th, m)
    }

    #[test]
    fn fault_enters_handler_on_altstack_and_returns() {
        let (mut acts, mut th, mut m) = setup();
        let before = Regs {
            rsp: 0x13000,
            rip: 0x400123,
            rax: 77,
            rbx: 5,
            rflags: 0x246 | 0x400,
            ..Regs::default()
        };
        let mut regs = before;
        let fault =
            Fault { signo: SIGSEGV, code: SEGV_MAPERR, addr: 0xdead000, trapno: 14, err: 6 };
        let info = SigInfo {
            signo: SIGSEGV as i32,
            code: SEGV_MAPERR,
            addr: fault.addr,
            ..SigInfo::default()
        };
        let fp = [0xabu8; 512];
        let d = deliver(&mut acts, &mut th, &mut regs, &info, Some(&fault), &fp, &mut m);
        assert_eq!(d, Delivery::Handler);
        assert_eq!(regs.rip, 0x401000);
        assert!(regs.rsp > 0x20000 && regs.rsp < 0x23000, "on the alternate stack");
        assert_eq!((regs.rsp + 8) % 16, 0, "aligned as after a call");
        assert_eq!(regs.rdi, u64::from(SIGSEGV));
        assert_eq!(regs.rflags & 0x400, 0, "DF cleared");
        let si: SigInfo = m.read_val(regs.rsi).unwrap();
        assert_eq!(si.addr, 0xdead000);
        let uc: UContext = m.read_val(regs.rdx).unwrap();
        assert_eq!(uc.mcontext.rip, 0x400123);
        assert_eq!(uc.mcontext.cr2, 0xdead000);
        assert_eq!(uc.stack.sp, 0x20000);
        assert_eq!(m.read_val::<u64>(regs.rsp).unwrap(), 0x402000, "returns to the restorer");
        assert_eq!(uc.mcontext.fpstate % 64, 0);
        assert_eq!(th.mask, bit(SIGSEGV), "the signal is blocked in its handler");
        assert_eq!(th.altstack_report(regs.rsp).flags, SS_ONSTACK);

        // The restorer's `ret` popped the return address; then rt_sigreturn.
        regs.rsp += 8;
        let r = sigreturn(&mut th, &mut regs, 512, &m).unwrap();
        assert_eq!(r.fpstate.as_deref(), Some(&fp[..]));
        assert_eq!(regs, before);
        assert_eq!(th.mask, 0);
    }

    #[test]
    fn no_handler_or_bad_frame_terminates() {
        let (mut acts, mut th, mut m) = setup();
        let mut regs = Regs { rsp: 0x13000, ..Regs::default() };
        let info = SigInfo { signo: SIGABRT as i32, ..SigInfo::default() };
        assert_eq!(
            deliver(&mut acts, &mut th, &mut regs, &info, None, &[], &mut m),
            Delivery::Terminate { signo: SIGABRT }
        );
        let info = SigInfo { signo: SIGCHLD as i32, ..SigInfo::default() };
        assert_eq!(
            deliver(&mut acts, &mut th, &mut regs, &info, None, &[], &mut m),
            Delivery::Ignored
        );
        // The alternate stack is gone: the frame cannot be written.
        m.unmap(0x20000, 0x3000);
        let fault = Fault { signo: SIGSEGV, code: SEGV_MAPERR, addr: 8, trapno: 14, err: 4 };
        let info = SigInfo { signo: SIGSEGV as i32, ..SigInfo::default() };
        assert_eq!(
            deliver(&mut acts, &mut th, &mut regs, &info, Some(&fault), &[], &mut m),
            Delivery::Terminate { signo: SIGSEGV }
        );
        // A handler reset to SIG_DFL (what std does for a fault that is not a guard page hit).
        acts.set(SIGSEGV, KSigaction::default()).unwrap();
        assert_eq!(
            deliver(&mut acts, &mut th, &mut regs, &info, Some(&fault), &[], &mut m),
            Delivery::Terminate { signo: SIGSEGV }
        );
        assert_eq!(acts.set(SIGKILL, KSigaction::default()), Err(Errno::EINVAL));
        assert_eq!(acts.set(65, KSigaction::default()), Err(Errno::EINVAL));
        assert_eq!(acts.set(0, KSigaction::default()), Err(Errno::EINVAL));
    }

    #[test]
    fn sigreturn_refuses_kernel_rip() {
        let (_, mut th, mut m) = setup();
        let mut uc = UContext::default();
        uc.mcontext.rip = 0xffff_8000_0000_0000;
        m.write_val(0x12000 + 8, &uc).unwrap();
        let mut regs = Regs { rsp: 0x12008, ..Regs::default() };
        assert_eq!(sigreturn(&mut th, &mut regs, 0, &m), Err(Errno::EFAULT));
        let mut regs = Regs { rsp: 0x5, ..Regs::default() };
        assert_eq!(sigreturn(&mut th, &mut regs, 0, &m), Err(Errno::EFAULT));
    }
}
