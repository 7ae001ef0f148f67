//! Signals through the process: std's stack-overflow guard (a fault delivered on the alternate stack, sigreturn), abort, SIGPIPE.

mod common;

use common::{H, STACK_TOP, err};
use skiff_linux::Errno;
use skiff_linux::abi::*;
use skiff_linux::dispatch::Action;
use skiff_linux::regs::Regs;
use skiff_linux::signal::{Delivery, Fault};
use skiff_linux::sysno::nr;

fn install(h: &mut H, sig: u32, handler: u64, flags: u64) {
    let act = h.put_val(&KSigaction {
        handler,
        flags: flags | SA_RESTORER,
        restorer: 0x40_2000,
        mask: 0,
    });
    assert_eq!(h.sys(nr::rt_sigaction, &[u64::from(sig), act, 0, 8]), 0);
}

fn altstack(h: &mut H) -> u64 {
    let alt =
        h.sys(nr::mmap, &[0, 12288, 3, (MAP_PRIVATE | MAP_ANONYMOUS) as u64, u64::MAX, 0]) as u64;
    assert_eq!(h.sys(nr::mprotect, &[alt, 4096, 0]), 0);
    let ss = h.put_val(&StackT { sp: alt + 4096, flags: 0, _pad: 0, size: 8192 });
    assert_eq!(h.sys(nr::sigaltstack, &[ss, 0]), 0);
    alt
}

#[test]
fn stack_overflow_guard_runs_on_the_alternate_stack_and_returns() {
    let mut h = H::new();
    install(&mut h, SIGSEGV, 0x40_3000, SA_SIGINFO | SA_ONSTACK);
    let alt = altstack(&mut h);
    let tid = h.tid;
    // The thread touches its guard page: the kernel reports a page fault.
    let at_fault = Regs {
        rsp: STACK_TOP - 0x1_0000 + 8,
        rip: 0x40_1234,
        rax: 42,
        rflags: 0x202,
        ..Regs::default()
    };
    let mut regs = at_fault;
    let fault = Fault {
        signo: SIGSEGV,
        code: SEGV_ACCERR,
        addr: STACK_TOP - 0x1_0000 - 8,
        trapno: 14,
        err: 7,
    };
    let d = h.p.fault(tid, &mut regs, &fault, &[0x5a; 512], &mut h.mem);
    assert_eq!(d, Delivery::Handler);
    assert!(
        regs.rsp > alt + 4096 && regs.rsp < alt + 12288,
        "on the alternate stack, above its guard page"
    );
    let info: SigInfo = h.get(regs.rsi);
    assert_eq!((info.signo, info.code, info.addr), (SIGSEGV as i32, SEGV_ACCERR, fault.addr));
    // Inside the handler: the alternate stack is in use.
    let oss = h.buf(24);
    h.regs.rsp = regs.rsp;
    assert_eq!(h.sys(nr::sigaltstack, &[0, oss]), 0);
    assert_eq!(h.get::<StackT>(oss).flags, SS_ONSTACK);
    let ss = h.put_val(&StackT { sp: 0, flags: SS_DISABLE, _pad: 0, size: 0 });
    assert_eq!(h.sys(nr::sigaltstack, &[ss, 0]), err(Errno::EPERM), "cannot change it while on it");
    // The handler returns through the restorer: rt_sigreturn restores everything.
    let mut ret = Regs { rax: nr::rt_sigreturn, rsp: regs.rsp + 8, ..regs };
    let act = h.p.syscall(tid, &mut ret, &mut h.mem, &mut h.env);
    assert_eq!(act, Action::SigReturn(Some(vec![0x5a; 512])));
    assert_eq!(ret, at_fault);
}

#[test]
fn a_fault_without_a_usable_handler_kills() {
    let mut h = H::new();
    let tid = h.tid;
    let fault = Fault { signo: SIGSEGV, code: SEGV_MAPERR, addr: 0, trapno: 14, err: 4 };
    let mut regs = Regs { rsp: STACK_TOP - 64, ..Regs::default() };
    assert_eq!(
        h.p.fault(tid, &mut regs, &fault, &[], &mut h.mem),
        Delivery::Terminate { signo: SIGSEGV }
    );
    // std resets its handler to SIG_DFL for a fault that is not a guard-page hit: the re-fault kills.
    install(&mut h, SIGSEGV, 0x40_3000, SA_SIGINFO);
    let dfl = h.put_val(&KSigaction::default());
    assert_eq!(h.sys(nr::rt_sigaction, &[u64::from(SIGSEGV), dfl, 0, 8]), 0);
    assert_eq!(
        h.p.fault(tid, &mut regs, &fault, &[], &mut h.mem),
        Delivery::Terminate { signo: SIGSEGV }
    );
    // A handler asked for the alternate stack but the stack pointer is wild and there is none: kills.
    install(&mut h, SIGBUS, 0x40_3000, SA_SIGINFO | SA_ONSTACK);
    let mut wild = Regs { rsp: 0x10, ..Regs::default() };
    let bus = Fault { signo: SIGBUS, code: BUS_ADRERR, addr: 0, trapno: 17, err: 0 };
    assert_eq!(
        h.p.fault(tid, &mut wild, &bus, &[], &mut h.mem),
        Delivery::Terminate { signo: SIGSEGV }
    );
}

#[test]
fn abort_raises_sigabrt_after_unblocking() {
    let mut h = H::new();
    let tid = h.tid;
    // musl's raise: block application signals, tkill(self), restore the mask.
    let all = h.put_val(&u64::MAX);
    let old = h.buf(8);
    assert_eq!(h.sys(nr::rt_sigprocmask, &[SIG_BLOCK as u64, all, old, 8]), 0);
    assert_eq!(h.sys(nr::tkill, &[u64::from(tid), u64::from(SIGABRT)]), 0, "blocked: pending");
    let (act, rax) = h.call(nr::rt_sigprocmask, &[SIG_SETMASK as u64, old, 0, 8]);
    assert_eq!((act, rax), (Action::Signal(SIGABRT), 0));
    let mut regs = h.regs;
    assert_eq!(
        h.p.deliver_signal(tid, &mut regs, SIGABRT, &[], &mut h.mem),
        Delivery::Terminate { signo: SIGABRT }
    );
    // Not blocked: the default action kills at once.
    assert_eq!(
        h.call(nr::tgkill, &[1, u64::from(tid), u64::from(SIGABRT)]).0,
        Action::Killed(SIGABRT)
    );
    assert_eq!(h.sys(nr::tgkill, &[1, 999, u64::from(SIGABRT)]), err(Errno::ESRCH));
    assert_eq!(h.sys(nr::kill, &[1, 0]), 0, "signal 0 checks the target");
    assert_eq!(h.sys(nr::kill, &[2, 0]), err(Errno::ESRCH));
    assert_eq!(h.sys(nr::kill, &[1, 65]), err(Errno::EINVAL));
}

#[test]
fn a_handled_self_signal_is_delivered_after_the_call() {
    let mut h = H::new();
    install(&mut h, SIGUSR1, 0x40_5000, SA_SIGINFO);
    let tid = h.tid;
    let (act, rax) = h.call(nr::tkill, &[u64::from(tid), u64::from(SIGUSR1)]);
    assert_eq!((act, rax), (Action::Signal(SIGUSR1), 0));
    let mut regs = Regs { rsp: STACK_TOP - 256, rip: 0x40_1000, ..Regs::default() };
    assert_eq!(h.p.deliver_signal(tid, &mut regs, SIGUSR1, &[], &mut h.mem), Delivery::Handler);
    assert_eq!(regs.rip, 0x40_5000);
    assert!(regs.rsp < STACK_TOP - 256 - 128, "below the red zone");
    let mask = h.buf(8);
    assert_eq!(h.sys(nr::rt_sigprocmask, &[SIG_BLOCK as u64, 0, mask, 8]), 0);
    assert_eq!(h.get::<u64>(mask), 1 << (SIGUSR1 - 1), "blocked while its handler runs");
}

#[test]
fn sigpipe_kills_unless_ignored_or_nosignal() {
    let mut h = H::new();
    let fds = h.buf(8);
    assert_eq!(h.sys(nr::pipe2, &[fds, 0]), 0);
    let [r, w]: [i32; 2] = h.get(fds);
    assert_eq!(h.sys(nr::close, &[r as u64]), 0);
    let data = h.put(b"x");
    assert_eq!(h.call(nr::write, &[w as u64, data, 1]).0, Action::Killed(SIGPIPE));
    let ign = h.put_val(&KSigaction { handler: SIG_IGN, ..KSigaction::default() });
    assert_eq!(h.sys(nr::rt_sigaction, &[u64::from(SIGPIPE), ign, 0, 8]), 0);
    assert_eq!(h.sys(nr::write, &[w as u64, data, 1]), err(Errno::EPIPE));
    let old = h.buf(32);
    assert_eq!(h.sys(nr::rt_sigaction, &[u64::from(SIGKILL), ign, 0, 8]), err(Errno::EINVAL));
    assert_eq!(
        h.sys(nr::rt_sigaction, &[u64::from(SIGKILL), 0, old, 8]),
        0,
        "reading SIGKILL's action is fine"
    );
    assert_eq!(
        h.sys(nr::rt_sigaction, &[u64::from(SIGPIPE), 0, old, 4]),
        err(Errno::EINVAL),
        "sigsetsize"
    );
}

#[test]
fn cpu_exceptions_map_to_linux_signals() {
    use skiff_linux::abi::{SEGV_ACCERR, SEGV_MAPERR, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    use skiff_linux::signal::Fault;
    let pf = Fault::from_cpu(14, 4, 0xdead_0000);
    assert_eq!((pf.signo, pf.code, pf.addr, pf.trapno), (SIGSEGV, SEGV_MAPERR, 0xdead_0000, 14));
    assert_eq!(Fault::from_cpu(14, 7, 0x1000).code, SEGV_ACCERR, "present page: access error");
    assert_eq!(Fault::from_cpu(0, 0, 0).signo, SIGFPE);
    assert_eq!(Fault::from_cpu(6, 0, 0).signo, SIGILL);
    assert_eq!(Fault::from_cpu(3, 0, 0).signo, SIGTRAP);
    assert_eq!(Fault::from_cpu(17, 0, 0).signo, SIGBUS);
    let gp = Fault::from_cpu(13, 0, 0x1234);
    assert_eq!((gp.signo, gp.addr), (SIGSEGV, 0), "a #GP has no address");
}
