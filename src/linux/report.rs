//! What the console says when the program dies: the signal's name, the fault in words, and the
//! registers at that moment.

use alloc::format;
use alloc::string::String;
use core::fmt;

use skiff_linux::abi::{SEGV_ACCERR, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP};
use skiff_linux::dispatch::Action;
use skiff_linux::regs::Regs;
use skiff_linux::signal::Fault;

/// `SIGSEGV (11)` and so on.
pub fn signal_name(signo: u32) -> String {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match NAMES.get(signo as usize) {
        Some(n) if !n.is_empty() => format!("{n} ({signo})"),
        _ => format!("signal {signo}"),
    }
}

/// The fault in words: what the CPU reported and where.
pub fn fault_line(f: &Fault) -> String {
    match (f.signo, f.trapno) {
        (SIGSEGV, 14) => format!(
            "{} at address {:#x} ({})",
            if f.err & 2 != 0 {
                "write"
            } else if f.err & 16 != 0 {
                "instruction fetch"
            } else {
                "read"
            },
            f.addr,
            if f.code == SEGV_ACCERR { "not allowed there" } else { "nothing mapped there" }
        ),
        (SIGSEGV, 13) => String::from("general protection fault"),
        (SIGILL, _) => String::from("invalid instruction"),
        (SIGFPE, 0) => String::from("integer division by zero"),
        (SIGFPE, _) => String::from("floating-point exception"),
        (SIGBUS, _) => String::from("bus error (stack segment or alignment)"),
        (SIGTRAP, _) => String::from("breakpoint or trap"),
        (_, v) => format!("CPU exception {v}"),
    }
}

/// The registers, four to a line.
pub struct Registers<'a>(pub &'a Regs);

impl fmt::Display for Registers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        writeln!(f, "  rip {:#018x} rsp {:#018x} rflags {:#x}", r.rip, r.rsp, r.rflags)?;
        writeln!(f, "  rax {:#x} rbx {:#x} rcx {:#x} rdx {:#x}", r.rax, r.rbx, r.rcx, r.rdx)?;
        writeln!(f, "  rsi {:#x} rdi {:#x} rbp {:#x} r8 {:#x}", r.rsi, r.rdi, r.rbp, r.r8)?;
        write!(
            f,
            "  r9 {:#x} r10 {:#x} r11 {:#x} r12 {:#x} r13 {:#x} r14 {:#x} r15 {:#x}",
            r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15
        )
    }
}

/// One line per syscall for `strace` on the command line: seconds since
/// boot, thread, name, arguments, and the result (`-errno` with its name),
/// or what happened instead.
pub fn trace(tid: u32, nr: u64, args: &[u64; 6], action: &Action, rax: u64) {
    let name = skiff_linux::sysno::name(nr).unwrap_or("?");
    let [a, b, c, d, e, g] = *args;
    let what = match action {
        Action::Return | Action::Yield | Action::Spawn(_) | Action::Signal(_) => {
            let v = rax as i64;
            if (-4095..0).contains(&v) {
                format!("= -{} ({:?})", -v, skiff_linux::Errno(-v as i32))
            } else {
                format!("= {v:#x}")
            }
        }
        Action::Block => String::from("blocks"),
        other => format!("-> {other:?}"),
    };
    let us = skiff_kernel::time::since_entry().as_micros();
    skiff_kernel::println!(
        "strace: {}.{:06} [{tid}] {name}({a:#x}, {b:#x}, {c:#x}, {d:#x}, {e:#x}, {g:#x}) {what}",
        us / 1_000_000,
        us % 1_000_000
    );
}

/// The process for `xl sysrq d`: each thread and what it waits for.
pub struct Dump<'a>(pub &'a skiff_linux::process::Process);

impl fmt::Display for Dump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use skiff_linux::sched::{BlockOn, IoKey, State};
        let p = self.0;
        let now = skiff_kernel::time::now_ns();
        write!(f, "skiff: process {}: {} open fds", p.pid(), p.open_fds())?;
        for tid in p.thread_ids() {
            write!(f, "\n  thread {tid}: ")?;
            match p.sched.state(tid) {
                Some(State::Blocked { on, deadline }) => {
                    match on {
                        BlockOn::Futex { addr, .. } => write!(f, "futex wait on {addr:#x}")?,
                        BlockOn::Sleep => f.write_str("sleeping")?,
                        BlockOn::Io(keys) => {
                            write!(f, "waiting on {} keys:", keys.len())?;
                            for k in keys.iter().filter(|k| !matches!(k, IoKey::Rearm(_))) {
                                match k {
                                    IoKey::Socket { handle, seen } => write!(
                                        f,
                                        " S{}:{}{}{}",
                                        handle.0,
                                        if seen.readable { "r" } else { "-" },
                                        if seen.writable { "w" } else { "-" },
                                        if seen.error.is_some() { "e" } else { "" }
                                    )?,
                                    other => write!(f, " {other:?}")?,
                                }
                            }
                        }
                    }
                    if let Some(d) = deadline {
                        write!(f, " (deadline in {} ms)", d.saturating_sub(now) / 1_000_000)?;
                    }
                }
                Some(s) => write!(f, "{s:?}")?,
                None => f.write_str("unknown to the scheduler")?,
            }
        }
        Ok(())
    }
}
