//! The Linux process at run time: every `syscall` and CPU fault of the application goes to
//! `skiff_linux::Process`, and its answer decides what the vCPU does next: return to the thread,
//! switch to another, wait for an event or a deadline, start a thread, deliver a signal, exit.
//!
//! Threads are cooperative: one runs until it blocks, yields or exits.
//! A blocked thread's syscall is run again when the process picks it (see
//! `skiff_linux::dispatch`); between the two, its handler sits on its own
//! kernel stack. The process lock is taken only around calls into the
//! process and never held across a switch or a wait, so a thread blocked
//! in a socket call holds nothing another thread needs.

use core::time::Duration;

use skiff_kernel::time::Instant;
use skiff_kernel::user::{self, TrapFrame, thread};
use skiff_linux::abi::SIGSEGV;
use skiff_linux::dispatch::{Action, NewThread};
use skiff_linux::process::Process;
use skiff_linux::regs::Regs;
use skiff_linux::signal::{Delivery, Fault};
use spin::Mutex;

use super::env::{KernelEnv, KernelMem};

/// The process and the kernel's services to it.
struct Runtime {
    p: Process,
    env: KernelEnv,
    mem: KernelMem,
    /// The console was told that every thread waits for something nothing can cause.
    deadlock_reported: bool,
    /// `strace` on the command line: every syscall and its result on the console.
    trace: bool,
}

static RT: Mutex<Option<Runtime>> = Mutex::new(None);

/// Longest wait while a thread waits on a socket: the engine's own timers
/// (a command dom0 never answers, a closing connection's linger) are
/// looked at at least this often.
const SOCKET_WAIT_CAP: Duration = Duration::from_secs(1);

fn with_rt<R>(f: impl FnOnce(&mut Runtime) -> R) -> R {
    let mut g = RT.lock();
    match g.as_mut() {
        Some(rt) => f(rt),
        None => skiff_kernel::crash::fatal(format_args!("a syscall before the process exists")),
    }
}

fn regs_of(f: &TrapFrame) -> Regs {
    Regs {
        rax: f.rax,
        rbx: f.rbx,
        rcx: f.rcx,
        rdx: f.rdx,
        rsi: f.rsi,
        rdi: f.rdi,
        rbp: f.rbp,
        rsp: f.rsp,
        r8: f.r8,
        r9: f.r9,
        r10: f.r10,
        r11: f.r11,
        r12: f.r12,
        r13: f.r13,
        r14: f.r14,
        r15: f.r15,
        rip: f.rip,
        rflags: f.rflags,
    }
}

/// Puts every register of `r` in the frame (the return is by `iretq`,
/// which restores them all; the kernel then sanitizes flags and segments).
fn set_frame(f: &mut TrapFrame, r: &Regs) {
    f.rax = r.rax;
    f.rbx = r.rbx;
    f.rcx = r.rcx;
    f.rdx = r.rdx;
    f.rsi = r.rsi;
    f.rdi = r.rdi;
    f.rbp = r.rbp;
    f.rsp = r.rsp;
    f.r8 = r.r8;
    f.r9 = r.r9;
    f.r10 = r.r10;
    f.r11 = r.r11;
    f.r12 = r.r12;
    f.r13 = r.r13;
    f.r14 = r.r14;
    f.r15 = r.r15;
    f.rip = r.rip;
    f.rflags = r.rflags;
}

/// A frame that enters user mode with `r`.
fn frame_of(r: &Regs) -> TrapFrame {
    let mut f = TrapFrame {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        r11: 0,
        r10: 0,
        r9: 0,
        r8: 0,
        rbp: 0,
        rdi: 0,
        rsi: 0,
        rdx: 0,
        rcx: 0,
        rbx: 0,
        rax: 0,
        vector: 0,
        error_code: 0,
        rip: 0,
        cs: 0,
        rflags: 0,
        rsp: 0,
        ss: 0,
    };
    set_frame(&mut f, r);
    f
}

/// Starts the process: its first thread enters the program at `entry`
/// with the stack pointer `sp` and every other register 0.
pub fn start(p: Process, entry: u64, sp: u64) -> ! {
    user::init(on_syscall, on_fault);
    skiff_kernel::xen::lifecycle::set_sysrq_hook(sysrq);
    let trace = skiff_kernel::args().has_flag("strace");
    let mut rt =
        Runtime { p, env: KernelEnv::default(), mem: KernelMem, deadlock_reported: false, trace };
    let Some(first) = rt.p.pick() else {
        skiff_kernel::crash::fatal(format_args!("the process has no thread"));
    };
    let regs = Regs { rip: entry, rsp: sp, rflags: 0x202, ..Regs::default() };
    match thread::spawn(first, &frame_of(&regs), 0) {
        Ok(true) => {}
        _ => exit_with(123, format_args!("no memory for the first thread's kernel stack")),
    }
    *RT.lock() = Some(rt);
    super::milestone::report("first instruction of the program");
    thread::start(first)
}

/// Every `syscall` of the application.
fn on_syscall(frame: &mut TrapFrame) {
    // A process that never blocks (a busy epoll_wait(0) loop) still
    // honours `xl shutdown`.
    skiff_kernel::wait::run_hooks_if_due();
    let tid = thread::current();
    let mut regs = regs_of(frame);
    loop {
        let action = with_rt(|rt| {
            let args = regs.args();
            let nr = regs.rax;
            let a = rt.p.syscall(tid, &mut regs, &mut rt.mem, &mut rt.env);
            if rt.trace {
                super::report::trace(tid, nr, &args, &a, regs.rax);
            }
            a
        });
        match action {
            Action::Return => {
                frame.rax = regs.rax;
                return;
            }
            // Run the same call again once the process picks this thread.
            Action::Block => schedule(tid),
            Action::Yield => {
                frame.rax = regs.rax;
                schedule(tid);
                return;
            }
            Action::Spawn(nt) => {
                frame.rax = regs.rax;
                spawn(&nt, frame);
                return;
            }
            Action::ExitThread => exit_thread(),
            Action::ExitProcess(status) => exit_with(status, format_args!("")),
            Action::Killed(signo) => killed(signo, &regs, None),
            Action::SigReturn(fpu) => {
                set_frame(frame, &regs);
                if let Some(img) = fpu
                    && !thread::load_fpu_image(&img)
                {
                    killed(SIGSEGV, &regs, Some("rt_sigreturn with a bad FPU state"));
                }
                return;
            }
            Action::Signal(signo) => {
                frame.rax = regs.rax;
                let fpu = thread::fpu_image();
                let d = with_rt(|rt| rt.p.deliver_signal(tid, &mut regs, signo, &fpu, &mut rt.mem));
                deliver(d, frame, &regs);
                return;
            }
        }
    }
}

/// Every CPU exception the application causes.
fn on_fault(frame: &mut TrapFrame) {
    let cr2 = if frame.vector == 14 { user::fault_address() } else { 0 };
    let fault = Fault::from_cpu(frame.vector, frame.error_code, cr2);
    let tid = thread::current();
    let mut regs = regs_of(frame);
    let fpu = thread::fpu_image();
    let d = with_rt(|rt| rt.p.fault(tid, &mut regs, &fault, &fpu, &mut rt.mem));
    if let Delivery::Terminate { signo } = d {
        let what = super::report::fault_line(&fault);
        killed(signo, &regs_of(frame), Some(&what));
    }
    deliver(d, frame, &regs);
}

/// Acts on a signal's delivery: the handler's registers and a clean FPU
/// state, nothing, or the end of the process.
fn deliver(d: Delivery, frame: &mut TrapFrame, regs: &Regs) {
    match d {
        Delivery::Handler => {
            set_frame(frame, regs);
            thread::reset_fpu();
        }
        Delivery::Ignored => {}
        Delivery::Terminate { signo } => killed(signo, regs, None),
    }
}

/// Gives thread `nt` its kernel side; without memory for it, the `clone`
/// fails with `EAGAIN` instead.
fn spawn(nt: &NewThread, frame: &mut TrapFrame) {
    if !matches!(thread::spawn(nt.tid, &frame_of(&nt.regs), nt.fs_base), Ok(true)) {
        with_rt(|rt| rt.p.forget_thread(nt.tid));
        frame.rax = (-i64::from(skiff_linux::Errno::EAGAIN.0)) as u64;
    }
}

/// Runs other threads (or waits) until the process picks `me` again.
fn schedule(me: u32) {
    loop {
        match with_rt(|rt| rt.p.pick()) {
            Some(t) if t == me => return,
            Some(t) => {
                thread::switch_to(t);
                return;
            }
            None => idle(),
        }
    }
}

/// The running thread exited: run the next one, never to come back.
fn exit_thread() -> ! {
    loop {
        match with_rt(|rt| rt.p.pick()) {
            Some(t) => thread::exit_to(t),
            None => idle(),
        }
    }
}

/// No thread can run: let the engine work, wake what socket events and
/// deadlines allow, and block the vCPU until an event or the next deadline.
fn idle() {
    let seen = skiff_kernel::wait::event_generation();
    let engine_timer = crate::net::frontend::before_block();
    let (woken, deadline, sockets, deadlocked) = with_rt(|rt| {
        let n = rt.p.poll(&mut rt.env);
        let dl = rt.p.next_deadline();
        let sockets = rt.p.sched.waits_on_sockets();
        let dead = rt.p.deadlocked() && !core::mem::replace(&mut rt.deadlock_reported, true);
        (n, dl, sockets, dead)
    });
    if woken > 0 {
        return;
    }
    if deadlocked {
        skiff_kernel::println!(
            "skiff: every thread of the program waits on a futex or file nothing can wake: \
             it is deadlocked (xl shutdown still stops the domain)"
        );
    }
    let now = Instant::now();
    let mut until = deadline.map(Instant::from_nanos);
    for t in [engine_timer.map(Instant::from_nanos), sockets.then(|| now + SOCKET_WAIT_CAP)] {
        until = match (until, t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    skiff_kernel::wait::until_event_since(seen, until);
}

/// `xl sysrq DOMAIN d`: what every thread waits for, and what the sockets
/// hold, on the console (for a program that seems stuck). Runs from the
/// kernel's idle hook, so it only looks when nothing holds the process.
fn sysrq(key: char) {
    if key != 'd' {
        skiff_kernel::println!(
            "skiff: sysrq {key:?}: only 'd' (dump threads and sockets) is known"
        );
        return;
    }
    match RT.try_lock() {
        Some(mut g) => match g.as_mut() {
            Some(rt) => {
                skiff_kernel::println!("{}", super::report::Dump(&rt.p));
                let epolls = rt.p.describe_epolls(&mut rt.env);
                skiff_kernel::println!("skiff: epoll instances:{epolls}");
            }
            None => skiff_kernel::println!("skiff: sysrq d: the program has not started"),
        },
        None => skiff_kernel::println!("skiff: sysrq d: the process is busy; try again"),
    }
    match crate::net::frontend::describe() {
        Some(d) => skiff_kernel::println!("skiff: {d}"),
        None => skiff_kernel::println!("skiff: no PV Calls frontend to describe (not up, or busy)"),
    }
}

/// Ends the domain with the program's exit status (0 powers off, anything
/// else crashes it), after `why` if there is something to say.
fn exit_with(status: i32, why: core::fmt::Arguments<'_>) -> ! {
    let why = alloc::format!("{why}");
    if !why.is_empty() {
        skiff_kernel::println!("skiff: {why}");
    }
    skiff_kernel::exit(status)
}

/// The process dies of `signo`: says so (with `what` happened and the
/// registers) and exits with 128 + `signo`, as a shell reports it.
fn killed(signo: u32, regs: &Regs, what: Option<&str>) -> ! {
    let tid = thread::current();
    skiff_kernel::println!(
        "skiff: the program was killed by {} (thread {tid}){}{}",
        super::report::signal_name(signo),
        if what.is_some() { ": " } else { "" },
        what.unwrap_or("")
    );
    skiff_kernel::println!("{}", super::report::Registers(regs));
    skiff_kernel::exit(128 + signo as i32)
}
