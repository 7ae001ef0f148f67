//! Faults on purpose, one per run, to show what a program that goes wrong gets:
//!
//! - `faults overflow`: unbounded recursion on a thread. std's guard catches the fault on
//!   its alternate signal stack (`sigaltstack` + a `SIGSEGV` handler), prints "has overflowed its
//!   stack" and aborts (`SIGABRT`).
//! - `faults null`: reads address 0 (`SIGSEGV`, nothing mapped there).
//! - `faults kernel ADDR`: writes to ADDR, an address the program does not own (the kernel's
//!   memory on Skiff): `SIGSEGV`, and nothing of the kernel changes.
//!
//! Prints `faults: MODE` before it faults; exits 2 for bad arguments.

use std::hint::black_box;
use std::process::ExitCode;

fn recurse(depth: u64, buf: &mut [u8; 1024]) -> u64 {
    let mut local = [0u8; 1024];
    local[depth as usize % 1024] = buf[depth as usize % 1024].wrapping_add(1);
    black_box(&mut local);
    recurse(depth + 1, &mut local) + u64::from(local[0])
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("");
    println!("faults: {mode}");
    match mode {
        "overflow" => {
            // On a spawned thread, whose guard page std knows (on the main thread of a static musl
            // binary it does not, and the fault is a plain SIGSEGV).
            let t = std::thread::spawn(|| {
                let mut buf = [0u8; 1024];
                recurse(0, &mut buf)
            });
            println!("faults: unreachable {:?}", t.join().is_ok());
        }
        "null" => {
            let p: *const u64 = black_box(core::ptr::null());
            // SAFETY: none; this faults on purpose.
            println!("faults: read {}", unsafe { core::ptr::read_volatile(p) });
        }
        "kernel" => {
            let Some(addr) =
                args.get(1).and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
            else {
                eprintln!("usage: faults kernel HEXADDR");
                return ExitCode::from(2);
            };
            let p = black_box(addr as *mut u64);
            // SAFETY: none; this faults on purpose.
            unsafe { core::ptr::write_volatile(p, 0x5ee5_5ee5) };
            println!("faults: wrote to {addr:#x} and nothing stopped it");
        }
        _ => {
            eprintln!("usage: faults overflow|null|kernel HEXADDR");
            return ExitCode::from(2);
        }
    }
    ExitCode::FAILURE
}
