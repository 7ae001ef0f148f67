//! Times tight loops of cheap system calls, made with `syscall` itself (never the vDSO), so that
//! each iteration is one round trip to the kernel and back.
//!
//! Usage: `syscall-loop [N]` (default 200000). For each of `getppid` and `clock_gettime`
//! (`CLOCK_MONOTONIC`) prints `syscall-loop: NAME: N calls in T ns (X ns/call)`, timed with
//! `std::time::Instant`; exits 0, or 1 if a call failed (2 for bad arguments).

use std::process::ExitCode;
use std::time::Instant;

const DEFAULT_CALLS: u64 = 200_000;

/// Makes `n` calls of `nr` with the given arguments; `false` if one returned an error.
fn run(n: u64, nr: libc::c_long, a0: libc::c_long, a1: libc::c_long) -> bool {
    let mut ok = true;
    for _ in 0..n {
        // SAFETY: getppid takes no arguments; clock_gettime gets a clock id and a pointer to a
        // live, writable timespec that outlives the call.
        let ret = unsafe { libc::syscall(nr, a0, a1) };
        ok &= ret >= 0;
    }
    ok
}

fn main() -> ExitCode {
    let n = match std::env::args().nth(1).map(|a| a.parse::<u64>()) {
        None => DEFAULT_CALLS,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: syscall-loop [N]");
            return ExitCode::from(2);
        }
    };
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let ts_addr = &raw mut ts as libc::c_long;
    let calls: [(&str, libc::c_long, libc::c_long, libc::c_long); 2] = [
        ("getppid", libc::SYS_getppid, 0, 0),
        ("clock_gettime", libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC as libc::c_long, ts_addr),
    ];
    let mut all_ok = true;
    for (name, nr, a0, a1) in calls {
        let start = Instant::now();
        let ok = run(n, nr, a0, a1);
        let ns = start.elapsed().as_nanos();
        println!(
            "syscall-loop: {name}: {n} calls in {ns} ns ({:.1} ns/call){}",
            ns as f64 / n as f64,
            if ok { "" } else { ", some failed" }
        );
        all_ok &= ok;
    }
    if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
